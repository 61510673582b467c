// The kubelet's HTTP endpoints, reached through the agent's tunnel (streaming/node_http.h) as
// upstream users reach the kubelet's port through the API server's nodes/proxy:
//   GET /healthz           "ok"
//   GET /stats/summary     the Summary API (stats.h)
//   GET /metrics/resource  resource metrics in Prometheus text (stats.h), what metrics-server reads
//   GET /metrics           the agent's own metrics: process_* (client_golang's process collector)
//                          and kubelet_* (upstream's names, help texts and buckets)
// Anything else is 404 "404 page not found" (Go's http.NotFound).
//
// Threading: Serve on the owner's thread (the agent's loop); the statistics are read through
// offload (a WorkPool) and the answer comes back through post (the loop), then done runs.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "agent/kubelet/kubelet_metrics.h"
#include "agent/kubelet/stats.h"
#include "agent/oci/cgroups.h"
#include "agent/streaming/node_http.h"
#include "common/clock.h"

namespace minik::agent::kubelet {

// What the endpoints read from the kubelet (loop thread).
struct KubeletStatsSource {
  std::function<std::vector<PodStatsRef>()> pods;
  std::function<size_t()> running_pods;
  std::function<ContainerStateCounts()> container_states;
  std::function<KubeletMetrics()> metrics;
  std::function<std::string()> pod_list;  // GET /pods: a v1 PodList
};

// The agent process' own numbers (client_golang's process collector).
struct ProcessSample {
  double cpu_seconds = 0;
  double start_time_seconds = 0;
  uint64_t resident_memory_bytes = 0;
  uint64_t virtual_memory_bytes = 0;
  uint64_t open_fds = 0;
  uint64_t max_fds = 0;
};
// Reads <proc_dir>/self/{stat,fd} and <proc_dir>/stat (btime) and the nofile limit.
StatusOr<ProcessSample> ReadProcessSample(const std::string& proc_dir = "/proc");

// GET /metrics.
// GET /metrics/probes: prober_probe_total by probe and result, and the process' start time.
std::string ProbeMetricsText(const KubeletMetrics& m, const ProcessSample* process);

std::string AgentMetricsText(const std::string& node_name, const ProcessSample* process, size_t running_pods,
                             const ContainerStateCounts& states, const KubeletMetrics& m);

struct KubeletHttpOptions {
  std::string node_name;
  std::string proc_dir = "/proc";
  SummaryDirs dirs;  // the filesystems the Summary reports
  // Runs blocking work elsewhere (a WorkPool), and brings a result back to the owner's thread.
  std::function<void(std::function<void()>)> offload;
  std::function<void(std::function<void()>)> post;
};

class KubeletHttp final : public streaming::NodeHttpHandler {
 public:
  // cgroups, machine and clock must be usable from the offload threads.
  KubeletHttp(KubeletStatsSource source, oci::Cgroups& cgroups, MachineStats& machine, const Clock& clock,
              KubeletHttpOptions options);
  ~KubeletHttp() override;
  void Serve(const streaming::NodeHttpRequest& req, std::function<void(streaming::NodeHttpResponse)> done) override;

 private:
  void Stats(bool summary, std::function<void(streaming::NodeHttpResponse)> done);

  KubeletStatsSource source_;
  oci::Cgroups& cgroups_;
  MachineStats& machine_;
  const Clock& clock_;
  KubeletHttpOptions options_;
  CpuRates rates_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace minik::agent::kubelet
