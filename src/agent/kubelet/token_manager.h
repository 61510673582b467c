// The kubelet's service account token manager (upstream pkg/kubelet/token): tokens for projected
// serviceAccountToken volumes, requested through the TokenRequest API
// (POST serviceaccounts/<name>/token, bound to the pod), cached per (service account, namespace,
// audiences, expirationSeconds, pod uid), and refreshed once older than 80 % of their TTL or
// 24 hours (minus up to 10 s of jitter). A failed refresh keeps serving the cached token until it
// expires. Tokens of a pod are dropped when its volumes are torn down (ForgetPod), expired ones
// every minute.
//
// Refresh: after each fetch for a pod, a timer at the refresh time calls on_refresh(ns, pod uid)
// on the loop thread; the kubelet then updates the pod's volumes, whose GetToken fetches the new
// token and the atomic writer swaps it in.
//
// Threading: GetToken and ForgetPod may be called from any thread but the loop thread (GetToken
// blocks its caller until the loop has the answer, at most request_timeout); the rest on the loop
// thread. With loop == nullptr (tests, with a synchronous FakeApiClient), GetToken runs the
// request on the calling thread, which must then be the test's thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "agent/volumes/sources.h"
#include "client/api_client.h"
#include "client/timers.h"
#include "common/clock.h"
#include "http/loop.h"

namespace minik::agent::kubelet {

struct TokenManagerOptions {
  int64_t request_timeout_ms = 30000;  // how long GetToken waits for the API
  bool jitter = true;                  // refresh up to 10 s early, at random (tests turn it off)
};

class TokenManager final : public volumes::TokenSource {
 public:
  using RefreshFn = std::function<void(const std::string& ns, const std::string& pod_uid)>;
  // api and timers are used on the loop thread only; all must outlive this.
  TokenManager(http::Loop* loop, client::ApiClient& api, client::Timers& timers, RefreshFn on_refresh,
               TokenManagerOptions options = {});
  ~TokenManager() override;

  // volumes::TokenSource.
  StatusOr<std::string> GetToken(const volumes::TokenRequest& request) override;
  void ForgetPod(const std::string& pod_uid) override;

  // Fails waiting and later GetToken calls at once and disarms the timers. Loop thread (or
  // before the loop runs); the pool's threads may then be joined without waiting for the API.
  void Shutdown();

  // The cache key of a request (tests).
  static std::string KeyOf(const volumes::TokenRequest& r);
  size_t cached() const;

 private:
  struct Cached {
    std::string token;
    TimePoint expiration;
    int64_t ttl_seconds = 0;
    std::string ns;
    std::string pod_uid;
  };
  struct Waiter {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    StatusOr<Cached> result = Status::Unavailable("pending");
  };
  bool RequiresRefresh(const Cached& c, TimePoint now) const;
  // Loop thread: sends the TokenRequest; done runs on the loop thread.
  void Fetch(const volumes::TokenRequest& r, std::function<void(StatusOr<Cached>)> done);
  // Loop thread: the refresh timer of a pod, and the cleanup timer.
  void ArmRefresh(const std::string& key, const Cached& c);
  void Cleanup();

  http::Loop* loop_;
  client::ApiClient& api_;
  client::Timers& timers_;
  RefreshFn on_refresh_;
  TokenManagerOptions options_;

  mutable std::mutex mu_;
  std::map<std::string, Cached> cache_;               // GUARDED_BY(mu_)
  std::set<std::shared_ptr<Waiter>> waiters_;         // GUARDED_BY(mu_)
  bool shut_down_ = false;                            // GUARDED_BY(mu_)
  std::map<std::string, http::HandlePtr> refresh_timers_;  // loop thread: by cache key
  http::HandlePtr cleanup_timer_;                          // loop thread
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace minik::agent::kubelet
