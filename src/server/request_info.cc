#include "server/request_info.h"

#include "common/strings.h"

namespace minik::server {
namespace {

Status NotFoundPath() { return Status::NotFound("the server could not find the requested resource"); }

}  // namespace

StatusOr<RequestInfo> ParseRequestInfo(const api::Registry& registry, std::string_view method,
                                       std::string_view path, bool watch_param) {
  RequestInfo ri;
  std::vector<std::string_view> parts;
  for (auto p : Split(path, '/')) {
    if (!p.empty()) parts.push_back(p);
  }
  size_t i = 0;
  if (parts.empty()) return ri;
  if (parts[0] == "api") {
    if (parts.size() < 3) return ri;  // /api, /api/v1: discovery
    ri.version = std::string(parts[1]);
    i = 2;
  } else if (parts[0] == "apis") {
    if (parts.size() < 4) return ri;  // /apis, /apis/g, /apis/g/v: discovery
    ri.group = std::string(parts[1]);
    ri.version = std::string(parts[2]);
    i = 3;
  } else {
    return ri;
  }
  ri.is_resource = true;
  bool legacy_watch = false;
  if (parts[i] == "watch") {  // deprecated /watch/ prefix
    legacy_watch = true;
    ++i;
  }
  std::vector<std::string_view> rest(parts.begin() + static_cast<long>(i), parts.end());
  if (rest.empty()) return NotFoundPath();
  // namespaces/<ns>/<resource>... ; but "namespaces/<name>" alone is the namespace itself.
  if (rest[0] == "namespaces" && rest.size() >= 3) {
    ri.namespace_ = std::string(rest[1]);
    rest.erase(rest.begin(), rest.begin() + 2);
  }
  ri.resource = std::string(rest[0]);
  if (rest.size() >= 2) ri.name = std::string(rest[1]);
  if (rest.size() >= 3) ri.subresource = std::string(rest[2]);
  for (size_t k = 3; k < rest.size(); ++k) ri.extra.emplace_back(rest[k]);
  ri.info = registry.Find(ri.group, ri.version, ri.resource);
  if (!ri.info) {
    // "namespaces/<ns>/status" was split as namespace + resource: undo for the namespace resource.
    if (parts[i] == "namespaces" && !ri.namespace_.empty() && (ri.resource == "status" || ri.resource == "finalize")) {
      ri.subresource = ri.resource;
      ri.name = ri.namespace_;
      ri.namespace_.clear();
      ri.resource = "namespaces";
      ri.info = registry.Find(ri.group, ri.version, ri.resource);
    }
    if (!ri.info) return NotFoundPath();
  }
  if (!ri.subresource.empty() && !ri.info->FindSubresource(ri.subresource)) return NotFoundPath();
  if (!ri.info->namespaced && !ri.namespace_.empty()) return NotFoundPath();
  bool watch = legacy_watch || watch_param;
  if (method == "GET" || method == "HEAD") {
    ri.verb = ri.name.empty() ? (watch ? "watch" : "list") : (watch ? "watch" : "get");
  } else if (method == "POST") {
    ri.verb = "create";
  } else if (method == "PUT") {
    ri.verb = "update";
  } else if (method == "PATCH") {
    ri.verb = "patch";
  } else if (method == "DELETE") {
    ri.verb = ri.name.empty() ? "deletecollection" : "delete";
  } else {
    return Status::MethodNotAllowed("the server does not allow this method on the requested resource");
  }
  return ri;
}

}  // namespace minik::server
