#include "http/loop.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

using minik::http::HandlePtr;
using minik::http::Loop;

namespace {

// A safety net: fails the test instead of hanging if an expected event never comes.
HandlePtr Deadline(Loop& loop, bool* expired, uint64_t ms = 5000) {
  return loop.AddTimer(ms, 0, [&loop, expired] {
    *expired = true;
    loop.Stop();
  });
}

}  // namespace

TEST_CASE("Post from many threads runs every callback in per-thread order", "[loop]") {
  Loop loop;
  constexpr int kThreads = 4, kPerThread = 2000;
  std::vector<std::vector<int>> seen(kThreads);
  int total = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        loop.Post([&, t, i] {
          REQUIRE(loop.IsLoopThread());
          seen[t].push_back(i);
          if (++total == kThreads * kPerThread) loop.Stop();
        });
      }
    });
  }
  bool expired = false;
  auto deadline = Deadline(loop, &expired);
  loop.Run();
  for (auto& th : threads) th.join();
  REQUIRE_FALSE(expired);
  for (int t = 0; t < kThreads; ++t) {
    REQUIRE(seen[t].size() == kPerThread);
    for (int i = 0; i < kPerThread; ++i) REQUIRE(seen[t][i] == i);
  }
}

TEST_CASE("Stop runs the callbacks posted before it and leaves later ones for the next Run", "[loop]") {
  Loop loop;
  std::vector<int> order;
  loop.Post([&] { order.push_back(1); });
  loop.Post([&] { order.push_back(2); });
  loop.Stop();
  loop.Post([&] { order.push_back(3); });
  loop.Run();
  REQUIRE(order == std::vector<int>{1, 2});
  loop.Stop();
  loop.Run();
  REQUIRE(order == std::vector<int>{1, 2, 3});
  REQUIRE(loop.IsLoopThread());
}

TEST_CASE("Stop from another thread ends Run", "[loop]") {
  Loop loop;
  std::atomic<bool> started{false};
  loop.Post([&] { started = true; });
  std::thread stopper([&] {
    while (!started) std::this_thread::yield();
    loop.Stop();
  });
  loop.Run();
  stopper.join();
  REQUIRE(started);
  bool other_is_loop = true;
  std::thread([&] { other_is_loop = loop.IsLoopThread(); }).join();
  REQUIRE_FALSE(other_is_loop);
}

TEST_CASE("Timers fire once or repeatedly, in deadline order", "[loop]") {
  Loop loop;
  std::vector<std::string> events;
  int repeats = 0;
  HandlePtr repeating, grace;
  bool late_fired = false, repeat_done = false;
  // Stops a little after both the one-shot and the repeating timer are done, so that a repeat
  // after the repeating timer's destruction would be seen.
  auto maybe_stop = [&] {
    if (late_fired && repeat_done) grace = loop.AddTimer(5, 0, [&] { loop.Stop(); });
  };
  auto late = loop.AddTimer(30, 0, [&] {
    events.push_back("late");
    late_fired = true;
    maybe_stop();
  });
  auto early = loop.AddTimer(1, 0, [&] { events.push_back("early"); });
  repeating = loop.AddTimer(2, 2, [&] {
    if (++repeats == 5) {
      repeating.reset();  // destroyed from inside its own callback
      repeat_done = true;
      maybe_stop();
    }
  });
  bool expired = false;
  auto deadline = Deadline(loop, &expired);
  loop.Run();
  REQUIRE_FALSE(expired);
  REQUIRE(repeats == 5);
  REQUIRE(events == std::vector<std::string>{"early", "late"});
}

TEST_CASE("A destroyed timer never fires", "[loop]") {
  Loop loop;
  bool fired = false;
  // Due well after the first loop iteration, where the posted callback destroys it (a 1 ms
  // timer could fire first on a loaded machine).
  auto t = loop.AddTimer(200, 0, [&] { fired = true; });
  loop.Post([&] { t.reset(); });
  auto stop = loop.AddTimer(250, 0, [&] { loop.Stop(); });
  loop.Run();
  REQUIRE_FALSE(fired);
}

TEST_CASE("Handles outliving Run are closed by it and safe to destroy afterwards", "[loop]") {
  auto loop = std::make_unique<Loop>();
  auto t = loop->AddTimer(100000, 0, [] {});
  auto w = loop->OnSignal(SIGUSR2, [] {});
  loop->Stop();
  loop->Run();  // returns although the timer is pending: it was closed
  t.reset();
  w.reset();
  loop.reset();
}

TEST_CASE("OnSignal calls back on the loop thread", "[loop]") {
  Loop loop;
  int got = 0;
  auto h = loop.OnSignal(SIGUSR1, [&] {
    ++got;
    loop.Stop();
  });
  loop.Post([] { kill(getpid(), SIGUSR1); });
  bool expired = false;
  auto deadline = Deadline(loop, &expired);
  loop.Run();
  REQUIRE_FALSE(expired);
  REQUIRE(got == 1);
}

TEST_CASE("WatchPath sees a file written in a directory", "[loop]") {
  char tmpl[] = "/tmp/minik-loop-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  Loop loop;
  std::vector<std::string> names;
  auto watch = loop.WatchPath(dir, [&](const std::string& name) {
    names.push_back(name);
    if (name == "a.yaml") loop.Stop();
  });
  REQUIRE(watch.ok());
  loop.Post([&] { std::ofstream(dir + "/a.yaml") << "kind: ConfigMap\n"; });
  bool expired = false;
  auto deadline = Deadline(loop, &expired);
  loop.Run();
  REQUIRE_FALSE(expired);
  REQUIRE(std::find(names.begin(), names.end(), "a.yaml") != names.end());
  std::filesystem::remove_all(dir);

  auto missing = loop.WatchPath("/nonexistent/minik", [](const std::string&) {});
  REQUIRE_FALSE(missing.ok());
}
