// YAML to JSON, for YAML request bodies and manifest files (yaml-cpp underneath; no exception
// escapes). Follows what sigs.k8s.io/yaml does: YAML 1.1 scalars as Kubernetes reads them
// (unquoted true/false -> booleans, integers and floats -> numbers, null/~/empty -> null,
// quoted scalars stay strings), mappings keep their key order.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace minik {

// One YAML document to JSON. BadRequest with line/column on malformed input.
StatusOr<JsonDoc> YamlToJson(std::string_view yaml);
// Every document of a multi-document stream ("---" separators); empty documents are skipped.
StatusOr<std::vector<JsonDoc>> YamlDocumentsToJson(std::string_view yaml);
// JSON value to YAML text (for tools and tests; kubectl does its own YAML output).
std::string JsonToYaml(const JsonValue& v);

}  // namespace minik
