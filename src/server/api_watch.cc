// The watch verb: chunked streams of {"type":..., "object":...} events, with upstream's
// resourceVersion semantics, selector transitions, bookmarks, timeouts and Table output.
#include "api/errors.h"
#include "common/log.h"
#include "common/strings.h"
#include "server/api_call.h"
#include "server/api_server.h"
#include "server/list_filter.h"

namespace minik::server {
namespace {

enum class WatchType { kAdded, kModified, kDeleted };

const char* TypeName(WatchType t) {
  switch (t) {
    case WatchType::kAdded: return "ADDED";
    case WatchType::kModified: return "MODIFIED";
    case WatchType::kDeleted: return "DELETED";
  }
  return "ERROR";
}

WatchType TypeOf(const store::CacheEvent& ev) {
  if (ev.type == store::Event::Type::kDelete) return WatchType::kDeleted;
  return ev.prev ? WatchType::kModified : WatchType::kAdded;
}

constexpr size_t kMaxBufferedBytes = 32 * 1024 * 1024;

struct WatchState {
  ApiServer::CallPtr call;
  const api::ResourceInfo* info = nullptr;
  ListFilter filter;
  std::string name;  // legacy single-object watch
  bool table = false;
  bool headers_sent = false;
  std::string include_object;
  ObjectWatchPtr handle;
  http::HandlePtr timeout;
  http::HandlePtr bookmarks;
  int64_t last_revision = 0;
  bool ended = false;
  const Clock* clock = nullptr;

  bool Matches(const JsonValue& obj) const {
    if (!name.empty()) {
      const JsonValue* n = Path(obj, {"metadata", "name"});
      if (!n || !n->IsString() || name != n->GetString()) return false;
    }
    return filter(obj);
  }

  void End() {
    if (ended) return;
    ended = true;
    handle.reset();
    timeout.reset();
    bookmarks.reset();
    call->resp->End();
  }

  void Send(WatchType type, const ObjectPtr& obj, const store::CacheEvent* memo_source) {
    if (ended) return;
    if (call->resp->closed()) return End();
    if (call->resp->Buffered() > kMaxBufferedBytes) {
      MINIK_LOG(Warning) << "closing a watch of " << info->group_resource() << ": the client is not reading";
      return End();
    }
    std::string line;
    if (table) {
      line = std::string("{\"type\":\"") + TypeName(type) + "\",\"object\":" +
             EncodeTable(*info, {obj}, std::to_string(obj->kv.mod_revision), "", -1, include_object, clock->Now(), !headers_sent) +
             "}\n";
      headers_sent = true;
      GoEscapeHtml(&line);
      call->resp->Write(line);
      return;
    }
    if (memo_source && TypeOf(*memo_source) == type && memo_source->object == obj) {
      if (memo_source->encoded.empty()) {
        std::string& m = memo_source->encoded;
        m = std::string("{\"type\":\"") + TypeName(type) + "\",\"object\":";
        AppendObjectJson(*obj->object, false, &m);
        m += "}\n";
        GoEscapeHtml(&m);
      }
      call->resp->Write(memo_source->encoded);
      return;
    }
    line = std::string("{\"type\":\"") + TypeName(type) + "\",\"object\":";
    AppendObjectJson(*obj->object, false, &line);
    line += "}\n";
    GoEscapeHtml(&line);
    call->resp->Write(line);
  }

  void OnEvent(const WatchEventPtr& ev) {
    last_revision = ev->revision();
    switch (TypeOf(*ev)) {
      case WatchType::kAdded:
        if (Matches(*ev->object->object)) Send(WatchType::kAdded, ev->object, ev.get());
        break;
      case WatchType::kModified: {
        bool now = Matches(*ev->object->object);
        bool before = ev->prev && Matches(*ev->prev->object);
        if (now && before) Send(WatchType::kModified, ev->object, ev.get());
        else if (now) Send(WatchType::kAdded, ev->object, nullptr);
        else if (before) Send(WatchType::kDeleted, ev->object, nullptr);
        break;
      }
      case WatchType::kDeleted:
        if (Matches(*ev->object->object)) Send(WatchType::kDeleted, ev->object, ev.get());
        break;
    }
  }

  void Bookmark() {
    if (ended) return;
    std::string line = "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"" + info->kind + "\",\"apiVersion\":\"" +
                       info->api_version() + "\",\"metadata\":{\"resourceVersion\":\"" + std::to_string(last_revision) +
                       "\",\"creationTimestamp\":null}}}\n";
    call->resp->Write(line);
  }
};

}  // namespace

void ApiServer::DoWatch(const CallPtr& c) {
  const auto& info = *c->ri.info;
  auto filter = MakeListFilter(info, c->Param("labelSelector"), c->Param("fieldSelector"));
  if (!filter.ok()) return SendStatus(*c->resp, filter.error());
  int64_t from = 0;
  std::string rv = c->Param("resourceVersion");
  if (!rv.empty() && rv != "0" && (!ParseInt64(rv, &from) || from < 0)) {
    return SendStatus(*c->resp, Status::BadRequest("invalid resource version: \"" + rv + "\""));
  }
  auto st = std::make_shared<WatchState>();
  st->call = c;
  st->info = &info;
  st->filter = std::move(*filter);
  st->name = c->ri.name;
  st->table = c->table;
  st->include_object = c->Param("includeObject");
  st->clock = &clock_;
  std::string ct = c->table ? (c->table_version == "v1" ? "application/json;as=Table;v=v1;g=meta.k8s.io"
                                                        : "application/json;as=Table;v=v1beta1;g=meta.k8s.io")
                            : "application/json";
  std::string prefix = StoragePrefix(info, c->ri.namespace_);
  c->resp->StartStream(200, {{"Content-Type", ct}, {"Cache-Control", "no-cache, private"}});
  bool initial = rv.empty() || rv == "0";
  if (c->HasParam("sendInitialEvents")) initial = c->BoolParam("sendInitialEvents");
  // A watch of one name (a legacy /watch/.../NAME or a metadata.name=X selector) reads and
  // follows that key alone.
  bool one_scope = !info.namespaced || !c->ri.namespace_.empty();
  ListFilter by_name = st->filter;
  if (!st->name.empty()) by_name.name = st->name;  // the selector, if it names another, matches nothing
  if (initial) {
    auto page = ListKept(store_, prefix, one_scope, "", 0, by_name);
    for (const auto& o : page.items) st->Send(WatchType::kAdded, o, nullptr);
    from = page.revision;
    st->last_revision = from;
    if (c->BoolParam("sendInitialEvents") && c->BoolParam("allowWatchBookmarks")) {
      std::string line = "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"" + info.kind + "\",\"apiVersion\":\"" +
                         info.api_version() + "\",\"metadata\":{\"resourceVersion\":\"" + std::to_string(from) +
                         "\",\"creationTimestamp\":null,\"annotations\":{\"k8s.io/initial-events-end\":\"true\"}}}}\n";
      c->resp->Write(line);
    }
  } else {
    st->last_revision = from;
  }
  std::weak_ptr<WatchState> weak = st;
  std::string watched = one_scope && by_name.name ? prefix + *by_name.name : prefix;
  auto handle = store_.Watch(watched, from, [weak](const WatchEventPtr& ev) {
    if (auto s = weak.lock()) s->OnEvent(ev);
  });
  if (!handle.ok()) {
    Status err = handle.error();
    if (err.code() == Code::kGone) err = Status::Expired(err.message());
    std::string line = "{\"type\":\"ERROR\",\"object\":" + api::StatusJson(err) + "}\n";
    c->resp->Write(line);
    st->End();
    return;
  }
  st->handle = std::move(*handle);
  int64_t timeout = 0;
  if (c->HasParam("timeoutSeconds") && ParseInt64(c->Param("timeoutSeconds"), &timeout) && timeout > 0) {
    st->timeout = loop_.AddTimer(static_cast<uint64_t>(timeout) * 1000, 0, [weak]() {
      if (auto s = weak.lock()) s->End();
    });
  } else {
    // Upstream ends watches after a random 30-60 minutes; clients re-establish them.
    st->timeout = loop_.AddTimer(static_cast<uint64_t>(1800 + std::rand() % 1800) * 1000, 0, [weak]() {
      if (auto s = weak.lock()) s->End();
    });
  }
  if (c->BoolParam("allowWatchBookmarks")) {
    st->bookmarks = loop_.AddTimer(60000, 60000, [weak]() {
      if (auto s = weak.lock()) s->Bookmark();
    });
  }
  // The stream lives until the client goes away or a timeout ends it.
  c->resp->OnClose([st]() mutable { st->End(); });
}

}  // namespace minik::server
