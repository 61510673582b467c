// Control-plane benchmark against a running minik with hollow nodes, through the API only:
//
//   control_plane_bench --port 6443 --tls-dir <data-dir>/server/tls --pods 30000 [--concurrency 64]
//   control_plane_bench --port 6443 --tls-dir <data-dir>/server/tls --deployment 1000
//
// --pods N: creates N bare pods (concurrency requests in flight) in namespace "bench" while
//   watching them; reports the creation rate, the scheduling throughput end to end (pods bound
//   per second, from the first create to the last binding seen by the watch) and the
//   create-to-bound latency percentiles.
// --deployment R: creates a Deployment of R replicas and reports the time until the watch sees
//   status.availableReplicas == R.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unordered_map>
#include <vector>

#include "client/rest_api_client.h"
#include "http/loop.h"

using namespace minik;
using SteadyClock = std::chrono::steady_clock;

namespace {

struct Args {
  std::string host = "127.0.0.1";
  int port = 6443;
  std::string tls_dir;
  int pods = 0;
  int concurrency = 64;
  int deployment = 0;
  std::string ns = "bench";
};

double Ms(SteadyClock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

const client::ResourceRef kPods{"", "v1", "pods"};
const client::ResourceRef kNamespaces{"", "v1", "namespaces"};
const client::ResourceRef kDeployments{"apps", "v1", "deployments"};

JsonDoc Parse(const std::string& s) {
  auto d = ParseJson(s);
  if (!d.ok()) std::abort();
  return std::move(*d);
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string f = argv[i], v = argv[i + 1];
    if (f == "--port") a.port = std::atoi(v.c_str());
    else if (f == "--host") a.host = v;
    else if (f == "--tls-dir") a.tls_dir = v;
    else if (f == "--pods") a.pods = std::atoi(v.c_str());
    else if (f == "--concurrency") a.concurrency = std::atoi(v.c_str());
    else if (f == "--deployment") a.deployment = std::atoi(v.c_str());
    else if (f == "--namespace") a.ns = v;
  }
  if (a.tls_dir.empty() || (a.pods <= 0 && a.deployment <= 0)) {
    std::fprintf(stderr, "usage: control_plane_bench --port P --tls-dir DIR (--pods N | --deployment R)\n");
    return 2;
  }
  http::Loop loop;
  http::ClientOptions o;
  o.host = a.host;
  o.port = a.port;
  o.ca_file = a.tls_dir + "/server-ca.crt";
  o.cert_file = a.tls_dir + "/client-admin.crt";
  o.key_file = a.tls_dir + "/client-admin.key";
  o.max_connections = static_cast<size_t>(std::max(4, a.concurrency));
  auto c = client::HttpsApiClient::Create(loop, o);
  if (!c.ok()) {
    std::fprintf(stderr, "client: %s\n", c.error().ToString().c_str());
    return 1;
  }
  client::ApiClient& api = **c;
  int rc = 0;
  // The namespace (ignore AlreadyExists).
  api.Create(kNamespaces, "", Parse("{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"" + a.ns + "\"}}"),
             [&](StatusOr<JsonDoc>) { loop.Stop(); });
  loop.Run();

  if (a.pods > 0) {
    std::unordered_map<std::string, SteadyClock::time_point> sent;
    std::vector<double> latencies;
    SteadyClock::time_point first{}, last_bound{}, last_created{};
    int bound = 0, created = 0, failed = 0, next = 0;
    client::WatchOptions wo;
    wo.resource_version = "0";
    client::WatchCallbacks cbs;
    bool started = false;
    std::function<void()> launch;
    cbs.on_event = [&](client::WatchEvent ev) {
      if (ev.type == client::WatchEvent::Type::kBookmark) return;
      const JsonValue* node = Path(*ev.object, {"spec", "nodeName"});
      if (!node || !node->IsString()) return;
      std::string name(client::MetaString(*ev.object, "name"));
      auto it = sent.find(name);
      if (it == sent.end()) return;
      auto now = SteadyClock::now();
      latencies.push_back(Ms(now - it->second));
      sent.erase(it);
      last_bound = now;
      if (++bound == a.pods) loop.Stop();
    };
    cbs.on_closed = [&](Status st) {
      std::fprintf(stderr, "watch closed: %s\n", st.ToString().c_str());
      loop.Stop();
    };
    auto watch = api.Watch(kPods, a.ns, wo, cbs);
    launch = [&]() {
      if (next >= a.pods) return;
      int i = next++;
      std::string name = "p-" + std::to_string(i);
      JsonDoc pod = Parse("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"" + name +
                          "\"},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"busybox\",\"resources\":"
                          "{\"requests\":{\"cpu\":\"10m\",\"memory\":\"10Mi\"}}}]}}");
      sent[name] = SteadyClock::now();
      api.Create(kPods, a.ns, pod, [&](StatusOr<JsonDoc> r) {
        if (!r.ok() && ++failed <= 3) std::fprintf(stderr, "create failed: %s\n", r.error().ToString().c_str());
        ++created;
        last_created = SteadyClock::now();
        launch();
      });
    };
    // Give the watch a moment to open, then start creating.
    auto t = loop.AddTimer(300, 0, [&]() {
      started = true;
      first = SteadyClock::now();
      for (int k = 0; k < a.concurrency; ++k) launch();
    });
    loop.Run();
    (void)started;
    double total_s = Ms(last_bound - first) / 1000.0;
    std::printf("pods: %d created (%d failed), %d bound\n", created, failed, bound);
    std::printf("create_rate_pods_per_s: %.0f\n", created / (Ms(last_created - first) / 1000.0));
    std::printf("scheduling_throughput_pods_per_s: %.0f (first create to last binding, %.2f s)\n", bound / total_s,
                total_s);
    std::printf("create_to_bound_ms: p50 %.1f p99 %.1f max %.1f\n", Percentile(latencies, 0.5),
                Percentile(latencies, 0.99), Percentile(latencies, 1.0));
    if (bound != a.pods) rc = 1;
  }

  if (a.deployment > 0) {
    std::string name = "bench-deploy";
    SteadyClock::time_point start{};
    double done_ms = -1;
    client::WatchOptions wo;
    wo.resource_version = "0";
    client::WatchCallbacks cbs;
    cbs.on_event = [&](client::WatchEvent ev) {
      if (client::MetaString(*ev.object, "name") != name) return;
      const JsonValue* av = Path(*ev.object, {"status", "availableReplicas"});
      if (av && av->IsInt() && av->GetInt() == a.deployment && done_ms < 0) {
        done_ms = Ms(SteadyClock::now() - start);
        loop.Stop();
      }
    };
    cbs.on_closed = [&](Status st) {
      std::fprintf(stderr, "watch closed: %s\n", st.ToString().c_str());
      loop.Stop();
    };
    auto watch = api.Watch(kDeployments, a.ns, wo, cbs);
    auto t = loop.AddTimer(300, 0, [&]() {
      start = SteadyClock::now();
      api.Create(kDeployments, a.ns,
                 Parse("{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"" + name +
                       "\"},\"spec\":{\"replicas\":" + std::to_string(a.deployment) +
                       ",\"selector\":{\"matchLabels\":{\"app\":\"bench\"}},\"template\":{\"metadata\":{\"labels\":"
                       "{\"app\":\"bench\"}},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"busybox\"}]}}}}"),
                 [&](StatusOr<JsonDoc> r) {
                   if (!r.ok()) {
                     std::fprintf(stderr, "create deployment: %s\n", r.error().ToString().c_str());
                     loop.Stop();
                   }
                 });
    });
    auto timeout = loop.AddTimer(120000, 0, [&]() { loop.Stop(); });
    loop.Run();
    if (done_ms < 0) {
      std::printf("deployment_%d_available: not reached within 120 s\n", a.deployment);
      rc = 1;
    } else {
      std::printf("deployment_%d_replicas_available_ms: %.0f\n", a.deployment, done_ms);
    }
  }
  return rc;
}
