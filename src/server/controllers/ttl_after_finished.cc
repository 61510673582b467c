#include "server/controllers/ttl_after_finished.h"

#include "server/controllers/util.h"

namespace minik::controllers {

namespace {

bool IsFinished(const JsonValue& job, TimePoint* finished_at) {
  const JsonValue* conds = Path(job, {"status", "conditions"});
  if (!conds || !conds->IsArray()) return false;
  for (const auto& c : conds->GetArray()) {
    std::string_view type = GetString(c, "type").value_or("");
    if ((type == "Complete" || type == "Failed") && GetString(c, "status").value_or("") == "True") {
      if (finished_at && !ParseRFC3339(GetString(c, "lastTransitionTime").value_or(""), finished_at)) {
        *finished_at = TimePoint();
      }
      return true;
    }
  }
  return false;
}

bool NeedsCleanup(const JsonValue& job) {
  const JsonValue* ttl = Path(job, {"spec", "ttlSecondsAfterFinished"});
  return ttl && ttl->IsInt64() && IsFinished(job, nullptr);
}

class TtlAfterFinishedController final : public Controller {
 public:
  explicit TtlAfterFinishedController(Context ctx)
      : Controller(ctx, "ttl-after-finished"), jobs_(ctx.informers.For(kJobs)), alive_(std::make_shared<bool>(true)) {
    client::EventHandlers h;
    h.on_add = [this](const client::ObjectPtr& o) {
      if (!IsBeingDeleted(*o) && NeedsCleanup(*o)) EnqueueObject(o);
    };
    h.on_update = [this](const client::ObjectPtr&, const client::ObjectPtr& o) {
      if (!IsBeingDeleted(*o) && NeedsCleanup(*o)) EnqueueObject(o);
    };
    jobs_.AddEventHandler(h);
  }
  ~TtlAfterFinishedController() override { *alive_ = false; }

  void Reconcile(const std::string& key, Done done) override {
    client::ObjectPtr job = jobs_.Get(key);
    if (!job) return done(Status::OK());
    auto expired = ProcessTtl(key, *job);
    if (!expired.ok() || !*expired) return done(expired.ok() ? Status::OK() : expired.error());
    // The cached Job may be stale: re-read it before deleting.
    std::string ns(Namespace(*job)), name(Name(*job));
    std::weak_ptr<bool> alive = alive_;
    ctx_.client.Get(kJobs, ns, name, [this, alive, key, ns, name, done](StatusOr<JsonDoc> fresh) {
      if (alive.expired()) return;
      if (!fresh.ok()) return done(fresh.error().IsNotFound() ? Status::OK() : fresh.error());
      auto again = ProcessTtl(key, *fresh);
      if (!again.ok() || !*again) return done(again.ok() ? Status::OK() : again.error());
      client::DeleteOptions opts;
      opts.propagation_policy = "Background";
      opts.precondition_uid = std::string(Uid(*fresh));
      ctx_.client.Delete(kJobs, ns, name, opts, [alive, done](StatusOr<JsonDoc> r) {
        if (alive.expired()) return;
        done(r.ok() || r.error().IsNotFound() ? Status::OK() : r.error());
      });
    });
  }

 private:
  // True when the Job's TTL has expired; otherwise requeues the key at the expiry.
  StatusOr<bool> ProcessTtl(const std::string& key, const JsonValue& job) {
    if (IsBeingDeleted(job) || !NeedsCleanup(job)) return false;
    TimePoint finished;
    IsFinished(job, &finished);
    if (finished == TimePoint()) {
      return Status::Internal("unable to find the time when the Job " + std::string(Namespace(job)) + "/" +
                              std::string(Name(job)) + " finished");
    }
    TimePoint expire = finished + std::chrono::seconds(Path(job, {"spec", "ttlSecondsAfterFinished"})->GetInt64());
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(expire - clock().Now());
    if (expire - clock().Now() <= std::chrono::nanoseconds(0)) return true;
    EnqueueAfter(key, std::max<int64_t>(1, left.count() + (expire - clock().Now() > left ? 1 : 0)));
    return false;
  }

  client::Informer& jobs_;
  std::shared_ptr<bool> alive_;
};

}  // namespace

ControllerPtr NewTtlAfterFinishedController(Context ctx) { return std::make_unique<TtlAfterFinishedController>(ctx); }

}  // namespace minik::controllers
