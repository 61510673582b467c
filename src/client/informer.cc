#include "client/informer.h"

#include <algorithm>

#include "common/log.h"

namespace minik::client {

std::vector<std::string> NamespaceIndexFunc(const JsonValue& obj) {
  std::string_view ns = MetaString(obj, "namespace");
  if (ns.empty()) return {};
  return {std::string(ns)};
}

std::vector<std::string> ControllerOwnerIndexFunc(const JsonValue& obj) {
  const JsonValue* refs = Path(obj, {"metadata", "ownerReferences"});
  if (!refs || !refs->IsArray()) return {};
  for (const auto& r : refs->GetArray()) {
    if (GetBool(r, "controller").value_or(false)) {
      if (auto uid = GetString(r, "uid")) return {std::string(*uid)};
    }
  }
  return {};
}

std::vector<std::string> NodeNameIndexFunc(const JsonValue& obj) {
  const JsonValue* spec = Member(obj, "spec");
  if (!spec) return {};
  std::string_view node = GetString(*spec, "nodeName").value_or("");
  if (node.empty()) return {};
  return {std::string(node)};
}

Informer::Informer(ApiClient& client, Timers& timers, ResourceRef resource, InformerOptions options)
    : client_(client),
      timers_(timers),
      resource_(std::move(resource)),
      options_(std::move(options)),
      alive_(std::make_shared<bool>(true)) {
  backoff_ms_ = options_.backoff_initial_ms;
  if (options_.builtin_indexes) {
    AddIndexer(kNamespaceIndex, NamespaceIndexFunc);
    AddIndexer(kOwnerIndex, ControllerOwnerIndexFunc);
    AddIndexer(kNodeIndex, NodeNameIndexFunc);
  }
}

Informer::~Informer() {
  *alive_ = false;
  watch_.reset();
  retry_timer_.reset();
}

void Informer::AddIndexer(const std::string& name, IndexFunc fn) {
  Index& idx = indexes_[name];
  idx.fn = std::move(fn);
  idx.values.clear();
  for (const auto& [key, obj] : items_) {
    for (auto& v : idx.fn(*obj)) idx.values[v].insert(key);
  }
}

int Informer::AddEventHandler(EventHandlers handlers) {
  int id = next_handler_id_++;
  auto h = std::make_shared<EventHandlers>(std::move(handlers));
  handlers_[id] = h;
  if (h->on_add) {
    for (const auto& obj : List()) h->on_add(obj);
  }
  return id;
}

void Informer::RemoveEventHandler(int id) { handlers_.erase(id); }

void Informer::OnSynced(std::function<void()> fn) {
  if (synced_) return fn();
  on_synced_.push_back(std::move(fn));
}

void Informer::Run() {
  if (running_) return;
  running_ = true;
  StartList();
}

void Informer::Stop() {
  running_ = false;
  ++epoch_;
  watch_.reset();
  retry_timer_.reset();
}

ObjectPtr Informer::Get(const std::string& key) const {
  auto it = items_.find(key);
  return it == items_.end() ? nullptr : it->second;
}

std::vector<ObjectPtr> Informer::List() const {
  std::vector<ObjectPtr> out;
  out.reserve(items_.size());
  for (const auto& [k, v] : items_) out.push_back(v);
  return out;
}

std::vector<std::string> Informer::ListKeys() const {
  std::vector<std::string> out;
  out.reserve(items_.size());
  for (const auto& [k, v] : items_) out.push_back(k);
  return out;
}

std::vector<std::string> Informer::IndexKeys(const std::string& index, const std::string& value) const {
  auto it = indexes_.find(index);
  if (it == indexes_.end()) return {};
  auto v = it->second.values.find(value);
  if (v == it->second.values.end()) return {};
  return {v->second.begin(), v->second.end()};
}

std::vector<ObjectPtr> Informer::ByIndex(const std::string& index, const std::string& value) const {
  std::vector<ObjectPtr> out;
  for (const auto& key : IndexKeys(index, value)) {
    if (auto obj = Get(key)) out.push_back(std::move(obj));
  }
  return out;
}

// ---- list and watch -----------------------------------------------------------------------

void Informer::StartList() {
  if (!running_) return;
  uint64_t epoch = ++epoch_;
  watch_.reset();
  retry_timer_.reset();
  ++lists_;
  ListPage(epoch, "", std::make_shared<std::vector<ObjectPtr>>());
}

void Informer::ListPage(uint64_t epoch, std::string continue_token, std::shared_ptr<std::vector<ObjectPtr>> acc) {
  ListOptions opts;
  opts.label_selector = options_.label_selector;
  opts.field_selector = options_.field_selector;
  opts.limit = options_.page_size;
  opts.continue_token = std::move(continue_token);
  std::weak_ptr<bool> alive = alive_;
  client_.List(resource_, options_.ns, opts, [this, alive, epoch, acc](StatusOr<JsonDoc> r) {
    if (alive.expired() || epoch != epoch_ || !running_) return;
    if (!r.ok()) {
      MINIK_LOG(Warning) << "informer " << resource_.GroupResource() << ": list failed: " << r.status().ToString();
      return RetryAfterBackoff();
    }
    const JsonDoc& list = *r;
    if (const JsonValue* items = Member(list, "items"); items && items->IsArray()) {
      for (const auto& item : items->GetArray()) {
        auto doc = std::make_shared<JsonDoc>();
        doc->CopyFrom(item, doc->GetAllocator());
        acc->push_back(std::move(doc));
      }
    }
    std::string cont(Path(list, {"metadata", "continue"}) && Path(list, {"metadata", "continue"})->IsString()
                         ? Path(list, {"metadata", "continue"})->GetString()
                         : "");
    if (!cont.empty()) return ListPage(epoch, std::move(cont), acc);
    std::string rv(MetaString(list, "resourceVersion"));
    Replace(std::move(*acc), rv);
    if (epoch == epoch_ && running_) StartWatch();
  });
}

void Informer::Replace(std::vector<ObjectPtr> items, const std::string& rv) {
  std::unordered_map<std::string, ObjectPtr> fresh;
  fresh.reserve(items.size());
  for (auto& obj : items) fresh.emplace(ObjectKey(*obj), std::move(obj));
  // Deletions not observed: the tombstone case.
  std::vector<std::string> gone;
  for (const auto& [key, obj] : items_) {
    if (!fresh.count(key)) gone.push_back(key);
  }
  for (const auto& key : gone) {
    ObjectPtr old = Remove(key);
    NotifyDelete(old, true);
  }
  for (auto& [key, obj] : fresh) {
    ObjectPtr old = Get(key);
    if (old && MetaString(*old, "resourceVersion") == MetaString(*obj, "resourceVersion")) continue;
    Upsert(key, obj);
    if (old) NotifyUpdate(old, obj);
    else NotifyAdd(obj);
  }
  last_rv_ = rv;
  if (!synced_) {
    synced_ = true;
    auto fns = std::move(on_synced_);
    on_synced_.clear();
    for (auto& fn : fns) fn();
  }
}

void Informer::StartWatch() {
  if (!running_) return;
  uint64_t epoch = ++epoch_;
  WatchOptions opts;
  opts.resource_version = last_rv_;
  opts.allow_watch_bookmarks = true;
  // xorshift: spreads the watch timeouts of many informers.
  rand_state_ ^= rand_state_ << 13;
  rand_state_ ^= rand_state_ >> 7;
  rand_state_ ^= rand_state_ << 17;
  int64_t min = std::max<int64_t>(1, options_.min_watch_timeout_seconds);
  opts.timeout_seconds = min + static_cast<int64_t>(rand_state_ % static_cast<uint64_t>(min));
  opts.label_selector = options_.label_selector;
  opts.field_selector = options_.field_selector;
  std::weak_ptr<bool> alive = alive_;
  WatchCallbacks cbs;
  cbs.on_event = [this, alive, epoch](WatchEvent ev) {
    if (alive.expired()) return;
    OnWatchEvent(epoch, std::move(ev));
  };
  cbs.on_closed = [this, alive, epoch](Status st) {
    if (alive.expired()) return;
    OnWatchClosed(epoch, std::move(st));
  };
  watch_.reset();
  watch_ = client_.Watch(resource_, options_.ns, opts, std::move(cbs));
}

void Informer::OnWatchEvent(uint64_t epoch, WatchEvent ev) {
  if (epoch != epoch_ || !running_) return;
  std::string rv(MetaString(*ev.object, "resourceVersion"));
  switch (ev.type) {
    case WatchEvent::Type::kBookmark:
      break;
    case WatchEvent::Type::kAdded:
    case WatchEvent::Type::kModified: {
      std::string key = ObjectKey(*ev.object);
      ObjectPtr old = Upsert(key, ev.object);
      if (old) NotifyUpdate(old, ev.object);
      else NotifyAdd(ev.object);
      break;
    }
    case WatchEvent::Type::kDeleted: {
      ObjectPtr old = Remove(ObjectKey(*ev.object));
      if (old) NotifyDelete(ev.object, false);
      break;
    }
  }
  if (!rv.empty()) last_rv_ = rv;
}

void Informer::OnWatchClosed(uint64_t epoch, Status st) {
  if (epoch != epoch_ || !running_) return;
  ++epoch_;  // the closed watch says nothing more
  std::weak_ptr<bool> alive = alive_;
  if (st.ok()) {
    backoff_ms_ = options_.backoff_initial_ms;
    timers_.Post([this, alive]() {
      if (!alive.expired() && running_) StartWatch();
    });
    return;
  }
  if (st.code() == Code::kExpired || st.code() == Code::kGone) {
    MINIK_LOG(Info) << "informer " << resource_.GroupResource() << ": watch expired, re-listing: " << st.message();
    timers_.Post([this, alive]() {
      if (!alive.expired() && running_) StartList();
    });
    return;
  }
  MINIK_LOG(Warning) << "informer " << resource_.GroupResource() << ": watch ended: " << st.ToString();
  RetryAfterBackoff();
}

void Informer::RetryAfterBackoff() {
  int64_t delay = backoff_ms_;
  backoff_ms_ = std::min(backoff_ms_ * 2, options_.backoff_max_ms);
  ++epoch_;
  std::weak_ptr<bool> alive = alive_;
  retry_timer_ = timers_.After(static_cast<uint64_t>(delay), [this, alive]() {
    if (!alive.expired() && running_) StartList();
  });
}

// ---- cache --------------------------------------------------------------------------------

void Informer::IndexObject(const std::string& key, const JsonValue* old_obj, const JsonValue* new_obj) {
  for (auto& [name, idx] : indexes_) {
    std::vector<std::string> before = old_obj ? idx.fn(*old_obj) : std::vector<std::string>{};
    std::vector<std::string> after = new_obj ? idx.fn(*new_obj) : std::vector<std::string>{};
    if (before == after) continue;
    for (const auto& v : before) {
      auto it = idx.values.find(v);
      if (it == idx.values.end()) continue;
      it->second.erase(key);
      if (it->second.empty()) idx.values.erase(it);
    }
    for (const auto& v : after) idx.values[v].insert(key);
  }
}

ObjectPtr Informer::Upsert(const std::string& key, ObjectPtr obj) {
  auto& slot = items_[key];
  ObjectPtr old = std::move(slot);
  slot = obj;
  IndexObject(key, old.get(), obj.get());
  return old;
}

ObjectPtr Informer::Remove(const std::string& key) {
  auto it = items_.find(key);
  if (it == items_.end()) return nullptr;
  ObjectPtr old = std::move(it->second);
  items_.erase(it);
  IndexObject(key, old.get(), nullptr);
  return old;
}

void Informer::NotifyAdd(const ObjectPtr& obj) {
  auto hs = handlers_;  // handlers may add or remove handlers
  for (auto& [id, h] : hs) {
    if (h->on_add) h->on_add(obj);
  }
}

void Informer::NotifyUpdate(const ObjectPtr& old_obj, const ObjectPtr& new_obj) {
  auto hs = handlers_;
  for (auto& [id, h] : hs) {
    if (h->on_update) h->on_update(old_obj, new_obj);
  }
}

void Informer::NotifyDelete(const ObjectPtr& obj, bool unknown) {
  auto hs = handlers_;
  for (auto& [id, h] : hs) {
    if (h->on_delete) h->on_delete(obj, unknown);
  }
}

// ---- factory ------------------------------------------------------------------------------

Informer& SharedInformerFactory::For(const ResourceRef& res) {
  auto& slot = informers_[res];
  if (!slot) slot = std::make_unique<Informer>(client_, timers_, res, defaults_);
  return *slot;
}

void SharedInformerFactory::Start() {
  for (auto& [res, inf] : informers_) inf->Run();
}

void SharedInformerFactory::Stop() {
  for (auto& [res, inf] : informers_) inf->Stop();
}

bool SharedInformerFactory::HasSynced() const {
  for (const auto& [res, inf] : informers_) {
    if (!inf->HasSynced()) return false;
  }
  return true;
}

void SharedInformerFactory::OnSynced(std::function<void()> fn) {
  auto remaining = std::make_shared<size_t>(informers_.size());
  auto done = std::make_shared<std::function<void()>>(std::move(fn));
  if (*remaining == 0) return (*done)();
  for (auto& [res, inf] : informers_) {
    inf->OnSynced([remaining, done]() {
      if (--*remaining == 0) (*done)();
    });
  }
}

}  // namespace minik::client
