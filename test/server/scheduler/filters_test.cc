#include <catch2/catch.hpp>

#include "test_util.h"

using namespace minik::scheduler;
using namespace minik::scheduler::testing;

namespace {
std::vector<std::string> Reasons(const ScheduleResult& r, const std::string& node) {
  auto it = r.statuses.find(node);
  return it == r.statuses.end() ? std::vector<std::string>{} : it->second.reasons;
}
}  // namespace

TEST_CASE("NodeUnschedulable filters cordoned nodes unless tolerated", "[filter]") {
  Cluster c;
  c.Node(NodeJson("n1", "4", "8Gi", "", R"({"unschedulable":true})"));
  auto r = c.Schedule(PodJson("p"));
  CHECK_FALSE(r.ok());
  CHECK(Reasons(r, "n1") == std::vector<std::string>{"node(s) were unschedulable"});
  CHECK(r.statuses["n1"].code == Code::kUnschedulableAndUnresolvable);
  auto ok = c.Schedule(PodJson("p", "{}",
                               R"("tolerations":[{"key":"node.kubernetes.io/unschedulable","operator":"Exists","effect":"NoSchedule"}])"));
  CHECK(ok.node == "n1");
}

TEST_CASE("NodeName filters other nodes", "[filter]") {
  Cluster c;
  c.Node(NodeJson("n1")).Node(NodeJson("n2"));
  auto r = c.Schedule(PodJson("p", "{}", "", "", "n2"));
  CHECK(r.node == "n2");
  auto r2 = c.Schedule(PodJson("p", "{}", "", "", "n9"));
  CHECK(Reasons(r2, "n1") == std::vector<std::string>{"node(s) didn't match the requested node name"});
}

TEST_CASE("TaintToleration: NoSchedule and NoExecute taints need tolerations", "[filter]") {
  Cluster c;
  c.Node(NodeJson("cp", "4", "8Gi", "",
                  R"({"taints":[{"key":"node-role.kubernetes.io/control-plane","effect":"NoSchedule"}]})"));
  c.Node(NodeJson("gpu", "4", "8Gi", "", R"({"taints":[{"key":"gpu","value":"true","effect":"NoExecute"}]})"));
  c.Node(NodeJson("soft", "4", "8Gi", "", R"({"taints":[{"key":"x","value":"y","effect":"PreferNoSchedule"}]})"));
  auto r = c.Schedule(PodJson("p"));
  CHECK(r.node == "soft");  // PreferNoSchedule does not filter
  c.cache.RemoveNode("soft");
  r = c.Schedule(PodJson("p"));
  CHECK_FALSE(r.ok());
  CHECK(Reasons(r, "cp") == std::vector<std::string>{"node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }"});
  CHECK(Reasons(r, "gpu") == std::vector<std::string>{"node(s) had untolerated taint {gpu: true}"});
  // Equal needs the value; Exists does not; an empty key with Exists tolerates everything.
  CHECK(c.Schedule(PodJson("p", "{}", R"("tolerations":[{"key":"gpu","value":"false"}])")).node.empty());
  CHECK(c.Schedule(PodJson("p", "{}", R"("tolerations":[{"key":"gpu","value":"true"}])")).node == "gpu");
  CHECK(c.Schedule(PodJson("p", "{}", R"("tolerations":[{"key":"gpu","operator":"Exists","effect":"NoSchedule"}])"))
            .node.empty());
  CHECK_FALSE(c.Schedule(PodJson("p", "{}", R"("tolerations":[{"operator":"Exists"}])")).node.empty());
}

TEST_CASE("nodes that are not Ready carry the not-ready taint", "[filter]") {
  Cluster c;
  c.Node(NodeJson("down", "4", "8Gi", "", "{}", "False"));
  c.Node(NodeJson("lost", "4", "8Gi", "", "{}", "Unknown"));
  auto r = c.Schedule(PodJson("p"));
  CHECK_FALSE(r.ok());
  CHECK(Reasons(r, "down") == std::vector<std::string>{"node(s) had untolerated taint {node.kubernetes.io/not-ready: }"});
  CHECK(Reasons(r, "lost") == std::vector<std::string>{"node(s) had untolerated taint {node.kubernetes.io/unreachable: }"});
  auto ok = c.Schedule(
      PodJson("p", "{}", R"("tolerations":[{"key":"node.kubernetes.io/not-ready","operator":"Exists"}])"));
  CHECK(ok.node == "down");
}

TEST_CASE("NodeAffinity: nodeSelector and required terms", "[filter]") {
  Cluster c;
  c.Node(NodeJson("a", "4", "8Gi", R"("disk":"ssd","gen":"5")"));
  c.Node(NodeJson("b", "4", "8Gi", R"("disk":"hdd","gen":"3")"));
  c.Node(NodeJson("c", "4", "8Gi", ""));
  auto sel = c.Schedule(PodJson("p", "{}", R"("nodeSelector":{"disk":"ssd"})"));
  CHECK(sel.node == "a");
  CHECK(Reasons(c.Schedule(PodJson("p", "{}", R"("nodeSelector":{"disk":"nvme"})")), "b") ==
        std::vector<std::string>{"node(s) didn't match Pod's node affinity/selector"});
  auto aff = [&](const std::string& exprs) {
    return c.Schedule(PodJson("p", "{}",
                              R"("affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[)" +
                                  exprs + "]}}}"));
  };
  CHECK(aff(R"({"matchExpressions":[{"key":"disk","operator":"In","values":["hdd"]}]})").node == "b");
  CHECK(aff(R"({"matchExpressions":[{"key":"disk","operator":"DoesNotExist"}]})").node == "c");
  CHECK(aff(R"({"matchExpressions":[{"key":"gen","operator":"Gt","values":["4"]}]})").node == "a");
  CHECK(aff(R"({"matchExpressions":[{"key":"gen","operator":"Lt","values":["4"]}]})").node == "b");
  CHECK(aff(R"({"matchExpressions":[{"key":"disk","operator":"Exists"},{"key":"disk","operator":"NotIn","values":["ssd"]}]})")
            .node == "b");
  // Terms are ORed.
  auto either = aff(R"({"matchExpressions":[{"key":"gen","operator":"In","values":["nope"]}]},{"matchFields":[{"key":"metadata.name","operator":"In","values":["c"]}]})");
  CHECK(either.node == "c");
  // matchFields alone restricts the candidate nodes up front (PreFilter).
  auto only = aff(R"({"matchFields":[{"key":"metadata.name","operator":"In","values":["b"]}],"matchExpressions":[{"key":"disk","operator":"In","values":["ssd"]}]})");
  CHECK_FALSE(only.ok());
  CHECK(FitErrorMessage(only) ==
        "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 2 node(s) didn't satisfy "
        "plugin(s) [NodeAffinity].");
  // An empty term matches nothing.
  CHECK_FALSE(aff("{}").ok());
}

TEST_CASE("NodePorts: host ports conflict by protocol, port and IP", "[filter]") {
  Cluster c;
  c.Node(NodeJson("n1"));
  std::string ports = R"("containers":[{"name":"c","ports":[{"containerPort":80,"hostPort":8080}]}])";
  auto pod_with = [](const std::string& name, const std::string& port_json, const std::string& node = "") {
    std::string s = R"({"metadata":{"name":")" + name + R"(","namespace":"default","uid":")" + name +
                    R"("},"spec":{"containers":[{"name":"c","ports":[)" + port_json + "]}]";
    if (!node.empty()) s += R"(,"nodeName":")" + node + "\"";
    return s + "}}";
  };
  c.Bound(pod_with("a", R"({"containerPort":80,"hostPort":8080})", "n1"));
  auto r = c.Schedule(pod_with("b", R"({"containerPort":80,"hostPort":8080})"));
  CHECK(Reasons(r, "n1") == std::vector<std::string>{"node(s) didn't have free ports for the requested pod ports"});
  CHECK(c.Schedule(pod_with("b", R"({"containerPort":80,"hostPort":8080,"protocol":"UDP"})")).node == "n1");
  CHECK(c.Schedule(pod_with("b", R"({"containerPort":80,"hostPort":8081})")).node == "n1");
  CHECK_FALSE(c.Schedule(pod_with("b", R"({"containerPort":80,"hostPort":8080,"hostIP":"10.0.0.1"})")).ok());
  c.cache.RemovePod("a");
  c.Bound(pod_with("a", R"({"containerPort":80,"hostPort":8080,"hostIP":"10.0.0.1"})", "n1"));
  CHECK(c.Schedule(pod_with("b", R"({"containerPort":80,"hostPort":8080,"hostIP":"10.0.0.2"})")).node == "n1");
  CHECK_FALSE(c.Schedule(pod_with("b", R"({"containerPort":80,"hostPort":8080})")).ok());
}

TEST_CASE("NodeResourcesFit: cpu, memory, pods and extended resources", "[filter]") {
  Cluster c;
  c.Node(NodeJson("n1", "2", "4Gi", "", "{}", "True", "3", R"(,"example.com/gpu":"1")"));
  c.Bound(PodJson("a", R"({"cpu":"1500m","memory":"3Gi"})", "", "", "n1"));
  CHECK(c.Schedule(PodJson("p", R"({"cpu":"500m","memory":"1Gi"})")).node == "n1");
  auto r = c.Schedule(PodJson("p", R"({"cpu":"501m","memory":"1025Mi"})"));
  CHECK(Reasons(r, "n1") == std::vector<std::string>{"Insufficient cpu", "Insufficient memory"});
  CHECK(r.statuses["n1"].code == Code::kUnschedulable);
  CHECK(Reasons(c.Schedule(PodJson("p", R"({"example.com/gpu":"2"})")), "n1") ==
        std::vector<std::string>{"Insufficient example.com/gpu"});
  CHECK(Reasons(c.Schedule(PodJson("p", R"({"example.com/other":"1"})")), "n1") ==
        std::vector<std::string>{"Insufficient example.com/other"});
  CHECK(c.Schedule(PodJson("p", R"({"example.com/gpu":"1"})")).node == "n1");
  c.Bound(PodJson("b", "{}", "", "", "n1")).Bound(PodJson("c", "{}", "", "", "n1"));
  CHECK(Reasons(c.Schedule(PodJson("p")), "n1") == std::vector<std::string>{"Too many pods"});
  // Removing a pod frees its share.
  c.cache.RemovePod("uid-c");
  CHECK(c.Schedule(PodJson("p", R"({"cpu":"500m"})")).node == "n1");
  c.cache.RemovePod("uid-a");
  CHECK(c.Schedule(PodJson("p", R"({"cpu":"2","memory":"4Gi"})")).node == "n1");
}

TEST_CASE("pod requests: max of init containers, sum of containers, sidecars and overhead", "[filter]") {
  auto pod = Pod(R"({"metadata":{"name":"p"},"spec":{
      "initContainers":[{"name":"i1","resources":{"requests":{"cpu":"2","memory":"1G"}}},
                        {"name":"i2","resources":{"requests":{"cpu":"2","memory":"3G"}}}],
      "containers":[{"name":"c1","resources":{"requests":{"cpu":"2","memory":"1G"}}},
                    {"name":"c2","resources":{"requests":{"cpu":"1","memory":"1G"}}}],
      "overhead":{"cpu":"250m"}}})");
  CHECK(pod->requests.milli_cpu == 3250);
  CHECK(pod->requests.memory == 3000000000);
  auto side = Pod(R"({"metadata":{"name":"p"},"spec":{
      "initContainers":[{"name":"s","restartPolicy":"Always","resources":{"requests":{"cpu":"1"}}},
                        {"name":"i","resources":{"requests":{"cpu":"3"}}}],
      "containers":[{"name":"c","resources":{"requests":{"cpu":"1"}}}]}})");
  CHECK(side->requests.milli_cpu == 4000);  // init 3 runs beside the sidecar: 1 + 3
  // Scoring counts missing requests as 100m / 200Mi.
  auto none = Pod(R"({"metadata":{"name":"p"},"spec":{"containers":[{"name":"a"},{"name":"b"}]}})");
  CHECK(none->requests.milli_cpu == 0);
  CHECK(none->nonzero_milli_cpu == 200);
  CHECK(none->nonzero_memory == 2 * 200 * 1024 * 1024);
  auto d = Json(R"({"metadata":{"name":"p"},"spec":{"containers":[{"name":"a","resources":{"requests":{"cpu":"lots"}}}]}})");
  CHECK_FALSE(ParsePod(d).ok());
}

TEST_CASE("InterPodAffinity: required affinity on hostname and zone", "[filter]") {
  Cluster c;
  c.Node(NodeJson("a1", "4", "8Gi", R"("topology.kubernetes.io/zone":"a")"));
  c.Node(NodeJson("a2", "4", "8Gi", R"("topology.kubernetes.io/zone":"a")"));
  c.Node(NodeJson("b1", "4", "8Gi", R"("topology.kubernetes.io/zone":"b")"));
  c.Bound(PodJson("db", "{}", "", R"("app":"db")", "a1"));
  auto affinity = [](const std::string& key, const std::string& app) {
    return R"("affinity":{"podAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":[{"labelSelector":{"matchLabels":{"app":")" +
           app + R"("}},"topologyKey":")" + key + "\"}]}}";
  };
  CHECK(c.Schedule(PodJson("web", "{}", affinity("kubernetes.io/hostname", "db"))).node == "a1");
  auto zone = c.Schedule(PodJson("web", "{}", affinity("topology.kubernetes.io/zone", "db")));
  CHECK((zone.node == "a1" || zone.node == "a2"));
  c.cache.RemoveNode("a1");
  c.cache.RemoveNode("a2");
  auto r = c.Schedule(PodJson("web", "{}", affinity("topology.kubernetes.io/zone", "db")));
  CHECK(Reasons(r, "b1") == std::vector<std::string>{"node(s) didn't match pod affinity rules"});
  // The first pod of a self-affine group may go anywhere.
  CHECK(c.Schedule(PodJson("web", "{}", affinity("topology.kubernetes.io/zone", "solo"), R"("app":"solo")")).node == "b1");
  // ... but not without the topology label.
  CHECK_FALSE(c.Schedule(PodJson("web", "{}", affinity("rack", "solo"), R"("app":"solo")")).ok());
}

TEST_CASE("InterPodAffinity: anti-affinity of the pod and of existing pods", "[filter]") {
  Cluster c;
  c.Node(NodeJson("n1", "4", "8Gi", R"("topology.kubernetes.io/zone":"a")"));
  c.Node(NodeJson("n2", "4", "8Gi", R"("topology.kubernetes.io/zone":"a")"));
  c.Node(NodeJson("n3", "4", "8Gi", R"("topology.kubernetes.io/zone":"b")"));
  std::string anti = R"("affinity":{"podAntiAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":[{"labelSelector":{"matchLabels":{"app":"web"}},"topologyKey":"kubernetes.io/hostname"}]}})";
  c.Bound(PodJson("w1", "{}", anti, R"("app":"web")", "n1"));
  c.Bound(PodJson("w2", "{}", anti, R"("app":"web")", "n2"));
  auto r = c.Schedule(PodJson("w3", "{}", anti, R"("app":"web")"));
  CHECK(r.node == "n3");
  c.Bound(PodJson("w3", "{}", anti, R"("app":"web")", "n3"));
  auto full = c.Schedule(PodJson("w4", "{}", anti, R"("app":"web")"));
  CHECK(Reasons(full, "n1") == std::vector<std::string>{"node(s) didn't match pod anti-affinity rules"});
  // A pod without anti-affinity of its own is still kept off by the existing pods' rules.
  auto other = c.Schedule(PodJson("x", "{}", "", R"("app":"web")"));
  CHECK(Reasons(other, "n2") == std::vector<std::string>{"node(s) didn't satisfy existing pods anti-affinity rules"});
  // Other namespaces are not matched by default.
  auto d = Json(R"({"metadata":{"name":"y","namespace":"other","labels":{"app":"web"}},"spec":{"containers":[{"name":"c"}]}})");
  CHECK(c.cache.Schedule(**ParsePod(d)).ok());
  // Zone anti-affinity.
  std::string zanti = R"("affinity":{"podAntiAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":[{"labelSelector":{"matchLabels":{"app":"db"}},"topologyKey":"topology.kubernetes.io/zone"}]}})";
  c.Bound(PodJson("db1", "{}", "", R"("app":"db")", "n1"));
  auto z = c.Schedule(PodJson("db2", "{}", zanti, R"("app":"db")"));
  CHECK(z.node == "n3");
}

TEST_CASE("PodTopologySpread: DoNotSchedule constraints", "[filter]") {
  Cluster c;
  c.Node(NodeJson("a1", "4", "8Gi", R"("topology.kubernetes.io/zone":"a")"));
  c.Node(NodeJson("b1", "4", "8Gi", R"("topology.kubernetes.io/zone":"b")"));
  c.Node(NodeJson("x", "4", "8Gi", ""));
  std::string tsc = R"("topologySpreadConstraints":[{"maxSkew":1,"topologyKey":"topology.kubernetes.io/zone","whenUnsatisfiable":"DoNotSchedule","labelSelector":{"matchLabels":{"app":"web"}}}])";
  c.Bound(PodJson("w1", "{}", "", R"("app":"web")", "a1"));
  auto r = c.Schedule(PodJson("w2", "{}", tsc, R"("app":"web")"));
  CHECK(r.node == "b1");
  CHECK(Reasons(r, "a1").empty());  // statuses are cleared on success
  c.cache.RemoveNode("b1");
  auto f = c.Schedule(PodJson("w2", "{}", tsc, R"("app":"web")"));
  CHECK(f.ok());  // only zone a remains: skew 0
  c.Node(NodeJson("b1", "4", "8Gi", R"("topology.kubernetes.io/zone":"b")"));
  c.Bound(PodJson("w2", "{}", "", R"("app":"web")", "a1"));
  c.Bound(PodJson("w3", "{}", "", R"("app":"web")", "b1"));
  c.Bound(PodJson("w4", "{}", "", R"("app":"web")", "b1"));
  c.Bound(PodJson("w5", "{}", "", R"("app":"web")", "b1"));
  // nodeAffinityPolicy Honor (default): zone a does not count for a pod restricted to zone b.
  CHECK(c.Schedule(PodJson("w6", "{}", tsc + R"(,"nodeSelector":{"topology.kubernetes.io/zone":"b"})", R"("app":"web")"))
            .node == "b1");
  std::string ignore = tsc;
  ignore.insert(ignore.find("\"labelSelector\""), R"("nodeAffinityPolicy":"Ignore",)");
  auto g = c.Schedule(PodJson("w6", "{}", ignore + R"(,"nodeSelector":{"topology.kubernetes.io/zone":"b"})", R"("app":"web")"));
  CHECK_FALSE(g.ok());
  CHECK(Reasons(g, "b1") == std::vector<std::string>{"node(s) didn't match pod topology spread constraints"});
  CHECK(Reasons(g, "x") == std::vector<std::string>{"node(s) didn't match Pod's node affinity/selector"});
  auto h = c.Schedule(PodJson("w6", "{}", tsc, R"("app":"web")"));
  CHECK(h.node == "a1");
  // A node without the topology label fails with the missing-label reason (when it passes the rest).
  c.cache.RemoveNode("a1");
  c.cache.RemoveNode("b1");
  auto m = c.Schedule(PodJson("w6", "{}", tsc, R"("app":"web")"));
  CHECK(Reasons(m, "x") == std::vector<std::string>{"node(s) didn't match pod topology spread constraints (missing required label)"});
}

TEST_CASE("adaptive percentage of nodes to score", "[filter]") {
  Cache c;
  CHECK(c.NumFeasibleNodesToFind(50) == 50);
  CHECK(c.NumFeasibleNodesToFind(100) == 100);
  CHECK(c.NumFeasibleNodesToFind(150) == 100);   // 49% of 150 < 100
  CHECK(c.NumFeasibleNodesToFind(1000) == 420);  // 42%
  CHECK(c.NumFeasibleNodesToFind(5000) == 500);  // 10%
  CHECK(c.NumFeasibleNodesToFind(10000) == 500); // floor 5%
  Cache all(Options{100});
  CHECK(all.NumFeasibleNodesToFind(1000) == 1000);
}

TEST_CASE("per-selector pod counts follow binds, removals and node churn", "[filter]") {
  Cluster c;
  c.Node(NodeJson("n1")).Node(NodeJson("n2")).Node(NodeJson("n3"));
  auto sel = minik::api::LabelSelector::FromSet({{"app", "web"}});
  std::string ns = "default";
  auto counts = [&] {
    std::map<std::string, int> out;
    const auto& v = c.cache.PodCountsBySelector(sel, ns);
    for (const char* n : {"n1", "n2", "n3"}) {
      const NodeInfo* node = c.cache.GetNode(n);
      if (node) out[n] = v[node->cache_index];
    }
    return out;
  };
  c.Bound(PodJson("a", "{}", "", R"("app":"web")", "n1"));
  CHECK(counts() == std::map<std::string, int>{{"n1", 1}, {"n2", 0}, {"n3", 0}});
  c.Bound(PodJson("b", "{}", "", R"("app":"web")", "n3"));
  c.Bound(PodJson("x", "{}", "", R"("app":"db")", "n3"));
  c.cache.AssumePod(Pod(PodJson("d", "{}", "", R"("app":"web")")), "n3");
  CHECK(counts() == std::map<std::string, int>{{"n1", 1}, {"n2", 0}, {"n3", 2}});
  c.cache.RemoveNode("n1");  // n3 moves into n1's slot
  CHECK(counts() == std::map<std::string, int>{{"n2", 0}, {"n3", 2}});
  c.cache.RemovePod("uid-b");
  CHECK(counts() == std::map<std::string, int>{{"n2", 0}, {"n3", 1}});
  c.Node(NodeJson("n1"));  // its pod "a" is accounted again
  CHECK(counts() == std::map<std::string, int>{{"n1", 1}, {"n2", 0}, {"n3", 1}});
  // Terminating pods do not count; re-adding a pod replaces it.
  c.Bound(PodJson("a", "{}", "", R"("app":"web")", "n1", R"(,"deletionTimestamp":"2024-01-01T00:00:00Z")"));
  CHECK(counts() == std::map<std::string, int>{{"n1", 0}, {"n2", 0}, {"n3", 1}});
  CHECK(c.cache.GetNode("n1")->pods.size() == 1);
}
