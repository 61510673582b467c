// Small process and file helpers private to the runtime (the shim and
// runc_runtime.cc).
//
// Threading: every function is thread-safe (no shared state); the blocking ones
// (Run, the file functions) belong on a WorkPool thread or in the shim.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace minik::agent::runtime::internal {

struct SpawnOptions {
  std::vector<std::string> argv;  // argv[0] is the path executed unless `path` is set
  std::string path;               // the file executed, when not argv[0]
  int stdin_fd = -1;              // -1: /dev/null
  int stdout_fd = -1;
  int stderr_fd = -1;
  std::vector<std::pair<int, int>> extra_fds;  // {fd here, fd in the child} (child fd > 2)
  bool new_session = false;                    // setsid() in the child
  std::string cwd;
};
// posix_spawn with default signal dispositions and an empty signal mask in the
// child (the caller may ignore SIGPIPE or block SIGCHLD; the container must not
// inherit that).
StatusOr<pid_t> Spawn(const SpawnOptions& opts);

// A wait status as an exit code: the code, or 128+signal.
int ExitCodeOf(int wait_status);
// waitpid() retrying on EINTR; the raw status, or -1.
int WaitPid(pid_t pid);

struct CaptureOptions {
  int64_t timeout_ms = 0;         // > 0: a deadline
  size_t max_output = 64 * 1024;  // bytes of output kept; the rest is read and dropped
  // Called at the deadline with the child's pid and how many times it was called before;
  // returns how many more milliseconds to read (then it is called again), or 0 to stop reading
  // at once. Unset: SIGKILL the child and stop.
  std::function<int64_t(pid_t child, int calls)> on_deadline;
};
struct CapturedRun {
  int wait_status = -1;    // WaitPid's
  bool timed_out = false;  // the deadline passed (on_deadline was called)
  std::string output;      // stdout and stderr
};
// Runs argv with stdout and stderr on one pipe, reads the pipe until every writer closed it (or
// reading stops at the deadline), then waits for the child.
StatusOr<CapturedRun> RunCaptured(const std::vector<std::string>& argv, const CaptureOptions& opts);

struct RunResult {
  int exit_code = 0;
  std::string output;  // stdout and stderr, at most 64 KiB
};
// Runs argv to completion (SIGKILL after timeout_ms > 0, giving Timeout).
StatusOr<RunResult> Run(const std::vector<std::string>& argv, int64_t timeout_ms);

// The message of the last "error" record of an OCI runtime's JSON log (runc
// --log-format json), or "" when there is none.
std::string LastRuntimeError(const std::string& log_path);

StatusOr<std::string> ReadFile(const std::string& path);
// Writes path atomically (temporary file, rename): readers see the old or the new content, also
// after any process crash. No fsync: these files describe processes, which a power loss ends
// anyway, and a container start must not wait for the disk.
Status WriteFileAtomic(const std::string& path, const std::string& data);
// rm -rf.
void RemoveTree(const std::string& path);
// Looks name up on PATH unless it contains a '/'; "" when not found.
std::string FindExecutable(const std::string& name);

// A connected, close-on-exec unix stream socket (paths longer than sun_path go
// through /proc/self/fd), or -errno.
int ConnectUnix(const std::string& path);

// Sends bytes with SCM_RIGHTS fds; receives them. Return false on error.
bool SendWithFds(int sock, const void* data, size_t len, const int* fds, int nfds);

}  // namespace minik::agent::runtime::internal
