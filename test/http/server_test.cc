// Server and client against each other over real TLS on 127.0.0.1.
#include "http/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <future>
#include <thread>

#include "http/client.h"
#include "test_util.h"

namespace minik::http {
namespace {

using testing::TestPki;

TlsFiles ServerTls() {
  const auto& p = TestPki();
  return TlsFiles{p.serving_cert, p.serving_key, p.client_ca_cert};
}

ClientOptions BaseClient(int port) {
  ClientOptions o;
  o.host = "127.0.0.1";
  o.port = port;
  o.ca_file = TestPki().server_ca_cert;
  return o;
}

// Loop, server and a deadline that fails the test instead of hanging.
struct Fixture {
  explicit Fixture(Handler h, ServerOptions so = {}) : server(loop, std::move(h), so) {
    REQUIRE(server.ConfigureTls(ServerTls()).ok());
    REQUIRE(server.Listen("127.0.0.1", 0).ok());
    REQUIRE(server.port() > 0);
    deadline = loop.AddTimer(10000, 0, [this] {
      expired = true;
      loop.Stop();
    });
  }
  ClientPtr MakeClient(ClientOptions o) {
    auto c = Client::Create(loop, std::move(o));
    REQUIRE(c.ok());
    return std::move(c).value();
  }
  void Run() {
    loop.Run();
    REQUIRE_FALSE(expired);
  }
  Loop loop;
  Server server;
  HandlePtr deadline;
  bool expired = false;
};

TEST_CASE("requests are parsed and answered over keep-alive TLS", "[server]") {
  std::vector<Request> seen;
  Fixture f([&](Request& req, ResponseWriterPtr w) {
    seen.push_back(req);
    w->Send(200, {{"Content-Type", "application/json"}}, "{\"n\":" + std::to_string(seen.size()) + "}");
  });
  auto client = f.MakeClient(BaseClient(f.server.port()));
  int done = 0;
  std::function<void()> next = [&] {
    client->Request("POST", "/api/v1/namespaces/a%20b/pods?limit=5&labelSelector=app%3Dweb", {{"X-Test", "yes"}},
                    "hello " + std::to_string(done), [&](StatusOr<Response> r) {
                      REQUIRE(r.ok());
                      REQUIRE(r->status == 200);
                      REQUIRE(*r->Header("content-type") == "application/json");
                      REQUIRE(r->body == "{\"n\":" + std::to_string(done + 1) + "}");
                      if (++done == 20) {
                        f.loop.Stop();
                      } else {
                        next();
                      }
                    });
  };
  next();
  f.Run();
  REQUIRE(done == 20);
  REQUIRE(client->connections_opened() == 1);  // every request reused one connection
  const Request& r = seen[3];
  REQUIRE(r.method == "POST");
  REQUIRE(r.path == "/api/v1/namespaces/a b/pods");
  REQUIRE(r.query == "limit=5&labelSelector=app%3Dweb");
  REQUIRE(r.target == "/api/v1/namespaces/a%20b/pods?limit=5&labelSelector=app%3Dweb");
  REQUIRE(r.body == "hello 3");
  REQUIRE(*r.Header("x-test") == "yes");
  REQUIRE(r.Header("X-Test") == nullptr);  // names are lower-cased
  REQUIRE(r.remote_address.rfind("127.0.0.1:", 0) == 0);
  REQUIRE_FALSE(r.peer.verified);
}

TEST_CASE("a verified client certificate is reported; absent or untrusted ones are not", "[server]") {
  PeerCert last;
  Fixture f([&](Request& req, ResponseWriterPtr w) {
    last = req.peer;
    w->Send(200, {}, "ok");
  });
  SECTION("admin certificate") {
    auto o = BaseClient(f.server.port());
    o.cert_file = TestPki().admin_cert;
    o.key_file = TestPki().admin_key;
    auto client = f.MakeClient(o);
    client->Request("GET", "/", {}, "", [&](StatusOr<Response> r) {
      REQUIRE(r.ok());
      f.loop.Stop();
    });
    f.Run();
    REQUIRE(last.verified);
    REQUIRE(last.common_name == "system:admin");
    REQUIRE(last.organizations == std::vector<std::string>{"system:masters"});
  }
  SECTION("admin certificate given as PEM text") {
    auto o = BaseClient(f.server.port());
    o.ca_file.clear();
    o.ca_pem = TestPki().server_ca_pem;
    o.cert_pem = TestPki().admin_cert_pem;
    o.key_pem = TestPki().admin_key_pem;
    auto client = f.MakeClient(o);
    client->Request("GET", "/", {}, "", [&](StatusOr<Response> r) {
      REQUIRE(r.ok());
      f.loop.Stop();
    });
    f.Run();
    REQUIRE(last.verified);
  }
  SECTION("no certificate: still served, not verified") {
    last.verified = true;
    auto client = f.MakeClient(BaseClient(f.server.port()));
    client->Request("GET", "/", {}, "", [&](StatusOr<Response> r) {
      REQUIRE(r.ok());
      REQUIRE(r->status == 200);
      f.loop.Stop();
    });
    f.Run();
    REQUIRE_FALSE(last.verified);
    REQUIRE(last.common_name.empty());
  }
  SECTION("certificate from another CA: served, not verified") {
    last.verified = true;
    auto o = BaseClient(f.server.port());
    o.cert_file = testing::UntrustedBase() + ".crt";
    o.key_file = testing::UntrustedBase() + ".key";
    auto client = f.MakeClient(o);
    client->Request("GET", "/", {}, "", [&](StatusOr<Response> r) {
      REQUIRE(r.ok());
      f.loop.Stop();
    });
    f.Run();
    REQUIRE_FALSE(last.verified);
    REQUIRE(last.organizations.empty());
  }
}

TEST_CASE("the client refuses a server whose certificate does not match", "[server]") {
  Fixture f([&](Request&, ResponseWriterPtr w) { w->Send(200, {}, "ok"); });
  SECTION("wrong CA") {
    auto o = BaseClient(f.server.port());
    o.ca_file = TestPki().client_ca_cert;
    auto client = f.MakeClient(o);
    client->Request("GET", "/", {}, "", [&](StatusOr<Response> r) {
      REQUIRE_FALSE(r.ok());
      INFO(r.status().ToString());
      REQUIRE(r.status().message().find("certificate verify failed") != std::string::npos);
      f.loop.Stop();
    });
    f.Run();
  }
  SECTION("name not in the SANs") {
    auto o = BaseClient(f.server.port());
    o.server_name = "example.com";
    auto client = f.MakeClient(o);
    client->Request("GET", "/", {}, "", [&](StatusOr<Response> r) {
      REQUIRE_FALSE(r.ok());
      f.loop.Stop();
    });
    f.Run();
  }
  SECTION("a SAN name is accepted") {
    auto o = BaseClient(f.server.port());
    o.server_name = "kubernetes.default.svc";
    auto client = f.MakeClient(o);
    client->Request("GET", "/", {}, "", [&](StatusOr<Response> r) {
      REQUIRE(r.ok());
      f.loop.Stop();
    });
    f.Run();
  }
}

TEST_CASE("a handler may answer later", "[server]") {
  std::vector<HandlePtr>* timers = nullptr;
  Fixture* fp = nullptr;
  Fixture f([&](Request& req, ResponseWriterPtr w) {
    std::string body = req.body;
    timers->push_back(fp->loop.AddTimer(5, 0, [w, body] { w->Send(201, {}, "late " + body); }));
  });
  fp = &f;
  std::vector<HandlePtr> handles;  // destroyed before the loop, as every handle must be
  timers = &handles;
  auto client = f.MakeClient(BaseClient(f.server.port()));
  client->Request("PUT", "/x", {}, "a", [&](StatusOr<Response> r) {
    REQUIRE(r.ok());
    REQUIRE(r->status == 201);
    REQUIRE(r->body == "late a");
    f.loop.Stop();
  });
  f.Run();
}

TEST_CASE("chunked streams reach the client chunk by chunk", "[server]") {
  ResponseWriterPtr stream;
  Fixture f([&](Request&, ResponseWriterPtr w) {
    w->StartStream(200, {{"Content-Type", "application/json"}});
    REQUIRE(w->Write("{\"type\":\"ADDED\"}\n"));
    stream = w;  // more is written when the client has seen the first chunk
  });
  auto client = f.MakeClient(BaseClient(f.server.port()));
  std::string data;
  int status = 0;
  bool done = false;
  auto h = client->Stream("GET", "/watch", {}, "",
                          StreamCallbacks{[&](const Response& r) { status = r.status; },
                                          [&](std::string_view d) {
                                            data.append(d);
                                            if (data == "{\"type\":\"ADDED\"}\n") {
                                              REQUIRE(stream->Write(std::string(40000, 'x')));
                                              stream->End();
                                              REQUIRE_FALSE(stream->Write("late"));
                                            }
                                          },
                                          [&](Status st) {
                                            REQUIRE(st.ok());
                                            done = true;
                                            f.loop.Stop();
                                          }});
  f.Run();
  REQUIRE(status == 200);
  REQUIRE(done);
  REQUIRE(data == "{\"type\":\"ADDED\"}\n" + std::string(40000, 'x'));
}

TEST_CASE("many writes in one loop turn arrive whole and in order, before the end", "[server]") {
  // TLS writes of one turn are sent together before the loop polls again; a large one in the
  // middle, queued small ones around it, and End() right after must keep the order.
  std::string want;
  Fixture f([&](Request&, ResponseWriterPtr w) {
    w->StartStream(200, {{"Content-Type", "application/json"}});
    for (int i = 0; i < 600; ++i) {
      std::string line = "{\"n\":" + std::to_string(i) + "}\n";
      if (i == 300) line = std::string(70000, 'y') + "\n";
      REQUIRE(w->Write(line));
      want += line;
    }
    w->End();
  });
  auto client = f.MakeClient(BaseClient(f.server.port()));
  std::string data;
  bool done = false;
  auto h = client->Stream("GET", "/watch", {}, "",
                          StreamCallbacks{[&](const Response&) {}, [&](std::string_view d) { data.append(d); },
                                          [&](Status st) {
                                            REQUIRE(st.ok());
                                            done = true;
                                            f.loop.Stop();
                                          }});
  f.Run();
  REQUIRE(done);
  CHECK(data.size() == want.size());
  CHECK(data == want);
}

TEST_CASE("a body over the limit gets 413 and the connection is closed", "[server]") {
  ServerOptions so;
  so.max_body_bytes = 1000;
  bool called = false;
  Fixture f(
      [&](Request&, ResponseWriterPtr w) {
        called = true;
        w->Send(200, {}, "");
      },
      so);
  auto client = f.MakeClient(BaseClient(f.server.port()));
  client->Request("POST", "/api/v1/configmaps", {}, std::string(1001, 'a'), [&](StatusOr<Response> r) {
    REQUIRE(r.ok());
    REQUIRE(r->status == 413);
    REQUIRE(*r->Header("connection") == "close");
    REQUIRE(r->body ==
            "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":\"Request "
            "entity too large: limit is 1000\",\"reason\":\"RequestEntityTooLarge\",\"code\":413}\n");
    // A body at the limit is fine, on a new connection.
    client->Request("POST", "/", {}, std::string(1000, 'a'), [&](StatusOr<Response> r2) {
      REQUIRE(r2.ok());
      REQUIRE(r2->status == 200);
      f.loop.Stop();
    });
  });
  f.Run();
  REQUIRE(called);
  REQUIRE(client->connections_opened() == 2);
}

TEST_CASE("a large body refused early still gets its 413 answer", "[server]") {
  ServerOptions so;
  so.max_body_bytes = 1000;
  Fixture f([&](Request&, ResponseWriterPtr w) { w->Send(200, {}, ""); }, so);
  auto client = f.MakeClient(BaseClient(f.server.port()));
  client->Request("PUT", "/big", {}, std::string(16 << 20, 'b'), [&](StatusOr<Response> r) {
    REQUIRE(r.ok());
    REQUIRE(r->status == 413);
    f.loop.Stop();
  });
  f.Run();
}

TEST_CASE("the peer going away mid-response runs OnClose", "[server]") {
  ResponseWriterPtr held;
  int closes = 0;
  Fixture f([&](Request&, ResponseWriterPtr w) {
    w->StartStream(200, {});
    w->Write("first\n");
    w->OnClose([&] {
      ++closes;
      f.loop.Stop();
    });
    held = w;
  });
  auto client = f.MakeClient(BaseClient(f.server.port()));
  HandlePtr h;
  h = client->Stream("GET", "/watch", {}, "",
                     StreamCallbacks{nullptr,
                                     [&](std::string_view) {
                                       h.reset();  // cancel from inside the callback: closes the connection
                                     },
                                     [&](Status) { FAIL("on_done after cancel"); }});
  f.Run();
  REQUIRE(closes == 1);
  REQUIRE(held->closed());
  REQUIRE_FALSE(held->Write("more"));
  REQUIRE(held->Buffered() == 0);
}

TEST_CASE("many concurrent requests over several connections", "[server]") {
  Fixture f([&](Request& req, ResponseWriterPtr w) { w->Send(200, {}, req.body); });
  auto o = BaseClient(f.server.port());
  o.max_connections = 8;
  auto client = f.MakeClient(o);
  int done = 0;
  for (int i = 0; i < 200; ++i) {
    client->Request("POST", "/", {}, std::to_string(i), [&, i](StatusOr<Response> r) {
      REQUIRE(r.ok());
      REQUIRE(r->body == std::to_string(i));
      if (++done == 200) f.loop.Stop();
    });
  }
  f.Run();
  REQUIRE(client->connections_opened() == 8);
}

TEST_CASE("a bearer token is sent, and HEAD gets headers only", "[server]") {
  std::string auth;
  Fixture f([&](Request& req, ResponseWriterPtr w) {
    if (const std::string* a = req.Header("authorization")) auth = *a;
    w->Send(200, {}, "body");
  });
  auto o = BaseClient(f.server.port());
  o.bearer_token = "abc.def";
  auto client = f.MakeClient(o);
  client->Request("HEAD", "/", {}, "", [&](StatusOr<Response> r) {
    REQUIRE(r.ok());
    REQUIRE(r->status == 200);
    REQUIRE(*r->Header("content-length") == "4");
    REQUIRE(r->body.empty());
    client->Request("GET", "/", {}, "", [&](StatusOr<Response> r2) {
      REQUIRE(r2->body == "body");
      f.loop.Stop();
    });
  });
  f.Run();
  REQUIRE(auth == "Bearer abc.def");
  REQUIRE(client->connections_opened() == 1);
}

// A blocking plain-TCP peer in a thread, for what the client never does (pipelining, idling).
std::string RawExchange(int port, const std::string& send) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) return "connect failed";
  if (!send.empty()) (void)write(fd, send.data(), send.size());
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) break;  // closed by the server (or 5 s without data)
    out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

TEST_CASE("plain HTTP: pipelined requests are answered in order; errors close", "[server]") {
  Loop loop;
  std::vector<std::string> paths;
  Server server(loop, [&](Request& req, ResponseWriterPtr w) {
    paths.push_back(req.path);
    w->Send(200, {}, req.path + ":" + req.body);
  });
  REQUIRE(server.Listen("127.0.0.1", 0).ok());
  std::string got, bad;
  int port = server.port();
  std::thread peer([&] {
    got =
        RawExchange(port,
                    "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
                    "POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
                    "POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nxy");
    bad = RawExchange(port, "GARBAGE\r\n\r\n");
    loop.Stop();
  });
  loop.Run();
  peer.join();
  REQUIRE(paths == std::vector<std::string>{"/a", "/b", "/c"});
  auto first = got.find("/a:");
  auto second = got.find("/b:abcde");
  auto third = got.find("/c:xy");
  REQUIRE(first != std::string::npos);
  REQUIRE(second > first);
  REQUIRE(third > second);
  REQUIRE(got.find("Connection: close") != std::string::npos);
  REQUIRE(bad.rfind("HTTP/1.1 400 Bad Request\r\n", 0) == 0);
}

TEST_CASE("Buffered reports what a slow reader has not taken yet", "[server]") {
  Loop loop;
  constexpr size_t kTotal = 32 << 20;
  size_t buffered_after_write = 0;
  std::promise<void> start_reading;
  Server server(loop, [&](Request&, ResponseWriterPtr w) {
    w->StartStream(200, {});
    std::string chunk(1 << 20, 'w');
    for (size_t i = 0; i < kTotal / chunk.size(); ++i) REQUIRE(w->Write(chunk));
    buffered_after_write = w->Buffered();
    w->End();
    start_reading.set_value();
  });
  REQUIRE(server.Listen("127.0.0.1", 0).ok());
  int port = server.port();
  size_t received = 0;
  std::thread peer([&] {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    // (No Catch assertions off the main thread.)
    std::string req = "GET /big HTTP/1.1\r\nHost: x\r\n\r\n";
    if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0 ||
        write(fd, req.data(), req.size()) != static_cast<ssize_t>(req.size())) {
      close(fd);
      loop.Post([&] { loop.Stop(); });
      return;
    }
    start_reading.get_future().wait();  // the server has queued everything by now
    std::string tail;
    char buf[65536];
    for (;;) {
      ssize_t n = read(fd, buf, sizeof(buf));
      if (n <= 0) break;
      received += static_cast<size_t>(n);
      tail.append(buf, static_cast<size_t>(n));
      if (tail.size() > 16) tail.erase(0, tail.size() - 16);
      if (tail.size() >= 5 && tail.compare(tail.size() - 5, 5, "0\r\n\r\n") == 0) break;
    }
    close(fd);
    loop.Post([&] { loop.Stop(); });
  });
  loop.Run();
  peer.join();
  REQUIRE(buffered_after_write > 0);
  REQUIRE(received > kTotal);
}

TEST_CASE("idle keep-alive connections are closed after the idle timeout", "[server]") {
  Loop loop;
  ServerOptions so;
  so.idle_timeout_ms = 50;
  Server server(
      loop, [&](Request&, ResponseWriterPtr w) { w->Send(200, {}, "ok"); }, so);
  REQUIRE(server.Listen("127.0.0.1", 0).ok());
  std::string got;
  int port = server.port();
  auto start = std::chrono::steady_clock::now();
  std::thread peer([&] {
    got = RawExchange(port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");  // returns when the server closes
    loop.Stop();
  });
  loop.Run();
  peer.join();
  auto waited = std::chrono::steady_clock::now() - start;
  REQUIRE(got.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  REQUIRE(waited >= std::chrono::milliseconds(50));
  REQUIRE(waited < std::chrono::seconds(4));  // closed by the server, not by the 5 s read timeout
}

TEST_CASE("IPv6 listen address", "[server]") {
  Loop loop;
  Server server(loop, [&](Request& req, ResponseWriterPtr w) { w->Send(200, {}, req.remote_address); });
  REQUIRE(server.ConfigureTls(ServerTls()).ok());
  Status st = server.Listen("::1", 0);
  if (!st.ok()) {
    WARN("no IPv6 loopback: " << st.ToString());
    return;
  }
  auto o = BaseClient(server.port());
  o.host = "::1";
  auto c = Client::Create(loop, o);
  REQUIRE(c.ok());
  std::string body;
  (*c)->Request("GET", "/", {}, "", [&](StatusOr<Response> r) {
    REQUIRE(r.ok());
    body = r->body;
    loop.Stop();
  });
  auto deadline = loop.AddTimer(5000, 0, [&] { loop.Stop(); });
  loop.Run();
  REQUIRE(body.rfind("[::1]:", 0) == 0);
  REQUIRE_FALSE(server.Listen("not-an-ip", 0).ok());
}

TEST_CASE("query parsing and percent decoding", "[server]") {
  auto q = ParseQuery("a=1&b=x%20y&c&a=2&d=p+q&&e=%zz");
  REQUIRE(q.size() == 6);
  REQUIRE(q[0] == std::make_pair(std::string("a"), std::string("1")));
  REQUIRE(q[1].second == "x y");
  REQUIRE(q[2] == std::make_pair(std::string("c"), std::string()));
  REQUIRE(q[3].second == "2");
  REQUIRE(q[4].second == "p q");
  REQUIRE(q[5].second == "%zz");
  REQUIRE(PercentDecode("a+b%2Fc%", false) == "a+b/c%");
  REQUIRE(PercentDecode("a+b", true) == "a b");
}

TEST_CASE("ConfigureTls reports bad files", "[server]") {
  Loop loop;
  Server server(loop, [](Request&, ResponseWriterPtr) {});
  REQUIRE_FALSE(server.ConfigureTls(TlsFiles{"/nonexistent.crt", "/nonexistent.key", ""}).ok());
  const auto& p = TestPki();
  // A key that belongs to another certificate.
  REQUIRE_FALSE(server.ConfigureTls(TlsFiles{p.serving_cert, p.admin_key, ""}).ok());
  REQUIRE(server.ConfigureTls(TlsFiles{p.serving_cert, p.serving_key, ""}).ok());
}

}  // namespace
}  // namespace minik::http
