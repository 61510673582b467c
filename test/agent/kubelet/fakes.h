// Fakes for the kubelet's machine-facing interfaces: a Runtime and a PodHost that answer at
// once (synchronously) and record what they were asked.
#pragma once

#include <csignal>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "agent/kubelet/pod_host.h"
#include "agent/runtime/runtime.h"
#include "client/timers.h"

namespace minik::agent::kubelet {

class FakeRuntime : public runtime::Runtime {
 public:
  explicit FakeRuntime(client::FakeTimers& timers) : timers_(timers) {}
  std::map<std::string, runtime::ContainerStatus> containers;
  std::vector<std::string> started, removed;
  std::vector<std::pair<std::string, int>> kills;
  std::string fail_start;  // non-empty: Start fails with this message
  bool exit_on_sigterm = true;

  int64_t NowNs() const {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(timers_.clock().Now().time_since_epoch()).count();
  }
  void Start(runtime::StartRequest req, std::function<void(Status)> done) override {
    started.push_back(req.id);
    if (!fail_start.empty()) return done(Status::Internal(fail_start));
    runtime::ContainerStatus st;
    st.id = req.id;
    st.state = runtime::ContainerStatus::State::kRunning;
    st.pid = 100 + static_cast<int>(started.size());
    st.created_ns = st.started_ns = NowNs();
    st.log_path = req.log_path;
    st.labels = req.labels;
    containers[req.id] = st;
    done(Status::OK());
  }
  void Kill(const std::string& id, int signal, std::function<void(Status)> done) override {
    kills.emplace_back(id, signal);
    done(Status::OK());
    if (signal == SIGKILL || (signal == SIGTERM && exit_on_sigterm)) Exit(id, signal == SIGKILL ? 137 : 143, signal);
  }
  void Remove(const std::string& id, std::function<void(Status)> done) override {
    removed.push_back(id);
    containers.erase(id);
    done(Status::OK());
  }
  std::vector<runtime::ContainerStatus> List() override {
    std::vector<runtime::ContainerStatus> out;
    for (auto& [id, st] : containers) out.push_back(st);
    return out;
  }
  std::optional<runtime::ContainerStatus> Get(const std::string& id) override {
    auto it = containers.find(id);
    if (it == containers.end()) return std::nullopt;
    return it->second;
  }
  void OnExit(std::function<void(const runtime::ContainerStatus&)> fn) override { on_exit_ = std::move(fn); }
  // Scripted exec results (probes, hooks); the default fails.
  std::function<StatusOr<runtime::ExecResult>(const runtime::ExecRequest&)> exec_fn;
  std::vector<runtime::ExecRequest> execs;
  void ExecSync(runtime::ExecRequest req, std::function<void(StatusOr<runtime::ExecResult>)> done) override {
    execs.push_back(req);
    if (exec_fn) return done(exec_fn(req));
    done(Status::Unavailable("not in the fake"));
  }
  void Exec(runtime::ExecRequest, std::function<void(StatusOr<runtime::ExecProcessPtr>)> done) override {
    done(Status::Unavailable("not in the fake"));
  }
  void Attach(const std::string&, bool, std::function<void(StatusOr<runtime::ExecProcessPtr>)> done) override {
    done(Status::Unavailable("not in the fake"));
  }

  // The container's process ends.
  void Exit(const std::string& id, int code, int signal = 0, const std::string& message = "") {
    auto it = containers.find(id);
    if (it == containers.end() || it->second.state == runtime::ContainerStatus::State::kExited) return;
    it->second.state = runtime::ContainerStatus::State::kExited;
    it->second.exit_code = code;
    it->second.signal = signal;
    it->second.reason = code == 0 ? "Completed" : "Error";
    it->second.message = message;
    it->second.finished_ns = NowNs();
    if (on_exit_) on_exit_(it->second);
  }
  // The running container of a pod's container name (latest started).
  std::string IdOf(const std::string& container_name) const {
    std::string best;
    int best_attempt = -1;
    for (const auto& [id, st] : containers) {
      auto n = st.labels.find("io.kubernetes.container.name");
      auto rc = st.labels.find("io.kubernetes.container.restartCount");
      if (n == st.labels.end() || n->second != container_name) continue;
      int attempt = rc == st.labels.end() ? 0 : std::stoi(rc->second);
      if (attempt > best_attempt) {
        best = id;
        best_attempt = attempt;
      }
    }
    return best;
  }

 private:
  client::FakeTimers& timers_;
  std::function<void(const runtime::ContainerStatus&)> on_exit_;
};

class FakeHost : public PodHost {
 public:
  std::set<std::string> pods;  // set up
  std::vector<std::string> torn_down, cleaned, volume_updates;
  std::map<std::string, Failure> fail_image;  // image -> failure of PrepareContainer

  void SetUpPod(const client::ObjectPtr& pod, std::function<void(Outcome<SandboxInfo>)> done) override {
    pods.insert(std::string(client::MetaString(*pod, "uid")));
    Outcome<SandboxInfo> o;
    o.value = SandboxInfo{};
    done(o);
  }
  void UpdateVolumes(const client::ObjectPtr& pod) override {
    volume_updates.push_back(std::string(client::MetaString(*pod, "uid")));
  }
  void PrepareContainer(const client::ObjectPtr& pod, const std::string& container, const std::string& id,
                        const std::string& log_path, HostEventFn, std::function<void(Outcome<PreparedContainer>)> done) override {
    (void)log_path;
    std::string image;
    for (const char* kind : {"initContainers", "containers"}) {
      if (const JsonValue* cs = Path(*pod, {"spec", kind}); cs && cs->IsArray()) {
        for (const auto& c : cs->GetArray()) {
          if (GetString(c, "name").value_or("") == container) image = std::string(GetString(c, "image").value_or(""));
        }
      }
    }
    Outcome<PreparedContainer> o;
    auto f = fail_image.find(image);
    if (f != fail_image.end()) {
      o.failure = f->second;
      return done(o);
    }
    o.value = PreparedContainer{"/bundles/" + id, "docker.io/library/" + image + ":latest",
                                "docker.io/library/" + image + "@sha256:abc", false, 0, 0};
    done(o);
  }
  void CleanUpContainer(const std::string& id, std::function<void()> done) override {
    cleaned.push_back(id);
    done();
  }
  void TearDownPod(const std::string& uid, std::function<void(Status)> done) override {
    torn_down.push_back(uid);
    pods.erase(uid);
    done(Status::OK());
  }
  std::vector<std::string> PodsOnDisk() override { return {pods.begin(), pods.end()}; }
  std::vector<std::string> removed_logs;
  void RemoveLogs(const std::string& dir) override { removed_logs.push_back(dir); }
  std::map<std::string, std::string> log_links;  // link -> log path
  std::vector<std::string> removed_container_logs;
  void LinkContainerLog(const std::string& log_path, const std::string& link) override { log_links[link] = log_path; }
  void RemoveContainerLog(const std::string& log_path, const std::string& link) override {
    removed_container_logs.push_back(log_path);
    log_links.erase(link);
  }
  std::set<int> open_ports;  // network checks to these ports succeed
  std::vector<NetCheck> checks;
  void Check(const std::string&, NetCheck check, std::function<void(bool, std::string)> done) override {
    checks.push_back(check);
    bool ok = open_ports.count(check.port) > 0;
    done(ok, ok ? "" : "dial tcp 127.0.0.1:" + std::to_string(check.port) + ": connect: connection refused");
  }
};

}  // namespace minik::agent::kubelet
