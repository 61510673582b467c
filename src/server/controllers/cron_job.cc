#include "server/controllers/cron_job.h"

#include <algorithm>
#include <map>

#include "common/log.h"
#include "server/controllers/util.h"

namespace minik::controllers {

namespace {

using cron::TimeZonePtr;

constexpr char kScheduledTimestampAnnotation[] = "batch.kubernetes.io/cronjob-scheduled-timestamp";
constexpr int64_t kNextScheduleDeltaMs = 100;  // upstream's nextScheduleDelta

int64_t Ms(std::chrono::nanoseconds d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); }

std::optional<TimePoint> TimeField(const JsonValue* obj, std::string_view field) {
  if (!obj) return std::nullopt;
  auto s = GetString(*obj, field);
  TimePoint t;
  if (!s || !ParseRFC3339(*s, &t)) return std::nullopt;
  return t;
}

// The type of the Job's finished condition ("Complete" or "Failed" with status True), or "".
std::string FinishedCondition(const JsonValue& job) {
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

// The involved object of an event: apiVersion, kind and metadata.
JsonDoc Involved(const JsonValue& obj, std::string_view kind) {
  JsonDoc d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  SetString(d, "apiVersion", "batch/v1", a);
  SetString(d, "kind", kind, a);
  if (const JsonValue* md = Member(obj, "metadata")) d.AddMember("metadata", Clone(*md, a), a);
  return d;
}

class CronJobController final : public Controller {
 public:
  CronJobController(Context ctx, CronJobOptions options)
      : Controller(ctx, "cronjob"),
        options_(std::move(options)),
        cronjobs_(ctx.informers.For(kCronJobs)),
        jobs_(ctx.informers.For(kJobs)),
        alive_(std::make_shared<bool>(true)) {
    client::EventHandlers cj;
    cj.on_add = [this](const client::ObjectPtr& o) { EnqueueObject(o); };
    cj.on_update = [this](const client::ObjectPtr&, const client::ObjectPtr& o) { EnqueueObject(o); };
    cj.on_delete = [this](const client::ObjectPtr& o, bool) { EnqueueObject(o); };
    cronjobs_.AddEventHandler(cj);
    client::EventHandlers j;
    j.on_add = [this](const client::ObjectPtr& o) { EnqueueOwner(*o); };
    j.on_update = [this](const client::ObjectPtr& old_obj, const client::ObjectPtr& o) {
      const JsonValue* a = ControllerRef(*old_obj);
      const JsonValue* b = ControllerRef(*o);
      if (a && (!b || !JsonEqual(*a, *b))) EnqueueOwner(*old_obj);
      EnqueueOwner(*o);
    };
    j.on_delete = [this](const client::ObjectPtr& o, bool) { EnqueueOwner(*o); };
    jobs_.AddEventHandler(j);
  }
  ~CronJobController() override { *alive_ = false; }

  void Reconcile(const std::string& key, Done done) override;

 private:
  struct Sync;

  void EnqueueOwner(const JsonValue& job) {
    const JsonValue* ref = ControllerRef(job);
    if (!ref || GetString(*ref, "kind").value_or("") != "CronJob") return;
    auto cj = cronjobs_.Get(std::string(Namespace(job)), std::string(GetString(*ref, "name").value_or("")));
    if (!cj || Uid(*cj) != GetString(*ref, "uid").value_or("")) return;
    EnqueueObject(cj);
  }

  StatusOr<TimeZonePtr> LoadZone(std::string_view name) {
    auto it = zones_.find(std::string(name));
    if (it != zones_.end()) return it->second;
    auto z = cron::TimeZone::Load(name, options_.zoneinfo_dir);
    if (z.ok()) zones_[std::string(name)] = *z;
    return z;
  }

  CronJobOptions options_;
  client::Informer& cronjobs_;
  client::Informer& jobs_;
  std::map<std::string, TimeZonePtr> zones_;
  std::shared_ptr<bool> alive_;
};

// One sync of one CronJob (upstream's sync + cleanupFinishedJobs + syncCronJob), as a chain of
// asynchronous steps. `cj` is the working copy whose status is written at the end.
struct CronJobController::Sync : std::enable_shared_from_this<Sync> {
  CronJobController* c;
  std::weak_ptr<bool> alive;
  std::string key;
  Done done;
  JsonDoc cj;
  std::vector<client::ObjectPtr> jobs;
  bool update_status = false;
  std::optional<int64_t> requeue_ms;
  TimePoint now;
  std::optional<cron::Schedule> sched;

  JsonAlloc& A() { return cj.GetAllocator(); }
  std::string ns() const { return std::string(Namespace(cj)); }
  void Event(std::string_view type, std::string_view reason, std::string_view message) {
    c->ctx_.events.EventFrom("cronjob-controller", Involved(cj, "CronJob"), type, reason, message);
  }
  const JsonValue* Spec() const { return Member(cj, "spec"); }
  JsonValue& StatusObj() { return EnsureObject(cj, "status", A()); }

  // ---- status.active -------------------------------------------------------------------------
  bool InActiveList(std::string_view uid) const {
    const JsonValue* act = Path(cj, {"status", "active"});
    if (!act || !act->IsArray()) return false;
    for (const auto& r : act->GetArray()) {
      if (GetString(r, "uid").value_or("") == uid) return true;
    }
    return false;
  }
  bool InActiveListByName(std::string_view name) const {
    const JsonValue* act = Path(cj, {"status", "active"});
    if (!act || !act->IsArray()) return false;
    for (const auto& r : act->GetArray()) {
      if (GetString(r, "name").value_or("") == name && GetString(r, "namespace").value_or("") == Namespace(cj)) {
        return true;
      }
    }
    return false;
  }
  void DeleteFromActiveList(std::string_view uid) {
    JsonValue* st = MutableMember(cj, "status");
    JsonValue* act = st ? MutableMember(*st, "active") : nullptr;
    if (!act || !act->IsArray()) return;
    for (auto it = act->Begin(); it != act->End();) {
      if (GetString(*it, "uid").value_or("") == uid) it = act->Erase(it);
      else ++it;
    }
    if (act->Empty()) RemoveMember(*st, "active");
  }
  void AddToActiveList(const JsonValue& job) {
    JsonValue ref(rapidjson::kObjectType);
    SetString(ref, "kind", "Job", A());
    SetString(ref, "namespace", Namespace(job), A());
    SetString(ref, "name", Name(job), A());
    SetString(ref, "uid", Uid(job), A());
    SetString(ref, "apiVersion", "batch/v1", A());
    std::string_view rv = client::MetaString(job, "resourceVersion");
    if (!rv.empty()) SetString(ref, "resourceVersion", rv, A());
    JsonValue& st = StatusObj();
    JsonValue* act = MutableMember(st, "active");
    if (!act || !act->IsArray()) {
      SetMember(st, "active", JsonValue(rapidjson::kArrayType), A());
      act = MutableMember(st, "active");
    }
    act->PushBack(ref, A());
  }
  std::vector<std::pair<std::string, std::string>> ActiveRefs() const {  // (uid, name)
    std::vector<std::pair<std::string, std::string>> out;
    const JsonValue* act = Path(cj, {"status", "active"});
    if (!act || !act->IsArray()) return out;
    for (const auto& r : act->GetArray()) {
      out.emplace_back(GetString(r, "uid").value_or(""), GetString(r, "name").value_or(""));
    }
    return out;
  }

  // Deletes a Job (Background) and drops it from the active list (upstream's deleteJob).
  void DeleteJob(const std::string& name, const std::string& uid, std::function<void(bool)> then) {
    client::DeleteOptions opts;
    opts.propagation_policy = "Background";
    auto self = shared_from_this();
    c->ctx_.client.Delete(kJobs, ns(), name, opts, [self, name, uid, then](StatusOr<JsonDoc> r) {
      if (self->alive.expired()) return;
      if (!r.ok()) {
        self->Event(kEventTypeWarning, "FailedDelete", "Deleted job: " + r.error().message());
        then(false);
        return;
      }
      self->DeleteFromActiveList(uid);
      self->Event(kEventTypeNormal, "SuccessfulDelete", "Deleted job " + name);
      then(true);
    });
  }

  // ---- step 1: cleanupFinishedJobs -------------------------------------------------------------
  void Start() {
    const JsonValue* spec = Spec();
    const JsonValue* succ_limit = spec ? Member(*spec, "successfulJobsHistoryLimit") : nullptr;
    const JsonValue* fail_limit = spec ? Member(*spec, "failedJobsHistoryLimit") : nullptr;
    std::vector<client::ObjectPtr> succeeded, failed;
    for (const auto& j : jobs) {
      std::string f = FinishedCondition(*j);
      if (f == "Complete") succeeded.push_back(j);
      else if (f == "Failed") failed.push_back(j);
    }
    std::vector<client::ObjectPtr> to_delete;
    auto oldest = [&](std::vector<client::ObjectPtr>& js, const JsonValue* limit) {
      if (!limit || !limit->IsInt64()) return;
      int64_t n = static_cast<int64_t>(js.size()) - limit->GetInt64();
      if (n <= 0) return;
      // byJobStartTime: by status.startTime (unset last), then by name.
      std::sort(js.begin(), js.end(), [](const client::ObjectPtr& x, const client::ObjectPtr& y) {
        auto tx = TimeField(Member(*x, "status"), "startTime");
        auto ty = TimeField(Member(*y, "status"), "startTime");
        if (!tx && ty) return false;
        if (tx && !ty) return true;
        if (tx == ty) return Name(*x) < Name(*y);
        return *tx < *ty;
      });
      for (int64_t i = 0; i < n; ++i) to_delete.push_back(js[i]);
    };
    oldest(succeeded, succ_limit);
    oldest(failed, fail_limit);
    if (to_delete.empty()) return ReconcileJobs();
    auto self = shared_from_this();
    auto remaining = std::make_shared<size_t>(to_delete.size());
    for (const auto& j : to_delete) {
      DeleteJob(std::string(Name(*j)), std::string(Uid(*j)), [self, remaining](bool ok) {
        if (ok) self->update_status = true;
        if (--*remaining == 0) self->ReconcileJobs();
      });
    }
  }

  // ---- step 2: the children against status.active ----------------------------------------------
  void ReconcileJobs() {
    now = c->clock().Now();
    std::vector<client::ObjectPtr> unexpected;
    for (const auto& j : jobs) {
      bool found = InActiveList(Uid(*j));
      std::string finished = FinishedCondition(*j);
      if (!found && finished.empty()) {
        unexpected.push_back(j);
      } else if (!finished.empty()) {
        if (found) {
          DeleteFromActiveList(Uid(*j));
          Event(kEventTypeNormal, "SawCompletedJob",
                "Saw completed job: " + std::string(Name(*j)) + ", condition: " + finished);
          update_status = true;
        }
        if (finished == "Complete") {
          auto completion = TimeField(Member(*j, "status"), "completionTime");
          auto last = TimeField(Member(cj, "status"), "lastSuccessfulTime");
          if (completion && (!last || *completion > *last)) {
            SetString(StatusObj(), "lastSuccessfulTime", FormatRFC3339(*completion), A());
            update_status = true;
          }
        }
      }
    }
    if (unexpected.empty()) return CheckMissing();
    // A Job we did not record: re-read the CronJob, our status update may not have reached the
    // cache yet.
    auto self = shared_from_this();
    c->ctx_.client.Get(kCronJobs, ns(), std::string(Name(cj)), [self, unexpected](StatusOr<JsonDoc> r) {
      if (self->alive.expired()) return;
      if (!r.ok()) return self->Finish(r.error());
      const JsonValue* act = Path(*r, {"status", "active"});
      for (const auto& j : unexpected) {
        bool fresh = false;
        if (act && act->IsArray()) {
          for (const auto& ref : act->GetArray()) fresh |= GetString(ref, "uid").value_or("") == Uid(*j);
        }
        if (fresh) {
          if (!self->InActiveList(Uid(*j))) self->AddToActiveList(*j);
          continue;
        }
        self->Event(kEventTypeWarning, "UnexpectedJob",
                    "Saw a job that the controller did not create or forgot: " + std::string(Name(*j)));
      }
      self->CheckMissing();
    });
  }

  // Active references whose Job is gone (checked against the API, not the cache).
  void CheckMissing() {
    std::vector<std::pair<std::string, std::string>> missing;
    for (auto& [uid, name] : ActiveRefs()) {
      bool child = false;
      for (const auto& j : jobs) child |= Uid(*j) == uid;
      if (!child) missing.emplace_back(uid, name);
    }
    if (missing.empty()) return RunSchedule();
    auto self = shared_from_this();
    auto remaining = std::make_shared<size_t>(missing.size());
    auto failed = std::make_shared<Status>();
    for (const auto& [uid, name] : missing) {
      c->ctx_.client.Get(kJobs, ns(), name, [self, uid = uid, name = name, remaining, failed](StatusOr<JsonDoc> r) {
        if (self->alive.expired()) return;
        if (!r.ok() && r.error().IsNotFound()) {
          self->Event(kEventTypeNormal, "MissingJob", "Active job went missing: " + name);
          self->DeleteFromActiveList(uid);
          self->update_status = true;
        } else if (!r.ok() && failed->ok()) {
          *failed = r.error();
        }
        if (--*remaining > 0) return;
        if (!failed->ok()) return self->Finish(*failed);
        self->RunSchedule();
      });
    }
  }

  // ---- step 3: the schedule --------------------------------------------------------------------
  void RunSchedule() {
    if (IsBeingDeleted(cj)) return Finish(Status::OK());
    const JsonValue* spec = Spec();
    std::string schedule(spec ? GetString(*spec, "schedule").value_or("") : "");
    std::optional<std::string> tz;
    if (spec) {
      if (auto v = GetString(*spec, "timeZone")) tz = std::string(*v);
    }
    TimeZonePtr zone = cron::TimeZone::Utc();
    if (tz) {
      auto z = c->LoadZone(*tz);
      if (!z.ok()) {
        Event(kEventTypeWarning, "UnknownTimeZone", "invalid timeZone: \"" + *tz + "\": " + z.error().message());
        return Finish(Status::OK());
      }
      zone = *z;
    }
    if (spec && GetBool(*spec, "suspend").value_or(false)) return Finish(Status::OK());
    // formatSchedule: a TZ in the schedule itself is used as is, with a warning.
    if (schedule.find("TZ") != std::string::npos) {
      Event(kEventTypeWarning, "UnsupportedSchedule",
            "CRON_TZ or TZ used in schedule \"" + schedule +
                "\" is not officially supported, see https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ for more details");
    }
    auto loader = [this](std::string_view name) { return c->LoadZone(name); };
    auto parsed = cron::Schedule::ParseStandard(schedule, loader, zone);
    if (!parsed.ok()) {
      Event(kEventTypeWarning, "UnparseableSchedule",
            "unparseable schedule: \"" + schedule + "\" : " + parsed.error().message());
      return Finish(Status::OK());
    }
    sched = std::move(*parsed);

    auto st = NextScheduleTime();
    if (!st.ok()) {
      Event(kEventTypeWarning, "InvalidSchedule", "invalid schedule: " + schedule + " : " + st.error().message());
      return Finish(Status::OK());
    }
    if (!*st) {
      requeue_ms = NextScheduleDelayMs();
      return Finish(Status::OK());
    }
    TimePoint scheduled = **st;
    if (const JsonValue* sds = Member(*spec, "startingDeadlineSeconds"); sds && sds->IsInt64()) {
      if (scheduled + std::chrono::seconds(sds->GetInt64()) < now) {
        Event(kEventTypeWarning, "MissSchedule",
              "Missed scheduled time to start a job: " + cron::FormatRFC1123Z(scheduled));
        requeue_ms = NextScheduleDelayMs();
        return Finish(Status::OK());
      }
    }
    std::string job_name = JobName(scheduled);
    auto last = TimeField(Member(cj, "status"), "lastScheduleTime");
    if (InActiveListByName(job_name) || (last && *last == scheduled)) {
      requeue_ms = NextScheduleDelayMs();
      return Finish(Status::OK());
    }
    std::string policy(GetString(*spec, "concurrencyPolicy").value_or("Allow"));
    auto active = ActiveRefs();
    if (policy == "Forbid" && !active.empty()) {
      Event(kEventTypeNormal, "JobAlreadyActive",
            "Not starting job because prior execution is running and concurrency policy is Forbid");
      requeue_ms = NextScheduleDelayMs();
      return Finish(Status::OK());
    }
    if (policy == "Replace" && !active.empty()) return ReplaceActive(active, 0, scheduled, std::move(zone));
    CreateJob(scheduled, std::move(zone));
  }

  void ReplaceActive(std::vector<std::pair<std::string, std::string>> active, size_t i, TimePoint scheduled,
                     TimeZonePtr zone) {
    if (i == active.size()) return CreateJob(scheduled, std::move(zone));
    auto self = shared_from_this();
    std::string name = active[i].second;
    c->ctx_.client.Get(kJobs, ns(), name, [self, active, i, scheduled, zone, name](StatusOr<JsonDoc> r) {
      if (self->alive.expired()) return;
      if (!r.ok()) {
        self->Event(kEventTypeWarning, "FailedGet", "Get job: " + r.error().message());
        return self->Finish(r.error());
      }
      std::string uid(Uid(*r));
      self->DeleteJob(name, uid, [self, active, i, scheduled, zone, name](bool ok) {
        if (!ok) return self->Finish(Status::Internal("could not replace job " + self->ns() + "/" + name));
        self->update_status = true;
        self->ReplaceActive(active, i + 1, scheduled, zone);
      });
    });
  }

  std::string JobName(TimePoint scheduled) const {
    int64_t minutes = std::chrono::duration_cast<std::chrono::minutes>(scheduled.time_since_epoch()).count();
    return std::string(Name(cj)) + "-" + std::to_string(minutes);
  }

  void CreateJob(TimePoint scheduled, TimeZonePtr zone) {
    JsonDoc job(rapidjson::kObjectType);
    auto& a = job.GetAllocator();
    SetString(job, "apiVersion", "batch/v1", a);
    SetString(job, "kind", "Job", a);
    JsonValue md(rapidjson::kObjectType);
    SetString(md, "name", JobName(scheduled), a);
    SetString(md, "namespace", Namespace(cj), a);
    SetString(md, "creationTimestamp", FormatRFC3339(scheduled), a);
    const JsonValue* tmd = Path(cj, {"spec", "jobTemplate", "metadata"});
    if (const JsonValue* l = tmd ? Member(*tmd, "labels") : nullptr; l && l->IsObject() && l->MemberCount() > 0) {
      md.AddMember("labels", Clone(*l, a), a);
    }
    JsonValue ann(rapidjson::kObjectType);
    if (const JsonValue* an = tmd ? Member(*tmd, "annotations") : nullptr; an && an->IsObject()) {
      ann = Clone(*an, a);
    }
    SetString(ann, kScheduledTimestampAnnotation, cron::FormatRFC3339In(scheduled, *zone), a);
    md.AddMember("annotations", ann, a);
    JsonValue refs(rapidjson::kArrayType);
    refs.PushBack(MakeControllerRef(cj, "batch/v1", "CronJob", a), a);
    md.AddMember("ownerReferences", refs, a);
    job.AddMember("metadata", md, a);
    const JsonValue* tspec = Path(cj, {"spec", "jobTemplate", "spec"});
    job.AddMember("spec", tspec ? Clone(*tspec, a) : JsonValue(rapidjson::kObjectType), a);

    auto self = shared_from_this();
    std::string name = JobName(scheduled);
    c->ctx_.client.Create(kJobs, ns(), job, [self, scheduled, name](StatusOr<JsonDoc> r) {
      if (self->alive.expired()) return;
      if (r.ok()) {
        self->Event(kEventTypeNormal, "SuccessfulCreate", "Created job " + std::string(Name(*r)));
        return self->Created(*r, scheduled);
      }
      if (!r.error().IsAlreadyExists()) {
        self->Event(kEventTypeWarning, "FailedCreate", "Error creating job: " + r.error().message());
        return self->Finish(r.error());
      }
      // Created by an earlier sync whose status update was lost: record it if it is ours.
      self->c->ctx_.client.Get(kJobs, self->ns(), name, [self, scheduled](StatusOr<JsonDoc> g) {
        if (self->alive.expired()) return;
        if (!g.ok()) return self->Finish(g.error());
        if (!IsControlledBy(*g, Uid(self->cj)) || self->InActiveList(Uid(*g))) return self->Finish(Status::OK());
        self->Created(*g, scheduled);
      });
    });
  }

  void Created(const JsonValue& job, TimePoint scheduled) {
    AddToActiveList(job);
    SetString(StatusObj(), "lastScheduleTime", FormatRFC3339(scheduled), A());
    update_status = true;
    requeue_ms = NextScheduleDelayMs();
    Finish(Status::OK());
  }

  // ---- schedule arithmetic (upstream's utils.go) -----------------------------------------------
  enum class Missed { kNone, kFew, kMany };
  struct Recent {
    TimePoint earliest;
    std::optional<TimePoint> most_recent;
    Missed missed = Missed::kNone;
  };

  StatusOr<Recent> MostRecentScheduleTime(bool include_starting_deadline) const {
    Recent out;
    out.earliest = TimeField(Member(cj, "metadata"), "creationTimestamp").value_or(now);
    if (auto last = TimeField(Member(cj, "status"), "lastScheduleTime")) out.earliest = *last;
    const JsonValue* sds = Member(*Spec(), "startingDeadlineSeconds");
    if (include_starting_deadline && sds && sds->IsInt64()) {
      TimePoint deadline = now - std::chrono::seconds(sds->GetInt64());
      if (deadline > out.earliest) out.earliest = deadline;
    }
    auto t1 = sched->Next(out.earliest);
    auto t2 = t1 ? sched->Next(*t1) : std::nullopt;
    if (t1 && now < *t1) return out;
    if (t1 && t2 && now < *t2) {
      out.most_recent = t1;
      return out;
    }
    if (!t1 || !t2) return Status::Invalid("time difference between two schedules is less than 1 second");
    auto diff_ms = Ms(*t2 - *t1);
    int64_t between = (diff_ms + 500) / 1000;  // rounded to seconds
    if (between < 1) return Status::Invalid("time difference between two schedules is less than 1 second");
    int64_t elapsed = std::chrono::duration_cast<std::chrono::seconds>(now - *t1).count();
    int64_t missed = elapsed / between + 1;
    TimePoint potential = *t1 + std::chrono::seconds((missed - 2) * between);
    for (auto t = sched->Next(potential); t && *t <= now; t = sched->Next(*t)) out.most_recent = t;
    out.missed = missed > 100 ? Missed::kMany : missed > 0 ? Missed::kFew : Missed::kNone;
    return out;
  }

  StatusOr<std::optional<TimePoint>> NextScheduleTime() {
    auto r = MostRecentScheduleTime(true);
    if (!r.ok()) return r.error();
    if (!r->most_recent || *r->most_recent > now) return std::optional<TimePoint>();
    if (r->missed == Missed::kMany) {
      Event(kEventTypeWarning, "TooManyMissedTimes",
            "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew");
    }
    return r->most_recent;
  }

  std::optional<int64_t> NextScheduleDelayMs() const {
    auto r = MostRecentScheduleTime(false);
    TimePoint from = now;
    if (r.ok()) {
      if (r->most_recent) from = *r->most_recent;
      else if (r->missed == Missed::kNone) from = r->earliest;
    }
    auto next = sched->Next(from);
    if (!next) return std::nullopt;
    return std::max<int64_t>(0, Ms(*next - now) + kNextScheduleDeltaMs);
  }

  // ---- the end: status, then requeue -------------------------------------------------------------
  void Finish(Status sync_err) {
    auto self = shared_from_this();
    auto finish = [self, sync_err](Status st) {
      if (!st.ok()) return self->done(st);
      if (self->requeue_ms) {
        self->c->EnqueueAfter(self->key, *self->requeue_ms);
        return self->done(Status::OK());
      }
      self->done(sync_err);
    };
    if (!update_status) return finish(Status::OK());
    c->ctx_.client.Update(kCronJobs, ns(), cj, "status", [self, finish](StatusOr<JsonDoc> r) {
      if (self->alive.expired()) return;
      finish(r.ok() ? Status::OK() : r.error());
    });
  }
};

void CronJobController::Reconcile(const std::string& key, Done done) {
  client::ObjectPtr obj = cronjobs_.Get(key);
  if (!obj) return done(Status::OK());
  auto s = std::make_shared<Sync>();
  s->c = this;
  s->alive = alive_;
  s->key = key;
  s->done = std::move(done);
  s->cj.CopyFrom(*obj, s->cj.GetAllocator());
  for (const auto& j : jobs_.ByIndex(client::kOwnerIndex, std::string(Uid(*obj)))) {
    if (Namespace(*j) == Namespace(*obj) && IsControlledBy(*j, Uid(*obj))) s->jobs.push_back(j);
  }
  s->Start();
}

}  // namespace

ControllerPtr NewCronJobController(Context ctx, CronJobOptions options) {
  return std::make_unique<CronJobController>(ctx, std::move(options));
}

}  // namespace minik::controllers
