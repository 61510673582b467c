#include "server/controllers/taint_eviction.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/log.h"
#include "server/controllers/util.h"

namespace minik::controllers {
namespace {

constexpr char kComponent[] = "taint-eviction-controller";

struct Taint {
  std::string key;
  std::string value;
  std::string effect;
  std::optional<TimePoint> time_added;
};

struct Toleration {
  std::string key;
  std::string op;
  std::string value;
  std::string effect;
  std::optional<int64_t> seconds;

  // v1.Toleration.ToleratesTaint.
  bool Tolerates(const Taint& t) const {
    if (!effect.empty() && effect != t.effect) return false;
    if (!key.empty() && key != t.key) return false;
    if (op.empty() || op == "Equal") return value == t.value;
    return op == "Exists";
  }
};

std::string Str(const JsonValue& obj, std::string_view field) { return std::string(GetString(obj, field).value_or("")); }

std::vector<Taint> NoExecuteTaints(const JsonValue& node) {
  std::vector<Taint> out;
  const JsonValue* taints = Path(node, {"spec", "taints"});
  if (!taints || !taints->IsArray()) return out;
  for (const auto& t : taints->GetArray()) {
    if (Str(t, "effect") != "NoExecute") continue;
    Taint x{Str(t, "key"), Str(t, "value"), "NoExecute", std::nullopt};
    TimePoint added;
    if (ParseRFC3339(GetString(t, "timeAdded").value_or(""), &added)) x.time_added = added;
    out.push_back(std::move(x));
  }
  return out;
}

// The NoExecute taints as a comparable string (NodeUpdated compares them semantically).
std::string NoExecuteSignature(const JsonValue& node) {
  std::string s;
  const JsonValue* taints = Path(node, {"spec", "taints"});
  if (!taints || !taints->IsArray()) return s;
  for (const auto& t : taints->GetArray()) {
    if (Str(t, "effect") == "NoExecute") s += ToJson(t);
  }
  return s;
}

std::vector<Toleration> TolerationsOf(const JsonValue& pod) {
  std::vector<Toleration> out;
  const JsonValue* tols = Path(pod, {"spec", "tolerations"});
  if (!tols || !tols->IsArray()) return out;
  for (const auto& t : tols->GetArray()) {
    Toleration x{Str(t, "key"), Str(t, "operator"), Str(t, "value"), Str(t, "effect"), GetInt(t, "tolerationSeconds")};
    out.push_back(std::move(x));
  }
  return out;
}

std::string NodeNameOf(const JsonValue& pod) {
  const JsonValue* nn = Path(pod, {"spec", "nodeName"});
  return nn && nn->IsString() ? std::string(nn->GetString(), nn->GetStringLength()) : std::string();
}

JsonDoc PodRef(const std::string& ns, const std::string& name) {
  JsonDoc d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  SetString(d, "apiVersion", "v1", a);
  SetString(d, "kind", "Pod", a);
  JsonValue md(rapidjson::kObjectType);
  SetString(md, "name", name, a);
  SetString(md, "namespace", ns, a);
  d.AddMember("metadata", md, a);
  return d;
}

class TaintEvictionController final : public Controller {
 public:
  explicit TaintEvictionController(Context ctx)
      : Controller(ctx, "taint-eviction-controller"), nodes_(ctx.informers.For(kNodes)), pods_(ctx.informers.For(kPods)) {
    client::EventHandlers nh;
    nh.on_add = [this](const client::ObjectPtr& n) {
      if (!NoExecuteSignature(*n).empty()) Enqueue(std::string(Name(*n)));
    };
    nh.on_update = [this](const client::ObjectPtr& old, const client::ObjectPtr& n) {
      if (NoExecuteSignature(*old) != NoExecuteSignature(*n)) Enqueue(std::string(Name(*n)));
    };
    nh.on_delete = [this](const client::ObjectPtr& n, bool) { Enqueue(std::string(Name(*n))); };
    nodes_.AddEventHandler(nh);
    client::EventHandlers ph;
    ph.on_add = [this](const client::ObjectPtr& p) {
      if (!NodeNameOf(*p).empty()) EnqueueObject(p);
    };
    ph.on_update = [this](const client::ObjectPtr& old, const client::ObjectPtr& p) {
      const JsonValue* ot = Path(*old, {"spec", "tolerations"});
      const JsonValue* nt = Path(*p, {"spec", "tolerations"});
      bool same_tolerations = (!ot && !nt) || (ot && nt && JsonEqual(*ot, *nt));
      if (same_tolerations && NodeNameOf(*old) == NodeNameOf(*p)) return;
      EnqueueObject(p);
    };
    ph.on_delete = [this](const client::ObjectPtr& p, bool) { EnqueueObject(p); };
    pods_.AddEventHandler(ph);
  }

  void Reconcile(const std::string& key, Done done) override {
    if (key.find('/') == std::string::npos) return HandleNode(key, std::move(done));
    HandlePod(key, std::move(done));
  }

 private:
  TimePoint Now() const { return clock().Now(); }

  // The start of a taint: its timeAdded, or when this controller first saw it.
  TimePoint TaintStart(const std::string& node, const Taint& t) {
    if (t.time_added) return *t.time_added;
    auto [it, inserted] = first_seen_.try_emplace(node + '\n' + t.key + '\n' + t.value, Now());
    return it->second;
  }

  void CancelWithEvent(const std::string& key) {
    auto it = scheduled_.find(key);
    if (it == scheduled_.end()) return;
    scheduled_.erase(it);
    std::string ns, name;
    client::SplitKey(key, &ns, &name);
    ctx_.events.EventFrom(kComponent, PodRef(ns, name), kEventTypeNormal, "TaintManagerEviction",
                          "Cancelling deletion of Pod " + key);
  }

  void HandleNode(const std::string& name, Done done) {
    client::ObjectPtr node = nodes_.Get(name);
    std::vector<Taint> taints;
    if (node) taints = NoExecuteTaints(*node);
    if (taints.empty()) {
      // Forget when the taints were first seen, and cancel the node's scheduled evictions.
      std::string prefix = name + '\n';
      for (auto it = first_seen_.begin(); it != first_seen_.end();) {
        it = it->first.rfind(prefix, 0) == 0 ? first_seen_.erase(it) : std::next(it);
      }
      if (node) {
        for (const auto& k : pods_.IndexKeys(client::kNodeIndex, name)) CancelWithEvent(k);
      }
      return done(Status::OK());
    }
    auto join = Join::Make(std::move(done));
    for (const auto& pod : pods_.ByIndex(client::kNodeIndex, name)) ProcessPod(pod, name, taints, join);
    join->Finish();
  }

  void HandlePod(const std::string& key, Done done) {
    client::ObjectPtr pod = pods_.Get(key);
    if (!pod) {
      evicting_.erase(key);
      CancelWithEvent(key);
      return done(Status::OK());
    }
    std::string node_name = NodeNameOf(*pod);
    if (node_name.empty()) return done(Status::OK());
    client::ObjectPtr node = nodes_.Get(node_name);
    std::vector<Taint> taints;
    if (node) taints = NoExecuteTaints(*node);
    if (taints.empty()) {
      CancelWithEvent(key);
      return done(Status::OK());
    }
    auto join = Join::Make(std::move(done));
    ProcessPod(pod, node_name, taints, join);
    join->Finish();
  }

  // processPodOnNode.
  void ProcessPod(const client::ObjectPtr& pod, const std::string& node, const std::vector<Taint>& taints,
                  const std::shared_ptr<Join>& join) {
    std::string key = client::ObjectKey(*pod);
    auto ev = evicting_.find(key);
    if (IsBeingDeleted(*pod) || (ev != evicting_.end() && ev->second == Uid(*pod))) return;
    std::vector<Toleration> tolerations = TolerationsOf(*pod);
    // GetMatchingTolerations: the first toleration of each taint; every taint must be tolerated.
    TimePoint deadline = TimePoint::max();
    bool forever = true;
    for (const Taint& t : taints) {
      auto tol = std::find_if(tolerations.begin(), tolerations.end(), [&](const Toleration& x) { return x.Tolerates(t); });
      if (tol == tolerations.end()) {
        CancelWithEvent(key);
        return Evict(*pod, join);
      }
      if (!tol->seconds) continue;
      forever = false;
      TimePoint due = *tol->seconds <= 0 ? TimePoint::min() : TaintStart(node, t) + std::chrono::seconds(*tol->seconds);
      deadline = std::min(deadline, due);
    }
    if (forever) {
      CancelWithEvent(key);
      return;
    }
    TimePoint now = Now();
    if (deadline <= now) {
      scheduled_.erase(key);
      return Evict(*pod, join);
    }
    auto it = scheduled_.find(key);
    if (it != scheduled_.end()) {
      if (it->second <= deadline) {
        // Already scheduled no later: make sure the key comes back then.
        EnqueueAfter(key, std::chrono::duration_cast<std::chrono::milliseconds>(it->second - now).count() + 1);
        return;
      }
      CancelWithEvent(key);
    }
    scheduled_[key] = deadline;
    EnqueueAfter(key, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count() + 1);
  }

  // deletePodHandler: the event, the DisruptionTarget condition, then the deletion.
  void Evict(const JsonValue& pod, const std::shared_ptr<Join>& join) {
    std::string ns(Namespace(pod)), name(Name(pod)), uid(Uid(pod));
    ctx_.events.EventFrom(kComponent, PodRef(ns, name), kEventTypeNormal, "TaintManagerEviction",
                          "Marking for deletion Pod " + ns + "/" + name);
    std::string key = ns + "/" + name;
    evicting_[key] = uid;
    auto cb = join->Add();
    auto finish = [this, key, cb](Status st) {
      if (!st.ok()) evicting_.erase(key);
      cb(st.IsNotFound() ? Status::OK() : st);
    };
    ctx_.client.Get(kPods, ns, name, [this, ns, name, finish](StatusOr<JsonDoc> r) {
      if (!r.ok()) return finish(r.error());
      JsonDoc patch(rapidjson::kObjectType);
      auto& a = patch.GetAllocator();
      JsonValue status(rapidjson::kObjectType);
      const JsonValue* cur_status = Member(*r, "status");
      if (cur_status) status.CopyFrom(*cur_status, a);
      bool changed = SetCondition(status, "DisruptionTarget", "True", "DeletionByTaintManager",
                                  "Taint manager: deleting due to NoExecute taint", Now(), a);
      auto del = [this, ns, name, finish]() {
        ctx_.client.Delete(kPods, ns, name, {}, [finish](StatusOr<JsonDoc> d) { finish(d.ok() ? Status::OK() : d.error()); });
      };
      if (!changed) return del();
      JsonValue md(rapidjson::kObjectType);
      SetString(md, "uid", Uid(*r), a);
      patch.AddMember("metadata", md, a);
      JsonValue st(rapidjson::kObjectType);
      st.AddMember("conditions", *MutableMember(status, "conditions"), a);
      patch.AddMember("status", st, a);
      ctx_.client.Patch(kPods, ns, name, client::PatchType::kStrategicMerge, ToJson(patch), "status",
                        [del, finish](StatusOr<JsonDoc> p) {
                          if (!p.ok()) return finish(p.error());
                          del();
                        });
    });
  }

  client::Informer& nodes_;
  client::Informer& pods_;
  std::unordered_map<std::string, TimePoint> scheduled_;   // pod key -> when its eviction is due
  std::unordered_map<std::string, TimePoint> first_seen_;  // node\nkey\nvalue -> first sight (no timeAdded)
  std::unordered_map<std::string, std::string> evicting_;  // pod key -> uid, deleted (or being deleted)
};

}  // namespace

ControllerPtr NewTaintEvictionController(Context ctx) { return std::make_unique<TaintEvictionController>(ctx); }

}  // namespace minik::controllers
