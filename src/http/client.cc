#include "http/client.h"

#include <llhttp.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <strings.h>
#include <uv.h>

#include <algorithm>
#include <deque>

#include "common/log.h"
#include "http/http_util.h"
#include "http/transport.h"
#include "http/upgrade_internal.h"
#include "http/uv_util.h"

namespace minik::http {

using internal::SslCtxPtr;
using internal::SslErrors;
using internal::Transport;

const std::string* Response::Header(std::string_view lower_name) const {
  return internal::FindHeader(headers, lower_name);
}

namespace {

class ClientConn;

// One request, queued or in flight.
struct Call {
  std::string method, path;
  Headers headers;
  std::string body;
  ResponseCallback cb;     // plain request
  StreamCallbacks stream;  // streamed request
  UpgradeCallback upgrade_cb;  // upgrade request
  bool streaming = false;
  bool upgrade = false;
  bool done = false;  // callbacks ran (or were cancelled)
  bool retried = false;
  ClientConn* conn = nullptr;

  void Fail(const Status& st) {
    if (done) return;
    done = true;
    if (streaming) {
      if (stream.on_done) stream.on_done(st);
    } else if (upgrade) {
      if (upgrade_cb) upgrade_cb(st);
    } else if (cb) {
      cb(st);
    }
  }
};
using CallPtr = std::shared_ptr<Call>;

bool IsIpLiteral(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

}  // namespace

struct Client::Impl {
  Impl(Loop& l, ClientOptions o) : loop(l), options(std::move(o)), read_buf(64 * 1024) {}
  ~Impl();
  Status Init();
  void Enqueue(CallPtr call);
  void Pump();
  void ConnClosed(ClientConn* c);
  // A connection failed before it was usable: when no other one works, fail what waits.
  void ConnectFailed(const Status& why);
  void Resolve();
  // Closes every connection and fails what is queued or in flight (streams included) with why.
  void CloseAll(const Status& why);

  Loop& loop;
  ClientOptions options;
  SslCtxPtr ctx;
  std::vector<char> read_buf;
  std::vector<ClientConn*> conns;
  std::vector<ClientConn*> upgraded;  // switched protocols: owned by their byte streams
  std::deque<CallPtr> queue;
  size_t opened = 0;
  sockaddr_storage addr{};
  bool have_addr = false;
  struct ResolveReq {
    uv_getaddrinfo_t req;
    Impl* impl;
  };
  ResolveReq* resolving = nullptr;
  Status resolve_error;
  std::string host_header;
  bool closing = false;
};

namespace {

class ClientConn final : public Transport {
 public:
  explicit ClientConn(Client::Impl* impl)
      : Transport(impl->loop.raw(), impl->ctx.get(), false, &impl->read_buf), impl_(impl) {
    llhttp_settings_init(&settings_);
    settings_.on_header_field = [](llhttp_t* p, const char* at, size_t n) {
      auto* self = Self(p);
      if (self->in_value_) self->FinishHeader();
      self->field_.append(at, n);
      return 0;
    };
    settings_.on_header_value = [](llhttp_t* p, const char* at, size_t n) {
      auto* self = Self(p);
      self->in_value_ = true;
      self->value_.append(at, n);
      return 0;
    };
    settings_.on_headers_complete = [](llhttp_t* p) { return Self(p)->OnHeadersComplete(); };
    settings_.on_body = [](llhttp_t* p, const char* at, size_t n) { return Self(p)->OnBody(at, n); };
    settings_.on_message_complete = [](llhttp_t* p) {
      Self(p)->message_done_ = true;
      return static_cast<int>(HPE_PAUSED);
    };
  }

  void Connect() {
    if (ssl() != nullptr) {
      const std::string& name = impl_->options.server_name.empty() ? impl_->options.host : impl_->options.server_name;
      if (IsIpLiteral(name)) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl()), name.c_str());
      } else {
        SSL_set1_host(ssl(), name.c_str());
        SSL_set_tlsext_host_name(ssl(), name.c_str());
      }
    }
    connect_req_.data = this;
    int rc = uv_tcp_connect(&connect_req_, tcp(), reinterpret_cast<const sockaddr*>(&impl_->addr),
                            [](uv_connect_t* req, int status) {
                              auto* self = static_cast<ClientConn*>(req->data);
                              self->connecting_ = false;
                              self->StopTimer();
                              if (self->closed()) return;
                              if (status < 0) {
                                self->Close(Status::Unavailable(std::string("connect: ") + uv_strerror(status)));
                                return;
                              }
                              uv_tcp_nodelay(self->tcp(), 1);
                              self->Start();
                            });
    if (rc != 0) {
      connecting_ = false;
      Close(Status::Unavailable(std::string("connect: ") + uv_strerror(rc)));
      return;
    }
    if (impl_->options.connect_timeout_ms > 0) {
      timer_ = new uv_timer_t;
      uv_timer_init(impl_->loop.raw(), timer_);
      timer_->data = this;
      uv_timer_start(
          timer_,
          [](uv_timer_t* t) {
            auto* self = static_cast<ClientConn*>(t->data);
            if (self == nullptr) return;
            self->StopTimer();
            self->Close(Status::Timeout("connect timed out"));
          },
          impl_->options.connect_timeout_ms, 0);
    }
  }

  bool ready() const { return established() && !closed() && !call_; }
  bool busy() const { return call_ != nullptr; }
  bool streaming() const { return call_ != nullptr && call_->streaming && !call_->done; }
  bool connecting() const { return !established() && !closed(); }

  void Assign(CallPtr call) {
    call_ = std::move(call);
    call_->conn = this;
    received_any_ = false;
    message_done_ = false;
    response_ = Response();
    field_.clear();
    value_.clear();
    in_value_ = false;
    llhttp_init(&parser_, HTTP_RESPONSE, &settings_);
    parser_.data = this;
    const ClientOptions& o = impl_->options;
    std::string head;
    head.reserve(256);
    head += call_->method;
    head += ' ';
    head += call_->path;
    head += " HTTP/1.1\r\n";
    bool has_host = false, has_auth = false, has_len = false, has_ua = false;
    for (const auto& [k, v] : call_->headers) {
      if (strcasecmp(k.c_str(), "host") == 0) has_host = true;
      if (strcasecmp(k.c_str(), "authorization") == 0) has_auth = true;
      if (strcasecmp(k.c_str(), "content-length") == 0) has_len = true;
      if (strcasecmp(k.c_str(), "user-agent") == 0) has_ua = true;
      head += k;
      head += ": ";
      head += v;
      head += "\r\n";
    }
    if (!has_host) head += "Host: " + impl_->host_header + "\r\n";
    if (!has_ua) head += "User-Agent: minik\r\n";
    if (!has_auth && !o.bearer_token.empty()) head += "Authorization: Bearer " + o.bearer_token + "\r\n";
    if (!has_len &&
        (!call_->body.empty() || call_->method == "POST" || call_->method == "PUT" || call_->method == "PATCH")) {
      head += "Content-Length: " + std::to_string(call_->body.size()) + "\r\n";
    }
    head += "\r\n";
    ++requests_;
    if (requests_ > 1 && call_->body.size() <= 64 * 1024) {
      Write(std::move(head), call_->body);  // keep the body in case the request must be retried
    } else {
      call_->retried = requests_ > 1;  // a large body is not kept: no retry
      Write(std::move(head), std::move(call_->body));
    }
  }

  // The stream handle went away: drop the call and the connection.
  void Cancel() {
    if (call_) {
      call_->done = true;
      call_->conn = nullptr;
      call_.reset();
    }
    Close(Status::Unavailable("cancelled"));
  }

 protected:
  void OnEstablished() override {
    was_established_ = true;
    ++impl_->opened;
    impl_->Pump();
  }

  void OnReadable() override {
    if (switched_) {
      ForwardToStream();
      return;
    }
    while (!closed() && in_off_ < in_.size()) {
      if (!call_) {
        // Bytes with no request outstanding: the server is misbehaving.
        Close(Status::Internal("unexpected data from server"));
        return;
      }
      received_any_ = true;
      const char* start = in_.data() + in_off_;
      llhttp_errno_t err = llhttp_execute(&parser_, start, in_.size() - in_off_);
      if (closed()) return;
      if (err == HPE_OK) {
        in_off_ = in_.size();
        break;
      }
      if (err == HPE_PAUSED && message_done_) {
        in_off_ += static_cast<size_t>(llhttp_get_error_pos(&parser_) - start);
        Complete();
        if (switched_) return;
        continue;
      }
      if (err == HPE_PAUSED_UPGRADE) {
        in_off_ += static_cast<size_t>(llhttp_get_error_pos(&parser_) - start);
        Complete();
        if (!switched_) in_off_ = in_.size();
        return;
      }
      Fail(Status::Internal(std::string("bad HTTP response: ") + llhttp_errno_name(err) + " " +
                            llhttp_get_error_reason(&parser_)));
      return;
    }
    CompactInput();
  }

  void OnClosed(const Status& why) override {
    StopTimer();
    if (switched_) {
      Client::Impl* impl = impl_;
      impl_ = nullptr;
      if (impl != nullptr) impl->ConnClosed(this);
      if (upgraded_ != nullptr) {
        auto* s = upgraded_;
        upgraded_ = nullptr;
        s->OnTransportClosed(why);
      }
      return;
    }
    CallPtr call = std::move(call_);
    Client::Impl* impl = impl_;
    impl_ = nullptr;
    if (impl != nullptr) impl->ConnClosed(this);
    if (!was_established_ && impl != nullptr) impl->ConnectFailed(why);
    if (call && !call->done) {
      call->conn = nullptr;
      if (received_any_ && !message_done_ && why.code() == Code::kUnavailable && llhttp_finish(&parser_) == HPE_OK &&
          message_done_) {
        // A body delimited by the end of the connection.
        call_ = call;
        Deliver();
        call_.reset();
      } else if (!received_any_ && requests_ > 1 && !call->retried && impl != nullptr) {
        // The server closed an idle keep-alive connection as we reused it: retry once.
        call->retried = true;
        impl->Enqueue(call);
      } else {
        call->Fail(why.ok() ? Status::Unavailable("connection closed") : why);
      }
    }
    if (impl != nullptr) impl->Pump();
  }

 private:
  static ClientConn* Self(llhttp_t* p) { return static_cast<ClientConn*>(p->data); }

  void StopTimer() {
    internal::CloseAndDelete(timer_);
    timer_ = nullptr;
  }

  void FinishHeader() {
    for (char& c : field_) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    response_.headers.emplace_back(std::move(field_), std::move(value_));
    field_.clear();
    value_.clear();
    in_value_ = false;
  }

  int OnHeadersComplete() {
    if (in_value_ || !field_.empty()) FinishHeader();
    response_.status = parser_.status_code;
    if (response_.status >= 100 && response_.status < 200 && response_.status != 101) {
      // 100 Continue and friends: the real response follows.
      response_.headers.clear();
      return 0;
    }
    if (call_->streaming && call_->stream.on_response) {
      CallPtr keep = call_;
      keep->stream.on_response(response_);
      if (closed() || keep->done) return -1;
    }
    return call_->method == "HEAD" ? 1 : 0;
  }

  int OnBody(const char* at, size_t n) {
    if (call_->streaming) {
      if (call_->stream.on_data) {
        CallPtr keep = call_;
        keep->stream.on_data(std::string_view(at, n));
        if (closed() || keep->done) return -1;
      }
    } else {
      response_.body.append(at, n);
    }
    return 0;
  }

  void Deliver() {
    CallPtr call = std::move(call_);
    call->done = true;
    call->conn = nullptr;
    if (call->streaming) {
      if (call->stream.on_done) call->stream.on_done(Status::OK());
    } else if (call->upgrade) {
      UpgradeResult r;
      r.response = std::move(response_);
      if (call->upgrade_cb) call->upgrade_cb(std::move(r));
    } else if (call->cb) {
      call->cb(std::move(response_));
    }
  }

  void ForwardToStream() { internal::ForwardUnparsed(upgraded_, &in_, &in_off_); }

  // A 101 to an Upgrade call: the connection leaves the pool and becomes a byte stream.
  void SwitchProtocols() {
    CallPtr call = std::move(call_);
    call->done = true;
    call->conn = nullptr;
    switched_ = true;
    Client::Impl* impl = impl_;
    impl->ConnClosed(this);
    impl->upgraded.push_back(this);
    auto stream = std::make_unique<internal::UpgradedStream>(this, std::string());
    upgraded_ = stream.get();
    stream->on_destroy = [this]() { upgraded_ = nullptr; };
    ForwardToStream();
    impl->Pump();
    UpgradeResult r;
    r.response = std::move(response_);
    r.stream = std::move(stream);
    if (call->upgrade_cb) call->upgrade_cb(std::move(r));
  }

  void Complete() {
    message_done_ = false;
    if (call_ && call_->upgrade && response_.status == 101) {
      SwitchProtocols();
      return;
    }
    if (response_.status >= 100 && response_.status < 200 && response_.status != 101) {
      llhttp_resume(&parser_);
      return;  // interim response: keep reading for the final one
    }
    bool keep_alive = llhttp_should_keep_alive(&parser_) && response_.status != 101;
    Client::Impl* impl = impl_;
    Deliver();
    if (closed()) return;
    if (!keep_alive) {
      Close(Status::OK());
      return;
    }
    llhttp_resume(&parser_);
    if (impl != nullptr) impl->Pump();
  }

  void Fail(const Status& st) {
    CallPtr call = std::move(call_);
    if (call) {
      call->conn = nullptr;
      call->Fail(st);
    }
    Close(st);
  }

  Client::Impl* impl_;
  uv_connect_t connect_req_;
  uv_timer_t* timer_ = nullptr;
  bool connecting_ = true;
  llhttp_settings_t settings_;
  llhttp_t parser_;
  CallPtr call_;
  Response response_;
  std::string field_, value_;
  bool in_value_ = false;
  bool received_any_ = false;
  bool was_established_ = false;
  bool message_done_ = false;
  int requests_ = 0;
  bool switched_ = false;
  internal::UpgradedStream* upgraded_ = nullptr;
};

// Destroying it cancels the stream.
class StreamHandle final : public Handle {
 public:
  explicit StreamHandle(CallPtr call) : call_(std::move(call)) {}
  ~StreamHandle() override {
    call_->done = true;
    if (call_->conn != nullptr) call_->conn->Cancel();
  }

 private:
  CallPtr call_;
};

}  // namespace

Client::Impl::~Impl() {
  if (resolving != nullptr) resolving->impl = nullptr;
  CloseAll(Status::Unavailable("client closed"));
}

void Client::Impl::CloseAll(const Status& why) {
  closing = true;
  std::deque<CallPtr> pending;
  pending.swap(queue);
  std::vector<ClientConn*> all = conns;
  all.insert(all.end(), upgraded.begin(), upgraded.end());
  for (ClientConn* c : all) c->Close(why);
  conns.clear();
  upgraded.clear();
  for (auto& call : pending) call->Fail(why);
  closing = false;
}

void Client::Impl::ConnClosed(ClientConn* c) {
  conns.erase(std::remove(conns.begin(), conns.end(), c), conns.end());
  upgraded.erase(std::remove(upgraded.begin(), upgraded.end(), c), upgraded.end());
}

void Client::Impl::ConnectFailed(const Status& why) {
  for (ClientConn* c : conns) {
    if (c->established() && !c->closed()) return;
  }
  std::deque<CallPtr> failed;
  failed.swap(queue);
  for (auto& call : failed) call->Fail(why);
}

void Client::Impl::Enqueue(CallPtr call) {
  if (closing) {
    call->Fail(Status::Unavailable("client closed"));
    return;
  }
  queue.push_back(std::move(call));
  Pump();
}

void Client::Impl::Pump() {
  if (closing) return;
  while (!queue.empty()) {
    if (queue.front()->done) {  // a stream cancelled before it started
      queue.pop_front();
      continue;
    }
    ClientConn* idle = nullptr;
    size_t connecting = 0;
    for (ClientConn* c : conns) {
      if (c->ready()) {
        idle = c;
        break;
      }
      if (c->connecting()) ++connecting;
    }
    if (idle != nullptr) {
      CallPtr call = std::move(queue.front());
      queue.pop_front();
      idle->Assign(std::move(call));
      continue;
    }
    if (connecting >= queue.size() || conns.size() >= options.max_connections) return;
    if (!have_addr) {
      if (!resolve_error.ok()) {
        std::deque<CallPtr> failed;
        failed.swap(queue);
        Status st = resolve_error;
        resolve_error = Status::OK();  // try again next time
        for (auto& call : failed) call->Fail(st);
        return;
      }
      Resolve();
      if (!resolve_error.ok()) continue;  // failed at once: fail the queue above
      return;
    }
    auto* c = new ClientConn(this);
    conns.push_back(c);
    c->Connect();
  }
}

void Client::Impl::Resolve() {
  if (resolving != nullptr) return;
  resolving = new ResolveReq;
  resolving->impl = this;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  std::string port = std::to_string(options.port);
  int rc = uv_getaddrinfo(
      loop.raw(), &resolving->req,
      [](uv_getaddrinfo_t* req, int status, addrinfo* res) {
        auto* r = reinterpret_cast<ResolveReq*>(req);
        Impl* impl = r->impl;
        if (impl != nullptr) {
          impl->resolving = nullptr;
          if (status == 0 && res != nullptr) {
            memcpy(&impl->addr, res->ai_addr, res->ai_addrlen);
            impl->have_addr = true;
          } else {
            impl->resolve_error = Status::Unavailable("resolving " + impl->options.host + ": " +
                                                      (status ? uv_strerror(status) : "no address"));
          }
        }
        uv_freeaddrinfo(res);
        delete r;
        if (impl != nullptr) impl->Pump();
      },
      options.host.c_str(), port.c_str(), &hints);
  if (rc != 0) {
    delete resolving;
    resolving = nullptr;
    resolve_error = internal::UvError(rc, "resolving " + options.host);
  }
}

namespace {

Status LoadPemCerts(const std::string& pem, std::vector<X509*>* out) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* x;
  while ((x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) != nullptr) out->push_back(x);
  BIO_free(bio);
  ERR_clear_error();
  if (out->empty()) return Status::Invalid("no PEM certificate found");
  return Status::OK();
}

}  // namespace

Status Client::Impl::Init() {
  host_header =
      options.port == (options.tls ? 443 : 80) ? options.host : internal::JoinHostPort(options.host, options.port);
  if (IsIpLiteral(options.host)) {
    if (options.host.find(':') != std::string::npos) {
      uv_ip6_addr(options.host.c_str(), options.port, reinterpret_cast<sockaddr_in6*>(&addr));
    } else {
      uv_ip4_addr(options.host.c_str(), options.port, reinterpret_cast<sockaddr_in*>(&addr));
    }
    have_addr = true;
  }
  if (!options.tls) return Status::OK();
  ctx.reset(SSL_CTX_new(TLS_client_method()));
  if (!ctx) return Status::Internal("SSL_CTX_new: " + SslErrors());
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS);
  static const unsigned char kAlpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  SSL_CTX_set_alpn_protos(ctx.get(), kAlpn, sizeof(kAlpn));
  if (options.insecure_skip_verify) {
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  } else {
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
    if (!options.ca_file.empty()) {
      if (SSL_CTX_load_verify_locations(ctx.get(), options.ca_file.c_str(), nullptr) != 1) {
        return Status::Invalid("loading CA " + options.ca_file + ": " + SslErrors());
      }
    } else if (!options.ca_pem.empty()) {
      std::vector<X509*> certs;
      MINIK_RETURN_IF_ERROR(LoadPemCerts(options.ca_pem, &certs).WithContext("CA data"));
      X509_STORE* store = SSL_CTX_get_cert_store(ctx.get());
      for (X509* x : certs) {
        X509_STORE_add_cert(store, x);
        X509_free(x);
      }
    } else {
      SSL_CTX_set_default_verify_paths(ctx.get());
    }
  }
  if (!options.cert_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx.get(), options.cert_file.c_str()) != 1) {
      return Status::Invalid("loading client certificate " + options.cert_file + ": " + SslErrors());
    }
  } else if (!options.cert_pem.empty()) {
    std::vector<X509*> certs;
    MINIK_RETURN_IF_ERROR(LoadPemCerts(options.cert_pem, &certs).WithContext("client certificate data"));
    SSL_CTX_use_certificate(ctx.get(), certs[0]);
    X509_free(certs[0]);
    for (size_t i = 1; i < certs.size(); ++i) SSL_CTX_add_extra_chain_cert(ctx.get(), certs[i]);  // takes it
  }
  if (!options.key_file.empty()) {
    if (SSL_CTX_use_PrivateKey_file(ctx.get(), options.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
      return Status::Invalid("loading client key " + options.key_file + ": " + SslErrors());
    }
  } else if (!options.key_pem.empty()) {
    BIO* bio = BIO_new_mem_buf(options.key_pem.data(), static_cast<int>(options.key_pem.size()));
    EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    if (key == nullptr) return Status::Invalid("client key data: " + SslErrors());
    SSL_CTX_use_PrivateKey(ctx.get(), key);
    EVP_PKEY_free(key);
  }
  if ((!options.cert_file.empty() || !options.cert_pem.empty()) && SSL_CTX_check_private_key(ctx.get()) != 1) {
    return Status::Invalid("client key does not match the client certificate");
  }
  ERR_clear_error();
  return Status::OK();
}

StatusOr<std::unique_ptr<Client>> Client::Create(Loop& loop, ClientOptions options) {
  auto impl = std::make_unique<Impl>(loop, std::move(options));
  MINIK_RETURN_IF_ERROR(impl->Init());
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) { impl_->loop.Register(this); }

Client::~Client() {
  impl_->loop.Unregister(this);
  impl_.reset();
}

void Client::Request(std::string method, std::string path, Headers headers, std::string body, ResponseCallback cb) {
  auto call = std::make_shared<Call>();
  call->method = std::move(method);
  call->path = std::move(path);
  call->headers = std::move(headers);
  call->body = std::move(body);
  call->cb = std::move(cb);
  impl_->Enqueue(std::move(call));
}

HandlePtr Client::Stream(std::string method, std::string path, Headers headers, std::string body, StreamCallbacks cbs) {
  auto call = std::make_shared<Call>();
  call->method = std::move(method);
  call->path = std::move(path);
  call->headers = std::move(headers);
  call->body = std::move(body);
  call->stream = std::move(cbs);
  call->streaming = true;
  impl_->Enqueue(call);
  return std::make_unique<StreamHandle>(std::move(call));
}

void Client::Upgrade(std::string method, std::string path, Headers headers, UpgradeCallback cb) {
  auto call = std::make_shared<Call>();
  call->method = std::move(method);
  call->path = std::move(path);
  call->headers = std::move(headers);
  call->upgrade_cb = std::move(cb);
  call->upgrade = true;
  impl_->Enqueue(std::move(call));
}

void Client::CloseHandles() {
  // Called by Loop::Run() as it returns (no libuv handle may outlive Run()): every connection
  // goes, open watch streams included. Say so, since a caller that stops and restarts the loop
  // while holding a stream otherwise sees its watch fall silent with no clue why.
  size_t streams = 0;
  for (const auto& call : impl_->queue) streams += call->streaming && !call->done ? 1 : 0;
  for (ClientConn* c : impl_->conns) streams += c->streaming() ? 1 : 0;
  if (streams > 0) {
    MINIK_LOG(Warning) << "http client: the event loop stopped with " << streams
                       << " stream(s) open; they end now (Loop::Run() closes every connection when it returns)";
  }
  impl_->CloseAll(Status::Unavailable(
      "event loop stopped: Loop::Run() returned and closed the client's connections"));
}

size_t Client::connections() const { return impl_->conns.size(); }
size_t Client::connections_opened() const { return impl_->opened; }

}  // namespace minik::http
