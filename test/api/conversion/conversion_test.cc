#include "api/conversion.h"

#include <catch2/catch.hpp>

#include <string>

namespace minik::api {
namespace {

JsonDoc Parse(std::string_view text) {
  auto doc = ParseJson(text);
  REQUIRE(doc.ok());
  return std::move(*doc);
}

std::string Converted(std::string_view text, std::string_view to) {
  JsonDoc doc = Parse(text);
  Status st = ConvertObject(doc, to);
  REQUIRE(st.ok());
  return ToJson(doc);
}

std::string Canon(std::string_view text) { return ToJson(Parse(text)); }

std::string Annotation(const JsonDoc& doc, std::string_view key) {
  const JsonValue* v = Path(doc, {"metadata", "annotations", key});
  return v && v->IsString() ? std::string(v->GetString()) : std::string("<absent>");
}

// What `kubectl autoscale deployment web --min=2 --max=5 --cpu-percent=80` POSTs.
constexpr std::string_view kAutoscaleV1 =
    R"({"kind":"HorizontalPodAutoscaler","apiVersion":"autoscaling/v1","metadata":{"name":"web","creationTimestamp":null},)"
    R"("spec":{"scaleTargetRef":{"kind":"Deployment","name":"web","apiVersion":"apps/v1"},"minReplicas":2,)"
    R"("maxReplicas":5,"targetCPUUtilizationPercentage":80},"status":{"currentReplicas":0,"desiredReplicas":0}})";

TEST_CASE("StorageVersion names v2 for HorizontalPodAutoscaler only") {
  CHECK(StorageVersion("autoscaling", "HorizontalPodAutoscaler") == "v2");
  CHECK(StorageVersion("apps", "Deployment").empty());
  CHECK(StorageVersion("", "Pod").empty());
}

TEST_CASE("kubectl autoscale's v1 object converts to v2 and back") {
  std::string v2 = Converted(kAutoscaleV1, "autoscaling/v2");
  CHECK(v2 == Canon(R"({"kind":"HorizontalPodAutoscaler","apiVersion":"autoscaling/v2",)"
                    R"("metadata":{"name":"web","creationTimestamp":null},)"
                    R"("spec":{"scaleTargetRef":{"kind":"Deployment","name":"web","apiVersion":"apps/v1"},)"
                    R"("minReplicas":2,"maxReplicas":5,"metrics":[{"type":"Resource","resource":{"name":"cpu",)"
                    R"("target":{"type":"Utilization","averageUtilization":80}}}]},)"
                    R"("status":{"desiredReplicas":0,"currentMetrics":null}})"));
  std::string v1 = Converted(v2, "autoscaling/v1");
  CHECK(v1 == Canon(kAutoscaleV1));
}

TEST_CASE("v1 defaults: minReplicas 1 and the CPU 80% metric when none is given") {
  std::string v2 = Converted(
      R"({"apiVersion":"autoscaling/v1","kind":"HorizontalPodAutoscaler","metadata":{"name":"a"},)"
      R"("spec":{"scaleTargetRef":{"kind":"Deployment","name":"web"},"maxReplicas":3}})",
      "autoscaling/v2");
  CHECK(v2 == Canon(R"({"apiVersion":"autoscaling/v2","kind":"HorizontalPodAutoscaler","metadata":{"name":"a"},)"
                    R"("spec":{"scaleTargetRef":{"kind":"Deployment","name":"web"},"minReplicas":1,"maxReplicas":3,)"
                    R"("metrics":[{"type":"Resource","resource":{"name":"cpu","target":{"type":"Utilization",)"
                    R"("averageUtilization":80}}}]},"status":{"desiredReplicas":0,"currentMetrics":null}})"));
}

// A v2 object as the API server writes it (defaulted behavior, controller-written status).
constexpr std::string_view kMemoryV2 =
    R"({"apiVersion":"autoscaling/v2","kind":"HorizontalPodAutoscaler",)"
    R"("metadata":{"name":"mem","namespace":"default","annotations":{"team":"a&b"}},)"
    R"("spec":{"scaleTargetRef":{"kind":"Deployment","name":"web","apiVersion":"apps/v1"},"minReplicas":1,)"
    R"("maxReplicas":10,"metrics":[{"type":"Resource","resource":{"name":"memory",)"
    R"("target":{"type":"AverageValue","averageValue":"500Mi"}}}],)"
    R"("behavior":{"scaleUp":{"stabilizationWindowSeconds":0,"selectPolicy":"Max","policies":[)"
    R"({"type":"Pods","value":4,"periodSeconds":15},{"type":"Percent","value":100,"periodSeconds":15}]},)"
    R"("scaleDown":{"stabilizationWindowSeconds":300,"selectPolicy":"Max","policies":[)"
    R"({"type":"Percent","value":100,"periodSeconds":15}]}}},)"
    R"("status":{"observedGeneration":3,"lastScaleTime":"2024-05-01T10:00:00Z","currentReplicas":2,)"
    R"("desiredReplicas":3,"currentMetrics":[{"type":"Resource","resource":{"name":"memory",)"
    R"("current":{"averageValue":"600Mi"}}}],"conditions":[{"type":"AbleToScale","status":"True",)"
    R"("lastTransitionTime":"2024-05-01T09:00:00Z","reason":"ReadyForNewScale",)"
    R"("message":"recommended size matches current size"}]}})";

TEST_CASE("a v2 memory metric, behavior, current metrics and conditions travel in v1 annotations") {
  JsonDoc v1 = Parse(kMemoryV2);
  REQUIRE(ConvertObject(v1, "autoscaling/v1").ok());
  CHECK(*GetString(v1, "apiVersion") == "autoscaling/v1");
  CHECK(ToJson(*Member(v1, "spec")) ==
        Canon(R"({"scaleTargetRef":{"kind":"Deployment","name":"web","apiVersion":"apps/v1"},"minReplicas":1,)"
              R"("maxReplicas":10})"));
  CHECK(ToJson(*Member(v1, "status")) ==
        Canon(R"({"observedGeneration":3,"lastScaleTime":"2024-05-01T10:00:00Z","currentReplicas":2,)"
              R"("desiredReplicas":3})"));
  CHECK(Annotation(v1, "team") == "a&b");
  CHECK(Annotation(v1, "autoscaling.alpha.kubernetes.io/metrics") ==
        R"([{"type":"Resource","resource":{"name":"memory","targetAverageValue":"500Mi"}}])");
  CHECK(Annotation(v1, "autoscaling.alpha.kubernetes.io/current-metrics") ==
        R"([{"type":"Resource","resource":{"name":"memory","currentAverageValue":"600Mi"}}])");
  CHECK(Annotation(v1, "autoscaling.alpha.kubernetes.io/conditions") ==
        R"([{"type":"AbleToScale","status":"True","lastTransitionTime":"2024-05-01T09:00:00Z",)"
        R"("reason":"ReadyForNewScale","message":"recommended size matches current size"}])");
  // The internal type marshalled without json tags.
  CHECK(Annotation(v1, "autoscaling.alpha.kubernetes.io/behavior") ==
        R"({"ScaleUp":{"StabilizationWindowSeconds":0,"SelectPolicy":"Max","Policies":[)"
        R"({"Type":"Pods","Value":4,"PeriodSeconds":15},{"Type":"Percent","Value":100,"PeriodSeconds":15}]},)"
        R"("ScaleDown":{"StabilizationWindowSeconds":300,"SelectPolicy":"Max","Policies":[)"
        R"({"Type":"Percent","Value":100,"PeriodSeconds":15}]}})");

  // And back: equal to the original, round-trip annotations removed.
  REQUIRE(ConvertObject(v1, "autoscaling/v2").ok());
  CHECK(ToJson(v1) == Canon(kMemoryV2));
}

TEST_CASE("v2 -> v1 -> v2 puts the CPU metric after the others, as upstream does") {
  std::string v2 =
      R"({"apiVersion":"autoscaling/v2","kind":"HorizontalPodAutoscaler","metadata":{"name":"x"},)"
      R"("spec":{"scaleTargetRef":{"kind":"Deployment","name":"web"},"minReplicas":1,"maxReplicas":4,"metrics":[)"
      R"({"type":"Resource","resource":{"name":"cpu","target":{"type":"Utilization","averageUtilization":70}}},)"
      R"({"type":"Pods","pods":{"metric":{"name":"qps","selector":{"matchLabels":{"a":"b"}}},)"
      R"("target":{"type":"AverageValue","averageValue":"10"}}}]},)"
      R"("status":{"desiredReplicas":0,"currentMetrics":null}})";
  JsonDoc v1 = Parse(Converted(v2, "autoscaling/v1"));
  CHECK(Path(v1, {"spec", "targetCPUUtilizationPercentage"})->GetInt64() == 70);
  CHECK(Annotation(v1, "autoscaling.alpha.kubernetes.io/metrics") ==
        R"([{"type":"Pods","pods":{"metricName":"qps","targetAverageValue":"10","selector":{"matchLabels":{"a":"b"}}}}])");
  CHECK(Annotation(v1, "autoscaling.alpha.kubernetes.io/current-metrics") == "<absent>");
  CHECK(Path(v1, {"metadata", "annotations", "autoscaling.alpha.kubernetes.io/behavior"}) == nullptr);
  std::string back = Converted(ToJson(v1), "autoscaling/v2");
  CHECK(back == Canon(R"({"apiVersion":"autoscaling/v2","kind":"HorizontalPodAutoscaler","metadata":{"name":"x"},)"
                      R"("spec":{"scaleTargetRef":{"kind":"Deployment","name":"web"},"minReplicas":1,"maxReplicas":4,)"
                      R"("metrics":[{"type":"Pods","pods":{"metric":{"name":"qps","selector":{"matchLabels":{"a":"b"}}},)"
                      R"("target":{"type":"AverageValue","averageValue":"10"}}},{"type":"Resource","resource":)"
                      R"({"name":"cpu","target":{"type":"Utilization","averageUtilization":70}}}]},)"
                      R"("status":{"desiredReplicas":0,"currentMetrics":null}})"));
}

TEST_CASE("object, external and containerResource metrics round-trip through the annotation") {
  std::string metrics =
      R"([{"type":"Object","object":{"describedObject":{"kind":"Ingress","name":"main","apiVersion":"networking.k8s.io/v1"},)"
      R"("target":{"type":"Value","value":"2k"},"metric":{"name":"rps"}}},)"
      R"({"type":"External","external":{"metric":{"name":"queue","selector":{"matchLabels":{"q":"w"}}},)"
      R"("target":{"type":"AverageValue","averageValue":"30"}}},)"
      R"({"type":"ContainerResource","containerResource":{"name":"cpu","target":{"type":"Utilization",)"
      R"("averageUtilization":60},"container":"app"}}])";
  std::string v2 = R"({"apiVersion":"autoscaling/v2","kind":"HorizontalPodAutoscaler","metadata":{"name":"o"},)"
                   R"("spec":{"scaleTargetRef":{"kind":"Deployment","name":"web"},"minReplicas":1,"maxReplicas":4,)"
                   R"("metrics":)" + metrics + R"(},"status":{"desiredReplicas":0,"currentMetrics":null}})";
  JsonDoc v1 = Parse(Converted(v2, "autoscaling/v1"));
  CHECK(Member(*Member(v1, "spec"), "targetCPUUtilizationPercentage") == nullptr);
  CHECK(Annotation(v1, "autoscaling.alpha.kubernetes.io/metrics") ==
        R"([{"type":"Object","object":{"target":{"kind":"Ingress","name":"main","apiVersion":"networking.k8s.io/v1"},)"
        R"("metricName":"rps","targetValue":"2k"}},)"
        R"({"type":"External","external":{"metricName":"queue","metricSelector":{"matchLabels":{"q":"w"}},)"
        R"("targetAverageValue":"30"}},)"
        R"({"type":"ContainerResource","containerResource":{"name":"cpu","targetAverageUtilization":60,)"
        R"("container":"app"}}])");
  CHECK(Converted(ToJson(v1), "autoscaling/v2") == Canon(v2));
}

TEST_CASE("status: currentCPUUtilizationPercentage <-> currentMetrics") {
  SECTION("v1 status without annotations") {
    JsonDoc v2 = Parse(Converted(
        R"({"apiVersion":"autoscaling/v1","kind":"HorizontalPodAutoscaler","metadata":{"name":"s"},)"
        R"("spec":{"scaleTargetRef":{"kind":"Deployment","name":"web"},"minReplicas":1,"maxReplicas":3,)"
        R"("targetCPUUtilizationPercentage":50},"status":{"observedGeneration":2,)"
        R"("lastScaleTime":"2024-01-02T03:04:05Z","currentReplicas":2,"desiredReplicas":4,)"
        R"("currentCPUUtilizationPercentage":95}})",
        "autoscaling/v2"));
    CHECK(ToJson(*Member(v2, "status")) ==
          Canon(R"({"observedGeneration":2,"lastScaleTime":"2024-01-02T03:04:05Z","currentReplicas":2,)"
                R"("desiredReplicas":4,"currentMetrics":[{"type":"Resource","resource":{"name":"cpu",)"
                R"("current":{"averageUtilization":95}}}]})"));
  }
  SECTION("v2 status: the last CPU utilization is the percentage, raw values go to the annotation") {
    JsonDoc v1 = Parse(Converted(
        R"({"apiVersion":"autoscaling/v2","kind":"HorizontalPodAutoscaler","metadata":{"name":"s"},)"
        R"("spec":{"scaleTargetRef":{"kind":"Deployment","name":"web"},"minReplicas":1,"maxReplicas":3,)"
        R"("metrics":[{"type":"Resource","resource":{"name":"cpu","target":{"type":"Utilization","averageUtilization":50}}}]},)"
        R"("status":{"currentReplicas":2,"desiredReplicas":2,"currentMetrics":[{"type":"Resource","resource":)"
        R"({"name":"cpu","current":{"averageValue":"250m","averageUtilization":45}}}]}})",
        "autoscaling/v1"));
    CHECK(ToJson(*Member(v1, "status")) ==
          Canon(R"({"currentReplicas":2,"desiredReplicas":2,"currentCPUUtilizationPercentage":45})"));
    CHECK(Annotation(v1, "autoscaling.alpha.kubernetes.io/current-metrics") ==
          R"([{"type":"Resource","resource":{"name":"cpu","currentAverageUtilization":45,"currentAverageValue":"250m"}}])");
    // The annotation has more information than the field: it wins on the way back.
    JsonDoc v2 = Parse(Converted(ToJson(v1), "autoscaling/v2"));
    CHECK(ToJson(*Path(v2, {"status", "currentMetrics"})) ==
          Canon(R"([{"type":"Resource","resource":{"name":"cpu","current":{"averageValue":"250m","averageUtilization":45}}}])"));
    CHECK(Member(*Member(v2, "metadata"), "annotations") == nullptr);
  }
  SECTION("an absent v2 status is written as Go writes the zero status") {
    JsonDoc v1 = Parse(Converted(
        R"({"apiVersion":"autoscaling/v2","kind":"HorizontalPodAutoscaler","metadata":{"name":"s"},)"
        R"("spec":{"scaleTargetRef":{"kind":"Deployment","name":"web"},"maxReplicas":3}})",
        "autoscaling/v1"));
    CHECK(ToJson(*Member(v1, "status")) == Canon(R"({"currentReplicas":0,"desiredReplicas":0})"));
  }
}

TEST_CASE("malformed round-trip annotations are ignored and removed") {
  for (std::string_view value : {"", "abc", "[]", "{}", "[1]", "null"}) {
    INFO(value);
    JsonDoc doc = Parse(kAutoscaleV1);
    JsonValue& meta = *MutableMember(doc, "metadata");
    JsonValue ann(rapidjson::kObjectType);
    auto& a = doc.GetAllocator();
    for (std::string_view k : {"autoscaling.alpha.kubernetes.io/metrics", "autoscaling.alpha.kubernetes.io/current-metrics",
                               "autoscaling.alpha.kubernetes.io/conditions", "autoscaling.alpha.kubernetes.io/behavior"}) {
      SetString(ann, k, value, a);
    }
    SetString(ann, "keep", "me", a);
    SetMember(meta, "annotations", std::move(ann), a);
    REQUIRE(ConvertObject(doc, "autoscaling/v2").ok());
    CHECK(ToJson(*Path(doc, {"metadata", "annotations"})) == R"({"keep":"me"})");
    CHECK(ToJson(*Path(doc, {"spec", "metrics"})) ==
          R"([{"type":"Resource","resource":{"name":"cpu","target":{"type":"Utilization","averageUtilization":80}}}])");
    CHECK(Path(doc, {"spec", "behavior"}) == nullptr);
    CHECK(Path(doc, {"status", "currentMetrics"})->IsNull());
    CHECK(Path(doc, {"status", "conditions"}) == nullptr);
  }
}

TEST_CASE("a behavior annotation of the wrong type is dropped; Go keys match case-insensitively") {
  auto with_behavior = [](std::string_view behavior) {
    JsonDoc doc = Parse(kAutoscaleV1);
    auto& a = doc.GetAllocator();
    JsonValue ann(rapidjson::kObjectType);
    SetString(ann, "autoscaling.alpha.kubernetes.io/behavior", behavior, a);
    SetMember(*MutableMember(doc, "metadata"), "annotations", std::move(ann), a);
    REQUIRE(ConvertObject(doc, "autoscaling/v2").ok());
    const JsonValue* b = Path(doc, {"spec", "behavior"});
    return b ? ToJson(*b) : std::string("<absent>");
  };
  CHECK(with_behavior(R"({"ScaleUp":{"StabilizationWindowSeconds":"x"}})") == "<absent>");
  CHECK(with_behavior(R"({"ScaleUp":null,"ScaleDown":null})") == "<absent>");
  CHECK(with_behavior(R"({"scaledown":{"stabilizationWindowSeconds":60,"Policies":[]}})") ==
        R"({"scaleDown":{"stabilizationWindowSeconds":60}})");
}

TEST_CASE("stale round-trip annotations on a v2 object are not carried into v1") {
  JsonDoc v1 = Parse(Converted(
      R"({"apiVersion":"autoscaling/v2","kind":"HorizontalPodAutoscaler","metadata":{"name":"s","annotations":)"
      R"({"autoscaling.alpha.kubernetes.io/conditions":"[]","autoscaling.alpha.kubernetes.io/metrics":"junk"}},)"
      R"("spec":{"scaleTargetRef":{"kind":"Deployment","name":"web"},"minReplicas":1,"maxReplicas":3,)"
      R"("metrics":[{"type":"Resource","resource":{"name":"cpu","target":{"type":"Utilization","averageUtilization":50}}}]}})",
      "autoscaling/v1"));
  CHECK(Member(*Member(v1, "metadata"), "annotations") == nullptr);
}

TEST_CASE("Go's HTML escaping in annotation JSON") {
  JsonDoc v1 = Parse(Converted(
      R"({"apiVersion":"autoscaling/v2","kind":"HorizontalPodAutoscaler","metadata":{"name":"s"},)"
      R"("spec":{"scaleTargetRef":{"kind":"Deployment","name":"web"},"maxReplicas":3,"metrics":[{"type":"External",)"
      R"("external":{"metric":{"name":"a<b>&c"},"target":{"type":"Value","value":"1"}}}]}})",
      "autoscaling/v1"));
  CHECK(Annotation(v1, "autoscaling.alpha.kubernetes.io/metrics") ==
        R"([{"type":"External","external":{"metricName":"a\u003cb\u003e\u0026c","targetValue":"1"}}])");
  JsonDoc v2 = Parse(Converted(ToJson(v1), "autoscaling/v2"));
  const JsonValue& m0 = (*Path(v2, {"spec", "metrics"}))[0];
  CHECK(std::string(Path(m0, {"external", "metric", "name"})->GetString()) == "a<b>&c");
}

TEST_CASE("errors and no-ops") {
  JsonDoc same = Parse(kAutoscaleV1);
  REQUIRE(ConvertObject(same, "autoscaling/v1").ok());
  CHECK(ToJson(same) == Canon(kAutoscaleV1));

  JsonDoc pod = Parse(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"}})");
  Status st = ConvertObject(pod, "v2");
  CHECK(st.code() == Code::kBadRequest);

  JsonDoc beta = Parse(R"({"apiVersion":"autoscaling/v2beta2","kind":"HorizontalPodAutoscaler"})");
  CHECK(ConvertObject(beta, "autoscaling/v1").code() == Code::kBadRequest);

  JsonDoc bad_spec = Parse(R"({"apiVersion":"autoscaling/v1","kind":"HorizontalPodAutoscaler","spec":[]})");
  CHECK(ConvertObject(bad_spec, "autoscaling/v2").code() == Code::kBadRequest);

  JsonDoc no_kind = Parse(R"({"apiVersion":"autoscaling/v1"})");
  CHECK(ConvertObject(no_kind, "autoscaling/v2").code() == Code::kBadRequest);
}

}  // namespace
}  // namespace minik::api
