// An ImageStore for the puller's tests: blobs in a temporary directory (verified by digest on
// CommitBlob), image records in memory, no unpacking.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

#include "agent/images/image_store.h"
#include "agent/registry/http_session.h"
#include "agent/registry/reference.h"
#include "common/json.h"

namespace minik::agent::registry::testing {

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class FakeImageStore : public images::ImageStore {
 public:
  explicit FakeImageStore(std::string root) : root_(std::move(root)) {
    std::filesystem::create_directories(root_ + "/blobs/sha256");
    std::filesystem::create_directories(root_ + "/tmp");
  }

  StatusOr<images::Image> Resolve(const std::string& ref) override {
    std::lock_guard<std::mutex> lock(mu_);
    std::string key = ref;
    if (auto r = ParseReference(ref); r.ok()) key = r->String();
    for (const auto& [id, img] : images_) {
      if (id == ref) return img;
      for (const auto& r : img.refs) {
        if (r == key) return img;
      }
    }
    return Status::NotFound("image \"" + ref + "\" not found");
  }
  std::vector<images::Image> List() override {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<images::Image> out;
    for (const auto& [id, img] : images_) out.push_back(img);
    return out;
  }
  StatusOr<std::vector<images::Image>> ImportArchive(const std::string&) override {
    return Status::Invalid("not supported by the fake");
  }
  bool HasBlob(const std::string& digest) override { return std::filesystem::exists(BlobPath(digest)); }
  std::string TempBlobPath() override { return root_ + "/tmp/ingest-" + std::to_string(next_tmp_.fetch_add(1)); }
  Status CommitBlob(const std::string& temp_path, const std::string& digest) override {
    commit_blob_calls_.fetch_add(1);
    std::string data = ReadFile(temp_path);
    if (internal::Sha256Digest(data) != digest) {
      std::filesystem::remove(temp_path);
      return Status::Invalid("digest mismatch");
    }
    std::filesystem::rename(temp_path, BlobPath(digest));
    return Status::OK();
  }
  StatusOr<images::Image> CommitImage(const std::string& ref, const std::string& manifest_json) override {
    auto r = ParseReference(ref);
    if (!r.ok()) return r.status();
    auto doc = ParseJson(manifest_json);
    if (!doc.ok()) return doc.status();
    const JsonValue* config = Member(*doc, "config");
    if (config == nullptr) return Status::Invalid("no config");
    images::Image img;
    img.id = std::string(GetString(*config, "digest").value_or(""));
    if (!HasBlob(img.id)) return Status::NotFound("config blob missing");
    img.size = GetInt(*config, "size").value_or(0);
    if (const JsonValue* layers = Member(*doc, "layers"); layers != nullptr && layers->IsArray()) {
      for (const auto& l : layers->GetArray()) {
        std::string d(GetString(l, "digest").value_or(""));
        if (!HasBlob(d)) return Status::NotFound("layer blob missing: " + d);
        img.size += GetInt(l, "size").value_or(0);
      }
    }
    auto cfg = ParseJson(ReadFile(BlobPath(img.id)));
    if (cfg.ok()) {
      if (const JsonValue* ids = Path(*cfg, {"rootfs", "diff_ids"}); ids != nullptr && ids->IsArray()) {
        for (const auto& d : ids->GetArray()) img.layer_diff_ids.emplace_back(d.GetString());
      }
    }
    img.manifest_digest = internal::Sha256Digest(manifest_json);
    img.repo_digests.push_back(r->Name() + "@" + img.manifest_digest);
    std::lock_guard<std::mutex> lock(mu_);
    commit_image_calls_++;
    for (auto& [id, other] : images_) std::erase(other.refs, r->String());
    auto& stored = images_[img.id];
    std::vector<std::string> refs = stored.refs;
    refs.push_back(r->String());
    stored = img;
    stored.refs = refs;
    manifests_[img.manifest_digest] = manifest_json;
    return stored;
  }
  Status Remove(const std::string& ref_or_id) override {
    std::lock_guard<std::mutex> lock(mu_);
    return images_.erase(ref_or_id) ? Status::OK() : Status::NotFound(ref_or_id);
  }
  StatusOr<std::vector<std::string>> LayerDirs(const std::string&) override { return std::vector<std::string>{}; }
  void Touch(const std::string&) override {}
  int64_t DiskUsage() override { return 0; }
  int64_t GarbageCollect(const std::set<std::string>&, int64_t) override { return 0; }

  std::string BlobPath(const std::string& digest) const {
    return root_ + "/blobs/sha256/" + (digest.size() > 7 ? digest.substr(7) : "x");
  }
  int commit_blob_calls() const { return commit_blob_calls_.load(); }
  int commit_image_calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return commit_image_calls_;
  }
  // Files left in the ingest directory (should be none after any pull).
  size_t TempFiles() const {
    size_t n = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(root_ + "/tmp")) ++n;
    return n;
  }

 private:
  std::string root_;
  std::mutex mu_;
  std::map<std::string, images::Image> images_;
  std::map<std::string, std::string> manifests_;
  std::atomic<int> next_tmp_{0};
  std::atomic<int> commit_blob_calls_{0};
  int commit_image_calls_ = 0;
};

// A temporary directory removed with everything in it.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/minik-registry-test-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline void WriteFile(const std::string& path, std::string_view data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

}  // namespace minik::agent::registry::testing
