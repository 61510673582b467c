// http_bench: the HTTPS server answering a small fixed JSON body, driven by the HTTPS client
// over loopback with N concurrent keep-alive connections (one request in flight on each).
// The server runs on its own loop thread, the client on the main thread.
//
//   http_bench [--connections 1,64] [--seconds 3] [--plain] [--no-client-cert]
#include <pthread.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "common/log.h"
#include "http/client.h"
#include "http/server.h"
#include "pki/pki.h"

using namespace minik;
using namespace minik::http;
using Clock = std::chrono::steady_clock;

namespace {

const char kBody[] =
    "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Success\",\"code\":200,"
    "\"details\":{\"name\":\"bench\",\"kind\":\"configmaps\"}}";

double CpuSeconds() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

double ThreadCpuSeconds(clockid_t id) {
  timespec ts;
  clock_gettime(id, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

struct Result {
  double server_cpu_us_per_req;  // the server thread alone
  double rps;
  double cpu_us_per_req;  // client + server CPU time per request
  double p50_us, p99_us, p999_us;
  uint64_t errors;
};

Result RunOne(clockid_t server_clock, int port, const pki::ServerPki& p, bool tls, bool client_cert, int connections,
              double seconds) {
  Loop loop;
  ClientOptions o;
  o.host = "127.0.0.1";
  o.port = port;
  o.tls = tls;
  o.ca_file = p.server_ca_cert;
  if (client_cert) {
    o.cert_file = p.admin_cert;
    o.key_file = p.admin_key;
  }
  o.max_connections = static_cast<size_t>(connections);
  auto client = Client::Create(loop, o);
  if (!client.ok()) {
    fprintf(stderr, "client: %s\n", client.status().ToString().c_str());
    exit(1);
  }
  std::vector<uint32_t> lat_ns;
  lat_ns.reserve(4 << 20);
  uint64_t errors = 0, completed = 0;
  bool measuring = false, stopping = false;
  double rps = 0, cpu_start = 0, cpu_per_req = 0, server_cpu_start = 0, server_cpu_per_req = 0;
  Clock::time_point t_start;
  std::function<void()> issue;
  issue = [&] {
    auto sent = Clock::now();
    (*client)->Request("GET", "/api/v1/namespaces/default/configmaps/bench", {{"Accept", "application/json"}}, "",
                       [&, sent](StatusOr<Response> r) {
                         if (!stopping && (!r.ok() || r->status != 200)) ++errors;
                         if (measuring) {
                           lat_ns.push_back(static_cast<uint32_t>(
                               std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - sent).count()));
                           ++completed;
                         }
                         if (!stopping) issue();
                       });
  };
  for (int i = 0; i < connections; ++i) issue();
  // Warm up (connections and handshakes) for 0.5 s, then measure.
  auto warm = loop.AddTimer(500, 0, [&] {
    measuring = true;
    t_start = Clock::now();
    cpu_start = CpuSeconds();
    server_cpu_start = ThreadCpuSeconds(server_clock);
  });
  auto stop = loop.AddTimer(500 + static_cast<uint64_t>(seconds * 1000), 0, [&] {
    measuring = false;
    stopping = true;
    double elapsed = std::chrono::duration<double>(Clock::now() - t_start).count();
    rps = static_cast<double>(completed) / elapsed;
    server_cpu_per_req = (ThreadCpuSeconds(server_clock) - server_cpu_start) * 1e6 /
                         static_cast<double>(std::max<uint64_t>(completed, 1));
    cpu_per_req = (CpuSeconds() - cpu_start) * 1e6 / static_cast<double>(std::max<uint64_t>(completed, 1));
    loop.Stop();
  });
  loop.Run();
  std::sort(lat_ns.begin(), lat_ns.end());
  auto pct = [&](double q) {
    if (lat_ns.empty()) return 0.0;
    size_t i = std::min(lat_ns.size() - 1, static_cast<size_t>(q * static_cast<double>(lat_ns.size())));
    return lat_ns[i] / 1000.0;
  };
  return Result{server_cpu_per_req, rps, cpu_per_req, pct(0.50), pct(0.99), pct(0.999), errors};
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> conns = {1, 64};
  double seconds = 3;
  bool tls = true, client_cert = true;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--connections" && i + 1 < argc) {
      conns.clear();
      std::string list = argv[++i];
      size_t pos = 0;
      while (pos < list.size()) {
        size_t comma = list.find(',', pos);
        if (comma == std::string::npos) comma = list.size();
        conns.push_back(std::stoi(list.substr(pos, comma - pos)));
        pos = comma + 1;
      }
    } else if (a == "--seconds" && i + 1 < argc) {
      seconds = std::stod(argv[++i]);
    } else if (a == "--plain") {
      tls = false;
    } else if (a == "--no-client-cert") {
      client_cert = false;
    } else {
      fprintf(stderr, "usage: http_bench [--connections 1,64] [--seconds 3] [--plain] [--no-client-cert]\n");
      return 2;
    }
  }
  SetLogLevel(LogLevel::kWarning);
  char tmpl[] = "/tmp/minik-http-bench-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  auto p = pki::EnsureServerPki(dir, pki::ServerPkiOptions{});
  if (!p.ok()) {
    fprintf(stderr, "pki: %s\n", p.status().ToString().c_str());
    return 1;
  }

  // The server on its own thread.
  Loop server_loop;
  Server server(server_loop, [](Request&, ResponseWriterPtr w) {
    w->Send(200, {{"Content-Type", "application/json"}}, kBody);
  });
  if (tls) {
    Status st = server.ConfigureTls(TlsFiles{p->serving_cert, p->serving_key, p->client_ca_cert});
    if (!st.ok()) {
      fprintf(stderr, "tls: %s\n", st.ToString().c_str());
      return 1;
    }
  }
  if (Status st = server.Listen("127.0.0.1", 0); !st.ok()) {
    fprintf(stderr, "listen: %s\n", st.ToString().c_str());
    return 1;
  }
  int port = server.port();
  std::thread server_thread([&] { server_loop.Run(); });
  clockid_t server_clock;
  pthread_getcpuclockid(server_thread.native_handle(), &server_clock);

  printf("http_bench: %s%s, %zu-byte JSON body, %.1f s per run, server and client on separate threads\n",
         tls ? "HTTPS (TLS 1.3, ECDSA P-256)" : "plain HTTP", tls && client_cert ? " with client certificate" : "",
         strlen(kBody), seconds);
  printf("%12s %12s %10s %10s %10s %12s %14s %8s\n", "connections", "requests/s", "p50 us", "p99 us", "p99.9 us",
         "CPU us/req", "server us/req", "errors");
  for (int c : conns) {
    Result r = RunOne(server_clock, port, *p, tls, client_cert, c, seconds);
    printf("%12d %12.0f %10.1f %10.1f %10.1f %12.1f %14.1f %8llu\n", c, r.rps, r.p50_us, r.p99_us, r.p999_us,
           r.cpu_us_per_req, r.server_cpu_us_per_req, static_cast<unsigned long long>(r.errors));
    fflush(stdout);
  }
  server_loop.Stop();
  server_thread.join();
  std::filesystem::remove_all(dir);
  return 0;
}
