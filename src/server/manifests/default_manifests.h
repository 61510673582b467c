// The default manifests shipped in the repository's manifests/ directory, compiled into the
// binary (the .cc is generated at build time by embed_manifests.cmake).
//
// Threading: immutable data; any thread.
#pragma once

#include <string_view>
#include <vector>

namespace minik::server {

struct DefaultManifest {
  std::string_view name;     // file name, e.g. "rolebindings.yaml"
  std::string_view content;  // file bytes (may hold %{VAR}% placeholders, see ManifestDeployer)
};

// Every embedded manifest, sorted by name. The views point at static storage.
std::vector<DefaultManifest> BuiltinManifests();

}  // namespace minik::server
