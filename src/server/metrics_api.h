// metrics.k8s.io/v1beta1, built into the API server (upstream needs metrics-server and an
// APIService): NodeMetrics and PodMetrics, shaped and computed as metrics-server does, so that
// `kubectl top nodes|pods` (and anything else reading the resource metrics API) works.
//
//   GET /apis/metrics.k8s.io/v1beta1/nodes[/<name>]
//   GET /apis/metrics.k8s.io/v1beta1/pods
//   GET /apis/metrics.k8s.io/v1beta1/namespaces/<ns>/pods[/<name>]
// with labelSelector and fieldSelector (metadata.name, metadata.namespace and the kind's own
// selectable fields) on lists.
//
// Scraping: every `resolution` the server reads each connected node's /metrics/resource over its
// tunnel (a ScrapeSource) and keeps the last two points of the node and of every container (a
// container that restarted starts over), as metrics-server's storage does; usage is the CPU rate
// between the two points (nanocores) and the last memory working set. Idle means idle: scraping
// starts with the first metrics request (a scrape at once and another first_window later, so
// that `kubectl top` has data within a second or two) and stops once no request came for
// idle_stop; its data is dropped then.
//
// Errors in metrics-server's words: a node or pod that does not exist is NotFound
// `node "x" not found` / `pods "x" not found` (its listers' texts); one without metrics yet is
// NotFound `nodes.metrics.k8s.io "x" not found` / `pods.metrics.k8s.io "ns/x" not found`.
//
// Threading: the thread of its Timers (the server's loop); the ScrapeSource calls back there.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "client/timers.h"
#include "common/status.h"
#include "server/object_store.h"
#include "server/request_info.h"

namespace minik::server {

class Streaming;
class NodeProxy;

// Where node statistics come from.
class ScrapeSource {
 public:
  virtual ~ScrapeSource() = default;
  // The nodes that can be scraped now (their agent is connected).
  virtual std::vector<std::string> Nodes() = 0;
  // The node's /metrics/resource text.
  virtual void Scrape(const std::string& node, std::function<void(StatusOr<std::string>)> done) = 0;
};
// Through the agents' tunnels.
std::unique_ptr<ScrapeSource> NewTunnelScrapeSource(Streaming& streaming, NodeProxy& proxy);

// The nodes and pods the API knows (metrics exist only for those).
class MetricsObjects {
 public:
  virtual ~MetricsObjects() = default;
  virtual ObjectPtr Node(const std::string& name) const = 0;
  virtual std::vector<ObjectPtr> Nodes() const = 0;
  virtual ObjectPtr Pod(const std::string& ns, const std::string& name) const = 0;
  virtual std::vector<ObjectPtr> Pods(const std::string& ns) const = 0;  // "" = every namespace
};
std::unique_ptr<MetricsObjects> NewStoreMetricsObjects(const ObjectStore& store);

struct MetricsApiOptions {
  uint64_t resolution_ms = 15000;  // metrics-server's --metric-resolution default
  uint64_t first_window_ms = 1000;
  uint64_t idle_stop_ms = 10 * 60 * 1000;
};

class MetricsApi {
 public:
  MetricsApi(client::Timers& timers, MetricsObjects& objects, ScrapeSource& source, MetricsApiOptions options = {});
  ~MetricsApi();
  MetricsApi(const MetricsApi&) = delete;
  MetricsApi& operator=(const MetricsApi&) = delete;

  // A request for group metrics.k8s.io: its JSON body (200) or the error to answer. Starts
  // scraping when it is idle. table: the client asked for a meta.k8s.io/v1 Table (kubectl get),
  // given with metrics-server's columns (Name, cpu, memory, Window).
  StatusOr<std::string> Handle(const RequestInfo& ri, const std::string& label_selector,
                               const std::string& field_selector, bool table = false);

  // Scrapes every node now (tests; the timers call it otherwise).
  void ScrapeAll();
  bool active() const { return active_; }
  size_t scrapes_in_flight() const { return in_flight_.size(); }

 private:
  struct Point {
    int64_t start_ms = 0;  // container start (0 = unknown)
    int64_t time_ms = 0;
    uint64_t cpu_ns = 0;   // cumulative
    uint64_t memory = 0;   // working set bytes
  };
  struct Series {
    std::optional<Point> last, prev;
  };
  struct NodeData {
    Series node;
    // "ns/pod" -> container -> points
    std::map<std::string, std::map<std::string, Series>> pods;
  };

  void Activate();
  void Tick();
  void Store(const std::string& node, const std::string& text);
  // The matching objects' JSON (list items without kind and apiVersion).
  StatusOr<std::vector<std::string>> NodeMetrics(const RequestInfo& ri, const std::string& ls, const std::string& fs);
  StatusOr<std::vector<std::string>> PodMetrics(const RequestInfo& ri, const std::string& ls, const std::string& fs);
  // Appends the object (without kind/apiVersion when in a list); false when there are no metrics.
  bool AppendNode(const JsonValue& node, bool in_list, std::string* out) const;
  bool AppendPod(const JsonValue& pod, bool in_list, std::string* out) const;

  client::Timers& timers_;
  MetricsObjects& objects_;
  ScrapeSource& source_;
  MetricsApiOptions options_;
  bool active_ = false;
  int64_t last_request_ms_ = 0;
  http::HandlePtr timer_;
  std::map<std::string, NodeData> nodes_;
  std::map<std::string, uint64_t> in_flight_;  // node -> scrape generation
  uint64_t generation_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// Go's time.Duration.String() of a whole number of milliseconds ("15.012s", "1m0s", "500ms").
std::string GoDurationMs(int64_t ms);

}  // namespace minik::server
