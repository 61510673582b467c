// One Node's presence in the API, as a kubelet keeps it: registers the Node (create, or take
// over an existing one), posts its status, renews its Lease in kube-node-lease every renew_ms
// (the heartbeat the node lifecycle controller watches) and posts its status again every
// status_report_ms or when asked (ReportStatus), with lastHeartbeatTime refreshed.
// Used by the kubelet (one real node) and by hollow nodes (many).
//
// Threading: the thread of its ApiClient and Timers (the agent's loop thread).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "client/api_client.h"
#include "client/timers.h"
#include "common/json.h"

namespace minik::agent {

struct NodeRegistrationOptions {
  int64_t lease_duration_seconds = 40;
  int64_t lease_renew_ms = 10000;
  int64_t status_report_ms = 5 * 60 * 1000;
  int64_t first_status_delay_ms = -1;  // -1: status_report_ms (hollow nodes spread theirs)
  int64_t retry_ms = 2000;
};

class NodeRegistration {
 public:
  // node_object() returns the full Node (metadata, spec, status) as the kubelet sees it now.
  NodeRegistration(client::ApiClient& client, client::Timers& timers, std::string name,
                   std::function<JsonDoc()> node_object, NodeRegistrationOptions options = {});
  ~NodeRegistration();
  NodeRegistration(const NodeRegistration&) = delete;
  NodeRegistration& operator=(const NodeRegistration&) = delete;

  // on_registered runs once, when the Node exists with our status.
  void Start(std::function<void()> on_registered = nullptr);
  void Stop();
  // Posts the status now (when something changed) instead of at the next period.
  void ReportStatus();

  const std::string& name() const { return name_; }
  bool registered() const { return registered_; }
  int64_t renewals() const { return renewals_; }
  int64_t status_reports() const { return status_reports_; }

 private:
  void Register();
  void RenewLease();
  void PostStatus(bool periodic);

  client::ApiClient& client_;
  client::Timers& timers_;
  std::string name_;
  std::function<JsonDoc()> node_object_;
  NodeRegistrationOptions options_;
  std::function<void()> on_registered_;
  http::HandlePtr lease_timer_;
  http::HandlePtr status_timer_;
  bool running_ = false;
  bool registered_ = false;
  bool status_in_flight_ = false;
  bool status_again_ = false;
  int64_t renewals_ = 0;
  int64_t status_reports_ = 0;
  std::shared_ptr<bool> alive_;
};

}  // namespace minik::agent
