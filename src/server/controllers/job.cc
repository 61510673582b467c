#include "server/controllers/job.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <set>
#include <unordered_map>

#include "common/log.h"
#include "server/controllers/util.h"

namespace minik::controllers {

namespace {

constexpr char kTrackingFinalizer[] = "batch.kubernetes.io/job-tracking";
constexpr char kIndexAnnotation[] = "batch.kubernetes.io/job-completion-index";
constexpr char kIndexEnv[] = "JOB_COMPLETION_INDEX";
constexpr char kOrphanPrefix[] = "pod:";  // queue keys of orphan pods whose finalizer must go
constexpr int64_t kBatchPeriodMs = 1000;  // syncJobBatchPeriod
constexpr int64_t kPodFailureBackoffMs = 10 * 1000;
constexpr int64_t kMaxPodFailureBackoffMs = 10 * 60 * 1000;
constexpr int kMaxUncountedPods = 500;
constexpr int kMaxPodCreateDeletePerSync = 500;
constexpr size_t kMaxGeneratedNameLength = 58;

int64_t Ms(std::chrono::nanoseconds d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); }

std::optional<TimePoint> TimeOf(const JsonValue* v) {
  TimePoint t;
  if (!v || !v->IsString() || !ParseRFC3339(v->GetString(), &t)) return std::nullopt;
  return t;
}

bool HasFinalizer(const JsonValue& obj, std::string_view f) {
  const JsonValue* fs = Path(obj, {"metadata", "finalizers"});
  if (!fs || !fs->IsArray()) return false;
  for (const auto& v : fs->GetArray()) {
    if (v.IsString() && f == v.GetString()) return true;
  }
  return false;
}

// The finished condition of a Job ("Complete"/"Failed" True), or "".
std::string FinishedType(const JsonValue& job) {
  const JsonValue* conds = Path(job, {"status", "conditions"});
  if (!conds || !conds->IsArray()) return "";
  for (const auto& c : conds->GetArray()) {
    std::string_view type = GetString(c, "type").value_or("");
    if ((type == "Complete" || type == "Failed") && GetString(c, "status").value_or("") == "True") {
      return std::string(type);
    }
  }
  return "";
}

int CompletionIndex(const JsonValue& pod) {
  auto v = Annotation(pod, kIndexAnnotation);
  if (!v || v->empty() || v->size() > 9) return -1;
  int n = 0;
  for (char ch : *v) {
    if (ch < '0' || ch > '9') return -1;
    n = n * 10 + (ch - '0');
  }
  return n;
}

bool IsTerminating(const JsonValue& pod) { return IsBeingDeleted(pod) && !IsPodTerminal(pod); }

// ---- ordered intervals of completion indexes (upstream's orderedIntervals) ---------------------

using Intervals = std::vector<std::pair<int, int>>;

Intervals WithIndexes(const Intervals& in, std::vector<int> add) {
  std::set<int> all(add.begin(), add.end());
  Intervals out;
  std::vector<std::pair<int, int>> items = in;
  for (int i : all) items.emplace_back(i, i);
  std::sort(items.begin(), items.end());
  for (const auto& [a, b] : items) {
    if (!out.empty() && a <= out.back().second + 1) out.back().second = std::max(out.back().second, b);
    else out.emplace_back(a, b);
  }
  return out;
}

int64_t Total(const Intervals& iv) {
  int64_t n = 0;
  for (const auto& [a, b] : iv) n += b - a + 1;
  return n;
}

bool Has(const Intervals& iv, int x) {
  for (const auto& [a, b] : iv) {
    if (x >= a && x <= b) return true;
  }
  return false;
}

std::string IntervalsString(const Intervals& iv) {
  std::string s;
  for (const auto& [a, b] : iv) {
    if (!s.empty()) s += ',';
    s += std::to_string(a);
    if (b > a) s += (b == a + 1 ? "," : "-") + std::to_string(b);
  }
  return s;
}

Intervals ParseIntervals(std::string_view s, int completions) {
  Intervals out;
  size_t st = 0;
  while (st < s.size()) {
    size_t e = s.find(',', st);
    std::string_view part = s.substr(st, e == std::string_view::npos ? std::string_view::npos : e - st);
    st = e == std::string_view::npos ? s.size() : e + 1;
    size_t dash = part.find('-');
    auto num = [](std::string_view x, int* out) {
      if (x.empty() || x.size() > 9) return false;
      int n = 0;
      for (char ch : x) {
        if (ch < '0' || ch > '9') return false;
        n = n * 10 + (ch - '0');
      }
      *out = n;
      return true;
    };
    int a = 0, b = 0;
    if (!num(part.substr(0, dash), &a)) continue;
    b = a;
    if (dash != std::string_view::npos && !num(part.substr(dash + 1), &b)) continue;
    if (a >= completions) continue;
    b = std::min(b, completions - 1);
    out = WithIndexes(out, {});
    out.emplace_back(a, b);
  }
  return WithIndexes(out, {});
}

// ---- pod ordering for removal (controller.ActivePods) ------------------------------------------

int PhaseRank(const JsonValue& pod) {
  std::string_view p = PodPhase(pod);
  if (p == "Pending") return 0;
  if (p == "Unknown") return 1;
  if (p == "Running") return 2;
  return 3;
}

std::string_view StrAt(const JsonValue& obj, std::initializer_list<std::string_view> path) {
  const JsonValue* v = Path(obj, path);
  return v && v->IsString() ? std::string_view(v->GetString(), v->GetStringLength()) : std::string_view();
}

bool RemoveFirst(const client::ObjectPtr& x, const client::ObjectPtr& y) {
  bool xn = StrAt(*x, {"spec", "nodeName"}).empty();
  bool yn = StrAt(*y, {"spec", "nodeName"}).empty();
  if (xn != yn) return xn;
  if (PhaseRank(*x) != PhaseRank(*y)) return PhaseRank(*x) < PhaseRank(*y);
  if (IsPodReady(*x) != IsPodReady(*y)) return !IsPodReady(*x);
  auto cx = TimeOf(Path(*x, {"metadata", "creationTimestamp"}));
  auto cy = TimeOf(Path(*y, {"metadata", "creationTimestamp"}));
  if (cx != cy) return cx > cy;  // newer first
  return Name(*x) < Name(*y);
}

// When a pod finished (for the failure backoff): Ready=False transition, containers'
// finishedAt, deletion, creation.
TimePoint FinishedTime(const JsonValue& pod) {
  if (IsPodTerminal(pod)) {
    if (const JsonValue* st = Member(pod, "status")) {
      const JsonValue* ready = FindCondition(*st, "Ready");
      if (ready && GetString(*ready, "status").value_or("") == "False") {
        if (auto t = TimeOf(Member(*ready, "lastTransitionTime"))) return *t;
      }
    }
  }
  std::optional<TimePoint> latest;
  for (const char* list : {"initContainerStatuses", "containerStatuses"}) {
    const JsonValue* cs = Path(pod, {"status", list});
    if (!cs || !cs->IsArray()) continue;
    for (const auto& c : cs->GetArray()) {
      const JsonValue* term = Path(c, {"state", "terminated"});
      auto t = term ? TimeOf(Member(*term, "finishedAt")) : std::nullopt;
      if (t && (!latest || *t > *latest)) latest = t;
    }
  }
  if (latest) return *latest;
  if (auto t = TimeOf(Path(pod, {"metadata", "deletionTimestamp"}))) return *t;
  return TimeOf(Path(pod, {"metadata", "creationTimestamp"})).value_or(TimePoint());
}

struct Backoff {
  int64_t failures = 0;
  std::optional<TimePoint> last_failure;
  int64_t RemainingMs(TimePoint now) const {
    if (failures == 0 || !last_failure) return 0;
    int64_t d = kPodFailureBackoffMs;
    for (int64_t i = 1; i < failures; ++i) {
      d *= 2;
      if (d >= kMaxPodFailureBackoffMs) {
        d = kMaxPodFailureBackoffMs;
        break;
      }
    }
    int64_t elapsed = Ms(now - *last_failure);
    return d < elapsed ? 0 : d - elapsed;
  }
};

struct Condition {
  std::string type, status, reason, message;
};

class JobController final : public Controller {
 public:
  explicit JobController(Context ctx)
      : Controller(ctx, "job"),
        jobs_(ctx.informers.For(kJobs)),
        pods_(ctx.informers.For(kPods)),
        expectations_(ctx.timers.clock()),
        alive_(std::make_shared<bool>(true)) {
    client::EventHandlers jh;
    jh.on_add = [this](const client::ObjectPtr& o) { EnqueueObject(o); };
    jh.on_update = [this](const client::ObjectPtr& old_obj, const client::ObjectPtr& o) { UpdateJob(old_obj, o); };
    jh.on_delete = [this](const client::ObjectPtr& o, bool) {
      EnqueueObject(o);
      CleanupPodFinalizers(*o);
    };
    jobs_.AddEventHandler(jh);
    client::EventHandlers ph;
    ph.on_add = [this](const client::ObjectPtr& o) { AddPod(o); };
    ph.on_update = [this](const client::ObjectPtr& old_obj, const client::ObjectPtr& o) { UpdatePod(old_obj, o); };
    ph.on_delete = [this](const client::ObjectPtr& o, bool) { DeletePod(*o, true); };
    pods_.AddEventHandler(ph);
  }
  ~JobController() override { *alive_ = false; }

  void Reconcile(const std::string& key, Done done) override;

 private:
  struct Sync;

  // ---- event handlers: bookkeeping and enqueueing only ----------------------------------------
  client::ObjectPtr ResolveJob(std::string_view ns, const JsonValue* ref) const {
    if (!ref || GetString(*ref, "kind").value_or("") != "Job") return nullptr;
    auto job = jobs_.Get(std::string(ns), std::string(GetString(*ref, "name").value_or("")));
    if (!job || Uid(*job) != GetString(*ref, "uid").value_or("")) return nullptr;
    return job;
  }
  void EnqueueBatched(const JsonValue& job) { EnqueueAfter(client::ObjectKey(job), kBatchPeriodMs); }
  void EnqueueOrphan(const JsonValue& pod) { Enqueue(kOrphanPrefix + client::ObjectKey(pod)); }
  void EnqueueMatchingJobs(const JsonValue& pod) {
    for (const auto& j : jobs_.ByIndex(client::kNamespaceIndex, std::string(Namespace(pod)))) {
      if (SpecSelector(*j).Matches(Labels(pod))) EnqueueBatched(*j);
    }
  }
  void CleanupPodFinalizers(const JsonValue& job) {
    for (const auto& p : pods_.ByIndex(client::kOwnerIndex, std::string(Uid(job)))) {
      if (HasFinalizer(*p, kTrackingFinalizer)) EnqueueOrphan(*p);
    }
  }
  void UpdateJob(const client::ObjectPtr& old_obj, const client::ObjectPtr& cur) {
    auto gen = [](const JsonValue& j) { return GetInt(*Member(j, "metadata"), "generation").value_or(0); };
    if (gen(*old_obj) == gen(*cur)) EnqueueBatched(*cur);
    else EnqueueObject(cur);
    if (!FinishedType(*cur).empty()) CleanupPodFinalizers(*cur);
    auto start = TimeOf(Path(*cur, {"status", "startTime"}));
    const JsonValue* ads = Path(*cur, {"spec", "activeDeadlineSeconds"});
    const JsonValue* old_ads = Path(*old_obj, {"spec", "activeDeadlineSeconds"});
    if (start && ads && ads->IsInt64() && (!old_ads || !old_ads->IsInt64() || old_ads->GetInt64() != ads->GetInt64())) {
      int64_t left = ads->GetInt64() * 1000 - Ms(clock().Now() - *start);
      EnqueueAfter(client::ObjectKey(*cur), std::max<int64_t>(0, left));
    }
  }
  void AddPod(const client::ObjectPtr& pod) {
    if (IsBeingDeleted(*pod)) return DeletePod(*pod, false);
    if (const JsonValue* ref = ControllerRef(*pod)) {
      auto job = ResolveJob(Namespace(*pod), ref);
      if (!job) return;
      expectations_.CreationObserved(client::ObjectKey(*job));
      return EnqueueBatched(*job);
    }
    if (HasFinalizer(*pod, kTrackingFinalizer)) EnqueueOrphan(*pod);
    EnqueueMatchingJobs(*pod);
  }
  void UpdatePod(const client::ObjectPtr& old_pod, const client::ObjectPtr& cur) {
    if (client::MetaString(*old_pod, "resourceVersion") == client::MetaString(*cur, "resourceVersion")) return;
    if (IsBeingDeleted(*cur)) return DeletePod(*cur, false);
    bool fin_removed = !HasFinalizer(*cur, kTrackingFinalizer);
    const JsonValue* cur_ref = ControllerRef(*cur);
    const JsonValue* old_ref = ControllerRef(*old_pod);
    bool ref_changed = JsonChanged(cur_ref, old_ref);
    if (ref_changed && old_ref) {
      if (auto job = ResolveJob(Namespace(*old_pod), old_ref)) {
        if (fin_removed) FinalizerRemovalObserved(client::ObjectKey(*job), std::string(Uid(*cur)));
        EnqueueBatched(*job);
      }
    }
    if (cur_ref) {
      auto job = ResolveJob(Namespace(*cur), cur_ref);
      if (!job) return;
      if (fin_removed) FinalizerRemovalObserved(client::ObjectKey(*job), std::string(Uid(*cur)));
      return EnqueueBatched(*job);
    }
    if (HasFinalizer(*cur, kTrackingFinalizer)) EnqueueOrphan(*cur);
    const JsonValue* ol = Labels(*old_pod);
    const JsonValue* cl = Labels(*cur);
    bool labels_changed = JsonChanged(ol, cl);
    if (labels_changed || ref_changed) EnqueueMatchingJobs(*cur);
  }
  void DeletePod(const JsonValue& pod, bool final) {
    const JsonValue* ref = ControllerRef(pod);
    bool has_fin = HasFinalizer(pod, kTrackingFinalizer);
    if (!ref) {
      if (has_fin) EnqueueOrphan(pod);
      return;
    }
    auto job = ResolveJob(Namespace(pod), ref);
    if (!job || !FinishedType(*job).empty()) {
      if (has_fin) EnqueueOrphan(pod);
      return;
    }
    std::string key = client::ObjectKey(*job);
    expectations_.DeletionObserved(key);
    if (final || !has_fin) FinalizerRemovalObserved(key, std::string(Uid(pod)));
    EnqueueBatched(*job);
  }
  void FinalizerRemovalObserved(const std::string& key, const std::string& uid) {
    auto it = expected_rm_.find(key);
    if (it == expected_rm_.end()) return;
    it->second.erase(uid);
    if (it->second.empty()) expected_rm_.erase(it);
  }

  void SyncOrphanPod(const std::string& pod_key, Done done);

  client::Informer& jobs_;
  client::Informer& pods_;
  Expectations expectations_;
  // Pods whose tracking finalizer removal was sent and not yet seen, by Job key.
  std::unordered_map<std::string, std::set<std::string>> expected_rm_;
  std::unordered_map<std::string, Backoff> backoff_;
  std::shared_ptr<bool> alive_;
};

// A JSON patch removing the tracking finalizer (guarded by a test of its position).
std::string RemoveFinalizerPatch(const JsonValue& pod) {
  const JsonValue* fs = Path(pod, {"metadata", "finalizers"});
  if (!fs || !fs->IsArray()) return "";
  for (rapidjson::SizeType i = 0; i < fs->Size(); ++i) {
    if ((*fs)[i].IsString() && std::string_view((*fs)[i].GetString()) == kTrackingFinalizer) {
      std::string p = "/metadata/finalizers/" + std::to_string(i);
      return R"([{"op":"test","path":")" + p + R"(","value":")" + kTrackingFinalizer + R"("},{"op":"remove","path":")" +
             p + R"("}])";
    }
  }
  return "";
}

void JobController::SyncOrphanPod(const std::string& pod_key, Done done) {
  client::ObjectPtr pod = pods_.Get(pod_key);
  if (!pod) return done(Status::OK());
  if (const JsonValue* ref = ControllerRef(*pod)) {
    if (GetString(*ref, "kind").value_or("") != "Job" || GetString(*ref, "apiVersion").value_or("") != "batch/v1") {
      return done(Status::OK());
    }
    auto job = ResolveJob(Namespace(*pod), ref);
    if (job && FinishedType(*job).empty()) return done(Status::OK());
  }
  std::string patch = RemoveFinalizerPatch(*pod);
  if (patch.empty()) return done(Status::OK());
  std::weak_ptr<bool> alive = alive_;
  ctx_.client.Patch(kPods, std::string(Namespace(*pod)), std::string(Name(*pod)), client::PatchType::kJson, patch, "",
                    [alive, done](StatusOr<JsonDoc> r) {
                      if (alive.expired()) return;
                      done(r.ok() || r.error().IsNotFound() ? Status::OK() : r.error());
                    });
}

// ---- one sync of one Job (upstream's syncJob), as a chain of asynchronous steps ----------------

struct JobController::Sync : std::enable_shared_from_this<Sync> {
  JobController* c;
  std::weak_ptr<bool> alive;
  std::string key;
  Done done;
  JsonDoc job;  // the working copy whose status is written
  TimePoint now;

  std::vector<client::ObjectPtr> pods;
  std::set<std::string> adopted;  // uids of pods adopted in this sync (they get the finalizer)
  std::vector<client::ObjectPtr> active_pods;
  std::set<std::string> uncounted_succeeded, uncounted_failed, expected_rm;
  int64_t active = 0, ready = 0, terminating = 0, succeeded = 0, failed = 0;
  bool satisfied = true;
  bool indexed = false;
  int64_t completions = -1;  // -1: spec.completions unset
  Intervals prev_succeeded_indexes, succeeded_indexes;
  std::optional<Condition> finished;
  Backoff new_backoff;
  Status manage_err;
  bool suspend_changed = false;
  bool start_time_set = false;

  JsonAlloc& A() { return job.GetAllocator(); }
  std::string ns() const { return std::string(Namespace(job)); }
  const JsonValue& Spec() const {
    static const JsonValue kEmpty(rapidjson::kObjectType);
    const JsonValue* s = Member(job, "spec");
    return s ? *s : kEmpty;
  }
  JsonValue& StatusV() { return EnsureObject(job, "status", A()); }
  int64_t StatusInt(std::string_view f) const {
    const JsonValue* st = Member(job, "status");
    return st ? GetInt(*st, f).value_or(0) : 0;
  }
  bool Suspended() const { return GetBool(Spec(), "suspend").value_or(false); }
  bool HasTracking(const JsonValue& pod) const {
    return HasFinalizer(pod, kTrackingFinalizer) || adopted.count(std::string(Uid(pod)));
  }
  bool OnlyReplaceFailed() const {
    if (GetString(Spec(), "podReplacementPolicy").value_or("") == "Failed") return true;
    return Member(Spec(), "podFailurePolicy") != nullptr;
  }
  bool IsPodFailed(const JsonValue& pod) const {
    if (PodPhase(pod) == "Failed") return true;
    if (OnlyReplaceFailed()) return false;
    return IsBeingDeleted(pod) && PodPhase(pod) != "Succeeded";
  }
  bool ValidIndex(const JsonValue& pod) const {
    int ix = CompletionIndex(pod);
    return ix >= 0 && ix < completions;
  }
  void Event(std::string_view type, std::string_view reason, std::string_view message) {
    JsonDoc d(rapidjson::kObjectType);
    auto& a = d.GetAllocator();
    SetString(d, "apiVersion", "batch/v1", a);
    SetString(d, "kind", "Job", a);
    d.AddMember("metadata", Clone(*Member(job, "metadata"), a), a);
    c->ctx_.events.EventFrom("job-controller", d, type, reason, message);
  }
  Condition NewFailure(std::string reason, std::string message) {
    return Condition{"FailureTarget", "True", std::move(reason), std::move(message)};
  }
  JsonValue MakeCondition(const Condition& cond) {
    JsonValue c(rapidjson::kObjectType);
    std::string ts = FormatRFC3339(now);
    SetString(c, "type", cond.type, A());
    SetString(c, "status", cond.status, A());
    SetString(c, "lastProbeTime", ts, A());
    SetString(c, "lastTransitionTime", ts, A());
    if (!cond.reason.empty()) SetString(c, "reason", cond.reason, A());
    if (!cond.message.empty()) SetString(c, "message", cond.message, A());
    return c;
  }
  void AppendCondition(const Condition& cond) {
    JsonValue& st = StatusV();
    JsonValue* conds = MutableMember(st, "conditions");
    if (!conds || !conds->IsArray()) {
      SetMember(st, "conditions", JsonValue(rapidjson::kArrayType), A());
      conds = MutableMember(st, "conditions");
    }
    conds->PushBack(MakeCondition(cond), A());
  }
  // Replaces a condition in place (keeping its position), or appends it.
  bool SetConditionInPlace(const Condition& cond) {
    JsonValue& st = StatusV();
    JsonValue* conds = MutableMember(st, "conditions");
    if (conds && conds->IsArray()) {
      for (auto& c0 : conds->GetArray()) {
        if (GetString(c0, "type").value_or("") != cond.type) continue;
        if (GetString(c0, "status").value_or("") == cond.status && GetString(c0, "reason").value_or("") == cond.reason &&
            GetString(c0, "message").value_or("") == cond.message) {
          return false;
        }
        c0 = MakeCondition(cond);
        return true;
      }
    }
    if (cond.status == "False") return false;
    AppendCondition(cond);
    return true;
  }
  const JsonValue* ConditionOf(std::string_view type) const {
    const JsonValue* st = Member(job, "status");
    const JsonValue* cnd = st ? FindCondition(*st, type) : nullptr;
    return cnd && GetString(*cnd, "status").value_or("") == "True" ? cnd : nullptr;
  }

  // ---- step 1: claim pods (adopt orphans matching the selector, release non-matching) -----------
  void Start() {
    now = c->clock().Now();
    indexed = GetString(Spec(), "completionMode").value_or("NonIndexed") == "Indexed";
    if (const JsonValue* cm = Member(Spec(), "completions"); cm && cm->IsInt64()) completions = cm->GetInt64();
    satisfied = c->expectations_.Satisfied(key);
    auto it = c->expected_rm_.find(key);
    if (it != c->expected_rm_.end()) expected_rm = it->second;
    api::LabelSelector sel = SpecSelector(job);
    std::string uid(Uid(job));
    auto self = shared_from_this();
    auto join = Join::Make([self](Status st) {
      if (self->alive.expired()) return;
      if (!st.ok()) return self->done(st);
      self->Compute();
    });
    for (const auto& p : c->pods_.ByIndex(client::kNamespaceIndex, ns())) {
      const JsonValue* ref = ControllerRef(*p);
      bool matches = sel.Matches(Labels(*p));
      if (ref && GetString(*ref, "uid").value_or("") == uid) {
        if (matches || IsBeingDeleted(job)) {
          pods.push_back(p);
          continue;
        }
        // Release: drop our ownerReference.
        if (IsBeingDeleted(*p)) continue;
        std::string patch = R"({"metadata":{"ownerReferences":[{"$patch":"delete","uid":")" + uid + R"("}],"uid":")" +
                            std::string(Uid(*p)) + R"("}})";
        c->ctx_.client.Patch(kPods, ns(), std::string(Name(*p)), client::PatchType::kStrategicMerge, patch, "",
                             join->AddObject([](const Status& s) { return s.IsNotFound(); }));
        continue;
      }
      if (ref || !matches || IsBeingDeleted(job) || IsBeingDeleted(*p)) continue;
      // Adopt: our controller reference and the tracking finalizer.
      JsonDoc patch(rapidjson::kObjectType);
      auto& a = patch.GetAllocator();
      JsonValue md(rapidjson::kObjectType);
      JsonValue refs(rapidjson::kArrayType);
      refs.PushBack(MakeControllerRef(job, "batch/v1", "Job", a), a);
      md.AddMember("ownerReferences", refs, a);
      SetString(md, "uid", Uid(*p), a);
      JsonValue fins(rapidjson::kArrayType);
      fins.PushBack(MakeString(kTrackingFinalizer, a), a);
      md.AddMember("finalizers", fins, a);
      patch.AddMember("metadata", md, a);
      auto cb = join->AddObject();
      auto pod = p;
      c->ctx_.client.Patch(kPods, ns(), std::string(Name(*p)), client::PatchType::kStrategicMerge, ToJson(patch), "",
                           [self, pod, cb](StatusOr<JsonDoc> r) {
                             if (r.ok()) {
                               self->pods.push_back(pod);
                               self->adopted.insert(std::string(Uid(*pod)));
                               return cb(std::move(r));
                             }
                             cb(r.error().IsNotFound() ? StatusOr<JsonDoc>(JsonDoc(rapidjson::kObjectType))
                                                       : std::move(r));
                           });
    }
    join->Finish();
  }

  // ---- step 2: counts, terminal conditions, then manage pods ------------------------------------
  void Compute() {
    const JsonValue* ut = Path(job, {"status", "uncountedTerminatedPods"});
    for (const char* f : {"succeeded", "failed"}) {
      const JsonValue* l = ut ? Member(*ut, f) : nullptr;
      if (!l || !l->IsArray()) continue;
      for (const auto& u : l->GetArray()) {
        if (u.IsString()) (std::string_view(f) == "succeeded" ? uncounted_succeeded : uncounted_failed).insert(u.GetString());
      }
    }
    for (const auto& p : pods) {
      if (IsPodActive(*p)) active_pods.push_back(p);
      if (IsTerminating(*p)) ++terminating;
    }
    for (const auto& p : active_pods) ready += IsPodReady(*p);
    active = static_cast<int64_t>(active_pods.size());
    // New finished pods: tracked, not yet uncounted, not already handled.
    std::vector<client::ObjectPtr> new_succeeded, new_failed;
    for (const auto& p : pods) {
      std::string uid(Uid(*p));
      if (!HasTracking(*p) || expected_rm.count(uid)) continue;
      if (indexed && !ValidIndex(*p)) continue;
      if (PodPhase(*p) == "Succeeded" && !uncounted_succeeded.count(uid)) new_succeeded.push_back(p);
      else if (IsPodFailed(*p) && !uncounted_failed.count(uid)) new_failed.push_back(p);
    }
    succeeded = StatusInt("succeeded") + static_cast<int64_t>(new_succeeded.size() + uncounted_succeeded.size());
    failed = StatusInt("failed") + static_cast<int64_t>(new_failed.size() + uncounted_failed.size());

    if (!Path(job, {"status", "startTime"}) && !Suspended()) {
      SetString(StatusV(), "startTime", FormatRFC3339(now), A());
      start_time_set = true;
    }
    NewBackoffRecord(new_succeeded, new_failed);

    int64_t backoff_limit = GetInt(Spec(), "backoffLimit").value_or(6);
    if (ConditionOf("SuccessCriteriaMet")) {
      const JsonValue* sc = ConditionOf("SuccessCriteriaMet");
      finished = Condition{"SuccessCriteriaMet", "True", std::string(GetString(*sc, "reason").value_or("")),
                           std::string(GetString(*sc, "message").value_or(""))};
    } else if (const JsonValue* ft = ConditionOf("FailureTarget")) {
      finished = Condition{"Failed", "True", std::string(GetString(*ft, "reason").value_or("")),
                           std::string(GetString(*ft, "message").value_or(""))};
    }
    if (!finished) {
      if (failed > backoff_limit || PastBackoffLimitOnFailure(backoff_limit)) {
        finished = NewFailure("BackoffLimitExceeded", "Job has reached the specified backoff limit");
      } else if (PastActiveDeadline()) {
        finished = NewFailure("DeadlineExceeded", "Job was active longer than specified deadline");
      } else if (const JsonValue* ads = Member(Spec(), "activeDeadlineSeconds");
                 ads && ads->IsInt64() && !Suspended()) {
        auto start = TimeOf(Path(job, {"status", "startTime"}));
        if (start) c->EnqueueAfter(key, std::max<int64_t>(0, ads->GetInt64() * 1000 - Ms(now - *start)));
      }
    }
    if (indexed && completions >= 0) {
      prev_succeeded_indexes = ParseIntervals(StrAt(job, {"status", "completedIndexes"}), static_cast<int>(completions));
      std::vector<int> add;
      for (const auto& p : pods) {
        if (PodPhase(*p) == "Succeeded" && ValidIndex(*p) && HasTracking(*p)) add.push_back(CompletionIndex(*p));
      }
      succeeded_indexes = WithIndexes(prev_succeeded_indexes, add);
      succeeded = Total(succeeded_indexes);
    }

    auto self = shared_from_this();
    if (finished) {
      // Remove the active pods (keeping their finalizers) before declaring the Job finished.
      if (active_pods.empty()) return AfterDeleteActive(0, 0);
      auto deleted = std::make_shared<int64_t>(0);
      auto deleted_ready = std::make_shared<int64_t>(0);
      auto join = Join::Make([self, deleted, deleted_ready](Status st) {
        if (self->alive.expired()) return;
        self->manage_err = st;
        self->AfterDeleteActive(*deleted, *deleted_ready);
      });
      for (const auto& p : active_pods) {
        auto cb = join->Add();
        auto pod = p;
        c->ctx_.client.Delete(kPods, ns(), std::string(Name(*p)), {},
                              [self, pod, cb, deleted, deleted_ready](StatusOr<JsonDoc> r) {
                                if (r.ok() || r.error().IsNotFound()) {
                                  ++*deleted;
                                  if (IsPodReady(*pod)) ++*deleted_ready;
                                  if (r.ok()) self->Event(kEventTypeNormal, "SuccessfulDelete", "Deleted pod: " + std::string(Name(*pod)));
                                  return cb(Status::OK());
                                }
                                self->Event(kEventTypeWarning, "FailedDelete", "Error deleting: " + r.error().message());
                                cb(r.error());
                              });
      }
      join->Finish();
      return;
    }
    if (satisfied && !IsBeingDeleted(job)) return ManageJob();
    AfterManage(false);
  }

  bool PastBackoffLimitOnFailure(int64_t limit) const {
    if (StrAt(job, {"spec", "template", "spec", "restartPolicy"}) != "OnFailure") {
      return false;
    }
    int64_t restarts = 0;
    for (const auto& p : pods) {
      std::string_view phase = PodPhase(*p);
      if (phase != "Running" && phase != "Pending") continue;
      for (const char* list : {"initContainerStatuses", "containerStatuses"}) {
        const JsonValue* cs = Path(*p, {"status", list});
        if (!cs || !cs->IsArray()) continue;
        for (const auto& s : cs->GetArray()) restarts += GetInt(s, "restartCount").value_or(0);
      }
    }
    return limit == 0 ? restarts > 0 : restarts >= limit;
  }

  bool PastActiveDeadline() const {
    const JsonValue* ads = Member(Spec(), "activeDeadlineSeconds");
    auto start = TimeOf(Path(job, {"status", "startTime"}));
    if (!ads || !ads->IsInt64() || !start || Suspended()) return false;
    return now - *start >= std::chrono::seconds(ads->GetInt64());
  }

  void NewBackoffRecord(std::vector<client::ObjectPtr> ok, std::vector<client::ObjectPtr> bad) {
    auto it = c->backoff_.find(key);
    new_backoff = it == c->backoff_.end() ? Backoff{} : it->second;
    auto by_time = [](const client::ObjectPtr& x, const client::ObjectPtr& y) { return FinishedTime(*x) < FinishedTime(*y); };
    std::sort(ok.begin(), ok.end(), by_time);
    std::sort(bad.begin(), bad.end(), by_time);
    if (ok.empty()) {
      if (bad.empty()) return;
      new_backoff.failures += static_cast<int64_t>(bad.size());
      new_backoff.last_failure = FinishedTime(*bad.back());
      return;
    }
    new_backoff = Backoff{};
    TimePoint last_success = FinishedTime(*ok.back());
    for (auto i = bad.rbegin(); i != bad.rend(); ++i) {
      TimePoint t = FinishedTime(**i);
      if (t <= last_success) break;
      if (!new_backoff.last_failure) new_backoff.last_failure = t;
      ++new_backoff.failures;
    }
  }

  void AfterDeleteActive(int64_t deleted, int64_t deleted_ready) {
    if (deleted != active || !satisfied) finished.reset();
    active -= deleted;
    terminating += deleted;
    ready -= deleted_ready;
    Track(false);
  }

  // ---- step 3: manageJob -------------------------------------------------------------------------
  std::vector<client::ObjectPtr> PodsForRemoval(int64_t at_least) {
    std::vector<client::ObjectPtr> rm, left;
    if (indexed) {
      // Duplicated or out-of-range indexes first.
      std::map<int, std::vector<client::ObjectPtr>> by_index;
      for (const auto& p : active_pods) {
        if (!ValidIndex(*p)) rm.push_back(p);
        else by_index[CompletionIndex(*p)].push_back(p);
      }
      for (auto& [ix, ps] : by_index) {
        if (ps.size() == 1) {
          left.push_back(ps[0]);
          continue;
        }
        std::sort(ps.begin(), ps.end(), RemoveFirst);
        for (size_t i = 0; i + 1 < ps.size(); ++i) rm.push_back(ps[i]);
        left.push_back(ps.back());
      }
    } else {
      left = active_pods;
    }
    if (static_cast<int64_t>(rm.size()) < at_least) {
      std::sort(left.begin(), left.end(), RemoveFirst);
      int64_t more = std::min<int64_t>(at_least - static_cast<int64_t>(rm.size()), static_cast<int64_t>(left.size()));
      rm.insert(rm.end(), left.begin(), left.begin() + more);
    }
    return rm;
  }

  // Removes the finalizer then deletes each pod (upstream's deleteJobPods).
  void DeleteJobPods(std::vector<client::ObjectPtr> victims) {
    c->expectations_.Expect(key, 0, static_cast<int64_t>(victims.size()));
    auto self = shared_from_this();
    auto removed = std::make_shared<int64_t>(static_cast<int64_t>(victims.size()));
    auto removed_ready = std::make_shared<int64_t>(0);
    auto join = Join::Make([self, removed, removed_ready](Status st) {
      if (self->alive.expired()) return;
      self->active -= *removed;
      self->terminating += *removed;
      self->ready -= *removed_ready;
      self->manage_err = st;
      self->AfterManage(true);
    });
    for (const auto& p : victims) {
      auto cb = join->Add();
      auto pod = p;
      auto fail = [self, pod, cb, removed](Status st) {
        self->c->expectations_.DeletionObserved(self->key);
        if (st.IsNotFound()) return cb(Status::OK());
        --*removed;
        self->Event(kEventTypeWarning, "FailedDelete", "Error deleting: " + st.message());
        cb(st);
      };
      auto del = [self, pod, cb, fail, removed_ready]() {
        self->c->ctx_.client.Delete(kPods, self->ns(), std::string(Name(*pod)), {},
                                    [self, pod, cb, fail, removed_ready](StatusOr<JsonDoc> r) {
                                      if (self->alive.expired()) return;
                                      if (!r.ok()) return fail(r.error());
                                      if (IsPodReady(*pod)) ++*removed_ready;
                                      self->Event(kEventTypeNormal, "SuccessfulDelete",
                                                  "Deleted pod: " + std::string(Name(*pod)));
                                      cb(Status::OK());
                                    });
      };
      std::string patch = RemoveFinalizerPatch(*p);
      if (patch.empty()) {
        del();
        continue;
      }
      c->ctx_.client.Patch(kPods, ns(), std::string(Name(*p)), client::PatchType::kJson, patch, "",
                           [self, del, fail](StatusOr<JsonDoc> r) {
                             if (self->alive.expired()) return;
                             if (!r.ok()) return fail(r.error().WithContext("removing completion finalizer"));
                             del();
                           });
    }
    join->Finish();
  }

  void ManageJob() {
    int64_t parallelism = GetInt(Spec(), "parallelism").value_or(1);
    if (Suspended()) return DeleteJobPods(PodsForRemoval(active));
    int64_t want = 0;
    if (completions < 0) {
      want = succeeded > 0 ? active : parallelism;
    } else {
      want = std::clamp<int64_t>(completions - succeeded, 0, parallelism);
    }
    auto victims = PodsForRemoval(std::max<int64_t>(0, active - want));
    if (victims.size() > static_cast<size_t>(kMaxPodCreateDeletePerSync)) victims.resize(kMaxPodCreateDeletePerSync);
    if (!victims.empty()) return DeleteJobPods(std::move(victims));

    int64_t term = OnlyReplaceFailed() ? terminating : 0;
    int64_t diff = want - term - active;
    if (diff <= 0) return AfterManage(true);
    int64_t remaining = new_backoff.RemainingMs(now);
    if (remaining > 0) {
      c->EnqueueAfter(key, std::max<int64_t>(remaining, kBatchPeriodMs));
      active = 0;  // as upstream: manageJob reports 0 active while backing off
      return AfterManage(true);
    }
    diff = std::min<int64_t>(diff, kMaxPodCreateDeletePerSync);
    std::vector<int> indexes;
    if (indexed) {
      Intervals non_pending = succeeded_indexes;
      std::vector<int> act;
      for (const auto& p : active_pods) {
        if (ValidIndex(*p)) act.push_back(CompletionIndex(*p));
      }
      non_pending = WithIndexes(non_pending, act);
      for (int i = 0; i < completions && static_cast<int64_t>(indexes.size()) < diff; ++i) {
        if (!Has(non_pending, i)) indexes.push_back(i);
      }
      diff = static_cast<int64_t>(indexes.size());
      if (diff == 0) return AfterManage(true);
    }
    c->expectations_.Expect(key, diff, 0);
    active += diff;
    CreateBatch(std::move(indexes), diff, std::min<int64_t>(diff, 1));
  }

  JsonDoc PodFor(int index) {
    const JsonValue* tmpl = Path(job, {"spec", "template"});
    static const JsonValue kEmpty(rapidjson::kObjectType);
    std::string prefix = std::string(Name(job)) + "-";
    if (index >= 0) {
      std::string append = "-" + std::to_string(index) + "-";
      prefix = std::string(Name(job)) + append;
      if (prefix.size() > kMaxGeneratedNameLength) {
        prefix = std::string(Name(job)).substr(0, kMaxGeneratedNameLength - append.size()) + append;
      }
    }
    JsonDoc pod = PodFromTemplate(tmpl ? *tmpl : kEmpty, job, "batch/v1", "Job", prefix);
    auto& a = pod.GetAllocator();
    JsonValue& md = EnsureObject(pod, "metadata", a);
    if (!HasFinalizer(pod, kTrackingFinalizer)) {
      JsonValue* f = MutableMember(md, "finalizers");
      if (!f || !f->IsArray()) {
        SetMember(md, "finalizers", JsonValue(rapidjson::kArrayType), a);
        f = MutableMember(md, "finalizers");
      }
      f->PushBack(MakeString(kTrackingFinalizer, a), a);
    }
    if (index >= 0) {
      std::string ix = std::to_string(index);
      SetString(EnsureObject(md, "annotations", a), kIndexAnnotation, ix, a);
      SetString(EnsureObject(EnsureObject(pod, "metadata", a), "labels", a), kIndexAnnotation, ix, a);
      JsonValue& spec = EnsureObject(pod, "spec", a);
      SetString(spec, "hostname", std::string(Name(job)) + "-" + ix, a);
      for (const char* list : {"initContainers", "containers"}) {
        JsonValue* cs = MutableMember(spec, list);
        if (!cs || !cs->IsArray()) continue;
        for (auto& ctr : cs->GetArray()) {
          JsonValue* env = MutableMember(ctr, "env");
          if (!env || !env->IsArray()) {
            SetMember(ctr, "env", JsonValue(rapidjson::kArrayType), a);
            env = MutableMember(ctr, "env");
          }
          bool have = false;
          for (const auto& e : env->GetArray()) have |= GetString(e, "name").value_or("") == kIndexEnv;
          if (have) continue;
          JsonValue e(rapidjson::kObjectType);
          SetString(e, "name", kIndexEnv, a);
          JsonValue fr(rapidjson::kObjectType);
          SetString(fr, "fieldPath", std::string("metadata.annotations['") + kIndexAnnotation + "']", a);
          JsonValue vf(rapidjson::kObjectType);
          vf.AddMember("fieldRef", fr, a);
          e.AddMember("valueFrom", vf, a);
          env->PushBack(e, a);
        }
      }
    }
    return pod;
  }

  // Slow start: batches of 1, 2, 4, ...; a failed batch skips the rest.
  void CreateBatch(std::vector<int> indexes, int64_t diff, int64_t batch) {
    if (diff <= 0) return AfterManage(true);
    auto self = shared_from_this();
    auto errors = std::make_shared<int64_t>(0);
    auto join = Join::Make([self, indexes, diff, batch, errors](Status st) mutable {
      if (self->alive.expired()) return;
      if (!st.ok()) self->manage_err = st;
      int64_t left = diff - batch;
      if (*errors > 0 && left > 0) {
        self->active -= left;
        self->c->expectations_.LowerExpectations(self->key, left, 0);
        return self->AfterManage(true);
      }
      std::vector<int> rest;
      if (!indexes.empty()) rest.assign(indexes.begin() + std::min<size_t>(indexes.size(), batch), indexes.end());
      self->CreateBatch(std::move(rest), left, std::min<int64_t>(2 * batch, left));
    });
    for (int64_t i = 0; i < batch; ++i) {
      int index = indexes.empty() ? -1 : indexes[i];
      JsonDoc pod = PodFor(index);
      auto cb = join->Add();
      c->ctx_.client.Create(kPods, ns(), pod, [self, cb, errors](StatusOr<JsonDoc> r) {
        if (self->alive.expired()) return;
        if (r.ok()) {
          self->Event(kEventTypeNormal, "SuccessfulCreate", "Created pod: " + std::string(Name(*r)));
          return cb(Status::OK());
        }
        self->Event(kEventTypeWarning, "FailedCreate", "Error creating: " + r.error().message());
        self->c->expectations_.CreationObserved(self->key);
        --self->active;
        ++*errors;
        cb(r.error());
      });
    }
    join->Finish();
  }

  // ---- step 4: completion and suspension ---------------------------------------------------------
  void AfterManage(bool manage_called) {
    bool complete = completions < 0 ? succeeded > 0 && active == 0 : succeeded >= completions && active == 0;
    if (complete) {
      finished = Condition{"SuccessCriteriaMet", "True", "CompletionsReached", "Reached expected number of succeeded pods"};
    } else if (manage_called) {
      if (Suspended()) {
        if (SetConditionInPlace(Condition{"Suspended", "True", "JobSuspended", "Job suspended"})) {
          suspend_changed = true;
          Event(kEventTypeNormal, "Suspended", "Job suspended");
        }
      } else if (SetConditionInPlace(Condition{"Suspended", "False", "JobResumed", "Job resumed"})) {
        suspend_changed = true;
        Event(kEventTypeNormal, "Resumed", "Job resumed");
        SetString(StatusV(), "startTime", FormatRFC3339(now), A());
      }
    }
    Track(true);
  }

  // ---- step 5: trackJobStatusAndRemoveFinalizers ---------------------------------------------------
  Intervals new_indexes_result;
  std::vector<client::ObjectPtr> to_remove_finalizer;
  std::set<std::string> uids_with_finalizer;
  bool needs_flush = false;

  void Track(bool) {
    const JsonValue* st = Member(job, "status");
    bool needs_update = suspend_changed || start_time_set || active != StatusInt("active") ||
                        !(st && Member(*st, "ready") && GetInt(*st, "ready").value_or(-1) == ready) ||
                        !(st && Member(*st, "terminating") && GetInt(*st, "terminating").value_or(-1) == terminating);
    SetMember(StatusV(), "active", JsonValue(active), A());
    SetMember(StatusV(), "ready", JsonValue(ready), A());
    SetMember(StatusV(), "terminating", JsonValue(terminating), A());
    needs_flush = needs_update;

    if (indexed) {
      std::sort(pods.begin(), pods.end(), [](const client::ObjectPtr& x, const client::ObjectPtr& y) {
        return CompletionIndex(*x) < CompletionIndex(*y);
      });
    }
    for (const auto& p : pods) {
      std::string uid(Uid(*p));
      if (HasTracking(*p) && !expected_rm.count(uid)) uids_with_finalizer.insert(uid);
    }
    if (CleanUncounted()) needs_flush = true;
    std::vector<int> new_succeeded_indexes;
    bool reached_max = false;
    bool terminal_failure = finished && finished->type != "SuccessCriteriaMet";
    for (const auto& p : pods) {
      std::string uid(Uid(*p));
      if (!HasTracking(*p) || expected_rm.count(uid)) continue;
      bool pod_failed = IsPodFailed(*p);
      bool can_remove = IsBeingDeleted(job) || finished || PodPhase(*p) == "Succeeded" || pod_failed;
      if (!can_remove) continue;
      to_remove_finalizer.push_back(p);
      if (PodPhase(*p) == "Succeeded" && !uncounted_failed.count(uid)) {
        if (indexed) {
          int ix = CompletionIndex(*p);
          if (ix >= 0 && ix < completions && !Has(prev_succeeded_indexes, ix)) {
            new_succeeded_indexes.push_back(ix);
            needs_flush = true;
          }
        } else if (!uncounted_succeeded.count(uid)) {
          needs_flush = true;
          AddUncounted("succeeded", uid);
          uncounted_succeeded.insert(uid);
        }
      } else if (pod_failed || terminal_failure) {
        int ix = CompletionIndex(*p);
        if (!uncounted_failed.count(uid) && (!indexed || (ix >= 0 && ix < completions))) {
          needs_flush = true;
          AddUncounted("failed", uid);
          uncounted_failed.insert(uid);
        }
      }
      if (static_cast<int>(new_succeeded_indexes.size() + UncountedSize()) >= kMaxUncountedPods) {
        reached_max = true;
        break;
      }
    }
    reached_max_ = reached_max;
    if (indexed) {
      succeeded_indexes = WithIndexes(succeeded_indexes, new_succeeded_indexes);
      std::string s = IntervalsString(succeeded_indexes);
      if (s != StrAt(job, {"status", "completedIndexes"})) needs_flush = true;
      SetMember(StatusV(), "succeeded", JsonValue(Total(succeeded_indexes)), A());
      if (s.empty()) RemoveMember(StatusV(), "completedIndexes");
      else SetString(StatusV(), "completedIndexes", s, A());
    }
    if (finished && finished->type == "FailureTarget") {
      AppendCondition(*finished);
      needs_flush = true;
      finished = Condition{"Failed", "True", finished->reason, finished->message};
    }
    if (finished && finished->type == "SuccessCriteriaMet") {
      if (!ConditionOf("SuccessCriteriaMet")) {
        AppendCondition(*finished);
        needs_flush = true;
      }
      finished = Condition{"Complete", "True", finished->reason, finished->message};
    }
    FlushAndRemoveFinalizers();
  }
  bool reached_max_ = false;

  size_t UncountedSize() const {
    const JsonValue* ut = Path(job, {"status", "uncountedTerminatedPods"});
    size_t n = 0;
    for (const char* f : {"succeeded", "failed"}) {
      const JsonValue* l = ut ? Member(*ut, f) : nullptr;
      if (l && l->IsArray()) n += l->Size();
    }
    return n;
  }
  void AddUncounted(const char* which, const std::string& uid) {
    JsonValue& ut = EnsureObject(StatusV(), "uncountedTerminatedPods", A());
    JsonValue* l = MutableMember(ut, which);
    if (!l || !l->IsArray()) {
      SetMember(ut, which, JsonValue(rapidjson::kArrayType), A());
      l = MutableMember(ut, which);
    }
    l->PushBack(MakeString(uid, A()), A());
  }
  // Moves uncounted pods whose finalizer is gone into the counters.
  bool CleanUncounted() {
    JsonValue& ut = EnsureObject(StatusV(), "uncountedTerminatedPods", A());
    bool changed = false;
    for (const char* f : {"succeeded", "failed"}) {
      JsonValue* l = MutableMember(ut, f);
      if (!l || !l->IsArray()) continue;
      int64_t gone = 0;
      for (auto it = l->Begin(); it != l->End();) {
        if (it->IsString() && !uids_with_finalizer.count(it->GetString())) {
          it = l->Erase(it);
          ++gone;
        } else {
          ++it;
        }
      }
      if (gone > 0) {
        changed = true;
        SetMember(StatusV(), f, JsonValue(StatusInt(f) + gone), A());
      }
      if (l->Empty()) RemoveMember(ut, f);
    }
    return changed;
  }

  // Writes status in upstream's field order (JobStatus's JSON, with its omitempty rules).
  void NormalizeStatus() {
    JsonValue& st = StatusV();
    JsonValue out(rapidjson::kObjectType);
    auto take = [&](const char* f, bool omit_zero) {
      JsonValue* v = MutableMember(st, f);
      if (!v) return;
      if (omit_zero && v->IsInt64() && v->GetInt64() == 0) return;
      if (v->IsArray() && v->Empty()) return;
      if (v->IsString() && v->GetStringLength() == 0) return;
      out.AddMember(JsonValue(f, A()), JsonValue(*v, A()), A());
    };
    take("conditions", false);
    take("startTime", false);
    take("completionTime", false);
    take("active", true);
    take("failed", true);
    take("succeeded", true);
    take("terminating", false);
    take("completedIndexes", false);
    take("failedIndexes", false);
    take("uncountedTerminatedPods", false);
    take("ready", false);
    for (auto& m : st.GetObject()) {
      if (!Member(out, std::string_view(m.name.GetString(), m.name.GetStringLength()))) {
        static const std::set<std::string> kKnown = {"conditions", "startTime", "completionTime", "active", "failed",
                                                     "succeeded", "terminating", "completedIndexes", "failedIndexes",
                                                     "uncountedTerminatedPods", "ready"};
        if (!kKnown.count(m.name.GetString())) out.AddMember(JsonValue(m.name, A()), JsonValue(m.value, A()), A());
      }
    }
    SetMember(job, "status", std::move(out), A());
  }

  void UpdateStatus(std::function<void(Status)> then) {
    NormalizeStatus();
    auto self = shared_from_this();
    c->ctx_.client.Update(kJobs, ns(), job, "status", [self, then](StatusOr<JsonDoc> r) {
      if (self->alive.expired()) return;
      if (!r.ok()) return then(r.error());
      std::string_view rv = client::MetaString(*r, "resourceVersion");
      SetString(EnsureObject(self->job, "metadata", self->A()), "resourceVersion", rv, self->A());
      then(Status::OK());
    });
  }

  void FlushAndRemoveFinalizers() {
    auto self = shared_from_this();
    auto remove = [self]() { self->RemoveFinalizers(); };
    if (!needs_flush) return remove();
    UpdateStatus([self, remove](Status st) {
      if (!st.ok()) return self->done(st.WithContext("adding uncounted pods to status"));
      self->c->backoff_[self->key] = self->new_backoff;
      self->needs_flush = false;
      remove();
    });
  }

  void RemoveFinalizers() {
    auto self = shared_from_this();
    if (to_remove_finalizer.empty()) return AfterRemove(Status::OK());
    auto& exp = c->expected_rm_[key];
    for (const auto& p : to_remove_finalizer) exp.insert(std::string(Uid(*p)));
    auto join = Join::Make([self](Status st) {
      if (self->alive.expired()) return;
      self->AfterRemove(st);
    });
    for (const auto& p : to_remove_finalizer) {
      auto cb = join->Add();
      std::string uid(Uid(*p));
      std::string patch = RemoveFinalizerPatch(*p);
      if (patch.empty()) {
        // Adopted in this sync: the finalizer was never written.
        uids_with_finalizer.erase(uid);
        c->FinalizerRemovalObserved(key, uid);
        cb(Status::OK());
        continue;
      }
      c->ctx_.client.Patch(kPods, ns(), std::string(Name(*p)), client::PatchType::kJson, patch, "",
                           [self, cb, uid](StatusOr<JsonDoc> r) {
                             if (self->alive.expired()) return;
                             if (!r.ok()) self->c->FinalizerRemovalObserved(self->key, uid);
                             if (r.ok() || r.error().IsNotFound()) {
                               self->uids_with_finalizer.erase(uid);
                               return cb(Status::OK());
                             }
                             cb(r.error());
                           });
    }
    join->Finish();
  }

  void AfterRemove(Status rm_err) {
    if (CleanUncounted()) needs_flush = true;
    auto self = shared_from_this();
    if (!rm_err.ok()) {
      if (!needs_flush) return done(rm_err.WithContext("tracking status"));
      return UpdateStatus([self, rm_err](Status st) {
        self->done((st.ok() ? rm_err : st).WithContext("tracking status"));
      });
    }
    bool job_finished = !reached_max_ && EnactFinished();
    if (job_finished) needs_flush = true;
    if (!needs_flush) return done(manage_err);
    UpdateStatus([self, job_finished](Status st) {
      if (!st.ok()) return self->done(st.WithContext("removing uncounted pods from status"));
      self->c->backoff_[self->key] = self->new_backoff;
      if (job_finished) self->RecordFinished();
      self->done(self->manage_err);
    });
  }

  bool EnactFinished() {
    if (!finished) return false;
    if (UncountedSize() > 0) return false;
    if (terminating > 0) return false;
    SetConditionInPlace(*finished);
    if (finished->type == "Complete") SetString(StatusV(), "completionTime", FormatRFC3339(now), A());
    return true;
  }

  void RecordFinished() {
    c->backoff_.erase(key);
    if (finished->type == "Complete") {
      if (completions >= 0 && StatusInt("succeeded") > completions) {
        Event(kEventTypeWarning, "TooManySucceededPods", "Too many succeeded pods running after completion count reached");
      }
      Event(kEventTypeNormal, "Completed", "Job completed");
    } else {
      Event(kEventTypeWarning, finished->reason, finished->message);
    }
  }
};

void JobController::Reconcile(const std::string& key, Done done) {
  if (key.rfind(kOrphanPrefix, 0) == 0) return SyncOrphanPod(key.substr(std::strlen(kOrphanPrefix)), std::move(done));
  client::ObjectPtr obj = jobs_.Get(key);
  if (!obj) {
    expectations_.Delete(key);
    expected_rm_.erase(key);
    backoff_.erase(key);
    return done(Status::OK());
  }
  if (!FinishedType(*obj).empty()) {
    backoff_.erase(key);
    return done(Status::OK());
  }
  std::string_view mode = StrAt(*obj, {"spec", "completionMode"});
  if (mode.empty()) mode = "NonIndexed";
  if (mode != "NonIndexed" && mode != "Indexed") {
    JsonDoc d;
    d.CopyFrom(*obj, d.GetAllocator());
    SetString(d, "apiVersion", "batch/v1", d.GetAllocator());
    SetString(d, "kind", "Job", d.GetAllocator());
    ctx_.events.EventFrom("job-controller", d, kEventTypeWarning, "UnknownCompletionMode", "Skipped Job sync because completion mode is unknown");
    return done(Status::OK());
  }
  auto s = std::make_shared<Sync>();
  s->c = this;
  s->alive = alive_;
  s->key = key;
  s->done = std::move(done);
  s->job.CopyFrom(*obj, s->job.GetAllocator());
  s->Start();
}

}  // namespace

ControllerPtr NewJobController(Context ctx) { return std::make_unique<JobController>(ctx); }

}  // namespace minik::controllers
