// Pure helpers of the Deployment controller, as upstream's pkg/controller/deployment/util
// (v1.32): revision and replica annotations, maxSurge/maxUnavailable fenceposts, the new and old
// ReplicaSets of a Deployment, proportional scaling fractions, the rollout predicates that
// `kubectl rollout status` relies on, and Deployment conditions with upstream's semantics.
//
// Objects are JSON documents; a Deployment's defaults (replicas 1, RollingUpdate 25%/25%,
// revisionHistoryLimit 10, progressDeadlineSeconds 600) apply when a field is absent, as the
// API server's defaulting would have set them.
//
// Threading: pure functions; any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "client/informer.h"
#include "common/clock.h"
#include "common/json.h"
#include "common/status.h"

namespace minik::controllers::deployment {

using client::ObjectPtr;

// ---- names upstream uses ---------------------------------------------------------------------
inline constexpr char kRevisionAnnotation[] = "deployment.kubernetes.io/revision";
inline constexpr char kRevisionHistoryAnnotation[] = "deployment.kubernetes.io/revision-history";
inline constexpr char kDesiredReplicasAnnotation[] = "deployment.kubernetes.io/desired-replicas";
inline constexpr char kMaxReplicasAnnotation[] = "deployment.kubernetes.io/max-replicas";
inline constexpr char kLastAppliedAnnotation[] = "kubectl.kubernetes.io/last-applied-configuration";
inline constexpr char kDeprecatedRollbackTo[] = "deprecated.deployment.rollback.to";
inline constexpr char kPodTemplateHashLabel[] = "pod-template-hash";
// The revision-history annotation is kept under this many characters.
inline constexpr size_t kMaxRevHistoryLengthInChars = 2000;

// Condition types and reasons.
inline constexpr char kCondAvailable[] = "Available";
inline constexpr char kCondProgressing[] = "Progressing";
inline constexpr char kCondReplicaFailure[] = "ReplicaFailure";
inline constexpr char kReplicaSetUpdatedReason[] = "ReplicaSetUpdated";
inline constexpr char kFailedRSCreateReason[] = "ReplicaSetCreateError";
inline constexpr char kNewReplicaSetReason[] = "NewReplicaSetCreated";
inline constexpr char kFoundNewRSReason[] = "FoundNewReplicaSet";
inline constexpr char kNewRSAvailableReason[] = "NewReplicaSetAvailable";
inline constexpr char kTimedOutReason[] = "ProgressDeadlineExceeded";
inline constexpr char kPausedDeployReason[] = "DeploymentPaused";
inline constexpr char kResumedDeployReason[] = "DeploymentResumed";
inline constexpr char kMinimumReplicasAvailable[] = "MinimumReplicasAvailable";
inline constexpr char kMinimumReplicasUnavailable[] = "MinimumReplicasUnavailable";

// ---- field accessors (with API defaults) ---------------------------------------------------
int64_t SpecReplicas(const JsonValue& obj);  // spec.replicas, default 1
int64_t StatusInt(const JsonValue& obj, std::string_view field);  // status.<field>, default 0
int64_t MinReadySeconds(const JsonValue& obj);
bool IsRollingUpdate(const JsonValue& d);  // spec.strategy.type is RollingUpdate (the default)
bool IsRecreate(const JsonValue& d);
bool IsPaused(const JsonValue& d);
// progressDeadlineSeconds is set (default 600) and not MaxInt32.
bool HasProgressDeadline(const JsonValue& d);
int64_t ProgressDeadlineSeconds(const JsonValue& d);
// revisionHistoryLimit is set (default 10) and not MaxInt32.
bool HasRevisionHistoryLimit(const JsonValue& d);
int64_t RevisionHistoryLimit(const JsonValue& d);
std::optional<int32_t> CollisionCount(const JsonValue& d);
int64_t Generation(const JsonValue& obj);
// metadata.creationTimestamp (epoch when absent or malformed).
TimePoint CreationTime(const JsonValue& obj);

// ---- fenceposts ------------------------------------------------------------------------------
// (maxSurge, maxUnavailable) for `desired`: surge rounded up, unavailable down, both zero gives
// unavailable 1 (ResolveFenceposts). Absent values default to 25%.
StatusOr<std::pair<int64_t, int64_t>> ResolveFenceposts(const JsonValue& d, int64_t desired);
int64_t MaxSurge(const JsonValue& d);        // 0 unless RollingUpdate
int64_t MaxUnavailable(const JsonValue& d);  // 0 unless RollingUpdate or replicas 0; <= replicas

// ---- revisions and annotations ---------------------------------------------------------------
// The revision annotation as a number (0 when absent or malformed).
int64_t Revision(const JsonValue& obj);
int64_t MaxRevision(const std::vector<ObjectPtr>& rss);
std::optional<int64_t> IntAnnotation(const JsonValue& obj, std::string_view key);
// SetNewReplicaSetAnnotations: copies the Deployment's annotations (but the skipped ones) into
// rs, raises the revision to new_revision (keeping the older one in revision-history) and, for
// a ReplicaSet being created (!exists), sets desired-replicas and max-replicas. Returns true if
// an annotation changed. rs is a mutable ReplicaSet document.
bool SetNewReplicaSetAnnotations(const JsonValue& d, JsonDoc& rs, int64_t new_revision, bool exists);
// SetReplicasAnnotations; returns true if changed.
bool SetReplicasAnnotations(JsonDoc& rs, int64_t desired, int64_t max_replicas);
bool ReplicasAnnotationsNeedUpdate(const JsonValue& rs, int64_t desired, int64_t max_replicas);
// Sets metadata.annotations[key] = value in doc; returns true if it changed.
bool SetAnnotation(JsonDoc& doc, std::string_view key, std::string_view value);

// ---- ReplicaSets of a Deployment -------------------------------------------------------------
// Template equality ignoring the pod-template-hash label; empty maps, lists and strings equal
// absent ones (apimachinery's semantic equality of Go structs).
bool EqualIgnoreHash(const JsonValue* t1, const JsonValue* t2);
// Sorts by creationTimestamp, then name (controller.ReplicaSetsByCreationTimestamp).
void SortByCreation(std::vector<ObjectPtr>& rss);
// By revision, then creation (ReplicaSetsByRevision).
void SortByRevision(std::vector<ObjectPtr>& rss);
// Larger first; ties newer first (ReplicaSetsBySizeNewer) or older first (BySizeOlder).
void SortBySizeNewer(std::vector<ObjectPtr>& rss);
void SortBySizeOlder(std::vector<ObjectPtr>& rss);
// The oldest ReplicaSet whose template equals the Deployment's (nullptr when none). Sorts rss.
ObjectPtr FindNewReplicaSet(const JsonValue& d, std::vector<ObjectPtr>& rss);
// All ReplicaSets but the new one.
std::vector<ObjectPtr> FindOldReplicaSets(const JsonValue& d, std::vector<ObjectPtr>& rss);
// Non-null ReplicaSets with spec.replicas > 0.
std::vector<ObjectPtr> FilterActive(const std::vector<ObjectPtr>& rss);
// FindActiveOrLatest (sorts old_rss newest first, as upstream).
ObjectPtr FindActiveOrLatest(const ObjectPtr& new_rs, std::vector<ObjectPtr>& old_rss);
int64_t SumSpecReplicas(const std::vector<ObjectPtr>& rss);
int64_t SumStatus(const std::vector<ObjectPtr>& rss, std::string_view field);

// ---- rollout arithmetic ----------------------------------------------------------------------
// NewRSNewReplicas: the size the new ReplicaSet may have now.
StatusOr<int64_t> NewRSNewReplicas(const JsonValue& d, const std::vector<ObjectPtr>& all_rss,
                                   int64_t new_rs_replicas);
bool IsSaturated(const JsonValue& d, const ObjectPtr& rs);
// GetReplicaSetProportion for proportional scaling.
int64_t ReplicaSetProportion(const JsonValue& rs, const JsonValue& d, int64_t to_add, int64_t added);

// ---- status and conditions -------------------------------------------------------------------
// The status of d after this sync (calculateStatus): counts from the ReplicaSets, the previous
// conditions, and the Available condition.
JsonDoc CalculateStatus(const std::vector<ObjectPtr>& all_rss, const ObjectPtr& new_rs, const JsonValue& d,
                        TimePoint now);
// Status equality ignoring zero/empty fields (omitempty).
bool StatusEqual(const JsonValue* a, const JsonValue* b);
// DeploymentComplete / DeploymentProgressing / DeploymentTimedOut over a status object.
bool DeploymentComplete(const JsonValue& d, const JsonValue& new_status);
bool DeploymentProgressing(const JsonValue& d, const JsonValue& new_status);
bool DeploymentTimedOut(const JsonValue& d, const JsonValue& new_status, TimePoint now);

const JsonValue* GetCondition(const JsonValue* status, std::string_view type);
std::string_view CondField(const JsonValue* cond, std::string_view field);
// A condition with lastUpdateTime = lastTransitionTime = now.
JsonValue NewCondition(std::string_view type, std::string_view status, std::string_view reason,
                       std::string_view message, TimePoint now, JsonAlloc& a);
// SetDeploymentCondition: no change when status and reason are the same; keeps
// lastTransitionTime when the status is; otherwise the condition moves to the end.
void SetDeploymentCondition(JsonValue& status, JsonValue cond, JsonAlloc& a);
void RemoveDeploymentCondition(JsonValue& status, std::string_view type);

}  // namespace minik::controllers::deployment
