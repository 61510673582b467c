// The TTL-after-finished controller (upstream's pkg/controller/ttlafterfinished, v1.32): deletes
// a finished Job (Complete or Failed condition True) spec.ttlSecondsAfterFinished seconds after
// the condition's lastTransitionTime, with propagationPolicy Background and a UID precondition,
// after re-reading the Job from the API server. Requeues each Job at its expiry (no polling).
//
// Informers: jobs (batch/v1).
//
// Threading: the Controller contract (the loop thread).
#pragma once

#include "server/controllers/controller.h"

namespace minik::controllers {

ControllerPtr NewTtlAfterFinishedController(Context ctx);

}  // namespace minik::controllers
