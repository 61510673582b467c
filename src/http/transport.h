// A TCP connection on libuv, optionally wrapped in TLS through OpenSSL memory BIOs: the part
// shared by the HTTP server and client (internal to src/http).
//
// Threading: loop thread only. A Transport is heap-allocated and deletes itself after Close()
// once libuv has released the socket; subclasses hear about it once, in OnClosed().
#pragma once

#include <openssl/ssl.h>
#include <uv.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace minik::http::internal {

// The OpenSSL error queue as text (and cleared).
std::string SslErrors();

struct SslCtxDeleter {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxDeleter>;

class Transport {
 public:
  // ctx == nullptr: plain TCP. read_buf: scratch buffer shared by all transports of an owner.
  Transport(uv_loop_t* loop, SSL_CTX* ctx, bool is_server, std::vector<char>* read_buf);
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  uv_tcp_t* tcp() { return tcp_; }
  SSL* ssl() { return ssl_; }
  // Starts reading (after accept or connect) and, for a TLS client, sends the ClientHello.
  void Start();
  // Queues bytes for the peer (encrypted when TLS). Data written before the handshake ends is
  // held back and sent once it does. With TLS, what is written during one turn of the loop (the
  // events of a watch, say) goes out together, in as few records and one socket write, just
  // before the loop next waits for I/O.
  void Write(std::string data);
  // Header and body: one TLS record when small, no copy of a large body when plain.
  void Write(std::string head, std::string body);
  // Sends what is queued, a TLS close_notify, then closes. Input arriving meanwhile is dropped.
  // linger: half-close and keep reading (discarding) until the peer closes or 2 s pass, so that
  // a peer still sending a request body reads our answer instead of a reset (Go's server does
  // the same for errors answered before the body was read).
  void CloseAfterFlush(bool linger = false);
  // Closes now (idempotent). OnClosed(status) runs once, synchronously.
  void Close(const Status& why);
  bool closed() const { return closed_; }
  bool established() const { return established_; }
  // Bytes queued (for this turn of the loop, or handed to the socket) and not yet written.
  size_t Buffered() const;
  // Stop/resume reading from the socket (flow control).
  void PauseReading();
  void ResumeReading();

 protected:
  virtual ~Transport();
  // The TLS handshake is done (or, for plain TCP, the socket is ready).
  virtual void OnEstablished() {}
  // New plaintext was appended to in_.
  virtual void OnReadable() = 0;
  virtual void OnClosed(const Status& why) = 0;

  std::string in_;     // plaintext received and not yet consumed
  size_t in_off_ = 0;  // consumed prefix of in_
  // Drops the consumed prefix of in_ when worthwhile.
  void CompactInput();

 private:
  struct WriteReq;
  void OnRead(ssize_t nread, const uv_buf_t* buf);
  void FlushTls();
  // Encrypts and sends the plaintext queued for this turn of the loop.
  void FlushPlain();
  void SendRaw(std::string a, std::string b);
  void DoHandshake();
  void FinishFlush();

  uv_tcp_t* tcp_;
  SSL* ssl_ = nullptr;
  BIO* rbio_ = nullptr;  // network -> SSL
  BIO* wbio_ = nullptr;  // SSL -> network
  bool is_server_;
  std::vector<char>* read_buf_;
  bool established_ = false;
  bool closed_ = false;
  bool close_after_flush_ = false;
  bool linger_ = false;
  uv_shutdown_t shutdown_req_;
  uv_timer_t* linger_timer_ = nullptr;
  bool reading_ = false;
  bool want_read_ = true;
  int writes_pending_ = 0;
  std::string early_;  // plaintext written before the handshake completed
  std::string plain_;  // plaintext written during this turn of the loop (TLS only)
  uv_prepare_t* flush_ = nullptr;  // runs FlushPlain before the loop polls; started while plain_ has data
};

}  // namespace minik::http::internal
