// JSON helpers over rapidjson. Objects of the API live as rapidjson documents.
#pragma once

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace minik {

using JsonDoc = rapidjson::Document;
using JsonValue = rapidjson::Value;
using JsonAlloc = rapidjson::Document::AllocatorType;

// Parses JSON text; BadRequest with the parser's message and offset on failure.
StatusOr<JsonDoc> ParseJson(std::string_view text);
// Compact serialization.
std::string ToJson(const JsonValue& v);
void AppendJson(const JsonValue& v, std::string* out);
// Go's encoding/json of a generic map (what kubectl writes, e.g. in last-applied-configuration,
// and what upstream hashes): object keys sorted, HTML-safe escaping of <, > and &, U+2028/9
// escaped, integers without exponent, other numbers in their shortest round-trip form.
void AppendGoJson(const JsonValue& v, std::string* out);
// Two-space indented serialization.
std::string ToPrettyJson(const JsonValue& v);

// Member lookups returning nullptr / nullopt when absent or of another type.
const JsonValue* Member(const JsonValue& obj, std::string_view name);
JsonValue* MutableMember(JsonValue& obj, std::string_view name);
const JsonValue* Path(const JsonValue& obj, std::initializer_list<std::string_view> path);
std::optional<std::string_view> GetString(const JsonValue& obj, std::string_view name);
std::optional<int64_t> GetInt(const JsonValue& obj, std::string_view name);
std::optional<bool> GetBool(const JsonValue& obj, std::string_view name);

// Returns obj[name], creating it as an object if missing (obj must be an object).
JsonValue& EnsureObject(JsonValue& obj, std::string_view name, JsonAlloc& a);
// Sets obj[name] (replacing an existing member, keeping its position).
void SetMember(JsonValue& obj, std::string_view name, JsonValue v, JsonAlloc& a);
void SetString(JsonValue& obj, std::string_view name, std::string_view s, JsonAlloc& a);
void RemoveMember(JsonValue& obj, std::string_view name);
// A string value copied into the allocator.
JsonValue MakeString(std::string_view s, JsonAlloc& a);
// A deep copy into another document's allocator.
JsonValue Clone(const JsonValue& v, JsonAlloc& a);

}  // namespace minik
