#include "agent/oci/spec.h"

#include <algorithm>
#include <catch2/catch.hpp>

#include "common/json.h"

using namespace minik;
using namespace minik::agent::oci;

namespace {

JsonDoc Build(const ContainerSpec& s) {
  auto doc = ParseJson(BuildSpec(s));
  REQUIRE(doc.ok());
  return std::move(*doc);
}

std::vector<std::string> Strings(const JsonValue& arr) {
  std::vector<std::string> out;
  for (const auto& v : arr.GetArray()) out.emplace_back(v.GetString());
  return out;
}

ContainerSpec Basic() {
  ContainerSpec s;
  s.rootfs = "/var/lib/minik/agent/containers/abc/rootfs";
  s.args = {"sh", "-c", "echo hi"};
  s.host_nofile_hard = 20000;
  s.net_ns_path = "/run/netns/p1";
  s.ipc_ns_path = "/run/ipcns/p1";
  s.uts_ns_path = "/run/utsns/p1";
  s.hostname = "web-0";
  s.cgroups_path = "/kubepods/podp1/abc";
  return s;
}

const JsonValue* FindMount(const JsonDoc& d, const std::string& dst) {
  for (const auto& m : d["mounts"].GetArray()) {
    if (dst == m["destination"].GetString()) return &m;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("spec: defaults as containerd's CRI writes them") {
  auto d = Build(Basic());
  CHECK(std::string(d["ociVersion"].GetString()) == "1.0.2-dev");
  const auto& p = d["process"];
  CHECK(Strings(p["args"]) == std::vector<std::string>{"sh", "-c", "echo hi"});
  CHECK(
      Strings(p["env"]) ==
      std::vector<std::string>{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOSTNAME=web-0"});
  CHECK(std::string(p["cwd"].GetString()) == "/");
  CHECK(p["user"]["uid"].GetUint() == 0);
  CHECK_FALSE(p["noNewPrivileges"].GetBool());
  CHECK(Strings(p["capabilities"]["bounding"]) == DefaultCapabilities());
  CHECK(Strings(p["capabilities"]["effective"]) == DefaultCapabilities());
  CHECK(Strings(p["capabilities"]["permitted"]) == DefaultCapabilities());
  CHECK_FALSE(p["capabilities"].HasMember("ambient"));
  CHECK_FALSE(p["capabilities"].HasMember("inheritable"));
  CHECK(DefaultCapabilities().size() == 14);
  CHECK_FALSE(d.HasMember("hostname"));  // the pod's UTS namespace has it
  CHECK(std::string(d["root"]["path"].GetString()) == "/var/lib/minik/agent/containers/abc/rootfs");
  CHECK_FALSE(d["root"].HasMember("readonly"));

  std::vector<std::string> dsts;
  for (const auto& m : d["mounts"].GetArray()) dsts.emplace_back(m["destination"].GetString());
  CHECK(dsts ==
        std::vector<std::string>{"/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup"});
  CHECK(Strings((*FindMount(d, "/sys"))["options"]) == std::vector<std::string>{"nosuid", "noexec", "nodev", "ro"});
  CHECK(Strings((*FindMount(d, "/sys/fs/cgroup"))["options"]) ==
        std::vector<std::string>{"nosuid", "noexec", "nodev", "relatime", "ro"});
  CHECK(Strings((*FindMount(d, "/dev/shm"))["options"]) ==
        std::vector<std::string>{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"});

  const auto& l = d["linux"];
  CHECK(std::string(l["cgroupsPath"].GetString()) == "/kubepods/podp1/abc");
  CHECK(Strings(l["maskedPaths"]) == DefaultMaskedPaths());
  CHECK(Strings(l["readonlyPaths"]) == DefaultReadonlyPaths());
  CHECK(std::find(DefaultMaskedPaths().begin(), DefaultMaskedPaths().end(), "/proc/kcore") !=
        DefaultMaskedPaths().end());
  const auto& devs = l["resources"]["devices"].GetArray();
  REQUIRE(devs.Size() > 1);
  CHECK_FALSE(devs[0]["allow"].GetBool());
  CHECK(std::string(devs[0]["access"].GetString()) == "rwm");
  CHECK_FALSE(devs[0].HasMember("type"));
  bool null_allowed = false;
  for (const auto& r : devs) {
    if (r["allow"].GetBool() && r.HasMember("major") && r["major"].GetInt() == 1 && r["minor"].GetInt() == 3) {
      null_allowed = true;
    }
  }
  CHECK(null_allowed);
  CHECK_FALSE(l.HasMember("devices"));
  CHECK_FALSE(l.HasMember("sysctl"));
}

TEST_CASE("spec: namespaces join the pod's by path, new pid and mount") {
  auto d = Build(Basic());
  const auto& ns = d["linux"]["namespaces"].GetArray();
  std::vector<std::string> got;
  for (const auto& n : ns) {
    got.push_back(std::string(n["type"].GetString()) + "=" + (n.HasMember("path") ? n["path"].GetString() : ""));
  }
  CHECK(got ==
        std::vector<std::string>{"pid=", "ipc=/run/ipcns/p1", "uts=/run/utsns/p1", "mount=", "network=/run/netns/p1"});

  SECTION("hostNetwork and hostIPC stay in the host's namespaces") {
    ContainerSpec s = Basic();
    s.net_ns_path.clear();
    s.uts_ns_path.clear();
    s.ipc_ns_path.clear();
    auto h = Build(s);
    std::vector<std::string> types;
    for (const auto& n : h["linux"]["namespaces"].GetArray()) types.emplace_back(n["type"].GetString());
    CHECK(types == std::vector<std::string>{"pid", "mount"});
    CHECK_FALSE(h.HasMember("hostname"));
    // HOSTNAME is still in the environment.
    CHECK(Strings(h["process"]["env"]).back() == "HOSTNAME=web-0");
  }
  SECTION("cgroup v2 adds a cgroup namespace, not for privileged containers") {
    ContainerSpec s = Basic();
    s.cgroup_v2 = true;
    auto v2 = Build(s);
    CHECK(std::string(v2["linux"]["namespaces"].GetArray()[5]["type"].GetString()) == "cgroup");
    s.privileged = true;
    auto pv = Build(s);
    CHECK(pv["linux"]["namespaces"].GetArray().Size() == 5);
  }
  SECTION("shared process namespace") {
    ContainerSpec s = Basic();
    s.pid_ns_path = "/proc/42/ns/pid";
    auto sp = Build(s);
    CHECK(std::string(sp["linux"]["namespaces"].GetArray()[0]["path"].GetString()) == "/proc/42/ns/pid");
  }
}

TEST_CASE("spec: capabilities add and drop") {
  ContainerSpec s = Basic();
  auto caps = [&] { return Strings(Build(s)["process"]["capabilities"]["bounding"]); };

  s.cap_add = {"NET_ADMIN", "sys_time"};
  s.cap_drop = {"NET_RAW", "KILL"};
  auto c = caps();
  CHECK(std::find(c.begin(), c.end(), "CAP_NET_ADMIN") != c.end());
  CHECK(std::find(c.begin(), c.end(), "CAP_SYS_TIME") != c.end());
  CHECK(std::find(c.begin(), c.end(), "CAP_NET_RAW") == c.end());
  CHECK(std::find(c.begin(), c.end(), "CAP_KILL") == c.end());
  CHECK(c.size() == 14);

  s.cap_add = {"NET_BIND_SERVICE"};
  s.cap_drop = {"ALL"};
  CHECK(caps() == std::vector<std::string>{"CAP_NET_BIND_SERVICE"});

  s.cap_add = {};
  CHECK(caps().empty());

  s.cap_add = {"ALL"};
  s.cap_drop = {"CHOWN"};
  c = caps();
  auto all = AllCapabilities();
  CHECK(c.size() == all.size() - 1);
  CHECK(std::find(c.begin(), c.end(), "CAP_CHOWN") == c.end());
  CHECK(std::find(c.begin(), c.end(), "CAP_SYS_ADMIN") != c.end());
  CHECK(all.size() >= 38);
  CHECK(all[0] == "CAP_CHOWN");
  CHECK(all[21] == "CAP_SYS_ADMIN");
}

TEST_CASE("spec: privileged") {
  ContainerSpec s = Basic();
  s.privileged = true;
  s.cap_drop = {"ALL"};  // privileged wins, as in containerd
  s.devices = {Device{"/dev/sda", 'b', 8, 0, 0660, 0, 6}};
  auto d = Build(s);
  CHECK(Strings(d["process"]["capabilities"]["bounding"]) == AllCapabilities());
  CHECK_FALSE(d["linux"].HasMember("maskedPaths"));
  CHECK_FALSE(d["linux"].HasMember("readonlyPaths"));
  const auto& rules = d["linux"]["resources"]["devices"].GetArray();
  REQUIRE(rules.Size() == 1);
  CHECK(rules[0]["allow"].GetBool());
  CHECK(std::string(rules[0]["access"].GetString()) == "rwm");
  const auto& devs = d["linux"]["devices"].GetArray();
  REQUIRE(devs.Size() == 1);
  CHECK(std::string(devs[0]["path"].GetString()) == "/dev/sda");
  CHECK(std::string(devs[0]["type"].GetString()) == "b");
  CHECK(devs[0]["major"].GetInt() == 8);
  CHECK(devs[0]["fileMode"].GetUint() == 0660);
  CHECK(devs[0]["gid"].GetUint() == 6);
  CHECK(Strings((*FindMount(d, "/sys"))["options"]) == std::vector<std::string>{"nosuid", "noexec", "nodev", "rw"});
  CHECK(Strings((*FindMount(d, "/sys/fs/cgroup"))["options"]).back() == "rw");
}

TEST_CASE("spec: host devices for privileged containers") {
  auto devs = HostDevices();
  REQUIRE(devs.ok());
  bool null_found = false;
  for (const auto& d : *devs) {
    CHECK(d.path.rfind("/dev/", 0) == 0);
    CHECK(d.path.rfind("/dev/pts/", 0) != 0);
    if (d.path == "/dev/null") {
      null_found = true;
      CHECK(d.type == 'c');
      CHECK(d.major == 1);
      CHECK(d.minor == 3);
    }
  }
  CHECK(null_found);
}

TEST_CASE("spec: security settings, user, readonly rootfs, sysctls") {
  ContainerSpec s = Basic();
  s.readonly_rootfs = true;
  s.allow_privilege_escalation = false;
  s.uid = 1000;
  s.gid = 3000;
  s.additional_gids = {3000, 4000};
  s.terminal = true;
  s.cwd = "/work";
  s.sysctls = {{"net.ipv4.ip_unprivileged_port_start", "0"}};
  s.oom_score_adj = 1000;
  s.annotations = {{"io.kubernetes.cri.container-type", "container"}};
  auto d = Build(s);
  CHECK(d["root"]["readonly"].GetBool());
  CHECK(d["process"]["noNewPrivileges"].GetBool());
  CHECK(d["process"]["terminal"].GetBool());
  CHECK(std::string(d["process"]["cwd"].GetString()) == "/work");
  CHECK(d["process"]["user"]["uid"].GetUint() == 1000);
  CHECK(d["process"]["user"]["gid"].GetUint() == 3000);
  CHECK(d["process"]["user"]["additionalGids"].GetArray().Size() == 2);
  CHECK(d["process"]["oomScoreAdj"].GetInt() == 1000);
  CHECK(std::string(d["linux"]["sysctl"]["net.ipv4.ip_unprivileged_port_start"].GetString()) == "0");
  CHECK(std::string(d["annotations"]["io.kubernetes.cri.container-type"].GetString()) == "container");

  s.allow_privilege_escalation = true;
  CHECK_FALSE(Build(s)["process"]["noNewPrivileges"].GetBool());
}

TEST_CASE("spec: resources") {
  ContainerSpec s = Basic();
  s.resources.cpu_shares = 512;
  s.resources.cpu_quota = 50000;
  s.resources.cpu_period = 100000;
  s.resources.memory_limit = 64 << 20;
  s.resources.swap_equals_limit = true;
  s.resources.pids_limit = 100;
  auto d = Build(s);
  const auto& r = d["linux"]["resources"];
  CHECK(r["cpu"]["shares"].GetUint64() == 512);
  CHECK(r["cpu"]["quota"].GetInt64() == 50000);
  CHECK(r["cpu"]["period"].GetUint64() == 100000);
  CHECK(r["memory"]["limit"].GetInt64() == 64 << 20);
  CHECK(r["memory"]["swap"].GetInt64() == 64 << 20);
  CHECK(r["pids"]["limit"].GetInt64() == 100);

  ContainerSpec none = Basic();
  auto n = Build(none);
  CHECK(n["linux"]["resources"]["memory"].ObjectEmpty());
  CHECK(n["linux"]["resources"]["cpu"].ObjectEmpty());
  CHECK_FALSE(n["linux"]["resources"].HasMember("pids"));
}

TEST_CASE("spec: RLIMIT_NOFILE never above the host's hard limit") {
  ContainerSpec s = Basic();
  auto nofile = [&] {
    auto d = Build(s);
    const auto& rl = d["process"]["rlimits"].GetArray();
    REQUIRE(rl.Size() == 1);
    CHECK(std::string(rl[0]["type"].GetString()) == "RLIMIT_NOFILE");
    CHECK(rl[0]["soft"].GetUint64() == rl[0]["hard"].GetUint64());
    return rl[0]["hard"].GetUint64();
  };
  s.host_nofile_hard = 20000;
  CHECK(nofile() == 20000);
  s.host_nofile_hard = UINT64_MAX;
  CHECK(nofile() == 1048576);
  s.host_nofile_hard = 0;  // this host's
  CHECK(nofile() == std::min<uint64_t>(1048576, HostNofileHardLimit()));
  CHECK(ContainerNofileLimit(4096) == 4096);
}

TEST_CASE("spec: env merges like containerd") {
  ContainerSpec s = Basic();
  s.env = {"PATH=/bin", "A=1", "B=2", "A=3", "HOSTNAME=custom", "B"};
  auto env = Strings(Build(s)["process"]["env"]);
  CHECK(env == std::vector<std::string>{"PATH=/bin", "HOSTNAME=custom", "A=3"});
}

TEST_CASE("spec: mounts are sorted by depth and replace defaults") {
  ContainerSpec s = Basic();
  s.mounts = {BindMountEntry("/data/hosts", "/etc/hosts", false), BindMountEntry("/data/vol/a/b", "/var/lib/a/b", true),
              BindMountEntry("/data/shm", "/dev/shm", false), BindMountEntry("/data/vol/c", "/c", false),
              Mount{"/tmp/x", "tmpfs", "tmpfs", {"nosuid", "nodev", "size=1024"}}};
  auto d = Build(s);
  std::vector<std::string> dsts;
  for (const auto& m : d["mounts"].GetArray()) dsts.emplace_back(m["destination"].GetString());
  CHECK(dsts == std::vector<std::string>{"/proc", "/dev", "/dev/pts", "/dev/mqueue", "/sys", "/sys/fs/cgroup", "/c",
                                         "/etc/hosts", "/dev/shm", "/tmp/x", "/var/lib/a/b"});
  const auto* hosts = FindMount(d, "/etc/hosts");
  CHECK(std::string((*hosts)["type"].GetString()) == "bind");
  CHECK(std::string((*hosts)["source"].GetString()) == "/data/hosts");
  CHECK(Strings((*hosts)["options"]) == std::vector<std::string>{"rbind", "rprivate", "rw"});
  CHECK(Strings((*FindMount(d, "/var/lib/a/b"))["options"]).back() == "ro");

  SECTION("a /dev mount drops every default under /dev") {
    s.mounts = {BindMountEntry("/data/dev", "/dev", false)};
    auto dd = Build(s);
    std::vector<std::string> got;
    for (const auto& m : dd["mounts"].GetArray()) got.emplace_back(m["destination"].GetString());
    CHECK(got == std::vector<std::string>{"/proc", "/sys", "/sys/fs/cgroup", "/dev"});
  }
}
