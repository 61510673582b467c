// Tests of DecodeProtobufObject against bodies captured from kubectl 1.32 (vectors/*.pb) and the
// JSON kubectl prints for the same object (vectors/*.json: `--dry-run=client -o json`, or written by
// hand where kubectl has no dry-run; see vectors/README.md).
#include <catch2/catch.hpp>

#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include "api/protobuf.h"
#include "common/json.h"

namespace minik::api {
namespace {

std::string ReadFile(const std::string& name) {
  std::ifstream in(std::string(MINIK_PROTOBUF_VECTORS) + "/" + name, std::ios::binary);
  REQUIRE(in.good());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

JsonDoc Decode(std::string_view body) {
  auto doc = DecodeProtobufObject(body);
  INFO(doc.status().ToString());
  REQUIRE(doc.ok());
  return std::move(doc).value();
}

// The decoded vector equals the expected JSON (rapidjson's == compares objects member-wise,
// whatever the order), and apiVersion, kind come first.
void CheckVector(const std::string& name, const std::string& expected_file) {
  JsonDoc got = Decode(ReadFile(name + ".pb"));
  auto want = ParseJson(ReadFile(expected_file));
  REQUIRE(want.ok());
  INFO(name << "\n got: " << ToPrettyJson(got) << "\nwant: " << ToPrettyJson(*want));
  CHECK(got == *want);
  REQUIRE(got.MemberCount() >= 2);
  CHECK(std::string_view(got.MemberBegin()->name.GetString()) == "apiVersion");
  CHECK(std::string_view((got.MemberBegin() + 1)->name.GetString()) == "kind");
}

// Builds protobuf bytes for hand-made vectors.
struct Pb {
  std::string b;
  Pb& Varint(uint64_t v) {
    while (v >= 0x80) {
      b.push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    b.push_back(static_cast<char>(v));
    return *this;
  }
  Pb& Tag(uint32_t n, uint32_t wt) { return Varint((uint64_t{n} << 3) | wt); }
  Pb& Int(uint32_t n, int64_t v) { return Tag(n, 0).Varint(static_cast<uint64_t>(v)); }
  Pb& Bytes(uint32_t n, std::string_view s) {
    Tag(n, 2).Varint(s.size());
    b.append(s);
    return *this;
  }
  Pb& Msg(uint32_t n, const Pb& m) { return Bytes(n, m.b); }
};

std::string Envelope(std::string_view api_version, std::string_view kind, const Pb& object) {
  Pb type_meta;
  type_meta.Bytes(1, api_version).Bytes(2, kind);
  Pb unknown;
  unknown.Msg(1, type_meta).Msg(2, object).Bytes(3, "").Bytes(4, "");
  return std::string("k8s\0", 4) + unknown.b;
}

TEST_CASE("content type detection") {
  CHECK(IsProtobufContentType("application/vnd.kubernetes.protobuf"));
  CHECK(IsProtobufContentType("application/vnd.kubernetes.protobuf; charset=utf-8"));
  CHECK(IsProtobufContentType("Application/Vnd.Kubernetes.Protobuf"));
  CHECK_FALSE(IsProtobufContentType("application/json"));
  CHECK(IsProtobufContentType("application/vnd.kubernetes.protobuf;stream=watch"));
  CHECK_FALSE(IsProtobufContentType("application/vnd.kubernetes.protobufx"));
  CHECK_FALSE(IsProtobufContentType(""));
}

// Vectors captured from `kubectl create ...` with the JSON of `--dry-run=client -o json`.
TEST_CASE("kubectl create vectors decode to the dry-run JSON") {
  const char* names[] = {
      "namespace", "configmap", "secret_generic", "secret_tls", "secret_docker", "deployment",
      "service_clusterip", "service_nodeport", "job", "job_from_cronjob", "cronjob", "serviceaccount",
      "role", "rolebinding", "clusterrole", "clusterrole_agg", "clusterrolebinding", "quota",
      "priorityclass", "pdb", "pdb_int", "ingress", "ingress_default", "autoscale",
  };
  for (const char* name : names) {
    SECTION(name) { CheckVector(name, std::string(name) + ".json"); }
  }
}

// Vectors captured from commands without a client dry-run; the expected JSON is written by hand
// from the command line and the canned objects the capture server returned.
TEST_CASE("other kubectl vectors") {
  const char* names[] = {"token", "cani", "cani_ns", "csr_approve", "csr_deny", "debug_node", "debug_copy"};
  for (const char* name : names) {
    SECTION(name) { CheckVector(name, std::string(name) + ".expected.json"); }
  }
}

TEST_CASE("hand-built Eviction decodes to the JSON kubectl drain sends") {
  // kubectl 1.32's drain sends its Eviction as JSON; this is the same object in protobuf.
  Pb meta;
  meta.Bytes(1, "p1").Bytes(2, "").Bytes(3, "default").Bytes(4, "").Bytes(5, "").Bytes(6, "");
  meta.Int(7, 0).Msg(8, Pb{}).Bytes(15, "");  // creationTimestamp: zero Time is an empty message
  Pb opts;
  opts.Int(1, 10);  // gracePeriodSeconds (a pointer: present)
  Pb eviction;
  eviction.Msg(1, meta).Msg(2, opts);
  JsonDoc got = Decode(Envelope("policy/v1", "Eviction", eviction));
  auto want = ParseJson(ReadFile("eviction_drain.json"));
  REQUIRE(want.ok());
  INFO(ToPrettyJson(got));
  CHECK(got == *want);
}

TEST_CASE("hand-built autoscaling/v2 HorizontalPodAutoscaler") {
  Pb meta;
  meta.Bytes(1, "web").Bytes(3, "default").Msg(8, Pb{});
  Pb target;
  target.Bytes(1, "Deployment").Bytes(2, "web").Bytes(3, "apps/v1");
  Pb util;
  util.Bytes(1, "Utilization").Int(4, 80);  // MetricTarget{type, averageUtilization}
  Pb quantity;
  quantity.Bytes(1, "500Mi");
  Pb mem_target;
  mem_target.Bytes(1, "AverageValue").Msg(3, quantity);
  Pb cpu;
  cpu.Bytes(1, "cpu").Msg(2, util);  // ResourceMetricSource{name, target}
  Pb mem;
  mem.Bytes(1, "memory").Msg(2, mem_target);
  Pb metric_cpu, metric_mem;
  metric_cpu.Bytes(1, "Resource").Msg(4, cpu);
  metric_mem.Bytes(1, "Resource").Msg(4, mem);
  Pb policy;
  policy.Bytes(1, "Pods").Int(2, 4).Int(3, 60);
  Pb rules;
  rules.Int(3, 300).Msg(2, policy);  // stabilizationWindowSeconds after policies in the wire
  Pb behavior;
  behavior.Msg(2, rules);  // scaleDown
  Pb spec;
  spec.Msg(1, target).Int(2, 2).Int(3, 5).Msg(4, metric_cpu).Msg(4, metric_mem).Msg(5, behavior);
  Pb hpa;
  hpa.Msg(1, meta).Msg(2, spec).Msg(3, Pb{});
  JsonDoc got = Decode(Envelope("autoscaling/v2", "HorizontalPodAutoscaler", hpa));
  auto want = ParseJson(R"({
    "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
    "metadata": {"name": "web", "namespace": "default", "creationTimestamp": null},
    "spec": {
      "scaleTargetRef": {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"},
      "minReplicas": 2, "maxReplicas": 5,
      "metrics": [
        {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}},
        {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "500Mi"}}}
      ],
      "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300,
                                 "policies": [{"type": "Pods", "value": 4, "periodSeconds": 60}]}}
    },
    "status": {"desiredReplicas": 0, "currentMetrics": null}
  })");
  REQUIRE(want.ok());
  INFO(ToPrettyJson(got));
  CHECK(got == *want);
  // Go struct order, not wire order: stabilizationWindowSeconds comes before policies.
  const JsonValue* down = Path(got, {"spec", "behavior", "scaleDown"});
  REQUIRE(down != nullptr);
  CHECK(std::string_view(down->MemberBegin()->name.GetString()) == "stabilizationWindowSeconds");
}

TEST_CASE("special types: times, durations, int-or-string, bytes, raw JSON, packed scalars") {
  SECTION("Lease: MicroTime, pointers present with zero values") {
    Pb meta;
    meta.Bytes(1, "l1").Msg(8, Pb().Int(1, 1767323045).Int(2, 999999999));
    Pb acquire;
    acquire.Int(1, 1767323045).Int(2, 123456789);
    Pb spec;
    spec.Bytes(1, "holder").Int(2, 0).Msg(3, acquire).Int(5, 0);
    Pb lease;
    lease.Msg(1, meta).Msg(2, spec);
    JsonDoc got = Decode(Envelope("coordination.k8s.io/v1", "Lease", lease));
    auto want = ParseJson(R"({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
      "metadata": {"name": "l1", "creationTimestamp": "2026-01-02T03:04:05Z"},
      "spec": {"holderIdentity": "holder", "leaseDurationSeconds": 0,
               "acquireTime": "2026-01-02T03:04:05.123456Z", "leaseTransitions": 0}})");
    REQUIRE(want.ok());
    INFO(ToPrettyJson(got));
    CHECK(got == *want);
  }
  SECTION("Secret: []byte values, immutable pointer, stringData") {
    Pb data;
    data.Bytes(1, "k").Bytes(2, std::string("\x00\xff\x10", 3));
    Pb empty_value;
    empty_value.Bytes(1, "e");  // an entry without a value: gogo leaves a non-nil empty []byte
    Pb secret;
    secret.Msg(1, Pb().Bytes(1, "s")).Msg(2, data).Msg(2, empty_value).Bytes(3, "Opaque").Int(5, 0);
    JsonDoc got = Decode(Envelope("v1", "Secret", secret));
    auto want = ParseJson(R"({"apiVersion": "v1", "kind": "Secret",
      "metadata": {"name": "s", "creationTimestamp": null}, "immutable": false,
      "data": {"k": "AP8Q", "e": ""}, "type": "Opaque"})");
    REQUIRE(want.ok());
    INFO(ToPrettyJson(got));
    CHECK(got == *want);
  }
  SECTION("Pod: packed and unpacked repeated int64, IntOrString, inline VolumeSource, Duration-free") {
    Pb sc;  // PodSecurityContext.supplementalGroups (int64, repeated): one packed run and one unpacked
    Pb packed;
    packed.Varint(1000).Varint(2000);
    sc.Bytes(4, packed.b).Int(4, 3000);
    Pb empty_dir;
    empty_dir.Bytes(1, "Memory").Msg(2, Pb().Bytes(1, "1Gi"));
    Pb vsrc;
    vsrc.Msg(2, empty_dir);  // VolumeSource.emptyDir
    Pb volume;
    volume.Bytes(1, "scratch").Msg(2, vsrc);
    Pb http_get;
    http_get.Bytes(1, "/healthz").Msg(2, Pb().Int(1, 1).Bytes(3, "http"));
    Pb handler;
    handler.Msg(2, http_get);
    Pb probe;
    probe.Msg(1, handler).Int(2, 5);
    Pb container;
    container.Bytes(1, "c").Bytes(2, "busybox").Msg(10, probe).Int(18, 1);
    Pb spec;
    spec.Msg(1, volume).Msg(2, container).Msg(14, sc);
    Pb pod;
    pod.Msg(1, Pb().Bytes(1, "p")).Msg(2, spec);
    JsonDoc got = Decode(Envelope("v1", "Pod", pod));
    INFO(ToPrettyJson(got));
    auto want = ParseJson(R"({"apiVersion": "v1", "kind": "Pod",
      "metadata": {"name": "p", "creationTimestamp": null},
      "spec": {
        "volumes": [{"name": "scratch", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}}],
        "containers": [{"name": "c", "image": "busybox", "resources": {},
                        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"},
                                          "initialDelaySeconds": 5},
                        "tty": true}],
        "securityContext": {"supplementalGroups": [1000, 2000, 3000]}
      },
      "status": {}})");
    REQUIRE(want.ok());
    CHECK(got == *want);
  }
  SECTION("ControllerRevision: RawExtension is the embedded JSON") {
    Pb revision;
    revision.Msg(1, Pb().Bytes(1, "r")).Msg(2, Pb().Bytes(1, R"({"spec":{"replicas":2}})")).Int(3, 4);
    JsonDoc got = Decode(Envelope("apps/v1", "ControllerRevision", revision));
    auto want = ParseJson(R"({"apiVersion": "apps/v1", "kind": "ControllerRevision",
      "metadata": {"name": "r", "creationTimestamp": null}, "data": {"spec": {"replicas": 2}},
      "revision": 4})");
    REQUIRE(want.ok());
    INFO(ToPrettyJson(got));
    CHECK(got == *want);
    Pb bad;
    bad.Msg(2, Pb().Bytes(1, "{not json"));
    CHECK(DecodeProtobufObject(Envelope("apps/v1", "ControllerRevision", bad)).status().code() ==
          Code::kBadRequest);
  }
  SECTION("Time before 1970 and nanosecond normalisation") {
    Pb meta;
    meta.Bytes(1, "n").Msg(8, Pb().Int(1, -1).Int(2, 0));
    JsonDoc got = Decode(Envelope("v1", "Namespace", Pb().Msg(1, meta)));
    CHECK(*GetString(got["metadata"], "creationTimestamp") == "1969-12-31T23:59:59Z");
  }
}

TEST_CASE("malformed input is BadRequest") {
  const std::string ns = ReadFile("namespace.pb");
  SECTION("wrong magic") {
    auto r = DecodeProtobufObject("{\"kind\":\"Namespace\"}");
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kBadRequest);
    CHECK(r.status().message() ==
          "provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]");
  }
  SECTION("empty body") {
    auto r = DecodeProtobufObject("");
    CHECK(r.status().code() == Code::kBadRequest);
  }
  SECTION("unknown kind") {
    auto r = DecodeProtobufObject(Envelope("v1", "Foo", Pb{}));
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kBadRequest);
    CHECK(r.status().message() ==
          "no kind \"Foo\" is registered for version \"v1\" in scheme "
          "\"k8s.io/kubernetes/pkg/api/legacyscheme/scheme.go:30\"");
  }
  SECTION("kind in the wrong version") {
    auto r = DecodeProtobufObject(Envelope("v1", "Deployment", Pb{}));
    CHECK(r.status().code() == Code::kBadRequest);
  }
  SECTION("missing kind") {
    auto r = DecodeProtobufObject(Envelope("v1", "", Pb{}));
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().message() ==
          "Object 'Kind' is missing in 'runtime.TypeMeta{APIVersion:\"v1\", Kind:\"\"}'");
  }
  SECTION("truncated varint") {
    std::string body = std::string("k8s\0", 4) + "\x0a\x80";
    auto r = DecodeProtobufObject(body);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().message() == "unexpected EOF");
  }
  SECTION("varint overflow") {
    std::string body = std::string("k8s\0", 4) + "\x0a" + std::string(11, '\xff');
    auto r = DecodeProtobufObject(body);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().message() == "proto: integer overflow");
  }
  SECTION("wrong wire type") {
    Pb obj;
    obj.Int(1, 5);  // metadata as a varint
    auto r = DecodeProtobufObject(Envelope("v1", "Namespace", obj));
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kBadRequest);
    CHECK(r.status().message() == "proto: wrong wireType = 0 for field metadata of core.v1.Namespace");
  }
  SECTION("length beyond the end") {
    Pb obj;
    obj.Tag(1, 2).Varint(100);
    auto r = DecodeProtobufObject(Envelope("v1", "Namespace", obj));
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().message() == "unexpected EOF");
  }
  SECTION("content encoding is refused") {
    Pb type_meta;
    type_meta.Bytes(1, "v1").Bytes(2, "Namespace");
    Pb unknown;
    unknown.Msg(1, type_meta).Msg(2, Pb{}).Bytes(3, "gzip");
    auto r = DecodeProtobufObject(std::string("k8s\0", 4) + unknown.b);
    CHECK(r.status().code() == Code::kBadRequest);
  }
  SECTION("unknown fields are skipped, as gogo-protobuf does") {
    Pb obj;
    obj.Msg(1, Pb().Bytes(1, "n1")).Int(99, 7).Tag(98, 1).b.append(8, 'x');
    obj.Tag(97, 5).b.append(4, 'y');
    auto r = DecodeProtobufObject(Envelope("v1", "Namespace", obj));
    REQUIRE(r.ok());
    CHECK(*GetString(*Path(*r, {"metadata"}), "name") == "n1");
  }
  SECTION("invalid UTF-8 becomes U+FFFD") {
    Pb obj;
    obj.Msg(1, Pb().Bytes(1, "a\xff" "b"));
    auto r = DecodeProtobufObject(Envelope("v1", "Namespace", obj));
    REQUIRE(r.ok());
    CHECK(*GetString(*Path(*r, {"metadata"}), "name") == "a\xef\xbf\xbd" "b");
  }
}

TEST_CASE("random truncations and byte flips of every vector never crash") {
  const char* names[] = {
      "namespace", "configmap", "secret_generic", "secret_tls", "secret_docker", "deployment",
      "service_clusterip", "service_nodeport", "job", "job_from_cronjob", "cronjob", "serviceaccount",
      "role", "rolebinding", "clusterrole", "clusterrole_agg", "clusterrolebinding", "quota",
      "priorityclass", "pdb", "pdb_int", "ingress", "ingress_default", "autoscale", "token", "cani",
      "cani_ns", "csr_approve", "csr_deny", "debug_node", "debug_copy",
  };
  std::mt19937 rng(12345);
  int failures = 0;
  for (const char* name : names) {
    const std::string body = ReadFile(std::string(name) + ".pb");
    for (size_t len = 0; len < body.size(); ++len) {
      auto r = DecodeProtobufObject(std::string_view(body).substr(0, len));
      // A cut inside the envelope or a nested message is an error; a few cuts land on a field
      // boundary of the innermost message and still decode.
      if (!r.ok()) {
        CHECK(r.status().code() == Code::kBadRequest);
        ++failures;
      }
    }
    for (int i = 0; i < 200; ++i) {
      std::string mutated = body;
      const size_t pos = 4 + rng() % (mutated.size() - 4);
      mutated[pos] = static_cast<char>(rng());
      auto r = DecodeProtobufObject(mutated);
      if (!r.ok()) CHECK(r.status().code() == Code::kBadRequest);
    }
  }
  CHECK(failures > 0);
}

}  // namespace
}  // namespace minik::api
