// The resource registry: every API resource minik serves, as upstream declares it
// (group, version, kind, plural, singular, scope, verbs, short names, categories,
// subresources). Pure data and lookups; no I/O. Immutable after construction, so any thread
// may read it.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "api/validation.h"

namespace minik::api {

struct SubresourceInfo {
  std::string name;                // "status", "scale", "binding", "eviction", "log", ...
  std::string group;               // of the subresource's kind (scale: "autoscaling")
  std::string version;             // (scale: "v1")
  std::string kind;                // "Pod", "Scale", "Binding", "Eviction", ...
  std::vector<std::string> verbs;  // e.g. {"get","patch","update"}
};

// How metadata.name is validated for a kind: api::NameRule from api/validation.h.

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
  // How metadata.name must look (addition).
  NameRule name_rule = NameRule::kDNSSubdomain;
  // Longest name upstream accepts beyond the rule's own limit (CronJob: 52), 0 for none (addition).
  int max_name_length = 0;

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

  // By the group and plural, singular or short name a user types ("po", "deploy", "pod",
  // "deployments"); group "" matches the first resource of any group, as kubectl resolves them
  // (core first). Addition.
  const ResourceInfo* Resolve(std::string_view group, std::string_view name) const;

  explicit Registry(std::vector<ResourceInfo> resources);

 private:
  std::vector<ResourceInfo> resources_;
  std::vector<GroupVersions> groups_;
  // "group/version/plural" and "apiVersion/kind" -> index into resources_.
  std::unordered_map<std::string, size_t> by_path_;
  std::unordered_map<std::string, size_t> by_kind_;
};

}  // namespace minik::api
