// The client library against the real ApiServer through the in-process transport: the path
// every in-server controller takes.
#include <catch2/catch.hpp>

#include "api/registry.h"
#include "client/rest_api_client.h"
#include "common/clock.h"
#include "http/loop.h"
#include "api_server_fixture.h"
#include "server/api_server.h"
#include "server/in_process_transport.h"
#include "server/object_store.h"
#include "store/memory_backend.h"

using namespace minik;

namespace {

struct Fixture : testing::ApiServerFixture {
  std::unique_ptr<client::RestApiClient> client =
      std::make_unique<client::RestApiClient>(std::make_unique<server::InProcessTransport>(loop, *api));
};

const client::ResourceRef kConfigMaps{"", "v1", "configmaps"};

JsonDoc ConfigMap(const char* name) {
  auto d = ParseJson(std::string("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"") + name +
                     "\"},\"data\":{\"a\":\"1\"}}");
  return std::move(*d);
}

}  // namespace

TEST_CASE("create, get, list and errors through the in-process transport") {
  Fixture f;
  std::vector<std::string> log;
  f.client->Create(kConfigMaps, "default", ConfigMap("one"), [&](StatusOr<JsonDoc> r) {
    REQUIRE(r.ok());
    log.push_back("created rv=" + std::string(*GetString(*Member(*r, "metadata"), "resourceVersion")));
    f.client->Get(kConfigMaps, "default", "one", [&](StatusOr<JsonDoc> g) {
      REQUIRE(g.ok());
      log.push_back("got " + std::string(*GetString(*Member(*g, "data"), "a")));
      f.client->Get(kConfigMaps, "default", "missing", [&](StatusOr<JsonDoc> m) {
        REQUIRE_FALSE(m.ok());
        CHECK(m.error().code() == Code::kNotFound);
        CHECK(m.error().message() == "configmaps \"missing\" not found");
        f.client->List(kConfigMaps, "default", {}, [&](StatusOr<JsonDoc> l) {
          REQUIRE(l.ok());
          log.push_back("listed " + std::to_string(Member(*l, "items")->Size()));
          f.loop.Stop();
        });
      });
    });
  });
  auto guard = f.loop.AddTimer(10000, 0, [&] { f.loop.Stop(); });
  f.loop.Run();
  REQUIRE(log.size() == 3);
  CHECK(log[1] == "got 1");
  CHECK(log[2] == "listed 1");
}

TEST_CASE("a watch through the in-process transport sees writes and stops when its handle goes") {
  Fixture f;
  std::vector<std::string> events;
  client::WatchCallbacks cbs;
  http::HandlePtr watch;
  cbs.on_event = [&](client::WatchEvent ev) {
    events.push_back(std::string(client::WatchEventTypeName(ev.type)) + " " + std::string(*GetString(*Member(*ev.object, "metadata"), "name")));
    if (events.size() == 2) {
      watch.reset();  // the server drops its watcher; nothing more arrives
      f.client->Create(kConfigMaps, "default", ConfigMap("late"), [&](StatusOr<JsonDoc> r) {
        REQUIRE(r.ok());
        f.loop.Stop();
      });
    }
  };
  cbs.on_closed = [](Status) {};
  client::WatchOptions opts;
  opts.resource_version = "0";
  watch = f.client->Watch(kConfigMaps, "default", opts, std::move(cbs));
  auto start = f.loop.AddTimer(20, 0, [&] {
    f.client->Create(kConfigMaps, "default", ConfigMap("a"), [&](StatusOr<JsonDoc> r) {
      REQUIRE(r.ok());
      f.client->Delete(kConfigMaps, "default", "a", {}, [](StatusOr<JsonDoc> d) { REQUIRE(d.ok()); });
    });
  });
  auto guard = f.loop.AddTimer(10000, 0, [&] { f.loop.Stop(); });
  f.loop.Run();
  CHECK(events == std::vector<std::string>{"ADDED a", "DELETED a"});
}

TEST_CASE("a delete racing a write to the same object retries instead of answering Conflict") {
  // The patch and the delete read the same revision before either is committed; upstream's
  // conditional delete starts over when the object changed underneath it, so must minik's.
  Fixture f;
  bool created = false;
  f.client->Create(kConfigMaps, "default", ConfigMap("raced"), [&](StatusOr<JsonDoc> r) {
    REQUIRE(r.ok());
    created = true;
    f.loop.Stop();
  });
  auto guard = f.loop.AddTimer(10000, 0, [&] { f.loop.Stop(); });
  f.loop.Run();
  REQUIRE(created);
  std::vector<std::string> results;
  for (int i = 0; i < 3; ++i) {
    f.client->Patch(kConfigMaps, "default", "raced", client::PatchType::kMerge,
                    "{\"data\":{\"a\":\"" + std::to_string(i + 2) + "\"}}", "", [&](StatusOr<JsonDoc> r) {
                      results.push_back(r.ok() ? "patched" : "patch: " + r.error().message());
                    });
  }
  f.client->Delete(kConfigMaps, "default", "raced", {}, [&](StatusOr<JsonDoc> r) {
    results.push_back(r.ok() ? "deleted" : "delete: " + r.error().message());
    f.loop.Stop();
  });
  f.loop.Run();
  REQUIRE(results.size() == 4);
  CHECK(results[3] == "deleted");
  bool gone = false;
  f.client->Get(kConfigMaps, "default", "raced", [&](StatusOr<JsonDoc> g) {
    gone = !g.ok() && g.error().code() == Code::kNotFound;
    f.loop.Stop();
  });
  f.loop.Run();
  CHECK(gone);
}

TEST_CASE("list and watch by metadata.name read that one key, in one namespace or across all") {
  Fixture f;
  auto guard = f.loop.AddTimer(10000, 0, [&] { f.loop.Stop(); });
  int pending = 0;
  auto create = [&](const char* ns, const char* name) {
    ++pending;
    f.client->Create(kConfigMaps, ns, ConfigMap(name), [&](StatusOr<JsonDoc> r) {
      REQUIRE(r.ok());
      if (--pending == 0) f.loop.Stop();
    });
  };
  // "ab" shares the key prefix of "a"; kube-system holds another "a".
  for (const char* name : {"a", "ab", "b"}) create("default", name);
  create("kube-system", "a");
  f.loop.Run();
  REQUIRE(pending == 0);
  auto list = [&](const std::string& ns, const std::string& fields, const std::string& labels = "") {
    client::ListOptions o;
    o.field_selector = fields;
    o.label_selector = labels;
    std::vector<std::string> out;
    f.client->List(kConfigMaps, ns, o, [&](StatusOr<JsonDoc> r) {
      REQUIRE(r.ok());
      for (const auto& i : Member(*r, "items")->GetArray()) {
        out.push_back(std::string(*GetString(*Member(i, "metadata"), "namespace")) + "/" +
                      std::string(*GetString(*Member(i, "metadata"), "name")));
      }
      f.loop.Stop();
    });
    f.loop.Run();
    return out;
  };
  using V = std::vector<std::string>;
  CHECK(list("default", "metadata.name=a") == V{"default/a"});
  CHECK(list("default", "metadata.name==ab") == V{"default/ab"});
  CHECK(list("default", "metadata.name=missing").empty());
  CHECK(list("default", "metadata.name=a", "app=web").empty());  // every term still applies
  CHECK(list("default", "metadata.name=a,metadata.namespace=kube-system").empty());
  CHECK(list("", "metadata.name=a") == V{"default/a", "kube-system/a"});
  CHECK(list("default", "metadata.name!=a") == V{"default/ab", "default/b"});

  // A watch of "a" in default: its initial event and its changes, none of "ab"'s or the other a's.
  std::vector<std::string> events;
  client::WatchCallbacks cbs;
  cbs.on_event = [&](client::WatchEvent ev) {
    events.push_back(std::string(client::WatchEventTypeName(ev.type)) + " " +
                     std::string(*GetString(*Member(*ev.object, "metadata"), "name")) + " " +
                     std::string(*GetString(*Member(*ev.object, "data"), "a")));
    if (events.size() == 3) f.loop.Stop();
  };
  cbs.on_closed = [](Status) {};
  client::WatchOptions wo;
  wo.resource_version = "0";
  wo.field_selector = "metadata.name=a";
  auto watch = f.client->Watch(kConfigMaps, "default", wo, std::move(cbs));
  auto patch = [&](const char* ns, const char* name, const char* value) {
    f.client->Patch(kConfigMaps, ns, name, client::PatchType::kMerge, std::string("{\"data\":{\"a\":\"") + value + "\"}}",
                    "", [](StatusOr<JsonDoc> r) { REQUIRE(r.ok()); });
  };
  auto start = f.loop.AddTimer(20, 0, [&] {
    patch("default", "ab", "x");
    patch("kube-system", "a", "y");
    patch("default", "a", "2");
    f.client->Delete(kConfigMaps, "default", "a", {}, [](StatusOr<JsonDoc> d) { REQUIRE(d.ok()); });
  });
  f.loop.Run();
  CHECK(events == std::vector<std::string>{"ADDED a 1", "MODIFIED a 2", "DELETED a 2"});
}
