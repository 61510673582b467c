// Internals of the Deployment controller (deployment.h is the public face): the controller
// class with its informer handlers, and Sync, the state of one reconcile of one Deployment
// (upstream's syncDeployment and the functions it calls, written as asynchronous steps).
//
// Sync keeps a working copy of the Deployment and of its ReplicaSets: every object written
// during the reconcile replaces the cached one (so later writes carry the new
// resourceVersion), as upstream does where it threads the returned objects through.
//
// Threading: the controller's thread.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "api/labels.h"
#include "server/controllers/controller.h"
#include "server/controllers/deployment_util.h"

namespace minik::controllers::deployment {

class DeploymentController final : public Controller {
 public:
  explicit DeploymentController(Context ctx);
  ~DeploymentController() override;

  void Reconcile(const std::string& key, Done done) override;

  Context& context() { return ctx_; }
  client::Informer& deployments() { return d_inf_; }
  client::Informer& replicasets() { return rs_inf_; }
  client::Informer& pods() { return pod_inf_; }
  std::weak_ptr<bool> alive() const { return alive_; }
  void RequeueAfter(const std::string& key, int64_t ms) { EnqueueAfter(key, ms); }
  void RequeueRateLimited(const std::string& key) { queue().AddRateLimited(key); }

 private:
  void EnqueueDeployment(const JsonValue& d) { Enqueue(client::ObjectKey(d)); }
  // The Deployment a controller reference points at (kind and uid checked), or nullptr.
  client::ObjectPtr ResolveControllerRef(std::string_view ns, const JsonValue& ref);
  // Deployments (of the ReplicaSet's namespace) whose selector matches its labels.
  std::vector<client::ObjectPtr> DeploymentsForReplicaSet(const JsonValue& rs);
  void OnReplicaSetAdd(const client::ObjectPtr& rs);
  void OnReplicaSetUpdate(const client::ObjectPtr& old_rs, const client::ObjectPtr& cur_rs);
  void OnReplicaSetDelete(const client::ObjectPtr& rs);
  void OnPodDelete(const client::ObjectPtr& pod);

  client::Informer& d_inf_;
  client::Informer& rs_inf_;
  client::Informer& pod_inf_;
  std::shared_ptr<bool> alive_;
};

class Sync : public std::enable_shared_from_this<Sync> {
 public:
  using Next = std::function<void(Status)>;
  // (error, whether something was scaled)
  using ScaledNext = std::function<void(Status, bool)>;

  Sync(DeploymentController& c, std::string key, const JsonValue& d, Done done);
  void Run();

 private:
  // ---- deployment.cc: syncDeployment and the shared steps ----
  void Finish(Status st);
  // Records an Event about the Deployment from "deployment-controller".
  void Emit(std::string_view type, std::string_view reason, std::string_view message);
  bool Gone() const { return alive_.expired(); }
  const JsonValue& D() const { return *d_; }
  std::string Ns() const;
  std::string DName() const;
  TimePoint Now() const;
  void AfterClaim(Status st);
  void BuildPodMap();
  // ClaimReplicaSets: adopts matching orphans and releases owned ones that stopped matching.
  void Claim(size_t i, Next next);
  void CanAdopt(Next next);
  void CheckPausedConditions(Next next);
  void IsScalingEvent(std::function<void(Status, bool)> next);
  void GetAllReplicaSetsAndSyncRevision(bool create, Next next);
  void CreateNewReplicaSet(int64_t new_revision, Next next);
  void OnCreated(std::shared_ptr<JsonDoc> rs, int64_t count, int64_t new_revision, StatusOr<JsonDoc> r, Next next);
  // sync(): scaling events and paused Deployments.
  void SyncScale();
  void Scale(Next next);
  void ScaleProportionally(Next next);
  void SyncStatusOnly();
  void CleanupDeployment(std::vector<client::ObjectPtr> old_rss, Next next);
  void DeleteOld(std::shared_ptr<std::vector<client::ObjectPtr>> rss, size_t i, size_t n, Next next);
  void SyncDeploymentStatus(Next next);
  // Sets the revision annotation of the Deployment; true if it changed.
  bool SetDeploymentRevision(std::string_view revision);
  // Writes the revision annotation (metadata patch) and/or the status (status subresource).
  void WriteRevisionAndStatus(bool revision, bool status, Next next);
  void UpdateStatus(Next next);
  void UpdateReplicaSet(const JsonDoc& rs, std::function<void(StatusOr<client::ObjectPtr>)> next);
  // scaleReplicaSetAndRecordEvent / scaleReplicaSet; next(error, scaled, rs after the write).
  using ScaleDone = std::function<void(Status, bool, client::ObjectPtr)>;
  void ScaleAndRecord(const client::ObjectPtr& rs, int64_t new_scale, ScaleDone next);
  void ScaleReplicaSet(const client::ObjectPtr& rs, int64_t new_scale, std::string op, ScaleDone next);
  // Replaces the ReplicaSet with the same uid in every list.
  void Replace(const client::ObjectPtr& rs);
  std::vector<client::ObjectPtr> AllRSs() const;

  // ---- deployment_rolling.cc: rollouts and progress ----
  void RolloutRolling();
  void AfterReconcileNew(Status st, bool scaled_up);
  void ReconcileNewReplicaSet(ScaledNext next);
  void ReconcileOldReplicaSets(ScaledNext next);
  void CleanupUnhealthyReplicas(std::shared_ptr<std::vector<client::ObjectPtr>> old, size_t i, int64_t max,
                                int64_t total, std::function<void(Status, int64_t)> next);
  void ScaleDownOldForRolling(std::shared_ptr<std::vector<client::ObjectPtr>> old, size_t i, int64_t to_scale,
                              int64_t total, std::function<void(Status, int64_t)> next);
  void RolloutRecreate();
  void RecreateScaleDown(std::shared_ptr<std::vector<client::ObjectPtr>> old, size_t i, bool scaled, ScaledNext next);
  void RecreateScaleUp();
  bool OldPodsRunning() const;
  void CompleteRollout();
  void SyncRolloutStatus(Next next);
  void RequeueStuckDeployment(const JsonValue& new_status);

  DeploymentController& c_;
  Context& ctx_;
  std::weak_ptr<bool> alive_;
  std::string key_;
  std::shared_ptr<JsonDoc> d_;  // the working copy of the Deployment
  api::LabelSelector selector_;
  Done done_;
  bool finished_ = false;

  std::vector<client::ObjectPtr> candidates_;  // the namespace's ReplicaSets, to claim
  std::vector<client::ObjectPtr> rs_list_;     // the claimed ones
  Status claim_error_;
  std::optional<Status> can_adopt_;            // the fresh-Deployment check, once
  std::map<std::string, std::vector<client::ObjectPtr>> pod_map_;  // ReplicaSet uid -> pods
  client::ObjectPtr new_rs_;
  std::vector<client::ObjectPtr> old_rss_;
};

}  // namespace minik::controllers::deployment
