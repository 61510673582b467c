// The Deployment controller: handlers, syncDeployment, adoption, the new ReplicaSet, scaling,
// cleanup and status. Rollouts and progress are in deployment_rolling.cc.
#include "server/controllers/deployment.h"

#include <algorithm>

#include "common/log.h"
#include "server/controllers/deployment_sync.h"
#include "server/controllers/util.h"

namespace minik::controllers {

ControllerPtr NewDeploymentController(Context ctx) {
  return std::make_unique<deployment::DeploymentController>(ctx);
}

namespace deployment {

using client::ObjectPtr;

namespace {

constexpr char kControllerName[] = "deployment";
constexpr char kEventComponent[] = "deployment-controller";

ObjectPtr Share(JsonDoc doc) { return std::make_shared<const JsonDoc>(std::move(doc)); }

std::shared_ptr<JsonDoc> Copy(const JsonValue& v) {
  auto d = std::make_shared<JsonDoc>();
  d->CopyFrom(v, d->GetAllocator());
  return d;
}

std::string Quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

// Copies metadata.resourceVersion of `from` into `to`.
void TakeResourceVersion(JsonDoc& to, const JsonValue& from) {
  auto& a = to.GetAllocator();
  SetString(EnsureObject(to, "metadata", a), "resourceVersion", client::MetaString(from, "resourceVersion"), a);
}

bool SameControllerRef(const JsonValue* a, const JsonValue* b) {
  if (!a || !b) return a == b;
  return GetString(*a, "uid") == GetString(*b, "uid");
}

}  // namespace

// ---- the controller --------------------------------------------------------------------------

DeploymentController::DeploymentController(Context ctx)
    : Controller(ctx, kControllerName),
      d_inf_(ctx.informers.For(kDeployments)),
      rs_inf_(ctx.informers.For(kReplicaSets)),
      pod_inf_(ctx.informers.For(kPods)),
      alive_(std::make_shared<bool>(true)) {
  client::EventHandlers dh;
  dh.on_add = [this](const ObjectPtr& d) { EnqueueObject(d); };
  dh.on_update = [this](const ObjectPtr&, const ObjectPtr& d) { EnqueueObject(d); };
  dh.on_delete = [this](const ObjectPtr& d, bool) { EnqueueObject(d); };
  d_inf_.AddEventHandler(std::move(dh));

  client::EventHandlers rh;
  rh.on_add = [this](const ObjectPtr& rs) { OnReplicaSetAdd(rs); };
  rh.on_update = [this](const ObjectPtr& o, const ObjectPtr& n) { OnReplicaSetUpdate(o, n); };
  rh.on_delete = [this](const ObjectPtr& rs, bool) { OnReplicaSetDelete(rs); };
  rs_inf_.AddEventHandler(std::move(rh));

  client::EventHandlers ph;
  ph.on_delete = [this](const ObjectPtr& pod, bool) { OnPodDelete(pod); };
  pod_inf_.AddEventHandler(std::move(ph));
}

DeploymentController::~DeploymentController() { *alive_ = false; }

ObjectPtr DeploymentController::ResolveControllerRef(std::string_view ns, const JsonValue& ref) {
  if (GetString(ref, "kind").value_or("") != "Deployment") return nullptr;
  ObjectPtr d = d_inf_.Get(std::string(ns), std::string(GetString(ref, "name").value_or("")));
  if (!d || Uid(*d) != GetString(ref, "uid").value_or("")) return nullptr;
  return d;
}

std::vector<ObjectPtr> DeploymentController::DeploymentsForReplicaSet(const JsonValue& rs) {
  std::vector<ObjectPtr> out;
  const JsonValue* labels = Labels(rs);
  if (!labels) return out;
  for (const auto& d : d_inf_.ByIndex(client::kNamespaceIndex, std::string(Namespace(rs)))) {
    auto sel = api::LabelSelector::FromLabelSelectorJson(Path(*d, {"spec", "selector"}));
    if (!sel.ok() || sel->Empty()) continue;
    if (sel->Matches(labels)) out.push_back(d);
  }
  return out;
}

void DeploymentController::OnReplicaSetAdd(const ObjectPtr& rs) {
  if (IsBeingDeleted(*rs)) {
    OnReplicaSetDelete(rs);
    return;
  }
  if (const JsonValue* ref = ControllerRef(*rs)) {
    if (ObjectPtr d = ResolveControllerRef(Namespace(*rs), *ref)) EnqueueDeployment(*d);
    return;
  }
  for (const auto& d : DeploymentsForReplicaSet(*rs)) EnqueueDeployment(*d);
}

void DeploymentController::OnReplicaSetUpdate(const ObjectPtr& old_rs, const ObjectPtr& cur_rs) {
  if (client::MetaString(*old_rs, "resourceVersion") == client::MetaString(*cur_rs, "resourceVersion")) return;
  const JsonValue* cur_ref = ControllerRef(*cur_rs);
  const JsonValue* old_ref = ControllerRef(*old_rs);
  bool ref_changed = !SameControllerRef(cur_ref, old_ref);
  if (ref_changed && old_ref) {
    if (ObjectPtr d = ResolveControllerRef(Namespace(*old_rs), *old_ref)) EnqueueDeployment(*d);
  }
  if (cur_ref) {
    if (ObjectPtr d = ResolveControllerRef(Namespace(*cur_rs), *cur_ref)) EnqueueDeployment(*d);
    return;
  }
  const JsonValue* ol = Labels(*old_rs);
  const JsonValue* cl = Labels(*cur_rs);
  bool labels_changed = JsonChanged(ol, cl);
  if (labels_changed || ref_changed) {
    for (const auto& d : DeploymentsForReplicaSet(*cur_rs)) EnqueueDeployment(*d);
  }
}

void DeploymentController::OnReplicaSetDelete(const ObjectPtr& rs) {
  if (const JsonValue* ref = ControllerRef(*rs)) {
    if (ObjectPtr d = ResolveControllerRef(Namespace(*rs), *ref)) EnqueueDeployment(*d);
  }
}

// A Recreate Deployment waits for its old pods to be gone: wake it when its last pod goes.
void DeploymentController::OnPodDelete(const ObjectPtr& pod) {
  const JsonValue* ref = ControllerRef(*pod);
  if (!ref || GetString(*ref, "kind").value_or("") != "ReplicaSet") return;
  std::string ns(Namespace(*pod));
  ObjectPtr rs = rs_inf_.Get(ns, std::string(GetString(*ref, "name").value_or("")));
  if (!rs) return;
  const JsonValue* rs_ref = ControllerRef(*rs);
  if (!rs_ref) return;
  ObjectPtr d = ResolveControllerRef(ns, *rs_ref);
  if (!d || !IsRecreate(*d)) return;
  auto sel = api::LabelSelector::FromLabelSelectorJson(Path(*d, {"spec", "selector"}));
  if (!sel.ok()) return;
  for (const auto& r : rs_inf_.ByIndex(client::kOwnerIndex, std::string(Uid(*d)))) {
    if (Namespace(*r) != ns || !sel->Matches(Labels(*r))) continue;
    for (const auto& p : pod_inf_.ByIndex(client::kOwnerIndex, std::string(Uid(*r)))) {
      if (Namespace(*p) == ns && sel->Matches(Labels(*p))) return;
    }
  }
  EnqueueDeployment(*d);
}

void DeploymentController::Reconcile(const std::string& key, Done done) {
  ObjectPtr d = d_inf_.Get(key);
  if (!d) {
    done(Status::OK());
    return;
  }
  std::make_shared<Sync>(*this, key, *d, std::move(done))->Run();
}

// ---- Sync: syncDeployment ----------------------------------------------------------------------

Sync::Sync(DeploymentController& c, std::string key, const JsonValue& d, Done done)
    : c_(c), ctx_(c.context()), alive_(c.alive()), key_(std::move(key)), d_(Copy(d)), done_(std::move(done)) {
  auto& a = d_->GetAllocator();
  if (!Member(*d_, "apiVersion")) SetString(*d_, "apiVersion", "apps/v1", a);
  if (!Member(*d_, "kind")) SetString(*d_, "kind", "Deployment", a);
}

std::string Sync::Ns() const { return std::string(Namespace(D())); }
std::string Sync::DName() const { return std::string(Name(D())); }
TimePoint Sync::Now() const { return ctx_.timers.clock().Now(); }

void Sync::Emit(std::string_view type, std::string_view reason, std::string_view message) {
  ctx_.events.EventFrom(kEventComponent, D(), type, reason, message);
}

void Sync::Finish(Status st) {
  if (finished_ || Gone()) return;
  finished_ = true;
  Done done = std::move(done_);
  done(std::move(st));
}

void Sync::Run() {
  auto self = shared_from_this();
  const JsonValue* sel_json = Path(D(), {"spec", "selector"});
  if (sel_json && sel_json->IsObject()) {
    JsonDoc empty(rapidjson::kObjectType);
    if (EqualIgnoreHash(sel_json, &empty)) {
      Emit(kEventTypeWarning, "SelectingAll",
                        "This deployment is selecting all pods. A non-empty selector is required.");
      if (StatusInt(D(), "observedGeneration") < Generation(D())) {
        auto& a = d_->GetAllocator();
        SetMember(EnsureObject(*d_, "status", a), "observedGeneration", JsonValue(Generation(D())), a);
        UpdateStatus([this, self](Status) { Finish(Status::OK()); });
        return;
      }
      Finish(Status::OK());
      return;
    }
  }
  auto sel = api::LabelSelector::FromLabelSelectorJson(sel_json);
  if (!sel.ok()) {
    Finish(Status::Invalid("deployment " + key_ + " has invalid label selector: " + sel.error().message()));
    return;
  }
  selector_ = *sel;
  candidates_ = c_.replicasets().ByIndex(client::kNamespaceIndex, Ns());
  Claim(0, [this, self](Status st) { AfterClaim(std::move(st)); });
}

void Sync::AfterClaim(Status st) {
  if (!st.ok()) return Finish(st);
  auto self = shared_from_this();
  // Only Recreate reads the pods (getPodMapForDeployment); skip the work otherwise.
  if (IsRecreate(D())) BuildPodMap();
  if (IsBeingDeleted(D())) return SyncStatusOnly();
  CheckPausedConditions([this, self](Status st) {
    if (!st.ok()) return Finish(st);
    if (IsPaused(D())) return SyncScale();
    IsScalingEvent([this, self](Status st, bool scaling) {
      if (!st.ok()) return Finish(st);
      if (scaling) return SyncScale();
      if (IsRecreate(D())) return RolloutRecreate();
      if (IsRollingUpdate(D())) return RolloutRolling();
      Finish(Status::Invalid("unexpected deployment strategy type: " +
                             std::string(GetString(*Path(D(), {"spec", "strategy"}), "type").value_or(""))));
    });
  });
}

void Sync::BuildPodMap() {
  pod_map_.clear();
  for (const auto& rs : rs_list_) {
    auto& pods = pod_map_[std::string(Uid(*rs))];
    for (const auto& p : c_.pods().ByIndex(client::kOwnerIndex, std::string(Uid(*rs)))) {
      if (Namespace(*p) == Namespace(D()) && selector_.Matches(Labels(*p))) pods.push_back(p);
    }
  }
}

// ClaimReplicaSets (upstream's ReplicaSetControllerRefManager): owned and matching ReplicaSets
// are kept, owned ones that stopped matching are released, matching orphans adopted.
void Sync::Claim(size_t i, Next next) {
  auto self = shared_from_this();
  auto cont = [this, self, i, next](Status st) {
    if (Gone()) return;
    if (!st.ok() && claim_error_.ok()) claim_error_ = st;
    Claim(i + 1, next);
  };
  for (; i < candidates_.size(); ++i) {
    ObjectPtr rs = candidates_[i];
    const JsonValue* ref = ControllerRef(*rs);
    bool match = selector_.Matches(Labels(*rs));
    std::string rs_ns(Namespace(*rs)), rs_name(Name(*rs)), rs_uid(Uid(*rs));
    if (ref) {
      if (GetString(*ref, "uid").value_or("") != Uid(D())) continue;  // someone else's
      if (match) {
        rs_list_.push_back(rs);
        continue;
      }
      if (IsBeingDeleted(D())) continue;
      std::string patch = R"({"metadata":{"ownerReferences":[{"$patch":"delete","uid":")" + std::string(Uid(D())) +
                          R"("}],"uid":")" + rs_uid + R"("}})";
      ctx_.client.Patch(kReplicaSets, rs_ns, rs_name, client::PatchType::kStrategicMerge, std::move(patch), "",
                        [cont](StatusOr<JsonDoc> r) {
                          cont(r.ok() || r.error().IsNotFound() ? Status::OK() : r.error());
                        });
      return;
    }
    if (IsBeingDeleted(D()) || !match || IsBeingDeleted(*rs)) continue;
    CanAdopt([this, self, cont, rs_ns, rs_name, rs_uid](Status st) {
      if (Gone()) return;
      if (!st.ok()) {
        cont(Status(st.code(), "can't adopt ReplicaSet " + rs_ns + "/" + rs_name + " (" + rs_uid + "): " + st.message()));
        return;
      }
      JsonDoc patch(rapidjson::kObjectType);
      auto& a = patch.GetAllocator();
      JsonValue refs(rapidjson::kArrayType);
      refs.PushBack(MakeControllerRef(D(), "apps/v1", "Deployment", a), a);
      JsonValue md(rapidjson::kObjectType);
      md.AddMember("ownerReferences", refs, a);
      SetString(md, "uid", rs_uid, a);
      patch.AddMember("metadata", md, a);
      ctx_.client.Patch(kReplicaSets, rs_ns, rs_name, client::PatchType::kStrategicMerge, ToJson(patch), "",
                        [this, self, cont](StatusOr<JsonDoc> r) {
                          if (Gone()) return;
                          if (r.ok()) {
                            rs_list_.push_back(Share(std::move(*r)));
                            cont(Status::OK());
                          } else {
                            cont(r.error().IsNotFound() ? Status::OK() : r.error());
                          }
                        });
    });
    return;
  }
  next(claim_error_);
}

// RecheckDeletionTimestamp: adoption needs a fresh, undeleted Deployment with the same uid.
void Sync::CanAdopt(Next next) {
  if (can_adopt_) {
    next(*can_adopt_);
    return;
  }
  auto self = shared_from_this();
  ctx_.client.Get(kDeployments, Ns(), DName(), [this, self, next](StatusOr<JsonDoc> r) {
    if (Gone()) return;
    Status st;
    if (!r.ok()) {
      st = Status(r.error().code(), "can't recheck DeletionTimestamp: " + r.error().message());
    } else if (Uid(*r) != Uid(D())) {
      st = Status::Conflict("can't recheck DeletionTimestamp: original Deployment " + key_ + " is gone: got uid " +
                            std::string(Uid(*r)) + ", wanted " + std::string(Uid(D())));
    } else if (IsBeingDeleted(*r)) {
      st = Status::Conflict(key_ + " has just been deleted at " +
                            std::string(client::MetaString(*r, "deletionTimestamp")));
    }
    can_adopt_ = st;
    next(st);
  });
}

// checkPausedConditions: a Progressing condition marks pause and resume, so that a paused
// Deployment is not reported as stuck.
void Sync::CheckPausedConditions(Next next) {
  if (!HasProgressDeadline(D())) return next(Status::OK());
  const JsonValue* cond = GetCondition(Member(D(), "status"), kCondProgressing);
  if (cond && CondField(cond, "reason") == kTimedOutReason) return next(Status::OK());
  bool paused_cond = cond && CondField(cond, "reason") == kPausedDeployReason;
  auto& a = d_->GetAllocator();
  if (IsPaused(D()) && !paused_cond) {
    SetDeploymentCondition(EnsureObject(*d_, "status", a),
                           NewCondition(kCondProgressing, "Unknown", kPausedDeployReason, "Deployment is paused", Now(), a),
                           a);
  } else if (!IsPaused(D()) && paused_cond) {
    SetDeploymentCondition(
        EnsureObject(*d_, "status", a),
        NewCondition(kCondProgressing, "Unknown", kResumedDeployReason, "Deployment is resumed", Now(), a), a);
  } else {
    return next(Status::OK());
  }
  UpdateStatus(std::move(next));
}

void Sync::IsScalingEvent(std::function<void(Status, bool)> next) {
  auto self = shared_from_this();
  GetAllReplicaSetsAndSyncRevision(false, [this, self, next](Status st) {
    if (Gone()) return;
    if (!st.ok()) return next(st, false);
    for (const auto& rs : FilterActive(AllRSs())) {
      auto desired = IntAnnotation(*rs, kDesiredReplicasAnnotation);
      if (!desired) continue;
      if (*desired != SpecReplicas(D())) return next(Status::OK(), true);
    }
    next(Status::OK(), false);
  });
}

std::vector<ObjectPtr> Sync::AllRSs() const {
  std::vector<ObjectPtr> all = old_rss_;
  if (new_rs_) all.push_back(new_rs_);
  return all;
}

void Sync::Replace(const ObjectPtr& rs) {
  auto swap = [&](ObjectPtr& x) {
    if (x && Uid(*x) == Uid(*rs)) x = rs;
  };
  for (auto& x : rs_list_) swap(x);
  for (auto& x : old_rss_) swap(x);
  swap(new_rs_);
}

bool Sync::SetDeploymentRevision(std::string_view revision) { return SetAnnotation(*d_, kRevisionAnnotation, revision); }

// getAllReplicaSetsAndSyncRevision + getNewReplicaSet: the old ReplicaSets, and the new one
// (the oldest whose template matches), its annotations and the Deployment's revision synced;
// created when `create` and there is none.
void Sync::GetAllReplicaSetsAndSyncRevision(bool create, Next next) {
  old_rss_ = FindOldReplicaSets(D(), rs_list_);
  ObjectPtr existing = FindNewReplicaSet(D(), rs_list_);
  int64_t new_revision = MaxRevision(old_rss_) + 1;
  auto self = shared_from_this();
  if (existing) {
    auto rs = Copy(*existing);
    bool annotations = SetNewReplicaSetAnnotations(D(), *rs, new_revision, true);
    bool min_ready = MinReadySeconds(*rs) != MinReadySeconds(D());
    if (annotations || min_ready) {
      auto& a = rs->GetAllocator();
      JsonValue& spec = EnsureObject(*rs, "spec", a);
      if (MinReadySeconds(D()) != 0) SetMember(spec, "minReadySeconds", JsonValue(MinReadySeconds(D())), a);
      else RemoveMember(spec, "minReadySeconds");
      new_rs_ = existing;
      UpdateReplicaSet(*rs, [next](StatusOr<ObjectPtr> r) { next(r.ok() ? Status::OK() : r.error()); });
      return;
    }
    new_rs_ = existing;
    bool revision = SetDeploymentRevision(Annotation(*existing, kRevisionAnnotation).value_or(""));
    bool status = false;
    if (HasProgressDeadline(D()) && !GetCondition(Member(D(), "status"), kCondProgressing)) {
      auto& a = d_->GetAllocator();
      SetDeploymentCondition(EnsureObject(*d_, "status", a),
                             NewCondition(kCondProgressing, "True", kFoundNewRSReason,
                                          "Found new replica set " + Quote(Name(*existing)), Now(), a),
                             a);
      status = true;
    }
    WriteRevisionAndStatus(revision, status, std::move(next));
    return;
  }
  new_rs_ = nullptr;
  if (!create) return next(Status::OK());
  CreateNewReplicaSet(new_revision, std::move(next));
}

void Sync::CreateNewReplicaSet(int64_t new_revision, Next next) {
  auto rs = std::make_shared<JsonDoc>(rapidjson::kObjectType);
  auto& a = rs->GetAllocator();
  const JsonValue* dt = Path(D(), {"spec", "template"});
  JsonValue tmpl(rapidjson::kObjectType);
  if (dt) tmpl.CopyFrom(*dt, a);
  std::string hash = ComputeHash(tmpl, CollisionCount(D()));
  JsonValue& tmd = EnsureObject(tmpl, "metadata", a);
  SetString(EnsureObject(tmd, "labels", a), kPodTemplateHashLabel, hash, a);
  JsonValue selector(rapidjson::kObjectType);
  if (const JsonValue* s = Path(D(), {"spec", "selector"})) selector.CopyFrom(*s, a);
  SetString(EnsureObject(selector, "matchLabels", a), kPodTemplateHashLabel, hash, a);

  std::string name = DName() + "-" + hash;
  SetString(*rs, "apiVersion", "apps/v1", a);
  SetString(*rs, "kind", "ReplicaSet", a);
  JsonValue md(rapidjson::kObjectType);
  SetString(md, "name", name, a);
  SetString(md, "namespace", Ns(), a);
  md.AddMember("labels", Clone(*Member(tmd, "labels"), a), a);
  JsonValue refs(rapidjson::kArrayType);
  refs.PushBack(MakeControllerRef(D(), "apps/v1", "Deployment", a), a);
  md.AddMember("ownerReferences", refs, a);
  rs->AddMember("metadata", md, a);
  JsonValue spec(rapidjson::kObjectType);
  spec.AddMember("replicas", JsonValue(int64_t{0}), a);
  if (MinReadySeconds(D()) != 0) spec.AddMember("minReadySeconds", JsonValue(MinReadySeconds(D())), a);
  spec.AddMember("selector", selector, a);
  spec.AddMember("template", tmpl, a);
  rs->AddMember("spec", spec, a);

  // The new ReplicaSet, of size 0 yet, adds nothing to the count of the old ones.
  auto count = NewRSNewReplicas(D(), old_rss_, 0);
  if (!count.ok()) return next(count.error());
  SetMember((*rs)["spec"], "replicas", JsonValue(*count), a);
  SetNewReplicaSetAnnotations(D(), *rs, new_revision, false);
  // metadata: name, namespace, labels, annotations, ownerReferences (upstream's order).
  {
    JsonValue& m = (*rs)["metadata"];
    JsonValue an(rapidjson::kObjectType);
    if (JsonValue* x = MutableMember(m, "annotations")) an = std::move(*x);
    RemoveMember(m, "annotations");
    JsonValue owners = std::move(m["ownerReferences"]);
    RemoveMember(m, "ownerReferences");
    m.AddMember("annotations", an, a);
    m.AddMember("ownerReferences", owners, a);
  }
  auto self = shared_from_this();
  int64_t n = *count;
  ctx_.client.Create(kReplicaSets, Ns(), *rs, [this, self, rs, n, new_revision, next](StatusOr<JsonDoc> r) {
    if (Gone()) return;
    OnCreated(rs, n, new_revision, std::move(r), next);
  });
}

void Sync::OnCreated(std::shared_ptr<JsonDoc> rs, int64_t count, int64_t new_revision, StatusOr<JsonDoc> r,
                     Next next) {
  std::string name(Name(*rs));
  auto self = shared_from_this();
  bool already_exists = false;
  ObjectPtr created;
  if (r.ok()) {
    created = Share(std::move(*r));
  } else if (r.error().IsAlreadyExists()) {
    already_exists = true;
    ObjectPtr existing = c_.replicasets().Get(Ns(), name);
    if (!existing) return next(Status::NotFound("replicaset.apps \"" + name + "\" not found"));
    if (IsControlledBy(*existing, Uid(D())) &&
        EqualIgnoreHash(Path(D(), {"spec", "template"}), Path(*existing, {"spec", "template"}))) {
      created = existing;
    } else {
      // A hash collision: bump collisionCount so that the next sync computes another name.
      auto& a = d_->GetAllocator();
      int64_t cc = CollisionCount(D()).value_or(0) + 1;
      SetMember(EnsureObject(*d_, "status", a), "collisionCount", JsonValue(cc), a);
      Status err = r.error();
      UpdateStatus([next, err](Status st) {
        if (st.ok()) MINIK_LOG(Info) << "deployment: found a hash collision, bumped collisionCount";
        next(err);
      });
      return;
    }
  } else {
    Status err = r.error();
    if (const StatusDetails* det = err.details()) {
      for (const auto& c : det->causes) {
        if (c.reason == "NamespaceTerminating") return next(err);
      }
    }
    std::string msg = "Failed to create new replica set " + Quote(name) + ": " + err.message();
    auto report = [this, self, msg, err, next]() {
      Emit(kEventTypeWarning, kFailedRSCreateReason, msg);
      next(err);
    };
    if (HasProgressDeadline(D())) {
      auto& a = d_->GetAllocator();
      SetDeploymentCondition(EnsureObject(*d_, "status", a),
                             NewCondition(kCondProgressing, "False", kFailedRSCreateReason, msg, Now(), a), a);
      UpdateStatus([report](Status) { report(); });
      return;
    }
    report();
    return;
  }
  if (!already_exists && count > 0) {
    Emit(kEventTypeNormal, "ScalingReplicaSet",
                      "Scaled up replica set " + name + " from 0 to " + std::to_string(count));
  }
  bool known = false;
  for (const auto& x : rs_list_) known = known || Uid(*x) == Uid(*created);
  if (!known) rs_list_.push_back(created);
  new_rs_ = created;
  bool revision = SetDeploymentRevision(std::to_string(new_revision));
  bool status = false;
  if (!already_exists && HasProgressDeadline(D())) {
    auto& a = d_->GetAllocator();
    SetDeploymentCondition(EnsureObject(*d_, "status", a),
                           NewCondition(kCondProgressing, "True", kNewReplicaSetReason,
                                        "Created new replica set " + Quote(name), Now(), a),
                           a);
    status = true;
  }
  WriteRevisionAndStatus(revision, status, std::move(next));
}

// Upstream writes the Deployment's revision annotation through UpdateStatus (its status
// strategy keeps annotations); minik's status subresource keeps only the status, so the
// annotation goes through a metadata patch.
void Sync::WriteRevisionAndStatus(bool revision, bool status, Next next) {
  auto self = shared_from_this();
  auto write_status = [this, self, status, next]() {
    if (status) UpdateStatus(next);
    else next(Status::OK());
  };
  if (!revision) return write_status();
  JsonDoc patch(rapidjson::kObjectType);
  auto& a = patch.GetAllocator();
  JsonValue an(rapidjson::kObjectType);
  SetString(an, kRevisionAnnotation, Annotation(D(), kRevisionAnnotation).value_or(""), a);
  JsonValue md(rapidjson::kObjectType);
  md.AddMember("annotations", an, a);
  patch.AddMember("metadata", md, a);
  ctx_.client.Patch(kDeployments, Ns(), DName(), client::PatchType::kMerge, ToJson(patch), "",
                    [this, self, next, write_status](StatusOr<JsonDoc> r) {
                      if (Gone()) return;
                      if (!r.ok()) return next(r.error());
                      TakeResourceVersion(*d_, *r);
                      write_status();
                    });
}

void Sync::UpdateStatus(Next next) {
  auto self = shared_from_this();
  ctx_.client.Update(kDeployments, Ns(), D(), "status", [this, self, next](StatusOr<JsonDoc> r) {
    if (Gone()) return;
    if (!r.ok()) return next(r.error());
    TakeResourceVersion(*d_, *r);
    next(Status::OK());
  });
}

void Sync::UpdateReplicaSet(const JsonDoc& rs, std::function<void(StatusOr<ObjectPtr>)> next) {
  auto self = shared_from_this();
  ctx_.client.Update(kReplicaSets, std::string(Namespace(rs)), rs, "", [this, self, next](StatusOr<JsonDoc> r) {
    if (Gone()) return;
    if (!r.ok()) return next(r.error());
    ObjectPtr updated = Share(std::move(*r));
    Replace(updated);
    next(updated);
  });
}

void Sync::ScaleAndRecord(const ObjectPtr& rs, int64_t new_scale, ScaleDone next) {
  int64_t cur = SpecReplicas(*rs);
  if (cur == new_scale) return next(Status::OK(), false, rs);
  ScaleReplicaSet(rs, new_scale, cur < new_scale ? "up" : "down", std::move(next));
}

void Sync::ScaleReplicaSet(const ObjectPtr& rs, int64_t new_scale, std::string op, ScaleDone next) {
  int64_t old_scale = SpecReplicas(*rs);
  int64_t desired = SpecReplicas(D());
  int64_t max_replicas = desired + MaxSurge(D());
  bool size = old_scale != new_scale;
  if (!size && !ReplicasAnnotationsNeedUpdate(*rs, desired, max_replicas)) return next(Status::OK(), false, rs);
  auto copy = Copy(*rs);
  auto& a = copy->GetAllocator();
  SetMember(EnsureObject(*copy, "spec", a), "replicas", JsonValue(new_scale), a);
  SetReplicasAnnotations(*copy, desired, max_replicas);
  auto self = shared_from_this();
  UpdateReplicaSet(*copy, [this, self, next, size, op, old_scale, new_scale, rs](StatusOr<ObjectPtr> r) {
    if (!r.ok()) return next(r.error(), false, rs);
    if (size) {
      Emit(kEventTypeNormal, "ScalingReplicaSet",
                        "Scaled " + op + " replica set " + std::string(Name(**r)) + " from " +
                            std::to_string(old_scale) + " to " + std::to_string(new_scale));
    }
    next(Status::OK(), size, *r);
  });
}

// ---- sync(): scaling events and paused Deployments -----------------------------------------

void Sync::SyncScale() {
  auto self = shared_from_this();
  GetAllReplicaSetsAndSyncRevision(false, [this, self](Status st) {
    if (Gone()) return;
    if (!st.ok()) return Finish(st);
    Scale([this, self](Status st) {
      if (Gone()) return;
      if (!st.ok()) return Finish(st);
      auto status = [this, self]() { SyncDeploymentStatus([this, self](Status st) { Finish(st); }); };
      if (!IsPaused(D())) return status();
      CleanupDeployment(old_rss_, [this, self, status](Status st) {
        if (!st.ok()) return Finish(st);
        status();
      });
    });
  });
}

// scale: the only active ReplicaSet (or the newest) takes the whole size; a saturated new one
// lets the old ones go; otherwise a RollingUpdate Deployment spreads the change over the active
// ReplicaSets in proportion to their sizes.
void Sync::Scale(Next next) {
  auto self = shared_from_this();
  int64_t replicas = SpecReplicas(D());
  if (ObjectPtr aol = FindActiveOrLatest(new_rs_, old_rss_)) {
    if (SpecReplicas(*aol) == replicas) return next(Status::OK());
    ScaleAndRecord(aol, replicas, [next](Status st, bool, ObjectPtr) { next(st); });
    return;
  }
  if (IsSaturated(D(), new_rs_)) {
    auto old = std::make_shared<std::vector<ObjectPtr>>(FilterActive(old_rss_));
    auto step = std::make_shared<std::function<void(size_t)>>();
    *step = [this, self, old, step, next](size_t i) {
      if (i >= old->size()) {
        next(Status::OK());
        *step = nullptr;  // break the cycle
        return;
      }
      ScaleAndRecord((*old)[i], 0, [this, self, step, i, next](Status st, bool, ObjectPtr) {
        if (Gone() || !st.ok()) {
          if (!Gone()) next(st);
          *step = nullptr;  // break the cycle
          return;
        }
        (*step)(i + 1);
      });
    };
    (*step)(0);
    return;
  }
  if (IsRollingUpdate(D())) return ScaleProportionally(std::move(next));
  next(Status::OK());
}

void Sync::ScaleProportionally(Next next) {
  auto self = shared_from_this();
  int64_t replicas = SpecReplicas(D());
  auto all = std::make_shared<std::vector<ObjectPtr>>(FilterActive(AllRSs()));
  int64_t all_replicas = SumSpecReplicas(*all);
  int64_t allowed = replicas > 0 ? replicas + MaxSurge(D()) : 0;
  int64_t to_add = allowed - all_replicas;
  std::string op;
  if (to_add > 0) {
    SortBySizeNewer(*all);
    op = "up";
  } else if (to_add < 0) {
    SortBySizeOlder(*all);
    op = "down";
  }
  int64_t added = 0;
  auto sizes = std::make_shared<std::vector<int64_t>>();
  for (const auto& rs : *all) {
    if (to_add != 0) {
      int64_t p = ReplicaSetProportion(*rs, D(), to_add, added);
      sizes->push_back(SpecReplicas(*rs) + p);
      added += p;
    } else {
      sizes->push_back(SpecReplicas(*rs));
    }
  }
  if (!all->empty() && to_add != 0) {
    (*sizes)[0] = std::max<int64_t>(0, (*sizes)[0] + to_add - added);  // leftovers to the largest
  }
  auto step = std::make_shared<std::function<void(size_t)>>();
  *step = [this, self, all, sizes, op, step, next](size_t i) {
    if (i >= all->size()) {
      next(Status::OK());
      *step = nullptr;
      return;
    }
    ScaleReplicaSet((*all)[i], (*sizes)[i], op, [this, self, step, i, next](Status st, bool, ObjectPtr) {
      if (Gone() || !st.ok()) {
        if (!Gone()) next(st);
        *step = nullptr;  // break the cycle
        return;
      }
      (*step)(i + 1);
    });
  };
  (*step)(0);
}

void Sync::SyncStatusOnly() {
  auto self = shared_from_this();
  GetAllReplicaSetsAndSyncRevision(false, [this, self](Status st) {
    if (Gone()) return;
    if (!st.ok()) return Finish(st);
    SyncDeploymentStatus([this, self](Status st) { Finish(st); });
  });
}

// cleanupDeployment: deletes the oldest old ReplicaSets beyond revisionHistoryLimit, only those
// with no replicas, observed by their controller, and not being deleted.
void Sync::CleanupDeployment(std::vector<ObjectPtr> old_rss, Next next) {
  if (!HasRevisionHistoryLimit(D())) return next(Status::OK());
  auto cleanable = std::make_shared<std::vector<ObjectPtr>>();
  for (const auto& rs : old_rss) {
    if (rs && !IsBeingDeleted(*rs)) cleanable->push_back(rs);
  }
  int64_t diff = static_cast<int64_t>(cleanable->size()) - RevisionHistoryLimit(D());
  if (diff <= 0) return next(Status::OK());
  SortByRevision(*cleanable);
  DeleteOld(cleanable, 0, static_cast<size_t>(diff), std::move(next));
}

void Sync::DeleteOld(std::shared_ptr<std::vector<ObjectPtr>> rss, size_t i, size_t n, Next next) {
  for (; i < n; ++i) {
    const ObjectPtr& rs = (*rss)[i];
    if (StatusInt(*rs, "replicas") != 0 || SpecReplicas(*rs) != 0 ||
        Generation(*rs) > StatusInt(*rs, "observedGeneration") || IsBeingDeleted(*rs)) {
      continue;
    }
    auto self = shared_from_this();
    ctx_.client.Delete(kReplicaSets, std::string(Namespace(*rs)), std::string(Name(*rs)), client::DeleteOptions{},
                       [this, self, rss, i, n, next](StatusOr<JsonDoc> r) {
                         if (Gone()) return;
                         if (!r.ok() && !r.error().IsNotFound()) return next(r.error());
                         DeleteOld(rss, i + 1, n, next);
                       });
    return;
  }
  next(Status::OK());
}

void Sync::SyncDeploymentStatus(Next next) {
  JsonDoc st = CalculateStatus(AllRSs(), new_rs_, D(), Now());
  if (StatusEqual(Member(D(), "status"), &st)) return next(Status::OK());
  SetMember(*d_, "status", Clone(st, d_->GetAllocator()), d_->GetAllocator());
  UpdateStatus(std::move(next));
}

}  // namespace deployment
}  // namespace minik::controllers
