#include "api/errors.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace minik::api {
namespace {

std::string Quoted(std::string_view s) {
  std::string out = "\"";
  out.append(s);
  out += '"';
  return out;
}

std::string GroupResource(std::string_view group, std::string_view plural) {
  std::string gr(plural);
  if (!group.empty()) {
    gr += '.';
    gr.append(group);
  }
  return gr;
}

Status WithDetails(Status s, std::string_view group, std::string_view kind, std::string_view name,
                   std::vector<StatusCause> causes = {}) {
  s.SetDetails(StatusDetails{std::string(name), std::string(group), std::string(kind), std::move(causes), 0});
  return s;
}

}  // namespace

Status NotFoundError(std::string_view group, std::string_view plural, std::string_view name) {
  return WithDetails(Status::NotFound(GroupResource(group, plural) + " " + Quoted(name) + " not found"), group,
                     plural, name);
}

Status AlreadyExistsError(std::string_view group, std::string_view plural, std::string_view name) {
  return WithDetails(Status::AlreadyExists(GroupResource(group, plural) + " " + Quoted(name) + " already exists"),
                     group, plural, name);
}

Status ConflictError(std::string_view group, std::string_view plural, std::string_view name,
                     std::string_view reason) {
  return WithDetails(Status::Conflict("Operation cannot be fulfilled on " + GroupResource(group, plural) + " " +
                                      Quoted(name) + ": " + std::string(reason)),
                     group, plural, name);
}

Status InvalidError(std::string_view group, std::string_view kind, std::string_view name,
                    std::vector<StatusCause> causes) {
  std::string gk(kind);
  if (!group.empty()) {
    gk += '.';
    gk.append(group);
  }
  std::string msg = gk + " " + Quoted(name) + " is invalid: ";
  auto full = [](const StatusCause& c) { return c.field.empty() ? c.message : c.field + ": " + c.message; };
  if (causes.size() == 1) {
    msg += full(causes[0]);
  } else {
    msg += '[';
    for (size_t i = 0; i < causes.size(); ++i) {
      if (i) msg += ", ";
      msg += full(causes[i]);
    }
    msg += ']';
  }
  return WithDetails(Status::Invalid(std::move(msg)), group, kind, name, std::move(causes));
}

Status ForbiddenError(std::string_view group, std::string_view plural, std::string_view name,
                      std::string_view message) {
  std::string msg = GroupResource(group, plural);
  if (!name.empty()) msg += " " + Quoted(name);
  msg += " is forbidden: ";
  msg.append(message);
  return WithDetails(Status::Forbidden(std::move(msg)), group, plural, name);
}

Status MethodNotSupportedError(std::string_view group, std::string_view plural, std::string_view verb) {
  return WithDetails(Status::MethodNotAllowed("the server does not allow this method on the requested resource"),
                     group, plural, "");
}

namespace {
StatusCause Cause(std::string_view reason, std::string_view field, std::string msg) {
  return StatusCause{std::string(reason), std::move(msg), std::string(field)};
}
}  // namespace

StatusCause FieldRequired(std::string_view field, std::string_view detail) {
  std::string m = "Required value";
  if (!detail.empty()) m += ": " + std::string(detail);
  return Cause("FieldValueRequired", field, m);
}

StatusCause FieldInvalid(std::string_view field, std::string_view quoted_value, std::string_view detail) {
  std::string m = "Invalid value: " + std::string(quoted_value);
  if (!detail.empty()) m += ": " + std::string(detail);
  return Cause("FieldValueInvalid", field, m);
}

StatusCause FieldNotSupported(std::string_view field, std::string_view quoted_value,
                              const std::vector<std::string>& valid) {
  std::string m = "Unsupported value: " + std::string(quoted_value);
  if (!valid.empty()) {
    m += ": supported values: ";
    for (size_t i = 0; i < valid.size(); ++i) {
      if (i) m += ", ";
      m += Quoted(valid[i]);
    }
  }
  return Cause("FieldValueNotSupported", field, m);
}

StatusCause FieldForbidden(std::string_view field, std::string_view detail) {
  return Cause("FieldValueForbidden", field, "Forbidden: " + std::string(detail));
}

StatusCause FieldDuplicate(std::string_view field, std::string_view quoted_value) {
  return Cause("FieldValueDuplicate", field, "Duplicate value: " + std::string(quoted_value));
}

StatusCause FieldTooLong(std::string_view field, std::string_view quoted_value, int max) {
  return Cause("FieldValueTooLong", field,
               "Too long: may not be more than " + std::to_string(max) + " bytes");
}

int HttpCode(const Status& s) {
  switch (s.code()) {
    case Code::kOk: return 200;
    case Code::kNotFound: return 404;
    case Code::kAlreadyExists: return 409;
    case Code::kConflict: return 409;
    case Code::kInvalid: return 422;
    case Code::kBadRequest: return 400;
    case Code::kGone: return 410;
    case Code::kExpired: return 410;
    case Code::kForbidden: return 403;
    case Code::kUnauthorized: return 401;
    case Code::kMethodNotAllowed: return 405;
    case Code::kNotAcceptable: return 406;
    case Code::kUnsupportedMediaType: return 415;
    case Code::kTooLarge: return 413;
    case Code::kTimeout: return 504;
    case Code::kTooManyRequests: return 429;
    case Code::kUnavailable: return 503;
    case Code::kInternal: return 500;
  }
  return 500;
}

std::string_view Reason(const Status& s) { return s.ok() ? std::string_view() : CodeName(s.code()); }

std::string StatusJson(const Status& s) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  auto str = [&w](std::string_view v) { w.String(v.data(), static_cast<rapidjson::SizeType>(v.size())); };
  w.StartObject();
  w.Key("kind");
  str("Status");
  w.Key("apiVersion");
  str("v1");
  w.Key("metadata");
  w.StartObject();
  w.EndObject();
  w.Key("status");
  str(s.ok() ? "Success" : "Failure");
  if (!s.ok()) {
    w.Key("message");
    str(s.message());
    // Upstream leaves the reason out for 500s built from plain errors only; we always have one.
    w.Key("reason");
    str(Reason(s));
    if (const StatusDetails* d = s.details()) {
      w.Key("details");
      w.StartObject();
      if (!d->name.empty()) {
        w.Key("name");
        str(d->name);
      }
      if (!d->group.empty()) {
        w.Key("group");
        str(d->group);
      }
      if (!d->kind.empty()) {
        w.Key("kind");
        str(d->kind);
      }
      if (!d->causes.empty()) {
        w.Key("causes");
        w.StartArray();
        for (const auto& c : d->causes) {
          w.StartObject();
          w.Key("reason");
          str(c.reason);
          w.Key("message");
          str(c.message);
          w.Key("field");
          str(c.field);
          w.EndObject();
        }
        w.EndArray();
      }
      if (d->retry_after_seconds) {
        w.Key("retryAfterSeconds");
        w.Int(d->retry_after_seconds);
      }
      w.EndObject();
    }
  }
  w.Key("code");
  w.Int(HttpCode(s));
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

}  // namespace minik::api
