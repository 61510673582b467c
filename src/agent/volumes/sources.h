// What the kubelet hands the volume and environment code besides the Pod: the objects its
// informers cache (ConfigMaps, Secrets, PVCs, PVs), service account tokens, and facts about the
// node. Objects are the API's JSON documents (rapidjson), shared immutably with the caches.
//
// Threading: see each class. The usual pattern for the kubelet: on the loop thread, copy what a
// pod references out of the informers into a MapObjectSource (SnapshotReferencedObjects), then
// run env building and volume set-up on a WorkPool thread against that snapshot.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace minik::agent::volumes {

using ObjectPtr = std::shared_ptr<const JsonDoc>;

// The objects the kubelet's informers cache. Each returns nullptr when the object is absent.
// Threading: implementations say; the MapObjectSource below may be read from any thread once
// filled (it is not modified after).
class ObjectSource {
 public:
  virtual ~ObjectSource() = default;
  virtual ObjectPtr ConfigMap(const std::string& ns, const std::string& name) const = 0;
  virtual ObjectPtr Secret(const std::string& ns, const std::string& name) const = 0;
  virtual ObjectPtr PersistentVolumeClaim(const std::string& ns, const std::string& name) const = 0;
  virtual ObjectPtr PersistentVolume(const std::string& name) const = 0;
};

// An ObjectSource over maps (tests; snapshots handed to worker threads). Fill it on one thread,
// then read it from any.
class MapObjectSource final : public ObjectSource {
 public:
  // Adds obj as a kind (ConfigMap, Secret, PersistentVolumeClaim, PersistentVolume), named by
  // its metadata; replaces an existing entry. Null objects are ignored.
  void Add(const std::string& kind, ObjectPtr obj);
  // As above with the kind read from obj's "kind" (list items may lack it: prefer the above).
  void Add(ObjectPtr obj);
  // Parses JSON text and adds it (tests).
  Status AddJson(std::string_view json);
  void Remove(const std::string& kind, const std::string& ns, const std::string& name);

  ObjectPtr ConfigMap(const std::string& ns, const std::string& name) const override;
  ObjectPtr Secret(const std::string& ns, const std::string& name) const override;
  ObjectPtr PersistentVolumeClaim(const std::string& ns, const std::string& name) const override;
  ObjectPtr PersistentVolume(const std::string& name) const override;

 private:
  ObjectPtr Find(const std::string& kind, const std::string& ns, const std::string& name) const;
  std::map<std::string, ObjectPtr> objects_;  // "Kind/ns/name"
};

// Copies into a MapObjectSource every ConfigMap, Secret, PVC and PV (through the PVC's
// spec.volumeName) the pod references: env, envFrom (all containers, init and ephemeral too),
// configMap/secret/projected volumes and persistentVolumeClaim volumes. Call it on the thread
// that may read `live` (the kubelet's loop thread).
std::shared_ptr<MapObjectSource> SnapshotReferencedObjects(const JsonValue& pod, const ObjectSource& live);

// A projected serviceAccountToken request (authentication.k8s.io/v1 TokenRequest spec, bound to
// the pod as the kubelet binds it).
struct TokenRequest {
  std::string ns;
  std::string service_account;        // pod.spec.serviceAccountName ("default" when empty)
  std::vector<std::string> audiences; // [audience] or empty (the API server's default audience)
  int64_t expiration_seconds = 3600;  // the source's expirationSeconds (API default 3600)
  std::string pod_name;
  std::string pod_uid;
};

// Service account tokens, as the kubelet's token manager gives them (TokenRequest API through
// serviceaccounts/<name>/token, cached, refreshed past 80 % of the TTL or after 24 h).
// Threading: GetToken is BLOCKING and is called on the thread running VolumeManager::SetUp /
// Update (a WorkPool thread, never the loop thread), possibly from several threads at once for
// different pods. An implementation over the async ApiClient posts the request to the loop and
// waits for its answer. Errors are reported as given, in the kubelet's words
// ("failed to fetch token: ..."), in the pod's FailedMount event.
class TokenSource {
 public:
  virtual ~TokenSource() = default;
  virtual StatusOr<std::string> GetToken(const TokenRequest& request) = 0;
  // Drops what is cached for the pod (its volumes are torn down). Any thread.
  virtual void ForgetPod(const std::string& pod_uid) { (void)pod_uid; }
};

// Facts about the node and the pod's network the kubelet knows.
struct NodeInfo {
  std::string node_name;
  std::vector<std::string> host_ips;  // the node's IPs (status.hostIP is the first), family-ordered
  std::vector<std::string> pod_ips;   // when known (status.podIP is the first), family-ordered
  // Node allocatable, as quantity strings ("2", "3882Mi", ...); "" when unknown. Used for
  // resourceFieldRef limits of containers without a limit, and for memory-backed emptyDir sizes.
  std::string allocatable_cpu;
  std::string allocatable_memory;
  std::string allocatable_ephemeral_storage;
};

}  // namespace minik::agent::volumes
