// The asynchronous Kubernetes API client every component uses (controllers, scheduler,
// agents). Objects are JSON documents; resources are named by (group, version, plural) plus a
// namespace ("" = cluster-scoped, or all namespaces for List and Watch).
//
// Implementations: RestApiClient (rest_api_client.h) over a Transport (HTTPS to a remote
// server, or in-process inside `minik server`), and FakeApiClient (fake_api_client.h) for tests.
//
// Threading: an ApiClient is used from one thread (the loop thread); every callback runs on
// that thread, never after the client (or, for watches, the handle) is destroyed. Errors are
// Status values with the API's code and message (from the metav1.Status body).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>

#include "common/json.h"
#include "common/status.h"
#include "http/loop.h"

namespace minik::client {

struct ResourceRef {
  std::string group;    // "" for the core group
  std::string version;  // "v1"
  std::string plural;   // "pods"

  // "pods" or "deployments.apps" (as in API messages).
  std::string GroupResource() const { return group.empty() ? plural : plural + "." + group; }
  bool operator==(const ResourceRef&) const = default;
  bool operator<(const ResourceRef& o) const {
    return std::tie(group, version, plural) < std::tie(o.group, o.version, o.plural);
  }
};

struct ListOptions {
  std::string label_selector;
  std::string field_selector;
  int64_t limit = 0;  // 0 = no limit
  std::string continue_token;
  std::string resource_version;        // "" = most recent (consistent read), "0" = any
  std::string resource_version_match;  // "", "NotOlderThan", "Exact"
};

struct WatchOptions {
  std::string resource_version;  // start after this revision ("" = synthetic ADDED for all, then live)
  bool allow_watch_bookmarks = false;
  int64_t timeout_seconds = 0;  // 0 = server default
  std::string label_selector;
  std::string field_selector;
};

struct DeleteOptions {
  std::string propagation_policy;  // "", "Orphan", "Background", "Foreground"
  std::optional<int64_t> grace_period_seconds;
  std::string precondition_uid;               // "" = none
  std::string precondition_resource_version;  // "" = none
};

enum class PatchType { kMerge, kStrategicMerge, kJson };
// The Content-Type of a patch type.
const char* PatchContentType(PatchType type);

struct WatchEvent {
  enum class Type { kAdded, kModified, kDeleted, kBookmark };
  Type type = Type::kAdded;
  std::shared_ptr<const JsonDoc> object;  // never null
};
const char* WatchEventTypeName(WatchEvent::Type type);

// Callbacks of a watch: on_event for each event; on_closed once when the watch ends: OK when
// the server ended it normally (timeoutSeconds), the error of an ERROR event (Expired 410 for a
// too old resourceVersion) or of the failed request otherwise. Neither runs after the handle is
// destroyed; a callback may destroy the handle.
struct WatchCallbacks {
  std::function<void(WatchEvent)> on_event;
  std::function<void(Status)> on_closed;
};

using ObjectCallback = std::function<void(StatusOr<JsonDoc>)>;

class ApiClient {
 public:
  virtual ~ApiClient() = default;

  virtual void Get(const ResourceRef& res, const std::string& ns, const std::string& name, ObjectCallback cb) = 0;
  // The List object (items, metadata.resourceVersion, metadata.continue).
  virtual void List(const ResourceRef& res, const std::string& ns, const ListOptions& opts, ObjectCallback cb) = 0;
  // The namespace is taken from ns (the object's metadata.namespace must agree or be absent).
  virtual void Create(const ResourceRef& res, const std::string& ns, const JsonValue& obj, ObjectCallback cb) = 0;
  // subresource: "" or e.g. "status"; the name comes from obj.metadata.name.
  virtual void Update(const ResourceRef& res, const std::string& ns, const JsonValue& obj,
                      const std::string& subresource, ObjectCallback cb) = 0;
  virtual void Patch(const ResourceRef& res, const std::string& ns, const std::string& name, PatchType type,
                     std::string patch, const std::string& subresource, ObjectCallback cb) = 0;
  // The body the server answers with: the object (when deletion is pending, or deleted with
  // its last state) or a Success Status.
  virtual void Delete(const ResourceRef& res, const std::string& ns, const std::string& name,
                      const DeleteOptions& opts, ObjectCallback cb) = 0;
  // Destroying the handle stops the watch.
  virtual http::HandlePtr Watch(const ResourceRef& res, const std::string& ns, const WatchOptions& opts,
                                WatchCallbacks cbs) = 0;
};
using ApiClientPtr = std::unique_ptr<ApiClient>;

// Rebuilds a Status from an HTTP error: code from the HTTP status (409 with reason AlreadyExists
// is AlreadyExists; 410 with reason Expired is Expired), message, reason and details (name,
// group, kind, causes, retryAfterSeconds) from the metav1.Status body when there is one.
Status StatusFromResponse(int http_status, std::string_view body);
// The same from a parsed metav1.Status object (the object of a watch ERROR event).
Status StatusFromStatusObject(const JsonValue& status);

// Object helpers.
std::string_view MetaString(const JsonValue& obj, std::string_view field);  // "" when absent
// "namespace/name", or "name" for cluster-scoped objects (client-go's MetaNamespaceKeyFunc).
std::string ObjectKey(const JsonValue& obj);
std::string ObjectKey(std::string_view ns, std::string_view name);
// Splits a key made by ObjectKey.
void SplitKey(std::string_view key, std::string* ns, std::string* name);

}  // namespace minik::client
