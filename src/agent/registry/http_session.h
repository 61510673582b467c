// Internal to the puller: blocking HTTP requests for one pull, over a private http::Loop that
// runs on its own thread for the session's lifetime (so keep-alive connections survive between
// requests and the calling WorkPool thread can write straight-line code).
//
// Threading: Do() and Download() may be called from any thread but the session's loop thread,
// concurrently (several blob downloads at once). Destroy the session from a non-loop thread.
#pragma once

#include <openssl/evp.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "agent/registry/registries_config.h"
#include "common/status.h"
#include "http/client.h"
#include "http/loop.h"

namespace minik::agent::registry::internal {

// An absolute http(s) URL.
struct Url {
  std::string scheme;  // "http" or "https"
  std::string host;    // "host" or "host:port" (as written, IPv6 in brackets)
  std::string target;  // path and query, starting with '/'

  static std::optional<Url> Parse(std::string_view s);
  std::string String() const { return scheme + "://" + host + target; }
  // A Location header resolved against this URL.
  std::optional<Url> Resolve(std::string_view location) const;
  std::string Hostname() const;  // without port or brackets
  int Port() const;              // explicit or the scheme's default
};

// Where a download's body goes, hashed on the way (SHA-256).
class BlobSink {
 public:
  explicit BlobSink(int fd);
  ~BlobSink();
  BlobSink(const BlobSink&) = delete;
  BlobSink& operator=(const BlobSink&) = delete;
  // Called on the loop thread with each piece of a 2xx body.
  bool Write(std::string_view data);
  // Restart (another attempt after a failed one): truncate and reset the hash.
  void Reset();
  int64_t size() const { return size_; }
  std::string Digest();  // "sha256:<hex>" of what was written
  const Status& error() const { return error_; }

 private:
  int fd_;
  EVP_MD_CTX* ctx_;
  int64_t size_ = 0;
  Status error_;
};

std::string Sha256Digest(std::string_view data);

struct SessionOptions {
  uint64_t connect_timeout_ms = 10000;
  // A request whose response makes no progress for this long fails with Timeout (containerd's
  // image_pull_progress_timeout).
  uint64_t progress_timeout_ms = 5 * 60 * 1000;
  std::string user_agent = "minik";
};

class HttpSession {
 public:
  explicit HttpSession(SessionOptions options);
  ~HttpSession();
  HttpSession(const HttpSession&) = delete;
  HttpSession& operator=(const HttpSession&) = delete;

  // One request; no redirects followed. With a sink, a 2xx body is streamed into it and the
  // returned body is empty; any other body is kept (up to max_body bytes, then TooLarge).
  // Errors are transport failures (connect, TLS, timeout), not HTTP statuses.
  StatusOr<http::Response> Do(const Url& url, const TlsConfig* tls, const std::string& method, http::Headers headers,
                              std::string body, BlobSink* sink, size_t max_body);

 private:
  struct Shared;
  StatusOr<http::Client*> ClientFor(const Url& url, const TlsConfig* tls);  // loop thread
  SessionOptions options_;
  std::unique_ptr<http::Loop> loop_;
  std::thread thread_;
  std::map<std::string, http::ClientPtr> clients_;  // loop thread only
};

}  // namespace minik::agent::registry::internal
