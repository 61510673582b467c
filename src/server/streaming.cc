#include "server/streaming.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <set>

#include "api/errors.h"
#include "common/json.h"
#include "common/log.h"
#include "common/strings.h"
#include "http/spdy.h"
#include "http/websocket.h"
#include "server/api_call.h"

namespace minik::server {

namespace tp = http::tunnel::proto;
using http::tunnel::StreamPtr;

namespace {

constexpr size_t kHighWater = 1 << 20;
constexpr size_t kLowWater = 256 * 1024;

// Upstream's remotecommand and port-forward protocol names.
constexpr char kWsV5[] = "v5.channel.k8s.io";
constexpr char kWsV4[] = "v4.channel.k8s.io";
constexpr char kPortForwardV1[] = "portforward.k8s.io";
constexpr char kSpdyTunnelPortForward[] = "SPDY/3.1+portforward.k8s.io";

Status FromAgentError(std::string_view json) {
  auto doc = ParseJson(json);
  if (!doc.ok() || !doc->IsObject()) return Status::Internal(std::string(json));
  int64_t code = GetInt(*doc, "code").value_or(500);
  std::string msg(GetString(*doc, "message").value_or("error from the node's agent"));
  switch (code) {
    case 400:
      return Status::BadRequest(msg);
    case 403:
      return Status::Forbidden(msg);
    case 404:
      return Status::NotFound(msg);
    case 503:
      return Status::Unavailable(msg);
    case 504:
      return Status::Timeout(msg);
    default:
      return Status::Internal(msg);
  }
}

bool IsTrue(const std::string& v) {
  return v == "1" || v == "t" || v == "T" || v == "TRUE" || v == "true" || v == "True";
}

std::string Param(const std::multimap<std::string, std::string>& q, const std::string& name) {
  auto it = q.find(name);
  return it == q.end() ? std::string() : it->second;
}

// The names of a pod's containers of one kind ("initContainers", "containers", ...).
std::vector<std::string> ContainerNames(const JsonValue& pod, std::string_view field) {
  std::vector<std::string> out;
  const JsonValue* list = Path(pod, {"spec", field});
  if (list == nullptr || !list->IsArray()) return out;
  for (const auto& c : list->GetArray()) {
    if (auto n = GetString(c, "name")) out.emplace_back(*n);
  }
  return out;
}

bool PodHasContainer(const JsonValue& pod, const std::string& name) {
  for (const char* f : {"initContainers", "containers", "ephemeralContainers"}) {
    for (const auto& n : ContainerNames(pod, f)) {
      if (n == name) return true;
    }
  }
  return false;
}

// validateContainer of the pod registry's log location (upstream
// pkg/registry/core/pod/strategy.go).
StatusOr<std::string> LogContainer(const JsonValue& pod, const std::string& name, std::string container) {
  if (!container.empty()) {
    if (!PodHasContainer(pod, container)) {
      return Status::BadRequest("container " + container + " is not valid for pod " + name);
    }
    return container;
  }
  auto regular = ContainerNames(pod, "containers");
  if (regular.size() == 1) return regular[0];
  if (regular.empty()) return Status::BadRequest("a container name must be specified for pod " + name);
  std::vector<std::string> all;
  for (const char* f : {"initContainers", "containers", "ephemeralContainers"}) {
    for (auto& n : ContainerNames(pod, f)) all.push_back(n);
  }
  return Status::BadRequest("a container name must be specified for pod " + name + ", choose one of: [" +
                            Join(all, " ") + "]");
}

// streamLocation's container choice (exec, attach).
StatusOr<std::string> StreamContainer(const JsonValue& pod, const std::string& name, std::string container) {
  if (!container.empty()) {
    if (!PodHasContainer(pod, container)) {
      return Status::BadRequest("container " + container + " is not valid for pod " + name);
    }
    return container;
  }
  auto regular = ContainerNames(pod, "containers");
  if (regular.size() == 1) return regular[0];
  if (regular.empty()) return Status::BadRequest("a container name must be specified for pod " + name);
  std::string msg =
      "a container name must be specified for pod " + name + ", choose one of: [" + Join(regular, " ") + "]";
  auto init = ContainerNames(pod, "initContainers");
  if (!init.empty()) msg += " or one of the init containers: [" + Join(init, " ") + "]";
  return Status::BadRequest(msg);
}

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

void Key(JsonWriter& w, const char* k) { w.Key(k); }
void Str(JsonWriter& w, std::string_view v) { w.String(v.data(), static_cast<rapidjson::SizeType>(v.size())); }

void BeginHeader(JsonWriter& w, const char* op, const JsonValue& pod, const std::string& ns, const std::string& name,
                 const std::string& container) {
  w.StartObject();
  Key(w, "op");
  Str(w, op);
  Key(w, "namespace");
  Str(w, ns);
  Key(w, "pod");
  Str(w, name);
  Key(w, "uid");
  Str(w, GetString(*Path(pod, {"metadata"}), "uid").value_or(""));
  Key(w, "container");
  Str(w, container);
}

// The metav1.Status an exec ends with, from the agent's result message.
std::string ExecResultStatus(std::string_view result) {
  auto doc = ParseJson(result);
  if (doc.ok() && doc->IsObject()) {
    if (auto code = GetInt(*doc, "exitCode")) {
      if (*code == 0) return "{\"metadata\":{},\"status\":\"Success\"}";
      std::string msg = std::string(GetString(*doc, "message").value_or(""));
      if (msg.empty()) msg = "command terminated with non-zero exit code: exit status " + std::to_string(*code);
      rapidjson::StringBuffer buf;
      JsonWriter w(buf);
      w.StartObject();
      Key(w, "metadata");
      w.StartObject();
      w.EndObject();
      Key(w, "status");
      Str(w, "Failure");
      Key(w, "message");
      Str(w, msg);
      Key(w, "reason");
      Str(w, "NonZeroExitCode");
      Key(w, "details");
      w.StartObject();
      Key(w, "causes");
      w.StartArray();
      w.StartObject();
      Key(w, "reason");
      Str(w, "ExitCode");
      Key(w, "message");
      Str(w, std::to_string(*code));
      w.EndObject();
      w.EndArray();
      w.EndObject();
      w.EndObject();
      return std::string(buf.GetString(), buf.GetSize());
    }
  }
  return "";
}

// An InternalError status as the kubelet's remotecommand server writes it for a failed exec.
std::string InternalErrorStatus(std::string_view msg) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  Key(w, "metadata");
  w.StartObject();
  w.EndObject();
  Key(w, "status");
  Str(w, "Failure");
  Key(w, "message");
  Str(w, "Internal error occurred: " + std::string(msg));
  Key(w, "reason");
  Str(w, "InternalError");
  Key(w, "details");
  w.StartObject();
  Key(w, "causes");
  w.StartArray();
  w.StartObject();
  Key(w, "message");
  Str(w, msg);
  w.EndObject();
  w.EndArray();
  w.EndObject();
  Key(w, "code");
  w.Int(500);
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

std::string FinalStatus(std::string_view result) {
  std::string s = ExecResultStatus(result);
  if (!s.empty()) return s;
  auto doc = ParseJson(result);
  std::string msg = doc.ok() && doc->IsObject() ? std::string(GetString(*doc, "message").value_or("unknown error"))
                                                : std::string(result);
  return InternalErrorStatus(msg);
}

// A byte pipe to kubectl: the raw upgraded connection, or a WebSocket whose binary messages carry
// the bytes (SPDY tunnelled through WebSocket).
class ClientPipe {
 public:
  virtual ~ClientPipe() = default;
  virtual void Start(std::function<void(std::string_view)> on_data, std::function<void()> on_close) = 0;
  virtual void Write(std::string data) = 0;
  virtual size_t Buffered() const = 0;
  virtual void Pause() = 0;
  virtual void Resume() = 0;
};

class RawPipe final : public ClientPipe {
 public:
  explicit RawPipe(http::ByteStreamPtr s) : s_(std::move(s)) {}
  void Start(std::function<void(std::string_view)> on_data, std::function<void()> on_close) override {
    s_->Start({std::move(on_data), [on_close](const Status&) { on_close(); }});
  }
  void Write(std::string data) override { s_->Write(std::move(data)); }
  size_t Buffered() const override { return s_->Buffered(); }
  void Pause() override { s_->PauseReading(); }
  void Resume() override { s_->ResumeReading(); }

 private:
  http::ByteStreamPtr s_;
};

class WsPipe final : public ClientPipe {
 public:
  explicit WsPipe(http::ByteStreamPtr s) : ws_(std::move(s), /*server=*/true) {}
  void Start(std::function<void(std::string_view)> on_data, std::function<void()> on_close) override {
    ws_.Start({[on_data](http::ws::Opcode, std::string&& m) { on_data(m); },
               [on_close](uint16_t, const Status&) { on_close(); }});
  }
  void Write(std::string data) override { ws_.Send(http::ws::Opcode::kBinary, data); }
  size_t Buffered() const override { return ws_.Buffered(); }
  void Pause() override { ws_.PauseReading(); }
  void Resume() override { ws_.ResumeReading(); }

 private:
  http::ws::Connection ws_;
};

}  // namespace

// ---- sessions ---------------------------------------------------------------------------------

class Streaming::Session {
 public:
  explicit Session(Streaming* owner) : owner_(owner) {}
  virtual ~Session() = default;
  // Ends the session; it is destroyed soon after (never inside the call).
  void Done() {
    if (done_) return;
    done_ = true;
    timer_.reset();
    OnDone();
    owner_->Finish(this);
  }
  bool done() const { return done_; }

 protected:
  virtual void OnDone() {}
  // Starts a timer that fails the session if the agent does not answer in time.
  void ArmReplyTimeout(std::function<void()> on_timeout) {
    timer_ = owner_->loop_.AddTimer(owner_->options_.agent_reply_timeout_ms, 0, std::move(on_timeout));
  }

  StatusOr<http::tunnel::Mux*> Tunnel(const std::string& node) { return owner_->TunnelFor(node); }

  Streaming* owner_;
  bool done_ = false;
  http::HandlePtr timer_;
};

namespace {

// pods/log: the agent's stdout channel as a chunked body.
class LogSession final : public Streaming::Session {
 public:
  LogSession(Streaming* owner, http::ResponseWriterPtr resp, StreamPtr stream, http::Loop& loop)
      : Session(owner), resp_(std::move(resp)), stream_(std::move(stream)), loop_(loop) {}
  ~LogSession() override {
    if (resp_) resp_->OnClose(nullptr);
  }

  void Start() {
    resp_->OnClose([this]() { Done(); });
    stream_->SetCallbacks({[this](uint8_t ch, std::string_view d) { OnData(ch, d); },
                           [this]() {
                             if (!started_)
                               Fail(Status::Internal("the node's agent ended the log stream"));
                             else
                               Done();
                           },
                           [this](const Status& st) {
                             if (!started_)
                               Fail(Status::Internal("the node's agent ended the log stream: " + st.message()));
                             else
                               Done();
                           }});
    ArmReplyTimeout([this]() { Fail(Status::Timeout("timed out waiting for the node's agent")); });
  }

 private:
  void OnDone() override {
    if (resp_ && !resp_->closed()) {
      resp_->OnClose(nullptr);
      resp_->End();
    }
  }

  void Fail(const Status& st) {
    if (done_) return;
    if (!started_ && resp_ && !resp_->closed()) {
      resp_->OnClose(nullptr);
      SendStatus(*resp_, st);
    }
    Done();
  }

  void OnData(uint8_t ch, std::string_view d) {
    if (done_) return;
    if (ch == tp::kReply) {
      timer_.reset();
      if (!d.empty()) {
        Fail(FromAgentError(d));
        return;
      }
      started_ = true;
      resp_->StartStream(200, {{"Content-Type", "text/plain"}, {"Cache-Control", "no-cache, private"}});
      return;
    }
    if (ch != tp::kStdout || !started_) return;
    resp_->Write(d);
    if (resp_->Buffered() > kHighWater && !paused_) {
      paused_ = true;
      stream_->PauseReading();
      poll_ = loop_.AddTimer(20, 20, [this]() {
        if (resp_->closed()) {
          Done();
          return;
        }
        if (resp_->Buffered() < kLowWater) {
          paused_ = false;
          stream_->ResumeReading();
          poll_.reset();
        }
      });
    }
  }

  http::ResponseWriterPtr resp_;
  StreamPtr stream_;
  http::Loop& loop_;
  bool started_ = false;
  bool paused_ = false;
  http::HandlePtr poll_;
};

// exec and attach over WebSocket (v4/v5 channel protocol) or SPDY (streams by type).
class ExecSession final : public Streaming::Session {
 public:
  struct Options {
    bool stdin_ = false, stdout_ = false, stderr_ = false, tty = false;
  };
  ExecSession(Streaming* owner, http::Request req, http::ResponseWriterPtr resp, StreamPtr stream, Options o,
              http::Loop& loop)
      : Session(owner),
        req_(std::move(req)),
        resp_(std::move(resp)),
        stream_(std::move(stream)),
        opts_(o),
        loop_(loop) {}
  ~ExecSession() override {
    if (resp_) resp_->OnClose(nullptr);
  }

  void Start() {
    resp_->OnClose([this]() { Done(); });
    stream_->SetCallbacks({[this](uint8_t ch, std::string_view d) { OnAgentData(ch, d); }, [this]() { OnAgentEnd(); },
                           [this](const Status& st) { OnAgentReset(st); }});
    stream_->OnWritable([this]() { ResumeClient(); });
    ArmReplyTimeout([this]() { FailBeforeUpgrade(Status::Timeout("timed out waiting for the node's agent")); });
  }

 private:
  void FailBeforeUpgrade(const Status& st) {
    if (done_) return;
    if (resp_ && !resp_->closed()) {
      resp_->OnClose(nullptr);
      SendStatus(*resp_, st);
    }
    Done();
  }

  // The agent accepted: switch kubectl's connection.
  void Upgrade() {
    if (http::ws::IsWebSocketRequest(req_)) {
      http::ResponseWriter::Headers h;
      std::string proto;
      Status st = http::ws::ServerHandshake(req_, {kWsV5, kWsV4}, &h, &proto);
      if (!st.ok()) {
        FailBeforeUpgrade(st);
        return;
      }
      resp_->OnClose(nullptr);
      auto raw = resp_->Upgrade(h);
      resp_.reset();
      if (!raw) {
        Done();
        return;
      }
      v5_ = proto == kWsV5;
      ws_ = std::make_unique<http::ws::Connection>(std::move(raw),
                                                   /*server=*/true);
      ws_->Start(
          {[this](http::ws::Opcode, std::string&& m) { OnWsMessage(m); }, [this](uint16_t, const Status&) { Done(); }});
      // The heartbeat of kubectl's reader: pings keep its 60 s read deadline moving.
      ping_ = loop_.AddTimer(5000, 5000, [this]() {
        if (ws_) ws_->Ping();
      });
      return;
    }
    // SPDY/3.1.
    const std::string* offered = req_.Header("x-stream-protocol-version");
    std::string chosen;
    std::vector<std::string> versions;
    for (const auto& [k, v] : req_.headers) {
      if (k != "x-stream-protocol-version") continue;
      for (auto p : Split(v, ',')) versions.emplace_back(Trim(p));
    }
    for (const char* want : {"v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io"}) {
      if (std::find(versions.begin(), versions.end(), want) != versions.end()) {
        chosen = want;
        break;
      }
    }
    if (offered == nullptr || chosen.empty()) {
      FailBeforeUpgrade(Status::Forbidden("unable to upgrade: unable to negotiate protocol: client supports " +
                                          Join(versions, ", ") + ", server supports v4.channel.k8s.io"));
      return;
    }
    spdy_v4_ = chosen == "v4.channel.k8s.io";
    resp_->OnClose(nullptr);
    auto raw =
        resp_->Upgrade({{"Connection", "Upgrade"}, {"Upgrade", "SPDY/3.1"}, {"X-Stream-Protocol-Version", chosen}});
    resp_.reset();
    if (!raw) {
      Done();
      return;
    }
    pipe_ = std::make_unique<RawPipe>(std::move(raw));
    http::spdy::Session::Callbacks cb;
    cb.write = [this](std::string b) {
      if (pipe_) pipe_->Write(std::move(b));
    };
    cb.on_stream = [this](uint32_t id, const http::spdy::HeaderList& h, bool) { OnSpdyStream(id, h); };
    cb.on_data = [this](uint32_t id, std::string_view d, bool fin) { OnSpdyData(id, d, fin); };
    cb.on_reset = [this](uint32_t, uint32_t) {};
    cb.on_error = [this](const Status&) { Done(); };
    spdy_ = std::make_unique<http::spdy::Session>(true, std::move(cb));
    pipe_->Start(
        [this](std::string_view d) {
          if (spdy_) (void)spdy_->Feed(d);
        },
        [this]() { Done(); });
  }

  void OnSpdyStream(uint32_t id, const http::spdy::HeaderList& h) {
    const std::string* type = http::spdy::FindHeader(h, "streamtype");
    spdy_->Reply(id, {});
    if (type == nullptr) return;
    spdy_ids_[*type] = id;
    if (*type == "stdin") stdin_id_ = id;
    if (*type == "resize") resize_id_ = id;
    // Output the agent produced before kubectl created this stream.
    auto it = spdy_pending_.find(*type);
    if (it != spdy_pending_.end()) {
      std::string data = std::move(it->second);
      spdy_pending_.erase(it);
      if (!data.empty()) spdy_->SendData(id, data);
    }
    if (finish_pending_ && SpdyStreamsComplete()) Finish();
  }

  // kubectl creates the error stream, then stdin, stdout, stderr and resize as requested.
  bool SpdyStreamsComplete() const {
    auto has = [this](const char* t) { return spdy_ids_.count(t) > 0; };
    return has("error") && (!opts_.stdin_ || has("stdin")) && (!opts_.stdout_ || has("stdout")) &&
           (!opts_.stderr_ || opts_.tty || has("stderr"));
  }

  void OnSpdyData(uint32_t id, std::string_view d, bool fin) {
    if (done_) return;
    if (id == stdin_id_ && stdin_id_ != 0) {
      if (!d.empty()) ForwardStdin(d);
      if (fin) stream_->Write(tp::kStdinEnd, "");
    } else if (id == resize_id_ && resize_id_ != 0) {
      // A JSON object per resize; several may arrive in one frame.
      resize_buf_.append(d);
      size_t end;
      while ((end = resize_buf_.find('}')) != std::string::npos) {
        stream_->Write(tp::kResize, resize_buf_.substr(0, end + 1));
        resize_buf_.erase(0, end + 1);
      }
    }
  }

  void ForwardStdin(std::string_view d) {
    stream_->Write(tp::kStdin, d);
    if (stream_->Buffered() > kHighWater) {
      if (ws_) ws_->PauseReading();
      if (pipe_) pipe_->Pause();
    }
  }

  void ResumeClient() {
    if (ws_) ws_->ResumeReading();
    if (pipe_) pipe_->Resume();
  }

  void OnWsMessage(const std::string& m) {
    if (done_ || m.empty()) return;
    uint8_t ch = static_cast<uint8_t>(m[0]);
    std::string_view d = std::string_view(m).substr(1);
    if (ch == 0) {
      if (!d.empty()) ForwardStdin(d);
    } else if (ch == 4) {
      stream_->Write(tp::kResize, d);
    } else if (ch == 255 && v5_ && !d.empty() && d[0] == 0) {
      stream_->Write(tp::kStdinEnd, "");
    }
  }

  void SendToClient(uint8_t ch, std::string_view d) {
    if (ws_) {
      ws_->SendPrefixed(ch, d);
    } else if (spdy_) {
      const char* type = ch == 1 ? "stdout" : ch == 2 ? "stderr" : "error";
      std::string text(d);
      if (ch == 3 && !spdy_v4_) {
        // v2/v3 error streams carry plain text; success is silence.
        auto doc = ParseJson(d);
        if (doc.ok() && GetString(*doc, "status").value_or("") == "Success") return;
        text = doc.ok() ? std::string(GetString(*doc, "message").value_or("")) : std::string(d);
      }
      auto it = spdy_ids_.find(type);
      if (it == spdy_ids_.end()) {
        spdy_pending_[type] += text;
        return;
      }
      spdy_->SendData(it->second, text);
    }
    size_t buffered = ws_ ? ws_->Buffered() : pipe_ ? pipe_->Buffered() : 0;
    if (buffered > kHighWater && !paused_) {
      paused_ = true;
      stream_->PauseReading();
      poll_ = loop_.AddTimer(20, 20, [this]() {
        size_t b = ws_ ? ws_->Buffered() : pipe_ ? pipe_->Buffered() : 0;
        if (b < kLowWater) {
          paused_ = false;
          stream_->ResumeReading();
          poll_.reset();
        }
      });
    }
  }

  void OnAgentData(uint8_t ch, std::string_view d) {
    if (done_) return;
    if (ch == tp::kReply) {
      timer_.reset();
      if (!d.empty()) {
        FailBeforeUpgrade(FromAgentError(d));
        return;
      }
      upgraded_ = true;
      Upgrade();
      return;
    }
    if (!upgraded_) return;
    if (ch == tp::kStdout || ch == tp::kStderr) {
      SendToClient(ch, d);
    } else if (ch == tp::kResult) {
      SendToClient(3, FinalStatus(d));
      result_sent_ = true;
    }
  }

  void OnAgentEnd() {
    if (done_ || agent_ended_) return;
    agent_ended_ = true;
    if (!upgraded_) {
      FailBeforeUpgrade(Status::Internal("the node's agent ended the stream"));
      return;
    }
    if (!result_sent_) SendToClient(3, "{\"metadata\":{},\"status\":\"Success\"}");
    Finish();
  }

  void OnAgentReset(const Status& st) {
    // The agent drops its end once it has ended: nothing more to do.
    if (done_ || agent_ended_) return;
    agent_ended_ = true;
    if (!upgraded_) {
      FailBeforeUpgrade(Status::Internal("error dialing the node's agent: " + st.message()));
      return;
    }
    if (!result_sent_) SendToClient(3, InternalErrorStatus(st.message()));
    Finish();
  }

  // Ends kubectl's side: a normal WebSocket close (its readers see EOF), or FIN on every SPDY stream and GOAWAY.
  void Finish(bool force = false) {
    if (done_) return;
    if (ws_) {
      ws_->Close(http::ws::kCloseNormal);
    } else if (spdy_) {
      if (!SpdyStreamsComplete() && !force) {
        // Wait (a little) for kubectl to create its streams, so that it gets the output.
        if (!finish_pending_) {
          finish_pending_ = true;
          poll_ = loop_.AddTimer(5000, 0, [this]() { Finish(/*force=*/true); });
        }
        return;
      }
      for (auto& [type, id] : spdy_ids_) spdy_->SendData(id, "", true);
      spdy_->GoAway();
      pipe_.reset();  // closes after flushing
    }
    Done();
  }

  void OnDone() override {
    poll_.reset();
    ping_.reset();
    if (resp_ && !resp_->closed()) {
      resp_->OnClose(nullptr);
      SendStatus(*resp_, Status::Internal("stream ended"));
    }
  }

  http::Request req_;
  http::ResponseWriterPtr resp_;
  StreamPtr stream_;
  Options opts_;
  http::Loop& loop_;
  bool upgraded_ = false;
  bool agent_ended_ = false;
  bool result_sent_ = false;
  bool paused_ = false;
  bool v5_ = false;
  bool spdy_v4_ = true;
  std::unique_ptr<http::ws::Connection> ws_;
  std::unique_ptr<ClientPipe> pipe_;
  std::unique_ptr<http::spdy::Session> spdy_;
  std::map<std::string, uint32_t> spdy_ids_;
  uint32_t stdin_id_ = 0, resize_id_ = 0;
  std::string resize_buf_;
  std::map<std::string, std::string> spdy_pending_;
  bool finish_pending_ = false;
  http::HandlePtr poll_, ping_;
};

// portforward: SPDY (raw or tunnelled through WebSocket); each pair of error and data streams with
// one requestID is one connection to the pod's port, carried by one tunnel stream.
class PortForwardSession final : public Streaming::Session {
 public:
  PortForwardSession(Streaming* owner, std::string node, std::string header_prefix)
      : Session(owner), node_(std::move(node)), header_prefix_(std::move(header_prefix)) {}

  void Start(std::unique_ptr<ClientPipe> pipe) {
    pipe_ = std::move(pipe);
    http::spdy::Session::Callbacks cb;
    cb.write = [this](std::string b) {
      if (pipe_) pipe_->Write(std::move(b));
    };
    cb.on_stream = [this](uint32_t id, const http::spdy::HeaderList& h, bool) { OnSpdyStream(id, h); };
    cb.on_data = [this](uint32_t id, std::string_view d, bool fin) { OnSpdyData(id, d, fin); };
    cb.on_reset = [this](uint32_t id, uint32_t) { OnSpdyReset(id); };
    cb.on_error = [this](const Status&) { Done(); };
    spdy_ = std::make_unique<http::spdy::Session>(true, std::move(cb));
    pipe_->Start(
        [this](std::string_view d) {
          if (spdy_ && !done_) (void)spdy_->Feed(d);
        },
        [this]() { Done(); });
  }

 private:
  struct Forward {
    std::string request_id;
    int port = 0;
    uint32_t error_id = 0, data_id = 0;
    StreamPtr stream;
    bool data_closed = false;  // FIN sent on the data stream
    bool finished = false;
  };

  void OnSpdyStream(uint32_t id, const http::spdy::HeaderList& h) {
    const std::string* type = http::spdy::FindHeader(h, "streamtype");
    const std::string* port = http::spdy::FindHeader(h, "port");
    const std::string* rid = http::spdy::FindHeader(h, "requestid");
    spdy_->Reply(id, {});
    if (type == nullptr || port == nullptr) {
      spdy_->Reset(id, http::spdy::kProtocolError);
      return;
    }
    // kubectl always sends a requestID; without one, a port identifies the pair (old clients).
    std::string key = rid ? *rid : "port:" + *port;
    Forward& f = forwards_[key];
    f.request_id = key;
    int64_t p = 0;
    if (!ParseInt64(*port, &p) || p <= 0 || p > 65535) {
      spdy_->Reset(id, http::spdy::kProtocolError);
      return;
    }
    f.port = static_cast<int>(p);
    if (*type == "error")
      f.error_id = id;
    else if (*type == "data")
      f.data_id = id;
    by_stream_[id] = key;
    if (f.error_id != 0 && f.data_id != 0 && !f.stream) OpenTunnel(f);
  }

  void OpenTunnel(Forward& f) {
    std::string header = header_prefix_ + ",\"port\":" + std::to_string(f.port) + "}";
    auto mux = Tunnel(node_);
    if (mux.ok()) f.stream = (*mux)->Open(header);
    std::string key = f.request_id;
    if (!f.stream || f.stream->dead()) {
      FailForward(key, "error forwarding port " + std::to_string(f.port) + ": the node's agent is not connected");
      return;
    }
    f.stream->SetCallbacks({[this, key](uint8_t ch, std::string_view d) { OnAgentData(key, ch, d); },
                            [this, key]() { OnAgentEnd(key); },
                            [this, key](const Status& st) { FailForward(key, st.message()); }});
  }

  Forward* Find(const std::string& key) {
    auto it = forwards_.find(key);
    return it == forwards_.end() ? nullptr : &it->second;
  }

  void OnAgentData(const std::string& key, uint8_t ch, std::string_view d) {
    Forward* f = Find(key);
    if (f == nullptr) return;
    if (ch == tp::kReply) {
      if (!d.empty()) {
        auto doc = ParseJson(d);
        FailForward(key, doc.ok() ? std::string(GetString(*doc, "message").value_or(d)) : std::string(d));
      }
      return;
    }
    if (ch == tp::kStdout) {
      spdy_->SendData(f->data_id, d);
    } else if (ch == tp::kResult) {
      auto doc = ParseJson(d);
      std::string msg = doc.ok() ? std::string(GetString(*doc, "message").value_or(d)) : std::string(d);
      if (!msg.empty()) spdy_->SendData(f->error_id, msg);
    }
  }

  void OnAgentEnd(const std::string& key) {
    Forward* f = Find(key);
    if (f == nullptr) return;
    if (!f->data_closed) {
      f->data_closed = true;
      spdy_->SendData(f->data_id, "", true);
    }
    if (!f->finished) {
      f->finished = true;
      spdy_->SendData(f->error_id, "", true);
    }
  }

  // The error text on the error stream, then both streams end.
  void FailForward(const std::string& key, const std::string& msg) {
    Forward* f = Find(key);
    if (f == nullptr || f->finished) return;
    f->finished = true;
    if (f->error_id) spdy_->SendData(f->error_id, msg, true);
    if (f->data_id && !f->data_closed) {
      f->data_closed = true;
      spdy_->SendData(f->data_id, "", true);
    }
  }

  void OnSpdyData(uint32_t id, std::string_view d, bool fin) {
    auto it = by_stream_.find(id);
    if (it == by_stream_.end()) return;
    Forward* f = Find(it->second);
    if (f == nullptr || id != f->data_id || !f->stream) return;
    if (!d.empty()) {
      f->stream->Write(tp::kStdin, d);
      if (f->stream->Buffered() > kHighWater && pipe_) {
        pipe_->Pause();
        f->stream->OnWritable([this]() {
          if (pipe_) pipe_->Resume();
        });
      }
    }
    if (fin) f->stream->End();
  }

  // kubectl resets the data stream once the local connection is done: drop the forward.
  void OnSpdyReset(uint32_t id) {
    auto it = by_stream_.find(id);
    if (it == by_stream_.end()) return;
    std::string key = it->second;
    Forward* f = Find(key);
    if (f == nullptr) return;
    if (!f->finished) {
      f->finished = true;
      if (f->error_id) spdy_->SendData(f->error_id, "", true);
    }
    by_stream_.erase(f->error_id);
    by_stream_.erase(f->data_id);
    forwards_.erase(key);  // destroys the tunnel stream (reset toward the agent)
  }

  void OnDone() override {
    forwards_.clear();
    spdy_.reset();
    pipe_.reset();
  }

  std::string node_;
  std::string header_prefix_;
  std::unique_ptr<ClientPipe> pipe_;
  std::unique_ptr<http::spdy::Session> spdy_;
  std::map<std::string, Forward> forwards_;
  std::map<uint32_t, std::string> by_stream_;
};

}  // namespace

// ---- Streaming --------------------------------------------------------------------------------

Streaming::Streaming(http::Loop& loop, ObjectStore& store, StreamingOptions options)
    : loop_(loop), store_(store), options_(options), pods_(api::Registry::Builtin().Find("", "v1", "pods")) {}

Streaming::~Streaming() {
  *alive_ = false;
  Close();
}

void Streaming::Close() {
  auto sessions = std::move(sessions_);
  sessions_.clear();
  for (auto& [p, s] : sessions) s->Done();  // moves nothing: already out of the map
  sessions.clear();
  finished_.clear();
  auto tunnels = std::move(tunnels_);
  tunnels_.clear();
  tunnels.clear();
}

bool Streaming::Connected(const std::string& node) const {
  auto it = tunnels_.find(node);
  return it != tunnels_.end() && it->second.mux && !it->second.mux->closed();
}

void Streaming::Adopt(std::unique_ptr<Session> s) {
  Session* p = s.get();
  sessions_[p] = std::move(s);
}

void Streaming::Finish(Session* s) {
  auto it = sessions_.find(s);
  if (it == sessions_.end()) return;
  finished_.push_back(std::move(it->second));
  sessions_.erase(it);
  if (reap_posted_) return;
  reap_posted_ = true;
  std::weak_ptr<bool> alive = alive_;
  loop_.Post([this, alive]() {
    auto a = alive.lock();
    if (!a || !*a) return;
    reap_posted_ = false;
    auto dead = std::move(finished_);
    finished_.clear();
    dead.clear();
  });
}

void Streaming::ServeTunnel(http::Request& req, http::ResponseWriterPtr resp, const std::string& user,
                            const std::vector<std::string>& groups) {
  bool allowed = user == "minik:token";
  for (const auto& g : groups) allowed = allowed || g == "system:nodes" || g == "system:masters";
  if (!allowed) {
    SendStatus(*resp, Status::Forbidden("forbidden: User \"" + user + "\" cannot connect an agent tunnel"));
    return;
  }
  const std::string* node = req.Header("x-minik-node-name");
  const std::string* up = req.Header("upgrade");
  if (node == nullptr || node->empty()) {
    SendStatus(*resp, Status::BadRequest("missing " + std::string(tp::kNodeHeader) + " header"));
    return;
  }
  // A node's own credentials (system:node:<name>) connect that node only.
  bool is_node = std::find(groups.begin(), groups.end(), "system:nodes") != groups.end();
  bool is_admin = std::find(groups.begin(), groups.end(), "system:masters") != groups.end();
  if (is_node && !is_admin && user != "system:node:" + *node) {
    SendStatus(*resp, Status::Forbidden("forbidden: User \"" + user + "\" cannot connect the tunnel of node \"" +
                                        *node + "\""));
    return;
  }
  if (!req.upgrade || up == nullptr || !http::HeaderHasToken(*up, tp::kUpgradeToken)) {
    SendStatus(*resp, Status::BadRequest("Upgrade request required"));
    return;
  }
  auto raw = resp->Upgrade({{"Connection", "Upgrade"}, {"Upgrade", tp::kUpgradeToken}});
  if (!raw) return;
  std::string name = *node;
  auto mux = std::make_unique<http::tunnel::Mux>(std::move(raw), /*initiator=*/false);
  uint64_t gen = ++generation_;
  http::tunnel::Mux* m = mux.get();
  MINIK_LOG(Info) << "agent tunnel from node " << name << " (" << m->remote_address() << ") connected";
  // A newer connection replaces the older one (the agent reconnected).
  tunnels_[name] = Tunnel{std::move(mux), gen};
  std::weak_ptr<bool> alive = alive_;
  m->Start({[](http::tunnel::StreamPtr s) { s->Reset("the server accepts no streams"); },
            [this, alive, name, gen](const Status& st) {
              auto a = alive.lock();
              if (!a || !*a) return;
              auto it = tunnels_.find(name);
              if (it == tunnels_.end() || it->second.generation != gen) return;
              MINIK_LOG(Info) << "agent tunnel from node " << name << " closed: " << st.ToString();
              // Not destroyed here (we are inside its callback): moved out and dropped soon.
              auto dead = std::make_shared<http::tunnel::MuxPtr>(std::move(it->second.mux));
              tunnels_.erase(it);
              loop_.Post([dead]() { dead->reset(); });
            }});
  if (on_connect_) on_connect_(name);
}

StatusOr<http::tunnel::Mux*> Streaming::TunnelFor(const std::string& node) {
  auto it = tunnels_.find(node);
  if (it == tunnels_.end() || !it->second.mux || it->second.mux->closed()) {
    return Status::Unavailable("the agent of node \"" + node + "\" is not connected to the server");
  }
  return it->second.mux.get();
}

StatusOr<http::tunnel::Mux*> Streaming::UpgradeTunnelFor(const JsonValue& pod, const std::string& name,
                                                         const http::Request& req) {
  std::string node(GetString(*Path(pod, {"spec"}), "nodeName").value_or(""));
  if (node.empty()) return Status::BadRequest("pod " + name + " does not have a host assigned");
  if (!req.upgrade || req.Header("upgrade") == nullptr) return Status::BadRequest("Upgrade request required");
  return TunnelFor(node);
}

std::vector<std::string> Streaming::ConnectedNodes() const {
  std::vector<std::string> out;
  for (const auto& [name, t] : tunnels_) {
    if (t.mux && !t.mux->closed()) out.push_back(name);
  }
  return out;
}

StatusOr<StreamPtr> Streaming::OpenStream(const std::string& node, std::string header) {
  auto mux = TunnelFor(node);
  if (!mux.ok()) return mux.error();
  return (*mux)->Open(std::move(header));
}

void Streaming::ServePod(const std::string& sub, const std::string& ns, const std::string& name, http::Request& req,
                         const std::multimap<std::string, std::string>& query, http::ResponseWriterPtr resp) {
  ObjectPtr obj = pods_ ? store_.Get(StorageKey(*pods_, ns, name)) : nullptr;
  if (!obj) {
    SendStatus(*resp, api::NotFoundError("", "pods", name));
    return;
  }
  const JsonValue& pod = *obj->object;
  if (sub == "log") return ServeLog(pod, ns, name, query, std::move(resp));
  if (sub == "exec") return ServeExec(false, pod, ns, name, req, query, std::move(resp));
  if (sub == "attach") return ServeExec(true, pod, ns, name, req, query, std::move(resp));
  if (sub == "portforward") return ServePortForward(pod, ns, name, req, std::move(resp));
  SendStatus(*resp, Status::NotFound("the server could not find the requested resource"));
}

void Streaming::ServeLog(const JsonValue& pod, const std::string& ns, const std::string& name,
                         const std::multimap<std::string, std::string>& query, http::ResponseWriterPtr resp) {
  auto container = LogContainer(pod, name, Param(query, "container"));
  if (!container.ok()) {
    SendStatus(*resp, container.error());
    return;
  }
  // PodLogOptions validation (upstream ValidatePodLogOptions).
  std::vector<StatusCause> causes;
  int64_t tail = -1, since = -1, limit = -1;
  if (query.count("tailLines") && (!ParseInt64(Param(query, "tailLines"), &tail) || tail < 0)) {
    causes.push_back(api::FieldInvalid("tailLines", Param(query, "tailLines"), "must be greater than or equal to 0"));
  }
  if (query.count("limitBytes") && (!ParseInt64(Param(query, "limitBytes"), &limit) || limit < 1)) {
    causes.push_back(api::FieldInvalid("limitBytes", Param(query, "limitBytes"), "must be greater than 0"));
  }
  bool has_since_time = query.count("sinceTime") > 0 && !Param(query, "sinceTime").empty();
  if (query.count("sinceSeconds")) {
    if (has_since_time) {
      causes.push_back(api::FieldForbidden("", "at most one of `sinceTime` or `sinceSeconds` may be specified"));
    } else if (!ParseInt64(Param(query, "sinceSeconds"), &since) || since < 1) {
      causes.push_back(api::FieldInvalid("sinceSeconds", Param(query, "sinceSeconds"), "must be greater than 0"));
    }
  }
  if (!causes.empty()) {
    SendStatus(*resp, api::InvalidError("", "PodLogOptions", name, std::move(causes)));
    return;
  }
  std::string node(GetString(*Path(pod, {"spec"}), "nodeName").value_or(""));
  if (node.empty()) {
    // As upstream: a pod without a node has no logs yet (an empty body).
    resp->Send(200, {{"Content-Type", "text/plain"}}, "");
    return;
  }
  auto mux = TunnelFor(node);
  if (!mux.ok()) {
    SendStatus(*resp, mux.error());
    return;
  }
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  BeginHeader(w, "log", pod, ns, name, *container);
  for (const char* b : {"follow", "previous", "timestamps"}) {
    Key(w, b);
    w.Bool(IsTrue(Param(query, b)));
  }
  if (tail >= 0) {
    Key(w, "tailLines");
    w.Int64(tail);
  }
  if (limit > 0) {
    Key(w, "limitBytes");
    w.Int64(limit);
  }
  if (since > 0) {
    Key(w, "sinceSeconds");
    w.Int64(since);
  }
  if (has_since_time) {
    Key(w, "sinceTime");
    Str(w, Param(query, "sinceTime"));
  }
  w.EndObject();
  auto s = std::make_unique<LogSession>(this, std::move(resp),
                                        (*mux)->Open(std::string(buf.GetString(), buf.GetSize())), loop_);
  LogSession* p = s.get();
  Adopt(std::move(s));
  p->Start();
}

void Streaming::ServeExec(bool attach, const JsonValue& pod, const std::string& ns, const std::string& name,
                          http::Request& req, const std::multimap<std::string, std::string>& query,
                          http::ResponseWriterPtr resp) {
  auto container = StreamContainer(pod, name, Param(query, "container"));
  if (!container.ok()) {
    SendStatus(*resp, container.error());
    return;
  }
  std::vector<std::string> command;
  for (auto it = query.equal_range("command"); it.first != it.second; ++it.first) command.push_back(it.first->second);
  ExecSession::Options o;
  o.stdin_ = IsTrue(Param(query, "stdin"));
  o.stdout_ = IsTrue(Param(query, "stdout"));
  o.stderr_ = IsTrue(Param(query, "stderr"));
  o.tty = IsTrue(Param(query, "tty"));
  if (!attach && command.empty()) {
    SendStatus(*resp, Status::BadRequest("you must specify at least 1 command"));
    return;
  }
  if (!o.stdin_ && !o.stdout_ && !o.stderr_) {
    SendStatus(*resp, Status::BadRequest("you must specify at least one of stdin, stdout, stderr"));
    return;
  }
  auto mux = UpgradeTunnelFor(pod, name, req);
  if (!mux.ok()) {
    SendStatus(*resp, mux.error());
    return;
  }
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  BeginHeader(w, attach ? "attach" : "exec", pod, ns, name, *container);
  if (!attach) {
    Key(w, "command");
    w.StartArray();
    for (const auto& c : command) Str(w, c);
    w.EndArray();
  }
  Key(w, "stdin");
  w.Bool(o.stdin_);
  Key(w, "stdout");
  w.Bool(o.stdout_);
  Key(w, "stderr");
  w.Bool(o.stderr_ && !o.tty);
  Key(w, "tty");
  w.Bool(o.tty);
  w.EndObject();
  auto s = std::make_unique<ExecSession>(this, std::move(req), std::move(resp),
                                         (*mux)->Open(std::string(buf.GetString(), buf.GetSize())), o, loop_);
  ExecSession* p = s.get();
  Adopt(std::move(s));
  p->Start();
}

void Streaming::ServePortForward(const JsonValue& pod, const std::string& ns, const std::string& name,
                                 http::Request& req, http::ResponseWriterPtr resp) {
  auto mux = UpgradeTunnelFor(pod, name, req);
  if (!mux.ok()) {
    SendStatus(*resp, mux.error());
    return;
  }
  std::unique_ptr<ClientPipe> pipe;
  if (http::ws::IsWebSocketRequest(req)) {
    http::ResponseWriter::Headers h;
    std::string proto;
    Status st = http::ws::ServerHandshake(req, {kSpdyTunnelPortForward}, &h, &proto);
    if (!st.ok()) {
      SendStatus(*resp, st);
      return;
    }
    auto raw = resp->Upgrade(h);
    if (!raw) return;
    pipe = std::make_unique<WsPipe>(std::move(raw));
  } else {
    std::vector<std::string> versions;
    for (const auto& [k, v] : req.headers) {
      if (k != "x-stream-protocol-version") continue;
      for (auto p : Split(v, ',')) versions.emplace_back(Trim(p));
    }
    if (!http::HeaderHasToken(*req.Header("upgrade"), "SPDY/3.1") ||
        std::find(versions.begin(), versions.end(), kPortForwardV1) == versions.end()) {
      SendStatus(*resp, Status::Forbidden("unable to upgrade: unable to negotiate "
                                          "protocol: client supports " +
                                          Join(versions, ", ") + ", server supports " + kPortForwardV1));
      return;
    }
    auto raw = resp->Upgrade(
        {{"Connection", "Upgrade"}, {"Upgrade", "SPDY/3.1"}, {"X-Stream-Protocol-Version", kPortForwardV1}});
    if (!raw) return;
    pipe = std::make_unique<RawPipe>(std::move(raw));
  }
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  BeginHeader(w, "portforward", pod, ns, name, "");
  w.EndObject();
  std::string prefix(buf.GetString(), buf.GetSize());
  prefix.pop_back();  // the port is appended per connection
  std::string node(GetString(*Path(pod, {"spec"}), "nodeName").value_or(""));
  auto s = std::make_unique<PortForwardSession>(this, node, std::move(prefix));
  PortForwardSession* p = s.get();
  Adopt(std::move(s));
  p->Start(std::move(pipe));
}

}  // namespace minik::server
