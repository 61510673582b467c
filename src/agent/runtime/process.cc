#include "agent/runtime/process.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/json.h"

extern char** environ;

namespace minik::agent::runtime::internal {

namespace {
int64_t MonoMs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}
}  // namespace

StatusOr<pid_t> Spawn(const SpawnOptions& opts) {
  if (opts.argv.empty()) return Status::Invalid("spawn: empty argv");
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&attr);
  // Every descriptor handed over is first duplicated above the targets
  // (close-on-exec), so that dup2 in the child always clears close-on-exec and
  // never clobbers another source.
  std::vector<int> temps;
  auto lift = [&](int fd) {
    int t = fcntl(fd, F_DUPFD_CLOEXEC, 16);
    if (t >= 0) temps.push_back(t);
    return t;
  };
  auto stdio = [&](int fd, int target) {
    int t = fd < 0 ? -1 : lift(fd);
    if (t < 0) {
      posix_spawn_file_actions_addopen(&fa, target, "/dev/null", target == 0 ? O_RDONLY : O_WRONLY, 0);
    } else {
      posix_spawn_file_actions_adddup2(&fa, t, target);
    }
  };
  stdio(opts.stdin_fd, 0);
  stdio(opts.stdout_fd, 1);
  stdio(opts.stderr_fd, 2);
  for (auto [from, to] : opts.extra_fds) {
    int t = lift(from);
    if (t >= 0) posix_spawn_file_actions_adddup2(&fa, t, to);
  }
  if (!opts.cwd.empty()) posix_spawn_file_actions_addchdir_np(&fa, opts.cwd.c_str());
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  if (opts.new_session) flags |= POSIX_SPAWN_SETSID;
  posix_spawnattr_setflags(&attr, flags);
  std::vector<char*> argv;
  for (const auto& a : opts.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  const char* path = opts.path.empty() ? argv[0] : opts.path.c_str();
  int rc = posix_spawn(&pid, path, &fa, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  for (int t : temps) close(t);
  if (rc != 0) return Status::Internal("failed to run " + std::string(path) + ": " + std::strerror(rc));
  return pid;
}

int ExitCodeOf(int ws) {
  if (WIFEXITED(ws)) return WEXITSTATUS(ws);
  if (WIFSIGNALED(ws)) return 128 + WTERMSIG(ws);
  return 255;
}

int WaitPid(pid_t pid) {
  int ws = 0;
  while (waitpid(pid, &ws, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return ws;
}

StatusOr<CapturedRun> RunCaptured(const std::vector<std::string>& argv, const CaptureOptions& opts) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return Status::Internal(std::string("pipe: ") + std::strerror(errno));
  SpawnOptions so;
  so.argv = argv;
  so.stdout_fd = p[1];
  so.stderr_fd = p[1];
  auto pid = Spawn(so);
  close(p[1]);
  if (!pid.ok()) {
    close(p[0]);
    return pid.status();
  }
  CapturedRun res;
  int deadline_calls = 0;
  int64_t deadline = opts.timeout_ms > 0 ? MonoMs() + opts.timeout_ms : 0;
  char buf[4096];
  for (;;) {
    int wait_ms = -1;
    if (deadline) {
      int64_t left = deadline - MonoMs();
      if (left <= 0) {
        res.timed_out = true;
        int64_t more = 0;
        if (opts.on_deadline) {
          more = opts.on_deadline(*pid, deadline_calls++);
        } else {
          kill(*pid, SIGKILL);
        }
        if (more <= 0) break;
        deadline = MonoMs() + more;
        continue;
      }
      wait_ms = static_cast<int>(left);
    }
    struct pollfd pfd = {p[0], POLLIN, 0};
    int n = poll(&pfd, 1, wait_ms);
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) continue;
    ssize_t r = read(p[0], buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    if (res.output.size() < opts.max_output) {
      res.output.append(buf, std::min(static_cast<size_t>(r), opts.max_output - res.output.size()));
    }
  }
  close(p[0]);
  res.wait_status = WaitPid(*pid);
  return res;
}

StatusOr<RunResult> Run(const std::vector<std::string>& argv, int64_t timeout_ms) {
  CaptureOptions opts;
  opts.timeout_ms = timeout_ms;
  auto run = RunCaptured(argv, opts);
  if (!run.ok()) return run.status();
  if (run->timed_out) return Status::Timeout("timed out running " + argv[0]);
  RunResult res;
  res.exit_code = ExitCodeOf(run->wait_status);
  res.output = std::move(run->output);
  return res;
}

std::string LastRuntimeError(const std::string& log_path) {
  auto text = ReadFile(log_path);
  if (!text.ok()) return "";
  std::string last;
  std::string_view all = *text;
  while (!all.empty()) {
    size_t nl = all.find('\n');
    std::string_view line = all.substr(0, nl);
    all = nl == std::string_view::npos ? std::string_view() : all.substr(nl + 1);
    if (line.find("\"error\"") == std::string_view::npos) continue;
    auto doc = ParseJson(line);
    if (!doc.ok() || !doc->IsObject()) continue;
    if (GetString(*doc, "level").value_or("") != "error") continue;
    if (auto msg = GetString(*doc, "msg")) last = std::string(*msg);
  }
  return last;
}

StatusOr<std::string> ReadFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Status::NotFound(path + " not found");
    return Status::Internal("open " + path + ": " + std::strerror(errno));
  }
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t r = read(fd, buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    out.append(buf, static_cast<size_t>(r));
  }
  close(fd);
  return out;
}

Status WriteFileAtomic(const std::string& path, const std::string& data) {
  std::string tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::Internal("open " + tmp + ": " + std::strerror(errno));
  size_t off = 0;
  while (off < data.size()) {
    ssize_t w = write(fd, data.data() + off, data.size() - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      close(fd);
      unlink(tmp.c_str());
      return Status::Internal("write " + tmp + ": " + std::strerror(errno));
    }
    off += static_cast<size_t>(w);
  }
  close(fd);
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    unlink(tmp.c_str());
    return Status::Internal("rename " + tmp + ": " + std::strerror(errno));
  }
  return Status::OK();
}

void RemoveTree(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) return;
  if (S_ISDIR(st.st_mode)) {
    if (DIR* d = opendir(path.c_str())) {
      while (struct dirent* e = readdir(d)) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        RemoveTree(path + "/" + e->d_name);
      }
      closedir(d);
    }
    rmdir(path.c_str());
  } else {
    unlink(path.c_str());
  }
}

std::string FindExecutable(const std::string& name) {
  if (name.empty()) return "";
  if (name.find('/') != std::string::npos) return access(name.c_str(), X_OK) == 0 ? name : "";
  const char* path = getenv("PATH");
  std::string p = path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  size_t start = 0;
  while (start <= p.size()) {
    size_t colon = p.find(':', start);
    std::string dir = p.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
    if (dir.empty()) dir = ".";
    std::string cand = dir + "/" + name;
    struct stat st;
    if (stat(cand.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(cand.c_str(), X_OK) == 0) return cand;
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  return "";
}

int ConnectUnix(const std::string& path) {
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return -errno;
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  std::string target = path;
  int dirfd = -1;
  if (target.size() >= sizeof addr.sun_path) {
    size_t slash = path.rfind('/');
    dirfd = open(path.substr(0, slash).c_str(), O_PATH | O_CLOEXEC);
    if (dirfd < 0) {
      int e = errno;
      close(s);
      return -e;
    }
    target = "/proc/self/fd/" + std::to_string(dirfd) + path.substr(slash);
  }
  std::memcpy(addr.sun_path, target.c_str(), target.size() + 1);
  int rc;
  do {
    rc = connect(s, reinterpret_cast<struct sockaddr*>(&addr), sizeof addr);
  } while (rc < 0 && errno == EINTR);
  int e = errno;
  if (dirfd >= 0) close(dirfd);
  if (rc < 0) {
    close(s);
    return -e;
  }
  return s;
}

bool SendWithFds(int sock, const void* data, size_t len, const int* fds, int nfds) {
  struct iovec iov = {const_cast<void*>(data), len};
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(struct cmsghdr) char cbuf[CMSG_SPACE(sizeof(int) * 4)];
  if (nfds > 0) {
    msg.msg_control = cbuf;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
    struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
    std::memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
  }
  ssize_t r;
  do {
    r = sendmsg(sock, &msg, MSG_NOSIGNAL);
  } while (r < 0 && errno == EINTR);
  return r == static_cast<ssize_t>(len);
}

}  // namespace minik::agent::runtime::internal
