#include "server/node_proxy.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "api/errors.h"
#include "api/registry.h"
#include "common/json.h"
#include "server/api_call.h"
#include "server/api_server.h"
#include "server/streaming.h"

namespace minik::server {

namespace tp = http::tunnel::proto;

namespace {

Status Unreachable(const std::string& cause) { return Status::Unavailable("error trying to reach service: " + cause); }

}  // namespace

struct NodeProxy::Call {
  http::tunnel::StreamPtr stream;
  http::HandlePtr timer;
  std::function<void(StatusOr<NodeResponse>)> done;
  NodeResponse resp;
  bool replied = false;
};

NodeProxy::NodeProxy(http::Loop& loop, Streaming& streaming, ObjectStore& store, NodeProxyOptions options)
    : loop_(loop), streaming_(streaming), store_(store), options_(options) {}

NodeProxy::~NodeProxy() {
  *alive_ = false;
  calls_.clear();
}

void NodeProxy::Request(const std::string& node, const std::string& method, const std::string& path,
                        const std::string& query, std::function<void(StatusOr<NodeResponse>)> done) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("op");
  w.String("http");
  w.Key("method");
  w.String(method.c_str(), static_cast<rapidjson::SizeType>(method.size()));
  w.Key("path");
  w.String(path.c_str(), static_cast<rapidjson::SizeType>(path.size()));
  w.Key("query");
  w.String(query.c_str(), static_cast<rapidjson::SizeType>(query.size()));
  w.EndObject();
  auto stream = streaming_.OpenStream(node, std::string(buf.GetString(), buf.GetSize()));
  if (!stream.ok()) {
    done(Unreachable(stream.error().message()));
    return;
  }
  uint64_t id = next_id_++;
  auto call = std::make_unique<Call>();
  call->stream = std::move(*stream);
  call->done = std::move(done);
  Call* c = call.get();
  calls_[id] = std::move(call);
  c->stream->SetCallbacks(
      {[this, id](uint8_t ch, std::string_view d) {
         auto it = calls_.find(id);
         if (it == calls_.end()) return;
         Call& cl = *it->second;
         if (ch == tp::kReply && !cl.replied) {
           cl.replied = true;
           auto doc = ParseJson(d);
           if (!doc.ok() || !doc->IsObject()) {
             Finish(id, Unreachable("malformed answer from the node's agent"));
             return;
           }
           if (auto code = GetInt(*doc, "code"); code && !GetInt(*doc, "status")) {
             // The agent refused the request (an agent without plain requests).
             Finish(id, Unreachable(std::string(GetString(*doc, "message").value_or("refused by the node's agent"))));
             return;
           }
           cl.resp.status = static_cast<int>(GetInt(*doc, "status").value_or(200));
           cl.resp.content_type = std::string(GetString(*doc, "contentType").value_or(""));
           return;
         }
         if (ch != tp::kStdout || !cl.replied) return;
         if (cl.resp.body.size() + d.size() > options_.max_body_bytes) {
           Finish(id, Unreachable("the node's answer exceeds " + std::to_string(options_.max_body_bytes) + " bytes"));
           return;
         }
         cl.resp.body.append(d);
       },
       [this, id]() {
         auto it = calls_.find(id);
         if (it == calls_.end()) return;
         if (!it->second->replied) {
           Finish(id, Unreachable("the node's agent closed the stream without an answer"));
           return;
         }
         Finish(id, std::move(it->second->resp));
       },
       [this, id](const Status& st) {
         if (calls_.count(id)) Finish(id, Unreachable(st.message()));
       }});
  c->timer = loop_.AddTimer(options_.timeout_ms, 0, [this, id]() {
    if (calls_.count(id)) Finish(id, Unreachable("timed out waiting for the node's agent"));
  });
}

void NodeProxy::Finish(uint64_t id, StatusOr<NodeResponse> r) {
  auto it = calls_.find(id);
  if (it == calls_.end()) return;
  std::unique_ptr<Call> call = std::move(it->second);
  calls_.erase(it);
  call->timer.reset();
  auto done = std::move(call->done);
  // We may be inside one of the stream's callbacks: drop the stream once it has returned.
  std::shared_ptr<Call> dead(std::move(call));
  std::weak_ptr<bool> alive = alive_;
  loop_.Post([dead]() {
    if (dead->stream && !dead->stream->dead() && !dead->stream->remote_ended()) dead->stream->Reset("cancelled");
  });
  if (done) done(std::move(r));
}

void NodeProxy::Serve(const std::string& name, const std::string& method, const std::string& path,
                      const std::string& query, http::ResponseWriterPtr resp) {
  // "<node>:<port>" names a kubelet port upstream; every agent has one endpoint here.
  std::string node = name.substr(0, name.find(':'));
  const api::ResourceInfo* nodes = api::Registry::Builtin().Find("", "v1", "nodes");
  if (!store_.Get(StorageKey(*nodes, "", node))) {
    SendStatus(*resp, api::NotFoundError("", "nodes", node));
    return;
  }
  Request(node, method, path.empty() ? "/" : path, query, [resp](StatusOr<NodeResponse> r) {
    if (resp->closed()) return;
    if (!r.ok()) {
      SendStatus(*resp, r.error());
      return;
    }
    http::ResponseWriter::Headers h;
    if (!r->content_type.empty()) h.emplace_back("Content-Type", r->content_type);
    resp->Send(r->status, h, std::move(r->body));
  });
}

}  // namespace minik::server
