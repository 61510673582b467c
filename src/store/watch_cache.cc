#include "store/watch_cache.h"

#include <algorithm>

#include <rapidjson/error/en.h>

#include "common/log.h"
#include "store/watch_hub.h"

namespace minik::store {

using internal::HasPrefix;

namespace {

// A parsed document with an allocator sized to it. A default rapidjson Document allocates
// its pool in 64 KiB chunks, which would cost 64 KiB per cached object; here the one chunk is
// sized to the tree: about twice the text (the tree holds copies of its strings plus 16-24 bytes
// per value; a Kubernetes object parses to 1.9x its text), so it rarely needs a second chunk.
struct ParsedValue {
  explicit ParsedValue(size_t chunk) : alloc(chunk), doc(&alloc) {}
  rapidjson::MemoryPoolAllocator<> alloc;  // declared first: destroyed after doc
  JsonDoc doc;
};

std::shared_ptr<const JsonDoc> ParseValue(const KeyValue& kv, const WatchCache::Options& options) {
  auto holder = std::make_shared<ParsedValue>(2 * kv.value.size() + 256);
  holder->doc.Parse(kv.value.data(), kv.value.size());
  if (holder->doc.HasParseError()) {
    MINIK_LOG(Warning) << "watch cache: value of " << kv.key << " is not JSON: "
                       << rapidjson::GetParseError_En(holder->doc.GetParseError()) << " at offset "
                       << holder->doc.GetErrorOffset();
    return nullptr;
  }
  if (options.on_parse) options.on_parse(holder->doc, kv);
  // Aliasing constructor: the document's lifetime is its holder's.
  return std::shared_ptr<const JsonDoc>(holder, &holder->doc);
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

}  // namespace

WatchCache::WatchCache() : WatchCache(Options{}) {}
WatchCache::WatchCache(Options options) : options_(options) {}
WatchCache::~WatchCache() = default;

void WatchCache::Init(const ListResult& snapshot) {
  objects_.clear();
  for (const KeyValue& kv : snapshot.kvs) {
    objects_.insert(std::make_pair(kv.key, CachedObjectPtr(MakeCached(kv, ParseValue(kv, options_), options_))));
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
    parsed = ParseValue(e.kv, options_);
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
