#include "server/controllers/node_lifecycle.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/log.h"
#include "server/controllers/util.h"

namespace minik::controllers {
namespace {

constexpr char kComponent[] = "node-controller";
constexpr char kNodeLeaseNamespace[] = "kube-node-lease";
constexpr char kPodKeyPrefix[] = "pod:";

constexpr char kTaintNotReady[] = "node.kubernetes.io/not-ready";
constexpr char kTaintUnreachable[] = "node.kubernetes.io/unreachable";
constexpr char kTaintUnschedulable[] = "node.kubernetes.io/unschedulable";
constexpr char kNoExecute[] = "NoExecute";
constexpr char kNoSchedule[] = "NoSchedule";

// nodeConditionToTaintKeyStatusMap.
struct ConditionTaint {
  const char* condition;
  const char* status;
  const char* taint;
};
constexpr ConditionTaint kConditionTaints[] = {
    {"Ready", "False", kTaintNotReady},
    {"Ready", "Unknown", kTaintUnreachable},
    {"MemoryPressure", "True", "node.kubernetes.io/memory-pressure"},
    {"DiskPressure", "True", "node.kubernetes.io/disk-pressure"},
    {"NetworkUnavailable", "True", "node.kubernetes.io/network-unavailable"},
    {"PIDPressure", "True", "node.kubernetes.io/pid-pressure"},
};

bool IsConditionTaintKey(std::string_view key) {
  for (const auto& ct : kConditionTaints) {
    if (key == ct.taint) return true;
  }
  return false;
}

struct Taint {
  std::string key;
  std::string effect;
};

std::string Str(const JsonValue& obj, std::string_view field) { return std::string(GetString(obj, field).value_or("")); }

const JsonValue* TaintsOf(const JsonValue& node) {
  const JsonValue* t = Path(node, {"spec", "taints"});
  return t && t->IsArray() ? t : nullptr;
}

bool TaintExists(const JsonValue& node, std::string_view key, std::string_view effect) {
  const JsonValue* taints = TaintsOf(node);
  if (!taints) return false;
  for (const auto& t : taints->GetArray()) {
    if (GetString(t, "key").value_or("") == key && GetString(t, "effect").value_or("") == effect) return true;
  }
  return false;
}

std::string NodeNameOf(const JsonValue& pod) {
  const JsonValue* nn = Path(pod, {"spec", "nodeName"});
  return nn && nn->IsString() ? std::string(nn->GetString(), nn->GetStringLength()) : std::string();
}

std::string ReadyStatus(const JsonValue& node) {
  const JsonValue* st = Member(node, "status");
  const JsonValue* c = st ? FindCondition(*st, "Ready") : nullptr;
  return c ? Str(*c, "status") : "";
}

// nodetopology.GetZoneKey.
std::string ZoneKey(const JsonValue& node) {
  const JsonValue* labels = Labels(node);
  std::string region, zone;
  if (labels) {
    region = Str(*labels, "topology.kubernetes.io/region");
    if (region.empty()) region = Str(*labels, "failure-domain.beta.kubernetes.io/region");
    zone = Str(*labels, "topology.kubernetes.io/zone");
    if (zone.empty()) zone = Str(*labels, "failure-domain.beta.kubernetes.io/zone");
  }
  if (region.empty() && zone.empty()) return "";
  return region + std::string(":\0:", 3) + zone;
}

// An ObjectReference-like object for the event recorder.
JsonDoc Ref(std::string_view api_version, std::string_view kind, std::string_view ns, std::string_view name,
            std::string_view uid) {
  JsonDoc d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  SetString(d, "apiVersion", api_version, a);
  SetString(d, "kind", kind, a);
  JsonValue md(rapidjson::kObjectType);
  SetString(md, "name", name, a);
  if (!ns.empty()) SetString(md, "namespace", ns, a);
  if (!uid.empty()) SetString(md, "uid", uid, a);
  d.AddMember("metadata", md, a);
  return d;
}

JsonDoc PodRef(const JsonValue& pod) {
  JsonDoc d = Ref("v1", "Pod", Namespace(pod), Name(pod), Uid(pod));
  std::string_view rv = client::MetaString(pod, "resourceVersion");
  if (!rv.empty()) SetString(*MutableMember(d, "metadata"), "resourceVersion", rv, d.GetAllocator());
  return d;
}

// flowcontrol's token bucket with burst 1 (EvictionRateLimiterBurst), on the monotonic clock.
class TokenBucket {
 public:
  TokenBucket(double qps, int64_t now_ms) : qps_(qps), tokens_(qps > 0 ? 1.0 : 0.0), last_ms_(now_ms) {}
  double qps() const { return qps_; }
  bool TryAccept(int64_t now_ms) {
    if (qps_ <= 0) return false;
    Refill(now_ms);
    if (tokens_ >= 1.0) {
      tokens_ -= 1.0;
      return true;
    }
    return false;
  }
  // Milliseconds until a token is available (-1: never).
  int64_t WaitMs(int64_t now_ms) {
    if (qps_ <= 0) return -1;
    Refill(now_ms);
    if (tokens_ >= 1.0) return 0;
    return static_cast<int64_t>(std::ceil((1.0 - tokens_) * 1000.0 / qps_));
  }

 private:
  void Refill(int64_t now_ms) {
    if (now_ms > last_ms_) tokens_ = std::min(1.0, tokens_ + static_cast<double>(now_ms - last_ms_) * qps_ / 1000.0);
    last_ms_ = now_ms;
  }
  double qps_;
  double tokens_;
  int64_t last_ms_;
};

enum class ZoneState { kInitial, kNormal, kFullDisruption, kPartialDisruption };

class NodeLifecycleController final : public Controller {
 public:
  NodeLifecycleController(Context ctx, NodeLifecycleOptions options)
      : Controller(ctx, "node-lifecycle"),
        opts_(options),
        nodes_(ctx.informers.For(kNodes)),
        leases_(ctx.informers.For(kLeases)),
        pods_(ctx.informers.For(kPods)) {
    client::EventHandlers nh;
    nh.on_add = [this](const client::ObjectPtr& o) { Enqueue(std::string(Name(*o))); };
    nh.on_update = [this](const client::ObjectPtr&, const client::ObjectPtr& o) { Enqueue(std::string(Name(*o))); };
    nodes_.AddEventHandler(nh);
    client::EventHandlers ph;
    ph.on_add = [this](const client::ObjectPtr& o) { PodUpdated(nullptr, *o); };
    ph.on_update = [this](const client::ObjectPtr& old, const client::ObjectPtr& o) { PodUpdated(old.get(), *o); };
    pods_.AddEventHandler(ph);
    Enqueue(kNodeMonitorKey);
  }

  void Reconcile(const std::string& key, Done done) override {
    if (key == kNodeMonitorKey) {
      return MonitorNodeHealth([this, done](Status st) {
        EnqueueAfter(kNodeMonitorKey, opts_.monitor_period_ms);
        done(std::move(st));
      });
    }
    if (key == kNodeTaintKey) return NoExecuteTaintingPass(std::move(done));
    if (key.rfind(kPodKeyPrefix, 0) == 0) return ProcessPod(key.substr(sizeof(kPodKeyPrefix) - 1), std::move(done));
    NodeProcessingPass(key, std::move(done));
  }

 private:
  // nodeHealthData, with what was last seen of the node and its lease (pointers into the
  // informer caches, so that an unchanged node costs two pointer comparisons).
  struct Health {
    int64_t probe_ms = 0;
    bool has_ready = false;
    std::string heartbeat;     // saved Ready lastHeartbeatTime
    std::string ready_status;  // Ready status as last known ("" when none)
    client::ObjectPtr node_seen;
    client::ObjectPtr lease_seen;
    bool has_lease = false;
    TimePoint lease_renew;
  };

  // scheduler.RateLimitedTimedQueue of one zone: a FIFO whose values stay in `set` after they
  // were processed, until removed.
  struct Zone {
    ZoneState state = ZoneState::kInitial;
    TokenBucket limiter;
    std::deque<std::string> queue;
    std::set<std::string> set;
    explicit Zone(double qps, int64_t now) : limiter(qps, now) {}
    bool Add(const std::string& name) {
      if (!set.insert(name).second) return false;
      queue.push_back(name);
      return true;
    }
    bool Remove(const std::string& name) {
      auto it = std::find(queue.begin(), queue.end(), name);
      if (it != queue.end()) queue.erase(it);
      return set.erase(name) > 0;
    }
    void SwapLimiter(double qps, int64_t now) {
      if (limiter.qps() == qps) return;
      bool waiting = !limiter.TryAccept(now);
      TokenBucket next(qps, now);
      if (qps > 0 && waiting) next.TryAccept(now);
      limiter = next;
    }
  };

  int64_t NowMs() const { return clock().MonotonicMillis(); }

  Zone& ZoneOf(const std::string& zone) {
    auto it = zones_.find(zone);
    if (it == zones_.end()) it = zones_.emplace(zone, Zone(opts_.eviction_qps, NowMs())).first;
    return it->second;
  }

  void PodUpdated(const JsonValue* old_pod, const JsonValue& pod) {
    const JsonValue* nn = Path(pod, {"spec", "nodeName"});
    if (!nn || !nn->IsString() || nn->GetStringLength() == 0) return;
    if (old_pod) {
      const JsonValue* on = Path(*old_pod, {"spec", "nodeName"});
      if (on && on->IsString() && std::string_view(on->GetString()) == nn->GetString()) return;
    }
    Enqueue(kPodKeyPrefix + client::ObjectKey(pod));
  }

  // ---- taints -------------------------------------------------------------------------------

  // SwapNodeControllerTaint: adds `add` (with timeAdded now; a taint already there with the same
  // key and effect is kept as it is) and removes `remove`, in one patch of spec.taints
  // preconditioned on the node's resourceVersion (as upstream's PatchNodeTaints). Calls cb(OK)
  // without a write when nothing changes.
  void SwapTaints(const JsonValue& node, const std::vector<Taint>& add, const std::vector<Taint>& remove,
                  std::function<void(Status)> cb) {
    JsonDoc patch(rapidjson::kObjectType);
    auto& a = patch.GetAllocator();
    JsonValue list(rapidjson::kArrayType);
    bool changed = false;
    if (const JsonValue* taints = TaintsOf(node)) {
      for (const auto& t : taints->GetArray()) {
        std::string_view k = GetString(t, "key").value_or(""), e = GetString(t, "effect").value_or("");
        bool drop = std::any_of(remove.begin(), remove.end(), [&](const Taint& r) { return r.key == k && r.effect == e; });
        if (drop) {
          changed = true;
          continue;
        }
        list.PushBack(Clone(t, a), a);
      }
    }
    std::string now = FormatRFC3339(clock().Now());
    for (const Taint& t : add) {
      if (TaintExists(node, t.key, t.effect)) continue;
      JsonValue v(rapidjson::kObjectType);
      SetString(v, "key", t.key, a);
      SetString(v, "effect", t.effect, a);
      SetString(v, "timeAdded", now, a);
      list.PushBack(v, a);
      changed = true;
    }
    if (!changed) return cb(Status::OK());
    JsonValue md(rapidjson::kObjectType);
    SetString(md, "resourceVersion", client::MetaString(node, "resourceVersion"), a);
    patch.AddMember("metadata", md, a);
    JsonValue spec(rapidjson::kObjectType);
    if (list.Empty()) spec.AddMember("taints", JsonValue(rapidjson::kNullType), a);
    else spec.AddMember("taints", list, a);
    patch.AddMember("spec", spec, a);
    ctx_.client.Patch(kNodes, "", std::string(Name(node)), client::PatchType::kStrategicMerge, ToJson(patch), "",
                      [cb = std::move(cb)](StatusOr<JsonDoc> r) { cb(r.ok() || r.error().IsNotFound() ? Status::OK() : r.error()); });
  }

  // markNodeAsReachable: removes both NoExecute taints and forgets the node in its zone queue.
  void MarkNodeAsReachable(const JsonValue& node, std::function<void(Status)> cb) {
    Zone& z = ZoneOf(ZoneKey(node));
    std::string name(Name(node));
    if (z.set.count(name)) z.Remove(name);
    // The common case (a healthy node without the taints) costs no allocation.
    if (!TaintExists(node, kTaintUnreachable, kNoExecute) && !TaintExists(node, kTaintNotReady, kNoExecute)) {
      return cb(Status::OK());
    }
    SwapTaints(node, {}, {{kTaintUnreachable, kNoExecute}, {kTaintNotReady, kNoExecute}}, std::move(cb));
  }

  bool MarkNodeForTainting(const JsonValue& node, const std::string& status) {
    Zone& z = ZoneOf(ZoneKey(node));
    std::string name(Name(node));
    if (status == "False" && !TaintExists(node, kTaintNotReady, kNoExecute)) z.Remove(name);
    if (status == "Unknown" && !TaintExists(node, kTaintUnreachable, kNoExecute)) z.Remove(name);
    return z.Add(name);
  }

  void ProcessTaintBaseEviction(const JsonValue& node, const std::string& observed, std::function<void(Status)> cb) {
    if (observed == "False") {
      if (TaintExists(node, kTaintUnreachable, kNoExecute)) {
        return SwapTaints(node, {{kTaintNotReady, kNoExecute}}, {{kTaintUnreachable, kNoExecute}}, std::move(cb));
      }
      MarkNodeForTainting(node, "False");
    } else if (observed == "Unknown") {
      if (TaintExists(node, kTaintNotReady, kNoExecute)) {
        return SwapTaints(node, {{kTaintUnreachable, kNoExecute}}, {{kTaintNotReady, kNoExecute}}, std::move(cb));
      }
      MarkNodeForTainting(node, "Unknown");
    } else if (observed == "True") {
      return MarkNodeAsReachable(node, std::move(cb));
    }
    cb(Status::OK());
  }

  // ---- pods ---------------------------------------------------------------------------------

  // MarkPodsNotReady: the Ready condition of each pod goes False (lastTransitionTime now), through
  // pods/status; then a NodeNotReady event on the pod.
  void MarkPodsNotReady(const std::vector<client::ObjectPtr>& pods, const std::string& node_name,
                        std::function<void(Status)> cb) {
    auto join = Join::Make(std::move(cb));
    std::string now = FormatRFC3339(clock().Now());
    for (const auto& pod : pods) {
      if (NodeNameOf(*pod) != node_name) continue;
      const JsonValue* st = Member(*pod, "status");
      const JsonValue* ready = st ? FindCondition(*st, "Ready") : nullptr;
      if (!ready || GetString(*ready, "status").value_or("") == "False") continue;
      JsonDoc doc;
      doc.CopyFrom(*pod, doc.GetAllocator());
      auto& a = doc.GetAllocator();
      JsonValue* conds = MutableMember(*MutableMember(doc, "status"), "conditions");
      for (auto& c : conds->GetArray()) {
        if (GetString(c, "type").value_or("") != "Ready") continue;
        SetString(c, "status", "False", a);
        SetString(c, "lastTransitionTime", now, a);
      }
      auto done = join->Add();
      client::ObjectPtr keep = pod;
      ctx_.client.Update(kPods, std::string(Namespace(*pod)), doc, "status",
                         [this, keep, done](StatusOr<JsonDoc> r) {
                           if (r.ok()) {
                             ctx_.events.EventFrom(kComponent, PodRef(*r), kEventTypeWarning, "NodeNotReady",
                                                   "Node is not ready");
                           }
                           done(r.ok() || r.error().IsNotFound() ? Status::OK() : r.error());
                         });
    }
    join->Finish();
  }

  void ProcessPod(const std::string& pod_key, Done done) {
    client::ObjectPtr pod = pods_.Get(pod_key);
    if (!pod) return done(Status::OK());
    std::string node_name = NodeNameOf(*pod);
    auto h = health_.find(node_name);
    if (h == health_.end()) return done(Status::OK());  // not gathered yet, or removed
    if (!nodes_.Get(node_name)) return done(Status::NotFound("node " + node_name + " not in cache"));
    if (h->second.ready_status.empty() || h->second.ready_status == "True") return done(Status::OK());
    MarkPodsNotReady({pod}, node_name, std::move(done));
  }

  // ---- NoSchedule taints and labels (a node's key) -------------------------------------------

  void NodeProcessingPass(const std::string& name, Done done) {
    client::ObjectPtr node = nodes_.Get(name);
    if (!node) return done(Status::OK());
    auto join = Join::Make(std::move(done));
    // doNoScheduleTaintingPass.
    std::vector<Taint> want;
    if (const JsonValue* st = Member(*node, "status")) {
      if (const JsonValue* conds = Member(*st, "conditions"); conds && conds->IsArray()) {
        for (const auto& c : conds->GetArray()) {
          std::string_view type = GetString(c, "type").value_or(""), status = GetString(c, "status").value_or("");
          for (const auto& ct : kConditionTaints) {
            if (type == ct.condition && status == ct.status) want.push_back({ct.taint, kNoSchedule});
          }
        }
      }
    }
    const JsonValue* unschedulable = Path(*node, {"spec", "unschedulable"});
    if (unschedulable && unschedulable->IsBool() && unschedulable->GetBool()) {
      want.push_back({kTaintUnschedulable, kNoSchedule});
    }
    std::vector<Taint> have;
    if (const JsonValue* taints = TaintsOf(*node)) {
      for (const auto& t : taints->GetArray()) {
        std::string key = Str(t, "key");
        if (Str(t, "effect") != kNoSchedule) continue;
        if (key == kTaintUnschedulable || IsConditionTaintKey(key)) have.push_back({key, kNoSchedule});
      }
    }
    auto contains = [](const std::vector<Taint>& v, const Taint& t) {
      return std::any_of(v.begin(), v.end(), [&](const Taint& x) { return x.key == t.key && x.effect == t.effect; });
    };
    std::vector<Taint> add, del;
    for (const auto& t : want) {
      if (!contains(have, t) && !contains(add, t)) add.push_back(t);
    }
    for (const auto& t : have) {
      if (!contains(want, t)) del.push_back(t);
    }
    if (!add.empty() || !del.empty()) SwapTaints(*node, add, del, join->Add());
    else ReconcileLabels(*node, join->Add());
    join->Finish();
  }

  // reconcileNodeLabels: beta.kubernetes.io/{os,arch} follow kubernetes.io/{os,arch}.
  void ReconcileLabels(const JsonValue& node, std::function<void(Status)> cb) {
    const JsonValue* labels = Labels(node);
    if (!labels) return cb(Status::OK());
    JsonDoc patch(rapidjson::kObjectType);
    auto& a = patch.GetAllocator();
    JsonValue update(rapidjson::kObjectType);
    for (auto [primary, secondary] : {std::pair{"kubernetes.io/os", "beta.kubernetes.io/os"},
                                      std::pair{"kubernetes.io/arch", "beta.kubernetes.io/arch"}}) {
      auto p = GetString(*labels, primary);
      if (!p) continue;
      auto s = GetString(*labels, secondary);
      if (!s || *s != *p) SetString(update, secondary, *p, a);
    }
    if (update.MemberCount() == 0) return cb(Status::OK());
    JsonValue md(rapidjson::kObjectType);
    md.AddMember("labels", update, a);
    patch.AddMember("metadata", md, a);
    ctx_.client.Patch(kNodes, "", std::string(Name(node)), client::PatchType::kStrategicMerge, ToJson(patch), "",
                      [cb = std::move(cb)](StatusOr<JsonDoc> r) { cb(r.ok() || r.error().IsNotFound() ? Status::OK() : r.error()); });
  }

  // ---- the health pass ----------------------------------------------------------------------

  struct NodeResult {
    std::string observed;  // the Ready status before this pass ("Unknown" when never posted)
    std::string current;   // after it ("" when the node still has no Ready condition)
  };

  // tryUpdateNodeHealth. Appends the status write (if any) to join.
  NodeResult TryUpdateNodeHealth(const client::ObjectPtr& node, const std::shared_ptr<Join>& join) {
    std::string name(Name(*node));
    int64_t now = NowMs();
    TimePoint wall_now = clock().Now();
    const JsonValue* status = Member(*node, "status");
    const JsonValue* ready = status ? FindCondition(*status, "Ready") : nullptr;
    NodeResult res;
    res.observed = ready ? Str(*ready, "status") : "Unknown";
    res.current = ready ? res.observed : "";
    int64_t grace = ready ? opts_.grace_period_ms : opts_.startup_grace_period_ms;
    std::string heartbeat = ready ? Str(*ready, "lastHeartbeatTime") : "";

    auto it = health_.find(name);
    if (it == health_.end()) {
      Health h;
      h.probe_ms = now;
      if (!ready) {
        // Never posted: counted from the node's creation.
        TimePoint created;
        if (ParseRFC3339(client::MetaString(*node, "creationTimestamp"), &created)) {
          h.probe_ms = now - std::chrono::duration_cast<std::chrono::milliseconds>(wall_now - created).count();
        }
      }
      h.has_ready = ready != nullptr;
      h.heartbeat = heartbeat;
      h.node_seen = node;
      it = health_.emplace(name, std::move(h)).first;
    } else if (it->second.node_seen != node) {
      Health& h = it->second;
      if (h.has_ready != (ready != nullptr) || (ready && h.heartbeat != heartbeat)) h.probe_ms = now;
      h.has_ready = ready != nullptr;
      h.heartbeat = heartbeat;
      h.node_seen = node;
    }
    Health& h = it->second;
    client::ObjectPtr lease = leases_.Get(kNodeLeaseNamespace, name);
    if (lease && lease != h.lease_seen) {
      h.lease_seen = lease;
      TimePoint renew;
      const JsonValue* rt = Path(*lease, {"spec", "renewTime"});
      if (rt && rt->IsString() && ParseRFC3339(rt->GetString(), &renew) && (!h.has_lease || h.lease_renew < renew)) {
        h.has_lease = true;
        h.lease_renew = renew;
        h.probe_ms = now;
      }
    }
    h.ready_status = res.current;

    if (now <= h.probe_ms + grace) return res;
    // Neither the lease nor the status moved for the grace period: the conditions go Unknown.
    auto doc = std::make_shared<JsonDoc>();
    doc->CopyFrom(*node, doc->GetAllocator());
    auto& a = doc->GetAllocator();
    JsonValue& st = EnsureObject(*doc, "status", a);
    JsonValue* conds = MutableMember(st, "conditions");
    if (!conds || !conds->IsArray()) {
      SetMember(st, "conditions", JsonValue(rapidjson::kArrayType), a);
      conds = MutableMember(st, "conditions");
    }
    std::string ts = FormatRFC3339(wall_now);
    std::string created(client::MetaString(*node, "creationTimestamp"));
    bool ready_changed = false;
    for (const char* type : {"Ready", "MemoryPressure", "DiskPressure", "PIDPressure"}) {
      JsonValue* cur = nullptr;
      for (auto& c : conds->GetArray()) {
        if (GetString(c, "type").value_or("") == type) cur = &c;
      }
      if (!cur) {
        JsonValue c(rapidjson::kObjectType);
        SetString(c, "type", type, a);
        SetString(c, "status", "Unknown", a);
        SetString(c, "lastHeartbeatTime", created, a);
        SetString(c, "lastTransitionTime", ts, a);
        SetString(c, "reason", "NodeStatusNeverUpdated", a);
        SetString(c, "message", "Kubelet never posted node status.", a);
        conds->PushBack(c, a);
        if (std::string_view(type) == "Ready") ready_changed = true;
      } else if (GetString(*cur, "status").value_or("") != "Unknown") {
        SetString(*cur, "status", "Unknown", a);
        SetString(*cur, "reason", "NodeStatusUnknown", a);
        SetString(*cur, "message", "Kubelet stopped posting node status.", a);
        SetString(*cur, "lastTransitionTime", ts, a);
        if (std::string_view(type) == "Ready") ready_changed = true;
      }
    }
    if (!ready_changed) return res;
    const JsonValue* new_ready = FindCondition(st, "Ready");
    std::string new_heartbeat = Str(*new_ready, "lastHeartbeatTime");
    auto cb = join->Add();
    ctx_.client.Update(kNodes, "", *doc, "status", [this, name, new_heartbeat, cb](StatusOr<JsonDoc> r) {
      if (!r.ok()) {
        MINIK_LOG(Warning) << "node-lifecycle: updating the status of node " << name << ": " << r.error().ToString();
        return cb(r.error().IsNotFound() ? Status::OK() : r.error());
      }
      auto hit = health_.find(name);
      if (hit != health_.end()) {
        hit->second.has_ready = true;
        hit->second.heartbeat = new_heartbeat;
        hit->second.ready_status = "Unknown";
      }
      cb(Status::OK());
    });
    res.current = "Unknown";
    return res;
  }

  void MonitorNodeHealth(Done done) {
    std::vector<client::ObjectPtr> nodes = nodes_.List();
    std::sort(nodes.begin(), nodes.end(), [](const auto& x, const auto& y) { return Name(*x) < Name(*y); });
    auto join = Join::Make([this, done = std::move(done)](Status st) {
      // The tainting pass runs after the health pass (upstream runs it every 100 ms).
      NoExecuteTaintingPass([st, done](Status st2) { done(st.ok() ? st2 : st); });
    });

    // classifyNodes.
    std::unordered_set<std::string> present;
    present.reserve(nodes.size());
    for (const auto& n : nodes) {
      std::string name(Name(*n));
      present.insert(name);
      if (!known_.count(name)) {
        known_[name] = std::string(Uid(*n));
        ctx_.events.EventFrom(kComponent, Ref("v1", "Node", "", name, Uid(*n)), kEventTypeNormal, "RegisteredNode",
                              "Registered Node " + name + " in Controller");
        ZoneOf(ZoneKey(*n));
        MarkNodeAsReachable(*n, join->Add());
      }
    }
    if (known_.size() != present.size()) {
      for (auto it = known_.begin(); it != known_.end();) {
        if (present.count(it->first)) {
          ++it;
          continue;
        }
        ctx_.events.EventFrom(kComponent, Ref("v1", "Node", "", it->first, it->second), kEventTypeNormal,
                              "RemovingNode", "Removing Node " + it->first + " from Controller");
        health_.erase(it->first);
        retry_.erase(it->first);
        it = known_.erase(it);
      }
    }

    std::map<std::string, std::vector<std::string>> zone_conditions;
    for (const auto& n : nodes) {
      std::string name(Name(*n));
      NodeResult r = TryUpdateNodeHealth(n, join);
      const JsonValue* labels = Labels(*n);
      if (!labels || !Member(*labels, "node.kubernetes.io/exclude-disruption")) {
        zone_conditions[ZoneKey(*n)].push_back(r.current);
      }
      if (r.current.empty()) continue;
      ProcessTaintBaseEviction(*n, r.observed, join->Add());
      bool needs_retry = retry_.count(name) > 0;
      bool transition = r.current != "True" && r.observed == "True";
      if (transition) {
        ctx_.events.EventFrom(kComponent, Ref("v1", "Node", "", name, Uid(*n)), kEventTypeNormal, "NodeNotReady",
                              "Node " + name + " status is now: NodeNotReady");
      }
      if (transition || (needs_retry && r.observed != "True")) {
        auto cb = join->Add();
        MarkPodsNotReady(pods_.ByIndex(client::kNodeIndex, name), name, [this, name, cb](Status st) {
          if (st.ok()) retry_.erase(name);
          else retry_.insert(name);
          cb(Status::OK());
        });
      } else {
        retry_.erase(name);
      }
    }
    HandleDisruption(zone_conditions, nodes, join);
    join->Finish();
  }

  ZoneState ComputeZoneState(const std::vector<std::string>& conditions) const {
    int64_t ready = 0, not_ready = 0;
    for (const auto& c : conditions) {
      if (c == "True") ++ready;
      else ++not_ready;
    }
    if (ready == 0 && not_ready > 0) return ZoneState::kFullDisruption;
    if (not_ready > 2 && static_cast<double>(not_ready) / static_cast<double>(not_ready + ready) >= opts_.unhealthy_zone_threshold) {
      return ZoneState::kPartialDisruption;
    }
    return ZoneState::kNormal;
  }

  void SetLimiterInZone(Zone& z, size_t zone_size, ZoneState state) {
    double qps = opts_.eviction_qps;  // Normal, and FullDisruption of one zone (HealthyQPSFunc)
    if (state == ZoneState::kPartialDisruption) {
      qps = static_cast<int64_t>(zone_size) > opts_.large_cluster_threshold ? opts_.secondary_eviction_qps : 0;
    }
    z.SwapLimiter(qps, NowMs());
  }

  void HandleDisruption(const std::map<std::string, std::vector<std::string>>& zone_conditions,
                        const std::vector<client::ObjectPtr>& nodes, const std::shared_ptr<Join>& join) {
    std::map<std::string, ZoneState> new_states;
    bool all_are_fully_disrupted = true;
    for (const auto& [zone, conds] : zone_conditions) {
      ZoneState s = ComputeZoneState(conds);
      if (s != ZoneState::kFullDisruption) all_are_fully_disrupted = false;
      new_states[zone] = s;
      ZoneOf(zone);
    }
    bool all_were_fully_disrupted = true;
    for (auto it = zones_.begin(); it != zones_.end();) {
      if (!zone_conditions.count(it->first)) {
        // Upstream drops the zone's state (its queue stays; we drop an empty one).
        if (it->second.queue.empty() && it->second.set.empty()) {
          it = zones_.erase(it);
          continue;
        }
        it->second.state = ZoneState::kInitial;
        ++it;
        continue;
      }
      if (it->second.state != ZoneState::kFullDisruption) all_were_fully_disrupted = false;
      ++it;
    }
    if (all_are_fully_disrupted && all_were_fully_disrupted) return;
    if (all_are_fully_disrupted) {
      MINIK_LOG(Info) << "node-lifecycle: controller detected that all Nodes are not-Ready. Entering master disruption mode";
      for (const auto& n : nodes) MarkNodeAsReachable(*n, join->Add());
      for (auto& [zone, z] : zones_) {
        if (!zone_conditions.count(zone)) continue;
        z.SwapLimiter(0, NowMs());
        z.state = ZoneState::kFullDisruption;
      }
      return;
    }
    if (all_were_fully_disrupted && !zone_conditions.empty()) {
      MINIK_LOG(Info) << "node-lifecycle: controller detected that some Nodes are Ready. Exiting master disruption mode";
      int64_t now = NowMs();
      for (auto& [name, h] : health_) h.probe_ms = now;
      for (auto& [zone, z] : zones_) {
        auto ns = new_states.find(zone);
        if (ns == new_states.end()) continue;
        SetLimiterInZone(z, zone_conditions.at(zone).size(), ns->second);
        z.state = ns->second;
      }
      return;
    }
    for (auto& [zone, z] : zones_) {
      auto ns = new_states.find(zone);
      if (ns == new_states.end() || z.state == ns->second) continue;
      SetLimiterInZone(z, zone_conditions.at(zone).size(), ns->second);
      z.state = ns->second;
    }
  }

  // doNoExecuteTaintingPass: takes nodes off each zone's queue as its rate limiter allows.
  void NoExecuteTaintingPass(Done done) {
    auto join = Join::Make(std::move(done));
    int64_t now = NowMs();
    int64_t next_ms = -1;
    for (auto& [zone, z] : zones_) {
      while (!z.queue.empty()) {
        std::string name = z.queue.front();
        client::ObjectPtr node = nodes_.Get(name);
        if (!node) {
          z.queue.pop_front();  // stays in the set until removed, as upstream
          continue;
        }
        std::string ready = ReadyStatus(*node);
        if (ready != "False" && ready != "Unknown") {
          z.queue.pop_front();
          continue;
        }
        if (!z.limiter.TryAccept(now)) break;
        z.queue.pop_front();
        Taint add = ready == "False" ? Taint{kTaintNotReady, kNoExecute} : Taint{kTaintUnreachable, kNoExecute};
        Taint opposite = ready == "False" ? Taint{kTaintUnreachable, kNoExecute} : Taint{kTaintNotReady, kNoExecute};
        auto cb = join->Add();
        SwapTaints(*node, {add}, {opposite}, [this, zone = zone, name, cb](Status st) {
          if (!st.ok()) {
            // Retried on the next pass.
            auto zit = zones_.find(zone);
            if (zit != zones_.end() && zit->second.set.count(name)) zit->second.queue.push_back(name);
          }
          cb(Status::OK());
        });
      }
      if (!z.queue.empty()) {
        int64_t w = z.limiter.WaitMs(now);
        if (w >= 0 && (next_ms < 0 || w < next_ms)) next_ms = w;
      }
    }
    if (next_ms >= 0) EnqueueAfter(kNodeTaintKey, std::max<int64_t>(next_ms, 1));
    join->Finish();
  }

  NodeLifecycleOptions opts_;
  client::Informer& nodes_;
  client::Informer& leases_;
  client::Informer& pods_;
  std::unordered_map<std::string, Health> health_;
  std::unordered_map<std::string, std::string> known_;  // knownNodeSet: name -> uid
  std::map<std::string, Zone> zones_;
  std::unordered_set<std::string> retry_;  // nodesToRetry
};

}  // namespace

ControllerPtr NewNodeLifecycleController(Context ctx, NodeLifecycleOptions options) {
  return std::make_unique<NodeLifecycleController>(ctx, options);
}

}  // namespace minik::controllers
