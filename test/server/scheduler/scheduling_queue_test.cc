#include <catch2/catch.hpp>

#include "client/timers.h"
#include "server/scheduler/scheduling_queue.h"
#include "test_util.h"

using namespace minik;
using namespace minik::scheduler;
using namespace minik::scheduler::testing;

namespace {

PodInfoPtr P(const std::string& name, int prio = 0) {
  return Pod(PodJson(name, "{}", "\"priority\":" + std::to_string(prio)));
}

struct Q {
  client::FakeTimers timers;
  SchedulingQueue q{timers};
  int activations = 0;
  Q() { q.SetOnActive([this] { ++activations; }); }
  void Advance(int64_t ms) { timers.Advance(std::chrono::milliseconds(ms)); }
  std::string PopName() {
    auto p = q.Pop();
    return p ? p->info->name : "";
  }
};

}  // namespace

TEST_CASE("activeQ orders by priority, then enqueue time", "[queue]") {
  Q t;
  t.q.Add(P("a", 0), nullptr);
  t.Advance(1);
  t.q.Add(P("b", 10), nullptr);
  t.Advance(1);
  t.q.Add(P("c", 0), nullptr);
  t.q.Add(P("d", 10), nullptr);
  CHECK(t.activations == 1);
  CHECK(t.PopName() == "b");
  CHECK(t.PopName() == "d");
  CHECK(t.PopName() == "a");
  CHECK(t.PopName() == "c");
  CHECK(t.PopName() == "");
  CHECK(t.q.in_flight() == 4);
}

TEST_CASE("backoff doubles from 1 s to at most 10 s", "[queue]") {
  Q t;
  CHECK(t.q.BackoffMs(1) == 1000);
  CHECK(t.q.BackoffMs(2) == 2000);
  CHECK(t.q.BackoffMs(3) == 4000);
  CHECK(t.q.BackoffMs(4) == 8000);
  CHECK(t.q.BackoffMs(5) == 10000);
  CHECK(t.q.BackoffMs(30) == 10000);

  // An error requeue goes to backoffQ and comes back exactly when its backoff expires.
  t.q.Add(P("a"), nullptr);
  auto p = t.q.Pop();
  t.q.Requeue(std::move(p), false, kEventAll);
  CHECK(t.q.Where("default/a") == "backoff");
  t.Advance(999);
  CHECK(t.q.Where("default/a") == "backoff");
  t.Advance(1);
  CHECK(t.q.Where("default/a") == "active");
  // Second failure: 2 s.
  p = t.q.Pop();
  CHECK(p->attempts == 2);
  t.q.Requeue(std::move(p), false, kEventAll);
  t.Advance(1999);
  CHECK(t.q.Where("default/a") == "backoff");
  t.Advance(1);
  CHECK(t.q.Where("default/a") == "active");
  CHECK(t.timers.timers() == 0);  // idle: no timer left
}

TEST_CASE("unschedulable pods wait for an event they care about", "[queue]") {
  Q t;
  t.q.Add(P("cpu"), nullptr);
  t.q.Add(P("taint"), nullptr);
  auto a = t.q.Pop();
  auto b = t.q.Pop();
  t.q.Requeue(std::move(a), true, EventsForPlugin("NodeResourcesFit"));
  t.q.Requeue(std::move(b), true, EventsForPlugin("TaintToleration"));
  CHECK(t.q.unschedulable() == 2);
  // Not retried on a timer (only the 5 minute flush is armed).
  t.Advance(60 * 1000);
  CHECK(t.q.unschedulable() == 2);
  // A pod deletion frees resources: only the cpu pod moves (its backoff is over).
  t.q.MoveAllToActiveOrBackoff(kEventAssignedPodDelete);
  CHECK(t.q.Where("default/cpu") == "active");
  CHECK(t.q.Where("default/taint") == "unschedulable");
  // A node taint change moves the other.
  t.q.MoveAllToActiveOrBackoff(kEventNodeTaint);
  CHECK(t.q.Where("default/taint") == "active");
}

TEST_CASE("a moved pod still backing off goes to backoffQ", "[queue]") {
  Q t;
  t.q.Add(P("a"), nullptr);
  t.q.Requeue(t.q.Pop(), true, kEventNodeAdd);
  t.Advance(500);
  t.q.MoveAllToActiveOrBackoff(kEventNodeAdd);
  CHECK(t.q.Where("default/a") == "backoff");
  t.Advance(500);
  CHECK(t.q.Where("default/a") == "active");
}

TEST_CASE("unschedulable pods are flushed after 5 minutes", "[queue]") {
  Q t;
  t.q.Add(P("a"), nullptr);
  t.q.Requeue(t.q.Pop(), true, kEventNodeAdd);
  t.Advance(5 * 60 * 1000 - 1);
  CHECK(t.q.Where("default/a") == "unschedulable");
  t.Advance(1);
  CHECK(t.q.Where("default/a") == "active");
}

TEST_CASE("an event while the pod is in flight sends it to backoffQ", "[queue]") {
  Q t;
  t.q.Add(P("a"), nullptr);
  auto p = t.q.Pop();
  t.q.MoveAllToActiveOrBackoff(kEventNodeAdd);
  t.q.Requeue(std::move(p), true, kEventNodeAdd);
  CHECK(t.q.Where("default/a") == "backoff");
}

TEST_CASE("updates and deletes", "[queue]") {
  Q t;
  t.q.Add(P("a"), nullptr);
  t.q.Requeue(t.q.Pop(), true, kEventNodeAdd);
  // A status-only update does not move it; a spec update does.
  t.q.Update(P("a"), nullptr, false);
  CHECK(t.q.Where("default/a") == "unschedulable");
  t.Advance(2000);
  t.q.Update(P("a", 5), nullptr, true);
  CHECK(t.q.Where("default/a") == "active");
  t.q.Delete("default/a");
  CHECK(t.q.Where("default/a") == "");
  CHECK(t.q.Pop() == nullptr);
  // Deleted while in flight: not requeued.
  t.q.Add(P("b"), nullptr);
  auto p = t.q.Pop();
  t.q.Delete("default/b");
  t.q.Requeue(std::move(p), true, kEventAll);
  CHECK(t.q.Where("default/b") == "");
}
