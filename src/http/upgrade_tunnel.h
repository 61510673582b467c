// A multiplexed tunnel over one upgraded connection: many independent byte streams, each with
// channels (stdin, stdout, ...), half-close, reset and per-stream flow control (credit). The agent
// opens the connection to the server (so it works behind NAT); either side may then open streams.
// The server uses it to reach each agent's kubelet streaming (logs, exec, attach, port-forward),
// see tunnel::proto below.
//
// Wire format, one frame: type (1 byte), stream id (4, big-endian), length (4), payload.
//   OPEN   payload: the stream's header (JSON for streaming requests)
//   DATA   payload: channel (1 byte) + bytes; counts against the receiver's credit
//   END    the sender will send no more data on the stream (half-close)
//   RESET  payload: a reason; the stream is dead both ways
//   CREDIT payload: 4 bytes, more bytes the receiver accepts
//   PING / PONG  payload echoed
// Each stream starts with kInitialWindow bytes of credit in each direction.
//
// Threading: loop thread only. Callbacks run on the loop thread; they may destroy the Stream they
// belong to, or the Mux.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "http/upgrade.h"

namespace minik::http::tunnel {

constexpr uint32_t kInitialWindow = 256 * 1024;
constexpr size_t kMaxDataFrame = 32 * 1024;

class Mux;

class Stream {
 public:
  struct Callbacks {
    std::function<void(uint8_t channel, std::string_view data)> on_data;
    // The peer half-closed: it sends no more data.
    std::function<void()> on_end;
    // The peer reset the stream, or the tunnel went away: the stream is dead.
    std::function<void(const Status&)> on_reset;
  };

  // Resets the stream unless it ended both ways; a stream ended with End() whose data still waits
  // for credit is finished by the mux (the data and the END still go out).
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  void SetCallbacks(Callbacks cbs) { cbs_ = std::move(cbs); }
  uint32_t id() const { return id_; }
  // The OPEN payload.
  const std::string& header() const { return header_; }

  // Queues data on a channel (sent as credit allows); false once ended or dead.
  bool Write(uint8_t channel, std::string_view data);
  // Half-close after what is queued.
  void End();
  void Reset(std::string_view reason);
  // Bytes queued for lack of credit.
  size_t Buffered() const { return pending_bytes_; }
  // fn runs each time the queue drains after it was not empty.
  void OnWritable(std::function<void()> fn) { on_writable_ = std::move(fn); }
  // Stops (and resumes) granting the peer credit: back-pressure toward the sender.
  void PauseReading() { paused_ = true; }
  void ResumeReading();
  bool dead() const { return mux_ == nullptr; }
  bool remote_ended() const { return remote_end_; }

 private:
  friend class Mux;
  Stream(Mux* mux, uint32_t id, std::string header) : mux_(mux), id_(id), header_(std::move(header)) {}
  void Flush();
  void Died(const Status& why);

  Mux* mux_;  // null once dead
  uint32_t id_;
  std::string header_;
  Callbacks cbs_;
  std::deque<std::string> pending_;  // DATA payloads (channel + bytes) waiting for credit
  size_t pending_bytes_ = 0;
  uint64_t send_credit_ = kInitialWindow;
  uint64_t received_unacked_ = 0;
  uint64_t recv_window_left_ = kInitialWindow;
  bool paused_ = false;
  bool local_end_ = false;
  bool end_sent_ = false;
  bool remote_end_ = false;
  bool orphan_ = false;  // owned by the mux: its owner dropped it after End() with data queued
  std::function<void()> on_writable_;
};
using StreamPtr = std::unique_ptr<Stream>;

class Mux {
 public:
  struct Callbacks {
    // The peer opened a stream; the callee owns it.
    std::function<void(StreamPtr)> on_stream;
    // The tunnel connection ended (every live stream got on_reset first).
    std::function<void(const Status&)> on_close;
  };
  // initiator: the side that opened the connection (its streams get odd ids).
  Mux(ByteStreamPtr conn, bool initiator);
  // Closes the connection; live streams get on_reset.
  ~Mux();
  Mux(const Mux&) = delete;
  Mux& operator=(const Mux&) = delete;

  void Start(Callbacks cbs);
  StreamPtr Open(std::string header);
  // Sends a PING; on_pong runs when the answer comes (not if the tunnel dies first).
  void Ping(std::function<void()> on_pong);
  bool closed() const { return conn_ == nullptr; }
  size_t live_streams() const { return streams_.size(); }
  std::string remote_address() const { return remote_; }

 private:
  friend class Stream;
  void OnData(std::string_view data);
  void HandleFrame(uint8_t type, uint32_t id, std::string&& payload);
  void SendFrame(uint8_t type, uint32_t id, std::string_view payload);
  void Shutdown(const Status& why);

  ByteStreamPtr conn_;
  std::string remote_;
  bool initiator_;
  uint32_t next_id_;
  Callbacks cbs_;
  std::map<uint32_t, Stream*> streams_;
  std::map<uint32_t, std::unique_ptr<Stream>> orphans_;
  std::string buf_;
  size_t off_ = 0;
  uint32_t next_ping_ = 1;
  std::map<uint32_t, std::function<void()>> pings_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};
using MuxPtr = std::unique_ptr<Mux>;

// The streaming protocol spoken on tunnel streams between the API server and an agent.
namespace proto {

// The path the agent upgrades (GET, "Upgrade: minik-tunnel", the join token as Bearer, the node
// name in kNodeHeader).
constexpr char kPath[] = "/v1-minik/connect";
constexpr char kUpgradeToken[] = "minik-tunnel";
constexpr char kNodeHeader[] = "X-Minik-Node-Name";

// Channels of DATA frames.
constexpr uint8_t kStdin = 0;   // server -> agent (exec/attach stdin; port-forward: bytes to the pod)
constexpr uint8_t kStdout = 1;  // agent -> server (logs; port-forward: bytes from the pod)
constexpr uint8_t kStderr = 2;  // agent -> server
// agent -> server, last: JSON {"exitCode":N} or {"message":"...","code":N,"reason":"..."} (an exec
// that could not run, a port-forward that failed after it was accepted).
constexpr uint8_t kResult = 3;
constexpr uint8_t kResize = 4;  // server -> agent: JSON {"Width":w,"Height":h}
// agent -> server, first: "" when the request was accepted, else JSON
// {"code":N,"reason":"...","message":"..."}; the stream then ends.
constexpr uint8_t kReply = 5;
constexpr uint8_t kStdinEnd = 6;  // server -> agent: stdin reached EOF (payload empty)

// The OPEN header is a JSON object with "op" ("log", "exec", "attach", "portforward"), "namespace",
// "pod", "uid", "container", and per op:
//   log: "follow", "previous", "timestamps" (bools), "tailLines", "limitBytes",
//        "sinceSeconds" (ints, absent when unset), "sinceTime" (RFC 3339, absent when unset)
//   exec: "command" (array), "stdin", "stdout", "stderr", "tty" (bools)
//   attach: "stdin", "stdout", "stderr", "tty"
//   portforward: "port" (int)

}  // namespace proto

}  // namespace minik::http::tunnel
