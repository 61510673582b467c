// The server's own ApiClient: informers inside the server watch the cache directly and share its
// objects; everything else goes through the REST path.
#include <catch2/catch.hpp>

#include "api/registry.h"
#include "client/informer.h"
#include "client/timers.h"
#include "common/clock.h"
#include "http/loop.h"
#include "api_server_fixture.h"
#include "server/api_server.h"
#include "server/in_process_api_client.h"
#include "server/object_store.h"
#include "store/memory_backend.h"

using namespace minik;

namespace {

const client::ResourceRef kConfigMaps{"", "v1", "configmaps"};

JsonDoc ConfigMap(const std::string& name, const std::string& value) {
  auto d = ParseJson("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"" + name +
                     "\"},\"data\":{\"a\":\"" + value + "\"}}");
  return std::move(*d);
}

struct Fixture : testing::ApiServerFixture {
  std::unique_ptr<server::InProcessApiClient> client =
      std::make_unique<server::InProcessApiClient>(loop, *api, *objects, api::Registry::Builtin());
};

}  // namespace

TEST_CASE("an informer in the server shares the watch cache's objects and sees every change") {
  Fixture f;
  client::LoopTimers timers(f.loop, f.clock);
  client::Informer inf(*f.client, timers, kConfigMaps, {});
  std::vector<std::string> seen;
  client::EventHandlers h;
  h.on_add = [&](const client::ObjectPtr& o) { seen.push_back("add " + std::string(client::MetaString(*o, "name"))); };
  h.on_update = [&](const client::ObjectPtr&, const client::ObjectPtr& o) {
    seen.push_back("update " + std::string(client::MetaString(*o, "name")) + " a=" +
                   std::string(GetString(*Member(*o, "data"), "a").value_or("")));
  };
  h.on_delete = [&](const client::ObjectPtr& o, bool) {
    seen.push_back("delete " + std::string(client::MetaString(*o, "name")));
    f.loop.Stop();
  };
  inf.AddEventHandler(h);
  inf.OnSynced([&]() {
    f.client->Create(kConfigMaps, "default", ConfigMap("x", "1"), [&](StatusOr<JsonDoc> r) {
      REQUIRE(r.ok());
      f.client->Update(kConfigMaps, "default", ConfigMap("x", "2"), "", [&](StatusOr<JsonDoc> u) {
        REQUIRE(u.ok());
        f.client->Delete(kConfigMaps, "default", "x", {}, [&](StatusOr<JsonDoc> d) { REQUIRE(d.ok()); });
      });
    });
  });
  inf.Run();
  auto guard = f.loop.AddTimer(10000, 0, [&] { f.loop.Stop(); });
  f.loop.Run();
  CHECK(f.client->direct_watches() >= 1);
  // The bootstrap's kube-root-ca-less default namespace holds no ConfigMap: only ours.
  REQUIRE(seen == std::vector<std::string>{"add x", "update x a=2", "delete x"});
}

TEST_CASE("the object an in-server informer holds is the watch cache's own") {
  Fixture f;
  client::LoopTimers timers(f.loop, f.clock);
  client::Informer inf(*f.client, timers, kConfigMaps, {});
  client::EventHandlers h;
  h.on_add = [&](const client::ObjectPtr&) { f.loop.Stop(); };
  inf.AddEventHandler(h);
  inf.OnSynced([&]() {
    f.client->Create(kConfigMaps, "default", ConfigMap("shared", "1"), [&](StatusOr<JsonDoc> r) { REQUIRE(r.ok()); });
  });
  inf.Run();
  auto guard = f.loop.AddTimer(10000, 0, [&] { f.loop.Stop(); });
  f.loop.Run();
  auto mine = inf.Get("default", "shared");
  auto cached = f.objects->Get("/configmaps/default/shared");
  REQUIRE(mine);
  REQUIRE(cached);
  CHECK(mine.get() == cached->object.get());
}

TEST_CASE("a direct watch from a revision the cache no longer holds ends with Expired") {
  Fixture f;
  client::WatchOptions o;
  o.resource_version = "1";
  // Push the history past revision 1 (the cache keeps 10,000 events).
  int created = 0;
  std::function<void()> next = [&]() {
    if (created == 10050) return f.loop.Stop();
    f.client->Create(kConfigMaps, "default", ConfigMap("c" + std::to_string(created++), "1"),
                     [&](StatusOr<JsonDoc> r) {
                       REQUIRE(r.ok());
                       next();
                     });
  };
  next();
  f.loop.Run();
  Status closed = Status::OK();
  bool ended = false;
  client::WatchCallbacks cbs;
  cbs.on_event = [](client::WatchEvent) {};
  cbs.on_closed = [&](Status st) {
    closed = st;
    ended = true;
    f.loop.Stop();
  };
  auto w = f.client->Watch(kConfigMaps, "default", o, cbs);
  CHECK_FALSE(ended);  // never inside Watch()
  auto guard = f.loop.AddTimer(10000, 0, [&] { f.loop.Stop(); });
  f.loop.Run();
  REQUIRE(ended);
  CHECK(closed.code() == Code::kExpired);
}
