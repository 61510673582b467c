// The StatefulSet controller, as upstream's pkg/controller/statefulset (v1.32): pods named
// <set>-<ordinal> (spec.ordinals.start honoured) with the pod-name, pod-index and
// controller-revision-hash labels, hostname and subdomain; PersistentVolumeClaims
// "<template>-<set>-<ordinal>" from volumeClaimTemplates created before their pod, with the
// ownerReferences persistentVolumeClaimRetentionPolicy asks for; OrderedReady (one at a time,
// waiting for Running+Ready and available) and Parallel pod management; scale down from the
// highest ordinal; RollingUpdate with partition (and maxUnavailable when set) from the highest
// ordinal down, and OnDelete; failed pods replaced; current/update ControllerRevisions
// (controller_history.h) and the status kubectl rollout status/history/undo read.
//
// Informers: statefulsets, pods, persistentvolumeclaims, controllerrevisions.
//
// Threading: the controller's thread (see controller.h).
#pragma once

#include "server/controllers/controller.h"

namespace minik::controllers {

ControllerPtr NewStatefulSetController(Context ctx);

}  // namespace minik::controllers
