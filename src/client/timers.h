// Time and deferred work for the client library behind one small interface, so that the work
// queue, informers and leader election run on the Loop in production and on a simulated clock
// in tests (no sleeps, no threads).
//
// Threading: a Timers object and everything it runs belong to one thread (the loop thread for
// LoopTimers, the test's thread for FakeTimers).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "http/loop.h"

namespace minik::client {

class Timers {
 public:
  virtual ~Timers() = default;
  virtual const Clock& clock() const = 0;
  // Runs fn once after delay_ms; destroying the handle cancels it.
  virtual http::HandlePtr After(uint64_t delay_ms, std::function<void()> fn) = 0;
  // Runs fn soon, on the same thread, after the current callback returns (never inline).
  virtual void Post(std::function<void()> fn) = 0;
};

// Timers on a Loop (its timers and Post), reading time from clock.
class LoopTimers final : public Timers {
 public:
  LoopTimers(http::Loop& loop, const Clock& clock) : loop_(loop), clock_(clock) {}
  const Clock& clock() const override { return clock_; }
  http::HandlePtr After(uint64_t delay_ms, std::function<void()> fn) override;
  void Post(std::function<void()> fn) override;

 private:
  http::Loop& loop_;
  const Clock& clock_;
};

// A simulated clock with timers: nothing runs until the test calls RunPending() or Advance().
class FakeTimers final : public Timers {
 public:
  FakeTimers() : alive_(std::make_shared<State>()) {}
  const Clock& clock() const override { return clock_; }
  FakeClock& fake_clock() { return clock_; }
  http::HandlePtr After(uint64_t delay_ms, std::function<void()> fn) override;
  void Post(std::function<void()> fn) override;

  // Runs posted functions (and any they post) until none is left; returns how many ran.
  size_t RunPending();
  // Moves the clock forward by d, firing each timer due on the way at its own time (in due
  // order, running posted work after each), then runs what is pending.
  void Advance(std::chrono::milliseconds d);
  // Timers still armed.
  size_t timers() const { return alive_->timers.size(); }
  // Milliseconds until the next armed timer fires (-1 when none).
  int64_t NextTimerIn() const;

 private:
  struct State {
    // (due monotonic ms, sequence) -> fn
    std::map<std::pair<int64_t, uint64_t>, std::function<void()>> timers;
    uint64_t seq = 0;
  };
  FakeClock clock_;
  std::shared_ptr<State> alive_;
  std::vector<std::function<void()>> posted_;
};

}  // namespace minik::client
