// Internal to src/store: the watcher registry shared by MemoryBackend and SqliteBackend, and
// small helpers both backends use. Not part of the store's public interface.
//
// Threading: WatchHub is thread-safe. A Watcher's handler is only ever called with its
// call_mu held, so destroying its handle from another thread waits for a running call to
// finish and no call starts afterwards; call_mu is recursive so that a handler may destroy
// its own (or another) handle on the delivering thread.
#pragma once

#include <algorithm>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/log.h"
#include "store/backend.h"

namespace minik::store::internal {

inline bool HasPrefix(const std::string& s, const std::string& prefix) {
  return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

// The smallest string greater than every string with the given prefix, or nullopt when there
// is none (empty prefix, or a prefix of only 0xff bytes).
inline std::optional<std::string> PrefixEnd(const std::string& prefix) {
  std::string end = prefix;
  while (!end.empty()) {
    unsigned char c = static_cast<unsigned char>(end.back());
    if (c != 0xff) {
      end.back() = static_cast<char>(c + 1);
      return end;
    }
    end.pop_back();
  }
  return std::nullopt;
}

inline Status KeyExists(const std::string& key) {
  return Status::AlreadyExists("key \"" + key + "\" already exists");
}
inline Status KeyNotFound(const std::string& key) {
  return Status::NotFound("key \"" + key + "\" not found");
}
inline Status RevisionMismatch(const std::string& key, int64_t expected, int64_t current) {
  return Status::Conflict("key \"" + key + "\": expected revision " + std::to_string(expected) +
                          ", current revision is " + std::to_string(current));
}
inline Status Compacted(int64_t requested, int64_t compacted) {
  return Status::Expired("revision " + std::to_string(requested) +
                         " has been compacted (compacted revision " + std::to_string(compacted) + ")");
}
inline Status FutureRevision(int64_t requested, int64_t current) {
  return Status::Expired("revision " + std::to_string(requested) + " is newer than the current revision " +
                         std::to_string(current));
}

struct Watcher {
  Watcher(std::string p, EventsHandler h, int64_t from) : prefix(std::move(p)), handler(std::move(h)), from_revision(from) {}
  const std::string prefix;
  const EventsHandler handler;
  const int64_t from_revision;
  std::recursive_mutex call_mu;
  bool cancelled = false;  // guarded by call_mu

  // Calls the handler with the events after from_revision whose key has the prefix (none: no
  // call).
  void Deliver(const std::vector<Event>& events) {
    std::lock_guard<std::recursive_mutex> lock(call_mu);
    if (cancelled) return;
    auto mine_p = [&](const Event& e) { return e.kv.mod_revision > from_revision && HasPrefix(e.kv.key, prefix); };
    bool all = std::all_of(events.begin(), events.end(), mine_p);
    try {
      if (all) {
        if (!events.empty()) handler(events);
        return;
      }
      std::vector<Event> mine;
      for (const Event& e : events) {
        if (mine_p(e)) mine.push_back(e);
      }
      if (!mine.empty()) handler(mine);
    } catch (const std::exception& e) {
      MINIK_LOG(Error) << "store watch handler threw: " << e.what();
    }
  }
};
using WatcherPtr = std::shared_ptr<Watcher>;

class WatchHub {
 public:
  void Add(WatcherPtr w) {
    std::lock_guard<std::mutex> lock(mu_);
    watchers_.push_back(std::move(w));
  }
  void Remove(const Watcher* w) {
    std::lock_guard<std::mutex> lock(mu_);
    watchers_.erase(std::remove_if(watchers_.begin(), watchers_.end(),
                                   [w](const WatcherPtr& p) { return p.get() == w; }),
                    watchers_.end());
  }
  std::vector<WatcherPtr> Snapshot() const {
    std::lock_guard<std::mutex> lock(mu_);
    return watchers_;
  }
  size_t size() const {
    std::lock_guard<std::mutex> lock(mu_);
    return watchers_.size();
  }
  void Deliver(const std::vector<Event>& events) const {
    if (events.empty()) return;
    for (const WatcherPtr& w : Snapshot()) w->Deliver(events);
  }

 private:
  mutable std::mutex mu_;
  std::vector<WatcherPtr> watchers_;
};

// Destroying it cancels the watcher (waiting for a running call on another thread) and
// removes it from the hub, if the hub still exists.
class HubWatchHandle final : public WatchHandle {
 public:
  HubWatchHandle(std::weak_ptr<WatchHub> hub, WatcherPtr w) : hub_(std::move(hub)), w_(std::move(w)) {}
  ~HubWatchHandle() override {
    {
      std::lock_guard<std::recursive_mutex> lock(w_->call_mu);
      w_->cancelled = true;
    }
    if (auto hub = hub_.lock()) hub->Remove(w_.get());
  }

 private:
  std::weak_ptr<WatchHub> hub_;
  WatcherPtr w_;
};

}  // namespace minik::store::internal
