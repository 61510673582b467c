#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <random>
#include <unordered_set>

#include "agent/images/digest.h"
#include "agent/images/file_image_store.h"
#include "agent/images/layer.h"
#include "agent/images/reference.h"
#include "common/json.h"
#include "common/log.h"
#include "common/strings.h"

namespace minik::agent::images {
namespace {

constexpr size_t kMaxConfigBytes = 16 << 20;
constexpr size_t kMaxIndexBytes = 256 << 20;
constexpr int64_t kTouchSaveInterval = 60;
// A blob committed by a pull stays at least this long before its image is committed.
constexpr int64_t kFreshBlobSeconds = 600;

int64_t NowUnix() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

Status MkdirAll(const std::string& path) {
  std::string cur;
  for (std::string_view comp : Split(path, '/')) {
    cur += comp;
    if (!cur.empty() && mkdir(cur.c_str(), 0755) != 0 && errno != EEXIST) return ErrnoStatus("mkdir " + cur, errno);
    cur += '/';
  }
  return Status::OK();
}

// Disk usage of a tree (allocated blocks, each inode once).
int64_t UsageAt(int dirfd, const char* name, std::unordered_set<uint64_t>* seen) {
  struct stat st;
  if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) return 0;
  int64_t total = 0;
  if (st.st_nlink <= 1 || S_ISDIR(st.st_mode) || seen->insert(st.st_ino).second) total += st.st_blocks * 512;
  if (!S_ISDIR(st.st_mode)) return total;
  int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return total;
  DIR* d = fdopendir(fd);
  if (d == nullptr) {
    close(fd);
    return total;
  }
  while (struct dirent* de = readdir(d)) {
    if (std::strcmp(de->d_name, ".") == 0 || std::strcmp(de->d_name, "..") == 0) continue;
    total += UsageAt(::dirfd(d), de->d_name, seen);
  }
  closedir(d);
  return total;
}

int64_t Usage(const std::string& path) {
  std::unordered_set<uint64_t> seen;
  return UsageAt(AT_FDCWD, path.c_str(), &seen);
}

std::vector<std::string> StringArray(const JsonValue* v) {
  std::vector<std::string> out;
  if (v == nullptr || !v->IsArray()) return out;
  for (const auto& s : v->GetArray()) {
    if (s.IsString()) out.emplace_back(s.GetString(), s.GetStringLength());
  }
  return out;
}

JsonValue ToJsonArray(const std::vector<std::string>& v, JsonAlloc& a) {
  JsonValue arr(rapidjson::kArrayType);
  for (const auto& s : v) arr.PushBack(MakeString(s, a), a);
  return arr;
}

bool IsLayerMediaType(std::string_view mt) {
  static const char* const kTypes[] = {
      "application/vnd.oci.image.layer.v1.tar",
      "application/vnd.oci.image.layer.v1.tar+gzip",
      "application/vnd.oci.image.layer.v1.tar+zstd",
      "application/vnd.oci.image.layer.nondistributable.v1.tar",
      "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
      "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
      "application/vnd.docker.image.rootfs.diff.tar.gzip",
      "application/vnd.docker.image.rootfs.diff.tar",
      "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
  };
  for (const char* t : kTypes) {
    if (mt == t) return true;
  }
  return false;
}

std::string ChainId(const std::string& parent_chain, const std::string& diff_id) {
  if (parent_chain.empty()) return diff_id;
  return Sha256Of(parent_chain + " " + diff_id);
}

bool IsLowerHex(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

// Holds the in-process mutex and the cross-process flock.
class FileImageStore::Locked {
 public:
  explicit Locked(FileImageStore& s) : s_(s), lock_(s.mu_) {
    while (flock(s_.lock_fd_, LOCK_EX) != 0 && errno == EINTR) {
    }
  }
  ~Locked() { flock(s_.lock_fd_, LOCK_UN); }
  Locked(const Locked&) = delete;
  Locked& operator=(const Locked&) = delete;

 private:
  FileImageStore& s_;
  std::lock_guard<std::mutex> lock_;
};

StatusOr<std::unique_ptr<ImageStore>> ImageStore::Open(const std::string& root) {
  StatusOr<std::unique_ptr<FileImageStore>> s = FileImageStore::OpenStore(root);
  if (!s.ok()) return s.status();
  return std::unique_ptr<ImageStore>(std::move(*s));
}

StatusOr<std::unique_ptr<FileImageStore>> FileImageStore::OpenStore(const std::string& root) {
  if (root.empty()) return Status::Invalid("image store: empty root directory");
  std::unique_ptr<FileImageStore> s(new FileImageStore(root));
  Status st = s->Init();
  if (!st.ok()) return st.WithContext("open image store " + root);
  return s;
}

FileImageStore::FileImageStore(std::string root) : root_(std::move(root)) {
  while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
}

FileImageStore::~FileImageStore() {
  if (lock_fd_ >= 0) close(lock_fd_);
}

Status FileImageStore::Init() {
  for (const char* sub : {"/blobs/sha256", "/layers", "/tmp"}) MINIK_RETURN_IF_ERROR(MkdirAll(root_ + sub));
  lock_fd_ = open((root_ + "/lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd_ < 0) return ErrnoStatus("open " + root_ + "/lock", errno);
  Locked l(*this);
  // Leftovers of processes that died mid-import: temp blobs, half-unpacked layers, trash.
  // Names start with the pid of their writer; another live process's files are kept.
  DIR* d = opendir((root_ + "/tmp").c_str());
  if (d != nullptr) {
    std::vector<std::string> stale;
    while (struct dirent* de = readdir(d)) {
      std::string n = de->d_name;
      if (n == "." || n == "..") continue;
      size_t dash = n.find('-');
      int64_t pid = 0;
      bool alive = false;
      if (dash != std::string::npos && ParseInt64(n.substr(0, dash), &pid) && pid > 0) {
        alive = pid != getpid() && (kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM);
      }
      if (!alive) stale.push_back(root_ + "/tmp/" + n);
    }
    closedir(d);
    for (const auto& p : stale) {
      Status st = RemoveTree(p);
      if (!st.ok()) MINIK_LOG(Warning) << "image store: " << st.ToString();
    }
  }
  return SyncLocked();
}

void FileImageStore::Pin(const std::string& digest) {
  // mu_ too: deletions decide and rename under mu_, so a pin lands before or after, not between.
  std::lock_guard<std::mutex> m(mu_);
  std::lock_guard<std::mutex> l(pin_mu_);
  pins_[digest]++;
}

void FileImageStore::Unpin(const std::string& digest) {
  std::lock_guard<std::mutex> l(pin_mu_);
  auto it = pins_.find(digest);
  if (it != pins_.end() && --it->second <= 0) pins_.erase(it);
}

bool FileImageStore::Removable(const std::string& digest) {
  std::lock_guard<std::mutex> l(pin_mu_);
  if (pins_.count(digest) != 0) return false;
  auto it = fresh_.find(digest);
  if (it == fresh_.end()) return true;
  if (it->second > NowUnix()) return false;
  fresh_.erase(it);
  return true;
}

std::string FileImageStore::BlobPath(const std::string& digest) const {
  return root_ + "/blobs/sha256/" + DigestHex(digest);
}

std::string FileImageStore::TrashPath() {
  return root_ + "/tmp/" + std::to_string(getpid()) + "-trash-" + std::to_string(seq_++);
}

std::string FileImageStore::TempBlobPath() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return root_ + "/tmp/" + std::to_string(getpid()) + "-blob-" + std::to_string(seq_++) + "-" +
         std::to_string(rng() % 1000000);
}

// ---------------------------------------------------------------------------------------------
// Index persistence

Status FileImageStore::SyncLocked() {
  std::string path = root_ + "/images.json";
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) return ErrnoStatus("stat " + path, errno);
    images_.clear();
    loaded_ = FileId{};
    return Status::OK();
  }
  FileId id{static_cast<uint64_t>(st.st_ino), static_cast<uint64_t>(st.st_size),
            static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
  if (id == loaded_) return Status::OK();
  StatusOr<std::string> text = ReadSmallFile(path, kMaxIndexBytes);
  if (!text.ok()) return text.status();
  StatusOr<JsonDoc> doc = ParseJson(*text);
  if (!doc.ok()) return Status::Internal("parse " + path + ": " + doc.status().message());
  std::map<std::string, Rec> images;
  const JsonValue* list = Member(*doc, "images");
  if (list != nullptr && list->IsArray()) {
    for (const auto& j : list->GetArray()) {
      Rec r;
      r.id = std::string(GetString(j, "id").value_or(""));
      if (!IsDigest(r.id)) continue;
      r.refs = StringArray(Member(j, "refs"));
      r.manifest_digest = std::string(GetString(j, "manifestDigest").value_or(""));
      r.manifest_media_type = std::string(GetString(j, "manifestMediaType").value_or(""));
      r.manifest_size = GetInt(j, "manifestSize").value_or(0);
      r.config_size = GetInt(j, "configSize").value_or(0);
      r.last_used = GetInt(j, "lastUsed").value_or(0);
      if (const JsonValue* layers = Member(j, "layers"); layers != nullptr && layers->IsArray()) {
        for (const auto& lj : layers->GetArray()) {
          LayerRec l;
          l.digest = std::string(GetString(lj, "digest").value_or(""));
          l.media_type = std::string(GetString(lj, "mediaType").value_or(""));
          l.size = GetInt(lj, "size").value_or(0);
          l.diff_id = std::string(GetString(lj, "diffID").value_or(""));
          l.chain_id = std::string(GetString(lj, "chainID").value_or(""));
          r.layers.push_back(std::move(l));
        }
      }
      if (const JsonValue* c = Member(j, "config"); c != nullptr && c->IsObject()) {
        r.config.entrypoint = StringArray(Member(*c, "Entrypoint"));
        r.config.cmd = StringArray(Member(*c, "Cmd"));
        r.config.env = StringArray(Member(*c, "Env"));
        r.config.working_dir = std::string(GetString(*c, "WorkingDir").value_or(""));
        r.config.user = std::string(GetString(*c, "User").value_or(""));
      }
      images[r.id] = std::move(r);
    }
  }
  images_ = std::move(images);
  loaded_ = id;
  return Status::OK();
}

Status FileImageStore::SaveLocked() {
  JsonDoc doc(rapidjson::kObjectType);
  auto& a = doc.GetAllocator();
  doc.AddMember("version", 1, a);
  JsonValue list(rapidjson::kArrayType);
  for (const auto& [id, r] : images_) {
    JsonValue j(rapidjson::kObjectType);
    j.AddMember("id", MakeString(r.id, a), a);
    j.AddMember("refs", ToJsonArray(r.refs, a), a);
    j.AddMember("manifestDigest", MakeString(r.manifest_digest, a), a);
    j.AddMember("manifestMediaType", MakeString(r.manifest_media_type, a), a);
    j.AddMember("manifestSize", JsonValue(static_cast<int64_t>(r.manifest_size)), a);
    j.AddMember("configSize", JsonValue(static_cast<int64_t>(r.config_size)), a);
    j.AddMember("lastUsed", JsonValue(static_cast<int64_t>(r.last_used)), a);
    JsonValue layers(rapidjson::kArrayType);
    for (const auto& l : r.layers) {
      JsonValue lj(rapidjson::kObjectType);
      lj.AddMember("digest", MakeString(l.digest, a), a);
      lj.AddMember("mediaType", MakeString(l.media_type, a), a);
      lj.AddMember("size", JsonValue(static_cast<int64_t>(l.size)), a);
      lj.AddMember("diffID", MakeString(l.diff_id, a), a);
      lj.AddMember("chainID", MakeString(l.chain_id, a), a);
      layers.PushBack(lj, a);
    }
    j.AddMember("layers", layers, a);
    JsonValue c(rapidjson::kObjectType);
    c.AddMember("Entrypoint", ToJsonArray(r.config.entrypoint, a), a);
    c.AddMember("Cmd", ToJsonArray(r.config.cmd, a), a);
    c.AddMember("Env", ToJsonArray(r.config.env, a), a);
    c.AddMember("WorkingDir", MakeString(r.config.working_dir, a), a);
    c.AddMember("User", MakeString(r.config.user, a), a);
    j.AddMember("config", c, a);
    list.PushBack(j, a);
  }
  doc.AddMember("images", list, a);
  std::string path = root_ + "/images.json";
  MINIK_RETURN_IF_ERROR(WriteFileAtomic(path, ToJson(doc)));
  struct stat st;
  if (stat(path.c_str(), &st) == 0) {
    loaded_ = FileId{static_cast<uint64_t>(st.st_ino), static_cast<uint64_t>(st.st_size),
                     static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
  }
  return Status::OK();
}

// ---------------------------------------------------------------------------------------------
// Lookup

Image FileImageStore::ToImage(const Rec& r) const {
  Image img;
  img.id = r.id;
  img.refs = r.refs;
  img.manifest_digest = r.manifest_digest;
  std::set<std::string> seen;
  for (const auto& ref : r.refs) {
    StatusOr<Reference> p = ParseReference(ref);
    if (!p.ok()) continue;
    std::string rd = p->Name() + "@" + (p->digest.empty() ? r.manifest_digest : p->digest);
    if (!r.manifest_digest.empty() && seen.insert(rd).second) img.repo_digests.push_back(rd);
  }
  img.size = r.manifest_size + r.config_size;
  for (const auto& l : r.layers) {
    img.layer_diff_ids.push_back(l.diff_id);
    img.size += l.size;
  }
  img.last_used_unix = r.last_used;
  img.config = r.config;
  return img;
}

const FileImageStore::Rec* FileImageStore::FindLocked(const std::string& ref, Status* err) {
  auto not_found = [&]() {
    *err = Status::NotFound("image \"" + ref + "\": not found");
    return nullptr;
  };
  if (ref.empty()) return not_found();
  if (IsDigest(ref)) {
    auto it = images_.find(ref);
    if (it != images_.end()) return &it->second;
    return not_found();
  }
  // By reference.
  if (ref.compare(0, 7, "sha256:") != 0) {
    StatusOr<Reference> p = ParseReference(ref);
    if (p.ok()) {
      std::string norm = p->String();
      for (const auto& [id, r] : images_) {
        if (std::find(r.refs.begin(), r.refs.end(), norm) != r.refs.end()) return &r;
      }
      if (!p->digest.empty()) {
        std::string want = p->Name() + "@" + p->digest;
        for (const auto& [id, r] : images_) {
          if (r.manifest_digest != p->digest) continue;
          for (const auto& rd : ToImage(r).repo_digests) {
            if (rd == want) return &r;
          }
        }
      }
    }
  }
  // By ID prefix ("3f57d9401f8d", "sha256:3f57d9").
  std::string hex = ref.compare(0, 7, "sha256:") == 0 ? ref.substr(7) : ref;
  if (!IsLowerHex(hex)) return not_found();
  const Rec* found = nullptr;
  for (const auto& [id, r] : images_) {
    if (id.compare(7, hex.size(), hex) == 0) {
      if (found != nullptr) {
        *err = Status::Invalid("image ID prefix \"" + ref + "\" is ambiguous");
        return nullptr;
      }
      found = &r;
    }
  }
  if (found == nullptr) return not_found();
  return found;
}

StatusOr<Image> FileImageStore::Resolve(const std::string& ref) {
  Locked l(*this);
  MINIK_RETURN_IF_ERROR(SyncLocked());
  Status err;
  const Rec* r = FindLocked(ref, &err);
  if (r == nullptr) return err;
  return ToImage(*r);
}

std::vector<Image> FileImageStore::List() {
  Locked l(*this);
  Status st = SyncLocked();
  if (!st.ok()) MINIK_LOG(Warning) << "image store: " << st.ToString();
  std::vector<Image> out;
  for (const auto& [id, r] : images_) out.push_back(ToImage(r));
  return out;
}

StatusOr<std::vector<std::string>> FileImageStore::LayerDirs(const std::string& image_id) {
  Locked l(*this);
  MINIK_RETURN_IF_ERROR(SyncLocked());
  Status err;
  const Rec* r = FindLocked(image_id, &err);
  if (r == nullptr) return err;
  std::vector<std::string> dirs;
  for (auto it = r->layers.rbegin(); it != r->layers.rend(); ++it)
    dirs.push_back(root_ + "/layers/" + DigestHex(it->chain_id));
  return dirs;
}

void FileImageStore::Touch(const std::string& image_id) {
  Locked l(*this);
  Status st = SyncLocked();
  auto it = images_.find(image_id);
  if (it == images_.end()) return;
  int64_t now = NowUnix();
  it->second.last_used = now;
  // Persisting every touch would write the index at each container start; a minute is
  // precision enough for garbage collection.
  if (now - last_touch_save_ >= kTouchSaveInterval) {
    last_touch_save_ = now;
    st = SaveLocked();
    if (!st.ok()) MINIK_LOG(Warning) << "image store: " << st.ToString();
  }
}

// ---------------------------------------------------------------------------------------------
// Ingestion

bool FileImageStore::HasBlob(const std::string& digest) {
  if (!IsDigest(digest)) return false;
  struct stat st;
  return stat(BlobPath(digest).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

Status FileImageStore::AdoptBlob(const std::string& temp_path, const std::string& digest, bool* created) {
  *created = false;
  std::string dest = BlobPath(digest);
  struct stat st;
  if (stat(dest.c_str(), &st) == 0) {
    unlink(temp_path.c_str());
    return Status::OK();
  }
  int fd = open(temp_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("open " + temp_path, errno);
  fsync(fd);
  fchmod(fd, 0644);
  close(fd);
  if (rename(temp_path.c_str(), dest.c_str()) != 0) {
    int e = errno;
    unlink(temp_path.c_str());
    return ErrnoStatus("rename " + temp_path + " to " + dest, e);
  }
  *created = true;
  return Status::OK();
}

Status FileImageStore::CommitBlob(const std::string& temp_path, const std::string& digest) {
  if (!IsDigest(digest)) {
    unlink(temp_path.c_str());
    return Status::Invalid("unsupported digest \"" + digest + "\"");
  }
  StatusOr<std::string> actual = Sha256File(temp_path);
  if (!actual.ok()) return actual.status();
  if (*actual != digest) {
    unlink(temp_path.c_str());
    return Status::Invalid("digest mismatch: expected " + digest + ", got " + *actual);
  }
  bool created;
  MINIK_RETURN_IF_ERROR(AdoptBlob(temp_path, digest, &created));
  std::lock_guard<std::mutex> l(pin_mu_);
  fresh_[digest] = NowUnix() + kFreshBlobSeconds;
  return Status::OK();
}

Status FileImageStore::EnsureLayer(const std::string& blob_digest, const std::string& diff_id,
                                   const std::string& chain_id) {
  std::string dest = root_ + "/layers/" + DigestHex(chain_id);
  struct stat st;
  if (stat(dest.c_str(), &st) == 0) return Status::OK();
  std::string tmp = root_ + "/tmp/" + std::to_string(getpid()) + "-layer-" + std::to_string(seq_++);
  if (mkdir(tmp.c_str(), 0755) != 0) return ErrnoStatus("mkdir " + tmp, errno);
  StatusOr<std::string> got = UnpackLayer(BlobPath(blob_digest), tmp);
  Status st_rm;
  if (!got.ok()) {
    st_rm = RemoveTree(tmp);
    return got.status();
  }
  if (*got != diff_id) {
    st_rm = RemoveTree(tmp);
    return Status::Invalid("layer " + blob_digest + ": diff ID mismatch: image config says " + diff_id +
                           ", content is " + *got);
  }
  // Everything written must be on disk before the layer is published: after a crash a layer
  // directory either does not exist or is complete.
  int fd = open(tmp.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    syncfs(fd);
    close(fd);
  }
  if (rename(tmp.c_str(), dest.c_str()) != 0) {
    int e = errno;
    st_rm = RemoveTree(tmp);
    if (e == EEXIST || e == ENOTEMPTY) return Status::OK();  // unpacked concurrently
    return ErrnoStatus("rename " + tmp + " to " + dest, e);
  }
  return Status::OK();
}

StatusOr<Image> FileImageStore::CommitManifest(const std::string& manifest, const std::vector<std::string>& refs) {
  const std::string manifest_digest = Sha256Of(manifest);
  StatusOr<JsonDoc> doc = ParseJson(manifest);
  if (!doc.ok()) return Status::Invalid("manifest " + manifest_digest + ": " + doc.status().message());
  std::string media_type(GetString(*doc, "mediaType").value_or(""));
  if (media_type == "application/vnd.oci.image.index.v1+json" ||
      media_type == "application/vnd.docker.distribution.manifest.list.v2+json" ||
      Member(*doc, "manifests") != nullptr) {
    return Status::Invalid("manifest " + manifest_digest + " is an index, not an image manifest");
  }
  if (GetInt(*doc, "schemaVersion").value_or(0) != 2) {
    return Status::Invalid("manifest " + manifest_digest + ": unsupported schemaVersion (only schema 2 is supported)");
  }
  if (media_type.empty()) media_type = "application/vnd.oci.image.manifest.v1+json";
  if (media_type != "application/vnd.oci.image.manifest.v1+json" &&
      media_type != "application/vnd.docker.distribution.manifest.v2+json") {
    return Status::Invalid("manifest " + manifest_digest + ": unsupported media type " + media_type);
  }
  const JsonValue* cfg = Member(*doc, "config");
  if (cfg == nullptr || !cfg->IsObject()) return Status::Invalid("manifest " + manifest_digest + " has no config");
  std::string config_digest(GetString(*cfg, "digest").value_or(""));
  if (!IsDigest(config_digest)) return Status::Invalid("manifest " + manifest_digest + ": bad config digest");
  std::vector<LayerRec> layers;
  if (const JsonValue* lj = Member(*doc, "layers"); lj != nullptr && lj->IsArray()) {
    for (const auto& l : lj->GetArray()) {
      LayerRec rec;
      rec.digest = std::string(GetString(l, "digest").value_or(""));
      rec.media_type = std::string(GetString(l, "mediaType").value_or(""));
      rec.size = GetInt(l, "size").value_or(0);
      if (!IsDigest(rec.digest))
        return Status::Invalid("manifest " + manifest_digest + ": bad layer digest " + rec.digest);
      if (!IsLayerMediaType(rec.media_type)) {
        return Status::Invalid("manifest " + manifest_digest + ": unsupported layer media type " + rec.media_type);
      }
      layers.push_back(std::move(rec));
    }
  }
  for (const auto& l : layers) {
    if (!HasBlob(l.digest)) return Status::NotFound("layer blob " + l.digest + " is not in the store");
  }
  if (!HasBlob(config_digest)) return Status::NotFound("config blob " + config_digest + " is not in the store");

  StatusOr<std::string> config_text = ReadSmallFile(BlobPath(config_digest), kMaxConfigBytes);
  if (!config_text.ok()) return config_text.status();
  StatusOr<JsonDoc> config = ParseJson(*config_text);
  if (!config.ok()) return Status::Invalid("image config " + config_digest + ": " + config.status().message());
  std::vector<std::string> diff_ids = StringArray(Path(*config, {"rootfs", "diff_ids"}));
  if (diff_ids.size() != layers.size()) {
    return Status::Invalid("image config " + config_digest + " lists " + std::to_string(diff_ids.size()) +
                           " diff IDs for " + std::to_string(layers.size()) + " layers");
  }
  Rec rec;
  rec.id = config_digest;
  rec.manifest_digest = manifest_digest;
  rec.manifest_media_type = media_type;
  rec.manifest_size = static_cast<int64_t>(manifest.size());
  rec.config_size = static_cast<int64_t>(config_text->size());
  rec.last_used = NowUnix();
  if (const JsonValue* c = Member(*config, "config"); c != nullptr && c->IsObject()) {
    rec.config.entrypoint = StringArray(Member(*c, "Entrypoint"));
    rec.config.cmd = StringArray(Member(*c, "Cmd"));
    rec.config.env = StringArray(Member(*c, "Env"));
    rec.config.working_dir = std::string(GetString(*c, "WorkingDir").value_or(""));
    rec.config.user = std::string(GetString(*c, "User").value_or(""));
  }
  std::string chain;
  for (size_t i = 0; i < layers.size(); ++i) {
    if (!IsDigest(diff_ids[i]))
      return Status::Invalid("image config " + config_digest + ": bad diff ID " + diff_ids[i]);
    layers[i].diff_id = diff_ids[i];
    chain = ChainId(chain, diff_ids[i]);
    layers[i].chain_id = chain;
  }
  rec.layers = layers;

  // Pinned until committed: a concurrent re-import of the same image from another manifest,
  // a Remove or a GarbageCollect must not take them away in between.
  std::vector<std::string> pinned = {manifest_digest, config_digest};
  for (const auto& l : layers) pinned.push_back(l.digest);
  for (const auto& d : pinned) Pin(d);
  // Unpinned on the way out, and dropped if no image uses them any more: a concurrent commit of
  // the same image from another manifest may have superseded this one while it was pinned.
  struct Unpinner {
    FileImageStore* s;
    std::vector<std::string>* d;
    ~Unpinner() {
      for (const auto& x : *d) s->Unpin(x);
      s->DropUnreferencedBlobs(std::set<std::string>(d->begin(), d->end()));
    }
  } unpinner{this, &pinned};

  // The manifest itself is content too.
  if (!HasBlob(manifest_digest)) {
    std::string tmp = TempBlobPath();
    MINIK_RETURN_IF_ERROR(WriteFileAtomic(tmp, manifest));
    bool created;
    MINIK_RETURN_IF_ERROR(AdoptBlob(tmp, manifest_digest, &created));
  }

  // Unpack outside the index lock; a concurrent Remove may take a layer away again before we
  // hold the lock, hence the retry.
  for (int attempt = 0; attempt < 3; ++attempt) {
    for (const auto& l : layers) MINIK_RETURN_IF_ERROR(EnsureLayer(l.digest, l.diff_id, l.chain_id));
    Locked lock(*this);
    MINIK_RETURN_IF_ERROR(SyncLocked());
    bool complete = HasBlob(config_digest) && HasBlob(manifest_digest);
    for (const auto& l : layers) {
      struct stat st;
      complete = complete && HasBlob(l.digest) && stat((root_ + "/layers/" + DigestHex(l.chain_id)).c_str(), &st) == 0;
    }
    if (!complete) continue;
    std::vector<std::string> trash;
    auto it = images_.find(rec.id);
    if (it != images_.end()) {
      // Same image (config) again, maybe from another manifest: keep its refs, take the new
      // manifest, and let go of blobs only the old manifest had.
      rec.refs = it->second.refs;
      Rec old = it->second;
      it->second = rec;
      std::set<std::string> keep;
      for (const auto& [id, r] : images_) {
        keep.insert(r.manifest_digest);
        keep.insert(r.id);
        for (const auto& l : r.layers) keep.insert(l.digest);
      }
      std::vector<std::string> old_blobs = {old.manifest_digest};
      for (const auto& l : old.layers) old_blobs.push_back(l.digest);
      for (const auto& b : old_blobs) {
        if (keep.count(b) == 0 && !b.empty() && Removable(b)) {
          std::string t = TrashPath();
          if (rename(BlobPath(b).c_str(), t.c_str()) == 0) trash.push_back(t);
        }
      }
    } else {
      images_[rec.id] = rec;
    }
    Rec& target = images_[rec.id];
    for (const auto& ref : refs) {
      // A reference moves: the image it pointed at stays, untagged, until removed or collected
      // (a running container may still use it).
      for (auto& [id, r] : images_) {
        if (id != rec.id) r.refs.erase(std::remove(r.refs.begin(), r.refs.end(), ref), r.refs.end());
      }
      if (std::find(target.refs.begin(), target.refs.end(), ref) == target.refs.end()) target.refs.push_back(ref);
    }
    std::sort(target.refs.begin(), target.refs.end());
    {
      std::lock_guard<std::mutex> pl(pin_mu_);
      for (const auto& d : pinned) fresh_.erase(d);
    }
    Status st = SaveLocked();
    Image out = ToImage(target);
    EmptyTrash(trash);
    if (!st.ok()) return st;
    return out;
  }
  return Status::Conflict("image " + rec.id + ": layers removed concurrently while committing");
}

StatusOr<Image> FileImageStore::CommitImage(const std::string& ref, const std::string& manifest_json) {
  StatusOr<std::string> norm = NormalizeReference(ref);
  if (!norm.ok()) return norm.status();
  return CommitManifest(manifest_json, {*norm});
}

// ---------------------------------------------------------------------------------------------
// Removal and garbage collection

std::vector<std::string> FileImageStore::DropImageLocked(const std::string& id, int64_t* freed) {
  std::vector<std::string> trash;
  auto it = images_.find(id);
  if (it == images_.end()) return trash;
  Rec gone = it->second;
  images_.erase(it);
  std::set<std::string> blobs;
  std::set<std::string> chains;
  for (const auto& [oid, r] : images_) {
    blobs.insert(r.id);
    blobs.insert(r.manifest_digest);
    for (const auto& l : r.layers) {
      blobs.insert(l.digest);
      chains.insert(l.chain_id);
    }
  }
  std::vector<std::string> paths;
  std::set<std::string> candidates = {gone.id, gone.manifest_digest};
  for (const auto& l : gone.layers) candidates.insert(l.digest);
  for (const auto& b : candidates) {
    if (!b.empty() && blobs.count(b) == 0 && Removable(b)) paths.push_back(BlobPath(b));
  }
  for (const auto& l : gone.layers) {
    if (chains.count(l.chain_id) == 0) paths.push_back(root_ + "/layers/" + DigestHex(l.chain_id));
  }
  for (const auto& p : paths) {
    if (freed != nullptr) *freed += Usage(p);
    std::string t = TrashPath();
    if (rename(p.c_str(), t.c_str()) == 0) trash.push_back(t);
  }
  return trash;
}

void FileImageStore::EmptyTrash(const std::vector<std::string>& paths) {
  for (const auto& p : paths) {
    Status st = RemoveTree(p);
    if (!st.ok()) MINIK_LOG(Warning) << "image store: " << st.ToString();
  }
}

Status FileImageStore::Remove(const std::string& ref_or_id) {
  std::vector<std::string> trash;
  {
    Locked l(*this);
    MINIK_RETURN_IF_ERROR(SyncLocked());
    Status err;
    const Rec* r = FindLocked(ref_or_id, &err);
    if (r == nullptr) return err;
    std::string id = r->id;
    Rec& rec = images_[id];
    StatusOr<std::string> norm = ref_or_id.compare(0, 7, "sha256:") == 0 ? StatusOr<std::string>(Status::Invalid(""))
                                                                         : NormalizeReference(ref_or_id);
    auto ref_it = norm.ok() ? std::find(rec.refs.begin(), rec.refs.end(), *norm) : rec.refs.end();
    if (ref_it != rec.refs.end()) {
      rec.refs.erase(ref_it);
      if (rec.refs.empty()) trash = DropImageLocked(id, nullptr);
    } else {
      trash = DropImageLocked(id, nullptr);
    }
    MINIK_RETURN_IF_ERROR(SaveLocked());
  }
  EmptyTrash(trash);
  return Status::OK();
}

int64_t FileImageStore::DiskUsage() { return Usage(root_ + "/blobs") + Usage(root_ + "/layers"); }

int64_t FileImageStore::GarbageCollect(const std::set<std::string>& in_use, int64_t bytes_to_free) {
  int64_t freed = 0;
  std::vector<std::string> trash;
  {
    Locked l(*this);
    Status st = SyncLocked();
    if (!st.ok()) {
      MINIK_LOG(Warning) << "image store: " << st.ToString();
      return 0;
    }
    std::vector<std::pair<int64_t, std::string>> order;
    for (const auto& [id, r] : images_) {
      if (in_use.count(id) == 0) order.emplace_back(r.last_used, id);
    }
    std::sort(order.begin(), order.end());
    bool dropped = false;
    for (const auto& [used, id] : order) {
      if (freed >= bytes_to_free) break;
      dropped = true;
      std::vector<std::string> t = DropImageLocked(id, &freed);
      MINIK_LOG(Info) << "image garbage collection: removed image " << id;
      trash.insert(trash.end(), t.begin(), t.end());
    }
    if (dropped) {
      st = SaveLocked();
      if (!st.ok()) MINIK_LOG(Warning) << "image store: " << st.ToString();
    }
  }
  EmptyTrash(trash);
  return freed;
}

void FileImageStore::DropUnreferencedBlobs(const std::set<std::string>& digests) {
  if (digests.empty()) return;
  std::vector<std::string> trash;
  {
    Locked l(*this);
    Status st = SyncLocked();
    if (!st.ok()) {
      MINIK_LOG(Warning) << "image store: " << st.ToString();
      return;
    }
    std::set<std::string> used;
    for (const auto& [id, r] : images_) {
      used.insert(r.id);
      used.insert(r.manifest_digest);
      for (const auto& ly : r.layers) used.insert(ly.digest);
    }
    for (const auto& d : digests) {
      if (used.count(d) != 0 || !Removable(d)) continue;
      std::string t = TrashPath();
      if (rename(BlobPath(d).c_str(), t.c_str()) == 0) trash.push_back(t);
    }
  }
  EmptyTrash(trash);
}

}  // namespace minik::agent::images
