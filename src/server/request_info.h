// Parses a Kubernetes API request path into what it addresses (apiserver's RequestInfo).
// Pure; any thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "api/registry.h"
#include "common/status.h"

namespace minik::server {

struct RequestInfo {
  bool is_resource = false;  // false: discovery, health, version, openapi, ...
  std::string verb;          // get list watch create update patch delete deletecollection
  std::string group;
  std::string version;
  std::string namespace_;    // "" for cluster-scoped or all-namespaces
  std::string resource;      // plural as written in the path
  std::string name;
  std::string subresource;
  std::vector<std::string> extra;  // path parts after the subresource (proxy paths)
  const api::ResourceInfo* info = nullptr;
};

// Resolves method + path (+ whether the query asks for watch) against the registry. For
// non-resource paths returns is_resource=false. NotFound (404, upstream's body: "the server could
// not find the requested resource") when the group/version/resource is unknown.
StatusOr<RequestInfo> ParseRequestInfo(const api::Registry& registry, std::string_view method,
                                       std::string_view path, bool watch_param);

}  // namespace minik::server
