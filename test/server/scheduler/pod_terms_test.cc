// PodTerms shared between pods through a PodInterner, and start times as instants.
#include <catch2/catch.hpp>

#include "test_util.h"

using namespace minik::scheduler;
using namespace minik::scheduler::testing;

namespace {

PodInfoPtr Parse(const std::string& json, PodInterner* table) {
  auto d = Json(json);
  auto p = ParsePod(d, table);
  if (!p.ok()) throw std::runtime_error("bad pod: " + p.error().message());
  return *p;
}

// A pod in namespace ns with the given labels (object members) and spec members.
std::string PodIn(const std::string& ns, const std::string& name, const std::string& labels,
                  const std::string& spec_extra) {
  std::string s = R"({"metadata":{"name":")" + name + R"(","namespace":")" + ns + R"(","uid":"uid-)" + ns + "-" +
                  name + R"(","labels":{)" + labels + R"(}},"spec":{"containers":[{"name":"c","image":"x"}])";
  if (!spec_extra.empty()) s += "," + spec_extra;
  return s + "}}";
}

const std::string kDefaultTolerations =
    R"("tolerations":[{"key":"node.kubernetes.io/not-ready","operator":"Exists","effect":"NoExecute","tolerationSeconds":300},)"
    R"({"key":"node.kubernetes.io/unreachable","operator":"Exists","effect":"NoExecute","tolerationSeconds":300}])";

}  // namespace

TEST_CASE("pods with identical terms share one PodTerms", "[podterms]") {
  PodInterner table;
  auto a = Parse(PodIn("default", "a", R"("app":"x")", kDefaultTolerations), &table);
  auto b = Parse(PodIn("other", "b", R"("app":"y")", kDefaultTolerations), &table);
  REQUIRE(a->terms_ptr);
  CHECK(a->terms_ptr.get() == b->terms_ptr.get());
  CHECK(table.terms.size() == 1);
  REQUIRE(a->tolerations().size() == 2);
  CHECK(a->tolerations()[1].key == "node.kubernetes.io/unreachable");
  CHECK(a->tolerations()[1].exists);
  CHECK(a->tolerations()[1].effect == TaintEffect::kNoExecute);
  // The pod's own fields stay its own.
  CHECK(a->namespace_ == "default");
  CHECK(b->namespace_ == "other");
  CHECK(a->labels().at("app") == "x");
  CHECK(b->labels().at("app") == "y");

  // Any difference in the terms is another instance.
  auto c = Parse(PodIn("default", "c", "", kDefaultTolerations + R"(,"nodeSelector":{"disk":"ssd"})"), &table);
  auto d = Parse(PodIn("default", "d", "",
                       R"("tolerations":[{"key":"node.kubernetes.io/not-ready","operator":"Exists","effect":"NoSchedule"}])"),
                 &table);
  auto e = Parse(PodIn("default", "e", "", kDefaultTolerations), &table);
  CHECK(c->terms_ptr != a->terms_ptr);
  CHECK(c->node_selector().at("disk") == "ssd");
  CHECK(a->node_selector().empty());
  CHECK(d->terms_ptr != a->terms_ptr);
  CHECK(d->tolerations()[0].effect == TaintEffect::kNoSchedule);
  CHECK(e->terms_ptr == a->terms_ptr);

  // A controller kind and host ports are terms too.
  const std::string owned = R"({"metadata":{"name":"r","namespace":"default","ownerReferences":[{"apiVersion":"apps/v1",)"
                            R"("kind":"ReplicaSet","name":"rs","uid":"u","controller":true}]},"spec":{"containers":[]}})";
  auto r1 = Parse(owned, &table);
  auto r2 = Parse(owned, &table);
  CHECK(r1->controller_kind() == "ReplicaSet");
  CHECK(r1->terms_ptr == r2->terms_ptr);
  auto port = [&](int p) {
    return Parse(R"({"metadata":{"name":"hp"},"spec":{"containers":[{"name":"c","ports":[{"containerPort":80,"hostPort":)" +
                     std::to_string(p) + "}]}]}}",
                 &table);
  };
  auto h1 = port(8080), h2 = port(8080), h3 = port(8081);
  CHECK(h1->terms_ptr == h2->terms_ptr);
  CHECK(h1->terms_ptr != h3->terms_ptr);
  REQUIRE(h3->host_ports().size() == 1);
  CHECK(h3->host_ports()[0] == HostPort{"", "TCP", 8081});

  // A pod without any terms holds none and reads empty ones.
  auto bare = Parse(PodIn("default", "bare", "", ""), &table);
  CHECK_FALSE(bare->terms_ptr);
  CHECK(bare->tolerations().empty());
  CHECK_FALSE(bare->required_node_affinity());
  CHECK_FALSE(bare->HasAffinity());

  // Label sets are shared by their JSON.
  auto x2 = Parse(PodIn("other", "x2", R"("app":"x")", ""), &table);
  CHECK(x2->labels_ptr == a->labels_ptr);
  CHECK(b->labels_ptr != a->labels_ptr);
  CHECK_FALSE(bare->labels_ptr);
  CHECK(bare->labels().empty());

  // Without a table every pod parses its own (equal) terms.
  auto f = Parse(PodIn("default", "f", "", kDefaultTolerations), nullptr);
  CHECK(f->terms_ptr != a->terms_ptr);
  CHECK(f->tolerations().size() == 2);
  auto x3 = Parse(PodIn("other", "x3", R"("app":"x")", ""), nullptr);
  CHECK(x3->labels_ptr != a->labels_ptr);
  CHECK(x3->labels() == a->labels());
}

TEST_CASE("terms that read the pod's namespace or labels are shared only with the same ones", "[podterms]") {
  PodInterner table;
  // Pod affinity terms without namespaces select the pod's own namespace.
  const std::string anti =
      R"("affinity":{"podAntiAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":[{"labelSelector":)"
      R"({"matchLabels":{"app":"db"}},"topologyKey":"kubernetes.io/hostname"}]}})";
  auto a = Parse(PodIn("a", "p", R"("app":"db")", anti), &table);
  auto a2 = Parse(PodIn("a", "q", R"("app":"db")", anti), &table);
  auto b = Parse(PodIn("b", "p", R"("app":"db")", anti), &table);
  CHECK(a->terms_ptr == a2->terms_ptr);
  CHECK(a->terms_ptr != b->terms_ptr);
  REQUIRE(b->required_anti_affinity().size() == 1);
  CHECK(a->required_anti_affinity()[0].namespaces == std::vector<std::string>{"a"});
  CHECK(b->required_anti_affinity()[0].namespaces == std::vector<std::string>{"b"});
  CHECK(a->HasAffinity());

  // matchLabelKeys merge the pod's label values into the selector.
  const std::string spread =
      R"("topologySpreadConstraints":[{"maxSkew":1,"topologyKey":"kubernetes.io/hostname",)"
      R"("whenUnsatisfiable":"DoNotSchedule","labelSelector":{"matchLabels":{"app":"web"}},)"
      R"("matchLabelKeys":["pod-template-hash"]}])";
  auto w1 = Parse(PodIn("default", "w1", R"("app":"web","pod-template-hash":"h1")", spread), &table);
  auto w2 = Parse(PodIn("default", "w2", R"("app":"web","pod-template-hash":"h1")", spread), &table);
  auto w3 = Parse(PodIn("default", "w3", R"("app":"web","pod-template-hash":"h2")", spread), &table);
  CHECK(w1->terms_ptr == w2->terms_ptr);
  CHECK(w1->terms_ptr != w3->terms_ptr);
  minik::scheduler::Labels h1{{"app", "web"}, {"pod-template-hash", "h1"}};
  minik::scheduler::Labels h2{{"app", "web"}, {"pod-template-hash", "h2"}};
  CHECK(w1->spread_constraints()[0].selector.Matches(h1));
  CHECK_FALSE(w1->spread_constraints()[0].selector.Matches(h2));
  CHECK(w3->spread_constraints()[0].selector.Matches(h2));
}

TEST_CASE("the PodTerms table forgets terms no pod holds any more", "[podterms]") {
  PodInterner table;
  auto selector = [](int i) { return R"("nodeSelector":{"n":")" + std::to_string(i) + R"("})"; };
  std::vector<PodInfoPtr> held;
  for (int i = 0; i < 100; ++i) held.push_back(Parse(PodIn("default", "p", "", selector(i)), &table));
  CHECK(table.terms.size() == 100);  // all alive: all remembered
  held.clear();
  for (int i = 100; i < 300; ++i) Parse(PodIn("default", "p", "", selector(i)), &table);
  CHECK(table.terms.size() < 200);  // expired entries are dropped as the table grows
  // A key whose instance expired gets a new, correct one.
  auto again = Parse(PodIn("default", "p", "", selector(7)), &table);
  CHECK(again->node_selector().at("n") == "7");
  auto same = Parse(PodIn("default", "q", "", selector(7)), &table);
  CHECK(same->terms_ptr == again->terms_ptr);

  // Invalid terms are an error and remembered by no one.
  auto d = Json(PodIn("default", "bad", "",
                      R"("affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":)"
                      R"([{"matchExpressions":[{"key":"k","operator":"Near"}]}]}}})"));
  size_t before = table.terms.size();
  CHECK_FALSE(ParsePod(d, &table).ok());
  CHECK_FALSE(ParsePod(d, &table).ok());
  CHECK(table.terms.size() == before);
}

TEST_CASE("preemption compares start times as instants, a pod without one last", "[podterms][preemption]") {
  auto victim = [](const std::string& name, const std::string& node, const std::string& start) {
    std::string s = R"({"metadata":{"name":")" + name + R"(","namespace":"default","uid":"uid-)" + name +
                    R"("},"spec":{"nodeName":")" + node +
                    R"(","priority":1,"containers":[{"name":"c","resources":{"requests":{"cpu":"2"}}}]},"status":{"phase":"Running")";
    if (!start.empty()) s += R"(,"startTime":")" + start + "\"";
    return s + "}}";
  };
  auto pod = Pod(PodJson("p", R"({"cpu":"1"})", "\"priority\":100"));
  // The node preemption picks when node a's victim started at start_a and node b's at start_b.
  auto nominated = [&](const std::string& start_a, const std::string& start_b) {
    Cluster c;
    c.Node(NodeJson("a", "2", "8Gi")).Node(NodeJson("b", "2", "8Gi"));
    c.Bound(victim("va", "a", start_a));
    c.Bound(victim("vb", "b", start_b));
    auto r = c.cache.Schedule(*pod);
    return c.cache.Preempt(*pod, r, {}).nominated_node;
  };
  // 10:00+02:00 is 08:00Z, earlier than 09:00Z: the node whose victim started later (b) is picked
  // (as text, "10:00+02:00" would have sorted after "09:00Z").
  CHECK(nominated("2026-01-01T10:00:00+02:00", "2026-01-01T09:00:00Z") == "b");
  // No start time counts as the latest.
  CHECK(nominated("", "2026-01-01T09:00:00Z") == "a");
}
