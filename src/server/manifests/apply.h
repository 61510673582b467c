// The client-side apply of `kubectl apply` as pure functions: the last-applied-configuration
// annotation and the three-way merge of (live, last applied, desired).
//
// minik keeps the last applied configuration where kubectl does, in the annotation
// `kubectl.kubernetes.io/last-applied-configuration`, serialized as kubectl does (keys sorted,
// HTML-safe escapes, trailing newline, the annotation itself left out, "annotations": {} kept),
// so that `kubectl apply` and `kubectl apply view-last-applied` cooperate with the deployer.
//
// Threading: free functions, any thread.
#pragma once

#include <string>
#include <string_view>

#include "common/json.h"

namespace minik::server {

inline constexpr std::string_view kLastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration";

// The annotation value for a desired object: its JSON with keys sorted and the annotation itself
// removed (metadata.annotations is always present, possibly empty), ending with "\n".
std::string LastAppliedConfiguration(const JsonValue& desired);

// `desired` with the last-applied annotation set (what a create sends).
JsonDoc WithLastApplied(const JsonValue& desired);

// The last applied configuration recorded on a live object; a null document when absent or
// unparseable (then nothing is removed, as kubectl does for objects it did not create).
JsonDoc LastAppliedOf(const JsonValue& live);

// The object to write back: `live` with `desired` laid over it, where fields present in
// `last_applied` (may be null) but no longer in `desired` are removed, and fields nobody declared
// (set by the server or by hand) are kept. Lists with an upstream merge key (containers by name,
// volumeMounts by mountPath, ports by containerPort/port, ...) are merged item by item; other
// lists are replaced by desired's list when desired changed them since last_applied. The
// result carries the new last-applied annotation and live's resourceVersion.
JsonDoc ThreeWayMerge(const JsonValue& live, const JsonValue& last_applied, const JsonValue& desired);

}  // namespace minik::server
