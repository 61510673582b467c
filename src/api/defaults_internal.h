// Helpers shared by defaults.cc and defaults_validation.cc: small JSON accessors, resource
// quantities and Go-style value printing for upstream's validation messages. Private to
// minik_api_registry; pure functions, any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/validation.h"
#include "common/json.h"

namespace minik::api::internal {

// Member access that treats JSON null like a missing member.
inline const JsonValue* Get(const JsonValue& obj, std::string_view name) {
  const JsonValue* v = Member(obj, name);
  return v && !v->IsNull() ? v : nullptr;
}
inline JsonValue* GetMut(JsonValue& obj, std::string_view name) {
  JsonValue* v = MutableMember(obj, name);
  return v && !v->IsNull() ? v : nullptr;
}
inline const JsonValue* GetObject(const JsonValue& obj, std::string_view name) {
  const JsonValue* v = Member(obj, name);
  return v && v->IsObject() ? v : nullptr;
}
inline JsonValue* GetObjectMut(JsonValue& obj, std::string_view name) {
  JsonValue* v = MutableMember(obj, name);
  return v && v->IsObject() ? v : nullptr;
}
inline const JsonValue* GetArray(const JsonValue& obj, std::string_view name) {
  const JsonValue* v = Member(obj, name);
  return v && v->IsArray() ? v : nullptr;
}
inline JsonValue* GetArrayMut(JsonValue& obj, std::string_view name) {
  JsonValue* v = MutableMember(obj, name);
  return v && v->IsArray() ? v : nullptr;
}
inline std::string_view Str(const JsonValue& obj, std::string_view name) {
  auto s = GetString(obj, name);
  return s ? *s : std::string_view();
}
inline std::string_view StrOf(const JsonValue& v) {
  return v.IsString() ? std::string_view(v.GetString(), v.GetStringLength()) : std::string_view();
}

// A Kubernetes resource.Quantity ("100m", "1.5Gi", "2e3", "1k"). nullopt when unparseable.
std::optional<long double> ParseQuantity(std::string_view s);
// The value of a quantity given as a JSON string or number.
std::optional<long double> QuantityOf(const JsonValue& v);

// Go's %q of a string: "a\"b".
using api::GoQuote;  // Go's %q, from api/validation.h
// Go's %#v of a map[string]string held in a JSON object (keys sorted), or
// `map[string]string(nil)` for nullptr.
std::string GoStringMap(const JsonValue* labels);
// Go's %#v of a metav1.LabelSelector built from JSON (nullptr prints as "null", as field.Error
// does for a nil pointer).
std::string GoLabelSelector(const JsonValue* selector);
// Go's %v of a JSON scalar as field.Error prints it: strings quoted, numbers and bools bare.
std::string GoValue(const JsonValue& v);

// Whether a label selector (metav1.LabelSelector JSON) matches a label set (JSON object or
// nullptr). A nullptr selector matches nothing; an empty one matches everything.
bool SelectorMatches(const JsonValue* selector, const JsonValue* labels);

}  // namespace minik::api::internal
