// API server benchmark: drives a running minik over HTTPS with the admin client certificate.
//
//   apiserver_bench --port 6443 --tls-dir <data-dir>/server/tls [--creates N] [--watchers N] [--events N]
//
// Measures: creates/s from 1 client (keep-alive, one request at a time) and from 64 concurrent
// clients; GET latency (p50/p99) from one client; the delivery latency of one watch event to
// every one of N watchers (p50/p99). Prints one line per measurement.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "http/client.h"
#include "http/loop.h"

using namespace minik;
using Clock = std::chrono::steady_clock;

namespace {

struct Args {
  std::string host = "127.0.0.1";
  int port = 6443;
  std::string tls_dir;
  int creates = 20000;
  int single_creates = 4000;
  int gets = 20000;
  int watchers = 1000;
  int events = 20;
  std::string ns = "bench";
  int payload = 64;
};

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  return v[i];
}

http::ClientPtr MakeClient(http::Loop& loop, const Args& a, size_t conns) {
  http::ClientOptions o;
  o.host = a.host;
  o.port = a.port;
  o.ca_file = a.tls_dir + "/server-ca.crt";
  o.cert_file = a.tls_dir + "/client-admin.crt";
  o.key_file = a.tls_dir + "/client-admin.key";
  o.max_connections = conns;
  auto c = http::Client::Create(loop, o);
  if (!c.ok()) {
    std::fprintf(stderr, "client: %s\n", c.error().ToString().c_str());
    std::exit(1);
  }
  return std::move(*c);
}

int g_payload = 64;

std::string ConfigMap(const std::string& name) {
  return "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"" + name +
         "\"},\"data\":{\"k\":\"" + std::string(static_cast<size_t>(g_payload), 'x') + "\"}}";
}

// Runs `total` requests with `concurrency` in flight; returns per-request latencies.
std::vector<double> Drive(http::Loop& loop, http::Client& client, int total, int concurrency,
                          const std::function<void(int, http::ResponseCallback)>& issue, int* failures) {
  std::vector<double> lat;
  lat.reserve(total);
  int next = 0, done = 0;
  std::function<void()> launch = [&]() {
    if (next >= total) return;
    int i = next++;
    auto start = Clock::now();
    issue(i, [&, start](StatusOr<http::Response> r) {
      lat.push_back(Ms(Clock::now() - start));
      if (!r.ok() || (r->status != 200 && r->status != 201)) {
        if (++*failures <= 3) {
          std::fprintf(stderr, "request failed: %s\n", r.ok() ? (std::to_string(r->status) + " " + r->body).c_str()
                                                             : r.error().ToString().c_str());
        }
      }
      if (++done == total) loop.Stop();
      else launch();
    });
  };
  for (int k = 0; k < concurrency && k < total; ++k) launch();
  loop.Run();
  (void)client;
  return lat;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string f = argv[i], v = argv[i + 1];
    if (f == "--port") a.port = std::atoi(v.c_str());
    else if (f == "--host") a.host = v;
    else if (f == "--tls-dir") a.tls_dir = v;
    else if (f == "--creates") a.creates = std::atoi(v.c_str());
    else if (f == "--single-creates") a.single_creates = std::atoi(v.c_str());
    else if (f == "--gets") a.gets = std::atoi(v.c_str());
    else if (f == "--watchers") a.watchers = std::atoi(v.c_str());
    else if (f == "--events") a.events = std::atoi(v.c_str());
    else if (f == "--namespace") a.ns = v;
    else if (f == "--payload") a.payload = std::atoi(v.c_str());
    else {
      std::fprintf(stderr, "unknown flag %s\n", f.c_str());
      return 2;
    }
  }
  if (a.tls_dir.empty()) {
    std::fprintf(stderr, "usage: apiserver_bench --port P --tls-dir DIR [--creates N] [--watchers N]\n");
    return 2;
  }
  g_payload = a.payload;
  http::Loop loop;
  auto one = MakeClient(loop, a, 1);
  auto many = MakeClient(loop, a, 64);
  const std::string base = "/api/v1/namespaces/" + a.ns + "/configmaps";
  int failures = 0;
  // Namespace (ignore AlreadyExists).
  Drive(loop, *one, 1, 1, [&](int, http::ResponseCallback cb) {
    one->Request("POST", "/api/v1/namespaces", {{"Content-Type", "application/json"}},
                 "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"" + a.ns + "\"}}",
                 [cb](StatusOr<http::Response> r) {
                   if (r.ok() && r->status == 409) r->status = 201;
                   cb(std::move(r));
                 });
  }, &failures);
  failures = 0;

  // 1. Creates from one client.
  auto t0 = Clock::now();
  if (a.single_creates > 0) {
  auto lat1 = Drive(loop, *one, a.single_creates, 1, [&](int i, http::ResponseCallback cb) {
    one->Request("POST", base, {{"Content-Type", "application/json"}}, ConfigMap("s-" + std::to_string(i)), cb);
  }, &failures);
  double secs = Ms(Clock::now() - t0) / 1000;
  std::printf("create_1_client: %d creates in %.2f s = %.0f/s, p50 %.3f ms, p99 %.3f ms, failures %d\n",
              a.single_creates, secs, a.single_creates / secs, Percentile(lat1, 0.5), Percentile(lat1, 0.99), failures);
  }

  // 2. Creates from 64 concurrent clients.
  failures = 0;
  double secs = 0;
  t0 = Clock::now();
  auto lat64 = Drive(loop, *many, a.creates, 64, [&](int i, http::ResponseCallback cb) {
    many->Request("POST", base, {{"Content-Type", "application/json"}}, ConfigMap("c-" + std::to_string(i)), cb);
  }, &failures);
  secs = Ms(Clock::now() - t0) / 1000;
  std::printf("create_64_clients: %d creates in %.2f s = %.0f/s, p50 %.3f ms, p99 %.3f ms, failures %d\n", a.creates,
              secs, a.creates / secs, Percentile(lat64, 0.5), Percentile(lat64, 0.99), failures);

  // 3. GET latency from one client.
  failures = 0;
  if (a.gets == 0 || a.single_creates == 0) return 0;
  auto latg = Drive(loop, *one, a.gets, 1, [&](int i, http::ResponseCallback cb) {
    one->Request("GET", base + "/s-" + std::to_string(i % std::max(1, a.single_creates)), {}, "", cb);
  }, &failures);
  std::printf("get_1_client: %d gets, p50 %.3f ms, p99 %.3f ms, failures %d\n", a.gets, Percentile(latg, 0.5),
              Percentile(latg, 0.99), failures);

  // 4. Watch fan-out: N watchers on the namespace's configmaps, then `events` updates.
  //
  // The whole phase runs inside ONE loop.Run(): Run() closes every connection of every client
  // on the loop when it returns (Loop::Owner), which ends open watch streams. Stopping the loop
  // between "all watches started" and the updates (as this bench once did) silently killed
  // every watch, so no event ever arrived.
  if (a.watchers == 0) return 0;
  const bool debug = getenv("BENCH_DEBUG") != nullptr;
  auto watch_client = MakeClient(loop, a, static_cast<size_t>(a.watchers) + 1);
  std::vector<http::HandlePtr> streams;
  std::vector<double> deliver;
  std::vector<int> got_round(static_cast<size_t>(a.watchers), -1);  // last round each watcher saw
  Clock::time_point sent{};
  int ready = 0, received = 0, round = -1, ended = 0, timeouts = 0;
  auto t_watch = Clock::now();
  double start_secs = 0;
  bool finished = false;
  std::string marker;
  http::HandlePtr guard;
  bool answered = false;  // the current round's update got its response
  std::function<void()> next_round;
  // A round ends when every watcher saw its event and the update was answered.
  auto maybe_advance = [&]() {
    if (answered && received == a.watchers) next_round();
  };
  next_round = [&]() {
    guard.reset();
    if (++round >= a.events) {
      finished = true;
      // End the watches before the loop stops (Run() would otherwise close them, with a warning).
      loop.Post([&]() {
        streams.clear();
        loop.Stop();
      });
      return;
    }
    received = 0;
    answered = false;
    marker = "round-" + std::to_string(round) + "-";
    std::string body = "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"watched\"},\"data\":{\"m\":\"" +
                       marker + "\"}}";
    guard = loop.AddTimer(10000, 0, [&]() {
      std::fprintf(stderr, "round %d: only %d of %d watchers got the event within 10 s\n", round, received, a.watchers);
      ++timeouts;
      loop.Post([&, r = round]() {  // not from inside the guard's own callback
        if (r == round) next_round();
      });
    });
    sent = Clock::now();
    auto check = [&, r = round](StatusOr<http::Response> resp) {
      if (!resp.ok() || (resp->status != 200 && resp->status != 201)) {
        std::fprintf(stderr, "round %d update failed: %s\n", r,
                     resp.ok() ? (std::to_string(resp->status) + " " + resp->body).c_str()
                               : resp.error().ToString().c_str());
      }
      if (r == round) {
        answered = true;
        maybe_advance();
      }
    };
    if (round == 0) {
      // Create it (a leftover from an earlier run in the same namespace is replaced instead).
      one->Request("POST", base, {{"Content-Type", "application/json"}}, body,
                   [&, body, check](StatusOr<http::Response> r) {
                     if (r.ok() && r->status == 409) {
                       one->Request("PUT", base + "/watched", {{"Content-Type", "application/json"}}, body, check);
                       return;
                     }
                     check(std::move(r));
                   });
    } else {
      one->Request("PUT", base + "/watched", {{"Content-Type", "application/json"}}, body, check);
    }
  };
  for (int w = 0; w < a.watchers; ++w) {
    http::StreamCallbacks cbs;
    cbs.on_response = [&](const http::Response& r) {
      if (r.status != 200) std::fprintf(stderr, "watch answered %d\n", r.status);
      if (++ready == a.watchers) {
        start_secs = Ms(Clock::now() - t_watch) / 1000;
        guard.reset();
        next_round();
      }
    };
    cbs.on_data = [&, w](std::string_view d) {
      if (debug) std::fprintf(stderr, "data %d: %.*s\n", w, static_cast<int>(d.size()), d.data());
      if (round < 0 || got_round[static_cast<size_t>(w)] == round || marker.empty() ||
          d.find(marker) == std::string_view::npos) {
        return;
      }
      got_round[static_cast<size_t>(w)] = round;
      deliver.push_back(Ms(Clock::now() - sent));
      ++received;
      maybe_advance();
    };
    cbs.on_done = [&, w](Status st) {
      if (finished) return;
      if (++ended <= 3) std::fprintf(stderr, "watch %d ended early: %s\n", w, st.ToString().c_str());
    };
    streams.push_back(watch_client->Stream(
        "GET", base + "?watch=true&fieldSelector=metadata.name%3Dwatched&resourceVersion=0", {}, "", std::move(cbs)));
  }
  guard = loop.AddTimer(30000, 0, [&]() {
    std::fprintf(stderr, "only %d of %d watches started within 30 s\n", ready, a.watchers);
    loop.Stop();
  });
  t_watch = Clock::now();
  loop.Run();
  guard.reset();
  std::printf("watch_fanout: %d watchers x %d events (%d started in %.2f s), delivery p50 %.2f ms, p99 %.2f ms, "
              "max %.2f ms, deliveries %zu of %d, rounds timed out %d, streams ended early %d\n",
              a.watchers, a.events, ready, start_secs, Percentile(deliver, 0.5),
              Percentile(deliver, 0.99), Percentile(deliver, 1.0), deliver.size(), a.watchers * a.events, timeouts,
              ended);
  streams.clear();
  return finished && timeouts == 0 && ended == 0 && ready == a.watchers ? 0 : 1;
}
