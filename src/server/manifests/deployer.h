// The manifests auto-deployer (k3s's "deploy" controller is the model).
//
// <data-dir>/server/manifests/ holds *.yaml, *.yml and *.json files (top level only; dotfiles
// ignored), each with one or more objects (YAML "---" documents, or a "kind: List"). They are
// applied at boot and re-applied shortly after a change: inotify through http::Loop::WatchPath
// with a short debounce, no polling.
//
// Apply semantics (`kubectl apply`'s client-side apply):
// - create if absent; otherwise a three-way merge of (live, last applied, file) written with an
//   Update (see apply.h; the last applied configuration lives in kubectl's annotation
//   kubectl.kubernetes.io/last-applied-configuration); an unchanged object is not written.
//   A Conflict is retried once after re-reading.
// - namespaced objects without a namespace go to "default" (k3s's wrangler apply does the same);
//   cluster-scoped objects lose a namespace they carry. Namespaces are applied first.
// - objects are tracked per file (DeployerState, persisted): an object removed from a file is
//   deleted (unless another file still declares it); deleting a file leaves its objects in place
//   (as k3s), and its record is kept so that a file of the same name coming back prunes what it
//   no longer holds. `<file>.skip` makes the deployer ignore `<file>`.
// - each apply of a file is reported as one core/v1 Event in kube-system through
//   ObjectClient::RecordEvent about the file's Addon (involvedObject: apiVersion minik.io/v1,
//   kind Addon, namespace kube-system, name = the file name up to its first '.', as k3s names its
//   Addon objects): Normal `AppliedManifest` `Applied manifest at "<path>"`, or Warning
//   `ApplyManifestFailed` `Applying manifest at "<path>" failed: <reason>`. A file that failed
//   on an API error is retried with backoff (retry_initial_ms doubling up to retry_max_ms); a
//   parse error waits for the file to change. A broken file never affects the other files.
// - default manifests (Options::defaults, BuiltinManifests() in the server) are written into the
//   directory at Start() unless `<name>.skip` exists, and rewritten when their content differs
//   (as k3s does), after replacing the placeholders of Options::template_vars.
//
// Threading: the constructor, Start(), Stop() and StopAsync() from one owning thread. While
// started, the deployer runs on its own thread with its own http::Loop and calls the
// ObjectClient only from there. Without Start(), tests call WriteDefaultManifests(),
// LoadState(), SyncAll() and SyncFile() directly from one thread.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "http/loop.h"
#include "server/manifests/default_manifests.h"
#include "server/manifests/object_client.h"
#include "server/manifests/state.h"

namespace minik::server {

class ManifestDeployer {
 public:
  struct Options {
    std::string dir;         // <data-dir>/server/manifests
    std::string state_file;  // e.g. <data-dir>/server/manifests-state.json (outside `dir`)
    std::vector<DefaultManifest> defaults;
    // Placeholder -> value replaced in default manifests, e.g. {"%{CLUSTER_DNS}%", "10.43.0.10"}.
    std::map<std::string, std::string> template_vars;
    int debounce_ms = 200;
    int retry_initial_ms = 5000;
    int retry_max_ms = 300000;
  };

  // The outcome of one SyncFile().
  struct SyncResult {
    enum class State { kApplied, kFailed, kSkipped, kMissing, kIgnored };
    State state = State::kIgnored;
    std::vector<std::string> errors;  // one per failed object / parse error
    bool retry = false;               // failed on an API error: worth retrying without a change
  };

  ManifestDeployer(Options options, ObjectClient& client, Clock& clock);
  ~ManifestDeployer();
  ManifestDeployer(const ManifestDeployer&) = delete;
  ManifestDeployer& operator=(const ManifestDeployer&) = delete;

  // Creates the directory, writes the default manifests, loads the state, then starts the
  // deployer thread, which watches the directory and applies every file. Returns once the
  // thread runs (the first apply happens on it).
  Status Start();
  // Stops the thread after the API call in flight, if any, and joins it. Idempotent.
  // Do not call it from a thread whose event loop serves the ObjectClient's calls (the
  // in-process client posts to the API's loop and waits): that would wait for itself. Use
  // StopAsync() there.
  void Stop();
  // Non-blocking: asks the thread to stop after the API call in flight; `done` then runs on the
  // deployer's thread (or at once on the caller's when not running). Stop() or the destructor
  // joins the thread afterwards. Lets the API's loop thread shut down without deadlock:
  //   deployer->StopAsync([&] { loop.Post([&] { https.Close(); loop.Stop(); }); });
  void StopAsync(std::function<void()> done);

  // The steps Start() takes, callable directly when not started.
  Status WriteDefaultManifests();
  Status LoadState();
  // Applies every manifest file of the directory, in name order.
  void SyncAll();
  // Applies one file, named relative to the directory ("x.yaml"; "x.yaml.skip" means "x.yaml").
  SyncResult SyncFile(const std::string& name);

  // The delay before the next retry of a file that failed on an API error; 0 if none pending.
  int64_t RetryDelayMs(const std::string& name) const;
  // Number of completed SyncFile() calls (for tests and logs). Any thread.
  uint64_t sync_count() const { return sync_count_.load(); }

 private:
  struct Resolved;
  void RunThread();
  void OnFsEvent(const std::string& filename);
  void FlushPending();
  void ScheduleRetry(const std::string& name);
  Status ApplyObject(const JsonValue& desired);
  void Report(const std::string& name, const std::string& path, const SyncResult& r);

  Options options_;
  ObjectClient& client_;
  Clock& clock_;
  DeployerState state_;

  // Retry backoff per file (deployer thread).
  struct Retry {
    int64_t delay_ms = 0;
    http::HandlePtr timer;
  };
  std::map<std::string, Retry> retries_;

  // Thread machinery.
  std::unique_ptr<http::Loop> loop_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::mutex done_mu_;
  std::function<void()> on_stopped_;  // GUARDED_BY(done_mu_)
  std::atomic<uint64_t> sync_count_{0};
  http::HandlePtr watch_;
  http::HandlePtr debounce_;
  std::set<std::string> pending_;
};

using ManifestDeployerPtr = std::unique_ptr<ManifestDeployer>;

}  // namespace minik::server
