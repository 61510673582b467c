#include <catch2/catch.hpp>

#include "test_util.h"

using namespace minik::scheduler;
using namespace minik::scheduler::testing;

TEST_CASE("LeastAllocated prefers the emptier node", "[score]") {
  Cluster c;
  c.Node(NodeJson("busy", "4", "8Gi")).Node(NodeJson("idle", "4", "8Gi"));
  c.Bound(PodJson("a", R"({"cpu":"2","memory":"4Gi"})", "", "", "busy"));
  CHECK(c.Schedule(PodJson("p", R"({"cpu":"1","memory":"1Gi"})")).node == "idle");
  // Pods without requests count as 100m / 200Mi each for scoring.
  Cluster d;
  d.Node(NodeJson("n1", "1", "1Gi")).Node(NodeJson("n2", "1", "1Gi"));
  for (int i = 0; i < 3; ++i) d.Bound(PodJson("x" + std::to_string(i), "{}", "", "", "n1"));
  CHECK(d.Schedule(PodJson("p")).node == "n2");
}

TEST_CASE("BalancedAllocation prefers balanced cpu/memory use", "[score]") {
  Cluster c;
  // Both nodes end up equally allocated on average, but "lopsided" would be cpu-heavy.
  c.Node(NodeJson("lopsided", "4", "4Gi")).Node(NodeJson("even", "4", "4Gi"));
  c.Bound(PodJson("a", R"({"cpu":"2","memory":"0"})", "", "", "lopsided"));
  c.Bound(PodJson("b", R"({"cpu":"1","memory":"1Gi"})", "", "", "even"));
  // LeastAllocated: lopsided (cpu 3/4 used, mem ~0) = (25+~95)/2, even (2/4, 1.x/4): similar;
  // balanced decides: even gets 100 - |0.5-0.5|/2*100 = 100-ish, lopsided much less.
  CHECK(c.Schedule(PodJson("p", R"({"cpu":"1","memory":"1Gi"})")).node == "even");
}

TEST_CASE("preferred node affinity weights decide", "[score]") {
  Cluster c;
  c.Node(NodeJson("a", "4", "8Gi", R"("disk":"ssd")")).Node(NodeJson("b", "4", "8Gi", R"("disk":"hdd","fast":"yes")"));
  std::string pref = R"("affinity":{"nodeAffinity":{"preferredDuringSchedulingIgnoredDuringExecution":[
      {"weight":10,"preference":{"matchExpressions":[{"key":"disk","operator":"In","values":["ssd"]}]}},
      {"weight":30,"preference":{"matchExpressions":[{"key":"fast","operator":"Exists"}]}}]}})";
  CHECK(c.Schedule(PodJson("p", "{}", pref)).node == "b");
}

TEST_CASE("TaintToleration score avoids PreferNoSchedule taints", "[score]") {
  Cluster c;
  c.Node(NodeJson("tainted", "4", "8Gi", "", R"({"taints":[{"key":"spot","value":"1","effect":"PreferNoSchedule"}]})"));
  c.Node(NodeJson("clean", "4", "8Gi"));
  // Make the tainted node otherwise more attractive (emptier).
  c.Bound(PodJson("a", R"({"cpu":"1","memory":"1Gi"})", "", "", "clean"));
  CHECK(c.Schedule(PodJson("p")).node == "clean");
  CHECK(c.Schedule(PodJson("p", "{}", R"("tolerations":[{"key":"spot","operator":"Exists","effect":"PreferNoSchedule"}])"))
            .node == "tainted");
}

TEST_CASE("preferred pod affinity and anti-affinity", "[score]") {
  Cluster c;
  c.Node(NodeJson("n1")).Node(NodeJson("n2")).Node(NodeJson("n3"));
  c.Bound(PodJson("cache", "{}", "", R"("app":"cache")", "n2"));
  std::string aff = R"("affinity":{"podAffinity":{"preferredDuringSchedulingIgnoredDuringExecution":[{"weight":50,"podAffinityTerm":{"labelSelector":{"matchLabels":{"app":"cache"}},"topologyKey":"kubernetes.io/hostname"}}]}})";
  CHECK(c.Schedule(PodJson("p", "{}", aff)).node == "n2");
  std::string anti = R"("affinity":{"podAntiAffinity":{"preferredDuringSchedulingIgnoredDuringExecution":[{"weight":50,"podAffinityTerm":{"labelSelector":{"matchLabels":{"app":"cache"}},"topologyKey":"kubernetes.io/hostname"}}]}})";
  CHECK(c.Schedule(PodJson("p", "{}", anti)).node != "n2");
  // An existing pod's preferred affinity to the incoming pod attracts it too (symmetry).
  Cluster d;
  d.Node(NodeJson("n1")).Node(NodeJson("n2"));
  std::string wants_web = R"("affinity":{"podAffinity":{"preferredDuringSchedulingIgnoredDuringExecution":[{"weight":100,"podAffinityTerm":{"labelSelector":{"matchLabels":{"app":"web"}},"topologyKey":"kubernetes.io/hostname"}}]}})";
  d.Bound(PodJson("side", R"({"cpu":"1"})", wants_web, "", "n1"));
  CHECK(d.Schedule(PodJson("web", "{}", "", R"("app":"web")")).node == "n1");
}

TEST_CASE("ScheduleAnyway spread prefers the emptier domain", "[score]") {
  Cluster c;
  c.Node(NodeJson("a1", "4", "8Gi", R"("topology.kubernetes.io/zone":"a")"));
  c.Node(NodeJson("b1", "4", "8Gi", R"("topology.kubernetes.io/zone":"b")"));
  c.Bound(PodJson("w1", "{}", "", R"("app":"web")", "a1"));
  c.Bound(PodJson("w2", "{}", "", R"("app":"web")", "a1"));
  // Make b1 less attractive on resources so only spreading can win.
  c.Bound(PodJson("big", R"({"cpu":"2","memory":"4Gi"})", "", "", "b1"));
  std::string tsc = R"("topologySpreadConstraints":[{"maxSkew":1,"topologyKey":"topology.kubernetes.io/zone","whenUnsatisfiable":"ScheduleAnyway","labelSelector":{"matchLabels":{"app":"web"}}}])";
  CHECK(c.Schedule(PodJson("w3", "{}", tsc, R"("app":"web")")).node == "b1");
  CHECK(c.Schedule(PodJson("w3", "{}", "", R"("app":"web")")).node == "a1");
  // System default constraints apply to pods owned by a ReplicaSet.
  std::string owner = R"(,"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"rs","uid":"u","controller":true}])";
  Cluster d;
  d.Node(NodeJson("n1", "4", "8Gi")).Node(NodeJson("n2", "4", "8Gi"));
  for (int i = 0; i < 4; ++i) d.Bound(PodJson("r" + std::to_string(i), "{}", "", R"("app":"rs")", "n1", owner));
  d.Bound(PodJson("big", R"({"cpu":"1500m","memory":"3Gi"})", "", "", "n2"));
  CHECK(d.Schedule(PodJson("r9", "{}", "", R"("app":"rs")", "", owner)).node == "n2");
}
