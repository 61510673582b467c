// Backend semantics, run against both MemoryBackend and SqliteBackend.
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

#include "store/backend.h"
#include "test/store/test_util.h"

namespace minik::store {
namespace {

using testing::Collector;
using testing::Create;
using testing::Delete;
using testing::Update;

std::vector<std::string> Keys(const ListResult& r) {
  std::vector<std::string> out;
  for (const auto& kv : r.kvs) out.push_back(kv.key);
  return out;
}

TEMPLATE_TEST_CASE("backend: create, get, update, delete with conditions", "[store]", testing::MemoryEnv,
                   testing::SqliteEnv) {
  TestType env;
  Backend& b = *env.backend;
  REQUIRE(&b != nullptr);
  CHECK(b.CurrentRevision() == 0);
  CHECK(b.Get("/a").status().code() == Code::kNotFound);

  auto c = b.SubmitSync(Create("/a", "one"));
  REQUIRE(c.ok());
  CHECK(c->key == "/a");
  CHECK(c->value == "one");
  CHECK(c->create_revision == 1);
  CHECK(c->mod_revision == 1);
  CHECK(b.CurrentRevision() == 1);

  auto dup = b.SubmitSync(Create("/a", "again"));
  CHECK(dup.status().code() == Code::kAlreadyExists);
  CHECK(b.CurrentRevision() == 1);  // failures consume no revision

  auto g = b.Get("/a");
  REQUIRE(g.ok());
  CHECK(g->value == "one");
  CHECK(g->mod_revision == 1);

  auto u = b.SubmitSync(Update("/a", "two", 1));
  REQUIRE(u.ok());
  CHECK(u->value == "two");
  CHECK(u->create_revision == 1);
  CHECK(u->mod_revision == 2);

  auto stale = b.SubmitSync(Update("/a", "three", 1));
  CHECK(stale.status().code() == Code::kConflict);
  CHECK(stale.status().message().find("current revision is 2") != std::string::npos);

  auto any = b.SubmitSync(Update("/a", "three"));  // expected 0 = unconditional
  REQUIRE(any.ok());
  CHECK(any->mod_revision == 3);

  CHECK(b.SubmitSync(Update("/missing", "x")).status().code() == Code::kNotFound);
  CHECK(b.SubmitSync(Delete("/missing")).status().code() == Code::kNotFound);
  CHECK(b.SubmitSync(Delete("/a", 2)).status().code() == Code::kConflict);

  auto d = b.SubmitSync(Delete("/a", 3));
  REQUIRE(d.ok());
  CHECK(d->value == "three");  // the deleted value
  CHECK(d->create_revision == 1);
  CHECK(d->mod_revision == 4);  // the deletion's revision
  CHECK(b.Get("/a").status().code() == Code::kNotFound);
  CHECK(b.SubmitSync(Update("/a", "x")).status().code() == Code::kNotFound);
  CHECK(b.SubmitSync(Delete("/a")).status().code() == Code::kNotFound);

  // Re-creation starts a new life.
  auto again = b.SubmitSync(Create("/a", "reborn"));
  REQUIRE(again.ok());
  CHECK(again->create_revision == 5);
  CHECK(again->mod_revision == 5);
  CHECK(b.CurrentRevision() == 5);
}

TEMPLATE_TEST_CASE("backend: list by prefix, paging and past revisions", "[store]", testing::MemoryEnv,
                   testing::SqliteEnv) {
  TestType env;
  Backend& b = *env.backend;
  for (const char* k : {"/p/c", "/p/a", "/q/a", "/p/b", "/p", "/pz", "/p/d"}) REQUIRE(b.SubmitSync(Create(k, k)).ok());
  const int64_t r7 = b.CurrentRevision();
  CHECK(r7 == 7);

  auto all = b.List("/p/", "", 0, 0);
  REQUIRE(all.ok());
  CHECK(Keys(*all) == std::vector<std::string>{"/p/a", "/p/b", "/p/c", "/p/d"});
  CHECK(all->revision == 7);
  CHECK_FALSE(all->more);
  CHECK(all->remaining == 0);
  CHECK(all->kvs[0].value == "/p/a");
  CHECK(all->kvs[0].mod_revision == 2);

  auto everything = b.List("", "", 0, 0);
  REQUIRE(everything.ok());
  CHECK(everything->kvs.size() == 7);

  auto p1 = b.List("/p/", "", 2, 0);
  REQUIRE(p1.ok());
  CHECK(Keys(*p1) == std::vector<std::string>{"/p/a", "/p/b"});
  CHECK(p1->more);
  CHECK(p1->remaining == 2);
  auto p2 = b.List("/p/", "/p/b", 2, p1->revision);
  REQUIRE(p2.ok());
  CHECK(Keys(*p2) == std::vector<std::string>{"/p/c", "/p/d"});
  CHECK_FALSE(p2->more);
  CHECK(p2->remaining == 0);
  // start_after need not be an existing key.
  auto p3 = b.List("/p/", "/p/bb", 0, 0);
  REQUIRE(p3.ok());
  CHECK(Keys(*p3) == std::vector<std::string>{"/p/c", "/p/d"});

  // Changes after r7; a paged list at r7 keeps seeing r7's state.
  REQUIRE(b.SubmitSync(Update("/p/a", "A")).ok());
  REQUIRE(b.SubmitSync(Delete("/p/c")).ok());
  REQUIRE(b.SubmitSync(Create("/p/bb", "new")).ok());
  auto now = b.List("/p/", "", 0, 0);
  REQUIRE(now.ok());
  CHECK(Keys(*now) == std::vector<std::string>{"/p/a", "/p/b", "/p/bb", "/p/d"});
  CHECK(now->kvs[0].value == "A");
  CHECK(now->revision == 10);

  auto then = b.List("/p/", "/p/b", 0, r7);
  REQUIRE(then.ok());
  CHECK(Keys(*then) == std::vector<std::string>{"/p/c", "/p/d"});
  auto then_a = b.List("/p/a", "", 0, r7);
  REQUIRE(then_a.ok());
  REQUIRE(then_a->kvs.size() == 1);
  CHECK(then_a->kvs[0].value == "/p/a");
  CHECK(then_a->revision == r7);

  auto at1 = b.List("", "", 0, 1);
  REQUIRE(at1.ok());
  CHECK(Keys(*at1) == std::vector<std::string>{"/p/c"});

  CHECK(b.List("", "", 0, 11).status().code() == Code::kExpired);  // the future
}

TEMPLATE_TEST_CASE("backend: watch delivers history, then live events, in order", "[store]", testing::MemoryEnv,
                   testing::SqliteEnv) {
  TestType env;
  Backend& b = *env.backend;
  REQUIRE(b.SubmitSync(Create("/w/a", "1")).ok());   // 1
  REQUIRE(b.SubmitSync(Create("/x/a", "1")).ok());   // 2
  REQUIRE(b.SubmitSync(Update("/w/a", "2")).ok());   // 3

  Collector from0, from1, live;
  auto h0 = b.Watch("/w/", 0, from0.Handler());
  auto h1 = b.Watch("/w/", 1, from1.Handler());
  auto hl = b.Watch("", b.CurrentRevision(), live.Handler());
  REQUIRE(h0.ok());
  REQUIRE(h1.ok());
  REQUIRE(hl.ok());

  REQUIRE(b.SubmitSync(Delete("/w/a")).ok());        // 4
  REQUIRE(b.SubmitSync(Create("/w/b", "b")).ok());   // 5

  REQUIRE(from0.WaitFor(4));
  auto e0 = from0.events();
  REQUIRE(e0.size() == 4);
  CHECK(e0[0].kv.mod_revision == 1);
  CHECK(e0[0].is_create());
  CHECK(e0[0].prev.key.empty());
  CHECK(e0[1].kv.mod_revision == 3);
  CHECK(e0[1].type == Event::Type::kPut);
  CHECK_FALSE(e0[1].is_create());
  CHECK(e0[1].kv.value == "2");
  CHECK(e0[1].prev.value == "1");
  CHECK(e0[1].prev.mod_revision == 1);
  CHECK(e0[2].type == Event::Type::kDelete);
  CHECK(e0[2].kv.mod_revision == 4);
  CHECK(e0[2].kv.value == "2");
  CHECK(e0[2].kv.create_revision == 1);
  CHECK(e0[2].prev.mod_revision == 3);
  CHECK(e0[3].kv.key == "/w/b");

  REQUIRE(from1.WaitFor(3));
  auto e1 = from1.events();
  REQUIRE(e1.size() == 3);
  CHECK(e1[0].kv.mod_revision == 3);

  REQUIRE(live.WaitFor(2));
  auto el = live.events();
  REQUIRE(el.size() == 2);
  CHECK(el[0].kv.mod_revision == 4);
  CHECK(el[1].kv.mod_revision == 5);

  // Destroying a handle stops delivery.
  h1->reset();
  REQUIRE(b.SubmitSync(Update("/w/b", "b2")).ok());  // 6
  REQUIRE(from0.WaitFor(5));
  REQUIRE(live.WaitFor(3));
  CHECK(from1.size() == 3);
}

TEMPLATE_TEST_CASE("backend: compaction drops history but keeps the state", "[store]", testing::MemoryEnv,
                   testing::SqliteEnv) {
  TestType env;
  Backend& b = *env.backend;
  REQUIRE(b.SubmitSync(Create("/k/a", "a1")).ok());   // 1
  REQUIRE(b.SubmitSync(Create("/k/b", "b1")).ok());   // 2
  REQUIRE(b.SubmitSync(Update("/k/a", "a2")).ok());   // 3
  REQUIRE(b.SubmitSync(Delete("/k/b")).ok());         // 4
  REQUIRE(b.SubmitSync(Create("/k/c", "c1")).ok());   // 5
  REQUIRE(b.SubmitSync(Update("/k/a", "a3")).ok());   // 6

  CHECK(b.Compact(7).code() == Code::kExpired);  // the future
  REQUIRE(b.Compact(4).ok());
  CHECK(b.CompactedRevision() == 4);
  CHECK(b.CurrentRevision() == 6);

  CHECK(b.List("", "", 0, 3).status().code() == Code::kExpired);
  CHECK(b.Watch("", 3, [](const std::vector<Event>&) {}).status().code() == Code::kExpired);

  auto at4 = b.List("", "", 0, 4);
  REQUIRE(at4.ok());
  REQUIRE(at4->kvs.size() == 1);
  CHECK(at4->kvs[0].key == "/k/a");
  CHECK(at4->kvs[0].value == "a2");

  auto now = b.List("", "", 0, 0);
  REQUIRE(now.ok());
  CHECK(Keys(*now) == std::vector<std::string>{"/k/a", "/k/c"});
  CHECK(now->kvs[0].value == "a3");

  Collector c;
  auto h = b.Watch("", 4, c.Handler());
  REQUIRE(h.ok());
  REQUIRE(c.WaitFor(2));
  auto ev = c.events();
  REQUIRE(ev.size() == 2);
  CHECK(ev[0].kv.mod_revision == 5);
  CHECK(ev[1].kv.mod_revision == 6);
  CHECK(ev[1].prev.value == "a2");  // the row kept at the compacted revision

  // The tombstone of /k/b is gone; /k/b can be created again, and compacting to the current
  // revision keeps every live key.
  REQUIRE(b.SubmitSync(Create("/k/b", "b2")).ok());  // 7
  REQUIRE(b.Compact(7).ok());
  CHECK(b.Compact(5).ok());  // already compacted: nothing to do
  CHECK(b.CompactedRevision() == 7);
  auto after = b.List("", "", 0, 0);
  REQUIRE(after.ok());
  CHECK(Keys(*after) == std::vector<std::string>{"/k/a", "/k/b", "/k/c"});
  CHECK(after->revision == 7);
  auto a = b.Get("/k/a");
  REQUIRE(a.ok());
  CHECK(a->mod_revision == 6);
  CHECK(a->create_revision == 1);
  REQUIRE(b.SubmitSync(Update("/k/a", "a4", 6)).ok());
  CHECK(b.CurrentRevision() == 8);
}

TEMPLATE_TEST_CASE("backend: a handler may destroy its own handle", "[store]", testing::MemoryEnv,
                   testing::SqliteEnv) {
  TestType env;
  Backend& b = *env.backend;
  std::atomic<int> calls{0};
  WatchHandlePtr handle;
  std::mutex mu;
  auto h = b.Watch("", 0, [&](const std::vector<Event>&) {
    calls++;
    std::lock_guard<std::mutex> lock(mu);
    handle.reset();
  });
  REQUIRE(h.ok());
  {
    std::lock_guard<std::mutex> lock(mu);
    handle = std::move(*h);
  }
  Collector after;
  auto h2 = b.Watch("", 0, after.Handler());
  REQUIRE(h2.ok());
  REQUIRE(b.SubmitSync(Create("/a", "1")).ok());
  REQUIRE(b.SubmitSync(Create("/b", "1")).ok());
  REQUIRE(after.WaitFor(2));
  CHECK(calls == 1);
}

TEMPLATE_TEST_CASE("backend: concurrent writers get distinct, dense revisions", "[store]", testing::MemoryEnv,
                   testing::SqliteEnv) {
  TestType env;
  Backend& b = *env.backend;
  Collector c;
  auto h = b.Watch("", 0, c.Handler());
  REQUIRE(h.ok());
  constexpr int kThreads = 4, kPer = 50;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPer; ++i) {
        if (!b.SubmitSync(Create("/c/" + std::to_string(t) + "/" + std::to_string(i), "v")).ok()) failures++;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(failures == 0);
  CHECK(b.CurrentRevision() == kThreads * kPer);
  REQUIRE(c.WaitFor(kThreads * kPer));
  auto ev = c.events();
  for (size_t i = 0; i < ev.size(); ++i) CHECK(ev[i].kv.mod_revision == static_cast<int64_t>(i + 1));
  auto l = b.List("/c/", "", 0, 0);
  REQUIRE(l.ok());
  CHECK(l->kvs.size() == kThreads * kPer);
}

}  // namespace
}  // namespace minik::store
