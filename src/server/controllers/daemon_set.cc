#include "server/controllers/daemon_set.h"

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <unordered_map>

#include "common/log.h"
#include "server/controllers/controller_history.h"
#include "server/controllers/util.h"

namespace minik::controllers {
namespace {

constexpr char kComponent[] = "daemonset-controller";
constexpr char kKind[] = "DaemonSet";
constexpr char kTemplateGenerationAnnotation[] = "deprecated.daemonset.template.generation";
constexpr char kTemplateGenerationLabel[] = "pod-template-generation";
constexpr size_t kBurstReplicas = 250;
constexpr int64_t kFailedBackoffInitialMs = 1000;
constexpr int64_t kFailedBackoffMaxMs = 15 * 60 * 1000;

using client::ObjectPtr;

std::string Str(std::string_view s) { return std::string(s); }

// ---- scheduling predicates (NodeShouldRunDaemonPod) ------------------------------------------

struct DaemonToleration {
  const char* key;
  const char* effect;
};
// upstream's AddOrUpdateDaemonPodTolerations, in its order.
constexpr DaemonToleration kDaemonTolerations[] = {
    {"node.kubernetes.io/not-ready", "NoExecute"},      {"node.kubernetes.io/unreachable", "NoExecute"},
    {"node.kubernetes.io/disk-pressure", "NoSchedule"}, {"node.kubernetes.io/memory-pressure", "NoSchedule"},
    {"node.kubernetes.io/pid-pressure", "NoSchedule"},  {"node.kubernetes.io/unschedulable", "NoSchedule"},
};
constexpr DaemonToleration kNetworkUnavailable = {"node.kubernetes.io/network-unavailable", "NoSchedule"};

bool Tolerates(const JsonValue& tol, const JsonValue& taint) {
  std::string_view effect = GetString(tol, "effect").value_or("");
  if (!effect.empty() && effect != GetString(taint, "effect").value_or("")) return false;
  std::string_view key = GetString(tol, "key").value_or("");
  if (!key.empty() && key != GetString(taint, "key").value_or("")) return false;
  std::string_view op = GetString(tol, "operator").value_or("");
  if (op.empty() || op == "Equal") return GetString(tol, "value").value_or("") == GetString(taint, "value").value_or("");
  return op == "Exists";
}

bool HostNetwork(const JsonValue& pod_spec) { return GetBool(pod_spec, "hostNetwork").value_or(false); }

// True when some taint with a filtered effect is tolerated neither by the template's
// tolerations nor by the automatic DaemonSet ones.
bool HasUntoleratedTaint(const JsonValue& node, const JsonValue& pod_spec, bool include_no_schedule) {
  const JsonValue* taints = Path(node, {"spec", "taints"});
  if (!taints || !taints->IsArray()) return false;
  const JsonValue* tols = Member(pod_spec, "tolerations");
  bool host_net = HostNetwork(pod_spec);
  for (const auto& t : taints->GetArray()) {
    std::string_view effect = GetString(t, "effect").value_or("");
    if (!(effect == "NoExecute" || (include_no_schedule && effect == "NoSchedule"))) continue;
    bool ok = false;
    if (tols && tols->IsArray()) {
      for (const auto& tol : tols->GetArray()) {
        if (Tolerates(tol, t)) {
          ok = true;
          break;
        }
      }
    }
    std::string_view key = GetString(t, "key").value_or("");
    for (const auto& d : kDaemonTolerations) {
      if (!ok && key == d.key && effect == d.effect) ok = true;
    }
    if (!ok && host_net && key == kNetworkUnavailable.key && effect == kNetworkUnavailable.effect) ok = true;
    if (!ok) return true;
  }
  return false;
}

bool ParseInt64(std::string_view s, int64_t* out) {
  if (s.empty()) return false;
  size_t i = 0;
  bool neg = false;
  if (s[0] == '-' || s[0] == '+') {
    neg = s[0] == '-';
    if (s.size() == 1) return false;
    i = 1;
  }
  int64_t v = 0;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = neg ? -v : v;
  return true;
}

bool RequirementMatches(const JsonValue& req, std::optional<std::string_view> value) {
  std::string_view op = GetString(req, "operator").value_or("");
  const JsonValue* vals = Member(req, "values");
  auto in_values = [&](std::string_view v) {
    if (!vals || !vals->IsArray()) return false;
    for (const auto& x : vals->GetArray()) {
      if (x.IsString() && std::string_view(x.GetString(), x.GetStringLength()) == v) return true;
    }
    return false;
  };
  if (op == "In") return value && in_values(*value);
  if (op == "NotIn") return !value || !in_values(*value);
  if (op == "Exists") return value.has_value();
  if (op == "DoesNotExist") return !value.has_value();
  if (op == "Gt" || op == "Lt") {
    if (!value || !vals || !vals->IsArray() || vals->Size() != 1 || !(*vals)[0].IsString()) return false;
    int64_t have = 0, want = 0;
    if (!ParseInt64(*value, &have) || !ParseInt64((*vals)[0].GetString(), &want)) return false;
    return op == "Gt" ? have > want : have < want;
  }
  return false;
}

bool TermMatches(const JsonValue& term, const JsonValue& node) {
  const JsonValue* exprs = Member(term, "matchExpressions");
  const JsonValue* fields = Member(term, "matchFields");
  bool any = false;
  const JsonValue* labels = Labels(node);
  if (exprs && exprs->IsArray()) {
    for (const auto& r : exprs->GetArray()) {
      any = true;
      std::optional<std::string_view> v;
      if (labels) v = GetString(*labels, GetString(r, "key").value_or(""));
      if (!RequirementMatches(r, v)) return false;
    }
  }
  if (fields && fields->IsArray()) {
    for (const auto& r : fields->GetArray()) {
      any = true;
      if (GetString(r, "key").value_or("") != "metadata.name") return false;
      std::string_view op = GetString(r, "operator").value_or("");
      if (op != "In" && op != "NotIn") return false;
      if (!RequirementMatches(r, Name(node))) return false;
    }
  }
  return any;
}

// nodeaffinity.GetRequiredNodeAffinity(pod).Match(node): nodeSelector and the required terms.
bool NodeMatchesAffinity(const JsonValue& pod_spec, const JsonValue& node) {
  if (const JsonValue* sel = Member(pod_spec, "nodeSelector"); sel && sel->IsObject()) {
    const JsonValue* labels = Labels(node);
    for (const auto& m : sel->GetObject()) {
      if (!labels) return false;
      auto v = GetString(*labels, m.name.GetString());
      if (!v || !m.value.IsString() || *v != m.value.GetString()) return false;
    }
  }
  const JsonValue* req = Path(pod_spec, {"affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution"});
  if (!req || !req->IsObject()) return true;
  const JsonValue* terms = Member(*req, "nodeSelectorTerms");
  if (!terms || !terms->IsArray()) return false;
  for (const auto& t : terms->GetArray()) {
    if (TermMatches(t, node)) return true;
  }
  return false;
}

struct Fit {
  bool should_run = false;
  bool should_continue = false;
  bool operator==(const Fit&) const = default;
};

const JsonValue& TemplateSpec(const JsonValue& ds) {
  static const JsonValue kEmpty(rapidjson::kObjectType);
  const JsonValue* s = Path(ds, {"spec", "template", "spec"});
  return s && s->IsObject() ? *s : kEmpty;
}

Fit NodeShouldRunDaemonPod(const JsonValue& node, const JsonValue& ds) {
  const JsonValue& spec = TemplateSpec(ds);
  std::string_view node_name = GetString(spec, "nodeName").value_or("");
  if (!node_name.empty() && node_name != Name(node)) return {};
  if (!NodeMatchesAffinity(spec, node)) return {};
  if (HasUntoleratedTaint(node, spec, true)) return {false, !HasUntoleratedTaint(node, spec, false)};
  return {true, true};
}

// ---- pods --------------------------------------------------------------------------------

// GetTargetNodeName: spec.nodeName, or the single metadata.name In value of the required affinity.
std::optional<std::string> TargetNodeName(const JsonValue& pod) {
  std::string_view nn;
  if (const JsonValue* spec = Member(pod, "spec")) nn = GetString(*spec, "nodeName").value_or("");
  if (!nn.empty()) return Str(nn);
  const JsonValue* terms =
      Path(pod, {"spec", "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms"});
  if (!terms || !terms->IsArray()) return std::nullopt;
  for (const auto& t : terms->GetArray()) {
    const JsonValue* fields = Member(t, "matchFields");
    if (!fields || !fields->IsArray()) continue;
    for (const auto& f : fields->GetArray()) {
      if (GetString(f, "key").value_or("") == "metadata.name" && GetString(f, "operator").value_or("") == "In") {
        const JsonValue* vals = Member(f, "values");
        if (!vals || !vals->IsArray() || vals->Size() != 1 || !(*vals)[0].IsString()) return std::nullopt;
        return Str((*vals)[0].GetString());
      }
    }
  }
  return std::nullopt;
}

std::string_view PodNodeName(const JsonValue& pod) {
  const JsonValue* spec = Member(pod, "spec");
  return spec ? GetString(*spec, "nodeName").value_or("") : std::string_view();
}

// podByCreationTimestampAndPhase: scheduled first, then oldest, then by name.
void SortPodsOldestFirst(std::vector<ObjectPtr>& pods) {
  std::stable_sort(pods.begin(), pods.end(), [](const ObjectPtr& a, const ObjectPtr& b) {
    bool sa = !PodNodeName(*a).empty(), sb = !PodNodeName(*b).empty();
    if (sa != sb) return sa;
    TimePoint ta{}, tb{};
    ParseRFC3339(client::MetaString(*a, "creationTimestamp"), &ta);
    ParseRFC3339(client::MetaString(*b, "creationTimestamp"), &tb);
    if (ta != tb) return ta < tb;
    return Name(*a) < Name(*b);
  });
}

std::string_view PodLabel(const JsonValue& pod, std::string_view key) {
  const JsonValue* l = Labels(pod);
  return l ? GetString(*l, key).value_or("") : std::string_view();
}

bool IsPodUpdated(const JsonValue& pod, std::string_view hash) {
  // upstream also compares pod-template-generation, but formats a pointer there, so only the
  // hash ever matches.
  return !hash.empty() && PodLabel(pod, history::kHashLabel) == hash;
}

std::string_view UpdateStrategyType(const JsonValue& ds) {
  const JsonValue* s = Path(ds, {"spec", "updateStrategy"});
  return s ? GetString(*s, "type").value_or("RollingUpdate") : std::string_view("RollingUpdate");
}

int64_t SurgeCount(const JsonValue& ds, int64_t n) {
  if (UpdateStrategyType(ds) != "RollingUpdate") return 0;
  const JsonValue* ru = Path(ds, {"spec", "updateStrategy", "rollingUpdate"});
  if (!ru) return 0;
  auto v = ScaledValue(Member(*ru, "maxSurge"), n, true, 0);
  return v.ok() ? *v : 0;
}

StatusOr<int64_t> UnavailableCount(const JsonValue& ds, int64_t n) {
  if (UpdateStrategyType(ds) != "RollingUpdate") return int64_t{0};
  const JsonValue* ru = Path(ds, {"spec", "updateStrategy", "rollingUpdate"});
  if (!ru) return int64_t{0};
  return ScaledValue(Member(*ru, "maxUnavailable"), n, true, 1);
}

int64_t MinReadySeconds(const JsonValue& ds) { return IntOr(Path(ds, {"spec", "minReadySeconds"}), 0); }

// A small object naming the DaemonSet for events.
JsonDoc EventRef(const JsonValue& ds) { return ObjectEventRef(ds, "apps/v1", kKind); }

// CreatePodTemplate: the template with the DaemonSet tolerations, the hash label (and the
// template generation label when the deprecated annotation is set).
JsonDoc DaemonPodTemplate(const JsonValue& ds, std::string_view hash) {
  JsonDoc t(rapidjson::kObjectType);
  auto& a = t.GetAllocator();
  if (const JsonValue* src = Path(ds, {"spec", "template"}); src && src->IsObject()) t.CopyFrom(*src, a);
  JsonValue& spec = EnsureObject(t, "spec", a);
  JsonValue* tols = MutableMember(spec, "tolerations");
  if (!tols || !tols->IsArray()) {
    SetMember(spec, "tolerations", JsonValue(rapidjson::kArrayType), a);
    tols = MutableMember(spec, "tolerations");
  }
  auto add = [&](const DaemonToleration& d) {
    for (const auto& x : tols->GetArray()) {
      if (GetString(x, "key").value_or("") == d.key && GetString(x, "effect").value_or("") == d.effect &&
          GetString(x, "operator").value_or("") == "Exists" && GetString(x, "value").value_or("").empty() &&
          !Member(x, "tolerationSeconds")) {
        return;  // already there, identical
      }
    }
    JsonValue tol(rapidjson::kObjectType);
    SetString(tol, "key", d.key, a);
    SetString(tol, "operator", "Exists", a);
    SetString(tol, "effect", d.effect, a);
    tols->PushBack(tol, a);
  };
  for (const auto& d : kDaemonTolerations) add(d);
  if (HostNetwork(spec)) add(kNetworkUnavailable);
  JsonValue& labels = EnsureObject(EnsureObject(t, "metadata", a), "labels", a);
  if (auto gen = Annotation(ds, kTemplateGenerationAnnotation)) {
    int64_t g = 0;
    if (ParseInt64(*gen, &g)) SetString(labels, kTemplateGenerationLabel, std::to_string(g), a);
  }
  if (!hash.empty()) SetString(labels, history::kHashLabel, hash, a);
  return t;
}

// ReplaceDaemonSetPodNodeNameNodeAffinity.
void SetNodeAffinity(JsonValue& spec, std::string_view node, JsonAlloc& a) {
  JsonValue req(rapidjson::kObjectType);
  SetString(req, "key", "metadata.name", a);
  SetString(req, "operator", "In", a);
  JsonValue vals(rapidjson::kArrayType);
  vals.PushBack(MakeString(node, a), a);
  req.AddMember("values", vals, a);
  JsonValue fields(rapidjson::kArrayType);
  fields.PushBack(req, a);
  JsonValue term(rapidjson::kObjectType);
  term.AddMember("matchFields", fields, a);
  JsonValue terms(rapidjson::kArrayType);
  terms.PushBack(term, a);
  JsonValue& aff = EnsureObject(spec, "affinity", a);
  JsonValue& na = EnsureObject(aff, "nodeAffinity", a);
  JsonValue& rd = EnsureObject(na, "requiredDuringSchedulingIgnoredDuringExecution", a);
  SetMember(rd, "nodeSelectorTerms", std::move(terms), a);
}

bool HasNamespaceTerminatingCause(const Status& st) {
  const StatusDetails* d = st.details();
  if (!d) return false;
  for (const auto& c : d->causes) {
    if (c.reason == "NamespaceTerminating") return true;
  }
  return false;
}

// Whether a node update may change which DaemonSets run there (shouldIgnoreNodeUpdate).
bool SameTrueConditions(const JsonValue& a, const JsonValue& b) {
  auto trues = [](const JsonValue& n) {
    std::set<std::string> out;
    const JsonValue* c = Path(n, {"status", "conditions"});
    if (c && c->IsArray()) {
      for (const auto& x : c->GetArray()) {
        if (GetString(x, "status").value_or("") == "True") out.insert(Str(GetString(x, "type").value_or("")));
      }
    }
    return out;
  };
  return trues(a) == trues(b);
}

JsonDoc NodeWithoutVolatile(const JsonValue& n) {
  JsonDoc d;
  d.CopyFrom(n, d.GetAllocator());
  if (JsonValue* md = MutableMember(d, "metadata")) {
    RemoveMember(*md, "resourceVersion");
    RemoveMember(*md, "managedFields");
  }
  if (JsonValue* st = MutableMember(d, "status")) RemoveMember(*st, "conditions");
  return d;
}

bool ShouldIgnoreNodeUpdate(const JsonValue& old_node, const JsonValue& cur_node) {
  if (!SameTrueConditions(old_node, cur_node)) return false;
  return JsonEqual(NodeWithoutVolatile(old_node), NodeWithoutVolatile(cur_node));
}

// ---- the controller ----------------------------------------------------------------------

class DaemonSetController final : public Controller {
 public:
  explicit DaemonSetController(Context ctx)
      : Controller(ctx, "daemonset"),
        dss_(ctx.informers.For(kDaemonSets)),
        pods_(ctx.informers.For(kPods)),
        nodes_(ctx.informers.For(kNodes)),
        revs_(ctx.informers.For(kControllerRevisions)),
        expectations_(ctx.timers.clock()),
        alive_(std::make_shared<bool>(true)) {
    client::EventHandlers dh;
    dh.on_add = [this](const ObjectPtr& o) { EnqueueObject(o); };
    dh.on_update = [this](const ObjectPtr&, const ObjectPtr& o) { EnqueueObject(o); };
    dh.on_delete = [this](const ObjectPtr& o, bool) {
      expectations_.Delete(client::ObjectKey(*o));
      EnqueueObject(o);
    };
    dss_.AddEventHandler(std::move(dh));

    client::EventHandlers ph;
    ph.on_add = [this](const ObjectPtr& p) { OnPodAdd(p); };
    ph.on_update = [this](const ObjectPtr& o, const ObjectPtr& p) { OnPodUpdate(o, p); };
    ph.on_delete = [this](const ObjectPtr& p, bool) { OnPodDelete(p); };
    pods_.AddEventHandler(std::move(ph));

    client::EventHandlers nh;
    nh.on_add = [this](const ObjectPtr& n) {
      for (const auto& ds : dss_.List()) {
        if (NodeShouldRunDaemonPod(*n, *ds).should_run) EnqueueObject(ds);
      }
    };
    nh.on_update = [this](const ObjectPtr& o, const ObjectPtr& n) {
      if (ShouldIgnoreNodeUpdate(*o, *n)) return;
      for (const auto& ds : dss_.List()) {
        if (!(NodeShouldRunDaemonPod(*o, *ds) == NodeShouldRunDaemonPod(*n, *ds))) EnqueueObject(ds);
      }
    };
    // Not in upstream (it waits for the pod GC): refreshes the counts at once.
    nh.on_delete = [this](const ObjectPtr& n, bool) {
      for (const auto& ds : dss_.List()) {
        if (NodeShouldRunDaemonPod(*n, *ds).should_continue) EnqueueObject(ds);
      }
    };
    nodes_.AddEventHandler(std::move(nh));

    client::EventHandlers rh;
    rh.on_add = [this](const ObjectPtr& r) {
      if (IsBeingDeleted(*r)) return OnRevisionDelete(r);
      if (ControllerRef(*r)) return;  // observed; nothing to do
      for (const auto& ds : SetsSelecting(*r)) EnqueueObject(ds);
    };
    rh.on_update = [this](const ObjectPtr& o, const ObjectPtr& r) {
      if (client::MetaString(*o, "resourceVersion") == client::MetaString(*r, "resourceVersion")) return;
      for (const auto& ds : OwnersOnControlleeUpdate(dss_, kKind, *o, *r).wake) EnqueueObject(ds);
    };
    rh.on_delete = [this](const ObjectPtr& r, bool) { OnRevisionDelete(r); };
    revs_.AddEventHandler(std::move(rh));
  }

  ~DaemonSetController() override { *alive_ = false; }

  void Reconcile(const std::string& key, Done done) override;

 private:
  struct Sync {
    std::string key;
    ObjectPtr ds;
    Done done;
    api::LabelSelector selector;
    std::vector<ObjectPtr> nodes;
    std::string hash;
    std::vector<ObjectPtr> old;
  };
  using SyncPtr = std::shared_ptr<Sync>;
  using NodePods = std::map<std::string, std::vector<ObjectPtr>>;
  using StatusCb = std::function<void(Status)>;

  // Runs f only while the controller lives.
  template <typename F>
  auto Guard(F f) {
    return WhileAlive(alive_, std::move(f));
  }

  void Event(const JsonValue& ds, std::string_view type, std::string_view reason, std::string_view msg) {
    ctx_.events.EventFrom(kComponent, EventRef(ds), type, reason, msg);
  }

  ObjectPtr Resolve(std::string_view ns, const JsonValue& ref) { return ResolveControllerRef(dss_, kKind, ns, ref); }
  std::vector<ObjectPtr> SetsSelecting(const JsonValue& obj) { return OwnersSelecting(dss_, obj); }

  void OnPodAdd(const ObjectPtr& pod) {
    if (IsBeingDeleted(*pod)) return OnPodDelete(pod);
    if (const JsonValue* ref = ControllerRef(*pod)) {
      if (auto ds = Resolve(Namespace(*pod), *ref)) {
        expectations_.CreationObserved(client::ObjectKey(*ds));
        EnqueueObject(ds);
      }
      return;
    }
    for (const auto& ds : SetsSelecting(*pod)) EnqueueObject(ds);
  }
  void OnPodUpdate(const ObjectPtr& old, const ObjectPtr& cur) {
    if (client::MetaString(*old, "resourceVersion") == client::MetaString(*cur, "resourceVersion")) return;
    if (IsBeingDeleted(*cur)) return OnPodDelete(cur);
    auto u = OwnersOnControlleeUpdate(dss_, kKind, *old, *cur);
    for (const auto& ds : u.wake) EnqueueObject(ds);
    if (u.available_recheck_ms > 0) EnqueueAfter(client::ObjectKey(*u.controller), u.available_recheck_ms);
  }
  void OnPodDelete(const ObjectPtr& pod) {
    const JsonValue* ref = ControllerRef(*pod);
    if (!ref) return;
    if (auto ds = Resolve(Namespace(*pod), *ref)) {
      expectations_.DeletionObserved(client::ObjectKey(*ds));
      EnqueueObject(ds);
    }
  }
  void OnRevisionDelete(const ObjectPtr& r) {
    const JsonValue* ref = ControllerRef(*r);
    if (!ref) return;
    if (auto ds = Resolve(Namespace(*r), *ref)) EnqueueObject(ds);
  }

  // The DaemonSet's pods (controlled by it) grouped by target node.
  NodePods NodesToDaemonPods(const JsonValue& ds, bool include_deleted_terminal) const {
    NodePods out;
    for (const auto& p : pods_.ByIndex(client::kOwnerIndex, Str(Uid(ds)))) {
      if (Namespace(*p) != Namespace(ds)) continue;
      if (!include_deleted_terminal && IsPodTerminal(*p) && IsBeingDeleted(*p)) continue;
      auto node = TargetNodeName(*p);
      if (!node) continue;
      out[*node].push_back(p);
    }
    return out;
  }

  void AdoptOrphans(const SyncPtr& s, StatusCb next);
  void ConstructHistory(const SyncPtr& s, StatusCb next);
  void Snapshot(const SyncPtr& s, const JsonValue& patch, int64_t revision, StatusCb next);
  void Dedup(const SyncPtr& s, std::vector<ObjectPtr> current, int64_t curr_revision, StatusCb next);
  void Manage(const SyncPtr& s, StatusCb next);
  void RollingUpdate(const SyncPtr& s, StatusCb next);
  void SyncNodes(const SyncPtr& s, std::vector<std::string> to_delete, std::vector<std::string> to_create,
                 StatusCb next);
  void CreateBatch(const SyncPtr& s, std::shared_ptr<JsonDoc> tmpl, std::shared_ptr<std::vector<std::string>> nodes,
                   size_t pos, size_t batch, std::shared_ptr<Join> outer);
  void CleanupHistory(const SyncPtr& s, StatusCb next);
  void UpdateStatus(const SyncPtr& s, bool observed_gen, StatusCb next);

  // Failed-pod backoff (flowcontrol.Backoff, 1 s doubling to 15 min).
  struct BackoffEntry {
    int64_t delay_ms = 0;
    int64_t last_ms = 0;
  };
  std::unordered_map<std::string, BackoffEntry> failed_backoff_;
  int64_t last_backoff_gc_ms_ = 0;

  client::Informer& dss_;
  client::Informer& pods_;
  client::Informer& nodes_;
  client::Informer& revs_;
  Expectations expectations_;
  std::shared_ptr<bool> alive_;
};

void DaemonSetController::Reconcile(const std::string& key, Done done) {
  // Forget failed-pod backoffs unused for twice the maximum delay (Backoff.GC, once a minute).
  if (int64_t now = clock().MonotonicMillis(); now - last_backoff_gc_ms_ >= 60 * 1000) {
    last_backoff_gc_ms_ = now;
    std::erase_if(failed_backoff_, [now](const auto& e) { return now - e.second.last_ms > 2 * kFailedBackoffMaxMs; });
  }
  auto ds = dss_.Get(key);
  if (!ds) {
    expectations_.Delete(key);
    done(Status::OK());
    return;
  }
  const JsonValue* sel_json = Path(*ds, {"spec", "selector"});
  if (sel_json && sel_json->IsObject() && sel_json->MemberCount() == 0) {
    Event(*ds, kEventTypeWarning, "SelectingAll", "This daemon set is selecting all pods. A non-empty selector is required.");
    done(Status::OK());
    return;
  }
  auto sel = api::LabelSelector::FromLabelSelectorJson(sel_json);
  if (!sel.ok()) {
    done(sel.error());
    return;
  }
  if (IsBeingDeleted(*ds)) {
    done(Status::OK());
    return;
  }
  auto s = std::make_shared<Sync>();
  s->key = key;
  s->ds = ds;
  s->done = std::move(done);
  s->selector = *sel;
  s->nodes = nodes_.List();
  std::sort(s->nodes.begin(), s->nodes.end(), [](const ObjectPtr& a, const ObjectPtr& b) { return Name(*a) < Name(*b); });

  AdoptOrphans(s, Guard([this, s](Status st) {
    if (!st.ok()) return s->done(st);
    ConstructHistory(s, Guard([this, s](Status st) {
      if (!st.ok()) return s->done(st.WithContext("failed to construct revisions of DaemonSet"));
      if (!expectations_.Satisfied(s->key)) {
        // Only the status; observedGeneration stays (this generation was not processed).
        return UpdateStatus(s, false, [s](Status st) { s->done(st); });
      }
      Manage(s, Guard([this, s](Status st) {
        auto finish = Guard([this, s](Status err) {
          UpdateStatus(s, true, [s, err](Status st) { s->done(!err.ok() ? err : st); });
        });
        if (!st.ok()) return finish(st);
        auto cleanup = Guard([this, s, finish](Status st) mutable {
          if (!st.ok()) return finish(st);
          CleanupHistory(s, [finish](Status st) mutable {
            finish(st.ok() ? st : st.WithContext("failed to clean up revisions of DaemonSet"));
          });
        });
        if (expectations_.Satisfied(s->key) && UpdateStrategyType(*s->ds) == "RollingUpdate") {
          return RollingUpdate(s, cleanup);
        }
        cleanup(Status::OK());
      }));
    }));
  }));
}

// ClaimPods' adoption: orphans matching the selector get our controller reference.
void DaemonSetController::AdoptOrphans(const SyncPtr& s, StatusCb next) {
  auto join = Join::Make(std::move(next));
  for (const auto& p : pods_.ByIndex(client::kNamespaceIndex, Str(Namespace(*s->ds)))) {
    if (ControllerRef(*p) || IsBeingDeleted(*p) || !s->selector.Matches(Labels(*p))) continue;
    ctx_.client.Patch(kPods, Str(Namespace(*p)), Str(Name(*p)), client::PatchType::kStrategicMerge,
                      history::AdoptPatch(*s->ds, kKind, Uid(*p)), "",
                      join->AddObject([](const Status& st) { return st.IsNotFound(); }));
  }
  join->Finish();
}

void DaemonSetController::ConstructHistory(const SyncPtr& s, StatusCb next) {
  auto listed = history::ListRevisions(revs_, *s->ds, s->selector);
  auto all = std::make_shared<std::vector<ObjectPtr>>(listed.owned);
  auto adopted = std::make_shared<std::vector<ObjectPtr>>();
  // Then: add the hash label where it is missing (the name stands in for the hash), then
  // split the revisions into the current one(s) and the old ones.
  auto label = Guard([this, s, all, adopted, next](Status st) mutable {
    if (!st.ok()) return next(st);
    all->insert(all->end(), adopted->begin(), adopted->end());
    auto labelled = std::make_shared<std::vector<ObjectPtr>>(*all);
    auto split = Join::Make(Guard([this, s, labelled, next](Status st) mutable {
      if (!st.ok()) return next(st);
      JsonDoc patch = history::TemplatePatch(*s->ds);
      std::vector<ObjectPtr> current;
      s->old.clear();
      for (const auto& r : *labelled) {
        if (history::DataMatches(*r, patch)) current.push_back(r);
        else s->old.push_back(r);
      }
      int64_t curr_revision = history::MaxRevision(s->old) + 1;
      if (current.empty()) return Snapshot(s, patch, curr_revision, next);
      Dedup(s, std::move(current), curr_revision, next);
    }));
    for (size_t i = 0; i < labelled->size(); ++i) {
      const ObjectPtr& r = (*labelled)[i];
      const JsonValue* l = Labels(*r);
      if (l && GetString(*l, history::kHashLabel)) continue;
      JsonDoc upd;
      upd.CopyFrom(*r, upd.GetAllocator());
      auto& a = upd.GetAllocator();
      SetString(EnsureObject(EnsureObject(upd, "metadata", a), "labels", a), history::kHashLabel, Name(*r), a);
      ctx_.client.Update(kControllerRevisions, Str(Namespace(*r)), upd, "",
                         [labelled, i, cb = split->Add()](StatusOr<JsonDoc> res) {
                           if (!res.ok()) return cb(res.error());
                           (*labelled)[i] = std::make_shared<const JsonDoc>(std::move(*res));
                           cb(Status::OK());
                         });
    }
    split->Finish();
  });
  // First: adopt the orphans.
  auto join = Join::Make(std::move(label));
  for (const auto& r : listed.orphans) {
    ctx_.client.Patch(kControllerRevisions, Str(Namespace(*r)), Str(Name(*r)), client::PatchType::kStrategicMerge,
                      history::AdoptPatch(*s->ds, kKind, Uid(*r)), "",
                      [adopted, cb = join->Add()](StatusOr<JsonDoc> res) {
                        if (res.ok()) adopted->push_back(std::make_shared<const JsonDoc>(std::move(*res)));
                        cb(res.ok() || res.error().IsNotFound() ? Status::OK() : res.error());
                      });
  }
  join->Finish();
}

void DaemonSetController::Snapshot(const SyncPtr& s, const JsonValue& patch, int64_t revision, StatusCb next) {
  std::optional<int32_t> collision;
  if (const JsonValue* c = Path(*s->ds, {"status", "collisionCount"}); c && c->IsInt()) collision = c->GetInt();
  const JsonValue* tmpl = Path(*s->ds, {"spec", "template"});
  JsonValue empty(rapidjson::kObjectType);
  std::string hash = ComputeHash(tmpl ? *tmpl : empty, collision);
  JsonDoc cr = history::NewRevision(*s->ds, kKind, patch, revision, hash);
  history::CreateRevision(ctx_.client, cr, Guard([this, s, hash, collision, next](StatusOr<JsonDoc> r) mutable {
    if (r.ok()) {
      const JsonValue* l = Labels(*r);
      s->hash = Str(l ? GetString(*l, history::kHashLabel).value_or(hash) : std::string_view(hash));
      return next(Status::OK());
    }
    if (!r.error().IsAlreadyExists()) return next(r.error());
    // A hash collision: bump status.collisionCount on the latest DaemonSet and retry later.
    Status outer = r.error();
    ctx_.client.Get(kDaemonSets, Str(Namespace(*s->ds)), Str(Name(*s->ds)),
                    Guard([this, s, collision, outer, next](StatusOr<JsonDoc> fresh) mutable {
                      if (!fresh.ok()) return next(fresh.error());
                      std::optional<int32_t> cur;
                      if (const JsonValue* c = Path(*fresh, {"status", "collisionCount"}); c && c->IsInt()) cur = c->GetInt();
                      if (cur != collision) {
                        return next(Status::Conflict("found a stale collision count (" +
                                                     std::to_string(collision.value_or(0)) + ", expected " +
                                                     std::to_string(cur.value_or(0)) + ") of DaemonSet \"" +
                                                     Str(Name(*s->ds)) + "\" while processing; will retry until it is updated"));
                      }
                      auto& a = fresh->GetAllocator();
                      SetMember(EnsureObject(*fresh, "status", a), "collisionCount", JsonValue(cur.value_or(0) + 1), a);
                      MINIK_LOG(Info) << "daemonset " << s->key << ": hash collision, bumping collisionCount to "
                                      << cur.value_or(0) + 1;
                      ctx_.client.Update(kDaemonSets, Str(Namespace(*s->ds)), *fresh, "status",
                                         [outer, next](StatusOr<JsonDoc> u) mutable {
                                           next(u.ok() ? outer : u.error());
                                         });
                    }));
  }));
}

void DaemonSetController::Dedup(const SyncPtr& s, std::vector<ObjectPtr> current, int64_t curr_revision,
                                StatusCb next) {
  ObjectPtr keep;
  int64_t max_rev = 0;
  for (const auto& c : current) {
    if (history::RevisionNumber(*c) >= max_rev) {
      keep = c;
      max_rev = history::RevisionNumber(*c);
    }
  }
  const JsonValue* kl = Labels(*keep);
  std::string keep_hash = Str(kl ? GetString(*kl, history::kHashLabel).value_or("") : "");
  s->hash = keep_hash;
  auto after = Guard([this, keep, curr_revision, next](Status st) mutable {
    if (!st.ok()) return next(st);
    if (history::RevisionNumber(*keep) >= curr_revision) return next(Status::OK());
    history::UpdateRevisionNumber(ctx_.client, *keep, curr_revision,
                                  [next](StatusOr<JsonDoc> r) mutable { next(r.ok() ? Status::OK() : r.error()); });
  });
  if (current.size() == 1) return after(Status::OK());
  // Relabel the pods, then delete the duplicates.
  auto relabel = Join::Make(Guard([this, current, keep, after](Status st) mutable {
    if (!st.ok()) return after(st);
    auto dels = Join::Make(after);
    for (const auto& c : current) {
      if (Name(*c) == Name(*keep)) continue;
      history::DeleteRevision(ctx_.client, *c, dels->AddObject());
    }
    dels->Finish();
  }));
  for (const auto& p : pods_.ByIndex(client::kOwnerIndex, Str(Uid(*s->ds)))) {
    if (PodLabel(*p, history::kHashLabel) == keep_hash) continue;
    JsonDoc patch(rapidjson::kObjectType);
    auto& a = patch.GetAllocator();
    JsonValue labels(rapidjson::kObjectType);
    SetString(labels, history::kHashLabel, keep_hash, a);
    JsonValue md(rapidjson::kObjectType);
    md.AddMember("labels", labels, a);
    patch.AddMember("metadata", md, a);
    ctx_.client.Patch(kPods, Str(Namespace(*p)), Str(Name(*p)), client::PatchType::kMerge, ToJson(patch), "",
                      relabel->AddObject());
  }
  relabel->Finish();
}

void DaemonSetController::Manage(const SyncPtr& s, StatusCb next) {
  const JsonValue& ds = *s->ds;
  NodePods by_node = NodesToDaemonPods(ds, false);
  std::vector<std::string> to_create, to_delete;
  bool surge = SurgeCount(ds, 1) > 0;
  int64_t now_ms = clock().MonotonicMillis();
  TimePoint now = clock().Now();
  int64_t observed_gen = IntOr(Path(ds, {"status", "observedGeneration"}), 0);
  for (const auto& node : s->nodes) {
    std::string nn = Str(Name(*node));
    Fit fit = NodeShouldRunDaemonPod(*node, ds);
    auto it = by_node.find(nn);
    bool exists = it != by_node.end();
    if (fit.should_run && !exists) {
      to_create.push_back(nn);
      continue;
    }
    if (fit.should_continue) {
      if (!exists) continue;
      std::vector<ObjectPtr> running;
      for (const auto& pod : it->second) {
        if (IsBeingDeleted(*pod)) continue;
        std::string_view phase = PodPhase(*pod);
        if (phase == "Failed") {
          std::string bkey = Str(Uid(ds)) + "/" + std::to_string(observed_gen) + "/" + nn;
          auto& e = failed_backoff_[bkey];
          if (e.delay_ms > 0 && now_ms - e.last_ms < e.delay_ms) {
            EnqueueAfter(s->key, e.delay_ms);
            continue;
          }
          if (e.delay_ms == 0 || now_ms - e.last_ms > 2 * kFailedBackoffMaxMs) e.delay_ms = kFailedBackoffInitialMs;
          else e.delay_ms = std::min(2 * e.delay_ms, kFailedBackoffMaxMs);
          e.last_ms = now_ms;
          Event(ds, kEventTypeWarning, "FailedDaemonPod",
                "Found failed daemon pod " + Str(Namespace(*pod)) + "/" + Str(Name(*pod)) + " on node " + nn +
                    ", will try to kill it");
          to_delete.push_back(Str(Name(*pod)));
        } else if (phase == "Succeeded") {
          Event(ds, kEventTypeNormal, "SucceededDaemonPod",
                "Found succeeded daemon pod " + Str(Namespace(*pod)) + "/" + Str(Name(*pod)) + " on node " + nn +
                    ", will try to delete it");
          to_delete.push_back(Str(Name(*pod)));
        } else {
          running.push_back(pod);
        }
      }
      if (!surge) {
        if (running.size() <= 1) continue;
        SortPodsOldestFirst(running);
        for (size_t i = 1; i < running.size(); ++i) to_delete.push_back(Str(Name(*running[i])));
        continue;
      }
      if (running.size() <= 1) {
        if (running.empty() && fit.should_run) to_create.push_back(nn);
        continue;
      }
      SortPodsOldestFirst(running);
      ObjectPtr oldest_new, oldest_old;
      for (const auto& pod : running) {
        if (IsPodUpdated(*pod, s->hash)) {
          if (!oldest_new) {
            oldest_new = pod;
            continue;
          }
        } else if (!oldest_old) {
          oldest_old = pod;
          continue;
        }
        to_delete.push_back(Str(Name(*pod)));
      }
      if (oldest_new && oldest_old) {
        if (!IsPodReady(*oldest_old)) to_delete.push_back(Str(Name(*oldest_old)));
        else if (IsPodAvailable(*oldest_new, MinReadySeconds(ds), now)) to_delete.push_back(Str(Name(*oldest_old)));
      }
      continue;
    }
    if (exists) {
      for (const auto& pod : it->second) {
        if (!IsBeingDeleted(*pod)) to_delete.push_back(Str(Name(*pod)));
      }
    }
  }
  // Unscheduled pods aimed at nodes that do not exist (the pod GC cannot see them).
  std::set<std::string> existing;
  for (const auto& n : s->nodes) existing.insert(Str(Name(*n)));
  for (const auto& [nn, pods] : by_node) {
    if (existing.count(nn)) continue;
    for (const auto& p : pods) {
      if (PodNodeName(*p).empty()) to_delete.push_back(Str(Name(*p)));
    }
  }
  SyncNodes(s, std::move(to_delete), std::move(to_create), std::move(next));
}

void DaemonSetController::SyncNodes(const SyncPtr& s, std::vector<std::string> to_delete,
                                    std::vector<std::string> to_create, StatusCb next) {
  size_t create_diff = std::min(to_create.size(), kBurstReplicas);
  size_t delete_diff = std::min(to_delete.size(), kBurstReplicas);
  if (create_diff == 0 && delete_diff == 0) return next(Status::OK());
  expectations_.Expect(s->key, static_cast<int64_t>(create_diff), static_cast<int64_t>(delete_diff));
  auto outer = Join::Make(std::move(next));

  if (create_diff > 0) {
    auto tmpl = std::make_shared<JsonDoc>(DaemonPodTemplate(*s->ds, s->hash));
    to_create.resize(create_diff);
    auto nodes = std::make_shared<std::vector<std::string>>(std::move(to_create));
    CreateBatch(s, tmpl, nodes, 0, 1, outer);
  }
  std::string ns(Namespace(*s->ds));
  for (size_t i = 0; i < delete_diff; ++i) {
    std::string pod = to_delete[i];
    ctx_.client.Delete(kPods, ns, pod, client::DeleteOptions{},
                       Guard([this, s, pod, cb = outer->Add()](StatusOr<JsonDoc> r) {
                         if (r.ok()) {
                           Event(*s->ds, kEventTypeNormal, "SuccessfulDelete", "Deleted pod: " + pod);
                           return cb(Status::OK());
                         }
                         expectations_.DeletionObserved(s->key);
                         if (r.error().IsNotFound()) return cb(Status::OK());
                         Event(*s->ds, kEventTypeWarning, "FailedDelete", "Error deleting: " + r.error().message());
                         cb(r.error().WithContext("unable to delete pods"));
                       }));
  }
  outer->Finish();
}

// One slow-start batch of creations (1, 2, 4, ... at once); stops after a batch with failures.
void DaemonSetController::CreateBatch(const SyncPtr& s, std::shared_ptr<JsonDoc> tmpl,
                                      std::shared_ptr<std::vector<std::string>> nodes, size_t pos, size_t batch,
                                      std::shared_ptr<Join> outer) {
  auto done_batch = outer->Add();
  auto failures = std::make_shared<int>(0);
  auto join = Join::Make(Guard([this, s, tmpl, nodes, pos, batch, outer, failures, done_batch](Status st) {
    size_t next_pos = pos + batch;
    size_t remaining = nodes->size() - next_pos;
    if (*failures > 0) {
      if (remaining > 0) expectations_.LowerExpectations(s->key, static_cast<int64_t>(remaining), 0);
      return done_batch(st);
    }
    if (remaining > 0) CreateBatch(s, tmpl, nodes, next_pos, std::min(2 * batch, remaining), outer);
    done_batch(st);
  }));
  std::string ns(Namespace(*s->ds));
  for (size_t i = pos; i < pos + batch; ++i) {
    const std::string& node = (*nodes)[i];
    JsonDoc pod = PodFromTemplate(*tmpl, *s->ds, "apps/v1", kKind, Str(Name(*s->ds)) + "-");
    SetNodeAffinity(EnsureObject(pod, "spec", pod.GetAllocator()), node, pod.GetAllocator());
    ctx_.client.Create(kPods, ns, pod, Guard([this, s, failures, cb = join->Add()](StatusOr<JsonDoc> r) {
                         if (r.ok()) {
                           Event(*s->ds, kEventTypeNormal, "SuccessfulCreate", "Created pod: " + Str(Name(*r)));
                           return cb(Status::OK());
                         }
                         if (HasNamespaceTerminatingCause(r.error())) return cb(Status::OK());
                         Event(*s->ds, kEventTypeWarning, "FailedCreate", "Error creating: " + r.error().message());
                         expectations_.CreationObserved(s->key);
                         ++*failures;
                         cb(r.error());
                       }));
  }
  join->Finish();
}

void DaemonSetController::RollingUpdate(const SyncPtr& s, StatusCb next) {
  const JsonValue& ds = *s->ds;
  NodePods by_node = NodesToDaemonPods(ds, false);
  int64_t desired = 0;
  std::map<std::string, ObjectPtr> node_objs;
  for (const auto& n : s->nodes) {
    node_objs[Str(Name(*n))] = n;
    if (!NodeShouldRunDaemonPod(*n, ds).should_run) continue;
    ++desired;
    by_node.try_emplace(Str(Name(*n)));
  }
  auto max_unavail = UnavailableCount(ds, desired);
  if (!max_unavail.ok()) return next(max_unavail.error().WithContext("couldn't get unavailable numbers: invalid value for MaxUnavailable"));
  int64_t max_unavailable = *max_unavail;
  int64_t max_surge = SurgeCount(ds, desired);
  if (desired > 0 && max_unavailable == 0 && max_surge == 0) max_unavailable = 1;
  TimePoint now = clock().Now();
  int64_t mrs = MinReadySeconds(ds);

  // findUpdatedPodsOnNode: at most one new and one old non-deleted pod, or !ok.
  auto find = [&](const std::vector<ObjectPtr>& pods, ObjectPtr* new_pod, ObjectPtr* old_pod) {
    for (const auto& p : pods) {
      if (IsBeingDeleted(*p)) continue;
      ObjectPtr* slot = IsPodUpdated(*p, s->hash) ? new_pod : old_pod;
      if (*slot) return false;
      *slot = p;
    }
    return true;
  };

  if (max_surge == 0) {
    int64_t num_unavailable = 0;
    std::vector<std::string> allowed, candidates;
    for (const auto& [nn, pods] : by_node) {
      ObjectPtr np, op;
      if (!find(pods, &np, &op)) {
        ++num_unavailable;
        continue;
      }
      if ((!op && !np) || (op && np)) {
        ++num_unavailable;
      } else if (np) {
        if (!IsPodAvailable(*np, mrs, now)) ++num_unavailable;
      } else if (!IsPodAvailable(*op, mrs, now)) {
        allowed.push_back(Str(Name(*op)));
        ++num_unavailable;
      } else if (num_unavailable < max_unavailable) {
        candidates.push_back(Str(Name(*op)));
      }
    }
    int64_t remaining = std::max<int64_t>(max_unavailable - num_unavailable, 0);
    remaining = std::min<int64_t>(remaining, static_cast<int64_t>(candidates.size()));
    for (int64_t i = 0; i < remaining; ++i) allowed.push_back(candidates[static_cast<size_t>(i)]);
    return SyncNodes(s, std::move(allowed), {}, std::move(next));
  }

  std::vector<std::string> old_to_delete, should_not_run, candidate_nodes, allowed_nodes;
  int64_t num_surge = 0, num_available = 0;
  for (const auto& [nn, pods] : by_node) {
    ObjectPtr np, op;
    if (!find(pods, &np, &op)) {
      ++num_surge;
      continue;
    }
    if (op) {
      if (IsPodAvailable(*op, mrs, now)) ++num_available;
    } else if (np && IsPodAvailable(*np, mrs, now)) {
      ++num_available;
    }
    if (!op) continue;
    auto node_it = node_objs.find(nn);
    if (!np) {
      if (node_it == node_objs.end()) return next(Status::NotFound("couldn't get node for nodeName \"" + nn + "\""));
      bool should_run = NodeShouldRunDaemonPod(*node_it->second, ds).should_run;
      if (!IsPodAvailable(*op, mrs, now)) {
        if (!should_run) old_to_delete.push_back(Str(Name(*op)));
        else allowed_nodes.push_back(nn);
      } else {
        if (!should_run) should_not_run.push_back(Str(Name(*op)));
        else if (num_surge < max_surge) candidate_nodes.push_back(nn);
      }
      continue;
    }
    if (!IsPodAvailable(*np, mrs, now)) {
      ++num_surge;
      continue;
    }
    old_to_delete.push_back(Str(Name(*op)));
  }
  int64_t remaining_surge = std::max<int64_t>(max_surge - num_surge, 0);
  if (int64_t deletable = num_available - desired; deletable > 0) {
    deletable = std::min<int64_t>(deletable, static_cast<int64_t>(should_not_run.size()));
    for (int64_t i = 0; i < deletable; ++i) old_to_delete.push_back(should_not_run[static_cast<size_t>(i)]);
  }
  remaining_surge = std::min<int64_t>(remaining_surge, static_cast<int64_t>(candidate_nodes.size()));
  for (int64_t i = 0; i < remaining_surge; ++i) allowed_nodes.push_back(candidate_nodes[static_cast<size_t>(i)]);
  SyncNodes(s, std::move(old_to_delete), std::move(allowed_nodes), std::move(next));
}

void DaemonSetController::CleanupHistory(const SyncPtr& s, StatusCb next) {
  int64_t keep = IntOr(Path(*s->ds, {"spec", "revisionHistoryLimit"}), history::kDefaultRevisionHistoryLimit);
  int64_t to_kill = static_cast<int64_t>(s->old.size()) - keep;
  if (to_kill <= 0) return next(Status::OK());
  std::set<std::string> live;
  for (const auto& [nn, pods] : NodesToDaemonPods(*s->ds, true)) {
    for (const auto& p : pods) {
      std::string_view h = PodLabel(*p, history::kHashLabel);
      if (!h.empty()) live.insert(Str(h));
    }
  }
  std::vector<ObjectPtr> old = s->old;
  history::SortRevisions(old);
  auto join = Join::Make(std::move(next));
  for (const auto& r : old) {
    if (to_kill <= 0) break;
    const JsonValue* l = Labels(*r);
    if (l && live.count(Str(GetString(*l, history::kHashLabel).value_or("")))) continue;
    history::DeleteRevision(ctx_.client, *r, join->AddObject([](const Status& st) { return st.IsNotFound(); }));
    --to_kill;
  }
  join->Finish();
}

void DaemonSetController::UpdateStatus(const SyncPtr& s, bool observed_gen, StatusCb next) {
  const JsonValue& ds = *s->ds;
  NodePods by_node = NodesToDaemonPods(ds, false);
  int64_t desired = 0, current = 0, misscheduled = 0, ready = 0, updated = 0, available = 0;
  TimePoint now = clock().Now();
  int64_t mrs = MinReadySeconds(ds);
  for (const auto& node : s->nodes) {
    bool should_run = NodeShouldRunDaemonPod(*node, ds).should_run;
    auto it = by_node.find(Str(Name(*node)));
    bool scheduled = it != by_node.end() && !it->second.empty();
    if (should_run) {
      ++desired;
      if (!scheduled) continue;
      ++current;
      SortPodsOldestFirst(it->second);
      const JsonValue& pod = *it->second[0];
      if (IsPodReady(pod)) {
        ++ready;
        if (IsPodAvailable(pod, mrs, now)) ++available;
      }
      if (IsPodUpdated(pod, s->hash)) ++updated;
    } else if (scheduled) {
      ++misscheduled;
    }
  }
  int64_t unavailable = desired - available;
  if (mrs > 0 && ready != available) EnqueueAfter(s->key, mrs * 1000);

  const JsonValue* st = Member(ds, "status");
  auto get = [&](const char* f) { return st ? IntOr(Member(*st, f), 0) : 0; };
  int64_t generation = IntOr(Path(ds, {"metadata", "generation"}), 0);
  if (get("desiredNumberScheduled") == desired && get("currentNumberScheduled") == current &&
      get("numberMisscheduled") == misscheduled && get("numberReady") == ready && get("updatedNumberScheduled") == updated &&
      get("numberAvailable") == available && get("numberUnavailable") == unavailable &&
      get("observedGeneration") >= generation) {
    return next(Status::OK());
  }
  auto build = [=](const JsonValue& base) {
    auto doc = std::make_shared<JsonDoc>();
    doc->CopyFrom(base, doc->GetAllocator());
    auto& a = doc->GetAllocator();
    const JsonValue* old = Member(base, "status");
    JsonValue ns(rapidjson::kObjectType);
    ns.AddMember("currentNumberScheduled", JsonValue(current), a);
    ns.AddMember("numberMisscheduled", JsonValue(misscheduled), a);
    ns.AddMember("desiredNumberScheduled", JsonValue(desired), a);
    ns.AddMember("numberReady", JsonValue(ready), a);
    int64_t og = observed_gen ? IntOr(Path(base, {"metadata", "generation"}), 0) : (old ? IntOr(Member(*old, "observedGeneration"), 0) : 0);
    if (og != 0) ns.AddMember("observedGeneration", JsonValue(og), a);
    if (updated != 0) ns.AddMember("updatedNumberScheduled", JsonValue(updated), a);
    if (available != 0) ns.AddMember("numberAvailable", JsonValue(available), a);
    if (unavailable != 0) ns.AddMember("numberUnavailable", JsonValue(unavailable), a);
    if (old) {
      for (const char* f : {"collisionCount", "conditions"}) {
        if (const JsonValue* v = Member(*old, f)) ns.AddMember(JsonValue(f, a), Clone(*v, a), a);
      }
    }
    SetMember(*doc, "status", std::move(ns), a);
    return doc;
  };
  std::string ns(Namespace(ds)), name(Name(ds));
  auto doc = build(ds);
  ctx_.client.Update(kDaemonSets, ns, *doc, "status",
                     Guard([this, ns, name, build, next](StatusOr<JsonDoc> r) mutable {
                       if (r.ok()) return next(Status::OK());
                       // One retry on the latest object (StatusUpdateRetries = 1).
                       ctx_.client.Get(kDaemonSets, ns, name, Guard([this, ns, build, next](StatusOr<JsonDoc> g) mutable {
                         if (!g.ok()) return next(g.error());
                         auto doc = build(*g);
                         ctx_.client.Update(kDaemonSets, ns, *doc, "status", [next](StatusOr<JsonDoc> r) mutable {
                           next(r.ok() ? Status::OK() : r.error());
                         });
                       }));
                     }));
}

}  // namespace

ControllerPtr NewDaemonSetController(Context ctx) { return std::make_unique<DaemonSetController>(ctx); }

}  // namespace minik::controllers
