#include "http/transport.h"

#include <openssl/err.h>

#include <algorithm>

#include "common/log.h"
#include "http/uv_util.h"

namespace minik::http::internal {

namespace {
// Plaintext queued for the end of a loop turn beyond which it is encrypted and sent at once: one
// TLS record's worth (the write BIO keeps its largest size for the connection's life).
constexpr size_t kCoalesceMax = 16 * 1024;
constexpr size_t kSslReadChunk = 16 * 1024;
}  // namespace

std::string SslErrors() {
  std::string out;
  unsigned long e;
  char buf[256];
  while ((e = ERR_get_error()) != 0) {
    ERR_error_string_n(e, buf, sizeof(buf));
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown TLS error" : out;
}

struct Transport::WriteReq {
  uv_write_t req;
  Transport* self;
  std::string a, b;
};

Transport::Transport(uv_loop_t* loop, SSL_CTX* ctx, bool is_server, std::vector<char>* read_buf)
    : tcp_(new uv_tcp_t), is_server_(is_server), read_buf_(read_buf) {
  uv_tcp_init(loop, tcp_);
  tcp_->data = this;
  if (ctx != nullptr) {
    ssl_ = SSL_new(ctx);
    rbio_ = BIO_new(BIO_s_mem());
    wbio_ = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(rbio_, -1);
    BIO_set_mem_eof_return(wbio_, -1);
    SSL_set_bio(ssl_, rbio_, wbio_);  // ssl_ owns both BIOs now
    if (is_server) {
      SSL_set_accept_state(ssl_);
    } else {
      SSL_set_connect_state(ssl_);
    }
  }
}

Transport::~Transport() {
  if (ssl_ != nullptr) SSL_free(ssl_);
  delete tcp_;
}

void Transport::Start() {
  ResumeReading();
  if (ssl_ == nullptr) {
    established_ = true;
    OnEstablished();
    return;
  }
  if (!is_server_) DoHandshake();  // sends the ClientHello
}

void Transport::PauseReading() {
  if (reading_ && !closed_) {
    uv_read_stop(reinterpret_cast<uv_stream_t*>(tcp_));
    reading_ = false;
  }
}

void Transport::ResumeReading() {
  if (reading_ || closed_) return;
  reading_ = true;
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(tcp_),
      [](uv_handle_t* h, size_t, uv_buf_t* buf) {
        auto* self = static_cast<Transport*>(h->data);
        buf->base = self->read_buf_->data();
        buf->len = self->read_buf_->size();
      },
      [](uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) { static_cast<Transport*>(s->data)->OnRead(nread, buf); });
}

size_t Transport::Buffered() const {
  if (closed_) return 0;
  return plain_.size() + uv_stream_get_write_queue_size(reinterpret_cast<const uv_stream_t*>(tcp_));
}

void Transport::CompactInput() {
  if (in_off_ == 0) return;
  if (in_off_ >= in_.size()) {
    in_.clear();
    in_off_ = 0;
  } else if (in_off_ > 64 * 1024 || in_off_ * 2 > in_.size()) {
    in_.erase(0, in_off_);
    in_off_ = 0;
  }
}

void Transport::DoHandshake() {
  int rc = SSL_do_handshake(ssl_);
  if (rc == 1) {
    FlushTls();
    established_ = true;
    if (!early_.empty()) {
      std::string e;
      e.swap(early_);
      Write(std::move(e));
    }
    OnEstablished();
    return;
  }
  int err = SSL_get_error(ssl_, rc);
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
    FlushTls();
    return;
  }
  FlushTls();  // a TLS alert, if any, still goes out
  Close(Status::Unavailable("TLS handshake failed: " + SslErrors()));
}

void Transport::OnRead(ssize_t nread, const uv_buf_t* buf) {
  if (closed_) return;
  if (nread < 0) {
    Close(nread == UV_EOF ? Status::Unavailable("connection closed by peer")
                          : Status::Unavailable(std::string("read: ") + uv_strerror(static_cast<int>(nread))));
    return;
  }
  if (nread == 0 || close_after_flush_) return;  // closing: input is dropped
  if (ssl_ == nullptr) {
    in_.append(buf->base, static_cast<size_t>(nread));
    OnReadable();
    return;
  }
  BIO_write(rbio_, buf->base, static_cast<int>(nread));
  if (!established_) {
    DoHandshake();
    if (closed_ || !established_) return;
  }
  // The ciphertext is in rbio_ now, so the shared read buffer is free for the plaintext.
  bool got = false;
  char* scratch = read_buf_->data();
  int cap = static_cast<int>(std::min(read_buf_->size(), kSslReadChunk * 4));
  for (;;) {
    int n = SSL_read(ssl_, scratch, cap);
    if (n > 0) {
      in_.append(scratch, static_cast<size_t>(n));
      got = true;
      continue;
    }
    int err = SSL_get_error(ssl_, n);
    if (err == SSL_ERROR_WANT_READ) break;
    if (err == SSL_ERROR_ZERO_RETURN) {
      FlushTls();
      if (got) OnReadable();
      Close(Status::Unavailable("connection closed by peer"));
      return;
    }
    Close(Status::Unavailable("TLS read failed: " + SslErrors()));
    return;
  }
  if (BIO_ctrl_pending(wbio_) > 0) FlushTls();  // post-handshake messages, key updates
  if (got) OnReadable();
}

void Transport::Write(std::string data) { Write(std::move(data), std::string()); }

void Transport::Write(std::string head, std::string body) {
  if (closed_ || close_after_flush_) return;
  if (ssl_ == nullptr) {
    SendRaw(std::move(head), std::move(body));
    return;
  }
  if (!established_) {
    early_ += head;
    early_ += body;
    return;
  }
  if (plain_.empty() && head.size() + body.size() >= kCoalesceMax) {
    // Large: no copy into plain_.
    if (!head.empty()) SSL_write(ssl_, head.data(), static_cast<int>(head.size()));
    if (!body.empty()) SSL_write(ssl_, body.data(), static_cast<int>(body.size()));
    FlushTls();
    return;
  }
  plain_ += head;
  plain_ += body;
  if (plain_.size() >= kCoalesceMax) {
    FlushPlain();
    return;
  }
  if (flush_ == nullptr) {
    flush_ = new uv_prepare_t;
    uv_prepare_init(tcp_->loop, flush_);
    flush_->data = this;
  }
  if (!uv_is_active(reinterpret_cast<uv_handle_t*>(flush_))) {
    uv_prepare_start(flush_, [](uv_prepare_t* h) {
      uv_prepare_stop(h);
      if (auto* self = static_cast<Transport*>(h->data)) self->FlushPlain();
    });
  }
}

void Transport::FlushPlain() {
  if (flush_ != nullptr) uv_prepare_stop(flush_);
  if (plain_.empty() || closed_) return;
  SSL_write(ssl_, plain_.data(), static_cast<int>(plain_.size()));
  plain_ = std::string();  // idle connections hold no buffer
  FlushTls();
}

void Transport::FlushTls() {
  size_t n = BIO_ctrl_pending(wbio_);
  if (n == 0) return;
  std::string out(n, '\0');
  int got = BIO_read(wbio_, out.data(), static_cast<int>(n));
  if (got <= 0) return;
  out.resize(static_cast<size_t>(got));
  SendRaw(std::move(out), std::string());
}

void Transport::SendRaw(std::string a, std::string b) {
  if (closed_) return;
  if (a.empty()) a.swap(b);
  if (a.empty()) return;
  auto* stream = reinterpret_cast<uv_stream_t*>(tcp_);
  size_t skip = 0;  // bytes of a+b already written
  if (writes_pending_ == 0) {
    // Nothing queued: write synchronously, without a request or a poll-set change (libuv's
    // uv_write would re-arm epoll after every write).
    uv_buf_t bufs[2] = {uv_buf_init(a.data(), static_cast<unsigned>(a.size())),
                        uv_buf_init(b.data(), static_cast<unsigned>(b.size()))};
    int n = uv_try_write(stream, bufs, b.empty() ? 1 : 2);
    if (n == static_cast<int>(a.size() + b.size())) return;
    if (n < 0 && n != UV_EAGAIN) {
      Close(Status::Unavailable(std::string("write: ") + uv_strerror(n)));
      return;
    }
    if (n > 0) skip = static_cast<size_t>(n);
  }
  auto* w = new WriteReq;
  w->self = this;
  if (skip >= a.size()) {
    w->a = b.substr(skip - a.size());
  } else {
    w->a = skip > 0 ? a.substr(skip) : std::move(a);
    w->b = std::move(b);
  }
  uv_buf_t bufs[2];
  unsigned nbufs = 0;
  if (!w->a.empty()) bufs[nbufs++] = uv_buf_init(w->a.data(), static_cast<unsigned>(w->a.size()));
  if (!w->b.empty()) bufs[nbufs++] = uv_buf_init(w->b.data(), static_cast<unsigned>(w->b.size()));
  ++writes_pending_;
  int rc = uv_write(&w->req, stream, bufs, nbufs, [](uv_write_t* req, int status) {
    auto* w = reinterpret_cast<WriteReq*>(req);
    Transport* self = w->self;
    delete w;
    --self->writes_pending_;
    if (self->closed_) return;
    if (status < 0) {
      self->Close(Status::Unavailable(std::string("write: ") + uv_strerror(status)));
      return;
    }
    if (self->close_after_flush_ && self->writes_pending_ == 0) self->FinishFlush();
  });
  if (rc != 0) {
    --writes_pending_;
    delete w;
    Close(Status::Unavailable(std::string("write: ") + uv_strerror(rc)));
  }
}

void Transport::CloseAfterFlush(bool linger) {
  if (closed_ || close_after_flush_) return;
  if (ssl_ != nullptr && established_) {
    FlushPlain();
    SSL_shutdown(ssl_);
    FlushTls();
  }
  close_after_flush_ = true;
  linger_ = linger;
  if (writes_pending_ == 0) FinishFlush();
}

void Transport::FinishFlush() {
  if (closed_) return;
  if (!linger_) {
    Close(Status::OK());
    return;
  }
  shutdown_req_.data = this;
  if (uv_shutdown(&shutdown_req_, reinterpret_cast<uv_stream_t*>(tcp_), [](uv_shutdown_t* req, int) {
        auto* self = static_cast<Transport*>(req->data);
        if (self->closed_) return;
        self->linger_timer_ = new uv_timer_t;
        uv_timer_init(self->tcp_->loop, self->linger_timer_);
        self->linger_timer_->data = self;
        uv_timer_start(
            self->linger_timer_,
            [](uv_timer_t* t) {
              if (auto* s = static_cast<Transport*>(t->data)) s->Close(Status::OK());
            },
            2000, 0);
      }) != 0) {
    Close(Status::OK());
  }
  ResumeReading();  // until the peer's EOF
}

void Transport::Close(const Status& why) {
  if (closed_) return;
  closed_ = true;
  reading_ = false;
  CloseAndDelete(linger_timer_);
  linger_timer_ = nullptr;
  CloseAndDelete(flush_);
  flush_ = nullptr;
  // Pending write callbacks run (with UV_ECANCELED) before the close callback frees us.
  uv_close(reinterpret_cast<uv_handle_t*>(tcp_), [](uv_handle_t* h) { delete static_cast<Transport*>(h->data); });
  OnClosed(why);
}

}  // namespace minik::http::internal
