#include "common/status.h"

namespace minik {

const char* CodeName(Code code) {
  switch (code) {
    case Code::kOk: return "OK";
    case Code::kNotFound: return "NotFound";
    case Code::kAlreadyExists: return "AlreadyExists";
    case Code::kConflict: return "Conflict";
    case Code::kInvalid: return "Invalid";
    case Code::kBadRequest: return "BadRequest";
    case Code::kGone: return "Gone";
    case Code::kExpired: return "Expired";
    case Code::kForbidden: return "Forbidden";
    case Code::kUnauthorized: return "Unauthorized";
    case Code::kMethodNotAllowed: return "MethodNotAllowed";
    case Code::kNotAcceptable: return "NotAcceptable";
    case Code::kUnsupportedMediaType: return "UnsupportedMediaType";
    case Code::kTooLarge: return "RequestEntityTooLarge";
    case Code::kTimeout: return "Timeout";
    case Code::kTooManyRequests: return "TooManyRequests";
    case Code::kUnavailable: return "ServiceUnavailable";
    case Code::kInternal: return "InternalError";
  }
  return "Unknown";
}

Status::Status(Code code, std::string message) {
  if (code != Code::kOk) state_ = std::make_unique<State>(State{code, std::move(message), std::nullopt});
}

Status::Status(const Status& other) : state_(other.state_ ? std::make_unique<State>(*other.state_) : nullptr) {}

Status& Status::operator=(const Status& other) {
  if (this != &other) state_ = other.state_ ? std::make_unique<State>(*other.state_) : nullptr;
  return *this;
}

const std::string& Status::message() const {
  static const std::string kEmpty;
  return state_ ? state_->message : kEmpty;
}

std::string Status::ToString() const {
  if (!state_) return "OK";
  return std::string(CodeName(state_->code)) + ": " + state_->message;
}

Status& Status::SetDetails(StatusDetails details) {
  if (state_) state_->details = std::move(details);
  return *this;
}

Status Status::WithContext(std::string_view context) const {
  if (!state_) return Status();
  Status s(*this);
  s.state_->message = std::string(context) + ": " + state_->message;
  return s;
}

}  // namespace minik
