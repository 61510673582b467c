#include "agent/node_agent.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <set>

#include <cstdio>
#include <filesystem>

#include "agent/images/airgap.h"
#include "agent/images/image_store.h"
#include "agent/kubelet/host.h"
#include "agent/kubelet/kubelet.h"
#include "agent/kubelet/log_compression.h"
#include "agent/kubelet/node_http.h"
#include "agent/kubelet/node_status.h"
#include "agent/kubelet/static_pods.h"
#include "agent/kubelet/streaming_backend.h"
#include "agent/kubelet/token_manager.h"
#include "agent/streaming/tunnel_client.h"
#include "agent/node_registration.h"
#include "agent/oci/cgroups.h"
#include "agent/registry/puller.h"
#include "agent/registry/registries_config.h"
#include "agent/runtime/runc_runtime.h"
#include "agent/volumes/mounter.h"
#include "agent/volumes/sources.h"
#include "agent/volumes/volume_manager.h"
#include "client/events.h"
#include "client/informer.h"
#include "common/log.h"
#include "common/work_pool.h"

namespace minik::agent {
namespace {

const client::ResourceRef kConfigMaps{"", "v1", "configmaps"};
const client::ResourceRef kSecrets{"", "v1", "secrets"};
const client::ResourceRef kPvcs{"", "v1", "persistentvolumeclaims"};
const client::ResourceRef kPvs{"", "v1", "persistentvolumes"};
const client::ResourceRef kServices{"", "v1", "services"};

// The kubelet's view of ConfigMaps, Secrets, PVCs and PVs: its informers' caches.
class InformerObjects final : public volumes::ObjectSource {
 public:
  InformerObjects(client::Informer& cms, client::Informer& secrets, client::Informer& pvcs, client::Informer& pvs)
      : cms_(cms), secrets_(secrets), pvcs_(pvcs), pvs_(pvs) {}
  volumes::ObjectPtr ConfigMap(const std::string& ns, const std::string& name) const override { return cms_.Get(ns, name); }
  volumes::ObjectPtr Secret(const std::string& ns, const std::string& name) const override { return secrets_.Get(ns, name); }
  volumes::ObjectPtr PersistentVolumeClaim(const std::string& ns, const std::string& name) const override {
    return pvcs_.Get(ns, name);
  }
  volumes::ObjectPtr PersistentVolume(const std::string& name) const override { return pvs_.Get("", name); }

 private:
  client::Informer& cms_;
  client::Informer& secrets_;
  client::Informer& pvcs_;
  client::Informer& pvs_;
};

std::string RuncVersion(const std::string& runtime) {
  std::string cmd = runtime + " --version 2>/dev/null";
  FILE* f = popen(cmd.c_str(), "r");
  if (!f) return "unknown";
  char buf[256] = {};
  std::string first = fgets(buf, sizeof buf, f) ? buf : "";
  pclose(f);
  // "runc version 1.1.5+ds1"
  auto pos = first.find("version ");
  if (pos == std::string::npos) return "unknown";
  std::string v = first.substr(pos + 8);
  while (!v.empty() && (v.back() == '\n' || v.back() == ' ')) v.pop_back();
  return v;
}

}  // namespace

std::string DefaultNodeName(const AgentConfig& config) {
  if (!config.node_name.empty()) return config.node_name;
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0 || !buf[0]) return "localhost";
  std::string s = buf;
  for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

std::string DefaultNodeIp(const AgentConfig& config) {
  if (!config.node_ip.empty()) return config.node_ip;
  struct ifaddrs* ifs = nullptr;
  std::string ip = "127.0.0.1";
  if (getifaddrs(&ifs) != 0) return ip;
  for (auto* i = ifs; i; i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || !(i->ifa_flags & IFF_UP) || (i->ifa_flags & IFF_LOOPBACK))
      continue;
    char b[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr, b, sizeof b);
    ip = b;
    break;
  }
  freeifaddrs(ifs);
  return ip;
}

struct NodeAgent::Impl {
  http::Loop& loop;
  client::ApiClient& api;
  client::Timers& timers;
  AgentConfig cfg;
  std::string agent_dir;
  std::string node_name;
  std::string node_ip;

  // Declared in dependency order: destroyed in reverse.
  std::unique_ptr<WorkPool> pool;
  images::ImageStorePtr images;
  std::unique_ptr<registry::Puller> puller;
  oci::CgroupsPtr cgroups;
  volumes::MounterPtr mounter;
  std::unique_ptr<kubelet::TokenManager> tokens;
  std::unique_ptr<volumes::VolumeManager> volumes;
  std::unique_ptr<client::Informer> cms, secrets, pvcs, pvs, services;
  std::unique_ptr<InformerObjects> objects;
  runtime::RuntimePtr runtime;
  std::unique_ptr<kubelet::RealPodHost> host;
  std::unique_ptr<client::EventRecorder> events;
  std::unique_ptr<kubelet::Kubelet> kubelet;
  std::unique_ptr<kubelet::NodeStatus> node_status;
  std::unique_ptr<NodeRegistration> registration;
  std::unique_ptr<images::AirgapImporter> airgap;
  kubelet::MachineFacts facts;

  http::ClientOptions server;
  std::unique_ptr<http::Client> tunnel_http;
  std::unique_ptr<kubelet::KubeletStreaming> streaming;
  kubelet::MachineStatsPtr machine;
  std::unique_ptr<kubelet::KubeletHttp> kubelet_http;
  std::unique_ptr<streaming::TunnelClient> tunnel;

  Impl(http::Loop& l, client::ApiClient& a, client::Timers& t, const AgentConfig& c, http::ClientOptions s)
      : loop(l), api(a), timers(t), cfg(c), server(std::move(s)) {}

  ~Impl() {
    tunnel.reset();
    streaming.reset();
    tunnel_http.reset();
    status_timer.reset();
    gc_timer.reset();
    log_timer.reset();
    manifests_watch.reset();
    manifests_timer.reset();
    airgap.reset();
    if (registration) registration->Stop();
    if (kubelet) kubelet->Stop();
    for (auto* inf : {cms.get(), secrets.get(), pvcs.get(), pvs.get(), services.get()}) {
      if (inf) inf->Stop();
    }
    kubelet.reset();
    // Volume set-ups waiting for a token give up now: they run on the pool, joined next.
    if (tokens) tokens->Shutdown();
    // Blocking work in flight finishes before the objects it uses go.
    pool.reset();
  }

  // Every 10 s (the kubelet's nodeStatusUpdateFrequency): post the status when a condition or the
  // image list changed.
  http::HandlePtr status_timer;
  size_t posted_images = 0;
  void CheckStatus() {
    auto imgs = NodeImages();
    node_status->Build(kubelet::MachineFacts::Read(agent_dir), imgs);
    if (node_status->changed() || imgs.size() != posted_images) {
      posted_images = imgs.size();
      registration->ReportStatus();
    }
    status_timer = timers.After(10000, [this]() { CheckStatus(); });
  }

  // Image garbage collection, as the kubelet's defaults: every 5 minutes, when the filesystem of
  // the image store is more than 85 % full, remove unused images (least recently used first)
  // until it is 80 % full.
  http::HandlePtr gc_timer;
  bool gc_running = false;
  void ImageGc() {
    gc_timer = timers.After(5 * 60 * 1000, [this]() { ImageGc(); });
    if (gc_running || !kubelet) return;
    gc_running = true;
    std::vector<std::string> refs = kubelet->ImagesInUse();
    std::string dir = agent_dir + "/content";
    images::ImageStore* store = images.get();
    pool->Submit([this, refs, dir, store]() {
      struct statvfs vfs;
      int64_t freed = 0;
      if (statvfs(dir.c_str(), &vfs) == 0 && vfs.f_blocks > 0) {
        double total = static_cast<double>(vfs.f_blocks) * static_cast<double>(vfs.f_frsize);
        double avail = static_cast<double>(vfs.f_bavail) * static_cast<double>(vfs.f_frsize);
        double used = total - avail;
        if (used > 0.85 * total) {
          std::set<std::string> in_use;
          for (const auto& r : refs) {
            if (auto img = store->Resolve(r); img.ok()) in_use.insert(img->id);
          }
          freed = store->GarbageCollect(in_use, static_cast<int64_t>(used - 0.80 * total));
        }
      }
      loop.Post([this, freed]() {
        gc_running = false;
        if (freed > 0) {
          MINIK_LOG(Info) << "image garbage collection freed " << freed << " bytes";
          if (registration) registration->ReportStatus();
        }
      });
    });
  }

  // Rotated container logs (the shims rotate them) gzipped but the newest of each, every 10 s as
  // the kubelet's container log manager monitors them; links left dangling by pods removed while
  // the agent was down go.
  http::HandlePtr log_timer;
  bool logs_running = false;
  void CompressLogs() {
    log_timer = timers.After(10000, [this]() { CompressLogs(); });
    if (logs_running) return;
    logs_running = true;
    pool->Submit([this, dir = cfg.pod_logs_dir]() {
      kubelet::CompressRotatedLogs(dir);
      kubelet::RemoveDanglingLogLinks(std::filesystem::path(dir).parent_path().string() + "/containers");
      loop.Post([this]() { logs_running = false; });
    });
  }

  // Static pods: the manifest directory, read at start and on every change (debounced).
  http::HandlePtr manifests_watch, manifests_timer;
  void LoadStaticPods() {
    auto r = kubelet::LoadStaticPods(agent_dir + "/pod-manifests", node_name, timers.clock());
    for (const auto& e : r.errors) MINIK_LOG(Warning) << "static pod " << e;
    kubelet->SetStaticPods(r.pods);
  }
  void WatchStaticPods() {
    LoadStaticPods();
    auto w = loop.WatchPath(agent_dir + "/pod-manifests", [this](const std::string&) {
      manifests_timer = timers.After(200, [this]() { LoadStaticPods(); });
    });
    if (w.ok()) manifests_watch = std::move(*w);
    else MINIK_LOG(Warning) << "watching " << agent_dir << "/pod-manifests: " << w.error().ToString();
  }

  std::vector<kubelet::NodeImage> NodeImages() {
    std::vector<kubelet::NodeImage> out;
    if (!images) return out;
    for (const auto& img : images->List()) {
      kubelet::NodeImage ni;
      ni.names = img.repo_digests;
      for (const auto& r : img.refs) {
        if (r.find('@') == std::string::npos) ni.names.push_back(r);
      }
      ni.size_bytes = img.size;
      out.push_back(std::move(ni));
    }
    return out;
  }

  Status Start() {
    agent_dir = cfg.data_dir + "/agent";
    node_name = DefaultNodeName(cfg);
    node_ip = DefaultNodeIp(cfg);
    std::error_code ec;
    for (const char* d : {"", "/content", "/images", "/pods", "/bundles", "/run", "/containers", "/runc",
                          "/pod-manifests"}) {
      std::filesystem::create_directories(agent_dir + d, ec);
      if (ec) return Status::Internal("creating " + agent_dir + d + ": " + ec.message());
    }
    std::filesystem::create_directories(cfg.pod_logs_dir, ec);
    if (ec) return Status::Internal("creating " + cfg.pod_logs_dir + ": " + ec.message());
    // Starting a container holds a thread while runc creates it (~300 ms here): enough threads
    // for a burst of pods to start in parallel.
    pool = std::make_unique<WorkPool>(8);
    auto store = images::ImageStore::Open(agent_dir + "/content");
    if (!store.ok()) return store.error();
    images = std::move(*store);
    auto regs = registry::RegistriesConfig::Load(cfg.private_registry);
    if (!regs.ok()) return Status::Invalid(cfg.private_registry + ": " + regs.error().message());
    puller = std::make_unique<registry::Puller>(*images, *regs);
    oci::CgroupsOptions co;
    co.root = cfg.cgroup_root;
    auto cg = oci::NewCgroups(co);
    if (!cg.ok()) return cg.error();
    cgroups = std::move(*cg);
    if (Status st = cgroups->EnsureRoot(); !st.ok()) return st;
    mounter = volumes::NewRealMounter();
    volumes::VolumeManagerOptions vo;
    vo.pods_dir = agent_dir + "/pods";
    // Service account tokens of projected volumes; a due refresh updates the pod's volumes.
    tokens = std::make_unique<kubelet::TokenManager>(&loop, api, timers, [this](const std::string& ns, const std::string&) {
      if (kubelet) kubelet->ObjectChanged(ns);
    });
    volumes = std::make_unique<volumes::VolumeManager>(vo, *mounter, timers.clock(), tokens.get());

    facts = kubelet::MachineFacts::Read(agent_dir);
    kubelet::NodeOptions no;
    no.name = node_name;
    no.ip = node_ip;
    no.labels = cfg.extra_node_labels;
    no.labels.insert(no.labels.end(), cfg.node_labels.begin(), cfg.node_labels.end());
    no.taints = cfg.node_taints;
    no.runtime_version = cfg.runtime + "://" + RuncVersion(cfg.runtime);
    node_status = std::make_unique<kubelet::NodeStatus>(timers.clock(), no);

    client::InformerOptions io;
    io.builtin_indexes = false;
    cms = std::make_unique<client::Informer>(api, timers, kConfigMaps, io);
    secrets = std::make_unique<client::Informer>(api, timers, kSecrets, io);
    pvcs = std::make_unique<client::Informer>(api, timers, kPvcs, io);
    pvs = std::make_unique<client::Informer>(api, timers, kPvs, io);
    services = std::make_unique<client::Informer>(api, timers, kServices, io);
    objects = std::make_unique<InformerObjects>(*cms, *secrets, *pvcs, *pvs);

    runtime::RuncOptions ro;
    ro.runtime = cfg.runtime;
    ro.runtime_root = agent_dir + "/runc";
    ro.state_root = agent_dir + "/containers";
    runtime = runtime::NewRuncRuntime(loop, *pool, ro);

    kubelet::HostOptions ho;
    ho.agent_dir = agent_dir;
    ho.node_name = node_name;
    ho.node_ip = node_ip;
    ho.cluster_domain = cfg.cluster_domain;
    if (!cfg.cluster_dns.empty()) ho.cluster_dns = {cfg.cluster_dns};
    ho.allocatable_cpu = std::to_string(facts.cpus);
    ho.allocatable_memory = std::to_string(std::max<int64_t>(0, facts.memory_bytes - 100LL * 1024 * 1024));
    kubelet::HostCaches caches;
    caches.objects = objects.get();
    caches.services = [this]() {
      std::vector<volumes::ObjectPtr> out;
      for (const auto& s : services->List()) out.push_back(s);
      return out;
    };
    caches.services_synced = [this]() { return services->HasSynced(); };
    host = std::make_unique<kubelet::RealPodHost>(loop, *pool, *images, puller.get(), *cgroups, *volumes, caches, ho);
    events = std::make_unique<client::EventRecorder>(api, timers.clock(), "kubelet", node_name);
    kubelet::KubeletOptions ko;
    ko.node_name = node_name;
    ko.node_ip = node_ip;
    ko.logs_dir = cfg.pod_logs_dir;
    ko.container_links_dir = std::filesystem::path(cfg.pod_logs_dir).parent_path().string() + "/containers";
    kubelet = std::make_unique<kubelet::Kubelet>(api, timers, *runtime, *host, *events, ko);

    // kubectl logs, exec, attach, port-forward: through a tunnel this agent opens to the server.
    auto hc = http::Client::Create(loop, server);
    if (!hc.ok()) return hc.error();
    tunnel_http = std::move(*hc);
    streaming = std::make_unique<kubelet::KubeletStreaming>(
        loop, *pool, *kubelet, *runtime, [this](const std::string& uid) { return host->NetnsPath(uid); });
    streaming::TunnelClientOptions to;
    to.node_name = node_name;
    tunnel = std::make_unique<streaming::TunnelClient>(loop, *tunnel_http, *streaming, to);
    // nodes/proxy and the metrics API's scrapes: /healthz, /stats/summary, /metrics/resource, /metrics.
    machine = kubelet::NewProcMachineStats();
    kubelet::KubeletStatsSource src;
    src.pods = [this]() { return kubelet->StatsRefs(); };
    src.pod_list = [this]() { return kubelet->PodListJson(); };
    src.running_pods = [this]() { return kubelet->running_pods(); };
    src.container_states = [this]() { return kubelet->container_states(); };
    src.metrics = [this]() { return kubelet->metrics(); };
    kubelet::KubeletHttpOptions kho;
    kho.node_name = node_name;
    kho.dirs = {agent_dir, agent_dir + "/content"};
    kho.offload = [this](std::function<void()> fn) { pool->Submit(std::move(fn)); };
    kho.post = [this](std::function<void()> fn) { loop.Post(std::move(fn)); };
    kubelet_http = std::make_unique<kubelet::KubeletHttp>(std::move(src), *cgroups, *machine, timers.clock(), kho);
    tunnel->SetHttpHandler(kubelet_http.get());
    tunnel->Start();

    // ConfigMap and Secret changes reach the pods' volumes.
    client::EventHandlers refresh;
    auto changed = [this](const client::ObjectPtr& o) {
      if (kubelet) kubelet->ObjectChanged(std::string(client::MetaString(*o, "namespace")));
    };
    refresh.on_add = changed;
    refresh.on_update = [changed](const client::ObjectPtr&, const client::ObjectPtr& o) { changed(o); };
    refresh.on_delete = [changed](const client::ObjectPtr& o, bool) { changed(o); };
    cms->AddEventHandler(refresh);
    secrets->AddEventHandler(refresh);
    for (auto* inf : {cms.get(), secrets.get(), pvcs.get(), pvs.get(), services.get()}) inf->Run();

    airgap = std::make_unique<images::AirgapImporter>(loop, *pool, *images, agent_dir + "/images",
                                                      [this](std::vector<images::Image> imported) {
                                                        if (imported.empty()) return;
                                                        if (registration) registration->ReportStatus();
                                                        if (kubelet) kubelet->RetryWaitingPods();
                                                      });
    if (Status st = airgap->Start(); !st.ok()) MINIK_LOG(Warning) << "air-gap images: " << st.ToString();

    NodeRegistrationOptions rop;  // status every 5 minutes, or at once when it changed (below)
    registration = std::make_unique<NodeRegistration>(
        api, timers, node_name,
        [this]() {
          facts = kubelet::MachineFacts::Read(agent_dir);
          return node_status->Build(facts, NodeImages());
        },
        rop);
    registration->Start([this]() {
      MINIK_LOG(Info) << "node " << node_name << " registered (" << node_ip << ")";
      kubelet->Start();
      CheckStatus();
      ImageGc();
      CompressLogs();
      WatchStaticPods();
      api.Get(client::ResourceRef{"", "v1", "nodes"}, "", node_name, [this](StatusOr<JsonDoc> n) {
        if (n.ok() && kubelet) kubelet->SetNodeUid(std::string(client::MetaString(*n, "uid")));
      });
    });
    return Status::OK();
  }
};

NodeAgent::NodeAgent(http::Loop& loop, client::ApiClient& api, client::Timers& timers, const AgentConfig& config,
                     http::ClientOptions server)
    : impl_(std::make_unique<Impl>(loop, api, timers, config, std::move(server))) {}

NodeAgent::~NodeAgent() = default;

Status NodeAgent::Start() { return impl_->Start(); }

void NodeAgent::Stop() {
  impl_->tunnel.reset();
  impl_->status_timer.reset();
  impl_->gc_timer.reset();
  impl_->log_timer.reset();
  impl_->manifests_watch.reset();
  impl_->manifests_timer.reset();
  if (impl_->registration) impl_->registration->Stop();
  if (impl_->kubelet) impl_->kubelet->Stop();
  impl_->airgap.reset();
}

}  // namespace minik::agent
