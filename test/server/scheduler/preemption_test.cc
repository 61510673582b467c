#include <catch2/catch.hpp>

#include "test_util.h"

using namespace minik::scheduler;
using namespace minik::scheduler::testing;

namespace {
std::string Prio(int p) { return "\"priority\":" + std::to_string(p); }
std::vector<std::string> Names(const std::vector<PodInfoPtr>& v) {
  std::vector<std::string> out;
  for (const auto& p : v) out.push_back(p->name);
  return out;
}
}  // namespace

TEST_CASE("preemption evicts the fewest lowest-priority pods", "[preemption]") {
  Cluster c;
  c.Node(NodeJson("n1", "4", "8Gi"));
  c.Bound(PodJson("low1", R"({"cpu":"1"})", Prio(1), "", "n1"));
  c.Bound(PodJson("low2", R"({"cpu":"1"})", Prio(2), "", "n1"));
  c.Bound(PodJson("mid", R"({"cpu":"2"})", Prio(50), "", "n1"));
  auto pod = Pod(PodJson("p", R"({"cpu":"1"})", Prio(100)));
  auto r = c.cache.Schedule(*pod);
  REQUIRE_FALSE(r.ok());
  auto pr = c.cache.Preempt(*pod, r, {});
  REQUIRE(pr.ok());
  CHECK(pr.nominated_node == "n1");
  // Removing all lower pods fits; reprieving from the most important keeps mid and low2.
  CHECK(Names(pr.victims) == std::vector<std::string>{"low1"});
  // The cache is untouched by the dry run.
  CHECK(c.cache.GetNode("n1")->pods.size() == 3);
  CHECK(c.cache.GetNode("n1")->requested.milli_cpu == 4000);
}

TEST_CASE("preemption picks the node with lower-priority victims", "[preemption]") {
  Cluster c;
  c.Node(NodeJson("a", "2", "8Gi")).Node(NodeJson("b", "2", "8Gi"));
  c.Bound(PodJson("a1", R"({"cpu":"2"})", Prio(10), "", "a"));
  c.Bound(PodJson("b1", R"({"cpu":"2"})", Prio(5), "", "b"));
  auto pod = Pod(PodJson("p", R"({"cpu":"1"})", Prio(100)));
  auto r = c.cache.Schedule(*pod);
  auto pr = c.cache.Preempt(*pod, r, {});
  CHECK(pr.nominated_node == "b");
  CHECK(Names(pr.victims) == std::vector<std::string>{"b1"});
}

TEST_CASE("preemption avoids PDB violations", "[preemption]") {
  Cluster c;
  c.Node(NodeJson("a", "2", "8Gi")).Node(NodeJson("b", "2", "8Gi"));
  c.Bound(PodJson("a1", R"({"cpu":"2"})", Prio(1), R"("app":"db")", "a"));
  c.Bound(PodJson("b1", R"({"cpu":"2"})", Prio(5), R"("app":"web")", "b"));
  auto d = Json(R"({"metadata":{"name":"pdb","namespace":"default"},"spec":{"selector":{"matchLabels":{"app":"db"}}},"status":{"disruptionsAllowed":0}})");
  auto pdb = ParsePdb(d);
  REQUIRE(pdb.ok());
  auto pod = Pod(PodJson("p", R"({"cpu":"1"})", Prio(100)));
  auto r = c.cache.Schedule(*pod);
  auto pr = c.cache.Preempt(*pod, r, {*pdb});
  CHECK(pr.nominated_node == "b");
  CHECK(pr.pdb_violations == 0);
  // As a last resort the violating victim is taken.
  c.cache.RemoveNode("b");
  auto r2 = c.cache.Schedule(*pod);
  auto pr2 = c.cache.Preempt(*pod, r2, {*pdb});
  CHECK(pr2.nominated_node == "a");
  CHECK(pr2.pdb_violations == 1);
}

TEST_CASE("preemption cannot help when even an emptied node does not fit", "[preemption]") {
  Cluster c;
  c.Node(NodeJson("a", "2", "8Gi"));
  c.Bound(PodJson("a1", R"({"cpu":"1"})", Prio(1), "", "a"));
  auto pod = Pod(PodJson("p", R"({"cpu":"3"})", Prio(100)));
  auto r = c.cache.Schedule(*pod);
  auto pr = c.cache.Preempt(*pod, r, {});
  CHECK_FALSE(pr.ok());
  CHECK(pr.message == "preemption: 0/1 nodes are available: 1 Insufficient cpu.");
  CHECK(FitErrorMessage(r, pr.message) ==
        "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 Insufficient cpu.");
}

TEST_CASE("the nominated node is tried first", "[preemption]") {
  Cluster c;
  c.Node(NodeJson("a", "4", "8Gi")).Node(NodeJson("b", "4", "8Gi"));
  c.Bound(PodJson("x", R"({"cpu":"3"})", "", "", "b"));
  auto d = Json(R"({"metadata":{"name":"p","namespace":"default"},"spec":{"containers":[{"name":"c"}]},"status":{"nominatedNodeName":"b"}})");
  auto pod = ParsePod(d);
  REQUIRE(pod.ok());
  CHECK(c.cache.Schedule(**pod).node == "b");
}

TEST_CASE("no new preemption while a victim on the nominated node terminates", "[preemption]") {
  Cluster c;
  c.Node(NodeJson("a", "2", "8Gi"));
  c.Bound(PodJson("v", R"({"cpu":"2"})", Prio(1), "", "a", R"(,"deletionTimestamp":"2024-01-01T00:00:00Z")"));
  auto d = Json(R"({"metadata":{"name":"p","namespace":"default"},"spec":{"priority":100,"containers":[{"name":"c","resources":{"requests":{"cpu":"1"}}}]},"status":{"nominatedNodeName":"a"}})");
  auto pod = ParsePod(d);
  REQUIRE(pod.ok());
  auto r = c.cache.Schedule(**pod);
  REQUIRE_FALSE(r.ok());
  auto pr = c.cache.Preempt(**pod, r, {});
  CHECK_FALSE(pr.ok());
  CHECK(FitErrorMessage(r, pr.message) ==
        "0/1 nodes are available: 1 Insufficient cpu. preemption: not eligible due to a terminating pod on the "
        "nominated node.");
}
