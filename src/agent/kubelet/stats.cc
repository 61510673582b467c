#include "agent/kubelet/stats.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <chrono>
#include <fstream>
#include <sstream>

#include "common/prometheus.h"
#include "common/strings.h"

namespace minik::agent::kubelet {
namespace {

StatusOr<std::string> Slurp(const std::string& path) {
  std::ifstream f(path);
  if (!f) return Status::NotFound("cannot read " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

class ProcMachineStats final : public MachineStats {
 public:
  ProcMachineStats(std::string dir, int64_t ticks) : dir_(std::move(dir)), ticks_(ticks > 0 ? ticks : sysconf(_SC_CLK_TCK)) {
    if (ticks_ <= 0) ticks_ = 100;
  }

  StatusOr<MachineSample> Read() override {
    MachineSample m;
    auto stat = Slurp(dir_ + "/stat");
    if (!stat.ok()) return stat.error();
    bool cpu_found = false;
    std::istringstream in(*stat);
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream ls(line);
      std::string key;
      ls >> key;
      if (key == "cpu") {
        // user nice system idle iowait irq softirq steal (guest time is counted in user)
        uint64_t v[8] = {};
        for (auto& x : v) ls >> x;
        uint64_t busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
        m.cpu_usage_ns = busy * (1000000000ULL / static_cast<uint64_t>(ticks_));
        cpu_found = true;
      } else if (key == "btime") {
        ls >> m.boot_time_s;
      }
    }
    if (!cpu_found) return Status::Internal(dir_ + "/stat has no cpu line");
    auto mem = Slurp(dir_ + "/meminfo");
    if (!mem.ok()) return mem.error();
    std::map<std::string, uint64_t> kb;
    std::istringstream mi(*mem);
    while (std::getline(mi, line)) {
      std::istringstream ls(line);
      std::string key;
      uint64_t v = 0;
      ls >> key >> v;
      if (!key.empty() && key.back() == ':') key.pop_back();
      kb[key] = v * 1024;
    }
    if (!kb.count("MemTotal")) return Status::Internal(dir_ + "/meminfo has no MemTotal");
    m.memory_total_bytes = kb["MemTotal"];
    uint64_t free = kb["MemFree"];
    m.memory_usage_bytes = m.memory_total_bytes > free ? m.memory_total_bytes - free : 0;
    uint64_t inactive = kb["Inactive(file)"];
    m.memory_working_set_bytes = m.memory_usage_bytes > inactive ? m.memory_usage_bytes - inactive : 0;
    m.memory_rss_bytes = kb["AnonPages"];
    return m;
  }

 private:
  std::string dir_;
  int64_t ticks_;
};

Usage FromCgroup(const oci::CgroupStats& st, int64_t now_ns) {
  Usage u;
  u.time_ns = now_ns;
  u.has_cpu = true;
  u.cpu_usage_ns = st.cpu_usage_ns;
  u.has_memory = true;
  u.memory_usage_bytes = st.memory_usage_bytes;
  u.memory_working_set_bytes = st.memory_working_set_bytes;
  u.memory_rss_bytes = st.memory_rss_bytes;
  return u;
}

int64_t NowNs(const Clock& clock) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(clock.Now().time_since_epoch()).count();
}

std::string Rfc3339(int64_t ns) {
  return FormatRFC3339(TimePoint(std::chrono::duration_cast<TimePoint::duration>(std::chrono::nanoseconds(ns))));
}

}  // namespace

MachineStatsPtr NewProcMachineStats(std::string proc_dir, int64_t clock_ticks) {
  return std::make_unique<ProcMachineStats>(std::move(proc_dir), clock_ticks);
}

StatusOr<FsSample> MachineStats::Fs(const std::string& path) {
  struct statvfs v;
  if (statvfs(path.c_str(), &v) != 0) return Status::Internal("statvfs " + path + ": " + std::strerror(errno));
  FsSample f;
  const uint64_t unit = v.f_frsize ? v.f_frsize : v.f_bsize;
  f.capacity_bytes = static_cast<uint64_t>(v.f_blocks) * unit;
  f.available_bytes = static_cast<uint64_t>(v.f_bavail) * unit;
  f.used_bytes = static_cast<uint64_t>(v.f_blocks - v.f_bfree) * unit;
  f.inodes = v.f_files;
  f.inodes_free = v.f_ffree;
  return f;
}

Summary CollectSummary(const std::string& node_name, const std::vector<PodStatsRef>& pods, oci::Cgroups& cgroups,
                       MachineStats& machine, const Clock& clock, const SummaryDirs& dirs) {
  Summary s;
  s.node_name = node_name;
  auto m = machine.Read();
  int64_t now = NowNs(clock);
  s.time_ns = now;
  if (!dirs.node_dir.empty()) {
    if (auto f = machine.Fs(dirs.node_dir); f.ok()) s.node_fs = *f;
  }
  if (!dirs.image_dir.empty()) {
    if (auto f = machine.Fs(dirs.image_dir); f.ok()) s.image_fs = *f;
  }
  if (m.ok()) {
    s.node_start_s = m->boot_time_s;
    s.node.time_ns = now;
    s.node.has_cpu = true;
    s.node.cpu_usage_ns = m->cpu_usage_ns;
    s.node.has_memory = true;
    s.node.memory_usage_bytes = m->memory_usage_bytes;
    s.node.memory_working_set_bytes = m->memory_working_set_bytes;
    s.node.memory_rss_bytes = m->memory_rss_bytes;
    s.node.memory_available_bytes =
        m->memory_total_bytes > m->memory_working_set_bytes ? m->memory_total_bytes - m->memory_working_set_bytes : 0;
  } else {
    s.node_error = true;
  }
  for (const auto& ref : pods) {
    auto ps = cgroups.PodStats(ref.uid);
    if (!ps.ok()) continue;
    PodSummary p;
    p.namespace_ = ref.namespace_;
    p.name = ref.name;
    p.uid = ref.uid;
    p.start_time = ref.start_time;
    p.usage = FromCgroup(*ps, NowNs(clock));
    for (const auto& c : ref.containers) {
      auto cs = cgroups.ContainerStats(ref.uid, c.id);
      if (!cs.ok()) continue;
      ContainerSummary out;
      out.name = c.name;
      out.id = c.id;
      out.start_ns = c.started_ns;
      out.usage = FromCgroup(*cs, NowNs(clock));
      p.containers.push_back(std::move(out));
    }
    std::sort(p.containers.begin(), p.containers.end(),
              [](const ContainerSummary& a, const ContainerSummary& b) { return a.name < b.name; });
    s.pods.push_back(std::move(p));
  }
  std::sort(s.pods.begin(), s.pods.end(), [](const PodSummary& a, const PodSummary& b) {
    return a.namespace_ != b.namespace_ ? a.namespace_ < b.namespace_ : a.name < b.name;
  });
  return s;
}

void CpuRates::Rate(const std::string& key, Usage* u, std::map<std::string, Point>* next) {
  if (!u->has_cpu) return;
  Point cur{u->time_ns, u->cpu_usage_ns};
  auto it = last_.find(key);
  if (it == last_.end() || it->second.cpu_ns > cur.cpu_ns || it->second.time_ns >= cur.time_ns) {
    (*next)[key] = cur;  // first sample, or a reset counter: no rate yet
    return;
  }
  const Point& base = it->second;
  double window_s = double(cur.time_ns - base.time_ns) / 1e9;
  u->usage_nano_cores = static_cast<uint64_t>(double(cur.cpu_ns - base.cpu_ns) / window_s);
  // Keep the older base while the window is short, so that quick re-reads stay meaningful.
  (*next)[key] = (cur.time_ns - base.time_ns) >= kMinRateWindowMs * 1000000 ? cur : base;
}

void CpuRates::Apply(Summary* s) {
  std::map<std::string, Point> next;
  Rate("node", &s->node, &next);
  for (auto& p : s->pods) {
    Rate("pod/" + p.uid, &p.usage, &next);
    for (auto& c : p.containers) Rate("container/" + c.id, &c.usage, &next);
  }
  last_ = std::move(next);
}

namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void Str(Writer& w, const char* k, std::string_view v) {
  w.Key(k);
  w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
}

void CpuMemory(Writer& w, const Usage& u) {
  std::string t = Rfc3339(u.time_ns);
  if (u.has_cpu) {
    w.Key("cpu");
    w.StartObject();
    Str(w, "time", t);
    if (u.usage_nano_cores) {
      w.Key("usageNanoCores");
      w.Uint64(*u.usage_nano_cores);
    }
    w.Key("usageCoreNanoSeconds");
    w.Uint64(u.cpu_usage_ns);
    w.EndObject();
  }
  if (u.has_memory) {
    w.Key("memory");
    w.StartObject();
    Str(w, "time", t);
    if (u.memory_available_bytes) {
      w.Key("availableBytes");
      w.Uint64(*u.memory_available_bytes);
    }
    w.Key("usageBytes");
    w.Uint64(u.memory_usage_bytes);
    w.Key("workingSetBytes");
    w.Uint64(u.memory_working_set_bytes);
    w.Key("rssBytes");
    w.Uint64(u.memory_rss_bytes);
    w.EndObject();
  }
}

// FsStats, in the field order of the kubelet's stats/v1alpha1 types.
void Fs(Writer& w, const char* key, const std::string& t, const FsSample& f) {
  w.Key(key);
  w.StartObject();
  Str(w, "time", t);
  w.Key("availableBytes");
  w.Uint64(f.available_bytes);
  w.Key("capacityBytes");
  w.Uint64(f.capacity_bytes);
  w.Key("usedBytes");
  w.Uint64(f.used_bytes);
  w.Key("inodesFree");
  w.Uint64(f.inodes_free);
  w.Key("inodes");
  w.Uint64(f.inodes);
  w.Key("inodesUsed");
  w.Uint64(f.inodes >= f.inodes_free ? f.inodes - f.inodes_free : 0);
  w.EndObject();
}

}  // namespace

std::string SummaryJson(const Summary& s) {
  rapidjson::StringBuffer b;
  Writer w(b);
  w.StartObject();
  w.Key("node");
  w.StartObject();
  Str(w, "nodeName", s.node_name);
  if (s.node_start_s > 0) Str(w, "startTime", Rfc3339(s.node_start_s * 1000000000LL));
  CpuMemory(w, s.node);
  const std::string t = Rfc3339(s.time_ns);
  if (s.node_fs) Fs(w, "fs", t, *s.node_fs);
  if (s.image_fs) {
    w.Key("runtime");
    w.StartObject();
    Fs(w, "imageFs", t, *s.image_fs);
    Fs(w, "containerFs", t, *s.image_fs);
    w.EndObject();
  }
  w.EndObject();
  w.Key("pods");
  w.StartArray();
  for (const auto& p : s.pods) {
    w.StartObject();
    w.Key("podRef");
    w.StartObject();
    Str(w, "name", p.name);
    Str(w, "namespace", p.namespace_);
    Str(w, "uid", p.uid);
    w.EndObject();
    if (!p.start_time.empty()) Str(w, "startTime", p.start_time);
    w.Key("containers");
    w.StartArray();
    for (const auto& c : p.containers) {
      w.StartObject();
      Str(w, "name", c.name);
      if (c.start_ns > 0) Str(w, "startTime", Rfc3339(c.start_ns));
      CpuMemory(w, c.usage);
      w.EndObject();
    }
    w.EndArray();
    CpuMemory(w, p.usage);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return std::string(b.GetString(), b.GetSize());
}

std::string ResourceMetricsText(const Summary& s) {
  // Families in name order, samples in label order, as client_golang writes them.
  std::string out;
  auto ms = [](int64_t ns) { return ns / 1000000; };
  struct Ctr {
    const PodSummary* pod;
    const ContainerSummary* c;
  };
  std::vector<Ctr> ctrs;
  for (const auto& p : s.pods) {
    for (const auto& c : p.containers) ctrs.push_back({&p, &c});
  }
  std::sort(ctrs.begin(), ctrs.end(), [](const Ctr& a, const Ctr& b) {
    if (a.c->name != b.c->name) return a.c->name < b.c->name;
    if (a.pod->namespace_ != b.pod->namespace_) return a.pod->namespace_ < b.pod->namespace_;
    return a.pod->name < b.pod->name;
  });
  auto clabels = [](const Ctr& c) {
    return prom::Labels{{"container", c.c->name}, {"namespace", c.pod->namespace_}, {"pod", c.pod->name}};
  };
  // client_golang leaves out families without samples.
  auto family = [&out](const char* name, const char* help, const char* type, const std::string& samples) {
    if (samples.empty()) return;
    prom::AppendHeader(&out, name, help, type);
    out += samples;
  };
  if (!s.node_error) {
    std::string cpu, mem, start;
    for (const auto& c : ctrs) {
      prom::AppendSample(&cpu, "container_cpu_usage_seconds_total", clabels(c), double(c.c->usage.cpu_usage_ns) / 1e9,
                         ms(c.c->usage.time_ns));
      prom::AppendSample(&mem, "container_memory_working_set_bytes", clabels(c),
                         double(c.c->usage.memory_working_set_bytes), ms(c.c->usage.time_ns));
      if (c.c->start_ns > 0) {
        prom::AppendSample(&start, "container_start_time_seconds", clabels(c), double(c.c->start_ns) / 1e9);
      }
    }
    family("container_cpu_usage_seconds_total",
           "[STABLE] Cumulative cpu time consumed by the container in core-seconds", "counter", cpu);
    family("container_memory_working_set_bytes", "[STABLE] Current working set of the container in bytes", "gauge",
           mem);
    family("container_start_time_seconds", "[STABLE] Start time of the container since unix epoch in seconds",
           "gauge", start);
    std::string ncpu, nmem;
    prom::AppendSample(&ncpu, "node_cpu_usage_seconds_total", {}, double(s.node.cpu_usage_ns) / 1e9, ms(s.node.time_ns));
    prom::AppendSample(&nmem, "node_memory_working_set_bytes", {}, double(s.node.memory_working_set_bytes),
                       ms(s.node.time_ns));
    family("node_cpu_usage_seconds_total", "[STABLE] Cumulative cpu time consumed by the node in core-seconds",
           "counter", ncpu);
    family("node_memory_working_set_bytes", "[STABLE] Current working set of the node in bytes", "gauge", nmem);
    std::string pcpu, pmem;
    for (const auto& p : s.pods) {
      prom::Labels l{{"namespace", p.namespace_}, {"pod", p.name}};
      prom::AppendSample(&pcpu, "pod_cpu_usage_seconds_total", l, double(p.usage.cpu_usage_ns) / 1e9,
                         ms(p.usage.time_ns));
      prom::AppendSample(&pmem, "pod_memory_working_set_bytes", l, double(p.usage.memory_working_set_bytes),
                         ms(p.usage.time_ns));
    }
    family("pod_cpu_usage_seconds_total", "[STABLE] Cumulative cpu time consumed by the pod in core-seconds",
           "counter", pcpu);
    family("pod_memory_working_set_bytes", "[STABLE] Current working set of the pod in bytes", "gauge", pmem);
  }
  prom::AppendHeader(&out, "resource_scrape_error",
                     "[STABLE] 1 if there was an error while getting container metrics, 0 otherwise", "gauge");
  prom::AppendSample(&out, "resource_scrape_error", {}, s.node_error ? 1 : 0);
  return out;
}

}  // namespace minik::agent::kubelet
