// The disruption controller: PDB status for minAvailable and maxUnavailable, int and percent,
// the DisruptionAllowed condition, disruptedPods, the fail-safe status, writes only on change.
#include "server/controllers/disruption.h"

#include "fixture.h"

namespace minik::controllers {
namespace {

using testing::Bench;
using testing::Json;

struct Setup {
  Bench b;
  ControllerPtr c = NewDisruptionController(b.ctx);
  client::ObjectPtr deployment;
  client::ObjectPtr rs;
  std::vector<std::string> events;  // "reason: message", kept across TakeWrites

  // A Deployment of `replicas` owning a ReplicaSet owning `ready` ready pods and
  // `unready` unready ones.
  void Workload(int replicas, int ready, int unready) {
    deployment = b.Seed(kDeployments, R"({"metadata":{"name":"web","namespace":"default"},"spec":{"replicas":)" +
                                          std::to_string(replicas) + R"(,"selector":{"matchLabels":{"app":"web"}}}})");
    rs = b.Seed(kReplicaSets, R"({"metadata":{"name":"web-7d4b9c","namespace":"default","ownerReferences":[{"apiVersion":"apps/v1","kind":"Deployment","name":"web","uid":")" +
                                  std::string(Uid(*deployment)) + R"(","controller":true}]},"spec":{"replicas":)" +
                                  std::to_string(replicas) + "}}");
    for (int i = 0; i < ready + unready; ++i) {
      b.Seed(kPods, R"({"metadata":{"name":"web-)" + std::to_string(i) +
                        R"(","namespace":"default","labels":{"app":"web"},"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"web-7d4b9c","uid":")" +
                        std::string(Uid(*rs)) + R"(","controller":true}]},"spec":{},"status":{"phase":"Running","conditions":[{"type":"Ready","status":")" +
                        (i < ready ? "True" : "False") + R"("}]}})");
    }
  }

  JsonDoc Status(const std::string& spec) {
    b.Seed(kPodDisruptionBudgets, R"({"apiVersion":"policy/v1","kind":"PodDisruptionBudget","metadata":{"name":"pdb","namespace":"default"},"spec":)" +
                                      spec + R"(,"status":{"disruptionsAllowed":0,"currentHealthy":0,"desiredHealthy":0,"expectedPods":0}})");
    b.Sync();
    b.TakeWrites();
    REQUIRE(b.Reconcile(*c, "default/pdb").ok());
    auto w = b.api.writes();
    std::vector<std::string> got;
    for (const auto& x : w) {
      if (x.resource.plural != "events") got.push_back(x.ToString());
    }
    CHECK(got == std::vector<std::string>{"update poddisruptionbudgets/status default/pdb"});
    for (auto& e : b.EventReasons()) events.push_back(e);
    auto pdb = b.api.Find(kPodDisruptionBudgets, "default", "pdb");
    JsonDoc st;
    st.CopyFrom(*Member(*pdb, "status"), st.GetAllocator());
    b.TakeWrites();
    // Nothing changed: no second write.
    REQUIRE(b.Reconcile(*c, "default/pdb").ok());
    CHECK(b.TakeWrites().empty());
    return st;
  }
};

int64_t I(const JsonValue& st, const char* f) { return GetInt(st, f).value_or(-1); }

std::string Cond(const JsonValue& st, const char* field) {
  const JsonValue* c = FindCondition(st, "DisruptionAllowed");
  return c ? std::string(GetString(*c, field).value_or("")) : "<none>";
}

TEST_CASE("minAvailable as an int counts the selected pods") {
  Setup s;
  s.Workload(3, 3, 0);
  auto st = s.Status(R"({"minAvailable":2,"selector":{"matchLabels":{"app":"web"}}})");
  CHECK(I(st, "observedGeneration") == 1);
  CHECK(I(st, "currentHealthy") == 3);
  CHECK(I(st, "desiredHealthy") == 2);
  CHECK(I(st, "expectedPods") == 3);
  CHECK(I(st, "disruptionsAllowed") == 1);
  CHECK(Cond(st, "status") == "True");
  CHECK(Cond(st, "reason") == "SufficientPods");
  CHECK(Cond(st, "message") == "");
  CHECK(GetInt(*FindCondition(st, "DisruptionAllowed"), "observedGeneration").value_or(0) == 1);
  CHECK(ToJson(st).find(R"("conditions":[{"type":"DisruptionAllowed","status":"True","observedGeneration":1,"lastTransitionTime":)") !=
        std::string::npos);
}

TEST_CASE("minAvailable as a percent takes the scale of the Deployment") {
  Setup s;
  s.Workload(4, 2, 1);  // 3 pods exist, the Deployment wants 4
  auto st = s.Status(R"({"minAvailable":"50%","selector":{"matchLabels":{"app":"web"}}})");
  CHECK(I(st, "expectedPods") == 4);
  CHECK(I(st, "desiredHealthy") == 2);
  CHECK(I(st, "currentHealthy") == 2);
  CHECK(I(st, "disruptionsAllowed") == 0);
  CHECK(Cond(st, "status") == "False");
  CHECK(Cond(st, "reason") == "InsufficientPods");
}

TEST_CASE("maxUnavailable as an int and as a percent (rounded up)") {
  {
    Setup s;
    s.Workload(3, 3, 0);
    auto st = s.Status(R"({"maxUnavailable":1,"selector":{"matchLabels":{"app":"web"}}})");
    CHECK(I(st, "expectedPods") == 3);
    CHECK(I(st, "desiredHealthy") == 2);
    CHECK(I(st, "disruptionsAllowed") == 1);
  }
  {
    Setup s;
    s.Workload(5, 5, 0);
    auto st = s.Status(R"({"maxUnavailable":"30%","selector":{"matchLabels":{"app":"web"}}})");
    CHECK(I(st, "expectedPods") == 5);
    CHECK(I(st, "desiredHealthy") == 3);  // 5 - ceil(1.5)
    CHECK(I(st, "disruptionsAllowed") == 2);
  }
}

TEST_CASE("a pod without a known controller makes the status fail safe") {
  Setup s;
  s.b.Seed(kPods, R"({"metadata":{"name":"lonely","namespace":"default","labels":{"app":"web"},"ownerReferences":[{"apiVersion":"example.com/v1","kind":"Thing","name":"t","uid":"u9","controller":true}]},"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}})");
  auto st = s.Status(R"({"maxUnavailable":"10%","selector":{"matchLabels":{"app":"web"}}})");
  CHECK(I(st, "disruptionsAllowed") == 0);
  CHECK(Cond(st, "status") == "False");
  CHECK(Cond(st, "reason") == "SyncFailed");
  CHECK(Cond(st, "message") == "found no controllers for pod \"lonely\"");
  auto ev = s.events;
  CHECK(std::find(ev.begin(), ev.end(),
                  "CalculateExpectedPodCountFailed: Failed to calculate the number of expected pods: found no controllers "
                  "for pod \"lonely\"") != ev.end());
}

TEST_CASE("no matching pods: NoPods event and zero allowed") {
  Setup s;
  auto st = s.Status(R"({"minAvailable":1,"selector":{"matchLabels":{"app":"none"}}})");
  CHECK(I(st, "expectedPods") == 0);
  CHECK(I(st, "disruptionsAllowed") == 0);
  auto ev = s.events;
  CHECK(std::find(ev.begin(), ev.end(), "NoPods: No matching pods found") != ev.end());
}

TEST_CASE("disrupted pods are not healthy for 2 minutes, then dropped") {
  Setup s;
  s.Workload(3, 3, 0);
  std::string at = FormatRFC3339(s.b.clock().Now());
  s.b.Seed(kPodDisruptionBudgets, R"({"metadata":{"name":"pdb","namespace":"default","generation":1},"spec":{"minAvailable":1,"selector":{"matchLabels":{"app":"web"}}},"status":{"observedGeneration":1,"disruptedPods":{"web-0":")" +
                                       at + R"("},"disruptionsAllowed":1,"currentHealthy":3,"desiredHealthy":1,"expectedPods":3}})");
  s.c->Start();
  s.b.Sync();
  auto pdb = s.b.api.Find(kPodDisruptionBudgets, "default", "pdb");
  const JsonValue& st = *Member(*pdb, "status");
  CHECK(I(st, "currentHealthy") == 2);
  CHECK(I(st, "disruptionsAllowed") == 1);
  CHECK(GetString(*Member(st, "disruptedPods"), "web-0").value_or("") == at);
  s.b.TakeWrites();
  // The pod was not deleted within 2 minutes: the PDB is rechecked then and counts it again.
  s.b.Advance(120001);
  pdb = s.b.api.Find(kPodDisruptionBudgets, "default", "pdb");
  const JsonValue& st2 = *Member(*pdb, "status");
  CHECK(I(st2, "currentHealthy") == 3);
  CHECK(I(st2, "disruptionsAllowed") == 2);
  CHECK(Member(st2, "disruptedPods") == nullptr);
  auto ev = s.b.EventReasons();
  CHECK(std::find(ev.begin(), ev.end(), "NotDeleted: Pod was expected by PDB default/default to be deleted but it wasn't") !=
        ev.end());
}

TEST_CASE("a pod becoming unready updates the PDB through the pod's event") {
  Setup s;
  s.Workload(2, 2, 0);
  s.b.Seed(kPodDisruptionBudgets, R"({"metadata":{"name":"pdb","namespace":"default"},"spec":{"minAvailable":1,"selector":{"matchLabels":{"app":"web"}}}})");
  s.c->Start();
  s.b.Sync();
  CHECK(I(*Member(*s.b.api.Find(kPodDisruptionBudgets, "default", "pdb"), "status"), "disruptionsAllowed") == 1);
  auto pod = s.b.api.Find(kPods, "default", "web-1");
  JsonDoc d;
  d.CopyFrom(*pod, d.GetAllocator());
  SetString((*MutableMember(*MutableMember(d, "status"), "conditions"))[0], "status", "False", d.GetAllocator());
  s.b.api.Update(kPods, "default", d, "status", [](StatusOr<JsonDoc> r) { REQUIRE(r.ok()); });
  s.b.timers.RunPending();
  auto st = Member(*s.b.api.Find(kPodDisruptionBudgets, "default", "pdb"), "status");
  CHECK(I(*st, "currentHealthy") == 1);
  CHECK(I(*st, "disruptionsAllowed") == 0);
  CHECK(Cond(*st, "reason") == "InsufficientPods");
}

TEST_CASE("a stale DisruptionTarget condition is reset after 2 minutes") {
  Bench b;
  auto c = NewDisruptionController(b.ctx);
  b.Seed(kPods, R"({"metadata":{"name":"p","namespace":"default"},"status":{"phase":"Running","conditions":[{"type":"DisruptionTarget","status":"True","reason":"EvictionByEvictionAPI","message":"Eviction API: evicting","lastTransitionTime":")" +
                    FormatRFC3339(b.clock().Now()) + R"("}]}})");
  c->Start();
  b.Sync();
  CHECK(b.TakeWrites().empty());
  b.Advance(120000);
  CHECK(b.TakeWrites() == std::vector<std::string>{"patch pods/status default/p"});
  auto p = b.api.Find(kPods, "default", "p");
  const JsonValue* cond = FindCondition(*Member(*p, "status"), "DisruptionTarget");
  CHECK(GetString(*cond, "status").value_or("") == "False");
}

}  // namespace
}  // namespace minik::controllers
