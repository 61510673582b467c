// The Job controller (upstream's pkg/controller/job, v1.32): runs pods from spec.template until
// spec.completions succeed (parallelism at a time), in NonIndexed or Indexed completion mode;
// tracks finished pods through the batch.kubernetes.io/job-tracking finalizer and
// status.uncountedTerminatedPods before counting them in status.succeeded / failed; backs off
// pod re-creation after failures (10 s doubling to 10 min); fails the Job on backoffLimit or
// activeDeadlineSeconds (FailureTarget, then Failed once no pod is terminating), completes it
// with SuccessCriteriaMet then Complete; suspends and resumes it; adopts and releases pods;
// removes the tracking finalizer from orphaned pods. Writes upstream's conditions, status
// fields and events.
//
// Informers: jobs (batch/v1), pods (v1).
//
// Threading: the Controller contract (the loop thread).
#pragma once

#include "server/controllers/controller.h"

namespace minik::controllers {

ControllerPtr NewJobController(Context ctx);

}  // namespace minik::controllers
