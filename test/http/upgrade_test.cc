// Protocol upgrades: the server's 101 hand-over and the client's Upgrade(), the tunnel mux (many
// streams, credit flow control, half-close, reset, tunnel loss) and SPDY/3.1 framing.
#include "http/upgrade.h"

#include <uv.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <map>

#include "http/client.h"
#include "http/server.h"
#include "http/spdy.h"
#include "http/upgrade_tunnel.h"
#include "test_util.h"

namespace minik::http {
namespace {

// Drives the loop until cond() holds. Unlike Run()/Stop(), which close every connection when Run()
// returns, this keeps them open between the steps of a test.
bool RunUntil(Loop& loop, const std::function<bool()>& cond, uint64_t timeout_ms = 5000) {
  auto tick = loop.AddTimer(5, 5, [] {});
  auto start = std::chrono::steady_clock::now();
  while (!cond()) {
    if (std::chrono::steady_clock::now() - start > std::chrono::milliseconds(timeout_ms)) return false;
    uv_run(loop.raw(), UV_RUN_ONCE);
  }
  return true;
}

// A server that upgrades every request asking for "test-proto", and a client connected to it.
struct UpgradePair {
  Loop loop;
  std::unique_ptr<Server> server;
  ClientPtr client;
  ByteStreamPtr server_side;
  ByteStreamPtr client_side;
  std::string early;  // bytes the server stream got before Start()
  HandlePtr guard;

  explicit UpgradePair(bool tls = false) {
    server = std::make_unique<Server>(loop, [this](Request& req, ResponseWriterPtr resp) {
      const std::string* up = req.Header("upgrade");
      if (!req.upgrade || up == nullptr || *up != "test-proto") {
        resp->Send(400, {}, "no upgrade\n");
        return;
      }
      server_side = resp->Upgrade({{"Connection", "Upgrade"}, {"Upgrade", "test-proto"}, {"X-Test", "1"}});
      REQUIRE(server_side != nullptr);
    });
    if (tls) {
      const auto& pki = testing::TestPki();
      REQUIRE(server->ConfigureTls({pki.serving_cert, pki.serving_key, ""}).ok());
    }
    REQUIRE(server->Listen("127.0.0.1", 0).ok());
    ClientOptions o;
    o.port = server->port();
    o.tls = tls;
    if (tls) o.ca_file = testing::TestPki().server_ca_cert;
    auto c = Client::Create(loop, o);
    REQUIRE(c.ok());
    client = std::move(*c);
  }

  void Connect() {
    client->Upgrade("GET", "/x", {{"Connection", "Upgrade"}, {"Upgrade", "test-proto"}},
                    [this](StatusOr<UpgradeResult> r) {
                      REQUIRE(r.ok());
                      REQUIRE(r->response.status == 101);
                      REQUIRE(r->response.Header("x-test") != nullptr);
                      REQUIRE(r->stream != nullptr);
                      client_side = std::move(r->stream);
                    });
    REQUIRE(RunUntil(loop, [this] { return server_side && client_side; }));
  }
};

}  // namespace

TEST_CASE("upgrade: server and client switch protocols and exchange raw bytes", "[upgrade]") {
  for (bool tls : {false, true}) {
    UpgradePair p(tls);
    p.Connect();
    std::string at_server, at_client;
    bool client_closed = false;
    p.server_side->Start({[&](std::string_view d) {
                            at_server.append(d);
                            if (at_server == "hello") p.server_side->Write("world");
                          },
                          nullptr});
    p.client_side->Start({[&](std::string_view d) {
                            at_client.append(d);
                            if (at_client == "world") p.server_side->Close();
                          },
                          [&](const Status&) { client_closed = true; }});
    p.client_side->Write("hello");
    REQUIRE(RunUntil(p.loop, [&] { return client_closed; }));
    CHECK(at_server == "hello");
    CHECK(at_client == "world");
    CHECK(client_closed);
    CHECK(p.client_side->closed());
  }
}

TEST_CASE("upgrade: a non-101 answer to an upgrade is an ordinary response", "[upgrade]") {
  UpgradePair p;
  bool done = false;
  p.client->Upgrade("GET", "/x", {{"Connection", "Upgrade"}, {"Upgrade", "other"}}, [&](StatusOr<UpgradeResult> r) {
    REQUIRE(r.ok());
    CHECK(r->response.status == 400);
    CHECK(r->response.body == "no upgrade\n");
    CHECK(r->stream == nullptr);
    done = true;
  });
  REQUIRE(RunUntil(p.loop, [&] { return done; }));
}

TEST_CASE("upgrade: closing the client ends the server's stream", "[upgrade]") {
  UpgradePair p;
  p.Connect();
  Status got;
  bool closed = false;
  p.server_side->Start({nullptr, [&](const Status& st) {
                          closed = true;
                          got = st;
                        }});
  p.client_side->Start({});
  p.client_side.reset();
  REQUIRE(RunUntil(p.loop, [&] { return closed; }));
  CHECK(closed);
}

// ---- tunnel mux ----------------------------------------------------------------------------

TEST_CASE("tunnel: many streams, both directions, beyond the credit window", "[tunnel]") {
  UpgradePair p;
  p.Connect();
  tunnel::Mux agent(std::move(p.client_side), /*initiator=*/true);
  tunnel::Mux server(std::move(p.server_side), /*initiator=*/false);
  // The agent echoes each stream's stdin on stdout, then ends when the server ends.
  std::vector<tunnel::StreamPtr> agent_streams;
  agent.Start({[&](tunnel::StreamPtr s) {
                 tunnel::Stream* raw = s.get();
                 CHECK(raw->header().rfind("stream-", 0) == 0);
                 raw->SetCallbacks({[raw](uint8_t ch, std::string_view d) {
                                      CHECK(ch == tunnel::proto::kStdin);
                                      raw->Write(tunnel::proto::kStdout, d);
                                    },
                                    [raw]() { raw->End(); }, nullptr});
                 agent_streams.push_back(std::move(s));
               },
               nullptr});
  server.Start({nullptr, nullptr});
  constexpr int kStreams = 20;
  const std::string big(700 * 1024, 'x');  // well beyond the 256 KiB window
  std::map<int, std::string> echoed;
  int ended = 0;
  std::vector<tunnel::StreamPtr> streams;
  for (int i = 0; i < kStreams; ++i) {
    auto s = server.Open("stream-" + std::to_string(i));
    s->SetCallbacks({[&, i](uint8_t ch, std::string_view d) {
                       CHECK(ch == tunnel::proto::kStdout);
                       echoed[i].append(d);
                     },
                     [&]() { ++ended; }, [](const Status& st) { FAIL("reset: " << st.ToString()); }});
    std::string payload = std::to_string(i) + ":" + (i % 5 == 0 ? big : std::string("small"));
    CHECK(s->Write(tunnel::proto::kStdin, payload));
    if (i % 5 == 0) CHECK(s->Buffered() > 0);  // waits for credit
    s->End();
    streams.push_back(std::move(s));
  }
  REQUIRE(RunUntil(
      p.loop, [&] { return ended == kStreams; }, 20000));
  for (int i = 0; i < kStreams; ++i) {
    std::string want = std::to_string(i) + ":" + (i % 5 == 0 ? big : std::string("small"));
    CHECK(echoed[i].size() == want.size());
    CHECK(echoed[i] == want);
  }
  CHECK(server.live_streams() == kStreams);
  streams.clear();
  agent_streams.clear();
  CHECK(server.live_streams() == 0);
}

TEST_CASE("tunnel: reset, paused reading, ping and tunnel loss", "[tunnel]") {
  UpgradePair p;
  p.Connect();
  auto agent = std::make_unique<tunnel::Mux>(std::move(p.client_side), true);
  tunnel::Mux server(std::move(p.server_side), false);
  tunnel::StreamPtr agent_stream;
  agent->Start({[&](tunnel::StreamPtr s) { agent_stream = std::move(s); }, nullptr});
  bool server_closed = false;
  server.Start({nullptr, [&](const Status&) { server_closed = true; }});

  // Reset from the agent side reaches the server's stream.
  auto s1 = server.Open("one");
  Status reset;
  bool was_reset = false;
  s1->SetCallbacks({nullptr, nullptr, [&](const Status& st) {
                      reset = st;
                      was_reset = true;
                    }});
  REQUIRE(RunUntil(p.loop, [&] { return agent_stream != nullptr; }));
  CHECK(agent_stream->header() == "one");
  agent_stream->Reset("no such container");
  REQUIRE(RunUntil(p.loop, [&] { return was_reset; }));
  CHECK(s1->dead());
  CHECK(reset.message() == "no such container");

  // A paused reader grants no credit: the sender's queue stays after one window.
  agent_stream.reset();
  auto s2 = server.Open("two");
  REQUIRE(RunUntil(p.loop, [&] { return agent_stream != nullptr; }));
  size_t got = 0;
  agent_stream->SetCallbacks({[&](uint8_t, std::string_view d) { got += d.size(); }, nullptr, nullptr});
  agent_stream->PauseReading();
  s2->Write(tunnel::proto::kStdin, std::string(600 * 1024, 'y'));
  RunUntil(
      p.loop, [] { return false; }, 300);
  CHECK(got <= tunnel::kInitialWindow);
  CHECK(got > 0);
  CHECK(s2->Buffered() > 0);
  bool drained = false;
  s2->OnWritable([&] { drained = true; });
  agent_stream->ResumeReading();
  REQUIRE(RunUntil(p.loop, [&] { return drained && got >= 600 * 1024; }));

  // Ping answered.
  bool pong = false;
  server.Ping([&] { pong = true; });
  REQUIRE(RunUntil(p.loop, [&] { return pong; }));

  // The agent goes away: the server's live streams are reset and the mux reports it.
  s2.reset();
  auto s3 = server.Open("three");
  bool s3_reset = false;
  s3->SetCallbacks({nullptr, nullptr, [&](const Status&) { s3_reset = true; }});
  agent_stream.reset();
  agent.reset();
  REQUIRE(RunUntil(p.loop, [&] { return s3_reset && server_closed; }));
  CHECK(server.closed());
  CHECK(s3->dead());
}

TEST_CASE("tunnel: a stream dropped after End() still delivers its queued data", "[tunnel]") {
  UpgradePair p;
  p.Connect();
  tunnel::Mux agent(std::move(p.client_side), true);
  tunnel::Mux server(std::move(p.server_side), false);
  std::string got;
  bool ended = false, reset = false;
  tunnel::StreamPtr at_agent;
  agent.Start({[&](tunnel::StreamPtr s) {
                 s->SetCallbacks({[&](uint8_t, std::string_view d) { got.append(d); }, [&] { ended = true; },
                                  [&](const Status&) { reset = true; }});
                 at_agent = std::move(s);
               },
               nullptr});
  server.Start({nullptr, nullptr});
  auto s = server.Open("logs");
  const std::string big(900 * 1024, 'L');
  s->Write(tunnel::proto::kStdout, big);
  s->End();
  CHECK(s->Buffered() > 0);
  s.reset();  // the producer is gone; the mux finishes the stream
  REQUIRE(RunUntil(p.loop, [&] { return ended || reset; }));
  CHECK(!reset);
  CHECK(got == big);
}

// ---- SPDY ----------------------------------------------------------------------------------

TEST_CASE("spdy: streams, replies, data, fin, reset and pings between two sessions", "[spdy]") {
  std::string to_server, to_client;
  struct Seen {
    std::vector<std::pair<uint32_t, spdy::HeaderList>> streams, replies;
    std::map<uint32_t, std::string> data;
    std::map<uint32_t, bool> fin;
    std::vector<uint32_t> resets;
  } at_server, at_client;
  auto callbacks = [](std::string* out, Seen* seen) {
    spdy::Session::Callbacks cb;
    cb.write = [out](std::string b) { out->append(b); };
    cb.on_stream = [seen](uint32_t id, const spdy::HeaderList& h, bool) { seen->streams.emplace_back(id, h); };
    cb.on_reply = [seen](uint32_t id, const spdy::HeaderList& h, bool) { seen->replies.emplace_back(id, h); };
    cb.on_data = [seen](uint32_t id, std::string_view d, bool fin) {
      seen->data[id].append(d);
      if (fin) seen->fin[id] = true;
    };
    cb.on_reset = [seen](uint32_t id, uint32_t) { seen->resets.push_back(id); };
    cb.on_error = [](const Status& st) { FAIL(st.ToString()); };
    return cb;
  };
  spdy::Session client(false, callbacks(&to_server, &at_client));
  spdy::Session server(true, callbacks(&to_client, &at_server));
  auto pump = [&] {
    while (!to_server.empty() || !to_client.empty()) {
      std::string a;
      a.swap(to_server);
      // Feed byte by byte once, in pieces otherwise, to exercise reassembly.
      for (size_t i = 0; i < a.size(); i += 7) REQUIRE(server.Feed(std::string_view(a).substr(i, 7)).ok());
      std::string b;
      b.swap(to_client);
      REQUIRE(client.Feed(b).ok());
    }
  };
  // Several header blocks: the compression context carries over between them.
  uint32_t e = client.OpenStream({{"streamtype", "error"}, {"port", "80"}, {"requestid", "0"}});
  uint32_t d = client.OpenStream({{"streamtype", "data"}, {"port", "80"}, {"requestid", "0"}});
  CHECK(e == 1);
  CHECK(d == 3);
  pump();
  REQUIRE(at_server.streams.size() == 2);
  CHECK(*spdy::FindHeader(at_server.streams[1].second, "streamtype") == "data");
  CHECK(*spdy::FindHeader(at_server.streams[1].second, "requestid") == "0");
  server.Reply(e, {});
  server.Reply(d, {});
  client.SendData(d, "ping");
  client.SendData(d, std::string(100000, 'z'), true);
  pump();
  CHECK(at_client.replies.size() == 2);
  CHECK(at_server.data[d] == "ping" + std::string(100000, 'z'));
  CHECK(at_server.fin[d]);
  server.SendData(d, "pong", true);
  server.SendData(e, "", true);
  client.Reset(d, spdy::kCancel);
  client.Ping(1);  // a client ping (odd) is echoed by the server
  pump();
  CHECK(at_client.data[d] == "pong");
  CHECK(at_client.fin[e]);
  CHECK(at_server.resets == std::vector<uint32_t>{d});
  uint32_t s2 = server.OpenStream({{"streamtype", "stdout"}});
  CHECK(s2 == 2);
  pump();
  CHECK(at_client.streams.size() == 1);
}

TEST_CASE("spdy: malformed input is an error", "[spdy]") {
  bool failed = false;
  spdy::Session::Callbacks cb;
  cb.on_error = [&](const Status&) { failed = true; };
  spdy::Session s(true, cb);
  // A control frame of version 2.
  std::string bad = {'\x80', '\x02', '\x00', '\x01', '\x00', '\x00', '\x00', '\x00'};
  CHECK(!s.Feed(bad).ok());
  CHECK(failed);
}

}  // namespace minik::http
