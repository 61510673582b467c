#include "client/leader_election.h"

#include <functional>

#include "common/log.h"

namespace minik::client {

LeaderElector::LeaderElector(ApiClient& client, Timers& timers, LeaderElectionConfig config)
    : client_(client), timers_(timers), config_(std::move(config)), alive_(std::make_shared<bool>(true)) {
  rand_state_ = std::hash<std::string>{}(config_.identity) | 1;
}

LeaderElector::~LeaderElector() { *alive_ = false; }

void LeaderElector::Run() {
  if (running_) return;
  running_ = true;
  std::weak_ptr<bool> alive = alive_;
  timers_.Post([this, alive]() {
    if (!alive.expired()) Tick();
  });
}

void LeaderElector::Stop() {
  if (!running_) return;
  running_ = false;
  timer_.reset();
  if (!leading_) return;
  if (config_.release_on_cancel) {
    Record r;
    r.holder = "";
    r.duration_seconds = 1;
    std::string now = FormatRFC3339Micro(timers_.clock().Now());
    r.acquire_time = now;
    r.renew_time = now;
    r.transitions = observed_.transitions;
    JsonDoc lease = LeaseObject(r);
    client_.Update(kLeaseResource, config_.lease_namespace, lease, "", [](StatusOr<JsonDoc> res) {
      if (!res.ok()) MINIK_LOG(Warning) << "leader election: releasing the lease failed: " << res.status().ToString();
    });
  }
  Lose();
}

void LeaderElector::Lose() {
  if (!leading_) return;
  leading_ = false;
  MINIK_LOG(Info) << "leader election: " << config_.identity << " stopped leading " << config_.lease_namespace << "/"
                  << config_.lease_name;
  if (config_.on_stopped_leading) config_.on_stopped_leading();
}

void LeaderElector::ScheduleTick() {
  if (!running_) return;
  int64_t delay = config_.retry_period_ms;
  if (!leading_ && config_.jitter_factor > 0) {
    rand_state_ ^= rand_state_ << 13;
    rand_state_ ^= rand_state_ >> 7;
    rand_state_ ^= rand_state_ << 17;
    double r = static_cast<double>(rand_state_ % 1000000) / 1000000.0;
    delay += static_cast<int64_t>(static_cast<double>(config_.retry_period_ms) * config_.jitter_factor * r);
  }
  std::weak_ptr<bool> alive = alive_;
  timer_ = timers_.After(static_cast<uint64_t>(delay), [this, alive]() {
    if (!alive.expired()) Tick();
  });
}

void LeaderElector::Tick() {
  if (!running_) return;
  const int64_t now = timers_.clock().MonotonicMillis();
  if (leading_ && now - last_renew_ms_ >= config_.renew_deadline_ms) {
    MINIK_LOG(Warning) << "leader election: failed to renew lease " << config_.lease_namespace << "/"
                       << config_.lease_name << ": timed out waiting for the condition";
    Lose();
  }
  if (!in_flight_) {
    in_flight_ = true;
    std::weak_ptr<bool> alive = alive_;
    TryAcquireOrRenew([this, alive](bool ok) {
      if (alive.expired()) return;
      in_flight_ = false;
      if (!running_) return;
      const int64_t t = timers_.clock().MonotonicMillis();
      if (ok) {
        last_renew_ms_ = t;
        if (!leading_) {
          leading_ = true;
          MINIK_LOG(Info) << "leader election: " << config_.identity << " acquired lease " << config_.lease_namespace
                          << "/" << config_.lease_name;
          if (config_.on_started_leading) config_.on_started_leading();
        }
      } else if (leading_ && t - last_renew_ms_ >= config_.renew_deadline_ms) {
        Lose();
      }
    });
  }
  ScheduleTick();
}

LeaderElector::Record LeaderElector::ParseRecord(const JsonValue& lease) {
  Record r;
  const JsonValue* spec = Member(lease, "spec");
  if (!spec) return r;
  r.holder = std::string(GetString(*spec, "holderIdentity").value_or(""));
  r.duration_seconds = GetInt(*spec, "leaseDurationSeconds").value_or(0);
  r.acquire_time = std::string(GetString(*spec, "acquireTime").value_or(""));
  r.renew_time = std::string(GetString(*spec, "renewTime").value_or(""));
  r.transitions = GetInt(*spec, "leaseTransitions").value_or(0);
  return r;
}

JsonDoc LeaderElector::LeaseObject(const Record& r) const {
  JsonDoc doc(rapidjson::kObjectType);
  auto& a = doc.GetAllocator();
  SetString(doc, "apiVersion", "coordination.k8s.io/v1", a);
  SetString(doc, "kind", "Lease", a);
  JsonValue& meta = EnsureObject(doc, "metadata", a);
  SetString(meta, "name", config_.lease_name, a);
  SetString(meta, "namespace", config_.lease_namespace, a);
  JsonValue& spec = EnsureObject(doc, "spec", a);
  SetString(spec, "holderIdentity", r.holder, a);
  SetMember(spec, "leaseDurationSeconds", JsonValue(r.duration_seconds), a);
  SetString(spec, "acquireTime", r.acquire_time, a);
  SetString(spec, "renewTime", r.renew_time, a);
  SetMember(spec, "leaseTransitions", JsonValue(r.transitions), a);
  return doc;
}

void LeaderElector::Observe(const Record& r, bool changed_by_us) {
  const int64_t now = timers_.clock().MonotonicMillis();
  if (!have_observed_ || !(r == observed_) || changed_by_us) {
    observed_ = r;
    have_observed_ = true;
    observed_time_ms_ = now;
  }
  if (r.holder != observed_holder_) {
    observed_holder_ = r.holder;
    if (config_.on_new_leader) config_.on_new_leader(r.holder);
  }
}

void LeaderElector::TryAcquireOrRenew(std::function<void(bool)> done) {
  std::weak_ptr<bool> alive = alive_;
  client_.Get(kLeaseResource, config_.lease_namespace, config_.lease_name,
              [this, alive, done = std::move(done)](StatusOr<JsonDoc> got) mutable {
                if (alive.expired()) return;
                const std::string now = FormatRFC3339Micro(timers_.clock().Now());
                Record mine;
                mine.holder = config_.identity;
                mine.duration_seconds = (config_.lease_duration_ms + 999) / 1000;
                mine.acquire_time = now;
                mine.renew_time = now;
                if (!got.ok()) {
                  if (!got.status().IsNotFound()) {
                    MINIK_LOG(Warning) << "leader election: error retrieving lease: " << got.status().ToString();
                    return done(false);
                  }
                  JsonDoc lease = LeaseObject(mine);
                  client_.Create(kLeaseResource, config_.lease_namespace, lease,
                                 [this, alive, mine, done = std::move(done)](StatusOr<JsonDoc> r) {
                                   if (alive.expired()) return;
                                   if (!r.ok()) return done(false);
                                   Observe(mine, true);
                                   done(true);
                                 });
                  return;
                }
                Record old = ParseRecord(*got);
                Observe(old, false);
                const int64_t t = timers_.clock().MonotonicMillis();
                if (!old.holder.empty() && old.holder != config_.identity &&
                    observed_time_ms_ + config_.lease_duration_ms > t) {
                  return done(false);  // held by another and not yet expired
                }
                if (old.holder == config_.identity) {
                  mine.acquire_time = old.acquire_time;
                  mine.transitions = old.transitions;
                } else {
                  mine.transitions = old.transitions + 1;
                }
                JsonDoc lease = LeaseObject(mine);
                auto& a = lease.GetAllocator();
                SetString(EnsureObject(lease, "metadata", a), "resourceVersion", MetaString(*got, "resourceVersion"),
                          a);
                client_.Update(kLeaseResource, config_.lease_namespace, lease, "",
                               [this, alive, mine, done = std::move(done)](StatusOr<JsonDoc> r) {
                                 if (alive.expired()) return;
                                 if (!r.ok()) return done(false);
                                 Observe(mine, true);
                                 done(true);
                               });
              });
}

}  // namespace minik::client
