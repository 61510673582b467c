#include "server/in_process_transport.h"

#include <memory>

#include "server/internal_writer.h"

namespace minik::server {
namespace {

http::Request ToHttpRequest(const client::RestRequest& r) {
  http::Request req;
  req.method = r.method;
  req.path = r.path;
  req.query = r.query;
  req.target = r.Target();
  if (!r.content_type.empty()) req.headers.emplace_back("content-type", r.content_type);
  req.headers.emplace_back("accept", "application/json");
  req.body = r.body;
  req.remote_address = "in-process";
  return req;
}

// The server side of an in-process stream: forwards to the client's callbacks until the client
// lets go of its handle, then reports the close to the server (which drops its watcher).
class StreamWriter final : public http::ResponseWriter {
 public:
  explicit StreamWriter(client::Transport::StreamCallbacks cbs) : cbs_(std::move(cbs)) {}

  void Send(int status, const Headers&, std::string body) override {
    if (done_) return;
    if (cbs_.on_response) cbs_.on_response(status);
    if (!done_ && cbs_.on_data && !body.empty()) cbs_.on_data(body);
    Finish(Status::OK());
  }
  void StartStream(int status, const Headers&) override {
    if (!done_ && cbs_.on_response) cbs_.on_response(status);
  }
  bool Write(std::string_view data) override {
    if (done_) return false;
    if (cbs_.on_data) cbs_.on_data(data);
    return !done_;
  }
  void End() override { Finish(Status::OK()); }
  size_t Buffered() const override { return 0; }
  void OnClose(std::function<void()> fn) override { on_close_ = std::move(fn); }
  bool closed() const override { return done_; }

  // The client destroyed its handle: no more callbacks, and the server learns the peer is gone.
  void Cancel() {
    if (done_) return;
    done_ = true;
    cbs_ = {};
    auto fn = std::move(on_close_);
    on_close_ = nullptr;
    if (fn) fn();
  }

 private:
  void Finish(Status st) {
    if (done_) return;
    done_ = true;
    on_close_ = nullptr;
    auto done = std::move(cbs_.on_done);
    cbs_ = {};
    if (done) done(std::move(st));
  }

  client::Transport::StreamCallbacks cbs_;
  std::function<void()> on_close_;
  bool done_ = false;
};

class StreamHandle final : public http::Handle {
 public:
  explicit StreamHandle(std::shared_ptr<StreamWriter> w) : writer_(std::move(w)) {}
  ~StreamHandle() override { writer_->Cancel(); }

 private:
  std::shared_ptr<StreamWriter> writer_;
};

}  // namespace

void InProcessTransport::Do(client::RestRequest req, std::function<void(StatusOr<client::RestResponse>)> cb) {
  // Posted, so that callbacks never run inside Do (as with a network transport).
  loop_.Post([this, req = std::move(req), cb = std::move(cb)]() mutable {
    http::Request r = ToHttpRequest(req);
    auto w = std::make_shared<CapturingWriter>([cb = std::move(cb)](int status, std::string body) {
      cb(client::RestResponse{status, std::move(body)});
    });
    api_.HandleInternal(r, w);
  });
}

http::HandlePtr InProcessTransport::Stream(client::RestRequest req, StreamCallbacks cbs) {
  auto writer = std::make_shared<StreamWriter>(std::move(cbs));
  std::weak_ptr<StreamWriter> weak = writer;
  loop_.Post([this, req = std::move(req), weak]() {
    auto w = weak.lock();
    if (!w || w->closed()) return;
    http::Request r = ToHttpRequest(req);
    api_.HandleInternal(r, w);
  });
  return std::make_unique<StreamHandle>(std::move(writer));
}

}  // namespace minik::server
