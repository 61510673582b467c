// Shared informers (client-go's reflector + indexer + sharedIndexInformer, in one class): List
// then Watch from the list's resourceVersion, keeping a local cache keyed "namespace/name" of
// immutable objects, with indexes and event handlers.
//
//   - The watch asks for bookmarks and a timeoutSeconds between 5 and 10 minutes; when it ends
//     normally it is reopened from the last resourceVersion seen. On 410 (Expired, Gone) the
//     informer re-lists at once; when the watch or the list fails otherwise it re-lists after a
//     backoff (800 ms doubling to 30 s, reset when a watch ends normally).
//   - A re-list replaces the cache: new objects are adds, changed ones (by resourceVersion)
//     updates, and objects missing from the new list deletes with final_state_unknown = true
//     (client-go's DeletedFinalStateUnknown tombstone: the deletion was not observed).
//   - Handlers added after the cache synced first receive an add for every cached object.
//   - Handlers should only enqueue keys (DESIGN.md convention 6) and must not block.
//
// Threading: an Informer (its cache included) is confined to the thread of its ApiClient and
// Timers (the loop thread); handlers run there. Objects handed out are immutable and may be
// kept (shared_ptr) and read from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "client/api_client.h"
#include "client/timers.h"

namespace minik::client {

using ObjectPtr = std::shared_ptr<const JsonDoc>;
// The index values of an object (none, one or several).
using IndexFunc = std::function<std::vector<std::string>(const JsonValue& obj)>;

// Built-in indexes, registered on every informer unless InformerOptions says otherwise.
inline constexpr char kNamespaceIndex[] = "namespace";  // metadata.namespace
inline constexpr char kOwnerIndex[] = "owner";          // uid of the controller ownerReference
inline constexpr char kNodeIndex[] = "node";            // spec.nodeName (when set)
std::vector<std::string> NamespaceIndexFunc(const JsonValue& obj);
std::vector<std::string> ControllerOwnerIndexFunc(const JsonValue& obj);
std::vector<std::string> NodeNameIndexFunc(const JsonValue& obj);

struct EventHandlers {
  std::function<void(const ObjectPtr& obj)> on_add;
  std::function<void(const ObjectPtr& old_obj, const ObjectPtr& new_obj)> on_update;
  // obj: the deleted object's last state (from the DELETED event, or the cached one when
  // final_state_unknown, i.e. the deletion was found by a re-list).
  std::function<void(const ObjectPtr& obj, bool final_state_unknown)> on_delete;
};

struct InformerOptions {
  std::string ns;  // "" = all namespaces
  std::string label_selector;
  std::string field_selector;
  int64_t page_size = 500;  // List limit (paginated with continue)
  bool builtin_indexes = true;
  int64_t backoff_initial_ms = 800;
  int64_t backoff_max_ms = 30000;
  int64_t min_watch_timeout_seconds = 300;  // the watch timeout is uniform in [min, 2*min)
};

class Informer {
 public:
  Informer(ApiClient& client, Timers& timers, ResourceRef resource, InformerOptions options = {});
  ~Informer();
  Informer(const Informer&) = delete;
  Informer& operator=(const Informer&) = delete;

  // Adds (or replaces) an index; existing objects are indexed at once.
  void AddIndexer(const std::string& name, IndexFunc fn);
  // Returns an id for RemoveEventHandler.
  int AddEventHandler(EventHandlers handlers);
  void RemoveEventHandler(int id);
  // Runs fn once the first list has been applied (at once if it has).
  void OnSynced(std::function<void()> fn);

  // Starts listing and watching (idempotent). Stop() closes the watch and cancels retries.
  void Run();
  void Stop();
  bool running() const { return running_; }
  bool HasSynced() const { return synced_; }

  // The cache.
  ObjectPtr Get(const std::string& key) const;
  ObjectPtr Get(const std::string& ns, const std::string& name) const { return Get(ObjectKey(ns, name)); }
  std::vector<ObjectPtr> List() const;
  std::vector<std::string> ListKeys() const;
  std::vector<ObjectPtr> ByIndex(const std::string& index, const std::string& value) const;
  std::vector<std::string> IndexKeys(const std::string& index, const std::string& value) const;
  size_t size() const { return items_.size(); }

  const ResourceRef& resource() const { return resource_; }
  const std::string& last_resource_version() const { return last_rv_; }
  // Lists started so far (the first one included), for tests and metrics.
  int lists() const { return lists_; }

 private:
  struct Index {
    IndexFunc fn;
    std::unordered_map<std::string, std::set<std::string>> values;
  };

  void StartList();
  void ListPage(uint64_t epoch, std::string continue_token, std::shared_ptr<std::vector<ObjectPtr>> acc);
  void Replace(std::vector<ObjectPtr> items, const std::string& rv);
  void StartWatch();
  void OnWatchEvent(uint64_t epoch, WatchEvent ev);
  void OnWatchClosed(uint64_t epoch, Status st);
  void RetryAfterBackoff();

  // Cache mutations (indexes kept in step); return the previous object.
  ObjectPtr Upsert(const std::string& key, ObjectPtr obj);
  ObjectPtr Remove(const std::string& key);
  void IndexObject(const std::string& key, const JsonValue* old_obj, const JsonValue* new_obj);

  void NotifyAdd(const ObjectPtr& obj);
  void NotifyUpdate(const ObjectPtr& old_obj, const ObjectPtr& new_obj);
  void NotifyDelete(const ObjectPtr& obj, bool unknown);

  ApiClient& client_;
  Timers& timers_;
  ResourceRef resource_;
  InformerOptions options_;

  std::unordered_map<std::string, ObjectPtr> items_;
  std::map<std::string, Index> indexes_;
  std::map<int, std::shared_ptr<EventHandlers>> handlers_;
  int next_handler_id_ = 1;
  std::vector<std::function<void()>> on_synced_;

  bool running_ = false;
  bool synced_ = false;
  uint64_t epoch_ = 0;  // bumped by every (re)start; callbacks of older epochs are ignored
  std::string last_rv_;
  int lists_ = 0;
  int64_t backoff_ms_ = 0;
  uint64_t rand_state_ = 0x9E3779B97F4A7C15ull;
  http::HandlePtr watch_;
  http::HandlePtr retry_timer_;
  std::shared_ptr<bool> alive_;
};
using InformerPtr = std::unique_ptr<Informer>;

// One informer per resource, shared by every controller of a process.
//
// Threading: as Informer.
class SharedInformerFactory {
 public:
  SharedInformerFactory(ApiClient& client, Timers& timers, InformerOptions defaults = {})
      : client_(client), timers_(timers), defaults_(std::move(defaults)) {}

  // The informer of res (created on first use; not running until Start()).
  Informer& For(const ResourceRef& res);
  // Runs every informer not running yet.
  void Start();
  void Stop();
  bool HasSynced() const;
  // Runs fn once every informer created so far has synced.
  void OnSynced(std::function<void()> fn);
  size_t size() const { return informers_.size(); }

 private:
  ApiClient& client_;
  Timers& timers_;
  InformerOptions defaults_;
  std::map<ResourceRef, InformerPtr> informers_;
};

}  // namespace minik::client
