// The revisioned key-value store behind the API (etcd's role), as an interface.
//
// Model (kine's, made tighter): one append-only log. Every successful write appends one entry
// whose revision is the next integer; the current value of a key is its newest entry, absent
// if that entry is a deletion. A key's create_revision is the revision of the write that
// created it; its mod_revision is the revision of its newest write. Revisions are global and
// strictly increasing across all keys.
//
// Writes are asynchronous: Submit() queues an operation and returns at once; the backend
// commits queued operations in batches (group commit, one durable transaction per batch) and
// then, in revision order, (1) hands the batch's events to every watcher and (2) runs each
// operation's callback. A callback therefore never runs before watchers saw its event, so a
// watch cache fed by Watch() is never behind an acknowledged write. Callbacks and watch
// handlers run on the backend's own thread (or inline, for MemoryBackend): they must be quick
// and must not call back into the backend synchronously (post to your own loop instead).
//
// Reads (Get, List, CurrentRevision, Watch registration) are synchronous, thread-safe, and
// reflect every acknowledged write.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace minik::store {

struct KeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
};

struct Event {
  enum class Type { kPut, kDelete };
  Type type = Type::kPut;
  // For kPut: the new value (create_revision == mod_revision for a creation).
  // For kDelete: key and the deleted value; mod_revision is the deletion's revision.
  KeyValue kv;
  // The previous value for updates and deletes; empty key for creations.
  KeyValue prev;
  bool is_create() const { return type == Type::kPut && kv.create_revision == kv.mod_revision; }
};

struct ListResult {
  std::vector<KeyValue> kvs;
  int64_t revision = 0;  // the revision the list was read at
  bool more = false;     // more keys exist after the last returned one
  int64_t remaining = 0; // how many keys follow the returned ones (0 when !more)
};

// One write. Conditions are checked inside the committing transaction.
struct Op {
  enum class Type { kCreate, kUpdate, kDelete };
  Type type = Type::kCreate;
  std::string key;
  std::string value;            // kCreate, kUpdate
  int64_t expected_revision = 0;  // kUpdate, kDelete: the key's mod_revision must equal it; 0 = any
};

// Result of a write: the entry written (for kDelete, the deleted value with the deletion's
// mod_revision), or an error:
//   kCreate on an existing key      -> AlreadyExists
//   kUpdate/kDelete on a missing key -> NotFound
//   expected_revision mismatch       -> Conflict (the message names the current revision)
using OpCallback = std::function<void(StatusOr<KeyValue>)>;
using EventsHandler = std::function<void(const std::vector<Event>&)>;

class WatchHandle {
 public:
  virtual ~WatchHandle() = default;  // destroying the handle stops delivery
};
using WatchHandlePtr = std::unique_ptr<WatchHandle>;

class Backend {
 public:
  virtual ~Backend() = default;

  virtual StatusOr<KeyValue> Get(const std::string& key) = 0;

  // Keys with the given prefix, ascending, strictly after start_after (if non-empty), at
  // most limit (0 = no limit). revision 0 = current; otherwise the state as of that revision
  // (Expired if it is older than the compacted revision, or newer than the current one).
  virtual StatusOr<ListResult> List(const std::string& prefix, const std::string& start_after,
                                    int64_t limit, int64_t revision) = 0;

  virtual void Submit(Op op, OpCallback done) = 0;

  // Delivers, in order, every event with revision > from_revision whose key has the prefix:
  // first the history still held, then live events as they commit. Expired if from_revision
  // is older than the compacted revision.
  virtual StatusOr<WatchHandlePtr> Watch(const std::string& prefix, int64_t from_revision,
                                         EventsHandler handler) = 0;

  virtual int64_t CurrentRevision() = 0;
  // Revisions <= this are compacted away (history before it is no longer available).
  virtual int64_t CompactedRevision() = 0;
  // Drops superseded entries and tombstones at or below revision.
  virtual Status Compact(int64_t revision) = 0;

  // Synchronous helper: Submit and wait for the result (tests, tools, start-up code only;
  // never call it from a backend callback).
  StatusOr<KeyValue> SubmitSync(Op op);
};

using BackendPtr = std::unique_ptr<Backend>;

}  // namespace minik::store
