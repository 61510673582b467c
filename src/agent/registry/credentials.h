// Registry credentials from imagePullSecrets, matched against images the way the kubelet does
// (pkg/credentialprovider: BasicDockerKeyring). Secrets of type kubernetes.io/dockerconfigjson
// carry `.dockerconfigjson` = {"auths": {"<registry>": {...}}}; kubernetes.io/dockercfg carry
// `.dockercfg` = {"<registry>": {...}}. Each entry has "auth" (base64 of "user:password", which
// wins) or "username"/"password" (and an ignored "email").
//
// Matching: a key may carry a scheme and a path ("https://index.docker.io/v1/" is the
// docker.io key, "/v1/" and "/v2/" prefixes are dropped); host names may hold globs
// ("*.example.com"); a key's path must be a prefix of the image's path; more specific keys come
// first. Images on docker.io also match the key "index.docker.io".
//
// Threading: a value; const methods may be called from any thread.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace minik::agent::registry {

// One set of credentials to present to a registry (CRI's AuthConfig, reduced).
struct Credential {
  std::string username;
  std::string password;
  std::string identity_token;
  bool operator==(const Credential&) const = default;
};

class Credentials {
 public:
  Credentials() = default;

  // Adds the entries of a `.dockerconfigjson` value ({"auths": {...}}). BadRequest on bad JSON
  // or a malformed "auth" field, with the kubelet's message.
  Status AddDockerConfigJson(std::string_view json);
  // Adds the entries of a `.dockercfg` value ({"<registry>": {...}}).
  Status AddDockercfg(std::string_view json);
  // Adds one entry directly (key as it would appear in a docker config).
  void Add(const std::string& key, Credential cred);

  // The credentials to try for an image name ("docker.io/library/busybox", no tag), most
  // specific first; empty when nothing matches (pull anonymously / with registries.yaml).
  std::vector<Credential> Lookup(const std::string& image_name) const;

  bool empty() const { return entries_.empty(); }

 private:
  struct Entry {
    std::string key;  // "host[:port][/path]", scheme and /v1/ stripped
    Credential cred;
  };
  Status AddAuths(const void* auths_object);
  std::vector<Entry> entries_;  // insertion order
};

// A `.dockerconfigjson` or `.dockercfg` value; the format is told apart by a top-level "auths"
// object.
StatusOr<Credentials> ParseDockerConfig(std::string_view json);

// The kubelet's handling of one pull secret: type "kubernetes.io/dockerconfigjson" reads
// data[".dockerconfigjson"], "kubernetes.io/dockercfg" reads data[".dockercfg"] (already
// base64-decoded); other types are ignored.
Status AddPullSecret(Credentials& creds, std::string_view secret_type, std::string_view dockerconfigjson,
                     std::string_view dockercfg);

}  // namespace minik::agent::registry
