#include <catch2/catch.hpp>

#include "agent/kubelet/kubelet.h"
#include "agent/kubelet/static_pods.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include "client/fake_api_client.h"
#include "fakes.h"
#include "json_testing.h"

namespace minik::agent::kubelet {
namespace {

const client::ResourceRef kPods{"", "v1", "pods"};
using State = runtime::ContainerStatus::State;

JsonDoc Json(std::string_view s) {
  auto d = ParseJson(s);
  REQUIRE(d.ok());
  return std::move(*d);
}

struct Bench {
  client::FakeTimers timers;
  client::FakeApiClient api{&timers.fake_clock()};
  FakeRuntime rt{timers};
  FakeHost host;
  client::EventRecorder events{api, timers.clock(), "kubelet", "node-1"};
  std::unique_ptr<Kubelet> kubelet;

  Bench() { NewKubelet(); }
  void NewKubelet() {
    KubeletOptions o;
    o.node_name = "node-1";
    o.node_ip = "10.0.0.5";
    o.logs_dir = "/logs";
    o.container_links_dir = "/links";
    kubelet = std::make_unique<Kubelet>(api, timers, rt, host, events, o);
    kubelet->Start();
    Settle();
  }
  void Settle() {
    for (int i = 0; i < 20 && timers.RunPending() > 0; ++i) {
    }
  }
  void Advance(int64_t ms) {
    timers.Advance(std::chrono::milliseconds(ms));
    Settle();
  }
  std::string AddPod(const std::string& name, const std::string& spec) {
    auto pod = api.Seed(kPods, Json(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":")" + name +
                                    R"(","namespace":"default"},"spec":)" + spec + "}"));
    REQUIRE(pod.ok());
    Settle();
    return std::string(client::MetaString(**pod, "uid"));
  }
  client::ObjectPtr Pod(const std::string& name) { return api.Find(kPods, "default", name); }
  std::string Field(const std::string& name, std::initializer_list<std::string_view> path) {
    auto p = Pod(name);
    if (!p) return "<gone>";
    const JsonValue* v = Path(*p, path);
    if (!v) return "<none>";
    if (v->IsString()) return v->GetString();
    return ToJson(*v);
  }
  const JsonValue* ContainerStatus(const std::string& pod, int i, const char* kind = "containerStatuses") {
    auto p = Pod(pod);
    const JsonValue* cs = p ? Path(*p, {"status", kind}) : nullptr;
    if (!cs || !cs->IsArray() || static_cast<int>(cs->Size()) <= i) return nullptr;
    held = p;
    return &(*cs)[i];
  }
  std::string Condition(const std::string& pod, const std::string& type) {
    auto p = Pod(pod);
    const JsonValue* cs = p ? Path(*p, {"status", "conditions"}) : nullptr;
    if (!cs) return "<none>";
    for (const auto& c : cs->GetArray()) {
      if (GetString(c, "type").value_or("") == type) return std::string(GetString(c, "status").value_or(""));
    }
    return "<none>";
  }
  std::vector<std::string> EventReasons() {
    std::vector<std::string> out;
    for (const auto& a : api.writes()) {
      if (a.resource.plural == "events" && a.verb == "create") {
        auto d = ParseJson(a.body);
        if (d.ok()) out.push_back(std::string(GetString(*d, "reason").value_or("")));
      }
    }
    return out;
  }
  client::ObjectPtr held;
};

const char* kOneContainer = R"({"nodeName":"node-1","containers":[{"name":"app","image":"busybox"}]})";

TEST_CASE("kubelet starts a pod's container and reports it Running and Ready") {
  Bench b;
  b.AddPod("web", kOneContainer);
  REQUIRE(b.rt.started.size() == 1);
  CHECK(b.host.pods.size() == 1);
  CHECK(b.Field("web", {"status", "phase"}) == "Running");
  CHECK(b.Condition("web", "Ready") == "True");
  CHECK(b.Condition("web", "ContainersReady") == "True");
  CHECK(b.Condition("web", "Initialized") == "True");
  CHECK(b.Condition("web", "PodReadyToStartContainers") == "True");
  CHECK(b.Field("web", {"status", "hostIP"}) == "10.0.0.5");
  const JsonValue* cs = b.ContainerStatus("web", 0);
  REQUIRE(cs);
  CHECK(Path(*cs, {"state", "running", "startedAt"}));
  CHECK(GetBool(*cs, "ready").value_or(false));
  CHECK(GetBool(*cs, "started").value_or(false));
  CHECK(GetInt(*cs, "restartCount").value_or(-1) == 0);
  CHECK(GetString(*cs, "image").value_or("") == "docker.io/library/busybox:latest");
  CHECK(GetString(*cs, "containerID").value_or("") == "runc://" + b.rt.started[0]);
  auto reasons = b.EventReasons();
  CHECK(std::count(reasons.begin(), reasons.end(), "Created") == 1);
  CHECK(std::count(reasons.begin(), reasons.end(), "Started") == 1);
  // Labels let a new agent adopt it.
  const auto& labels = b.rt.containers.begin()->second.labels;
  CHECK(labels.at("io.kubernetes.container.name") == "app");
  CHECK(labels.at("io.kubernetes.pod.namespace") == "default");
  CHECK(b.rt.containers.begin()->second.log_path.find("/logs/default_web_") == 0);
  CHECK(b.rt.containers.begin()->second.log_path.substr(b.rt.containers.begin()->second.log_path.size() - 10) == "/app/0.log");
}

TEST_CASE("container logs: linked as the kubelet links them; the instance before the previous takes its log along") {
  Bench b;
  b.AddPod("crash", kOneContainer);
  std::string first = b.rt.IdOf("app");
  auto uid = std::string(client::MetaString(*b.api.Find(kPods, "default", "crash"), "uid"));
  const std::string dir = "/logs/default_crash_" + uid + "/app/";
  CHECK(b.host.log_links == std::map<std::string, std::string>{{"/links/crash_default_app-" + first + ".log", dir + "0.log"}});
  b.rt.Exit(first, 1);
  b.Settle();  // restarted at once: instance 1; 0 is the previous (kubectl logs --previous)
  std::string second = b.rt.IdOf("app");
  CHECK(b.host.log_links.size() == 2);
  CHECK(b.host.removed_container_logs.empty());
  b.rt.Exit(second, 1);
  b.Advance(10100);  // after the back-off: instance 2; instance 0 goes with its log and link
  REQUIRE(b.rt.started.size() == 3);
  CHECK(b.host.removed_container_logs == std::vector<std::string>{dir + "0.log"});
  CHECK(b.host.log_links.count("/links/crash_default_app-" + first + ".log") == 0);
  CHECK(b.host.log_links.count("/links/crash_default_app-" + second + ".log") == 1);
  // The pod goes: its links with it (the log directory is removed whole).
  client::DeleteOptions force;
  force.grace_period_seconds = 0;
  b.api.Delete(kPods, "default", "crash", force, [](StatusOr<JsonDoc>) {});
  b.Advance(3000);
  CHECK(b.host.log_links.empty());
  CHECK(b.host.removed_logs == std::vector<std::string>{"/logs/default_crash_" + uid});
}

TEST_CASE("kubelet ignores pods of other nodes") {
  Bench b;
  b.AddPod("other", R"({"nodeName":"node-2","containers":[{"name":"app","image":"busybox"}]})");
  CHECK(b.rt.started.empty());
}

TEST_CASE("a crashing container restarts at once, then with a back-off doubling from 10 s (CrashLoopBackOff)") {
  Bench b;
  b.AddPod("crash", kOneContainer);
  b.rt.Exit(b.rt.IdOf("app"), 1);
  b.Settle();
  REQUIRE(b.rt.started.size() == 2);  // first restart: no back-off
  const JsonValue* cs = b.ContainerStatus("crash", 0);
  CHECK(GetInt(*cs, "restartCount").value_or(-1) == 1);
  CHECK(GetInt(*Path(*cs, {"lastState", "terminated"}), "exitCode").value_or(-1) == 1);
  CHECK(GetString(*Path(*cs, {"lastState", "terminated"}), "reason").value_or("") == "Error");

  b.rt.Exit(b.rt.IdOf("app"), 2);
  b.Settle();
  CHECK(b.rt.started.size() == 2);
  cs = b.ContainerStatus("crash", 0);
  CHECK(GetString(*Path(*cs, {"state", "waiting"}), "reason").value_or("") == "CrashLoopBackOff");
  std::string msg(GetString(*Path(*cs, {"state", "waiting"}), "message").value_or(""));
  CHECK(msg.find("back-off 10s restarting failed container=app pod=crash_default(") == 0);
  CHECK(b.Field("crash", {"status", "phase"}) == "Running");
  CHECK(b.Condition("crash", "Ready") == "False");
  b.Advance(9000);
  CHECK(b.rt.started.size() == 2);
  b.Advance(1100);
  CHECK(b.rt.started.size() == 3);
  // Next crash: 20 s.
  b.rt.Exit(b.rt.IdOf("app"), 2);
  b.Settle();
  b.Advance(15000);
  CHECK(b.rt.started.size() == 3);
  b.Advance(5100);
  CHECK(b.rt.started.size() == 4);
  cs = b.ContainerStatus("crash", 0);
  CHECK(GetInt(*cs, "restartCount").value_or(-1) == 3);
  // Only the current and the previous instance are kept.
  CHECK(b.rt.containers.size() == 2);
  CHECK(b.host.cleaned.size() == 2);
}

TEST_CASE("restartPolicy Never: a pod whose container exits 0 Succeeds and its sandbox goes") {
  Bench b;
  std::string uid = b.AddPod("job", R"({"nodeName":"node-1","restartPolicy":"Never","containers":[{"name":"app","image":"busybox"}]})");
  b.rt.Exit(b.rt.IdOf("app"), 0);
  b.Settle();
  CHECK(b.rt.started.size() == 1);
  CHECK(b.Field("job", {"status", "phase"}) == "Succeeded");
  const JsonValue* cs = b.ContainerStatus("job", 0);
  CHECK(GetString(*Path(*cs, {"state", "terminated"}), "reason").value_or("") == "Completed");
  CHECK(b.Condition("job", "Ready") == "False");
  CHECK(b.Condition("job", "PodReadyToStartContainers") == "False");
  CHECK(std::find(b.host.torn_down.begin(), b.host.torn_down.end(), uid) != b.host.torn_down.end());
}

TEST_CASE("the runtime's exit message is the terminated state's message, and stays in lastState") {
  Bench b;
  b.AddPod("tm", R"({"nodeName":"node-1","containers":[{"name":"app","image":"busybox"}]})");
  b.rt.Exit(b.rt.IdOf("app"), 1, 0, "disk full\n");
  b.Settle();
  const JsonValue* cs = b.ContainerStatus("tm", 0);
  CHECK(GetString(*Path(*cs, {"lastState", "terminated"}), "message").value_or("") == "disk full\n");
  b.Advance(10100);  // the restart
  cs = b.ContainerStatus("tm", 0);
  REQUIRE(Path(*cs, {"state", "running"}));
  CHECK(GetString(*Path(*cs, {"lastState", "terminated"}), "message").value_or("") == "disk full\n");
  b.rt.Exit(b.rt.IdOf("app"), 0);  // no message: none shown
  b.Settle();
  cs = b.ContainerStatus("tm", 0);
  CHECK_FALSE(Member(*Path(*cs, {"lastState", "terminated"}), "message"));
}

TEST_CASE("restartPolicy Never: a failing container fails the pod; OnFailure restarts it") {
  Bench b;
  b.AddPod("never", R"({"nodeName":"node-1","restartPolicy":"Never","containers":[{"name":"app","image":"busybox"}]})");
  b.rt.Exit(b.rt.IdOf("app"), 3);
  b.Settle();
  CHECK(b.Field("never", {"status", "phase"}) == "Failed");
  b.AddPod("onfail", R"({"nodeName":"node-1","restartPolicy":"OnFailure","containers":[{"name":"app","image":"busybox"}]})");
  size_t before = b.rt.started.size();
  b.rt.Exit(b.rt.IdOf("app"), 3);
  b.Settle();
  CHECK(b.rt.started.size() == before + 1);
  CHECK(b.Field("onfail", {"status", "phase"}) == "Running");
}

TEST_CASE("init containers run one after the other before the app containers") {
  Bench b;
  b.AddPod("init", R"({"nodeName":"node-1","initContainers":[{"name":"i1","image":"busybox"},{"name":"i2","image":"busybox"}],
                       "containers":[{"name":"app","image":"busybox"}]})");
  REQUIRE(b.rt.started.size() == 1);
  CHECK(b.Field("init", {"status", "phase"}) == "Pending");
  CHECK(b.Condition("init", "Initialized") == "False");
  const JsonValue* app = b.ContainerStatus("init", 0);
  CHECK(GetString(*Path(*app, {"state", "waiting"}), "reason").value_or("") == "PodInitializing");
  b.rt.Exit(b.rt.IdOf("i1"), 0);
  b.Settle();
  REQUIRE(b.rt.started.size() == 2);
  CHECK(!b.rt.IdOf("i2").empty());
  b.rt.Exit(b.rt.IdOf("i2"), 0);
  b.Settle();
  REQUIRE(b.rt.started.size() == 3);
  CHECK(b.Field("init", {"status", "phase"}) == "Running");
  CHECK(b.Condition("init", "Initialized") == "True");
}

TEST_CASE("a failing init container blocks the app container") {
  Bench b;
  b.AddPod("initfail", R"({"nodeName":"node-1","initContainers":[{"name":"i1","image":"busybox"}],
                           "containers":[{"name":"app","image":"busybox"}]})");
  b.rt.Exit(b.rt.IdOf("i1"), 1);
  b.Settle();
  b.rt.Exit(b.rt.IdOf("i1"), 1);
  b.Settle();
  CHECK(b.rt.IdOf("app").empty());
  CHECK(b.Field("initfail", {"status", "phase"}) == "Pending");
  const JsonValue* i1 = b.ContainerStatus("initfail", 0, "initContainerStatuses");
  REQUIRE(i1);
  CHECK(GetString(*Path(*i1, {"state", "waiting"}), "reason").value_or("") == "CrashLoopBackOff");

  b.AddPod("initnever", R"({"nodeName":"node-1","restartPolicy":"Never","initContainers":[{"name":"j1","image":"busybox"}],
                            "containers":[{"name":"japp","image":"busybox"}]})");
  b.rt.Exit(b.rt.IdOf("j1"), 1);
  b.Settle();
  CHECK(b.rt.IdOf("japp").empty());
  CHECK(b.Field("initnever", {"status", "phase"}) == "Failed");
}

TEST_CASE("graceful deletion: SIGTERM, SIGKILL after the grace period, teardown, then the API object goes") {
  Bench b;
  std::string uid = b.AddPod("del", kOneContainer);
  std::string id = b.rt.IdOf("app");
  b.rt.exit_on_sigterm = false;
  client::DeleteOptions del;
  del.grace_period_seconds = 5;
  b.api.Delete(kPods, "default", "del", del, [](StatusOr<JsonDoc> r) { REQUIRE(r.ok()); });
  b.Settle();
  REQUIRE(b.rt.kills.size() == 1);
  CHECK(b.rt.kills[0] == std::make_pair(id, SIGTERM));
  CHECK(b.Pod("del"));
  b.Advance(4000);
  CHECK(b.rt.kills.size() == 1);
  b.Advance(1100);
  REQUIRE(b.rt.kills.size() == 2);
  CHECK(b.rt.kills[1].second == SIGKILL);
  CHECK(std::find(b.host.torn_down.begin(), b.host.torn_down.end(), uid) != b.host.torn_down.end());
  CHECK(!b.Pod("del"));
  b.Settle();
  CHECK(b.kubelet->PodUids().empty());
  REQUIRE(b.host.removed_logs.size() == 1);
  CHECK(b.host.removed_logs[0] == "/logs/default_del_" + uid);
}

TEST_CASE("a new kubelet adopts running containers without restarting them") {
  Bench b;
  b.AddPod("keep", kOneContainer);
  b.rt.Exit(b.rt.IdOf("app"), 1);
  b.Settle();
  std::string id = b.rt.IdOf("app");
  REQUIRE(b.rt.started.size() == 2);
  b.kubelet.reset();  // the agent dies
  b.NewKubelet();
  CHECK(b.rt.started.size() == 2);
  CHECK(b.rt.IdOf("app") == id);
  const JsonValue* cs = b.ContainerStatus("keep", 0);
  CHECK(GetInt(*cs, "restartCount").value_or(-1) == 1);
  CHECK(GetString(*cs, "containerID").value_or("") == "runc://" + id);
  // Its exit still reaches the new kubelet.
  b.rt.Exit(id, 1);
  b.Settle();
  CHECK(b.rt.started.size() == 3);
}

TEST_CASE("containers of pods deleted while the agent was down are stopped and cleaned") {
  Bench b;
  std::string uid = b.AddPod("gone", kOneContainer);
  b.kubelet.reset();
  client::DeleteOptions force;
  force.grace_period_seconds = 0;
  b.api.Delete(kPods, "default", "gone", force, [](StatusOr<JsonDoc>) {});
  REQUIRE(!b.Pod("gone"));
  b.NewKubelet();
  b.Advance(3000);
  CHECK(b.rt.containers.empty());
  CHECK(std::find(b.host.torn_down.begin(), b.host.torn_down.end(), uid) != b.host.torn_down.end());
  CHECK(b.kubelet->PodUids().empty());
}

TEST_CASE("image pull failures: ErrImagePull, then ImagePullBackOff, retried") {
  Bench b;
  b.host.fail_image["nope"] = Failure{"ErrImagePull", "failed to pull image"};
  b.AddPod("pull", R"({"nodeName":"node-1","containers":[{"name":"app","image":"nope"}]})");
  const JsonValue* cs = b.ContainerStatus("pull", 0);
  REQUIRE(cs);
  CHECK(GetString(*Path(*cs, {"state", "waiting"}), "reason").value_or("") == "ImagePullBackOff");
  CHECK(GetString(*Path(*cs, {"state", "waiting"}), "message").value_or("") == "Back-off pulling image \"nope:latest\"");
  CHECK(b.Field("pull", {"status", "phase"}) == "Pending");
  b.host.fail_image.clear();
  b.Advance(10100);
  CHECK(b.rt.started.size() == 1);
  CHECK(b.Field("pull", {"status", "phase"}) == "Running");
}

TEST_CASE("a container that fails to start reports StartError and backs off") {
  Bench b;
  b.rt.fail_start = "exec: \"nope\": executable file not found in $PATH";
  b.AddPod("bad", kOneContainer);
  const JsonValue* cs = b.ContainerStatus("bad", 0);
  REQUIRE(cs);
  // The first restart comes at once and fails too; then the back-off.
  CHECK(b.rt.started.size() == 2);
  CHECK(GetString(*Path(*cs, {"state", "waiting"}), "reason").value_or("") == "CrashLoopBackOff");
  CHECK(GetInt(*Path(*cs, {"lastState", "terminated"}), "exitCode").value_or(0) == 128);
  CHECK(GetString(*Path(*cs, {"lastState", "terminated"}), "reason").value_or("") == "StartError");
}

TEST_CASE("readiness probe: the pod is Ready only once the probe passes, and not after it fails") {
  Bench b;
  b.AddPod("ready", R"({"nodeName":"node-1","containers":[{"name":"app","image":"busybox",
      "readinessProbe":{"tcpSocket":{"port":8080},"periodSeconds":5,"failureThreshold":2}}]})");
  CHECK(b.Field("ready", {"status", "phase"}) == "Running");
  CHECK(b.Condition("ready", "Ready") == "False");
  b.Advance(100);
  CHECK(b.Condition("ready", "Ready") == "False");  // the first probe failed
  b.host.open_ports.insert(8080);
  b.Advance(5000);
  CHECK(b.Condition("ready", "Ready") == "True");
  b.host.open_ports.clear();
  b.Advance(5000);
  CHECK(b.Condition("ready", "Ready") == "True");  // one failure of two
  b.Advance(5000);
  CHECK(b.Condition("ready", "Ready") == "False");
  auto reasons = b.EventReasons();
  CHECK(std::count(reasons.begin(), reasons.end(), "Unhealthy") >= 1);
}

TEST_CASE("probe results are counted as prober_probe_total, and the pod's series go with it") {
  Bench b;
  bool ready = true;
  b.rt.exec_fn = [&](const runtime::ExecRequest&) -> StatusOr<runtime::ExecResult> {
    runtime::ExecResult res;
    res.exit_code = ready ? 0 : 1;
    return res;
  };
  b.AddPod("probed", R"({"nodeName":"node-1","containers":[{"name":"app","image":"busybox",
      "readinessProbe":{"exec":{"command":["true"]},"periodSeconds":1}}]})");
  auto uid = std::string(client::MetaString(*b.api.Find(kPods, "default", "probed"), "uid"));
  b.Advance(3000);
  ready = false;
  b.Advance(2000);
  const auto& m = b.kubelet->metrics().probe_total;
  using Key = std::array<std::string, 6>;
  REQUIRE(m.count(Key{"Readiness", "successful", "app", "probed", "default", uid}) == 1);
  REQUIRE(m.count(Key{"Readiness", "failed", "app", "probed", "default", uid}) == 1);
  CHECK(m.at(Key{"Readiness", "successful", "app", "probed", "default", uid}) >= 3);
  CHECK(m.at(Key{"Readiness", "failed", "app", "probed", "default", uid}) >= 1);
  CHECK(m.size() == 2);
  client::DeleteOptions force;
  force.grace_period_seconds = 0;
  b.api.Delete(kPods, "default", "probed", force, [](StatusOr<JsonDoc>) {});
  b.Advance(3000);
  CHECK(b.kubelet->metrics().probe_total.empty());
}

TEST_CASE("liveness probe: failureThreshold failures restart the container") {
  Bench b;
  bool healthy = true;
  b.rt.exec_fn = [&](const runtime::ExecRequest& r) -> StatusOr<runtime::ExecResult> {
    CHECK(r.argv == std::vector<std::string>{"cat", "/tmp/healthy"});
    runtime::ExecResult res;
    res.exit_code = healthy ? 0 : 1;
    res.output = healthy ? "" : "cat: can't open '/tmp/healthy': No such file or directory\n";
    return res;
  };
  b.AddPod("live", R"({"nodeName":"node-1","terminationGracePeriodSeconds":30,"containers":[{"name":"app","image":"busybox",
      "livenessProbe":{"exec":{"command":["cat","/tmp/healthy"]},"initialDelaySeconds":5,"periodSeconds":5}}]})");
  std::string first = b.rt.IdOf("app");
  b.Advance(15000);
  CHECK(b.rt.execs.size() == 3);
  CHECK(b.rt.kills.empty());
  healthy = false;
  b.Advance(10000);
  CHECK(b.rt.kills.empty());  // two failures of three
  b.Advance(5000);
  REQUIRE(b.rt.kills.size() == 1);
  CHECK(b.rt.kills[0] == std::make_pair(first, SIGTERM));
  b.Settle();
  CHECK(b.rt.IdOf("app") != first);  // restarted (the fake exits on SIGTERM)
  const JsonValue* cs = b.ContainerStatus("live", 0);
  CHECK(GetInt(*cs, "restartCount").value_or(-1) == 1);
  auto reasons = b.EventReasons();
  CHECK(std::count(reasons.begin(), reasons.end(), "Killing") == 1);
  bool msg = false;
  for (const auto& a : b.api.writes()) {
    if (a.body.find("Liveness probe failed: cat: can't open '/tmp/healthy'") != std::string::npos) msg = true;
    if (a.body.find("Container app failed liveness probe, will be restarted") != std::string::npos) msg = msg && true;
  }
  CHECK(msg);
}

TEST_CASE("startup probe holds liveness and readiness until it passes, and started reflects it") {
  Bench b;
  b.AddPod("startup", R"({"nodeName":"node-1","containers":[{"name":"app","image":"busybox",
      "startupProbe":{"tcpSocket":{"port":"web"},"periodSeconds":1,"failureThreshold":30},
      "ports":[{"name":"web","containerPort":9090}]}]})");
  const JsonValue* cs = b.ContainerStatus("startup", 0);
  CHECK_FALSE(GetBool(*cs, "started").value_or(true));
  CHECK(b.Condition("startup", "Ready") == "False");
  b.Advance(3000);
  CHECK(b.host.checks.back().port == 9090);
  b.host.open_ports.insert(9090);
  b.Advance(1000);
  cs = b.ContainerStatus("startup", 0);
  CHECK(GetBool(*cs, "started").value_or(false));
  CHECK(b.Condition("startup", "Ready") == "True");
}

TEST_CASE("preStop runs before SIGTERM on deletion") {
  Bench b;
  b.rt.exec_fn = [&](const runtime::ExecRequest&) -> StatusOr<runtime::ExecResult> { return runtime::ExecResult{}; };
  b.AddPod("hook", R"({"nodeName":"node-1","containers":[{"name":"app","image":"busybox",
      "lifecycle":{"preStop":{"exec":{"command":["sh","-c","echo bye"]}}}}]})");
  client::DeleteOptions del;
  del.grace_period_seconds = 10;
  b.api.Delete(kPods, "default", "hook", del, [](StatusOr<JsonDoc>) {});
  b.Settle();
  REQUIRE(b.rt.execs.size() == 1);
  CHECK(b.rt.execs[0].argv == std::vector<std::string>{"sh", "-c", "echo bye"});
  CHECK(b.rt.execs[0].timeout_ms == 10000);
  REQUIRE(b.rt.kills.size() == 1);
  CHECK(b.rt.kills[0].second == SIGTERM);
  CHECK(!b.Pod("hook"));
}

TEST_CASE("container statuses list the spec's volume mounts as the 1.32 kubelet does") {
  Bench b;
  b.AddPod("mounts", R"({"nodeName":"node-1","containers":[{"name":"app","image":"busybox",
      "volumeMounts":[{"name":"data","mountPath":"/data"},{"name":"cfg","mountPath":"/cfg","readOnly":true}]},
      {"name":"bare","image":"busybox"}],
      "volumes":[{"name":"data","emptyDir":{}},{"name":"cfg","emptyDir":{}}]})");
  const JsonValue* cs = b.ContainerStatus("mounts", 0);
  REQUIRE(cs);
  CHECK(GetString(*cs, "name").value_or("") == "app");
  const JsonValue* vm = Member(*cs, "volumeMounts");
  REQUIRE(vm);
  CHECK(ToJson(*vm) == R"([{"name":"data","mountPath":"/data"},)"
                             R"({"name":"cfg","mountPath":"/cfg","readOnly":true,"recursiveReadOnly":"Disabled"}])");
  cs = b.ContainerStatus("mounts", 1);
  REQUIRE(cs);
  CHECK(GetString(*cs, "name").value_or("") == "bare");
  CHECK_FALSE(Member(*cs, "volumeMounts"));
}

TEST_CASE("the kubelet's /pods: a PodList of its pods with the status it computes") {
  Bench b;
  b.AddPod("web", R"({"nodeName":"node-1","containers":[{"name":"app","image":"busybox"}]})");
  b.AddPod("api", R"({"nodeName":"node-1","containers":[{"name":"app","image":"busybox"}]})");
  auto list = testing::J(b.kubelet->PodListJson());
  CHECK(GetString(list, "kind").value_or("") == "PodList");
  CHECK(GetString(list, "apiVersion").value_or("") == "v1");
  const JsonValue* items = Member(list, "items");
  REQUIRE(items);
  REQUIRE(items->Size() == 2);
  CHECK(GetString(*Member((*items)[0], "metadata"), "name").value_or("") == "api");
  CHECK(GetString(*Member((*items)[1], "metadata"), "name").value_or("") == "web");
  CHECK(GetString(*Member((*items)[1], "status"), "phase").value_or("") == "Running");
  CHECK(GetString(*Member((*items)[1], "spec"), "nodeName").value_or("") == "node-1");
}

TEST_CASE("after a preStop hook SIGTERM gets what is left of the grace period, at least 2 s") {
  // Upstream's killContainer: gracePeriod minus the hook's seconds, then minimumGracePeriodInSeconds.
  auto sigkill_at = [](int64_t sleep_s) {
    Bench b;
    b.rt.exit_on_sigterm = false;
    b.AddPod("hook", R"({"nodeName":"node-1","containers":[{"name":"app","image":"busybox",
        "lifecycle":{"preStop":{"sleep":{"seconds":)" + std::to_string(sleep_s) + "}}}}]}");
    client::DeleteOptions del;
    del.grace_period_seconds = 10;
    b.api.Delete(kPods, "default", "hook", del, [](StatusOr<JsonDoc>) {});
    b.Settle();
    int64_t term_ms = -1, kill_ms = -1;
    for (int64_t t = 0; t <= 20000 && kill_ms < 0; t += 500) {
      for (const auto& [id, sig] : b.rt.kills) {
        if (sig == SIGTERM && term_ms < 0) term_ms = t;
        if (sig == SIGKILL && kill_ms < 0) kill_ms = t;
      }
      b.Advance(500);
    }
    UNSCOPED_INFO("sleep " << sleep_s << ": SIGTERM at " << term_ms << " ms, SIGKILL at " << kill_ms << " ms");
    return std::make_pair(term_ms, kill_ms);
  };
  CHECK(sigkill_at(4) == std::make_pair<int64_t, int64_t>(4000, 10000));
  CHECK(sigkill_at(9) == std::make_pair<int64_t, int64_t>(9000, 11000));
  // A hook that outlasts the period is cut short by SIGTERM; SIGKILL 2 s later.
  CHECK(sigkill_at(30) == std::make_pair<int64_t, int64_t>(10000, 12000));
}

TEST_CASE("static pods run without the API and are mirrored into it") {
  Bench b;
  auto pod = std::make_shared<const JsonDoc>(Json(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"etcd-node-1",
      "namespace":"kube-system","uid":"abc123","annotations":{"kubernetes.io/config.hash":"abc123",
      "kubernetes.io/config.source":"file"}},"spec":{"nodeName":"node-1","containers":[{"name":"etcd","image":"busybox"}]}})"));
  b.kubelet->SetNodeUid("node-uid-1");
  b.kubelet->SetStaticPods({pod});
  b.Settle();
  REQUIRE(b.rt.started.size() == 1);
  auto mirror = b.api.Find(kPods, "kube-system", "etcd-node-1");
  REQUIRE(mirror);
  CHECK(GetString(*Path(*mirror, {"metadata", "annotations"}), "kubernetes.io/config.mirror").value_or("") == "abc123");
  CHECK(GetString((*Path(*mirror, {"metadata", "ownerReferences"}))[0], "kind").value_or("") == "Node");
  CHECK(std::string(client::MetaString(*mirror, "uid")) != "abc123");
  CHECK(GetString(*Path(*mirror, {"status"}), "phase").value_or("") == "Running");
  // The mirror is not run as a pod of its own.
  CHECK(b.rt.started.size() == 1);
  // Deleting the mirror: it comes back, the static pod keeps running.
  client::DeleteOptions force;
  force.grace_period_seconds = 0;
  b.api.Delete(kPods, "kube-system", "etcd-node-1", force, [](StatusOr<JsonDoc>) {});
  b.Settle();
  CHECK(b.api.Find(kPods, "kube-system", "etcd-node-1"));
  CHECK(b.rt.kills.empty());
  // Removed from the manifest directory: stopped, and its mirror goes.
  b.kubelet->SetStaticPods({});
  b.Advance(3000);
  CHECK(b.rt.kills.size() == 1);
  CHECK(!b.api.Find(kPods, "kube-system", "etcd-node-1"));
}

TEST_CASE("static pod manifests: one pod per file, named after the node, with the file source's annotations") {
  std::string dir = std::filesystem::temp_directory_path() / ("minik-static-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/web.yaml") << "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n"
                                      "  - name: c\n    image: busybox\n";
  std::ofstream(dir + "/.hidden.yaml") << "kind: Pod\n";
  std::ofstream(dir + "/notes.txt") << "not a manifest\n";
  std::ofstream(dir + "/bad.yaml") << "kind: Service\nmetadata: {name: x}\n";
  FakeClock clock;
  auto r = LoadStaticPods(dir, "node-1", clock);
  std::filesystem::remove_all(dir);
  REQUIRE(r.pods.size() == 1);
  CHECK(r.errors.size() == 1);
  const JsonValue& pod = *r.pods[0];
  CHECK(std::string(client::MetaString(pod, "name")) == "web-node-1");
  CHECK(std::string(client::MetaString(pod, "namespace")) == "default");
  std::string uid(client::MetaString(pod, "uid"));
  CHECK(uid.size() == 32);
  CHECK(GetString(*Path(pod, {"metadata", "annotations"}), "kubernetes.io/config.hash").value_or("") == uid);
  CHECK(GetString(*Path(pod, {"metadata", "annotations"}), "kubernetes.io/config.source").value_or("") == "file");
  CHECK(GetString(*Path(pod, {"spec"}), "nodeName").value_or("") == "node-1");
}

TEST_CASE("image names in events get the default tag as the kubelet's applyDefaultImageTag", "[kubelet]") {
  CHECK(ImageWithDefaultTag("busybox") == "busybox:latest");
  CHECK(ImageWithDefaultTag("busybox:1.36") == "busybox:1.36");
  CHECK(ImageWithDefaultTag("localhost:5000/app") == "localhost:5000/app:latest");
  CHECK(ImageWithDefaultTag("localhost:5000/app:v1") == "localhost:5000/app:v1");
  std::string pinned = "busybox@sha256:" + std::string(64, 'a');
  CHECK(ImageWithDefaultTag(pinned) == pinned);
}

}  // namespace
}  // namespace minik::agent::kubelet
