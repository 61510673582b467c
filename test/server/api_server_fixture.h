// A real ApiServer over an in-memory backend, bootstrapped (default namespaces in place), on a
// loop the test runs: the base of the server tests that go through the API.
#pragma once

#include <catch2/catch.hpp>

#include <memory>

#include "api/registry.h"
#include "common/clock.h"
#include "http/loop.h"
#include "server/api_server.h"
#include "server/object_store.h"
#include "store/memory_backend.h"

namespace minik::testing {

struct ApiServerFixture {
  http::Loop loop;
  store::MemoryBackend backend;
  RealClock clock;
  std::unique_ptr<server::ObjectStore> objects;
  std::unique_ptr<server::ApiServer> api;

  ApiServerFixture() {
    auto o = server::ObjectStore::Open(loop, backend);
    REQUIRE(o.ok());
    objects = std::move(*o);
    api = std::make_unique<server::ApiServer>(loop, *objects, api::Registry::Builtin(), clock, server::ApiServerOptions{});
    bool ready = false;
    api->Bootstrap([&](Status st) {
      REQUIRE(st.ok());
      ready = true;
      loop.Stop();
    });
    auto guard = loop.AddTimer(10000, 0, [&] { loop.Stop(); });
    loop.Run();
    REQUIRE(ready);
    // What the ServiceAccount controller creates: pods need their namespace's "default".
    for (const char* ns : {"default", "kube-system"}) {
      auto sa = ParseJson(std::string(R"({"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"default","namespace":")") +
                          ns + R"(","uid":"sa-uid-)" + ns + R"("}})");
      REQUIRE(sa.ok());
      bool created = false;
      objects->Create(std::string("/serviceaccounts/") + ns + "/default", *sa, [&](StatusOr<server::ObjectPtr> r) {
        REQUIRE(r.ok());
        created = true;
        loop.Stop();
      });
      if (!created) loop.Run();
      REQUIRE(created);
    }
  }
};

}  // namespace minik::testing
