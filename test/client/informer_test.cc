#include "client/informer.h"

#include <catch2/catch.hpp>

#include <algorithm>

#include "client/fake_api_client.h"
#include "json_testing.h"

namespace minik::client {
namespace {

const ResourceRef kPods{"", "v1", "pods"};

using minik::testing::J;

std::string Name(const ObjectPtr& o) { return std::string(MetaString(*o, "name")); }

// Records handler calls as "add a", "update a 3->4", "delete a", "tombstone a".
EventHandlers Recorder(std::vector<std::string>* log) {
  return EventHandlers{
      [log](const ObjectPtr& o) { log->push_back("add " + Name(o)); },
      [log](const ObjectPtr& a, const ObjectPtr& b) {
        log->push_back("update " + Name(b) + " " + std::string(MetaString(*a, "resourceVersion")) + "->" +
                       std::string(MetaString(*b, "resourceVersion")));
      },
      [log](const ObjectPtr& o, bool unknown) { log->push_back((unknown ? "tombstone " : "delete ") + Name(o)); }};
}

size_t Count(const FakeApiClient& c, const std::string& verb) {
  size_t n = 0;
  for (const auto& a : c.actions()) n += a.verb == verb;
  return n;
}

void Write(FakeApiClient& c, std::function<void(ObjectCallback)> fn) {
  bool done = false;
  fn([&](StatusOr<JsonDoc> r) {
    REQUIRE(r.ok());
    done = true;
  });
  REQUIRE(done);
}

TEST_CASE("informer: lists, syncs, watches, and keeps its cache and indexes", "[informer]") {
  FakeTimers t;
  FakeApiClient c;
  REQUIRE(c.Seed(kPods, J(R"({"metadata":{"name":"a","namespace":"x","ownerReferences":[{"uid":"rs1","controller":true}]},"spec":{"nodeName":"n1"}})")).ok());
  REQUIRE(c.Seed(kPods, J(R"({"metadata":{"name":"b","namespace":"y"},"spec":{"nodeName":"n1"}})")).ok());
  InformerOptions opts;
  opts.page_size = 1;  // three pages
  Informer inf(c, t, kPods, opts);
  std::vector<std::string> log;
  inf.AddEventHandler(Recorder(&log));
  bool synced = false;
  inf.OnSynced([&] { synced = true; });
  CHECK(!inf.HasSynced());
  inf.Run();
  CHECK(inf.HasSynced());
  CHECK(synced);
  CHECK(Count(c, "list") == 2);  // a page of one, then the last page
  CHECK(Count(c, "watch") == 1);
  std::sort(log.begin(), log.end());
  CHECK(log == std::vector<std::string>{"add a", "add b"});
  CHECK(inf.last_resource_version() == "2");
  CHECK(inf.size() == 2);
  CHECK(Name(inf.Get("x", "a")) == "a");
  CHECK(inf.IndexKeys(kNamespaceIndex, "x") == std::vector<std::string>{"x/a"});
  CHECK(inf.IndexKeys(kOwnerIndex, "rs1") == std::vector<std::string>{"x/a"});
  CHECK(inf.IndexKeys(kNodeIndex, "n1") == std::vector<std::string>{"x/a", "y/b"});

  log.clear();
  REQUIRE(c.Seed(kPods, J(R"({"metadata":{"name":"c","namespace":"x"}})")).ok());
  Write(c, [&](ObjectCallback cb) {
    c.Patch(kPods, "y", "b", PatchType::kMerge, R"({"spec":{"nodeName":"n2"}})", "", std::move(cb));
  });
  Write(c, [&](ObjectCallback cb) { c.Delete(kPods, "x", "a", {.grace_period_seconds = 0}, std::move(cb)); });
  CHECK(log == std::vector<std::string>{"add c", "update b 2->4", "delete a"});
  CHECK(!inf.Get("x/a"));
  CHECK(inf.IndexKeys(kNodeIndex, "n1").empty());
  CHECK(inf.IndexKeys(kNodeIndex, "n2") == std::vector<std::string>{"y/b"});
  CHECK(inf.IndexKeys(kOwnerIndex, "rs1").empty());
  CHECK(inf.IndexKeys(kNamespaceIndex, "x") == std::vector<std::string>{"x/c"});
  CHECK(inf.last_resource_version() == "5");

  // Custom indexes, and handlers added late replay the cache.
  inf.AddIndexer("phase", [](const JsonValue& o) -> std::vector<std::string> {
    const JsonValue* p = Path(o, {"spec", "nodeName"});
    return {p && p->IsString() ? "bound" : "pending"};
  });
  CHECK(inf.IndexKeys("phase", "pending") == std::vector<std::string>{"x/c"});
  CHECK(inf.ByIndex("phase", "bound").size() == 1);
  std::vector<std::string> late;
  inf.AddEventHandler(Recorder(&late));
  CHECK(late.size() == 2);
}

TEST_CASE("informer: on 410 it re-lists at once; unseen deletions become tombstones", "[informer]") {
  FakeTimers t;
  FakeApiClient c;
  for (auto n : {"a", "b", "c"}) {
    REQUIRE(c.Seed(kPods, J(std::string(R"({"metadata":{"namespace":"x","name":")") + n + "\"}}")).ok());
  }
  Informer inf(c, t, kPods);
  std::vector<std::string> log;
  inf.AddEventHandler(Recorder(&log));
  inf.Run();
  log.clear();
  c.CloseWatches(Status::Expired("too old resource version: 3 (5)"));
  // Changes the informer cannot see while its watch is down.
  Write(c, [&](ObjectCallback cb) { c.Delete(kPods, "x", "a", {}, std::move(cb)); });
  Write(c, [&](ObjectCallback cb) {
    c.Patch(kPods, "x", "b", PatchType::kMerge, R"({"metadata":{"labels":{"v":"2"}}})", "", std::move(cb));
  });
  CHECK(log.empty());
  CHECK(Count(c, "list") == 1);
  t.RunPending();
  CHECK(Count(c, "list") == 2);
  CHECK(Count(c, "watch") == 2);
  CHECK(log == std::vector<std::string>{"tombstone a", "update b 2->5"});
  CHECK(inf.size() == 2);
  CHECK(inf.last_resource_version() == "5");
}

TEST_CASE("informer: a broken watch re-lists after a growing backoff; a normal end re-watches", "[informer]") {
  FakeTimers t;
  FakeApiClient c;
  REQUIRE(c.Seed(kPods, J(R"({"metadata":{"namespace":"x","name":"a"}})")).ok());
  Informer inf(c, t, kPods);
  std::vector<std::string> log;
  inf.AddEventHandler(Recorder(&log));
  inf.Run();
  REQUIRE(Count(c, "list") == 1);

  // The watch ends normally (timeoutSeconds): a new watch from the last revision, no list, and
  // nothing missed.
  c.CloseWatches(Status::OK());
  REQUIRE(c.Seed(kPods, J(R"({"metadata":{"namespace":"x","name":"b"}})")).ok());
  t.RunPending();
  CHECK(Count(c, "list") == 1);
  CHECK(Count(c, "watch") == 2);
  CHECK(c.actions().back().verb == "watch");
  CHECK(log == std::vector<std::string>{"add a", "add b"});

  // Broken: re-list after 800 ms; the list fails too: 1600 ms more.
  bool fail_lists = true;
  c.SetReactor([&](const FakeApiClient::Action& a) {
    if (fail_lists && a.verb == "list") return Status::Unavailable("connection refused");
    return Status::OK();
  });
  c.CloseWatches(Status::Unavailable("connection reset"));
  t.Advance(std::chrono::milliseconds(799));
  CHECK(Count(c, "list") == 1);
  t.Advance(std::chrono::milliseconds(1));
  CHECK(Count(c, "list") == 2);
  t.Advance(std::chrono::milliseconds(1599));
  CHECK(Count(c, "list") == 2);
  fail_lists = false;
  t.Advance(std::chrono::milliseconds(1));
  CHECK(Count(c, "list") == 3);
  CHECK(c.open_watches() == 1);
  CHECK(inf.size() == 2);

  inf.Stop();
  CHECK(c.open_watches() == 0);
  CHECK(t.timers() == 0);
}

TEST_CASE("informer: selectors and namespace scope the cache", "[informer]") {
  FakeTimers t;
  FakeApiClient c;
  REQUIRE(c.Seed(kPods, J(R"({"metadata":{"namespace":"x","name":"a","labels":{"app":"web"}}})")).ok());
  REQUIRE(c.Seed(kPods, J(R"({"metadata":{"namespace":"y","name":"b","labels":{"app":"web"}}})")).ok());
  REQUIRE(c.Seed(kPods, J(R"({"metadata":{"namespace":"x","name":"c"}})")).ok());
  InformerOptions o;
  o.ns = "x";
  o.label_selector = "app=web";
  Informer inf(c, t, kPods, o);
  inf.Run();
  CHECK(inf.ListKeys() == std::vector<std::string>{"x/a"});
  std::vector<std::string> log;
  inf.AddEventHandler(Recorder(&log));
  Write(c, [&](ObjectCallback cb) {
    c.Patch(kPods, "x", "a", PatchType::kMerge, R"({"metadata":{"labels":{"app":"db"}}})", "", std::move(cb));
  });
  CHECK(log == std::vector<std::string>{"add a", "delete a"});
  CHECK(inf.size() == 0);
}

TEST_CASE("SharedInformerFactory shares one informer per resource", "[informer]") {
  FakeTimers t;
  FakeApiClient c;
  SharedInformerFactory f(c, t);
  Informer& a = f.For(kPods);
  Informer& b = f.For(kPods);
  Informer& n = f.For({"", "v1", "nodes"});
  CHECK(&a == &b);
  CHECK(&a != &n);
  bool synced = false;
  f.OnSynced([&] { synced = true; });
  CHECK(!f.HasSynced());
  f.Start();
  CHECK(f.HasSynced());
  CHECK(synced);
  CHECK(Count(c, "list") == 2);
  f.Start();  // idempotent
  CHECK(Count(c, "list") == 2);
}

}  // namespace
}  // namespace minik::client
