// The ReplicaSet controller (upstream's pkg/controller/replicaset), parameterised by kind so that
// the ReplicationController controller (replication_controller.h) is the same logic, as upstream's
// replication manager reuses the ReplicaSet controller.
//
// For each owner (ReplicaSet or ReplicationController) it:
//   - claims the active pods of its namespace: keeps those it controls whose labels still match
//     its selector, releases those that no longer match (removes its ownerReference), and adopts
//     matching orphans (adds a controller ownerReference) unless it is being deleted;
//   - creates missing pods from spec.template (generateName "<owner>-") in slow-start batches
//     1, 2, 4, ... stopping at the first error, at most burst_replicas per sync, and deletes
//     surplus pods ranked as upstream's ActivePodsWithRanks (unassigned, pending, not ready,
//     lower pod-deletion-cost, colocated, more recently ready, more restarts, newer go first);
//   - counts on Expectations so that a stale pod cache never creates or deletes twice;
//   - writes status last, through the status subresource, only when it changed: replicas,
//     fullyLabeledReplicas, readyReplicas, availableReplicas, observedGeneration and the
//     ReplicaFailure condition (FailedCreate / FailedDelete).
// Informers: the owner's resource and pods. Events: SuccessfulCreate, FailedCreate,
// SuccessfulDelete, FailedDelete, as upstream's RealPodControl records them.
//
// Threading: the thread of the Context (the loop thread; the test's thread in tests).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "client/informer.h"
#include "common/clock.h"
#include "server/controllers/controller.h"

namespace minik::controllers {

// How the owner's spec.selector is written.
enum class OwnerSelectorType {
  kLabelSelector,  // metav1.LabelSelector (ReplicaSet)
  kMap,            // map[string]string (ReplicationController)
};

struct ReplicaSetControllerConfig {
  client::ResourceRef resource;   // the owner's resource
  std::string api_version;        // of the owner references written ("apps/v1")
  std::string kind;               // "ReplicaSet"
  std::string name;               // the controller's name ("replicaset")
  std::string event_component;    // source.component of its events ("replicaset-controller")
  OwnerSelectorType selector_type = OwnerSelectorType::kLabelSelector;
  int64_t burst_replicas = 500;   // most pods created or deleted by one sync
  size_t workers = 5;             // upstream's --concurrent-replicaset-syncs
};

// The configuration of the ReplicaSet controller.
ReplicaSetControllerConfig ReplicaSetConfig();

// The controller for any owner kind described by config.
ControllerPtr NewReplicaSetLikeController(Context ctx, ReplicaSetControllerConfig config);

// The ReplicaSet controller (apps/v1 replicasets).
ControllerPtr NewReplicaSetController(Context ctx);

// The first `count` pods of `pods` to delete, ranked as upstream's getPodsToDelete:
// related_pods are the pods of every owner sharing this owner's controller (its own included);
// a pod colocated on a node with more active related pods goes first among equals.
std::vector<client::ObjectPtr> PodsToDelete(std::vector<client::ObjectPtr> pods,
                                            const std::vector<client::ObjectPtr>& related_pods, size_t count,
                                            TimePoint now);

}  // namespace minik::controllers
