// The pod garbage collector: terminated pods beyond the threshold, orphaned pods after the
// quarantine and a live GET, terminating pods that were never scheduled or sit on an
// out-of-service node.
#include "server/controllers/pod_gc.h"

#include "fixture.h"

namespace minik::controllers {
namespace {

using testing::Bench;
using testing::Json;

std::string PodJson(const std::string& name, const std::string& node, const std::string& phase,
                    const std::string& extra_status = "") {
  return R"({"metadata":{"name":")" + name + R"(","namespace":"default"},"spec":{)" +
         (node.empty() ? "" : R"("nodeName":")" + node + R"(",)") + R"("containers":[{"name":"c","image":"i"}]},"status":{"phase":")" +
         phase + R"(")" + extra_status + "}}";
}

TEST_CASE("terminated pods beyond the threshold are deleted, evicted ones first, then the oldest") {
  Bench b;
  PodGcOptions opts;
  opts.terminated_pod_threshold = 2;
  auto c = NewPodGcController(b.ctx, opts);
  b.Seed(kNodes, R"({"metadata":{"name":"n1"}})");
  b.Seed(kPods, PodJson("a-old", "n1", "Succeeded"));
  b.Advance(1000);
  b.Seed(kPods, PodJson("b-evicted", "n1", "Failed", R"(,"reason":"Evicted")"));
  b.Advance(1000);
  b.Seed(kPods, PodJson("c-mid", "n1", "Failed"));
  b.Advance(1000);
  b.Seed(kPods, PodJson("d-new", "n1", "Succeeded"));
  b.Seed(kPods, PodJson("running", "n1", "Running"));
  b.Sync();
  REQUIRE(b.Reconcile(*c, kPodGcKey).ok());
  CHECK(b.TakeWrites() == std::vector<std::string>{"delete pods default/b-evicted", "delete pods default/a-old"});
  auto d = b.api.writes();
  REQUIRE(b.Reconcile(*c, kPodGcKey).ok());
  CHECK(b.TakeWrites().empty());
}

TEST_CASE("terminated pods trigger a batched scan, not a poll") {
  Bench b;
  PodGcOptions opts;
  opts.terminated_pod_threshold = 1;
  auto c = NewPodGcController(b.ctx, opts);
  c->Start();
  b.Sync();
  b.Advance(600000);
  CHECK(b.timers.timers() == 0);  // idle: no timer armed
  b.Seed(kPods, PodJson("p1", "", "Succeeded"));
  b.Seed(kPods, PodJson("p2", "", "Succeeded"));
  b.timers.RunPending();
  CHECK(b.TakeWrites().empty());
  b.Advance(20000);
  CHECK(b.TakeWrites().size() == 1);
}

TEST_CASE("pods bound to a deleted node are deleted after the quarantine and a live GET") {
  Bench b;
  auto c = NewPodGcController(b.ctx);
  b.Seed(kNodes, R"({"metadata":{"name":"n1"}})");
  b.Seed(kPods, PodJson("ok", "n1", "Running"));
  b.Seed(kPods, PodJson("orphan", "gone", "Running",
                        R"(,"conditions":[{"type":"Ready","status":"True","lastTransitionTime":"2026-01-01T00:00:00Z"}])"));
  b.Seed(kPods, PodJson("done", "gone", "Succeeded"));
  c->Start();
  b.Sync();
  CHECK(b.TakeWrites().empty());
  b.Advance(39000);
  CHECK(b.api.writes().empty());
  b.Advance(1000);
  auto actions = b.api.actions();
  std::vector<std::string> got;
  for (const auto& a : actions) {
    if (a.verb != "list" && a.verb != "watch") got.push_back(a.ToString());
  }
  CHECK(got == std::vector<std::string>{"get nodes gone", "delete pods default/done", "patch pods/status default/orphan",
                                        "delete pods default/orphan"});
  for (const auto& a : actions) {
    if (a.verb == "delete") CHECK(a.body == R"({"gracePeriodSeconds":0})");
    if (a.verb != "patch") continue;
    auto p = Json(a.body);
    CHECK(GetString(*Member(p, "metadata"), "uid").value_or("") != "");
    CHECK(GetString(*Member(p, "status"), "phase").value_or("") == "Failed");
    const JsonValue* cond = FindCondition(*Member(p, "status"), "DisruptionTarget");
    REQUIRE(cond);
    CHECK(GetString(*cond, "reason").value_or("") == "DeletionByPodGC");
    CHECK(GetString(*cond, "message").value_or("") == "PodGC: node no longer exists");
    CHECK(FindCondition(*Member(p, "status"), "Ready"));
  }
  CHECK(b.api.Find(kPods, "default", "ok"));
  b.TakeWrites();
  b.Advance(100000);
  CHECK(b.TakeWrites().empty());
}

TEST_CASE("a node missing from the cache but still there is not an orphan") {
  Bench b;
  auto c = NewPodGcController(b.ctx);
  b.Seed(kPods, PodJson("p", "n1", "Running"));
  b.Sync();
  REQUIRE(b.Reconcile(*c, kPodGcKey).ok());
  b.Advance(40000);
  // The node appears in the store (the live GET sees it) before the cache does.
  b.informers.Stop();
  b.Seed(kNodes, R"({"metadata":{"name":"n1"}})");
  b.api.ClearActions();
  REQUIRE(b.Reconcile(*c, kPodGcKey).ok());
  std::vector<std::string> got;
  for (const auto& a : b.api.actions()) got.push_back(a.ToString());
  CHECK(got == std::vector<std::string>{"get nodes n1"});
}

TEST_CASE("terminating pods never scheduled, or on an out-of-service node, are force deleted") {
  Bench b;
  auto c = NewPodGcController(b.ctx);
  b.Seed(kNodes, R"({"metadata":{"name":"dead"},"spec":{"taints":[{"key":"node.kubernetes.io/out-of-service","value":"nodeshutdown","effect":"NoExecute"}]},"status":{"conditions":[{"type":"Ready","status":"Unknown"}]}})");
  b.Seed(kNodes, R"({"metadata":{"name":"alive"},"status":{"conditions":[{"type":"Ready","status":"True"}]}})");
  for (const char* p : {"pending", "stuck", "normal"}) {
    std::string node = std::string(p) == "pending" ? "" : std::string(p) == "stuck" ? "dead" : "alive";
    b.Seed(kPods, R"({"metadata":{"name":")" + std::string(p) + R"(","namespace":"default","finalizers":["x/y"]},"spec":{)" +
                      (node.empty() ? "" : R"("nodeName":")" + node + R"(",)") + R"("containers":[]},"status":{"phase":"Running"}})");
    b.api.Delete(kPods, "default", p, {}, [](StatusOr<JsonDoc> r) { REQUIRE(r.ok()); });
  }
  b.Sync();
  b.TakeWrites();
  REQUIRE(b.Reconcile(*c, kPodGcKey).ok());
  CHECK(b.TakeWrites() == std::vector<std::string>{"patch pods/status default/stuck", "delete pods default/stuck",
                                                   "patch pods/status default/pending", "delete pods default/pending"});
}

}  // namespace
}  // namespace minik::controllers
