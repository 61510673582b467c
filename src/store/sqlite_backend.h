// SqliteBackend: the durable Backend, one SQLite database in WAL mode (kine's model, tighter).
//
// Schema: one log table, `log(revision INTEGER PRIMARY KEY, key, created, deleted,
// create_revision, prev_revision, value BLOB, UNIQUE(key, prev_revision))` plus an index on
// (key, revision) for "newest row of a key" and prefix scans, and `meta(name, value)` holding
// the compacted revision. prev_revision is the revision of the key's previous row (0 for the
// first); the UNIQUE constraint makes a second writer that raced us fail instead of forking a
// key's history. A tombstone row (deleted = 1) carries the deleted value.
//
// Writes: Submit() enqueues and returns. One writer thread takes everything queued (up to
// max_batch_ops), runs it in ONE transaction with the conditions checked against an in-memory
// index key -> {mod_revision, create_revision} (loaded at Open), commits with
// synchronous=FULL (one fsync per batch, never per op), then hands the batch's events to the
// watchers and then runs the callbacks, in revision order. A failing op fails alone; if the
// commit itself fails, every op of the batch fails with Unavailable and nothing is applied.
//
// Reads: Get/List run on a small pool of read-only connections (prepared statements reused),
// in one read transaction each, so List at a revision is a consistent snapshot.
//
// Watch: history comes from an in-memory ring of the newest events, or from the log when the
// ring no longer reaches back far enough; then live events. Handlers run on the writer thread
// (history included); a new watcher is served between two batches, so it never misses or
// repeats an event.
//
// History and compaction policy (automatic, in the writer thread between batches):
//   W = the largest number of newest revisions such that W <= history_revisions and their
//       rows hold at most max(history_min_bytes, history_bytes_ratio x live bytes), but never
//       fewer than min_history_revisions;
//   once the current revision is more than W + max(16, W/2) ahead of the compacted one, the
//   backend compacts to current - W, in chunks of compact_chunk_revisions revisions done by
//   the writer thread between its reads of the queue: a chunk rides in the next write batch's
//   transaction (inside a savepoint, so it costs no extra fsync and fails alone), or runs in
//   its own short transaction when no write is queued. Rows superseded at or below the target
//   and tombstones at or below it are deleted; the compacted revision is stored in meta.
//   So under endless churn the log holds the live rows plus at most ~1.5 W revisions of
//   history, and the file stays a small multiple of the live data. With the defaults, 100
//   keys of 1 KiB keep about the newest 100 revisions; 10,000 keys keep 1,000.
// WAL: SQLite's automatic checkpoints are replaced by our own: after a commit that leaves the
// WAL at max(checkpoint_min_pages, min(checkpoint_max_pages, database pages / 4)) pages or
// more, the writer runs a PASSIVE checkpoint (it never waits for readers) before its next
// batch, so every frame is copied back and the next transaction restarts the WAL;
// journal_size_limit (the same threshold) truncates it then. auto_vacuum=INCREMENTAL returns
// free pages to the OS when more than a quarter of the file is free; otherwise free pages are
// reused. (Measured: 100,000 updates of 100 keys x 1 KiB keep db + WAL under ~0.8 MB, under
// 8x the live data; see test/store/sqlite_backend_test.cc.)
//
// Revisions survive restarts and never go backwards: the current revision is
// max(newest row, compacted revision), and the compacted revision is stored durably.
//
// Threading: every public method is thread-safe. Callbacks and watch handlers run on the
// writer thread and must not call Submit synchronously-and-wait (SubmitSync) or Compact
// (deadlock); they may call Get/List/Watch, and a handler may destroy any watch handle
// (after the destructor returns, no further call of that handler happens, from any thread).
// Destroying the backend finishes the queued writes first. Watch handles may outlive it.
#pragma once

#include <cstdint>
#include <string>

#include "store/backend.h"

namespace minik::store {

struct SqliteOptions {
  // History policy (see the header comment).
  bool auto_compact = true;
  int64_t history_revisions = 1000;
  int64_t min_history_revisions = 100;
  double history_bytes_ratio = 1.0;
  int64_t history_min_bytes = 64 * 1024;
  int64_t compact_chunk_revisions = 500;
  // Group commit: at most this many ops per transaction.
  int64_t max_batch_ops = 1024;
  // Newest events kept in memory to serve watch history without SQL.
  int64_t event_ring_capacity = 512;
  // WAL checkpoint thresholds, in pages.
  int64_t checkpoint_min_pages = 32;
  int64_t checkpoint_max_pages = 1024;
  // Read connections kept open for reuse.
  int read_pool_size = 4;
};

// Counters for tests and benchmarks (monotonic since Open).
struct SqliteStats {
  int64_t transactions = 0;  // committed write transactions (batches)
  int64_t ops = 0;           // ops processed (succeeded or failed)
  int64_t compactions = 0;   // compaction chunks committed
  int64_t checkpoints = 0;   // WAL checkpoints run
  int64_t history_from_log = 0;  // watches whose history was read from the log, not the ring
};

class SqliteBackend : public Backend {
 public:
  // Opens (creating if needed) the database at path and starts the writer thread.
  static StatusOr<BackendPtr> Open(const std::string& path, SqliteOptions options = {});
  // Statistics of a backend returned by Open (thread-safe).
  virtual SqliteStats Stats() = 0;
};

}  // namespace minik::store
