// The garbage collector (upstream pkg/controller/garbagecollector): ownerReferences across the
// common resources, with background, foreground and orphan propagation.
//
// The dependency graph is the informer caches themselves: an index of owner uids on every
// informer gives an object's dependents, and an owner is present when its resource's cache holds
// an object of that name with that uid (an owner recreated under the same name counts as
// absent). Keys are "<resource>|<namespace>/<name>", e.g. "replicasets.apps|default/web-7d4b9c".
//
//   - An object whose owners all look absent in the cache is confirmed with live GETs (the object
//     itself, then each owner missing from the cache) and deleted with propagationPolicy
//     Background (or the Orphan/Foreground its own finalizers ask for) and preconditions on uid
//     and resourceVersion. Dangling references next to a live owner are removed instead.
//   - Foreground: an owner with a deletionTimestamp and the "foregroundDeletion" finalizer has
//     its dependents deleted (with Foreground when they have dependents of their own); once no
//     dependent with blockOwnerDeletion remains, the finalizer is removed and the API server
//     completes the deletion.
//   - Orphan: an owner with a deletionTimestamp and the "orphan" finalizer has its
//     ownerReference removed from every dependent, then the finalizer.
//
// Informers: pods, replicasets, deployments, daemonsets, statefulsets, controllerrevisions,
// jobs, cronjobs, services, endpoints, endpointslices, configmaps, secrets,
// persistentvolumeclaims, serviceaccounts, replicationcontrollers, poddisruptionbudgets,
// horizontalpodautoscalers, leases, nodes.
// Threading: the controller's thread (see controller.h).
#pragma once

#include "server/controllers/controller.h"

namespace minik::controllers {

ControllerPtr NewGarbageCollectorController(Context ctx);

}  // namespace minik::controllers
