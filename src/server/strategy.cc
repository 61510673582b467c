#include "server/strategy.h"

#include <set>
#include <string>

#include "common/strings.h"

namespace minik::server {

bool HasGeneration(const api::ResourceInfo& info) {
  static const std::set<std::string> kinds = {
      "apps/Deployment", "apps/ReplicaSet", "apps/StatefulSet", "apps/DaemonSet", "/ReplicationController",
      "batch/Job", "batch/CronJob", "policy/PodDisruptionBudget", "autoscaling/HorizontalPodAutoscaler",
      "networking.k8s.io/NetworkPolicy", "networking.k8s.io/Ingress", "networking.k8s.io/IngressClass"};
  return kinds.count(info.group + "/" + info.kind) > 0;
}

bool JsonEqual(const JsonValue& a, const JsonValue& b) {
  if (a.GetType() != b.GetType()) {
    if (a.IsNumber() && b.IsNumber()) return a == b;
    return false;
  }
  if (a.IsObject()) {
    if (a.MemberCount() != b.MemberCount()) return false;
    for (auto it = a.MemberBegin(); it != a.MemberEnd(); ++it) {
      auto jt = b.FindMember(it->name);
      if (jt == b.MemberEnd() || !JsonEqual(it->value, jt->value)) return false;
    }
    return true;
  }
  if (a.IsArray()) {
    if (a.Size() != b.Size()) return false;
    for (rapidjson::SizeType i = 0; i < a.Size(); ++i) {
      if (!JsonEqual(a[i], b[i])) return false;
    }
    return true;
  }
  return a == b;
}

void DropEmptyMetadata(JsonValue& obj) {
  JsonValue* meta = MutableMember(obj, "metadata");
  if (!meta || !meta->IsObject()) return;
  for (const char* f : {"labels", "annotations", "finalizers", "ownerReferences", "managedFields"}) {
    const JsonValue* v = Member(*meta, f);
    if (!v) continue;
    if (v->IsNull() || (v->IsObject() && v->MemberCount() == 0) || (v->IsArray() && v->Empty())) RemoveMember(*meta, f);
  }
}

bool SameAsStored(const JsonValue& stored, const JsonValue& obj) {
  if (!stored.IsObject() || !obj.IsObject() || stored.MemberCount() != obj.MemberCount()) return false;
  for (auto it = stored.MemberBegin(); it != stored.MemberEnd(); ++it) {
    auto jt = obj.FindMember(it->name);
    if (jt == obj.MemberEnd()) return false;
    if (std::string_view(it->name.GetString(), it->name.GetStringLength()) != "metadata") {
      if (!JsonEqual(it->value, jt->value)) return false;
      continue;
    }
    const JsonValue& a = it->value;
    const JsonValue& b = jt->value;
    if (!a.IsObject() || !b.IsObject()) return JsonEqual(a, b);
    size_t counted = 0;
    for (auto m = a.MemberBegin(); m != a.MemberEnd(); ++m) {
      if (std::string_view(m->name.GetString(), m->name.GetStringLength()) == "resourceVersion") continue;
      auto n = b.FindMember(m->name);
      if (n == b.MemberEnd() || !JsonEqual(m->value, n->value)) return false;
      ++counted;
    }
    if (counted != b.MemberCount()) return false;
  }
  return true;
}

std::string PodQosClass(const JsonValue& pod) {
  const JsonValue* spec = Member(pod, "spec");
  if (!spec) return "BestEffort";
  bool any = false, guaranteed = true;
  auto visit = [&](const JsonValue* list) {
    if (!list || !list->IsArray()) return;
    for (const auto& c : list->GetArray()) {
      const JsonValue* res = Member(c, "resources");
      const JsonValue* req = res ? Member(*res, "requests") : nullptr;
      const JsonValue* lim = res ? Member(*res, "limits") : nullptr;
      bool has_req = req && req->IsObject() && req->MemberCount() > 0;
      bool has_lim = lim && lim->IsObject() && lim->MemberCount() > 0;
      if (has_req || has_lim) any = true;
      for (const char* r : {"cpu", "memory"}) {
        const JsonValue* l = lim ? Member(*lim, r) : nullptr;
        const JsonValue* q = req ? Member(*req, r) : nullptr;
        if (!l) {
          guaranteed = false;
          continue;
        }
        if (q && !JsonEqual(*q, *l)) guaranteed = false;
      }
    }
  };
  visit(Member(*spec, "containers"));
  visit(Member(*spec, "initContainers"));
  if (!any) return "BestEffort";
  return guaranteed ? "Guaranteed" : "Burstable";
}

namespace {

// As the v1 Secret's conversion: stringData is write-only, merged into data (base64, winning over
// data's keys) and never stored.
void FoldSecretStringData(const api::ResourceInfo& info, JsonValue& obj, JsonAlloc& a) {
  if (!info.group.empty() || info.kind != "Secret" || !obj.IsObject()) return;
  JsonValue* sdata = MutableMember(obj, "stringData");
  if (!sdata) return;
  if (sdata->IsObject() && sdata->MemberCount() > 0) {
    JsonValue& data = EnsureObject(obj, "data", a);
    for (auto it = sdata->MemberBegin(); it != sdata->MemberEnd(); ++it) {
      if (!it->value.IsString()) continue;
      std::string encoded = Base64Encode(std::string_view(it->value.GetString(), it->value.GetStringLength()));
      SetMember(data, std::string_view(it->name.GetString(), it->name.GetStringLength()), MakeString(encoded, a), a);
    }
  }
  RemoveMember(obj, "stringData");
}

}  // namespace

void PrepareForCreate(const api::ResourceInfo& info, JsonValue& obj, JsonAlloc& a) {
  DropEmptyMetadata(obj);
  FoldSecretStringData(info, obj, a);
  JsonValue& meta = EnsureObject(obj, "metadata", a);
  if (HasGeneration(info)) SetMember(meta, "generation", JsonValue(1), a);
  else RemoveMember(meta, "generation");
  if (!info.status_subresource || (info.group.empty() && info.kind == "Node")) return;
  JsonValue status(rapidjson::kObjectType);
  if (info.group.empty()) {
    if (info.kind == "Pod") {
      status.AddMember("phase", "Pending", a);
      status.AddMember("qosClass", MakeString(PodQosClass(obj), a), a);
    } else if (info.kind == "Namespace") {
      status.AddMember("phase", "Active", a);
    } else if (info.kind == "PersistentVolumeClaim" || info.kind == "PersistentVolume") {
      status.AddMember("phase", "Pending", a);
    } else if (info.kind == "Service") {
      status.AddMember("loadBalancer", JsonValue(rapidjson::kObjectType), a);
    }
  }
  SetMember(obj, "status", std::move(status), a);
}

void PrepareForUpdate(const api::ResourceInfo& info, JsonValue& obj, const JsonValue& old, bool status_only,
                      JsonAlloc& a) {
  DropEmptyMetadata(obj);
  FoldSecretStringData(info, obj, a);
  if (status_only) {
    // Everything but status comes from the stored object.
    JsonValue status(rapidjson::kObjectType);
    if (JsonValue* s = MutableMember(obj, "status")) status = std::move(*s);
    JsonValue rv;
    if (const JsonValue* r = Path(obj, {"metadata", "resourceVersion"})) rv.CopyFrom(*r, a);
    obj.CopyFrom(old, a);
    SetMember(obj, "status", std::move(status), a);
    if (!rv.IsNull()) SetMember(EnsureObject(obj, "metadata", a), "resourceVersion", std::move(rv), a);
    return;
  }
  if (info.status_subresource) {
    if (const JsonValue* s = Member(old, "status")) SetMember(obj, "status", Clone(*s, a), a);
    else RemoveMember(obj, "status");
  }
  if (HasGeneration(info)) {
    int64_t gen = 1;
    if (const JsonValue* g = Path(old, {"metadata", "generation"}); g && g->IsInt64()) gen = g->GetInt64();
    // Any change outside metadata and status is a spec change.
    bool changed = false;
    for (auto it = obj.MemberBegin(); it != obj.MemberEnd() && !changed; ++it) {
      std::string_view n(it->name.GetString(), it->name.GetStringLength());
      if (n == "metadata" || n == "status" || n == "apiVersion" || n == "kind") continue;
      const JsonValue* o = Member(old, n);
      changed = !o || !JsonEqual(*o, it->value);
    }
    for (auto it = old.MemberBegin(); it != old.MemberEnd() && !changed; ++it) {
      std::string_view n(it->name.GetString(), it->name.GetStringLength());
      if (n == "metadata" || n == "status" || n == "apiVersion" || n == "kind") continue;
      changed = Member(obj, n) == nullptr;
    }
    SetMember(EnsureObject(obj, "metadata", a), "generation", JsonValue(changed ? gen + 1 : gen), a);
  }
}

}  // namespace minik::server
