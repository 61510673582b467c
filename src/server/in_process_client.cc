#include "server/in_process_client.h"

#include <cstdio>
#include <future>

#include "api/errors.h"
#include "common/clock.h"
#include "common/strings.h"
#include "server/internal_writer.h"

namespace minik::server {
namespace {

// Rebuilds a Status from a metav1.Status body (code, message, reason, details).
Status StatusFromBody(int code, const std::string& body) {
  auto doc = ParseJson(body);
  std::string msg = body;
  std::string reason;
  if (doc.ok() && doc->IsObject()) {
    if (auto m = GetString(*doc, "message")) msg = std::string(*m);
    if (auto r = GetString(*doc, "reason")) reason = std::string(*r);
  }
  Code c = Code::kInternal;
  switch (code) {
    case 400: c = Code::kBadRequest; break;
    case 401: c = Code::kUnauthorized; break;
    case 403: c = Code::kForbidden; break;
    case 404: c = Code::kNotFound; break;
    case 405: c = Code::kMethodNotAllowed; break;
    case 406: c = Code::kNotAcceptable; break;
    case 409: c = reason == "AlreadyExists" ? Code::kAlreadyExists : Code::kConflict; break;
    case 410: c = Code::kGone; break;
    case 413: c = Code::kTooLarge; break;
    case 415: c = Code::kUnsupportedMediaType; break;
    case 422: c = Code::kInvalid; break;
    case 429: c = Code::kTooManyRequests; break;
    case 503: c = Code::kUnavailable; break;
    case 504: c = Code::kTimeout; break;
    default: break;
  }
  return Status(c, msg);
}

StatusOr<JsonDoc> ObjectOrError(const InProcessClient::Response& r) {
  if (r.code < 200 || r.code > 299) return StatusFromBody(r.code, r.body);
  return ParseJson(r.body);
}

std::string MetaString(const JsonValue& obj, const char* f) {
  const JsonValue* v = Path(obj, {"metadata", f});
  return v && v->IsString() ? v->GetString() : "";
}

}  // namespace

InProcessClient::Response InProcessClient::Call(const std::string& method, const std::string& path,
                                                const std::string& body) {
  auto promise = std::make_shared<std::promise<Response>>();
  auto future = promise->get_future();
  loop_.Post([this, method, path, body, promise]() {
    http::Request req;
    req.method = method;
    auto q = path.find('?');
    req.target = path;
    req.path = path.substr(0, q);
    if (q != std::string::npos) req.query = path.substr(q + 1);
    req.headers.emplace_back("content-type", method == "PATCH" ? "application/merge-patch+json" : "application/json");
    req.body = body;
    auto w = std::make_shared<CapturingWriter>([promise](int code, std::string b) {
      promise->set_value(Response{code, std::move(b)});
    });
    api_.HandleInternal(req, w);
  });
  return future.get();
}

StatusOr<std::string> InProcessClient::PathFor(std::string_view api_version, std::string_view kind,
                                               const std::string& ns, const std::string& name) {
  const api::ResourceInfo* info = registry_.FindByKind(api_version, kind);
  if (!info) {
    return Status::NotFound("no matches for kind \"" + std::string(kind) + "\" in version \"" + std::string(api_version) + "\"");
  }
  std::string p = info->group.empty() ? "/api/" + info->version : "/apis/" + info->group + "/" + info->version;
  if (info->namespaced) p += "/namespaces/" + (ns.empty() ? std::string("default") : ns);
  p += "/" + info->plural;
  if (!name.empty()) p += "/" + name;
  return p;
}

StatusOr<bool> InProcessClient::IsNamespaced(std::string_view api_version, std::string_view kind) {
  const api::ResourceInfo* info = registry_.FindByKind(api_version, kind);
  if (!info) {
    return Status::NotFound("no matches for kind \"" + std::string(kind) + "\" in version \"" + std::string(api_version) + "\"");
  }
  return info->namespaced;
}

StatusOr<JsonDoc> InProcessClient::Get(const ObjectRef& ref) {
  auto p = PathFor(ref.api_version, ref.kind, ref.namespace_, ref.name);
  if (!p.ok()) return p.error();
  return ObjectOrError(Call("GET", *p, ""));
}

StatusOr<JsonDoc> InProcessClient::Create(const JsonValue& obj) {
  auto av = GetString(obj, "apiVersion");
  auto k = GetString(obj, "kind");
  if (!av || !k) return Status::BadRequest("Object 'Kind' is missing in '" + ToJson(obj) + "'");
  auto p = PathFor(*av, *k, MetaString(obj, "namespace"), "");
  if (!p.ok()) return p.error();
  return ObjectOrError(Call("POST", *p, ToJson(obj)));
}

StatusOr<JsonDoc> InProcessClient::Update(const JsonValue& obj) {
  auto av = GetString(obj, "apiVersion");
  auto k = GetString(obj, "kind");
  if (!av || !k) return Status::BadRequest("Object 'Kind' is missing in '" + ToJson(obj) + "'");
  auto p = PathFor(*av, *k, MetaString(obj, "namespace"), MetaString(obj, "name"));
  if (!p.ok()) return p.error();
  return ObjectOrError(Call("PUT", *p, ToJson(obj)));
}

Status InProcessClient::Delete(const ObjectRef& ref) {
  auto p = PathFor(ref.api_version, ref.kind, ref.namespace_, ref.name);
  if (!p.ok()) return p.error();
  Response r = Call("DELETE", *p, "");
  if (r.code < 200 || r.code > 299) return StatusFromBody(r.code, r.body);
  return Status::OK();
}

Status InProcessClient::RecordEvent(std::string_view type, std::string_view reason, std::string_view message,
                                    const ObjectRef& involved) {
  RealClock clock;
  std::string now = FormatRFC3339(clock.Now());
  std::string ns = involved.namespace_.empty() ? "kube-system" : involved.namespace_;
  JsonDoc ev;
  ev.SetObject();
  auto& a = ev.GetAllocator();
  ev.AddMember("apiVersion", "v1", a);
  ev.AddMember("kind", "Event", a);
  JsonValue meta(rapidjson::kObjectType);
  // client-go's recorder names events "<object>.<unix nanos in hex>".
  char suffix[32];
  std::snprintf(suffix, sizeof suffix, ".%llx",
                static_cast<unsigned long long>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                    clock.Now().time_since_epoch()).count()));
  meta.AddMember("name", MakeString(involved.name + suffix, a), a);
  meta.AddMember("namespace", MakeString(ns, a), a);
  ev.AddMember("metadata", meta, a);
  JsonValue io(rapidjson::kObjectType);
  io.AddMember("apiVersion", MakeString(involved.api_version, a), a);
  io.AddMember("kind", MakeString(involved.kind, a), a);
  io.AddMember("name", MakeString(involved.name, a), a);
  io.AddMember("namespace", MakeString(ns, a), a);
  ev.AddMember("involvedObject", io, a);
  ev.AddMember("reason", MakeString(reason, a), a);
  ev.AddMember("message", MakeString(message, a), a);
  JsonValue src(rapidjson::kObjectType);
  src.AddMember("component", "deploy", a);
  ev.AddMember("source", src, a);
  ev.AddMember("firstTimestamp", MakeString(now, a), a);
  ev.AddMember("lastTimestamp", MakeString(now, a), a);
  ev.AddMember("count", 1, a);
  ev.AddMember("type", MakeString(type, a), a);
  ev.AddMember("reportingComponent", "deploy", a);
  Response r = Call("POST", "/api/v1/namespaces/" + ns + "/events", ToJson(ev));
  if (r.code != 201) return StatusFromBody(r.code, r.body);
  return Status::OK();
}

}  // namespace minik::server
