#include "agent/oci/namespaces.h"

#include <dirent.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <thread>

#include "agent/oci/mounts.h"
#include "common/strings.h"

namespace minik::agent::oci {
namespace {

std::string Errno(const std::string& what, int err) { return what + ": " + strerror(err); }

Status MkdirAll(const std::string& path) {
  std::string cur;
  for (auto part : Split(path, '/')) {
    if (part.empty()) continue;
    cur += "/" + std::string(part);
    if (mkdir(cur.c_str(), 0755) != 0 && errno != EEXIST) return Status::Internal(Errno("mkdir " + cur, errno));
  }
  return Status::OK();
}

// dir exists, is bind-mounted on itself and private.
Status EnsurePrivateDir(const std::string& dir) {
  MINIK_RETURN_IF_ERROR(MkdirAll(dir));
  auto mounted = IsMountPoint(dir);
  if (!mounted.ok()) return mounted.status();
  if (!*mounted && mount(dir.c_str(), dir.c_str(), nullptr, MS_BIND, nullptr) != 0) {
    return Status::Internal(Errno("bind mount " + dir + " on itself", errno));
  }
  if (mount(nullptr, dir.c_str(), nullptr, MS_PRIVATE, nullptr) != 0) {
    return Status::Internal(Errno("make " + dir + " private", errno));
  }
  return Status::OK();
}

// A namespace file that is a live nsfs mount.
bool IsNsMount(const std::string& path) {
  auto m = IsMountPoint(path);
  return m.ok() && *m;
}

Status RemoveNsFile(const std::string& path) {
  // A file may carry stacked mounts after crashes; unmount until none is left.
  for (int i = 0; i < 8 && IsNsMount(path); ++i) MINIK_RETURN_IF_ERROR(Unmount(path));
  if (unlink(path.c_str()) != 0 && errno != ENOENT) return Status::Internal(Errno("remove " + path, errno));
  return Status::OK();
}

struct NewNs {
  const char* proc_name;  // under /proc/thread-self/ns
  int flag;
  std::string path;
};

}  // namespace

Status BringUpLoopback() {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::Internal(Errno("socket", errno));
  struct ifreq ifr {};
  strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  Status st;
  if (ioctl(fd, SIOCGIFFLAGS, &ifr) != 0) {
    st = Status::Internal(Errno("get flags of lo", errno));
  } else {
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP | IFF_RUNNING);
    if (ioctl(fd, SIOCSIFFLAGS, &ifr) != 0) st = Status::Internal(Errno("set lo up", errno));
  }
  close(fd);
  return st;
}

PodNamespaces PodNamespacePaths(const std::string& run_dir, const std::string& pod_uid) {
  return PodNamespaces{run_dir + "/netns/" + pod_uid, run_dir + "/ipcns/" + pod_uid, run_dir + "/utsns/" + pod_uid};
}

StatusOr<PodNamespaces> CreatePodNamespaces(const PodNamespaceOptions& options) {
  if (options.pod_uid.empty() || options.pod_uid.find('/') != std::string::npos || options.pod_uid == "." ||
      options.pod_uid == "..") {
    return Status::Invalid("invalid pod uid \"" + options.pod_uid + "\"");
  }
  PodNamespaces all = PodNamespacePaths(options.run_dir, options.pod_uid);
  PodNamespaces out;
  std::vector<NewNs> wanted;
  if (!options.host_network) {
    out.net = all.net;
    out.uts = all.uts;
    wanted.push_back({"net", CLONE_NEWNET, all.net});
    wanted.push_back({"uts", CLONE_NEWUTS, all.uts});
  }
  if (!options.host_ipc) {
    out.ipc = all.ipc;
    wanted.push_back({"ipc", CLONE_NEWIPC, all.ipc});
  }
  // Serializes set-up of the run directories (their self bind mounts) across threads and agents.
  MINIK_RETURN_IF_ERROR(MkdirAll(options.run_dir));
  int lock = open(options.run_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (lock < 0) return Status::Internal(Errno("open " + options.run_dir, errno));
  while (flock(lock, LOCK_EX) != 0 && errno == EINTR) {
  }
  struct Unlock {
    int fd;
    ~Unlock() { close(fd); }
  } unlock{lock};
  std::vector<NewNs> missing;
  for (auto& ns : wanted) {
    std::string dir = ns.path.substr(0, ns.path.rfind('/'));
    MINIK_RETURN_IF_ERROR(EnsurePrivateDir(dir));
    if (IsNsMount(ns.path)) continue;
    int fd = open(ns.path.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0444);
    if (fd < 0) return Status::Internal(Errno("create " + ns.path, errno));
    close(fd);
    missing.push_back(ns);
  }
  if (missing.empty()) return out;

  int flags = 0;
  for (const auto& ns : missing) flags |= ns.flag;
  Status result;
  std::thread worker([&] {
    if (unshare(flags) != 0) {
      result = Status::Internal(Errno("unshare", errno));
      return;
    }
    if (flags & CLONE_NEWUTS) {
      if (sethostname(options.hostname.data(), options.hostname.size()) != 0) {
        result = Status::Internal(Errno("set hostname \"" + options.hostname + "\"", errno));
        return;
      }
    }
    if (flags & CLONE_NEWNET) {
      result = BringUpLoopback();
      if (!result.ok()) return;
    }
    std::string self = "/proc/self/task/" + std::to_string(syscall(SYS_gettid)) + "/ns/";
    for (const auto& ns : missing) {
      std::string src = self + ns.proc_name;
      if (mount(src.c_str(), ns.path.c_str(), nullptr, MS_BIND, nullptr) != 0) {
        result = Status::Internal(Errno("bind mount " + src + " on " + ns.path, errno));
        return;
      }
    }
  });
  worker.join();
  if (!result.ok()) {
    for (const auto& ns : missing) (void)RemoveNsFile(ns.path);
    return result.WithContext("creating namespaces of pod " + options.pod_uid);
  }
  return out;
}

Status RemovePodNamespaces(const std::string& run_dir, const std::string& pod_uid) {
  if (pod_uid.empty() || pod_uid.find('/') != std::string::npos) {
    return Status::Invalid("invalid pod uid \"" + pod_uid + "\"");
  }
  PodNamespaces p = PodNamespacePaths(run_dir, pod_uid);
  Status first;
  for (const std::string* path : {&p.net, &p.ipc, &p.uts}) {
    Status st = RemoveNsFile(*path);
    if (!st.ok() && first.ok()) first = st;
  }
  return first;
}

std::vector<std::string> ListPodNamespaces(const std::string& run_dir) {
  std::set<std::string> uids;
  for (const char* sub : {"netns", "ipcns", "utsns"}) {
    std::string dir = run_dir + "/" + sub;
    DIR* d = opendir(dir.c_str());
    if (!d) continue;
    while (struct dirent* e = readdir(d)) {
      std::string name = e->d_name;
      if (name != "." && name != "..") uids.insert(name);
    }
    closedir(d);
  }
  return std::vector<std::string>(uids.begin(), uids.end());
}

Status RunInNetns(const std::string& netns_path, const std::function<void()>& fn) {
  int fd = open(netns_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::NotFound(Errno("open network namespace " + netns_path, errno));
  Status result;
  std::thread worker([&] {
    if (setns(fd, CLONE_NEWNET) != 0) {
      result = Status::Internal(Errno("join network namespace " + netns_path, errno));
      return;
    }
    fn();
  });
  worker.join();
  close(fd);
  return result;
}

}  // namespace minik::agent::oci
