// Counters the kubelet keeps for its Prometheus /metrics endpoint (upstream's
// pkg/kubelet/metrics: kubelet_started_pods_total, kubelet_started_containers_total,
// kubelet_pod_start_duration_seconds), and the pods and containers the stats endpoints read.
//
// Threading: plain data, owned by the Kubelet (its loop thread); copy it to hand it elsewhere.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace minik::agent::kubelet {

// A cumulative histogram with fixed upper bounds (le), as Prometheus' client keeps them.
struct Histogram {
  std::vector<double> bounds;
  std::vector<uint64_t> counts;  // per bucket (not cumulative), same size as bounds
  uint64_t count = 0;
  double sum = 0;

  explicit Histogram(std::vector<double> b) : bounds(std::move(b)), counts(bounds.size(), 0) {}
  void Observe(double v) {
    ++count;
    sum += v;
    for (size_t i = 0; i < bounds.size(); ++i) {
      if (v <= bounds[i]) {
        ++counts[i];
        break;
      }
    }
  }
};

struct KubeletMetrics {
  uint64_t started_pods = 0;             // pod sandboxes set up
  uint64_t started_pods_errors = 0;
  uint64_t started_containers = 0;       // container_type="container"
  uint64_t started_init_containers = 0;  // container_type="init_container"
  // From the kubelet seeing a pod for the first time to the pod running (upstream's buckets).
  Histogram pod_start_duration{{0.5, 1, 2, 3, 4, 5, 6, 8, 10, 20, 30, 45, 60, 120, 180, 240, 300, 360, 480, 600, 900,
                                1200, 1800, 2700, 3600}};
  // prober_probe_total by {probe_type, result, container, pod, namespace, pod_uid}; a pod's
  // series go with the pod, as upstream's probe workers delete theirs.
  std::map<std::array<std::string, 6>, uint64_t> probe_total;
};

// What the stats endpoints need of one pod this kubelet runs (its sandbox is up).
struct PodStatsRef {
  std::string namespace_;
  std::string name;
  std::string uid;
  std::string start_time;  // status.startTime (RFC 3339), "" when unknown
  struct Container {
    std::string name;
    std::string id;          // runtime container ID
    int64_t started_ns = 0;  // wall clock
  };
  std::vector<Container> containers;  // the running ones
};

// Containers by runtime state, for kubelet_running_containers{container_state}.
struct ContainerStateCounts {
  uint64_t created = 0;
  uint64_t running = 0;
  uint64_t exited = 0;
  uint64_t unknown = 0;
};

}  // namespace minik::agent::kubelet
