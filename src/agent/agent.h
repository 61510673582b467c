// minik agent: joins a server (CA pinned by the token) and runs a node. Today only hollow nodes
// (--fake-nodes N); the kubelet with real containers comes with issue 4.
#pragma once

#include "agent/config.h"
#include "common/status.h"

namespace minik::agent {

// Runs the agent in the calling thread until SIGTERM/SIGINT.
Status RunAgent(const AgentConfig& config);

}  // namespace minik::agent
