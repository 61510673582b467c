// The DaemonSet controller, as upstream's pkg/controller/daemon (v1.32): one pod per eligible
// node (template nodeName, nodeSelector, required node affinity, NoSchedule/NoExecute taints
// against the template's tolerations plus the automatic DaemonSet tolerations), pods created
// with a required node affinity on metadata.name (the scheduler binds them), failed pods deleted
// with per-node backoff, RollingUpdate (maxUnavailable, maxSurge) and OnDelete, ControllerRevision
// history (controller_history.h) and the status kubectl rollout status reads.
//
// Informers: daemonsets, pods, nodes, controllerrevisions (apps/v1 and core/v1).
//
// Threading: the controller's thread (see controller.h).
#pragma once

#include "server/controllers/controller.h"

namespace minik::controllers {

ControllerPtr NewDaemonSetController(Context ctx);

}  // namespace minik::controllers
