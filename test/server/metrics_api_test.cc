// The built-in metrics.k8s.io API on a simulated clock, with fake nodes and pods and a fake scrape
// source serving /metrics/resource texts: scraping on demand, two points per series, CPU rates,
// container restarts, metrics-server's objects and errors, selectors, and going idle.
#include "server/metrics_api.h"

#include <catch2/catch.hpp>
#include <map>

#include "api/quantity.h"
#include "api/registry.h"
#include "common/json.h"
#include "common/prometheus.h"

using namespace minik;
using namespace minik::server;

namespace {

ObjectPtr Obj(const std::string& key, const std::string& json) {
  auto doc = ParseJson(json);
  REQUIRE(doc.ok());
  return MakeStoredObject(key, 1, std::make_shared<JsonDoc>(std::move(*doc)));
}

class FakeObjects final : public MetricsObjects {
 public:
  std::map<std::string, ObjectPtr> nodes;
  std::map<std::string, ObjectPtr> pods;  // "ns/name"
  void AddNode(const std::string& name, const std::string& labels = "{}") {
    nodes[name] = Obj("/nodes/" + name, "{\"metadata\":{\"name\":\"" + name + "\",\"labels\":" + labels + "}}");
  }
  void AddPod(const std::string& ns, const std::string& name, const std::string& node, const std::string& labels = "{}") {
    pods[ns + "/" + name] = Obj("/pods/" + ns + "/" + name,
                                "{\"metadata\":{\"name\":\"" + name + "\",\"namespace\":\"" + ns +
                                    "\",\"labels\":" + labels + "},\"spec\":{\"nodeName\":\"" + node + "\"}}");
  }
  ObjectPtr Node(const std::string& name) const override {
    auto it = nodes.find(name);
    return it == nodes.end() ? nullptr : it->second;
  }
  std::vector<ObjectPtr> Nodes() const override {
    std::vector<ObjectPtr> out;
    for (auto& [k, v] : nodes) out.push_back(v);
    return out;
  }
  ObjectPtr Pod(const std::string& ns, const std::string& name) const override {
    auto it = pods.find(ns + "/" + name);
    return it == pods.end() ? nullptr : it->second;
  }
  std::vector<ObjectPtr> Pods(const std::string& ns) const override {
    std::vector<ObjectPtr> out;
    for (auto& [k, v] : pods) {
      if (ns.empty() || k.rfind(ns + "/", 0) == 0) out.push_back(v);
    }
    return out;
  }
};

// One node's counters, rendered as the agent's /metrics/resource.
struct FakeNode {
  double cpu_s = 100;
  double mem = 1 << 30;
  struct Ctr {
    std::string ns, pod, name;
    double cpu_s, mem, start_s;
  };
  std::vector<Ctr> ctrs;
  std::string Text(int64_t now_ms) const {
    std::string out;
    for (const auto& c : ctrs) {
      prom::Labels l{{"container", c.name}, {"namespace", c.ns}, {"pod", c.pod}};
      prom::AppendSample(&out, "container_cpu_usage_seconds_total", l, c.cpu_s, now_ms);
      prom::AppendSample(&out, "container_memory_working_set_bytes", l, c.mem, now_ms);
      prom::AppendSample(&out, "container_start_time_seconds", l, c.start_s);
    }
    prom::AppendSample(&out, "node_cpu_usage_seconds_total", {}, cpu_s, now_ms);
    prom::AppendSample(&out, "node_memory_working_set_bytes", {}, mem, now_ms);
    return out;
  }
};

class FakeSource final : public ScrapeSource {
 public:
  explicit FakeSource(const Clock& clock) : clock_(clock) {}
  std::map<std::string, FakeNode> nodes;
  std::map<std::string, bool> failing;
  int scrapes = 0;
  bool hold = false;  // answers wait in pending
  std::vector<std::function<void()>> pending;
  std::vector<std::string> Nodes() override {
    std::vector<std::string> out;
    for (auto& [k, v] : nodes) out.push_back(k);
    return out;
  }
  void Scrape(const std::string& node, std::function<void(StatusOr<std::string>)> done) override {
    ++scrapes;
    StatusOr<std::string> r = failing[node] ? StatusOr<std::string>(Status::Unavailable("error trying to reach service"))
                                            : StatusOr<std::string>(nodes[node].Text(NowMs()));
    if (hold) pending.push_back([done, r]() { done(r); });
    else done(r);
  }
  int64_t NowMs() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(clock_.Now().time_since_epoch()).count();
  }

 private:
  const Clock& clock_;
};

RequestInfo Ri(const std::string& resource, const std::string& ns = "", const std::string& name = "",
               const std::string& verb = "") {
  RequestInfo ri;
  ri.is_resource = true;
  ri.group = "metrics.k8s.io";
  ri.version = "v1beta1";
  ri.resource = resource;
  ri.namespace_ = ns;
  ri.name = name;
  ri.verb = verb.empty() ? (name.empty() ? "list" : "get") : verb;
  ri.info = api::Registry::Builtin().Find("metrics.k8s.io", "v1beta1", resource);
  return ri;
}

struct Fixture {
  client::FakeTimers timers;
  FakeObjects objects;
  FakeSource source{timers.clock()};
  MetricsApiOptions opts;
  std::unique_ptr<MetricsApi> api;
  Fixture() {
    opts.resolution_ms = 15000;
    opts.first_window_ms = 1000;
    opts.idle_stop_ms = 60000;
    objects.AddNode("node-a", "{\"kubernetes.io/hostname\":\"node-a\"}");
    objects.AddNode("node-b");
    objects.AddPod("default", "burn", "node-a", "{\"app\":\"burn\"}");
    objects.AddPod("default", "idle", "node-a", "{\"app\":\"idle\"}");
    objects.AddPod("kube-system", "dns", "node-b");
    source.nodes["node-a"].ctrs = {{"default", "burn", "main", 10, 2 << 20, 1767225000},
                                   {"default", "idle", "app", 0.01, 1 << 20, 1767225000},
                                   {"default", "idle", "sidecar", 0.02, 3 << 20, 1767225000}};
    source.nodes["node-b"].ctrs = {{"kube-system", "dns", "dns", 1, 5 << 20, 1767225000}};
    api = std::make_unique<MetricsApi>(timers, objects, source, opts);
  }
  // Lets time pass while every container of node-a burns `cores` more on "burn".
  void Run(int64_t ms, double burn_cores) {
    for (int64_t t = 0; t < ms; t += 500) {
      // The counters as they will be at the end of this half second, then the clock.
      for (auto& [name, n] : source.nodes) {
        n.cpu_s += 0.5 * (burn_cores + 0.1);
        for (auto& c : n.ctrs) c.cpu_s += c.pod == "burn" ? 0.5 * burn_cores : 0.0005;
      }
      timers.Advance(std::chrono::milliseconds(500));
    }
  }
  JsonDoc Get(const RequestInfo& ri, const std::string& ls = "", const std::string& fs = "") {
    auto r = api->Handle(ri, ls, fs);
    REQUIRE(r.ok());
    auto d = ParseJson(*r);
    REQUIRE(d.ok());
    return std::move(*d);
  }
};

std::string S(const JsonValue& v, std::initializer_list<std::string_view> path) {
  const JsonValue* p = Path(v, path);
  REQUIRE(p != nullptr);
  return std::string(p->GetString(), p->GetStringLength());
}

// A CPU quantity in nanocores (the counters are doubles, as in the text format: allow rounding).
int64_t Nano(const std::string& q) {
  auto v = api::ParseQuantity(q);
  REQUIRE(v.ok());
  return *v->ScaledValue(-9);
}

}  // namespace

TEST_CASE("metrics API: nothing is scraped before someone asks, then two points give usage") {
  Fixture f;
  f.timers.Advance(std::chrono::seconds(60));
  CHECK(f.source.scrapes == 0);
  CHECK(f.timers.timers() == 0);
  CHECK_FALSE(f.api->active());

  // The first request starts scraping; no metrics yet (one point), as metrics-server right after start.
  auto first = f.Get(Ri("nodes"));
  CHECK((*Member(first, "items")).Size() == 0);
  CHECK(f.source.scrapes == 2);  // both nodes at once
  auto miss = f.api->Handle(Ri("nodes", "", "node-a"), "", "");
  REQUIRE_FALSE(miss.ok());
  CHECK(miss.error().IsNotFound());
  CHECK(miss.error().message() == "nodes.metrics.k8s.io \"node-a\" not found");

  // A second scrape first_window later: usage over that window.
  f.Run(1000, 0.9);
  CHECK(f.source.scrapes == 4);
  auto n = f.Get(Ri("nodes", "", "node-a"));
  CHECK(S(n, {"kind"}) == "NodeMetrics");
  CHECK(S(n, {"apiVersion"}) == "metrics.k8s.io/v1beta1");
  CHECK(S(n, {"metadata", "name"}) == "node-a");
  CHECK(S(n, {"metadata", "labels", "kubernetes.io/hostname"}) == "node-a");
  CHECK(S(n, {"window"}) == "1s");
  CHECK(S(n, {"usage", "cpu"}) == "1");  // 0.9 + 0.1 cores
  CHECK(S(n, {"usage", "memory"}) == "1Gi");
  CHECK(S(n, {"timestamp"}) == "2026-01-01T00:01:01Z");
  CHECK(Path(n, {"metadata", "creationTimestamp"}) != nullptr);

  // Then every resolution.
  f.Run(15000, 0.5);
  CHECK(f.source.scrapes == 6);
  n = f.Get(Ri("nodes", "", "node-a"));
  CHECK(S(n, {"window"}) == "15s");
  CHECK(Nano(S(n, {"usage", "cpu"})) == Approx(600000000).margin(2));

  auto list = f.Get(Ri("nodes"));
  CHECK(S(list, {"kind"}) == "NodeMetricsList");
  REQUIRE((*Member(list, "items")).Size() == 2);
  const JsonValue& item = (*Member(list, "items"))[0];
  CHECK(Member(item, "kind") == nullptr);  // list items carry no type
  CHECK(S(item, {"metadata", "name"}) == "node-a");
  CHECK(S((*Member(list, "items"))[1], {"metadata", "name"}) == "node-b");
}

TEST_CASE("metrics API: pods and containers as metrics-server shows them") {
  Fixture f;
  (void)f.api->Handle(Ri("pods"), "", "");
  f.Run(1000, 0.9);
  f.Run(15000, 0.8);
  auto p = f.Get(Ri("pods", "default", "burn"));
  CHECK(S(p, {"kind"}) == "PodMetrics");
  CHECK(S(p, {"metadata", "name"}) == "burn");
  CHECK(S(p, {"metadata", "namespace"}) == "default");
  CHECK(S(p, {"metadata", "labels", "app"}) == "burn");
  CHECK(S(p, {"window"}) == "15s");
  const JsonValue& cs = *Member(p, "containers");
  REQUIRE(cs.Size() == 1);
  CHECK(S(cs[0], {"name"}) == "main");
  CHECK(Nano(S(cs[0], {"usage", "cpu"})) == Approx(800000000).margin(2));
  CHECK(S(cs[0], {"usage", "memory"}) == "2Mi");

  auto idle = f.Get(Ri("pods", "default", "idle"));
  const JsonValue& ic = *Member(idle, "containers");
  REQUIRE(ic.Size() == 2);
  CHECK(S(ic[0], {"name"}) == "app");
  CHECK(S(ic[0], {"usage", "cpu"}) == "1m");  // 0.0005 s per 500 ms
  CHECK(S(ic[1], {"name"}) == "sidecar");
  CHECK(S(ic[1], {"usage", "memory"}) == "3Mi");

  // Lists: one namespace, every namespace, label and field selectors.
  auto ns = f.Get(Ri("pods", "default"));
  CHECK(S(ns, {"kind"}) == "PodMetricsList");
  CHECK((*Member(ns, "items")).Size() == 2);
  auto all = f.Get(Ri("pods"));
  REQUIRE((*Member(all, "items")).Size() == 3);
  CHECK(S((*Member(all, "items"))[2], {"metadata", "namespace"}) == "kube-system");
  auto sel = f.Get(Ri("pods", "default"), "app=idle");
  REQUIRE((*Member(sel, "items")).Size() == 1);
  CHECK(S((*Member(sel, "items"))[0], {"metadata", "name"}) == "idle");
  auto by_name = f.Get(Ri("pods"), "", "metadata.name=dns");
  REQUIRE((*Member(by_name, "items")).Size() == 1);
  CHECK(S((*Member(by_name, "items"))[0], {"metadata", "namespace"}) == "kube-system");
  CHECK(f.api->Handle(Ri("pods"), "app in (", "").error().code() == Code::kBadRequest);

  // Errors in metrics-server's words.
  auto nosuch = f.api->Handle(Ri("pods", "default", "nosuch"), "", "");
  REQUIRE_FALSE(nosuch.ok());
  CHECK(nosuch.error().message() == "pods \"nosuch\" not found");
  auto nonode = f.api->Handle(Ri("nodes", "", "nosuch"), "", "");
  CHECK(nonode.error().message() == "node \"nosuch\" not found");
  f.objects.AddPod("default", "new", "node-a");
  auto nometrics = f.api->Handle(Ri("pods", "default", "new"), "", "");
  CHECK(nometrics.error().IsNotFound());
  CHECK(nometrics.error().message() == "pods.metrics.k8s.io \"default/new\" not found");
  auto watch = f.api->Handle(Ri("pods", "default", "", "watch"), "", "");
  CHECK(watch.error().code() == Code::kMethodNotAllowed);
}

TEST_CASE("metrics API: a restarted container starts over, a failing node loses its metrics") {
  Fixture f;
  (void)f.api->Handle(Ri("pods"), "", "");
  f.Run(1000, 0.5);
  REQUIRE(f.api->Handle(Ri("pods", "default", "burn"), "", "").ok());
  // The container restarts: a new start time, its CPU counter from zero.
  auto& c = f.source.nodes["node-a"].ctrs[0];
  c.start_s = double(f.source.NowMs()) / 1000.0;
  c.cpu_s = 0.001;
  f.Run(15000, 0.5);
  CHECK(f.api->Handle(Ri("pods", "default", "burn"), "", "").error().IsNotFound());
  f.Run(15000, 0.5);
  auto p = f.Get(Ri("pods", "default", "burn"));
  CHECK(S((*Member(p, "containers"))[0], {"usage", "cpu"}) == "500m");

  f.source.failing["node-b"] = true;
  f.Run(15000, 0.5);
  CHECK(f.api->Handle(Ri("nodes", "", "node-b"), "", "").error().IsNotFound());
  CHECK(f.api->Handle(Ri("pods", "kube-system", "dns"), "", "").error().IsNotFound());
  CHECK(f.api->Handle(Ri("nodes", "", "node-a"), "", "").ok());
  // A node whose agent went away is not scraped and keeps nothing.
  f.source.nodes.erase("node-b");
  f.source.failing.clear();
  int before = f.source.scrapes;
  f.Run(15000, 0.5);
  CHECK(f.source.scrapes == before + 1);
}

TEST_CASE("metrics API: a slow node is not scraped twice at once, and scraping stops when idle") {
  Fixture f;
  f.source.hold = true;
  (void)f.api->Handle(Ri("nodes"), "", "");
  CHECK(f.api->scrapes_in_flight() == 2);
  f.Run(15000, 0);
  CHECK(f.source.scrapes == 2);  // still waiting for the first answers
  for (auto& fn : f.source.pending) fn();
  f.source.pending.clear();
  CHECK(f.api->scrapes_in_flight() == 0);
  f.source.hold = false;

  // No request for idle_stop_ms: the timer goes and the data with it.
  f.Run(60000, 0);
  CHECK_FALSE(f.api->active());
  CHECK(f.timers.timers() == 0);
  int before = f.source.scrapes;
  f.Run(60000, 0);
  CHECK(f.source.scrapes == before);
  CHECK(f.api->Handle(Ri("nodes", "", "node-a"), "", "").error().IsNotFound());
  CHECK(f.api->active());
}

TEST_CASE("metrics API: Tables for kubectl get, with metrics-server's columns") {
  Fixture f;
  auto empty = f.api->Handle(Ri("pods", "default"), "", "", /*table=*/true);
  REQUIRE(empty.ok());
  auto e = ParseJson(*empty);
  REQUIRE(e.ok());
  CHECK(Member(*e, "columnDefinitions")->IsNull());
  CHECK(Member(*e, "rows")->Size() == 0);
  f.Run(1000, 0.5);
  auto t = f.api->Handle(Ri("pods", "default"), "", "", true);
  REQUIRE(t.ok());
  auto d = ParseJson(*t);
  REQUIRE(d.ok());
  CHECK(S(*d, {"kind"}) == "Table");
  CHECK(S(*d, {"apiVersion"}) == "meta.k8s.io/v1");
  const JsonValue& cols = *Member(*d, "columnDefinitions");
  REQUIRE(cols.Size() == 4);
  CHECK(S(cols[0], {"name"}) == "Name");
  CHECK(S(cols[0], {"format"}) == "name");
  CHECK(S(cols[1], {"name"}) == "cpu");
  CHECK(S(cols[2], {"name"}) == "memory");
  CHECK(S(cols[3], {"name"}) == "Window");
  CHECK(S(cols[3], {"format"}) == "duration");
  const JsonValue& rows = *Member(*d, "rows");
  REQUIRE(rows.Size() == 2);
  const JsonValue& idle = (*Member(rows[1], "cells"));
  CHECK(std::string(idle[0].GetString()) == "idle");
  CHECK(std::string(idle[1].GetString()) == "2m");   // two containers of 1m each, summed
  CHECK(std::string(idle[2].GetString()) == "4Mi");  // 1Mi + 3Mi
  CHECK(std::string(idle[3].GetString()) == "1s");
  CHECK(S(rows[1], {"object", "kind"}) == "PartialObjectMetadata");
  CHECK(S(rows[1], {"object", "metadata", "namespace"}) == "default");
}

TEST_CASE("metrics API: Go durations") {
  CHECK(GoDurationMs(0) == "0s");
  CHECK(GoDurationMs(500) == "500ms");
  CHECK(GoDurationMs(1000) == "1s");
  CHECK(GoDurationMs(15012) == "15.012s");
  CHECK(GoDurationMs(15500) == "15.5s");
  CHECK(GoDurationMs(60000) == "1m0s");
  CHECK(GoDurationMs(3723400) == "1h2m3.4s");
}
