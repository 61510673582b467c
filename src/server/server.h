// minik server: assembles the store, the API server, the HTTPS listener and the manifests
// deployer from an immutable ServerConfig, and runs them until SIGTERM/SIGINT.
#pragma once

#include "common/status.h"
#include "server/config.h"

namespace minik::server {

// Runs the server in the calling thread; returns when it has shut down.
Status RunServer(const ServerConfig& config);

}  // namespace minik::server
