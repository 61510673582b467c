#include "agent/kubelet/fd_stream.h"

#include <unistd.h>
#include <uv.h>

#include <string>

namespace minik::agent::kubelet {

namespace {

constexpr size_t kReadBuffer = 64 * 1024;

Status UvStatus(const char* what, int rc) { return Status::Unavailable(std::string(what) + ": " + uv_strerror(rc)); }

}  // namespace

struct FdStream::Impl {
  union {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_pipe_t pipe;
    uv_tcp_t tcp;
  };
  FdStream* owner = nullptr;  // null once the FdStream is gone (the handle is closing)
  char buf[kReadBuffer];
};

namespace {

struct WriteReq {
  uv_write_t req;
  std::string data;
};

}  // namespace

FdStream::FdStream(http::Loop& loop, Kind kind) : loop_(loop), kind_(kind) {}

StatusOr<std::unique_ptr<FdStream>> FdStream::Open(http::Loop& loop, int fd, Kind kind) {
  std::unique_ptr<FdStream> s(new FdStream(loop, kind));
  auto* impl = new Impl;
  int rc;
  if (kind == Kind::kTcp) {
    uv_tcp_init(loop.raw(), &impl->tcp);
    rc = uv_tcp_open(&impl->tcp, fd);
  } else {
    uv_pipe_init(loop.raw(), &impl->pipe, 0);
    rc = uv_pipe_open(&impl->pipe, fd);
  }
  if (rc != 0) {
    impl->handle.data = impl;
    uv_close(&impl->handle, [](uv_handle_t* h) { delete static_cast<Impl*>(h->data); });
    close(fd);
    return UvStatus("open stream", rc);
  }
  impl->owner = s.get();
  impl->handle.data = impl;
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
  if (!uv_is_closing(&impl->handle)) {
    uv_close(&impl->handle, [](uv_handle_t* h) { delete static_cast<Impl*>(h->data); });
  }
}

void FdStream::StartReading() {
  if (impl_ == nullptr || reading_ || read_ended_) return;
  int rc = uv_read_start(
      &impl_->stream,
      [](uv_handle_t* h, size_t, uv_buf_t* buf) {
        auto* impl = static_cast<Impl*>(h->data);
        *buf = uv_buf_init(impl->buf, sizeof impl->buf);
      },
      [](uv_stream_t* st, ssize_t nread, const uv_buf_t* buf) {
        auto* impl = static_cast<Impl*>(st->data);
        if (impl->owner != nullptr) impl->owner->OnRead(nread, buf->base);
      });
  if (rc == 0) {
    reading_ = true;
    return;
  }
  // Not readable (a closed or write-only fd): report the end later, not from inside this call.
  read_ended_ = true;
  std::weak_ptr<bool> alive = alive_;
  Status st = rc == UV_EOF ? Status::OK() : UvStatus("read", rc);
  loop_.Post([this, alive, st] {
    if (alive.expired()) return;
    if (auto fn = cbs_.on_end) fn(st);
  });
}

void FdStream::StopReading() {
  if (impl_ == nullptr || !reading_) return;
  uv_read_stop(&impl_->stream);
  reading_ = false;
}

void FdStream::OnRead(ssize_t nread, const char* base) {
  if (nread == 0) return;  // EAGAIN
  if (nread > 0) {
    auto fn = cbs_.on_data;  // a copy: the callback may destroy this object
    if (fn) fn(std::string_view(base, static_cast<size_t>(nread)));
    return;
  }
  // A terminal master reads EIO once the other side is closed: its end of file.
  Status st = (nread == UV_EOF || nread == UV_EIO) ? Status::OK() : UvStatus("read", static_cast<int>(nread));
  StopReading();
  read_ended_ = true;
  auto fn = cbs_.on_end;
  if (fn) fn(st);
}

bool FdStream::Write(std::string_view data) {
  if (impl_ == nullptr || write_failed_ || shut_) return false;
  if (data.empty()) return true;
  if (writes_in_flight_ == 0) {
    uv_buf_t b = uv_buf_init(const_cast<char*>(data.data()), static_cast<unsigned>(data.size()));
    int n = uv_try_write(&impl_->stream, &b, 1);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      if (data.empty()) return true;
    } else if (n != UV_EAGAIN && n != UV_ENOSYS) {
      write_failed_ = true;
      std::weak_ptr<bool> alive = alive_;
      Status st = UvStatus("write", n);
      loop_.Post([this, alive, st] {
        if (alive.expired()) return;
        if (auto fn = cbs_.on_write_error) fn(st);
      });
      return false;
    }
  }
  auto* req = new WriteReq;
  req->data.assign(data);
  req->req.data = req;
  uv_buf_t b = uv_buf_init(req->data.data(), static_cast<unsigned>(req->data.size()));
  int rc = uv_write(&req->req, &impl_->stream, &b, 1, [](uv_write_t* w, int status) {
    auto* r = static_cast<WriteReq*>(w->data);
    auto* impl = static_cast<Impl*>(w->handle->data);
    size_t bytes = r->data.size();
    delete r;
    if (impl != nullptr && impl->owner != nullptr) impl->owner->OnWriteDone(bytes, status);
  });
  if (rc != 0) {
    delete req;
    write_failed_ = true;
    return false;
  }
  queued_ += data.size();
  ++writes_in_flight_;
  return true;
}

void FdStream::OnWriteDone(size_t bytes, int status) {
  queued_ -= std::min(queued_, bytes);
  if (writes_in_flight_ > 0) --writes_in_flight_;
  std::weak_ptr<bool> alive = alive_;
  if (status < 0 && status != UV_ECANCELED && !write_failed_) {
    write_failed_ = true;
    auto fn = cbs_.on_write_error;
    if (fn) fn(UvStatus("write", status));
    if (alive.expired()) return;
  }
  if (writes_in_flight_ == 0) {
    MaybeFinishShutdown();
    if (alive.expired()) return;
    auto fn = cbs_.on_drained;
    if (fn) fn();
  }
}

void FdStream::ShutdownWrite() {
  if (shut_) return;
  shut_ = true;
  MaybeFinishShutdown();
}

void FdStream::MaybeFinishShutdown() {
  if (!shut_ || shutdown_started_ || writes_in_flight_ > 0 || impl_ == nullptr) return;
  shutdown_started_ = true;
  if (kind_ == Kind::kPipe) {
    CloseHandles();
    return;
  }
  auto* req = new uv_shutdown_t;
  if (uv_shutdown(req, &impl_->stream, [](uv_shutdown_t* r, int) { delete r; }) != 0) delete req;
}

}  // namespace minik::agent::kubelet
