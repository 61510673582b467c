// Cgroups over fake cgroup trees (plain directories described by a fake mountinfo): the v1
// hybrid layout of this machine and a pure v2 layout.
#include "agent/oci/cgroups.h"

#include <stdlib.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "agent/oci/mounts.h"

using namespace minik;
using namespace minik::agent::oci;
namespace fs = std::filesystem;

namespace {

struct FakeTree {
  std::string dir;
  explicit FakeTree(const std::string& mountinfo) {
    char tmpl[] = "/tmp/minik-oci-cg-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    dir = tmpl;
    Write("/mountinfo", mountinfo);
    for (const auto& m : ParseMountInfo(mountinfo)) fs::create_directories(dir + m.mount_point);
    Write("/meminfo", "MemTotal:       24683620 kB\nMemFree:        23735740 kB\n");
  }
  ~FakeTree() { fs::remove_all(dir); }
  void Write(const std::string& rel, const std::string& text) {
    fs::create_directories(fs::path(dir + rel).parent_path());
    std::ofstream(dir + rel) << text;
  }
  std::string Read(const std::string& rel) const {
    std::ifstream f(dir + rel);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }
  bool Exists(const std::string& rel) const { return fs::exists(dir + rel); }
  CgroupsPtr Open(const std::string& root = "/kubepods") {
    CgroupsOptions o;
    o.root = root;
    o.mountinfo_path = dir + "/mountinfo";
    o.meminfo_path = dir + "/meminfo";
    o.fs_prefix = dir;
    auto cg = NewCgroups(o);
    REQUIRE(cg.ok());
    return std::move(*cg);
  }
};

// This machine's layout.
const char* kHybrid =
    "30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "32 30 0:29 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n"
    "33 30 0:30 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset\n"
    "34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "35 30 0:32 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices\n"
    "38 30 0:35 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
    "39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd\n"
    "40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

const char* kV2 =
    "25 22 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 "
    "rw,nsdelegate,memory_recursiveprot\n";

}  // namespace

TEST_CASE("cgroups: conversions") {
  CHECK(CpuSharesToWeight(2) == 1);
  CHECK(CpuSharesToWeight(1024) == 39);
  CHECK(CpuSharesToWeight(262144) == 10000);
  CHECK(CpuSharesToWeight(0) == 0);
  CHECK(CpuWeightToShares(1) == 2);
  CHECK(CpuWeightToShares(10000) == 262144);
  CHECK(CpuWeightToShares(39) == 998);
  CHECK(MilliCpuToShares(0) == 2);
  CHECK(MilliCpuToShares(1) == 2);
  CHECK(MilliCpuToShares(100) == 102);
  CHECK(MilliCpuToShares(1000) == 1024);
  CHECK(MilliCpuToShares(1000000) == 262144);
  CHECK(MilliCpuToQuota(0, 100000) == 0);
  CHECK(MilliCpuToQuota(5, 100000) == 1000);
  CHECK(MilliCpuToQuota(250, 100000) == 25000);
}

TEST_CASE("cgroups: pod and container limits as the kubelet computes them") {
  ContainerResourceSpec a{100, 200, 0, 64 << 20};
  ContainerResourceSpec b{300, 500, 0, 128 << 20};
  CgroupLimits pod = PodLimits({a, b}, {});
  CHECK(pod.cpu_shares == MilliCpuToShares(400));
  CHECK(pod.cpu_quota == 70000);
  CHECK(pod.cpu_period == 100000);
  CHECK(pod.memory_limit == 192 << 20);

  // One container without a memory limit: no pod memory limit (Burstable).
  ContainerResourceSpec c{100, 100, 0, 0};
  pod = PodLimits({a, c}, {});
  CHECK(pod.memory_limit == 0);
  CHECK(pod.cpu_quota == 30000);

  // BestEffort.
  pod = PodLimits({ContainerResourceSpec{}}, {});
  CHECK(pod.cpu_shares == 2);
  CHECK(pod.cpu_quota == 0);
  CHECK(pod.memory_limit == 0);

  // A larger init container raises the pod's values.
  ContainerResourceSpec init{1000, 1000, 0, 512 << 20};
  pod = PodLimits({a}, {init});
  CHECK(pod.cpu_shares == 1024);
  CHECK(pod.memory_limit == 512 << 20);
  CHECK(pod.cpu_quota == 100000);

  CgroupLimits cl = ContainerLimits(ContainerResourceSpec{0, 500, 0, 1 << 30});
  CHECK(cl.cpu_shares == 512);  // from the limit when no request
  CHECK(cl.cpu_quota == 50000);
  CHECK(cl.cpu_period == 100000);
  CHECK(cl.memory_limit == 1 << 30);
  cl = ContainerLimits(ContainerResourceSpec{});
  CHECK(cl.cpu_shares == 2);
  CHECK(cl.cpu_quota == 0);
}

TEST_CASE("cgroups v1 (hybrid): paths, limits, stats, OOM kills, removal") {
  FakeTree t(kHybrid);
  t.Write("/sys/fs/cgroup/cpuset/cpuset.cpus", "0-1\n");
  t.Write("/sys/fs/cgroup/cpuset/cpuset.mems", "0\n");
  t.Write("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes", "9223372036854771712\n");
  auto cg = t.Open();
  CHECK_FALSE(cg->IsV2());
  CHECK(cg->SwapControllerAvailable());
  CHECK(cg->PodCgroupPath("u1") == "/kubepods/podu1");
  CHECK(cg->ContainerCgroupsPath("u1", "c1") == "/kubepods/podu1/c1");

  CgroupLimits l;
  l.cpu_shares = 512;
  l.cpu_quota = 50000;
  l.cpu_period = 100000;
  l.memory_limit = 128 << 20;
  l.pids_limit = 1024;
  Status created = cg->CreatePod("u1", l);
  INFO(created.ToString());
  REQUIRE(created.ok());
  for (const char* h : {"cpu", "cpuacct", "cpuset", "memory", "devices", "pids", "systemd", "unified"}) {
    INFO(h);
    CHECK(t.Exists(std::string("/sys/fs/cgroup/") + h + "/kubepods/podu1"));
  }
  CHECK(t.Read("/sys/fs/cgroup/cpu/kubepods/podu1/cpu.shares") == "512");
  CHECK(t.Read("/sys/fs/cgroup/cpu/kubepods/podu1/cpu.cfs_quota_us") == "50000");
  CHECK(t.Read("/sys/fs/cgroup/cpu/kubepods/podu1/cpu.cfs_period_us") == "100000");
  CHECK(t.Read("/sys/fs/cgroup/memory/kubepods/podu1/memory.limit_in_bytes") == std::to_string(128 << 20));
  CHECK(t.Read("/sys/fs/cgroup/pids/kubepods/podu1/pids.max") == "1024");
  // cpuset directories inherit cpus and mems.
  CHECK(t.Read("/sys/fs/cgroup/cpuset/kubepods/cpuset.cpus") == "0-1\n");
  CHECK(t.Read("/sys/fs/cgroup/cpuset/kubepods/podu1/cpuset.mems") == "0\n");
  // Nothing written to the unified hierarchy of a hybrid host.
  CHECK_FALSE(t.Exists("/sys/fs/cgroup/unified/kubepods/podu1/cpu.max"));

  // Updating limits of an existing pod.
  l.memory_limit = 256 << 20;
  REQUIRE(cg->CreatePod("u1", l).ok());
  CHECK(t.Read("/sys/fs/cgroup/memory/kubepods/podu1/memory.limit_in_bytes") == std::to_string(256 << 20));

  // Stats: the runtime created the container's cgroups.
  t.Write("/sys/fs/cgroup/cpuacct/kubepods/podu1/c1/cpuacct.usage", "123456789\n");
  t.Write("/sys/fs/cgroup/memory/kubepods/podu1/c1/memory.usage_in_bytes", "10000000\n");
  t.Write("/sys/fs/cgroup/memory/kubepods/podu1/c1/memory.stat",
          "cache 100\ninactive_file 5\ntotal_rss 7000000\ntotal_inactive_file 3000000\n");
  t.Write("/sys/fs/cgroup/memory/kubepods/podu1/c1/memory.oom_control",
          "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
  auto st = cg->ContainerStats("u1", "c1");
  REQUIRE(st.ok());
  CHECK(st->cpu_usage_ns == 123456789);
  CHECK(st->memory_usage_bytes == 10000000);
  CHECK(st->memory_working_set_bytes == 7000000);
  CHECK(st->memory_rss_bytes == 7000000);
  auto ooms = cg->ContainerOomKills("u1", "c1");
  REQUIRE(ooms.ok());
  CHECK(*ooms == 2);
  // Inactive file above usage: working set 0, not an underflow.
  t.Write("/sys/fs/cgroup/memory/kubepods/podu1/memory.usage_in_bytes", "100\n");
  t.Write("/sys/fs/cgroup/memory/kubepods/podu1/memory.stat", "total_inactive_file 200\n");
  auto ps = cg->PodStats("u1");
  REQUIRE(ps.ok());
  CHECK(ps->memory_working_set_bytes == 0);
  CHECK(cg->ContainerStats("u1", "nope").status().IsNotFound());
  CHECK_FALSE(cg->ContainerOomKills("u1", "nope").ok());

  REQUIRE(cg->CreatePod("u2", CgroupLimits{}).ok());
  t.Write("/sys/fs/cgroup/pids/kubepods/podorphan/x", "");  // present in one hierarchy only
  auto pods = cg->ListPods();
  REQUIRE(pods.ok());
  CHECK(*pods == std::vector<std::string>{"orphan", "u1", "u2"});

  REQUIRE(cg->RemovePod("u1").ok());
  for (const char* h : {"cpu", "cpuacct", "cpuset", "memory", "devices", "pids", "systemd", "unified"}) {
    INFO(h);
    CHECK_FALSE(t.Exists(std::string("/sys/fs/cgroup/") + h + "/kubepods/podu1"));
  }
  CHECK(cg->RemovePod("u1").ok());  // idempotent
  REQUIRE(cg->RemovePod("orphan").ok());
  pods = cg->ListPods();
  REQUIRE(pods.ok());
  CHECK(*pods == std::vector<std::string>{"u2"});
  REQUIRE(cg->RemoveRoot().ok());
  CHECK_FALSE(t.Exists("/sys/fs/cgroup/memory/kubepods"));

  auto cap = cg->GetNodeCapacity();
  REQUIRE(cap.ok());
  CHECK(cap->memory_bytes == 24683620ull * 1024);
  CHECK(cap->cpus >= 1);
}

TEST_CASE("cgroups v2: controllers enabled along the path, limits, stats") {
  FakeTree t(kV2);
  t.Write("/sys/fs/cgroup/cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n");
  t.Write("/sys/fs/cgroup/cgroup.subtree_control", "");
  // What the kernel would show in the new children (the fake tree does not populate them).
  t.Write("/sys/fs/cgroup/minik/kubepods/cgroup.controllers", "cpuset cpu io memory hugetlb pids\n");
  t.Write("/sys/fs/cgroup/minik/kubepods/cgroup.subtree_control", "");
  t.Write("/sys/fs/cgroup/minik/cgroup.controllers", "cpu memory pids\n");
  t.Write("/sys/fs/cgroup/minik/cgroup.subtree_control", "cpu\n");
  t.Write("/sys/fs/cgroup/minik/kubepods/memory.swap.max", "max\n");
  auto cg = t.Open("/minik/kubepods/");
  CHECK(cg->IsV2());
  CHECK(cg->SwapControllerAvailable());
  CHECK(cg->ContainerCgroupsPath("u1", "c1") == "/minik/kubepods/podu1/c1");

  CgroupLimits l;
  l.cpu_shares = 1024;
  l.cpu_quota = 150000;
  l.cpu_period = 100000;
  l.memory_limit = 64 << 20;
  l.pids_limit = 50;
  REQUIRE(cg->CreatePod("u1", l).ok());
  // Every available wanted controller enabled at each level; rdma and misc are left alone.
  CHECK(t.Read("/sys/fs/cgroup/cgroup.subtree_control") == "+cpuset\n+cpu\n+io\n+memory\n+hugetlb\n+pids\n");
  CHECK(t.Read("/sys/fs/cgroup/minik/cgroup.subtree_control") == "cpu\n+memory\n+pids\n");
  CHECK(t.Read("/sys/fs/cgroup/minik/kubepods/cgroup.subtree_control") ==
        "+cpuset\n+cpu\n+io\n+memory\n+hugetlb\n+pids\n");
  std::string pod = "/sys/fs/cgroup/minik/kubepods/podu1";
  CHECK(t.Read(pod + "/cpu.weight") == "39");
  CHECK(t.Read(pod + "/cpu.max") == "150000 100000");
  CHECK(t.Read(pod + "/memory.max") == std::to_string(64 << 20));
  CHECK(t.Read(pod + "/pids.max") == "50");

  CgroupLimits unlimited;
  unlimited.cpu_quota = -1;
  unlimited.cpu_period = 100000;
  REQUIRE(cg->CreatePod("u1", unlimited).ok());
  CHECK(t.Read(pod + "/cpu.max") == "max 100000");

  t.Write(pod + "/c1/cpu.stat", "usage_usec 2500\nuser_usec 2000\nsystem_usec 500\n");
  t.Write(pod + "/c1/memory.current", "8000\n");
  t.Write(pod + "/c1/memory.stat", "anon 4000\nfile 3000\ninactive_file 1000\nactive_file 2000\n");
  t.Write(pod + "/c1/memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\noom_group_kill 0\n");
  auto st = cg->ContainerStats("u1", "c1");
  REQUIRE(st.ok());
  CHECK(st->cpu_usage_ns == 2500000);
  CHECK(st->memory_usage_bytes == 8000);
  CHECK(st->memory_working_set_bytes == 7000);
  CHECK(st->memory_rss_bytes == 4000);
  auto ooms = cg->ContainerOomKills("u1", "c1");
  REQUIRE(ooms.ok());
  CHECK(*ooms == 1);

  auto pods = cg->ListPods();
  REQUIRE(pods.ok());
  CHECK(*pods == std::vector<std::string>{"u1"});
  REQUIRE(cg->RemovePod("u1").ok());
  CHECK_FALSE(t.Exists(pod));
}

TEST_CASE("cgroups: no cgroup filesystem") {
  FakeTree t("22 1 0:21 / /proc rw - proc proc rw\n");
  CgroupsOptions o;
  o.mountinfo_path = t.dir + "/mountinfo";
  o.fs_prefix = t.dir;
  auto cg = NewCgroups(o);
  CHECK_FALSE(cg.ok());
}

TEST_CASE("cgroups: this machine's layout is detected") {
  auto cg = NewCgroups(CgroupsOptions{});
  if (!cg.ok()) {
    WARN("no cgroups mounted here: " << cg.status().ToString());
    return;
  }
  auto cap = (*cg)->GetNodeCapacity();
  REQUIRE(cap.ok());
  CHECK(cap->cpus >= 1);
  CHECK(cap->memory_bytes > (64u << 20));
}
