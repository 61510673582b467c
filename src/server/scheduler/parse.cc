// Parsing of Pods, Nodes and PodDisruptionBudgets into the scheduler's precomputed forms.
#include <algorithm>
#include <chrono>
#include <string>

#include "common/clock.h"
#include "server/scheduler/quantity.h"
#include "server/scheduler/scheduler.h"

namespace minik::scheduler {
namespace {

constexpr int64_t kDefaultMilliCpuRequest = 100;                 // 0.1 core
constexpr int64_t kDefaultMemoryRequest = 200LL * 1024 * 1024;  // 200 MiB

std::string Str(const JsonValue* v) {
  if (!v || !v->IsString()) return {};
  return std::string(v->GetString(), v->GetStringLength());
}

Labels ParseLabels(const JsonValue* v) {
  Labels out;
  if (!v || !v->IsObject()) return out;
  for (auto it = v->MemberBegin(); it != v->MemberEnd(); ++it) {
    if (it->value.IsString()) out.emplace(it->name.GetString(), it->value.GetString());
  }
  return out;
}

bool IsScalarResource(std::string_view name) {
  return name.find('/') != std::string_view::npos || name.rfind("hugepages-", 0) == 0;
}

Status AddResourceList(const JsonValue* list, Resources* out, std::string_view what) {
  if (!list || !list->IsObject()) return Status::OK();
  for (auto it = list->MemberBegin(); it != list->MemberEnd(); ++it) {
    std::string_view name(it->name.GetString(), it->name.GetStringLength());
    std::optional<int64_t> v;
    if (name == "cpu") {
      v = QuantityMilliValue(it->value);
      if (v) out->milli_cpu += *v;
    } else if (name == "memory") {
      v = QuantityValue(it->value);
      if (v) out->memory += *v;
    } else if (name == "ephemeral-storage") {
      v = QuantityValue(it->value);
      if (v) out->ephemeral_storage += *v;
    } else if (IsScalarResource(name)) {
      v = QuantityValue(it->value);
      if (v) out->AddScalar(name, *v);
    } else {
      continue;
    }
    if (!v) return Status::Invalid(std::string(what) + ": invalid quantity for " + std::string(name));
  }
  return Status::OK();
}

// The requests of one container; with_defaults fills missing cpu/memory as the scoring does.
Status ContainerRequests(const JsonValue& c, bool with_defaults, Resources* out) {
  const JsonValue* req = Path(c, {"resources", "requests"});
  MINIK_RETURN_IF_ERROR(AddResourceList(req, out, "resources.requests"));
  if (with_defaults) {
    if (!req || !Member(*req, "cpu")) out->milli_cpu += kDefaultMilliCpuRequest;
    if (!req || !Member(*req, "memory")) out->memory += kDefaultMemoryRequest;
  }
  return Status::OK();
}

// resourcehelper.PodRequests: sum of containers and sidecars, max with each init container
// (plus the sidecars started before it), plus overhead.
Status PodRequests(const JsonValue& spec, bool with_defaults, Resources* out) {
  Resources sum;
  if (const JsonValue* cs = Member(spec, "containers"); cs && cs->IsArray()) {
    for (const auto& c : cs->GetArray()) MINIK_RETURN_IF_ERROR(ContainerRequests(c, with_defaults, &sum));
  }
  Resources init_max, sidecars;
  if (const JsonValue* cs = Member(spec, "initContainers"); cs && cs->IsArray()) {
    for (const auto& c : cs->GetArray()) {
      Resources r;
      MINIK_RETURN_IF_ERROR(ContainerRequests(c, with_defaults, &r));
      if (GetString(c, "restartPolicy") == "Always") {
        sum.Add(r);
        sidecars.Add(r);
        init_max.Max(sidecars);
      } else {
        r.Add(sidecars);
        init_max.Max(r);
      }
    }
  }
  sum.Max(init_max);
  MINIK_RETURN_IF_ERROR(AddResourceList(Member(spec, "overhead"), &sum, "overhead"));
  *out = std::move(sum);
  return Status::OK();
}

std::optional<SelectorOp> ParseOp(std::string_view op) {
  if (op == "In") return SelectorOp::kIn;
  if (op == "NotIn") return SelectorOp::kNotIn;
  if (op == "Exists") return SelectorOp::kExists;
  if (op == "DoesNotExist") return SelectorOp::kDoesNotExist;
  if (op == "Gt") return SelectorOp::kGt;
  if (op == "Lt") return SelectorOp::kLt;
  return std::nullopt;
}

Status ParseRequirements(const JsonValue* v, std::vector<NodeSelectorRequirement>* out) {
  if (!v || !v->IsArray()) return Status::OK();
  for (const auto& r : v->GetArray()) {
    NodeSelectorRequirement req;
    req.key = Str(Member(r, "key"));
    auto op = ParseOp(GetString(r, "operator").value_or(""));
    if (!op) return Status::Invalid("node selector requirement: invalid operator");
    req.op = *op;
    if (const JsonValue* vals = Member(r, "values"); vals && vals->IsArray()) {
      for (const auto& s : vals->GetArray()) req.values.push_back(Str(&s));
    }
    out->push_back(std::move(req));
  }
  return Status::OK();
}

Status ParseTerm(const JsonValue& t, NodeSelectorTerm* out) {
  MINIK_RETURN_IF_ERROR(ParseRequirements(Member(t, "matchExpressions"), &out->match_expressions));
  MINIK_RETURN_IF_ERROR(ParseRequirements(Member(t, "matchFields"), &out->match_fields));
  return Status::OK();
}

std::optional<TaintEffect> ParseEffect(std::string_view e) {
  if (e.empty()) return std::nullopt;
  if (e == "NoSchedule") return TaintEffect::kNoSchedule;
  if (e == "PreferNoSchedule") return TaintEffect::kPreferNoSchedule;
  if (e == "NoExecute") return TaintEffect::kNoExecute;
  return TaintEffect::kOther;
}

Status ParseAffinityTerm(const JsonValue& t, const PodInfo& owner, int32_t weight, AffinityTerm* out) {
  auto sel = api::LabelSelector::FromLabelSelectorJson(Member(t, "labelSelector"));
  if (!sel.ok()) return Status::Invalid("pod affinity term: " + sel.error().message());
  out->selector = std::move(sel).value();
  // matchLabelKeys / mismatchLabelKeys (beta in 1.32): merged into the selector from the owner's labels.
  auto merge = [&](const char* field, const char* op) -> Status {
    const JsonValue* keys = Member(t, field);
    if (!keys || !keys->IsArray() || keys->Empty()) return Status::OK();
    std::string extra = out->selector.String();
    for (const auto& k : keys->GetArray()) {
      std::string key = Str(&k);
      auto it = owner.labels().find(key);
      if (it == owner.labels().end()) continue;
      if (!extra.empty()) extra += ",";
      extra += key + std::string(op) + "(" + it->second + ")";
    }
    auto s = api::LabelSelector::Parse(extra);
    if (!s.ok()) return Status::Invalid("pod affinity term: " + s.error().message());
    out->selector = std::move(s).value();
    return Status::OK();
  };
  if (!out->selector.MatchesNothing()) {
    MINIK_RETURN_IF_ERROR(merge("matchLabelKeys", " in "));
    MINIK_RETURN_IF_ERROR(merge("mismatchLabelKeys", " notin "));
  }
  out->topology_key = Str(Member(t, "topologyKey"));
  out->weight = weight;
  if (const JsonValue* ns = Member(t, "namespaces"); ns && ns->IsArray()) {
    for (const auto& n : ns->GetArray()) out->namespaces.push_back(Str(&n));
  }
  const JsonValue* nss = Member(t, "namespaceSelector");
  if (nss && nss->IsObject()) {
    if (nss->ObjectEmpty() || (!Member(*nss, "matchLabels") && !Member(*nss, "matchExpressions"))) {
      out->all_namespaces = true;
    } else {
      auto s = api::LabelSelector::FromLabelSelectorJson(nss);
      if (!s.ok()) return Status::Invalid("pod affinity term: " + s.error().message());
      if (s->Empty()) out->all_namespaces = true;
      else out->namespace_selector = std::move(s).value();
    }
  } else if (out->namespaces.empty()) {
    out->namespaces.push_back(owner.namespace_);
  }
  return Status::OK();
}

Status ParseAffinityTerms(const JsonValue* aff, const char* kind, const PodInfo& pod, std::vector<AffinityTerm>* req,
                          std::vector<AffinityTerm>* pref) {
  const JsonValue* a = aff ? Member(*aff, kind) : nullptr;
  if (!a || !a->IsObject()) return Status::OK();
  if (const JsonValue* r = Member(*a, "requiredDuringSchedulingIgnoredDuringExecution"); r && r->IsArray()) {
    for (const auto& t : r->GetArray()) {
      AffinityTerm term;
      MINIK_RETURN_IF_ERROR(ParseAffinityTerm(t, pod, 0, &term));
      req->push_back(std::move(term));
    }
  }
  if (const JsonValue* p = Member(*a, "preferredDuringSchedulingIgnoredDuringExecution"); p && p->IsArray()) {
    for (const auto& wt : p->GetArray()) {
      const JsonValue* t = Member(wt, "podAffinityTerm");
      if (!t) continue;
      AffinityTerm term;
      MINIK_RETURN_IF_ERROR(ParseAffinityTerm(*t, pod, static_cast<int32_t>(GetInt(wt, "weight").value_or(0)), &term));
      pref->push_back(std::move(term));
    }
  }
  return Status::OK();
}

void AddPorts(const JsonValue* containers, bool sidecars_only, std::vector<HostPort>* out) {
  if (!containers || !containers->IsArray()) return;
  for (const auto& c : containers->GetArray()) {
    if (sidecars_only && GetString(c, "restartPolicy") != "Always") continue;
    const JsonValue* ports = Member(c, "ports");
    if (!ports || !ports->IsArray()) continue;
    for (const auto& p : ports->GetArray()) {
      int64_t hp = GetInt(p, "hostPort").value_or(0);
      if (hp <= 0) continue;
      HostPort h;
      h.port = static_cast<int32_t>(hp);
      h.protocol = std::string(GetString(p, "protocol").value_or("TCP"));
      if (h.protocol.empty()) h.protocol = "TCP";
      h.ip = std::string(GetString(p, "hostIP").value_or(""));
      if (h.ip == "0.0.0.0") h.ip.clear();
      out->push_back(std::move(h));
    }
  }
}

}  // namespace

int64_t Resources::Scalar(std::string_view name) const {
  for (const auto& [k, v] : scalar) {
    if (k == name) return v;
  }
  return 0;
}

void Resources::AddScalar(std::string_view name, int64_t v) {
  for (auto& [k, val] : scalar) {
    if (k == name) {
      val += v;
      return;
    }
  }
  scalar.emplace_back(std::string(name), v);
}

void Resources::Add(const Resources& o, int sign) {
  milli_cpu += sign * o.milli_cpu;
  memory += sign * o.memory;
  ephemeral_storage += sign * o.ephemeral_storage;
  for (const auto& [k, v] : o.scalar) AddScalar(k, sign * v);
}

void Resources::Max(const Resources& o) {
  milli_cpu = std::max(milli_cpu, o.milli_cpu);
  memory = std::max(memory, o.memory);
  ephemeral_storage = std::max(ephemeral_storage, o.ephemeral_storage);
  for (const auto& [k, v] : o.scalar) {
    int64_t cur = Scalar(k);
    if (v > cur) AddScalar(k, v - cur);
  }
}

bool Toleration::Tolerates(const Taint& t) const {
  if (effect && *effect != t.effect) return false;
  if (!key.empty() && key != t.key) return false;
  return exists || value == t.value;
}

namespace {

// The PodTerms of a pod whose own fields (namespace, labels) p already holds.
StatusOr<std::shared_ptr<const PodTerms>> ParseTerms(const JsonValue& spec, const PodInfo& pod, std::string controller_kind,
                                                     std::vector<HostPort> host_ports) {
  auto p = std::make_shared<PodTerms>();
  p->controller_kind = std::move(controller_kind);
  p->host_ports = std::move(host_ports);
  p->node_selector = ParseLabels(Member(spec, "nodeSelector"));

  if (const JsonValue* tols = Member(spec, "tolerations"); tols && tols->IsArray()) {
    for (const auto& t : tols->GetArray()) {
      Toleration tol;
      tol.key = Str(Member(t, "key"));
      tol.exists = GetString(t, "operator") == "Exists";
      tol.value = Str(Member(t, "value"));
      tol.effect = ParseEffect(GetString(t, "effect").value_or(""));
      p->tolerations.push_back(std::move(tol));
    }
  }

  const JsonValue* aff = Member(spec, "affinity");
  if (aff && aff->IsObject()) {
    if (const JsonValue* na = Member(*aff, "nodeAffinity"); na && na->IsObject()) {
      const JsonValue* req = Member(*na, "requiredDuringSchedulingIgnoredDuringExecution");
      if (req && req->IsObject()) {
        std::vector<NodeSelectorTerm> terms;
        if (const JsonValue* ts = Member(*req, "nodeSelectorTerms"); ts && ts->IsArray()) {
          for (const auto& t : ts->GetArray()) {
            NodeSelectorTerm term;
            MINIK_RETURN_IF_ERROR(ParseTerm(t, &term));
            terms.push_back(std::move(term));
          }
        }
        p->required_node_affinity = std::move(terms);
      }
      if (const JsonValue* pref = Member(*na, "preferredDuringSchedulingIgnoredDuringExecution");
          pref && pref->IsArray()) {
        for (const auto& wt : pref->GetArray()) {
          PreferredSchedulingTerm t;
          t.weight = static_cast<int32_t>(GetInt(wt, "weight").value_or(0));
          if (const JsonValue* pr = Member(wt, "preference")) MINIK_RETURN_IF_ERROR(ParseTerm(*pr, &t.preference));
          p->preferred_node_affinity.push_back(std::move(t));
        }
      }
    }
    MINIK_RETURN_IF_ERROR(ParseAffinityTerms(aff, "podAffinity", pod, &p->required_affinity, &p->preferred_affinity));
    MINIK_RETURN_IF_ERROR(
        ParseAffinityTerms(aff, "podAntiAffinity", pod, &p->required_anti_affinity, &p->preferred_anti_affinity));
  }

  if (const JsonValue* tscs = Member(spec, "topologySpreadConstraints"); tscs && tscs->IsArray()) {
    for (const auto& c : tscs->GetArray()) {
      SpreadConstraint sc;
      sc.max_skew = static_cast<int32_t>(GetInt(c, "maxSkew").value_or(1));
      sc.topology_key = Str(Member(c, "topologyKey"));
      sc.do_not_schedule = GetString(c, "whenUnsatisfiable").value_or("DoNotSchedule") != "ScheduleAnyway";
      auto sel = api::LabelSelector::FromLabelSelectorJson(Member(c, "labelSelector"));
      if (!sel.ok()) return Status::Invalid("topology spread constraint: " + sel.error().message());
      sc.selector = std::move(sel).value();
      if (const JsonValue* keys = Member(c, "matchLabelKeys"); keys && keys->IsArray() && !keys->Empty() &&
                                                                !sc.selector.MatchesNothing()) {
        std::string s = sc.selector.String();
        for (const auto& k : keys->GetArray()) {
          auto it = pod.labels().find(Str(&k));
          if (it == pod.labels().end()) continue;
          if (!s.empty()) s += ",";
          s += it->first + "=" + it->second;
        }
        auto merged = api::LabelSelector::Parse(s);
        if (!merged.ok()) return Status::Invalid("topology spread constraint: " + merged.error().message());
        sc.selector = std::move(merged).value();
      }
      if (auto md = GetInt(c, "minDomains")) sc.min_domains = static_cast<int32_t>(*md);
      sc.honor_node_affinity = GetString(c, "nodeAffinityPolicy").value_or("Honor") != "Ignore";
      sc.honor_node_taints = GetString(c, "nodeTaintsPolicy").value_or("Ignore") == "Honor";
      p->spread_constraints.push_back(std::move(sc));
    }
  }
  return std::shared_ptr<const PodTerms>(std::move(p));
}

// Appends s to key with its length first, so that concatenated fields cannot run into each other.
void AppendField(std::string* key, char tag, std::string_view s) {
  key->push_back(tag);
  key->append(std::to_string(s.size()));
  key->push_back(':');
  key->append(s);
}

void AppendJsonField(std::string* key, char tag, const JsonValue* v) {
  if (!v || v->IsNull()) return;
  std::string json;
  AppendJson(*v, &json);
  AppendField(key, tag, json);
}

// Everything ParseTerms reads, serialized; empty when the pod has none of the terms.
std::string TermsKey(const JsonValue& spec, const JsonValue* meta, const PodInfo& pod, std::string_view controller_kind,
                     const std::vector<HostPort>& host_ports) {
  std::string key;
  if (!controller_kind.empty()) AppendField(&key, 'k', controller_kind);
  AppendJsonField(&key, 's', Member(spec, "nodeSelector"));
  AppendJsonField(&key, 't', Member(spec, "tolerations"));
  const JsonValue* aff = Member(spec, "affinity");
  const JsonValue* tsc = Member(spec, "topologySpreadConstraints");
  AppendJsonField(&key, 'a', aff);
  AppendJsonField(&key, 'c', tsc);
  for (const auto& hp : host_ports) {
    AppendField(&key, 'p', std::to_string(hp.port));
    AppendField(&key, 'r', hp.protocol);
    AppendField(&key, 'i', hp.ip);
  }
  // Pod affinity terms default to the pod's namespace; matchLabelKeys read its labels.
  if ((aff && !aff->IsNull()) || (tsc && !tsc->IsNull())) {
    AppendField(&key, 'n', pod.namespace_);
    AppendJsonField(&key, 'l', meta ? Member(*meta, "labels") : nullptr);
  }
  return key;
}

// metadata.labels, shared through the interner by the pods with the same JSON; null when none.
std::shared_ptr<const Labels> InternLabels(const JsonValue* v, PodInterner* interner) {
  if (!v || !v->IsObject() || v->ObjectEmpty()) return nullptr;
  std::string key;
  if (interner) {
    AppendJson(*v, &key);
    if (auto shared = interner->labels.Find(key)) return shared;
  }
  auto labels = std::make_shared<const Labels>(ParseLabels(v));
  if (labels->empty()) return nullptr;
  if (interner) interner->labels.Insert(std::move(key), labels);
  return labels;
}

}  // namespace

const PodTerms& PodInfo::terms() const {
  static const PodTerms kNone;
  return terms_ptr ? *terms_ptr : kNone;
}

const Labels& PodInfo::labels() const {
  static const Labels kNone;
  return labels_ptr ? *labels_ptr : kNone;
}

StatusOr<PodInfoPtr> ParsePod(const JsonValue& pod, PodInterner* interner) {
  auto p = std::make_shared<PodInfo>();
  const JsonValue* meta = Member(pod, "metadata");
  static const JsonValue kEmpty(rapidjson::kObjectType);
  const JsonValue& spec = Member(pod, "spec") ? *Member(pod, "spec") : kEmpty;
  std::string controller_kind;
  if (meta) {
    p->namespace_ = Str(Member(*meta, "namespace"));
    p->name = Str(Member(*meta, "name"));
    p->uid = Str(Member(*meta, "uid"));
    const JsonValue* dt = Member(*meta, "deletionTimestamp");
    p->terminating = dt && !dt->IsNull();
    p->labels_ptr = InternLabels(Member(*meta, "labels"), interner);
    if (const JsonValue* owners = Member(*meta, "ownerReferences"); owners && owners->IsArray()) {
      for (const auto& o : owners->GetArray()) {
        if (GetBool(o, "controller").value_or(false)) controller_kind = Str(Member(o, "kind"));
      }
    }
  }
  if (p->namespace_.empty()) p->namespace_ = "default";
  if (p->uid.empty()) p->uid = p->namespace_ + "/" + p->name;
  if (const JsonValue* st = Member(pod, "status")) {
    p->nominated_node_name = Str(Member(*st, "nominatedNodeName"));
    TimePoint start;
    if (auto s = GetString(*st, "startTime"); s && ParseRFC3339(*s, &start)) {
      p->start_time = std::chrono::duration_cast<std::chrono::microseconds>(start.time_since_epoch()).count();
    }
    auto phase = GetString(*st, "phase");
    p->finished = phase == "Succeeded" || phase == "Failed";
  }
  p->node_name = Str(Member(spec, "nodeName"));
  p->priority = static_cast<int32_t>(GetInt(spec, "priority").value_or(0));
  p->preempt_never = GetString(spec, "preemptionPolicy") == "Never";

  MINIK_RETURN_IF_ERROR(PodRequests(spec, false, &p->requests));
  Resources nz;
  MINIK_RETURN_IF_ERROR(PodRequests(spec, true, &nz));
  p->nonzero_milli_cpu = nz.milli_cpu;
  p->nonzero_memory = nz.memory;

  std::vector<HostPort> host_ports;
  AddPorts(Member(spec, "initContainers"), true, &host_ports);
  AddPorts(Member(spec, "containers"), false, &host_ports);

  std::string key = TermsKey(spec, meta, *p, controller_kind, host_ports);
  if (key.empty()) return PodInfoPtr(std::move(p));  // no terms: the shared empty PodTerms
  if (interner && (p->terms_ptr = interner->terms.Find(key))) return PodInfoPtr(std::move(p));
  auto terms = ParseTerms(spec, *p, std::move(controller_kind), std::move(host_ports));
  if (!terms.ok()) return terms.status();
  p->terms_ptr = std::move(terms).value();
  if (interner) interner->terms.Insert(std::move(key), p->terms_ptr);
  return PodInfoPtr(std::move(p));
}

StatusOr<NodeInfo> ParseNode(const JsonValue& node) {
  NodeInfo n;
  if (const JsonValue* meta = Member(node, "metadata")) {
    n.name = Str(Member(*meta, "name"));
    n.labels = ParseLabels(Member(*meta, "labels"));
  }
  if (n.name.empty()) return Status::Invalid("node without metadata.name");
  n.IndexLabels();
  if (const JsonValue* spec = Member(node, "spec")) {
    n.unschedulable = GetBool(*spec, "unschedulable").value_or(false);
    if (const JsonValue* ts = Member(*spec, "taints"); ts && ts->IsArray()) {
      for (const auto& t : ts->GetArray()) {
        Taint taint;
        taint.key = Str(Member(t, "key"));
        taint.value = Str(Member(t, "value"));
        taint.effect = ParseEffect(GetString(t, "effect").value_or("")).value_or(TaintEffect::kOther);
        n.taints.push_back(std::move(taint));
      }
    }
  }
  std::string ready;
  if (const JsonValue* st = Member(node, "status")) {
    if (const JsonValue* conds = Member(*st, "conditions"); conds && conds->IsArray()) {
      for (const auto& c : conds->GetArray()) {
        if (GetString(c, "type") == "Ready") ready = Str(Member(c, "status"));
      }
    }
    const JsonValue* alloc = Member(*st, "allocatable");
    MINIK_RETURN_IF_ERROR(AddResourceList(alloc, &n.allocatable, "status.allocatable"));
    if (alloc) {
      if (const JsonValue* pods = Member(*alloc, "pods")) n.allowed_pods = QuantityValue(*pods).value_or(0);
    }
  }
  // A node that is not Ready carries the taint the node lifecycle controller would add.
  if (ready != "True") {
    const char* key = ready == "Unknown" ? "node.kubernetes.io/unreachable" : "node.kubernetes.io/not-ready";
    bool present = std::any_of(n.taints.begin(), n.taints.end(), [&](const Taint& t) {
      return t.key == key && t.effect == TaintEffect::kNoSchedule;
    });
    if (!present) n.taints.push_back(Taint{key, "", TaintEffect::kNoSchedule});
  }
  return n;
}

StatusOr<PdbInfo> ParsePdb(const JsonValue& pdb) {
  PdbInfo out;
  if (const JsonValue* meta = Member(pdb, "metadata")) out.namespace_ = Str(Member(*meta, "namespace"));
  if (out.namespace_.empty()) out.namespace_ = "default";
  const JsonValue* sel = Path(pdb, {"spec", "selector"});
  // A PDB with a nil or empty selector matches no pod (as upstream's preemption treats it).
  if (sel && sel->IsObject() && !sel->ObjectEmpty()) {
    auto s = api::LabelSelector::FromLabelSelectorJson(sel);
    if (!s.ok()) return Status::Invalid("pdb selector: " + s.error().message());
    out.selector = s->Empty() ? api::LabelSelector::Nothing() : std::move(s).value();
  } else {
    out.selector = api::LabelSelector::Nothing();
  }
  if (const JsonValue* st = Member(pdb, "status")) {
    out.disruptions_allowed = static_cast<int32_t>(GetInt(*st, "disruptionsAllowed").value_or(0));
    if (const JsonValue* dp = Member(*st, "disruptedPods"); dp && dp->IsObject()) {
      for (auto it = dp->MemberBegin(); it != dp->MemberEnd(); ++it) out.disrupted_pods.emplace_back(it->name.GetString());
    }
  }
  return out;
}

void NodeInfo::IndexLabels() {
  auto h = labels.find("kubernetes.io/hostname");
  hostname_label = h == labels.end() ? std::nullopt : std::optional<std::string>(h->second);
  auto z = labels.find("topology.kubernetes.io/zone");
  zone_label = z == labels.end() ? std::nullopt : std::optional<std::string>(z->second);
}

void NodeInfo::AddPod(PodInfoPtr pod) {
  requested.Add(pod->requests);
  nonzero_milli_cpu += pod->nonzero_milli_cpu;
  nonzero_memory += pod->nonzero_memory;
  for (const auto& hp : pod->host_ports()) {
    auto it = std::find_if(used_ports.begin(), used_ports.end(), [&](const auto& e) { return e.first == hp; });
    if (it != used_ports.end()) ++it->second;
    else used_ports.emplace_back(hp, 1);
  }
  if (pod->HasAffinity()) ++pods_with_affinity;
  if (!pod->required_anti_affinity().empty()) ++pods_with_required_anti_affinity;
  pods.push_back(std::move(pod));
}

bool NodeInfo::RemovePod(std::string_view uid) {
  auto it = std::find_if(pods.begin(), pods.end(), [&](const PodInfoPtr& p) { return p->uid == uid; });
  if (it == pods.end()) return false;
  const PodInfo& pod = **it;
  requested.Add(pod.requests, -1);
  nonzero_milli_cpu -= pod.nonzero_milli_cpu;
  nonzero_memory -= pod.nonzero_memory;
  for (const auto& hp : pod.host_ports()) {
    auto pit = std::find_if(used_ports.begin(), used_ports.end(), [&](const auto& e) { return e.first == hp; });
    if (pit != used_ports.end() && --pit->second == 0) used_ports.erase(pit);
  }
  if (pod.HasAffinity()) --pods_with_affinity;
  if (!pod.required_anti_affinity().empty()) --pods_with_required_anti_affinity;
  // Swap-remove: pod order on a node carries no meaning.
  *it = std::move(pods.back());
  pods.pop_back();
  return true;
}

}  // namespace minik::scheduler
