#include "agent/registry/http_session.h"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <strings.h>
#include <future>

namespace minik::agent::registry::internal {

namespace {

std::string Hex(const unsigned char* p, size_t n) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    out += kHex[p[i] >> 4];
    out += kHex[p[i] & 15];
  }
  return out;
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Url

std::optional<Url> Url::Parse(std::string_view s) {
  size_t sep = s.find("://");
  if (sep == std::string_view::npos) return std::nullopt;
  Url u;
  u.scheme = std::string(s.substr(0, sep));
  for (char& c : u.scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (u.scheme != "http" && u.scheme != "https") return std::nullopt;
  std::string_view rest = s.substr(sep + 3);
  size_t end = rest.find_first_of("/?#");
  u.host = std::string(rest.substr(0, end));
  if (size_t at = u.host.rfind('@'); at != std::string::npos) u.host = u.host.substr(at + 1);
  if (u.host.empty()) return std::nullopt;
  std::string_view target = end == std::string_view::npos ? std::string_view() : rest.substr(end);
  if (size_t hash = target.find('#'); hash != std::string_view::npos) target = target.substr(0, hash);
  u.target = std::string(target);
  if (u.target.empty() || u.target[0] == '?') u.target = "/" + u.target;
  return u;
}

std::optional<Url> Url::Resolve(std::string_view location) const {
  if (location.find("://") != std::string_view::npos) return Parse(location);
  Url u = *this;
  if (location.rfind("//", 0) == 0) return Parse(scheme + ":" + std::string(location));
  if (!location.empty() && location[0] == '/') {
    u.target = std::string(location);
    return u;
  }
  // Relative to the current path's directory.
  std::string path = target.substr(0, target.find('?'));
  size_t slash = path.rfind('/');
  u.target = path.substr(0, slash + 1) + std::string(location);
  return u;
}

std::string Url::Hostname() const {
  if (!host.empty() && host[0] == '[') return host.substr(1, host.find(']') - 1);
  size_t colon = host.rfind(':');
  if (colon != std::string::npos && host.find(':') == colon) return host.substr(0, colon);
  return host;
}

int Url::Port() const {
  std::string p;
  if (!host.empty() && host[0] == '[') {
    size_t close = host.find(']');
    if (close + 1 < host.size() && host[close + 1] == ':') p = host.substr(close + 2);
  } else if (size_t colon = host.rfind(':'); colon != std::string::npos && host.find(':') == colon) {
    p = host.substr(colon + 1);
  }
  if (!p.empty()) return std::atoi(p.c_str());
  return scheme == "https" ? 443 : 80;
}

// ---------------------------------------------------------------------------------------------
// BlobSink

BlobSink::BlobSink(int fd) : fd_(fd), ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr); }

BlobSink::~BlobSink() { EVP_MD_CTX_free(ctx_); }

bool BlobSink::Write(std::string_view data) {
  if (!error_.ok()) return false;
  EVP_DigestUpdate(ctx_, data.data(), data.size());
  size_ += static_cast<int64_t>(data.size());
  while (!data.empty()) {
    ssize_t n = ::write(fd_, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      error_ = Status::Internal(std::string("write: ") + std::strerror(errno));
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

void BlobSink::Reset() {
  if (::ftruncate(fd_, 0) != 0 || ::lseek(fd_, 0, SEEK_SET) != 0) {
    error_ = Status::Internal(std::string("truncate: ") + std::strerror(errno));
  }
  EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr);
  size_ = 0;
}

std::string BlobSink::Digest() {
  EVP_MD_CTX* copy = EVP_MD_CTX_new();
  EVP_MD_CTX_copy_ex(copy, ctx_);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(copy, md, &len);
  EVP_MD_CTX_free(copy);
  return "sha256:" + Hex(md, len);
}

std::string Sha256Digest(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  return "sha256:" + Hex(md, len);
}

// ---------------------------------------------------------------------------------------------
// HttpSession

// One request in flight; touched on the loop thread only (the promise hands the result over).
struct HttpSession::Shared {
  std::promise<StatusOr<http::Response>> promise;
  http::Response response;
  http::HandlePtr stream;
  http::HandlePtr timer;
  BlobSink* sink = nullptr;
  bool sinking = false;
  bool done = false;
  size_t max_body = 0;
  int64_t last_activity_ms = 0;

  // Callers hold a strong reference: the waiting thread may drop its own once the promise is set.
  void Finish(StatusOr<http::Response> result) {
    if (done) return;
    done = true;
    // Destroying a handle from inside its own callback is allowed; no callback runs after.
    http::HandlePtr s = std::move(stream), t = std::move(timer);
    promise.set_value(std::move(result));
  }
};

HttpSession::HttpSession(SessionOptions options)
    : options_(std::move(options)), loop_(std::make_unique<http::Loop>()) {
  thread_ = std::thread([this] { loop_->Run(); });
}

HttpSession::~HttpSession() {
  loop_->Post([this] {
    clients_.clear();
    loop_->Stop();
  });
  thread_.join();
  loop_.reset();
}

StatusOr<http::Client*> HttpSession::ClientFor(const Url& url, const TlsConfig* tls) {
  std::string key = url.scheme + "://" + url.host;
  if (url.scheme == "https" && tls != nullptr) {
    key += "|" + tls->ca_file + "|" + tls->cert_file + "|" + tls->key_file + (tls->insecure_skip_verify ? "|k" : "|v");
  }
  auto it = clients_.find(key);
  if (it != clients_.end()) return it->second.get();
  http::ClientOptions o;
  o.host = url.Hostname();
  o.port = url.Port();
  o.tls = url.scheme == "https";
  o.connect_timeout_ms = options_.connect_timeout_ms;
  o.max_connections = 4;
  if (o.tls && tls != nullptr) {
    o.ca_file = tls->ca_file;
    o.cert_file = tls->cert_file;
    o.key_file = tls->key_file;
    o.insecure_skip_verify = tls->insecure_skip_verify;
  }
  auto client = http::Client::Create(*loop_, std::move(o));
  if (!client.ok()) return client.status();
  http::Client* raw = client->get();
  clients_.emplace(key, std::move(*client));
  return raw;
}

StatusOr<http::Response> HttpSession::Do(const Url& url, const TlsConfig* tls, const std::string& method,
                                         http::Headers headers, std::string body, BlobSink* sink, size_t max_body) {
  auto shared = std::make_shared<Shared>();
  shared->sink = sink;
  shared->max_body = max_body;
  auto future = shared->promise.get_future();
  bool has_ua = false;
  for (const auto& [k, v] : headers) {
    if (strcasecmp(k.c_str(), "user-agent") == 0) has_ua = true;
  }
  if (!has_ua && !options_.user_agent.empty()) headers.emplace_back("User-Agent", options_.user_agent);
  loop_->Post([this, shared, url, tls_copy = tls ? std::optional<TlsConfig>(*tls) : std::nullopt, method,
               headers = std::move(headers), body = std::move(body)]() mutable {
    auto client = ClientFor(url, tls_copy ? &*tls_copy : nullptr);
    if (!client.ok()) {
      shared->Finish(client.status());
      return;
    }
    shared->last_activity_ms = NowMs();
    std::weak_ptr<Shared> weak = shared;
    http::StreamCallbacks cbs;
    cbs.on_response = [weak](const http::Response& r) {
      auto s = weak.lock();
      if (!s || s->done) return;
      s->last_activity_ms = NowMs();
      s->response.status = r.status;
      s->response.headers = r.headers;
      s->sinking = s->sink != nullptr && r.status >= 200 && r.status < 300;
    };
    cbs.on_data = [weak](std::string_view data) {
      auto s = weak.lock();
      if (!s || s->done) return;
      s->last_activity_ms = NowMs();
      if (s->sinking) {
        if (!s->sink->Write(data)) s->Finish(s->sink->error());
        return;
      }
      if (s->response.body.size() + data.size() > s->max_body) {
        s->Finish(Status::TooLarge("response body larger than " + std::to_string(s->max_body) + " bytes"));
        return;
      }
      s->response.body.append(data);
    };
    cbs.on_done = [weak](Status st) {
      auto s = weak.lock();
      if (!s || s->done) return;
      if (!st.ok()) {
        s->Finish(std::move(st));
        return;
      }
      s->Finish(std::move(s->response));
    };
    // The stream handle keeps the callbacks; they hold the state weakly (the waiting caller owns
    // it), so no cycle outlives the request.
    http::HandlePtr stream = (*client)->Stream(method, url.target, std::move(headers), std::move(body), std::move(cbs));
    if (shared->done) return;
    shared->stream = std::move(stream);
    if (!shared->done && options_.progress_timeout_ms > 0) {
      uint64_t period = std::min<uint64_t>(options_.progress_timeout_ms, 1000);
      uint64_t timeout = options_.progress_timeout_ms;
      shared->timer = loop_->AddTimer(period, period, [weak, timeout] {
        auto s = weak.lock();
        if (!s || s->done) return;
        if (NowMs() - s->last_activity_ms >= static_cast<int64_t>(timeout)) {
          s->Finish(Status::Timeout("no progress in " + std::to_string(timeout / 1000.0).substr(0, 5) + "s"));
        }
      });
    }
  });
  return future.get();
}

}  // namespace minik::agent::registry::internal
