// The agent's tunnel client: it dials the server's tunnel endpoint, serves the streams the server
// opens through a StreamingBackend (replies, output, results, errors), and reconnects when the
// tunnel drops.
#include "agent/streaming/tunnel_client.h"

#include <uv.h>

#include <catch2/catch.hpp>
#include <chrono>

#include "agent/streaming/backend.h"
#include "common/json.h"
#include "http/client.h"
#include "http/server.h"
#include "http/upgrade_tunnel.h"

namespace minik::agent::streaming {
namespace {

namespace tp = http::tunnel::proto;

bool RunUntil(http::Loop& loop, const std::function<bool()>& cond, uint64_t timeout_ms = 5000) {
  auto tick = loop.AddTimer(5, 5, [] {});
  auto start = std::chrono::steady_clock::now();
  while (!cond()) {
    if (std::chrono::steady_clock::now() - start > std::chrono::milliseconds(timeout_ms)) return false;
    uv_run(loop.raw(), UV_RUN_ONCE);
  }
  return true;
}

// Logs from a string; exec echoes stdin to stdout and exits with the number in command[0]; port-forward refuses.
class FakeBackend final : public StreamingBackend {
 public:
  std::vector<LogRequest> logs;
  std::vector<ExecRequest> execs;
  std::vector<TerminalSize> resizes;
  std::shared_ptr<ExecSession> exec;
  bool exec_cancelled = false;

  void Logs(const LogRequest& req, std::shared_ptr<LogSink> sink) override {
    logs.push_back(req);
    if (req.ref.container != "app") {
      sink->Fail(Status::BadRequest("container \"" + req.ref.container + "\" in pod \"" + req.ref.pod +
                                    "\" is waiting to start: ContainerCreating"));
      return;
    }
    sink->Write("a\nb\n");
    sink->End();
  }
  void Exec(const ExecRequest& req, std::shared_ptr<ExecSession> session) override {
    execs.push_back(req);
    exec = session;
    ExecSession* s = session.get();
    int code = req.command.empty() ? 0 : std::stoi(req.command[0]);
    s->SetHandlers({[s](std::string_view d) { s->WriteStdout(d); }, [this, s, code]() { s->Exit(code); },
                    [this](TerminalSize t) { resizes.push_back(t); }, [this]() { exec_cancelled = true; }});
    s->Accept();
    s->WriteStderr("started\n");
  }
  void PortForward(const PortForwardRequest& req, std::shared_ptr<PortForwardStream> stream) override {
    stream->Fail(Status::Internal("error forwarding port " + std::to_string(req.port) + " to pod " + req.ref.pod +
                                  ", uid " + req.ref.uid + ": connection refused"));
  }
};

// What the server side of a stream received.
struct Received {
  std::map<uint8_t, std::string> data;
  bool ended = false;
  bool reset = false;
};

void Watch(http::tunnel::Stream* s, Received* r) {
  s->SetCallbacks({[r](uint8_t ch, std::string_view d) { r->data[ch].append(d); }, [r]() { r->ended = true; },
                   [r](const Status&) { r->reset = true; }});
}

}  // namespace

TEST_CASE("tunnel client: serves logs, exec and port-forward, and reconnects", "[streaming]") {
  http::Loop loop;
  std::vector<http::tunnel::MuxPtr> tunnels;  // one per agent connection
  std::vector<std::string> nodes;
  http::Server server(loop, [&](http::Request& req, http::ResponseWriterPtr resp) {
    const std::string* auth = req.Header("authorization");
    if (req.path != tp::kPath || auth == nullptr || *auth != "Bearer tok") {
      resp->Send(401, {}, "");
      return;
    }
    nodes.push_back(*req.Header("x-minik-node-name"));
    auto raw = resp->Upgrade({{"Connection", "Upgrade"}, {"Upgrade", tp::kUpgradeToken}});
    REQUIRE(raw);
    tunnels.push_back(std::make_unique<http::tunnel::Mux>(std::move(raw), false));
    tunnels.back()->Start({nullptr, nullptr});
  });
  REQUIRE(server.Listen("127.0.0.1", 0).ok());
  http::ClientOptions o;
  o.port = server.port();
  o.tls = false;
  o.bearer_token = "tok";
  auto client = http::Client::Create(loop, o);
  REQUIRE(client.ok());
  FakeBackend backend;
  TunnelClientOptions topts;
  topts.node_name = "edge-1";
  topts.min_backoff_ms = 20;
  TunnelClient tunnel(loop, **client, backend, topts);
  std::vector<bool> states;
  tunnel.OnStateChange([&](bool up) { states.push_back(up); });
  tunnel.Start();
  REQUIRE(RunUntil(loop, [&] { return tunnels.size() == 1 && tunnel.connected(); }));
  CHECK(nodes == std::vector<std::string>{"edge-1"});

  // Logs: accepted, output, end.
  Received logs;
  auto s1 = tunnels[0]->Open(
      R"({"op":"log","namespace":"ns","pod":"p","uid":"u1","container":"app","follow":false,"tailLines":5})");
  Watch(s1.get(), &logs);
  REQUIRE(RunUntil(loop, [&] { return logs.ended; }));
  CHECK(logs.data[tp::kReply].empty());
  CHECK(logs.data.count(tp::kReply) == 1);
  CHECK(logs.data[tp::kStdout] == "a\nb\n");
  REQUIRE(backend.logs.size() == 1);
  CHECK(backend.logs[0].ref.namespace_ == "ns");
  CHECK(backend.logs[0].ref.uid == "u1");
  CHECK(backend.logs[0].tail_lines == 5);
  CHECK(!backend.logs[0].since_seconds);

  // A log the backend refuses: an API error in the reply.
  Received refused;
  auto s2 = tunnels[0]->Open(R"({"op":"log","namespace":"ns","pod":"p","container":"side"})");
  Watch(s2.get(), &refused);
  REQUIRE(RunUntil(loop, [&] { return refused.ended; }));
  auto err = ParseJson(refused.data[tp::kReply]);
  REQUIRE(err.ok());
  CHECK(GetInt(*err, "code") == 400);
  CHECK(GetString(*err, "message") == "container \"side\" in pod \"p\" is waiting to start: ContainerCreating");

  // Exec: stdin echoed, resize delivered, exit code in the result.
  Received ex;
  auto s3 = tunnels[0]->Open(
      R"({"op":"exec","namespace":"ns","pod":"p","container":"app","command":["7"],"stdin":true,"stdout":true,"stderr":true,"tty":false})");
  Watch(s3.get(), &ex);
  s3->Write(tp::kStdin, "hello ");
  s3->Write(tp::kStdin, "world");
  s3->Write(tp::kResize, R"({"Width":120,"Height":40})");
  s3->Write(tp::kStdinEnd, "");
  REQUIRE(RunUntil(loop, [&] { return ex.ended; }));
  CHECK(ex.data[tp::kStdout] == "hello world");
  CHECK(ex.data[tp::kStderr] == "started\n");
  auto result = ParseJson(ex.data[tp::kResult]);
  REQUIRE(result.ok());
  CHECK(GetInt(*result, "exitCode") == 7);
  REQUIRE(backend.resizes.size() == 1);
  CHECK(backend.resizes[0].width == 120);
  CHECK(backend.resizes[0].height == 40);
  REQUIRE(backend.execs.size() == 1);
  CHECK(backend.execs[0].stdin_);
  CHECK(backend.execs[0].command == std::vector<std::string>{"7"});

  // Port-forward failure: the message in the reply.
  Received pf;
  auto s4 = tunnels[0]->Open(R"({"op":"portforward","namespace":"ns","pod":"p","uid":"u1","port":80})");
  Watch(s4.get(), &pf);
  REQUIRE(RunUntil(loop, [&] { return pf.ended; }));
  CHECK(pf.data[tp::kReply].find("error forwarding port 80 to pod p, uid u1: connection refused") != std::string::npos);

  // Unknown operation.
  Received bad;
  auto s5 = tunnels[0]->Open(R"({"op":"dance"})");
  Watch(s5.get(), &bad);
  REQUIRE(RunUntil(loop, [&] { return bad.ended; }));
  CHECK(bad.data[tp::kReply].find("unknown streaming operation") != std::string::npos);

  // A running exec is cancelled when the server resets its stream.
  Received ex2;
  auto s6 =
      tunnels[0]->Open(R"({"op":"exec","namespace":"ns","pod":"p","container":"app","command":["0"],"stdin":true})");
  Watch(s6.get(), &ex2);
  REQUIRE(RunUntil(loop, [&] { return ex2.data.count(tp::kReply) > 0; }));
  s6.reset();
  REQUIRE(RunUntil(loop, [&] { return backend.exec_cancelled; }));
  CHECK(backend.exec->closed());

  // The server drops the tunnel: the agent reconnects.
  s1.reset();
  s2.reset();
  s3.reset();
  s4.reset();
  s5.reset();
  tunnels[0].reset();
  REQUIRE(RunUntil(loop, [&] { return tunnels.size() == 2 && tunnel.connected(); }));
  CHECK(nodes.size() == 2);
  CHECK(states == std::vector<bool>{true, false, true});
  Received again;
  auto s7 = tunnels[1]->Open(R"({"op":"log","namespace":"ns","pod":"p","container":"app"})");
  Watch(s7.get(), &again);
  REQUIRE(RunUntil(loop, [&] { return again.ended; }));
  CHECK(again.data[tp::kStdout] == "a\nb\n");

  tunnel.Stop();
  CHECK(!tunnel.connected());
}

}  // namespace minik::agent::streaming
