#include "server/controllers/pod_gc.h"

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/log.h"
#include "server/controllers/util.h"

namespace minik::controllers {
namespace {

std::string NodeNameOf(const JsonValue& pod) {
  const JsonValue* nn = Path(pod, {"spec", "nodeName"});
  return nn && nn->IsString() ? std::string(nn->GetString(), nn->GetStringLength()) : std::string();
}

// isPodTerminated: not Pending, Running or Unknown.
bool IsTerminated(const JsonValue& pod) {
  std::string_view p = PodPhase(pod);
  return p != "Pending" && p != "Running" && p != "Unknown";
}

// eviction.PodIsEvicted.
bool IsEvicted(const JsonValue& pod) {
  const JsonValue* reason = Path(pod, {"status", "reason"});
  return PodPhase(pod) == "Failed" && reason && reason->IsString() && std::string_view(reason->GetString()) == "Evicted";
}

bool IsNodeReady(const JsonValue& node) {
  const JsonValue* st = Member(node, "status");
  const JsonValue* c = st ? FindCondition(*st, "Ready") : nullptr;
  return c && GetString(*c, "status").value_or("") == "True";
}

bool HasOutOfServiceTaint(const JsonValue& node) {
  const JsonValue* taints = Path(node, {"spec", "taints"});
  if (!taints || !taints->IsArray()) return false;
  for (const auto& t : taints->GetArray()) {
    if (GetString(t, "key").value_or("") == "node.kubernetes.io/out-of-service") return true;
  }
  return false;
}

// byEvictionAndCreationTimestamp.
bool EvictedThenOldest(const client::ObjectPtr& x, const client::ObjectPtr& y) {
  bool ex = IsEvicted(*x), ey = IsEvicted(*y);
  if (ex != ey) return ex;
  TimePoint tx{}, ty{};
  ParseRFC3339(client::MetaString(*x, "creationTimestamp"), &tx);
  ParseRFC3339(client::MetaString(*y, "creationTimestamp"), &ty);
  if (tx == ty) return Name(*x) < Name(*y);
  return tx < ty;
}

class PodGcController final : public Controller {
 public:
  PodGcController(Context ctx, PodGcOptions options)
      : Controller(ctx, "pod-garbage-collector"), opts_(options), pods_(ctx.informers.For(kPods)), nodes_(ctx.informers.For(kNodes)) {
    client::EventHandlers ph;
    ph.on_add = [this](const client::ObjectPtr& p) { PodChanged(nullptr, *p); };
    ph.on_update = [this](const client::ObjectPtr& old, const client::ObjectPtr& p) { PodChanged(old.get(), *p); };
    pods_.AddEventHandler(ph);
    client::EventHandlers nh;
    nh.on_update = [this](const client::ObjectPtr& old, const client::ObjectPtr& n) {
      if (!HasOutOfServiceTaint(*old) && HasOutOfServiceTaint(*n)) Enqueue(kPodGcKey);
    };
    nh.on_delete = [this](const client::ObjectPtr&, bool) { Enqueue(kPodGcKey); };
    nodes_.AddEventHandler(nh);
  }

  void Reconcile(const std::string& key, Done done) override {
    if (key != kPodGcKey) return done(Status::OK());
    Gc(std::move(done));
  }

 private:
  // Handlers only decide whether a scan may be needed.
  void PodChanged(const JsonValue* old_pod, const JsonValue& pod) {
    if (opts_.terminated_pod_threshold > 0 && IsTerminated(pod) && (!old_pod || !IsTerminated(*old_pod))) {
      EnqueueAfter(kPodGcKey, opts_.check_period_ms);
    }
    std::string node = NodeNameOf(pod);
    if (IsBeingDeleted(pod)) {
      // Unscheduled, or on a node out of service (not every deletion: that would scan per pod).
      client::ObjectPtr n = node.empty() ? nullptr : nodes_.Get(node);
      if (node.empty() || (n && !IsNodeReady(*n) && HasOutOfServiceTaint(*n))) Enqueue(kPodGcKey);
    } else if (!node.empty() && !nodes_.Get(node) && (!old_pod || NodeNameOf(*old_pod) != node)) {
      Enqueue(kPodGcKey);
    }
  }

  void Gc(Done done) {
    std::vector<client::ObjectPtr> pods = pods_.List();
    std::sort(pods.begin(), pods.end(), [](const auto& x, const auto& y) { return client::ObjectKey(*x) < client::ObjectKey(*y); });
    // Forget deletions the cache has caught up with.
    {
      std::unordered_set<std::string> live;
      for (const auto& p : pods) live.insert(std::string(Uid(*p)));
      for (auto it = deleted_.begin(); it != deleted_.end();) it = live.count(*it) ? std::next(it) : deleted_.erase(it);
    }
    std::erase_if(pods, [this](const client::ObjectPtr& p) { return deleted_.count(std::string(Uid(*p))) > 0; });
    auto join = Join::Make(std::move(done));
    if (opts_.terminated_pod_threshold > 0) GcTerminated(pods, join);
    GcTerminating(pods, join);
    GcOrphaned(pods, join);
    GcUnscheduledTerminating(pods, join);
    join->Finish();
  }

  void GcTerminated(const std::vector<client::ObjectPtr>& pods, const std::shared_ptr<Join>& join) {
    std::vector<client::ObjectPtr> terminated;
    for (const auto& p : pods) {
      if (IsTerminated(*p)) terminated.push_back(p);
    }
    int64_t count = static_cast<int64_t>(terminated.size()) - opts_.terminated_pod_threshold;
    if (count <= 0) return;
    MINIK_LOG(Info) << "pod-gc: garbage collecting " << count << " terminated pods";
    std::sort(terminated.begin(), terminated.end(), EvictedThenOldest);
    for (int64_t i = 0; i < count; ++i) MarkFailedAndDelete(terminated[i], false, join);
  }

  void GcTerminating(const std::vector<client::ObjectPtr>& pods, const std::shared_ptr<Join>& join) {
    std::vector<client::ObjectPtr> terminating;
    for (const auto& p : pods) {
      if (!IsBeingDeleted(*p)) continue;
      client::ObjectPtr node = nodes_.Get(NodeNameOf(*p));
      if (node && !IsNodeReady(*node) && HasOutOfServiceTaint(*node)) terminating.push_back(p);
    }
    std::sort(terminating.begin(), terminating.end(), EvictedThenOldest);
    for (const auto& p : terminating) MarkFailedAndDelete(p, false, join);
  }

  void GcOrphaned(const std::vector<client::ObjectPtr>& pods, const std::shared_ptr<Join>& join) {
    int64_t now = clock().MonotonicMillis();
    std::map<std::string, std::vector<client::ObjectPtr>> missing;
    for (const auto& p : pods) {
      std::string node = NodeNameOf(*p);
      if (node.empty() || nodes_.Get(node)) continue;
      missing[node].push_back(p);
      quarantine_.try_emplace(node, now);  // nodeQueue.AddAfter(node, quarantineTime)
    }
    int64_t next = -1;
    for (auto it = quarantine_.begin(); it != quarantine_.end();) {
      const std::string node = it->first;
      int64_t ready_at = it->second + opts_.quarantine_ms;
      if (ready_at > now) {
        next = next < 0 ? ready_at - now : std::min(next, ready_at - now);
        ++it;
        continue;
      }
      it = quarantine_.erase(it);  // processed (Done); added again next time if still missing
      auto mit = missing.find(node);
      if (mit == missing.end()) continue;
      // checkIfNodeExists: a live GET, not the cache.
      auto cb = join->Add();
      auto orphans = mit->second;
      ctx_.client.Get(kNodes, "", node, [this, node, orphans, cb](StatusOr<JsonDoc> r) {
        if (r.ok()) return cb(Status::OK());
        if (!r.error().IsNotFound()) {
          MINIK_LOG(Warning) << "pod-gc: error while getting node " << node << ": " << r.error().ToString();
          return cb(Status::OK());
        }
        auto inner = Join::Make(cb);
        for (const auto& p : orphans) {
          MINIK_LOG(Info) << "pod-gc: found orphaned pod " << client::ObjectKey(*p) << " assigned to the node " << node
                          << ", deleting";
          MarkFailedAndDelete(p, true, inner);
        }
        inner->Finish();
      });
    }
    if (next >= 0) EnqueueAfter(kPodGcKey, next);
  }

  void GcUnscheduledTerminating(const std::vector<client::ObjectPtr>& pods, const std::shared_ptr<Join>& join) {
    for (const auto& p : pods) {
      if (!IsBeingDeleted(*p) || !NodeNameOf(*p).empty()) continue;
      MarkFailedAndDelete(p, false, join);
    }
  }

  // markFailedAndDeletePodWithCondition: phase Failed (and the DisruptionTarget condition for
  // orphans) through a status patch with a uid precondition, then a deletion with grace 0.
  void MarkFailedAndDelete(const client::ObjectPtr& pod, bool orphaned, const std::shared_ptr<Join>& join) {
    std::string ns(Namespace(*pod)), name(Name(*pod)), uid(Uid(*pod));
    deleted_.insert(uid);
    auto cb = join->Add();
    auto del = [this, ns, name, uid, cb]() {
      client::DeleteOptions opts;
      opts.grace_period_seconds = 0;
      ctx_.client.Delete(kPods, ns, name, opts, [this, uid, cb](StatusOr<JsonDoc> r) {
        if (!r.ok() && !r.error().IsNotFound()) {
          deleted_.erase(uid);
          return cb(r.error());
        }
        cb(Status::OK());
      });
    };
    std::string_view phase = PodPhase(*pod);
    if (phase == "Succeeded" || phase == "Failed") return del();
    JsonDoc patch(rapidjson::kObjectType);
    auto& a = patch.GetAllocator();
    JsonValue md(rapidjson::kObjectType);
    SetString(md, "uid", uid, a);
    patch.AddMember("metadata", md, a);
    JsonValue status(rapidjson::kObjectType);
    if (const JsonValue* cur = Member(*pod, "status")) status.CopyFrom(*cur, a);
    SetString(status, "phase", "Failed", a);
    JsonValue out(rapidjson::kObjectType);
    SetString(out, "phase", "Failed", a);
    if (orphaned) {
      SetCondition(status, "DisruptionTarget", "True", "DeletionByPodGC", "PodGC: node no longer exists", clock().Now(), a);
      out.AddMember("conditions", *MutableMember(status, "conditions"), a);
    }
    patch.AddMember("status", out, a);
    ctx_.client.Patch(kPods, ns, name, client::PatchType::kStrategicMerge, ToJson(patch), "status",
                      [this, uid, del, cb](StatusOr<JsonDoc> r) {
                        if (!r.ok()) {
                          deleted_.erase(uid);
                          return cb(r.error().IsNotFound() ? Status::OK() : r.error());
                        }
                        del();
                      });
  }

  PodGcOptions opts_;
  client::Informer& pods_;
  client::Informer& nodes_;
  std::map<std::string, int64_t> quarantine_;  // missing node -> when first found missing (monotonic ms)
  std::unordered_set<std::string> deleted_;    // uids deleted, until the cache drops them
};

}  // namespace

ControllerPtr NewPodGcController(Context ctx, PodGcOptions options) {
  return std::make_unique<PodGcController>(ctx, options);
}

}  // namespace minik::controllers
