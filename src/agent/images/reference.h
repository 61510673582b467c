// Image reference parsing and normalization (docker/distribution's grammar and containerd's
// normalization, written for minik).
//
//   busybox                      -> docker.io/library/busybox:latest
//   localhost:5000/a/b           -> localhost:5000/a/b:latest
//   x:tag@sha256:<64 hex>        -> docker.io/library/x:tag@sha256:<64 hex>
//
// Thread-safety: pure functions, callable from any thread.
#pragma once

#include <string>

#include "common/status.h"

namespace minik::agent::images {

struct Reference {
  std::string domain;  // "docker.io", "localhost:5000"
  std::string path;    // "library/busybox"
  std::string tag;     // "" when absent (a normalized reference without digest always has one)
  std::string digest;  // "sha256:<hex>" or ""

  // "docker.io/library/busybox"
  std::string Name() const { return domain + "/" + path; }
  // The full normalized form: Name()[:tag][@digest].
  std::string String() const;
};

// Parses and normalizes (adds docker.io, library/, and :latest when neither tag nor digest is
// given). Invalid with docker's message ("invalid reference format", "repository name must be
// lowercase", ...) for a malformed reference.
StatusOr<Reference> ParseReference(const std::string& ref);

// True for "sha256:<64 lowercase hex>".
bool IsDigest(const std::string& s);

}  // namespace minik::agent::images
