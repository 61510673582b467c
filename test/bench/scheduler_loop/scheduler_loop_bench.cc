// The scheduler loop end to end against the in-memory FakeApiClient: N Ready nodes in 3 zones,
// then M pods created in batches (as a Deployment's ReplicaSet would, so the default topology
// spreading runs), each decided, assumed, bound through pods/<name>/binding (answered like the
// API server's subresource: the pod's spec.nodeName is set, and the pod informer delivers it
// back as the confirmation), with its Scheduled event written to the fake. Reports pods/s from
// the first pod created to the last binding confirmed; the fake's own work (stores, watch
// fan-out, events) is included, as the API server's would be.
//   scheduler_loop_bench [nodes=1000] [pods=30000] [batch=1000]
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "client/fake_api_client.h"
#include "client/informer.h"
#include "client/timers.h"
#include "server/controllers/events.h"
#include "server/scheduler/scheduler_loop.h"

using namespace minik;

namespace {

double CpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
}

const client::ResourceRef kPods{"", "v1", "pods"};

// The fake API with the pods/binding subresource of the API server: a binding is answered at
// once with a Success status and sets spec.nodeName right after (a posted update, as the watch
// event arrives after the response). Everything else goes to the FakeApiClient.
class BindingServer final : public client::ApiClient {
 public:
  BindingServer(client::FakeApiClient& fake, client::FakeTimers& timers) : fake_(fake), timers_(timers) {}
  void Get(const client::ResourceRef& r, const std::string& ns, const std::string& n, client::ObjectCallback cb) override {
    fake_.Get(r, ns, n, std::move(cb));
  }
  void List(const client::ResourceRef& r, const std::string& ns, const client::ListOptions& o,
            client::ObjectCallback cb) override {
    fake_.List(r, ns, o, std::move(cb));
  }
  void Create(const client::ResourceRef& r, const std::string& ns, const JsonValue& obj,
              client::ObjectCallback cb) override {
    const std::string& p = r.plural;
    if (p.size() < 8 || p.compare(p.size() - 8, 8, "/binding") != 0) return fake_.Create(r, ns, obj, std::move(cb));
    std::string node(GetString(*Member(obj, "target"), "name").value_or(""));
    std::string name(client::MetaString(obj, "name"));
    timers_.Post([this, ns, name, node] {
      auto cur = fake_.Find(kPods, ns, name);
      if (!cur) return;
      JsonDoc d;
      d.CopyFrom(*cur, d.GetAllocator());
      SetString(EnsureObject(d, "spec", d.GetAllocator()), "nodeName", node, d.GetAllocator());
      fake_.Update(kPods, ns, d, "", [](StatusOr<JsonDoc>) {});
    });
    cb(JsonDoc(rapidjson::kObjectType));  // the body (a Success Status) is not read
  }
  void Update(const client::ResourceRef& r, const std::string& ns, const JsonValue& obj, const std::string& sub,
              client::ObjectCallback cb) override {
    fake_.Update(r, ns, obj, sub, std::move(cb));
  }
  void Patch(const client::ResourceRef& r, const std::string& ns, const std::string& n, client::PatchType t,
             std::string patch, const std::string& sub, client::ObjectCallback cb) override {
    fake_.Patch(r, ns, n, t, std::move(patch), sub, std::move(cb));
  }
  void Delete(const client::ResourceRef& r, const std::string& ns, const std::string& n,
              const client::DeleteOptions& o, client::ObjectCallback cb) override {
    fake_.Delete(r, ns, n, o, std::move(cb));
  }
  http::HandlePtr Watch(const client::ResourceRef& r, const std::string& ns, const client::WatchOptions& o,
                        client::WatchCallbacks cbs) override {
    return fake_.Watch(r, ns, o, std::move(cbs));
  }

 private:
  client::FakeApiClient& fake_;
  client::FakeTimers& timers_;
};

}  // namespace

int main(int argc, char** argv) {
  int num_nodes = argc > 1 ? std::atoi(argv[1]) : 1000;
  int num_pods = argc > 2 ? std::atoi(argv[2]) : 30000;
  int batch = argc > 3 ? std::atoi(argv[3]) : 1000;
  const client::ResourceRef nodes{"", "v1", "nodes"};

  client::FakeTimers timers;
  client::FakeApiClient api(&timers.fake_clock());
  BindingServer server(api, timers);
  client::SharedInformerFactory informers(server, timers);
  controllers::EventRecorder events(server, timers.clock(), "default-scheduler");
  scheduler::SchedulerLoop loop(server, informers, timers, events);

  for (int i = 0; i < num_nodes; ++i) {
    std::string name = "node-" + std::to_string(i);
    std::string json = R"({"apiVersion":"v1","kind":"Node","metadata":{"name":")" + name +
                       R"(","labels":{"kubernetes.io/hostname":")" + name + R"(","topology.kubernetes.io/zone":"zone-)" +
                       std::to_string(i % 3) +
                       R"("}},"spec":{},"status":{"allocatable":{"cpu":"32","memory":"128Gi","pods":"110"},)"
                       R"("conditions":[{"type":"Ready","status":"True"}]}})";
    auto d = ParseJson(json);
    if (!d.ok() || !api.Seed(nodes, *d).ok()) return 1;
  }
  informers.Start();
  loop.Start();
  timers.RunPending();

  // Pod bodies as a ReplicaSet creates them.
  std::vector<JsonDoc> bodies;
  bodies.reserve(num_pods);
  for (int i = 0; i < num_pods; ++i) {
    std::string name = "web-" + std::to_string(i / 100) + "-" + std::to_string(i);
    std::string app = "web" + std::to_string(i % 10);
    std::string json =
        R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":")" + name + R"(","namespace":"default","labels":{"app":")" +
        app + R"(","pod-template-hash":"5d8f7c9b4"},"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet",)"
        R"("name":")" + app + R"(-5d8f7c9b4","uid":"rs-)" + app + R"(","controller":true,"blockOwnerDeletion":true}]},)"
        R"("spec":{"containers":[{"name":"nginx","image":"nginx:1.27","ports":[{"containerPort":80,"protocol":"TCP"}],)"
        R"("resources":{"requests":{"cpu":"100m","memory":"128Mi"}},"terminationMessagePath":"/dev/termination-log",)"
        R"("terminationMessagePolicy":"File","imagePullPolicy":"IfNotPresent"}],"restartPolicy":"Always",)"
        R"("terminationGracePeriodSeconds":30,"dnsPolicy":"ClusterFirst","schedulerName":"default-scheduler",)"
        R"("priority":0,"enableServiceLinks":true,"preemptionPolicy":"PreemptLowerPriority",)"
        R"("tolerations":[{"key":"node.kubernetes.io/not-ready","operator":"Exists","effect":"NoExecute","tolerationSeconds":300},)"
        R"({"key":"node.kubernetes.io/unreachable","operator":"Exists","effect":"NoExecute","tolerationSeconds":300}]},)"
        R"("status":{"phase":"Pending","qosClass":"Burstable"}})";
    auto d = ParseJson(json);
    if (!d.ok()) return 1;
    bodies.push_back(std::move(d).value());
  }

  double c0 = CpuSeconds();
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < num_pods; i += batch) {
    for (int j = i; j < std::min(num_pods, i + batch); ++j) {
      api.Create(kPods, "default", bodies[j], [](StatusOr<JsonDoc> r) {
        if (!r.ok()) std::fprintf(stderr, "create: %s\n", r.error().ToString().c_str());
      });
    }
    timers.RunPending();
  }
  timers.RunPending();
  auto t1 = std::chrono::steady_clock::now();
  double secs = std::chrono::duration<double>(t1 - t0).count();
  double cpu = CpuSeconds() - c0;

  size_t placed = 0, min_pods = SIZE_MAX, max_pods = 0;
  for (int i = 0; i < num_nodes; ++i) {
    size_t n = loop.cache().GetNode("node-" + std::to_string(i))->pods.size();
    placed += n;
    min_pods = std::min(min_pods, n);
    max_pods = std::max(max_pods, n);
  }
  std::printf(
      "nodes=%d pods=%d bound=%lld placed=%zu still_assumed=%zu attempts=%lld wall=%.3fs rate=%.0f pods/s "
      "cpu=%.3fs (%.1fus/pod incl. the fake API) pods/node min=%zu max=%zu\n",
      num_nodes, num_pods, static_cast<long long>(loop.bound()), placed, loop.assumed(),
      static_cast<long long>(loop.attempts()), secs, num_pods / secs, cpu, cpu * 1e6 / num_pods, min_pods, max_pods);
  return loop.bound() == num_pods && loop.assumed() == 0 ? 0 : 2;
}
