// ApiClient over REST: builds API paths and queries, encodes bodies, decodes responses and
// watch streams. The bytes travel through a small Transport: HTTPS (HttpsApiClient) for remote
// agents, or the in-process transport inside `minik server` (requests handed to
// ApiServer::HandleInternal).
//
// Threading: the loop thread only (see api_client.h). Transport callbacks must run on it too.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "client/api_client.h"
#include "http/client.h"
#include "http/loop.h"

namespace minik::client {

struct RestRequest {
  std::string method;        // "GET", "POST", "PUT", "PATCH", "DELETE"
  std::string path;          // "/api/v1/namespaces/default/pods"
  std::string query;         // "labelSelector=app%3Dweb&limit=500" (already escaped, no '?')
  std::string content_type;  // "" when there is no body
  std::string body;
  // path + "?" + query (or path when there is no query).
  std::string Target() const { return query.empty() ? path : path + "?" + query; }
};

struct RestResponse {
  int status = 0;
  std::string body;
};

// Moves requests to an API server. Callbacks run on the loop thread, never after the
// Transport (or a stream's handle) is destroyed.
class Transport {
 public:
  virtual ~Transport() = default;
  // One request; cb runs once with the response (any HTTP status) or a transport error.
  virtual void Do(RestRequest req, std::function<void(StatusOr<RestResponse>)> cb) = 0;

  struct StreamCallbacks {
    std::function<void(int status)> on_response;    // once, before any data
    std::function<void(std::string_view)> on_data;  // pieces of the (de-chunked) body
    std::function<void(Status)> on_done;            // once: OK at the end of the body, or the error
  };
  // A streamed request (a watch); destroying the handle ends it.
  virtual http::HandlePtr Stream(RestRequest req, StreamCallbacks cbs) = 0;
};
using TransportPtr = std::unique_ptr<Transport>;

class RestApiClient : public ApiClient {
 public:
  explicit RestApiClient(TransportPtr transport);
  ~RestApiClient() override;

  void Get(const ResourceRef& res, const std::string& ns, const std::string& name, ObjectCallback cb) override;
  void List(const ResourceRef& res, const std::string& ns, const ListOptions& opts, ObjectCallback cb) override;
  void Create(const ResourceRef& res, const std::string& ns, const JsonValue& obj, ObjectCallback cb) override;
  void Update(const ResourceRef& res, const std::string& ns, const JsonValue& obj, const std::string& subresource,
              ObjectCallback cb) override;
  void Patch(const ResourceRef& res, const std::string& ns, const std::string& name, PatchType type,
             std::string patch, const std::string& subresource, ObjectCallback cb) override;
  void Delete(const ResourceRef& res, const std::string& ns, const std::string& name, const DeleteOptions& opts,
              ObjectCallback cb) override;
  http::HandlePtr Watch(const ResourceRef& res, const std::string& ns, const WatchOptions& opts,
                        WatchCallbacks cbs) override;

  Transport& transport() { return *transport_; }

 private:
  void Call(RestRequest req, ObjectCallback cb);
  TransportPtr transport_;
  std::shared_ptr<bool> alive_;
};

// "/api/v1/namespaces/ns/pods/name/status" (parts left empty are omitted).
std::string ResourcePath(const ResourceRef& res, std::string_view ns, std::string_view name = "",
                         std::string_view subresource = "");
// Percent-encodes a query component (RFC 3986 unreserved characters kept).
std::string QueryEscape(std::string_view s);

// Splits a watch stream (newline-delimited JSON frames) into events. Feed() returns the first
// error: a malformed frame (Internal), or an ERROR event's Status.
class WatchDecoder {
 public:
  explicit WatchDecoder(std::function<void(WatchEvent)> on_event) : on_event_(std::move(on_event)) {}
  Status Feed(std::string_view data);
  // Whether a partial frame is buffered.
  bool has_partial() const { return !buffer_.empty(); }

 private:
  Status Frame(std::string_view line);
  std::function<void(WatchEvent)> on_event_;
  std::string buffer_;
};

// Transport over http::Client. The Loop closes every connection when Run() returns (open
// watches end with Unavailable); keep the loop running for as long as the client is used.
class HttpsTransport final : public Transport {
 public:
  explicit HttpsTransport(http::ClientPtr client) : client_(std::move(client)) {}
  void Do(RestRequest req, std::function<void(StatusOr<RestResponse>)> cb) override;
  http::HandlePtr Stream(RestRequest req, StreamCallbacks cbs) override;
  http::Client& client() { return *client_; }

 private:
  http::ClientPtr client_;
};

// The ApiClient of remote agents: REST over HTTPS with a bearer token or a client certificate
// (ClientOptions bearer_token / cert_pem+key_pem) against the CA in ca_pem or ca_file.
class HttpsApiClient final : public RestApiClient {
 public:
  static StatusOr<std::unique_ptr<HttpsApiClient>> Create(http::Loop& loop, http::ClientOptions options);

 private:
  explicit HttpsApiClient(TransportPtr t) : RestApiClient(std::move(t)) {}
};

}  // namespace minik::client
