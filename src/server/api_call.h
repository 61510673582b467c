// One API request in flight, shared by the ApiServer's handler files. Internal to src/server.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "api/registry.h"
#include "common/json.h"
#include "common/status.h"
#include "http/server.h"
#include "server/api_server.h"
#include "server/request_info.h"

namespace minik::server {

struct ApiServer::Call {
  http::Request req;
  http::ResponseWriterPtr resp;
  RequestInfo ri;
  std::multimap<std::string, std::string> query;
  std::string user;
  std::vector<std::string> groups;  // the user's groups (client certificate O entries, system:authenticated)
  std::string uid;                                       // the user's uid (service accounts)
  std::map<std::string, std::vector<std::string>> extra;  // the user's extra (service accounts' pod, node)
  bool table = false;          // Accept asked for as=Table
  std::string table_version;   // "v1" or "v1beta1"
  bool dry_run = false;
  std::vector<std::string> warnings;  // sent as Warning: 299 headers with the response
  int sa_waits = 0;                   // pod create: times waited for the default ServiceAccount
  http::HandlePtr retry_timer;

  // The first value of a query parameter, or "" when absent.
  std::string Param(const std::string& name) const {
    auto it = query.find(name);
    return it == query.end() ? std::string() : it->second;
  }
  bool HasParam(const std::string& name) const { return query.count(name) > 0; }
  // A boolean parameter as Go's strconv.ParseBool reads it (1 t T TRUE true True; else false).
  bool BoolParam(const std::string& name) const {
    std::string v = Param(name);
    return v == "1" || v == "t" || v == "T" || v == "TRUE" || v == "true" || v == "True";
  }
};

// Decodes a request body by its Content-Type: JSON, YAML or Kubernetes protobuf. BadRequest on
// malformed input, UnsupportedMediaType for anything else.
StatusOr<JsonDoc> DecodeRequestBody(const http::Request& req);

// Response helpers.
// warnings: Warning header texts (deprecations, dropped fields), one `299 - "..."` header each.
void SendJson(http::ResponseWriter& resp, int code, std::string body,
              const char* content_type = "application/json", const std::vector<std::string>& warnings = {});
void SendStatus(http::ResponseWriter& resp, const Status& status);
// Rewrites <, > and & inside JSON text as Go's encoder writes them (\u003c, \u003e, \u0026).
void GoEscapeHtml(std::string* json);
// Serializes obj; without_type drops top-level apiVersion and kind (list items).
void AppendObjectJson(const JsonValue& obj, bool without_type, std::string* out);

}  // namespace minik::server
