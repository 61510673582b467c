// Image references as the kubelet and containerd's CRI normalize them (docker/distribution's
// ParseDockerRef): "busybox" -> docker.io/library/busybox:latest, "index.docker.io/x/y" ->
// docker.io/x/y:latest, "r:5000/a:1@sha256:..." -> r:5000/a@sha256:... (a digest wins over a tag).
//
// Threading: pure functions and values.
#pragma once

#include <string>

#include "common/status.h"

namespace minik::agent::registry {

struct Reference {
  std::string domain;      // "docker.io", "registry.example.com:5000"
  std::string repository;  // path within the registry: "library/busybox"
  std::string tag;         // "latest" (empty when digest is set)
  std::string digest;      // "sha256:<64 hex>" or empty

  // "docker.io/library/busybox" (what the kubelet matches pull secrets against).
  std::string Name() const { return domain + "/" + repository; }
  // "docker.io/library/busybox:latest" or "docker.io/library/busybox@sha256:..."
  std::string String() const;
  // The tag or the digest, as it goes into /v2/<repo>/manifests/<object>.
  const std::string& Object() const { return digest.empty() ? tag : digest; }
};

// Invalid with docker/distribution's messages ("invalid reference format", "invalid reference
// format: repository name must be lowercase", "invalid checksum digest format", ...).
StatusOr<Reference> ParseReference(const std::string& ref);

// True for "sha256:" followed by 64 lowercase hex digits.
bool IsSha256Digest(const std::string& digest);

}  // namespace minik::agent::registry
