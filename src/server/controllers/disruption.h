// The disruption controller (upstream pkg/controller/disruption, v1.32): the status of every
// PodDisruptionBudget, which the pods/eviction subresource (and so `kubectl drain`) reads.
//
//   - status.currentHealthy: pods selected, not being deleted, not recently evicted
//     (status.disruptedPods, 2 minutes), and Ready;
//   - status.desiredHealthy and status.expectedPods: minAvailable as an int counts the selected
//     pods; minAvailable as a percent and maxUnavailable (int or percent) take the scale of the
//     pods' controllers (ReplicaSet, Deployment through its ReplicaSet, ReplicationController,
//     StatefulSet), percentages rounded up;
//   - status.disruptionsAllowed = currentHealthy - desiredHealthy (0 when negative or no pod is
//     expected); status.observedGeneration; status.disruptedPods pruned of pods deleted or not
//     deleted within 2 minutes (then a NotDeleted event);
//   - the DisruptionAllowed condition: True/SufficientPods, False/InsufficientPods, or
//     False/SyncFailed with the error (and disruptionsAllowed 0) when the status cannot be
//     computed (e.g. "found no controllers for pod \"x\"");
//   - written through poddisruptionbudgets/status only when something changed;
//   - events (source controllermanager): NoPods, CalculateExpectedPodCountFailed, UnmanagedPods;
//   - a pod's DisruptionTarget condition that stays True for 2 minutes without the pod being
//     deleted is reset to False (stale disruption cleanup).
//
// Informers: poddisruptionbudgets, pods, replicasets, deployments, statefulsets,
// replicationcontrollers. Keys: "ns/name" of a PDB, "pod:ns/name" for the stale condition cleanup.
//
// Threading: the loop thread (see controller.h).
#pragma once

#include "server/controllers/controller.h"

namespace minik::controllers {

ControllerPtr NewDisruptionController(Context ctx);

}  // namespace minik::controllers
