// Mounts of the OS side of a pod: a container's rootfs as overlayfs over image layers, tmpfs
// (emptyDir medium Memory), bind mounts (volumes), and unmounting everything below a directory.
//
// Threading: blocking syscalls; callable from any thread (use a WorkPool off the loop).
// MountOverlay may fork a short-lived child (see below); nothing else touches process state.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace minik::agent::oci {

// One line of /proc/<pid>/mountinfo (escapes such as \040 decoded).
struct MountInfo {
  int id = 0;
  int parent = 0;
  std::string root;         // path inside the mounted filesystem
  std::string mount_point;  // absolute
  std::string options;      // per-mount options ("rw,relatime")
  std::string optional;     // "shared:1 master:2" (may be empty)
  std::string fstype;
  std::string source;
  std::string super_options;  // per-superblock options ("rw,memory")
};

std::vector<MountInfo> ParseMountInfo(std::string_view text);
StatusOr<std::vector<MountInfo>> ReadMountInfo(const std::string& path = "/proc/self/mountinfo");

// Mounts an overlay of `lowerdirs` (top-most first) with `upperdir` and `workdir` (both empty for a
// read-only view; a read-only view of one layer is a read-only bind mount instead, as overlayfs
// needs two lower layers without an upper one) on `target`. When the option string would not fit
// in a page (many layers with long paths), it is shortened with paths relative to the layers'
// common parent directory, mounted from a child process that chdir()s there (containerd does the
// same); if that is still too long, Invalid.
Status MountOverlay(const std::vector<std::string>& lowerdirs, const std::string& upperdir, const std::string& workdir,
                    const std::string& target);
// A tmpfs (nosuid, nodev) with "size=<bytes>" (0 = the kernel's default, half the RAM) and mode.
Status MountTmpfs(const std::string& target, uint64_t size_bytes, uint32_t mode);
// Bind-mounts src on dst (MS_REC when recursive), then remounts it read-only when asked
// (keeping nosuid/nodev/noexec as they were).
Status BindMount(const std::string& src, const std::string& dst, bool readonly, bool recursive);
// Unmounts target; lazily (MNT_DETACH) when busy. OK when it is not mounted or does not exist.
Status Unmount(const std::string& target);
// Unmounts everything mounted at or below dir (from /proc/self/mountinfo), deepest first.
Status UnmountAllUnder(const std::string& dir);
// Whether path is the mount point of some mount (per /proc/self/mountinfo, so bind mounts of the
// same filesystem count). False when it does not exist.
StatusOr<bool> IsMountPoint(const std::string& path);

// Overlay option string for the layers ("lowerdir=a:b,upperdir=u,workdir=w[,index=off]").
std::string OverlayOptions(const std::vector<std::string>& lowerdirs, const std::string& upperdir,
                           const std::string& workdir, bool index_off);

}  // namespace minik::agent::oci
