#include "server/controllers/replica_set.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "common/log.h"
#include "server/controllers/util.h"

namespace minik::controllers {
namespace {

using client::ObjectPtr;

// Pods without a controller reference, by namespace (the orphans an owner may adopt). Both the ReplicaSet and
// the ReplicationController controllers register it with the same function.
constexpr char kOrphanIndex[] = "minik.replicaset/orphans-by-namespace";
constexpr char kDeletionCostAnnotation[] = "controller.kubernetes.io/pod-deletion-cost";
constexpr char kReplicaFailure[] = "ReplicaFailure";
constexpr char kNamespaceTerminatingCause[] = "NamespaceTerminating";

std::vector<std::string> OrphanIndexFunc(const JsonValue &pod) {
  if (ControllerRef(pod)) return {};
  return {std::string(Namespace(pod))};
}

int64_t SpecInt(const JsonValue &obj, std::string_view field, int64_t dflt) {
  const JsonValue *spec = Member(obj, "spec");
  return spec ? IntOr(Member(*spec, field), dflt) : dflt;
}
int64_t SpecReplicas(const JsonValue &owner) { return SpecInt(owner, "replicas", 1); }
int64_t MinReadySeconds(const JsonValue &owner) { return SpecInt(owner, "minReadySeconds", 0); }

bool LabelsEqual(const JsonValue *a, const JsonValue *b) {
  bool ea = !a || a->MemberCount() == 0;
  bool eb = !b || b->MemberCount() == 0;
  if (ea || eb) return ea == eb;
  return JsonEqual(*a, *b);
}

bool RefsEqual(const JsonValue *a, const JsonValue *b) {
  if (!a || !b) return a == b;
  return JsonEqual(*a, *b);
}

bool HasCause(const Status &st, std::string_view reason) {
  const StatusDetails *d = st.details();
  if (!d) return false;
  for (const auto &c : d->causes) {
    if (c.reason == reason) return true;
  }
  return false;
}

// "<name>-" unless that is too long for a pod name prefix (upstream's getPodsPrefix).
std::string PodsPrefix(std::string_view owner_name) {
  std::string prefix = std::string(owner_name) + "-";
  if (prefix.size() > 253) prefix = std::string(owner_name);
  return prefix;
}

// True when every label of the template is on the pod (labels.Set(template).AsSelector()).
bool HasTemplateLabels(const JsonValue *template_labels, const JsonValue *pod_labels) {
  if (!template_labels || !template_labels->IsObject()) return true;
  for (const auto &m : template_labels->GetObject()) {
    if (!pod_labels) return false;
    auto it = pod_labels->FindMember(m.name);
    if (it == pod_labels->MemberEnd() || !(it->value == m.value)) return false;
  }
  return true;
}

std::string PodKeyOf(const JsonValue &pod) { return client::ObjectKey(pod); }

// ---- victim ranking (upstream's ActivePodsWithRanks) --------------------------------------------

struct RankedPod {
  ObjectPtr pod;
  std::string node;
  int phase = 0;  // Pending 0 < Unknown 1 < Running 2 (others 0)
  bool ready = false;
  std::optional<TimePoint> ready_time;
  int32_t cost = 0;
  int64_t restarts = 0;
  int64_t sidecar_restarts = 0;
  std::optional<TimePoint> created;
  std::string uid;
  int rank = 0;
};

int32_t DeletionCost(const JsonValue &pod) {
  auto v = Annotation(pod, kDeletionCostAnnotation);
  if (!v || v->empty()) return 0;
  std::string_view s = *v;
  // "+10" and leading zeros are invalid (and count as 0), as upstream's validFirstDigit.
  if (!(s[0] == '-' || s == "0" || (s[0] >= '1' && s[0] <= '9'))) return 0;
  bool neg = s[0] == '-';
  std::string_view digits = neg ? s.substr(1) : s;
  if (digits.empty()) return 0;
  int64_t n = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return 0;
    n = n * 10 + (c - '0');
    if (n > (int64_t{1} << 31)) return 0;
  }
  if (neg) n = -n;
  if (n > INT32_MAX || n < INT32_MIN) return 0;
  return static_cast<int32_t>(n);
}

void MaxRestarts(const JsonValue &pod, int64_t *regular, int64_t *sidecar) {
  *regular = 0;
  *sidecar = 0;
  if (const JsonValue *cs = Path(pod, {"status", "containerStatuses"}); cs && cs->IsArray()) {
    for (const auto &c : cs->GetArray()) *regular = std::max(*regular, IntOr(Member(c, "restartCount"), 0));
  }
  std::set<std::string> sidecars;
  if (const JsonValue *ic = Path(pod, {"spec", "initContainers"}); ic && ic->IsArray()) {
    for (const auto &c : ic->GetArray()) {
      if (GetString(c, "restartPolicy").value_or("") == "Always") {
        sidecars.insert(std::string(GetString(c, "name").value_or("")));
      }
    }
  }
  if (sidecars.empty()) return;
  if (const JsonValue *ics = Path(pod, {"status", "initContainerStatuses"}); ics && ics->IsArray()) {
    for (const auto &c : ics->GetArray()) {
      if (sidecars.count(std::string(GetString(c, "name").value_or("")))) {
        *sidecar = std::max(*sidecar, IntOr(Member(c, "restartCount"), 0));
      }
    }
  }
}

RankedPod MakeRanked(const ObjectPtr &pod, int rank) {
  RankedPod r;
  r.pod = pod;
  if (const JsonValue *n = Path(*pod, {"spec", "nodeName"}); n && n->IsString()) r.node = n->GetString();
  std::string_view phase = PodPhase(*pod);
  r.phase = phase == "Running" ? 2 : phase == "Unknown" ? 1 : 0;
  r.ready = IsPodReady(*pod);
  if (r.ready) r.ready_time = PodReadySince(*pod);
  r.cost = DeletionCost(*pod);
  MaxRestarts(*pod, &r.restarts, &r.sidecar_restarts);
  TimePoint t;
  if (ParseRFC3339(client::MetaString(*pod, "creationTimestamp"), &t)) r.created = t;
  r.uid = std::string(Uid(*pod));
  r.rank = rank;
  return r;
}

// afterOrZero: a zero time sorts first; otherwise the later time does.
bool AfterOrZero(const std::optional<TimePoint> &a, const std::optional<TimePoint> &b) {
  if (!a || !b) return !a;
  return *a > *b;
}

int64_t LogRank(TimePoint t, TimePoint now) {
  int64_t d = std::chrono::duration_cast<std::chrono::nanoseconds>(now - t).count();
  return d > 0 ? static_cast<int64_t>(std::log2(static_cast<double>(d))) : -1;
}

// Compares two times as upstream with LogarithmicScaleDown (GA): by power-of-two buckets of their age, ties
// broken by uid. Returns nullopt when the times are equal.
std::optional<bool> TimeLess(const std::optional<TimePoint> &a, const std::optional<TimePoint> &b, const RankedPod &pa,
                             const RankedPod &pb, TimePoint now) {
  if (a == b) return std::nullopt;
  if (!a || !b) return AfterOrZero(a, b);
  int64_t diff = LogRank(*a, now) - LogRank(*b, now);
  if (diff == 0) return pa.uid < pb.uid;
  return diff < 0;
}

// True when a should be deleted before b.
bool DeleteBefore(const RankedPod &a, const RankedPod &b, TimePoint now) {
  // 1. Unassigned < assigned.
  if (a.node != b.node && (a.node.empty() || b.node.empty())) return a.node.empty();
  // 2. Pending < Unknown < Running.
  if (a.phase != b.phase) return a.phase < b.phase;
  // 3. Not ready < ready.
  if (a.ready != b.ready) return !a.ready;
  // 4. Lower pod-deletion-cost < higher.
  if (a.cost != b.cost) return a.cost < b.cost;
  // 5. Doubled up (more related pods on the same node) < not doubled up.
  if (a.rank != b.rank) return a.rank > b.rank;
  // 6. Ready for less time < ready for more time.
  if (a.ready && b.ready) {
    if (auto r = TimeLess(a.ready_time, b.ready_time, a, b, now)) return *r;
  }
  // 7. Higher restart counts < lower.
  if (a.restarts != b.restarts) return a.restarts > b.restarts;
  if (a.sidecar_restarts != b.sidecar_restarts) return a.sidecar_restarts > b.sidecar_restarts;
  // 8. Empty creation time < newer < older.
  if (auto r = TimeLess(a.created, b.created, a, b, now)) return *r;
  return false;
}

// A merge sort that stays in bounds whatever the comparator (upstream's ordering is not a strict weak order
// in corner cases: uid tie-breaks inside time buckets).
template <typename Less>
void MergeSort(std::vector<RankedPod> &v, Less less) {
  std::vector<RankedPod> buf(v.size());
  for (size_t width = 1; width < v.size(); width *= 2) {
    for (size_t lo = 0; lo < v.size(); lo += 2 * width) {
      size_t mid = std::min(lo + width, v.size()), hi = std::min(lo + 2 * width, v.size());
      size_t i = lo, j = mid, k = lo;
      while (i < mid && j < hi) buf[k++] = less(v[j], v[i]) ? std::move(v[j++]) : std::move(v[i++]);
      while (i < mid) buf[k++] = std::move(v[i++]);
      while (j < hi) buf[k++] = std::move(v[j++]);
    }
    v.swap(buf);
  }
}

// ---- the controller -----------------------------------------------------------------------------

class ReplicaSetController final : public Controller {
 public:
  ReplicaSetController(Context ctx, ReplicaSetControllerConfig config);
  ~ReplicaSetController() override { *alive_ = false; }

  void Reconcile(const std::string &key, Done done) override;

 private:
  // One sync of one owner, shared by its asynchronous steps.
  struct SyncState {
    std::string key;
    ObjectPtr owner;
    JsonDoc involved;  // apiVersion, kind and metadata of the owner, for events
    api::LabelSelector selector;
    std::vector<ObjectPtr> claimed;
    Done done;
  };
  using SyncPtr = std::shared_ptr<SyncState>;

  client::Informer &owners() { return ctx_.informers.For(config_.resource); }
  client::Informer &pods() { return ctx_.informers.For(kPods); }

  // Event handlers.
  void OnOwnerUpdate(const ObjectPtr &old_obj, const ObjectPtr &cur);
  void OnOwnerDelete(const ObjectPtr &obj);
  void OnPodAdd(const ObjectPtr &pod);
  void OnPodUpdate(const ObjectPtr &old_pod, const ObjectPtr &cur);
  void OnPodDelete(const ObjectPtr &pod);
  ObjectPtr ResolveControllerRef(std::string_view ns, const JsonValue *ref);
  void EnqueueMatchingOwners(const JsonValue &pod);

  StatusOr<api::LabelSelector> SelectorOf(const JsonValue &owner) const;

  // Expectations with deletions tracked by pod key (upstream's UIDTrackingControllerExpectations).
  void ExpectDeletions(const std::string &key, const std::vector<std::string> &pod_keys);
  void DeletionObserved(const std::string &key, const std::string &pod_key);
  void DeleteExpectations(const std::string &key);

  // Sync steps.
  void ClaimPods(const SyncPtr &s, std::vector<ObjectPtr> active, std::function<void(Status)> then);
  void ManageReplicas(const SyncPtr &s, std::function<void(Status)> then);
  void CreatePods(const SyncPtr &s, int64_t count, std::function<void(Status)> then);
  void DeletePods(const SyncPtr &s, int64_t count, std::function<void(Status)> then);
  std::vector<ObjectPtr> RelatedPods(const JsonValue &owner);
  void UpdateStatus(const SyncPtr &s, const Status &manage_err);
  void WriteStatus(const SyncPtr &s, JsonDoc obj, std::shared_ptr<JsonDoc> status, bool retry,
                   std::function<void(Status)> then);

  ReplicaSetControllerConfig config_;
  Expectations expectations_;
  std::unordered_map<std::string, std::unordered_set<std::string>> pending_deletions_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

ReplicaSetController::ReplicaSetController(Context ctx, ReplicaSetControllerConfig config)
    : Controller(ctx, config.name, config.workers), config_(std::move(config)), expectations_(ctx.timers.clock()) {
  client::EventHandlers oh;
  oh.on_add = [this](const ObjectPtr &o) { EnqueueObject(o); };
  oh.on_update = [this](const ObjectPtr &o, const ObjectPtr &n) { OnOwnerUpdate(o, n); };
  oh.on_delete = [this](const ObjectPtr &o, bool) { OnOwnerDelete(o); };
  owners().AddEventHandler(std::move(oh));

  client::Informer &pi = pods();
  pi.AddIndexer(kOrphanIndex, OrphanIndexFunc);
  client::EventHandlers ph;
  ph.on_add = [this](const ObjectPtr &p) { OnPodAdd(p); };
  ph.on_update = [this](const ObjectPtr &o, const ObjectPtr &n) { OnPodUpdate(o, n); };
  ph.on_delete = [this](const ObjectPtr &p, bool) { OnPodDelete(p); };
  pi.AddEventHandler(std::move(ph));
}

StatusOr<api::LabelSelector> ReplicaSetController::SelectorOf(const JsonValue &owner) const {
  const JsonValue *sel = Path(owner, {"spec", "selector"});
  if (config_.selector_type == OwnerSelectorType::kMap) return MapSelector(sel);
  return api::LabelSelector::FromLabelSelectorJson(sel);
}

// ---- handlers -----------------------------------------------------------------------------------

void ReplicaSetController::OnOwnerUpdate(const ObjectPtr &old_obj, const ObjectPtr &cur) {
  // A re-created owner seen as an update: start its expectations clean.
  if (Uid(*old_obj) != Uid(*cur)) DeleteExpectations(client::ObjectKey(*old_obj));
  EnqueueObject(cur);
}

void ReplicaSetController::OnOwnerDelete(const ObjectPtr &obj) {
  std::string key = client::ObjectKey(*obj);
  DeleteExpectations(key);
  Enqueue(key);
}

ObjectPtr ReplicaSetController::ResolveControllerRef(std::string_view ns, const JsonValue *ref) {
  if (!ref || GetString(*ref, "kind").value_or("") != config_.kind) return nullptr;
  ObjectPtr owner = owners().Get(std::string(ns), std::string(GetString(*ref, "name").value_or("")));
  if (!owner || Uid(*owner) != GetString(*ref, "uid").value_or("")) return nullptr;
  return owner;
}

void ReplicaSetController::EnqueueMatchingOwners(const JsonValue &pod) {
  const JsonValue *labels = Labels(pod);
  int matched = 0;
  for (const ObjectPtr &owner : owners().ByIndex(client::kNamespaceIndex, std::string(Namespace(pod)))) {
    auto sel = SelectorOf(*owner);
    if (!sel.ok() || sel->Empty() || !sel->Matches(labels)) continue;
    ++matched;
    EnqueueObject(owner);
  }
  if (matched > 1) {
    MINIK_LOG(Warning) << name() << ": user error! more than one " << config_.kind
                       << " is selecting pods with labels: " << (labels ? ToJson(*labels) : "{}");
  }
}

void ReplicaSetController::OnPodAdd(const ObjectPtr &pod) {
  if (IsBeingDeleted(*pod)) {
    // A pod first seen already being deleted is no creation observation.
    OnPodDelete(pod);
    return;
  }
  if (const JsonValue *ref = ControllerRef(*pod)) {
    ObjectPtr owner = ResolveControllerRef(Namespace(*pod), ref);
    if (!owner) return;
    std::string key = client::ObjectKey(*owner);
    expectations_.CreationObserved(key);
    Enqueue(key);
    return;
  }
  // An orphan: wake every owner that may adopt it.
  EnqueueMatchingOwners(*pod);
}

void ReplicaSetController::OnPodUpdate(const ObjectPtr &old_pod, const ObjectPtr &cur) {
  if (client::MetaString(*old_pod, "resourceVersion") == client::MetaString(*cur, "resourceVersion")) return;
  bool labels_changed = !LabelsEqual(Labels(*old_pod), Labels(*cur));
  if (IsBeingDeleted(*cur)) {
    // A graceful deletion: replace the pod now rather than when the kubelet removes it.
    OnPodDelete(cur);
    if (labels_changed) OnPodDelete(old_pod);
    return;
  }
  const JsonValue *cur_ref = ControllerRef(*cur);
  const JsonValue *old_ref = ControllerRef(*old_pod);
  bool ref_changed = !RefsEqual(cur_ref, old_ref);
  if (ref_changed && old_ref) {
    if (ObjectPtr owner = ResolveControllerRef(Namespace(*old_pod), old_ref)) EnqueueObject(owner);
  }
  if (cur_ref) {
    ObjectPtr owner = ResolveControllerRef(Namespace(*cur), cur_ref);
    if (!owner) return;
    EnqueueObject(owner);
    int64_t min_ready = MinReadySeconds(*owner);
    if (!IsPodReady(*old_pod) && IsPodReady(*cur) && min_ready > 0) {
      // Check availability once minReadySeconds passed (plus a second against skew, as upstream).
      EnqueueAfter(client::ObjectKey(*owner), (min_ready + 1) * 1000);
    }
    return;
  }
  if (labels_changed || ref_changed) EnqueueMatchingOwners(*cur);
}

void ReplicaSetController::OnPodDelete(const ObjectPtr &pod) {
  const JsonValue *ref = ControllerRef(*pod);
  if (!ref) return;
  ObjectPtr owner = ResolveControllerRef(Namespace(*pod), ref);
  if (!owner) return;
  std::string key = client::ObjectKey(*owner);
  DeletionObserved(key, PodKeyOf(*pod));
  Enqueue(key);
}

// ---- expectations -------------------------------------------------------------------------------

void ReplicaSetController::ExpectDeletions(const std::string &key, const std::vector<std::string> &pod_keys) {
  pending_deletions_[key] = std::unordered_set<std::string>(pod_keys.begin(), pod_keys.end());
  expectations_.Expect(key, 0, static_cast<int64_t>(pod_keys.size()));
}

void ReplicaSetController::DeletionObserved(const std::string &key, const std::string &pod_key) {
  auto it = pending_deletions_.find(key);
  if (it == pending_deletions_.end() || it->second.erase(pod_key) == 0) return;
  if (it->second.empty()) pending_deletions_.erase(it);
  expectations_.LowerExpectations(key, 0, 1);
}

void ReplicaSetController::DeleteExpectations(const std::string &key) {
  expectations_.Delete(key);
  pending_deletions_.erase(key);
}

// ---- sync ---------------------------------------------------------------------------------------

void ReplicaSetController::Reconcile(const std::string &key, Done done) {
  ObjectPtr owner = owners().Get(key);
  if (!owner) {
    DeleteExpectations(key);
    done(Status::OK());
    return;
  }
  bool needs_sync = expectations_.Satisfied(key);
  auto selector = SelectorOf(*owner);
  if (!selector.ok()) {
    MINIK_LOG(Warning) << name() << ": error converting pod selector to selector for " << key << ": "
                       << selector.error().message();
    done(Status::OK());
    return;
  }

  auto s = std::make_shared<SyncState>();
  s->key = key;
  s->owner = owner;
  s->selector = *selector;
  s->done = std::move(done);
  {
    auto &a = s->involved.GetAllocator();
    s->involved.SetObject();
    SetString(s->involved, "apiVersion", config_.api_version, a);
    SetString(s->involved, "kind", config_.kind, a);
    JsonValue md(rapidjson::kObjectType);
    for (const char *f : {"name", "namespace", "uid", "resourceVersion"}) {
      std::string_view v = client::MetaString(*owner, f);
      if (!v.empty()) SetString(md, f, v, a);
    }
    s->involved.AddMember("metadata", md, a);
  }

  // The active pods this owner controls, and the orphans of its namespace (upstream lists every pod of the
  // namespace; pods controlled by others are ignored by the claim anyway).
  std::string uid(Uid(*owner));
  std::vector<std::string> keys = pods().IndexKeys(client::kOwnerIndex, uid);
  std::vector<std::string> orphans = pods().IndexKeys(kOrphanIndex, std::string(Namespace(*owner)));
  keys.insert(keys.end(), orphans.begin(), orphans.end());
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  std::vector<ObjectPtr> active;
  active.reserve(keys.size());
  for (const auto &k : keys) {
    ObjectPtr p = pods().Get(k);
    if (p && IsPodActive(*p)) active.push_back(std::move(p));
  }

  std::weak_ptr<bool> alive = alive_;
  ClaimPods(s, std::move(active), [this, alive, s, needs_sync](Status claim_err) {
    if (alive.expired()) return;
    if (!claim_err.ok()) {
      s->done(claim_err);
      return;
    }
    if (!needs_sync || IsBeingDeleted(*s->owner)) {
      UpdateStatus(s, Status::OK());
      return;
    }
    ManageReplicas(s, [this, alive, s](Status manage_err) {
      if (alive.expired()) return;
      UpdateStatus(s, manage_err);
    });
  });
}

void ReplicaSetController::ClaimPods(const SyncPtr &s, std::vector<ObjectPtr> active,
                                     std::function<void(Status)> then) {
  const JsonValue &owner = *s->owner;
  std::string_view owner_uid = Uid(owner);
  bool owner_deleting = IsBeingDeleted(owner);
  std::vector<ObjectPtr> to_adopt, to_release;
  for (const ObjectPtr &pod : active) {
    const JsonValue *ref = ControllerRef(*pod);
    bool match = s->selector.Matches(Labels(*pod));
    if (ref) {
      if (GetString(*ref, "uid").value_or("") != owner_uid) continue;  // someone else's
      if (match)
        s->claimed.push_back(pod);
      else if (!owner_deleting)
        to_release.push_back(pod);
      continue;
    }
    if (owner_deleting || !match || IsBeingDeleted(*pod) || Namespace(*pod) != Namespace(owner)) continue;
    to_adopt.push_back(pod);
  }
  if (to_adopt.empty() && to_release.empty()) {
    then(Status::OK());
    return;
  }

  std::weak_ptr<bool> alive = alive_;
  auto join = Join::Make([this, alive, s, then = std::move(then)](Status st) {
    if (alive.expired()) return;
    if (st.ok()) {
      // Keep the namespace's key order for the claimed pods.
      std::sort(s->claimed.begin(), s->claimed.end(),
                [](const ObjectPtr &a, const ObjectPtr &b) { return PodKeyOf(*a) < PodKeyOf(*b); });
    }
    then(st);
  });

  for (const ObjectPtr &pod : to_release) {
    JsonDoc patch(rapidjson::kObjectType);
    auto &a = patch.GetAllocator();
    JsonValue md(rapidjson::kObjectType);
    JsonValue refs(rapidjson::kArrayType);
    JsonValue del(rapidjson::kObjectType);
    SetString(del, "$patch", "delete", a);
    SetString(del, "uid", owner_uid, a);
    refs.PushBack(del, a);
    md.AddMember("ownerReferences", refs, a);
    SetString(md, "uid", Uid(*pod), a);
    patch.AddMember("metadata", md, a);
    auto cb = join->Add();
    ctx_.client.Patch(kPods, std::string(Namespace(*pod)), std::string(Name(*pod)), client::PatchType::kStrategicMerge,
                      ToJson(patch), "", [cb](StatusOr<JsonDoc> r) {
                        // Gone, or no longer ours (Invalid): nothing to release.
                        if (!r.ok() && !r.error().IsNotFound() && r.error().code() != Code::kInvalid)
                          cb(r.error());
                        else
                          cb(Status::OK());
                      });
  }

  if (!to_adopt.empty()) {
    // Before adopting, re-read the owner uncached: never adopt for an owner being deleted.
    auto adopt_cb = join->Add();
    std::string ns(Namespace(owner)), name(Name(owner)), uid(owner_uid), kind = config_.kind;
    ctx_.client.Get(config_.resource, ns, name,
                    [this, alive, s, to_adopt, adopt_cb, ns, name, uid, kind](StatusOr<JsonDoc> fresh) {
                      if (alive.expired()) return;
                      Status can_adopt;
                      if (!fresh.ok()) {
                        can_adopt = fresh.error().WithContext("can't recheck DeletionTimestamp");
                      } else if (Uid(*fresh) != uid) {
                        can_adopt = Status::Conflict("original " + kind + " " + ns + "/" + name + " is gone: got uid " +
                                                     std::string(Uid(*fresh)) + ", wanted " + uid);
                      } else if (IsBeingDeleted(*fresh)) {
                        can_adopt = Status::Conflict(ns + "/" + name + " has just been deleted at " +
                                                     std::string(client::MetaString(*fresh, "deletionTimestamp")));
                      }
                      if (!can_adopt.ok()) {
                        const JsonValue &p = *to_adopt.front();
                        adopt_cb(can_adopt.WithContext("can't adopt Pod " + std::string(Namespace(p)) + "/" +
                                                       std::string(Name(p)) + " (" + std::string(Uid(p)) + ")"));
                        return;
                      }
                      auto join2 = Join::Make(adopt_cb);
                      for (const ObjectPtr &pod : to_adopt) {
                        JsonDoc patch(rapidjson::kObjectType);
                        auto &a = patch.GetAllocator();
                        JsonValue md(rapidjson::kObjectType);
                        JsonValue refs(rapidjson::kArrayType);
                        refs.PushBack(MakeControllerRef(*s->owner, config_.api_version, config_.kind, a), a);
                        md.AddMember("ownerReferences", refs, a);
                        SetString(md, "uid", Uid(*pod), a);
                        patch.AddMember("metadata", md, a);
                        auto cb = join2->Add();
                        ctx_.client.Patch(kPods, std::string(Namespace(*pod)), std::string(Name(*pod)),
                                          client::PatchType::kStrategicMerge, ToJson(patch), "",
                                          [alive, s, pod, cb](StatusOr<JsonDoc> r) {
                                            if (alive.expired()) return;
                                            if (r.ok()) s->claimed.push_back(pod);
                                            // A pod gone meanwhile is simply not claimed.
                                            cb(r.ok() || r.error().IsNotFound() ? Status::OK() : r.error());
                                          });
                      }
                      join2->Finish();
                    });
  }
  join->Finish();
}

void ReplicaSetController::ManageReplicas(const SyncPtr &s, std::function<void(Status)> then) {
  int64_t diff = static_cast<int64_t>(s->claimed.size()) - SpecReplicas(*s->owner);
  if (diff < 0) {
    CreatePods(s, std::min(-diff, config_.burst_replicas), std::move(then));
  } else if (diff > 0) {
    DeletePods(s, std::min(diff, config_.burst_replicas), std::move(then));
  } else {
    then(Status::OK());
  }
}

// Calls fn `count` times in batches of 1, 2, 4, ... (each batch once the previous one finished), stopping
// after the first batch with an error; done(successes, first error).
struct SlowStart : std::enable_shared_from_this<SlowStart> {
  std::function<void(std::function<void(Status)>)> fn;
  std::function<void(int64_t, Status)> done;
  int64_t remaining = 0;
  int64_t successes = 0;

  void Batch(int64_t size) {
    if (size <= 0) {
      done(successes, Status::OK());
      return;
    }
    auto self = shared_from_this();
    auto ok = std::make_shared<int64_t>(0);
    auto join = Join::Make([self, size, ok](Status st) {
      self->successes += *ok;
      if (!st.ok()) {
        self->done(self->successes, st);
        return;
      }
      self->remaining -= size;
      self->Batch(std::min(2 * size, self->remaining));
    });
    for (int64_t i = 0; i < size; ++i) {
      auto cb = join->Add();
      fn([cb, ok](Status st) {
        if (st.ok()) ++*ok;
        cb(std::move(st));
      });
    }
    join->Finish();
  }
};

void ReplicaSetController::CreatePods(const SyncPtr &s, int64_t count, std::function<void(Status)> then) {
  expectations_.Expect(s->key, count, 0);
  const JsonValue &owner = *s->owner;
  JsonDoc empty(rapidjson::kObjectType);
  const JsonValue *tmpl = Path(owner, {"spec", "template"});
  auto pod = std::make_shared<JsonDoc>(PodFromTemplate(tmpl ? *tmpl : static_cast<const JsonValue &>(empty), owner,
                                                       config_.api_version, config_.kind, PodsPrefix(Name(owner))));
  const JsonValue *pod_labels = Labels(*pod);
  bool no_labels = !pod_labels || pod_labels->MemberCount() == 0;
  std::string ns(Namespace(owner));
  std::weak_ptr<bool> alive = alive_;

  auto ss = std::make_shared<SlowStart>();
  ss->remaining = count;
  ss->fn = [this, alive, s, pod, no_labels, ns](std::function<void(Status)> cb) {
    if (no_labels) {
      cb(Status::Invalid("unable to create pods, no labels"));
      return;
    }
    ctx_.client.Create(kPods, ns, *pod, [this, alive, s, cb](StatusOr<JsonDoc> r) {
      if (alive.expired()) return;
      if (!r.ok()) {
        // A terminating namespace refuses every create: nothing to report, nothing to retry.
        if (HasCause(r.error(), kNamespaceTerminatingCause)) {
          cb(Status::OK());
          return;
        }
        ctx_.events.EventFrom(config_.event_component, s->involved, kEventTypeWarning, "FailedCreate",
                              "Error creating: " + r.error().message());
        cb(r.error());
        return;
      }
      ctx_.events.EventFrom(config_.event_component, s->involved, kEventTypeNormal, "SuccessfulCreate",
                            "Created pod: " + std::string(Name(*r)));
      cb(Status::OK());
    });
  };
  ss->done = [this, alive, s, count, then = std::move(then)](int64_t successes, Status err) {
    if (alive.expired()) return;
    // Pods never created (failed or skipped) will not be observed.
    if (int64_t skipped = count - successes; skipped > 0) {
      MINIK_LOG(Debug) << name() << ": slow-start failure for " << s->key << ": skipping creation of " << skipped
                       << " pods";
      expectations_.LowerExpectations(s->key, skipped, 0);
    }
    then(err);
  };
  ss->Batch(std::min<int64_t>(count, 1));
}

std::vector<ObjectPtr> ReplicaSetController::RelatedPods(const JsonValue &owner) {
  std::vector<ObjectPtr> out;
  const JsonValue *ref = ControllerRef(owner);
  if (!ref) return out;
  std::unordered_set<std::string> seen;
  std::vector<ObjectPtr> ns_pods;
  bool listed = false;
  for (const ObjectPtr &sibling :
       owners().ByIndex(client::kOwnerIndex, std::string(GetString(*ref, "uid").value_or("")))) {
    auto sel = SelectorOf(*sibling);
    if (!sel.ok()) continue;
    if (!listed) {
      ns_pods = pods().ByIndex(client::kNamespaceIndex, std::string(Namespace(owner)));
      listed = true;
    }
    for (const ObjectPtr &p : ns_pods) {
      if (Namespace(*p) != Namespace(*sibling) || !sel->Matches(Labels(*p))) continue;
      if (seen.insert(std::string(Uid(*p))).second) out.push_back(p);
    }
  }
  return out;
}

void ReplicaSetController::DeletePods(const SyncPtr &s, int64_t count, std::function<void(Status)> then) {
  std::vector<ObjectPtr> victims =
      PodsToDelete(s->claimed, RelatedPods(*s->owner), static_cast<size_t>(count), clock().Now());
  std::vector<std::string> victim_keys;
  for (const auto &v : victims) victim_keys.push_back(PodKeyOf(*v));
  ExpectDeletions(s->key, victim_keys);

  std::weak_ptr<bool> alive = alive_;
  auto join = Join::Make(std::move(then));
  for (const ObjectPtr &pod : victims) {
    auto cb = join->Add();
    std::string pod_name(Name(*pod));
    std::string pod_key = PodKeyOf(*pod);
    ctx_.client.Delete(kPods, std::string(Namespace(*pod)), pod_name, client::DeleteOptions{},
                       [this, alive, s, cb, pod_name, pod_key](StatusOr<JsonDoc> r) {
                         if (alive.expired()) return;
                         if (r.ok()) {
                           ctx_.events.EventFrom(config_.event_component, s->involved, kEventTypeNormal,
                                                 "SuccessfulDelete", "Deleted pod: " + pod_name);
                           cb(Status::OK());
                           return;
                         }
                         // The informer will not see this deletion.
                         DeletionObserved(s->key, pod_key);
                         if (r.error().IsNotFound()) {
                           cb(Status::OK());
                           return;
                         }
                         ctx_.events.EventFrom(config_.event_component, s->involved, kEventTypeWarning, "FailedDelete",
                                               "Error deleting: " + r.error().message());
                         cb(r.error().WithContext("unable to delete pods"));
                       });
  }
  join->Finish();
}

// ---- status -------------------------------------------------------------------------------------

void ReplicaSetController::UpdateStatus(const SyncPtr &s, const Status &manage_err) {
  const JsonValue &owner = *s->owner;
  TimePoint now = clock().Now();
  int64_t min_ready = MinReadySeconds(owner);
  const JsonValue *template_labels = Path(owner, {"spec", "template", "metadata", "labels"});
  int64_t fully_labeled = 0, ready = 0, available = 0;
  for (const ObjectPtr &pod : s->claimed) {
    if (HasTemplateLabels(template_labels, Labels(*pod))) ++fully_labeled;
    if (IsPodReady(*pod)) {
      ++ready;
      if (IsPodAvailable(*pod, min_ready, now)) ++available;
    }
  }
  int64_t replicas = static_cast<int64_t>(s->claimed.size());
  int64_t spec_replicas = SpecReplicas(owner);

  static const JsonValue kEmpty(rapidjson::kObjectType);
  const JsonValue *old_status = Member(owner, "status");
  if (!old_status || !old_status->IsObject()) old_status = &kEmpty;

  // The conditions: ReplicaFailure set on a failure (kept as first reported while it lasts), removed once a
  // sync succeeds.
  auto status = std::make_shared<JsonDoc>(rapidjson::kObjectType);
  auto &a = status->GetAllocator();
  JsonDoc conds_holder(rapidjson::kObjectType);
  if (const JsonValue *c = Member(*old_status, "conditions"); c && c->IsArray()) {
    conds_holder.AddMember("conditions", Clone(*c, conds_holder.GetAllocator()), conds_holder.GetAllocator());
  }
  const JsonValue *failure = FindCondition(*old_status, kReplicaFailure);
  if (!manage_err.ok() && !failure) {
    int64_t diff = replicas - spec_replicas;
    std::string reason = diff < 0 ? "FailedCreate" : diff > 0 ? "FailedDelete" : "";
    SetCondition(conds_holder, kReplicaFailure, "True", reason, manage_err.message(), now, conds_holder.GetAllocator());
  } else if (manage_err.ok() && failure) {
    RemoveCondition(conds_holder, kReplicaFailure);
  }
  const JsonValue *new_conds = Member(conds_holder, "conditions");
  if (new_conds && (!new_conds->IsArray() || new_conds->Size() == 0)) new_conds = nullptr;

  auto old_int = [&](std::string_view f) { return IntOr(Member(*old_status, f), 0); };
  const JsonValue *old_conds = Member(*old_status, "conditions");
  if (old_conds && (!old_conds->IsArray() || old_conds->Size() == 0)) old_conds = nullptr;
  int64_t generation = IntOr(Path(owner, {"metadata", "generation"}), 0);
  bool same = old_int("replicas") == replicas && old_int("fullyLabeledReplicas") == fully_labeled &&
              old_int("readyReplicas") == ready && old_int("availableReplicas") == available &&
              old_int("observedGeneration") == generation &&
              (new_conds == nullptr ? old_conds == nullptr : old_conds && JsonEqual(*old_conds, *new_conds));

  std::weak_ptr<bool> alive = alive_;
  auto finish = [this, alive, s, manage_err, ready, available, spec_replicas, min_ready](Status st) {
    if (alive.expired()) return;
    if (!st.ok()) {
      s->done(st);
      return;
    }
    // Resync once minReadySeconds passed, so that availability is noticed.
    if (manage_err.ok() && min_ready > 0 && ready == spec_replicas && available != spec_replicas) {
      EnqueueAfter(s->key, min_ready * 1000);
    }
    s->done(manage_err);
  };
  if (same) {
    finish(Status::OK());
    return;
  }

  // The status in upstream's field order (zero values omitted as omitempty does), then any other field the
  // stored status has.
  status->AddMember("replicas", replicas, a);
  if (fully_labeled) status->AddMember("fullyLabeledReplicas", fully_labeled, a);
  if (ready) status->AddMember("readyReplicas", ready, a);
  if (available) status->AddMember("availableReplicas", available, a);
  if (generation) status->AddMember("observedGeneration", generation, a);
  if (new_conds) status->AddMember("conditions", Clone(*new_conds, a), a);
  static const std::set<std::string_view> kKnown = {"replicas",          "fullyLabeledReplicas", "readyReplicas",
                                                    "availableReplicas", "observedGeneration",   "conditions"};
  for (const auto &m : old_status->GetObject()) {
    std::string_view n(m.name.GetString(), m.name.GetStringLength());
    if (!kKnown.count(n)) status->AddMember(JsonValue(m.name, a), Clone(m.value, a), a);
  }

  JsonDoc obj(rapidjson::kObjectType);
  obj.CopyFrom(owner, obj.GetAllocator());
  WriteStatus(s, std::move(obj), status, /*retry=*/true, std::move(finish));
}

void ReplicaSetController::WriteStatus(const SyncPtr &s, JsonDoc obj, std::shared_ptr<JsonDoc> status, bool retry,
                                       std::function<void(Status)> then) {
  auto &a = obj.GetAllocator();
  SetString(obj, "apiVersion", config_.api_version, a);
  SetString(obj, "kind", config_.kind, a);
  SetMember(obj, "status", Clone(*status, a), a);
  std::weak_ptr<bool> alive = alive_;
  std::string ns(Namespace(*s->owner)), name(Name(*s->owner));
  ctx_.client.Update(config_.resource, ns, obj, "status",
                     [this, alive, s, status, retry, ns, name, then](StatusOr<JsonDoc> r) {
                       if (alive.expired()) return;
                       if (r.ok() || !retry) {
                         then(r.ok() ? Status::OK() : r.error());
                         return;
                       }
                       // One retry on the latest version (upstream's statusUpdateRetries = 1).
                       ctx_.client.Get(config_.resource, ns, name, [this, alive, s, status, then](StatusOr<JsonDoc> g) {
                         if (alive.expired()) return;
                         if (!g.ok()) {
                           then(g.error());
                           return;
                         }
                         WriteStatus(s, std::move(*g), status, /*retry=*/false, then);
                       });
                     });
}

}  // namespace

// ---- public -------------------------------------------------------------------------------------

std::vector<ObjectPtr> PodsToDelete(std::vector<ObjectPtr> pods, const std::vector<ObjectPtr> &related_pods,
                                    size_t count, TimePoint now) {
  if (count >= pods.size()) return pods;  // all of them: no ranking needed
  std::unordered_map<std::string, int> on_node;
  for (const ObjectPtr &p : related_pods) {
    if (!IsPodActive(*p)) continue;
    const JsonValue *n = Path(*p, {"spec", "nodeName"});
    ++on_node[n && n->IsString() ? n->GetString() : ""];
  }
  std::vector<RankedPod> ranked;
  ranked.reserve(pods.size());
  for (const ObjectPtr &p : pods) {
    const JsonValue *n = Path(*p, {"spec", "nodeName"});
    auto it = on_node.find(n && n->IsString() ? n->GetString() : "");
    ranked.push_back(MakeRanked(p, it == on_node.end() ? 0 : it->second));
  }
  MergeSort(ranked, [now](const RankedPod &a, const RankedPod &b) { return DeleteBefore(a, b, now); });
  std::vector<ObjectPtr> out;
  out.reserve(count);
  for (size_t i = 0; i < count; ++i) out.push_back(ranked[i].pod);
  return out;
}

ReplicaSetControllerConfig ReplicaSetConfig() {
  ReplicaSetControllerConfig c;
  c.resource = kReplicaSets;
  c.api_version = "apps/v1";
  c.kind = "ReplicaSet";
  c.name = "replicaset";
  c.event_component = "replicaset-controller";
  c.selector_type = OwnerSelectorType::kLabelSelector;
  return c;
}

ControllerPtr NewReplicaSetLikeController(Context ctx, ReplicaSetControllerConfig config) {
  return std::make_unique<ReplicaSetController>(ctx, std::move(config));
}

ControllerPtr NewReplicaSetController(Context ctx) { return NewReplicaSetLikeController(ctx, ReplicaSetConfig()); }

}  // namespace minik::controllers
