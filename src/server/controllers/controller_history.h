// ControllerRevisions (apps/v1) as upstream's pkg/controller/history and the DaemonSet
// controller's history code keep them: the snapshot of a workload's pod template, stored as the
// strategic merge patch that restores it ({"spec":{"template":{"$patch":"replace",...}}}, keys
// sorted and escaped as Go's encoding/json writes them), named "<owner>-<hash>", labelled
// controller-revision-hash=<hash>, numbered by .revision, owned by the workload.
//
// Used by the DaemonSet and StatefulSet controllers (kubectl rollout history/undo read the same
// objects). The hash of a StatefulSet revision is upstream's HashControllerRevision (FNV-1 32 of
// the patch bytes and the collision count); a DaemonSet's is ComputeHash of the template.
//
// Threading: pure functions, except the asynchronous API helpers, which run on the thread of
// the ApiClient (the controller's thread) and call back there.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "api/labels.h"
#include "client/api_client.h"
#include "client/informer.h"
#include "common/json.h"
#include "common/status.h"

namespace minik::controllers::history {

// The label on revisions (the hash) and on the pods created from them (DaemonSet: the hash;
// StatefulSet: the revision's name).
inline constexpr char kHashLabel[] = "controller-revision-hash";
inline constexpr int64_t kDefaultRevisionHistoryLimit = 10;

// Serializes v as Go's encoding/json does for a map[string]interface{}: object keys sorted,
// compact, HTML characters escaped (\u003c \u003e \u0026), U+2028/U+2029 escaped.
std::string GoJson(const JsonValue& v);

// upstream's getPatch(owner): {"spec":{"template":{<spec.template>,"$patch":"replace"}}}, with
// the fields Go always writes for a template (metadata.creationTimestamp null, containers'
// resources {}). The returned document's text (GoJson) is the revision's data.
JsonDoc TemplatePatch(const JsonValue& owner);

// HashControllerRevision: FNV-1 32 of data, then the decimal collision count, rendered with
// rand.SafeEncodeString.
std::string HashRevisionData(std::string_view data, std::optional<int32_t> collision_count);
// ControllerRevisionName: prefix (cut to 223 characters) + "-" + hash.
std::string RevisionName(std::string_view prefix, std::string_view hash);

// .revision (0 when absent).
int64_t RevisionNumber(const JsonValue& cr);
// history.SortControllerRevisions: by revision, then creationTimestamp, then name.
void SortRevisions(std::vector<client::ObjectPtr>& revs);
// True when the revision's data equals patch (semantically; key order ignored).
bool DataMatches(const JsonValue& cr, const JsonValue& patch);
// history.EqualRevision: the hash labels (when both parse as integers) and the data agree.
bool EqualRevisions(const JsonValue& a, const JsonValue& b);
// Revisions in `sorted` equal to needle, in order.
std::vector<client::ObjectPtr> FindEqualRevisions(const std::vector<client::ObjectPtr>& sorted, const JsonValue& needle);
// The highest revision number (0 when none).
int64_t MaxRevision(const std::vector<client::ObjectPtr>& revs);

// A new ControllerRevision of owner (not yet named): labels = template labels plus
// controller-revision-hash=hash, annotations = the owner's, a controller reference to the owner
// (apps/v1 kind), data = patch, revision. name is "<owner>-<hash>".
JsonDoc NewRevision(const JsonValue& owner, std::string_view kind, const JsonValue& patch, int64_t revision,
                    std::string_view hash);

// The revisions of owner in the cache: those it controls, and orphans (no controller) whose
// labels match selector (to adopt). Revisions being deleted are skipped for orphans.
struct OwnedRevisions {
  std::vector<client::ObjectPtr> owned;
  std::vector<client::ObjectPtr> orphans;
};
OwnedRevisions ListRevisions(const client::Informer& revisions, const JsonValue& owner, const api::LabelSelector& sel);

// The strategic merge patch that adopts an object (upstream's ownerRefControllerPatch).
std::string AdoptPatch(const JsonValue& owner, std::string_view kind, std::string_view obj_uid);

// owner with spec.template replaced by the revision's (ApplyRevision).
JsonDoc ApplyRevision(const JsonValue& owner, const JsonValue& cr);

// The revisions to delete so that at most `limit` non-live ones remain: the oldest non-live
// ones first (sorted must be sorted by SortRevisions).
std::vector<client::ObjectPtr> RevisionsToTruncate(const std::vector<client::ObjectPtr>& sorted,
                                                   const std::set<std::string>& live_names, int64_t limit);

// ---- asynchronous API helpers ------------------------------------------------------------

// Creates cr (named by its metadata.name); on AlreadyExists reads the existing one and answers
// it when its data matches (we made it before), or AlreadyExists otherwise (a hash collision).
void CreateRevision(client::ApiClient& api, const JsonValue& cr, client::ObjectCallback done);
// Sets .revision of cr.
void UpdateRevisionNumber(client::ApiClient& api, const JsonValue& cr, int64_t revision, client::ObjectCallback done);
void DeleteRevision(client::ApiClient& api, const JsonValue& cr, client::ObjectCallback done);

}  // namespace minik::controllers::history
