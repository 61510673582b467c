// The scheduler loop against a FakeApiClient with FakeTimers: exact writes, no sleeps. The fake
// plays the API server's binding subresource (see Env::Reactor): a binding is answered at once
// and the pod's spec.nodeName is set by a posted update, as the watch would deliver it later.
#include <catch2/catch.hpp>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "client/fake_api_client.h"
#include "client/informer.h"
#include "client/timers.h"
#include "server/controllers/events.h"
#include "server/scheduler/scheduler_loop.h"
#include "test_util.h"

using namespace minik;
using namespace minik::scheduler;
using minik::scheduler::testing::Json;
using minik::scheduler::testing::NodeJson;
using minik::scheduler::testing::PodJson;

namespace {

const client::ResourceRef kPods{"", "v1", "pods"};
const client::ResourceRef kNodes{"", "v1", "nodes"};
const client::ResourceRef kPvcs{"", "v1", "persistentvolumeclaims"};
const client::ResourceRef kPvs{"", "v1", "persistentvolumes"};
const client::ResourceRef kClasses{"storage.k8s.io", "v1", "storageclasses"};
const client::ResourceRef kPriorityClasses{"scheduling.k8s.io", "v1", "priorityclasses"};

struct Env {
  client::FakeTimers timers;
  client::FakeApiClient api{&timers.fake_clock()};
  client::SharedInformerFactory informers{api, timers};
  controllers::EventRecorder events{api, timers.clock(), "unused"};
  std::unique_ptr<SchedulerLoop> loop;
  bool server_binds = true;  // the "server" sets spec.nodeName after a binding
  int fail_bindings = 0;     // the next N bindings fail with a Conflict

  explicit Env(SchedulerLoopOptions opts = {}) {
    loop = std::make_unique<SchedulerLoop>(api, informers, timers, events, opts);
    api.SetReactor([this](const client::FakeApiClient::Action& a) { return Reactor(a); });
  }
  Status Reactor(const client::FakeApiClient::Action& a) {
    const std::string& r = a.resource.plural;
    if (a.verb != "create" || r.rfind("pods/", 0) != 0 || r.size() < 8 || r.substr(r.size() - 8) != "/binding")
      return Status::OK();
    if (fail_bindings > 0) {
      --fail_bindings;
      return Status::Conflict("Operation cannot be fulfilled on pods/binding \"" + a.name + "\": injected");
    }
    if (!server_binds) return Status::OK();
    auto body = Json(a.body);
    std::string node(GetString(*Member(body, "target"), "name").value_or(""));
    std::string ns = a.ns, name = a.name;
    timers.Post([this, ns, name, node] {
      auto cur = api.Find(kPods, ns, name);
      if (!cur) return;
      JsonDoc d;
      d.CopyFrom(*cur, d.GetAllocator());
      SetString(EnsureObject(d, "spec", d.GetAllocator()), "nodeName", node, d.GetAllocator());
      api.Update(kPods, ns, d, "", [](StatusOr<JsonDoc>) {});
    });
    return Status::OK();
  }
  void Seed(const client::ResourceRef& res, const std::string& json) {
    auto r = api.Seed(res, Json(json));
    if (!r.ok()) FAIL("seed: " << r.error().ToString());
  }
  void Start() {
    informers.Start();
    loop->Start();
    timers.RunPending();
  }
  void Run() { timers.RunPending(); }
  void Advance(int64_t ms) { timers.Advance(std::chrono::milliseconds(ms)); }
  // Changes a stored object (main resource or status) as another component would.
  void Modify(const client::ResourceRef& res, const std::string& ns, const std::string& name,
              const std::function<void(JsonDoc&)>& fn, const std::string& sub = "") {
    auto cur = api.Find(res, ns, name);
    REQUIRE(cur);
    JsonDoc d;
    d.CopyFrom(*cur, d.GetAllocator());
    fn(d);
    api.Update(res, ns, d, sub, [](StatusOr<JsonDoc> r) { REQUIRE(r.ok()); });
  }
  // The scheduler's writes ("verb resource[/sub] ns/name"), without events and without the
  // updates of the emulated server and of the tests themselves.
  std::vector<std::string> Writes() {
    std::vector<std::string> out;
    for (const auto& a : api.writes()) {
      if (a.resource.plural == "events") continue;
      if (a.verb == "update") continue;  // the tests' own changes (the scheduler never updates)
      out.push_back(a.ToString());
    }
    return out;
  }
  std::string Body(const std::string& action) {
    for (const auto& a : api.writes()) {
      if (a.ToString() == action) return a.body;
    }
    return "";
  }
  // Events created: "Type Reason: message".
  std::vector<std::string> Events() {
    std::vector<std::string> out;
    for (const auto& a : api.actions()) {
      if (a.resource.plural != "events" || a.verb != "create") continue;
      auto d = Json(a.body);
      out.push_back(std::string(GetString(d, "type").value_or("")) + " " +
                    std::string(GetString(d, "reason").value_or("")) + ": " +
                    std::string(GetString(d, "message").value_or("")));
    }
    return out;
  }
  void Clear() { api.ClearActions(); }
  std::string Uid(const std::string& pod) {
    auto p = api.Find(kPods, "default", pod);
    return p ? std::string(client::MetaString(*p, "uid")) : "";
  }
  std::string NodeOf(const std::string& pod) {
    auto p = api.Find(kPods, "default", pod);
    if (!p) return "<gone>";
    return std::string(GetString(*Member(*p, "spec"), "nodeName").value_or(""));
  }
};

using V = std::vector<std::string>;

std::string JsonEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

std::string PodWithClaim(const std::string& name, const std::string& claim) {
  return PodJson(name, R"({"cpu":"100m"})", R"("volumes":[{"name":"data","persistentVolumeClaim":{"claimName":")" +
                                                 claim + R"("}}])");
}
std::string Claim(const std::string& name, const std::string& cls, const std::string& volume = "") {
  std::string spec = R"({"storageClassName":")" + cls + R"(","resources":{"requests":{"storage":"1Gi"}})";
  if (!volume.empty()) spec += R"(,"volumeName":")" + volume + "\"";
  spec += "}";
  std::string status = volume.empty() ? R"({"phase":"Pending"})" : R"({"phase":"Bound"})";
  return R"({"metadata":{"name":")" + name + R"(","namespace":"default"},"spec":)" + spec + R"(,"status":)" + status + "}";
}
std::string LocalPathClass(const std::string& mode) {
  return R"({"metadata":{"name":"local-path"},"provisioner":"rancher.io/local-path","volumeBindingMode":")" + mode +
         R"(","reclaimPolicy":"Delete"})";
}

}  // namespace

TEST_CASE("a pending pod is bound with a Scheduled event", "[loop]") {
  Env e;
  e.Seed(kNodes, NodeJson("n1"));
  e.Seed(kPods, PodJson("p1", R"({"cpu":"1"})"));
  e.Start();
  CHECK(e.Writes() == V{"create pods/p1/binding default/p1"});
  CHECK(e.Body("create pods/p1/binding default/p1") ==
        R"({"apiVersion":"v1","kind":"Binding","metadata":{"name":"p1","namespace":"default","uid":")" + e.Uid("p1") +
            R"("},"target":{"apiVersion":"v1","kind":"Node","name":"n1"}})");
  CHECK(e.Events() == V{"Normal Scheduled: Successfully assigned default/p1 to n1"});
  // The event comes from the default-scheduler.
  for (const auto& a : e.api.writes()) {
    if (a.resource.plural == "events") CHECK(a.body.find(R"("source":{"component":"default-scheduler"})") != std::string::npos);
  }
  CHECK(e.NodeOf("p1") == "n1");
  // The informer confirmed the binding: no assumption left, the pod counts on the node.
  CHECK(e.loop->assumed() == 0);
  CHECK(e.loop->bound() == 1);
  CHECK(e.loop->cache().GetNode("n1")->requested.milli_cpu == 1000);
  CHECK(e.loop->queue().active() + e.loop->queue().backoff() + e.loop->queue().unschedulable() == 0);
  CHECK(e.timers.timers() == 0);  // idle: nothing armed
}

TEST_CASE("a pod fitting nowhere gets FailedScheduling and PodScheduled=False, once", "[loop]") {
  Env e;
  e.Seed(kNodes, NodeJson("n1", "2"));
  e.Seed(kNodes, NodeJson("n2", "2"));
  e.Seed(kNodes, NodeJson("n3", "2"));
  e.Seed(kPods, PodJson("big", R"({"cpu":"4"})"));
  e.Start();
  const std::string msg =
      "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims "
      "found for incoming pod.";
  CHECK(e.Writes() == V{"patch pods/status default/big"});
  CHECK(e.Body("patch pods/status default/big") ==
        R"({"status":{"conditions":[{"type":"PodScheduled","status":"False","lastProbeTime":null,)"
        R"("lastTransitionTime":"2026-01-01T00:00:00Z","reason":"Unschedulable","message":")" +
            msg + R"("}]}})");
  CHECK(e.Events() == V{"Warning FailedScheduling: " + msg});
  CHECK(e.loop->queue().unschedulable() == 1);
  e.Clear();
  // The 5 minute flush retries it: the same event is counted again (a patch of the Event), the
  // condition is unchanged and not written.
  e.Advance(5 * 60 * 1000);
  CHECK(e.loop->attempts() == 2);
  CHECK(e.Writes() == V{});
  CHECK(e.Events() == V{});
  bool counted = false;
  for (const auto& a : e.api.writes()) counted |= a.verb == "patch" && a.resource.plural == "events";
  CHECK(counted);
}

TEST_CASE("an unschedulable pod is retried when a node is added, and not before", "[loop]") {
  Env e;
  e.Seed(kNodes, NodeJson("small", "1"));
  e.Seed(kPods, PodJson("big", R"({"cpu":"2"})"));
  e.Start();
  CHECK(e.loop->attempts() == 1);
  e.Clear();
  // Time alone does nothing (until the 5 minute flush).
  e.Advance(60 * 1000);
  CHECK(e.loop->attempts() == 1);
  CHECK(e.Writes() == V{});
  // A node update the filters cannot see (here status.phase, as a heartbeat) does not retry it.
  e.Modify(kNodes, "", "small", [](JsonDoc& d) {
    SetString(EnsureObject(d, "status", d.GetAllocator()), "phase", "Running", d.GetAllocator());
  });
  e.Run();
  CHECK(e.loop->attempts() == 1);
  // A node that fits arrives: the pod (backoff long over) is tried at once.
  e.Seed(kNodes, NodeJson("large", "4"));
  e.Run();
  CHECK(e.loop->attempts() == 2);
  CHECK(e.Writes() == V{"create pods/big/binding default/big"});
  CHECK(e.NodeOf("big") == "large");
}

TEST_CASE("a node added during the backoff waits for the backoff", "[loop]") {
  Env e;
  e.Seed(kNodes, NodeJson("small", "1"));
  e.Seed(kPods, PodJson("big", R"({"cpu":"2"})"));
  e.Start();
  e.Advance(400);
  e.Seed(kNodes, NodeJson("large", "4"));
  e.Run();
  CHECK(e.loop->queue().backoff() == 1);
  e.Advance(599);
  CHECK(e.loop->attempts() == 1);
  e.Advance(1);
  CHECK(e.loop->attempts() == 2);
  CHECK(e.NodeOf("big") == "large");
}

TEST_CASE("a failed binding forgets the assumption and retries after 1 s, then 2 s", "[loop]") {
  Env e;
  e.fail_bindings = 2;
  e.Seed(kNodes, NodeJson("n1", "1"));
  e.Seed(kPods, PodJson("p", R"({"cpu":"1"})"));
  e.Start();
  const std::string msg =
      "running Bind plugin \"DefaultBinder\": Operation cannot be fulfilled on pods/binding \"p\": injected";
  CHECK(e.Writes() == V{"create pods/p/binding default/p", "patch pods/status default/p"});
  CHECK(e.Body("patch pods/status default/p") ==
        R"({"status":{"conditions":[{"type":"PodScheduled","status":"False","lastProbeTime":null,)"
        R"("lastTransitionTime":"2026-01-01T00:00:00Z","reason":"SchedulerError","message":")" +
            JsonEscape(msg) + R"("}]}})");
  CHECK(e.Events() == V{"Warning FailedScheduling: " + msg});
  // The assumption is gone: the node is free again.
  CHECK(e.loop->assumed() == 0);
  CHECK(e.loop->cache().GetNode("n1")->requested.milli_cpu == 0);
  CHECK(e.loop->queue().backoff() == 1);
  e.Clear();
  e.Advance(999);
  CHECK(e.Writes() == V{});
  e.Advance(1);
  CHECK(e.Writes() == V{"create pods/p/binding default/p"});  // fails again; condition unchanged
  e.Clear();
  e.Advance(1999);
  CHECK(e.Writes() == V{});
  e.Advance(1);
  CHECK(e.Writes() == V{"create pods/p/binding default/p"});
  CHECK(e.NodeOf("p") == "n1");
  CHECK(e.Events().back() == "Normal Scheduled: Successfully assigned default/p to n1");
}

TEST_CASE("an assumed pod counts on its node before the binding is confirmed", "[loop]") {
  Env e;
  e.server_binds = false;  // bindings succeed, the informer never shows them
  e.Seed(kNodes, NodeJson("n1", "2"));
  e.Seed(kNodes, NodeJson("n2", "2"));
  e.Seed(kPods, PodJson("a", R"({"cpu":"1500m"})"));
  e.Seed(kPods, PodJson("b", R"({"cpu":"1500m"})"));
  e.Start();
  auto w = e.Writes();
  std::sort(w.begin(), w.end());
  REQUIRE(w == V{"create pods/a/binding default/a", "create pods/b/binding default/b"});
  auto node = [&](const std::string& action) {
    auto d = Json(e.Body(action));
    return std::string(GetString(*Member(d, "target"), "name").value_or(""));
  };
  CHECK(node(w[0]) != node(w[1]));
  CHECK(e.loop->assumed() == 2);
  CHECK(e.loop->binds_in_flight() == 0);
}

TEST_CASE("preemption deletes a lower-priority victim and nominates the node", "[loop]") {
  Env e;
  e.Seed(kNodes, NodeJson("n1", "2"));
  e.Seed(kPods, PodJson("low", R"({"cpu":"2"})", R"("priority":0)", "", "n1"));
  e.Seed(kPods, PodJson("high", R"({"cpu":"1"})", R"("priority":1000)"));
  e.Start();
  CHECK(e.Writes() == V{"patch pods/status default/low", "delete pods default/low", "patch pods/status default/high"});
  CHECK(e.Body("patch pods/status default/low") ==
        R"({"status":{"conditions":[{"type":"DisruptionTarget","status":"True","lastProbeTime":null,)"
        R"("lastTransitionTime":"2026-01-01T00:00:00Z","reason":"PreemptionByScheduler",)"
        R"("message":"default-scheduler: preempting to accommodate a higher priority pod"}]}})");
  CHECK(e.Body("patch pods/status default/high") ==
        R"({"status":{"conditions":[{"type":"PodScheduled","status":"False","lastProbeTime":null,)"
        R"("lastTransitionTime":"2026-01-01T00:00:00Z","reason":"Unschedulable",)"
        R"("message":"0/1 nodes are available: 1 Insufficient cpu."}],"nominatedNodeName":"n1"}})");
  CHECK(e.Events() == V{"Normal Preempted: Preempted by pod " + e.Uid("high") + " on node n1",
                        "Warning FailedScheduling: 0/1 nodes are available: 1 Insufficient cpu."});
  // The victim terminates gracefully; its kubelet finishes the deletion. That moves the
  // preemptor, which binds once its backoff is over.
  CHECK(e.NodeOf("low") == "n1");
  e.Clear();
  client::DeleteOptions now;
  now.grace_period_seconds = 0;
  e.api.Delete(kPods, "default", "low", now, [](StatusOr<JsonDoc> r) { REQUIRE(r.ok()); });
  CHECK(e.NodeOf("low") == "<gone>");
  CHECK(e.loop->queue().backoff() == 1);
  e.Clear();
  e.Advance(999);
  CHECK(e.Writes() == V{});
  e.Advance(1);
  CHECK(e.Writes() == V{"create pods/high/binding default/high"});
  CHECK(e.NodeOf("high") == "n1");
}

TEST_CASE("WaitForFirstConsumer: the claim is annotated, the pod bound once the claim is Bound", "[loop][volumes]") {
  Env e;
  e.Seed(kClasses, LocalPathClass("WaitForFirstConsumer"));
  e.Seed(kPvcs, Claim("data", "local-path"));
  e.Seed(kNodes, NodeJson("n1"));
  e.Seed(kPods, PodWithClaim("web", "data"));
  e.Start();
  CHECK(e.Writes() == V{"patch persistentvolumeclaims default/data"});
  CHECK(e.Body("patch persistentvolumeclaims default/data") ==
        R"({"metadata":{"annotations":{"volume.kubernetes.io/selected-node":"n1"}}})");
  CHECK(e.loop->assumed() == 1);
  CHECK(e.loop->cache().GetNode("n1")->requested.milli_cpu == 100);  // assumed while waiting
  e.Clear();
  // The provisioner creates the volume; the PV controller binds the claim.
  e.Seed(kPvs, R"({"metadata":{"name":"pvc-1"},"spec":{"storageClassName":"local-path","capacity":{"storage":"1Gi"},)"
               R"("claimRef":{"namespace":"default","name":"data"},"nodeAffinity":{"required":{"nodeSelectorTerms":)"
               R"([{"matchExpressions":[{"key":"kubernetes.io/hostname","operator":"In","values":["n1"]}]}]}}},)"
               R"("status":{"phase":"Bound"}})");
  e.Modify(kPvcs, "default", "data", [](JsonDoc& d) {
    SetString(EnsureObject(d, "spec", d.GetAllocator()), "volumeName", "pvc-1", d.GetAllocator());
  });
  e.Run();
  CHECK(e.Writes() == V{});
  e.Modify(kPvcs, "default", "data", [](JsonDoc& d) {
    SetString(EnsureObject(d, "status", d.GetAllocator()), "phase", "Bound", d.GetAllocator());
  }, "status");
  e.Run();
  CHECK(e.Writes() == V{"create pods/web/binding default/web"});
  CHECK(e.NodeOf("web") == "n1");
  CHECK(e.timers.timers() == 0);  // the bind timeout is cancelled
}

TEST_CASE("WaitForFirstConsumer: a claim not bound within 600 s requeues the pod", "[loop][volumes]") {
  Env e;
  e.Seed(kClasses, LocalPathClass("WaitForFirstConsumer"));
  e.Seed(kPvcs, Claim("data", "local-path"));
  e.Seed(kNodes, NodeJson("n1"));
  e.Seed(kPods, PodWithClaim("web", "data"));
  e.Start();
  e.Clear();
  e.Advance(600 * 1000 - 1);
  CHECK(e.Writes() == V{});
  e.Advance(1);
  const std::string msg = "running PreBind plugin \"VolumeBinding\": binding volumes: context deadline exceeded";
  CHECK(e.Events() == V{"Warning FailedScheduling: " + msg});
  CHECK(e.Writes() == V{"patch pods/status default/web"});
  CHECK(e.loop->assumed() == 0);
  CHECK(e.loop->cache().GetNode("n1")->requested.milli_cpu == 0);
  CHECK(e.loop->queue().backoff() == 1);
}

TEST_CASE("claims that cannot be satisfied make the pod unschedulable in VolumeBinding's words", "[loop][volumes]") {
  const std::string tail = " preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.";
  SECTION("missing claim") {
    Env e;
    e.Seed(kNodes, NodeJson("n1"));
    e.Seed(kPods, PodWithClaim("web", "nope"));
    e.Start();
    CHECK(e.Events() == V{"Warning FailedScheduling: 0/1 nodes are available: persistentvolumeclaim \"nope\" not found." + tail});
    // Creating the claim (a volume event) retries the pod.
    e.Seed(kClasses, LocalPathClass("WaitForFirstConsumer"));
    e.Clear();
    e.Seed(kPvcs, Claim("nope", "local-path"));
    e.Advance(1000);
    CHECK(e.Writes() == V{"patch persistentvolumeclaims default/nope"});
  }
  SECTION("unbound immediate claim") {
    Env e;
    e.Seed(kClasses, LocalPathClass("Immediate"));
    e.Seed(kPvcs, Claim("data", "local-path"));
    e.Seed(kNodes, NodeJson("n1"));
    e.Seed(kPods, PodWithClaim("web", "data"));
    e.Start();
    CHECK(e.Events() ==
          V{"Warning FailedScheduling: 0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims." + tail});
  }
  SECTION("bound PV with node affinity elsewhere") {
    Env e;
    e.Seed(kPvs, R"({"metadata":{"name":"pv1"},"spec":{"capacity":{"storage":"1Gi"},"nodeAffinity":{"required":)"
                 R"({"nodeSelectorTerms":[{"matchExpressions":[{"key":"kubernetes.io/hostname","operator":"In",)"
                 R"("values":["n2"]}]}]}}},"status":{"phase":"Bound"}})");
    e.Seed(kPvcs, Claim("data", "manual", "pv1"));
    e.Seed(kNodes, NodeJson("n1"));
    e.Seed(kPods, PodWithClaim("web", "data"));
    e.Start();
    CHECK(e.Events() == V{"Warning FailedScheduling: 0/1 nodes are available: 1 node(s) had volume node affinity "
                          "conflict." + tail});
    e.Clear();
    e.Seed(kNodes, NodeJson("n2"));
    e.Advance(1000);
    CHECK(e.Writes() == V{"create pods/web/binding default/web"});
    CHECK(e.NodeOf("web") == "n2");
  }
}

TEST_CASE("pods of other schedulers are ignored", "[loop]") {
  Env e;
  e.Seed(kNodes, NodeJson("n1"));
  e.Seed(kPods, PodJson("other", "{}", R"("schedulerName":"my-scheduler")"));
  e.Seed(kPods, PodJson("mine", "{}", R"("schedulerName":"default-scheduler")"));
  e.Start();
  CHECK(e.Writes() == V{"create pods/mine/binding default/mine"});
  CHECK(e.loop->attempts() == 1);
  // Once bound by its own scheduler, the other pod counts on its node.
  e.Modify(kPods, "default", "other", [](JsonDoc& d) {
    SetString(EnsureObject(d, "spec", d.GetAllocator()), "nodeName", "n1", d.GetAllocator());
  });
  e.Run();
  CHECK(e.loop->cache().GetNode("n1")->pods.size() == 2);
}

TEST_CASE("no nodes: FailedScheduling says so, and a new node retries", "[loop]") {
  Env e;
  e.Seed(kPods, PodJson("p"));
  e.Start();
  CHECK(e.Events() == V{"Warning FailedScheduling: no nodes available to schedule pods"});
  e.Clear();
  e.Advance(2000);
  e.Seed(kNodes, NodeJson("n1"));
  e.Run();
  CHECK(e.Writes() == V{"create pods/p/binding default/p"});
}

TEST_CASE("priority from a PriorityClass admission did not resolve; higher priority goes first", "[loop]") {
  Env e;
  e.server_binds = false;
  e.Seed(kPriorityClasses, R"({"metadata":{"name":"high"},"value":1000})");
  e.Seed(kNodes, NodeJson("n1", "1"));
  e.Seed(kPods, PodJson("first", R"({"cpu":"1"})"));
  e.Seed(kPods, PodJson("second", R"({"cpu":"1"})", R"("priorityClassName":"high")"));
  e.Start();
  // "second" is tried first (priority 1000) and takes the only cpu.
  auto w = e.Writes();
  REQUIRE(!w.empty());
  CHECK(w[0] == "create pods/second/binding default/second");
}

TEST_CASE("a pod deleted while its binding is in flight frees the node", "[loop]") {
  Env e;
  e.server_binds = false;
  e.Seed(kNodes, NodeJson("n1", "1"));
  e.Seed(kPods, PodJson("a", R"({"cpu":"1"})"));
  e.Seed(kPods, PodJson("b", R"({"cpu":"1"})"));
  e.Start();
  auto w = e.Writes();
  REQUIRE(w.size() == 2);
  std::string first = w[0] == "create pods/a/binding default/a" ? "a" : "b";
  std::string second = first == "a" ? "b" : "a";
  CHECK(w == V{"create pods/" + first + "/binding default/" + first, "patch pods/status default/" + second});
  e.Clear();
  e.api.Delete(kPods, "default", first, {}, [](StatusOr<JsonDoc>) {});
  e.Advance(1000);
  CHECK(e.Writes() == V{"delete pods default/" + first, "create pods/" + second + "/binding default/" + second});
}

TEST_CASE("the runner schedules only while it holds the kube-scheduler Lease", "[loop][runner]") {
  client::FakeTimers timers;
  client::FakeApiClient api{&timers.fake_clock()};
  client::SharedInformerFactory informers{api, timers};
  controllers::EventRecorder events{api, timers.clock(), "default-scheduler"};
  REQUIRE(api.Seed(kNodes, Json(NodeJson("n1"))).ok());
  REQUIRE(api.Seed(kPods, Json(PodJson("p"))).ok());
  SchedulerRunnerOptions opts;
  opts.identity = "server-1_abc";
  SchedulerRunner runner(api, informers, timers, events, opts);
  runner.Start();
  timers.RunPending();
  REQUIRE(runner.leading());
  std::vector<std::string> w;
  for (const auto& a : api.writes()) {
    if (a.resource.plural != "events") w.push_back(a.ToString());
  }
  CHECK(w == V{"create leases kube-system/kube-scheduler", "create pods/p/binding default/p"});
  runner.Stop();
  CHECK_FALSE(runner.leading());
}
