// The CronJob controller: Jobs created on schedule on the simulated clock, requeues at the next
// scheduled time, history limits, concurrency policies, starting deadlines, time zones.
#include "fixture.h"
#include "server/controllers/cron_job.h"

namespace minik::controllers {
namespace {

using testing::Bench;
using testing::Json;
using Writes = std::vector<std::string>;

// The fake clock starts at 2026-01-01T00:00:00Z = 29453760 minutes since the epoch.
constexpr int64_t kMin0 = 29453760;

// A CronJob as stored after defaulting; extra_spec fields replace the defaults.
std::string CronJob(const std::string& extra_spec = "", const std::string& schedule = "* * * * *") {
  std::string defaults;
  for (std::string f : {R"("concurrencyPolicy":"Allow")", R"("suspend":false)", R"("successfulJobsHistoryLimit":3)",
                        R"("failedJobsHistoryLimit":1)"}) {
    if (extra_spec.find(f.substr(0, f.find(':'))) == std::string::npos) defaults += "," + f;
  }
  return R"({"apiVersion":"batch/v1","kind":"CronJob","metadata":{"name":"cj","namespace":"ns"},
    "spec":{"schedule":")" + schedule + "\"" + defaults + extra_spec + R"(,
    "jobTemplate":{"metadata":{"labels":{"app":"report"}},"spec":{"template":{"spec":{"restartPolicy":"OnFailure",
    "containers":[{"name":"c","image":"busybox"}]}}}}}})";
}

std::string JobName(int64_t minute) { return "cj-" + std::to_string(kMin0 + minute); }

// The events recorded since the last Take, then the writes (TakeWrites clears both).
struct Round {
  Writes writes;
  std::vector<std::string> events;
};
Round Take(Bench& b) {
  Round r;
  r.events = b.EventReasons();
  r.writes = b.TakeWrites();
  return r;
}

client::ObjectPtr GetCj(Bench& b) { return b.api.Find(kCronJobs, "ns", "cj"); }

// Marks a Job finished (Complete or Failed) at the current time, as the Job controller would.
void FinishJob(Bench& b, const std::string& name, const std::string& type) {
  auto job = b.api.Find(kJobs, "ns", name);
  REQUIRE(job);
  JsonDoc d;
  d.CopyFrom(*job, d.GetAllocator());
  std::string now = FormatRFC3339(b.clock().Now());
  auto st = Json(R"({"startTime":")" + now + R"(","conditions":[{"type":")" + type +
                 R"(","status":"True","lastTransitionTime":")" + now + R"("}])" +
                 (type == "Complete" ? R"(,"completionTime":")" + now + "\"" : std::string()) + "}");
  SetMember(d, "status", Clone(st, d.GetAllocator()), d.GetAllocator());
  bool ok = false;
  b.api.Update(kJobs, "ns", d, "status", [&](StatusOr<JsonDoc> r) { ok = r.ok(); });
  REQUIRE(ok);
}

TEST_CASE("cronjob: every minute creates a Job per minute, requeued at the next minute, no polling") {
  Bench b;
  auto c = NewCronJobController(b.ctx);
  b.Seed(kCronJobs, CronJob());
  c->Start();
  b.Sync();
  // First sync at creation: nothing due yet; requeued at 00:01:00.100.
  CHECK(b.TakeWrites().empty());
  CHECK(c->queue().waiting() == 1);

  b.Advance(60000);
  CHECK(b.TakeWrites().empty());  // 100 ms early
  b.Advance(100);
  Round r = Take(b);
  CHECK(r.writes == Writes{"create jobs ns/" + JobName(1), "update cronjobs/status ns/cj"});
  CHECK(r.events == std::vector<std::string>{"SuccessfulCreate: Created job " + JobName(1)});
  auto job = b.api.Find(kJobs, "ns", JobName(1));
  REQUIRE(job);
  CHECK(IsControlledBy(*job, Uid(*GetCj(b))));
  CHECK(GetString(*Path(*job, {"metadata", "labels"}), "app").value_or("") == "report");
  CHECK(Annotation(*job, "batch.kubernetes.io/cronjob-scheduled-timestamp").value_or("") == "2026-01-01T00:01:00Z");
  CHECK(Path(*job, {"spec", "template", "spec", "containers"})->Size() == 1);
  auto cj = GetCj(b);
  CHECK(GetString(*Path(*cj, {"status"}), "lastScheduleTime").value_or("") == "2026-01-01T00:01:00Z");
  const JsonValue* active = Path(*cj, {"status", "active"});
  REQUIRE(active);
  REQUIRE(active->Size() == 1);
  CHECK(ToJson((*active)[0]).find(R"({"kind":"Job","namespace":"ns","name":")" + JobName(1) + R"(","uid":")") == 0);

  // The Job completes: the status loses it from active and gains lastSuccessfulTime.
  b.Advance(20000);
  b.api.ClearActions();
  FinishJob(b, JobName(1), "Complete");
  b.Advance(1000);
  r = Take(b);
  CHECK(r.writes == Writes{"update jobs/status ns/" + JobName(1), "update cronjobs/status ns/cj"});
  cj = GetCj(b);
  CHECK(Path(*cj, {"status", "active"}) == nullptr);
  CHECK(GetString(*Path(*cj, {"status"}), "lastSuccessfulTime").value_or("") == "2026-01-01T00:01:20Z");
  CHECK(r.events == std::vector<std::string>{"SawCompletedJob: Saw completed job: " + JobName(1) +
                                             ", condition: Complete"});

  // Five more minutes, each Job completing: the successful history keeps 3.
  for (int m = 2; m <= 6; ++m) {
    b.Advance(40000);  // to m:00.1
    REQUIRE(b.api.Find(kJobs, "ns", JobName(m)));
    b.Advance(1000);
    FinishJob(b, JobName(m), "Complete");
    b.Advance(19000);
    b.timers.RunPending();
  }
  b.TakeWrites();
  int left = 0;
  for (int m = 1; m <= 6; ++m) left += b.api.Find(kJobs, "ns", JobName(m)) != nullptr;
  CHECK(left == 3);
  CHECK(b.api.Find(kJobs, "ns", JobName(6)));
  CHECK_FALSE(b.api.Find(kJobs, "ns", JobName(1)));
}

TEST_CASE("cronjob: history limits delete the oldest finished Jobs with Background propagation") {
  Bench b;
  auto c = NewCronJobController(b.ctx);
  auto cj = b.Seed(kCronJobs, CronJob(R"(,"successfulJobsHistoryLimit":1,"failedJobsHistoryLimit":1)"));
  std::string uid(Uid(*cj));
  auto owned = [&](const std::string& name, const std::string& type, const std::string& start) {
    b.Seed(kJobs, R"({"metadata":{"name":")" + name + R"(","namespace":"ns","ownerReferences":[{"apiVersion":"batch/v1",
      "kind":"CronJob","name":"cj","uid":")" + uid + R"(","controller":true}]},
      "status":{"startTime":")" + start + R"(","conditions":[{"type":")" + type + R"(","status":"True"}]}})");
  };
  owned("old-ok", "Complete", "2025-12-31T10:00:00Z");
  owned("mid-ok", "Complete", "2025-12-31T11:00:00Z");
  owned("new-ok", "Complete", "2025-12-31T12:00:00Z");
  owned("old-bad", "Failed", "2025-12-31T10:30:00Z");
  owned("new-bad", "Failed", "2025-12-31T11:30:00Z");
  b.Sync();
  REQUIRE(b.Reconcile(*c, "ns/cj").ok());
  Round r = Take(b);
  CHECK(r.writes == Writes{"delete jobs ns/old-ok", "delete jobs ns/mid-ok", "delete jobs ns/old-bad",
                           "update cronjobs/status ns/cj"});
  CHECK(r.events == std::vector<std::string>{"SuccessfulDelete: Deleted job old-ok",
                                                     "SuccessfulDelete: Deleted job mid-ok",
                                                     "SuccessfulDelete: Deleted job old-bad"});
}

TEST_CASE("cronjob: the delete request asks for Background propagation") {
  Bench b;
  auto c = NewCronJobController(b.ctx);
  auto cj = b.Seed(kCronJobs, CronJob(R"(,"successfulJobsHistoryLimit":0)"));
  b.Seed(kJobs, R"({"metadata":{"name":"done","namespace":"ns","ownerReferences":[{"apiVersion":"batch/v1",
    "kind":"CronJob","name":"cj","uid":")" + std::string(Uid(*cj)) + R"(","controller":true}]},
    "status":{"conditions":[{"type":"Complete","status":"True"}]}})");
  b.Sync();
  REQUIRE(b.Reconcile(*c, "ns/cj").ok());
  auto writes = b.api.writes();
  REQUIRE(writes.size() >= 1);
  CHECK(writes[0].verb == "delete");
  CHECK(writes[0].body.find(R"("propagationPolicy":"Background")") != std::string::npos);
}

TEST_CASE("cronjob: Forbid skips a run while one is active; Replace deletes it first; Allow runs both") {
  for (std::string policy : {"Forbid", "Replace", "Allow"}) {
    INFO(policy);
    Bench b;
    auto c = NewCronJobController(b.ctx);
    b.Seed(kCronJobs, CronJob(R"(,"concurrencyPolicy":")" + policy + "\""));
    b.Sync();
    b.Advance(60000);
    REQUIRE(b.Reconcile(*c, "ns/cj").ok());
    CHECK(b.TakeWrites() == Writes{"create jobs ns/" + JobName(1), "update cronjobs/status ns/cj"});
    b.Advance(60000);
    b.api.ClearActions();
    REQUIRE(b.Reconcile(*c, "ns/cj").ok());
    auto events = b.EventReasons();
    auto writes = b.TakeWrites();
    if (policy == "Forbid") {
      CHECK(writes.empty());
      CHECK(events == std::vector<std::string>{
                          "JobAlreadyActive: Not starting job because prior execution is running and concurrency "
                          "policy is Forbid"});
    } else if (policy == "Replace") {
      CHECK(writes == Writes{"delete jobs ns/" + JobName(1), "create jobs ns/" + JobName(2),
                             "update cronjobs/status ns/cj"});
      CHECK(events == std::vector<std::string>{"SuccessfulDelete: Deleted job " + JobName(1),
                                               "SuccessfulCreate: Created job " + JobName(2)});
      const JsonValue* active = Path(*GetCj(b), {"status", "active"});
      REQUIRE(active->Size() == 1);
      CHECK(GetString((*active)[0], "name").value_or("") == JobName(2));
    } else {
      CHECK(writes == Writes{"create jobs ns/" + JobName(2), "update cronjobs/status ns/cj"});
      CHECK(Path(*GetCj(b), {"status", "active"})->Size() == 2);
    }
  }
}

TEST_CASE("cronjob: startingDeadlineSeconds and missed schedules") {
  Bench b;
  auto c = NewCronJobController(b.ctx);
  b.Seed(kCronJobs, CronJob(R"(,"startingDeadlineSeconds":10)", "*/5 * * * *"));
  b.Sync();
  // 00:05:30: the 00:05 start is 30 s late, beyond the 10 s deadline, and earlier ones are out
  // of the window: nothing is due.
  b.Advance(330000);
  REQUIRE(b.Reconcile(*c, "ns/cj").ok());
  CHECK(b.EventReasons().empty());
  CHECK(b.TakeWrites().empty());
  // 00:10:05 is within the deadline.
  b.Advance(275000);
  REQUIRE(b.Reconcile(*c, "ns/cj").ok());
  CHECK(b.TakeWrites() == Writes{"create jobs ns/" + JobName(10), "update cronjobs/status ns/cj"});

  // Without a deadline, a late start still runs (the most recent missed time only).
  Bench b2;
  auto c2 = NewCronJobController(b2.ctx);
  b2.Seed(kCronJobs, CronJob("", "*/5 * * * *"));
  b2.Sync();
  b2.Advance(17 * 60000);
  REQUIRE(b2.Reconcile(*c2, "ns/cj").ok());
  CHECK(b2.TakeWrites() == Writes{"create jobs ns/" + JobName(15), "update cronjobs/status ns/cj"});
}

TEST_CASE("cronjob: a start later than startingDeadlineSeconds is skipped silently, requeued for the next") {
  // As upstream's v2 controller: the search for unmet times starts at now - deadline, so a start
  // missed by more than the deadline is never seen (and MissSchedule is not emitted).
  Bench b;
  auto c = NewCronJobController(b.ctx);
  b.Seed(kCronJobs, CronJob(R"(,"startingDeadlineSeconds":200)", "0 * * * *"));
  b.Sync();
  b.Advance(3600000 + 210000);  // 01:03:30, the 01:00 start is 210 s late
  REQUIRE(b.Reconcile(*c, "ns/cj").ok());
  Round r = Take(b);
  CHECK(r.writes.empty());
  CHECK(r.events.empty());
  CHECK(c->queue().waiting() == 1);  // at 02:00:00.100
}

TEST_CASE("cronjob: too many missed start times warns and still runs the latest") {
  Bench b;
  auto c = NewCronJobController(b.ctx);
  b.Seed(kCronJobs, CronJob());
  b.Sync();
  b.Advance(200 * 60000 + 5000);
  REQUIRE(b.Reconcile(*c, "ns/cj").ok());
  Round r = Take(b);
  CHECK(r.writes == Writes{"create jobs ns/" + JobName(200), "update cronjobs/status ns/cj"});
  CHECK(r.events == std::vector<std::string>{
                                "TooManyMissedTimes: too many missed start times. Set or decrease "
                                ".spec.startingDeadlineSeconds or check clock skew",
                                "SuccessfulCreate: Created job " + JobName(200)});
}

TEST_CASE("cronjob: suspend, invalid schedules and unknown time zones create nothing") {
  Bench b;
  auto c = NewCronJobController(b.ctx);
  b.Seed(kCronJobs, CronJob(R"(,"suspend":true)"));
  b.Sync();
  b.Advance(120000);
  REQUIRE(b.Reconcile(*c, "ns/cj").ok());
  CHECK(b.TakeWrites().empty());
  CHECK(c->queue().waiting() == 0);

  Bench b2;
  auto c2 = NewCronJobController(b2.ctx);
  b2.Seed(kCronJobs, CronJob("", "61 * * * *"));
  b2.Seed(kCronJobs, R"({"metadata":{"name":"tz","namespace":"ns"},"spec":{"schedule":"* * * * *",
    "timeZone":"Mars/Olympus","jobTemplate":{"spec":{}}}})");
  b2.Seed(kCronJobs, R"({"metadata":{"name":"feb31","namespace":"ns"},"spec":{"schedule":"59 23 31 2 *",
    "jobTemplate":{"spec":{}}}})");
  b2.Sync();
  b2.Advance(120000);
  REQUIRE(b2.Reconcile(*c2, "ns/cj").ok());
  REQUIRE(b2.Reconcile(*c2, "ns/tz").ok());
  REQUIRE(b2.Reconcile(*c2, "ns/feb31").ok());
  Round r = Take(b2);
  CHECK(r.writes.empty());
  CHECK(r.events ==
        std::vector<std::string>{
            "UnparseableSchedule: unparseable schedule: \"61 * * * *\" : end of range (61) above maximum (59): 61",
            "UnknownTimeZone: invalid timeZone: \"Mars/Olympus\": unknown time zone Mars/Olympus",
            "InvalidSchedule: invalid schedule: 59 23 31 2 * : time difference between two schedules is less than 1 "
            "second"});
}

TEST_CASE("cronjob: timeZone schedules in local time and stamps the annotation in that zone") {
  Bench b;
  auto c = NewCronJobController(b.ctx);
  // 01:00 Berlin = 00:00Z in winter.
  b.Seed(kCronJobs, CronJob(R"(,"timeZone":"Europe/Berlin")", "0 1 * * *"));
  b.Sync();
  REQUIRE(b.Reconcile(*c, "ns/cj").ok());
  CHECK(b.TakeWrites().empty());
  b.Advance(24 * 3600000LL);
  REQUIRE(b.Reconcile(*c, "ns/cj").ok());
  CHECK(b.TakeWrites() == Writes{"create jobs ns/" + JobName(24 * 60), "update cronjobs/status ns/cj"});
  auto job = b.api.Find(kJobs, "ns", JobName(24 * 60));
  REQUIRE(job);
  CHECK(Annotation(*job, "batch.kubernetes.io/cronjob-scheduled-timestamp").value_or("") ==
        "2026-01-02T01:00:00+01:00");
}

TEST_CASE("cronjob: a Job it did not record is reported; a vanished active Job is dropped") {
  Bench b;
  auto c = NewCronJobController(b.ctx);
  auto cj = b.Seed(kCronJobs, CronJob());
  std::string uid(Uid(*cj));
  b.Seed(kJobs, R"({"metadata":{"name":"stray","namespace":"ns","ownerReferences":[{"apiVersion":"batch/v1",
    "kind":"CronJob","name":"cj","uid":")" + uid + R"(","controller":true}]}})");
  // status.active names a Job that no longer exists.
  JsonDoc d;
  d.CopyFrom(*cj, d.GetAllocator());
  SetMember(d, "status", Clone(Json(R"({"active":[{"kind":"Job","namespace":"ns","name":"gone","uid":"g1",
    "apiVersion":"batch/v1"}]})"), d.GetAllocator()), d.GetAllocator());
  b.api.Update(kCronJobs, "ns", d, "status", [](StatusOr<JsonDoc>) {});
  b.Sync();
  b.api.ClearActions();
  REQUIRE(b.Reconcile(*c, "ns/cj").ok());
  Round r = Take(b);
  CHECK(r.writes == Writes{"update cronjobs/status ns/cj"});
  CHECK(r.events ==
        std::vector<std::string>{"UnexpectedJob: Saw a job that the controller did not create or forgot: stray",
                                 "MissingJob: Active job went missing: gone"});
  CHECK(Path(*GetCj(b), {"status", "active"}) == nullptr);
}

}  // namespace
}  // namespace minik::controllers
