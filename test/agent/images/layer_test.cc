#include "agent/images/layer.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "agent/images/digest.h"
#include "test_util.h"

namespace minik::agent::images {
namespace {

using testing::Dir;
using testing::Entry;
using testing::File;
using testing::Symlink;
using testing::TempDir;
using testing::WriteTar;

std::string Xattr(const std::string& path, const char* name) {
  char buf[256];
  ssize_t n = lgetxattr(path.c_str(), name, buf, sizeof buf);
  return n < 0 ? "" : std::string(buf, static_cast<size_t>(n));
}

TEST_CASE("UnpackLayer keeps every file type with its metadata", "[images][layer]") {
  REQUIRE(geteuid() == 0);  // chown, mknod and trusted.* xattrs: the test runs as root here and in CI
  TempDir tmp;
  std::vector<Entry> entries = {Dir("./", 0755), Dir("bin/"), File("bin/tool", "#!/bin/sh\necho hi\n", 04755),
                                Symlink("bin/sh", "tool"), Symlink("abs", "/etc/passwd")};
  Entry owned = File("home/user/notes", "owned", 0600);
  owned.uid = 1000;
  owned.gid = 2000;
  owned.xattrs = {
      {"user.note", "hello"},
      {"trusted.minik", "t"},
      {"security.capability",
       std::string("\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", 20)}};
  entries.push_back(owned);
  Entry hl;
  hl.path = "bin/tool2";
  hl.hardlink = "bin/tool";
  entries.push_back(hl);
  Entry dev;
  dev.path = "dev/null";
  dev.type = AE_IFCHR;
  dev.mode = 0666;
  dev.rmajor = 1;
  dev.rminor = 3;
  entries.push_back(dev);
  Entry fifo;
  fifo.path = "run/fifo";
  fifo.type = AE_IFIFO;
  fifo.mode = 0620;
  entries.push_back(fifo);
  entries.push_back(Dir("tmp/", 01777));
  for (std::string filter : {"none", "gzip", "zstd"}) {
    INFO(filter);
    std::string blob = tmp / ("layer-" + filter);
    WriteTar(blob, entries, filter);
    std::string dest = tmp / ("out-" + filter);
    REQUIRE(mkdir(dest.c_str(), 0700) == 0);
    StatusOr<std::string> diff = UnpackLayer(blob, dest);
    REQUIRE(diff.ok());
    if (filter == "none") CHECK(*diff == *Sha256File(blob));
    struct stat st;
    REQUIRE(stat(dest.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0755);
    REQUIRE(lstat((dest + "/bin/tool").c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 04755);
    CHECK(st.st_nlink == 2);
    CHECK(st.st_mtime == 1700000000);
    ino_t ino = st.st_ino;
    REQUIRE(lstat((dest + "/bin/tool2").c_str(), &st) == 0);
    CHECK(st.st_ino == ino);
    char link[64] = {0};
    CHECK(readlink((dest + "/bin/sh").c_str(), link, sizeof link) == 4);
    CHECK(std::string(link) == "tool");
    CHECK(readlink((dest + "/abs").c_str(), link, sizeof link) == 11);
    REQUIRE(lstat((dest + "/home/user/notes").c_str(), &st) == 0);
    CHECK(st.st_uid == 1000);
    CHECK(st.st_gid == 2000);
    CHECK((st.st_mode & 07777) == 0600);
    CHECK(testing::ReadFile(dest + "/home/user/notes") == "owned");
    CHECK(Xattr(dest + "/home/user/notes", "user.note") == "hello");
    CHECK(Xattr(dest + "/home/user/notes", "trusted.minik") == "t");
    CHECK(Xattr(dest + "/home/user/notes", "security.capability").size() == 20);
    REQUIRE(lstat((dest + "/dev/null").c_str(), &st) == 0);
    CHECK(S_ISCHR(st.st_mode));
    CHECK(major(st.st_rdev) == 1);
    CHECK(minor(st.st_rdev) == 3);
    CHECK((st.st_mode & 0777) == 0666);
    REQUIRE(lstat((dest + "/run/fifo").c_str(), &st) == 0);
    CHECK(S_ISFIFO(st.st_mode));
    CHECK((st.st_mode & 0777) == 0620);
    REQUIRE(lstat((dest + "/tmp").c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 01777);
    CHECK(st.st_mtime == 1700000000);
  }
}

TEST_CASE("UnpackLayer translates OCI whiteouts to overlayfs ones", "[images][layer]") {
  REQUIRE(geteuid() == 0);
  TempDir tmp;
  WriteTar(tmp / "layer",
           {Dir("etc/"), File("etc/.wh.passwd", ""), Dir("var/"), Dir("var/cache/"), File("var/cache/.wh..wh..opq", ""),
            File("var/cache/new", "n"), File(".wh.home", ""), File("x/.wh..wh.plnk", "")});
  std::string dest = tmp / "out";
  REQUIRE(mkdir(dest.c_str(), 0755) == 0);
  REQUIRE(UnpackLayer(tmp / "layer", dest).ok());
  struct stat st;
  REQUIRE(lstat((dest + "/etc/passwd").c_str(), &st) == 0);
  CHECK(S_ISCHR(st.st_mode));
  CHECK(st.st_rdev == makedev(0, 0));
  REQUIRE(lstat((dest + "/home").c_str(), &st) == 0);
  CHECK(S_ISCHR(st.st_mode));
  CHECK(lstat((dest + "/etc/.wh.passwd").c_str(), &st) != 0);
  CHECK(Xattr(dest + "/var/cache", "trusted.overlay.opaque") == "y");
  CHECK(Xattr(dest + "/var", "trusted.overlay.opaque").empty());
  CHECK(lstat((dest + "/var/cache/.wh..wh..opq").c_str(), &st) != 0);
  CHECK(testing::ReadFile(dest + "/var/cache/new") == "n");
  CHECK(lstat((dest + "/x/.wh..wh.plnk").c_str(), &st) != 0);
}

TEST_CASE("UnpackLayer refuses paths escaping the layer", "[images][layer]") {
  TempDir tmp;
  // A whiteout through a symlink must not delete this file outside the layer.
  std::string canary_name = "minik-layer-canary-" + std::to_string(getpid());
  std::string canary = "/tmp/" + canary_name;
  REQUIRE(system(("touch " + canary).c_str()) == 0);
  struct Case {
    const char* what;
    std::vector<Entry> entries;
  };
  Entry hl;
  hl.path = "pwn";
  hl.hardlink = "../../etc/passwd";
  const Case cases[] = {
      {"dotdot", {File("../escape", "x")}},
      {"dotdot inside", {Dir("a/"), File("a/../../escape", "x")}},
      {"absolute symlink", {Symlink("etc", "/etc"), File("etc/escape", "x")}},
      {"relative symlink", {Symlink("up", "../.."), File("up/escape", "x")}},
      {"symlink whiteout", {Symlink("d", "/tmp"), File("d/.wh." + canary_name, "")}},
      {"hardlink", {hl}},
  };
  int n = 0;
  for (const auto& c : cases) {
    INFO(c.what);
    std::string blob = tmp / ("layer" + std::to_string(n));
    std::string dest = tmp / ("root" + std::to_string(n++)) + "/a/b";
    REQUIRE(system(("mkdir -p " + dest).c_str()) == 0);
    WriteTar(blob, c.entries);
    StatusOr<std::string> got = UnpackLayer(blob, dest);
    REQUIRE_FALSE(got.ok());
    CHECK(got.status().code() == Code::kInvalid);
    struct stat st;
    CHECK(lstat((dest + "/../escape").c_str(), &st) != 0);
    CHECK(lstat((dest + "/../../escape").c_str(), &st) != 0);
  }
  struct stat st;
  CHECK(lstat("/etc/escape", &st) != 0);
  CHECK(lstat(canary.c_str(), &st) == 0);
  unlink(canary.c_str());
}

TEST_CASE("UnpackLayer refuses what is not a tar layer", "[images][layer]") {
  TempDir tmp;
  testing::WriteFile(tmp / "junk", std::string(4096, 'x'));
  REQUIRE(mkdir((tmp / "out").c_str(), 0755) == 0);
  StatusOr<std::string> got = UnpackLayer(tmp / "junk", tmp / "out");
  REQUIRE_FALSE(got.ok());
  CHECK(got.status().code() == Code::kInvalid);
}

TEST_CASE("UnpackLayer takes the empty layer", "[images][layer]") {
  TempDir tmp;
  testing::WriteFile(tmp / "empty", std::string(1024, '\0'));  // what docker writes for an empty layer
  REQUIRE(mkdir((tmp / "out").c_str(), 0755) == 0);
  StatusOr<std::string> got = UnpackLayer(tmp / "empty", tmp / "out");
  REQUIRE(got.ok());
  CHECK(*got == "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef");
}

}  // namespace
}  // namespace minik::agent::images
