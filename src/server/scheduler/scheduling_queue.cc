#include "server/scheduler/scheduling_queue.h"

#include <algorithm>
#include <tuple>

namespace minik::scheduler {

uint32_t EventsForPlugin(std::string_view plugin) {
  // Upstream's EventsToRegister of each default filter plugin (v1.32).
  if (plugin == "NodeUnschedulable") return kEventNodeAdd | kEventNodeTaint;
  if (plugin == "NodeName") return kEventNodeAdd;
  if (plugin == "TaintToleration") return kEventNodeAdd | kEventNodeTaint;
  if (plugin == "NodeAffinity") return kEventNodeAdd | kEventNodeLabel;
  if (plugin == "NodePorts") return kEventNodeAdd | kEventAssignedPodDelete;
  if (plugin == "NodeResourcesFit")
    return kEventNodeAdd | kEventNodeAllocatable | kEventNodeTaint | kEventNodeLabel | kEventAssignedPodDelete;
  if (plugin == "PodTopologySpread")
    return kEventNodeAdd | kEventNodeDelete | kEventNodeLabel | kEventNodeTaint | kEventAssignedPodAdd |
           kEventAssignedPodLabel | kEventAssignedPodDelete;
  if (plugin == "InterPodAffinity")
    return kEventNodeAdd | kEventNodeLabel | kEventAssignedPodAdd | kEventAssignedPodLabel | kEventAssignedPodDelete;
  if (plugin == "VolumeBinding") return kEventNodeAdd | kEventNodeLabel | kEventVolume;
  return kEventAll;
}

uint32_t EventsForFailure(const ScheduleResult& r) {
  uint32_t ev = 0;
  bool any = false;
  for (const auto& [name, st] : r.statuses) {
    if (st.plugin.empty()) continue;
    ev |= EventsForPlugin(st.plugin);
    any = true;
  }
  if (r.absent_status && !r.absent_status->plugin.empty()) {
    ev |= EventsForPlugin(r.absent_status->plugin);
    any = true;
  }
  if (!r.prefilter_message.empty() && !r.absent_status) {
    ev |= EventsForPlugin("NodeAffinity");  // the library's only PreFilter rejection
    any = true;
  }
  return any ? ev : kEventAll;
}

bool SchedulingQueue::ActiveLess::operator()(const Entry* a, const Entry* b) const {
  // Higher priority first, then earlier enqueue time, then arrival order.
  int32_t pa = a->pod->info->priority, pb = b->pod->info->priority;
  if (pa != pb) return pa > pb;
  return std::tie(a->pod->timestamp_ms, a->pod->seq) < std::tie(b->pod->timestamp_ms, b->pod->seq);
}

bool SchedulingQueue::BackoffLess::operator()(const Entry* a, const Entry* b) const {
  return std::tie(a->backoff_expiry_ms, a->pod->seq) < std::tie(b->backoff_expiry_ms, b->pod->seq);
}

bool SchedulingQueue::UnschedLess::operator()(const Entry* a, const Entry* b) const {
  return std::tie(a->pod->timestamp_ms, a->pod->seq) < std::tie(b->pod->timestamp_ms, b->pod->seq);
}

SchedulingQueue::SchedulingQueue(client::Timers& timers, QueueOptions options)
    : timers_(timers), options_(options), alive_(std::make_shared<bool>(true)) {}

SchedulingQueue::~SchedulingQueue() { *alive_ = false; }

int64_t SchedulingQueue::Now() const { return timers_.clock().MonotonicMillis(); }

int64_t SchedulingQueue::BackoffMs(int attempts) const {
  int64_t d = options_.initial_backoff_ms;
  for (int i = 1; i < attempts; ++i) {
    d *= 2;
    if (d >= options_.max_backoff_ms) return options_.max_backoff_ms;
  }
  return std::min(d, options_.max_backoff_ms);
}

std::string SchedulingQueue::Where(const std::string& key) const {
  if (in_flight_.count(key)) return "in-flight";
  auto it = pods_.find(key);
  if (it == pods_.end()) return "";
  switch (it->second->where) {
    case Slot::kActive: return "active";
    case Slot::kBackoff: return "backoff";
    case Slot::kUnschedulable: return "unschedulable";
  }
  return "";
}

void SchedulingQueue::CountInterest(const Entry* e, int delta) {
  for (int b = 0; b < 32; ++b) {
    if (e->pod->events & (1u << b)) interest_[b] += delta;
  }
}

void SchedulingQueue::Unlink(Entry* e) {
  switch (e->where) {
    case Slot::kActive: active_.erase(e); break;
    case Slot::kBackoff: backoff_.erase(e); break;
    case Slot::kUnschedulable:
      if (unschedulable_.erase(e)) CountInterest(e, -1);
      break;
  }
}

void SchedulingQueue::PushActive(Entry* e) {
  e->where = Slot::kActive;
  bool was_empty = active_.empty();
  active_.insert(e);
  if (was_empty && on_active_) on_active_();
}

void SchedulingQueue::PushBackoff(Entry* e) {
  e->where = Slot::kBackoff;
  e->backoff_expiry_ms = e->pod->timestamp_ms + BackoffMs(e->pod->attempts);
  backoff_.insert(e);
  ArmTimer();
}

void SchedulingQueue::PushUnschedulable(Entry* e) {
  e->where = Slot::kUnschedulable;
  if (unschedulable_.insert(e).second) CountInterest(e, 1);
  ArmTimer();
}

void SchedulingQueue::Activate(Entry* e) {
  Unlink(e);
  int64_t expiry = e->pod->timestamp_ms + BackoffMs(e->pod->attempts);
  if (e->pod->attempts > 0 && expiry > Now()) {
    PushBackoff(e);
  } else {
    PushActive(e);
  }
}

void SchedulingQueue::Add(PodInfoPtr info, client::ObjectPtr obj) {
  if (pods_.count(info->namespace_ + "/" + info->name) || in_flight_.count(info->namespace_ + "/" + info->name)) {
    Update(std::move(info), std::move(obj), true);
    return;
  }
  auto e = std::make_unique<Entry>();
  e->pod = std::make_unique<QueuedPod>();
  e->pod->key = info->namespace_ + "/" + info->name;
  e->pod->info = std::move(info);
  e->pod->obj = std::move(obj);
  e->pod->timestamp_ms = Now();
  e->pod->seq = ++seq_;
  Entry* raw = e.get();
  pods_.emplace(raw->pod->key, std::move(e));
  PushActive(raw);
}

void SchedulingQueue::Update(PodInfoPtr info, client::ObjectPtr obj, bool relevant) {
  std::string key = info->namespace_ + "/" + info->name;
  if (auto fit = in_flight_.find(key); fit != in_flight_.end()) {
    fit->second.info = std::move(info);
    fit->second.obj = std::move(obj);
    fit->second.relevant_update |= relevant;
    return;
  }
  auto it = pods_.find(key);
  if (it == pods_.end()) {
    Add(std::move(info), std::move(obj));
    return;
  }
  Entry* e = it->second.get();
  // Re-insert: the priority (the activeQ order) may have changed.
  Unlink(e);
  e->pod->info = std::move(info);
  e->pod->obj = std::move(obj);
  switch (e->where) {
    case Slot::kActive: active_.insert(e); break;
    case Slot::kBackoff: backoff_.insert(e); break;
    case Slot::kUnschedulable:
      if (unschedulable_.insert(e).second) CountInterest(e, 1);
      if (relevant) Activate(e);
      break;
  }
}

void SchedulingQueue::Delete(const std::string& key) {
  if (auto fit = in_flight_.find(key); fit != in_flight_.end()) fit->second.deleted = true;
  auto it = pods_.find(key);
  if (it == pods_.end()) return;
  Unlink(it->second.get());
  pods_.erase(it);
}

QueuedPodPtr SchedulingQueue::Pop() {
  if (active_.empty()) return nullptr;
  Entry* e = *active_.begin();
  active_.erase(active_.begin());
  auto it = pods_.find(e->pod->key);
  QueuedPodPtr pod = std::move(e->pod);
  pods_.erase(it);
  ++pod->attempts;
  if (pod->initial_attempt_ms < 0) pod->initial_attempt_ms = Now();
  in_flight_[pod->key] = FlightState{};
  return pod;
}

void SchedulingQueue::Done(const std::string& key) { in_flight_.erase(key); }

void SchedulingQueue::Requeue(QueuedPodPtr pod, bool unschedulable, uint32_t events) {
  auto fit = in_flight_.find(pod->key);
  bool moved = false;
  if (fit != in_flight_.end()) {
    FlightState f = std::move(fit->second);
    in_flight_.erase(fit);
    if (f.deleted) return;
    if (f.info) {
      pod->info = std::move(f.info);
      pod->obj = std::move(f.obj);
    }
    moved = f.relevant_update || (f.events & events) != 0;
  }
  if (pods_.count(pod->key)) return;  // re-added meanwhile (a new pod with the same name)
  pod->timestamp_ms = Now();
  pod->events = events;
  auto e = std::make_unique<Entry>();
  e->pod = std::move(pod);
  Entry* raw = e.get();
  pods_.emplace(raw->pod->key, std::move(e));
  if (unschedulable && !moved) {
    PushUnschedulable(raw);
  } else {
    PushBackoff(raw);
  }
}

void SchedulingQueue::MoveAllToActiveOrBackoff(uint32_t event) {
  for (auto& [key, f] : in_flight_) f.events |= event;
  bool interested = false;
  for (int b = 0; b < 32 && !interested; ++b) interested = (event & (1u << b)) && interest_[b] > 0;
  if (!interested) return;
  std::vector<Entry*> move;
  for (Entry* e : unschedulable_) {
    if (e->pod->events & event) move.push_back(e);
  }
  for (Entry* e : move) Activate(e);
}

void SchedulingQueue::Flush() {
  int64_t now = Now();
  std::vector<Entry*> ready;
  for (Entry* e : backoff_) {
    if (e->backoff_expiry_ms > now) break;
    ready.push_back(e);
  }
  for (Entry* e : ready) {
    backoff_.erase(e);
    PushActive(e);
  }
  std::vector<Entry*> leftover;
  for (Entry* e : unschedulable_) {
    if (e->pod->timestamp_ms + options_.max_unschedulable_ms > now) break;
    leftover.push_back(e);
  }
  for (Entry* e : leftover) Activate(e);
  ArmTimer();
}

void SchedulingQueue::ArmTimer() {
  int64_t due = -1;
  if (!backoff_.empty()) due = (*backoff_.begin())->backoff_expiry_ms;
  if (!unschedulable_.empty()) {
    int64_t u = (*unschedulable_.begin())->pod->timestamp_ms + options_.max_unschedulable_ms;
    if (due < 0 || u < due) due = u;
  }
  if (due < 0) {
    timer_.reset();
    timer_due_ms_ = -1;
    return;
  }
  if (timer_ && timer_due_ms_ == due) return;
  int64_t now = Now();
  timer_due_ms_ = due;
  std::weak_ptr<bool> alive = alive_;
  timer_ = timers_.After(static_cast<uint64_t>(std::max<int64_t>(0, due - now)), [this, alive] {
    if (alive.expired()) return;
    timer_.reset();
    timer_due_ms_ = -1;
    Flush();
  });
}

}  // namespace minik::scheduler
