#include "agent/volumes/pod_util.h"

namespace minik::agent::volumes::internal {

std::string Str(const JsonValue* obj, std::string_view name) {
  if (!obj || !obj->IsObject()) return {};
  auto s = GetString(*obj, name);
  return s ? std::string(*s) : std::string();
}

bool Bool(const JsonValue* obj, std::string_view name, bool def) {
  if (!obj || !obj->IsObject()) return def;
  auto b = GetBool(*obj, name);
  return b ? *b : def;
}

const JsonValue* Array(const JsonValue* obj, std::string_view name) {
  if (!obj || !obj->IsObject()) return nullptr;
  const JsonValue* v = Member(*obj, name);
  return v && v->IsArray() ? v : nullptr;
}

const JsonValue* Object(const JsonValue* obj, std::string_view name) {
  if (!obj || !obj->IsObject()) return nullptr;
  const JsonValue* v = Member(*obj, name);
  return v && v->IsObject() ? v : nullptr;
}

void ForEachContainer(const JsonValue& pod, const std::function<void(const JsonValue& container)>& fn) {
  const JsonValue* spec = Object(&pod, "spec");
  for (const char* list : {"initContainers", "containers", "ephemeralContainers"}) {
    if (const JsonValue* arr = Array(spec, list)) {
      for (const auto& c : arr->GetArray()) {
        if (c.IsObject()) fn(c);
      }
    }
  }
}

const JsonValue* FindContainer(const JsonValue& pod, std::string_view name) {
  const JsonValue* spec = Object(&pod, "spec");
  for (const char* list : {"containers", "initContainers"}) {
    if (const JsonValue* arr = Array(spec, list)) {
      for (const auto& c : arr->GetArray()) {
        if (c.IsObject() && Str(&c, "name") == name) return &c;
      }
    }
  }
  return nullptr;
}

std::string Kind(const JsonValue& obj) { return Str(&obj, "kind"); }

}  // namespace minik::agent::volumes::internal
