// `minik shim`: the supervisor of one container (containerd's shim, much
// smaller).
//
//   minik shim STATE_DIR [--ready-fd=N]
//
// It runs as a small static program of its own (shim_main.cc) embedded in minik
// (shim_image.h); `minik shim` re-executes into it.
//
// STATE_DIR holds spec.json (written by the runtime before it starts the shim:
// container ID, bundle, log path, OCI runtime binary and root, stdin/tty flags,
// labels). The shim
//  - daemonizes (forks; the parent exits at once; the child calls setsid,
//  points its stdio at
//    /dev/null, closes every other fd but the ready fd, becomes a child
//    subreaper), so it survives the agent being killed, with its process group
//    or not;
//  - runs `<runtime> --root R --log STATE_DIR/runc.log --log-format json run --detach
//    --bundle B --pid-file STATE_DIR/pid [--console-socket S] ID` with pipes for the
//    container's stdio (a pty received on the console socket for a TTY): one OCI runtime
//    invocation per container;
//  - reports "OK" or "E<message>" on the ready fd and closes it (the message is
//  the OCI
//    runtime's own error, e.g. `runc create failed: unable to start container
//    process: exec: "nope": executable file not found in $PATH`);
//  - writes the container's stdout/stderr into the CRI log (CriLogWriter),
//  forwards them to
//    attached clients and their stdin to the container;
//  - reaps the container, records its exit in status.json (written atomically)
//  and exits.
//
// The shim serves STATE_DIR/shim.sock. A client sends one command byte first:
//   'W'  watch: nothing more is exchanged; the connection closes when the shim
//   exits (the
//        container exited and its status is recorded).
//   'A' <flags>  attach, with SCM_RIGHTS fds in this order: the write end of a
//   pipe that
//        receives stdout (the terminal's output with a TTY), then the write end
//        of one for stderr when flags & 1, then the read end of one the shim
//        reads stdin from when flags & 2. Afterwards the client may send 'R'
//        <cols:u16 LE> <rows:u16 LE> to resize the terminal. Closing the
//        connection detaches. Output that an attached client does not read in
//        time is dropped for that client (it is in the log).
//
// Threading: ShimMain runs single-threaded in its own process and never returns
// to the caller in the daemonized child until the container is gone.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/status.h"

namespace minik::agent::runtime {

// args: the words after `shim` (STATE_DIR [--ready-fd=N]). Returns the process
// exit code.
int ShimMain(const std::vector<std::string>& args);

// Files of a container's state dir (shared by the shim and the runtime).
inline constexpr char kShimSpecFile[] = "spec.json";
inline constexpr char kShimStatusFile[] = "status.json";
inline constexpr char kShimSocket[] = "shim.sock";
inline constexpr char kShimPidFile[] = "shim.pid";
inline constexpr char kContainerPidFile[] = "pid";
inline constexpr char kRuncLogFile[] = "runc.log";

// What the runtime tells the shim.
struct ShimSpec {
  std::string id;
  std::string bundle_dir;
  std::string log_path;
  std::string runtime;       // absolute path of the OCI runtime binary
  std::string runtime_root;  // its --root
  bool stdin = false;
  bool stdin_once = false;
  bool tty = false;
  int64_t created_ns = 0;
  std::map<std::string, std::string> labels;
  std::string termination_message_path;  // as StartRequest's
  bool termination_message_fallback_to_logs = false;
};
Status WriteShimSpec(const std::string& state_dir, const ShimSpec& spec);
StatusOr<ShimSpec> ReadShimSpec(const std::string& state_dir);

// What the shim records.
struct ShimStatus {
  int pid = 0;  // the container's init process (host pid namespace)
  int shim_pid = 0;
  int64_t started_ns = 0;  // 0 until the container runs
  bool exited = false;
  int64_t finished_ns = 0;
  int exit_code = 0;  // 128+signal when killed by a signal
  int signal = 0;
  std::string reason;   // "Completed", "Error", "OOMKilled", "StartError", "Unknown"
  std::string message;  // for StartError: the OCI runtime's error; else the termination message
};
Status WriteShimStatus(const std::string& state_dir,
                       const ShimStatus& status);  // atomic
StatusOr<ShimStatus> ReadShimStatus(const std::string& state_dir);

}  // namespace minik::agent::runtime
