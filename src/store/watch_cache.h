// WatchCache: the in-memory state the API server serves GET, LIST and WATCH from.
//
// It holds, per key in key order, an immutable CachedObject (the store's KeyValue and the value
// parsed once as JSON), a ring of the most recent events (so a watch from resourceVersion R
// can replay what followed R), and a set of watchers that get every new event under their
// prefix. It is initialised from a Backend::List snapshot (Init) and then fed with the
// backend's watch events in revision order (Apply); events at or below revision() are ignored,
// so feeding a watch started at the snapshot's revision is always safe.
//
// Watch fan-out shares one CacheEvent object among all watchers; its `encoded` member is a memo
// slot that the first consumer fills (e.g. with the serialized watch frame) and the others
// reuse, so an event is serialized once whatever the number of watchers.
//
// Threading: NOT thread-safe. A WatchCache is owned by one thread (the API server's loop
// thread), which makes every call, including Apply (post backend events to that loop first).
// Watch callbacks run synchronously inside Apply/Watch on that thread; a callback may add or
// remove watchers (itself included) and may read the cache, but must not call Apply or Init.
#pragma once

#include <ext/pb_ds/assoc_container.hpp>
#include <ext/pb_ds/tree_policy.hpp>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "store/backend.h"

namespace minik::store {

struct CachedObject {
  KeyValue kv;
  // The value parsed once; nullptr when the value is not valid JSON.
  std::shared_ptr<const JsonDoc> object;
};
using CachedObjectPtr = std::shared_ptr<const CachedObject>;

struct CacheEvent {
  Event::Type type = Event::Type::kPut;
  // The object after the event; for a deletion, the deleted object (kv.mod_revision is the
  // deletion's revision).
  CachedObjectPtr object;
  // The object before the event (nullptr for a creation).
  CachedObjectPtr prev;
  int64_t revision() const { return object->kv.mod_revision; }
  bool is_create() const { return type == Event::Type::kPut && !prev; }
  // Memo slot for the consumer's serialized form, filled once and shared by every watcher of
  // the live fan-out (released when the fan-out ends).
  mutable std::string encoded;
};
using CacheEventPtr = std::shared_ptr<const CacheEvent>;

class WatchCache {
 public:
  struct Options {
    // Recent events kept for watches that start from a past revision (older ones get 410 Gone
    // and relist, as from kube-apiserver's cache). Each event holds the object it replaced, so
    // after a burst the history keeps about this many superseded documents alive: with 10,000 the
    // server held 17 MB more at 30,000 pods (docs/BENCHMARKS.md). Bookmarks keep idle watchers'
    // revisions inside the window.
    size_t event_capacity = 2000;
    // Called on each freshly parsed value before it is shared (e.g. to set
    // metadata.resourceVersion from kv.mod_revision); nullptr = leave the document as parsed.
    std::function<void(JsonDoc& doc, const KeyValue& kv)> on_parse;
    // Keep each object's raw text (kv.value) next to its parsed form. A consumer that only reads
    // the parsed objects drops it and holds each object once instead of twice.
    bool keep_raw_value = true;
    // Strings that cached documents reference instead of copying (field names, common values).
    // The set must outlive the cache, and the characters it views every document (string
    // literals do). Strings of up to 13 bytes are never looked up: they live inside their value.
    const std::unordered_set<std::string_view>* interned = nullptr;
  };
  struct ListPage {
    std::vector<CachedObjectPtr> items;
    int64_t revision = 0;    // the cache's revision when listed
    bool more = false;       // more keys follow the last returned one
    int64_t remaining = 0;   // how many (0 when !more)
  };
  using WatcherId = uint64_t;
  using Callback = std::function<void(const CacheEventPtr&)>;

  WatchCache();
  explicit WatchCache(Options options);
  ~WatchCache();
  WatchCache(const WatchCache&) = delete;
  WatchCache& operator=(const WatchCache&) = delete;

  // Replaces the content with a snapshot (a complete, unpaged List) and sets revision() to its
  // revision. Clears the event history: watches from before it get Expired. Watchers stay.
  void Init(const ListResult& snapshot);
  // Applies events in revision order, fanning each out to the watchers after it is applied.
  void Apply(const std::vector<Event>& events);

  int64_t revision() const { return revision_; }
  size_t size() const { return objects_.size(); }

  CachedObjectPtr Get(const std::string& key) const;  // nullptr when absent
  // Keys with the prefix, ascending, strictly after start_after (if non-empty), at most limit
  // (0 = no limit). O(log n + returned items).
  ListPage List(const std::string& prefix, const std::string& start_after = "", int64_t limit = 0) const;
  // Number of keys with the prefix. O(log n).
  int64_t Count(const std::string& prefix) const;

  // Events after from_revision whose key has the prefix. Expired if events after
  // from_revision are no longer all held (from_revision older than the history).
  StatusOr<std::vector<CacheEventPtr>> EventsSince(const std::string& prefix, int64_t from_revision) const;
  // The oldest revision a watch may start from.
  int64_t OldestWatchableRevision() const { return history_floor_; }

  // Registers a callback for new events under the prefix. If from_revision >= 0, first
  // replays (synchronously, before returning) the held events after it (Expired when they are
  // no longer all held: nothing is registered then); -1 = only new events.
  StatusOr<WatcherId> Watch(const std::string& prefix, int64_t from_revision, Callback callback);
  // Unregisters; safe from inside any callback (no further call happens after it returns).
  void Unwatch(WatcherId id);
  size_t watcher_count() const { return watchers_.size(); }

 private:
  using Tree = __gnu_pbds::tree<std::string, CachedObjectPtr, std::less<std::string>, __gnu_pbds::rb_tree_tag,
                                __gnu_pbds::tree_order_statistics_node_update>;
  struct WatcherEntry {
    std::string prefix;
    Callback callback;
    bool removed = false;
  };
  // Each value is parsed into scratch space, then copied into a pool of its exact size.
  struct Scratch {
    static constexpr size_t kBytes = 64 * 1024;
    Scratch();
    std::vector<char> buffer;
    rapidjson::CrtAllocator base;
    rapidjson::MemoryPoolAllocator<> alloc;
  };
  std::shared_ptr<const JsonDoc> Parse(const KeyValue& kv);
  void ApplyOne(const Event& e);
  void Record(CacheEventPtr ev);
  int64_t RankOf(const std::string& key) const { return static_cast<int64_t>(objects_.order_of_key(key)); }

  const Options options_;
  std::unique_ptr<Scratch> scratch_;
  Tree objects_;
  std::deque<CacheEventPtr> events_;
  int64_t revision_ = 0;
  int64_t history_floor_ = 0;  // every event after this revision is in events_
  WatcherId next_id_ = 1;
  std::map<WatcherId, std::shared_ptr<WatcherEntry>> watchers_;
};

}  // namespace minik::store
