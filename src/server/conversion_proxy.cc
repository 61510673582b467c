// Serving a resource in a version other than the one it is stored in (autoscaling/v1
// HorizontalPodAutoscalers are stored as autoscaling/v2, as upstream does). The request is
// rewritten to the storage version, its body converted on the way in, and every object of the
// response (single, list items, watch events) converted back on the way out.
#include "api/conversion.h"
#include "api/errors.h"
#include "api/patch.h"
#include "common/strings.h"
#include "server/api_call.h"
#include "server/api_server.h"

namespace minik::server {
namespace {

// Converts the objects of JSON response bodies and watch event lines to the requested version.
class ConvertingWriter final : public http::ResponseWriter {
 public:
  ConvertingWriter(http::ResponseWriterPtr inner, std::string kind, std::string api_version)
      : inner_(std::move(inner)), kind_(std::move(kind)), api_version_(std::move(api_version)) {}

  void Send(int status, const Headers& headers, std::string body) override {
    if (status >= 200 && status < 300) body = ConvertBody(body);
    inner_->Send(status, headers, std::move(body));
  }
  void StartStream(int status, const Headers& headers) override { inner_->StartStream(status, headers); }
  bool Write(std::string_view data) override {
    // The API server writes whole event lines.
    std::string out;
    for (auto line : Split(data, '\n')) {
      if (Trim(line).empty()) continue;
      auto ev = ParseJson(line);
      if (ev.ok() && ev->IsObject()) {
        if (JsonValue* obj = MutableMember(*ev, "object"); obj && Convert(*obj, ev->GetAllocator())) {
          out += ToJson(*ev);
          out += '\n';
          continue;
        }
      }
      out.append(line);
      out += '\n';
    }
    GoEscapeHtml(&out);
    return inner_->Write(out);
  }
  void End() override { inner_->End(); }
  size_t Buffered() const override { return inner_->Buffered(); }
  void OnClose(std::function<void()> fn) override { inner_->OnClose(std::move(fn)); }
  bool closed() const override { return inner_->closed(); }

 private:
  // Converts obj in place if it is one of ours; false if it was left alone.
  bool Convert(JsonValue& obj, JsonAlloc& a) {
    auto k = GetString(obj, "kind");
    if (!k || *k != kind_) return false;
    JsonDoc doc;
    doc.CopyFrom(obj, doc.GetAllocator());
    if (!api::ConvertObject(doc, api_version_).ok()) return false;
    obj.CopyFrom(doc, a);
    return true;
  }

  std::string ConvertBody(const std::string& body) {
    auto doc = ParseJson(body);
    if (!doc.ok() || !doc->IsObject()) return body;
    auto& a = doc->GetAllocator();
    auto k = GetString(*doc, "kind");
    if (k && *k == kind_) {
      if (!Convert(*doc, a)) return body;
    } else if (k && *k == kind_ + "List") {
      SetString(*doc, "apiVersion", api_version_, a);
      JsonValue* items = MutableMember(*doc, "items");
      std::string stored = storage_api_version();
      for (auto& item : items && items->IsArray() ? items->GetArray() : JsonValue(rapidjson::kArrayType).GetArray()) {
        // List items carry no type: add it for the conversion, then drop it again.
        SetString(item, "apiVersion", stored, a);
        SetString(item, "kind", kind_, a);
        Convert(item, a);
        RemoveMember(item, "apiVersion");
        RemoveMember(item, "kind");
      }
    } else {
      return body;  // Status, Table, Scale, ...
    }
    std::string out = ToJson(*doc);
    GoEscapeHtml(&out);
    return out;
  }

  std::string storage_api_version() const {
    auto slash = api_version_.find('/');
    std::string group = slash == std::string::npos ? "" : api_version_.substr(0, slash);
    std::string v(api::StorageVersion(group, kind_));
    return group.empty() ? v : group + "/" + v;
  }

  http::ResponseWriterPtr inner_;
  std::string kind_;
  std::string api_version_;
};

std::string ReplaceVersion(const std::string& path, const std::string& from, const std::string& to) {
  std::string needle = "/" + from + "/";
  auto pos = path.find(needle);
  if (pos == std::string::npos) return path;
  return path.substr(0, pos) + "/" + to + "/" + path.substr(pos + needle.size());
}

}  // namespace

bool ApiServer::MaybeConvert(const CallPtr& c) {
  const api::ResourceInfo& info = *c->ri.info;
  std::string storage(api::StorageVersion(info.group, info.kind));
  if (storage.empty() || storage == info.version || (!c->ri.subresource.empty() && c->ri.subresource != "status")) {
    return false;
  }
  const api::ResourceInfo* stored = registry_.Find(info.group, storage, info.plural);
  if (!stored) return false;
  std::string requested = info.api_version();
  std::string stored_version = stored->api_version();
  http::Request req = c->req;
  req.path = ReplaceVersion(req.path, info.version, storage);
  req.target = ReplaceVersion(req.target, info.version, storage);
  const std::string& verb = c->ri.verb;
  if (verb == "create" || verb == "update") {
    auto doc = DecodeRequestBody(c->req);
    if (!doc.ok()) {
      SendStatus(*c->resp, doc.error());
      return true;
    }
    if (doc->IsObject() && !GetString(*doc, "apiVersion")) SetString(*doc, "apiVersion", requested, doc->GetAllocator());
    if (doc->IsObject() && !GetString(*doc, "kind")) SetString(*doc, "kind", info.kind, doc->GetAllocator());
    if (Status st = api::ConvertObject(*doc, stored_version); !st.ok()) {
      SendStatus(*c->resp, st);
      return true;
    }
    req.body = ToJson(*doc);
    for (auto& [k, v] : req.headers) {
      if (k == "content-type") v = "application/json";
    }
  } else if (verb == "patch") {
    // Patches are written against the requested version: apply them to the converted object and
    // store the result as an update with the object's resourceVersion as precondition.
    ObjectPtr cur = store_.Get(StorageKey(info, c->ri.namespace_, c->ri.name));
    if (!cur) {
      SendStatus(*c->resp, api::NotFoundError(info.group, info.plural, c->ri.name));
      return true;
    }
    JsonDoc view;
    view.CopyFrom(*cur->object, view.GetAllocator());
    if (Status st = api::ConvertObject(view, requested); !st.ok()) {
      SendStatus(*c->resp, st);
      return true;
    }
    const std::string* ct = c->req.Header("content-type");
    std::string type = ct ? std::string(Trim(Split(*ct, ';')[0])) : "";
    StatusOr<JsonDoc> patched = Status::UnsupportedMediaType("the body of the request was in an unknown format");
    if (type == "application/json-patch+json") patched = api::ApplyJsonPatch(view, c->req.body);
    else if (type == "application/merge-patch+json") patched = api::ApplyMergePatch(view, c->req.body);
    else if (type == "application/strategic-merge-patch+json") patched = api::ApplyStrategicMergePatch(view, c->req.body, requested, info.kind);
    if (!patched.ok() || !patched->IsObject()) {
      SendStatus(*c->resp, patched.ok() ? Status::BadRequest("the patched object is not a JSON object") : patched.error());
      return true;
    }
    if (Status st = api::ConvertObject(*patched, stored_version); !st.ok()) {
      SendStatus(*c->resp, st);
      return true;
    }
    req.method = "PUT";
    req.body = ToJson(*patched);
    for (auto& [k, v] : req.headers) {
      if (k == "content-type") v = "application/json";
    }
  }
  auto writer = std::make_shared<ConvertingWriter>(c->resp, info.kind, requested);
  auto inner = std::make_shared<Call>();
  inner->req = std::move(req);
  inner->resp = writer;
  inner->user = c->user;
  inner->groups = c->groups;
  Dispatch(inner);
  return true;
}

}  // namespace minik::server
