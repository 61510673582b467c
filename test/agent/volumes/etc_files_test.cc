#include "agent/volumes/etc_files.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>

#include "test_util.h"

namespace minik::agent::volumes {
namespace {

using testing::Parse;
using testing::ReadAll;
using testing::TempDir;
using testing::WriteAll;

TEST_CASE("etc hosts: the kubelet's managed file, exactly") {
  JsonDoc aliases = Parse(R"([{"ip": "10.1.2.3", "hostnames": ["foo.local", "bar.local"]},
                              {"ip": "10.1.2.4", "hostnames": ["baz"]}])");
  CHECK(ManagedHostsContent({"10.42.0.5"}, "web-0", "", nullptr) ==
        "# Kubernetes-managed hosts file.\n"
        "127.0.0.1\tlocalhost\n"
        "::1\tlocalhost ip6-localhost ip6-loopback\n"
        "fe00::0\tip6-localnet\n"
        "fe00::0\tip6-mcastprefix\n"
        "fe00::1\tip6-allnodes\n"
        "fe00::2\tip6-allrouters\n"
        "10.42.0.5\tweb-0\n");
  CHECK(ManagedHostsContent({"10.42.0.5", "fd42::5"}, "web-0", "nginx.shop.svc.cluster.local", &aliases) ==
        "# Kubernetes-managed hosts file.\n"
        "127.0.0.1\tlocalhost\n"
        "::1\tlocalhost ip6-localhost ip6-loopback\n"
        "fe00::0\tip6-localnet\n"
        "fe00::0\tip6-mcastprefix\n"
        "fe00::1\tip6-allnodes\n"
        "fe00::2\tip6-allrouters\n"
        "10.42.0.5\tweb-0.nginx.shop.svc.cluster.local\tweb-0\n"
        "fd42::5\tweb-0.nginx.shop.svc.cluster.local\tweb-0\n"
        "\n"
        "# Entries added by HostAliases.\n"
        "10.1.2.3\tfoo.local\tbar.local\n"
        "10.1.2.4\tbaz\n");
  CHECK(HostNetworkHostsContent("127.0.0.1 localhost\n", &aliases) ==
        "# Kubernetes-managed hosts file (host network).\n"
        "127.0.0.1 localhost\n"
        "\n"
        "# Entries added by HostAliases.\n"
        "10.1.2.3\tfoo.local\tbar.local\n"
        "10.1.2.4\tbaz\n");
}

TEST_CASE("etc hosts: hostname and subdomain") {
  JsonDoc pod = Parse(R"({"metadata": {"name": "web-0", "namespace": "shop"},
                          "spec": {"hostname": "db", "subdomain": "nginx"}})");
  auto hn = PodHostnameAndDomain(pod, "cluster.local");
  REQUIRE(hn.ok());
  CHECK(hn->hostname == "db");
  CHECK(hn->domain == "nginx.shop.svc.cluster.local");
  JsonDoc long_name = Parse(R"({"metadata": {"name": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-bbbb", "namespace": "x"}})");
  CHECK(PodHostnameAndDomain(long_name, "cluster.local")->hostname == std::string(62, 'a'));
  JsonDoc bad = Parse(R"({"metadata": {"name": "p", "namespace": "x"}, "spec": {"hostname": "Bad_Name"}})");
  CHECK(PodHostnameAndDomain(bad, "cluster.local").status().message().rfind(
            "pod Hostname \"Bad_Name\" is not a valid DNS label: ", 0) == 0);
}

TEST_CASE("resolv.conf: parsing the host's file") {
  DnsConfig c = ParseResolvConf(
      "# comment\n"
      "nameserver 1.1.1.1\n"
      "search old.example\n"
      "nameserver 8.8.8.8\n"
      "search corp.example. . lab.example\n"
      "options ndots:2 timeout:1\n"
      "options ndots:3 rotate\n"
      "nameserver\n");
  CHECK(c.servers == std::vector<std::string>{"1.1.1.1", "8.8.8.8"});
  CHECK(c.searches == std::vector<std::string>{"corp.example", "lab.example"});
  CHECK(c.options == std::vector<std::string>{"ndots:3", "timeout:1", "rotate"});
}

TEST_CASE("resolv.conf: dnsPolicy and dnsConfig as the kubelet and containerd write them") {
  const char* host = "nameserver 192.168.1.1\nsearch home.lan\noptions edns0\n";
  DnsOptions opts;
  opts.cluster_dns = {"10.43.0.10"};
  auto render = [&](const std::string& spec, std::vector<PodEvent>* events = nullptr, DnsOptions o = {}) {
    if (o.cluster_dns.empty() && o.host_resolv_conf == "/etc/resolv.conf") o = opts;
    JsonDoc pod = Parse(R"({"metadata": {"name": "p", "namespace": "shop", "uid": "u1"}, "spec": {)" + spec + "}}");
    return ResolvConfContent(PodDnsConfig(pod, o, host, events));
  };
  CHECK(render("") ==
        "search shop.svc.cluster.local svc.cluster.local cluster.local home.lan\n"
        "nameserver 10.43.0.10\n"
        "options ndots:5\n");
  CHECK(render(R"("dnsPolicy": "ClusterFirst", "hostNetwork": true)") ==
        "search home.lan\nnameserver 192.168.1.1\noptions edns0\n");
  CHECK(render(R"("dnsPolicy": "ClusterFirstWithHostNet", "hostNetwork": true)") ==
        "search shop.svc.cluster.local svc.cluster.local cluster.local home.lan\n"
        "nameserver 10.43.0.10\n"
        "options ndots:5\n");
  CHECK(render(R"("dnsPolicy": "Default")") == "search home.lan\nnameserver 192.168.1.1\noptions edns0\n");
  CHECK(render(R"("dnsPolicy": "None", "dnsConfig": {"nameservers": ["1.2.3.4"], "searches": ["ns1.svc.cluster-domain.example", "my.dns.search.suffix"],
                  "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]})") ==
        "search ns1.svc.cluster-domain.example my.dns.search.suffix\n"
        "nameserver 1.2.3.4\n"
        "options ndots:2 edns0\n");
  CHECK(render(R"("dnsConfig": {"nameservers": ["10.43.0.10", "9.9.9.9"], "searches": ["svc.cluster.local", "extra"],
                  "options": [{"name": "ndots", "value": "1"}, {"name": "single-request-reopen"}]})") ==
        "search shop.svc.cluster.local svc.cluster.local cluster.local home.lan extra\n"
        "nameserver 10.43.0.10\nnameserver 9.9.9.9\n"
        "options ndots:1 single-request-reopen\n");

  std::vector<PodEvent> events;
  CHECK(render(R"("dnsConfig": {"nameservers": ["1.1.1.1", "2.2.2.2", "3.3.3.3"]})", &events) ==
        "search shop.svc.cluster.local svc.cluster.local cluster.local home.lan\n"
        "nameserver 10.43.0.10\nnameserver 1.1.1.1\nnameserver 2.2.2.2\n"
        "options ndots:5\n");
  REQUIRE(events.size() == 1);
  CHECK(events[0].reason == "DNSConfigForming");
  CHECK(events[0].message ==
        "Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: "
        "10.43.0.10 1.1.1.1 2.2.2.2");

  events.clear();
  DnsOptions no_dns;
  no_dns.cluster_dns = {};
  no_dns.host_resolv_conf = "/host/resolv.conf";
  CHECK(render("", &events, no_dns) == "search home.lan\nnameserver 192.168.1.1\noptions edns0\n");
  REQUIRE(events.size() == 1);
  CHECK(events[0].reason == "MissingClusterDNS");
  CHECK(events[0].message ==
        "pod: \"p_shop(u1)\". kubelet does not have ClusterDNS IP configured and cannot create Pod using "
        "\"ClusterFirst\" policy. Falling back to \"Default\" policy.");

  DnsOptions no_file;
  no_file.host_resolv_conf = "";
  no_file.node_ips = {"fd00::1"};
  CHECK(render(R"("dnsPolicy": "Default")", nullptr, no_file) == "search .\nnameserver ::1\n");
}

TEST_CASE("etc files: written into the pod directory and mounted") {
  TempDir tmp;
  std::string host_resolv = tmp.path() + "/host-resolv.conf";
  std::string host_hosts = tmp.path() + "/host-hosts";
  WriteAll(host_resolv, "nameserver 192.168.1.1\n");
  WriteAll(host_hosts, "127.0.0.1 localhost\n192.168.1.5 edge1\n");
  EtcFilesOptions opts;
  opts.dns.cluster_dns = {"10.43.0.10"};
  opts.dns.host_resolv_conf = host_resolv;
  opts.host_hosts_file = host_hosts;
  opts.node_hostname = "edge1";

  JsonDoc pod = Parse(R"({"metadata": {"name": "web-0", "namespace": "shop", "uid": "u"},
                          "spec": {"subdomain": "web"}})");
  SECTION("no pod IP yet: no /etc/hosts") {
    auto f = WritePodEtcFiles(tmp.path(), pod, {}, opts);
    REQUIRE(f.ok());
    CHECK(f->hosts_path.empty());
    CHECK(ReadAll(f->resolv_path) ==
          "search shop.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.43.0.10\noptions ndots:5\n");
    CHECK(ReadAll(f->hostname_path) == "web-0\n");
  }
  SECTION("pod network") {
    auto f = WritePodEtcFiles(tmp.path(), pod, {"10.42.0.9"}, opts);
    REQUIRE(f.ok());
    CHECK(f->hosts_path == tmp.path() + "/etc-hosts");
    CHECK(ReadAll(f->hosts_path) ==
          "# Kubernetes-managed hosts file.\n"
          "127.0.0.1\tlocalhost\n"
          "::1\tlocalhost ip6-localhost ip6-loopback\n"
          "fe00::0\tip6-localnet\n"
          "fe00::0\tip6-mcastprefix\n"
          "fe00::1\tip6-allnodes\n"
          "fe00::2\tip6-allrouters\n"
          "10.42.0.9\tweb-0.web.shop.svc.cluster.local\tweb-0\n");
    struct stat st;
    REQUIRE(::stat(f->hosts_path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0644);
    ino_t inode = st.st_ino;
    // Rewritten in place (a bind mount keeps seeing it).
    auto again = WritePodEtcFiles(tmp.path(), pod, {"10.42.0.10"}, opts);
    REQUIRE(again.ok());
    REQUIRE(::stat(f->hosts_path.c_str(), &st) == 0);
    CHECK(st.st_ino == inode);
    CHECK(ReadAll(f->hosts_path).find("10.42.0.10\tweb-0.web") != std::string::npos);

    JsonDoc c = Parse(R"({"name": "app", "securityContext": {"readOnlyRootFilesystem": true}})");
    auto mounts = EtcMountsFor(*f, c, {});
    REQUIRE(mounts.size() == 3);
    CHECK(mounts[0] == ContainerMount{"k8s-managed-etc-hosts", "/etc/hosts", tmp.path() + "/etc-hosts", false, false,
                                      MountPropagation::kPrivate});
    CHECK(mounts[1] == ContainerMount{"hostname", "/etc/hostname", tmp.path() + "/hostname", true, false,
                                      MountPropagation::kPrivate});
    CHECK(mounts[2] == ContainerMount{"resolv.conf", "/etc/resolv.conf", tmp.path() + "/resolv.conf", true, false,
                                      MountPropagation::kPrivate});
    std::vector<ContainerMount> own = {{"mine", "/etc/hosts", "/x", false, false, MountPropagation::kPrivate}};
    CHECK(EtcMountsFor(*f, c, own).size() == 2);
  }
  SECTION("host network") {
    JsonDoc hn = Parse(R"({"metadata": {"name": "agent", "namespace": "kube-system", "uid": "u"},
                           "spec": {"hostNetwork": true, "hostAliases": [{"ip": "10.0.0.1", "hostnames": ["reg"]}]}})");
    auto f = WritePodEtcFiles(tmp.path(), hn, {}, opts);
    REQUIRE(f.ok());
    CHECK(ReadAll(f->hosts_path) ==
          "# Kubernetes-managed hosts file (host network).\n"
          "127.0.0.1 localhost\n192.168.1.5 edge1\n"
          "\n# Entries added by HostAliases.\n10.0.0.1\treg\n");
    CHECK(ReadAll(f->resolv_path) == "nameserver 192.168.1.1\n");
    CHECK(ReadAll(f->hostname_path) == "edge1\n");
  }
}

}  // namespace
}  // namespace minik::agent::volumes
