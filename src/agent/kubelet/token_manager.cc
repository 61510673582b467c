#include "agent/kubelet/token_manager.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <random>

#include "common/log.h"

namespace minik::agent::kubelet {

namespace {

constexpr int64_t kMaxTtlSeconds = 24 * 60 * 60;
constexpr int64_t kMaxJitterSeconds = 10;
constexpr uint64_t kCleanupPeriodMs = 60 * 1000;

int64_t JitterSeconds(bool enabled) {
  if (!enabled) return 0;
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return static_cast<int64_t>(std::uniform_real_distribution<double>(0, kMaxJitterSeconds)(rng));
}

}  // namespace

TokenManager::TokenManager(http::Loop* loop, client::ApiClient& api, client::Timers& timers, RefreshFn on_refresh,
                           TokenManagerOptions options)
    : loop_(loop), api_(api), timers_(timers), on_refresh_(std::move(on_refresh)), options_(options) {}

TokenManager::~TokenManager() { Shutdown(); }

std::string TokenManager::KeyOf(const volumes::TokenRequest& r) {
  // keyFunc: name, namespace, audiences, expirationSeconds and the bound object's uid.
  std::string k = r.service_account + "/" + r.ns + "/[";
  for (size_t i = 0; i < r.audiences.size(); ++i) k += (i ? "," : "") + r.audiences[i];
  return k + "]/" + std::to_string(r.expiration_seconds) + "/" + r.pod_uid;
}

size_t TokenManager::cached() const {
  std::lock_guard<std::mutex> l(mu_);
  return cache_.size();
}

bool TokenManager::RequiresRefresh(const Cached& c, TimePoint now) const {
  TimePoint iat = c.expiration - std::chrono::seconds(c.ttl_seconds);
  auto jitter = std::chrono::seconds(JitterSeconds(options_.jitter));
  if (now > iat + std::chrono::seconds(kMaxTtlSeconds) - jitter) return true;
  return now > c.expiration - std::chrono::seconds(c.ttl_seconds * 20 / 100) - jitter;
}

void TokenManager::Fetch(const volumes::TokenRequest& r, std::function<void(StatusOr<Cached>)> done) {
  JsonDoc body;
  body.SetObject();
  auto& a = body.GetAllocator();
  body.AddMember("kind", "TokenRequest", a);
  body.AddMember("apiVersion", "authentication.k8s.io/v1", a);
  JsonValue spec(rapidjson::kObjectType);
  JsonValue auds(rapidjson::kArrayType);
  for (const auto& au : r.audiences) auds.PushBack(MakeString(au, a), a);
  spec.AddMember("audiences", auds, a);
  spec.AddMember("expirationSeconds", JsonValue(r.expiration_seconds), a);
  JsonValue ref(rapidjson::kObjectType);
  ref.AddMember("kind", "Pod", a);
  ref.AddMember("apiVersion", "v1", a);
  ref.AddMember("name", MakeString(r.pod_name, a), a);
  ref.AddMember("uid", MakeString(r.pod_uid, a), a);
  spec.AddMember("boundObjectRef", ref, a);
  body.AddMember("spec", spec, a);
  // The subresource POST, named as the scheduler names pods/<name>/binding.
  client::ResourceRef res{"", "v1", "serviceaccounts/" + r.service_account + "/token"};
  std::string ns = r.ns, uid = r.pod_uid;
  int64_t ttl = r.expiration_seconds;
  api_.Create(res, r.ns, body, [done = std::move(done), ns, uid, ttl](StatusOr<JsonDoc> resp) {
    if (!resp.ok()) return done(resp.status());
    const JsonValue* tok = Path(*resp, {"status", "token"});
    const JsonValue* exp = Path(*resp, {"status", "expirationTimestamp"});
    Cached c;
    if (!tok || !tok->IsString() || !exp || !exp->IsString() || !ParseRFC3339(exp->GetString(), &c.expiration)) {
      return done(Status::Internal("the TokenRequest answer has no status.token or status.expirationTimestamp"));
    }
    c.token = tok->GetString();
    c.ttl_seconds = GetInt(*Member(*resp, "spec"), "expirationSeconds").value_or(ttl);
    c.ns = ns;
    c.pod_uid = uid;
    done(std::move(c));
  });
}

StatusOr<std::string> TokenManager::GetToken(const volumes::TokenRequest& request) {
  if (loop_ && loop_->IsLoopThread()) return Status::Internal("failed to fetch token: called on the loop thread");
  std::string key = KeyOf(request);
  std::optional<Cached> old;
  auto waiter = std::make_shared<Waiter>();
  {
    std::lock_guard<std::mutex> l(mu_);
    if (shut_down_) return Status::Unavailable("failed to fetch token: the kubelet is shutting down");
    if (auto it = cache_.find(key); it != cache_.end()) {
      if (!RequiresRefresh(it->second, timers_.clock().Now())) return it->second.token;
      old = it->second;
    }
    waiters_.insert(waiter);
  }
  // Ask on the loop thread; wait here for the answer.
  std::weak_ptr<bool> alive = alive_;
  auto run = [this, alive, request, key, waiter]() {
    if (!alive.lock()) return;
    Fetch(request, [this, alive, key, waiter](StatusOr<Cached> r) {
      if (alive.lock() && r.ok()) {
        bool keep;
        {
          std::lock_guard<std::mutex> l(mu_);
          keep = !shut_down_;
          if (keep) cache_[key] = *r;
        }
        if (keep) ArmRefresh(key, *r);
      }
      std::lock_guard<std::mutex> l(waiter->mu);
      waiter->result = std::move(r);
      waiter->done = true;
      waiter->cv.notify_all();
    });
  };
  if (loop_) loop_->Post(std::move(run));
  else run();
  StatusOr<Cached> result = Status::Unavailable("pending");
  {
    std::unique_lock<std::mutex> l(waiter->mu);
    bool answered = waiter->cv.wait_for(l, std::chrono::milliseconds(options_.request_timeout_ms),
                                        [&] { return waiter->done; });
    result = answered ? waiter->result : StatusOr<Cached>(Status::Timeout("timed out waiting for the API server"));
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    waiters_.erase(waiter);
  }
  if (result.ok()) return result->token;
  if (!old) return Status(result.status().code(), "failed to fetch token: " + result.status().message());
  if (timers_.clock().Now() > old->expiration) {
    return Status(result.status().code(),
                  "token " + key + " expired and refresh failed: " + result.status().message());
  }
  MINIK_LOG(Warning) << "couldn't update token " << key << ": " << result.status().message();
  return old->token;
}

void TokenManager::ArmRefresh(const std::string& key, const Cached& c) {
  if (!cleanup_timer_) cleanup_timer_ = timers_.After(kCleanupPeriodMs, [this]() { Cleanup(); });
  if (c.pod_uid.empty() || !on_refresh_) return;
  // When RequiresRefresh turns true (without jitter; the refresh itself jitters).
  TimePoint due = std::min(c.expiration - std::chrono::seconds(c.ttl_seconds * 20 / 100),
                           c.expiration - std::chrono::seconds(c.ttl_seconds) + std::chrono::seconds(kMaxTtlSeconds));
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(due - timers_.clock().Now()).count();
  uint64_t delay = ms > 0 ? static_cast<uint64_t>(ms) + 1000 : 1000;
  std::string ns = c.ns, uid = c.pod_uid;
  refresh_timers_[key] = timers_.After(delay, [this, key, ns, uid]() {
    refresh_timers_.erase(key);
    {
      std::lock_guard<std::mutex> l(mu_);
      if (!cache_.count(key)) return;  // the pod went
    }
    on_refresh_(ns, uid);
  });
}

void TokenManager::Cleanup() {
  cleanup_timer_ = timers_.After(kCleanupPeriodMs, [this]() { Cleanup(); });
  TimePoint now = timers_.clock().Now();
  std::lock_guard<std::mutex> l(mu_);
  for (auto it = cache_.begin(); it != cache_.end();) {
    if (now > it->second.expiration) it = cache_.erase(it);
    else ++it;
  }
}

void TokenManager::ForgetPod(const std::string& pod_uid) {
  std::vector<std::string> keys;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (auto it = cache_.begin(); it != cache_.end();) {
      if (it->second.pod_uid == pod_uid) {
        keys.push_back(it->first);
        it = cache_.erase(it);
      } else {
        ++it;
      }
    }
  }
  if (keys.empty()) return;
  auto drop = [this, keys]() {
    for (const auto& k : keys) refresh_timers_.erase(k);
  };
  if (!loop_) return drop();
  std::weak_ptr<bool> alive = alive_;
  loop_->Post([alive, drop]() {
    if (alive.lock()) drop();
  });
}

void TokenManager::Shutdown() {
  std::lock_guard<std::mutex> l(mu_);
  if (shut_down_) return;
  shut_down_ = true;
  for (const auto& w : waiters_) {
    std::lock_guard<std::mutex> wl(w->mu);
    if (!w->done) {
      w->result = Status::Unavailable("the kubelet is shutting down");
      w->done = true;
      w->cv.notify_all();
    }
  }
  refresh_timers_.clear();
  cleanup_timer_.reset();
}

}  // namespace minik::agent::kubelet
