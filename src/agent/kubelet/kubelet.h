// The kubelet's pod logic: it watches the pods bound to its node and moves each toward its spec
// through the PodHost (sandbox, bundles) and the Runtime (containers), then reports the pod's
// status as upstream's kubelet computes it.
//
// One pod at a time per work-queue key (the pod UID): Sync(uid) looks at the pod and at what
// runs, starts at most the next step of each container (the steps themselves are asynchronous:
// their completion enqueues the pod again), and posts the status when it changed. Containers:
//   - init containers one after the other, each to success (restarted per restartPolicy);
//   - then every app container; an exited one restarts per restartPolicy after a back-off of
//     10 s doubling to 5 min (CrashLoopBackOff), reset once it ran 10 minutes;
//   - a pod being deleted (or gone) has its containers stopped within its grace period
//     (SIGTERM, then SIGKILL), its sandbox torn down, then the API object removed (grace 0).
// A new Kubelet adopts the containers already running (Runtime::List): the same IDs, restart
// counts from the containers' labels.
//
// Threading: the loop thread of its ApiClient, Timers, Runtime and PodHost.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agent/kubelet/kubelet_metrics.h"
#include "agent/kubelet/pod_host.h"
#include "agent/kubelet/probes.h"
#include "agent/runtime/runtime.h"
#include "client/api_client.h"
#include "client/events.h"
#include "client/informer.h"
#include "client/timers.h"
#include "client/workqueue.h"

namespace minik::agent::kubelet {

// Where a pod's container runs, for streaming (logs, exec, attach).
struct ContainerRef {
  std::string id;        // runtime container ID
  std::string log_path;  // its CRI log file
  bool running = false;
};

class ContainerLocator {
 public:
  virtual ~ContainerLocator() = default;
  // The current (or, with previous, the last terminated) instance of a pod's container. Errors
  // as the kubelet answers them: NotFound `pod "x" not found`, BadRequest `container "c" in pod
  // "x" is waiting to start: ContainerCreating`, BadRequest `previous terminated container "c"
  // in pod "x" not found`.
  virtual StatusOr<ContainerRef> Locate(const std::string& ns, const std::string& pod, const std::string& uid,
                                        const std::string& container, bool previous) const = 0;
  // fn(container id) runs whenever a container exits.
  virtual void AddExitListener(std::function<void(const std::string& id)> fn) = 0;
};

struct KubeletOptions {
  std::string node_name;
  std::string node_ip;
  std::string logs_dir;  // <logs_dir>/<ns>_<name>_<uid>/<container>/<restart>.log
  // Where each started container's log is linked as <pod>_<ns>_<container>-<id>.log ("" = nowhere).
  std::string container_links_dir;
  int64_t backoff_initial_ms = 10000;
  int64_t backoff_max_ms = 300000;
  int64_t backoff_reset_ms = 600000;  // a container that ran this long restarts without delay
  size_t workers = 16;
};

class Kubelet final : public ContainerLocator {
 public:
  Kubelet(client::ApiClient& client, client::Timers& timers, runtime::Runtime& runtime, PodHost& host,
          client::EventRecorder& events, KubeletOptions options);
  ~Kubelet();
  Kubelet(const Kubelet&) = delete;
  Kubelet& operator=(const Kubelet&) = delete;

  // Adopts running containers, then watches the node's pods.
  void Start();
  void Stop();

  // A ConfigMap or Secret of this namespace changed: refresh the volumes of its pods and retry
  // the containers that waited for it.
  void ObjectChanged(const std::string& ns);
  // New images arrived (an air-gap import): retry the containers waiting for an image.
  void RetryWaitingPods();
  // Static pods (the manifest directory's pods, already named "<name>-<node>", with their
  // kubernetes.io/config.* annotations and spec.nodeName): the complete current set. They run
  // whatever the API says; each gets a mirror pod in the API that carries its status.
  void SetStaticPods(const std::vector<client::ObjectPtr>& pods);
  // The Node's UID, for the ownerReference of mirror pods.
  void SetNodeUid(const std::string& uid) { node_uid_ = uid; }
  // The images of the pods this kubelet runs, as their specs name them (image GC keeps them).
  std::vector<std::string> ImagesInUse() const;
  // Runs one sync of a pod (tests call this directly; the work queue calls it otherwise).
  void Sync(const std::string& uid);
  // Pods known (UIDs), for tests and metrics.
  std::vector<std::string> PodUids() const;
  size_t running_containers() const;
  // For the stats and metrics endpoints: the pods whose sandbox is up, with their running
  // containers; the pods with a running sandbox; containers by state; the counters.
  std::vector<PodStatsRef> StatsRefs() const;
  // GET /pods: a v1 PodList of the pods this kubelet runs (static ones as their files give them),
  // each with the status the kubelet computes, ordered by namespace and name.
  std::string PodListJson() const;
  size_t running_pods() const;
  ContainerStateCounts container_states() const;
  const KubeletMetrics& metrics() const { return metrics_; }
  StatusOr<ContainerRef> Locate(const std::string& ns, const std::string& pod, const std::string& uid,
                                const std::string& container, bool previous) const override;
  void AddExitListener(std::function<void(const std::string& id)> fn) override { exit_listeners_.push_back(std::move(fn)); }
  // The status the kubelet last computed for a pod (for tests).
  std::optional<JsonDoc> LastStatus(const std::string& uid) const;

 private:
  struct Instance {  // one run of a container
    std::string id;
    int attempt = 0;
    runtime::ContainerStatus status;
  };
  struct Container {
    std::string name;
    bool init = false;
    std::optional<Instance> current;  // the latest instance (running or exited)
    std::optional<Instance> previous;  // the one before (lastState, logs --previous)
    std::string waiting_reason = "ContainerCreating";
    std::string waiting_message;
    bool starting = false;     // a start is in flight
    bool stopping = false;     // a kill is in flight
    int64_t backoff_ms = 0;    // current back-off step
    int64_t retry_at_ms = 0;   // monotonic ms before which a failed start is not retried
    int64_t exit_seen_ms = -1;  // monotonic ms when the current instance's exit was seen
    std::string image;         // status.image / imageID of the current instance
    std::string image_id;
    bool ready = false;
    bool started = false;      // running and past its startup probe
    // Probes of the current instance (probe_id): results and timers.
    std::string probe_id;
    std::optional<ProbeTracker> liveness, readiness, startup;
    http::HandlePtr liveness_timer, readiness_timer, startup_timer;
    http::HandlePtr kill_timer;  // SIGKILL at the end of a grace period
  };
  struct Pod {
    std::string uid;
    std::string key;  // namespace/name
    client::ObjectPtr obj;  // latest spec seen (kept after the API object is gone)
    bool in_api = true;     // static pods: still in the manifest directory
    bool is_static = false;
    client::ObjectPtr mirror;  // static pods: the mirror pod in the API
    bool mirror_pending = false;
    bool sandbox_ready = false;
    bool sandbox_pending = false;
    bool torn_down = false;
    bool tearing_down = false;
    bool deleting = false;  // API delete in flight
    SandboxInfo sandbox;
    std::string start_time;
    std::map<std::string, Container> containers;  // by name
    std::string last_status;  // serialized status last posted
    bool status_in_flight = false;
    int64_t kill_deadline_ms = 0;  // monotonic: SIGKILL after this
    int64_t first_seen_ms = -1;    // monotonic: first sync (kubelet_pod_start_duration_seconds)
    bool start_observed = false;
    http::HandlePtr timer;
  };

  void OnPodEvent(const client::ObjectPtr& obj, bool deleted);
  void Adopt();
  void OnExit(const runtime::ContainerStatus& st);
  void Enqueue(const std::string& uid);
  void EnqueueAfter(const std::string& uid, int64_t ms);

  bool ShouldRun(const Pod& p) const;
  void SyncRunning(Pod& p);
  void SyncTerminating(Pod& p);
  void StartContainer(Pod& p, Container& c, const JsonValue& spec);
  // Stops a running container: preStop hook, SIGTERM, SIGKILL after grace_s.
  void KillContainer(Pod& p, Container& c, int64_t grace_s, const std::string& message = "");
  enum class ProbeKind { kLiveness, kReadiness, kStartup };
  void StartProbes(Pod& p, Container& c);
  void ScheduleProbe(const std::string& uid, const std::string& name, ProbeKind kind, int64_t delay_ms);
  void RunProbe(const std::string& uid, const std::string& name, ProbeKind kind);
  void OnProbeResult(const std::string& uid, const std::string& name, const std::string& id, ProbeKind kind,
                     bool success, const std::string& output);
  // Runs a hook or probe handler for a container; done(success, output).
  void RunHandler(Pod& p, Container& c, const Handler& h, int64_t timeout_ms, std::function<void(bool, std::string)> done);
  const JsonValue* SpecOf(const Pod& p, const std::string& name) const;
  void MaybeFinish(Pod& p);
  void PostStatus(Pod& p);
  JsonDoc BuildStatus(const Pod& p) const;
  bool RestartAllowed(const Pod& p, const Container& c) const;
  void Event(const Pod& p, const std::string& container, const std::string& type, const std::string& reason,
             const std::string& message);
  int64_t NowMs() const;
  std::string NewContainerId();
  std::string LogPath(const Pod& p, const std::string& container, int attempt) const;
  std::string LogLink(const Pod& p, const std::string& container, const std::string& id) const;

  client::ApiClient& client_;
  client::Timers& timers_;
  runtime::Runtime& runtime_;
  PodHost& host_;
  client::EventRecorder& events_;
  KubeletOptions options_;
  std::unique_ptr<client::Informer> pods_;
  std::unique_ptr<client::WorkQueue> queue_;
  std::map<std::string, Pod> pods_by_uid_;
  std::map<std::string, std::string> uid_by_container_;
  void SyncMirror(Pod& p);
  // SIGKILL once per container instance (runc kill after the end is a wasted runc run).
  void SigKill(const std::string& id);
  std::set<std::string> sigkilled_;
  std::vector<std::function<void(const std::string&)>> exit_listeners_;
  std::string node_uid_;
  KubeletMetrics metrics_;
  bool running_ = false;
  uint64_t id_counter_ = 0;
  std::shared_ptr<bool> alive_;
};

}  // namespace minik::agent::kubelet
