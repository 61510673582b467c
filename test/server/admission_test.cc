// Admission: LimitRanger defaults and limits, DefaultStorageClass and ResourceQuota, as pure logic
// and through a real ApiServer (the 403 kubectl shows, quota charged synchronously).
#include <catch2/catch.hpp>

#include <optional>

#include "api/registry.h"
#include "client/rest_api_client.h"
#include "common/clock.h"
#include "http/loop.h"
#include "server/admission.h"
#include "api_server_fixture.h"
#include "server/api_server.h"
#include "server/in_process_transport.h"
#include "server/object_store.h"
#include "store/memory_backend.h"
#include "json_testing.h"

using namespace minik;
using namespace minik::server::admission;

namespace {

using minik::testing::J;
using minik::testing::S;

const char* kLimitRange = R"({"metadata":{"name":"lr","namespace":"ns"},"spec":{"limits":[
  {"type":"Container","max":{"cpu":"1","memory":"1Gi"},"min":{"cpu":"100m"},"default":{"cpu":"500m","memory":"256Mi"},
   "defaultRequest":{"cpu":"200m","memory":"128Mi"},"maxLimitRequestRatio":{"cpu":"4"}}]}})";

}  // namespace

TEST_CASE("LimitRanger fills missing requests and limits and annotates the pod") {
  auto lr = J(kLimitRange);
  auto pod = J(R"({"metadata":{"name":"p","namespace":"ns"},"spec":{
    "initContainers":[{"name":"init","resources":{"limits":{"cpu":"1"},"requests":{"cpu":"1"}}}],
    "containers":[{"name":"c1"},{"name":"c2","resources":{"requests":{"memory":"64Mi"}}}]}})");
  ApplyLimitRangeDefaults({&lr}, pod, pod.GetAllocator());
  CHECK(ToJson(*Path(pod, {"spec", "containers"})) ==
        R"([{"name":"c1","resources":{"limits":{"cpu":"500m","memory":"256Mi"},"requests":{"cpu":"200m","memory":"128Mi"}}},)"
        R"({"name":"c2","resources":{"requests":{"memory":"64Mi","cpu":"200m"},"limits":{"cpu":"500m","memory":"256Mi"}}}])");
  CHECK(S(Path(pod, {"metadata", "annotations", "kubernetes.io/limit-ranger"})) ==
        "LimitRanger plugin set: cpu, memory request for container c1; cpu, memory limit for container c1; "
        "cpu request for container c2; cpu, memory limit for container c2; memory request for init container init; "
        "memory limit for init container init");
}

TEST_CASE("LimitRanger refuses with upstream's messages") {
  auto lr = J(kLimitRange);
  auto pod = [](const std::string& resources) {
    return J(R"({"metadata":{"name":"p"},"spec":{"containers":[{"name":"c","resources":)" + resources + "}]}}");
  };
  CHECK(CheckLimitRanges({&lr}, "Pod", pod(R"({"requests":{"cpu":"500m","memory":"128Mi"},"limits":{"cpu":"2","memory":"256Mi"}})")) ==
        "maximum cpu usage per Container is 1, but limit is 2");
  CHECK(CheckLimitRanges({&lr}, "Pod", pod(R"({"requests":{"cpu":"50m","memory":"128Mi"},"limits":{"cpu":"2","memory":"256Mi"}})")) ==
        "[minimum cpu usage per Container is 100m, but request is 50m, maximum cpu usage per Container is 1, but limit is 2, "
        "cpu max limit to request ratio per Container is 4, but provided ratio is 40.000000]");
  CHECK(CheckLimitRanges({&lr}, "Pod", pod(R"({"requests":{"cpu":"200m","memory":"128Mi"},"limits":{"cpu":"1","memory":"256Mi"}})")) ==
        "cpu max limit to request ratio per Container is 4, but provided ratio is 5.000000");
  CHECK(CheckLimitRanges({&lr}, "Pod", pod(R"({"requests":{"cpu":"50m","memory":"128Mi"},"limits":{"cpu":"100m","memory":"256Mi"}})")) ==
        "minimum cpu usage per Container is 100m, but request is 50m");
  CHECK(CheckLimitRanges({&lr}, "Pod", pod(R"({"requests":{"cpu":"500m","memory":"128Mi"},"limits":{"cpu":"1"}})")) ==
        "maximum memory usage per Container is 1Gi.  No limit is specified");
  CHECK(CheckLimitRanges({&lr}, "Pod", pod(R"({"requests":{"cpu":"500m","memory":"128Mi"},"limits":{"cpu":"1","memory":"256Mi"}})")).empty());

  auto pvc_lr = J(R"({"metadata":{"name":"st"},"spec":{"limits":[{"type":"PersistentVolumeClaim","min":{"storage":"1Gi"},"max":{"storage":"10Gi"}}]}})");
  auto pvc = J(R"({"metadata":{"name":"c"},"spec":{"resources":{"requests":{"storage":"20Gi"}}}})");
  CHECK(CheckLimitRanges({&pvc_lr}, "PersistentVolumeClaim", pvc) ==
        "maximum storage usage per PersistentVolumeClaim is 10Gi, but request is 20Gi");
  auto small = J(R"({"metadata":{"name":"c"},"spec":{"resources":{"requests":{"storage":"500Mi"}}}})");
  CHECK(CheckLimitRanges({&pvc_lr}, "PersistentVolumeClaim", small) ==
        "minimum storage usage per PersistentVolumeClaim is 1Gi, but request is 500Mi");
}

TEST_CASE("DefaultStorageClass names the newest default class, unless the claim chose") {
  auto old_default = J(R"({"metadata":{"name":"old","creationTimestamp":"2025-01-01T00:00:00Z",
    "annotations":{"storageclass.kubernetes.io/is-default-class":"true"}},"provisioner":"x"})");
  auto local = J(R"({"metadata":{"name":"local-path","creationTimestamp":"2026-01-01T00:00:00Z",
    "annotations":{"storageclass.kubernetes.io/is-default-class":"true"}},"provisioner":"rancher.io/local-path"})");
  auto plain = J(R"({"metadata":{"name":"plain","creationTimestamp":"2027-01-01T00:00:00Z"},"provisioner":"x"})");
  auto pvc = J(R"({"metadata":{"name":"c"},"spec":{}})");
  CHECK(SetDefaultStorageClass({&old_default, &local, &plain}, pvc, pvc.GetAllocator()));
  CHECK(S(Path(pvc, {"spec", "storageClassName"})) == "local-path");
  auto none = J(R"({"metadata":{"name":"c"},"spec":{"storageClassName":""}})");
  CHECK_FALSE(SetDefaultStorageClass({&local}, none, none.GetAllocator()));
  CHECK(S(Path(none, {"spec", "storageClassName"})).empty());
}

TEST_CASE("ResourceQuota: exceeded, failed and unknown quotas; charges for admitted objects") {
  auto q = J(R"({"metadata":{"name":"compute","namespace":"ns"},"spec":{"hard":{"requests.cpu":"2","limits.cpu":"4","pods":"3"}},
    "status":{"hard":{"requests.cpu":"2","limits.cpu":"4","pods":"3"},"used":{"requests.cpu":"1","limits.cpu":"1","pods":"1"}}})");
  auto counts = J(R"({"metadata":{"name":"objects","namespace":"ns"},"spec":{"hard":{"configmaps":"1"}},
    "status":{"hard":{"configmaps":"1"},"used":{"configmaps":"1"}}})");
  std::vector<const JsonValue*> quotas = {&q, &counts};
  TimePoint now;
  auto pod = [](const std::string& resources) {
    return J(R"({"metadata":{"name":"p","namespace":"ns"},"spec":{"containers":[{"name":"c1","resources":)" + resources +
             R"(}]},"status":{"phase":"Pending"}})");
  };
  auto r = EvaluateQuotas(quotas, {"", "pods"}, Operation::kCreate, pod(R"({"requests":{"cpu":"2"},"limits":{"cpu":"2"}})"),
                          nullptr, now);
  CHECK(r.error == "exceeded quota: compute, requested: requests.cpu=2, used: requests.cpu=1, limited: requests.cpu=2");
  r = EvaluateQuotas(quotas, {"", "pods"}, Operation::kCreate, pod("{}"), nullptr, now);
  CHECK(r.error == "failed quota: compute: must specify limits.cpu for: c1; requests.cpu for: c1");
  r = EvaluateQuotas(quotas, {"", "pods"}, Operation::kCreate, pod(R"({"requests":{"cpu":"500m"},"limits":{"cpu":"1"}})"),
                     nullptr, now);
  CHECK(r.error.empty());
  REQUIRE(r.charges.size() == 1);
  CHECK(r.charges[0].index == 0);
  CHECK(controllers::quota::PrettyPrint(r.charges[0].used) == "limits.cpu=2,pods=2,requests.cpu=1500m");

  auto cm = J(R"({"metadata":{"name":"cm","namespace":"ns"}})");
  r = EvaluateQuotas(quotas, {"", "configmaps"}, Operation::kCreate, cm, nullptr, now);
  CHECK(r.error == "exceeded quota: objects, requested: configmaps=1, used: configmaps=1, limited: configmaps=1");

  auto fresh = J(R"({"metadata":{"name":"new","namespace":"ns"},"spec":{"hard":{"pods":"3"}},
    "status":{"hard":{"pods":"3"}}})");
  r = EvaluateQuotas({&fresh}, {"", "pods"}, Operation::kCreate, pod("{}"), nullptr, now);
  CHECK(r.error == "status unknown for quota: new, resources: pods");

  // Before the controller's first sync (no status.hard) the quota does not apply.
  auto unsynced = J(R"({"metadata":{"name":"u","namespace":"ns"},"spec":{"hard":{"pods":"0"}}})");
  r = EvaluateQuotas({&unsynced}, {"", "pods"}, Operation::kCreate, pod("{}"), nullptr, now);
  CHECK(r.error.empty());
  CHECK(r.charges.empty());

  // An update is charged the difference only: a NodePort service turning LoadBalancer.
  auto svcq = J(R"({"metadata":{"name":"svc","namespace":"ns"},"spec":{"hard":{"services.loadbalancers":"0","services":"5"}},
    "status":{"hard":{"services.loadbalancers":"0","services":"5"},"used":{"services.loadbalancers":"0","services":"1"}}})");
  auto before = J(R"({"metadata":{"name":"s","namespace":"ns","resourceVersion":"5"},"spec":{"type":"NodePort","ports":[{"port":80}]}})");
  auto after = J(R"({"metadata":{"name":"s","namespace":"ns"},"spec":{"type":"LoadBalancer","ports":[{"port":80}]}})");
  r = EvaluateQuotas({&svcq}, {"", "services"}, Operation::kUpdate, after, &before, now);
  CHECK(r.error == "exceeded quota: svc, requested: services.loadbalancers=1, used: services.loadbalancers=0, limited: services.loadbalancers=0");
}

// ---- through the API server ----------------------------------------------------------------------

namespace {

const client::ResourceRef kPods{"", "v1", "pods"};
const client::ResourceRef kQuotas{"", "v1", "resourcequotas"};
const client::ResourceRef kLimitRanges{"", "v1", "limitranges"};
const client::ResourceRef kClaims{"", "v1", "persistentvolumeclaims"};
const client::ResourceRef kClasses{"storage.k8s.io", "v1", "storageclasses"};

struct Fixture : minik::testing::ApiServerFixture {
  std::unique_ptr<client::RestApiClient> client =
      std::make_unique<client::RestApiClient>(std::make_unique<server::InProcessTransport>(loop, *api));

  // Runs one call to completion.
  StatusOr<JsonDoc> Run(const std::function<void(client::ObjectCallback)>& op) {
    std::optional<StatusOr<JsonDoc>> out;
    op([&](StatusOr<JsonDoc> r) {
      out.emplace(std::move(r));
      loop.Stop();
    });
    if (!out) {
      auto guard = loop.AddTimer(10000, 0, [&] { loop.Stop(); });
      loop.Run();
    }
    REQUIRE(out.has_value());
    return std::move(*out);
  }
  StatusOr<JsonDoc> Create(const client::ResourceRef& res, std::string_view json, const std::string& ns = "default") {
    JsonDoc d = J(json);
    return Run([&](client::ObjectCallback cb) { client->Create(res, ns, d, std::move(cb)); });
  }
};

JsonDoc PodJson(const std::string& name, const std::string& resources) {
  return J(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":")" + name +
           R"("},"spec":{"containers":[{"name":"c1","image":"busybox","resources":)" + resources + "}]}}");
}

}  // namespace

TEST_CASE("the API server applies LimitRange defaults and refuses pods over quota with 403") {
  Fixture f;
  REQUIRE(f.Create(kLimitRanges, R"({"apiVersion":"v1","kind":"LimitRange","metadata":{"name":"lr"},"spec":{"limits":[
    {"type":"Container","max":{"cpu":"1"},"default":{"cpu":"500m"},"defaultRequest":{"cpu":"300m"}}]}})").ok());
  auto q = f.Create(kQuotas, R"({"apiVersion":"v1","kind":"ResourceQuota","metadata":{"name":"q"},
    "spec":{"hard":{"requests.cpu":"1","limits.cpu":"2"}}})");
  REQUIRE(q.ok());
  // What the ResourceQuota controller writes first.
  auto status = J(R"({"hard":{"limits.cpu":"2","requests.cpu":"1"},"used":{"limits.cpu":"0","requests.cpu":"0"}})");
  SetMember(*q, "status", Clone(status, q->GetAllocator()), q->GetAllocator());
  REQUIRE(f.Run([&](client::ObjectCallback cb) { f.client->Update(kQuotas, "default", *q, "status", std::move(cb)); }).ok());

  // Defaults from the LimitRange, then charged to the quota before the pod is stored.
  auto p1 = f.Run([&](client::ObjectCallback cb) { f.client->Create(kPods, "default", PodJson("p1", "{}"), std::move(cb)); });
  REQUIRE(p1.ok());
  const JsonValue& c1 = Path(*p1, {"spec", "containers"})->GetArray()[0];
  CHECK(S(Path(c1, {"resources", "requests", "cpu"})) == "300m");
  CHECK(S(Path(c1, {"resources", "limits", "cpu"})) == "500m");
  CHECK(S(Path(*p1, {"metadata", "annotations", "kubernetes.io/limit-ranger"})) ==
        "LimitRanger plugin set: cpu request for container c1; cpu limit for container c1");
  CHECK(S(Path(*p1, {"status", "qosClass"})) == "Burstable");
  auto stored = f.Run([&](client::ObjectCallback cb) { f.client->Get(kQuotas, "default", "q", std::move(cb)); });
  REQUIRE(stored.ok());
  CHECK(S(Path(*stored, {"status", "used", "requests.cpu"})) == "300m");
  CHECK(S(Path(*stored, {"status", "used", "limits.cpu"})) == "500m");

  // Over the LimitRange's max.
  auto p2 = f.Run([&](client::ObjectCallback cb) {
    f.client->Create(kPods, "default", PodJson("p2", R"({"limits":{"cpu":"2"}})"), std::move(cb));
  });
  REQUIRE_FALSE(p2.ok());
  CHECK(p2.error().code() == Code::kForbidden);
  CHECK(p2.error().message() == "pods \"p2\" is forbidden: maximum cpu usage per Container is 1, but limit is 2");

  // Over the quota.
  auto p3 = f.Run([&](client::ObjectCallback cb) {
    f.client->Create(kPods, "default", PodJson("p3", R"({"requests":{"cpu":"800m"},"limits":{"cpu":"800m"}})"), std::move(cb));
  });
  REQUIRE_FALSE(p3.ok());
  CHECK(p3.error().code() == Code::kForbidden);
  CHECK(p3.error().message() ==
        "pods \"p3\" is forbidden: exceeded quota: q, requested: requests.cpu=800m, used: requests.cpu=300m, limited: "
        "requests.cpu=1");

  // Two creates at once, room for one: exactly one is admitted.
  int created = 0, refused = 0, pending = 2;
  for (const char* name : {"a", "b"}) {
    f.client->Create(kPods, "default", PodJson(name, R"({"requests":{"cpu":"400m"},"limits":{"cpu":"400m"}})"),
                     [&](StatusOr<JsonDoc> r) {
                       if (r.ok()) ++created;
                       else if (r.error().code() == Code::kForbidden) ++refused;
                       if (--pending == 0) f.loop.Stop();
                     });
  }
  auto guard = f.loop.AddTimer(10000, 0, [&] { f.loop.Stop(); });
  f.loop.Run();
  CHECK(created == 1);
  CHECK(refused == 1);
  stored = f.Run([&](client::ObjectCallback cb) { f.client->Get(kQuotas, "default", "q", std::move(cb)); });
  REQUIRE(stored.ok());
  CHECK(S(Path(*stored, {"status", "used", "requests.cpu"})) == "700m");
}

TEST_CASE("the API server gives class-less claims the default StorageClass") {
  Fixture f;
  REQUIRE(f.Create(kClasses, R"({"apiVersion":"storage.k8s.io/v1","kind":"StorageClass","metadata":{"name":"local-path",
    "annotations":{"storageclass.kubernetes.io/is-default-class":"true"}},"provisioner":"rancher.io/local-path",
    "reclaimPolicy":"Delete","volumeBindingMode":"WaitForFirstConsumer"})", "").ok());
  auto c = f.Create(kClaims, R"({"apiVersion":"v1","kind":"PersistentVolumeClaim","metadata":{"name":"data"},
    "spec":{"accessModes":["ReadWriteOnce"],"resources":{"requests":{"storage":"1Gi"}}}})");
  REQUIRE(c.ok());
  CHECK(S(Path(*c, {"spec", "storageClassName"})) == "local-path");
}

TEST_CASE("Priority admission resolves PriorityClasses and the global default") {
  auto high = J(R"({"metadata":{"name":"high"},"value":1000,"preemptionPolicy":"Never"})");
  auto dflt = J(R"({"metadata":{"name":"normal"},"value":10,"globalDefault":true})");
  std::vector<const JsonValue*> classes = {&high, &dflt};

  auto pod = J(R"({"metadata":{"name":"p"},"spec":{"priorityClassName":"high","containers":[]}})");
  REQUIRE(ResolvePriority(classes, pod, pod.GetAllocator()).ok());
  CHECK(GetInt(pod["spec"], "priority").value_or(-1) == 1000);
  CHECK(S(Path(pod, {"spec", "preemptionPolicy"})) == "Never");

  auto plain = J(R"({"metadata":{"name":"p"},"spec":{"priority":0,"containers":[]}})");
  REQUIRE(ResolvePriority(classes, plain, plain.GetAllocator()).ok());
  CHECK(S(Path(plain, {"spec", "priorityClassName"})) == "normal");
  CHECK(GetInt(plain["spec"], "priority").value_or(-1) == 10);

  auto missing = J(R"({"metadata":{"name":"p"},"spec":{"priorityClassName":"nope"}})");
  Status st = ResolvePriority(classes, missing, missing.GetAllocator());
  CHECK(st.code() == Code::kForbidden);
  CHECK(st.message() == "pods \"p\" is forbidden: no PriorityClass with name nope was found");

  auto wrong = J(R"({"metadata":{"name":"p"},"spec":{"priorityClassName":"high","priority":5}})");
  st = ResolvePriority(classes, wrong, wrong.GetAllocator());
  CHECK(st.message() == "pods \"p\" is forbidden: the integer value of priority (5) must not be provided in pod spec; "
                        "priority admission controller computed 1000 from the given PriorityClass name");
}
