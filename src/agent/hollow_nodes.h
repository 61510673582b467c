// Hollow nodes (kwok's idea, kubemark's name): N Nodes registered through the API, each renewing
// its Lease in kube-node-lease every 10 s and posting its status every 5 minutes as a kubelet
// does, and reporting pods bound to it as if they ran, without starting any container:
//   - a new pod turns Running and Ready at once (containers "running", hostIP, a fake podIP);
//   - a restartPolicy Never/OnFailure pod Succeeds (exit code 0) after run_seconds;
//   - a pod being deleted (deletionTimestamp) is removed with grace period 0, as a kubelet does
//     once its containers stopped.
// This lets the control plane run at 1,000 nodes and 30,000 pods on one machine.
//
// Threading: the thread of its ApiClient and Timers (the agent's loop thread).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "client/api_client.h"
#include "client/informer.h"
#include "client/timers.h"
#include "client/workqueue.h"
#include "agent/kubelet/node_status.h"
#include "agent/node_registration.h"

namespace minik::agent {

struct HollowOptions {
  int count = 1;
  // Node names: "<prefix>-<i>"; with count 1 and exact_name, the prefix itself.
  std::string name_prefix = "hollow-node";
  bool exact_name = false;
  std::vector<std::string> labels;  // k=v
  std::vector<std::string> taints;  // k[=v]:Effect
  std::string cpu = "32";
  std::string memory = "256Gi";
  std::string pods = "110";
  std::string ephemeral_storage = "100Gi";
  int64_t lease_duration_seconds = 40;
  int64_t lease_renew_ms = 10000;
  int64_t status_report_ms = 5 * 60 * 1000;
  int64_t run_seconds = 1;
  size_t pod_workers = 64;  // pod status writes in flight
};

class HollowNodes {
 public:
  HollowNodes(client::ApiClient& client, client::Timers& timers, HollowOptions options);
  ~HollowNodes();
  HollowNodes(const HollowNodes&) = delete;
  HollowNodes& operator=(const HollowNodes&) = delete;

  // Registers the nodes, then renews their Leases and serves their pods.
  void Start();
  void Stop();

  const std::vector<std::string>& node_names() const { return names_; }
  // Nodes registered so far, Lease renewals and pod status writes done (for tests and logs).
  size_t registered() const;
  int64_t renewals() const;
  int64_t pod_writes() const { return pod_writes_; }
  // The Node object this agent posts for node i (exposed for tests).
  JsonDoc NodeObject(size_t i);

 private:
  struct NodeState {
    std::string name;
    std::string ip;
    std::unique_ptr<kubelet::NodeStatus> status;
    std::unique_ptr<NodeRegistration> registration;
  };
  void SyncPod(const std::string& key);
  std::string PodIp(const std::string& uid);

  client::ApiClient& client_;
  client::Timers& timers_;
  HollowOptions options_;
  std::vector<std::string> names_;
  std::vector<NodeState> nodes_;
  std::unordered_map<std::string, size_t> index_;  // node name -> index in nodes_
  std::unique_ptr<client::Informer> pods_;
  std::unique_ptr<client::WorkQueue> queue_;
  std::unordered_map<std::string, http::HandlePtr> completions_;  // pod key -> timer
  std::unordered_map<std::string, std::string> pod_ips_;          // pod uid -> IP
  uint32_t next_ip_ = 0;
  int64_t pod_writes_ = 0;
  bool running_ = false;
  std::shared_ptr<bool> alive_;
};

}  // namespace minik::agent
