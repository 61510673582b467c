#include "server/config.h"

#include <arpa/inet.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include "common/json.h"
#include "common/yaml.h"

namespace minik::server {
namespace {

using Setter = std::function<Status(ServerConfig&, const std::string&)>;

struct Flag {
  const char* name;
  const char* value_name;  // "" for booleans
  const char* help;
  Setter set;
};

Status BadValue(const std::string& flag, const std::string& value, const std::string& why) {
  return Status::Invalid("invalid value \"" + value + "\" for flag --" + flag + ": " + why);
}

bool ParseCidr4(const std::string& s) {
  auto slash = s.find('/');
  if (slash == std::string::npos) return false;
  in_addr a{};
  if (inet_pton(AF_INET, s.substr(0, slash).c_str(), &a) != 1) return false;
  char* end = nullptr;
  long bits = std::strtol(s.c_str() + slash + 1, &end, 10);
  return *end == '\0' && slash + 1 < s.size() && bits >= 1 && bits <= 30;
}

bool ParseIp(const std::string& s) {
  in_addr a{};
  in6_addr a6{};
  return inet_pton(AF_INET, s.c_str(), &a) == 1 || inet_pton(AF_INET6, s.c_str(), &a6) == 1;
}

Setter StringFlag(std::string ServerConfig::*field) {
  return [field](ServerConfig& c, const std::string& v) {
    c.*field = v;
    return Status::OK();
  };
}

Setter CidrFlag(const char* name, std::string ServerConfig::*field) {
  return [name, field](ServerConfig& c, const std::string& v) {
    if (!ParseCidr4(v)) return BadValue(name, v, "must be an IPv4 CIDR such as 10.43.0.0/16");
    c.*field = v;
    return Status::OK();
  };
}

Setter IpFlag(const char* name, std::string ServerConfig::*field) {
  return [name, field](ServerConfig& c, const std::string& v) {
    if (!ParseIp(v)) return BadValue(name, v, "must be an IP address");
    c.*field = v;
    return Status::OK();
  };
}

const std::vector<Flag>& Flags() {
  static const std::vector<Flag> flags = {
      {"config", "FILE", "Load configuration from FILE (same keys as the flags) (default: /etc/minik/config.yaml)",
       StringFlag(&ServerConfig::config_file)},
      {"data-dir", "DIR", "Folder to hold state (default: /var/lib/minik)", StringFlag(&ServerConfig::data_dir)},
      {"bind-address", "IP", "Address the API server listens on (default: 0.0.0.0)",
       IpFlag("bind-address", &ServerConfig::bind_address)},
      {"https-listen-port", "PORT", "HTTPS listen port (default: 6443)",
       [](ServerConfig& c, const std::string& v) {
         char* end = nullptr;
         long p = std::strtol(v.c_str(), &end, 10);
         if (v.empty() || *end != '\0' || p < 1 || p > 65535) {
           return BadValue("https-listen-port", v, "must be a port number between 1 and 65535");
         }
         c.https_listen_port = static_cast<int>(p);
         return Status::OK();
       }},
      {"advertise-address", "IP", "Address the API server advertises to cluster members (default: node IP)",
       IpFlag("advertise-address", &ServerConfig::advertise_address)},
      {"write-kubeconfig", "FILE", "Write the admin kubeconfig to FILE (default: /etc/minik/minik.yaml)",
       StringFlag(&ServerConfig::write_kubeconfig)},
      {"write-kubeconfig-mode", "MODE", "Write the kubeconfig with this octal mode (default: 0600)",
       [](ServerConfig& c, const std::string& v) {
         char* end = nullptr;
         long m = std::strtol(v.c_str(), &end, 8);
         if (v.empty() || *end != '\0' || m < 0 || m > 0777) {
           return BadValue("write-kubeconfig-mode", v, "must be an octal file mode such as 0644");
         }
         c.write_kubeconfig_mode = v;
         return Status::OK();
       }},
      {"token", "TOKEN", "Shared secret used to join agents to the cluster (default: generated at first boot)",
       StringFlag(&ServerConfig::token)},
      {"cluster-cidr", "CIDR", "IPv4 network CIDR for pod IPs (default: 10.42.0.0/16)",
       CidrFlag("cluster-cidr", &ServerConfig::cluster_cidr)},
      {"service-cidr", "CIDR", "IPv4 network CIDR for service IPs (default: 10.43.0.0/16)",
       CidrFlag("service-cidr", &ServerConfig::service_cidr)},
      {"cluster-dns", "IP", "Cluster IP for the DNS service, inside the service CIDR (default: 10.43.0.10)",
       IpFlag("cluster-dns", &ServerConfig::cluster_dns)},
      {"cluster-domain", "DOMAIN", "Cluster domain (default: cluster.local)", StringFlag(&ServerConfig::cluster_domain)},
      {"disable-agent", "", "Do not run the embedded agent (control plane only)",
       [](ServerConfig& c, const std::string& v) {
         if (v == "true" || v == "1" || v.empty()) c.disable_agent = true;
         else if (v == "false" || v == "0") c.disable_agent = false;
         else return BadValue("disable-agent", v, "must be true or false");
         return Status::OK();
       }},
      {"node-name", "NAME", "Node name of the embedded agent (default: the host name)",
       StringFlag(&ServerConfig::node_name)},
      {"node-ip", "IP", "IP address the embedded agent advertises for its node", StringFlag(&ServerConfig::node_ip)},
      {"node-label", "KEY=VALUE", "Label to register the embedded agent's node with (repeatable)",
       [](ServerConfig& c, const std::string& v) {
         if (v.find('=') == std::string::npos) return BadValue("node-label", v, "must be key=value");
         c.node_labels.push_back(v);
         return Status::OK();
       }},
      {"node-taint", "KEY=VALUE:EFFECT", "Taint to register the embedded agent's node with (repeatable)",
       [](ServerConfig& c, const std::string& v) {
         auto colon = v.rfind(':');
         std::string effect = colon == std::string::npos ? "" : v.substr(colon + 1);
         if (colon == 0 || (effect != "NoSchedule" && effect != "PreferNoSchedule" && effect != "NoExecute")) {
           return BadValue("node-taint", v, "must be key[=value]:Effect with Effect NoSchedule, PreferNoSchedule or NoExecute");
         }
         c.node_taints.push_back(v);
         return Status::OK();
       }},
      {"cgroup-root", "PATH", "Parent cgroup of the embedded agent's pods (default: /kubepods)",
       [](ServerConfig& c, const std::string& v) {
         if (v.empty() || v[0] != '/') return BadValue("cgroup-root", v, "must be an absolute cgroup path");
         c.cgroup_root = v;
         return Status::OK();
       }},
      {"pod-logs-dir", "DIR", "Folder of the embedded agent's pod logs (default: /var/log/pods; links in its sibling containers/)",
       [](ServerConfig& c, const std::string& v) {
         if (v.size() < 2 || v[0] != '/') return BadValue("pod-logs-dir", v, "must be an absolute path");
         c.pod_logs_dir = v;
         while (c.pod_logs_dir.size() > 1 && c.pod_logs_dir.back() == '/') c.pod_logs_dir.pop_back();
         return Status::OK();
       }},
      {"private-registry", "FILE", "Private registry configuration file (default: /etc/minik/registries.yaml)",
       StringFlag(&ServerConfig::private_registry)},
      {"runtime", "NAME", "OCI runtime of the embedded agent, on PATH (default: runc)", StringFlag(&ServerConfig::runtime)},
      {"metrics-resolution", "DURATION",
       "How often the metrics API scrapes the nodes while it is in use, e.g. 15s or 1500ms (default: 15s)",
       [](ServerConfig& c, const std::string& v) {
         char* end = nullptr;
         double n = std::strtod(v.c_str(), &end);
         std::string unit = end ? std::string(end) : "";
         double ms = unit == "ms" ? n : unit == "s" ? n * 1000 : unit == "m" ? n * 60000 : -1;
         if (v.empty() || end == v.c_str() || ms < 100 || ms > 3600000) {
           return BadValue("metrics-resolution", v, "must be a duration between 100ms and 1h, such as 15s");
         }
         c.metrics_resolution_ms = static_cast<uint64_t>(ms);
         return Status::OK();
       }},
      {"log-level", "LEVEL", "Log level: debug, info, warn or error (default: info)",
       [](ServerConfig& c, const std::string& v) {
         if (!ParseLogLevel(v, &c.log_level)) return BadValue("log-level", v, "must be debug, info, warn or error");
         return Status::OK();
       }},
  };
  return flags;
}

const Flag* FindFlag(const std::string& name) {
  for (const auto& f : Flags()) {
    if (name == f.name) return &f;
  }
  return nullptr;
}

bool FileExists(const std::string& path) {
  struct stat st{};
  return ::stat(path.c_str(), &st) == 0;
}

std::string ScalarText(const JsonValue& v) {
  if (v.IsString()) return std::string(v.GetString(), v.GetStringLength());
  if (v.IsBool()) return v.GetBool() ? "true" : "false";
  if (v.IsInt64()) return std::to_string(v.GetInt64());
  return ToJson(v);
}

Status LoadConfigFile(const std::string& path, ServerConfig& c) {
  std::ifstream in(path);
  if (!in) return Status::Invalid("cannot read config file " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  auto doc = YamlToJson(ss.str());
  if (!doc.ok()) return Status::Invalid("config file " + path + ": " + doc.error().message());
  if (doc->IsNull()) return Status::OK();
  if (!doc->IsObject()) return Status::Invalid("config file " + path + ": must be a mapping of flag names to values");
  for (auto it = doc->MemberBegin(); it != doc->MemberEnd(); ++it) {
    std::string key(it->name.GetString(), it->name.GetStringLength());
    const Flag* f = FindFlag(key);
    if (!f || key == "config") return Status::Invalid("config file " + path + ": unknown key \"" + key + "\"");
    MINIK_RETURN_IF_ERROR(f->set(c, ScalarText(it->value)).WithContext("config file " + path));
  }
  return Status::OK();
}

}  // namespace

StatusOr<ParsedServerArgs> ParseServerArgs(const std::vector<std::string>& args) {
  // Split into (name, value) pairs first so that --config is applied before the other flags.
  std::vector<std::pair<const Flag*, std::string>> given;
  ParsedServerArgs out;
  bool config_given = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-h" || a == "--help") {
      out.help = true;
      return out;
    }
    if (a.rfind("--", 0) != 0 || a.size() == 2) {
      return Status::Invalid("unexpected argument \"" + a + "\"");
    }
    std::string name = a.substr(2), value;
    bool has_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    const Flag* f = FindFlag(name);
    if (!f) return Status::Invalid("unknown flag: --" + name);
    if (!has_value && f->value_name[0] != '\0') {
      if (i + 1 >= args.size()) return Status::Invalid("flag needs an argument: --" + name);
      value = args[++i];
    }
    if (name == "config") config_given = true;
    given.emplace_back(f, value);
  }
  ServerConfig& c = out.config;
  for (auto& [f, v] : given) {
    if (std::string(f->name) == "config") MINIK_RETURN_IF_ERROR(f->set(c, v));
  }
  if (config_given || FileExists(c.config_file)) MINIK_RETURN_IF_ERROR(LoadConfigFile(c.config_file, c));
  for (auto& [f, v] : given) {
    if (std::string(f->name) != "config") MINIK_RETURN_IF_ERROR(f->set(c, v));
  }
  return out;
}

std::string ServerHelp() {
  std::string s =
      "Usage: minik server [flags]\n\n"
      "Runs the minik control plane: the Kubernetes API server, the SQLite-backed store, the\n"
      "controllers and the scheduler, and an embedded agent unless --disable-agent.\n\nFlags:\n";
  for (const auto& f : Flags()) {
    std::string lhs = std::string("  --") + f.name;
    if (f.value_name[0]) lhs += std::string(" ") + f.value_name;
    if (lhs.size() < 34) lhs.resize(34, ' ');
    else lhs += "  ";
    s += lhs + f.help + "\n";
  }
  s += "  -h, --help                      Show this help\n";
  return s;
}

}  // namespace minik::server
