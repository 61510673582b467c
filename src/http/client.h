// An HTTP/1.1 client over TLS on the same Loop as everything else: keep-alive connections to
// one host:port, used by tests, benchmarks and remote agents.
//
// Threading: everything runs on the Loop's thread (create the Client there, or before Run()
// on the thread that will run it). Callbacks run on the loop thread; a callback may destroy the
// Client or the stream handle it belongs to.
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

struct ClientOptions {
  std::string host = "127.0.0.1";  // IP address or name (resolved through getaddrinfo)
  int port = 443;
  bool tls = true;
  std::string ca_file;  // PEM CA the server must chain to ("" = system default paths)
  std::string ca_pem;   // or the CA as PEM text (kubeconfig's certificate-authority-data)
  bool insecure_skip_verify = false;
  std::string server_name;  // name checked against the certificate and sent as SNI ("" = host)
  std::string cert_file;    // optional client certificate (PEM)
  std::string key_file;     // and its key
  std::string cert_pem;     // or both as PEM text
  std::string key_pem;
  std::string bearer_token;    // sent as "Authorization: Bearer ..." unless a request sets it
  size_t max_connections = 4;  // requests beyond this many in flight wait for a free connection
  uint64_t connect_timeout_ms = 10000;
};

struct Response {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  const std::string* Header(std::string_view lower_name) const;
};

using Headers = std::vector<std::pair<std::string, std::string>>;
using ResponseCallback = std::function<void(StatusOr<Response>)>;

// Callbacks of a streamed request (a watch): on_response once with status and headers (body
// empty), then on_data for each piece of body as it arrives, then on_done once with OK at the
// end of the body or the error that cut it short. Not called after the stream handle is gone.
struct StreamCallbacks {
  std::function<void(const Response&)> on_response;
  std::function<void(std::string_view)> on_data;
  std::function<void(Status)> on_done;
};

// The answer to an Upgrade request: the response head, and the connection as a byte stream
// when the server switched protocols (status 101); otherwise stream is null and the response
// carries the server's body.
struct UpgradeResult {
  Response response;
  ByteStreamPtr stream;
};
using UpgradeCallback = std::function<void(StatusOr<UpgradeResult>)>;

class Client : public Loop::Owner {
 public:
  // Loads the TLS material; fails on unreadable or invalid files.
  static StatusOr<std::unique_ptr<Client>> Create(Loop& loop, ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // One request; cb runs exactly once (unless the Client is destroyed first). A Content-Length
  // header is added for a non-empty body, and Host and Authorization when missing.
  void Request(std::string method, std::string path, Headers headers, std::string body, ResponseCallback cb);
  // A streamed request that holds a connection until the body ends or the handle is destroyed
  // (which closes that connection). Like every connection, it does not survive Loop::Run()
  // returning: Run() calls CloseHandles(), and the stream ends with on_done(Unavailable). Keep
  // the loop running for as long as a stream is wanted (do not Stop() and Run() again).
  HandlePtr Stream(std::string method, std::string path, Headers headers, std::string body, StreamCallbacks cbs);
  // A request asking for a protocol switch (the caller sets Connection: Upgrade, Upgrade and
  // any protocol headers); cb runs once. On 101 the connection leaves the pool and belongs to
  // the returned stream; CloseHandles() (and destroying the Client) still closes it.
  void Upgrade(std::string method, std::string path, Headers headers, UpgradeCallback cb);

  // Closes every connection; requests in flight and open streams fail with Unavailable. Loop::Run()
  // calls this as it returns; requests made afterwards open new connections.
  void CloseHandles() override;
  // Connections open now (idle or busy).
  size_t connections() const;
  // Connections opened since creation (to check keep-alive reuse).
  size_t connections_opened() const;

  struct Impl;

 private:
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};
using ClientPtr = std::unique_ptr<Client>;

}  // namespace minik::http
