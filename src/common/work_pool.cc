#include "common/work_pool.h"

namespace minik {

WorkPool::WorkPool(size_t threads) {
  if (threads == 0) threads = 1;
  threads_.reserve(threads);
  for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { Run(); });
}

WorkPool::~WorkPool() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = true;
    queue_.clear();
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void WorkPool::Submit(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stopping_) return;
    queue_.push_back(std::move(fn));
  }
  cv_.notify_one();
}

size_t WorkPool::pending() const {
  std::lock_guard<std::mutex> l(mu_);
  return queue_.size() + running_;
}

void WorkPool::Run() {
  for (;;) {
    std::function<void()> fn;
    {
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait(l, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      fn = std::move(queue_.front());
      queue_.pop_front();
      ++running_;
    }
    fn();
    std::lock_guard<std::mutex> l(mu_);
    --running_;
  }
}

}  // namespace minik
