// The Job controller and the TTL-after-finished controller, reconcile by reconcile, with the
// exact writes, on the simulated clock.
#include "fixture.h"
#include "server/controllers/job.h"
#include "server/controllers/ttl_after_finished.h"

namespace minik::controllers {
namespace {

using testing::Bench;
using testing::Json;
using Writes = std::vector<std::string>;
using Strings = std::vector<std::string>;

// A Job as the API server stores it after defaulting (selector and pod labels generated);
// spec_extra fields replace the defaults.
std::string JobJson(const std::string& spec_extra) {
  std::string defaults;
  for (std::string f : {R"("backoffLimit":6)", R"("completionMode":"NonIndexed")", R"("suspend":false)",
                        R"("podReplacementPolicy":"TerminatingOrFailed")"}) {
    if (spec_extra.find(f.substr(0, f.find(':'))) == std::string::npos) defaults += f + ",";
  }
  return R"({"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"pi","namespace":"ns","uid":"job-uid","generation":1},
    "spec":{)" + defaults + R"("selector":{"matchLabels":{"batch.kubernetes.io/controller-uid":"job-uid"}},
      "template":{"metadata":{"labels":{"batch.kubernetes.io/controller-uid":"job-uid","batch.kubernetes.io/job-name":"pi",
        "controller-uid":"job-uid","job-name":"pi"}},
        "spec":{"restartPolicy":"Never","containers":[{"name":"c","image":"perl"}]}})" +
         spec_extra + "}}";
}

struct JobBench {
  Bench b;
  ControllerPtr c = NewJobController(b.ctx);

  Status Sync() {
    b.Sync();
    return b.Reconcile(*c, "ns/pi");
  }
  client::ObjectPtr Job() { return b.api.Find(kJobs, "ns", "pi"); }
  const JsonValue& JobStatus() {
    job_ = Job();
    return *Member(*job_, "status");
  }
  // The job's pods in the fake (sorted by name).
  std::vector<client::ObjectPtr> Pods() {
    std::vector<client::ObjectPtr> out;
    bool ok = false;
    b.api.List(kPods, "ns", {}, [&](StatusOr<JsonDoc> r) {
      ok = r.ok();
      if (!ok) return;
      for (const auto& it : (*r)["items"].GetArray()) {
        auto d = std::make_shared<JsonDoc>();
        d->CopyFrom(it, d->GetAllocator());
        out.push_back(d);
      }
    });
    REQUIRE(ok);
    std::sort(out.begin(), out.end(), [](const client::ObjectPtr& x, const client::ObjectPtr& y) { return Name(*x) < Name(*y); });
    return out;
  }
  std::vector<client::ObjectPtr> ActivePods() {
    std::vector<client::ObjectPtr> out;
    for (auto& p : Pods()) {
      if (IsPodActive(*p)) out.push_back(p);
    }
    return out;
  }
  // The kubelet's part: a pod's phase (and its Ready condition or termination time).
  void SetPhase(const client::ObjectPtr& pod, const std::string& phase) {
    JsonDoc d;
    d.CopyFrom(*b.api.Find(kPods, "ns", std::string(Name(*pod))), d.GetAllocator());
    std::string now = FormatRFC3339(b.clock().Now());
    std::string st = phase == "Running"
                         ? R"({"phase":"Running","conditions":[{"type":"Ready","status":"True","lastTransitionTime":")" +
                               now + R"("}]})"
                         : R"({"phase":")" + phase +
                               R"(","conditions":[{"type":"Ready","status":"False","lastTransitionTime":")" + now +
                               R"("}]})";
    SetMember(d, "status", Clone(Json(st), d.GetAllocator()), d.GetAllocator());
    bool ok = false;
    b.api.Update(kPods, "ns", d, "status", [&](StatusOr<JsonDoc> r) { ok = r.ok(); });
    REQUIRE(ok);
  }
  void UpdateSpec(const std::string& field, const std::string& json) {
    JsonDoc d;
    d.CopyFrom(*Job(), d.GetAllocator());
    SetMember(*MutableMember(d, "spec"), field, Clone(Json(json), d.GetAllocator()), d.GetAllocator());
    SetMember(*MutableMember(d, "metadata"), "generation",
              JsonValue(GetInt(*Member(d, "metadata"), "generation").value_or(1) + 1), d.GetAllocator());
    bool ok = false;
    b.api.Update(kJobs, "ns", d, "", [&](StatusOr<JsonDoc> r) { ok = r.ok(); });
    REQUIRE(ok);
  }
  // Events not yet taken, gathered from the fake's actions before those are cleared.
  void Gather() {
    auto e = b.EventReasons();
    for (size_t i = seen_; i < e.size(); ++i) events_.push_back(e[i]);
    seen_ = e.size();
  }
  // The writes since the last call (their events are kept for TakeEvents).
  Writes TakeWrites() {
    Gather();
    seen_ = 0;
    return b.TakeWrites();
  }
  // The events ("Reason: message") since the last call.
  Strings TakeEvents() {
    Gather();
    Strings out;
    out.swap(events_);
    return out;
  }
  // Event reasons only.
  Strings Events() {
    auto e = TakeEvents();
    Strings out;
    for (auto& s : e) out.push_back(s.substr(0, s.find(':')));
    return out;
  }
  Strings Conditions() {
    Strings out;
    const JsonValue* cs = Member(JobStatus(), "conditions");
    if (!cs) return out;
    for (const auto& c : cs->GetArray()) {
      out.push_back(std::string(GetString(c, "type").value_or("")) + "=" + std::string(GetString(c, "status").value_or("")) +
                    "/" + std::string(GetString(c, "reason").value_or("")));
    }
    return out;
  }
  client::ObjectPtr job_;
  Strings events_;
  size_t seen_ = 0;
};

int64_t StatusInt(const JsonValue& st, const char* f) { return GetInt(st, f).value_or(0); }

bool NotComplete(JobBench& j) {
  const JsonValue* cs = Member(j.JobStatus(), "conditions");
  if (!cs) return true;
  for (const auto& c : cs->GetArray()) {
    if (GetString(c, "type").value_or("") == "Complete") return false;
  }
  return true;
}

TEST_CASE("job: completions 5, parallelism 2 runs two at a time and completes") {
  JobBench j;
  j.b.Seed(kJobs, JobJson(R"(,"completions":5,"parallelism":2)"));
  REQUIRE(j.Sync().ok());
  CHECK(j.Events() == Strings{"SuccessfulCreate", "SuccessfulCreate"});
  auto writes = j.TakeWrites();
  CHECK(writes == Writes{"create pods ns/", "create pods ns/", "update jobs/status ns/pi"});
  std::string uid(Uid(*j.Job()));
  auto pods = j.Pods();
  REQUIRE(pods.size() == 2);
  for (const auto& p : pods) {
    CHECK(std::string(Name(*p)).rfind("pi-", 0) == 0);
    CHECK(IsControlledBy(*p, uid));
    CHECK(ToJson(*Path(*p, {"metadata", "finalizers"})) == R"(["batch.kubernetes.io/job-tracking"])");
    CHECK(GetString(*Labels(*p), "batch.kubernetes.io/job-name").value_or("") == "pi");
    CHECK(GetString(*Labels(*p), "controller-uid").value_or("") == "job-uid");
  }
  const JsonValue& st = j.JobStatus();
  CHECK(ToJson(st) == R"({"startTime":"2026-01-01T00:00:00Z","active":2,"terminating":0,"uncountedTerminatedPods":{},"ready":0})");

  // The same state again: nothing to write (expectations satisfied by the informer).
  j.b.timers.RunPending();
  REQUIRE(j.b.Reconcile(*j.c, "ns/pi").ok());
  CHECK(j.TakeWrites().empty());

  // Pods run and succeed one round after another.
  int rounds = 0;
  while (NotComplete(j) && rounds < 10) {
    ++rounds;
    j.b.Advance(5000);
    for (const auto& p : j.ActivePods()) j.SetPhase(p, "Succeeded");
    j.TakeWrites();
    REQUIRE(j.Sync().ok());
    auto w = j.TakeWrites();
    for (auto& x : w) UNSCOPED_INFO(x);
    // Every finished pod is first recorded as uncounted, its finalizer removed, then counted.
    REQUIRE(w.size() >= 3);
    CHECK((w.front().rfind("create pods", 0) == 0 || w.front() == "update jobs/status ns/pi"));
  }
  CHECK(rounds == 3);
  const JsonValue& done = j.JobStatus();
  CHECK(StatusInt(done, "succeeded") == 5);
  CHECK(StatusInt(done, "active") == 0);
  CHECK(GetString(done, "completionTime").value_or("") == "2026-01-01T00:00:15Z");
  CHECK(j.Conditions() == Strings{"SuccessCriteriaMet=True/CompletionsReached", "Complete=True/CompletionsReached"});
  CHECK(GetString((*Member(done, "conditions"))[1], "message").value_or("") == "Reached expected number of succeeded pods");
  CHECK(ToJson(*Member(done, "uncountedTerminatedPods")) == "{}");
  for (const auto& p : j.Pods()) {
    const JsonValue* fins = Path(*p, {"metadata", "finalizers"});
    CHECK((!fins || fins->Empty()));
  }
  auto ev = j.TakeEvents();
  CHECK(ev.back() == "Completed: Job completed");
  // A finished Job is left alone.
  REQUIRE(j.b.Reconcile(*j.c, "ns/pi").ok());
  CHECK(j.TakeWrites().empty());
}

TEST_CASE("job: the writes of one round, in order") {
  JobBench j;
  j.b.Seed(kJobs, JobJson(R"(,"completions":2,"parallelism":1)"));
  REQUIRE(j.Sync().ok());
  j.TakeWrites();
  auto pod = j.ActivePods().at(0);
  std::string name(Name(*pod));
  j.SetPhase(pod, "Succeeded");
  j.TakeWrites();
  REQUIRE(j.Sync().ok());
  CHECK(j.TakeWrites() == Writes{"create pods ns/", "update jobs/status ns/pi", "patch pods ns/" + name,
                                   "update jobs/status ns/pi"});
  const JsonValue& st = j.JobStatus();
  CHECK(StatusInt(st, "succeeded") == 1);
  CHECK(StatusInt(st, "active") == 1);
  // The uncounted list was written before the finalizer went away.
  auto actions = j.b.api.writes();
}

TEST_CASE("job: failed pods are recreated after a backoff, then backoffLimit fails the Job") {
  JobBench j;
  j.b.Seed(kJobs, JobJson(R"(,"completions":1,"parallelism":1,"backoffLimit":1)"));
  REQUIRE(j.Sync().ok());
  j.TakeWrites();
  j.SetPhase(j.ActivePods().at(0), "Failed");
  j.TakeWrites();
  REQUIRE(j.Sync().ok());
  auto w = j.TakeWrites();
  // Counted as failed, no new pod yet: the first failure backs off 10 s.
  CHECK(w.size() == 3);
  CHECK(w[0] == "update jobs/status ns/pi");
  CHECK(w[1].rfind("patch pods ns/pi-", 0) == 0);
  CHECK(StatusInt(j.JobStatus(), "failed") == 1);
  CHECK(j.c->queue().waiting() == 1);
  j.b.Advance(9000);
  REQUIRE(j.b.Reconcile(*j.c, "ns/pi").ok());
  CHECK(j.TakeWrites().empty());
  j.b.Advance(1000);
  REQUIRE(j.b.Reconcile(*j.c, "ns/pi").ok());
  CHECK(j.TakeWrites() == Writes{"create pods ns/", "update jobs/status ns/pi"});

  // The second failure exceeds backoffLimit 1.
  j.SetPhase(j.ActivePods().at(0), "Failed");
  j.TakeWrites();
  REQUIRE(j.Sync().ok());
  w = j.TakeWrites();
  CHECK(w.size() == 3);
  CHECK(j.Conditions() == Strings{"FailureTarget=True/BackoffLimitExceeded", "Failed=True/BackoffLimitExceeded"});
  CHECK(StatusInt(j.JobStatus(), "failed") == 2);
  CHECK(j.TakeEvents().back() == "BackoffLimitExceeded: Job has reached the specified backoff limit");
}

TEST_CASE("job: activeDeadlineSeconds requeues at the deadline, then deletes the pods and fails the Job") {
  JobBench j;
  j.b.Seed(kJobs, JobJson(R"(,"completions":1,"parallelism":1,"activeDeadlineSeconds":30)"));
  REQUIRE(j.Sync().ok());
  j.TakeWrites();
  CHECK(j.c->queue().waiting() == 1);  // the deadline
  j.SetPhase(j.ActivePods().at(0), "Running");
  j.b.Advance(30000);
  j.TakeWrites();
  REQUIRE(j.b.Reconcile(*j.c, "ns/pi").ok());
  auto w = j.TakeWrites();
  REQUIRE(w.size() == 4);
  CHECK(w[0].rfind("delete pods ns/pi-", 0) == 0);
  CHECK(w[1] == "update jobs/status ns/pi");
  CHECK(w[2].rfind("patch pods ns/pi-", 0) == 0);
  CHECK(w[3] == "update jobs/status ns/pi");
  // FailureTarget first; Failed once no pod is terminating.
  CHECK(j.Conditions() == Strings{"FailureTarget=True/DeadlineExceeded"});
  CHECK(StatusInt(j.JobStatus(), "failed") == 1);
  CHECK(StatusInt(j.JobStatus(), "terminating") == 1);
  j.TakeWrites();
  REQUIRE(j.Sync().ok());
  // As upstream: the changed counters (terminating 0) are flushed, then the Failed condition.
  CHECK(j.TakeWrites() == Writes{"update jobs/status ns/pi", "update jobs/status ns/pi"});
  CHECK(j.Conditions() == Strings{"FailureTarget=True/DeadlineExceeded", "Failed=True/DeadlineExceeded"});
  CHECK(StatusInt(j.JobStatus(), "terminating") == 0);
  const JsonValue* failed = &(*Member(j.JobStatus(), "conditions"))[1];
  CHECK(GetString(*failed, "message").value_or("") == "Job was active longer than specified deadline");
  CHECK(j.TakeEvents().back() == "DeadlineExceeded: Job was active longer than specified deadline");
}

TEST_CASE("job: suspend deletes the active pods; resume recreates them and resets startTime") {
  JobBench j;
  j.b.Seed(kJobs, JobJson(R"(,"completions":4,"parallelism":2,"suspend":true)"));
  REQUIRE(j.Sync().ok());
  CHECK(j.TakeWrites() == Writes{"update jobs/status ns/pi"});
  CHECK(j.Conditions() == Strings{"Suspended=True/JobSuspended"});
  CHECK(!Member(j.JobStatus(), "startTime"));
  CHECK(j.TakeEvents() == Strings{"Suspended: Job suspended"});

  j.b.Advance(60000);
  j.UpdateSpec("suspend", "false");
  j.TakeWrites();
  REQUIRE(j.Sync().ok());
  CHECK(j.TakeWrites() == Writes{"create pods ns/", "create pods ns/", "update jobs/status ns/pi"});
  CHECK(j.Conditions() == Strings{"Suspended=False/JobResumed"});
  CHECK(GetString(j.JobStatus(), "startTime").value_or("") == "2026-01-01T00:01:00Z");
  CHECK(j.TakeEvents() == Strings{"SuccessfulCreate: Created pod: " + std::string(Name(*j.Pods()[0])),
                                      "SuccessfulCreate: Created pod: " + std::string(Name(*j.Pods()[1])),
                                      "Resumed: Job resumed"});

  j.UpdateSpec("suspend", "true");
  j.TakeWrites();
  REQUIRE(j.Sync().ok());
  auto w = j.TakeWrites();
  REQUIRE(w.size() == 5);
  CHECK(w[0].rfind("patch pods", 0) == 0);  // finalizer off, then delete
  CHECK(w[1].rfind("delete pods", 0) == 0);
  CHECK(w[4] == "update jobs/status ns/pi");
  CHECK(j.Pods().empty());
  CHECK(StatusInt(j.JobStatus(), "active") == 0);
  CHECK(j.Conditions() == Strings{"Suspended=True/JobSuspended"});
}

TEST_CASE("job: Indexed mode gives each pod its index and tracks completedIndexes") {
  JobBench j;
  j.b.Seed(kJobs, JobJson(R"(,"completions":4,"parallelism":2,"completionMode":"Indexed")"));
  REQUIRE(j.Sync().ok());
  auto pods = j.Pods();
  REQUIRE(pods.size() == 2);
  for (int i = 0; i < 2; ++i) {
    const auto& p = *pods[i];
    std::string ix = std::to_string(i);
    CHECK(std::string(Name(p)).rfind("pi-" + ix + "-", 0) == 0);
    CHECK(Annotation(p, "batch.kubernetes.io/job-completion-index").value_or("") == ix);
    CHECK(GetString(*Labels(p), "batch.kubernetes.io/job-completion-index").value_or("") == ix);
    CHECK(GetString(*Member(p, "spec"), "hostname").value_or("") == "pi-" + ix);
    CHECK(ToJson(*Path(p, {"spec", "containers"})).find(
              R"("env":[{"name":"JOB_COMPLETION_INDEX","valueFrom":{"fieldRef":{"fieldPath":"metadata.annotations['batch.kubernetes.io/job-completion-index']"}}}])") !=
          std::string::npos);
  }
  // Index 1 succeeds: index 2 starts.
  j.SetPhase(pods[1], "Succeeded");
  j.TakeWrites();
  REQUIRE(j.Sync().ok());
  CHECK(GetString(j.JobStatus(), "completedIndexes").value_or("") == "1");
  CHECK(StatusInt(j.JobStatus(), "succeeded") == 1);
  auto active = j.ActivePods();
  REQUIRE(active.size() == 2);
  Strings ix;
  for (const auto& p : active) ix.push_back(std::string(*Annotation(*p, "batch.kubernetes.io/job-completion-index")));
  std::sort(ix.begin(), ix.end());
  CHECK(ix == Strings{"0", "2"});
  // 0 and 2 succeed: "0-2"; then 3: "0-3" and Complete.
  for (const auto& p : active) j.SetPhase(p, "Succeeded");
  REQUIRE(j.Sync().ok());
  CHECK(GetString(j.JobStatus(), "completedIndexes").value_or("") == "0-2");
  j.SetPhase(j.ActivePods().at(0), "Succeeded");
  REQUIRE(j.Sync().ok());
  CHECK(GetString(j.JobStatus(), "completedIndexes").value_or("") == "0-3");
  CHECK(StatusInt(j.JobStatus(), "succeeded") == 4);
  CHECK(j.Conditions() == Strings{"SuccessCriteriaMet=True/CompletionsReached", "Complete=True/CompletionsReached"});
}

TEST_CASE("job: orphan pods matching the selector are adopted; finished Jobs' pods lose the finalizer") {
  JobBench j;
  j.b.Seed(kJobs, JobJson(R"(,"completions":1,"parallelism":1)"));
  j.b.Seed(kPods, R"({"metadata":{"name":"stray","namespace":"ns","labels":{"batch.kubernetes.io/controller-uid":"job-uid"}},
    "spec":{"containers":[{"name":"c","image":"perl"}]},"status":{"phase":"Running"}})");
  REQUIRE(j.Sync().ok());
  CHECK(j.TakeWrites() == Writes{"patch pods ns/stray", "update jobs/status ns/pi"});
  auto stray = j.b.api.Find(kPods, "ns", "stray");
  CHECK(IsControlledBy(*stray, Uid(*j.Job())));
  CHECK(StatusInt(j.JobStatus(), "active") == 1);

  // An orphan with the tracking finalizer (its Job gone) loses it.
  j.b.Seed(kPods, R"({"metadata":{"name":"left","namespace":"ns","finalizers":["batch.kubernetes.io/job-tracking"]},
    "spec":{"containers":[{"name":"c","image":"perl"}]},"status":{"phase":"Succeeded"}})");
  j.b.timers.RunPending();
  j.TakeWrites();
  REQUIRE(j.b.Reconcile(*j.c, "pod:ns/left").ok());
  CHECK(j.TakeWrites() == Writes{"patch pods ns/left"});
  const JsonValue* fins = Path(*j.b.api.Find(kPods, "ns", "left"), {"metadata", "finalizers"});
  CHECK((!fins || fins->Empty()));
}

TEST_CASE("ttl-after-finished: deletes the Job TTL seconds after it finished, Background, UID precondition") {
  Bench b;
  auto c = NewTtlAfterFinishedController(b.ctx);
  std::string now = FormatRFC3339(b.clock().Now());
  b.Seed(kJobs, R"({"metadata":{"name":"pi","namespace":"ns"},"spec":{"ttlSecondsAfterFinished":100},
    "status":{"conditions":[{"type":"Complete","status":"True","lastTransitionTime":")" + now + R"("}]}})");
  b.Seed(kJobs, R"({"metadata":{"name":"running","namespace":"ns"},"spec":{"ttlSecondsAfterFinished":0}})");
  b.Sync();
  REQUIRE(b.Reconcile(*c, "ns/pi").ok());
  REQUIRE(b.Reconcile(*c, "ns/running").ok());
  CHECK(b.TakeWrites().empty());
  CHECK(c->queue().waiting() == 1);
  b.Advance(99000);
  REQUIRE(b.Reconcile(*c, "ns/pi").ok());
  CHECK(b.TakeWrites().empty());
  b.Advance(1000);
  b.api.ClearActions();
  REQUIRE(b.Reconcile(*c, "ns/pi").ok());
  auto w = b.api.writes();
  REQUIRE(w.size() == 1);
  CHECK(w[0].ToString() == "delete jobs ns/pi");
  CHECK(w[0].body.find(R"("propagationPolicy":"Background")") != std::string::npos);
  CHECK(w[0].body.find("uid") != std::string::npos);
  CHECK_FALSE(b.api.Find(kJobs, "ns", "pi"));
}

}  // namespace
}  // namespace minik::controllers
