// A byte stream over one non-blocking file descriptor on the agent's loop: a pipe end, a
// terminal master or a connected TCP socket, watched with uv_poll and read and written directly
// (libuv's own streams end a terminal's output early: see fd_stream.cc). Streaming (exec,
// attach, port-forward) pumps process stdio and pod connections with it.
//
// Reads are delivered as they come while reading is on (StartReading / StopReading give
// back-pressure toward the fd). End of input is reported once: EOF, or EIO from a terminal master
// whose other side closed (what a pty says instead of EOF), as OK; any other read error as that
// error. Writes are queued without limit; queued() tells how much waits, and on_drained runs each
// time the queue empties after it was not empty. Sockets are written with MSG_NOSIGNAL; a pipe
// whose reader is gone still raises SIGPIPE (the agent ignores it).
//
// The stream owns its fd (closed with it). The object may be destroyed at any time, also from
// inside its own callbacks (nothing runs after the callback that destroyed it returns).
//
// Threading: the loop thread only.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "http/loop.h"

namespace minik::agent::kubelet {

class FdStream final : public http::Loop::Owner {
 public:
  enum class Kind { kPipe, kTcp };
  struct Callbacks {
    std::function<void(std::string_view)> on_data;
    // End of input: OK for EOF, else the read error. Runs at most once.
    std::function<void(const Status&)> on_end;
    // A write failed (EPIPE, ECONNRESET, ...): later writes are dropped.
    std::function<void(const Status&)> on_write_error;
    std::function<void()> on_drained;
  };

  // Takes ownership of fd (also when it fails: the fd is closed then). The fd is made
  // non-blocking.
  static StatusOr<std::unique_ptr<FdStream>> Open(http::Loop& loop, int fd, Kind kind);
  ~FdStream();
  FdStream(const FdStream&) = delete;
  FdStream& operator=(const FdStream&) = delete;

  void SetCallbacks(Callbacks cbs) { cbs_ = std::move(cbs); }
  void StartReading();
  void StopReading();
  bool reading() const { return reading_; }
  bool read_ended() const { return read_ended_; }

  // Queues data (copied). False when the stream can no longer write.
  bool Write(std::string_view data);
  size_t queued() const { return pending_.size() - pending_off_; }
  bool write_failed() const { return write_failed_; }
  // No more writes: once the queue is flushed, a socket sends FIN (shutdown(SHUT_WR)); a pipe's
  // write end is closed (which ends the stream: a write-only pipe has nothing to read).
  void ShutdownWrite();
  bool write_shut() const { return shut_; }

  void CloseHandles() override;

 private:
  struct Impl;
  FdStream(http::Loop& loop, Kind kind);
  void UpdatePoll();
  void OnPoll(int status, int events);
  void ReadSome();
  ssize_t WriteFd(const char* data, size_t len);
  void Flush();
  void FailWrite(int err, bool now);
  void MaybeFinishShutdown();

  http::Loop& loop_;
  Kind kind_;
  Impl* impl_ = nullptr;  // the poll handle, the fd and the read buffer; freed by the close callback
  Callbacks cbs_;
  int polling_ = 0;  // the uv_poll events asked for
  bool reading_ = false;
  bool read_ended_ = false;
  bool write_failed_ = false;
  bool shut_ = false;
  bool shutdown_done_ = false;
  std::string pending_;  // bytes not yet written, from pending_off_
  size_t pending_off_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace minik::agent::kubelet
