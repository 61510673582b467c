// Status and StatusOr<T>: the one error type of minik (leveldb's Status is the model:
// success is a null pointer and costs nothing).
//
// Codes map onto Kubernetes API results (see ToHttpCode in api/errors.h):
//   NotFound 404, AlreadyExists 409, Conflict 409, Invalid 422, BadRequest 400,
//   Gone 410, Expired 410, Forbidden 403, Unauthorized 401, MethodNotAllowed 405,
//   NotAcceptable 406, UnsupportedMediaType 415, TooLarge 413, Timeout 504,
//   TooManyRequests 429, Unavailable 503, Internal 500.
//
// Thread-safety: a Status is a value; distinct objects may be used from distinct threads.
#pragma once

#include <cassert>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace minik {

enum class Code {
  kOk = 0,
  kNotFound,
  kAlreadyExists,
  kConflict,
  kInvalid,
  kBadRequest,
  kGone,
  kExpired,
  kForbidden,
  kUnauthorized,
  kMethodNotAllowed,
  kNotAcceptable,
  kUnsupportedMediaType,
  kTooLarge,
  kTimeout,
  kTooManyRequests,
  kUnavailable,
  kInternal,
};

const char* CodeName(Code code);

// One field-level cause of an API error (metav1.StatusCause).
struct StatusCause {
  std::string reason;   // e.g. "FieldValueInvalid"
  std::string message;  // e.g. "Invalid value: \"X\": a lowercase RFC 1123 ..."
  std::string field;    // e.g. "metadata.name"
};

// Optional Kubernetes-shaped details (metav1.StatusDetails), filled by the API layer.
struct StatusDetails {
  std::string name;
  std::string group;
  std::string kind;
  std::vector<StatusCause> causes;
  int retry_after_seconds = 0;
};

class [[nodiscard]] Status {
 public:
  Status() noexcept = default;
  Status(Code code, std::string message);
  Status(const Status& other);
  Status& operator=(const Status& other);
  Status(Status&&) noexcept = default;
  Status& operator=(Status&&) noexcept = default;
  ~Status() = default;

  static Status OK() { return Status(); }
  static Status NotFound(std::string msg) { return {Code::kNotFound, std::move(msg)}; }
  static Status AlreadyExists(std::string msg) { return {Code::kAlreadyExists, std::move(msg)}; }
  static Status Conflict(std::string msg) { return {Code::kConflict, std::move(msg)}; }
  static Status Invalid(std::string msg) { return {Code::kInvalid, std::move(msg)}; }
  static Status BadRequest(std::string msg) { return {Code::kBadRequest, std::move(msg)}; }
  static Status Gone(std::string msg) { return {Code::kGone, std::move(msg)}; }
  static Status Expired(std::string msg) { return {Code::kExpired, std::move(msg)}; }
  static Status Forbidden(std::string msg) { return {Code::kForbidden, std::move(msg)}; }
  static Status Unauthorized(std::string msg) { return {Code::kUnauthorized, std::move(msg)}; }
  static Status MethodNotAllowed(std::string msg) { return {Code::kMethodNotAllowed, std::move(msg)}; }
  static Status NotAcceptable(std::string msg) { return {Code::kNotAcceptable, std::move(msg)}; }
  static Status UnsupportedMediaType(std::string msg) { return {Code::kUnsupportedMediaType, std::move(msg)}; }
  static Status TooLarge(std::string msg) { return {Code::kTooLarge, std::move(msg)}; }
  static Status Timeout(std::string msg) { return {Code::kTimeout, std::move(msg)}; }
  static Status TooManyRequests(std::string msg) { return {Code::kTooManyRequests, std::move(msg)}; }
  static Status Unavailable(std::string msg) { return {Code::kUnavailable, std::move(msg)}; }
  static Status Internal(std::string msg) { return {Code::kInternal, std::move(msg)}; }

  bool ok() const { return state_ == nullptr; }
  Code code() const { return state_ ? state_->code : Code::kOk; }
  // The message without the code name ("" when ok).
  const std::string& message() const;
  // "NotFound: message" or "OK".
  std::string ToString() const;

  // Details for API errors; nullptr when none were attached.
  const StatusDetails* details() const { return state_ && state_->details ? &*state_->details : nullptr; }
  Status& SetDetails(StatusDetails details);

  // Returns a copy whose message is "context: message" (same code and details).
  Status WithContext(std::string_view context) const;

  bool IsNotFound() const { return code() == Code::kNotFound; }
  bool IsConflict() const { return code() == Code::kConflict; }
  bool IsAlreadyExists() const { return code() == Code::kAlreadyExists; }

 private:
  struct State {
    Code code;
    std::string message;
    std::optional<StatusDetails> details;
  };
  std::unique_ptr<State> state_;
};

template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(Status status) : v_(std::move(status)) { assert(!std::get<Status>(v_).ok()); }  // NOLINT
  StatusOr(const T& value) : v_(value) {}                                                 // NOLINT
  StatusOr(T&& value) : v_(std::move(value)) {}                                           // NOLINT

  bool ok() const { return v_.index() == 1; }
  Status status() const { return ok() ? Status() : std::get<Status>(v_); }
  const Status& error() const { return std::get<Status>(v_); }

  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<Status, T> v_;
};

}  // namespace minik

// Propagates a non-OK Status from an expression returning Status.
#define MINIK_RETURN_IF_ERROR(expr)          \
  do {                                       \
    ::minik::Status _st = (expr);            \
    if (!_st.ok()) return _st;               \
  } while (0)

#define MINIK_CONCAT_INNER(a, b) a##b
#define MINIK_CONCAT(a, b) MINIK_CONCAT_INNER(a, b)
// MINIK_ASSIGN_OR_RETURN(auto x, Foo()); returns the error of a failed StatusOr.
#define MINIK_ASSIGN_OR_RETURN(lhs, expr)                                   \
  auto MINIK_CONCAT(_sor_, __LINE__) = (expr);                              \
  if (!MINIK_CONCAT(_sor_, __LINE__).ok()) return MINIK_CONCAT(_sor_, __LINE__).error(); \
  lhs = std::move(MINIK_CONCAT(_sor_, __LINE__)).value()
