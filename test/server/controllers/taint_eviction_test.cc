// The taint eviction controller: immediate eviction without toleration, eviction after
// tolerationSeconds counted from the taint's timeAdded, cancellation, tolerate-forever.
#include "server/controllers/taint_eviction.h"

#include <algorithm>

#include "fixture.h"

namespace minik::controllers {
namespace {

using testing::Bench;
using testing::Json;

std::string TaintedNode(const std::string& name, const std::string& time_added) {
  return R"({"metadata":{"name":")" + name +
         R"("},"spec":{"taints":[{"key":"node.kubernetes.io/unreachable","effect":"NoSchedule","timeAdded":")" +
         time_added + R"("},{"key":"node.kubernetes.io/unreachable","effect":"NoExecute","timeAdded":")" + time_added +
         R"("}]}})";
}

// A pod as the API server admits it: DefaultTolerationSeconds adds the not-ready/unreachable
// tolerations (300 s) unless the pod has its own.
std::string PodJson(const std::string& name, const std::string& node, const std::string& tolerations =
                                                                          R"([{"key":"node.kubernetes.io/not-ready","operator":"Exists","effect":"NoExecute","tolerationSeconds":300},{"key":"node.kubernetes.io/unreachable","operator":"Exists","effect":"NoExecute","tolerationSeconds":300}])") {
  return R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":")" + name +
         R"(","namespace":"default"},"spec":{"nodeName":")" + node + R"(","tolerations":)" + tolerations +
         R"(,"containers":[{"name":"c","image":"i"}]},"status":{"phase":"Running"}})";
}

TEST_CASE("a pod tolerating the unreachable taint for 300 s is evicted 300 s after timeAdded") {
  Bench b;
  auto c = NewTaintEvictionController(b.ctx);
  // The taint was added 100 s before the controller sees it.
  std::string added = FormatRFC3339(b.clock().Now());
  b.Advance(100000);
  b.Seed(kNodes, TaintedNode("n1", added));
  b.Seed(kPods, PodJson("web", "n1"));
  c->Start();
  b.Sync();
  CHECK(b.TakeWrites().empty());
  b.Advance(199000);
  CHECK(b.TakeWrites().empty());
  b.Advance(1001);  // 300 s after timeAdded
  auto writes = b.api.writes();
  std::vector<std::string> got;
  for (const auto& w : writes) {
    if (w.resource.plural != "events") got.push_back(w.ToString());
  }
  CHECK(got == std::vector<std::string>{"patch pods/status default/web", "delete pods default/web"});
  for (const auto& w : writes) {
    if (w.verb != "patch" || w.resource.plural != "pods") continue;
    auto p = Json(w.body);
    CHECK(GetString(*Member(p, "metadata"), "uid").value_or("") != "");
    const JsonValue* cond = FindCondition(*Member(p, "status"), "DisruptionTarget");
    REQUIRE(cond);
    CHECK(GetString(*cond, "status").value_or("") == "True");
    CHECK(GetString(*cond, "reason").value_or("") == "DeletionByTaintManager");
    CHECK(GetString(*cond, "message").value_or("") == "Taint manager: deleting due to NoExecute taint");
  }
  auto events = b.EventReasons();
  CHECK(std::find(events.begin(), events.end(), "TaintManagerEviction: Marking for deletion Pod default/web") !=
        events.end());
  auto gone = b.api.Find(kPods, "default", "web");
  CHECK((gone == nullptr || IsBeingDeleted(*gone)));
}

TEST_CASE("a pod that does not tolerate a NoExecute taint is evicted at once") {
  Bench b;
  auto c = NewTaintEvictionController(b.ctx);
  b.Seed(kNodes, R"({"metadata":{"name":"n1"},"spec":{"taints":[{"key":"dedicated","value":"db","effect":"NoExecute"}]}})");
  b.Seed(kPods, PodJson("web", "n1"));
  b.Seed(kPods, PodJson("db", "n1", R"([{"key":"dedicated","operator":"Equal","value":"db","effect":"NoExecute"}])"));
  b.Sync();
  REQUIRE(b.Reconcile(*c, "n1").ok());
  CHECK(b.TakeWrites() == std::vector<std::string>{"patch pods/status default/web", "delete pods default/web"});
  // The pod tolerating the taint without tolerationSeconds stays forever.
  b.Advance(3600 * 1000);
  CHECK(b.TakeWrites().empty());
  CHECK(b.api.Find(kPods, "default", "db"));
}

TEST_CASE("a scheduled eviction is cancelled when the taint goes away") {
  Bench b;
  auto c = NewTaintEvictionController(b.ctx);
  b.Seed(kNodes, TaintedNode("n1", FormatRFC3339(b.clock().Now())));
  b.Seed(kPods, PodJson("web", "n1"));
  c->Start();
  b.Sync();
  b.Advance(60000);
  // The node comes back: the node lifecycle controller removes its taints.
  auto n = b.api.Find(kNodes, "", "n1");
  JsonDoc d;
  d.CopyFrom(*n, d.GetAllocator());
  RemoveMember(*MutableMember(d, "spec"), "taints");
  b.api.Update(kNodes, "", d, "", [](StatusOr<JsonDoc> r) { REQUIRE(r.ok()); });
  b.timers.RunPending();
  auto events = b.EventReasons();
  CHECK(std::find(events.begin(), events.end(), "TaintManagerEviction: Cancelling deletion of Pod default/web") !=
        events.end());
  b.TakeWrites();
  b.Advance(600000);
  CHECK(b.TakeWrites().empty());
  CHECK(b.api.Find(kPods, "default", "web"));
}

TEST_CASE("the shortest tolerationSeconds wins and a pod bound later is checked too") {
  Bench b;
  auto c = NewTaintEvictionController(b.ctx);
  b.Seed(kNodes, TaintedNode("n1", FormatRFC3339(b.clock().Now())));
  c->Start();
  b.Sync();
  b.Seed(kPods, PodJson("short", "n1",
                        R"([{"operator":"Exists","effect":"NoExecute","tolerationSeconds":600},{"key":"node.kubernetes.io/unreachable","operator":"Exists","tolerationSeconds":30}])"));
  b.timers.RunPending();
  // The first matching toleration of the taint is used: the key-less one, 600 s.
  b.Advance(30001);
  CHECK(b.TakeWrites().empty());
  b.Advance(570000);
  CHECK(b.TakeWrites() == std::vector<std::string>{"patch pods/status default/short", "delete pods default/short"});
  // tolerationSeconds 0 (or negative) means at once.
  b.Seed(kPods, PodJson("zero", "n1", R"([{"operator":"Exists","tolerationSeconds":0}])"));
  b.timers.RunPending();
  CHECK(b.TakeWrites() == std::vector<std::string>{"patch pods/status default/zero", "delete pods default/zero"});
}

}  // namespace
}  // namespace minik::controllers
