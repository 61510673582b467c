// The kubelet's atomic writer (pkg/volume/util/atomic_writer.go) for configMap, secret,
// downwardAPI and projected volumes. A target directory holds:
//
//   <target>/..2026_01_01_00_00_00.1234567890/   the data of the current version (0755)
//   <target>/..data -> ..2026_01_01_00_00_00.1234567890
//   <target>/<name> -> ..data/<name>              one symlink per top-level payload entry
//
// Write builds the new version in a fresh timestamped directory, then renames a `..data_tmp`
// symlink over `..data` (atomic), adds missing user-visible symlinks, removes those of entries
// gone from the payload and deletes the previous directory. Readers see either the old or the new
// content, never a mix. A payload equal to what is on disk writes nothing.
//
// Threading: one writer per target directory at a time (the caller serializes a pod's volume
// operations); distinct targets may be written from distinct threads.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "common/clock.h"
#include "common/status.h"

namespace minik::agent::volumes {

struct FileProjection {
  std::string data;
  uint32_t mode = 0644;
  int64_t uid = -1;  // owner (the pod's fsUser), -1 = unchanged
};
// Relative path -> content.
using Payload = std::map<std::string, FileProjection>;

inline constexpr char kDataDirName[] = "..data";
inline constexpr char kNewDataDirName[] = "..data_tmp";

// Checks one payload path as upstream's validatePath (errors "invalid path: must be relative
// path: /x", "invalid path: must not contain '..': a/../b", "invalid path: must not start with
// '..': ..x", length limits).
Status ValidatePayloadPath(const std::string& path);

class AtomicWriter {
 public:
  // target_dir must exist. clock names the timestamped directories (UTC).
  AtomicWriter(std::string target_dir, const Clock& clock) : target_(std::move(target_dir)), clock_(clock) {}

  // set_perms, when given, runs after the new data is written and before it becomes visible
  // (fsGroup ownership); its error aborts the write.
  Status Write(const Payload& payload, const std::function<Status()>& set_perms = {});

 private:
  std::string target_;
  const Clock& clock_;
};

}  // namespace minik::agent::volumes
