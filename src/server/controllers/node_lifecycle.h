// The node lifecycle controller (upstream pkg/controller/nodelifecycle, v1.32), without the taint
// eviction itself (taint_eviction.h deletes the pods):
//
//   - Node health: a node is healthy while its Lease (kube-node-lease/<node>) renewTime or its
//     Ready condition's lastHeartbeatTime advances, measured by when this controller observed the
//     change on its own clock (upstream's nodeHealthData.probeTimestamp). After the grace period
//     (40 s; 60 s for a node that never posted its status) without either, every condition among
//     Ready, MemoryPressure, DiskPressure and PIDPressure that is not Unknown turns Unknown
//     (NodeStatusUnknown, "Kubelet stopped posting node status."; a missing one is added with
//     NodeStatusNeverUpdated, "Kubelet never posted node status."), through nodes/status.
//   - NoExecute taints (taint-based eviction): Ready False -> node.kubernetes.io/not-ready,
//     Ready Unknown -> node.kubernetes.io/unreachable, with timeAdded, added through a per-zone
//     rate-limited queue (0.1 nodes/s, as upstream), swapped at once when the state flips,
//     removed when Ready is True again. When every zone is fully disrupted (no Ready node at
//     all), the taints are removed and tainting stops, as upstream's "master disruption mode".
//   - NoSchedule taints by condition (TaintNodesByCondition): not-ready, unreachable,
//     memory-pressure, disk-pressure, pid-pressure, network-unavailable, and unschedulable for
//     spec.unschedulable.
//   - Pods on a node that stops being Ready get their Ready condition set to False
//     (MarkPodsNotReady), and so do pods bound later to a not-ready node.
//   - Events (source node-controller): RegisteredNode, RemovingNode, NodeNotReady on nodes;
//     NodeNotReady "Node is not ready" on pods.
//   - The beta os/arch labels follow kubernetes.io/os and kubernetes.io/arch.
//
// Informers: nodes, leases, pods. Keys: a node name (its NoSchedule taints and labels),
// "pod:<ns>/<name>" (a pod bound to a node), kNodeMonitorKey (the health pass, every monitor
// period: one timer, work proportional to what changed) and kNodeTaintKey (the rate-limited
// NoExecute tainting pass, run after each health pass and when a token becomes due).
//
// Threading: the loop thread (see controller.h).
#pragma once

#include <cstdint>

#include "server/controllers/controller.h"

namespace minik::controllers {

struct NodeLifecycleOptions {
  int64_t monitor_period_ms = 5000;           // --node-monitor-period
  int64_t grace_period_ms = 40000;            // --node-monitor-grace-period
  int64_t startup_grace_period_ms = 60000;    // --node-startup-grace-period
  double eviction_qps = 0.1;                  // --node-eviction-rate
  double secondary_eviction_qps = 0.01;       // --secondary-node-eviction-rate
  int64_t large_cluster_threshold = 50;       // --large-cluster-size-threshold
  double unhealthy_zone_threshold = 0.55;     // --unhealthy-zone-threshold
};

inline constexpr char kNodeMonitorKey[] = "@monitor";
inline constexpr char kNodeTaintKey[] = "@taint";

ControllerPtr NewNodeLifecycleController(Context ctx, NodeLifecycleOptions options = {});

}  // namespace minik::controllers
