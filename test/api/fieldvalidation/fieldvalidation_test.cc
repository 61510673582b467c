#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "api/field_validation.h"
#include "common/json.h"

namespace minik::api {
namespace {

JsonDoc Parse(std::string_view text) {
  auto doc = ParseJson(text);
  REQUIRE(doc.ok());
  return std::move(doc).value();
}

std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

StatusOr<FieldProblems> Prune(JsonDoc& doc) {
  std::string api_version(GetString(doc, "apiVersion").value_or(""));
  std::string kind(GetString(doc, "kind").value_or(""));
  return PruneUnknownFields(api_version, kind, doc, doc.GetAllocator());
}

TEST_CASE("unknown fields at several depths are reported in upstream notation and removed") {
  JsonDoc doc = Parse(R"({
    "apiVersion": "apps/v1", "kind": "Deployment", "foo": 1,
    "metadata": {"name": "web", "labels": {"app": "web"}, "bogus": true},
    "spec": {
      "replicas": 2, "extra": {"deep": 1},
      "selector": {"matchLabels": {"app": "web"}},
      "template": {
        "metadata": {"labels": {"app": "web"}},
        "spec": {
          "containers": [
            {"name": "a", "image": "nginx"},
            {"name": "b", "image": "busybox", "imagePullPolcy": "Always",
             "ports": [{"containerPort": 80, "hostIP": "1.2.3.4", "prot": "TCP"}]}
          ],
          "volumes": [
            {"name": "cfg", "configMap": {"name": "cm", "defaultMod": 420}, "unknownVol": {}}
          ]
        }
      }
    }
  })");
  auto r = Prune(doc);
  REQUIRE(r.ok());
  CHECK(r->unknown == std::vector<std::string>{
                          "foo", "metadata.bogus", "spec.extra",
                          "spec.template.spec.containers[1].imagePullPolcy",
                          "spec.template.spec.containers[1].ports[0].prot",
                          "spec.template.spec.volumes[0].configMap.defaultMod",
                          "spec.template.spec.volumes[0].unknownVol"});
  CHECK(r->duplicate.empty());
  CHECK(r->errors.front() == "unknown field \"foo\"");
  CHECK(StrictDecodingMessage(*r) ==
        "strict decoding error: unknown field \"foo\", unknown field \"metadata.bogus\", "
        "unknown field \"spec.extra\", unknown field \"spec.template.spec.containers[1].imagePullPolcy\", "
        "unknown field \"spec.template.spec.containers[1].ports[0].prot\", "
        "unknown field \"spec.template.spec.volumes[0].configMap.defaultMod\", "
        "unknown field \"spec.template.spec.volumes[0].unknownVol\"");
  Status st = StrictDecodingError("apps/v1", "Deployment", *r);
  CHECK(st.code() == Code::kBadRequest);
  CHECK(st.message().rfind(
            "Deployment in version \"v1\" cannot be handled as a Deployment: strict decoding error: "
            "unknown field \"foo\", ", 0) == 0);
  // The unknown members are gone, everything else is kept in order.
  CHECK(ToJson(doc) ==
        R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","labels":{"app":"web"}},)"
        R"("spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},)"
        R"("spec":{"containers":[{"name":"a","image":"nginx"},{"name":"b","image":"busybox",)"
        R"("ports":[{"containerPort":80,"hostIP":"1.2.3.4"}]}],"volumes":[{"name":"cfg","configMap":{"name":"cm"}}]}}}})");
}

TEST_CASE("apiVersion and kind are known only at the top level; case matters") {
  JsonDoc doc = Parse(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","kind":"x","Name":"y"},"Data":{}})");
  auto r = Prune(doc);
  REQUIRE(r.ok());
  CHECK(r->unknown == std::vector<std::string>{"metadata.kind", "metadata.Name", "Data"});
  CHECK(ToJson(doc) == R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"}})");
}

TEST_CASE("a number in ConfigMap.data is a decode error with upstream's message") {
  JsonDoc doc = Parse(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"a":"x","b":1}})");
  auto r = Prune(doc);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code() == Code::kBadRequest);
  CHECK(r.error().message() ==
        "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: json: cannot unmarshal number "
        "into Go struct field ConfigMap.data of type string");
  // The bare form for the patch handler.
  JsonDoc doc2 = Parse(R"({"apiVersion":"v1","kind":"ConfigMap","data":{"b":true}})");
  auto bare = PruneUnknownFieldsBare("v1", "ConfigMap", doc2, doc2.GetAllocator());
  REQUIRE_FALSE(bare.ok());
  CHECK(bare.error().message() == "json: cannot unmarshal bool into Go struct field ConfigMap.data of type string");
}

TEST_CASE("a type error wins over unknown fields, whatever their order") {
  JsonDoc doc = Parse(R"({"apiVersion":"v1","kind":"ConfigMap","zzz":1,"data":{"b":1}})");
  auto r = Prune(doc);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message().find("cannot unmarshal number") != std::string::npos);
}

TEST_CASE("Service: a string port is rejected with the nested struct context") {
  JsonDoc doc = Parse(R"({"apiVersion":"v1","kind":"Service","metadata":{"name":"s"},
    "spec":{"ports":[{"port":"80","targetPort":8080}]}})");
  auto r = Prune(doc);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message() ==
        "Service in version \"v1\" cannot be handled as a Service: json: cannot unmarshal string into "
        "Go struct field ServicePort.spec.ports.port of type int32");
}

TEST_CASE("only the first recorded type error is reported") {
  JsonDoc doc = Parse(R"({"apiVersion":"apps/v1","kind":"Deployment",
    "spec":{"replicas":1.5,"template":{"spec":{"containers":"x"}}}})");
  auto r = Prune(doc);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message() ==
        "Deployment in version \"v1\" cannot be handled as a Deployment: json: cannot unmarshal number 1.5 "
        "into Go struct field DeploymentSpec.spec.replicas of type int32");
  JsonDoc doc2 = Parse(R"({"apiVersion":"apps/v1","kind":"Deployment",
    "spec":{"template":{"spec":{"containers":"x"}}, "replicas": 3000000000}})");
  auto r2 = PruneUnknownFieldsBare("apps/v1", "Deployment", doc2, doc2.GetAllocator());
  REQUIRE_FALSE(r2.ok());
  CHECK(r2.error().message() ==
        "json: cannot unmarshal string into Go struct field PodSpec.spec.template.spec.containers of type "
        "[]v1.Container");
  JsonDoc doc3 = Parse(R"({"apiVersion":"apps/v1","kind":"Deployment","spec":{"replicas":3000000000}})");
  auto r3 = PruneUnknownFieldsBare("apps/v1", "Deployment", doc3, doc3.GetAllocator());
  REQUIRE_FALSE(r3.ok());
  CHECK(r3.error().message() ==
        "json: cannot unmarshal number 3000000000 into Go struct field DeploymentSpec.spec.replicas of type int32");
}

TEST_CASE("IntOrString accepts a number or a string, nothing else") {
  for (const char* tp : {"8080", "\"http\""}) {
    JsonDoc doc = Parse(std::string(R"({"apiVersion":"v1","kind":"Service","spec":{"ports":[{"port":80,"targetPort":)") +
                        tp + "}]}}");
    std::string before = ToJson(doc);
    auto r = Prune(doc);
    REQUIRE(r.ok());
    CHECK(r->empty());
    CHECK(ToJson(doc) == before);
  }
  JsonDoc bad = Parse(R"({"apiVersion":"v1","kind":"Service","spec":{"ports":[{"port":80,"targetPort":true}]}})");
  auto r = Prune(bad);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message() ==
        "Service in version \"v1\" cannot be handled as a Service: json: cannot unmarshal bool into Go "
        "struct field ServicePort.spec.ports.targetPort of type int32");
  // An IntOrString error aborts the decode, so it wins over an earlier recorded type error.
  JsonDoc both = Parse(R"({"apiVersion":"v1","kind":"Service","spec":{"type":1,"ports":[{"targetPort":1.5}]}})");
  auto r2 = PruneUnknownFieldsBare("v1", "Service", both, both.GetAllocator());
  REQUIRE_FALSE(r2.ok());
  CHECK(r2.error().message() ==
        "json: cannot unmarshal number 1.5 into Go struct field ServicePort.spec.ports.targetPort of type int32");
}

TEST_CASE("quantities take strings or numbers and are parsed") {
  JsonDoc ok = Parse(R"({"apiVersion":"v1","kind":"ResourceQuota","spec":{"hard":{"cpu":1,"memory":"1Gi","pods":"2","x":" 1e3 ","y":0.5}}})");
  auto r = Prune(ok);
  REQUIRE(r.ok());
  CHECK(r->empty());
  JsonDoc bad = Parse(R"({"apiVersion":"v1","kind":"ResourceQuota","spec":{"hard":{"cpu":"lots"}}})");
  auto r2 = Prune(bad);
  REQUIRE_FALSE(r2.ok());
  CHECK(r2.error().message() ==
        "ResourceQuota in version \"v1\" cannot be handled as a ResourceQuota: quantities must match the "
        "regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'");
  JsonDoc suffix = Parse(R"({"apiVersion":"v1","kind":"ResourceQuota","spec":{"hard":{"cpu":"1Mm"}}})");
  auto r3 = PruneUnknownFieldsBare("v1", "ResourceQuota", suffix, suffix.GetAllocator());
  REQUIRE_FALSE(r3.ok());
  CHECK(r3.error().message() == "unable to parse quantity's suffix");
}

TEST_CASE("times take strings or null; RawExtension and FieldsV1 take anything") {
  JsonDoc doc = Parse(R"({"apiVersion":"apps/v1","kind":"ControllerRevision",
    "metadata":{"name":"r","creationTimestamp":null,"managedFields":[{"manager":"kubectl","operation":"Update",
      "time":"2024-01-01T00:00:00Z","fieldsType":"FieldsV1","fieldsV1":{"f:data":{".":{}}}}]},
    "data":{"anything":[1,{"x":true}]},"revision":3})");
  std::string before = ToJson(doc);
  auto r = Prune(doc);
  REQUIRE(r.ok());
  CHECK(r->empty());
  CHECK(ToJson(doc) == before);
  JsonDoc bad = Parse(R"({"apiVersion":"v1","kind":"Pod","metadata":{"creationTimestamp":5}})");
  auto r2 = Prune(bad);
  REQUIRE_FALSE(r2.ok());
  CHECK(r2.error().message() ==
        "Pod in version \"v1\" cannot be handled as a Pod: json: cannot unmarshal number into Go struct field "
        "ObjectMeta.metadata.creationTimestamp of type string");
}

TEST_CASE("Secret data must be valid base64") {
  JsonDoc doc = Parse(R"({"apiVersion":"v1","kind":"Secret","data":{"a":"YWRtaW4=","b":"YWRtaW4"}})");
  auto r = Prune(doc);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message() == "Secret in version \"v1\" cannot be handled as a Secret: illegal base64 data at input byte 4");
  JsonDoc bad = Parse(R"({"apiVersion":"v1","kind":"Secret","data":{"a":"YW*k"}})");
  auto r2 = PruneUnknownFieldsBare("v1", "Secret", bad, bad.GetAllocator());
  REQUIRE_FALSE(r2.ok());
  CHECK(r2.error().message() == "illegal base64 data at input byte 2");
}

TEST_CASE("a wrong type at the top of a nested struct names the struct type") {
  JsonDoc doc = Parse(R"({"apiVersion":"v1","kind":"Pod","spec":"x"})");
  auto r = PruneUnknownFieldsBare("v1", "Pod", doc, doc.GetAllocator());
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message() == "json: cannot unmarshal string into Go struct field Pod.spec of type v1.PodSpec");
  JsonDoc arr = Parse(R"([1])");
  auto r2 = PruneUnknownFieldsBare("v1", "Pod", arr, arr.GetAllocator());
  REQUIRE_FALSE(r2.ok());
  CHECK(r2.error().message() == "json: cannot unmarshal array into Go value of type v1.Pod");
}

TEST_CASE("duplicate members are reported and the last one wins") {
  JsonDoc doc = Parse(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","name":"b"},
    "data":{"k":"1","k":"2"},"nope":1})");
  auto r = Prune(doc);
  REQUIRE(r.ok());
  CHECK(r->duplicate == std::vector<std::string>{"metadata.name", "data.k"});
  CHECK(r->unknown == std::vector<std::string>{"nope"});
  CHECK(r->errors == std::vector<std::string>{"duplicate field \"metadata.name\"", "duplicate field \"data.k\"",
                                              "unknown field \"nope\""});
  CHECK(ToJson(doc) == R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"b"},"data":{"k":"2"}})");
}

TEST_CASE("strict errors are deduplicated and capped at 100") {
  std::string items;
  for (int i = 0; i < 120; ++i) items += std::string(i ? "," : "") + R"({"name":"c","x":1,"y":2})";
  JsonDoc doc = Parse(R"({"apiVersion":"v1","kind":"Pod","spec":{"containers":[)" + items + "]}}");
  auto r = Prune(doc);
  REQUIRE(r.ok());
  CHECK(r->unknown.size() == 240);
  CHECK(r->errors.size() == 100);
  CHECK(r->errors[1] == "unknown field \"spec.containers[0].y\"");
  CHECK(doc["spec"]["containers"][119].MemberCount() == 1);
}

TEST_CASE("kinds without a schema are left alone") {
  JsonDoc doc = Parse(R"({"apiVersion":"example.com/v1","kind":"Widget","spec":{"anything":1}})");
  std::string before = ToJson(doc);
  auto r = Prune(doc);
  REQUIRE(r.ok());
  CHECK(r->empty());
  CHECK(ToJson(doc) == before);
  CHECK_FALSE(HasFieldSchema("example.com/v1", "Widget"));
  CHECK(HasFieldSchema("apps/v1", "Deployment"));
  CHECK(StrictDecodingError("v1", "Pod", FieldProblems{}).ok());
}

TEST_CASE("a large realistic Deployment survives untouched but for canonical quantities") {
  const char* text = R"({
  "apiVersion": "apps/v1", "kind": "Deployment",
  "metadata": {"name": "api", "namespace": "prod", "uid": "0b2c", "resourceVersion": "42", "generation": 3,
    "creationTimestamp": "2024-05-01T10:00:00Z", "labels": {"app": "api", "tier": "backend"},
    "annotations": {"deployment.kubernetes.io/revision": "3"},
    "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": "u1", "controller": true, "blockOwnerDeletion": true}],
    "finalizers": ["example.com/f"],
    "managedFields": [{"manager": "kubectl-client-side-apply", "operation": "Update", "apiVersion": "apps/v1",
      "time": "2024-05-01T10:00:00Z", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}}}}]},
  "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "api"},
      "matchExpressions": [{"key": "tier", "operator": "In", "values": ["backend"]}]},
    "template": {"metadata": {"creationTimestamp": null, "labels": {"app": "api", "tier": "backend"}},
      "spec": {
        "initContainers": [{"name": "init", "image": "busybox:1.36", "command": ["sh", "-c", "true"]}],
        "containers": [{"name": "api", "image": "example/api:1.2", "imagePullPolicy": "IfNotPresent",
          "args": ["--port=8080"], "workingDir": "/app",
          "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
          "env": [{"name": "MODE", "value": "prod"},
                  {"name": "POD", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}},
                  {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw", "optional": false}}},
                  {"name": "LIM", "valueFrom": {"resourceFieldRef": {"containerName": "api", "resource": "limits.cpu", "divisor": "1m"}}}],
          "envFrom": [{"prefix": "CFG_", "configMapRef": {"name": "cfg"}}],
          "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}, "requests": {"cpu": 0.1, "memory": "128Mi"}},
          "volumeMounts": [{"name": "data", "mountPath": "/data"}, {"name": "cfg", "mountPath": "/etc/cfg", "readOnly": true}],
          "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http", "scheme": "HTTP",
              "httpHeaders": [{"name": "X", "value": "y"}]}, "initialDelaySeconds": 5, "periodSeconds": 10,
            "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3},
          "readinessProbe": {"tcpSocket": {"port": 8080}},
          "startupProbe": {"exec": {"command": ["cat", "/tmp/ok"]}},
          "lifecycle": {"preStop": {"sleep": {"seconds": 5}}},
          "securityContext": {"runAsNonRoot": true, "runAsUser": 1000, "allowPrivilegeEscalation": false,
            "capabilities": {"drop": ["ALL"]}, "readOnlyRootFilesystem": true, "seccompProfile": {"type": "RuntimeDefault"}},
          "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"}],
        "volumes": [{"name": "data", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
          {"name": "cfg", "configMap": {"name": "cfg", "items": [{"key": "a", "path": "a.conf", "mode": 420}], "defaultMode": 420}},
          {"name": "sec", "secret": {"secretName": "db", "optional": true}},
          {"name": "proj", "projected": {"sources": [{"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}},
            {"downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}}]}},
          {"name": "pvc", "persistentVolumeClaim": {"claimName": "data"}},
          {"name": "host", "hostPath": {"path": "/var/log", "type": "Directory"}}],
        "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
        "nodeSelector": {"kubernetes.io/os": "linux"}, "serviceAccountName": "api",
        "securityContext": {"fsGroup": 2000, "sysctls": [{"name": "net.core.somaxconn", "value": "1024"}]},
        "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 100,
            "podAffinityTerm": {"labelSelector": {"matchLabels": {"app": "api"}}, "topologyKey": "kubernetes.io/hostname"}}]},
          "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions":
            [{"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64", "arm64"]}]}]}}},
        "tolerations": [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"},
          {"key": "k", "operator": "Equal", "value": "v", "effect": "NoExecute", "tolerationSeconds": 60}],
        "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "ScheduleAnyway",
          "labelSelector": {"matchLabels": {"app": "api"}}}],
        "hostAliases": [{"ip": "10.0.0.1", "hostnames": ["db.local"]}],
        "imagePullSecrets": [{"name": "reg"}], "priorityClassName": "high", "schedulerName": "default-scheduler",
        "overhead": {"cpu": "10m"}}},
    "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": 1}},
    "minReadySeconds": 5, "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600},
  "status": {"observedGeneration": 3, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3, "availableReplicas": 3,
    "conditions": [{"type": "Available", "status": "True", "lastUpdateTime": "2024-05-01T10:01:00Z",
      "lastTransitionTime": "2024-05-01T10:01:00Z", "reason": "MinimumReplicasAvailable", "message": "ok"}]}
})";
  JsonDoc doc = Parse(text);
  std::string before = ToJson(doc);
  // The only change: the number 0.1 in requests.cpu becomes upstream's canonical string "100m".
  const std::string number = R"("requests":{"cpu":0.1,)";
  REQUIRE(before.find(number) != std::string::npos);
  std::string expected = before;
  expected.replace(expected.find(number), number.size(), R"("requests":{"cpu":"100m",)");
  auto r = Prune(doc);
  REQUIRE(r.ok());
  CHECK(r->unknown.empty());
  CHECK(r->duplicate.empty());
  CHECK(ToJson(doc) == expected);
}

TEST_CASE("every protobuf test vector's expected JSON round-trips with no problem") {
  int checked = 0;
  for (const auto& entry : std::filesystem::directory_iterator(MINIK_PROTOBUF_VECTORS)) {
    if (entry.path().extension() != ".json") continue;
    INFO(entry.path().filename().string());
    JsonDoc doc = Parse(ReadFile(entry.path()));
    std::string before = ToJson(doc);
    REQUIRE(HasFieldSchema(GetString(doc, "apiVersion").value_or(""), GetString(doc, "kind").value_or("")));
    auto r = Prune(doc);
    REQUIRE(r.ok());
    CHECK(r->unknown.empty());
    CHECK(r->duplicate.empty());
    CHECK(ToJson(doc) == before);
    ++checked;
  }
  CHECK(checked >= 30);
}

}  // namespace
}  // namespace minik::api
