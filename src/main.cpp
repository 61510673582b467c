// minik: one binary for the whole cluster. Parses the command line and starts a component.
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "agent/agent.h"
#include "agent/config.h"
#include "agent/images/images_cli.h"
#include "agent/runtime/shim.h"
#include "agent/runtime/shim_image.h"
#include "server/config.h"
#include "server/server.h"

namespace {

constexpr const char* kUsage =
    "minik - a single-binary Kubernetes for edge boxes\n\n"
    "Usage: minik COMMAND [flags]\n\n"
    "Commands:\n"
    "  server    Run the control plane (and an embedded agent unless --disable-agent)\n"
    "  agent     Run a worker node that joins a server\n"
    "  images    Manage the node's images: import FILE..., ls, rm REF...\n"
    "  version   Print the version\n\n"
    "Run 'minik COMMAND --help' for the flags of a command.\n";

int Fail(const std::string& cmd, const std::string& msg) {
  std::fprintf(stderr, "minik %s: %s\n", cmd.c_str(), msg.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  // A write to a pipe or socket whose reader is gone (a closed exec stdin, a reset connection)
  // must fail with EPIPE, not kill the process.
  std::signal(SIGPIPE, SIG_IGN);
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
    std::fputs(kUsage, args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  std::string cmd = args[0];
  args.erase(args.begin());
  if (cmd == "version" || cmd == "--version") {
    std::printf("minik version v0.1.0 (Kubernetes v1.32.0)\n");
    return 0;
  }
  if (cmd == "server") {
    auto parsed = minik::server::ParseServerArgs(args);
    if (!parsed.ok()) return Fail(cmd, parsed.error().message());
    if (parsed->help) {
      std::fputs(minik::server::ServerHelp().c_str(), stdout);
      return 0;
    }
    minik::Status st = minik::server::RunServer(parsed->config);
    if (!st.ok()) {
      std::fprintf(stderr, "minik server: %s\n", st.message().c_str());
      return 1;
    }
    return 0;
  }
  if (cmd == "agent") {
    auto parsed = minik::agent::ParseAgentArgs(args);
    if (!parsed.ok()) return Fail(cmd, parsed.error().message());
    if (parsed->help) {
      std::fputs(minik::agent::AgentHelp().c_str(), stdout);
      return 0;
    }
    minik::Status st = minik::agent::RunAgent(parsed->config);
    if (!st.ok()) {
      std::fprintf(stderr, "minik agent: %s\n", st.message().c_str());
      return 1;
    }
    return 0;
  }
  if (cmd == "images") return minik::agent::images::ImagesMain(args);
  // The per-container supervisor the agent starts (not for users).
  if (cmd == "shim") {
    // Into the small embedded shim (shim_image.h): a supervisor that lives as long as its
    // container should not hold the pages this binary's libraries dirtied while loading.
    minik::Status st = minik::agent::runtime::ExecEmbeddedShim(args);
    std::fprintf(stderr, "minik shim: %s; running in-process\n", st.message().c_str());
    return minik::agent::runtime::ShimMain(args);
  }
  return Fail("", "unknown command \"" + cmd + "\"; run 'minik --help'");
}
