// The strategic-merge metadata of the built-in kinds: k8s.io/api v0.32's patchStrategy and
// patchMergeKey struct tags, as a small type graph so that shared types (PodSpec, Container,
// ObjectMeta) are described once.
#include <array>

#include "api/patch.h"

namespace minik::api {

namespace {

constexpr PatchType kTypes[] = {
    {"Object"},  // any kind: only metadata
    {"ObjectMeta"},
    {"PodTemplateSpec"},
    {"PodSpec"},
    {"Container"},
    {"PodStatus"},
    {"ConditionsStatus"},
    {"TemplateSpec"},  // spec.template of workloads
    {"DeploymentSpec"},
    {"CronJobSpec"},
    {"JobTemplateSpec"},
    {"ServiceSpec"},
    {"NodeSpec"},
    {"NodeStatus"},
    {"Pod"},
    {"PodTemplate"},
    {"ReplicationController"},
    {"Deployment"},
    {"ReplicaSet"},
    {"DaemonSet"},
    {"StatefulSet"},
    {"Job"},
    {"CronJob"},
    {"Service"},
    {"Node"},
    {"Namespace"},
    {"PersistentVolumeClaim"},
    {"ServiceAccount"},
    {"PodDisruptionBudget"},
    {"HorizontalPodAutoscaler"},
};

struct Row {
  std::string_view type;
  std::string_view field;
  std::string_view child;  // type of the value (elements for lists); "" for no further metadata
  std::string_view strategy;
  std::string_view merge_key;
};

constexpr Row kRows[] = {
    // metav1.ObjectMeta
    {"ObjectMeta", "finalizers", "", "merge", ""},
    {"ObjectMeta", "ownerReferences", "", "merge", "uid"},
    // core/v1 PodTemplateSpec, PodSpec, Container (EphemeralContainerCommon has the same tags)
    {"PodTemplateSpec", "spec", "PodSpec", "", ""},
    {"PodSpec", "volumes", "", "merge,retainKeys", "name"},
    {"PodSpec", "initContainers", "Container", "merge", "name"},
    {"PodSpec", "containers", "Container", "merge", "name"},
    {"PodSpec", "ephemeralContainers", "Container", "merge", "name"},
    {"PodSpec", "imagePullSecrets", "", "merge", "name"},
    {"PodSpec", "hostAliases", "", "merge", "ip"},
    {"PodSpec", "topologySpreadConstraints", "", "merge", "topologyKey"},
    {"PodSpec", "resourceClaims", "", "merge,retainKeys", "name"},
    {"PodSpec", "schedulingGates", "", "merge", "name"},
    {"Container", "ports", "", "merge", "containerPort"},
    {"Container", "env", "", "merge", "name"},
    {"Container", "volumeMounts", "", "merge", "mountPath"},
    {"Container", "volumeDevices", "", "merge", "devicePath"},
    {"PodStatus", "conditions", "", "merge", "type"},
    {"PodStatus", "podIPs", "", "merge", "ip"},
    {"PodStatus", "hostIPs", "", "merge", "ip"},
    {"PodStatus", "resourceClaimStatuses", "", "merge,retainKeys", "name"},
    {"ConditionsStatus", "conditions", "", "merge", "type"},
    {"TemplateSpec", "template", "PodTemplateSpec", "", ""},
    {"DeploymentSpec", "template", "PodTemplateSpec", "", ""},
    {"DeploymentSpec", "strategy", "", "retainKeys", ""},
    {"CronJobSpec", "jobTemplate", "JobTemplateSpec", "", ""},
    {"JobTemplateSpec", "spec", "TemplateSpec", "", ""},
    {"ServiceSpec", "ports", "", "merge", "port"},
    {"NodeSpec", "podCIDRs", "", "merge", ""},
    {"NodeStatus", "conditions", "", "merge", "type"},
    {"NodeStatus", "addresses", "", "merge", "type"},
    // Kinds
    {"Pod", "spec", "PodSpec", "", ""},
    {"Pod", "status", "PodStatus", "", ""},
    {"PodTemplate", "template", "PodTemplateSpec", "", ""},
    {"ReplicationController", "spec", "TemplateSpec", "", ""},
    {"ReplicationController", "status", "ConditionsStatus", "", ""},
    {"Deployment", "spec", "DeploymentSpec", "", ""},
    {"Deployment", "status", "ConditionsStatus", "", ""},
    {"ReplicaSet", "spec", "TemplateSpec", "", ""},
    {"ReplicaSet", "status", "ConditionsStatus", "", ""},
    {"DaemonSet", "spec", "TemplateSpec", "", ""},
    {"DaemonSet", "status", "ConditionsStatus", "", ""},
    {"StatefulSet", "spec", "TemplateSpec", "", ""},
    {"StatefulSet", "status", "ConditionsStatus", "", ""},
    {"Job", "spec", "TemplateSpec", "", ""},
    {"Job", "status", "ConditionsStatus", "", ""},
    {"CronJob", "spec", "CronJobSpec", "", ""},
    {"Service", "spec", "ServiceSpec", "", ""},
    {"Service", "status", "ConditionsStatus", "", ""},
    {"Node", "spec", "NodeSpec", "", ""},
    {"Node", "status", "NodeStatus", "", ""},
    {"Namespace", "status", "ConditionsStatus", "", ""},
    {"PersistentVolumeClaim", "status", "ConditionsStatus", "", ""},
    {"ServiceAccount", "secrets", "", "merge", "name"},
    {"PodDisruptionBudget", "status", "ConditionsStatus", "", ""},
    {"HorizontalPodAutoscaler", "status", "ConditionsStatus", "", ""},
};

// Kinds served by minik that accept strategic merge patches (all built-ins do upstream).
constexpr std::string_view kBuiltinKinds[] = {
    "Namespace", "Pod", "Service", "Endpoints", "ConfigMap", "Secret", "ServiceAccount", "Node", "Event",
    "PersistentVolume", "PersistentVolumeClaim", "ResourceQuota", "LimitRange", "ReplicationController",
    "PodTemplate", "Deployment", "ReplicaSet", "DaemonSet", "StatefulSet", "ControllerRevision", "Job", "CronJob",
    "EndpointSlice", "Ingress", "IngressClass", "NetworkPolicy", "Lease", "Role", "RoleBinding", "ClusterRole",
    "ClusterRoleBinding", "StorageClass", "PodDisruptionBudget", "HorizontalPodAutoscaler", "PriorityClass",
    "RuntimeClass", "Binding", "Scale", "Eviction",
};

const PatchType* FindType(std::string_view name) {
  if (name.empty()) return nullptr;
  for (const auto& t : kTypes)
    if (t.name == name) return &t;
  return nullptr;
}

}  // namespace

const PatchType* PatchRootType(std::string_view /*api_version*/, std::string_view kind) {
  const PatchType* t = FindType(kind);
  return t ? t : &kTypes[0];
}

PatchMeta LookupField(const PatchType* type, std::string_view field, const PatchType** child) {
  *child = nullptr;
  if (!type) return {};
  if (field == "metadata" && type->name != "ObjectMeta" && type->name != "Container" && type->name != "PodSpec") {
    *child = FindType("ObjectMeta");
    return {};
  }
  for (const auto& r : kRows) {
    if (r.type == type->name && r.field == field) {
      *child = FindType(r.child);
      return {r.strategy, r.merge_key};
    }
  }
  return {};
}

PatchMeta LookupPatchMeta(std::string_view kind, std::string_view path) {
  const PatchType* t = PatchRootType("", kind);
  PatchMeta meta;
  while (!path.empty()) {
    size_t dot = path.find('.');
    std::string_view field = path.substr(0, dot);
    path = dot == std::string_view::npos ? std::string_view() : path.substr(dot + 1);
    const PatchType* child = nullptr;
    meta = LookupField(t, field, &child);
    t = child;
    if (!t && !path.empty()) return {};
  }
  return meta;
}

bool HasStrategicMergeSchema(std::string_view /*api_version*/, std::string_view kind) {
  for (auto k : kBuiltinKinds)
    if (k == kind) return true;
  return false;
}

}  // namespace minik::api
