// The on-disk ImageStore (private to src/agent/images; use ImageStore::Open).
//
// Several processes may share one store (the agent and `minik images`): every index operation
// holds an exclusive flock on <root>/lock and reloads images.json when another process changed
// it. Blobs and layers are published with rename(2), so readers never see half of one.
//
// Threading: as ImageStore; every method may block.
#pragma once

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "agent/images/image_store.h"

namespace minik::agent::images {

class FileImageStore final : public ImageStore {
 public:
  static StatusOr<std::unique_ptr<FileImageStore>> OpenStore(const std::string& root);
  ~FileImageStore() override;

  StatusOr<Image> Resolve(const std::string& ref) override;
  std::vector<Image> List() override;
  StatusOr<std::vector<Image>> ImportArchive(const std::string& path) override;
  bool HasBlob(const std::string& digest) override;
  std::string TempBlobPath() override;
  Status CommitBlob(const std::string& temp_path, const std::string& digest) override;
  StatusOr<Image> CommitImage(const std::string& ref, const std::string& manifest_json) override;
  Status Remove(const std::string& ref_or_id) override;
  StatusOr<std::vector<std::string>> LayerDirs(const std::string& image_id) override;
  void Touch(const std::string& image_id) override;
  int64_t DiskUsage() override;
  int64_t GarbageCollect(const std::set<std::string>& in_use, int64_t bytes_to_free) override;

  // --- for import.cc ---
  std::string BlobPath(const std::string& digest) const;
  // Moves a complete temporary file into blobs/ as digest (already verified by the caller);
  // *created tells whether the blob was new. The temporary file is gone afterwards.
  Status AdoptBlob(const std::string& temp_path, const std::string& digest, bool* created);
  // Records the image of a manifest whose blobs are all present, unpacking missing layers, and
  // points refs (normalized) at it.
  StatusOr<Image> CommitManifest(const std::string& manifest, const std::vector<std::string>& refs);
  // Deletes those of digests that no image references and nothing pins (blobs an import
  // brought but did not use).
  void DropUnreferencedBlobs(const std::set<std::string>& digests);
  // Pins keep blobs an operation in flight needs from being deleted by a concurrent Remove,
  // GarbageCollect or re-import in this process (counted).
  void Pin(const std::string& digest);
  void Unpin(const std::string& digest);

 private:
  struct LayerRec {
    std::string digest;
    std::string media_type;
    int64_t size = 0;
    std::string diff_id;
    std::string chain_id;
  };
  struct Rec {
    std::string id;
    std::vector<std::string> refs;
    std::string manifest_digest;
    std::string manifest_media_type;
    int64_t manifest_size = 0;
    int64_t config_size = 0;
    int64_t last_used = 0;
    std::vector<LayerRec> layers;
    ImageConfig config;
  };
  class Locked;

  explicit FileImageStore(std::string root);
  Status Init();

  // Index operations; the caller holds a Locked.
  Status SyncLocked();
  Status SaveLocked();
  const Rec* FindLocked(const std::string& ref, Status* err);
  Image ToImage(const Rec& r) const;
  // Removes image id from the index and moves the blobs and layers nothing else uses to the
  // trash; returns the trash paths and adds their disk usage to *freed when non-null.
  std::vector<std::string> DropImageLocked(const std::string& id, int64_t* freed);
  std::string TrashPath();
  void EmptyTrash(const std::vector<std::string>& paths);
  Status EnsureLayer(const std::string& blob_digest, const std::string& diff_id, const std::string& chain_id);

  std::string root_;  // set once in the constructor
  int lock_fd_ = -1;
  std::atomic<uint64_t> seq_{0};
  std::mutex mu_;
  // GUARDED_BY(mu_) and the flock:
  std::map<std::string, Rec> images_;
  struct FileId {
    uint64_t ino = 0, size = 0;
    int64_t mtime_ns = -1;
    bool operator==(const FileId&) const = default;
  } loaded_;
  int64_t last_touch_save_ = 0;
  // Lock order: mu_, then pin_mu_.
  std::mutex pin_mu_;
  std::map<std::string, int> pins_;       // GUARDED_BY(pin_mu_)
  std::map<std::string, int64_t> fresh_;  // GUARDED_BY(pin_mu_): CommitBlob'd, not yet in an image
  bool Removable(const std::string& digest);
};

}  // namespace minik::agent::images
