// WebSocket: the handshake keys, framing (masking both ways, lengths, fragmentation, control
// frames), and two Connections talking over a real upgraded HTTP connection.
#include "http/websocket.h"

#include <uv.h>

#include <catch2/catch.hpp>
#include <chrono>

#include "http/client.h"
#include "http/server.h"

namespace minik::http::ws {

namespace {
// Drives the loop until cond() holds, keeping connections open (Run() closes them on return).
bool RunUntil(Loop& loop, const std::function<bool()>& cond, uint64_t timeout_ms = 5000) {
  auto tick = loop.AddTimer(5, 5, [] {});
  auto start = std::chrono::steady_clock::now();
  while (!cond()) {
    if (std::chrono::steady_clock::now() - start > std::chrono::milliseconds(timeout_ms)) return false;
    uv_run(loop.raw(), UV_RUN_ONCE);
  }
  return true;
}
}  // namespace

TEST_CASE("websocket: accept key of RFC 6455's example", "[websocket]") {
  CHECK(AcceptKey("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST_CASE("websocket: frames encode and decode, masked and not, at every length size", "[websocket]") {
  const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
  for (size_t len : {size_t{0}, size_t{5}, size_t{125}, size_t{126}, size_t{65535}, size_t{65536}, size_t{200000}}) {
    std::string payload(len, '\0');
    for (size_t i = 0; i < len; ++i) payload[i] = static_cast<char>(i * 7);
    // Client to server: masked.
    std::string f = EncodeFrame(Opcode::kBinary, payload, true, key);
    CHECK((static_cast<uint8_t>(f[1]) & 0x80) != 0);
    Decoder server(true, 1 << 20);
    std::vector<Decoder::Message> out;
    uint16_t code = 0;
    // Fed in two pieces.
    REQUIRE(server.Feed(std::string_view(f).substr(0, f.size() / 2), &out, &code).ok());
    REQUIRE(server.Feed(std::string_view(f).substr(f.size() / 2), &out, &code).ok());
    REQUIRE(out.size() == 1);
    CHECK(out[0].op == Opcode::kBinary);
    CHECK(out[0].payload == payload);
    // Server to client: not masked.
    std::string g = EncodeFrame(Opcode::kText, payload);
    Decoder client(false, 1 << 20);
    out.clear();
    REQUIRE(client.Feed(g, &out, &code).ok());
    REQUIRE(out.size() == 1);
    CHECK(out[0].payload == payload);
  }
  // RFC 6455 5.7: a masked "Hello".
  const uint8_t rfc[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
  CHECK(EncodeFrame(Opcode::kText, "Hello", true, key) == std::string(reinterpret_cast<const char*>(rfc), sizeof(rfc)));
}

TEST_CASE("websocket: fragments join, control frames interleave, violations fail", "[websocket]") {
  const uint8_t key[4] = {1, 2, 3, 4};
  std::string in = EncodeFrame(Opcode::kBinary, "abc", false, key) + EncodeFrame(Opcode::kPing, "p", true, key) +
                   EncodeFrame(Opcode::kContinuation, "def", false, key) +
                   EncodeFrame(Opcode::kContinuation, "ghi", true, key) +
                   EncodeFrame(Opcode::kClose, ClosePayload(1000, "bye"), true, key);
  Decoder d(true, 1 << 20);
  std::vector<Decoder::Message> out;
  uint16_t code = 0;
  REQUIRE(d.Feed(in, &out, &code).ok());
  REQUIRE(out.size() == 3);
  CHECK(out[0].op == Opcode::kPing);
  CHECK(out[0].payload == "p");
  CHECK(out[1].op == Opcode::kBinary);
  CHECK(out[1].payload == "abcdefghi");
  CHECK(out[2].op == Opcode::kClose);
  CHECK(out[2].payload == ClosePayload(1000, "bye"));

  Decoder unmasked(true, 1 << 20);
  CHECK(!unmasked.Feed(EncodeFrame(Opcode::kBinary, "x"), &out, &code).ok());
  CHECK(code == kCloseProtocolError);
  Decoder masked_from_server(false, 1 << 20);
  CHECK(!masked_from_server.Feed(EncodeFrame(Opcode::kBinary, "x", true, key), &out, &code).ok());
  Decoder small(true, 10);
  CHECK(!small.Feed(EncodeFrame(Opcode::kBinary, std::string(11, 'x'), true, key), &out, &code).ok());
  CHECK(code == kCloseTooBig);
  Decoder stray(true, 100);
  CHECK(!stray.Feed(EncodeFrame(Opcode::kContinuation, "x", true, key), &out, &code).ok());
}

TEST_CASE("websocket: handshake, messages both ways, ping, close", "[websocket]") {
  Loop loop;
  std::unique_ptr<Connection> server_conn;
  std::vector<std::string> at_server;
  uint16_t server_close = 0;
  Server server(loop, [&](Request& req, ResponseWriterPtr resp) {
    ResponseWriter::Headers h;
    std::string proto;
    Status st = ServerHandshake(req, {"v5.channel.k8s.io", "v4.channel.k8s.io"}, &h, &proto);
    if (!st.ok()) {
      resp->Send(400, {}, st.message());
      return;
    }
    CHECK(proto == "v4.channel.k8s.io");  // the client's first choice among ours
    server_conn = std::make_unique<Connection>(resp->Upgrade(h), true);
    server_conn->Start({[&](Opcode op, std::string&& m) {
                          CHECK(op == Opcode::kBinary);
                          at_server.push_back(m);
                          // Echo with channel 1.
                          server_conn->SendPrefixed(1, std::string_view(m).substr(1));
                        },
                        [&](uint16_t code, const Status&) { server_close = code; }});
  });
  REQUIRE(server.Listen("127.0.0.1", 0).ok());
  ClientOptions o;
  o.port = server.port();
  o.tls = false;
  auto client = Client::Create(loop, o);
  REQUIRE(client.ok());

  // A request offering nothing we speak is refused.
  int refused = 0;
  std::string key;
  (*client)->Upgrade("GET", "/ws", ClientHandshakeHeaders({"v1.channel.k8s.io"}, &key), [&](StatusOr<UpgradeResult> r) {
    REQUIRE(r.ok());
    refused = r->response.status;
  });
  REQUIRE(RunUntil(loop, [&] { return refused != 0; }));
  CHECK(refused == 400);

  std::vector<std::string> protos = {"v4.channel.k8s.io", "v5.channel.k8s.io"};
  std::unique_ptr<Connection> client_conn;
  std::vector<std::string> at_client;
  uint16_t client_close = 0;
  (*client)->Upgrade("GET", "/ws", ClientHandshakeHeaders(protos, &key), [&](StatusOr<UpgradeResult> r) {
    REQUIRE(r.ok());
    std::string chosen;
    REQUIRE(CheckClientHandshake(r->response, key, protos, &chosen).ok());
    CHECK(chosen == "v4.channel.k8s.io");
    client_conn = std::make_unique<Connection>(std::move(r->stream), false);
    client_conn->Start({[&](Opcode, std::string&& m) {
                          at_client.push_back(m);
                          if (at_client.size() == 2) server_conn->Close(kCloseNormal);
                        },
                        [&](uint16_t code, const Status&) { client_close = code; }});
    client_conn->Ping("hb");
    client_conn->SendPrefixed(0, "hello");
    client_conn->Send(Opcode::kBinary, std::string(1, '\0') + std::string(70000, 'q'));
  });
  REQUIRE(RunUntil(loop, [&] { return client_close != 0; }));
  REQUIRE(at_server.size() == 2);
  CHECK(at_server[0] == std::string(1, '\0') + "hello");
  REQUIRE(at_client.size() == 2);
  CHECK(at_client[0] == "\x01hello");
  CHECK(at_client[1] == "\x01" + std::string(70000, 'q'));
  CHECK(client_close == kCloseNormal);
}

}  // namespace minik::http::ws
