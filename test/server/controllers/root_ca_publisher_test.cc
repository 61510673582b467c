// The root CA publisher: kube-root-ca.crt in every namespace, restored when changed or deleted.
#include "server/controllers/root_ca_publisher.h"

#include "fixture.h"

namespace minik::controllers {
namespace {

using testing::Bench;
using testing::Json;

constexpr char kCa[] = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

TEST_CASE("kube-root-ca.crt is created in every namespace with the CA and the description") {
  Bench b;
  auto c = NewRootCaPublisherController(b.ctx, kCa);
  b.Seed(kNamespaces, R"({"metadata":{"name":"ns"},"status":{"phase":"Active"}})");
  b.Sync();
  REQUIRE(b.Reconcile(*c, "ns").ok());
  REQUIRE(b.api.writes().size() == 1);
  CHECK(b.api.writes()[0].body ==
        R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"kube-root-ca.crt","namespace":"ns",)"
        R"("annotations":{"kubernetes.io/description":"Contains a CA bundle that can be used to verify the kube-apiserver )"
        R"(when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is )"
        R"(guaranteed across distributions of Kubernetes clusters."}},"data":{"ca.crt":"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"}})");
  CHECK(b.TakeWrites() == std::vector<std::string>{"create configmaps ns/kube-root-ca.crt"});
  b.timers.RunPending();
  REQUIRE(b.Reconcile(*c, "ns").ok());
  CHECK(b.TakeWrites().empty());
}

TEST_CASE("a changed kube-root-ca.crt is restored and a deleted one recreated") {
  Bench b;
  auto c = NewRootCaPublisherController(b.ctx, kCa);
  b.Seed(kNamespaces, R"({"metadata":{"name":"ns"},"status":{"phase":"Active"}})");
  b.Seed(kConfigMaps, R"({"metadata":{"name":"kube-root-ca.crt","namespace":"ns","labels":{"x":"y"}},
    "data":{"ca.crt":"old","extra":"1"}})");
  b.Sync();
  REQUIRE(b.Reconcile(*c, "ns").ok());
  REQUIRE(b.api.writes().size() == 1);
  auto body = Json(b.api.writes()[0].body);
  CHECK(ToJson(*Member(body, "data")) == R"({"ca.crt":"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"})");
  CHECK(Annotation(body, kRootCaDescriptionAnnotation).value_or("") == kRootCaDescription);
  CHECK(ToJson(*Path(body, {"metadata", "labels"})) == R"({"x":"y"})");
  CHECK(b.TakeWrites() == std::vector<std::string>{"update configmaps ns/kube-root-ca.crt"});

  b.api.Delete(kConfigMaps, "ns", "kube-root-ca.crt", {}, [](StatusOr<JsonDoc>) {});
  b.timers.RunPending();
  b.api.ClearActions();
  CHECK(c->queue().Len() == 1);
  REQUIRE(b.Reconcile(*c, "ns").ok());
  CHECK(b.TakeWrites() == std::vector<std::string>{"create configmaps ns/kube-root-ca.crt"});
}

TEST_CASE("terminating namespaces are skipped") {
  Bench b;
  auto c = NewRootCaPublisherController(b.ctx, kCa);
  b.Seed(kNamespaces, R"({"metadata":{"name":"ns"},"status":{"phase":"Terminating"}})");
  b.Sync();
  REQUIRE(b.Reconcile(*c, "ns").ok());
  REQUIRE(b.Reconcile(*c, "gone").ok());
  CHECK(b.TakeWrites().empty());
}

}  // namespace
}  // namespace minik::controllers
