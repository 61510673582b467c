// The CronJob controller (upstream's pkg/controller/cronjob, ControllerV2, v1.32): creates a Job
// named "<cronjob>-<scheduled time in minutes since the epoch>" for each scheduled time (cron
// syntax and macros through cron_schedule.h, spec.timeZone from the system's tzdata), honouring
// startingDeadlineSeconds, concurrencyPolicy (Allow, Forbid, Replace) and suspend; tracks
// status.active, lastScheduleTime and lastSuccessfulTime; deletes the oldest finished Jobs beyond
// successfulJobsHistoryLimit / failedJobsHistoryLimit (Background propagation). Each sync
// requeues the CronJob at its next scheduled time (plus upstream's 100 ms), so nothing polls.
//
// Informers: cronjobs (batch/v1), jobs (batch/v1).
//
// Threading: the Controller contract (the loop thread). Loading a time zone reads a small file
// once per zone name (cached).
#pragma once

#include <string>

#include "server/controllers/controller.h"
#include "server/controllers/cron_schedule.h"

namespace minik::controllers {

struct CronJobOptions {
  std::string zoneinfo_dir = cron::kDefaultZoneInfoDir;
};

ControllerPtr NewCronJobController(Context ctx, CronJobOptions options = {});

}  // namespace minik::controllers
