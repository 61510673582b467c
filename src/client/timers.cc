#include "client/timers.h"
#include <algorithm>

namespace minik::client {

http::HandlePtr LoopTimers::After(uint64_t delay_ms, std::function<void()> fn) {
  return loop_.AddTimer(delay_ms, 0, std::move(fn));
}

void LoopTimers::Post(std::function<void()> fn) { loop_.Post(std::move(fn)); }

namespace {

class FakeTimerHandle final : public http::Handle {
 public:
  template <typename State>
  FakeTimerHandle(std::weak_ptr<State> state, std::pair<int64_t, uint64_t> id)
      : cancel_([state, id]() {
          if (auto s = state.lock()) s->timers.erase(id);
        }) {}
  ~FakeTimerHandle() override { cancel_(); }

 private:
  std::function<void()> cancel_;
};

}  // namespace

http::HandlePtr FakeTimers::After(uint64_t delay_ms, std::function<void()> fn) {
  std::pair<int64_t, uint64_t> id(clock_.MonotonicMillis() + static_cast<int64_t>(delay_ms), alive_->seq++);
  alive_->timers.emplace(id, std::move(fn));
  return std::make_unique<FakeTimerHandle>(std::weak_ptr<State>(alive_), id);
}

void FakeTimers::Post(std::function<void()> fn) { posted_.push_back(std::move(fn)); }

size_t FakeTimers::RunPending() {
  size_t n = 0;
  while (!posted_.empty()) {
    auto batch = std::move(posted_);
    posted_.clear();
    for (auto& fn : batch) {
      fn();
      ++n;
    }
  }
  return n;
}

void FakeTimers::Advance(std::chrono::milliseconds d) {
  RunPending();
  const int64_t end = clock_.MonotonicMillis() + d.count();
  while (true) {
    auto it = alive_->timers.begin();
    if (it == alive_->timers.end() || it->first.first > end) break;
    int64_t due = it->first.first;
    if (due > clock_.MonotonicMillis()) clock_.Advance(std::chrono::milliseconds(due - clock_.MonotonicMillis()));
    auto fn = std::move(it->second);
    alive_->timers.erase(it);
    fn();
    RunPending();
  }
  if (end > clock_.MonotonicMillis()) clock_.Advance(std::chrono::milliseconds(end - clock_.MonotonicMillis()));
  RunPending();
}

int64_t FakeTimers::NextTimerIn() const {
  if (alive_->timers.empty()) return -1;
  return std::max<int64_t>(0, alive_->timers.begin()->first.first - clock_.MonotonicMillis());
}

}  // namespace minik::client
