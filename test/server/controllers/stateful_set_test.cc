// The StatefulSet controller: reconcile-level tests over the fake API with a simulated clock,
// asserting the exact writes and events.
#include "fixture.h"
#include "server/controllers/controller_history.h"
#include "server/controllers/stateful_set.h"

namespace minik::controllers {
namespace {

using testing::Bench;
using testing::Json;

std::string SetJson(int replicas, const std::string& extra_spec = "", const std::string& image = "nginx:1") {
  return R"({"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"web","namespace":"default"},
    "spec":{"replicas":)" +
         std::to_string(replicas) + R"(,"selector":{"matchLabels":{"app":"web"}},"serviceName":"nginx",)" + extra_spec +
         R"("template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":")" + image +
         R"("}]}},
    "volumeClaimTemplates":[{"metadata":{"name":"www"},"spec":{"accessModes":["ReadWriteOnce"],
       "resources":{"requests":{"storage":"1Gi"}}}}]}})";
}

void UpdateSet(Bench& b, const std::function<void(JsonDoc&)>& edit) {
  auto cur = b.api.Find(kStatefulSets, "default", "web");
  JsonDoc d;
  d.CopyFrom(*cur, d.GetAllocator());
  edit(d);
  b.api.Update(kStatefulSets, "default", d, "", [](StatusOr<JsonDoc> r) { REQUIRE(r.ok()); });
}

void SetPodStatus(Bench& b, const std::string& pod, const std::string& phase, bool ready) {
  auto cur = b.api.Find(kPods, "default", pod);
  REQUIRE(cur);
  JsonDoc s;
  s.CopyFrom(*cur, s.GetAllocator());
  std::string st = R"({"phase":")" + phase + R"(")";
  if (ready) st += R"(,"conditions":[{"type":"Ready","status":"True","lastTransitionTime":")" + FormatRFC3339(b.clock().Now()) + R"("}])";
  st += "}";
  SetMember(s, "status", Clone(Json(st), s.GetAllocator()), s.GetAllocator());
  b.api.Update(kPods, "default", s, "status", [](StatusOr<JsonDoc> r) { REQUIRE(r.ok()); });
}
void Ready(Bench& b, const std::string& pod) { SetPodStatus(b, pod, "Running", true); }

std::string Rev(Bench& b, const std::string& field) {
  auto set = b.api.Find(kStatefulSets, "default", "web");
  return std::string(GetString(*Path(*set, {"status"}), field).value_or(""));
}

std::string StatusJson(Bench& b) { return ToJson(*Path(*b.api.Find(kStatefulSets, "default", "web"), {"status"})); }

// "create controllerrevisions default/web-<hash>" for readable expectations.
std::vector<std::string> Writes(Bench& b) {
  std::vector<std::string> out;
  for (auto w : b.TakeWrites()) {
    if (w.rfind("create controllerrevisions default/web-", 0) == 0) w = "create controllerrevisions default/web-<hash>";
    out.push_back(w);
  }
  return out;
}

TEST_CASE("statefulset: OrderedReady creates web-0, waits for it, then web-1; claims first") {
  Bench b;
  auto c = NewStatefulSetController(b.ctx);
  b.Seed(kStatefulSets, SetJson(2));
  b.Sync();
  REQUIRE(b.Reconcile(*c, "default/web").ok());
  CHECK(b.EventReasons() == std::vector<std::string>{
                                "SuccessfulCreate: create Claim www-web-0 Pod web-0 in StatefulSet web success",
                                "SuccessfulCreate: create Pod web-0 in StatefulSet web successful"});
  CHECK(Writes(b) == std::vector<std::string>{"create controllerrevisions default/web-<hash>",
                                              "create persistentvolumeclaims default/www-web-0",
                                              "create pods default/web-0", "update statefulsets/status default/web"});
  auto revs = b.informers.For(kControllerRevisions).List();
  REQUIRE(revs.size() == 1);
  std::string rev(Name(*revs[0]));
  std::string hash(GetString(*Labels(*revs[0]), "controller-revision-hash").value_or(""));
  CHECK(rev == "web-" + hash);
  CHECK(hash == history::HashRevisionData(history::GoJson(*Path(*revs[0], {"data"})), 0));
  CHECK(GetInt(*revs[0], "revision").value_or(0) == 1);

  auto pod = b.api.Find(kPods, "default", "web-0");
  REQUIRE(pod);
  CHECK(ToJson(*Labels(*pod)) ==
        R"({"app":"web","statefulset.kubernetes.io/pod-name":"web-0","apps.kubernetes.io/pod-index":"0","controller-revision-hash":")" +
            rev + R"("})");
  CHECK(GetString(*Member(*pod, "spec"), "hostname").value_or("") == "web-0");
  CHECK(GetString(*Member(*pod, "spec"), "subdomain").value_or("") == "nginx");
  CHECK(ToJson(*Path(*pod, {"spec", "volumes"})) == R"([{"name":"www","persistentVolumeClaim":{"claimName":"www-web-0"}}])");
  CHECK(IsControlledBy(*pod, Uid(*b.api.Find(kStatefulSets, "default", "web"))));
  auto pvc = b.api.Find(kPersistentVolumeClaims, "default", "www-web-0");
  REQUIRE(pvc);
  CHECK(ToJson(*Labels(*pvc)) == R"({"app":"web"})");
  CHECK(Path(*pvc, {"metadata", "ownerReferences"}) == nullptr);  // Retain/Retain
  CHECK(StatusJson(b) == R"({"observedGeneration":1,"replicas":0,"currentRevision":")" + rev + R"(","updateRevision":")" +
                             rev + R"(","collisionCount":0,"availableReplicas":0})");

  // web-0 is not Running and Ready yet: nothing more happens.
  SetPodStatus(b, "web-0", "Pending", false);
  b.TakeWrites();
  REQUIRE(b.Reconcile(*c, "default/web").ok());
  CHECK(Writes(b) == std::vector<std::string>{"update statefulsets/status default/web"});
  CHECK(StatusJson(b) == R"({"observedGeneration":1,"replicas":1,"currentReplicas":1,"updatedReplicas":1,"currentRevision":")" +
                             rev + R"(","updateRevision":")" + rev + R"(","collisionCount":0,"availableReplicas":0})");
  REQUIRE(b.Reconcile(*c, "default/web").ok());
  CHECK(Writes(b).empty());

  Ready(b, "web-0");
  b.TakeWrites();
  REQUIRE(b.Reconcile(*c, "default/web").ok());
  CHECK(Writes(b) == std::vector<std::string>{"create persistentvolumeclaims default/www-web-1", "create pods default/web-1",
                                              "update statefulsets/status default/web"});
  CHECK(b.api.Find(kPods, "default", "web-1") != nullptr);
  Ready(b, "web-1");
  b.TakeWrites();
  REQUIRE(b.Reconcile(*c, "default/web").ok());
  CHECK(Writes(b) == std::vector<std::string>{"update statefulsets/status default/web"});
  CHECK(StatusJson(b) == R"({"observedGeneration":1,"replicas":2,"readyReplicas":2,"currentReplicas":2,"updatedReplicas":2,"currentRevision":")" +
                             rev + R"(","updateRevision":")" + rev + R"(","collisionCount":0,"availableReplicas":2})");
}

TEST_CASE("statefulset: Parallel creates every pod at once; spec.ordinals.start") {
  Bench b;
  auto c = NewStatefulSetController(b.ctx);
  b.Seed(kStatefulSets, SetJson(3, R"("podManagementPolicy":"Parallel","ordinals":{"start":5},)"));
  b.Sync();
  REQUIRE(b.Reconcile(*c, "default/web").ok());
  CHECK(Writes(b) == std::vector<std::string>{
                         "create controllerrevisions default/web-<hash>", "create persistentvolumeclaims default/www-web-5",
                         "create pods default/web-5", "create persistentvolumeclaims default/www-web-6",
                         "create pods default/web-6", "create persistentvolumeclaims default/www-web-7",
                         "create pods default/web-7", "update statefulsets/status default/web"});
  CHECK(GetString(*Labels(*b.api.Find(kPods, "default", "web-6")), "apps.kubernetes.io/pod-index").value_or("") == "6");
}

TEST_CASE("statefulset: scale down from the highest ordinal, one at a time") {
  Bench b;
  auto c = NewStatefulSetController(b.ctx);
  b.Seed(kStatefulSets, SetJson(3, R"("podManagementPolicy":"Parallel",)"));
  b.Sync();
  REQUIRE(b.Reconcile(*c, "default/web").ok());
  for (const char* p : {"web-0", "web-1", "web-2"}) Ready(b, p);
  // Back to OrderedReady for the scale down.
  UpdateSet(b, [](JsonDoc& d) {
    SetMember(*MutableMember(d, "spec"), "replicas", JsonValue(1), d.GetAllocator());
    SetString(*MutableMember(d, "spec"), "podManagementPolicy", "OrderedReady", d.GetAllocator());
  });
  b.api.ClearActions();
  REQUIRE(b.Reconcile(*c, "default/web").ok());
  CHECK(b.EventReasons() == std::vector<std::string>{"SuccessfulDelete: delete Pod web-2 in StatefulSet web successful"});
  CHECK(Writes(b) == std::vector<std::string>{"delete pods default/web-2", "update statefulsets/status default/web"});
  REQUIRE(b.Reconcile(*c, "default/web").ok());
  CHECK(Writes(b) == std::vector<std::string>{"delete pods default/web-1", "update statefulsets/status default/web"});
  // Claims are retained (whenScaled: Retain).
  CHECK(b.api.Find(kPersistentVolumeClaims, "default", "www-web-2") != nullptr);
  // The pass that deleted web-1 still counted it; this one settles the status.
  REQUIRE(b.Reconcile(*c, "default/web").ok());
  CHECK(Writes(b) == std::vector<std::string>{"update statefulsets/status default/web"});
  CHECK(StatusJson(b).find(R"("replicas":1,)") != std::string::npos);
  REQUIRE(b.Reconcile(*c, "default/web").ok());
  CHECK(Writes(b).empty());
}

TEST_CASE("statefulset: rolling update with partition, from the highest ordinal down") {
  Bench b;
  auto c = NewStatefulSetController(b.ctx);
  b.Seed(kStatefulSets, SetJson(3, R"("updateStrategy":{"type":"RollingUpdate","rollingUpdate":{"partition":0}},)"));
  b.Sync();
  for (int i = 0; i < 3; ++i) {
    REQUIRE(b.Reconcile(*c, "default/web").ok());
    Ready(b, "web-" + std::to_string(i));
  }
  REQUIRE(b.Reconcile(*c, "default/web").ok());
  std::string rev1 = Rev(b, "currentRevision");

  UpdateSet(b, [](JsonDoc& d) {
    auto& a = d.GetAllocator();
    JsonValue& spec = *MutableMember(d, "spec");
    SetString((*MutableMember(*MutableMember(*MutableMember(spec, "template"), "spec"), "containers"))[0], "image",
              "nginx:2", a);
    SetMember(*MutableMember(*MutableMember(spec, "updateStrategy"), "rollingUpdate"), "partition", JsonValue(1), a);
  });
  b.api.ClearActions();
  REQUIRE(b.Reconcile(*c, "default/web").ok());
  CHECK(Writes(b) == std::vector<std::string>{"create controllerrevisions default/web-<hash>", "delete pods default/web-2",
                                              "update statefulsets/status default/web"});
  std::string rev2 = Rev(b, "updateRevision");
  CHECK(rev2 != rev1);
  CHECK(Rev(b, "currentRevision") == rev1);
  CHECK(GetInt(*b.api.Find(kControllerRevisions, "default", rev2), "revision").value_or(0) == 2);

  REQUIRE(b.Reconcile(*c, "default/web").ok());
  CHECK(Writes(b) == std::vector<std::string>{"create pods default/web-2", "update statefulsets/status default/web"});
  auto web2 = b.api.Find(kPods, "default", "web-2");
  CHECK(GetString(*Labels(*web2), "controller-revision-hash").value_or("") == rev2);
  CHECK(GetString((*Path(*web2, {"spec", "containers"}))[0], "image").value_or("") == "nginx:2");
  // Until web-2 is ready, web-1 stays.
  REQUIRE(b.Reconcile(*c, "default/web").ok());
  CHECK(Writes(b) == std::vector<std::string>{"update statefulsets/status default/web"});
  Ready(b, "web-2");
  b.TakeWrites();
  REQUIRE(b.Reconcile(*c, "default/web").ok());
  CHECK(Writes(b) == std::vector<std::string>{"delete pods default/web-1", "update statefulsets/status default/web"});
  REQUIRE(b.Reconcile(*c, "default/web").ok());
  CHECK(Writes(b) == std::vector<std::string>{"create pods default/web-1", "update statefulsets/status default/web"});
  Ready(b, "web-1");
  b.TakeWrites();
  REQUIRE(b.Reconcile(*c, "default/web").ok());
  // web-0 is below the partition: it keeps the old revision.
  CHECK(Writes(b) == std::vector<std::string>{"update statefulsets/status default/web"});
  CHECK(StatusJson(b) == R"({"observedGeneration":2,"replicas":3,"readyReplicas":3,"currentReplicas":1,"updatedReplicas":2,"currentRevision":")" +
                             rev1 + R"(","updateRevision":")" + rev2 + R"(","collisionCount":0,"availableReplicas":3})");
  CHECK(GetString(*Labels(*b.api.Find(kPods, "default", "web-0")), "controller-revision-hash").value_or("") == rev1);

  // Partition 0 finishes the rollout; the current revision becomes the update revision.
  UpdateSet(b, [](JsonDoc& d) {
    SetMember(*MutableMember(*MutableMember(*MutableMember(d, "spec"), "updateStrategy"), "rollingUpdate"), "partition",
              JsonValue(0), d.GetAllocator());
  });
  b.TakeWrites();
  REQUIRE(b.Reconcile(*c, "default/web").ok());
  CHECK(Writes(b) == std::vector<std::string>{"delete pods default/web-0", "update statefulsets/status default/web"});
  REQUIRE(b.Reconcile(*c, "default/web").ok());
  Ready(b, "web-0");
  b.TakeWrites();
  REQUIRE(b.Reconcile(*c, "default/web").ok());
  CHECK(Rev(b, "currentRevision") == rev2);
  CHECK(StatusJson(b) == R"({"observedGeneration":3,"replicas":3,"readyReplicas":3,"currentReplicas":3,"updatedReplicas":3,"currentRevision":")" +
                             rev2 + R"(","updateRevision":")" + rev2 + R"(","collisionCount":0,"availableReplicas":3})");

  // Rolling back to the first template reuses revision 1, renumbered 3 (kubectl rollout undo).
  UpdateSet(b, [](JsonDoc& d) {
    SetString((*MutableMember(*MutableMember(*MutableMember(*MutableMember(d, "spec"), "template"), "spec"), "containers"))[0],
              "image", "nginx:1", d.GetAllocator());
  });
  b.TakeWrites();
  REQUIRE(b.Reconcile(*c, "default/web").ok());
  auto w = Writes(b);
  REQUIRE(!w.empty());
  CHECK(w[0] == "update controllerrevisions default/" + rev1);
  CHECK(GetInt(*b.api.Find(kControllerRevisions, "default", rev1), "revision").value_or(0) == 3);
  CHECK(Rev(b, "updateRevision") == rev1);
}

TEST_CASE("statefulset: OnDelete replaces pods only when they are deleted") {
  Bench b;
  auto c = NewStatefulSetController(b.ctx);
  b.Seed(kStatefulSets, SetJson(1, R"("updateStrategy":{"type":"OnDelete"},)"));
  b.Sync();
  REQUIRE(b.Reconcile(*c, "default/web").ok());
  Ready(b, "web-0");
  UpdateSet(b, [](JsonDoc& d) {
    SetString((*MutableMember(*MutableMember(*MutableMember(*MutableMember(d, "spec"), "template"), "spec"), "containers"))[0],
              "image", "nginx:2", d.GetAllocator());
  });
  b.api.ClearActions();
  REQUIRE(b.Reconcile(*c, "default/web").ok());
  CHECK(Writes(b) == std::vector<std::string>{"create controllerrevisions default/web-<hash>",
                                              "update statefulsets/status default/web"});
  b.api.Delete(kPods, "default", "web-0", {}, [](StatusOr<JsonDoc>) {});
  b.api.ClearActions();
  REQUIRE(b.Reconcile(*c, "default/web").ok());
  CHECK(Writes(b) == std::vector<std::string>{"create pods default/web-0", "update statefulsets/status default/web"});
  CHECK(GetString(*Labels(*b.api.Find(kPods, "default", "web-0")), "controller-revision-hash").value_or("") ==
        Rev(b, "updateRevision"));
}

TEST_CASE("statefulset: a failed pod is deleted and recreated") {
  Bench b;
  auto c = NewStatefulSetController(b.ctx);
  b.Seed(kStatefulSets, SetJson(1));
  b.Sync();
  REQUIRE(b.Reconcile(*c, "default/web").ok());
  SetPodStatus(b, "web-0", "Failed", false);
  b.api.ClearActions();
  REQUIRE(b.Reconcile(*c, "default/web").ok());
  CHECK(b.EventReasons() == std::vector<std::string>{"SuccessfulDelete: delete Pod web-0 in StatefulSet web successful"});
  CHECK(Writes(b) == std::vector<std::string>{"delete pods default/web-0", "update statefulsets/status default/web"});
  REQUIRE(b.Reconcile(*c, "default/web").ok());
  CHECK(Writes(b) == std::vector<std::string>{"create pods default/web-0", "update statefulsets/status default/web"});
}

TEST_CASE("statefulset: persistentVolumeClaimRetentionPolicy owner references") {
  Bench b;
  auto c = NewStatefulSetController(b.ctx);
  b.Seed(kStatefulSets,
         SetJson(2, R"("persistentVolumeClaimRetentionPolicy":{"whenDeleted":"Delete","whenScaled":"Delete"},)"));
  b.Sync();
  REQUIRE(b.Reconcile(*c, "default/web").ok());
  CHECK(Writes(b) == std::vector<std::string>{"create controllerrevisions default/web-<hash>",
                                              "create persistentvolumeclaims default/www-web-0", "create pods default/web-0",
                                              "update persistentvolumeclaims default/www-web-0",
                                              "update statefulsets/status default/web"});
  auto set = b.api.Find(kStatefulSets, "default", "web");
  auto pvc = b.api.Find(kPersistentVolumeClaims, "default", "www-web-0");
  const JsonValue* refs = Path(*pvc, {"metadata", "ownerReferences"});
  REQUIRE(refs);
  REQUIRE(refs->Size() == 1);
  CHECK(GetString((*refs)[0], "kind").value_or("") == "StatefulSet");
  CHECK(GetString((*refs)[0], "uid").value_or("") == Uid(*set));

  // Scaled down: the claim of the condemned pod is handed to the pod (deleted with it).
  Ready(b, "web-0");
  REQUIRE(b.Reconcile(*c, "default/web").ok());
  Ready(b, "web-1");
  UpdateSet(b, [](JsonDoc& d) { SetMember(*MutableMember(d, "spec"), "replicas", JsonValue(1), d.GetAllocator()); });
  b.api.ClearActions();
  REQUIRE(b.Reconcile(*c, "default/web").ok());
  CHECK(Writes(b) == std::vector<std::string>{"update persistentvolumeclaims default/www-web-1", "delete pods default/web-1",
                                              "update statefulsets/status default/web"});
  pvc = b.api.Find(kPersistentVolumeClaims, "default", "www-web-1");
  refs = Path(*pvc, {"metadata", "ownerReferences"});
  REQUIRE(refs);
  REQUIRE(refs->Size() == 1);
  CHECK(GetString((*refs)[0], "kind").value_or("") == "Pod");
  CHECK(GetString((*refs)[0], "name").value_or("") == "web-1");
}

TEST_CASE("statefulset: revision history is truncated to revisionHistoryLimit") {
  Bench b;
  auto c = NewStatefulSetController(b.ctx);
  b.Seed(kStatefulSets, SetJson(0, R"("revisionHistoryLimit":1,)"));
  b.Sync();
  REQUIRE(b.Reconcile(*c, "default/web").ok());
  std::vector<std::string> names;
  for (int i = 2; i <= 4; ++i) {
    UpdateSet(b, [i](JsonDoc& d) {
      SetString((*MutableMember(*MutableMember(*MutableMember(*MutableMember(d, "spec"), "template"), "spec"), "containers"))[0],
                "image", "nginx:" + std::to_string(i), d.GetAllocator());
    });
    REQUIRE(b.Reconcile(*c, "default/web").ok());
  }
  // As upstream, a pass truncates the revisions it listed (the one it creates is not among
  // them): live are the current (3) and update (4) revisions, one more (2) is kept.
  auto revs = b.informers.For(kControllerRevisions).List();
  history::SortRevisions(revs);
  REQUIRE(revs.size() == 3);
  CHECK(GetInt(*revs[0], "revision").value_or(0) == 2);
  CHECK(GetInt(*revs[2], "revision").value_or(0) == 4);
  REQUIRE(b.Reconcile(*c, "default/web").ok());
  revs = b.informers.For(kControllerRevisions).List();
  history::SortRevisions(revs);
  REQUIRE(revs.size() == 2);
  CHECK(GetInt(*revs[0], "revision").value_or(0) == 3);
}

TEST_CASE("history: truncation keeps live revisions") {
  std::vector<client::ObjectPtr> revs;
  for (int i = 1; i <= 5; ++i) {
    revs.push_back(std::make_shared<const JsonDoc>(
        Json(R"({"metadata":{"name":"r)" + std::to_string(i) + R"("},"revision":)" + std::to_string(i) + "}")));
  }
  auto del = history::RevisionsToTruncate(revs, {"r1", "r5"}, 1);
  REQUIRE(del.size() == 2);
  CHECK(Name(*del[0]) == "r2");
  CHECK(Name(*del[1]) == "r3");
  CHECK(history::RevisionsToTruncate(revs, {}, 10).empty());
}

}  // namespace
}  // namespace minik::controllers
