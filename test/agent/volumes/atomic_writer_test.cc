#include "agent/volumes/atomic_writer.h"

#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <set>

#include "test_util.h"

namespace minik::agent::volumes {
namespace {

namespace fs = std::filesystem;
using testing::ReadAll;
using testing::TempDir;

std::string Link(const std::string& p) {
  char buf[4096];
  ssize_t n = ::readlink(p.c_str(), buf, sizeof(buf));
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

std::set<std::string> Entries(const std::string& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.insert(e.path().filename().string());
  return out;
}

uint32_t Mode(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 ? (st.st_mode & 07777) : 0;
}

TEST_CASE("atomic writer: kubelet layout, in-place atomic updates, pruning") {
  TempDir tmp;
  FakeClock clock;  // 2026-01-01T00:00:00Z
  AtomicWriter w(tmp.path(), clock);
  Payload p1 = {{"a.conf", {"one\n", 0644, -1}}, {"dir/b", {"bee", 0600, -1}}, {"gone", {"x", 0644, -1}}};
  REQUIRE(w.Write(p1).ok());

  std::string ts1 = Link(tmp.path() + "/..data");
  CHECK(ts1.rfind("..2026_01_01_00_00_00.", 0) == 0);
  CHECK(Entries(tmp.path()) == std::set<std::string>{"..data", ts1, "a.conf", "dir", "gone"});
  CHECK(Link(tmp.path() + "/a.conf") == "..data/a.conf");
  CHECK(Link(tmp.path() + "/dir") == "..data/dir");
  CHECK(ReadAll(tmp.path() + "/a.conf") == "one\n");
  CHECK(ReadAll(tmp.path() + "/dir/b") == "bee");
  CHECK(Mode(tmp.path() + "/" + ts1) == 0755);
  CHECK(Mode(tmp.path() + "/dir/b") == 0600);
  CHECK(Mode(tmp.path() + "/a.conf") == 0644);

  SECTION("an identical payload writes nothing") {
    REQUIRE(w.Write(p1).ok());
    CHECK(Link(tmp.path() + "/..data") == ts1);
  }

  SECTION("a changed payload swaps ..data and removes the old version") {
    // A reader holding the old file open keeps reading the old content.
    std::ifstream held(tmp.path() + "/a.conf");
    clock.Advance(std::chrono::seconds(61));
    Payload p2 = {{"a.conf", {"two\n", 0644, -1}}, {"dir/b", {"bee", 0600, -1}}, {"new", {"n", 0400, -1}}};
    REQUIRE(w.Write(p2).ok());
    std::string ts2 = Link(tmp.path() + "/..data");
    CHECK(ts2 != ts1);
    CHECK(ts2.rfind("..2026_01_01_00_01_01.", 0) == 0);
    CHECK(Entries(tmp.path()) == std::set<std::string>{"..data", ts2, "a.conf", "dir", "new"});
    CHECK(ReadAll(tmp.path() + "/a.conf") == "two\n");
    CHECK(ReadAll(tmp.path() + "/new") == "n");
    CHECK(Mode(tmp.path() + "/new") == 0400);
    std::string old;
    std::getline(held, old);
    CHECK(old == "one");
    CHECK_FALSE(fs::exists(tmp.path() + "/..data_tmp"));
  }

  SECTION("an empty payload keeps the layout with no files") {
    REQUIRE(w.Write({}).ok());
    std::string ts2 = Link(tmp.path() + "/..data");
    CHECK(Entries(tmp.path()) == std::set<std::string>{"..data", ts2});
  }
}

TEST_CASE("atomic writer: payload paths are validated as upstream") {
  TempDir tmp;
  FakeClock clock;
  AtomicWriter w(tmp.path(), clock);
  struct {
    const char* path;
    const char* message;
  } cases[] = {
      {"/abs", "invalid path: must be relative path: /abs"},
      {"a/../b", "invalid path: must not contain '..': a/../b"},
      {"..data", "invalid path: must not start with '..': ..data"},
      {"", "invalid path: must not be empty: \"\""},
  };
  for (const auto& c : cases) {
    INFO(c.path);
    Status st = w.Write({{c.path, {"x", 0644, -1}}});
    CHECK(st.message() == c.message);
  }
  CHECK(Entries(tmp.path()).empty());
  CHECK(w.Write({{"./x//y", {"v", 0644, -1}}}).ok());
  CHECK(ReadAll(tmp.path() + "/x/y") == "v");
}

}  // namespace
}  // namespace minik::agent::volumes
