#include "agent/streaming/tunnel_client.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>

#include "common/json.h"
#include "common/log.h"

namespace minik::agent::streaming {

namespace tp = http::tunnel::proto;
using http::tunnel::StreamPtr;

namespace {

int CodeOf(const Status& st) {
  switch (st.code()) {
    case Code::kBadRequest:
    case Code::kInvalid:
      return 400;
    case Code::kForbidden:
      return 403;
    case Code::kNotFound:
      return 404;
    case Code::kUnavailable:
      return 503;
    case Code::kTimeout:
      return 504;
    default:
      return 500;
  }
}

std::string ErrorJson(const Status& st, bool with_code) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  if (with_code) {
    w.Key("code");
    w.Int(CodeOf(st));
  }
  w.Key("message");
  w.String(st.message().c_str(), static_cast<rapidjson::SizeType>(st.message().size()));
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

// What every session shares: the tunnel stream, acceptance, back-pressure and cancellation.
class Adapter {
 public:
  explicit Adapter(StreamPtr s) : s_(std::move(s)) {}

 protected:
  void AcceptImpl() {
    if (accepted_ || ended_ || !s_) return;
    accepted_ = true;
    s_->Write(tp::kReply, "");
  }
  // Before acceptance the error goes in the reply; after it, in the result.
  void FailImpl(const Status& st) {
    if (ended_ || !s_) return;
    ended_ = true;
    if (!accepted_) {
      accepted_ = true;
      s_->Write(tp::kReply, ErrorJson(st, true));
    } else {
      s_->Write(tp::kResult, ErrorJson(st, true));
    }
    s_->End();
  }
  bool WriteImpl(uint8_t ch, std::string_view d) {
    if (ended_ || !s_ || s_->dead()) return false;
    AcceptImpl();
    return d.empty() || s_->Write(ch, d);
  }
  void EndImpl() {
    if (ended_ || !s_) return;
    AcceptImpl();
    ended_ = true;
    s_->End();
  }
  bool ClosedImpl() const { return ended_ || !s_ || s_->dead(); }
  size_t BufferedImpl() const { return s_ ? s_->Buffered() : 0; }

  StreamPtr s_;
  bool accepted_ = false;
  bool ended_ = false;
};

class TunnelLogSink final : public LogSink, Adapter {
 public:
  explicit TunnelLogSink(StreamPtr s) : Adapter(std::move(s)) {
    s_->SetCallbacks({nullptr, nullptr, [this](const Status&) { Cancelled(); }});
  }
  void Accept() override { AcceptImpl(); }
  void Fail(const Status& error) override {
    if (accepted_ && !ended_ && s_) {
      ended_ = true;
      s_->Reset(error.message());
      return;
    }
    FailImpl(error);
  }
  bool Write(std::string_view data) override { return WriteImpl(tp::kStdout, data); }
  void End() override { EndImpl(); }
  size_t Buffered() const override { return BufferedImpl(); }
  void OnWritable(std::function<void()> fn) override { s_->OnWritable(std::move(fn)); }
  void OnCancel(std::function<void()> fn) override { on_cancel_ = std::move(fn); }
  bool closed() const override { return ClosedImpl(); }

 private:
  void Cancelled() {
    ended_ = true;
    if (on_cancel_) {
      auto fn = std::move(on_cancel_);
      on_cancel_ = nullptr;
      fn();
    }
  }
  std::function<void()> on_cancel_;
};

class TunnelExecSession final : public ExecSession, Adapter {
 public:
  explicit TunnelExecSession(StreamPtr s) : Adapter(std::move(s)) {
    s_->SetCallbacks(
        {[this](uint8_t ch, std::string_view d) { OnData(ch, d); }, nullptr, [this](const Status&) { Cancelled(); }});
  }
  void SetHandlers(Handlers h) override { h_ = std::move(h); }
  void Accept() override { AcceptImpl(); }
  void Fail(const Status& error) override { FailImpl(error); }
  bool WriteStdout(std::string_view data) override { return WriteImpl(tp::kStdout, data); }
  bool WriteStderr(std::string_view data) override { return WriteImpl(tp::kStderr, data); }
  void Exit(int code) override {
    if (ended_ || !s_) return;
    AcceptImpl();
    ended_ = true;
    std::string msg;
    if (code != 0)
      msg =
          ",\"message\":\"command terminated with non-zero exit code: exit "
          "status " +
          std::to_string(code) + "\"";
    s_->Write(tp::kResult, "{\"exitCode\":" + std::to_string(code) + msg + "}");
    s_->End();
  }
  size_t Buffered() const override { return BufferedImpl(); }
  void OnWritable(std::function<void()> fn) override { s_->OnWritable(std::move(fn)); }
  void PauseStdin() override { s_->PauseReading(); }
  void ResumeStdin() override { s_->ResumeReading(); }
  bool closed() const override { return ClosedImpl(); }

 private:
  void OnData(uint8_t ch, std::string_view d) {
    if (ch == tp::kStdin) {
      if (h_.on_stdin) h_.on_stdin(d);
    } else if (ch == tp::kStdinEnd) {
      if (h_.on_stdin_end) h_.on_stdin_end();
    } else if (ch == tp::kResize) {
      auto doc = ParseJson(d);
      if (!doc.ok() || !doc->IsObject()) return;
      TerminalSize size;
      size.width = static_cast<uint16_t>(std::clamp<int64_t>(GetInt(*doc, "Width").value_or(0), 0, 65535));
      size.height = static_cast<uint16_t>(std::clamp<int64_t>(GetInt(*doc, "Height").value_or(0), 0, 65535));
      if (h_.on_resize) h_.on_resize(size);
    }
  }
  void Cancelled() {
    ended_ = true;
    auto fn = std::move(h_.on_cancel);
    h_ = Handlers();
    if (fn) fn();
  }
  Handlers h_;
};

class TunnelPortForward final : public PortForwardStream, Adapter {
 public:
  explicit TunnelPortForward(StreamPtr s) : Adapter(std::move(s)) {
    s_->SetCallbacks({[this](uint8_t ch, std::string_view d) {
                        if (ch == tp::kStdin && h_.on_data) h_.on_data(d);
                      },
                      [this]() {
                        if (h_.on_end) h_.on_end();
                      },
                      [this](const Status&) { Cancelled(); }});
  }
  void SetHandlers(Handlers h) override { h_ = std::move(h); }
  void Accept() override { AcceptImpl(); }
  void Fail(const Status& error) override { FailImpl(error); }
  bool Write(std::string_view data) override { return WriteImpl(tp::kStdout, data); }
  void End() override { EndImpl(); }
  size_t Buffered() const override { return BufferedImpl(); }
  void OnWritable(std::function<void()> fn) override { s_->OnWritable(std::move(fn)); }
  void PauseInput() override { s_->PauseReading(); }
  void ResumeInput() override { s_->ResumeReading(); }
  bool closed() const override { return ClosedImpl(); }

 private:
  void Cancelled() {
    ended_ = true;
    auto fn = std::move(h_.on_cancel);
    h_ = Handlers();
    if (fn) fn();
  }
  Handlers h_;
};

PodRef ParseRef(const JsonValue& h) {
  PodRef r;
  r.namespace_ = std::string(GetString(h, "namespace").value_or(""));
  r.pod = std::string(GetString(h, "pod").value_or(""));
  r.uid = std::string(GetString(h, "uid").value_or(""));
  r.container = std::string(GetString(h, "container").value_or(""));
  return r;
}

void Refuse(StreamPtr s, const Status& st) {
  s->Write(tp::kReply, ErrorJson(st, true));
  s->End();
}

// op "http": one request, one response (node_http.h).
void ServeHttp(NodeHttpHandler* handler, StreamPtr stream, const JsonValue& h) {
  NodeHttpRequest req;
  req.method = std::string(GetString(h, "method").value_or("GET"));
  req.path = std::string(GetString(h, "path").value_or("/"));
  req.query = std::string(GetString(h, "query").value_or(""));
  auto held = std::make_shared<StreamPtr>(std::move(stream));
  auto respond = [held](NodeHttpResponse r) {
    StreamPtr s = std::move(*held);
    if (!s || s->dead()) return;
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    w.StartObject();
    w.Key("status");
    w.Int(r.status);
    w.Key("contentType");
    w.String(r.content_type.c_str(), static_cast<rapidjson::SizeType>(r.content_type.size()));
    w.EndObject();
    s->Write(tp::kReply, std::string_view(buf.GetString(), buf.GetSize()));
    if (!r.body.empty()) s->Write(tp::kStdout, r.body);
    s->End();
  };
  // The server went away: nothing to answer.
  (*held)->SetCallbacks({nullptr, nullptr, nullptr});
  if (handler == nullptr) {
    respond(NodeHttpResponse{404, "text/plain; charset=utf-8", "404 page not found\n"});
    return;
  }
  handler->Serve(req, std::move(respond));
}

}  // namespace

void TunnelClient::Serve(StreamingBackend& backend, NodeHttpHandler* http, StreamPtr stream) {
  auto doc = ParseJson(stream->header());
  if (!doc.ok() || !doc->IsObject()) {
    Refuse(std::move(stream), Status::BadRequest("invalid streaming request"));
    return;
  }
  const JsonValue& h = *doc;
  std::string op(GetString(h, "op").value_or(""));
  if (op == "log") {
    LogRequest r;
    r.ref = ParseRef(h);
    r.follow = GetBool(h, "follow").value_or(false);
    r.previous = GetBool(h, "previous").value_or(false);
    r.timestamps = GetBool(h, "timestamps").value_or(false);
    if (auto v = GetInt(h, "tailLines")) r.tail_lines = *v;
    if (auto v = GetInt(h, "limitBytes")) r.limit_bytes = *v;
    if (auto v = GetInt(h, "sinceSeconds")) r.since_seconds = *v;
    r.since_time = std::string(GetString(h, "sinceTime").value_or(""));
    backend.Logs(r, std::make_shared<TunnelLogSink>(std::move(stream)));
    return;
  }
  if (op == "exec" || op == "attach") {
    ExecRequest r;
    r.ref = ParseRef(h);
    r.attach = op == "attach";
    if (const JsonValue* cmd = Member(h, "command"); cmd != nullptr && cmd->IsArray()) {
      for (const auto& c : cmd->GetArray()) {
        if (c.IsString()) r.command.emplace_back(c.GetString(), c.GetStringLength());
      }
    }
    r.stdin_ = GetBool(h, "stdin").value_or(false);
    r.stdout_ = GetBool(h, "stdout").value_or(false);
    r.tty = GetBool(h, "tty").value_or(false);
    r.stderr_ = GetBool(h, "stderr").value_or(false) && !r.tty;
    backend.Exec(r, std::make_shared<TunnelExecSession>(std::move(stream)));
    return;
  }
  if (op == "http") {
    ServeHttp(http, std::move(stream), h);
    return;
  }
  if (op == "portforward") {
    PortForwardRequest r;
    r.ref = ParseRef(h);
    r.port = static_cast<int>(GetInt(h, "port").value_or(0));
    backend.PortForward(r, std::make_shared<TunnelPortForward>(std::move(stream)));
    return;
  }
  Refuse(std::move(stream), Status::BadRequest("unknown streaming operation \"" + op + "\""));
}

TunnelClient::TunnelClient(http::Loop& loop, http::Client& client, StreamingBackend& backend,
                           TunnelClientOptions options)
    : loop_(loop),
      client_(client),
      backend_(backend),
      options_(std::move(options)),
      backoff_ms_(options_.min_backoff_ms) {}

TunnelClient::~TunnelClient() {
  *alive_ = false;
  Stop();
}

void TunnelClient::Start() {
  if (running_) return;
  running_ = true;
  Connect();
}

void TunnelClient::Stop() {
  running_ = false;
  retry_timer_.reset();
  ping_timer_.reset();
  bool was = connected();
  mux_.reset();
  if (was && on_state_ && *alive_) on_state_(false);
}

void TunnelClient::Connect() {
  if (!running_ || connecting_) return;
  connecting_ = true;
  std::weak_ptr<bool> alive = alive_;
  client_.Upgrade("GET", tp::kPath,
                  {{"Connection", "Upgrade"}, {"Upgrade", tp::kUpgradeToken}, {tp::kNodeHeader, options_.node_name}},
                  [this, alive](StatusOr<http::UpgradeResult> r) {
                    auto a = alive.lock();
                    if (!a || !*a) return;
                    connecting_ = false;
                    if (!running_) return;
                    if (!r.ok()) {
                      Lost(r.error());
                      return;
                    }
                    if (!r->stream) {
                      Lost(Status::Unavailable("the server answered " + std::to_string(r->response.status) + ": " +
                                               r->response.body));
                      return;
                    }
                    Connected(std::move(r->stream));
                  });
}

void TunnelClient::Connected(http::ByteStreamPtr stream) {
  mux_ = std::make_unique<http::tunnel::Mux>(std::move(stream),
                                             /*initiator=*/true);
  backoff_ms_ = options_.min_backoff_ms;
  std::weak_ptr<bool> alive = alive_;
  mux_->Start({[this](StreamPtr s) { Serve(backend_, http_handler_, std::move(s)); },
               [this, alive](const Status& why) {
                 auto a = alive.lock();
                 if (!a || !*a) return;
                 // Inside the mux's callback: drop it once the callback has returned.
                 auto dead = std::make_shared<http::tunnel::MuxPtr>(std::move(mux_));
                 loop_.Post([dead]() { dead->reset(); });
                 Lost(why);
               }});
  MINIK_LOG(Info) << "streaming tunnel to the server is up";
  ping_outstanding_ = false;
  ping_timer_ = loop_.AddTimer(options_.ping_interval_ms, options_.ping_interval_ms, [this]() { Ping(); });
  if (on_state_) on_state_(true);
}

void TunnelClient::Ping() {
  if (!mux_) return;
  if (ping_outstanding_) {
    MINIK_LOG(Warning) << "streaming tunnel: no answer to the last ping; reconnecting";
    mux_.reset();
    Lost(Status::Timeout("the tunnel stopped answering"));
    return;
  }
  ping_outstanding_ = true;
  mux_->Ping([this]() { ping_outstanding_ = false; });
}

void TunnelClient::Lost(const Status& why) {
  ping_timer_.reset();
  if (on_state_) on_state_(false);
  if (!running_) return;
  MINIK_LOG(Warning) << "streaming tunnel to the server: " << why.ToString() << "; retrying in " << backoff_ms_
                     << " ms";
  retry_timer_ = loop_.AddTimer(backoff_ms_, 0, [this]() {
    retry_timer_.reset();
    Connect();
  });
  backoff_ms_ = std::min(backoff_ms_ * 2, options_.max_backoff_ms);
}

}  // namespace minik::agent::streaming
