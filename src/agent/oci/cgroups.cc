#include "agent/oci/cgroups.h"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "agent/oci/mounts.h"
#include "common/strings.h"

#ifndef CGROUP_SUPER_MAGIC
#define CGROUP_SUPER_MAGIC 0x27e0eb
#endif
#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

namespace minik::agent::oci {

uint64_t CpuSharesToWeight(uint64_t shares) {
  if (shares == 0) return 0;
  if (shares < 2) shares = 2;
  if (shares > 262144) shares = 262144;
  return 1 + ((shares - 2) * 9999) / 262142;
}

uint64_t CpuWeightToShares(uint64_t weight) {
  if (weight == 0) return 0;
  if (weight > 10000) weight = 10000;
  return 2 + ((weight - 1) * 262142) / 9999;
}

int64_t MilliCpuToShares(int64_t milli_cpu) {
  constexpr int64_t kMin = 2, kMax = 262144;
  if (milli_cpu <= 0) return kMin;
  int64_t shares = milli_cpu * 1024 / 1000;
  return std::clamp(shares, kMin, kMax);
}

int64_t MilliCpuToQuota(int64_t milli_cpu, int64_t period) {
  if (milli_cpu <= 0) return 0;
  int64_t quota = milli_cpu * period / 1000;
  return std::max<int64_t>(quota, 1000);
}

CgroupLimits ContainerLimits(const ContainerResourceSpec& c) {
  CgroupLimits l;
  l.cpu_shares = (c.cpu_request_milli == 0 && c.cpu_limit_milli != 0) ? MilliCpuToShares(c.cpu_limit_milli)
                                                                      : MilliCpuToShares(c.cpu_request_milli);
  if (c.cpu_limit_milli > 0) {
    l.cpu_period = kDefaultCpuPeriod;
    l.cpu_quota = MilliCpuToQuota(c.cpu_limit_milli, kDefaultCpuPeriod);
  }
  l.memory_limit = c.memory_limit;
  return l;
}

CgroupLimits PodLimits(const std::vector<ContainerResourceSpec>& containers,
                       const std::vector<ContainerResourceSpec>& init_containers) {
  // Requests default to limits (the API server's defaulting).
  auto cpu_req = [](const ContainerResourceSpec& c) {
    return c.cpu_request_milli ? c.cpu_request_milli : c.cpu_limit_milli;
  };
  auto mem_req = [](const ContainerResourceSpec& c) { return c.memory_request ? c.memory_request : c.memory_limit; };
  bool best_effort = true, guaranteed = true, cpu_limits_declared = true, mem_limits_declared = true;
  auto visit = [&](const ContainerResourceSpec& c) {
    if (c.cpu_request_milli || c.cpu_limit_milli || c.memory_request || c.memory_limit) best_effort = false;
    if (!c.cpu_limit_milli || !c.memory_limit || cpu_req(c) != c.cpu_limit_milli || mem_req(c) != c.memory_limit) {
      guaranteed = false;
    }
    if (!c.cpu_limit_milli) cpu_limits_declared = false;
    if (!c.memory_limit) mem_limits_declared = false;
  };
  int64_t sum_cpu_req = 0, sum_cpu_lim = 0, sum_mem_lim = 0;
  for (const auto& c : containers) {
    visit(c);
    sum_cpu_req += cpu_req(c);
    sum_cpu_lim += c.cpu_limit_milli;
    sum_mem_lim += c.memory_limit;
  }
  for (const auto& c : init_containers) {
    visit(c);
    sum_cpu_req = std::max(sum_cpu_req, cpu_req(c));
    sum_cpu_lim = std::max(sum_cpu_lim, c.cpu_limit_milli);
    sum_mem_lim = std::max(sum_mem_lim, c.memory_limit);
  }
  if (containers.empty() && init_containers.empty()) guaranteed = false;
  CgroupLimits l;
  if (best_effort) {
    l.cpu_shares = 2;
    return l;
  }
  l.cpu_shares = MilliCpuToShares(sum_cpu_req);
  if (guaranteed || cpu_limits_declared) {
    l.cpu_period = kDefaultCpuPeriod;
    l.cpu_quota = MilliCpuToQuota(sum_cpu_lim, kDefaultCpuPeriod);
  }
  if (guaranteed || mem_limits_declared) l.memory_limit = sum_mem_lim;
  return l;
}

namespace {

std::string Errno(const std::string& what, int err) { return what + ": " + strerror(err); }

StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream f(path);
  if (!f) {
    int err = errno;
    if (err == ENOENT) return Status::NotFound(Errno("open " + path, err));
    return Status::Internal(Errno("open " + path, err));
  }
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

Status WriteFile(const std::string& path, const std::string& value) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::Internal(Errno("open " + path, errno));
  ssize_t n = write(fd, value.data(), value.size());
  int err = errno;
  close(fd);
  if (n < 0) return Status::Internal(Errno("write \"" + value + "\" to " + path, err));
  return Status::OK();
}

bool Exists(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0;
}

bool IsDir(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

StatusOr<uint64_t> ReadUint(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) return text.status();
  std::string_view t = Trim(*text);
  if (t == "max") return UINT64_MAX;
  int64_t v = 0;
  if (!ParseInt64(t, &v) || v < 0) return Status::Internal("parse " + path + ": \"" + std::string(t) + "\"");
  return static_cast<uint64_t>(v);
}

// A "key value" line of a flat-keyed file (memory.stat, cpu.stat, memory.events, oom_control).
std::optional<uint64_t> KeyedValue(const std::string& text, std::string_view key) {
  for (auto line : Split(text, '\n')) {
    auto parts = Split(Trim(line), ' ');
    if (parts.size() == 2 && parts[0] == key) {
      int64_t v = 0;
      if (ParseInt64(parts[1], &v) && v >= 0) return static_cast<uint64_t>(v);
    }
  }
  return std::nullopt;
}

std::vector<std::string> SubDirs(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  if (!d) return out;
  while (struct dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    if (IsDir(dir + "/" + name)) out.push_back(name);
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

// Post-order list of dir and every directory below it.
void CollectTree(const std::string& dir, std::vector<std::string>* out) {
  for (const auto& sub : SubDirs(dir)) CollectTree(dir + "/" + sub, out);
  out->push_back(dir);
}

bool OnCgroupFs(const std::string& path) {
  struct statfs sf {};
  if (statfs(path.c_str(), &sf) != 0) return true;
  return sf.f_type == CGROUP_SUPER_MAGIC || sf.f_type == CGROUP2_SUPER_MAGIC;
}

// rmdir; on a fake tree (not cgroupfs) its regular files are removed first.
bool RemoveCgroupDir(const std::string& dir) {
  if (rmdir(dir.c_str()) == 0 || errno == ENOENT) return true;
  if (errno != ENOTEMPTY || OnCgroupFs(dir)) return false;
  DIR* d = opendir(dir.c_str());
  if (!d) return false;
  while (struct dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    std::string p = dir + "/" + name;
    struct stat st {};
    if (lstat(p.c_str(), &st) == 0 && !S_ISDIR(st.st_mode)) unlink(p.c_str());
  }
  closedir(d);
  return rmdir(dir.c_str()) == 0;
}

const std::set<std::string>& KnownV1Controllers() {
  static const std::set<std::string> names = {"cpu",     "cpuacct", "cpuset", "memory",     "devices",
                                              "freezer", "net_cls", "blkio",  "perf_event", "net_prio",
                                              "hugetlb", "pids",    "rdma",   "misc"};
  return names;
}

class FsCgroups : public Cgroups {
 public:
  struct Hierarchy {
    std::string dir;                       // host path of the hierarchy's root (prefix + mount point)
    std::vector<std::string> controllers;  // v1 controllers / "name=x"; empty for cgroup2
    bool v2 = false;
  };

  FsCgroups(CgroupsOptions opts, std::vector<Hierarchy> hierarchies, bool v2)
      : opts_(std::move(opts)), hierarchies_(std::move(hierarchies)), v2_(v2) {
    for (const auto& h : hierarchies_) {
      if (h.v2) {
        if (v2_) unified_ = h.dir;
        continue;
      }
      for (const auto& c : h.controllers) {
        if (!controller_dirs_.count(c)) controller_dirs_[c] = h.dir;
      }
    }
  }

  bool IsV2() const override { return v2_; }

  bool SwapControllerAvailable() const override {
    if (!v2_) {
      auto it = controller_dirs_.find("memory");
      return it != controller_dirs_.end() && Exists(it->second + "/memory.memsw.limit_in_bytes");
    }
    return Exists(unified_ + opts_.root + "/memory.swap.max");
  }

  Status EnsureRoot() override {
    for (const auto& h : hierarchies_) MINIK_RETURN_IF_ERROR(EnsureDir(h, opts_.root));
    return Status::OK();
  }

  Status CreatePod(const std::string& pod_uid, const CgroupLimits& limits) override {
    MINIK_RETURN_IF_ERROR(EnsureRoot());
    std::string rel = PodCgroupPath(pod_uid);
    for (const auto& h : hierarchies_) MINIK_RETURN_IF_ERROR(EnsureDir(h, rel));
    if (v2_) return ApplyV2(unified_ + rel, limits);
    return ApplyV1(rel, limits);
  }

  std::string PodCgroupPath(const std::string& pod_uid) const override {
    return (opts_.root == "/" ? std::string() : opts_.root) + "/pod" + pod_uid;
  }

  std::string ContainerCgroupsPath(const std::string& pod_uid, const std::string& container_id) const override {
    return PodCgroupPath(pod_uid) + "/" + container_id;
  }

  Status RemovePod(const std::string& pod_uid) override { return RemoveTree(PodCgroupPath(pod_uid)); }

  StatusOr<std::vector<std::string>> ListPods() override {
    std::set<std::string> uids;
    for (const auto& h : hierarchies_) {
      for (const auto& name : SubDirs(h.dir + opts_.root)) {
        if (name.size() > 3 && name.compare(0, 3, "pod") == 0) uids.insert(name.substr(3));
      }
    }
    return std::vector<std::string>(uids.begin(), uids.end());
  }

  Status RemoveRoot() override {
    if (opts_.root == "/" || opts_.root.empty()) return Status::Invalid("refusing to remove the cgroup root");
    return RemoveTree(opts_.root);
  }

  StatusOr<CgroupStats> PodStats(const std::string& pod_uid) override { return StatsAt(PodCgroupPath(pod_uid)); }

  StatusOr<CgroupStats> ContainerStats(const std::string& pod_uid, const std::string& container_id) override {
    return StatsAt(ContainerCgroupsPath(pod_uid, container_id));
  }

  StatusOr<uint64_t> ContainerOomKills(const std::string& pod_uid, const std::string& container_id) override {
    std::string rel = ContainerCgroupsPath(pod_uid, container_id);
    std::string file = v2_ ? unified_ + rel + "/memory.events" : ControllerDir("memory") + rel + "/memory.oom_control";
    auto text = ReadFile(file);
    if (!text.ok()) return text.status();
    return KeyedValue(*text, "oom_kill").value_or(0);
  }

  StatusOr<NodeCapacity> GetNodeCapacity() override {
    NodeCapacity cap;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) == 0) {
      cap.cpus = CPU_COUNT(&set);
    } else {
      cap.cpus = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
    }
    auto text = ReadFile(opts_.meminfo_path);
    if (!text.ok()) return text.status();
    for (auto line : Split(*text, '\n')) {
      if (line.rfind("MemTotal:", 0) != 0) continue;
      auto rest = Trim(line.substr(9));
      size_t sp = rest.find(' ');
      int64_t kb = 0;
      if (ParseInt64(rest.substr(0, sp), &kb)) cap.memory_bytes = static_cast<uint64_t>(kb) * 1024;
    }
    if (cap.memory_bytes == 0) return Status::Internal("no MemTotal in " + opts_.meminfo_path);
    return cap;
  }

 private:
  std::string ControllerDir(const std::string& controller) const {
    auto it = controller_dirs_.find(controller);
    return it == controller_dirs_.end() ? std::string() : it->second;
  }

  // mkdir -p of rel under the hierarchy; on v1 cpuset, new directories get the parent's cpus and
  // mems (they start empty and would refuse tasks).
  Status EnsureDir(const Hierarchy& h, const std::string& rel) {
    std::string cur = h.dir;
    bool cpuset = std::find(h.controllers.begin(), h.controllers.end(), "cpuset") != h.controllers.end();
    for (auto part : Split(rel, '/')) {
      if (part.empty()) continue;
      std::string parent = cur;
      cur += "/" + std::string(part);
      if (IsDir(cur)) continue;
      if (mkdir(cur.c_str(), 0755) != 0 && errno != EEXIST) return Status::Internal(Errno("mkdir " + cur, errno));
      if (cpuset) {
        for (const char* f : {"cpuset.cpus", "cpuset.mems"}) {
          auto mine = ReadFile(cur + "/" + f);
          if (mine.ok() && !Trim(*mine).empty()) continue;
          auto theirs = ReadFile(parent + "/" + f);
          if (theirs.ok() && !Trim(*theirs).empty()) MINIK_RETURN_IF_ERROR(WriteFile(cur + "/" + f, *theirs));
        }
      }
    }
    if (h.v2 && v2_) {
      // Controllers enabled from the hierarchy's root down to rel itself (for its children).
      std::string dir = h.dir;
      MINIK_RETURN_IF_ERROR(EnableControllers(dir));
      for (auto part : Split(rel, '/')) {
        if (part.empty()) continue;
        dir += "/" + std::string(part);
        MINIK_RETURN_IF_ERROR(EnableControllers(dir));
      }
    }
    return Status::OK();
  }

  // Enables in dir's cgroup.subtree_control the controllers its cgroup.controllers offers.
  Status EnableControllers(const std::string& dir) {
    auto avail = ReadFile(dir + "/cgroup.controllers");
    if (!avail.ok()) return Status::OK();  // not a cgroup2 directory (or the fake tree has none)
    auto enabled = ReadFile(dir + "/cgroup.subtree_control");
    std::set<std::string> on;
    if (enabled.ok()) {
      std::istringstream words(*enabled);
      for (std::string w; words >> w;) on.insert(w[0] == '+' ? w.substr(1) : w);
    }
    static const char* const kWanted[] = {"cpuset", "cpu", "io", "memory", "hugetlb", "pids"};
    for (auto c : Split(Trim(*avail), ' ')) {
      std::string name(c);
      if (name.empty() || on.count(name)) continue;
      if (std::find_if(std::begin(kWanted), std::end(kWanted), [&](const char* w) { return name == w; }) ==
          std::end(kWanted)) {
        continue;
      }
      Status st = AppendFile(dir + "/cgroup.subtree_control", "+" + name);
      if (!st.ok() && (name == "cpu" || name == "memory" || name == "pids")) return st;
    }
    return Status::OK();
  }

  // On cgroupfs each write is one command; in a fake tree this keeps a readable record.
  static Status AppendFile(const std::string& path, const std::string& value) {
    int fd = open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd < 0) return Status::Internal(Errno("open " + path, errno));
    std::string v = OnCgroupFs(path) ? value : value + "\n";
    ssize_t n = write(fd, v.data(), v.size());
    int err = errno;
    close(fd);
    if (n < 0) return Status::Internal(Errno("write \"" + value + "\" to " + path, err));
    return Status::OK();
  }

  Status ApplyV1(const std::string& rel, const CgroupLimits& l) {
    std::string cpu = ControllerDir("cpu");
    if (!cpu.empty()) {
      if (l.cpu_shares > 0) MINIK_RETURN_IF_ERROR(WriteFile(cpu + rel + "/cpu.shares", std::to_string(l.cpu_shares)));
      if (l.cpu_period > 0) {
        MINIK_RETURN_IF_ERROR(WriteFile(cpu + rel + "/cpu.cfs_period_us", std::to_string(l.cpu_period)));
      }
      if (l.cpu_quota != 0) {
        MINIK_RETURN_IF_ERROR(WriteFile(cpu + rel + "/cpu.cfs_quota_us", std::to_string(l.cpu_quota)));
      }
    }
    std::string mem = ControllerDir("memory");
    if (!mem.empty() && l.memory_limit > 0) {
      MINIK_RETURN_IF_ERROR(WriteFile(mem + rel + "/memory.limit_in_bytes", std::to_string(l.memory_limit)));
    }
    std::string pids = ControllerDir("pids");
    if (!pids.empty() && l.pids_limit > 0) {
      MINIK_RETURN_IF_ERROR(WriteFile(pids + rel + "/pids.max", std::to_string(l.pids_limit)));
    }
    return Status::OK();
  }

  Status ApplyV2(const std::string& dir, const CgroupLimits& l) {
    if (l.cpu_shares > 0) {
      MINIK_RETURN_IF_ERROR(WriteFile(dir + "/cpu.weight", std::to_string(CpuSharesToWeight(l.cpu_shares))));
    }
    if (l.cpu_quota != 0 || l.cpu_period > 0) {
      std::string quota = l.cpu_quota > 0 ? std::to_string(l.cpu_quota) : "max";
      std::string period = std::to_string(l.cpu_period > 0 ? l.cpu_period : kDefaultCpuPeriod);
      MINIK_RETURN_IF_ERROR(WriteFile(dir + "/cpu.max", quota + " " + period));
    }
    if (l.memory_limit > 0) MINIK_RETURN_IF_ERROR(WriteFile(dir + "/memory.max", std::to_string(l.memory_limit)));
    if (l.pids_limit > 0) MINIK_RETURN_IF_ERROR(WriteFile(dir + "/pids.max", std::to_string(l.pids_limit)));
    return Status::OK();
  }

  // Kills what runs under rel in every hierarchy and removes the directories, deepest first.
  Status RemoveTree(const std::string& rel) {
    std::vector<std::string> tops;
    for (const auto& h : hierarchies_) {
      if (IsDir(h.dir + rel)) tops.push_back(h.dir + rel);
    }
    if (tops.empty()) return Status::OK();
    // Thaw first: a frozen task does not die of SIGKILL.
    for (const auto& top : tops) {
      std::vector<std::string> dirs;
      CollectTree(top, &dirs);
      for (const auto& d : dirs) {
        if (Exists(d + "/freezer.state")) (void)WriteFile(d + "/freezer.state", "THAWED");
        if (Exists(d + "/cgroup.freeze") && OnCgroupFs(d)) (void)WriteFile(d + "/cgroup.freeze", "0");
      }
    }
    std::string left;
    for (int attempt = 0; attempt < 100; ++attempt) {
      left.clear();
      for (const auto& top : tops) {
        std::vector<std::string> dirs;
        CollectTree(top, &dirs);
        for (const auto& d : dirs) {
          if (OnCgroupFs(d)) KillAll(d);
          if (!RemoveCgroupDir(d) && left.empty()) left = d;
        }
      }
      if (left.empty()) return Status::OK();
      std::this_thread::sleep_for(std::chrono::milliseconds(attempt < 10 ? 5 : 20));
    }
    return Status::Unavailable("cgroup " + left + " still busy after killing its processes");
  }

  static void KillAll(const std::string& dir) {
    if (Exists(dir + "/cgroup.kill")) {
      (void)WriteFile(dir + "/cgroup.kill", "1");
      return;
    }
    auto procs = ReadFile(dir + "/cgroup.procs");
    if (!procs.ok()) return;
    for (auto line : Split(*procs, '\n')) {
      int64_t pid = 0;
      if (ParseInt64(Trim(line), &pid) && pid > 1) kill(static_cast<pid_t>(pid), SIGKILL);
    }
  }

  StatusOr<CgroupStats> StatsAt(const std::string& rel) {
    CgroupStats s;
    if (v2_) {
      std::string dir = unified_ + rel;
      if (!IsDir(dir)) return Status::NotFound("cgroup " + rel + " not found");
      auto cpu = ReadFile(dir + "/cpu.stat");
      if (cpu.ok()) s.cpu_usage_ns = KeyedValue(*cpu, "usage_usec").value_or(0) * 1000;
      auto cur = ReadUint(dir + "/memory.current");
      if (cur.ok()) s.memory_usage_bytes = *cur;
      auto stat = ReadFile(dir + "/memory.stat");
      uint64_t inactive = 0;
      if (stat.ok()) {
        inactive = KeyedValue(*stat, "inactive_file").value_or(0);
        s.memory_rss_bytes = KeyedValue(*stat, "anon").value_or(0);
      }
      s.memory_working_set_bytes = s.memory_usage_bytes > inactive ? s.memory_usage_bytes - inactive : 0;
      return s;
    }
    std::string mem = ControllerDir("memory");
    std::string acct = ControllerDir("cpuacct");
    bool found = false;
    if (!acct.empty() && IsDir(acct + rel)) {
      found = true;
      auto usage = ReadUint(acct + rel + "/cpuacct.usage");
      if (usage.ok()) s.cpu_usage_ns = *usage;
    }
    if (!mem.empty() && IsDir(mem + rel)) {
      found = true;
      auto usage = ReadUint(mem + rel + "/memory.usage_in_bytes");
      if (usage.ok()) s.memory_usage_bytes = *usage;
      auto stat = ReadFile(mem + rel + "/memory.stat");
      uint64_t inactive = 0;
      if (stat.ok()) {
        inactive = KeyedValue(*stat, "total_inactive_file").value_or(0);
        s.memory_rss_bytes = KeyedValue(*stat, "total_rss").value_or(0);
      }
      s.memory_working_set_bytes = s.memory_usage_bytes > inactive ? s.memory_usage_bytes - inactive : 0;
    }
    if (!found) return Status::NotFound("cgroup " + rel + " not found");
    return s;
  }

  CgroupsOptions opts_;
  std::vector<Hierarchy> hierarchies_;
  bool v2_;
  std::string unified_;                                 // v2: the hierarchy's host path
  std::map<std::string, std::string> controller_dirs_;  // v1: controller -> hierarchy host path
};

}  // namespace

StatusOr<CgroupsPtr> NewCgroups(const CgroupsOptions& options) {
  CgroupsOptions opts = options;
  if (opts.root.empty() || opts.root[0] != '/') opts.root = "/" + opts.root;
  while (opts.root.size() > 1 && opts.root.back() == '/') opts.root.pop_back();
  auto infos = ReadMountInfo(opts.mountinfo_path);
  if (!infos.ok()) return infos.status();
  std::vector<FsCgroups::Hierarchy> hierarchies;
  std::set<std::string> seen;  // one mount per hierarchy
  bool any_v1_controller = false;
  bool has_v2 = false;
  for (const auto& m : *infos) {
    if (m.fstype == "cgroup") {
      FsCgroups::Hierarchy h;
      h.dir = opts.fs_prefix + m.mount_point;
      for (auto o : Split(m.super_options, ',')) {
        std::string opt(o);
        if (KnownV1Controllers().count(opt) || opt.rfind("name=", 0) == 0) h.controllers.push_back(opt);
      }
      if (h.controllers.empty()) continue;
      std::string key = Join(h.controllers, ",");
      if (!seen.insert(key).second) continue;
      for (const auto& c : h.controllers) {
        if (c.rfind("name=", 0) != 0) any_v1_controller = true;
      }
      hierarchies.push_back(std::move(h));
    } else if (m.fstype == "cgroup2") {
      if (!seen.insert("cgroup2").second) continue;
      FsCgroups::Hierarchy h;
      h.dir = opts.fs_prefix + m.mount_point;
      h.v2 = true;
      has_v2 = true;
      hierarchies.push_back(std::move(h));
    }
  }
  if (!any_v1_controller && !has_v2) return Status::Unavailable("no cgroup filesystem mounted");
  bool v2 = !any_v1_controller;
  return CgroupsPtr(new FsCgroups(std::move(opts), std::move(hierarchies), v2));
}

}  // namespace minik::agent::oci
