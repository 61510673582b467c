// What the kubelet asks of the machine for a pod, behind one interface so that the pod logic
// is tested with a fake (DESIGN.md convention 2): the pod sandbox (cgroup, namespaces, volumes,
// generated /etc files) and each container's bundle (image, rootfs, config.json). The real
// implementation (host.h) composes images/, oci/ and volumes/; blocking work runs on a WorkPool.
//
// Threading: loop thread only; callbacks run on the loop thread.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "client/informer.h"
#include "common/status.h"

namespace minik::agent::kubelet {

// A step that failed the way the kubelet reports it in a container's waiting state.
struct Failure {
  std::string reason;   // ErrImagePull, ErrImageNeverPull, InvalidImageName, CreateContainerConfigError,
                        // CreateContainerError, RunContainerError
  std::string message;
};

struct SandboxInfo {
  std::string pod_ip;  // "" until the pod network exists (host network pods: the node's IP)
};

struct PreparedContainer {
  std::string bundle_dir;  // config.json + mounted rootfs
  std::string image;       // status.image: the normalized reference ("docker.io/library/busybox:latest")
  std::string image_id;    // status.imageID: repo digest ("docker.io/library/busybox@sha256:...")
  bool pulled = false;     // the image was pulled for this start (the Pulled event says so)
  int64_t pull_ms = 0;
  int64_t image_size = 0;
  // The host file mounted at the container's terminationMessagePath, and its policy.
  std::string termination_message_path;
  bool termination_message_fallback_to_logs = false;
};

template <typename T>
struct Outcome {
  std::optional<T> value;
  Failure failure;  // when !value
  bool ok() const { return value.has_value(); }
};

// An httpGet or tcpSocket probe (or hook) run from inside the pod's network namespace.
struct NetCheck {
  bool http = false;
  std::string scheme = "HTTP";
  std::string host;  // "" = the pod's IP (loopback while pods have no network of their own)
  int port = 0;
  std::string path = "/";
  std::vector<std::pair<std::string, std::string>> headers;
  int64_t timeout_ms = 1000;
};

// The kubelet's applyDefaultImageTag: a container's image with ":latest" appended when it names
// neither tag nor digest ("busybox" -> "busybox:latest"); image events and messages use this form.
std::string ImageWithDefaultTag(const std::string& image);

// Events the host wants recorded on the pod (Pulling, Pulled, Failed, ...).
using HostEventFn = std::function<void(const std::string& type, const std::string& reason, const std::string& message)>;

class PodHost {
 public:
  virtual ~PodHost() = default;
  // Creates, idempotently, the pod's cgroup, namespaces, volumes and /etc files.
  virtual void SetUpPod(const client::ObjectPtr& pod, std::function<void(Outcome<SandboxInfo>)> done) = 0;
  // Brings the pod's configMap, secret, downwardAPI and projected volumes up to date.
  virtual void UpdateVolumes(const client::ObjectPtr& pod) = 0;
  // Resolves or pulls the image (per imagePullPolicy), then mounts the container's rootfs and
  // writes its OCI bundle. log_path's directory is created.
  virtual void PrepareContainer(const client::ObjectPtr& pod, const std::string& container, const std::string& id,
                                const std::string& log_path, HostEventFn event,
                                std::function<void(Outcome<PreparedContainer>)> done) = 0;
  // Unmounts the rootfs and removes the bundle of a container that exited (idempotent).
  virtual void CleanUpContainer(const std::string& id, std::function<void()> done) = 0;
  // Removes everything of the pod but its logs: volumes, /etc files, namespaces, cgroup.
  virtual void TearDownPod(const std::string& uid, std::function<void(Status)> done) = 0;
  // Runs a network check for a pod; done(success, failure message as the kubelet words it).
  virtual void Check(const std::string& pod_uid, NetCheck check, std::function<void(bool, std::string)> done) = 0;
  // Removes a pod's log directory (the pod is gone from the API: nothing of it stays).
  virtual void RemoveLogs(const std::string& dir) = 0;
  // A started container's log under its legacy name: link -> log_path (the kubelet's
  // /var/log/containers/<pod>_<ns>_<container>-<id>.log, what log shippers tail).
  virtual void LinkContainerLog(const std::string& log_path, const std::string& link) = 0;
  // A removed container's log, with its rotated files ("" = leave the files), and its link ("" = none).
  virtual void RemoveContainerLog(const std::string& log_path, const std::string& link) = 0;
  // Pod UIDs that have something on the machine (to clean pods that vanished while the agent was down).
  virtual std::vector<std::string> PodsOnDisk() = 0;
};

}  // namespace minik::agent::kubelet
