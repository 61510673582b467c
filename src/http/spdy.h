// SPDY/3.1 framing and a session, as far as Kubernetes streaming needs it (moby/spdystream is the
// peer: kubectl port-forward and the SPDY fallback of exec and attach). Header blocks are
// zlib-compressed with the SPDY/3 dictionary, one compression context per direction. Flow control
// (WINDOW_UPDATE) is not enforced: spdystream neither sends nor honours it.
//
// Threading: loop thread only. Callbacks run from inside Feed() or the send calls' callers; a
// callback may destroy the session.
#pragma once

#include <zlib.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace minik::http::spdy {

// Header names are lower case; several values of one name are joined with NUL.
using HeaderList = std::vector<std::pair<std::string, std::string>>;
const std::string* FindHeader(const HeaderList& h, std::string_view name);

// RST_STREAM status codes.
constexpr uint32_t kProtocolError = 1;
constexpr uint32_t kInvalidStream = 2;
constexpr uint32_t kRefusedStream = 3;
constexpr uint32_t kCancel = 5;
constexpr uint32_t kInternalError = 6;

class Session {
 public:
  struct Callbacks {
    // Bytes to send to the peer (the transport: a socket or WebSocket messages).
    std::function<void(std::string)> write;
    // The peer opened a stream (SYN_STREAM); fin: it will send no data on it.
    std::function<void(uint32_t id, const HeaderList& headers, bool fin)> on_stream;
    // The peer answered a stream this side opened (SYN_REPLY).
    std::function<void(uint32_t id, const HeaderList& headers, bool fin)> on_reply;
    // Data from the peer on a stream; fin: the peer's half of the stream is done.
    std::function<void(uint32_t id, std::string_view data, bool fin)> on_data;
    // The peer reset a stream.
    std::function<void(uint32_t id, uint32_t status)> on_reset;
    // The peer sent GOAWAY, or its frames were malformed (the session is then unusable).
    std::function<void(const Status&)> on_error;
  };

  // server: this end accepted the connection (its stream and ping ids are even).
  Session(bool server, Callbacks cbs);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Bytes from the peer. An error when the input is malformed (on_error was called too).
  Status Feed(std::string_view data);

  // Opens a stream (SYN_STREAM); returns its id.
  uint32_t OpenStream(const HeaderList& headers, bool fin = false);
  void Reply(uint32_t id, const HeaderList& headers, bool fin = false);
  // DATA frames (split at 32 KiB); an empty data with fin half-closes the stream.
  void SendData(uint32_t id, std::string_view data, bool fin = false);
  void Reset(uint32_t id, uint32_t status);
  void Ping(uint32_t id);
  void GoAway(uint32_t last_good_stream = 0);

 private:
  std::string ControlFrame(uint16_t type, uint8_t flags, std::string_view payload);
  std::string CompressHeaders(const HeaderList& headers);
  Status DecompressHeaders(std::string_view block, HeaderList* out);
  Status HandleControl(uint16_t type, uint8_t flags, std::string_view payload);
  Status Error(const std::string& msg);

  bool server_;
  Callbacks cbs_;
  uint32_t next_id_;
  z_stream deflate_{};
  z_stream inflate_{};
  bool deflate_ok_ = false;
  bool inflate_ok_ = false;
  std::string buf_;
  size_t off_ = 0;
  bool failed_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace minik::http::spdy
