#include "agent/volumes/env.h"

#include <catch2/catch.hpp>

#include "agent/volumes/downward.h"
#include "test_util.h"

namespace minik::agent::volumes {

std::ostream& operator<<(std::ostream& os, const EnvVar& v) { return os << v.name << "=" << v.value; }

namespace {

using testing::Parse;

ObjectPtr Obj(std::string_view json) { return std::make_shared<const JsonDoc>(Parse(json)); }

const char* kPod = R"J({
  "metadata": {"name": "web-0", "namespace": "shop", "uid": "uid-1",
               "labels": {"app": "web", "tier": "front"},
               "annotations": {"note": "a \"quoted\"\nline"}},
  "spec": {
    "nodeName": "edge1", "serviceAccountName": "robot",
    "containers": [{
      "name": "app",
      "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}, "requests": {"cpu": "250m"}},
      "envFrom": [
        {"configMapRef": {"name": "settings"}, "prefix": "CFG_"},
        {"secretRef": {"name": "creds"}}
      ],
      "env": [
        {"name": "CFG_mode", "value": "override"},
        {"name": "GREETING", "value": "hello $(USER) at $(CFG_mode)"},
        {"name": "ESCAPED", "value": "$$(USER) $(NOPE) $x $(open"},
        {"name": "SVC", "value": "$(SHOP_DB_SERVICE_HOST):$(SHOP_DB_SERVICE_PORT)"},
        {"name": "LATER_REF", "value": "$(DEFINED_LATER)"},
        {"name": "DEFINED_LATER", "value": "x"},
        {"name": "FROM_CM", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "level"}}},
        {"name": "FROM_SECRET", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "PASSWORD"}}},
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}},
        {"name": "POD_NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "POD_UID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.uid"}}},
        {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
        {"name": "NOTE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.annotations['note']"}}},
        {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "SA", "valueFrom": {"fieldRef": {"fieldPath": "spec.serviceAccountName"}}},
        {"name": "HOST_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
        {"name": "HOST_IPS", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIPs"}}},
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "POD_IPS", "valueFrom": {"fieldRef": {"fieldPath": "status.podIPs"}}},
        {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
        {"name": "CPU_M", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "1m"}}},
        {"name": "REQ_CPU_M", "valueFrom": {"resourceFieldRef": {"resource": "requests.cpu", "divisor": "1m"}}},
        {"name": "MEM_MI", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
        {"name": "MEM_REQ", "valueFrom": {"resourceFieldRef": {"resource": "requests.memory"}}},
        {"name": "EPH", "valueFrom": {"resourceFieldRef": {"resource": "limits.ephemeral-storage", "divisor": "1Gi"}}},
        {"name": "EMPTY"}
      ]
    }]
  }
})J";

struct Fixture {
  MapObjectSource objects;
  std::vector<ObjectPtr> services;
  NodeInfo node;
  Fixture() {
    objects.Add(Obj(R"({"kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "shop"},
                        "data": {"level": "debug", "mode": "fast", "USER": "cm-user"}})"));
    // PASSWORD=s3cret, USER=admin
    objects.Add(Obj(R"({"kind": "Secret", "metadata": {"name": "creds", "namespace": "shop"},
                        "data": {"PASSWORD": "czNjcmV0", "USER": "YWRtaW4="}})"));
    services.push_back(Obj(R"({"metadata": {"name": "kubernetes", "namespace": "default"},
        "spec": {"clusterIP": "10.43.0.1", "ports": [{"name": "https", "port": 443, "protocol": "TCP"}]}})"));
    services.push_back(Obj(R"({"metadata": {"name": "shop-db", "namespace": "shop"},
        "spec": {"clusterIP": "10.43.7.9", "ports": [{"name": "sql", "port": 5432, "protocol": "TCP"},
                                                      {"name": "metrics", "port": 9187, "protocol": "UDP"}]}})"));
    services.push_back(Obj(R"({"metadata": {"name": "headless", "namespace": "shop"},
        "spec": {"clusterIP": "None", "ports": [{"port": 80}]}})"));
    services.push_back(Obj(R"({"metadata": {"name": "other", "namespace": "elsewhere"},
        "spec": {"clusterIP": "10.43.1.1", "ports": [{"port": 80}]}})"));
    node.node_name = "edge1";
    node.host_ips = {"192.168.1.10", "fd00::10"};
    node.pod_ips = {"10.42.0.7", "fd42::7"};
    node.allocatable_cpu = "2";
    node.allocatable_memory = "4Gi";
    node.allocatable_ephemeral_storage = "20Gi";
  }
};

std::string Get(const std::vector<EnvVar>& env, const std::string& name) {
  for (const auto& v : env) {
    if (v.name == name) return v.value;
  }
  return "<unset>";
}

TEST_CASE("env: envFrom, env and service variables in the kubelet's order with expansion") {
  Fixture f;
  JsonDoc pod = Parse(kPod);
  const JsonValue& c = pod["spec"]["containers"][0];
  auto r = MakeEnvironment(pod, c, f.services, f.objects, f.node);
  REQUIRE(r.ok());
  std::vector<EnvVar> expected = {
      {"CFG_level", "debug"},
      {"CFG_mode", "override"},  // envFrom key, replaced in place by env
      {"CFG_USER", "cm-user"},
      {"PASSWORD", "s3cret"},
      {"USER", "admin"},
      {"GREETING", "hello admin at override"},
      {"ESCAPED", "$(USER) $(NOPE) $x $(open"},
      {"SVC", "10.43.7.9:5432"},
      {"LATER_REF", "$(DEFINED_LATER)"},
      {"DEFINED_LATER", "x"},
      {"FROM_CM", "debug"},
      {"FROM_SECRET", "s3cret"},
      {"POD_NAME", "web-0"},
      {"POD_NS", "shop"},
      {"POD_UID", "uid-1"},
      {"APP", "web"},
      {"NOTE", "a \"quoted\"\nline"},
      {"NODE", "edge1"},
      {"SA", "robot"},
      {"HOST_IP", "192.168.1.10"},
      {"HOST_IPS", "192.168.1.10,fd00::10"},
      {"POD_IP", "10.42.0.7"},
      {"POD_IPS", "10.42.0.7,fd42::7"},
      {"CPU", "1"},           // 500m rounded up
      {"CPU_M", "500"},
      {"REQ_CPU_M", "250"},
      {"MEM_MI", "128"},
      {"MEM_REQ", "0"},       // no request
      {"EPH", "20"},          // no limit: node allocatable
      {"EMPTY", ""},
      // kubernetes (default) then shop-db, by name; headless and other namespaces skipped.
      {"KUBERNETES_SERVICE_HOST", "10.43.0.1"},
      {"KUBERNETES_SERVICE_PORT", "443"},
      {"KUBERNETES_SERVICE_PORT_HTTPS", "443"},
      {"KUBERNETES_PORT", "tcp://10.43.0.1:443"},
      {"KUBERNETES_PORT_443_TCP", "tcp://10.43.0.1:443"},
      {"KUBERNETES_PORT_443_TCP_PROTO", "tcp"},
      {"KUBERNETES_PORT_443_TCP_PORT", "443"},
      {"KUBERNETES_PORT_443_TCP_ADDR", "10.43.0.1"},
      {"SHOP_DB_SERVICE_HOST", "10.43.7.9"},
      {"SHOP_DB_SERVICE_PORT", "5432"},
      {"SHOP_DB_SERVICE_PORT_SQL", "5432"},
      {"SHOP_DB_SERVICE_PORT_METRICS", "9187"},
      {"SHOP_DB_PORT", "tcp://10.43.7.9:5432"},
      {"SHOP_DB_PORT_5432_TCP", "tcp://10.43.7.9:5432"},
      {"SHOP_DB_PORT_5432_TCP_PROTO", "tcp"},
      {"SHOP_DB_PORT_5432_TCP_PORT", "5432"},
      {"SHOP_DB_PORT_5432_TCP_ADDR", "10.43.7.9"},
      {"SHOP_DB_PORT_9187_UDP", "udp://10.43.7.9:9187"},
      {"SHOP_DB_PORT_9187_UDP_PROTO", "udp"},
      {"SHOP_DB_PORT_9187_UDP_PORT", "9187"},
      {"SHOP_DB_PORT_9187_UDP_ADDR", "10.43.7.9"},
  };
  CHECK(r->env == expected);
  CHECK(r->events.empty());
}

TEST_CASE("env: the service of the pod's own name wins over links; enableServiceLinks false keeps kubernetes only") {
  Fixture f;
  JsonDoc pod = Parse(R"({"metadata": {"name": "p", "namespace": "shop"},
      "spec": {"enableServiceLinks": false, "containers": [{"name": "c",
               "env": [{"name": "KUBERNETES_SERVICE_PORT", "value": "mine"}]}]}})");
  auto r = MakeEnvironment(pod, pod["spec"]["containers"][0], f.services, f.objects, f.node);
  REQUIRE(r.ok());
  CHECK(r->env.front() == EnvVar{"KUBERNETES_SERVICE_PORT", "mine"});
  CHECK(r->env.size() == 8);  // 1 own + 7 kubernetes variables (its SERVICE_PORT not repeated)
  CHECK(Get(r->env, "KUBERNETES_SERVICE_HOST") == "10.43.0.1");
  CHECK(Get(r->env, "SHOP_DB_SERVICE_HOST") == "<unset>");
}

TEST_CASE("env: errors in the kubelet's words (CreateContainerConfigError messages)") {
  struct Case {
    const char* env;
    const char* message;
  };
  Case cases[] = {
      {R"({"configMapRef": {"name": "missing"}})", "configmap \"missing\" not found"},
      {R"({"secretRef": {"name": "missing"}})", "secret \"missing\" not found"},
      {R"({"name": "X", "valueFrom": {"configMapKeyRef": {"name": "missing", "key": "k"}}})",
       "configmap \"missing\" not found"},
      {R"({"name": "X", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "nokey"}}})",
       "couldn't find key nokey in ConfigMap shop/settings"},
      {R"({"name": "X", "valueFrom": {"secretKeyRef": {"name": "missing", "key": "k"}}})",
       "secret \"missing\" not found"},
      {R"({"name": "X", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "nokey"}}})",
       "couldn't find key nokey in Secret shop/creds"},
      {R"({"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "spec.bogus"}}})",
       "field label not supported: spec.bogus"},
      {R"({"name": "X", "valueFrom": {"fieldRef": {"apiVersion": "v2", "fieldPath": "metadata.name"}}})",
       "unsupported pod version: v2"},
      {R"({"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName['x']"}}})",
       "field label does not support subscript: spec.nodeName['x']"},
      {R"({"name": "X", "valueFrom": {"resourceFieldRef": {"resource": "limits.gpu"}}})",
       "unsupported container resource : limits.gpu"},
      {R"({"name": "X", "valueFrom": {"resourceFieldRef": {"containerName": "ghost", "resource": "limits.cpu"}}})",
       "container ghost not found"},
  };
  Fixture f;
  for (const auto& c : cases) {
    bool from = std::string_view(c.env).find("Ref\": {\"name") != std::string_view::npos &&
                std::string_view(c.env).find("valueFrom") == std::string_view::npos;
    std::string pod_json = std::string(R"({"metadata": {"name": "p", "namespace": "shop"}, "spec": {"containers": [{"name": "c", ")") +
                           (from ? "envFrom" : "env") + "\": [" + c.env + "]}]}}";
    JsonDoc pod = Parse(pod_json);
    auto r = MakeEnvironment(pod, pod["spec"]["containers"][0], f.services, f.objects, f.node);
    INFO(c.env);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().message() == c.message);
  }
}

TEST_CASE("env: optional references that are missing leave the variable unset") {
  Fixture f;
  JsonDoc pod = Parse(R"({"metadata": {"name": "p", "namespace": "shop"}, "spec": {"containers": [{"name": "c",
      "envFrom": [{"configMapRef": {"name": "missing", "optional": true}},
                  {"secretRef": {"name": "missing", "optional": true}}],
      "env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "missing", "key": "k", "optional": true}}},
              {"name": "B", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "nokey", "optional": true}}},
              {"name": "C", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "nokey", "optional": true}}},
              {"name": "D", "value": "d"}]}]}})");
  auto r = MakeEnvironment(pod, pod["spec"]["containers"][0], {}, f.objects, f.node);
  REQUIRE(r.ok());
  REQUIRE(r->env.size() == 1);
  CHECK(r->env[0] == EnvVar{"D", "d"});
}

TEST_CASE("env: invalid envFrom keys are reported in one event per source") {
  Fixture f;
  f.objects.Add(Obj(R"({"kind": "ConfigMap", "metadata": {"name": "files", "namespace": "shop"},
                        "data": {"index.html": "x", "2bad": "y", "good_key": "z", "with=eq": "w"}})"));
  JsonDoc pod = Parse(R"({"metadata": {"name": "p", "namespace": "shop"}, "spec": {"containers": [{"name": "c",
      "envFrom": [{"configMapRef": {"name": "files"}}]}]}})");
  SECTION("v1.32: relaxed names pass, only '=' is refused") {
    auto r = MakeEnvironment(pod, pod["spec"]["containers"][0], {}, f.objects, f.node);
    REQUIRE(r.ok());
    CHECK(r->env.size() == 3);
    REQUIRE(r->events.size() == 1);
    CHECK(r->events[0].reason == "InvalidEnvironmentVariableNames");
    CHECK(r->events[0].message ==
          "Keys [with=eq] from the EnvFrom configMap shop/files were skipped since they are considered invalid "
          "environment variable names.");
  }
  SECTION("strict names (pre-1.30)") {
    EnvOptions opts;
    opts.strict_env_var_names = true;
    auto r = MakeEnvironment(pod, pod["spec"]["containers"][0], {}, f.objects, f.node, opts);
    REQUIRE(r.ok());
    REQUIRE(r->env.size() == 1);
    CHECK(r->env[0].name == "good_key");
    REQUIRE(r->events.size() == 1);
    CHECK(r->events[0].type == "Warning");
    CHECK(r->events[0].message ==
          "Keys [2bad, index.html, with=eq] from the EnvFrom configMap shop/files were skipped since they are "
          "considered invalid environment variable names.");
  }
}

TEST_CASE("env: services not synced fail API pods but not static pods") {
  Fixture f;
  EnvOptions opts;
  opts.services_synced = false;
  JsonDoc api_pod = Parse(R"({"metadata": {"name": "p", "namespace": "shop"}, "spec": {"containers": [{"name": "c"}]}})");
  auto r = MakeEnvironment(api_pod, api_pod["spec"]["containers"][0], {}, f.objects, f.node, opts);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message() == "services have not yet been read at least once, cannot construct envvars");
  JsonDoc static_pod = Parse(R"({"metadata": {"name": "p", "namespace": "kube-system",
      "annotations": {"kubernetes.io/config.source": "file"}}, "spec": {"containers": [{"name": "c"}]}})");
  CHECK(MakeEnvironment(static_pod, static_pod["spec"]["containers"][0], {}, f.objects, f.node, opts).ok());
}

TEST_CASE("expansion: the forked golang expansion rules") {
  std::map<std::string, std::string> vars = {{"A", "1"}, {"B", "two"}, {"EMPTY", ""}};
  auto m = MappingFor({&vars});
  struct {
    const char* in;
    const char* out;
  } cases[] = {
      {"$(A)", "1"},         {"x$(A)y$(B)z", "x1ytwoz"}, {"$$(A)", "$(A)"},     {"$$$(A)", "$1"},
      {"$(C)", "$(C)"},      {"$(", "$("},               {"$(A", "$(A"},        {"$", "$"},
      {"a$", "a$"},          {"$A", "$A"},               {"$(EMPTY)x", "x"},    {"$()", "$()"},
      {"(A)", "(A)"},        {"$$", "$"},                {"$(A)$(A)", "11"},    {"$(A)$", "1$"},
  };
  for (const auto& c : cases) {
    INFO(c.in);
    CHECK(Expand(c.in, m) == c.out);
  }
}

TEST_CASE("expansion: command, args and subPathExpr") {
  JsonDoc c = Parse(R"J({"name": "c", "command": ["sh", "-c", "echo $(MSG)"], "args": ["$(N)", "$$(N)"]})J");
  std::vector<EnvVar> env = {{"MSG", "hi"}, {"N", "3"}, {"EMPTY", ""}};
  std::vector<std::string> cmd, args;
  ExpandCommandAndArgs(c, env, &cmd, &args);
  CHECK(cmd == std::vector<std::string>{"sh", "-c", "echo hi"});
  CHECK(args == std::vector<std::string>{"3", "$(N)"});
  CHECK(*ExpandSubPathExpr("logs/$(N)", env) == "logs/3");
  auto bad = ExpandSubPathExpr("$(ZZ)/$(EMPTY)/$(AA)", env);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message() == "missing value for AA, EMPTY, ZZ");
}

TEST_CASE("downward API: metadata fields and FormatMap") {
  JsonDoc pod = Parse(R"({"metadata": {"name": "p", "namespace": "ns", "uid": "u",
      "labels": {"zeta": "1", "alpha": "x y"}, "annotations": {"k": "tab\there"}}})");
  CHECK(*ExtractPodMetadataField(pod, "metadata.labels") == "alpha=\"x y\"\nzeta=\"1\"");
  CHECK(*ExtractPodMetadataField(pod, "metadata.annotations") == "k=\"tab\\there\"");
  CHECK(*ExtractPodMetadataField(pod, "metadata.labels['zeta']") == "1");
  CHECK(*ExtractPodMetadataField(pod, "metadata.labels['absent']") == "");
  CHECK(ExtractPodMetadataField(pod, "metadata.labels['bad key!']").status().message().rfind(
            "invalid key subscript in metadata.labels['bad key!']: ", 0) == 0);
  CHECK(ExtractPodMetadataField(pod, "spec.nodeName").status().message() == "unsupported fieldPath: spec.nodeName");
  CHECK(ExtractPodMetadataField(pod, "metadata.name['x']").status().message() ==
        "fieldPath \"metadata.name['x']\" does not support subscript");
  NodeInfo node;
  CHECK(PodFieldValue(pod, "v1", "status.hostIP", node).status().message() == "host IP unknown; known addresses: []");
  CHECK(*PodFieldValue(pod, "v1", "status.podIP", node) == "");
}

TEST_CASE("downward API: resource values round up against the divisor") {
  NodeInfo node;
  node.allocatable_cpu = "3500m";
  node.allocatable_memory = "1000";
  JsonDoc pod = Parse(R"({"spec": {"containers": [
      {"name": "a", "resources": {"limits": {"cpu": "1250m", "memory": "1Gi", "hugepages-2Mi": "4Mi"}}},
      {"name": "b"}]}})");
  auto val = [&](const char* ref) {
    JsonDoc r = Parse(ref);
    auto v = ContainerResourceValue(r, pod, nullptr, node);
    return v.ok() ? *v : "error: " + v.status().message();
  };
  CHECK(val(R"({"containerName": "a", "resource": "limits.cpu"})") == "2");
  CHECK(val(R"({"containerName": "a", "resource": "limits.cpu", "divisor": "100m"})") == "13");
  CHECK(val(R"({"containerName": "a", "resource": "limits.memory", "divisor": "1M"})") == "1074");
  CHECK(val(R"({"containerName": "a", "resource": "limits.memory", "divisor": "0"})") == "1073741824");
  CHECK(val(R"({"containerName": "a", "resource": "limits.hugepages-2Mi", "divisor": "1Mi"})") == "4");
  CHECK(val(R"({"containerName": "b", "resource": "limits.cpu"})") == "4");       // allocatable 3.5 -> 4
  CHECK(val(R"({"containerName": "b", "resource": "limits.memory"})") == "1000");
  CHECK(val(R"({"containerName": "b", "resource": "requests.cpu"})") == "0");
}

}  // namespace
}  // namespace minik::agent::volumes
