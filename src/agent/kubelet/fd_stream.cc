#include "agent/kubelet/fd_stream.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <string>

// Why not uv_pipe_t / uv_tcp_t: libuv's stream code reports end of file as soon as the fd polls
// HUP after a short read. A terminal master polls HUP once the other side closed while the last
// output can still be in the terminal's buffers (the next read would return it, then EIO), so a
// libuv stream loses the end of a `kubectl exec -t` session's output now and then. Reading until
// read() itself says EOF/EIO, over uv_poll, loses nothing.

namespace minik::agent::kubelet {

namespace {

constexpr size_t kReadBuffer = 64 * 1024;
constexpr int kReadsPerWakeup = 16;  // then let the loop run other work

Status ErrnoStatus(const char* what, int err) {
  std::string msg = std::strerror(err);
  if (!msg.empty()) msg[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(msg[0])));
  return Status::Unavailable(std::string(what) + ": " + msg);
}

}  // namespace

struct FdStream::Impl {
  uv_poll_t poll;
  int fd = -1;
  FdStream* owner = nullptr;  // null once the FdStream is gone (the handle is closing)
  char buf[kReadBuffer];
};

FdStream::FdStream(http::Loop& loop, Kind kind) : loop_(loop), kind_(kind) {}

StatusOr<std::unique_ptr<FdStream>> FdStream::Open(http::Loop& loop, int fd, Kind kind) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
    int err = errno;
    close(fd);
    return ErrnoStatus("open stream", err);
  }
  std::unique_ptr<FdStream> s(new FdStream(loop, kind));
  auto* impl = new Impl;
  impl->fd = fd;
  int rc = uv_poll_init(loop.raw(), &impl->poll, fd);
  if (rc != 0) {
    delete impl;  // a failed init leaves nothing registered with the loop
    close(fd);
    return Status::Unavailable(std::string("open stream: ") + uv_strerror(rc));
  }
  impl->poll.data = impl;
  impl->owner = s.get();
  s->impl_ = impl;
  loop.Register(s.get());
  return s;
}

FdStream::~FdStream() {
  *alive_ = false;
  CloseHandles();
  loop_.Unregister(this);
}

void FdStream::CloseHandles() {
  if (impl_ == nullptr) return;
  Impl* impl = impl_;
  impl_ = nullptr;
  reading_ = false;
  impl->owner = nullptr;
  uv_poll_stop(&impl->poll);
  uv_close(reinterpret_cast<uv_handle_t*>(&impl->poll), [](uv_handle_t* h) {
    auto* i = static_cast<Impl*>(h->data);
    close(i->fd);
    delete i;
  });
}

void FdStream::UpdatePoll() {
  if (impl_ == nullptr) return;
  int events = 0;
  if (reading_) events |= UV_READABLE;
  if (!pending_.empty() && !write_failed_) events |= UV_WRITABLE;
  if (events == polling_) return;
  polling_ = events;
  if (events == 0) {
    uv_poll_stop(&impl_->poll);
    return;
  }
  uv_poll_start(&impl_->poll, events, [](uv_poll_t* p, int status, int ev) {
    auto* impl = static_cast<Impl*>(p->data);
    if (impl->owner != nullptr) impl->owner->OnPoll(status, ev);
  });
}

void FdStream::OnPoll(int status, int events) {
  std::weak_ptr<bool> alive = alive_;
  if (status < 0) {
    // libuv stopped the handle (POLLERR): find out what happened by trying what we wanted.
    polling_ = 0;
    events = (reading_ ? UV_READABLE : 0) | (pending_.empty() ? 0 : UV_WRITABLE);
  }
  if (events & UV_WRITABLE) {
    Flush();
    if (alive.expired()) return;
  }
  if ((events & (UV_READABLE | UV_DISCONNECT)) && reading_) {
    ReadSome();
    if (alive.expired()) return;
  }
  UpdatePoll();
}

void FdStream::StartReading() {
  if (impl_ == nullptr || reading_ || read_ended_) return;
  reading_ = true;
  UpdatePoll();
}

void FdStream::StopReading() {
  if (!reading_) return;
  reading_ = false;
  UpdatePoll();
}

void FdStream::ReadSome() {
  std::weak_ptr<bool> alive = alive_;
  for (int i = 0; i < kReadsPerWakeup && reading_ && impl_ != nullptr; ++i) {
    ssize_t r = read(impl_->fd, impl_->buf, sizeof impl_->buf);
    if (r > 0) {
      auto fn = cbs_.on_data;  // a copy: the callback may destroy this object
      if (fn) fn(std::string_view(impl_->buf, static_cast<size_t>(r)));
      if (alive.expired()) return;
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    // End of input. A terminal master reads EIO once the other side closed and its output was
    // all read: its end of file.
    Status st = (r == 0 || errno == EIO) ? Status::OK() : ErrnoStatus("read", errno);
    reading_ = false;
    read_ended_ = true;
    UpdatePoll();
    auto fn = cbs_.on_end;
    if (fn) fn(st);
    return;
  }
}

ssize_t FdStream::WriteFd(const char* data, size_t len) {
  ssize_t w;
  do {
    w = kind_ == Kind::kTcp ? send(impl_->fd, data, len, MSG_NOSIGNAL) : write(impl_->fd, data, len);
  } while (w < 0 && errno == EINTR);
  return w;
}

bool FdStream::Write(std::string_view data) {
  if (impl_ == nullptr || write_failed_ || shut_) return false;
  if (data.empty()) return true;
  if (pending_.empty()) {
    ssize_t w = WriteFd(data.data(), data.size());
    if (w > 0) {
      data.remove_prefix(static_cast<size_t>(w));
      if (data.empty()) return true;
    } else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      FailWrite(errno, /*now=*/false);
      return false;
    }
  }
  if (pending_off_ > 0 && pending_off_ >= pending_.size() / 2) {
    pending_.erase(0, pending_off_);
    pending_off_ = 0;
  }
  pending_.append(data);
  UpdatePoll();
  return true;
}

void FdStream::Flush() {
  if (impl_ == nullptr || pending_.empty()) return;
  while (pending_off_ < pending_.size()) {
    ssize_t w = WriteFd(pending_.data() + pending_off_, pending_.size() - pending_off_);
    if (w > 0) {
      pending_off_ += static_cast<size_t>(w);
      continue;
    }
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    FailWrite(w < 0 ? errno : EPIPE, /*now=*/true);
    return;
  }
  pending_.clear();
  pending_off_ = 0;
  std::weak_ptr<bool> alive = alive_;
  MaybeFinishShutdown();
  if (alive.expired()) return;
  auto fn = cbs_.on_drained;
  if (fn) fn();
}

void FdStream::FailWrite(int err, bool now) {
  if (write_failed_) return;
  write_failed_ = true;
  pending_.clear();
  pending_off_ = 0;
  Status st = ErrnoStatus("write", err);
  if (now) {
    auto fn = cbs_.on_write_error;
    if (fn) fn(st);
    return;
  }
  // Not from inside the caller's Write().
  std::weak_ptr<bool> alive = alive_;
  loop_.Post([this, alive, st] {
    if (alive.expired()) return;
    if (auto fn = cbs_.on_write_error) fn(st);
  });
}

void FdStream::ShutdownWrite() {
  if (shut_) return;
  shut_ = true;
  MaybeFinishShutdown();
}

void FdStream::MaybeFinishShutdown() {
  if (!shut_ || shutdown_done_ || !pending_.empty() || impl_ == nullptr) return;
  shutdown_done_ = true;
  if (kind_ == Kind::kPipe) {
    CloseHandles();
    return;
  }
  shutdown(impl_->fd, SHUT_WR);
}

}  // namespace minik::agent::kubelet
