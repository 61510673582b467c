// Discovery documents: /version, /api, /api/v1, /apis, /apis/<g>, /apis/<g>/<v>, aggregated
// discovery (apidiscovery.k8s.io/v2 and v2beta1) and the OpenAPI v3 documents kubectl reads
// to learn that the server validates fields itself. Pure; any thread.
#pragma once

#include <string>

#include "api/registry.h"

namespace minik::server {

inline constexpr const char* kKubernetesVersion = "v1.32.0+minik";

struct DiscoveryResponse {
  int code = 404;
  std::string content_type = "application/json";
  std::string body;
  std::string etag;
};

DiscoveryResponse ServeDiscovery(const api::Registry& registry, const std::string& path, const std::string& accept,
                                 const std::string& advertise_address, int port);

}  // namespace minik::server
