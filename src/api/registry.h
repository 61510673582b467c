// The resource registry: every API resource minik serves, as upstream declares it
// (group, version, kind, plural, singular, scope, verbs, short names, categories,
// subresources). Pure data and lookups; no I/O. Immutable after construction, so any thread
// may read it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace minik::api {

struct SubresourceInfo {
  std::string name;                // "status", "scale", "binding", "eviction", "log", ...
  std::string group;               // of the subresource's kind (scale: "autoscaling")
  std::string version;             // (scale: "v1")
  std::string kind;                // "Pod", "Scale", "Binding", "Eviction", ...
  std::vector<std::string> verbs;  // e.g. {"get","patch","update"}
};

struct ResourceInfo {
  std::string group;     // "" for core
  std::string version;   // "v1"
  std::string kind;      // "Deployment"
  std::string plural;    // "deployments"
  std::string singular;  // "deployment"
  bool namespaced = true;
  std::vector<std::string> verbs;  // upstream's discovery verbs, e.g. create delete deletecollection get list patch update watch
  std::vector<std::string> short_names;
  std::vector<std::string> categories;  // e.g. {"all"}
  std::vector<SubresourceInfo> subresources;
  // Field selectors accepted beyond metadata.name and metadata.namespace (upstream's per-kind list),
  // e.g. pods: spec.nodeName, spec.restartPolicy, spec.schedulerName, spec.serviceAccountName,
  // spec.hostNetwork, status.phase, status.podIP, status.podIPs, status.nominatedNodeName.
  std::vector<std::string> field_selectors;
  // True when writes to the main resource ignore .status (status is written through /status).
  bool status_subresource = false;

  std::string api_version() const { return group.empty() ? version : group + "/" + version; }
  std::string list_kind() const { return kind + "List"; }
  // "pods", "deployments.apps": what upstream error messages name.
  std::string group_resource() const { return group.empty() ? plural : plural + "." + group; }
  const SubresourceInfo* FindSubresource(std::string_view name) const;
  bool HasVerb(std::string_view verb) const;
};

struct GroupVersions {
  std::string group;                  // "" for core
  std::vector<std::string> versions;  // preferred first
};

class Registry {
 public:
  // The built-in resources of Kubernetes v1.32 that minik serves.
  static const Registry& Builtin();

  const std::vector<ResourceInfo>& resources() const { return resources_; }
  // Groups in upstream's discovery order (core first, then apps, events.k8s.io, ...).
  const std::vector<GroupVersions>& groups() const { return groups_; }

  const ResourceInfo* Find(std::string_view group, std::string_view version, std::string_view plural) const;
  // By apiVersion ("apps/v1" or "v1") and kind.
  const ResourceInfo* FindByKind(std::string_view api_version, std::string_view kind) const;
  // Resources of one group/version, in discovery order.
  std::vector<const ResourceInfo*> InGroupVersion(std::string_view group, std::string_view version) const;

  explicit Registry(std::vector<ResourceInfo> resources);

 private:
  std::vector<ResourceInfo> resources_;
  std::vector<GroupVersions> groups_;
};

}  // namespace minik::api
