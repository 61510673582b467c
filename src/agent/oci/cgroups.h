// Pod cgroups, as the kubelet's cgroupfs driver lays them out (flat: no QoS-class level):
//
//   <root>/pod<pod-uid>                  pod-level limits (ResourceConfigForPod)
//   <root>/pod<pod-uid>/<container-id>   created by the OCI runtime from the spec's cgroupsPath
//
// <root> is the kubelet's --cgroup-root ("/kubepods" by default), relative to every cgroup
// hierarchy's root. Works on cgroup v1 (including hybrid layouts: controllers mounted apart,
// e.g. cpu and cpuacct in separate directories, plus an empty cgroup2 "unified" mount) and on
// cgroup v2 (controllers enabled in cgroup.subtree_control from the hierarchy root down).
//
// Cgroups is an interface so the kubelet's tests can use a fake. The real one (NewCgroups) finds
// the hierarchies in a mountinfo file; its filesystem root is injectable (tests run it over a
// fake tree of plain directories).
//
// Threading: the real implementation keeps no mutable state after construction: any thread may
// call it. Its calls block on cgroupfs I/O (RemovePod may wait up to ~2 s for killed processes
// to go): call them from a WorkPool, not the loop.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace minik::agent::oci {

// Limits of a cgroup. 0 means "not set" (left as it is); cpu_quota -1 means unlimited.
struct CgroupLimits {
  int64_t cpu_shares = 0;
  int64_t cpu_quota = 0;   // microseconds per period
  int64_t cpu_period = 0;  // microseconds
  int64_t memory_limit = 0;
  int64_t pids_limit = 0;
};

struct CgroupStats {
  uint64_t cpu_usage_ns = 0;        // cumulative
  uint64_t memory_usage_bytes = 0;  // v1 memory.usage_in_bytes, v2 memory.current
  // usage - inactive_file (0 when negative), what the kubelet and metrics-server report.
  uint64_t memory_working_set_bytes = 0;
  uint64_t memory_rss_bytes = 0;  // v1 total_rss, v2 anon
};

struct NodeCapacity {
  int cpus = 0;               // CPUs this process may run on (sched_getaffinity)
  uint64_t memory_bytes = 0;  // MemTotal
};

class Cgroups {
 public:
  virtual ~Cgroups() = default;

  virtual bool IsV2() const = 0;
  // Whether memory+swap can be limited (v1 memory.memsw.*, v2 memory.swap.max): then the spec's
  // memory.swap is set to the limit, as containerd does.
  virtual bool SwapControllerAvailable() const = 0;

  // Creates <root> in every hierarchy (enabling controllers on v2). Idempotent.
  virtual Status EnsureRoot() = 0;
  // Creates <root>/pod<uid> (and <root>) and applies the limits; updates them when it exists.
  virtual Status CreatePod(const std::string& pod_uid, const CgroupLimits& limits) = 0;
  // "<root>/pod<uid>" and "<root>/pod<uid>/<container-id>" (the spec's linux.cgroupsPath).
  virtual std::string PodCgroupPath(const std::string& pod_uid) const = 0;
  virtual std::string ContainerCgroupsPath(const std::string& pod_uid, const std::string& container_id) const = 0;
  // Kills every process left in the pod's cgroups, then removes the container cgroups and the
  // pod cgroup in every hierarchy, retrying briefly while processes exit. OK when absent.
  virtual Status RemovePod(const std::string& pod_uid) = 0;
  // UIDs of the pods that have a cgroup under <root> in any hierarchy (orphans at agent start).
  virtual StatusOr<std::vector<std::string>> ListPods() = 0;
  // Removes <root> itself (after removing any pod cgroup left in it).
  virtual Status RemoveRoot() = 0;

  virtual StatusOr<CgroupStats> PodStats(const std::string& pod_uid) = 0;
  virtual StatusOr<CgroupStats> ContainerStats(const std::string& pod_uid, const std::string& container_id) = 0;
  // How many processes of the container's cgroup the kernel OOM-killed (v1 memory.oom_control
  // oom_kill, v2 memory.events oom_kill). Read it before the OCI runtime deletes the cgroup.
  virtual StatusOr<uint64_t> ContainerOomKills(const std::string& pod_uid, const std::string& container_id) = 0;

  virtual StatusOr<NodeCapacity> GetNodeCapacity() = 0;
};
using CgroupsPtr = std::unique_ptr<Cgroups>;

struct CgroupsOptions {
  std::string root = "/kubepods";  // --cgroup-root
  std::string mountinfo_path = "/proc/self/mountinfo";
  // Prepended to every mount point found in mountinfo (tests: a temp dir holding a fake tree).
  std::string fs_prefix;
  std::string meminfo_path = "/proc/meminfo";
};

// Detects the cgroup layout. Unavailable when no usable cgroup hierarchy is mounted.
StatusOr<CgroupsPtr> NewCgroups(const CgroupsOptions& options);

// runc's conversions between cgroup v1 cpu.shares [2, 262144] and v2 cpu.weight [1, 10000].
uint64_t CpuSharesToWeight(uint64_t shares);
uint64_t CpuWeightToShares(uint64_t weight);

// The kubelet's CFS conversions (pkg/kubelet/cm/helpers_linux.go).
constexpr int64_t kDefaultCpuPeriod = 100000;
int64_t MilliCpuToShares(int64_t milli_cpu);
int64_t MilliCpuToQuota(int64_t milli_cpu, int64_t period);

// A container's resources as written in the pod spec; 0 = not given.
struct ContainerResourceSpec {
  int64_t cpu_request_milli = 0;
  int64_t cpu_limit_milli = 0;
  int64_t memory_request = 0;
  int64_t memory_limit = 0;
};
// A container's cgroup limits as the kubelet computes them (shares from the request, or from
// the limit when there is no request; quota and period from the limit; memory limit).
CgroupLimits ContainerLimits(const ContainerResourceSpec& c);
// The pod cgroup's limits as the kubelet's ResourceConfigForPod: shares from the pod's requests,
// quota and memory limit only when every container declares that limit (Guaranteed and
// Burstable), shares 2 for BestEffort pods. Effective values are max(sum of app containers,
// largest init container).
CgroupLimits PodLimits(const std::vector<ContainerResourceSpec>& containers,
                       const std::vector<ContainerResourceSpec>& init_containers);

}  // namespace minik::agent::oci
