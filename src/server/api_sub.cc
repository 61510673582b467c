// Subresources (binding, scale, eviction), Service address allocation, namespace termination
// and the objects every cluster starts with.
#include <algorithm>
#include <map>

#include "api/errors.h"
#include "api/labels.h"
#include "api/patch.h"
#include "common/log.h"
#include "common/strings.h"
#include "server/api_call.h"
#include "server/api_server.h"
#include "server/internal_writer.h"
#include "server/list_filter.h"

namespace minik::server {
namespace {

std::string MetaStr(const JsonValue& obj, const char* f) {
  const JsonValue* v = Path(obj, {"metadata", f});
  return v && v->IsString() ? v->GetString() : "";
}

std::string SuccessStatus(int code) {
  return "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Success\",\"code\":" +
         std::to_string(code) + "}";
}

std::string Quote(const std::vector<std::string>& v) {
  std::string s = "[]string{";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) s += ", ";
    s += "\"" + v[i] + "\"";
  }
  return s + "}";
}

}  // namespace

// ---- Service addresses ---------------------------------------------------------------------

Status ApiServer::AllocateServiceAddresses(JsonDoc& svc, const JsonValue* old, std::vector<std::string>* ips,
                                           std::vector<int>* ports) {
  auto& a = svc.GetAllocator();
  JsonValue& spec = EnsureObject(svc, "spec", a);
  std::string name = MetaStr(svc, "name");
  auto invalid = [&](StatusCause cause) { return api::InvalidError("", "Service", name, {std::move(cause)}); };
  std::string type = GetString(spec, "type").value_or("ClusterIP").data();
  const api::ResourceInfo* sinfo = registry_.Find("", "v1", "services");
  std::string self_key = old ? StorageKey(*sinfo, MetaStr(svc, "namespace"), name) : "";
  auto used_ips = [&](const std::function<void(const std::string&)>& fn) {
    auto page = store_.List(StoragePrefix(*sinfo, ""), "", 0, nullptr);
    for (const auto& o : page.items) {
      if (o->kv.key == self_key) continue;
      if (const JsonValue* l = Path(*o->object, {"spec", "clusterIPs"}); l && l->IsArray()) {
        for (const auto& ip : l->GetArray()) if (ip.IsString()) fn(ip.GetString());
      } else if (auto ip = Path(*o->object, {"spec", "clusterIP"}); ip && ip->IsString()) {
        fn(ip->GetString());
      }
    }
  };
  auto used_ports = [&](const std::function<void(int)>& fn) {
    auto page = store_.List(StoragePrefix(*sinfo, ""), "", 0, nullptr);
    for (const auto& o : page.items) {
      if (o->kv.key == self_key) continue;
      if (const JsonValue* ps = Path(*o->object, {"spec", "ports"}); ps && ps->IsArray()) {
        for (const auto& p : ps->GetArray()) {
          if (auto np = GetInt(p, "nodePort")) fn(static_cast<int>(*np));
        }
      }
    }
  };
  // Cluster IP.
  if (type == "ExternalName") {
    RemoveMember(spec, "clusterIP");
    RemoveMember(spec, "clusterIPs");
  } else {
    std::string ip = GetString(spec, "clusterIP").value_or("").data();
    std::string old_ip = old ? std::string(GetString(*Member(*old, "spec"), "clusterIP").value_or("")) : "";
    if (ip.empty()) {
      if (const JsonValue* l = Member(spec, "clusterIPs"); l && l->IsArray() && !l->Empty() && (*l)[0].IsString()) {
        ip = (*l)[0].GetString();
      }
    }
    if (old && !old_ip.empty()) {
      if (ip.empty()) ip = old_ip;
      if (ip != old_ip) {
        return invalid(api::FieldInvalid("spec.clusterIPs[0]", Quote({ip}), "may not change once set"));
      }
    } else if (ip.empty()) {
      auto got = allocator_.AllocateIp(used_ips);
      if (!got.ok()) return Status::Internal("failed to allocate a serviceIP: " + got.error().message());
      ip = *got;
      ips->push_back(ip);
    } else if (ip != "None") {
      Status st = allocator_.ReserveIp(ip, used_ips);
      if (!st.ok()) {
        return invalid(api::FieldInvalid("spec.clusterIPs", Quote({ip}), "failed to allocate IP " + ip + ": " + st.message()));
      }
      ips->push_back(ip);
    }
    SetString(spec, "clusterIP", ip, a);
    JsonValue list(rapidjson::kArrayType);
    list.PushBack(MakeString(ip, a), a);
    SetMember(spec, "clusterIPs", std::move(list), a);
  }
  // Node ports.
  JsonValue* sports = MutableMember(spec, "ports");
  if (type == "NodePort" || type == "LoadBalancer") {
    if (sports && sports->IsArray()) {
      std::set<int> mine;
      for (rapidjson::SizeType i = 0; i < sports->Size(); ++i) {
        JsonValue& p = (*sports)[i];
        std::optional<int64_t> np = GetInt(p, "nodePort");
        if ((!np || *np == 0) && old) {
          // Keep the port already allocated to the same service port.
          if (const JsonValue* ops = Path(*old, {"spec", "ports"}); ops && ops->IsArray()) {
            for (const auto& op : ops->GetArray()) {
              if (GetInt(op, "port") == GetInt(p, "port") && GetInt(op, "nodePort")) np = GetInt(op, "nodePort");
            }
          }
        }
        std::string field = "spec.ports[" + std::to_string(i) + "].nodePort";
        if (np && *np != 0) {
          int port = static_cast<int>(*np);
          bool was_mine = false;
          if (old) {
            if (const JsonValue* ops = Path(*old, {"spec", "ports"}); ops && ops->IsArray()) {
              for (const auto& op : ops->GetArray()) was_mine = was_mine || GetInt(op, "nodePort") == *np;
            }
          }
          if (mine.count(port)) return invalid(api::FieldDuplicate(field, std::to_string(port)));
          if (!was_mine) {
            Status st = allocator_.ReserveNodePort(port, used_ports);
            if (!st.ok()) return invalid(api::FieldInvalid(field, std::to_string(port), st.message()));
            ports->push_back(port);
          }
          mine.insert(port);
          SetMember(p, "nodePort", JsonValue(port), a);
        } else {
          auto got = allocator_.AllocateNodePort(used_ports);
          if (!got.ok()) return Status::Internal("failed to allocate a nodePort: " + got.error().message());
          ports->push_back(*got);
          mine.insert(*got);
          SetMember(p, "nodePort", JsonValue(*got), a);
        }
      }
    }
  } else if (sports && sports->IsArray()) {
    for (rapidjson::SizeType i = 0; i < sports->Size(); ++i) {
      if (auto np = GetInt((*sports)[i], "nodePort"); np && *np != 0) {
        return invalid(api::FieldForbidden("spec.ports[" + std::to_string(i) + "].nodePort",
                                           "may not be used when `type` is '" + type + "'"));
      }
    }
  }
  return Status::OK();
}

// ---- binding -------------------------------------------------------------------------------

void ApiServer::DoBinding(const CallPtr& c) {
  const auto& info = *c->ri.info;
  auto body = DecodeRequestBody(c->req);
  if (!body.ok()) return SendStatus(*c->resp, body.error());
  const JsonValue* target = Member(*body, "target");
  auto node = target ? GetString(*target, "name") : std::nullopt;
  if (!node || node->empty()) {
    return SendStatus(*c->resp, api::InvalidError("", "Binding", c->ri.name, {api::FieldRequired("target.name")}));
  }
  std::string key = StorageKey(info, c->ri.namespace_, c->ri.name);
  ObjectPtr pod = store_.Get(key);
  if (!pod) return SendStatus(*c->resp, api::NotFoundError("", "pods", c->ri.name));
  if (auto cur = Path(*pod->object, {"spec", "nodeName"}); cur && cur->IsString() && cur->GetStringLength() > 0) {
    return SendStatus(*c->resp, api::ConflictError("", "pods/binding", c->ri.name,
                                                   "pod " + c->ri.name + " is already assigned to node \"" + cur->GetString() + "\""));
  }
  if (Path(*pod->object, {"metadata", "deletionTimestamp"})) {
    return SendStatus(*c->resp, api::ConflictError("", "pods/binding", c->ri.name, "pod " + c->ri.name + " is being deleted, cannot be assigned to a host"));
  }
  auto doc = std::make_shared<JsonDoc>();
  doc->CopyFrom(*pod->object, doc->GetAllocator());
  auto& a = doc->GetAllocator();
  SetString(EnsureObject(*doc, "spec", a), "nodeName", std::string(*node), a);
  JsonValue& status = EnsureObject(*doc, "status", a);
  JsonValue* conds = MutableMember(status, "conditions");
  if (!conds || !conds->IsArray()) {
    SetMember(status, "conditions", JsonValue(rapidjson::kArrayType), a);
    conds = MutableMember(status, "conditions");
  }
  JsonValue cond(rapidjson::kObjectType);
  cond.AddMember("type", "PodScheduled", a);
  cond.AddMember("status", "True", a);
  cond.AddMember("lastProbeTime", JsonValue(rapidjson::kNullType), a);
  cond.AddMember("lastTransitionTime", MakeString(FormatRFC3339(clock_.Now()), a), a);
  bool replaced = false;
  for (auto& x : conds->GetArray()) {
    if (GetString(x, "type") == std::optional<std::string_view>("PodScheduled")) {
      x = JsonValue(cond, a);
      replaced = true;
    }
  }
  if (!replaced) conds->PushBack(cond, a);
  if (c->dry_run) return SendJson(*c->resp, 201, SuccessStatus(201));
  // The binding writes spec and status together, bypassing the status split of updates.
  if (JsonValue* m = MutableMember(*doc, "metadata")) RemoveMember(*m, "resourceVersion");
  store_.Update(key, *doc, pod->kv.mod_revision, [c, name = c->ri.name](StatusOr<ObjectPtr> r) {
    if (!r.ok()) {
      if (r.error().code() == Code::kConflict) {
        return SendStatus(*c->resp, api::ConflictError("", "pods", name, api::kOptimisticLockMessage));
      }
      return SendStatus(*c->resp, r.error());
    }
    SendJson(*c->resp, 201, SuccessStatus(201));
  });
}

// ---- scale ---------------------------------------------------------------------------------

namespace {

std::string SelectorString(const JsonValue& obj, bool map_selector) {
  const JsonValue* sel = Path(obj, {"spec", "selector"});
  if (!sel || !sel->IsObject()) return "";
  std::vector<std::string> parts;
  const JsonValue* labels = map_selector ? sel : Member(*sel, "matchLabels");
  if (labels && labels->IsObject()) {
    for (auto it = labels->MemberBegin(); it != labels->MemberEnd(); ++it) {
      if (it->value.IsString()) parts.push_back(std::string(it->name.GetString()) + "=" + it->value.GetString());
    }
  }
  if (!map_selector) {
    if (const JsonValue* exprs = Member(*sel, "matchExpressions"); exprs && exprs->IsArray()) {
      for (const auto& e : exprs->GetArray()) {
        std::string key(GetString(e, "key").value_or(""));
        std::string op(GetString(e, "operator").value_or(""));
        std::vector<std::string> vals;
        if (const JsonValue* vs = Member(e, "values"); vs && vs->IsArray()) {
          for (const auto& v : vs->GetArray()) if (v.IsString()) vals.emplace_back(v.GetString());
        }
        std::sort(vals.begin(), vals.end());
        if (op == "In") parts.push_back(key + " in (" + Join(vals, ",") + ")");
        else if (op == "NotIn") parts.push_back(key + " notin (" + Join(vals, ",") + ")");
        else if (op == "Exists") parts.push_back(key);
        else if (op == "DoesNotExist") parts.push_back("!" + key);
      }
    }
  }
  std::sort(parts.begin(), parts.end(), [](const std::string& x, const std::string& y) {
    auto kx = x.substr(x.find_first_not_of('!')), ky = y.substr(y.find_first_not_of('!'));
    return kx < ky;
  });
  return Join(parts, ",");
}

JsonDoc ScaleOf(const api::ResourceInfo& info, const StoredObject& o) {
  JsonDoc d;
  d.SetObject();
  auto& a = d.GetAllocator();
  const JsonValue& obj = *o.object;
  d.AddMember("kind", "Scale", a);
  d.AddMember("apiVersion", "autoscaling/v1", a);
  JsonValue meta(rapidjson::kObjectType);
  for (const char* f : {"name", "namespace", "uid", "resourceVersion", "creationTimestamp"}) {
    if (const JsonValue* v = Path(obj, {"metadata", f})) meta.AddMember(JsonValue(f, a), Clone(*v, a), a);
  }
  d.AddMember("metadata", meta, a);
  JsonValue spec(rapidjson::kObjectType);
  const JsonValue* r = Path(obj, {"spec", "replicas"});
  spec.AddMember("replicas", r && r->IsInt64() ? r->GetInt64() : 1, a);
  d.AddMember("spec", spec, a);
  JsonValue status(rapidjson::kObjectType);
  const JsonValue* sr = Path(obj, {"status", "replicas"});
  status.AddMember("replicas", sr && sr->IsInt64() ? sr->GetInt64() : 0, a);
  std::string sel = SelectorString(obj, info.kind == "ReplicationController");
  if (!sel.empty()) status.AddMember("selector", MakeString(sel, a), a);
  d.AddMember("status", status, a);
  return d;
}

}  // namespace

void ApiServer::DoScale(const CallPtr& c) { ScaleAttempt(c, 0); }

void ApiServer::ScaleAttempt(const CallPtr& c, int tries) {
  const auto& info = *c->ri.info;
  std::string key = StorageKey(info, c->ri.namespace_, c->ri.name);
  ObjectPtr o = store_.Get(key);
  if (!o) return SendStatus(*c->resp, api::NotFoundError(info.group, info.plural, c->ri.name));
  JsonDoc scale = ScaleOf(info, *o);
  if (c->ri.verb == "get") return SendJson(*c->resp, 200, ToJson(scale));
  StatusOr<JsonDoc> next = Status::Internal("unreachable");
  if (c->ri.verb == "update") {
    next = DecodeRequestBody(c->req);
  } else {
    const std::string* ct = c->req.Header("content-type");
    std::string type = ct ? std::string(Trim(Split(*ct, ';')[0])) : "";
    if (type == "application/json-patch+json") next = api::ApplyJsonPatch(scale, c->req.body);
    else if (type == "application/merge-patch+json") next = api::ApplyMergePatch(scale, c->req.body);
    else if (type == "application/strategic-merge-patch+json") next = api::ApplyStrategicMergePatch(scale, c->req.body, "autoscaling/v1", "Scale");
    else return SendStatus(*c->resp, Status::UnsupportedMediaType("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json"));
  }
  if (!next.ok()) return SendStatus(*c->resp, next.error().code() == Code::kBadRequest ? next.error() : Status::BadRequest(next.error().message()));
  const JsonValue* rep = Path(*next, {"spec", "replicas"});
  int64_t replicas = rep && rep->IsInt64() ? rep->GetInt64() : 0;
  if (replicas < 0) {
    return SendStatus(*c->resp, api::InvalidError("autoscaling", "Scale", c->ri.name,
                                                  {api::FieldInvalid("spec.replicas", std::to_string(replicas), "must be greater than or equal to 0")}));
  }
  std::string rv = MetaStr(*next, "resourceVersion");
  if (!rv.empty() && rv != std::to_string(o->kv.mod_revision)) {
    return SendStatus(*c->resp, api::ConflictError(info.group, info.plural, c->ri.name, api::kOptimisticLockMessage));
  }
  auto doc = std::make_shared<JsonDoc>();
  doc->CopyFrom(*o->object, doc->GetAllocator());
  SetMember(EnsureObject(*doc, "spec", doc->GetAllocator()), "replicas", JsonValue(replicas), doc->GetAllocator());
  // As a patch, and an update without a resourceVersion, retry when another writer got there
  // first (upstream's GuaranteedUpdate); an update naming a resourceVersion gets the Conflict.
  bool precondition = c->ri.verb == "update" ? !rv.empty()
                                              : c->req.body.find("\"resourceVersion\"") != std::string::npos;
  bool retry = !precondition && tries < 5;
  CommitUpdate(c, info, key, o, doc, false, [this, c, &info, retry, tries](StatusOr<ObjectPtr> r) {
    if (!r.ok() && r.error().IsConflict() && retry) return ScaleAttempt(c, tries + 1);
    if (!r.ok()) return SendStatus(*c->resp, r.error());
    SendJson(*c->resp, 200, ToJson(ScaleOf(info, **r)));
  });
}

// ---- eviction ------------------------------------------------------------------------------

namespace {

// TooManyRequests "Cannot evict pod as it would violate the pod's disruption budget." with a
// DisruptionBudget cause, as upstream's eviction REST.
Status DisruptionBudgetError(std::string cause) {
  Status st = Status::TooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.");
  StatusDetails d;
  d.causes.push_back(StatusCause{"DisruptionBudget", std::move(cause), ""});
  st.SetDetails(std::move(d));
  return st;
}

bool PodReady(const JsonValue& pod) {
  const JsonValue* conds = Path(pod, {"status", "conditions"});
  if (!conds || !conds->IsArray()) return false;
  for (const auto& cnd : conds->GetArray()) {
    if (GetString(cnd, "type").value_or("") == "Ready") return GetString(cnd, "status").value_or("") == "True";
  }
  return false;
}

}  // namespace

void ApiServer::DoEviction(const CallPtr& c) {
  const auto& info = *c->ri.info;
  std::string key = StorageKey(info, c->ri.namespace_, c->ri.name);
  ObjectPtr pod = store_.Get(key);
  if (!pod) return SendStatus(*c->resp, api::NotFoundError("", "pods", c->ri.name));
  int64_t grace = -1;
  if (auto body = DecodeRequestBody(c->req); body.ok()) {
    if (const JsonValue* opts = Member(*body, "deleteOptions")) {
      if (auto g = GetInt(*opts, "gracePeriodSeconds")) grace = *g;
    }
  }
  auto evict = [this, c, &info, key, pod, grace]() {
    DeleteObject(info, key, pod, grace, "", c->dry_run, [c](StatusOr<ObjectPtr> r, bool) {
      if (!r.ok()) return SendStatus(*c->resp, r.error());
      SendJson(*c->resp, 201, SuccessStatus(201));
    });
  };
  // Pods that are not running (or already going away) are deleted without consulting budgets.
  const JsonValue& pobj = *pod->object;
  const JsonValue* phase_v = Path(pobj, {"status", "phase"});
  std::string_view phase = phase_v && phase_v->IsString() ? phase_v->GetString() : "";
  if (phase == "Succeeded" || phase == "Failed" || phase == "Pending" || Path(pobj, {"metadata", "deletionTimestamp"})) {
    return evict();
  }
  // The budgets of the pod's namespace that select it.
  const api::ResourceInfo* pdb_info = registry_.Find("policy", "v1", "poddisruptionbudgets");
  const JsonValue* labels = Path(pobj, {"metadata", "labels"});
  std::vector<ObjectPtr> pdbs;
  if (pdb_info) {
    auto page = store_.List(StoragePrefix(*pdb_info, c->ri.namespace_), "", 0, nullptr);
    for (const auto& o : page.items) {
      auto sel = api::LabelSelector::FromLabelSelectorJson(Path(*o->object, {"spec", "selector"}));
      if (!sel.ok() || sel->Empty() || !sel->Matches(labels)) continue;
      pdbs.push_back(o);
    }
  }
  if (pdbs.empty()) return evict();
  if (pdbs.size() > 1) {
    return SendStatus(*c->resp, Status::Internal(
        "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."));
  }
  const JsonValue& pdb = *pdbs[0]->object;
  std::string pdb_name = MetaStr(pdb, "name");
  const JsonValue* st = Member(pdb, "status");
  auto status_int = [st](const char* f) -> int64_t {
    return st ? GetInt(*st, f).value_or(0) : 0;
  };
  bool ready = PodReady(pobj);
  const JsonValue* policy_v = Path(pdb, {"spec", "unhealthyPodEvictionPolicy"});
  std::string policy = policy_v && policy_v->IsString() ? policy_v->GetString() : "IfHealthyBudget";
  if (!ready && policy == "AlwaysAllow") return evict();
  if (!ready && status_int("currentHealthy") >= status_int("desiredHealthy") && status_int("desiredHealthy") > 0) {
    return evict();
  }
  int64_t generation = GetInt(*Member(pdb, "metadata"), "generation").value_or(0);
  if (status_int("observedGeneration") < generation) {
    return SendStatus(*c->resp, DisruptionBudgetError("The disruption budget " + pdb_name +
                                                      " is still being processed by the server."));
  }
  int64_t allowed = status_int("disruptionsAllowed");
  if (allowed < 0) {
    return SendStatus(*c->resp, api::ForbiddenError("policy", "poddisruptionbudgets", pdb_name,
                                                    "pdb disruptions allowed is negative"));
  }
  const JsonValue* disrupted = st ? Member(*st, "disruptedPods") : nullptr;
  if (disrupted && disrupted->IsObject() && disrupted->MemberCount() > 2000) {
    return SendStatus(*c->resp, api::ForbiddenError("policy", "poddisruptionbudgets", pdb_name,
                                                    "DisruptedPods map too big - too many evictions not confirmed by PDB controller"));
  }
  if (allowed == 0) {
    return SendStatus(*c->resp, DisruptionBudgetError("The disruption budget " + pdb_name + " needs " +
                                                      std::to_string(status_int("desiredHealthy")) +
                                                      " healthy pods and has " +
                                                      std::to_string(status_int("currentHealthy")) + " currently"));
  }
  if (c->dry_run) return evict();
  // Take one disruption from the budget (recording the pod), then delete the pod.
  auto doc = std::make_shared<JsonDoc>();
  doc->CopyFrom(pdb, doc->GetAllocator());
  auto& a = doc->GetAllocator();
  JsonValue& status = EnsureObject(*doc, "status", a);
  SetMember(status, "disruptionsAllowed", JsonValue(allowed - 1), a);
  JsonValue& dp = EnsureObject(status, "disruptedPods", a);
  SetString(dp, c->ri.name, FormatRFC3339(clock_.Now()), a);
  if (allowed - 1 == 0) {
    if (JsonValue* conds = MutableMember(status, "conditions"); conds && conds->IsArray()) {
      for (auto& cnd : conds->GetArray()) {
        if (GetString(cnd, "type").value_or("") != "DisruptionAllowed") continue;
        if (GetString(cnd, "status").value_or("") != "False") {
          SetString(cnd, "lastTransitionTime", FormatRFC3339(clock_.Now()), a);
        }
        SetString(cnd, "status", "False", a);
        SetString(cnd, "reason", "InsufficientPods", a);
        SetString(cnd, "message", "", a);
      }
    }
  }
  if (JsonValue* md = MutableMember(*doc, "metadata")) RemoveMember(*md, "resourceVersion");
  std::string pdb_key = pdbs[0]->kv.key;
  store_.Update(pdb_key, *doc, pdbs[0]->kv.mod_revision, [c, evict, pdb_name](StatusOr<ObjectPtr> r) {
    if (!r.ok()) {
      if (r.error().IsConflict()) {
        return SendStatus(*c->resp, DisruptionBudgetError("The disruption budget " + pdb_name +
                                                          " is still being processed by the server."));
      }
      return SendStatus(*c->resp, r.error());
    }
    evict();
  });
}

// ---- namespaces ----------------------------------------------------------------------------

void ApiServer::CheckTerminatingNamespaces() {
  if (terminating_namespaces_.empty()) {
    namespace_timer_.reset();
    return;
  }
  std::vector<std::string> done;
  for (const std::string& ns : terminating_namespaces_) {
    bool empty = true;
    for (const auto& info : registry_.resources()) {
      if (!info.namespaced || !info.HasVerb("delete")) continue;
      auto page = store_.List(StoragePrefix(info, ns), "", 0, nullptr);
      for (const auto& o : page.items) {
        empty = false;
        if (Path(*o->object, {"metadata", "deletionTimestamp"})) continue;  // already going away
        DeleteObject(info, o->kv.key, o, -1, "Background", false, [](StatusOr<ObjectPtr>, bool) {});
      }
    }
    if (empty) done.push_back(ns);
  }
  for (const auto& ns : done) FinalizeNamespace(ns);
  if (!terminating_namespaces_.empty() && !namespace_timer_) {
    namespace_timer_ = loop_.AddTimer(1000, 1000, [this]() { CheckTerminatingNamespaces(); });
  }
}

void ApiServer::FinalizeNamespace(const std::string& ns) {
  terminating_namespaces_.erase(ns);
  const api::ResourceInfo* info = registry_.Find("", "v1", "namespaces");
  std::string key = StorageKey(*info, "", ns);
  ObjectPtr o = store_.Get(key);
  if (!o) return;
  auto doc = std::make_shared<JsonDoc>();
  doc->CopyFrom(*o->object, doc->GetAllocator());
  auto& a = doc->GetAllocator();
  if (JsonValue* spec = MutableMember(*doc, "spec")) RemoveMember(*spec, "finalizers");
  const JsonValue* fins = Path(*doc, {"metadata", "finalizers"});
  bool gone = !fins || !fins->IsArray() || fins->Empty();
  if (JsonValue* m = MutableMember(*doc, "metadata")) RemoveMember(*m, "resourceVersion");
  (void)a;
  if (gone) {
    store_.Delete(key, o->kv.mod_revision, [this, ns](StatusOr<ObjectPtr> r) {
      if (!r.ok() && r.error().code() == Code::kConflict) {
        terminating_namespaces_.insert(ns);
        CheckTerminatingNamespaces();
      }
    });
  } else {
    store_.Update(key, *doc, o->kv.mod_revision, [](StatusOr<ObjectPtr>) {});
  }
}

// ---- bootstrap -----------------------------------------------------------------------------

void ApiServer::Bootstrap(std::function<void(Status)> done) {
  // Resume namespaces that were terminating when the server stopped.
  const api::ResourceInfo* nsinfo = registry_.Find("", "v1", "namespaces");
  for (const auto& o : store_.List(StoragePrefix(*nsinfo, ""), "", 0, nullptr).items) {
    if (Path(*o->object, {"metadata", "deletionTimestamp"})) terminating_namespaces_.insert(MetaStr(*o->object, "name"));
  }
  struct Item {
    std::string path;
    std::string key;
    std::string body;
  };
  std::string ip = allocator_.FirstIp();
  std::string adv = options_.advertise_address;
  std::string port = std::to_string(options_.port);
  std::vector<Item> items;
  for (const char* ns : {"default", "kube-system", "kube-public", "kube-node-lease"}) {
    items.push_back({"/api/v1/namespaces", StorageKey(*nsinfo, "", ns),
                     std::string("{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"") + ns + "\"}}"});
  }
  items.push_back({"/api/v1/namespaces/default/services", StorageKey(*registry_.Find("", "v1", "services"), "default", "kubernetes"),
                   "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"kubernetes\",\"namespace\":\"default\","
                   "\"labels\":{\"component\":\"apiserver\",\"provider\":\"kubernetes\"}},\"spec\":{\"ports\":[{\"name\":\"https\","
                   "\"protocol\":\"TCP\",\"port\":443,\"targetPort\":" + port + "}],\"clusterIP\":\"" + ip +
                       "\",\"type\":\"ClusterIP\",\"sessionAffinity\":\"None\"}}"});
  items.push_back({"/api/v1/namespaces/default/endpoints", StorageKey(*registry_.Find("", "v1", "endpoints"), "default", "kubernetes"),
                   "{\"apiVersion\":\"v1\",\"kind\":\"Endpoints\",\"metadata\":{\"name\":\"kubernetes\",\"namespace\":\"default\","
                   "\"labels\":{\"endpointslice.kubernetes.io/skip-mirror\":\"true\"}},\"subsets\":[{\"addresses\":[{\"ip\":\"" + adv +
                       "\"}],\"ports\":[{\"name\":\"https\",\"port\":" + port + ",\"protocol\":\"TCP\"}]}]}"});
  if (const api::ResourceInfo* es = registry_.Find("discovery.k8s.io", "v1", "endpointslices")) {
    items.push_back({"/apis/discovery.k8s.io/v1/namespaces/default/endpointslices", StorageKey(*es, "default", "kubernetes"),
                     "{\"apiVersion\":\"discovery.k8s.io/v1\",\"kind\":\"EndpointSlice\",\"metadata\":{\"name\":\"kubernetes\","
                     "\"namespace\":\"default\",\"labels\":{\"kubernetes.io/service-name\":\"kubernetes\","
                     "\"endpointslice.kubernetes.io/managed-by\":\"endpointslice-controller.k8s.io\"}},\"addressType\":\"IPv4\","
                     "\"endpoints\":[{\"addresses\":[\"" + adv + "\"],\"conditions\":{\"ready\":true}}],"
                     "\"ports\":[{\"name\":\"https\",\"protocol\":\"TCP\",\"port\":" + port + "}]}"});
  }
  // Create them one after the other (namespaces first), skipping what exists.
  auto next = std::make_shared<std::function<void(size_t)>>();
  std::weak_ptr<std::function<void(size_t)>> weak = next;
  *next = [this, items, done, weak](size_t i) {
    auto self = weak.lock();
    if (i == items.size()) {
      ready_ = true;
      CheckTerminatingNamespaces();
      done(Status::OK());
      return;
    }
    if (store_.Get(items[i].key)) return (*self)(i + 1);
    http::Request req;
    req.method = "POST";
    req.path = items[i].path;
    req.target = items[i].path;
    req.headers.emplace_back("content-type", "application/json");
    req.body = items[i].body;
    auto w = std::make_shared<CapturingWriter>([self, i, done, path = items[i].path](int code, std::string body) {
      if (code != 201 && code != 409) {
        done(Status::Internal("bootstrap " + path + ": " + std::to_string(code) + " " + body));
        return;
      }
      (*self)(i + 1);
    });
    HandleInternal(req, w);
  };
  bootstrap_ = next;
  (*next)(0);
}

}  // namespace minik::server
