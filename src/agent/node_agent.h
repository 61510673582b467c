// A real node: the kubelet with its runtime (runc + shims), image store (air-gap imports, pulls),
// pod OS pieces (cgroups, namespaces, overlay rootfs), volumes, the Node object and its Lease,
// all wired together once the agent has an API client.
//
// Threading: construct, Start, Stop and destroy on the agent's loop thread.
#pragma once

#include <memory>

#include "agent/config.h"
#include "client/api_client.h"
#include "client/timers.h"
#include "common/status.h"
#include "http/client.h"
#include "http/loop.h"

namespace minik::agent {

class NodeAgent {
 public:
  // server: how to reach the API server (address, CA, token), for the streaming tunnel.
  NodeAgent(http::Loop& loop, client::ApiClient& api, client::Timers& timers, const AgentConfig& config,
            http::ClientOptions server);
  ~NodeAgent();
  NodeAgent(const NodeAgent&) = delete;
  NodeAgent& operator=(const NodeAgent&) = delete;

  // Opens the stores and starts everything; errors are fatal (bad data dir, no cgroups, ...).
  Status Start();
  // Stops watching and reporting; containers keep running (a new agent adopts them).
  void Stop();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// The node's name and IP as the agent picks them: --node-name or the host name; --node-ip or the
// first global IPv4 address of an interface that is up (127.0.0.1 when there is none).
std::string DefaultNodeName(const AgentConfig& config);
std::string DefaultNodeIp(const AgentConfig& config);

}  // namespace minik::agent
