// Builders of Node and Pod JSON for the scheduler tests.
#pragma once

#include <string>
#include <vector>

#include "common/json.h"
#include "server/scheduler/scheduler.h"

namespace minik::scheduler::testing {

inline JsonDoc Json(const std::string& text) {
  auto d = ParseJson(text);
  if (!d.ok()) throw std::runtime_error("bad test JSON: " + d.error().message() + ": " + text);
  return std::move(d).value();
}

// A Ready node with cpu/memory/pods allocatable; extra goes into the top-level object.
inline std::string NodeJson(const std::string& name, const std::string& cpu = "4", const std::string& mem = "8Gi",
                            const std::string& labels = "", const std::string& spec = "{}",
                            const std::string& ready = "True", const std::string& pods = "110",
                            const std::string& extra_alloc = "") {
  std::string l = "\"kubernetes.io/hostname\":\"" + name + "\"";
  if (!labels.empty()) l += "," + labels;
  return "{\"metadata\":{\"name\":\"" + name + "\",\"labels\":{" + l + "}},\"spec\":" + spec +
         ",\"status\":{\"allocatable\":{\"cpu\":\"" + cpu + "\",\"memory\":\"" + mem + "\",\"pods\":\"" + pods + "\"" +
         extra_alloc + "},\"conditions\":[{\"type\":\"Ready\",\"status\":\"" + ready + "\"}]}}";
}

// A pod; `spec_extra` is appended inside spec, `requests` is the container's requests object.
inline std::string PodJson(const std::string& name, const std::string& requests = "{}",
                           const std::string& spec_extra = "", const std::string& labels = "",
                           const std::string& node = "", const std::string& meta_extra = "") {
  std::string s = "{\"metadata\":{\"name\":\"" + name + "\",\"namespace\":\"default\",\"uid\":\"uid-" + name +
                  "\",\"labels\":{" + labels + "}" + meta_extra + "},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"x\"," +
                  "\"resources\":{\"requests\":" + requests + "}}]";
  if (!node.empty()) s += ",\"nodeName\":\"" + node + "\"";
  if (!spec_extra.empty()) s += "," + spec_extra;
  s += "}}";
  return s;
}

inline PodInfoPtr Pod(const std::string& json) {
  auto d = Json(json);
  auto p = ParsePod(d);
  if (!p.ok()) throw std::runtime_error("bad pod: " + p.error().message());
  return *p;
}

struct Cluster {
  Cache cache;
  explicit Cluster(Options o = {}) : cache(std::move(o)) {}
  Cluster& Node(const std::string& json) {
    auto d = Json(json);
    auto st = cache.UpsertNode(d);
    if (!st.ok()) throw std::runtime_error(st.ToString());
    return *this;
  }
  Cluster& Bound(const std::string& json) {
    cache.AddPod(Pod(json));
    return *this;
  }
  ScheduleResult Schedule(const std::string& pod_json) { return cache.Schedule(*Pod(pod_json)); }
};

}  // namespace minik::scheduler::testing
