#include <catch2/catch.hpp>

#include "store/watch_cache.h"

#include <unordered_set>
#include "test/store/test_util.h"

namespace minik::store {
namespace {

using testing::Create;
using testing::Delete;
using testing::Update;

KeyValue KV(const std::string& key, const std::string& value, int64_t create, int64_t mod) {
  return KeyValue{key, value, create, mod};
}
Event Put(const std::string& key, const std::string& value, int64_t create, int64_t mod, KeyValue prev = {}) {
  Event e;
  e.type = Event::Type::kPut;
  e.kv = KV(key, value, create, mod);
  e.prev = std::move(prev);
  return e;
}
Event Del(const std::string& key, const std::string& value, int64_t create, int64_t mod) {
  Event e;
  e.type = Event::Type::kDelete;
  e.kv = KV(key, value, create, mod);
  e.prev = KV(key, value, create, mod - 1);
  return e;
}
std::vector<std::string> Keys(const WatchCache::ListPage& p) {
  std::vector<std::string> out;
  for (const auto& o : p.items) out.push_back(o->kv.key);
  return out;
}

TEST_CASE("watch cache: init, get, apply, list with paging and counts", "[store][cache]") {
  WatchCache cache;
  ListResult snap;
  snap.revision = 10;
  snap.kvs = {KV("/p/a", R"({"n":"a"})", 1, 1), KV("/p/b", R"({"n":"b"})", 2, 5), KV("/q/a", "{}", 3, 3)};
  cache.Init(snap);
  CHECK(cache.revision() == 10);
  CHECK(cache.size() == 3);
  auto a = cache.Get("/p/a");
  REQUIRE(a);
  REQUIRE(a->object);
  CHECK(GetString(*a->object, "n") == "a");
  CHECK(cache.Get("/nope") == nullptr);

  cache.Apply({Put("/p/c", R"({"n":"c"})", 11, 11), Put("/p/a", R"({"n":"a2"})", 1, 12, snap.kvs[0]),
               Put("/p/0", "not json", 13, 13)});
  CHECK(cache.revision() == 13);
  auto a2 = cache.Get("/p/a");
  REQUIRE(a2);
  CHECK(a2->kv.mod_revision == 12);
  CHECK(GetString(*a2->object, "n") == "a2");
  CHECK(a->kv.mod_revision == 1);  // readers holding the old object keep it unchanged
  CHECK(cache.Get("/p/0")->object == nullptr);

  CHECK(cache.Count("/p/") == 4);
  CHECK(cache.Count("") == 5);
  auto all = cache.List("/p/");
  CHECK(Keys(all) == std::vector<std::string>{"/p/0", "/p/a", "/p/b", "/p/c"});
  CHECK_FALSE(all.more);
  CHECK(all.revision == 13);
  auto p1 = cache.List("/p/", "", 3);
  CHECK(Keys(p1) == std::vector<std::string>{"/p/0", "/p/a", "/p/b"});
  CHECK(p1.more);
  CHECK(p1.remaining == 1);
  auto p2 = cache.List("/p/", "/p/0", 1);
  CHECK(Keys(p2) == std::vector<std::string>{"/p/a"});
  CHECK(p2.remaining == 2);
  auto p3 = cache.List("/p/", "/p/b", 5);
  CHECK(Keys(p3) == std::vector<std::string>{"/p/c"});
  CHECK_FALSE(p3.more);
  CHECK(p3.remaining == 0);

  cache.Apply({Del("/p/b", R"({"n":"b"})", 2, 14)});
  CHECK(cache.Get("/p/b") == nullptr);
  CHECK(cache.Count("/p/") == 3);
  // Events at or below the cache's revision are ignored (overlap of snapshot and watch).
  cache.Apply({Put("/p/zz", "{}", 9, 9), Put("/p/a", "{}", 1, 14)});
  CHECK(cache.Get("/p/zz") == nullptr);
  CHECK(cache.Get("/p/a")->kv.mod_revision == 12);
}

TEST_CASE("watch cache: watchers get events once, shared, and replay from a revision", "[store][cache]") {
  WatchCache::Options opt;
  opt.event_capacity = 3;
  WatchCache cache(opt);
  ListResult snap;
  snap.revision = 5;
  cache.Init(snap);

  std::vector<CacheEventPtr> got_p, got_all;
  auto wp = cache.Watch("/p/", -1, [&](const CacheEventPtr& e) { got_p.push_back(e); });
  auto wa = cache.Watch("", -1, [&](const CacheEventPtr& e) { got_all.push_back(e); });
  REQUIRE(wp.ok());
  REQUIRE(wa.ok());
  cache.Apply({Put("/p/a", R"({"v":1})", 6, 6), Put("/q/a", "{}", 7, 7)});
  REQUIRE(got_p.size() == 1);
  REQUIRE(got_all.size() == 2);
  CHECK(got_p[0].get() == got_all[0].get());  // one shared event object
  CHECK(got_p[0]->is_create());
  CHECK(got_p[0]->prev == nullptr);
  got_p[0]->encoded = "frame";                // the memo is shared by every watcher
  CHECK(got_all[0]->encoded == "frame");

  cache.Apply({Put("/p/a", R"({"v":2})", 6, 8), Del("/p/a", R"({"v":2})", 6, 9)});
  REQUIRE(got_p.size() == 3);
  CHECK(got_p[1]->prev->kv.mod_revision == 6);
  CHECK(GetInt(*got_p[1]->prev->object, "v") == 1);
  CHECK(got_p[2]->type == Event::Type::kDelete);
  CHECK(got_p[2]->revision() == 9);
  CHECK(got_p[2]->object->object == got_p[1]->object->object);  // deleted value not re-parsed

  // The ring holds 3 events (7, 8, 9): replay from 6 works, from 5 is too old.
  auto since6 = cache.EventsSince("", 6);
  REQUIRE(since6.ok());
  CHECK(since6->size() == 3);
  auto since7p = cache.EventsSince("/p/", 7);
  REQUIRE(since7p.ok());
  CHECK(since7p->size() == 2);
  CHECK(cache.EventsSince("", 5).status().code() == Code::kExpired);
  CHECK(cache.OldestWatchableRevision() == 6);
  std::vector<CacheEventPtr> replayed;
  auto wr = cache.Watch("/p/", 7, [&](const CacheEventPtr& e) { replayed.push_back(e); });
  REQUIRE(wr.ok());
  CHECK(replayed.size() == 2);
  CHECK(cache.Watch("", 4, [](const CacheEventPtr&) {}).status().code() == Code::kExpired);
  CHECK(cache.watcher_count() == 3);

  cache.Unwatch(*wp);
  cache.Apply({Put("/p/b", "{}", 10, 10)});
  CHECK(got_p.size() == 3);
  CHECK(got_all.size() == 5);
  CHECK(replayed.size() == 3);

  // Init with a new snapshot drops the history.
  ListResult snap2;
  snap2.revision = 20;
  cache.Init(snap2);
  CHECK(cache.EventsSince("", 10).status().code() == Code::kExpired);
  CHECK(cache.EventsSince("", 20).ok());
}

TEST_CASE("watch cache: callbacks may register and unregister watchers", "[store][cache]") {
  WatchCache cache;
  cache.Init(ListResult{});
  std::vector<int64_t> a_seen, b_seen, c_seen;
  WatchCache::WatcherId a = 0, b = 0, c = 0;
  bool added = false;
  auto ra = cache.Watch("", -1, [&](const CacheEventPtr& e) {
    a_seen.push_back(e->revision());
    if (!added) {
      added = true;
      // Register from inside a callback, replaying from the current revision: gets the next
      // events only, never this one twice.
      auto rc = cache.Watch("", cache.revision(), [&](const CacheEventPtr& e2) { c_seen.push_back(e2->revision()); });
      REQUIRE(rc.ok());
      c = *rc;
      // Unregister another watcher that has not been called for this event yet.
      cache.Unwatch(b);
    }
  });
  REQUIRE(ra.ok());
  a = *ra;
  auto rb = cache.Watch("", -1, [&](const CacheEventPtr& e) { b_seen.push_back(e->revision()); });
  REQUIRE(rb.ok());
  b = *rb;
  cache.Apply({Put("/x", "{}", 1, 1)});
  cache.Apply({Put("/y", "{}", 2, 2)});
  CHECK(a_seen == std::vector<int64_t>{1, 2});
  CHECK(b_seen.empty());
  CHECK(c_seen == std::vector<int64_t>{2});

  // A watcher that unregisters itself.
  std::vector<int64_t> self_seen;
  WatchCache::WatcherId self = 0;
  auto rs = cache.Watch("", -1, [&](const CacheEventPtr& e) {
    self_seen.push_back(e->revision());
    cache.Unwatch(self);
  });
  REQUIRE(rs.ok());
  self = *rs;
  cache.Apply({Put("/z", "{}", 3, 3), Put("/z2", "{}", 4, 4)});
  CHECK(self_seen == std::vector<int64_t>{3});
  cache.Unwatch(a);
  cache.Unwatch(c);
  CHECK(cache.watcher_count() == 0);
}

TEST_CASE("watch cache: fed by a backend snapshot and its watch", "[store][cache]") {
  MemoryBackend backend;
  REQUIRE(backend.SubmitSync(Create("/r/a", R"({"a":1})")).ok());
  REQUIRE(backend.SubmitSync(Create("/r/b", R"({"b":1})")).ok());
  auto snap = backend.List("/r/", "", 0, 0);
  REQUIRE(snap.ok());
  WatchCache cache;
  cache.Init(*snap);
  std::vector<Event> pending;
  auto h = backend.Watch("/r/", snap->revision, [&](const std::vector<Event>& ev) {
    pending.insert(pending.end(), ev.begin(), ev.end());
  });
  REQUIRE(h.ok());
  REQUIRE(backend.SubmitSync(Update("/r/a", R"({"a":2})")).ok());
  REQUIRE(backend.SubmitSync(Delete("/r/b")).ok());
  cache.Apply(pending);
  CHECK(cache.revision() == backend.CurrentRevision());
  CHECK(cache.size() == 1);
  CHECK(GetInt(*cache.Get("/r/a")->object, "a") == 2);
}

TEST_CASE("watch cache: without raw values, cached objects hold no copy of their text", "[store][cache]") {
  WatchCache::Options o;
  o.keep_raw_value = false;
  WatchCache cache(o);
  const std::string big = R"({"data":")" + std::string(4000, 'x') + R"("})";
  ListResult snap;
  snap.revision = 1;
  snap.kvs = {KV("/a", big, 1, 1), KV("/bad", "not json " + std::string(100, 'y'), 1, 1)};
  cache.Init(snap);
  cache.Apply({Put("/b", big, 2, 2), Put("/a", big, 1, 3, snap.kvs[0]), Del("/b", big, 2, 4)});
  auto events = cache.EventsSince("", 1);
  REQUIRE(events.ok());
  REQUIRE(events->size() == 3);
  for (const auto& obj : {cache.Get("/a"), (*events)[0]->object, (*events)[1]->prev, (*events)[2]->object}) {
    REQUIRE(obj);
    REQUIRE(obj->object);
    CHECK(obj->kv.value.empty());
    CHECK(obj->kv.value.capacity() < 100);  // no buffer left over from the text
    CHECK(GetString(*obj->object, "data").value_or("").size() == 4000);
  }
  // A value that is not JSON keeps its text (there is nothing else to serve).
  CHECK(cache.Get("/bad")->object == nullptr);
  CHECK(cache.Get("/bad")->kv.value.size() == 109);
}

TEST_CASE("watch cache: documents take a pool of their exact size and reference interned strings",
          "[store][cache]") {
  static const std::unordered_set<std::string_view> interned = {"terminationMessagePath", "/dev/termination-log"};
  WatchCache::Options o;
  o.keep_raw_value = false;
  o.interned = &interned;
  o.on_parse = [](JsonDoc& doc, const KeyValue& kv) {
    SetString(EnsureObject(doc, "metadata", doc.GetAllocator()), "resourceVersion", std::to_string(kv.mod_revision),
              doc.GetAllocator());
  };
  WatchCache cache(o);
  const std::string text =
      R"({"metadata":{"name":"a-name-longer-than-thirteen","labels":{"k":"v"}},"spec":{"containers":[)"
      R"({"name":"c","terminationMessagePath":"/dev/termination-log","args":["x","a string of some length",1,2.5,)"
      R"(true,null,[],{}]}]}})";
  // Bigger than the scratch space: its spill-over chunks are used and released.
  const std::string big = R"({"metadata":{"name":"big"},"data":[)" + [] {
    std::string items;
    for (int i = 0; i < 5000; ++i) items += (i ? "," : "") + std::string(R"({"key-number-)") + std::to_string(i) + R"(":"value"})";
    return items;
  }() + "]}";
  cache.Apply({Put("/a", text, 1, 1), Put("/big", big, 2, 2), Put("/a", text, 1, 3)});
  for (const char* key : {"/a", "/big"}) {
    auto obj = cache.Get(key);
    REQUIRE(obj);
    REQUIRE(obj->object);
    JsonDoc expected;
    expected.Parse(key == std::string("/a") ? text.c_str() : big.c_str());
    o.on_parse(expected, obj->kv);
    CHECK(ToJson(*obj->object) == ToJson(expected));  // same members in the same order
    auto& pool = const_cast<JsonDoc&>(*obj->object).GetAllocator();
    CHECK(pool.Size() == pool.Capacity());  // one chunk, no slack, no second chunk
  }
  const JsonValue& c = (*cache.Get("/a")->object)["spec"]["containers"][0];
  CHECK(c.MemberBegin()[1].name.GetString() == interned.find("terminationMessagePath")->data());
  CHECK(c["terminationMessagePath"].GetString() == interned.find("/dev/termination-log")->data());
  CHECK(GetString(c, "terminationMessagePath") == "/dev/termination-log");
  CHECK(GetString(*Path(*cache.Get("/a")->object, {"metadata"}), "resourceVersion") == "3");
}

}  // namespace
}  // namespace minik::store
