// Small accessors over a Pod's JSON shared by the files of this directory (internal).
// Pure functions: any thread.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "common/json.h"

namespace minik::agent::volumes::internal {

// obj[name] as a string, "" when absent.
std::string Str(const JsonValue* obj, std::string_view name);
// obj[name] as a bool, def when absent.
bool Bool(const JsonValue* obj, std::string_view name, bool def);
// The array obj[name], or nullptr.
const JsonValue* Array(const JsonValue* obj, std::string_view name);
// The object obj[name], or nullptr.
const JsonValue* Object(const JsonValue* obj, std::string_view name);

// Calls fn for each container of the pod: initContainers, containers, ephemeralContainers.
void ForEachContainer(const JsonValue& pod, const std::function<void(const JsonValue& container)>& fn);
// The container (init or regular) with that name, or nullptr.
const JsonValue* FindContainer(const JsonValue& pod, std::string_view name);

// Kubernetes "Kind" of an object ("" when absent).
std::string Kind(const JsonValue& obj);

}  // namespace minik::agent::volumes::internal
