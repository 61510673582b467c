// The agent's content-addressed image store (containerd's content store + snapshotter, reduced
// to what a kubelet on an edge box needs).
//
// Layout under root (<data-dir>/agent/content):
//   blobs/sha256/<hex>        compressed layers, manifests and configs, each verified against its
//                             digest when it enters the store
//   layers/<chain-id hex>/    each layer unpacked once, shared by every image that has it
//                             (whiteouts translated to overlayfs: char device 0/0 and
//                             trusted.overlay.opaque), ready to be an overlayfs lowerdir
//   images.json               references -> image records, written atomically (rename)
//
// References are normalized as containerd/docker do: "busybox" -> "docker.io/library/busybox:latest",
// "registry:5000/x" -> "registry:5000/x:latest", "x@sha256:..." kept by digest.
//
// Threading: every method may block (disk I/O, unpacking) and must run off the event loop (on a
// WorkPool thread). Methods are thread-safe (one internal mutex for the index; unpacking runs
// outside it and two imports of the same layer do not corrupt each other).
#pragma once

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace minik::agent::images {

// What a container needs from its image config (OCI image config "config" object).
struct ImageConfig {
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::vector<std::string> env;  // "K=V"
  std::string working_dir;
  std::string user;  // "uid[:gid]" or a name (resolved against the rootfs's /etc/passwd)
};

struct Image {
  std::string id;                           // "sha256:<config digest hex>" (kubectl shows it as the image ID)
  std::vector<std::string> refs;            // normalized references pointing at it (tags and repo@digest)
  std::string manifest_digest;              // "sha256:<hex>" of the manifest the image came from
  std::vector<std::string> repo_digests;    // "docker.io/library/busybox@sha256:<manifest hex>"
  std::vector<std::string> layer_diff_ids;  // uncompressed layer digests, base layer first
  int64_t size = 0;                         // bytes of its compressed blobs (what `crictl images` shows)
  int64_t last_used_unix = 0;               // for garbage collection
  ImageConfig config;
};

// Normalizes a user-written image reference; Invalid with a message for a malformed one.
StatusOr<std::string> NormalizeReference(const std::string& ref);

class ImageStore {
 public:
  // Opens (creating when missing) the store under root.
  static StatusOr<std::unique_ptr<ImageStore>> Open(const std::string& root);
  virtual ~ImageStore() = default;

  // The image a reference (normalized here), an image ID ("sha256:..."), an unambiguous ID
  // prefix ("3f57d9401f8d", "sha256:3f57") or a repo digest ("busybox@sha256:<manifest>") names.
  // NotFound ("image \"X\": not found") when absent; Invalid for an ambiguous ID prefix.
  virtual StatusOr<Image> Resolve(const std::string& ref) = 0;
  virtual std::vector<Image> List() = 0;

  // Imports every image of an OCI image layout or docker-archive (`docker save`) tarball,
  // uncompressed, gzip or zstd. Returns the images imported (their refs set from the archive's
  // index annotations / RepoTags). Compression is detected by content, not by name. From an
  // index or manifest list, the linux/<running arch> image is taken. Invalid for an archive that
  // is neither (or holds a blob not matching its name); NotFound when path does not exist.
  virtual StatusOr<std::vector<Image>> ImportArchive(const std::string& path) = 0;

  // Ingestion for pulls: a blob is written by the caller to a temporary file from TempBlobPath()
  // and handed over with CommitBlob, which verifies its digest and moves it in place (Invalid
  // "digest mismatch: expected X, got Y" otherwise; the temporary file is gone either way).
  virtual bool HasBlob(const std::string& digest) = 0;
  virtual std::string TempBlobPath() = 0;
  virtual Status CommitBlob(const std::string& temp_path, const std::string& digest) = 0;
  // Records an image whose manifest (an OCI or Docker v2 schema 2 image manifest, not an index)
  // and whose config and layers are all committed blobs; unpacks the layers not unpacked yet and
  // tags it with ref (normalized). A ref that pointed at another image moves: that image stays,
  // untagged, until removed by ID or garbage collected (a container may still run it).
  virtual StatusOr<Image> CommitImage(const std::string& ref, const std::string& manifest_json) = 0;

  // Removes a reference; the image (and layers no other image uses) goes with its last reference.
  // An image ID removes the image with all its references. NotFound when absent.
  virtual Status Remove(const std::string& ref_or_id) = 0;

  // Unpacked layer directories of an image (by ID, or anything Resolve takes), top layer first
  // (overlayfs lowerdir order); <root>/layers/<chain ID hex>. Empty for an image without layers.
  virtual StatusOr<std::vector<std::string>> LayerDirs(const std::string& image_id) = 0;
  // Marks an image used now (for garbage collection).
  virtual void Touch(const std::string& image_id) = 0;

  // Bytes the store occupies on disk (blobs + unpacked layers).
  virtual int64_t DiskUsage() = 0;
  // Removes least recently used images not in `in_use` (image IDs) until at least bytes_to_free
  // were freed or nothing else can go; returns the bytes freed.
  virtual int64_t GarbageCollect(const std::set<std::string>& in_use, int64_t bytes_to_free) = 0;
};
using ImageStorePtr = std::unique_ptr<ImageStore>;

}  // namespace minik::agent::images
