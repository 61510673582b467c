// Streaming through the API server: each agent keeps a tunnel open to the server (it dials GET
// /v1-minik/connect with Upgrade: minik-tunnel, so agents behind NAT work and no kubelet port is
// exposed), and the server serves the pods/log, exec, attach and portforward subresources by
// opening a stream on the tunnel of the pod's node and translating between kubectl's protocols and
// the tunnel's (http/upgrade_tunnel.h):
//   - log: plain HTTP GET, chunked body (follow keeps it open);
//   - exec, attach: WebSocket, subprotocols v5.channel.k8s.io and v4.channel.k8s.io, and the
//     SPDY/3.1 upgrade (X-Stream-Protocol-Version v4.channel.k8s.io, v3, v2) as fallback;
//   - portforward: WebSocket tunnelling SPDY (SPDY/3.1+portforward.k8s.io) and the plain SPDY/3.1
//     upgrade (portforward.k8s.io).
// A newer tunnel from a node replaces the older one.
//
// Threading: the loop thread only.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "api/registry.h"
#include "http/loop.h"
#include "http/server.h"
#include "http/upgrade_tunnel.h"
#include "server/object_store.h"

namespace minik::server {

struct StreamingOptions {
  // How long the server waits for an agent to accept a stream.
  uint64_t agent_reply_timeout_ms = 30000;
};

class Streaming {
 public:
  Streaming(http::Loop& loop, ObjectStore& store, StreamingOptions options = {});
  ~Streaming();
  Streaming(const Streaming&) = delete;
  Streaming& operator=(const Streaming&) = delete;

  // GET /v1-minik/connect from an authenticated user: the join token's user, a node (system:nodes)
  // or an admin (system:masters).
  void ServeTunnel(http::Request& req, http::ResponseWriterPtr resp, const std::string& user,
                   const std::vector<std::string>& groups);
  // pods/{log,exec,attach,portforward} of namespace/name, with the request's query decoded.
  void ServePod(const std::string& subresource, const std::string& ns, const std::string& name, http::Request& req,
                const std::multimap<std::string, std::string>& query, http::ResponseWriterPtr resp);

  // Whether a node's agent is connected now.
  bool Connected(const std::string& node) const;
  // The nodes whose agent is connected now.
  std::vector<std::string> ConnectedNodes() const;
  // Opens a stream with this header on the node's tunnel (node_proxy.h: plain requests);
  // Unavailable when the node's agent is not connected.
  StatusOr<http::tunnel::StreamPtr> OpenStream(const std::string& node, std::string header);
  // Called with the node name whenever a tunnel connects (tests wait on it).
  void OnConnect(std::function<void(const std::string&)> fn) { on_connect_ = std::move(fn); }
  // Closes every tunnel and session.
  void Close();

  class Session;

 private:
  friend class Session;
  void ServeLog(const JsonValue& pod, const std::string& ns, const std::string& name,
                const std::multimap<std::string, std::string>& query, http::ResponseWriterPtr resp);
  void ServeExec(bool attach, const JsonValue& pod, const std::string& ns, const std::string& name, http::Request& req,
                 const std::multimap<std::string, std::string>& query, http::ResponseWriterPtr resp);
  void ServePortForward(const JsonValue& pod, const std::string& ns, const std::string& name, http::Request& req,
                        http::ResponseWriterPtr resp);
  // The tunnel of the pod's node, or the error to answer.
  StatusOr<http::tunnel::Mux*> TunnelFor(const std::string& node);
  // For exec, attach and portforward: the pod's node (BadRequest "pod x does not have a host
  // assigned"), an upgrade request (BadRequest "Upgrade request required"), then its tunnel.
  StatusOr<http::tunnel::Mux*> UpgradeTunnelFor(const JsonValue& pod, const std::string& name,
                                                const http::Request& req);
  void Adopt(std::unique_ptr<Session> s);
  void Finish(Session* s);

  http::Loop& loop_;
  ObjectStore& store_;
  StreamingOptions options_;
  const api::ResourceInfo* pods_;
  struct Tunnel {
    http::tunnel::MuxPtr mux;
    uint64_t generation = 0;
  };
  std::map<std::string, Tunnel> tunnels_;
  uint64_t generation_ = 0;
  std::map<Session*, std::unique_ptr<Session>> sessions_;
  std::vector<std::unique_ptr<Session>> finished_;
  bool reap_posted_ = false;
  std::function<void(const std::string&)> on_connect_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace minik::server
