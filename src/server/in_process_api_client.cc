#include "server/in_process_api_client.h"

#include <vector>

#include "api/conversion.h"
#include "common/strings.h"
#include "server/in_process_transport.h"

namespace minik::server {
namespace {

class DirectWatch final : public http::Handle {
 public:
  DirectWatch() : alive_(std::make_shared<bool>(true)) {}
  ~DirectWatch() override {
    *alive_ = false;
    watch_.reset();
  }
  std::shared_ptr<bool> alive_;
  ObjectWatchPtr watch_;
};

}  // namespace

InProcessApiClient::InProcessApiClient(http::Loop& loop, ApiServer& api, ObjectStore& store,
                                       const api::Registry& registry)
    : client::RestApiClient(std::make_unique<InProcessTransport>(loop, api)),
      loop_(loop),
      store_(store),
      registry_(registry) {}

http::HandlePtr InProcessApiClient::Watch(const client::ResourceRef& res, const std::string& ns,
                                          const client::WatchOptions& opts, client::WatchCallbacks cbs) {
  const api::ResourceInfo* info = registry_.Find(res.group, res.version, res.plural);
  int64_t from = 0;
  bool direct = info && opts.label_selector.empty() && opts.field_selector.empty() &&
                !opts.resource_version.empty() && opts.resource_version != "0" &&
                ParseInt64(opts.resource_version, &from) && from > 0;
  if (direct) {
    std::string_view storage = api::StorageVersion(info->group, info->kind);
    direct = storage.empty() || storage == res.version;
  }
  if (!direct) return client::RestApiClient::Watch(res, ns, opts, std::move(cbs));

  ++direct_watches_;
  auto handle = std::make_unique<DirectWatch>();
  std::weak_ptr<bool> alive = handle->alive_;
  // Events replayed while the watch is being set up (and any that follow them before they are
  // delivered) wait in `pending` and are delivered from a posted task: callbacks never run
  // inside Watch(), and always in order.
  struct State {
    client::WatchCallbacks cbs;
    std::vector<client::WatchEvent> pending;
    bool flush_posted = false;
    bool setting_up = true;
  };
  auto state = std::make_shared<State>();
  state->cbs = std::move(cbs);
  auto flush = [alive, state]() {
    state->flush_posted = false;
    std::vector<client::WatchEvent> evs;
    evs.swap(state->pending);
    for (auto& e : evs) {
      if (alive.expired()) return;
      state->cbs.on_event(std::move(e));
    }
  };
  http::Loop* loop = &loop_;
  auto w = store_.Watch(StoragePrefix(*info, ns), from, [alive, state, flush, loop](const WatchEventPtr& ev) {
    if (alive.expired() || !ev->object || !ev->object->object) return;
    client::WatchEvent out;
    out.type = ev->type == store::Event::Type::kDelete ? client::WatchEvent::Type::kDeleted
               : ev->prev                              ? client::WatchEvent::Type::kModified
                                                       : client::WatchEvent::Type::kAdded;
    out.object = ev->object->object;  // the cache's own immutable document
    if (!state->setting_up && state->pending.empty()) return state->cbs.on_event(std::move(out));
    state->pending.push_back(std::move(out));
    if (!state->flush_posted) {
      state->flush_posted = true;
      loop->Post(flush);
    }
  });
  state->setting_up = false;
  if (!w.ok()) {
    // Expired (too old a resourceVersion): end the watch from a fresh callback, as the REST
    // path would after the ERROR event.
    Status st = w.error();
    loop_.Post([alive, state, st]() {
      if (!alive.expired() && state->cbs.on_closed) state->cbs.on_closed(st);
    });
    return handle;
  }
  handle->watch_ = std::move(*w);
  return handle;
}

}  // namespace minik::server
