// Name and metadata validation with upstream's exact messages
// (k8s.io/apimachinery/pkg/util/validation, pkg/api/validation and pkg/api/validation/path).
// Hand-written matchers (no regex). Pure functions: any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace minik::api {

// Each returns the list of problems (empty when valid), in upstream's words.
std::vector<std::string> IsDNS1123Subdomain(std::string_view value);
std::vector<std::string> IsDNS1123Label(std::string_view value);
std::vector<std::string> IsDNS1035Label(std::string_view value);
std::vector<std::string> IsQualifiedName(std::string_view value);  // label keys, annotation keys, finalizers
std::vector<std::string> IsValidLabelValue(std::string_view value);
std::vector<std::string> IsValidPathSegmentName(std::string_view value);
std::vector<std::string> IsValidPathSegmentPrefix(std::string_view value);

// How a kind's metadata.name is validated (upstream's ValidateNameFunc per kind).
enum class NameRule {
  kDNSSubdomain,   // most kinds (pods, configmaps, deployments, nodes, ...)
  kDNSLabel,       // namespaces
  kDNS1035Label,   // services
  kPathSegment,    // RBAC roles and bindings, ...
};
// name is a full name, or a generateName prefix when prefix is true (a trailing '-' is allowed).
std::vector<std::string> ValidateName(NameRule rule, std::string_view name, bool prefix);

// Go's %q of a string (strconv.Quote), as field errors print values.
std::string GoQuote(std::string_view s);

// metadata.labels / metadata.annotations checks; field is the path ("metadata.labels").
std::vector<StatusCause> ValidateLabels(const JsonValue* labels, std::string_view field);
std::vector<StatusCause> ValidateAnnotations(const JsonValue* annotations, std::string_view field);
inline constexpr int64_t kTotalAnnotationSizeLimit = 256 * 1024;

// ValidateObjectMeta on create: generateName, name, namespace, generation, labels, annotations,
// ownerReferences, finalizers. meta is the metadata object; field_prefix is its path.
std::vector<StatusCause> ValidateObjectMeta(const JsonValue& meta, bool namespaced, NameRule rule,
                                            std::string_view field_prefix = "metadata");
// ValidateObjectMetaUpdate: immutable name/namespace/uid/creationTimestamp/deletionTimestamp/
// deletionGracePeriodSeconds, resourceVersion present, generation not decremented, no new
// finalizers while deleting, plus the label/annotation/ownerReference checks.
// The caller sets metadata.resourceVersion for unconditional updates first, as upstream does.
std::vector<StatusCause> ValidateObjectMetaUpdate(const JsonValue& new_meta, const JsonValue& old_meta,
                                                  std::string_view field_prefix = "metadata");

// names.SimpleNameGenerator: base (cut to 58 bytes) + 5 characters of
// "bcdfghjklmnpqrstvwxz2456789" drawn from random_bits.
std::string GenerateName(std::string_view base, uint64_t random_bits);

}  // namespace minik::api
