// Server-side field validation (the `fieldValidation=Strict|Warn|Ignore` query parameter):
// checks a JSON object of a built-in kind against its schema (api/protobuf_schema.h) the way
// kube-apiserver's decoding into Go structs does (k8s.io/apimachinery json serializer over
// sigs.k8s.io/json, Go 1.23 encoding/json semantics):
//   - unknown fields are removed from the object in every mode (decoding into Go structs drops
//     them) and reported with upstream's paths ("spec.template.spec.containers[1].foo");
//   - duplicate members (rapidjson keeps them) are reported, and the last one wins as in Go;
//   - values of the wrong JSON type are a decode error in every mode, with upstream's message;
//   - resource.Quantity values (strings or numbers) are replaced by their canonical string, as
//     upstream's decode + encode does ("0.5" -> "500m", 2 -> "2"; api/quantity.h).
// The handler decides what to do with the problems depending on the fieldValidation directive:
//   Strict: create/update fail with StrictDecodingError(); Warn: each of problems.errors becomes a
//   `Warning: 299 - "<text>"` header; Ignore: nothing.
// Pure functions over the immutable schema; any thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace minik::api {

struct FieldProblems {
  std::vector<std::string> unknown;    // paths of unknown fields, in document order
  std::vector<std::string> duplicate;  // paths of duplicate fields, in document order
  // Upstream's strict error texts in upstream's order, at most 100 and without repeats:
  // `unknown field "spec.foo"`, `duplicate field "metadata.name"`. These are the Warn-mode
  // warnings and the items of the Strict-mode message.
  std::vector<std::string> errors;
  bool empty() const { return unknown.empty() && duplicate.empty(); }
};

// Walks obj against the schema of (api_version, kind): removes unknown fields (and all but the
// last of duplicate members) from obj, canonicalizes quantities (allocating from a, which must be
// obj's allocator), collects their paths, and returns BadRequest for a value of
// the wrong type with the message of upstream's create/update handler (transformDecodeError):
//   `ConfigMap in version "v1" cannot be handled as a ConfigMap: json: cannot unmarshal number
//    into Go struct field ConfigMap.data of type string`
// Kinds without a schema: OK, nothing removed. The top-level apiVersion and kind are known fields.
StatusOr<FieldProblems> PruneUnknownFields(std::string_view api_version, std::string_view kind,
                                           JsonValue& obj, JsonAlloc& a);

// Same walk, but a type error's message is the bare decode error (`json: cannot unmarshal ...`,
// `quantities must match ...`, `illegal base64 data at input byte 3`), for the patch handler,
// which upstream reports as 422 `field.Invalid(field.NewPath("patch"), <patched JSON>, <error>)`.
StatusOr<FieldProblems> PruneUnknownFieldsBare(std::string_view api_version, std::string_view kind,
                                               JsonValue& obj, JsonAlloc& a);

// True when the schema knows (api_version, kind).
bool HasFieldSchema(std::string_view api_version, std::string_view kind);

// `strict decoding error: unknown field "spec.foo", unknown field "spec.bar"`
// (runtime.strictDecodingError). Empty string when there are no problems.
std::string StrictDecodingMessage(const FieldProblems& problems);

// Strict mode on create/update: BadRequest
// `<Kind> in version "<version>" cannot be handled as a <Kind>: strict decoding error: ...`.
// OK when there are no problems.
Status StrictDecodingError(std::string_view api_version, std::string_view kind,
                           const FieldProblems& problems);

}  // namespace minik::api
