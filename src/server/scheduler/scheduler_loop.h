// kube-scheduler's running loop (v1.32 behaviour) around the decision library (scheduler.h):
// informers feed a Cache of nodes and assigned pods and a SchedulingQueue of pending pods; each
// pod popped from the queue is decided on the Cache, assumed onto its node at once, and bound
// asynchronously through the pods/binding subresource while the next pods are decided (many
// bindings in flight). The informer confirming a binding replaces the assumption; a failed
// binding forgets it and requeues the pod with backoff.
//
// Pods handled: spec.schedulerName "default-scheduler" (or unset), no spec.nodeName, not
// Succeeded/Failed. Other schedulers' pods are ignored (but, once assigned, count on their node).
//
// Informers (shared, from the factory): pods, nodes, persistentvolumeclaims, persistentvolumes,
// storageclasses (storage.k8s.io/v1), poddisruptionbudgets (policy/v1), priorityclasses
// (scheduling.k8s.io/v1), namespaces.
//
// Writes, as upstream's:
//   - POST pods/<name>/binding {"apiVersion":"v1","kind":"Binding","metadata":{name, namespace,
//     uid},"target":{"apiVersion":"v1","kind":"Node","name":node}}; event Scheduled
//     "Successfully assigned ns/pod to node" once bound.
//   - no fit: event FailedScheduling (Warning) with the FitError message ("0/3 nodes are
//     available: 1 Insufficient cpu, ... preemption: ..."), and a strategic merge patch of
//     pods/status setting condition PodScheduled=False reason Unschedulable (SchedulerError for
//     binding errors) with the same message, and status.nominatedNodeName, only when they change.
//   - preemption: each victim gets condition DisruptionTarget=True reason PreemptionByScheduler
//     ("default-scheduler: preempting to accommodate a higher priority pod") through pods/status,
//     is deleted, and gets event Preempted "Preempted by pod <uid> on node <node>"; the preemptor
//     gets status.nominatedNodeName and waits in the queue for the victims to go.
//   - volumes: a missing claim, an unbound claim of an Immediate StorageClass, a bound PV whose
//     nodeAffinity excludes the node, or an unbound WaitForFirstConsumer claim that no node can
//     satisfy make the pod unschedulable with VolumeBinding's messages. For unbound
//     WaitForFirstConsumer claims the chosen node is written into the claims' annotation
//     volume.kubernetes.io/selected-node and the pod is bound once every claim is Bound, or
//     requeued after bind_timeout_ms (upstream's bindTimeoutSeconds, 600 s).
//
// Deviations from kube-scheduler: no scheduling gates, extenders, profiles or nominated-pod
// accounting while filtering (see scheduler.h); the binding is sent as a create on the resource
// path "pods/<name>/binding" (the ApiClient has no subresource create; see PostBinding in the
// .cc); VolumeBinding checks static PVs for WaitForFirstConsumer claims without binding them
// (the PV controller binds once the claim is annotated).
//
// Threading: everything runs on the thread of the ApiClient and Timers (the server's loop
// thread). Informer handlers only update the Cache and the queue; scheduling runs from posted
// tasks, a batch of pods per task.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "client/api_client.h"
#include "client/informer.h"
#include "client/leader_election.h"
#include "client/timers.h"
#include "server/controllers/events.h"
#include "server/scheduler/scheduler.h"
#include "server/scheduler/scheduling_queue.h"

namespace minik::scheduler {

inline constexpr char kDefaultSchedulerName[] = "default-scheduler";
inline constexpr char kSelectedNodeAnnotation[] = "volume.kubernetes.io/selected-node";

struct SchedulerLoopOptions {
  std::string scheduler_name = kDefaultSchedulerName;
  // Pods decided per posted task before yielding to the loop.
  int batch = 64;
  int64_t bind_timeout_ms = 600 * 1000;
  QueueOptions queue;
  // Passed to the Cache (percentageOfNodesToScore, seed); namespace_labels is set by the loop.
  Options cache;
};

class SchedulerLoop {
 public:
  SchedulerLoop(client::ApiClient& client, client::SharedInformerFactory& informers, client::Timers& timers,
                controllers::EventRecorder& events, SchedulerLoopOptions options = {});
  ~SchedulerLoop();
  SchedulerLoop(const SchedulerLoop&) = delete;
  SchedulerLoop& operator=(const SchedulerLoop&) = delete;

  // Starts scheduling once every informer of the factory has synced (the factory is started
  // by its owner). Stop() stops taking pods from the queue; bindings in flight finish.
  void Start();
  void Stop();

  // Introspection for tests and metrics.
  const SchedulingQueue& queue() const { return queue_; }
  const Cache& cache() const { return cache_; }
  size_t assumed() const { return assumed_.size(); }
  int64_t bound() const { return bound_; }             // bindings that succeeded
  int64_t attempts() const { return attempts_; }       // scheduling attempts
  int64_t binds_in_flight() const { return binds_in_flight_; }

 private:
  struct Assumed {
    std::string key;
    std::string node;
    client::ObjectPtr obj;
    QueuedPodPtr qp;          // for requeueing when the binding fails
    bool binding = false;     // the binding request is in flight
    std::vector<std::string> waiting_claims;  // WaitForFirstConsumer claims not Bound yet
    std::unordered_set<std::string> annotated;  // claims seen with our selected-node annotation
    http::HandlePtr timeout;  // the volume binding timeout
  };
  struct PvInfo {
    std::string name;
    std::string storage_class;
    std::string claim_key;  // spec.claimRef namespace/name ("" when unclaimed)
    std::string phase;
    int64_t capacity = 0;
    std::vector<NodeSelectorTerm> affinity;  // spec.nodeAffinity.required (empty: any node)
    bool has_affinity = false;
  };
  // The volume part of one pod's scheduling cycle (VolumeBinding PreFilter + Filter state).
  struct VolumeState {
    bool active = false;
    std::vector<const PvInfo*> bound;  // PVs of bound claims with node affinity
    struct Unbound {
      std::string claim_key;
      std::string storage_class;
      int64_t request = 0;
      bool provision = false;  // dynamic provisioning (else a static PV must be found)
      std::vector<NodeSelectorTerm> allowed_topologies;
    };
    std::vector<Unbound> unbound;  // WaitForFirstConsumer claims
    bool missing_pv = false;
  };

  // Informer handlers.
  void OnPodAdd(const client::ObjectPtr& obj);
  void OnPodUpdate(const client::ObjectPtr& old_obj, const client::ObjectPtr& obj);
  void OnPodDelete(const client::ObjectPtr& obj);
  void OnNodeAdd(const client::ObjectPtr& obj);
  void OnNodeUpdate(const client::ObjectPtr& obj);
  void OnNodeDelete(const client::ObjectPtr& obj);
  void OnPvc(const client::ObjectPtr& obj, bool deleted);
  void OnPv(const client::ObjectPtr& obj, bool deleted);

  bool Responsible(const JsonValue& pod) const;
  // ParsePod plus the priority of spec.priorityClassName when admission did not set it.
  PodInfoPtr Parse(const JsonValue& pod);
  void AddAssignedPod(const client::ObjectPtr& obj);
  // Drops the assumption record (EraseAssumed) and, for ForgetAssumed, the pod from the Cache.
  void EraseAssumed(const std::string& uid);
  void ForgetAssumed(const std::string& uid);
  void MoveAll(uint32_t event);

  // Scheduling.
  void KickScheduling();
  void RunBatch();
  void ScheduleOne(QueuedPodPtr qp);
  // VolumeBinding PreFilter: fills vol_ and returns the rejection message ("" when none).
  std::string PrepareVolumes(const JsonValue& pod);
  bool VolumeFilter(const NodeInfo& node, NodeStatus* st) const;
  void HandleFailure(QueuedPodPtr qp, const ScheduleResult& r);
  void Preempt(const QueuedPod& qp, const PreemptionResult& pr);
  void StartBinding(const std::string& uid);
  void PostBinding(const std::string& uid);
  void BindingFailed(const std::string& uid, const std::string& message);
  void CheckVolumesBound(const std::string& uid);
  // Writes the FailedScheduling event and the PodScheduled condition (if changed).
  void RecordFailure(const client::ObjectPtr& pod, const std::string& reason, const std::string& message,
                     const std::optional<std::string>& nominated);
  void PodEvent(const JsonValue& pod, std::string_view type, std::string_view reason, std::string_view message);

  client::ApiClient& client_;
  client::SharedInformerFactory& informers_;
  client::Timers& timers_;
  controllers::EventRecorder& events_;
  SchedulerLoopOptions options_;
  client::Informer& pods_;
  client::Informer& nodes_;
  client::Informer& pvcs_;
  client::Informer& pvs_;
  client::Informer& classes_;
  std::vector<std::pair<client::Informer*, int>> handlers_;

  Cache cache_;
  SchedulingQueue queue_;
  PodInterner interner_;  // what the pods Parse() reads share
  bool started_ = false;
  bool synced_ = false;
  bool batch_posted_ = false;

  std::unordered_map<std::string, Assumed> assumed_;  // by pod uid
  std::unordered_map<std::string, std::unordered_set<std::string>> waiting_by_claim_;  // claim key -> uids
  std::map<std::string, PdbInfo> pdbs_;
  std::unordered_map<std::string, int32_t> priority_classes_;
  std::string default_priority_class_;  // the globalDefault PriorityClass
  std::unordered_map<std::string, Labels> namespace_labels_;
  std::unordered_map<std::string, PvInfo> pv_infos_;
  VolumeState vol_;

  int64_t bound_ = 0;
  int64_t attempts_ = 0;
  int64_t binds_in_flight_ = 0;
  std::shared_ptr<bool> alive_;
};

// The scheduler as a component of `minik server`: a SchedulerLoop that runs only while this
// process holds the Lease kube-system/kube-scheduler (client::LeaderElector), so that several
// servers schedule each pod once. The loop is created when leading starts and destroyed when it
// stops.
struct SchedulerRunnerOptions {
  std::string identity;  // holderIdentity (node name + random suffix)
  bool leader_elect = true;
  SchedulerLoopOptions loop;
};

class SchedulerRunner {
 public:
  // informers: started by the runner when it starts leading (it may be shared with the
  // controller manager to keep one pod cache per process).
  SchedulerRunner(client::ApiClient& client, client::SharedInformerFactory& informers, client::Timers& timers,
                  controllers::EventRecorder& events, SchedulerRunnerOptions options);
  ~SchedulerRunner();
  void Start();
  void Stop();
  bool leading() const { return loop_ != nullptr; }
  SchedulerLoop* loop() { return loop_.get(); }

 private:
  void StartLoop();
  client::ApiClient& client_;
  client::SharedInformerFactory& informers_;
  client::Timers& timers_;
  controllers::EventRecorder& events_;
  SchedulerRunnerOptions options_;
  std::unique_ptr<SchedulerLoop> loop_;
  std::unique_ptr<client::LeaderElector> elector_;
};

}  // namespace minik::scheduler
