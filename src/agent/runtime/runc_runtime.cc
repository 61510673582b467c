#include "agent/runtime/runc_runtime.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>
#include <uv.h>

#include <atomic>
#include <deque>
#include <cerrno>
#include <climits>
#include <cstring>
#include <map>
#include <optional>
#include <random>
#include <set>

#include "agent/runtime/cri_log.h"
#include "agent/runtime/process.h"
#include "agent/runtime/shim.h"
#include "agent/runtime/shim_image.h"
#include "common/log.h"
#include "common/strings.h"

namespace minik::agent::runtime {

namespace {

using internal::ExitCodeOf;

constexpr size_t kExecSyncMaxOutput = 10 * 1024;

void CloseFd(int* fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

Status MkdirAll(const std::string& path, mode_t mode) {
  if (path.empty()) return Status::Invalid("empty directory path");
  std::string cur;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    cur = path.substr(0, pos);
    if (cur.empty()) continue;
    if (mkdir(cur.c_str(), mode) != 0 && errno != EEXIST) {
      return Status::Internal("mkdir " + cur + ": " + std::strerror(errno));
    }
  }
  return Status::OK();
}

std::string RandomHex(int n) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char kHex[] = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < n; ++i) s.push_back(kHex[rng() % 16]);
  return s;
}

int PidfdOpen(pid_t pid) { return static_cast<int>(syscall(SYS_pidfd_open, pid, 0)); }

bool ProcessAlive(int pid) { return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM); }

int ReadPidFile(const std::string& path) {
  auto text = internal::ReadFile(path);
  return text.ok() ? std::atoi(text->c_str()) : 0;
}

// A libuv poll watch of an fd on the loop (the fd itself is not owned). Loop
// thread only; may be destroyed from inside its own callback.
class FdWatch final : public http::Loop::Owner {
 public:
  using Callback = std::function<void()>;
  FdWatch(http::Loop& loop, int fd, Callback cb) : loop_(loop) {
    h_ = new H;
    h_->cb = std::move(cb);
    h_->poll.data = h_;
    if (uv_poll_init(loop.raw(), &h_->poll, fd) != 0) {
      delete h_;
      h_ = nullptr;
      return;
    }
    uv_poll_start(&h_->poll, UV_READABLE | UV_DISCONNECT, [](uv_poll_t* p, int, int) {
      if (uv_is_closing(reinterpret_cast<uv_handle_t*>(p))) return;
      static_cast<H*>(p->data)->cb();
    });
    loop_.Register(this);
  }
  ~FdWatch() {
    CloseHandles();
    loop_.Unregister(this);
  }
  bool ok() const { return h_ != nullptr; }
  void CloseHandles() override {
    if (!h_) return;
    uv_poll_stop(&h_->poll);
    uv_close(reinterpret_cast<uv_handle_t*>(&h_->poll), [](uv_handle_t* x) { delete static_cast<H*>(x->data); });
    h_ = nullptr;
  }

 private:
  struct H {
    uv_poll_t poll;
    Callback cb;
  };
  http::Loop& loop_;
  H* h_ = nullptr;
};

// containerd's wording for a container that could not be started.
std::string CreateTaskError(const std::string& msg) {
  return "failed to create containerd task: failed to create shim task: OCI "
         "runtime create failed: " +
         msg + ": unknown";
}

std::string ExecError(const std::string& exec_id, const std::string& msg) {
  return "failed to exec in container: failed to start exec \"" + exec_id + "\": OCI runtime exec failed: " + msg +
         ": unknown";
}

ContainerStatus MakeStatus(const ShimSpec& spec, const StatusOr<ShimStatus>& st) {
  ContainerStatus cs;
  cs.id = spec.id;
  cs.created_ns = spec.created_ns;
  cs.log_path = spec.log_path;
  cs.labels = spec.labels;
  if (!st.ok()) {
    cs.state = ContainerStatus::State::kCreated;
    return cs;
  }
  cs.pid = st->pid;
  cs.started_ns = st->started_ns;
  if (st->exited) {
    cs.state = ContainerStatus::State::kExited;
    cs.exit_code = st->exit_code;
    cs.signal = st->signal;
    cs.reason = st->reason;
    cs.message = st->message;
    cs.finished_ns = st->finished_ns;
  } else if (st->started_ns > 0) {
    cs.state = ProcessAlive(st->shim_pid) ? ContainerStatus::State::kRunning : ContainerStatus::State::kUnknown;
  } else {
    cs.state = ContainerStatus::State::kCreated;
  }
  return cs;
}

// ---------------------------------------------------------------------------------------------
// Processes started with `runc exec`.

class RuncExecProcess final : public ExecProcess {
 public:
  RuncExecProcess(http::Loop& loop, WorkPool& pool, pid_t runc_pid, int pidfd, std::string pid_file,
                  std::string log_file, std::string exec_id, bool tty, int in, int out, int err, int64_t timeout_ms)
      : loop_(loop),
        pool_(pool),
        runc_pid_(runc_pid),
        pidfd_(pidfd),
        pid_file_(std::move(pid_file)),
        log_file_(std::move(log_file)),
        exec_id_(std::move(exec_id)),
        tty_(tty),
        in_(in),
        out_(out),
        err_(err),
        timeout_ms_(timeout_ms) {}

  ~RuncExecProcess() override {
    watch_.reset();
    timer_.reset();
    resize_timer_.reset();
    if (!reaped_) {
      KillAll();
      pid_t pid = runc_pid_;
      std::string pid_file = pid_file_, log_file = log_file_;
      pool_.Submit([pid, pid_file, log_file] {
        internal::WaitPid(pid);
        unlink(pid_file.c_str());
        unlink(log_file.c_str());
      });
    } else {
      unlink(pid_file_.c_str());
      unlink(log_file_.c_str());
    }
    if (in_ != out_) CloseFd(&in_);
    CloseFd(&out_);
    CloseFd(&err_);
    CloseFd(&pidfd_);
  }

  int stdin_fd() const override { return in_; }
  int stdout_fd() const override { return out_; }
  int stderr_fd() const override { return err_; }

  void CloseStdin() override {
    if (in_ < 0) return;
    if (tty_) {
      char eot = 4;  // a terminal has no half-close: send end-of-file
      if (write(in_, &eot, 1) < 0) {
      }
      in_ = -1;  // the same fd as stdout: still owned there
      return;
    }
    CloseFd(&in_);
  }

  void Resize(uint16_t cols, uint16_t rows) override {
    if (!tty_ || out_ < 0) return;
    struct winsize ws = {};
    ws.ws_col = cols;
    ws.ws_row = rows;
    ioctl(out_, TIOCSWINSZ, &ws);
    if (reaped_) return;
    // runc copies its terminal's size into the container's on SIGWINCH, and once when it has
    // started the process: a signal that came before its handler was installed is lost, so
    // signal again a little later (a resize usually comes right after the start).
    kill(runc_pid_, SIGWINCH);
    resize_timer_ = loop_.AddTimer(250, 0, [this] {
      if (!reaped_) kill(runc_pid_, SIGWINCH);
    });
  }

  void Wait(std::function<void(StatusOr<int>)> done) override {
    if (result_) {
      auto r = *result_;
      loop_.Post([done = std::move(done), r] { done(r); });
      return;
    }
    waiters_.push_back(std::move(done));
    if (!watch_) {
      watch_ = std::make_unique<FdWatch>(loop_, pidfd_, [this] { OnExited(); });
      if (timeout_ms_ > 0) {
        timer_ = loop_.AddTimer(static_cast<uint64_t>(timeout_ms_), 0, [this] {
          timed_out_ = true;
          KillAll();
        });
      }
    }
  }

  void Kill() override { KillAll(); }

 private:
  void KillAll() {
    if (reaped_) return;
    // The process first: runc reaps it and exits. Without a process yet, runc
    // itself.
    int pid = ReadPidFile(pid_file_);
    if (pid > 0 && !killed_) {
      kill(pid, SIGKILL);
      killed_ = true;
      return;
    }
    kill(runc_pid_, SIGKILL);
  }

  void OnExited() {
    int ws = 0;
    pid_t r = waitpid(runc_pid_, &ws, WNOHANG);
    if (r == 0) return;
    reaped_ = true;
    watch_.reset();
    timer_.reset();
    StatusOr<int> result = ExitCodeOf(ws);
    if (timed_out_) {
      result = Status::Timeout("command timed out after " + std::to_string(timeout_ms_ / 1000) + "s");
    } else if (r > 0 && access(pid_file_.c_str(), F_OK) != 0) {
      // runc never started the process: report its own error.
      std::string msg = internal::LastRuntimeError(log_file_);
      result = Status::Internal(ExecError(exec_id_, msg.empty() ? "exit status " + std::to_string(*result) : msg));
    }
    result_ = result;
    auto waiters = std::move(waiters_);
    for (auto& w : waiters) w(result);
  }

  http::Loop& loop_;
  WorkPool& pool_;
  pid_t runc_pid_;
  int pidfd_;
  std::string pid_file_;
  std::string log_file_;
  std::string exec_id_;
  bool tty_;
  int in_, out_, err_;
  int64_t timeout_ms_;
  bool reaped_ = false;
  bool timed_out_ = false;
  bool killed_ = false;
  std::optional<StatusOr<int>> result_;
  std::vector<std::function<void(StatusOr<int>)>> waiters_;
  std::unique_ptr<FdWatch> watch_;
  http::HandlePtr timer_;
  http::HandlePtr resize_timer_;
};

// A client attached to a container's stdio through its shim.
class AttachProcess final : public ExecProcess {
 public:
  AttachProcess(http::Loop& loop, std::string state_dir, int sock, int in, int out, int err, bool tty)
      : loop_(loop), state_dir_(std::move(state_dir)), sock_(sock), in_(in), out_(out), err_(err), tty_(tty) {}
  ~AttachProcess() override {
    watch_.reset();
    CloseFd(&sock_);
    CloseFd(&in_);
    CloseFd(&out_);
    CloseFd(&err_);
  }
  int stdin_fd() const override { return in_; }
  int stdout_fd() const override { return out_; }
  int stderr_fd() const override { return err_; }
  void CloseStdin() override { CloseFd(&in_); }
  void Resize(uint16_t cols, uint16_t rows) override {
    if (!tty_ || sock_ < 0) return;
    unsigned char m[5] = {'R', static_cast<unsigned char>(cols & 0xff), static_cast<unsigned char>(cols >> 8),
                          static_cast<unsigned char>(rows & 0xff), static_cast<unsigned char>(rows >> 8)};
    if (send(sock_, m, sizeof m, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
    }
  }
  // Resolves with the container's exit code once it exits.
  void Wait(std::function<void(StatusOr<int>)> done) override {
    if (sock_ < 0) {
      loop_.Post([done = std::move(done)] { done(Status::Unavailable("detached")); });
      return;
    }
    waiters_.push_back(std::move(done));
    if (!watch_) watch_ = std::make_unique<FdWatch>(loop_, sock_, [this] { OnSocket(); });
  }
  // Detaches (the container keeps running).
  void Kill() override {
    watch_.reset();
    CloseFd(&sock_);
    auto waiters = std::move(waiters_);
    for (auto& w : waiters) w(Status::Unavailable("detached"));
  }

 private:
  void OnSocket() {
    char b[16];
    ssize_t r = recv(sock_, b, sizeof b, MSG_DONTWAIT);
    if (r > 0 || (r < 0 && (errno == EAGAIN || errno == EINTR))) return;
    watch_.reset();
    CloseFd(&sock_);
    auto st = ReadShimStatus(state_dir_);
    StatusOr<int> result = st.ok() && st->exited ? StatusOr<int>(st->exit_code)
                                                 : StatusOr<int>(Status::Unavailable("container shim went away"));
    auto waiters = std::move(waiters_);
    for (auto& w : waiters) w(result);
  }

  http::Loop& loop_;
  std::string state_dir_;
  int sock_, in_, out_, err_;
  bool tty_;
  std::vector<std::function<void(StatusOr<int>)>> waiters_;
  std::unique_ptr<FdWatch> watch_;
};

// ---------------------------------------------------------------------------------------------

class RuncRuntime final : public Runtime {
 public:
  RuncRuntime(http::Loop& loop, WorkPool& pool, RuncOptions opts) : loop_(loop), pool_(pool), opts_(std::move(opts)) {
    runtime_path_ = internal::FindExecutable(opts_.runtime);
    if (opts_.shim_command.empty()) {
      // The embedded shim, from a memfd this runtime keeps open: `ps` shows `minik shim DIR`.
      opts_.shim_command = {"minik", "shim"};
      if (auto fd = OpenEmbeddedShim(); fd.ok()) {
        shim_exe_ = std::make_shared<ShimExe>(*fd);
      } else {
        // `minik shim` re-executes into the embedded shim or, failing that, runs it in-process.
        MINIK_LOG(Warning) << "embedded shim: " << fd.status().message() << "; running shims as `minik shim`";
        char buf[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
        if (n > 0) opts_.shim_command[0] = std::string(buf, static_cast<size_t>(n));
      }
    }
    if (runtime_path_.empty()) MINIK_LOG(Warning) << "OCI runtime " << opts_.runtime << " not found";
    if (auto st = MkdirAll(opts_.state_root, 0700); !st.ok()) MINIK_LOG(Error) << st.message();
    if (auto st = MkdirAll(opts_.runtime_root, 0700); !st.ok()) MINIK_LOG(Error) << st.message();
    Adopt();
  }

  ~RuncRuntime() override {
    awaiting_.clear();
    tracked_.clear();
  }

  void Start(StartRequest req, std::function<void(Status)> done) override {
    if (req.id.empty() || req.id.find('/') != std::string::npos || req.id[0] == '.') {
      return PostDone(std::move(done), Status::Invalid("invalid container id \"" + req.id + "\""));
    }
    if (runtime_path_.empty()) {
      return PostDone(std::move(done), Status::Internal(CreateTaskError("exec: \"" + opts_.runtime +
                                                                        "\": executable file not found in $PATH")));
    }
    std::string dir = StateDir(req.id);
    removed_.erase(req.id);
    reported_.erase(req.id);
    if (mkdir(dir.c_str(), 0700) != 0) {
      if (errno == EEXIST) {
        return PostDone(std::move(done), Status::AlreadyExists("container \"" + req.id + "\" already exists"));
      }
      return PostDone(std::move(done), Status::Internal("mkdir " + dir + ": " + std::strerror(errno)));
    }
    ShimSpec spec;
    spec.id = req.id;
    spec.bundle_dir = req.bundle_dir;
    spec.log_path = req.log_path;
    spec.runtime = runtime_path_;
    spec.runtime_root = opts_.runtime_root;
    spec.stdin = req.stdin;
    spec.stdin_once = req.stdin_once;
    spec.tty = req.tty;
    spec.created_ns = WallNowNs();
    spec.labels = std::move(req.labels);
    spec.termination_message_path = req.termination_message_path;
    spec.termination_message_fallback_to_logs = req.termination_message_fallback_to_logs;
    std::vector<std::string> argv = opts_.shim_command;
    argv.push_back(dir);
    argv.push_back("--ready-fd=3");
    std::string id = req.id;
    // At most max_parallel_starts OCI runtime starts at a time; the others wait here (not on a
    // pool thread: the pool keeps preparing the next containers meanwhile).
    queued_starts_.push_back([this, spec = std::move(spec), argv = std::move(argv), dir, id,
                              done = std::move(done)]() mutable {
      ++starts_in_flight_;
      // The pool task never touches *this (it may be gone); the reply checks `alive` first.
      pool_.Submit([self = this, loop = &loop_, alive = std::weak_ptr<int>(alive_), spec = std::move(spec),
                    argv = std::move(argv), exe = shim_exe_, dir, id, done = std::move(done)]() mutable {
        int ready_fd = -1;
        Status st = WriteShimSpec(dir, spec);
        if (st.ok()) st = SpawnShim(argv, exe ? exe->path : "", &ready_fd);
        loop->Post([self, alive, id, ready_fd, st = std::move(st), done = std::move(done)]() mutable {
          if (!alive.lock()) {
            if (ready_fd >= 0) close(ready_fd);
            return;
          }
          if (!st.ok()) return self->StartDone(id, st, std::move(done));
          self->AwaitShim(id, ready_fd, std::move(done));
        });
      });
    });
    RunQueuedStarts();
  }

  void Kill(const std::string& id, int signal, std::function<void(Status)> done) override {
    std::string dir = StateDir(id);
    if (access(dir.c_str(), F_OK) != 0) {
      return PostDone(std::move(done), Status::NotFound("container \"" + id + "\" not found"));
    }
    auto argv = RuntimeArgs({"kill", id, std::to_string(signal)});
    RunBlocking(
        [argv, dir]() -> Status {
          auto r = internal::Run(argv, 30000);
          if (r.ok() && r->exit_code == 0) return Status::OK();
          auto st = ReadShimStatus(dir);
          if (st.ok() && st->exited) return Status::OK();  // already gone: nothing to signal
          std::string msg = r.ok() ? std::string(Trim(r->output)) : r.status().message();
          if (size_t nl = msg.rfind('\n'); nl != std::string::npos) msg = msg.substr(nl + 1);
          return Status::Internal("failed to kill container \"" + argv[argv.size() - 2] + "\": " + msg);
        },
        std::move(done));
  }

  void Remove(const std::string& id, std::function<void(Status)> done) override {
    std::string dir = StateDir(id);
    tracked_.erase(id);
    removed_.insert(id);
    if (access(dir.c_str(), F_OK) != 0) return PostDone(std::move(done), Status::OK());
    auto argv = RuntimeArgs({"delete", "--force", id});
    RunBlocking(
        [argv, dir, id]() -> Status {
          auto r = internal::Run(argv, 30000);
          (void)r;
          // Wait for the shim to finish writing before its directory goes away.
          int shim = ReadPidFile(dir + "/" + kShimPidFile);
          if (shim > 0) {
            int pfd = PidfdOpen(shim);
            if (pfd >= 0) {
              struct pollfd p = {pfd, POLLIN, 0};
              poll(&p, 1, 10000);
              close(pfd);
            }
          }
          internal::RemoveTree(dir);
          if (access(dir.c_str(), F_OK) == 0)
            return Status::Internal("failed to remove state of container \"" + id + "\"");
          return Status::OK();
        },
        std::move(done));
  }

  std::vector<ContainerStatus> List() override {
    std::vector<ContainerStatus> out;
    DIR* d = opendir(opts_.state_root.c_str());
    if (!d) return out;
    std::vector<std::string> ids;
    while (struct dirent* e = readdir(d)) {
      if (e->d_name[0] == '.') continue;
      ids.emplace_back(e->d_name);
    }
    closedir(d);
    for (const auto& id : ids) {
      if (auto cs = Get(id)) out.push_back(std::move(*cs));
    }
    return out;
  }

  std::optional<ContainerStatus> Get(const std::string& id) override {
    std::string dir = StateDir(id);
    auto spec = ReadShimSpec(dir);
    if (!spec.ok()) return std::nullopt;
    return MakeStatus(*spec, ReadShimStatus(dir));
  }

  void OnExit(std::function<void(const ContainerStatus&)> fn) override {
    on_exit_ = std::move(fn);
    if (!pending_exits_.empty()) {
      loop_.Post([this, alive = std::weak_ptr<int>(alive_)] {
        if (!alive.lock() || !on_exit_) return;
        auto pending = std::move(pending_exits_);
        pending_exits_.clear();
        for (const auto& cs : pending) on_exit_(cs);
      });
    }
  }

  void ExecSync(ExecRequest req, std::function<void(StatusOr<ExecResult>)> done) override {
    std::string dir = StateDir(req.container_id);
    if (auto err = NotRunning(req.container_id); !err.ok()) {
      loop_.Post([done = std::move(done), err] { done(err); });
      return;
    }
    std::string exec_id = RandomHex(64);  // as containerd's
    std::string pid_file = dir + "/exec-" + exec_id + ".pid";
    std::string log_file = dir + "/exec-" + exec_id + ".log";
    std::vector<std::string> argv = {
        runtime_path_, "--root", opts_.runtime_root, "--log",  log_file,        "--log-format",
        "json",        "exec",   "--pid-file",       pid_file, req.container_id};
    argv.insert(argv.end(), req.argv.begin(), req.argv.end());
    std::string cmd = Join(req.argv, " ");
    int64_t timeout = req.timeout_ms;
    pool_.Submit([loop = &loop_, alive = std::weak_ptr<int>(alive_), argv, pid_file, log_file, exec_id, timeout, cmd,
                  done = std::move(done)]() mutable {
      auto result = RunExecSync(argv, pid_file, log_file, exec_id, timeout, cmd);
      loop->Post([alive, result = std::move(result), done = std::move(done)] {
        if (alive.lock()) done(result);
      });
    });
  }

  void Exec(ExecRequest req, std::function<void(StatusOr<ExecProcessPtr>)> done) override {
    std::string dir = StateDir(req.container_id);
    if (auto err = NotRunning(req.container_id); !err.ok()) {
      loop_.Post([done = std::move(done), err] { done(err); });
      return;
    }
    std::string exec_id = RandomHex(64);  // as containerd's
    std::string pid_file = dir + "/exec-" + exec_id + ".pid";
    std::string log_file = dir + "/exec-" + exec_id + ".log";
    std::vector<std::string> argv = {runtime_path_, "--root", opts_.runtime_root, "--log", log_file, "--log-format",
                                     "json",        "exec",   "--pid-file",       pid_file};
    if (req.tty) argv.push_back("--tty");
    argv.push_back(req.container_id);
    argv.insert(argv.end(), req.argv.begin(), req.argv.end());
    pool_.Submit([loop = &loop_, pool = &pool_, alive = std::weak_ptr<int>(alive_), argv, pid_file, log_file, exec_id,
                  req = std::move(req), done = std::move(done)]() mutable {
      StatusOr<ExecProcessPtr> proc = StartExec(*loop, *pool, argv, pid_file, log_file, exec_id, req);
      // The process object belongs to the loop thread: hand it over there.
      auto holder = std::make_shared<StatusOr<ExecProcessPtr>>(std::move(proc));
      loop->Post([alive, holder, done = std::move(done)] {
        if (alive.lock()) done(std::move(*holder));
      });
    });
  }

  void Attach(const std::string& id, bool stdin, std::function<void(StatusOr<ExecProcessPtr>)> done) override {
    StatusOr<ExecProcessPtr> result = AttachNow(id, stdin);
    auto holder = std::make_shared<StatusOr<ExecProcessPtr>>(std::move(result));
    loop_.Post([alive = std::weak_ptr<int>(alive_), holder, done = std::move(done)] {
      if (alive.lock()) done(std::move(*holder));
    });
  }

 private:
  // A started shim whose report is awaited.
  struct PendingStart {
    int fd = -1;
    std::string msg;
    std::function<void(Status)> done;
    std::unique_ptr<FdWatch> watch;
    http::HandlePtr timer;
    ~PendingStart() {
      watch.reset();
      timer.reset();
      if (fd >= 0) close(fd);
    }
  };
  struct Tracked {
    int sock = -1;
    std::unique_ptr<FdWatch> watch;
    http::HandlePtr retry;
    ~Tracked() {
      watch.reset();
      if (sock >= 0) close(sock);
    }
  };

  // The embedded shim's memfd, shared with the pool tasks that execute it.
  struct ShimExe {
    explicit ShimExe(int f) : fd(f), path("/proc/self/fd/" + std::to_string(f)) {}
    ~ShimExe() { close(fd); }
    int fd;
    std::string path;
  };

  std::string StateDir(const std::string& id) const { return opts_.state_root + "/" + id; }

  std::vector<std::string> RuntimeArgs(std::initializer_list<std::string> rest) const {
    std::vector<std::string> argv = {runtime_path_.empty() ? opts_.runtime : runtime_path_, "--root",
                                     opts_.runtime_root};
    argv.insert(argv.end(), rest);
    return argv;
  }

  void PostDone(std::function<void(Status)> done, Status st) {
    loop_.Post([done = std::move(done), st = std::move(st)] { done(st); });
  }

  void RunBlocking(std::function<Status()> fn, std::function<void(Status)> done) {
    pool_.Submit(
        [loop = &loop_, alive = std::weak_ptr<int>(alive_), fn = std::move(fn), done = std::move(done)]() mutable {
          Status st = fn();
          loop->Post([alive, st = std::move(st), done = std::move(done)] {
            if (alive.lock()) done(st);
          });
        });
  }

  Status NotRunning(const std::string& id) {
    auto cs = Get(id);
    if (!cs) return Status::NotFound("container \"" + id + "\" not found");
    if (cs->state == ContainerStatus::State::kRunning) return Status::OK();
    const char* name = cs->state == ContainerStatus::State::kExited    ? "CONTAINER_EXITED"
                       : cs->state == ContainerStatus::State::kCreated ? "CONTAINER_CREATED"
                                                                       : "CONTAINER_UNKNOWN";
    return Status::Conflict(std::string("container is in ") + name + " state");
  }

  // Runs the shim (pool thread); *ready_fd: the read end of the pipe it reports on.
  static Status SpawnShim(const std::vector<std::string>& argv, const std::string& path, int* ready_fd) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) return Status::Internal(std::string("pipe: ") + std::strerror(errno));
    internal::SpawnOptions so;
    so.argv = argv;
    so.path = path;
    so.extra_fds = {{p[1], 3}};
    so.new_session = true;
    auto pid = internal::Spawn(so);
    close(p[1]);
    if (!pid.ok()) {
      close(p[0]);
      return Status::Internal(CreateTaskError(pid.status().message()));
    }
    internal::WaitPid(*pid);  // the shim's first process exits once the daemon is forked
    *ready_fd = p[0];
    return Status::OK();
  }

  void RunQueuedStarts() {
    while (starts_in_flight_ < opts_.max_parallel_starts && !queued_starts_.empty()) {
      auto launch = std::move(queued_starts_.front());
      queued_starts_.pop_front();
      launch();
    }
  }

  // Reads the shim's report ("OK" or "E<message>", then EOF) on the loop.
  void AwaitShim(const std::string& id, int fd, std::function<void(Status)> done) {
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    auto w = std::make_unique<PendingStart>();
    PendingStart* ps = w.get();
    ps->fd = fd;
    ps->done = std::move(done);
    ps->watch = std::make_unique<FdWatch>(loop_, fd, [this, id, ps] {
      char buf[4096];
      for (;;) {
        ssize_t r = read(ps->fd, buf, sizeof buf);
        if (r > 0) {
          ps->msg.append(buf, static_cast<size_t>(r));
          continue;
        }
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && errno == EAGAIN) return;
        break;  // EOF: the report is complete
      }
      Status st = ps->msg == "OK" ? Status::OK()
                  : !ps->msg.empty() && ps->msg[0] == 'E'
                      ? Status::Internal(CreateTaskError(ps->msg.substr(1)))
                      : Status::Internal(CreateTaskError("the container shim exited without reporting"));
      FinishAwait(id, st);
    });
    ps->timer = loop_.AddTimer(static_cast<uint64_t>(opts_.start_timeout_ms), 0, [this, id] {
      FinishAwait(id, Status::Timeout(CreateTaskError("timed out waiting for the container to start")));
    });
    awaiting_[id] = std::move(w);
  }

  void FinishAwait(const std::string& id, Status st) {
    auto it = awaiting_.find(id);
    if (it == awaiting_.end()) return;
    auto done = std::move(it->second->done);
    awaiting_.erase(it);  // closes the pipe, stops the watch and the timer
    StartDone(id, st, std::move(done));
  }

  void StartDone(const std::string& id, const Status& st, std::function<void(Status)> done) {
    --starts_in_flight_;
    if (st.ok()) Track(id);
    done(st);
    RunQueuedStarts();
  }

  static StatusOr<ExecResult> RunExecSync(const std::vector<std::string>& argv, const std::string& pid_file,
                                          const std::string& log_file, const std::string& exec_id, int64_t timeout_ms,
                                          const std::string& cmd) {
    internal::CaptureOptions opts;
    opts.timeout_ms = timeout_ms;
    opts.max_output = kExecSyncMaxOutput;
    opts.on_deadline = [&pid_file](pid_t runc, int calls) -> int64_t {
      if (calls > 0) {  // runc did not follow its process in time
        kill(runc, SIGKILL);
        return 0;
      }
      // Kill the process; runc reaps it and exits (killing runc first would
      // leave the process to the container's init, often a zombie forever).
      int exec_pid = ReadPidFile(pid_file);
      if (exec_pid > 0) {
        kill(exec_pid, SIGKILL);
      } else {
        kill(runc, SIGKILL);
      }
      return 2000;
    };
    auto run = internal::RunCaptured(argv, opts);
    if (!run.ok()) return run.status();
    ExecResult res;
    res.output = std::move(run->output);
    bool timed_out = run->timed_out;
    int ws = run->wait_status;
    bool started = access(pid_file.c_str(), F_OK) == 0;
    std::string runc_error = started ? "" : internal::LastRuntimeError(log_file);
    unlink(pid_file.c_str());
    unlink(log_file.c_str());
    if (timed_out) return Status::Timeout("command \"" + cmd + "\" timed out");
    res.exit_code = ExitCodeOf(ws);
    if (!started) {
      return Status::Internal(
          ExecError(exec_id, runc_error.empty() ? "exit status " + std::to_string(res.exit_code) : runc_error));
    }
    return res;
  }

  static StatusOr<ExecProcessPtr> StartExec(http::Loop& loop, WorkPool& pool, const std::vector<std::string>& argv,
                                            const std::string& pid_file, const std::string& log_file,
                                            const std::string& exec_id, const ExecRequest& req) {
    internal::SpawnOptions so;
    so.argv = argv;
    so.new_session = true;
    int in = -1, out = -1, err = -1;
    int child[3] = {-1, -1, -1};
    if (req.tty) {
      int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
      char name[128];
      if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0 || ptsname_r(master, name, sizeof name) != 0) {
        if (master >= 0) close(master);
        return Status::Internal(std::string("failed to allocate a terminal: ") + std::strerror(errno));
      }
      int slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
      if (slave < 0) {
        close(master);
        return Status::Internal(std::string("failed to open the terminal: ") + std::strerror(errno));
      }
      // Raw from the start: runc makes its terminal raw only once the process runs, and until
      // then this terminal would echo what the client types (kubectl -it would see it twice).
      struct termios tio;
      if (tcgetattr(slave, &tio) == 0) {
        cfmakeraw(&tio);
        tcsetattr(slave, TCSANOW, &tio);
      }
      // The client's size, if it sent one already: runc copies it to the container's terminal
      // when it starts the process (no SIGWINCH race).
      if (req.cols > 0 && req.rows > 0) {
        struct winsize ws = {};
        ws.ws_col = req.cols;
        ws.ws_row = req.rows;
        ioctl(master, TIOCSWINSZ, &ws);
      }
      // runc exec --tty copies its own terminal (this pty) to the container's
      // pty and proxies it.
      child[0] = child[1] = child[2] = slave;
      out = master;
      in = req.stdin ? master : -1;
    } else {
      int o[2], e[2];
      if (pipe2(o, O_CLOEXEC) != 0) return Status::Internal(std::string("pipe: ") + std::strerror(errno));
      if (pipe2(e, O_CLOEXEC) != 0) {
        close(o[0]);
        close(o[1]);
        return Status::Internal(std::string("pipe: ") + std::strerror(errno));
      }
      out = o[0];
      child[1] = o[1];
      err = e[0];
      child[2] = e[1];
      if (req.stdin) {
        int i[2];
        if (pipe2(i, O_CLOEXEC) == 0) {
          child[0] = i[0];
          in = i[1];
        }
      }
    }
    so.stdin_fd = child[0];
    so.stdout_fd = child[1];
    so.stderr_fd = child[2];
    auto pid = internal::Spawn(so);
    for (int i = 0; i < 3; ++i) {
      if (child[i] >= 0 && (i == 0 || child[i] != child[i - 1])) close(child[i]);
    }
    if (!pid.ok()) {
      if (in >= 0 && in != out) close(in);
      if (out >= 0) close(out);
      if (err >= 0) close(err);
      return pid.status();
    }
    int pidfd = PidfdOpen(*pid);
    return ExecProcessPtr(new RuncExecProcess(loop, pool, *pid, pidfd, pid_file, log_file, exec_id, req.tty, in, out,
                                              err, req.timeout_ms));
  }

  StatusOr<ExecProcessPtr> AttachNow(const std::string& id, bool want_stdin) {
    std::string dir = StateDir(id);
    auto spec = ReadShimSpec(dir);
    if (!spec.ok()) return Status::NotFound("container \"" + id + "\" not found");
    if (auto err = NotRunning(id); !err.ok()) return err;
    int sock = internal::ConnectUnix(dir + "/" + kShimSocket);
    if (sock < 0) return Status::Unavailable("failed to attach to container \"" + id + "\": " + std::strerror(-sock));
    int o[2] = {-1, -1}, e[2] = {-1, -1}, i[2] = {-1, -1};
    bool ok = pipe2(o, O_CLOEXEC) == 0;
    if (ok && !spec->tty) ok = pipe2(e, O_CLOEXEC) == 0;
    if (ok && spec->stdin && want_stdin) ok = pipe2(i, O_CLOEXEC) == 0;
    int fds[3];
    int n = 0;
    unsigned char flags = 0;
    if (ok) {
      fds[n++] = o[1];
      if (e[1] >= 0) {
        fds[n++] = e[1];
        flags |= 1;
      }
      if (i[0] >= 0) {
        fds[n++] = i[0];
        flags |= 2;
      }
      unsigned char msg[2] = {'A', flags};
      ok = internal::SendWithFds(sock, msg, 2, fds, n);
    }
    CloseFd(&o[1]);
    CloseFd(&e[1]);
    CloseFd(&i[0]);
    if (!ok) {
      int saved = errno;
      CloseFd(&o[0]);
      CloseFd(&e[0]);
      CloseFd(&i[1]);
      close(sock);
      return Status::Internal("failed to attach to container \"" + id + "\": " + std::strerror(saved));
    }
    return ExecProcessPtr(new AttachProcess(loop_, dir, sock, i[1], o[0], e[0], spec->tty));
  }

  // Watches a running shim; its connection closing means the container's exit
  // is recorded.
  void Track(const std::string& id) {
    std::string dir = StateDir(id);
    auto& t = tracked_[id];
    t.watch.reset();
    CloseFd(&t.sock);
    int sock = internal::ConnectUnix(dir + "/" + kShimSocket);
    if (sock < 0) {
      // A shim still starting (adopted mid-start) has not bound its socket yet:
      // retry shortly.
      auto st = ReadShimStatus(dir);
      int shim = ReadPidFile(dir + "/" + kShimPidFile);
      if (!(st.ok() && st->exited) && ProcessAlive(shim)) {
        t.retry = loop_.AddTimer(100, 0, [this, id] { Track(id); });
        return;
      }
      loop_.Post([this, alive = std::weak_ptr<int>(alive_), id] {
        if (alive.lock()) ShimGone(id);
      });
      return;
    }
    char w = 'W';
    if (send(sock, &w, 1, MSG_NOSIGNAL) != 1) {
      close(sock);
      loop_.Post([this, alive = std::weak_ptr<int>(alive_), id] {
        if (alive.lock()) ShimGone(id);
      });
      return;
    }
    t.sock = sock;
    t.watch = std::make_unique<FdWatch>(loop_, sock, [this, id, sock] {
      char b[16];
      ssize_t r = recv(sock, b, sizeof b, MSG_DONTWAIT);
      if (r > 0 || (r < 0 && (errno == EAGAIN || errno == EINTR))) return;
      ShimGone(id);
    });
  }

  void ShimGone(const std::string& id) {
    tracked_.erase(id);
    if (removed_.count(id) || reported_.count(id)) return;
    std::string dir = StateDir(id);
    auto spec = ReadShimSpec(dir);
    if (!spec.ok()) return;
    auto st = ReadShimStatus(dir);
    if (!st.ok() || !st->exited) {
      // The shim died without recording an exit: nothing supervises the
      // container any more.
      ShimStatus s = st.ok() ? *st : ShimStatus{};
      s.exited = true;
      s.finished_ns = WallNowNs();
      s.exit_code = 255;
      s.reason = "Unknown";
      s.message = "the container's shim exited unexpectedly";
      WriteShimStatus(dir, s).ok();
      auto argv = RuntimeArgs({"kill", id, "9"});
      pool_.Submit([argv] { internal::Run(argv, 30000).status().ok(); });
      st = s;
    }
    if (st->reason == "StartError") return;  // Start reported it
    Report(MakeStatus(*spec, st));
  }

  void Report(const ContainerStatus& cs) {
    if (!reported_.insert(cs.id).second) return;
    if (on_exit_) {
      on_exit_(cs);
    } else {
      pending_exits_.push_back(cs);
    }
  }

  // Picks up the containers a previous agent left: watches the running ones,
  // reports the exits recorded since.
  void Adopt() {
    DIR* d = opendir(opts_.state_root.c_str());
    if (!d) return;
    std::vector<std::string> ids;
    while (struct dirent* e = readdir(d)) {
      if (e->d_name[0] != '.') ids.emplace_back(e->d_name);
    }
    closedir(d);
    for (const auto& id : ids) {
      std::string dir = StateDir(id);
      auto spec = ReadShimSpec(dir);
      if (!spec.ok()) continue;
      auto st = ReadShimStatus(dir);
      if (st.ok() && st->exited) {
        if (st->reason != "StartError") Report(MakeStatus(*spec, st));
      } else {
        Track(id);
      }
    }
  }

  http::Loop& loop_;
  WorkPool& pool_;
  RuncOptions opts_;
  std::string runtime_path_;
  std::shared_ptr<const ShimExe> shim_exe_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
  std::function<void(const ContainerStatus&)> on_exit_;
  std::vector<ContainerStatus> pending_exits_;
  std::map<std::string, Tracked> tracked_;
  std::deque<std::function<void()>> queued_starts_;
  int starts_in_flight_ = 0;
  std::map<std::string, std::unique_ptr<PendingStart>> awaiting_;
  std::set<std::string> removed_;
  std::set<std::string> reported_;
};

}  // namespace

RuntimePtr NewRuncRuntime(http::Loop& loop, WorkPool& pool, RuncOptions options) {
  return std::make_unique<RuncRuntime>(loop, pool, std::move(options));
}

}  // namespace minik::agent::runtime
