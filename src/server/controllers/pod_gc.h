// The pod garbage collector (upstream pkg/controller/podgc, v1.32):
//
//   - terminated pods (phase neither Pending, Running nor Unknown) beyond the threshold (12500)
//     are deleted, evicted ones first, then the oldest (by creationTimestamp, then name);
//   - pods bound to a node that no longer exists are deleted once the node has been missing from
//     the cache for the quarantine time (40 s) and a live GET of the node confirms NotFound;
//     they are first marked Failed with the DisruptionTarget condition (DeletionByPodGC,
//     "PodGC: node no longer exists");
//   - terminating pods on a node that is not Ready and carries the
//     node.kubernetes.io/out-of-service taint, and terminating pods never scheduled, are deleted;
//   - every deletion is a force deletion (gracePeriodSeconds 0), preceded, for a pod not yet
//     Succeeded or Failed, by a status patch to phase Failed (with a uid precondition).
//
// Upstream scans every pod every 20 s. Here the scan runs only when an event may need it: a pod
// becoming terminated (batched: at most one scan per check period), a terminating pod, a pod on
// a node missing from the cache, a node deleted or tainted out-of-service; and again when a
// quarantine ends. An idle cluster costs nothing.
//
// Informers: pods, nodes. One key, kPodGcKey.
//
// Threading: the loop thread (see controller.h).
#pragma once

#include <cstdint>

#include "server/controllers/controller.h"

namespace minik::controllers {

struct PodGcOptions {
  int64_t terminated_pod_threshold = 12500;  // --terminated-pod-gc-threshold (0 disables)
  int64_t check_period_ms = 20000;           // gcCheckPeriod: the batching delay for terminated pods
  int64_t quarantine_ms = 40000;             // quarantineTime
};

inline constexpr char kPodGcKey[] = "@podgc";

ControllerPtr NewPodGcController(Context ctx, PodGcOptions options = {});

}  // namespace minik::controllers
