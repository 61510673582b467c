// Real containers: runc with busybox bundles built here, shims run as in production (the
// shim embedded in the runtime library, executed from a memfd). Needs root and runc (both
// present on the development machine and in CI; the tests say why they skip otherwise).
#include "agent/runtime/runc_runtime.h"

#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <random>
#include <thread>

#include "agent/runtime/cri_log.h"
#include "agent/runtime/process.h"
#include "agent/runtime/shim.h"
#include "common/json.h"

namespace minik::agent::runtime {
namespace {

using namespace std::chrono_literals;

std::string NewId() {
  static std::mt19937_64 rng{std::random_device{}()};
  static const char kHex[] = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < 64; ++i) s.push_back(kHex[rng() % 16]);
  return s;
}

std::string Why() {
  if (geteuid() != 0) return "not root";
  if (internal::FindExecutable("runc").empty()) return "runc not on PATH";
  if (access("/bin/busybox", X_OK) != 0) return "no /bin/busybox (busybox-static)";
  return "";
}

#define REQUIRE_RUNC()          \
  do {                          \
    std::string why = Why();    \
    if (!why.empty()) {         \
      WARN("skipped: " << why); \
      return;                   \
    }                           \
  } while (0)

// A loop on its own thread, a runtime on it, busybox bundles, and a cleanup
// that leaves nothing.
class Env {
 public:
  Env() {
    char tmpl[] = "/tmp/minik-runtime-XXXXXX";
    dir_ = mkdtemp(tmpl);
    cgroup_parent_ = "minik-runtime-test-" + std::to_string(getpid());
    mkdir((dir_ + "/rootfs").c_str(), 0755);
    for (const char* d : {"/rootfs/bin", "/rootfs/proc", "/rootfs/dev", "/rootfs/sys", "/rootfs/tmp", "/logs"}) {
      mkdir((dir_ + d).c_str(), 0755);
    }
    internal::Run({"/bin/cp", "/bin/busybox", dir_ + "/rootfs/bin/busybox"}, 10000).status().ok();
    for (const char* a : {"sh", "echo", "sleep", "cat", "head", "tr", "stty", "ls", "true", "wc"}) {
      symlink("busybox", (dir_ + "/rootfs/bin/" + a).c_str());
    }
    auto spec =
        internal::Run({"/bin/sh", "-c", "cd " + dir_ + " && runc spec && cat config.json && rm config.json"}, 10000);
    if (spec.ok()) base_config_ = spec->output;
    thread_ = std::thread([this] { loop_.Run(); });
    NewRuntime();
  }

  ~Env() {
    OnLoop([this] { rt_.reset(); });
    // Whatever a failed test left: containers, shims, state, cgroups.
    for (const auto& id : ids_) {
      internal::Run({internal::FindExecutable("runc"), "--root", dir_ + "/runc", "delete", "--force", id}, 10000)
          .status()
          .ok();
      auto shim = internal::ReadFile(dir_ + "/state/" + id + "/" + kShimPidFile);
      if (shim.ok() && std::atoi(shim->c_str()) > 0) kill(std::atoi(shim->c_str()), SIGKILL);
    }
    loop_.Stop();
    thread_.join();
    internal::RemoveTree(dir_);
    if (DIR* d = opendir("/sys/fs/cgroup")) {
      while (struct dirent* e = readdir(d)) {
        if (e->d_name[0] == '.') continue;
        rmdir(("/sys/fs/cgroup/" + std::string(e->d_name) + "/" + cgroup_parent_).c_str());
      }
      closedir(d);
    }
    rmdir(("/sys/fs/cgroup/" + cgroup_parent_).c_str());
  }

  template <typename F>
  auto OnLoop(F f) -> decltype(f()) {
    std::packaged_task<decltype(f())()> task(std::move(f));
    auto fut = task.get_future();
    loop_.Post([&task] { task(); });
    return fut.get();
  }

  // runtime: the OCI runtime binary ("" = runc).
  void NewRuntime(const std::string& runtime = "", int max_parallel_starts = 8) {
    OnLoop([this, runtime, max_parallel_starts] {
      RuncOptions o;
      if (!runtime.empty()) o.runtime = runtime;
      o.max_parallel_starts = max_parallel_starts;
      o.runtime_root = dir_ + "/runc";
      o.state_root = dir_ + "/state";
      rt_ = NewRuncRuntime(loop_, pool_, o);
      rt_->OnExit([this](const ContainerStatus& cs) {
        std::lock_guard<std::mutex> l(mu_);
        exits_.push_back(cs);
        cv_.notify_all();
      });
    });
  }
  void DropRuntime() {
    OnLoop([this] { rt_.reset(); });
  }

  // A bundle whose process runs args; returns its dir.
  std::string Bundle(const std::string& id, const std::vector<std::string>& args, bool tty = false,
                     int64_t memory_limit = 0, const std::string& termination_file = "") {
    auto doc = ParseJson(base_config_);
    REQUIRE(doc.ok());
    auto& a = doc->GetAllocator();
    JsonValue& process = (*doc)["process"];
    process["terminal"] = tty;
    JsonValue argv(rapidjson::kArrayType);
    for (const auto& s : args) argv.PushBack(MakeString(s, a), a);
    process["args"] = argv;
    (*doc)["root"]["path"] = MakeString(dir_ + "/rootfs", a);
    (*doc)["root"]["readonly"] = true;
    if (!termination_file.empty()) {
      JsonValue m(rapidjson::kObjectType);
      SetString(m, "destination", "/dev/termination-log", a);
      SetString(m, "type", "bind", a);
      SetString(m, "source", termination_file, a);
      JsonValue opts(rapidjson::kArrayType);
      opts.PushBack("rbind", a).PushBack("rw", a);
      m.AddMember("options", opts, a);
      (*doc)["mounts"].PushBack(m, a);
    }
    JsonValue& linux = (*doc)["linux"];
    SetString(linux, "cgroupsPath", "/" + cgroup_parent_ + "/" + id.substr(0, 12), a);
    if (memory_limit > 0) {
      JsonValue& res = EnsureObject(linux, "resources", a);
      JsonValue mem(rapidjson::kObjectType);
      mem.AddMember("limit", JsonValue(static_cast<int64_t>(memory_limit)), a);
      mem.AddMember("swap", JsonValue(static_cast<int64_t>(memory_limit)), a);
      SetMember(res, "memory", std::move(mem), a);
    }
    std::string bdir = dir_ + "/bundles/" + id;
    internal::Run({"/bin/mkdir", "-p", bdir}, 5000).status().ok();
    REQUIRE(internal::WriteFileAtomic(bdir + "/config.json", ToJson(*doc)).ok());
    return bdir;
  }

  Status Start(const std::string& id, const std::vector<std::string>& args, StartRequest extra = {},
               int64_t memory_limit = 0) {
    ids_.push_back(id);
    StartRequest req = std::move(extra);
    req.id = id;
    req.bundle_dir = Bundle(id, args, req.tty, memory_limit, req.termination_message_path);
    req.log_path = LogPath(id);
    req.labels = {{"io.kubernetes.container.name", "c"}};
    std::promise<Status> p;
    auto f = p.get_future();
    loop_.Post([&] { rt_->Start(req, [&](Status s) { p.set_value(std::move(s)); }); });
    if (f.wait_for(30s) != std::future_status::ready) return Status::Timeout("Start did not finish");
    return f.get();
  }

  // Starts the containers with one call each, all posted at once.
  std::vector<Status> StartAll(const std::vector<std::string>& ids, const std::vector<std::string>& args) {
    std::vector<StartRequest> reqs;
    for (const auto& id : ids) {
      ids_.push_back(id);
      StartRequest req;
      req.id = id;
      req.bundle_dir = Bundle(id, args);
      req.log_path = LogPath(id);
      reqs.push_back(std::move(req));
    }
    std::vector<std::promise<Status>> ps(reqs.size());
    loop_.Post([&] {
      for (size_t i = 0; i < reqs.size(); ++i) rt_->Start(reqs[i], [&ps, i](Status s) { ps[i].set_value(std::move(s)); });
    });
    std::vector<Status> out;
    for (auto& p : ps) {
      auto f = p.get_future();
      out.push_back(f.wait_for(60s) == std::future_status::ready ? f.get() : Status::Timeout("Start did not finish"));
    }
    return out;
  }

  std::string LogPath(const std::string& id) { return dir_ + "/logs/" + id.substr(0, 8) + ".log"; }

  Status Call(std::function<void(Runtime&, std::function<void(Status)>)> fn) {
    std::promise<Status> p;
    auto f = p.get_future();
    loop_.Post([&] { fn(*rt_, [&](Status s) { p.set_value(std::move(s)); }); });
    if (f.wait_for(30s) != std::future_status::ready) return Status::Timeout("call did not finish");
    return f.get();
  }
  Status Kill(const std::string& id, int sig) {
    return Call([&](Runtime& r, auto done) { r.Kill(id, sig, done); });
  }
  Status Remove(const std::string& id) {
    return Call([&](Runtime& r, auto done) { r.Remove(id, done); });
  }
  std::optional<ContainerStatus> Get(const std::string& id) {
    return OnLoop([&] { return rt_->Get(id); });
  }
  std::vector<ContainerStatus> List() {
    return OnLoop([&] { return rt_->List(); });
  }
  StatusOr<ExecResult> ExecSync(ExecRequest req) {
    std::promise<StatusOr<ExecResult>> p;
    auto f = p.get_future();
    loop_.Post([&] { rt_->ExecSync(req, [&](StatusOr<ExecResult> r) { p.set_value(std::move(r)); }); });
    if (f.wait_for(30s) != std::future_status::ready) return Status::Timeout("ExecSync did not finish");
    return f.get();
  }
  StatusOr<ExecProcessPtr> Exec(ExecRequest req) {
    std::promise<StatusOr<ExecProcessPtr>> p;
    auto f = p.get_future();
    loop_.Post([&] { rt_->Exec(req, [&](StatusOr<ExecProcessPtr> r) { p.set_value(std::move(r)); }); });
    if (f.wait_for(30s) != std::future_status::ready) return Status::Timeout("Exec did not finish");
    return f.get();
  }
  StatusOr<ExecProcessPtr> Attach(const std::string& id, bool stdin = true) {
    std::promise<StatusOr<ExecProcessPtr>> p;
    auto f = p.get_future();
    loop_.Post([&] { rt_->Attach(id, stdin, [&](StatusOr<ExecProcessPtr> r) { p.set_value(std::move(r)); }); });
    if (f.wait_for(30s) != std::future_status::ready) return Status::Timeout("Attach did not finish");
    return f.get();
  }
  StatusOr<int> Wait(ExecProcess& proc) {
    std::promise<StatusOr<int>> p;
    auto f = p.get_future();
    loop_.Post([&] { proc.Wait([&](StatusOr<int> r) { p.set_value(std::move(r)); }); });
    if (f.wait_for(30s) != std::future_status::ready) return Status::Timeout("Wait did not finish");
    return f.get();
  }
  void Destroy(ExecProcessPtr p) {
    OnLoop([&] { p.reset(); });
  }

  std::optional<ContainerStatus> WaitExit(const std::string& id, std::chrono::milliseconds timeout = 20s) {
    std::unique_lock<std::mutex> l(mu_);
    std::optional<ContainerStatus> found;
    cv_.wait_for(l, timeout, [&] {
      for (const auto& e : exits_) {
        if (e.id == id) found = e;
      }
      return found.has_value();
    });
    return found;
  }
  int ExitCount(const std::string& id) {
    std::lock_guard<std::mutex> l(mu_);
    int n = 0;
    for (const auto& e : exits_) n += e.id == id;
    return n;
  }

  const std::string& dir() const { return dir_; }
  std::string RuncList() {
    auto r = internal::Run({internal::FindExecutable("runc"), "--root", dir_ + "/runc", "list", "-q"}, 10000);
    if (!r.ok()) return "?";
    if (!r->output.empty()) WARN("runc list: " << r->output);
    return r->output;
  }

 private:
  std::string dir_;
  std::string cgroup_parent_;
  std::string base_config_;
  std::vector<std::string> ids_;
  http::Loop loop_;
  WorkPool pool_{2};
  std::thread thread_;
  RuntimePtr rt_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<ContainerStatus> exits_;
};

// Reads fd until `want` shows up in what was read (or the deadline passes).
std::string ReadUntil(int fd, const std::string& want, std::chrono::milliseconds timeout = 10s) {
  std::string got;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (got.find(want) == std::string::npos) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[4096];
    ssize_t r = read(fd, buf, sizeof buf);
    if (r <= 0) break;
    got.append(buf, static_cast<size_t>(r));
  }
  return got;
}

bool WriteAll(int fd, const std::string& s) { return write(fd, s.data(), s.size()) == static_cast<ssize_t>(s.size()); }

TEST_CASE(
    "a container runs to its exit: status, OnExit and both streams in "
    "the CRI log") {
  REQUIRE_RUNC();
  Env env;
  std::string id = NewId();
  auto t0 = std::chrono::steady_clock::now();
  Status st = env.Start(id, {"sh", "-c", "echo out; echo err >&2; exit 3"});
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  REQUIRE(st.ok());
  WARN("Start() to running: " << ms << " ms");
  auto exit = env.WaitExit(id);
  REQUIRE(exit);
  CHECK(exit->state == ContainerStatus::State::kExited);
  CHECK(exit->exit_code == 3);
  CHECK(exit->signal == 0);
  CHECK(exit->reason == "Error");
  CHECK(exit->started_ns > 0);
  CHECK(exit->finished_ns >= exit->started_ns);
  CHECK(exit->created_ns <= exit->started_ns);
  CHECK(exit->labels.at("io.kubernetes.container.name") == "c");
  CHECK(exit->log_path == env.LogPath(id));

  auto got = env.Get(id);
  REQUIRE(got);
  CHECK(got->state == ContainerStatus::State::kExited);
  CHECK(got->exit_code == 3);

  auto log = internal::ReadFile(env.LogPath(id));
  REQUIRE(log.ok());
  CHECK(log->find(" stdout F out\n") != std::string::npos);
  CHECK(log->find(" stderr F err\n") != std::string::npos);
  int64_t ts = 0;
  CHECK(ParseRFC3339Nano(log->substr(0, log->find(' ')), &ts));
  CHECK(ts >= exit->started_ns - 1000000000);
  LogReadOptions only_err;
  only_err.stream = "stderr";
  CHECK(*ReadCriLog(env.LogPath(id), only_err) == "err\n");

  REQUIRE(env.Remove(id).ok());
  CHECK_FALSE(env.Get(id));
  CHECK(env.RuncList().empty());
  CHECK(access(env.LogPath(id).c_str(), F_OK) == 0);  // the log stays
  CHECK(env.ExitCount(id) == 1);
}

TEST_CASE(
    "containers outlive the runtime object; a new one adopts them and "
    "still sees their exit") {
  REQUIRE_RUNC();
  Env env;
  std::string id = NewId();
  std::string done_id = NewId();
  REQUIRE(env.Start(id, {"sh", "-c", "trap 'exit 143' TERM; echo started; sleep 1000 & wait"}).ok());
  auto before = env.Get(id);
  REQUIRE(before);
  CHECK(before->state == ContainerStatus::State::kRunning);
  CHECK(before->pid > 0);
  auto shim_pid = internal::ReadFile(env.dir() + "/state/" + id + "/" + kShimPidFile);
  REQUIRE(shim_pid.ok());
  int shim = std::atoi(shim_pid->c_str());
  CHECK(getsid(shim) == shim);  // its own session, away from the agent's process group
  CHECK(getpgid(shim) != getpgid(0));

  // It is the small embedded shim (its footprint is measured by test/bench/run_agent_bench.sh rss), not the minik binary or this test.
  char exe[256] = {};
  CHECK(readlink(("/proc/" + std::to_string(shim) + "/exe").c_str(), exe, sizeof exe - 1) > 0);
  CHECK(std::string(exe).find("memfd:minik-shim") != std::string::npos);

  env.DropRuntime();  // the agent "crashes"
  // A container that exits while no agent runs is reported to the next one.
  REQUIRE(kill(shim, 0) == 0);
  env.NewRuntime();
  REQUIRE(env.Start(done_id, {"true"}).ok());
  REQUIRE(env.WaitExit(done_id));
  env.DropRuntime();
  env.NewRuntime();
  auto done_exit = env.WaitExit(done_id);
  REQUIRE(done_exit);
  CHECK(done_exit->reason == "Completed");

  auto list = env.List();
  bool found = false;
  for (const auto& c : list) {
    if (c.id != id) continue;
    found = true;
    CHECK(c.state == ContainerStatus::State::kRunning);
    CHECK(c.pid == before->pid);
    CHECK(c.started_ns == before->started_ns);
  }
  CHECK(found);
  CHECK(kill(before->pid, 0) == 0);

  REQUIRE(env.Kill(id, SIGTERM).ok());
  auto exit = env.WaitExit(id);
  REQUIRE(exit);
  CHECK(exit->exit_code == 143);
  CHECK(exit->reason == "Error");
  CHECK(env.ExitCount(id) == 1);
  CHECK(*ReadCriLog(env.LogPath(id), {}) == "started\n");
  CHECK(env.Kill(id, SIGKILL).ok());  // an exited container: nothing to do
  REQUIRE(env.Remove(id).ok());
  REQUIRE(env.Remove(done_id).ok());
  CHECK(env.RuncList().empty());
  CHECK(env.List().empty());
}

TEST_CASE("a container that cannot start reports the OCI runtime's error") {
  REQUIRE_RUNC();
  Env env;
  std::string id = NewId();
  Status st = env.Start(id, {"nope"});
  REQUIRE_FALSE(st.ok());
  CHECK(st.message() ==
        "failed to create containerd task: failed to create shim task: OCI "
        "runtime create failed: runc create "
        "failed: unable to start container process: exec: \"nope\": executable "
        "file not found in $PATH: unknown");
  auto got = env.Get(id);
  REQUIRE(got);
  CHECK(got->state == ContainerStatus::State::kExited);
  CHECK(got->exit_code == 128);
  CHECK(got->reason == "StartError");
  CHECK(env.ExitCount(id) == 0);  // Start reported it
  CHECK(env.Start(id, {"true"}).IsAlreadyExists());
  REQUIRE(env.Remove(id).ok());
  CHECK(env.RuncList().empty());
  CHECK(env.Kill(id, SIGKILL).IsNotFound());
}

TEST_CASE("ExecSync: output, exit code, errors and timeouts") {
  REQUIRE_RUNC();
  Env env;
  std::string id = NewId();
  REQUIRE(env.Start(id, {"sleep", "1000"}).ok());

  ExecRequest req;
  req.container_id = id;
  req.argv = {"sh", "-c", "echo hello; echo oops >&2; exit 4"};
  auto r = env.ExecSync(req);
  REQUIRE(r.ok());
  CHECK(r->exit_code == 4);
  // runc copies the two streams separately: their order is not kept (nor is it
  // by containerd).
  CHECK((r->output == "hello\noops\n" || r->output == "oops\nhello\n"));

  req.argv = {"sh", "-c", "head -c 20000 /dev/zero | tr '\\0' x"};
  r = env.ExecSync(req);
  REQUIRE(r.ok());
  CHECK(r->exit_code == 0);
  CHECK(r->output == std::string(10 * 1024, 'x'));

  req.argv = {"nope"};
  r = env.ExecSync(req);
  REQUIRE_FALSE(r.ok());
  // The exec ID in the message: 64 hex characters, as containerd's.
  std::string m = r.status().message();
  size_t q = m.find("failed to start exec \"");
  REQUIRE(q != std::string::npos);
  std::string exec_id = m.substr(q + 22, m.find('"', q + 22) - q - 22);
  CHECK(exec_id.size() == 64);
  CHECK(exec_id.find_first_not_of("0123456789abcdef") == std::string::npos);
  CHECK(r.status().message().find("OCI runtime exec failed: exec failed: unable to start container "
                                  "process: exec: "
                                  "\"nope\": executable file not found in $PATH: unknown") != std::string::npos);

  req.argv = {"sleep", "30"};
  req.timeout_ms = 300;
  auto t0 = std::chrono::steady_clock::now();
  r = env.ExecSync(req);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kTimeout);
  CHECK(r.status().message() == "command \"sleep 30\" timed out");
  CHECK(ms < 5000);
  // The timed-out process was killed: only the container's own sleep is left.
  req.timeout_ms = 0;
  req.argv = {"sh", "-c", "cat /proc/[0-9]*/stat"};
  r = env.ExecSync(req);
  REQUIRE(r.ok());
  CHECK(r->output.find(") Z ") == std::string::npos);              // no zombie either
  CHECK(r->output.find("(sleep)") == r->output.rfind("(sleep)"));  // only the container's sleep

  REQUIRE(env.Kill(id, SIGKILL).ok());
  auto exit = env.WaitExit(id);
  REQUIRE(exit);
  CHECK(exit->exit_code == 137);
  CHECK(exit->signal == SIGKILL);
  req.argv = {"true"};
  r = env.ExecSync(req);
  CHECK(r.status().message() == "container is in CONTAINER_EXITED state");
  REQUIRE(env.Remove(id).ok());
}

TEST_CASE("interactive exec with a terminal and with pipes") {
  REQUIRE_RUNC();
  Env env;
  std::string id = NewId();
  REQUIRE(env.Start(id, {"sleep", "1000"}).ok());

  ExecRequest req;
  req.container_id = id;
  req.argv = {"sh"};
  req.tty = true;
  req.stdin = true;
  auto p = env.Exec(req);
  REQUIRE(p.ok());
  ExecProcessPtr proc = std::move(*p);
  CHECK(proc->stderr_fd() == -1);
  env.OnLoop([&] {
    proc->Resize(100, 30);
    return 0;
  });
  CHECK(ReadUntil(proc->stdout_fd(), "# ").find("# ") != std::string::npos);  // the prompt
  REQUIRE(WriteAll(proc->stdin_fd(), "sleep 0.3; stty size; echo hi; exit 5\n"));
  std::string out = ReadUntil(proc->stdout_fd(), "hi\r");
  INFO("terminal output: " << out);
  CHECK(out.find("30 100") != std::string::npos);
  // Lines end in "\r\n", now and then (1 run in ~50 under load) in "\r\r\n": the output passes
  // through two terminals (the container's, and the one runc proxies it to) and in some runs
  // both translate newlines (cause not pinned down). A terminal shows both the same.
  std::string lines = out;
  std::erase(lines, '\r');
  CHECK(lines.find("\nhi\n") != std::string::npos);
  CHECK(out.find("hi\r") != std::string::npos);
  auto code = env.Wait(*proc);
  REQUIRE(code.ok());
  CHECK(*code == 5);
  env.Destroy(std::move(proc));

  req.tty = false;
  req.argv = {"sh", "-c", "cat; echo done >&2"};
  p = env.Exec(req);
  REQUIRE(p.ok());
  proc = std::move(*p);
  REQUIRE(WriteAll(proc->stdin_fd(), "abc\n"));
  env.OnLoop([&] {
    proc->CloseStdin();
    return 0;
  });
  CHECK(ReadUntil(proc->stdout_fd(), "abc\n") == "abc\n");
  CHECK(ReadUntil(proc->stderr_fd(), "done\n") == "done\n");
  code = env.Wait(*proc);
  REQUIRE(code.ok());
  CHECK(*code == 0);
  env.Destroy(std::move(proc));

  REQUIRE(env.Kill(id, SIGKILL).ok());
  REQUIRE(env.WaitExit(id));
  REQUIRE(env.Remove(id).ok());
}

TEST_CASE("attach receives a container's output and its exit; stdin reaches it") {
  REQUIRE_RUNC();
  Env env;
  std::string id = NewId();
  StartRequest extra;
  extra.stdin = true;
  REQUIRE(env.Start(id,
                    {"sh", "-c",
                     "i=0; while [ $i -lt 600 ]; do echo tick $i; i=$((i+1)); "
                     "sleep 0.1; done"},
                    extra)
              .ok());
  auto a = env.Attach(id);
  REQUIRE(a.ok());
  ExecProcessPtr att = std::move(*a);
  std::string got = ReadUntil(att->stdout_fd(), "\n");
  got += ReadUntil(att->stdout_fd(), "\n");
  CHECK(got.find("tick ") != std::string::npos);
  CHECK(att->stderr_fd() >= 0);
  CHECK(att->stdin_fd() >= 0);
  env.Destroy(std::move(att));

  // stdin: a container reading it.
  std::string cat_id = NewId();
  REQUIRE(env.Start(cat_id, {"sh", "-c", "read line; echo got $line; exit 9"}, extra).ok());
  a = env.Attach(cat_id);
  REQUIRE(a.ok());
  att = std::move(*a);
  REQUIRE(WriteAll(att->stdin_fd(), "hello\n"));
  CHECK(ReadUntil(att->stdout_fd(), "got hello\n") == "got hello\n");
  auto code = env.Wait(*att);
  REQUIRE(code.ok());
  CHECK(*code == 9);
  env.Destroy(std::move(att));

  // A terminal: everything is stdout, "\r\n" becomes a plain line in the log.
  std::string tty_id = NewId();
  StartRequest tty;
  tty.tty = true;
  tty.stdin = true;
  REQUIRE(env.Start(tty_id, {"sh", "-c", "echo a; echo b >&2; read x; echo x=$x; exit 2"}, tty).ok());
  a = env.Attach(tty_id);
  REQUIRE(a.ok());
  att = std::move(*a);
  CHECK(att->stderr_fd() == -1);
  REQUIRE(WriteAll(att->stdin_fd(), "yo\n"));
  code = env.Wait(*att);
  REQUIRE(code.ok());
  CHECK(*code == 2);
  env.Destroy(std::move(att));
  auto log = internal::ReadFile(env.LogPath(tty_id));
  REQUIRE(log.ok());
  CHECK(log->find(" stdout F a\n") != std::string::npos);
  CHECK(log->find(" stdout F b\n") != std::string::npos);
  CHECK(log->find(" stdout F x=yo\n") != std::string::npos);
  CHECK(log->find("stderr") == std::string::npos);

  REQUIRE(env.Kill(id, SIGKILL).ok());
  REQUIRE(env.WaitExit(id));
  for (const auto& c : {id, cat_id, tty_id}) REQUIRE(env.Remove(c).ok());
  CHECK(env.RuncList().empty());
}

TEST_CASE("exec with a terminal: raw before runc runs, at the client's size from the start") {
  REQUIRE_RUNC();
  Env env;
  // runc, through a wrapper that records the terminal runc exec is given (its stdin).
  std::string wrapper = env.dir() + "/runc-wrapper";
  std::string seen = env.dir() + "/exec-terminal.txt";
  REQUIRE(internal::WriteFileAtomic(wrapper, "#!/bin/sh\ncase \" $* \" in *\" exec \"*) stty -a > " + seen +
                                                 " 2>&1 ;; esac\nexec " + internal::FindExecutable("runc") +
                                                 " \"$@\"\n")
              .ok());
  REQUIRE(chmod(wrapper.c_str(), 0755) == 0);
  env.NewRuntime(wrapper);
  std::string id = NewId();
  REQUIRE(env.Start(id, {"sleep", "1000"}).ok());

  ExecRequest req;
  req.container_id = id;
  req.argv = {"sh", "-c", "sleep 0.3; stty size"};
  req.tty = true;
  req.stdin = true;
  req.cols = 77;
  req.rows = 23;
  auto p = env.Exec(req);
  REQUIRE(p.ok());
  ExecProcessPtr proc = std::move(*p);
  std::string out = ReadUntil(proc->stdout_fd(), "23 77");
  CHECK(out.find("23 77") != std::string::npos);  // no Resize call: the size came with the request
  auto code = env.Wait(*proc);
  REQUIRE(code.ok());
  CHECK(*code == 0);
  env.Destroy(std::move(proc));
  auto tio = internal::ReadFile(seen);
  REQUIRE(tio.ok());
  INFO(*tio);
  CHECK(tio->find("rows 23; columns 77") != std::string::npos);
  CHECK(tio->find("-echo ") != std::string::npos);  // nothing typed early is echoed back
  CHECK(tio->find("-icanon") != std::string::npos);

  REQUIRE(env.Kill(id, SIGKILL).ok());
  REQUIRE(env.WaitExit(id));
  REQUIRE(env.Remove(id).ok());
}

TEST_CASE("starts beyond max_parallel_starts wait their turn, then all run") {
  REQUIRE_RUNC();
  Env env;
  // runc through a wrapper that logs when each `run` begins and ends.
  std::string wrapper = env.dir() + "/runc-wrapper";
  std::string calls = env.dir() + "/runs.txt";
  REQUIRE(internal::WriteFileAtomic(wrapper, "#!/bin/sh\ncase \" $* \" in *\" run \"*) echo b >> " + calls +
                                                 " ;; esac\n" + internal::FindExecutable("runc") +
                                                 " \"$@\"\nrc=$?\ncase \" $* \" in *\" run \"*) echo e >> " + calls +
                                                 " ;; esac\nexit $rc\n")
              .ok());
  REQUIRE(chmod(wrapper.c_str(), 0755) == 0);
  env.NewRuntime(wrapper, 1);
  std::vector<std::string> ids = {NewId(), NewId(), NewId()};
  for (const Status& st : env.StartAll(ids, {"sleep", "1000"})) CHECK(st.ok());
  auto log = internal::ReadFile(calls);
  REQUIRE(log.ok());
  CHECK(*log == "b\ne\nb\ne\nb\ne\n");  // one at a time
  for (const auto& id : ids) {
    REQUIRE(env.Kill(id, SIGKILL).ok());
    REQUIRE(env.WaitExit(id));
    REQUIRE(env.Remove(id).ok());
  }
}

TEST_CASE("attach without stdin leaves a stdinOnce container's stdin open") {
  REQUIRE_RUNC();
  Env env;
  std::string id = NewId();
  StartRequest extra;
  extra.stdin = true;
  extra.stdin_once = true;
  REQUIRE(env.Start(id, {"sh", "-c", "read x; echo got=$x"}, extra).ok());
  auto a = env.Attach(id, /*stdin=*/false);
  REQUIRE(a.ok());
  ExecProcessPtr att = std::move(*a);
  CHECK(att->stdin_fd() == -1);
  env.Destroy(std::move(att));  // detaches
  a = env.Attach(id, /*stdin=*/true);
  REQUIRE(a.ok());
  att = std::move(*a);
  REQUIRE(att->stdin_fd() >= 0);
  REQUIRE(WriteAll(att->stdin_fd(), "yo\n"));
  CHECK(ReadUntil(att->stdout_fd(), "\n") == "got=yo\n");
  auto code = env.Wait(*att);
  REQUIRE(code.ok());
  CHECK(*code == 0);
  env.Destroy(std::move(att));
  REQUIRE(env.WaitExit(id));
  REQUIRE(env.Remove(id).ok());
}

TEST_CASE("termination messages: the file, else the log's tail with FallbackToLogsOnError") {
  REQUIRE_RUNC();
  Env env;
  auto run = [&](const std::string& script, bool fallback) -> std::optional<ContainerStatus> {
    std::string id = NewId();
    StartRequest extra;
    extra.termination_message_path = env.dir() + "/tm-" + id.substr(0, 8);
    REQUIRE(internal::WriteFileAtomic(extra.termination_message_path, "").ok());
    extra.termination_message_fallback_to_logs = fallback;
    REQUIRE(env.Start(id, {"sh", "-c", script}, extra).ok());
    auto exit = env.WaitExit(id);
    REQUIRE(env.Remove(id).ok());
    return exit;
  };
  // The file, whatever the policy and the exit code; its last 4096 bytes.
  auto e = run("echo -n bye > /dev/termination-log; exit 1", false);
  REQUIRE(e);
  CHECK(e->exit_code == 1);
  CHECK(e->message == "bye");
  e = run("echo noise; head -c 5000 /dev/zero | tr '\\0' a > /dev/termination-log; echo -n end >> /dev/termination-log",
          true);
  REQUIRE(e);
  CHECK(e->message == std::string(4093, 'a') + "end");
  // File policy: an empty file is no message.
  e = run("echo out; exit 2", false);
  REQUIRE(e);
  CHECK(e->message.empty());
  // FallbackToLogsOnError: the last 80 lines of the log (both streams) when the container failed.
  e = run("i=0; while [ $i -lt 100 ]; do echo line$i; i=$((i+1)); done; echo last >&2; exit 3", true);
  REQUIRE(e);
  std::string want;
  for (int i = 21; i < 100; ++i) want += "line" + std::to_string(i) + "\n";
  CHECK(e->message == want + "last\n");
  // ... at most 2048 bytes of them.
  e = run("i=0; while [ $i -lt 80 ]; do echo $i-0123456789012345678901234567890123456789; i=$((i+1)); done; exit 3",
          true);
  REQUIRE(e);
  CHECK(e->message.size() == 2048);
  CHECK(e->message.substr(e->message.size() - 44) == "79-0123456789012345678901234567890123456789\n");
  // ... and not when it succeeded.
  e = run("echo fine", true);
  REQUIRE(e);
  CHECK(e->message.empty());
}

TEST_CASE("a container killed for memory is OOMKilled") {
  REQUIRE_RUNC();
  Env env;
  std::string id = NewId();
  // The shell holds a 64 MiB string under a 16 MiB limit.
  REQUIRE(
      env.Start(id, {"sh", "-c", "x=$(head -c 67108864 /dev/zero | tr '\\0' a); echo survived"}, {}, 16 * 1024 * 1024)
          .ok());
  auto exit = env.WaitExit(id, 30s);
  REQUIRE(exit);
  CHECK(exit->reason == "OOMKilled");
  CHECK(exit->exit_code != 0);
  REQUIRE(env.Remove(id).ok());
}

}  // namespace
}  // namespace minik::agent::runtime
