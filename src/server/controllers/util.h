// Helpers shared by the controllers: owner references, pod state, conditions, label selectors,
// pod templates, hashing, and joining several asynchronous API calls.
//
// Threading: pure functions, except Join and Expectations (the controller's thread).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "api/labels.h"
#include "client/api_client.h"
#include "client/informer.h"
#include "common/clock.h"
#include "common/json.h"
#include "common/status.h"

namespace minik::controllers {

// ---- resources -------------------------------------------------------------------------------
inline const client::ResourceRef kPods{"", "v1", "pods"};
inline const client::ResourceRef kNodes{"", "v1", "nodes"};
inline const client::ResourceRef kNamespaces{"", "v1", "namespaces"};
inline const client::ResourceRef kServices{"", "v1", "services"};
inline const client::ResourceRef kEndpoints{"", "v1", "endpoints"};
inline const client::ResourceRef kConfigMaps{"", "v1", "configmaps"};
inline const client::ResourceRef kSecrets{"", "v1", "secrets"};
inline const client::ResourceRef kServiceAccounts{"", "v1", "serviceaccounts"};
inline const client::ResourceRef kReplicationControllers{"", "v1", "replicationcontrollers"};
inline const client::ResourceRef kPersistentVolumes{"", "v1", "persistentvolumes"};
inline const client::ResourceRef kPersistentVolumeClaims{"", "v1", "persistentvolumeclaims"};
inline const client::ResourceRef kResourceQuotas{"", "v1", "resourcequotas"};
inline const client::ResourceRef kLimitRanges{"", "v1", "limitranges"};
inline const client::ResourceRef kDeployments{"apps", "v1", "deployments"};
inline const client::ResourceRef kReplicaSets{"apps", "v1", "replicasets"};
inline const client::ResourceRef kDaemonSets{"apps", "v1", "daemonsets"};
inline const client::ResourceRef kStatefulSets{"apps", "v1", "statefulsets"};
inline const client::ResourceRef kControllerRevisions{"apps", "v1", "controllerrevisions"};
inline const client::ResourceRef kJobs{"batch", "v1", "jobs"};
inline const client::ResourceRef kCronJobs{"batch", "v1", "cronjobs"};
inline const client::ResourceRef kEndpointSlices{"discovery.k8s.io", "v1", "endpointslices"};
inline const client::ResourceRef kLeases{"coordination.k8s.io", "v1", "leases"};
inline const client::ResourceRef kPodDisruptionBudgets{"policy", "v1", "poddisruptionbudgets"};
inline const client::ResourceRef kStorageClasses{"storage.k8s.io", "v1", "storageclasses"};
inline const client::ResourceRef kHorizontalPodAutoscalers{"autoscaling", "v2", "horizontalpodautoscalers"};
inline const client::ResourceRef kPriorityClasses{"scheduling.k8s.io", "v1", "priorityclasses"};

// ---- metadata and owner references -----------------------------------------------------------
std::string_view Name(const JsonValue& obj);
std::string_view Namespace(const JsonValue& obj);
std::string_view Uid(const JsonValue& obj);
bool IsBeingDeleted(const JsonValue& obj);  // metadata.deletionTimestamp set
// metadata.labels (nullptr when absent).
const JsonValue* Labels(const JsonValue& obj);
// metadata.annotations[key], or nullopt.
std::optional<std::string_view> Annotation(const JsonValue& obj, std::string_view key);

// The ownerReference with controller: true, or nullptr.
const JsonValue* ControllerRef(const JsonValue& obj);
// True when obj's controller reference points at the object with this uid.
bool IsControlledBy(const JsonValue& obj, std::string_view owner_uid);
// {apiVersion, kind, name, uid, controller: true, blockOwnerDeletion: true} for owner.
JsonValue MakeControllerRef(const JsonValue& owner, std::string_view api_version, std::string_view kind,
                            JsonAlloc& a);

// ---- workload controllers' event handlers ----------------------------------------------------
// upstream's resolveControllerRef: the object of `kind` in owners (namespace ns) that the
// controller reference ref names, when its uid is ref's; nullptr otherwise.
client::ObjectPtr ResolveControllerRef(const client::Informer& owners, std::string_view kind, std::string_view ns,
                                       const JsonValue& ref);
// The owners in obj's namespace whose spec.selector is not empty and matches obj's labels.
std::vector<client::ObjectPtr> OwnersSelecting(const client::Informer& owners, const JsonValue& obj);
// The owners (of kind, in owners) an update of an object they may control concerns (upstream's
// updatePod and updateHistory of the DaemonSet and StatefulSet controllers): the old controller
// when the controller reference changed; then the current controller when there is one (also
// in `controller`; nothing else then); without one, when the labels or the controller
// reference changed, every owner selecting the object.
struct ControlleeUpdate {
  std::vector<client::ObjectPtr> wake;  // in that order
  client::ObjectPtr controller;         // cur's controller, resolved
  // For pods: when cur became Ready and its controller has spec.minReadySeconds > 0, the delay
  // (minReadySeconds + 1 s, in ms) after which to sync the controller again to count the pod
  // available; 0 otherwise.
  int64_t available_recheck_ms = 0;
};
ControlleeUpdate OwnersOnControlleeUpdate(const client::Informer& owners, std::string_view kind,
                                          const JsonValue& old, const JsonValue& cur);
// A small object naming obj for events: apiVersion, kind, and metadata name, namespace, uid and
// resourceVersion.
JsonDoc ObjectEventRef(const JsonValue& obj, std::string_view api_version, std::string_view kind);
// f wrapped to run only while *alive (a controller's liveness flag) is true: callbacks of
// asynchronous calls that may finish after the controller is gone.
template <typename F>
auto WhileAlive(const std::shared_ptr<bool>& alive, F f) {
  return [w = std::weak_ptr<bool>(alive), f = std::move(f)](auto&&... args) mutable {
    auto a = w.lock();
    if (!a || !*a) return;
    f(std::forward<decltype(args)>(args)...);
  };
}

// ---- label selectors -------------------------------------------------------------------------
// spec.selector (a metav1.LabelSelector) of obj; Nothing() when absent or invalid.
api::LabelSelector SpecSelector(const JsonValue& obj);
// A ReplicationController's/Service's map selector (spec.selector as a map); Nothing() when
// absent or empty.
api::LabelSelector MapSelector(const JsonValue* selector_map);

// ---- pods ------------------------------------------------------------------------------------
std::string_view PodPhase(const JsonValue& pod);
// Not Succeeded, not Failed, not being deleted (upstream's controller.IsPodActive).
bool IsPodActive(const JsonValue& pod);
// Succeeded or Failed.
bool IsPodTerminal(const JsonValue& pod);
// The Ready condition is True.
bool IsPodReady(const JsonValue& pod);
// Ready for at least min_ready_seconds at now (podutil.IsPodAvailable).
bool IsPodAvailable(const JsonValue& pod, int64_t min_ready_seconds, TimePoint now);
// status.conditions[type] or nullptr.
const JsonValue* FindCondition(const JsonValue& obj_status, std::string_view type);
// The lastTransitionTime of the Ready condition when it is True.
std::optional<TimePoint> PodReadySince(const JsonValue& pod);

// A pod from a PodTemplateSpec: labels, annotations, finalizers and spec copied; generateName
// "<generate_name_prefix>" (e.g. "web-7d4b9c-"); the namespace of the owner; and a controller
// reference to the owner.
JsonDoc PodFromTemplate(const JsonValue& pod_template, const JsonValue& owner, std::string_view owner_api_version,
                        std::string_view owner_kind, std::string_view generate_name_prefix);

// ---- conditions ------------------------------------------------------------------------------
// Sets status.conditions[type] in `status` (an object): lastTransitionTime changes only when the
// status changes; lastUpdateTime (when with_update_time) always. Returns true if anything changed
// (apart from lastUpdateTime when only it would change and !with_update_time).
bool SetCondition(JsonValue& status, std::string_view type, std::string_view cond_status, std::string_view reason,
                  std::string_view message, TimePoint now, JsonAlloc& a, bool with_update_time = false);
void RemoveCondition(JsonValue& status, std::string_view type);

// ---- misc ------------------------------------------------------------------------------------
// int or percent ("25%") against total; round_up as upstream's GetScaledValueFromIntOrPercent.
StatusOr<int64_t> ScaledValue(const JsonValue* int_or_percent, int64_t total, bool round_up, int64_t dflt);
// Upstream's pod-template-hash: FNV-1a 32 of the object's JSON (plus collision_count when
// given), rendered with rand.SafeEncodeString's alphabet.
std::string ComputeHash(const JsonValue& tmpl, std::optional<int32_t> collision_count);
// Semantic JSON equality (object member order ignored).
bool JsonEqual(const JsonValue& a, const JsonValue& b);
// Whether two optional values differ (one absent, or both present and not JsonEqual): how
// handlers tell that an ownerReference or a label set changed between two versions.
bool JsonChanged(const JsonValue* a, const JsonValue* b);
int64_t IntOr(const JsonValue* v, int64_t dflt);

// ---- Join: wait for several asynchronous calls ------------------------------------------------
// Calls done once, after every callback handed out by Add() ran, with the first error seen (OK
// when none). Finish() must be called after the last Add(): done never runs before it.
class Join : public std::enable_shared_from_this<Join> {
 public:
  static std::shared_ptr<Join> Make(std::function<void(Status)> done);
  // A callback for one call; ignores errors for which ignore(status) is true.
  std::function<void(Status)> Add();
  // A callback for a call returning an object.
  client::ObjectCallback AddObject(std::function<bool(const Status&)> ignore = nullptr);
  void Fail(Status st);
  void Finish();

 private:
  explicit Join(std::function<void(Status)> done) : done_(std::move(done)) {}
  void One(Status st);
  std::function<void(Status)> done_;
  int pending_ = 0;
  bool finished_ = false;
  bool called_ = false;
  Status first_;
};

// ---- Expectations (upstream's ControllerExpectations) ------------------------------------------
// Counts the creations and deletions a controller made and has not yet seen in its informer, so
// that it does not act twice on a stale cache. Expectations expire after 5 minutes.
class Expectations {
 public:
  explicit Expectations(const Clock& clock) : clock_(clock) {}
  // True when the controller may sync key: nothing outstanding, or expired, or never set.
  bool Satisfied(const std::string& key) const;
  void Expect(const std::string& key, int64_t adds, int64_t dels);
  void CreationObserved(const std::string& key);
  void DeletionObserved(const std::string& key);
  // Lowers the expectations when a create/delete failed (the informer will not see it).
  void LowerExpectations(const std::string& key, int64_t adds, int64_t dels);
  void Delete(const std::string& key);

 private:
  struct Entry {
    int64_t adds = 0;
    int64_t dels = 0;
    int64_t set_ms = 0;
  };
  const Clock& clock_;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace minik::controllers
