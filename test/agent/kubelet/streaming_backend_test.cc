// The kubelet's streaming backend: logs (once, follow across appends, rotation and exit,
// previous, tail, timestamps, limitBytes, back-pressure), exec and attach over a fake process
// whose stdio are real pipes or a real pseudo-terminal (so the fd pumping is exercised for real),
// and port-forward to real TCP echo servers (the host's loopback, and a private network namespace
// created for the test).
#include "agent/kubelet/streaming_backend.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pty.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>
#include <uv.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "agent/oci/namespaces.h"
#include "agent/runtime/cri_log.h"
#include "agent/runtime/process.h"
#include "agent/runtime/runc_runtime.h"
#include "common/json.h"

namespace minik::agent::kubelet {
namespace {

namespace st = streaming;
namespace fs = std::filesystem;
using runtime::ExecProcessPtr;

bool RunUntil(http::Loop& loop, const std::function<bool()>& cond, uint64_t timeout_ms = 3000) {
  auto tick = loop.AddTimer(2, 2, [] {});
  auto start = std::chrono::steady_clock::now();
  while (!cond()) {
    if (std::chrono::steady_clock::now() - start > std::chrono::milliseconds(timeout_ms)) return false;
    uv_run(loop.raw(), UV_RUN_ONCE);
  }
  return true;
}

// Runs the loop for a few turns (to let anything that would happen, happen).
void Spin(http::Loop& loop, int ms = 20) {
  auto start = std::chrono::steady_clock::now();
  RunUntil(loop, [&] { return std::chrono::steady_clock::now() - start > std::chrono::milliseconds(ms); });
}

struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/minik-kstream-test-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string path;
};

// ---------------------------------------------------------------------------------------------
// Fakes

class FakeLocator final : public ContainerLocator {
 public:
  std::map<std::string, ContainerRef> current, previous;  // by container name
  std::map<std::string, Status> errors;                   // by container name
  std::vector<std::function<void(const std::string&)>> listeners;

  StatusOr<ContainerRef> Locate(const std::string&, const std::string& pod, const std::string&,
                                const std::string& container, bool prev) const override {
    if (auto it = errors.find(container); it != errors.end()) return it->second;
    const auto& m = prev ? previous : current;
    auto it = m.find(container);
    if (it == m.end()) {
      if (prev)
        return Status::BadRequest("previous terminated container \"" + container + "\" in pod \"" + pod +
                                  "\" not found");
      return Status::NotFound("pod \"" + pod + "\" not found");
    }
    return it->second;
  }
  void AddExitListener(std::function<void(const std::string& id)> fn) override { listeners.push_back(std::move(fn)); }
  void Exit(const std::string& id) {
    for (auto& l : listeners) l(id);
  }
};

// What the test sees of a fake process: the process's own ends of its stdio, and what was done
// to it.
struct ProcState {
  int in = -1;   // the process's stdin (read end; the terminal's slave with a TTY)
  int out = -1;  // its stdout (write end; the slave with a TTY)
  int err = -1;  // its stderr (write end)
  std::vector<std::pair<uint16_t, uint16_t>> resizes;
  bool killed = false;
  bool stdin_closed = false;
  bool destroyed = false;
  std::function<void(StatusOr<int>)> waiter;
  std::optional<StatusOr<int>> result;

  void Exit(StatusOr<int> r) {
    result = r;
    if (waiter) {
      auto w = std::move(waiter);
      waiter = nullptr;
      w(r);
    }
  }
  void CloseOutputs() {
    if (out >= 0 && out != in) close(out);
    if (err >= 0) close(err);
    out = err = -1;
  }
  ~ProcState() {
    CloseOutputs();
    if (in >= 0) close(in);
  }
};

class FakeProcess final : public runtime::ExecProcess {
 public:
  FakeProcess(http::Loop& loop, std::shared_ptr<ProcState> s, int in, int out, int err, bool tty)
      : loop_(loop), s_(std::move(s)), in_(in), out_(out), err_(err), tty_(tty) {}
  ~FakeProcess() override {
    s_->destroyed = true;
    if (in_ >= 0 && in_ != out_) close(in_);
    if (out_ >= 0) close(out_);
    if (err_ >= 0) close(err_);
  }
  int stdin_fd() const override { return in_; }
  int stdout_fd() const override { return out_; }
  int stderr_fd() const override { return err_; }
  void CloseStdin() override {
    s_->stdin_closed = true;
    if (in_ < 0) return;
    if (tty_) {
      char eot = 4;
      (void)!write(in_, &eot, 1);
      in_ = -1;
      return;
    }
    close(in_);
    in_ = -1;
  }
  void Resize(uint16_t cols, uint16_t rows) override {
    s_->resizes.emplace_back(cols, rows);
    winsize ws{};
    ws.ws_col = cols;
    ws.ws_row = rows;
    ioctl(out_, TIOCSWINSZ, &ws);
  }
  void Wait(std::function<void(StatusOr<int>)> done) override {
    if (s_->result) {
      auto r = *s_->result;
      loop_.Post([done, r] { done(r); });
      return;
    }
    s_->waiter = std::move(done);
  }
  void Kill() override {
    s_->killed = true;
    auto s = s_;
    loop_.Post([s] { s->Exit(137); });
  }

 private:
  http::Loop& loop_;
  std::shared_ptr<ProcState> s_;
  int in_, out_, err_;
  bool tty_;
};

// A process over real pipes (or a real pseudo-terminal in raw mode).
ExecProcessPtr MakeProcess(http::Loop& loop, const std::shared_ptr<ProcState>& s, bool tty, bool with_stdin) {
  if (tty) {
    int master = -1, slave = -1;
    REQUIRE(openpty(&master, &slave, nullptr, nullptr, nullptr) == 0);
    termios t{};
    tcgetattr(slave, &t);
    cfmakeraw(&t);
    tcsetattr(slave, TCSANOW, &t);
    s->in = s->out = slave;
    return std::make_unique<FakeProcess>(loop, s, with_stdin ? master : -1, master, -1, true);
  }
  int i[2] = {-1, -1}, o[2], e[2];
  if (with_stdin) REQUIRE(pipe2(i, O_CLOEXEC) == 0);
  REQUIRE(pipe2(o, O_CLOEXEC) == 0);
  REQUIRE(pipe2(e, O_CLOEXEC) == 0);
  s->in = i[0];
  s->out = o[1];
  s->err = e[1];
  return std::make_unique<FakeProcess>(loop, s, i[1], o[0], e[0], false);
}

class FakeRuntime final : public runtime::Runtime {
 public:
  explicit FakeRuntime(http::Loop& loop) : loop_(loop) {}
  std::vector<runtime::ExecRequest> execs;
  std::vector<std::string> attaches;
  std::vector<bool> attach_stdin;
  std::map<std::string, runtime::ContainerStatus> containers;
  // What the next Exec or Attach gives.
  std::function<StatusOr<ExecProcessPtr>()> next;

  void Start(runtime::StartRequest, std::function<void(Status)> done) override { done(Status::Unavailable("fake")); }
  void Kill(const std::string&, int, std::function<void(Status)> done) override { done(Status::Unavailable("fake")); }
  void Remove(const std::string&, std::function<void(Status)> done) override { done(Status::Unavailable("fake")); }
  std::vector<runtime::ContainerStatus> List() override { return {}; }
  std::optional<runtime::ContainerStatus> Get(const std::string& id) override {
    auto it = containers.find(id);
    if (it == containers.end()) return std::nullopt;
    return it->second;
  }
  void OnExit(std::function<void(const runtime::ContainerStatus&)>) override {}
  void ExecSync(runtime::ExecRequest, std::function<void(StatusOr<runtime::ExecResult>)> done) override {
    done(Status::Unavailable("fake"));
  }
  void Exec(runtime::ExecRequest req, std::function<void(StatusOr<ExecProcessPtr>)> done) override {
    execs.push_back(req);
    Answer(std::move(done));
  }
  void Attach(const std::string& id, bool stdin, std::function<void(StatusOr<ExecProcessPtr>)> done) override {
    attaches.push_back(id);
    attach_stdin.push_back(stdin);
    Answer(std::move(done));
  }

 private:
  void Answer(std::function<void(StatusOr<ExecProcessPtr>)> done) {
    // Asynchronous, as the real runtime answers.
    auto holder = std::make_shared<StatusOr<ExecProcessPtr>>(next ? next() : Status::Unavailable("no process"));
    loop_.Post([holder, done = std::move(done)] { done(std::move(*holder)); });
  }
  http::Loop& loop_;
};

class FakeSink final : public st::LogSink {
 public:
  bool accepted = false, ended = false, gone = false;
  std::optional<Status> failed;
  std::string data;
  size_t buffered = 0;
  bool accumulate = false;  // Buffered() grows with every write (nobody drains)
  std::function<void()> on_writable, on_cancel;

  void Accept() override { accepted = true; }
  void Fail(const Status& e) override { failed = e; }
  bool Write(std::string_view d) override {
    if (closed()) return false;
    accepted = true;
    data.append(d);
    if (accumulate) buffered += d.size();
    return true;
  }
  void End() override {
    accepted = true;
    ended = true;
  }
  size_t Buffered() const override { return buffered; }
  void OnWritable(std::function<void()> fn) override { on_writable = std::move(fn); }
  void OnCancel(std::function<void()> fn) override { on_cancel = std::move(fn); }
  bool closed() const override { return ended || failed.has_value() || gone; }
  void Drain() {
    buffered = 0;
    if (on_writable) on_writable();
  }
};

class FakeSession final : public st::ExecSession {
 public:
  Handlers h;
  bool accepted = false;
  std::optional<Status> failed;
  std::optional<int> exit_code;
  std::string out, err;
  std::string order;  // "o", "e" and "x" (exit) in the order they came
  size_t buffered = 0;
  bool accumulate = false;
  bool stdin_paused = false;
  int pauses = 0, resumes = 0;
  std::function<void()> on_writable;

  void SetHandlers(Handlers handlers) override { h = std::move(handlers); }
  void Accept() override { accepted = true; }
  void Fail(const Status& e) override { failed = e; }
  bool WriteStdout(std::string_view d) override { return Out(&out, "o", d); }
  bool WriteStderr(std::string_view d) override { return Out(&err, "e", d); }
  void Exit(int code) override {
    exit_code = code;
    order += "x";
  }
  size_t Buffered() const override { return buffered; }
  void OnWritable(std::function<void()> fn) override { on_writable = std::move(fn); }
  void PauseStdin() override {
    stdin_paused = true;
    ++pauses;
  }
  void ResumeStdin() override {
    stdin_paused = false;
    ++resumes;
  }
  bool closed() const override { return exit_code.has_value() || failed.has_value(); }
  void Drain() {
    buffered = 0;
    if (on_writable) on_writable();
  }
  void Cancel() {
    auto fn = std::move(h.on_cancel);
    h = Handlers();
    if (fn) fn();
  }

 private:
  bool Out(std::string* to, const char* tag, std::string_view d) {
    if (closed()) return false;
    to->append(d);
    if (order.empty() || order.back() != tag[0]) order += tag;
    if (accumulate) buffered += d.size();
    return true;
  }
};

class FakeForward final : public st::PortForwardStream {
 public:
  Handlers h;
  bool accepted = false, ended = false;
  std::optional<Status> failed;
  std::string data;
  size_t buffered = 0;
  bool accumulate = false;
  bool input_paused = false;
  int pauses = 0, resumes = 0;
  std::function<void()> on_writable;

  void SetHandlers(Handlers handlers) override { h = std::move(handlers); }
  void Accept() override { accepted = true; }
  void Fail(const Status& e) override { failed = e; }
  bool Write(std::string_view d) override {
    if (failed) return false;
    data.append(d);
    if (accumulate) buffered += d.size();
    return true;
  }
  void End() override { ended = true; }
  size_t Buffered() const override { return buffered; }
  void OnWritable(std::function<void()> fn) override { on_writable = std::move(fn); }
  void PauseInput() override {
    input_paused = true;
    ++pauses;
  }
  void ResumeInput() override {
    input_paused = false;
    ++resumes;
  }
  bool closed() const override { return failed.has_value(); }
  void Drain() {
    buffered = 0;
    if (on_writable) on_writable();
  }
};

// Everything a test needs: a loop, a pool, the fakes and the backend.
struct Fixture {
  http::Loop loop;
  WorkPool pool{2};
  FakeLocator locator;
  FakeRuntime runtime{loop};
  std::string netns;  // what netns_path answers
  std::vector<std::string> netns_asked;
  std::unique_ptr<KubeletStreaming> backend;
  TempDir dir;

  explicit Fixture(KubeletStreamingOptions opts = {}) {
    backend = std::make_unique<KubeletStreaming>(
        loop, pool, locator, runtime,
        [this](const std::string& uid) {
          netns_asked.push_back(uid);
          return netns;
        },
        opts);
  }
  ~Fixture() {
    backend.reset();
    Spin(loop, 5);
  }
  // A container whose log lives at <dir>/<name>/0.log.
  ContainerRef AddContainer(const std::string& name, const std::string& id, bool running) {
    fs::create_directories(dir.path + "/" + name);
    ContainerRef ref{id, dir.path + "/" + name + "/0.log", running};
    locator.current[name] = ref;
    runtime::ContainerStatus cs;
    cs.id = id;
    cs.state = running ? runtime::ContainerStatus::State::kRunning : runtime::ContainerStatus::State::kExited;
    runtime.containers[id] = cs;
    return ref;
  }
};

void AppendFile(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::app | std::ios::binary);
  f << text;
}

std::string Record(int64_t ns, const std::string& stream, const std::string& line) {
  return runtime::FormatRFC3339Nano(ns) + " " + stream + " F " + line + "\n";
}

st::PodRef Ref(const std::string& container) { return st::PodRef{"default", "web", "uid-1", container}; }

std::string ReadSome(int fd, size_t want, http::Loop& loop, uint64_t timeout_ms = 2000) {
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  std::string got;
  RunUntil(
      loop,
      [&] {
        char buf[65536];
        for (;;) {
          ssize_t r = read(fd, buf, sizeof buf);
          if (r <= 0) break;
          got.append(buf, static_cast<size_t>(r));
        }
        return got.size() >= want;
      },
      timeout_ms);
  return got;
}

// True once fd reads end-of-file (all writers closed).
bool WaitEof(int fd, http::Loop& loop) {
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return RunUntil(loop, [&] {
    char buf[4096];
    ssize_t r = read(fd, buf, sizeof buf);
    return r == 0;
  });
}

// ---------------------------------------------------------------------------------------------
// Logs

TEST_CASE("logs of an exited container: the whole log, then the end", "[kstream]") {
  Fixture fx;
  auto ref = fx.AddContainer("app", "c1", false);
  AppendFile(ref.log_path, Record(1000000000, "stdout", "one") + Record(2000000000, "stderr", "two") +
                               "2016-10-06T00:17:09.1Z stdout P par" + "\n" + Record(3000000000, "stdout", "tial"));
  auto sink = std::make_shared<FakeSink>();
  st::LogRequest req;
  req.ref = Ref("app");
  req.follow = true;  // not running: nothing to follow
  fx.backend->Logs(req, sink);
  REQUIRE(RunUntil(fx.loop, [&] { return sink->ended; }));
  CHECK(sink->accepted);
  CHECK_FALSE(sink->failed);
  CHECK(sink->data == "one\ntwo\npartial\n");
  REQUIRE(RunUntil(fx.loop, [&] { return fx.backend->active_logs() == 0; }));
}

TEST_CASE("logs: tail, timestamps, limitBytes, since and previous", "[kstream]") {
  Fixture fx;
  auto ref = fx.AddContainer("app", "c2", true);
  int64_t now = runtime::WallNowNs();
  int64_t old = now - 3600LL * 1000000000;
  AppendFile(ref.log_path, Record(old, "stdout", "a") + Record(old + 1, "stdout", "b") + Record(now, "stdout", "c"));
  fs::create_directories(fx.dir.path + "/prev");
  ContainerRef prev{"c1", fx.dir.path + "/prev/0.log", false};
  AppendFile(prev.log_path, Record(old, "stdout", "before restart"));
  fx.locator.previous["app"] = prev;

  auto run = [&](st::LogRequest req) {
    auto sink = std::make_shared<FakeSink>();
    req.ref = Ref("app");
    fx.backend->Logs(req, sink);
    REQUIRE(RunUntil(fx.loop, [&] { return sink->ended || sink->failed; }));
    return sink;
  };
  {
    st::LogRequest r;
    r.tail_lines = 1;
    r.timestamps = true;
    CHECK(run(r)->data == runtime::FormatRFC3339NanoFixed(now) + " c\n");
  }
  {
    st::LogRequest r;
    r.tail_lines = 2;
    CHECK(run(r)->data == "b\nc\n");
  }
  {
    st::LogRequest r;
    r.limit_bytes = 3;
    CHECK(run(r)->data == "a\nb");
  }
  {
    st::LogRequest r;
    r.since_seconds = 60;
    CHECK(run(r)->data == "c\n");
  }
  {
    st::LogRequest r;
    r.since_time = runtime::FormatRFC3339Nano(old + 1);
    CHECK(run(r)->data == "b\nc\n");
  }
  {
    st::LogRequest r;
    r.previous = true;
    r.follow = true;  // the previous instance ended: returns at once
    auto s = run(r);
    CHECK(s->data == "before restart\n");
    CHECK(s->ended);
  }
}

TEST_CASE("logs: the locator's errors reach kubectl as they are", "[kstream]") {
  Fixture fx;
  fx.locator.errors["app"] =
      Status::BadRequest("container \"app\" in pod \"web\" is waiting to start: ContainerCreating");
  auto sink = std::make_shared<FakeSink>();
  st::LogRequest req;
  req.ref = Ref("app");
  fx.backend->Logs(req, sink);
  REQUIRE(sink->failed);
  CHECK(sink->failed->code() == Code::kBadRequest);
  CHECK(sink->failed->message() == "container \"app\" in pod \"web\" is waiting to start: ContainerCreating");

  auto prev = std::make_shared<FakeSink>();
  req.ref = Ref("other");
  req.previous = true;
  fx.backend->Logs(req, prev);
  REQUIRE(prev->failed);
  CHECK(prev->failed->message() == "previous terminated container \"other\" in pod \"web\" not found");
  CHECK(fx.backend->active_logs() == 0);
}

TEST_CASE("logs -f: appends stream promptly, rotation is followed, the container's exit ends it", "[kstream]") {
  Fixture fx;
  auto ref = fx.AddContainer("app", "c3", true);
  runtime::CriLogWriterOptions wo;
  wo.max_size = 200;  // rotates every few lines
  wo.max_files = 3;
  auto writer = runtime::CriLogWriter::Open(ref.log_path, wo);
  REQUIRE(writer.ok());
  (*writer)->Write(runtime::CriLogWriter::Stream::kStdout, "first\n");
  auto sink = std::make_shared<FakeSink>();
  st::LogRequest req;
  req.ref = Ref("app");
  req.follow = true;
  fx.backend->Logs(req, sink);
  REQUIRE(RunUntil(fx.loop, [&] { return sink->data == "first\n"; }));
  Spin(fx.loop, 10);
  CHECK_FALSE(sink->ended);

  // A new line shows up within the latency kubectl users expect.
  auto t0 = std::chrono::steady_clock::now();
  (*writer)->Write(runtime::CriLogWriter::Stream::kStderr, "second\n");
  REQUIRE(RunUntil(
      fx.loop, [&] { return sink->data == "first\nsecond\n"; }, 1000));
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(100));

  // Enough lines to rotate the file several times: every line arrives once, in order. (Two
  // rotations within the same second between two reads would lose the middle file, as with
  // upstream's kubelet: the rotated name has a one-second resolution. Rotations come at 10 MiB.)
  std::string expect = "first\nsecond\n";
  for (int i = 0; i < 20; ++i) {
    std::string line = "line " + std::to_string(i) + " " + std::string(40, 'x');
    (*writer)->Write(runtime::CriLogWriter::Stream::kStdout, line + "\n");
    expect += line + "\n";
    REQUIRE(RunUntil(
        fx.loop, [&] { return sink->data == expect; }, 1000));
  }
  CHECK((*writer)->rotations() >= 3);
  CHECK(sink->data == expect);

  // The container exits right after its last words: they are read, then the stream ends.
  (*writer)->Write(runtime::CriLogWriter::Stream::kStdout, "bye\n");
  fx.locator.Exit("c3");
  REQUIRE(RunUntil(fx.loop, [&] { return sink->ended; }));
  CHECK(sink->data == expect + "bye\n");
  REQUIRE(RunUntil(fx.loop, [&] { return fx.backend->active_logs() == 0; }));
}

TEST_CASE("logs -f: a cancelled stream stops; other containers' exits do not end it", "[kstream]") {
  Fixture fx;
  auto ref = fx.AddContainer("app", "c4", true);
  AppendFile(ref.log_path, Record(1, "stdout", "x"));
  auto sink = std::make_shared<FakeSink>();
  st::LogRequest req;
  req.ref = Ref("app");
  req.follow = true;
  fx.backend->Logs(req, sink);
  REQUIRE(RunUntil(fx.loop, [&] { return sink->data == "x\n"; }));
  fx.locator.Exit("another");
  Spin(fx.loop, 10);
  CHECK_FALSE(sink->ended);
  CHECK(fx.backend->active_logs() == 1);
  sink->gone = true;
  sink->on_cancel();
  REQUIRE(RunUntil(fx.loop, [&] { return fx.backend->active_logs() == 0; }));
  AppendFile(ref.log_path, Record(2, "stdout", "y"));
  Spin(fx.loop, 10);
  CHECK(sink->data == "x\n");
}

TEST_CASE("logs: reading stops above the high-water mark and resumes when the sink drains", "[kstream]") {
  Fixture fx;
  auto ref = fx.AddContainer("app", "c5", false);
  std::string line(1000, 'z');
  std::string all, expect;
  for (int i = 0; i < 3000; ++i) {  // ~3 MB of log
    all += Record(1000 + i, "stdout", line);
    expect += line + "\n";
  }
  AppendFile(ref.log_path, all);
  auto sink = std::make_shared<FakeSink>();
  sink->accumulate = true;
  st::LogRequest req;
  req.ref = Ref("app");
  fx.backend->Logs(req, sink);
  Spin(fx.loop, 20);
  CHECK(sink->data.size() > st::kHighWater);
  CHECK(sink->data.size() < st::kHighWater + 128 * 1024);
  CHECK_FALSE(sink->ended);
  int rounds = 0;
  while (!sink->ended && rounds < 10) {
    size_t before = sink->data.size();
    sink->Drain();
    Spin(fx.loop, 5);
    CHECK(sink->data.size() - before < st::kHighWater + 128 * 1024);
    ++rounds;
  }
  CHECK(sink->ended);
  CHECK(rounds >= 2);
  CHECK((sink->data == expect));  // (not expanded: 3 MB)
}

// ---------------------------------------------------------------------------------------------
// Exec and attach

TEST_CASE("exec: stdin in, stdout and stderr out, the exit code after the output", "[kstream]") {
  Fixture fx;
  fx.AddContainer("app", "c6", true);
  auto ps = std::make_shared<ProcState>();
  fx.runtime.next = [&]() -> StatusOr<ExecProcessPtr> { return MakeProcess(fx.loop, ps, false, true); };
  auto session = std::make_shared<FakeSession>();
  st::ExecRequest req;
  req.ref = Ref("app");
  req.command = {"sh", "-c", "cat; exit 3"};
  req.stdin_ = req.stdout_ = req.stderr_ = true;
  fx.backend->Exec(req, session);
  REQUIRE(RunUntil(fx.loop, [&] { return session->accepted; }));
  REQUIRE(fx.runtime.execs.size() == 1);
  CHECK(fx.runtime.execs[0].container_id == "c6");
  CHECK(fx.runtime.execs[0].argv == req.command);
  CHECK(fx.runtime.execs[0].stdin);
  CHECK_FALSE(fx.runtime.execs[0].tty);

  session->h.on_stdin("hello\n");
  CHECK(ReadSome(ps->in, 6, fx.loop) == "hello\n");
  session->h.on_stdin_end();
  CHECK(WaitEof(ps->in, fx.loop));
  CHECK(ps->stdin_closed);

  REQUIRE(write(ps->out, "hello\n", 6) == 6);
  REQUIRE(RunUntil(fx.loop, [&] { return session->out == "hello\n"; }));
  REQUIRE(write(ps->err, "oops\n", 5) == 5);
  REQUIRE(RunUntil(fx.loop, [&] { return session->err == "oops\n"; }));

  // The process exits before its last output was read: the output still comes first.
  ps->Exit(3);
  REQUIRE(write(ps->out, "late\n", 5) == 5);
  Spin(fx.loop, 5);
  ps->CloseOutputs();
  REQUIRE(RunUntil(fx.loop, [&] { return session->exit_code.has_value(); }));
  CHECK(*session->exit_code == 3);
  CHECK(session->out == "hello\nlate\n");
  CHECK(session->order.back() == 'x');
  CHECK_FALSE(session->failed);
  REQUIRE(RunUntil(fx.loop, [&] { return fx.backend->active_execs() == 0; }));
  CHECK(ps->destroyed);
  CHECK_FALSE(ps->killed);
}

TEST_CASE("exec: output not asked for is drained and dropped; a pipe held open does not hang the exit", "[kstream]") {
  KubeletStreamingOptions opts;
  opts.exec_drain_idle_ms = 30;
  Fixture fx(opts);
  fx.AddContainer("app", "c7", true);
  auto ps = std::make_shared<ProcState>();
  fx.runtime.next = [&]() -> StatusOr<ExecProcessPtr> { return MakeProcess(fx.loop, ps, false, false); };
  auto session = std::make_shared<FakeSession>();
  st::ExecRequest req;
  req.ref = Ref("app");
  req.command = {"true"};
  req.stdout_ = true;  // no stderr
  fx.backend->Exec(req, session);
  REQUIRE(RunUntil(fx.loop, [&] { return session->accepted; }));
  CHECK_FALSE(fx.runtime.execs[0].stdin);
  REQUIRE(write(ps->err, "ignored\n", 8) == 8);
  REQUIRE(write(ps->out, "kept\n", 5) == 5);
  REQUIRE(RunUntil(fx.loop, [&] { return session->out == "kept\n"; }));
  // Exits, but a background child keeps stdout open: the exit is reported after a quiet spell.
  ps->Exit(0);
  REQUIRE(RunUntil(
      fx.loop, [&] { return session->exit_code.has_value(); }, 1000));
  CHECK(*session->exit_code == 0);
  CHECK(session->err.empty());
}

TEST_CASE("exec -it: a real terminal, resizes, stdin end as EOT", "[kstream]") {
  Fixture fx;
  fx.AddContainer("app", "c8", true);
  auto ps = std::make_shared<ProcState>();
  fx.runtime.next = [&]() -> StatusOr<ExecProcessPtr> { return MakeProcess(fx.loop, ps, true, true); };
  auto session = std::make_shared<FakeSession>();
  st::ExecRequest req;
  req.ref = Ref("app");
  req.command = {"sh"};
  req.stdin_ = req.stdout_ = req.tty = true;
  fx.backend->Exec(req, session);
  REQUIRE(RunUntil(fx.loop, [&] { return session->accepted; }));
  CHECK(fx.runtime.execs[0].tty);

  session->h.on_resize({120, 40});
  REQUIRE(ps->resizes.size() == 1);
  CHECK(ps->resizes[0] == std::make_pair<uint16_t, uint16_t>(120, 40));
  winsize ws{};
  REQUIRE(ioctl(ps->out, TIOCGWINSZ, &ws) == 0);
  CHECK(ws.ws_col == 120);
  CHECK(ws.ws_row == 40);

  session->h.on_stdin("ls\r");
  CHECK(ReadSome(ps->in, 3, fx.loop) == "ls\r");
  REQUIRE(write(ps->out, "a b\r\n", 5) == 5);
  REQUIRE(RunUntil(fx.loop, [&] { return session->out == "a b\r\n"; }));
  CHECK(session->err.empty());

  session->h.on_stdin("x");
  session->h.on_stdin_end();  // after the queued byte: x, then EOT
  CHECK(ReadSome(ps->in, 2, fx.loop) == "x\x04");
  CHECK(ps->stdin_closed);

  // The shell exits: the terminal's other side closes (EIO on the master), then the exit code.
  ps->Exit(0);
  close(ps->out);
  ps->out = ps->in = -1;
  REQUIRE(RunUntil(fx.loop, [&] { return session->exit_code.has_value(); }));
  CHECK(*session->exit_code == 0);
}

TEST_CASE("exec -it: a size sent right behind the request starts the terminal", "[kstream]") {
  Fixture fx;
  fx.AddContainer("app", "c8", true);
  auto ps = std::make_shared<ProcState>();
  fx.runtime.next = [&]() -> StatusOr<ExecProcessPtr> { return MakeProcess(fx.loop, ps, true, true); };
  auto session = std::make_shared<FakeSession>();
  st::ExecRequest req;
  req.ref = Ref("app");
  req.command = {"sh"};
  req.stdin_ = req.stdout_ = req.tty = true;
  fx.backend->Exec(req, session);
  session->h.on_resize({100, 30});  // before the loop turns: kubectl's first frame
  REQUIRE(RunUntil(fx.loop, [&] { return session->accepted; }));
  REQUIRE(fx.runtime.execs.size() == 1);
  CHECK(fx.runtime.execs[0].cols == 100);
  CHECK(fx.runtime.execs[0].rows == 30);
  CHECK(ps->resizes.empty());  // the terminal started at that size: no resize after the start
  session->h.on_resize({90, 20});
  REQUIRE(ps->resizes.size() == 1);
  CHECK(ps->resizes[0] == std::make_pair<uint16_t, uint16_t>(90, 20));
  ps->Exit(0);
  close(ps->out);
  ps->out = ps->in = -1;
  REQUIRE(RunUntil(fx.loop, [&] { return session->exit_code.has_value(); }));
}

TEST_CASE("exec: a cancelled session kills the process", "[kstream]") {
  Fixture fx;
  fx.AddContainer("app", "c9", true);
  auto ps = std::make_shared<ProcState>();
  fx.runtime.next = [&]() -> StatusOr<ExecProcessPtr> { return MakeProcess(fx.loop, ps, false, true); };
  auto session = std::make_shared<FakeSession>();
  st::ExecRequest req;
  req.ref = Ref("app");
  req.command = {"sleep", "1000"};
  req.stdin_ = req.stdout_ = req.stderr_ = true;
  fx.backend->Exec(req, session);
  REQUIRE(RunUntil(fx.loop, [&] { return session->accepted; }));
  session->Cancel();
  CHECK(ps->killed);
  REQUIRE(RunUntil(fx.loop, [&] { return fx.backend->active_execs() == 0; }));
  CHECK(ps->destroyed);
  CHECK_FALSE(session->exit_code);  // nothing goes to a session that went away
  CHECK_FALSE(session->failed);
}

TEST_CASE("exec: a session cancelled while the process starts drops it", "[kstream]") {
  Fixture fx;
  fx.AddContainer("app", "c9", true);
  auto ps = std::make_shared<ProcState>();
  fx.runtime.next = [&]() -> StatusOr<ExecProcessPtr> { return MakeProcess(fx.loop, ps, false, false); };
  auto session = std::make_shared<FakeSession>();
  st::ExecRequest req;
  req.ref = Ref("app");
  req.command = {"true"};
  req.stdout_ = true;
  fx.backend->Exec(req, session);
  session->Cancel();  // before the runtime answered
  REQUIRE(RunUntil(fx.loop, [&] { return ps->destroyed; }));
  CHECK_FALSE(session->accepted);
  REQUIRE(RunUntil(fx.loop, [&] { return fx.backend->active_execs() == 0; }));
}

TEST_CASE("exec: errors in upstream's words", "[kstream]") {
  Fixture fx;
  fx.AddContainer("app", "c10", false);  // exited
  fx.locator.errors["init"] =
      Status::BadRequest("container \"init\" in pod \"web\" is waiting to start: PodInitializing");
  st::ExecRequest req;
  req.command = {"sh"};
  req.stdout_ = true;

  auto s1 = std::make_shared<FakeSession>();
  req.ref = Ref("app");
  fx.backend->Exec(req, s1);
  REQUIRE(s1->failed);
  CHECK(s1->failed->code() == Code::kInternal);
  CHECK(s1->failed->message() == "container not found (\"app\")");

  auto s2 = std::make_shared<FakeSession>();
  req.ref = Ref("init");
  fx.backend->Exec(req, s2);
  REQUIRE(s2->failed);
  CHECK(s2->failed->message() == "container not found (\"init\")");

  auto s3 = std::make_shared<FakeSession>();
  req.ref = Ref("missing-pod");
  fx.backend->Exec(req, s3);
  REQUIRE(s3->failed);
  CHECK(s3->failed->code() == Code::kNotFound);
  CHECK(s3->failed->message() == "pod does not exist");

  auto s4 = std::make_shared<FakeSession>();
  req.ref = Ref("app");
  req.attach = true;
  fx.backend->Exec(req, s4);
  REQUIRE(s4->failed);
  CHECK(s4->failed->message() == "container app not found in pod web_default");
  CHECK(fx.runtime.execs.empty());
  CHECK(fx.runtime.attaches.empty());
}

TEST_CASE("exec: a command runc could not start fails as kubectl shows it", "[kstream]") {
  Fixture fx;
  fx.AddContainer("app", "c11", true);
  auto ps = std::make_shared<ProcState>();
  fx.runtime.next = [&]() -> StatusOr<ExecProcessPtr> { return MakeProcess(fx.loop, ps, false, false); };
  auto session = std::make_shared<FakeSession>();
  st::ExecRequest req;
  req.ref = Ref("app");
  req.command = {"bash"};
  req.stdout_ = req.stderr_ = true;
  fx.backend->Exec(req, session);
  REQUIRE(RunUntil(fx.loop, [&] { return session->accepted; }));
  std::string runc =
      "failed to exec in container: failed to start exec \"0123\": OCI runtime exec failed: exec failed: unable to "
      "start container process: exec: \"bash\": executable file not found in $PATH: unknown";
  ps->CloseOutputs();
  ps->Exit(Status::Internal(runc));
  REQUIRE(RunUntil(fx.loop, [&] { return session->failed.has_value(); }));
  CHECK(session->failed->code() == Code::kInternal);
  CHECK(session->failed->message() == "error executing command in container: " + runc);
  CHECK_FALSE(session->exit_code);

  // The runtime refusing to start anything.
  fx.runtime.next = [] { return StatusOr<ExecProcessPtr>(Status::NotFound("container \"c11\" not found")); };
  auto s2 = std::make_shared<FakeSession>();
  fx.backend->Exec(req, s2);
  REQUIRE(RunUntil(fx.loop, [&] { return s2->failed.has_value(); }));
  CHECK(s2->failed->message() == "container not found (\"app\")");
}

TEST_CASE("attach: the container's stdio; ends with success; a cancel detaches", "[kstream]") {
  Fixture fx;
  fx.AddContainer("app", "c12", true);
  auto ps = std::make_shared<ProcState>();
  fx.runtime.next = [&]() -> StatusOr<ExecProcessPtr> { return MakeProcess(fx.loop, ps, false, true); };
  auto session = std::make_shared<FakeSession>();
  st::ExecRequest req;
  req.ref = Ref("app");
  req.attach = true;
  req.stdin_ = req.stdout_ = req.stderr_ = true;
  fx.backend->Exec(req, session);
  REQUIRE(RunUntil(fx.loop, [&] { return session->accepted; }));
  REQUIRE(fx.runtime.attaches == std::vector<std::string>{"c12"});
  CHECK(fx.runtime.attach_stdin == std::vector<bool>{true});
  CHECK(fx.runtime.execs.empty());
  session->h.on_stdin("in\n");
  CHECK(ReadSome(ps->in, 3, fx.loop) == "in\n");
  REQUIRE(write(ps->out, "out\n", 4) == 4);
  REQUIRE(RunUntil(fx.loop, [&] { return session->out == "out\n"; }));
  ps->CloseOutputs();
  ps->Exit(5);  // the container's own exit code is not the attach's
  REQUIRE(RunUntil(fx.loop, [&] { return session->exit_code.has_value(); }));
  CHECK(*session->exit_code == 0);

  // Without -i, the client's stdin is not attached (its end must not close a stdinOnce stdin).
  auto ps2 = std::make_shared<ProcState>();
  fx.runtime.next = [&]() -> StatusOr<ExecProcessPtr> { return MakeProcess(fx.loop, ps2, false, false); };
  auto s2 = std::make_shared<FakeSession>();
  req.stdin_ = false;
  fx.backend->Exec(req, s2);
  REQUIRE(RunUntil(fx.loop, [&] { return s2->accepted; }));
  CHECK(fx.runtime.attach_stdin == std::vector<bool>{true, false});
  s2->Cancel();
  CHECK(ps2->killed);
  REQUIRE(RunUntil(fx.loop, [&] { return ps2->destroyed; }));
}

TEST_CASE("exec: back-pressure both ways", "[kstream]") {
  Fixture fx;
  fx.AddContainer("app", "c13", true);
  auto ps = std::make_shared<ProcState>();
  fx.runtime.next = [&]() -> StatusOr<ExecProcessPtr> { return MakeProcess(fx.loop, ps, false, true); };
  auto session = std::make_shared<FakeSession>();
  session->accumulate = true;
  st::ExecRequest req;
  req.ref = Ref("app");
  req.command = {"cat"};
  req.stdin_ = req.stdout_ = true;
  fx.backend->Exec(req, session);
  REQUIRE(RunUntil(fx.loop, [&] { return session->accepted; }));

  // Output: the process writes 4 MB; reading stops once the session holds more than the mark.
  const size_t total = 4 << 20;
  std::string chunk(64 * 1024, 'o');
  fcntl(ps->out, F_SETFL, fcntl(ps->out, F_GETFL) | O_NONBLOCK);
  size_t written = 0;
  auto write_more = [&] {
    while (written < total) {
      ssize_t w = write(ps->out, chunk.data(), std::min(chunk.size(), total - written));
      if (w <= 0) break;
      written += static_cast<size_t>(w);
    }
  };
  for (int i = 0; i < 50; ++i) {
    write_more();
    Spin(fx.loop, 2);
  }
  CHECK(session->out.size() > st::kHighWater);
  CHECK(session->out.size() < st::kHighWater + 256 * 1024);
  CHECK(written < total);  // the pipe filled up: the writer is held back
  for (int i = 0; i < 200 && session->out.size() < total; ++i) {
    session->Drain();
    write_more();
    Spin(fx.loop, 2);
  }
  CHECK(session->out.size() == total);

  // Input: the process does not read; the session's stdin is paused, then resumed as it reads.
  std::string big(256 * 1024, 'i');
  for (int i = 0; i < 8; ++i) session->h.on_stdin(big);
  CHECK(session->stdin_paused);
  CHECK(session->pauses == 1);
  std::string got = ReadSome(ps->in, 8 * big.size(), fx.loop);
  CHECK(got.size() == 8 * big.size());
  REQUIRE(RunUntil(fx.loop, [&] { return !session->stdin_paused; }));
  CHECK(session->resumes == 1);
}

// ---------------------------------------------------------------------------------------------
// Port-forward

// A TCP echo server on a thread: echoes each connection until the client half-closes, then
// half-closes too. Its listening socket is made by the caller (in any network namespace).
class EchoServer {
 public:
  explicit EchoServer(int listen_fd) : fd_(listen_fd) {
    sockaddr_in a{};
    socklen_t l = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &l);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~EchoServer() {
    stop_ = true;
    shutdown(fd_, SHUT_RDWR);
    int c = conn_.load();
    if (c >= 0) shutdown(c, SHUT_RDWR);  // unblocks a read or send in progress
    thread_.join();
    close(fd_);
  }
  int port() const { return port_; }
  std::atomic<bool> paused{false};  // stop reading (and echoing) while set

  // A listening socket on 127.0.0.1 (in the calling thread's network namespace), with small
  // buffers so that back-pressure shows quickly.
  static int Listen() {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int small = 32 * 1024;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd, 8) != 0) {
      close(fd);
      return -1;
    }
    return fd;
  }

 private:
  void Serve() {
    while (!stop_) {
      int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) return;
      conn_ = c;
      if (stop_) shutdown(c, SHUT_RDWR);
      char buf[65536];
      for (;;) {
        while (paused && !stop_) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        ssize_t r = read(c, buf, sizeof buf);
        if (r <= 0) break;
        size_t off = 0;
        while (off < static_cast<size_t>(r)) {
          ssize_t w = send(c, buf + off, static_cast<size_t>(r) - off, MSG_NOSIGNAL);
          if (w <= 0) break;
          off += static_cast<size_t>(w);
        }
        if (off < static_cast<size_t>(r)) break;
      }
      shutdown(c, SHUT_WR);
      conn_ = -1;
      close(c);
    }
  }
  int fd_;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> conn_{-1};
  std::thread thread_;
};

// A port nothing listens on (bound and closed again).
int FreePort() {
  int fd = EchoServer::Listen();
  sockaddr_in a{};
  socklen_t l = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &l);
  close(fd);
  return ntohs(a.sin_port);
}

TEST_CASE("port-forward: bytes both ways with half-close (host network)", "[kstream]") {
  Fixture fx;
  EchoServer echo(EchoServer::Listen());
  auto f = std::make_shared<FakeForward>();
  st::PortForwardRequest req;
  req.ref = Ref("");
  req.port = echo.port();
  fx.backend->PortForward(req, f);
  CHECK(fx.netns_asked == std::vector<std::string>{"uid-1"});
  f->h.on_data("early ");  // before the connection is made: kept
  REQUIRE(RunUntil(fx.loop, [&] { return f->accepted || f->failed; }));
  REQUIRE_FALSE(f->failed);
  f->h.on_data("ping");
  REQUIRE(RunUntil(fx.loop, [&] { return f->data == "early ping"; }));
  CHECK_FALSE(f->ended);
  f->h.on_data("!");
  f->h.on_end();  // kubectl's side is done: the server sees EOF after "!", and closes too
  REQUIRE(RunUntil(fx.loop, [&] { return f->ended; }));
  CHECK(f->data == "early ping!");
  REQUIRE(RunUntil(fx.loop, [&] { return fx.backend->active_forwards() == 0; }));
  CHECK_FALSE(f->failed);
}

TEST_CASE("port-forward: nothing listening fails with containerd's words", "[kstream]") {
  Fixture fx;
  int port = FreePort();
  auto f = std::make_shared<FakeForward>();
  st::PortForwardRequest req;
  req.ref = Ref("");
  req.port = port;
  fx.backend->PortForward(req, f);
  REQUIRE(RunUntil(fx.loop, [&] { return f->failed.has_value(); }));
  CHECK_FALSE(f->accepted);
  std::string p = std::to_string(port);
  std::string prefix = "error forwarding port " + p +
                       " to pod uid-1, uid : failed to execute portforward in network namespace \"host\": failed to "
                       "connect to localhost:" +
                       p + " inside namespace \"uid-1\", IPv4: dial tcp4 127.0.0.1:" + p +
                       ": connect: connection refused IPv6 dial tcp6 [::1]:" + p + ": connect: ";
  CHECK(f->failed->message().substr(0, prefix.size()) == prefix);
  CHECK(f->failed->message().back() == ' ');
  REQUIRE(RunUntil(fx.loop, [&] { return fx.backend->active_forwards() == 0; }));

  // A pod without a network namespace (its sandbox is gone).
  fx.netns = fx.dir.path + "/no-such-netns";
  auto g = std::make_shared<FakeForward>();
  fx.backend->PortForward(req, g);
  REQUIRE(RunUntil(fx.loop, [&] { return g->failed.has_value(); }));
  CHECK(g->failed->code() == Code::kNotFound);
  CHECK(g->failed->message() == "pod not found (\"web_default\")");
}

TEST_CASE("port-forward: back-pressure both ways", "[kstream]") {
  Fixture fx;
  EchoServer echo(EchoServer::Listen());
  auto f = std::make_shared<FakeForward>();
  f->accumulate = true;
  st::PortForwardRequest req;
  req.ref = Ref("");
  req.port = echo.port();
  fx.backend->PortForward(req, f);
  REQUIRE(RunUntil(fx.loop, [&] { return f->accepted || f->failed; }));
  REQUIRE_FALSE(f->failed);

  // Input: the server does not read; once the kernel's buffers are full our writes queue up
  // and the client's input is paused.
  echo.paused = true;
  std::string chunk(1 << 20, 'p');
  size_t sent = 0;
  for (int i = 0; i < 64 && !f->input_paused; ++i) {
    f->h.on_data(chunk);
    sent += chunk.size();
    Spin(fx.loop, 2);
  }
  REQUIRE(f->input_paused);
  CHECK(f->pauses == 1);
  // Output: the server echoes again; the stream fills above the mark and the socket is not read
  // (the server blocks), until the stream drains.
  echo.paused = false;
  REQUIRE(RunUntil(fx.loop, [&] { return f->data.size() > st::kHighWater; }));
  Spin(fx.loop, 20);
  CHECK(f->data.size() < st::kHighWater + 256 * 1024);
  for (int i = 0; i < 2000 && f->data.size() < sent; ++i) {
    f->Drain();
    Spin(fx.loop, 1);
  }
  CHECK(f->data.size() == sent);
  CHECK((f->data == std::string(sent, 'p')));  // (not expanded: megabytes)
  CHECK_FALSE(f->input_paused);
  CHECK(f->resumes == 1);
  f->Drain();  // the last echo may have filled it again
  f->h.on_end();
  REQUIRE(RunUntil(fx.loop, [&] { return f->ended; }));
}

TEST_CASE("port-forward: inside the pod's network namespace", "[kstream]") {
  if (geteuid() != 0) {
    WARN("SKIP: creating a network namespace needs root");
    return;
  }
  Fixture fx;
  std::string run_dir = fx.dir.path + "/run";
  oci::PodNamespaceOptions o;
  o.run_dir = run_dir;
  o.pod_uid = "uid-1";
  o.hostname = "web";
  auto ns = oci::CreatePodNamespaces(o);
  REQUIRE(ns.ok());
  struct Cleanup {
    std::string run_dir;
    ~Cleanup() {
      (void)oci::RemovePodNamespaces(run_dir, "uid-1");
      // The namespace directories stay bind-mounted on themselves for the agent's lifetime.
      for (const char* d : {"/netns", "/ipcns", "/utsns"}) umount2((run_dir + d).c_str(), MNT_DETACH);
    }
  } cleanup{run_dir};
  fx.netns = ns->net;

  // An echo server listening inside the pod's namespace only.
  int lfd = -1;
  REQUIRE(oci::RunInNetns(ns->net, [&] { lfd = EchoServer::Listen(); }).ok());
  REQUIRE(lfd >= 0);
  EchoServer echo(lfd);

  auto f = std::make_shared<FakeForward>();
  st::PortForwardRequest req;
  req.ref = Ref("");
  req.port = echo.port();
  fx.backend->PortForward(req, f);
  REQUIRE(RunUntil(fx.loop, [&] { return f->accepted || f->failed; }));
  REQUIRE_FALSE(f->failed);
  f->h.on_data("inside");
  f->h.on_end();
  REQUIRE(RunUntil(fx.loop, [&] { return f->ended; }));
  CHECK(f->data == "inside");

  // A port not listening in the pod (whatever the host has there).
  auto g = std::make_shared<FakeForward>();
  req.port = echo.port() == 65535 ? 65534 : echo.port() + 1;
  fx.backend->PortForward(req, g);
  REQUIRE(RunUntil(fx.loop, [&] { return g->failed.has_value(); }));
  std::string p = std::to_string(req.port);
  CHECK(g->failed->message().rfind("error forwarding port " + p +
                                       " to pod uid-1, uid : failed to execute portforward in network namespace \"" +
                                       ns->net + "\": failed to connect to localhost:" + p +
                                       " inside namespace \"uid-1\", IPv4: dial tcp4 127.0.0.1:" + p +
                                       ": connect: connection refused IPv6 dial tcp6 [::1]:" + p + ": connect: ",
                                   0) == 0);
}

// ---------------------------------------------------------------------------------------------
// With the real runtime: runc, a busybox container and its shim (the runtime tests' stand-in for
// `minik shim`).

#ifdef MINIK_TEST_SHIM
std::string RuncMissing() {
  if (geteuid() != 0) return "not root";
  if (runtime::internal::FindExecutable("runc").empty()) return "runc not on PATH";
  if (access("/bin/busybox", X_OK) != 0) return "no /bin/busybox (busybox-static)";
  return "";
}

TEST_CASE("with runc: logs -f, exec with pipes and a terminal, a missing command", "[kstream][runc]") {
  std::string why = RuncMissing();
  if (!why.empty()) {
    WARN("skipped: " << why);
    return;
  }
  Fixture fx;
  const std::string& dir = fx.dir.path;
  std::string cgroup_parent = "minik-kstream-test-" + std::to_string(getpid());
  for (const char* d :
       {"/rootfs", "/rootfs/bin", "/rootfs/proc", "/rootfs/dev", "/rootfs/sys", "/rootfs/tmp", "/logs", "/bundle"}) {
    fs::create_directories(dir + d);
  }
  fs::copy_file("/bin/busybox", dir + "/rootfs/bin/busybox");
  for (const char* a : {"sh", "echo", "sleep", "cat", "stty"}) fs::create_symlink("busybox", dir + "/rootfs/bin/" + a);
  auto spec = runtime::internal::Run({"/bin/sh", "-c", "cd " + dir + "/bundle && runc spec && cat config.json"}, 10000);
  REQUIRE(spec.ok());
  auto doc = ParseJson(spec->output);
  REQUIRE(doc.ok());
  auto& a = doc->GetAllocator();
  JsonValue argv(rapidjson::kArrayType);
  for (const char* x : {"sh", "-c", "echo started; exec sleep 1000"}) argv.PushBack(MakeString(x, a), a);
  (*doc)["process"]["terminal"] = false;
  (*doc)["process"]["args"] = argv;
  (*doc)["root"]["path"] = MakeString(dir + "/rootfs", a);
  SetString((*doc)["linux"], "cgroupsPath", "/" + cgroup_parent + "/c", a);
  REQUIRE(runtime::internal::WriteFileAtomic(dir + "/bundle/config.json", ToJson(*doc)).ok());

  runtime::RuncOptions ro;
  ro.runtime_root = dir + "/runc";
  ro.state_root = dir + "/state";
  ro.shim_command = {MINIK_TEST_SHIM, "shim"};
  std::string id(64, 'a');
  struct Cleanup {
    std::string dir, id, cgroup_parent;
    ~Cleanup() {
      runtime::internal::Run(
          {runtime::internal::FindExecutable("runc"), "--root", dir + "/runc", "delete", "--force", id}, 10000)
          .status()
          .ok();
      auto shim = runtime::internal::ReadFile(dir + "/state/" + id + "/shim.pid");
      if (shim.ok() && std::atoi(shim->c_str()) > 0) kill(std::atoi(shim->c_str()), SIGKILL);
      for (const auto& e : fs::directory_iterator("/sys/fs/cgroup")) {
        rmdir((e.path().string() + "/" + cgroup_parent + "/c").c_str());
        rmdir((e.path().string() + "/" + cgroup_parent).c_str());
      }
      rmdir(("/sys/fs/cgroup/" + cgroup_parent + "/c").c_str());
      rmdir(("/sys/fs/cgroup/" + cgroup_parent).c_str());
    }
  } cleanup{dir, id, cgroup_parent};

  auto rt = runtime::NewRuncRuntime(fx.loop, fx.pool, ro);
  // The backend under test, over the real runtime.
  KubeletStreaming backend(fx.loop, fx.pool, fx.locator, *rt, [](const std::string&) { return std::string(); });
  rt->OnExit([&](const runtime::ContainerStatus& cs) { fx.locator.Exit(cs.id); });
  runtime::StartRequest sr;
  sr.id = id;
  sr.bundle_dir = dir + "/bundle";
  sr.log_path = dir + "/logs/0.log";
  std::optional<Status> started;
  rt->Start(sr, [&](Status st) { started = st; });
  REQUIRE(RunUntil(
      fx.loop, [&] { return started.has_value(); }, 30000));
  REQUIRE(started->ok());
  fx.locator.current["app"] = ContainerRef{id, sr.log_path, true};
  {
    // The shim command (as `minik shim`) re-executed into the small embedded shim.
    auto shim = runtime::internal::ReadFile(dir + "/state/" + id + "/shim.pid");
    REQUIRE(shim.ok());
    std::error_code ec;
    auto exe = fs::read_symlink("/proc/" + std::to_string(std::atoi(shim->c_str())) + "/exe", ec);
    CHECK(exe.string().find("memfd:minik-shim") != std::string::npos);
  }

  auto logs = std::make_shared<FakeSink>();
  st::LogRequest lr;
  lr.ref = Ref("app");
  lr.follow = true;
  backend.Logs(lr, logs);
  REQUIRE(RunUntil(
      fx.loop, [&] { return logs->data == "started\n"; }, 5000));

  // Pipes: stdin to cat, both output streams, the exit code.
  auto s1 = std::make_shared<FakeSession>();
  st::ExecRequest er;
  er.ref = Ref("app");
  er.command = {"sh", "-c", "cat; echo done >&2; exit 3"};
  er.stdin_ = er.stdout_ = er.stderr_ = true;
  backend.Exec(er, s1);
  REQUIRE(RunUntil(
      fx.loop, [&] { return s1->accepted || s1->failed; }, 10000));
  s1->h.on_stdin("abc\n");
  s1->h.on_stdin_end();
  REQUIRE(RunUntil(
      fx.loop, [&] { return s1->exit_code || s1->failed; }, 10000));
  CHECK_FALSE(s1->failed);
  CHECK(s1->exit_code == 3);
  CHECK(s1->out == "abc\n");
  CHECK(s1->err == "done\n");

  // A terminal: the size kubectl sends, a shell, its exit code.
  auto s2 = std::make_shared<FakeSession>();
  er.command = {"sh"};
  er.tty = true;
  er.stderr_ = false;
  backend.Exec(er, s2);
  REQUIRE(RunUntil(
      fx.loop, [&] { return s2->accepted || s2->failed; }, 10000));
  s2->h.on_resize({100, 30});
  REQUIRE(RunUntil(
      fx.loop, [&] { return s2->out.find("# ") != std::string::npos; }, 10000));  // the prompt
  s2->h.on_stdin("sleep 0.3; stty size; echo hi; sleep 0.1; exit 5\r");
  REQUIRE(RunUntil(
      fx.loop, [&] { return s2->exit_code || s2->failed; }, 10000));
  std::string escaped;
  for (char c : s2->out) escaped += c == '\r' ? std::string("\\r") : c == '\n' ? std::string("\\n") : std::string(1, c);
  INFO("terminal output: " << escaped);
  CHECK(s2->exit_code == 5);
  CHECK(s2->out.find("30 100") != std::string::npos);
  // (Sometimes "hi\r\r\n": runc's side of the terminal is not always in raw mode yet, so its own
  // output processing adds a CR; the runtime should make that terminal raw before it runs runc.)
  CHECK(s2->out.find("hi\r") != std::string::npos);

  // A command that does not exist: kubectl shows "Internal error occurred: error executing ...".
  auto s3 = std::make_shared<FakeSession>();
  er.command = {"nope"};
  er.tty = false;
  er.stdin_ = false;
  backend.Exec(er, s3);
  REQUIRE(RunUntil(
      fx.loop, [&] { return s3->exit_code || s3->failed; }, 10000));
  REQUIRE(s3->failed);
  INFO(s3->failed->message());
  CHECK(s3->failed->message().rfind("error executing command in container: failed to exec in container: failed to "
                                    "start exec \"",
                                    0) == 0);
  CHECK(s3->failed->message().find("executable file not found in $PATH") != std::string::npos);

  // The container ends: the follow ends with it.
  CHECK_FALSE(logs->ended);
  std::optional<Status> killed;
  rt->Kill(id, SIGKILL, [&](Status st) { killed = st; });
  REQUIRE(RunUntil(
      fx.loop, [&] { return logs->ended; }, 10000));
  CHECK(logs->data == "started\n");
  std::optional<Status> removed;
  rt->Remove(id, [&](Status st) { removed = st; });
  REQUIRE(RunUntil(
      fx.loop, [&] { return removed.has_value(); }, 10000));
  CHECK(removed->ok());
  REQUIRE(RunUntil(fx.loop, [&] { return backend.active_execs() == 0 && backend.active_logs() == 0; }));
}
#endif  // MINIK_TEST_SHIM

}  // namespace
}  // namespace minik::agent::kubelet
