#include "client/workqueue.h"

#include <algorithm>

namespace minik::client {

WorkQueue::WorkQueue(Timers& timers, BackoffOptions backoff)
    : timers_(timers), backoff_(backoff), alive_(std::make_shared<bool>(true)) {}

WorkQueue::~WorkQueue() { *alive_ = false; }

void WorkQueue::Add(const std::string& key) {
  if (shutting_down_) return;
  if (!dirty_.insert(key).second) return;
  if (processing_.count(key)) return;  // queued again by Done()
  queue_.push_back(key);
  ScheduleDispatch();
}

void WorkQueue::AddAfter(const std::string& key, int64_t delay_ms) {
  if (shutting_down_) return;
  if (delay_ms <= 0) return Add(key);
  int64_t ready = timers_.clock().MonotonicMillis() + delay_ms;
  auto it = waiting_.find(key);
  if (it != waiting_.end() && it->second.ready_ms <= ready) return;
  std::weak_ptr<bool> alive = alive_;
  auto timer = timers_.After(static_cast<uint64_t>(delay_ms), [this, alive, key]() {
    if (alive.expired()) return;
    auto node = waiting_.extract(key);  // destroys the handle of this very timer: allowed
    Add(key);
  });
  waiting_[key] = Waiting{ready, std::move(timer)};
}

int64_t WorkQueue::NextBackoffMs(const std::string& key) const {
  auto it = failures_.find(key);
  int exp = it == failures_.end() ? 0 : it->second;
  int64_t d = backoff_.base_ms;
  for (int i = 0; i < exp && d < backoff_.max_ms; ++i) d *= 2;
  return std::min(d, backoff_.max_ms);
}

void WorkQueue::AddRateLimited(const std::string& key) {
  int64_t d = NextBackoffMs(key);
  ++failures_[key];
  AddAfter(key, d);
}

void WorkQueue::Forget(const std::string& key) { failures_.erase(key); }

int WorkQueue::NumRequeues(const std::string& key) const {
  auto it = failures_.find(key);
  return it == failures_.end() ? 0 : it->second;
}

std::optional<std::string> WorkQueue::Get() {
  if (queue_.empty() || shutting_down_) return std::nullopt;
  std::string key = std::move(queue_.front());
  queue_.pop_front();
  processing_.insert(key);
  dirty_.erase(key);
  return key;
}

void WorkQueue::Done(const std::string& key) {
  if (!processing_.erase(key)) return;
  if (dirty_.count(key) && !shutting_down_) queue_.push_back(key);
  ScheduleDispatch();
}

void WorkQueue::Start(size_t workers, std::function<void(const std::string&)> fn) {
  workers_ = std::max<size_t>(1, workers);
  worker_fn_ = std::move(fn);
  ScheduleDispatch();
}

void WorkQueue::ShutDown() {
  shutting_down_ = true;
  queue_.clear();
  dirty_.clear();
  waiting_.clear();
}

void WorkQueue::ScheduleDispatch() {
  if (!worker_fn_ || dispatch_posted_ || queue_.empty() || processing_.size() >= workers_) return;
  dispatch_posted_ = true;
  std::weak_ptr<bool> alive = alive_;
  timers_.Post([this, alive]() {
    if (alive.expired()) return;
    dispatch_posted_ = false;
    Dispatch();
  });
}

void WorkQueue::Dispatch() {
  std::weak_ptr<bool> alive = alive_;
  while (!alive.expired() && worker_fn_ && processing_.size() < workers_) {
    auto key = Get();
    if (!key) break;
    auto fn = worker_fn_;  // fn may Start() again or destroy the queue
    fn(*key);
  }
}

}  // namespace minik::client
