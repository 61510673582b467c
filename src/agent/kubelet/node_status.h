// The agent's Node object as the kubelet reports it: capacity and allocatable from the machine,
// addresses, nodeInfo, the pressure conditions and Ready, and the images present.
//
// Threading: MachineFacts::Read blocks briefly (reads /proc, /sys, statvfs); NodeStatus is
// confined to the agent's loop thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/json.h"

namespace minik::agent::kubelet {

struct MachineFacts {
  int64_t cpus = 1;
  int64_t memory_bytes = 0;           // MemTotal
  int64_t memory_available_bytes = 0;  // MemAvailable
  int64_t disk_bytes = 0;             // filesystem of the data dir
  int64_t disk_available_bytes = 0;
  int64_t pids_max = 0;               // kernel.pid_max
  int64_t pids_used = 0;
  std::string machine_id, system_uuid, boot_id, kernel_version, os_image;

  // Reads this machine (data_dir: where the agent keeps its data, for the disk figures).
  static MachineFacts Read(const std::string& data_dir);
};

struct NodeImage {
  std::vector<std::string> names;  // repo digests and tags
  int64_t size_bytes = 0;
};

struct NodeOptions {
  std::string name;
  std::string ip;
  std::vector<std::string> labels;  // k=v
  std::vector<std::string> taints;  // k[=v]:Effect
  std::string runtime_version = "runc://unknown";
  std::string instance_type = "minik";  // node.kubernetes.io/instance-type
  int64_t max_pods = 110;
  // Hard eviction thresholds, as the kubelet's defaults: memory.available<100Mi, nodefs.available<10%.
  int64_t eviction_memory_bytes = 100LL * 1024 * 1024;
  double eviction_disk_fraction = 0.10;
};

class NodeStatus {
 public:
  NodeStatus(const Clock& clock, NodeOptions options);
  // The full Node object for these facts; conditions keep their lastTransitionTime until they change.
  JsonDoc Build(const MachineFacts& facts, const std::vector<NodeImage>& images);
  // Whether a condition changed in the last Build (the kubelet then posts at once).
  bool changed() const { return changed_; }

 private:
  const Clock& clock_;
  NodeOptions options_;
  std::map<std::string, std::pair<bool, std::string>> conditions_;  // type -> (status, since)
  bool changed_ = false;
};

}  // namespace minik::agent::kubelet
