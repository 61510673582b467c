// Resource statistics of the node and of the pods this kubelet runs, served as the kubelet
// serves them: the Summary API (GET /stats/summary, kubelet stats/v1alpha1) and the resource
// metrics endpoint (GET /metrics/resource, Prometheus text, the metrics metrics-server scrapes).
//
//   - Pods and containers: their cgroups (oci::Cgroups::PodStats / ContainerStats, v1 and v2):
//     cumulative CPU time, memory usage, working set (usage - inactive_file, as cAdvisor) and RSS.
//   - The node: the machine (MachineStats: /proc/stat and /proc/meminfo; a fake in tests).
//   - usageNanoCores is the CPU rate between two samples (CpuRates keeps the previous sample of
//     each node, pod and container; a sample younger than kMinRateWindowMs keeps the older one as
//     the base, so that back-to-back scrapes still measure over a useful window).
//
// Threading: CollectSummary blocks on file I/O (run it on a WorkPool); MachineStats
// implementations are stateless (any thread); CpuRates belongs to one thread (the loop); the
// formatting functions are pure.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/kubelet/kubelet_metrics.h"
#include "agent/oci/cgroups.h"
#include "common/clock.h"
#include "common/status.h"

namespace minik::agent::kubelet {

struct MachineSample {
  uint64_t cpu_usage_ns = 0;         // cumulative busy time of all CPUs
  uint64_t memory_total_bytes = 0;   // MemTotal
  uint64_t memory_usage_bytes = 0;   // MemTotal - MemFree
  uint64_t memory_working_set_bytes = 0;  // usage - Inactive(file)
  uint64_t memory_rss_bytes = 0;     // AnonPages
  int64_t boot_time_s = 0;           // btime
};

// A filesystem as statvfs(3) sees it (the Summary API's FsStats).
struct FsSample {
  uint64_t capacity_bytes = 0;   // f_blocks * f_frsize
  uint64_t available_bytes = 0;  // f_bavail * f_frsize (what an unprivileged writer gets)
  uint64_t used_bytes = 0;       // (f_blocks - f_bfree) * f_frsize
  uint64_t inodes = 0;
  uint64_t inodes_free = 0;
};

class MachineStats {
 public:
  virtual ~MachineStats() = default;
  virtual StatusOr<MachineSample> Read() = 0;
  // The filesystem holding path (statvfs by default).
  virtual StatusOr<FsSample> Fs(const std::string& path);
};
using MachineStatsPtr = std::unique_ptr<MachineStats>;

// Reads <proc_dir>/stat and <proc_dir>/meminfo; clock_ticks: USER_HZ (0 = sysconf(_SC_CLK_TCK)).
MachineStatsPtr NewProcMachineStats(std::string proc_dir = "/proc", int64_t clock_ticks = 0);

struct Usage {
  int64_t time_ns = 0;  // wall clock of the sample
  bool has_cpu = false;
  uint64_t cpu_usage_ns = 0;  // usageCoreNanoSeconds
  std::optional<uint64_t> usage_nano_cores;
  bool has_memory = false;
  uint64_t memory_usage_bytes = 0;
  uint64_t memory_working_set_bytes = 0;
  uint64_t memory_rss_bytes = 0;
  std::optional<uint64_t> memory_available_bytes;  // node: capacity - working set
};

struct ContainerSummary {
  std::string name;
  int64_t start_ns = 0;
  std::string id;  // runtime ID (the rate key; not serialized)
  Usage usage;
};

struct PodSummary {
  std::string namespace_;
  std::string name;
  std::string uid;
  std::string start_time;  // RFC 3339
  std::vector<ContainerSummary> containers;
  Usage usage;  // the pod cgroup
};

struct Summary {
  std::string node_name;
  int64_t time_ns = 0;  // when collected
  int64_t node_start_s = 0;
  Usage node;
  std::optional<FsSample> node_fs;   // node.fs: the filesystem of the agent's data dir
  std::optional<FsSample> image_fs;  // node.runtime.imageFs (and containerFs: not split here)
  bool node_error = false;  // the machine could not be read (resource_scrape_error 1)
  std::vector<PodSummary> pods;
};

// Reads the machine and the cgroups of each pod and running container. Pods whose cgroup is gone
// are left out; a container whose cgroup cannot be read is left out of its pod.
// fs_dirs: the agent's data dir (node.fs) and its image store (runtime imageFs); "" = left out.
struct SummaryDirs {
  std::string node_dir;
  std::string image_dir;
};
Summary CollectSummary(const std::string& node_name, const std::vector<PodStatsRef>& pods, oci::Cgroups& cgroups,
                       MachineStats& machine, const Clock& clock, const SummaryDirs& dirs = {});

constexpr int64_t kMinRateWindowMs = 1000;

class CpuRates {
 public:
  // Fills usage_nano_cores of the node, pods and containers from the previous samples; forgets
  // pods and containers that are gone.
  void Apply(Summary* s);
  size_t tracked() const { return last_.size(); }

 private:
  struct Point {
    int64_t time_ns;
    uint64_t cpu_ns;
  };
  void Rate(const std::string& key, Usage* u, std::map<std::string, Point>* next);
  std::map<std::string, Point> last_;
};

// GET /stats/summary: kubelet stats/v1alpha1 Summary JSON.
std::string SummaryJson(const Summary& s);
// GET /metrics/resource: the kubelet's resource metrics in Prometheus text.
std::string ResourceMetricsText(const Summary& s);

}  // namespace minik::agent::kubelet
