// The DaemonSet controller and the ControllerRevision history helpers: reconcile-level tests
// over the fake API with a simulated clock, asserting the exact writes.
#include "fixture.h"
#include "server/controllers/controller_history.h"
#include "server/controllers/daemon_set.h"

namespace minik::controllers {
namespace {

using testing::Bench;
using testing::Json;

std::string NodeJson(const std::string& name, const std::string& labels = "{}", const std::string& taints = "[]") {
  return R"({"apiVersion":"v1","kind":"Node","metadata":{"name":")" + name + R"(","labels":)" + labels +
         R"(},"spec":{"taints":)" + taints + R"(}})";
}

std::string DsJson(const std::string& extra_spec = "", const std::string& image = "nginx:1") {
  return R"({"apiVersion":"apps/v1","kind":"DaemonSet","metadata":{"name":"ds","namespace":"default"},
    "spec":{"selector":{"matchLabels":{"app":"ds"}},)" +
         extra_spec + R"("template":{"metadata":{"labels":{"app":"ds"}},"spec":{)" +
         R"("containers":[{"name":"c","image":")" + image + R"("}]}}}})";
}

std::string PodNodeNameForTest(const JsonValue& pod) {
  const JsonValue* spec = Member(pod, "spec");
  return spec ? std::string(GetString(*spec, "nodeName").value_or("")) : std::string();
}

// The DaemonSet's pods in the fake, by target node.
std::map<std::string, std::vector<client::ObjectPtr>> PodsByNode(Bench& b) {
  std::map<std::string, std::vector<client::ObjectPtr>> out;
  for (const auto& p : b.informers.For(kPods).List()) {
    const JsonValue* v = Path(*p, {"spec", "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution",
                                   "nodeSelectorTerms"});
    REQUIRE(v);
    out[(*v)[0]["matchFields"][0]["values"][0].GetString()].push_back(p);
  }
  return out;
}

// Marks a pod Running and Ready (as the kubelet would), bound to its node.
void MakeReady(Bench& b, const client::ObjectPtr& pod, const std::string& node) {
  JsonDoc d;
  d.CopyFrom(*pod, d.GetAllocator());
  auto& a = d.GetAllocator();
  SetString(EnsureObject(d, "spec", a), "nodeName", node, a);
  b.api.Update(kPods, "default", d, "", [](StatusOr<JsonDoc> r) { REQUIRE(r.ok()); });
  auto cur = b.api.Find(kPods, "default", std::string(Name(*pod)));
  JsonDoc s;
  s.CopyFrom(*cur, s.GetAllocator());
  auto st = Json(R"({"phase":"Running","conditions":[{"type":"Ready","status":"True","lastTransitionTime":")" +
                 FormatRFC3339(b.clock().Now()) + R"("}]})");
  SetMember(s, "status", Clone(st, s.GetAllocator()), s.GetAllocator());
  b.api.Update(kPods, "default", s, "status", [](StatusOr<JsonDoc> r) { REQUIRE(r.ok()); });
}

void SetPhase(Bench& b, const std::string& pod, const std::string& phase) {
  auto cur = b.api.Find(kPods, "default", pod);
  REQUIRE(cur);
  JsonDoc s;
  s.CopyFrom(*cur, s.GetAllocator());
  auto& a = s.GetAllocator();
  SetString(EnsureObject(s, "status", a), "phase", phase, a);
  b.api.Update(kPods, "default", s, "status", [](StatusOr<JsonDoc> r) { REQUIRE(r.ok()); });
}

JsonDoc DsStatus(Bench& b) {
  auto ds = b.api.Find(kDaemonSets, "default", "ds");
  JsonDoc d;
  d.CopyFrom(*Member(*ds, "status"), d.GetAllocator());
  return d;
}

std::vector<std::string> Prefixes(const std::vector<std::string>& writes) {
  // "create pods default/ds-xxxxx" -> "create pods default/ds-" (generated names vary).
  std::vector<std::string> out;
  for (auto w : writes) {
    if (w.rfind("create pods default/ds-", 0) == 0) w = w.substr(0, w.find("/ds-") + 4);
    if (w.rfind("create controllerrevisions default/ds-", 0) == 0) w = "create controllerrevisions default/ds-<hash>";
    out.push_back(w);
  }
  return out;
}

TEST_CASE("daemonset: one pod per eligible node; taints and automatic tolerations") {
  Bench b;
  auto c = NewDaemonSetController(b.ctx);
  b.Seed(kNodes, NodeJson("n1"));
  b.Seed(kNodes, NodeJson("n2", "{}", R"([{"key":"dedicated","value":"db","effect":"NoSchedule"}])"));
  // A cordoned node: the DaemonSet pods tolerate node.kubernetes.io/unschedulable.
  b.Seed(kNodes, NodeJson("n3", "{}", R"([{"key":"node.kubernetes.io/unschedulable","effect":"NoSchedule"}])"));
  b.Seed(kDaemonSets, DsJson());
  b.Sync();
  REQUIRE(b.Reconcile(*c, "default/ds").ok());
  auto events = b.EventReasons();
  auto writes = Prefixes(b.TakeWrites());
  CHECK(writes == std::vector<std::string>{"create controllerrevisions default/ds-<hash>", "create pods default/",
                                           "create pods default/", "update daemonsets/status default/ds"});

  auto by_node = PodsByNode(b);
  REQUIRE(by_node.size() == 2);
  REQUIRE(by_node.count("n1"));
  REQUIRE(by_node.count("n3"));
  const JsonValue& pod = *by_node["n1"][0];
  CHECK(std::string(Name(pod)).rfind("ds-", 0) == 0);
  CHECK(IsControlledBy(pod, Uid(*b.api.Find(kDaemonSets, "default", "ds"))));
  CHECK(PodNodeNameForTest(pod).empty());
  // The revision and the pod's hash label.
  auto revs = b.informers.For(kControllerRevisions).List();
  REQUIRE(revs.size() == 1);
  std::string hash(GetString(*Labels(*revs[0]), "controller-revision-hash").value_or(""));
  CHECK(std::string(Name(*revs[0])) == "ds-" + hash);
  CHECK(GetInt(*revs[0], "revision").value_or(0) == 1);
  CHECK(GetString(*Labels(pod), "controller-revision-hash").value_or("") == hash);
  CHECK(GetString(*Labels(pod), "app").value_or("") == "ds");
  CHECK(ToJson(*Path(*revs[0], {"data"})) ==
        R"({"spec":{"template":{"metadata":{"labels":{"app":"ds"},"creationTimestamp":null},"spec":{"containers":[{"name":"c","image":"nginx:1","resources":{}}]},"$patch":"replace"}}})");
  CHECK(history::GoJson(*Path(*revs[0], {"data"})) ==
        R"({"spec":{"template":{"$patch":"replace","metadata":{"creationTimestamp":null,"labels":{"app":"ds"}},"spec":{"containers":[{"image":"nginx:1","name":"c","resources":{}}]}}}})");
  // Automatic tolerations, in upstream's order and form.
  CHECK(ToJson(*Path(pod, {"spec", "tolerations"})) ==
        R"([{"key":"node.kubernetes.io/not-ready","operator":"Exists","effect":"NoExecute"},)"
        R"({"key":"node.kubernetes.io/unreachable","operator":"Exists","effect":"NoExecute"},)"
        R"({"key":"node.kubernetes.io/disk-pressure","operator":"Exists","effect":"NoSchedule"},)"
        R"({"key":"node.kubernetes.io/memory-pressure","operator":"Exists","effect":"NoSchedule"},)"
        R"({"key":"node.kubernetes.io/pid-pressure","operator":"Exists","effect":"NoSchedule"},)"
        R"({"key":"node.kubernetes.io/unschedulable","operator":"Exists","effect":"NoSchedule"}])");
  CHECK(ToJson(*Path(pod, {"spec", "affinity"})) ==
        R"({"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchFields":[{"key":"metadata.name","operator":"In","values":["n1"]}]}]}}})");

  auto st = DsStatus(b);
  CHECK(ToJson(st) ==
        R"({"currentNumberScheduled":2,"numberMisscheduled":0,"desiredNumberScheduled":2,"numberReady":0,"observedGeneration":1,"updatedNumberScheduled":2,"numberUnavailable":2})");
  REQUIRE(events.size() == 2);
  CHECK(events[0].rfind("SuccessfulCreate: Created pod: ds-", 0) == 0);

  // A second pass changes nothing.
  b.api.ClearActions();
  REQUIRE(b.Reconcile(*c, "default/ds").ok());
  CHECK(b.TakeWrites().empty());

  // Pods become ready: the status follows.
  MakeReady(b, by_node["n1"][0], "n1");
  MakeReady(b, by_node["n3"][0], "n3");
  b.TakeWrites();
  REQUIRE(b.Reconcile(*c, "default/ds").ok());
  CHECK(b.TakeWrites() == std::vector<std::string>{"update daemonsets/status default/ds"});
  CHECK(ToJson(DsStatus(b)) ==
        R"({"currentNumberScheduled":2,"numberMisscheduled":0,"desiredNumberScheduled":2,"numberReady":2,"observedGeneration":1,"updatedNumberScheduled":2,"numberAvailable":2})");
}

TEST_CASE("daemonset: nodeSelector and node label changes") {
  Bench b;
  auto c = NewDaemonSetController(b.ctx);
  b.Seed(kNodes, NodeJson("n1", R"({"disk":"ssd"})"));
  b.Seed(kNodes, NodeJson("n2", R"({"disk":"hdd"})"));
  b.Seed(kNodes, NodeJson("n3"));
  b.Seed(kDaemonSets, DsJson(R"("revisionHistoryLimit":10,)"));
  // Put a nodeSelector in the template.
  auto ds = b.api.Find(kDaemonSets, "default", "ds");
  JsonDoc d;
  d.CopyFrom(*ds, d.GetAllocator());
  SetMember(*MutableMember(*MutableMember(*MutableMember(d, "spec"), "template"), "spec"), "nodeSelector",
            Clone(Json(R"({"disk":"ssd"})"), d.GetAllocator()), d.GetAllocator());
  b.api.Update(kDaemonSets, "default", d, "", [](StatusOr<JsonDoc> r) { REQUIRE(r.ok()); });
  b.Sync();
  b.api.ClearActions();
  REQUIRE(b.Reconcile(*c, "default/ds").ok());
  auto by_node = PodsByNode(b);
  CHECK(by_node.size() == 1);
  CHECK(by_node.count("n1") == 1);
  b.TakeWrites();

  // n2 relabelled to ssd: the node update enqueues the DaemonSet, which creates a pod there.
  auto n2 = b.api.Find(kNodes, "", "n2");
  JsonDoc nd;
  nd.CopyFrom(*n2, nd.GetAllocator());
  SetString(*MutableMember(*MutableMember(nd, "metadata"), "labels"), "disk", "ssd", nd.GetAllocator());
  b.api.Update(kNodes, "", nd, "", [](StatusOr<JsonDoc> r) { REQUIRE(r.ok()); });
  b.api.ClearActions();
  CHECK(c->queue().Len() == 1);
  REQUIRE(b.Reconcile(*c, "default/ds").ok());
  CHECK(Prefixes(b.TakeWrites()) ==
        std::vector<std::string>{"create pods default/", "update daemonsets/status default/ds"});
  CHECK(PodsByNode(b).count("n2") == 1);

  // n1 loses the label: its pod is deleted.
  auto n1 = b.api.Find(kNodes, "", "n1");
  nd.CopyFrom(*n1, nd.GetAllocator());
  RemoveMember(*MutableMember(*MutableMember(nd, "metadata"), "labels"), "disk");
  b.api.Update(kNodes, "", nd, "", [](StatusOr<JsonDoc> r) { REQUIRE(r.ok()); });
  b.api.ClearActions();
  std::string n1_pod(Name(*PodsByNode(b)["n1"][0]));
  REQUIRE(b.Reconcile(*c, "default/ds").ok());
  CHECK(b.EventReasons() == std::vector<std::string>{"SuccessfulDelete: Deleted pod: " + n1_pod});
  CHECK(b.TakeWrites() ==
        std::vector<std::string>{"delete pods default/" + n1_pod, "update daemonsets/status default/ds"});
  CHECK(PodsByNode(b).count("n1") == 0);
}

TEST_CASE("daemonset: nodes added and removed") {
  Bench b;
  auto c = NewDaemonSetController(b.ctx);
  b.Seed(kNodes, NodeJson("n1"));
  b.Seed(kDaemonSets, DsJson());
  b.Sync();
  REQUIRE(b.Reconcile(*c, "default/ds").ok());
  b.TakeWrites();

  b.Seed(kNodes, NodeJson("n2"));
  b.timers.RunPending();
  CHECK(c->queue().Len() == 1);
  REQUIRE(b.Reconcile(*c, "default/ds").ok());
  CHECK(Prefixes(b.TakeWrites()) ==
        std::vector<std::string>{"create pods default/", "update daemonsets/status default/ds"});
  CHECK(GetInt(DsStatus(b), "desiredNumberScheduled").value_or(0) == 2);
  CHECK(PodsByNode(b).size() == 2);

  // n2 goes away before its pod was bound: the DaemonSet deletes the pending pod itself.
  std::string n2_pod(Name(*PodsByNode(b)["n2"][0]));
  b.api.Delete(kNodes, "", "n2", {}, [](StatusOr<JsonDoc> r) { REQUIRE(r.ok()); });
  b.api.ClearActions();
  REQUIRE(b.Reconcile(*c, "default/ds").ok());
  CHECK(b.TakeWrites() ==
        std::vector<std::string>{"delete pods default/" + n2_pod, "update daemonsets/status default/ds"});
  CHECK(GetInt(DsStatus(b), "desiredNumberScheduled").value_or(0) == 1);
  CHECK(GetInt(DsStatus(b), "currentNumberScheduled").value_or(0) == 1);
}

TEST_CASE("daemonset: a failed pod is deleted and recreated, with backoff") {
  Bench b;
  auto c = NewDaemonSetController(b.ctx);
  b.Seed(kNodes, NodeJson("n1"));
  b.Seed(kDaemonSets, DsJson());
  b.Sync();
  REQUIRE(b.Reconcile(*c, "default/ds").ok());
  std::string pod(Name(*PodsByNode(b)["n1"][0]));
  SetPhase(b, pod, "Failed");
  b.api.ClearActions();
  REQUIRE(b.Reconcile(*c, "default/ds").ok());
  CHECK(b.TakeWrites() == std::vector<std::string>{"delete pods default/" + pod, "update daemonsets/status default/ds"});
  // The next pass creates the replacement.
  REQUIRE(b.Reconcile(*c, "default/ds").ok());
  auto w = Prefixes(b.TakeWrites());
  CHECK(w == std::vector<std::string>{"create pods default/", "update daemonsets/status default/ds"});
  std::string pod2(Name(*PodsByNode(b)["n1"][0]));
  // It fails at once again: within the 1 s backoff nothing is deleted, the key is retried later.
  SetPhase(b, pod2, "Failed");
  b.api.ClearActions();
  REQUIRE(b.Reconcile(*c, "default/ds").ok());
  CHECK(b.TakeWrites().empty());
  CHECK(c->queue().waiting() == 1);
  b.Advance(1001);
  REQUIRE(b.Reconcile(*c, "default/ds").ok());
  CHECK(b.TakeWrites(true).size() >= 1);
  CHECK(b.api.Find(kPods, "default", pod2) == nullptr);
}

TEST_CASE("daemonset: the failed-pod event names the pod and node") {
  Bench b;
  auto c = NewDaemonSetController(b.ctx);
  b.Seed(kNodes, NodeJson("n1"));
  b.Seed(kDaemonSets, DsJson());
  b.Sync();
  REQUIRE(b.Reconcile(*c, "default/ds").ok());
  std::string pod(Name(*PodsByNode(b)["n1"][0]));
  SetPhase(b, pod, "Failed");
  b.api.ClearActions();
  REQUIRE(b.Reconcile(*c, "default/ds").ok());
  CHECK(b.EventReasons() == std::vector<std::string>{
                                "FailedDaemonPod: Found failed daemon pod default/" + pod + " on node n1, will try to kill it",
                                "SuccessfulDelete: Deleted pod: " + pod});
}

TEST_CASE("daemonset: rolling update respects maxUnavailable; history is kept") {
  Bench b;
  auto c = NewDaemonSetController(b.ctx);
  for (const char* n : {"n1", "n2", "n3"}) b.Seed(kNodes, NodeJson(n));
  b.Seed(kDaemonSets, DsJson(R"("updateStrategy":{"type":"RollingUpdate","rollingUpdate":{"maxUnavailable":1,"maxSurge":0}},)"));
  b.Sync();
  REQUIRE(b.Reconcile(*c, "default/ds").ok());
  for (auto& [node, pods] : PodsByNode(b)) MakeReady(b, pods[0], node);
  REQUIRE(b.Reconcile(*c, "default/ds").ok());
  std::string old_hash(GetString(*Labels(*PodsByNode(b)["n1"][0]), "controller-revision-hash").value_or(""));

  // New image.
  auto ds = b.api.Find(kDaemonSets, "default", "ds");
  JsonDoc d;
  d.CopyFrom(*ds, d.GetAllocator());
  SetString((*MutableMember(*MutableMember(*MutableMember(d, "spec"), "template"), "spec"))["containers"][0], "image",
            "nginx:2", d.GetAllocator());
  b.api.Update(kDaemonSets, "default", d, "", [](StatusOr<JsonDoc> r) { REQUIRE(r.ok()); });
  b.api.ClearActions();
  std::string n1_pod(Name(*PodsByNode(b)["n1"][0]));
  REQUIRE(b.Reconcile(*c, "default/ds").ok());
  // A new revision (2), then one old pod deleted (maxUnavailable 1).
  CHECK(Prefixes(b.TakeWrites()) == std::vector<std::string>{"create controllerrevisions default/ds-<hash>",
                                                             "delete pods default/" + n1_pod,
                                                             "update daemonsets/status default/ds"});
  auto revs = b.informers.For(kControllerRevisions).List();
  REQUIRE(revs.size() == 2);
  history::SortRevisions(revs);
  CHECK(GetInt(*revs[1], "revision").value_or(0) == 2);
  std::string new_hash(GetString(*Labels(*revs[1]), "controller-revision-hash").value_or(""));
  CHECK(new_hash != old_hash);

  // The deleted pod is terminating (bound pods are deleted gracefully); the kubelet removes it.
  b.api.Delete(kPods, "default", n1_pod, client::DeleteOptions{std::string(), int64_t{0}, {}, {}},
               [](StatusOr<JsonDoc>) {});
  b.api.ClearActions();
  REQUIRE(b.Reconcile(*c, "default/ds").ok());
  CHECK(Prefixes(b.TakeWrites()) ==
        std::vector<std::string>{"create pods default/", "update daemonsets/status default/ds"});
  auto fresh = PodsByNode(b)["n1"];
  REQUIRE(fresh.size() == 1);
  CHECK(GetString(*Labels(*fresh[0]), "controller-revision-hash").value_or("") == new_hash);
  auto st = DsStatus(b);
  CHECK(GetInt(st, "updatedNumberScheduled").value_or(0) == 1);
  CHECK(GetInt(st, "observedGeneration").value_or(0) == 2);

  // While the new pod is not available, no other old pod goes.
  REQUIRE(b.Reconcile(*c, "default/ds").ok());
  CHECK(b.TakeWrites().empty());
  MakeReady(b, fresh[0], "n1");
  b.api.ClearActions();
  std::string n2_pod(Name(*PodsByNode(b)["n2"][0]));
  REQUIRE(b.Reconcile(*c, "default/ds").ok());
  CHECK(b.TakeWrites() == std::vector<std::string>{"delete pods default/" + n2_pod, "update daemonsets/status default/ds"});
}

TEST_CASE("daemonset: duplicate current revisions are deduplicated and old ones truncated") {
  Bench b;
  auto c = NewDaemonSetController(b.ctx);
  b.Seed(kNodes, NodeJson("n1"));
  auto ds = b.Seed(kDaemonSets, DsJson(R"("revisionHistoryLimit":1,)"));
  JsonDoc patch = history::TemplatePatch(*ds);
  // Two revisions equal to the current template (revisions 3 and 4), three old ones (1, 2, 5).
  auto seed_rev = [&](const std::string& name, int64_t rev, const JsonValue& data) {
    JsonDoc cr = history::NewRevision(*ds, "DaemonSet", data, rev, name);
    SetString(*MutableMember(cr, "metadata"), "name", "ds-" + name, cr.GetAllocator());
    REQUIRE(b.api.Seed(kControllerRevisions, cr).ok());
  };
  auto other = Json(R"({"spec":{"template":{"$patch":"replace","spec":{"containers":[{"name":"c","image":"old"}]}}}})");
  seed_rev("old1", 1, other);
  seed_rev("old2", 2, other);
  seed_rev("cur3", 3, patch);
  seed_rev("cur4", 4, patch);
  seed_rev("old5", 5, other);
  b.Sync();
  REQUIRE(b.Reconcile(*c, "default/ds").ok());
  CHECK(Prefixes(b.TakeWrites()) == std::vector<std::string>{
                                        "delete controllerrevisions default/ds-cur3",
                                        "update controllerrevisions default/ds-cur4",  // revision 4 -> 6
                                        "create pods default/",
                                        "delete controllerrevisions default/ds-old1",
                                        "delete controllerrevisions default/ds-old2",
                                        "update daemonsets/status default/ds",
                                    });
  auto cur = b.api.Find(kControllerRevisions, "default", "ds-cur4");
  CHECK(GetInt(*cur, "revision").value_or(0) == 6);
  CHECK(GetString(*Labels(*PodsByNode(b)["n1"][0]), "controller-revision-hash").value_or("") == "cur4");
  CHECK(b.api.Find(kControllerRevisions, "default", "ds-old5") != nullptr);
}

TEST_CASE("history: names, hashes and Go's JSON") {
  auto v = Json(R"({"b":"<a&b>","a":[1,2.5,{"z":null,"y":true}],"\u2028":"x\ny"})");
  CHECK(history::GoJson(v) == "{\"a\":[1,2.5,{\"y\":true,\"z\":null}],\"b\":\"\\u003ca\\u0026b\\u003e\",\"\\u2028\":\"x\\ny\"}");
  std::string h = history::HashRevisionData("abc", 0);
  CHECK(h == history::HashRevisionData("abc", 0));
  CHECK(h != history::HashRevisionData("abc", 1));
  CHECK(h.find_first_not_of("bcdfghjklmnpqrstvwxz2456789") == std::string::npos);
  CHECK(history::RevisionName("web", "abc") == "web-abc");
  CHECK(history::RevisionName(std::string(300, 'x'), "h").size() == 225);
}

}  // namespace
}  // namespace minik::controllers
