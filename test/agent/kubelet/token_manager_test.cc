// The kubelet's token manager: TokenRequests bound to the pod, cached, refreshed past 80 % of the
// TTL (or 24 h), the refresh timer, failures, and forgetting a pod; on a simulated clock with the
// fake API client, and once across threads with a real loop.
#include <catch2/catch.hpp>

#include <chrono>
#include <thread>

#include "agent/kubelet/token_manager.h"
#include "client/fake_api_client.h"
#include "client/timers.h"

using namespace minik;
using namespace minik::agent;
using kubelet::TokenManager;

namespace {

struct Fixture {
  client::FakeTimers timers;
  client::FakeApiClient api{&timers.clock()};
  int issued = 0;
  std::vector<JsonDoc> bodies;
  std::vector<std::pair<std::string, std::string>> refreshed;
  Status fail = Status::OK();
  std::unique_ptr<TokenManager> tokens;

  Fixture() {
    api.SetCreateResponder([this](const client::FakeApiClient::Action& a, StatusOr<JsonDoc>* out) {
      if (a.resource.plural.find("/token") == std::string::npos) return false;
      if (!fail.ok()) {
        *out = fail;
        return true;
      }
      auto parsed = ParseJson(a.body);
      JsonDoc body = std::move(*parsed);
      int64_t ttl = *GetInt(*Member(body, "spec"), "expirationSeconds");
      JsonDoc answer;
      answer.CopyFrom(body, answer.GetAllocator());
      auto& al = answer.GetAllocator();
      JsonValue status(rapidjson::kObjectType);
      status.AddMember("token", MakeString("tok-" + std::to_string(++issued), al), al);
      status.AddMember("expirationTimestamp",
                       MakeString(FormatRFC3339(timers.clock().Now() + std::chrono::seconds(ttl)), al), al);
      answer.AddMember("status", status, al);
      bodies.push_back(std::move(body));
      *out = std::move(answer);
      return true;
    });
    kubelet::TokenManagerOptions o;
    o.jitter = false;
    tokens = std::make_unique<TokenManager>(
        nullptr, api, timers, [this](const std::string& ns, const std::string& uid) { refreshed.emplace_back(ns, uid); },
        o);
  }

  static volumes::TokenRequest Req(int64_t ttl = 3607, std::vector<std::string> auds = {}) {
    volumes::TokenRequest r;
    r.ns = "ns";
    r.service_account = "default";
    r.audiences = std::move(auds);
    r.expiration_seconds = ttl;
    r.pod_name = "web";
    r.pod_uid = "uid-1";
    return r;
  }
  std::string Get(const volumes::TokenRequest& r) {
    auto t = tokens->GetToken(r);
    REQUIRE(t.ok());
    return *t;
  }
};

}  // namespace

TEST_CASE("the token manager requests a pod-bound token and serves it from its cache") {
  Fixture f;
  CHECK(f.Get(Fixture::Req()) == "tok-1");
  REQUIRE(f.api.actions().size() == 1);
  CHECK(f.api.actions()[0].verb == "create");
  CHECK(f.api.actions()[0].resource.plural == "serviceaccounts/default/token");
  CHECK(f.api.actions()[0].ns == "ns");
  CHECK(ToJson(f.bodies[0]) ==
        R"({"kind":"TokenRequest","apiVersion":"authentication.k8s.io/v1","spec":{"audiences":[],"expirationSeconds":3607,)"
        R"("boundObjectRef":{"kind":"Pod","apiVersion":"v1","name":"web","uid":"uid-1"}}})");
  CHECK(f.Get(Fixture::Req()) == "tok-1");
  CHECK(f.issued == 1);
  // Another audience or TTL is another token.
  CHECK(f.Get(Fixture::Req(3607, {"vault"})) == "tok-2");
  CHECK(f.Get(Fixture::Req(7200)) == "tok-3");
  CHECK(f.tokens->cached() == 3);
}

TEST_CASE("tokens are refreshed past 80 % of their TTL, and the refresh timer asks for it") {
  Fixture f;
  CHECK(f.Get(Fixture::Req(1000)) == "tok-1");
  f.timers.Advance(std::chrono::seconds(799));
  CHECK(f.refreshed.empty());
  CHECK(f.Get(Fixture::Req(1000)) == "tok-1");
  f.timers.Advance(std::chrono::seconds(2));
  // The timer fired: the kubelet is told to update the pod's volumes...
  REQUIRE(f.refreshed.size() == 1);
  CHECK(f.refreshed[0] == std::pair<std::string, std::string>{"ns", "uid-1"});
  // ...whose GetToken now fetches a new token.
  CHECK(f.Get(Fixture::Req(1000)) == "tok-2");
  CHECK(f.Get(Fixture::Req(1000)) == "tok-2");
}

TEST_CASE("long-lived tokens are refreshed after 24 hours") {
  Fixture f;
  const int64_t two_days = 2 * 24 * 3600;
  CHECK(f.Get(Fixture::Req(two_days)) == "tok-1");
  f.timers.Advance(std::chrono::hours(23));
  CHECK(f.Get(Fixture::Req(two_days)) == "tok-1");
  CHECK(f.refreshed.empty());
  f.timers.Advance(std::chrono::hours(1) + std::chrono::seconds(2));
  CHECK(f.refreshed.size() == 1);
  CHECK(f.Get(Fixture::Req(two_days)) == "tok-2");
}

TEST_CASE("a failed refresh serves the cached token until it expires") {
  Fixture f;
  f.fail = Status::Unavailable("the server is down");
  auto first = f.tokens->GetToken(Fixture::Req(1000));
  REQUIRE_FALSE(first.ok());
  CHECK(first.status().message() == "failed to fetch token: the server is down");

  f.fail = Status::OK();
  CHECK(f.Get(Fixture::Req(1000)) == "tok-1");
  f.fail = Status::Unavailable("the server is down");
  f.timers.Advance(std::chrono::seconds(900));
  CHECK(f.Get(Fixture::Req(1000)) == "tok-1");
  f.timers.Advance(std::chrono::seconds(101));
  auto expired = f.tokens->GetToken(Fixture::Req(1000));
  REQUIRE_FALSE(expired.ok());
  CHECK(expired.status().message() ==
        "token default/ns/[]/1000/uid-1 expired and refresh failed: the server is down");
}

TEST_CASE("forgetting a pod drops its tokens and its refresh; expired tokens are cleaned up") {
  Fixture f;
  CHECK(f.Get(Fixture::Req(1000)) == "tok-1");
  volumes::TokenRequest other = Fixture::Req(1000);
  other.pod_uid = "uid-2";
  CHECK(f.Get(other) == "tok-2");
  f.tokens->ForgetPod("uid-1");
  CHECK(f.tokens->cached() == 1);
  f.timers.Advance(std::chrono::seconds(802));
  // Only the remaining pod is told to refresh.
  REQUIRE(f.refreshed.size() == 1);
  CHECK(f.refreshed[0].second == "uid-2");
  CHECK(f.Get(Fixture::Req(1000)) == "tok-3");
  // Past expiry the minute cleanup removes what nobody refreshed.
  f.timers.Advance(std::chrono::seconds(2000));
  CHECK(f.tokens->cached() == 0);
}

TEST_CASE("GetToken blocks a worker thread while the loop thread asks the API") {
  RealClock clock;
  http::Loop loop;
  client::LoopTimers timers(loop, clock);
  client::FakeApiClient api;
  api.SetCreateResponder([](const client::FakeApiClient::Action&, StatusOr<JsonDoc>* out) {
    *out = ParseJson(R"({"spec":{"expirationSeconds":3607},"status":{"token":"tok","expirationTimestamp":"2999-01-01T00:00:00Z"}})");
    return true;
  });
  TokenManager tokens(&loop, api, timers, nullptr);
  StatusOr<std::string> got = Status::Internal("not run");
  StatusOr<std::string> on_loop = Status::Internal("not run");
  std::thread worker([&] {
    got = tokens.GetToken(Fixture::Req());
    loop.Post([&] {
      on_loop = tokens.GetToken(Fixture::Req());  // must not deadlock
      loop.Stop();
    });
  });
  auto guard = loop.AddTimer(10000, 0, [&] { loop.Stop(); });
  loop.Run();
  worker.join();
  REQUIRE(got.ok());
  CHECK(*got == "tok");
  REQUIRE_FALSE(on_loop.ok());
  CHECK(on_loop.status().message() == "failed to fetch token: called on the loop thread");
  tokens.Shutdown();
  auto after = tokens.GetToken(Fixture::Req(7200));
  CHECK_FALSE(after.ok());
}
