#include "server/manifests/apply.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

namespace minik::server {
namespace {

// ---- merge ----

// Metadata the server owns: meaningless in a manifest, never merged nor pruned.
constexpr std::string_view kServerMetadata[] = {
    "creationTimestamp", "deletionGracePeriodSeconds", "deletionTimestamp", "generation",
    "managedFields",     "resourceVersion",            "selfLink",          "uid",
};

void StripServerMetadata(JsonValue& obj) {
  JsonValue* meta = MutableMember(obj, "metadata");
  if (!meta || !meta->IsObject()) return;
  for (std::string_view f : kServerMetadata) RemoveMember(*meta, f);
}

// A deep copy without null members (a null in a merge patch creates nothing).
JsonValue CloneWithoutNulls(const JsonValue& v, JsonAlloc& a) {
  if (v.IsObject()) {
    JsonValue out(rapidjson::kObjectType);
    for (const auto& m : v.GetObject()) {
      if (m.value.IsNull()) continue;
      out.AddMember(JsonValue(m.name, a), CloneWithoutNulls(m.value, a), a);
    }
    return out;
  }
  if (v.IsArray()) {
    JsonValue out(rapidjson::kArrayType);
    for (const JsonValue& item : v.GetArray()) out.PushBack(CloneWithoutNulls(item, a), a);
    return out;
  }
  return JsonValue(v, a);
}

// The upstream patchMergeKey of a list field (k8s.io/api struct tags), when every item of the
// lists involved is an object carrying it; "" means the list is replaced as a whole.
std::string_view MergeKey(std::string_view field, const JsonValue& d, const JsonValue& c) {
  std::string_view key;
  if (field == "containers" || field == "initContainers" || field == "ephemeralContainers" ||
      field == "volumes" || field == "env" || field == "imagePullSecrets" || field == "resourceClaims" ||
      field == "schedulingGates") {
    key = "name";
  } else if (field == "volumeMounts") {
    key = "mountPath";
  } else if (field == "volumeDevices") {
    key = "devicePath";
  } else if (field == "hostAliases") {
    key = "ip";
  } else if (field == "ownerReferences") {
    key = "uid";
  } else if (field == "conditions") {
    key = "type";
  } else if (field == "topologySpreadConstraints") {
    key = "topologyKey";
  } else if (field == "ports") {
    // Container ports merge on containerPort, Service ports on port.
    key = "port";
    for (const JsonValue& item : d.GetArray()) {
      if (Member(item, "containerPort")) key = "containerPort";
    }
  } else {
    return {};
  }
  for (const JsonValue* list : {&d, &c}) {
    for (const JsonValue& item : list->GetArray()) {
      const JsonValue* k = Member(item, key);
      if (!k || k->IsObject() || k->IsArray() || k->IsNull()) return {};
    }
  }
  return key;
}

const JsonValue* FindByKey(const JsonValue* list, std::string_view key, const JsonValue& value) {
  if (!list || !list->IsArray()) return nullptr;
  for (const JsonValue& item : list->GetArray()) {
    const JsonValue* k = Member(item, key);
    if (k && *k == value) return &item;
  }
  return nullptr;
}

void MergeObject(JsonValue& c, const JsonValue* l, const JsonValue& d, JsonAlloc& a);

void MergeList(std::string_view field, JsonValue& c, const JsonValue* l, const JsonValue& d, JsonAlloc& a) {
  std::string_view key = MergeKey(field, d, c);
  if (key.empty()) {
    // Replace, unless the file did not change this list since it was last applied: then what
    // the server defaulted or someone else set in it stays.
    if (l && *l == d) return;
    c = CloneWithoutNulls(d, a);
    return;
  }
  JsonValue out(rapidjson::kArrayType);
  for (const JsonValue& di : d.GetArray()) {
    const JsonValue& kv = *Member(di, key);
    const JsonValue* ci = FindByKey(&c, key, kv);
    if (ci) {
      JsonValue merged(*ci, a);
      const JsonValue* li = FindByKey(l, key, kv);
      MergeObject(merged, li && li->IsObject() ? li : nullptr, di, a);
      out.PushBack(std::move(merged), a);
    } else {
      out.PushBack(CloneWithoutNulls(di, a), a);
    }
  }
  for (const JsonValue& ci : c.GetArray()) {
    const JsonValue& kv = *Member(ci, key);
    if (FindByKey(&d, key, kv)) continue;       // merged above
    if (FindByKey(l, key, kv)) continue;        // removed from the file
    out.PushBack(JsonValue(ci, a), a);          // added by someone else: kept
  }
  c = std::move(out);
}

void MergeObject(JsonValue& c, const JsonValue* l, const JsonValue& d, JsonAlloc& a) {
  for (const auto& m : d.GetObject()) {
    std::string_view name(m.name.GetString(), m.name.GetStringLength());
    if (m.value.IsNull()) {
      RemoveMember(c, name);
      continue;
    }
    JsonValue* cv = MutableMember(c, name);
    const JsonValue* lv = l ? Member(*l, name) : nullptr;
    if (cv && cv->IsObject() && m.value.IsObject()) {
      MergeObject(*cv, lv && lv->IsObject() ? lv : nullptr, m.value, a);
    } else if (cv && cv->IsArray() && m.value.IsArray()) {
      MergeList(name, *cv, lv && lv->IsArray() ? lv : nullptr, m.value, a);
    } else {
      SetMember(c, name, CloneWithoutNulls(m.value, a), a);
    }
  }
  if (l) {
    for (const auto& m : l->GetObject()) {
      std::string_view name(m.name.GetString(), m.name.GetStringLength());
      if (!Member(d, name)) RemoveMember(c, name);
    }
  }
}

void SetLastApplied(JsonValue& obj, const std::string& value, JsonAlloc& a) {
  JsonValue& meta = EnsureObject(obj, "metadata", a);
  JsonValue& annotations = EnsureObject(meta, "annotations", a);
  SetString(annotations, kLastAppliedAnnotation, value, a);
}

}  // namespace

std::string LastAppliedConfiguration(const JsonValue& desired) {
  JsonDoc copy;
  copy.CopyFrom(desired, copy.GetAllocator());
  if (copy.IsObject()) {
    JsonValue& meta = EnsureObject(copy, "metadata", copy.GetAllocator());
    JsonValue& annotations = EnsureObject(meta, "annotations", copy.GetAllocator());
    RemoveMember(annotations, kLastAppliedAnnotation);
  }
  std::string out;
  AppendGoJson(copy, &out);
  out.push_back('\n');
  return out;
}

JsonDoc WithLastApplied(const JsonValue& desired) {
  JsonDoc out;
  out.CopyFrom(desired, out.GetAllocator());
  StripServerMetadata(out);
  JsonDoc clean;
  clean.CopyFrom(CloneWithoutNulls(out, out.GetAllocator()), clean.GetAllocator());
  SetLastApplied(clean, LastAppliedConfiguration(desired), clean.GetAllocator());
  return clean;
}

JsonDoc LastAppliedOf(const JsonValue& live) {
  JsonDoc none;
  const JsonValue* v = Path(live, {"metadata", "annotations", kLastAppliedAnnotation});
  if (!v || !v->IsString()) return none;
  auto parsed = ParseJson(std::string_view(v->GetString(), v->GetStringLength()));
  if (!parsed.ok() || !parsed->IsObject()) return none;
  return std::move(parsed).value();
}

JsonDoc ThreeWayMerge(const JsonValue& live, const JsonValue& last_applied, const JsonValue& desired) {
  JsonDoc out;
  JsonAlloc& a = out.GetAllocator();
  out.CopyFrom(live, a);
  JsonValue d(desired, a);
  StripServerMetadata(d);
  JsonValue l(last_applied, a);
  if (l.IsObject()) StripServerMetadata(l);
  // The last-applied annotation itself is never merged: it is set below.
  JsonValue* dmeta = MutableMember(d, "metadata");
  if (JsonValue* ann = dmeta ? MutableMember(*dmeta, "annotations") : nullptr) {
    RemoveMember(*ann, kLastAppliedAnnotation);
  }
  if (l.IsObject()) {
    JsonValue* lmeta = MutableMember(l, "metadata");
    if (JsonValue* ann = lmeta ? MutableMember(*lmeta, "annotations") : nullptr) {
      RemoveMember(*ann, kLastAppliedAnnotation);
    }
  }
  MergeObject(out, l.IsObject() ? &l : nullptr, d, a);
  SetLastApplied(out, LastAppliedConfiguration(desired), a);
  return out;
}

}  // namespace minik::server
