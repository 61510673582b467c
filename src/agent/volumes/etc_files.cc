#include "agent/volumes/etc_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "agent/volumes/pod_util.h"
#include "api/validation.h"

namespace minik::agent::volumes {

using internal::Array;
using internal::Bool;
using internal::Object;
using internal::Str;

namespace {

constexpr size_t kMaxNameservers = 3;
constexpr size_t kMaxSearchPaths = 32;
constexpr size_t kMaxSearchListChars = 2048;
constexpr size_t kMaxSearchLength = 253;  // DNS1123SubdomainMaxLength

std::vector<std::string> Fields(std::string_view line) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : line) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f') {
      if (!cur.empty()) out.push_back(std::move(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

std::string OptName(const std::string& opt) { return opt.substr(0, opt.find(':')); }

// appendOptions / mergeDNSOptions: one entry per name, a later one replaces in place.
void MergeOption(std::vector<std::string>* options, const std::string& opt) {
  std::string name = OptName(opt);
  for (auto& o : *options) {
    if (OptName(o) == name) {
      o = opt;
      return;
    }
  }
  options->push_back(opt);
}

std::vector<std::string> OmitDuplicates(const std::vector<std::string>& in) {
  std::vector<std::string> out;
  for (const auto& s : in) {
    if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
  }
  return out;
}

std::string JoinSpace(const std::vector<std::string>& v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? " " : "") + v[i];
  return out;
}

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  std::stringstream ss;
  ss << f.rdbuf();
  *out = ss.str();
  return true;
}

Status WriteFileAtomic(const std::string& path, const std::string& content) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) return Status::Internal("open " + tmp + ": " + std::strerror(errno));
  size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::write(fd, content.data() + off, content.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      return Status::Internal("write " + tmp + ": " + std::strerror(errno));
    }
    off += static_cast<size_t>(n);
  }
  ::fchmod(fd, 0644);
  ::close(fd);
  // Bind mounts keep the inode they were made with: rewrite a file that is already mounted in
  // place (the kubelet rewrites etc-hosts in place too) and rename only the first time.
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) {
    ::unlink(tmp.c_str());
    int out = ::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW);
    if (out < 0) return Status::Internal("open " + path + ": " + std::strerror(errno));
    off = 0;
    while (off < content.size()) {
      ssize_t n = ::write(out, content.data() + off, content.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        ::close(out);
        return Status::Internal("write " + path + ": " + std::strerror(errno));
      }
      off += static_cast<size_t>(n);
    }
    ::fchmod(out, 0644);
    ::close(out);
    return Status::OK();
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) return Status::Internal("rename " + tmp + ": " + std::strerror(errno));
  return Status::OK();
}

std::string HostAliasesSection(const JsonValue* aliases) {
  if (!aliases || !aliases->IsArray() || aliases->Empty()) return {};
  std::string out = "\n# Entries added by HostAliases.\n";
  for (const auto& a : aliases->GetArray()) {
    out += Str(&a, "ip") + "\t";
    if (const JsonValue* names = Array(&a, "hostnames")) {
      bool first = true;
      for (const auto& n : names->GetArray()) {
        if (!n.IsString()) continue;
        out += (first ? "" : "\t") + std::string(n.GetString(), n.GetStringLength());
        first = false;
      }
    }
    out += "\n";
  }
  return out;
}

}  // namespace

DnsConfig ParseResolvConf(std::string_view text) {
  DnsConfig out;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    auto fields = Fields(line);
    if (fields.empty() || fields[0][0] == '#') continue;
    if (fields[0] == "nameserver" && fields.size() >= 2) {
      out.servers.push_back(fields[1]);
    } else if (fields[0] == "search") {
      out.searches.clear();
      for (size_t i = 1; i < fields.size(); ++i) {
        if (fields[i] == ".") continue;
        std::string s = fields[i];
        if (!s.empty() && s.back() == '.') s.pop_back();
        out.searches.push_back(s);
      }
    } else if (fields[0] == "options") {
      for (size_t i = 1; i < fields.size(); ++i) MergeOption(&out.options, fields[i]);
    }
  }
  return out;
}

DnsConfig PodDnsConfig(const JsonValue& pod, const DnsOptions& options, std::string_view host_text,
                       std::vector<PodEvent>* events) {
  const JsonValue* meta = Object(&pod, "metadata");
  const JsonValue* spec = Object(&pod, "spec");
  DnsConfig dns = options.host_resolv_conf.empty() ? DnsConfig{} : ParseResolvConf(host_text);
  bool host_network = Bool(spec, "hostNetwork", false);
  std::string policy = Str(spec, "dnsPolicy");
  if (policy.empty()) policy = "ClusterFirst";
  enum { kNone, kCluster, kHost } type = kCluster;
  if (policy == "None") type = kNone;
  else if (policy == "ClusterFirstWithHostNet") type = kCluster;
  else if (policy == "ClusterFirst") type = host_network ? kHost : kCluster;
  else if (policy == "Default") type = kHost;

  if (type == kNone) {
    dns = DnsConfig{};
  } else if (type == kCluster && !options.cluster_dns.empty()) {
    dns.servers = options.cluster_dns;
    if (!options.cluster_domain.empty()) {
      std::string ns = Str(meta, "namespace");
      std::vector<std::string> s = {ns + ".svc." + options.cluster_domain, "svc." + options.cluster_domain,
                                    options.cluster_domain};
      s.insert(s.end(), dns.searches.begin(), dns.searches.end());
      dns.searches = OmitDuplicates(s);
    }
    dns.options = {"ndots:5"};
  } else {
    if (type == kCluster && events) {
      std::string msg =
          "kubelet does not have ClusterDNS IP configured and cannot create Pod using \"ClusterFirst\" policy. "
          "Falling back to \"Default\" policy.";
      std::string pod_ref = Str(meta, "name") + "_" + Str(meta, "namespace") + "(" + Str(meta, "uid") + ")";
      events->push_back({"Warning", "MissingClusterDNS", "pod: " + api::GoQuote(pod_ref) + ". " + msg});
    }
    if (options.host_resolv_conf.empty()) {
      for (const auto& ip : options.node_ips) dns.servers.push_back(ip.find(':') != std::string::npos ? "::1" : "127.0.0.1");
      if (dns.servers.empty()) dns.servers.push_back("127.0.0.1");
      dns.searches = {"."};
    }
  }

  if (const JsonValue* dc = Object(spec, "dnsConfig")) {
    auto strings = [](const JsonValue* arr) {
      std::vector<std::string> out;
      if (arr) {
        for (const auto& s : arr->GetArray()) {
          if (s.IsString()) out.emplace_back(s.GetString(), s.GetStringLength());
        }
      }
      return out;
    };
    auto ns = strings(Array(dc, "nameservers"));
    dns.servers.insert(dns.servers.end(), ns.begin(), ns.end());
    dns.servers = OmitDuplicates(dns.servers);
    auto ss = strings(Array(dc, "searches"));
    dns.searches.insert(dns.searches.end(), ss.begin(), ss.end());
    dns.searches = OmitDuplicates(dns.searches);
    if (const JsonValue* opts = Array(dc, "options")) {
      for (const auto& o : opts->GetArray()) {
        std::string name = Str(&o, "name");
        std::string value = Str(&o, "value");
        MergeOption(&dns.options, value.empty() ? name : name + ":" + value);
      }
    }
  }

  // formDNSConfigFitsLimits.
  if (dns.servers.size() > kMaxNameservers) {
    dns.servers.resize(kMaxNameservers);
    if (events) {
      events->push_back({"Warning", "DNSConfigForming",
                         "Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver "
                         "line is: " + JoinSpace(dns.servers)});
    }
  }
  bool exceeded = false;
  if (dns.searches.size() > kMaxSearchPaths) {
    dns.searches.resize(kMaxSearchPaths);
    exceeded = true;
  }
  std::vector<std::string> kept;
  for (auto& s : dns.searches) {
    if (s.size() > kMaxSearchLength) exceeded = true;
    else kept.push_back(s);
  }
  dns.searches = std::move(kept);
  size_t line_len = JoinSpace(dns.searches).size();
  if (line_len > kMaxSearchListChars) {
    size_t cut_len = 0, cut_num = 0;
    for (size_t i = dns.searches.size(); i-- > 0;) {
      cut_len += dns.searches[i].size() + 1;
      ++cut_num;
      if (line_len - cut_len <= kMaxSearchListChars) break;
    }
    dns.searches.resize(dns.searches.size() - cut_num);
    exceeded = true;
  }
  if (exceeded && events) {
    events->push_back({"Warning", "DNSConfigForming",
                       "Search Line limits were exceeded, some search paths have been omitted, the applied search line "
                       "is: " + JoinSpace(dns.searches)});
  }
  return dns;
}

std::string ResolvConfContent(const DnsConfig& dns) {
  std::string out;
  if (!dns.searches.empty()) out += "search " + JoinSpace(dns.searches) + "\n";
  for (const auto& s : dns.servers) out += "nameserver " + s + "\n";
  if (!dns.options.empty()) out += "options " + JoinSpace(dns.options) + "\n";
  return out;
}

StatusOr<PodHostname> PodHostnameAndDomain(const JsonValue& pod, const std::string& cluster_domain) {
  const JsonValue* meta = Object(&pod, "metadata");
  const JsonValue* spec = Object(&pod, "spec");
  std::string pod_name = Str(meta, "name");
  PodHostname out;
  out.hostname = pod_name;
  std::string spec_host = Str(spec, "hostname");
  auto join = [](const std::vector<std::string>& v) {
    std::string s;
    for (size_t i = 0; i < v.size(); ++i) s += (i ? ";" : "") + v[i];
    return s;
  };
  if (!spec_host.empty()) {
    auto errs = api::IsDNS1123Label(spec_host);
    if (!errs.empty()) return Status::Invalid("pod Hostname \"" + spec_host + "\" is not a valid DNS label: " + join(errs));
    out.hostname = spec_host;
  }
  if (out.hostname.size() > 63) {
    out.hostname.resize(63);
    while (!out.hostname.empty() && (out.hostname.back() == '-' || out.hostname.back() == '.')) out.hostname.pop_back();
    if (out.hostname.empty()) return Status::Invalid("hostname for pod \"" + pod_name + "\" was invalid: \"" + spec_host + "\"");
  }
  std::string sub = Str(spec, "subdomain");
  if (!sub.empty()) {
    auto errs = api::IsDNS1123Label(sub);
    if (!errs.empty()) return Status::Invalid("pod Subdomain \"" + sub + "\" is not a valid DNS label: " + join(errs));
    out.domain = sub + "." + Str(meta, "namespace") + ".svc." + cluster_domain;
  }
  return out;
}

std::string ManagedHostsContent(const std::vector<std::string>& pod_ips, const std::string& hostname,
                                const std::string& domain, const JsonValue* host_aliases) {
  std::string out = "# Kubernetes-managed hosts file.\n";
  out += "127.0.0.1\tlocalhost\n";
  out += "::1\tlocalhost ip6-localhost ip6-loopback\n";
  out += "fe00::0\tip6-localnet\n";
  out += "fe00::0\tip6-mcastprefix\n";
  out += "fe00::1\tip6-allnodes\n";
  out += "fe00::2\tip6-allrouters\n";
  for (const auto& ip : pod_ips) {
    if (!domain.empty()) out += ip + "\t" + hostname + "." + domain + "\t" + hostname + "\n";
    else out += ip + "\t" + hostname + "\n";
  }
  return out + HostAliasesSection(host_aliases);
}

std::string HostNetworkHostsContent(std::string_view node_hosts_file, const JsonValue* host_aliases) {
  return "# Kubernetes-managed hosts file (host network).\n" + std::string(node_hosts_file) +
         HostAliasesSection(host_aliases);
}

StatusOr<PodEtcFiles> WritePodEtcFiles(const std::string& pod_dir, const JsonValue& pod,
                                       const std::vector<std::string>& pod_ips, const EtcFilesOptions& options) {
  const JsonValue* spec = Object(&pod, "spec");
  bool host_network = Bool(spec, "hostNetwork", false);
  const JsonValue* aliases = Array(spec, "hostAliases");
  PodEtcFiles out;
  MINIK_ASSIGN_OR_RETURN(PodHostname hn, PodHostnameAndDomain(pod, options.dns.cluster_domain));

  if (!pod_ips.empty() || host_network) {
    std::string content;
    if (host_network) {
      std::string node_file;
      if (!ReadFile(options.host_hosts_file, &node_file)) {
        return Status::NotFound("open " + options.host_hosts_file + ": " + std::strerror(errno));
      }
      content = HostNetworkHostsContent(node_file, aliases);
    } else {
      content = ManagedHostsContent(pod_ips, hn.hostname, hn.domain, aliases);
    }
    out.hosts_path = pod_dir + "/etc-hosts";
    MINIK_RETURN_IF_ERROR(WriteFileAtomic(out.hosts_path, content));
  }

  std::string host_text;
  if (!options.dns.host_resolv_conf.empty() && !ReadFile(options.dns.host_resolv_conf, &host_text)) {
    return Status::NotFound("open " + options.dns.host_resolv_conf + ": " + std::strerror(errno));
  }
  out.dns = PodDnsConfig(pod, options.dns, host_text, &out.events);
  std::string resolv = ResolvConfContent(out.dns);
  if (resolv.empty()) {  // containerd copies the host's file
    ReadFile(options.dns.host_resolv_conf.empty() ? "/etc/resolv.conf" : options.dns.host_resolv_conf, &resolv);
  }
  out.resolv_path = pod_dir + "/resolv.conf";
  MINIK_RETURN_IF_ERROR(WriteFileAtomic(out.resolv_path, resolv));

  out.hostname = hn.hostname;
  if (host_network) {
    out.hostname = options.node_hostname;
    if (out.hostname.empty()) {
      char buf[256] = {};
      ::gethostname(buf, sizeof(buf) - 1);
      out.hostname = buf;
    }
  }
  out.hostname_path = pod_dir + "/hostname";
  MINIK_RETURN_IF_ERROR(WriteFileAtomic(out.hostname_path, out.hostname + "\n"));
  return out;
}

std::vector<ContainerMount> EtcMountsFor(const PodEtcFiles& files, const JsonValue& container,
                                         const std::vector<ContainerMount>& volume_mounts) {
  auto taken = [&](const char* path) {
    return std::any_of(volume_mounts.begin(), volume_mounts.end(),
                       [&](const ContainerMount& m) { return m.container_path == path; });
  };
  bool ro_root = Bool(Object(&container, "securityContext"), "readOnlyRootFilesystem", false);
  std::vector<ContainerMount> out;
  if (!files.hosts_path.empty() && !taken("/etc/hosts")) {
    out.push_back({kEtcHostsMountName, "/etc/hosts", files.hosts_path, false, false, MountPropagation::kPrivate});
  }
  if (!files.hostname_path.empty() && !taken("/etc/hostname")) {
    out.push_back({"hostname", "/etc/hostname", files.hostname_path, ro_root, false, MountPropagation::kPrivate});
  }
  if (!files.resolv_path.empty() && !taken("/etc/resolv.conf")) {
    out.push_back({"resolv.conf", "/etc/resolv.conf", files.resolv_path, ro_root, false, MountPropagation::kPrivate});
  }
  return out;
}

std::string PickHostResolvConf() {
  auto usable = [](const std::string& path) {
    std::string text;
    if (!ReadFile(path, &text)) return false;
    DnsConfig c = ParseResolvConf(text);
    for (const auto& s : c.servers) {
      if (s.rfind("127.", 0) != 0 && s != "::1") return true;
    }
    return false;
  };
  if (usable("/etc/resolv.conf")) return "/etc/resolv.conf";
  if (usable("/run/systemd/resolve/resolv.conf")) return "/run/systemd/resolve/resolv.conf";
  return "";
}

}  // namespace minik::agent::volumes
