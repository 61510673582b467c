#include "client/rest_api_client.h"

#include <utility>

namespace minik::client {

std::string QueryEscape(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
        c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string ResourcePath(const ResourceRef& res, std::string_view ns, std::string_view name,
                         std::string_view subresource) {
  std::string p = res.group.empty() ? "/api/" + res.version : "/apis/" + res.group + "/" + res.version;
  if (!ns.empty()) p.append("/namespaces/").append(ns);
  p.append("/").append(res.plural);
  if (!name.empty()) p.append("/").append(name);
  if (!subresource.empty()) p.append("/").append(subresource);
  return p;
}

namespace {

void AddParam(std::string* q, std::string_view name, std::string_view value) {
  if (!q->empty()) q->push_back('&');
  q->append(name).push_back('=');
  q->append(QueryEscape(value));
}

// Decodes a response: the object for 2xx, the API's Status otherwise.
StatusOr<JsonDoc> Decode(StatusOr<RestResponse> r) {
  if (!r.ok()) return r.status();
  if (r->status < 200 || r->status > 299) return StatusFromResponse(r->status, r->body);
  auto doc = ParseJson(r->body);
  if (!doc.ok()) return Status::Internal("malformed response body: " + doc.status().message());
  return doc;
}

}  // namespace

Status WatchDecoder::Frame(std::string_view line) {
  auto parsed = ParseJson(line);
  if (!parsed.ok()) return Status::Internal("malformed watch event: " + parsed.status().message());
  JsonDoc& frame = *parsed;
  if (!frame.IsObject()) return Status::Internal("malformed watch event: not an object");
  std::string_view type = GetString(frame, "type").value_or("");
  JsonValue* object = MutableMember(frame, "object");
  if (!object || !object->IsObject()) return Status::Internal("malformed watch event: no object");
  if (type == "ERROR") return StatusFromStatusObject(*object);
  WatchEvent ev;
  if (type == "ADDED") {
    ev.type = WatchEvent::Type::kAdded;
  } else if (type == "MODIFIED") {
    ev.type = WatchEvent::Type::kModified;
  } else if (type == "DELETED") {
    ev.type = WatchEvent::Type::kDeleted;
  } else if (type == "BOOKMARK") {
    ev.type = WatchEvent::Type::kBookmark;
  } else {
    return Status::Internal("unknown watch event type: " + std::string(type));
  }
  // Make the object the document's root without copying: its memory stays in the same
  // allocator, and the old root (the frame) keeps only the type string and a null.
  auto doc = std::make_shared<JsonDoc>();
  doc->Swap(frame);
  JsonValue obj;
  obj.Swap(*MutableMember(*doc, "object"));
  static_cast<JsonValue&>(*doc).Swap(obj);
  ev.object = std::move(doc);
  on_event_(std::move(ev));
  return Status::OK();
}

Status WatchDecoder::Feed(std::string_view data) {
  while (!data.empty()) {
    auto nl = data.find('\n');
    if (nl == std::string_view::npos) {
      buffer_.append(data);
      return Status::OK();
    }
    std::string_view line = data.substr(0, nl);
    data.remove_prefix(nl + 1);
    Status st;
    if (!buffer_.empty()) {
      buffer_.append(line);
      std::string whole = std::move(buffer_);
      buffer_.clear();
      if (whole.find_first_not_of(" \r\t") != std::string::npos) st = Frame(whole);
    } else if (line.find_first_not_of(" \r\t") != std::string_view::npos) {
      st = Frame(line);
    }
    if (!st.ok()) return st;
  }
  return Status::OK();
}

RestApiClient::RestApiClient(TransportPtr transport)
    : transport_(std::move(transport)), alive_(std::make_shared<bool>(true)) {}

RestApiClient::~RestApiClient() { *alive_ = false; }

void RestApiClient::Call(RestRequest req, ObjectCallback cb) {
  std::weak_ptr<bool> alive = alive_;
  transport_->Do(std::move(req), [alive, cb = std::move(cb)](StatusOr<RestResponse> r) {
    if (alive.expired()) return;
    cb(Decode(std::move(r)));
  });
}

void RestApiClient::Get(const ResourceRef& res, const std::string& ns, const std::string& name, ObjectCallback cb) {
  RestRequest req;
  req.method = "GET";
  req.path = ResourcePath(res, ns, name);
  Call(std::move(req), std::move(cb));
}

void RestApiClient::List(const ResourceRef& res, const std::string& ns, const ListOptions& opts, ObjectCallback cb) {
  RestRequest req;
  req.method = "GET";
  req.path = ResourcePath(res, ns);
  if (!opts.label_selector.empty()) AddParam(&req.query, "labelSelector", opts.label_selector);
  if (!opts.field_selector.empty()) AddParam(&req.query, "fieldSelector", opts.field_selector);
  if (opts.limit > 0) AddParam(&req.query, "limit", std::to_string(opts.limit));
  if (!opts.continue_token.empty()) AddParam(&req.query, "continue", opts.continue_token);
  if (!opts.resource_version.empty()) AddParam(&req.query, "resourceVersion", opts.resource_version);
  if (!opts.resource_version_match.empty())
    AddParam(&req.query, "resourceVersionMatch", opts.resource_version_match);
  Call(std::move(req), std::move(cb));
}

void RestApiClient::Create(const ResourceRef& res, const std::string& ns, const JsonValue& obj, ObjectCallback cb) {
  RestRequest req;
  req.method = "POST";
  req.path = ResourcePath(res, ns);
  req.content_type = "application/json";
  req.body = ToJson(obj);
  Call(std::move(req), std::move(cb));
}

void RestApiClient::Update(const ResourceRef& res, const std::string& ns, const JsonValue& obj,
                           const std::string& subresource, ObjectCallback cb) {
  RestRequest req;
  req.method = "PUT";
  req.path = ResourcePath(res, ns, MetaString(obj, "name"), subresource);
  req.content_type = "application/json";
  req.body = ToJson(obj);
  Call(std::move(req), std::move(cb));
}

void RestApiClient::Patch(const ResourceRef& res, const std::string& ns, const std::string& name, PatchType type,
                          std::string patch, const std::string& subresource, ObjectCallback cb) {
  RestRequest req;
  req.method = "PATCH";
  req.path = ResourcePath(res, ns, name, subresource);
  req.content_type = PatchContentType(type);
  req.body = std::move(patch);
  Call(std::move(req), std::move(cb));
}

void RestApiClient::Delete(const ResourceRef& res, const std::string& ns, const std::string& name,
                           const DeleteOptions& opts, ObjectCallback cb) {
  RestRequest req;
  req.method = "DELETE";
  req.path = ResourcePath(res, ns, name);
  JsonDoc body(rapidjson::kObjectType);
  auto& a = body.GetAllocator();
  SetString(body, "kind", "DeleteOptions", a);
  SetString(body, "apiVersion", "v1", a);
  if (opts.grace_period_seconds) SetMember(body, "gracePeriodSeconds", JsonValue(*opts.grace_period_seconds), a);
  if (!opts.precondition_uid.empty() || !opts.precondition_resource_version.empty()) {
    JsonValue& pre = EnsureObject(body, "preconditions", a);
    if (!opts.precondition_uid.empty()) SetString(pre, "uid", opts.precondition_uid, a);
    if (!opts.precondition_resource_version.empty())
      SetString(pre, "resourceVersion", opts.precondition_resource_version, a);
  }
  if (!opts.propagation_policy.empty()) SetString(body, "propagationPolicy", opts.propagation_policy, a);
  req.content_type = "application/json";
  req.body = ToJson(body);
  Call(std::move(req), std::move(cb));
}

namespace {

// The state of one watch, shared by the stream callbacks; the handle owns the stream.
struct WatchState {
  WatchCallbacks cbs;
  std::unique_ptr<WatchDecoder> decoder;
  int status = 0;
  std::string error_body;
  bool closed = false;

  void Close(Status st) {
    if (closed) return;
    closed = true;
    auto fn = std::move(cbs.on_closed);
    if (fn) fn(std::move(st));
  }
};

class WatchHandle final : public http::Handle {
 public:
  WatchHandle(std::shared_ptr<WatchState> state) : state_(std::move(state)) {}
  ~WatchHandle() override {
    state_->closed = true;  // no callback after the handle is gone
    stream_.reset();
  }
  void set_stream(http::HandlePtr s) { stream_ = std::move(s); }

 private:
  std::shared_ptr<WatchState> state_;
  http::HandlePtr stream_;
};

}  // namespace

http::HandlePtr RestApiClient::Watch(const ResourceRef& res, const std::string& ns, const WatchOptions& opts,
                                     WatchCallbacks cbs) {
  RestRequest req;
  req.method = "GET";
  req.path = ResourcePath(res, ns);
  AddParam(&req.query, "watch", "true");
  if (!opts.resource_version.empty()) AddParam(&req.query, "resourceVersion", opts.resource_version);
  if (opts.allow_watch_bookmarks) AddParam(&req.query, "allowWatchBookmarks", "true");
  if (opts.timeout_seconds > 0) AddParam(&req.query, "timeoutSeconds", std::to_string(opts.timeout_seconds));
  if (!opts.label_selector.empty()) AddParam(&req.query, "labelSelector", opts.label_selector);
  if (!opts.field_selector.empty()) AddParam(&req.query, "fieldSelector", opts.field_selector);

  auto state = std::make_shared<WatchState>();
  state->cbs = std::move(cbs);
  std::weak_ptr<WatchState> weak = state;
  state->decoder = std::make_unique<WatchDecoder>([weak](WatchEvent ev) {
    auto s = weak.lock();
    if (s && !s->closed && s->cbs.on_event) s->cbs.on_event(std::move(ev));
  });
  auto handle = std::make_unique<WatchHandle>(state);
  Transport::StreamCallbacks scb;
  scb.on_response = [weak](int status) {
    if (auto s = weak.lock()) s->status = status;
  };
  scb.on_data = [weak](std::string_view data) {
    auto s = weak.lock();
    if (!s || s->closed) return;
    if (s->status < 200 || s->status > 299) {
      s->error_body.append(data);
      return;
    }
    Status st = s->decoder->Feed(data);
    if (!st.ok()) s->Close(std::move(st));
  };
  scb.on_done = [weak](Status st) {
    auto s = weak.lock();
    if (!s || s->closed) return;
    if (st.ok() && (s->status < 200 || s->status > 299)) st = StatusFromResponse(s->status, s->error_body);
    s->Close(std::move(st));
  };
  handle->set_stream(transport_->Stream(std::move(req), std::move(scb)));
  return handle;
}

void HttpsTransport::Do(RestRequest req, std::function<void(StatusOr<RestResponse>)> cb) {
  http::Headers headers{{"accept", "application/json"}};
  if (!req.content_type.empty()) headers.emplace_back("content-type", req.content_type);
  client_->Request(req.method, req.Target(), std::move(headers), std::move(req.body),
                   [cb = std::move(cb)](StatusOr<http::Response> r) {
                     if (!r.ok()) return cb(r.status());
                     cb(RestResponse{r->status, std::move(r->body)});
                   });
}

http::HandlePtr HttpsTransport::Stream(RestRequest req, StreamCallbacks cbs) {
  http::Headers headers{{"accept", "application/json"}};
  if (!req.content_type.empty()) headers.emplace_back("content-type", req.content_type);
  http::StreamCallbacks h;
  h.on_response = [f = std::move(cbs.on_response)](const http::Response& r) {
    if (f) f(r.status);
  };
  h.on_data = std::move(cbs.on_data);
  h.on_done = std::move(cbs.on_done);
  return client_->Stream(req.method, req.Target(), std::move(headers), std::move(req.body), std::move(h));
}

StatusOr<std::unique_ptr<HttpsApiClient>> HttpsApiClient::Create(http::Loop& loop, http::ClientOptions options) {
  auto c = http::Client::Create(loop, std::move(options));
  if (!c.ok()) return c.status().WithContext("api client");
  return std::unique_ptr<HttpsApiClient>(
      new HttpsApiClient(std::make_unique<HttpsTransport>(std::move(c).value())));
}

}  // namespace minik::client
