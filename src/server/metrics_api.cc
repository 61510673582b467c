#include "server/metrics_api.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <chrono>

#include "api/errors.h"
#include "api/quantity.h"
#include "api/registry.h"
#include "common/json.h"
#include "common/log.h"
#include "common/prometheus.h"
#include "server/api_server.h"
#include "server/list_filter.h"
#include "server/node_proxy.h"
#include "server/streaming.h"

namespace minik::server {

namespace {

constexpr char kGroup[] = "metrics.k8s.io";
constexpr char kApiVersion[] = "metrics.k8s.io/v1beta1";
// metrics-server: a container younger than the resolution but at least this old gets a point at
// its start (zero CPU) as its previous one, so that it has metrics before a second scrape.
constexpr int64_t kFreshContainerMinMs = 10000;

const api::ResourceInfo& CoreInfo(const char* plural) { return *api::Registry::Builtin().Find("", "v1", plural); }

class TunnelScrapeSource final : public ScrapeSource {
 public:
  TunnelScrapeSource(Streaming& s, NodeProxy& p) : streaming_(s), proxy_(p) {}
  std::vector<std::string> Nodes() override { return streaming_.ConnectedNodes(); }
  void Scrape(const std::string& node, std::function<void(StatusOr<std::string>)> done) override {
    proxy_.Request(node, "GET", "/metrics/resource", "", [done = std::move(done)](StatusOr<NodeResponse> r) {
      if (!r.ok()) return done(r.error());
      if (r->status != 200) return done(Status::Internal("request failed, status: " + std::to_string(r->status)));
      done(std::move(r->body));
    });
  }

 private:
  Streaming& streaming_;
  NodeProxy& proxy_;
};

class StoreObjects final : public MetricsObjects {
 public:
  explicit StoreObjects(const ObjectStore& s) : s_(s) {}
  ObjectPtr Node(const std::string& name) const override { return s_.Get(StorageKey(CoreInfo("nodes"), "", name)); }
  std::vector<ObjectPtr> Nodes() const override { return s_.List(StoragePrefix(CoreInfo("nodes"), ""), "", 0, nullptr).items; }
  ObjectPtr Pod(const std::string& ns, const std::string& name) const override {
    return s_.Get(StorageKey(CoreInfo("pods"), ns, name));
  }
  std::vector<ObjectPtr> Pods(const std::string& ns) const override {
    return s_.List(StoragePrefix(CoreInfo("pods"), ns), "", 0, nullptr).items;
  }

 private:
  const ObjectStore& s_;
};

std::string Meta(const JsonValue& obj, const char* field) {
  const JsonValue* md = Member(obj, "metadata");
  return md ? std::string(GetString(*md, field).value_or("")) : std::string();
}

std::string Rfc3339Ms(int64_t ms) {
  return FormatRFC3339(TimePoint(std::chrono::duration_cast<TimePoint::duration>(std::chrono::milliseconds(ms))));
}

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;
void Str(Writer& w, const char* k, std::string_view v) {
  w.Key(k);
  w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
}

void WriteMeta(Writer& w, const JsonValue& obj, bool namespaced, const std::string& now) {
  w.Key("metadata");
  w.StartObject();
  Str(w, "name", Meta(obj, "name"));
  if (namespaced) Str(w, "namespace", Meta(obj, "namespace"));
  Str(w, "creationTimestamp", now);
  const JsonValue* labels = Path(obj, {"metadata", "labels"});
  if (labels && labels->IsObject() && labels->MemberCount() > 0) {
    w.Key("labels");
    labels->Accept(w);
  }
  w.EndObject();
}

void WriteUsage(Writer& w, uint64_t nanocores, uint64_t memory) {
  w.Key("usage");
  w.StartObject();
  Str(w, "cpu", api::Quantity::FromScaled(static_cast<int64_t>(nanocores), -9).String());
  Str(w, "memory", api::Quantity::FromInt(static_cast<int64_t>(memory), api::QuantityFormat::kBinarySI).String());
  w.EndObject();
}

}  // namespace

std::unique_ptr<ScrapeSource> NewTunnelScrapeSource(Streaming& streaming, NodeProxy& proxy) {
  return std::make_unique<TunnelScrapeSource>(streaming, proxy);
}

std::unique_ptr<MetricsObjects> NewStoreMetricsObjects(const ObjectStore& store) {
  return std::make_unique<StoreObjects>(store);
}

std::string GoDurationMs(int64_t ms) {
  if (ms == 0) return "0s";
  std::string sign = ms < 0 ? "-" : "";
  if (ms < 0) ms = -ms;
  if (ms < 1000) return sign + std::to_string(ms) + "ms";
  int64_t h = ms / 3600000, m = ms / 60000 % 60, s = ms / 1000 % 60, frac = ms % 1000;
  std::string out = sign;
  if (h > 0) out += std::to_string(h) + "h";
  if (h > 0 || m > 0) out += std::to_string(m) + "m";
  out += std::to_string(s);
  if (frac > 0) {
    char buf[8];
    std::snprintf(buf, sizeof buf, ".%03d", static_cast<int>(frac));
    std::string f = buf;
    while (f.back() == '0') f.pop_back();
    out += f;
  }
  return out + "s";
}

MetricsApi::MetricsApi(client::Timers& timers, MetricsObjects& objects, ScrapeSource& source,
                       MetricsApiOptions options)
    : timers_(timers), objects_(objects), source_(source), options_(options) {}

MetricsApi::~MetricsApi() { *alive_ = false; }

void MetricsApi::Activate() {
  last_request_ms_ = timers_.clock().MonotonicMillis();
  if (active_) return;
  active_ = true;
  MINIK_LOG(Info) << "metrics API: scraping the nodes every " << options_.resolution_ms << " ms";
  ScrapeAll();
  timer_ = timers_.After(std::min(options_.first_window_ms, options_.resolution_ms), [this]() { Tick(); });
}

void MetricsApi::Tick() {
  timer_.reset();
  if (timers_.clock().MonotonicMillis() - last_request_ms_ >= static_cast<int64_t>(options_.idle_stop_ms)) {
    MINIK_LOG(Info) << "metrics API: no request for " << options_.idle_stop_ms << " ms; scraping stops";
    active_ = false;
    nodes_.clear();
    return;
  }
  ScrapeAll();
  timer_ = timers_.After(options_.resolution_ms, [this]() { Tick(); });
}

void MetricsApi::ScrapeAll() {
  std::vector<std::string> nodes = source_.Nodes();
  std::set<std::string> present(nodes.begin(), nodes.end());
  for (auto it = nodes_.begin(); it != nodes_.end();) {
    it = present.count(it->first) ? std::next(it) : nodes_.erase(it);
  }
  std::weak_ptr<bool> alive = alive_;
  for (const auto& node : nodes) {
    if (in_flight_.count(node)) continue;  // the previous scrape of this node still runs
    uint64_t gen = ++generation_;
    in_flight_[node] = gen;
    source_.Scrape(node, [this, alive, node, gen](StatusOr<std::string> text) {
      auto a = alive.lock();
      if (!a || !*a) return;
      auto it = in_flight_.find(node);
      if (it == in_flight_.end() || it->second != gen) return;
      in_flight_.erase(it);
      if (!text.ok()) {
        MINIK_LOG(Debug) << "metrics API: scraping node " << node << ": " << text.error().ToString();
        nodes_.erase(node);  // as metrics-server: a node that failed has no metrics
        return;
      }
      Store(node, *text);
    });
  }
}

void MetricsApi::Store(const std::string& node, const std::string& text) {
  auto samples = prom::Parse(text);
  if (!samples.ok()) {
    MINIK_LOG(Warning) << "metrics API: node " << node << ": " << samples.error().ToString();
    nodes_.erase(node);
    return;
  }
  int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(timers_.clock().Now().time_since_epoch()).count();
  Point node_point;
  std::map<std::string, std::map<std::string, Point>> pods;
  for (const auto& s : *samples) {
    int64_t ts = s.timestamp_ms.value_or(now_ms);
    if (s.name == "node_cpu_usage_seconds_total") {
      node_point.cpu_ns = static_cast<uint64_t>(s.value * 1e9);
      node_point.time_ms = ts;
      continue;
    }
    if (s.name == "node_memory_working_set_bytes") {
      node_point.memory = static_cast<uint64_t>(s.value);
      node_point.time_ms = ts;
      continue;
    }
    bool cpu = s.name == "container_cpu_usage_seconds_total";
    bool mem = s.name == "container_memory_working_set_bytes";
    bool start = s.name == "container_start_time_seconds";
    if (!cpu && !mem && !start) continue;
    auto get = [&s](const char* k) {
      auto it = s.labels.find(k);
      return it == s.labels.end() ? std::string() : it->second;
    };
    Point& p = pods[get("namespace") + "/" + get("pod")][get("container")];
    if (cpu) {
      p.cpu_ns = static_cast<uint64_t>(s.value * 1e9);
      p.time_ms = ts;
    } else if (mem) {
      p.memory = static_cast<uint64_t>(s.value);
      p.time_ms = ts;
    } else {
      p.start_ms = static_cast<int64_t>(s.value * 1000);
    }
  }
  NodeData& old = nodes_[node];
  NodeData next;
  if (node_point.time_ms != 0 && node_point.cpu_ns != 0 && node_point.memory != 0) {
    next.node.last = node_point;
    if (old.node.last && node_point.time_ms > old.node.last->time_ms) next.node.prev = old.node.last;
    else if (old.node.prev && old.node.prev->time_ms < node_point.time_ms) next.node.prev = old.node.prev;
  }
  for (auto& [key, containers] : pods) {
    // As metrics-server: a pod with a container lacking CPU or memory is left out whole.
    bool complete = true;
    for (const auto& [name, p] : containers) complete = complete && p.cpu_ns != 0 && p.memory != 0;
    if (!complete || containers.empty()) continue;
    auto old_pod = old.pods.find(key);
    auto& out = next.pods[key];
    for (auto& [name, p] : containers) {
      Series& s = out[name];
      s.last = p;
      int64_t age = p.time_ms - p.start_ms;
      if (p.start_ms > 0 && p.start_ms < p.time_ms && age < static_cast<int64_t>(options_.resolution_ms) &&
          age >= kFreshContainerMinMs) {
        Point zero = p;
        zero.time_ms = p.start_ms;
        zero.cpu_ns = 0;
        s.prev = zero;
        continue;
      }
      if (old_pod == old.pods.end()) continue;
      auto oc = old_pod->second.find(name);
      if (oc == old_pod->second.end() || !oc->second.last) continue;
      const Point& last = *oc->second.last;
      if (!(p.start_ms < last.time_ms)) continue;  // restarted since: start over
      if (p.time_ms > last.time_ms) s.prev = last;
      else if (oc->second.prev && oc->second.prev->time_ms < p.time_ms) s.prev = oc->second.prev;
    }
  }
  nodes_[node] = std::move(next);
}

bool MetricsApi::AppendNode(const JsonValue& node, bool in_list, std::string* out) const {
  auto it = nodes_.find(Meta(node, "name"));
  if (it == nodes_.end() || !it->second.node.last || !it->second.node.prev) return false;
  const Point& last = *it->second.node.last;
  const Point& prev = *it->second.node.prev;
  int64_t window = last.time_ms - prev.time_ms;
  if (window <= 0 || last.cpu_ns < prev.cpu_ns) return false;
  uint64_t nanocores = static_cast<uint64_t>(double(last.cpu_ns - prev.cpu_ns) / (double(window) / 1000.0));
  rapidjson::StringBuffer b;
  Writer w(b);
  w.StartObject();
  if (!in_list) {
    Str(w, "kind", "NodeMetrics");
    Str(w, "apiVersion", kApiVersion);
  }
  WriteMeta(w, node, false, FormatRFC3339(timers_.clock().Now()));
  Str(w, "timestamp", Rfc3339Ms(last.time_ms));
  Str(w, "window", GoDurationMs(window));
  WriteUsage(w, nanocores, last.memory);
  w.EndObject();
  out->append(b.GetString(), b.GetSize());
  return true;
}

bool MetricsApi::AppendPod(const JsonValue& pod, bool in_list, std::string* out) const {
  std::string key = Meta(pod, "namespace") + "/" + Meta(pod, "name");
  std::string node(GetString(*Path(pod, {"spec"}), "nodeName").value_or(""));
  auto n = nodes_.find(node);
  if (n == nodes_.end()) return false;
  auto p = n->second.pods.find(key);
  if (p == n->second.pods.end()) return false;
  for (const auto& [name, s] : p->second) {
    if (!s.prev) return false;  // every container needs two points
  }
  rapidjson::StringBuffer b;
  Writer w(b);
  int64_t ts = 0, window = 0;
  std::string containers;
  {
    rapidjson::StringBuffer cb;
    Writer cw(cb);
    cw.StartArray();
    for (const auto& [name, s] : p->second) {
      const Point& last = *s.last;
      const Point& prev = *s.prev;
      int64_t win = last.time_ms - prev.time_ms;
      if (win <= 0 || last.cpu_ns < prev.cpu_ns || last.start_ms < prev.start_ms) continue;
      uint64_t nanocores = static_cast<uint64_t>(double(last.cpu_ns - prev.cpu_ns) / (double(win) / 1000.0));
      cw.StartObject();
      Str(cw, "name", name);
      WriteUsage(cw, nanocores, last.memory);
      cw.EndObject();
      if (ts == 0 || last.time_ms < ts) {
        ts = last.time_ms;
        window = win;
      }
    }
    cw.EndArray();
    containers.assign(cb.GetString(), cb.GetSize());
  }
  w.StartObject();
  if (!in_list) {
    Str(w, "kind", "PodMetrics");
    Str(w, "apiVersion", kApiVersion);
  }
  WriteMeta(w, pod, true, FormatRFC3339(timers_.clock().Now()));
  Str(w, "timestamp", ts ? Rfc3339Ms(ts) : FormatRFC3339(TimePoint()));
  Str(w, "window", GoDurationMs(window));
  w.Key("containers");
  w.RawValue(containers.data(), containers.size(), rapidjson::kArrayType);
  w.EndObject();
  out->append(b.GetString(), b.GetSize());
  return true;
}

namespace {

std::string ListJson(const char* kind, const std::vector<std::string>& items) {
  std::string out = std::string("{\"kind\":\"") + kind + "\",\"apiVersion\":\"" + kApiVersion + "\",\"metadata\":{},\"items\":[";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += ',';
    out += items[i];
  }
  return out + "]}";
}

// metrics-server's ConvertToTable: Name, the usage's resources in name order, Window; a pod's
// usage is the sum of its containers'. Rows carry the object's metadata (PartialObjectMetadata).
StatusOr<std::string> TableJson(const std::vector<std::string>& items, bool pods) {
  rapidjson::StringBuffer b;
  Writer w(b);
  w.StartObject();
  Str(w, "kind", "Table");
  Str(w, "apiVersion", "meta.k8s.io/v1");
  w.Key("metadata");
  w.StartObject();
  w.EndObject();
  w.Key("columnDefinitions");
  if (items.empty()) {
    w.Null();
  } else {
    w.StartArray();
    auto col = [&w](const char* name, const char* format, const char* desc) {
      w.StartObject();
      Str(w, "name", name);
      Str(w, "type", "string");
      Str(w, "format", format);
      Str(w, "description", desc);
      w.Key("priority");
      w.Int(0);
      w.EndObject();
    };
    col("Name", "name", "Name of the resource");
    col("cpu", "quantity", "");
    col("memory", "quantity", "");
    col("Window", "duration", "");
    w.EndArray();
  }
  w.Key("rows");
  w.StartArray();
  for (const auto& item : items) {
    auto doc = ParseJson(item);
    if (!doc.ok()) return doc.error();
    api::Quantity cpu, mem;
    auto add = [&cpu, &mem](const JsonValue& usage) {
      if (auto q = api::ParseQuantity(GetString(usage, "cpu").value_or("0")); q.ok()) cpu = cpu.Add(*q);
      if (auto q = api::ParseQuantity(GetString(usage, "memory").value_or("0")); q.ok()) mem = mem.Add(*q);
    };
    if (pods) {
      for (const auto& c : Member(*doc, "containers")->GetArray()) add(*Member(c, "usage"));
    } else {
      add(*Member(*doc, "usage"));
    }
    w.StartObject();
    w.Key("cells");
    w.StartArray();
    std::string name = Meta(*doc, "name"), c = cpu.String(), m = mem.String();
    std::string window(GetString(*doc, "window").value_or(""));
    for (const std::string* v : {&name, &c, &m, &window}) w.String(v->c_str(), static_cast<rapidjson::SizeType>(v->size()));
    w.EndArray();
    w.Key("object");
    w.StartObject();
    Str(w, "kind", "PartialObjectMetadata");
    Str(w, "apiVersion", "meta.k8s.io/v1");
    w.Key("metadata");
    Member(*doc, "metadata")->Accept(w);
    w.EndObject();
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return std::string(b.GetString(), b.GetSize());
}

}  // namespace

StatusOr<std::string> MetricsApi::Handle(const RequestInfo& ri, const std::string& ls, const std::string& fs,
                                         bool table) {
  if (ri.verb != "get" && ri.verb != "list") return api::MethodNotSupportedError(kGroup, ri.resource, ri.verb);
  if (!ri.subresource.empty()) return Status::NotFound("the server could not find the requested resource");
  Activate();
  bool pods = ri.resource == "pods";
  auto items = pods ? PodMetrics(ri, ls, fs) : NodeMetrics(ri, ls, fs);
  if (!items.ok()) return items.error();
  if (table) return TableJson(*items, pods);
  if (!ri.name.empty()) {
    // A single object: with its type.
    std::string& one = (*items)[0];
    return std::string("{\"kind\":\"") + (pods ? "PodMetrics" : "NodeMetrics") + "\",\"apiVersion\":\"" +
           kApiVersion + "\"," + one.substr(1);
  }
  return ListJson(pods ? "PodMetricsList" : "NodeMetricsList", *items);
}

StatusOr<std::vector<std::string>> MetricsApi::NodeMetrics(const RequestInfo& ri, const std::string& ls,
                                                           const std::string& fs) {
  std::vector<std::string> out;
  if (!ri.name.empty()) {
    ObjectPtr node = objects_.Node(ri.name);
    if (!node) return api::NotFoundError("", "node", ri.name);
    std::string one;
    if (!AppendNode(*node->object, true, &one)) return api::NotFoundError(kGroup, "nodes", ri.name);
    out.push_back(std::move(one));
    return out;
  }
  auto filter = MakeListFilter(CoreInfo("nodes"), ls, fs);
  if (!filter.ok()) return filter.error();
  std::vector<ObjectPtr> nodes = objects_.Nodes();
  std::sort(nodes.begin(), nodes.end(),
            [](const ObjectPtr& a, const ObjectPtr& b) { return Meta(*a->object, "name") < Meta(*b->object, "name"); });
  for (const auto& n : nodes) {
    if (!(*filter)(*n->object)) continue;
    std::string item;
    if (AppendNode(*n->object, true, &item)) out.push_back(std::move(item));
  }
  return out;
}

StatusOr<std::vector<std::string>> MetricsApi::PodMetrics(const RequestInfo& ri, const std::string& ls,
                                                          const std::string& fs) {
  std::vector<std::string> out;
  if (!ri.name.empty()) {
    ObjectPtr pod = objects_.Pod(ri.namespace_, ri.name);
    if (!pod) return api::NotFoundError("", "pods", ri.name);
    std::string one;
    if (!AppendPod(*pod->object, true, &one)) return api::NotFoundError(kGroup, "pods", ri.namespace_ + "/" + ri.name);
    out.push_back(std::move(one));
    return out;
  }
  auto filter = MakeListFilter(CoreInfo("pods"), ls, fs);
  if (!filter.ok()) return filter.error();
  std::vector<ObjectPtr> pods = objects_.Pods(ri.namespace_);
  std::sort(pods.begin(), pods.end(), [](const ObjectPtr& a, const ObjectPtr& b) {
    std::string na = Meta(*a->object, "namespace"), nb = Meta(*b->object, "namespace");
    return na != nb ? na < nb : Meta(*a->object, "name") < Meta(*b->object, "name");
  });
  for (const auto& p : pods) {
    if (!(*filter)(*p->object)) continue;
    std::string item;
    if (AppendPod(*p->object, true, &item)) out.push_back(std::move(item));
  }
  return out;
}

}  // namespace minik::server
