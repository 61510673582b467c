#include "server/controllers/manager.h"

#include <algorithm>
#include <functional>

#include "common/log.h"
#include "server/controllers/cron_job.h"
#include "server/controllers/daemon_set.h"
#include "server/controllers/deployment.h"
#include "server/controllers/disruption.h"
#include "server/controllers/horizontal_pod_autoscaler.h"
#include "server/controllers/job.h"
#include "server/controllers/node_lifecycle.h"
#include "server/controllers/local_path_provisioner.h"
#include "server/controllers/persistent_volume_binder.h"
#include "server/controllers/pod_gc.h"
#include "server/controllers/resource_quota.h"
#include "server/controllers/replica_set.h"
#include "server/controllers/replication_controller.h"
#include "server/controllers/taint_eviction.h"
#include "server/controllers/ttl_after_finished.h"
#include "server/controllers/endpoint_slice.h"
#include "server/controllers/endpoints.h"
#include "server/controllers/garbage_collector.h"
#include "server/controllers/root_ca_publisher.h"
#include "server/controllers/service_account.h"
#include "server/controllers/stateful_set.h"

namespace minik::controllers {
namespace {

struct Entry {
  const char* name;
  std::function<ControllerPtr(Context)> make;
};

// Every controller, in start order.
std::vector<Entry> Registry(const ManagerOptions& o) {
  return {
      {"deployment", NewDeploymentController},
      {"replicaset", NewReplicaSetController},
      {"replicationcontroller", NewReplicationControllerController},
      {"daemonset", NewDaemonSetController},
      {"statefulset", NewStatefulSetController},
      {"endpoint", NewEndpointsController},
      {"endpointslice", [](Context c) { return NewEndpointSliceController(c); }},
      {"serviceaccount", NewServiceAccountController},
      {"root-ca-cert-publisher", [o](Context c) { return NewRootCaPublisherController(c, o.root_ca_pem); }},
      {"garbagecollector", NewGarbageCollectorController},
      {"job", NewJobController},
      {"cronjob", [](Context c) { return NewCronJobController(c); }},
      {"ttl-after-finished", NewTtlAfterFinishedController},
      {"nodelifecycle", [](Context c) { return NewNodeLifecycleController(c); }},
      {"taint-eviction-controller", NewTaintEvictionController},
      {"podgc", [](Context c) { return NewPodGcController(c); }},
      {"disruption", NewDisruptionController},
      // No metrics source until the agent serves metrics: HPAs report FailedGetResourceMetric.
      {"persistentvolume-binder", NewPersistentVolumeBinderController},
      {"local-path-provisioner",
       [o](Context c) { return NewLocalPathProvisionerController(c, LocalPathOptions{o.storage_dir}); }},
      {"resourcequota", NewResourceQuotaController},
      {"horizontalpodautoscaling", [](Context c) { return NewHorizontalPodAutoscalerController(c, nullptr); }},
  };
}

}  // namespace

ControllerManager::ControllerManager(client::ApiClient& client, client::SharedInformerFactory& informers,
                                     client::Timers& timers, ManagerOptions options)
    : client_(client), timers_(timers), options_(std::move(options)), informers_(informers) {}

ControllerManager::~ControllerManager() {
  if (elector_) elector_->Stop();
  StopControllers();
}

std::vector<std::string> ControllerManager::KnownControllers() {
  std::vector<std::string> out;
  for (const auto& e : Registry(ManagerOptions{})) out.push_back(e.name);
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
  events_ = std::make_unique<EventRecorder>(client_, timers_.clock(), "controller-manager");
  Context ctx{client_, informers_, timers_, *events_};
  for (const auto& e : Registry(options_)) {
    if (!options_.controllers.empty() &&
        std::find(options_.controllers.begin(), options_.controllers.end(), e.name) == options_.controllers.end()) {
      continue;
    }
    controllers_.push_back(e.make(ctx));
  }
  for (auto& c : controllers_) c->Start();
  informers_.Start();
  MINIK_LOG(Info) << "controller manager: started " << controllers_.size() << " controllers";
}

void ControllerManager::StopControllers() {
  for (auto& c : controllers_) c->Stop();
  controllers_.clear();
  events_.reset();
}

}  // namespace minik::controllers
