#include <catch2/catch.hpp>

#include <string>

#include "api/defaults.h"
#include "api/errors.h"
#include "api/registry.h"

using minik::JsonDoc;
using minik::ParseJson;
using minik::Status;
using minik::api::ApplyDefaults;
using minik::api::Registry;
using minik::api::ValidateObject;

namespace {

JsonDoc Defaulted(const std::string& text) {
  auto doc = ParseJson(text);
  REQUIRE(doc.ok());
  JsonDoc obj = std::move(doc).value();
  const auto* r = Registry::Builtin().FindByKind(obj["apiVersion"].GetString(), obj["kind"].GetString());
  REQUIRE(r);
  ApplyDefaults(*r, obj, obj.GetAllocator());
  return obj;
}

Status Validate(const JsonDoc& obj, const JsonDoc* old = nullptr) {
  const auto* r = Registry::Builtin().FindByKind(obj["apiVersion"].GetString(), obj["kind"].GetString());
  REQUIRE(r);
  return ValidateObject(*r, obj, old);
}

std::string Message(const std::string& text) {
  Status s = Validate(Defaulted(text));
  REQUIRE_FALSE(s.ok());
  CHECK(s.code() == minik::Code::kInvalid);
  return s.message();
}

const char* kDeploy = R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},
  "spec":{"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},
  "spec":{"containers":[{"name":"nginx","image":"nginx"}]}}}})";

}  // namespace

TEST_CASE("valid objects pass") {
  CHECK(Validate(Defaulted(kDeploy)).ok());
  CHECK(Validate(Defaulted(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},
    "spec":{"containers":[{"name":"c","image":"nginx","ports":[{"name":"http","containerPort":80}],
      "volumeMounts":[{"name":"v","mountPath":"/v"}]}],"volumes":[{"name":"v"}]}})")).ok());
  CHECK(Validate(Defaulted(R"({"apiVersion":"v1","kind":"Service","metadata":{"name":"s"},
    "spec":{"ports":[{"name":"a","port":80},{"name":"b","port":443,"targetPort":"https"}]}})")).ok());
  CHECK(Validate(Defaulted(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},
    "data":{"app.properties":"x","KEY_1":"y"}})")).ok());
  CHECK(Validate(Defaulted(R"({"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"j","uid":"u"},
    "spec":{"template":{"spec":{"restartPolicy":"Never","containers":[{"name":"c","image":"b"}]}}}})")).ok());
  CHECK(Validate(Defaulted(R"({"apiVersion":"batch/v1","kind":"CronJob","metadata":{"name":"c"},
    "spec":{"schedule":"*/5 * * * *","jobTemplate":{"spec":{"template":{"spec":{"restartPolicy":"OnFailure",
    "containers":[{"name":"c","image":"b"}]}}}}}})")).ok());
}

TEST_CASE("pod: containers and images are required, names are DNS-1123 labels and unique") {
  CHECK(Message(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[]}})") ==
        "Pod \"p\" is invalid: spec.containers: Required value");
  CHECK(Message(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c"}]}})") ==
        "Pod \"p\" is invalid: spec.containers[0].image: Required value");
  CHECK(Message(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},
      "spec":{"containers":[{"name":"Web","image":"x"}]}})") ==
        "Pod \"p\" is invalid: spec.containers[0].name: Invalid value: \"Web\": a lowercase RFC 1123 label must "
        "consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character "
        "(e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')");
  CHECK(Message(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},
      "spec":{"containers":[{"name":"a","image":"x"},{"name":"a","image":"y"}]}})") ==
        "Pod \"p\" is invalid: spec.containers[1].name: Duplicate value: \"a\"");
  Status s = Validate(Defaulted(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c"}]}})"));
  REQUIRE(s.details());
  REQUIRE(s.details()->causes.size() == 1);
  CHECK(s.details()->causes[0].reason == "FieldValueRequired");
  CHECK(s.details()->causes[0].field == "spec.containers[0].image");
  CHECK(s.details()->kind == "Pod");
}

TEST_CASE("pod: ports, enums, mounts and resources") {
  CHECK(Message(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},
      "spec":{"containers":[{"name":"c","image":"x","ports":[{"containerPort":70000}]}]}})") ==
        "Pod \"p\" is invalid: spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and "
        "65535, inclusive");
  CHECK(Message(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},
      "spec":{"containers":[{"name":"c","image":"x","ports":[{"containerPort":80,"protocol":"tcp"}]}]}})") ==
        "Pod \"p\" is invalid: spec.containers[0].ports[0].protocol: Unsupported value: \"tcp\": supported values: "
        "\"SCTP\", \"TCP\", \"UDP\"");
  CHECK(Message(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},
      "spec":{"restartPolicy":"Sometimes","containers":[{"name":"c","image":"x"}]}})") ==
        "Pod \"p\" is invalid: spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", "
        "\"OnFailure\", \"Never\"");
  CHECK(Message(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},
      "spec":{"dnsPolicy":"Cluster","containers":[{"name":"c","image":"x"}]}})") ==
        "Pod \"p\" is invalid: spec.dnsPolicy: Unsupported value: \"Cluster\": supported values: \"ClusterFirst\", "
        "\"ClusterFirstWithHostNet\", \"Default\", \"None\"");
  CHECK(Message(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},
      "spec":{"containers":[{"name":"c","image":"x","volumeMounts":[{"name":"data","mountPath":"/d"}]}]}})") ==
        "Pod \"p\" is invalid: spec.containers[0].volumeMounts[0].name: Not found: \"data\"");
  CHECK(Message(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},
      "spec":{"volumes":[{"name":"v"},{"name":"v"}],"containers":[{"name":"c","image":"x"}]}})") ==
        "Pod \"p\" is invalid: spec.volumes[1].name: Duplicate value: \"v\"");
  CHECK(Message(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},
      "spec":{"containers":[{"name":"c","image":"x","resources":{"requests":{"cpu":"100m"},"limits":{"cpu":"50m"}}}]}})") ==
        "Pod \"p\" is invalid: spec.containers[0].resources.requests: Invalid value: \"100m\": must be less than or "
        "equal to cpu limit of 50m");
  // Two causes aggregate in brackets.
  CHECK(Message(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},
      "spec":{"containers":[{"name":"c"},{"name":"d"}]}})") ==
        "Pod \"p\" is invalid: [spec.containers[0].image: Required value, spec.containers[1].image: Required value]");
}

TEST_CASE("pod update: only images and a few fields may change") {
  JsonDoc old = Defaulted(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},
      "spec":{"containers":[{"name":"c","image":"nginx:1"}]}})");
  JsonDoc img = Defaulted(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},
      "spec":{"containers":[{"name":"c","image":"nginx:2"}]}})");
  CHECK(Validate(img, &old).ok());
  JsonDoc env = Defaulted(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},
      "spec":{"containers":[{"name":"c","image":"nginx:1","env":[{"name":"A","value":"b"}]}]}})");
  Status s = Validate(env, &old);
  REQUIRE_FALSE(s.ok());
  CHECK(s.message().rfind("Pod \"p\" is invalid: spec: Forbidden: pod updates may not change fields other than "
                          "`spec.containers[*].image`,",
                          0) == 0);
}

TEST_CASE("workloads: selector must match the template, selector immutable") {
  CHECK(Message(R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},
    "spec":{"selector":{"matchLabels":{"app":"other"}},"template":{"metadata":{"labels":{"app":"x"}},
    "spec":{"containers":[{"name":"nginx","image":"nginx"}]}}}})") ==
        "Deployment.apps \"web\" is invalid: spec.template.metadata.labels: Invalid value: "
        "map[string]string{\"app\":\"x\"}: `selector` does not match template `labels`");
  CHECK(Message(R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},
    "spec":{"template":{"metadata":{"labels":{"app":"x"}},"spec":{"containers":[{"name":"nginx","image":"nginx"}]}}}})") ==
        "Deployment.apps \"web\" is invalid: [spec.selector: Required value, spec.template.metadata.labels: Invalid "
        "value: map[string]string{\"app\":\"x\"}: `selector` does not match template `labels`]");
  CHECK(Message(R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},
    "spec":{"replicas":-1,"selector":{"matchLabels":{"app":"x"}},"template":{"metadata":{"labels":{"app":"x"}},
    "spec":{"restartPolicy":"Never","containers":[{"name":"nginx","image":"nginx"}]}}}})") ==
        "Deployment.apps \"web\" is invalid: [spec.replicas: Invalid value: -1: must be greater than or equal to 0, "
        "spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\"]");
  JsonDoc old = Defaulted(kDeploy);
  JsonDoc changed = Defaulted(R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},
    "spec":{"selector":{"matchLabels":{"app":"web","tier":"fe"}},"template":{"metadata":{"labels":{"app":"web","tier":"fe"}},
    "spec":{"containers":[{"name":"nginx","image":"nginx"}]}}}})");
  Status s = Validate(changed, &old);
  REQUIRE_FALSE(s.ok());
  CHECK(s.message() ==
        "Deployment.apps \"web\" is invalid: spec.selector: Invalid value: "
        "v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"web\", \"tier\":\"fe\"}, "
        "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable");
  CHECK(Validate(Defaulted(kDeploy), &old).ok());
}

TEST_CASE("service: ports, types and immutable clusterIP") {
  CHECK(Message(R"({"apiVersion":"v1","kind":"Service","metadata":{"name":"s"},"spec":{"selector":{"a":"b"}}})") ==
        "Service \"s\" is invalid: spec.ports: Required value");
  CHECK(Validate(Defaulted(R"({"apiVersion":"v1","kind":"Service","metadata":{"name":"s"},
    "spec":{"clusterIP":"None","selector":{"a":"b"}}})")).ok());
  CHECK(Message(R"({"apiVersion":"v1","kind":"Service","metadata":{"name":"s"},
    "spec":{"ports":[{"port":80},{"port":81}]}})") ==
        "Service \"s\" is invalid: [spec.ports[0].name: Required value, spec.ports[1].name: Required value]");
  CHECK(Message(R"({"apiVersion":"v1","kind":"Service","metadata":{"name":"s"},
    "spec":{"type":"Cluster","ports":[{"port":80}]}})") ==
        "Service \"s\" is invalid: spec.type: Unsupported value: \"Cluster\": supported values: \"ClusterIP\", "
        "\"ExternalName\", \"LoadBalancer\", \"NodePort\"");
  CHECK(Message(R"({"apiVersion":"v1","kind":"Service","metadata":{"name":"s"},
    "spec":{"type":"NodePort","ports":[{"port":80,"nodePort":80}]}})") ==
        "Service \"s\" is invalid: spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid "
        "range. The range of valid ports is 30000-32767");
  CHECK(Message(R"({"apiVersion":"v1","kind":"Service","metadata":{"name":"s"},
    "spec":{"ports":[{"port":80,"nodePort":30080}]}})") ==
        "Service \"s\" is invalid: spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'");
  CHECK(Message(R"({"apiVersion":"v1","kind":"Service","metadata":{"name":"s"},
    "spec":{"ports":[{"port":0}]}})") ==
        "Service \"s\" is invalid: [spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive, "
        "spec.ports[0].targetPort: Invalid value: 0: must be between 1 and 65535, inclusive]");
  JsonDoc old = Defaulted(R"({"apiVersion":"v1","kind":"Service","metadata":{"name":"s"},
    "spec":{"clusterIP":"10.43.0.5","ports":[{"port":80}]}})");
  JsonDoc moved = Defaulted(R"({"apiVersion":"v1","kind":"Service","metadata":{"name":"s"},
    "spec":{"clusterIP":"10.43.0.6","ports":[{"port":80}]}})");
  Status s = Validate(moved, &old);
  REQUIRE_FALSE(s.ok());
  CHECK(s.message() == "Service \"s\" is invalid: spec.clusterIPs[0]: Invalid value: []string{\"10.43.0.6\"}: may not "
                       "change once set");
}

TEST_CASE("configmap and secret keys, immutable data") {
  CHECK(Message(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"bad key":"x"}})") ==
        "ConfigMap \"c\" is invalid: data[bad key]: Invalid value: \"bad key\": a valid config key must consist of "
        "alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for "
        "validation is '[-._a-zA-Z0-9]+')");
  CHECK(Message(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"..a":"x"}})") ==
        "ConfigMap \"c\" is invalid: data[..a]: Invalid value: \"..a\": must not start with '..'");
  CHECK(Message(R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":"t"},"type":"kubernetes.io/tls",
    "data":{"tls.crt":"eA=="}})") == "Secret \"t\" is invalid: data[tls.key]: Required value");
  JsonDoc old = Defaulted(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"immutable":true,
    "data":{"a":"1"}})");
  JsonDoc changed = Defaulted(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"immutable":true,
    "data":{"a":"2"}})");
  Status s = Validate(changed, &old);
  REQUIRE_FALSE(s.ok());
  CHECK(s.message() == "ConfigMap \"c\" is invalid: data: Forbidden: field is immutable when `immutable` is set");
  CHECK(Validate(old, &old).ok());
  JsonDoc sold = Defaulted(R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"},"data":{"a":"eA=="}})");
  JsonDoc snew = Defaulted(R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"},"type":"other",
    "data":{"a":"eA=="}})");
  Status st = Validate(snew, &sold);
  REQUIRE_FALSE(st.ok());
  CHECK(st.message() == "Secret \"s\" is invalid: type: Invalid value: \"other\": field is immutable");
}

TEST_CASE("jobs and cronjobs") {
  CHECK(Message(R"({"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"j","uid":"u"},
    "spec":{"template":{"spec":{"containers":[{"name":"c","image":"b"}]}}}})") ==
        "Job.batch \"j\" is invalid: spec.template.spec.restartPolicy: Unsupported value: \"Always\": supported "
        "values: \"OnFailure\", \"Never\"");
  CHECK(Message(R"({"apiVersion":"batch/v1","kind":"CronJob","metadata":{"name":"c"},
    "spec":{"jobTemplate":{"spec":{"template":{"spec":{"restartPolicy":"Never","containers":[{"name":"c","image":"b"}]}}}}}})") ==
        "CronJob.batch \"c\" is invalid: spec.schedule: Required value");
  JsonDoc old = Defaulted(R"({"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"j","uid":"u"},
    "spec":{"template":{"spec":{"restartPolicy":"Never","containers":[{"name":"c","image":"b"}]}}}})");
  JsonDoc changed = Defaulted(R"({"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"j","uid":"u"},
    "spec":{"template":{"spec":{"restartPolicy":"Never","containers":[{"name":"c","image":"other"}]}}}})");
  Status s = Validate(changed, &old);
  REQUIRE_FALSE(s.ok());
  CHECK(s.details()->causes.at(0).field == "spec.template");
  CHECK(s.details()->causes.at(0).message.find("field is immutable") != std::string::npos);
}

TEST_CASE("pvc: access modes and storage required, spec immutable except requests") {
  CHECK(Message(R"({"apiVersion":"v1","kind":"PersistentVolumeClaim","metadata":{"name":"c"},"spec":{}})") ==
        "PersistentVolumeClaim \"c\" is invalid: [spec.accessModes: Required value: at least 1 access mode is "
        "required, spec.resources[storage]: Required value]");
  JsonDoc old = Defaulted(R"({"apiVersion":"v1","kind":"PersistentVolumeClaim","metadata":{"name":"c"},
    "spec":{"accessModes":["ReadWriteOnce"],"resources":{"requests":{"storage":"1Gi"}}}})");
  JsonDoc bigger = Defaulted(R"({"apiVersion":"v1","kind":"PersistentVolumeClaim","metadata":{"name":"c"},
    "spec":{"accessModes":["ReadWriteOnce"],"resources":{"requests":{"storage":"2Gi"}}}})");
  CHECK(Validate(bigger, &old).ok());
  JsonDoc modes = Defaulted(R"({"apiVersion":"v1","kind":"PersistentVolumeClaim","metadata":{"name":"c"},
    "spec":{"accessModes":["ReadWriteMany"],"resources":{"requests":{"storage":"1Gi"}}}})");
  CHECK_FALSE(Validate(modes, &old).ok());
}
