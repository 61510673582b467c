// Times server-side printing of 10,000 realistic pods (the cells of a `kubectl get pods -A` Table).
// Usage: api_table_bench [pods] [rounds] [layout]
//   layout "doc" (default): each pod its own JsonDoc, as parsed by ParseJson (rapidjson gives every
//   document a 64 KiB first chunk, so pods sit 64 KiB apart); "pool": all pods in one allocator,
//   packed together (a compact cache layout).
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "api/table.h"

using namespace minik;

namespace {
// CPU time of this thread: unlike wall time, not inflated when other processes hold the cores.
double ThreadCpuMs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}
}  // namespace

int main(int argc, char** argv) {
  const int pods = argc > 1 ? std::atoi(argv[1]) : 10000;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 20;
  const bool pooled = argc > 3 && std::string(argv[3]) == "pool";
  JsonAlloc shared_pool;
  api::ResourceInfo resource;
  resource.version = "v1";
  resource.kind = "Pod";

  std::vector<JsonDoc> objects;
  objects.reserve(static_cast<size_t>(pods));
  for (int i = 0; i < pods; ++i) {
    std::string n = std::to_string(i);
    std::string json = R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"web-7d8f4c5b9-)" + n +
                       R"(","namespace":"default","uid":"1b4e28ba-2fa1-11d2-883f-0016d3cca427","resourceVersion":")" + n +
                       R"(","creationTimestamp":"2025-12-31T20:00:00Z","labels":{"app":"web","pod-template-hash":"7d8f4c5b9"},
      "ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"web-7d8f4c5b9","uid":"u","controller":true}]},
      "spec":{"nodeName":"edge-1","restartPolicy":"Always","dnsPolicy":"ClusterFirst","schedulerName":"default-scheduler",
        "containers":[{"name":"app","image":"nginx:1.27","ports":[{"containerPort":80,"protocol":"TCP"}],
                       "resources":{},"imagePullPolicy":"IfNotPresent"},
                      {"name":"sidecar","image":"busybox:1.36","imagePullPolicy":"IfNotPresent"}]},
      "status":{"phase":"Running","hostIP":"192.168.1.5","podIP":"10.42.0.)" +
                       std::to_string(i % 250) + R"(","podIPs":[{"ip":"10.42.0.1"}],"startTime":"2025-12-31T20:00:01Z",
        "conditions":[{"type":"Initialized","status":"True"},{"type":"Ready","status":"True"},
                      {"type":"ContainersReady","status":"True"},{"type":"PodScheduled","status":"True"}],
        "containerStatuses":[
          {"name":"app","ready":true,"restartCount":1,"started":true,"image":"nginx:1.27","imageID":"sha256:abc",
           "state":{"running":{"startedAt":"2025-12-31T20:00:03Z"}},
           "lastState":{"terminated":{"exitCode":1,"reason":"Error","finishedAt":"2025-12-31T20:00:02Z"}}},
          {"name":"sidecar","ready":true,"restartCount":0,"started":true,"state":{"running":{}}}]}})";
    JsonDoc d(pooled ? &shared_pool : nullptr);
    d.Parse(json.data(), json.size());
    if (d.HasParseError()) {
      std::fprintf(stderr, "bad json\n");
      return 1;
    }
    objects.push_back(std::move(d));
  }

  const TimePoint now(std::chrono::seconds(1767225600));
  std::vector<double> ms, cpu;
  size_t bytes = 0;
  for (int r = 0; r < rounds; ++r) {
    JsonDoc table;
    table.SetArray();
    auto& alloc = table.GetAllocator();
    table.Reserve(static_cast<rapidjson::SizeType>(objects.size()), alloc);
    auto t0 = std::chrono::steady_clock::now();
    double c0 = ThreadCpuMs();
    for (const JsonDoc& pod : objects) {
      JsonValue cells(rapidjson::kArrayType);
      api::TableCells(resource, pod, now, cells, alloc);
      table.PushBack(std::move(cells), alloc);
    }
    double c1 = ThreadCpuMs();
    auto t1 = std::chrono::steady_clock::now();
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    cpu.push_back(c1 - c0);
    if (r == 0) bytes = ToJson(table).size();
  }
  std::sort(ms.begin(), ms.end());
  std::sort(cpu.begin(), cpu.end());
  std::printf(
      "layout=%s pods=%d rounds=%d cells_json_bytes=%zu wall: min=%.2fms median=%.2fms; cpu: min=%.2fms "
      "median=%.2fms (%.0f ns/pod)\n",
      pooled ? "pool" : "doc", pods, rounds, bytes, ms.front(), ms[ms.size() / 2], cpu.front(), cpu[cpu.size() / 2],
      cpu[cpu.size() / 2] * 1e6 / pods);
  return 0;
}
