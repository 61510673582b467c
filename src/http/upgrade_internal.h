// The ByteStream of an upgraded server or client connection (internal to src/http). Threading: loop thread only.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "http/transport.h"
#include "http/upgrade.h"

namespace minik::http::internal {

// Bridges a Transport that switched protocols to the ByteStream interface. The connection forwards
// its input with OnData() and its end with OnTransportClosed(); it learns that the stream went away
// through on_destroy (set by the connection), after which it must not call the stream again.
class UpgradedStream final : public ByteStream {
 public:
  UpgradedStream(Transport* transport, std::string remote) : t_(transport), remote_(std::move(remote)) {}
  ~UpgradedStream() override;

  void Start(Callbacks cbs) override;
  void Write(std::string data) override;
  size_t Buffered() const override;
  void PauseReading() override;
  void ResumeReading() override;
  void Close() override;
  bool closed() const override { return t_ == nullptr; }
  std::string remote_address() const override { return remote_; }

  // Connection side.
  void OnData(std::string_view data);
  void OnTransportClosed(const Status& why);
  std::function<void()> on_destroy;

 private:
  void Detach();

  Transport* t_;
  std::string remote_;
  Callbacks cbs_;
  bool started_ = false;
  bool paused_ = false;
  std::string pending_;  // input before Start()
  bool ended_ = false;   // the transport closed before Start()
  Status end_status_;
};

// A connection's unparsed input (in from offset *in_off on) after its parser stopped: handed to
// upgraded (when set and anything is left), then the buffer is emptied either way. upgraded may
// destroy the connection owning in and in_off; neither is touched after it was called.
void ForwardUnparsed(UpgradedStream* upgraded, std::string* in, size_t* in_off);

}  // namespace minik::http::internal
