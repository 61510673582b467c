#include "server/manifests/deployer.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>
#include <sstream>

#include "server/manifests/apply.h"
#include "fake_object_client.h"

namespace minik::server {
namespace {

namespace fs = std::filesystem;
using testing::FakeObjectClient;
using State = ManifestDeployer::SyncResult::State;

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/minik-manifests-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteAll(const std::string& path, std::string_view content) {
  std::ofstream out(path, std::ios::trunc);
  out << content;
}

struct Fixture {
  TempDir tmp;
  FakeObjectClient client;
  FakeClock clock;
  std::string dir = tmp.path + "/server/manifests";
  std::string state = tmp.path + "/server/manifests.state.json";

  Fixture() { fs::create_directories(dir); }

  ManifestDeployer::Options Opts() {
    ManifestDeployer::Options o;
    o.dir = dir;
    o.state_file = state;
    return o;
  }
  ManifestDeployerPtr Make() {
    auto d = std::make_unique<ManifestDeployer>(Opts(), client, clock);
    REQUIRE(d->LoadState().ok());
    return d;
  }
  void Write(const std::string& name, std::string_view content) { WriteAll(dir + "/" + name, content); }
  std::string Path(const std::string& name) { return dir + "/" + name; }
};

constexpr std::string_view kApp = R"(apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  mode: fast
  level: "3"
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: extra
  namespace: team
---
apiVersion: v1
kind: Namespace
metadata:
  name: team
)";

TEST_CASE("boot applies every file: namespaces first, default namespace, last-applied, event",
          "[manifests][deployer]") {
  Fixture f;
  f.Write("app.yaml", kApp);
  f.Write("crb.json", R"({"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding",
      "metadata":{"name":"b","namespace":"ignored"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io",
      "kind":"ClusterRole","name":"view"},"subjects":[{"kind":"User","name":"u"}]})");
  f.Write("notes.txt", "not a manifest");
  auto d = f.Make();
  d->SyncAll();

  CHECK(f.client.Writes() == std::vector<std::string>{
                                 "create v1/Namespace team",
                                 "create v1/ConfigMap default/settings",
                                 "create v1/ConfigMap team/extra",
                                 "create rbac.authorization.k8s.io/v1/ClusterRoleBinding b",
                             });
  JsonDoc cm = f.client.Object("v1/ConfigMap default/settings");
  REQUIRE(cm.IsObject());
  const JsonValue* la = ::minik::Path(cm, {"metadata", "annotations", kLastAppliedAnnotation});
  REQUIRE(la);
  CHECK(std::string(la->GetString()) ==
        "{\"apiVersion\":\"v1\",\"data\":{\"level\":\"3\",\"mode\":\"fast\"},\"kind\":\"ConfigMap\","
        "\"metadata\":{\"annotations\":{},\"name\":\"settings\",\"namespace\":\"default\"}}\n");
  // Cluster-scoped objects lose the namespace they carried.
  JsonDoc crb = f.client.Object("rbac.authorization.k8s.io/v1/ClusterRoleBinding b");
  REQUIRE(crb.IsObject());
  CHECK(::minik::Path(crb, {"metadata", "namespace"}) == nullptr);

  auto events = f.client.Events();
  REQUIRE(events.size() == 2);
  CHECK(events[0].type == "Normal");
  CHECK(events[0].reason == "AppliedManifest");
  CHECK(events[0].message == "Applied manifest at \"" + f.Path("app.yaml") + "\"");
  CHECK(events[0].involved == ObjectRef{"minik.io/v1", "Addon", "kube-system", "app"});
  CHECK(events[1].involved.name == "crb");

  // Re-applying unchanged files reads but writes nothing.
  f.client.Reset();
  d->SyncAll();
  CHECK(f.client.Writes().empty());
  CHECK(f.client.Events().size() == 2);
}

TEST_CASE("a changed file is merged three-way: hand edits kept, dropped fields removed",
          "[manifests][deployer]") {
  Fixture f;
  f.Write("app.yaml", kApp);
  auto d = f.Make();
  d->SyncAll();

  // A user adds a label and a data key by hand.
  JsonDoc cm = f.client.Object("v1/ConfigMap default/settings");
  JsonAlloc& a = cm.GetAllocator();
  EnsureObject(EnsureObject(cm, "metadata", a), "labels", a).AddMember("hand", "yes", a);
  EnsureObject(cm, "data", a).AddMember("manual", "1", a);
  f.client.Put(ToJson(cm));
  f.client.Reset();

  // The file changes one value and drops another.
  std::string changed(kApp);
  changed.replace(changed.find("mode: fast"), 10, "mode: slow");
  changed.erase(changed.find("  level: \"3\"\n"), 13);
  f.Write("app.yaml", changed);
  auto r = d->SyncFile("app.yaml");
  CHECK(r.state == State::kApplied);
  CHECK(f.client.Writes() == std::vector<std::string>{"update v1/ConfigMap default/settings"});
  JsonDoc now = f.client.Object("v1/ConfigMap default/settings");
  CHECK(*::minik::Path(now, {"data", "mode"}) == JsonValue("slow"));
  CHECK(::minik::Path(now, {"data", "level"}) == nullptr);
  CHECK(*::minik::Path(now, {"data", "manual"}) == JsonValue("1"));
  CHECK(*::minik::Path(now, {"metadata", "labels", "hand"}) == JsonValue("yes"));
  CHECK(*::minik::Path(now, {"metadata", "uid"}) == JsonValue("uid-2"));
}

TEST_CASE("an object removed from a file is pruned; one still declared elsewhere is not",
          "[manifests][deployer]") {
  Fixture f;
  f.Write("app.yaml", kApp);
  f.Write("other.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra, namespace: team}\n");
  auto d = f.Make();
  d->SyncAll();
  f.client.Reset();

  // Drop "settings" and "extra" from app.yaml: settings is pruned, extra lives on in other.yaml.
  f.Write("app.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team\n");
  auto r = d->SyncFile("app.yaml");
  CHECK(r.state == State::kApplied);
  CHECK(f.client.Writes() == std::vector<std::string>{"delete v1/ConfigMap default/settings"});
  CHECK_FALSE(f.client.Has("v1/ConfigMap default/settings"));
  CHECK(f.client.Has("v1/ConfigMap team/extra"));
}

TEST_CASE("a broken file is reported and leaves the other files alone", "[manifests][deployer]") {
  Fixture f;
  f.Write("a-broken.yaml", "apiVersion: v1\nkind: [unclosed\n");
  f.Write("b-nokind.json", R"({"apiVersion":"v1","metadata":{"name":"x"}})");
  f.Write("c-good.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: good}\n");
  f.Write("d-mixed.yaml",
          "apiVersion: v1\nkind: Widget\nmetadata: {name: w}\n---\n"
          "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: fine}\n---\n"
          "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: lost, namespace: nowhere}\n");
  auto d = f.Make();
  d->SyncAll();

  CHECK(f.client.Has("v1/ConfigMap default/good"));
  CHECK(f.client.Has("v1/ConfigMap default/fine"));
  auto events = f.client.Events();
  REQUIRE(events.size() == 4);
  CHECK(events[0].type == "Warning");
  CHECK(events[0].reason == "ApplyManifestFailed");
  CHECK(events[0].message.rfind("Applying manifest at \"" + f.Path("a-broken.yaml") + "\" failed: ", 0) == 0);
  CHECK(events[0].involved.name == "a-broken");
  CHECK(events[1].message == "Applying manifest at \"" + f.Path("b-nokind.json") +
                                 "\" failed: Object 'Kind' is missing in '{\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"x\"}}'");
  CHECK(events[2].reason == "AppliedManifest");
  CHECK(events[3].reason == "ApplyManifestFailed");
  CHECK(events[3].message == "Applying manifest at \"" + f.Path("d-mixed.yaml") +
                                 "\" failed: Widget w: no matches for kind \"Widget\" in version \"v1\"; "
                                 "ConfigMap nowhere/lost: namespaces \"nowhere\" not found");
  // Parse errors wait for a change; API errors are retried with backoff.
  CHECK(d->RetryDelayMs("a-broken.yaml") == 0);
  CHECK(d->RetryDelayMs("d-mixed.yaml") == 5000);
  auto again = d->SyncFile("d-mixed.yaml");
  CHECK(again.state == State::kFailed);
  CHECK(again.retry);
  CHECK(d->RetryDelayMs("d-mixed.yaml") == 10000);

  // Once the namespace exists the retry succeeds and the backoff is cleared... except for the
  // unknown kind, which keeps failing.
  f.client.Put(R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"nowhere"}})");
  f.Write("d-mixed.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: lost, namespace: nowhere}\n");
  auto fixed = d->SyncFile("d-mixed.yaml");
  CHECK(fixed.state == State::kApplied);
  CHECK(d->RetryDelayMs("d-mixed.yaml") == 0);
  CHECK(f.client.Has("v1/ConfigMap nowhere/lost"));
  // "fine" was removed from the file: pruned.
  CHECK_FALSE(f.client.Has("v1/ConfigMap default/fine"));
}

TEST_CASE(".skip files make the deployer ignore a file", "[manifests][deployer]") {
  Fixture f;
  f.Write("app.yaml", kApp);
  f.Write("app.yaml.skip", "");
  auto d = f.Make();
  d->SyncAll();
  CHECK(f.client.Writes().empty());
  CHECK(f.client.Events().empty());
  CHECK(d->SyncFile("app.yaml").state == State::kSkipped);

  // Removing the .skip file (an event for "app.yaml.skip") applies the file.
  fs::remove(f.Path("app.yaml.skip"));
  auto r = d->SyncFile("app.yaml.skip");
  CHECK(r.state == State::kApplied);
  CHECK(f.client.Has("v1/ConfigMap default/settings"));

  // Skipping again later changes nothing on the cluster.
  f.Write("app.yaml.skip", "");
  f.client.Reset();
  CHECK(d->SyncFile("app.yaml.skip").state == State::kSkipped);
  CHECK(f.client.Writes().empty());
}

TEST_CASE("deleting a file leaves its objects; the record survives a restart", "[manifests][deployer]") {
  Fixture f;
  f.Write("app.yaml", kApp);
  {
    auto d = f.Make();
    d->SyncAll();
    fs::remove(f.Path("app.yaml"));
    f.client.Reset();
    CHECK(d->SyncFile("app.yaml").state == State::kMissing);
    CHECK(f.client.Writes().empty());
    CHECK(f.client.Has("v1/ConfigMap default/settings"));
    CHECK(f.client.Has("v1/ConfigMap team/extra"));
  }
  // A new deployer (server restart) reads the state file: when app.yaml comes back without
  // "extra", that object is pruned.
  REQUIRE(fs::exists(f.state));
  f.Write("app.yaml",
          "apiVersion: v1\nkind: Namespace\nmetadata: {name: team}\n---\n"
          "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {mode: fast, level: \"3\"}\n");
  auto d2 = f.Make();
  d2->SyncAll();
  CHECK(f.client.Writes() == std::vector<std::string>{"delete v1/ConfigMap team/extra"});
  CHECK(f.client.Has("v1/ConfigMap default/settings"));
}

TEST_CASE("objects are the same across versions of their group", "[manifests][deployer]") {
  CHECK(SameObject({"apps/v1", "Deployment", "default", "web"}, {"apps/v1beta2", "Deployment", "default", "web"}));
  CHECK(SameObject({"v1", "ConfigMap", "default", "a"}, {"v1", "ConfigMap", "default", "a"}));
  CHECK_FALSE(SameObject({"v1", "ConfigMap", "default", "a"}, {"v1", "ConfigMap", "other", "a"}));
  CHECK_FALSE(SameObject({"v1", "ConfigMap", "default", "a"}, {"v1", "Secret", "default", "a"}));
  CHECK_FALSE(SameObject({"apps/v1", "Deployment", "", "a"}, {"extensions/v1beta1", "Deployment", "", "a"}));
}

TEST_CASE("a conflict is retried once after re-reading", "[manifests][deployer]") {
  Fixture f;
  f.Write("a.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {k: v1}\n");
  auto d = f.Make();
  d->SyncAll();
  f.client.Reset();
  f.Write("a.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {k: v2}\n");
  f.client.InjectConflicts(1);
  auto r = d->SyncFile("a.yaml");
  CHECK(r.state == State::kApplied);
  CHECK(f.client.Writes() ==
        std::vector<std::string>{"update v1/ConfigMap default/a", "update v1/ConfigMap default/a"});
  CHECK(*::minik::Path(f.client.Object("v1/ConfigMap default/a"), {"data", "k"}) == JsonValue("v2"));

  // Two conflicts in a row: reported, retried later.
  f.Write("a.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {k: v3}\n");
  f.client.InjectConflicts(2);
  auto r2 = d->SyncFile("a.yaml");
  CHECK(r2.state == State::kFailed);
  CHECK(r2.retry);
  REQUIRE(r2.errors.size() == 1);
  CHECK(r2.errors[0].find("ConfigMap default/a: Operation cannot be fulfilled on configmaps \"a\"") == 0);
}

TEST_CASE("an invalid object is reported without retry", "[manifests][deployer]") {
  Fixture f;
  f.Write("a.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n");
  auto d = f.Make();
  d->SyncAll();
  f.Write("a.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {k: v}\n");
  f.client.SetUpdateError(Status::Invalid("ConfigMap \"a\" is invalid: data: Invalid value"));
  auto r = d->SyncFile("a.yaml");
  CHECK(r.state == State::kFailed);
  CHECK_FALSE(r.retry);
  CHECK(d->RetryDelayMs("a.yaml") == 0);
  auto events = f.client.Events();
  CHECK(events.back().message == "Applying manifest at \"" + f.Path("a.yaml") +
                                     "\" failed: ConfigMap default/a: ConfigMap \"a\" is invalid: data: Invalid value");
}

TEST_CASE("default manifests are written unless skipped and rewritten when they differ",
          "[manifests][deployer]") {
  Fixture f;
  auto opts = f.Opts();
  fs::remove_all(f.dir);  // the deployer creates it (but the .skip must be there first)
  opts.defaults = {{"dns.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: dns}\ndata: {ip: \"%{CLUSTER_DNS}%\"}\n"},
                   {"skipped.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: s}\n"}};
  opts.template_vars = {{"%{CLUSTER_DNS}%", "10.43.0.10"}};
  fs::create_directories(f.dir);
  f.Write("skipped.yaml.skip", "");
  ManifestDeployer d(opts, f.client, f.clock);
  REQUIRE(d.WriteDefaultManifests().ok());
  CHECK(ReadAll(f.Path("dns.yaml")) == "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: dns}\ndata: {ip: \"10.43.0.10\"}\n");
  CHECK_FALSE(fs::exists(f.Path("skipped.yaml")));
  struct stat st {};
  REQUIRE(::stat(f.Path("dns.yaml").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);

  // A user edit of a default manifest is overwritten at the next boot, as k3s does.
  f.Write("dns.yaml", "edited");
  REQUIRE(d.WriteDefaultManifests().ok());
  CHECK(ReadAll(f.Path("dns.yaml")).find("10.43.0.10") != std::string::npos);

  d.SyncAll();
  CHECK(*::minik::Path(f.client.Object("v1/ConfigMap default/dns"), {"data", "ip"}) == JsonValue("10.43.0.10"));
  CHECK_FALSE(f.client.Has("v1/ConfigMap default/s"));
}

TEST_CASE("the built-in default manifests parse and name served kinds", "[manifests][deployer]") {
  auto builtin = BuiltinManifests();
  REQUIRE_FALSE(builtin.empty());
  Fixture f;
  auto opts = f.Opts();
  opts.defaults = builtin;
  ManifestDeployer d(opts, f.client, f.clock);
  REQUIRE(d.WriteDefaultManifests().ok());
  d.SyncAll();
  for (const auto& e : f.client.Events()) {
    INFO(e.message);
    CHECK(e.reason == "AppliedManifest");
  }
  CHECK(f.client.Events().size() == builtin.size());
  CHECK(f.client.Has("rbac.authorization.k8s.io/v1/ClusterRoleBinding kube-apiserver-kubelet-admin"));
}

TEST_CASE("the started deployer applies at boot and sees a change through inotify within 2 s",
          "[manifests][deployer][inotify]") {
  Fixture f;
  f.Write("a.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n");
  auto opts = f.Opts();
  opts.debounce_ms = 50;
  RealClock clock;
  ManifestDeployer d(opts, f.client, clock);
  REQUIRE(d.Start().ok());
  REQUIRE(f.client.WaitFor(std::chrono::seconds(2), [&] { return f.client.Has("v1/ConfigMap default/a"); }));

  // A new file, a changed file and an editor's swap file.
  f.Write(".a.yaml.swp", "junk");
  f.Write("b.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n");
  f.Write("a.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {k: v}\n");
  bool seen = f.client.WaitFor(std::chrono::seconds(2), [&] {
    JsonDoc a = f.client.Object("v1/ConfigMap default/a");
    return f.client.Has("v1/ConfigMap default/b") && a.IsObject() && ::minik::Path(a, {"data", "k"}) != nullptr;
  });
  CHECK(seen);

  // A file written through a rename (as editors and `kubectl`-generating tools do).
  f.Write(".c.tmp", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n");
  fs::rename(f.Path(".c.tmp"), f.Path("c.yaml"));
  CHECK(f.client.WaitFor(std::chrono::seconds(2), [&] { return f.client.Has("v1/ConfigMap default/c"); }));
  d.Stop();
  d.Stop();  // idempotent
  uint64_t n = d.sync_count();
  CHECK(n >= 3);
}

}  // namespace
}  // namespace minik::server

namespace minik::server {
namespace {

// Serves every call on another thread's event loop and waits for the answer, as the server's
// in-process client does with the API's loop.
class LoopBoundClient : public ObjectClient {
 public:
  LoopBoundClient(http::Loop& loop, ObjectClient& inner) : loop_(loop), inner_(inner) {}
  std::function<void()> before_first_call;  // runs on the loop, before the first call is served

  StatusOr<bool> IsNamespaced(std::string_view v, std::string_view k) override {
    return Serve<StatusOr<bool>>([&] { return inner_.IsNamespaced(v, k); });
  }
  StatusOr<JsonDoc> Get(const ObjectRef& r) override {
    return Serve<StatusOr<JsonDoc>>([&] { return inner_.Get(r); });
  }
  StatusOr<JsonDoc> Create(const JsonValue& o) override {
    return Serve<StatusOr<JsonDoc>>([&] { return inner_.Create(o); });
  }
  StatusOr<JsonDoc> Update(const JsonValue& o) override {
    return Serve<StatusOr<JsonDoc>>([&] { return inner_.Update(o); });
  }
  Status Delete(const ObjectRef& r) override {
    return Serve<Status>([&] { return inner_.Delete(r); });
  }
  Status RecordEvent(std::string_view t, std::string_view r, std::string_view m, const ObjectRef& i) override {
    return Serve<Status>([&] { return inner_.RecordEvent(t, r, m, i); });
  }

 private:
  template <typename R, typename F>
  R Serve(F fn) {
    std::promise<R> p;
    auto f = p.get_future();
    loop_.Post([&] {
      if (before_first_call) {
        auto hook = std::move(before_first_call);
        before_first_call = nullptr;
        hook();
      }
      p.set_value(fn());
    });
    return f.get();
  }
  http::Loop& loop_;
  ObjectClient& inner_;
};

TEST_CASE("StopAsync from the API's loop thread while a call is in flight does not deadlock",
          "[manifests][deployer][inotify]") {
  Fixture f;
  f.Write("a.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n"
                    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n");
  http::Loop api_loop;
  LoopBoundClient client(api_loop, f.client);
  RealClock clock;
  ManifestDeployer d(f.Opts(), client, clock);
  std::atomic<bool> done_called{false};
  std::thread::id done_thread;
  // SIGTERM arrives while the deployer waits for its first answer: the API loop asks the
  // deployer to stop and keeps serving until it has.
  client.before_first_call = [&] {
    d.StopAsync([&] {
      done_thread = std::this_thread::get_id();
      done_called = true;
      api_loop.Post([&] { api_loop.Stop(); });
    });
  };
  REQUIRE(d.Start().ok());
  api_loop.Run();  // returns once the deployer has stopped
  d.Stop();
  CHECK(done_called.load());
  CHECK(done_thread != std::this_thread::get_id());
  // Interrupted: no event, nothing pruned, and the next boot re-applies.
  CHECK(f.client.Events().empty());
  CHECK(f.client.Writes().size() <= 1);
}

}  // namespace
}  // namespace minik::server
