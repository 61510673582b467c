#include "client/workqueue.h"

#include <catch2/catch.hpp>

namespace minik::client {
namespace {

TEST_CASE("workqueue: de-duplicates, and never hands out a key being processed", "[workqueue]") {
  FakeTimers t;
  WorkQueue q(t);
  q.Add("a");
  q.Add("b");
  q.Add("a");
  CHECK(q.Len() == 2);
  auto k = q.Get();
  REQUIRE(k);
  CHECK(*k == "a");
  q.Add("a");  // while processing: not queued yet
  CHECK(q.Len() == 1);
  CHECK(*q.Get() == "b");
  CHECK(!q.Get());
  q.Done("a");  // re-queued now
  CHECK(q.Len() == 1);
  CHECK(*q.Get() == "a");
  q.Done("a");
  q.Done("b");
  CHECK(q.Len() == 0);
  CHECK(q.processing() == 0);
}

TEST_CASE("workqueue: AddAfter waits on the clock; the earliest delay wins", "[workqueue]") {
  FakeTimers t;
  WorkQueue q(t);
  q.AddAfter("a", 100);
  q.AddAfter("a", 50);
  q.AddAfter("a", 200);
  CHECK(q.waiting() == 1);
  t.Advance(std::chrono::milliseconds(49));
  CHECK(q.Len() == 0);
  t.Advance(std::chrono::milliseconds(1));
  CHECK(q.Len() == 1);
  CHECK(q.waiting() == 0);
  CHECK(t.timers() == 0);
  q.AddAfter("b", 0);
  CHECK(q.Len() == 2);
}

TEST_CASE("workqueue: per-key exponential backoff, 5 ms doubling to 1000 s, reset by Forget", "[workqueue]") {
  FakeTimers t;
  WorkQueue q(t);
  std::vector<int64_t> delays;
  for (int i = 0; i < 20; ++i) {
    delays.push_back(q.NextBackoffMs("a"));
    q.AddRateLimited("a");
  }
  CHECK(delays[0] == 5);
  CHECK(delays[1] == 10);
  CHECK(delays[2] == 20);
  CHECK(delays[10] == 5120);
  CHECK(delays[17] == 5 * (int64_t{1} << 17));  // 655.36 s
  CHECK(delays[18] == 1000 * 1000);             // capped
  CHECK(q.NumRequeues("a") == 20);
  CHECK(q.NumRequeues("b") == 0);
  // The first delay (5 ms) is the one waiting.
  t.Advance(std::chrono::milliseconds(5));
  CHECK(*q.Get() == "a");
  q.Forget("a");
  CHECK(q.NumRequeues("a") == 0);
  CHECK(q.NextBackoffMs("a") == 5);
}

TEST_CASE("workqueue: push mode runs at most `workers` keys at once, and requeues on Done", "[workqueue]") {
  FakeTimers t;
  WorkQueue q(t);
  std::vector<std::string> started;
  q.Start(2, [&](const std::string& k) { started.push_back(k); });
  q.Add("a");
  q.Add("b");
  q.Add("c");
  CHECK(started.empty());  // dispatched from a posted task, never inline
  t.RunPending();
  CHECK(started == std::vector<std::string>{"a", "b"});
  q.Add("a");  // in flight: waits for Done
  q.Done("b");
  t.RunPending();
  CHECK(started == std::vector<std::string>{"a", "b", "c"});
  q.Done("a");
  t.RunPending();
  CHECK(started == std::vector<std::string>{"a", "b", "c", "a"});
  q.Done("c");
  q.Done("a");
  t.RunPending();
  CHECK(started.size() == 4);

  // A failing key backs off exponentially: 5, 10, 20 ms.
  std::vector<int64_t> at;
  WorkQueue q2(t);
  q2.Start(1, [&](const std::string& k) {
    at.push_back(t.clock().MonotonicMillis());
    q2.AddRateLimited(k);
    q2.Done(k);
  });
  int64_t t0 = t.clock().MonotonicMillis();
  q2.Add("x");
  t.Advance(std::chrono::milliseconds(40));
  REQUIRE(at.size() == 4);
  CHECK(at[1] - at[0] == 5);
  CHECK(at[2] - at[1] == 10);
  CHECK(at[3] - at[2] == 20);
  CHECK(at[0] == t0);
  q2.ShutDown();
  t.Advance(std::chrono::milliseconds(100));
  CHECK(at.size() == 4);
}

}  // namespace
}  // namespace minik::client
