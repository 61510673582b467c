#include "server/admission.h"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <map>
#include <set>

#include "api/errors.h"
#include "api/quantity.h"
#include "common/log.h"
#include "server/api_server.h"
#include "server/controllers/persistent_volume_binder.h"
#include "server/service_account_admission.h"

namespace minik::server::admission {

namespace quota = controllers::quota;

namespace {

std::string_view Str(const JsonValue& obj, std::string_view name) { return GetString(obj, name).value_or(""); }

std::string ObjName(const JsonValue& obj) {
  const JsonValue* m = Member(obj, "metadata");
  return m ? std::string(Str(*m, "name")) : "";
}

// The name in messages: generateName when the name is not generated yet.
std::string MetaName(const JsonValue& obj) {
  const JsonValue* m = Member(obj, "metadata");
  if (!m) return "";
  std::string name(Str(*m, "name"));
  if (name.empty()) name = std::string(Str(*m, "generateName"));
  return name;
}

// An aggregate error's message (utilerrors.NewAggregate): one message as is, several de-duplicated
// in brackets.
std::string Aggregate(const std::vector<std::string>& errs) {
  if (errs.empty()) return "";
  if (errs.size() == 1) return errs[0];
  std::set<std::string> seen;
  std::string out;
  for (const auto& e : errs) {
    if (!seen.insert(e).second) continue;
    if (seen.size() > 1) out += ", ";
    out += e;
  }
  return seen.size() == 1 ? out : "[" + out + "]";
}

// ---- LimitRanger -------------------------------------------------------------------------------

constexpr int64_t kMaxMilliValue = std::numeric_limits<int64_t>::max() / 1000;

// The values at a common precision (milli when nothing overflows), as requestLimitEnforcedValues.
void CommonValues(const api::Quantity& req, const api::Quantity& lim, const api::Quantity& enf, int64_t* r,
                  int64_t* l, int64_t* e) {
  auto v = [](const api::Quantity& q) { return q.Value().value_or(std::numeric_limits<int64_t>::max()); };
  *r = v(req);
  *l = v(lim);
  *e = v(enf);
  if (*r <= kMaxMilliValue && *l <= kMaxMilliValue && *e <= kMaxMilliValue) {
    *r = req.MilliValue().value_or(0);
    *l = lim.MilliValue().value_or(0);
    *e = enf.MilliValue().value_or(0);
  }
}

const api::Quantity* Find(const quota::ResourceList& l, const std::string& k) {
  auto it = l.find(k);
  return it == l.end() ? nullptr : &it->second;
}

std::string MinConstraint(const std::string& type, const std::string& res, const api::Quantity& enforced,
                          const quota::ResourceList& requests, const quota::ResourceList& limits) {
  const api::Quantity* req = Find(requests, res);
  const api::Quantity* lim = Find(limits, res);
  int64_t r, l, e;
  CommonValues(req ? *req : api::Quantity(), lim ? *lim : api::Quantity(), enforced, &r, &l, &e);
  if (!req) return "minimum " + res + " usage per " + type + " is " + enforced.String() + ".  No request is specified";
  if (r < e) return "minimum " + res + " usage per " + type + " is " + enforced.String() + ", but request is " + req->String();
  if (lim && l < e) return "minimum " + res + " usage per " + type + " is " + enforced.String() + ", but limit is " + lim->String();
  return "";
}

std::string MaxConstraint(const std::string& type, const std::string& res, const api::Quantity& enforced,
                          const quota::ResourceList& requests, const quota::ResourceList& limits) {
  const api::Quantity* req = Find(requests, res);
  const api::Quantity* lim = Find(limits, res);
  int64_t r, l, e;
  CommonValues(req ? *req : api::Quantity(), lim ? *lim : api::Quantity(), enforced, &r, &l, &e);
  if (!lim) return "maximum " + res + " usage per " + type + " is " + enforced.String() + ".  No limit is specified";
  if (l > e) return "maximum " + res + " usage per " + type + " is " + enforced.String() + ", but limit is " + lim->String();
  if (req && r > e) return "maximum " + res + " usage per " + type + " is " + enforced.String() + ", but request is " + req->String();
  return "";
}

// maxRequestConstraint (claims: only the request counts).
std::string MaxRequestConstraint(const std::string& type, const std::string& res, const api::Quantity& enforced,
                                 const quota::ResourceList& requests) {
  const api::Quantity* req = Find(requests, res);
  int64_t r, l, e;
  CommonValues(req ? *req : api::Quantity(), api::Quantity(), enforced, &r, &l, &e);
  if (!req) return "maximum " + res + " usage per " + type + " is " + enforced.String() + ".  No request is specified";
  if (r > e) return "maximum " + res + " usage per " + type + " is " + enforced.String() + ", but request is " + req->String();
  return "";
}

std::string RatioConstraint(const std::string& type, const std::string& res, const api::Quantity& enforced,
                            const quota::ResourceList& requests, const quota::ResourceList& limits) {
  const api::Quantity* req = Find(requests, res);
  const api::Quantity* lim = Find(limits, res);
  int64_t r, l, e;
  CommonValues(req ? *req : api::Quantity(), lim ? *lim : api::Quantity(), enforced, &r, &l, &e);
  std::string head = res + " max limit to request ratio per " + type + " is " + enforced.String();
  if (!req || r == 0) return head + ", but no request is specified or request is 0";
  if (!lim || l == 0) return head + ", but no limit is specified or limit is 0";
  double observed = static_cast<double>(l) / static_cast<double>(r);
  double display = observed;
  int64_t ev = enforced.Value().value_or(std::numeric_limits<int64_t>::max());
  double max_ratio = static_cast<double>(ev);
  if (ev <= kMaxMilliValue) {
    observed *= 1000;
    max_ratio = static_cast<double>(enforced.MilliValue().value_or(0));
  }
  if (observed > max_ratio) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%f", display);
    return head + ", but provided ratio is " + buf;
  }
  return "";
}

quota::ResourceList ContainerList(const JsonValue& c, const char* which) {
  return quota::ParseResourceList(Path(c, {"resources", which}));
}

// The limit ranger's pod totals: containers summed, init containers as a floor.
quota::ResourceList PodTotals(const JsonValue& pod, const char* which) {
  quota::ResourceList sum;
  if (const JsonValue* cs = Path(pod, {"spec", "containers"}); cs && cs->IsArray()) {
    for (const auto& c : cs->GetArray()) sum = quota::Add(sum, ContainerList(c, which));
  }
  if (const JsonValue* cs = Path(pod, {"spec", "initContainers"}); cs && cs->IsArray()) {
    for (const auto& c : cs->GetArray()) {
      for (const auto& [k, v] : ContainerList(c, which)) {
        auto it = sum.find(k);
        if (it == sum.end() || it->second.Cmp(v) < 0) sum[k] = v;
      }
    }
  }
  return sum;
}

// SetDefaults_LimitRangeItem, applied again here so that items stored without defaulting behave
// as upstream's (max -> default -> defaultRequest, min -> defaultRequest).
struct LimitItem {
  std::string type;
  quota::ResourceList min, max, default_limit, default_request, ratio;
};

std::vector<LimitItem> Items(const JsonValue& lr) {
  std::vector<LimitItem> out;
  const JsonValue* limits = Path(lr, {"spec", "limits"});
  if (!limits || !limits->IsArray()) return out;
  for (const auto& it : limits->GetArray()) {
    LimitItem li;
    li.type = std::string(Str(it, "type"));
    li.min = quota::ParseResourceList(Member(it, "min"));
    li.max = quota::ParseResourceList(Member(it, "max"));
    li.default_limit = quota::ParseResourceList(Member(it, "default"));
    li.default_request = quota::ParseResourceList(Member(it, "defaultRequest"));
    li.ratio = quota::ParseResourceList(Member(it, "maxLimitRequestRatio"));
    if (li.type == "Container") {
      for (const auto& [k, v] : li.max) li.default_limit.emplace(k, v);
      for (const auto& [k, v] : li.default_limit) li.default_request.emplace(k, v);
      for (const auto& [k, v] : li.min) li.default_request.emplace(k, v);
    }
    out.push_back(std::move(li));
  }
  return out;
}

std::vector<std::string> CheckPod(const std::vector<LimitItem>& items, const JsonValue& pod) {
  std::vector<std::string> errs;
  auto add = [&](std::string e) {
    if (!e.empty()) errs.push_back(std::move(e));
  };
  auto check = [&](const std::string& type, const LimitItem& li, const quota::ResourceList& req,
                   const quota::ResourceList& lim) {
    for (const auto& [k, v] : li.min) add(MinConstraint(type, k, v, req, lim));
    for (const auto& [k, v] : li.max) add(MaxConstraint(type, k, v, req, lim));
    for (const auto& [k, v] : li.ratio) add(RatioConstraint(type, k, v, req, lim));
  };
  for (const auto& li : items) {
    if (li.type == "Container") {
      for (const char* list : {"containers", "initContainers"}) {
        const JsonValue* cs = Path(pod, {"spec", list});
        if (!cs || !cs->IsArray()) continue;
        for (const auto& c : cs->GetArray()) check("Container", li, ContainerList(c, "requests"), ContainerList(c, "limits"));
      }
    } else if (li.type == "Pod") {
      check("Pod", li, PodTotals(pod, "requests"), PodTotals(pod, "limits"));
    }
  }
  return errs;
}

std::vector<std::string> CheckClaim(const std::vector<LimitItem>& items, const JsonValue& pvc) {
  std::vector<std::string> errs;
  quota::ResourceList req = quota::ParseResourceList(Path(pvc, {"spec", "resources", "requests"}));
  for (const auto& li : items) {
    if (li.type != "PersistentVolumeClaim") continue;
    for (const auto& [k, v] : li.min) {
      std::string e = MinConstraint("PersistentVolumeClaim", k, v, req, {});
      if (!e.empty()) errs.push_back(e);
    }
    for (const auto& [k, v] : li.max) {
      std::string e = MaxRequestConstraint("PersistentVolumeClaim", k, v, req);
      if (!e.empty()) errs.push_back(e);
    }
  }
  return errs;
}

// mergeContainerResources for one container; appends the annotation parts.
void MergeContainer(JsonValue& c, const LimitItem& defaults, const char* prefix, std::vector<std::string>* notes,
                    JsonAlloc& a) {
  JsonValue& res = EnsureObject(c, "resources", a);
  std::vector<std::string> set_limits, set_requests;
  auto merge = [&](const char* which, const quota::ResourceList& dflt, std::vector<std::string>* set) {
    if (dflt.empty()) return;
    JsonValue& list = EnsureObject(res, which, a);
    for (const auto& [k, v] : dflt) {
      if (Member(list, k)) continue;
      list.AddMember(MakeString(k, a), MakeString(v.String(), a), a);
      set->push_back(k);
    }
  };
  merge("limits", defaults.default_limit, &set_limits);
  merge("requests", defaults.default_request, &set_requests);
  auto join = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
    return s;
  };
  std::string name(Str(c, "name"));
  if (!set_requests.empty()) notes->push_back(join(set_requests) + " request for " + prefix + " " + name);
  if (!set_limits.empty()) notes->push_back(join(set_limits) + " limit for " + prefix + " " + name);
}

}  // namespace

// ---- pure logic --------------------------------------------------------------------------------

void ApplyLimitRangeDefaults(const std::vector<const JsonValue*>& limit_ranges, JsonValue& pod, JsonAlloc& a) {
  for (const JsonValue* lr : limit_ranges) {
    LimitItem defaults;
    for (const auto& li : Items(*lr)) {
      if (li.type != "Container") continue;
      for (const auto& [k, v] : li.default_request) defaults.default_request[k] = v;
      for (const auto& [k, v] : li.default_limit) defaults.default_limit[k] = v;
    }
    std::vector<std::string> notes;
    JsonValue* spec = MutableMember(pod, "spec");
    if (!spec) continue;
    for (auto [list, prefix] : {std::pair{"containers", "container"}, std::pair{"initContainers", "init container"}}) {
      JsonValue* cs = MutableMember(*spec, list);
      if (!cs || !cs->IsArray()) continue;
      for (auto& c : cs->GetArray()) MergeContainer(c, defaults, prefix, &notes, a);
    }
    if (notes.empty()) continue;
    std::string val = "LimitRanger plugin set: ";
    for (size_t i = 0; i < notes.size(); ++i) val += (i ? "; " : "") + notes[i];
    JsonValue& meta = EnsureObject(pod, "metadata", a);
    SetString(EnsureObject(meta, "annotations", a), "kubernetes.io/limit-ranger", val, a);
  }
}

std::string CheckLimitRanges(const std::vector<const JsonValue*>& limit_ranges, std::string_view kind,
                             const JsonValue& obj) {
  for (const JsonValue* lr : limit_ranges) {
    auto items = Items(*lr);
    std::vector<std::string> errs = kind == "Pod" ? CheckPod(items, obj) : CheckClaim(items, obj);
    if (!errs.empty()) return Aggregate(errs);
  }
  return "";
}

bool SetDefaultStorageClass(const std::vector<const JsonValue*>& classes, JsonValue& pvc, JsonAlloc& a) {
  if (!controllers::storage::ClaimClass(pvc).empty()) return false;
  const JsonValue* scn = Path(pvc, {"spec", "storageClassName"});
  if (scn && !scn->IsNull()) return false;  // "" asks for no class
  const JsonValue* def = controllers::storage::DefaultClass(classes);
  if (!def) return false;
  SetString(EnsureObject(pvc, "spec", a), "storageClassName", ObjName(*def), a);
  return true;
}

QuotaResult EvaluateQuotas(const std::vector<const JsonValue*>& quotas, const quota::Resource& res, Operation op,
                           const JsonValue& obj, const JsonValue* old, TimePoint now) {
  QuotaResult out;
  std::vector<size_t> interesting;
  for (size_t i = 0; i < quotas.size(); ++i) {
    if (quota::QuotaMatches(*quotas[i], res, obj)) interesting.push_back(i);
  }
  if (interesting.empty()) return out;
  bool pods = res.group.empty() && res.plural == "pods";
  for (size_t i : interesting) {
    const JsonValue& q = *quotas[i];
    std::string name(ObjName(q));
    quota::ResourceList hard = quota::ParseResourceList(Path(q, {"status", "hard"}));
    quota::ResourceList used = quota::ParseResourceList(Path(q, {"status", "used"}));
    std::vector<std::string> restricted = quota::MatchingResources(res, quota::Names(hard));
    if (pods) {
      std::string err = quota::PodConstraints(restricted, obj);
      if (!err.empty()) {
        out.error = "failed quota: " + name + ": " + err;
        return out;
      }
    }
    std::vector<std::string> missing;
    for (const auto& r : restricted) {
      if (!used.count(r)) missing = restricted;
    }
    if (!missing.empty()) {
      std::sort(missing.begin(), missing.end());
      std::string names;
      for (const auto& m : missing) names += (names.empty() ? "" : ",") + m;
      out.error = "status unknown for quota: " + name + ", resources: " + names;
      return out;
    }
  }
  quota::ResourceList delta = quota::RemoveZeros(quota::Usage(res, obj, now));
  if (delta.empty()) return out;
  if (op == Operation::kUpdate && old) {
    delta = quota::RemoveZeros(quota::SubtractNonNegative(delta, quota::Usage(res, *old, now)));
    if (delta.empty()) return out;
  }
  for (size_t i : interesting) {
    const JsonValue& q = *quotas[i];
    quota::ResourceList hard = quota::ParseResourceList(Path(q, {"status", "hard"}));
    quota::ResourceList used = quota::ParseResourceList(Path(q, {"status", "used"}));
    quota::ResourceList requested = quota::Mask(delta, quota::Names(hard));
    quota::ResourceList new_used = quota::Add(used, requested);
    quota::ResourceList masked = quota::Mask(new_used, quota::Names(requested));
    std::vector<std::string> exceeded;
    if (!quota::LessThanOrEqual(masked, hard, &exceeded)) {
      out.error = "exceeded quota: " + std::string(ObjName(q)) +
                  ", requested: " + quota::PrettyPrint(quota::Mask(requested, exceeded)) +
                  ", used: " + quota::PrettyPrint(quota::Mask(used, exceeded)) +
                  ", limited: " + quota::PrettyPrint(quota::Mask(hard, exceeded));
      out.charges.clear();
      return out;
    }
    if (!quota::Equals(new_used, used)) out.charges.push_back({i, std::move(new_used)});
  }
  return out;
}

// ---- the API server's hooks ---------------------------------------------------------------------

namespace {

std::vector<ObjectPtr> ListNamespace(const ObjectStore& store, const api::Registry& registry, const char* plural,
                                     const std::string& ns) {
  const api::ResourceInfo* info = registry.Find("", "v1", plural);
  if (!info) return {};
  return store.List(StoragePrefix(*info, ns), "", 0, nullptr).items;
}

std::vector<const JsonValue*> Objects(const std::vector<ObjectPtr>& items) {
  std::vector<const JsonValue*> out;
  for (const auto& o : items) out.push_back(o->object.get());
  return out;
}

std::string NamespaceOf(const JsonValue& obj) {
  const JsonValue* m = Member(obj, "metadata");
  return m ? std::string(Str(*m, "namespace")) : "";
}

bool IsCore(const api::ResourceInfo& info, std::string_view kind) { return info.group.empty() && info.kind == kind; }

struct QuotaState {
  ObjectStore& store;
  const api::Registry& registry;
  const Clock& clock;
  const api::ResourceInfo& info;
  Operation op;
  std::shared_ptr<const JsonDoc> obj;
  std::shared_ptr<const JsonDoc> old;
  bool dry_run;
  std::function<void(Status)> done;
  std::string ns;
  std::set<std::string> charged;  // quotas already charged (not charged again on a retry)
  int tries = 0;
};

void ChargeQuotas(const std::shared_ptr<QuotaState>& st);

void WriteCharges(const std::shared_ptr<QuotaState>& st, std::vector<ObjectPtr> quotas,
                  std::vector<QuotaCharge> charges, size_t next) {
  if (next >= charges.size()) return st->done(Status::OK());
  const ObjectPtr& q = quotas[charges[next].index];
  JsonDoc doc;
  doc.CopyFrom(*q->object, doc.GetAllocator());
  auto& a = doc.GetAllocator();
  RemoveMember(EnsureObject(doc, "metadata", a), "resourceVersion");
  SetMember(EnsureObject(doc, "status", a), "used", quota::ResourceListToJson(charges[next].used, a), a);
  std::string name(ObjName(*q->object));
  st->store.Update(q->kv.key, doc, q->kv.mod_revision,
                   [st, quotas = std::move(quotas), charges = std::move(charges), next, name](StatusOr<ObjectPtr> r) mutable {
                     if (r.ok()) {
                       st->charged.insert(name);
                       return WriteCharges(st, std::move(quotas), std::move(charges), next + 1);
                     }
                     if (r.error().code() == Code::kConflict || r.error().code() == Code::kNotFound) {
                       // Someone else charged (or the controller synced) this quota: evaluate again
                       // against its new usage.
                       if (++st->tries < 10) return ChargeQuotas(st);
                       return st->done(api::ConflictError("", "resourcequotas", name, api::kOptimisticLockMessage));
                     }
                     st->done(r.error());
                   });
}

void ChargeQuotas(const std::shared_ptr<QuotaState>& st) {
  std::vector<ObjectPtr> all = ListNamespace(st->store, st->registry, "resourcequotas", st->ns);
  std::vector<ObjectPtr> quotas;
  for (const auto& q : all) {
    if (!st->charged.count(std::string(ObjName(*q->object)))) quotas.push_back(q);
  }
  if (quotas.empty()) return st->done(Status::OK());
  QuotaResult r = EvaluateQuotas(Objects(quotas), {st->info.group, st->info.plural}, st->op, *st->obj, st->old.get(),
                                 st->clock.Now());
  if (!r.error.empty()) {
    return st->done(api::ForbiddenError(st->info.group, st->info.plural, MetaName(*st->obj), r.error));
  }
  if (st->dry_run || r.charges.empty()) return st->done(Status::OK());
  WriteCharges(st, std::move(quotas), std::move(r.charges), 0);
}

}  // namespace

Status ResolvePriority(const std::vector<const JsonValue*>& classes, JsonValue& pod, JsonAlloc& a) {
  JsonValue& spec = EnsureObject(pod, "spec", a);
  std::string name(GetString(spec, "priorityClassName").value_or(""));
  if (name == "system-node-critical" || name == "system-cluster-critical") return Status::OK();  // defaulted
  const JsonValue* cls = nullptr;
  for (const JsonValue* c : classes) {
    std::string_view cname = GetString(*Member(*c, "metadata"), "name").value_or("");
    if (name.empty() ? GetBool(*c, "globalDefault").value_or(false) : cname == name) {
      cls = c;
      break;
    }
  }
  std::string pod_name = MetaName(pod);
  if (!cls) {
    if (name.empty()) return Status::OK();  // no global default: priority 0, as defaulted
    return api::ForbiddenError("", "pods", pod_name, "no PriorityClass with name " + name + " was found");
  }
  int64_t value = GetInt(*cls, "value").value_or(0);
  // Defaulting sets 0 for a pod without a class; a global default replaces it.
  if (auto given = GetInt(spec, "priority"); given && *given != value && !name.empty()) {
    return api::ForbiddenError("", "pods", pod_name,
                               "the integer value of priority (" + std::to_string(*given) +
                                   ") must not be provided in pod spec; priority admission controller computed " +
                                   std::to_string(value) + " from the given PriorityClass name");
  }
  if (name.empty()) SetString(spec, "priorityClassName", GetString(*Member(*cls, "metadata"), "name").value_or(""), a);
  SetMember(spec, "priority", JsonValue(value), a);
  SetString(spec, "preemptionPolicy", GetString(*cls, "preemptionPolicy").value_or("PreemptLowerPriority"), a);
  return Status::OK();
}

Status Mutate(const ObjectStore& store, const api::Registry& registry, const api::ResourceInfo& info, Operation op,
              JsonDoc& obj) {
  if (op != Operation::kCreate) return Status::OK();
  if (IsCore(info, "Pod")) {
    // Priority: spec.priority and preemptionPolicy from the PriorityClass (or the global default).
    if (const api::ResourceInfo* pc = registry.Find("scheduling.k8s.io", "v1", "priorityclasses")) {
      auto classes = store.List(StoragePrefix(*pc, ""), "", 0, nullptr).items;
      std::string_view given = Path(obj, {"spec", "priorityClassName"}) && Path(obj, {"spec", "priorityClassName"})->IsString()
                                   ? Path(obj, {"spec", "priorityClassName"})->GetString() : "";
      if (!classes.empty() || (!given.empty() && given != "system-node-critical" && given != "system-cluster-critical")) {
        MINIK_RETURN_IF_ERROR(ResolvePriority(Objects(classes), obj, obj.GetAllocator()));
      }
    }
    auto lrs = ListNamespace(store, registry, "limitranges", NamespaceOf(obj));
    if (!lrs.empty()) ApplyLimitRangeDefaults(Objects(lrs), obj, obj.GetAllocator());
    MINIK_RETURN_IF_ERROR(AdmitServiceAccount(store, registry, obj));
  } else if (IsCore(info, "PersistentVolumeClaim")) {
    const api::ResourceInfo* sc = registry.Find("storage.k8s.io", "v1", "storageclasses");
    if (sc) {
      auto classes = store.List(StoragePrefix(*sc, ""), "", 0, nullptr).items;
      SetDefaultStorageClass(Objects(classes), obj, obj.GetAllocator());
    }
  }
  return Status::OK();
}

void Validate(ObjectStore& store, const api::Registry& registry, const Clock& clock, const api::ResourceInfo& info,
              Operation op, std::shared_ptr<const JsonDoc> obj, std::shared_ptr<const JsonDoc> old, bool dry_run,
              std::function<void(Status)> done) {
  if (!info.namespaced) return done(Status::OK());
  std::string ns = NamespaceOf(*obj);
  bool pod = IsCore(info, "Pod");
  bool claim = IsCore(info, "PersistentVolumeClaim");
  // LimitRanger: pods on create, claims on create and update.
  if ((pod && op == Operation::kCreate) || claim) {
    auto lrs = ListNamespace(store, registry, "limitranges", ns);
    if (!lrs.empty()) {
      std::string err = CheckLimitRanges(Objects(lrs), info.kind, *obj);
      if (!err.empty()) return done(api::ForbiddenError(info.group, info.plural, MetaName(*obj), err));
    }
  }
  // ResourceQuota: every kind on create; on update only those whose usage can change (services
  // and claims).
  if (op == Operation::kUpdate && !IsCore(info, "Service") && !claim) return done(Status::OK());
  if (ListNamespace(store, registry, "resourcequotas", ns).empty()) return done(Status::OK());
  auto st = std::make_shared<QuotaState>(QuotaState{store, registry, clock, info, op, std::move(obj), std::move(old),
                                                    dry_run, std::move(done), ns, {}, 0});
  ChargeQuotas(st);
}

}  // namespace minik::server::admission
