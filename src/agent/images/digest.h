// SHA-256 digests ("sha256:<hex>") and small file helpers shared by the image store.
//
// Thread-safety: a Sha256 object belongs to one thread; the functions are thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace minik::agent::images {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void Update(const void* data, size_t len);
  void Update(std::string_view s) { Update(s.data(), s.size()); }
  // "sha256:<64 hex>"; the object must not be updated after.
  std::string Digest();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

std::string Sha256Of(std::string_view data);
// Streams a file through SHA-256; *size receives its length when non-null.
StatusOr<std::string> Sha256File(const std::string& path, int64_t* size = nullptr);
// The hex part of "sha256:<hex>".
inline std::string DigestHex(const std::string& digest) {
  size_t c = digest.find(':');
  return c == std::string::npos ? digest : digest.substr(c + 1);
}

// Reads a whole (small) file; TooLarge beyond max_bytes.
StatusOr<std::string> ReadSmallFile(const std::string& path, size_t max_bytes);
// Writes data to path atomically and durably (temp file, fsync, rename, fsync of the directory).
Status WriteFileAtomic(const std::string& path, std::string_view data);
// "<what>: <strerror(errno)>" as an Internal status (NotFound for ENOENT).
Status ErrnoStatus(const std::string& what, int err);

}  // namespace minik::agent::images
