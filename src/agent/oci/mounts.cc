#include "agent/oci/mounts.h"

#include <limits.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common/strings.h"

namespace minik::agent::oci {
namespace {

std::string Unescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && s.size() - i >= 4 && s[i + 1] >= '0' && s[i + 1] <= '7' && s[i + 2] >= '0' && s[i + 2] <= '7' &&
        s[i + 3] >= '0' && s[i + 3] <= '7') {
      out.push_back(static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::string Errno(const std::string& what, int err) { return what + ": " + strerror(err); }

std::string RealPathOr(const std::string& path) {
  char buf[PATH_MAX];
  if (realpath(path.c_str(), buf)) return buf;
  return path;
}

std::string Dirname(const std::string& p) {
  size_t slash = p.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return p.substr(0, slash);
}

// The longest directory that contains every path (paths absolute).
std::string CommonDir(const std::vector<std::string>& paths) {
  if (paths.empty()) return "/";
  std::string common = Dirname(paths[0]);
  for (const auto& p : paths) {
    while (common != "/" &&
           !(p.size() > common.size() && p.compare(0, common.size(), common) == 0 && p[common.size()] == '/')) {
      common = Dirname(common);
    }
  }
  return common;
}

bool IndexParamExists() {
  struct stat st {};
  return stat("/sys/module/overlay/parameters/index", &st) == 0;
}

}  // namespace

std::vector<MountInfo> ParseMountInfo(std::string_view text) {
  std::vector<MountInfo> out;
  for (auto line : Split(text, '\n')) {
    if (line.empty()) continue;
    std::vector<std::string_view> f;
    for (auto part : Split(line, ' ')) f.push_back(part);
    if (f.size() < 9) continue;
    MountInfo m;
    int64_t v = 0;
    if (ParseInt64(f[0], &v)) m.id = static_cast<int>(v);
    if (ParseInt64(f[1], &v)) m.parent = static_cast<int>(v);
    m.root = Unescape(f[3]);
    m.mount_point = Unescape(f[4]);
    m.options = std::string(f[5]);
    size_t i = 6;
    std::string optional;
    while (i < f.size() && f[i] != "-") {
      if (!optional.empty()) optional += " ";
      optional += std::string(f[i]);
      ++i;
    }
    if (i + 2 >= f.size()) continue;  // no "- fstype source"
    m.optional = optional;
    m.fstype = std::string(f[i + 1]);
    m.source = Unescape(f[i + 2]);
    m.super_options = i + 3 < f.size() ? std::string(f[i + 3]) : "";
    out.push_back(std::move(m));
  }
  return out;
}

StatusOr<std::vector<MountInfo>> ReadMountInfo(const std::string& path) {
  std::ifstream f(path);
  if (!f) return Status::Internal(Errno("open " + path, errno));
  std::stringstream ss;
  ss << f.rdbuf();
  return ParseMountInfo(ss.str());
}

std::string OverlayOptions(const std::vector<std::string>& lowerdirs, const std::string& upperdir,
                           const std::string& workdir, bool index_off) {
  std::string opts = "lowerdir=" + Join(lowerdirs, ":");
  if (!upperdir.empty()) opts += ",upperdir=" + upperdir + ",workdir=" + workdir;
  if (index_off) opts += ",index=off";
  return opts;
}

Status MountOverlay(const std::vector<std::string>& lowerdirs, const std::string& upperdir, const std::string& workdir,
                    const std::string& target) {
  if (lowerdirs.empty()) return Status::Invalid("overlay mount of " + target + ": no lower directories");
  if (upperdir.empty() != workdir.empty()) {
    return Status::Invalid("overlay mount of " + target + ": upperdir and workdir go together");
  }
  if (upperdir.empty() && lowerdirs.size() == 1) return BindMount(lowerdirs[0], target, true, false);
  bool index_off = IndexParamExists();
  std::string opts = OverlayOptions(lowerdirs, upperdir, workdir, index_off);
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  if (opts.size() < page) {
    if (mount("overlay", target.c_str(), "overlay", 0, opts.c_str()) != 0) {
      return Status::Internal(Errno("mount overlay on " + target + " (" + opts + ")", errno));
    }
    return Status::OK();
  }
  // Too long for one page: relative lower paths from their common parent, in a child that chdir()s
  // there (the working directory is per-process, so not from a thread).
  std::string common = CommonDir(lowerdirs);
  std::vector<std::string> rel;
  for (const auto& l : lowerdirs) rel.push_back(common == "/" ? l.substr(1) : l.substr(common.size() + 1));
  std::string short_opts = OverlayOptions(rel, upperdir, workdir, index_off);
  if (short_opts.size() >= page) {
    return Status::Invalid("overlay mount of " + target + ": " + std::to_string(lowerdirs.size()) +
                           " layers make mount options of " + std::to_string(short_opts.size()) +
                           " bytes even with relative paths (the limit is " + std::to_string(page - 1) + ")");
  }
  std::string abs_target = target[0] == '/' ? target : RealPathOr(target);
  pid_t pid = fork();
  if (pid < 0) return Status::Internal(Errno("fork", errno));
  if (pid == 0) {
    if (chdir(common.c_str()) != 0) _exit(errno ? errno : 1);
    if (mount("overlay", abs_target.c_str(), "overlay", 0, short_opts.c_str()) != 0) _exit(errno ? errno : 1);
    _exit(0);
  }
  int wstatus = 0;
  while (waitpid(pid, &wstatus, 0) < 0) {
    if (errno != EINTR) return Status::Internal(Errno("waitpid", errno));
  }
  if (!WIFEXITED(wstatus)) return Status::Internal("overlay mount helper of " + target + " died");
  if (int err = WEXITSTATUS(wstatus); err != 0) {
    return Status::Internal(Errno("mount overlay on " + target + " (from " + common + ": " + short_opts + ")", err));
  }
  return Status::OK();
}

Status MountTmpfs(const std::string& target, uint64_t size_bytes, uint32_t mode) {
  char mode_buf[16];
  snprintf(mode_buf, sizeof(mode_buf), "%o", mode & 07777);
  std::string opts = std::string("mode=") + mode_buf;
  if (size_bytes > 0) opts = "size=" + std::to_string(size_bytes) + "," + opts;
  if (mount("tmpfs", target.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, opts.c_str()) != 0) {
    return Status::Internal(Errno("mount tmpfs on " + target + " (" + opts + ")", errno));
  }
  return Status::OK();
}

Status BindMount(const std::string& src, const std::string& dst, bool readonly, bool recursive) {
  unsigned long flags = MS_BIND | (recursive ? MS_REC : 0);
  if (mount(src.c_str(), dst.c_str(), nullptr, flags, nullptr) != 0) {
    return Status::Internal(Errno("bind mount " + src + " on " + dst, errno));
  }
  if (!readonly) return Status::OK();
  struct statvfs sv {};
  unsigned long keep = 0;
  if (statvfs(dst.c_str(), &sv) == 0) {
    if (sv.f_flag & ST_NOSUID) keep |= MS_NOSUID;
    if (sv.f_flag & ST_NODEV) keep |= MS_NODEV;
    if (sv.f_flag & ST_NOEXEC) keep |= MS_NOEXEC;
    if (sv.f_flag & ST_NOATIME) keep |= MS_NOATIME;
    if (sv.f_flag & ST_NODIRATIME) keep |= MS_NODIRATIME;
    if (sv.f_flag & ST_RELATIME) keep |= MS_RELATIME;
  }
  if (mount(nullptr, dst.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY | keep, nullptr) != 0) {
    int err = errno;
    umount2(dst.c_str(), MNT_DETACH);
    return Status::Internal(Errno("remount " + dst + " read-only", err));
  }
  return Status::OK();
}

Status Unmount(const std::string& target) {
  if (umount2(target.c_str(), UMOUNT_NOFOLLOW) == 0) return Status::OK();
  int err = errno;
  if (err == EINVAL || err == ENOENT) return Status::OK();
  if (err == EBUSY) {
    if (umount2(target.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) == 0) return Status::OK();
    err = errno;
    if (err == EINVAL || err == ENOENT) return Status::OK();
  }
  return Status::Internal(Errno("unmount " + target, err));
}

Status UnmountAllUnder(const std::string& dir) {
  std::string base = RealPathOr(dir);
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  Status last;
  for (int round = 0; round < 16; ++round) {
    auto infos = ReadMountInfo();
    if (!infos.ok()) return infos.status();
    std::vector<std::string> points;
    for (const auto& m : *infos) {
      const std::string& p = m.mount_point;
      if (p == base ||
          (p.size() > base.size() && p.compare(0, base.size(), base) == 0 && (base == "/" || p[base.size()] == '/'))) {
        points.push_back(p);
      }
    }
    if (points.empty()) return Status::OK();
    // Deepest first; among equals (stacked mounts), each round unmounts the top one.
    std::stable_sort(points.begin(), points.end(), [](const std::string& a, const std::string& b) {
      return std::count(a.begin(), a.end(), '/') > std::count(b.begin(), b.end(), '/');
    });
    points.erase(std::unique(points.begin(), points.end()), points.end());
    bool progress = false;
    for (const auto& p : points) {
      Status st = Unmount(p);
      if (st.ok()) {
        progress = true;
      } else {
        last = st;
      }
    }
    if (!progress) return last;
  }
  return last.ok() ? Status::Internal("unmounting everything under " + dir + ": mounts remain") : last;
}

StatusOr<bool> IsMountPoint(const std::string& path) {
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return false;
    return Status::Internal(Errno("stat " + path, errno));
  }
  std::string resolved = RealPathOr(path);
  auto infos = ReadMountInfo();
  if (!infos.ok()) return infos.status();
  for (const auto& m : *infos) {
    if (m.mount_point == resolved) return true;
  }
  return false;
}

}  // namespace minik::agent::oci
