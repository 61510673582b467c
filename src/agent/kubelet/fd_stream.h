// A byte stream over one file descriptor on the agent's loop: a pipe end, a terminal master or a
// connected TCP socket, read and written through libuv (uv_pipe_t, or uv_tcp_t for sockets so
// that half-close works). Streaming (exec, attach, port-forward) pumps process stdio and pod
// connections with it.
//
// Reads are delivered as they come while reading is on (StartReading / StopReading give
// back-pressure toward the fd). End of input is reported once: EOF, or EIO from a terminal master
// whose other side closed (what a pty says instead of EOF), as OK; any other read error as that
// error. Writes are queued without limit; queued() tells how much waits, and on_drained runs each
// time the queue empties after it was not empty.
//
// The stream owns its fd (closed with it). The object may be destroyed at any time, also from
// inside its own callbacks (nothing runs after the callback that destroyed it returns).
//
// Threading: the loop thread only.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
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
  size_t queued() const { return queued_; }
  bool write_failed() const { return write_failed_; }
  // No more writes: once the queue is flushed, a socket sends FIN (shutdown(SHUT_WR)); a pipe's
  // write end is closed (which ends the stream: a write-only pipe has nothing to read).
  void ShutdownWrite();
  bool write_shut() const { return shut_; }

  void CloseHandles() override;

 private:
  struct Impl;
  FdStream(http::Loop& loop, Kind kind);
  void OnRead(ssize_t nread, const char* base);
  void OnWriteDone(size_t bytes, int status);
  void MaybeFinishShutdown();

  http::Loop& loop_;
  Kind kind_;
  Impl* impl_ = nullptr;  // the libuv handle and its read buffer; freed by its close callback
  Callbacks cbs_;
  bool reading_ = false;
  bool read_ended_ = false;
  bool write_failed_ = false;
  bool shut_ = false;
  bool shutdown_started_ = false;
  size_t queued_ = 0;
  size_t writes_in_flight_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace minik::agent::kubelet
