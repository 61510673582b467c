// The shim executable: `minik shim STATE_DIR [--ready-fd=N]` (shim.h) as a small static program
// of its own, linked from the runtime's shim sources only (libc, no shared library). It is built
// with minik and embedded in the `minik` binary (shim_image.h): the runtime executes it from
// memory, and `minik shim` re-executes into it, so that each running container costs the few
// hundred kB of this program instead of the pages the whole `minik` binary's twenty shared
// libraries dirty while they are loaded.
#include <sys/prctl.h>

#include <string>
#include <vector>

#include "agent/runtime/shim.h"

int main(int argc, char** argv) {
  // Executed through /proc/self/fd/N, the kernel names the process after the fd number.
  prctl(PR_SET_NAME, "minik-shim", 0, 0, 0);
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && args[0] == "shim") args.erase(args.begin());
  return minik::agent::runtime::ShimMain(args);
}
