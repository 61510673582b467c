#include "agent/runtime/shim.h"

#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "agent/runtime/cri_log.h"
#include "agent/runtime/process.h"
#include "common/json.h"

namespace minik::agent::runtime {

using internal::ExitCodeOf;
using internal::ReadFile;
using internal::WriteFileAtomic;

// ---------------------------------------------------------------------------------------------
// spec.json and status.json

Status WriteShimSpec(const std::string& state_dir, const ShimSpec& spec) {
  JsonDoc d;
  d.SetObject();
  auto& a = d.GetAllocator();
  SetString(d, "id", spec.id, a);
  SetString(d, "bundle", spec.bundle_dir, a);
  SetString(d, "logPath", spec.log_path, a);
  SetString(d, "runtime", spec.runtime, a);
  SetString(d, "runtimeRoot", spec.runtime_root, a);
  SetMember(d, "stdin", JsonValue(spec.stdin), a);
  SetMember(d, "stdinOnce", JsonValue(spec.stdin_once), a);
  SetMember(d, "tty", JsonValue(spec.tty), a);
  SetMember(d, "createdNs", JsonValue(static_cast<int64_t>(spec.created_ns)), a);
  JsonValue labels(rapidjson::kObjectType);
  for (const auto& [k, v] : spec.labels) labels.AddMember(MakeString(k, a), MakeString(v, a), a);
  SetMember(d, "labels", std::move(labels), a);
  if (!spec.termination_message_path.empty()) {
    SetString(d, "terminationMessagePath", spec.termination_message_path, a);
  }
  if (spec.termination_message_fallback_to_logs) SetMember(d, "terminationMessageFallbackToLogs", JsonValue(true), a);
  return WriteFileAtomic(state_dir + "/" + kShimSpecFile, ToJson(d));
}

StatusOr<ShimSpec> ReadShimSpec(const std::string& state_dir) {
  MINIK_ASSIGN_OR_RETURN(std::string text, ReadFile(state_dir + "/" + kShimSpecFile));
  MINIK_ASSIGN_OR_RETURN(JsonDoc d, ParseJson(text));
  if (!d.IsObject()) return Status::Invalid("spec.json is not an object");
  ShimSpec s;
  s.id = std::string(GetString(d, "id").value_or(""));
  s.bundle_dir = std::string(GetString(d, "bundle").value_or(""));
  s.log_path = std::string(GetString(d, "logPath").value_or(""));
  s.runtime = std::string(GetString(d, "runtime").value_or(""));
  s.runtime_root = std::string(GetString(d, "runtimeRoot").value_or(""));
  s.stdin = GetBool(d, "stdin").value_or(false);
  s.stdin_once = GetBool(d, "stdinOnce").value_or(false);
  s.tty = GetBool(d, "tty").value_or(false);
  s.created_ns = GetInt(d, "createdNs").value_or(0);
  if (const JsonValue* l = Member(d, "labels"); l && l->IsObject()) {
    for (auto it = l->MemberBegin(); it != l->MemberEnd(); ++it) {
      if (it->value.IsString()) s.labels[it->name.GetString()] = it->value.GetString();
    }
  }
  s.termination_message_path = std::string(GetString(d, "terminationMessagePath").value_or(""));
  s.termination_message_fallback_to_logs = GetBool(d, "terminationMessageFallbackToLogs").value_or(false);
  if (s.id.empty()) return Status::Invalid("spec.json has no id");
  return s;
}

Status WriteShimStatus(const std::string& state_dir, const ShimStatus& st) {
  JsonDoc d;
  d.SetObject();
  auto& a = d.GetAllocator();
  SetMember(d, "pid", JsonValue(st.pid), a);
  SetMember(d, "shimPid", JsonValue(st.shim_pid), a);
  SetMember(d, "startedNs", JsonValue(static_cast<int64_t>(st.started_ns)), a);
  SetMember(d, "exited", JsonValue(st.exited), a);
  if (st.exited) {
    SetMember(d, "finishedNs", JsonValue(static_cast<int64_t>(st.finished_ns)), a);
    SetMember(d, "exitCode", JsonValue(st.exit_code), a);
    SetMember(d, "signal", JsonValue(st.signal), a);
    SetString(d, "reason", st.reason, a);
    if (!st.message.empty()) SetString(d, "message", st.message, a);
  }
  return WriteFileAtomic(state_dir + "/" + kShimStatusFile, ToJson(d));
}

StatusOr<ShimStatus> ReadShimStatus(const std::string& state_dir) {
  MINIK_ASSIGN_OR_RETURN(std::string text, ReadFile(state_dir + "/" + kShimStatusFile));
  MINIK_ASSIGN_OR_RETURN(JsonDoc d, ParseJson(text));
  if (!d.IsObject()) return Status::Invalid("status.json is not an object");
  ShimStatus s;
  s.pid = static_cast<int>(GetInt(d, "pid").value_or(0));
  s.shim_pid = static_cast<int>(GetInt(d, "shimPid").value_or(0));
  s.started_ns = GetInt(d, "startedNs").value_or(0);
  s.exited = GetBool(d, "exited").value_or(false);
  s.finished_ns = GetInt(d, "finishedNs").value_or(0);
  s.exit_code = static_cast<int>(GetInt(d, "exitCode").value_or(0));
  s.signal = static_cast<int>(GetInt(d, "signal").value_or(0));
  s.reason = std::string(GetString(d, "reason").value_or(""));
  s.message = std::string(GetString(d, "message").value_or(""));
  return s;
}

// ---------------------------------------------------------------------------------------------
// The shim process

namespace {

constexpr int64_t kDrainMs = 2000;  // output still read this long after the container exited

int64_t MonoMs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

void SetNonBlock(int fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl >= 0) fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

void CloseFd(int* fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

// The memory cgroup of a process: the file holding its OOM-kill count ("" when
// unknown).
std::string OomCounterFile(int pid) {
  auto text = ReadFile("/proc/" + std::to_string(pid) + "/cgroup");
  if (!text.ok()) return "";
  bool v2 = access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0;
  std::string_view all = *text;
  while (!all.empty()) {
    size_t nl = all.find('\n');
    std::string_view line = all.substr(0, nl);
    all = nl == std::string_view::npos ? std::string_view() : all.substr(nl + 1);
    size_t c1 = line.find(':');
    size_t c2 = c1 == std::string_view::npos ? c1 : line.find(':', c1 + 1);
    if (c2 == std::string_view::npos) continue;
    std::string_view ctrls = line.substr(c1 + 1, c2 - c1 - 1);
    std::string path(line.substr(c2 + 1));
    if (v2) {
      if (line.substr(0, c1) == "0" && ctrls.empty()) return "/sys/fs/cgroup" + path + "/memory.events";
      continue;
    }
    // v1: "4:memory:/path" (the controller list may be comma-separated).
    std::string_view rest = ctrls;
    while (!rest.empty()) {
      size_t comma = rest.find(',');
      if (rest.substr(0, comma) == "memory") return "/sys/fs/cgroup/memory" + path + "/memory.oom_control";
      if (comma == std::string_view::npos) break;
      rest = rest.substr(comma + 1);
    }
  }
  return "";
}

// The "oom_kill N" counter of memory.events (v2) or memory.oom_control (v1); -1
// if unreadable.
int64_t ReadOomKills(const std::string& file) {
  if (file.empty()) return -1;
  auto text = ReadFile(file);
  if (!text.ok()) return -1;
  size_t pos = 0;
  while (pos < text->size()) {
    size_t nl = text->find('\n', pos);
    std::string line = text->substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    if (line.rfind("oom_kill ", 0) == 0) return std::strtoll(line.c_str() + 9, nullptr, 10);
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
  return -1;
}

// The error an OCI runtime invocation reports: its JSON log's last error, else
// its output.
std::string RuntimeError(const std::string& log_path, const std::string& output, int exit_code) {
  std::string msg = internal::LastRuntimeError(log_path);
  if (msg.empty()) {
    msg = output;
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    if (size_t nl = msg.rfind('\n'); nl != std::string::npos) msg = msg.substr(nl + 1);
  }
  if (msg.empty()) msg = "exit status " + std::to_string(exit_code);
  return msg;
}

// Drops this process's resident pages of file mappings that hold no private
// (copied-on-write) page: library and program text and read-only data touched
// while starting. They are page cache, shared with other processes; the few the
// loop needs fault back in. Keeps the shim's RSS near its working set.
// Single-threaded callers only.
void DropCleanFileMappings() {
  auto smaps = ReadFile("/proc/self/smaps");
  if (!smaps.ok()) return;
  uintptr_t start = 0, end = 0;
  bool candidate = false;
  auto flush = [&](bool clean) {
    if (candidate && clean && end > start) madvise(reinterpret_cast<void*>(start), end - start, MADV_DONTNEED);
    candidate = false;
  };
  size_t pos = 0;
  const std::string& t = *smaps;
  while (pos < t.size()) {
    size_t nl = t.find('\n', pos);
    if (nl == std::string::npos) nl = t.size();
    std::string_view line(t.data() + pos, nl - pos);
    pos = nl + 1;
    if (line.empty()) continue;
    if (std::isxdigit(static_cast<unsigned char>(line[0])) && line.find('-') < line.find(' ')) {
      // "start-end perms offset dev inode path"
      unsigned long long a = 0, b = 0;
      char perms[8] = {};
      unsigned long long inode = 0;
      std::string l(line);
      if (std::sscanf(l.c_str(), "%llx-%llx %7s %*s %*s %llu", &a, &b, perms, &inode) != 4) continue;
      start = a;
      end = b;
      candidate = inode != 0 && perms[1] == '-' && perms[3] == 'p';  // private, not writable
      continue;
    }
    if (line.rfind("Anonymous:", 0) == 0) {
      long long kb = std::atoll(std::string(line.substr(10)).c_str());
      flush(kb == 0);
    }
  }
}

// The kubelet's limits for termination messages (pkg/kubelet/container: MaxContainerTermination
// MessageLength, ...LogLength, ...LogLines).
constexpr size_t kTerminationMessageMax = 4096;
constexpr size_t kTerminationLogMax = 2048;
constexpr int kTerminationLogLines = 80;

// The last kTerminationMessageMax bytes of a file ("" when it is missing or empty).
std::string ReadFileTail(const std::string& path, std::string* error) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno != ENOENT) *error = "Error on reading termination log " + path + ": " + std::strerror(errno);
    return "";
  }
  std::string out;
  struct stat st;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
    off_t from = st.st_size > static_cast<off_t>(kTerminationMessageMax)
                     ? st.st_size - static_cast<off_t>(kTerminationMessageMax)
                     : 0;
    out.resize(kTerminationMessageMax);
    ssize_t r = pread(fd, out.data(), out.size(), from);
    out.resize(r > 0 ? static_cast<size_t>(r) : 0);
  }
  close(fd);
  return out;
}

// The last kTerminationLogLines lines of what a container wrote (the log's content, both streams),
// at most kTerminationLogMax bytes of them: what FallbackToLogsOnError reports.
std::string LogTailMessage(std::string tail) {
  size_t pos = 0;
  while ((pos = tail.find("\r\n", pos)) != std::string::npos) tail.erase(pos, 1);
  size_t end = tail.size();
  if (end > 0 && tail[end - 1] == '\n') --end;  // the last line's own newline
  int lines = 0;
  size_t cut = 0;
  for (size_t i = end; i > 0; --i) {
    if (tail[i - 1] == '\n' && ++lines == kTerminationLogLines) {
      cut = i;
      break;
    }
  }
  return tail.substr(cut);
}

class Shim {
 public:
  Shim(std::string dir, ShimSpec spec, int ready_fd)
      : dir_(std::move(dir)), spec_(std::move(spec)), ready_fd_(ready_fd) {}
  int Run();

 private:
  struct Client {
    int sock = -1;
    int out = -1;  // attach: stdout (or terminal) pipe
    int err = -1;  // attach: stderr pipe
    int in = -1;   // attach: stdin pipe
    std::string buf;
    bool dead = false;
  };

  std::vector<std::string> RuntimeArgs(std::initializer_list<std::string> rest) const;
  bool Start(std::string* error);
  void Report(const std::string& msg);
  void Serve();
  void Reap();
  void OnOutput(int which);
  void Forward(int which, const char* data, size_t n);
  void OnClientData(Client& c);
  void OnClientStdin(Client& c);
  void CloseContainerStdin();
  std::string TerminationMessage();

  std::string dir_;
  ShimSpec spec_;
  int ready_fd_;
  std::unique_ptr<CriLogWriter> log_;
  ShimStatus status_;
  std::string oom_file_;
  int64_t oom_before_ = -1;

  int sigfd_ = -1;
  int listen_fd_ = -1;
  int out_fd_[2] = {-1, -1};  // stdout, stderr (with a TTY: the terminal master, and -1)
  int stdin_fd_ = -1;         // write end of the container's stdin (the terminal master with a TTY)
  int console_ = -1;          // the terminal master (TTY only)
  std::string stdin_pending_;
  std::vector<Client> clients_;
  std::string log_tail_;  // the last output, kept for FallbackToLogsOnError only
  bool exited_ = false;
  int64_t drain_deadline_ = 0;
};

std::vector<std::string> Shim::RuntimeArgs(std::initializer_list<std::string> rest) const {
  std::vector<std::string> argv = {spec_.runtime,  "--root", spec_.runtime_root, "--log", dir_ + "/" + kRuncLogFile,
                                   "--log-format", "json"};
  argv.insert(argv.end(), rest);
  return argv;
}

void Shim::Report(const std::string& msg) {
  if (ready_fd_ < 0) return;
  size_t off = 0;
  while (off < msg.size()) {
    ssize_t w = write(ready_fd_, msg.data() + off, msg.size() - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;
    off += static_cast<size_t>(w);
  }
  CloseFd(&ready_fd_);
}

bool Shim::Start(std::string* error) {
  auto log = CriLogWriter::Open(spec_.log_path);
  if (!log.ok()) {
    *error = log.status().message();
    return false;
  }
  log_ = std::move(*log);

  int child_in = -1, child_out = -1, child_err = -1;
  int console_listen = -1;
  std::string console_path;
  if (spec_.tty) {
    console_listen = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr = {};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path,
                "console.sock");  // relative to the state dir (our cwd)
    unlink("console.sock");
    if (console_listen < 0 || bind(console_listen, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        listen(console_listen, 1) != 0) {
      *error = std::string("console socket: ") + std::strerror(errno);
      return false;
    }
    // The OCI runtime resolves the path after moving into the bundle: name our
    // cwd absolutely.
    console_path = "/proc/" + std::to_string(getpid()) + "/cwd/console.sock";
  } else {
    int o[2], e[2];
    if (pipe2(o, O_CLOEXEC) != 0 || pipe2(e, O_CLOEXEC) != 0) {
      *error = std::string("pipe: ") + std::strerror(errno);
      return false;
    }
    out_fd_[0] = o[0];
    child_out = o[1];
    out_fd_[1] = e[0];
    child_err = e[1];
    if (spec_.stdin) {
      int i[2];
      if (pipe2(i, O_CLOEXEC) != 0) {
        *error = std::string("pipe: ") + std::strerror(errno);
        return false;
      }
      child_in = i[0];
      stdin_fd_ = i[1];
    }
  }

  // One `runc run --detach` (create and start in one invocation: one Go process less per
  // container than `create` + `start`).
  internal::SpawnOptions so;
  so.argv = spec_.tty ? RuntimeArgs({"run", "--detach", "--bundle", spec_.bundle_dir, "--pid-file",
                                     dir_ + "/" + kContainerPidFile, "--console-socket", console_path, spec_.id})
                      : RuntimeArgs({"run", "--detach", "--bundle", spec_.bundle_dir, "--pid-file",
                                     dir_ + "/" + kContainerPidFile, spec_.id});
  so.stdin_fd = child_in;
  so.stdout_fd = child_out;
  so.stderr_fd = child_err;
  so.cwd = dir_;
  auto pid = internal::Spawn(so);
  CloseFd(&child_in);
  CloseFd(&child_out);
  CloseFd(&child_err);
  if (!pid.ok()) {
    close(console_listen);
    *error = pid.status().message();
    return false;
  }
  int code = ExitCodeOf(internal::WaitPid(*pid));
  if (code != 0) {
    close(console_listen);
    *error = RuntimeError(dir_ + "/" + kRuncLogFile, "", code);
    // What failed is the creation (`run` creates, then starts): containerd, which creates and
    // starts in two calls, words it "runc create failed".
    if (error->rfind("runc run failed: ", 0) == 0) error->replace(0, 8, "runc create");
    internal::Run(RuntimeArgs({"delete", "--force", spec_.id}), 10000).status().ok();
    return false;
  }
  status_.started_ns = WallNowNs();
  if (spec_.tty) {
    // The runtime sent the terminal master on the console socket before
    // exiting.
    SetNonBlock(console_listen);
    int conn = accept4(console_listen, nullptr, nullptr, SOCK_CLOEXEC);
    close(console_listen);
    unlink("console.sock");
    if (conn >= 0) {
      char b[64];
      struct iovec iov = {b, sizeof b};
      alignas(struct cmsghdr) char cbuf[CMSG_SPACE(sizeof(int))];
      struct msghdr msg = {};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = cbuf;
      msg.msg_controllen = sizeof cbuf;
      if (recvmsg(conn, &msg, MSG_CMSG_CLOEXEC) >= 0) {
        for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
          if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
            std::memcpy(&console_, CMSG_DATA(c), sizeof(int));
        }
      }
      close(conn);
    }
    if (console_ < 0) {
      *error = "did not receive the container's terminal on the console socket";
      internal::Run(RuntimeArgs({"delete", "--force", spec_.id}), 10000).status().ok();
      return false;
    }
    out_fd_[0] = console_;
    stdin_fd_ = spec_.stdin ? console_ : -1;
  }

  auto pid_text = ReadFile(dir_ + "/" + kContainerPidFile);
  status_.pid = pid_text.ok() ? std::atoi(pid_text->c_str()) : 0;
  if (status_.pid > 0) {
    // The container's cgroup is its own (the kubelet gives each container one, named after its
    // ID), so every OOM kill it counts is this container's: counting from 0 also catches one
    // that happened before this line.
    oom_file_ = OomCounterFile(status_.pid);
    oom_before_ = oom_file_.empty() ? -1 : 0;
  }
  return true;
}

int Shim::Run() {
  status_.shim_pid = getpid();
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  sigfd_ = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  signal(SIGPIPE, SIG_IGN);

  // The socket first, so that a client that finds the state dir can connect.
  listen_fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, kShimSocket);
  unlink(kShimSocket);
  std::string error;
  if (listen_fd_ < 0 || bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(listen_fd_, 64) != 0) {
    error = std::string("shim socket: ") + std::strerror(errno);
  }
  if (error.empty() && !Start(&error) && error.empty()) error = "failed to start the container";
  if (!error.empty()) {
    status_.exited = true;
    status_.finished_ns = WallNowNs();
    status_.exit_code = 128;
    status_.reason = "StartError";
    status_.message = error;
    WriteShimStatus(dir_, status_).ok();
    Report("E" + error);
    return 1;
  }
  if (!WriteShimStatus(dir_, status_).ok()) {
    // The container runs but could not be recorded: stop it rather than leave
    // it unsupervised.
    internal::Run(RuntimeArgs({"kill", spec_.id, "KILL"}), 10000).status().ok();
  }
  Report("OK");
  malloc_trim(0);
  DropCleanFileMappings();

  if (out_fd_[0] >= 0) SetNonBlock(out_fd_[0]);
  if (out_fd_[1] >= 0) SetNonBlock(out_fd_[1]);
  if (stdin_fd_ >= 0) SetNonBlock(stdin_fd_);
  Serve();

  if (log_) {
    log_->Close(CriLogWriter::Stream::kStdout);
    log_->Close(CriLogWriter::Stream::kStderr);
  }
  int64_t oom_after = ReadOomKills(oom_file_);
  if (status_.reason.empty()) {
    if (oom_before_ >= 0 && oom_after > oom_before_) {
      status_.reason = "OOMKilled";
    } else {
      status_.reason = status_.exit_code == 0 ? "Completed" : "Error";
    }
  }
  status_.message = TerminationMessage();
  WriteShimStatus(dir_, status_).ok();
  return 0;
}

// As the kubelet's getTerminationMessage and readLastStringFromContainerLogs.
std::string Shim::TerminationMessage() {
  bool fallback = spec_.termination_message_fallback_to_logs && status_.exit_code != 0;
  std::string msg;
  if (!spec_.termination_message_path.empty()) {
    std::string error;
    msg = ReadFileTail(spec_.termination_message_path, &error);
    if (!error.empty()) return error;
  }
  if (msg.empty() && fallback) {
    msg = LogTailMessage(std::move(log_tail_));
    if (msg.size() > kTerminationLogMax) msg.erase(0, msg.size() - kTerminationLogMax);
  }
  return msg;
}

void Shim::Reap() {
  struct signalfd_siginfo si;
  while (read(sigfd_, &si, sizeof si) > 0) {
  }
  int ws;
  pid_t p;
  while ((p = waitpid(-1, &ws, WNOHANG)) > 0) {
    if (p != status_.pid || exited_) continue;
    exited_ = true;
    status_.exited = true;
    status_.finished_ns = WallNowNs();
    status_.exit_code = ExitCodeOf(ws);
    status_.signal = WIFSIGNALED(ws) ? WTERMSIG(ws) : 0;
    drain_deadline_ = MonoMs() + kDrainMs;
  }
}

void Shim::Forward(int which, const char* data, size_t n) {
  for (auto& c : clients_) {
    int& fd = which == 0 ? c.out : c.err;
    if (fd < 0) continue;
    ssize_t w = write(fd, data, n);
    if (w < 0 && errno != EAGAIN && errno != EINTR) CloseFd(&fd);
  }
}

void Shim::OnOutput(int which) {
  char buf[16 * 1024];
  for (int i = 0; i < 8; ++i) {  // bounded, so that one busy stream does not starve the rest
    ssize_t r = read(out_fd_[which], buf, sizeof buf);
    if (r > 0) {
      auto stream = which == 0 ? CriLogWriter::Stream::kStdout : CriLogWriter::Stream::kStderr;
      log_->Write(stream, std::string_view(buf, static_cast<size_t>(r)));
      Forward(which, buf, static_cast<size_t>(r));
      if (spec_.termination_message_fallback_to_logs) {
        log_tail_.append(buf, static_cast<size_t>(r));
        // Twice the limit, so that "\r\n" endings (one byte each in the log) never shorten it.
        if (log_tail_.size() > 2 * kTerminationLogMax) log_tail_.erase(0, log_tail_.size() - 2 * kTerminationLogMax);
      }
      continue;
    }
    if (r < 0 && (errno == EAGAIN || errno == EINTR)) return;
    // EOF, or EIO from a terminal whose other side is gone.
    log_->Close(which == 0 ? CriLogWriter::Stream::kStdout : CriLogWriter::Stream::kStderr);
    if (out_fd_[which] == console_) {
      out_fd_[which] = -1;  // the terminal stays open for stdin until the end
    } else {
      CloseFd(&out_fd_[which]);
    }
    return;
  }
}

void Shim::CloseContainerStdin() {
  if (stdin_fd_ >= 0 && stdin_fd_ != console_) close(stdin_fd_);
  stdin_fd_ = -1;
  stdin_pending_.clear();
}

void Shim::OnClientStdin(Client& c) {
  char buf[4096];
  ssize_t r = read(c.in, buf, sizeof buf);
  if (r < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (r <= 0) {
    CloseFd(&c.in);
    if (spec_.stdin_once) CloseContainerStdin();
    return;
  }
  if (stdin_fd_ >= 0) stdin_pending_.append(buf, static_cast<size_t>(r));
}

void Shim::OnClientData(Client& c) {
  char b[64];
  struct iovec iov = {b, sizeof b};
  alignas(struct cmsghdr) char cbuf[CMSG_SPACE(sizeof(int) * 4)];
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = cbuf;
  msg.msg_controllen = sizeof cbuf;
  ssize_t r = recvmsg(c.sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  if (r < 0 && (errno == EAGAIN || errno == EINTR)) return;
  int fds[4];
  int nfds = 0;
  for (struct cmsghdr* cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
    if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) continue;
    int n = static_cast<int>((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
    for (int i = 0; i < n && nfds < 4; ++i) std::memcpy(&fds[nfds++], CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
  }
  if (r <= 0) {
    for (int i = 0; i < nfds; ++i) close(fds[i]);
    c.dead = true;
    return;
  }
  c.buf.append(b, static_cast<size_t>(r));
  int next_fd = 0;
  while (!c.buf.empty()) {
    char cmd = c.buf[0];
    if (cmd == 'W') {
      c.buf.erase(0, 1);
    } else if (cmd == 'A') {
      if (c.buf.size() < 2) break;
      int flags = static_cast<unsigned char>(c.buf[1]);
      c.buf.erase(0, 2);
      auto take = [&]() { return next_fd < nfds ? fds[next_fd++] : -1; };
      CloseFd(&c.out);
      CloseFd(&c.err);
      CloseFd(&c.in);
      c.out = take();
      if (flags & 1) c.err = take();
      if (flags & 2) c.in = take();
      for (int fd : {c.out, c.err, c.in}) {
        if (fd >= 0) SetNonBlock(fd);
      }
      if (!spec_.stdin) CloseFd(&c.in);
    } else if (cmd == 'R') {
      if (c.buf.size() < 5) break;
      auto u16 = [&](size_t i) {
        return static_cast<uint16_t>(static_cast<unsigned char>(c.buf[i]) |
                                     (static_cast<unsigned char>(c.buf[i + 1]) << 8));
      };
      struct winsize ws = {};
      ws.ws_col = u16(1);
      ws.ws_row = u16(3);
      c.buf.erase(0, 5);
      if (console_ >= 0) ioctl(console_, TIOCSWINSZ, &ws);
    } else {
      c.dead = true;  // not our protocol
      break;
    }
  }
  while (next_fd < nfds) close(fds[next_fd++]);
}

void Shim::Serve() {
  enum Kind { kSig, kListen, kOut, kErr, kStdin, kSock, kIn };
  std::vector<struct pollfd> pfds;
  std::vector<std::pair<Kind, size_t>> what;
  for (;;) {
    if (exited_) {
      bool drained = out_fd_[0] < 0 && out_fd_[1] < 0;
      if (drained || MonoMs() >= drain_deadline_) break;
    }
    pfds.clear();
    what.clear();
    auto add = [&](int fd, short events, Kind k, size_t i) {
      pfds.push_back({fd, events, 0});
      what.emplace_back(k, i);
    };
    add(sigfd_, POLLIN, kSig, 0);
    add(listen_fd_, POLLIN, kListen, 0);
    if (out_fd_[0] >= 0) add(out_fd_[0], POLLIN, kOut, 0);
    if (out_fd_[1] >= 0) add(out_fd_[1], POLLIN, kErr, 0);
    if (stdin_fd_ >= 0 && !stdin_pending_.empty()) add(stdin_fd_, POLLOUT, kStdin, 0);
    for (size_t i = 0; i < clients_.size(); ++i) {
      add(clients_[i].sock, POLLIN, kSock, i);
      if (clients_[i].in >= 0 && stdin_pending_.empty()) add(clients_[i].in, POLLIN, kIn, i);
    }
    int timeout = -1;
    if (exited_) timeout = static_cast<int>(std::max<int64_t>(0, drain_deadline_ - MonoMs()));
    int n = poll(pfds.data(), pfds.size(), timeout);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (size_t i = 0; i < pfds.size(); ++i) {
      if (!pfds[i].revents) continue;
      auto [kind, idx] = what[i];
      switch (kind) {
        case kSig:
          Reap();
          break;
        case kListen:
          for (;;) {
            int s = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
            if (s < 0) break;
            Client c;
            c.sock = s;
            clients_.push_back(std::move(c));
          }
          break;
        case kOut:
          OnOutput(0);
          break;
        case kErr:
          OnOutput(1);
          break;
        case kStdin: {
          ssize_t w = write(stdin_fd_, stdin_pending_.data(), stdin_pending_.size());
          if (w > 0) {
            stdin_pending_.erase(0, static_cast<size_t>(w));
          } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
            CloseContainerStdin();
          }
          break;
        }
        case kSock:
          if (idx < clients_.size()) OnClientData(clients_[idx]);
          break;
        case kIn:
          if (idx < clients_.size()) OnClientStdin(clients_[idx]);
          break;
      }
    }
    for (size_t i = 0; i < clients_.size();) {
      if (clients_[i].dead) {
        for (int* fd : {&clients_[i].sock, &clients_[i].out, &clients_[i].err, &clients_[i].in}) CloseFd(fd);
        clients_.erase(clients_.begin() + static_cast<long>(i));
      } else {
        ++i;
      }
    }
    if (clients_.empty() && clients_.capacity() > 8) clients_.shrink_to_fit();
  }
}

}  // namespace

int ShimMain(const std::vector<std::string>& args) {
  std::string dir;
  int ready_fd = -1;
  for (const auto& a : args) {
    if (a.rfind("--ready-fd=", 0) == 0) {
      ready_fd = std::atoi(a.c_str() + 11);
    } else if (dir.empty()) {
      dir = a;
    } else {
      return 2;
    }
  }
  if (dir.empty()) {
    const char usage[] = "usage: minik shim STATE_DIR [--ready-fd=N]\n";
    if (write(2, usage, sizeof usage - 1) < 0) return 2;
    return 2;
  }
  char real[PATH_MAX];
  if (!realpath(dir.c_str(), real)) return 2;
  dir = real;

  // Daemonize: the parent returns at once (its caller reaps it); the child
  // leads its own session and process group, away from the agent's.
  pid_t child = fork();
  if (child < 0) return 1;
  if (child > 0) _exit(0);
  setsid();
  int null = open("/dev/null", O_RDWR);
  if (null >= 0) {
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2);
    if (null > 2) close(null);
  }
  if (ready_fd >= 0 && ready_fd != 3) {
    dup2(ready_fd, 3);
    ready_fd = 3;
  }
  close_range(ready_fd >= 0 ? 4 : 3, ~0U, 0);
  if (ready_fd >= 0) fcntl(ready_fd, F_SETFD, FD_CLOEXEC);
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  if (chdir(dir.c_str()) != 0) _exit(1);
  std::string pid_text = std::to_string(getpid());
  WriteFileAtomic(dir + "/" + kShimPidFile, pid_text).ok();

  auto spec = ReadShimSpec(dir);
  if (!spec.ok()) {
    std::string msg = "E" + spec.status().message();
    if (ready_fd >= 0 && write(ready_fd, msg.data(), msg.size()) < 0) _exit(1);
    _exit(1);
  }
  Shim shim(dir, std::move(*spec), ready_fd);
  int rc = shim.Run();
  _exit(rc);
}

}  // namespace minik::agent::runtime
