// kube-scheduler's loop: informers -> Cache + SchedulingQueue -> decide -> assume -> bind.
#include "server/scheduler/scheduler_loop.h"

#include <algorithm>

#include "common/log.h"
#include "server/scheduler/quantity.h"

namespace minik::scheduler {
namespace {

const client::ResourceRef kPods{"", "v1", "pods"};
const client::ResourceRef kNodes{"", "v1", "nodes"};
const client::ResourceRef kNamespaces{"", "v1", "namespaces"};
const client::ResourceRef kPvcs{"", "v1", "persistentvolumeclaims"};
const client::ResourceRef kPvs{"", "v1", "persistentvolumes"};
const client::ResourceRef kStorageClasses{"storage.k8s.io", "v1", "storageclasses"};
const client::ResourceRef kPdbs{"policy", "v1", "poddisruptionbudgets"};
const client::ResourceRef kPriorityClasses{"scheduling.k8s.io", "v1", "priorityclasses"};

constexpr size_t kNoteLengthLimit = 1024;  // validation.NoteLengthLimit (event messages)
constexpr char kPreBindPrefix[] = "running PreBind plugin \"VolumeBinding\": binding volumes: ";

std::string Str(const JsonValue* v) {
  if (!v || !v->IsString()) return {};
  return std::string(v->GetString(), v->GetStringLength());
}
std::string_view NodeNameOf(const JsonValue& pod) {
  const JsonValue* v = Path(pod, {"spec", "nodeName"});
  return v && v->IsString() ? std::string_view(v->GetString(), v->GetStringLength()) : std::string_view();
}
bool Finished(const JsonValue& pod) {
  const JsonValue* v = Path(pod, {"status", "phase"});
  if (!v || !v->IsString()) return false;
  std::string_view p(v->GetString(), v->GetStringLength());
  return p == "Succeeded" || p == "Failed";
}
bool Deleting(const JsonValue& obj) {
  const JsonValue* v = Path(obj, {"metadata", "deletionTimestamp"});
  return v && !v->IsNull();
}
bool SameMember(const JsonValue& a, const JsonValue& b, std::initializer_list<std::string_view> path) {
  const JsonValue* x = Path(a, path);
  const JsonValue* y = Path(b, path);
  if (!x || !y) return x == y;
  return *x == *y;
}
std::string Truncate(std::string msg) {
  if (msg.size() <= kNoteLengthLimit) return msg;
  msg.resize(kNoteLengthLimit - 4);
  return msg + " ...";
}

std::optional<SelectorOp> ParseOp(std::string_view op) {
  if (op == "In") return SelectorOp::kIn;
  if (op == "NotIn") return SelectorOp::kNotIn;
  if (op == "Exists") return SelectorOp::kExists;
  if (op == "DoesNotExist") return SelectorOp::kDoesNotExist;
  if (op == "Gt") return SelectorOp::kGt;
  if (op == "Lt") return SelectorOp::kLt;
  return std::nullopt;
}

// Node selector terms (PV nodeAffinity.required.nodeSelectorTerms) or topology selector terms
// (StorageClass allowedTopologies: matchLabelExpressions {key, values} = In).
std::vector<NodeSelectorTerm> ParseTerms(const JsonValue* terms, bool topology) {
  std::vector<NodeSelectorTerm> out;
  if (!terms || !terms->IsArray()) return out;
  for (const auto& t : terms->GetArray()) {
    NodeSelectorTerm term;
    auto reqs = [&](const char* field, std::vector<NodeSelectorRequirement>* into) {
      const JsonValue* rs = Member(t, field);
      if (!rs || !rs->IsArray()) return;
      for (const auto& r : rs->GetArray()) {
        NodeSelectorRequirement req;
        req.key = Str(Member(r, "key"));
        if (topology) {
          req.op = SelectorOp::kIn;
        } else {
          auto op = ParseOp(GetString(r, "operator").value_or(""));
          if (!op) continue;
          req.op = *op;
        }
        if (const JsonValue* vs = Member(r, "values"); vs && vs->IsArray()) {
          for (const auto& v : vs->GetArray()) req.values.push_back(Str(&v));
        }
        into->push_back(std::move(req));
      }
    };
    if (topology) {
      reqs("matchLabelExpressions", &term.match_expressions);
    } else {
      reqs("matchExpressions", &term.match_expressions);
      reqs("matchFields", &term.match_fields);
    }
    out.push_back(std::move(term));
  }
  return out;
}

bool RequirementMatches(const NodeSelectorRequirement& r, const std::string* value) {
  auto has = [&](const std::string& v) { return std::find(r.values.begin(), r.values.end(), v) != r.values.end(); };
  switch (r.op) {
    case SelectorOp::kIn: return value && has(*value);
    case SelectorOp::kNotIn: return !value || !has(*value);
    case SelectorOp::kExists: return value != nullptr;
    case SelectorOp::kDoesNotExist: return value == nullptr;
    case SelectorOp::kGt:
    case SelectorOp::kLt: {
      if (!value || r.values.size() != 1) return false;
      char* end = nullptr;
      long long have = std::strtoll(value->c_str(), &end, 10);
      if (end == value->c_str() || *end) return false;
      long long want = std::strtoll(r.values[0].c_str(), &end, 10);
      if (end == r.values[0].c_str() || *end) return false;
      return r.op == SelectorOp::kGt ? have > want : have < want;
    }
  }
  return false;
}

// True when any term matches the node (an empty term matches nothing).
bool TermsMatch(const std::vector<NodeSelectorTerm>& terms, const NodeInfo& node) {
  for (const auto& t : terms) {
    if (t.match_expressions.empty() && t.match_fields.empty()) continue;
    bool ok = true;
    for (const auto& r : t.match_expressions) {
      auto it = node.labels.find(r.key);
      if (!RequirementMatches(r, it == node.labels.end() ? nullptr : &it->second)) {
        ok = false;
        break;
      }
    }
    for (size_t i = 0; ok && i < t.match_fields.size(); ++i) {
      const auto& r = t.match_fields[i];
      ok = r.key == "metadata.name" && RequirementMatches(r, &node.name);
    }
    if (ok) return true;
  }
  return false;
}

bool SameTaints(const std::vector<Taint>& a, const std::vector<Taint>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].key != b[i].key || a[i].value != b[i].value || a[i].effect != b[i].effect) return false;
  }
  return true;
}

bool SameResources(const Resources& a, const Resources& b) {
  return a.milli_cpu == b.milli_cpu && a.memory == b.memory && a.ephemeral_storage == b.ephemeral_storage &&
         a.scalar == b.scalar;
}

// status.conditions with `type` set to the given values (lastTransitionTime kept when the status
// does not change), as a new array; *changed tells whether anything differs.
JsonValue ConditionsWith(const JsonValue& pod, std::string_view type, std::string_view status,
                         std::string_view reason, std::string_view message, const std::string& now, JsonAlloc& a,
                         bool* changed) {
  JsonValue out(rapidjson::kArrayType);
  bool found = false;
  *changed = true;
  const JsonValue* conds = Path(pod, {"status", "conditions"});
  auto make = [&](const std::string& transition) {
    JsonValue c(rapidjson::kObjectType);
    c.AddMember("type", MakeString(type, a), a);
    c.AddMember("status", MakeString(status, a), a);
    c.AddMember("lastProbeTime", JsonValue(rapidjson::kNullType), a);
    c.AddMember("lastTransitionTime", MakeString(transition, a), a);
    if (!reason.empty()) c.AddMember("reason", MakeString(reason, a), a);
    if (!message.empty()) c.AddMember("message", MakeString(message, a), a);
    return c;
  };
  if (conds && conds->IsArray()) {
    for (const auto& c : conds->GetArray()) {
      if (GetString(c, "type") != std::optional<std::string_view>(type)) {
        out.PushBack(Clone(c, a), a);
        continue;
      }
      found = true;
      bool same_status = GetString(c, "status") == std::optional<std::string_view>(status);
      if (same_status && GetString(c, "reason").value_or("") == reason &&
          GetString(c, "message").value_or("") == message) {
        *changed = false;
        out.PushBack(Clone(c, a), a);
        continue;
      }
      std::string transition = same_status ? Str(Member(c, "lastTransitionTime")) : now;
      if (transition.empty()) transition = now;
      out.PushBack(make(transition), a);
    }
  }
  if (!found) out.PushBack(make(now), a);
  return out;
}

void LogError(std::string_view what, const StatusOr<JsonDoc>& r) {
  if (!r.ok() && !r.error().IsNotFound()) MINIK_LOG(Warning) << "scheduler: " << what << ": " << r.error().ToString();
}

}  // namespace

SchedulerLoop::SchedulerLoop(client::ApiClient& client, client::SharedInformerFactory& informers,
                             client::Timers& timers, controllers::EventRecorder& events, SchedulerLoopOptions options)
    : client_(client),
      informers_(informers),
      timers_(timers),
      events_(events),
      options_(std::move(options)),
      pods_(informers.For(kPods)),
      nodes_(informers.For(kNodes)),
      pvcs_(informers.For(kPvcs)),
      pvs_(informers.For(kPvs)),
      classes_(informers.For(kStorageClasses)),
      cache_([this] {
        Options o = options_.cache;
        o.namespace_labels = [this](std::string_view ns) -> const Labels* {
          auto it = namespace_labels_.find(std::string(ns));
          return it == namespace_labels_.end() ? nullptr : &it->second;
        };
        o.volume_filter = [this](const PodInfo&, const NodeInfo& node, NodeStatus* st) {
          return VolumeFilter(node, st);
        };
        return o;
      }()),
      queue_(timers, options_.queue),
      alive_(std::make_shared<bool>(true)) {
  queue_.SetOnActive([this] { KickScheduling(); });
  auto add = [this](client::Informer& inf, client::EventHandlers h) {
    handlers_.emplace_back(&inf, inf.AddEventHandler(std::move(h)));
  };
  add(pods_, {[this](const client::ObjectPtr& o) { OnPodAdd(o); },
              [this](const client::ObjectPtr& o, const client::ObjectPtr& n) { OnPodUpdate(o, n); },
              [this](const client::ObjectPtr& o, bool) { OnPodDelete(o); }});
  add(nodes_, {[this](const client::ObjectPtr& o) { OnNodeAdd(o); },
               [this](const client::ObjectPtr&, const client::ObjectPtr& n) { OnNodeUpdate(n); },
               [this](const client::ObjectPtr& o, bool) { OnNodeDelete(o); }});
  add(pvcs_, {[this](const client::ObjectPtr& o) { OnPvc(o, false); },
              [this](const client::ObjectPtr&, const client::ObjectPtr& n) { OnPvc(n, false); },
              [this](const client::ObjectPtr& o, bool) { OnPvc(o, true); }});
  add(pvs_, {[this](const client::ObjectPtr& o) { OnPv(o, false); },
             [this](const client::ObjectPtr&, const client::ObjectPtr& n) { OnPv(n, false); },
             [this](const client::ObjectPtr& o, bool) { OnPv(o, true); }});
  add(classes_, {[this](const client::ObjectPtr&) { MoveAll(kEventVolume); },
                 [this](const client::ObjectPtr&, const client::ObjectPtr&) { MoveAll(kEventVolume); }, nullptr});
  auto pdb = [this](const client::ObjectPtr& o) {
    auto p = ParsePdb(*o);
    if (p.ok()) pdbs_[client::ObjectKey(*o)] = std::move(p).value();
  };
  add(informers.For(kPdbs), {pdb, [pdb](const client::ObjectPtr&, const client::ObjectPtr& n) { pdb(n); },
                             [this](const client::ObjectPtr& o, bool) { pdbs_.erase(client::ObjectKey(*o)); }});
  auto pc = [this](const client::ObjectPtr& o) {
    std::string name(client::MetaString(*o, "name"));
    priority_classes_[name] = static_cast<int32_t>(GetInt(*o, "value").value_or(0));
    if (GetBool(*o, "globalDefault").value_or(false)) {
      default_priority_class_ = name;
    } else if (default_priority_class_ == name) {
      default_priority_class_.clear();
    }
  };
  add(informers.For(kPriorityClasses),
      {pc, [pc](const client::ObjectPtr&, const client::ObjectPtr& n) { pc(n); },
       [this](const client::ObjectPtr& o, bool) {
         std::string name(client::MetaString(*o, "name"));
         priority_classes_.erase(name);
         if (default_priority_class_ == name) default_priority_class_.clear();
       }});
  auto ns = [this](const client::ObjectPtr& o) {
    Labels l;
    if (const JsonValue* m = Path(*o, {"metadata", "labels"}); m && m->IsObject()) {
      for (auto it = m->MemberBegin(); it != m->MemberEnd(); ++it) {
        if (it->value.IsString()) l.emplace(it->name.GetString(), it->value.GetString());
      }
    }
    namespace_labels_[std::string(client::MetaString(*o, "name"))] = std::move(l);
    MoveAll(kEventAssignedPodLabel);  // namespaceSelector terms may match now (InterPodAffinity)
  };
  add(informers.For(kNamespaces),
      {ns, [ns](const client::ObjectPtr&, const client::ObjectPtr& n) { ns(n); },
       [this](const client::ObjectPtr& o, bool) { namespace_labels_.erase(std::string(client::MetaString(*o, "name"))); }});
}

SchedulerLoop::~SchedulerLoop() {
  *alive_ = false;
  for (auto& [inf, id] : handlers_) inf->RemoveEventHandler(id);
}

void SchedulerLoop::Start() {
  if (started_) return;
  started_ = true;
  std::weak_ptr<bool> alive = alive_;
  informers_.OnSynced([this, alive] {
    if (alive.expired()) return;
    synced_ = true;
    KickScheduling();
  });
}

void SchedulerLoop::Stop() { started_ = false; }

// ---- informer handlers ----------------------------------------------------------------------

bool SchedulerLoop::Responsible(const JsonValue& pod) const {
  const JsonValue* v = Path(pod, {"spec", "schedulerName"});
  if (!v || !v->IsString() || v->GetStringLength() == 0) return options_.scheduler_name == kDefaultSchedulerName;
  return options_.scheduler_name == std::string_view(v->GetString(), v->GetStringLength());
}

PodInfoPtr SchedulerLoop::Parse(const JsonValue& pod) {
  auto p = ParsePod(pod, &interner_);
  if (!p.ok()) {
    MINIK_LOG(Warning) << "scheduler: pod " << client::ObjectKey(pod) << ": " << p.error().ToString();
    return nullptr;
  }
  const JsonValue* prio = Path(pod, {"spec", "priority"});
  if (!prio || prio->IsNull()) {
    // Admission resolves spec.priority from the PriorityClass; stand in for it when it did not.
    std::string cls = Str(Path(pod, {"spec", "priorityClassName"}));
    if (cls.empty()) cls = default_priority_class_;
    auto it = priority_classes_.find(cls);
    if (it != priority_classes_.end() && it->second != (*p)->priority) {
      auto copy = std::make_shared<PodInfo>(**p);
      copy->priority = it->second;
      return copy;
    }
  }
  return std::move(p).value();
}

void SchedulerLoop::MoveAll(uint32_t event) { queue_.MoveAllToActiveOrBackoff(event); }

void SchedulerLoop::AddAssignedPod(const client::ObjectPtr& obj) {
  PodInfoPtr info = Parse(*obj);
  if (!info) return;
  cache_.AddPod(std::move(info));
  MoveAll(kEventAssignedPodAdd);
}

void SchedulerLoop::EraseAssumed(const std::string& uid) {
  auto it = assumed_.find(uid);
  if (it == assumed_.end()) return;
  for (const auto& claim : it->second.waiting_claims) {
    auto w = waiting_by_claim_.find(claim);
    if (w == waiting_by_claim_.end()) continue;
    w->second.erase(uid);
    if (w->second.empty()) waiting_by_claim_.erase(w);
  }
  assumed_.erase(it);
}

void SchedulerLoop::ForgetAssumed(const std::string& uid) {
  if (!assumed_.count(uid)) return;
  EraseAssumed(uid);
  cache_.RemovePod(uid);
}

void SchedulerLoop::OnPodAdd(const client::ObjectPtr& obj) {
  if (!NodeNameOf(*obj).empty()) {
    if (!Finished(*obj)) AddAssignedPod(obj);
    return;
  }
  if (!Responsible(*obj) || Finished(*obj)) return;
  if (assumed_.count(std::string(client::MetaString(*obj, "uid")))) return;
  if (PodInfoPtr info = Parse(*obj)) queue_.Add(std::move(info), obj);
}

void SchedulerLoop::OnPodUpdate(const client::ObjectPtr& old_obj, const client::ObjectPtr& obj) {
  const std::string uid(client::MetaString(*obj, "uid"));
  const std::string key = client::ObjectKey(*obj);
  std::string_view node = NodeNameOf(*obj);
  bool was_assigned = !NodeNameOf(*old_obj).empty();
  if (!node.empty()) {
    if (Finished(*obj)) {
      // A terminated pod frees its node (upstream's informer drops Succeeded/Failed pods).
      queue_.Delete(key);
      if (assumed_.count(uid)) {
        ForgetAssumed(uid);
      } else {
        cache_.RemovePod(uid);
      }
      MoveAll(kEventAssignedPodDelete);
      return;
    }
    if (!was_assigned) {
      // The binding, ours or someone else's, is confirmed.
      queue_.Delete(key);
      auto it = assumed_.find(uid);
      if (it != assumed_.end() && it->second.node == node) {
        EraseAssumed(uid);  // the assumed PodInfo stays in the Cache as the bound pod
        MoveAll(kEventAssignedPodAdd);
        return;
      }
      ForgetAssumed(uid);
      AddAssignedPod(obj);
      return;
    }
    // An assigned pod changed: re-account it only when what the scheduler reads changed.
    bool labels = !SameMember(*old_obj, *obj, {"metadata", "labels"});
    bool spec = !SameMember(*old_obj, *obj, {"spec"});
    bool other = Deleting(*old_obj) != Deleting(*obj) || !SameMember(*old_obj, *obj, {"status", "startTime"}) ||
                 node != NodeNameOf(*old_obj);
    if (!labels && !spec && !other) return;
    if (PodInfoPtr info = Parse(*obj)) cache_.AddPod(std::move(info));
    uint32_t ev = 0;
    if (labels) ev |= kEventAssignedPodLabel;
    if (spec) ev |= kEventAssignedPodDelete;  // e.g. resources scaled down
    if (ev) MoveAll(ev);
    return;
  }
  if (was_assigned) return;  // nodeName cannot be unset
  if (assumed_.count(uid)) return;
  if (!Responsible(*obj) || Finished(*obj)) {
    queue_.Delete(key);
    return;
  }
  bool relevant = !SameMember(*old_obj, *obj, {"spec"}) || !SameMember(*old_obj, *obj, {"metadata", "labels"});
  if (PodInfoPtr info = Parse(*obj)) queue_.Update(std::move(info), obj, relevant);
}

void SchedulerLoop::OnPodDelete(const client::ObjectPtr& obj) {
  const std::string uid(client::MetaString(*obj, "uid"));
  queue_.Delete(client::ObjectKey(*obj));
  if (assumed_.count(uid)) {
    ForgetAssumed(uid);
  } else if (!NodeNameOf(*obj).empty()) {
    cache_.RemovePod(uid);
  } else {
    return;
  }
  MoveAll(kEventAssignedPodDelete);
}

void SchedulerLoop::OnNodeAdd(const client::ObjectPtr& obj) {
  auto n = ParseNode(*obj);
  if (!n.ok()) {
    MINIK_LOG(Warning) << "scheduler: node " << client::ObjectKey(*obj) << ": " << n.error().ToString();
    return;
  }
  bool existed = cache_.GetNode(n->name) != nullptr;
  if (existed) return OnNodeUpdate(obj);
  cache_.UpsertNode(std::move(n).value());
  MoveAll(kEventNodeAdd);
}

void SchedulerLoop::OnNodeUpdate(const client::ObjectPtr& obj) {
  auto n = ParseNode(*obj);
  if (!n.ok()) {
    MINIK_LOG(Warning) << "scheduler: node " << client::ObjectKey(*obj) << ": " << n.error().ToString();
    return;
  }
  const NodeInfo* cur = cache_.GetNode(n->name);
  if (!cur) {
    cache_.UpsertNode(std::move(n).value());
    MoveAll(kEventNodeAdd);
    return;
  }
  uint32_t ev = 0;
  if (cur->labels != n->labels) ev |= kEventNodeLabel;
  if (!SameTaints(cur->taints, n->taints) || cur->unschedulable != n->unschedulable) ev |= kEventNodeTaint;
  if (!SameResources(cur->allocatable, n->allocatable) || cur->allowed_pods != n->allowed_pods)
    ev |= kEventNodeAllocatable;
  if (!ev) return;  // a heartbeat or a condition the filters do not read
  cache_.UpsertNode(std::move(n).value());
  MoveAll(ev);
}

void SchedulerLoop::OnNodeDelete(const client::ObjectPtr& obj) {
  cache_.RemoveNode(client::MetaString(*obj, "name"));
  MoveAll(kEventNodeDelete);
}

void SchedulerLoop::OnPvc(const client::ObjectPtr& obj, bool deleted) {
  std::string key = client::ObjectKey(*obj);
  if (!deleted) {
    auto w = waiting_by_claim_.find(key);
    if (w != waiting_by_claim_.end()) {
      std::vector<std::string> uids(w->second.begin(), w->second.end());
      for (const auto& uid : uids) CheckVolumesBound(uid);
    }
  }
  MoveAll(kEventVolume);
}

void SchedulerLoop::OnPv(const client::ObjectPtr& obj, bool deleted) {
  std::string name(client::MetaString(*obj, "name"));
  if (deleted) {
    pv_infos_.erase(name);
  } else {
    PvInfo pv;
    pv.name = name;
    pv.storage_class = Str(Path(*obj, {"spec", "storageClassName"}));
    if (const JsonValue* ref = Path(*obj, {"spec", "claimRef"}); ref && ref->IsObject()) {
      pv.claim_key = client::ObjectKey(GetString(*ref, "namespace").value_or(""), GetString(*ref, "name").value_or(""));
    }
    pv.phase = Str(Path(*obj, {"status", "phase"}));
    if (const JsonValue* cap = Path(*obj, {"spec", "capacity", "storage"})) pv.capacity = QuantityValue(*cap).value_or(0);
    if (const JsonValue* terms = Path(*obj, {"spec", "nodeAffinity", "required", "nodeSelectorTerms"})) {
      pv.affinity = ParseTerms(terms, false);
      pv.has_affinity = true;
    }
    pv_infos_[name] = std::move(pv);
  }
  MoveAll(kEventVolume);
}

// ---- scheduling -----------------------------------------------------------------------------

void SchedulerLoop::KickScheduling() {
  if (!started_ || !synced_ || batch_posted_ || queue_.active() == 0) return;
  batch_posted_ = true;
  std::weak_ptr<bool> alive = alive_;
  timers_.Post([this, alive] {
    if (alive.expired()) return;
    batch_posted_ = false;
    RunBatch();
  });
}

void SchedulerLoop::RunBatch() {
  for (int i = 0; i < options_.batch && started_ && synced_; ++i) {
    QueuedPodPtr qp = queue_.Pop();
    if (!qp) break;
    ScheduleOne(std::move(qp));
  }
  KickScheduling();
}

void SchedulerLoop::ScheduleOne(QueuedPodPtr qp) {
  ++attempts_;
  const std::string key = qp->key;
  // The informer's current version (upstream schedules the pod it popped; a newer one avoids a
  // useless attempt).
  client::ObjectPtr obj = pods_.Get(key);
  if (!obj || client::MetaString(*obj, "uid") != qp->info->uid || !NodeNameOf(*obj).empty() || Finished(*obj) ||
      !Responsible(*obj)) {
    queue_.Done(key);
    if (obj && client::MetaString(*obj, "uid") != qp->info->uid) OnPodAdd(obj);  // a new pod with that name
    return;
  }
  if (obj != qp->obj) {
    PodInfoPtr info = Parse(*obj);
    if (!info) {
      queue_.Done(key);
      return;
    }
    qp->info = std::move(info);
    qp->obj = obj;
  }
  const std::string& uid = qp->info->uid;
  if (Deleting(*obj)) {
    queue_.Done(key);
    PodEvent(*obj, controllers::kEventTypeWarning, "FailedScheduling",
             "skip schedule deleting pod: " + qp->info->namespace_ + "/" + qp->info->name);
    return;
  }
  if (assumed_.count(uid)) {
    queue_.Done(key);
    return;
  }

  ScheduleResult r;
  std::string vol_msg = PrepareVolumes(*obj);
  if (!vol_msg.empty()) {
    r.num_all_nodes = static_cast<int>(cache_.num_nodes());
    r.prefilter_message = vol_msg;
    r.absent_status = NodeStatus{Code::kUnschedulableAndUnresolvable, "VolumeBinding", {vol_msg}};
  } else {
    r = cache_.Schedule(*qp->info);
  }
  if (!r.ok()) {
    HandleFailure(std::move(qp), r);
    vol_ = VolumeState{};
    return;
  }

  // Assume, then bind in the background.
  cache_.AssumePod(qp->info, r.node);
  queue_.Done(key);
  Assumed& a = assumed_[uid];
  a.key = key;
  a.node = r.node;
  a.obj = obj;
  for (const auto& u : vol_.unbound) a.waiting_claims.push_back(u.claim_key);
  vol_ = VolumeState{};
  a.qp = std::move(qp);
  if (a.waiting_claims.empty()) {
    PostBinding(uid);
    return;
  }
  // WaitForFirstConsumer: tell the provisioner / PV controller the node, then wait for Bound.
  std::weak_ptr<bool> alive = alive_;
  a.timeout = timers_.After(static_cast<uint64_t>(options_.bind_timeout_ms), [this, alive, uid] {
    if (alive.expired()) return;
    BindingFailed(uid, std::string(kPreBindPrefix) + "context deadline exceeded");
  });
  std::vector<std::string> claims = a.waiting_claims;
  std::string node = a.node;
  for (const auto& c : claims) waiting_by_claim_[c].insert(uid);
  for (const auto& c : claims) {
    client::ObjectPtr pvc = pvcs_.Get(c);
    if (pvc && Str(Path(*pvc, {"metadata", "annotations", kSelectedNodeAnnotation})) == node) continue;
    std::string ns, name;
    client::SplitKey(c, &ns, &name);
    JsonDoc patch(rapidjson::kObjectType);
    auto& al = patch.GetAllocator();
    SetString(EnsureObject(EnsureObject(patch, "metadata", al), "annotations", al), kSelectedNodeAnnotation, node, al);
    client_.Patch(kPvcs, ns, name, client::PatchType::kMerge, ToJson(patch), "",
                  [](StatusOr<JsonDoc> r) { LogError("annotating claim", r); });
  }
  CheckVolumesBound(uid);
}

void SchedulerLoop::CheckVolumesBound(const std::string& uid) {
  auto it = assumed_.find(uid);
  if (it == assumed_.end() || it->second.waiting_claims.empty()) return;
  Assumed& a = it->second;
  bool all_bound = true;
  for (const auto& c : a.waiting_claims) {
    client::ObjectPtr pvc = pvcs_.Get(c);
    std::string name = c.substr(c.find('/') + 1);
    if (!pvc) {
      return BindingFailed(uid, std::string(kPreBindPrefix) + "persistentvolumeclaim \"" + name + "\" not found");
    }
    const JsonValue* phase = Path(*pvc, {"status", "phase"});
    if (phase && phase->IsString() && std::string_view(phase->GetString()) == "Bound") continue;
    all_bound = false;
    // The provisioner removes the annotation to ask for another node (upstream: "selectedNode
    // annotation reset"); only an annotation this loop has seen can be reset.
    bool annotated = Str(Path(*pvc, {"metadata", "annotations", kSelectedNodeAnnotation})) == a.node;
    if (annotated) {
      a.annotated.insert(c);
    } else if (a.annotated.count(c)) {
      return BindingFailed(uid, std::string(kPreBindPrefix) + "selectedNode annotation reset for PVC \"" +
                                    name + "\"");
    }
  }
  if (!all_bound) return;
  // Every claim is Bound: bind the pod.
  for (const auto& c : a.waiting_claims) {
    auto w = waiting_by_claim_.find(c);
    if (w == waiting_by_claim_.end()) continue;
    w->second.erase(uid);
    if (w->second.empty()) waiting_by_claim_.erase(w);
  }
  a.waiting_claims.clear();
  a.annotated.clear();
  a.timeout.reset();
  PostBinding(uid);
}

void SchedulerLoop::PostBinding(const std::string& uid) {
  auto it = assumed_.find(uid);
  if (it == assumed_.end()) return;
  Assumed& a = it->second;
  a.binding = true;
  ++binds_in_flight_;
  const PodInfo& p = *a.qp->info;
  char buffer[1024];  // the Binding fits: no heap chunk for this short-lived document
  JsonAlloc pool(buffer, sizeof(buffer));
  JsonDoc b(rapidjson::kObjectType, &pool);
  auto& al = b.GetAllocator();
  SetString(b, "apiVersion", "v1", al);
  SetString(b, "kind", "Binding", al);
  JsonValue md(rapidjson::kObjectType);
  SetString(md, "name", p.name, al);
  SetString(md, "namespace", p.namespace_, al);
  SetString(md, "uid", p.uid, al);
  b.AddMember("metadata", md, al);
  JsonValue target(rapidjson::kObjectType);
  SetString(target, "apiVersion", "v1", al);
  SetString(target, "kind", "Node", al);
  SetString(target, "name", a.node, al);
  b.AddMember("target", target, al);
  // POST .../pods/<name>/binding: the ApiClient has no create on a subresource, so the
  // subresource is spelled into the resource path (RestApiClient builds the same URL).
  client::ResourceRef res{"", "v1", "pods/" + p.name + "/binding"};
  std::weak_ptr<bool> alive = alive_;
  client::ObjectPtr obj = a.obj;
  std::string node = a.node;
  client_.Create(res, p.namespace_, b, [this, alive, uid, obj, node](StatusOr<JsonDoc> r) {
    if (alive.expired()) return;
    --binds_in_flight_;
    if (!r.ok()) {
      BindingFailed(uid, "running Bind plugin \"DefaultBinder\": " + r.error().message());
      return;
    }
    ++bound_;
    if (auto it = assumed_.find(uid); it != assumed_.end()) {
      it->second.binding = false;
      it->second.qp.reset();
    }
    PodEvent(*obj, controllers::kEventTypeNormal, "Scheduled",
             "Successfully assigned " + std::string(client::MetaString(*obj, "namespace")) + "/" +
                 std::string(client::MetaString(*obj, "name")) + " to " + node);
  });
}

void SchedulerLoop::BindingFailed(const std::string& uid, const std::string& message) {
  auto it = assumed_.find(uid);
  if (it == assumed_.end() || !it->second.qp) return;
  QueuedPodPtr qp = std::move(it->second.qp);
  ForgetAssumed(uid);
  // Forgetting the assumption frees the node (upstream treats it as an assigned pod delete).
  MoveAll(kEventAssignedPodDelete);
  client::ObjectPtr obj = pods_.Get(qp->key);
  if (!obj || client::MetaString(*obj, "uid") != uid || !NodeNameOf(*obj).empty()) return;
  if (obj != qp->obj) {
    if (PodInfoPtr info = Parse(*obj)) qp->info = std::move(info);
    qp->obj = obj;
  }
  queue_.Requeue(std::move(qp), false, kEventAll);
  RecordFailure(obj, "SchedulerError", message, std::string());
}

void SchedulerLoop::HandleFailure(QueuedPodPtr qp, const ScheduleResult& r) {
  client::ObjectPtr obj = qp->obj;
  std::string message;
  std::optional<std::string> nominated;
  PreemptionResult pr;
  if (r.num_all_nodes == 0) {
    message = "no nodes available to schedule pods";
    nominated = std::string();
  } else {
    std::vector<PdbInfo> pdbs;
    pdbs.reserve(pdbs_.size());
    for (const auto& [k, p] : pdbs_) pdbs.push_back(p);
    pr = cache_.Preempt(*qp->info, r, pdbs);
    message = FitErrorMessage(r, pr.ok() ? std::string_view() : std::string_view(pr.message));
    if (pr.ok()) {
      nominated = pr.nominated_node;
    } else if (pr.message.rfind("preemption: not eligible", 0) != 0) {
      nominated = std::string();  // no candidate: clear a stale nomination
    }
  }
  uint32_t events = EventsForFailure(r);
  std::string preemptor_uid = qp->info->uid;
  // Requeue before writing: with a synchronous client the writes' watch events come back
  // inline and must find the pod in the queue.
  queue_.Requeue(std::move(qp), true, events);
  if (pr.ok()) {
    for (const auto& v : pr.victims) {
      client::ObjectPtr victim = pods_.Get(v->namespace_, v->name);
      if (!victim || client::MetaString(*victim, "uid") != v->uid) continue;
      std::string ns = v->namespace_, name = v->name, node = pr.nominated_node;
      std::weak_ptr<bool> alive = alive_;
      auto del = [this, alive, victim, ns, name, node, preemptor_uid] {
        if (alive.expired()) return;
        client::DeleteOptions opts;
        opts.precondition_uid = std::string(client::MetaString(*victim, "uid"));
        client_.Delete(kPods, ns, name, opts, [this, alive, victim, node, preemptor_uid](StatusOr<JsonDoc> r) {
          if (alive.expired()) return;
          if (!r.ok()) {
            LogError("preempting pod", r);
            return;
          }
          PodEvent(*victim, controllers::kEventTypeNormal, "Preempted",
                   "Preempted by pod " + preemptor_uid + " on node " + node);
        });
      };
      JsonDoc patch(rapidjson::kObjectType);
      auto& al = patch.GetAllocator();
      bool changed = false;
      JsonValue conds = ConditionsWith(*victim, "DisruptionTarget", "True", "PreemptionByScheduler",
                                       options_.scheduler_name + ": preempting to accommodate a higher priority pod",
                                       FormatRFC3339(timers_.clock().Now()), al, &changed);
      if (!changed) {
        del();
        continue;
      }
      EnsureObject(patch, "status", al).AddMember("conditions", conds, al);
      client_.Patch(kPods, ns, name, client::PatchType::kStrategicMerge, ToJson(patch), "status",
                    [del](StatusOr<JsonDoc> r) {
                      LogError("adding DisruptionTarget condition", r);
                      if (r.ok()) del();
                    });
    }
  }
  RecordFailure(obj, "Unschedulable", message, nominated);
}

void SchedulerLoop::RecordFailure(const client::ObjectPtr& pod, const std::string& reason, const std::string& message,
                                  const std::optional<std::string>& nominated) {
  PodEvent(*pod, controllers::kEventTypeWarning, "FailedScheduling", Truncate(message));
  // The PodScheduled condition and nominatedNodeName, patched only when they change.
  client::ObjectPtr cur = pods_.Get(client::ObjectKey(*pod));
  if (!cur || client::MetaString(*cur, "uid") != client::MetaString(*pod, "uid")) return;
  JsonDoc patch(rapidjson::kObjectType);
  auto& a = patch.GetAllocator();
  bool cond_changed = false;
  JsonValue conds =
      ConditionsWith(*cur, "PodScheduled", "False", reason, message, FormatRFC3339(timers_.clock().Now()), a, &cond_changed);
  std::string cur_nominated = Str(Path(*cur, {"status", "nominatedNodeName"}));
  bool nnn_changed = nominated && *nominated != cur_nominated;
  if (!cond_changed && !nnn_changed) return;
  JsonValue& status = EnsureObject(patch, "status", a);
  if (cond_changed) status.AddMember("conditions", conds, a);
  if (nnn_changed) {
    if (nominated->empty()) {
      status.AddMember("nominatedNodeName", JsonValue(rapidjson::kNullType), a);
    } else {
      SetString(status, "nominatedNodeName", *nominated, a);
    }
  }
  client_.Patch(kPods, std::string(client::MetaString(*cur, "namespace")), std::string(client::MetaString(*cur, "name")),
                client::PatchType::kStrategicMerge, ToJson(patch), "status",
                [](StatusOr<JsonDoc> r) { LogError("updating pod condition", r); });
}

void SchedulerLoop::PodEvent(const JsonValue& pod, std::string_view type, std::string_view reason,
                             std::string_view message) {
  if (GetString(pod, "kind")) {
    events_.EventFrom(options_.scheduler_name, pod, type, reason, message);
    return;
  }
  // List items carry no kind: the recorder needs the reference fields only.
  JsonDoc ref(rapidjson::kObjectType);
  auto& a = ref.GetAllocator();
  SetString(ref, "apiVersion", "v1", a);
  SetString(ref, "kind", "Pod", a);
  JsonValue md(rapidjson::kObjectType);
  for (const char* f : {"name", "namespace", "uid", "resourceVersion"}) {
    std::string_view v = client::MetaString(pod, f);
    if (!v.empty()) SetString(md, f, v, a);
  }
  ref.AddMember("metadata", md, a);
  events_.EventFrom(options_.scheduler_name, ref, type, reason, message);
}

// ---- volumes (VolumeBinding) ----------------------------------------------------------------

std::string SchedulerLoop::PrepareVolumes(const JsonValue& pod) {
  vol_ = VolumeState{};
  const JsonValue* vols = Path(pod, {"spec", "volumes"});
  if (!vols || !vols->IsArray()) return {};
  std::string ns(client::MetaString(pod, "namespace"));
  std::string pod_name(client::MetaString(pod, "name"));
  bool unbound_immediate = false;
  for (const auto& v : vols->GetArray()) {
    std::string claim;
    bool ephemeral = false;
    if (const JsonValue* pvc = Member(v, "persistentVolumeClaim"); pvc && pvc->IsObject()) {
      claim = Str(Member(*pvc, "claimName"));
    } else if (const JsonValue* eph = Member(v, "ephemeral"); eph && eph->IsObject()) {
      claim = pod_name + "-" + Str(Member(v, "name"));
      ephemeral = true;
    } else {
      continue;
    }
    client::ObjectPtr pvc = pvcs_.Get(ns, claim);
    if (!pvc) {
      if (ephemeral) return "waiting for ephemeral volume controller to create the persistentvolumeclaim \"" + claim + "\"";
      return "persistentvolumeclaim \"" + claim + "\" not found";
    }
    if (Deleting(*pvc)) return "persistentvolumeclaim \"" + claim + "\" is being deleted";
    std::string volume = Str(Path(*pvc, {"spec", "volumeName"}));
    if (!volume.empty()) {
      auto it = pv_infos_.find(volume);
      if (it == pv_infos_.end()) {
        vol_.missing_pv = true;
      } else if (it->second.has_affinity) {
        vol_.bound.push_back(&it->second);
      }
      continue;
    }
    std::string cls = Str(Path(*pvc, {"spec", "storageClassName"}));
    if (cls.empty()) cls = Str(Path(*pvc, {"metadata", "annotations", "volume.beta.kubernetes.io/storage-class"}));
    if (cls.empty()) {
      unbound_immediate = true;
      continue;
    }
    client::ObjectPtr sc = classes_.Get(cls);
    if (!sc) return "storageclass.storage.k8s.io \"" + cls + "\" not found";
    if (GetString(*sc, "volumeBindingMode").value_or("Immediate") != "WaitForFirstConsumer") {
      unbound_immediate = true;
      continue;
    }
    VolumeState::Unbound u;
    u.claim_key = client::ObjectKey(ns, claim);
    u.storage_class = cls;
    if (const JsonValue* q = Path(*pvc, {"spec", "resources", "requests", "storage"})) u.request = QuantityValue(*q).value_or(0);
    u.provision = GetString(*sc, "provisioner").value_or("") != "kubernetes.io/no-provisioner";
    u.allowed_topologies = ParseTerms(Member(*sc, "allowedTopologies"), true);
    vol_.unbound.push_back(std::move(u));
  }
  if (unbound_immediate) {
    vol_ = VolumeState{};
    return "pod has unbound immediate PersistentVolumeClaims";
  }
  vol_.active = vol_.missing_pv || !vol_.bound.empty() || !vol_.unbound.empty();
  return {};
}

bool SchedulerLoop::VolumeFilter(const NodeInfo& node, NodeStatus* st) const {
  if (!vol_.active) return true;
  std::vector<std::string> reasons;
  if (vol_.missing_pv) reasons.push_back("node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)");
  for (const PvInfo* pv : vol_.bound) {
    if (!TermsMatch(pv->affinity, node)) {
      reasons.push_back("node(s) had volume node affinity conflict");
      break;
    }
  }
  for (const auto& u : vol_.unbound) {
    bool ok = false;
    if (u.provision) {
      ok = u.allowed_topologies.empty() || TermsMatch(u.allowed_topologies, node);
    } else {
      for (const auto& [name, pv] : pv_infos_) {
        if (pv.storage_class != u.storage_class || pv.capacity < u.request) continue;
        if (!pv.claim_key.empty() && pv.claim_key != u.claim_key) continue;
        if (pv.phase != "Available" && pv.claim_key.empty()) continue;
        if (pv.has_affinity && !TermsMatch(pv.affinity, node)) continue;
        ok = true;
        break;
      }
    }
    if (!ok) {
      reasons.push_back("node(s) didn't find available persistent volumes to bind");
      break;
    }
  }
  if (reasons.empty()) return true;
  st->code = Code::kUnschedulableAndUnresolvable;
  st->plugin = "VolumeBinding";
  st->reasons = std::move(reasons);
  return false;
}

// ---- runner ---------------------------------------------------------------------------------

SchedulerRunner::SchedulerRunner(client::ApiClient& client, client::SharedInformerFactory& informers,
                                 client::Timers& timers, controllers::EventRecorder& events,
                                 SchedulerRunnerOptions options)
    : client_(client), informers_(informers), timers_(timers), events_(events), options_(std::move(options)) {}

SchedulerRunner::~SchedulerRunner() { Stop(); }

void SchedulerRunner::StartLoop() {
  if (loop_) return;
  loop_ = std::make_unique<SchedulerLoop>(client_, informers_, timers_, events_, options_.loop);
  informers_.Start();
  loop_->Start();
}

void SchedulerRunner::Start() {
  if (!options_.leader_elect) {
    StartLoop();
    return;
  }
  if (elector_) return;
  client::LeaderElectionConfig cfg;
  cfg.lease_namespace = "kube-system";
  cfg.lease_name = "kube-scheduler";
  cfg.identity = options_.identity;
  cfg.release_on_cancel = true;
  cfg.on_started_leading = [this] { StartLoop(); };
  cfg.on_stopped_leading = [this] {
    if (loop_) loop_->Stop();
    loop_.reset();
  };
  elector_ = std::make_unique<client::LeaderElector>(client_, timers_, std::move(cfg));
  elector_->Run();
}

void SchedulerRunner::Stop() {
  if (elector_) elector_->Stop();
  elector_.reset();
  if (loop_) loop_->Stop();
  loop_.reset();
}

}  // namespace minik::scheduler
