#include "server/controllers/garbage_collector.h"

#include <algorithm>
#include <deque>
#include <map>
#include <set>
#include <unordered_set>

#include "common/log.h"
#include "server/controllers/util.h"

namespace minik::controllers {
namespace {

using client::ObjectPtr;

constexpr char kForegroundFinalizer[] = "foregroundDeletion";
constexpr char kOrphanFinalizer[] = "orphan";
// Index of the owner uids other than the controller's (the built-in "owner" index has those).
constexpr char kOtherOwnersIndex[] = "gc-other-owners";
constexpr size_t kAbsentOwnerCacheSize = 1024;

struct GcResource {
  client::ResourceRef ref;
  const char* kind;
  bool namespaced;
};

const std::vector<GcResource>& Resources() {
  static const std::vector<GcResource> table = {
      {kPods, "Pod", true},
      {kReplicaSets, "ReplicaSet", true},
      {kDeployments, "Deployment", true},
      {kDaemonSets, "DaemonSet", true},
      {kStatefulSets, "StatefulSet", true},
      {kControllerRevisions, "ControllerRevision", true},
      {kJobs, "Job", true},
      {kCronJobs, "CronJob", true},
      {kServices, "Service", true},
      {kEndpoints, "Endpoints", true},
      {kEndpointSlices, "EndpointSlice", true},
      {kConfigMaps, "ConfigMap", true},
      {kSecrets, "Secret", true},
      {kPersistentVolumeClaims, "PersistentVolumeClaim", true},
      {kServiceAccounts, "ServiceAccount", true},
      {kReplicationControllers, "ReplicationController", true},
      {kPodDisruptionBudgets, "PodDisruptionBudget", true},
      {kHorizontalPodAutoscalers, "HorizontalPodAutoscaler", true},
      {kLeases, "Lease", true},
      {kNodes, "Node", false},
  };
  return table;
}

const JsonValue* OwnerRefs(const JsonValue& obj) {
  const JsonValue* refs = Path(obj, {"metadata", "ownerReferences"});
  return refs && refs->IsArray() && !refs->Empty() ? refs : nullptr;
}

bool HasFinalizer(const JsonValue& obj, std::string_view f) {
  const JsonValue* fins = Path(obj, {"metadata", "finalizers"});
  if (!fins || !fins->IsArray()) return false;
  for (const auto& x : fins->GetArray()) {
    if (x.IsString() && f == x.GetString()) return true;
  }
  return false;
}

// Being deleted in the foreground: its dependents go first.
bool IsDeletingDependents(const JsonValue& obj) { return IsBeingDeleted(obj) && HasFinalizer(obj, kForegroundFinalizer); }

std::vector<std::string> OtherOwnerUids(const JsonValue& obj) {
  std::vector<std::string> out;
  const JsonValue* refs = OwnerRefs(obj);
  if (!refs) return out;
  const JsonValue* ctrl = ControllerRef(obj);
  for (const auto& r : refs->GetArray()) {
    if (&r == ctrl) continue;
    if (auto uid = GetString(r, "uid")) out.emplace_back(*uid);
  }
  return out;
}

std::string_view GroupOf(std::string_view api_version) {
  auto slash = api_version.find('/');
  return slash == std::string_view::npos ? std::string_view() : api_version.substr(0, slash);
}

// {"metadata":{"resourceVersion":rv,"<field>":value}} (value null when empty), a JSON merge patch.
std::string MetaPatch(std::string_view rv, const char* field, const JsonValue& value) {
  JsonDoc p(rapidjson::kObjectType);
  auto& a = p.GetAllocator();
  JsonValue md(rapidjson::kObjectType);
  SetString(md, "resourceVersion", rv, a);
  JsonValue v = value.IsArray() && value.Empty() ? JsonValue() : Clone(value, a);
  md.AddMember(JsonValue(field, a), v, a);
  p.AddMember("metadata", md, a);
  return ToJson(p);
}

class GarbageCollector final : public Controller {
 public:
  explicit GarbageCollector(Context ctx) : Controller(ctx, "garbagecollector", 10) {
    const auto& table = Resources();
    for (size_t i = 0; i < table.size(); ++i) {
      client::Informer& inf = ctx.informers.For(table[i].ref);
      inf.AddIndexer(kOtherOwnersIndex, OtherOwnerUids);
      informers_.push_back(&inf);
      by_name_[table[i].ref.GroupResource()] = i;
      by_kind_[{table[i].ref.group, table[i].kind}] = i;
      client::EventHandlers h;
      h.on_add = [this, i](const ObjectPtr& o) {
        if (OwnerRefs(*o) || IsBeingDeleted(*o)) Enqueue(KeyOf(i, *o));
      };
      h.on_update = [this, i](const ObjectPtr& old_obj, const ObjectPtr& new_obj) {
        auto same = [](const JsonValue* a, const JsonValue* b) { return (!a && !b) || (a && b && JsonEqual(*a, *b)); };
        bool refs_changed = !same(OwnerRefs(*old_obj), OwnerRefs(*new_obj));
        bool deletion_changed =
            IsBeingDeleted(*old_obj) != IsBeingDeleted(*new_obj) ||
            !same(Path(*old_obj, {"metadata", "finalizers"}), Path(*new_obj, {"metadata", "finalizers"}));
        if (refs_changed || deletion_changed) Enqueue(KeyOf(i, *new_obj));
        // A removed or unblocked reference may be what a foreground deletion waits for.
        if (refs_changed) EnqueueOwners(*old_obj);
      };
      h.on_delete = [this](const ObjectPtr& o, bool) {
        for (const auto& [j, dep] : Dependents(std::string(Uid(*o)))) Enqueue(KeyOf(j, *dep));
        EnqueueOwners(*o);
      };
      inf.AddEventHandler(std::move(h));
    }
  }

  void Reconcile(const std::string& key, Done done) override {
    auto bar = key.find('|');
    if (bar == std::string::npos) return done(Status::OK());
    auto r = by_name_.find(key.substr(0, bar));
    if (r == by_name_.end()) return done(Status::OK());
    size_t i = r->second;
    ObjectPtr obj = informers_[i]->Get(key.substr(bar + 1));
    if (!obj) return done(Status::OK());
    if (IsBeingDeleted(*obj)) {
      if (HasFinalizer(*obj, kOrphanFinalizer)) return OrphanDependents(i, obj, std::move(done));
      if (HasFinalizer(*obj, kForegroundFinalizer)) return ProcessDeletingDependents(i, obj, std::move(done));
      return done(Status::OK());  // on its way out; its dependents are handled once it is gone
    }
    const JsonValue* refs = OwnerRefs(*obj);
    if (!refs) return done(Status::OK());
    // From the cache: nothing to do while every owner is present and not deleting dependents.
    bool suspect = false;
    for (const auto& ref : refs->GetArray()) {
      const GcResource* res = ResourceOf(ref);
      if (!res) continue;  // a kind this collector does not follow: assumed present
      if (res->namespaced && Namespace(*obj).empty()) continue;  // invalid reference: never acted on
      ObjectPtr owner = CachedOwner(*res, ref, Namespace(*obj));
      if (!owner || IsDeletingDependents(*owner)) suspect = true;
    }
    if (!suspect) return done(Status::OK());
    AttemptToDelete(i, obj, std::move(done));
  }

 private:
  enum class Ref { kSolid, kDangling, kWaiting };

  std::string KeyOf(size_t i, const JsonValue& obj) const {
    return Resources()[i].ref.GroupResource() + "|" + client::ObjectKey(obj);
  }

  const GcResource* ResourceOf(const JsonValue& ref) const {
    auto it = by_kind_.find({std::string(GroupOf(GetString(ref, "apiVersion").value_or(""))),
                             std::string(GetString(ref, "kind").value_or(""))});
    return it == by_kind_.end() ? nullptr : &Resources()[it->second];
  }
  size_t IndexOf(const GcResource& res) const { return static_cast<size_t>(&res - Resources().data()); }

  // The owner named by ref in the cache, when its uid matches.
  ObjectPtr CachedOwner(const GcResource& res, const JsonValue& ref, std::string_view dependent_ns) const {
    std::string name(GetString(ref, "name").value_or(""));
    ObjectPtr o = informers_[IndexOf(res)]->Get(res.namespaced ? std::string(dependent_ns) : std::string(), name);
    if (!o || Uid(*o) != GetString(ref, "uid").value_or("")) return nullptr;
    return o;
  }

  std::vector<std::pair<size_t, ObjectPtr>> Dependents(const std::string& uid) const {
    std::vector<std::pair<size_t, ObjectPtr>> out;
    if (uid.empty()) return out;
    for (size_t j = 0; j < informers_.size(); ++j) {
      std::set<std::string> seen;
      for (const char* index : {client::kOwnerIndex, kOtherOwnersIndex}) {
        for (auto& o : informers_[j]->ByIndex(index, uid)) {
          if (seen.insert(client::ObjectKey(*o)).second) out.emplace_back(j, std::move(o));
        }
      }
    }
    return out;
  }

  void EnqueueOwners(const JsonValue& obj) {
    const JsonValue* refs = OwnerRefs(obj);
    if (!refs) return;
    for (const auto& ref : refs->GetArray()) {
      const GcResource* res = ResourceOf(ref);
      if (!res) continue;
      Enqueue(res->ref.GroupResource() + "|" +
              client::ObjectKey(res->namespaced ? Namespace(obj) : std::string_view(),
                                GetString(ref, "name").value_or("")));
    }
  }

  void RememberAbsent(const std::string& uid) {
    if (!absent_.insert(uid).second) return;
    absent_order_.push_back(uid);
    if (absent_order_.size() > kAbsentOwnerCacheSize) {
      absent_.erase(absent_order_.front());
      absent_order_.pop_front();
    }
  }

  // Upstream's attemptToDeleteItem: the live object, its owners classified (live GETs for those
  // missing from the cache), then delete it, or drop its dangling references.
  void AttemptToDelete(size_t i, const ObjectPtr& cached, Done done) {
    const GcResource& res = Resources()[i];
    std::string ns(Namespace(*cached)), name(Name(*cached)), uid(Uid(*cached));
    ctx_.client.Get(res.ref, ns, name, [this, i, ns, uid, done](StatusOr<JsonDoc> r) {
      if (!r.ok()) return done(r.error().IsNotFound() ? Status::OK() : r.status());
      auto live = std::make_shared<JsonDoc>(std::move(*r));
      if (Uid(*live) != uid || IsBeingDeleted(*live)) return done(Status::OK());
      const JsonValue* refs = OwnerRefs(*live);
      if (!refs) return done(Status::OK());
      auto classes = std::make_shared<std::vector<Ref>>(refs->Size(), Ref::kSolid);
      auto join = Join::Make([this, i, live, classes, done](Status st) {
        if (!st.ok()) return done(st);
        Decide(i, live, *classes, done);
      });
      for (size_t k = 0; k < refs->Size(); ++k) {
        const JsonValue& ref = (*refs)[static_cast<rapidjson::SizeType>(k)];
        const GcResource* owner_res = ResourceOf(ref);
        if (!owner_res || (owner_res->namespaced && ns.empty())) continue;
        std::string owner_uid(GetString(ref, "uid").value_or(""));
        if (absent_.count(owner_uid)) {
          (*classes)[k] = Ref::kDangling;
          continue;
        }
        if (ObjectPtr owner = CachedOwner(*owner_res, ref, ns)) {
          (*classes)[k] = IsDeletingDependents(*owner) ? Ref::kWaiting : Ref::kSolid;
          continue;
        }
        auto cb = join->Add();
        ctx_.client.Get(owner_res->ref, owner_res->namespaced ? ns : std::string(),
                        std::string(GetString(ref, "name").value_or("")),
                        [this, classes, k, owner_uid, cb](StatusOr<JsonDoc> o) {
                          if (!o.ok()) {
                            if (!o.error().IsNotFound()) return cb(o.status());
                            RememberAbsent(owner_uid);
                            (*classes)[k] = Ref::kDangling;
                            return cb(Status::OK());
                          }
                          if (Uid(*o) != owner_uid) {
                            RememberAbsent(owner_uid);
                            (*classes)[k] = Ref::kDangling;
                          } else {
                            (*classes)[k] = IsDeletingDependents(*o) ? Ref::kWaiting : Ref::kSolid;
                          }
                          cb(Status::OK());
                        });
      }
      join->Finish();
    });
  }

  void Decide(size_t i, const std::shared_ptr<JsonDoc>& live, const std::vector<Ref>& classes, Done done) {
    const GcResource& res = Resources()[i];
    std::string ns(Namespace(*live)), name(Name(*live));
    const JsonValue& refs = *OwnerRefs(*live);
    size_t solid = 0, dangling = 0, waiting = 0;
    for (Ref c : classes) {
      solid += c == Ref::kSolid;
      dangling += c == Ref::kDangling;
      waiting += c == Ref::kWaiting;
    }
    if (solid > 0) {
      if (dangling == 0 && waiting == 0) return done(Status::OK());
      // Keep the live owners; drop the references to absent and to foreground-deleting ones.
      JsonDoc keep(rapidjson::kArrayType);
      for (size_t k = 0; k < classes.size(); ++k) {
        if (classes[k] == Ref::kSolid) keep.PushBack(Clone(refs[static_cast<rapidjson::SizeType>(k)], keep.GetAllocator()), keep.GetAllocator());
      }
      std::string patch = MetaPatch(client::MetaString(*live, "resourceVersion"), "ownerReferences",
                                    keep);
      ctx_.client.Patch(res.ref, ns, name, client::PatchType::kMerge, patch, "",
                        [done](StatusOr<JsonDoc> r) { done(r.ok() || r.error().IsNotFound() ? Status::OK() : r.status()); });
      return;
    }
    std::string own_uid(Uid(*live));
    if (waiting > 0 && !Dependents(own_uid).empty()) {
      // Deleted in the foreground too. If one of its dependents also waits for its own
      // dependents, unblock our references first so the two cannot wait on each other.
      bool cycle = false;
      for (const auto& [j, dep] : Dependents(own_uid)) cycle |= IsDeletingDependents(*dep);
      if (!cycle) return DeleteObject(i, live, "Foreground", std::move(done));
      JsonDoc unblocked(rapidjson::kArrayType);
      auto& a = unblocked.GetAllocator();
      for (const auto& ref : refs.GetArray()) {
        JsonValue c = Clone(ref, a);
        if (GetBool(c, "blockOwnerDeletion").value_or(false)) SetMember(c, "blockOwnerDeletion", JsonValue(false), a);
        unblocked.PushBack(c, a);
      }
      std::string patch = MetaPatch(client::MetaString(*live, "resourceVersion"), "ownerReferences",
                                    unblocked);
      ctx_.client.Patch(res.ref, ns, name, client::PatchType::kMerge, patch, "",
                        [this, i, done](StatusOr<JsonDoc> r) {
                          if (!r.ok()) return done(r.error().IsNotFound() ? Status::OK() : r.status());
                          DeleteObject(i, std::make_shared<JsonDoc>(std::move(*r)), "Foreground", done);
                        });
      return;
    }
    const char* policy = HasFinalizer(*live, kOrphanFinalizer)        ? "Orphan"
                         : HasFinalizer(*live, kForegroundFinalizer) ? "Foreground"
                                                                     : "Background";
    DeleteObject(i, live, policy, std::move(done));
  }

  // Deletes with preconditions on uid and resourceVersion; when only the resourceVersion moved
  // (the owners are the same), once more on the uid alone.
  void DeleteObject(size_t i, const std::shared_ptr<JsonDoc>& live, const std::string& policy, Done done) {
    const GcResource& res = Resources()[i];
    std::string ns(Namespace(*live)), name(Name(*live)), uid(Uid(*live));
    client::DeleteOptions opts;
    opts.propagation_policy = policy;
    opts.precondition_uid = uid;
    opts.precondition_resource_version = std::string(client::MetaString(*live, "resourceVersion"));
    ctx_.client.Delete(res.ref, ns, name, opts, [this, i, live, ns, name, uid, opts, done](StatusOr<JsonDoc> r) {
      if (r.ok() || r.error().IsNotFound()) return done(Status::OK());
      if (!r.error().IsConflict() || opts.precondition_resource_version.empty()) return done(r.status());
      Status conflict = r.status();
      const GcResource& res = Resources()[i];
      ctx_.client.Get(res.ref, ns, name, [this, i, live, ns, name, uid, opts, conflict, done](StatusOr<JsonDoc> g) {
        if (!g.ok()) return done(g.error().IsNotFound() ? Status::OK() : conflict);
        if (Uid(*g) != uid) return done(Status::OK());
        const JsonValue* a = OwnerRefs(*live);
        const JsonValue* b = OwnerRefs(*g);
        if (!((!a && !b) || (a && b && JsonEqual(*a, *b)))) return done(conflict);
        client::DeleteOptions retry = opts;
        retry.precondition_resource_version.clear();
        ctx_.client.Delete(Resources()[i].ref, ns, name, retry, [done](StatusOr<JsonDoc> r2) {
          done(r2.ok() || r2.error().IsNotFound() ? Status::OK() : r2.status());
        });
      });
    });
  }

  // Foreground: the dependents go first; the finalizer goes once none blocks.
  void ProcessDeletingDependents(size_t i, const ObjectPtr& obj, Done done) {
    std::string uid(Uid(*obj));
    bool blocked = false;
    for (const auto& [j, dep] : Dependents(uid)) {
      if (const JsonValue* refs = OwnerRefs(*dep)) {
        for (const auto& ref : refs->GetArray()) {
          if (GetString(ref, "uid").value_or("") == uid && GetBool(ref, "blockOwnerDeletion").value_or(false)) {
            blocked = true;
          }
        }
      }
      if (!IsBeingDeleted(*dep)) Enqueue(KeyOf(j, *dep));
    }
    if (blocked) return done(Status::OK());  // a dependent's deletion brings us back
    RemoveFinalizer(i, obj, kForegroundFinalizer, std::move(done));
  }

  // Orphan: our reference goes from every dependent, then the finalizer.
  void OrphanDependents(size_t i, const ObjectPtr& obj, Done done) {
    std::string uid(Uid(*obj));
    auto join = Join::Make([this, i, obj, done](Status st) {
      if (!st.ok()) return done(st);
      RemoveFinalizer(i, obj, kOrphanFinalizer, done);
    });
    for (const auto& [j, dep] : Dependents(uid)) {
      const JsonValue* refs = OwnerRefs(*dep);
      if (!refs) continue;
      JsonDoc keep(rapidjson::kArrayType);
      for (const auto& ref : refs->GetArray()) {
        if (GetString(ref, "uid").value_or("") != uid) keep.PushBack(Clone(ref, keep.GetAllocator()), keep.GetAllocator());
      }
      std::string patch = MetaPatch(client::MetaString(*dep, "resourceVersion"), "ownerReferences",
                                    keep);
      ctx_.client.Patch(Resources()[j].ref, std::string(Namespace(*dep)), std::string(Name(*dep)),
                        client::PatchType::kMerge, patch, "",
                        join->AddObject([](const Status& s) { return s.IsNotFound(); }));
    }
    join->Finish();
  }

  // Upstream's removeFinalizer: read the owner live, patch its finalizers without ours.
  void RemoveFinalizer(size_t i, const ObjectPtr& obj, const std::string& finalizer, Done done) {
    const GcResource& res = Resources()[i];
    std::string ns(Namespace(*obj)), name(Name(*obj)), uid(Uid(*obj));
    ctx_.client.Get(res.ref, ns, name, [this, i, ns, name, uid, finalizer, done](StatusOr<JsonDoc> r) {
      if (!r.ok()) return done(r.error().IsNotFound() ? Status::OK() : r.status());
      if (Uid(*r) != uid || !HasFinalizer(*r, finalizer)) return done(Status::OK());
      JsonDoc rest(rapidjson::kArrayType);
      for (const auto& f : Path(*r, {"metadata", "finalizers"})->GetArray()) {
        if (!f.IsString() || finalizer != f.GetString()) rest.PushBack(Clone(f, rest.GetAllocator()), rest.GetAllocator());
      }
      std::string patch =
          MetaPatch(client::MetaString(*r, "resourceVersion"), "finalizers", rest);
      ctx_.client.Patch(Resources()[i].ref, ns, name, client::PatchType::kMerge, patch, "",
                        [done](StatusOr<JsonDoc> p) { done(p.ok() || p.error().IsNotFound() ? Status::OK() : p.status()); });
    });
  }

  std::vector<client::Informer*> informers_;
  std::map<std::string, size_t> by_name_;                       // "replicasets.apps" -> table index
  std::map<std::pair<std::string, std::string>, size_t> by_kind_;  // (group, kind) -> table index
  // Owner uids known to be gone (upstream's absentOwnerCache), oldest first.
  std::unordered_set<std::string> absent_;
  std::deque<std::string> absent_order_;
};

}  // namespace

ControllerPtr NewGarbageCollectorController(Context ctx) { return std::make_unique<GarbageCollector>(ctx); }

}  // namespace minik::controllers
