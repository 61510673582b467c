// minik server's configuration: parsed once from the command line and /etc/minik/config.yaml
// (same keys, without the leading dashes, as k3s), then immutable.
#pragma once

#include <string>
#include <vector>

#include "common/log.h"
#include "common/status.h"

namespace minik::server {

struct ServerConfig {
  std::string data_dir = "/var/lib/minik";
  std::string bind_address = "0.0.0.0";
  int https_listen_port = 6443;
  std::string advertise_address;  // "" = the first non-loopback IPv4 address, else 127.0.0.1
  std::string write_kubeconfig = "/etc/minik/minik.yaml";
  std::string write_kubeconfig_mode = "0600";
  std::string token;  // "" = read <data-dir>/server/token, or generate it at first boot
  std::string cluster_cidr = "10.42.0.0/16";
  std::string service_cidr = "10.43.0.0/16";
  std::string cluster_dns = "10.43.0.10";
  std::string cluster_domain = "cluster.local";
  bool disable_agent = false;
  std::string node_name;  // "" = the host name
  // The embedded agent's own flags (as `minik agent` has them).
  std::string node_ip;
  std::vector<std::string> node_labels;  // k=v
  std::vector<std::string> node_taints;  // k[=v]:Effect
  std::string cgroup_root = "/kubepods";
  std::string pod_logs_dir = "/var/log/pods";
  std::string private_registry = "/etc/minik/registries.yaml";
  std::string runtime = "runc";
  // How often the built-in metrics API (metrics.k8s.io) scrapes the nodes while it is in use
  // (metrics-server's --metric-resolution).
  uint64_t metrics_resolution_ms = 15000;
  LogLevel log_level = LogLevel::kInfo;
  std::string config_file = "/etc/minik/config.yaml";
};

// Parses `minik server` arguments (argv after "server"). A --config flag (or the default file
// if it exists) is read first; command-line flags override it. Returns Invalid with a one-line
// message ("unknown flag: --foo", "invalid value \"x\" for --https-listen-port: ...") on bad
// input; returns Code::kOk with help_requested set for --help.
struct ParsedServerArgs {
  ServerConfig config;
  bool help = false;
};
StatusOr<ParsedServerArgs> ParseServerArgs(const std::vector<std::string>& args);

// The --help text documenting every flag.
std::string ServerHelp();

}  // namespace minik::server
