// The Deployment controller's rollouts (upstream's rolling.go and recreate.go) and progress
// reporting (progress.go).
#include <algorithm>

#include "server/controllers/deployment_sync.h"
#include "server/controllers/util.h"

namespace minik::controllers::deployment {

using client::ObjectPtr;

namespace {

std::string Quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

using Counted = std::function<void(Status, int64_t)>;

}  // namespace

// ---- RollingUpdate ---------------------------------------------------------------------------

// rolloutRolling: scale the new ReplicaSet up within maxSurge, then the old ones down within
// maxUnavailable; once complete, clean up the history.
void Sync::RolloutRolling() {
  auto self = shared_from_this();
  GetAllReplicaSetsAndSyncRevision(true, [this, self](Status st) {
    if (Gone()) return;
    if (!st.ok()) return Finish(st);
    if (!new_rs_) return Finish(Status::Internal("deployment " + key_ + ": no new replica set"));
    ReconcileNewReplicaSet([this, self](Status st, bool scaled_up) { AfterReconcileNew(std::move(st), scaled_up); });
  });
}

void Sync::AfterReconcileNew(Status st, bool scaled_up) {
  if (Gone()) return;
  if (!st.ok()) return Finish(st);
  auto self = shared_from_this();
  auto finish = [this, self](Status st) { Finish(std::move(st)); };
  if (scaled_up) return SyncRolloutStatus(finish);
  ReconcileOldReplicaSets([this, self, finish](Status st, bool scaled_down) {
    if (Gone()) return;
    if (!st.ok()) return Finish(st);
    if (scaled_down) return SyncRolloutStatus(finish);
    CompleteRollout();
  });
}

void Sync::CompleteRollout() {
  auto self = shared_from_this();
  auto finish = [this, self](Status st) { Finish(std::move(st)); };
  const JsonValue* st = Member(D(), "status");
  JsonDoc empty(rapidjson::kObjectType);
  if (!DeploymentComplete(D(), st ? *st : empty)) return SyncRolloutStatus(finish);
  CleanupDeployment(old_rss_, [this, self, finish](Status st) {
    if (Gone()) return;
    if (!st.ok()) return Finish(st);
    SyncRolloutStatus(finish);
  });
}

void Sync::ReconcileNewReplicaSet(ScaledNext next) {
  int64_t cur = SpecReplicas(*new_rs_);
  int64_t want = SpecReplicas(D());
  auto done = [next](Status st, bool scaled, ObjectPtr) { next(std::move(st), scaled); };
  if (cur == want) return next(Status::OK(), false);
  if (cur > want) return ScaleAndRecord(new_rs_, want, done);
  auto count = NewRSNewReplicas(D(), AllRSs(), cur);
  if (!count.ok()) return next(count.error(), false);
  ScaleAndRecord(new_rs_, *count, done);
}

// reconcileOldReplicaSets: how far the old ReplicaSets may shrink without going below
// replicas - maxUnavailable available pods (counting the new ReplicaSet's unavailable pods as
// lost); unhealthy old replicas go first, then the oldest ReplicaSets.
void Sync::ReconcileOldReplicaSets(ScaledNext next) {
  auto old = std::make_shared<std::vector<ObjectPtr>>(FilterActive(old_rss_));
  if (SumSpecReplicas(*old) == 0) return next(Status::OK(), false);
  int64_t all_pods = SumSpecReplicas(AllRSs());
  int64_t min_available = SpecReplicas(D()) - MaxUnavailable(D());
  int64_t new_unavailable = SpecReplicas(*new_rs_) - StatusInt(*new_rs_, "availableReplicas");
  int64_t max_scaled_down = all_pods - min_available - new_unavailable;
  if (max_scaled_down <= 0) return next(Status::OK(), false);
  SortByCreation(*old);
  auto self = shared_from_this();
  CleanupUnhealthyReplicas(old, 0, max_scaled_down, 0, [this, self, old, next](Status st, int64_t cleaned) {
    if (Gone()) return;
    // Upstream drops these errors: the status is synced and the next sync retries.
    if (!st.ok()) return next(Status::OK(), false);
    std::vector<ObjectPtr> all = *old;
    all.push_back(new_rs_);
    int64_t min_available = SpecReplicas(D()) - MaxUnavailable(D());
    int64_t available = SumStatus(all, "availableReplicas");
    if (available <= min_available) return next(Status::OK(), cleaned > 0);
    SortByCreation(*old);
    ScaleDownOldForRolling(old, 0, available - min_available, 0, [this, self, cleaned, next](Status st, int64_t n) {
      if (Gone()) return;
      if (!st.ok()) return next(Status::OK(), false);
      next(Status::OK(), cleaned + n > 0);
    });
  });
}

void Sync::CleanupUnhealthyReplicas(std::shared_ptr<std::vector<ObjectPtr>> old, size_t i, int64_t max,
                                    int64_t total, Counted next) {
  for (; i < old->size(); ++i) {
    if (total >= max) break;
    ObjectPtr rs = (*old)[i];
    int64_t spec = SpecReplicas(*rs);
    int64_t available = StatusInt(*rs, "availableReplicas");
    if (spec == 0 || spec == available) continue;
    int64_t count = std::min(max - total, spec - available);
    int64_t target = spec - count;
    if (target > spec) {
      return next(Status::Invalid("when cleaning up unhealthy replicas, got invalid request to scale down " +
                                  std::string(Namespace(*rs)) + "/" + std::string(Name(*rs)) + " " +
                                  std::to_string(spec) + " -> " + std::to_string(target)),
                  total);
    }
    auto self = shared_from_this();
    ScaleAndRecord(rs, target, [this, self, old, i, max, total, count, next](Status st, bool, ObjectPtr updated) {
      if (Gone()) return;
      if (!st.ok()) return next(st, total);
      (*old)[i] = updated;
      CleanupUnhealthyReplicas(old, i + 1, max, total + count, next);
    });
    return;
  }
  next(Status::OK(), total);
}

void Sync::ScaleDownOldForRolling(std::shared_ptr<std::vector<ObjectPtr>> old, size_t i, int64_t to_scale,
                                  int64_t total, Counted next) {
  for (; i < old->size(); ++i) {
    if (total >= to_scale) break;
    ObjectPtr rs = (*old)[i];
    int64_t spec = SpecReplicas(*rs);
    if (spec == 0) continue;
    int64_t count = std::min(spec, to_scale - total);
    int64_t target = spec - count;
    if (target > spec) {
      return next(Status::Invalid("when scaling down old replica set, got invalid request to scale down " +
                                  std::string(Namespace(*rs)) + "/" + std::string(Name(*rs)) + " " +
                                  std::to_string(spec) + " -> " + std::to_string(target)),
                  total);
    }
    auto self = shared_from_this();
    ScaleAndRecord(rs, target, [this, self, old, i, to_scale, total, count, next](Status st, bool, ObjectPtr) {
      if (Gone()) return;
      if (!st.ok()) return next(st, total);
      ScaleDownOldForRolling(old, i + 1, to_scale, total + count, next);
    });
    return;
  }
  next(Status::OK(), total);
}

// ---- Recreate --------------------------------------------------------------------------------

// rolloutRecreate: scale every old ReplicaSet to 0, wait until their pods are gone, then create
// (or scale up) the new ReplicaSet.
void Sync::RolloutRecreate() {
  auto self = shared_from_this();
  GetAllReplicaSetsAndSyncRevision(false, [this, self](Status st) {
    if (Gone()) return;
    if (!st.ok()) return Finish(st);
    auto old = std::make_shared<std::vector<ObjectPtr>>(FilterActive(old_rss_));
    RecreateScaleDown(old, 0, false, [this, self](Status st, bool scaled) {
      if (Gone()) return;
      if (!st.ok()) return Finish(st);
      auto finish = [this, self](Status st) { Finish(std::move(st)); };
      if (scaled) return SyncRolloutStatus(finish);
      if (OldPodsRunning()) return SyncRolloutStatus(finish);
      if (new_rs_) return RecreateScaleUp();
      GetAllReplicaSetsAndSyncRevision(true, [this, self](Status st) {
        if (Gone()) return;
        if (!st.ok()) return Finish(st);
        RecreateScaleUp();
      });
    });
  });
}

void Sync::RecreateScaleDown(std::shared_ptr<std::vector<ObjectPtr>> old, size_t i, bool scaled, ScaledNext next) {
  for (; i < old->size(); ++i) {
    if (SpecReplicas(*(*old)[i]) == 0) continue;
    auto self = shared_from_this();
    ScaleAndRecord((*old)[i], 0, [this, self, old, i, scaled, next](Status st, bool did, ObjectPtr) {
      if (Gone()) return;
      if (!st.ok()) return next(st, false);
      RecreateScaleDown(old, i + 1, scaled || did, next);
    });
    return;
  }
  next(Status::OK(), scaled);
}

void Sync::RecreateScaleUp() {
  if (!new_rs_) return Finish(Status::Internal("deployment " + key_ + ": no new replica set"));
  auto self = shared_from_this();
  ScaleAndRecord(new_rs_, SpecReplicas(D()), [this, self](Status st, bool, ObjectPtr) {
    if (Gone()) return;
    if (!st.ok()) return Finish(st);
    CompleteRollout();
  });
}

// oldPodsRunning: old ReplicaSets still report replicas, or pods of theirs are not terminal.
bool Sync::OldPodsRunning() const {
  if (SumStatus(old_rss_, "replicas") > 0) return true;
  for (const auto& [uid, pods] : pod_map_) {
    if (new_rs_ && uid == Uid(*new_rs_)) continue;
    for (const auto& p : pods) {
      std::string_view phase = PodPhase(*p);
      if (phase == "Failed" || phase == "Succeeded") continue;
      return true;
    }
  }
  return false;
}

// ---- progress --------------------------------------------------------------------------------

// syncRolloutStatus: the status with the Progressing condition (complete, progressing, or past
// its deadline) and the ReplicaFailure condition of the ReplicaSets; written when it changed,
// otherwise the Deployment is requeued for its deadline.
void Sync::SyncRolloutStatus(Next next) {
  TimePoint now = Now();
  JsonDoc st = CalculateStatus(AllRSs(), new_rs_, D(), now);
  auto& a = st.GetAllocator();
  if (!HasProgressDeadline(D())) RemoveDeploymentCondition(st, kCondProgressing);
  const JsonValue* cur = GetCondition(Member(D(), "status"), kCondProgressing);
  bool complete_before = IntOr(Member(st, "replicas"), 0) == IntOr(Member(st, "updatedReplicas"), 0) && cur &&
                         CondField(cur, "reason") == kNewRSAvailableReason;
  if (HasProgressDeadline(D()) && !complete_before) {
    std::string subject = new_rs_ ? "ReplicaSet " + Quote(Name(*new_rs_)) : "Deployment " + Quote(Name(D()));
    if (DeploymentComplete(D(), st)) {
      SetDeploymentCondition(st, NewCondition(kCondProgressing, "True", kNewRSAvailableReason,
                                              subject + " has successfully progressed.", now, a), a);
    } else if (DeploymentProgressing(D(), st)) {
      JsonValue cond =
          NewCondition(kCondProgressing, "True", kReplicaSetUpdatedReason, subject + " is progressing.", now, a);
      if (cur) {
        if (CondField(cur, "status") == "True") {
          SetString(cond, "lastTransitionTime", CondField(cur, "lastTransitionTime"), a);
        }
        RemoveDeploymentCondition(st, kCondProgressing);
      }
      SetDeploymentCondition(st, std::move(cond), a);
    } else if (DeploymentTimedOut(D(), st, now)) {
      SetDeploymentCondition(st, NewCondition(kCondProgressing, "False", kTimedOutReason,
                                              subject + " has timed out progressing.", now, a), a);
    }
  }
  // ReplicaFailure: the new ReplicaSet's first, else any ReplicaSet's.
  const JsonValue* failure = nullptr;
  auto find_failure = [&](const ObjectPtr& rs) {
    if (!rs || failure) return;
    const JsonValue* conds = Path(*rs, {"status", "conditions"});
    if (!conds || !conds->IsArray()) return;
    for (const auto& c : conds->GetArray()) {
      if (GetString(c, "type").value_or("") == kCondReplicaFailure) {
        failure = &c;
        return;
      }
    }
  };
  find_failure(new_rs_);
  for (const auto& rs : AllRSs()) find_failure(rs);
  if (failure) {
    JsonValue cond(rapidjson::kObjectType);
    std::string_view ltt = CondField(failure, "lastTransitionTime");
    SetString(cond, "type", kCondReplicaFailure, a);
    SetString(cond, "status", CondField(failure, "status"), a);
    SetString(cond, "lastUpdateTime", ltt, a);
    SetString(cond, "lastTransitionTime", ltt, a);
    SetString(cond, "reason", CondField(failure, "reason"), a);
    SetString(cond, "message", CondField(failure, "message"), a);
    SetDeploymentCondition(st, std::move(cond), a);
  } else {
    RemoveDeploymentCondition(st, kCondReplicaFailure);
  }

  if (StatusEqual(Member(D(), "status"), &st)) {
    RequeueStuckDeployment(st);
    return next(Status::OK());
  }
  SetMember(*d_, "status", Clone(st, d_->GetAllocator()), d_->GetAllocator());
  UpdateStatus(std::move(next));
}

// requeueStuckDeployment: without progress, check again when the deadline passes.
void Sync::RequeueStuckDeployment(const JsonValue& new_status) {
  const JsonValue* cur = GetCondition(Member(D(), "status"), kCondProgressing);
  if (!HasProgressDeadline(D()) || !cur) return;
  if (DeploymentComplete(D(), new_status) || CondField(cur, "reason") == kTimedOutReason) return;
  TimePoint last{};
  if (!ParseRFC3339(CondField(cur, "lastUpdateTime"), &last)) return;
  auto after = std::chrono::duration_cast<std::chrono::milliseconds>(
                   last + std::chrono::seconds(ProgressDeadlineSeconds(D())) - Now())
                   .count();
  if (after < 1000) {
    c_.RequeueRateLimited(key_);
    return;
  }
  c_.RequeueAfter(key_, after + 1000);
}

}  // namespace minik::controllers::deployment
