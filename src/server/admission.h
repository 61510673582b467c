// Admission plugins of the API server that depend on other objects of the cluster:
//   - LimitRanger (plugin/pkg/admission/limitranger): on pod creation, the default/defaultRequest
//     of Container-type LimitRange items fill containers' missing limits/requests (annotated
//     kubernetes.io/limit-ranger); then min, max and maxLimitRequestRatio of Container and Pod
//     items are enforced on pods (create) and PersistentVolumeClaim items on claims (create,
//     update), with upstream's Forbidden messages
//     (`pods "x" is forbidden: maximum cpu usage per Container is 1, but limit is 2`);
//   - DefaultStorageClass (plugin/pkg/admission/storage/storageclass/setdefault): a claim created
//     without spec.storageClassName gets the default StorageClass;
//   - ResourceQuota (plugin/pkg/admission/resourcequota): an object whose usage would exceed a
//     quota of its namespace is refused (`exceeded quota: q, requested: requests.cpu=2, used:
//     requests.cpu=1, limited: requests.cpu=2`; `failed quota: q: must specify limits.cpu for:
//     c1`; `status unknown for quota: q, resources: pods`), and otherwise the quotas' status.used
//     is charged in the store, with the quota's resourceVersion as precondition, before the
//     object is stored: two concurrent creates cannot both take the last unit (the loser
//     re-evaluates against the new usage). The ResourceQuota controller recomputes usage from
//     the objects (and so corrects charges for writes that failed afterwards).
//
// The pure functions take the namespace's objects as arguments; Mutate and Validate read them
// from the ObjectStore's cache.
//
// Threading: the loop thread (ObjectStore's); the pure functions are safe on any thread.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "api/registry.h"
#include "common/clock.h"
#include "common/json.h"
#include "common/status.h"
#include "server/controllers/resource_quota.h"
#include "server/object_store.h"

namespace minik::server::admission {

enum class Operation { kCreate, kUpdate };

// ---- pure logic --------------------------------------------------------------------------------

// LimitRanger's mutation of a pod being created: defaults from every LimitRange, in order.
void ApplyLimitRangeDefaults(const std::vector<const JsonValue*>& limit_ranges, JsonValue& pod, JsonAlloc& a);
// LimitRanger's validation of a pod (Container and Pod items) or a claim (PersistentVolumeClaim
// items): "" or the message (several errors as upstream's aggregate "[a, b]"). The first
// LimitRange with errors decides.
std::string CheckLimitRanges(const std::vector<const JsonValue*>& limit_ranges, std::string_view kind,
                             const JsonValue& obj);
// DefaultStorageClass: sets spec.storageClassName of a claim without a class (neither the field
// nor the beta annotation) to the default class, if there is one. True when it set it.
bool SetDefaultStorageClass(const std::vector<const JsonValue*>& classes, JsonValue& pvc, JsonAlloc& a);

// Priority (plugin/pkg/admission/priority): spec.priority and spec.preemptionPolicy of a pod from
// its PriorityClass, or from the globalDefault class when it names none; Forbidden
// `no PriorityClass with name x was found` or when a given spec.priority disagrees.
Status ResolvePriority(const std::vector<const JsonValue*>& classes, JsonValue& pod, JsonAlloc& a);

// A quota whose status.used must change to admit the object.
struct QuotaCharge {
  size_t index = 0;  // into the quotas given
  controllers::quota::ResourceList used;
};
// ResourceQuota's evaluation of obj (old: the stored object on update, else nullptr) against
// quotas: the charges to make, or the refusal message.
struct QuotaResult {
  std::string error;  // "" = admitted
  std::vector<QuotaCharge> charges;
};
QuotaResult EvaluateQuotas(const std::vector<const JsonValue*>& quotas, const controllers::quota::Resource& res,
                           Operation op, const JsonValue& obj, const JsonValue* old, TimePoint now);

// ---- the API server's hooks ---------------------------------------------------------------------

// Mutating admission, after defaulting and before validation: LimitRanger defaults (pods,
// create) and DefaultStorageClass (claims, create).
Status Mutate(const ObjectStore& store, const api::Registry& registry, const api::ResourceInfo& info, Operation op,
              JsonDoc& obj);

// Validating admission, after validation and before the object is stored: LimitRanger checks,
// then ResourceQuota, whose charges are written to the store (not on dry runs) before done(OK).
// done(error) is a Forbidden (or the Conflict of a quota that kept changing).
void Validate(ObjectStore& store, const api::Registry& registry, const Clock& clock, const api::ResourceInfo& info,
              Operation op, std::shared_ptr<const JsonDoc> obj, std::shared_ptr<const JsonDoc> old, bool dry_run,
              std::function<void(Status)> done);

}  // namespace minik::server::admission
