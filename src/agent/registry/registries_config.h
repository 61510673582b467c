// The node's registry configuration, /etc/minik/registries.yaml, in k3s's format:
//
//   mirrors:
//     docker.io:
//       endpoint: ["http://127.0.0.1:5000", "https://mirror.example.com"]
//       rewrite:
//         "^library/(.*)": "mirror/$1"
//     "*":
//       endpoint: ["https://registry.example.com:5000"]
//   configs:
//     "127.0.0.1:5000":
//       auth: {username: u, password: p}        # or auth: base64(u:p), or identitytoken
//       tls: {ca_file: ..., cert_file: ..., key_file: ..., insecure_skip_verify: true}
//     "*":
//       tls: {insecure_skip_verify: true}
//
// Semantics are k3s's (pkg/agent/containerd/config.go getHostConfigs) and containerd's
// (hosts.toml): a registry's mirror endpoints are tried in order, then its default endpoint
// (https://registry-1.docker.io for docker.io, https://<host> otherwise) unless the agent runs
// with --disable-default-registry-endpoint, which only affects registries that have a mirror
// entry. A scheme-less endpoint is https, except a loopback host with a port other than 443,
// which is plain http; "http://..." declares a registry insecure (plain HTTP). An endpoint path
// other than "", "/" or "/v2" replaces "/v2" (containerd's override_path). Rewrites (regular
// expressions on the repository name, "$1" replacements) apply to mirror endpoints only. The
// "*" entries apply to registries without an entry of their own. The TLS and auth settings of an
// endpoint come from configs[<endpoint host>] (falling back to configs["*"]).
//
// Threading: a RegistriesConfig is an immutable value once parsed; any thread may read it.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace minik::agent::registry {

// configs.<host>.auth
struct AuthConfig {
  std::string username;
  std::string password;
  std::string auth;            // base64("username:password")
  std::string identity_token;  // an OAuth refresh token (containerd's IdentityToken)
  bool operator==(const AuthConfig&) const = default;
};

// configs.<host>.tls
struct TlsConfig {
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  bool insecure_skip_verify = false;
  bool operator==(const TlsConfig&) const = default;
};

struct RegistryConfig {
  std::optional<AuthConfig> auth;
  std::optional<TlsConfig> tls;
  bool operator==(const RegistryConfig&) const = default;
};

// mirrors.<host>
struct Mirror {
  std::vector<std::string> endpoints;
  std::vector<std::pair<std::string, std::string>> rewrites;  // pattern -> replacement, file order
};

// One place an image can be pulled from, in the order they are tried.
struct Endpoint {
  std::string scheme;  // "https" or "http"
  std::string host;    // "host" or "host:port" as dialed (docker.io -> registry-1.docker.io)
  std::string path = "/v2";  // API root: "/v2", or the endpoint's own path (override_path)
  bool is_default = false;   // the registry's own default endpoint (tried last)
  // A loopback registry nobody configured: try https (without verification), fall back to
  // plain http when the server does not speak TLS (containerd's HTTP fallback for localhost).
  bool http_fallback = false;
  std::vector<std::pair<std::string, std::string>> rewrites;
  RegistryConfig config;  // TLS and credentials for this endpoint

  // "https://registry-1.docker.io/v2"
  std::string Url() const;
};

class RegistriesConfig {
 public:
  // The empty configuration: every registry pulled from its default endpoint.
  RegistriesConfig() = default;

  // Parses the YAML text; Invalid with a message naming the bad field on malformed input.
  static StatusOr<RegistriesConfig> Parse(std::string_view yaml);
  // Reads and parses a file; a missing file is the empty configuration.
  static StatusOr<RegistriesConfig> Load(const std::string& path);

  // k3s's --disable-default-registry-endpoint.
  void set_disable_default_endpoint(bool v) { disable_default_endpoint_ = v; }
  bool disable_default_endpoint() const { return disable_default_endpoint_; }

  // The endpoints to try, in order, for a registry host as it appears in a normalized image
  // reference ("docker.io", "registry.example.com:5000"). Never empty unless the default
  // endpoint is disabled and no mirror endpoint is valid.
  std::vector<Endpoint> Endpoints(const std::string& registry) const;

  // The configuration for a registry host (configs[host], then configs["*"]); nullptr if none.
  const RegistryConfig* ConfigFor(const std::string& host) const;

  const std::vector<std::pair<std::string, Mirror>>& mirrors() const { return mirrors_; }
  const std::vector<std::pair<std::string, RegistryConfig>>& configs() const { return configs_; }

 private:
  const Mirror* MirrorFor(const std::string& host) const;

  std::vector<std::pair<std::string, Mirror>> mirrors_;  // file order
  std::vector<std::pair<std::string, RegistryConfig>> configs_;
  bool disable_default_endpoint_ = false;
};

// containerd's DefaultHost: "docker.io" -> "registry-1.docker.io", anything else unchanged.
std::string DefaultHost(const std::string& registry);
// containerd's IsLocalhost: "localhost" or a loopback IP, with or without a port.
bool IsLocalhost(const std::string& host_port);

}  // namespace minik::agent::registry
