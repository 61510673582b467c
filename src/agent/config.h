// minik agent's configuration, parsed once from the command line, then immutable.
#pragma once

#include <string>
#include <vector>

#include "common/log.h"
#include "common/status.h"

namespace minik::agent {

struct AgentConfig {
  std::string server_url;  // --join / --server: https://SERVER:6443
  std::string token;       // --token (K10<ca-hash>::server:<secret>, or the bare secret)
  std::string node_name;   // "" = the host name
  std::string data_dir = "/var/lib/minik";
  std::string node_ip;
  std::vector<std::string> node_labels;  // k=v
  std::vector<std::string> node_taints;  // k=v:Effect
  std::string runtime = "runc";
  std::string cgroup_root = "/kubepods";                       // --cgroup-root (kubelet's flag)
  // --pod-logs-dir (the kubelet's podLogsDir): <dir>/<ns>_<pod>_<uid>/<container>/<n>.log, each
  // started container's log linked from <dir>/../containers/ as the kubelet does.
  std::string pod_logs_dir = "/var/log/pods";
  std::string private_registry = "/etc/minik/registries.yaml";  // --private-registry (k3s's flag)
  std::string cluster_dns = "10.43.0.10";                      // --cluster-dns (k3s's default)
  std::string cluster_domain = "cluster.local";                // --cluster-domain
  std::vector<std::string> extra_node_labels;  // set by the server for its embedded agent (control-plane roles)
  int fake_nodes = 0;             // > 0: hollow nodes, no containers
  int fake_pod_run_seconds = 1;   // hollow nodes: how long a restartPolicy Never/OnFailure pod runs
  LogLevel log_level = LogLevel::kInfo;
};

struct ParsedAgentArgs {
  AgentConfig config;
  bool help = false;
};
// Parses `minik agent` arguments (argv after "agent"). Invalid with a one-line message on bad
// input ("unknown flag: --foo", "missing --join", "invalid value ...").
StatusOr<ParsedAgentArgs> ParseAgentArgs(const std::vector<std::string>& args);
std::string AgentHelp();

// A parsed join token. "K10<hex sha256 of the CA bundle>::<user>:<secret>" pins the CA; a bare
// secret trusts the CA the server presents at /cacerts (as k3s does with short tokens).
struct JoinToken {
  std::string ca_hash;  // "" when not pinned
  std::string secret;
};
StatusOr<JoinToken> ParseJoinToken(const std::string& token);

}  // namespace minik::agent
