// The OCI runtime spec (config.json) of one container of a pod, built as containerd's CRI plugin
// builds it for the kubelet (containerd 1.7/2.0 with runc, cgroupfs driver):
//
// - containerd's default Unix spec (oci/spec.go) minus the /run tmpfs (oci.WithoutRunMount) and
//   minus its default rlimits (customopts.WithoutDefaultSecuritySettings), plus the read-only
//   cgroup mount on /sys/fs/cgroup, the kubelet's mounts sorted by depth (customopts.WithMounts),
//   the kubelet's default masked and read-only paths (pkg/securitycontext), capabilities adjusted
//   by add/drop (customopts.WithCapabilities), privileged containers (oci.WithPrivileged,
//   WithHostDevices, WithAllDevicesAllowed), resources (customopts.WithResources), the pod's
//   namespaces joined by path (customopts.WithPodNamespaces), a new PID and mount namespace always.
// - One deliberate difference: RLIMIT_NOFILE is set to soft = hard = min(1048576, the host's hard
//   limit) (what containerd's systemd unit gives its containers), never above the host's hard
//   limit: no CAP_SYS_RESOURCE is needed to start a container.
// - The device cgroup lists deny-all then the standard character devices runc allows anyway
//   (containerd writes only the deny-all rule and relies on runc adding them; listing them keeps
//   other OCI runtimes equivalent).
//
// Threading: pure functions, callable from any thread (HostDevices and HostNofileHardLimit read
// the host).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace minik::agent::oci {

// One entry of config.json's "mounts".
struct Mount {
  std::string destination;
  std::string type;  // "bind", "tmpfs", "proc", ...
  std::string source;
  std::vector<std::string> options;
};

// A bind mount as containerd's CRI writes the kubelet's mounts: rbind, rprivate, ro or rw.
Mount BindMountEntry(const std::string& source, const std::string& destination, bool readonly);

// A device node created in the container (config.json "linux.devices").
struct Device {
  std::string path;  // in the container
  char type = 'c';   // 'c', 'b', 'u' or 'p'
  int64_t major = 0;
  int64_t minor = 0;
  uint32_t file_mode = 0666;
  uint32_t uid = 0;
  uint32_t gid = 0;
};

struct Resources {
  int64_t cpu_shares = 0;    // 0 = unset
  int64_t cpu_quota = 0;     // microseconds per period; 0 = unset
  int64_t cpu_period = 0;    // microseconds; 0 = unset
  int64_t memory_limit = 0;  // bytes; 0 = unset
  // Set memory.swap to memory_limit (no swap beyond the limit), as containerd does when the swap
  // controller is available (Cgroups::SwapControllerAvailable()).
  bool swap_equals_limit = false;
  int64_t pids_limit = 0;  // 0 = unset
};

struct ContainerSpec {
  std::string rootfs;  // absolute path of the mounted rootfs (root.path)
  bool readonly_rootfs = false;
  std::vector<std::string> args;
  // "KEY=value" entries in order of precedence (image env first, then the container's env): a
  // later entry replaces an earlier one with the same key in place, as containerd's oci.WithEnv.
  // PATH defaults to containerd's default and HOSTNAME is set to `hostname` first.
  std::vector<std::string> env;
  std::string cwd = "/";
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::vector<uint32_t> additional_gids;  // as resolved (ResolveUser) plus supplementalGroups
  bool terminal = false;
  bool privileged = false;
  // Kubernetes names without the CAP_ prefix, or "ALL" (securityContext.capabilities).
  std::vector<std::string> cap_add;
  std::vector<std::string> cap_drop;
  // securityContext.allowPrivilegeEscalation: noNewPrivileges only when explicitly false (the
  // kubelet's AddNoNewPrivileges).
  std::optional<bool> allow_privilege_escalation;
  // The pod's hostname, for HOSTNAME in env. Not written as the spec's "hostname": as with
  // containerd, the pod's UTS namespace holds it (CreatePodNamespaces), or the host's for
  // hostNetwork pods.
  std::string hostname;
  // The kubelet's mounts (volumes, /etc/hosts, /etc/resolv.conf, termination log, ...), in any
  // order: they are sorted by depth, and replace default mounts with the same destination
  // (everything under /dev when /dev itself is given).
  std::vector<Mount> mounts;
  // Pod namespaces to join: paths of bind-mounted namespace files. Empty = the host's namespace
  // (hostNetwork, hostIPC; a host network implies the host's UTS namespace).
  std::string net_ns_path;
  std::string ipc_ns_path;
  std::string uts_ns_path;
  // Joins this PID namespace (shareProcessNamespace) instead of a new one. Empty = new.
  std::string pid_ns_path;
  // The host uses cgroup v2: a new cgroup namespace for non-privileged containers, as containerd.
  bool cgroup_v2 = false;
  std::string cgroups_path;  // Cgroups::ContainerCgroupsPath
  Resources resources;
  std::optional<int> oom_score_adj;
  std::map<std::string, std::string> sysctls;
  std::map<std::string, std::string> annotations;
  // Device nodes to create. For privileged containers pass HostDevices() (containerd's
  // oci.WithHostDevices).
  std::vector<Device> devices;
  // The host's RLIMIT_NOFILE hard limit; 0 = read it now (HostNofileHardLimit()).
  uint64_t host_nofile_hard = 0;
  // Masked/read-only paths; nullopt = the kubelet's defaults (procMount Default). Ignored for
  // privileged containers (none).
  std::optional<std::vector<std::string>> masked_paths;
  std::optional<std::vector<std::string>> readonly_paths;
};

// config.json for the container (OCI runtime-spec 1.0.2).
std::string BuildSpec(const ContainerSpec& spec);

// containerd's default capability set, with the CAP_ prefix, in containerd's order.
const std::vector<std::string>& DefaultCapabilities();
// Every capability the kernel knows (up to /proc/sys/kernel/cap_last_cap; all known ones when it
// cannot be read).
std::vector<std::string> AllCapabilities();
// The kubelet's default masked and read-only paths (procMount Default).
const std::vector<std::string>& DefaultMaskedPaths();
const std::vector<std::string>& DefaultReadonlyPaths();
// The host's device nodes under /dev (runc's devices.HostDevices: skips pts, shm, fd, mqueue and
// console), for privileged containers.
StatusOr<std::vector<Device>> HostDevices(const std::string& dev_dir = "/dev");
// getrlimit(RLIMIT_NOFILE).rlim_max (RLIM_INFINITY as UINT64_MAX).
uint64_t HostNofileHardLimit();
// The nofile limit given to containers: min(1048576, host hard limit).
uint64_t ContainerNofileLimit(uint64_t host_hard);

}  // namespace minik::agent::oci
