// The scheduler's decision logic, as kube-scheduler's default profile (v1.32) decides, with no I/O.
//
// Pods and nodes arrive as JSON (as the API stores them) and are parsed once into PodInfo and
// NodeInfo. A Cache holds one NodeInfo per node with everything the filters and scores need
// precomputed (allocatable, requested, ports in use, pod counts, labels, taints) and updated
// incrementally as pods are bound (AddPod / AssumePod) or removed (RemovePod).
//
//   Schedule(pod)     PreFilter + Filter + Score over a sample of the nodes (upstream's
//                     percentageOfNodesToScore, adaptive), returning the chosen node or, when no
//                     node fits, per-node statuses and the FailedScheduling message (FitError).
//   Preempt(pod, r)   PostFilter DefaultPreemption: victims and nominated node, or the
//                     "preemption: ..." part of the message.
//   FailureMessage    the full FailedScheduling message, as upstream's FitError.Error().
//
// Filters (default profile order): NodeUnschedulable, NodeName, TaintToleration (node readiness
// through the not-ready/unreachable taints), NodeAffinity, NodePorts, NodeResourcesFit,
// PodTopologySpread, InterPodAffinity. Scores with their default weights: TaintToleration 3,
// NodeAffinity 2, NodeResourcesFit (LeastAllocated) 1, PodTopologySpread 2, InterPodAffinity 2,
// NodeResourcesBalancedAllocation 1. ImageLocality and the volume plugins are not implemented.
//
// Simplified against upstream (deliberately):
//   - Preemption dry-runs every node whose filter status is Unschedulable (upstream samples
//     max(100, 10%) of them from a random offset); nominated pods of other preemptors are not
//     added to nodes while filtering; PDBs count only status.disruptionsAllowed and
//     status.disruptedPods; a victim is "terminating" when it has a deletionTimestamp.
//   - The system default spread constraints take their selector from Options (or, by default, the
//     labels of a pod controlled by a ReplicaSet/ReplicationController/StatefulSet).
//   - namespaceSelector in pod affinity terms needs Options::namespace_labels; {} means all.
//   - Volume filters (VolumeBinding, VolumeZone, NodeVolumeLimits, VolumeRestrictions, PV node
//     affinity), ImageLocality, scheduling gates, extenders and the queue are not here
//     (Options::volume_filter lets the caller add VolumeBinding; scheduler_loop.h does).
//
// Thread-safety: a Cache and its NodeInfos are used by one thread (the scheduler's); PodInfo is
// immutable once parsed and may be shared between threads (std::shared_ptr<const PodInfo>).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "api/labels.h"
#include "common/json.h"
#include "common/status.h"

namespace minik::scheduler {

using Labels = std::map<std::string, std::string>;

// Requests or allocatable of one pod or node. cpu in millicores, the others in units.
struct Resources {
  int64_t milli_cpu = 0;
  int64_t memory = 0;
  int64_t ephemeral_storage = 0;
  // Extended and other scalar resources (nvidia.com/gpu, hugepages-2Mi, ...), in units.
  std::vector<std::pair<std::string, int64_t>> scalar;

  int64_t Scalar(std::string_view name) const;
  void AddScalar(std::string_view name, int64_t v);
  void Add(const Resources& o, int sign = 1);
  void Max(const Resources& o);
};

enum class TaintEffect { kNoSchedule, kPreferNoSchedule, kNoExecute, kOther };

struct Taint {
  std::string key;
  std::string value;
  TaintEffect effect = TaintEffect::kNoSchedule;
};

struct Toleration {
  std::string key;
  bool exists = false;  // operator Exists (else Equal)
  std::string value;
  std::optional<TaintEffect> effect;  // nullopt: all effects
  bool Tolerates(const Taint& t) const;
};

enum class SelectorOp { kIn, kNotIn, kExists, kDoesNotExist, kGt, kLt };

struct NodeSelectorRequirement {
  std::string key;
  SelectorOp op = SelectorOp::kIn;
  std::vector<std::string> values;
};

struct NodeSelectorTerm {
  std::vector<NodeSelectorRequirement> match_expressions;
  std::vector<NodeSelectorRequirement> match_fields;  // key metadata.name only
};

struct PreferredSchedulingTerm {
  int32_t weight = 0;
  NodeSelectorTerm preference;
};

struct AffinityTerm {
  api::LabelSelector selector;
  std::vector<std::string> namespaces;  // resolved: the owner's namespace when none given
  bool all_namespaces = false;          // namespaceSelector {}
  std::optional<api::LabelSelector> namespace_selector;  // non-empty namespaceSelector
  std::string topology_key;
  int32_t weight = 0;  // preferred terms only
};

struct SpreadConstraint {
  int32_t max_skew = 1;
  std::string topology_key;
  bool do_not_schedule = true;
  api::LabelSelector selector;  // matchLabelKeys already merged in
  std::optional<int32_t> min_domains;
  bool honor_node_affinity = true;  // nodeAffinityPolicy (default Honor)
  bool honor_node_taints = false;   // nodeTaintsPolicy (default Ignore)
};

struct HostPort {
  std::string ip;  // "" means 0.0.0.0
  std::string protocol;
  int32_t port = 0;
  bool operator==(const HostPort&) const = default;
};

// What a pod's spec says about where it may go (and, for the host ports and affinity terms, what
// it asks of the pods that come after it on its node). Parsed once per distinct spec and shared
// through a PodInterner: every replica of a workload, and every bare pod that carries only the
// two default NoExecute tolerations, holds one instance. Immutable.
struct PodTerms {
  Labels node_selector;
  std::optional<std::vector<NodeSelectorTerm>> required_node_affinity;
  std::vector<PreferredSchedulingTerm> preferred_node_affinity;
  std::vector<Toleration> tolerations;
  std::vector<AffinityTerm> required_affinity;
  std::vector<AffinityTerm> required_anti_affinity;
  std::vector<AffinityTerm> preferred_affinity;
  std::vector<AffinityTerm> preferred_anti_affinity;
  std::vector<SpreadConstraint> spread_constraints;
  std::vector<HostPort> host_ports;
  // Owner (controller) kind, for the system default spread constraints.
  std::string controller_kind;
};

// status.startTime of a pod without one: after every start time (upstream's GetPodStartTime
// stands in "now" for it).
constexpr int64_t kNoStartTime = INT64_MAX;

// A pod, parsed once. Immutable after ParsePod. What the pods of a workload have in common (its
// PodTerms and its labels) is shared, read through the accessors below; the rest is its own.
struct PodInfo {
  std::string namespace_;
  std::string name;
  std::string uid;
  std::string node_name;            // spec.nodeName
  std::string nominated_node_name;  // status.nominatedNodeName
  int64_t start_time = kNoStartTime;  // status.startTime, microseconds since the epoch
  Resources requests;           // NodeResourcesFit: max(init) vs sum(containers) + overhead
  int64_t nonzero_milli_cpu = 0;  // scoring: missing cpu requests count as 100m
  int64_t nonzero_memory = 0;     // scoring: missing memory requests count as 200Mi
  int32_t priority = 0;
  bool preempt_never = false;
  bool terminating = false;  // metadata.deletionTimestamp set
  bool finished = false;     // status.phase Succeeded or Failed
  std::shared_ptr<const Labels> labels_ptr;   // null when the pod has no labels
  std::shared_ptr<const PodTerms> terms_ptr;  // null when the pod has none of them

  const Labels& labels() const;
  const PodTerms& terms() const;
  const Labels& node_selector() const { return terms().node_selector; }
  const std::optional<std::vector<NodeSelectorTerm>>& required_node_affinity() const {
    return terms().required_node_affinity;
  }
  const std::vector<PreferredSchedulingTerm>& preferred_node_affinity() const {
    return terms().preferred_node_affinity;
  }
  const std::vector<Toleration>& tolerations() const { return terms().tolerations; }
  const std::vector<AffinityTerm>& required_affinity() const { return terms().required_affinity; }
  const std::vector<AffinityTerm>& required_anti_affinity() const { return terms().required_anti_affinity; }
  const std::vector<AffinityTerm>& preferred_affinity() const { return terms().preferred_affinity; }
  const std::vector<AffinityTerm>& preferred_anti_affinity() const { return terms().preferred_anti_affinity; }
  const std::vector<SpreadConstraint>& spread_constraints() const { return terms().spread_constraints; }
  const std::vector<HostPort>& host_ports() const { return terms().host_ports; }
  const std::string& controller_kind() const { return terms().controller_kind; }

  bool HasAffinity() const {
    const PodTerms& t = terms();
    return !t.required_affinity.empty() || !t.required_anti_affinity.empty() || !t.preferred_affinity.empty() ||
           !t.preferred_anti_affinity.empty();
  }
};
using PodInfoPtr = std::shared_ptr<const PodInfo>;

// Remembers immutable instances by a key (weakly), so that equal values parsed from different
// pods are one instance. Expired entries are dropped as the table grows: it stays about twice the
// number of distinct live instances. One thread (the owner's).
template <class T>
class InternTable {
 public:
  // The live instance remembered under key, or null.
  std::shared_ptr<const T> Find(const std::string& key) const {
    auto it = table_.find(key);
    return it == table_.end() ? nullptr : it->second.lock();
  }
  // Remembers v under key (replacing an expired instance).
  void Insert(std::string key, const std::shared_ptr<const T>& v) {
    if (table_.size() >= prune_at_) {
      std::erase_if(table_, [](const auto& e) { return e.second.expired(); });
      prune_at_ = std::max<size_t>(64, 2 * table_.size());
    }
    table_.insert_or_assign(std::move(key), v);
  }
  size_t size() const { return table_.size(); }

 private:
  std::unordered_map<std::string, std::weak_ptr<const T>> table_;
  size_t prune_at_ = 64;
};

// What pods share, interned: PodTerms by the pod fields they are parsed from (the JSON of
// nodeSelector, affinity, tolerations and topologySpreadConstraints, the host ports, the
// controller kind, and the namespace and labels when affinity or spread terms read them), and
// label sets by their JSON. One thread (the owner's).
struct PodInterner {
  InternTable<PodTerms> terms;
  InternTable<Labels> labels;
};

// Parses a v1 Pod. Invalid quantities and selectors are Invalid errors. With an interner, the
// pod's PodTerms and labels are shared with those of earlier pods with the same ones.
StatusOr<PodInfoPtr> ParsePod(const JsonValue& pod, PodInterner* interner = nullptr);

// One node with the pods bound to it and their precomputed aggregates.
struct NodeInfo {
  std::string name;
  Labels labels;
  std::vector<Taint> taints;  // spec.taints plus the not-ready/unreachable taint when not Ready
  bool unschedulable = false;
  Resources allocatable;
  int64_t allowed_pods = 0;

  std::vector<PodInfoPtr> pods;
  Resources requested;
  int64_t nonzero_milli_cpu = 0;
  int64_t nonzero_memory = 0;
  std::vector<std::pair<HostPort, int>> used_ports;
  int pods_with_affinity = 0;
  int pods_with_required_anti_affinity = 0;
  // Position in the owning Cache (for its per-selector pod counts); -1 outside a Cache.
  int32_t cache_index = -1;
  // The hostname and zone labels, looked up once (topology keys of nearly every constraint).
  std::optional<std::string> hostname_label;
  std::optional<std::string> zone_label;

  // Sets hostname_label and zone_label from labels; call after changing labels.
  void IndexLabels();

  void AddPod(PodInfoPtr pod);
  bool RemovePod(std::string_view uid);
};

// Parses a v1 Node into a NodeInfo without pods.
StatusOr<NodeInfo> ParseNode(const JsonValue& node);

enum class Code { kSuccess, kUnschedulable, kUnschedulableAndUnresolvable };

// The outcome of the filters on one node (the first failing plugin's reasons).
struct NodeStatus {
  Code code = Code::kSuccess;
  std::string plugin;
  std::vector<std::string> reasons;
};

struct ScheduleResult {
  // The chosen node; empty when the pod fits nowhere.
  std::string node;
  int num_all_nodes = 0;
  int evaluated_nodes = 0;
  int feasible_nodes = 0;
  // When unschedulable: the status of every node that failed (by name). Nodes not listed were
  // excluded up front with `absent_status` (a PreFilter restriction), if any.
  std::unordered_map<std::string, NodeStatus> statuses;
  std::optional<NodeStatus> absent_status;
  // Set when a PreFilter plugin rejected the pod outright.
  std::string prefilter_message;

  bool ok() const { return !node.empty(); }
};

// A PodDisruptionBudget as preemption needs it.
struct PdbInfo {
  std::string namespace_;
  api::LabelSelector selector;
  int32_t disruptions_allowed = 0;
  std::vector<std::string> disrupted_pods;  // status.disruptedPods names
};
StatusOr<PdbInfo> ParsePdb(const JsonValue& pdb);

struct PreemptionResult {
  std::string nominated_node;  // empty when preemption cannot help
  std::vector<PodInfoPtr> victims;
  int pdb_violations = 0;
  // The PostFilter message ("preemption: 0/3 nodes are available: ...") when it cannot help.
  std::string message;
  bool ok() const { return !nominated_node.empty(); }
};

// upstream's FitError.Error(): "0/3 nodes are available: 1 Insufficient cpu, 2 .... preemption: ..."
std::string FitErrorMessage(const ScheduleResult& r, std::string_view post_filter_message = {});

struct Options {
  // percentageOfNodesToScore: 0 means adaptive (50 - nodes/125, min 5), as upstream's default.
  int percentage_of_nodes_to_score = 0;
  // Seed for the tie-breaking among top-scored nodes (upstream picks uniformly at random).
  uint64_t seed = 1;
  // Selector of the system default spread constraints (hostname maxSkew 3, zone maxSkew 5,
  // ScheduleAnyway) for a pod without constraints; upstream derives it from the Services, RCs,
  // RSs and StatefulSets selecting the pod. When unset, the labels of a pod with a controller
  // owner (minus per-pod labels) stand in for it.
  std::function<std::optional<api::LabelSelector>(const PodInfo&)> default_spread_selector;
  // Labels of namespaces, for namespaceSelector in pod affinity terms.
  std::function<const Labels*(std::string_view ns)> namespace_labels;
  // The volume filters this library does not implement (VolumeBinding: claims and PV node
  // affinity), supplied by the caller that knows the claims; run after NodeResourcesFit, as in
  // the default profile. Returns false with st filled (plugin, code, reasons) to reject a node.
  std::function<bool(const PodInfo& pod, const NodeInfo& node, NodeStatus* st)> volume_filter;
};

// The scheduler's view of the cluster, updated incrementally. One thread.
class Cache {
 public:
  explicit Cache(Options options = {});

  // Adds or replaces a node, keeping the pods bound to it.
  Status UpsertNode(const JsonValue& node);
  void UpsertNode(NodeInfo node);
  void RemoveNode(std::string_view name);
  // Accounts a bound pod (spec.nodeName set) on its node. A pod on an unknown node is kept
  // and accounted when the node appears. Finished pods are ignored, as upstream's informer does.
  // The JSON form parses the pod with the Cache's own PodInterner.
  Status AddPod(const JsonValue& pod);
  void AddPod(PodInfoPtr pod);
  // Accounts `pod` on `node` as if bound (the scheduler's assume step).
  void AssumePod(const PodInfoPtr& pod, std::string_view node);
  void RemovePod(std::string_view uid);

  const NodeInfo* GetNode(std::string_view name) const;
  size_t num_nodes() const { return nodes_.size(); }

  ScheduleResult Schedule(const PodInfo& pod);
  PreemptionResult Preempt(const PodInfo& pod, const ScheduleResult& failed, const std::vector<PdbInfo>& pdbs);

  // Upstream's numFeasibleNodesToFind.
  int NumFeasibleNodesToFind(int num_all_nodes) const;

  // The number of non-terminating pods in namespace ns matching sel on each node (indexed by
  // NodeInfo::cache_index), kept per selector incrementally: topology spread asks the same
  // selector for every pod of a workload. Valid until the next mutation or Schedule call.
  const std::vector<int>& PodCountsBySelector(const api::LabelSelector& sel, const std::string& ns);

 private:
  struct SelectorCounts {
    std::string ns;
    api::LabelSelector selector;
    std::vector<int> per_node;  // by NodeInfo::cache_index
    uint64_t last_used = 0;
  };
  void CountPod(const PodInfo& pod, int32_t node_index, int delta);
  void AddPodToNode(NodeInfo& node, PodInfoPtr pod);
  bool RemovePodFromNode(NodeInfo& node, std::string_view uid);

  Options options_;
  std::vector<std::unique_ptr<NodeInfo>> nodes_;  // stable order (insertion)
  std::unordered_map<std::string, size_t> node_index_;
  // uid -> (node, pod); the key views the uid of the pod its entry holds.
  std::unordered_map<std::string_view, std::pair<std::string, PodInfoPtr>> pods_;
  size_t next_start_ = 0;
  uint64_t rng_;
  std::unordered_map<std::string, SelectorCounts> counts_;  // key: ns + '\0' + selector string
  uint64_t use_clock_ = 0;
  PodInterner interner_;
};

// Convenience over a fresh Cache: nodes is a JSON array of Nodes, pods a JSON array of Pods
// (the bound ones are accounted, others ignored).
StatusOr<ScheduleResult> ScheduleOnce(const JsonValue& pod, const JsonValue& nodes, const JsonValue& pods,
                                      Options options = {});

}  // namespace minik::scheduler
