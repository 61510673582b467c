#include "server/controllers/controller.h"

#include "common/log.h"

namespace minik::controllers {

Controller::Controller(Context ctx, std::string name, size_t workers)
    : ctx_(ctx), name_(std::move(name)), workers_(workers), queue_(ctx.timers), alive_(std::make_shared<bool>(true)) {}

Controller::~Controller() {
  *alive_ = false;
  queue_.ShutDown();
}

void Controller::Start() {
  if (started_) return;
  started_ = true;
  std::weak_ptr<bool> alive = alive_;
  ctx_.informers.OnSynced([this, alive]() {
    if (alive.expired() || queue_.shutting_down()) return;
    queue_.Start(workers_, [this](const std::string& key) { Work(key); });
  });
}

void Controller::Stop() { queue_.ShutDown(); }

void Controller::Work(const std::string& key) {
  std::weak_ptr<bool> alive = alive_;
  auto called = std::make_shared<bool>(false);
  Reconcile(key, [this, alive, key, called](Status st) {
    if (alive.expired() || *called) return;
    *called = true;
    if (st.ok()) {
      queue_.Forget(key);
    } else {
      if (st.code() != Code::kConflict && st.code() != Code::kNotFound && st.code() != Code::kAlreadyExists) {
        MINIK_LOG(Warning) << name_ << ": syncing " << key << ": " << st.ToString();
      }
      queue_.AddRateLimited(key);
    }
    queue_.Done(key);
  });
}

}  // namespace minik::controllers
