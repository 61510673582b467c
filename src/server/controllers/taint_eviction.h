// The taint eviction controller (upstream pkg/controller/tainteviction, v1.32): deletes the pods
// of a node with NoExecute taints they do not tolerate.
//
//   - A pod that does not tolerate every NoExecute taint of its node is deleted at once.
//   - A pod that tolerates them all, some for a limited tolerationSeconds, is deleted when the
//     first limit runs out, counted from the taint's timeAdded (the controller's first sight of
//     the taint when it has none); a toleration without tolerationSeconds tolerates forever.
//     The DefaultTolerationSeconds admission gives every pod not-ready/unreachable tolerations of
//     300 s, so pods leave a dead node 5 minutes after it was tainted.
//   - Before deleting, the DisruptionTarget condition (reason DeletionByTaintManager, message
//     "Taint manager: deleting due to NoExecute taint") is patched into the pod's status (with a
//     uid precondition), as upstream; events TaintManagerEviction "Marking for deletion Pod
//     ns/name" and "Cancelling deletion of Pod ns/name" (source taint-eviction-controller).
//
// Informers: nodes, pods. Keys: a node name (its NoExecute taints changed: every pod on it is
// checked) and "ns/name" of a pod (bound, rebound, tolerations changed, or its eviction is due;
// scheduled evictions are delayed keys of the work queue, one timer per pod waiting).
//
// Threading: the loop thread (see controller.h).
#pragma once

#include "server/controllers/controller.h"

namespace minik::controllers {

ControllerPtr NewTaintEvictionController(Context ctx);

}  // namespace minik::controllers
