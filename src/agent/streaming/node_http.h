// Plain request/response calls the API server makes to an agent over its tunnel: the nodes/proxy
// subresource (GET /api/v1/nodes/<node>/proxy/<path>) and the metrics API's scrapes reach the
// agent's kubelet endpoints (/healthz, /stats/summary, /metrics/resource, /metrics) this way.
//
// On the tunnel (http/upgrade_tunnel.h) the server opens a stream whose header is
//   {"op":"http","method":"GET","path":"/metrics/resource","query":"a=b"}
// and the agent answers with one kReply message {"status":200,"contentType":"text/plain"},
// then the body on kStdout, then END.
//
// Threading: the agent's loop thread. Serve is called there and must call done there, once.
#pragma once

#include <functional>
#include <string>

namespace minik::agent::streaming {

struct NodeHttpRequest {
  std::string method = "GET";
  std::string path;   // "/metrics/resource"
  std::string query;  // raw query string, without '?'
};

struct NodeHttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

class NodeHttpHandler {
 public:
  virtual ~NodeHttpHandler() = default;
  virtual void Serve(const NodeHttpRequest& req, std::function<void(NodeHttpResponse)> done) = 0;
};

}  // namespace minik::agent::streaming
