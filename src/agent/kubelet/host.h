// The real PodHost: composes the image store and puller (images/, registry/), the pod's OS
// pieces (oci/: cgroups, namespaces, overlay rootfs, config.json) and the volume manager
// (volumes/: volumes, environment, /etc files). Every blocking step runs on the WorkPool; the
// objects a pod references (ConfigMaps, Secrets, PVCs, PVs, Services) are copied from the
// informers on the loop thread first.
//
// Layout under <agent_dir> (<data-dir>/agent):
//   bundles/<container-id>/{config.json, rootfs/, upper/, work/}
//   pods/<pod-uid>/...            volumes and /etc files (volumes/volume_manager.h)
//   run/{netns,ipcns,utsns}/<pod-uid>
//
// Threading: loop thread only (the Loop given); callbacks run on it.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "agent/images/image_store.h"
#include "agent/kubelet/pod_host.h"
#include "agent/oci/cgroups.h"
#include "agent/volumes/etc_files.h"
#include "agent/volumes/sources.h"
#include "agent/volumes/volume_manager.h"
#include "common/work_pool.h"
#include "http/loop.h"

namespace minik::agent::registry {
class Puller;
}

namespace minik::agent::kubelet {

struct HostOptions {
  std::string agent_dir;  // <data-dir>/agent
  std::string node_name;
  std::string node_ip;
  std::string cluster_domain = "cluster.local";
  std::vector<std::string> cluster_dns;  // the cluster DNS service IP(s)
  std::string allocatable_cpu;
  std::string allocatable_memory;
  std::string allocatable_ephemeral_storage;
};

// What the host reads from the kubelet's caches (loop thread): objects by kind, Services.
struct HostCaches {
  const volumes::ObjectSource* objects = nullptr;
  std::function<std::vector<volumes::ObjectPtr>()> services;  // all Services known
  std::function<bool()> services_synced;
};

class RealPodHost final : public PodHost {
 public:
  // Everything passed by reference must outlive the host; puller may be null (no pulls).
  RealPodHost(http::Loop& loop, WorkPool& pool, images::ImageStore& images, registry::Puller* puller,
              oci::Cgroups& cgroups, volumes::VolumeManager& volumes, HostCaches caches, HostOptions options);
  ~RealPodHost() override;

  void SetUpPod(const client::ObjectPtr& pod, std::function<void(Outcome<SandboxInfo>)> done) override;
  void UpdateVolumes(const client::ObjectPtr& pod) override;
  void PrepareContainer(const client::ObjectPtr& pod, const std::string& container, const std::string& id,
                        const std::string& log_path, HostEventFn event,
                        std::function<void(Outcome<PreparedContainer>)> done) override;
  void CleanUpContainer(const std::string& id, std::function<void()> done) override;
  void TearDownPod(const std::string& uid, std::function<void(Status)> done) override;
  void Check(const std::string& pod_uid, NetCheck check, std::function<void(bool, std::string)> done) override;
  void RemoveLogs(const std::string& dir) override;
  void LinkContainerLog(const std::string& log_path, const std::string& link) override;
  void RemoveContainerLog(const std::string& log_path, const std::string& link) override;
  std::vector<std::string> PodsOnDisk() override;

  // The pod's network namespace file ("" for host-network pods).
  std::string NetnsPath(const std::string& pod_uid);
  std::string BundleDir(const std::string& id) const { return options_.agent_dir + "/bundles/" + id; }
  std::string RunDir() const { return options_.agent_dir + "/run"; }

 private:
  struct Snapshot;
  std::shared_ptr<Snapshot> TakeSnapshot(const client::ObjectPtr& pod);
  // Runs fn on the pool, then done(result) on the loop (unless the host is gone).
  template <typename T>
  void OffLoop(std::function<T()> fn, std::function<void(T)> done);
  Outcome<PreparedContainer> Prepare(const Snapshot& snap, const std::string& container, const std::string& id,
                                     const std::string& log_path, const HostEventFn& event);
  volumes::NodeInfo Node(const std::vector<std::string>& pod_ips) const;

  http::Loop& loop_;
  WorkPool& pool_;
  images::ImageStore& images_;
  registry::Puller* puller_;
  oci::Cgroups& cgroups_;
  volumes::VolumeManager& volumes_;
  HostCaches caches_;
  HostOptions options_;
  std::mutex mu_;
  std::map<std::string, volumes::PodEtcFiles> etc_;  // GUARDED_BY(mu_): pod uid -> its /etc files
  std::map<std::string, std::string> netns_;         // GUARDED_BY(mu_): pod uid -> netns path ("" = host)
  std::map<std::string, std::string> ipcns_;         // GUARDED_BY(mu_)
  std::map<std::string, std::string> utsns_;         // GUARDED_BY(mu_)
  std::shared_ptr<bool> alive_;
};

}  // namespace minik::agent::kubelet
