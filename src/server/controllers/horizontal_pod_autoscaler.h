// The HorizontalPodAutoscaler controller (upstream pkg/controller/podautoscaler, v1.32), for
// autoscaling/v2 objects with Resource metrics (cpu, memory, any pod resource) whose target is
// Utilization (percent of the pods' requests) or AverageValue:
//
//   - every 15 s per HPA (the sync period, a delayed key of the work queue): GET the target's
//     scale subresource, compute the replicas upstream's way (ReplicaCalculator: 10 % tolerance,
//     pending and unready pods, pods without metrics counted as 0 % on a scale-up and 100 % on a
//     scale-down, re-checked so that they never reverse the direction), clamp to
//     min/maxReplicas, stabilize and rate-limit (spec.behavior, or upstream's legacy rules when it
//     is absent: scale-down stabilization 300 s, scale-up at most max(2x, 4)), and UPDATE the
//     scale subresource;
//   - status: currentReplicas, desiredReplicas, lastScaleTime, currentMetrics, and the conditions
//     AbleToScale, ScalingActive and ScalingLimited with upstream's reasons and messages, written
//     through horizontalpodautoscalers/status only when it changed;
//   - events (source horizontal-pod-autoscaler): SuccessfulRescale "New size: 3; reason: cpu
//     resource utilization (percentage of request) above target", FailedRescale, FailedGetScale,
//     FailedGetResourceMetric, FailedComputeMetricsReplicas, SelectorRequired, InvalidSelector,
//     AmbiguousSelector.
//   Pods, Object, External and ContainerResource metrics are reported as failing (no custom or
//   external metrics API).
//
// Metrics come from a MetricsSource (the agent's metrics later; FakeMetricsSource in tests).
// The scale subresource goes through a ScaleClient: ApiScaleClient over the ApiClient in
// production, a fake in tests.
//
// Informers: horizontalpodautoscalers, pods. Keys: "ns/name" of an HPA.
//
// Threading: the loop thread (see controller.h); a MetricsSource and a ScaleClient are called
// on that thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <tuple>

#include "api/labels.h"
#include "client/api_client.h"
#include "common/clock.h"
#include "common/status.h"
#include "server/controllers/controller.h"

namespace minik::controllers {

// One pod's usage of a resource, as metrics.k8s.io reports it.
struct PodMetric {
  TimePoint timestamp;     // when the sample was taken
  int64_t window_ms = 0;   // the window it averages over
  int64_t milli_value = 0; // millicores for cpu, milli-units (e.g. milli-bytes) otherwise
};

class MetricsSource {
 public:
  virtual ~MetricsSource() = default;
  // The metrics of the pods of namespace ns matching selector, by pod name, for resource
  // ("cpu", "memory", ...). An error when the metrics cannot be read.
  virtual StatusOr<std::map<std::string, PodMetric>> PodMetrics(const std::string& ns, const api::LabelSelector& selector,
                                                                const std::string& resource) = 0;
};

// Metrics set by tests.
class FakeMetricsSource final : public MetricsSource {
 public:
  void Set(const std::string& ns, const std::string& pod, const std::string& resource, PodMetric m) {
    metrics_[{ns, resource}][pod] = m;
  }
  void Clear() { metrics_.clear(); }
  void SetError(Status st) { error_ = std::move(st); }
  StatusOr<std::map<std::string, PodMetric>> PodMetrics(const std::string& ns, const api::LabelSelector& selector,
                                                        const std::string& resource) override;
  int calls() const { return calls_; }

 private:
  std::map<std::pair<std::string, std::string>, std::map<std::string, PodMetric>> metrics_;
  Status error_;
  int calls_ = 0;
};

// The scale subresource (autoscaling/v1 Scale objects) of a target.
class ScaleClient {
 public:
  virtual ~ScaleClient() = default;
  virtual void GetScale(const client::ResourceRef& res, const std::string& ns, const std::string& name,
                        client::ObjectCallback cb) = 0;
  virtual void UpdateScale(const client::ResourceRef& res, const std::string& ns, const JsonValue& scale,
                           client::ObjectCallback cb) = 0;
};

// GET .../<name>/scale and PUT .../<name>/scale through the ApiClient.
class ApiScaleClient final : public ScaleClient {
 public:
  explicit ApiScaleClient(client::ApiClient& client) : client_(client) {}
  void GetScale(const client::ResourceRef& res, const std::string& ns, const std::string& name,
                client::ObjectCallback cb) override;
  void UpdateScale(const client::ResourceRef& res, const std::string& ns, const JsonValue& scale,
                   client::ObjectCallback cb) override;

 private:
  client::ApiClient& client_;
};

struct HorizontalPodAutoscalerOptions {
  int64_t sync_period_ms = 15000;                     // --horizontal-pod-autoscaler-sync-period
  double tolerance = 0.1;                             // --horizontal-pod-autoscaler-tolerance
  int64_t downscale_stabilization_ms = 300000;        // --horizontal-pod-autoscaler-downscale-stabilization
  int64_t cpu_initialization_period_ms = 300000;      // --horizontal-pod-autoscaler-cpu-initialization-period
  int64_t initial_readiness_delay_ms = 30000;         // --horizontal-pod-autoscaler-initial-readiness-delay
};

ControllerPtr NewHorizontalPodAutoscalerController(Context ctx, std::shared_ptr<MetricsSource> metrics);
ControllerPtr NewHorizontalPodAutoscalerController(Context ctx, std::shared_ptr<MetricsSource> metrics,
                                                   std::shared_ptr<ScaleClient> scales,
                                                   HorizontalPodAutoscalerOptions options = {});

}  // namespace minik::controllers
