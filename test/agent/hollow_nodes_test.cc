#include <catch2/catch.hpp>

#include "agent/hollow_nodes.h"
#include "client/fake_api_client.h"
#include "client/timers.h"

namespace minik::agent {
namespace {

const client::ResourceRef kNodes{"", "v1", "nodes"};
const client::ResourceRef kPods{"", "v1", "pods"};
const client::ResourceRef kLeases{"coordination.k8s.io", "v1", "leases"};

JsonDoc Json(std::string_view s) {
  auto d = ParseJson(s);
  REQUIRE(d.ok());
  return std::move(*d);
}

struct Bench {
  client::FakeTimers timers;
  client::FakeApiClient api{&timers.fake_clock()};
};

TEST_CASE("hollow nodes register, post Ready status and renew their leases every 10 s") {
  Bench b;
  HollowOptions o;
  o.count = 3;
  o.labels = {"zone=a"};
  o.taints = {"dedicated=x:NoSchedule"};
  HollowNodes h(b.api, b.timers, o);
  h.Start();
  b.timers.RunPending();
  CHECK(h.registered() == 3);
  auto node = b.api.Find(kNodes, "", "hollow-node-1");
  REQUIRE(node);
  CHECK(GetString(*Path(*node, {"metadata", "labels"}), "zone").value_or("") == "a");
  CHECK(GetString(*Path(*node, {"metadata", "labels"}), "kubernetes.io/hostname").value_or("") == "hollow-node-1");
  CHECK(GetString((*Path(*node, {"spec", "taints"}))[0], "effect").value_or("") == "NoSchedule");
  CHECK(GetString(*Path(*node, {"status", "allocatable"}), "pods").value_or("") == "110");
  const JsonValue& conds = *Path(*node, {"status", "conditions"});
  CHECK(GetString(conds[3], "type").value_or("") == "Ready");
  CHECK(GetString(conds[3], "status").value_or("") == "True");
  auto lease = b.api.Find(kLeases, "kube-node-lease", "hollow-node-1");
  REQUIRE(lease);
  std::string t0(GetString(*Path(*lease, {"spec"}), "renewTime").value_or(""));
  CHECK(GetInt(*Path(*lease, {"spec"}), "leaseDurationSeconds").value_or(0) == 40);

  b.api.ClearActions();
  b.timers.Advance(std::chrono::milliseconds(10000));
  int renewals = 0;
  for (const auto& a : b.api.writes()) {
    if (a.resource.plural == "leases" && a.verb == "patch") ++renewals;
  }
  CHECK(renewals == 3);
  lease = b.api.Find(kLeases, "kube-node-lease", "hollow-node-1");
  CHECK(GetString(*Path(*lease, {"spec"}), "renewTime").value_or("") != t0);

  // Stopped: no more renewals.
  h.Stop();
  b.api.ClearActions();
  b.timers.Advance(std::chrono::milliseconds(60000));
  CHECK(b.api.writes().empty());
}

TEST_CASE("hollow nodes run the pods bound to them and finish their deletion") {
  Bench b;
  HollowOptions o;
  o.count = 2;
  o.run_seconds = 5;
  HollowNodes h(b.api, b.timers, o);
  h.Start();
  b.timers.RunPending();
  REQUIRE(b.api.Seed(kPods, Json(R"({"metadata":{"name":"web","namespace":"d"},"spec":{"nodeName":"hollow-node-0","restartPolicy":"Always","containers":[{"name":"c","image":"busybox"}]},"status":{"phase":"Pending"}})")).ok());
  REQUIRE(b.api.Seed(kPods, Json(R"({"metadata":{"name":"other","namespace":"d"},"spec":{"nodeName":"elsewhere","containers":[{"name":"c","image":"busybox"}]},"status":{"phase":"Pending"}})")).ok());
  REQUIRE(b.api.Seed(kPods, Json(R"({"metadata":{"name":"job","namespace":"d"},"spec":{"nodeName":"hollow-node-1","restartPolicy":"Never","containers":[{"name":"c","image":"busybox"}]},"status":{"phase":"Pending"}})")).ok());
  b.timers.RunPending();
  auto web = b.api.Find(kPods, "d", "web");
  CHECK(GetString(*Path(*web, {"status"}), "phase").value_or("") == "Running");
  CHECK(GetString(*Path(*web, {"status"}), "hostIP").value_or("") == "100.64.0.1");
  CHECK(GetString(*Path(*web, {"status"}), "podIP").value_or("").rfind("10.42.", 0) == 0);
  CHECK(GetBool((*Path(*web, {"status", "containerStatuses"}))[0], "ready").value_or(false));
  CHECK(GetString(*Path(*b.api.Find(kPods, "d", "other"), {"status"}), "phase").value_or("") == "Pending");

  auto job = b.api.Find(kPods, "d", "job");
  CHECK(GetString(*Path(*job, {"status"}), "phase").value_or("") == "Running");
  b.timers.Advance(std::chrono::milliseconds(4000));
  CHECK(GetString(*Path(*b.api.Find(kPods, "d", "job"), {"status"}), "phase").value_or("") == "Running");
  b.timers.Advance(std::chrono::milliseconds(1000));
  job = b.api.Find(kPods, "d", "job");
  CHECK(GetString(*Path(*job, {"status"}), "phase").value_or("") == "Succeeded");
  const JsonValue* term = Path((*Path(*job, {"status", "containerStatuses"}))[0], {"state", "terminated"});
  REQUIRE(term);
  CHECK(GetString(*term, "reason").value_or("") == "Completed");

  // A graceful deletion is finished by the node.
  client::DeleteOptions del;
  del.grace_period_seconds = 30;
  bool deleted = false;
  b.api.Delete(kPods, "d", "web", del, [&](StatusOr<JsonDoc> r) { deleted = r.ok(); });
  REQUIRE(deleted);
  b.timers.RunPending();
  CHECK(b.api.Find(kPods, "d", "web") == nullptr);
}

}  // namespace
}  // namespace minik::agent
