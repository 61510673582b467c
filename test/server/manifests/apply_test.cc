#include "server/manifests/apply.h"

#include <catch2/catch.hpp>
#include "json_testing.h"

namespace minik::server {
namespace {

using minik::testing::J;

// Compares a document with expected JSON, ignoring member order.
void RequireJsonEq(const JsonValue& got, std::string_view expected) {
  JsonDoc want = J(expected);
  INFO("got:  " << ToJson(got));
  INFO("want: " << ToJson(want));
  REQUIRE(got == want);
}

TEST_CASE("last-applied configuration is serialized as kubectl does", "[manifests][apply]") {
  JsonDoc d = J(R"({"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"a","namespace":"default"},
                    "data":{"z":"1","a":"<b>&"}})");
  CHECK(LastAppliedConfiguration(d) ==
        "{\"apiVersion\":\"v1\",\"data\":{\"a\":\"\\u003cb\\u003e\\u0026\",\"z\":\"1\"},\"kind\":\"ConfigMap\","
        "\"metadata\":{\"annotations\":{},\"name\":\"a\",\"namespace\":\"default\"}}\n");

  // The annotation itself is left out; other annotations stay; numbers print as Go prints them.
  JsonDoc d2 = J(R"({"apiVersion":"v1","kind":"X","metadata":{"name":"b","annotations":{
      "kubectl.kubernetes.io/last-applied-configuration":"old","k":"v"}},"n":3,"f":1.5,"g":2.0,"s":"a\nb"})");
  CHECK(LastAppliedConfiguration(d2) ==
        "{\"apiVersion\":\"v1\",\"f\":1.5,\"g\":2,\"kind\":\"X\",\"metadata\":{\"annotations\":{\"k\":\"v\"},"
        "\"name\":\"b\"},\"n\":3,\"s\":\"a\\nb\"}\n");
}

TEST_CASE("WithLastApplied annotates and drops server-owned metadata and nulls", "[manifests][apply]") {
  JsonDoc d = J(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","namespace":"default",
                    "creationTimestamp":null},"data":{"k":"v"}})");
  JsonDoc c = WithLastApplied(d);
  RequireJsonEq(c, R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","namespace":"default",
      "annotations":{"kubectl.kubernetes.io/last-applied-configuration":
      "{\"apiVersion\":\"v1\",\"data\":{\"k\":\"v\"},\"kind\":\"ConfigMap\",\"metadata\":{\"annotations\":{},\"creationTimestamp\":null,\"name\":\"a\",\"namespace\":\"default\"}}\n"}},
      "data":{"k":"v"}})");
  JsonDoc back = LastAppliedOf(c);
  REQUIRE(back.IsObject());
  CHECK(*Path(back, {"data", "k"}) == JsonValue("v"));
  CHECK(LastAppliedOf(J(R"({"metadata":{"name":"x"}})")).IsNull());
}

TEST_CASE("three-way merge keeps foreign fields, applies changes and removes dropped fields",
          "[manifests][apply]") {
  JsonDoc last = J(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","namespace":"default",
                       "labels":{"app":"x","tier":"web"}},"data":{"k1":"v1","k2":"v2"}})");
  // live: what the server holds; a hand-added label and annotation, server metadata.
  JsonDoc live = J(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","namespace":"default",
      "uid":"u1","resourceVersion":"7","creationTimestamp":"2026-01-01T00:00:00Z",
      "labels":{"app":"x","tier":"web","owner":"me"},"annotations":{"note":"hand"}},
      "data":{"k1":"v1","k2":"v2","k3":"hand"}})");
  JsonDoc desired = J(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","namespace":"default",
                          "labels":{"app":"y"}},"data":{"k1":"changed"}})");
  JsonDoc merged = ThreeWayMerge(live, last, desired);
  std::string la = LastAppliedConfiguration(desired);
  JsonDoc want = J(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","namespace":"default",
      "uid":"u1","resourceVersion":"7","creationTimestamp":"2026-01-01T00:00:00Z",
      "labels":{"app":"y","owner":"me"},"annotations":{"note":"hand"}},
      "data":{"k1":"changed","k3":"hand"}})");
  SetString(*MutableMember(*MutableMember(want, "metadata"), "annotations"), kLastAppliedAnnotation, la,
            want.GetAllocator());
  INFO(ToJson(merged));
  CHECK(merged == want);

  // Without a last-applied record nothing is removed (kubectl's behaviour for foreign objects).
  JsonDoc merged2 = ThreeWayMerge(live, JsonDoc(), desired);
  CHECK(*Path(merged2, {"data", "k2"}) == JsonValue("v2"));
  CHECK(*Path(merged2, {"metadata", "labels", "tier"}) == JsonValue("web"));
  // A null in the file removes the field.
  JsonDoc with_null = J(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","namespace":"default"},
                            "data":{"k3":null}})");
  JsonDoc merged3 = ThreeWayMerge(live, JsonDoc(), with_null);
  CHECK(Path(merged3, {"data", "k3"}) == nullptr);
  CHECK(*Path(merged3, {"data", "k1"}) == JsonValue("v1"));
}

TEST_CASE("three-way merge merges keyed lists item by item", "[manifests][apply]") {
  JsonDoc last = J(R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d","namespace":"default"},
      "spec":{"template":{"spec":{"containers":[{"name":"app","image":"app:1","args":["a"]},
                                                {"name":"gone","image":"g:1"}]}}}})");
  JsonDoc live = J(R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d","namespace":"default",
      "resourceVersion":"3"},
      "spec":{"replicas":1,"template":{"spec":{"containers":[
        {"name":"app","image":"app:1","args":["a"],"imagePullPolicy":"IfNotPresent"},
        {"name":"gone","image":"g:1","imagePullPolicy":"IfNotPresent"},
        {"name":"sidecar","image":"s:1"}]}}}})");
  JsonDoc desired = J(R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d","namespace":"default"},
      "spec":{"template":{"spec":{"containers":[{"name":"app","image":"app:2","args":["a"]},
                                                {"name":"new","image":"n:1"}]}}}})");
  JsonDoc merged = ThreeWayMerge(live, last, desired);
  RequireJsonEq(*Path(merged, {"spec"}), R"({"replicas":1,"template":{"spec":{"containers":[
        {"name":"app","image":"app:2","args":["a"],"imagePullPolicy":"IfNotPresent"},
        {"name":"new","image":"n:1"},
        {"name":"sidecar","image":"s:1"}]}}})");
}

TEST_CASE("three-way merge of unkeyed lists replaces only what the file changed", "[manifests][apply]") {
  JsonDoc last = J(R"({"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding",
      "metadata":{"name":"b"},"subjects":[{"kind":"User","name":"u"}]})");
  // The server (or a user) changed the list's items; the file did not change the list.
  JsonDoc live = J(R"({"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding",
      "metadata":{"name":"b","resourceVersion":"1"},
      "subjects":[{"apiGroup":"rbac.authorization.k8s.io","kind":"User","name":"u"}]})");
  JsonDoc same = J(R"({"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding",
      "metadata":{"name":"b"},"subjects":[{"kind":"User","name":"u"}]})");
  JsonDoc merged = ThreeWayMerge(live, last, same);
  RequireJsonEq(*Path(merged, {"subjects"}), R"([{"apiGroup":"rbac.authorization.k8s.io","kind":"User","name":"u"}])");

  JsonDoc changed = J(R"({"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding",
      "metadata":{"name":"b"},"subjects":[{"kind":"User","name":"v"}]})");
  JsonDoc merged2 = ThreeWayMerge(live, last, changed);
  RequireJsonEq(*Path(merged2, {"subjects"}), R"([{"kind":"User","name":"v"}])");
}

TEST_CASE("re-applying an unchanged file over a defaulted object changes nothing", "[manifests][apply]") {
  JsonDoc desired = J(R"({"apiVersion":"v1","kind":"Service","metadata":{"name":"s","namespace":"default"},
      "spec":{"selector":{"app":"x"},"ports":[{"port":80,"targetPort":8080}]}})");
  JsonDoc live = WithLastApplied(desired);
  JsonAlloc& a = live.GetAllocator();
  SetString(*MutableMember(live, "metadata"), "resourceVersion", "5", a);
  SetString(*MutableMember(live, "spec"), "clusterIP", "10.43.0.20", a);
  SetString((*MutableMember(*MutableMember(live, "spec"), "ports"))[0], "protocol", "TCP", a);
  JsonDoc last = LastAppliedOf(live);
  JsonDoc merged = ThreeWayMerge(live, last, desired);
  INFO(ToJson(merged));
  CHECK(merged == live);
}

}  // namespace
}  // namespace minik::server
