// The Deployment controller: reconcile-level tests against the fake API with a simulated clock.
// The ReplicaSet controller is simulated by writing ReplicaSet status (and pods) between
// reconciles.
#include <algorithm>
#include <functional>
#include <map>

#include "fixture.h"
#include "server/controllers/deployment.h"
#include "server/controllers/deployment_util.h"

namespace minik::controllers {
namespace {

using testing::Bench;
using testing::Json;
using Strings = std::vector<std::string>;

constexpr char kKey[] = "default/web";

std::string DeploymentJson(int replicas, const std::string& image, const std::string& extra_spec = "",
                           const std::string& extra_meta = "") {
  return R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"default")" +
         extra_meta + R"(},"spec":{"replicas":)" + std::to_string(replicas) +
         R"(,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"web","image":")" +
         image + R"("}]}})" +
         (extra_spec.find("progressDeadlineSeconds") == std::string::npos ? R"(,"progressDeadlineSeconds":600)" : "") +
         (extra_spec.find("revisionHistoryLimit") == std::string::npos ? R"(,"revisionHistoryLimit":10)" : "") +
         extra_spec + "}}";
}

struct Env {
  Bench b;
  ControllerPtr c = NewDeploymentController(b.ctx);

  client::ObjectPtr D() { return b.api.Find(kDeployments, "default", "web"); }
  client::ObjectPtr RS(const std::string& name) { return b.api.Find(kReplicaSets, "default", name); }
  std::vector<client::ObjectPtr> AllRS() {
    auto v = b.informers.For(kReplicaSets).List();
    std::sort(v.begin(), v.end(), [](auto& x, auto& y) { return Name(*x) < Name(*y); });
    return v;
  }
  // The name the controller gives the ReplicaSet of the Deployment's current template.
  std::string CurrentRSName() {
    auto d = D();
    return "web-" + ComputeHash(*Path(*d, {"spec", "template"}), deployment::CollisionCount(*d));
  }
  Strings Reconcile() {
    b.TakeWrites();
    b.api.ClearActions();
    Status st = b.Reconcile(*c, kKey);
    if (!st.ok()) FAIL_CHECK("reconcile failed: " << st.ToString());
    return b.TakeWrites();
  }
  Status ReconcileStatus() {
    b.api.ClearActions();
    return b.Reconcile(*c, kKey);
  }
  // Applies fn to a copy of the stored object and updates it (as a user would), unrecorded.
  void Mutate(const client::ResourceRef& res, const std::string& name, const std::function<void(JsonDoc&)>& fn,
              const std::string& sub = "") {
    auto cur = b.api.Find(res, "default", name);
    REQUIRE(cur);
    JsonDoc doc;
    doc.CopyFrom(*cur, doc.GetAllocator());
    fn(doc);
    bool ok = false;
    b.api.Update(res, "default", doc, sub, [&](StatusOr<JsonDoc> r) {
      ok = r.ok();
      if (!r.ok()) FAIL_CHECK("update failed: " << r.error().ToString());
    });
    REQUIRE(ok);
    b.timers.RunPending();
    b.api.ClearActions();
  }
  void SetImage(const std::string& image) {
    Mutate(kDeployments, "web", [&](JsonDoc& d) {
      JsonValue& c0 = d["spec"]["template"]["spec"]["containers"][0];
      SetString(c0, "image", image, d.GetAllocator());
    });
  }
  void SetSpecInt(const char* field, int64_t v) {
    Mutate(kDeployments, "web", [&](JsonDoc& d) { SetMember(d["spec"], field, JsonValue(v), d.GetAllocator()); });
  }
  void SetPaused(bool p) {
    Mutate(kDeployments, "web", [&](JsonDoc& d) { SetMember(d["spec"], "paused", JsonValue(p), d.GetAllocator()); });
  }
  void SetRSStatus(const std::string& name, int64_t replicas, int64_t ready, int64_t available,
                   const std::string& conditions = "") {
    Mutate(
        kReplicaSets, name,
        [&](JsonDoc& rs) {
          auto& a = rs.GetAllocator();
          JsonValue st(rapidjson::kObjectType);
          st.AddMember("replicas", JsonValue(replicas), a);
          st.AddMember("fullyLabeledReplicas", JsonValue(replicas), a);
          st.AddMember("readyReplicas", JsonValue(ready), a);
          st.AddMember("availableReplicas", JsonValue(available), a);
          st.AddMember("observedGeneration", JsonValue(deployment::Generation(rs)), a);
          if (!conditions.empty()) st.AddMember("conditions", Clone(Json(conditions), a), a);
          SetMember(rs, "status", std::move(st), a);
        },
        "status");
  }
  // The ReplicaSet controller with pods that are available at once.
  bool SimulateReplicaSets() {
    bool changed = false;
    for (const auto& rs : AllRS()) {
      int64_t n = deployment::SpecReplicas(*rs);
      if (deployment::StatusInt(*rs, "availableReplicas") == n && deployment::StatusInt(*rs, "replicas") == n &&
          deployment::StatusInt(*rs, "observedGeneration") == deployment::Generation(*rs))
        continue;
      SetRSStatus(std::string(Name(*rs)), n, n, n);
      changed = true;
    }
    return changed;
  }
  // "name=size name=size" in name order.
  std::string Sizes() {
    std::string out;
    for (const auto& rs : AllRS()) {
      out += (out.empty() ? "" : " ") + std::string(Name(*rs)) + "=" + std::to_string(deployment::SpecReplicas(*rs));
    }
    return out;
  }
  // Takes every key the informer handlers queued.
  void DrainQueue() {
    while (auto k = c->queue().Get()) c->queue().Done(*k);
  }
  Strings Events() {
    Strings out;
    for (const auto& a : b.api.actions()) {
      if (a.resource.plural != "events" || a.verb == "get" || a.verb == "list" || a.verb == "watch") continue;
      auto d = Json(a.body);
      if (a.verb == "create") {
        // Every event is about the Deployment, from upstream's component.
        CHECK(GetString(*Path(d, {"source"}), "component").value_or("") == "deployment-controller");
        CHECK(GetString(*Path(d, {"involvedObject"}), "kind").value_or("") == "Deployment");
        CHECK(GetString(*Path(d, {"involvedObject"}), "name").value_or("") == "web");
        out.push_back(std::string(GetString(d, "reason").value_or("")) + ": " +
                      std::string(GetString(d, "message").value_or("")));
      }
    }
    return out;
  }
  // Reconciles, recording the events of the reconcile.
  Strings ReconcileEvents(Strings* writes = nullptr) {
    b.api.ClearActions();
    Status st = b.Reconcile(*c, kKey);
    if (!st.ok()) FAIL_CHECK("reconcile failed: " << st.ToString());
    Strings ev = Events();
    auto w = b.TakeWrites();
    if (writes) *writes = w;
    return ev;
  }
  void Start(int replicas, const std::string& image = "nginx:1.0", const std::string& extra_spec = "",
             const std::string& extra_meta = "") {
    b.Seed(kDeployments, DeploymentJson(replicas, image, extra_spec, extra_meta));
    b.Sync();
  }
  // Rolls until nothing changes, simulating the ReplicaSet controller between reconciles.
  int Settle(const std::function<void()>& each_step = nullptr) {
    for (int i = 0; i < 50; ++i) {
      auto w = Reconcile();
      bool changed = SimulateReplicaSets();
      if (each_step) each_step();
      if (w.empty() && !changed) return i;
    }
    FAIL("deployment did not settle");
    return -1;
  }
};

const JsonValue* Cond(const JsonValue& d, const char* type) {
  const JsonValue* st = Member(d, "status");
  return st ? FindCondition(*st, type) : nullptr;
}
std::string CondStr(const JsonValue& d, const char* type) {
  const JsonValue* c = Cond(d, type);
  if (!c) return "<none>";
  return std::string(GetString(*c, "status").value_or("")) + " " + std::string(GetString(*c, "reason").value_or("")) +
         ": " + std::string(GetString(*c, "message").value_or(""));
}
// "name=size ..." as Env::Sizes prints it.
std::string SizesOf(std::vector<std::pair<std::string, int64_t>> v) {
  std::sort(v.begin(), v.end());
  std::string out;
  for (const auto& [n, k] : v) out += (out.empty() ? "" : " ") + n + "=" + std::to_string(k);
  return out;
}
std::string Ann(const JsonValue& obj, const char* key) { return std::string(Annotation(obj, key).value_or("<none>")); }

// ---- creation ------------------------------------------------------------------------------

TEST_CASE("a new Deployment gets a ReplicaSet named by its template hash, with revision 1") {
  Env e;
  e.Start(3, "nginx:1.0", "", R"(,"annotations":{"kubernetes.io/change-cause":"kubectl create deployment web --image=nginx:1.0","kubectl.kubernetes.io/last-applied-configuration":"{}"})");
  std::string rs_name = e.CurrentRSName();
  Strings writes;
  Strings events = e.ReconcileEvents(&writes);
  CHECK(writes == Strings{"create replicasets default/" + rs_name, "patch deployments default/web",
                          "update deployments/status default/web", "update deployments/status default/web"});
  CHECK(events == Strings{"ScalingReplicaSet: Scaled up replica set " + rs_name + " from 0 to 3"});

  auto rs = e.RS(rs_name);
  REQUIRE(rs);
  std::string hash = rs_name.substr(4);
  CHECK(GetString(*Path(*rs, {"metadata", "labels"}), "pod-template-hash").value_or("") == hash);
  CHECK(GetString(*Path(*rs, {"metadata", "labels"}), "app").value_or("") == "web");
  CHECK(GetString(*Path(*rs, {"spec", "selector", "matchLabels"}), "pod-template-hash").value_or("") == hash);
  CHECK(GetString(*Path(*rs, {"spec", "template", "metadata", "labels"}), "pod-template-hash").value_or("") == hash);
  CHECK(deployment::SpecReplicas(*rs) == 3);
  CHECK(Ann(*rs, "deployment.kubernetes.io/revision") == "1");
  CHECK(Ann(*rs, "deployment.kubernetes.io/desired-replicas") == "3");
  CHECK(Ann(*rs, "deployment.kubernetes.io/max-replicas") == "4");
  CHECK(Ann(*rs, "kubernetes.io/change-cause") == "kubectl create deployment web --image=nginx:1.0");
  CHECK(Ann(*rs, "kubectl.kubernetes.io/last-applied-configuration") == "<none>");
  CHECK(Ann(*rs, "deployment.kubernetes.io/revision-history") == "<none>");
  const JsonValue* ref = ControllerRef(*rs);
  REQUIRE(ref);
  CHECK(GetString(*ref, "kind").value_or("") == "Deployment");
  CHECK(GetString(*ref, "apiVersion").value_or("") == "apps/v1");
  CHECK(GetString(*ref, "uid").value_or("") == Uid(*e.D()));
  CHECK(GetBool(*ref, "blockOwnerDeletion").value_or(false));

  auto d = e.D();
  CHECK(Ann(*d, "deployment.kubernetes.io/revision") == "1");
  CHECK(deployment::StatusInt(*d, "observedGeneration") == 1);
  CHECK(deployment::StatusInt(*d, "unavailableReplicas") == 3);
  CHECK(deployment::StatusInt(*d, "replicas") == 0);
  CHECK(CondStr(*d, "Progressing") == "True NewReplicaSetCreated: Created new replica set \"" + rs_name + "\"");
  CHECK(CondStr(*d, "Available") == "False MinimumReplicasUnavailable: Deployment does not have minimum availability.");

  // The ReplicaSet controller brings the pods up: the rollout completes.
  e.SetRSStatus(rs_name, 3, 3, 3);
  CHECK(e.Reconcile() == Strings{"update deployments/status default/web"});
  d = e.D();
  CHECK(deployment::StatusInt(*d, "replicas") == 3);
  CHECK(deployment::StatusInt(*d, "updatedReplicas") == 3);
  CHECK(deployment::StatusInt(*d, "readyReplicas") == 3);
  CHECK(deployment::StatusInt(*d, "availableReplicas") == 3);
  CHECK(Path(*d, {"status", "unavailableReplicas"}) == nullptr);
  CHECK(CondStr(*d, "Available") == "True MinimumReplicasAvailable: Deployment has minimum availability.");
  CHECK(CondStr(*d, "Progressing") ==
        "True NewReplicaSetAvailable: ReplicaSet \"" + rs_name + "\" has successfully progressed.");
  // Conditions in upstream's order (kubectl describe): Available, then Progressing.
  const JsonValue* conds = Path(*d, {"status", "conditions"});
  REQUIRE(conds->Size() == 2);
  CHECK(GetString((*conds)[0], "type").value_or("") == "Available");
  CHECK(GetString((*conds)[1], "type").value_or("") == "Progressing");
  for (const auto& c : conds->GetArray()) {
    CHECK(Member(c, "lastUpdateTime"));
    CHECK(Member(c, "lastTransitionTime"));
  }
  // Nothing more to do.
  CHECK(e.Reconcile().empty());
}

TEST_CASE("a missing Deployment is done; a Deployment selecting everything is refused") {
  Env e;
  e.b.Sync();
  CHECK(e.b.Reconcile(*e.c, "default/none").ok());
  e.b.Seed(kDeployments, R"({"metadata":{"name":"web","namespace":"default","generation":2},"spec":{"replicas":1,"selector":{},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"i"}]}}}})");
  e.b.Sync();
  Strings writes;
  CHECK(e.ReconcileEvents(&writes) ==
        Strings{"SelectingAll: This deployment is selecting all pods. A non-empty selector is required."});
  CHECK(writes == Strings{"update deployments/status default/web"});
  CHECK(deployment::StatusInt(*e.D(), "observedGeneration") == 2);
}

// ---- rolling update ----------------------------------------------------------------------------

TEST_CASE("a template change rolls within maxSurge and maxUnavailable") {
  Env e;
  e.Start(4);  // 25%/25% of 4: surge 1, unavailable 1
  std::string rs1 = e.CurrentRSName();
  e.Settle();
  CHECK(e.Sizes() == SizesOf({{rs1, 4}}));

  e.SetImage("nginx:2.0");
  std::string rs2 = e.CurrentRSName();
  REQUIRE(rs2 != rs1);
  Strings writes;
  Strings events = e.ReconcileEvents(&writes);
  CHECK(writes == Strings{"create replicasets default/" + rs2, "patch deployments default/web",
                          "update deployments/status default/web", "update replicasets default/" + rs1,
                          "update deployments/status default/web"});
  CHECK(events == Strings{"ScalingReplicaSet: Scaled up replica set " + rs2 + " from 0 to 1",
                          "ScalingReplicaSet: Scaled down replica set " + rs1 + " from 4 to 3"});
  CHECK(e.Sizes() == SizesOf({{rs1, 3}, {rs2, 1}}));
  CHECK(Ann(*e.RS(rs2), "deployment.kubernetes.io/revision") == "2");
  CHECK(Ann(*e.D(), "deployment.kubernetes.io/revision") == "2");
  CHECK(deployment::StatusInt(*e.D(), "observedGeneration") == 2);
  CHECK(CondStr(*e.D(), "Progressing") == "True NewReplicaSetCreated: Created new replica set \"" + rs2 + "\"");

  // The old pod went: room for one more new pod, but no old one goes while the new pods are
  // not available (3 must stay available).
  e.SetRSStatus(rs1, 3, 3, 3);
  e.SetRSStatus(rs2, 1, 0, 0);
  CHECK(e.ReconcileEvents(&writes) == Strings{"ScalingReplicaSet: Scaled up replica set " + rs2 + " from 1 to 2"});
  CHECK(writes == Strings{"update replicasets default/" + rs2, "update deployments/status default/web"});
  CHECK(CondStr(*e.D(), "Progressing") == "True ReplicaSetUpdated: ReplicaSet \"" + rs2 + "\" is progressing.");
  e.SetRSStatus(rs2, 2, 0, 0);
  CHECK(e.Reconcile() == Strings{"update deployments/status default/web"});
  CHECK(e.Sizes() == SizesOf({{rs1, 3}, {rs2, 2}}));
  CHECK(e.Reconcile().empty());

  // Each step keeps at most 5 pods and at least 3 available.
  Strings all_events;
  e.SimulateReplicaSets();
  for (int i = 0; i < 20; ++i) {
    auto ev = e.ReconcileEvents(&writes);
    all_events.insert(all_events.end(), ev.begin(), ev.end());
    int64_t total = 0, available = 0;
    for (const auto& rs : e.AllRS()) total += deployment::SpecReplicas(*rs);
    CHECK(total <= 5);
    e.SimulateReplicaSets();
    for (const auto& rs : e.AllRS()) available += deployment::StatusInt(*rs, "availableReplicas");
    CHECK(available >= 3);
    if (writes.empty()) break;
  }
  CHECK(all_events == Strings{"ScalingReplicaSet: Scaled down replica set " + rs1 + " from 3 to 1",
                              "ScalingReplicaSet: Scaled up replica set " + rs2 + " from 2 to 4",
                              "ScalingReplicaSet: Scaled down replica set " + rs1 + " from 1 to 0"});
  CHECK(e.Sizes() == SizesOf({{rs1, 0}, {rs2, 4}}));
  auto d = e.D();
  CHECK(CondStr(*d, "Progressing") ==
        "True NewReplicaSetAvailable: ReplicaSet \"" + rs2 + "\" has successfully progressed.");
  CHECK(deployment::StatusInt(*d, "replicas") == 4);
  CHECK(deployment::StatusInt(*d, "updatedReplicas") == 4);
  CHECK(deployment::StatusInt(*d, "availableReplicas") == 4);
}

TEST_CASE("maxSurge 0 and maxUnavailable as a percentage round as upstream") {
  Env e;
  e.Start(10, "nginx:1.0", R"(,"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":0,"maxUnavailable":"15%"}})");
  std::string rs1 = e.CurrentRSName();
  e.Settle();
  e.SetImage("nginx:2.0");
  std::string rs2 = e.CurrentRSName();
  // 15% of 10 rounds down to 1: one old pod goes before a new one comes.
  Strings events = e.ReconcileEvents();
  CHECK(events == Strings{"ScalingReplicaSet: Scaled down replica set " + rs1 + " from 10 to 9"});
  CHECK(e.Sizes() == SizesOf({{rs1, 9}, {rs2, 0}}));
  CHECK(Ann(*e.RS(rs2), "deployment.kubernetes.io/max-replicas") == "10");
  e.SimulateReplicaSets();
  CHECK(e.ReconcileEvents() == Strings{"ScalingReplicaSet: Scaled up replica set " + rs2 + " from 0 to 1"});
}

TEST_CASE("fenceposts: surge rounds up, unavailable down, both zero gives one unavailable") {
  auto d = Json(R"({"spec":{"replicas":10,"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":"25%","maxUnavailable":"25%"}}}})");
  CHECK(deployment::MaxSurge(d) == 3);
  CHECK(deployment::MaxUnavailable(d) == 2);
  auto z = Json(R"({"spec":{"replicas":3,"strategy":{"rollingUpdate":{"maxSurge":0,"maxUnavailable":"10%"}}}})");
  CHECK(deployment::MaxSurge(z) == 0);
  CHECK(deployment::MaxUnavailable(z) == 1);
  auto dflt = Json(R"({"spec":{"replicas":1}})");
  CHECK(deployment::MaxSurge(dflt) == 1);
  CHECK(deployment::MaxUnavailable(dflt) == 0);
  auto big = Json(R"({"spec":{"replicas":2,"strategy":{"rollingUpdate":{"maxUnavailable":5}}}})");
  CHECK(deployment::MaxUnavailable(big) == 2);
  auto rec = Json(R"({"spec":{"replicas":2,"strategy":{"type":"Recreate"}}})");
  CHECK(deployment::MaxSurge(rec) == 0);
  CHECK(deployment::MaxUnavailable(rec) == 0);
}

TEST_CASE("unhealthy old replicas are scaled down first") {
  Env e;
  e.Start(4);
  std::string rs1 = e.CurrentRSName();
  e.Settle();
  e.SetImage("nginx:2.0");
  std::string rs2 = e.CurrentRSName();
  e.Reconcile();  // rs2 1, rs1 3
  e.SetImage("nginx:3.0");
  std::string rs3 = e.CurrentRSName();
  // rs2's pod never became available; rs1 is healthy.
  e.SetRSStatus(rs1, 3, 3, 3);
  e.SetRSStatus(rs2, 1, 0, 0);
  Strings events = e.ReconcileEvents();
  // rs3 takes the one surge pod; rs2's unavailable replica is cleaned up before any healthy one.
  CHECK(events == Strings{"ScalingReplicaSet: Scaled up replica set " + rs3 + " from 0 to 1",
                          "ScalingReplicaSet: Scaled down replica set " + rs2 + " from 1 to 0"});
  CHECK(e.Sizes() == SizesOf({{rs1, 3}, {rs2, 0}, {rs3, 1}}));
}

TEST_CASE("minReadySeconds goes to the new ReplicaSet, and follows the Deployment") {
  Env e;
  e.Start(2, "nginx:1.0", R"(,"minReadySeconds":5)");
  std::string rs1 = e.CurrentRSName();
  e.Reconcile();
  CHECK(IntOr(Path(*e.RS(rs1), {"spec", "minReadySeconds"}), -1) == 5);
  e.Settle();
  e.SetSpecInt("minReadySeconds", 30);
  Strings writes = e.Reconcile();
  CHECK(writes == Strings{"update replicasets default/" + rs1, "update deployments/status default/web"});
  CHECK(IntOr(Path(*e.RS(rs1), {"spec", "minReadySeconds"}), -1) == 30);
  CHECK(e.Reconcile().empty());
}

// ---- rollout undo ------------------------------------------------------------------------------

TEST_CASE("undo to an old template reuses its ReplicaSet with a new revision") {
  Env e;
  e.Start(2, "nginx:1.0", "", R"(,"annotations":{"kubernetes.io/change-cause":"v1"})");
  std::string rs1 = e.CurrentRSName();
  e.Settle();
  e.Mutate(kDeployments, "web", [](JsonDoc& d) {
    SetString(d["spec"]["template"]["spec"]["containers"][0], "image", "nginx:2.0", d.GetAllocator());
    SetString(d["metadata"]["annotations"], "kubernetes.io/change-cause", "v2", d.GetAllocator());
  });
  std::string rs2 = e.CurrentRSName();
  e.Settle();
  CHECK(e.Sizes() == SizesOf({{rs1, 0}, {rs2, 2}}));
  CHECK(Ann(*e.RS(rs2), "deployment.kubernetes.io/revision") == "2");
  CHECK(Ann(*e.RS(rs2), "kubernetes.io/change-cause") == "v2");

  // kubectl rollout undo: the template of revision 1 (without its hash label) and its
  // annotations are patched into the Deployment.
  auto rs1_obj = e.RS(rs1);
  e.Mutate(kDeployments, "web", [&](JsonDoc& d) {
    auto& a = d.GetAllocator();
    JsonValue t = Clone(*Path(*rs1_obj, {"spec", "template"}), a);
    RemoveMember(t["metadata"]["labels"], "pod-template-hash");
    SetMember(d["spec"], "template", std::move(t), a);
    SetString(d["metadata"]["annotations"], "kubernetes.io/change-cause", "v1", a);
  });
  CHECK(e.CurrentRSName() == rs1);
  Strings writes;
  Strings events = e.ReconcileEvents(&writes);
  // The revision of rs1 is raised first, then the Deployment's, then rs1 scales up.
  CHECK(writes == Strings{"update replicasets default/" + rs1, "patch deployments default/web",
                          "update replicasets default/" + rs1, "update deployments/status default/web"});
  CHECK(events == Strings{"ScalingReplicaSet: Scaled up replica set " + rs1 + " from 0 to 1"});
  auto rs = e.RS(rs1);
  CHECK(Ann(*rs, "deployment.kubernetes.io/revision") == "3");
  CHECK(Ann(*rs, "deployment.kubernetes.io/revision-history") == "1");
  CHECK(Ann(*rs, "kubernetes.io/change-cause") == "v1");
  CHECK(Ann(*e.D(), "deployment.kubernetes.io/revision") == "3");
  e.Settle();
  CHECK(e.Sizes() == SizesOf({{rs1, 2}, {rs2, 0}}));

  // And back again: revision 4 for rs2, history "2".
  e.SetImage("nginx:2.0");
  CHECK(e.CurrentRSName() == rs2);
  e.Settle();
  CHECK(Ann(*e.RS(rs2), "deployment.kubernetes.io/revision") == "4");
  CHECK(Ann(*e.RS(rs2), "deployment.kubernetes.io/revision-history") == "2");
  e.SetImage("nginx:1.0");
  e.Settle();
  CHECK(Ann(*e.RS(rs1), "deployment.kubernetes.io/revision") == "5");
  CHECK(Ann(*e.RS(rs1), "deployment.kubernetes.io/revision-history") == "1,3");
}

TEST_CASE("revision history annotation stays under 2000 characters") {
  auto d = Json(R"({"spec":{"replicas":1}})");
  std::string history;
  for (int i = 1; i < 500; ++i) history += (history.empty() ? "" : ",") + std::to_string(i);
  JsonDoc rs = Json(R"({"metadata":{"annotations":{"deployment.kubernetes.io/revision":"1000"}}})");
  SetString(rs["metadata"]["annotations"], "deployment.kubernetes.io/revision-history", history, rs.GetAllocator());
  CHECK(deployment::SetNewReplicaSetAnnotations(d, rs, 1001, true));
  std::string got(Annotation(rs, "deployment.kubernetes.io/revision-history").value_or(""));
  CHECK(got.size() <= 2000);
  CHECK(got.substr(got.size() - 5) == ",1000");
  CHECK(Ann(rs, "deployment.kubernetes.io/revision") == "1001");
}

// ---- Recreate ----------------------------------------------------------------------------------

TEST_CASE("Recreate scales the old ReplicaSets to zero and waits for their pods before the new one") {
  Env e;
  e.Start(2, "nginx:1.0", R"(,"strategy":{"type":"Recreate"})");
  std::string rs1 = e.CurrentRSName();
  e.Settle();
  auto rs1_obj = e.RS(rs1);
  for (const char* p : {"web-a", "web-b"}) {
    e.b.Seed(kPods, std::string(R"({"metadata":{"name":")") + p +
                        R"(","namespace":"default","labels":{"app":"web","pod-template-hash":")" + rs1.substr(4) +
                        R"("},"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":")" + rs1 +
                        R"(","uid":")" + std::string(Uid(*rs1_obj)) +
                        R"(","controller":true}]},"status":{"phase":"Running"}})");
  }
  e.b.Sync();
  e.SetImage("nginx:2.0");
  std::string rs2 = e.CurrentRSName();
  Strings writes;
  CHECK(e.ReconcileEvents(&writes) == Strings{"ScalingReplicaSet: Scaled down replica set " + rs1 + " from 2 to 0"});
  CHECK(writes == Strings{"update replicasets default/" + rs1, "update deployments/status default/web"});
  CHECK(!e.RS(rs2));

  // The ReplicaSet controller is deleting the pods: still there, no new ReplicaSet.
  e.SetRSStatus(rs1, 0, 0, 0);
  writes = e.Reconcile();
  CHECK(std::find(writes.begin(), writes.end(), "create replicasets default/" + rs2) == writes.end());
  CHECK(!e.RS(rs2));
  // A terminal pod does not count; the running one still does.
  e.Mutate(kPods, "web-a", [](JsonDoc& p) { SetString(p["status"], "phase", "Succeeded", p.GetAllocator()); }, "status");
  e.Reconcile();
  CHECK(!e.RS(rs2));

  // The last pod goes: the Deployment is woken up and creates the new ReplicaSet at full size.
  e.c->queue().Forget(kKey);
  e.b.api.Delete(kPods, "default", "web-b", {}, [](StatusOr<JsonDoc>) {});
  e.b.timers.RunPending();
  CHECK(e.c->queue().Len() + e.c->queue().processing() >= 1);
  Strings events = e.ReconcileEvents(&writes);
  CHECK(writes.at(0) == "create replicasets default/" + rs2);
  CHECK(events == Strings{"ScalingReplicaSet: Scaled up replica set " + rs2 + " from 0 to 2"});
  CHECK(Ann(*e.RS(rs2), "deployment.kubernetes.io/max-replicas") == "2");
  e.Settle();
  CHECK(e.Sizes() == SizesOf({{rs1, 0}, {rs2, 2}}));
  CHECK(CondStr(*e.D(), "Progressing") ==
        "True NewReplicaSetAvailable: ReplicaSet \"" + rs2 + "\" has successfully progressed.");
  // Recreate has no unavailability budget: Available needs every replica.
  e.SetRSStatus(rs2, 2, 1, 1);
  e.Reconcile();
  CHECK(CondStr(*e.D(), "Available") == "False MinimumReplicasUnavailable: Deployment does not have minimum availability.");
}

// ---- pause, resume and scaling -----------------------------------------------------------------

TEST_CASE("a paused Deployment does not roll but still scales") {
  Env e;
  e.Start(3);
  std::string rs1 = e.CurrentRSName();
  e.Settle();
  e.SetPaused(true);
  Strings writes = e.Reconcile();
  CHECK(writes == Strings{"update deployments/status default/web", "update deployments/status default/web"});
  CHECK(CondStr(*e.D(), "Progressing") == "Unknown DeploymentPaused: Deployment is paused");

  e.SetImage("nginx:2.0");
  std::string rs2 = e.CurrentRSName();
  CHECK(e.Reconcile() == Strings{"update deployments/status default/web"});  // observedGeneration only
  CHECK(!e.RS(rs2));
  CHECK(deployment::StatusInt(*e.D(), "observedGeneration") == 3);

  e.SetSpecInt("replicas", 5);
  Strings events = e.ReconcileEvents(&writes);
  CHECK(events == Strings{"ScalingReplicaSet: Scaled up replica set " + rs1 + " from 3 to 5"});
  CHECK(Ann(*e.RS(rs1), "deployment.kubernetes.io/desired-replicas") == "5");
  CHECK(Ann(*e.RS(rs1), "deployment.kubernetes.io/max-replicas") == "7");
  e.Settle();
  CHECK(!e.RS(rs2));

  e.SetPaused(false);
  events = e.ReconcileEvents(&writes);
  CHECK(writes.at(0) == "update deployments/status default/web");
  CHECK(writes.at(1) == "create replicasets default/" + rs2);
  CHECK(events.at(0) == "ScalingReplicaSet: Scaled up replica set " + rs2 + " from 0 to 2");
  e.Settle();
  CHECK(e.Sizes() == SizesOf({{rs1, 0}, {rs2, 5}}));
  CHECK(CondStr(*e.D(), "Progressing") ==
        "True NewReplicaSetAvailable: ReplicaSet \"" + rs2 + "\" has successfully progressed.");
}

TEST_CASE("scaling during a rollout is proportional") {
  Env e;
  e.Start(10, "nginx:1.0", R"(,"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":3,"maxUnavailable":2}})");
  std::string rs1 = e.CurrentRSName();
  e.Settle();
  e.SetImage("nginx:2.0");
  std::string rs2 = e.CurrentRSName();
  e.Reconcile();
  CHECK(e.Sizes() == SizesOf({{rs1, 8}, {rs2, 3}}));
  e.SetRSStatus(rs1, 8, 8, 8);
  e.SetRSStatus(rs2, 3, 0, 0);

  // 15 replicas may have 18 pods: 7 more, spread 8:3 (rounded), leftovers to the largest.
  e.SetSpecInt("replicas", 15);
  Strings writes;
  Strings events = e.ReconcileEvents(&writes);
  CHECK(events == Strings{"ScalingReplicaSet: Scaled up replica set " + rs1 + " from 8 to 14",
                          "ScalingReplicaSet: Scaled up replica set " + rs2 + " from 3 to 4"});
  CHECK(writes == Strings{"update replicasets default/" + rs1, "update replicasets default/" + rs2,
                          "update deployments/status default/web"});
  for (const auto& n : {rs1, rs2}) {
    CHECK(Ann(*e.RS(n), "deployment.kubernetes.io/desired-replicas") == "15");
    CHECK(Ann(*e.RS(n), "deployment.kubernetes.io/max-replicas") == "18");
  }
  // Scaling down during the rollout takes from the largest (older first on ties).
  e.SetRSStatus(rs1, 14, 14, 14);
  e.SetRSStatus(rs2, 4, 0, 0);
  e.SetSpecInt("replicas", 5);
  events = e.ReconcileEvents();
  // 5 replicas + 3 surge = 8 allowed: 10 fewer, 14*8/18 -> 6 and 4*8/18 -> 2.
  CHECK(events == Strings{"ScalingReplicaSet: Scaled down replica set " + rs1 + " from 14 to 6",
                          "ScalingReplicaSet: Scaled down replica set " + rs2 + " from 4 to 2"});
  e.Settle();
  CHECK(e.Sizes() == SizesOf({{rs1, 0}, {rs2, 5}}));
}

TEST_CASE("a settled Deployment scaled up only resizes its ReplicaSet") {
  Env e;
  e.Start(2);
  std::string rs1 = e.CurrentRSName();
  e.Settle();
  e.SetSpecInt("replicas", 6);
  Strings writes;
  CHECK(e.ReconcileEvents(&writes) == Strings{"ScalingReplicaSet: Scaled up replica set " + rs1 + " from 2 to 6"});
  CHECK(writes == Strings{"update replicasets default/" + rs1, "update deployments/status default/web"});
  e.SetSpecInt("replicas", 0);
  CHECK(e.ReconcileEvents() == Strings{"ScalingReplicaSet: Scaled down replica set " + rs1 + " from 6 to 0"});
}

// ---- progress deadline ---------------------------------------------------------------------------

TEST_CASE("a rollout without progress exceeds its deadline at the deadline") {
  Env e;
  e.Start(2, "nginx:1.0", R"(,"progressDeadlineSeconds":60)");
  std::string rs1 = e.CurrentRSName();
  e.Reconcile();
  e.SetRSStatus(rs1, 2, 0, 0);
  e.Reconcile();  // observed replicas: progress
  CHECK(CondStr(*e.D(), "Progressing") == "True ReplicaSetUpdated: ReplicaSet \"" + rs1 + "\" is progressing.");
  e.b.Advance(30 * 1000);
  // No progress: the Deployment is queued for the deadline (30 s left, plus a second).
  e.DrainQueue();
  CHECK(e.Reconcile().empty());
  CHECK(e.c->queue().waiting() == 1);
  e.b.Advance(30 * 1000);
  CHECK(e.c->queue().Len() == 0);
  e.b.Advance(1000);
  CHECK(e.c->queue().Len() == 1);
  CHECK(e.Reconcile() == Strings{"update deployments/status default/web"});
  auto d = e.D();
  CHECK(CondStr(*d, "Progressing") ==
        "False ProgressDeadlineExceeded: ReplicaSet \"" + rs1 + "\" has timed out progressing.");
  CHECK(CondStr(*d, "Available") == "False MinimumReplicasUnavailable: Deployment does not have minimum availability.");
  // Timed out stays timed out (and is not requeued) until progress is made.
  e.b.Advance(120 * 1000);
  e.DrainQueue();
  CHECK(e.Reconcile().empty());
  CHECK(e.c->queue().waiting() == 0);
  e.SetRSStatus(rs1, 2, 2, 2);
  e.Reconcile();
  CHECK(CondStr(*e.D(), "Progressing") ==
        "True NewReplicaSetAvailable: ReplicaSet \"" + rs1 + "\" has successfully progressed.");
}

TEST_CASE("a paused Deployment never exceeds its deadline") {
  Env e;
  e.Start(2, "nginx:1.0", R"(,"progressDeadlineSeconds":60)");
  e.Reconcile();
  e.SetPaused(true);
  e.Reconcile();
  e.b.Advance(600 * 1000);
  e.Reconcile();
  CHECK(CondStr(*e.D(), "Progressing") == "Unknown DeploymentPaused: Deployment is paused");
  e.SetPaused(false);
  e.Reconcile();
  CHECK(CondStr(*e.D(), "Progressing") == "Unknown DeploymentResumed: Deployment is resumed");
}

// ---- history, adoption, failures -----------------------------------------------------------------

TEST_CASE("old ReplicaSets beyond revisionHistoryLimit are deleted, oldest first, only when empty") {
  Env e;
  e.Start(1, "nginx:1", R"(,"revisionHistoryLimit":2)");
  std::vector<std::string> names;
  for (int v = 1; v <= 5; ++v) {
    if (v > 1) e.SetImage("nginx:" + std::to_string(v));
    names.push_back(e.CurrentRSName());
    e.b.Advance(1000);
    e.Settle();
  }
  // 4 old ReplicaSets, limit 2: revisions 1 and 2 went once the rollouts completed.
  auto rss = e.AllRS();
  REQUIRE(rss.size() == 3);
  CHECK(!e.RS(names[0]));
  CHECK(!e.RS(names[1]));
  CHECK(e.RS(names[2]));
  CHECK(e.RS(names[3]));
  CHECK(e.RS(names[4]));

  // An old ReplicaSet whose controller has not observed its last change is kept.
  e.SetSpecInt("revisionHistoryLimit", 0);
  e.Mutate(kReplicaSets, names[2], [](JsonDoc& rs) { SetMember(rs["status"], "observedGeneration", JsonValue(0), rs.GetAllocator()); }, "status");
  // The spec change is observed first; cleanup waits for a complete rollout at that generation.
  CHECK(e.Reconcile() == Strings{"update deployments/status default/web"});
  CHECK(e.Reconcile() == Strings{"delete replicasets default/" + names[3]});
  CHECK(e.RS(names[2]));
}

TEST_CASE("matching orphan ReplicaSets are adopted, owned ones that stop matching released") {
  Env e;
  e.Start(1);
  std::string rs_name = e.CurrentRSName();
  std::string hash = rs_name.substr(4);
  auto d = e.D();
  // An orphan with the Deployment's template (e.g. left by `kubectl delete --cascade=orphan`).
  e.b.Seed(kReplicaSets, R"({"metadata":{"name":")" + rs_name +
                             R"(","namespace":"default","labels":{"app":"web","pod-template-hash":")" + hash +
                             R"("},"annotations":{"deployment.kubernetes.io/revision":"1"}},"spec":{"replicas":1,"selector":{"matchLabels":{"app":"web","pod-template-hash":")" +
                             hash + R"("}},"template":{"metadata":{"labels":{"app":"web","pod-template-hash":")" + hash +
                             R"("}},"spec":{"containers":[{"name":"web","image":"nginx:1.0"}]}}}})");
  // Someone else's ReplicaSet with the same labels is left alone.
  e.b.Seed(kReplicaSets, R"({"metadata":{"name":"other","namespace":"default","labels":{"app":"web"},"ownerReferences":[{"apiVersion":"apps/v1","kind":"Deployment","name":"x","uid":"other-uid","controller":true}]},"spec":{"replicas":1,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}}}}})");
  e.b.Sync();
  Strings writes = e.Reconcile();
  REQUIRE(writes.size() >= 1);
  CHECK(writes[0] == "patch replicasets default/" + rs_name);
  CHECK(ControllerRef(*e.RS(rs_name)));
  CHECK(IsControlledBy(*e.RS(rs_name), Uid(*d)));
  // Adopted, it is the new ReplicaSet: no other is created.
  CHECK(std::find(writes.begin(), writes.end(), "create replicasets default/" + rs_name) == writes.end());
  CHECK(e.AllRS().size() == 2);

  // Its labels change so that the selector no longer matches: released.
  e.Mutate(kReplicaSets, rs_name, [](JsonDoc& rs) { SetString(rs["metadata"]["labels"], "app", "other", rs.GetAllocator()); });
  e.b.api.ClearActions();
  // Released, the ReplicaSet keeps the name the template hashes to: a collision, bumped.
  CHECK(e.b.Reconcile(*e.c, kKey).IsAlreadyExists());
  bool released = false;
  for (const auto& a : e.b.api.writes()) {
    if (a.verb == "patch" && a.name == rs_name) {
      released = true;
      CHECK(a.body == R"({"metadata":{"ownerReferences":[{"$patch":"delete","uid":")" + std::string(Uid(*d)) +
                          R"("}],"uid":")" + std::string(Uid(*e.RS(rs_name))) + R"("}})");
    }
  }
  CHECK(released);
}

TEST_CASE("the adoption patch names the Deployment as controller") {
  Env e;
  e.Start(1);
  auto d = e.D();
  e.b.Seed(kReplicaSets, R"({"metadata":{"name":"old","namespace":"default","labels":{"app":"web"}},"spec":{"replicas":0,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"web","image":"old"}]}}}})");
  e.b.Sync();
  e.b.api.ClearActions();
  CHECK(e.b.Reconcile(*e.c, kKey).ok());
  auto writes = e.b.api.writes();
  REQUIRE(!writes.empty());
  CHECK(writes[0].verb == "patch");
  CHECK(writes[0].name == "old");
  CHECK(writes[0].body == R"({"metadata":{"ownerReferences":[{"apiVersion":"apps/v1","kind":"Deployment","name":"web","uid":")" +
                              std::string(Uid(*d)) +
                              R"(","controller":true,"blockOwnerDeletion":true}],"uid":")" +
                              std::string(Uid(*e.RS("old"))) + R"("}})");
  // The adopted old ReplicaSet has no revision: the new one gets revision 1.
  CHECK(Ann(*e.RS(e.CurrentRSName()), "deployment.kubernetes.io/revision") == "1");
}

TEST_CASE("a ReplicaSet's ReplicaFailure condition is surfaced on the Deployment") {
  Env e;
  e.Start(2);
  std::string rs1 = e.CurrentRSName();
  e.Reconcile();
  e.SetRSStatus(rs1, 0, 0, 0,
                R"([{"type":"ReplicaFailure","status":"True","lastTransitionTime":"2026-01-01T00:00:00Z","reason":"FailedCreate","message":"pods \"web-x\" is forbidden: exceeded quota"}])");
  e.Reconcile();
  CHECK(CondStr(*e.D(), "ReplicaFailure") == "True FailedCreate: pods \"web-x\" is forbidden: exceeded quota");
  const JsonValue* c = Cond(*e.D(), "ReplicaFailure");
  CHECK(GetString(*c, "lastUpdateTime").value_or("") == "2026-01-01T00:00:00Z");
  e.SetRSStatus(rs1, 2, 2, 2);
  e.Reconcile();
  CHECK(CondStr(*e.D(), "ReplicaFailure") == "<none>");
}

TEST_CASE("a hash collision bumps collisionCount and the next sync uses another name") {
  Env e;
  e.Start(1);
  std::string taken = e.CurrentRSName();
  // A ReplicaSet of another template already has the name.
  e.b.Seed(kReplicaSets, R"({"metadata":{"name":")" + taken +
                             R"(","namespace":"default","labels":{"app":"nope"}},"spec":{"replicas":0,"selector":{"matchLabels":{"app":"nope"}},"template":{"metadata":{"labels":{"app":"nope"}}}}})");
  e.b.Sync();
  Status st = e.ReconcileStatus();
  CHECK(st.IsAlreadyExists());
  CHECK(deployment::CollisionCount(*e.D()).value_or(-1) == 1);
  std::string other = e.CurrentRSName();
  CHECK(other != taken);
  e.Reconcile();
  CHECK(e.RS(other));
  CHECK(IsControlledBy(*e.RS(other), Uid(*e.D())));
}

TEST_CASE("a failed ReplicaSet creation is reported") {
  Env e;
  e.Start(1);
  e.b.api.SetReactor([](const client::FakeApiClient::Action& a) {
    if (a.verb == "create" && a.resource.plural == "replicasets") return Status::Forbidden("replicasets.apps is forbidden: quota");
    return Status::OK();
  });
  e.b.api.ClearActions();
  Status st = e.b.Reconcile(*e.c, kKey);
  CHECK(!st.ok());
  std::string rs = e.CurrentRSName();
  CHECK(e.Events() == Strings{"ReplicaSetCreateError: Failed to create new replica set \"" + rs +
                              "\": replicasets.apps is forbidden: quota"});
  CHECK(CondStr(*e.D(), "Progressing") == "False ReplicaSetCreateError: Failed to create new replica set \"" + rs +
                                              "\": replicasets.apps is forbidden: quota");
  e.b.api.SetReactor(nullptr);
}

TEST_CASE("a Deployment being deleted only has its status synced") {
  Env e;
  e.Start(2, "nginx:1.0", "", R"(,"finalizers":["foregroundDeletion"])");
  std::string rs1 = e.CurrentRSName();
  e.Settle();
  e.SetImage("nginx:2.0");
  e.b.api.Delete(kDeployments, "default", "web", {}, [](StatusOr<JsonDoc>) {});
  e.b.timers.RunPending();
  REQUIRE(IsBeingDeleted(*e.D()));
  Strings writes = e.Reconcile();
  CHECK(writes == Strings{"update deployments/status default/web"});
  CHECK(e.AllRS().size() == 1);
}

TEST_CASE("ReplicaSet events wake the owning Deployment; orphans wake matching ones") {
  Env e;
  e.Start(1);
  e.DrainQueue();
  e.Reconcile();
  e.DrainQueue();
  e.SetRSStatus(e.CurrentRSName(), 1, 1, 1);
  REQUIRE(e.c->queue().Len() == 1);
  CHECK(*e.c->queue().Get() == kKey);
  e.c->queue().Done(kKey);
  e.b.Seed(kReplicaSets, R"({"metadata":{"name":"orphan","namespace":"default","labels":{"app":"web"}},"spec":{"replicas":0}})");
  e.b.Seed(kReplicaSets, R"({"metadata":{"name":"stranger","namespace":"default","labels":{"app":"db"}},"spec":{"replicas":0}})");
  e.b.timers.RunPending();
  CHECK(e.c->queue().Len() == 1);
}

}  // namespace
}  // namespace minik::controllers
