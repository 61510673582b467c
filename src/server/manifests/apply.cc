#include "server/manifests/apply.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

namespace minik::server {
namespace {

// ---- kubectl-compatible serialization (Go encoding/json of a map: keys sorted, HTML-safe) ----

void AppendGoString(std::string_view s, std::string* out) {
  static const char kHex[] = "0123456789abcdef";
  out->push_back('"');
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '"': out->append("\\\""); continue;
      case '\\': out->append("\\\\"); continue;
      case '\n': out->append("\\n"); continue;
      case '\r': out->append("\\r"); continue;
      case '\t': out->append("\\t"); continue;
      case '\b': out->append("\\b"); continue;
      case '\f': out->append("\\f"); continue;
      case '<': case '>': case '&':
        out->append("\\u00");
        out->push_back(kHex[c >> 4]);
        out->push_back(kHex[c & 0xf]);
        continue;
      default: break;
    }
    if (c < 0x20) {
      out->append("\\u00");
      out->push_back(kHex[c >> 4]);
      out->push_back(kHex[c & 0xf]);
      continue;
    }
    // U+2028 and U+2029 (E2 80 A8 / E2 80 A9) are escaped by Go too.
    if (c == 0xE2 && i + 2 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0x80 &&
        (static_cast<unsigned char>(s[i + 2]) == 0xA8 || static_cast<unsigned char>(s[i + 2]) == 0xA9)) {
      out->append(static_cast<unsigned char>(s[i + 2]) == 0xA8 ? "\\u2028" : "\\u2029");
      i += 2;
      continue;
    }
    out->push_back(static_cast<char>(c));
  }
  out->push_back('"');
}

void AppendSorted(const JsonValue& v, std::string* out) {
  switch (v.GetType()) {
    case rapidjson::kNullType: out->append("null"); return;
    case rapidjson::kFalseType: out->append("false"); return;
    case rapidjson::kTrueType: out->append("true"); return;
    case rapidjson::kStringType:
      AppendGoString(std::string_view(v.GetString(), v.GetStringLength()), out);
      return;
    case rapidjson::kNumberType: {
      if (v.IsInt64()) {
        out->append(std::to_string(v.GetInt64()));
      } else if (v.IsUint64()) {
        out->append(std::to_string(v.GetUint64()));
      } else {
        double d = v.GetDouble();
        if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 1e21) {
          char buf[32];
          std::snprintf(buf, sizeof buf, "%.0f", d);
          out->append(buf);
        } else {
          char buf[32] = {0};
          // Shortest representation that round-trips.
          for (int prec = 1; prec <= 17; ++prec) {
            std::snprintf(buf, sizeof buf, "%.*g", prec, d);
            if (std::strtod(buf, nullptr) == d) break;
          }
          out->append(buf);
        }
      }
      return;
    }
    case rapidjson::kArrayType: {
      out->push_back('[');
      bool first = true;
      for (const JsonValue& item : v.GetArray()) {
        if (!first) out->push_back(',');
        first = false;
        AppendSorted(item, out);
      }
      out->push_back(']');
      return;
    }
    case rapidjson::kObjectType: {
      std::vector<const JsonValue::Member*> members;
      for (const auto& m : v.GetObject()) members.push_back(&m);
      std::sort(members.begin(), members.end(), [](const JsonValue::Member* a, const JsonValue::Member* b) {
        return std::string_view(a->name.GetString(), a->name.GetStringLength()) <
               std::string_view(b->name.GetString(), b->name.GetStringLength());
      });
      out->push_back('{');
      bool first = true;
      for (const JsonValue::Member* m : members) {
        if (!first) out->push_back(',');
        first = false;
        AppendGoString(std::string_view(m->name.GetString(), m->name.GetStringLength()), out);
        out->push_back(':');
        AppendSorted(m->value, out);
      }
      out->push_back('}');
      return;
    }
  }
}

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
  AppendSorted(copy, &out);
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
