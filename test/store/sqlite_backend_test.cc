// SqliteBackend specifics: group commit, durability across reopen, history from the log,
// handle destruction races, and the bounded file size under churn.
#include <catch2/catch.hpp>

#include <sqlite3.h>
#include <sys/stat.h>

#include <atomic>
#include <functional>
#include <future>
#include <thread>

#include "test/store/test_util.h"

namespace minik::store {
namespace {

using testing::Collector;
using testing::Create;
using testing::Delete;
using testing::TempDir;
using testing::Update;

SqliteBackend& AsSqlite(Backend& b) { return dynamic_cast<SqliteBackend&>(b); }

BackendPtr MustOpen(const std::string& path, SqliteOptions options = {}) {
  auto b = SqliteBackend::Open(path, options);
  REQUIRE(b.ok());
  return std::move(*b);
}

int64_t FileSize(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? static_cast<int64_t>(st.st_size) : 0;
}

// Submits n ops produced by make(i) with at most `window` in flight; returns failures.
template <typename MakeOp>
int SubmitWindowed(Backend& b, int n, int window, MakeOp make, std::function<void(int)> on_done = nullptr) {
  std::mutex mu;
  std::condition_variable cv;
  int in_flight = 0, done = 0, failures = 0;
  for (int i = 0; i < n; ++i) {
    {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return in_flight < window; });
      ++in_flight;
    }
    b.Submit(make(i), [&](StatusOr<KeyValue> r) {
      std::lock_guard<std::mutex> lock(mu);
      --in_flight;
      ++done;
      if (!r.ok()) ++failures;
      if (on_done) on_done(done);
      cv.notify_all();
    });
  }
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return done == n; });
  return failures;
}

TEST_CASE("sqlite: concurrent submits are committed in few transactions", "[store][sqlite]") {
  TempDir dir;
  BackendPtr b = MustOpen(dir.File("db"));
  constexpr int kOps = 2000;
  std::atomic<int> ok{0};
  std::promise<void> all_done;
  std::atomic<int> remaining{kOps};
  for (int i = 0; i < kOps; ++i) {
    b->Submit(Create("/g/" + std::to_string(i), "v"), [&](StatusOr<KeyValue> r) {
      if (r.ok()) ok++;
      if (--remaining == 0) all_done.set_value();
    });
  }
  all_done.get_future().wait();
  CHECK(ok == kOps);
  SqliteStats st = AsSqlite(*b).Stats();
  CHECK(st.ops == kOps);
  CHECK(st.transactions >= 2);             // max_batch_ops = 1024 caps a batch
  CHECK(st.transactions <= kOps / 10);     // but far fewer transactions than ops
  CHECK(b->CurrentRevision() == kOps);
}

TEST_CASE("sqlite: a failing op in a batch does not fail the others", "[store][sqlite]") {
  TempDir dir;
  BackendPtr b = MustOpen(dir.File("db"));
  REQUIRE(b->SubmitSync(Create("/x", "0")).ok());
  std::vector<std::promise<StatusOr<KeyValue>>> results(5);
  std::vector<Op> ops = {Create("/a", "1"), Create("/x", "dup"), Update("/a", "2"), Update("/x", "1", 99),
                         Delete("/a")};
  for (size_t i = 0; i < ops.size(); ++i) {
    b->Submit(ops[i], [&results, i](StatusOr<KeyValue> r) { results[i].set_value(std::move(r)); });
  }
  std::vector<StatusOr<KeyValue>> r;
  for (auto& p : results) r.push_back(p.get_future().get());
  REQUIRE(r[0].ok());
  CHECK(r[1].status().code() == Code::kAlreadyExists);
  REQUIRE(r[2].ok());
  CHECK(r[2]->mod_revision == r[0]->mod_revision + 1);
  CHECK(r[3].status().code() == Code::kConflict);
  REQUIRE(r[4].ok());
  CHECK(r[4]->value == "2");
  CHECK(b->CurrentRevision() == 4);
}

TEST_CASE("sqlite: reopen keeps data, revisions and the compacted revision", "[store][sqlite]") {
  TempDir dir;
  const std::string path = dir.File("db");
  {
    BackendPtr b = MustOpen(path);
    REQUIRE(b->SubmitSync(Create("/a", "1")).ok());  // 1
    REQUIRE(b->SubmitSync(Create("/b", "1")).ok());  // 2
    REQUIRE(b->SubmitSync(Update("/a", "2")).ok());  // 3
    REQUIRE(b->SubmitSync(Delete("/b")).ok());       // 4
    REQUIRE(b->SubmitSync(Create("/c", "1")).ok());  // 5
    REQUIRE(b->SubmitSync(Delete("/c")).ok());       // 6: the newest row is a tombstone
  }
  {
    BackendPtr b = MustOpen(path);
    CHECK(b->CurrentRevision() == 6);
    auto a = b->Get("/a");
    REQUIRE(a.ok());
    CHECK(a->value == "2");
    CHECK(a->create_revision == 1);
    CHECK(a->mod_revision == 3);
    CHECK(b->Get("/b").status().code() == Code::kNotFound);
    CHECK(b->SubmitSync(Update("/a", "x", 1)).status().code() == Code::kConflict);
    CHECK(b->SubmitSync(Create("/a", "x")).status().code() == Code::kAlreadyExists);
    // Everything, including the tombstones, is compacted away: revisions must not go back.
    REQUIRE(b->Compact(6).ok());
    Collector c;
    auto h = b->Watch("", 4, c.Handler());
    CHECK(h.status().code() == Code::kExpired);
  }
  {
    BackendPtr b = MustOpen(path);
    CHECK(b->CurrentRevision() == 6);
    CHECK(b->CompactedRevision() == 6);
    CHECK(b->List("", "", 0, 5).status().code() == Code::kExpired);
    auto l = b->List("", "", 0, 0);
    REQUIRE(l.ok());
    CHECK(l->revision == 6);
    REQUIRE(l->kvs.size() == 1);
    auto c = b->SubmitSync(Create("/c", "2"));
    REQUIRE(c.ok());
    CHECK(c->mod_revision == 7);
    auto bb = b->SubmitSync(Create("/b", "2"));
    REQUIRE(bb.ok());
    CHECK(bb->mod_revision == 8);
  }
}

TEST_CASE("sqlite: watch history older than the ring is read from the log", "[store][sqlite]") {
  TempDir dir;
  SqliteOptions opt;
  opt.event_ring_capacity = 4;
  BackendPtr b = MustOpen(dir.File("db"), opt);
  REQUIRE(b->SubmitSync(Create("/h/a", "1")).ok());
  for (int i = 2; i <= 10; ++i) REQUIRE(b->SubmitSync(Update("/h/a", std::to_string(i))).ok());
  REQUIRE(b->SubmitSync(Delete("/h/a")).ok());  // 11
  Collector c;
  auto h = b->Watch("/h/", 0, c.Handler());
  REQUIRE(h.ok());
  REQUIRE(c.WaitFor(11));
  auto ev = c.events();
  REQUIRE(ev.size() == 11);
  CHECK(ev[0].is_create());
  CHECK(ev[0].prev.key.empty());
  for (int i = 1; i < 10; ++i) {
    CHECK(ev[i].kv.value == std::to_string(i + 1));
    CHECK(ev[i].prev.value == std::to_string(i));
    CHECK(ev[i].prev.mod_revision == i);
    CHECK(ev[i].kv.create_revision == 1);
  }
  CHECK(ev[10].type == Event::Type::kDelete);
  CHECK(ev[10].kv.value == "10");
  CHECK(ev[10].prev.mod_revision == 10);
  CHECK(AsSqlite(*b).Stats().history_from_log == 1);

  Collector recent;
  auto h2 = b->Watch("/h/", 8, recent.Handler());
  REQUIRE(h2.ok());
  REQUIRE(recent.WaitFor(3));
  CHECK(recent.events().front().kv.mod_revision == 9);
  CHECK(AsSqlite(*b).Stats().history_from_log == 1);  // served from the ring
}

TEST_CASE("sqlite: destroying a handle from another thread waits for a running handler", "[store][sqlite]") {
  TempDir dir;
  BackendPtr b = MustOpen(dir.File("db"));
  std::promise<void> entered;
  std::atomic<bool> release{false};
  std::atomic<bool> in_handler{false};
  std::atomic<int> calls{0};
  auto h = b->Watch("", 0, [&](const std::vector<Event>&) {
    in_handler = true;
    if (calls++ == 0) {
      entered.set_value();
      while (!release) std::this_thread::yield();
    }
    in_handler = false;
  });
  REQUIRE(h.ok());
  b->Submit(Create("/a", "1"), nullptr);
  entered.get_future().wait();
  std::thread destroyer([&] { h->reset(); });
  // The destroyer must be blocked while the handler runs.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(in_handler);
  release = true;
  destroyer.join();
  CHECK_FALSE(in_handler);
  REQUIRE(b->SubmitSync(Create("/b", "1")).ok());
  CHECK(calls == 1);
}

TEST_CASE("sqlite: watchers registered while writes stream see every event exactly once", "[store][sqlite]") {
  TempDir dir;
  SqliteOptions opt;
  opt.event_ring_capacity = 16;
  BackendPtr b = MustOpen(dir.File("db"), opt);
  constexpr int kOps = 600;
  std::thread writer([&] {
    SubmitWindowed(*b, kOps, 8, [](int i) { return Create("/s/" + std::to_string(i), "v"); });
  });
  std::vector<std::unique_ptr<Collector>> collectors;
  std::vector<WatchHandlePtr> handles;
  std::vector<int64_t> froms;
  for (int i = 0; i < 20; ++i) {
    int64_t from = b->CurrentRevision() / 2;
    collectors.push_back(std::make_unique<Collector>());
    auto h = b->Watch("/s/", from, collectors.back()->Handler());
    REQUIRE(h.ok());
    handles.push_back(std::move(*h));
    froms.push_back(from);
    std::this_thread::yield();
  }
  writer.join();
  for (size_t i = 0; i < collectors.size(); ++i) {
    const size_t want = static_cast<size_t>(kOps - froms[i]);
    REQUIRE(collectors[i]->WaitFor(want));
    auto ev = collectors[i]->events();
    REQUIRE(ev.size() == want);
    for (size_t j = 0; j < ev.size(); ++j) REQUIRE(ev[j].kv.mod_revision == froms[i] + 1 + static_cast<int64_t>(j));
  }
}

TEST_CASE("sqlite: the file stays bounded under endless churn", "[store][sqlite][size]") {
  // 100,000 updates to the same 1,000 keys with ~1 KiB values: database + WAL must stay under
  // 10x the live data (1,000 x 1 KiB) at every checkpoint of the run, with automatic compaction.
  // (With 100 keys one group-committed batch of 64 updates alone is 2/3 of the live data, and
  // the WAL follows the largest transaction: the bound then depended on how the writer was
  // scheduled.)
  TempDir dir;
  const std::string path = dir.File("db");
  BackendPtr b = MustOpen(path);
  constexpr int kKeys = 1000, kUpdates = 100000, kValue = 1024;
  const std::string value(kValue, 'x');
  for (int k = 0; k < kKeys; ++k) REQUIRE(b->SubmitSync(Create("/registry/configmaps/default/cm-" + std::to_string(k), value)).ok());
  const int64_t live = kKeys * kValue;
  // Sizes are sampled from the write callbacks (on the writer thread) every 100 updates, so
  // peaks in the middle of the run count, not only the state at the end.
  int64_t max_total = 0, max_db = 0, max_wal = 0;
  auto sample = [&](int done) {
    if (done % 100 != 0) return;
    const int64_t db = FileSize(path), wal = FileSize(path + "-wal");
    max_db = std::max(max_db, db);
    max_wal = std::max(max_wal, wal);
    max_total = std::max(max_total, db + wal);
  };
  int failures = SubmitWindowed(
      *b, kUpdates, 64,
      [&](int i) {
        std::string v = value;
        v[0] = static_cast<char>('a' + (i % 26));
        return Update("/registry/configmaps/default/cm-" + std::to_string(i % kKeys), std::move(v));
      },
      sample);
  REQUIRE(failures == 0);
  INFO("max db " << max_db << " max wal " << max_wal);
  CHECK(max_total > 0);
  CHECK(max_total < 10 * live);
  SqliteStats st = AsSqlite(*b).Stats();
  INFO("transactions " << st.transactions << " compactions " << st.compactions << " checkpoints " << st.checkpoints
                       << " max total " << max_total);
  CHECK(st.compactions > 0);
  CHECK(st.checkpoints > 0);
  CHECK(b->CurrentRevision() == kKeys + kUpdates);
  // At most history_revisions (1,000) kept, plus the half window compaction waits for.
  CHECK(b->CompactedRevision() >= b->CurrentRevision() - 1500);
  auto l = b->List("/registry/", "", 0, 0);
  REQUIRE(l.ok());
  CHECK(l->kvs.size() == kKeys);
  // Reopen: still bounded, still complete, and the integrity check passes.
  b.reset();
  b = MustOpen(path);
  CHECK(b->CurrentRevision() == kKeys + kUpdates);
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &s, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(s) == SQLITE_ROW);
  CHECK(std::string(reinterpret_cast<const char*>(sqlite3_column_text(s, 0))) == "ok");
  sqlite3_finalize(s);
  sqlite3_close(db);
  WARN("bounded-size: live " << live << " B, max db+wal " << max_total << " B, " << st.transactions
                             << " transactions, " << st.compactions << " compaction chunks, " << st.checkpoints
                             << " checkpoints");
}

}  // namespace
}  // namespace minik::store
