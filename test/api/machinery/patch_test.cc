#include <catch2/catch.hpp>

#include "api/errors.h"
#include "api/patch.h"

using namespace minik::api;
using minik::ParseJson;
using minik::ToJson;

namespace {

minik::JsonDoc Doc(std::string_view json) {
  auto d = ParseJson(json);
  REQUIRE(d.ok());
  return std::move(*d);
}

std::string JP(std::string_view doc, std::string_view patch) {
  auto r = ApplyJsonPatch(Doc(doc), patch);
  INFO(patch);
  REQUIRE(r.ok());
  return ToJson(*r);
}
minik::Status JPErr(std::string_view doc, std::string_view patch) {
  auto r = ApplyJsonPatch(Doc(doc), patch);
  INFO(patch);
  REQUIRE_FALSE(r.ok());
  return r.status();
}
std::string MP(std::string_view doc, std::string_view patch) {
  auto r = ApplyMergePatch(Doc(doc), patch);
  INFO(patch);
  REQUIRE(r.ok());
  return ToJson(*r);
}
std::string SMP(std::string_view kind, std::string_view doc, std::string_view patch) {
  auto r = ApplyStrategicMergePatch(Doc(doc), patch, "v1", kind);
  INFO(patch);
  if (!r.ok()) FAIL(r.status().ToString());
  return ToJson(*r);
}
minik::Status SMPErr(std::string_view kind, std::string_view doc, std::string_view patch) {
  auto r = ApplyStrategicMergePatch(Doc(doc), patch, "v1", kind);
  INFO(patch);
  REQUIRE_FALSE(r.ok());
  return r.status();
}
// Compact form of a JSON literal written readably in the test.
std::string C(std::string_view json) { return ToJson(Doc(json)); }

constexpr std::string_view kRejected = "the server rejected our request due to an error in our request";

}  // namespace

TEST_CASE("json patch: operations") {
  const char* doc = R"({"a":{"b":1},"l":[1,2,3],"s":"x"})";
  CHECK(JP(doc, R"([{"op":"add","path":"/a/c","value":2}])") == R"({"a":{"b":1,"c":2},"l":[1,2,3],"s":"x"})");
  CHECK(JP(doc, R"([{"op":"add","path":"/a/b","value":5}])") == R"({"a":{"b":5},"l":[1,2,3],"s":"x"})");
  CHECK(JP(doc, R"([{"op":"add","path":"/l/-","value":4}])") == R"({"a":{"b":1},"l":[1,2,3,4],"s":"x"})");
  CHECK(JP(doc, R"([{"op":"add","path":"/l/0","value":0}])") == R"({"a":{"b":1},"l":[0,1,2,3],"s":"x"})");
  CHECK(JP(doc, R"([{"op":"add","path":"/l/3","value":9}])") == R"({"a":{"b":1},"l":[1,2,3,9],"s":"x"})");
  CHECK(JP(doc, R"([{"op":"add","path":"/l/-1","value":9}])") == R"({"a":{"b":1},"l":[1,2,3,9],"s":"x"})");
  CHECK(JP(doc, R"([{"op":"remove","path":"/l/1"}])") == R"({"a":{"b":1},"l":[1,3],"s":"x"})");
  CHECK(JP(doc, R"([{"op":"remove","path":"/l/-1"}])") == R"({"a":{"b":1},"l":[1,2],"s":"x"})");
  CHECK(JP(doc, R"([{"op":"remove","path":"/a"}])") == R"({"l":[1,2,3],"s":"x"})");
  CHECK(JP(doc, R"([{"op":"replace","path":"/s","value":{"y":1}}])") == R"({"a":{"b":1},"l":[1,2,3],"s":{"y":1}})");
  CHECK(JP(doc, R"([{"op":"replace","path":"/l/0","value":7}])") == R"({"a":{"b":1},"l":[7,2,3],"s":"x"})");
  // evanphx/json-patch v4 lets replace create a missing object key.
  CHECK(JP(doc, R"([{"op":"replace","path":"/new","value":1}])") == R"({"a":{"b":1},"l":[1,2,3],"s":"x","new":1})");
  CHECK(JP(doc, R"([{"op":"move","from":"/a/b","path":"/moved"}])") == R"({"a":{},"l":[1,2,3],"s":"x","moved":1})");
  CHECK(JP(doc, R"([{"op":"copy","from":"/a","path":"/l/0"}])") == R"({"a":{"b":1},"l":[{"b":1},1,2,3],"s":"x"})");
  CHECK(JP(doc, R"([{"op":"test","path":"/a","value":{"b":1.0}},{"op":"add","path":"/t","value":true}])") ==
        R"({"a":{"b":1},"l":[1,2,3],"s":"x","t":true})");
  CHECK(JP(doc, R"([{"op":"test","path":"/missing","value":null}])") == C(doc));
  CHECK(JP(R"({"a/b":{"m~n":1}})", R"([{"op":"replace","path":"/a~1b/m~0n","value":2}])") == R"({"a/b":{"m~n":2}})");
  CHECK(JP(doc, "null") == C(doc));
  CHECK(JP(doc, "[]") == C(doc));
  // Typical kubectl patch --type=json against a pod.
  CHECK(JP(R"({"metadata":{"labels":{"app":"x"}},"spec":{"containers":[{"name":"c","image":"a"}]}})",
           R"([{"op":"replace","path":"/spec/containers/0/image","value":"b"},{"op":"remove","path":"/metadata/labels/app"}])") ==
        R"({"metadata":{"labels":{}},"spec":{"containers":[{"name":"c","image":"b"}]}})");
}

TEST_CASE("json patch: errors as kube-apiserver reports them") {
  const char* doc = R"({"a":{"b":1},"l":[1,2,3]})";
  for (const char* p : {R"([{"op":"test","path":"/a/b","value":2}])", R"([{"op":"remove","path":"/nope"}])",
                        R"([{"op":"add","path":"/x/y","value":1}])", R"([{"op":"add","path":"/l/9","value":1}])",
                        R"([{"op":"replace","path":"/l/3","value":1}])", R"([{"op":"bogus","path":"/a"}])",
                        R"([{"op":"add","value":1}])", R"([{"op":"move","from":"/nope","path":"/a"}])",
                        R"([{"op":"add","path":"","value":1}])", R"([{"op":"add","path":"/l/x","value":1}])"}) {
    auto s = JPErr(doc, p);
    CHECK(s.code() == minik::Code::kInvalid);
    CHECK(s.message() == kRejected);
    CHECK(HttpCode(s) == 422);
    CHECK(StatusJson(s) ==
          R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"the server rejected our request due to an error in our request","reason":"Invalid","details":{},"code":422})");
  }
  auto obj = JPErr(doc, R"({"op":"add"})");
  CHECK(obj.code() == minik::Code::kBadRequest);
  CHECK(obj.message() == "json: cannot unmarshal object into Go value of type jsonpatch.Patch");
  auto elem = JPErr(doc, R"(["x"])");
  CHECK(elem.message() == "json: cannot unmarshal string into Go value of type jsonpatch.Operation");
  auto syntax = JPErr(doc, R"([{"op":)");
  CHECK(syntax.code() == minik::Code::kBadRequest);
  CHECK(syntax.message() == "unexpected end of JSON input");
  std::string many = "[";
  for (int i = 0; i < 10001; ++i) many += std::string(i ? "," : "") + R"({"op":"test","path":"/a","value":{"b":1}})";
  many += "]";
  auto big = JPErr(doc, many);
  CHECK(big.code() == minik::Code::kTooLarge);
  CHECK(big.message() == "Request entity too large: The allowed maximum operations in a JSON patch is 10000, got 10001");
}

TEST_CASE("merge patch: RFC 7386") {
  CHECK(MP(R"({"a":"b"})", R"({"a":"c"})") == R"({"a":"c"})");
  CHECK(MP(R"({"a":"b"})", R"({"b":"c"})") == R"({"a":"b","b":"c"})");
  CHECK(MP(R"({"a":"b"})", R"({"a":null})") == R"({})");
  CHECK(MP(R"({"a":"b","b":"c"})", R"({"a":null})") == R"({"b":"c"})");
  CHECK(MP(R"({"a":["b"]})", R"({"a":"c"})") == R"({"a":"c"})");
  CHECK(MP(R"({"a":"c"})", R"({"a":["b"]})") == R"({"a":["b"]})");
  CHECK(MP(R"({"a":{"b":"c"}})", R"({"a":{"b":"d","c":null}})") == R"({"a":{"b":"d"}})");
  CHECK(MP(R"({"a":[{"b":"c"}]})", R"({"a":[1]})") == R"({"a":[1]})");
  CHECK(MP(R"({"e":null})", R"({"a":1})") == R"({"e":null,"a":1})");
  CHECK(MP(R"({})", R"({"a":{"bb":{"ccc":null}}})") == R"({"a":{"bb":{}}})");
  CHECK(MP(R"({"spec":{"replicas":1,"x":2}})", R"({"spec":{"replicas":3}})") == R"({"spec":{"replicas":3,"x":2}})");
  for (const char* bad : {"{", "null", "\"x\"", "5"}) {
    auto r = ApplyMergePatch(Doc("{}"), bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == minik::Code::kBadRequest);
    CHECK(r.status().message() == "Invalid JSON Patch");
  }
}

TEST_CASE("strategic merge: metadata edits from kubectl label and annotate") {
  const char* pod = R"({"metadata":{"name":"p","labels":{"app":"web","tier":"f"}},"spec":{"containers":[{"name":"c","image":"a"}]}})";
  CHECK(SMP("Pod", pod, R"({"metadata":{"labels":{"env":"prod"}}})") ==
        C(R"({"metadata":{"name":"p","labels":{"app":"web","tier":"f","env":"prod"}},"spec":{"containers":[{"name":"c","image":"a"}]}})"));
  CHECK(SMP("Pod", pod, R"({"metadata":{"labels":{"tier":null}}})") ==
        C(R"({"metadata":{"name":"p","labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"a"}]}})"));
  CHECK(SMP("Pod", pod, R"({"metadata":{"annotations":{"a":"b","gone":null}}})") ==
        C(R"({"metadata":{"name":"p","labels":{"app":"web","tier":"f"},"annotations":{"a":"b"}},"spec":{"containers":[{"name":"c","image":"a"}]}})"));
}

TEST_CASE("strategic merge: containers merge by name (kubectl set image, apply)") {
  const char* deploy = R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{"replicas":1,
    "template":{"metadata":{"labels":{"app":"d"}},"spec":{
      "containers":[{"name":"web","image":"nginx:1.25","ports":[{"containerPort":80,"protocol":"TCP"}],
                     "env":[{"name":"A","value":"1"},{"name":"B","value":"2"}]},
                    {"name":"side","image":"busybox"}],
      "tolerations":[{"key":"k","operator":"Exists"}]}}}})";
  // kubectl set image
  CHECK(SMP("Deployment", deploy, R"({"spec":{"template":{"spec":{"containers":[{"image":"nginx:1.26","name":"web"}]}}}})") ==
        C(R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{"replicas":1,
    "template":{"metadata":{"labels":{"app":"d"}},"spec":{
      "containers":[{"name":"web","image":"nginx:1.26","ports":[{"containerPort":80,"protocol":"TCP"}],
                     "env":[{"name":"A","value":"1"},{"name":"B","value":"2"}]},
                    {"name":"side","image":"busybox"}],
      "tolerations":[{"key":"k","operator":"Exists"}]}}}})"));
  // kubectl apply: change image, drop env B, drop the sidecar, with $setElementOrder.
  CHECK(SMP("Deployment", deploy, R"({"spec":{"template":{"spec":{
      "$setElementOrder/containers":[{"name":"web"}],
      "containers":[{"$setElementOrder/env":[{"name":"A"}],"env":[{"$patch":"delete","name":"B"}],"image":"nginx:1.27","name":"web"},
                    {"$patch":"delete","name":"side"}]}}}})") ==
        C(R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{"replicas":1,
    "template":{"metadata":{"labels":{"app":"d"}},"spec":{
      "containers":[{"name":"web","image":"nginx:1.27","ports":[{"containerPort":80,"protocol":"TCP"}],
                     "env":[{"name":"A","value":"1"}]}],
      "tolerations":[{"key":"k","operator":"Exists"}]}}}})"));
  // New container and port: without $setElementOrder upstream puts patch items before server-only
  // items that did not precede them (mergeSortedSlice); tolerations (no strategy) replaced; null
  // deletes replicas. tolerations (no strategy) replaced; null deletes replicas.
  CHECK(SMP("Deployment", deploy, R"({"spec":{"replicas":null,"template":{"spec":{
      "containers":[{"name":"new","image":"x"},{"name":"web","ports":[{"containerPort":443}]}],
      "tolerations":[{"key":"other","operator":"Equal","value":"v"}]}}}})") ==
        C(R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{
    "template":{"metadata":{"labels":{"app":"d"}},"spec":{
      "containers":[{"name":"new","image":"x"},{"name":"web","image":"nginx:1.25","ports":[{"containerPort":443},{"containerPort":80,"protocol":"TCP"}],
                     "env":[{"name":"A","value":"1"},{"name":"B","value":"2"}]},
                    {"name":"side","image":"busybox"}],
      "tolerations":[{"key":"other","operator":"Equal","value":"v"}]}}}})"));
}

TEST_CASE("strategic merge: $setElementOrder reorders merged lists") {
  const char* pod = R"({"spec":{"containers":[{"name":"a","image":"1"},{"name":"b","image":"2"},{"name":"c","image":"3"}]}})";
  CHECK(SMP("Pod", pod, R"({"spec":{"$setElementOrder/containers":[{"name":"c"},{"name":"a"},{"name":"b"}]}})") ==
        C(R"({"spec":{"containers":[{"name":"c","image":"3"},{"name":"a","image":"1"},{"name":"b","image":"2"}]}})"));
  // Server-only items keep their place relative to patch items.
  CHECK(SMP("Pod", pod, R"({"spec":{"$setElementOrder/containers":[{"name":"c"},{"name":"d"}],"containers":[{"name":"d","image":"4"}]}})") ==
        C(R"({"spec":{"containers":[{"name":"a","image":"1"},{"name":"b","image":"2"},{"name":"c","image":"3"},{"name":"d","image":"4"}]}})"));
  // Deleting and adding in one patch: ordered as upstream's in-place slice edits leave it.
  CHECK(SMP("Pod", R"({"spec":{"containers":[{"name":"a"},{"name":"b","image":"2"},{"name":"d","image":"4"}]}})",
            R"({"spec":{"$setElementOrder/containers":[{"name":"b"},{"name":"c"}],"containers":[{"name":"c"},{"$patch":"delete","name":"a"}]}})") ==
        C(R"({"spec":{"containers":[{"name":"b","image":"2"},{"name":"d","image":"4"},{"name":"c"}]}})"));
  // Primitive list with merge strategy.
  CHECK(SMP("Pod", R"({"metadata":{"finalizers":["a","b"]}})",
            R"({"metadata":{"$setElementOrder/finalizers":["c","b","a"],"finalizers":["c"]}})") ==
        C(R"({"metadata":{"finalizers":["c","b","a"]}})"));
}

TEST_CASE("strategic merge: primitive lists, deleteFromPrimitiveList, retainKeys") {
  CHECK(SMP("Pod", R"({"metadata":{"finalizers":["a","b"]}})", R"({"metadata":{"finalizers":["c","a"]}})") ==
        C(R"({"metadata":{"finalizers":["c","a","b"]}})"));
  CHECK(SMP("Pod", R"({"metadata":{"finalizers":["a","b","c"]}})",
            R"({"metadata":{"$deleteFromPrimitiveList/finalizers":["b"]}})") ==
        C(R"({"metadata":{"finalizers":["a","c"]}})"));
  CHECK(SMP("Node", R"({"spec":{"podCIDRs":["10.42.0.0/24"]}})", R"({"spec":{"podCIDRs":["fd00::/64"]}})") ==
        C(R"({"spec":{"podCIDRs":["fd00::/64","10.42.0.0/24"]}})"));
  // A list without strategy is replaced.
  CHECK(SMP("Pod", R"({"spec":{"containers":[{"name":"a","args":["x","y"]}]}})",
            R"({"spec":{"containers":[{"name":"a","args":["z"]}]}})") ==
        C(R"({"spec":{"containers":[{"name":"a","args":["z"]}]}})"));
  // kubectl apply switching the Deployment strategy to Recreate.
  CHECK(SMP("Deployment",
            R"({"spec":{"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":"25%","maxUnavailable":"25%"}}}})",
            R"({"spec":{"strategy":{"$retainKeys":["type"],"rollingUpdate":null,"type":"Recreate"}}})") ==
        C(R"({"spec":{"strategy":{"type":"Recreate"}}})"));
  // Volumes: merge by name, retainKeys drops the old source.
  CHECK(SMP("Pod", R"({"spec":{"volumes":[{"name":"v","emptyDir":{}},{"name":"w","emptyDir":{}}]}})",
            R"({"spec":{"volumes":[{"$retainKeys":["configMap","name"],"configMap":{"name":"cm"},"name":"v"}]}})") ==
        C(R"({"spec":{"volumes":[{"name":"v","configMap":{"name":"cm"}},{"name":"w","emptyDir":{}}]}})"));
}

TEST_CASE("strategic merge: $patch directives") {
  const char* pod = R"({"spec":{"containers":[{"name":"a","image":"1"},{"name":"b","image":"2"}],"nodeSelector":{"x":"1","y":"2"}}})";
  CHECK(SMP("Pod", pod, R"({"spec":{"containers":[{"name":"z","image":"9"},{"$patch":"replace"}]}})") ==
        C(R"({"spec":{"containers":[{"name":"z","image":"9"}],"nodeSelector":{"x":"1","y":"2"}}})"));
  CHECK(SMP("Pod", pod, R"({"spec":{"nodeSelector":{"$patch":"replace","z":"3"}}})") ==
        C(R"({"spec":{"containers":[{"name":"a","image":"1"},{"name":"b","image":"2"}],"nodeSelector":{"z":"3"}}})"));
  CHECK(SMP("Pod", pod, R"({"spec":{"nodeSelector":{"$patch":"delete"}}})") ==
        C(R"({"spec":{"containers":[{"name":"a","image":"1"},{"name":"b","image":"2"}],"nodeSelector":{}}})"));
  CHECK(SMP("Pod", pod, R"({"spec":{"containers":[{"$patch":"delete","name":"a"}]}})") ==
        C(R"({"spec":{"containers":[{"name":"b","image":"2"}],"nodeSelector":{"x":"1","y":"2"}}})"));
  // Directives never leak into new subtrees.
  CHECK(SMP("Pod", R"({"spec":{}})", R"({"spec":{"affinity":{"$patch":"replace","a":1},"containers":[{"name":"n","env":[{"name":"E","value":null}]}]}})") ==
        C(R"({"spec":{"containers":[{"name":"n","env":[{"name":"E"}]}]}})"));
}

TEST_CASE("strategic merge: other built-in merge keys") {
  CHECK(SMP("Service", R"({"spec":{"ports":[{"name":"http","port":80,"targetPort":8080},{"name":"https","port":443}]}})",
            R"({"spec":{"ports":[{"port":80,"targetPort":9090}]}})") ==
        C(R"({"spec":{"ports":[{"name":"http","port":80,"targetPort":9090},{"name":"https","port":443}]}})"));
  CHECK(SMP("Pod", R"({"metadata":{"ownerReferences":[{"uid":"1","name":"a"}]}})",
            R"({"metadata":{"ownerReferences":[{"uid":"2","name":"b"}]}})") ==
        C(R"({"metadata":{"ownerReferences":[{"uid":"2","name":"b"},{"uid":"1","name":"a"}]}})"));
  CHECK(SMP("Pod", R"({"status":{"conditions":[{"type":"Ready","status":"False"},{"type":"Initialized","status":"True"}]}})",
            R"({"status":{"conditions":[{"type":"Ready","status":"True"}]}})") ==
        C(R"({"status":{"conditions":[{"type":"Ready","status":"True"},{"type":"Initialized","status":"True"}]}})"));
  CHECK(SMP("CronJob", R"({"spec":{"jobTemplate":{"spec":{"template":{"spec":{"containers":[{"name":"a","image":"1"},{"name":"b"}]}}}}}})",
            R"({"spec":{"jobTemplate":{"spec":{"template":{"spec":{"containers":[{"name":"b","image":"2"}]}}}}}})") ==
        C(R"({"spec":{"jobTemplate":{"spec":{"template":{"spec":{"containers":[{"name":"a","image":"1"},{"name":"b","image":"2"}]}}}}}})"));
  // Unknown kinds: maps merge, lists are replaced.
  CHECK(SMP("Widget", R"({"spec":{"containers":[{"name":"a"}],"m":{"x":1}}})",
            R"({"spec":{"containers":[{"name":"b"}],"m":{"y":2}}})") ==
        C(R"({"spec":{"containers":[{"name":"b"}],"m":{"x":1,"y":2}}})"));
  CHECK(LookupPatchMeta("Deployment", "spec.template.spec.containers").merge_key == "name");
  CHECK(LookupPatchMeta("Pod", "spec.containers.ports").merge_key == "containerPort");
  CHECK(LookupPatchMeta("Pod", "spec.volumes").strategy == "merge,retainKeys");
  CHECK(LookupPatchMeta("Pod", "spec.tolerations").strategy.empty());
  CHECK(LookupPatchMeta("StatefulSet", "spec.template.spec.initContainers.volumeMounts").merge_key == "mountPath");
  CHECK(HasStrategicMergeSchema("v1", "ConfigMap"));
  CHECK_FALSE(HasStrategicMergeSchema("example.com/v1", "Widget"));
}

TEST_CASE("strategic merge: errors as kube-apiserver maps them") {
  const char* pod = R"({"spec":{"containers":[{"name":"a","image":"1"}]}})";
  auto no_key = SMPErr("Pod", pod, R"({"spec":{"containers":[{"image":"x"}]}})");
  CHECK(no_key.code() == minik::Code::kInternal);
  CHECK(no_key.message() == "map: map[image:x] does not contain declared merge key: name");
  auto retain = SMPErr("Deployment", R"({"spec":{"strategy":{}}})",
                       R"({"spec":{"strategy":{"$retainKeys":["type"],"rollingUpdate":{"maxSurge":1}}}})");
  CHECK(retain.code() == minik::Code::kBadRequest);
  CHECK(retain.message() == "invalid patch format of retainKeys");
  auto lol = SMPErr("Pod", R"({"metadata":{"finalizers":[["a"]]}})", R"({"metadata":{"finalizers":[["b"]]}})");
  CHECK(lol.code() == minik::Code::kInvalid);
  CHECK(lol.message() == kRejected);
  auto merge_dir = SMPErr("Pod", pod, R"({"spec":{"containers":[{"$patch":"merge"}]}})");
  CHECK(merge_dir.message() == "merging lists cannot yet be specified in the patch");
  auto bad_type = SMPErr("Pod", pod, R"({"spec":{"$patch":"merge","a":1}})");
  CHECK(bad_type.code() == minik::Code::kInternal);
  CHECK(bad_type.message() == "unknown patch type: merge in map: map[$patch:merge a:1]");
  auto order = SMPErr("Pod", pod, R"({"spec":{"$setElementOrder/containers":[{"name":"a"}],"containers":[{"name":"b"}]}})");
  CHECK(order.code() == minik::Code::kInternal);
  CHECK(order.message().rfind("The order in patch list:\n[map[name:b]]\n doesn't match $setElementOrder list:\n", 0) == 0);
  auto not_obj = SMPErr("Pod", pod, "[1]");
  CHECK(not_obj.code() == minik::Code::kBadRequest);
  CHECK(not_obj.message() == "json: cannot unmarshal array into Go value of type map[string]interface {}");
  auto syntax = SMPErr("Pod", pod, "{\"a\":}");
  CHECK(syntax.code() == minik::Code::kBadRequest);
  CHECK(syntax.message() == "invalid character '}' looking for beginning of value");
  auto mixed = SMPErr("Pod", R"({"metadata":{"finalizers":["a"]}})", R"({"metadata":{"finalizers":[1]}})");
  CHECK(mixed.message() == "list element types are not identical: [[a] [1]]");
  auto num_key = SMPErr("Pod", R"({"spec":{"containers":[{"name":"a","ports":[{"containerPort":1e6}]}]}})",
                        R"({"spec":{"containers":[{"name":"a","ports":[{"protocol":"TCP"}]}]}})");
  CHECK(num_key.message() == "map: map[protocol:TCP] does not contain declared merge key: containerPort");
}
