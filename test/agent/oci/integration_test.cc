// The OS side of a pod for real, as root: a pod cgroup under a test-specific root, the pod's
// namespaces, a busybox rootfs as overlayfs, config.json from BuildSpec, run by runc.
//
// Hermetic: the test runs in a private mount namespace of its own (all its mounts vanish with it),
// its cgroups live under "/minik-test-<random>" and are removed, runc keeps its state in a temp
// dir, the containers run in the pod's network namespace, never the host's.
#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "agent/oci/cgroups.h"
#include "agent/oci/mounts.h"
#include "agent/oci/namespaces.h"
#include "agent/oci/spec.h"
#include "common/strings.h"

using namespace minik;
using namespace minik::agent::oci;
namespace fs = std::filesystem;

namespace {

std::string FindRunc() {
  const char* path = getenv("PATH");
  for (auto dir : Split(path ? path : "/usr/sbin:/usr/bin:/sbin:/bin", ':')) {
    std::string p = std::string(dir) + "/runc";
    if (access(p.c_str(), X_OK) == 0) return p;
  }
  for (const char* p : {"/usr/sbin/runc", "/usr/bin/runc", "/usr/local/sbin/runc", "/usr/local/bin/runc"}) {
    if (access(p, X_OK) == 0) return p;
  }
  return "";
}

// Why these tests cannot run here, or "" when they can.
std::string Unavailable() {
  if (geteuid() != 0) return "needs root";
  if (FindRunc().empty()) return "runc is not installed";
  if (access("/bin/busybox", X_OK) != 0) return "/bin/busybox (busybox-static) is not installed";
  return "";
}

bool PrivateMountNamespace() {
  static bool done = false;
  if (done) return true;
  if (unshare(CLONE_NEWNS) != 0 || mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return false;
  done = true;
  return true;
}

struct CmdResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

// Runs argv with stdin closed (/dev/null), collecting its output; killed after timeout_s.
CmdResult Run(const std::vector<std::string>& argv, int timeout_s = 30) {
  CmdResult r;
  int pipefd[2];
  REQUIRE(pipe2(pipefd, O_CLOEXEC) == 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    int null = open("/dev/null", O_RDONLY);
    dup2(null, 0);
    dup2(pipefd[1], 1);
    dup2(pipefd[1], 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  close(pipefd[1]);
  // Read until the child exits (not until EOF: `runc create` hands its stdio to the container,
  // which keeps the pipe open).
  fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  char buf[4096];
  int status = 0;
  bool exited = false;
  auto drain = [&] {
    ssize_t n;
    while ((n = read(pipefd[0], buf, sizeof(buf))) > 0) r.output.append(buf, static_cast<size_t>(n));
  };
  while (!exited) {
    struct pollfd p {
      pipefd[0], POLLIN, 0
    };
    poll(&p, 1, 20);
    drain();
    exited = waitpid(pid, &status, WNOHANG) == pid;
    if (!exited && std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      r.output += "\n[timed out]";
      exited = true;
    }
  }
  drain();
  close(pipefd[0]);
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) r.exit_code = 128 + WTERMSIG(status);
  return r;
}

std::string RandomHex(int n) {
  std::random_device rd;
  std::mt19937_64 gen(rd());
  std::string out;
  const char* hex = "0123456789abcdef";
  for (int i = 0; i < n; ++i) out.push_back(hex[gen() % 16]);
  return out;
}

std::string ReadAll(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The temp dir: whatever is mounted below it is unmounted, then it is removed.
struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/minik-oci-it-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    (void)UnmountAllUnder(path);
    fs::remove_all(path);
  }
};

// Everything the test creates, torn down in the destructors even when a check fails.
struct PodFixture {
  TempDir tmp_dir;  // first: destroyed last
  std::string tmp = tmp_dir.path;
  std::string runc = FindRunc();
  std::string runc_root = tmp + "/runc";
  std::string lower = tmp + "/layers/busybox";
  std::string run_dir = tmp + "/run";
  std::string pod_uid = "pod-" + RandomHex(8);
  std::string cgroup_root = "/minik-test-" + RandomHex(8);
  CgroupsPtr cgroups;
  PodNamespaces ns;
  std::vector<std::string> containers;

  PodFixture() {
    fs::create_directories(runc_root);
    for (const char* d : {"bin", "proc", "dev", "sys", "etc", "tmp"}) fs::create_directories(lower + "/" + d);
    fs::copy_file("/bin/busybox", lower + "/bin/busybox");
    for (const char* applet : {"sh", "cat", "hostname", "dd", "sleep", "echo", "ls", "id"}) {
      fs::create_symlink("busybox", lower + "/bin/" + applet);
    }
    std::ofstream(lower + "/etc/passwd") << "root:x:0:0:root:/root:/bin/sh\n";
    std::ofstream(lower + "/etc/group") << "root:x:0:\n";

    CgroupsOptions o;
    o.root = cgroup_root;
    auto cg = NewCgroups(o);
    REQUIRE(cg.ok());
    cgroups = std::move(*cg);
  }

  ~PodFixture() {
    for (const auto& id : containers) Run({runc, "--root", runc_root, "delete", "--force", id}, 10);
    (void)UnmountAllUnder(tmp);
    (void)RemovePodNamespaces(run_dir, pod_uid);
    if (cgroups) {
      Status st = cgroups->RemoveRoot();
      if (!st.ok()) WARN("removing test cgroups: " << st.ToString());
    }
  }

  // A bundle with an overlay rootfs over the busybox layer and config.json for `spec`.
  std::string Bundle(const std::string& id, ContainerSpec spec) {
    std::string b = tmp + "/bundles/" + id;
    for (const char* d : {"/rootfs", "/upper", "/work"}) fs::create_directories(b + d);
    REQUIRE(MountOverlay({lower}, b + "/upper", b + "/work", b + "/rootfs").ok());
    spec.rootfs = b + "/rootfs";
    spec.cgroups_path = cgroups->ContainerCgroupsPath(pod_uid, id);
    spec.net_ns_path = ns.net;
    spec.ipc_ns_path = ns.ipc;
    spec.uts_ns_path = ns.uts;
    spec.cgroup_v2 = cgroups->IsV2();
    spec.resources.swap_equals_limit = cgroups->SwapControllerAvailable();
    std::ofstream(b + "/config.json") << BuildSpec(spec);
    containers.push_back(id);
    return b;
  }
};

}  // namespace

TEST_CASE("integration: a pod's containers under runc") {
  std::string why = Unavailable();
  if (!why.empty()) {
    WARN("skipped: " << why);
    return;
  }
  REQUIRE(PrivateMountNamespace());
  PodFixture f;

  CgroupLimits pod_limits;
  pod_limits.cpu_shares = 512;
  pod_limits.memory_limit = 128 << 20;
  pod_limits.pids_limit = 256;
  REQUIRE(f.cgroups->CreatePod(f.pod_uid, pod_limits).ok());
  auto pods = f.cgroups->ListPods();
  REQUIRE(pods.ok());
  CHECK(*pods == std::vector<std::string>{f.pod_uid});

  PodNamespaceOptions nso;
  nso.run_dir = f.run_dir;
  nso.pod_uid = f.pod_uid;
  nso.hostname = "test-pod";
  auto ns = CreatePodNamespaces(nso);
  REQUIRE(ns.ok());
  f.ns = *ns;

  SECTION("hostname, network namespace, memory limit, nofile") {
    ContainerSpec s;
    std::string limit_file =
        f.cgroups->IsV2() ? "/sys/fs/cgroup/memory.max" : "/sys/fs/cgroup/memory/memory.limit_in_bytes";
    s.args = {"/bin/sh", "-c",
              "hostname; cat /proc/net/dev; echo limit=$(cat " + limit_file + "); ulimit -n; echo $HOSTNAME"};
    s.resources.memory_limit = 32 << 20;
    s.env = {"HOSTNAME=from-env"};
    std::string id = "minik-test-" + RandomHex(12);
    std::string bundle = f.Bundle(id, s);
    auto r = Run({f.runc, "--root", f.runc_root, "run", "--bundle", bundle, id});
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    auto lines = Split(r.output, '\n');
    REQUIRE(lines.size() > 3);
    CHECK(lines[0] == "test-pod");  // the pod's UTS namespace
    std::vector<std::string> ifaces;
    std::string limit, nofile;
    for (size_t i = 1; i < lines.size(); ++i) {
      std::string_view l = lines[i];
      if (l.rfind("limit=", 0) == 0) {
        limit = std::string(l.substr(6));
        if (i + 1 < lines.size()) nofile = std::string(lines[i + 1]);
        break;
      }
      size_t colon = l.find(':');
      if (colon != std::string_view::npos && l.find('|') == std::string_view::npos) {
        ifaces.emplace_back(Trim(l.substr(0, colon)));
      }
    }
    CHECK(ifaces == std::vector<std::string>{"lo"});  // only loopback: not the host's network
    CHECK(limit == std::to_string(32 << 20));
    CHECK(nofile == std::to_string(ContainerNofileLimit(HostNofileHardLimit())));
    CHECK(r.output.find("from-env") != std::string::npos);
    f.containers.pop_back();  // runc run deleted it
  }

  SECTION("exit code") {
    ContainerSpec s;
    s.args = {"/bin/sh", "-c", "exit 3"};
    std::string id = "minik-test-" + RandomHex(12);
    std::string bundle = f.Bundle(id, s);
    auto r = Run({f.runc, "--root", f.runc_root, "run", "--bundle", bundle, id});
    INFO(r.output);
    CHECK(r.exit_code == 3);
    f.containers.pop_back();
  }

  SECTION("OOM kill seen through the container cgroup's counter") {
    ContainerSpec s;
    s.args = {"/bin/dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"};
    s.resources.memory_limit = 16 << 20;
    std::string id = "minik-test-" + RandomHex(12);
    std::string bundle = f.Bundle(id, s);
    // create + start (not run): the cgroup must outlive the process to be read.
    auto c = Run({f.runc, "--root", f.runc_root, "create", "--bundle", bundle, id});
    INFO(c.output);
    REQUIRE(c.exit_code == 0);
    auto st = Run({f.runc, "--root", f.runc_root, "start", id});
    INFO(st.output);
    REQUIRE(st.exit_code == 0);
    bool stopped = false;
    for (int i = 0; i < 500 && !stopped; ++i) {
      auto state = Run({f.runc, "--root", f.runc_root, "state", id});
      stopped = state.output.find("\"status\": \"stopped\"") != std::string::npos;
      if (!stopped) usleep(20000);
    }
    REQUIRE(stopped);
    auto kills = f.cgroups->ContainerOomKills(f.pod_uid, id);
    REQUIRE(kills.ok());
    CHECK(*kills >= 1);
    auto stats = f.cgroups->ContainerStats(f.pod_uid, id);
    REQUIRE(stats.ok());
    CHECK(stats->cpu_usage_ns > 0);
    auto pod_stats = f.cgroups->PodStats(f.pod_uid);
    REQUIRE(pod_stats.ok());
    CHECK(pod_stats->cpu_usage_ns >= stats->cpu_usage_ns);
    auto d = Run({f.runc, "--root", f.runc_root, "delete", id});
    INFO(d.output);
    CHECK(d.exit_code == 0);
    f.containers.pop_back();
  }

  SECTION("a running container is killed and its cgroups removed with the pod") {
    ContainerSpec s;
    s.args = {"/bin/sleep", "1000"};
    std::string id = "minik-test-" + RandomHex(12);
    std::string bundle = f.Bundle(id, s);
    REQUIRE(Run({f.runc, "--root", f.runc_root, "create", "--bundle", bundle, id}).exit_code == 0);
    REQUIRE(Run({f.runc, "--root", f.runc_root, "start", id}).exit_code == 0);
    auto t0 = std::chrono::steady_clock::now();
    REQUIRE(f.cgroups->RemovePod(f.pod_uid).ok());
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(3));
    auto left = f.cgroups->ListPods();
    REQUIRE(left.ok());
    CHECK(left->empty());
  }

  // The pod cgroup carries the pod's limits.
  if (!f.cgroups->IsV2()) {
    auto infos = ReadMountInfo();
    REQUIRE(infos.ok());
    for (const auto& m : *infos) {
      if (m.fstype == "cgroup" && m.super_options.find("memory") != std::string::npos &&
          fs::exists(m.mount_point + f.cgroups->PodCgroupPath(f.pod_uid))) {
        CHECK(ReadAll(m.mount_point + f.cgroups->PodCgroupPath(f.pod_uid) + "/memory.limit_in_bytes") ==
              std::to_string(128 << 20) + "\n");
      }
    }
  }
}

TEST_CASE("integration: pod namespaces") {
  std::string why = Unavailable();
  if (!why.empty()) {
    WARN("skipped: " << why);
    return;
  }
  REQUIRE(PrivateMountNamespace());
  char tmpl[] = "/tmp/minik-oci-ns-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  std::string run_dir = tmpl;
  struct Cleanup {
    std::string dir;
    ~Cleanup() {
      for (const auto& uid : ListPodNamespaces(dir)) (void)RemovePodNamespaces(dir, uid);
      (void)UnmountAllUnder(dir);
      fs::remove_all(dir);
    }
  } cleanup{run_dir};

  PodNamespaceOptions o;
  o.run_dir = run_dir;
  o.pod_uid = "u1";
  o.hostname = "h1";
  auto ns = CreatePodNamespaces(o);
  REQUIRE(ns.ok());
  CHECK(ns->net == run_dir + "/netns/u1");
  CHECK(ns->ipc == run_dir + "/ipcns/u1");
  CHECK(ns->uts == run_dir + "/utsns/u1");
  struct stat before {};
  REQUIRE(stat(ns->net.c_str(), &before) == 0);
  struct stat host {};
  REQUIRE(stat("/proc/self/ns/net", &host) == 0);
  CHECK(before.st_ino != host.st_ino);  // a namespace of its own

  // The directories are private mounts.
  auto infos = ReadMountInfo();
  REQUIRE(infos.ok());
  bool private_dir = false;
  for (const auto& m : *infos) {
    if (m.mount_point == run_dir + "/netns") private_dir = m.optional.find("shared:") == std::string::npos;
  }
  CHECK(private_dir);

  // Again: the same namespaces.
  auto again = CreatePodNamespaces(o);
  REQUIRE(again.ok());
  struct stat after {};
  REQUIRE(stat(again->net.c_str(), &after) == 0);
  CHECK(after.st_ino == before.st_ino);

  // Inside: only lo, up, and reachable.
  std::vector<std::string> names;
  bool connected = false;
  Status st = RunInNetns(ns->net, [&] {
    struct if_nameindex* ifs = if_nameindex();
    for (auto* i = ifs; i && i->if_name; ++i) names.emplace_back(i->if_name);
    if (ifs) if_freenameindex(ifs);
    int l = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (bind(l, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 && listen(l, 1) == 0 &&
        getsockname(l, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
      int c = socket(AF_INET, SOCK_STREAM, 0);
      connected = connect(c, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
      close(c);
    }
    close(l);
  });
  REQUIRE(st.ok());
  CHECK(names == std::vector<std::string>{"lo"});
  CHECK(connected);
  CHECK_FALSE(RunInNetns(run_dir + "/netns/nope", [] {}).ok());

  // Host network and IPC: no namespaces.
  PodNamespaceOptions h = o;
  h.pod_uid = "u2";
  h.host_network = true;
  h.host_ipc = true;
  auto hns = CreatePodNamespaces(h);
  REQUIRE(hns.ok());
  CHECK(hns->net.empty());
  CHECK(hns->uts.empty());
  CHECK(hns->ipc.empty());

  CHECK(ListPodNamespaces(run_dir) == std::vector<std::string>{"u1"});
  REQUIRE(RemovePodNamespaces(run_dir, "u1").ok());
  CHECK_FALSE(fs::exists(ns->net));
  CHECK_FALSE(fs::exists(ns->uts));
  CHECK(RemovePodNamespaces(run_dir, "u1").ok());  // idempotent
  CHECK(ListPodNamespaces(run_dir).empty());
  CHECK_FALSE(CreatePodNamespaces(PodNamespaceOptions{run_dir, "../x", "", false, false}).ok());
}
