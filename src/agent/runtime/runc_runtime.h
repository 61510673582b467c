// The Runtime (runtime.h) over an OCI runtime CLI (runc; crun and others work
// the same) with one `minik shim` per container (shim.h).
//
// Layout: <state_root>/<container id>/ holds the shim's files (spec.json,
// status.json, shim.sock, shim.pid, pid, runc.log); the OCI runtime keeps its
// own state under `root`.
//
// Exits are noticed without polling: the runtime holds a connection to each
// shim's socket (watched on the loop); the shim closes it by exiting once the
// container's exit is recorded. A new runtime object (after an agent restart)
// reconnects to the shims still running and reports the exits recorded while no
// agent was there, so OnExit fires for every container that exits, adopted ones
// included (at most once per runtime object; a container found already exited
// when the object is created is reported to it too).
//
// Errors (Start): the OCI runtime's own message in containerd's wording, e.g.
//   failed to create containerd task: failed to create shim task: OCI runtime
//   create failed: runc create failed: unable to start container process: exec:
//   "nope": executable file not found in $PATH: unknown
//
// Threading: as Runtime, loop thread only; blocking work runs on the WorkPool.
#pragma once

#include <string>
#include <vector>

#include "agent/runtime/runtime.h"
#include "common/work_pool.h"
#include "http/loop.h"

namespace minik::agent::runtime {

struct RuncOptions {
  // The OCI runtime binary: a name looked up on PATH, or a path.
  std::string runtime = "runc";
  // The OCI runtime's --root (the agent passes <data-dir>/agent/runc, never the
  // host's).
  std::string runtime_root;
  // Where the per-container state dirs live (<data-dir>/agent/containers).
  std::string state_root;
  // The argv prefix that runs the shim. Empty (production): the shim embedded in this binary
  // (shim_image.h), executed from a memfd; tests may pass another executable.
  std::vector<std::string> shim_command;
  // How long Start waits for the container to run.
  int64_t start_timeout_ms = 120000;
  // OCI runtime starts (`runc run`, mostly CPU) in flight at once; more Start calls queue, without
  // holding a pool thread. 8 starts are as fast as 30 at once on 2 cores (test/bench runc
  // scenario) and bound the memory of a burst (one Go process each).
  int max_parallel_starts = 8;
};

// The options are checked when the runtime is created; a runtime binary that
// cannot be found makes every Start fail with a clear message.
RuntimePtr NewRuncRuntime(http::Loop& loop, WorkPool& pool, RuncOptions options);

}  // namespace minik::agent::runtime
