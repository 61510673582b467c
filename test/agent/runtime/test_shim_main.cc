// `runtime_test_shim shim STATE_DIR ...`: what `minik shim` does, for the
// runtime tests.
#include <string>
#include <vector>

#include "agent/runtime/shim.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && args[0] == "shim") args.erase(args.begin());
  return minik::agent::runtime::ShimMain(args);
}
