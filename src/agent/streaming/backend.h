// What the kubelet implements for streaming (logs, exec, attach, port-forward), and the sessions
// through which it talks back to kubectl. The agent's TunnelClient (tunnel_client.h) receives
// requests from the API server over the agent's tunnel and hands them to a StreamingBackend; the
// server translates to kubectl's protocols.
//
// Every session first either Accept()s (the request is valid and running) or Fail()s with an API
// error (kubectl shows it: use upstream's codes and messages, e.g. BadRequest `container "x" in pod
// "y" is waiting to start: ContainerCreating`, NotFound `container not found ("x")`). Then it
// streams output with back-pressure: stop reading the source while Buffered() is above kHighWater
// and resume in OnWritable(). on_cancel runs when kubectl (or the tunnel) went away: stop and drop
// the session. Dropping the last reference to a session that did not end resets its stream.
//
// Threading: the agent's loop thread. Backends are called there and must call sessions there (post
// results of blocking work back to the loop).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace minik::agent::streaming {

constexpr size_t kHighWater = 1 << 20;

struct PodRef {
  std::string namespace_;
  std::string pod;
  std::string uid;
  std::string container;  // always set for logs, exec and attach (the server
                          // picked the default)
};

struct LogRequest {
  PodRef ref;
  bool follow = false;
  bool previous = false;
  bool timestamps = false;  // prefix lines with their RFC 3339 nano timestamp
  std::optional<int64_t> tail_lines;
  std::optional<int64_t> limit_bytes;
  std::optional<int64_t> since_seconds;
  std::string since_time;  // RFC 3339 ("" = unset); at most one of since_* is set
};

struct ExecRequest {
  PodRef ref;
  bool attach = false;               // attach to the container's main process instead of exec
  std::vector<std::string> command;  // exec only
  bool stdin_ = false;
  bool stdout_ = false;
  bool stderr_ = false;  // never with tty (the tty merges stderr into stdout)
  bool tty = false;
};

struct PortForwardRequest {
  PodRef ref;  // container empty
  int port = 0;
};

struct TerminalSize {
  uint16_t width = 0;
  uint16_t height = 0;
};

// The output of a log request.
class LogSink {
 public:
  virtual ~LogSink() = default;
  // The log exists and output follows (implied by the first Write or End).
  virtual void Accept() = 0;
  // Before Accept: an API error for kubectl. After: aborts the stream.
  virtual void Fail(const Status& error) = 0;
  // Log bytes; false once the client is gone.
  virtual bool Write(std::string_view data) = 0;
  // The log is complete (for follow: the container ended).
  virtual void End() = 0;
  virtual size_t Buffered() const = 0;
  virtual void OnWritable(std::function<void()> fn) = 0;
  virtual void OnCancel(std::function<void()> fn) = 0;
  virtual bool closed() const = 0;
};

// An exec or attach.
class ExecSession {
 public:
  virtual ~ExecSession() = default;
  struct Handlers {
    std::function<void(std::string_view)> on_stdin;
    std::function<void()> on_stdin_end;  // stdin reached EOF
    std::function<void(TerminalSize)> on_resize;
    std::function<void()> on_cancel;
  };
  virtual void SetHandlers(Handlers h) = 0;
  // The process runs (or the attach is in place); input and output flow from now on.
  virtual void Accept() = 0;
  // Before Accept: an API error for kubectl ("unable to upgrade connection: ..."). After: the exec
  // failed (kubectl prints "Internal error occurred: <message>").
  virtual void Fail(const Status& error) = 0;
  virtual bool WriteStdout(std::string_view data) = 0;
  virtual bool WriteStderr(std::string_view data) = 0;
  // The process exited with this code (kubectl exits with it); ends the session.
  virtual void Exit(int code) = 0;
  virtual size_t Buffered() const = 0;
  virtual void OnWritable(std::function<void()> fn) = 0;
  // Stdin back-pressure toward kubectl.
  virtual void PauseStdin() = 0;
  virtual void ResumeStdin() = 0;
  virtual bool closed() const = 0;
};

// One connection to a port of the pod (each local connection of kubectl port-forward).
class PortForwardStream {
 public:
  virtual ~PortForwardStream() = default;
  struct Handlers {
    std::function<void(std::string_view)> on_data;  // bytes for the pod's port
    std::function<void()> on_end;                   // the client half-closed
    std::function<void()> on_cancel;
  };
  virtual void SetHandlers(Handlers h) = 0;
  // Connected to the port.
  virtual void Accept() = 0;
  // Before or after Accept: kubectl shows the message and drops the connection. Upstream's text:
  // "error forwarding port 80 to pod <name>, uid <uid>: <cause>".
  virtual void Fail(const Status& error) = 0;
  virtual bool Write(std::string_view data) = 0;  // bytes from the pod's port
  virtual void End() = 0;                         // the port closed its side
  virtual size_t Buffered() const = 0;
  virtual void OnWritable(std::function<void()> fn) = 0;
  virtual void PauseInput() = 0;
  virtual void ResumeInput() = 0;
  virtual bool closed() const = 0;
};

class StreamingBackend {
 public:
  virtual ~StreamingBackend() = default;
  virtual void Logs(const LogRequest& req, std::shared_ptr<LogSink> sink) = 0;
  virtual void Exec(const ExecRequest& req,
                    std::shared_ptr<ExecSession> session) = 0;  // and attach
  virtual void PortForward(const PortForwardRequest& req, std::shared_ptr<PortForwardStream> stream) = 0;
};

}  // namespace minik::agent::streaming
