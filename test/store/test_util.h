// Helpers shared by the store tests.
#pragma once

#include <stdlib.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "store/backend.h"
#include "store/memory_backend.h"
#include "store/sqlite_backend.h"

namespace minik::store::testing {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "minik-store-XXXXXX").string();
    char* p = mkdtemp(tmpl.data());
    if (p) path_ = p;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Collects watch events; thread-safe; waits with a generous timeout (events normally arrive
// in microseconds; the timeout only bounds a failing test).
class Collector {
 public:
  EventsHandler Handler() {
    return [this](const std::vector<Event>& events) {
      std::lock_guard<std::mutex> lock(mu_);
      calls_++;
      for (const Event& e : events) events_.push_back(e);
      cv_.notify_all();
    };
  }
  bool WaitFor(size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return events_.size() >= n; });
  }
  std::vector<Event> events() {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }
  size_t size() {
    std::lock_guard<std::mutex> lock(mu_);
    return events_.size();
  }
  int calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Event> events_;
  int calls_ = 0;
};

inline Op Create(std::string key, std::string value) {
  Op op;
  op.type = Op::Type::kCreate;
  op.key = std::move(key);
  op.value = std::move(value);
  return op;
}
inline Op Update(std::string key, std::string value, int64_t expected = 0) {
  Op op;
  op.type = Op::Type::kUpdate;
  op.key = std::move(key);
  op.value = std::move(value);
  op.expected_revision = expected;
  return op;
}
inline Op Delete(std::string key, int64_t expected = 0) {
  Op op;
  op.type = Op::Type::kDelete;
  op.key = std::move(key);
  op.expected_revision = expected;
  return op;
}

// The two backends, behind one shape, for TEMPLATE_TEST_CASE.
struct MemoryEnv {
  static constexpr const char* kName = "memory";
  BackendPtr backend = std::make_unique<MemoryBackend>();
  // Memory cannot survive a reopen; tests that need it are SQLite-only.
};

struct SqliteEnv {
  static constexpr const char* kName = "sqlite";
  TempDir dir;
  BackendPtr backend;
  SqliteEnv() {
    auto b = SqliteBackend::Open(dir.File("state.db"));
    if (b.ok()) backend = std::move(*b);
  }
};

}  // namespace minik::store::testing
