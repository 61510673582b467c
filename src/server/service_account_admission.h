// The ServiceAccount admission plugin (upstream plugin/pkg/admission/serviceaccount), on pods
// being created:
//   - a pod without spec.serviceAccountName gets "default" (and the deprecated
//     spec.serviceAccount mirror);
//   - the ServiceAccount must exist: `pods "x" is forbidden: error looking up service account
//     ns/sa: serviceaccount "sa" not found` (403) otherwise;
//   - unless spec.automountServiceAccountToken (or the ServiceAccount's) is false, the projected
//     volume kube-api-access-<5 random chars> (serviceAccountToken 3607 s at "token", configMap
//     kube-root-ca.crt's ca.crt, downwardAPI metadata.namespace at "namespace", defaultMode 420)
//     is added, mounted read-only at /var/run/secrets/kubernetes.io/serviceaccount in every
//     container and init container that mounts nothing there;
//   - the ServiceAccount's imagePullSecrets when the pod has none;
//   - mirror pods (annotation kubernetes.io/config.mirror) are not modified, and may reference
//     no service account, no secret and no serviceAccountToken projection.
// Upstream looks the default ServiceAccount up again for a while when a brand-new namespace does
// not have it yet; DefaultServiceAccountPending lets the API server wait for it the same way.
//
// Threading: the loop thread (the ObjectStore's); RandomSuffix is thread-safe.
#pragma once

#include <string>

#include "api/registry.h"
#include "common/json.h"
#include "common/status.h"
#include "server/object_store.h"

namespace minik::server::admission {

inline constexpr char kServiceAccountTokenMountPath[] = "/var/run/secrets/kubernetes.io/serviceaccount";

// The pod-side mutation with the ServiceAccount given (nullptr: not found); volume_suffix names
// the token volume. Pure: tests call it directly.
Status AdmitPodServiceAccount(const JsonValue* service_account, JsonValue& pod, const std::string& volume_suffix,
                              JsonAlloc& a);

// AdmitPodServiceAccount with the ServiceAccount read from the store and a random suffix.
Status AdmitServiceAccount(const ObjectStore& store, const api::Registry& registry, JsonDoc& pod);

// True when pod (not a mirror pod) names the ServiceAccount "default" and its namespace does not
// have it (yet).
bool DefaultServiceAccountPending(const ObjectStore& store, const api::Registry& registry, const JsonValue& pod);

// 5 characters of upstream's utilrand alphabet ("bcdfghjklmnpqrstvwxz2456789").
std::string RandomSuffix();

}  // namespace minik::server::admission
