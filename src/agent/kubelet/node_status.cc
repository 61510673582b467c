#include "agent/kubelet/node_status.h"

#include <sched.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <dirent.h>
#include <fstream>
#include <sstream>

namespace minik::agent::kubelet {
namespace {

std::string ReadTrimmed(const std::string& path) {
  std::ifstream f(path);
  std::string s;
  std::getline(f, s);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  return s;
}

int64_t MeminfoKb(const std::string& text, const std::string& key) {
  auto pos = text.find(key + ":");
  if (pos == std::string::npos) return 0;
  return std::atoll(text.c_str() + pos + key.size() + 1);
}

std::string Ki(int64_t bytes) { return std::to_string(bytes / 1024) + "Ki"; }

}  // namespace

MachineFacts MachineFacts::Read(const std::string& data_dir) {
  MachineFacts m;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) m.cpus = CPU_COUNT(&set);
  else m.cpus = std::max<long>(1, sysconf(_SC_NPROCESSORS_ONLN));
  std::ifstream mi("/proc/meminfo");
  std::stringstream ss;
  ss << mi.rdbuf();
  m.memory_bytes = MeminfoKb(ss.str(), "MemTotal") * 1024;
  m.memory_available_bytes = MeminfoKb(ss.str(), "MemAvailable") * 1024;
  struct statvfs vfs;
  if (statvfs(data_dir.c_str(), &vfs) == 0) {
    m.disk_bytes = static_cast<int64_t>(vfs.f_blocks) * static_cast<int64_t>(vfs.f_frsize);
    m.disk_available_bytes = static_cast<int64_t>(vfs.f_bavail) * static_cast<int64_t>(vfs.f_frsize);
  }
  m.pids_max = std::atoll(ReadTrimmed("/proc/sys/kernel/pid_max").c_str());
  if (DIR* d = opendir("/proc")) {
    while (dirent* e = readdir(d)) m.pids_used += std::isdigit(static_cast<unsigned char>(e->d_name[0])) ? 1 : 0;
    closedir(d);
  }
  m.machine_id = ReadTrimmed("/etc/machine-id");
  m.system_uuid = ReadTrimmed("/sys/class/dmi/id/product_uuid");
  std::transform(m.system_uuid.begin(), m.system_uuid.end(), m.system_uuid.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (m.system_uuid.empty()) m.system_uuid = m.machine_id;
  m.boot_id = ReadTrimmed("/proc/sys/kernel/random/boot_id");
  struct utsname u;
  if (uname(&u) == 0) m.kernel_version = u.release;
  std::ifstream os("/etc/os-release");
  std::string line;
  while (std::getline(os, line)) {
    if (line.rfind("PRETTY_NAME=", 0) == 0) {
      m.os_image = line.substr(12);
      if (m.os_image.size() >= 2 && m.os_image.front() == '"') m.os_image = m.os_image.substr(1, m.os_image.size() - 2);
    }
  }
  if (m.os_image.empty()) m.os_image = "Linux";
  return m;
}

NodeStatus::NodeStatus(const Clock& clock, NodeOptions options) : clock_(clock), options_(std::move(options)) {}

JsonDoc NodeStatus::Build(const MachineFacts& f, const std::vector<NodeImage>& images) {
  std::string now = FormatRFC3339(clock_.Now());
  JsonDoc d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  SetString(d, "apiVersion", "v1", a);
  SetString(d, "kind", "Node", a);
  JsonValue md(rapidjson::kObjectType);
  SetString(md, "name", options_.name, a);
  JsonValue labels(rapidjson::kObjectType);
  SetString(labels, "beta.kubernetes.io/arch", "amd64", a);
  SetString(labels, "beta.kubernetes.io/os", "linux", a);
  SetString(labels, "kubernetes.io/arch", "amd64", a);
  SetString(labels, "kubernetes.io/hostname", options_.name, a);
  SetString(labels, "kubernetes.io/os", "linux", a);
  SetString(labels, "node.kubernetes.io/instance-type", options_.instance_type, a);
  for (const auto& kv : options_.labels) {
    auto eq = kv.find('=');
    SetString(labels, kv.substr(0, eq), eq == std::string::npos ? "" : kv.substr(eq + 1), a);
  }
  md.AddMember("labels", labels, a);
  JsonValue ann(rapidjson::kObjectType);
  SetString(ann, "node.alpha.kubernetes.io/ttl", "0", a);
  SetString(ann, "volumes.kubernetes.io/controller-managed-attach-detach", "true", a);
  md.AddMember("annotations", ann, a);
  d.AddMember("metadata", md, a);
  JsonValue spec(rapidjson::kObjectType);
  if (!options_.taints.empty()) {
    JsonValue taints(rapidjson::kArrayType);
    for (const auto& t : options_.taints) {
      auto colon = t.rfind(':');
      std::string kv = t.substr(0, colon);
      auto eq = kv.find('=');
      JsonValue tv(rapidjson::kObjectType);
      SetString(tv, "key", kv.substr(0, eq), a);
      if (eq != std::string::npos) SetString(tv, "value", kv.substr(eq + 1), a);
      SetString(tv, "effect", colon == std::string::npos ? "" : t.substr(colon + 1), a);
      taints.PushBack(tv, a);
    }
    spec.AddMember("taints", taints, a);
  }
  d.AddMember("spec", spec, a);

  JsonValue status(rapidjson::kObjectType);
  JsonValue cap(rapidjson::kObjectType);
  SetString(cap, "cpu", std::to_string(f.cpus), a);
  SetString(cap, "ephemeral-storage", Ki(f.disk_bytes), a);
  SetString(cap, "hugepages-1Gi", "0", a);
  SetString(cap, "hugepages-2Mi", "0", a);
  SetString(cap, "memory", Ki(f.memory_bytes), a);
  SetString(cap, "pods", std::to_string(options_.max_pods), a);
  JsonValue alloc(rapidjson::kObjectType);
  SetString(alloc, "cpu", std::to_string(f.cpus), a);
  // Allocatable = capacity - hard eviction thresholds (no reservations by default, as k3s).
  int64_t disk_alloc = f.disk_bytes - static_cast<int64_t>(static_cast<double>(f.disk_bytes) * options_.eviction_disk_fraction);
  SetString(alloc, "ephemeral-storage", std::to_string(disk_alloc), a);
  SetString(alloc, "hugepages-1Gi", "0", a);
  SetString(alloc, "hugepages-2Mi", "0", a);
  SetString(alloc, "memory", Ki(std::max<int64_t>(0, f.memory_bytes - options_.eviction_memory_bytes)), a);
  SetString(alloc, "pods", std::to_string(options_.max_pods), a);
  status.AddMember("capacity", cap, a);
  status.AddMember("allocatable", alloc, a);

  changed_ = false;
  JsonValue conds(rapidjson::kArrayType);
  auto cond = [&](const char* type, bool value, const char* reason, const char* message) {
    auto& slot = conditions_[type];
    if (slot.second.empty() || slot.first != value) {
      if (!slot.second.empty()) changed_ = true;
      slot = {value, now};
    }
    JsonValue c(rapidjson::kObjectType);
    SetString(c, "type", type, a);
    SetString(c, "status", value ? "True" : "False", a);
    SetString(c, "lastHeartbeatTime", now, a);
    SetString(c, "lastTransitionTime", slot.second, a);
    SetString(c, "reason", reason, a);
    SetString(c, "message", message, a);
    conds.PushBack(c, a);
  };
  bool mem = f.memory_available_bytes > 0 && f.memory_available_bytes < options_.eviction_memory_bytes;
  bool disk = f.disk_bytes > 0 &&
              static_cast<double>(f.disk_available_bytes) < static_cast<double>(f.disk_bytes) * options_.eviction_disk_fraction;
  bool pid = f.pids_max > 0 && f.pids_used > f.pids_max * 9 / 10;
  cond("MemoryPressure", mem, mem ? "KubeletHasInsufficientMemory" : "KubeletHasSufficientMemory",
       mem ? "kubelet has insufficient memory available" : "kubelet has sufficient memory available");
  cond("DiskPressure", disk, disk ? "KubeletHasDiskPressure" : "KubeletHasNoDiskPressure",
       disk ? "kubelet has disk pressure" : "kubelet has no disk pressure");
  cond("PIDPressure", pid, pid ? "KubeletHasInsufficientPID" : "KubeletHasSufficientPID",
       pid ? "kubelet has insufficient PID available" : "kubelet has sufficient PID available");
  cond("Ready", true, "KubeletReady", "kubelet is posting ready status");
  status.AddMember("conditions", conds, a);

  JsonValue addrs(rapidjson::kArrayType);
  if (!options_.ip.empty()) {
    JsonValue ip(rapidjson::kObjectType);
    SetString(ip, "type", "InternalIP", a);
    SetString(ip, "address", options_.ip, a);
    addrs.PushBack(ip, a);
  }
  JsonValue host(rapidjson::kObjectType);
  SetString(host, "type", "Hostname", a);
  SetString(host, "address", options_.name, a);
  addrs.PushBack(host, a);
  status.AddMember("addresses", addrs, a);
  JsonValue de(rapidjson::kObjectType);
  JsonValue ke(rapidjson::kObjectType);
  ke.AddMember("Port", 0, a);  // no kubelet port: the API server reaches the agent through its tunnel
  de.AddMember("kubeletEndpoint", ke, a);
  status.AddMember("daemonEndpoints", de, a);
  JsonValue info(rapidjson::kObjectType);
  SetString(info, "machineID", f.machine_id, a);
  SetString(info, "systemUUID", f.system_uuid, a);
  SetString(info, "bootID", f.boot_id, a);
  SetString(info, "kernelVersion", f.kernel_version, a);
  SetString(info, "osImage", f.os_image, a);
  SetString(info, "containerRuntimeVersion", options_.runtime_version, a);
  SetString(info, "kubeletVersion", "v1.32.0+minik", a);
  SetString(info, "kubeProxyVersion", "v1.32.0+minik", a);
  SetString(info, "operatingSystem", "linux", a);
  SetString(info, "architecture", "amd64", a);
  status.AddMember("nodeInfo", info, a);
  if (!images.empty()) {
    JsonValue imgs(rapidjson::kArrayType);
    for (const auto& img : images) {
      JsonValue iv(rapidjson::kObjectType);
      JsonValue names(rapidjson::kArrayType);
      for (const auto& n : img.names) names.PushBack(MakeString(n, a), a);
      iv.AddMember("names", names, a);
      iv.AddMember("sizeBytes", img.size_bytes, a);
      imgs.PushBack(iv, a);
    }
    status.AddMember("images", imgs, a);
  }
  d.AddMember("status", status, a);
  return d;
}

}  // namespace minik::agent::kubelet
