#include <catch2/catch.hpp>

#include <set>
#include <string>

#include "api/registry.h"

using minik::api::NameRule;
using minik::api::Registry;
using minik::api::ResourceInfo;

namespace {

const ResourceInfo& Get(std::string_view group, std::string_view plural) {
  const Registry& r = Registry::Builtin();
  for (const auto& g : r.groups()) {
    if (g.group == group) {
      const ResourceInfo* info = r.Find(group, g.versions.front(), plural);
      REQUIRE(info != nullptr);
      return *info;
    }
  }
  FAIL("no group " << group);
  throw;
}

std::vector<std::string> Verbs(std::initializer_list<const char*> v) { return {v.begin(), v.end()}; }

}  // namespace

TEST_CASE("every resource of the issue is served with upstream's group, version, scope and short names") {
  struct Want {
    const char* api_version;
    const char* plural;
    const char* kind;
    bool namespaced;
    std::vector<std::string> shorts;
  };
  const std::vector<Want> want = {
      {"v1", "namespaces", "Namespace", false, {"ns"}},
      {"v1", "pods", "Pod", true, {"po"}},
      {"v1", "services", "Service", true, {"svc"}},
      {"v1", "endpoints", "Endpoints", true, {"ep"}},
      {"v1", "configmaps", "ConfigMap", true, {"cm"}},
      {"v1", "secrets", "Secret", true, {}},
      {"v1", "serviceaccounts", "ServiceAccount", true, {"sa"}},
      {"v1", "nodes", "Node", false, {"no"}},
      {"v1", "events", "Event", true, {"ev"}},
      {"v1", "persistentvolumes", "PersistentVolume", false, {"pv"}},
      {"v1", "persistentvolumeclaims", "PersistentVolumeClaim", true, {"pvc"}},
      {"v1", "resourcequotas", "ResourceQuota", true, {"quota"}},
      {"v1", "limitranges", "LimitRange", true, {"limits"}},
      {"v1", "replicationcontrollers", "ReplicationController", true, {"rc"}},
      {"v1", "podtemplates", "PodTemplate", true, {}},
      {"v1", "componentstatuses", "ComponentStatus", false, {"cs"}},
      {"v1", "bindings", "Binding", true, {}},
      {"apps/v1", "deployments", "Deployment", true, {"deploy"}},
      {"apps/v1", "replicasets", "ReplicaSet", true, {"rs"}},
      {"apps/v1", "daemonsets", "DaemonSet", true, {"ds"}},
      {"apps/v1", "statefulsets", "StatefulSet", true, {"sts"}},
      {"apps/v1", "controllerrevisions", "ControllerRevision", true, {}},
      {"batch/v1", "jobs", "Job", true, {}},
      {"batch/v1", "cronjobs", "CronJob", true, {"cj"}},
      {"discovery.k8s.io/v1", "endpointslices", "EndpointSlice", true, {}},
      {"networking.k8s.io/v1", "ingresses", "Ingress", true, {"ing"}},
      {"networking.k8s.io/v1", "ingressclasses", "IngressClass", false, {}},
      {"networking.k8s.io/v1", "networkpolicies", "NetworkPolicy", true, {"netpol"}},
      {"coordination.k8s.io/v1", "leases", "Lease", true, {}},
      {"events.k8s.io/v1", "events", "Event", true, {"ev"}},
      {"rbac.authorization.k8s.io/v1", "roles", "Role", true, {}},
      {"rbac.authorization.k8s.io/v1", "rolebindings", "RoleBinding", true, {}},
      {"rbac.authorization.k8s.io/v1", "clusterroles", "ClusterRole", false, {}},
      {"rbac.authorization.k8s.io/v1", "clusterrolebindings", "ClusterRoleBinding", false, {}},
      {"storage.k8s.io/v1", "storageclasses", "StorageClass", false, {"sc"}},
      {"policy/v1", "poddisruptionbudgets", "PodDisruptionBudget", true, {"pdb"}},
      {"autoscaling/v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", true, {"hpa"}},
      {"scheduling.k8s.io/v1", "priorityclasses", "PriorityClass", false, {"pc"}},
      {"node.k8s.io/v1", "runtimeclasses", "RuntimeClass", false, {}},
      {"certificates.k8s.io/v1", "certificatesigningrequests", "CertificateSigningRequest", false, {"csr"}},
      {"authentication.k8s.io/v1", "tokenreviews", "TokenReview", false, {}},
      {"authentication.k8s.io/v1", "selfsubjectreviews", "SelfSubjectReview", false, {}},
      {"authorization.k8s.io/v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview", false, {}},
      {"authorization.k8s.io/v1", "selfsubjectrulesreviews", "SelfSubjectRulesReview", false, {}},
      {"authorization.k8s.io/v1", "subjectaccessreviews", "SubjectAccessReview", false, {}},
      {"authorization.k8s.io/v1", "localsubjectaccessreviews", "LocalSubjectAccessReview", true, {}},
  };
  const Registry& reg = Registry::Builtin();
  for (const auto& w : want) {
    INFO(w.api_version << " " << w.plural);
    const ResourceInfo* r = reg.FindByKind(w.api_version, w.kind);
    REQUIRE(r != nullptr);
    CHECK(r->plural == w.plural);
    CHECK(r->api_version() == w.api_version);
    CHECK(r->namespaced == w.namespaced);
    CHECK(r->short_names == w.shorts);
    CHECK(reg.Find(r->group, r->version, r->plural) == r);
  }
}

TEST_CASE("lookups by path, kind and typed name") {
  const Registry& reg = Registry::Builtin();
  const ResourceInfo* deploy = reg.Find("apps", "v1", "deployments");
  REQUIRE(deploy);
  CHECK(deploy->kind == "Deployment");
  CHECK(deploy->singular == "deployment");
  CHECK(deploy->list_kind() == "DeploymentList");
  CHECK(deploy->group_resource() == "deployments.apps");
  CHECK(reg.Find("apps", "v1beta1", "deployments") == nullptr);
  CHECK(reg.Find("", "v1", "deployments") == nullptr);
  CHECK(reg.FindByKind("apps/v1", "Deployment") == deploy);
  CHECK(reg.FindByKind("v1", "Deployment") == nullptr);
  CHECK(reg.FindByKind("v1", "Pod")->group_resource() == "pods");
  CHECK(reg.Resolve("", "deploy") == deploy);
  CHECK(reg.Resolve("", "deployment") == deploy);
  CHECK(reg.Resolve("apps", "deployments") == deploy);
  CHECK(reg.Resolve("batch", "deployments") == nullptr);
  // Core events come first, as kubectl resolves "ev" and "events".
  CHECK(reg.Resolve("", "ev")->group.empty());
  CHECK(reg.Resolve("events.k8s.io", "ev")->group == "events.k8s.io");
  CHECK(reg.Resolve("", "nope") == nullptr);
  auto apps = reg.InGroupVersion("apps", "v1");
  REQUIRE(apps.size() == 5);
  CHECK(apps[0]->plural == "controllerrevisions");
  CHECK(apps[4]->plural == "statefulsets");
}

TEST_CASE("groups come in upstream's discovery order, autoscaling serving v2 then v1") {
  std::vector<std::string> groups;
  for (const auto& g : Registry::Builtin().groups()) groups.push_back(g.group);
  const std::vector<std::string> want = {"",
                                         "apps",
                                         "events.k8s.io",
                                         "authentication.k8s.io",
                                         "authorization.k8s.io",
                                         "autoscaling",
                                         "batch",
                                         "certificates.k8s.io",
                                         "networking.k8s.io",
                                         "policy",
                                         "rbac.authorization.k8s.io",
                                         "storage.k8s.io",
                                         "scheduling.k8s.io",
                                         "coordination.k8s.io",
                                         "node.k8s.io",
                                         "discovery.k8s.io",
                                         "metrics.k8s.io"};
  CHECK(groups == want);
  for (const auto& g : Registry::Builtin().groups()) {
    if (g.group == "metrics.k8s.io") {
      CHECK(g.versions == std::vector<std::string>{"v1beta1"});
    } else if (g.group == "autoscaling") {
      CHECK(g.versions == std::vector<std::string>{"v2", "v1"});
    } else {
      CHECK(g.versions.size() == 1);
    }
  }
}

TEST_CASE("verbs are upstream's per resource") {
  const auto all = Verbs({"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"});
  // metrics-server's resources: get and list only; kinds NodeMetrics and PodMetrics.
  CHECK(Get("metrics.k8s.io", "nodes").verbs == Verbs({"get", "list"}));
  CHECK(Get("metrics.k8s.io", "pods").verbs == Verbs({"get", "list"}));
  CHECK(Get("metrics.k8s.io", "nodes").kind == "NodeMetrics");
  CHECK_FALSE(Get("metrics.k8s.io", "nodes").namespaced);
  CHECK(Get("metrics.k8s.io", "pods").kind == "PodMetrics");
  CHECK(Registry::Builtin().Resolve("", "pods")->group.empty());
  CHECK(Registry::Builtin().Resolve("", "nodes")->group.empty());
  CHECK(Get("", "pods").verbs == all);
  CHECK(Get("", "services").verbs == all);
  CHECK(Get("", "events").verbs == all);
  CHECK(Get("", "nodes").verbs == all);
  CHECK(Get("", "namespaces").verbs == Verbs({"create", "delete", "get", "list", "patch", "update", "watch"}));
  CHECK_FALSE(Get("", "namespaces").HasVerb("deletecollection"));
  CHECK(Get("", "bindings").verbs == Verbs({"create"}));
  CHECK(Get("", "componentstatuses").verbs == Verbs({"get", "list"}));
  CHECK(Get("authorization.k8s.io", "subjectaccessreviews").verbs == Verbs({"create"}));
  CHECK(Get("authentication.k8s.io", "tokenreviews").verbs == Verbs({"create"}));
  CHECK(Get("apps", "deployments").HasVerb("watch"));
  CHECK_FALSE(Get("", "bindings").HasVerb("get"));
}

TEST_CASE("subresources carry their kinds and verbs") {
  const ResourceInfo& pods = Get("", "pods");
  std::vector<std::string> names;
  for (const auto& s : pods.subresources) names.push_back(s.name);
  CHECK(names == Verbs({"attach", "binding", "ephemeralcontainers", "eviction", "exec", "log", "portforward", "proxy",
                        "status"}));
  const auto* eviction = pods.FindSubresource("eviction");
  REQUIRE(eviction);
  CHECK(eviction->group == "policy");
  CHECK(eviction->version == "v1");
  CHECK(eviction->kind == "Eviction");
  CHECK(eviction->verbs == Verbs({"create"}));
  CHECK(pods.FindSubresource("exec")->kind == "PodExecOptions");
  CHECK(pods.FindSubresource("exec")->verbs == Verbs({"create", "get"}));
  CHECK(pods.FindSubresource("log")->verbs == Verbs({"get"}));
  CHECK(pods.FindSubresource("proxy")->verbs == Verbs({"create", "delete", "get", "patch", "update"}));
  CHECK(pods.FindSubresource("status")->kind == "Pod");
  CHECK(pods.FindSubresource("status")->verbs == Verbs({"get", "patch", "update"}));
  CHECK(pods.FindSubresource("resize") == nullptr);
  CHECK(pods.status_subresource);

  for (auto [group, plural] : {std::pair{"apps", "deployments"}, std::pair{"apps", "replicasets"},
                               std::pair{"apps", "statefulsets"}, std::pair{"", "replicationcontrollers"}}) {
    const auto* scale = Get(group, plural).FindSubresource("scale");
    REQUIRE(scale);
    CHECK(scale->group == "autoscaling");
    CHECK(scale->version == "v1");
    CHECK(scale->kind == "Scale");
    CHECK(scale->verbs == Verbs({"get", "patch", "update"}));
  }
  CHECK(Get("apps", "daemonsets").FindSubresource("scale") == nullptr);
  CHECK(Get("apps", "daemonsets").status_subresource);
  CHECK(Get("", "namespaces").FindSubresource("finalize")->verbs == Verbs({"update"}));
  CHECK(Get("", "serviceaccounts").FindSubresource("token")->kind == "TokenRequest");
  CHECK(Get("", "serviceaccounts").FindSubresource("token")->group == "authentication.k8s.io");
  CHECK(Get("", "nodes").FindSubresource("proxy")->kind == "NodeProxyOptions");
  CHECK(Get("", "services").FindSubresource("proxy")->kind == "ServiceProxyOptions");
  CHECK(Get("certificates.k8s.io", "certificatesigningrequests").FindSubresource("approval") != nullptr);
  CHECK_FALSE(Get("", "configmaps").status_subresource);
  CHECK(Get("", "configmaps").subresources.empty());
  for (auto [group, plural] : {std::pair{"batch", "jobs"}, std::pair{"batch", "cronjobs"},
                               std::pair{"autoscaling", "horizontalpodautoscalers"},
                               std::pair{"policy", "poddisruptionbudgets"}, std::pair{"", "persistentvolumeclaims"},
                               std::pair{"networking.k8s.io", "ingresses"}, std::pair{"", "resourcequotas"}}) {
    INFO(plural);
    CHECK(Get(group, plural).status_subresource);
  }
}

TEST_CASE("categories: all holds the workloads, services and pods") {
  std::set<std::string> in_all;
  for (const auto& r : Registry::Builtin().resources()) {
    for (const auto& c : r.categories) {
      if (c == "all") in_all.insert(r.plural);
    }
  }
  CHECK(in_all == std::set<std::string>{"pods", "replicationcontrollers", "services", "daemonsets", "deployments",
                                        "replicasets", "statefulsets", "horizontalpodautoscalers", "cronjobs", "jobs"});
}

TEST_CASE("field selectors follow upstream's conversion functions") {
  CHECK(Get("", "pods").field_selectors ==
        Verbs({"spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
               "spec.hostNetwork", "status.phase", "status.podIP", "status.podIPs", "status.nominatedNodeName"}));
  CHECK(Get("", "nodes").field_selectors == Verbs({"spec.unschedulable"}));
  CHECK(Get("", "namespaces").field_selectors == Verbs({"status.phase"}));
  CHECK(Get("", "secrets").field_selectors == Verbs({"type"}));
  CHECK(Get("", "services").field_selectors == Verbs({"spec.clusterIP", "spec.type"}));
  CHECK(Get("", "replicationcontrollers").field_selectors == Verbs({"status.replicas"}));
  CHECK(Get("", "events").field_selectors.size() == 11);
  CHECK(Get("batch", "jobs").field_selectors == Verbs({"status.successful"}));
  CHECK(Get("certificates.k8s.io", "certificatesigningrequests").field_selectors == Verbs({"spec.signerName"}));
  CHECK(Get("apps", "replicasets").field_selectors.empty());
  CHECK(Get("", "configmaps").field_selectors.empty());
}

TEST_CASE("name rules per kind") {
  CHECK(Get("", "namespaces").name_rule == NameRule::kDNSLabel);
  CHECK(Get("", "services").name_rule == NameRule::kDNS1035Label);
  CHECK(Get("", "pods").name_rule == NameRule::kDNSSubdomain);
  CHECK(Get("rbac.authorization.k8s.io", "clusterroles").name_rule == NameRule::kPathSegment);
  CHECK(Get("batch", "cronjobs").max_name_length == 52);
  CHECK(Get("batch", "jobs").max_name_length == 0);
}
