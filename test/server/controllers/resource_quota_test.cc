// The ResourceQuota controller and the quota evaluators it shares with admission.
#include "server/controllers/resource_quota.h"

#include "fixture.h"

namespace minik::controllers {
namespace {

using testing::Bench;
using testing::Json;
using Writes = std::vector<std::string>;

std::string S(const JsonValue* v) { return v && v->IsString() ? v->GetString() : std::string("<none>"); }

std::string Pod(const std::string& name, const std::string& resources, const std::string& extra_meta = "",
                const std::string& phase = "Running") {
  return R"({"metadata":{"name":")" + name + R"(","namespace":"ns")" + extra_meta +
         R"(},"spec":{"containers":[{"name":"c","image":"x","resources":)" + resources +
         R"(}]},"status":{"phase":")" + phase + R"("}})";
}

TEST_CASE("quota: usage of pods, services, claims and object counts, written once") {
  Bench b;
  auto ctrl = NewResourceQuotaController(b.ctx);
  b.Seed(kResourceQuotas, R"({"metadata":{"name":"q","namespace":"ns"},"spec":{"hard":{
    "pods":"10","count/pods":"20","requests.cpu":"2","requests.memory":"1Gi","limits.cpu":"4","limits.memory":"2Gi",
    "cpu":"2","memory":"1Gi","services":"5","services.nodeports":"4","services.loadbalancers":"1","configmaps":"3",
    "secrets":"3","persistentvolumeclaims":"2","requests.storage":"10Gi",
    "local-path.storageclass.storage.k8s.io/requests.storage":"5Gi","count/deployments.apps":"2","example.com/unknown":"1"}}})");
  b.Seed(kPods, Pod("a", R"({"requests":{"cpu":"500m","memory":"128Mi"},"limits":{"cpu":"1","memory":"256Mi"}})"));
  b.Seed(kPods, Pod("b", R"({"requests":{"cpu":"250m","memory":"128Mi"}})"));
  b.Seed(kPods, Pod("done", R"({"requests":{"cpu":"1"}})", "", "Succeeded"));
  b.Seed(kPods, R"({"metadata":{"name":"other","namespace":"elsewhere"},"spec":{"containers":[{"name":"c","resources":{"requests":{"cpu":"8"}}}]}})");
  b.Seed(kServices, R"({"metadata":{"name":"np","namespace":"ns"},"spec":{"type":"NodePort","ports":[{"port":80},{"port":443}]}})");
  b.Seed(kServices, R"({"metadata":{"name":"lb","namespace":"ns"},"spec":{"type":"LoadBalancer","ports":[{"port":80}]}})");
  b.Seed(kServices, R"({"metadata":{"name":"ci","namespace":"ns"},"spec":{"type":"ClusterIP","ports":[{"port":80}]}})");
  b.Seed(kConfigMaps, R"({"metadata":{"name":"cm","namespace":"ns"}})");
  b.Seed(kPersistentVolumeClaims, R"({"metadata":{"name":"d","namespace":"ns"},"spec":{"storageClassName":"local-path",
    "resources":{"requests":{"storage":"1536Mi"}}}})");
  b.Seed(kDeployments, R"({"metadata":{"name":"web","namespace":"ns"},"spec":{}})");
  b.Sync();
  b.TakeWrites();

  REQUIRE(b.Reconcile(*ctrl, "ns/q").ok());
  CHECK(b.TakeWrites() == Writes{"update resourcequotas/status ns/q"});
  auto q = b.api.Find(kResourceQuotas, "ns", "q");
  CHECK(ToJson(*Path(*q, {"status", "used"})) ==
        R"({"configmaps":"1","count/deployments.apps":"1","count/pods":"3","cpu":"750m",)"
        R"("limits.cpu":"1","limits.memory":"256Mi",)"
        R"("local-path.storageclass.storage.k8s.io/requests.storage":"1536Mi","memory":"256Mi",)"
        R"("persistentvolumeclaims":"1","pods":"2","requests.cpu":"750m","requests.memory":"256Mi",)"
        R"("requests.storage":"1536Mi","secrets":"0","services":"3","services.loadbalancers":"1","services.nodeports":"3"})");
  CHECK(JsonEqual(*Path(*q, {"status", "hard"}), *Path(*q, {"spec", "hard"})));

  // Nothing changed: nothing written.
  b.Sync();
  b.api.ClearActions();
  REQUIRE(b.Reconcile(*ctrl, "ns/q").ok());
  CHECK(b.TakeWrites().empty());

  // A pod finishing releases its compute usage, not its object count.
  auto a = b.api.Find(kPods, "ns", "a");
  JsonDoc upd;
  upd.CopyFrom(*a, upd.GetAllocator());
  SetString(*MutableMember(upd, "status"), "phase", "Failed", upd.GetAllocator());
  b.api.Update(kPods, "ns", upd, "status", [](StatusOr<JsonDoc> r) { REQUIRE(r.ok()); });
  b.Sync();
  b.api.ClearActions();
  REQUIRE(b.Reconcile(*ctrl, "ns/q").ok());
  q = b.api.Find(kResourceQuotas, "ns", "q");
  CHECK(S(Path(*q, {"status", "used", "pods"})) == "1");
  CHECK(S(Path(*q, {"status", "used", "count/pods"})) == "3");
  CHECK(S(Path(*q, {"status", "used", "requests.cpu"})) == "250m");
  CHECK(S(Path(*q, {"status", "used", "limits.cpu"})) == "0");
}

TEST_CASE("quota: scopes select the pods that count") {
  Bench b;
  auto ctrl = NewResourceQuotaController(b.ctx);
  b.Seed(kResourceQuotas, R"({"metadata":{"name":"be","namespace":"ns"},"spec":{"hard":{"pods":"5"},"scopes":["BestEffort"]}})");
  b.Seed(kResourceQuotas, R"({"metadata":{"name":"hi","namespace":"ns"},"spec":{"hard":{"pods":"5"},
    "scopeSelector":{"matchExpressions":[{"scopeName":"PriorityClass","operator":"In","values":["high"]}]}}})");
  b.Seed(kPods, Pod("be", "{}"));
  b.Seed(kPods, Pod("burst", R"({"requests":{"cpu":"1"}})"));
  b.Seed(kPods, R"({"metadata":{"name":"hp","namespace":"ns"},"spec":{"priorityClassName":"high","containers":[{"name":"c","resources":{}}]}})");
  b.Sync();
  REQUIRE(b.Reconcile(*ctrl, "ns/be").ok());
  REQUIRE(b.Reconcile(*ctrl, "ns/hi").ok());
  CHECK(S(Path(*b.api.Find(kResourceQuotas, "ns", "be"), {"status", "used", "pods"})) == "2");
  CHECK(S(Path(*b.api.Find(kResourceQuotas, "ns", "hi"), {"status", "used", "pods"})) == "1");
}

TEST_CASE("quota evaluators: pod requests with init containers, constraints, list arithmetic") {
  auto pod = Json(R"({"metadata":{"name":"p"},"spec":{
    "initContainers":[{"name":"init","resources":{"requests":{"cpu":"2"}}},
                      {"name":"side","restartPolicy":"Always","resources":{"requests":{"cpu":"100m","memory":"64Mi"}}}],
    "containers":[{"name":"c1","resources":{"requests":{"cpu":"500m"},"limits":{"memory":"1Gi"}}},
                  {"name":"c2","resources":{"requests":{"cpu":"500m","memory":"64Mi"}}}]}})");
  auto usage = quota::Usage({"", "pods"}, pod, TimePoint());
  CHECK(quota::PrettyPrint(usage) ==
        "count/pods=1,cpu=2,limits.memory=1Gi,memory=128Mi,pods=1,requests.cpu=2,requests.memory=128Mi");
  CHECK(quota::PodConstraints({"requests.cpu", "limits.cpu", "limits.memory", "pods"}, pod) ==
        "must specify limits.cpu for: c1,c2,init,side; limits.memory for: c2,init,side");
  CHECK(quota::PodConstraints({"pods", "requests.storage"}, pod).empty());

  std::vector<std::string> exceeded;
  quota::ResourceList used = quota::Add(usage, usage);
  auto hard_doc = Json(R"({"requests.cpu":"3","pods":"2"})");
  quota::ResourceList hard = quota::ParseResourceList(&hard_doc);
  CHECK_FALSE(quota::LessThanOrEqual(quota::Mask(used, quota::Names(hard)), hard, &exceeded));
  CHECK(exceeded == std::vector<std::string>{"requests.cpu"});
  CHECK(quota::PrettyPrint(quota::SubtractNonNegative(hard, used)) ==
        "count/pods=0,cpu=0,limits.memory=0,memory=0,pods=0,requests.cpu=0,requests.memory=0");
  // A pod stuck terminating past its grace period is no longer charged.
  auto stuck = Json(R"({"metadata":{"name":"s","deletionTimestamp":"2020-01-01T00:00:00Z","deletionGracePeriodSeconds":30},
    "spec":{"containers":[]},"status":{"phase":"Running"}})");
  TimePoint t;
  REQUIRE(ParseRFC3339("2020-01-01T00:00:30Z", &t));
  CHECK(quota::PodCountsForQuota(stuck, t));
  CHECK_FALSE(quota::PodCountsForQuota(stuck, t + std::chrono::seconds(1)));
  CHECK(quota::PrettyPrint(quota::Usage({"", "pods"}, stuck, t + std::chrono::seconds(1))) == "count/pods=1");
  CHECK(quota::MatchingResources({"", "pods"}, {"pods", "requests.nvidia.com/gpu", "hugepages-2Mi", "services", "count/pods"}) ==
        std::vector<std::string>{"pods", "requests.nvidia.com/gpu", "hugepages-2Mi", "count/pods"});
  CHECK(quota::MatchingResources({"apps", "deployments"}, {"count/deployments.apps", "pods"}) ==
        std::vector<std::string>{"count/deployments.apps"});
}

}  // namespace
}  // namespace minik::controllers
