// The Kubernetes API: authentication, routing, and the REST verbs over the object store, with
// upstream's semantics (resourceVersion concurrency, generation, graceful deletion, finalizers,
// namespaces, selectors, paging, watch, server-side Table printing, discovery, OpenAPI).
//
// Threading: the loop thread only. Handle() may answer later (after a store write).
#pragma once

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "api/registry.h"
#include "common/clock.h"
#include "http/loop.h"
#include "http/server.h"
#include "server/object_store.h"
#include "server/request_info.h"
#include "server/service_allocator.h"

namespace minik::server {

class Streaming;
class ServiceAccountTokens;
class NodeProxy;
class MetricsApi;

struct ApiServerOptions {
  std::string token;              // bearer token accepted as an authenticated user ("" = none)
  std::string advertise_address;  // for serverAddressByClientCIDRs and the kubernetes Endpoints
  int port = 6443;
  std::string service_cidr = "10.43.0.0/16";
  std::string ca_pem;  // served unauthenticated at /cacerts (agents pin it by the token's hash)
  // The service account token signing key (PEM RSA); "" = no service account tokens.
  std::string service_account_key_pem;
};

class ApiServer {
 public:
  // A DELETE request's options (body and query).
  struct DeleteOptions {
    int64_t grace = -1;  // -1: not given
    std::string propagation;
    std::string precondition_uid;
    std::string precondition_rv;
  };
  ApiServer(http::Loop& loop, ObjectStore& store, const api::Registry& registry, const Clock& clock,
            ApiServerOptions options);
  ~ApiServer();

  // The HTTP entry point.
  void Handle(http::Request& req, http::ResponseWriterPtr resp);
  // Handles a request from inside the process (already authenticated as system:admin).
  void HandleInternal(http::Request& req, http::ResponseWriterPtr resp);

  // Creates the default namespaces, the kubernetes Service and its Endpoints if missing; calls
  // done once all are in place. /readyz reports ready only after this.
  void Bootstrap(std::function<void(Status)> done);
  bool ready() const { return ready_; }
  // Serves the agents' tunnels and pods/log, exec, attach, portforward (not owned; may be null).
  void set_streaming(Streaming* streaming) { streaming_ = streaming; }
  // Serves nodes/proxy and metrics.k8s.io (not owned; may be null).
  void set_node_proxy(NodeProxy* proxy) { node_proxy_ = proxy; }
  void set_metrics_api(MetricsApi* metrics) { metrics_api_ = metrics; }

  struct Call;
  using CallPtr = std::shared_ptr<Call>;

 private:
  void Dispatch(const CallPtr& c);
  // Serves a version other than the storage version by conversion; false if not needed.
  bool MaybeConvert(const CallPtr& c);
  void ServeNonResource(const CallPtr& c);
  void DoGet(const CallPtr& c);
  void DoList(const CallPtr& c);
  void DoWatch(const CallPtr& c);
  void DoCreate(const CallPtr& c);
  void DoUpdate(const CallPtr& c);
  void DoPatch(const CallPtr& c);
  void PatchAttempt(const CallPtr& c, int tries);
  void DoDelete(const CallPtr& c);
  void DoDeleteCollection(const CallPtr& c);
  void DoBinding(const CallPtr& c);
  void DoScale(const CallPtr& c);
  void ScaleAttempt(const CallPtr& c, int tries);
  void DoEviction(const CallPtr& c);
  void DoTokenRequest(const CallPtr& c);  // serviceaccounts/<name>/token (api_token.cc)
  // Authenticates a bearer token other than the cluster token (service account JWTs).
  bool AuthenticateBearer(std::string_view token, Call& c);
  // /.well-known/openid-configuration and /openid/v1/jwks; false when p is neither.
  bool ServeOidc(const CallPtr& c);
  // Pod create in a namespace whose default ServiceAccount does not exist yet: runs DoCreate(c)
  // again a little later (up to 10 times, as upstream's admission retries); true when it did.
  bool RetryForServiceAccount(const CallPtr& c, const JsonValue& pod);

  // The write pipeline shared by update, patch and subresources: validates new_obj against the
  // stored old one and writes it (or deletes it when finalization completes).
  void CommitUpdate(const CallPtr& c, const api::ResourceInfo& info, const std::string& key, ObjectPtr old,
                    std::shared_ptr<JsonDoc> new_obj, bool status_only, std::function<void(StatusOr<ObjectPtr>)> done);
  // Deletes (or marks) the newest stored object under the options' preconditions. A write that
  // lands between reading the object and deleting it makes it start over, up to 5 times, unless a
  // resourceVersion precondition was given (upstream's conditional delete does the same).
  void DeleteLatest(const api::ResourceInfo& info, const std::string& key, const std::string& name,
                    const DeleteOptions& opts, bool dry_run,
                    std::function<void(StatusOr<ObjectPtr>, bool deleted)> done, int tries = 0);
  // Deletes now, or marks for deletion (graceful pods, finalizers, namespaces); done(obj, deleted).
  void DeleteObject(const api::ResourceInfo& info, const std::string& key, ObjectPtr existing, int64_t grace,
                    const std::string& propagation, bool dry_run,
                    std::function<void(StatusOr<ObjectPtr>, bool deleted)> done);
  // Allocates (or keeps, on update) a Service's clusterIP(s) and nodePorts; reservations are
  // returned for release once the write is done.
  Status AllocateServiceAddresses(JsonDoc& svc, const JsonValue* old, std::vector<std::string>* ips,
                                  std::vector<int>* ports);
  void CheckTerminatingNamespaces();
  void FinalizeNamespace(const std::string& ns);

  http::Loop& loop_;
  ObjectStore& store_;
  const api::Registry& registry_;
  const Clock& clock_;
  ApiServerOptions options_;
  ServiceAllocator allocator_;
  bool ready_ = false;
  std::set<std::string> terminating_namespaces_;
  http::HandlePtr namespace_timer_;
  std::shared_ptr<std::function<void(size_t)>> bootstrap_;
  Streaming* streaming_ = nullptr;
  std::unique_ptr<ServiceAccountTokens> sa_tokens_;
  NodeProxy* node_proxy_ = nullptr;
  MetricsApi* metrics_api_ = nullptr;
};

// Storage keys: "/<group-resource>/<namespace>/<name>" ("/<group-resource>/<name>" when cluster-scoped).
std::string StorageKey(const api::ResourceInfo& info, const std::string& ns, const std::string& name);
std::string StoragePrefix(const api::ResourceInfo& info, const std::string& ns);

}  // namespace minik::server
