#include <catch2/catch.hpp>

#include "test_util.h"

using namespace minik::scheduler;
using namespace minik::scheduler::testing;

namespace {
std::string FullMessage(Cache& cache, const PodInfo& pod, const ScheduleResult& r) {
  PreemptionResult pr = cache.Preempt(pod, r, {});
  return FitErrorMessage(r, pr.message);
}
const std::string kCpTaint = R"({"taints":[{"key":"node-role.kubernetes.io/control-plane","effect":"NoSchedule"}]})";
}  // namespace

TEST_CASE("FailedScheduling message: counted, sorted reasons and the preemption part", "[message]") {
  Cluster c;
  c.Node(NodeJson("w1", "1", "4Gi"));
  c.Node(NodeJson("cp1", "4", "8Gi", "", kCpTaint));
  c.Node(NodeJson("cp2", "4", "8Gi", "", kCpTaint));
  auto pod = Pod(PodJson("p", R"({"cpu":"2"})"));
  auto r = c.cache.Schedule(*pod);
  REQUIRE_FALSE(r.ok());
  CHECK(FitErrorMessage(r) ==
        "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint "
        "{node-role.kubernetes.io/control-plane: }.");
  CHECK(FullMessage(c.cache, *pod, r) ==
        "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint "
        "{node-role.kubernetes.io/control-plane: }. preemption: 0/3 nodes are available: 1 No preemption victims "
        "found for incoming pod, 2 Preemption is not helpful for scheduling.");
}

TEST_CASE("message when only unresolvable reasons remain", "[message]") {
  Cluster c;
  c.Node(NodeJson("n1", "4", "8Gi", "", kCpTaint));
  c.Node(NodeJson("n2", "4", "8Gi", "", "{}", "False"));
  c.Node(NodeJson("n3", "4", "8Gi", "", R"({"unschedulable":true})"));
  auto pod = Pod(PodJson("p", "{}", R"("nodeSelector":{"a":"b"})"));
  auto r = c.cache.Schedule(*pod);
  CHECK(FullMessage(c.cache, *pod, r) ==
        "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, "
        "1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }, 1 node(s) were unschedulable. "
        "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.");
}

TEST_CASE("reasons sort as strings, counts included", "[message]") {
  Cluster c;
  for (int i = 0; i < 10; ++i) c.Node(NodeJson("small" + std::to_string(i), "1", "8Gi"));
  c.Node(NodeJson("t1", "4", "8Gi", "", kCpTaint));
  c.Node(NodeJson("t2", "4", "8Gi", "", kCpTaint));
  auto pod = Pod(PodJson("p", R"({"cpu":"2","memory":"9Gi"})"));
  auto r = c.cache.Schedule(*pod);
  CHECK(FitErrorMessage(r) ==
        "0/12 nodes are available: 10 Insufficient cpu, 10 Insufficient memory, 2 node(s) had untolerated taint "
        "{node-role.kubernetes.io/control-plane: }.");
}

TEST_CASE("preemptionPolicy Never and no nodes", "[message]") {
  Cluster c;
  c.Node(NodeJson("n1", "1", "1Gi"));
  auto pod = Pod(PodJson("p", R"({"cpu":"2"})", R"("preemptionPolicy":"Never","priority":100)"));
  auto r = c.cache.Schedule(*pod);
  CHECK(FullMessage(c.cache, *pod, r) ==
        "0/1 nodes are available: 1 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never.");
  Cache empty;
  auto e = empty.Schedule(*pod);
  CHECK(FitErrorMessage(e) == "0/0 nodes are available:");
}

TEST_CASE("pods that fit leave no statuses and a node", "[message]") {
  Cluster c;
  c.Node(NodeJson("n1"));
  auto r = c.Schedule(PodJson("p"));
  CHECK(r.node == "n1");
  CHECK(r.statuses.empty());
}

TEST_CASE("a DaemonSet-style pinned pod that does not fit its node", "[message]") {
  // As kube-scheduler reports it: "0/4 nodes are available: 1 Insufficient cpu, 3 node(s) didn't
  // satisfy plugin(s) [NodeAffinity]. preemption: 0/4 nodes are available: 1 No preemption victims
  // found for incoming pod, 3 Preemption is not helpful for scheduling."
  Cluster c;
  for (const char* n : {"n1", "n2", "n3", "n4"}) c.Node(NodeJson(n, "1", "4Gi"));
  auto pod = Pod(PodJson("ds", R"({"cpu":"2"})",
                         R"("affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchFields":[{"key":"metadata.name","operator":"In","values":["n3"]}]}]}}})"));
  auto r = c.cache.Schedule(*pod);
  REQUIRE_FALSE(r.ok());
  CHECK(r.evaluated_nodes == 1);
  CHECK(FullMessage(c.cache, *pod, r) ==
        "0/4 nodes are available: 1 Insufficient cpu, 3 node(s) didn't satisfy plugin(s) [NodeAffinity]. "
        "preemption: 0/4 nodes are available: 1 No preemption victims found for incoming pod, 3 Preemption is "
        "not helpful for scheduling.");
}
