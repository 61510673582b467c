#include "server/controllers/disruption.h"

#include <algorithm>
#include <map>
#include <optional>
#include <vector>

#include "common/log.h"
#include "server/controllers/util.h"

namespace minik::controllers {
namespace {

constexpr char kComponent[] = "controllermanager";
constexpr char kPodKeyPrefix[] = "pod:";
constexpr int64_t kDeletionTimeoutMs = 2 * 60 * 1000;        // DeletionTimeout
constexpr int64_t kStalePodDisruptionTimeoutMs = 2 * 60 * 1000;  // stalePodDisruptionTimeout

std::string Str(const JsonValue& obj, std::string_view field) { return std::string(GetString(obj, field).value_or("")); }

int64_t MillisBetween(TimePoint from, TimePoint to) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(to - from).count();
}

// The group of an apiVersion ("apps/v1" -> "apps", "v1" -> "").
std::string GroupOf(std::string_view api_version) {
  auto slash = api_version.find('/');
  return slash == std::string_view::npos ? "" : std::string(api_version.substr(0, slash));
}

// A Go %v of a *metav1.LabelSelector (its generated String()).
std::string SelectorGoString(const JsonValue* sel) {
  if (!sel || !sel->IsObject()) return "nil";
  std::string out = "&LabelSelector{MatchLabels:map[string]string{";
  if (const JsonValue* ml = Member(*sel, "matchLabels"); ml && ml->IsObject()) {
    std::map<std::string, std::string> sorted;
    for (const auto& m : ml->GetObject()) sorted[m.name.GetString()] = m.value.IsString() ? m.value.GetString() : "";
    for (const auto& [k, v] : sorted) out += k + ": " + v + ",";
  }
  out += "},MatchExpressions:[]LabelSelectorRequirement{";
  if (const JsonValue* me = Member(*sel, "matchExpressions"); me && me->IsArray()) {
    for (const auto& e : me->GetArray()) {
      out += "LabelSelectorRequirement{Key:" + Str(e, "key") + ",Operator:" + Str(e, "operator") + ",Values:[";
      if (const JsonValue* vs = Member(e, "values"); vs && vs->IsArray()) {
        bool first = true;
        for (const auto& v : vs->GetArray()) {
          if (!first) out += " ";
          first = false;
          out += v.IsString() ? v.GetString() : "";
        }
      }
      out += "],},";
    }
  }
  out += "},}";
  return out;
}

// apimeta.SetStatusCondition on a metav1.Condition list (status.conditions of `status`).
void SetMetaCondition(JsonValue& status, std::string_view type, std::string_view cond_status, std::string_view reason,
                      std::string_view message, int64_t observed_generation, TimePoint now, JsonAlloc& a) {
  JsonValue* conds = MutableMember(status, "conditions");
  if (!conds || !conds->IsArray()) {
    SetMember(status, "conditions", JsonValue(rapidjson::kArrayType), a);
    conds = MutableMember(status, "conditions");
  }
  for (auto& c : conds->GetArray()) {
    if (GetString(c, "type").value_or("") != type) continue;
    if (GetString(c, "status").value_or("") != cond_status) {
      SetString(c, "status", cond_status, a);
      SetString(c, "lastTransitionTime", FormatRFC3339(now), a);
    }
    SetString(c, "reason", reason, a);
    SetString(c, "message", message, a);
    if (observed_generation != 0) SetMember(c, "observedGeneration", JsonValue(observed_generation), a);
    else RemoveMember(c, "observedGeneration");
    return;
  }
  JsonValue c(rapidjson::kObjectType);
  SetString(c, "type", type, a);
  SetString(c, "status", cond_status, a);
  if (observed_generation != 0) c.AddMember("observedGeneration", observed_generation, a);
  SetString(c, "lastTransitionTime", FormatRFC3339(now), a);
  SetString(c, "reason", reason, a);
  SetString(c, "message", message, a);
  conds->PushBack(c, a);
}

JsonDoc ObjectRefOf(std::string_view api_version, std::string_view kind, const JsonValue& obj) {
  JsonDoc d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  SetString(d, "apiVersion", api_version, a);
  SetString(d, "kind", kind, a);
  JsonValue md(rapidjson::kObjectType);
  for (const char* f : {"name", "namespace", "uid", "resourceVersion"}) {
    std::string_view v = client::MetaString(obj, f);
    if (!v.empty()) SetString(md, f, v, a);
  }
  d.AddMember("metadata", md, a);
  return d;
}

class DisruptionController final : public Controller {
 public:
  explicit DisruptionController(Context ctx)
      : Controller(ctx, "disruption"),
        pdbs_(ctx.informers.For(kPodDisruptionBudgets)),
        pods_(ctx.informers.For(kPods)),
        rss_(ctx.informers.For(kReplicaSets)),
        deployments_(ctx.informers.For(kDeployments)),
        statefulsets_(ctx.informers.For(kStatefulSets)),
        rcs_(ctx.informers.For(kReplicationControllers)) {
    client::EventHandlers h;
    h.on_add = [this](const client::ObjectPtr& o) { EnqueueObject(o); };
    h.on_update = [this](const client::ObjectPtr&, const client::ObjectPtr& o) { EnqueueObject(o); };
    h.on_delete = [this](const client::ObjectPtr& o, bool) { EnqueueObject(o); };
    pdbs_.AddEventHandler(h);
    client::EventHandlers ph;
    ph.on_add = [this](const client::ObjectPtr& p) {
      EnqueuePdbsOf(*p);
      MaybeEnqueueStale(*p);
    };
    ph.on_update = [this](const client::ObjectPtr& old, const client::ObjectPtr& p) {
      EnqueuePdbsOf(*p);
      const JsonValue* ol = Labels(*old);
      const JsonValue* nl = Labels(*p);
      if (ol && !(nl && JsonEqual(*ol, *nl))) EnqueuePdbsOf(*old);
      MaybeEnqueueStale(*p);
    };
    ph.on_delete = [this](const client::ObjectPtr& p, bool) { EnqueuePdbsOf(*p); };
    pods_.AddEventHandler(ph);
    // A controller's scale decides percentages and maxUnavailable.
    client::EventHandlers sh;
    sh.on_update = [this](const client::ObjectPtr& old, const client::ObjectPtr& o) {
      const JsonValue* a = Path(*old, {"spec", "replicas"});
      const JsonValue* b = Path(*o, {"spec", "replicas"});
      if (JsonChanged(a, b)) {
        for (const auto& k : pdbs_.IndexKeys(client::kNamespaceIndex, std::string(Namespace(*o)))) Enqueue(k);
      }
    };
    for (auto* inf : {&rss_, &deployments_, &statefulsets_, &rcs_}) inf->AddEventHandler(sh);
  }

  void Reconcile(const std::string& key, Done done) override {
    if (key.rfind(kPodKeyPrefix, 0) == 0) return SyncStalePodDisruption(key.substr(sizeof(kPodKeyPrefix) - 1), std::move(done));
    Sync(key, std::move(done));
  }

 private:
  TimePoint Now() const { return clock().Now(); }

  // Every PDB of the pod's namespace selecting it (upstream enqueues the first one only).
  void EnqueuePdbsOf(const JsonValue& pod) {
    const JsonValue* labels = Labels(pod);
    if (!labels || labels->MemberCount() == 0) return;
    for (const auto& pdb : pdbs_.ByIndex(client::kNamespaceIndex, std::string(Namespace(pod)))) {
      auto sel = api::LabelSelector::FromLabelSelectorJson(Path(*pdb, {"spec", "selector"}));
      if (sel.ok() && sel->Matches(labels)) EnqueueObject(pdb);
    }
  }

  // nonTerminatingPodHasStaleDisruptionCondition: (has it, milliseconds until it is stale).
  std::pair<bool, int64_t> StaleDisruption(const JsonValue& pod) const {
    if (IsBeingDeleted(pod) || IsPodTerminal(pod)) return {false, 0};
    const JsonValue* st = Member(pod, "status");
    const JsonValue* c = st ? FindCondition(*st, "DisruptionTarget") : nullptr;
    if (!c || Str(*c, "status") != "True" || Str(*c, "reason") == "TerminationByKubelet") return {false, 0};
    TimePoint since{};
    ParseRFC3339(GetString(*c, "lastTransitionTime").value_or(""), &since);
    int64_t wait = kStalePodDisruptionTimeoutMs - MillisBetween(since, Now());
    return {true, std::max<int64_t>(wait, 0)};
  }

  void MaybeEnqueueStale(const JsonValue& pod) {
    auto [has, wait] = StaleDisruption(pod);
    if (!has) return;
    std::string key = kPodKeyPrefix + client::ObjectKey(pod);
    if (wait > 0) EnqueueAfter(key, wait);
    else Enqueue(key);
  }

  void SyncStalePodDisruption(const std::string& pod_key, Done done) {
    client::ObjectPtr pod = pods_.Get(pod_key);
    if (!pod) return done(Status::OK());
    auto [has, wait] = StaleDisruption(*pod);
    if (!has) return done(Status::OK());
    if (wait > 0) {
      EnqueueAfter(kPodKeyPrefix + pod_key, wait);
      return done(Status::OK());
    }
    JsonDoc patch(rapidjson::kObjectType);
    auto& a = patch.GetAllocator();
    JsonValue md(rapidjson::kObjectType);
    SetString(md, "resourceVersion", client::MetaString(*pod, "resourceVersion"), a);
    patch.AddMember("metadata", md, a);
    JsonValue conds(rapidjson::kArrayType);
    conds.CopyFrom(*Path(*pod, {"status", "conditions"}), a);
    for (auto& c : conds.GetArray()) {
      if (Str(c, "type") != "DisruptionTarget") continue;
      SetString(c, "status", "False", a);
      SetString(c, "lastTransitionTime", FormatRFC3339(Now()), a);
    }
    JsonValue st(rapidjson::kObjectType);
    st.AddMember("conditions", conds, a);
    patch.AddMember("status", st, a);
    std::string ns, name;
    client::SplitKey(pod_key, &ns, &name);
    ctx_.client.Patch(kPods, ns, name, client::PatchType::kStrategicMerge, ToJson(patch), "status",
                      [done](StatusOr<JsonDoc> r) { done(r.ok() || r.error().IsNotFound() ? Status::OK() : r.error()); });
  }

  struct ControllerScale {
    std::string uid;
    int64_t scale = 0;
  };

  // The finders: ReplicaSet (not owned by a Deployment), Deployment, ReplicationController,
  // StatefulSet. nullopt when the reference matches none.
  StatusOr<std::optional<ControllerScale>> FindController(const JsonValue& ref, const std::string& ns) {
    std::string api_version = Str(ref, "apiVersion"), kind = Str(ref, "kind"), name = Str(ref, "name"), uid = Str(ref, "uid");
    if (std::count(api_version.begin(), api_version.end(), '/') > 1) {
      return Status::BadRequest("unexpected GroupVersion string: " + api_version);
    }
    std::string group = GroupOf(api_version);
    bool apps = group == "apps" || group == "extensions";
    if (kind == "ReplicaSet" && apps) {
      client::ObjectPtr rs = rss_.Get(ns, name);
      if (!rs || Uid(*rs) != uid) return std::optional<ControllerScale>();
      const JsonValue* owner = ControllerRef(*rs);
      if (!owner || Str(*owner, "kind") != "Deployment") {
        return std::optional<ControllerScale>(ControllerScale{uid, IntOr(Path(*rs, {"spec", "replicas"}), 1)});
      }
      // getPodDeployment.
      std::string og = GroupOf(Str(*owner, "apiVersion"));
      if (og != "apps" && og != "extensions") return std::optional<ControllerScale>();
      client::ObjectPtr d = deployments_.Get(ns, Str(*owner, "name"));
      if (!d || Uid(*d) != Str(*owner, "uid")) return std::optional<ControllerScale>();
      return std::optional<ControllerScale>(ControllerScale{std::string(Uid(*d)), IntOr(Path(*d, {"spec", "replicas"}), 1)});
    }
    if (kind == "ReplicationController" && group.empty()) {
      client::ObjectPtr rc = rcs_.Get(ns, name);
      if (!rc || Uid(*rc) != uid) return std::optional<ControllerScale>();
      return std::optional<ControllerScale>(ControllerScale{uid, IntOr(Path(*rc, {"spec", "replicas"}), 1)});
    }
    if (kind == "StatefulSet" && group == "apps") {
      client::ObjectPtr ss = statefulsets_.Get(ns, name);
      if (!ss || Uid(*ss) != uid) return std::optional<ControllerScale>();
      return std::optional<ControllerScale>(ControllerScale{uid, IntOr(Path(*ss, {"spec", "replicas"}), 1)});
    }
    return std::optional<ControllerScale>();
  }

  // getExpectedScale: the sum of the scales of the pods' controllers.
  StatusOr<int64_t> ExpectedScale(const std::vector<client::ObjectPtr>& pods, const std::string& ns,
                                  std::vector<std::string>* unmanaged) {
    std::map<std::string, int64_t> scales;
    for (const auto& pod : pods) {
      const JsonValue* ref = ControllerRef(*pod);
      if (!ref) {
        unmanaged->push_back(std::string(Name(*pod)));
        continue;
      }
      if (scales.count(Str(*ref, "uid"))) continue;
      auto found = FindController(*ref, ns);
      if (!found.ok()) return found.error();
      if (!*found) return Status::Invalid("found no controllers for pod \"" + std::string(Name(*pod)) + "\"");
      scales[(*found)->uid] = (*found)->scale;
    }
    int64_t total = 0;
    for (const auto& [uid, s] : scales) total += s;
    return total;
  }

  struct Expected {
    int64_t expected = 0;
    int64_t desired = 0;
  };

  // getExpectedPodCount.
  StatusOr<Expected> ExpectedPodCount(const JsonValue& pdb, const std::vector<client::ObjectPtr>& pods,
                                      std::vector<std::string>* unmanaged) {
    const std::string ns(Namespace(pdb));
    const JsonValue* max_unavailable = Path(pdb, {"spec", "maxUnavailable"});
    const JsonValue* min_available = Path(pdb, {"spec", "minAvailable"});
    Expected e;
    if (max_unavailable && !max_unavailable->IsNull()) {
      auto scale = ExpectedScale(pods, ns, unmanaged);
      if (!scale.ok()) return scale.error();
      e.expected = *scale;
      auto mu = ScaledValue(max_unavailable, e.expected, true, 0);
      if (!mu.ok()) return mu.error();
      e.desired = std::max<int64_t>(e.expected - *mu, 0);
    } else if (min_available && !min_available->IsNull()) {
      if (min_available->IsInt64()) {
        e.desired = min_available->GetInt64();
        e.expected = static_cast<int64_t>(pods.size());
      } else {
        auto scale = ExpectedScale(pods, ns, unmanaged);
        if (!scale.ok()) return scale.error();
        e.expected = *scale;
        auto ma = ScaledValue(min_available, e.expected, true, 0);
        if (!ma.ok()) return ma.error();
        e.desired = *ma;
      }
    }
    return e;
  }

  void Sync(const std::string& key, Done done) {
    client::ObjectPtr pdb = pdbs_.Get(key);
    if (!pdb) return done(Status::OK());
    std::optional<TimePoint> recheck;
    auto status = ComputeStatus(*pdb, &recheck);
    if (!status.ok()) return FailSafe(*pdb, status.error(), std::move(done));
    WriteStatusIfChanged(*pdb, *status, [this, key, recheck, done](Status st) {
      if (st.ok() && recheck) EnqueueAfter(key, std::max<int64_t>(MillisBetween(Now(), *recheck), 1));
      if (!st.ok() && !st.IsConflict()) {
        // Upstream falls back to the fail-safe status on a write error other than a conflict.
        client::ObjectPtr cur = pdbs_.Get(key);
        if (cur) return FailSafe(*cur, st, done);
      }
      done(st);
    });
  }

  // trySync up to the status: the new status object, or the error for the fail-safe status.
  StatusOr<JsonDoc> ComputeStatus(const JsonValue& pdb, std::optional<TimePoint>* recheck) {
    auto sel = api::LabelSelector::FromLabelSelectorJson(Path(pdb, {"spec", "selector"}));
    if (!sel.ok()) {
      ctx_.events.EventFrom(kComponent, ObjectRefOf("policy/v1", "PodDisruptionBudget", pdb), kEventTypeWarning, "NoPods",
                            "Failed to get pods: " + sel.error().message());
      return sel.error();
    }
    std::vector<client::ObjectPtr> pods;
    for (const auto& p : pods_.ByIndex(client::kNamespaceIndex, std::string(Namespace(pdb)))) {
      if (sel->Matches(Labels(*p))) pods.push_back(p);
    }
    std::sort(pods.begin(), pods.end(), [](const auto& x, const auto& y) { return Name(*x) < Name(*y); });
    if (pods.empty()) {
      ctx_.events.EventFrom(kComponent, ObjectRefOf("policy/v1", "PodDisruptionBudget", pdb), kEventTypeNormal, "NoPods",
                            "No matching pods found");
    }
    std::vector<std::string> unmanaged;
    auto expected = ExpectedPodCount(pdb, pods, &unmanaged);
    if (!expected.ok()) {
      ctx_.events.EventFrom(kComponent, ObjectRefOf("policy/v1", "PodDisruptionBudget", pdb), kEventTypeWarning,
                            "CalculateExpectedPodCountFailed",
                            "Failed to calculate the number of expected pods: " + expected.error().message());
      return expected.error();
    }
    if (!unmanaged.empty()) {
      ctx_.events.EventFrom(kComponent, ObjectRefOf("policy/v1", "PodDisruptionBudget", pdb), kEventTypeWarning,
                            "UnmanagedPods",
                            "Pods selected by this PodDisruptionBudget (selector: " +
                                SelectorGoString(Path(pdb, {"spec", "selector"})) +
                                ") were found to be unmanaged. As a result, the status of the PDB cannot be calculated "
                                "correctly, which may result in undefined behavior. To account for these pods please set "
                                "\".spec.minAvailable\" field of the PDB to an integer value.");
    }

    TimePoint now = Now();
    // buildDisruptedPodMap.
    std::map<std::string, std::string> disrupted;
    const JsonValue* old_disrupted = Path(pdb, {"status", "disruptedPods"});
    if (old_disrupted && old_disrupted->IsObject()) {
      for (const auto& pod : pods) {
        if (IsBeingDeleted(*pod)) continue;
        auto ts = GetString(*old_disrupted, Name(*pod));
        if (!ts) continue;
        TimePoint at{};
        ParseRFC3339(*ts, &at);
        TimePoint expected_deletion = at + std::chrono::milliseconds(kDeletionTimeoutMs);
        if (expected_deletion < now) {
          ctx_.events.EventFrom(kComponent, ObjectRefOf("v1", "Pod", *pod), kEventTypeWarning, "NotDeleted",
                                "Pod was expected by PDB " + std::string(Namespace(pdb)) + "/" +
                                    std::string(Namespace(pdb)) + " to be deleted but it wasn't");
        } else {
          if (!*recheck || expected_deletion < **recheck) *recheck = expected_deletion;
          disrupted[std::string(Name(*pod))] = std::string(*ts);
        }
      }
    }
    // countHealthyPods.
    int64_t healthy = 0;
    for (const auto& pod : pods) {
      if (IsBeingDeleted(*pod)) continue;
      if (disrupted.count(std::string(Name(*pod)))) continue;  // kept only while not timed out
      if (IsPodReady(*pod)) ++healthy;
    }
    int64_t allowed = healthy - expected->desired;
    if (expected->expected <= 0 || allowed <= 0) allowed = 0;
    int64_t generation = GetInt(*Member(pdb, "metadata"), "generation").value_or(0);

    // updatePdbStatus.
    JsonDoc st(rapidjson::kObjectType);
    auto& a = st.GetAllocator();
    if (generation != 0) st.AddMember("observedGeneration", generation, a);
    if (!disrupted.empty()) {
      JsonValue m(rapidjson::kObjectType);
      for (const auto& [pod, ts] : disrupted) SetString(m, pod, ts, a);
      st.AddMember("disruptedPods", m, a);
    }
    st.AddMember("disruptionsAllowed", allowed, a);
    st.AddMember("currentHealthy", healthy, a);
    st.AddMember("desiredHealthy", expected->desired, a);
    st.AddMember("expectedPods", expected->expected, a);
    if (const JsonValue* conds = Path(pdb, {"status", "conditions"}); conds && conds->IsArray()) {
      JsonValue c;
      c.CopyFrom(*conds, a);
      st.AddMember("conditions", c, a);
    }
    // UpdateDisruptionAllowedCondition.
    if (allowed > 0) SetMetaCondition(st, "DisruptionAllowed", "True", "SufficientPods", "", generation, now, a);
    else SetMetaCondition(st, "DisruptionAllowed", "False", "InsufficientPods", "", generation, now, a);
    return st;
  }

  void WriteStatusIfChanged(const JsonValue& pdb, const JsonValue& status, std::function<void(Status)> cb) {
    const JsonValue* old = Member(pdb, "status");
    if (old && JsonEqual(*old, status)) return cb(Status::OK());
    JsonDoc doc;
    doc.CopyFrom(pdb, doc.GetAllocator());
    SetMember(doc, "status", Clone(status, doc.GetAllocator()), doc.GetAllocator());
    ctx_.client.Update(kPodDisruptionBudgets, std::string(Namespace(pdb)), doc, "status",
                       [cb](StatusOr<JsonDoc> r) { cb(r.ok() || r.error().IsNotFound() ? Status::OK() : r.error()); });
  }

  // failSafe: disruptionsAllowed 0 and DisruptionAllowed False/SyncFailed with the error.
  void FailSafe(const JsonValue& pdb, const Status& err, Done done) {
    JsonDoc st(rapidjson::kObjectType);
    auto& a = st.GetAllocator();
    if (const JsonValue* old = Member(pdb, "status")) st.CopyFrom(*old, a);
    SetMember(st, "disruptionsAllowed", JsonValue(int64_t{0}), a);
    int64_t observed = GetInt(st, "observedGeneration").value_or(0);
    SetMetaCondition(st, "DisruptionAllowed", "False", "SyncFailed", err.message(), observed, Now(), a);
    MINIK_LOG(Warning) << "disruption: failed to sync PDB " << client::ObjectKey(pdb) << ": " << err.ToString();
    WriteStatusIfChanged(pdb, st, std::move(done));
  }

  client::Informer& pdbs_;
  client::Informer& pods_;
  client::Informer& rss_;
  client::Informer& deployments_;
  client::Informer& statefulsets_;
  client::Informer& rcs_;
};

}  // namespace

ControllerPtr NewDisruptionController(Context ctx) { return std::make_unique<DisruptionController>(ctx); }

}  // namespace minik::controllers
