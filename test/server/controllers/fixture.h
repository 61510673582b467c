// A controller test bench (DESIGN.md convention 7): a FakeApiClient with a simulated clock,
// FakeTimers, shared informers over the fake, and an event recorder. Tests seed objects, call
// Sync() so the informers see them, call Reconcile(key) directly and assert the writes the fake
// recorded. No threads, no sleeps.
#pragma once

#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "client/fake_api_client.h"
#include "client/informer.h"
#include "client/timers.h"
#include "common/json.h"
#include "server/controllers/controller.h"
#include "server/controllers/events.h"
#include "server/controllers/util.h"

namespace minik::controllers::testing {

inline JsonDoc Json(std::string_view text) {
  auto d = ParseJson(text);
  if (!d.ok()) FAIL("bad JSON in test: " << d.error().ToString() << "\n" << text);
  return std::move(*d);
}

class Bench {
 public:
  Bench()
      : api(&timers.fake_clock()),
        informers(api, timers),
        events(api, timers.clock(), "test-controller"),
        ctx{api, informers, timers, events} {}

  // Stores an object (as a create, without recording an action); returns it.
  client::ObjectPtr Seed(const client::ResourceRef& res, std::string_view json) {
    auto r = api.Seed(res, Json(json));
    if (!r.ok()) FAIL("seed failed: " << r.error().ToString());
    return *r;
  }
  // Starts the informers (the controller must exist, so its informers are registered) and
  // runs what is pending: caches are in sync with the fake afterwards.
  void Sync() {
    informers.Start();
    timers.RunPending();
  }
  // Calls Reconcile(key) and returns its status (the fake answers synchronously).
  Status Reconcile(Controller& c, const std::string& key) {
    bool called = false;
    Status out = Status::Internal("reconcile did not call done");
    c.Reconcile(key, [&](Status st) {
      called = true;
      out = std::move(st);
    });
    timers.RunPending();
    if (!called) FAIL("Reconcile(" << key << ") did not finish synchronously");
    return out;
  }
  // The recorded writes as "verb resource[/sub] ns/name" strings, then cleared.
  std::vector<std::string> TakeWrites(bool include_events = false) {
    std::vector<std::string> out;
    for (const auto& a : api.writes()) {
      if (!include_events && a.resource.plural == "events") continue;
      out.push_back(a.ToString());
    }
    api.ClearActions();
    return out;
  }
  // Events recorded (reason: message), in order.
  std::vector<std::string> EventReasons() {
    std::vector<std::string> out;
    for (const auto& a : api.actions()) {
      if (a.resource.plural != "events" || a.verb != "create") continue;
      auto d = ParseJson(a.body);
      if (d.ok()) out.push_back(std::string(GetString(*d, "reason").value_or("")) + ": " +
                                std::string(GetString(*d, "message").value_or("")));
    }
    return out;
  }
  void Advance(int64_t ms) { timers.Advance(std::chrono::milliseconds(ms)); }
  const Clock& clock() { return timers.clock(); }

  client::FakeTimers timers;
  client::FakeApiClient api;
  client::SharedInformerFactory informers;
  EventRecorder events;
  Context ctx;
};

}  // namespace minik::controllers::testing
