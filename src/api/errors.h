// Kubernetes-shaped API errors (k8s.io/apimachinery/pkg/api/errors) as Status values, and their
// metav1.Status encoding. Messages and field order follow upstream byte for byte.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace minik::api {

// `pods "x" not found`; details {name, group, kind: <plural>}.
Status NotFoundError(std::string_view group, std::string_view plural, std::string_view name);
// `deployments.apps "web" already exists`.
Status AlreadyExistsError(std::string_view group, std::string_view plural, std::string_view name);
// `Operation cannot be fulfilled on pods "x": <reason>`.
Status ConflictError(std::string_view group, std::string_view plural, std::string_view name,
                     std::string_view reason);
// The reason text for a stale resourceVersion.
inline constexpr std::string_view kOptimisticLockMessage =
    "the object has been modified; please apply your changes to the latest version and try again";
// `Pod "x" is invalid: spec.containers: Required value` (one cause) or
// `Pod "x" is invalid: [cause1, cause2]`; details {name, group, kind: <Kind>, causes}.
Status InvalidError(std::string_view group, std::string_view kind, std::string_view name,
                    std::vector<StatusCause> causes);
// `<Kind> "<name>" is forbidden: <message>` with details; used by admission.
Status ForbiddenError(std::string_view group, std::string_view plural, std::string_view name,
                      std::string_view message);
// `the server does not allow this method on the requested resource`.
Status MethodNotSupportedError(std::string_view group, std::string_view plural, std::string_view verb);

// Field error helpers (k8s.io/apimachinery/pkg/util/validation/field). A cause's message is the
// error body (`Invalid value: "A": a lowercase ...`); InvalidError prefixes the field in the
// aggregate message, as upstream does.
StatusCause FieldRequired(std::string_view field, std::string_view detail = "");
StatusCause FieldInvalid(std::string_view field, std::string_view quoted_value, std::string_view detail);
StatusCause FieldNotSupported(std::string_view field, std::string_view quoted_value,
                              const std::vector<std::string>& valid);
StatusCause FieldForbidden(std::string_view field, std::string_view detail);
StatusCause FieldDuplicate(std::string_view field, std::string_view quoted_value);
StatusCause FieldTooLong(std::string_view field, std::string_view quoted_value, int max);

// The HTTP status code of an error.
int HttpCode(const Status& status);
// The upstream reason string: "NotFound", "AlreadyExists", "Conflict", "Invalid", "BadRequest",
// "Expired", "Gone", "Forbidden", "Unauthorized", "MethodNotAllowed", "NotAcceptable",
// "UnsupportedMediaType", "RequestEntityTooLarge", "Timeout", "TooManyRequests",
// "ServiceUnavailable", "InternalError".
std::string_view Reason(const Status& status);
// The metav1.Status JSON body for an error (or a Success status for OK).
std::string StatusJson(const Status& status);

}  // namespace minik::api
