// A pod's volumes, laid out as the kubelet lays them out:
//
//   <pods-dir>/<pod-uid>/                                   (0750)
//     volumes/kubernetes.io~empty-dir/<name>/               emptyDir (0777; tmpfs for medium Memory)
//     volumes/kubernetes.io~configmap/<name>/               configMap (atomic writer, on disk)
//     volumes/kubernetes.io~secret/<name>/                  secret (atomic writer, on tmpfs)
//     volumes/kubernetes.io~downward-api/<name>/            downwardAPI (atomic writer, on tmpfs)
//     volumes/kubernetes.io~projected/<name>/               projected (atomic writer, on tmpfs)
//     plugins/                                              (0750, as the kubelet makes it)
//     etc-hosts, resolv.conf, hostname                      (etc_files.h)
//
// hostPath volumes, and persistentVolumeClaim volumes bound to hostPath or local PVs (what the
// local-path provisioner creates), use the host path itself (type checks applied).
//
// Memory-backed volumes get a tmpfs sized as upstream's SizeMemoryBackedVolumes does: the
// smallest of node allocatable memory, the pod's memory limit (when every container has one) and
// the emptyDir's sizeLimit; secret, downwardAPI and projected volumes are memory-backed emptyDirs
// without a sizeLimit. fsGroup (spec.securityContext.fsGroup) ownership is applied as
// SetVolumeOwnership does (group, g+rw or g+r, setgid directories); projected tokens are owned
// by the pod's common runAsUser (0600) when all its containers share one.
//
// Errors are upstream's words, so the kubelet can publish them as FailedMount events
// (VolumeError::EventMessage) and, through MountsFor, as CreateContainerConfigError messages.
//
// Threading: every method is blocking file I/O; run it on a WorkPool thread. Calls for the same
// pod must not overlap (the pod worker serializes them); calls for different pods may run
// concurrently. The TokenSource is called on the calling thread.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "agent/volumes/mounter.h"
#include "agent/volumes/mounts.h"
#include "agent/volumes/env.h"
#include "agent/volumes/sources.h"
#include "common/clock.h"
#include "common/json.h"
#include "common/status.h"

namespace minik::agent::volumes {

inline constexpr char kEmptyDirPlugin[] = "kubernetes.io~empty-dir";
inline constexpr char kConfigMapPlugin[] = "kubernetes.io~configmap";
inline constexpr char kSecretPlugin[] = "kubernetes.io~secret";
inline constexpr char kDownwardAPIPlugin[] = "kubernetes.io~downward-api";
inline constexpr char kProjectedPlugin[] = "kubernetes.io~projected";

struct VolumeError {
  std::string volume;   // the pod's volume name
  std::string message;  // the plugin's error, e.g. `configmap "x" not found`
  // True when the volume's set-up ran and failed (the kubelet's
  // `MountVolume.SetUp failed for volume "v" : <message>` event); false when the volume could not
  // even be resolved (PVC not found or unbound: `error processing PVC ns/x: PVC is not bound`,
  // which the kubelet reports in "Unable to attach or mount volumes: ...").
  bool setup_failed = true;
  // The FailedMount event message for a set-up failure (the message alone otherwise).
  std::string EventMessage() const;
};

struct SetUpResult {
  std::vector<VolumeError> errors;  // empty when every volume is ready
  bool ok() const { return errors.empty(); }
};

struct VolumeManagerOptions {
  std::string pods_dir;  // e.g. <data-dir>/agent/pods (created when missing)
};

class VolumeManager {
 public:
  // mounter, clock and tokens (may be null: projected tokens then fail) must outlive this.
  VolumeManager(VolumeManagerOptions options, Mounter& mounter, const Clock& clock, TokenSource* tokens);

  // Makes the pod directories and sets up every volume of the pod. Idempotent: call it again to
  // retry failed volumes or after an agent restart. Volumes that fail are reported; the others
  // are ready (the kubelet starts no container before all are).
  SetUpResult SetUp(const JsonValue& pod, const ObjectSource& objects, const NodeInfo& node);

  // Refreshes the content of the configMap, secret, downwardAPI and projected volumes (the
  // kubelet's periodic remount: objects changed, labels changed, tokens rotated); unchanged
  // content is not rewritten, changed content is swapped atomically in place.
  SetUpResult Update(const JsonValue& pod, const ObjectSource& objects, const NodeInfo& node);

  // The bind mounts of a container's volumeMounts (makeMounts), in order, after SetUp:
  // subPath / subPathExpr (expanded against env: "missing value for X") resolved inside the
  // volume and created when missing, readOnly (forced for configMap, secret, downwardAPI and
  // projected volumes), mountPropagation, recursiveReadOnly (runtime_supports_rro: whether the
  // runtime can do it). Errors: `cannot find volume "v" to mount into container "c"`,
  // "error SubPath `/x` must not be an absolute path", "unable to provision SubPath `a/../b`:
  // must not contain '..'", `failed to prepare subPath for volumeMount "v" of container "c"`,
  // `invalid MountPropagation mode: "X"`.
  StatusOr<std::vector<ContainerMount>> MountsFor(const JsonValue& pod, const JsonValue& container,
                                                  const std::vector<EnvVar>& env, bool runtime_supports_rro = true);

  // Unmounts every mount under the pod directory and removes the directory. Idempotent (an
  // absent directory is success). Never follows symlinks or crosses into a mount it could not
  // unmount.
  Status TearDown(const std::string& pod_uid);

  // UIDs of the pod directories under pods_dir.
  std::vector<std::string> ListPodDirs() const;
  // Tears down the pod directories whose UID is not in active; returns the UIDs removed, and
  // logs (and keeps) those that failed.
  std::vector<std::string> CleanupOrphans(const std::set<std::string>& active);

  std::string PodDir(const std::string& pod_uid) const { return options_.pods_dir + "/" + pod_uid; }
  // <pod-dir>/volumes/<plugin>/<name>
  std::string VolumeDir(const std::string& pod_uid, const std::string& plugin, const std::string& name) const;

 private:
  struct ReadyVolume {
    std::string host_path;
    bool read_only = false;  // the plugin forces read-only mounts
  };
  SetUpResult Run(const JsonValue& pod, const ObjectSource& objects, const NodeInfo& node, bool content_only);

  VolumeManagerOptions options_;
  Mounter& mounter_;
  const Clock& clock_;
  TokenSource* tokens_;
  std::mutex mu_;
  std::map<std::string, std::map<std::string, ReadyVolume>> ready_;  // GUARDED_BY(mu_): uid -> volume
};

// The pod's memory-backed emptyDir size in bytes (0 = tmpfs default): see above.
int64_t MemoryBackedSize(const JsonValue& pod, const JsonValue* size_limit, const NodeInfo& node);

}  // namespace minik::agent::volumes
