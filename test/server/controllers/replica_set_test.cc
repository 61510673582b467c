// The ReplicaSet controller: reconcile-level tests asserting the exact writes.
#include "server/controllers/replica_set.h"

#include <chrono>

#include "fixture.h"

namespace minik::controllers {
namespace {

using testing::Bench;
using testing::Json;
using Writes = std::vector<std::string>;

std::string RsJson(int replicas, const std::string &extra_spec = "", const std::string &extra_meta = "") {
  return R"({"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{"name":"web","namespace":"ns")" + extra_meta +
         R"(},"spec":{"replicas":)" + std::to_string(replicas) + extra_spec +
         R"(,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web","tier":"fe"}},"spec":{"containers":[{"name":"c","image":"nginx"}]}}}})";
}

// A pod controlled by owner (nullptr: an orphan).
std::string PodJson(const std::string &name, const client::ObjectPtr &owner,
                    const std::string &labels = R"({"app":"web","tier":"fe"})", const std::string &spec = "{}",
                    const std::string &status = "{}", const std::string &extra_meta = "") {
  std::string refs;
  if (owner) {
    refs = R"(,"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":")" + std::string(Name(*owner)) +
           R"(","uid":")" + std::string(Uid(*owner)) + R"(","controller":true,"blockOwnerDeletion":true}])";
  }
  return R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":")" + name + R"(","namespace":"ns","labels":)" + labels +
         refs + extra_meta + R"(},"spec":)" + spec + R"(,"status":)" + status + "}";
}

std::string ReadyStatus(TimePoint since, const std::string &extra = "") {
  return R"({"phase":"Running","conditions":[{"type":"Ready","status":"True","lastTransitionTime":")" +
         FormatRFC3339(since) + R"("}])" + extra + "}";
}

// The status the controller last wrote (the fake stores it as sent).
JsonDoc LastStatus(Bench &b) {
  auto obj = b.api.Find(kReplicaSets, "ns", "web");
  JsonDoc st(rapidjson::kObjectType);
  if (!obj) FAIL("no object");
  if (const JsonValue *s = Member(*obj, "status")) st.CopyFrom(*s, st.GetAllocator());
  return st;
}

int64_t StatusInt(const JsonValue &st, const char *f) { return GetInt(st, f).value_or(0); }

Writes Repeat(const std::string &s, int n) { return Writes(static_cast<size_t>(n), s); }

Writes Concat(std::initializer_list<Writes> parts) {
  Writes out;
  for (const auto &p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

TEST_CASE(
    "scale up creates pods from the template in slow-start batches and "
    "writes status last") {
  Bench b;
  auto c = NewReplicaSetController(b.ctx);
  b.Seed(kReplicaSets, RsJson(3));
  b.Sync();

  REQUIRE(b.Reconcile(*c, "ns/web").ok());
  CHECK(b.TakeWrites() == Concat({Repeat("create pods ns/", 3), {"update replicasets/status ns/web"}}));
  // The pods: generateName "web-", template labels and spec, a controller reference.
  int pods = 0;
  for (const auto &p : b.informers.For(kPods).List()) {
    ++pods;
    CHECK(GetString(*Path(*p, {"metadata"}), "generateName").value_or("") == "web-");
    CHECK(GetString(*Path(*p, {"metadata", "labels"}), "tier").value_or("") == "fe");
    const JsonValue *ref = ControllerRef(*p);
    REQUIRE(ref);
    CHECK(GetString(*ref, "apiVersion").value_or("") == "apps/v1");
    CHECK(GetString(*ref, "kind").value_or("") == "ReplicaSet");
    CHECK(GetString(*ref, "name").value_or("") == "web");
    CHECK(GetBool(*ref, "blockOwnerDeletion").value_or(false));
  }
  CHECK(pods == 3);
  // Status counted the pods claimed before the creates (as upstream): 0, generation observed.
  auto st = LastStatus(b);
  CHECK(ToJson(st) == R"({"replicas":0,"observedGeneration":1})");

  // The next sync sees the pods (creations observed): only status changes.
  REQUIRE(b.Reconcile(*c, "ns/web").ok());
  CHECK(b.TakeWrites() == Writes{"update replicasets/status ns/web"});
  CHECK(ToJson(LastStatus(b)) == R"({"replicas":3,"fullyLabeledReplicas":3,"observedGeneration":1})");
  // Nothing changed: nothing written.
  REQUIRE(b.Reconcile(*c, "ns/web").ok());
  CHECK(b.TakeWrites().empty());
}

TEST_CASE("slow start: batches of 1, 2, 4, ... stop at the first failing batch") {
  Bench b;
  auto c = NewReplicaSetController(b.ctx);
  b.Seed(kReplicaSets, RsJson(10));
  b.Sync();
  int creates = 0;
  b.api.SetReactor([&](const client::FakeApiClient::Action &a) {
    if (a.verb == "create" && a.resource.plural == "pods" && ++creates == 4) return Status::Unavailable("etcd down");
    return Status::OK();
  });
  // Batches 1 and 2 succeed; the batch of 4 runs entirely, one create fails, the rest is skipped.
  Status st = b.Reconcile(*c, "ns/web");
  CHECK(st.code() == Code::kUnavailable);
  CHECK(b.TakeWrites() == Concat({Repeat("create pods ns/", 7), {"update replicasets/status ns/web"}}));
  CHECK(b.informers.For(kPods).size() == 6);
  b.api.SetReactor(nullptr);
  // Skipped and failed creates were not expected any more: the next sync creates the rest (batches 1, 2, 1).
  REQUIRE(b.Reconcile(*c, "ns/web").ok());
  CHECK(b.TakeWrites() == Concat({Repeat("create pods ns/", 4), {"update replicasets/status ns/web"}}));
  CHECK(b.informers.For(kPods).size() == 10);
}

TEST_CASE("at most burstReplicas (500) pods are created by one sync") {
  Bench b;
  auto c = NewReplicaSetController(b.ctx);
  b.Seed(kReplicaSets, RsJson(600));
  b.Sync();
  auto t0 = std::chrono::steady_clock::now();
  REQUIRE(b.Reconcile(*c, "ns/web").ok());
  auto writes = b.TakeWrites();
  CHECK(writes.size() == 501);
  CHECK(b.informers.For(kPods).size() == 500);
  REQUIRE(b.Reconcile(*c, "ns/web").ok());
  CHECK(b.informers.For(kPods).size() == 600);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2));
}

TEST_CASE("expectations keep a stale pod cache from creating twice") {
  Bench b;
  auto c = NewReplicaSetController(b.ctx);
  b.Seed(kReplicaSets, RsJson(2));
  b.Sync();
  // The pod informer stops seeing the API: its cache goes stale.
  b.informers.For(kPods).Stop();
  REQUIRE(b.Reconcile(*c, "ns/web").ok());
  CHECK(b.TakeWrites() == Writes{"create pods ns/", "create pods ns/", "update replicasets/status ns/web"});
  // The cache still shows no pod, but the creations were not observed: no second create.
  REQUIRE(b.Reconcile(*c, "ns/web").ok());
  CHECK(b.TakeWrites().empty());
  // Expectations expire after 5 minutes (as upstream): the controller acts again.
  b.Advance(5 * 60 * 1000 + 1);
  REQUIRE(b.Reconcile(*c, "ns/web").ok());
  CHECK(b.TakeWrites() == Writes{"create pods ns/", "create pods ns/"});
}

TEST_CASE("expectations keep a stale pod cache from deleting twice") {
  Bench b;
  auto c = NewReplicaSetController(b.ctx);
  auto rs = b.Seed(kReplicaSets, RsJson(1));
  b.Seed(kPods, PodJson("a", rs));
  b.Advance(1000);
  b.Seed(kPods, PodJson("b", rs));
  b.Sync();
  b.informers.For(kPods).Stop();
  REQUIRE(b.Reconcile(*c, "ns/web").ok());
  CHECK(b.TakeWrites() == Writes{"delete pods ns/b", "update replicasets/status ns/web"});
  // The cache still shows both pods: no second delete until the deletion is seen.
  REQUIRE(b.Reconcile(*c, "ns/web").ok());
  CHECK(b.TakeWrites().empty());
}

TEST_CASE(
    "a missing owner is done; a terminating namespace refuses creates "
    "silently") {
  Bench b;
  auto c = NewReplicaSetController(b.ctx);
  b.Sync();
  REQUIRE(b.Reconcile(*c, "ns/gone").ok());
  CHECK(b.TakeWrites().empty());

  b.Seed(kReplicaSets, RsJson(2));
  b.timers.RunPending();
  b.api.SetReactor([](const client::FakeApiClient::Action &a) {
    if (a.verb != "create" || a.resource.plural != "pods") return Status::OK();
    Status st = Status::Forbidden(
        "pods \"web-\" is forbidden: unable to create new content in namespace "
        "ns because it is being terminated");
    StatusDetails d;
    d.causes.push_back(StatusCause{"NamespaceTerminating", "namespace ns is being terminated", "metadata.namespace"});
    st.SetDetails(std::move(d));
    return st;
  });
  REQUIRE(b.Reconcile(*c, "ns/web").ok());
  CHECK(b.EventReasons().empty());
  CHECK(b.TakeWrites() == Writes{"create pods ns/", "create pods ns/", "update replicasets/status ns/web"});
  CHECK(FindCondition(LastStatus(b), "ReplicaFailure") == nullptr);
}

TEST_CASE("creations observed through the pod informer lower the expectations") {
  Bench b;
  auto c = NewReplicaSetController(b.ctx);
  b.Seed(kReplicaSets, RsJson(2));
  b.Sync();
  // The created pods are seen by the informer; one is then deleted behind the controller's back.
  REQUIRE(b.Reconcile(*c, "ns/web").ok());
  b.TakeWrites();
  auto pods = b.informers.For(kPods).List();
  REQUIRE(pods.size() == 2);
  b.api.Delete(kPods, "ns", std::string(Name(*pods[0])), {}, [](StatusOr<JsonDoc>) {});
  b.timers.RunPending();
  b.TakeWrites();
  REQUIRE(b.Reconcile(*c, "ns/web").ok());
  CHECK(b.TakeWrites() == Writes{"create pods ns/", "update replicasets/status ns/web"});
}

TEST_CASE("scale down deletes victims in upstream's rank order") {
  Bench b;
  auto c = NewReplicaSetController(b.ctx);
  auto rs = b.Seed(kReplicaSets, RsJson(1));
  TimePoint t0 = b.clock().Now();
  // Created oldest first, one second apart.
  b.Seed(kPods, PodJson("ready-old", rs, R"({"app":"web","tier":"fe"})", R"({"nodeName":"n1"})", ReadyStatus(t0)));
  b.Advance(1000);
  b.Seed(kPods, PodJson("unassigned", rs, R"({"app":"web","tier":"fe"})", "{}", R"({"phase":"Pending"})"));
  b.Advance(1000);
  b.Seed(kPods,
         PodJson("pending", rs, R"({"app":"web","tier":"fe"})", R"({"nodeName":"n1"})", R"({"phase":"Pending"})"));
  b.Advance(1000);
  b.Seed(kPods,
         PodJson("not-ready", rs, R"({"app":"web","tier":"fe"})", R"({"nodeName":"n2"})", R"({"phase":"Running"})"));
  b.Advance(1000);
  b.Seed(kPods, PodJson("cheap", rs, R"({"app":"web","tier":"fe"})", R"({"nodeName":"n2"})", ReadyStatus(t0),
                        R"(,"annotations":{"controller.kubernetes.io/pod-deletion-cost":"-10"})"));
  b.Advance(1000);
  // Ready much more recently than ready-old: a lower log2 bucket of ready age.
  b.Advance(1000 * 1000);
  b.Seed(kPods, PodJson("ready-new", rs, R"({"app":"web","tier":"fe"})", R"({"nodeName":"n3"})",
                        ReadyStatus(b.clock().Now())));
  b.Sync();

  REQUIRE(b.Reconcile(*c, "ns/web").ok());
  REQUIRE(b.EventReasons().size() == 5);
  CHECK(b.EventReasons()[0] == "SuccessfulDelete: Deleted pod: unassigned");
  CHECK(b.TakeWrites() == Writes{"delete pods ns/unassigned", "delete pods ns/pending", "delete pods ns/not-ready",
                                 "delete pods ns/cheap", "delete pods ns/ready-new",
                                 "update replicasets/status ns/web"});
  // Pods on nodes being deleted gracefully are no longer active; the status counts what was claimed before
  // the deletes.
  auto st = LastStatus(b);
  CHECK(StatusInt(st, "replicas") == 6);
  CHECK(StatusInt(st, "readyReplicas") == 3);
  // The graceful deletions (deletionTimestamp) are observed: the next sync is allowed and deletes nothing
  // more.
  b.api.ClearActions();
  REQUIRE(b.Reconcile(*c, "ns/web").ok());
  CHECK(b.TakeWrites() == Writes{"update replicasets/status ns/web"});
  CHECK(StatusInt(LastStatus(b), "replicas") == 1);
}

TEST_CASE("victim ranking: restarts, creation time, colocation") {
  FakeClock clock;
  TimePoint now = clock.Now();
  auto mk = [](const std::string &json) { return std::make_shared<const JsonDoc>(Json(json)); };
  std::string ready = FormatRFC3339(now - std::chrono::hours(1));
  auto pod = [&](const std::string &name, const std::string &node, int restarts, const std::string &created) {
    return mk(R"({"metadata":{"name":")" + name + R"(","uid":")" + name + R"(","creationTimestamp":")" + created +
              R"("},"spec":{"nodeName":")" + node +
              R"("},"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True","lastTransitionTime":")" +
              ready + R"("}],"containerStatuses":[{"name":"c","restartCount":)" + std::to_string(restarts) + "}]}}");
  };
  std::string old_t = FormatRFC3339(now - std::chrono::hours(24 * 30));
  std::string new_t = FormatRFC3339(now - std::chrono::hours(2));
  auto a = pod("a", "n1", 0, old_t);
  auto b = pod("b", "n1", 5, old_t);  // more restarts
  auto c = pod("c", "n2", 0, new_t);  // newer
  auto d = pod("d", "n3", 0, old_t);  // doubled up with a related pod
  auto e = pod("e", "n4", 0, old_t);
  auto related = pod("other-rs-pod", "n3", 0, old_t);
  std::vector<client::ObjectPtr> pods{a, b, c, d, e};
  auto victims = PodsToDelete(pods, {a, b, c, d, e, related}, 4, now);
  std::vector<std::string> names;
  for (const auto &v : victims) names.push_back(std::string(Name(*v)));
  // n1 holds two related pods (a, b) and n3 two (d, other): those go first, then restarts.
  CHECK(names == std::vector<std::string>{"b", "a", "d", "c"});
  // Without related pods: restarts first, then the newer pod, then equal pods in their order.
  victims = PodsToDelete(pods, {}, 5, now);  // all of them: returned as given
  CHECK(victims.size() == 5);
  victims = PodsToDelete(pods, {}, 3, now);
  names.clear();
  for (const auto &v : victims) names.push_back(std::string(Name(*v)));
  CHECK(names == std::vector<std::string>{"b", "c", "a"});
}

TEST_CASE(
    "orphans matching the selector are adopted; controlled pods that "
    "stop matching are released") {
  Bench b;
  auto c = NewReplicaSetController(b.ctx);
  auto rs = b.Seed(kReplicaSets, RsJson(2));
  b.Seed(kPods, PodJson("orphan", nullptr));
  b.Seed(kPods, PodJson("owned", rs));
  b.Seed(kPods, PodJson("stray", rs, R"({"app":"other"})"));
  b.Seed(kPods, PodJson("unrelated", nullptr, R"({"app":"other"})"));
  b.Sync();

  REQUIRE(b.Reconcile(*c, "ns/web").ok());
  CHECK(b.TakeWrites() == Writes{"patch pods ns/stray", "patch pods ns/orphan", "update replicasets/status ns/web"});
  auto orphan = b.api.Find(kPods, "ns", "orphan");
  CHECK(IsControlledBy(*orphan, Uid(*rs)));
  auto stray = b.api.Find(kPods, "ns", "stray");
  CHECK_FALSE(IsControlledBy(*stray, Uid(*rs)));
  CHECK(ToJson(LastStatus(b)) == R"({"replicas":2,"fullyLabeledReplicas":2,"observedGeneration":1})");
}

TEST_CASE("the adoption and release patches are upstream's strategic merge patches") {
  Bench b;
  auto c = NewReplicaSetController(b.ctx);
  auto rs = b.Seed(kReplicaSets, RsJson(1));
  auto orphan = b.Seed(kPods, PodJson("orphan", nullptr));
  auto stray = b.Seed(kPods, PodJson("stray", rs, R"({"app":"other"})"));
  b.Sync();
  b.api.ClearActions();
  REQUIRE(b.Reconcile(*c, "ns/web").ok());
  std::vector<std::string> verbs;
  for (const auto &a : b.api.actions()) {
    if (a.resource.plural == "events") continue;
    verbs.push_back(a.verb + " " + a.resource.plural + " " + a.name);
    if (a.verb == "patch" && a.name == "orphan") {
      CHECK(a.body ==
            R"({"metadata":{"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"web","uid":")" +
                std::string(Uid(*rs)) + R"(","controller":true,"blockOwnerDeletion":true}],"uid":")" +
                std::string(Uid(*orphan)) + R"("}})");
    }
    if (a.verb == "patch" && a.name == "stray") {
      CHECK(a.body == R"({"metadata":{"ownerReferences":[{"$patch":"delete","uid":")" + std::string(Uid(*rs)) +
                          R"("}],"uid":")" + std::string(Uid(*stray)) + R"("}})");
    }
  }
  CHECK(verbs == std::vector<std::string>{"patch pods stray", "get replicasets web", "patch pods orphan",
                                          "update replicasets web"});
}

TEST_CASE(
    "an owner being deleted adopts nothing, creates nothing, and still "
    "updates status") {
  Bench b;
  auto c = NewReplicaSetController(b.ctx);
  auto rs = b.Seed(kReplicaSets, RsJson(3, "", R"(,"finalizers":["foregroundDeletion"])"));
  b.Seed(kPods, PodJson("owned", rs));
  b.Seed(kPods, PodJson("orphan", nullptr));
  b.Seed(kPods, PodJson("stray", rs, R"({"app":"other"})"));
  b.api.Delete(kReplicaSets, "ns", "web", {}, [](StatusOr<JsonDoc>) {});
  b.Sync();
  b.api.ClearActions();
  REQUIRE(b.Reconcile(*c, "ns/web").ok());
  CHECK(b.TakeWrites() == Writes{"update replicasets/status ns/web"});
  CHECK(ToJson(LastStatus(b)) == R"({"replicas":1,"fullyLabeledReplicas":1,"observedGeneration":1})");
}

TEST_CASE("an adoption is refused when the uncached owner turns out to be deleted") {
  Bench b;
  auto c = NewReplicaSetController(b.ctx);
  b.Seed(kReplicaSets, RsJson(1, "", R"(,"finalizers":["x"])"));
  b.Seed(kPods, PodJson("orphan", nullptr));
  b.Sync();
  // The pod informer stays as is; the ReplicaSet informer misses the deletion.
  b.informers.For(kReplicaSets).Stop();
  b.api.Delete(kReplicaSets, "ns", "web", {}, [](StatusOr<JsonDoc>) {});
  b.api.ClearActions();
  Status st = b.Reconcile(*c, "ns/web");
  CHECK_FALSE(st.ok());
  CHECK(st.message().find("can't adopt Pod ns/orphan") != std::string::npos);
  CHECK(b.TakeWrites().empty());
}

TEST_CASE(
    "status counts ready and available pods with minReadySeconds and "
    "requeues to notice availability") {
  Bench b;
  auto c = NewReplicaSetController(b.ctx);
  auto rs = b.Seed(kReplicaSets, RsJson(2, R"(,"minReadySeconds":10)"));
  TimePoint now = b.clock().Now();
  b.Seed(kPods, PodJson("p1", rs, R"({"app":"web","tier":"fe"})", R"({"nodeName":"n1"})", ReadyStatus(now)));
  // Matches the selector but lacks a template label: not fully labeled.
  b.Seed(kPods, PodJson("p2", rs, R"({"app":"web"})", R"({"nodeName":"n1"})", ReadyStatus(now)));
  // Terminal pods do not count.
  b.Seed(kPods,
         PodJson("done", rs, R"({"app":"web","tier":"fe"})", R"({"nodeName":"n1"})", R"({"phase":"Succeeded"})"));
  b.Sync();
  // Drop the keys the handlers queued.
  while (auto k = c->queue().Get()) c->queue().Done(*k);

  REQUIRE(b.Reconcile(*c, "ns/web").ok());
  CHECK(b.TakeWrites() == Writes{"update replicasets/status ns/web"});
  CHECK(ToJson(LastStatus(b)) == R"({"replicas":2,"fullyLabeledReplicas":1,"readyReplicas":2,"observedGeneration":1})");
  while (auto k = c->queue().Get()) c->queue().Done(*k);
  CHECK(c->queue().waiting() == 1);
  b.Advance(10 * 1000 - 1);
  CHECK(c->queue().Len() == 0);
  b.Advance(1);
  CHECK(c->queue().Len() == 1);
  b.Advance(1);
  REQUIRE(b.Reconcile(*c, "ns/web").ok());
  CHECK(b.TakeWrites() == Writes{"update replicasets/status ns/web"});
  CHECK(ToJson(LastStatus(b)) ==
        R"({"replicas":2,"fullyLabeledReplicas":1,"readyReplicas":2,"availableReplicas":2,"observedGeneration":1})");
}

TEST_CASE(
    "a pod turning ready requeues its owner after minReadySeconds plus a "
    "second") {
  Bench b;
  auto c = NewReplicaSetController(b.ctx);
  auto rs = b.Seed(kReplicaSets, RsJson(1, R"(,"minReadySeconds":5)"));
  auto p = b.Seed(kPods,
                  PodJson("p1", rs, R"({"app":"web","tier":"fe"})", R"({"nodeName":"n1"})", R"({"phase":"Running"})"));
  b.Sync();
  while (auto k = c->queue().Get()) c->queue().Done(*k);
  auto ready =
      Json(PodJson("p1", rs, R"({"app":"web","tier":"fe"})", R"({"nodeName":"n1"})", ReadyStatus(b.clock().Now())));
  SetString(ready["metadata"], "resourceVersion", client::MetaString(*p, "resourceVersion"), ready.GetAllocator());
  b.api.Update(kPods, "ns", ready, "status", [](StatusOr<JsonDoc> r) { REQUIRE(r.ok()); });
  b.timers.RunPending();
  CHECK(c->queue().Len() == 1);
  while (auto k = c->queue().Get()) c->queue().Done(*k);
  b.Advance(5999);
  CHECK(c->queue().Len() == 0);
  b.Advance(1);
  CHECK(c->queue().Len() == 1);
}

TEST_CASE(
    "a failed create sets ReplicaFailure and a FailedCreate event; "
    "success removes it") {
  Bench b;
  auto c = NewReplicaSetController(b.ctx);
  b.Seed(kReplicaSets, RsJson(2));
  b.Sync();
  const std::string quota =
      "pods \"web-\" is forbidden: exceeded quota: q, "
      "requested: pods=1, used: pods=2, limited: pods=2";
  b.api.SetReactor([&](const client::FakeApiClient::Action &a) {
    if (a.verb == "create" && a.resource.plural == "pods") return Status::Forbidden(quota);
    return Status::OK();
  });
  Status st = b.Reconcile(*c, "ns/web");
  CHECK(st.code() == Code::kForbidden);
  CHECK(b.EventReasons() == std::vector<std::string>{"FailedCreate: Error creating: " + quota});
  CHECK(b.TakeWrites() == Writes{"create pods ns/", "update replicasets/status ns/web"});
  auto status = LastStatus(b);
  const JsonValue *cond = FindCondition(status, "ReplicaFailure");
  REQUIRE(cond);
  CHECK(GetString(*cond, "status").value_or("") == "True");
  CHECK(GetString(*cond, "reason").value_or("") == "FailedCreate");
  CHECK(GetString(*cond, "message").value_or("") == quota);
  CHECK(GetString(*cond, "lastTransitionTime").value_or("") == FormatRFC3339(b.clock().Now()));
  CHECK(GetInt(status, "replicas").value_or(-1) == 0);

  // Failing again: the condition is already there, the status does not change.
  b.Advance(1000);
  CHECK_FALSE(b.Reconcile(*c, "ns/web").ok());
  CHECK(b.TakeWrites() == Writes{"create pods ns/"});

  b.api.SetReactor(nullptr);
  REQUIRE(b.Reconcile(*c, "ns/web").ok());
  CHECK(b.TakeWrites() == Writes{"create pods ns/", "create pods ns/", "update replicasets/status ns/web"});
  CHECK(FindCondition(LastStatus(b), "ReplicaFailure") == nullptr);
  CHECK(Member(LastStatus(b), "conditions") == nullptr);
}

TEST_CASE("events name the pods the API created and deleted") {
  Bench b;
  auto c = NewReplicaSetController(b.ctx);
  b.Seed(kReplicaSets, RsJson(1));
  b.Sync();
  REQUIRE(b.Reconcile(*c, "ns/web").ok());
  auto pods = b.informers.For(kPods).List();
  REQUIRE(pods.size() == 1);
  std::string pod_name(Name(*pods[0]));
  CHECK(pod_name.rfind("web-", 0) == 0);
  CHECK(pod_name.size() == 9);
  CHECK(b.EventReasons() == std::vector<std::string>{"SuccessfulCreate: Created pod: " + pod_name});
  // The event is about the ReplicaSet, from the replicaset-controller.
  for (const auto &a : b.api.writes()) {
    if (a.resource.plural != "events") continue;
    auto ev = Json(a.body);
    CHECK(GetString(*Path(ev, {"involvedObject"}), "kind").value_or("") == "ReplicaSet");
    CHECK(GetString(*Path(ev, {"involvedObject"}), "apiVersion").value_or("") == "apps/v1");
    CHECK(GetString(*Path(ev, {"involvedObject"}), "name").value_or("") == "web");
    CHECK(GetString(*Path(ev, {"source"}), "component").value_or("") == "replicaset-controller");
    CHECK(GetString(ev, "type").value_or("") == "Normal");
  }
  b.api.ClearActions();

  // Scale to zero.
  auto rs = b.api.Find(kReplicaSets, "ns", "web");
  auto upd = Json(ToJson(*rs));
  (*MutableMember(upd, "spec"))["replicas"].SetInt64(0);
  b.api.Update(kReplicaSets, "ns", upd, "", [](StatusOr<JsonDoc> r) { REQUIRE(r.ok()); });
  b.timers.RunPending();
  b.api.ClearActions();
  REQUIRE(b.Reconcile(*c, "ns/web").ok());
  CHECK(b.EventReasons() == std::vector<std::string>{"SuccessfulDelete: Deleted pod: " + pod_name});
  CHECK(b.TakeWrites() == Writes{"delete pods ns/" + pod_name, "update replicasets/status ns/web"});
  CHECK(ToJson(LastStatus(b)) == R"({"replicas":1,"fullyLabeledReplicas":1,"observedGeneration":2})");
}

TEST_CASE(
    "a failed delete sets ReplicaFailure FailedDelete and a FailedDelete "
    "event") {
  Bench b;
  auto c = NewReplicaSetController(b.ctx);
  auto rs = b.Seed(kReplicaSets, RsJson(0));
  b.Seed(kPods, PodJson("p1", rs));
  b.Sync();
  b.api.SetReactor([](const client::FakeApiClient::Action &a) {
    if (a.verb == "delete" && a.resource.plural == "pods") return Status::Forbidden("pods \"p1\" is forbidden: no");
    return Status::OK();
  });
  Status st = b.Reconcile(*c, "ns/web");
  CHECK(st.message() == "unable to delete pods: pods \"p1\" is forbidden: no");
  CHECK(b.EventReasons() == std::vector<std::string>{"FailedDelete: Error deleting: pods \"p1\" is forbidden: no"});
  auto last_status = LastStatus(b);
  const JsonValue *cond = FindCondition(last_status, "ReplicaFailure");
  REQUIRE(cond);
  CHECK(GetString(*cond, "reason").value_or("") == "FailedDelete");
  // The failed deletion was not expected any more: the next sync tries again.
  b.api.ClearActions();
  b.api.SetReactor(nullptr);
  REQUIRE(b.Reconcile(*c, "ns/web").ok());
  CHECK(b.TakeWrites() == Writes{"delete pods ns/p1", "update replicasets/status ns/web"});
}

TEST_CASE("a status update conflict is retried once on the latest version") {
  Bench b;
  auto c = NewReplicaSetController(b.ctx);
  b.Seed(kReplicaSets, RsJson(0));
  b.Sync();
  int updates = 0;
  b.api.SetReactor([&](const client::FakeApiClient::Action &a) {
    if (a.verb == "update" && ++updates == 1) return Status::Conflict("the object has been modified");
    return Status::OK();
  });
  REQUIRE(b.Reconcile(*c, "ns/web").ok());
  CHECK(b.TakeWrites() == Writes{"update replicasets/status ns/web", "update replicasets/status ns/web"});
  CHECK(GetInt(*Path(*b.api.Find(kReplicaSets, "ns", "web"), {"status"}), "observedGeneration").value_or(0) == 1);
}

TEST_CASE(
    "pod events enqueue the controlling ReplicaSet or the ones that may "
    "adopt") {
  Bench b;
  auto c = NewReplicaSetController(b.ctx);
  auto rs = b.Seed(kReplicaSets, RsJson(1));
  b.Seed(kReplicaSets,
         R"({"metadata":{"name":"other","namespace":"ns"},"spec":{"selector":{"matchLabels":{"app":"x"}}}})");
  b.Sync();
  while (auto k = c->queue().Get()) c->queue().Done(*k);
  b.Seed(kPods, PodJson("owned", rs, R"({"app":"nomatch"})"));
  b.timers.RunPending();
  CHECK(c->queue().Get() == std::optional<std::string>("ns/web"));
  c->queue().Done("ns/web");
  b.Seed(kPods, PodJson("orphan", nullptr, R"({"app":"x"})"));
  b.timers.RunPending();
  CHECK(c->queue().Get() == std::optional<std::string>("ns/other"));
  c->queue().Done("ns/other");
  // Owned by a ReplicationController with the same name: not ours.
  b.Seed(
      kPods,
      R"({"metadata":{"name":"rc-pod","namespace":"ns","ownerReferences":[{"apiVersion":"v1","kind":"ReplicationController","name":"web","uid":")" +
          std::string(Uid(*rs)) + R"(","controller":true}]}})");
  b.timers.RunPending();
  CHECK(c->queue().Len() == 0);
}

}  // namespace
}  // namespace minik::controllers
