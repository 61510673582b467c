#include "agent/oci/user.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

using namespace minik;
using namespace minik::agent::oci;

namespace {

struct TempRootfs {
  std::string dir;
  TempRootfs() {
    char tmpl[] = "/tmp/minik-oci-user-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    dir = tmpl;
    std::filesystem::create_directories(dir + "/etc");
  }
  ~TempRootfs() { std::filesystem::remove_all(dir); }
  void Write(const std::string& rel, const std::string& text) { std::ofstream(dir + rel) << text; }
};

const char* kPasswd =
    "root:x:0:0:root:/root:/bin/sh\n"
    "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
    "# a comment\n"
    "\n"
    "app:x:1000:1000::/home/app:/bin/sh\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
const char* kGroup =
    "root:x:0:\n"
    "bin:x:1:root,daemon\n"
    "wheel:x:10:root\n"
    "app:x:1000:app\n"
    "video:x:44:app,daemon\n"
    "staff:x:50:\n"
    "nogroup:x:65534:\n";

std::string Describe(const StatusOr<ResolvedUser>& r) {
  if (!r.ok()) return "error: " + r.status().message();
  std::string s = std::to_string(r->uid) + ":" + std::to_string(r->gid) + " [";
  for (size_t i = 0; i < r->additional_gids.size(); ++i) {
    if (i) s += ",";
    s += std::to_string(r->additional_gids[i]);
  }
  return s + "]";
}

}  // namespace

TEST_CASE("user: ResolveUser table") {
  TempRootfs root;
  root.Write("/etc/passwd", kPasswd);
  root.Write("/etc/group", kGroup);
  struct Case {
    const char* user;
    const char* want;
  } cases[] = {
      {"", "0:0 [0]"},
      {"0", "0:0 [0]"},
      {"root", "0:0 [0]"},
      {"app", "1000:1000 [1000]"},
      {"1000", "1000:1000 [1000]"},
      {"4242", "4242:0 [0]"},  // unknown uid: gid 0
      {"nobody", "65534:65534 [65534]"},
      {"app:staff", "1000:50 [50]"},
      {"app:77", "1000:77 [77]"},
      {"1000:staff", "1000:50 [50]"},
      {"4242:4343", "4242:4343 [4343]"},
      {"ghost", "error: no users found"},
      {"ghost:staff", "error: no users found"},
      {"app:ghosts", "error: no groups found"},
      {"a:b:c", "error: invalid USER value a:b:c"},
      {"99999999999", "error: invalid USER value \"99999999999\": uid out of range"},
      {"1:99999999999", "error: invalid USER value \"1:99999999999\": gid out of range"},
      {"-1", "error: invalid USER value \"-1\": uid out of range"},
  };
  for (const auto& c : cases) {
    INFO("user " << c.user);
    CHECK(Describe(ResolveUser(root.dir, c.user)) == c.want);
  }
}

TEST_CASE("user: no passwd file") {
  TempRootfs root;
  CHECK(Describe(ResolveUser(root.dir, "1234")) == "1234:0 [0]");
  CHECK(Describe(ResolveUser(root.dir, "1234:5")) == "1234:5 [5]");
  CHECK(Describe(ResolveUser(root.dir, "app")) == "error: open /etc/passwd: no such file or directory");
  auto groups = SupplementaryGroups(root.dir, "0");
  REQUIRE(groups.ok());
  CHECK(groups->empty());
}

TEST_CASE("user: supplementary groups from /etc/group") {
  TempRootfs root;
  root.Write("/etc/passwd", kPasswd);
  root.Write("/etc/group", kGroup);
  auto g = SupplementaryGroups(root.dir, "0");
  REQUIRE(g.ok());
  CHECK(*g == std::vector<uint32_t>{1, 10});
  g = SupplementaryGroups(root.dir, "app");  // the group named app is skipped
  REQUIRE(g.ok());
  CHECK(*g == std::vector<uint32_t>{44});
  g = SupplementaryGroups(root.dir, "31337");  // unknown uid
  REQUIRE(g.ok());
  CHECK(g->empty());
}

TEST_CASE("user: ResolveContainerUser applies the kubelet's overrides") {
  TempRootfs root;
  root.Write("/etc/passwd", kPasswd);
  root.Write("/etc/group", kGroup);
  auto r = [&](const std::string& image_user, std::optional<int64_t> uid, std::optional<int64_t> gid,
               std::vector<int64_t> supp = {}) {
    return Describe(ResolveContainerUser(root.dir, image_user, uid, gid, supp));
  };
  CHECK(r("", {}, {}) == "0:0 [0,1,10]");  // busybox-like root: its groups
  CHECK(r("app", {}, {}) == "1000:1000 [44,1000]");
  CHECK(r("1000:50", {}, {}) == "1000:1000 [44,1000]");  // the image's group is dropped, as upstream
  CHECK(r("app", 0, {}) == "0:0 [0,1,10]");              // runAsUser wins
  CHECK(r("app", {}, 2000) == "1000:2000 [44,2000]");    // runAsGroup replaces the group
  CHECK(r("", 1234, 5678, {9, 9, 1}) == "1234:5678 [1,9,5678]");
  CHECK(r("nobody", {}, {}) == "65534:65534 [65534]");
  CHECK(r("ghost", {}, {}) == "error: no users found");
  CHECK(r("", {}, 1000) == "error: user group \"1000\" is specified without user");
}

TEST_CASE("user: files are read without leaving the rootfs") {
  TempRootfs outside;
  outside.Write("/etc/passwd", "evil:x:0:0::/:/bin/sh\n");
  TempRootfs root;
  // An absolute symlink and a relative one climbing above the root both stay inside it.
  REQUIRE(symlink((outside.dir + "/etc/passwd").c_str(), (root.dir + "/etc/passwd").c_str()) == 0);
  CHECK(Describe(ResolveUser(root.dir, "evil")) == "error: open /etc/passwd: no such file or directory");

  std::filesystem::create_directories(root.dir + "/real");
  root.Write("/real/group", "g:x:7:\n");
  REQUIRE(symlink("../../../../../../real/group", (root.dir + "/etc/group").c_str()) == 0);
  auto text = ReadFileInRoot(root.dir, "/etc/group");
  REQUIRE(text.ok());
  CHECK(*text == "g:x:7:\n");

  // A symlinked /etc directory resolves inside the root too.
  TempRootfs root2;
  std::filesystem::remove_all(root2.dir + "/etc");
  std::filesystem::create_directories(root2.dir + "/data/etc");
  root2.Write("/data/etc/passwd", "u:x:5:6::/:/bin/sh\n");
  REQUIRE(symlink("/data/etc", (root2.dir + "/etc").c_str()) == 0);
  CHECK(Describe(ResolveUser(root2.dir, "u")) == "5:6 [6]");
  auto resolved = ResolveInRoot(root2.dir, "/etc/passwd");
  REQUIRE(resolved.ok());
  CHECK(*resolved == root2.dir + "/data/etc/passwd");

  // Loops are an error, not a hang.
  REQUIRE(symlink("loop", (root2.dir + "/loop").c_str()) == 0);
  CHECK_FALSE(ReadFileInRoot(root2.dir, "/loop").ok());
}
