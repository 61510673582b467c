// The HPA controller on fake metrics, a fake scale subresource and a simulated clock: scale up
// (limited by the scale-up rate), the 10 % tolerance, the 300 s downscale stabilization,
// spec.behavior policies, missing metrics, missing pods.
#include "server/controllers/horizontal_pod_autoscaler.h"

#include <algorithm>

#include "fixture.h"

namespace minik::controllers {
namespace {

using testing::Bench;
using testing::Json;

// The scale subresource of Deployments kept in memory; updates are recorded.
class FakeScales final : public ScaleClient {
 public:
  void Set(const std::string& ns, const std::string& name, int64_t replicas, const std::string& selector) {
    scales_[ns + "/" + name] = {replicas, selector};
  }
  int64_t Replicas(const std::string& ns, const std::string& name) { return scales_[ns + "/" + name].first; }
  void GetScale(const client::ResourceRef& res, const std::string& ns, const std::string& name,
                client::ObjectCallback cb) override {
    auto it = scales_.find(ns + "/" + name);
    if (it == scales_.end()) return cb(Status::NotFound(res.GroupResource() + " \"" + name + "\" not found"));
    cb(Json(R"({"kind":"Scale","apiVersion":"autoscaling/v1","metadata":{"name":")" + name + R"(","namespace":")" + ns +
            R"(","resourceVersion":"7"},"spec":{"replicas":)" + std::to_string(it->second.first) +
            R"(},"status":{"replicas":)" + std::to_string(it->second.first) + R"(,"selector":")" + it->second.second +
            R"("}})"));
  }
  void UpdateScale(const client::ResourceRef& res, const std::string& ns, const JsonValue& scale,
                   client::ObjectCallback cb) override {
    std::string name(client::MetaString(scale, "name"));
    int64_t replicas = GetInt(*Member(scale, "spec"), "replicas").value_or(-1);
    updates.push_back("update " + res.plural + "/scale " + ns + "/" + name + " replicas=" + std::to_string(replicas));
    scales_[ns + "/" + name].first = replicas;
    JsonDoc d;
    d.CopyFrom(scale, d.GetAllocator());
    cb(std::move(d));
  }
  std::vector<std::string> updates;

 private:
  std::map<std::string, std::pair<int64_t, std::string>> scales_;
};

struct Setup {
  Bench b;
  std::shared_ptr<FakeMetricsSource> metrics = std::make_shared<FakeMetricsSource>();
  std::shared_ptr<FakeScales> scales = std::make_shared<FakeScales>();
  ControllerPtr c = NewHorizontalPodAutoscalerController(b.ctx, metrics, scales);
  std::vector<std::string> events;

  void Hpa(const std::string& extra_spec = "", int64_t min = 1, int64_t max = 10, const std::string& target =
                                                                                      R"({"type":"Utilization","averageUtilization":60})") {
    b.Seed(kHorizontalPodAutoscalers,
           R"({"apiVersion":"autoscaling/v2","kind":"HorizontalPodAutoscaler","metadata":{"name":"web","namespace":"default"},"spec":{"scaleTargetRef":{"apiVersion":"apps/v1","kind":"Deployment","name":"web"},"minReplicas":)" +
               std::to_string(min) + R"(,"maxReplicas":)" + std::to_string(max) +
               R"(,"metrics":[{"type":"Resource","resource":{"name":"cpu","target":)" + target + "}}]" + extra_spec + "}}");
  }
  // n running, ready pods requesting 100m of CPU, started a day ago.
  void Pods(int n, int64_t cpu_milli_each, int with_metrics = -1) {
    scales->Set("default", "web", n, "app=web");
    for (int i = 0; i < n; ++i) {
      std::string name = "web-" + std::to_string(i);
      b.Seed(kPods, R"({"metadata":{"name":")" + name +
                        R"(","namespace":"default","labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"i","resources":{"requests":{"cpu":"100m","memory":"64Mi"}}}]},"status":{"phase":"Running","startTime":"2025-12-31T00:00:00Z","conditions":[{"type":"Ready","status":"True","lastTransitionTime":"2025-12-31T00:00:10Z"}]}})");
      if (with_metrics < 0 || i < with_metrics) SetMetric(name, cpu_milli_each);
    }
  }
  void SetMetric(const std::string& pod, int64_t milli) {
    metrics->Set("default", pod, "cpu", PodMetric{b.clock().Now(), 30000, milli});
  }
  void SetAll(int n, int64_t milli) {
    for (int i = 0; i < n; ++i) SetMetric("web-" + std::to_string(i), milli);
  }
  // Reconciles; returns the writes (scale updates first, then API writes).
  std::vector<std::string> Sync() {
    b.Sync();
    b.TakeWrites();
    scales->updates.clear();
    REQUIRE(b.Reconcile(*c, "default/web").ok());
    std::vector<std::string> out = scales->updates;
    for (auto& e : b.EventReasons()) events.push_back(e);
    for (auto& w : b.TakeWrites()) out.push_back(w);
    return out;
  }
  const JsonValue& Status() {
    auto h = b.api.Find(kHorizontalPodAutoscalers, "default", "web");
    return *Member(*h, "status");
  }
  std::string Cond(const std::string& type) {
    const JsonValue* c = FindCondition(Status(), type);
    return c ? std::string(GetString(*c, "status").value_or("")) + " " + std::string(GetString(*c, "reason").value_or("")) +
                   ": " + std::string(GetString(*c, "message").value_or(""))
             : "<none>";
  }
  bool HasEvent(const std::string& e) { return std::find(events.begin(), events.end(), e) != events.end(); }
};

TEST_CASE("scale up from high CPU utilization, limited to max(2x, 4) without behavior") {
  Setup s;
  s.Hpa();
  s.Pods(2, 180);  // 180 % of the request, target 60 %: 6 wanted
  CHECK(s.Sync() == std::vector<std::string>{"update deployments/scale default/web replicas=4",
                                              "update horizontalpodautoscalers/status default/web"});
  CHECK(s.HasEvent("SuccessfulRescale: New size: 4; reason: cpu resource utilization (percentage of request) above target"));
  const JsonValue& st = s.Status();
  CHECK(GetInt(st, "currentReplicas").value_or(0) == 2);
  CHECK(GetInt(st, "desiredReplicas").value_or(0) == 4);
  CHECK(GetString(st, "lastScaleTime").value_or("") == FormatRFC3339(s.b.clock().Now()));
  CHECK(ToJson(*Member(st, "currentMetrics")) ==
        R"([{"type":"Resource","resource":{"name":"cpu","current":{"averageValue":"180m","averageUtilization":180}}}])");
  CHECK(s.Cond("AbleToScale") == "True SucceededRescale: the HPA controller was able to update the target scale to 4");
  CHECK(s.Cond("ScalingActive") ==
        "True ValidMetricFound: the HPA was able to successfully calculate a replica count from cpu resource utilization "
        "(percentage of request)");
  CHECK(s.Cond("ScalingLimited") ==
        "True ScaleUpLimit: the desired replica count is increasing faster than the maximum scale rate");
  CHECK(s.scales->Replicas("default", "web") == 4);
}

TEST_CASE("within the 10 % tolerance nothing scales and an unchanged status is not written again") {
  Setup s;
  s.Hpa();
  s.Pods(3, 65);  // 65 % against 60 %: ratio 1.083
  CHECK(s.Sync() == std::vector<std::string>{"update horizontalpodautoscalers/status default/web"});
  CHECK(GetInt(s.Status(), "desiredReplicas").value_or(0) == 3);
  CHECK(s.Cond("AbleToScale") == "True ReadyForNewScale: recommended size matches current size");
  CHECK(s.Cond("ScalingLimited") == "False DesiredWithinRange: the desired count is within the acceptable range");
  CHECK(Member(s.Status(), "lastScaleTime") == nullptr);
  s.b.Advance(15000);
  CHECK(s.Sync().empty());
  // 67 % is beyond the tolerance: ceil(1.1166 * 3) = 4.
  s.SetAll(3, 67);
  CHECK(s.Sync() == std::vector<std::string>{"update deployments/scale default/web replicas=4",
                                              "update horizontalpodautoscalers/status default/web"});
}

TEST_CASE("scale down waits for the 300 s stabilization window") {
  Setup s;
  s.Hpa();
  s.Pods(4, 10);  // 10 % against 60 %: 1 wanted
  CHECK(s.Sync() == std::vector<std::string>{"update horizontalpodautoscalers/status default/web"});
  CHECK(s.Cond("AbleToScale") ==
        "True ScaleDownStabilized: recent recommendations were higher than current one, applying the highest recent "
        "recommendation");
  CHECK(GetInt(s.Status(), "desiredReplicas").value_or(0) == 4);
  for (int t = 15; t <= 300; t += 15) {
    s.b.Advance(15000);
    INFO("t=" << t);
    CHECK(s.Sync().empty());
  }
  s.b.Advance(1000);
  CHECK(s.Sync() == std::vector<std::string>{"update deployments/scale default/web replicas=1",
                                              "update horizontalpodautoscalers/status default/web"});
  CHECK(s.HasEvent("SuccessfulRescale: New size: 1; reason: All metrics below target"));
}

TEST_CASE("spec.behavior: default scale-up policies (4 pods or 100 % per 15 s)") {
  Setup s;
  s.Hpa(R"(,"behavior":{"scaleDown":{"stabilizationWindowSeconds":0}})", 1, 20);
  s.Pods(1, 600);  // 10 wanted
  CHECK(s.Sync().front() == "update deployments/scale default/web replicas=5");
  CHECK(s.Cond("ScalingLimited") ==
        "True ScaleUpLimit: the desired replica count is increasing faster than the maximum scale rate");
  // The scale now has 5 replicas; the new pods have no metrics yet and count as 0 % on a
  // scale-up, so the recommendation is ceil(6 * 600/60 / ... ) -- but within the same 15 s the
  // rate allows nothing more.
  for (int i = 1; i < 5; ++i) {
    s.b.Seed(kPods, R"({"metadata":{"name":"web-)" + std::to_string(i) +
                        R"(","namespace":"default","labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"i","resources":{"requests":{"cpu":"100m"}}}]},"status":{"phase":"Running","startTime":"2025-12-31T00:00:00Z","conditions":[{"type":"Ready","status":"True","lastTransitionTime":"2025-12-31T00:00:10Z"}]}})");
    s.SetMetric("web-" + std::to_string(i), 600);
  }
  s.b.Advance(5000);
  auto w = s.Sync();
  CHECK(std::find(w.begin(), w.end(), "update deployments/scale default/web replicas=5") == w.end());
  CHECK(std::none_of(w.begin(), w.end(), [](const std::string& x) { return x.find("/scale") != std::string::npos; }));
  s.b.Advance(10001);
  CHECK(s.Sync().front() == "update deployments/scale default/web replicas=10");
}

TEST_CASE("spec.behavior: scale-down policy of 1 pod per 60 s") {
  Setup s;
  s.Hpa(R"(,"behavior":{"scaleDown":{"stabilizationWindowSeconds":0,"policies":[{"type":"Pods","value":1,"periodSeconds":60}]}})");
  s.Pods(4, 10);
  CHECK(s.Sync().front() == "update deployments/scale default/web replicas=3");
  CHECK(s.Cond("ScalingLimited") ==
        "True ScaleDownLimit: the desired replica count is decreasing faster than the maximum scale rate");
  s.b.Advance(30000);
  auto w = s.Sync();
  CHECK(std::none_of(w.begin(), w.end(), [](const std::string& x) { return x.find("/scale") != std::string::npos; }));
  s.b.Advance(30001);
  CHECK(s.Sync().front() == "update deployments/scale default/web replicas=2");
}

TEST_CASE("no metrics: FailedGetResourceMetric and ScalingActive False") {
  Setup s;
  s.Hpa();
  s.Pods(2, 0, 0);
  CHECK(s.Sync() == std::vector<std::string>{"update horizontalpodautoscalers/status default/web"});
  CHECK(s.HasEvent("FailedGetResourceMetric: failed to get cpu utilization: unable to get metrics for resource cpu: no "
                   "metrics returned from resource metrics API"));
  CHECK(s.HasEvent("FailedComputeMetricsReplicas: invalid metrics (1 invalid out of 1), first error is: failed to get cpu "
                   "resource metric value: failed to get cpu utilization: unable to get metrics for resource cpu: no metrics "
                   "returned from resource metrics API"));
  CHECK(s.Cond("ScalingActive") ==
        "False FailedGetResourceMetric: the HPA was unable to compute the replica count: failed to get cpu utilization: "
        "unable to get metrics for resource cpu: no metrics returned from resource metrics API");
  CHECK(s.Cond("AbleToScale") == "True SucceededGetScale: the HPA controller was able to get the target's current scale");
  CHECK(ToJson(*Member(s.Status(), "currentMetrics")) == R"([{"type":""}])");
  CHECK(GetInt(s.Status(), "currentReplicas").value_or(0) == 2);
}

TEST_CASE("pods without metrics count as 0 % on a scale-up; AverageValue targets") {
  Setup s;
  s.Hpa("", 1, 10, R"({"type":"AverageValue","averageValue":"100m"})");
  s.Pods(4, 300, 2);  // 2 pods at 300m, 2 without metrics: (600 + 0 + 0) / 4 = 150m -> ceil(1.5 * 4) = 6
  CHECK(s.Sync().front() == "update deployments/scale default/web replicas=6");
  CHECK(ToJson(*Member(s.Status(), "currentMetrics")) ==
        R"([{"type":"Resource","resource":{"name":"cpu","current":{"averageValue":"300m"}}}])");
  CHECK(s.HasEvent("SuccessfulRescale: New size: 6; reason: cpu resource above target"));
}

TEST_CASE("a missing scale target: FailedGetScale") {
  Setup s;
  s.Hpa();
  CHECK(s.Sync() == std::vector<std::string>{"update horizontalpodautoscalers/status default/web"});
  CHECK(s.Cond("AbleToScale") ==
        "False FailedGetScale: the HPA controller was unable to get the target's current scale: deployments.apps \"web\" not found");
}

}  // namespace
}  // namespace minik::controllers
