// Filters, scores, selection and preemption of the default profile (kube-scheduler v1.32).
#include "server/scheduler/scheduler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_set>

namespace minik::scheduler {
namespace {

constexpr int64_t kMaxNodeScore = 100;
constexpr const char* kHostnameLabel = "kubernetes.io/hostname";
constexpr const char* kZoneLabel = "topology.kubernetes.io/zone";

// Failure reasons, exactly as upstream's plugins word them.
constexpr const char* kReasonUnschedulable = "node(s) were unschedulable";
constexpr const char* kReasonNodeName = "node(s) didn't match the requested node name";
constexpr const char* kReasonNodeAffinity = "node(s) didn't match Pod's node affinity/selector";
constexpr const char* kReasonNodePorts = "node(s) didn't have free ports for the requested pod ports";
constexpr const char* kReasonSpread = "node(s) didn't match pod topology spread constraints";
constexpr const char* kReasonSpreadLabel = "node(s) didn't match pod topology spread constraints (missing required label)";
constexpr const char* kReasonAffinity = "node(s) didn't match pod affinity rules";
constexpr const char* kReasonAntiAffinity = "node(s) didn't match pod anti-affinity rules";
constexpr const char* kReasonExistingAntiAffinity = "node(s) didn't satisfy existing pods anti-affinity rules";
constexpr const char* kReasonNoVictims = "No preemption victims found for incoming pod";
constexpr const char* kReasonNotHelpful = "Preemption is not helpful for scheduling";

std::string PairKey(std::string_view key, std::string_view value) {
  std::string k;
  k.reserve(key.size() + value.size() + 1);
  k.append(key);
  k.push_back('\0');
  k.append(value);
  return k;
}

const std::string* Label(const Labels& labels, const std::string& key) {
  auto it = labels.find(key);
  return it == labels.end() ? nullptr : &it->second;
}

// A topology key, classified once so the common keys need no map lookup per node.
struct TopoKey {
  enum Kind { kHost, kZone, kOther } kind;
  const std::string* key;
  explicit TopoKey(const std::string& k)
      : kind(k == kHostnameLabel ? kHost : k == kZoneLabel ? kZone : kOther), key(&k) {}
  const std::string* Of(const NodeInfo& n) const {
    switch (kind) {
      case kHost: return n.hostname_label ? &*n.hostname_label : nullptr;
      case kZone: return n.zone_label ? &*n.zone_label : nullptr;
      default: return Label(n.labels, *key);
    }
  }
};

std::optional<int64_t> ParseInt(std::string_view s) {
  if (s.empty()) return std::nullopt;
  int64_t v = 0;
  size_t i = 0;
  bool neg = false;
  if (s[0] == '-' || s[0] == '+') {
    neg = s[0] == '-';
    i = 1;
  }
  if (i >= s.size()) return std::nullopt;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
    if (v > (std::numeric_limits<int64_t>::max() - 9) / 10) return std::nullopt;
    v = v * 10 + (s[i] - '0');
  }
  return neg ? -v : v;
}

bool RequirementMatches(const NodeSelectorRequirement& r, const std::string* value) {
  switch (r.op) {
    case SelectorOp::kIn:
      return value && std::find(r.values.begin(), r.values.end(), *value) != r.values.end();
    case SelectorOp::kNotIn:
      return !value || std::find(r.values.begin(), r.values.end(), *value) == r.values.end();
    case SelectorOp::kExists:
      return value != nullptr;
    case SelectorOp::kDoesNotExist:
      return value == nullptr;
    case SelectorOp::kGt:
    case SelectorOp::kLt: {
      if (!value || r.values.size() != 1) return false;
      auto have = ParseInt(*value);
      auto want = ParseInt(r.values[0]);
      if (!have || !want) return false;
      return r.op == SelectorOp::kGt ? *have > *want : *have < *want;
    }
  }
  return false;
}

bool TermMatches(const NodeSelectorTerm& t, const NodeInfo& node) {
  if (t.match_expressions.empty() && t.match_fields.empty()) return false;  // an empty term matches nothing
  for (const auto& r : t.match_expressions) {
    if (!RequirementMatches(r, Label(node.labels, r.key))) return false;
  }
  for (const auto& r : t.match_fields) {
    if (r.key != "metadata.name") return false;
    if (r.op != SelectorOp::kIn && r.op != SelectorOp::kNotIn) return false;
    if (!RequirementMatches(r, &node.name)) return false;
  }
  return true;
}

// NodeAffinity's required part: nodeSelector and required node affinity terms.
bool MatchesNodeSelectorAndAffinity(const PodInfo& pod, const NodeInfo& node) {
  for (const auto& [k, v] : pod.node_selector()) {
    const std::string* have = Label(node.labels, k);
    if (!have || *have != v) return false;
  }
  if (pod.required_node_affinity()) {
    bool any = false;
    for (const auto& t : *pod.required_node_affinity()) {
      if (TermMatches(t, node)) {
        any = true;
        break;
      }
    }
    if (!any) return false;
  }
  return true;
}

bool Tolerated(const std::vector<Toleration>& tols, const Taint& t) {
  for (const auto& tol : tols) {
    if (tol.Tolerates(t)) return true;
  }
  return false;
}

const Taint* FirstUntoleratedTaint(const PodInfo& pod, const NodeInfo& node) {
  for (const auto& t : node.taints) {
    if (t.effect != TaintEffect::kNoSchedule && t.effect != TaintEffect::kNoExecute) continue;
    if (!Tolerated(pod.tolerations(), t)) return &t;
  }
  return nullptr;
}

bool PortsConflict(const HostPort& a, const HostPort& b) {
  if (a.port != b.port || a.protocol != b.protocol) return false;
  return a.ip.empty() || b.ip.empty() || a.ip == b.ip;
}

// NodeResourcesFit's fitsRequest: reasons in upstream's order (pods, cpu, memory, ephemeral, scalar).
void FitsRequest(const PodInfo& pod, const NodeInfo& node, std::vector<std::string>* reasons) {
  if (static_cast<int64_t>(node.pods.size()) + 1 > node.allowed_pods) reasons->push_back("Too many pods");
  const Resources& r = pod.requests;
  if (r.milli_cpu == 0 && r.memory == 0 && r.ephemeral_storage == 0 && r.scalar.empty()) return;
  if (r.milli_cpu > 0 && r.milli_cpu > node.allocatable.milli_cpu - node.requested.milli_cpu)
    reasons->push_back("Insufficient cpu");
  if (r.memory > 0 && r.memory > node.allocatable.memory - node.requested.memory)
    reasons->push_back("Insufficient memory");
  if (r.ephemeral_storage > 0 &&
      r.ephemeral_storage > node.allocatable.ephemeral_storage - node.requested.ephemeral_storage)
    reasons->push_back("Insufficient ephemeral-storage");
  for (const auto& [name, q] : r.scalar) {
    if (q > 0 && q > node.allocatable.Scalar(name) - node.requested.Scalar(name))
      reasons->push_back("Insufficient " + name);
  }
}

bool NamespaceMatches(const AffinityTerm& t, const std::string& ns, const Options& opts) {
  if (t.all_namespaces) return true;
  if (std::find(t.namespaces.begin(), t.namespaces.end(), ns) != t.namespaces.end()) return true;
  if (t.namespace_selector && opts.namespace_labels) {
    const Labels* l = opts.namespace_labels(ns);
    return l && t.namespace_selector->Matches(*l);
  }
  return false;
}

bool TermMatchesPod(const AffinityTerm& t, const PodInfo& p, const Options& opts) {
  return NamespaceMatches(t, p.namespace_, opts) && t.selector.Matches(p.labels());
}

bool MatchesAllTerms(const std::vector<AffinityTerm>& terms, const PodInfo& p, const Options& opts) {
  if (terms.empty()) return false;
  for (const auto& t : terms) {
    if (!TermMatchesPod(t, p, opts)) return false;
  }
  return true;
}

int CountMatching(const std::vector<PodInfoPtr>& pods, const api::LabelSelector& sel, const std::string& ns) {
  int n = 0;
  for (const auto& p : pods) {
    if (p->terminating || p->namespace_ != ns) continue;
    if (sel.Matches(p->labels())) ++n;
  }
  return n;
}

// Matching-pod counts of one selector, from the Cache's incremental counts when available.
class Counter {
 public:
  Counter(Cache* cache, const api::LabelSelector& sel, const std::string& ns) : sel_(sel), ns_(ns) {
    if (cache) counts_ = &cache->PodCountsBySelector(sel, ns);
  }
  int operator()(const NodeInfo& n) const {
    if (counts_ && n.cache_index >= 0) return (*counts_)[n.cache_index];
    return CountMatching(n.pods, sel_, ns_);
  }

 private:
  const api::LabelSelector& sel_;
  const std::string& ns_;
  const std::vector<int>* counts_ = nullptr;
};

// MoreImportantPod: higher priority, then earlier start.
bool MoreImportant(const PodInfo& a, const PodInfo& b) {
  if (a.priority != b.priority) return a.priority > b.priority;
  return a.start_time < b.start_time;  // a pod without one (kNoStartTime) comes last
}

}  // namespace

// Everything PreFilter computes once per scheduling cycle.
struct CycleState {
  const PodInfo* pod = nullptr;
  const Options* opts = nullptr;
  // NodeAffinity PreFilter: restriction to node names from matchFields metadata.name In.
  std::optional<std::unordered_set<std::string>> node_names;
  // PodTopologySpread (DoNotSchedule).
  std::vector<const SpreadConstraint*> hard;
  std::vector<std::unordered_map<std::string, int>> hard_counts;  // per constraint: value -> count
  std::vector<int> hard_min;
  // InterPodAffinity.
  std::unordered_map<std::string, int> existing_anti;  // pair -> count
  std::unordered_map<std::string, int> affinity_counts;
  std::unordered_map<std::string, int> anti_counts;
  bool has_interpod = false;
};

namespace {

using NodeList = std::vector<const NodeInfo*>;

// Whether a node counts for topology spread given the constraint's inclusion policies.
bool SpreadIncludes(const SpreadConstraint& c, const PodInfo& pod, const NodeInfo& node) {
  if (c.honor_node_affinity && !MatchesNodeSelectorAndAffinity(pod, node)) return false;
  if (c.honor_node_taints && FirstUntoleratedTaint(pod, node)) return false;
  return true;
}

void PreFilter(const PodInfo& pod, const NodeList& nodes, const Options& opts, Cache* cache, CycleState* s) {
  s->pod = &pod;
  s->opts = &opts;
  // NodeAffinity: node names from matchFields.
  if (pod.required_node_affinity() && !pod.required_node_affinity()->empty()) {
    std::unordered_set<std::string> names;
    bool restrict = true;
    for (const auto& t : *pod.required_node_affinity()) {
      std::optional<std::unordered_set<std::string>> term_names;
      for (const auto& r : t.match_fields) {
        if (r.key != "metadata.name" || r.op != SelectorOp::kIn) continue;
        std::unordered_set<std::string> v(r.values.begin(), r.values.end());
        if (!term_names) {
          term_names = std::move(v);
        } else {
          std::unordered_set<std::string> inter;
          for (const auto& n : *term_names) {
            if (v.count(n)) inter.insert(n);
          }
          term_names = std::move(inter);
        }
      }
      if (!term_names) {
        restrict = false;
        break;
      }
      names.insert(term_names->begin(), term_names->end());
    }
    if (restrict) s->node_names = std::move(names);
  }
  // PodTopologySpread: counts of matching pods per domain over the eligible nodes.
  for (const auto& c : pod.spread_constraints()) {
    if (c.do_not_schedule) s->hard.push_back(&c);
  }
  if (!s->hard.empty()) {
    s->hard_counts.resize(s->hard.size());
    std::vector<Counter> counters;
    std::vector<TopoKey> keys;
    for (const auto* c : s->hard) {
      counters.emplace_back(cache, c->selector, pod.namespace_);
      keys.emplace_back(c->topology_key);
    }
    std::vector<const std::string*> vals(s->hard.size());
    for (const NodeInfo* n : nodes) {
      bool has_all = true;
      for (size_t i = 0; i < s->hard.size() && has_all; ++i) has_all = (vals[i] = keys[i].Of(*n)) != nullptr;
      if (!has_all) continue;
      for (size_t i = 0; i < s->hard.size(); ++i) {
        if (!SpreadIncludes(*s->hard[i], pod, *n)) continue;
        s->hard_counts[i][*vals[i]] += counters[i](*n);
      }
    }
    s->hard_min.resize(s->hard.size());
    for (size_t i = 0; i < s->hard.size(); ++i) {
      int mn = std::numeric_limits<int>::max();
      for (const auto& [v, cnt] : s->hard_counts[i]) mn = std::min(mn, cnt);
      if (s->hard_counts[i].empty()) mn = 0;
      const auto& c = *s->hard[i];
      if (c.min_domains && static_cast<int>(s->hard_counts[i].size()) < *c.min_domains) mn = 0;
      s->hard_min[i] = mn;
    }
  }
  // InterPodAffinity.
  bool incoming = !pod.required_affinity().empty() || !pod.required_anti_affinity().empty();
  for (const NodeInfo* n : nodes) {
    if (n->pods_with_required_anti_affinity > 0) {
      for (const auto& ep : n->pods) {
        for (const auto& t : ep->required_anti_affinity()) {
          if (!TermMatchesPod(t, pod, opts)) continue;
          if (const std::string* v = Label(n->labels, t.topology_key)) ++s->existing_anti[PairKey(t.topology_key, *v)];
        }
      }
    }
    if (!incoming) continue;
    for (const auto& ep : n->pods) {
      if (!pod.required_affinity().empty() && MatchesAllTerms(pod.required_affinity(), *ep, opts)) {
        for (const auto& t : pod.required_affinity()) {
          if (const std::string* v = Label(n->labels, t.topology_key)) ++s->affinity_counts[PairKey(t.topology_key, *v)];
        }
      }
      for (const auto& t : pod.required_anti_affinity()) {
        if (!TermMatchesPod(t, *ep, opts)) continue;
        if (const std::string* v = Label(n->labels, t.topology_key)) ++s->anti_counts[PairKey(t.topology_key, *v)];
      }
    }
  }
  s->has_interpod = incoming || !s->existing_anti.empty();
}

bool Fail(NodeStatus* st, Code code, const char* plugin, std::string reason) {
  st->code = code;
  st->plugin = plugin;
  st->reasons.push_back(std::move(reason));
  return false;
}

// Runs the filters in the default profile's order; on failure fills st with the first failing
// plugin's status.
bool RunFilters(const CycleState& s, const NodeInfo& node, NodeStatus* st) {
  const PodInfo& pod = *s.pod;
  // NodeUnschedulable.
  if (node.unschedulable) {
    static const Taint kUnsched{"node.kubernetes.io/unschedulable", "", TaintEffect::kNoSchedule};
    if (!Tolerated(pod.tolerations(), kUnsched))
      return Fail(st, Code::kUnschedulableAndUnresolvable, "NodeUnschedulable", kReasonUnschedulable);
  }
  // NodeName.
  if (!pod.node_name.empty() && pod.node_name != node.name)
    return Fail(st, Code::kUnschedulableAndUnresolvable, "NodeName", kReasonNodeName);
  // TaintToleration.
  if (const Taint* t = FirstUntoleratedTaint(pod, node)) {
    return Fail(st, Code::kUnschedulableAndUnresolvable, "TaintToleration",
                "node(s) had untolerated taint {" + t->key + ": " + t->value + "}");
  }
  // NodeAffinity.
  if (!MatchesNodeSelectorAndAffinity(pod, node))
    return Fail(st, Code::kUnschedulableAndUnresolvable, "NodeAffinity", kReasonNodeAffinity);
  // NodePorts.
  for (const auto& want : pod.host_ports()) {
    for (const auto& [used, count] : node.used_ports) {
      if (PortsConflict(want, used)) return Fail(st, Code::kUnschedulable, "NodePorts", kReasonNodePorts);
    }
  }
  // NodeResourcesFit.
  {
    std::vector<std::string> reasons;
    FitsRequest(pod, node, &reasons);
    if (!reasons.empty()) {
      st->code = Code::kUnschedulable;
      st->plugin = "NodeResourcesFit";
      st->reasons = std::move(reasons);
      return false;
    }
  }
  // VolumeBinding (supplied by the caller).
  if (s.opts && s.opts->volume_filter && !s.opts->volume_filter(pod, node, st)) return false;
  // PodTopologySpread.
  for (size_t i = 0; i < s.hard.size(); ++i) {
    const SpreadConstraint& c = *s.hard[i];
    const std::string* v = Label(node.labels, c.topology_key);
    if (!v) return Fail(st, Code::kUnschedulableAndUnresolvable, "PodTopologySpread", kReasonSpreadLabel);
  }
  for (size_t i = 0; i < s.hard.size(); ++i) {
    const SpreadConstraint& c = *s.hard[i];
    const std::string* v = Label(node.labels, c.topology_key);
    int self = c.selector.Matches(pod.labels()) ? 1 : 0;
    auto it = s.hard_counts[i].find(*v);
    int match = it == s.hard_counts[i].end() ? 0 : it->second;
    if (match + self - s.hard_min[i] > c.max_skew)
      return Fail(st, Code::kUnschedulable, "PodTopologySpread", kReasonSpread);
  }
  // InterPodAffinity.
  if (s.has_interpod) {
    if (!pod.required_affinity().empty()) {
      bool pods_exist = true;
      for (const auto& t : pod.required_affinity()) {
        const std::string* v = Label(node.labels, t.topology_key);
        if (!v) return Fail(st, Code::kUnschedulableAndUnresolvable, "InterPodAffinity", kReasonAffinity);
        auto it = s.affinity_counts.find(PairKey(t.topology_key, *v));
        if (it == s.affinity_counts.end() || it->second <= 0) pods_exist = false;
      }
      // The first pod of a group with affinity to itself may go anywhere with the topologies.
      if (!pods_exist &&
          !(s.affinity_counts.empty() && MatchesAllTerms(pod.required_affinity(), pod, *s.opts)))
        return Fail(st, Code::kUnschedulableAndUnresolvable, "InterPodAffinity", kReasonAffinity);
    }
    if (!s.anti_counts.empty()) {
      for (const auto& t : pod.required_anti_affinity()) {
        const std::string* v = Label(node.labels, t.topology_key);
        if (!v) continue;
        auto it = s.anti_counts.find(PairKey(t.topology_key, *v));
        if (it != s.anti_counts.end() && it->second > 0)
          return Fail(st, Code::kUnschedulable, "InterPodAffinity", kReasonAntiAffinity);
      }
    }
    if (!s.existing_anti.empty()) {
      for (const auto& [k, v] : node.labels) {
        auto it = s.existing_anti.find(PairKey(k, v));
        if (it != s.existing_anti.end() && it->second > 0)
          return Fail(st, Code::kUnschedulable, "InterPodAffinity", kReasonExistingAntiAffinity);
      }
    }
  }
  return true;
}

// DefaultNormalizeScore.
void NormalizeDefault(std::vector<int64_t>& scores, bool reverse) {
  int64_t mx = 0;
  for (int64_t v : scores) mx = std::max(mx, v);
  if (mx == 0) {
    if (reverse) std::fill(scores.begin(), scores.end(), kMaxNodeScore);
    return;
  }
  for (auto& v : scores) {
    v = kMaxNodeScore * v / mx;
    if (reverse) v = kMaxNodeScore - v;
  }
}

int64_t LeastRequested(int64_t requested, int64_t capacity) {
  if (capacity == 0 || requested > capacity) return 0;
  return (capacity - requested) * kMaxNodeScore / capacity;
}

// Default spread constraints for a pod without its own (system defaulting).
std::optional<api::LabelSelector> DefaultSpreadSelector(const PodInfo& pod, const Options& opts) {
  if (opts.default_spread_selector) return opts.default_spread_selector(pod);
  if (pod.controller_kind() != "ReplicaSet" && pod.controller_kind() != "ReplicationController" &&
      pod.controller_kind() != "StatefulSet")
    return std::nullopt;
  std::map<std::string, std::string> set;
  for (const auto& [k, v] : pod.labels()) {
    if (k == "statefulset.kubernetes.io/pod-name" || k == "apps.kubernetes.io/pod-index" ||
        k == "controller-revision-hash")
      continue;
    set.emplace(k, v);
  }
  if (set.empty()) return std::nullopt;
  return api::LabelSelector::FromSet(set);
}

// Scores feasible nodes; returns the weighted total per node.
std::vector<int64_t> ScoreNodes(const PodInfo& pod, const NodeList& feasible, const NodeList& all,
                                const Options& opts, Cache* cache) {
  const size_t n = feasible.size();
  std::vector<int64_t> total(n, 0);
  std::vector<int64_t> sc(n, 0);

  // TaintToleration (weight 3): intolerable PreferNoSchedule taints, fewer is better.
  {
    std::vector<const Toleration*> tols;
    for (const auto& t : pod.tolerations()) {
      if (!t.effect || *t.effect == TaintEffect::kPreferNoSchedule) tols.push_back(&t);
    }
    for (size_t i = 0; i < n; ++i) {
      int64_t cnt = 0;
      for (const auto& t : feasible[i]->taints) {
        if (t.effect != TaintEffect::kPreferNoSchedule) continue;
        bool ok = false;
        for (const auto* tol : tols) {
          if (tol->Tolerates(t)) {
            ok = true;
            break;
          }
        }
        if (!ok) ++cnt;
      }
      sc[i] = cnt;
    }
    NormalizeDefault(sc, true);
    for (size_t i = 0; i < n; ++i) total[i] += 3 * sc[i];
  }
  // NodeAffinity (weight 2): sum of matching preferred terms' weights.
  if (!pod.preferred_node_affinity().empty()) {
    for (size_t i = 0; i < n; ++i) {
      int64_t s = 0;
      for (const auto& t : pod.preferred_node_affinity()) {
        if (t.weight != 0 && TermMatches(t.preference, *feasible[i])) s += t.weight;
      }
      sc[i] = s;
    }
    NormalizeDefault(sc, false);
    for (size_t i = 0; i < n; ++i) total[i] += 2 * sc[i];
  }
  // NodeResourcesFit LeastAllocated (weight 1), cpu and memory weighted 1 each, non-zero requests.
  // NodeResourcesBalancedAllocation (weight 1), cpu and memory, actual requests.
  {
    const Resources& r = pod.requests;
    bool best_effort = r.milli_cpu == 0 && r.memory == 0;
    for (size_t i = 0; i < n; ++i) {
      const NodeInfo& node = *feasible[i];
      int64_t s = 0, w = 0;
      if (node.allocatable.milli_cpu != 0) {
        s += LeastRequested(node.nonzero_milli_cpu + pod.nonzero_milli_cpu, node.allocatable.milli_cpu);
        ++w;
      }
      if (node.allocatable.memory != 0) {
        s += LeastRequested(node.nonzero_memory + pod.nonzero_memory, node.allocatable.memory);
        ++w;
      }
      total[i] += w ? s / w : 0;
      if (best_effort) continue;
      double fr[2];
      int nf = 0;
      if (node.allocatable.milli_cpu != 0)
        fr[nf++] = std::min(1.0, double(node.requested.milli_cpu + r.milli_cpu) / double(node.allocatable.milli_cpu));
      if (node.allocatable.memory != 0)
        fr[nf++] = std::min(1.0, double(node.requested.memory + r.memory) / double(node.allocatable.memory));
      double sd = nf == 2 ? std::fabs((fr[0] - fr[1]) / 2) : 0.0;
      total[i] += static_cast<int64_t>((1 - sd) * double(kMaxNodeScore));
    }
  }
  // PodTopologySpread (weight 2): ScheduleAnyway constraints, or the system defaults.
  {
    std::vector<SpreadConstraint> soft;
    bool system_defaulted = false;
    if (pod.spread_constraints().empty()) {
      if (auto sel = DefaultSpreadSelector(pod, opts)) {
        SpreadConstraint h;
        h.max_skew = 3;
        h.topology_key = kHostnameLabel;
        h.do_not_schedule = false;
        h.selector = *sel;
        SpreadConstraint z = h;
        z.max_skew = 5;
        z.topology_key = kZoneLabel;
        soft = {h, z};
        system_defaulted = true;
      }
    } else {
      for (const auto& c : pod.spread_constraints()) {
        if (!c.do_not_schedule) soft.push_back(c);
      }
    }
    if (!soft.empty()) {
      const size_t m = soft.size();
      bool require_all = !system_defaulted;
      std::vector<char> is_host(m);
      std::vector<TopoKey> keys;
      for (size_t k = 0; k < m; ++k) {
        keys.emplace_back(soft[k].topology_key);
        is_host[k] = keys[k].kind == TopoKey::kHost;
      }
      // Topology values of the feasible nodes, one lookup each.
      std::vector<const std::string*> vals(n * m);
      std::vector<char> ignored(n, 0);
      size_t ignored_count = 0;
      std::vector<std::unordered_map<std::string, int64_t>> counts(m);
      std::vector<Counter> counters;
      for (const auto& c : soft) counters.emplace_back(cache, c.selector, pod.namespace_);
      for (size_t i = 0; i < n; ++i) {
        const NodeInfo& node = *feasible[i];
        bool has_all = true;
        for (size_t k = 0; k < m; ++k) {
          vals[i * m + k] = keys[k].Of(node);
          if (!vals[i * m + k]) has_all = false;
        }
        if (require_all && !has_all) {
          ignored[i] = 1;
          ++ignored_count;
          continue;
        }
        for (size_t k = 0; k < m; ++k) {
          if (!is_host[k] && vals[i * m + k]) counts[k].emplace(*vals[i * m + k], 0);
        }
      }
      bool any_domain = false;
      for (const auto& dm : counts) any_domain |= !dm.empty();
      if (any_domain) {
        std::vector<const std::string*> v(m);
        for (const NodeInfo* node : all) {
          bool has_all = true;
          for (size_t k = 0; k < m; ++k) {
            v[k] = keys[k].Of(*node);
            if (!v[k]) has_all = false;
          }
          if (require_all && !has_all) continue;
          for (size_t k = 0; k < m; ++k) {
            if (is_host[k] || !v[k] || counts[k].empty()) continue;
            auto it = counts[k].find(*v[k]);
            if (it == counts[k].end()) continue;
            if (!SpreadIncludes(soft[k], pod, *node)) continue;
            it->second += counters[k](*node);
          }
        }
      }
      std::vector<double> weight(m);
      for (size_t k = 0; k < m; ++k) {
        size_t size = is_host[k] ? n - ignored_count : counts[k].size();
        weight[k] = std::log(double(size + 2));
      }
      int64_t mn = std::numeric_limits<int64_t>::max(), mx = 0;
      for (size_t i = 0; i < n; ++i) {
        if (ignored[i]) continue;
        double s = 0;
        for (size_t k = 0; k < m; ++k) {
          const std::string* v = vals[i * m + k];
          if (!v) continue;
          int64_t cnt = is_host[k] ? counters[k](*feasible[i]) : counts[k][*v];
          s += double(cnt) * weight[k] + double(soft[k].max_skew - 1);
        }
        sc[i] = static_cast<int64_t>(std::round(s));
        mn = std::min(mn, sc[i]);
        mx = std::max(mx, sc[i]);
      }
      for (size_t i = 0; i < n; ++i) {
        int64_t v;
        if (ignored[i]) v = 0;
        else if (mx == 0) v = kMaxNodeScore;
        else v = kMaxNodeScore * (mx + mn - sc[i]) / mx;
        total[i] += 2 * v;
      }
    }
  }
  // InterPodAffinity (weight 2).
  {
    bool has_pref = !pod.preferred_affinity().empty() || !pod.preferred_anti_affinity().empty();
    std::unordered_map<std::string, int64_t> tp;
    auto add = [&](const NodeInfo& node, const std::string& key, int64_t w) {
      if (w == 0) return;
      if (const std::string* v = Label(node.labels, key)) tp[PairKey(key, *v)] += w;
    };
    for (const NodeInfo* node : all) {
      if (!has_pref && node->pods_with_affinity == 0) continue;
      for (const auto& ep : node->pods) {
        if (has_pref) {
          for (const auto& t : pod.preferred_affinity()) {
            if (TermMatchesPod(t, *ep, opts)) add(*node, t.topology_key, t.weight);
          }
          for (const auto& t : pod.preferred_anti_affinity()) {
            if (TermMatchesPod(t, *ep, opts)) add(*node, t.topology_key, -t.weight);
          }
        }
        if (!ep->HasAffinity()) continue;
        for (const auto& t : ep->required_affinity()) {
          if (TermMatchesPod(t, pod, opts)) add(*node, t.topology_key, 1);  // hardPodAffinityWeight
        }
        for (const auto& t : ep->preferred_affinity()) {
          if (TermMatchesPod(t, pod, opts)) add(*node, t.topology_key, t.weight);
        }
        for (const auto& t : ep->preferred_anti_affinity()) {
          if (TermMatchesPod(t, pod, opts)) add(*node, t.topology_key, -t.weight);
        }
      }
    }
    if (!tp.empty()) {
      int64_t mn = std::numeric_limits<int64_t>::max(), mx = std::numeric_limits<int64_t>::min();
      for (size_t i = 0; i < n; ++i) {
        int64_t s = 0;
        for (const auto& [k, v] : feasible[i]->labels) {
          auto it = tp.find(PairKey(k, v));
          if (it != tp.end()) s += it->second;
        }
        sc[i] = s;
        mn = std::min(mn, s);
        mx = std::max(mx, s);
      }
      for (size_t i = 0; i < n; ++i) {
        int64_t v = 0;
        if (mx - mn > 0) v = static_cast<int64_t>(double(kMaxNodeScore) * (double(sc[i] - mn) / double(mx - mn)));
        total[i] += 2 * v;
      }
    }
  }
  return total;
}

uint64_t NextRand(uint64_t* s) {
  uint64_t x = *s;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  *s = x;
  return x;
}

}  // namespace

Cache::Cache(Options options) : options_(std::move(options)), rng_(options_.seed ? options_.seed : 1) {}

Status Cache::UpsertNode(const JsonValue& node) {
  auto n = ParseNode(node);
  if (!n.ok()) return n.status();
  UpsertNode(std::move(n).value());
  return Status::OK();
}

void Cache::UpsertNode(NodeInfo node) {
  auto it = node_index_.find(node.name);
  if (it != node_index_.end()) {
    NodeInfo& cur = *nodes_[it->second];
    cur.labels = std::move(node.labels);
    cur.IndexLabels();
    cur.taints = std::move(node.taints);
    cur.unschedulable = node.unschedulable;
    cur.allocatable = std::move(node.allocatable);
    cur.allowed_pods = node.allowed_pods;
    return;
  }
  node.pods.clear();
  node.requested = {};
  node.nonzero_milli_cpu = node.nonzero_memory = 0;
  node.used_ports.clear();
  node.pods_with_affinity = node.pods_with_required_anti_affinity = 0;
  node.IndexLabels();
  node.cache_index = static_cast<int32_t>(nodes_.size());
  node_index_.emplace(node.name, nodes_.size());
  nodes_.push_back(std::make_unique<NodeInfo>(std::move(node)));
  for (auto& [key, sc] : counts_) sc.per_node.push_back(0);
  NodeInfo& added = *nodes_.back();
  // Pods that arrived before their node.
  for (auto& [uid, entry] : pods_) {
    if (entry.first == added.name) AddPodToNode(added, entry.second);
  }
}

void Cache::RemoveNode(std::string_view name) {
  auto it = node_index_.find(std::string(name));
  if (it == node_index_.end()) return;
  size_t idx = it->second;
  node_index_.erase(it);
  if (idx != nodes_.size() - 1) {
    nodes_[idx] = std::move(nodes_.back());
    nodes_[idx]->cache_index = static_cast<int32_t>(idx);
    node_index_[nodes_[idx]->name] = idx;
  }
  nodes_.pop_back();
  for (auto& [key, sc] : counts_) {
    sc.per_node[idx] = sc.per_node.back();
    sc.per_node.pop_back();
  }
  // Its pods stay known and are accounted again if the node comes back.
}

Status Cache::AddPod(const JsonValue& pod) {
  auto p = ParsePod(pod, &interner_);
  if (!p.ok()) return p.status();
  AddPod(std::move(p).value());
  return Status::OK();
}

void Cache::AddPod(PodInfoPtr pod) {
  if (pod->node_name.empty() || pod->finished) return;
  RemovePod(pod->uid);
  std::string node = pod->node_name;
  auto it = node_index_.find(node);
  if (it != node_index_.end()) AddPodToNode(*nodes_[it->second], pod);
  std::string_view uid = pod->uid;  // the entry's own pod keeps the key alive
  pods_.emplace(uid, std::pair(std::move(node), std::move(pod)));
}

void Cache::AssumePod(const PodInfoPtr& pod, std::string_view node) {
  RemovePod(pod->uid);
  auto it = node_index_.find(std::string(node));
  if (it != node_index_.end()) AddPodToNode(*nodes_[it->second], pod);
  pods_.emplace(pod->uid, std::pair(std::string(node), pod));
}

void Cache::RemovePod(std::string_view uid) {
  auto it = pods_.find(uid);
  if (it == pods_.end()) return;
  auto nit = node_index_.find(it->second.first);
  if (nit != node_index_.end()) RemovePodFromNode(*nodes_[nit->second], uid);
  pods_.erase(it);
}

void Cache::CountPod(const PodInfo& pod, int32_t node_index, int delta) {
  if (pod.terminating) return;
  for (auto& [key, sc] : counts_) {
    if (sc.ns == pod.namespace_ && sc.selector.Matches(pod.labels())) sc.per_node[node_index] += delta;
  }
}

void Cache::AddPodToNode(NodeInfo& node, PodInfoPtr pod) {
  CountPod(*pod, node.cache_index, 1);
  node.AddPod(std::move(pod));
}

bool Cache::RemovePodFromNode(NodeInfo& node, std::string_view uid) {
  for (const auto& p : node.pods) {
    if (p->uid == uid) {
      CountPod(*p, node.cache_index, -1);
      break;
    }
  }
  return node.RemovePod(uid);
}

const std::vector<int>& Cache::PodCountsBySelector(const api::LabelSelector& sel, const std::string& ns) {
  std::string key = ns;
  key.push_back('\0');
  key += sel.String();
  if (sel.MatchesNothing()) key += "\0nothing";
  auto it = counts_.find(key);
  if (it == counts_.end()) {
    SelectorCounts sc{ns, sel, {}, 0};
    sc.per_node.reserve(nodes_.size());
    for (const auto& n : nodes_) sc.per_node.push_back(scheduler::CountMatching(n->pods, sel, ns));
    it = counts_.emplace(std::move(key), std::move(sc)).first;
  }
  it->second.last_used = use_clock_;
  return it->second.per_node;
}

const NodeInfo* Cache::GetNode(std::string_view name) const {
  auto it = node_index_.find(std::string(name));
  return it == node_index_.end() ? nullptr : nodes_[it->second].get();
}

int Cache::NumFeasibleNodesToFind(int num_all_nodes) const {
  constexpr int kMinFeasibleNodesToFind = 100;
  constexpr int kMinFeasibleNodesPercentageToFind = 5;
  if (num_all_nodes < kMinFeasibleNodesToFind) return num_all_nodes;
  int pct = options_.percentage_of_nodes_to_score;
  if (pct >= 100) return num_all_nodes;
  if (pct <= 0) {
    pct = 50 - num_all_nodes / 125;
    if (pct < kMinFeasibleNodesPercentageToFind) pct = kMinFeasibleNodesPercentageToFind;
  }
  int n = static_cast<int>(int64_t(num_all_nodes) * pct / 100);
  return n < kMinFeasibleNodesToFind ? kMinFeasibleNodesToFind : n;
}

ScheduleResult Cache::Schedule(const PodInfo& pod) {
  // Keep the per-selector counts bounded: drop those unused for the longest.
  constexpr size_t kMaxSelectorCounts = 256;
  ++use_clock_;
  if (counts_.size() > kMaxSelectorCounts) {
    std::vector<uint64_t> stamps;
    for (const auto& [k, sc] : counts_) stamps.push_back(sc.last_used);
    std::nth_element(stamps.begin(), stamps.begin() + stamps.size() / 2, stamps.end());
    uint64_t cutoff = stamps[stamps.size() / 2];
    for (auto it = counts_.begin(); it != counts_.end();) {
      if (it->second.last_used < cutoff) it = counts_.erase(it);
      else ++it;
    }
  }
  ScheduleResult r;
  r.num_all_nodes = static_cast<int>(nodes_.size());
  if (nodes_.empty()) return r;
  NodeList all;
  all.reserve(nodes_.size());
  for (const auto& n : nodes_) all.push_back(n.get());

  CycleState state;
  PreFilter(pod, all, options_, this, &state);

  NodeList candidates;
  const NodeList* nodes = &all;
  if (state.node_names) {
    if (state.node_names->empty()) {
      r.prefilter_message = "pod affinity terms conflict";
      return r;
    }
    for (const NodeInfo* n : all) {
      if (state.node_names->count(n->name)) candidates.push_back(n);
    }
    nodes = &candidates;
    r.absent_status = NodeStatus{Code::kUnschedulableAndUnresolvable, "NodeAffinity",
                                 {"node(s) didn't satisfy plugin(s) [NodeAffinity]"}};
  }

  NodeList feasible;
  NodeStatus st;
  // The nominated node, when set and still feasible, wins without scoring.
  if (!pod.nominated_node_name.empty()) {
    if (const NodeInfo* nn = GetNode(pod.nominated_node_name)) {
      if ((!state.node_names || state.node_names->count(nn->name)) && RunFilters(state, *nn, &st)) {
        r.node = nn->name;
        r.evaluated_nodes = r.feasible_nodes = 1;
        return r;
      }
      st = NodeStatus{};
    }
  }

  const int total = static_cast<int>(nodes->size());
  const int want = NumFeasibleNodesToFind(total);
  feasible.reserve(want);
  size_t start = state.node_names ? 0 : next_start_ % total;
  int processed = 0;
  for (int i = 0; i < total; ++i) {
    const NodeInfo* n = (*nodes)[(start + i) % total];
    ++processed;
    if (RunFilters(state, *n, &st)) {
      feasible.push_back(n);
      if (static_cast<int>(feasible.size()) >= want) break;
    } else {
      r.statuses.emplace(n->name, std::move(st));
      st = NodeStatus{};
    }
  }
  if (!state.node_names) next_start_ = (start + processed) % total;
  r.evaluated_nodes = processed;
  r.feasible_nodes = static_cast<int>(feasible.size());
  if (feasible.empty()) return r;
  r.statuses.clear();
  if (feasible.size() == 1) {
    r.node = feasible[0]->name;
    return r;
  }
  std::vector<int64_t> scores = ScoreNodes(pod, feasible, all, options_, this);
  // selectHost: the highest score, ties broken uniformly at random (reservoir sampling).
  size_t best = 0;
  int ties = 1;
  for (size_t i = 1; i < feasible.size(); ++i) {
    if (scores[i] > scores[best]) {
      best = i;
      ties = 1;
    } else if (scores[i] == scores[best]) {
      ++ties;
      if (NextRand(&rng_) % ties == 0) best = i;
    }
  }
  r.node = feasible[best]->name;
  return r;
}

std::string FitErrorMessage(const ScheduleResult& r, std::string_view post_filter_message) {
  std::string msg = "0/" + std::to_string(r.num_all_nodes) + " nodes are available:";
  if (!r.prefilter_message.empty()) {
    msg += " " + r.prefilter_message + ".";
  } else {
    std::map<std::string, int> hist;
    for (const auto& [name, st] : r.statuses) {
      for (const auto& reason : st.reasons) ++hist[reason];
    }
    int absent = r.num_all_nodes - static_cast<int>(r.statuses.size());
    if (absent > 0 && r.absent_status) {
      for (const auto& reason : r.absent_status->reasons) hist[reason] += absent;
    }
    std::vector<std::string> parts;
    for (const auto& [reason, count] : hist) parts.push_back(std::to_string(count) + " " + reason);
    std::sort(parts.begin(), parts.end());  // upstream sorts "count reason" strings
    if (!parts.empty()) {
      msg += " ";
      for (size_t i = 0; i < parts.size(); ++i) {
        if (i) msg += ", ";
        msg += parts[i];
      }
      msg += ".";
    }
  }
  if (!post_filter_message.empty()) {
    std::string_view p = post_filter_message;
    if (p.back() == '.') p.remove_suffix(1);
    msg += " ";
    msg += p;
    msg += ".";
  }
  return msg;
}

PreemptionResult Cache::Preempt(const PodInfo& pod, const ScheduleResult& failed, const std::vector<PdbInfo>& pdbs) {
  PreemptionResult out;
  if (pod.preempt_never) {
    out.message = "preemption: not eligible due to preemptionPolicy=Never.";
    return out;
  }
  // A lower-priority pod still terminating on the nominated node: wait for it instead.
  if (!pod.nominated_node_name.empty()) {
    auto sit = failed.statuses.find(pod.nominated_node_name);
    bool unresolvable = sit != failed.statuses.end() && sit->second.code == Code::kUnschedulableAndUnresolvable;
    const NodeInfo* nn = GetNode(pod.nominated_node_name);
    if (!unresolvable && nn) {
      for (const auto& p : nn->pods) {
        if (p->priority < pod.priority && p->terminating) {
          out.message = "preemption: not eligible due to a terminating pod on the nominated node.";
          return out;
        }
      }
    }
  }
  ScheduleResult dry;
  dry.num_all_nodes = static_cast<int>(nodes_.size());
  dry.absent_status = NodeStatus{Code::kUnschedulableAndUnresolvable, "DefaultPreemption", {kReasonNotHelpful}};

  struct Candidate {
    const NodeInfo* node;
    std::vector<PodInfoPtr> victims;  // most important first
    int violations = 0;
  };
  std::vector<Candidate> cands;
  NodeList all;
  for (const auto& n : nodes_) all.push_back(n.get());

  for (const auto& n : nodes_) {
    auto sit = failed.statuses.find(n->name);
    if (sit == failed.statuses.end() || sit->second.code != Code::kUnschedulable) continue;
    // SelectVictimsOnNode on a copy of the node.
    NodeInfo copy = *n;
    copy.cache_index = -1;
    std::vector<PodInfoPtr> potential;
    for (const auto& p : n->pods) {
      if (p->priority < pod.priority) potential.push_back(p);
    }
    if (potential.empty()) {
      dry.statuses[n->name] = NodeStatus{Code::kUnschedulableAndUnresolvable, "DefaultPreemption", {kReasonNoVictims}};
      continue;
    }
    for (const auto& p : potential) copy.RemovePod(p->uid);
    NodeList view = all;
    for (auto& v : view) {
      if (v == n.get()) v = &copy;
    }
    auto fits = [&](NodeStatus* st) {
      CycleState state;
      PreFilter(pod, view, options_, nullptr, &state);
      return RunFilters(state, copy, st);
    };
    NodeStatus st;
    if (!fits(&st)) {
      dry.statuses[n->name] = std::move(st);
      continue;
    }
    std::sort(potential.begin(), potential.end(),
              [](const PodInfoPtr& a, const PodInfoPtr& b) { return MoreImportant(*a, *b); });
    // filterPodsWithPDBViolation.
    std::vector<int32_t> allowed;
    for (const auto& pdb : pdbs) allowed.push_back(pdb.disruptions_allowed);
    std::vector<PodInfoPtr> violating, non_violating;
    for (const auto& p : potential) {
      bool violated = false;
      if (!p->labels().empty()) {
        for (size_t i = 0; i < pdbs.size(); ++i) {
          const auto& pdb = pdbs[i];
          if (pdb.namespace_ != p->namespace_ || pdb.selector.Empty() || !pdb.selector.Matches(p->labels())) continue;
          if (std::find(pdb.disrupted_pods.begin(), pdb.disrupted_pods.end(), p->name) != pdb.disrupted_pods.end())
            continue;
          if (--allowed[i] < 0) violated = true;
        }
      }
      (violated ? violating : non_violating).push_back(p);
    }
    Candidate c;
    c.node = n.get();
    auto reprieve = [&](const PodInfoPtr& p) {
      copy.AddPod(p);
      NodeStatus ignored;
      if (fits(&ignored)) return true;
      copy.RemovePod(p->uid);
      c.victims.push_back(p);
      return false;
    };
    for (const auto& p : violating) {
      if (!reprieve(p)) ++c.violations;
    }
    for (const auto& p : non_violating) reprieve(p);
    if (!violating.empty() && !non_violating.empty()) {
      std::sort(c.victims.begin(), c.victims.end(),
                [](const PodInfoPtr& a, const PodInfoPtr& b) { return MoreImportant(*a, *b); });
    }
    if (c.victims.empty()) {
      dry.statuses[n->name] = NodeStatus{Code::kUnschedulable, "DefaultPreemption", {}};
      continue;
    }
    cands.push_back(std::move(c));
  }

  if (cands.empty()) {
    out.message = "preemption: " + FitErrorMessage(dry);
    return out;
  }
  // pickOneNodeForPreemption: fewest PDB violations, lowest highest victim priority, lowest
  // priority sum, fewest victims, latest start of the highest-priority victims, then first.
  std::vector<size_t> idx(cands.size());
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  auto narrow = [&](auto key) {  // keeps the candidates with the minimal key
    if (idx.size() <= 1) return;
    auto best = key(cands[idx[0]]);
    for (size_t i : idx) best = std::min(best, key(cands[i]));
    std::vector<size_t> keep;
    for (size_t i : idx) {
      if (key(cands[i]) == best) keep.push_back(i);
    }
    idx = std::move(keep);
  };
  narrow([](const Candidate& c) { return int64_t(c.violations); });
  narrow([](const Candidate& c) { return int64_t(c.victims[0]->priority); });
  narrow([](const Candidate& c) {
    int64_t sum = 0;
    for (const auto& v : c.victims) sum += int64_t(v->priority) + int64_t(std::numeric_limits<int32_t>::max()) + 1;
    return sum;
  });
  narrow([](const Candidate& c) { return int64_t(c.victims.size()); });
  if (idx.size() > 1) {
    // Latest "earliest start time among the highest-priority victims".
    auto earliest = [](const Candidate& c) {
      int64_t e = kNoStartTime;
      for (const auto& v : c.victims) {
        if (v->priority == c.victims[0]->priority) e = std::min(e, v->start_time);
      }
      return e;
    };
    size_t best = idx[0];
    int64_t best_t = earliest(cands[best]);
    for (size_t i : idx) {
      int64_t t = earliest(cands[i]);
      if (t > best_t) {
        best = i;
        best_t = t;
      }
    }
    idx = {best};
  }
  Candidate& chosen = cands[idx[0]];
  out.nominated_node = chosen.node->name;
  out.victims = std::move(chosen.victims);
  out.pdb_violations = chosen.violations;
  return out;
}

StatusOr<ScheduleResult> ScheduleOnce(const JsonValue& pod, const JsonValue& nodes, const JsonValue& pods,
                                      Options options) {
  Cache cache(std::move(options));
  if (nodes.IsArray()) {
    for (const auto& n : nodes.GetArray()) MINIK_RETURN_IF_ERROR(cache.UpsertNode(n));
  }
  if (pods.IsArray()) {
    for (const auto& p : pods.GetArray()) MINIK_RETURN_IF_ERROR(cache.AddPod(p));
  }
  auto p = ParsePod(pod);
  if (!p.ok()) return p.status();
  return cache.Schedule(**p);
}

}  // namespace minik::scheduler
