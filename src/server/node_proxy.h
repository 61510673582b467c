// The nodes/proxy subresource (GET /api/v1/nodes/<node>/proxy/<path>) and plain requests to a
// node's agent: each is one stream on the node's tunnel (server/streaming.h; protocol in
// agent/streaming/node_http.h), bounded in time and size.
//
// Errors as upstream's API server words them when it cannot reach a kubelet (its proxy transport):
// 503 ServiceUnavailable "error trying to reach service: <cause>", e.g. the node's agent is not
// connected (hollow nodes never are), or did not answer in time. An unknown node is 404
// `nodes "x" not found`.
//
// Threading: the loop thread only; done callbacks run there.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "common/status.h"
#include "http/loop.h"
#include "http/server.h"
#include "http/upgrade_tunnel.h"
#include "server/object_store.h"

namespace minik::server {

class Streaming;

struct NodeProxyOptions {
  uint64_t timeout_ms = 30000;
  size_t max_body_bytes = 32 << 20;
};

struct NodeResponse {
  int status = 0;
  std::string content_type;
  std::string body;
};

class NodeProxy {
 public:
  NodeProxy(http::Loop& loop, Streaming& streaming, ObjectStore& store, NodeProxyOptions options = {});
  ~NodeProxy();
  NodeProxy(const NodeProxy&) = delete;
  NodeProxy& operator=(const NodeProxy&) = delete;

  // method path?query on the node's agent.
  void Request(const std::string& node, const std::string& method, const std::string& path, const std::string& query,
               std::function<void(StatusOr<NodeResponse>)> done);
  // nodes/<name>/proxy[/path]: the agent's answer as it is (status, content type, body).
  void Serve(const std::string& name, const std::string& method, const std::string& path, const std::string& query,
             http::ResponseWriterPtr resp);
  size_t in_flight() const { return calls_.size(); }

 private:
  struct Call;
  void Finish(uint64_t id, StatusOr<NodeResponse> r);

  http::Loop& loop_;
  Streaming& streaming_;
  ObjectStore& store_;
  NodeProxyOptions options_;
  uint64_t next_id_ = 1;
  std::map<uint64_t, std::unique_ptr<Call>> calls_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace minik::server
