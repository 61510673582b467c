// The Endpoints controller: subsets for ready, not-ready and terminating pods, named ports,
// publishNotReadyAddresses, headless services, deletion and writes only on change.
#include "server/controllers/endpoints.h"

#include <algorithm>

#include "fixture.h"

namespace minik::controllers {
namespace {

using testing::Bench;
using testing::Json;

// A pod labelled app=web with an IP (unless ip is empty), a Ready condition and one container
// port named "http".
std::string PodJson(const std::string& name, const std::string& ip, bool ready, int http_port = 8080,
                    const std::string& extra_spec = "") {
  std::string status = ip.empty() ? R"("phase":"Pending")"
                                  : R"("phase":"Running","podIP":")" + ip + R"(","podIPs":[{"ip":")" + ip + R"("}])";
  status += R"(,"conditions":[{"type":"Ready","status":")" + std::string(ready ? "True" : "False") +
            R"(","lastTransitionTime":"2025-12-31T00:00:00Z"}])";
  return R"({"metadata":{"name":")" + name + R"(","namespace":"ns","labels":{"app":"web"}},)" +
         R"("spec":{"nodeName":"n1",)" + extra_spec +
         R"("containers":[{"name":"c","image":"i","ports":[{"name":"http","containerPort":)" +
         std::to_string(http_port) + R"(,"protocol":"TCP"}]}]},"status":{)" + status + "}}";
}

constexpr char kService[] = R"({"metadata":{"name":"web","namespace":"ns","labels":{"team":"a"}},
  "spec":{"selector":{"app":"web"},"clusterIP":"10.0.0.10","ipFamilies":["IPv4"],
  "ports":[{"name":"http","port":80,"targetPort":"http","protocol":"TCP"}]}})";

JsonDoc Body(Bench& b, size_t i = 0) {
  auto w = b.api.writes();
  REQUIRE(w.size() > i);
  return Json(w[i].body);
}

TEST_CASE("endpoints list ready and not-ready pods by port set, skipping terminating and IP-less pods") {
  Bench b;
  auto c = NewEndpointsController(b.ctx);
  b.Seed(kServices, kService);
  b.Seed(kPods, PodJson("a", "10.1.0.1", true));
  b.Seed(kPods, PodJson("b", "10.1.0.2", false, 9090));
  b.Seed(kPods, PodJson("c", "10.1.0.3", true));
  b.Seed(kPods, PodJson("d", "", true));
  b.Seed(kPods, R"({"metadata":{"name":"other","namespace":"ns","labels":{"app":"db"}},
    "status":{"podIP":"10.1.0.9","conditions":[{"type":"Ready","status":"True"}]}})");
  // c is terminating (bound to a node: deleted gracefully).
  b.api.Delete(kPods, "ns", "c", {}, [](StatusOr<JsonDoc>) {});
  b.Sync();
  b.api.ClearActions();

  REQUIRE(b.Reconcile(*c, "ns/web").ok());
  auto ep = Body(b);
  REQUIRE(b.TakeWrites() == std::vector<std::string>{"create endpoints ns/web"});
  CHECK(ToJson(ep) ==
        R"({"apiVersion":"v1","kind":"Endpoints","metadata":{"name":"web","namespace":"ns","labels":{"team":"a"},)"
        R"("annotations":{"endpoints.kubernetes.io/last-change-trigger-time":"2025-12-31T00:00:00Z"}},)"
        R"("subsets":[{"addresses":[{"ip":"10.1.0.1","nodeName":"n1","targetRef":{"kind":"Pod","namespace":"ns","name":"a","uid":")" +
            std::string(Uid(*b.api.Find(kPods, "ns", "a"))) +
            R"("}}],"ports":[{"name":"http","port":8080,"protocol":"TCP"}]},)"
            R"({"notReadyAddresses":[{"ip":"10.1.0.2","nodeName":"n1","targetRef":{"kind":"Pod","namespace":"ns","name":"b","uid":")" +
            std::string(Uid(*b.api.Find(kPods, "ns", "b"))) +
            R"("}}],"ports":[{"name":"http","port":9090,"protocol":"TCP"}]}]})");

  // Nothing changed: no write.
  REQUIRE(b.Reconcile(*c, "ns/web").ok());
  CHECK(b.TakeWrites().empty());

  // b turns ready on the same port as a: one subset with both addresses.
  auto pb = Json(ToJson(*b.api.Find(kPods, "ns", "b")));
  auto& pa = pb.GetAllocator();
  (*MutableMember(*MutableMember(pb, "status"), "conditions"))[0]["status"].SetString("True", pa);
  (*MutableMember(*MutableMember(pb, "status"), "conditions"))[0]["lastTransitionTime"].SetString(
      "2026-01-01T00:00:05Z", pa);
  (*MutableMember(pb, "spec"))["containers"][0]["ports"][0]["containerPort"].SetInt64(8080);
  b.api.Update(kPods, "ns", pb, "", [](StatusOr<JsonDoc> r) { REQUIRE(r.ok()); });
  RemoveMember(*MutableMember(pb, "metadata"), "resourceVersion");
  b.api.Update(kPods, "ns", pb, "status", [](StatusOr<JsonDoc> r) { REQUIRE(r.ok()); });
  b.timers.RunPending();
  b.api.ClearActions();
  REQUIRE(b.Reconcile(*c, "ns/web").ok());
  ep = Body(b);
  REQUIRE(b.TakeWrites() == std::vector<std::string>{"update endpoints ns/web"});
  const JsonValue& subsets = *Member(ep, "subsets");
  REQUIRE(subsets.Size() == 1);
  REQUIRE(subsets[0]["addresses"].Size() == 2);
  CHECK(std::string(subsets[0]["addresses"][1]["ip"].GetString()) == "10.1.0.2");
  CHECK(Annotation(ep, endpointutil::kLastChangeTriggerTime).value_or("") == "2026-01-01T00:00:05Z");
}

TEST_CASE("publishNotReadyAddresses puts not-ready and terminating pods in addresses") {
  Bench b;
  auto c = NewEndpointsController(b.ctx);
  b.Seed(kServices, R"({"metadata":{"name":"web","namespace":"ns"},
    "spec":{"selector":{"app":"web"},"clusterIP":"10.0.0.10","publishNotReadyAddresses":true,
    "ports":[{"port":80,"targetPort":8080,"protocol":"TCP"}]}})");
  b.Seed(kPods, PodJson("a", "10.1.0.1", false));
  b.Seed(kPods, PodJson("b", "10.1.0.2", true));
  b.api.Delete(kPods, "ns", "b", {}, [](StatusOr<JsonDoc>) {});
  b.Sync();
  b.api.ClearActions();
  REQUIRE(b.Reconcile(*c, "ns/web").ok());
  auto ep = Body(b);
  const JsonValue& subsets = *Member(ep, "subsets");
  REQUIRE(subsets.Size() == 1);
  CHECK(subsets[0]["addresses"].Size() == 2);
  CHECK(Member(subsets[0], "notReadyAddresses") == nullptr);
  CHECK(ToJson(subsets[0]["ports"]) == R"([{"port":8080,"protocol":"TCP"}])");
}

TEST_CASE("headless services get the headless label, hostnames, and port-less subsets") {
  Bench b;
  auto c = NewEndpointsController(b.ctx);
  b.Seed(kServices, R"({"metadata":{"name":"web","namespace":"ns"},
    "spec":{"selector":{"app":"web"},"clusterIP":"None"}})");
  b.Seed(kPods, PodJson("web-0", "10.1.0.1", true, 8080, R"("hostname":"web-0","subdomain":"web",)"));
  b.Sync();
  REQUIRE(b.Reconcile(*c, "ns/web").ok());
  auto ep = Body(b);
  CHECK(ToJson(*Path(ep, {"metadata", "labels"})) == R"({"service.kubernetes.io/headless":""})");
  const JsonValue& subsets = *Member(ep, "subsets");
  REQUIRE(subsets.Size() == 1);
  CHECK(Member(subsets[0], "ports") == nullptr);
  CHECK(std::string(subsets[0]["addresses"][0]["hostname"].GetString()) == "web-0");
}

TEST_CASE("endpoints of deleted services go; selector-less services and default/kubernetes are left alone") {
  Bench b;
  auto c = NewEndpointsController(b.ctx);
  b.Seed(kServices, R"({"metadata":{"name":"manual","namespace":"ns"},"spec":{"clusterIP":"10.0.0.11","ports":[{"port":80}]}})");
  b.Seed(kEndpoints, R"({"metadata":{"name":"manual","namespace":"ns"},"subsets":[{"addresses":[{"ip":"1.2.3.4"}]}]})");
  b.Seed(kEndpoints, R"({"metadata":{"name":"gone","namespace":"ns"}})");
  b.Seed(kEndpoints, R"({"metadata":{"name":"kubernetes","namespace":"default"}})");
  b.Sync();
  b.api.ClearActions();
  REQUIRE(b.Reconcile(*c, "ns/manual").ok());
  REQUIRE(b.Reconcile(*c, "default/kubernetes").ok());
  CHECK(b.TakeWrites().empty());
  REQUIRE(b.Reconcile(*c, "ns/gone").ok());
  CHECK(b.TakeWrites() == std::vector<std::string>{"delete endpoints ns/gone"});
}

TEST_CASE("a failed create records FailedToCreateEndpoint and retries") {
  Bench b;
  auto c = NewEndpointsController(b.ctx);
  b.Seed(kServices, kService);
  b.Seed(kPods, PodJson("a", "10.1.0.1", true));
  b.Sync();
  b.api.SetReactor([](const client::FakeApiClient::Action& a) {
    return a.verb == "create" && a.resource.plural == "endpoints" ? Status::Unavailable("boom") : Status::OK();
  });
  CHECK_FALSE(b.Reconcile(*c, "ns/web").ok());
  CHECK(b.EventReasons() == std::vector<std::string>{"FailedToCreateEndpoint: Failed to create endpoint for service ns/web: boom"});
}

TEST_CASE("the shared Service and pod handlers enqueue the Services a pod event concerns") {
  Bench b;
  std::vector<std::string> keys;
  endpointutil::AddServiceAndPodHandlers(b.informers.For(kServices), b.informers.For(kPods),
                                         [&](const std::string& k) { keys.push_back(k); });
  b.Seed(kServices, kService);
  b.Seed(kServices, R"({"metadata":{"name":"db","namespace":"ns"},"spec":{"selector":{"app":"db"}}})");
  b.Seed(kServices, R"({"metadata":{"name":"other-ns","namespace":"x"},"spec":{"selector":{"app":"web"}}})");
  b.Sync();
  std::sort(keys.begin(), keys.end());
  CHECK(keys == std::vector<std::string>{"ns/db", "ns/web", "x/other-ns"});  // every Service added
  keys.clear();

  b.Seed(kPods, PodJson("a", "10.1.0.1", true));
  b.timers.RunPending();
  CHECK(keys == std::vector<std::string>{"ns/web"});  // the Services selecting the new pod
  keys.clear();

  auto update = [&](const std::function<void(JsonDoc&)>& edit) {
    JsonDoc d;
    d.CopyFrom(*b.api.Find(kPods, "ns", "a"), d.GetAllocator());
    edit(d);
    b.api.Update(kPods, "ns", d, "", [](StatusOr<JsonDoc> r) { REQUIRE(r.ok()); });
    b.timers.RunPending();
  };
  // An annotation changes nothing endpoints show: no Service.
  update([](JsonDoc& d) {
    SetMember(EnsureObject(d, "metadata", d.GetAllocator()), "annotations", Clone(Json(R"({"k":"v"})"), d.GetAllocator()), d.GetAllocator());
  });
  CHECK(keys.empty());
  // New labels: the Services of the new pod, then those of the old one.
  update([](JsonDoc& d) {
    SetMember(EnsureObject(d, "metadata", d.GetAllocator()), "labels", Clone(Json(R"({"app":"db"})"), d.GetAllocator()), d.GetAllocator());
  });
  CHECK(keys == std::vector<std::string>{"ns/db", "ns/web"});
  keys.clear();

  client::DeleteOptions now;
  now.grace_period_seconds = 0;
  b.api.Delete(kPods, "ns", "a", now, [](StatusOr<JsonDoc> r) { REQUIRE(r.ok()); });
  b.timers.RunPending();
  CHECK(keys == std::vector<std::string>{"ns/db"});
  keys.clear();

  b.api.Delete(kServices, "ns", "web", {}, [](StatusOr<JsonDoc>) {});
  b.timers.RunPending();
  CHECK(keys == std::vector<std::string>{"ns/web"});
}

}  // namespace
}  // namespace minik::controllers
