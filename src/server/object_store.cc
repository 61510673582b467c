#include "server/object_store.h"

#include <mutex>

#include "common/log.h"

namespace minik::server {
namespace {

void SetResourceVersion(JsonDoc& doc, int64_t revision) {
  if (!doc.IsObject()) return;
  auto& a = doc.GetAllocator();
  JsonValue& meta = EnsureObject(doc, "metadata", a);
  SetString(meta, "resourceVersion", std::to_string(revision), a);
}

// Parses a stored value read outside the cache and sets metadata.resourceVersion.
std::shared_ptr<const JsonDoc> Decode(const store::KeyValue& kv) {
  auto doc = std::make_shared<JsonDoc>();
  doc->Parse(kv.value.data(), kv.value.size());
  if (doc->HasParseError() || !doc->IsObject()) return nullptr;
  SetResourceVersion(*doc, kv.mod_revision);
  return doc;
}

class CacheWatch final : public ObjectWatch {
 public:
  CacheWatch(store::WatchCache& cache, store::WatchCache::WatcherId id) : cache_(cache), id_(id) {}
  ~CacheWatch() override { cache_.Unwatch(id_); }

 private:
  store::WatchCache& cache_;
  store::WatchCache::WatcherId id_;
};

class ObjectStoreImpl final : public ObjectStore {
 public:
  ObjectStoreImpl(http::Loop& loop, store::Backend& backend)
      : loop_(loop), backend_(backend), cache_(CacheOptions()) {}

  static store::WatchCache::Options CacheOptions() {
    store::WatchCache::Options o;
    o.on_parse = [](JsonDoc& doc, const store::KeyValue& kv) { SetResourceVersion(doc, kv.mod_revision); };
    o.keep_raw_value = false;  // every read is served from the parsed objects
    return o;
  }

  ~ObjectStoreImpl() override {
    backend_watch_.reset();
    *alive_ = false;
  }

  Status Start() {
    auto snapshot = backend_.List("", "", 0, 0);
    if (!snapshot.ok()) return snapshot.error().WithContext("loading the store");
    cache_.Init(*snapshot);
    std::shared_ptr<bool> alive = alive_;
    http::Loop* loop = &loop_;
    store::WatchCache* cache = &cache_;
    auto w = backend_.Watch("", snapshot->revision, [loop, cache, alive](const std::vector<store::Event>& events) {
      loop->Post([cache, alive, events]() {
        if (*alive) cache->Apply(events);
      });
    });
    if (!w.ok()) return w.error().WithContext("watching the store");
    backend_watch_ = std::move(*w);
    MINIK_LOG(Info) << "store loaded: " << cache_.size() << " objects at revision " << snapshot->revision;
    return Status::OK();
  }

  ObjectPtr Get(const std::string& key) const override { return cache_.Get(key); }

  Page List(const std::string& prefix, const std::string& start_after, int64_t limit,
            const std::function<bool(const StoredObject&)>& keep) const override {
    Page page;
    if (!keep) {
      auto p = cache_.List(prefix, start_after, limit);
      page.items = std::move(p.items);
      page.revision = p.revision;
      page.more = p.more;
      page.remaining = p.remaining;
      if (!page.items.empty()) page.last_key = page.items.back()->kv.key;
      return page;
    }
    page.revision = cache_.revision();
    std::string cursor = start_after;
    const int64_t chunk = 1024;
    while (true) {
      auto p = cache_.List(prefix, cursor, chunk);
      for (size_t i = 0; i < p.items.size(); ++i) {
        const auto& o = p.items[i];
        if (!o->object || !keep(*o)) continue;
        if (limit > 0 && static_cast<int64_t>(page.items.size()) == limit) {
          page.more = true;
          return page;
        }
        page.items.push_back(o);
        page.last_key = o->kv.key;
      }
      if (!p.more || p.items.empty()) break;
      cursor = p.items.back()->kv.key;
    }
    return page;
  }

  StatusOr<Page> ListAt(const std::string& prefix, const std::string& start_after, int64_t limit, int64_t revision,
                        const std::function<bool(const StoredObject&)>& keep) override {
    Page page;
    page.revision = revision;
    std::string cursor = start_after;
    const int64_t chunk = limit > 0 ? std::max<int64_t>(limit, 256) : 0;
    while (true) {
      auto r = backend_.List(prefix, cursor, chunk, revision);
      if (!r.ok()) return r.error();
      for (const auto& kv : r->kvs) {
        auto obj = std::make_shared<store::CachedObject>(store::CachedObject{kv, Decode(kv)});
        if (!obj->object || (keep && !keep(*obj))) continue;
        if (limit > 0 && static_cast<int64_t>(page.items.size()) == limit) {
          page.more = true;
          return page;
        }
        page.items.push_back(obj);
        page.last_key = kv.key;
      }
      if (!r->more || r->kvs.empty()) break;
      cursor = r->kvs.back().key;
    }
    return page;
  }

  void Create(const std::string& key, const JsonValue& obj, Done done) override {
    Write(store::Op{store::Op::Type::kCreate, key, ToJson(obj), 0}, std::move(done));
  }
  void Update(const std::string& key, const JsonValue& obj, int64_t expected, Done done) override {
    Write(store::Op{store::Op::Type::kUpdate, key, ToJson(obj), expected}, std::move(done));
  }
  void Delete(const std::string& key, int64_t expected, Done done) override {
    Write(store::Op{store::Op::Type::kDelete, key, "", expected}, std::move(done));
  }

  int64_t revision() const override { return cache_.revision(); }

  StatusOr<ObjectWatchPtr> Watch(const std::string& prefix, int64_t from_revision,
                                 std::function<void(const WatchEventPtr&)> fn) override {
    auto id = cache_.Watch(prefix, from_revision > 0 ? from_revision : -1, std::move(fn));
    if (!id.ok()) {
      return Status::Expired("too old resource version: " + std::to_string(from_revision) + " (" +
                             std::to_string(cache_.OldestWatchableRevision()) + ")");
    }
    return ObjectWatchPtr(std::make_unique<CacheWatch>(cache_, *id));
  }

 private:
  void Write(store::Op op, Done done) {
    std::string key = op.key;
    std::shared_ptr<bool> alive = alive_;
    http::Loop* loop = &loop_;
    store::WatchCache* cache = &cache_;
    backend_.Submit(std::move(op), [loop, cache, alive, key, done = std::move(done)](StatusOr<store::KeyValue> r) mutable {
      // Posted after the batch's events, so the cache has applied this write when it runs.
      loop->Post([cache, alive, key, done = std::move(done), r = std::move(r)]() {
        if (!*alive) return;
        if (!r.ok()) return done(r.error());
        ObjectPtr cached = cache->Get(key);
        if (cached && cached->kv.mod_revision == r->mod_revision) return done(cached);
        auto obj = Decode(*r);
        if (!obj) return done(Status::Internal("stored object for " + key + " is not valid JSON"));
        done(ObjectPtr(std::make_shared<store::CachedObject>(store::CachedObject{*r, std::move(obj)})));
      });
    });
  }

  http::Loop& loop_;
  store::Backend& backend_;
  store::WatchCache cache_;
  store::WatchHandlePtr backend_watch_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace

ObjectPtr MakeStoredObject(const std::string& key, int64_t revision, std::shared_ptr<const JsonDoc> object) {
  store::KeyValue kv;
  kv.key = key;
  kv.mod_revision = revision;
  return std::make_shared<store::CachedObject>(store::CachedObject{kv, std::move(object)});
}

StatusOr<std::unique_ptr<ObjectStore>> ObjectStore::Open(http::Loop& loop, store::Backend& backend) {
  auto s = std::make_unique<ObjectStoreImpl>(loop, backend);
  MINIK_RETURN_IF_ERROR(s->Start());
  return std::unique_ptr<ObjectStore>(std::move(s));
}

}  // namespace minik::server
