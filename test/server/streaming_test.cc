// Streaming end to end: a real ApiServer with its Streaming, an agent-side TunnelClient with a fake
// kubelet backend (logs from strings, exec running real host processes, port-forward to a loopback
// echo server), and the real kubectl 1.32 driving logs, exec (-i, -t, exit codes), attach, cp both
// ways and port-forward through it.
#include "server/streaming.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pty.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "agent/streaming/backend.h"
#include "agent/streaming/tunnel_client.h"
#include "api/registry.h"
#include "common/clock.h"
#include "http/client.h"
#include "http/server.h"
#include "pki/pki.h"
#include "server/api_server.h"
#include "server/object_store.h"
#include "store/memory_backend.h"

namespace minik {
namespace {

using agent::streaming::ExecRequest;
using agent::streaming::ExecSession;
using agent::streaming::LogRequest;
using agent::streaming::LogSink;
using agent::streaming::PortForwardRequest;
using agent::streaming::PortForwardStream;

template <typename T>
void CloseUv(T* h, std::function<void()> done) {
  struct Ctx {
    std::function<void()> done;
  };
  auto* hh = reinterpret_cast<uv_handle_t*>(h);
  hh->data = new Ctx{std::move(done)};
  uv_close(hh, [](uv_handle_t* x) {
    auto* c = static_cast<Ctx*>(x->data);
    if (c->done) c->done();
    delete c;
  });
}

struct WriteReq {
  uv_write_t req;
  std::string data;
};

void UvWrite(uv_stream_t* s, std::string_view data) {
  auto* w = new WriteReq;
  w->data = std::string(data);
  uv_buf_t b = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  if (uv_write(&w->req, s, &b, 1, [](uv_write_t* r, int) { delete reinterpret_cast<WriteReq*>(r); }) != 0) delete w;
}

void AllocBuf(uv_handle_t*, size_t, uv_buf_t* b) {
  static char buf[65536];
  b->base = buf;
  b->len = sizeof(buf);
}

// A host process for an exec: pipes (or a pty for tty) wired to the session.
class Proc {
 public:
  Proc(uv_loop_t* loop, const ExecRequest& req, std::shared_ptr<ExecSession> session)
      : loop_(loop), session_(std::move(session)), tty_(req.tty) {}

  void Start(const ExecRequest& req) {
    std::vector<std::string> argv = req.command;
    if (argv.empty()) argv = {"cat"};  // attach: a "main process" that echoes
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    uv_process_options_t o{};
    o.file = args[0];
    o.args = args.data();
    o.exit_cb = [](uv_process_t* p, int64_t status, int sig) {
      static_cast<Proc*>(p->data)->Exited(sig ? 128 + sig : static_cast<int>(status));
    };
    uv_stdio_container_t stdio[3];
    int slave = -1;
    if (tty_) {
      int master;
      REQUIRE(openpty(&master, &slave, nullptr, nullptr, nullptr) == 0);
      master_ = master;
      for (auto& s : stdio) {
        s.flags = UV_INHERIT_FD;
        s.data.fd = slave;
      }
      o.flags = UV_PROCESS_DETACHED;
    } else {
      uv_pipe_init(loop_, &in_, 0);
      uv_pipe_init(loop_, &out_, 0);
      uv_pipe_init(loop_, &err_, 0);
      stdio[0].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_READABLE_PIPE);
      stdio[0].data.stream = reinterpret_cast<uv_stream_t*>(&in_);
      stdio[1].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
      stdio[1].data.stream = reinterpret_cast<uv_stream_t*>(&out_);
      stdio[2].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
      stdio[2].data.stream = reinterpret_cast<uv_stream_t*>(&err_);
      pipes_ = true;
    }
    o.stdio = stdio;
    o.stdio_count = 3;
    proc_.data = this;
    int rc = uv_spawn(loop_, &proc_, &o);
    if (slave >= 0) close(slave);
    if (rc != 0) {
      session_->Fail(Status::Internal(std::string("exec failed: ") + uv_strerror(rc)));
      CloseAll();
      return;
    }
    spawned_ = true;
    session_->SetHandlers({[this](std::string_view d) { Stdin(d); }, [this]() { StdinEnd(); },
                           [this](agent::streaming::TerminalSize s) {
                             if (master_ >= 0) {
                               winsize ws{};
                               ws.ws_col = s.width;
                               ws.ws_row = s.height;
                               ioctl(master_, TIOCSWINSZ, &ws);
                             }
                           },
                           [this]() {
                             if (!exited_) uv_process_kill(&proc_, SIGKILL);
                           }});
    session_->Accept();
    if (tty_) {
      uv_pipe_init(loop_, &out_, 0);
      uv_pipe_open(&out_, master_);
      pipes_ = true;
      ReadFrom(&out_, true);
      open_ = 1;
    } else {
      ReadFrom(&out_, true);
      ReadFrom(&err_, false);
      open_ = 2;
      if (!req.stdin_) StdinEnd();
    }
  }

 private:
  void ReadFrom(uv_pipe_t* p, bool out) {
    p->data = this;
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(p), AllocBuf,
        out ? [](uv_stream_t* s, ssize_t n, const uv_buf_t* b) { static_cast<Proc*>(s->data)->Read(s, n, b, true); }
            : [](uv_stream_t* s, ssize_t n, const uv_buf_t* b) { static_cast<Proc*>(s->data)->Read(s, n, b, false); });
  }
  void Read(uv_stream_t* s, ssize_t n, const uv_buf_t* b, bool out) {
    if (n > 0) {
      std::string_view d(b->base, static_cast<size_t>(n));
      if (out)
        session_->WriteStdout(d);
      else
        session_->WriteStderr(d);
      return;
    }
    if (n < 0) {
      uv_read_stop(s);
      --open_;
      MaybeFinish();
    }
  }
  void Stdin(std::string_view d) {
    if (stdin_closed_) return;
    UvWrite(reinterpret_cast<uv_stream_t*>(tty_ ? &out_ : &in_), d);
  }
  void StdinEnd() {
    if (stdin_closed_ || tty_) return;
    stdin_closed_ = true;
    auto* req = new uv_shutdown_t;
    uv_shutdown(req, reinterpret_cast<uv_stream_t*>(&in_), [](uv_shutdown_t* r, int) { delete r; });
  }
  void Exited(int code) {
    exited_ = true;
    code_ = code;
    MaybeFinish();
  }
  void MaybeFinish() {
    if (!exited_ || open_ > 0 || finished_) return;
    finished_ = true;
    session_->Exit(code_);
    CloseAll();
  }
  void CloseAll() {
    auto self = this;
    int* pending = new int(0);
    auto done = [self, pending]() {
      if (--*pending == 0) {
        delete pending;
        delete self;
      }
    };
    if (spawned_) {
      ++*pending;
      CloseUv(&proc_, done);
    }
    if (pipes_) {
      ++*pending;
      CloseUv(&out_, done);
      if (!tty_) {
        *pending += 2;
        CloseUv(&in_, done);
        CloseUv(&err_, done);
      }
    }
    if (*pending == 0) {
      delete pending;
      delete this;
    }
  }

  uv_loop_t* loop_;
  std::shared_ptr<ExecSession> session_;
  bool tty_;
  uv_process_t proc_{};
  uv_pipe_t in_{}, out_{}, err_{};
  int master_ = -1;
  bool pipes_ = false, spawned_ = false, exited_ = false, finished_ = false, stdin_closed_ = false;
  int open_ = 0;
  int code_ = 0;
};

// A port-forward connection relayed to a loopback TCP port.
class Relay {
 public:
  Relay(uv_loop_t* loop, std::shared_ptr<PortForwardStream> s) : s_(std::move(s)) {
    uv_tcp_init(loop, &tcp_);
    tcp_.data = this;
  }
  void Start(int port) {
    sockaddr_in a{};
    uv_ip4_addr("127.0.0.1", port, &a);
    conn_.data = this;
    s_->SetHandlers(
        {[this](std::string_view d) {
           if (connected_)
             UvWrite(reinterpret_cast<uv_stream_t*>(&tcp_), d);
           else
             early_.append(d);
         },
         [this]() {
           auto* r = new uv_shutdown_t;
           if (uv_shutdown(r, reinterpret_cast<uv_stream_t*>(&tcp_), [](uv_shutdown_t* x, int) { delete x; }) != 0)
             delete r;
         },
         [this]() { Close(); }});
    uv_tcp_connect(&conn_, &tcp_, reinterpret_cast<sockaddr*>(&a), [](uv_connect_t* c, int status) {
      auto* self = static_cast<Relay*>(c->data);
      if (status != 0) {
        self->s_->Fail(Status::Internal("connection refused"));
        self->Close();
        return;
      }
      self->connected_ = true;
      self->s_->Accept();
      if (!self->early_.empty()) UvWrite(reinterpret_cast<uv_stream_t*>(&self->tcp_), self->early_);
      uv_read_start(reinterpret_cast<uv_stream_t*>(&self->tcp_), AllocBuf,
                    [](uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
                      auto* r = static_cast<Relay*>(s->data);
                      if (n > 0) r->s_->Write(std::string_view(b->base, static_cast<size_t>(n)));
                      if (n < 0) {
                        r->s_->End();
                        r->Close();
                      }
                    });
    });
  }

 private:
  void Close() {
    if (closing_) return;
    closing_ = true;
    CloseUv(&tcp_, [this]() { delete this; });
  }
  std::shared_ptr<PortForwardStream> s_;
  uv_tcp_t tcp_;
  uv_connect_t conn_;
  bool connected_ = false, closing_ = false;
  std::string early_;
};

class FakeBackend final : public agent::streaming::StreamingBackend {
 public:
  FakeBackend(http::Loop& loop, int echo_port) : loop_(loop), echo_port_(echo_port) {}
  std::map<std::string, std::string> logs;  // container -> content
  std::vector<LogRequest> log_requests;

  void Logs(const LogRequest& req, std::shared_ptr<LogSink> sink) override {
    log_requests.push_back(req);
    auto it = logs.find(req.ref.container);
    if (it == logs.end()) {
      sink->Fail(Status::BadRequest("container \"" + req.ref.container + "\" in pod \"" + req.ref.pod +
                                    "\" is waiting to start: ContainerCreating"));
      return;
    }
    std::vector<std::string> lines;
    std::istringstream in(it->second);
    for (std::string l; std::getline(in, l);) lines.push_back(l + "\n");
    size_t from = 0;
    if (req.tail_lines && static_cast<size_t>(*req.tail_lines) < lines.size()) from = lines.size() - *req.tail_lines;
    std::string out;
    for (size_t i = from; i < lines.size(); ++i)
      out += (req.timestamps ? "2026-01-02T03:04:05.000000000Z " : "") + lines[i];
    if (req.limit_bytes && out.size() > static_cast<size_t>(*req.limit_bytes)) out.resize(*req.limit_bytes);
    sink->Write(out);
    if (!req.follow) {
      sink->End();
      return;
    }
    // Follow: one more line later, then the container "ends".
    auto holder = std::make_shared<http::HandlePtr>();
    *holder = loop_.AddTimer(300, 0, [sink, holder, this]() {
      sink->Write("followed\n");
      sink->End();
      loop_.Post([holder]() { holder->reset(); });
    });
  }

  void Exec(const ExecRequest& req, std::shared_ptr<ExecSession> session) override {
    if (req.ref.container == "side" && !req.attach) {
      session->Fail(Status::NotFound("container not found (\"side\")"));
      return;
    }
    auto* p = new Proc(loop_.raw(), req, std::move(session));
    p->Start(req);
  }

  void PortForward(const PortForwardRequest& req, std::shared_ptr<PortForwardStream> stream) override {
    if (req.port != 8080) {
      stream->Fail(Status::Internal(
          "error forwarding port " + std::to_string(req.port) + " to pod " + req.ref.pod + ", uid " + req.ref.uid +
          ": failed to connect to localhost:" + std::to_string(req.port) + " inside namespace: connection refused"));
      return;
    }
    auto* r = new Relay(loop_.raw(), std::move(stream));
    r->Start(echo_port_);
  }

 private:
  http::Loop& loop_;
  int echo_port_;
};

// A loopback TCP echo server on its own thread.
class EchoServer {
 public:
  EchoServer() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
    socklen_t len = sizeof(a);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
    listen(fd_, 8);
    thread_ = std::thread([this] {
      for (;;) {
        int c = accept(fd_, nullptr, nullptr);
        if (c < 0) return;
        std::thread([c] {
          char buf[4096];
          ssize_t n;
          while ((n = read(c, buf, sizeof(buf))) > 0) {
            if (write(c, buf, static_cast<size_t>(n)) != n) break;
          }
          close(c);
        }).detach();
      }
    });
  }
  ~EchoServer() {
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
  }
  int port = 0;

 private:
  int fd_;
  std::thread thread_;
};

struct Result {
  int rc = -1;
  std::string out, err;
};

std::string ReadAll(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

class Kubectl {
 public:
  explicit Kubectl(std::string dir) : dir_(std::move(dir)) {}
  // Runs a shell command line with KUBECONFIG set, bounded in time.
  Result Run(const std::string& cmd, const std::string& stdin_text = "") {
    std::string in = dir_ + "/stdin", out = dir_ + "/stdout", err = dir_ + "/stderr";
    std::ofstream(in) << stdin_text;
    std::string full = "cd " + dir_ + " && HOME=" + dir_ + " KUBECONFIG=" + dir_ + "/kubeconfig timeout 30 " + cmd +
                       " <" + in + " >" + out + " 2>" + err;
    int st = std::system(full.c_str());
    Result r;
    r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    r.out = ReadAll(out);
    r.err = ReadAll(err);
    return r;
  }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
};

struct PortForwardResult {
  std::vector<std::string> echoes;  // what came back on each connection
  std::string log;                  // kubectl's output
};

// Runs `kubectl port-forward pod/p :<port>` in the background, makes `conns` connections to the
// local port it prints (each sends a line and reads the echo), then stops it.
PortForwardResult PortForwardProbe(const std::string& dir, const std::string& env, int port, int conns) {
  PortForwardResult res;
  static int runs = 0;
  std::string name = "pf" + std::to_string(++runs);
  // Braces: `cd && a & echo $!` would background the whole list in a subshell (so $! is not
  // `timeout`'s PID) and write the pid file in the test's working directory.
  std::string pf = "cd " + dir + " && { env " + env + " HOME=" + dir + " KUBECONFIG=" + dir +
                   "/kubeconfig timeout 30 kubectl port-forward pod/p :" + std::to_string(port) + " >" + name +
                   ".out 2>&1 & echo $! >" + name + ".pid; }";
  if (std::system(pf.c_str()) != 0) return res;
  int local = 0;
  std::regex re("Forwarding from 127\\.0\\.0\\.1:(\\d+) -> " + std::to_string(port));
  for (int i = 0; i < 200 && local == 0; ++i) {
    std::smatch m;
    std::string o = ReadAll(dir + "/" + name + ".out");
    if (std::regex_search(o, m, re))
      local = std::stoi(m[1]);
    else
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  for (int c = 0; c < conns && local != 0; ++c) {
    std::string out;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(local));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0) {
      std::string msg = "ping through the tunnel " + std::to_string(c);
      if (write(fd, msg.data(), msg.size()) == static_cast<ssize_t>(msg.size())) {
        char buf[256];
        while (out.size() < msg.size()) {
          ssize_t n = read(fd, buf, sizeof(buf));
          if (n <= 0) break;
          out.append(buf, static_cast<size_t>(n));
        }
      }
    }
    close(fd);
    res.echoes.push_back(out);
  }
  std::string pid = ReadAll(dir + "/" + name + ".pid");
  if (!pid.empty()) kill(std::stoi(pid), SIGTERM);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  res.log = ReadAll(dir + "/" + name + ".out");
  return res;
}

bool HaveKubectl() { return std::system("kubectl version --client >/dev/null 2>&1") == 0; }

}  // namespace

TEST_CASE(
    "streaming: real kubectl logs, exec, attach, cp and port-forward "
    "through the agent tunnel",
    "[streaming][kubectl]") {
  if (!HaveKubectl()) {
    WARN("kubectl not on PATH: skipped");
    return;
  }
  char tmpl[] = "/tmp/minik-streaming-test-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  struct Cleanup {
    std::string dir;
    ~Cleanup() { std::filesystem::remove_all(dir); }
  } cleanup{dir};

  http::Loop loop;
  store::MemoryBackend backend;
  RealClock clock;
  auto objects = server::ObjectStore::Open(loop, backend);
  REQUIRE(objects.ok());
  server::ApiServerOptions aopts;
  aopts.token = "s3cret-token";
  server::ApiServer api(loop, **objects, api::Registry::Builtin(), clock, aopts);
  server::Streaming streaming(loop, **objects);
  api.set_streaming(&streaming);
  {
    // What the ServiceAccount controller creates: pods need their namespace's "default".
    auto sa = ParseJson(R"({"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"default","namespace":"default"}})");
    bool created = false;
    (*objects)->Create("/serviceaccounts/default/default", *sa, [&](StatusOr<server::ObjectPtr> r) {
      created = r.ok();
      loop.Stop();
    });
    loop.Run();
    REQUIRE(created);
  }
  // HTTPS as the real server serves (kubectl sends no bearer token over plain HTTP).
  pki::ServerPkiOptions popts;
  popts.node_name = "node-1";
  auto tls = pki::EnsureServerPki(dir + "/tls", popts);
  REQUIRE(tls.ok());
  // Everything runs in one loop.Run(): Run() closes every connection when it returns.
  std::unique_ptr<http::Server> https;
  http::ClientPtr client;
  std::unique_ptr<agent::streaming::TunnelClient> tunnel;
  EchoServer echo;
  FakeBackend fake(loop, echo.port);
  fake.logs = {{"app", "line1\nline2\nline3\n"}, {"side", "side-a\nside-b\n"}};
  Status setup;
  api.Bootstrap([&](Status st) {
    setup = st;
    if (!st.ok()) {
      loop.Stop();
      return;
    }
    https = std::make_unique<http::Server>(
        loop, [&](http::Request& req, http::ResponseWriterPtr resp) { api.Handle(req, std::move(resp)); });
    setup = https->ConfigureTls({tls->serving_cert, tls->serving_key, tls->client_ca_cert});
    if (setup.ok()) setup = https->Listen("127.0.0.1", 0);
    if (!setup.ok()) {
      loop.Stop();
      return;
    }
    // The agent side: its tunnel, over the same HTTP API connection settings as the agent.
    http::ClientOptions copts;
    copts.port = https->port();
    copts.ca_file = tls->server_ca_cert;
    copts.bearer_token = aopts.token;
    auto c = http::Client::Create(loop, copts);
    if (!c.ok()) {
      setup = c.error();
      loop.Stop();
      return;
    }
    client = std::move(*c);
    agent::streaming::TunnelClientOptions topts;
    topts.node_name = "node-1";
    tunnel = std::make_unique<agent::streaming::TunnelClient>(loop, *client, fake, topts);
    tunnel->Start();
  });
  std::function<void()> start_driver;
  streaming.OnConnect([&](const std::string& node) {
    CHECK(node == "node-1");
    if (start_driver) {
      auto fn = std::move(start_driver);
      start_driver = nullptr;
      fn();
    }
  });

  auto write_kubeconfig = [&](int port) {
    std::ofstream(dir + "/kubeconfig") << "apiVersion: v1\nkind: Config\nclusters:\n- name: t\n  cluster:\n   "
                                          " server: "
                                          "https://127.0.0.1:"
                                       << port << "\n    certificate-authority: " << tls->server_ca_cert
                                       << "\nusers:\n- name: t\n  user:\n    token: "
                                          "s3cret-token\ncontexts:\n- name: t\n"
                                          "  context:\n    cluster: t\n    user: t\ncurrent-context: t\n";
  };
  std::ofstream(dir + "/pod.yaml") << "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  nodeName: "
                                      "node-1\n"
                                      "  containers:\n  - name: app\n    image: busybox\n  - name: side\n   "
                                      " image: busybox\n";
  std::ofstream(dir + "/lonely.yaml") << "apiVersion: v1\nkind: Pod\nmetadata:\n  name: lonely\nspec:\n"
                                         "  containers:\n  - name: app\n    image: busybox\n";
  std::filesystem::create_directories(dir + "/src/sub");
  std::ofstream(dir + "/src/sub/file.txt") << "copied content\n";
  std::filesystem::create_directories(dir + "/pod-fs");

  // kubectl runs on a helper thread (it blocks); the API server, the tunnel and the fake kubelet
  // run on this thread's loop.
  Kubectl k(dir);
  std::map<std::string, Result> r;
  PortForwardResult pf_ws, pf_spdy, pf_refused;
  std::atomic<bool> done{false};
  std::thread driver;
  start_driver = [&] {
    write_kubeconfig(https->port());
    driver = std::thread([&] {
      r["create"] = k.Run("kubectl create -f pod.yaml -f lonely.yaml");
      r["running"] = k.Run(
          "kubectl patch pod p --subresource=status --type=merge -p "
          "'{\"status\":{\"phase\":\"Running\"}}'");
      r["logs"] = k.Run("kubectl logs p -c app");
      r["logs-default"] = k.Run("kubectl logs p");
      r["logs-tail"] = k.Run("kubectl logs p -c app --tail=1 --timestamps");
      r["logs-limit"] = k.Run("kubectl logs p -c app --limit-bytes=8 --since=1h");
      r["logs-follow"] = k.Run("kubectl logs -f p -c app");
      r["logs-all"] = k.Run("kubectl logs p --all-containers");
      r["logs-bad-container"] = k.Run("kubectl logs p -c nope");
      r["logs-missing"] = k.Run("kubectl logs nosuchpod");
      r["logs-unscheduled"] = k.Run("kubectl logs lonely");
      r["exec-exit3"] = k.Run("kubectl exec p -c app -- sh -c 'exit 3'");
      r["exec-out-err"] = k.Run("kubectl exec p -c app -- sh -c 'echo out; echo err >&2'");
      r["exec-stdin"] = k.Run("kubectl exec -i p -c app -- cat", "hello from stdin\n");
      // 6 MB through the tunnel's credit and the WebSocket: output intact and in order.
      r["exec-big"] = k.Run("kubectl exec -v=6 p -c app -- sh -c 'seq 1 800000'");
      r["exec-big-stdin"] = k.Run("sh -c 'seq 1 400000 | kubectl exec -i p -c app -- wc -l'");
      r["exec-tty"] = k.Run(
          "script -qec \"stty cols 101 rows 41; kubectl exec -it p -c "
          "app -- sh -c 'sleep 0.5; stty size'\" /dev/null");
      r["exec-notfound"] = k.Run("kubectl exec p -c side -- true");
      r["exec-nohost"] = k.Run("kubectl exec lonely -- true");
      r["attach"] = k.Run("kubectl attach -i p -c app", "attached input\n");
      r["cp-to"] = k.Run("kubectl cp src/sub/file.txt p:" + dir + "/pod-fs/file.txt -c app");
      r["cp-from"] = k.Run("kubectl cp p:" + dir + "/pod-fs/file.txt back.txt -c app");
      // Port-forward: WebSocket-tunnelled SPDY (kubectl's default), then plain SPDY.
      pf_ws = PortForwardProbe(dir, "", 8080, 2);
      pf_spdy = PortForwardProbe(dir, "KUBECTL_PORT_FORWARD_WEBSOCKETS=false", 8080, 2);
      pf_refused = PortForwardProbe(dir, "", 9999, 1);
      // exec and attach over the SPDY fallback.
      r["spdy-exec-exit3"] = k.Run(
          "env KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false kubectl exec p -c "
          "app -- sh -c 'exit 3'");
      r["spdy-exec-out-err"] = k.Run(
          "env KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false kubectl exec p -c "
          "app -- sh -c 'echo out; echo err >&2'");
      r["spdy-exec-stdin"] = k.Run(
          "env KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false kubectl exec -i p "
          "-c app -- cat",
          "spdy stdin\n");
      r["spdy-exec-tty"] = k.Run(
          "script -qec \"stty cols 77 rows 22; "
          "KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false "
          "kubectl exec -it p -c app -- sh -c "
          "'sleep 0.5; stty size'\" /dev/null");
      r["spdy-exec-notfound"] = k.Run(
          "env KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false kubectl exec p -c "
          "side -- true");
      done = true;
      loop.Post([&] { loop.Stop(); });
    });
  };
  auto guard = loop.AddTimer(240000, 0, [&] { loop.Stop(); });
  loop.Run();
  if (driver.joinable()) driver.join();
  REQUIRE(setup.ok());
  REQUIRE(done);
  if (getenv("MINIK_TEST_VERBOSE") != nullptr) {
    for (const auto& [name, res] : r) {
      std::printf("== %s rc=%d\n-- stdout:\n%s-- stderr:\n%s", name.c_str(), res.rc, res.out.c_str(), res.err.c_str());
    }
    for (auto* pf : {&pf_ws, &pf_spdy, &pf_refused}) std::printf("== port-forward\n%s", pf->log.c_str());
  }

  INFO("create: " << r["create"].out << r["create"].err);
  REQUIRE(r["create"].rc == 0);
  REQUIRE(r["running"].rc == 0);

  CHECK(r["logs"].rc == 0);
  CHECK(r["logs"].out == "line1\nline2\nline3\n");
  // Two containers and no default annotation: kubectl picks the first and says so.
  CHECK(r["logs-default"].out == "line1\nline2\nline3\n");
  CHECK(r["logs-tail"].out == "2026-01-02T03:04:05.000000000Z line3\n");
  CHECK(r["logs-limit"].out == "line1\nli");
  CHECK(r["logs-follow"].rc == 0);
  CHECK(r["logs-follow"].out == "line1\nline2\nline3\nfollowed\n");
  // kubectl walks its requests in map order: either container may come first.
  CHECK((r["logs-all"].out == "line1\nline2\nline3\nside-a\nside-b\n" ||
         r["logs-all"].out == "side-a\nside-b\nline1\nline2\nline3\n"));
  CHECK(r["logs-bad-container"].rc == 1);
  CHECK(r["logs-bad-container"].err == "error: container nope is not valid for pod p\n");
  CHECK(r["logs-missing"].err ==
        "error: error from server (NotFound): pods \"nosuchpod\" not found in "
        "namespace \"default\"\n");
  CHECK(r["logs-unscheduled"].rc == 0);
  CHECK(r["logs-unscheduled"].out == "");
  bool found = false;
  for (const auto& q : fake.log_requests) {
    if (q.tail_lines && *q.tail_lines == 1) found = q.timestamps && q.ref.namespace_ == "default" && !q.ref.uid.empty();
  }
  CHECK(found);

  INFO("exec-exit3: " << r["exec-exit3"].err);
  CHECK(r["exec-exit3"].rc == 3);
  CHECK(r["exec-exit3"].err == "command terminated with exit code 3\n");
  CHECK(r["exec-out-err"].rc == 0);
  CHECK(r["exec-out-err"].out == "out\n");
  CHECK(r["exec-out-err"].err == "err\n");
  CHECK(r["exec-stdin"].rc == 0);
  CHECK(r["exec-stdin"].out == "hello from stdin\n");
  std::string seq;
  for (int i = 1; i <= 800000; ++i) seq += std::to_string(i) + "\n";
  CHECK(r["exec-big"].rc == 0);
  CHECK(r["exec-big"].out.size() == seq.size());
  CHECK(r["exec-big"].out == seq);
  CHECK(r["exec-big-stdin"].out == "400000\n");
  INFO("exec-tty: " << r["exec-tty"].out << r["exec-tty"].err);
  CHECK(r["exec-tty"].rc == 0);
  CHECK(r["exec-tty"].out.find("41 101") != std::string::npos);
  CHECK(r["exec-notfound"].rc == 1);
  CHECK(r["exec-notfound"].err.find("container not found (\"side\")") != std::string::npos);
  CHECK(r["exec-nohost"].rc == 1);
  CHECK(r["exec-nohost"].err.find("pod lonely does not have a host assigned") != std::string::npos);
  INFO("attach: " << r["attach"].out << r["attach"].err);
  CHECK(r["attach"].out.find("attached input") != std::string::npos);

  INFO("cp: " << r["cp-to"].err << r["cp-from"].err);
  CHECK(r["cp-to"].rc == 0);
  CHECK(ReadAll(dir + "/pod-fs/file.txt") == "copied content\n");
  CHECK(r["cp-from"].rc == 0);
  CHECK(ReadAll(dir + "/back.txt") == "copied content\n");

  for (auto* pf : {&pf_ws, &pf_spdy}) {
    INFO("port-forward: " << pf->log);
    REQUIRE(pf->echoes.size() == 2);
    CHECK(pf->echoes[0] == "ping through the tunnel 0");
    CHECK(pf->echoes[1] == "ping through the tunnel 1");
    CHECK(pf->log.find("Handling connection for") != std::string::npos);
  }
  INFO("port-forward refused: " << pf_refused.log);
  REQUIRE(pf_refused.echoes.size() == 1);
  CHECK(pf_refused.echoes[0].empty());
  CHECK(pf_refused.log.find("error forwarding port 9999 to pod p, uid ") != std::string::npos);

  INFO("spdy exec: " << r["spdy-exec-exit3"].err << r["spdy-exec-stdin"].err);
  CHECK(r["spdy-exec-exit3"].rc == 3);
  CHECK(r["spdy-exec-exit3"].err == "command terminated with exit code 3\n");
  CHECK(r["spdy-exec-out-err"].out == "out\n");
  CHECK(r["spdy-exec-out-err"].err == "err\n");
  CHECK(r["spdy-exec-stdin"].rc == 0);
  CHECK(r["spdy-exec-stdin"].out == "spdy stdin\n");
  CHECK(r["spdy-exec-tty"].out.find("22 77") != std::string::npos);
  CHECK(r["spdy-exec-notfound"].err.find("container not found (\"side\")") != std::string::npos);

  tunnel->Stop();
  streaming.Close();
  https->Close();
}

}  // namespace minik
