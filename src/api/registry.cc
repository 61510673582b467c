// The built-in resources of Kubernetes v1.32 that minik serves, with upstream's discovery data
// (kube-apiserver's /api/v1 and /apis/<group>/<version> documents of a default v1.32 cluster:
// names, singular names, scope, verbs, short names, categories, subresources) and the field
// selectors upstream's field-label conversion functions accept per kind.
//
// Choices (see the report of this piece):
// - autoscaling: only v2 is served (horizontalpodautoscalers); v1 appears only as the group and
//   version of the Scale kind of the */scale subresources.
// - pods/resize is left out: v1.32 registers it only with the alpha InPlacePodVerticalScaling
//   feature gate, which a default cluster has off.
// - Groups minik does not serve (apiregistration.k8s.io, admissionregistration.k8s.io,
//   apiextensions.k8s.io, flowcontrol.apiserver.k8s.io, resource.k8s.io, ...) are absent.
#include "api/registry.h"

#include <utility>

namespace minik::api {

const SubresourceInfo* ResourceInfo::FindSubresource(std::string_view name) const {
  for (const auto& s : subresources) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

bool ResourceInfo::HasVerb(std::string_view verb) const {
  for (const auto& v : verbs) {
    if (v == verb) return true;
  }
  return false;
}

namespace {

std::string PathKey(std::string_view group, std::string_view version, std::string_view plural) {
  std::string k(group);
  k += '/';
  k.append(version);
  k += '/';
  k.append(plural);
  return k;
}

std::string KindKey(std::string_view api_version, std::string_view kind) {
  std::string k(api_version);
  k += '#';
  k.append(kind);
  return k;
}

using Strings = std::vector<std::string>;

const Strings& AllVerbs() {
  static const Strings* v =
      new Strings{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"};
  return *v;
}

// A small builder so the table below reads like upstream's discovery documents.
class Def {
 public:
  Def(std::string group, std::string version, std::string kind, std::string plural, std::string singular,
      bool namespaced) {
    r_.group = std::move(group);
    r_.version = std::move(version);
    r_.kind = std::move(kind);
    r_.plural = std::move(plural);
    r_.singular = std::move(singular);
    r_.namespaced = namespaced;
    r_.verbs = AllVerbs();
  }
  Def& Verbs(Strings v) {
    r_.verbs = std::move(v);
    return *this;
  }
  Def& Short(Strings v) {
    r_.short_names = std::move(v);
    return *this;
  }
  Def& Categories(Strings v) {
    r_.categories = std::move(v);
    return *this;
  }
  Def& Fields(Strings v) {
    r_.field_selectors = std::move(v);
    return *this;
  }
  Def& Names(NameRule rule, int max_len = 0) {
    r_.name_rule = rule;
    r_.max_name_length = max_len;
    return *this;
  }
  // A subresource whose kind lives in the resource's own group and version.
  Def& Sub(std::string name, std::string kind, Strings verbs) {
    r_.subresources.push_back(SubresourceInfo{std::move(name), r_.group, r_.version, std::move(kind), std::move(verbs)});
    return *this;
  }
  Def& SubGV(std::string name, std::string group, std::string version, std::string kind, Strings verbs) {
    r_.subresources.push_back(
        SubresourceInfo{std::move(name), std::move(group), std::move(version), std::move(kind), std::move(verbs)});
    return *this;
  }
  Def& Status() {
    r_.status_subresource = true;
    return Sub("status", r_.kind, {"get", "patch", "update"});
  }
  Def& Scale() { return SubGV("scale", "autoscaling", "v1", "Scale", {"get", "patch", "update"}); }
  ResourceInfo Build() { return std::move(r_); }

 private:
  ResourceInfo r_;
};

std::vector<ResourceInfo> BuiltinResources() {
  const Strings kCreate = {"create"};
  const Strings kProxyVerbs = {"create", "delete", "get", "patch", "update"};
  const Strings kEventFields = {"involvedObject.kind",
                                "involvedObject.namespace",
                                "involvedObject.name",
                                "involvedObject.uid",
                                "involvedObject.apiVersion",
                                "involvedObject.resourceVersion",
                                "involvedObject.fieldPath",
                                "reason",
                                "reportingComponent",
                                "source",
                                "type"};
  std::vector<ResourceInfo> r;
  auto add = [&r](Def& d) { r.push_back(d.Build()); };

  // ---- core/v1, in upstream's discovery order.
  {
    Def d("", "v1", "Binding", "bindings", "binding", true);
    add(d.Verbs(kCreate));
  }
  {
    Def d("", "v1", "ComponentStatus", "componentstatuses", "componentstatus", false);
    add(d.Verbs({"get", "list"}).Short({"cs"}));
  }
  {
    Def d("", "v1", "ConfigMap", "configmaps", "configmap", true);
    add(d.Short({"cm"}));
  }
  {
    Def d("", "v1", "Endpoints", "endpoints", "endpoints", true);
    add(d.Short({"ep"}));
  }
  {
    Def d("", "v1", "Event", "events", "event", true);
    add(d.Short({"ev"}).Fields(kEventFields));
  }
  {
    Def d("", "v1", "LimitRange", "limitranges", "limitrange", true);
    add(d.Short({"limits"}));
  }
  {
    Def d("", "v1", "Namespace", "namespaces", "namespace", false);
    d.Verbs({"create", "delete", "get", "list", "patch", "update", "watch"}).Short({"ns"});
    d.Sub("finalize", "Namespace", {"update"}).Status().Fields({"status.phase"}).Names(NameRule::kDNSLabel);
    add(d);
  }
  {
    Def d("", "v1", "Node", "nodes", "node", false);
    d.Short({"no"}).Sub("proxy", "NodeProxyOptions", kProxyVerbs).Status().Fields({"spec.unschedulable"});
    add(d);
  }
  {
    Def d("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", "persistentvolumeclaim", true);
    add(d.Short({"pvc"}).Status());
  }
  {
    Def d("", "v1", "PersistentVolume", "persistentvolumes", "persistentvolume", false);
    add(d.Short({"pv"}).Status());
  }
  {
    Def d("", "v1", "Pod", "pods", "pod", true);
    d.Short({"po"}).Categories({"all"});
    d.Sub("attach", "PodAttachOptions", {"create", "get"});
    d.Sub("binding", "Binding", kCreate);
    d.Sub("ephemeralcontainers", "Pod", {"get", "patch", "update"});
    d.SubGV("eviction", "policy", "v1", "Eviction", kCreate);
    d.Sub("exec", "PodExecOptions", {"create", "get"});
    d.Sub("log", "Pod", {"get"});
    d.Sub("portforward", "PodPortForwardOptions", {"create", "get"});
    d.Sub("proxy", "PodProxyOptions", kProxyVerbs);
    d.Status();
    d.Fields({"spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
              "spec.hostNetwork", "status.phase", "status.podIP", "status.podIPs", "status.nominatedNodeName"});
    add(d);
  }
  {
    Def d("", "v1", "PodTemplate", "podtemplates", "podtemplate", true);
    add(d);
  }
  {
    Def d("", "v1", "ReplicationController", "replicationcontrollers", "replicationcontroller", true);
    add(d.Short({"rc"}).Categories({"all"}).Scale().Status().Fields({"status.replicas"}));
  }
  {
    Def d("", "v1", "ResourceQuota", "resourcequotas", "resourcequota", true);
    add(d.Short({"quota"}).Status());
  }
  {
    Def d("", "v1", "Secret", "secrets", "secret", true);
    add(d.Fields({"type"}));
  }
  {
    Def d("", "v1", "ServiceAccount", "serviceaccounts", "serviceaccount", true);
    add(d.Short({"sa"}).SubGV("token", "authentication.k8s.io", "v1", "TokenRequest", kCreate));
  }
  {
    Def d("", "v1", "Service", "services", "service", true);
    d.Short({"svc"}).Categories({"all"}).Sub("proxy", "ServiceProxyOptions", kProxyVerbs).Status();
    add(d.Fields({"spec.clusterIP", "spec.type"}).Names(NameRule::kDNS1035Label));
  }

  // ---- apps/v1
  {
    Def d("apps", "v1", "ControllerRevision", "controllerrevisions", "controllerrevision", true);
    add(d);
  }
  {
    Def d("apps", "v1", "DaemonSet", "daemonsets", "daemonset", true);
    add(d.Short({"ds"}).Categories({"all"}).Status());
  }
  {
    Def d("apps", "v1", "Deployment", "deployments", "deployment", true);
    add(d.Short({"deploy"}).Categories({"all"}).Scale().Status());
  }
  {
    Def d("apps", "v1", "ReplicaSet", "replicasets", "replicaset", true);
    add(d.Short({"rs"}).Categories({"all"}).Scale().Status());
  }
  {
    Def d("apps", "v1", "StatefulSet", "statefulsets", "statefulset", true);
    add(d.Short({"sts"}).Categories({"all"}).Scale().Status());
  }

  // ---- events.k8s.io/v1 (same storage as core events)
  {
    Def d("events.k8s.io", "v1", "Event", "events", "event", true);
    add(d.Short({"ev"}));
  }

  // ---- authentication.k8s.io/v1
  {
    Def d("authentication.k8s.io", "v1", "SelfSubjectReview", "selfsubjectreviews", "selfsubjectreview", false);
    add(d.Verbs(kCreate).Names(NameRule::kPathSegment));
  }
  {
    Def d("authentication.k8s.io", "v1", "TokenReview", "tokenreviews", "tokenreview", false);
    add(d.Verbs(kCreate).Names(NameRule::kPathSegment));
  }

  // ---- authorization.k8s.io/v1
  {
    Def d("authorization.k8s.io", "v1", "LocalSubjectAccessReview", "localsubjectaccessreviews",
          "localsubjectaccessreview", true);
    add(d.Verbs(kCreate).Names(NameRule::kPathSegment));
  }
  {
    Def d("authorization.k8s.io", "v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews",
          "selfsubjectaccessreview", false);
    add(d.Verbs(kCreate).Names(NameRule::kPathSegment));
  }
  {
    Def d("authorization.k8s.io", "v1", "SelfSubjectRulesReview", "selfsubjectrulesreviews", "selfsubjectrulesreview",
          false);
    add(d.Verbs(kCreate).Names(NameRule::kPathSegment));
  }
  {
    Def d("authorization.k8s.io", "v1", "SubjectAccessReview", "subjectaccessreviews", "subjectaccessreview", false);
    add(d.Verbs(kCreate).Names(NameRule::kPathSegment));
  }

  // ---- autoscaling/v2
  {
    Def d("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", "horizontalpodautoscaler", true);
    add(d.Short({"hpa"}).Categories({"all"}).Status());
  }
  // ---- autoscaling/v1: served by conversion from the v2 storage version (api/conversion.h);
  // `kubectl autoscale` writes this version.
  {
    Def d("autoscaling", "v1", "HorizontalPodAutoscaler", "horizontalpodautoscalers", "horizontalpodautoscaler", true);
    add(d.Short({"hpa"}).Categories({"all"}).Status());
  }

  // ---- batch/v1
  {
    Def d("batch", "v1", "CronJob", "cronjobs", "cronjob", true);
    // Upstream's conversion accepts status.successful for CronJob too (batch/v1 registers one
    // function for Job, JobTemplate and CronJob).
    add(d.Short({"cj"}).Categories({"all"}).Status().Fields({"status.successful"}).Names(NameRule::kDNSSubdomain, 52));
  }
  {
    Def d("batch", "v1", "Job", "jobs", "job", true);
    add(d.Categories({"all"}).Status().Fields({"status.successful"}));
  }

  // ---- certificates.k8s.io/v1
  {
    Def d("certificates.k8s.io", "v1", "CertificateSigningRequest", "certificatesigningrequests",
          "certificatesigningrequest", false);
    d.Short({"csr"}).Sub("approval", "CertificateSigningRequest", {"get", "patch", "update"}).Status();
    add(d.Fields({"spec.signerName"}).Names(NameRule::kPathSegment));
  }

  // ---- networking.k8s.io/v1
  {
    Def d("networking.k8s.io", "v1", "IngressClass", "ingressclasses", "ingressclass", false);
    add(d);
  }
  {
    Def d("networking.k8s.io", "v1", "Ingress", "ingresses", "ingress", true);
    add(d.Short({"ing"}).Status());
  }
  {
    Def d("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", "networkpolicy", true);
    add(d.Short({"netpol"}));
  }

  // ---- policy/v1
  {
    Def d("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", "poddisruptionbudget", true);
    add(d.Short({"pdb"}).Status());
  }

  // ---- rbac.authorization.k8s.io/v1
  {
    Def d("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", "clusterrolebinding", false);
    add(d.Names(NameRule::kPathSegment));
  }
  {
    Def d("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", "clusterrole", false);
    add(d.Names(NameRule::kPathSegment));
  }
  {
    Def d("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", "rolebinding", true);
    add(d.Names(NameRule::kPathSegment));
  }
  {
    Def d("rbac.authorization.k8s.io", "v1", "Role", "roles", "role", true);
    add(d.Names(NameRule::kPathSegment));
  }

  // ---- storage.k8s.io/v1
  {
    Def d("storage.k8s.io", "v1", "CSIDriver", "csidrivers", "csidriver", false);
    add(d);
  }
  {
    Def d("storage.k8s.io", "v1", "CSINode", "csinodes", "csinode", false);
    add(d);
  }
  {
    Def d("storage.k8s.io", "v1", "CSIStorageCapacity", "csistoragecapacities", "csistoragecapacity", true);
    add(d);
  }
  {
    Def d("storage.k8s.io", "v1", "StorageClass", "storageclasses", "storageclass", false);
    add(d.Short({"sc"}));
  }
  {
    Def d("storage.k8s.io", "v1", "VolumeAttachment", "volumeattachments", "volumeattachment", false);
    add(d.Status());
  }

  // ---- scheduling.k8s.io/v1
  {
    Def d("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", "priorityclass", false);
    add(d.Short({"pc"}));
  }

  // ---- coordination.k8s.io/v1
  {
    Def d("coordination.k8s.io", "v1", "Lease", "leases", "lease", true);
    add(d);
  }

  // ---- node.k8s.io/v1
  {
    Def d("node.k8s.io", "v1", "RuntimeClass", "runtimeclasses", "runtimeclass", false);
    add(d);
  }

  // ---- discovery.k8s.io/v1
  {
    Def d("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", "endpointslice", true);
    add(d);
  }

  // ---- metrics.k8s.io/v1beta1: upstream's metrics-server behind its APIService (which comes
  // after the built-in groups); minik serves it itself (server/metrics_api.h).
  {
    Def d("metrics.k8s.io", "v1beta1", "NodeMetrics", "nodes", "node", false);
    add(d.Verbs({"get", "list"}));
  }
  {
    Def d("metrics.k8s.io", "v1beta1", "PodMetrics", "pods", "pod", true);
    add(d.Verbs({"get", "list"}));
  }
  return r;
}

}  // namespace

Registry::Registry(std::vector<ResourceInfo> resources) : resources_(std::move(resources)) {
  for (size_t i = 0; i < resources_.size(); ++i) {
    const ResourceInfo& r = resources_[i];
    by_path_.emplace(PathKey(r.group, r.version, r.plural), i);
    by_kind_.emplace(KindKey(r.api_version(), r.kind), i);
    GroupVersions* g = nullptr;
    for (auto& existing : groups_) {
      if (existing.group == r.group) g = &existing;
    }
    if (!g) {
      groups_.push_back(GroupVersions{r.group, {}});
      g = &groups_.back();
    }
    bool have = false;
    for (const auto& v : g->versions) have = have || v == r.version;
    if (!have) g->versions.push_back(r.version);
  }
}

const Registry& Registry::Builtin() {
  static const Registry* registry = new Registry(BuiltinResources());
  return *registry;
}

const ResourceInfo* Registry::Find(std::string_view group, std::string_view version, std::string_view plural) const {
  auto it = by_path_.find(PathKey(group, version, plural));
  return it == by_path_.end() ? nullptr : &resources_[it->second];
}

const ResourceInfo* Registry::FindByKind(std::string_view api_version, std::string_view kind) const {
  auto it = by_kind_.find(KindKey(api_version, kind));
  return it == by_kind_.end() ? nullptr : &resources_[it->second];
}

std::vector<const ResourceInfo*> Registry::InGroupVersion(std::string_view group, std::string_view version) const {
  std::vector<const ResourceInfo*> out;
  for (const auto& r : resources_) {
    if (r.group == group && r.version == version) out.push_back(&r);
  }
  return out;
}

const ResourceInfo* Registry::Resolve(std::string_view group, std::string_view name) const {
  auto matches = [name](const ResourceInfo& r) {
    if (r.plural == name || r.singular == name) return true;
    for (const auto& s : r.short_names) {
      if (s == name) return true;
    }
    return false;
  };
  // Plural and singular names win over short names, as kubectl's RESTMapper does.
  for (int pass = 0; pass < 2; ++pass) {
    for (const auto& r : resources_) {
      if (!group.empty() && r.group != group) continue;
      if (pass == 0 ? (r.plural == name || r.singular == name) : matches(r)) return &r;
    }
  }
  return nullptr;
}

}  // namespace minik::api
