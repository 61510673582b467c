// Leader election through a coordination.k8s.io/v1 Lease, as client-go's leaderelection:
//   - a candidate tries to acquire every retry period (2 s, jittered by up to 1.2x); it takes
//     the lease when there is none, when it is released (holderIdentity ""), or when the lease
//     record has not changed for leaseDurationSeconds (15 s) of this candidate's own clock
//     (observed time, not the renewTime written by another machine);
//   - the leader renews every retry period; if no renewal succeeded for the renew deadline
//     (10 s) it stops leading;
//   - taking over from another holder sets acquireTime and increments leaseTransitions; every
//     write sets renewTime (metav1.MicroTime) and uses the lease's resourceVersion, so two
//     candidates never both win.
// Deviations: OnStoppedLeading runs only if leading had started; after losing the lease the
// elector becomes a candidate again (client-go's Run returns and most binaries exit).
//
// Threading: the thread of its ApiClient and Timers (the loop thread); callbacks run there.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "client/api_client.h"
#include "client/timers.h"

namespace minik::client {

struct LeaderElectionConfig {
  std::string lease_namespace = "kube-system";
  std::string lease_name;
  std::string identity;  // holderIdentity, unique per candidate
  int64_t lease_duration_ms = 15000;
  int64_t renew_deadline_ms = 10000;
  int64_t retry_period_ms = 2000;
  double jitter_factor = 1.2;       // acquire retries wait retry_period * (1 + jitter * rand[0,1))
  bool release_on_cancel = false;   // Stop() while leading clears holderIdentity
  std::function<void()> on_started_leading;
  std::function<void()> on_stopped_leading;
  std::function<void(const std::string& identity)> on_new_leader;  // the observed holder changed
};

inline const ResourceRef kLeaseResource{"coordination.k8s.io", "v1", "leases"};

class LeaderElector {
 public:
  LeaderElector(ApiClient& client, Timers& timers, LeaderElectionConfig config);
  ~LeaderElector();
  LeaderElector(const LeaderElector&) = delete;
  LeaderElector& operator=(const LeaderElector&) = delete;

  // Starts campaigning (the first attempt is posted at once).
  void Run();
  // Stops campaigning and renewing; while leading, calls on_stopped_leading (after releasing
  // the lease if release_on_cancel; the release is fire-and-forget).
  void Stop();
  bool IsLeader() const { return leading_; }
  // The holder seen in the lease last read or written ("" when none).
  const std::string& observed_leader() const { return observed_holder_; }

 private:
  struct Record {
    std::string holder;
    int64_t duration_seconds = 0;
    std::string acquire_time;
    std::string renew_time;
    int64_t transitions = 0;
    bool operator==(const Record&) const = default;
  };
  static Record ParseRecord(const JsonValue& lease);
  void Tick();
  void ScheduleTick();
  void TryAcquireOrRenew(std::function<void(bool)> done);
  void Observe(const Record& r, bool changed_by_us);
  void Lose();
  JsonDoc LeaseObject(const Record& r) const;

  ApiClient& client_;
  Timers& timers_;
  LeaderElectionConfig config_;
  bool running_ = false;
  bool leading_ = false;
  bool in_flight_ = false;
  int64_t last_renew_ms_ = 0;
  Record observed_;
  bool have_observed_ = false;
  int64_t observed_time_ms_ = 0;
  std::string observed_holder_;
  uint64_t rand_state_;
  http::HandlePtr timer_;
  std::shared_ptr<bool> alive_;
};

}  // namespace minik::client
