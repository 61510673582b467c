// ObjectClient over the ApiServer in the same process: each call becomes an API request
// handled on the loop thread (the same handlers kubectl reaches), and the calling thread waits
// for the answer.
//
// Threading: call from any thread except the loop thread (it would wait for itself).
#pragma once

#include "api/registry.h"
#include "http/loop.h"
#include "server/api_server.h"
#include "server/manifests/object_client.h"

namespace minik::server {

class InProcessClient final : public ObjectClient {
 public:
  InProcessClient(http::Loop& loop, ApiServer& api, const api::Registry& registry)
      : loop_(loop), api_(api), registry_(registry) {}

  StatusOr<bool> IsNamespaced(std::string_view api_version, std::string_view kind) override;
  StatusOr<JsonDoc> Get(const ObjectRef& ref) override;
  StatusOr<JsonDoc> Create(const JsonValue& obj) override;
  StatusOr<JsonDoc> Update(const JsonValue& obj) override;
  Status Delete(const ObjectRef& ref) override;
  Status RecordEvent(std::string_view type, std::string_view reason, std::string_view message,
                     const ObjectRef& involved) override;

  struct Response {
    int code = 0;
    std::string body;
  };
  // One request through the API, waiting for its response.
  Response Call(const std::string& method, const std::string& path, const std::string& body);

 private:
  StatusOr<std::string> PathFor(std::string_view api_version, std::string_view kind, const std::string& ns,
                                const std::string& name);

  http::Loop& loop_;
  ApiServer& api_;
  const api::Registry& registry_;
};

}  // namespace minik::server
