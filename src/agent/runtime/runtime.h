// The container runtime as the kubelet sees it: containers started from OCI bundles by the OCI
// runtime CLI (runc by default), each supervised by its own `minik shim` process that holds the
// container's stdio, writes its CRI-format log and records its exit status. Containers outlive
// the agent: a new agent lists them (List) and adopts them, and their exits still reach it.
//
// Threading: loop thread only (the Loop given at creation); callbacks run on it. Blocking work
// (runc invocations, waiting for the shim) happens on a WorkPool.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace minik::agent::runtime {

struct ContainerStatus {
  enum class State { kCreated, kRunning, kExited, kUnknown };
  std::string id;
  State state = State::kUnknown;
  int pid = 0;
  int exit_code = 0;
  int signal = 0;          // the signal that ended it, 0 when it exited by itself
  std::string reason;      // when exited: "Completed" (0), "Error", "OOMKilled" (as the kubelet says)
  // When exited: the runtime's message, then ": " and the container's termination message (its
  // terminationMessagePath file, or its log's tail per FallbackToLogsOnError), either may be empty.
  std::string message;
  int64_t created_ns = 0;  // wall clock, ns since the epoch
  int64_t started_ns = 0;
  int64_t finished_ns = 0;
  std::string log_path;
  std::map<std::string, std::string> labels;  // as given to Start; kept with the container
};

struct StartRequest {
  std::string id;          // unique container ID (64 hex characters, as containerd's)
  std::string bundle_dir;  // holds config.json; its root.path is mounted already
  std::string log_path;    // CRI log file the shim appends to (its directory exists)
  bool stdin = false;      // keep stdin open (attach / kubectl run -i)
  bool stdin_once = false;
  bool tty = false;
  std::map<std::string, std::string> labels;  // pod uid, container name, restart count, ...
  // A host file bind-mounted at the container's terminationMessagePath ("" for none): on exit its
  // last 4096 bytes become the status message. With fallback_to_logs, a container that failed
  // (exit code != 0) and left it empty gets its log's last 80 lines (at most 2048 bytes) instead.
  std::string termination_message_path;
  bool termination_message_fallback_to_logs = false;
};

struct ExecRequest {
  std::string container_id;
  std::vector<std::string> argv;
  bool tty = false;
  bool stdin = false;
  int64_t timeout_ms = 0;  // 0 = none; the process is killed when it expires
  uint16_t cols = 0;       // with tty: the terminal's size from the start (0 = not known yet)
  uint16_t rows = 0;
};

// A process started in a running container. The fds belong to the ExecProcess (closed with it):
// write stdin to stdin_fd; read stdout_fd and stderr_fd (with a TTY, stdout_fd is the terminal
// master, read and written both, and stderr_fd is -1).
class ExecProcess {
 public:
  virtual ~ExecProcess() = default;
  virtual int stdin_fd() const = 0;
  virtual int stdout_fd() const = 0;
  virtual int stderr_fd() const = 0;
  virtual void CloseStdin() = 0;
  virtual void Resize(uint16_t cols, uint16_t rows) = 0;
  // done(exit code) once the process ends (or Timeout / the error that stopped it).
  virtual void Wait(std::function<void(StatusOr<int>)> done) = 0;
  virtual void Kill() = 0;
};
using ExecProcessPtr = std::unique_ptr<ExecProcess>;

struct ExecResult {
  int exit_code = 0;
  std::string output;  // stdout and stderr, interleaved, truncated to 10 KiB like the kubelet's probes
};

class Runtime {
 public:
  virtual ~Runtime() = default;

  // Starts the container's shim, which creates and starts the container; done once the process
  // runs (OK) or failed to start (the OCI runtime's error, for the pod's waiting message).
  virtual void Start(StartRequest req, std::function<void(Status)> done) = 0;
  virtual void Kill(const std::string& id, int signal, std::function<void(Status)> done) = 0;
  // Deletes an exited container: OCI runtime state and shim state (the log file stays).
  virtual void Remove(const std::string& id, std::function<void(Status)> done) = 0;
  // Every container known, running or exited (a new agent adopts them).
  virtual std::vector<ContainerStatus> List() = 0;
  virtual std::optional<ContainerStatus> Get(const std::string& id) = 0;
  // fn runs for each container that exits (once per container), including adopted ones.
  virtual void OnExit(std::function<void(const ContainerStatus&)> fn) = 0;

  // Runs a command in a running container and collects its output (exec probes, kubectl cp's tar).
  virtual void ExecSync(ExecRequest req, std::function<void(StatusOr<ExecResult>)> done) = 0;
  // Starts an interactive process (kubectl exec).
  virtual void Exec(ExecRequest req, std::function<void(StatusOr<ExecProcessPtr>)> done) = 0;
  // The container's live stdio through its shim (kubectl attach): fds as for ExecProcess. Without
  // `stdin` the client's stdin is not attached (stdin_fd() is -1): its detaching never closes the
  // stdin of a stdinOnce container.
  virtual void Attach(const std::string& id, bool stdin, std::function<void(StatusOr<ExecProcessPtr>)> done) = 0;
};
using RuntimePtr = std::unique_ptr<Runtime>;

}  // namespace minik::agent::runtime
