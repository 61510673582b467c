// store_crash_check: kill -9 in the middle of a write storm loses no acknowledged write.
//
// For several rounds, a forked child opens a SqliteBackend in a temp dir and runs a storm of
// concurrent creates (several threads, many async submits in flight) plus a stream of updates
// to a few hot keys (so compaction and WAL checkpoints run too); for every acknowledged write
// it writes a line to a pipe. The parent kills the child with SIGKILL after a varying number
// of acknowledgements, reopens the database and checks that `PRAGMA integrity_check` is "ok",
// every acknowledged create is present, every hot key holds at least its last acknowledged
// update, and revisions did not go backwards. Exit code 0 = pass.
//
// Usage: store_crash_check [rounds (default 4)]
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "store/sqlite_backend.h"

namespace {

using minik::StatusOr;
using minik::store::KeyValue;
using minik::store::Op;
using minik::store::SqliteBackend;

constexpr int kCreateThreads = 4;
constexpr int kInFlightPerThread = 32;
constexpr int kHotKeys = 20;

void WriteLine(int fd, const std::string& line) {
  // Lines are far below PIPE_BUF, so each write is atomic.
  ssize_t n = ::write(fd, line.data(), line.size());
  if (n != static_cast<ssize_t>(line.size())) _exit(3);
}

[[noreturn]] void RunChild(const std::string& path, int round, int fd) {
  auto opened = SqliteBackend::Open(path);
  if (!opened.ok()) {
    std::fprintf(stderr, "child: %s\n", opened.status().ToString().c_str());
    _exit(2);
  }
  minik::store::Backend& b = **opened;
  std::vector<std::thread> threads;
  for (int t = 0; t < kCreateThreads; ++t) {
    threads.emplace_back([&b, round, t, fd] {
      std::mutex mu;
      std::condition_variable cv;
      int in_flight = 0;
      for (int i = 0;; ++i) {
        {
          std::unique_lock<std::mutex> lock(mu);
          cv.wait(lock, [&] { return in_flight < kInFlightPerThread; });
          ++in_flight;
        }
        Op op;
        op.type = Op::Type::kCreate;
        op.key = "/crash/" + std::to_string(round) + "/" + std::to_string(t) + "/" + std::to_string(i);
        op.value = std::string(200, 'v');
        std::string key = op.key;
        b.Submit(std::move(op), [&, key](StatusOr<KeyValue> r) {
          if (r.ok()) {
            WriteLine(fd, "C " + key + "\n");
          } else {
            std::fprintf(stderr, "child: create %s: %s\n", key.c_str(), r.status().ToString().c_str());
            _exit(4);
          }
          std::lock_guard<std::mutex> lock(mu);
          --in_flight;
          cv.notify_one();
        });
      }
    });
  }
  threads.emplace_back([&b, round, fd] {
    // Counters grow across rounds, so "at least the last acknowledged one" holds throughout.
    for (int64_t n = (round + 1) * int64_t{1000000000};; ++n) {
      Op op;
      op.type = Op::Type::kUpdate;
      op.key = "/hot/" + std::to_string(n % kHotKeys);
      op.value = std::to_string(n) + std::string(500, 'h');
      auto r = b.SubmitSync(op);
      if (r.status().code() == minik::Code::kNotFound) {
        op.type = Op::Type::kCreate;
        r = b.SubmitSync(op);
      }
      if (!r.ok()) {
        std::fprintf(stderr, "child: hot %s: %s\n", op.key.c_str(), r.status().ToString().c_str());
        _exit(5);
      }
      WriteLine(fd, "U " + op.key + " " + std::to_string(n) + "\n");
    }
  });
  for (auto& t : threads) t.join();
  _exit(0);
}

std::string IntegrityCheck(const std::string& path) {
  sqlite3* db = nullptr;
  std::string out = "open failed";
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &s, nullptr) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW) {
      out = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
    } else {
      out = sqlite3_errmsg(db);
    }
    sqlite3_finalize(s);
  }
  sqlite3_close(db);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 4;
  std::string tmpl = (std::filesystem::temp_directory_path() / "minik-crash-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) {
    std::perror("mkdtemp");
    return 1;
  }
  const std::string dir = tmpl;
  const std::string path = dir + "/state.db";
  std::set<std::string> acked;                 // every acknowledged create, all rounds
  std::map<std::string, int64_t> hot_acked;    // hot key -> last acknowledged counter
  int64_t last_revision = 0;
  bool ok = true;
  std::srand(static_cast<unsigned>(::getpid()));

  for (int round = 0; round < rounds && ok; ++round) {
    int fds[2];
    if (::pipe(fds) != 0) {
      std::perror("pipe");
      return 1;
    }
    pid_t pid = ::fork();
    if (pid < 0) {
      std::perror("fork");
      return 1;
    }
    if (pid == 0) {
      ::close(fds[0]);
      RunChild(path, round, fds[1]);
    }
    ::close(fds[1]);
    // Kill after a varying number of acknowledgements (mid-storm: the child never stops).
    const size_t kill_after = 1500 + static_cast<size_t>(std::rand() % 3000);
    size_t acks = 0;
    bool killed = false;
    std::string buf, line;
    char chunk[65536];
    for (;;) {
      ssize_t n = ::read(fds[0], chunk, sizeof(chunk));
      if (n <= 0) break;
      buf.append(chunk, static_cast<size_t>(n));
      size_t start = 0, nl;
      while ((nl = buf.find('\n', start)) != std::string::npos) {
        line.assign(buf, start, nl - start);
        start = nl + 1;
        ++acks;
        if (line.rfind("C ", 0) == 0) {
          acked.insert(line.substr(2));
        } else if (line.rfind("U ", 0) == 0) {
          size_t sp = line.find(' ', 2);
          std::string key = line.substr(2, sp - 2);
          int64_t n2 = std::atoll(line.c_str() + sp + 1);
          hot_acked[key] = std::max(hot_acked[key], n2);
        }
      }
      buf.erase(0, start);
      if (!killed && acks >= kill_after) {
        ::kill(pid, SIGKILL);  // keep reading: acks written before death are still in the pipe
        killed = true;
      }
    }
    ::close(fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!killed || !WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
      std::fprintf(stderr, "round %d: child ended on its own (status %d)\n", round, status);
      ok = false;
      break;
    }

    const std::string integrity = IntegrityCheck(path);
    if (integrity != "ok") {
      std::fprintf(stderr, "round %d: integrity_check: %s\n", round, integrity.c_str());
      ok = false;
    }
    auto opened = SqliteBackend::Open(path);
    if (!opened.ok()) {
      std::fprintf(stderr, "round %d: reopen: %s\n", round, opened.status().ToString().c_str());
      return 1;
    }
    minik::store::Backend& b = **opened;
    size_t missing = 0;
    for (const std::string& key : acked) {
      if (!b.Get(key).ok()) {
        if (missing++ < 5) std::fprintf(stderr, "round %d: acknowledged create %s is missing\n", round, key.c_str());
      }
    }
    for (const auto& [key, n] : hot_acked) {
      auto kv = b.Get(key);
      if (!kv.ok() || std::atoll(kv->value.c_str()) < n) {
        ++missing;
        std::fprintf(stderr, "round %d: hot key %s lost its acknowledged update %lld\n", round, key.c_str(),
                     static_cast<long long>(n));
      }
    }
    const int64_t rev = b.CurrentRevision();
    if (rev < last_revision || rev < static_cast<int64_t>(acked.size())) {
      std::fprintf(stderr, "round %d: revision went backwards (%lld < %lld)\n", round, static_cast<long long>(rev),
                   static_cast<long long>(last_revision));
      ok = false;
    }
    last_revision = rev;
    if (missing) ok = false;
    std::printf("round %d: killed after %zu acks; %zu creates acknowledged so far, all present: %s; revision %lld; "
                "integrity %s\n",
                round, acks, acked.size(), missing ? "NO" : "yes", static_cast<long long>(rev), integrity.c_str());
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  std::printf("%s\n", ok ? "PASS" : "FAIL");
  return ok ? 0 : 1;
}
