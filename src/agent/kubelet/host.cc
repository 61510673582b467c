#include "agent/kubelet/host.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <set>
#include <filesystem>
#include <fstream>

#include "agent/oci/mounts.h"
#include "agent/oci/namespaces.h"
#include "agent/oci/spec.h"
#include "agent/oci/user.h"
#include "agent/registry/credentials.h"
#include "agent/registry/puller.h"
#include "agent/volumes/env.h"
#include "api/quantity.h"
#include "client/api_client.h"
#include "common/log.h"
#include "common/strings.h"

namespace minik::agent::kubelet {
namespace {

namespace fs = std::filesystem;

std::string Str(const JsonValue* v) { return v && v->IsString() ? std::string(v->GetString(), v->GetStringLength()) : ""; }

std::vector<std::string> StringList(const JsonValue* v) {
  std::vector<std::string> out;
  if (v && v->IsArray()) {
    for (const auto& e : v->GetArray()) {
      if (e.IsString()) out.emplace_back(e.GetString(), e.GetStringLength());
    }
  }
  return out;
}

const JsonValue* FindContainer(const JsonValue& pod, const std::string& name) {
  for (const char* kind : {"containers", "initContainers", "ephemeralContainers"}) {
    const JsonValue* cs = Path(pod, {"spec", kind});
    if (!cs || !cs->IsArray()) continue;
    for (const auto& c : cs->GetArray()) {
      if (Str(Member(c, "name")) == name) return &c;
    }
  }
  return nullptr;
}

int64_t Milli(const JsonValue* v) {
  if (!v || !v->IsString()) return 0;
  auto q = api::ParseQuantity(v->GetString());
  if (!q.ok()) return 0;
  return q->MilliValue().value_or(0);
}

int64_t Bytes(const JsonValue* v) {
  if (!v || !v->IsString()) return 0;
  auto q = api::ParseQuantity(v->GetString());
  if (!q.ok()) return 0;
  return q->Value().value_or(0);
}

oci::ContainerResourceSpec ResourcesOf(const JsonValue& c) {
  oci::ContainerResourceSpec r;
  r.cpu_request_milli = Milli(Path(c, {"resources", "requests", "cpu"}));
  r.cpu_limit_milli = Milli(Path(c, {"resources", "limits", "cpu"}));
  r.memory_request = Bytes(Path(c, {"resources", "requests", "memory"}));
  r.memory_limit = Bytes(Path(c, {"resources", "limits", "memory"}));
  return r;
}

std::vector<oci::ContainerResourceSpec> ResourcesOfAll(const JsonValue& pod, const char* kind) {
  std::vector<oci::ContainerResourceSpec> out;
  if (const JsonValue* cs = Path(pod, {"spec", kind}); cs && cs->IsArray()) {
    for (const auto& c : cs->GetArray()) out.push_back(ResourcesOf(c));
  }
  return out;
}

// The securityContext field of the container, else of the pod.
const JsonValue* SecurityField(const JsonValue& pod, const JsonValue& c, const char* field) {
  if (const JsonValue* v = Path(c, {"securityContext", field}); v && !v->IsNull()) return v;
  if (const JsonValue* v = Path(pod, {"spec", "securityContext", field}); v && !v->IsNull()) return v;
  return nullptr;
}

// The kubelet's OOM score adjustment by QoS class (pkg/kubelet/qos/policy.go).
int OomScoreAdj(const JsonValue& pod, const JsonValue& c, int64_t memory_capacity) {
  std::string qos = Str(Path(pod, {"status", "qosClass"}));
  if (qos == "Guaranteed") return -997;
  if (qos == "BestEffort") return 1000;
  int64_t request = Bytes(Path(c, {"resources", "requests", "memory"}));
  if (memory_capacity <= 0) return 999;
  int64_t adj = 1000 - (1000 * request) / memory_capacity;
  if (adj < 2) adj = 2;
  if (adj >= 1000) adj = 999;
  return static_cast<int>(adj);
}

std::string PullPolicy(const JsonValue& c, const std::string& image) {
  std::string p = Str(Member(c, "imagePullPolicy"));
  if (!p.empty()) return p;
  // The API server defaults it; objects written without it follow the same rule.
  auto at = image.find('@');
  std::string name = at == std::string::npos ? image : image.substr(0, at);
  auto slash = name.rfind('/');
  auto colon = name.rfind(':');
  bool tagged = colon != std::string::npos && (slash == std::string::npos || colon > slash);
  if (at != std::string::npos) return "IfNotPresent";
  if (!tagged || name.substr(colon + 1) == "latest") return "Always";
  return "IfNotPresent";
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// One probe connection, blocking with a deadline (runs on a pool thread, inside the pod's netns).
struct CheckResult {
  bool ok = false;
  std::string message;
};

CheckResult RunCheck(const NetCheck& c) {
  CheckResult r;
  std::string host = c.host.empty() ? "127.0.0.1" : c.host;
  int64_t deadline = NowMs() + std::max<int64_t>(c.timeout_ms, 1);
  auto remaining = [&]() { return static_cast<int>(std::max<int64_t>(0, deadline - NowMs())); };
  std::string target = host + ":" + std::to_string(c.port);
  std::string url = (c.scheme == "HTTPS" ? "https://" : "http://") + target + c.path;
  auto dial_error = [&](const std::string& why) {
    std::string msg = "dial tcp " + target + ": " + why;
    return c.http ? "Get \"" + url + "\": " + msg : msg;
  };
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(c.port));
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    addrinfo hints{}, *res = nullptr;
    hints.ai_family = AF_INET;
    if (getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0 || !res) {
      r.message = dial_error("lookup " + host + ": no such host");
      return r;
    }
    addr.sin_addr = reinterpret_cast<sockaddr_in*>(res->ai_addr)->sin_addr;
    freeaddrinfo(res);
  }
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    r.message = dial_error(std::string("socket: ") + strerror(errno));
    return r;
  }
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{fd};
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 && errno != EINPROGRESS) {
    r.message = dial_error(std::string("connect: ") + (errno == ECONNREFUSED ? "connection refused" : strerror(errno)));
    return r;
  }
  pollfd pfd{fd, POLLOUT, 0};
  if (poll(&pfd, 1, remaining()) <= 0) {
    r.message = dial_error("i/o timeout");
    return r;
  }
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) {
    r.message = dial_error(std::string("connect: ") + (err == ECONNREFUSED ? "connection refused" : strerror(err)));
    return r;
  }
  if (!c.http) {
    r.ok = true;
    return r;
  }
  // HTTP GET, as the kubelet's prober sends it (no TLS verification for HTTPS).
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  timeval tv{remaining() / 1000, (remaining() % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  std::string req = "GET " + c.path + " HTTP/1.1\r\nHost: " + target + "\r\n";
  bool has_ua = false, has_accept = false;
  for (const auto& [k, v] : c.headers) {
    req += k + ": " + v + "\r\n";
    std::string lk = k;
    for (auto& ch : lk) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    has_ua |= lk == "user-agent";
    has_accept |= lk == "accept";
  }
  if (!has_ua) req += "User-Agent: kube-probe/1.32\r\n";
  if (!has_accept) req += "Accept: */*\r\n";
  req += "Connection: close\r\n\r\n";
  SSL_CTX* ctx = nullptr;
  SSL* ssl = nullptr;
  if (c.scheme == "HTTPS") {
    ctx = SSL_CTX_new(TLS_client_method());
    ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    if (SSL_connect(ssl) != 1) {
      SSL_free(ssl);
      SSL_CTX_free(ctx);
      r.message = "Get \"" + url + "\": TLS handshake failed";
      return r;
    }
  }
  auto send_all = [&](const std::string& data) {
    if (ssl) return SSL_write(ssl, data.data(), static_cast<int>(data.size())) > 0;
    return send(fd, data.data(), data.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(data.size());
  };
  std::string head;
  if (send_all(req)) {
    char buf[1024];
    while (head.find("\r\n") == std::string::npos && head.size() < 8192) {
      int n = ssl ? SSL_read(ssl, buf, sizeof buf) : static_cast<int>(recv(fd, buf, sizeof buf, 0));
      if (n <= 0) break;
      head.append(buf, static_cast<size_t>(n));
    }
  }
  if (ssl) {
    SSL_free(ssl);
    SSL_CTX_free(ctx);
  }
  auto sp = head.find(' ');
  if (head.rfind("HTTP/", 0) != 0 || sp == std::string::npos) {
    r.message = "Get \"" + url + "\": " + (head.empty() ? "context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
                                                          : "malformed HTTP response");
    return r;
  }
  int status = std::atoi(head.c_str() + sp + 1);
  r.ok = status >= 200 && status < 400;
  if (!r.ok) r.message = "HTTP probe failed with statuscode: " + std::to_string(status);
  return r;
}

}  // namespace

struct RealPodHost::Snapshot {
  client::ObjectPtr pod;
  std::shared_ptr<volumes::MapObjectSource> objects;
  std::vector<volumes::ObjectPtr> services;
  bool services_synced = true;
  registry::Credentials pull_credentials;
};

RealPodHost::RealPodHost(http::Loop& loop, WorkPool& pool, images::ImageStore& images, registry::Puller* puller,
                         oci::Cgroups& cgroups, volumes::VolumeManager& volumes, HostCaches caches, HostOptions options)
    : loop_(loop),
      pool_(pool),
      images_(images),
      puller_(puller),
      cgroups_(cgroups),
      volumes_(volumes),
      caches_(std::move(caches)),
      options_(std::move(options)),
      alive_(std::make_shared<bool>(true)) {}

RealPodHost::~RealPodHost() { *alive_ = false; }

template <typename T>
void RealPodHost::OffLoop(std::function<T()> fn, std::function<void(T)> done) {
  std::weak_ptr<bool> alive = alive_;
  http::Loop* loop = &loop_;
  pool_.Submit([fn = std::move(fn), done = std::move(done), alive, loop]() mutable {
    auto result = std::make_shared<T>(fn());
    loop->Post([result, done = std::move(done), alive]() {
      if (!alive.expired()) done(std::move(*result));
    });
  });
}

std::shared_ptr<RealPodHost::Snapshot> RealPodHost::TakeSnapshot(const client::ObjectPtr& pod) {
  auto s = std::make_shared<Snapshot>();
  s->pod = pod;
  if (caches_.objects) {
    s->objects = volumes::SnapshotReferencedObjects(*pod, *caches_.objects);
    // imagePullSecrets.
    std::string ns(client::MetaString(*pod, "namespace"));
    if (const JsonValue* ips = Path(*pod, {"spec", "imagePullSecrets"}); ips && ips->IsArray()) {
      for (const auto& ref : ips->GetArray()) {
        auto secret = caches_.objects->Secret(ns, Str(Member(ref, "name")));
        if (!secret) continue;
        std::string cfgjson, cfg;
        Base64Decode(Str(Path(*secret, {"data", ".dockerconfigjson"})), &cfgjson);
        Base64Decode(Str(Path(*secret, {"data", ".dockercfg"})), &cfg);
        Status st = registry::AddPullSecret(s->pull_credentials, Str(Member(*secret, "type")), cfgjson, cfg);
        if (!st.ok()) MINIK_LOG(Warning) << "pull secret " << ns << "/" << Str(Member(ref, "name")) << ": " << st.ToString();
      }
    }
  } else {
    s->objects = std::make_shared<volumes::MapObjectSource>();
  }
  if (caches_.services) s->services = caches_.services();
  if (caches_.services_synced) s->services_synced = caches_.services_synced();
  return s;
}

volumes::NodeInfo RealPodHost::Node(const std::vector<std::string>& pod_ips) const {
  volumes::NodeInfo n;
  n.node_name = options_.node_name;
  if (!options_.node_ip.empty()) n.host_ips = {options_.node_ip};
  n.pod_ips = pod_ips;
  n.allocatable_cpu = options_.allocatable_cpu;
  n.allocatable_memory = options_.allocatable_memory;
  n.allocatable_ephemeral_storage = options_.allocatable_ephemeral_storage;
  return n;
}

void RealPodHost::SetUpPod(const client::ObjectPtr& pod, std::function<void(Outcome<SandboxInfo>)> done) {
  auto snap = TakeSnapshot(pod);
  OffLoop<Outcome<SandboxInfo>>(
      [this, snap]() -> Outcome<SandboxInfo> {
        const JsonValue& p = *snap->pod;
        std::string uid(client::MetaString(p, "uid"));
        Outcome<SandboxInfo> out;
        bool host_network = GetBool(*Member(p, "spec"), "hostNetwork").value_or(false);
        bool host_ipc = GetBool(*Member(p, "spec"), "hostIPC").value_or(false);
        // Cgroup with the pod's limits.
        oci::CgroupLimits limits = oci::PodLimits(ResourcesOfAll(p, "containers"), ResourcesOfAll(p, "initContainers"));
        if (Status st = cgroups_.CreatePod(uid, limits); !st.ok()) {
          out.failure = {"FailedCreatePodSandBox", "Failed to create pod sandbox: " + st.message()};
          return out;
        }
        // Namespaces.
        auto host = volumes::PodHostnameAndDomain(p, options_.cluster_domain);
        oci::PodNamespaceOptions no;
        no.run_dir = RunDir();
        no.pod_uid = uid;
        no.hostname = host.ok() ? host->hostname : std::string(client::MetaString(p, "name"));
        no.host_network = host_network;
        no.host_ipc = host_ipc;
        auto ns = oci::CreatePodNamespaces(no);
        if (!ns.ok()) {
          out.failure = {"FailedCreatePodSandBox", "Failed to create pod sandbox: " + ns.error().message()};
          return out;
        }
        std::vector<std::string> pod_ips;
        if (host_network && !options_.node_ip.empty()) pod_ips = {options_.node_ip};
        // Volumes.
        volumes::SetUpResult vr = volumes_.SetUp(p, *snap->objects, Node(pod_ips));
        if (!vr.ok()) {
          std::string msg;
          for (const auto& e : vr.errors) msg += (msg.empty() ? "" : "; ") + e.EventMessage();
          out.failure = {"FailedMount", msg};
          return out;
        }
        // /etc/hosts, /etc/resolv.conf, /etc/hostname.
        volumes::EtcFilesOptions eo;
        eo.dns.cluster_domain = options_.cluster_domain;
        eo.dns.cluster_dns = options_.cluster_dns;
        eo.dns.host_resolv_conf = volumes::PickHostResolvConf();
        if (!options_.node_ip.empty()) eo.dns.node_ips = {options_.node_ip};
        auto etc = volumes::WritePodEtcFiles(volumes_.PodDir(uid), p, pod_ips, eo);
        if (!etc.ok()) {
          out.failure = {"FailedCreatePodSandBox", "Failed to create pod sandbox: " + etc.error().message()};
          return out;
        }
        {
          std::lock_guard<std::mutex> l(mu_);
          etc_[uid] = *etc;
          netns_[uid] = ns->net;
          ipcns_[uid] = ns->ipc;
          utsns_[uid] = ns->uts;
        }
        SandboxInfo info;
        if (host_network) info.pod_ip = options_.node_ip;
        out.value = info;
        return out;
      },
      std::move(done));
}

void RealPodHost::UpdateVolumes(const client::ObjectPtr& pod) {
  auto snap = TakeSnapshot(pod);
  OffLoop<int>(
      [this, snap]() {
        std::vector<std::string> pod_ips;
        volumes::SetUpResult r = volumes_.Update(*snap->pod, *snap->objects, Node(pod_ips));
        for (const auto& e : r.errors) MINIK_LOG(Warning) << "updating volumes of " << client::ObjectKey(*snap->pod) << ": " << e.EventMessage();
        return 0;
      },
      [](int) {});
}

void RealPodHost::PrepareContainer(const client::ObjectPtr& pod, const std::string& container, const std::string& id,
                                   const std::string& log_path, HostEventFn event,
                                   std::function<void(Outcome<PreparedContainer>)> done) {
  auto snap = TakeSnapshot(pod);
  // Events are recorded on the loop thread.
  http::Loop* loop = &loop_;
  std::weak_ptr<bool> alive = alive_;
  HostEventFn posted = [loop, alive, event](const std::string& type, const std::string& reason, const std::string& msg) {
    loop->Post([alive, event, type, reason, msg]() {
      if (!alive.expired() && event) event(type, reason, msg);
    });
  };
  OffLoop<Outcome<PreparedContainer>>(
      [this, snap, container, id, log_path, posted]() { return Prepare(*snap, container, id, log_path, posted); },
      std::move(done));
}

Outcome<PreparedContainer> RealPodHost::Prepare(const Snapshot& snap, const std::string& container,
                                                const std::string& id, const std::string& log_path,
                                                const HostEventFn& event) {
  Outcome<PreparedContainer> out;
  const JsonValue& pod = *snap.pod;
  std::string uid(client::MetaString(pod, "uid"));
  const JsonValue* c = FindContainer(pod, container);
  if (!c) {
    out.failure = {"CreateContainerConfigError", "container " + container + " not found in the pod's spec"};
    return out;
  }
  PreparedContainer prep;
  // 1. The image, per imagePullPolicy.
  std::string image_name = Str(Member(*c, "image"));
  auto normalized = images::NormalizeReference(image_name);
  if (!normalized.ok()) {
    out.failure = {"InvalidImageName", "Failed to apply default image tag \"" + image_name +
                                           "\": couldn't parse image name \"" + image_name + "\": " +
                                           normalized.error().message()};
    return out;
  }
  std::string policy = PullPolicy(*c, image_name);
  auto local = images_.Resolve(image_name);
  std::optional<images::Image> image;
  if (local.ok()) image = *local;
  if (policy == "Never" && !image) {
    out.failure = {"ErrImageNeverPull",
                   "Container image \"" + ImageWithDefaultTag(image_name) + "\" is not present with pull policy of Never"};
    return out;
  }
  if (policy == "Always" || !image) {
    if (!puller_) {
      if (!image) {
        out.failure = {"ErrImagePull", "rpc error: code = Unavailable desc = no registry access configured on this node"};
        return out;
      }
    } else {
      event("Normal", "Pulling", "Pulling image \"" + ImageWithDefaultTag(image_name) + "\"");
      int64_t t0 = NowMs();
      auto pulled = puller_->Pull(image_name, snap.pull_credentials);
      if (pulled.ok()) {
        prep.pulled = true;
        prep.pull_ms = NowMs() - t0;
        prep.image_size = pulled->size;
        image = *pulled;
      } else if (image && (pulled.error().code() == Code::kUnavailable || pulled.error().code() == Code::kTimeout)) {
        // Offline edge nodes: the registry cannot be reached, the image is here. Use it (upstream
        // would fail the pull; imported images must stay usable without a network).
        MINIK_LOG(Warning) << "pulling " << image_name << ": " << pulled.error().ToString() << "; using the local copy";
      } else {
        std::string rpc = registry::RpcErrorMessage(pulled.error());
        event("Warning", "Failed", "Failed to pull image \"" + ImageWithDefaultTag(image_name) + "\": " + rpc);
        out.failure = {"ErrImagePull", rpc};
        return out;
      }
    }
  }
  images_.Touch(image->id);
  prep.image = *normalized;
  prep.image_id = image->repo_digests.empty() ? image->id : image->repo_digests.front();
  auto layers = images_.LayerDirs(image->id);
  if (!layers.ok()) {
    out.failure = {"CreateContainerError", "failed to prepare the image's layers: " + layers.error().message()};
    return out;
  }

  // 2. Environment, mounts, user, command.
  std::vector<std::string> pod_ips;
  bool host_network = GetBool(*Member(pod, "spec"), "hostNetwork").value_or(false);
  if (host_network && !options_.node_ip.empty()) pod_ips = {options_.node_ip};
  volumes::EnvOptions eopts;
  eopts.services_synced = snap.services_synced;
  auto env = volumes::MakeEnvironment(pod, *c, snap.services, *snap.objects, Node(pod_ips), eopts);
  if (!env.ok()) {
    out.failure = {"CreateContainerConfigError", env.error().message()};
    return out;
  }
  for (const auto& e : env->events) event(e.type, e.reason, e.message);
  auto vmounts = volumes_.MountsFor(pod, *c, env->env);
  if (!vmounts.ok()) {
    out.failure = {"CreateContainerConfigError", vmounts.error().message()};
    return out;
  }
  volumes::PodEtcFiles etc;
  std::string netns, ipcns, utsns;
  {
    std::lock_guard<std::mutex> l(mu_);
    etc = etc_[uid];
    netns = netns_[uid];
    ipcns = ipcns_[uid];
    utsns = utsns_[uid];
  }
  if (netns.empty() && ipcns.empty() && utsns.empty() && !host_network) {
    // After an agent restart: the namespaces exist at their usual paths.
    auto paths = oci::PodNamespacePaths(RunDir(), uid);
    netns = paths.net;
    ipcns = GetBool(*Member(pod, "spec"), "hostIPC").value_or(false) ? "" : paths.ipc;
    utsns = paths.uts;
  }
  std::vector<volumes::ContainerMount> mounts = *vmounts;
  for (auto& m : volumes::EtcMountsFor(etc, *c, *vmounts)) mounts.push_back(m);

  // 3. The rootfs: overlayfs over the image's layers.
  std::string bundle = BundleDir(id);
  std::error_code ec;
  fs::create_directories(bundle + "/rootfs", ec);
  fs::create_directories(bundle + "/upper", ec);
  fs::create_directories(bundle + "/work", ec);
  fs::create_directories(fs::path(log_path).parent_path(), ec);
  if (Status st = oci::MountOverlay(*layers, bundle + "/upper", bundle + "/work", bundle + "/rootfs"); !st.ok()) {
    out.failure = {"CreateContainerError", "failed to mount the rootfs: " + st.message()};
    return out;
  }
  auto fail = [&](const std::string& reason, const std::string& msg) {
    (void)oci::UnmountAllUnder(bundle);  // best effort: the bundle goes anyway
    fs::remove_all(bundle, ec);
    out.failure = {reason, msg};
    return out;
  };

  std::optional<int64_t> run_as_user, run_as_group;
  if (const JsonValue* v = SecurityField(pod, *c, "runAsUser"); v && v->IsInt64()) run_as_user = v->GetInt64();
  if (const JsonValue* v = SecurityField(pod, *c, "runAsGroup"); v && v->IsInt64()) run_as_group = v->GetInt64();
  std::vector<int64_t> supplemental;
  if (const JsonValue* sg = Path(pod, {"spec", "securityContext", "supplementalGroups"}); sg && sg->IsArray()) {
    for (const auto& g : sg->GetArray()) {
      if (g.IsInt64()) supplemental.push_back(g.GetInt64());
    }
  }
  if (const JsonValue* fsg = Path(pod, {"spec", "securityContext", "fsGroup"}); fsg && fsg->IsInt64()) {
    supplemental.push_back(fsg->GetInt64());
  }
  auto user = oci::ResolveContainerUser(bundle + "/rootfs", image->config.user, run_as_user, run_as_group, supplemental);
  if (!user.ok()) return fail("CreateContainerError", user.error().message());
  if (const JsonValue* nr = SecurityField(pod, *c, "runAsNonRoot"); nr && nr->IsBool() && nr->GetBool()) {
    std::string pod_desc = std::string(client::MetaString(pod, "name")) + "_" +
                           std::string(client::MetaString(pod, "namespace")) + "(" + uid + ")";
    if (user->uid == 0) {
      return fail("CreateContainerConfigError",
                  run_as_user ? "container's runAsUser breaks non-root policy (pod: \"" + pod_desc + "\", container: " +
                                    container + ")"
                              : "container has runAsNonRoot and image will run as root (pod: \"" + pod_desc +
                                    "\", container: " + container + ")");
    }
  }

  std::vector<std::string> command, args;
  volumes::ExpandCommandAndArgs(*c, env->env, &command, &args);
  std::vector<std::string> argv;
  if (!command.empty()) {
    argv = command;
    argv.insert(argv.end(), args.begin(), args.end());
  } else {
    argv = image->config.entrypoint;
    if (!args.empty()) argv.insert(argv.end(), args.begin(), args.end());
    else argv.insert(argv.end(), image->config.cmd.begin(), image->config.cmd.end());
  }
  if (argv.empty()) return fail("CreateContainerError", "failed to create containerd container: no command specified");

  // 4. config.json.
  oci::ContainerSpec spec;
  spec.rootfs = bundle + "/rootfs";
  if (const JsonValue* ro = Path(*c, {"securityContext", "readOnlyRootFilesystem"}); ro && ro->IsBool()) {
    spec.readonly_rootfs = ro->GetBool();
  }
  spec.args = argv;
  spec.env = image->config.env;
  for (const auto& e : env->env) spec.env.push_back(e.name + "=" + e.value);
  std::string wd = Str(Member(*c, "workingDir"));
  spec.cwd = !wd.empty() ? wd : (!image->config.working_dir.empty() ? image->config.working_dir : "/");
  spec.uid = user->uid;
  spec.gid = user->gid;
  spec.additional_gids = user->additional_gids;
  spec.terminal = GetBool(*c, "tty").value_or(false);
  spec.privileged = [&] {
    const JsonValue* p = Path(*c, {"securityContext", "privileged"});
    return p && p->IsBool() && p->GetBool();
  }();
  spec.cap_add = StringList(Path(*c, {"securityContext", "capabilities", "add"}));
  spec.cap_drop = StringList(Path(*c, {"securityContext", "capabilities", "drop"}));
  if (const JsonValue* ape = Path(*c, {"securityContext", "allowPrivilegeEscalation"}); ape && ape->IsBool()) {
    spec.allow_privilege_escalation = ape->GetBool();
  }
  spec.hostname = etc.hostname;
  for (const auto& m : mounts) {
    oci::Mount om;
    om.destination = m.container_path;
    om.type = "bind";
    om.source = m.host_path;
    om.options = volumes::OciBindOptions(m);
    spec.mounts.push_back(std::move(om));
  }
  // terminationMessagePath: a file of this container instance's (in its bundle), bind-mounted there
  // after the other mounts; the shim reads it when the container exits.
  std::string tm_path = Str(Member(*c, "terminationMessagePath"));
  if (tm_path.empty()) tm_path = "/dev/termination-log";  // the API's default
  {
    std::string host_file = bundle + "/termination-log";
    int fd = open(host_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0 || fchmod(fd, 0666) != 0) {
      if (fd >= 0) close(fd);
      return fail("CreateContainerError", "failed to create the termination message file: " +
                                              std::string(std::strerror(errno)));
    }
    close(fd);
    spec.mounts.push_back(oci::BindMountEntry(host_file, tm_path, false));
    prep.termination_message_path = host_file;
    prep.termination_message_fallback_to_logs = Str(Member(*c, "terminationMessagePolicy")) == "FallbackToLogsOnError";
  }
  spec.net_ns_path = host_network ? "" : netns;
  spec.ipc_ns_path = ipcns;
  spec.uts_ns_path = host_network ? "" : utsns;
  spec.cgroup_v2 = cgroups_.IsV2();
  spec.cgroups_path = cgroups_.ContainerCgroupsPath(uid, id);
  oci::CgroupLimits limits = oci::ContainerLimits(ResourcesOf(*c));
  spec.resources.cpu_shares = limits.cpu_shares;
  spec.resources.cpu_quota = limits.cpu_quota;
  spec.resources.cpu_period = limits.cpu_period;
  spec.resources.memory_limit = limits.memory_limit;
  spec.resources.swap_equals_limit = limits.memory_limit > 0 && cgroups_.SwapControllerAvailable();
  int64_t mem_capacity = 0;
  if (auto cap = cgroups_.GetNodeCapacity(); cap.ok()) mem_capacity = static_cast<int64_t>(cap->memory_bytes);
  spec.oom_score_adj = OomScoreAdj(pod, *c, mem_capacity);
  if (spec.privileged) {
    if (auto devs = oci::HostDevices(); devs.ok()) spec.devices = *devs;
  }
  std::string config = oci::BuildSpec(spec);
  {
    std::ofstream f(bundle + "/config.json", std::ios::trunc);
    f << config;
    if (!f) return fail("CreateContainerError", "failed to write the container's config.json");
  }
  prep.bundle_dir = bundle;
  out.value = prep;
  return out;
}

void RealPodHost::CleanUpContainer(const std::string& id, std::function<void()> done) {
  std::string bundle = BundleDir(id);
  OffLoop<int>(
      [bundle]() {
        Status st = oci::UnmountAllUnder(bundle);
        if (!st.ok()) MINIK_LOG(Warning) << "unmounting " << bundle << ": " << st.ToString();
        std::error_code ec;
        fs::remove_all(bundle, ec);
        return 0;
      },
      [done](int) { done(); });
}

void RealPodHost::TearDownPod(const std::string& uid, std::function<void(Status)> done) {
  OffLoop<Status>(
      [this, uid]() {
        Status st = volumes_.TearDown(uid);
        if (!st.ok()) return st;
        st = oci::RemovePodNamespaces(RunDir(), uid);
        if (!st.ok()) return st;
        st = cgroups_.RemovePod(uid);
        if (!st.ok()) return st;
        std::lock_guard<std::mutex> l(mu_);
        etc_.erase(uid);
        netns_.erase(uid);
        ipcns_.erase(uid);
        utsns_.erase(uid);
        return Status::OK();
      },
      std::move(done));
}

std::string RealPodHost::NetnsPath(const std::string& pod_uid) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = netns_.find(pod_uid);
  return it != netns_.end() ? it->second : oci::PodNamespacePaths(RunDir(), pod_uid).net;
}

void RealPodHost::Check(const std::string& pod_uid, NetCheck check, std::function<void(bool, std::string)> done) {
  std::string netns;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = netns_.find(pod_uid);
    netns = it != netns_.end() ? it->second : oci::PodNamespacePaths(RunDir(), pod_uid).net;
  }
  OffLoop<CheckResult>(
      [netns, check]() {
        CheckResult r;
        if (netns.empty()) return RunCheck(check);  // host network
        Status st = oci::RunInNetns(netns, [&]() { r = RunCheck(check); });
        if (!st.ok()) r.message = st.message();
        return r;
      },
      [done](CheckResult r) { done(r.ok, r.message); });
}

void RealPodHost::RemoveLogs(const std::string& dir) {
  OffLoop<int>(
      [dir]() {
        std::error_code ec;
        fs::remove_all(dir, ec);
        return 0;
      },
      [](int) {});
}

void RealPodHost::LinkContainerLog(const std::string& log_path, const std::string& link) {
  OffLoop<int>(
      [log_path, link]() {
        std::error_code ec;
        fs::create_directories(fs::path(link).parent_path(), ec);
        fs::remove(link, ec);  // an adopted container's link from before
        fs::create_symlink(log_path, link, ec);
        if (ec) MINIK_LOG(Warning) << "linking container log " << link << ": " << ec.message();
        return 0;
      },
      [](int) {});
}

void RealPodHost::RemoveContainerLog(const std::string& log_path, const std::string& link) {
  OffLoop<int>(
      [log_path, link]() {
        std::error_code ec;
        if (!link.empty()) fs::remove(link, ec);
        if (log_path.empty()) return 0;
        fs::path p(log_path);
        const std::string prefix = p.filename().string() + ".";  // rotated: <n>.log.<time>[.gz]
        for (const auto& e : fs::directory_iterator(p.parent_path(), ec)) {
          std::string name = e.path().filename();
          if (name == p.filename() || name.rfind(prefix, 0) == 0) fs::remove(e.path(), ec);
        }
        return 0;
      },
      [](int) {});
}

std::vector<std::string> RealPodHost::PodsOnDisk() {
  std::set<std::string> uids;
  for (const auto& u : volumes_.ListPodDirs()) uids.insert(u);
  for (const auto& u : oci::ListPodNamespaces(RunDir())) uids.insert(u);
  if (auto cg = cgroups_.ListPods(); cg.ok()) {
    for (const auto& u : *cg) uids.insert(u);
  }
  return {uids.begin(), uids.end()};
}

}  // namespace minik::agent::kubelet
