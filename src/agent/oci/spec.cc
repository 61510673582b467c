#include "agent/oci/spec.h"

#include <dirent.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <cstring>
#include <fstream>

namespace minik::agent::oci {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

constexpr const char* kDefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
constexpr uint64_t kDefaultNofile = 1048576;

// Index = capability number (linux/capability.h).
const char* const kAllCaps[] = {
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
};
constexpr int kNumCaps = sizeof(kAllCaps) / sizeof(kAllCaps[0]);

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(toupper(static_cast<unsigned char>(c)));
  return s;
}

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// containerd's customopts.WithCapabilities, then oci.WithPrivileged.
std::vector<std::string> EffectiveCaps(const ContainerSpec& spec) {
  if (spec.privileged) return AllCapabilities();
  std::vector<std::string> caps = DefaultCapabilities();
  std::vector<std::string> add, drop;
  for (const auto& c : spec.cap_add) add.push_back(Upper(c));
  for (const auto& c : spec.cap_drop) drop.push_back(Upper(c));
  if (Contains(add, "ALL")) caps = AllCapabilities();
  if (Contains(drop, "ALL")) caps.clear();
  for (const auto& c : add) {
    if (c == "ALL") continue;
    std::string name = "CAP_" + c;
    if (!Contains(caps, name)) caps.push_back(name);
  }
  for (const auto& c : drop) {
    if (c == "ALL") continue;
    std::string name = "CAP_" + c;
    caps.erase(std::remove(caps.begin(), caps.end(), name), caps.end());
  }
  return caps;
}

// containerd's replaceOrAppendEnvValues: an entry replaces the one with the same key in place, is
// appended otherwise; an entry without '=' removes the key.
void MergeEnv(std::vector<std::string>* env, const std::string& entry) {
  size_t eq = entry.find('=');
  std::string key = entry.substr(0, eq);
  auto same_key = [&](const std::string& e) {
    size_t q = e.find('=');
    return e.substr(0, q) == key;
  };
  auto it = std::find_if(env->begin(), env->end(), same_key);
  if (eq == std::string::npos) {
    if (it != env->end()) env->erase(it);
    return;
  }
  if (it != env->end()) {
    *it = entry;
  } else {
    env->push_back(entry);
  }
}

std::string CleanPath(const std::string& p) {
  std::vector<std::string> parts;
  size_t i = 0;
  while (i <= p.size()) {
    size_t j = p.find('/', i);
    if (j == std::string::npos) j = p.size();
    std::string part = p.substr(i, j - i);
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    i = j + 1;
  }
  std::string out;
  for (const auto& part : parts) out += "/" + part;
  return out.empty() ? "/" : out;
}

size_t PathParts(const std::string& p) {
  std::string c = CleanPath(p);
  return static_cast<size_t>(std::count(c.begin(), c.end(), '/')) + 1;
}

std::vector<Mount> DefaultMounts(bool privileged) {
  std::vector<Mount> m = {
      {"/proc", "proc", "proc", {"nosuid", "noexec", "nodev"}},
      {"/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"}},
      {"/dev/pts", "devpts", "devpts", {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
      {"/dev/shm", "tmpfs", "shm", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
      {"/dev/mqueue", "mqueue", "mqueue", {"nosuid", "noexec", "nodev"}},
      {"/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", "ro"}},
      {"/sys/fs/cgroup", "cgroup", "cgroup", {"nosuid", "noexec", "nodev", "relatime", "ro"}},
  };
  if (privileged) {  // oci.WithWriteableSysfs, oci.WithWriteableCgroupfs
    for (auto& mount : m) {
      if (mount.type != "sysfs" && mount.type != "cgroup") continue;
      for (auto& o : mount.options) {
        if (o == "ro") o = "rw";
      }
    }
  }
  return m;
}

std::vector<Mount> MergedMounts(const ContainerSpec& spec) {
  std::vector<Mount> given = spec.mounts;
  std::stable_sort(given.begin(), given.end(),
                   [](const Mount& a, const Mount& b) { return PathParts(a.destination) < PathParts(b.destination); });
  bool has_dev = false;
  std::vector<std::string> given_dsts;
  for (const auto& m : given) {
    std::string d = CleanPath(m.destination);
    if (d == "/dev") has_dev = true;
    given_dsts.push_back(d);
  }
  std::vector<Mount> out;
  for (auto& m : DefaultMounts(spec.privileged)) {
    std::string d = CleanPath(m.destination);
    if (Contains(given_dsts, d)) continue;
    if (has_dev && d.rfind("/dev/", 0) == 0) continue;
    out.push_back(std::move(m));
  }
  for (auto& m : given) out.push_back(std::move(m));
  return out;
}

void StringArray(Writer& w, const std::vector<std::string>& v) {
  w.StartArray();
  for (const auto& s : v) w.String(s.c_str(), static_cast<rapidjson::SizeType>(s.size()));
  w.EndArray();
}

void Key(Writer& w, const char* k) { w.Key(k); }
void Str(Writer& w, const std::string& s) { w.String(s.c_str(), static_cast<rapidjson::SizeType>(s.size())); }

void DeviceRule(Writer& w, bool allow, const char* type, int64_t major, int64_t minor, const char* access) {
  w.StartObject();
  Key(w, "allow");
  w.Bool(allow);
  if (type) {
    Key(w, "type");
    w.String(type);
  }
  if (major >= 0) {
    Key(w, "major");
    w.Int64(major);
  }
  if (minor >= 0) {
    Key(w, "minor");
    w.Int64(minor);
  }
  Key(w, "access");
  w.String(access);
  w.EndObject();
}

void WriteNamespace(Writer& w, const char* type, const std::string& path) {
  w.StartObject();
  Key(w, "type");
  w.String(type);
  if (!path.empty()) {
    Key(w, "path");
    Str(w, path);
  }
  w.EndObject();
}

}  // namespace

Mount BindMountEntry(const std::string& source, const std::string& destination, bool readonly) {
  return Mount{destination, "bind", source, {"rbind", "rprivate", readonly ? "ro" : "rw"}};
}

const std::vector<std::string>& DefaultCapabilities() {
  static const std::vector<std::string> caps = {
      "CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",
      "CAP_MKNOD",   "CAP_NET_RAW",      "CAP_SETGID",           "CAP_SETUID",
      "CAP_SETFCAP", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
      "CAP_KILL",    "CAP_AUDIT_WRITE",
  };
  return caps;
}

std::vector<std::string> AllCapabilities() {
  int last = kNumCaps - 1;
  std::ifstream f("/proc/sys/kernel/cap_last_cap");
  int v = -1;
  if (f >> v && v >= 0 && v < kNumCaps) last = v;
  return std::vector<std::string>(kAllCaps, kAllCaps + last + 1);
}

const std::vector<std::string>& DefaultMaskedPaths() {
  static const std::vector<std::string> paths = {
      "/proc/asound",
      "/proc/acpi",
      "/proc/kcore",
      "/proc/keys",
      "/proc/latency_stats",
      "/proc/timer_list",
      "/proc/timer_stats",
      "/proc/sched_debug",
      "/proc/scsi",
      "/sys/firmware",
      "/sys/devices/virtual/powercap",
  };
  return paths;
}

const std::vector<std::string>& DefaultReadonlyPaths() {
  static const std::vector<std::string> paths = {
      "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
  };
  return paths;
}

uint64_t HostNofileHardLimit() {
  struct rlimit rl {};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 1024;
  if (rl.rlim_max == RLIM_INFINITY) return UINT64_MAX;
  return rl.rlim_max;
}

uint64_t ContainerNofileLimit(uint64_t host_hard) { return std::min(kDefaultNofile, host_hard); }

namespace {
void CollectDevices(const std::string& dir, bool top, std::vector<Device>* out) {
  DIR* d = opendir(dir.c_str());
  if (!d) return;
  while (struct dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    std::string path = dir + "/" + name;
    struct stat st {};
    if (lstat(path.c_str(), &st) != 0) continue;
    if (S_ISDIR(st.st_mode)) {
      if (top && (name == "pts" || name == "shm" || name == "fd" || name == "mqueue" || name == ".lxc" ||
                  name == ".lxd-mounts" || name == ".udev")) {
        continue;
      }
      CollectDevices(path, false, out);
      continue;
    }
    if (name == "console") continue;
    Device dev;
    if (S_ISCHR(st.st_mode)) {
      dev.type = 'c';
    } else if (S_ISBLK(st.st_mode)) {
      dev.type = 'b';
    } else if (S_ISFIFO(st.st_mode)) {
      dev.type = 'p';
    } else {
      continue;
    }
    dev.path = path;
    dev.major = major(st.st_rdev);
    dev.minor = minor(st.st_rdev);
    dev.file_mode = st.st_mode & 07777;
    dev.uid = st.st_uid;
    dev.gid = st.st_gid;
    out->push_back(std::move(dev));
  }
  closedir(d);
}
}  // namespace

StatusOr<std::vector<Device>> HostDevices(const std::string& dev_dir) {
  struct stat st {};
  if (stat(dev_dir.c_str(), &st) != 0) {
    return Status::Internal("stat " + dev_dir + ": " + strerror(errno));
  }
  std::vector<Device> out;
  CollectDevices(dev_dir, true, &out);
  // Paths in the container are under /dev whatever dev_dir was.
  for (auto& d : out) d.path = "/dev" + d.path.substr(dev_dir.size());
  std::sort(out.begin(), out.end(), [](const Device& a, const Device& b) { return a.path < b.path; });
  return out;
}

std::string BuildSpec(const ContainerSpec& spec) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  Key(w, "ociVersion");
  w.String("1.0.2-dev");

  // process
  Key(w, "process");
  w.StartObject();
  if (spec.terminal) {
    Key(w, "terminal");
    w.Bool(true);
  }
  Key(w, "user");
  w.StartObject();
  Key(w, "uid");
  w.Uint(spec.uid);
  Key(w, "gid");
  w.Uint(spec.gid);
  if (!spec.additional_gids.empty()) {
    Key(w, "additionalGids");
    w.StartArray();
    for (uint32_t g : spec.additional_gids) w.Uint(g);
    w.EndArray();
  }
  w.EndObject();
  Key(w, "args");
  StringArray(w, spec.args);
  std::vector<std::string> env = {kDefaultPath};
  if (!spec.hostname.empty()) MergeEnv(&env, "HOSTNAME=" + spec.hostname);
  for (const auto& e : spec.env) MergeEnv(&env, e);
  Key(w, "env");
  StringArray(w, env);
  Key(w, "cwd");
  Str(w, spec.cwd.empty() ? std::string("/") : spec.cwd);
  std::vector<std::string> caps = EffectiveCaps(spec);
  Key(w, "capabilities");
  w.StartObject();
  Key(w, "bounding");
  StringArray(w, caps);
  Key(w, "effective");
  StringArray(w, caps);
  Key(w, "permitted");
  StringArray(w, caps);
  w.EndObject();
  uint64_t nofile = ContainerNofileLimit(spec.host_nofile_hard ? spec.host_nofile_hard : HostNofileHardLimit());
  Key(w, "rlimits");
  w.StartArray();
  w.StartObject();
  Key(w, "type");
  w.String("RLIMIT_NOFILE");
  Key(w, "hard");
  w.Uint64(nofile);
  Key(w, "soft");
  w.Uint64(nofile);
  w.EndObject();
  w.EndArray();
  Key(w, "noNewPrivileges");
  w.Bool(spec.allow_privilege_escalation.has_value() && !*spec.allow_privilege_escalation);
  if (spec.oom_score_adj) {
    Key(w, "oomScoreAdj");
    w.Int(*spec.oom_score_adj);
  }
  w.EndObject();

  // root
  Key(w, "root");
  w.StartObject();
  Key(w, "path");
  Str(w, spec.rootfs);
  if (spec.readonly_rootfs) {
    Key(w, "readonly");
    w.Bool(true);
  }
  w.EndObject();

  Key(w, "mounts");
  w.StartArray();
  for (const auto& m : MergedMounts(spec)) {
    w.StartObject();
    Key(w, "destination");
    Str(w, m.destination);
    Key(w, "type");
    Str(w, m.type);
    Key(w, "source");
    Str(w, m.source);
    Key(w, "options");
    StringArray(w, m.options);
    w.EndObject();
  }
  w.EndArray();

  if (!spec.annotations.empty()) {
    Key(w, "annotations");
    w.StartObject();
    for (const auto& [k, v] : spec.annotations) {
      Str(w, k);
      Str(w, v);
    }
    w.EndObject();
  }

  // linux
  Key(w, "linux");
  w.StartObject();
  if (!spec.sysctls.empty()) {
    Key(w, "sysctl");
    w.StartObject();
    for (const auto& [k, v] : spec.sysctls) {
      Str(w, k);
      Str(w, v);
    }
    w.EndObject();
  }
  Key(w, "resources");
  w.StartObject();
  Key(w, "devices");
  w.StartArray();
  if (spec.privileged) {
    DeviceRule(w, true, nullptr, -1, -1, "rwm");
  } else {
    DeviceRule(w, false, nullptr, -1, -1, "rwm");
    DeviceRule(w, true, "c", 1, 3, "rwm");     // null
    DeviceRule(w, true, "c", 1, 5, "rwm");     // zero
    DeviceRule(w, true, "c", 1, 7, "rwm");     // full
    DeviceRule(w, true, "c", 1, 8, "rwm");     // random
    DeviceRule(w, true, "c", 1, 9, "rwm");     // urandom
    DeviceRule(w, true, "c", 5, 0, "rwm");     // tty
    DeviceRule(w, true, "c", 5, 2, "rwm");     // ptmx
    DeviceRule(w, true, "c", 136, -1, "rwm");  // pts/*
  }
  w.EndArray();
  const Resources& r = spec.resources;
  Key(w, "memory");
  w.StartObject();
  if (r.memory_limit > 0) {
    Key(w, "limit");
    w.Int64(r.memory_limit);
    if (r.swap_equals_limit) {
      Key(w, "swap");
      w.Int64(r.memory_limit);
    }
  }
  w.EndObject();
  Key(w, "cpu");
  w.StartObject();
  if (r.cpu_shares > 0) {
    Key(w, "shares");
    w.Uint64(static_cast<uint64_t>(r.cpu_shares));
  }
  if (r.cpu_quota != 0) {
    Key(w, "quota");
    w.Int64(r.cpu_quota);
  }
  if (r.cpu_period > 0) {
    Key(w, "period");
    w.Uint64(static_cast<uint64_t>(r.cpu_period));
  }
  w.EndObject();
  if (r.pids_limit > 0) {
    Key(w, "pids");
    w.StartObject();
    Key(w, "limit");
    w.Int64(r.pids_limit);
    w.EndObject();
  }
  w.EndObject();  // resources
  if (!spec.cgroups_path.empty()) {
    Key(w, "cgroupsPath");
    Str(w, spec.cgroups_path);
  }
  Key(w, "namespaces");
  w.StartArray();
  WriteNamespace(w, "pid", spec.pid_ns_path);
  if (!spec.ipc_ns_path.empty()) WriteNamespace(w, "ipc", spec.ipc_ns_path);
  if (!spec.uts_ns_path.empty()) WriteNamespace(w, "uts", spec.uts_ns_path);
  WriteNamespace(w, "mount", "");
  if (!spec.net_ns_path.empty()) WriteNamespace(w, "network", spec.net_ns_path);
  if (spec.cgroup_v2 && !spec.privileged) WriteNamespace(w, "cgroup", "");
  w.EndArray();
  if (!spec.devices.empty()) {
    Key(w, "devices");
    w.StartArray();
    for (const auto& d : spec.devices) {
      w.StartObject();
      Key(w, "path");
      Str(w, d.path);
      Key(w, "type");
      char t[2] = {d.type, 0};
      w.String(t);
      Key(w, "major");
      w.Int64(d.major);
      Key(w, "minor");
      w.Int64(d.minor);
      Key(w, "fileMode");
      w.Uint(d.file_mode);
      Key(w, "uid");
      w.Uint(d.uid);
      Key(w, "gid");
      w.Uint(d.gid);
      w.EndObject();
    }
    w.EndArray();
  }
  if (!spec.privileged) {
    Key(w, "maskedPaths");
    StringArray(w, spec.masked_paths ? *spec.masked_paths : DefaultMaskedPaths());
    Key(w, "readonlyPaths");
    StringArray(w, spec.readonly_paths ? *spec.readonly_paths : DefaultReadonlyPaths());
  }
  w.EndObject();  // linux
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

}  // namespace minik::agent::oci
