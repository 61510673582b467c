#include "server/controllers/replication_controller.h"

#include "server/controllers/util.h"

namespace minik::controllers {

ReplicaSetControllerConfig ReplicationControllerConfig() {
  ReplicaSetControllerConfig c;
  c.resource = kReplicationControllers;
  c.api_version = "v1";
  c.kind = "ReplicationController";
  c.name = "replicationcontroller";
  c.event_component = "replication-controller";
  c.selector_type = OwnerSelectorType::kMap;
  return c;
}

ControllerPtr NewReplicationControllerController(Context ctx) {
  return NewReplicaSetLikeController(ctx, ReplicationControllerConfig());
}

}  // namespace minik::controllers
