#include "agent/volumes/volume_manager.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <optional>

#include "agent/volumes/atomic_writer.h"
#include "agent/volumes/downward.h"
#include "agent/volumes/pod_util.h"
#include "api/quantity.h"
#include "common/log.h"
#include "common/strings.h"

namespace minik::agent::volumes {

using internal::Array;
using internal::Bool;
using internal::Object;
using internal::Str;

std::string VolumeError::EventMessage() const {
  if (!setup_failed) return message;
  return "MountVolume.SetUp failed for volume \"" + volume + "\" : " + message;
}

std::vector<std::string> OciBindOptions(const ContainerMount& m) {
  std::vector<std::string> out = {"rbind"};
  switch (m.propagation) {
    case MountPropagation::kPrivate: out.push_back("rprivate"); break;
    case MountPropagation::kHostToContainer: out.push_back("rslave"); break;
    case MountPropagation::kBidirectional: out.push_back("rshared"); break;
  }
  out.push_back(m.read_only ? "ro" : "rw");
  if (m.recursive_read_only) out.push_back("rro");
  return out;
}

namespace {

std::string Errno(const std::string& op, const std::string& path) {
  return op + " " + path + ": " + std::strerror(errno);
}

Status MkdirAll(const std::string& path, mode_t mode) {
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return Status::OK();
    return Status::Internal("mkdir " + path + ": not a directory");
  }
  size_t slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0) MINIK_RETURN_IF_ERROR(MkdirAll(path.substr(0, slash), mode));
  if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST) return Status::Internal(Errno("mkdir", path));
  return Status::OK();
}

// Creates dir with exactly `mode` (emptyDir's setupDir: chmod past the umask).
Status EnsureDir(const std::string& dir, mode_t mode) {
  struct stat st;
  bool existed = ::stat(dir.c_str(), &st) == 0;
  MINIK_RETURN_IF_ERROR(MkdirAll(dir, mode));
  if (!existed && ::chmod(dir.c_str(), mode) != 0) return Status::Internal(Errno("chmod", dir));
  return Status::OK();
}

std::string AggregateMessage(const std::vector<std::string>& errs) {
  if (errs.size() == 1) return errs[0];
  std::string out = "[";
  for (size_t i = 0; i < errs.size(); ++i) out += (i ? ", " : "") + errs[i];
  return out + "]";
}

uint32_t ModeOf(const JsonValue* obj, std::string_view name, uint32_t def) {
  if (!obj || !obj->IsObject()) return def;
  auto v = GetInt(*obj, name);
  return v ? static_cast<uint32_t>(*v) : def;
}

std::optional<int64_t> OptInt(const JsonValue* obj, std::string_view name) {
  if (!obj || !obj->IsObject()) return std::nullopt;
  return GetInt(*obj, name);
}

// securitycontext.DetermineEffectiveRunAsUser over init and regular containers (FsUserFrom).
std::optional<int64_t> FsUserFrom(const JsonValue& pod) {
  const JsonValue* spec = Object(&pod, "spec");
  auto pod_user = OptInt(Object(spec, "securityContext"), "runAsUser");
  std::optional<int64_t> fs_user;
  for (const char* list : {"initContainers", "containers"}) {
    if (const JsonValue* arr = Array(spec, list)) {
      for (const auto& c : arr->GetArray()) {
        auto u = OptInt(Object(&c, "securityContext"), "runAsUser");
        if (!u) u = pod_user;
        if (!u || (fs_user && *fs_user != *u)) return std::nullopt;
        fs_user = u;
      }
    }
  }
  return fs_user;
}

// volume.SetVolumeOwnership: group fs_group, g+rw (g+r when read_only) on everything under dir
// (not following symlinks), g+x and setgid on directories.
Status SetVolumeOwnership(const std::string& dir, std::optional<int64_t> fs_group, bool read_only,
                          const std::string& change_policy) {
  if (!fs_group) return Status::OK();
  const mode_t mask = read_only ? 0440 : 0660;
  struct stat root;
  if (change_policy == "OnRootMismatch" && ::lstat(dir.c_str(), &root) == 0 &&
      root.st_gid == static_cast<gid_t>(*fs_group) && (root.st_mode & (mask | 0110)) == (mask | 0110) &&
      (root.st_mode & S_ISGID)) {
    return Status::OK();
  }
  std::vector<std::string> stack = {dir};
  while (!stack.empty()) {
    std::string p = std::move(stack.back());
    stack.pop_back();
    struct stat st;
    if (::lstat(p.c_str(), &st) != 0) return Status::Internal(Errno("lstat", p));
    if (::lchown(p.c_str(), static_cast<uid_t>(-1), static_cast<gid_t>(*fs_group)) != 0) {
      return Status::Internal(Errno("lchown", p));
    }
    if (S_ISLNK(st.st_mode)) continue;
    mode_t m = mask;
    if (S_ISDIR(st.st_mode)) m |= S_ISGID | 0110;
    if (::chmod(p.c_str(), (st.st_mode & 07777) | m) != 0) return Status::Internal(Errno("chmod", p));
    if (S_ISDIR(st.st_mode)) {
      DIR* d = ::opendir(p.c_str());
      if (!d) return Status::Internal(Errno("opendir", p));
      while (struct dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n != "." && n != "..") stack.push_back(p + "/" + n);
      }
      ::closedir(d);
    }
  }
  return Status::OK();
}

// Removes a tree without following symlinks and without crossing into another filesystem.
Status RemoveTree(const std::string& path, dev_t dev) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return errno == ENOENT ? Status::OK() : Status::Internal(Errno("lstat", path));
  if (S_ISDIR(st.st_mode)) {
    if (st.st_dev != dev) return Status::Internal("refusing to remove " + path + ": it is still a mount point");
    DIR* d = ::opendir(path.c_str());
    if (!d) return Status::Internal(Errno("opendir", path));
    std::vector<std::string> names;
    while (struct dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") names.push_back(n);
    }
    ::closedir(d);
    for (const auto& n : names) MINIK_RETURN_IF_ERROR(RemoveTree(path + "/" + n, dev));
    if (::rmdir(path.c_str()) != 0 && errno != ENOENT) return Status::Internal(Errno("rmdir", path));
    return Status::OK();
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return Status::Internal(Errno("unlink", path));
  return Status::OK();
}

// The data of a ConfigMap (data + base64 binaryData) or a Secret (base64 data).
struct KeyData {
  std::map<std::string, std::string> values;
  std::vector<std::string> order;  // the object's key order
};

KeyData ReadKeys(const JsonValue* obj, bool secret) {
  KeyData out;
  auto add = [&](const JsonValue* m, bool b64) {
    if (!m) return;
    for (const auto& kv : m->GetObject()) {
      if (!kv.value.IsString()) continue;
      std::string k(kv.name.GetString(), kv.name.GetStringLength());
      std::string v(kv.value.GetString(), kv.value.GetStringLength());
      if (b64) {
        std::string decoded;
        if (Base64Decode(v, &decoded)) v = std::move(decoded);
      }
      if (!out.values.count(k)) out.order.push_back(k);
      out.values[k] = std::move(v);
    }
  };
  add(Object(obj, "data"), secret);
  if (!secret) add(Object(obj, "binaryData"), true);
  return out;
}

// configmap.MakePayload / secret.MakePayload.
StatusOr<Payload> MakeKeyPayload(const JsonValue* items, const JsonValue* obj, uint32_t default_mode, bool optional,
                                 bool secret) {
  KeyData keys = ReadKeys(obj, secret);
  Payload payload;
  if (!items || items->Empty()) {
    for (const auto& k : keys.order) payload[k] = FileProjection{keys.values[k], default_mode, -1};
    return payload;
  }
  for (const auto& ktp : items->GetArray()) {
    std::string key = Str(&ktp, "key");
    auto it = keys.values.find(key);
    if (it == keys.values.end()) {
      if (optional) continue;
      return Status::NotFound(secret ? "references non-existent secret key: " + key
                                     : "configmap references non-existent config key: " + key);
    }
    payload[Str(&ktp, "path")] = FileProjection{it->second, ModeOf(&ktp, "mode", default_mode), -1};
  }
  return payload;
}

// downwardapi.CollectData.
StatusOr<Payload> DownwardPayload(const JsonValue* items, const JsonValue& pod, const NodeInfo& node,
                                  uint32_t default_mode) {
  Payload payload;
  std::vector<std::string> errs;
  if (items) {
    for (const auto& item : items->GetArray()) {
      FileProjection f{"", ModeOf(&item, "mode", default_mode), -1};
      if (const JsonValue* fr = Object(&item, "fieldRef")) {
        auto v = ExtractPodMetadataField(pod, Str(fr, "fieldPath"));
        if (!v.ok()) errs.push_back(v.status().message());
        else f.data = *v;
      } else if (const JsonValue* rr = Object(&item, "resourceFieldRef")) {
        auto v = ContainerResourceValue(*rr, pod, nullptr, node);
        if (!v.ok()) errs.push_back(v.status().message());
        else f.data = *v;
      }
      payload[Str(&item, "path")] = std::move(f);
    }
  }
  if (!errs.empty()) return Status::Invalid(AggregateMessage(errs));
  return payload;
}

// The v1.32 hostPath type check (fileTypeChecker) with its messages.
Status CheckHostPathType(const std::string& path, const std::string& type) {
  if (type.empty()) return Status::OK();
  struct stat st;
  bool exists = ::stat(path.c_str(), &st) == 0;
  auto is = [&](mode_t fmt) { return exists && (st.st_mode & S_IFMT) == fmt; };
  auto fail = [&](const char* what) {
    return Status::Invalid("hostPath type check failed: " + path + " is not a " + what);
  };
  if (type == "DirectoryOrCreate") {
    if (!exists) {
      if (Status s = MkdirAll(path, 0755); !s.ok()) return s;
      return Status::OK();
    }
    return is(S_IFDIR) ? Status::OK() : fail("directory");
  }
  if (type == "Directory") return is(S_IFDIR) ? Status::OK() : fail("directory");
  if (type == "FileOrCreate") {
    if (!exists) {
      int fd = ::open(path.c_str(), O_CREAT | O_RDONLY | O_CLOEXEC, 0644);
      if (fd < 0 && errno != EEXIST) return Status::Internal("open " + path + ": " + std::strerror(errno));
      if (fd >= 0) ::close(fd);
      return Status::OK();
    }
    return is(S_IFREG) ? Status::OK() : fail("file");
  }
  if (type == "File") return is(S_IFREG) ? Status::OK() : fail("file");
  if (type == "Socket") return is(S_IFSOCK) ? Status::OK() : fail("socket file");
  if (type == "CharDevice") return is(S_IFCHR) ? Status::OK() : fail("character device");
  if (type == "BlockDevice") return is(S_IFBLK) ? Status::OK() : fail("block device");
  return Status::Invalid(type + " is an invalid volume type");
}

bool HasBackstep(const std::string& p) {
  for (auto part : Split(p, '/')) {
    if (part == "..") return true;
  }
  return false;
}

std::string RealPath(const std::string& p) {
  char buf[PATH_MAX];
  return ::realpath(p.c_str(), buf) ? std::string(buf) : std::string();
}

bool Within(const std::string& path, const std::string& root) {
  return path == root || (path.size() > root.size() && path.compare(0, root.size(), root) == 0 &&
                          (root == "/" || path[root.size()] == '/'));
}

}  // namespace

int64_t MemoryBackedSize(const JsonValue& pod, const JsonValue* size_limit, const NodeInfo& node) {
  auto parse = [](std::string_view s) -> std::optional<int64_t> {
    if (s.empty()) return std::nullopt;
    auto q = api::ParseQuantity(s);
    if (!q.ok()) return std::nullopt;
    return q->Value();
  };
  std::optional<int64_t> size = parse(node.allocatable_memory);
  // The pod's memory limit (ResourceConfigForPod): only when every container declares one.
  const JsonValue* spec = Object(&pod, "spec");
  bool all = true;
  int64_t sum = 0, init_max = 0;
  auto limit_of = [&](const JsonValue& c) -> std::optional<int64_t> {
    const JsonValue* lim = Object(Object(&c, "resources"), "limits");
    return parse(Str(lim, "memory"));
  };
  if (const JsonValue* cs = Array(spec, "containers")) {
    for (const auto& c : cs->GetArray()) {
      auto l = limit_of(c);
      if (!l || *l <= 0) all = false;
      else sum += *l;
    }
  }
  if (const JsonValue* cs = Array(spec, "initContainers")) {
    for (const auto& c : cs->GetArray()) {
      auto l = limit_of(c);
      if (!l || *l <= 0) all = false;
      else if (Str(&c, "restartPolicy") == "Always") sum += *l;  // sidecars run alongside
      else init_max = std::max(init_max, *l);
    }
  }
  if (all) {
    int64_t pod_limit = std::max(sum, init_max);
    if (const JsonValue* overhead = Object(spec, "overhead")) pod_limit += parse(Str(overhead, "memory")).value_or(0);
    if (pod_limit > 0 && (!size || pod_limit <= *size)) size = pod_limit;
  }
  if (size_limit && size_limit->IsString()) {
    auto l = parse(std::string_view(size_limit->GetString(), size_limit->GetStringLength()));
    if (l && *l > 0 && (!size || *l <= *size)) size = l;
  }
  return size.value_or(0);
}

VolumeManager::VolumeManager(VolumeManagerOptions options, Mounter& mounter, const Clock& clock, TokenSource* tokens)
    : options_(std::move(options)), mounter_(mounter), clock_(clock), tokens_(tokens) {}

std::string VolumeManager::VolumeDir(const std::string& uid, const std::string& plugin, const std::string& name) const {
  return PodDir(uid) + "/volumes/" + plugin + "/" + name;
}

SetUpResult VolumeManager::SetUp(const JsonValue& pod, const ObjectSource& objects, const NodeInfo& node) {
  return Run(pod, objects, node, false);
}

SetUpResult VolumeManager::Update(const JsonValue& pod, const ObjectSource& objects, const NodeInfo& node) {
  return Run(pod, objects, node, true);
}

SetUpResult VolumeManager::Run(const JsonValue& pod, const ObjectSource& objects, const NodeInfo& node,
                               bool content_only) {
  SetUpResult result;
  const JsonValue* meta = Object(&pod, "metadata");
  const JsonValue* spec = Object(&pod, "spec");
  std::string uid = Str(meta, "uid"), ns = Str(meta, "namespace"), pod_name = Str(meta, "name");
  if (uid.empty()) {
    result.errors.push_back({"", "pod has no metadata.uid", false});
    return result;
  }
  std::string pod_dir = PodDir(uid);
  for (const std::string& d : {pod_dir, pod_dir + "/volumes", pod_dir + "/plugins"}) {
    if (Status st = EnsureDir(d, 0750); !st.ok()) {
      result.errors.push_back({"", st.message(), false});
      return result;
    }
  }
  const JsonValue* sc = Object(spec, "securityContext");
  std::optional<int64_t> fs_group = OptInt(sc, "fsGroup");
  std::string fs_group_policy = Str(sc, "fsGroupChangePolicy");
  std::optional<int64_t> fs_user = FsUserFrom(pod);

  std::map<std::string, ReadyVolume> ready;
  const JsonValue* vols = Array(spec, "volumes");
  if (!vols) {
    std::lock_guard<std::mutex> l(mu_);
    ready_[uid];
    return result;
  }

  // Makes <plugin>/<name> (0777) and, for memory-backed volumes, mounts a tmpfs on it.
  auto make_volume_dir = [&](const std::string& plugin, const std::string& name, bool memory,
                             const JsonValue* size_limit) -> StatusOr<std::string> {
    std::string dir = VolumeDir(uid, plugin, name);
    MINIK_RETURN_IF_ERROR(MkdirAll(pod_dir + "/volumes/" + plugin, 0750));
    MINIK_RETURN_IF_ERROR(EnsureDir(dir, 0777));
    if (memory && !mounter_.IsMountPoint(dir)) {
      MINIK_RETURN_IF_ERROR(mounter_.MountTmpfs(dir, MemoryBackedSize(pod, size_limit, node)));
    }
    return dir;
  };
  // Writes an atomic-writer volume.
  auto write_volume = [&](const std::string& plugin, const std::string& name, bool memory,
                          const Payload& payload) -> StatusOr<std::string> {
    MINIK_ASSIGN_OR_RETURN(std::string dir, make_volume_dir(plugin, name, memory, nullptr));
    AtomicWriter writer(dir, clock_);
    MINIK_RETURN_IF_ERROR(writer.Write(payload, [&]() { return SetVolumeOwnership(dir, fs_group, true, ""); }));
    return dir;
  };

  for (const auto& v : vols->GetArray()) {
    std::string name = Str(&v, "name");
    auto fail = [&](const Status& st, bool setup = true) { result.errors.push_back({name, st.message(), setup}); };

    if (const JsonValue* ed = Object(&v, "emptyDir")) {
      if (content_only) continue;
      bool memory = Str(ed, "medium") == "Memory";
      auto dir = make_volume_dir(kEmptyDirPlugin, name, memory, Member(*ed, "sizeLimit"));
      if (!dir.ok()) {
        fail(dir.status());
        continue;
      }
      if (Status st = SetVolumeOwnership(*dir, fs_group, false, fs_group_policy); !st.ok()) {
        fail(st);
        continue;
      }
      ready[name] = {*dir, false};
    } else if (const JsonValue* hp = Object(&v, "hostPath")) {
      if (content_only) continue;
      std::string path = Str(hp, "path");
      if (HasBackstep(path)) {
        fail(Status::Invalid("invalid HostPath `" + path + "`: must not contain '..'"));
        continue;
      }
      if (Status st = CheckHostPathType(path, Str(hp, "type")); !st.ok()) {
        fail(st);
        continue;
      }
      ready[name] = {path, false};
    } else if (const JsonValue* pvc_src = Object(&v, "persistentVolumeClaim")) {
      if (content_only) continue;
      std::string claim = Str(pvc_src, "claimName");
      std::string prefix = "error processing PVC " + ns + "/" + claim + ": ";
      ObjectPtr pvc = objects.PersistentVolumeClaim(ns, claim);
      if (!pvc) {
        fail(Status::NotFound(prefix + "failed to fetch PVC from API server: persistentvolumeclaims \"" + claim +
                              "\" not found"),
             false);
        continue;
      }
      const JsonValue* pvc_meta = Object(pvc.get(), "metadata");
      if (pvc_meta && Member(*pvc_meta, "deletionTimestamp") && !Member(*pvc_meta, "deletionTimestamp")->IsNull()) {
        fail(Status::Invalid(prefix + "PVC is being deleted"), false);
        continue;
      }
      if (Str(Object(pvc.get(), "status"), "phase") != "Bound") {
        fail(Status::Invalid(prefix + "PVC is not bound"), false);
        continue;
      }
      std::string pv_name = Str(Object(pvc.get(), "spec"), "volumeName");
      ObjectPtr pv = objects.PersistentVolume(pv_name);
      if (!pv) {
        fail(Status::NotFound(prefix + "failed to fetch PV " + pv_name + " from API server: persistentvolumes \"" +
                              pv_name + "\" not found"),
             false);
        continue;
      }
      const JsonValue* pv_spec = Object(pv.get(), "spec");
      const JsonValue* claim_ref = Object(pv_spec, "claimRef");
      if (!claim_ref) {
        fail(Status::Invalid(prefix + "found PV object " + pv_name + " but it has a nil ClaimRef"), false);
        continue;
      }
      std::string pvc_uid = Str(pvc_meta, "uid");
      if (Str(claim_ref, "uid") != pvc_uid) {
        fail(Status::Invalid(prefix + "found PV object " + pv_name + " but its ClaimRef.UID " + Str(claim_ref, "uid") +
                             " does not point to claim.UID " + pvc_uid),
             false);
        continue;
      }
      bool read_only = Bool(pvc_src, "readOnly", false);
      if (const JsonValue* php = Object(pv_spec, "hostPath")) {
        std::string path = Str(php, "path");
        if (HasBackstep(path)) {
          fail(Status::Invalid("invalid HostPath `" + path + "`: must not contain '..'"));
          continue;
        }
        if (Status st = CheckHostPathType(path, Str(php, "type")); !st.ok()) {
          fail(st);
          continue;
        }
        ready[name] = {path, read_only};
      } else if (const JsonValue* local = Object(pv_spec, "local")) {
        std::string path = Str(local, "path");
        struct stat st;
        if (::stat(path.c_str(), &st) != 0) {
          fail(Status::NotFound("path \"" + path + "\" does not exist"));
          continue;
        }
        ready[name] = {path, read_only};
      } else {
        fail(Status::Invalid(prefix + "no volume plugin matched"), false);
      }
    } else if (const JsonValue* cm = Object(&v, "configMap")) {
      std::string cm_name = Str(cm, "name");
      bool optional = Bool(cm, "optional", false);
      ObjectPtr obj = objects.ConfigMap(ns, cm_name);
      if (!obj && !optional) {
        fail(Status::NotFound("configmap \"" + cm_name + "\" not found"));
        continue;
      }
      auto payload = MakeKeyPayload(Array(cm, "items"), obj.get(), ModeOf(cm, "defaultMode", 0644), optional, false);
      if (!payload.ok()) {
        fail(payload.status());
        continue;
      }
      auto dir = write_volume(kConfigMapPlugin, name, false, *payload);
      if (!dir.ok()) fail(dir.status());
      else ready[name] = {*dir, true};
    } else if (const JsonValue* sec = Object(&v, "secret")) {
      std::string s_name = Str(sec, "secretName");
      bool optional = Bool(sec, "optional", false);
      ObjectPtr obj = objects.Secret(ns, s_name);
      if (!obj && !optional) {
        fail(Status::NotFound("secret \"" + s_name + "\" not found"));
        continue;
      }
      auto payload = MakeKeyPayload(Array(sec, "items"), obj.get(), ModeOf(sec, "defaultMode", 0644), optional, true);
      if (!payload.ok()) {
        fail(payload.status());
        continue;
      }
      auto dir = write_volume(kSecretPlugin, name, true, *payload);
      if (!dir.ok()) fail(dir.status());
      else ready[name] = {*dir, true};
    } else if (const JsonValue* da = Object(&v, "downwardAPI")) {
      auto payload = DownwardPayload(Array(da, "items"), pod, node, ModeOf(da, "defaultMode", 0644));
      if (!payload.ok()) {
        fail(payload.status());
        continue;
      }
      auto dir = write_volume(kDownwardAPIPlugin, name, true, *payload);
      if (!dir.ok()) fail(dir.status());
      else ready[name] = {*dir, true};
    } else if (const JsonValue* pj = Object(&v, "projected")) {
      uint32_t default_mode = ModeOf(pj, "defaultMode", 0644);
      Payload payload;
      std::vector<std::string> errs;
      if (const JsonValue* srcs = Array(pj, "sources")) {
        for (const auto& s : srcs->GetArray()) {
          if (const JsonValue* c = Object(&s, "configMap")) {
            std::string n = Str(c, "name");
            bool optional = Bool(c, "optional", false);
            ObjectPtr obj = objects.ConfigMap(ns, n);
            if (!obj && !optional) {
              errs.push_back("configmap \"" + n + "\" not found");
              continue;
            }
            auto p = MakeKeyPayload(Array(c, "items"), obj.get(), default_mode, optional, false);
            if (!p.ok()) errs.push_back(p.status().message());
            else for (auto& [k, f] : *p) payload[k] = f;
          } else if (const JsonValue* c = Object(&s, "secret")) {
            std::string n = Str(c, "name");
            bool optional = Bool(c, "optional", false);
            ObjectPtr obj = objects.Secret(ns, n);
            if (!obj && !optional) {
              errs.push_back("secret \"" + n + "\" not found");
              continue;
            }
            auto p = MakeKeyPayload(Array(c, "items"), obj.get(), default_mode, optional, true);
            if (!p.ok()) errs.push_back(p.status().message());
            else for (auto& [k, f] : *p) payload[k] = f;
          } else if (const JsonValue* c = Object(&s, "downwardAPI")) {
            auto p = DownwardPayload(Array(c, "items"), pod, node, default_mode);
            if (!p.ok()) errs.push_back(p.status().message());
            else for (auto& [k, f] : *p) payload[k] = f;
          } else if (const JsonValue* t = Object(&s, "serviceAccountToken")) {
            TokenRequest req;
            req.ns = ns;
            req.service_account = Str(spec, "serviceAccountName");
            if (req.service_account.empty()) req.service_account = "default";
            std::string aud = Str(t, "audience");
            if (!aud.empty()) req.audiences.push_back(aud);
            req.expiration_seconds = OptInt(t, "expirationSeconds").value_or(3600);
            req.pod_name = pod_name;
            req.pod_uid = uid;
            if (!tokens_) {
              errs.push_back("failed to fetch token: no token source");
              continue;
            }
            auto token = tokens_->GetToken(req);
            if (!token.ok()) {
              errs.push_back(token.status().message());
              continue;
            }
            uint32_t mode = (fs_user || fs_group) ? 0600 : default_mode;
            payload[Str(t, "path")] = FileProjection{*token, mode, fs_user.value_or(-1)};
          }
        }
      }
      if (!errs.empty()) {
        fail(Status::Invalid(AggregateMessage(errs)));
        continue;
      }
      auto dir = write_volume(kProjectedPlugin, name, true, payload);
      if (!dir.ok()) fail(dir.status());
      else ready[name] = {*dir, true};
    } else {
      if (content_only) continue;
      fail(Status::Invalid("no volume plugin matched"), false);
    }
  }

  std::lock_guard<std::mutex> l(mu_);
  auto& slot = ready_[uid];
  for (auto& [n, r] : ready) slot[n] = std::move(r);
  return result;
}

StatusOr<std::vector<ContainerMount>> VolumeManager::MountsFor(const JsonValue& pod, const JsonValue& container,
                                                               const std::vector<EnvVar>& env,
                                                               bool runtime_supports_rro) {
  std::string uid = Str(Object(&pod, "metadata"), "uid");
  std::string cname = Str(&container, "name");
  std::map<std::string, ReadyVolume> ready;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = ready_.find(uid);
    if (it != ready_.end()) ready = it->second;
  }
  std::vector<ContainerMount> out;
  const JsonValue* mounts = Array(&container, "volumeMounts");
  if (!mounts) return out;
  for (const auto& m : mounts->GetArray()) {
    std::string name = Str(&m, "name");
    auto it = ready.find(name);
    if (it == ready.end()) {
      return Status::NotFound("cannot find volume \"" + name + "\" to mount into container \"" + cname + "\"");
    }
    std::string sub = Str(&m, "subPath");
    std::string expr = Str(&m, "subPathExpr");
    if (!expr.empty()) {
      MINIK_ASSIGN_OR_RETURN(sub, ExpandSubPathExpr(expr, env));
    }
    if (!sub.empty()) {
      if (sub[0] == '/') return Status::Invalid("error SubPath `" + sub + "` must not be an absolute path");
      if (HasBackstep(sub)) return Status::Invalid("unable to provision SubPath `" + sub + "`: must not contain '..'");
    }
    std::string host_path = it->second.host_path;
    if (!sub.empty()) {
      std::string root = RealPath(host_path);
      std::string full = host_path + "/" + sub;
      struct stat st;
      if (::stat(full.c_str(), &st) != 0) {
        // SafeMakeDir: create the missing components with the volume's mode, never through a
        // symlink that leads out of the volume.
        struct stat vst;
        mode_t perm = ::stat(host_path.c_str(), &vst) == 0 ? (vst.st_mode & 07777) : 0755;
        std::string cur = host_path;
        bool ok = !root.empty();
        for (auto part : Split(sub, '/')) {
          if (!ok) break;
          if (part.empty() || part == ".") continue;
          cur += "/" + std::string(part);
          struct stat cst;
          if (::lstat(cur.c_str(), &cst) == 0) {
            if (!Within(RealPath(cur), root)) ok = false;
            continue;
          }
          if (::mkdir(cur.c_str(), perm) != 0 && errno != EEXIST) ok = false;
          else ::chmod(cur.c_str(), perm);
        }
        if (!ok) {
          return Status::Internal("failed to create subPath directory for volumeMount \"" + name + "\" of container \"" +
                                  cname + "\"");
        }
      }
      std::string resolved = RealPath(full);
      if (resolved.empty() || root.empty() || !Within(resolved, root)) {
        return Status::Internal("failed to prepare subPath for volumeMount \"" + name + "\" of container \"" + cname +
                                "\"");
      }
      host_path = resolved;
    }
    ContainerMount cm;
    cm.name = name;
    cm.container_path = Str(&m, "mountPath");
    if (cm.container_path.empty() || cm.container_path[0] != '/') cm.container_path = "/" + cm.container_path;
    cm.host_path = host_path;
    bool mount_ro = Bool(&m, "readOnly", false);
    cm.read_only = mount_ro || it->second.read_only;
    const JsonValue* prop = Member(m, "mountPropagation");
    std::string p = prop && prop->IsString() ? prop->GetString() : "";
    if (!prop || prop->IsNull() || p == "None") cm.propagation = MountPropagation::kPrivate;
    else if (p == "HostToContainer") cm.propagation = MountPropagation::kHostToContainer;
    else if (p == "Bidirectional") cm.propagation = MountPropagation::kBidirectional;
    else return Status::Invalid("invalid MountPropagation mode: \"" + p + "\"");
    std::string rro = Str(&m, "recursiveReadOnly");
    if (!rro.empty() && rro != "Disabled") {
      std::string prefix = "failed to resolve recursive read-only mode: ";
      if (!mount_ro) {
        return Status::Invalid(prefix + "volume \"" + name + "\" requested recursive read-only mode, but it is not read-only");
      }
      if (prop && !prop->IsNull() && p != "None") {
        return Status::Invalid(prefix + "volume \"" + name +
                               "\" requested recursive read-only mode, but it is not compatible with propagation \"" + p +
                               "\"");
      }
      if (rro == "IfPossible") cm.recursive_read_only = runtime_supports_rro;
      else if (rro == "Enabled") {
        if (!runtime_supports_rro) {
          return Status::Invalid(prefix + "volume \"" + name +
                                 "\" requested recursive read-only mode, but it is not supported by the runtime");
        }
        cm.recursive_read_only = true;
      } else {
        return Status::Invalid(prefix + "unknown recursive read-only mode \"" + rro + "\"");
      }
    }
    out.push_back(std::move(cm));
  }
  return out;
}

Status VolumeManager::TearDown(const std::string& pod_uid) {
  if (pod_uid.empty() || pod_uid.find('/') != std::string::npos || pod_uid == "." || pod_uid == "..") {
    return Status::Invalid("invalid pod uid \"" + pod_uid + "\"");
  }
  if (tokens_) tokens_->ForgetPod(pod_uid);
  std::string dir = PodDir(pod_uid);
  struct stat st;
  if (::lstat(dir.c_str(), &st) != 0) {
    std::lock_guard<std::mutex> l(mu_);
    ready_.erase(pod_uid);
    return errno == ENOENT ? Status::OK() : Status::Internal(Errno("lstat", dir));
  }
  for (const auto& m : mounter_.MountPointsUnder(dir)) {
    MINIK_RETURN_IF_ERROR(mounter_.Unmount(m));
  }
  MINIK_RETURN_IF_ERROR(RemoveTree(dir, st.st_dev));
  std::lock_guard<std::mutex> l(mu_);
  ready_.erase(pod_uid);
  return Status::OK();
}

std::vector<std::string> VolumeManager::ListPodDirs() const {
  std::vector<std::string> out;
  DIR* d = ::opendir(options_.pods_dir.c_str());
  if (!d) return out;
  while (struct dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    struct stat st;
    std::string p = options_.pods_dir + "/" + n;
    if (::lstat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) out.push_back(n);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> VolumeManager::CleanupOrphans(const std::set<std::string>& active) {
  std::vector<std::string> removed;
  for (const auto& uid : ListPodDirs()) {
    if (active.count(uid)) continue;
    Status st = TearDown(uid);
    if (st.ok()) {
      removed.push_back(uid);
    } else {
      MINIK_LOG(Warning) << "orphaned pod " << uid << " found, but its directory could not be removed: " << st.message();
    }
  }
  return removed;
}

}  // namespace minik::agent::volumes
