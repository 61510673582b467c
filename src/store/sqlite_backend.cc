#include "store/sqlite_backend.h"

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include "common/log.h"
#include "store/watch_hub.h"

namespace minik::store {
namespace {

using internal::HasPrefix;

Status SqlError(sqlite3* db, const std::string& what) {
  return Status::Internal("sqlite: " + what + ": " + (db ? sqlite3_errmsg(db) : "out of memory"));
}

Status Exec(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    return Status::Internal("sqlite: " + sql + ": " + msg);
  }
  return Status::OK();
}

// A prepared statement, reset (ending its implicit read transaction) on every Reset().
class Stmt {
 public:
  Stmt() = default;
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt() { sqlite3_finalize(s_); }
  Status Prepare(sqlite3* db, const char* sql) {
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s_, nullptr) != SQLITE_OK) {
      return SqlError(db, std::string("prepare ") + sql);
    }
    return Status::OK();
  }
  sqlite3_stmt* get() const { return s_; }
  void Reset() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  void BindInt(int i, int64_t v) { sqlite3_bind_int64(s_, i, v); }
  void BindText(int i, const std::string& v) { sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC); }
  void BindBlob(int i, const std::string& v) { sqlite3_bind_blob(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC); }
  // Upper bound of a key range: the prefix end, or (none) an empty BLOB, which sorts after
  // every TEXT value, so `key < ?` is always true.
  void BindUpper(int i, const std::optional<std::string>& end) {
    if (end) {
      sqlite3_bind_text(s_, i, end->data(), static_cast<int>(end->size()), SQLITE_TRANSIENT);
    } else {
      sqlite3_bind_zeroblob(s_, i, 0);
    }
  }
  int Step() { return sqlite3_step(s_); }
  int64_t Int(int c) const { return sqlite3_column_int64(s_, c); }
  bool IsNull(int c) const { return sqlite3_column_type(s_, c) == SQLITE_NULL; }
  std::string Str(int c) const {
    const void* p = sqlite3_column_blob(s_, c);
    int n = sqlite3_column_bytes(s_, c);
    return p ? std::string(static_cast<const char*>(p), static_cast<size_t>(n)) : std::string();
  }

 private:
  sqlite3_stmt* s_ = nullptr;
};

// Resets a statement when leaving a scope.
struct ResetGuard {
  Stmt& s;
  ~ResetGuard() { s.Reset(); }
};

StatusOr<sqlite3*> OpenConnection(const std::string& path) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    Status st = SqlError(db, "open " + path);
    sqlite3_close(db);
    return st;
  }
  sqlite3_busy_timeout(db, 10000);
  sqlite3_extended_result_codes(db, 1);
  return db;
}

constexpr const char* kListSql =
    "SELECT l.key, l.revision, l.create_revision, l.deleted, l.value FROM log l "
    "WHERE l.key >= ?1 AND l.key < ?2 AND l.revision <= ?3 "
    "AND l.revision = (SELECT MAX(m.revision) FROM log m WHERE m.key = l.key AND m.revision <= ?3) "
    "ORDER BY l.key";
constexpr const char* kGetSql =
    "SELECT revision, create_revision, deleted, value FROM log WHERE key = ?1 ORDER BY revision DESC LIMIT 1";
constexpr const char* kMaxRevSql = "SELECT MAX(revision) FROM log";
constexpr const char* kCompactedSql = "SELECT value FROM meta WHERE name = 'compacted'";
constexpr const char* kHistorySql =
    "SELECT l.revision, l.key, l.created, l.deleted, l.create_revision, l.prev_revision, l.value, "
    "p.value, p.create_revision FROM log l LEFT JOIN log p ON p.revision = l.prev_revision AND l.created = 0 "
    "WHERE l.revision > ?1 AND l.key >= ?2 AND l.key < ?3 ORDER BY l.revision";

struct ReadConn {
  sqlite3* db = nullptr;
  Stmt begin, commit, get, list, max_rev, compacted;
};

void CloseRead(ReadConn* c) {
  if (!c) return;
  sqlite3* db = c->db;
  delete c;  // finalizes the statements
  sqlite3_close(db);
}
using ReadConnPtr = std::unique_ptr<ReadConn, void (*)(ReadConn*)>;

class SqliteBackendImpl final : public SqliteBackend {
 public:
  SqliteBackendImpl(std::string path, SqliteOptions options)
      : path_(std::move(path)), options_(options), hub_(std::make_shared<internal::WatchHub>()) {}

  ~SqliteBackendImpl() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (writer_.joinable()) writer_.join();
    {
      std::lock_guard<std::mutex> lock(pool_mu_);
      pool_.clear();
    }
    w_.reset();
    if (db_) {
      sqlite3_wal_hook(db_, nullptr, nullptr);
      sqlite3_close(db_);
    }
  }

  Status Init();

  StatusOr<KeyValue> Get(const std::string& key) override;
  StatusOr<ListResult> List(const std::string& prefix, const std::string& start_after, int64_t limit,
                            int64_t revision) override;
  void Submit(Op op, OpCallback done) override;
  StatusOr<WatchHandlePtr> Watch(const std::string& prefix, int64_t from_revision, EventsHandler handler) override;
  int64_t CurrentRevision() override { return current_rev_.load(std::memory_order_acquire); }
  int64_t CompactedRevision() override { return compact_floor_.load(std::memory_order_acquire); }
  Status Compact(int64_t revision) override;
  SqliteStats Stats() override {
    std::lock_guard<std::mutex> lock(stats_mu_);
    return stats_;
  }

 private:
  struct Pending {
    Op op;
    OpCallback done;
  };
  struct CompactRequest {
    int64_t revision;
    std::promise<Status> done;
  };
  struct IndexEntry {
    int64_t mod_revision = 0;
    int64_t create_revision = 0;
    bool deleted = false;
    int64_t bytes = 0;  // key + value size of the newest row
  };
  // Writer-thread statements.
  struct WriterStmts {
    Stmt begin, commit, rollback, insert, value_of, history, compact_prev, compact_tomb, set_compacted;
    Stmt savepoint, release, rollback_to;
  };

  // Read pool.
  StatusOr<ReadConnPtr> AcquireRead();
  void ReleaseRead(ReadConnPtr c);

  // Writer thread.
  void WriterLoop();
  void CommitBatch(std::vector<Pending>& batch, int64_t chunk_hi);
  void ServeWatcher(const internal::WatcherPtr& w);
  Status LoadHistoryFromLog(int64_t from, const std::string& prefix, std::vector<Event>* out);
  Status CompactChunk(int64_t hi);
  Status CompactRows(int64_t lo, int64_t hi);
  void CompactionFailed(int64_t hi, const Status& st);
  void CompactionApplied(int64_t hi);
  void PlanCompaction();
  void MaybeCheckpoint();
  void MaybeVacuum();
  StatusOr<std::string> ValueAt(int64_t revision);
  Status InsertRow(int64_t rev, const std::string& key, bool created, bool deleted, int64_t create_rev,
                   int64_t prev_rev, const std::string& value);
  void RunCallbacks(std::vector<Pending>& batch, std::vector<StatusOr<KeyValue>>& results);
  static int WalHook(void* self, sqlite3*, const char*, int pages) {
    static_cast<SqliteBackendImpl*>(self)->wal_pages_ = pages;
    return SQLITE_OK;
  }

  const std::string path_;
  const SqliteOptions options_;
  std::shared_ptr<internal::WatchHub> hub_;

  sqlite3* db_ = nullptr;  // the writer connection (writer thread only, after Init)
  std::unique_ptr<WriterStmts> w_;

  std::mutex pool_mu_;
  std::vector<ReadConnPtr> pool_;  // guarded by pool_mu_

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;                                 // guarded by mu_
  std::deque<Pending> queue_;                         // guarded by mu_
  std::vector<internal::WatcherPtr> new_watchers_;    // guarded by mu_
  std::vector<CompactRequest*> compact_requests_;     // guarded by mu_

  std::atomic<int64_t> current_rev_{0};
  std::atomic<int64_t> compact_floor_{0};  // compacted revision, raised (under mu_) before a chunk runs

  std::mutex stats_mu_;
  SqliteStats stats_;

  // Writer-thread state.
  std::thread writer_;
  std::unordered_map<std::string, IndexEntry> index_;
  std::map<int64_t, std::string> tombstones_;       // revision -> key, for index entries that are deletions
  std::deque<std::pair<int64_t, int64_t>> hist_;    // (revision, bytes) of rows above compacted_
  std::deque<Event> ring_;                          // newest events
  int64_t next_rev_ = 1;
  int64_t compacted_ = 0;
  int64_t compact_target_ = 0;
  int64_t live_bytes_ = 0;
  int wal_pages_ = 0;
  int64_t journal_limit_pages_ = 0;
};

StatusOr<ReadConnPtr> SqliteBackendImpl::AcquireRead() {
  {
    std::lock_guard<std::mutex> lock(pool_mu_);
    if (!pool_.empty()) {
      ReadConnPtr c = std::move(pool_.back());
      pool_.pop_back();
      return c;
    }
  }
  MINIK_ASSIGN_OR_RETURN(sqlite3 * db, OpenConnection(path_));
  ReadConnPtr c(new ReadConn, &CloseRead);
  c->db = db;
  Status st = Exec(db, "PRAGMA query_only = 1");
  if (st.ok()) st = c->begin.Prepare(db, "BEGIN");
  if (st.ok()) st = c->commit.Prepare(db, "COMMIT");
  if (st.ok()) st = c->get.Prepare(db, kGetSql);
  if (st.ok()) st = c->list.Prepare(db, kListSql);
  if (st.ok()) st = c->max_rev.Prepare(db, kMaxRevSql);
  if (st.ok()) st = c->compacted.Prepare(db, kCompactedSql);
  if (!st.ok()) return st;
  return c;
}

void SqliteBackendImpl::ReleaseRead(ReadConnPtr c) {
  std::lock_guard<std::mutex> lock(pool_mu_);
  if (static_cast<int>(pool_.size()) < options_.read_pool_size) pool_.push_back(std::move(c));
}

Status SqliteBackendImpl::Init() {
  MINIK_ASSIGN_OR_RETURN(db_, OpenConnection(path_));
  // auto_vacuum must be chosen before the first table exists; it is a no-op afterwards.
  MINIK_RETURN_IF_ERROR(Exec(db_, "PRAGMA auto_vacuum = INCREMENTAL"));
  {
    Stmt s;
    MINIK_RETURN_IF_ERROR(s.Prepare(db_, "PRAGMA journal_mode = WAL"));
    if (s.Step() != SQLITE_ROW || s.Str(0) != "wal") return SqlError(db_, "cannot switch to WAL mode");
  }
  MINIK_RETURN_IF_ERROR(Exec(db_, "PRAGMA synchronous = FULL"));
  MINIK_RETURN_IF_ERROR(Exec(db_, "PRAGMA wal_autocheckpoint = 0"));
  MINIK_RETURN_IF_ERROR(Exec(db_,
                             "CREATE TABLE IF NOT EXISTS log ("
                             " revision INTEGER PRIMARY KEY,"
                             " key TEXT NOT NULL,"
                             " created INTEGER NOT NULL,"
                             " deleted INTEGER NOT NULL,"
                             " create_revision INTEGER NOT NULL,"
                             " prev_revision INTEGER NOT NULL,"
                             " value BLOB NOT NULL,"
                             " UNIQUE (key, prev_revision));"
                             "CREATE INDEX IF NOT EXISTS log_key_revision ON log (key, revision);"
                             "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);"));
  sqlite3_wal_hook(db_, &SqliteBackendImpl::WalHook, this);

  w_ = std::make_unique<WriterStmts>();
  MINIK_RETURN_IF_ERROR(w_->begin.Prepare(db_, "BEGIN IMMEDIATE"));
  MINIK_RETURN_IF_ERROR(w_->commit.Prepare(db_, "COMMIT"));
  MINIK_RETURN_IF_ERROR(w_->rollback.Prepare(db_, "ROLLBACK"));
  MINIK_RETURN_IF_ERROR(w_->insert.Prepare(
      db_,
      "INSERT INTO log (revision, key, created, deleted, create_revision, prev_revision, value) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"));
  MINIK_RETURN_IF_ERROR(w_->savepoint.Prepare(db_, "SAVEPOINT compaction"));
  MINIK_RETURN_IF_ERROR(w_->release.Prepare(db_, "RELEASE compaction"));
  MINIK_RETURN_IF_ERROR(w_->rollback_to.Prepare(db_, "ROLLBACK TO compaction"));
  MINIK_RETURN_IF_ERROR(w_->value_of.Prepare(db_, "SELECT value FROM log WHERE revision = ?1"));
  MINIK_RETURN_IF_ERROR(w_->history.Prepare(db_, kHistorySql));
  MINIK_RETURN_IF_ERROR(w_->compact_prev.Prepare(
      db_,
      "DELETE FROM log WHERE revision IN "
      "(SELECT prev_revision FROM log WHERE revision > ?1 AND revision <= ?2 AND prev_revision > 0)"));
  MINIK_RETURN_IF_ERROR(
      w_->compact_tomb.Prepare(db_, "DELETE FROM log WHERE revision > ?1 AND revision <= ?2 AND deleted = 1"));
  MINIK_RETURN_IF_ERROR(w_->set_compacted.Prepare(
      db_,
      "INSERT INTO meta (name, value) VALUES ('compacted', ?1) "
      "ON CONFLICT (name) DO UPDATE SET value = excluded.value"));

  // Load the state the writer keeps in memory.
  {
    Stmt s;
    MINIK_RETURN_IF_ERROR(s.Prepare(db_, kCompactedSql));
    if (s.Step() == SQLITE_ROW) compacted_ = s.Int(0);
  }
  int64_t max_rev = 0;
  {
    Stmt s;
    MINIK_RETURN_IF_ERROR(s.Prepare(db_, kMaxRevSql));
    if (s.Step() == SQLITE_ROW) max_rev = s.Int(0);
  }
  const int64_t current = std::max(max_rev, compacted_);
  {
    Stmt s;
    MINIK_RETURN_IF_ERROR(s.Prepare(
        db_,
        "SELECT l.key, l.revision, l.create_revision, l.deleted, length(l.key) + length(l.value) FROM log l "
        "JOIN (SELECT key, MAX(revision) AS r FROM log GROUP BY key) m ON l.revision = m.r"));
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) {
      IndexEntry e{s.Int(1), s.Int(2), s.Int(3) != 0, s.Int(4)};
      std::string key = s.Str(0);
      if (e.deleted) {
        tombstones_[e.mod_revision] = key;
      } else {
        live_bytes_ += e.bytes;
      }
      index_.emplace(std::move(key), e);
    }
    if (rc != SQLITE_DONE) return SqlError(db_, "load index");
  }
  {
    Stmt s;
    MINIK_RETURN_IF_ERROR(
        s.Prepare(db_, "SELECT revision, length(key) + length(value) FROM log WHERE revision > ?1 ORDER BY revision"));
    s.BindInt(1, compacted_);
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) hist_.emplace_back(s.Int(0), s.Int(1));
    if (rc != SQLITE_DONE) return SqlError(db_, "load history");
  }
  next_rev_ = current + 1;
  compact_target_ = compacted_;
  current_rev_.store(current);
  compact_floor_.store(compacted_);
  MINIK_LOG(Info) << "store: opened " << path_ << " at revision " << current << " (compacted " << compacted_ << ", "
                  << index_.size() << " keys)";
  writer_ = std::thread([this] { WriterLoop(); });
  return Status::OK();
}

StatusOr<KeyValue> SqliteBackendImpl::Get(const std::string& key) {
  MINIK_ASSIGN_OR_RETURN(ReadConnPtr c, AcquireRead());
  StatusOr<KeyValue> out = internal::KeyNotFound(key);
  {
    Stmt& s = c->get;
    ResetGuard g{s};
    s.BindText(1, key);
    int rc = s.Step();
    if (rc == SQLITE_ROW) {
      if (s.Int(2) == 0) out = KeyValue{key, s.Str(3), s.Int(1), s.Int(0)};
    } else if (rc != SQLITE_DONE) {
      out = SqlError(c->db, "get");
    }
  }
  ReleaseRead(std::move(c));
  return out;
}

StatusOr<ListResult> SqliteBackendImpl::List(const std::string& prefix, const std::string& start_after,
                                             int64_t limit, int64_t revision) {
  MINIK_ASSIGN_OR_RETURN(ReadConnPtr c, AcquireRead());
  auto run = [&]() -> StatusOr<ListResult> {
    if (c->begin.Step() != SQLITE_DONE) {
      c->begin.Reset();
      return SqlError(c->db, "begin read");
    }
    c->begin.Reset();
    // Everything below reads one snapshot.
    int64_t max_rev = 0, compacted = 0;
    {
      ResetGuard g{c->max_rev};
      if (c->max_rev.Step() != SQLITE_ROW) return SqlError(c->db, "max revision");
      max_rev = c->max_rev.Int(0);
    }
    {
      ResetGuard g{c->compacted};
      int rc = c->compacted.Step();
      if (rc == SQLITE_ROW) {
        compacted = c->compacted.Int(0);
      } else if (rc != SQLITE_DONE) {
        return SqlError(c->db, "compacted revision");
      }
    }
    const int64_t current = std::max(max_rev, compacted);
    if (revision == 0) revision = current;
    if (revision < compacted) return internal::Compacted(revision, compacted);
    if (revision > current) return internal::FutureRevision(revision, current);
    std::string lo = prefix;
    if (!start_after.empty() && start_after >= prefix) lo = start_after + std::string(1, '\0');
    ListResult out;
    out.revision = revision;
    Stmt& s = c->list;
    ResetGuard g{s};
    s.BindText(1, lo);
    s.BindUpper(2, internal::PrefixEnd(prefix));
    s.BindInt(3, revision);
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) {
      if (s.Int(3) != 0) continue;  // deleted at that revision
      if (limit > 0 && static_cast<int64_t>(out.kvs.size()) >= limit) {
        out.more = true;
        ++out.remaining;
        continue;
      }
      out.kvs.push_back(KeyValue{s.Str(0), s.Str(4), s.Int(2), s.Int(1)});
    }
    if (rc != SQLITE_DONE) return SqlError(c->db, "list");
    return out;
  };
  StatusOr<ListResult> out = run();
  if (!sqlite3_get_autocommit(c->db)) {
    c->commit.Step();
    c->commit.Reset();
  }
  ReleaseRead(std::move(c));
  return out;
}

void SqliteBackendImpl::Submit(Op op, OpCallback done) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stop_) {
      queue_.push_back(Pending{std::move(op), std::move(done)});
      if (queue_.size() == 1) cv_.notify_one();
      return;
    }
  }
  if (done) done(Status::Unavailable("store is shutting down"));
}

StatusOr<WatchHandlePtr> SqliteBackendImpl::Watch(const std::string& prefix, int64_t from_revision,
                                                  EventsHandler handler) {
  auto w = std::make_shared<internal::Watcher>(prefix, std::move(handler), from_revision);
  {
    std::lock_guard<std::mutex> lock(mu_);
    int64_t floor = compact_floor_.load();
    if (from_revision < floor) return internal::Compacted(from_revision, floor);
    if (stop_) return Status::Unavailable("store is shutting down");
    new_watchers_.push_back(w);
  }
  cv_.notify_one();
  return WatchHandlePtr(new internal::HubWatchHandle(hub_, w));
}

Status SqliteBackendImpl::Compact(int64_t revision) {
  CompactRequest req{revision, {}};
  auto fut = req.done.get_future();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return Status::Unavailable("store is shutting down");
    compact_requests_.push_back(&req);
  }
  cv_.notify_one();
  return fut.get();
}

// ---- writer thread ----

void SqliteBackendImpl::WriterLoop() {
  std::vector<Pending> batch;
  std::vector<internal::WatcherPtr> watchers;
  std::vector<CompactRequest*> compacts;
  for (;;) {
    batch.clear();
    watchers.clear();
    compacts.clear();
    int64_t chunk_hi = 0;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] {
        return stop_ || !queue_.empty() || !new_watchers_.empty() || !compact_requests_.empty() ||
               compact_target_ > compacted_;
      });
      if (stop_ && queue_.empty()) break;
      const size_t n = std::min<size_t>(queue_.size(), static_cast<size_t>(std::max<int64_t>(1, options_.max_batch_ops)));
      batch.reserve(n);
      for (size_t i = 0; i < n; ++i) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      watchers.swap(new_watchers_);
      compacts.swap(compact_requests_);
      // Watchers taken here are served before the chunk below runs; ones registering from now
      // on are checked against the raised floor.
      if (compact_target_ > compacted_) {
        chunk_hi = std::min(compact_target_, compacted_ + std::max<int64_t>(1, options_.compact_chunk_revisions));
        compact_floor_.store(chunk_hi, std::memory_order_release);
      }
    }
    for (const auto& w : watchers) ServeWatcher(w);
    if (!batch.empty()) {
      CommitBatch(batch, chunk_hi);  // the compaction chunk rides in the batch's transaction
    } else if (chunk_hi > 0) {
      Status st = CompactChunk(chunk_hi);
      if (!st.ok()) CompactionFailed(chunk_hi, st);
    }
    if (chunk_hi > 0 && compacted_ >= compact_target_) MaybeVacuum();
    for (CompactRequest* req : compacts) {
      const int64_t current = next_rev_ - 1;
      if (req->revision > current) {
        req->done.set_value(internal::FutureRevision(req->revision, current).WithContext("compact"));
        continue;
      }
      Status st;
      while (st.ok() && compacted_ < req->revision) {
        int64_t hi = std::min(req->revision, compacted_ + std::max<int64_t>(1, options_.compact_chunk_revisions));
        std::vector<internal::WatcherPtr> late;
        {
          std::lock_guard<std::mutex> lock(mu_);
          compact_target_ = std::max(compact_target_, req->revision);
          compact_floor_.store(std::max(compact_floor_.load(), hi));
          late.swap(new_watchers_);
        }
        // Watchers that registered against the old floor get their history before it goes.
        for (const auto& w : late) ServeWatcher(w);
        st = CompactChunk(hi);
      }
      if (st.ok()) MaybeVacuum();
      req->done.set_value(std::move(st));
    }
    MaybeCheckpoint();
  }
  // Shutting down: fail pending compactions; drop unserved watchers.
  std::lock_guard<std::mutex> lock(mu_);
  for (CompactRequest* req : compact_requests_) req->done.set_value(Status::Unavailable("store is shutting down"));
  compact_requests_.clear();
  new_watchers_.clear();
}

StatusOr<std::string> SqliteBackendImpl::ValueAt(int64_t revision) {
  Stmt& s = w_->value_of;
  ResetGuard g{s};
  s.BindInt(1, revision);
  int rc = s.Step();
  if (rc == SQLITE_ROW) return s.Str(0);
  if (rc == SQLITE_DONE) return Status::Internal("store: row " + std::to_string(revision) + " is missing");
  return SqlError(db_, "read value");
}

Status SqliteBackendImpl::InsertRow(int64_t rev, const std::string& key, bool created, bool deleted,
                                    int64_t create_rev, int64_t prev_rev, const std::string& value) {
  Stmt& s = w_->insert;
  ResetGuard g{s};
  s.BindInt(1, rev);
  s.BindText(2, key);
  s.BindInt(3, created ? 1 : 0);
  s.BindInt(4, deleted ? 1 : 0);
  s.BindInt(5, create_rev);
  s.BindInt(6, prev_rev);
  s.BindBlob(7, value);
  int rc = s.Step();
  if (rc == SQLITE_DONE) return Status::OK();
  if ((rc & 0xff) == SQLITE_CONSTRAINT) {
    return Status::Conflict("key \"" + key + "\" was written concurrently by another writer");
  }
  return SqlError(db_, "insert");
}

void SqliteBackendImpl::CommitBatch(std::vector<Pending>& batch, int64_t chunk_hi) {
  std::vector<StatusOr<KeyValue>> results;
  results.reserve(batch.size());
  auto fail_all = [&](const Status& st) {
    results.clear();
    for (size_t i = 0; i < batch.size(); ++i) results.emplace_back(st);
    RunCallbacks(batch, results);
  };
  if (w_->begin.Step() != SQLITE_DONE) {
    Status st = SqlError(db_, "begin");
    w_->begin.Reset();
    fail_all(Status::Unavailable(st.message()));
    return;
  }
  w_->begin.Reset();

  // Undo log for the in-memory index, in case the commit fails.
  std::vector<std::pair<std::string, std::optional<IndexEntry>>> undo;
  const int64_t first_rev = next_rev_;
  const int64_t saved_live_bytes = live_bytes_;
  std::vector<Event> events;
  events.reserve(batch.size());
  Status fatal;

  for (Pending& p : batch) {
    const Op& op = p.op;
    auto it = index_.find(op.key);
    const bool exists = it != index_.end() && !it->second.deleted;
    const int64_t rev = next_rev_;
    const int64_t bytes = static_cast<int64_t>(op.key.size() + op.value.size());
    Event ev;
    Status st;
    IndexEntry entry;
    if (op.type == Op::Type::kCreate) {
      if (exists) {
        results.emplace_back(internal::KeyExists(op.key));
        continue;
      }
      const int64_t prev_rev = it != index_.end() ? it->second.mod_revision : 0;
      st = InsertRow(rev, op.key, true, false, rev, prev_rev, op.value);
      if (st.ok()) {
        ev.type = Event::Type::kPut;
        ev.kv = KeyValue{op.key, op.value, rev, rev};
        entry = IndexEntry{rev, rev, false, bytes};
      }
    } else {
      if (!exists) {
        results.emplace_back(internal::KeyNotFound(op.key));
        continue;
      }
      const IndexEntry cur = it->second;
      if (op.expected_revision != 0 && op.expected_revision != cur.mod_revision) {
        results.emplace_back(internal::RevisionMismatch(op.key, op.expected_revision, cur.mod_revision));
        continue;
      }
      StatusOr<std::string> prev_value = ValueAt(cur.mod_revision);
      if (!prev_value.ok()) {
        st = prev_value.status();
      } else if (op.type == Op::Type::kUpdate) {
        st = InsertRow(rev, op.key, false, false, cur.create_revision, cur.mod_revision, op.value);
        if (st.ok()) {
          ev.type = Event::Type::kPut;
          ev.kv = KeyValue{op.key, op.value, cur.create_revision, rev};
          ev.prev = KeyValue{op.key, std::move(*prev_value), cur.create_revision, cur.mod_revision};
          entry = IndexEntry{rev, cur.create_revision, false, bytes};
        }
      } else {
        st = InsertRow(rev, op.key, false, true, cur.create_revision, cur.mod_revision, *prev_value);
        if (st.ok()) {
          ev.type = Event::Type::kDelete;
          ev.kv = KeyValue{op.key, *prev_value, cur.create_revision, rev};
          ev.prev = KeyValue{op.key, std::move(*prev_value), cur.create_revision, cur.mod_revision};
          entry = IndexEntry{rev, cur.create_revision, true, static_cast<int64_t>(op.key.size() + ev.kv.value.size())};
        }
      }
    }
    if (!st.ok()) {
      results.emplace_back(st);
      if (st.code() != Code::kConflict && sqlite3_get_autocommit(db_)) {
        // The transaction is gone (I/O error, disk full...): the batch fails as a whole.
        fatal = st;
        break;
      }
      continue;
    }
    // Applied: update the index (remembering how to undo it).
    if (it != index_.end()) {
      undo.emplace_back(op.key, it->second);
      if (!it->second.deleted) live_bytes_ -= it->second.bytes;
      it->second = entry;
    } else {
      undo.emplace_back(op.key, std::nullopt);
      index_.emplace(op.key, entry);
    }
    if (!entry.deleted) live_bytes_ += entry.bytes;
    ++next_rev_;
    results.emplace_back(ev.kv);
    events.push_back(std::move(ev));
  }

  bool compacted = false;
  if (fatal.ok() && chunk_hi > compacted_) {
    Status st = CompactRows(compacted_, chunk_hi);
    if (st.ok()) {
      compacted = true;
    } else if (sqlite3_get_autocommit(db_)) {
      fatal = st;
    } else {
      CompactionFailed(chunk_hi, st);
    }
  }
  if (fatal.ok()) {
    if (w_->commit.Step() != SQLITE_DONE) fatal = SqlError(db_, "commit");
    w_->commit.Reset();
  }
  if (!fatal.ok()) {
    if (!sqlite3_get_autocommit(db_)) {
      w_->rollback.Step();
      w_->rollback.Reset();
    }
    for (auto u = undo.rbegin(); u != undo.rend(); ++u) {
      if (u->second) {
        index_[u->first] = *u->second;
      } else {
        index_.erase(u->first);
      }
    }
    next_rev_ = first_rev;
    live_bytes_ = saved_live_bytes;
    MINIK_LOG(Error) << "store: write transaction failed: " << fatal.ToString();
    if (chunk_hi > compacted_) CompactionFailed(chunk_hi, fatal);
    fail_all(Status::Unavailable(fatal.message()));
    return;
  }
  if (compacted) CompactionApplied(chunk_hi);

  // Committed.
  {
    std::lock_guard<std::mutex> lock(stats_mu_);
    stats_.transactions++;
    stats_.ops += static_cast<int64_t>(batch.size());
  }
  for (const Event& e : events) {
    if (e.type == Event::Type::kDelete) {
      tombstones_[e.kv.mod_revision] = e.kv.key;
    }
    if (options_.auto_compact) {
      hist_.emplace_back(e.kv.mod_revision, static_cast<int64_t>(e.kv.key.size() + e.kv.value.size()));
    }
  }
  current_rev_.store(next_rev_ - 1, std::memory_order_release);
  for (const Event& e : events) ring_.push_back(e);
  while (static_cast<int64_t>(ring_.size()) > std::max<int64_t>(0, options_.event_ring_capacity)) ring_.pop_front();
  hub_->Deliver(events);
  RunCallbacks(batch, results);
  PlanCompaction();
}

void SqliteBackendImpl::RunCallbacks(std::vector<Pending>& batch, std::vector<StatusOr<KeyValue>>& results) {
  for (size_t i = 0; i < batch.size(); ++i) {
    if (!batch[i].done) continue;
    try {
      batch[i].done(std::move(results[i]));
    } catch (const std::exception& e) {
      MINIK_LOG(Error) << "store: write callback threw: " << e.what();
    }
  }
}

void SqliteBackendImpl::PlanCompaction() {
  if (!options_.auto_compact) return;
  const int64_t cap_bytes =
      std::max<int64_t>(options_.history_min_bytes, static_cast<int64_t>(options_.history_bytes_ratio * live_bytes_));
  int64_t window = 0, bytes = 0;
  for (auto it = hist_.rbegin(); it != hist_.rend() && window < options_.history_revisions; ++it) {
    if (window >= options_.min_history_revisions && bytes + it->second > cap_bytes) break;
    bytes += it->second;
    ++window;
  }
  const int64_t current = next_rev_ - 1;
  const int64_t target = current - window;
  if (target - std::max(compacted_, compact_target_) > std::max<int64_t>(16, window / 2)) {
    std::lock_guard<std::mutex> lock(mu_);
    compact_target_ = target;
  }
}

// Deletes, inside the open transaction, the rows superseded at or below hi and the
// tombstones at or below hi among revisions (lo, hi], and records hi as compacted; all or
// nothing (a savepoint).
Status SqliteBackendImpl::CompactRows(int64_t lo, int64_t hi) {
  auto step = [&](Stmt& s) -> Status {
    int rc = s.Step();
    s.Reset();
    return rc == SQLITE_DONE ? Status::OK() : SqlError(db_, "compact");
  };
  MINIK_RETURN_IF_ERROR(step(w_->savepoint));
  Status st;
  for (Stmt* s : {&w_->compact_prev, &w_->compact_tomb}) {
    if (!st.ok()) break;
    s->BindInt(1, lo);
    s->BindInt(2, hi);
    st = step(*s);
  }
  if (st.ok()) {
    w_->set_compacted.BindInt(1, hi);
    st = step(w_->set_compacted);
  }
  if (!st.ok()) (void)step(w_->rollback_to);
  (void)step(w_->release);
  return st;
}

// After the transaction holding CompactRows(compacted_, hi) committed.
void SqliteBackendImpl::CompactionApplied(int64_t hi) {
  compacted_ = hi;
  for (auto it = tombstones_.begin(); it != tombstones_.end() && it->first <= hi;) {
    auto e = index_.find(it->second);
    if (e != index_.end() && e->second.deleted && e->second.mod_revision == it->first) index_.erase(e);
    it = tombstones_.erase(it);
  }
  while (!hist_.empty() && hist_.front().first <= hi) hist_.pop_front();
  std::lock_guard<std::mutex> lock(stats_mu_);
  stats_.compactions++;
}

void SqliteBackendImpl::CompactionFailed(int64_t hi, const Status& st) {
  MINIK_LOG(Error) << "store: compaction to " << hi << " failed: " << st.ToString();
  std::lock_guard<std::mutex> lock(mu_);
  compact_target_ = compacted_;
  compact_floor_.store(compacted_);
}

Status SqliteBackendImpl::CompactChunk(int64_t hi) {
  if (hi <= compacted_) return Status::OK();
  if (w_->begin.Step() != SQLITE_DONE) {
    Status st = SqlError(db_, "begin compaction");
    w_->begin.Reset();
    return st;
  }
  w_->begin.Reset();
  Status st = CompactRows(compacted_, hi);
  if (st.ok()) {
    if (w_->commit.Step() != SQLITE_DONE) st = SqlError(db_, "commit compaction");
    w_->commit.Reset();
  }
  if (!st.ok()) {
    if (!sqlite3_get_autocommit(db_)) {
      w_->rollback.Step();
      w_->rollback.Reset();
    }
    return st;
  }
  CompactionApplied(hi);
  return Status::OK();
}

void SqliteBackendImpl::MaybeVacuum() {
  int64_t pages = 0, free_pages = 0;
  {
    Stmt s;
    if (!s.Prepare(db_, "PRAGMA page_count").ok() || s.Step() != SQLITE_ROW) return;
    pages = s.Int(0);
  }
  {
    Stmt s;
    if (!s.Prepare(db_, "PRAGMA freelist_count").ok() || s.Step() != SQLITE_ROW) return;
    free_pages = s.Int(0);
  }
  if (free_pages > std::max<int64_t>(64, pages / 4)) {
    Status st = Exec(db_, "PRAGMA incremental_vacuum(" + std::to_string(free_pages - pages / 8) + ")");
    if (!st.ok()) {
      MINIK_LOG(Warning) << "store: " << st.ToString();
    }
  }
}

void SqliteBackendImpl::MaybeCheckpoint() {
  if (wal_pages_ < options_.checkpoint_min_pages) return;
  int64_t pages = 0;
  {
    Stmt s;
    if (s.Prepare(db_, "PRAGMA page_count").ok() && s.Step() == SQLITE_ROW) pages = s.Int(0);
  }
  const int64_t threshold =
      std::max(options_.checkpoint_min_pages, std::min(options_.checkpoint_max_pages, pages / 4));
  if (threshold != journal_limit_pages_) {
    journal_limit_pages_ = threshold;
    (void)Exec(db_, "PRAGMA journal_size_limit = " + std::to_string(threshold * 4096));
  }
  if (wal_pages_ < threshold) return;
  // Between two commits nothing is appended meanwhile, so a PASSIVE checkpoint copies every
  // frame (unless a reader pins an old snapshot) and the next transaction restarts the WAL.
  int log = 0, ckpt = 0;
  int rc = sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, &log, &ckpt);
  if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
    MINIK_LOG(Warning) << "store: checkpoint failed: " << sqlite3_errmsg(db_);
  }
  wal_pages_ = 0;
  std::lock_guard<std::mutex> lock(stats_mu_);
  stats_.checkpoints++;
}

void SqliteBackendImpl::ServeWatcher(const internal::WatcherPtr& w) {
  const int64_t current = next_rev_ - 1;
  const int64_t from = w->from_revision;
  std::vector<Event> history;
  if (from < current) {
    if (!ring_.empty() && ring_.front().kv.mod_revision <= from + 1) {
      auto it = std::upper_bound(ring_.begin(), ring_.end(), from,
                                 [](int64_t rev, const Event& e) { return rev < e.kv.mod_revision; });
      for (; it != ring_.end(); ++it) {
        if (HasPrefix(it->kv.key, w->prefix)) history.push_back(*it);
      }
    } else {
      Status st = LoadHistoryFromLog(from, w->prefix, &history);
      if (!st.ok()) {
      MINIK_LOG(Error) << "store: watch history: " << st.ToString();
    }
      std::lock_guard<std::mutex> lock(stats_mu_);
      stats_.history_from_log++;
    }
  }
  constexpr size_t kChunk = 1000;
  for (size_t i = 0; i < history.size(); i += kChunk) {
    if (history.size() <= kChunk) {
      w->Deliver(history);
    } else {
      std::vector<Event> part(history.begin() + static_cast<std::ptrdiff_t>(i),
                              history.begin() + static_cast<std::ptrdiff_t>(std::min(history.size(), i + kChunk)));
      w->Deliver(part);
    }
  }
  hub_->Add(w);
  bool cancelled;
  {
    std::lock_guard<std::recursive_mutex> lock(w->call_mu);
    cancelled = w->cancelled;
  }
  if (cancelled) hub_->Remove(w.get());
}

Status SqliteBackendImpl::LoadHistoryFromLog(int64_t from, const std::string& prefix, std::vector<Event>* out) {
  Stmt& s = w_->history;
  ResetGuard g{s};
  s.BindInt(1, from);
  s.BindText(2, prefix);
  s.BindUpper(3, internal::PrefixEnd(prefix));
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW) {
    Event e;
    const int64_t rev = s.Int(0);
    std::string key = s.Str(1);
    const bool created = s.Int(2) != 0, deleted = s.Int(3) != 0;
    const int64_t create_rev = s.Int(4), prev_rev = s.Int(5);
    e.type = deleted ? Event::Type::kDelete : Event::Type::kPut;
    if (!created && !s.IsNull(7)) e.prev = KeyValue{key, s.Str(7), s.Int(8), prev_rev};
    e.kv = KeyValue{std::move(key), s.Str(6), create_rev, rev};
    out->push_back(std::move(e));
  }
  if (rc != SQLITE_DONE) return SqlError(db_, "history");
  return Status::OK();
}

}  // namespace

StatusOr<BackendPtr> SqliteBackend::Open(const std::string& path, SqliteOptions options) {
  auto impl = std::make_unique<SqliteBackendImpl>(path, options);
  Status st = impl->Init();
  if (!st.ok()) return st.WithContext("open store " + path);
  return BackendPtr(std::move(impl));
}

}  // namespace minik::store
