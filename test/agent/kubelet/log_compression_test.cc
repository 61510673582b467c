// Rotated container logs: every rotated file of a log but the newest is gzipped, as upstream's
// container log manager leaves them; leftovers of an interrupted pass are cleaned up.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "agent/kubelet/log_compression.h"
#include "common/log.h"

using namespace minik;
using namespace minik::agent::kubelet;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("minik-logz-" + std::to_string(::getpid()));
  TempDir() {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

void Write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

std::set<std::string> Names(const fs::path& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.insert(e.path().filename());
  return out;
}

// What gunzip makes of the file (the system's gzip: the archive must be a standard one).
std::string Gunzip(const fs::path& p) {
  std::string cmd = "gzip -dc '" + p.string() + "'";
  FILE* f = popen(cmd.c_str(), "r");
  REQUIRE(f);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  CHECK(pclose(f) == 0);
  return out;
}

}  // namespace

TEST_CASE("every rotated log file but the newest is gzipped, and reads back whole") {
  TempDir t;
  fs::path c = t.path / "default_web_uid1" / "app";
  std::string big;
  for (int i = 0; i < 5000; ++i) big += "2026-11-22T10:00:00.000000000Z stdout F line " + std::to_string(i) + "\n";
  Write(c / "0.log", "current\n");
  Write(c / "0.log.20261122-100000", big);
  Write(c / "0.log.20261122-100500", "second\n");
  Write(c / "0.log.20261122-101000", "newest\n");
  Write(c / "1.log.20261122-090000", "only rotation of the next instance\n");
  Write(c / "notes.txt", "not a log\n");
  auto stats = CompressRotatedLogs(t.path.string());
  CHECK(stats.compressed == 2);
  CHECK(stats.errors == 0);
  CHECK(Names(c) == std::set<std::string>{"0.log", "0.log.20261122-100000.gz", "0.log.20261122-100500.gz",
                                          "0.log.20261122-101000", "1.log.20261122-090000", "notes.txt"});
  CHECK(Gunzip(c / "0.log.20261122-100000.gz") == big);
  CHECK(Gunzip(c / "0.log.20261122-100500.gz") == "second\n");
  CHECK(fs::file_size(c / "0.log.20261122-100000.gz") < big.size() / 5);
  // A second pass has nothing left to do; a later rotation makes the previous newest go.
  CHECK(CompressRotatedLogs(t.path.string()).compressed == 0);
  Write(c / "0.log.20261122-101500", "newer\n");
  CHECK(CompressRotatedLogs(t.path.string()).compressed == 1);
  CHECK(Names(c).count("0.log.20261122-101000.gz") == 1);
  CHECK(Names(c).count("0.log.20261122-101500") == 1);
}

TEST_CASE("an interrupted compression pass is cleaned up by the next") {
  TempDir t;
  fs::path c = t.path / "default_web_uid1" / "app";
  Write(c / "0.log.20261122-100000", "done but not removed\n");
  REQUIRE(GzipFile((c / "0.log.20261122-100000").string(), (c / "0.log.20261122-100000.gz").string()).ok());
  Write(c / "0.log.20261122-100500.gz.tmp", "half an archive");
  Write(c / "0.log.20261122-100500", "second\n");
  Write(c / "0.log.20261122-101000", "newest\n");
  auto stats = CompressRotatedLogs(t.path.string());
  CHECK(stats.compressed == 1);
  CHECK(Names(c) == std::set<std::string>{"0.log.20261122-100000.gz", "0.log.20261122-100500.gz", "0.log.20261122-101000"});
  CHECK(Gunzip(c / "0.log.20261122-100000.gz") == "done but not removed\n");
  CHECK(Gunzip(c / "0.log.20261122-100500.gz") == "second\n");
}

TEST_CASE("GzipFile reports a missing source and leaves nothing behind") {
  TempDir t;
  Status st = GzipFile((t.path / "missing").string(), (t.path / "missing.gz").string());
  CHECK_FALSE(st.ok());
  CHECK(st.message().find("missing") != std::string::npos);
  CHECK(Names(t.path).empty());
}

TEST_CASE("dangling container log links go once old enough; live ones stay") {
  TempDir t;
  fs::path links = t.path / "containers";
  Write(t.path / "pods" / "p" / "app" / "0.log", "line\n");
  fs::create_directories(links);
  fs::create_symlink(t.path / "pods" / "p" / "app" / "0.log", links / "p_default_app-live.log");
  fs::create_symlink(t.path / "pods" / "gone" / "app" / "0.log", links / "gone_default_app-dead.log");
  Write(links / "notes.log", "a plain file stays\n");
  CHECK(RemoveDanglingLogLinks(links.string(), 3600) == 0);  // too young
  CHECK(RemoveDanglingLogLinks(links.string(), 0) == 1);
  CHECK(Names(links) == std::set<std::string>{"notes.log", "p_default_app-live.log"});
}
