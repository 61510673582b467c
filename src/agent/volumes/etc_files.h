// The files the kubelet and containerd generate for a pod's containers: /etc/hosts (kubelet:
// `<pod-dir>/etc-hosts`, managedHostsFileContent / nodeHostsFileContent), /etc/resolv.conf (the
// kubelet's DNS configurer, pkg/kubelet/network/dns, rendered as containerd writes it) and
// /etc/hostname (containerd), all written into the pod directory and bind-mounted.
//
// Threading: the pure functions are any-thread; WritePodEtcFiles does blocking file I/O (a
// WorkPool thread).
#pragma once

#include <string>
#include <vector>

#include "agent/volumes/env.h"
#include "agent/volumes/mounts.h"
#include "common/json.h"
#include "common/status.h"

namespace minik::agent::volumes {

inline constexpr char kEtcHostsMountName[] = "k8s-managed-etc-hosts";

struct DnsOptions {
  std::string cluster_domain = "cluster.local";  // "" = no cluster search domains
  std::vector<std::string> cluster_dns;          // the cluster DNS service IPs
  // The resolver file the node uses (the kubelet's --resolv-conf; k3s picks
  // /run/systemd/resolve/resolv.conf when /etc/resolv.conf only has loopback servers, see
  // PickHostResolvConf). "" = none: Default pods get "nameserver 127.0.0.1" and "search .".
  std::string host_resolv_conf = "/etc/resolv.conf";
  std::vector<std::string> node_ips;  // for the "" case above (::1 for IPv6 nodes)
};

// The DNS settings of a pod (runtimeapi.DNSConfig).
struct DnsConfig {
  std::vector<std::string> servers;
  std::vector<std::string> searches;
  std::vector<std::string> options;
  bool operator==(const DnsConfig&) const = default;
};

// parseResolvConf: nameservers accumulate, the last search line wins (trailing dots removed,
// "." dropped), options merge by name (a later one replaces an earlier one in place).
DnsConfig ParseResolvConf(std::string_view text);

// GetPodDNS: dnsPolicy ClusterFirst (the default; Default for hostNetwork pods),
// ClusterFirstWithHostNet, Default, None; spec.dnsConfig merged (nameservers and searches
// appended without duplicates, options merged by name); limits applied (3 nameservers, 32
// search paths, 2048 characters, paths over 253 characters dropped). Events: MissingClusterDNS
// (ClusterFirst with no cluster DNS: falls back to Default), DNSConfigForming (limits exceeded).
// host_resolv_conf_text is the content of options.host_resolv_conf ("" when none).
DnsConfig PodDnsConfig(const JsonValue& pod, const DnsOptions& options, std::string_view host_resolv_conf_text,
                       std::vector<PodEvent>* events);

// containerd's rendering: "search a b\n", "nameserver x\n" per server, "options o p\n" (lines
// omitted when empty).
std::string ResolvConfContent(const DnsConfig& dns);

// GeneratePodHostNameAndDomain: hostname = spec.hostname or the pod name (truncated to 63
// characters, trailing '-' and '.' removed); domain = "<subdomain>.<ns>.svc.<cluster domain>"
// when spec.subdomain is set. Errors as upstream (`pod Hostname "X" is not a valid DNS label: ...`).
struct PodHostname {
  std::string hostname;
  std::string domain;
};
StatusOr<PodHostname> PodHostnameAndDomain(const JsonValue& pod, const std::string& cluster_domain);

// managedHostsFileContent, exactly:
//   # Kubernetes-managed hosts file.
//   127.0.0.1\tlocalhost
//   ::1\tlocalhost ip6-localhost ip6-loopback
//   fe00::0\tip6-localnet / fe00::0\tip6-mcastprefix / fe00::1\tip6-allnodes / fe00::2\tip6-allrouters
//   <ip>\t<hostname>.<domain>\t<hostname>   (or "<ip>\t<hostname>" without a domain), per pod IP
//   + "\n# Entries added by HostAliases.\n" and "<ip>\t<name>\t<name>..." per spec.hostAliases entry
std::string ManagedHostsContent(const std::vector<std::string>& pod_ips, const std::string& hostname,
                                const std::string& domain, const JsonValue* host_aliases);
// nodeHostsFileContent: "# Kubernetes-managed hosts file (host network).\n" + the node's file +
// the HostAliases section.
std::string HostNetworkHostsContent(std::string_view node_hosts_file, const JsonValue* host_aliases);

struct EtcFilesOptions {
  DnsOptions dns;
  std::string host_hosts_file = "/etc/hosts";  // the node's, for hostNetwork pods
  std::string node_hostname;                    // hostNetwork pods' /etc/hostname ("" = gethostname)
};

// What WritePodEtcFiles made.
struct PodEtcFiles {
  std::string hosts_path;     // <pod-dir>/etc-hosts; "" when not mounted (no pod IP yet, not hostNetwork)
  std::string resolv_path;    // <pod-dir>/resolv.conf
  std::string hostname_path;  // <pod-dir>/hostname
  std::string hostname;       // the pod's hostname (the node's for hostNetwork pods)
  DnsConfig dns;
  std::vector<PodEvent> events;
};

// Writes etc-hosts (0644; only when the pod has IPs or uses the host network, as
// shouldMountHostsFile), resolv.conf (0644; a copy of the host's file when the DNS config comes
// out empty, as containerd does) and hostname ("<hostname>\n", 0644) into pod_dir (which must
// exist). Call again when the pod IPs become known.
StatusOr<PodEtcFiles> WritePodEtcFiles(const std::string& pod_dir, const JsonValue& pod,
                                       const std::vector<std::string>& pod_ips, const EtcFilesOptions& options);

// The bind mounts of those files for a container: /etc/hosts (kubelet: read-write, private),
// /etc/hostname and /etc/resolv.conf (containerd: read-only when the container's
// securityContext.readOnlyRootFilesystem), each skipped when one of the container's volume
// mounts already targets that path.
std::vector<ContainerMount> EtcMountsFor(const PodEtcFiles& files, const JsonValue& container,
                                         const std::vector<ContainerMount>& volume_mounts);

// k3s's choice of the kubelet's --resolv-conf: /etc/resolv.conf unless all its nameservers are
// loopback, then /run/systemd/resolve/resolv.conf if it exists and has non-loopback servers,
// else "" (then the caller should write a file with 8.8.8.8, as k3s does).
std::string PickHostResolvConf();

}  // namespace minik::agent::volumes
