// Client behaviour around watch streams: late first chunks while plain requests share the
// client, and what happens to streams and connections when the loop is stopped and restarted
// (the pattern of test/bench/server/apiserver_bench.cc).
#include <catch2/catch.hpp>
#include <future>
#include <string>
#include <thread>

#include "http/client.h"
#include "http/server.h"
#include "test_util.h"

namespace minik::http {
namespace {

using testing::TestPki;

// A server on its own thread and loop, so that the client's loop can be stopped and restarted
// without taking the server down with it (Run() closes every owner on its loop). /watch starts
// a chunked stream and sends nothing; Emit() later writes a chunk to every open stream; any
// other path answers "ok <path>".
class ServerThread {
 public:
  ServerThread() {
    std::promise<int> port;
    auto port_f = port.get_future();
    thread_ = std::thread([this, &port] {
      Server server(loop_, [this](Request& req, ResponseWriterPtr w) {
        if (req.path == "/watch") {
          w->StartStream(200, {{"Content-Type", "application/json"}});
          streams_.push_back(w);
          watch_requests_.fetch_add(1);
          return;
        }
        plain_requests_.fetch_add(1);
        w->Send(200, {}, "ok " + req.path);
      });
      const auto& p = TestPki();
      Status st = server.ConfigureTls(TlsFiles{p.serving_cert, p.serving_key, p.client_ca_cert});
      if (st.ok()) st = server.Listen("127.0.0.1", 0);
      port.set_value(st.ok() ? server.port() : -1);
      if (!st.ok()) return;
      loop_.Run();
      streams_.clear();
    });
    port_ = port_f.get();
  }
  ~ServerThread() {
    loop_.Stop();
    thread_.join();
  }
  int port() const { return port_; }
  // Writes data to every stream still open (on the server thread).
  void Emit(std::string data) {
    loop_.Post([this, data = std::move(data)] {
      for (auto& w : streams_) w->Write(data);
    });
  }
  int plain_requests() const { return plain_requests_.load(); }
  int watch_requests() const { return watch_requests_.load(); }

 private:
  Loop loop_;
  std::thread thread_;
  int port_ = -1;
  std::vector<ResponseWriterPtr> streams_;  // server thread only
  std::atomic<int> plain_requests_{0}, watch_requests_{0};
};

ClientPtr MakeClient(Loop& loop, int port, size_t max_connections) {
  ClientOptions o;
  o.port = port;
  o.ca_file = TestPki().server_ca_cert;
  o.max_connections = max_connections;
  auto c = Client::Create(loop, std::move(o));
  REQUIRE(c.ok());
  return std::move(c).value();
}

// What one stream saw.
struct StreamLog {
  int status = 0;
  std::string data;
  int done_calls = 0;
  Status done_status;
  StreamCallbacks Callbacks(std::function<void()> on_response, std::function<void()> on_data) {
    return StreamCallbacks{[this, on_response](const Response& r) {
                             status = r.status;
                             if (on_response) on_response();
                           },
                           [this, on_data](std::string_view d) {
                             data.append(d);
                             if (on_data) on_data();
                           },
                           [this](Status st) {
                             ++done_calls;
                             done_status = st;
                           }};
  }
};

TEST_CASE("a stream's late first chunk arrives while plain requests use other connections", "[client]") {
  ServerThread server;
  REQUIRE(server.port() > 0);
  Loop loop;
  auto deadline = loop.AddTimer(10000, 0, [&] { loop.Stop(); });
  auto client = MakeClient(loop, server.port(), 3);
  StreamLog log;
  int answered = 0;
  bool emitted = false;
  int ended_before_data = -1;
  constexpr int kRequests = 6;
  // Once the stream has its headers, plain requests run over the client's other connections;
  // when all are answered the server writes the stream's first chunk.
  auto h = client->Stream("GET", "/watch", {}, "",
                          log.Callbacks(
                              [&] {
                                for (int i = 0; i < kRequests; ++i) {
                                  client->Request("GET", "/p" + std::to_string(i), {}, "", [&, i](StatusOr<Response> r) {
                                    REQUIRE(r.ok());
                                    REQUIRE(r->body == "ok /p" + std::to_string(i));
                                    if (++answered == kRequests) {
                                      emitted = true;
                                      server.Emit("{\"type\":\"ADDED\"}\n");
                                    }
                                  });
                                }
                              },
                              [&] {
                                ended_before_data = log.done_calls;
                                loop.Stop();
                              }));
  loop.Run();
  REQUIRE(log.status == 200);
  REQUIRE(answered == kRequests);
  REQUIRE(emitted);
  REQUIRE(log.data == "{\"type\":\"ADDED\"}\n");
  REQUIRE(ended_before_data == 0);  // the stream was still open when its chunk came
  REQUIRE(server.plain_requests() == kRequests);
  REQUIRE(client->connections_opened() == 3);  // the stream's own and 2 for the plain requests
}

TEST_CASE("stopping the loop ends open streams with a clear error; the client works after a restart",
          "[client]") {
  ServerThread server;
  REQUIRE(server.port() > 0);
  Loop loop;
  auto client = MakeClient(loop, server.port(), 4);
  StreamLog first;
  // Phase 1 (as the bench did): start the watch, stop the loop once it is answered.
  auto h1 = client->Stream("GET", "/watch", {}, "", first.Callbacks([&] { loop.Stop(); }, nullptr));
  {
    auto deadline = loop.AddTimer(10000, 0, [&] { loop.Stop(); });
    loop.Run();
  }
  REQUIRE(first.status == 200);
  // Run() returning closed the stream's connection: the watch is over and says why (it used to
  // end with a bare "client closed", indistinguishable from destroying the Client).
  REQUIRE(first.done_calls == 1);
  REQUIRE(first.done_status.code() == Code::kUnavailable);
  REQUIRE_THAT(first.done_status.ToString(), Catch::Contains("Loop::Run() returned"));
  REQUIRE(client->connections() == 0);

  // Phase 2: the loop runs again. A plain request opens a new connection, an event written to
  // the old stream goes nowhere, and a stream started now gets its late first chunk.
  StreamLog second;
  bool plain_ok = false;
  HandlePtr h2;
  client->Request("POST", "/update", {}, "x", [&](StatusOr<Response> r) {
    REQUIRE(r.ok());
    REQUIRE(r->status == 200);
    plain_ok = true;
    h2 = client->Stream("GET", "/watch", {}, "", second.Callbacks([&] {
                          server.Emit("{\"type\":\"MODIFIED\"}\n");
                        },
                                                                  [&] { loop.Stop(); }));
  });
  auto deadline = loop.AddTimer(10000, 0, [&] { loop.Stop(); });
  loop.Run();
  REQUIRE(plain_ok);
  REQUIRE(second.status == 200);
  REQUIRE(second.data == "{\"type\":\"MODIFIED\"}\n");
  REQUIRE(first.data.empty());
  REQUIRE(first.done_calls == 1);
  REQUIRE(server.watch_requests() == 2);
}

}  // namespace
}  // namespace minik::http
