#include "agent/kubelet/node_http.h"

#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/prometheus.h"

namespace minik::agent::kubelet {

namespace sm = streaming;

StatusOr<ProcessSample> ReadProcessSample(const std::string& proc_dir) {
  std::ifstream f(proc_dir + "/self/stat");
  if (!f) return Status::NotFound("cannot read " + proc_dir + "/self/stat");
  std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  // The command may hold spaces and parentheses: fields start after the last ')'.
  size_t rp = all.rfind(')');
  if (rp == std::string::npos) return Status::Internal("malformed " + proc_dir + "/self/stat");
  std::istringstream in(all.substr(rp + 2));
  std::vector<std::string> fields;  // fields[0] is field 3 (state)
  for (std::string x; in >> x;) fields.push_back(x);
  if (fields.size() < 22) return Status::Internal("short " + proc_dir + "/self/stat");
  long ticks = sysconf(_SC_CLK_TCK);
  if (ticks <= 0) ticks = 100;
  long page = sysconf(_SC_PAGESIZE);
  auto field = [&](int n) { return std::stoull(fields[static_cast<size_t>(n - 3)]); };
  ProcessSample p;
  p.cpu_seconds = double(field(14) + field(15)) / double(ticks);
  p.virtual_memory_bytes = field(23);
  p.resident_memory_bytes = field(24) * static_cast<uint64_t>(page);
  int64_t btime = 0;
  std::ifstream st(proc_dir + "/stat");
  for (std::string line; std::getline(st, line);) {
    if (line.rfind("btime ", 0) == 0) btime = std::stoll(line.substr(6));
  }
  p.start_time_seconds = double(btime) + double(field(22)) / double(ticks);
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(proc_dir + "/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++p.open_fds;
  }
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) p.max_fds = rl.rlim_cur;
  return p;
}

std::string ProbeMetricsText(const KubeletMetrics& m, const ProcessSample* process) {
  std::string out;
  if (!m.probe_total.empty()) {
    prom::AppendHeader(&out, "prober_probe_total",
                       "[BETA] Cumulative number of a liveness, readiness or startup probe for a container by result.",
                       "counter");
    for (const auto& [k, n] : m.probe_total) {
      // Label names in client_golang's order (sorted).
      prom::AppendSample(&out, "prober_probe_total",
                         {{"container", k[2]}, {"namespace", k[4]}, {"pod", k[3]}, {"pod_uid", k[5]},
                          {"probe_type", k[0]}, {"result", k[1]}},
                         double(n));
    }
  }
  if (process != nullptr) {
    prom::AppendHeader(&out, "process_start_time_seconds",
                       "[ALPHA] Start time of the process since unix epoch in seconds.", "gauge");
    prom::AppendSample(&out, "process_start_time_seconds", {}, process->start_time_seconds);
  }
  return out;
}

std::string AgentMetricsText(const std::string& node_name, const ProcessSample* process, size_t running_pods,
                             const ContainerStateCounts& states, const KubeletMetrics& m) {
  std::string out;
  prom::AppendHeader(&out, "kubelet_node_name", "[ALPHA] The node's name. The count is always 1.", "gauge");
  prom::AppendSample(&out, "kubelet_node_name", {{"node", node_name}}, 1);
  const char* h = "kubelet_pod_start_duration_seconds";
  prom::AppendHeader(&out, h,
                     "[ALPHA] Duration in seconds from kubelet seeing a pod for the first time to the pod starting to run",
                     "histogram");
  uint64_t cum = 0;
  for (size_t i = 0; i < m.pod_start_duration.bounds.size(); ++i) {
    cum += m.pod_start_duration.counts[i];
    prom::AppendSample(&out, "kubelet_pod_start_duration_seconds_bucket",
                       {{"le", prom::FormatFloat(m.pod_start_duration.bounds[i])}}, double(cum));
  }
  prom::AppendSample(&out, "kubelet_pod_start_duration_seconds_bucket", {{"le", "+Inf"}},
                     double(m.pod_start_duration.count));
  prom::AppendSample(&out, "kubelet_pod_start_duration_seconds_sum", {}, m.pod_start_duration.sum);
  prom::AppendSample(&out, "kubelet_pod_start_duration_seconds_count", {}, double(m.pod_start_duration.count));
  prom::AppendHeader(&out, "kubelet_running_containers", "[ALPHA] Number of containers currently running", "gauge");
  prom::AppendSample(&out, "kubelet_running_containers", {{"container_state", "created"}}, double(states.created));
  prom::AppendSample(&out, "kubelet_running_containers", {{"container_state", "exited"}}, double(states.exited));
  prom::AppendSample(&out, "kubelet_running_containers", {{"container_state", "running"}}, double(states.running));
  prom::AppendSample(&out, "kubelet_running_containers", {{"container_state", "unknown"}}, double(states.unknown));
  prom::AppendHeader(&out, "kubelet_running_pods", "[ALPHA] Number of pods that have a running pod sandbox", "gauge");
  prom::AppendSample(&out, "kubelet_running_pods", {}, double(running_pods));
  prom::AppendHeader(&out, "kubelet_started_containers_total", "[ALPHA] Cumulative number of containers started",
                     "counter");
  prom::AppendSample(&out, "kubelet_started_containers_total", {{"container_type", "container"}},
                     double(m.started_containers));
  prom::AppendSample(&out, "kubelet_started_containers_total", {{"container_type", "init_container"}},
                     double(m.started_init_containers));
  prom::AppendHeader(&out, "kubelet_started_pods_errors_total", "[ALPHA] Cumulative number of errors when starting pods",
                     "counter");
  prom::AppendSample(&out, "kubelet_started_pods_errors_total", {}, double(m.started_pods_errors));
  prom::AppendHeader(&out, "kubelet_started_pods_total", "[ALPHA] Cumulative number of pods started", "counter");
  prom::AppendSample(&out, "kubelet_started_pods_total", {}, double(m.started_pods));
  if (process != nullptr) {
    prom::AppendHeader(&out, "process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", "counter");
    prom::AppendSample(&out, "process_cpu_seconds_total", {}, process->cpu_seconds);
    prom::AppendHeader(&out, "process_max_fds", "Maximum number of open file descriptors.", "gauge");
    prom::AppendSample(&out, "process_max_fds", {}, double(process->max_fds));
    prom::AppendHeader(&out, "process_open_fds", "Number of open file descriptors.", "gauge");
    prom::AppendSample(&out, "process_open_fds", {}, double(process->open_fds));
    prom::AppendHeader(&out, "process_resident_memory_bytes", "Resident memory size in bytes.", "gauge");
    prom::AppendSample(&out, "process_resident_memory_bytes", {}, double(process->resident_memory_bytes));
    prom::AppendHeader(&out, "process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
                       "gauge");
    prom::AppendSample(&out, "process_start_time_seconds", {}, process->start_time_seconds);
    prom::AppendHeader(&out, "process_virtual_memory_bytes", "Virtual memory size in bytes.", "gauge");
    prom::AppendSample(&out, "process_virtual_memory_bytes", {}, double(process->virtual_memory_bytes));
  }
  return out;
}

KubeletHttp::KubeletHttp(KubeletStatsSource source, oci::Cgroups& cgroups, MachineStats& machine, const Clock& clock,
                         KubeletHttpOptions options)
    : source_(std::move(source)), cgroups_(cgroups), machine_(machine), clock_(clock), options_(std::move(options)) {}

KubeletHttp::~KubeletHttp() { *alive_ = false; }

void KubeletHttp::Serve(const sm::NodeHttpRequest& req, std::function<void(sm::NodeHttpResponse)> done) {
  std::string path = req.path;
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  bool known = path == "/healthz" || path == "/stats/summary" || path == "/metrics/resource" || path == "/metrics" ||
               path == "/metrics/probes" || (path == "/pods" && source_.pod_list);
  if (!known) {
    done(sm::NodeHttpResponse{404, "text/plain; charset=utf-8", "404 page not found\n"});
    return;
  }
  if (req.method != "GET" && req.method != "HEAD") {
    done(sm::NodeHttpResponse{405, "text/plain; charset=utf-8", "405: Method Not Allowed"});
    return;
  }
  if (path == "/healthz") {
    done(sm::NodeHttpResponse{200, "text/plain; charset=utf-8", "ok"});
    return;
  }
  if (path == "/pods") {
    done(sm::NodeHttpResponse{200, "application/json", source_.pod_list()});
    return;
  }
  if (path == "/metrics/probes") {
    auto p = ReadProcessSample(options_.proc_dir);
    done(sm::NodeHttpResponse{200, prom::kContentType, ProbeMetricsText(source_.metrics(), p.ok() ? &*p : nullptr)});
    return;
  }
  if (path == "/metrics") {
    auto p = ReadProcessSample(options_.proc_dir);
    std::string body = AgentMetricsText(options_.node_name, p.ok() ? &*p : nullptr, source_.running_pods(),
                                        source_.container_states(), source_.metrics());
    done(sm::NodeHttpResponse{200, prom::kContentType, std::move(body)});
    return;
  }
  Stats(path == "/stats/summary", std::move(done));
}

void KubeletHttp::Stats(bool summary, std::function<void(sm::NodeHttpResponse)> done) {
  auto refs = std::make_shared<std::vector<PodStatsRef>>(source_.pods());
  auto result = std::make_shared<Summary>();
  std::weak_ptr<bool> alive = alive_;
  auto finish = [this, alive, result, summary, done = std::move(done)]() {
    auto a = alive.lock();
    if (!a || !*a) return;
    rates_.Apply(result.get());
    if (summary) done(sm::NodeHttpResponse{200, "application/json", SummaryJson(*result)});
    else done(sm::NodeHttpResponse{200, prom::kContentType, ResourceMetricsText(*result)});
  };
  auto work = [this, refs, result, finish = std::move(finish)]() mutable {
    *result = CollectSummary(options_.node_name, *refs, cgroups_, machine_, clock_, options_.dirs);
    options_.post(std::move(finish));
  };
  options_.offload(std::move(work));
}

}  // namespace minik::agent::kubelet
