// The Deployment controller (upstream's pkg/controller/deployment, v1.32): owns ReplicaSets
// named "<deployment>-<pod-template-hash>", rolls them out (RollingUpdate with maxSurge and
// maxUnavailable, or Recreate), scales them proportionally, keeps revisions and the revision
// history limit, and reports status and the Available / Progressing / ReplicaFailure
// conditions that `kubectl rollout status` reads.
//
// Informers: deployments.apps, replicasets.apps, pods.
//
// Threading: the thread of the Context's ApiClient and Timers (see controller.h).
#pragma once

#include "server/controllers/controller.h"

namespace minik::controllers {

ControllerPtr NewDeploymentController(Context ctx);

}  // namespace minik::controllers
