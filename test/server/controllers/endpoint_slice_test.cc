// The EndpointSlice controller: conditions, zones, named ports, headless services, placeholder
// slices, the 100-endpoint split and writes only on change.
#include "server/controllers/endpoint_slice.h"

#include "fixture.h"

namespace minik::controllers {
namespace {

using testing::Bench;
using testing::Json;

std::string PodJson(const std::string& name, const std::string& ip, bool ready, const std::string& node = "n1",
                    const std::string& extra_spec = "") {
  std::string status = ip.empty() ? R"("phase":"Pending")"
                                  : R"("phase":"Running","podIP":")" + ip + R"(","podIPs":[{"ip":")" + ip + R"("}])";
  status += R"(,"conditions":[{"type":"Ready","status":")" + std::string(ready ? "True" : "False") +
            R"(","lastTransitionTime":"2025-12-31T00:00:00Z"}])";
  return R"({"metadata":{"name":")" + name + R"(","namespace":"ns","labels":{"app":"web"}},)" +
         R"("spec":{"nodeName":")" + node + R"(",)" + extra_spec +
         R"("containers":[{"name":"c","image":"i","ports":[{"name":"http","containerPort":8080,"protocol":"TCP"}]}]},"status":{)" +
         status + "}}";
}

constexpr char kService[] = R"({"metadata":{"name":"web","namespace":"ns","labels":{"team":"a"}},
  "spec":{"selector":{"app":"web"},"clusterIP":"10.0.0.10","ipFamilies":["IPv4"],
  "ports":[{"name":"http","port":80,"targetPort":"http","protocol":"TCP"}]}})";

void SeedNodes(Bench& b) {
  b.Seed(kNodes, R"({"metadata":{"name":"n1","labels":{"topology.kubernetes.io/zone":"z1"}}})");
  b.Seed(kNodes, R"({"metadata":{"name":"n2"}})");
}

std::vector<JsonDoc> Bodies(Bench& b, const std::string& verb) {
  std::vector<JsonDoc> out;
  for (const auto& w : b.api.writes()) {
    if (w.verb == verb && w.resource.plural == "endpointslices") out.push_back(Json(w.body));
  }
  return out;
}

TEST_CASE("a slice lists ready, not-ready and terminating pods with conditions, zones and resolved ports") {
  Bench b;
  auto c = NewEndpointSliceController(b.ctx);
  SeedNodes(b);
  auto svc = b.Seed(kServices, kService);
  b.Seed(kPods, PodJson("a", "10.1.0.1", true));
  b.Seed(kPods, PodJson("b", "10.1.0.2", false, "n2"));
  b.Seed(kPods, PodJson("c", "10.1.0.3", true));
  b.Seed(kPods, PodJson("d", "", true));
  b.api.Delete(kPods, "ns", "c", {}, [](StatusOr<JsonDoc>) {});  // terminating (graceful)
  b.Sync();
  b.api.ClearActions();

  REQUIRE(b.Reconcile(*c, "ns/web").ok());
  auto created = Bodies(b, "create");
  REQUIRE(b.TakeWrites() == std::vector<std::string>{"create endpointslices ns/"});
  REQUIRE(created.size() == 1);
  auto uid = [&](const char* pod) { return std::string(Uid(*b.api.Find(kPods, "ns", pod))); };
  CHECK(ToJson(created[0]) ==
        R"({"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"generateName":"web-","namespace":"ns",)"
        R"("labels":{"endpointslice.kubernetes.io/managed-by":"endpointslice-controller.k8s.io","kubernetes.io/service-name":"web","team":"a"},)"
        R"("ownerReferences":[{"apiVersion":"v1","kind":"Service","name":"web","uid":")" +
            std::string(Uid(*svc)) +
            R"(","controller":true,"blockOwnerDeletion":true}],)"
            R"("annotations":{"endpoints.kubernetes.io/last-change-trigger-time":"2025-12-31T00:00:00Z"}},)"
            R"("addressType":"IPv4","endpoints":[)"
            R"({"addresses":["10.1.0.1"],"conditions":{"ready":true,"serving":true,"terminating":false},"targetRef":{"kind":"Pod","namespace":"ns","name":"a","uid":")" +
            uid("a") + R"("},"nodeName":"n1","zone":"z1"},)"
                       R"({"addresses":["10.1.0.2"],"conditions":{"ready":false,"serving":false,"terminating":false},"targetRef":{"kind":"Pod","namespace":"ns","name":"b","uid":")" +
            uid("b") + R"("},"nodeName":"n2"},)"
                       R"({"addresses":["10.1.0.3"],"conditions":{"ready":false,"serving":true,"terminating":true},"targetRef":{"kind":"Pod","namespace":"ns","name":"c","uid":")" +
            uid("c") + R"("},"nodeName":"n1","zone":"z1"}],)"
                       R"("ports":[{"name":"http","protocol":"TCP","port":8080}]})");

  // In sync: no write.
  REQUIRE(b.Reconcile(*c, "ns/web").ok());
  CHECK(b.TakeWrites().empty());

  // The terminating pod goes away: the slice is updated in place.
  auto slice_name = std::string(Name(*b.informers.For(kEndpointSlices).List()[0]));
  b.api.Delete(kPods, "ns", "c", client::DeleteOptions{"", int64_t{0}, "", ""}, [](StatusOr<JsonDoc>) {});
  b.timers.RunPending();
  b.api.ClearActions();
  REQUIRE(b.Reconcile(*c, "ns/web").ok());
  auto updated = Bodies(b, "update");
  REQUIRE(b.TakeWrites() == std::vector<std::string>{"update endpointslices ns/" + slice_name});
  CHECK(Member(updated[0], "endpoints")->Size() == 2);
}

TEST_CASE("more than 100 endpoints are split into slices, and a new endpoint fills the closest slice") {
  Bench b;
  auto c = NewEndpointSliceController(b.ctx);
  SeedNodes(b);
  b.Seed(kServices, kService);
  for (int i = 0; i < 250; ++i) {
    b.Seed(kPods, PodJson("p" + std::to_string(1000 + i), "10.2." + std::to_string(i / 200) + "." + std::to_string(i % 200 + 1), true));
  }
  b.Sync();
  b.api.ClearActions();
  REQUIRE(b.Reconcile(*c, "ns/web").ok());
  auto created = Bodies(b, "create");
  REQUIRE(created.size() == 3);
  CHECK(Member(created[0], "endpoints")->Size() == 100);
  CHECK(Member(created[1], "endpoints")->Size() == 100);
  CHECK(Member(created[2], "endpoints")->Size() == 50);
  b.api.ClearActions();

  b.Seed(kPods, PodJson("p2000", "10.3.0.1", true));
  b.timers.RunPending();
  REQUIRE(b.Reconcile(*c, "ns/web").ok());
  auto updated = Bodies(b, "update");
  REQUIRE(b.TakeWrites().size() == 1);
  REQUIRE(updated.size() == 1);
  CHECK(Member(updated[0], "endpoints")->Size() == 51);
}

TEST_CASE("a service without endpoints gets one placeholder slice") {
  Bench b;
  auto c = NewEndpointSliceController(b.ctx);
  b.Seed(kServices, kService);
  b.Sync();
  REQUIRE(b.Reconcile(*c, "ns/web").ok());
  auto created = Bodies(b, "create");
  REQUIRE(b.TakeWrites() == std::vector<std::string>{"create endpointslices ns/"});
  CHECK(ToJson(*Member(created[0], "endpoints")) == "[]");
  CHECK(ToJson(*Member(created[0], "ports")) == "[]");
  REQUIRE(b.Reconcile(*c, "ns/web").ok());
  CHECK(b.TakeWrites().empty());
}

TEST_CASE("headless services: hostname, the headless label; publishNotReadyAddresses makes endpoints ready") {
  Bench b;
  auto c = NewEndpointSliceController(b.ctx);
  SeedNodes(b);
  b.Seed(kServices, R"({"metadata":{"name":"web","namespace":"ns"},
    "spec":{"selector":{"app":"web"},"clusterIP":"None","ipFamilies":["IPv4"],"publishNotReadyAddresses":true}})");
  b.Seed(kPods, PodJson("web-0", "10.1.0.1", false, "n1", R"("hostname":"web-0","subdomain":"web",)"));
  b.Sync();
  REQUIRE(b.Reconcile(*c, "ns/web").ok());
  auto created = Bodies(b, "create");
  REQUIRE(created.size() == 1);
  CHECK(ToJson(*Path(created[0], {"metadata", "labels"})) ==
        R"({"endpointslice.kubernetes.io/managed-by":"endpointslice-controller.k8s.io","kubernetes.io/service-name":"web","service.kubernetes.io/headless":""})");
  const JsonValue& ep = (*Member(created[0], "endpoints"))[0];
  CHECK(ToJson(*Member(ep, "conditions")) == R"({"ready":true,"serving":false,"terminating":false})");
  CHECK(GetString(ep, "hostname").value_or("") == "web-0");
  CHECK(ToJson(*Member(created[0], "ports")) == "[]");
}

TEST_CASE("the kubernetes service, selector-less and deleted services are left alone") {
  Bench b;
  auto c = NewEndpointSliceController(b.ctx);
  b.Seed(kServices, R"({"metadata":{"name":"kubernetes","namespace":"default"},"spec":{"clusterIP":"10.43.0.1","ports":[{"port":443}]}})");
  b.Seed(kServices, R"({"metadata":{"name":"manual","namespace":"ns"},"spec":{"clusterIP":"10.0.0.11","ports":[{"port":80}]}})");
  b.Sync();
  REQUIRE(b.Reconcile(*c, "default/kubernetes").ok());
  REQUIRE(b.Reconcile(*c, "ns/manual").ok());
  REQUIRE(b.Reconcile(*c, "ns/gone").ok());
  CHECK(b.TakeWrites().empty());
}

TEST_CASE("a pod on an unknown node is skipped with an error event") {
  Bench b;
  auto c = NewEndpointSliceController(b.ctx);
  SeedNodes(b);
  b.Seed(kServices, kService);
  b.Seed(kPods, PodJson("a", "10.1.0.1", true, "n9"));
  b.Sync();
  CHECK_FALSE(b.Reconcile(*c, "ns/web").ok());
  CHECK(b.EventReasons() == std::vector<std::string>{
                                "FailedToUpdateEndpointSlices: Error updating Endpoint Slices for Service ns/web: "
                                "skipping Pod a for Service ns/web: Node n9 Not Found"});
}

}  // namespace
}  // namespace minik::controllers
