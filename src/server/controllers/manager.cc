#include "server/controllers/manager.h"

#include <algorithm>
#include <functional>

#include "common/log.h"

namespace minik::controllers {
namespace {

struct Entry {
  const char* name;
  std::function<ControllerPtr(Context)> make;
};

// Every controller, in start order.
std::vector<Entry> Registry() {
  return {};
}

}  // namespace

ControllerManager::ControllerManager(client::ApiClient& client, client::Timers& timers, ManagerOptions options)
    : client_(client), timers_(timers), options_(std::move(options)) {}

ControllerManager::~ControllerManager() {
  if (elector_) elector_->Stop();
  StopControllers();
}

std::vector<std::string> ControllerManager::KnownControllers() {
  std::vector<std::string> out;
  for (const auto& e : Registry()) out.push_back(e.name);
  return out;
}

void ControllerManager::Start() {
  if (!options_.leader_elect) {
    StartControllers();
    return;
  }
  client::LeaderElectionConfig cfg;
  cfg.lease_name = "kube-controller-manager";
  cfg.identity = options_.identity;
  cfg.on_started_leading = [this]() {
    MINIK_LOG(Info) << "controller manager: leading as " << options_.identity;
    StartControllers();
  };
  cfg.on_stopped_leading = [this]() {
    MINIK_LOG(Warning) << "controller manager: lost the lease; stopping controllers";
    StopControllers();
  };
  elector_ = std::make_unique<client::LeaderElector>(client_, timers_, std::move(cfg));
  elector_->Run();
}

void ControllerManager::Stop() {
  if (elector_) elector_->Stop();
  StopControllers();
}

void ControllerManager::StartControllers() {
  if (!controllers_.empty()) return;
  informers_ = std::make_unique<client::SharedInformerFactory>(client_, timers_);
  events_ = std::make_unique<EventRecorder>(client_, timers_.clock(), "controller-manager");
  Context ctx{client_, *informers_, timers_, *events_};
  for (const auto& e : Registry()) {
    if (!options_.controllers.empty() &&
        std::find(options_.controllers.begin(), options_.controllers.end(), e.name) == options_.controllers.end()) {
      continue;
    }
    controllers_.push_back(e.make(ctx));
  }
  for (auto& c : controllers_) c->Start();
  informers_->Start();
  MINIK_LOG(Info) << "controller manager: started " << controllers_.size() << " controllers";
}

void ControllerManager::StopControllers() {
  for (auto& c : controllers_) c->Stop();
  controllers_.clear();
  if (informers_) informers_->Stop();
  informers_.reset();
  events_.reset();
}

}  // namespace minik::controllers
