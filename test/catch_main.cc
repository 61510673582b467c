// The unit tests' main: Catch2's runner, with SIGPIPE ignored as minik's own main does
// (src/main.cpp). Tests run servers, agents and kubectl in-process; a write to a connection or
// pipe whose reader is gone must fail with EPIPE there too, not kill the test binary.
#define CATCH_CONFIG_RUNNER
#include <csignal>

#include <catch2/catch.hpp>

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  return Catch::Session().run(argc, argv);
}
