// The API server's view of storage: the durable Backend for writes, and the in-memory watch
// cache for every read and watch. Objects are stored as JSON without metadata.resourceVersion;
// the cache serves them parsed, with resourceVersion set to their mod revision.
//
// Threading: the loop thread only. Write callbacks run on the loop thread, after the cache
// has applied the write (a read right after an acknowledged write sees it).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "http/loop.h"
#include "store/backend.h"
#include "store/watch_cache.h"

namespace minik::server {

// An object as stored, immutable and shared by the cache, lists and watchers:
// kv.key, kv.mod_revision (= metadata.resourceVersion) and the parsed object, whose
// metadata.resourceVersion is set.
using StoredObject = store::CachedObject;
using ObjectPtr = store::CachedObjectPtr;
// A watch event: kPut without prev = ADDED, kPut with prev = MODIFIED, kDelete = DELETED
// (object = the last state, with the deletion's resourceVersion). ev->encoded is the memo slot
// for the serialized frame, shared by every watcher.
using WatchEventPtr = store::CacheEventPtr;

// Builds a StoredObject for an object that is not (yet) in the cache (dry runs).
ObjectPtr MakeStoredObject(const std::string& key, int64_t revision, std::shared_ptr<const JsonDoc> object);

class ObjectWatch {
 public:
  virtual ~ObjectWatch() = default;
};
using ObjectWatchPtr = std::unique_ptr<ObjectWatch>;

class ObjectStore {
 public:
  using Done = std::function<void(StatusOr<ObjectPtr>)>;

  // Opens over backend (loads the cache from it and subscribes to its events through loop).
  static StatusOr<std::unique_ptr<ObjectStore>> Open(http::Loop& loop, store::Backend& backend);
  virtual ~ObjectStore() = default;

  virtual ObjectPtr Get(const std::string& key) const = 0;

  struct Page {
    std::vector<ObjectPtr> items;
    int64_t revision = 0;
    bool more = false;
    int64_t remaining = 0;
    std::string last_key;
  };
  // Keys under prefix after start_after, filtered by keep (nullptr = all), at most limit
  // matches (0 = all), from the cache at its current revision.
  virtual Page List(const std::string& prefix, const std::string& start_after, int64_t limit,
                    const std::function<bool(const StoredObject&)>& keep) const = 0;
  // The same, read at a past revision from the backend (for continue tokens). Expired if compacted.
  virtual StatusOr<Page> ListAt(const std::string& prefix, const std::string& start_after, int64_t limit,
                                int64_t revision, const std::function<bool(const StoredObject&)>& keep) = 0;

  // obj is written without metadata.resourceVersion.
  virtual void Create(const std::string& key, const JsonValue& obj, Done done) = 0;
  virtual void Update(const std::string& key, const JsonValue& obj, int64_t expected_revision, Done done) = 0;
  // done receives the deleted object (with the deletion's revision).
  virtual void Delete(const std::string& key, int64_t expected_revision, Done done) = 0;

  virtual int64_t revision() const = 0;
  // Events after from_revision (0 = from now) under prefix; Expired ("too old resource version:
  // R (oldest)") when the cache no longer holds them.
  virtual StatusOr<ObjectWatchPtr> Watch(const std::string& prefix, int64_t from_revision,
                                         std::function<void(const WatchEventPtr&)> fn) = 0;
};

using ObjectStorePtr = std::unique_ptr<ObjectStore>;

}  // namespace minik::server
