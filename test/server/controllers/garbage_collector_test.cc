// The garbage collector with a Deployment -> ReplicaSet -> Pod chain: background, foreground
// (blocking, then finalizer removal) and orphan propagation, dangling references and owners
// recreated under the same name.
#include "server/controllers/garbage_collector.h"

#include "fixture.h"

namespace minik::controllers {
namespace {

using testing::Bench;
using testing::Json;

std::string Ref(const std::string& api_version, const std::string& kind, const client::ObjectPtr& owner,
                bool block = true) {
  return R"({"apiVersion":")" + api_version + R"(","kind":")" + kind + R"(","name":")" + std::string(Name(*owner)) +
         R"(","uid":")" + std::string(Uid(*owner)) + R"(","controller":true,"blockOwnerDeletion":)" +
         (block ? "true" : "false") + "}";
}

struct Chain {
  client::ObjectPtr d, rs, p1, p2;
};

Chain SeedChain(Bench& b) {
  Chain c;
  c.d = b.Seed(kDeployments, R"({"metadata":{"name":"web","namespace":"ns"},"spec":{"replicas":2}})");
  c.rs = b.Seed(kReplicaSets, R"({"metadata":{"name":"web-1","namespace":"ns","ownerReferences":[)" +
                                  Ref("apps/v1", "Deployment", c.d) + R"(]},"spec":{"replicas":2}})");
  c.p1 = b.Seed(kPods, R"({"metadata":{"name":"web-1-a","namespace":"ns","ownerReferences":[)" +
                           Ref("apps/v1", "ReplicaSet", c.rs) + R"(]},"spec":{}})");
  c.p2 = b.Seed(kPods, R"({"metadata":{"name":"web-1-b","namespace":"ns","ownerReferences":[)" +
                           Ref("apps/v1", "ReplicaSet", c.rs) + R"(]},"spec":{}})");
  return c;
}

void Delete(Bench& b, const client::ResourceRef& res, const std::string& name, const std::string& policy) {
  client::DeleteOptions o;
  o.propagation_policy = policy;
  b.api.Delete(res, "ns", name, o, [](StatusOr<JsonDoc> r) { REQUIRE(r.ok()); });
  b.timers.RunPending();
  b.api.ClearActions();
}

std::vector<std::string> Gets(Bench& b) {
  std::vector<std::string> out;
  for (const auto& a : b.api.actions()) {
    if (a.verb == "get") out.push_back(a.ToString());
  }
  return out;
}

TEST_CASE("objects whose owners are present are left alone without API calls") {
  Bench b;
  auto gc = NewGarbageCollectorController(b.ctx);
  SeedChain(b);
  b.Sync();
  b.api.ClearActions();
  for (const char* k : {"deployments.apps|ns/web", "replicasets.apps|ns/web-1", "pods|ns/web-1-a", "pods|ns/nope", "bogus"}) {
    REQUIRE(b.Reconcile(*gc, k).ok());
  }
  CHECK(b.api.actions().empty());
}

TEST_CASE("background: dependents of a deleted owner are deleted down the chain") {
  Bench b;
  auto gc = NewGarbageCollectorController(b.ctx);
  auto c = SeedChain(b);
  b.Sync();
  Delete(b, kDeployments, "web", "Background");
  REQUIRE(b.api.Find(kDeployments, "ns", "web") == nullptr);
  CHECK(gc->queue().Len() == 3);  // the objects with owners (initial adds; the deletion re-adds the ReplicaSet)

  REQUIRE(b.Reconcile(*gc, "replicasets.apps|ns/web-1").ok());
  CHECK(Gets(b) == std::vector<std::string>{"get replicasets ns/web-1", "get deployments ns/web"});
  auto writes = b.api.writes();
  REQUIRE(writes.size() == 1);
  CHECK(writes[0].body == R"({"propagationPolicy":"Background","preconditions":{"uid":")" + std::string(Uid(*c.rs)) +
                              R"(","resourceVersion":")" + std::string(client::MetaString(*c.rs, "resourceVersion")) +
                              R"("}})");
  CHECK(b.TakeWrites() == std::vector<std::string>{"delete replicasets ns/web-1"});

  REQUIRE(b.Reconcile(*gc, "pods|ns/web-1-a").ok());
  REQUIRE(b.Reconcile(*gc, "pods|ns/web-1-b").ok());
  CHECK(b.TakeWrites() == std::vector<std::string>{"delete pods ns/web-1-a", "delete pods ns/web-1-b"});
  CHECK(b.api.Find(kPods, "ns", "web-1-a") == nullptr);
}

TEST_CASE("an owner recreated under the same name counts as absent") {
  Bench b;
  auto gc = NewGarbageCollectorController(b.ctx);
  SeedChain(b);
  b.Sync();
  Delete(b, kDeployments, "web", "Background");
  b.Seed(kDeployments, R"({"metadata":{"name":"web","namespace":"ns"},"spec":{"replicas":1}})");
  b.timers.RunPending();
  b.api.ClearActions();
  REQUIRE(b.Reconcile(*gc, "replicasets.apps|ns/web-1").ok());
  CHECK(b.TakeWrites() == std::vector<std::string>{"delete replicasets ns/web-1"});
}

TEST_CASE("dangling references next to a live owner are removed, not the object") {
  Bench b;
  auto gc = NewGarbageCollectorController(b.ctx);
  auto c = SeedChain(b);
  auto gone = b.Seed(kConfigMaps, R"({"metadata":{"name":"tmp","namespace":"ns"}})");
  auto cm = b.Seed(kConfigMaps, R"({"metadata":{"name":"cm","namespace":"ns","ownerReferences":[)" +
                                    Ref("apps/v1", "Deployment", c.d, false) + "," + Ref("v1", "ConfigMap", gone, false) +
                                    "]}}");
  b.api.Delete(kConfigMaps, "ns", "tmp", {}, [](StatusOr<JsonDoc>) {});
  b.Sync();
  b.api.ClearActions();
  REQUIRE(b.Reconcile(*gc, "configmaps|ns/cm").ok());
  auto writes = b.api.writes();
  REQUIRE(writes.size() == 1);
  CHECK(writes[0].body == R"({"metadata":{"resourceVersion":")" + std::string(client::MetaString(*cm, "resourceVersion")) +
                              R"(","ownerReferences":[)" + Ref("apps/v1", "Deployment", c.d, false) + "]}}");
  CHECK(b.TakeWrites() == std::vector<std::string>{"patch configmaps ns/cm"});
  REQUIRE(b.api.Find(kConfigMaps, "ns", "cm"));
}

TEST_CASE("foreground: dependents go first, blocking owners until gone, then finalizers are removed") {
  Bench b;
  auto gc = NewGarbageCollectorController(b.ctx);
  SeedChain(b);
  b.Sync();
  Delete(b, kDeployments, "web", "Foreground");
  REQUIRE(b.api.Find(kDeployments, "ns", "web"));

  // The Deployment waits for its ReplicaSet (blockOwnerDeletion).
  REQUIRE(b.Reconcile(*gc, "deployments.apps|ns/web").ok());
  CHECK(b.TakeWrites().empty());

  // The ReplicaSet has dependents of its own: deleted in the foreground too.
  REQUIRE(b.Reconcile(*gc, "replicasets.apps|ns/web-1").ok());
  REQUIRE(b.api.writes().size() == 1);
  CHECK(b.api.writes()[0].body.find(R"("propagationPolicy":"Foreground")") != std::string::npos);
  CHECK(b.TakeWrites() == std::vector<std::string>{"delete replicasets ns/web-1"});
  b.timers.RunPending();

  // The ReplicaSet now waits for its pods; the pods go in the background.
  REQUIRE(b.Reconcile(*gc, "replicasets.apps|ns/web-1").ok());
  REQUIRE(b.Reconcile(*gc, "deployments.apps|ns/web").ok());
  CHECK(b.TakeWrites().empty());
  REQUIRE(b.Reconcile(*gc, "pods|ns/web-1-a").ok());
  REQUIRE(b.Reconcile(*gc, "pods|ns/web-1-b").ok());
  REQUIRE(b.api.writes().size() == 2);
  CHECK(b.api.writes()[0].body.find(R"("propagationPolicy":"Background")") != std::string::npos);
  CHECK(b.TakeWrites() == std::vector<std::string>{"delete pods ns/web-1-a", "delete pods ns/web-1-b"});
  b.timers.RunPending();

  // No blocking dependent left: the finalizer goes and the API server finishes the deletion.
  REQUIRE(b.Reconcile(*gc, "replicasets.apps|ns/web-1").ok());
  REQUIRE(b.api.writes().size() == 1);
  CHECK(b.api.writes()[0].body.find(R"("finalizers":null)") != std::string::npos);
  CHECK(b.TakeWrites() == std::vector<std::string>{"patch replicasets ns/web-1"});
  CHECK(b.api.Find(kReplicaSets, "ns", "web-1") == nullptr);
  b.timers.RunPending();
  REQUIRE(b.Reconcile(*gc, "deployments.apps|ns/web").ok());
  CHECK(b.TakeWrites() == std::vector<std::string>{"patch deployments ns/web"});
  CHECK(b.api.Find(kDeployments, "ns", "web") == nullptr);
}

TEST_CASE("orphan: the owner reference is removed from dependents, then the finalizer") {
  Bench b;
  auto gc = NewGarbageCollectorController(b.ctx);
  auto c = SeedChain(b);
  b.Sync();
  Delete(b, kDeployments, "web", "Orphan");
  REQUIRE(b.Reconcile(*gc, "deployments.apps|ns/web").ok());
  auto writes = b.api.writes();
  REQUIRE(writes.size() == 2);
  CHECK(writes[0].body == R"({"metadata":{"resourceVersion":")" + std::string(client::MetaString(*c.rs, "resourceVersion")) +
                              R"(","ownerReferences":null}})");
  CHECK(b.TakeWrites() == std::vector<std::string>{"patch replicasets ns/web-1", "patch deployments ns/web"});
  CHECK(b.api.Find(kDeployments, "ns", "web") == nullptr);
  auto rs = b.api.Find(kReplicaSets, "ns", "web-1");
  REQUIRE(rs);
  CHECK(Path(*rs, {"metadata", "ownerReferences"}) == nullptr);
  // The orphaned ReplicaSet and its pods stay.
  b.timers.RunPending();
  b.api.ClearActions();
  REQUIRE(b.Reconcile(*gc, "replicasets.apps|ns/web-1").ok());
  REQUIRE(b.Reconcile(*gc, "pods|ns/web-1-a").ok());
  CHECK(b.TakeWrites().empty());
}

TEST_CASE("a conflict on the resourceVersion precondition is retried on the uid alone when owners did not change") {
  Bench b;
  auto gc = NewGarbageCollectorController(b.ctx);
  SeedChain(b);
  b.Sync();
  Delete(b, kDeployments, "web", "Background");
  int deletes = 0;
  b.api.SetReactor([&deletes](const client::FakeApiClient::Action& a) {
    if (a.verb == "delete" && ++deletes == 1) return Status::Conflict("the object has been modified");
    return Status::OK();
  });
  REQUIRE(b.Reconcile(*gc, "replicasets.apps|ns/web-1").ok());
  auto writes = b.api.writes();
  REQUIRE(writes.size() == 2);
  CHECK(writes[1].body.find("resourceVersion") == std::string::npos);
  CHECK(b.api.Find(kReplicaSets, "ns", "web-1") == nullptr);
}

}  // namespace
}  // namespace minik::controllers
