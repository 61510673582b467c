// The ReplicationController controller: the ReplicaSet logic for v1 ReplicationControllers with a map
// selector.
#include "server/controllers/replication_controller.h"

#include "fixture.h"

namespace minik::controllers {
namespace {

using testing::Bench;
using testing::Json;
using Writes = std::vector<std::string>;

std::string RcJson(int replicas) {
  return R"({"apiVersion":"v1","kind":"ReplicationController","metadata":{"name":"web","namespace":"ns"},"spec":{"replicas":)" +
         std::to_string(replicas) +
         R"(,"selector":{"app":"web"},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"nginx"}]}}}})";
}

// The status the controller last wrote (the fake stores it as sent).
JsonDoc LastStatus(Bench &b) {
  auto obj = b.api.Find(kReplicationControllers, "ns", "web");
  JsonDoc st(rapidjson::kObjectType);
  if (!obj) FAIL("no object");
  if (const JsonValue *s = Member(*obj, "status")) st.CopyFrom(*s, st.GetAllocator());
  return st;
}

TEST_CASE(
    "a ReplicationController creates pods it controls as v1 "
    "ReplicationController") {
  Bench b;
  auto c = NewReplicationControllerController(b.ctx);
  CHECK(c->name() == "replicationcontroller");
  b.Seed(kReplicationControllers, RcJson(2));
  b.Sync();
  REQUIRE(b.Reconcile(*c, "ns/web").ok());
  CHECK(b.TakeWrites(true).size() == 5);  // 2 pods, 2 events, status
  auto pods = b.informers.For(kPods).List();
  REQUIRE(pods.size() == 2);
  for (const auto &p : pods) {
    const JsonValue *ref = ControllerRef(*p);
    REQUIRE(ref);
    CHECK(GetString(*ref, "apiVersion").value_or("") == "v1");
    CHECK(GetString(*ref, "kind").value_or("") == "ReplicationController");
    CHECK(GetString(*Path(*p, {"metadata"}), "generateName").value_or("") == "web-");
  }
  b.api.ClearActions();
  REQUIRE(b.Reconcile(*c, "ns/web").ok());
  CHECK(b.TakeWrites() == Writes{"update replicationcontrollers/status ns/web"});
  CHECK(ToJson(LastStatus(b)) == R"({"replicas":2,"fullyLabeledReplicas":2,"observedGeneration":1})");
}

TEST_CASE(
    "a ReplicationController adopts orphans by its map selector and "
    "ignores ReplicaSet pods") {
  Bench b;
  auto c = NewReplicationControllerController(b.ctx);
  auto rc = b.Seed(kReplicationControllers, RcJson(2));
  b.Seed(kPods, R"({"metadata":{"name":"orphan","namespace":"ns","labels":{"app":"web","extra":"1"}}})");
  b.Seed(kPods, R"({"metadata":{"name":"other","namespace":"ns","labels":{"app":"db"}}})");
  // Controlled by a ReplicaSet: never claimed.
  b.Seed(
      kPods,
      R"({"metadata":{"name":"rs-pod","namespace":"ns","labels":{"app":"web"},"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"x","uid":"rs-uid","controller":true}]}})");
  b.Sync();
  b.api.ClearActions();
  REQUIRE(b.Reconcile(*c, "ns/web").ok());
  CHECK(b.TakeWrites() ==
        Writes{"patch pods ns/orphan", "create pods ns/", "update replicationcontrollers/status ns/web"});
  for (const auto &a : b.api.actions()) {
    if (a.verb == "patch") {
      CHECK(a.body.find(R"("apiVersion":"v1","kind":"ReplicationController","name":"web","uid":")" +
                        std::string(Uid(*rc)) + "\"") != std::string::npos);
    }
  }
  CHECK(IsControlledBy(*b.api.Find(kPods, "ns", "orphan"), Uid(*rc)));
  CHECK(ToJson(LastStatus(b)) == R"({"replicas":1,"fullyLabeledReplicas":1,"observedGeneration":1})");
}

TEST_CASE("ReplicationController events come from the replication-controller") {
  Bench b;
  auto c = NewReplicationControllerController(b.ctx);
  b.Seed(kReplicationControllers, RcJson(1));
  b.Sync();
  b.api.SetReactor([](const client::FakeApiClient::Action &a) {
    if (a.verb == "create" && a.resource.plural == "pods")
      return Status::Forbidden("pods \"web-\" is forbidden: exceeded quota");
    return Status::OK();
  });
  CHECK_FALSE(b.Reconcile(*c, "ns/web").ok());
  CHECK(b.EventReasons() == std::vector<std::string>{"FailedCreate: Error creating: pods \"web-\" "
                                                     "is forbidden: exceeded quota"});
  for (const auto &a : b.api.writes()) {
    if (a.resource.plural != "events") continue;
    auto ev = Json(a.body);
    CHECK(GetString(*Path(ev, {"source"}), "component").value_or("") == "replication-controller");
    CHECK(GetString(*Path(ev, {"involvedObject"}), "kind").value_or("") == "ReplicationController");
    CHECK(GetString(*Path(ev, {"involvedObject"}), "apiVersion").value_or("") == "v1");
  }
  auto last_status = LastStatus(b);
  const JsonValue *cond = FindCondition(last_status, "ReplicaFailure");
  REQUIRE(cond);
  CHECK(GetString(*cond, "reason").value_or("") == "FailedCreate");
}

TEST_CASE("a ReplicationController with an empty selector selects nothing") {
  Bench b;
  auto c = NewReplicationControllerController(b.ctx);
  b.Seed(kReplicationControllers,
         R"({"metadata":{"name":"web","namespace":"ns"},"spec":{"replicas":0,"selector":{}}})");
  b.Seed(kPods, R"({"metadata":{"name":"orphan","namespace":"ns","labels":{"app":"web"}}})");
  b.Sync();
  b.api.ClearActions();
  REQUIRE(b.Reconcile(*c, "ns/web").ok());
  CHECK(b.TakeWrites() == Writes{"update replicationcontrollers/status ns/web"});
}

}  // namespace
}  // namespace minik::controllers
