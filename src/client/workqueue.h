// A de-duplicating, rate-limited work queue with client-go's semantics (workqueue.Typed-
// RateLimitingInterface with the per-item exponential failure rate limiter):
//   - Add(key): a key queued once however often it is added;
//   - a key being processed (between Get and Done) is never handed out again; added meanwhile,
//     it is queued again when Done(key) is called;
//   - AddAfter(key, ms): added once the delay passes (the earliest of several delays wins);
//   - AddRateLimited(key): AddAfter with a per-key exponential backoff, base 5 ms doubling up
//     to 1000 s, reset by Forget(key); NumRequeues(key) counts the failures since.
// Keys are handed out either by Get() (pull) or, after Start(workers, fn), by calling fn(key)
// from a posted task for up to `workers` keys at once (push; fn, or whatever it starts, calls
// Done(key) when the key is finished, possibly later from another callback).
//
// Threading: one thread (the loop thread), the same as its Timers.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "client/timers.h"

namespace minik::client {

struct BackoffOptions {
  int64_t base_ms = 5;
  int64_t max_ms = 1000 * 1000;
};

class WorkQueue {
 public:
  explicit WorkQueue(Timers& timers, BackoffOptions backoff = {});
  ~WorkQueue();
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  void Add(const std::string& key);
  void AddAfter(const std::string& key, int64_t delay_ms);
  void AddRateLimited(const std::string& key);
  void Forget(const std::string& key);
  int NumRequeues(const std::string& key) const;
  // The delay the next AddRateLimited(key) would use (without counting a failure).
  int64_t NextBackoffMs(const std::string& key) const;

  // The next queued key, now being processed; nullopt when none is queued (or after ShutDown).
  std::optional<std::string> Get();
  void Done(const std::string& key);

  // Push mode: fn(key) runs from posted tasks for up to `workers` keys in flight.
  void Start(size_t workers, std::function<void(const std::string&)> fn);
  // Drops queued and waiting keys and ignores later adds; keys in flight may still call Done.
  void ShutDown();
  bool shutting_down() const { return shutting_down_; }

  size_t Len() const { return queue_.size(); }
  size_t waiting() const { return waiting_.size(); }
  size_t processing() const { return processing_.size(); }

 private:
  void ScheduleDispatch();
  void Dispatch();

  struct Waiting {
    int64_t ready_ms;
    http::HandlePtr timer;
  };

  Timers& timers_;
  BackoffOptions backoff_;
  std::deque<std::string> queue_;
  std::unordered_set<std::string> dirty_;
  std::unordered_set<std::string> processing_;
  std::unordered_map<std::string, Waiting> waiting_;
  std::unordered_map<std::string, int> failures_;
  bool shutting_down_ = false;

  size_t workers_ = 0;
  std::function<void(const std::string&)> worker_fn_;
  bool dispatch_posted_ = false;
  std::shared_ptr<bool> alive_;
};

}  // namespace minik::client
