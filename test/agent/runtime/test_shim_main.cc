// `runtime_test_shim shim STATE_DIR ...`: what `minik shim` does (main.cpp), for the tests that
// run their shims through a command: re-execute into the embedded shim, in-process if that fails.
#include <cstdio>
#include <string>
#include <vector>

#include "agent/runtime/shim.h"
#include "agent/runtime/shim_image.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && args[0] == "shim") args.erase(args.begin());
  minik::Status st = minik::agent::runtime::ExecEmbeddedShim(args);
  std::fprintf(stderr, "runtime_test_shim: %s; running in-process\n", st.message().c_str());
  return minik::agent::runtime::ShimMain(args);
}
