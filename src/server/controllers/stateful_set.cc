#include "server/controllers/stateful_set.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <memory>
#include <set>

#include "common/log.h"
#include "server/controllers/controller_history.h"
#include "server/controllers/util.h"

namespace minik::controllers {
namespace {

constexpr char kComponent[] = "statefulset-controller";
constexpr char kKind[] = "StatefulSet";
constexpr char kPodNameLabel[] = "statefulset.kubernetes.io/pod-name";
constexpr char kPodIndexLabel[] = "apps.kubernetes.io/pod-index";
constexpr size_t kMaxBatchSize = 500;

using client::ObjectPtr;

std::string Str(std::string_view s) { return std::string(s); }

// "<parent>-<ordinal>" (statefulPodRegex "(.*)-([0-9]+)$"); ordinal -1 when it does not parse.
std::pair<std::string, int64_t> ParentAndOrdinal(std::string_view name) {
  size_t dash = name.rfind('-');
  if (dash == std::string_view::npos || dash + 1 >= name.size()) return {"", -1};
  std::string_view digits = name.substr(dash + 1);
  if (digits.find_first_not_of("0123456789") != std::string_view::npos) return {"", -1};
  int64_t v = 0;
  for (char c : digits) {
    v = v * 10 + (c - '0');
    if (v > INT32_MAX) return {Str(name.substr(0, dash)), -1};
  }
  return {Str(name.substr(0, dash)), v};
}
int64_t Ordinal(const JsonValue& pod) { return ParentAndOrdinal(Name(pod)).second; }

int64_t Replicas(const JsonValue& set) { return IntOr(Path(set, {"spec", "replicas"}), 1); }
int64_t StartOrdinal(const JsonValue& set) { return IntOr(Path(set, {"spec", "ordinals", "start"}), 0); }
int64_t EndOrdinal(const JsonValue& set) { return StartOrdinal(set) + Replicas(set) - 1; }
bool InOrdinalRange(const JsonValue& pod, const JsonValue& set) {
  int64_t o = Ordinal(pod);
  return o >= StartOrdinal(set) && o <= EndOrdinal(set);
}
std::string PodName(const JsonValue& set, int64_t ordinal) { return Str(Name(set)) + "-" + std::to_string(ordinal); }
std::string ClaimName(const JsonValue& set, std::string_view tmpl, int64_t ordinal) {
  return Str(tmpl) + "-" + Str(Name(set)) + "-" + std::to_string(ordinal);
}
int64_t MinReadySeconds(const JsonValue& set) { return IntOr(Path(set, {"spec", "minReadySeconds"}), 0); }
std::string_view StrategyType(const JsonValue& set) {
  const JsonValue* s = Path(set, {"spec", "updateStrategy"});
  return s ? GetString(*s, "type").value_or("RollingUpdate") : std::string_view("RollingUpdate");
}
bool Burst(const JsonValue& set) {
  const JsonValue* spec = Member(set, "spec");
  return spec && GetString(*spec, "podManagementPolicy").value_or("OrderedReady") == "Parallel";
}
std::string_view PodRevision(const JsonValue& pod) {
  const JsonValue* l = Labels(pod);
  return l ? GetString(*l, history::kHashLabel).value_or("") : std::string_view();
}
bool IsTerminating(const JsonValue& pod) { return IsBeingDeleted(pod); }
bool IsRunningAndReady(const JsonValue& pod) { return PodPhase(pod) == "Running" && IsPodReady(pod); }
bool IsHealthy(const JsonValue& pod) { return IsRunningAndReady(pod) && !IsTerminating(pod); }

struct RetentionPolicy {
  bool delete_when_deleted = false;
  bool delete_when_scaled = false;
};
RetentionPolicy Policy(const JsonValue& set) {
  RetentionPolicy p;
  if (const JsonValue* r = Path(set, {"spec", "persistentVolumeClaimRetentionPolicy"})) {
    p.delete_when_deleted = GetString(*r, "whenDeleted").value_or("Retain") == "Delete";
    p.delete_when_scaled = GetString(*r, "whenScaled").value_or("Retain") == "Delete";
  }
  return p;
}

const JsonValue* ClaimTemplates(const JsonValue& set) {
  const JsonValue* t = Path(set, {"spec", "volumeClaimTemplates"});
  return t && t->IsArray() ? t : nullptr;
}

// getPersistentVolumeClaims: (template name, claim) for the pod with this ordinal.
std::vector<std::pair<std::string, std::shared_ptr<JsonDoc>>> ClaimsFor(const JsonValue& set, int64_t ordinal) {
  std::vector<std::pair<std::string, std::shared_ptr<JsonDoc>>> out;
  const JsonValue* tmpls = ClaimTemplates(set);
  if (!tmpls) return out;
  const JsonValue* match = Path(set, {"spec", "selector", "matchLabels"});
  for (const auto& t : tmpls->GetArray()) {
    std::string tname(client::MetaString(t, "name"));
    auto claim = std::make_shared<JsonDoc>(rapidjson::kObjectType);
    auto& a = claim->GetAllocator();
    SetString(*claim, "apiVersion", "v1", a);
    SetString(*claim, "kind", "PersistentVolumeClaim", a);
    for (const auto& m : t.GetObject()) {
      if (std::string_view(m.name.GetString()) == "apiVersion" || std::string_view(m.name.GetString()) == "kind") continue;
      claim->AddMember(JsonValue(m.name, a), JsonValue(m.value, a), a);
    }
    JsonValue& md = EnsureObject(*claim, "metadata", a);
    SetString(md, "name", ClaimName(set, tname, ordinal), a);
    SetString(md, "namespace", Namespace(set), a);
    JsonValue& labels = EnsureObject(md, "labels", a);
    if (match && match->IsObject()) {
      for (const auto& m : match->GetObject()) SetMember(labels, m.name.GetString(), JsonValue(m.value, a), a);
    }
    out.emplace_back(tname, std::move(claim));
  }
  return out;
}

bool IdentityMatches(const JsonValue& set, const JsonValue& pod) {
  auto [parent, ordinal] = ParentAndOrdinal(Name(pod));
  const JsonValue* l = Labels(pod);
  return ordinal >= 0 && parent == Name(set) && Name(pod) == PodName(set, ordinal) && Namespace(pod) == Namespace(set) &&
         l && GetString(*l, kPodNameLabel).value_or("") == Name(pod);
}

bool StorageMatches(const JsonValue& set, const JsonValue& pod) {
  int64_t ordinal = Ordinal(pod);
  if (ordinal < 0) return false;
  const JsonValue* tmpls = ClaimTemplates(set);
  if (!tmpls) return true;
  const JsonValue* vols = Path(pod, {"spec", "volumes"});
  for (const auto& t : tmpls->GetArray()) {
    std::string_view tname = client::MetaString(t, "name");
    bool ok = false;
    if (vols && vols->IsArray()) {
      for (const auto& v : vols->GetArray()) {
        if (GetString(v, "name").value_or("") != tname) continue;
        const JsonValue* pvc = Member(v, "persistentVolumeClaim");
        ok = pvc && GetString(*pvc, "claimName").value_or("") == ClaimName(set, tname, ordinal);
        break;
      }
    }
    if (!ok) return false;
  }
  return true;
}

// updateIdentity: name, namespace and the pod-name and pod-index labels.
void UpdateIdentity(const JsonValue& set, JsonDoc& pod) {
  auto& a = pod.GetAllocator();
  int64_t ordinal = Ordinal(pod);
  JsonValue& md = EnsureObject(pod, "metadata", a);
  std::string name = PodName(set, ordinal);
  SetString(md, "name", name, a);
  SetString(md, "namespace", Namespace(set), a);
  JsonValue& labels = EnsureObject(md, "labels", a);
  SetString(labels, kPodNameLabel, name, a);
  SetString(labels, kPodIndexLabel, std::to_string(ordinal), a);
}

// updateStorage: the claim volumes first (template order), then the pod's other volumes.
void UpdateStorage(const JsonValue& set, JsonDoc& pod) {
  auto& a = pod.GetAllocator();
  const JsonValue* tmpls = ClaimTemplates(set);
  if (!tmpls) return;
  int64_t ordinal = Ordinal(pod);
  JsonValue& spec = EnsureObject(pod, "spec", a);
  JsonValue vols(rapidjson::kArrayType);
  std::set<std::string> names;
  for (const auto& t : tmpls->GetArray()) {
    std::string tname(client::MetaString(t, "name"));
    names.insert(tname);
    JsonValue v(rapidjson::kObjectType);
    SetString(v, "name", tname, a);
    JsonValue src(rapidjson::kObjectType);
    SetString(src, "claimName", ClaimName(set, tname, ordinal), a);
    v.AddMember("persistentVolumeClaim", src, a);
    vols.PushBack(v, a);
  }
  if (const JsonValue* cur = Member(spec, "volumes"); cur && cur->IsArray()) {
    for (const auto& v : cur->GetArray()) {
      if (!names.count(Str(GetString(v, "name").value_or("")))) vols.PushBack(JsonValue(v, a), a);
    }
  }
  SetMember(spec, "volumes", std::move(vols), a);
}

// newVersionedStatefulSetPod.
std::shared_ptr<JsonDoc> NewPod(const JsonValue& current_set, const JsonValue& update_set, const std::string& current_rev,
                                const std::string& update_rev, int64_t ordinal) {
  bool use_current = false;
  if (StrategyType(current_set) == "RollingUpdate") {
    const JsonValue* ru = Path(current_set, {"spec", "updateStrategy", "rollingUpdate"});
    int64_t partition = ru ? IntOr(Member(*ru, "partition"), 0) : 0;
    use_current = ordinal < StartOrdinal(current_set) + partition;
  }
  const JsonValue& set = use_current ? current_set : update_set;
  const JsonValue* tmpl = Path(set, {"spec", "template"});
  JsonValue empty(rapidjson::kObjectType);
  JsonDoc built = PodFromTemplate(tmpl ? *tmpl : empty, set, "apps/v1", kKind, "");
  // Name first in metadata, as upstream serializes it.
  auto pod = std::make_shared<JsonDoc>(rapidjson::kObjectType);
  auto& a = pod->GetAllocator();
  for (auto& m : built.GetObject()) {
    if (std::string_view(m.name.GetString()) == "metadata") {
      JsonValue md(rapidjson::kObjectType);
      SetString(md, "name", PodName(set, ordinal), a);
      for (auto& f : m.value.GetObject()) md.AddMember(JsonValue(f.name, a), JsonValue(f.value, a), a);
      pod->AddMember("metadata", md, a);
    } else {
      pod->AddMember(JsonValue(m.name, a), JsonValue(m.value, a), a);
    }
  }
  UpdateIdentity(set, *pod);
  JsonValue& spec = EnsureObject(*pod, "spec", a);
  SetString(spec, "hostname", PodName(set, ordinal), a);
  const JsonValue* set_spec = Member(set, "spec");
  std::string_view svc = set_spec ? GetString(*set_spec, "serviceName").value_or("") : std::string_view();
  if (!svc.empty()) SetString(spec, "subdomain", svc, a);
  UpdateStorage(set, *pod);
  SetString(EnsureObject(EnsureObject(*pod, "metadata", a), "labels", a), history::kHashLabel,
            use_current ? current_rev : update_rev, a);
  return pod;
}

// ---- claim ownership (persistentVolumeClaimRetentionPolicy) ----------------------------------

const JsonValue* OwnerRefs(const JsonValue& obj) {
  const JsonValue* r = Path(obj, {"metadata", "ownerReferences"});
  return r && r->IsArray() ? r : nullptr;
}
bool MatchesRef(const JsonValue& ref, const JsonValue& obj, std::string_view api_version, std::string_view kind) {
  return GetString(ref, "apiVersion").value_or("") == api_version && GetString(ref, "kind").value_or("") == kind &&
         GetString(ref, "name").value_or("") == Name(obj);
}
bool MatchesSet(const JsonValue& ref, const JsonValue& set) { return MatchesRef(ref, set, "apps/v1", kKind); }
bool MatchesPod(const JsonValue& ref, const JsonValue& pod) { return MatchesRef(ref, pod, "v1", "Pod"); }
bool HasOwnerRef(const JsonValue& target, const JsonValue& owner) {
  const JsonValue* refs = OwnerRefs(target);
  if (!refs) return false;
  for (const auto& r : refs->GetArray()) {
    if (GetString(r, "uid").value_or("") == Uid(owner)) return true;
  }
  return false;
}
bool HasStaleOwnerRef(const JsonValue& target, const JsonValue& obj, bool is_pod) {
  const JsonValue* refs = OwnerRefs(target);
  if (!refs) return false;
  for (const auto& r : refs->GetArray()) {
    if (is_pod ? MatchesPod(r, obj) : MatchesSet(r, obj)) return GetString(r, "uid").value_or("") != Uid(obj);
  }
  return false;
}
bool HasUnexpectedController(const JsonValue& claim, const JsonValue& set, const JsonValue& pod) {
  RetentionPolicy p = Policy(set);
  if (!p.delete_when_deleted && !p.delete_when_scaled) return false;
  const JsonValue* refs = OwnerRefs(claim);
  if (!refs) return false;
  for (const auto& r : refs->GetArray()) {
    if (MatchesSet(r, set)) {
      if (GetString(r, "uid").value_or("") != Uid(set)) return true;
      continue;
    }
    if (MatchesPod(r, pod)) {
      if (GetString(r, "uid").value_or("") != Uid(pod)) return true;
      continue;
    }
    if (GetBool(r, "controller").value_or(false)) return true;
  }
  return false;
}
bool HasNonControllerOwner(const JsonValue& claim, const JsonValue& set, const JsonValue& pod) {
  const JsonValue* refs = OwnerRefs(claim);
  if (!refs) return false;
  for (const auto& r : refs->GetArray()) {
    std::string_view uid = GetString(r, "uid").value_or("");
    if ((uid == Uid(set) || uid == Uid(pod)) && !GetBool(r, "controller").value_or(false)) return true;
  }
  return false;
}
bool IsClaimOwnerUpToDate(const JsonValue& claim, const JsonValue& set, const JsonValue& pod) {
  if (HasStaleOwnerRef(claim, set, false) || HasStaleOwnerRef(claim, pod, true)) return true;
  if (HasUnexpectedController(claim, set, pod)) return !(HasOwnerRef(claim, set) || HasOwnerRef(claim, pod));
  if (HasNonControllerOwner(claim, set, pod)) return false;
  RetentionPolicy p = Policy(set);
  bool scaled_down = !InOrdinalRange(pod, set);
  if (!p.delete_when_scaled && !p.delete_when_deleted) return !(HasOwnerRef(claim, set) || HasOwnerRef(claim, pod));
  if (!p.delete_when_scaled && p.delete_when_deleted) return HasOwnerRef(claim, set) && !HasOwnerRef(claim, pod);
  if (p.delete_when_scaled && !p.delete_when_deleted) {
    if (HasOwnerRef(claim, set)) return false;
    return scaled_down == HasOwnerRef(claim, pod);
  }
  if (scaled_down == HasOwnerRef(claim, set)) return false;
  return scaled_down == HasOwnerRef(claim, pod);
}
// updateClaimOwnerRefForSetAndPod: the claim with its ownerReferences set for the policy.
JsonDoc ClaimWithPolicyRefs(const JsonValue& claim, const JsonValue& set, const JsonValue& pod) {
  JsonDoc out;
  out.CopyFrom(claim, out.GetAllocator());
  auto& a = out.GetAllocator();
  bool unexpected = HasUnexpectedController(claim, set, pod);
  JsonValue refs(rapidjson::kArrayType);
  if (const JsonValue* old = OwnerRefs(claim)) {
    for (const auto& r : old->GetArray()) {
      if (!MatchesSet(r, set) && !MatchesPod(r, pod)) refs.PushBack(JsonValue(r, a), a);
    }
  }
  auto add = [&](const JsonValue& owner, std::string_view api_version, std::string_view kind) {
    for (const auto& r : refs.GetArray()) {
      if (GetString(r, "uid").value_or("") == Uid(owner)) return;
    }
    refs.PushBack(MakeControllerRef(owner, api_version, kind, a), a);
  };
  if (!unexpected) {
    RetentionPolicy p = Policy(set);
    bool scaled_down = !InOrdinalRange(pod, set);
    if (!p.delete_when_scaled && p.delete_when_deleted) add(set, "apps/v1", kKind);
    if (p.delete_when_scaled && !p.delete_when_deleted && scaled_down) add(pod, "v1", "Pod");
    if (p.delete_when_scaled && p.delete_when_deleted) {
      if (scaled_down) add(pod, "v1", "Pod");
      else add(set, "apps/v1", kKind);
    }
  }
  JsonValue& md = EnsureObject(out, "metadata", a);
  if (refs.Empty()) RemoveMember(md, "ownerReferences");
  else SetMember(md, "ownerReferences", std::move(refs), a);
  return out;
}

JsonDoc EventRef(const JsonValue& set) { return ObjectEventRef(set, "apps/v1", kKind); }

// utilerrors.NewAggregate's message.
std::string AggregateMessage(const std::vector<std::string>& msgs) {
  if (msgs.size() == 1) return msgs[0];
  std::string out = "[";
  for (size_t i = 0; i < msgs.size(); ++i) {
    if (i) out += ", ";
    out += msgs[i];
  }
  return out + "]";
}

// Collects errors of several calls into one aggregate Status.
class ErrorList {
 public:
  void Add(const Status& st) {
    if (st.ok()) return;
    if (first_.ok()) first_ = st;
    msgs_.push_back(st.message());
  }
  Status Result() const {
    if (msgs_.empty()) return Status::OK();
    if (msgs_.size() == 1) return first_;
    return Status::Internal(AggregateMessage(msgs_));
  }
  bool empty() const { return msgs_.empty(); }

 private:
  Status first_;
  std::vector<std::string> msgs_;
};

// A replica slot: a pod from the cache (created) or one to create.
struct Replica {
  ObjectPtr pod;
  bool created = false;
};

struct Counts {
  int64_t replicas = 0, ready = 0, available = 0, current = 0, updated = 0;
};

// ---- the controller ----------------------------------------------------------------------

class StatefulSetController final : public Controller {
 public:
  explicit StatefulSetController(Context ctx)
      : Controller(ctx, "statefulset"),
        sets_(ctx.informers.For(kStatefulSets)),
        pods_(ctx.informers.For(kPods)),
        pvcs_(ctx.informers.For(kPersistentVolumeClaims)),
        revs_(ctx.informers.For(kControllerRevisions)),
        alive_(std::make_shared<bool>(true)) {
    client::EventHandlers sh;
    sh.on_add = [this](const ObjectPtr& o) { EnqueueObject(o); };
    sh.on_update = [this](const ObjectPtr&, const ObjectPtr& o) { EnqueueObject(o); };
    sh.on_delete = [this](const ObjectPtr& o, bool) { EnqueueObject(o); };
    sets_.AddEventHandler(std::move(sh));

    client::EventHandlers ph;
    ph.on_add = [this](const ObjectPtr& p) { OnPodAdd(p); };
    ph.on_update = [this](const ObjectPtr& o, const ObjectPtr& p) { OnPodUpdate(o, p); };
    ph.on_delete = [this](const ObjectPtr& p, bool) { OnPodDelete(p); };
    pods_.AddEventHandler(std::move(ph));
  }
  ~StatefulSetController() override { *alive_ = false; }

  void Reconcile(const std::string& key, Done done) override;

 private:
  using StatusCb = std::function<void(Status)>;
  using StepCb = std::function<void(bool exit, Status)>;
  using StepFn = std::function<void(size_t i, StepCb)>;

  struct Sync {
    std::string key;
    ObjectPtr set;
    Done done;
    api::LabelSelector selector;
    std::vector<ObjectPtr> pods;       // claimed pods
    std::vector<ObjectPtr> revisions;  // sorted
    ObjectPtr current_rev, update_rev;
    int32_t collision = 0;
    std::shared_ptr<JsonDoc> current_set, update_set;
    std::vector<Replica> replicas;
    std::vector<ObjectPtr> condemned;
    ObjectPtr first_unhealthy;
    Counts counts;
    bool have_status = false;
  };
  using SyncPtr = std::shared_ptr<Sync>;

  template <typename F>
  auto Guard(F f) {
    return WhileAlive(alive_, std::move(f));
  }

  void Event(const JsonValue& set, std::string_view type, std::string_view reason, std::string_view msg) {
    ctx_.events.EventFrom(kComponent, EventRef(set), type, reason, msg);
  }
  // recordPodEvent.
  void PodEvent(const std::string& verb, const JsonValue& set, std::string_view pod, const Status& err) {
    std::string title = verb;
    title[0] = static_cast<char>(std::toupper(title[0]));
    if (err.ok()) {
      Event(set, kEventTypeNormal, "Successful" + title,
            verb + " Pod " + Str(pod) + " in StatefulSet " + Str(Name(set)) + " successful");
    } else {
      Event(set, kEventTypeWarning, "Failed" + title,
            verb + " Pod " + Str(pod) + " in StatefulSet " + Str(Name(set)) + " failed error: " + err.message());
    }
  }
  // recordClaimEvent.
  void ClaimEvent(const std::string& verb, const JsonValue& set, std::string_view pod, std::string_view claim,
                  const Status& err) {
    std::string title = verb;
    title[0] = static_cast<char>(std::toupper(title[0]));
    if (err.ok()) {
      Event(set, kEventTypeNormal, "Successful" + title,
            verb + " Claim " + Str(claim) + " Pod " + Str(pod) + " in StatefulSet " + Str(Name(set)) + " success");
    } else {
      Event(set, kEventTypeWarning, "Failed" + title,
            verb + " Claim " + Str(claim) + " for Pod " + Str(pod) + " in StatefulSet " + Str(Name(set)) +
                " failed error: " + err.message());
    }
  }

  ObjectPtr Resolve(std::string_view ns, const JsonValue& ref) { return ResolveControllerRef(sets_, kKind, ns, ref); }
  std::vector<ObjectPtr> SetsSelecting(const JsonValue& pod) { return OwnersSelecting(sets_, pod); }
  void OnPodAdd(const ObjectPtr& pod) {
    if (IsBeingDeleted(*pod)) return OnPodDelete(pod);
    if (const JsonValue* ref = ControllerRef(*pod)) {
      if (auto s = Resolve(Namespace(*pod), *ref)) EnqueueObject(s);
      return;
    }
    for (const auto& s : SetsSelecting(*pod)) EnqueueObject(s);
  }
  void OnPodUpdate(const ObjectPtr& old, const ObjectPtr& cur) {
    if (client::MetaString(*old, "resourceVersion") == client::MetaString(*cur, "resourceVersion")) return;
    auto u = OwnersOnControlleeUpdate(sets_, kKind, *old, *cur);
    for (const auto& s : u.wake) EnqueueObject(s);
    if (u.available_recheck_ms > 0) EnqueueAfter(client::ObjectKey(*u.controller), u.available_recheck_ms);
  }
  void OnPodDelete(const ObjectPtr& pod) {
    const JsonValue* ref = ControllerRef(*pod);
    if (!ref) return;
    if (auto s = Resolve(Namespace(*pod), *ref)) EnqueueObject(s);
  }

  void Adopt(const SyncPtr& s, StatusCb next);
  void UpdateStatefulSet(const SyncPtr& s, StatusCb next);
  void GetRevisions(const SyncPtr& s, StatusCb next);
  void CreateRevision(const SyncPtr& s, std::shared_ptr<JsonDoc> patch, int64_t number, StatusCb next);
  void AttemptCreate(const SyncPtr& s, std::shared_ptr<JsonDoc> cr, std::string text, StatusCb next);
  void UpdatePods(const SyncPtr& s, StatusCb next);
  void RollingUpdate(const SyncPtr& s, StatusCb next);
  void WriteStatus(const SyncPtr& s, StatusCb next);
  void TruncateHistory(const SyncPtr& s, StatusCb next);

  void RunForAll(size_t n, StepFn fn, bool monotonic, StepCb done);
  void RunSequential(std::shared_ptr<StepFn> fn, size_t i, size_t n, StepCb done);
  void RunBatch(std::shared_ptr<StepFn> fn, size_t pos, size_t batch, size_t n, StepCb done);
  void ProcessReplica(const SyncPtr& s, bool monotonic, size_t i, StepCb cb);
  void ProcessCondemned(const SyncPtr& s, bool monotonic, size_t i, StepCb cb);

  // Pod control (StatefulPodControl).
  void CreateClaims(const JsonValue& set, const JsonValue& pod, StatusCb next);
  void CreateStatefulPod(const SyncPtr& s, std::shared_ptr<JsonDoc> pod, StatusCb next);
  void UpdateStatefulPod(const SyncPtr& s, const JsonValue& set, const JsonValue& pod, StatusCb next);
  void DeleteStatefulPod(const SyncPtr& s, const JsonValue& pod, StatusCb next);
  bool ClaimsMatchRetentionPolicy(const JsonValue& set, const JsonValue& pod);
  void UpdateClaimsForRetentionPolicy(const JsonValue& set, const JsonValue& pod, StatusCb next);
  bool PodClaimIsStale(const JsonValue& set, const JsonValue& pod);

  Counts Count(const SyncPtr& s, bool all_lists) const;

  client::Informer& sets_;
  client::Informer& pods_;
  client::Informer& pvcs_;
  client::Informer& revs_;
  std::shared_ptr<bool> alive_;
};

void StatefulSetController::Reconcile(const std::string& key, Done done) {
  auto set = sets_.Get(key);
  if (!set) {
    done(Status::OK());
    return;
  }
  auto sel = api::LabelSelector::FromLabelSelectorJson(Path(*set, {"spec", "selector"}));
  if (!sel.ok()) {
    MINIK_LOG(Warning) << "error converting StatefulSet " << key << " selector: " << sel.error().message();
    done(Status::OK());
    return;
  }
  auto s = std::make_shared<Sync>();
  s->key = key;
  s->set = set;
  s->done = std::move(done);
  s->selector = *sel;
  Adopt(s, Guard([this, s](Status st) {
    if (!st.ok()) return s->done(st);
    UpdateStatefulSet(s, Guard([this, s](Status st) {
      if (st.ok() && s->have_status) {
        int64_t mrs = MinReadySeconds(*s->set);
        if (mrs > 0 && s->counts.available != Replicas(*s->set)) EnqueueAfter(s->key, mrs * 1000);
      }
      s->done(st);
    }));
  }));
}

// adoptOrphanRevisions and getPodsForStatefulSet's adoption (after a fresh read of the set).
void StatefulSetController::Adopt(const SyncPtr& s, StatusCb next) {
  const JsonValue& set = *s->set;
  auto listed = history::ListRevisions(revs_, set, s->selector);
  std::vector<ObjectPtr> orphan_pods;
  s->pods.clear();
  for (const auto& p : pods_.ByIndex(client::kNamespaceIndex, Str(Namespace(set)))) {
    if (ParentAndOrdinal(Name(*p)).first != Name(set)) continue;
    const JsonValue* ref = ControllerRef(*p);
    if (ref) {
      if (GetString(*ref, "uid").value_or("") == Uid(set) && s->selector.Matches(Labels(*p))) s->pods.push_back(p);
      continue;
    }
    if (!IsBeingDeleted(*p) && !IsBeingDeleted(set) && s->selector.Matches(Labels(*p))) orphan_pods.push_back(p);
  }
  if (listed.orphans.empty() && orphan_pods.empty()) return next(Status::OK());
  ctx_.client.Get(kStatefulSets, Str(Namespace(set)), Str(Name(set)),
                  Guard([this, s, listed, orphan_pods, next](StatusOr<JsonDoc> fresh) mutable {
                    if (!fresh.ok()) return next(fresh.error());
                    if (Uid(*fresh) != Uid(*s->set)) {
                      return next(Status::Conflict("original StatefulSet " + s->key + " is gone: got uid " +
                                                   Str(Uid(*fresh)) + ", wanted " + Str(Uid(*s->set))));
                    }
                    if (IsBeingDeleted(*fresh)) {
                      return next(Status::Conflict(s->key + " has just been deleted at " +
                                                   Str(client::MetaString(*fresh, "deletionTimestamp"))));
                    }
                    auto join = Join::Make(std::move(next));
                    for (const auto& r : listed.orphans) {
                      ctx_.client.Patch(kControllerRevisions, Str(Namespace(*r)), Str(Name(*r)),
                                        client::PatchType::kStrategicMerge, history::AdoptPatch(*s->set, kKind, Uid(*r)),
                                        "", join->AddObject([](const Status& st) { return st.IsNotFound(); }));
                    }
                    for (const auto& p : orphan_pods) {
                      ctx_.client.Patch(kPods, Str(Namespace(*p)), Str(Name(*p)), client::PatchType::kStrategicMerge,
                                        history::AdoptPatch(*s->set, kKind, Uid(*p)), "",
                                        [s, cb = join->Add()](StatusOr<JsonDoc> r) {
                                          if (r.ok()) s->pods.push_back(std::make_shared<const JsonDoc>(std::move(*r)));
                                          cb(r.ok() || r.error().IsNotFound() ? Status::OK() : r.error());
                                        });
                    }
                    join->Finish();
                  }));
}

void StatefulSetController::UpdateStatefulSet(const SyncPtr& s, StatusCb next) {
  // The revisions it controls (adopted ones included), sorted.
  s->revisions.clear();
  for (const auto& r : revs_.ByIndex(client::kNamespaceIndex, Str(Namespace(*s->set)))) {
    const JsonValue* ref = ControllerRef(*r);
    if (ref && GetString(*ref, "uid").value_or("") == Uid(*s->set)) s->revisions.push_back(r);
  }
  history::SortRevisions(s->revisions);
  GetRevisions(s, Guard([this, s, next](Status st) mutable {
    if (!st.ok()) {
      return TruncateHistory(s, [st, next](Status) mutable { next(st); });
    }
    UpdatePods(s, Guard([this, s, next](Status err) mutable {
      if (!s->have_status) {
        return TruncateHistory(s, [err, next](Status) mutable { next(err); });
      }
      WriteStatus(s, Guard([this, s, err, next](Status st) mutable {
        Status first = !err.ok() ? err : st;
        TruncateHistory(s, [first, next](Status t) mutable { next(!first.ok() ? first : t); });
      }));
    }));
  }));
}

void StatefulSetController::GetRevisions(const SyncPtr& s, StatusCb next) {
  const JsonValue& set = *s->set;
  if (const JsonValue* c = Path(set, {"status", "collisionCount"}); c && c->IsInt()) s->collision = c->GetInt();
  auto patch = std::make_shared<JsonDoc>(history::TemplatePatch(set));
  int64_t number = s->revisions.empty() ? 1 : history::RevisionNumber(*s->revisions.back()) + 1;
  std::string hash = history::HashRevisionData(history::GoJson(*patch), s->collision);
  JsonDoc candidate = history::NewRevision(set, kKind, *patch, number, hash);
  auto equal = history::FindEqualRevisions(s->revisions, candidate);
  auto after = Guard([this, s, next](Status st) mutable {
    if (!st.ok()) return next(st);
    s->current_rev = nullptr;
    std::string_view cur_name;
    if (const JsonValue* st_json = Member(*s->set, "status")) cur_name = GetString(*st_json, "currentRevision").value_or("");
    for (const auto& r : s->revisions) {
      if (!cur_name.empty() && Name(*r) == cur_name) {
        s->current_rev = r;
        break;
      }
    }
    if (!s->current_rev) s->current_rev = s->update_rev;
    next(Status::OK());
  });
  if (!equal.empty() && history::EqualRevisions(*s->revisions.back(), *equal.back())) {
    s->update_rev = s->revisions.back();
    return after(Status::OK());
  }
  if (!equal.empty()) {
    // A rollback: the equal revision becomes the newest.
    return history::UpdateRevisionNumber(ctx_.client, *equal.back(), number,
                                         [s, after](StatusOr<JsonDoc> r) mutable {
                                           if (!r.ok()) return after(r.error());
                                           s->update_rev = std::make_shared<const JsonDoc>(std::move(*r));
                                           after(Status::OK());
                                         });
  }
  CreateRevision(s, patch, number, after);
}

// realHistory.CreateControllerRevision: retries with a bumped collision count on name clashes.
void StatefulSetController::CreateRevision(const SyncPtr& s, std::shared_ptr<JsonDoc> patch, int64_t number,
                                           StatusCb next) {
  std::string text = history::GoJson(*patch);
  // The label keeps the first hash, as upstream's NewControllerRevision sets it once.
  auto cr = std::make_shared<JsonDoc>(
      history::NewRevision(*s->set, kKind, *patch, number, history::HashRevisionData(text, s->collision)));
  AttemptCreate(s, cr, std::move(text), std::move(next));
}

void StatefulSetController::AttemptCreate(const SyncPtr& s, std::shared_ptr<JsonDoc> cr, std::string text,
                                          StatusCb next) {
  std::string hash = history::HashRevisionData(text, s->collision);
  SetString(*MutableMember(*cr, "metadata"), "name", history::RevisionName(Name(*s->set), hash), cr->GetAllocator());
  history::CreateRevision(ctx_.client, *cr, Guard([this, s, cr, text, next](StatusOr<JsonDoc> r) mutable {
    if (r.ok()) {
      s->update_rev = std::make_shared<const JsonDoc>(std::move(*r));
      return next(Status::OK());
    }
    if (!r.error().IsAlreadyExists()) return next(r.error());
    ++s->collision;
    AttemptCreate(s, cr, std::move(text), std::move(next));
  }));
}

Counts StatefulSetController::Count(const SyncPtr& s, bool all_lists) const {
  Counts c;
  TimePoint now = clock().Now();
  int64_t mrs = MinReadySeconds(*s->set);
  std::string cur = Str(Name(*s->current_rev)), upd = Str(Name(*s->update_rev));
  auto one = [&](const JsonValue& pod) {
    ++c.replicas;
    if (IsRunningAndReady(pod)) {
      ++c.ready;
      if (IsPodAvailable(pod, mrs, now)) ++c.available;
    }
    if (!IsTerminating(pod)) {
      if (PodRevision(pod) == cur) ++c.current;
      if (PodRevision(pod) == upd) ++c.updated;
    }
  };
  if (!all_lists) {
    for (const auto& p : s->pods) one(*p);
    return c;
  }
  for (const auto& r : s->replicas) {
    if (r.created) one(*r.pod);
  }
  for (const auto& p : s->condemned) one(*p);
  return c;
}

void StatefulSetController::RunForAll(size_t n, StepFn fn, bool monotonic, StepCb done) {
  auto f = std::make_shared<StepFn>(std::move(fn));
  if (monotonic) return RunSequential(f, 0, n, std::move(done));
  if (n == 0) return done(false, Status::OK());
  RunBatch(f, 0, 1, n, std::move(done));
}

void StatefulSetController::RunSequential(std::shared_ptr<StepFn> fn, size_t i, size_t n, StepCb done) {
  if (i >= n) return done(false, Status::OK());
  (*fn)(i, Guard([this, fn, i, n, done](bool exit, Status st) mutable {
    if (exit || !st.ok()) return done(true, st);
    RunSequential(fn, i + 1, n, std::move(done));
  }));
}

// slowStartBatch(1, n, fn): batches of 1, 2, 4, ... (at most 500) at once; stops after a batch
// with failures.
void StatefulSetController::RunBatch(std::shared_ptr<StepFn> fn, size_t pos, size_t batch, size_t n, StepCb done) {
  auto errs = std::make_shared<ErrorList>();
  auto join = Join::Make(Guard([this, fn, pos, batch, n, errs, done](Status) mutable {
    if (!errs->empty()) return done(true, errs->Result());
    size_t next_pos = pos + batch;
    if (next_pos >= n) return done(false, Status::OK());
    RunBatch(fn, next_pos, std::min({2 * batch, n - next_pos, kMaxBatchSize}), n, std::move(done));
  }));
  for (size_t i = pos; i < pos + batch; ++i) {
    auto cb = join->Add();
    (*fn)(i, [errs, cb](bool, Status st) {
      errs->Add(st);
      cb(Status::OK());
    });
  }
  join->Finish();
}

void StatefulSetController::UpdatePods(const SyncPtr& s, StatusCb next) {
  const JsonValue& set = *s->set;
  s->current_set = std::make_shared<JsonDoc>(history::ApplyRevision(set, *s->current_rev));
  s->update_set = std::make_shared<JsonDoc>(history::ApplyRevision(set, *s->update_rev));
  s->counts = Count(s, false);
  s->have_status = true;

  int64_t start = StartOrdinal(set), end = EndOrdinal(set);
  s->replicas.assign(static_cast<size_t>(std::max<int64_t>(Replicas(set), 0)), Replica{});
  s->condemned.clear();
  for (const auto& p : s->pods) {
    if (InOrdinalRange(*p, set)) s->replicas[static_cast<size_t>(Ordinal(*p) - start)] = Replica{p, true};
    else if (Ordinal(*p) >= 0) s->condemned.push_back(p);
  }
  std::string cur_name(Name(*s->current_rev)), upd_name(Name(*s->update_rev));
  for (int64_t ord = start; ord <= end; ++ord) {
    auto& r = s->replicas[static_cast<size_t>(ord - start)];
    if (!r.pod) r = Replica{NewPod(*s->current_set, *s->update_set, cur_name, upd_name, ord), false};
  }
  std::stable_sort(s->condemned.begin(), s->condemned.end(),
                   [](const ObjectPtr& a, const ObjectPtr& b) { return Ordinal(*a) > Ordinal(*b); });
  s->first_unhealthy = nullptr;
  for (const auto& r : s->replicas) {
    if (!IsHealthy(*r.pod) && !s->first_unhealthy) s->first_unhealthy = r.pod;
  }
  for (auto it = s->condemned.rbegin(); it != s->condemned.rend(); ++it) {
    if (!IsHealthy(**it) && !s->first_unhealthy) s->first_unhealthy = *it;
  }
  if (IsBeingDeleted(set)) return next(Status::OK());

  bool monotonic = !Burst(set);
  auto finish = [this, s, next](Status st) mutable {
    s->counts = Count(s, true);
    next(st);
  };
  RunForAll(
      s->replicas.size(), [this, s, monotonic](size_t i, StepCb cb) { ProcessReplica(s, monotonic, i, std::move(cb)); },
      monotonic, Guard([this, s, monotonic, finish, next](bool exit, Status st) mutable {
        if (exit || !st.ok()) return finish(st);
        // Fix the claims of condemned pods for the retention policy.
        RunForAll(
            s->condemned.size(),
            [this, s](size_t i, StepCb cb) {
              const JsonValue& pod = *s->condemned[i];
              if (ClaimsMatchRetentionPolicy(*s->update_set, pod)) return cb(false, Status::OK());
              UpdateClaimsForRetentionPolicy(*s->update_set, pod, [cb](Status st) { cb(!st.ok(), st); });
            },
            monotonic, Guard([this, s, monotonic, finish, next](bool exit, Status st) mutable {
              if (exit || !st.ok()) return finish(st);
              RunForAll(
                  s->condemned.size(),
                  [this, s, monotonic](size_t i, StepCb cb) { ProcessCondemned(s, monotonic, i, std::move(cb)); },
                  monotonic, Guard([this, s, finish, next](bool exit, Status st) mutable {
                    if (exit || !st.ok()) return finish(st);
                    s->counts = Count(s, true);
                    if (StrategyType(*s->set) == "OnDelete") return next(Status::OK());
                    RollingUpdate(s, next);
                  }));
            }));
      }));
}

void StatefulSetController::ProcessReplica(const SyncPtr& s, bool monotonic, size_t i, StepCb cb) {
  const Replica& r = s->replicas[i];
  const JsonValue& pod = *r.pod;
  const JsonValue& set = *s->set;
  if (r.created && (PodPhase(pod) == "Failed" || PodPhase(pod) == "Succeeded")) {
    if (IsTerminating(pod)) return cb(true, Status::OK());
    return DeleteStatefulPod(s, pod, [cb](Status st) { cb(true, st); });
  }
  auto after_create = Guard([this, s, monotonic, i, cb](Status) mutable {
    const Replica& r = s->replicas[i];
    const JsonValue& pod = *r.pod;
    auto rest = Guard([this, s, monotonic, i, cb](Status st) mutable {
      if (!st.ok()) return cb(true, st);
      const JsonValue& pod = *s->replicas[i].pod;
      if (IsTerminating(pod) && monotonic) return cb(true, Status::OK());
      if (!IsRunningAndReady(pod) && monotonic) return cb(true, Status::OK());
      if (!IsPodAvailable(pod, MinReadySeconds(*s->set), clock().Now()) && monotonic) return cb(true, Status::OK());
      bool retention = ClaimsMatchRetentionPolicy(*s->update_set, pod);
      if (IdentityMatches(*s->set, pod) && StorageMatches(*s->set, pod) && retention) return cb(false, Status::OK());
      UpdateStatefulPod(s, *s->update_set, pod, [cb](Status st) { cb(!st.ok(), st); });
    });
    // A pending pod: make sure its claims exist.
    if (r.created && PodPhase(pod) == "Pending") {
      return CreateClaims(*s->set, pod, Guard([this, s, i, rest](Status st) mutable {
        if (!st.ok()) return rest(st);
        const JsonValue& pod = *s->replicas[i].pod;
        if (ClaimsMatchRetentionPolicy(*s->set, pod)) return rest(Status::OK());
        UpdateClaimsForRetentionPolicy(*s->set, pod, [this, s, i, rest](Status st) mutable {
          if (!st.ok()) PodEvent("update", *s->set, Name(*s->replicas[i].pod), st);
          rest(st);
        });
      }));
    }
    rest(Status::OK());
  });
  if (r.created) return after_create(Status::OK());
  if (PodClaimIsStale(set, pod)) return cb(true, Status::OK());
  auto doc = std::make_shared<JsonDoc>();
  doc->CopyFrom(pod, doc->GetAllocator());
  CreateStatefulPod(s, doc, Guard([monotonic, cb](Status st) mutable {
    if (!st.ok()) return cb(true, st);
    // The new pod is not in the cache yet: its readiness is for the next pass.
    cb(monotonic, Status::OK());
  }));
}

void StatefulSetController::ProcessCondemned(const SyncPtr& s, bool monotonic, size_t i, StepCb cb) {
  const JsonValue& pod = *s->condemned[i];
  if (IsTerminating(pod)) return cb(monotonic, Status::OK());
  bool first = s->condemned[i] == s->first_unhealthy;
  if (!IsRunningAndReady(pod) && monotonic && !first) return cb(true, Status::OK());
  if (!IsPodAvailable(pod, MinReadySeconds(*s->set), clock().Now()) && monotonic && !first) return cb(true, Status::OK());
  DeleteStatefulPod(s, pod, [cb](Status st) { cb(true, st); });
}

void StatefulSetController::RollingUpdate(const SyncPtr& s, StatusCb next) {
  const JsonValue& set = *s->set;
  const JsonValue* ru = Path(set, {"spec", "updateStrategy", "rollingUpdate"});
  int64_t update_min = ru ? IntOr(Member(*ru, "partition"), 0) : 0;
  std::string upd(Name(*s->update_rev));
  auto& reps = s->replicas;
  // Target ordinals count from the replicas' start: indexes into reps.
  const JsonValue* max_unavail_json = ru ? Member(*ru, "maxUnavailable") : nullptr;
  if (!max_unavail_json) {
    for (int64_t t = static_cast<int64_t>(reps.size()) - 1; t >= update_min; --t) {
      const JsonValue& pod = *reps[static_cast<size_t>(t)].pod;
      if (PodRevision(pod) != upd && !IsTerminating(pod)) {
        return DeleteStatefulPod(s, pod, [s, next](Status st) mutable {
          --s->counts.current;
          next(st.IsNotFound() ? Status::OK() : st);
        });
      }
      if (!IsHealthy(pod)) return next(Status::OK());
    }
    return next(Status::OK());
  }
  // MaxUnavailableStatefulSet: up to maxUnavailable pods at once.
  auto mu = ScaledValue(max_unavail_json, static_cast<int64_t>(reps.size()), false, 1);
  if (!mu.ok()) return next(mu.error());
  int64_t max_unavailable = std::max<int64_t>(*mu, 1);
  int64_t unavailable = 0;
  for (const auto& r : reps) {
    if (!IsHealthy(*r.pod)) ++unavailable;
  }
  if (unavailable >= max_unavailable) return next(Status::OK());
  int64_t to_delete = max_unavailable - unavailable;
  auto join = Join::Make(std::move(next));
  int64_t deleted = 0;
  for (int64_t t = static_cast<int64_t>(reps.size()) - 1; t >= update_min && deleted < to_delete; --t) {
    const JsonValue& pod = *reps[static_cast<size_t>(t)].pod;
    if (PodRevision(pod) == upd || IsTerminating(pod)) continue;
    ++deleted;
    --s->counts.current;
    DeleteStatefulPod(s, pod, [cb = join->Add()](Status st) { cb(st.IsNotFound() ? Status::OK() : st); });
  }
  join->Finish();
}

void StatefulSetController::WriteStatus(const SyncPtr& s, StatusCb next) {
  const JsonValue& set = *s->set;
  Counts c = s->counts;
  std::string cur(Name(*s->current_rev)), upd(Name(*s->update_rev));
  int64_t replicas = Replicas(set);
  // completeRollingUpdate.
  if (StrategyType(set) == "RollingUpdate" && c.updated == replicas && c.ready == replicas && c.replicas == replicas) {
    c.current = c.updated;
    cur = upd;
  }
  int64_t generation = IntOr(Path(set, {"metadata", "generation"}), 0);
  const JsonValue* old = Member(set, "status");
  auto get = [&](const char* f) { return old ? IntOr(Member(*old, f), 0) : 0; };
  auto gets = [&](const char* f) { return old ? Str(GetString(*old, f).value_or("")) : std::string(); };
  bool inconsistent = generation > get("observedGeneration") || c.replicas != get("replicas") ||
                      c.current != get("currentReplicas") || c.ready != get("readyReplicas") ||
                      c.updated != get("updatedReplicas") || cur != gets("currentRevision") ||
                      c.available != get("availableReplicas") || upd != gets("updateRevision");
  if (!inconsistent) return next(Status::OK());
  JsonDoc doc;
  doc.CopyFrom(set, doc.GetAllocator());
  auto& a = doc.GetAllocator();
  JsonValue st(rapidjson::kObjectType);
  if (generation != 0) st.AddMember("observedGeneration", JsonValue(generation), a);
  st.AddMember("replicas", JsonValue(c.replicas), a);
  if (c.ready) st.AddMember("readyReplicas", JsonValue(c.ready), a);
  if (c.current) st.AddMember("currentReplicas", JsonValue(c.current), a);
  if (c.updated) st.AddMember("updatedReplicas", JsonValue(c.updated), a);
  if (!cur.empty()) SetString(st, "currentRevision", cur, a);
  if (!upd.empty()) SetString(st, "updateRevision", upd, a);
  st.AddMember("collisionCount", JsonValue(s->collision), a);
  st.AddMember("availableReplicas", JsonValue(c.available), a);
  SetMember(doc, "status", std::move(st), a);
  ctx_.client.Update(kStatefulSets, Str(Namespace(set)), doc, "status",
                     [next](StatusOr<JsonDoc> r) mutable { next(r.ok() ? Status::OK() : r.error()); });
}

void StatefulSetController::TruncateHistory(const SyncPtr& s, StatusCb next) {
  std::set<std::string> live;
  if (s->current_rev) live.insert(Str(Name(*s->current_rev)));
  if (s->update_rev) live.insert(Str(Name(*s->update_rev)));
  for (const auto& p : s->pods) live.insert(Str(PodRevision(*p)));
  int64_t limit = IntOr(Path(*s->set, {"spec", "revisionHistoryLimit"}), history::kDefaultRevisionHistoryLimit);
  auto join = Join::Make(std::move(next));
  for (const auto& r : history::RevisionsToTruncate(s->revisions, live, limit)) {
    history::DeleteRevision(ctx_.client, *r, join->AddObject([](const Status& st) { return st.IsNotFound(); }));
  }
  join->Finish();
}

// ---- pod control ---------------------------------------------------------------------------

void StatefulSetController::CreateClaims(const JsonValue& set_in, const JsonValue& pod, StatusCb next) {
  auto set = std::make_shared<JsonDoc>();
  set->CopyFrom(set_in, set->GetAllocator());
  std::string pod_name(Name(pod));
  auto errs = std::make_shared<ErrorList>();
  auto join = Join::Make([errs, next](Status) mutable { next(errs->Result()); });
  for (auto& [tname, claim] : ClaimsFor(*set, Ordinal(pod))) {
    std::string cname(Name(*claim));
    auto cached = pvcs_.Get(Str(Namespace(*set)), cname);
    if (cached) {
      if (IsBeingDeleted(*cached)) errs->Add(Status::Conflict("pvc " + cname + " is being deleted"));
      continue;
    }
    ctx_.client.Create(kPersistentVolumeClaims, Str(Namespace(*set)), *claim,
                       Guard([this, set, pod_name, cname, errs, cb = join->Add()](StatusOr<JsonDoc> r) {
                         Status st = r.ok() ? Status::OK() : r.error();
                         if (!st.ok()) errs->Add(Status(st).WithContext("failed to create PVC " + cname));
                         if (st.ok() || !st.IsAlreadyExists()) ClaimEvent("create", *set, pod_name, cname, st);
                         cb(Status::OK());
                       }));
  }
  join->Finish();
}

void StatefulSetController::CreateStatefulPod(const SyncPtr& s, std::shared_ptr<JsonDoc> pod, StatusCb next) {
  std::string pod_name(Name(*pod));
  CreateClaims(*s->set, *pod, Guard([this, s, pod, pod_name, next](Status st) mutable {
    if (!st.ok()) {
      PodEvent("create", *s->set, pod_name, st);
      return next(st);
    }
    ctx_.client.Create(kPods, Str(Namespace(*s->set)), *pod,
                       Guard([this, s, pod, pod_name, next](StatusOr<JsonDoc> r) mutable {
                         if (!r.ok() && r.error().IsAlreadyExists()) return next(r.error());
                         Status created = r.ok() ? Status::OK() : r.error();
                         UpdateClaimsForRetentionPolicy(*s->set, *pod, Guard([this, s, pod_name, created, next](Status st) mutable {
                           if (!st.ok()) {
                             PodEvent("update", *s->set, pod_name, st);
                             return next(st);
                           }
                           PodEvent("create", *s->set, pod_name, created);
                           next(created);
                         }));
                       }));
  }));
}

void StatefulSetController::UpdateStatefulPod(const SyncPtr& s, const JsonValue& set_in, const JsonValue& pod_in,
                                              StatusCb next) {
  auto set = std::make_shared<JsonDoc>();
  set->CopyFrom(set_in, set->GetAllocator());
  auto pod = std::make_shared<JsonDoc>();
  pod->CopyFrom(pod_in, pod->GetAllocator());
  bool consistent = true;
  if (!IdentityMatches(*set, *pod)) {
    UpdateIdentity(*set, *pod);
    consistent = false;
  }
  auto commit = Guard([this, s, set, pod, next](Status st, bool consistent) mutable {
    std::string pod_name(Name(*pod));
    if (!st.ok()) {
      PodEvent("update", *s->set, pod_name, st);
      return next(st);
    }
    if (!ClaimsMatchRetentionPolicy(*set, *pod)) {
      return UpdateClaimsForRetentionPolicy(*set, *pod, Guard([this, s, set, pod, pod_name, next](Status st) mutable {
        if (!st.ok()) {
          PodEvent("update", *s->set, pod_name, st);
          return next(st);
        }
        ctx_.client.Update(kPods, Str(Namespace(*pod)), *pod, "", Guard([this, s, pod_name, next](StatusOr<JsonDoc> r) mutable {
          Status st = r.ok() ? Status::OK() : r.error();
          PodEvent("update", *s->set, pod_name, st);
          next(st);
        }));
      }));
    }
    if (consistent) return next(Status::OK());
    ctx_.client.Update(kPods, Str(Namespace(*pod)), *pod, "", Guard([this, s, pod_name, next](StatusOr<JsonDoc> r) mutable {
      Status st = r.ok() ? Status::OK() : r.error();
      PodEvent("update", *s->set, pod_name, st);
      next(st);
    }));
  });
  if (!StorageMatches(*set, *pod)) {
    UpdateStorage(*set, *pod);
    return CreateClaims(*set, *pod, [commit](Status st) mutable { commit(st, false); });
  }
  commit(Status::OK(), consistent);
}

void StatefulSetController::DeleteStatefulPod(const SyncPtr& s, const JsonValue& pod, StatusCb next) {
  std::string name(Name(pod));
  ctx_.client.Delete(kPods, Str(Namespace(pod)), name, client::DeleteOptions{},
                     Guard([this, s, name, next](StatusOr<JsonDoc> r) mutable {
                       Status st = r.ok() ? Status::OK() : r.error();
                       PodEvent("delete", *s->set, name, st);
                       next(st);
                     }));
}

bool StatefulSetController::ClaimsMatchRetentionPolicy(const JsonValue& set, const JsonValue& pod) {
  for (auto& [tname, claim] : ClaimsFor(set, Ordinal(pod))) {
    auto cached = pvcs_.Get(Str(Namespace(set)), Str(Name(*claim)));
    if (cached && !IsClaimOwnerUpToDate(*cached, set, pod)) return false;
  }
  return true;
}

void StatefulSetController::UpdateClaimsForRetentionPolicy(const JsonValue& set, const JsonValue& pod, StatusCb next) {
  auto join = Join::Make(std::move(next));
  for (auto& [tname, claim] : ClaimsFor(set, Ordinal(pod))) {
    std::string cname(Name(*claim));
    auto cached = pvcs_.Get(Str(Namespace(set)), cname);
    if (!cached || IsClaimOwnerUpToDate(*cached, set, pod)) continue;
    JsonDoc upd = ClaimWithPolicyRefs(*cached, set, pod);
    if (JsonEqual(upd, *cached)) continue;
    ctx_.client.Update(kPersistentVolumeClaims, Str(Namespace(set)), upd, "",
                       [cname, cb = join->Add()](StatusOr<JsonDoc> r) {
                         cb(r.ok() ? Status::OK()
                                   : r.error().WithContext("Could not update claim " + cname + " for delete policy ownerRefs"));
                       });
  }
  join->Finish();
}

bool StatefulSetController::PodClaimIsStale(const JsonValue& set, const JsonValue& pod) {
  if (!Policy(set).delete_when_scaled) return false;
  for (auto& [tname, claim] : ClaimsFor(set, Ordinal(pod))) {
    auto cached = pvcs_.Get(Str(Namespace(set)), Str(Name(*claim)));
    if (cached && HasStaleOwnerRef(*cached, pod, true)) return true;
  }
  return false;
}

}  // namespace

ControllerPtr NewStatefulSetController(Context ctx) { return std::make_unique<StatefulSetController>(ctx); }

}  // namespace minik::controllers
