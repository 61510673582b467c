// minik agent: joins a server (the CA pinned by the token's hash) and runs a node: the kubelet
// with real containers (node_agent.h), or N hollow nodes (--fake-nodes N).
#pragma once

#include <memory>

#include "agent/config.h"
#include "common/status.h"

namespace minik::agent {

// An agent on a loop of its own. `minik agent` runs one on the main thread (RunAgent); `minik
// server` runs one on a thread of its own (its embedded agent), joining itself over HTTPS.
//
// Threading: Run() on the thread that owns the agent; Stop() from any thread.
class Agent {
 public:
  explicit Agent(AgentConfig config);
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // Runs until Stop() (or a fatal error, returned). handle_signals: stop on SIGTERM/SIGINT.
  Status Run(bool handle_signals);
  void Stop();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Runs the agent in the calling thread until SIGTERM/SIGINT.
Status RunAgent(const AgentConfig& config);

}  // namespace minik::agent
