// The controller manager: every controller of the control plane, sharing one informer factory
// and one event recorder, started once this process holds the "kube-controller-manager" Lease
// (so that several servers run each controller once) and stopped when it loses it.
//
// Threading: the thread of its ApiClient and Timers (the server's loop thread).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "client/api_client.h"
#include "client/informer.h"
#include "client/leader_election.h"
#include "client/timers.h"
#include "server/controllers/controller.h"
#include "server/controllers/events.h"

namespace minik::controllers {

struct ManagerOptions {
  std::string identity;  // holderIdentity of the Lease (node name + random suffix)
  bool leader_elect = true;
  // Controllers to run: empty = all; otherwise names as kube-controller-manager's --controllers
  // ("deployment", "replicaset", ...).
  std::vector<std::string> controllers;
  std::string root_ca_pem;  // published as kube-root-ca.crt in every namespace
  std::string storage_dir = "/var/lib/minik/storage";  // local-path volumes (<data-dir>/storage)
};

class ControllerManager {
 public:
  // informers: shared with the scheduler (one cache of each resource per process); the manager
  // starts it when it starts leading and leaves it running when it stops.
  ControllerManager(client::ApiClient& client, client::SharedInformerFactory& informers, client::Timers& timers,
                    ManagerOptions options);
  ~ControllerManager();

  void Start();
  void Stop();
  bool leading() const { return !controllers_.empty(); }
  // The names of the controllers this process knows.
  static std::vector<std::string> KnownControllers();

 private:
  void StartControllers();
  void StopControllers();

  client::ApiClient& client_;
  client::Timers& timers_;
  ManagerOptions options_;
  client::SharedInformerFactory& informers_;
  std::unique_ptr<EventRecorder> events_;
  std::vector<ControllerPtr> controllers_;
  std::unique_ptr<client::LeaderElector> elector_;
};

}  // namespace minik::controllers
