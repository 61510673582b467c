// Variable expansion and the downward API as the kubelet implements them: `$(VAR)` references
// (third_party/forked/golang/expansion), pod fields (fieldRef) and container resources
// (resourceFieldRef), with upstream's error texts. Pure functions: any thread.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "agent/volumes/sources.h"
#include "common/json.h"
#include "common/status.h"

namespace minik::agent::volumes {

// Maps a variable name to its value. Used by Expand.
using MappingFunc = std::function<std::string(const std::string& name)>;

// Expands `$(NAME)` through mapping; `$$` is an escaped `$`; a `$` before anything else, and an
// unterminated `$(`, are kept as written.
std::string Expand(std::string_view input, const MappingFunc& mapping);
// A mapping over maps tried in order; an unknown NAME expands to `$(NAME)` (kept as written).
MappingFunc MappingFor(std::vector<const std::map<std::string, std::string>*> maps);

// metav1-style "k=\"v\"" lines sorted by key, joined by "\n", no trailing newline
// (fieldpath.FormatMap: what a downward API volume writes for metadata.labels/annotations).
std::string FormatMap(const JsonValue* map);

// fieldpath.ExtractFieldPathAsString: metadata.name, .namespace, .uid, .labels, .annotations and
// subscripted metadata.labels['k'] / metadata.annotations['k']. Errors: "unsupported fieldPath: x",
// "fieldPath \"x\" does not support subscript", "invalid key subscript in x: ...".
StatusOr<std::string> ExtractPodMetadataField(const JsonValue& pod, std::string_view field_path);

// The kubelet's podFieldSelectorRuntimeValue (env fieldRef): ConvertDownwardAPIFieldLabel (an
// empty apiVersion is taken as "v1"), then spec.nodeName, spec.serviceAccountName, status.hostIP(s)
// (node.host_ips; "host IP unknown; known addresses: []" when none), status.podIP(s)
// (node.pod_ips), else ExtractPodMetadataField.
StatusOr<std::string> PodFieldValue(const JsonValue& pod, std::string_view api_version, std::string_view field_path,
                                    const NodeInfo& node);

// resource.ExtractContainerResourceValue / ExtractResourceValueByContainerName over a pod whose
// containers' missing (or zero) cpu, memory and ephemeral-storage limits default to the node's
// allocatable: limits./requests. cpu (ceil of milli / divisor milli), memory, ephemeral-storage,
// hugepages-<size> (ceil of value / divisor); divisor "" or 0 means 1. `container` is the
// container asking (env) and is used when the selector names no containerName; it may be null
// for volumes, where containerName is required by validation.
StatusOr<std::string> ContainerResourceValue(const JsonValue& resource_field_ref, const JsonValue& pod,
                                             const JsonValue* container, const NodeInfo& node);

}  // namespace minik::agent::volumes
