// ImportArchive: OCI image layout and docker-archive tarballs, streamed once through libarchive.
//
// The tarball (optionally gzip- or zstd-compressed, detected by content) is read front to back:
// every regular file goes straight into blobs/ under its computed digest (never held in
// memory), except the small top-level descriptors (index.json, manifest.json, oci-layout,
// repositories). Then the descriptors are interpreted: the blobs are all in place, so the
// images are committed like pulled ones. Blobs the archive brought but no image uses (other
// platforms, legacy metadata) are dropped again.
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <optional>

#include "agent/images/digest.h"
#include "agent/images/file_image_store.h"
#include "agent/images/reference.h"
#include "common/json.h"
#include "common/log.h"
#include "common/strings.h"

namespace minik::agent::images {
namespace {

using ArchivePtr = std::unique_ptr<archive, int (*)(archive*)>;

constexpr size_t kMaxDescriptorBytes = 64 << 20;
constexpr size_t kMaxManifestBytes = 4 << 20;

const char* RunningArch() {
#if defined(__x86_64__)
  return "amd64";
#elif defined(__aarch64__)
  return "arm64";
#elif defined(__arm__)
  return "arm";
#elif defined(__i386__)
  return "386";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  return "ppc64le";
#elif defined(__s390x__)
  return "s390x";
#elif defined(__riscv) && __riscv_xlen == 64
  return "riscv64";
#else
  return "unknown";
#endif
}

bool IsIndexType(std::string_view mt) {
  return mt == "application/vnd.oci.image.index.v1+json" ||
         mt == "application/vnd.docker.distribution.manifest.list.v2+json";
}
bool IsManifestType(std::string_view mt) {
  return mt == "application/vnd.oci.image.manifest.v1+json" ||
         mt == "application/vnd.docker.distribution.manifest.v2+json";
}

// Lexically cleans an archive path: no leading "./" or "/", ".." resolved, "" for the root.
std::string CleanArchivePath(std::string_view p) {
  std::vector<std::string> out;
  for (std::string_view c : Split(p, '/')) {
    if (c.empty() || c == ".") continue;
    if (c == "..") {
      if (!out.empty()) out.pop_back();
      continue;
    }
    out.emplace_back(c);
  }
  return Join(out, "/");
}

bool PlatformMatches(const JsonValue& desc) {
  const JsonValue* p = Member(desc, "platform");
  if (p == nullptr || !p->IsObject()) return true;
  std::string_view os = GetString(*p, "os").value_or("");
  std::string_view arch = GetString(*p, "architecture").value_or("");
  return os == "linux" && arch == RunningArch();
}

// The image's name from an index entry's annotations: containerd's own annotation, else the OCI
// ref name when it is a full reference (a bare tag names no repository).
std::string NameFromAnnotations(const JsonValue& desc) {
  const JsonValue* ann = Member(desc, "annotations");
  if (ann == nullptr || !ann->IsObject()) return "";
  std::string name(GetString(*ann, "io.containerd.image.name").value_or(""));
  if (!name.empty()) return name;
  std::string ref(GetString(*ann, "org.opencontainers.image.ref.name").value_or(""));
  if (ref.find_first_of("/:@") != std::string::npos) return ref;
  return "";
}

// The compression of a blob from its first bytes.
std::string SniffLayerMediaType(const std::string& path) {
  unsigned char magic[4] = {0, 0, 0, 0};
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ssize_t n = read(fd, magic, sizeof magic);
    (void)n;
    close(fd);
  }
  if (magic[0] == 0x1f && magic[1] == 0x8b) return "application/vnd.docker.image.rootfs.diff.tar.gzip";
  if (magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd) {
    return "application/vnd.oci.image.layer.v1.tar+zstd";
  }
  return "application/vnd.docker.image.rootfs.diff.tar";
}

int64_t FileSize(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? static_cast<int64_t>(st.st_size) : 0;
}

// What the archive held, after the streaming pass.
struct Contents {
  std::map<std::string, std::string> files;        // archive path -> blob digest
  std::map<std::string, std::string> links;        // archive path -> archive path
  std::map<std::string, std::string> descriptors;  // index.json, manifest.json, ... -> text
  std::set<std::string> touched;                   // blobs of the archive, pinned while importing

  std::optional<std::string> DigestOf(std::string path) const {
    for (int hops = 0; hops < 16; ++hops) {
      auto f = files.find(path);
      if (f != files.end()) return f->second;
      auto l = links.find(path);
      if (l == links.end()) return std::nullopt;
      path = l->second;
    }
    return std::nullopt;
  }
};

class Importer {
 public:
  Importer(FileImageStore& store, const std::string& path) : store_(store), path_(path) {}

  StatusOr<std::vector<Image>> Run() {
    Status st = Read();
    StatusOr<std::vector<Image>> result = st.ok() ? Interpret() : StatusOr<std::vector<Image>>(st);
    // Whatever the archive brought that no image uses (other platforms, a failed import, blobs
    // another image let go of meanwhile) goes.
    for (const auto& d : c_.touched) store_.Unpin(d);
    store_.DropUnreferencedBlobs(c_.touched);
    return result;
  }

 private:
  Status Invalid(const std::string& msg) { return Status::Invalid(path_ + ": " + msg); }

  Status Read() {
    ArchivePtr a(archive_read_new(), archive_read_free);
    archive_read_support_filter_all(a.get());
    archive_read_support_format_tar(a.get());
    struct stat st;
    if (stat(path_.c_str(), &st) != 0) return ErrnoStatus("open " + path_, errno);
    if (!S_ISREG(st.st_mode)) return Invalid("not a regular file");
    if (archive_read_open_filename(a.get(), path_.c_str(), 1 << 17) != ARCHIVE_OK) {
      return Invalid(std::string("not an OCI image layout or docker-archive tarball: ") +
                     archive_error_string(a.get()));
    }
    std::vector<char> buf(1 << 17);
    bool first = true;
    while (true) {
      archive_entry* e;
      int r = archive_read_next_header(a.get(), &e);
      if (r == ARCHIVE_EOF) break;
      if (r < ARCHIVE_WARN) {
        if (first)
          return Invalid(std::string("not an OCI image layout or docker-archive tarball: ") +
                         archive_error_string(a.get()));
        return Invalid(archive_error_string(a.get()));
      }
      first = false;
      const char* raw_name = archive_entry_pathname(e);
      std::string name = CleanArchivePath(raw_name ? raw_name : "");
      if (name.empty()) continue;
      if (const char* hl = archive_entry_hardlink(e); hl != nullptr) {
        c_.links[name] = CleanArchivePath(hl);
        continue;
      }
      mode_t type = archive_entry_filetype(e);
      if (type == AE_IFLNK) {
        const char* target = archive_entry_symlink(e);
        if (target == nullptr) continue;
        size_t slash = name.rfind('/');
        std::string dir = slash == std::string::npos ? "" : name.substr(0, slash);
        c_.links[name] = CleanArchivePath(target[0] == '/' ? std::string(target) : dir + "/" + target);
        continue;
      }
      if (type != AE_IFREG) continue;
      if (name == "index.json" || name == "manifest.json" || name == "oci-layout" || name == "repositories") {
        std::string text;
        while (true) {
          la_ssize_t n = archive_read_data(a.get(), buf.data(), buf.size());
          if (n < 0) return Invalid(archive_error_string(a.get()));
          if (n == 0) break;
          text.append(buf.data(), static_cast<size_t>(n));
          if (text.size() > kMaxDescriptorBytes) return Invalid(name + " is too large");
        }
        c_.descriptors[name] = std::move(text);
        continue;
      }
      std::string base = name.substr(name.rfind('/') == std::string::npos ? 0 : name.rfind('/') + 1);
      if (name.find('/') != std::string::npos && (base == "json" || base == "VERSION")) continue;  // legacy v1 metadata
      MINIK_RETURN_IF_ERROR(StoreBlob(a.get(), name, &buf));
    }
    return Status::OK();
  }

  // Streams the current entry into the store.
  Status StoreBlob(archive* a, const std::string& name, std::vector<char>* buf) {
    std::string tmp = store_.TempBlobPath();
    int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return ErrnoStatus("create " + tmp, errno);
    Sha256 hash;
    Status st;
    while (st.ok()) {
      la_ssize_t n = archive_read_data(a, buf->data(), buf->size());
      if (n < 0) {
        st = Invalid(name + ": " + archive_error_string(a));
        break;
      }
      if (n == 0) break;
      hash.Update(buf->data(), static_cast<size_t>(n));
      const char* p = buf->data();
      size_t left = static_cast<size_t>(n);
      while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
          if (errno == EINTR) continue;
          st = ErrnoStatus("write " + tmp, errno);
          break;
        }
        p += w;
        left -= static_cast<size_t>(w);
      }
    }
    close(fd);
    if (!st.ok()) {
      unlink(tmp.c_str());
      return st;
    }
    std::string digest = hash.Digest();
    // blobs/<algorithm>/<encoded>: the name is a claim to check.
    if (name.compare(0, 6, "blobs/") == 0) {
      std::vector<std::string_view> parts = Split(name, '/');
      if (parts.size() == 3 && parts[1] == "sha256" && "sha256:" + std::string(parts[2]) != digest) {
        unlink(tmp.c_str());
        return Invalid("blob " + name + " does not match its digest (content is " + digest + ")");
      }
    }
    // Pinned before adopting: an existing blob found here must not be deleted under us.
    if (c_.touched.insert(digest).second) store_.Pin(digest);
    bool created = false;
    MINIK_RETURN_IF_ERROR(store_.AdoptBlob(tmp, digest, &created));
    c_.files[name] = digest;
    return Status::OK();
  }

  StatusOr<std::vector<Image>> Interpret() {
    // docker-archive RepoTags by config digest: names for an OCI index entry that has none
    // (docker >= 25 writes both files).
    std::map<std::string, std::vector<std::string>> docker_tags;
    StatusOr<JsonDoc> docker = Status::NotFound("");
    if (auto it = c_.descriptors.find("manifest.json"); it != c_.descriptors.end()) {
      docker = ParseJson(it->second);
      if (!docker.ok()) return Invalid("manifest.json: " + docker.status().message());
      if (!docker->IsArray()) return Invalid("manifest.json: not a list");
      for (const auto& m : docker->GetArray()) {
        std::string config(GetString(m, "Config").value_or(""));
        std::optional<std::string> d = c_.DigestOf(CleanArchivePath(config));
        if (!d) continue;
        for (const auto& t : StringArray(Member(m, "RepoTags"))) docker_tags[*d].push_back(t);
      }
    }
    if (c_.descriptors.count("index.json") != 0) return ImportOci(docker_tags);
    if (docker.ok()) return ImportDocker(*docker);
    return Invalid("not an OCI image layout or docker-archive tarball: it has neither index.json nor manifest.json");
  }

  static std::vector<std::string> StringArray(const JsonValue* v) {
    std::vector<std::string> out;
    if (v == nullptr || !v->IsArray()) return out;
    for (const auto& s : v->GetArray()) {
      if (s.IsString()) out.emplace_back(s.GetString(), s.GetStringLength());
    }
    return out;
  }

  std::vector<std::string> Normalize(const std::vector<std::string>& names) {
    std::vector<std::string> out;
    for (const auto& n : names) {
      StatusOr<std::string> norm = NormalizeReference(n);
      if (!norm.ok()) {
        MINIK_LOG(Warning) << path_ << ": ignoring image name \"" << n << "\": " << norm.status().message();
        continue;
      }
      if (std::find(out.begin(), out.end(), *norm) == out.end()) out.push_back(*norm);
    }
    return out;
  }

  StatusOr<std::string> ReadBlob(const std::string& digest) {
    if (!store_.HasBlob(digest)) return Invalid("blob " + digest + " is missing from the archive");
    return ReadSmallFile(store_.BlobPath(digest), kMaxManifestBytes);
  }

  // Follows a descriptor down nested indexes to the image manifest for this platform.
  Status Collect(const JsonValue& desc, const std::vector<std::string>& names, int depth,
                 std::vector<std::pair<std::string, std::vector<std::string>>>* picks) {
    if (depth > 4) return Invalid("indexes nested too deep");
    std::string mt(GetString(desc, "mediaType").value_or(""));
    std::string digest(GetString(desc, "digest").value_or(""));
    if (!IsDigest(digest)) return Invalid("descriptor with unsupported digest \"" + digest + "\"");
    if (IsIndexType(mt)) {
      StatusOr<std::string> text = ReadBlob(digest);
      if (!text.ok()) return text.status();
      StatusOr<JsonDoc> idx = ParseJson(*text);
      if (!idx.ok()) return Invalid("index " + digest + ": " + idx.status().message());
      const JsonValue* ms = Member(*idx, "manifests");
      if (ms == nullptr || !ms->IsArray()) return Invalid("index " + digest + " has no manifests");
      for (const auto& m : ms->GetArray()) {
        if (Member(m, "platform") != nullptr && PlatformMatches(m)) return Collect(m, names, depth + 1, picks);
      }
      for (const auto& m : ms->GetArray()) {
        if (Member(m, "platform") == nullptr) return Collect(m, names, depth + 1, picks);
      }
      return Invalid(std::string("no match for platform in manifest: not found (linux/") + RunningArch() + ")");
    }
    if (!mt.empty() && !IsManifestType(mt)) return Status::OK();  // artifacts, attestations
    if (!PlatformMatches(desc)) return Status::OK();
    for (auto& [d, n] : *picks) {
      if (d == digest) {
        n.insert(n.end(), names.begin(), names.end());
        return Status::OK();
      }
    }
    picks->emplace_back(digest, names);
    return Status::OK();
  }

  StatusOr<std::vector<Image>> ImportOci(const std::map<std::string, std::vector<std::string>>& docker_tags) {
    StatusOr<JsonDoc> index = ParseJson(c_.descriptors["index.json"]);
    if (!index.ok()) return Invalid("index.json: " + index.status().message());
    const JsonValue* ms = Member(*index, "manifests");
    if (ms == nullptr || !ms->IsArray()) return Invalid("index.json has no manifests");
    std::vector<std::pair<std::string, std::vector<std::string>>> picks;
    for (const auto& m : ms->GetArray()) {
      std::vector<std::string> names;
      if (std::string n = NameFromAnnotations(m); !n.empty()) names.push_back(n);
      MINIK_RETURN_IF_ERROR(Collect(m, names, 0, &picks));
    }
    if (picks.empty()) return Invalid(std::string("no image for linux/") + RunningArch() + " in the archive");
    std::vector<Image> out;
    for (auto& [digest, names] : picks) {
      StatusOr<std::string> manifest = ReadBlob(digest);
      if (!manifest.ok()) return manifest.status();
      if (names.empty()) {
        StatusOr<JsonDoc> m = ParseJson(*manifest);
        if (m.ok()) {
          std::string config(GetString(Member(*m, "config") ? *Member(*m, "config") : *m, "digest").value_or(""));
          if (auto t = docker_tags.find(config); t != docker_tags.end()) names = t->second;
        }
      }
      StatusOr<Image> img = store_.CommitManifest(*manifest, Normalize(names));
      if (!img.ok()) return img.status().WithContext(path_);
      out.push_back(std::move(*img));
    }
    return out;
  }

  StatusOr<std::vector<Image>> ImportDocker(const JsonDoc& manifest) {
    std::vector<Image> out;
    for (const auto& m : manifest.GetArray()) {
      std::string config_path = CleanArchivePath(GetString(m, "Config").value_or(""));
      std::optional<std::string> config = c_.DigestOf(config_path);
      if (!config) return Invalid("manifest.json names config \"" + config_path + "\", which the archive lacks");
      JsonDoc synth(rapidjson::kObjectType);
      auto& al = synth.GetAllocator();
      synth.AddMember("schemaVersion", 2, al);
      synth.AddMember("mediaType", "application/vnd.docker.distribution.manifest.v2+json", al);
      JsonValue cj(rapidjson::kObjectType);
      cj.AddMember("mediaType", "application/vnd.docker.container.image.v1+json", al);
      cj.AddMember("size", JsonValue(FileSize(store_.BlobPath(*config))), al);
      cj.AddMember("digest", MakeString(*config, al), al);
      synth.AddMember("config", cj, al);
      JsonValue layers(rapidjson::kArrayType);
      for (const auto& lp : StringArray(Member(m, "Layers"))) {
        std::string p = CleanArchivePath(lp);
        std::optional<std::string> d = c_.DigestOf(p);
        if (!d) return Invalid("manifest.json names layer \"" + p + "\", which the archive lacks");
        std::string blob = store_.BlobPath(*d);
        JsonValue lj(rapidjson::kObjectType);
        lj.AddMember("mediaType", MakeString(SniffLayerMediaType(blob), al), al);
        lj.AddMember("size", JsonValue(FileSize(blob)), al);
        lj.AddMember("digest", MakeString(*d, al), al);
        layers.PushBack(lj, al);
      }
      synth.AddMember("layers", layers, al);
      StatusOr<Image> img = store_.CommitManifest(ToJson(synth), Normalize(StringArray(Member(m, "RepoTags"))));
      if (!img.ok()) return img.status().WithContext(path_);
      out.push_back(std::move(*img));
    }
    if (out.empty()) return Invalid("manifest.json lists no image");
    return out;
  }

  FileImageStore& store_;
  const std::string path_;
  Contents c_;
};

}  // namespace

StatusOr<std::vector<Image>> FileImageStore::ImportArchive(const std::string& path) {
  Importer imp(*this, path);
  return imp.Run();
}

}  // namespace minik::agent::images
