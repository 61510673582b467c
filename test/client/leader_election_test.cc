#include "client/leader_election.h"

#include <catch2/catch.hpp>

#include "client/fake_api_client.h"

namespace minik::client {
namespace {

using std::chrono::milliseconds;

struct Candidate {
  Candidate(FakeApiClient& c, FakeTimers& t, const std::string& id, bool release = false) {
    LeaderElectionConfig cfg;
    cfg.lease_name = "minik-controllers";
    cfg.identity = id;
    cfg.release_on_cancel = release;
    cfg.on_started_leading = [this] { log.push_back("started"); };
    cfg.on_stopped_leading = [this] { log.push_back("stopped"); };
    cfg.on_new_leader = [this](const std::string& who) { leaders.push_back(who); };
    elector = std::make_unique<LeaderElector>(c, t, cfg);
  }
  std::vector<std::string> log;
  std::vector<std::string> leaders;
  std::unique_ptr<LeaderElector> elector;
};

std::string Spec(FakeApiClient& c, const char* field) {
  auto lease = c.Find(kLeaseResource, "kube-system", "minik-controllers");
  REQUIRE(lease);
  const JsonValue* v = Path(*lease, {"spec", field});
  REQUIRE(v);
  return v->IsString() ? v->GetString() : ToJson(*v);
}

// Advances in 100 ms steps until pred holds; returns the time it took (ms), or -1.
int64_t AdvanceUntil(FakeTimers& t, int64_t max_ms, const std::function<bool()>& pred) {
  int64_t start = t.clock().MonotonicMillis();
  while (!pred()) {
    if (t.clock().MonotonicMillis() - start > max_ms) return -1;
    t.Advance(milliseconds(100));
  }
  return t.clock().MonotonicMillis() - start;
}

TEST_CASE("leader election: one of two candidates leads and renews; the other takes over after expiry",
          "[leader]") {
  FakeTimers t;
  FakeApiClient c(&t.clock());
  Candidate a(c, t, "server-a"), b(c, t, "server-b");
  a.elector->Run();
  t.RunPending();
  REQUIRE(a.elector->IsLeader());
  CHECK(a.log == std::vector<std::string>{"started"});
  CHECK(Spec(c, "holderIdentity") == "server-a");
  CHECK(Spec(c, "leaseDurationSeconds") == "15");
  CHECK(Spec(c, "leaseTransitions") == "0");
  const std::string acquired = Spec(c, "acquireTime");
  CHECK(acquired == FormatRFC3339Micro(t.clock().Now()));
  CHECK(acquired.size() == std::string("2026-01-01T00:00:00.000000Z").size());

  b.elector->Run();
  t.Advance(milliseconds(30000));
  CHECK(a.elector->IsLeader());
  CHECK(!b.elector->IsLeader());
  CHECK(b.leaders == std::vector<std::string>{"server-a"});
  // a renewed every 2 s, keeping its acquireTime.
  CHECK(Spec(c, "acquireTime") == acquired);
  CHECK(Spec(c, "renewTime") == FormatRFC3339Micro(t.clock().Now()));
  CHECK(Spec(c, "leaseTransitions") == "0");

  // a dies without releasing: b waits out the lease duration (from the last change it saw).
  a.elector.reset();
  int64_t took = AdvanceUntil(t, 30000, [&] { return b.elector->IsLeader(); });
  REQUIRE(took >= 0);
  // b saw the record change at its last read (at most one jittered retry period, 4.4 s,
  // before a died), waits 15 s from then, and notices at its next retry.
  CHECK(took >= 15000 - 4400);
  CHECK(took <= 15000 + 4400 + 4400);
  CHECK(b.log == std::vector<std::string>{"started"});
  CHECK(Spec(c, "holderIdentity") == "server-b");
  CHECK(Spec(c, "leaseTransitions") == "1");
  CHECK(Spec(c, "acquireTime") == Spec(c, "renewTime"));
  CHECK(Spec(c, "acquireTime") > acquired);
  CHECK(b.leaders == std::vector<std::string>{"server-a", "server-b"});
}

TEST_CASE("leader election: a leader that cannot renew for the renew deadline stops leading", "[leader]") {
  FakeTimers t;
  FakeApiClient c(&t.clock());
  Candidate a(c, t, "server-a"), b(c, t, "server-b");
  a.elector->Run();
  t.RunPending();
  REQUIRE(a.elector->IsLeader());
  b.elector->Run();
  t.RunPending();
  // a's requests fail from now on (a partitioned server).
  c.SetReactor([](const FakeApiClient::Action& act) {
    if (act.verb == "update" && act.body.find("server-a") != std::string::npos) return Status::Unavailable("timeout");
    return Status::OK();
  });
  int64_t took = AdvanceUntil(t, 20000, [&] { return !a.elector->IsLeader(); });
  CHECK(took >= 10000);
  CHECK(took <= 12000);
  CHECK(a.log == std::vector<std::string>{"started", "stopped"});
  // b takes over once the lease expires (a's last successful renewal was 15 s ago).
  REQUIRE(AdvanceUntil(t, 20000, [&] { return b.elector->IsLeader(); }) >= 0);
  CHECK(Spec(c, "holderIdentity") == "server-b");
  // a, a candidate again, cannot take it back while b renews.
  c.SetReactor(nullptr);
  t.Advance(milliseconds(60000));
  CHECK(!a.elector->IsLeader());
  CHECK(b.elector->IsLeader());
}

TEST_CASE("leader election: releasing on Stop lets the next candidate in at its next retry", "[leader]") {
  FakeTimers t;
  FakeApiClient c(&t.clock());
  Candidate a(c, t, "server-a", /*release=*/true), b(c, t, "server-b");
  a.elector->Run();
  t.RunPending();
  b.elector->Run();
  t.Advance(milliseconds(5000));
  REQUIRE(a.elector->IsLeader());
  a.elector->Stop();
  CHECK(a.log == std::vector<std::string>{"started", "stopped"});
  CHECK(Spec(c, "holderIdentity") == "");
  CHECK(Spec(c, "leaseDurationSeconds") == "1");
  int64_t took = AdvanceUntil(t, 10000, [&] { return b.elector->IsLeader(); });
  REQUIRE(took >= 0);
  CHECK(took <= 4400);
  CHECK(Spec(c, "leaseTransitions") == "1");
  CHECK(Spec(c, "leaseDurationSeconds") == "15");
}

TEST_CASE("leader election: concurrent writers are serialized by resourceVersion", "[leader]") {
  FakeTimers t;
  FakeApiClient c(&t.clock());
  // Both candidates see the expired lease and try to take it in the same step; exactly one wins.
  JsonDoc lease;
  lease.Parse(R"({"metadata":{"name":"minik-controllers","namespace":"kube-system"},"spec":{"holderIdentity":"gone",)"
              R"("leaseDurationSeconds":15,"leaseTransitions":4}})");
  REQUIRE(c.Seed(kLeaseResource, lease).ok());
  Candidate a(c, t, "server-a"), b(c, t, "server-b");
  a.elector->Run();
  b.elector->Run();
  t.RunPending();
  t.Advance(milliseconds(40000));
  CHECK(a.elector->IsLeader() != b.elector->IsLeader());
  CHECK(Spec(c, "leaseTransitions") == "5");
  size_t conflicts = 0;
  for (const auto& w : c.writes()) conflicts += w.verb == "update";
  CHECK(conflicts > 1);
}

}  // namespace
}  // namespace minik::client
