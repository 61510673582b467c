// MemoryBackend: the Backend contract held in memory, for unit tests of other components.
//
// Same semantics as SqliteBackend (revisions, conditions and their error codes, list at a
// past revision, paging, watch with history and Expired, compaction), but nothing is durable
// and everything runs inline: Submit() commits at once on the calling thread, hands the event
// to the watchers and then runs the callback before returning; Watch() delivers the history
// to the handler before it returns.
//
// Threading: every method is thread-safe. Writes and watch deliveries are serialized by one
// recursive mutex. Callbacks run after that mutex is released, so a callback may Submit
// (inline, nested) or read. Watch handlers run under it: they may read and may destroy their
// own or another watch handle, but must not Submit (as the Backend contract says). Handles
// may outlive the backend.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "store/backend.h"

namespace minik::store {

namespace internal {
class WatchHub;
}

class MemoryBackend final : public Backend {
 public:
  struct Options {
    // Automatic compaction: after each write, compact to CurrentRevision() - keep_revisions
    // (0 = never compact automatically; Compact() still works).
    int64_t keep_revisions = 0;
  };
  MemoryBackend();
  explicit MemoryBackend(Options options);
  ~MemoryBackend() override;

  StatusOr<KeyValue> Get(const std::string& key) override;
  StatusOr<ListResult> List(const std::string& prefix, const std::string& start_after, int64_t limit,
                            int64_t revision) override;
  void Submit(Op op, OpCallback done) override;
  StatusOr<WatchHandlePtr> Watch(const std::string& prefix, int64_t from_revision, EventsHandler handler) override;
  int64_t CurrentRevision() override;
  int64_t CompactedRevision() override;
  Status Compact(int64_t revision) override;

 private:
  struct Rec {
    int64_t revision;
    int64_t create_revision;
    bool deleted;
    std::string value;
  };
  StatusOr<Event> ApplyLocked(const Op& op);
  void CompactLocked(int64_t revision);

  const Options options_;
  std::recursive_mutex mu_;
  std::map<std::string, std::vector<Rec>> keys_;  // per key, its entries in revision order
  std::deque<Event> log_;                          // every event with revision > compacted_
  int64_t current_ = 0;
  int64_t compacted_ = 0;
  std::shared_ptr<internal::WatchHub> hub_;
};

}  // namespace minik::store
