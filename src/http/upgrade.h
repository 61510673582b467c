// Connection upgrades (HTTP/1.1 101 Switching Protocols): after the switch, an HTTP connection
// (plain or TLS) is a raw duplex byte stream. The server side gets one from
// ResponseWriter::Upgrade(), the client side from Client::Upgrade(). WebSocket, SPDY and the agent
// tunnel run on top of it.
//
// Threading: loop thread only. Callbacks run on the loop thread and may destroy the stream.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace minik::http {

class ByteStream {
 public:
  struct Callbacks {
    // Bytes from the peer, in order.
    std::function<void(std::string_view)> on_data;
    // Once, when the connection ends: OK when the peer closed it cleanly, else the error. Not
    // called after Close() or after the stream is destroyed.
    std::function<void(const Status&)> on_close;
  };

  // Destroying the stream closes the connection after what is queued has been written.
  virtual ~ByteStream() = default;

  // Installs the callbacks. Bytes that arrived right behind the 101 (before Start) are delivered at
  // once, from inside Start(). A connection already gone reports on_close here.
  virtual void Start(Callbacks cbs) = 0;
  // Queues bytes for the peer; dropped once closed.
  virtual void Write(std::string data) = 0;
  // Bytes queued but not yet written to the socket.
  virtual size_t Buffered() const = 0;
  // Flow control of the incoming side.
  virtual void PauseReading() = 0;
  virtual void ResumeReading() = 0;
  // Writes what is queued, then closes. No callback runs after.
  virtual void Close() = 0;
  // The connection is gone (or Close() was called).
  virtual bool closed() const = 0;
  // "ip:port" of the peer, when known.
  virtual std::string remote_address() const { return std::string(); }
};
using ByteStreamPtr = std::unique_ptr<ByteStream>;

// True when the comma-separated header value holds token (case-insensitive), as in "Connection: keep-alive, Upgrade".
bool HeaderHasToken(std::string_view value, std::string_view token);

}  // namespace minik::http
