// The ReplicationController controller: upstream's replication manager, which is the ReplicaSet controller
// run for v1 ReplicationControllers (replica_set.h). The differences: the owner is a core/v1
// ReplicationController whose spec.selector is a plain label map (an empty map selects nothing), the pods'
// controller references say apiVersion "v1", kind "ReplicationController", and events come from
// "replication-controller". Informers: replicationcontrollers and pods.
//
// Threading: the thread of the Context (the loop thread; the test's thread in tests).
#pragma once

#include "server/controllers/controller.h"
#include "server/controllers/replica_set.h"

namespace minik::controllers {

// The configuration of the ReplicationController controller (for NewReplicaSetLikeController).
ReplicaSetControllerConfig ReplicationControllerConfig();

ControllerPtr NewReplicationControllerController(Context ctx);

}  // namespace minik::controllers
