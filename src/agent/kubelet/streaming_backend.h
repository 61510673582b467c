// The kubelet's side of streaming (streaming/backend.h): `kubectl logs`, `exec`, `attach` and
// `port-forward` for the pods this kubelet runs.
//
//   Logs: the container's CRI log file (ContainerLocator::Locate, with --previous the instance
//     before), read with CriLogReader (tailLines, sinceSeconds/sinceTime, timestamps, limitBytes).
//     Reading stops while the sink holds more than kHighWater bytes and resumes in OnWritable.
//     Following watches the log's directory (inotify) and reads on every change, across
//     rotations; the stream ends after a last read once the container exits, as upstream's
//     kubelet does (and at once for a container that is not running).
//   Exec / attach: Runtime::Exec (or Attach), then the process's fds are pumped with libuv:
//     session stdin to the process (stdin end closes it; with a TTY an EOT goes through the
//     terminal), stdout/stderr to the session with back-pressure both ways, resizes to the
//     terminal. Once the process exited and its output is drained, the session ends with the
//     exit code (attach: with success, as upstream's attach does). A cancelled session kills the
//     exec'd process (attach: detaches).
//   Port-forward: a TCP connection to localhost:<port> made inside the pod's network namespace
//     on the WorkPool (127.0.0.1, then [::1]), then bytes both ways with half-close and
//     back-pressure. Errors in containerd's words behind the kubelet's "error forwarding port".
//
// Writing to a process or socket that went away must not kill the agent: the process must
// ignore SIGPIPE (signal(SIGPIPE, SIG_IGN) in main, as every libuv server does).
//
// Threading: the loop thread of the given Loop (the agent's loop) for everything, including the
// ContainerLocator and the Runtime; blocking connects run on the WorkPool. Destroy it on the loop
// thread before the Loop, the WorkPool, the locator and the runtime.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "agent/kubelet/kubelet.h"
#include "agent/runtime/runtime.h"
#include "agent/streaming/backend.h"
#include "common/work_pool.h"
#include "http/loop.h"

namespace minik::agent::kubelet {

// netns_path(pod uid): the pod's network namespace file (oci::PodNamespacePaths(run_dir,
// uid).net), or "" for a hostNetwork pod (connect in the agent's own namespace).
using NetnsPathFn = std::function<std::string(const std::string& pod_uid)>;

struct KubeletStreamingOptions {
  // After an exec'd process exited, its output is still forwarded until its pipes close; a pipe a
  // leftover background process keeps open is given up once no output came for this long.
  uint64_t exec_drain_idle_ms = 1000;
  // Bytes read from a log file per loop turn before letting other work run.
  size_t log_burst_bytes = 1 << 20;
};

class KubeletStreaming final : public streaming::StreamingBackend {
 public:
  KubeletStreaming(http::Loop& loop, WorkPool& pool, ContainerLocator& locator, runtime::Runtime& runtime,
                   NetnsPathFn netns_path, KubeletStreamingOptions options = {});
  ~KubeletStreaming() override;
  KubeletStreaming(const KubeletStreaming&) = delete;
  KubeletStreaming& operator=(const KubeletStreaming&) = delete;

  void Logs(const streaming::LogRequest& req, std::shared_ptr<streaming::LogSink> sink) override;
  void Exec(const streaming::ExecRequest& req, std::shared_ptr<streaming::ExecSession> session) override;
  void PortForward(const streaming::PortForwardRequest& req,
                   std::shared_ptr<streaming::PortForwardStream> stream) override;

  // Streams in progress (tests and metrics).
  size_t active_logs() const { return logs_.size(); }
  size_t active_execs() const { return execs_.size(); }
  size_t active_forwards() const { return forwards_.size(); }

 private:
  struct LogStream;
  struct ExecStream;
  struct Forward;

  void OnContainerExit(const std::string& id);

  void PumpLog(uint64_t id);
  void FinishLog(uint64_t id);
  LogStream* FindLog(uint64_t id);

  void ExecStarted(uint64_t id, StatusOr<runtime::ExecProcessPtr> proc);
  void ExecStdin(uint64_t id, std::string_view data);
  void ExecStdinEnd(uint64_t id);
  void ExecCloseStdin(ExecStream& e);
  void ExecOutput(uint64_t id, bool is_stderr, std::string_view data);
  void ExecOutputEnded(uint64_t id, bool is_stderr);
  void ExecResumeOutput(uint64_t id);
  void ExecExited(uint64_t id, StatusOr<int> result);
  void ExecMaybeFinish(ExecStream& e);
  void ExecCancel(uint64_t id);
  void FinishExec(uint64_t id);
  ExecStream* FindExec(uint64_t id);

  void ForwardConnected(uint64_t id, int fd);
  void ForwardClientData(uint64_t id, std::string_view data);
  void ForwardClientEnd(uint64_t id);
  void ForwardSocketData(uint64_t id, std::string_view data);
  void ForwardSocketEnd(uint64_t id, const Status& st);
  void ForwardFail(uint64_t id, const std::string& cause);
  void ForwardMaybeFinish(Forward& f);
  void FinishForward(uint64_t id);
  Forward* FindForward(uint64_t id);

  http::Loop& loop_;
  WorkPool& pool_;
  ContainerLocator& locator_;
  runtime::Runtime& runtime_;
  NetnsPathFn netns_path_;
  KubeletStreamingOptions options_;
  uint64_t next_id_ = 1;
  std::map<uint64_t, std::unique_ptr<LogStream>> logs_;
  std::map<uint64_t, std::unique_ptr<ExecStream>> execs_;
  std::map<uint64_t, std::unique_ptr<Forward>> forwards_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace minik::agent::kubelet
