// The client library's Transport inside the server: requests go straight to
// ApiServer::HandleInternal (authenticated as system:admin), responses come back through
// in-memory ResponseWriters. Controllers and the scheduler use the same RestApiClient as remote
// agents, with this transport instead of HTTPS (DESIGN.md: everything meets through the API).
//
// Threading: the ApiServer's loop thread only; callbacks run on it (never inside Do/Stream).
#pragma once

#include "client/rest_api_client.h"
#include "http/loop.h"
#include "server/api_server.h"

namespace minik::server {

class InProcessTransport final : public client::Transport {
 public:
  InProcessTransport(http::Loop& loop, ApiServer& api) : loop_(loop), api_(api) {}

  void Do(client::RestRequest req, std::function<void(StatusOr<client::RestResponse>)> cb) override;
  http::HandlePtr Stream(client::RestRequest req, StreamCallbacks cbs) override;

 private:
  http::Loop& loop_;
  ApiServer& api_;
};

}  // namespace minik::server
