// The agent's end of the streaming tunnel: it dials the API server (GET /v1-minik/connect, Upgrade:
// minik-tunnel, authenticated like every other request of the agent's http::Client, the node name
// in X-Minik-Node-Name), keeps the connection alive with pings, reconnects with exponential backoff
// when it drops, and serves the streams the server opens on it (logs, exec, attach, port-forward)
// through a StreamingBackend.
//
// Threading: the loop thread only (create, Start and Stop there).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "agent/streaming/backend.h"
#include "agent/streaming/node_http.h"
#include "http/client.h"
#include "http/loop.h"
#include "http/upgrade_tunnel.h"

namespace minik::agent::streaming {

struct TunnelClientOptions {
  std::string node_name;
  uint64_t min_backoff_ms = 500;
  uint64_t max_backoff_ms = 30000;
  // A ping this often; a tunnel that has not answered the previous one is dropped.
  uint64_t ping_interval_ms = 30000;
};

class TunnelClient {
 public:
  // client: the agent's API client connection settings (server address, CA, token or cert).
  TunnelClient(http::Loop& loop, http::Client& client, StreamingBackend& backend, TunnelClientOptions options);
  ~TunnelClient();
  TunnelClient(const TunnelClient&) = delete;
  TunnelClient& operator=(const TunnelClient&) = delete;

  // Connects, and keeps reconnecting until Stop().
  void Start();
  // Closes the tunnel; streams in flight are cancelled.
  void Stop();
  bool connected() const { return mux_ != nullptr && !mux_->closed(); }
  // fn(true) when the tunnel is up, fn(false) when it went down.
  void OnStateChange(std::function<void(bool)> fn) { on_state_ = std::move(fn); }
  // The handler of plain requests (op "http": nodes/proxy, metrics scrapes); without one they
  // are answered 404. Not owned; set before Start.
  void SetHttpHandler(NodeHttpHandler* handler) { http_handler_ = handler; }
  // Serves one tunnel stream (what the tunnel does with each stream the server opens; public for
  // tests that drive a Mux directly).
  static void Serve(StreamingBackend& backend, http::tunnel::StreamPtr stream) {
    Serve(backend, nullptr, std::move(stream));
  }
  static void Serve(StreamingBackend& backend, NodeHttpHandler* http, http::tunnel::StreamPtr stream);

 private:
  void Connect();
  void Connected(http::ByteStreamPtr stream);
  void Lost(const Status& why);
  void Ping();

  http::Loop& loop_;
  http::Client& client_;
  StreamingBackend& backend_;
  NodeHttpHandler* http_handler_ = nullptr;
  TunnelClientOptions options_;
  bool running_ = false;
  bool connecting_ = false;
  uint64_t backoff_ms_;
  http::tunnel::MuxPtr mux_;
  http::HandlePtr retry_timer_;
  http::HandlePtr ping_timer_;
  bool ping_outstanding_ = false;
  std::function<void(bool)> on_state_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace minik::agent::streaming
