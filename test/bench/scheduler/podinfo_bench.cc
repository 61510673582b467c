// Memory of the scheduler's parsed pods: parses N pods as the control-plane benchmark stores them
// (a bare pod after admission: the ServiceAccount volume and mount, the two default NoExecute
// tolerations, bound to a hollow node and Running) and reports the heap bytes per PodInfo
// (glibc mallinfo2().uordblks before and after, chunk overhead included), then the bytes per pod
// the Cache adds to account them on 1,000 nodes. Then the same for pods as a Deployment makes them
// (two labels, a ReplicaSet owner), and both kinds parsed without a PodInterner (nothing shared).
//   podinfo_bench [pods=30000] [nodes=1000]
#include <malloc.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/json.h"
#include "server/scheduler/scheduler.h"

using namespace minik;
using namespace minik::scheduler;

namespace {

size_t InUse() { return mallinfo2().uordblks; }

std::string PodJson(int i, int num_nodes, bool deployment) {
  std::string n = std::to_string(i);
  char uid[40];
  std::snprintf(uid, sizeof(uid), "%08x-1b2c-4d3e-8f90-%012x", 0x5eed0000u + unsigned(i), unsigned(i) * 7919u);
  std::string node = "hollow-node-" + std::to_string(i % num_nodes);
  std::string owner =
      deployment ? R"(,"labels":{"app":"bench","pod-template-hash":"5d8f7c9b6d"},"ownerReferences":[{"apiVersion":)"
                   R"("apps/v1","kind":"ReplicaSet","name":"bench-5d8f7c9b6d","uid":"0c6b2a1e-7d3f-4e5a-9b8c-1d2e3f4a5b6c",)"
                   R"("controller":true,"blockOwnerDeletion":true}])"
                 : "";
  return R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p-)" + n + R"(","namespace":"bench","uid":")" + uid +
         R"(","resourceVersion":")" + std::to_string(100000 + i) + "\"" + owner +
         R"(,"creationTimestamp":"2026-11-22T18:16:04Z"},"spec":{"volumes":[{"name":"kube-api-access-x7k2p",)"
         R"("projected":{"sources":[{"serviceAccountToken":{"expirationSeconds":3607,"path":"token"}},)"
         R"({"configMap":{"name":"kube-root-ca.crt","items":[{"key":"ca.crt","path":"ca.crt"}]}},)"
         R"({"downwardAPI":{"items":[{"path":"namespace","fieldRef":{"apiVersion":"v1","fieldPath":"metadata.namespace"}}]}}],)"
         R"("defaultMode":420}}],"containers":[{"name":"c","image":"busybox","resources":{"requests":{"cpu":"10m",)"
         R"("memory":"10Mi"}},"volumeMounts":[{"name":"kube-api-access-x7k2p","readOnly":true,)"
         R"("mountPath":"/var/run/secrets/kubernetes.io/serviceaccount"}],"terminationMessagePath":"/dev/termination-log",)"
         R"("terminationMessagePolicy":"File","imagePullPolicy":"Always"}],"restartPolicy":"Always",)"
         R"("terminationGracePeriodSeconds":30,"dnsPolicy":"ClusterFirst","serviceAccountName":"default",)"
         R"("serviceAccount":"default","nodeName":")" + node + R"(","securityContext":{},"schedulerName":"default-scheduler",)"
         R"("tolerations":[{"key":"node.kubernetes.io/not-ready","operator":"Exists","effect":"NoExecute",)"
         R"("tolerationSeconds":300},{"key":"node.kubernetes.io/unreachable","operator":"Exists",)"
         R"("effect":"NoExecute","tolerationSeconds":300}],"priority":0,"enableServiceLinks":true,)"
         R"("preemptionPolicy":"PreemptLowerPriority"},"status":{"phase":"Running","conditions":[{"type":"Ready",)"
         R"("status":"True","lastProbeTime":null,"lastTransitionTime":"2026-11-22T18:16:05Z"}],)"
         R"("qosClass":"Burstable","startTime":"2026-11-22T18:16:05Z"}})";
}

// Bytes per PodInfo parsed (with or without an interner) and per pod accounted in a Cache.
struct Result {
  double per_pod = 0;
  double per_bound = 0;
  size_t distinct_terms = 0;
};

bool Measure(int num_pods, int num_nodes, bool deployment, bool intern, Result* out) {
  std::vector<std::string> texts;
  texts.reserve(num_pods);
  for (int i = 0; i < num_pods; ++i) texts.push_back(PodJson(i, num_nodes, deployment));
  std::vector<PodInfoPtr> pods;
  pods.reserve(num_pods);
  // As the scheduler loop parses them: identical terms and labels shared through one interner.
  PodInterner interner;
  size_t before = InUse();
  for (const auto& text : texts) {
    auto d = ParseJson(text);
    if (!d.ok()) return false;
    auto p = ParsePod(*d, intern ? &interner : nullptr);
    if (!p.ok()) {
      std::fprintf(stderr, "%s\n", p.error().ToString().c_str());
      return false;
    }
    pods.push_back(std::move(p).value());
  }
  size_t parsed = InUse();

  Cache cache;
  for (int i = 0; i < num_nodes; ++i) {
    std::string name = "hollow-node-" + std::to_string(i);
    auto d = ParseJson(R"({"metadata":{"name":")" + name + R"(","labels":{"kubernetes.io/hostname":")" + name +
                       R"("}},"status":{"allocatable":{"cpu":"4","memory":"32Gi","pods":"110"},)"
                       R"("conditions":[{"type":"Ready","status":"True"}]}})");
    if (!d.ok() || !cache.UpsertNode(*d).ok()) return false;
  }
  size_t with_nodes = InUse();
  for (const auto& p : pods) cache.AddPod(p);
  size_t accounted = InUse();
  out->per_pod = double(parsed - before) / num_pods;
  out->per_bound = double(accounted - with_nodes) / num_pods;
  out->distinct_terms = interner.terms.size();
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  int num_pods = argc > 1 ? std::atoi(argv[1]) : 30000;
  int num_nodes = argc > 2 ? std::atoi(argv[2]) : 1000;
  if (num_pods <= 0 || num_nodes <= 0) return 2;
  std::printf("pods=%d nodes=%d sizeof(PodInfo)=%zu sizeof(PodTerms)=%zu\n", num_pods, num_nodes, sizeof(PodInfo),
              sizeof(PodTerms));
  for (bool deployment : {false, true}) {
    for (bool intern : {true, false}) {
      Result r;
      if (!Measure(num_pods, num_nodes, deployment, intern, &r)) return 1;
      std::printf("%-16s %-10s PodInfo heap per pod: %4.0f bytes (%.1f MB)  Cache accounting per bound pod: %3.0f bytes%s\n",
                  deployment ? "deployment pods" : "bare bench pods", intern ? "interned" : "unshared", r.per_pod,
                  r.per_pod * num_pods / 1e6, r.per_bound,
                  intern ? (" (distinct PodTerms: " + std::to_string(r.distinct_terms) + ")").c_str() : "");
    }
  }
  return 0;
}
