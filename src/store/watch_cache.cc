#include "store/watch_cache.h"

#include <algorithm>

#include <rapidjson/error/en.h>

#include "common/log.h"
#include "store/watch_hub.h"

namespace minik::store {

using internal::HasPrefix;

namespace {

// Initial size of a document's parse stack (freed once the document is built).
constexpr size_t kParseStack = 1024;

// A cached document in one pool of exactly the size its tree needs. Parsing straight into a
// pool would size it blindly (a rapidjson Document allocates 64 KiB chunks; a guess from the
// text leaves slack or spills into a second chunk), so each value is parsed into the cache's
// scratch document first and then copied here, and strings listed in Options::interned are
// referenced instead of copied.
struct ParsedValue {
  explicit ParsedValue(size_t bytes)
      : buffer(new char[bytes]), alloc(buffer.get(), bytes, kOverflowChunk, &base), doc(&alloc, kParseStack, &base) {}
  static constexpr size_t kOverflowChunk = 1024;  // only if a size computation were ever short
  std::unique_ptr<char[]> buffer;  // the pool's one chunk (declared first: freed last)
  rapidjson::CrtAllocator base;  // for the parse stack and overflow chunks (else each allocates one)
  rapidjson::MemoryPoolAllocator<> alloc;
  JsonDoc doc;
};

// Strings up to this length live inside their rapidjson value (no pool bytes).
constexpr size_t kInlineStringMax = 13;

const char* Interned(const WatchCache::Options& o, const char* s, size_t n) {
  if (!o.interned || n <= kInlineStringMax) return nullptr;
  auto it = o.interned->find(std::string_view(s, n));
  return it == o.interned->end() ? nullptr : it->data();
}

size_t StringPoolBytes(const JsonValue& v, const WatchCache::Options& o) {
  const size_t n = v.GetStringLength();
  if (n <= kInlineStringMax || Interned(o, v.GetString(), n)) return 0;
  return RAPIDJSON_ALIGN(n + 1);
}

// The pool bytes a copy of v takes (each object's members and each array's elements in one
// block, each long string not interned in another), as rapidjson's Document handler allocates.
size_t PoolBytes(const JsonValue& v, const WatchCache::Options& o) {
  size_t n = 0;
  if (v.IsObject()) {
    n += RAPIDJSON_ALIGN(v.MemberCount() * sizeof(JsonValue::Member));
    for (const auto& m : v.GetObject()) n += StringPoolBytes(m.name, o) + PoolBytes(m.value, o);
  } else if (v.IsArray()) {
    n += RAPIDJSON_ALIGN(v.Size() * sizeof(JsonValue));
    for (const auto& e : v.GetArray()) n += PoolBytes(e, o);
  } else if (v.IsString()) {
    n += StringPoolBytes(v, o);
  }
  return n;
}

// Feeds a document's SAX events to another, replacing interned strings by references.
class InterningCopy {
 public:
  InterningCopy(JsonDoc& out, const WatchCache::Options& o) : out_(out), o_(o) {}
  bool Null() { return out_.Null(); }
  bool Bool(bool b) { return out_.Bool(b); }
  bool Int(int i) { return out_.Int(i); }
  bool Uint(unsigned u) { return out_.Uint(u); }
  bool Int64(int64_t i) { return out_.Int64(i); }
  bool Uint64(uint64_t u) { return out_.Uint64(u); }
  bool Double(double d) { return out_.Double(d); }
  bool RawNumber(const char* s, rapidjson::SizeType n, bool copy) { return out_.RawNumber(s, n, copy); }
  bool String(const char* s, rapidjson::SizeType n, bool copy) {
    if (const char* p = Interned(o_, s, n)) return out_.String(p, n, false);
    return out_.String(s, n, copy);
  }
  bool Key(const char* s, rapidjson::SizeType n, bool copy) { return String(s, n, copy); }
  bool StartObject() { return out_.StartObject(); }
  bool EndObject(rapidjson::SizeType n) { return out_.EndObject(n); }
  bool StartArray() { return out_.StartArray(); }
  bool EndArray(rapidjson::SizeType n) { return out_.EndArray(n); }

 private:
  JsonDoc& out_;
  const WatchCache::Options& o_;
};

// The header of a rapidjson pool chunk (a user buffer starts with it).
constexpr size_t kChunkHeader = RAPIDJSON_ALIGN(3 * sizeof(size_t));

}  // namespace

WatchCache::Scratch::Scratch()
    : buffer(kBytes), alloc(buffer.data(), buffer.size(), kBytes, &base) {}

std::shared_ptr<const JsonDoc> WatchCache::Parse(const KeyValue& kv) {
  Scratch& sc = *scratch_;
  JsonDoc tmp(&sc.alloc, kParseStack, &sc.base);
  tmp.Parse(kv.value.data(), kv.value.size());
  std::shared_ptr<const JsonDoc> out;
  if (tmp.HasParseError()) {
    MINIK_LOG(Warning) << "watch cache: value of " << kv.key << " is not JSON: "
                       << rapidjson::GetParseError_En(tmp.GetParseError()) << " at offset " << tmp.GetErrorOffset();
  } else {
    if (options_.on_parse) options_.on_parse(tmp, kv);
    auto holder = std::make_shared<ParsedValue>(kChunkHeader + PoolBytes(tmp, options_));
    auto copy = [&](JsonDoc& d) {
      InterningCopy h(d, options_);
      return tmp.Accept(h);
    };
    holder->doc.Populate(copy);
    // Aliasing constructor: the document's lifetime is its holder's.
    out = std::shared_ptr<const JsonDoc>(holder, &holder->doc);
  }
  tmp.SetNull();
  sc.alloc.Clear();  // keeps the scratch buffer, frees any chunk a big value needed
  return out;
}

// The cached entry for kv: its raw text is copied only when the cache keeps it (or could not
// parse it). Copying it and then assigning an empty string would not do: std::string keeps its
// capacity on such an assignment, so every cached object would still hold its text.
std::shared_ptr<CachedObject> MakeCached(const KeyValue& kv, std::shared_ptr<const JsonDoc> parsed,
                                         const WatchCache::Options& options) {
  auto obj = std::make_shared<CachedObject>();
  obj->kv.key = kv.key;
  obj->kv.create_revision = kv.create_revision;
  obj->kv.mod_revision = kv.mod_revision;
  if (options.keep_raw_value || !parsed) obj->kv.value = kv.value;
  obj->object = std::move(parsed);
  return obj;
}

WatchCache::WatchCache() : WatchCache(Options{}) {}
WatchCache::WatchCache(Options options) : options_(options), scratch_(std::make_unique<Scratch>()) {}
WatchCache::~WatchCache() = default;

void WatchCache::Init(const ListResult& snapshot) {
  objects_.clear();
  for (const KeyValue& kv : snapshot.kvs) {
    objects_.insert(std::make_pair(kv.key, CachedObjectPtr(MakeCached(kv, Parse(kv), options_))));
  }
  events_.clear();
  revision_ = snapshot.revision;
  history_floor_ = snapshot.revision;
}

void WatchCache::Apply(const std::vector<Event>& events) {
  for (const Event& e : events) {
    if (e.kv.mod_revision <= revision_) continue;
    ApplyOne(e);
  }
}

void WatchCache::ApplyOne(const Event& e) {
  auto ev = std::make_shared<CacheEvent>();
  ev->type = e.type;
  auto it = objects_.find(e.kv.key);
  if (it != objects_.end()) ev->prev = it->second;
  std::shared_ptr<const JsonDoc> parsed;
  if (e.type == Event::Type::kDelete && ev->prev && options_.keep_raw_value && ev->prev->kv.value == e.kv.value &&
      !options_.on_parse) {
    parsed = ev->prev->object;  // the deleted value: already parsed
  } else {
    parsed = Parse(e.kv);
  }
  auto obj = MakeCached(e.kv, std::move(parsed), options_);
  ev->object = obj;
  if (e.type == Event::Type::kDelete) {
    if (it != objects_.end()) objects_.erase(it);
  } else if (it != objects_.end()) {
    it->second = obj;
  } else {
    objects_.insert(std::make_pair(e.kv.key, CachedObjectPtr(obj)));
  }
  revision_ = e.kv.mod_revision;
  Record(std::move(ev));
}

void WatchCache::Record(CacheEventPtr ev) {
  events_.push_back(ev);
  while (events_.size() > std::max<size_t>(1, options_.event_capacity)) {
    history_floor_ = events_.front()->revision();
    events_.pop_front();
  }
  // Fan out to a snapshot of the watchers: ones added by a callback start with the next event
  // (their replay already included this one); removed ones are skipped from then on.
  if (watchers_.empty()) return;
  std::vector<std::shared_ptr<WatcherEntry>> snapshot;
  snapshot.reserve(watchers_.size());
  for (const auto& [id, w] : watchers_) {
    if (HasPrefix(ev->object->kv.key, w->prefix)) snapshot.push_back(w);
  }
  for (const auto& w : snapshot) {
    if (w->removed) continue;
    try {
      w->callback(ev);
    } catch (const std::exception& ex) {
      MINIK_LOG(Error) << "watch cache: callback threw: " << ex.what();
    }
  }
  // The memo served this fan-out; kept, it would hold a serialized copy of every object in the
  // history. A watcher replaying the history later serializes again.
  std::string().swap(ev->encoded);
}

CachedObjectPtr WatchCache::Get(const std::string& key) const {
  auto it = objects_.find(key);
  return it == objects_.end() ? nullptr : it->second;
}

WatchCache::ListPage WatchCache::List(const std::string& prefix, const std::string& start_after, int64_t limit) const {
  ListPage page;
  page.revision = revision_;
  auto it = (!start_after.empty() && start_after >= prefix) ? objects_.upper_bound(start_after)
                                                             : objects_.lower_bound(prefix);
  for (; it != objects_.end() && HasPrefix(it->first, prefix); ++it) {
    if (limit > 0 && static_cast<int64_t>(page.items.size()) >= limit) {
      std::optional<std::string> end = internal::PrefixEnd(prefix);
      const int64_t end_rank = end ? RankOf(*end) : static_cast<int64_t>(objects_.size());
      page.more = true;
      page.remaining = end_rank - RankOf(it->first);
      break;
    }
    page.items.push_back(it->second);
  }
  return page;
}

int64_t WatchCache::Count(const std::string& prefix) const {
  std::optional<std::string> end = internal::PrefixEnd(prefix);
  const int64_t end_rank = end ? RankOf(*end) : static_cast<int64_t>(objects_.size());
  return end_rank - RankOf(prefix);
}

StatusOr<std::vector<CacheEventPtr>> WatchCache::EventsSince(const std::string& prefix, int64_t from_revision) const {
  if (from_revision < history_floor_) {
    return Status::Expired("too old resource version: " + std::to_string(from_revision) + " (" +
                           std::to_string(history_floor_) + ")");
  }
  std::vector<CacheEventPtr> out;
  auto it = std::upper_bound(events_.begin(), events_.end(), from_revision,
                             [](int64_t rev, const CacheEventPtr& e) { return rev < e->revision(); });
  for (; it != events_.end(); ++it) {
    if (HasPrefix((*it)->object->kv.key, prefix)) out.push_back(*it);
  }
  return out;
}

StatusOr<WatchCache::WatcherId> WatchCache::Watch(const std::string& prefix, int64_t from_revision, Callback callback) {
  std::vector<CacheEventPtr> replay;
  if (from_revision >= 0) {
    MINIK_ASSIGN_OR_RETURN(replay, EventsSince(prefix, from_revision));
  }
  const WatcherId id = next_id_++;
  auto entry = std::make_shared<WatcherEntry>();
  entry->prefix = prefix;
  entry->callback = std::move(callback);
  watchers_.emplace(id, entry);
  for (const CacheEventPtr& ev : replay) {
    if (entry->removed) break;
    entry->callback(ev);
  }
  return id;
}

void WatchCache::Unwatch(WatcherId id) {
  auto it = watchers_.find(id);
  if (it == watchers_.end()) return;
  it->second->removed = true;
  watchers_.erase(it);
}

}  // namespace minik::store
