// ResourceQuota: the quota evaluators (upstream's pkg/quota/v1/evaluator/core and generic
// object counting), pure functions shared by the API server's quota admission
// (src/server/admission.h) and the ResourceQuota controller (upstream's
// pkg/controller/resourcequota), which keeps status.hard = spec.hard and status.used = the sum
// of the usage of the namespace's objects.
//
// Evaluated resources:
//   pods: pods (non-terminal pods), count/pods (every pod), cpu, memory, ephemeral-storage,
//         requests.{cpu,memory,ephemeral-storage}, limits.{cpu,memory,ephemeral-storage},
//         hugepages-* and requests.hugepages-*, requests.<extended resource>; scopes Terminating,
//         NotTerminating, BestEffort, NotBestEffort and the PriorityClass scope selector;
//   services: services, count/services, services.nodeports, services.loadbalancers;
//   persistentvolumeclaims: persistentvolumeclaims, count/persistentvolumeclaims, requests.storage,
//         <class>.storageclass.storage.k8s.io/{persistentvolumeclaims,requests.storage};
//   configmaps, secrets, replicationcontrollers, resourcequotas: <plural> and count/<plural>;
//   any other resource the controller watches: count/<plural>.<group>.
//
// Threading: the pure functions are safe on any thread; the controller runs on its Context's
// thread (see controller.h).
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "api/quantity.h"
#include "common/clock.h"
#include "common/json.h"
#include "server/controllers/controller.h"

namespace minik::controllers {

namespace quota {

// A corev1.ResourceList: resource name -> quantity, sorted by name.
using ResourceList = std::map<std::string, api::Quantity>;

// Parses a ResourceList object (entries that are not valid quantities are skipped).
ResourceList ParseResourceList(const JsonValue* list);
JsonValue ResourceListToJson(const ResourceList& list, JsonAlloc& a);
// quota.Add: the sum, key by key.
ResourceList Add(const ResourceList& a, const ResourceList& b);
// quota.SubtractWithNonNegativeResult.
ResourceList SubtractNonNegative(const ResourceList& a, const ResourceList& b);
// quota.Mask: the entries of list whose name is in names.
ResourceList Mask(const ResourceList& list, const std::vector<std::string>& names);
ResourceList RemoveZeros(const ResourceList& list);
// True when every entry of a is <= the entry of b with the same name (names missing from b are
// fine); exceeded receives the names over their limit.
bool LessThanOrEqual(const ResourceList& a, const ResourceList& b, std::vector<std::string>* exceeded);
// quota.Equals: same names, equal quantities.
bool Equals(const ResourceList& a, const ResourceList& b);
std::vector<std::string> Names(const ResourceList& list);
// "a=1,b=2" (upstream's prettyPrint).
std::string PrettyPrint(const ResourceList& list);

// The kind of object an evaluator is for: group and plural ("" and "pods").
struct Resource {
  std::string group;
  std::string plural;
};

// "count/pods", "count/deployments.apps".
std::string ObjectCountName(const Resource& res);
// The names among `names` that the evaluator for res accounts for (MatchingResources).
std::vector<std::string> MatchingResources(const Resource& res, const std::vector<std::string>& names);
// The usage of one object (Usage). now decides whether a pod stuck terminating still counts.
ResourceList Usage(const Resource& res, const JsonValue& obj, TimePoint now);
// True when the quota's scopes and scope selector select obj (only pods support scopes: a
// quota with scopes matches no other object).
bool MatchesScopes(const JsonValue& quota, const Resource& res, const JsonValue& obj);
// True when quota applies to obj: its scopes match and status.hard names a resource the
// evaluator accounts for (upstream's evaluator.Matches).
bool QuotaMatches(const JsonValue& quota, const Resource& res, const JsonValue& obj);
// The pod evaluator's Constraints: every container must request the cpu/memory resources the
// quota restricts. Returns "" or `must specify limits.cpu for: c1; requests.cpu for: c1`.
std::string PodConstraints(const std::vector<std::string>& required, const JsonValue& pod);
// A pod upstream charges compute resources for (QuotaV1Pod): not Succeeded/Failed and not past
// deletionTimestamp + deletionGracePeriodSeconds.
bool PodCountsForQuota(const JsonValue& pod, TimePoint now);

// The resources whose objects the controller lists to compute usage.
const std::vector<Resource>& EvaluatedResources();

}  // namespace quota

// Informers: resourcequotas, and every resource of quota::EvaluatedResources() (pods, services,
// configmaps, secrets, persistentvolumeclaims, replicationcontrollers, resourcequotas,
// deployments, replicasets, statefulsets, daemonsets, jobs, cronjobs). A quota is re-synced
// when its spec changes, when an object of its namespace changes in a way that changes usage,
// and every 5 minutes (upstream's --resource-quota-sync-period).
ControllerPtr NewResourceQuotaController(Context ctx);

}  // namespace minik::controllers
