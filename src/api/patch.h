// The three patch types kube-apiserver accepts, applied to an object's JSON, with upstream's
// errors (k8s.io/apiserver/pkg/endpoints/handlers/patch.go):
//   - JSON Patch (RFC 6902, evanphx/json-patch v4 semantics): a body that is not a JSON array of
//     operations is 400 BadRequest; more than 10000 operations is 413; an operation that does not
//     apply (missing path, failed test, bad index, unknown op) is 422 Invalid with upstream's
//     message "the server rejected our request due to an error in our request".
//   - JSON Merge Patch (RFC 7386): malformed patch is 400 "Invalid JSON Patch".
//   - Strategic Merge Patch (k8s.io/apimachinery/pkg/util/strategicpatch as the server applies
//     it): lists merge by patchMergeKey where the field's patchStrategy is "merge" and are
//     replaced otherwise; $patch (replace|delete|merge), $retainKeys,
//     $deleteFromPrimitiveList/<f>, $setElementOrder/<f>; null deletes a key. Errors as
//     interpretStrategicMergePatchError maps them: 400 for malformed directives, 422 for lists
//     of lists and retainKeys mismatches, 500 for the rest (e.g. a missing merge key).
// The merge metadata comes from a built-in table of k8s.io/api's patchStrategy/patchMergeKey tags
// (LookupPatchMeta). Unknown kinds merge maps and replace lists (JSON merge patch semantics); the
// caller refuses SMP for custom resources as upstream does (415).
// Pure functions: any thread.
#pragma once

#include <string_view>

#include "common/json.h"
#include "common/status.h"

namespace minik::api {

StatusOr<JsonDoc> ApplyJsonPatch(const JsonValue& doc, std::string_view patch);
StatusOr<JsonDoc> ApplyMergePatch(const JsonValue& doc, std::string_view patch);
StatusOr<JsonDoc> ApplyStrategicMergePatch(const JsonValue& doc, std::string_view patch, std::string_view api_version,
                                           std::string_view kind);

// A field's strategic-merge metadata: strategy is "", "merge", "replace", "retainKeys" or
// "merge,retainKeys"; merge_key is set for lists of objects merged by key.
struct PatchMeta {
  std::string_view strategy;
  std::string_view merge_key;
};

// Schema node of the built-in merge-key table (nullptr means "no metadata").
struct PatchType {
  std::string_view name;
};
// The root type of a kind ("Pod", "Deployment", ...); never nullptr (unknown kinds get a root
// that only knows metadata).
const PatchType* PatchRootType(std::string_view api_version, std::string_view kind);
// The metadata of a field of a type, and the type of its value (of its elements, for lists).
PatchMeta LookupField(const PatchType* type, std::string_view field, const PatchType** child);
// Convenience: the metadata at a dotted path from the kind, list elements being transparent,
// e.g. ("Deployment", "spec.template.spec.containers") -> {"merge", "name"},
// ("Pod", "spec.containers.ports") -> {"merge", "containerPort"}.
PatchMeta LookupPatchMeta(std::string_view kind, std::string_view path);
// True when the kind has strategic-merge metadata beyond metadata (i.e. is a built-in minik knows).
bool HasStrategicMergeSchema(std::string_view api_version, std::string_view kind);

}  // namespace minik::api
