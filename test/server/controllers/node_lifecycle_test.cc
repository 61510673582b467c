// The node lifecycle controller: health from leases and heartbeats on the controller's own clock,
// Unknown conditions after the grace period, NoExecute and NoSchedule taints, pods marked not
// ready, master disruption mode.
#include "server/controllers/node_lifecycle.h"

#include <chrono>

#include "fixture.h"

namespace minik::controllers {
namespace {

using testing::Bench;
using testing::Json;

std::string NodeJson(const std::string& name, const std::string& heartbeat, const std::string& extra_spec = "") {
  return R"({"apiVersion":"v1","kind":"Node","metadata":{"name":")" + name +
         R"("},"spec":{)" + extra_spec + R"(},"status":{"conditions":[)"
         R"({"type":"MemoryPressure","status":"False","lastHeartbeatTime":")" + heartbeat +
         R"(","lastTransitionTime":")" + heartbeat + R"(","reason":"KubeletHasSufficientMemory","message":"ok"},)"
         R"({"type":"Ready","status":"True","lastHeartbeatTime":")" + heartbeat + R"(","lastTransitionTime":")" +
         heartbeat + R"(","reason":"KubeletReady","message":"kubelet is posting ready status"}]}})";
}

std::string LeaseJson(const std::string& name, const std::string& renew) {
  return R"({"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":")" + name +
         R"(","namespace":"kube-node-lease"},"spec":{"holderIdentity":")" + name +
         R"(","leaseDurationSeconds":40,"renewTime":")" + renew + R"("}})";
}

std::string PodJson(const std::string& name, const std::string& node) {
  return R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":")" + name + R"(","namespace":"default"},"spec":{"nodeName":")" +
         node + R"(","containers":[{"name":"c","image":"i"}]},"status":{"phase":"Running","conditions":[)"
         R"({"type":"Ready","status":"True","lastTransitionTime":"2026-01-01T00:00:00Z"}]}})";
}

// Renews a node's lease the way the kubelet does (an update of spec.renewTime).
void Renew(Bench& b, const std::string& node) {
  auto lease = b.api.Find(kLeases, "kube-node-lease", node);
  REQUIRE(lease);
  JsonDoc d;
  d.CopyFrom(*lease, d.GetAllocator());
  SetString(*MutableMember(d, "spec"), "renewTime", FormatRFC3339Micro(b.clock().Now()), d.GetAllocator());
  b.api.Update(kLeases, "kube-node-lease", d, "", [](StatusOr<JsonDoc> r) { REQUIRE(r.ok()); });
}

// Events recorded so far in a test ("reason: message"), kept across TakeWrites.
thread_local std::vector<std::string> g_events;

// The writes of the controller (lease renewals left out); the events go to g_events.
std::vector<std::string> ControllerWrites(Bench& b) {
  for (auto& e : b.EventReasons()) g_events.push_back(e);
  std::vector<std::string> out;
  for (auto& w : b.TakeWrites()) {
    if (w.find("leases") == std::string::npos && w.find("(test)") == std::string::npos) out.push_back(w);
  }
  return out;
}

std::vector<std::string> Taints(Bench& b, const std::string& node) {
  std::vector<std::string> out;
  auto n = b.api.Find(kNodes, "", node);
  const JsonValue* t = Path(*n, {"spec", "taints"});
  if (!t || !t->IsArray()) return out;
  for (const auto& x : t->GetArray()) {
    out.push_back(std::string(GetString(x, "key").value_or("")) + ":" + std::string(GetString(x, "effect").value_or("")) +
                  (Member(x, "timeAdded") ? "@" : ""));
  }
  return out;
}

std::string Condition(Bench& b, const std::string& node, const std::string& type, const char* field) {
  auto n = b.api.Find(kNodes, "", node);
  const JsonValue* c = FindCondition(*Member(*n, "status"), type);
  return c ? std::string(GetString(*c, field).value_or("")) : "<none>";
}

bool HasEvent(Bench& b, const std::string& text) {
  for (auto& e : b.EventReasons()) g_events.push_back(e);
  for (const auto& e : g_events) {
    if (e == text) return true;
  }
  return false;
}

TEST_CASE("a node whose lease stops renewing turns Unknown after 40 s, is tainted unreachable, and recovers") {
  g_events.clear();
  Bench b;
  std::string t0 = FormatRFC3339(b.clock().Now());
  b.Seed(kNodes, NodeJson("n1", t0));
  b.Seed(kNodes, NodeJson("n2", t0));
  b.Seed(kLeases, LeaseJson("n1", FormatRFC3339Micro(b.clock().Now())));
  b.Seed(kLeases, LeaseJson("n2", FormatRFC3339Micro(b.clock().Now())));
  b.Seed(kPods, PodJson("p2", "n2"));
  auto c = NewNodeLifecycleController(b.ctx);
  c->Start();
  b.Sync();
  CHECK(HasEvent(b, "RegisteredNode: Registered Node n1 in Controller"));
  CHECK(HasEvent(b, "RegisteredNode: Registered Node n2 in Controller"));
  CHECK(ControllerWrites(b).empty());

  // n1 keeps renewing every 10 s; n2 stops. Passes run every 5 s on the controller's clock.
  for (int t = 5; t <= 40; t += 5) {
    if (t % 10 == 0) Renew(b, "n1");
    b.Advance(5000);
    INFO("t=" << t);
    CHECK(ControllerWrites(b).empty());
  }
  CHECK(b.timers.timers() >= 1);
  // t = 45 s: more than 40 s since n2 was last observed alive.
  b.Advance(5000);
  // The status (Unknown), the pods on the node (not ready), then the NoSchedule taint (the
  // node's own key, queued by the status change).
  CHECK(ControllerWrites(b) == std::vector<std::string>{"update nodes/status n2", "update pods/status default/p2",
                                                        "patch nodes n2"});
  CHECK(Condition(b, "n2", "Ready", "status") == "Unknown");
  CHECK(Condition(b, "n2", "Ready", "reason") == "NodeStatusUnknown");
  CHECK(Condition(b, "n2", "Ready", "message") == "Kubelet stopped posting node status.");
  CHECK(Condition(b, "n2", "Ready", "lastHeartbeatTime") == t0);
  CHECK(Condition(b, "n2", "Ready", "lastTransitionTime") == FormatRFC3339(b.clock().Now()));
  CHECK(Condition(b, "n2", "MemoryPressure", "status") == "Unknown");
  CHECK(Condition(b, "n1", "Ready", "status") == "True");
  CHECK(Taints(b, "n2") == std::vector<std::string>{"node.kubernetes.io/unreachable:NoSchedule@"});
  CHECK(HasEvent(b, "NodeNotReady: Node n2 status is now: NodeNotReady"));
  CHECK(HasEvent(b, "NodeNotReady: Node is not ready"));
  auto pod = b.api.Find(kPods, "default", "p2");
  CHECK(!IsPodReady(*pod));

  // t = 50 s: the next pass observes Unknown and taints the node for eviction.
  Renew(b, "n1");
  b.Advance(5000);
  CHECK(ControllerWrites(b) == std::vector<std::string>{"patch nodes n2"});
  CHECK(Taints(b, "n2") == std::vector<std::string>{"node.kubernetes.io/unreachable:NoSchedule@",
                                                    "node.kubernetes.io/unreachable:NoExecute@"});
  b.Advance(5000);
  CHECK(ControllerWrites(b).empty());

  // The kubelet comes back: Ready True with a fresh heartbeat, and its lease renewed.
  auto n2 = b.api.Find(kNodes, "", "n2");
  JsonDoc d;
  d.CopyFrom(*n2, d.GetAllocator());
  std::string now = FormatRFC3339(b.clock().Now());
  for (auto& cond : MutableMember(*MutableMember(d, "status"), "conditions")->GetArray()) {
    SetString(cond, "status", GetString(cond, "type").value_or("") == "Ready" ? "True" : "False", d.GetAllocator());
    SetString(cond, "lastHeartbeatTime", now, d.GetAllocator());
    SetString(cond, "lastTransitionTime", now, d.GetAllocator());
  }
  b.api.Update(kNodes, "", d, "status", [](StatusOr<JsonDoc> r) { REQUIRE(r.ok()); });
  Renew(b, "n2");
  b.TakeWrites();
  b.timers.RunPending();
  // The NoSchedule taint goes with the condition at once; the NoExecute one at the next pass.
  CHECK(ControllerWrites(b) == std::vector<std::string>{"patch nodes n2"});
  CHECK(Taints(b, "n2") == std::vector<std::string>{"node.kubernetes.io/unreachable:NoExecute@"});
  Renew(b, "n1");
  b.Advance(5000);
  CHECK(ControllerWrites(b) == std::vector<std::string>{"patch nodes n2"});
  CHECK(Taints(b, "n2").empty());
  b.Advance(5000);
  CHECK(ControllerWrites(b).empty());
}

TEST_CASE("a node that never posted its status turns Unknown after the startup grace period") {
  Bench b;
  b.Seed(kNodes, R"({"metadata":{"name":"n1"}})");
  b.Seed(kNodes, NodeJson("n2", FormatRFC3339(b.clock().Now())));
  auto c = NewNodeLifecycleController(b.ctx);
  c->Start();
  b.Sync();
  for (int t = 5; t <= 60; t += 5) {
    // n2 posts its status (a new heartbeat) every 5 s.
    auto n2 = b.api.Find(kNodes, "", "n2");
    JsonDoc d;
    d.CopyFrom(*n2, d.GetAllocator());
    for (auto& cond : MutableMember(*MutableMember(d, "status"), "conditions")->GetArray()) {
      SetString(cond, "lastHeartbeatTime", FormatRFC3339(b.clock().Now()), d.GetAllocator());
    }
    b.api.Update(kNodes, "", d, "status", [](StatusOr<JsonDoc>) {});
    b.TakeWrites();
    b.Advance(5000);
    INFO("t=" << t);
    CHECK(ControllerWrites(b).empty());
  }
  b.Advance(5000);  // 65 s > 60 s
  auto w = ControllerWrites(b);
  REQUIRE(!w.empty());
  CHECK(w[0] == "update nodes/status n1");
  for (const char* type : {"Ready", "MemoryPressure", "DiskPressure", "PIDPressure"}) {
    CHECK(Condition(b, "n1", type, "status") == "Unknown");
    CHECK(Condition(b, "n1", type, "reason") == "NodeStatusNeverUpdated");
    CHECK(Condition(b, "n1", type, "message") == "Kubelet never posted node status.");
  }
  // Its observed Ready condition was already (implicitly) Unknown: both taints at once, as upstream.
  CHECK(Taints(b, "n1") == std::vector<std::string>{"node.kubernetes.io/unreachable:NoExecute@",
                                                    "node.kubernetes.io/unreachable:NoSchedule@"});
}

TEST_CASE("when every node is unready the controller enters master disruption mode and does not taint NoExecute") {
  Bench b;
  b.Seed(kNodes, NodeJson("n1", FormatRFC3339(b.clock().Now())));
  b.Seed(kLeases, LeaseJson("n1", FormatRFC3339Micro(b.clock().Now())));
  auto c = NewNodeLifecycleController(b.ctx);
  c->Start();
  b.Sync();
  b.Advance(45000);
  CHECK(Condition(b, "n1", "Ready", "status") == "Unknown");
  b.Advance(30000);
  CHECK(Taints(b, "n1") == std::vector<std::string>{"node.kubernetes.io/unreachable:NoSchedule@"});
}

TEST_CASE("NoSchedule taints follow the node conditions and spec.unschedulable") {
  Bench b;
  auto c = NewNodeLifecycleController(b.ctx);
  std::string t0 = FormatRFC3339(b.clock().Now());
  auto node = Json(NodeJson("n1", t0, R"("unschedulable":true)"));
  auto& a = node.GetAllocator();
  SetString((*MutableMember(*MutableMember(node, "status"), "conditions"))[0], "status", "True", a);
  SetString(*MutableMember(node, "metadata"), "resourceVersion", "", a);
  JsonValue labels(rapidjson::kObjectType);
  SetString(labels, "kubernetes.io/os", "linux", a);
  SetString(labels, "beta.kubernetes.io/os", "linux", a);
  SetMember(*MutableMember(node, "metadata"), "labels", std::move(labels), a);
  REQUIRE(b.api.Seed(kNodes, node).ok());
  b.Sync();
  b.TakeWrites();
  REQUIRE(b.Reconcile(*c, "n1").ok());
  auto w = b.api.writes();
  REQUIRE(w.size() == 1);
  CHECK(w[0].ToString() == "patch nodes n1");
  auto patch = Json(w[0].body);
  CHECK(GetString(*Member(patch, "metadata"), "resourceVersion").value_or("") != "");
  CHECK(Taints(b, "n1") == std::vector<std::string>{"node.kubernetes.io/memory-pressure:NoSchedule@",
                                                    "node.kubernetes.io/unschedulable:NoSchedule@"});
  b.TakeWrites();
  b.timers.RunPending();
  REQUIRE(b.Reconcile(*c, "n1").ok());
  CHECK(b.TakeWrites().empty());

  // Uncordon: the unschedulable taint goes, the other stays.
  auto n = b.api.Find(kNodes, "", "n1");
  JsonDoc d;
  d.CopyFrom(*n, d.GetAllocator());
  RemoveMember(*MutableMember(d, "spec"), "unschedulable");
  b.api.Update(kNodes, "", d, "", [](StatusOr<JsonDoc> r) { REQUIRE(r.ok()); });
  b.TakeWrites();
  REQUIRE(b.Reconcile(*c, "n1").ok());
  CHECK(b.TakeWrites() == std::vector<std::string>{"patch nodes n1"});
  CHECK(Taints(b, "n1") == std::vector<std::string>{"node.kubernetes.io/memory-pressure:NoSchedule@"});
}

TEST_CASE("the beta os label follows kubernetes.io/os") {
  Bench b;
  auto c = NewNodeLifecycleController(b.ctx);
  b.Seed(kNodes, R"({"metadata":{"name":"n1","labels":{"kubernetes.io/os":"linux","kubernetes.io/arch":"arm64"}}})");
  b.Sync();
  REQUIRE(b.Reconcile(*c, "n1").ok());
  auto w = b.api.writes();
  REQUIRE(w.size() == 1);
  CHECK(w[0].ToString() == "patch nodes n1");
  CHECK(w[0].body == R"({"metadata":{"labels":{"beta.kubernetes.io/os":"linux","beta.kubernetes.io/arch":"arm64"}}})");
}

TEST_CASE("a pod bound to a node that is not ready is marked not ready") {
  Bench b;
  std::string t0 = FormatRFC3339(b.clock().Now());
  b.Seed(kNodes, NodeJson("n1", t0));
  b.Seed(kNodes, NodeJson("n2", t0));
  b.Seed(kLeases, LeaseJson("n1", FormatRFC3339Micro(b.clock().Now())));
  auto c = NewNodeLifecycleController(b.ctx);
  c->Start();
  b.Sync();
  for (int t = 5; t <= 45; t += 5) {
    if (t % 10 == 0) Renew(b, "n1");
    b.Advance(5000);
  }
  CHECK(Condition(b, "n2", "Ready", "status") == "Unknown");
  b.TakeWrites();
  b.Seed(kPods, PodJson("late", "n2"));
  b.timers.RunPending();
  CHECK(ControllerWrites(b) == std::vector<std::string>{"update pods/status default/late"});
  CHECK(!IsPodReady(*b.api.Find(kPods, "default", "late")));
  b.Seed(kPods, PodJson("fine", "n1"));
  b.timers.RunPending();
  CHECK(ControllerWrites(b).empty());
}

TEST_CASE("a health pass over 1,000 healthy nodes is cheap and writes nothing") {
  Bench b;
  std::string t0 = FormatRFC3339(b.clock().Now());
  std::string renew = FormatRFC3339Micro(b.clock().Now());
  for (int i = 0; i < 1000; ++i) {
    std::string name = "node-" + std::to_string(i);
    b.Seed(kNodes, NodeJson(name, t0));
    b.Seed(kLeases, LeaseJson(name, renew));
  }
  auto c = NewNodeLifecycleController(b.ctx);
  c->Start();
  b.Sync();
  b.TakeWrites();
  auto start = std::chrono::steady_clock::now();
  b.Advance(30000);  // six passes
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
  WARN("6 health passes over 1000 nodes: " << ms << " ms");
  CHECK(ms < 600);
  CHECK(ControllerWrites(b).empty());
  CHECK(b.timers.timers() == 1);  // the next pass
}

}  // namespace
}  // namespace minik::controllers
