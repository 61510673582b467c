#include "agent/config.h"

#include <cstdlib>
#include <functional>

#include "common/strings.h"

namespace minik::agent {
namespace {

struct Flag {
  const char* name;
  const char* value_name;
  const char* help;
  std::function<Status(AgentConfig&, const std::string&)> set;
};

Status BadValue(const std::string& flag, const std::string& value, const std::string& why) {
  return Status::Invalid("invalid value \"" + value + "\" for flag --" + flag + ": " + why);
}

Status ValidTaint(const std::string& t) {
  // key[=value]:Effect
  auto colon = t.rfind(':');
  if (colon == std::string::npos || colon == 0) return BadValue("node-taint", t, "must be key[=value]:Effect");
  std::string effect = t.substr(colon + 1);
  if (effect != "NoSchedule" && effect != "PreferNoSchedule" && effect != "NoExecute") {
    return BadValue("node-taint", t, "effect must be NoSchedule, PreferNoSchedule or NoExecute");
  }
  return Status::OK();
}

const std::vector<Flag>& Flags() {
  static const std::vector<Flag> flags = {
      {"join", "URL", "URL of the server to join, e.g. https://10.0.0.1:6443 (alias --server, -s)",
       [](AgentConfig& c, const std::string& v) {
         if (v.rfind("https://", 0) != 0) return BadValue("join", v, "must be an https:// URL");
         c.server_url = v;
         return Status::OK();
       }},
      {"token", "TOKEN", "Token from the server's <data-dir>/server/token",
       [](AgentConfig& c, const std::string& v) {
         c.token = v;
         return Status::OK();
       }},
      {"node-name", "NAME", "Node name (default: the host name; with --fake-nodes, the prefix of the names)",
       [](AgentConfig& c, const std::string& v) {
         c.node_name = v;
         return Status::OK();
       }},
      {"data-dir", "DIR", "Folder to hold state (default: /var/lib/minik)",
       [](AgentConfig& c, const std::string& v) {
         c.data_dir = v;
         return Status::OK();
       }},
      {"node-ip", "IP", "IP address to advertise for the node", [](AgentConfig& c, const std::string& v) {
         c.node_ip = v;
         return Status::OK();
       }},
      {"node-label", "KEY=VALUE", "Label to register the node with (repeatable)",
       [](AgentConfig& c, const std::string& v) {
         if (v.find('=') == std::string::npos) return BadValue("node-label", v, "must be key=value");
         c.node_labels.push_back(v);
         return Status::OK();
       }},
      {"node-taint", "KEY=VALUE:EFFECT", "Taint to register the node with (repeatable)",
       [](AgentConfig& c, const std::string& v) {
         MINIK_RETURN_IF_ERROR(ValidTaint(v));
         c.node_taints.push_back(v);
         return Status::OK();
       }},
      {"runtime", "NAME", "OCI runtime on PATH (default: runc)", [](AgentConfig& c, const std::string& v) {
         c.runtime = v;
         return Status::OK();
       }},
      {"cgroup-root", "PATH", "Parent cgroup of the pods' cgroups (default: /kubepods)",
       [](AgentConfig& c, const std::string& v) {
         if (v.empty() || v[0] != '/') return BadValue("cgroup-root", v, "must be an absolute cgroup path");
         c.cgroup_root = v;
         return Status::OK();
       }},
      {"pod-logs-dir", "DIR", "Folder of the pods' container logs (default: /var/log/pods; links in its sibling containers/)",
       [](AgentConfig& c, const std::string& v) {
         if (v.size() < 2 || v[0] != '/') return BadValue("pod-logs-dir", v, "must be an absolute path");
         c.pod_logs_dir = v;
         while (c.pod_logs_dir.size() > 1 && c.pod_logs_dir.back() == '/') c.pod_logs_dir.pop_back();
         return Status::OK();
       }},
      {"private-registry", "FILE", "Private registry configuration file (default: /etc/minik/registries.yaml)",
       [](AgentConfig& c, const std::string& v) {
         c.private_registry = v;
         return Status::OK();
       }},
      {"cluster-dns", "IP", "Cluster DNS server IP written into pods' resolv.conf (default: 10.43.0.10)",
       [](AgentConfig& c, const std::string& v) {
         c.cluster_dns = v;
         return Status::OK();
       }},
      {"cluster-domain", "DOMAIN", "Cluster domain (default: cluster.local)", [](AgentConfig& c, const std::string& v) {
         c.cluster_domain = v;
         return Status::OK();
       }},
      {"fake-nodes", "N",
       "Register N hollow nodes that run no containers: bound pods are reported Running (and "
       "restartPolicy Never/OnFailure pods Succeeded after --fake-pod-run-seconds), as kwok does",
       [](AgentConfig& c, const std::string& v) {
         int64_t n = 0;
         if (!ParseInt64(v, &n) || n < 1 || n > 100000) return BadValue("fake-nodes", v, "must be a number between 1 and 100000");
         c.fake_nodes = static_cast<int>(n);
         return Status::OK();
       }},
      {"fake-pod-run-seconds", "S", "With --fake-nodes: seconds a run-to-completion pod runs (default: 1)",
       [](AgentConfig& c, const std::string& v) {
         int64_t n = 0;
         if (!ParseInt64(v, &n) || n < 0 || n > 86400) return BadValue("fake-pod-run-seconds", v, "must be 0 to 86400");
         c.fake_pod_run_seconds = static_cast<int>(n);
         return Status::OK();
       }},
      {"log-level", "LEVEL", "Log level: debug, info, warn or error (default: info)",
       [](AgentConfig& c, const std::string& v) {
         if (!ParseLogLevel(v, &c.log_level)) return BadValue("log-level", v, "must be debug, info, warn or error");
         return Status::OK();
       }},
  };
  return flags;
}

}  // namespace

StatusOr<ParsedAgentArgs> ParseAgentArgs(const std::vector<std::string>& args) {
  ParsedAgentArgs out;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string a = args[i];
    if (a == "-h" || a == "--help") {
      out.help = true;
      return out;
    }
    if (a == "-s") a = "--server";
    if (a.rfind("--", 0) != 0) return Status::Invalid("unexpected argument \"" + a + "\"");
    std::string name = a.substr(2), value;
    bool has_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    if (name == "server") name = "join";
    const Flag* flag = nullptr;
    for (const auto& f : Flags()) {
      if (name == f.name) flag = &f;
    }
    if (!flag) return Status::Invalid("unknown flag: --" + name);
    if (!has_value) {
      if (i + 1 >= args.size()) return Status::Invalid("flag needs an argument: --" + name);
      value = args[++i];
    }
    MINIK_RETURN_IF_ERROR(flag->set(out.config, value));
  }
  if (out.config.server_url.empty()) return Status::Invalid("missing --join https://SERVER:6443");
  if (out.config.token.empty()) return Status::Invalid("missing --token");
  if (auto t = ParseJoinToken(out.config.token); !t.ok()) return t.error();
  return out;
}

std::string AgentHelp() {
  std::string s =
      "Usage: minik agent --join https://SERVER:6443 --token TOKEN [flags]\n\n"
      "Runs a worker node that joins a minik server.\n\nFlags:\n";
  for (const auto& f : Flags()) {
    std::string left = std::string("  --") + f.name + (*f.value_name ? std::string(" ") + f.value_name : "");
    if (left.size() < 34) left.resize(34, ' ');
    else left += "\n" + std::string(34, ' ');
    s += left + f.help + "\n";
  }
  return s;
}

StatusOr<JoinToken> ParseJoinToken(const std::string& token) {
  JoinToken t;
  if (token.rfind("K10", 0) == 0) {
    auto sep = token.find("::");
    if (sep == std::string::npos) return Status::Invalid("invalid token: missing \"::\" after the CA hash");
    t.ca_hash = token.substr(3, sep - 3);
    if (t.ca_hash.size() != 64 || t.ca_hash.find_first_not_of("0123456789abcdef") != std::string::npos) {
      return Status::Invalid("invalid token: the CA hash must be 64 hex digits");
    }
    std::string cred = token.substr(sep + 2);
    auto colon = cred.find(':');
    t.secret = colon == std::string::npos ? cred : cred.substr(colon + 1);
  } else {
    t.secret = token;
  }
  if (t.secret.empty()) return Status::Invalid("invalid token: empty secret");
  return t;
}

}  // namespace minik::agent
