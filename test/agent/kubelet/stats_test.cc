// Node and pod statistics: collection from cgroups and the machine (fakes), CPU rates between
// samples on a simulated clock, the Summary JSON, the resource metrics text, the agent's own
// /metrics, and the HTTP handler the tunnel calls.
#include "agent/kubelet/stats.h"

#include <stdlib.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>

#include "agent/kubelet/node_http.h"
#include "common/json.h"
#include "common/prometheus.h"
#include "json_testing.h"

using namespace minik;
using namespace minik::agent;
using namespace minik::agent::kubelet;
namespace fs = std::filesystem;

namespace {

class FakeCgroups final : public oci::Cgroups {
 public:
  std::map<std::string, oci::CgroupStats> pods;        // uid ->
  std::map<std::string, oci::CgroupStats> containers;  // uid/id ->
  bool IsV2() const override { return false; }
  bool SwapControllerAvailable() const override { return false; }
  Status EnsureRoot() override { return Status::OK(); }
  Status CreatePod(const std::string&, const oci::CgroupLimits&) override { return Status::OK(); }
  std::string PodCgroupPath(const std::string& uid) const override { return "/kubepods/pod" + uid; }
  std::string ContainerCgroupsPath(const std::string& uid, const std::string& id) const override {
    return PodCgroupPath(uid) + "/" + id;
  }
  Status RemovePod(const std::string&) override { return Status::OK(); }
  StatusOr<std::vector<std::string>> ListPods() override { return std::vector<std::string>{}; }
  Status RemoveRoot() override { return Status::OK(); }
  StatusOr<oci::CgroupStats> PodStats(const std::string& uid) override {
    auto it = pods.find(uid);
    if (it == pods.end()) return Status::NotFound("cgroup not found");
    return it->second;
  }
  StatusOr<oci::CgroupStats> ContainerStats(const std::string& uid, const std::string& id) override {
    auto it = containers.find(uid + "/" + id);
    if (it == containers.end()) return Status::NotFound("cgroup not found");
    return it->second;
  }
  StatusOr<uint64_t> ContainerOomKills(const std::string&, const std::string&) override { return uint64_t{0}; }
  StatusOr<oci::NodeCapacity> GetNodeCapacity() override { return oci::NodeCapacity{2, 1 << 30}; }
};

class FakeMachine final : public MachineStats {
 public:
  MachineSample sample;
  bool fail = false;
  StatusOr<MachineSample> Read() override {
    if (fail) return Status::Internal("no /proc");
    return sample;
  }
};

// Only the default Fs (statvfs).
class NullMachine final : public MachineStats {
 public:
  StatusOr<MachineSample> Read() override { return Status::Internal("unused"); }
};

oci::CgroupStats Cg(uint64_t cpu, uint64_t usage, uint64_t ws, uint64_t rss) { return {cpu, usage, ws, rss}; }

struct Fixture {
  FakeCgroups cg;
  FakeMachine machine;
  FakeClock clock{TimePoint(std::chrono::seconds(1767225600))};
  std::vector<PodStatsRef> refs;
  Fixture() {
    machine.sample = MachineSample{5000000000ULL, 8ULL << 30, 3ULL << 30, 2ULL << 30, 1ULL << 30, 1767220000};
    PodStatsRef burn{"default", "burn", "u1", "2026-01-01T00:00:00Z", {{"main", "c1", 1767225000123456789LL}}};
    PodStatsRef idle{"default", "idle", "u2", "2026-01-01T00:00:00Z",
                     {{"sidecar", "c3", 1767225001000000000LL}, {"app", "c2", 1767225001000000000LL}}};
    refs = {idle, burn};
    cg.pods["u1"] = Cg(2000000000, 4 << 20, 3 << 20, 1 << 20);
    cg.containers["u1/c1"] = Cg(1900000000, 4 << 20, 3 << 20, 1 << 20);
    cg.pods["u2"] = Cg(10000000, 2 << 20, 1 << 20, 512 << 10);
    cg.containers["u2/c2"] = Cg(6000000, 1 << 20, 512 << 10, 256 << 10);
    cg.containers["u2/c3"] = Cg(4000000, 1 << 20, 512 << 10, 256 << 10);
  }
};

}  // namespace

TEST_CASE("stats: a summary from the cgroups and the machine, with CPU rates between samples") {
  Fixture f;
  CpuRates rates;
  Summary s1 = CollectSummary("node-a", f.refs, f.cg, f.machine, f.clock);
  rates.Apply(&s1);
  REQUIRE(s1.pods.size() == 2);
  CHECK(s1.pods[0].name == "burn");  // sorted by namespace, name
  CHECK(s1.pods[1].containers[0].name == "app");  // containers by name
  CHECK_FALSE(s1.node.usage_nano_cores.has_value());  // one sample: no rate yet
  CHECK(*s1.node.memory_available_bytes == (8ULL << 30) - (2ULL << 30));

  // 2 s later the burning container used 1.8 s more CPU: 0.9 cores; the node 3 s of CPU: 1.5 cores.
  f.clock.Advance(std::chrono::seconds(2));
  f.cg.containers["u1/c1"].cpu_usage_ns += 1800000000;
  f.cg.pods["u1"].cpu_usage_ns += 1800000000;
  f.machine.sample.cpu_usage_ns += 3000000000ULL;
  Summary s2 = CollectSummary("node-a", f.refs, f.cg, f.machine, f.clock);
  rates.Apply(&s2);
  CHECK(*s2.node.usage_nano_cores == 1500000000);
  CHECK(*s2.pods[0].usage.usage_nano_cores == 900000000);
  CHECK(*s2.pods[0].containers[0].usage.usage_nano_cores == 900000000);
  CHECK(*s2.pods[1].containers[0].usage.usage_nano_cores == 0);

  // A read 100 ms later measures against the older base (the window stays >= 1 s).
  f.clock.Advance(std::chrono::milliseconds(100));
  f.cg.containers["u1/c1"].cpu_usage_ns += 100000000;
  Summary s3 = CollectSummary("node-a", f.refs, f.cg, f.machine, f.clock);
  rates.Apply(&s3);
  CHECK(*s3.pods[0].containers[0].usage.usage_nano_cores == 1000000000);

  // A container that went away is forgotten; a gone pod cgroup leaves the pod out.
  f.cg.pods.erase("u2");
  Summary s4 = CollectSummary("node-a", f.refs, f.cg, f.machine, f.clock);
  rates.Apply(&s4);
  CHECK(s4.pods.size() == 1);
  CHECK(rates.tracked() == 3);  // node, pod u1, container c1
}

TEST_CASE("stats: the Summary API JSON") {
  Fixture f;
  CpuRates rates;
  Summary s = CollectSummary("node-a", f.refs, f.cg, f.machine, f.clock);
  rates.Apply(&s);
  f.clock.Advance(std::chrono::seconds(10));
  f.cg.containers["u1/c1"].cpu_usage_ns += 5000000000ULL;
  s = CollectSummary("node-a", f.refs, f.cg, f.machine, f.clock);
  rates.Apply(&s);
  auto doc = ParseJson(SummaryJson(s));
  REQUIRE(doc.ok());
  const JsonValue& node = *Member(*doc, "node");
  CHECK(*GetString(node, "nodeName") == "node-a");
  CHECK(*GetString(node, "startTime") == "2025-12-31T22:26:40Z");
  CHECK(*GetInt(*Member(node, "cpu"), "usageCoreNanoSeconds") == 5000000000LL);
  CHECK(*GetInt(*Member(node, "cpu"), "usageNanoCores") == 0);
  CHECK(*GetString(*Member(node, "cpu"), "time") == "2026-01-01T00:00:10Z");
  CHECK(*GetInt(*Member(node, "memory"), "workingSetBytes") == (2LL << 30));
  CHECK(*GetInt(*Member(node, "memory"), "availableBytes") == (6LL << 30));
  const JsonValue& pods = *Member(*doc, "pods");
  REQUIRE(pods.Size() == 2);
  const JsonValue& burn = pods[0];
  CHECK(*GetString(*Member(burn, "podRef"), "name") == "burn");
  CHECK(*GetString(*Member(burn, "podRef"), "namespace") == "default");
  CHECK(*GetString(*Member(burn, "podRef"), "uid") == "u1");
  CHECK(*GetString(burn, "startTime") == "2026-01-01T00:00:00Z");
  const JsonValue& c = (*Member(burn, "containers"))[0];
  CHECK(*GetString(c, "name") == "main");
  CHECK(*GetString(c, "startTime") == "2025-12-31T23:50:00Z");
  CHECK(*GetInt(*Member(c, "cpu"), "usageNanoCores") == 500000000);
  CHECK(*GetInt(*Member(c, "memory"), "workingSetBytes") == (3 << 20));
  CHECK(*GetInt(*Member(c, "memory"), "usageBytes") == (4 << 20));
  CHECK(*GetInt(*Member(c, "memory"), "rssBytes") == (1 << 20));
  CHECK(Member(*Member(c, "memory"), "availableBytes") == nullptr);
}

TEST_CASE("stats: /metrics/resource as the kubelet writes it") {
  Fixture f;
  f.refs.pop_back();  // only the idle pod
  f.refs[0].containers.pop_back();
  Summary s = CollectSummary("node-a", f.refs, f.cg, f.machine, f.clock);
  std::string want =
      "# HELP container_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the container in core-seconds\n"
      "# TYPE container_cpu_usage_seconds_total counter\n"
      "container_cpu_usage_seconds_total{container=\"sidecar\",namespace=\"default\",pod=\"idle\"} 0.004 "
      "1767225600000\n"
      "# HELP container_memory_working_set_bytes [STABLE] Current working set of the container in bytes\n"
      "# TYPE container_memory_working_set_bytes gauge\n"
      "container_memory_working_set_bytes{container=\"sidecar\",namespace=\"default\",pod=\"idle\"} 524288 "
      "1767225600000\n"
      "# HELP container_start_time_seconds [STABLE] Start time of the container since unix epoch in seconds\n"
      "# TYPE container_start_time_seconds gauge\n"
      "container_start_time_seconds{container=\"sidecar\",namespace=\"default\",pod=\"idle\"} 1.767225001e+09\n"
      "# HELP node_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the node in core-seconds\n"
      "# TYPE node_cpu_usage_seconds_total counter\n"
      "node_cpu_usage_seconds_total 5 1767225600000\n"
      "# HELP node_memory_working_set_bytes [STABLE] Current working set of the node in bytes\n"
      "# TYPE node_memory_working_set_bytes gauge\n"
      "node_memory_working_set_bytes 2.147483648e+09 1767225600000\n"
      "# HELP pod_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the pod in core-seconds\n"
      "# TYPE pod_cpu_usage_seconds_total counter\n"
      "pod_cpu_usage_seconds_total{namespace=\"default\",pod=\"idle\"} 0.01 1767225600000\n"
      "# HELP pod_memory_working_set_bytes [STABLE] Current working set of the pod in bytes\n"
      "# TYPE pod_memory_working_set_bytes gauge\n"
      "pod_memory_working_set_bytes{namespace=\"default\",pod=\"idle\"} 1.048576e+06 1767225600000\n"
      "# HELP resource_scrape_error [STABLE] 1 if there was an error while getting container metrics, 0 otherwise\n"
      "# TYPE resource_scrape_error gauge\n"
      "resource_scrape_error 0\n";
  CHECK(ResourceMetricsText(s) == want);
  REQUIRE(prom::Parse(want).ok());

  // The machine cannot be read: only the error gauge, set.
  f.machine.fail = true;
  s = CollectSummary("node-a", f.refs, f.cg, f.machine, f.clock);
  CHECK(ResourceMetricsText(s) ==
        "# HELP resource_scrape_error [STABLE] 1 if there was an error while getting container metrics, 0 otherwise\n"
        "# TYPE resource_scrape_error gauge\n"
        "resource_scrape_error 1\n");
}

TEST_CASE("stats: the machine from /proc/stat and /proc/meminfo") {
  char tmpl[] = "/tmp/minik-stats-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  std::string dir = tmpl;
  std::ofstream(dir + "/stat") << "cpu  100 20 30 5000 40 5 6 7 0 0\ncpu0 50 10 15 2500 20 2 3 3 0 0\nbtime 1767220000\n";
  std::ofstream(dir + "/meminfo") << "MemTotal:        1000 kB\nMemFree:          200 kB\nMemAvailable:     600 kB\n"
                                     "AnonPages:        300 kB\nInactive(file):   150 kB\n";
  auto m = NewProcMachineStats(dir, 100)->Read();
  fs::remove_all(dir);
  REQUIRE(m.ok());
  // user+nice+system+irq+softirq+steal = 168 ticks of 10 ms (idle and iowait are not busy).
  CHECK(m->cpu_usage_ns == 1680000000ULL);
  CHECK(m->memory_total_bytes == 1000 * 1024);
  CHECK(m->memory_usage_bytes == 800 * 1024);
  CHECK(m->memory_working_set_bytes == 650 * 1024);
  CHECK(m->memory_rss_bytes == 300 * 1024);
  CHECK(m->boot_time_s == 1767220000);
  CHECK_FALSE(NewProcMachineStats("/nonexistent")->Read().ok());
}

TEST_CASE("stats: the agent's /metrics") {
  KubeletMetrics m;
  m.started_pods = 3;
  m.started_containers = 4;
  m.started_init_containers = 1;
  m.pod_start_duration.Observe(0.3);
  m.pod_start_duration.Observe(1.5);
  ContainerStateCounts states;
  states.running = 4;
  states.exited = 1;
  auto p = ReadProcessSample();
  REQUIRE(p.ok());
  CHECK(p->resident_memory_bytes > 0);
  CHECK(p->open_fds > 0);
  CHECK(p->start_time_seconds > 1.6e9);
  std::string text = AgentMetricsText("node-a", &*p, 3, states, m);
  auto samples = prom::Parse(text);
  REQUIRE(samples.ok());
  std::map<std::string, double> v;
  for (const auto& s : *samples) {
    std::string key = s.name;
    for (const auto& [k, val] : s.labels) key += "," + k + "=" + val;
    v[key] = s.value;
  }
  CHECK(v.at("kubelet_running_pods") == 3);
  CHECK(v.at("kubelet_running_containers,container_state=running") == 4);
  CHECK(v.at("kubelet_running_containers,container_state=exited") == 1);
  CHECK(v.at("kubelet_started_pods_total") == 3);
  CHECK(v.at("kubelet_started_containers_total,container_type=container") == 4);
  CHECK(v.at("kubelet_started_containers_total,container_type=init_container") == 1);
  CHECK(v.at("kubelet_pod_start_duration_seconds_bucket,le=0.5") == 1);
  CHECK(v.at("kubelet_pod_start_duration_seconds_bucket,le=1") == 1);
  CHECK(v.at("kubelet_pod_start_duration_seconds_bucket,le=2") == 2);
  CHECK(v.at("kubelet_pod_start_duration_seconds_bucket,le=+Inf") == 2);
  CHECK(v.at("kubelet_pod_start_duration_seconds_count") == 2);
  CHECK(v.at("kubelet_pod_start_duration_seconds_sum") == Approx(1.8));
  CHECK(v.at("kubelet_node_name,node=node-a") == 1);
  CHECK(v.at("process_resident_memory_bytes") == double(p->resident_memory_bytes));
  CHECK(v.count("process_cpu_seconds_total"));
  CHECK(v.count("process_start_time_seconds"));
  CHECK(text.find("# HELP kubelet_started_pods_total [ALPHA] Cumulative number of pods started\n"
                  "# TYPE kubelet_started_pods_total counter\n") != std::string::npos);
  CHECK(text.find("# HELP process_resident_memory_bytes Resident memory size in bytes.\n") != std::string::npos);
}

TEST_CASE("stats: the kubelet HTTP handler serves its paths and 404 elsewhere") {
  Fixture f;
  KubeletStatsSource src;
  src.pods = [&f]() { return f.refs; };
  src.running_pods = []() { return size_t{2}; };
  src.container_states = []() { return ContainerStateCounts{0, 3, 0, 0}; };
  src.metrics = []() { return KubeletMetrics{}; };
  std::vector<std::function<void()>> posted;
  int offloaded = 0;
  KubeletHttpOptions o;
  o.node_name = "node-a";
  o.offload = [&offloaded](std::function<void()> fn) {
    ++offloaded;
    fn();
  };
  o.post = [&posted](std::function<void()> fn) { posted.push_back(std::move(fn)); };
  KubeletHttp h(src, f.cg, f.machine, f.clock, o);
  auto call = [&](const std::string& method, const std::string& path) {
    std::optional<streaming::NodeHttpResponse> got;
    h.Serve({method, path, ""}, [&got](streaming::NodeHttpResponse r) { got = std::move(r); });
    for (size_t i = 0; i < posted.size(); ++i) posted[i]();
    posted.clear();
    REQUIRE(got.has_value());
    return *got;
  };
  auto r = call("GET", "/healthz");
  CHECK(r.status == 200);
  CHECK(r.body == "ok");
  r = call("GET", "/nope");
  CHECK(r.status == 404);
  CHECK(r.body == "404 page not found\n");
  r = call("POST", "/metrics");
  CHECK(r.status == 405);
  r = call("GET", "/metrics/resource");
  CHECK(r.status == 200);
  CHECK(r.content_type == "text/plain; version=0.0.4; charset=utf-8");
  CHECK(r.body.find("pod_memory_working_set_bytes{namespace=\"default\",pod=\"burn\"} 3.145728e+06") !=
        std::string::npos);
  CHECK(offloaded == 1);  // cgroups are read off the loop
  f.clock.Advance(std::chrono::seconds(1));
  f.cg.containers["u1/c1"].cpu_usage_ns += 500000000;
  r = call("GET", "/stats/summary/");
  CHECK(r.status == 200);
  CHECK(r.content_type == "application/json");
  auto doc = ParseJson(r.body);
  REQUIRE(doc.ok());
  // The handler keeps the previous sample: the second read has rates.
  const JsonValue& c = (*Member((*Member(*doc, "pods"))[0], "containers"))[0];
  CHECK(*GetInt(*Member(c, "cpu"), "usageNanoCores") == 500000000);
  r = call("GET", "/metrics");
  CHECK(r.body.find("kubelet_running_containers{container_state=\"running\"} 3\n") != std::string::npos);
}

TEST_CASE("stats: the node's filesystem and the image filesystem, as FsStats") {
  Fixture f;
  struct FsMachine final : public MachineStats {
    FakeMachine* inner;
    std::map<std::string, FsSample> fs;
    explicit FsMachine(FakeMachine* m) : inner(m) {}
    StatusOr<MachineSample> Read() override { return inner->Read(); }
    StatusOr<FsSample> Fs(const std::string& path) override {
      auto it = fs.find(path);
      if (it == fs.end()) return Status::NotFound("no such filesystem");
      return it->second;
    }
  } machine(&f.machine);
  machine.fs["/data"] = FsSample{100ULL << 30, 40ULL << 30, 50ULL << 30, 1000, 600};
  Summary s = CollectSummary("node-a", f.refs, f.cg, machine, f.clock, {"/data", "/images-missing"});
  REQUIRE(s.node_fs);
  CHECK_FALSE(s.image_fs);  // unreadable: left out
  auto doc = testing::J(SummaryJson(s));
  const JsonValue* fs = Path(doc, {"node", "fs"});
  REQUIRE(fs);
  CHECK(ToJson(*fs) == R"({"time":"2026-01-01T00:00:00Z","availableBytes":42949672960,"capacityBytes":107374182400,)"
                       R"("usedBytes":53687091200,"inodesFree":600,"inodes":1000,"inodesUsed":400})");
  CHECK_FALSE(Path(doc, {"node", "runtime"}));
  machine.fs["/images"] = FsSample{10ULL << 30, 5ULL << 30, 4ULL << 30, 100, 90};
  doc = testing::J(SummaryJson(CollectSummary("node-a", f.refs, f.cg, machine, f.clock, {"/data", "/images"})));
  CHECK(GetInt(*Path(doc, {"node", "runtime", "imageFs"}), "capacityBytes").value_or(0) == (10LL << 30));
  CHECK(GetInt(*Path(doc, {"node", "runtime", "containerFs"}), "inodesUsed").value_or(0) == 10);
}

TEST_CASE("stats: statvfs of a real directory") {
  NullMachine m;
  auto fs = m.Fs("/");
  REQUIRE(fs.ok());
  CHECK(fs->capacity_bytes > 0);
  CHECK(fs->available_bytes <= fs->capacity_bytes);
  CHECK(fs->used_bytes <= fs->capacity_bytes);
  CHECK_FALSE(m.Fs("/nonexistent/dir").ok());
}

TEST_CASE("metrics: /metrics/probes as the kubelet's probes registry writes it") {
  KubeletMetrics m;
  m.probe_total[{"Liveness", "successful", "app", "web-1", "default", "u1"}] = 7;
  m.probe_total[{"Liveness", "failed", "app", "web-1", "default", "u1"}] = 2;
  ProcessSample p;
  p.start_time_seconds = 1767225600.25;
  CHECK(ProbeMetricsText(m, &p) ==
        "# HELP prober_probe_total [BETA] Cumulative number of a liveness, readiness or startup probe for a container by result.\n"
        "# TYPE prober_probe_total counter\n"
        "prober_probe_total{container=\"app\",namespace=\"default\",pod=\"web-1\",pod_uid=\"u1\",probe_type=\"Liveness\",result=\"failed\"} 2\n"
        "prober_probe_total{container=\"app\",namespace=\"default\",pod=\"web-1\",pod_uid=\"u1\",probe_type=\"Liveness\",result=\"successful\"} 7\n"
        "# HELP process_start_time_seconds [ALPHA] Start time of the process since unix epoch in seconds.\n"
        "# TYPE process_start_time_seconds gauge\n"
        "process_start_time_seconds 1.76722560025e+09\n");
  CHECK(ProbeMetricsText(KubeletMetrics{}, nullptr).empty());
}
