#include "server/service_account_admission.h"

#include <openssl/rand.h>

#include <set>

#include "api/errors.h"
#include "server/api_server.h"

namespace minik::server::admission {

namespace {

constexpr char kMirrorAnnotation[] = "kubernetes.io/config.mirror";
constexpr char kDefaultServiceAccount[] = "default";
constexpr char kTokenVolumePrefix[] = "kube-api-access-";

std::string_view Str(const JsonValue* obj, std::string_view name) {
  return obj && obj->IsObject() ? GetString(*obj, name).value_or("") : "";
}

// The name in Forbidden messages: the name, else generateName (upstream's extractResourceName).
std::string PodName(const JsonValue& pod) {
  const JsonValue* m = Member(pod, "metadata");
  std::string name(Str(m, "name"));
  return name.empty() ? std::string(Str(m, "generateName")) : name;
}

bool IsMirror(const JsonValue& pod) {
  const JsonValue* ann = Path(pod, {"metadata", "annotations"});
  return ann && ann->IsObject() && Member(*ann, kMirrorAnnotation);
}

Status Forbidden(const JsonValue& pod, const std::string& msg) {
  return api::ForbiddenError("", "pods", PodName(pod), msg);
}

const JsonValue* Array(const JsonValue* obj, std::string_view name) {
  const JsonValue* v = obj && obj->IsObject() ? Member(*obj, name) : nullptr;
  return v && v->IsArray() ? v : nullptr;
}

// podutil.VisitPodSecretNames, for the references pods commonly make.
bool ReferencesSecrets(const JsonValue& spec) {
  if (const JsonValue* ips = Array(&spec, "imagePullSecrets"); ips && !ips->Empty()) return true;
  for (const char* list : {"initContainers", "containers", "ephemeralContainers"}) {
    const JsonValue* cs = Array(&spec, list);
    if (!cs) continue;
    for (const auto& c : cs->GetArray()) {
      if (const JsonValue* ef = Array(&c, "envFrom")) {
        for (const auto& e : ef->GetArray()) {
          if (Member(e, "secretRef")) return true;
        }
      }
      if (const JsonValue* env = Array(&c, "env")) {
        for (const auto& e : env->GetArray()) {
          if (Path(e, {"valueFrom", "secretKeyRef"})) return true;
        }
      }
    }
  }
  if (const JsonValue* vols = Array(&spec, "volumes")) {
    for (const auto& v : vols->GetArray()) {
      if (Member(v, "secret")) return true;
      for (const char* src : {"cephfs", "cinder", "flexVolume", "rbd", "scaleIO", "iscsi", "azureFile", "csi"}) {
        const JsonValue* s = Member(v, src);
        if (s && s->IsObject() && (Member(*s, "secretRef") || Member(*s, "nodePublishSecretRef"))) return true;
      }
      if (const JsonValue* srcs = Array(Member(v, "projected"), "sources")) {
        for (const auto& s : srcs->GetArray()) {
          if (Member(s, "secret")) return true;
        }
      }
    }
  }
  return false;
}

bool HasTokenProjection(const JsonValue& spec) {
  if (const JsonValue* vols = Array(&spec, "volumes")) {
    for (const auto& v : vols->GetArray()) {
      if (const JsonValue* srcs = Array(Member(v, "projected"), "sources")) {
        for (const auto& s : srcs->GetArray()) {
          if (Member(s, "serviceAccountToken")) return true;
        }
      }
    }
  }
  return false;
}

JsonValue TokenVolume(const std::string& name, JsonAlloc& a) {
  auto obj = [] { return JsonValue(rapidjson::kObjectType); };
  JsonValue token = obj();
  token.AddMember("expirationSeconds", 3607, a);
  token.AddMember("path", "token", a);
  JsonValue s1 = obj();
  s1.AddMember("serviceAccountToken", token, a);

  JsonValue item = obj();
  item.AddMember("key", "ca.crt", a);
  item.AddMember("path", "ca.crt", a);
  JsonValue items(rapidjson::kArrayType);
  items.PushBack(item, a);
  JsonValue cm = obj();
  cm.AddMember("name", "kube-root-ca.crt", a);
  cm.AddMember("items", items, a);
  JsonValue s2 = obj();
  s2.AddMember("configMap", cm, a);

  JsonValue fr = obj();
  fr.AddMember("apiVersion", "v1", a);
  fr.AddMember("fieldPath", "metadata.namespace", a);
  JsonValue file = obj();
  file.AddMember("path", "namespace", a);
  file.AddMember("fieldRef", fr, a);
  JsonValue files(rapidjson::kArrayType);
  files.PushBack(file, a);
  JsonValue dw = obj();
  dw.AddMember("items", files, a);
  JsonValue s3 = obj();
  s3.AddMember("downwardAPI", dw, a);

  JsonValue sources(rapidjson::kArrayType);
  sources.PushBack(s1, a);
  sources.PushBack(s2, a);
  sources.PushBack(s3, a);
  JsonValue projected = obj();
  projected.AddMember("sources", sources, a);
  projected.AddMember("defaultMode", 420, a);
  JsonValue vol = obj();
  vol.AddMember("name", MakeString(name, a), a);
  vol.AddMember("projected", projected, a);
  return vol;
}

// mountServiceAccountToken.
void MountToken(JsonValue& spec, const std::string& suffix, JsonAlloc& a) {
  std::string volume_name;
  bool has_volume = false;
  if (const JsonValue* vols = Array(&spec, "volumes")) {
    for (const auto& v : vols->GetArray()) {
      std::string_view n = Str(&v, "name");
      if (n.rfind(kTokenVolumePrefix, 0) == 0) {
        volume_name = std::string(n);
        has_volume = true;
        break;
      }
    }
  }
  if (volume_name.empty()) volume_name = kTokenVolumePrefix + suffix;
  bool needs_volume = false;
  for (const char* list : {"initContainers", "containers"}) {
    JsonValue* cs = MutableMember(spec, list);
    if (!cs || !cs->IsArray()) continue;
    for (auto& c : cs->GetArray()) {
      bool mounted = false;
      if (const JsonValue* vms = Array(&c, "volumeMounts")) {
        for (const auto& vm : vms->GetArray()) {
          if (Str(&vm, "mountPath") == kServiceAccountTokenMountPath) mounted = true;
        }
      }
      if (mounted) continue;
      JsonValue* vms = MutableMember(c, "volumeMounts");
      if (!vms || !vms->IsArray()) {
        SetMember(c, "volumeMounts", JsonValue(rapidjson::kArrayType), a);
        vms = MutableMember(c, "volumeMounts");
      }
      JsonValue vm(rapidjson::kObjectType);
      vm.AddMember("name", MakeString(volume_name, a), a);
      vm.AddMember("readOnly", true, a);
      vm.AddMember("mountPath", JsonValue(kServiceAccountTokenMountPath, a), a);
      vms->PushBack(vm, a);
      needs_volume = true;
    }
  }
  if (has_volume || !needs_volume) return;
  JsonValue* vols = MutableMember(spec, "volumes");
  if (!vols || !vols->IsArray()) {
    SetMember(spec, "volumes", JsonValue(rapidjson::kArrayType), a);
    vols = MutableMember(spec, "volumes");
  }
  vols->PushBack(TokenVolume(volume_name, a), a);
}

const JsonValue* FindServiceAccount(const ObjectStore& store, const api::Registry& registry, const std::string& ns,
                                    const std::string& name, ObjectPtr* holder) {
  const api::ResourceInfo* info = registry.Find("", "v1", "serviceaccounts");
  if (!info) return nullptr;
  *holder = store.Get(StorageKey(*info, ns, name));
  return *holder ? holder->get()->object.get() : nullptr;
}

}  // namespace

std::string RandomSuffix() {
  static constexpr char kAlphabet[] = "bcdfghjklmnpqrstvwxz2456789";
  unsigned char bytes[5];
  if (RAND_bytes(bytes, sizeof bytes) != 1) {
    for (auto& b : bytes) b = 0;
  }
  std::string out;
  for (unsigned char b : bytes) out += kAlphabet[b % (sizeof kAlphabet - 1)];
  return out;
}

Status AdmitPodServiceAccount(const JsonValue* sa, JsonValue& pod, const std::string& volume_suffix, JsonAlloc& a) {
  JsonValue& spec = EnsureObject(pod, "spec", a);
  if (IsMirror(pod)) {
    if (!Str(&spec, "serviceAccountName").empty()) {
      return Forbidden(pod, "a mirror pod may not reference service accounts");
    }
    if (ReferencesSecrets(spec)) return Forbidden(pod, "a mirror pod may not reference secrets");
    if (HasTokenProjection(spec)) {
      return Forbidden(pod, "a mirror pod may not use ServiceAccountToken volume projections");
    }
    return Status::OK();
  }
  std::string name(Str(&spec, "serviceAccountName"));
  if (name.empty()) {
    name = kDefaultServiceAccount;
    SetString(spec, "serviceAccountName", name, a);
    SetString(spec, "serviceAccount", name, a);
  }
  if (!sa) {
    std::string ns(Str(Member(pod, "metadata"), "namespace"));
    return Forbidden(pod, "error looking up service account " + ns + "/" + name + ": serviceaccount \"" + name +
                              "\" not found");
  }
  // The pod's preference wins, then the ServiceAccount's; mount by default.
  std::optional<bool> automount = GetBool(spec, "automountServiceAccountToken");
  if (!automount) automount = GetBool(*sa, "automountServiceAccountToken");
  if (automount.value_or(true)) MountToken(spec, volume_suffix, a);
  const JsonValue* pull = Array(&spec, "imagePullSecrets");
  const JsonValue* sa_pull = Array(sa, "imagePullSecrets");
  if ((!pull || pull->Empty()) && sa_pull && !sa_pull->Empty()) {
    JsonValue refs(rapidjson::kArrayType);
    for (const auto& r : sa_pull->GetArray()) {
      JsonValue ref(rapidjson::kObjectType);
      ref.AddMember("name", MakeString(Str(&r, "name"), a), a);
      refs.PushBack(ref, a);
    }
    SetMember(spec, "imagePullSecrets", std::move(refs), a);
  }
  return Status::OK();
}

Status AdmitServiceAccount(const ObjectStore& store, const api::Registry& registry, JsonDoc& pod) {
  const JsonValue* spec = Member(pod, "spec");
  std::string name(Str(spec, "serviceAccountName"));
  if (name.empty()) name = kDefaultServiceAccount;
  std::string ns(Str(Member(pod, "metadata"), "namespace"));
  ObjectPtr holder;
  const JsonValue* sa = IsMirror(pod) ? nullptr : FindServiceAccount(store, registry, ns, name, &holder);
  return AdmitPodServiceAccount(sa, pod, RandomSuffix(), pod.GetAllocator());
}

bool DefaultServiceAccountPending(const ObjectStore& store, const api::Registry& registry, const JsonValue& pod) {
  if (IsMirror(pod)) return false;
  std::string name(Str(Member(pod, "spec"), "serviceAccountName"));
  if (!name.empty() && name != kDefaultServiceAccount) return false;
  ObjectPtr holder;
  return !FindServiceAccount(store, registry, std::string(Str(Member(pod, "metadata"), "namespace")),
                             kDefaultServiceAccount, &holder);
}

}  // namespace minik::server::admission
