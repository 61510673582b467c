// store_bench: throughput and latency of the store.
//
//   store_bench [--dir DIR] [--seconds S]
//
// Measures, on a fresh SqliteBackend in DIR (default: a temp dir under /tmp):
//   creates/s with 1 submitter (each create waits for the previous one),
//   creates/s with 64 submitters (64 async submits in flight at all times),
//   updates/s with 64 in flight (to 1,000 keys),
//   Get latency (p50/p99) on 10,000 keys, single thread,
//   WatchCache: Init from a 10,000-object snapshot, full List of 10,000 objects, paged List
//   (limit 500), Apply throughput.
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "store/sqlite_backend.h"
#include "store/watch_cache.h"

namespace {

using minik::StatusOr;
using namespace minik::store;
using Clock = std::chrono::steady_clock;

long RssKiB() {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  long kib = 0;
  while (std::fgets(line, sizeof(line), f)) {
    if (std::strncmp(line, "VmRSS:", 6) == 0) kib = std::atol(line + 6);
  }
  std::fclose(f);
  return kib;
}

double Seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

std::string Value(int i) {
  // A ConfigMap-shaped JSON document of about 1 KiB.
  std::string data(900, 'x');
  return R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm-)" + std::to_string(i) +
         R"(","namespace":"default","uid":"0b7a3c1e-1111-2222-3333-444455556666"},"data":{"k":")" + data + R"("}})";
}

// Submits ops made by make(i) for `seconds`, keeping `window` in flight; returns ops done.
template <typename Make>
int64_t Storm(Backend& b, double seconds, int window, Make make) {
  std::mutex mu;
  std::condition_variable cv;
  int in_flight = 0;
  int64_t done = 0, failed = 0;
  const auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  int64_t i = 0;
  while (Clock::now() < end) {
    {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return in_flight < window; });
      ++in_flight;
    }
    b.Submit(make(i++), [&](StatusOr<KeyValue> r) {
      std::lock_guard<std::mutex> lock(mu);
      --in_flight;
      ++done;
      if (!r.ok()) ++failed;
      cv.notify_all();
    });
  }
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return in_flight == 0; });
  if (failed) std::printf("  (%lld failed)\n", static_cast<long long>(failed));
  return done;
}

Op MakeCreate(const std::string& key, std::string value) {
  Op op;
  op.type = Op::Type::kCreate;
  op.key = key;
  op.value = std::move(value);
  return op;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir;
  double seconds = 3;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--dir") && i + 1 < argc) {
      dir = argv[++i];
    } else if (!std::strcmp(argv[i], "--seconds") && i + 1 < argc) {
      seconds = std::atof(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: store_bench [--dir DIR] [--seconds S]\n");
      return 2;
    }
  }
  bool own_dir = false;
  if (dir.empty()) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "minik-bench-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) return 1;
    dir = tmpl;
    own_dir = true;
  }
  const std::string path = dir + "/bench.db";
  std::filesystem::remove(path);
  std::filesystem::remove(path + "-wal");
  auto opened = SqliteBackend::Open(path);
  if (!opened.ok()) {
    std::fprintf(stderr, "%s\n", opened.status().ToString().c_str());
    return 1;
  }
  Backend& b = **opened;
  auto& stats_of = dynamic_cast<SqliteBackend&>(b);
  const std::string value = Value(0);
  std::printf("store_bench: %s, value %zu bytes, %.1f s per phase\n", path.c_str(), value.size(), seconds);

  // 1 submitter.
  {
    auto s0 = stats_of.Stats();
    auto t0 = Clock::now();
    int64_t n = Storm(b, seconds, 1, [&](int64_t i) { return MakeCreate("/bench/one/" + std::to_string(i), value); });
    double dt = Seconds(t0, Clock::now());
    auto s1 = stats_of.Stats();
    std::printf("creates, 1 submitter:      %8.0f /s  (%lld ops, %lld transactions)\n", n / dt,
                static_cast<long long>(n), static_cast<long long>(s1.transactions - s0.transactions));
  }
  // 64 in flight.
  {
    auto s0 = stats_of.Stats();
    auto t0 = Clock::now();
    int64_t n = Storm(b, seconds, 64, [&](int64_t i) { return MakeCreate("/bench/many/" + std::to_string(i), value); });
    double dt = Seconds(t0, Clock::now());
    auto s1 = stats_of.Stats();
    std::printf("creates, 64 in flight:     %8.0f /s  (%lld ops, %.1f ops/transaction)\n", n / dt,
                static_cast<long long>(n),
                static_cast<double>(n) / std::max<int64_t>(1, s1.transactions - s0.transactions));
  }
  // Updates, 64 in flight, 1,000 keys.
  {
    for (int k = 0; k < 1000; ++k) (void)b.SubmitSync(MakeCreate("/bench/upd/" + std::to_string(k), value));
    auto s0 = stats_of.Stats();
    auto t0 = Clock::now();
    int64_t n = Storm(b, seconds, 64, [&](int64_t i) {
      Op op;
      op.type = Op::Type::kUpdate;
      op.key = "/bench/upd/" + std::to_string(i % 1000);
      op.value = value;
      return op;
    });
    double dt = Seconds(t0, Clock::now());
    auto s1 = stats_of.Stats();
    std::printf("updates, 64 in flight:     %8.0f /s  (%lld ops, %.1f ops/transaction, %lld compaction chunks)\n",
                n / dt, static_cast<long long>(n),
                static_cast<double>(n) / std::max<int64_t>(1, s1.transactions - s0.transactions),
                static_cast<long long>(s1.compactions - s0.compactions));
  }
  // Get latency over 10,000 keys.
  {
    int64_t created = 0;
    {
      std::mutex mu;
      std::condition_variable cv;
      int64_t done = 0;
      for (int k = 0; k < 10000; ++k) {
        b.Submit(MakeCreate("/bench/get/" + std::to_string(k), Value(k)), [&](StatusOr<KeyValue>) {
          std::lock_guard<std::mutex> lock(mu);
          ++done;
          cv.notify_all();
        });
      }
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return done == 10000; });
      created = done;
    }
    std::vector<double> lat;
    lat.reserve(100000);
    unsigned seed = 1;
    for (int i = 0; i < 100000; ++i) {
      seed = seed * 1103515245u + 12345u;
      std::string key = "/bench/get/" + std::to_string((seed >> 8) % created);
      auto t0 = Clock::now();
      auto kv = b.Get(key);
      auto t1 = Clock::now();
      if (!kv.ok()) {
        std::printf("get failed: %s\n", kv.status().ToString().c_str());
        return 1;
      }
      lat.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    }
    std::sort(lat.begin(), lat.end());
    std::printf("Get (SQLite, 10,000 keys): p50 %.1f us, p99 %.1f us, max %.1f us\n", lat[lat.size() / 2],
                lat[lat.size() * 99 / 100], lat.back());

    // WatchCache over the same 10,000 objects.
    auto t0 = Clock::now();
    auto snap = b.List("/bench/get/", "", 0, 0);
    auto t1 = Clock::now();
    if (!snap.ok()) return 1;
    const long rss0 = RssKiB();
    WatchCache cache;
    cache.Init(*snap);
    auto t2 = Clock::now();
    std::printf("WatchCache of 10,000 objects: +%ld KiB RSS\n", RssKiB() - rss0);
    std::printf("Backend List of %zu objects: %.1f ms; WatchCache Init (parse): %.1f ms\n", snap->kvs.size(),
                Seconds(t0, t1) * 1e3, Seconds(t1, t2) * 1e3);
    constexpr int kReps = 200;
    size_t total = 0;
    auto t3 = Clock::now();
    for (int r = 0; r < kReps; ++r) total += cache.List("/bench/get/").items.size();
    auto t4 = Clock::now();
    std::printf("WatchCache List of %zu objects: %.3f ms\n", total / kReps, Seconds(t3, t4) * 1e3 / kReps);
    auto t5 = Clock::now();
    size_t pages = 0;
    for (int r = 0; r < kReps; ++r) {
      std::string after;
      for (;;) {
        auto page = cache.List("/bench/get/", after, 500);
        ++pages;
        if (!page.more) break;
        after = page.items.back()->kv.key;
      }
    }
    auto t6 = Clock::now();
    std::printf("WatchCache paged List (limit 500, with remainingItemCount): %.1f us per page\n",
                Seconds(t5, t6) * 1e6 / pages);
    std::vector<double> glat;
    glat.reserve(100000);
    for (int i = 0; i < 100000; ++i) {
      seed = seed * 1103515245u + 12345u;
      std::string key = "/bench/get/" + std::to_string((seed >> 8) % created);
      auto g0 = Clock::now();
      auto obj = cache.Get(key);
      auto g1 = Clock::now();
      if (!obj) return 1;
      glat.push_back(std::chrono::duration<double, std::micro>(g1 - g0).count());
    }
    std::sort(glat.begin(), glat.end());
    std::printf("WatchCache Get: p50 %.2f us, p99 %.2f us\n", glat[glat.size() / 2], glat[glat.size() * 99 / 100]);
    // Apply throughput (updates of existing objects, parsed once each).
    std::vector<Event> events;
    int64_t rev = cache.revision();
    for (int i = 0; i < 10000; ++i) {
      Event e;
      e.type = Event::Type::kPut;
      e.kv = KeyValue{"/bench/get/" + std::to_string(i), Value(i), 1, ++rev};
      events.push_back(std::move(e));
    }
    int watchers_called = 0;
    for (int w = 0; w < 100; ++w) {
      (void)cache.Watch("/bench/get/", -1, [&](const CacheEventPtr& ev) {
        if (ev->encoded.empty()) ev->encoded = ev->object->kv.value;  // "serialize" once
        ++watchers_called;
      });
    }
    auto t7 = Clock::now();
    cache.Apply(events);
    auto t8 = Clock::now();
    std::printf("WatchCache Apply: %.0f events/s with 100 watchers (%d callbacks)\n",
                events.size() / Seconds(t7, t8), watchers_called);
  }
  auto st = stats_of.Stats();
  struct stat s1 {}, s2 {};
  ::stat(path.c_str(), &s1);
  ::stat((path + "-wal").c_str(), &s2);
  std::printf("totals: %lld transactions, %lld ops, %lld compaction chunks, %lld checkpoints; db %lld B, wal %lld B\n",
              static_cast<long long>(st.transactions), static_cast<long long>(st.ops),
              static_cast<long long>(st.compactions), static_cast<long long>(st.checkpoints),
              static_cast<long long>(s1.st_size), static_cast<long long>(s2.st_size));
  opened->reset();
  if (own_dir) std::filesystem::remove_all(dir);
  return 0;
}
