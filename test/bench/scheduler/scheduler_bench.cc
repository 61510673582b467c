// Schedules pods onto nodes in memory with the scheduler's decision logic, assuming each pod onto
// its chosen node (as the scheduler does before binding), and reports pods/s.
//   scheduler_bench [nodes=1000] [pods=30000]
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/json.h"
#include "server/scheduler/scheduler.h"

using namespace minik;
using namespace minik::scheduler;

int main(int argc, char** argv) {
  int num_nodes = argc > 1 ? std::atoi(argv[1]) : 1000;
  int num_pods = argc > 2 ? std::atoi(argv[2]) : 30000;
  Cache cache;
  for (int i = 0; i < num_nodes; ++i) {
    std::string name = "node-" + std::to_string(i);
    std::string zone = "zone-" + std::to_string(i % 3);
    std::string json = R"({"metadata":{"name":")" + name + R"(","labels":{"kubernetes.io/hostname":")" + name +
                       R"(","topology.kubernetes.io/zone":")" + zone +
                       R"("}},"spec":{},"status":{"allocatable":{"cpu":"32","memory":"128Gi","pods":"110"},)"
                       R"("conditions":[{"type":"Ready","status":"True"}]}})";
    auto d = ParseJson(json);
    if (!d.ok() || !cache.UpsertNode(*d).ok()) return 1;
  }
  // Pods as a Deployment makes them: a ReplicaSet owner (system default spread applies).
  std::vector<PodInfoPtr> pods;
  pods.reserve(num_pods);
  for (int i = 0; i < num_pods; ++i) {
    std::string name = "web-" + std::to_string(i);
    std::string json = R"({"metadata":{"name":")" + name + R"(","namespace":"default","uid":"u)" + std::to_string(i) +
                       R"(","labels":{"app":"web)" + std::to_string(i % 10) +
                       R"(","pod-template-hash":"abc"},"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"web","uid":"rs","controller":true}]},)"
                       R"("spec":{"containers":[{"name":"c","image":"nginx","resources":{"requests":{"cpu":"100m","memory":"128Mi"}}}]}})";
    auto d = ParseJson(json);
    if (!d.ok()) return 1;
    auto p = ParsePod(*d);
    if (!p.ok()) return 1;
    pods.push_back(*p);
  }
  auto cpu = [] {
    timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
  };
  double c0 = cpu();
  auto t0 = std::chrono::steady_clock::now();
  int failed = 0;
  for (const auto& p : pods) {
    ScheduleResult r = cache.Schedule(*p);
    if (!r.ok()) {
      ++failed;
      continue;
    }
    cache.AssumePod(p, r.node);
  }
  auto t1 = std::chrono::steady_clock::now();
  double secs = std::chrono::duration<double>(t1 - t0).count();
  double cpu_secs = cpu() - c0;
  size_t max_pods = 0, min_pods = SIZE_MAX;
  for (int i = 0; i < num_nodes; ++i) {
    size_t n = cache.GetNode("node-" + std::to_string(i))->pods.size();
    max_pods = std::max(max_pods, n);
    min_pods = std::min(min_pods, n);
  }
  std::printf(
      "nodes=%d pods=%d unschedulable=%d wall=%.3fs rate=%.0f pods/s cpu=%.3fs (%.0f pods/s per core, %.1fus/pod) "
      "pods/node min=%zu max=%zu\n",
      num_nodes, num_pods, failed, secs, num_pods / secs, cpu_secs, num_pods / cpu_secs, cpu_secs * 1e6 / num_pods,
      min_pods, max_pods);
  return 0;
}
