// The scheduler's queue of pending pods, as kube-scheduler's PriorityQueue (v1.32):
//
//   activeQ         pods ready to be tried, highest spec.priority first, then earliest
//                   enqueue time (upstream's PrioritySort QueueSort plugin);
//   backoffQ        pods that failed and wait out their backoff: 1 s after the first attempt,
//                   doubling with each attempt up to 10 s (podInitialBackoffSeconds,
//                   podMaxBackoffSeconds), then move to activeQ;
//   unschedulable   pods that no node fits. They stay until a cluster event that could make
//                   them schedulable happens (MoveAllToActiveOrBackoff with the event; only pods
//                   whose failing plugins care about that event move, as upstream's
//                   EventsToRegister), or until they have waited 5 minutes
//                   (podMaxInUnschedulablePodsDuration). A moved pod whose backoff has not
//                   expired goes to backoffQ, otherwise to activeQ.
//
// A popped pod is "in flight" (owned by the caller) until it is requeued (Requeue) or done
// (Done). Time comes from Timers: the queue arms one timer for the next backoff expiry or
// unschedulable timeout, never a periodic tick, and calls on_active whenever activeQ turns
// non-empty.
//
// Threading: one thread (the scheduler's loop thread), the same as its Timers.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "client/informer.h"
#include "client/timers.h"
#include "server/scheduler/scheduler.h"

namespace minik::scheduler {

// Cluster events that may make an unschedulable pod schedulable (a bit set).
enum ClusterEvent : uint32_t {
  kEventNodeAdd = 1u << 0,
  kEventNodeDelete = 1u << 1,
  kEventNodeLabel = 1u << 2,
  kEventNodeTaint = 1u << 3,  // taints, spec.unschedulable, readiness (the not-ready taints)
  kEventNodeAllocatable = 1u << 4,
  kEventAssignedPodAdd = 1u << 5,
  kEventAssignedPodLabel = 1u << 6,
  kEventAssignedPodDelete = 1u << 7,  // deleted, terminated, or its assumption forgotten
  kEventVolume = 1u << 8,             // PersistentVolume, PersistentVolumeClaim, StorageClass
  kEventAll = ~0u,
};

// The events a filter plugin registers for (upstream's EventsToRegister); kEventAll for an
// unknown plugin.
uint32_t EventsForPlugin(std::string_view plugin);
// The union of EventsForPlugin over the plugins that rejected nodes in r (kEventAll when none
// did, e.g. when there are no nodes).
uint32_t EventsForFailure(const ScheduleResult& r);

struct QueueOptions {
  int64_t initial_backoff_ms = 1000;
  int64_t max_backoff_ms = 10000;
  int64_t max_unschedulable_ms = 5 * 60 * 1000;
};

struct QueuedPod {
  std::string key;  // "namespace/name"
  PodInfoPtr info;
  client::ObjectPtr obj;  // the pod as last seen
  int attempts = 0;       // scheduling attempts so far (incremented by Pop)
  int64_t timestamp_ms = 0;  // when it entered activeQ, or when it last failed
  int64_t initial_attempt_ms = -1;
  uint32_t events = kEventAll;  // the events that may help it (while unschedulable)
  uint64_t seq = 0;
};
using QueuedPodPtr = std::unique_ptr<QueuedPod>;

class SchedulingQueue {
 public:
  SchedulingQueue(client::Timers& timers, QueueOptions options = {});
  ~SchedulingQueue();
  SchedulingQueue(const SchedulingQueue&) = delete;
  SchedulingQueue& operator=(const SchedulingQueue&) = delete;

  // Called whenever pods enter activeQ (inline, from the call that moved them: it should only
  // post work).
  void SetOnActive(std::function<void()> fn) { on_active_ = std::move(fn); }

  // A new pending pod: into activeQ, unless the key is already queued or in flight (then it
  // is an update).
  void Add(PodInfoPtr info, client::ObjectPtr obj);
  // A pending pod changed. `relevant`: a change that could make it schedulable (spec,
  // labels): an unschedulable pod then moves to backoffQ or activeQ. In flight: remembered.
  void Update(PodInfoPtr info, client::ObjectPtr obj, bool relevant);
  void Delete(const std::string& key);

  // The next pod of activeQ, now in flight; nullptr when activeQ is empty.
  QueuedPodPtr Pop();
  // An in-flight pod is finished (bound or dropped).
  void Done(const std::string& key);
  // An in-flight pod goes back: `unschedulable` (no node fits; waits for `events`) or an
  // error (binding failed: straight to backoffQ). A pod updated while in flight in a relevant
  // way, or a cluster event it cares about while in flight, sends it to backoffQ instead of
  // the unschedulable pods (upstream's moveRequestCycle).
  void Requeue(QueuedPodPtr pod, bool unschedulable, uint32_t events);
  // Activates unschedulable pods interested in `event`.
  void MoveAllToActiveOrBackoff(uint32_t event);

  bool Contains(const std::string& key) const { return pods_.count(key) > 0; }
  bool InFlight(const std::string& key) const { return in_flight_.count(key) > 0; }
  size_t active() const { return active_.size(); }
  size_t backoff() const { return backoff_.size(); }
  size_t unschedulable() const { return unschedulable_.size(); }
  size_t in_flight() const { return in_flight_.size(); }
  // The backoff of a pod after `attempts` attempts.
  int64_t BackoffMs(int attempts) const;
  // Where the pod with this key waits: "active", "backoff", "unschedulable", "in-flight" or "".
  std::string Where(const std::string& key) const;

 private:
  enum class Slot { kActive, kBackoff, kUnschedulable };
  struct Entry {
    QueuedPodPtr pod;
    Slot where = Slot::kActive;
    int64_t backoff_expiry_ms = 0;
  };
  struct ActiveLess {
    bool operator()(const Entry* a, const Entry* b) const;
  };
  struct BackoffLess {
    bool operator()(const Entry* a, const Entry* b) const;
  };
  struct UnschedLess {
    bool operator()(const Entry* a, const Entry* b) const;
  };
  struct FlightState {
    bool relevant_update = false;  // a relevant update happened meanwhile
    bool deleted = false;
    uint32_t events = 0;  // cluster events that happened meanwhile
    PodInfoPtr info;      // the latest version seen meanwhile (null when none)
    client::ObjectPtr obj;
  };

  int64_t Now() const;
  void Unlink(Entry* e);
  void CountInterest(const Entry* e, int delta);
  void PushActive(Entry* e);
  void PushBackoff(Entry* e);
  void PushUnschedulable(Entry* e);
  // Moves an entry out of unschedulable into backoffQ or activeQ by its backoff.
  void Activate(Entry* e);
  void Flush();
  void ArmTimer();

  client::Timers& timers_;
  QueueOptions options_;
  std::function<void()> on_active_;
  uint64_t seq_ = 0;
  std::unordered_map<std::string, std::unique_ptr<Entry>> pods_;
  std::set<Entry*, ActiveLess> active_;
  std::set<Entry*, BackoffLess> backoff_;
  std::set<Entry*, UnschedLess> unschedulable_;
  // How many unschedulable pods care about each event bit: an event nobody waits for costs
  // nothing (confirmations of bindings are assigned-pod adds, one per pod).
  int interest_[32] = {};
  std::unordered_map<std::string, FlightState> in_flight_;
  http::HandlePtr timer_;
  int64_t timer_due_ms_ = -1;
  std::shared_ptr<bool> alive_;
};

}  // namespace minik::scheduler
