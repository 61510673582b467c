// WebSocket (RFC 6455) over an upgraded connection: the handshake on both sides, frame encoding and
// decoding (masking, fragmentation, control frames), and a message-level connection that answers
// pings and runs the close handshake.
//
// Threading: loop thread only; callbacks run on the loop thread and may destroy the connection.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "http/client.h"
#include "http/server.h"
#include "http/upgrade.h"

namespace minik::http::ws {

enum class Opcode : uint8_t { kContinuation = 0, kText = 1, kBinary = 2, kClose = 8, kPing = 9, kPong = 10 };

// Close codes used here.
constexpr uint16_t kCloseNormal = 1000;
constexpr uint16_t kCloseGoingAway = 1001;
constexpr uint16_t kCloseProtocolError = 1002;
constexpr uint16_t kCloseTooBig = 1009;
constexpr uint16_t kCloseInternalError = 1011;

// base64(SHA-1(key + RFC 6455 GUID)): the Sec-WebSocket-Accept value for a Sec-WebSocket-Key.
std::string AcceptKey(std::string_view key);

// One frame. mask: a client-to-server frame, masked with mask_key (4 bytes).
std::string EncodeFrame(Opcode op, std::string_view payload, bool fin = true, const uint8_t* mask_key = nullptr);
// A close frame's payload: the code (big-endian) and the reason.
std::string ClosePayload(uint16_t code, std::string_view reason);

// Incremental decoder: frames in, whole messages (fragments joined) and control frames out.
class Decoder {
 public:
  // server: frames must be masked (they come from a client); a client gets unmasked frames.
  Decoder(bool server, size_t max_message_bytes) : server_(server), max_message_(max_message_bytes) {}

  struct Message {
    Opcode op;  // kText, kBinary, or a control opcode
    std::string payload;
  };
  // Consumes data; appends each completed message or control frame to out. An error (with the close
  // code to send in *close_code) on a protocol violation; the stream is then unusable.
  Status Feed(std::string_view data, std::vector<Message>* out, uint16_t* close_code);

 private:
  bool server_;
  size_t max_message_;
  std::string buf_;
  size_t off_ = 0;
  bool in_message_ = false;  // a fragmented message is being assembled
  Opcode message_op_ = Opcode::kBinary;
  std::string message_;
};

// Server side of the opening handshake. Validates the upgrade request (GET, Upgrade: websocket,
// Sec-WebSocket-Version 13, a key) and picks the first protocol the client lists
// (Sec-WebSocket-Protocol) that is in supported; with supported empty, no protocol is chosen. On
// success, *headers holds the 101 response headers and *chosen the protocol ("" if none).
// BadRequest when the request is not a valid WebSocket upgrade or no protocol matches.
Status ServerHandshake(const Request& req, const std::vector<std::string>& supported, ResponseWriter::Headers* headers,
                       std::string* chosen);
// True when the request asks for a WebSocket upgrade.
bool IsWebSocketRequest(const Request& req);

// Client side of the opening handshake: the request headers (with a fresh key in *key), and the
// check of the server's 101 answer (accept key, protocol among those offered).
Headers ClientHandshakeHeaders(const std::vector<std::string>& protocols, std::string* key);
Status CheckClientHandshake(const Response& resp, const std::string& key, const std::vector<std::string>& protocols,
                            std::string* chosen);

// A message-level WebSocket connection over a byte stream.
class Connection {
 public:
  struct Callbacks {
    // A text or binary message (fragments joined).
    std::function<void(Opcode, std::string&&)> on_message;
    // Once: the peer sent a close frame (its code; 1005 when none), or the stream ended or failed
    // (1006). Not called after Close() or destruction.
    std::function<void(uint16_t code, const Status&)> on_close;
  };
  // server: this end is the server (frames out unmasked, frames in must be masked).
  Connection(ByteStreamPtr stream, bool server, size_t max_message_bytes = 16 << 20);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void Start(Callbacks cbs);
  // Sends one message (one frame); false once closing.
  bool Send(Opcode op, std::string_view payload);
  // Sends a binary message made of a one-byte prefix and data, without an intermediate copy.
  bool SendPrefixed(uint8_t prefix, std::string_view data);
  void Ping(std::string_view payload = {});
  // Sends a close frame, then closes the connection after flushing (the peer's answer is not
  // awaited). No callback runs after.
  void Close(uint16_t code = kCloseNormal, std::string_view reason = {});
  bool closing() const { return closing_ || stream_ == nullptr || stream_->closed(); }
  size_t Buffered() const { return stream_ ? stream_->Buffered() : 0; }
  void PauseReading() {
    if (stream_) stream_->PauseReading();
  }
  void ResumeReading() {
    if (stream_) stream_->ResumeReading();
  }

 private:
  void OnData(std::string_view data);
  void Fail(uint16_t code, const Status& why);
  void WriteFrame(Opcode op, std::string_view payload, std::string_view prefix = {});

  ByteStreamPtr stream_;
  bool server_;
  Decoder decoder_;
  Callbacks cbs_;
  bool closing_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};
using ConnectionPtr = std::unique_ptr<Connection>;

}  // namespace minik::http::ws
