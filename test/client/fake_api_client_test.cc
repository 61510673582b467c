#include "client/fake_api_client.h"

#include <catch2/catch.hpp>
#include "json_testing.h"

namespace minik::client {
namespace {

const ResourceRef kPods{"", "v1", "pods"};
const ResourceRef kDeployments{"apps", "v1", "deployments"};

using minik::testing::J;

StatusOr<JsonDoc> Call(std::function<void(ObjectCallback)> fn) {
  std::optional<StatusOr<JsonDoc>> out;
  fn([&](StatusOr<JsonDoc> r) { out.emplace(std::move(r)); });
  REQUIRE(out);
  return std::move(*out);
}

TEST_CASE("fake: create, get, update with optimistic concurrency, status subresource", "[fake]") {
  FakeClock clock;
  FakeApiClient c(&clock);
  auto created = Call([&](ObjectCallback cb) {
    c.Create(kPods, "default", J(R"({"metadata":{"name":"web"},"spec":{"a":1}})"), std::move(cb));
  });
  REQUIRE(created.ok());
  CHECK(MetaString(*created, "namespace") == "default");
  CHECK(MetaString(*created, "resourceVersion") == "1");
  CHECK(!MetaString(*created, "uid").empty());
  CHECK(MetaString(*created, "creationTimestamp") == FormatRFC3339(clock.Now()));

  auto dup = Call([&](ObjectCallback cb) { c.Create(kPods, "default", J(R"({"metadata":{"name":"web"}})"), std::move(cb)); });
  CHECK(dup.status().code() == Code::kAlreadyExists);
  CHECK(dup.status().message() == "pods \"web\" already exists");

  auto missing = Call([&](ObjectCallback cb) { c.Get(kDeployments, "default", "x", std::move(cb)); });
  CHECK(missing.status().code() == Code::kNotFound);
  CHECK(missing.status().message() == "deployments.apps \"x\" not found");

  // A stale resourceVersion conflicts.
  auto stale = Call([&](ObjectCallback cb) {
    c.Update(kPods, "default", J(R"({"metadata":{"name":"web","resourceVersion":"0"},"spec":{"a":2}})"), "",
             std::move(cb));
  });
  CHECK(stale.status().code() == Code::kConflict);
  CHECK(stale.status().message() ==
        "Operation cannot be fulfilled on pods \"web\": the object has been modified; please apply your changes to "
        "the latest version and try again");

  // A main update bumps generation and keeps status; a status update changes only status.
  auto s1 = Call([&](ObjectCallback cb) {
    c.Update(kPods, "default", J(R"({"metadata":{"name":"web"},"status":{"phase":"Running"}})"), "status",
             std::move(cb));
  });
  REQUIRE(s1.ok());
  CHECK(ToJson(*Member(*s1, "spec")) == R"({"a":1})");
  CHECK(Path(*s1, {"metadata", "generation"})->GetInt64() == 1);
  auto u = Call([&](ObjectCallback cb) {
    c.Update(kPods, "default", J(R"({"metadata":{"name":"web","resourceVersion":"2"},"spec":{"a":2},"status":{}})"),
             "", std::move(cb));
  });
  REQUIRE(u.ok());
  CHECK(ToJson(*Member(*u, "status")) == R"({"phase":"Running"})");
  CHECK(Path(*u, {"metadata", "generation"})->GetInt64() == 2);
  CHECK(MetaString(*u, "uid") == MetaString(*created, "uid"));
  CHECK(MetaString(*u, "resourceVersion") == "3");

  std::vector<std::string> writes;
  for (const auto& a : c.writes()) writes.push_back(a.ToString());
  CHECK(writes == std::vector<std::string>{"create pods default/web", "create pods default/web",
                                           "update pods default/web", "update pods/status default/web",
                                           "update pods default/web"});
}

TEST_CASE("fake: patches (merge, json), generateName, list with selectors and paging", "[fake]") {
  FakeApiClient c;
  for (auto s : {R"({"metadata":{"name":"a","namespace":"x","labels":{"app":"web","tier":"fe"}},"spec":{"nodeName":"n1"}})",
                 R"({"metadata":{"name":"b","namespace":"x","labels":{"app":"db"}},"spec":{"nodeName":"n2"}})",
                 R"({"metadata":{"name":"c","namespace":"y","labels":{"app":"web"}}})"}) {
    REQUIRE(c.Seed(kPods, J(s)).ok());
  }
  auto g = Call([&](ObjectCallback cb) {
    c.Create(kPods, "x", J(R"({"metadata":{"generateName":"web-"}})"), std::move(cb));
  });
  REQUIRE(g.ok());
  CHECK(MetaString(*g, "name").substr(0, 4) == "web-");
  CHECK(MetaString(*g, "name").size() == 9);

  auto names = [&](const std::string& ns, ListOptions o) {
    auto l = Call([&](ObjectCallback cb) { c.List(kPods, ns, o, std::move(cb)); });
    REQUIRE(l.ok());
    std::vector<std::string> out;
    for (const auto& i : (*l)["items"].GetArray()) out.push_back(std::string(MetaString(i, "name")));
    return std::make_pair(out, std::string(Path(*l, {"metadata", "continue"}) ? Path(*l, {"metadata", "continue"})->GetString() : ""));
  };
  ListOptions o;
  o.label_selector = "app=web";
  CHECK(names("", o).first == std::vector<std::string>{"a", "c"});
  o.label_selector = "app in (web,db),!tier";
  CHECK(names("", o).first == std::vector<std::string>{"b", "c"});
  o.label_selector = "app!=web";
  CHECK(names("x", o).first.size() == 2);  // b and the generated one (no labels)
  o.label_selector = "";
  o.field_selector = "spec.nodeName=n2";
  CHECK(names("", o).first == std::vector<std::string>{"b"});
  ListOptions page;
  page.limit = 2;
  auto p1 = names("", page);
  CHECK(p1.first.size() == 2);
  REQUIRE(!p1.second.empty());
  page.continue_token = p1.second;
  auto p2 = names("", page);
  CHECK(p2.first.size() == 2);
  CHECK(p2.second.empty());

  auto m = Call([&](ObjectCallback cb) {
    c.Patch(kPods, "x", "a", PatchType::kMerge, R"({"metadata":{"labels":{"tier":null,"v":"2"}}})", "", std::move(cb));
  });
  REQUIRE(m.ok());
  CHECK(ToJson(*Path(*m, {"metadata", "labels"})) == R"({"app":"web","v":"2"})");
  auto jp = Call([&](ObjectCallback cb) {
    c.Patch(kPods, "x", "a", PatchType::kJson,
            R"([{"op":"test","path":"/spec/nodeName","value":"n1"},{"op":"replace","path":"/spec/nodeName","value":"n3"},)"
            R"({"op":"add","path":"/metadata/labels/z~1w","value":"1"}])",
            "", std::move(cb));
  });
  REQUIRE(jp.ok());
  CHECK(ToJson(*Member(*jp, "spec")) == R"({"nodeName":"n3"})");
  CHECK(ToJson(*Path(*jp, {"metadata", "labels"})) == R"({"app":"web","v":"2","z/w":"1"})");
  auto bad = Call([&](ObjectCallback cb) {
    c.Patch(kPods, "x", "a", PatchType::kJson, R"([{"op":"test","path":"/spec/nodeName","value":"n1"}])", "",
            std::move(cb));
  });
  CHECK(bad.status().code() == Code::kInvalid);
  // A patch carrying a stale resourceVersion conflicts.
  auto stale = Call([&](ObjectCallback cb) {
    c.Patch(kPods, "x", "a", PatchType::kMerge, R"({"metadata":{"resourceVersion":"1"}})", "", std::move(cb));
  });
  CHECK(stale.status().code() == Code::kConflict);
}

TEST_CASE("fake: delete with preconditions, finalizers and propagation", "[fake]") {
  FakeClock clock;
  FakeApiClient c(&clock);
  auto obj = c.Seed(kDeployments, J(R"({"metadata":{"name":"d","namespace":"x"}})"));
  REQUIRE(obj.ok());
  DeleteOptions pre;
  pre.precondition_uid = "nope";
  auto r = Call([&](ObjectCallback cb) { c.Delete(kDeployments, "x", "d", pre, std::move(cb)); });
  CHECK(r.status().code() == Code::kConflict);
  CHECK(r.status().message() == "Operation cannot be fulfilled on deployments.apps \"d\": Precondition failed: UID in "
                                "precondition: nope, UID in object meta: " +
                                    std::string(MetaString(**obj, "uid")));

  DeleteOptions fg;
  fg.propagation_policy = "Foreground";
  auto marked = Call([&](ObjectCallback cb) { c.Delete(kDeployments, "x", "d", fg, std::move(cb)); });
  REQUIRE(marked.ok());
  CHECK(ToJson(*Path(*marked, {"metadata", "finalizers"})) == R"(["foregroundDeletion"])");
  CHECK(MetaString(*marked, "deletionTimestamp") == FormatRFC3339(clock.Now()));
  REQUIRE(c.Find(kDeployments, "x", "d"));
  // Removing the last finalizer completes the deletion.
  auto fin = Call([&](ObjectCallback cb) {
    c.Patch(kDeployments, "x", "d", PatchType::kMerge, R"({"metadata":{"finalizers":null}})", "", std::move(cb));
  });
  REQUIRE(fin.ok());
  CHECK(!c.Find(kDeployments, "x", "d"));

  // A pod bound to a node is deleted gracefully; grace 0 deletes it at once.
  REQUIRE(c.Seed(kPods, J(R"({"metadata":{"name":"p","namespace":"x"},"spec":{"nodeName":"n1"}})")).ok());
  auto g = Call([&](ObjectCallback cb) { c.Delete(kPods, "x", "p", {}, std::move(cb)); });
  REQUIRE(g.ok());
  CHECK(Path(*g, {"metadata", "deletionGracePeriodSeconds"})->GetInt64() == 30);
  DeleteOptions now;
  now.grace_period_seconds = 0;
  REQUIRE(Call([&](ObjectCallback cb) { c.Delete(kPods, "x", "p", now, std::move(cb)); }).ok());
  CHECK(!c.Find(kPods, "x", "p"));
  CHECK(c.writes().back().body == R"({"gracePeriodSeconds":0})");
}

TEST_CASE("fake: watches fan out, resume from a revision, expire after compaction, honour selectors", "[fake]") {
  FakeApiClient c;
  REQUIRE(c.Seed(kPods, J(R"({"metadata":{"name":"a","namespace":"x","labels":{"app":"web"}}})")).ok());
  std::vector<std::string> all, web;
  auto rec = [](std::vector<std::string>* out) {
    return WatchCallbacks{[out](WatchEvent ev) {
                            out->push_back(std::string(WatchEventTypeName(ev.type)) + " " +
                                           std::string(MetaString(*ev.object, "name")) + "@" +
                                           std::string(MetaString(*ev.object, "resourceVersion")));
                          },
                          [out](Status st) { out->push_back("closed " + st.ToString()); }};
  };
  WatchOptions from0;
  from0.resource_version = "0";
  auto h1 = c.Watch(kPods, "", from0, rec(&all));
  WatchOptions sel;
  sel.resource_version = "1";
  sel.label_selector = "app=web";
  auto h2 = c.Watch(kPods, "x", sel, rec(&web));
  CHECK(all == std::vector<std::string>{"ADDED a@1"});
  CHECK(web.empty());

  REQUIRE(c.Seed(kPods, J(R"({"metadata":{"name":"b","namespace":"x","labels":{"app":"db"}}})")).ok());
  auto r = Call([&](ObjectCallback cb) {
    c.Patch(kPods, "x", "a", PatchType::kMerge, R"({"metadata":{"labels":{"app":"api"}}})", "", std::move(cb));
  });
  REQUIRE(r.ok());
  CHECK(all == std::vector<std::string>{"ADDED a@1", "ADDED b@2", "MODIFIED a@3"});
  // Leaving the selector is a DELETED for that watch.
  CHECK(web == std::vector<std::string>{"DELETED a@3"});

  // Resuming from revision 1 replays what came after.
  std::vector<std::string> resumed;
  WatchOptions from1;
  from1.resource_version = "1";
  auto h3 = c.Watch(kPods, "", from1, rec(&resumed));
  CHECK(resumed == std::vector<std::string>{"ADDED b@2", "MODIFIED a@3"});

  c.Compact();
  std::vector<std::string> expired;
  auto h4 = c.Watch(kPods, "", from1, rec(&expired));
  CHECK(expired == std::vector<std::string>{"closed Expired: too old resource version: 1 (3)"});

  h3.reset();
  c.CloseWatches(Status::OK());
  CHECK(all.back() == "closed OK");
  CHECK(resumed.size() == 2);  // destroyed handles hear nothing
  CHECK(c.open_watches() == 0);
}

TEST_CASE("fake: a reactor injects failures", "[fake]") {
  FakeApiClient c;
  c.SetReactor([](const FakeApiClient::Action& a) {
    if (a.verb == "create") return Status::Forbidden("no");
    return Status::OK();
  });
  auto r = Call([&](ObjectCallback cb) { c.Create(kPods, "x", J(R"({"metadata":{"name":"a"}})"), std::move(cb)); });
  CHECK(r.status().code() == Code::kForbidden);
  CHECK(!c.Find(kPods, "x", "a"));
  REQUIRE(c.actions().size() == 1);
  CHECK(c.actions()[0].body == R"({"metadata":{"name":"a"}})");
}

}  // namespace
}  // namespace minik::client
