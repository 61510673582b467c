#include "agent/kubelet/streaming_backend.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <optional>

#include "agent/kubelet/fd_stream.h"
#include "agent/oci/namespaces.h"
#include "agent/runtime/cri_log.h"
#include "common/log.h"

namespace minik::agent::kubelet {

namespace st = streaming;
using runtime::ExecProcessPtr;

namespace {

constexpr size_t kLogChunk = 64 * 1024;
constexpr uint64_t kLogPollMs = 100;    // follow without inotify (watch failed)
constexpr int kConnectTimeoutSec = 30;  // a connect to a port whose backlog is full

std::string Dirname(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// The pod's name as the kubelet spells it in messages ("name_namespace").
std::string PodFullName(const st::PodRef& ref) { return ref.pod + "_" + ref.namespace_; }

// Go's wording of an errno ("connection refused"): strerror with a lowercase first letter.
std::string GoErrno(int err) {
  std::string s = std::strerror(err);
  if (!s.empty()) s[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[0])));
  return s;
}

// Go's "tcp4 127.0.0.1:38268->127.0.0.1:8443" of a connected socket.
std::string SocketAddrs(int fd) {
  sockaddr_storage local{}, peer{};
  socklen_t ll = sizeof local, pl = sizeof peer;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &ll) != 0 ||
      getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &pl) != 0) {
    return "tcp";
  }
  auto fmt = [](const sockaddr_storage& a) {
    char buf[INET6_ADDRSTRLEN] = {};
    if (a.ss_family == AF_INET6) {
      const auto* s6 = reinterpret_cast<const sockaddr_in6*>(&a);
      inet_ntop(AF_INET6, &s6->sin6_addr, buf, sizeof buf);
      return "[" + std::string(buf) + "]:" + std::to_string(ntohs(s6->sin6_port));
    }
    const auto* s4 = reinterpret_cast<const sockaddr_in*>(&a);
    inet_ntop(AF_INET, &s4->sin_addr, buf, sizeof buf);
    return std::string(buf) + ":" + std::to_string(ntohs(s4->sin_port));
  };
  return std::string(local.ss_family == AF_INET6 ? "tcp6 " : "tcp4 ") + fmt(local) + "->" + fmt(peer);
}

// Connects to localhost:port over one address family (blocking); the fd, or -errno.
int ConnectLoopback(int family, int port) {
  int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  timeval tv{kConnectTimeoutSec, 0};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  int rc;
  if (family == AF_INET) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    do rc = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    while (rc != 0 && errno == EINTR);
  } else {
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(static_cast<uint16_t>(port));
    a.sin6_addr = in6addr_loopback;
    do rc = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    while (rc != 0 && errno == EINTR);
  }
  if (rc != 0) {
    int err = errno == EINPROGRESS ? ETIMEDOUT : errno;
    close(fd);
    return -err;
  }
  timeval zero{0, 0};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &zero, sizeof zero);
  return fd;
}

struct ConnectResult {
  int fd = -1;
  int err4 = 0, err6 = 0;  // errno of each attempt
  Status netns;            // joining the namespace failed
};

// Runs on a WorkPool thread.
ConnectResult ConnectInNetns(const std::string& netns, int port) {
  ConnectResult r;
  auto dial = [&r, port] {
    int fd = ConnectLoopback(AF_INET, port);
    if (fd >= 0) {
      r.fd = fd;
      return;
    }
    r.err4 = -fd;
    fd = ConnectLoopback(AF_INET6, port);
    if (fd >= 0) {
      r.fd = fd;
      return;
    }
    r.err6 = -fd;
  };
  if (netns.empty()) {
    dial();
  } else {
    r.netns = oci::RunInNetns(netns, dial);
  }
  return r;
}

int DupFd(int fd) { return fd < 0 ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, 0); }

}  // namespace

// ---------------------------------------------------------------------------------------------

struct KubeletStreaming::LogStream {
  std::shared_ptr<st::LogSink> sink;
  std::unique_ptr<runtime::CriLogReader> reader;
  std::string container_id;
  bool follow = false;  // the container runs: keep reading until it exits
  bool exited = false;
  bool paused = false;  // the sink is full: wait for OnWritable
  bool in_pump = false;
  bool repump = false;
  bool pump_posted = false;
  bool done = false;
  http::HandlePtr watch;
};

struct KubeletStreaming::ExecStream {
  uint64_t id = 0;
  std::shared_ptr<st::ExecSession> session;
  st::ExecRequest req;
  std::string container_id;
  ExecProcessPtr proc;
  std::unique_ptr<FdStream> in, out, err;
  bool started = false;
  bool stdin_shared = false;  // stdin is written to `out` (a terminal master)
  bool stdin_end = false;     // the client ended stdin
  bool stdin_closed = false;  // nothing more goes to the process
  bool stdin_paused = false;
  bool out_paused = false;
  bool out_done = true, err_done = true;
  std::string early_stdin;  // before the process started
  std::optional<st::TerminalSize> size;
  std::optional<st::TerminalSize> initial_size;  // passed to the runtime with the exec request
  std::optional<StatusOr<int>> result;
  uint64_t output_since_tick = 0;
  http::HandlePtr drain_timer;
  bool done = false;
};

struct KubeletStreaming::Forward {
  uint64_t id = 0;
  std::shared_ptr<st::PortForwardStream> stream;
  st::PortForwardRequest req;
  std::string netns;  // "" = the host's
  std::unique_ptr<FdStream> sock;
  std::string addrs;  // "tcp4 127.0.0.1:x->127.0.0.1:port" for error messages
  std::string early;  // client bytes before the connection is made
  bool client_ended = false;
  bool socket_ended = false;
  bool input_paused = false;
  bool output_paused = false;
  bool done = false;
};

KubeletStreaming::KubeletStreaming(http::Loop& loop, WorkPool& pool, ContainerLocator& locator,
                                   runtime::Runtime& runtime, NetnsPathFn netns_path, KubeletStreamingOptions options)
    : loop_(loop),
      pool_(pool),
      locator_(locator),
      runtime_(runtime),
      netns_path_(std::move(netns_path)),
      options_(options) {
  std::weak_ptr<bool> alive = alive_;
  locator_.AddExitListener([this, alive](const std::string& id) {
    if (alive.lock()) OnContainerExit(id);
  });
}

KubeletStreaming::~KubeletStreaming() {
  *alive_ = false;
  // Exec'd processes are killed and attaches detached by dropping their processes; unfinished
  // sessions are reset by dropping them.
  forwards_.clear();
  execs_.clear();
  logs_.clear();
}

// ---------------------------------------------------------------------------------------------
// Logs

KubeletStreaming::LogStream* KubeletStreaming::FindLog(uint64_t id) {
  auto it = logs_.find(id);
  return it == logs_.end() || it->second->done ? nullptr : it->second.get();
}

void KubeletStreaming::Logs(const st::LogRequest& req, std::shared_ptr<st::LogSink> sink) {
  auto ref = locator_.Locate(req.ref.namespace_, req.ref.pod, req.ref.uid, req.ref.container, req.previous);
  if (!ref.ok()) {
    sink->Fail(ref.status());
    return;
  }
  runtime::LogReadOptions o;
  if (req.tail_lines) o.tail_lines = std::max<int64_t>(*req.tail_lines, 0);
  if (req.limit_bytes) o.limit_bytes = std::max<int64_t>(*req.limit_bytes, 0);
  o.timestamps = req.timestamps;
  if (req.since_seconds) {
    o.since_ns = runtime::WallNowNs() - *req.since_seconds * 1000000000LL;
  } else if (!req.since_time.empty()) {
    int64_t ns = 0;
    if (runtime::ParseRFC3339Nano(req.since_time, &ns)) o.since_ns = ns;
  }
  bool follow = req.follow && !req.previous && ref->running;
  if (follow) {
    // The kubelet's view may lag the runtime's: a container already gone is not followed.
    auto cs = runtime_.Get(ref->id);
    if (cs && cs->state == runtime::ContainerStatus::State::kExited) follow = false;
  }
  o.follow = follow;

  uint64_t id = next_id_++;
  auto s = std::make_unique<LogStream>();
  s->sink = sink;
  s->container_id = ref->id;
  s->follow = follow;
  std::weak_ptr<bool> alive = alive_;
  if (follow) {
    // Watch before the first read, so that nothing appended in between is missed. The directory:
    // a rotation renames the file and creates a new one.
    auto watch = loop_.WatchPath(Dirname(ref->log_path), [this, alive, id](const std::string&) {
      if (alive.lock()) PumpLog(id);
    });
    if (watch.ok()) {
      s->watch = std::move(*watch);
    } else {
      MINIK_LOG(Warning) << "kubectl logs -f: " << watch.status().message() << "; polling instead";
      s->watch = loop_.AddTimer(kLogPollMs, kLogPollMs, [this, alive, id] {
        if (alive.lock()) PumpLog(id);
      });
    }
  }
  auto reader = runtime::CriLogReader::Open(ref->log_path, o);
  if (!reader.ok()) {
    // The kubelet answers a log it cannot open with 400 and the reason.
    sink->Fail(Status::BadRequest(reader.status().message()));
    return;
  }
  s->reader = std::move(*reader);
  logs_[id] = std::move(s);
  sink->OnWritable([this, alive, id] {
    if (!alive.lock()) return;
    LogStream* l = FindLog(id);
    if (l == nullptr || !l->paused) return;
    l->paused = false;
    PumpLog(id);
  });
  sink->OnCancel([this, alive, id] {
    if (alive.lock()) FinishLog(id);
  });
  sink->Accept();
  PumpLog(id);
}

void KubeletStreaming::PumpLog(uint64_t id) {
  LogStream* s = FindLog(id);
  if (s == nullptr) return;
  if (s->in_pump) {  // a write called back into us: the running pump goes on
    s->repump = true;
    return;
  }
  if (s->sink->closed()) {
    FinishLog(id);
    return;
  }
  s->in_pump = true;
  size_t produced = 0;
  std::string out;
  for (;;) {
    s->repump = false;
    if (s->sink->Buffered() > st::kHighWater) {
      s->paused = true;
      s->in_pump = false;
      return;
    }
    out.clear();
    Status rs = s->reader->ReadAvailable(&out, kLogChunk);
    if (!rs.ok()) {
      s->in_pump = false;
      s->sink->Fail(rs);
      FinishLog(id);
      return;
    }
    if (!out.empty()) {
      produced += out.size();
      if (!s->sink->Write(out)) {  // the client went away
        s->in_pump = false;
        FinishLog(id);
        return;
      }
    }
    if (s->done) {  // cancelled from inside the write
      s->in_pump = false;
      return;
    }
    if (s->reader->done()) break;
    if (s->reader->more_available() || s->repump) {
      if (produced >= options_.log_burst_bytes) {
        // Let the loop breathe: continue on a later turn.
        s->in_pump = false;
        if (!s->pump_posted) {
          s->pump_posted = true;
          std::weak_ptr<bool> alive = alive_;
          loop_.Post([this, alive, id] {
            if (!alive.lock()) return;
            if (LogStream* l = FindLog(id)) {
              l->pump_posted = false;
              PumpLog(id);
            }
          });
        }
        return;
      }
      continue;
    }
    // Caught up with the file.
    if (s->follow && !s->exited) {
      s->in_pump = false;
      return;
    }
    break;
  }
  s->in_pump = false;
  s->sink->End();
  FinishLog(id);
}

void KubeletStreaming::FinishLog(uint64_t id) {
  auto it = logs_.find(id);
  if (it == logs_.end() || it->second->done) return;
  it->second->done = true;
  it->second->watch.reset();
  // Dropped on a later turn: we may be inside one of the sink's callbacks.
  std::weak_ptr<bool> alive = alive_;
  loop_.Post([this, alive, id] {
    if (alive.lock()) logs_.erase(id);
  });
}

void KubeletStreaming::OnContainerExit(const std::string& id) {
  std::vector<uint64_t> ids;
  for (auto& [lid, s] : logs_) {
    if (!s->done && s->follow && s->container_id == id) {
      s->exited = true;
      ids.push_back(lid);
    }
  }
  // The shim recorded the exit after it wrote the last output: one more read sees it all.
  for (uint64_t lid : ids) PumpLog(lid);
}

// ---------------------------------------------------------------------------------------------
// Exec and attach

KubeletStreaming::ExecStream* KubeletStreaming::FindExec(uint64_t id) {
  auto it = execs_.find(id);
  return it == execs_.end() || it->second->done ? nullptr : it->second.get();
}

void KubeletStreaming::Exec(const st::ExecRequest& req, std::shared_ptr<st::ExecSession> session) {
  // Upstream's kubelet looks for the container among the running ones and answers (500) with
  // these words when it is not there.
  Status not_found =
      req.attach ? Status::Internal("container " + req.ref.container + " not found in pod " + PodFullName(req.ref))
                 : Status::Internal("container not found (\"" + req.ref.container + "\")");
  auto ref = locator_.Locate(req.ref.namespace_, req.ref.pod, req.ref.uid, req.ref.container, false);
  if (!ref.ok()) {
    session->Fail(ref.status().code() == Code::kNotFound ? Status::NotFound("pod does not exist") : not_found);
    return;
  }
  if (!ref->running) {
    session->Fail(not_found);
    return;
  }
  if (!req.attach && req.command.empty()) {
    session->Fail(Status::BadRequest("command is required"));
    return;
  }
  uint64_t id = next_id_++;
  auto e = std::make_unique<ExecStream>();
  e->id = id;
  e->session = session;
  e->req = req;
  e->container_id = ref->id;
  execs_[id] = std::move(e);
  std::weak_ptr<bool> alive = alive_;
  session->SetHandlers({
      [this, alive, id](std::string_view d) {
        if (alive.lock()) ExecStdin(id, d);
      },
      [this, alive, id] {
        if (alive.lock()) ExecStdinEnd(id);
      },
      [this, alive, id](st::TerminalSize size) {
        if (!alive.lock()) return;
        ExecStream* x = FindExec(id);
        if (x == nullptr || !x->req.tty) return;
        x->size = size;
        if (x->proc) x->proc->Resize(size.width, size.height);
      },
      [this, alive, id] {
        if (alive.lock()) ExecCancel(id);
      },
  });
  session->OnWritable([this, alive, id] {
    if (alive.lock()) ExecResumeOutput(id);
  });
  auto done = [this, alive, id](StatusOr<ExecProcessPtr> proc) {
    if (alive.lock()) ExecStarted(id, std::move(proc));
  };
  if (req.attach) {
    runtime_.Attach(ref->id, req.stdin_, std::move(done));
    return;
  }
  auto start = [this, alive, id, container_id = ref->id, done = std::move(done)]() mutable {
    if (!alive.lock()) return;
    ExecStream* x = FindExec(id);
    if (x == nullptr) return;  // cancelled meanwhile
    runtime::ExecRequest r;
    r.container_id = container_id;
    r.argv = x->req.command;
    r.tty = x->req.tty;
    r.stdin = x->req.stdin_;
    // The terminal starts at the client's size when that came already (kubectl sends it first).
    if (r.tty && x->size) {
      r.cols = x->size->width;
      r.rows = x->size->height;
      x->initial_size = x->size;
    }
    runtime_.Exec(std::move(r), std::move(done));
  };
  // With a terminal, one loop turn first: the client's size, right behind the request, comes in.
  if (req.tty) {
    loop_.Post(std::move(start));
  } else {
    start();
  }
}

void KubeletStreaming::ExecStarted(uint64_t id, StatusOr<ExecProcessPtr> proc) {
  ExecStream* e = FindExec(id);
  if (e == nullptr) return;  // cancelled meanwhile: the process goes with `proc`
  if (!proc.ok()) {
    const Status& err = proc.error();
    if (err.code() == Code::kNotFound) {
      e->session->Fail(e->req.attach ? Status::Internal("container " + e->req.ref.container + " not found in pod " +
                                                        PodFullName(e->req.ref))
                                     : Status::Internal("container not found (\"" + e->req.ref.container + "\")"));
    } else {
      e->session->Fail(Status::Internal(err.message()));
    }
    FinishExec(id);
    return;
  }
  e->proc = std::move(*proc);
  runtime::ExecProcess& p = *e->proc;
  std::weak_ptr<bool> alive = alive_;
  auto open = [this, e](int fd, std::unique_ptr<FdStream>* out) -> bool {
    if (fd < 0) return true;
    int dup = DupFd(fd);  // the process object keeps (and closes) its own
    if (dup < 0) return false;
    auto s = FdStream::Open(loop_, dup, FdStream::Kind::kPipe);
    if (!s.ok()) {
      MINIK_LOG(Warning) << "exec in " << e->container_id << ": " << s.status().message();
      return false;
    }
    *out = std::move(*s);
    return true;
  };
  bool ok = open(p.stdout_fd(), &e->out) && open(p.stderr_fd(), &e->err);
  if (ok && p.stdin_fd() >= 0) {
    if (p.stdin_fd() == p.stdout_fd()) {
      e->stdin_shared = e->out != nullptr;
    } else {
      ok = open(p.stdin_fd(), &e->in);
    }
  }
  if (!ok) {
    p.Kill();
    e->session->Fail(Status::Internal("failed to connect the process's stdio: " + std::string(std::strerror(errno))));
    FinishExec(id);
    return;
  }
  e->started = true;
  if (!e->req.stdin_ || (e->in == nullptr && !e->stdin_shared)) e->stdin_closed = true;
  auto stdin_drained = [this, alive, id] {
    if (!alive.lock()) return;
    ExecStream* x = FindExec(id);
    if (x == nullptr) return;
    if (x->stdin_paused) {
      x->stdin_paused = false;
      x->session->ResumeStdin();
    }
    if (x->stdin_end) ExecCloseStdin(*x);
  };
  auto stdin_failed = [this, alive, id](const Status&) {
    if (!alive.lock()) return;
    ExecStream* x = FindExec(id);
    if (x == nullptr) return;
    // The process closed its stdin (or exited): what more comes is dropped.
    x->stdin_closed = true;
    if (x->stdin_paused) {
      x->stdin_paused = false;
      x->session->ResumeStdin();
    }
  };
  if (e->out) {
    e->out_done = false;
    FdStream::Callbacks cb;
    cb.on_data = [this, alive, id](std::string_view d) {
      if (alive.lock()) ExecOutput(id, false, d);
    };
    cb.on_end = [this, alive, id](const Status&) {
      if (alive.lock()) ExecOutputEnded(id, false);
    };
    if (e->stdin_shared) {
      cb.on_drained = stdin_drained;
      cb.on_write_error = stdin_failed;
    }
    e->out->SetCallbacks(std::move(cb));
    e->out->StartReading();
  }
  if (e->err) {
    e->err_done = false;
    FdStream::Callbacks cb;
    cb.on_data = [this, alive, id](std::string_view d) {
      if (alive.lock()) ExecOutput(id, true, d);
    };
    cb.on_end = [this, alive, id](const Status&) {
      if (alive.lock()) ExecOutputEnded(id, true);
    };
    e->err->SetCallbacks(std::move(cb));
    e->err->StartReading();
  }
  if (e->in) {
    FdStream::Callbacks cb;
    cb.on_drained = stdin_drained;
    cb.on_write_error = stdin_failed;
    e->in->SetCallbacks(std::move(cb));
  }
  bool resized = e->size && (!e->initial_size || e->size->width != e->initial_size->width ||
                             e->size->height != e->initial_size->height);
  if (resized && e->req.tty) p.Resize(e->size->width, e->size->height);
  e->session->Accept();
  p.Wait([this, alive, id](StatusOr<int> r) {
    if (alive.lock()) ExecExited(id, std::move(r));
  });
  if (!e->early_stdin.empty()) {
    std::string early = std::move(e->early_stdin);
    e->early_stdin.clear();
    ExecStdin(id, early);
  }
  if (e->stdin_end) ExecStdinEnd(id);
}

void KubeletStreaming::ExecStdin(uint64_t id, std::string_view data) {
  ExecStream* e = FindExec(id);
  if (e == nullptr || data.empty()) return;
  if (!e->started) {
    e->early_stdin.append(data);
    return;
  }
  if (e->stdin_closed || e->stdin_end) return;
  FdStream* w = e->stdin_shared ? e->out.get() : e->in.get();
  if (w == nullptr || !w->Write(data)) return;
  if (w->queued() > st::kHighWater && !e->stdin_paused) {
    e->stdin_paused = true;
    e->session->PauseStdin();
  }
}

void KubeletStreaming::ExecStdinEnd(uint64_t id) {
  ExecStream* e = FindExec(id);
  if (e == nullptr) return;
  e->stdin_end = true;
  if (!e->started) return;  // closed once it starts
  FdStream* w = e->stdin_shared ? e->out.get() : e->in.get();
  if (w == nullptr || w->queued() == 0) ExecCloseStdin(*e);
}

void KubeletStreaming::ExecCloseStdin(ExecStream& e) {
  if (e.stdin_closed && !e.in) return;
  e.stdin_closed = true;
  if (e.in) e.in->ShutdownWrite();  // our duplicate of the pipe's write end
  e.in.reset();
  // The process object's own: the last writer, so the process reads EOF (a terminal gets EOT).
  if (e.proc && e.req.stdin_) e.proc->CloseStdin();
}

void KubeletStreaming::ExecOutput(uint64_t id, bool is_stderr, std::string_view data) {
  ExecStream* e = FindExec(id);
  if (e == nullptr) return;
  e->output_since_tick += data.size();
  bool wanted = is_stderr ? e->req.stderr_ : e->req.stdout_;
  if (!wanted) return;  // not asked for: drained and dropped
  bool ok = is_stderr ? e->session->WriteStderr(data) : e->session->WriteStdout(data);
  if (!ok) {
    if (e->session->closed()) ExecCancel(id);
    return;
  }
  if (e->session->Buffered() > st::kHighWater && !e->out_paused) {
    e->out_paused = true;
    if (e->out) e->out->StopReading();
    if (e->err) e->err->StopReading();
  }
}

void KubeletStreaming::ExecResumeOutput(uint64_t id) {
  ExecStream* e = FindExec(id);
  if (e == nullptr || !e->out_paused || e->session->Buffered() > st::kHighWater) return;
  e->out_paused = false;
  if (e->out && !e->out_done) e->out->StartReading();
  if (e->err && !e->err_done) e->err->StartReading();
}

void KubeletStreaming::ExecOutputEnded(uint64_t id, bool is_stderr) {
  ExecStream* e = FindExec(id);
  if (e == nullptr) return;
  (is_stderr ? e->err_done : e->out_done) = true;
  ExecMaybeFinish(*e);
}

void KubeletStreaming::ExecExited(uint64_t id, StatusOr<int> result) {
  ExecStream* e = FindExec(id);
  if (e == nullptr) return;
  e->result = std::move(result);
  if (!e->out_done || !e->err_done) {
    // Output may still be in the pipes: forward it until they close, or until nothing came for
    // a while (a background process that inherited them keeps them open).
    e->output_since_tick = 0;
    std::weak_ptr<bool> alive = alive_;
    e->drain_timer = loop_.AddTimer(options_.exec_drain_idle_ms, options_.exec_drain_idle_ms, [this, alive, id] {
      if (!alive.lock()) return;
      ExecStream* x = FindExec(id);
      if (x == nullptr) return;
      if (x->out_paused || x->output_since_tick > 0) {
        x->output_since_tick = 0;
        return;
      }
      x->out_done = x->err_done = true;
      ExecMaybeFinish(*x);
    });
  }
  ExecMaybeFinish(*e);
}

void KubeletStreaming::ExecMaybeFinish(ExecStream& e) {
  if (e.done || !e.result || !e.out_done || !e.err_done) return;
  const StatusOr<int>& r = *e.result;
  if (r.ok()) {
    // Upstream's attach ends with success whatever the container's exit code.
    e.session->Exit(e.req.attach ? 0 : *r);
  } else if (e.req.attach) {
    e.session->Fail(Status::Internal(r.error().message()));
  } else {
    e.session->Fail(Status::Internal("error executing command in container: " + r.error().message()));
  }
  FinishExec(e.id);
}

void KubeletStreaming::ExecCancel(uint64_t id) {
  ExecStream* e = FindExec(id);
  if (e == nullptr) return;
  // kubectl went away: the exec'd process is killed (an attach only detaches). The session is
  // finished first: nothing (not even an exit the kill causes) reaches it any more.
  FinishExec(id);
  if (e->proc) e->proc->Kill();
}

void KubeletStreaming::FinishExec(uint64_t id) {
  auto it = execs_.find(id);
  if (it == execs_.end() || it->second->done) return;
  ExecStream& e = *it->second;
  e.done = true;
  e.drain_timer.reset();
  if (e.out) e.out->StopReading();
  if (e.err) e.err->StopReading();
  std::weak_ptr<bool> alive = alive_;
  loop_.Post([this, alive, id] {
    if (alive.lock()) execs_.erase(id);
  });
}

// ---------------------------------------------------------------------------------------------
// Port-forward

KubeletStreaming::Forward* KubeletStreaming::FindForward(uint64_t id) {
  auto it = forwards_.find(id);
  return it == forwards_.end() || it->second->done ? nullptr : it->second.get();
}

void KubeletStreaming::PortForward(const st::PortForwardRequest& req, std::shared_ptr<st::PortForwardStream> stream) {
  if (req.port <= 0 || req.port > 65535) {
    stream->Fail(Status::BadRequest("invalid port " + std::to_string(req.port)));
    return;
  }
  uint64_t id = next_id_++;
  auto f = std::make_unique<Forward>();
  f->id = id;
  f->stream = stream;
  f->req = req;
  f->netns = netns_path_ ? netns_path_(req.ref.uid) : std::string();
  std::string netns = f->netns;
  forwards_[id] = std::move(f);
  std::weak_ptr<bool> alive = alive_;
  stream->SetHandlers({
      [this, alive, id](std::string_view d) {
        if (alive.lock()) ForwardClientData(id, d);
      },
      [this, alive, id] {
        if (alive.lock()) ForwardClientEnd(id);
      },
      [this, alive, id] {
        if (alive.lock()) FinishForward(id);
      },
  });
  stream->OnWritable([this, alive, id] {
    if (!alive.lock()) return;
    Forward* x = FindForward(id);
    if (x == nullptr || !x->output_paused || x->stream->Buffered() > st::kHighWater) return;
    x->output_paused = false;
    if (x->sock && !x->socket_ended) x->sock->StartReading();
  });
  int port = req.port;
  http::Loop* loop = &loop_;
  pool_.Submit([this, loop, alive, id, netns, port] {
    ConnectResult r = ConnectInNetns(netns, port);
    loop->Post([this, alive, id, r] {
      if (!alive.lock()) {
        if (r.fd >= 0) close(r.fd);
        return;
      }
      Forward* x = FindForward(id);
      if (x == nullptr) {
        if (r.fd >= 0) close(r.fd);
        return;
      }
      if (r.fd < 0) {
        if (!r.netns.ok()) {
          if (r.netns.code() == Code::kNotFound) {
            // No sandbox (any more): the kubelet's answer for a pod it does not run.
            x->stream->Fail(Status::NotFound("pod not found (\"" + PodFullName(x->req.ref) + "\")"));
            FinishForward(id);
          } else {
            ForwardFail(id, r.netns.message());
          }
          return;
        }
        std::string p = std::to_string(x->req.port);
        ForwardFail(id, "failed to connect to localhost:" + p + " inside namespace \"" + x->req.ref.uid +
                            "\", IPv4: dial tcp4 127.0.0.1:" + p + ": connect: " + GoErrno(r.err4) +
                            " IPv6 dial tcp6 [::1]:" + p + ": connect: " + GoErrno(r.err6) + " ");
        return;
      }
      ForwardConnected(id, r.fd);
    });
  });
}

void KubeletStreaming::ForwardConnected(uint64_t id, int fd) {
  Forward* f = FindForward(id);
  if (f == nullptr) {
    close(fd);
    return;
  }
  f->addrs = SocketAddrs(fd);
  auto sock = FdStream::Open(loop_, fd, FdStream::Kind::kTcp);
  if (!sock.ok()) {
    ForwardFail(id, sock.status().message());
    return;
  }
  f->sock = std::move(*sock);
  std::weak_ptr<bool> alive = alive_;
  FdStream::Callbacks cb;
  cb.on_data = [this, alive, id](std::string_view d) {
    if (alive.lock()) ForwardSocketData(id, d);
  };
  cb.on_end = [this, alive, id](const Status& s) {
    if (alive.lock()) ForwardSocketEnd(id, s);
  };
  cb.on_write_error = [this, alive, id](const Status& s) {
    if (!alive.lock()) return;
    Forward* x = FindForward(id);
    if (x == nullptr) return;
    std::string why = s.message();
    if (why.rfind("write: ", 0) == 0) why = why.substr(7);
    for (auto& c : why) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    ForwardFail(id, "write " + x->addrs + ": write: " + why);
  };
  cb.on_drained = [this, alive, id] {
    if (!alive.lock()) return;
    Forward* x = FindForward(id);
    if (x == nullptr) return;
    if (x->input_paused) {
      x->input_paused = false;
      x->stream->ResumeInput();
    }
    ForwardMaybeFinish(*x);
  };
  f->sock->SetCallbacks(std::move(cb));
  f->stream->Accept();
  f->sock->StartReading();
  if (!f->early.empty()) {
    std::string early = std::move(f->early);
    f->early.clear();
    ForwardClientData(id, early);
    if ((f = FindForward(id)) == nullptr) return;
    if (f->input_paused && f->sock->queued() <= st::kHighWater) {
      f->input_paused = false;
      f->stream->ResumeInput();
    }
  }
  if (f->client_ended) f->sock->ShutdownWrite();
}

void KubeletStreaming::ForwardClientData(uint64_t id, std::string_view data) {
  Forward* f = FindForward(id);
  if (f == nullptr || f->client_ended || data.empty()) return;
  if (!f->sock) {
    f->early.append(data);
    if (f->early.size() > st::kHighWater && !f->input_paused) {
      f->input_paused = true;
      f->stream->PauseInput();
    }
    return;
  }
  if (!f->sock->Write(data)) return;  // a failed write reports itself
  if (f->sock->queued() > st::kHighWater && !f->input_paused) {
    f->input_paused = true;
    f->stream->PauseInput();
  }
}

void KubeletStreaming::ForwardClientEnd(uint64_t id) {
  Forward* f = FindForward(id);
  if (f == nullptr || f->client_ended) return;
  f->client_ended = true;
  if (f->sock) {
    f->sock->ShutdownWrite();  // FIN once what the client sent is written
    ForwardMaybeFinish(*f);
  }
}

void KubeletStreaming::ForwardSocketData(uint64_t id, std::string_view data) {
  Forward* f = FindForward(id);
  if (f == nullptr) return;
  if (!f->stream->Write(data)) {
    if (f->stream->closed()) FinishForward(id);
    return;
  }
  if (f->stream->Buffered() > st::kHighWater && !f->output_paused) {
    f->output_paused = true;
    f->sock->StopReading();
  }
}

void KubeletStreaming::ForwardSocketEnd(uint64_t id, const Status& s) {
  Forward* f = FindForward(id);
  if (f == nullptr) return;
  if (!s.ok()) {
    std::string why = s.message();
    if (why.rfind("read: ", 0) == 0) why = why.substr(6);
    for (auto& c : why) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    ForwardFail(id, "read " + f->addrs + ": read: " + why);
    return;
  }
  f->socket_ended = true;
  f->stream->End();
  ForwardMaybeFinish(*f);
}

void KubeletStreaming::ForwardMaybeFinish(Forward& f) {
  if (f.done || !f.socket_ended || !f.client_ended || !f.sock || f.sock->queued() > 0) return;
  FinishForward(f.id);
}

void KubeletStreaming::ForwardFail(uint64_t id, const std::string& cause) {
  Forward* f = FindForward(id);
  if (f == nullptr) return;
  std::string netns = f->netns.empty() ? "host" : f->netns;
  // The kubelet's words around containerd's (the sandbox is named by the pod's UID here).
  f->stream->Fail(Status::Internal("error forwarding port " + std::to_string(f->req.port) + " to pod " +
                                   f->req.ref.uid + ", uid : failed to execute portforward in network namespace \"" +
                                   netns + "\": " + cause));
  FinishForward(id);
}

void KubeletStreaming::FinishForward(uint64_t id) {
  auto it = forwards_.find(id);
  if (it == forwards_.end() || it->second->done) return;
  Forward& f = *it->second;
  f.done = true;
  if (f.sock) f.sock->StopReading();
  std::weak_ptr<bool> alive = alive_;
  loop_.Post([this, alive, id] {
    if (alive.lock()) forwards_.erase(id);
  });
}

}  // namespace minik::agent::kubelet
