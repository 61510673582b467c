#include "server/controllers/resource_quota.h"

#include <algorithm>
#include <set>

#include "api/labels.h"
#include "common/log.h"
#include "server/controllers/util.h"

namespace minik::controllers {
namespace quota {
namespace {

std::string_view Str(const JsonValue& obj, std::string_view name) { return GetString(obj, name).value_or(""); }

bool StartsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

ResourceList One(std::initializer_list<std::string> names) {
  ResourceList out;
  for (const auto& n : names) out[n] = api::Quantity::FromInt(1);
  return out;
}

// ---- pods ---------------------------------------------------------------------------------------

const std::set<std::string>& PodResourceNames() {
  static const std::set<std::string> names = {
      "count/pods",       "cpu",          "memory",         "ephemeral-storage", "requests.cpu",
      "requests.memory",  "requests.ephemeral-storage",     "limits.cpu",        "limits.memory",
      "limits.ephemeral-storage",         "pods"};
  return names;
}

// Native resource names live in the kubernetes.io domain or have no domain.
bool IsNativeResource(std::string_view name) {
  size_t slash = name.find('/');
  if (slash == std::string_view::npos) return true;
  std::string_view domain = name.substr(0, slash);
  return domain == "kubernetes.io" ||
         (domain.size() > 14 && domain.substr(domain.size() - 14) == ".kubernetes.io");
}

// helper.IsExtendedResourceName: not native, not requests.-prefixed.
bool IsExtendedResource(std::string_view name) {
  if (IsNativeResource(name) || StartsWith(name, "requests.")) return false;
  return true;
}

bool PodMatchesResource(const std::string& name) {
  if (PodResourceNames().count(name)) return true;
  if (StartsWith(name, "hugepages-") || StartsWith(name, "requests.hugepages-")) return true;
  if (StartsWith(name, "requests.") && IsExtendedResource(std::string_view(name).substr(9))) return true;
  return false;
}

ResourceList ContainerList(const JsonValue& c, const char* which) {
  return ParseResourceList(Path(c, {"resources", which}));
}

ResourceList Max(const ResourceList& a, const ResourceList& b) {
  ResourceList out = a;
  for (const auto& [k, v] : b) {
    auto it = out.find(k);
    if (it == out.end() || it->second.Cmp(v) < 0) out[k] = v;
  }
  return out;
}

// resourcehelper.PodRequests / PodLimits: the containers' sum, against the largest init
// container (restartable init containers, i.e. sidecars, run alongside), plus the overhead.
ResourceList PodTotal(const JsonValue& pod, const char* which) {
  ResourceList sum;
  if (const JsonValue* cs = Path(pod, {"spec", "containers"}); cs && cs->IsArray()) {
    for (const auto& c : cs->GetArray()) sum = Add(sum, ContainerList(c, which));
  }
  ResourceList sidecars;
  ResourceList init_max;
  if (const JsonValue* cs = Path(pod, {"spec", "initContainers"}); cs && cs->IsArray()) {
    for (const auto& c : cs->GetArray()) {
      ResourceList r = ContainerList(c, which);
      ResourceList tmp;
      if (Str(c, "restartPolicy") == "Always") {
        sum = Add(sum, r);
        sidecars = Add(sidecars, r);
        tmp = sidecars;
      } else {
        tmp = Add(r, sidecars);
      }
      init_max = Max(init_max, tmp);
    }
  }
  ResourceList out = Max(sum, init_max);
  if (const JsonValue* o = Path(pod, {"spec", "overhead"})) {
    ResourceList overhead = ParseResourceList(o);
    // Limits only get the overhead of resources that have a limit.
    if (std::string_view(which) == "limits") overhead = Mask(overhead, Names(out));
    out = Add(out, overhead);
  }
  return out;
}

// podComputeUsageHelper.
ResourceList ComputeUsage(const ResourceList& requests, const ResourceList& limits) {
  ResourceList r;
  r["pods"] = api::Quantity::FromInt(1);
  for (const char* n : {"cpu", "memory", "ephemeral-storage"}) {
    if (auto it = requests.find(n); it != requests.end()) {
      r[n] = it->second;
      r[std::string("requests.") + n] = it->second;
    }
    if (auto it = limits.find(n); it != limits.end()) r[std::string("limits.") + n] = it->second;
  }
  for (const auto& [name, q] : requests) {
    if (StartsWith(name, "hugepages-")) {
      r[name] = q;
      r["requests." + name] = q;
    }
    if (IsExtendedResource(name)) r["requests." + name] = q;
  }
  return r;
}

bool PodIsBestEffort(const JsonValue& pod) {
  auto check = [](const JsonValue* cs) {
    if (!cs || !cs->IsArray()) return true;
    for (const auto& c : cs->GetArray()) {
      for (const char* which : {"requests", "limits"}) {
        ResourceList l = ContainerList(c, which);
        for (const char* n : {"cpu", "memory"}) {
          if (auto it = l.find(n); it != l.end() && !it->second.IsZero()) return false;
        }
      }
    }
    return true;
  };
  return check(Path(pod, {"spec", "containers"})) && check(Path(pod, {"spec", "initContainers"}));
}

bool PodIsTerminating(const JsonValue& pod) {
  const JsonValue* ads = Path(pod, {"spec", "activeDeadlineSeconds"});
  return ads && ads->IsInt64() && ads->GetInt64() >= 0;
}

bool PodMatchesScope(std::string_view scope, const JsonValue& pod) {
  if (scope == "Terminating") return PodIsTerminating(pod);
  if (scope == "NotTerminating") return !PodIsTerminating(pod);
  if (scope == "BestEffort") return PodIsBestEffort(pod);
  if (scope == "NotBestEffort") return !PodIsBestEffort(pod);
  if (scope == "PriorityClass") return true;  // without a selector: every pod
  return false;                               // CrossNamespacePodAffinity and unknown scopes
}

// A scopeSelector requirement (ScopedResourceSelectorRequirement) against a pod.
bool PodMatchesScopeRequirement(const JsonValue& req, const JsonValue& pod) {
  std::string_view scope = Str(req, "scopeName");
  std::string_view op = Str(req, "operator");
  if (scope != "PriorityClass") {
    // The simple scopes only take Exists (and DoesNotExist as their negation).
    bool m = PodMatchesScope(scope, pod);
    return op == "DoesNotExist" ? !m : m;
  }
  const JsonValue* pcv = Path(pod, {"spec", "priorityClassName"});
  std::string pc = pcv && pcv->IsString() ? pcv->GetString() : "";
  std::vector<std::string> values;
  if (const JsonValue* v = Member(req, "values"); v && v->IsArray()) {
    for (const auto& x : v->GetArray()) if (x.IsString()) values.emplace_back(x.GetString());
  }
  bool in = std::find(values.begin(), values.end(), pc) != values.end();
  if (op == "In") return in;
  if (op == "NotIn") return !in;
  if (op == "Exists") return true;  // the key is always present (possibly empty)
  return false;                     // DoesNotExist
}

// ---- services and claims ------------------------------------------------------------------------

ResourceList ServiceUsage(const JsonValue& svc) {
  ResourceList r = One({"count/services", "services"});
  r["services.loadbalancers"] = api::Quantity();
  r["services.nodeports"] = api::Quantity();
  const JsonValue* ports = Path(svc, {"spec", "ports"});
  int64_t nports = ports && ports->IsArray() ? static_cast<int64_t>(ports->Size()) : 0;
  std::string_view type = Path(svc, {"spec"}) ? Str(*Path(svc, {"spec"}), "type") : "";
  if (type == "NodePort") {
    r["services.nodeports"] = api::Quantity::FromInt(nports);
  } else if (type == "LoadBalancer") {
    const JsonValue* alloc = Path(svc, {"spec", "allocateLoadBalancerNodePorts"});
    if (alloc && alloc->IsBool() && !alloc->GetBool()) {
      int64_t with = 0;
      if (ports && ports->IsArray()) {
        for (const auto& p : ports->GetArray()) {
          if (GetInt(p, "nodePort").value_or(0) != 0) ++with;
        }
      }
      r["services.nodeports"] = api::Quantity::FromInt(with);
    } else {
      r["services.nodeports"] = api::Quantity::FromInt(nports);
    }
    r["services.loadbalancers"] = api::Quantity::FromInt(1);
  }
  return r;
}

constexpr std::string_view kStorageClassSuffix = ".storageclass.storage.k8s.io/";

std::string ClaimClass(const JsonValue& pvc) {
  if (auto a = Annotation(pvc, "volume.beta.kubernetes.io/storage-class")) return std::string(*a);
  if (const JsonValue* s = Path(pvc, {"spec", "storageClassName"}); s && s->IsString()) return s->GetString();
  return "";
}

ResourceList ClaimUsage(const JsonValue& pvc) {
  ResourceList r = One({"persistentvolumeclaims", "count/persistentvolumeclaims"});
  std::string cls = ClaimClass(pvc);
  if (!cls.empty()) r[cls + std::string(kStorageClassSuffix) + "persistentvolumeclaims"] = api::Quantity::FromInt(1);
  ResourceList req = ParseResourceList(Path(pvc, {"spec", "resources", "requests"}));
  ResourceList alloc = ParseResourceList(Path(pvc, {"status", "allocatedResources"}));
  auto rq = req.find("storage");
  auto al = alloc.find("storage");
  const api::Quantity* storage = nullptr;
  if (rq != req.end()) storage = &rq->second;
  if (al != alloc.end() && (!storage || al->second.Cmp(*storage) > 0)) storage = &al->second;
  if (storage) {
    r["requests.storage"] = *storage;
    if (!cls.empty()) r[cls + std::string(kStorageClassSuffix) + "requests.storage"] = *storage;
  }
  return r;
}

bool ClaimMatchesResource(const std::string& name) {
  if (name == "persistentvolumeclaims" || name == "count/persistentvolumeclaims" || name == "requests.storage") {
    return true;
  }
  size_t at = name.find(kStorageClassSuffix);
  if (at == std::string::npos || at == 0) return false;
  std::string_view rest = std::string_view(name).substr(at + kStorageClassSuffix.size());
  return rest == "persistentvolumeclaims" || rest == "requests.storage";
}

// Resources with a legacy object-count name ("configmaps") besides count/<plural>.
bool HasLegacyCount(const Resource& res) {
  return res.group.empty() && (res.plural == "configmaps" || res.plural == "secrets" ||
                               res.plural == "replicationcontrollers" || res.plural == "resourcequotas");
}

}  // namespace

ResourceList ParseResourceList(const JsonValue* list) {
  ResourceList out;
  if (!list || !list->IsObject()) return out;
  for (auto it = list->MemberBegin(); it != list->MemberEnd(); ++it) {
    std::string name(it->name.GetString(), it->name.GetStringLength());
    if (it->value.IsString()) {
      auto q = api::ParseQuantity(std::string_view(it->value.GetString(), it->value.GetStringLength()));
      if (q.ok()) out[name] = *q;
    } else if (it->value.IsInt64()) {
      out[name] = api::Quantity::FromInt(it->value.GetInt64());
    }
  }
  return out;
}

JsonValue ResourceListToJson(const ResourceList& list, JsonAlloc& a) {
  JsonValue out(rapidjson::kObjectType);
  for (const auto& [k, v] : list) out.AddMember(MakeString(k, a), MakeString(v.String(), a), a);
  return out;
}

ResourceList Add(const ResourceList& a, const ResourceList& b) {
  ResourceList out = a;
  for (const auto& [k, v] : b) {
    auto it = out.find(k);
    if (it == out.end()) out[k] = v;
    else it->second = it->second.Add(v);
  }
  return out;
}

ResourceList SubtractNonNegative(const ResourceList& a, const ResourceList& b) {
  ResourceList out;
  for (const auto& [k, v] : a) {
    api::Quantity q = v;
    if (auto it = b.find(k); it != b.end()) q = q.Sub(it->second);
    if (q.Sign() < 0) q = api::Quantity();
    out[k] = q;
  }
  for (const auto& [k, v] : b) {
    if (!out.count(k)) out[k] = api::Quantity();
  }
  return out;
}

ResourceList Mask(const ResourceList& list, const std::vector<std::string>& names) {
  ResourceList out;
  for (const auto& n : names) {
    if (auto it = list.find(n); it != list.end()) out[n] = it->second;
  }
  return out;
}

ResourceList RemoveZeros(const ResourceList& list) {
  ResourceList out;
  for (const auto& [k, v] : list) {
    if (!v.IsZero()) out[k] = v;
  }
  return out;
}

bool LessThanOrEqual(const ResourceList& a, const ResourceList& b, std::vector<std::string>* exceeded) {
  bool ok = true;
  for (const auto& [k, v] : a) {
    auto it = b.find(k);
    if (it != b.end() && v.Cmp(it->second) > 0) {
      ok = false;
      if (exceeded) exceeded->push_back(k);
    }
  }
  return ok;
}

bool Equals(const ResourceList& a, const ResourceList& b) {
  if (a.size() != b.size()) return false;
  for (const auto& [k, v] : a) {
    auto it = b.find(k);
    if (it == b.end() || v.Cmp(it->second) != 0) return false;
  }
  return true;
}

std::vector<std::string> Names(const ResourceList& list) {
  std::vector<std::string> out;
  for (const auto& [k, v] : list) out.push_back(k);
  return out;
}

std::string PrettyPrint(const ResourceList& list) {
  std::string out;
  for (const auto& [k, v] : list) {
    if (!out.empty()) out += ',';
    out += k + "=" + v.String();
  }
  return out;
}

std::string ObjectCountName(const Resource& res) {
  return "count/" + (res.group.empty() ? res.plural : res.plural + "." + res.group);
}

std::vector<std::string> MatchingResources(const Resource& res, const std::vector<std::string>& names) {
  std::vector<std::string> out;
  std::string count = ObjectCountName(res);
  bool pods = res.group.empty() && res.plural == "pods";
  bool services = res.group.empty() && res.plural == "services";
  bool claims = res.group.empty() && res.plural == "persistentvolumeclaims";
  for (const auto& n : names) {
    bool m = n == count;
    if (pods) m = m || PodMatchesResource(n);
    else if (services) m = m || n == "services" || n == "services.nodeports" || n == "services.loadbalancers";
    else if (claims) m = m || ClaimMatchesResource(n);
    else if (HasLegacyCount(res)) m = m || n == res.plural;
    if (m) out.push_back(n);
  }
  return out;
}

bool PodCountsForQuota(const JsonValue& pod, TimePoint now) {
  std::string_view phase = PodPhase(pod);
  if (phase == "Succeeded" || phase == "Failed") return false;
  const JsonValue* meta = Member(pod, "metadata");
  if (!meta) return true;
  auto ts = GetString(*meta, "deletionTimestamp");
  auto grace = GetInt(*meta, "deletionGracePeriodSeconds");
  if (ts && grace) {
    TimePoint t;
    if (ParseRFC3339(*ts, &t) && now > t + std::chrono::seconds(*grace)) return false;
  }
  return true;
}

ResourceList Usage(const Resource& res, const JsonValue& obj, TimePoint now) {
  if (res.group.empty()) {
    if (res.plural == "pods") {
      ResourceList r = One({"count/pods"});
      if (!PodCountsForQuota(obj, now)) return r;
      return Add(r, ComputeUsage(PodTotal(obj, "requests"), PodTotal(obj, "limits")));
    }
    if (res.plural == "services") return ServiceUsage(obj);
    if (res.plural == "persistentvolumeclaims") return ClaimUsage(obj);
    if (HasLegacyCount(res)) return One({res.plural, ObjectCountName(res)});
  }
  return One({ObjectCountName(res)});
}

bool MatchesScopes(const JsonValue& quota, const Resource& res, const JsonValue& obj) {
  bool pods = res.group.empty() && res.plural == "pods";
  if (const JsonValue* scopes = Path(quota, {"spec", "scopes"}); scopes && scopes->IsArray()) {
    for (const auto& s : scopes->GetArray()) {
      if (!s.IsString()) continue;
      if (!pods || !PodMatchesScope(s.GetString(), obj)) return false;
    }
  }
  if (const JsonValue* exprs = Path(quota, {"spec", "scopeSelector", "matchExpressions"}); exprs && exprs->IsArray()) {
    for (const auto& e : exprs->GetArray()) {
      if (!pods || !PodMatchesScopeRequirement(e, obj)) return false;
    }
  }
  return true;
}

bool QuotaMatches(const JsonValue& quota, const Resource& res, const JsonValue& obj) {
  ResourceList hard = ParseResourceList(Path(quota, {"status", "hard"}));
  if (MatchingResources(res, Names(hard)).empty()) return false;
  return MatchesScopes(quota, res, obj);
}

std::string PodConstraints(const std::vector<std::string>& required, const JsonValue& pod) {
  static const std::set<std::string> kValidation = {"cpu", "memory", "requests.cpu", "requests.memory",
                                                    "limits.cpu", "limits.memory"};
  std::set<std::string> req;
  for (const auto& r : required) {
    if (kValidation.count(r)) req.insert(r);
  }
  if (req.empty()) return "";
  std::map<std::string, std::set<std::string>> missing;
  auto check = [&](const JsonValue* cs) {
    if (!cs || !cs->IsArray()) return;
    for (const auto& c : cs->GetArray()) {
      ResourceList usage = ComputeUsage(ContainerList(c, "requests"), ContainerList(c, "limits"));
      for (const auto& r : req) {
        if (!usage.count(r)) missing[r].insert(std::string(Str(c, "name")));
      }
    }
  };
  check(Path(pod, {"spec", "containers"}));
  check(Path(pod, {"spec", "initContainers"}));
  if (missing.empty()) return "";
  std::vector<std::string> parts;
  for (const auto& [r, names] : missing) {
    std::string joined;
    for (const auto& n : names) joined += (joined.empty() ? "" : ",") + n;
    parts.push_back(r + " for: " + joined);
  }
  std::sort(parts.begin(), parts.end());
  std::string out = "must specify ";
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? "; " : "") + parts[i];
  return out;
}

const std::vector<Resource>& EvaluatedResources() {
  static const std::vector<Resource> res = {
      {"", "pods"},          {"", "services"},   {"", "configmaps"},       {"", "secrets"},
      {"", "persistentvolumeclaims"},            {"", "replicationcontrollers"},
      {"", "resourcequotas"}, {"apps", "deployments"}, {"apps", "replicasets"}, {"apps", "statefulsets"},
      {"apps", "daemonsets"}, {"batch", "jobs"},  {"batch", "cronjobs"}};
  return res;
}

}  // namespace quota

namespace {

constexpr int64_t kResyncMs = 5 * 60 * 1000;

client::ResourceRef RefOf(const quota::Resource& r) {
  std::string version = "v1";
  return client::ResourceRef{r.group, version, r.plural};
}

class ResourceQuotaController final : public Controller {
 public:
  explicit ResourceQuotaController(Context ctx) : Controller(ctx, "resourcequota") {
    client::EventHandlers qh;
    qh.on_add = [this](const client::ObjectPtr& o) { EnqueueObject(o); };
    qh.on_update = [this](const client::ObjectPtr& old_obj, const client::ObjectPtr& cur) {
      // Status writes are this controller's (and admission's): only spec changes matter.
      const JsonValue* a = Path(*old_obj, {"spec"});
      const JsonValue* b = Path(*cur, {"spec"});
      if (a && b && JsonEqual(*a, *b)) return;
      EnqueueObject(cur);
    };
    ctx.informers.For(kResourceQuotas).AddEventHandler(qh);
    for (const auto& res : quota::EvaluatedResources()) {
      client::EventHandlers h;
      h.on_add = [this](const client::ObjectPtr& o) { EnqueueNamespace(Namespace(*o)); };
      h.on_delete = [this](const client::ObjectPtr& o, bool) { EnqueueNamespace(Namespace(*o)); };
      h.on_update = [this, res](const client::ObjectPtr& old_obj, const client::ObjectPtr& cur) {
        std::string_view ns = Namespace(*cur);
        if (!HasQuotas(ns)) return;
        TimePoint now = clock().Now();
        if (!quota::Equals(quota::Usage(res, *old_obj, now), quota::Usage(res, *cur, now))) EnqueueNamespace(ns);
      };
      ctx.informers.For(RefOf(res)).AddEventHandler(h);
    }
  }

  void Reconcile(const std::string& key, Done done) override {
    client::ObjectPtr rq = ctx_.informers.For(kResourceQuotas).Get(key);
    if (!rq) return done(Status::OK());
    EnqueueAfter(key, kResyncMs);
    const JsonValue& q = *rq;
    std::string ns(Namespace(q));
    quota::ResourceList hard = quota::ParseResourceList(Path(q, {"spec", "hard"}));
    const JsonValue* status_hard = Path(q, {"status", "hard"});
    const JsonValue* status_used = Path(q, {"status", "used"});
    quota::ResourceList prev_used = quota::ParseResourceList(status_used);
    bool dirty = !status_hard || !status_used || !quota::Equals(hard, quota::ParseResourceList(status_hard));

    std::vector<std::string> hard_names = quota::Names(hard);
    quota::ResourceList used = prev_used;
    TimePoint now = clock().Now();
    for (const auto& res : quota::EvaluatedResources()) {
      std::vector<std::string> names = quota::MatchingResources(res, hard_names);
      if (names.empty()) continue;
      quota::ResourceList sum;
      for (const auto& n : names) sum[n] = api::Quantity();
      for (const auto& obj : ctx_.informers.For(RefOf(res)).ByIndex(client::kNamespaceIndex, ns)) {
        if (!quota::MatchesScopes(q, res, *obj)) continue;
        sum = quota::Add(sum, quota::Usage(res, *obj, now));
      }
      for (auto& [k, v] : quota::Mask(sum, names)) used[k] = v;
    }
    used = quota::Mask(used, hard_names);
    dirty = dirty || !quota::Equals(used, prev_used);
    if (!dirty) return done(Status::OK());

    JsonDoc doc;
    doc.CopyFrom(q, doc.GetAllocator());
    auto& a = doc.GetAllocator();
    JsonValue status(rapidjson::kObjectType);
    status.AddMember("hard", quota::ResourceListToJson(hard, a), a);
    status.AddMember("used", quota::ResourceListToJson(used, a), a);
    SetMember(doc, "status", std::move(status), a);
    ctx_.client.Update(kResourceQuotas, ns, doc, "status", [done](StatusOr<JsonDoc> r) {
      if (!r.ok() && r.error().code() == Code::kNotFound) return done(Status::OK());
      done(r.ok() ? Status::OK() : r.error());
    });
  }

 private:
  bool HasQuotas(std::string_view ns) {
    return !ctx_.informers.For(kResourceQuotas).IndexKeys(client::kNamespaceIndex, std::string(ns)).empty();
  }
  void EnqueueNamespace(std::string_view ns) {
    for (const auto& k : ctx_.informers.For(kResourceQuotas).IndexKeys(client::kNamespaceIndex, std::string(ns))) {
      Enqueue(k);
    }
  }
};

}  // namespace

ControllerPtr NewResourceQuotaController(Context ctx) { return std::make_unique<ResourceQuotaController>(ctx); }

}  // namespace minik::controllers
