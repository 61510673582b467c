#include "server/server.h"

#include <arpa/inet.h>
#include <openssl/sha.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <thread>

#include "agent/agent.h"
#include "api/registry.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/strings.h"
#include "http/loop.h"
#include "http/server.h"
#include "pki/jwt.h"
#include "pki/pki.h"
#include "server/api_server.h"
#include "server/in_process_client.h"
#include "server/controllers/manager.h"
#include "server/in_process_api_client.h"
#include "server/in_process_transport.h"
#include "server/scheduler/scheduler_loop.h"
#include "server/metrics_api.h"
#include "server/node_proxy.h"
#include "server/streaming.h"
#include "server/manifests/default_manifests.h"
#include "server/manifests/deployer.h"
#include "server/object_store.h"
#include "store/sqlite_backend.h"

namespace minik::server {
namespace {

std::string DefaultAdvertiseAddress() {
  ifaddrs* ifs = nullptr;
  std::string found = "127.0.0.1";
  if (getifaddrs(&ifs) != 0) return found;
  for (ifaddrs* i = ifs; i; i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || (i->ifa_flags & IFF_LOOPBACK) || !(i->ifa_flags & IFF_UP)) continue;
    char buf[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr, buf, sizeof buf);
    found = buf;
    break;
  }
  freeifaddrs(ifs);
  return found;
}

std::string HostName() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof buf - 1) != 0) return "minik";
  std::string s(buf);
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

Status MakeDirs(const std::string& path, int mode) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return Status::Internal("creating " + path + ": " + ec.message());
  ::chmod(path.c_str(), static_cast<mode_t>(mode));
  return Status::OK();
}

// The cluster token: --token, else <data-dir>/server/token, else generated at first boot.
// The file holds k3s's format "K10<sha256 of the CA>::server:<secret>"; the secret is what
// agents present.
StatusOr<std::string> EnsureToken(const ServerConfig& cfg, const std::string& server_dir, const std::string& ca_pem) {
  std::string path = server_dir + "/token";
  std::string secret = cfg.token;
  auto existing = pki::ReadFile(path);
  if (secret.empty() && existing.ok()) {
    std::string t(Trim(*existing));
    auto pos = t.rfind("::server:");
    secret = pos == std::string::npos ? t : t.substr(pos + 9);
  }
  if (secret.empty()) {
    auto r = pki::RandomHex(16);
    if (!r.ok()) return r.error();
    secret = *r;
  }
  // K10 + hex SHA-256 of the CA bundle, as k3s writes it.
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(ca_pem.data()), ca_pem.size(), md);
  std::string hex;
  char b[3];
  for (unsigned char ch : md) {
    std::snprintf(b, sizeof b, "%02x", ch);
    hex += b;
  }
  std::string full = "K10" + hex + "::server:" + secret;
  if (!existing.ok() || std::string(Trim(*existing)) != full) {
    MINIK_RETURN_IF_ERROR(pki::WriteFileAtomic(path, full + "\n", 0600));
  }
  return secret;
}

std::string Kubeconfig(const std::string& server_url, const pki::ServerPki& p) {
  return "apiVersion: v1\n"
         "clusters:\n"
         "- cluster:\n"
         "    certificate-authority-data: " + Base64Encode(p.server_ca_pem) + "\n"
         "    server: " + server_url + "\n"
         "  name: default\n"
         "contexts:\n"
         "- context:\n"
         "    cluster: default\n"
         "    user: default\n"
         "  name: default\n"
         "current-context: default\n"
         "kind: Config\n"
         "preferences: {}\n"
         "users:\n"
         "- name: default\n"
         "  user:\n"
         "    client-certificate-data: " + Base64Encode(p.admin_cert_pem) + "\n"
         "    client-key-data: " + Base64Encode(p.admin_key_pem) + "\n";
}

}  // namespace

Status RunServer(const ServerConfig& cfg) {
  RealClock clock;
  int64_t t0 = clock.MonotonicMillis();
  SetLogLevel(cfg.log_level);
  std::string node_name = cfg.node_name.empty() ? HostName() : cfg.node_name;
  std::string advertise = cfg.advertise_address.empty()
                              ? (cfg.bind_address != "0.0.0.0" && cfg.bind_address != "::" ? cfg.bind_address
                                                                                           : DefaultAdvertiseAddress())
                              : cfg.advertise_address;
  std::string server_dir = cfg.data_dir + "/server";
  MINIK_RETURN_IF_ERROR(MakeDirs(server_dir, 0700));
  MINIK_RETURN_IF_ERROR(MakeDirs(server_dir + "/db", 0700));
  MINIK_RETURN_IF_ERROR(MakeDirs(server_dir + "/manifests", 0755));

  auto allocator = ServiceAllocator::Create(cfg.service_cidr);
  if (!allocator.ok()) return allocator.error();
  pki::ServerPkiOptions popts;
  popts.node_name = node_name;
  popts.service_ip = allocator->FirstIp();
  popts.extra_sans = {advertise};
  if (cfg.bind_address != "0.0.0.0" && cfg.bind_address != "::") popts.extra_sans.push_back(cfg.bind_address);
  auto pki = pki::EnsureServerPki(server_dir + "/tls", popts);
  if (!pki.ok()) return pki.error().WithContext("certificates");
  auto token = EnsureToken(cfg, server_dir, pki->server_ca_pem);
  if (!token.ok()) return token.error().WithContext("token");
  // The service account token signing key (k3s's server/tls/service.key), kept across restarts.
  auto sa_key = pki::EnsureRsaKeyFile(server_dir + "/tls/service.key");
  if (!sa_key.ok()) return sa_key.error().WithContext("service account key");

  // The loop outlives the datastore: the store's writer thread posts its last completions to it
  // while the backend shuts down.
  http::Loop loop;
  auto backend = store::SqliteBackend::Open(server_dir + "/db/state.db", store::SqliteOptions{});
  if (!backend.ok()) return backend.error().WithContext("opening the datastore");

  auto objects = ObjectStore::Open(loop, **backend);
  if (!objects.ok()) return objects.error();
  ApiServerOptions aopts;
  aopts.token = *token;
  aopts.advertise_address = advertise;
  aopts.port = cfg.https_listen_port;
  aopts.service_cidr = cfg.service_cidr;
  aopts.ca_pem = pki->server_ca_pem;
  aopts.service_account_key_pem = *sa_key;
  ApiServer api(loop, **objects, api::Registry::Builtin(), clock, aopts);
  // Agents' tunnels and pods/log, exec, attach, portforward.
  Streaming streaming(loop, **objects);
  api.set_streaming(&streaming);
  // nodes/proxy and metrics.k8s.io (kubectl top), through the agents' tunnels.
  NodeProxy node_proxy(loop, streaming, **objects);
  api.set_node_proxy(&node_proxy);
  client::LoopTimers metrics_timers(loop, clock);
  auto metrics_objects = NewStoreMetricsObjects(**objects);
  auto scrape_source = NewTunnelScrapeSource(streaming, node_proxy);
  MetricsApiOptions metrics_options;
  metrics_options.resolution_ms = cfg.metrics_resolution_ms;
  MetricsApi metrics_api(metrics_timers, *metrics_objects, *scrape_source, metrics_options);
  api.set_metrics_api(&metrics_api);

  http::Server https(loop, [&api](http::Request& req, http::ResponseWriterPtr resp) { api.Handle(req, std::move(resp)); });
  MINIK_RETURN_IF_ERROR(https.ConfigureTls({pki->serving_cert, pki->serving_key, pki->client_ca_cert}));
  MINIK_RETURN_IF_ERROR(https.Listen(cfg.bind_address, cfg.https_listen_port));
  MINIK_LOG(Info) << "minik " << "v1.32.0+minik" << " serving the Kubernetes API on https://" << cfg.bind_address << ":"
                  << https.port() << " (advertised as " << advertise << ")";

  InProcessClient client(loop, api, api::Registry::Builtin());
  // Controllers (and later the scheduler) are API clients like any other, over the in-process
  // transport, on this loop.
  client::LoopTimers timers(loop, clock);
  InProcessApiClient controller_client(loop, api, **objects, api::Registry::Builtin());
  client::SharedInformerFactory informers(controller_client, timers);
  controllers::EventRecorder scheduler_events(controller_client, clock, "default-scheduler");
  std::unique_ptr<controllers::ControllerManager> manager;
  std::unique_ptr<scheduler::SchedulerRunner> sched;
  std::unique_ptr<ManifestDeployer> deployer;
  std::unique_ptr<agent::Agent> embedded_agent;
  std::thread agent_thread;
  Status fatal;
  bool stopping = false;
  auto stop = [&]() {
    if (stopping) return;
    stopping = true;
    MINIK_LOG(Info) << "shutting down";
    auto finish = [&]() {
      streaming.Close();
      https.Close();
      loop.Stop();
    };
    // The deployer may be waiting on this loop inside an API call: stop it without blocking.
    // Controllers, the scheduler and their informers first: nothing may arm new timers or
    // watches while the loop winds down.
    if (embedded_agent) embedded_agent->Stop();
    if (manager) manager->Stop();
    if (sched) sched->Stop();
    informers.Stop();
    if (deployer) deployer->StopAsync([&loop, finish]() { loop.Post(finish); });
    else finish();
  };
  auto sigterm = loop.OnSignal(SIGTERM, stop);
  auto sigint = loop.OnSignal(SIGINT, stop);
  api.Bootstrap([&](Status st) {
    if (!st.ok()) {
      fatal = st;
      MINIK_LOG(Error) << "bootstrap failed: " << st.ToString();
      stop();
      return;
    }
    MINIK_LOG(Info) << "API server ready in " << (clock.MonotonicMillis() - t0) << " ms";
    // The admin kubeconfig.
    std::string host = cfg.bind_address == "0.0.0.0" || cfg.bind_address == "::" ? "127.0.0.1" : cfg.bind_address;
    if (host.find(':') != std::string::npos) host = "[" + host + "]";
    std::string url = "https://" + host + ":" + std::to_string(https.port());
    std::filesystem::path kc(cfg.write_kubeconfig);
    std::error_code ec;
    if (kc.has_parent_path()) std::filesystem::create_directories(kc.parent_path(), ec);
    int mode = static_cast<int>(std::strtol(cfg.write_kubeconfig_mode.c_str(), nullptr, 8));
    Status ws = pki::WriteFileAtomic(cfg.write_kubeconfig, Kubeconfig(url, *pki), mode);
    if (!ws.ok()) MINIK_LOG(Error) << "writing kubeconfig " << cfg.write_kubeconfig << ": " << ws.ToString();
    else MINIK_LOG(Info) << "wrote kubeconfig " << cfg.write_kubeconfig;
    // The manifests deployer runs on its own thread and talks to the API in-process.
    ManifestDeployer::Options mopts;
    mopts.dir = server_dir + "/manifests";
    mopts.state_file = server_dir + "/manifests-state.json";
    mopts.defaults = BuiltinManifests();
    mopts.template_vars = {{"%{CLUSTER_DNS}%", cfg.cluster_dns}, {"%{CLUSTER_DOMAIN}%", cfg.cluster_domain}};
    deployer = std::make_unique<ManifestDeployer>(mopts, client, clock);
    Status ds = deployer->Start();
    if (!ds.ok()) MINIK_LOG(Error) << "manifests deployer: " << ds.ToString();
    controllers::ManagerOptions copts;
    auto suffix = pki::RandomHex(4);
    copts.identity = node_name + "_" + (suffix.ok() ? *suffix : "0");
    copts.root_ca_pem = pki->server_ca_pem;
    copts.storage_dir = cfg.data_dir + "/storage";
    manager = std::make_unique<controllers::ControllerManager>(controller_client, informers, timers, copts);
    manager->Start();
    scheduler::SchedulerRunnerOptions sopts;
    sopts.identity = copts.identity;
    sched = std::make_unique<scheduler::SchedulerRunner>(controller_client, informers, timers, scheduler_events, sopts);
    sched->Start();
    if (!cfg.disable_agent) {
      // The embedded agent: the same code as a remote one, on a thread of its own, joining this
      // server over HTTPS on loopback.
      agent::AgentConfig ac;
      ac.server_url = "https://127.0.0.1:" + std::to_string(https.port());
      ac.token = *token;  // the bare secret: the agent takes the CA /cacerts serves on loopback
      ac.node_name = node_name;
      ac.data_dir = cfg.data_dir;
      ac.node_ip = cfg.node_ip;
      ac.node_labels = cfg.node_labels;
      ac.node_taints = cfg.node_taints;
      ac.extra_node_labels = {"node-role.kubernetes.io/control-plane=true", "node-role.kubernetes.io/master=true"};
      ac.cgroup_root = cfg.cgroup_root;
      ac.pod_logs_dir = cfg.pod_logs_dir;
      ac.private_registry = cfg.private_registry;
      ac.runtime = cfg.runtime;
      ac.cluster_dns = cfg.cluster_dns;
      ac.cluster_domain = cfg.cluster_domain;
      ac.log_level = cfg.log_level;
      embedded_agent = std::make_unique<agent::Agent>(ac);
      agent_thread = std::thread([&]() {
        Status st = embedded_agent->Run(false);
        if (!st.ok()) MINIK_LOG(Error) << "embedded agent: " << st.ToString();
      });
    }
  });
  loop.Run();
  if (embedded_agent) {
    embedded_agent->Stop();
    agent_thread.join();
    embedded_agent.reset();
  }
  sched.reset();
  manager.reset();
  informers.Stop();
  deployer.reset();
  return fatal;
}

}  // namespace minik::server
