// Pulls images from OCI distribution (Docker Registry HTTP API v2) registries into the agent's
// image store, as containerd's CRI does for the kubelet:
//
//  - the reference is normalized ("busybox" -> docker.io/library/busybox:latest);
//  - the registry's endpoints come from registries.yaml (mirrors, rewrites, then the default
//    endpoint), tried in order; mirror requests carry ?ns=<registry>;
//  - the manifest is resolved by tag or digest (Accept: Docker schema 2 and OCI manifests and
//    indexes); an index / manifest list picks the running platform (linux/<GOARCH>);
//  - the config and layer blobs the store lacks are streamed to files from TempBlobPath() (never
//    held in memory), at most max_concurrent_downloads at a time, hashed on the way and checked
//    against their descriptors' digests and sizes before CommitBlob; a manifest's digest is
//    checked against the reference's digest or the registry's Docker-Content-Digest;
//  - redirects are followed (blob storage on another host gets no Authorization header);
//  - authentication: anonymous, Basic, and the Bearer token flow (WWW-Authenticate: Bearer
//    realm,service,scope -> token from the realm, with the credentials if any: OAuth POST first
//    when a secret is known, GET with Basic otherwise), credentials from imagePullSecrets
//    (which win, for every endpoint, as the kubelet passes them to containerd) or from
//    registries.yaml configs.<endpoint host>.auth.
//
// Errors carry containerd's messages, e.g.
//   failed to pull and unpack image "docker.io/library/nope:latest": failed to resolve
//   reference "docker.io/library/nope:latest": docker.io/library/nope:latest: not found
// The kubelet reports them as `Failed to pull image "<image>": rpc error: code = <RpcCode>
// desc = <message>` in the Failed event, and `rpc error: code = <RpcCode> desc = <message>` as
// the ErrImagePull waiting message (RpcErrorMessage builds that part).
//
// Threading: Pull() blocks (network and disk) and must run off any event loop, on a WorkPool
// thread; it runs a private http::Loop on a thread of its own for the duration of the pull.
// Several Pull() calls may run at once on one Puller.
#pragma once

#include <cstdint>
#include <string>

#include "agent/images/image_store.h"
#include "agent/registry/credentials.h"
#include "agent/registry/registries_config.h"
#include "common/status.h"

namespace minik::agent::registry {

struct PullerOptions {
  std::string os = "linux";
  std::string architecture;  // GOARCH naming ("amd64", "arm64", "arm"); "" = this machine's
  std::string variant;       // "" = this machine's default ("v8" on arm64, "v7" on arm)
  int max_concurrent_downloads = 3;                // containerd's default
  uint64_t progress_timeout_ms = 5 * 60 * 1000;    // containerd's image_pull_progress_timeout
  uint64_t connect_timeout_ms = 30000;
  std::string user_agent = "minik";
};

// What a pull did (for logs, events and benchmarks).
struct PullStats {
  int64_t bytes_downloaded = 0;  // blob and manifest bytes received
  int blobs_downloaded = 0;
  int blobs_skipped = 0;  // already in the store
  std::string endpoint;   // the endpoint that resolved the reference
};

class Puller {
 public:
  // store must outlive the Puller.
  Puller(images::ImageStore& store, RegistriesConfig config, PullerOptions options = {});

  // Pulls an image (as written in a pod spec) and records it in the store under its normalized
  // reference. Returns the stored image. Error codes: NotFound (no such manifest or blob),
  // Conflict (digest or size mismatch; containerd's FailedPrecondition), Invalid (bad
  // reference), UnsupportedMediaType (schema 1), Timeout (no progress), others Unknown.
  StatusOr<images::Image> Pull(const std::string& image, const Credentials& from_pull_secrets = Credentials(),
                               PullStats* stats = nullptr);

  const RegistriesConfig& config() const { return config_; }

 private:
  images::ImageStore& store_;
  const RegistriesConfig config_;
  const PullerOptions options_;
};

// The gRPC status code containerd's CRI returns for a pull error ("NotFound", "Unknown", ...).
std::string RpcCode(const Status& st);
// "rpc error: code = NotFound desc = <message>" (what the kubelet shows for ErrImagePull).
std::string RpcErrorMessage(const Status& st);

// GOARCH of this machine ("amd64", "arm64", ...), and its default variant ("" on amd64).
std::string HostArchitecture();
std::string HostVariant();

}  // namespace minik::agent::registry
