#include "http/server.h"

#include <llhttp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <uv.h>

#include <cstring>
#include <ctime>
#include <unordered_set>

#include "common/log.h"
#include "http/http_util.h"
#include "http/transport.h"
#include "http/upgrade_internal.h"
#include "http/uv_util.h"

namespace minik::http {

using internal::SslCtxPtr;
using internal::SslErrors;
using internal::Transport;

const std::string* Request::Header(std::string_view lower_name) const {
  return internal::FindHeader(headers, lower_name);
}

namespace {

int HexVal(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string PercentDecode(std::string_view s, bool plus_as_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%' && i + 2 < s.size()) {
      int h = HexVal(s[i + 1]), l = HexVal(s[i + 2]);
      if (h >= 0 && l >= 0) {
        out.push_back(static_cast<char>(h * 16 + l));
        i += 2;
        continue;
      }
    }
    out.push_back(plus_as_space && c == '+' ? ' ' : c);
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> ParseQuery(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t pos = 0;
  while (pos <= query.size()) {
    size_t amp = query.find('&', pos);
    if (amp == std::string_view::npos) amp = query.size();
    std::string_view part = query.substr(pos, amp - pos);
    if (!part.empty()) {
      size_t eq = part.find('=');
      if (eq == std::string_view::npos) {
        out.emplace_back(PercentDecode(part, true), std::string());
      } else {
        out.emplace_back(PercentDecode(part.substr(0, eq), true), PercentDecode(part.substr(eq + 1), true));
      }
    }
    pos = amp + 1;
  }
  return out;
}

namespace {
class Conn;
}  // namespace

namespace internal {
// The server's state (Server::Impl is private to Server; connections need this).
struct ServerState : public Loop::Owner {
  ServerState(Loop& l, Handler h, ServerOptions o) : loop(l), handler(std::move(h)), options(o), read_buf(64 * 1024) {
    loop.Register(this);
  }
  ~ServerState() {
    CloseHandles();
    loop.Unregister(this);
  }
  void CloseHandles() override;
  void Accept(uv_stream_t* server);
  void ArmSweep();
  void Sweep();

  Loop& loop;
  Handler handler;
  ServerOptions options;
  SslCtxPtr ctx;
  bool ask_client_cert = false;
  std::vector<uv_tcp_t*> listeners;
  int port = 0;
  std::vector<char> read_buf;
  std::unordered_set<Conn*> conns;
  uv_timer_t* sweep = nullptr;
  internal::DateCache date;
};

}  // namespace internal
using internal::ServerState;

struct Server::Impl : ServerState {
  using ServerState::ServerState;
};

namespace {

class Response;

// One accepted connection: parses requests with llhttp, one at a time.
class Conn final : public Transport {
 public:
  Conn(ServerState* server)
      : Transport(server->loop.raw(), server->ctx.get(), true, &server->read_buf), server_(server) {
    llhttp_settings_init(&settings_);
    settings_.on_message_begin = [](llhttp_t* p) { return Self(p)->OnMessageBegin(); };
    settings_.on_url = [](llhttp_t* p, const char* at, size_t n) {
      Self(p)->target_.append(at, n);
      return 0;
    };
    settings_.on_header_field = [](llhttp_t* p, const char* at, size_t n) { return Self(p)->OnHeaderField(at, n); };
    settings_.on_header_value = [](llhttp_t* p, const char* at, size_t n) {
      Self(p)->value_.append(at, n);
      Self(p)->header_bytes_ += n;
      return 0;
    };
    settings_.on_header_value_complete = [](llhttp_t* p) {
      Self(p)->FinishHeader();
      return 0;
    };
    settings_.on_headers_complete = [](llhttp_t* p) { return Self(p)->OnHeadersComplete(); };
    settings_.on_body = [](llhttp_t* p, const char* at, size_t n) { return Self(p)->OnBody(at, n); };
    settings_.on_message_complete = [](llhttp_t* p) {
      Self(p)->request_ready_ = true;
      return static_cast<int>(HPE_PAUSED);
    };
    llhttp_init(&parser_, HTTP_REQUEST, &settings_);
    parser_.data = this;
    last_active_ = uv_now(server->loop.raw());
  }

  void Accepted() {
    uv_tcp_nodelay(tcp(), 1);
    sockaddr_storage ss;
    int len = sizeof(ss);
    if (uv_tcp_getpeername(tcp(), reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
      remote_ = internal::FormatAddress(reinterpret_cast<sockaddr*>(&ss));
    }
    Start();
  }

  bool Idle(uint64_t now, uint64_t timeout) const {
    return !response_ && !switched_ && now - last_active_ >= timeout;
  }
  bool upgrade_requested() const { return upgrade_requested_; }
  // The response was a 101: from now on the connection is the returned byte stream's.
  ByteStreamPtr SwitchProtocols(std::string head);

  // Called by the Response.
  void WriteOut(std::string head, std::string body) { Write(std::move(head), std::move(body)); }
  void ResponseEnded(bool keep_alive);
  const std::string& Date() { return server_->date.Get(); }

 protected:
  void OnEstablished() override;
  void OnReadable() override {
    if (server_) last_active_ = uv_now(server_->loop.raw());
    if (switched_) {
      ForwardToStream();
      return;
    }
    ProcessInput();
  }
  void OnClosed(const Status& why) override;

 private:
  static Conn* Self(llhttp_t* p) { return static_cast<Conn*>(p->data); }

  int OnMessageBegin() {
    req_ = Request();
    target_.clear();
    field_.clear();
    value_.clear();
    header_bytes_ = 0;
    too_large_ = false;
    return 0;
  }
  int OnHeaderField(const char* at, size_t n) {
    field_.append(at, n);
    header_bytes_ += n;
    if (header_bytes_ > kMaxHeaderBytes) return -1;
    return 0;
  }
  void FinishHeader() {
    for (char& c : field_) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    req_.headers.emplace_back(std::move(field_), std::move(value_));
    field_.clear();
    value_.clear();
  }
  int OnHeadersComplete();
  int OnBody(const char* at, size_t n) {
    if (server_ == nullptr) return -1;  // closed meanwhile
    if (req_.body.size() + n > server_->options.max_body_bytes) {
      too_large_ = true;
      return -1;
    }
    req_.body.append(at, n);
    return 0;
  }
  void ProcessInput();
  void Dispatch();
  void SendError(int status, const std::string& content_type, std::string body);

  static constexpr size_t kMaxHeaderBytes = 1 << 20;

  ServerState* server_;  // null once closed
  llhttp_settings_t settings_;
  llhttp_t parser_;
  Request req_;
  std::string target_, field_, value_;
  size_t header_bytes_ = 0;
  bool too_large_ = false;
  bool request_ready_ = false;
  bool processing_ = false;
  bool keep_alive_ = true;
  uint64_t last_active_ = 0;
  std::string remote_;
  PeerCert peer_;
  std::shared_ptr<Response> response_;  // the response in flight
  bool upgrade_requested_ = false;       // the request in flight asked for a protocol switch
  bool switched_ = false;                // a 101 was sent: the bytes belong to upgraded_
  internal::UpgradedStream* upgraded_ = nullptr;

  void ForwardToStream() { internal::ForwardUnparsed(upgraded_, &in_, &in_off_); }
};

class Response final : public ResponseWriter {
 public:
  Response(Conn* conn, bool head, bool keep_alive) : conn_(conn), head_(head), keep_alive_(keep_alive) {}

  void Send(int status, const Headers& headers, std::string body) override {
    if (conn_ == nullptr || started_) return;
    started_ = true;
    ended_ = true;
    bool no_body = status == 204 || status == 304 || (status >= 100 && status < 200);
    std::string head = StatusLine(status, headers);
    if (!no_body) {
      head += "Content-Length: ";
      head += std::to_string(body.size());
      head += "\r\n";
    }
    head += "\r\n";
    if (head_ || no_body) body.clear();
    Conn* c = conn_;
    conn_ = nullptr;
    auto drop = std::move(on_close_);
    on_close_ = nullptr;
    c->WriteOut(std::move(head), std::move(body));
    c->ResponseEnded(keep_alive_);
  }

  void StartStream(int status, const Headers& headers) override {
    if (conn_ == nullptr || started_) return;
    started_ = true;
    std::string head = StatusLine(status, headers);
    head += "Transfer-Encoding: chunked\r\n\r\n";
    conn_->WriteOut(std::move(head), std::string());
  }

  bool Write(std::string_view data) override {
    if (conn_ == nullptr || !started_ || ended_) return false;
    if (data.empty()) return true;  // an empty chunk would end the stream
    char size[24];
    int n = snprintf(size, sizeof(size), "%zx\r\n", data.size());
    std::string head(size, static_cast<size_t>(n));
    if (data.size() <= 16 * 1024) {
      head.append(data);
      head += "\r\n";
      conn_->WriteOut(std::move(head), std::string());
    } else {
      std::string body;
      body.reserve(data.size() + 2);
      body.append(data);
      body += "\r\n";
      conn_->WriteOut(std::move(head), std::move(body));
    }
    return true;
  }

  void End() override {
    if (conn_ == nullptr || ended_) return;
    if (!started_) {
      Send(200, {}, std::string());
      return;
    }
    ended_ = true;
    Conn* c = conn_;
    conn_ = nullptr;
    // The response is complete: drop the close callback (it may hold what holds this writer).
    auto drop = std::move(on_close_);
    on_close_ = nullptr;
    c->WriteOut("0\r\n\r\n", std::string());
    c->ResponseEnded(keep_alive_);
  }

  size_t Buffered() const override { return conn_ ? conn_->Buffered() : 0; }

  void OnClose(std::function<void()> fn) override {
    if (conn_ == nullptr && !ended_) {
      if (fn) fn();  // already gone
      return;
    }
    on_close_ = std::move(fn);
  }

  bool closed() const override { return conn_ == nullptr; }

  ByteStreamPtr Upgrade(const Headers& headers) override {
    if (conn_ == nullptr || started_ || !conn_->upgrade_requested()) return nullptr;
    started_ = true;
    ended_ = true;
    std::string head = "HTTP/1.1 101 Switching Protocols\r\n";
    for (const auto& [k, v] : headers) {
      head += k;
      head += ": ";
      head += v;
      head += "\r\n";
    }
    head += "\r\n";
    Conn* c = conn_;
    conn_ = nullptr;
    auto drop = std::move(on_close_);
    on_close_ = nullptr;
    return c->SwitchProtocols(std::move(head));
  }

  // The connection went away.
  void Detach() {
    conn_ = nullptr;
    if (!ended_ && on_close_) {
      auto fn = std::move(on_close_);
      on_close_ = nullptr;
      fn();
    }
    on_close_ = nullptr;
  }

 private:
  std::string StatusLine(int status, const Headers& headers) {
    std::string head;
    head.reserve(256);
    head += "HTTP/1.1 ";
    head += std::to_string(status);
    head += ' ';
    head += internal::StatusText(status);
    head += "\r\n";
    bool has_date = false;
    for (const auto& [k, v] : headers) {
      if (strcasecmp(k.c_str(), "date") == 0) has_date = true;
      // Framing headers are ours to write.
      if (strcasecmp(k.c_str(), "content-length") == 0 || strcasecmp(k.c_str(), "transfer-encoding") == 0 ||
          strcasecmp(k.c_str(), "connection") == 0) {
        continue;
      }
      head += k;
      head += ": ";
      head += v;
      head += "\r\n";
    }
    if (!has_date) {
      head += "Date: ";
      head += conn_->Date();
      head += "\r\n";
    }
    if (!keep_alive_) head += "Connection: close\r\n";
    return head;
  }

  Conn* conn_;
  bool head_;
  bool keep_alive_;
  bool started_ = false;
  bool ended_ = false;
  std::function<void()> on_close_;
};

void Conn::OnEstablished() {
  SSL* s = ssl();
  if (s == nullptr || server_ == nullptr) return;
  if (server_->ask_client_cert) {
    X509* cert = SSL_get0_peer_certificate(s);
    if (cert != nullptr && SSL_get_verify_result(s) == X509_V_OK) {
      peer_.verified = true;
      X509_NAME* name = X509_get_subject_name(cert);
      for (int i = -1; (i = X509_NAME_get_index_by_NID(name, NID_commonName, i)) >= 0;) {
        peer_.common_name = internal::X509EntryText(X509_NAME_get_entry(name, i));
      }
      for (int i = -1; (i = X509_NAME_get_index_by_NID(name, NID_organizationName, i)) >= 0;) {
        peer_.organizations.push_back(internal::X509EntryText(X509_NAME_get_entry(name, i)));
      }
    }
  }
}

int Conn::OnHeadersComplete() {
  if (server_ == nullptr) return -1;
  if (!field_.empty() || !value_.empty()) FinishHeader();
  uint64_t cl = parser_.content_length;
  if ((parser_.flags & F_CONTENT_LENGTH) && cl > server_->options.max_body_bytes) {
    too_large_ = true;
    return -1;
  }
  // An Upgrade request (WebSocket, SPDY) is served as a plain request whose connection closes
  // after the response: protocol switching is not supported yet.
  keep_alive_ = llhttp_should_keep_alive(&parser_) && !parser_.upgrade;
  upgrade_requested_ = parser_.upgrade && parser_.method != HTTP_CONNECT;
  req_.upgrade = upgrade_requested_;
  if (parser_.http_major == 1 && parser_.http_minor >= 1) {
    const std::string* expect = req_.Header("expect");
    if (expect != nullptr && strcasecmp(expect->c_str(), "100-continue") == 0) {
      Write("HTTP/1.1 100 Continue\r\n\r\n");
    }
  }
  if (parser_.flags & F_CONTENT_LENGTH) req_.body.reserve(cl);
  return 0;
}

void Conn::ProcessInput() {
  if (processing_) return;
  processing_ = true;
  while (!closed() && !response_ && !switched_ && in_off_ < in_.size()) {
    const char* start = in_.data() + in_off_;
    size_t n = in_.size() - in_off_;
    llhttp_errno_t err = llhttp_execute(&parser_, start, n);
    if (err == HPE_OK) {
      in_off_ = in_.size();
      break;
    }
    if (err == HPE_PAUSED) {
      in_off_ += static_cast<size_t>(llhttp_get_error_pos(&parser_) - start);
      llhttp_resume(&parser_);
      if (request_ready_) {
        request_ready_ = false;
        Dispatch();
      }
      continue;
    }
    if (closed()) break;
    if (too_large_) {
      char msg[256];
      snprintf(msg, sizeof(msg),
               "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
               "\"message\":\"Request entity too large: limit is %zu\",\"reason\":\"RequestEntityTooLarge\","
               "\"code\":413}\n",
               server_->options.max_body_bytes);
      SendError(413, "application/json", msg);
    } else if (err == HPE_PAUSED_UPGRADE) {
      SendError(501, "text/plain; charset=utf-8", "protocol upgrade is not supported\n");
    } else {
      SendError(400, "text/plain; charset=utf-8", std::string("400 Bad Request: ") + llhttp_errno_name(err) + "\n");
    }
    break;
  }
  if (switched_) {
    processing_ = false;
    ForwardToStream();
    return;
  }
  CompactInput();
  // Pipelined input piles up only to a point while a response is in flight; reading goes on
  // below that so that a peer hanging up is still seen (watchers).
  if (!closed()) {
    if (in_.size() - in_off_ > server_->options.max_body_bytes + (1 << 20)) {
      PauseReading();
    } else {
      ResumeReading();
    }
  }
  processing_ = false;
}

void Conn::SendError(int status, const std::string& content_type, std::string body) {
  keep_alive_ = false;
  std::string head = "HTTP/1.1 " + std::to_string(status) + " " + internal::StatusText(status) +
                     "\r\nContent-Type: " + content_type + "\r\nContent-Length: " + std::to_string(body.size()) +
                     "\r\nDate: " + Date() + "\r\nConnection: close\r\n\r\n";
  Write(std::move(head), std::move(body));
  CloseAfterFlush(/*linger=*/true);
}

void Conn::Dispatch() {
  if (server_ == nullptr) return;  // closed while parsing
  req_.target = std::move(target_);
  size_t q = req_.target.find('?');
  if (q == std::string::npos) {
    req_.path = PercentDecode(req_.target, false);
  } else {
    req_.path = PercentDecode(std::string_view(req_.target).substr(0, q), false);
    req_.query = req_.target.substr(q + 1);
  }
  req_.method = llhttp_method_name(static_cast<llhttp_method_t>(parser_.method));
  req_.peer = peer_;
  req_.remote_address = remote_;
  response_ = std::make_shared<Response>(this, req_.method == "HEAD", keep_alive_);
  ResponseWriterPtr w = response_;
  Request req = std::move(req_);
  server_->handler(req, std::move(w));
}

void Conn::ResponseEnded(bool keep_alive) {
  response_.reset();
  if (server_) last_active_ = uv_now(server_->loop.raw());
  if (!keep_alive) {
    CloseAfterFlush();
    return;
  }
  // A response ended inside the handler is picked up by the ProcessInput loop that called it.
  if (!processing_) ProcessInput();
}

ByteStreamPtr Conn::SwitchProtocols(std::string head) {
  Write(std::move(head));
  response_.reset();
  switched_ = true;
  auto stream = std::make_unique<internal::UpgradedStream>(this, remote_);
  upgraded_ = stream.get();
  stream->on_destroy = [this]() { upgraded_ = nullptr; };
  ResumeReading();
  // Bytes behind the request (the peer did not wait for the 101) go to the stream, unless
  // the parser is still working through them (then ProcessInput forwards them).
  if (!processing_) ForwardToStream();
  return stream;
}

void Conn::OnClosed(const Status& why) {
  if (server_ != nullptr) {
    server_->conns.erase(this);
    server_ = nullptr;
  }
  if (upgraded_ != nullptr) {
    auto* s = upgraded_;
    upgraded_ = nullptr;
    s->OnTransportClosed(why);
  }
  if (response_) {
    auto r = std::move(response_);
    r->Detach();
  }
}

}  // namespace

void ServerState::CloseHandles() {
  for (uv_tcp_t* l : listeners) internal::CloseAndDelete(l);
  listeners.clear();
  internal::CloseAndDelete(sweep);
  sweep = nullptr;
  std::vector<Conn*> all(conns.begin(), conns.end());
  for (Conn* c : all) c->Close(Status::Unavailable("server closed"));
  conns.clear();
}

void ServerState::Accept(uv_stream_t* listener) {
  auto* conn = new Conn(this);
  if (uv_accept(listener, reinterpret_cast<uv_stream_t*>(conn->tcp())) != 0) {
    conn->Close(Status::Unavailable("accept failed"));
    return;
  }
  conns.insert(conn);
  ArmSweep();
  conn->Accepted();
}

void ServerState::ArmSweep() {
  if (sweep != nullptr || options.idle_timeout_ms == 0) return;
  sweep = new uv_timer_t;
  uv_timer_init(loop.raw(), sweep);
  sweep->data = this;
  uint64_t every = std::max<uint64_t>(options.idle_timeout_ms / 4, 1);
  uv_timer_start(
      sweep,
      [](uv_timer_t* t) {
        if (auto* self = static_cast<ServerState*>(t->data)) self->Sweep();
      },
      every, every);
}

void ServerState::Sweep() {
  uint64_t now = uv_now(loop.raw());
  std::vector<Conn*> idle;
  for (Conn* c : conns) {
    if (c->Idle(now, options.idle_timeout_ms)) idle.push_back(c);
  }
  for (Conn* c : idle) c->Close(Status::Timeout("idle"));
  if (conns.empty()) {  // idle means idle: no timer without connections
    internal::CloseAndDelete(sweep);
    sweep = nullptr;
  }
}

Server::Server(Loop& loop, Handler handler, ServerOptions options)
    : impl_(std::make_unique<Impl>(loop, std::move(handler), options)) {}

Server::~Server() = default;

Status Server::ConfigureTls(const TlsFiles& files) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) return Status::Internal("SSL_CTX_new: " + SslErrors());
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_num_tickets(ctx.get(), 0);
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), files.cert_file.c_str()) != 1) {
    return Status::Invalid("loading certificate " + files.cert_file + ": " + SslErrors());
  }
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), files.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    return Status::Invalid("loading key " + files.key_file + ": " + SslErrors());
  }
  if (SSL_CTX_check_private_key(ctx.get()) != 1) {
    return Status::Invalid("key " + files.key_file + " does not match " + files.cert_file);
  }
  impl_->ask_client_cert = !files.client_ca_file.empty();
  if (impl_->ask_client_cert) {
    if (SSL_CTX_load_verify_locations(ctx.get(), files.client_ca_file.c_str(), nullptr) != 1) {
      return Status::Invalid("loading client CA " + files.client_ca_file + ": " + SslErrors());
    }
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(files.client_ca_file.c_str());
    if (names != nullptr) SSL_CTX_set_client_CA_list(ctx.get(), names);
    // Ask for a certificate but accept the handshake whatever comes: as kube-apiserver
    // (tls.RequestClientCert), an absent or unverifiable certificate leaves the request to the
    // other authenticators. PeerCert.verified tells whether it chained to the client CA.
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, [](int, X509_STORE_CTX*) { return 1; });
  }
  SSL_CTX_set_alpn_select_cb(
      ctx.get(),
      [](SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned inlen,
         void*) -> int {
        static const unsigned char kHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
        unsigned char* sel = nullptr;
        if (SSL_select_next_proto(&sel, outlen, kHttp11, sizeof(kHttp11), in, inlen) == OPENSSL_NPN_NEGOTIATED) {
          *out = sel;
          return SSL_TLSEXT_ERR_OK;
        }
        return SSL_TLSEXT_ERR_NOACK;
      },
      nullptr);
  impl_->ctx = std::move(ctx);
  ERR_clear_error();
  return Status::OK();
}

Status Server::Listen(const std::string& address, int port) {
  sockaddr_storage ss;
  int rc;
  if (address.find(':') != std::string::npos) {
    rc = uv_ip6_addr(address.c_str(), port, reinterpret_cast<sockaddr_in6*>(&ss));
  } else {
    rc = uv_ip4_addr(address.c_str(), port, reinterpret_cast<sockaddr_in*>(&ss));
  }
  if (rc != 0) return Status::Invalid("invalid listen address " + address);
  auto* tcp = new uv_tcp_t;
  uv_tcp_init(impl_->loop.raw(), tcp);
  tcp->data = static_cast<ServerState*>(impl_.get());
  rc = uv_tcp_bind(tcp, reinterpret_cast<sockaddr*>(&ss), 0);
  if (rc == 0) {
    rc = uv_listen(reinterpret_cast<uv_stream_t*>(tcp), 511, [](uv_stream_t* s, int status) {
      auto* self = static_cast<ServerState*>(s->data);
      if (self == nullptr || status < 0) return;
      self->Accept(s);
    });
  }
  if (rc != 0) {
    internal::CloseAndDelete(tcp);
    return internal::UvError(rc, "listen on " + internal::JoinHostPort(address, port));
  }
  sockaddr_storage bound;
  int len = sizeof(bound);
  uv_tcp_getsockname(tcp, reinterpret_cast<sockaddr*>(&bound), &len);
  int p = bound.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                                      : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  if (impl_->listeners.empty()) impl_->port = p;
  impl_->listeners.push_back(tcp);
  MINIK_LOG(Info) << "listening on " << internal::JoinHostPort(address, p) << (impl_->ctx ? " (TLS)" : "");
  return Status::OK();
}

int Server::port() const { return impl_->port; }

void Server::Close() { impl_->CloseHandles(); }

}  // namespace minik::http
