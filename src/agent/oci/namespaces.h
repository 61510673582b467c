// A pod sandbox's persistent namespaces: network, IPC and UTS, created once per pod and joined by
// every container of the pod by path (config.json linux.namespaces[].path). They live as bind
// mounts of nsfs files, with no process holding them:
//
//   <run_dir>/netns/<pod-uid>   <run_dir>/ipcns/<pod-uid>   <run_dir>/utsns/<pod-uid>
//
// (run_dir is e.g. <data-dir>/agent/run). Each of the three directories is bind-mounted on itself
// and made private, so the namespace mounts do not propagate into other mount namespaces.
// The network namespace starts with loopback up; the UTS namespace holds the pod's hostname.
//
// Threading: any thread; each call blocks briefly and runs its namespace work on a short-lived
// thread of its own (setns/unshare only ever change that thread).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "common/status.h"

namespace minik::agent::oci {

struct PodNamespaceOptions {
  std::string run_dir;
  std::string pod_uid;
  std::string hostname;       // set in the new UTS namespace
  bool host_network = false;  // no network namespace, and no UTS namespace (Kubernetes semantics)
  bool host_ipc = false;      // no IPC namespace
};

// Paths of the namespace files; empty for a namespace shared with the host.
struct PodNamespaces {
  std::string net;
  std::string ipc;
  std::string uts;
};

// The paths a pod's namespaces have (whether or not they exist).
PodNamespaces PodNamespacePaths(const std::string& run_dir, const std::string& pod_uid);

// Creates the pod's namespaces. Namespaces that already exist (mounted) are kept as they are, so
// a new agent calling it again for a running pod gets the same namespaces.
StatusOr<PodNamespaces> CreatePodNamespaces(const PodNamespaceOptions& options);
// Unmounts and removes the pod's namespace files. Idempotent.
Status RemovePodNamespaces(const std::string& run_dir, const std::string& pod_uid);
// UIDs of the pods with namespace files under run_dir (orphans at agent start).
std::vector<std::string> ListPodNamespaces(const std::string& run_dir);

// Runs fn on a thread that joined the network namespace at netns_path (tcp/http probes, port
// forwarding: sockets made there stay in that namespace wherever they are used afterwards).
// Returns once fn has returned; the error when the namespace cannot be joined (fn not run).
Status RunInNetns(const std::string& netns_path, const std::function<void()>& fn);

// Sets IFF_UP on "lo" in the calling thread's network namespace.
Status BringUpLoopback();

}  // namespace minik::agent::oci
