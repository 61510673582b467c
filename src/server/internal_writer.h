// A ResponseWriter that captures a complete response in memory, for requests made from inside
// the process (bootstrap, the manifests deployer). Loop thread only.
#pragma once

#include <functional>
#include <string>

#include "http/server.h"

namespace minik::server {

class CapturingWriter final : public http::ResponseWriter {
 public:
  using Done = std::function<void(int status, std::string body)>;
  explicit CapturingWriter(Done done) : done_(std::move(done)) {}

  void Send(int status, const Headers&, std::string body) override {
    if (done_) {
      auto d = std::move(done_);
      done_ = nullptr;
      d(status, std::move(body));
    }
  }
  void StartStream(int status, const Headers&) override { status_ = status; }
  bool Write(std::string_view data) override {
    streamed_.append(data);
    return true;
  }
  void End() override { Send(status_, {}, std::move(streamed_)); }
  size_t Buffered() const override { return 0; }
  void OnClose(std::function<void()>) override {}
  bool closed() const override { return !done_; }

 private:
  Done done_;
  int status_ = 200;
  std::string streamed_;
};

}  // namespace minik::server
