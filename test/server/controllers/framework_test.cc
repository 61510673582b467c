// The controller framework: the base class's queue handling, events, Join, expectations and
// the shared helpers.
#include "fixture.h"

namespace minik::controllers {
namespace {

using testing::Bench;
using testing::Json;

class CountingController final : public Controller {
 public:
  explicit CountingController(Context ctx) : Controller(ctx, "counting") {
    auto& inf = ctx.informers.For(kConfigMaps);
    client::EventHandlers h;
    h.on_add = [this](const client::ObjectPtr& o) { EnqueueObject(o); };
    inf.AddEventHandler(h);
  }
  void Reconcile(const std::string& key, Done done) override {
    seen.push_back(key);
    done(fail_next-- > 0 ? Status::Unavailable("boom") : Status::OK());
  }
  std::vector<std::string> seen;
  int fail_next = 0;
};

TEST_CASE("a controller reconciles keys once informers synced and retries failures with backoff") {
  Bench b;
  CountingController c(b.ctx);
  b.Seed(kConfigMaps, R"({"metadata":{"name":"a","namespace":"ns"}})");
  c.fail_next = 2;
  c.Start();
  b.Sync();
  REQUIRE(c.seen == std::vector<std::string>{"ns/a"});
  // First retry after 5 ms, the second after 10 ms more.
  b.Advance(4);
  REQUIRE(c.seen.size() == 1);
  b.Advance(1);
  REQUIRE(c.seen.size() == 2);
  b.Advance(9);
  REQUIRE(c.seen.size() == 2);
  b.Advance(1);
  REQUIRE(c.seen.size() == 3);
  REQUIRE(c.queue().NumRequeues("ns/a") == 0);  // forgotten after success
  b.Advance(100000);
  REQUIRE(c.seen.size() == 3);
}

TEST_CASE("events are created as client-go's recorder does and correlated into counts") {
  Bench b;
  auto pod = Json(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"ns","uid":"u1","resourceVersion":"7"}})");
  b.events.Event(pod, kEventTypeWarning, "FailedScheduling", "0/1 nodes are available");
  auto writes = b.api.writes();
  REQUIRE(writes.size() == 1);
  auto ev = Json(writes[0].body);
  CHECK(std::string(GetString(*Path(ev, {"metadata"}), "name").value_or("")).rfind("p.", 0) == 0);
  CHECK(GetString(*Path(ev, {"metadata"}), "namespace").value_or("") == "ns");
  CHECK(GetString(*Path(ev, {"involvedObject"}), "kind").value_or("") == "Pod");
  CHECK(GetString(*Path(ev, {"involvedObject"}), "uid").value_or("") == "u1");
  CHECK(GetString(*Path(ev, {"source"}), "component").value_or("") == "test-controller");
  CHECK(GetInt(ev, "count").value_or(0) == 1);
  CHECK(GetString(ev, "type").value_or("") == "Warning");
  CHECK(GetString(ev, "firstTimestamp").value_or("") == GetString(ev, "lastTimestamp").value_or("x"));

  b.Advance(1000);
  b.events.Event(pod, kEventTypeWarning, "FailedScheduling", "0/1 nodes are available");
  writes = b.api.writes();
  REQUIRE(writes.size() == 2);
  CHECK(writes[1].verb == "patch");
  CHECK(writes[1].body.find("\"count\":2") != std::string::npos);
  auto stored = b.api.Find(kEventResource, "ns", writes[1].name);
  REQUIRE(stored);
  CHECK(GetInt(*stored, "count").value_or(0) == 2);

  // A different message is a new event; a cluster-scoped object's events go to "default".
  auto node = Json(R"({"apiVersion":"v1","kind":"Node","metadata":{"name":"n1","uid":"u2"}})");
  b.events.Event(node, kEventTypeNormal, "NodeNotReady", "Node n1 status is now: NodeNotReady");
  writes = b.api.writes();
  REQUIRE(writes.size() == 3);
  CHECK(writes[2].verb == "create");
  CHECK(writes[2].ns == "default");
}

TEST_CASE("Join reports the first error after every call finished") {
  Status got = Status::Internal("not called");
  int calls = 0;
  auto j = Join::Make([&](Status st) {
    ++calls;
    got = st;
  });
  auto a = j->Add();
  auto b = j->AddObject([](const Status& s) { return s.IsAlreadyExists(); });
  j->Finish();
  REQUIRE(calls == 0);
  b(StatusOr<JsonDoc>(Status::AlreadyExists("x")));
  REQUIRE(calls == 0);
  a(Status::Conflict("c"));
  REQUIRE(calls == 1);
  CHECK(got.IsConflict());

  int calls2 = 0;
  auto j2 = Join::Make([&](Status st) {
    ++calls2;
    CHECK(st.ok());
  });
  j2->Finish();
  CHECK(calls2 == 1);
}

TEST_CASE("expectations hold a key until its creations are observed or they expire") {
  FakeClock clock;
  Expectations e(clock);
  CHECK(e.Satisfied("k"));
  e.Expect("k", 2, 0);
  CHECK_FALSE(e.Satisfied("k"));
  e.CreationObserved("k");
  CHECK_FALSE(e.Satisfied("k"));
  e.CreationObserved("k");
  CHECK(e.Satisfied("k"));
  e.Expect("k", 0, 1);
  CHECK_FALSE(e.Satisfied("k"));
  clock.Advance(std::chrono::minutes(5) + std::chrono::milliseconds(1));
  CHECK(e.Satisfied("k"));
}

TEST_CASE("conditions keep lastTransitionTime while the status stays") {
  FakeClock clock;
  JsonDoc st(rapidjson::kObjectType);
  auto& a = st.GetAllocator();
  CHECK(SetCondition(st, "Available", "False", "MinimumReplicasUnavailable", "m", clock.Now(), a, true));
  std::string t0(GetString(*FindCondition(st, "Available"), "lastTransitionTime").value_or(""));
  clock.Advance(std::chrono::seconds(10));
  CHECK(SetCondition(st, "Available", "False", "MinimumReplicasUnavailable", "m", clock.Now(), a, true));
  CHECK(GetString(*FindCondition(st, "Available"), "lastTransitionTime").value_or("") == t0);
  CHECK(GetString(*FindCondition(st, "Available"), "lastUpdateTime").value_or("") != t0);
  CHECK_FALSE(SetCondition(st, "Available", "False", "MinimumReplicasUnavailable", "m", clock.Now(), a, false));
  CHECK(SetCondition(st, "Available", "True", "MinimumReplicasAvailable", "m", clock.Now(), a, false));
  CHECK(GetString(*FindCondition(st, "Available"), "lastTransitionTime").value_or("") != t0);
  RemoveCondition(st, "Available");
  CHECK(FindCondition(st, "Available") == nullptr);
}

TEST_CASE("pod helpers") {
  FakeClock clock;
  std::string ready_at = FormatRFC3339(clock.Now());
  auto pod = Json(R"({"metadata":{"name":"p"},"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True","lastTransitionTime":")" +
                  ready_at + R"("}]}})");
  CHECK(IsPodReady(pod));
  CHECK(IsPodActive(pod));
  CHECK(IsPodAvailable(pod, 0, clock.Now()));
  CHECK_FALSE(IsPodAvailable(pod, 5, clock.Now() + std::chrono::seconds(5)));
  CHECK(IsPodAvailable(pod, 5, clock.Now() + std::chrono::seconds(6)));
  auto done = Json(R"({"status":{"phase":"Succeeded"}})");
  CHECK(IsPodTerminal(done));
  CHECK_FALSE(IsPodActive(done));

  auto owner = Json(R"({"metadata":{"name":"web","namespace":"ns","uid":"u"}})");
  auto tmpl = Json(R"({"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"i"}]}})");
  auto p = PodFromTemplate(tmpl, owner, "apps/v1", "ReplicaSet", "web-");
  CHECK(GetString(*Path(p, {"metadata"}), "generateName").value_or("") == "web-");
  CHECK(GetString(*Path(p, {"metadata"}), "namespace").value_or("") == "ns");
  CHECK(IsControlledBy(p, "u"));
  CHECK(GetString(*Path(p, {"metadata", "labels"}), "app").value_or("") == "web");
  CHECK(Path(p, {"spec", "containers"})->Size() == 1);
}

TEST_CASE("hash, scaled values and semantic equality") {
  auto t1 = Json(R"({"a":1,"b":[1,2]})");
  auto t2 = Json(R"({"b":[1,2],"a":1})");
  CHECK(JsonEqual(t1, t2));
  CHECK_FALSE(JsonEqual(t1, Json(R"({"a":1,"b":[2,1]})")));
  CHECK_FALSE(JsonChanged(&t1, &t2));
  CHECK_FALSE(JsonChanged(nullptr, nullptr));
  CHECK(JsonChanged(&t1, nullptr));
  CHECK(JsonChanged(nullptr, &t2));
  auto t3 = Json(R"({"a":2,"b":[1,2]})");
  CHECK(JsonChanged(&t1, &t3));
  std::string h = ComputeHash(t1, std::nullopt);
  CHECK(h == ComputeHash(t1, std::nullopt));
  CHECK(h != ComputeHash(t1, 1));
  CHECK(h.find_first_not_of("bcdfghjklmnpqrstvwxz2456789") == std::string::npos);
  auto pct = Json(R"({"v":"25%","i":3})");
  CHECK(*ScaledValue(Member(pct, "v"), 10, true, 0) == 3);
  CHECK(*ScaledValue(Member(pct, "v"), 10, false, 0) == 2);
  CHECK(*ScaledValue(Member(pct, "i"), 10, false, 0) == 3);
  CHECK(*ScaledValue(nullptr, 10, false, 7) == 7);
}

TEST_CASE("workload handler helpers: controller references, selecting owners, updates of controlled objects") {
  Bench b;
  auto& owners = b.informers.For(kDaemonSets);
  auto a = b.Seed(kDaemonSets, R"({"metadata":{"name":"a","namespace":"ns"},"spec":{"selector":{"matchLabels":{"app":"a"}}}})");
  // An empty selector selects nothing; owners in other namespaces are not asked.
  b.Seed(kDaemonSets, R"({"metadata":{"name":"all","namespace":"ns"},"spec":{"selector":{}}})");
  b.Seed(kDaemonSets, R"({"metadata":{"name":"o","namespace":"x"},"spec":{"selector":{"matchLabels":{"app":"a"}}}})");
  auto b2 = b.Seed(kDaemonSets, R"({"metadata":{"name":"b","namespace":"ns"},"spec":{"selector":{"matchLabels":{"app":"b"}}}})");
  b.Sync();
  auto ref_to = [](const client::ObjectPtr& o, std::string_view kind = "DaemonSet") {
    return R"({"apiVersion":"apps/v1","kind":")" + std::string(kind) + R"(","name":")" + std::string(Name(*o)) +
           R"(","uid":")" + std::string(Uid(*o)) + R"(","controller":true})";
  };
  // The informer's copies, by name ("" for none).
  auto names = [](const std::vector<client::ObjectPtr>& objs) {
    std::vector<std::string> out;
    for (const auto& o : objs) out.emplace_back(Name(*o));
    return out;
  };
  auto name = [](const client::ObjectPtr& o) { return o ? std::string(Name(*o)) : std::string(); };
  auto pod = [](const std::string& labels, const std::string& ref) {
    return Json(R"({"metadata":{"name":"p","namespace":"ns","labels":)" + labels +
                (ref.empty() ? "" : R"(,"ownerReferences":[)" + ref + "]") + "}}");
  };

  // resolveControllerRef: kind, name and uid must all agree.
  CHECK(name(ResolveControllerRef(owners, "DaemonSet", "ns", Json(ref_to(a)))) == "a");
  CHECK(ResolveControllerRef(owners, "DaemonSet", "x", Json(ref_to(a))) == nullptr);
  CHECK(ResolveControllerRef(owners, "DaemonSet", "ns", Json(ref_to(a, "ReplicaSet"))) == nullptr);
  auto stale = Json(R"({"kind":"DaemonSet","name":"a","uid":"not-the-uid"})");
  CHECK(ResolveControllerRef(owners, "DaemonSet", "ns", stale) == nullptr);

  // Selecting owners: same namespace, non-empty selector matching.
  CHECK(names(OwnersSelecting(owners, pod(R"({"app":"a"})", ""))) == std::vector<std::string>{"a"});
  CHECK(OwnersSelecting(owners, pod(R"({"app":"c"})", "")).empty());

  // Updates of a controlled object.
  auto u = OwnersOnControlleeUpdate(owners, "DaemonSet", pod(R"({"app":"a"})", ref_to(a)), pod(R"({"app":"z"})", ref_to(a)));
  CHECK(names(u.wake) == std::vector<std::string>{"a"});  // controlled: only its controller, labels aside
  CHECK(name(u.controller) == "a");
  u = OwnersOnControlleeUpdate(owners, "DaemonSet", pod(R"({"app":"a"})", ref_to(a)), pod(R"({"app":"a"})", ref_to(b2)));
  CHECK(names(u.wake) == std::vector<std::string>{"a", "b"});  // the old controller, then the new one
  CHECK(name(u.controller) == "b");
  u = OwnersOnControlleeUpdate(owners, "DaemonSet", pod(R"({"app":"a"})", ""), pod(R"({"app":"a"})", ref_to(a, "ReplicaSet")));
  CHECK(u.wake.empty());  // controlled by something else: nobody
  CHECK(u.controller == nullptr);
  u = OwnersOnControlleeUpdate(owners, "DaemonSet", pod(R"({"app":"a"})", ref_to(a)), pod(R"({"app":"b"})", ""));
  CHECK(names(u.wake) == std::vector<std::string>{"a", "b"});  // released: the old controller, then who may adopt it
  CHECK(u.controller == nullptr);
  u = OwnersOnControlleeUpdate(owners, "DaemonSet", pod(R"({"app":"a"})", ""), pod(R"({"app":"b"})", ""));
  CHECK(names(u.wake) == std::vector<std::string>{"b"});  // an orphan relabelled
  u = OwnersOnControlleeUpdate(owners, "DaemonSet", pod(R"({"app":"a"})", ""), pod(R"({"app":"a"})", ""));
  CHECK(u.wake.empty());  // an orphan whose labels stayed
  CHECK(u.available_recheck_ms == 0);

  // A pod that became Ready: a recheck after its controller's minReadySeconds + 1 s.
  auto slow = b.Seed(kDaemonSets, R"({"metadata":{"name":"slow","namespace":"ns"},"spec":{"minReadySeconds":7}})");
  b.timers.RunPending();
  auto ready_pod = [&](bool ready) {
    JsonDoc d = pod(R"({"app":"a"})", ref_to(slow));
    SetMember(d, "status", Clone(Json(R"({"conditions":[{"type":"Ready","status":")" + std::string(ready ? "True" : "False") +
                                     R"("}]})"),
                                d.GetAllocator()),
              d.GetAllocator());
    return d;
  };
  u = OwnersOnControlleeUpdate(owners, "DaemonSet", ready_pod(false), ready_pod(true));
  CHECK(names(u.wake) == std::vector<std::string>{"slow"});
  CHECK(u.available_recheck_ms == 8000);
  u = OwnersOnControlleeUpdate(owners, "DaemonSet", ready_pod(true), ready_pod(true));
  CHECK(u.available_recheck_ms == 0);  // was Ready already
  u = OwnersOnControlleeUpdate(owners, "DaemonSet", pod(R"({"app":"a"})", ref_to(a)), pod(R"({"app":"a"})", ref_to(a)));
  CHECK(u.available_recheck_ms == 0);  // not Ready

  CHECK(ToJson(ObjectEventRef(*a, "apps/v1", "DaemonSet")) ==
        R"({"apiVersion":"apps/v1","kind":"DaemonSet","metadata":{"name":"a","namespace":"ns","uid":")" +
            std::string(Uid(*a)) + R"(","resourceVersion":")" + std::string(client::MetaString(*a, "resourceVersion")) +
            R"("}})");
}

TEST_CASE("WhileAlive runs the callback only while the flag holds") {
  auto alive = std::make_shared<bool>(true);
  int calls = 0;
  auto f = WhileAlive(alive, [&](int n) { calls += n; });
  f(2);
  CHECK(calls == 2);
  *alive = false;
  f(3);
  CHECK(calls == 2);
  auto g = WhileAlive(alive, [&](int n) { calls += n; });
  alive.reset();
  g(5);
  CHECK(calls == 2);
}

}  // namespace
}  // namespace minik::controllers
