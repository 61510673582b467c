// The mount table behind a small interface (DESIGN.md convention 2): tmpfs mounts for
// memory-backed volumes, unmounts, and the mount points under a directory. The real one calls
// mount(2)/umount2(2) and reads /proc/self/mountinfo; a fake records calls for tests that are
// not root or inject failures.
//
// Threading: RealMounter and FakeMounter may be called from any thread (Fake is internally
// locked).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"

namespace minik::agent::volumes {

class Mounter {
 public:
  virtual ~Mounter() = default;
  // Mounts a tmpfs on dir (an existing directory); size_bytes > 0 adds "size=<n>".
  virtual Status MountTmpfs(const std::string& dir, int64_t size_bytes) = 0;
  // Unmounts dir (lazily if it is busy).
  virtual Status Unmount(const std::string& dir) = 0;
  // True when dir is a mount point.
  virtual bool IsMountPoint(const std::string& dir) = 0;
  // Mount points strictly under dir (dir itself included when it is one), deepest first.
  virtual std::vector<std::string> MountPointsUnder(const std::string& dir) = 0;
};
using MounterPtr = std::unique_ptr<Mounter>;

// mount(2), umount2(2), /proc/self/mountinfo.
MounterPtr NewRealMounter();

// Records mounts in memory (no real mount); FailNext makes the next MountTmpfs fail.
class FakeMounter final : public Mounter {
 public:
  Status MountTmpfs(const std::string& dir, int64_t size_bytes) override;
  Status Unmount(const std::string& dir) override;
  bool IsMountPoint(const std::string& dir) override;
  std::vector<std::string> MountPointsUnder(const std::string& dir) override;

  void FailNext(Status st);
  std::vector<std::string> log() const;  // "tmpfs <dir> size=<n>", "umount <dir>"

 private:
  mutable std::mutex mu_;
  std::set<std::string> mounts_;  // GUARDED_BY(mu_)
  std::vector<std::string> log_;  // GUARDED_BY(mu_)
  Status fail_next_;              // GUARDED_BY(mu_)
};

// Parses /proc/self/mountinfo text into mount points (octal escapes decoded). Exposed for tests.
std::vector<std::string> ParseMountInfoMountPoints(const std::string& text);

}  // namespace minik::agent::volumes
