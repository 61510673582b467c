// HTTP/1.1 over TLS on libuv + llhttp + OpenSSL.
//
// Threading: everything here runs on the Loop's thread. A handler may answer at once or keep
// the ResponseWriter and answer later from the loop thread (after a store write, say).
// Requests on one connection are answered in order: the next request on a connection is read
// only once the previous response has ended (keep-alive, no pipelining).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "http/loop.h"
#include "http/upgrade.h"

namespace minik::http {

// Who the peer is, from its verified TLS client certificate.
struct PeerCert {
  bool verified = false;             // a client certificate was sent and chains to the client CA
  std::string common_name;           // subject CN
  std::vector<std::string> organizations;  // subject O entries
};

struct Request {
  std::string method;   // "GET", "POST", ...
  std::string target;   // raw request target, e.g. "/api/v1/pods?limit=5"
  std::string path;     // percent-decoded path without the query
  std::string query;    // raw query string without '?'
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  PeerCert peer;
  std::string remote_address;
  // The request asks for a protocol switch (Connection: Upgrade with an Upgrade header); the
  // handler may answer with ResponseWriter::Upgrade() or with an ordinary response.
  bool upgrade = false;

  // The first header with this (lower-case) name, or nullptr.
  const std::string* Header(std::string_view lower_name) const;
};

// Decodes "a=1&b=x%20y" into pairs (later duplicates kept, in order).
std::vector<std::pair<std::string, std::string>> ParseQuery(std::string_view query);
std::string PercentDecode(std::string_view s, bool plus_as_space);

class ResponseWriter {
 public:
  virtual ~ResponseWriter() = default;
  using Headers = std::vector<std::pair<std::string, std::string>>;

  // A complete response with Content-Length.
  virtual void Send(int status, const Headers& headers, std::string body) = 0;
  // A streamed response with Transfer-Encoding: chunked; then Write(), then End().
  virtual void StartStream(int status, const Headers& headers) = 0;
  // Queues one chunk; false if the connection is gone.
  virtual bool Write(std::string_view data) = 0;
  virtual void End() = 0;
  // Bytes queued but not yet written to the socket (for back-pressure of slow watchers).
  virtual size_t Buffered() const = 0;
  // fn runs once if the peer disconnects before the response ended.
  virtual void OnClose(std::function<void()> fn) = 0;
  virtual bool closed() const = 0;
  // For a request with `upgrade` set: writes "101 Switching Protocols" with these headers
  // (Connection and Upgrade included: the caller writes them) and hands over the connection
  // as a raw byte stream. nullptr when the request was not an upgrade, a response was already
  // started, the connection is gone, or the writer cannot switch protocols.
  virtual ByteStreamPtr Upgrade(const Headers& headers) {
    (void)headers;
    return nullptr;
  }
};
using ResponseWriterPtr = std::shared_ptr<ResponseWriter>;

using Handler = std::function<void(Request& req, ResponseWriterPtr resp)>;

struct TlsFiles {
  std::string cert_file;       // PEM serving certificate (chain)
  std::string key_file;        // PEM private key
  std::string client_ca_file;  // PEM CA that client certificates must chain to ("" = none asked)
};

struct ServerOptions {
  size_t max_body_bytes = 3 * 1024 * 1024;  // larger bodies get 413
  uint64_t idle_timeout_ms = 120000;        // keep-alive connections idle this long are closed
};

class Server {
 public:
  Server(Loop& loop, Handler handler, ServerOptions options = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  Status ConfigureTls(const TlsFiles& files);
  // Binds and listens; port 0 picks a free port (see port()).
  Status Listen(const std::string& address, int port);
  int port() const;
  // Stops accepting and closes every connection.
  void Close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace minik::http
