// RunCaptured: the spawn-and-read loop behind Run and the runtime's synchronous exec.
#include "agent/runtime/process.h"

#include <signal.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>

namespace minik::agent::runtime::internal {
namespace {

TEST_CASE("RunCaptured collects stdout and stderr and the exit status", "[process]") {
  auto r = RunCaptured({"/bin/sh", "-c", "echo out; echo err >&2; exit 3"}, {});
  REQUIRE(r.ok());
  CHECK(r->output == "out\nerr\n");
  CHECK_FALSE(r->timed_out);
  CHECK(ExitCodeOf(r->wait_status) == 3);
}

TEST_CASE("RunCaptured keeps at most max_output bytes and reads the rest to the end", "[process]") {
  CaptureOptions opts;
  opts.max_output = 1000;
  auto r = RunCaptured({"/usr/bin/head", "-c", "100000", "/dev/zero"}, opts);
  REQUIRE(r.ok());
  CHECK(r->output == std::string(1000, '\0'));
  CHECK(ExitCodeOf(r->wait_status) == 0);  // head was never blocked on a full pipe
}

TEST_CASE("RunCaptured at the deadline kills the child, or asks on_deadline", "[process]") {
  SECTION("by default the child gets SIGKILL") {
    CaptureOptions opts;
    opts.timeout_ms = 50;
    auto r = RunCaptured({"/bin/sleep", "30"}, opts);
    REQUIRE(r.ok());
    CHECK(r->timed_out);
    REQUIRE(WIFSIGNALED(r->wait_status));
    CHECK(WTERMSIG(r->wait_status) == SIGKILL);
  }
  SECTION("on_deadline may give more time before it kills") {
    CaptureOptions opts;
    opts.timeout_ms = 20;
    std::vector<int> calls;
    opts.on_deadline = [&](pid_t child, int n) -> int64_t {
      calls.push_back(n);
      if (n == 0) return 20;  // once more, the child still alive
      kill(child, SIGTERM);
      return 0;
    };
    auto r = RunCaptured({"/bin/sleep", "30"}, opts);
    REQUIRE(r.ok());
    CHECK(calls == std::vector<int>{0, 1});
    CHECK(r->timed_out);
    REQUIRE(WIFSIGNALED(r->wait_status));
    CHECK(WTERMSIG(r->wait_status) == SIGTERM);
  }
}

TEST_CASE("RunCaptured reports a program that cannot run", "[process]") {
  CHECK_FALSE(RunCaptured({"/nonexistent/program"}, {}).ok());
  CHECK_FALSE(RunCaptured({}, {}).ok());
}

TEST_CASE("Run answers Timeout at the deadline, else the exit code and output", "[process]") {
  auto ok = Run({"/bin/sh", "-c", "printf hi; exit 2"}, 0);
  REQUIRE(ok.ok());
  CHECK(ok->exit_code == 2);
  CHECK(ok->output == "hi");
  auto slow = Run({"/bin/sleep", "30"}, 50);
  REQUIRE_FALSE(slow.ok());
  CHECK(slow.status().code() == Code::kTimeout);
}

}  // namespace
}  // namespace minik::agent::runtime::internal
