#include "client/api_client.h"

namespace minik::client {

const char* PatchContentType(PatchType type) {
  switch (type) {
    case PatchType::kMerge: return "application/merge-patch+json";
    case PatchType::kStrategicMerge: return "application/strategic-merge-patch+json";
    case PatchType::kJson: return "application/json-patch+json";
  }
  return "application/merge-patch+json";
}

const char* WatchEventTypeName(WatchEvent::Type type) {
  switch (type) {
    case WatchEvent::Type::kAdded: return "ADDED";
    case WatchEvent::Type::kModified: return "MODIFIED";
    case WatchEvent::Type::kDeleted: return "DELETED";
    case WatchEvent::Type::kBookmark: return "BOOKMARK";
  }
  return "ADDED";
}

namespace {

Code CodeFor(int http_status, std::string_view reason) {
  switch (http_status) {
    case 400: return Code::kBadRequest;
    case 401: return Code::kUnauthorized;
    case 403: return Code::kForbidden;
    case 404: return Code::kNotFound;
    case 405: return Code::kMethodNotAllowed;
    case 406: return Code::kNotAcceptable;
    case 409: return reason == "AlreadyExists" ? Code::kAlreadyExists : Code::kConflict;
    case 410: return reason == "Gone" ? Code::kGone : Code::kExpired;
    case 413: return Code::kTooLarge;
    case 415: return Code::kUnsupportedMediaType;
    case 422: return Code::kInvalid;
    case 429: return Code::kTooManyRequests;
    case 503: return Code::kUnavailable;
    case 504: return Code::kTimeout;
    default: break;
  }
  if (reason == "NotFound") return Code::kNotFound;
  if (reason == "AlreadyExists") return Code::kAlreadyExists;
  if (reason == "Conflict") return Code::kConflict;
  if (reason == "Expired") return Code::kExpired;
  if (reason == "Gone") return Code::kGone;
  if (reason == "Invalid") return Code::kInvalid;
  if (reason == "Timeout") return Code::kTimeout;
  return Code::kInternal;
}

}  // namespace

Status StatusFromStatusObject(const JsonValue& st) {
  int code = 0;
  if (auto c = GetInt(st, "code")) code = static_cast<int>(*c);
  std::string_view reason = GetString(st, "reason").value_or("");
  std::string message(GetString(st, "message").value_or(""));
  if (message.empty()) message = "the server responded with status " + std::to_string(code);
  Status s(CodeFor(code, reason), message);
  if (const JsonValue* d = Member(st, "details"); d && d->IsObject()) {
    StatusDetails det;
    det.name = std::string(GetString(*d, "name").value_or(""));
    det.group = std::string(GetString(*d, "group").value_or(""));
    det.kind = std::string(GetString(*d, "kind").value_or(""));
    det.retry_after_seconds = static_cast<int>(GetInt(*d, "retryAfterSeconds").value_or(0));
    if (const JsonValue* causes = Member(*d, "causes"); causes && causes->IsArray()) {
      for (const auto& c : causes->GetArray()) {
        if (!c.IsObject()) continue;
        det.causes.push_back(StatusCause{std::string(GetString(c, "reason").value_or("")),
                                         std::string(GetString(c, "message").value_or("")),
                                         std::string(GetString(c, "field").value_or(""))});
      }
    }
    s.SetDetails(std::move(det));
  }
  return s;
}

Status StatusFromResponse(int http_status, std::string_view body) {
  auto doc = ParseJson(body);
  if (doc.ok() && doc->IsObject() && GetString(*doc, "kind").value_or("") == "Status") {
    if (!GetInt(*doc, "code")) SetMember(*doc, "code", JsonValue(http_status), doc->GetAllocator());
    Status s = StatusFromStatusObject(*doc);
    if (s.code() == Code::kInternal && http_status != 500) {
      // Keep the HTTP status authoritative when the body's code is missing or odd.
      Status t(CodeFor(http_status, GetString(*doc, "reason").value_or("")), s.message());
      if (s.details()) t.SetDetails(*s.details());
      return t;
    }
    return s;
  }
  std::string msg(body);
  if (msg.empty()) msg = "the server responded with status " + std::to_string(http_status);
  return Status(CodeFor(http_status, ""), msg);
}

std::string_view MetaString(const JsonValue& obj, std::string_view field) {
  const JsonValue* meta = Member(obj, "metadata");
  if (!meta) return {};
  return GetString(*meta, field).value_or("");
}

std::string ObjectKey(std::string_view ns, std::string_view name) {
  if (ns.empty()) return std::string(name);
  std::string k;
  k.reserve(ns.size() + name.size() + 1);
  k.append(ns).push_back('/');
  k.append(name);
  return k;
}

std::string ObjectKey(const JsonValue& obj) { return ObjectKey(MetaString(obj, "namespace"), MetaString(obj, "name")); }

void SplitKey(std::string_view key, std::string* ns, std::string* name) {
  auto slash = key.find('/');
  if (slash == std::string_view::npos) {
    ns->clear();
    name->assign(key);
  } else {
    ns->assign(key.substr(0, slash));
    name->assign(key.substr(slash + 1));
  }
}

}  // namespace minik::client
