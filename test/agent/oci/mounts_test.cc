#include "agent/oci/mounts.h"

#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

using namespace minik;
using namespace minik::agent::oci;
namespace fs = std::filesystem;

namespace {

// Mount tests run as root in a private mount namespace of their own (the test thread's), so a
// crash leaves nothing mounted on the host. Returns false (and says why) when that is impossible.
bool PrivateMountNamespace() {
  if (geteuid() != 0) {
    WARN("skipped: mounting needs root");
    return false;
  }
  static bool done = false;
  if (done) return true;
  if (unshare(CLONE_NEWNS) != 0 || mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    WARN("skipped: cannot make a private mount namespace: " << strerror(errno));
    return false;
  }
  done = true;
  return true;
}

struct TempDir {
  std::string dir;
  explicit TempDir(const char* prefix = "/tmp/minik-oci-mnt-XXXXXX") {
    std::string t = prefix;
    REQUIRE(mkdtemp(t.data()) != nullptr);
    dir = t;
  }
  ~TempDir() {
    (void)UnmountAllUnder(dir);
    fs::remove_all(dir);
  }
};

std::string ReadAll(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

}  // namespace

TEST_CASE("mounts: mountinfo parsing") {
  auto infos = ParseMountInfo(
      "36 35 98:0 /mnt1 /mnt\\0402 rw,noatime master:1 shared:5 - ext3 /dev/root rw,errors=continue\n"
      "31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
      "40 30 0:37 / /x rw - tmpfs tmpfs\n"
      "garbage\n");
  REQUIRE(infos.size() == 3);
  CHECK(infos[0].id == 36);
  CHECK(infos[0].parent == 35);
  CHECK(infos[0].root == "/mnt1");
  CHECK(infos[0].mount_point == "/mnt 2");
  CHECK(infos[0].optional == "master:1 shared:5");
  CHECK(infos[0].fstype == "ext3");
  CHECK(infos[0].source == "/dev/root");
  CHECK(infos[0].super_options == "rw,errors=continue");
  CHECK(infos[1].super_options == "rw,cpu");
  CHECK(infos[2].super_options == "");
  auto self = ReadMountInfo();
  REQUIRE(self.ok());
  CHECK_FALSE(self->empty());
}

TEST_CASE("mounts: overlay option string") {
  CHECK(OverlayOptions({"/l2", "/l1"}, "/u", "/w", true) == "lowerdir=/l2:/l1,upperdir=/u,workdir=/w,index=off");
  CHECK(OverlayOptions({"/l2", "/l1"}, "", "", false) == "lowerdir=/l2:/l1");
}

TEST_CASE("mounts: tmpfs, bind, read-only bind, unmount") {
  if (!PrivateMountNamespace()) return;
  TempDir t;
  std::string tmpfs = t.dir + "/tmpfs";
  fs::create_directories(tmpfs);
  auto mp = IsMountPoint(tmpfs);
  REQUIRE(mp.ok());
  CHECK_FALSE(*mp);
  REQUIRE(MountTmpfs(tmpfs, 1 << 20, 0750).ok());
  mp = IsMountPoint(tmpfs);
  REQUIRE(mp.ok());
  CHECK(*mp);
  struct statvfs sv {};
  REQUIRE(statvfs(tmpfs.c_str(), &sv) == 0);
  CHECK(sv.f_blocks * sv.f_frsize == 1 << 20);
  CHECK((fs::status(tmpfs).permissions() & fs::perms::all) ==
        (fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec));
  WriteFile(tmpfs + "/f", "hello");

  std::string ro = t.dir + "/ro";
  std::string rw = t.dir + "/rw";
  fs::create_directories(ro);
  fs::create_directories(rw);
  REQUIRE(BindMount(tmpfs, ro, true, false).ok());
  REQUIRE(BindMount(tmpfs, rw, false, true).ok());
  CHECK(ReadAll(ro + "/f") == "hello");
  int fd = open((ro + "/g").c_str(), O_CREAT | O_WRONLY, 0644);
  CHECK(fd < 0);
  CHECK(errno == EROFS);
  WriteFile(rw + "/g", "via rw");
  CHECK(ReadAll(tmpfs + "/g") == "via rw");
  // The read-only remount kept nosuid and nodev of the tmpfs.
  REQUIRE(statvfs(ro.c_str(), &sv) == 0);
  CHECK((sv.f_flag & ST_RDONLY) != 0);
  CHECK((sv.f_flag & ST_NOSUID) != 0);
  CHECK((sv.f_flag & ST_NODEV) != 0);

  // Busy: a lazy unmount.
  int busy = open((rw + "/g").c_str(), O_RDONLY);
  REQUIRE(busy >= 0);
  CHECK(Unmount(rw).ok());
  close(busy);
  CHECK_FALSE(*IsMountPoint(rw));
  CHECK(Unmount(rw).ok());                         // not mounted: fine
  CHECK(Unmount(t.dir + "/does-not-exist").ok());  // absent: fine

  // Stacked and nested mounts all go, deepest first.
  fs::create_directories(tmpfs + "/nested");
  REQUIRE(MountTmpfs(tmpfs + "/nested", 0, 0755).ok());
  REQUIRE(MountTmpfs(ro, 0, 0755).ok());
  REQUIRE(UnmountAllUnder(t.dir).ok());
  auto infos = ReadMountInfo();
  REQUIRE(infos.ok());
  for (const auto& m : *infos) CHECK(m.mount_point.rfind(t.dir, 0) != 0);
}

TEST_CASE("mounts: overlay with an upper dir, read-only overlays") {
  if (!PrivateMountNamespace()) return;
  TempDir t;
  for (const char* d : {"/l1", "/l2", "/upper", "/work", "/merged", "/view", "/single"}) {
    fs::create_directories(t.dir + d);
  }
  WriteFile(t.dir + "/l1/a", "from l1");
  WriteFile(t.dir + "/l1/b", "b from l1");
  WriteFile(t.dir + "/l2/b", "b from l2");
  REQUIRE(MountOverlay({t.dir + "/l2", t.dir + "/l1"}, t.dir + "/upper", t.dir + "/work", t.dir + "/merged").ok());
  CHECK(ReadAll(t.dir + "/merged/a") == "from l1");
  CHECK(ReadAll(t.dir + "/merged/b") == "b from l2");  // top-most first
  WriteFile(t.dir + "/merged/c", "new");
  CHECK(ReadAll(t.dir + "/upper/c") == "new");
  CHECK_FALSE(fs::exists(t.dir + "/l1/c"));

  REQUIRE(MountOverlay({t.dir + "/l2", t.dir + "/l1"}, "", "", t.dir + "/view").ok());
  CHECK(ReadAll(t.dir + "/view/b") == "b from l2");
  CHECK(open((t.dir + "/view/x").c_str(), O_CREAT | O_WRONLY, 0644) < 0);

  REQUIRE(MountOverlay({t.dir + "/l1"}, "", "", t.dir + "/single").ok());  // one layer: ro bind
  CHECK(ReadAll(t.dir + "/single/a") == "from l1");
  CHECK(open((t.dir + "/single/x").c_str(), O_CREAT | O_WRONLY, 0644) < 0);

  CHECK_FALSE(MountOverlay({}, "", "", t.dir + "/view").ok());
  REQUIRE(UnmountAllUnder(t.dir).ok());
}

TEST_CASE("mounts: overlay options longer than a page use relative paths") {
  if (!PrivateMountNamespace()) return;
  TempDir t;
  std::string base = t.dir + "/" + std::string(200, 'd') + "/" + std::string(200, 'e');
  std::vector<std::string> layers;
  for (int i = 0; i < 20; ++i) {
    std::string l = base + "/layer" + std::to_string(i);
    fs::create_directories(l);
    WriteFile(l + "/f" + std::to_string(i), std::to_string(i));
    layers.push_back(l);
  }
  fs::create_directories(t.dir + "/upper");
  fs::create_directories(t.dir + "/work");
  fs::create_directories(t.dir + "/merged");
  CHECK(OverlayOptions(layers, t.dir + "/upper", t.dir + "/work", true).size() > 4096);
  REQUIRE(MountOverlay(layers, t.dir + "/upper", t.dir + "/work", t.dir + "/merged").ok());
  for (int i = 0; i < 20; ++i) CHECK(ReadAll(t.dir + "/merged/f" + std::to_string(i)) == std::to_string(i));

  // Too long even relative: an error that says so.
  std::vector<std::string> many;
  for (int i = 0; i < 20; ++i) many.push_back(base + "/" + std::string(250, 'x') + std::to_string(i));
  auto st = MountOverlay(many, "", "", t.dir + "/merged");
  CHECK_FALSE(st.ok());
  CHECK(st.message().find("even with relative paths") != std::string::npos);
  REQUIRE(UnmountAllUnder(t.dir).ok());
}
