// Upstream's defaulting of built-in kinds (pkg/apis/<group>/<version>/defaults.go), plus what
// upstream's create path adds that users see in `kubectl get -o yaml`:
// - the strategies' PrepareForCreate/Validate additions (Pod status.phase Pending and qosClass,
//   Namespace spec.finalizers and status.phase, Job selector and controller-uid/job-name labels);
// - the default admission plugins on Pods: DefaultTolerationSeconds (not-ready/unreachable
//   NoExecute tolerations, 300 s), Priority (priority 0 / system classes, preemptionPolicy),
//   ServiceAccount (serviceAccountName default; its token volume is the server's job);
// - zero values the Go serializer writes although unset (`resources: {}`, template
//   `metadata: {creationTimestamp: null}`, Service/Ingress `status: {loadBalancer: {}}`).
// Every default only fills what is missing, so applying twice changes nothing.
#include "api/defaults.h"

#include <string>

#include "api/defaults_internal.h"

namespace minik::api {
namespace {

using internal::Get;
using internal::GetArrayMut;
using internal::GetMut;
using internal::GetObject;
using internal::GetObjectMut;
using internal::Str;
using internal::StrOf;

bool Missing(const JsonValue& obj, std::string_view name) { return Get(obj, name) == nullptr; }

void DefStr(JsonValue& obj, std::string_view name, std::string_view value, JsonAlloc& a) {
  if (Missing(obj, name) || (Get(obj, name)->IsString() && Get(obj, name)->GetStringLength() == 0)) {
    SetString(obj, name, value, a);
  }
}
void DefInt(JsonValue& obj, std::string_view name, int64_t value, JsonAlloc& a) {
  if (Missing(obj, name)) SetMember(obj, name, JsonValue(value), a);
}
void DefBool(JsonValue& obj, std::string_view name, bool value, JsonAlloc& a) {
  if (Missing(obj, name)) SetMember(obj, name, JsonValue(value), a);
}
// obj[name] as an object, created when missing or null.
JsonValue& Obj(JsonValue& obj, std::string_view name, JsonAlloc& a) { return EnsureObject(obj, name, a); }

template <typename F>
void ForEach(JsonValue& obj, std::string_view name, F&& f) {
  if (JsonValue* arr = GetArrayMut(obj, name)) {
    for (auto& item : arr->GetArray()) {
      if (item.IsObject()) f(item);
    }
  }
}

// ---- core/v1 pieces

void DefaultObjectFieldSelector(JsonValue& sel, JsonAlloc& a) { DefStr(sel, "apiVersion", "v1", a); }

void DefaultResourceFieldRef(JsonValue& ref, JsonAlloc& a) {
  // Quantity is a value type: an unset divisor serializes as "0".
  if (Missing(ref, "divisor")) SetString(ref, "divisor", "0", a);
}

void DefaultHTTPGet(JsonValue& h, JsonAlloc& a) {
  DefStr(h, "path", "/", a);
  DefStr(h, "scheme", "HTTP", a);
}

void DefaultProbe(JsonValue& p, JsonAlloc& a) {
  if (JsonValue* h = GetObjectMut(p, "httpGet")) DefaultHTTPGet(*h, a);
  DefInt(p, "timeoutSeconds", 1, a);
  DefInt(p, "periodSeconds", 10, a);
  DefInt(p, "successThreshold", 1, a);
  DefInt(p, "failureThreshold", 3, a);
}

// The tag ParseImageName reports: "latest" when the reference has neither tag nor digest.
std::string ImageTag(std::string_view image) {
  size_t at = image.find('@');
  bool digest = at != std::string_view::npos;
  std::string_view name = digest ? image.substr(0, at) : image;
  size_t slash = name.rfind('/');
  std::string_view last = slash == std::string_view::npos ? name : name.substr(slash + 1);
  size_t colon = last.rfind(':');
  if (colon != std::string_view::npos) return std::string(last.substr(colon + 1));
  return digest ? "" : "latest";
}

void DefaultContainer(JsonValue& c, JsonAlloc& a) {
  ForEach(c, "ports", [&](JsonValue& p) { DefStr(p, "protocol", "TCP", a); });
  ForEach(c, "env", [&](JsonValue& e) {
    if (JsonValue* vf = GetObjectMut(e, "valueFrom")) {
      if (JsonValue* fr = GetObjectMut(*vf, "fieldRef")) DefaultObjectFieldSelector(*fr, a);
      if (JsonValue* rr = GetObjectMut(*vf, "resourceFieldRef")) DefaultResourceFieldRef(*rr, a);
    }
  });
  if (Missing(c, "resources")) Obj(c, "resources", a);
  for (const char* probe : {"livenessProbe", "readinessProbe", "startupProbe"}) {
    if (JsonValue* p = GetObjectMut(c, probe)) DefaultProbe(*p, a);
  }
  if (JsonValue* lc = GetObjectMut(c, "lifecycle")) {
    for (const char* hook : {"postStart", "preStop"}) {
      if (JsonValue* h = GetObjectMut(*lc, hook)) {
        if (JsonValue* g = GetObjectMut(*h, "httpGet")) DefaultHTTPGet(*g, a);
      }
    }
  }
  DefStr(c, "terminationMessagePath", "/dev/termination-log", a);
  DefStr(c, "terminationMessagePolicy", "File", a);
  if (Missing(c, "imagePullPolicy") || Str(c, "imagePullPolicy").empty()) {
    std::string_view image = Str(c, "image");
    SetString(c, "imagePullPolicy", !image.empty() && ImageTag(image) == "latest" ? "Always" : "IfNotPresent", a);
  }
}

void DefaultPVCSpec(JsonValue& spec, JsonAlloc& a) { DefStr(spec, "volumeMode", "Filesystem", a); }

void DefaultVolumeSources(JsonValue& v, JsonAlloc& a) {
  if (JsonValue* hp = GetObjectMut(v, "hostPath")) {
    if (Missing(*hp, "type")) SetString(*hp, "type", "", a);
  }
  if (JsonValue* s = GetObjectMut(v, "secret")) DefInt(*s, "defaultMode", 0644, a);
  if (JsonValue* s = GetObjectMut(v, "configMap")) DefInt(*s, "defaultMode", 0644, a);
  auto downward_items = [&a](JsonValue& d) {
    ForEach(d, "items", [&](JsonValue& item) {
      if (JsonValue* fr = GetObjectMut(item, "fieldRef")) DefaultObjectFieldSelector(*fr, a);
      if (JsonValue* rr = GetObjectMut(item, "resourceFieldRef")) DefaultResourceFieldRef(*rr, a);
    });
  };
  if (JsonValue* d = GetObjectMut(v, "downwardAPI")) {
    downward_items(*d);
    DefInt(*d, "defaultMode", 0644, a);
  }
  if (JsonValue* p = GetObjectMut(v, "projected")) {
    ForEach(*p, "sources", [&](JsonValue& src) {
      if (JsonValue* d = GetObjectMut(src, "downwardAPI")) downward_items(*d);
      if (JsonValue* t = GetObjectMut(src, "serviceAccountToken")) DefInt(*t, "expirationSeconds", 3600, a);
    });
    DefInt(*p, "defaultMode", 0644, a);
  }
  if (JsonValue* s = GetObjectMut(v, "iscsi")) DefStr(*s, "iscsiInterface", "default", a);
  if (JsonValue* s = GetObjectMut(v, "rbd")) {
    DefStr(*s, "pool", "rbd", a);
    DefStr(*s, "user", "admin", a);
    DefStr(*s, "keyring", "/etc/ceph/keyring", a);
  }
  if (JsonValue* e = GetObjectMut(v, "ephemeral")) {
    if (JsonValue* t = GetObjectMut(*e, "volumeClaimTemplate")) {
      if (JsonValue* spec = GetObjectMut(*t, "spec")) DefaultPVCSpec(*spec, a);
    }
  }
}

void DefaultVolume(JsonValue& v, JsonAlloc& a) {
  bool has_source = false;
  for (auto it = v.MemberBegin(); it != v.MemberEnd(); ++it) {
    if (std::string_view(it->name.GetString(), it->name.GetStringLength()) != "name" && !it->value.IsNull()) {
      has_source = true;
    }
  }
  if (!has_source) Obj(v, "emptyDir", a);
  DefaultVolumeSources(v, a);
}

// SetDefaults_PodSpec and what it reaches; shared by Pods and every pod template.
void DefaultPodSpec(JsonValue& spec, JsonAlloc& a) {
  ForEach(spec, "volumes", [&](JsonValue& v) { DefaultVolume(v, a); });
  ForEach(spec, "initContainers", [&](JsonValue& c) { DefaultContainer(c, a); });
  ForEach(spec, "containers", [&](JsonValue& c) { DefaultContainer(c, a); });
  ForEach(spec, "ephemeralContainers", [&](JsonValue& c) { DefaultContainer(c, a); });
  DefStr(spec, "restartPolicy", "Always", a);
  DefInt(spec, "terminationGracePeriodSeconds", 30, a);
  DefStr(spec, "dnsPolicy", "ClusterFirst", a);
  // The deprecated serviceAccount mirrors serviceAccountName (v1 conversion).
  std::string_view san = Str(spec, "serviceAccountName");
  std::string_view sa = Str(spec, "serviceAccount");
  if (san.empty() && !sa.empty()) {
    SetString(spec, "serviceAccountName", std::string(sa), a);
  } else if (!san.empty() && sa != san) {
    SetString(spec, "serviceAccount", std::string(san), a);
  }
  if (Missing(spec, "securityContext")) Obj(spec, "securityContext", a);
  DefStr(spec, "schedulerName", "default-scheduler", a);
}

// Template metadata serializes with `creationTimestamp: null` (metav1.Time zero value).
void DefaultTemplateMeta(JsonValue& tmpl, JsonAlloc& a) {
  JsonValue& meta = Obj(tmpl, "metadata", a);
  if (!Member(meta, "creationTimestamp")) SetMember(meta, "creationTimestamp", JsonValue(rapidjson::kNullType), a);
}

void DefaultPodTemplateSpec(JsonValue& tmpl, JsonAlloc& a) {
  DefaultTemplateMeta(tmpl, a);
  DefaultPodSpec(Obj(tmpl, "spec", a), a);
}

bool TolerationCovers(const JsonValue& t, std::string_view key) {
  std::string_view k = Str(t, "key");
  std::string_view effect = Str(t, "effect");
  return (k == key || k.empty()) && (effect == "NoExecute" || effect.empty());
}

void AddDefaultTolerations(JsonValue& spec, JsonAlloc& a) {
  bool not_ready = false, unreachable = false;
  if (const JsonValue* tols = internal::GetArray(spec, "tolerations")) {
    for (const auto& t : tols->GetArray()) {
      if (!t.IsObject()) continue;
      not_ready = not_ready || TolerationCovers(t, "node.kubernetes.io/not-ready");
      unreachable = unreachable || TolerationCovers(t, "node.kubernetes.io/unreachable");
    }
  }
  if (not_ready && unreachable) return;
  JsonValue* tols = GetArrayMut(spec, "tolerations");
  if (!tols) {
    SetMember(spec, "tolerations", JsonValue(rapidjson::kArrayType), a);
    tols = GetArrayMut(spec, "tolerations");
  }
  auto add = [&](std::string_view key) {
    JsonValue t(rapidjson::kObjectType);
    SetString(t, "key", key, a);
    SetString(t, "operator", "Exists", a);
    SetString(t, "effect", "NoExecute", a);
    SetMember(t, "tolerationSeconds", JsonValue(int64_t{300}), a);
    tols->PushBack(std::move(t), a);
  };
  if (!not_ready) add("node.kubernetes.io/not-ready");
  if (!unreachable) add("node.kubernetes.io/unreachable");
}

// v1.PodQOSClass from the (defaulted) requests and limits of cpu and memory.
std::string QosClass(const JsonValue& spec) {
  long double req_cpu = 0, req_mem = 0, lim_cpu = 0, lim_mem = 0;
  bool any_req = false, any_lim = false, guaranteed = true;
  auto visit = [&](const JsonValue& c) {
    const JsonValue* res = GetObject(c, "resources");
    const JsonValue* req = res ? GetObject(*res, "requests") : nullptr;
    const JsonValue* lim = res ? GetObject(*res, "limits") : nullptr;
    auto q = [](const JsonValue* list, const char* name) -> long double {
      if (!list) return 0;
      const JsonValue* v = Member(*list, name);
      auto parsed = v ? internal::QuantityOf(*v) : std::nullopt;
      return parsed && *parsed > 0 ? *parsed : 0;
    };
    long double rc = q(req, "cpu"), rm = q(req, "memory"), lc = q(lim, "cpu"), lm = q(lim, "memory");
    if (rc > 0 || rm > 0) any_req = true;
    if (lc > 0 || lm > 0) any_lim = true;
    req_cpu += rc;
    req_mem += rm;
    lim_cpu += lc;
    lim_mem += lm;
    if (lc <= 0 || lm <= 0) guaranteed = false;
  };
  for (const char* list : {"initContainers", "containers"}) {
    if (const JsonValue* cs = internal::GetArray(spec, list)) {
      for (const auto& c : cs->GetArray()) {
        if (c.IsObject()) visit(c);
      }
    }
  }
  if (!any_req && !any_lim) return "BestEffort";
  if (guaranteed && (req_cpu == 0 || req_cpu == lim_cpu) && (req_mem == 0 || req_mem == lim_mem) && req_cpu > 0 &&
      req_mem > 0) {
    return "Guaranteed";
  }
  return "Burstable";
}

void DefaultPod(JsonValue& obj, JsonAlloc& a) {
  JsonValue& spec = Obj(obj, "spec", a);
  // SetDefaults_Pod: requests default to limits (Pods only, not templates).
  for (const char* list : {"initContainers", "containers"}) {
    ForEach(spec, list, [&](JsonValue& c) {
      JsonValue* res = GetObjectMut(c, "resources");
      const JsonValue* lim = res ? GetObject(*res, "limits") : nullptr;
      if (!lim || lim->ObjectEmpty()) return;
      JsonValue copy(*lim, a);
      JsonValue& req = Obj(*res, "requests", a);
      for (auto it = copy.MemberBegin(); it != copy.MemberEnd(); ++it) {
        std::string_view k(it->name.GetString(), it->name.GetStringLength());
        if (!Member(req, k)) SetMember(req, k, JsonValue(it->value, a), a);
      }
    });
  }
  DefaultPodSpec(spec, a);
  DefBool(spec, "enableServiceLinks", true, a);
  if (GetBool(spec, "hostNetwork").value_or(false)) {
    for (const char* list : {"initContainers", "containers"}) {
      ForEach(spec, list, [&](JsonValue& c) {
        ForEach(c, "ports", [&](JsonValue& p) {
          if (GetInt(p, "hostPort").value_or(0) == 0 && GetInt(p, "containerPort")) {
            SetMember(p, "hostPort", JsonValue(*GetInt(p, "containerPort")), a);
          }
        });
      });
    }
  }
  // ServiceAccount admission (which leaves mirror pods alone).
  const JsonValue* annotations = GetObject(Obj(obj, "metadata", a), "annotations");
  bool mirror = annotations && Get(*annotations, "kubernetes.io/config.mirror");
  if (Str(spec, "serviceAccountName").empty() && !mirror) {
    SetString(spec, "serviceAccountName", "default", a);
    SetString(spec, "serviceAccount", "default", a);
  }
  // Priority admission, for the classes that exist in every cluster. Other classes are resolved
  // by the server, which has the PriorityClass objects.
  if (Missing(spec, "priority")) {
    std::string_view pc = Str(spec, "priorityClassName");
    if (pc.empty()) SetMember(spec, "priority", JsonValue(int64_t{0}), a);
    if (pc == "system-node-critical") SetMember(spec, "priority", JsonValue(int64_t{2000001000}), a);
    if (pc == "system-cluster-critical") SetMember(spec, "priority", JsonValue(int64_t{2000000000}), a);
    if (!Missing(spec, "priority")) DefStr(spec, "preemptionPolicy", "PreemptLowerPriority", a);
  }
  // DefaultTolerationSeconds admission.
  AddDefaultTolerations(spec, a);
  // Pod strategy PrepareForCreate. (Adding status to obj moves spec: compute QoS first.)
  std::string qos = QosClass(spec);
  JsonValue& status = Obj(obj, "status", a);
  DefStr(status, "phase", "Pending", a);
  if (Missing(status, "qosClass")) SetString(status, "qosClass", qos, a);
}

void DefaultService(JsonValue& obj, JsonAlloc& a) {
  JsonValue& spec = Obj(obj, "spec", a);
  std::string type(Str(spec, "type"));
  if (type.empty()) {
    type = "ClusterIP";
    SetString(spec, "type", type, a);
  }
  ForEach(spec, "ports", [&](JsonValue& p) {
    DefStr(p, "protocol", "TCP", a);
    const JsonValue* tp = Get(p, "targetPort");
    bool unset = !tp || (tp->IsInt64() && tp->GetInt64() == 0) || (tp->IsString() && tp->GetStringLength() == 0);
    if (unset) {
      if (const JsonValue* port = Get(p, "port")) SetMember(p, "targetPort", JsonValue(*port, a), a);
    }
  });
  DefStr(spec, "sessionAffinity", "None", a);
  if (Str(spec, "sessionAffinity") == "ClientIP") {
    JsonValue& cfg = Obj(Obj(spec, "sessionAffinityConfig", a), "clientIP", a);
    DefInt(cfg, "timeoutSeconds", 10800, a);
  }
  if (type != "ExternalName") {
    std::string_view cluster_ip = Str(spec, "clusterIP");
    if (!cluster_ip.empty() && Missing(spec, "clusterIPs")) {
      JsonValue ips(rapidjson::kArrayType);
      ips.PushBack(MakeString(cluster_ip, a), a);
      SetMember(spec, "clusterIPs", std::move(ips), a);
    }
    if (Missing(spec, "ipFamilyPolicy")) {
      bool selectorless_headless = cluster_ip == "None" && !GetObject(spec, "selector");
      SetString(spec, "ipFamilyPolicy", selectorless_headless ? "RequireDualStack" : "SingleStack", a);
    }
    if (Missing(spec, "ipFamilies")) {
      JsonValue fams(rapidjson::kArrayType);
      fams.PushBack(MakeString("IPv4", a), a);
      SetMember(spec, "ipFamilies", std::move(fams), a);
    }
    DefStr(spec, "internalTrafficPolicy", "Cluster", a);
  }
  if (type == "NodePort" || type == "LoadBalancer") DefStr(spec, "externalTrafficPolicy", "Cluster", a);
  if (type == "LoadBalancer") DefBool(spec, "allocateLoadBalancerNodePorts", true, a);
  Obj(Obj(obj, "status", a), "loadBalancer", a);
}

// ---- apps/v1

void DefaultDeployment(JsonValue& obj, JsonAlloc& a) {
  JsonValue& spec = Obj(obj, "spec", a);
  DefInt(spec, "replicas", 1, a);
  JsonValue& strategy = Obj(spec, "strategy", a);
  DefStr(strategy, "type", "RollingUpdate", a);
  if (Str(strategy, "type") == "RollingUpdate") {
    JsonValue& ru = Obj(strategy, "rollingUpdate", a);
    if (Missing(ru, "maxUnavailable")) SetString(ru, "maxUnavailable", "25%", a);
    if (Missing(ru, "maxSurge")) SetString(ru, "maxSurge", "25%", a);
  }
  DefInt(spec, "revisionHistoryLimit", 10, a);
  DefInt(spec, "progressDeadlineSeconds", 600, a);
  DefaultPodTemplateSpec(Obj(spec, "template", a), a);
}

void DefaultReplicaSet(JsonValue& obj, JsonAlloc& a) {
  JsonValue& spec = Obj(obj, "spec", a);
  DefInt(spec, "replicas", 1, a);
  DefaultPodTemplateSpec(Obj(spec, "template", a), a);
}

void DefaultDaemonSet(JsonValue& obj, JsonAlloc& a) {
  JsonValue& spec = Obj(obj, "spec", a);
  JsonValue& strategy = Obj(spec, "updateStrategy", a);
  DefStr(strategy, "type", "RollingUpdate", a);
  if (Str(strategy, "type") == "RollingUpdate") {
    JsonValue& ru = Obj(strategy, "rollingUpdate", a);
    DefInt(ru, "maxUnavailable", 1, a);
    DefInt(ru, "maxSurge", 0, a);
  }
  DefInt(spec, "revisionHistoryLimit", 10, a);
  DefaultPodTemplateSpec(Obj(spec, "template", a), a);
}

void DefaultPVC(JsonValue& obj, JsonAlloc& a);

void DefaultStatefulSet(JsonValue& obj, JsonAlloc& a) {
  JsonValue& spec = Obj(obj, "spec", a);
  DefStr(spec, "podManagementPolicy", "OrderedReady", a);
  JsonValue& strategy = Obj(spec, "updateStrategy", a);
  if (Str(strategy, "type").empty()) {
    SetString(strategy, "type", "RollingUpdate", a);
    Obj(strategy, "rollingUpdate", a);
  }
  if (Str(strategy, "type") == "RollingUpdate") {
    if (JsonValue* ru = GetObjectMut(strategy, "rollingUpdate")) DefInt(*ru, "partition", 0, a);
  }
  JsonValue& retention = Obj(spec, "persistentVolumeClaimRetentionPolicy", a);
  DefStr(retention, "whenDeleted", "Retain", a);
  DefStr(retention, "whenScaled", "Retain", a);
  DefInt(spec, "replicas", 1, a);
  DefInt(spec, "revisionHistoryLimit", 10, a);
  DefaultPodTemplateSpec(Obj(spec, "template", a), a);
  ForEach(spec, "volumeClaimTemplates", [&](JsonValue& pvc) {
    DefStr(pvc, "apiVersion", "v1", a);
    DefStr(pvc, "kind", "PersistentVolumeClaim", a);
    DefaultTemplateMeta(pvc, a);
    DefaultPVC(pvc, a);
  });
}

// ---- batch/v1

void CopyTemplateLabelsIfEmpty(JsonValue& obj, const JsonValue& tmpl, JsonAlloc& a) {
  const JsonValue* tmeta = GetObject(tmpl, "metadata");
  const JsonValue* tlabels = tmeta ? GetObject(*tmeta, "labels") : nullptr;
  if (!tlabels) return;
  JsonValue& meta = Obj(obj, "metadata", a);
  const JsonValue* labels = GetObject(meta, "labels");
  if (labels && !labels->ObjectEmpty()) return;
  SetMember(meta, "labels", JsonValue(*tlabels, a), a);
}

void DefaultJob(JsonValue& obj, JsonAlloc& a) {
  // Adding a member to an object moves its members: references are re-fetched after each
  // addition to their parent.
  Obj(obj, "metadata", a);
  JsonValue* spec = &Obj(obj, "spec", a);
  if (Missing(*spec, "completions") && Missing(*spec, "parallelism")) {
    SetMember(*spec, "completions", JsonValue(int64_t{1}), a);
    SetMember(*spec, "parallelism", JsonValue(int64_t{1}), a);
  }
  DefInt(*spec, "parallelism", 1, a);
  DefInt(*spec, "backoffLimit", Missing(*spec, "backoffLimitPerIndex") ? 6 : 2147483647, a);
  Obj(*spec, "template", a);
  DefStr(*spec, "completionMode", "NonIndexed", a);
  DefBool(*spec, "suspend", false, a);
  if (JsonValue* pfp = GetObjectMut(*spec, "podFailurePolicy")) {
    ForEach(*pfp, "rules", [&](JsonValue& rule) {
      ForEach(rule, "onPodConditions", [&](JsonValue& c) { DefStr(c, "status", "True", a); });
    });
  }
  DefStr(*spec, "podReplacementPolicy", GetObject(*spec, "podFailurePolicy") ? "Failed" : "TerminatingOrFailed", a);
  CopyTemplateLabelsIfEmpty(obj, *GetObjectMut(*spec, "template"), a);
  DefaultPodTemplateSpec(*GetObjectMut(*spec, "template"), a);

  // The Job strategy generates the selector and the pod labels at create (generateSelector),
  // unless spec.manualSelector is true. It needs metadata.uid and metadata.name.
  const JsonValue& meta = *GetObject(obj, "metadata");
  std::string uid(Str(meta, "uid"));
  std::string name(Str(meta, "name"));
  if (!GetBool(*spec, "manualSelector").value_or(false) && !uid.empty()) {
    Obj(*spec, "selector", a);
    JsonValue& tmpl = *GetObjectMut(*spec, "template");
    JsonValue& labels = Obj(Obj(tmpl, "metadata", a), "labels", a);
    for (const char* k : {"job-name", "batch.kubernetes.io/job-name"}) {
      if (!Member(labels, k)) SetString(labels, k, name, a);
    }
    for (const char* k : {"controller-uid", "batch.kubernetes.io/controller-uid"}) {
      if (!Member(labels, k)) SetString(labels, k, uid, a);
    }
    JsonValue& ml = Obj(*GetObjectMut(*spec, "selector"), "matchLabels", a);
    if (!Member(ml, "batch.kubernetes.io/controller-uid")) SetString(ml, "batch.kubernetes.io/controller-uid", uid, a);
    // Defaulting runs again when the stored object is read back: the job's labels then come
    // from the generated template labels if it had none.
    CopyTemplateLabelsIfEmpty(obj, tmpl, a);
  }
}

void DefaultCronJob(JsonValue& obj, JsonAlloc& a) {
  JsonValue& spec = Obj(obj, "spec", a);
  DefStr(spec, "concurrencyPolicy", "Allow", a);
  DefBool(spec, "suspend", false, a);
  DefInt(spec, "successfulJobsHistoryLimit", 3, a);
  DefInt(spec, "failedJobsHistoryLimit", 1, a);
  JsonValue& jt = Obj(spec, "jobTemplate", a);
  DefaultTemplateMeta(jt, a);
  DefaultPodTemplateSpec(Obj(Obj(jt, "spec", a), "template", a), a);
}

// ---- other core/v1 kinds

void DefaultReplicationController(JsonValue& obj, JsonAlloc& a) {
  Obj(obj, "metadata", a);
  JsonValue& spec = Obj(obj, "spec", a);
  DefInt(spec, "replicas", 1, a);
  if (!GetObjectMut(spec, "template")) return;
  const JsonValue* tmeta = GetObject(*GetObjectMut(spec, "template"), "metadata");
  const JsonValue* tlabels = tmeta ? GetObject(*tmeta, "labels") : nullptr;
  if (tlabels) {
    const JsonValue* sel = GetObject(spec, "selector");
    if (!sel || sel->ObjectEmpty()) SetMember(spec, "selector", JsonValue(*tlabels, a), a);
    CopyTemplateLabelsIfEmpty(obj, *GetObjectMut(spec, "template"), a);
  }
  DefaultPodTemplateSpec(*GetObjectMut(spec, "template"), a);
}

void DefaultNamespace(JsonValue& obj, JsonAlloc& a) {
  JsonValue& meta = Obj(obj, "metadata", a);
  std::string name(Str(meta, "name"));
  if (!name.empty()) SetString(Obj(meta, "labels", a), "kubernetes.io/metadata.name", name, a);
  JsonValue& spec = Obj(obj, "spec", a);
  if (Missing(spec, "finalizers")) {
    JsonValue f(rapidjson::kArrayType);
    f.PushBack(MakeString("kubernetes", a), a);
    SetMember(spec, "finalizers", std::move(f), a);
  }
  DefStr(Obj(obj, "status", a), "phase", "Active", a);
}

void DefaultPVC(JsonValue& obj, JsonAlloc& a) {
  DefaultPVCSpec(Obj(obj, "spec", a), a);
  DefStr(Obj(obj, "status", a), "phase", "Pending", a);
}

void DefaultPV(JsonValue& obj, JsonAlloc& a) {
  JsonValue& spec = Obj(obj, "spec", a);
  DefStr(spec, "persistentVolumeReclaimPolicy", "Retain", a);
  DefStr(spec, "volumeMode", "Filesystem", a);
  DefaultVolumeSources(spec, a);
  DefStr(Obj(obj, "status", a), "phase", "Pending", a);
}

void DefaultNode(JsonValue& obj, JsonAlloc& a) {
  JsonValue* status = GetObjectMut(obj, "status");
  if (!status) return;
  const JsonValue* cap = GetObject(*status, "capacity");
  if (cap && Missing(*status, "allocatable")) SetMember(*status, "allocatable", JsonValue(*cap, a), a);
}

void DefaultEndpoints(JsonValue& obj, JsonAlloc& a) {
  ForEach(obj, "subsets", [&](JsonValue& s) {
    ForEach(s, "ports", [&](JsonValue& p) { DefStr(p, "protocol", "TCP", a); });
  });
}

void DefaultLimitRange(JsonValue& obj, JsonAlloc& a) {
  JsonValue* spec = GetObjectMut(obj, "spec");
  if (!spec) return;
  ForEach(*spec, "limits", [&](JsonValue& item) {
    if (Str(item, "type") != "Container") return;
    auto fill = [&](const char* from, const char* to) {
      const JsonValue* src = GetObject(item, from);
      if (!src || src->ObjectEmpty()) return;
      JsonValue copy(*src, a);
      JsonValue& dst = Obj(item, to, a);
      for (auto it = copy.MemberBegin(); it != copy.MemberEnd(); ++it) {
        std::string_view k(it->name.GetString(), it->name.GetStringLength());
        if (!Member(dst, k)) SetMember(dst, k, JsonValue(it->value, a), a);
      }
    };
    fill("max", "default");
    fill("default", "defaultRequest");
    fill("min", "defaultRequest");
  });
}

// ---- other groups

void DefaultEndpointSlice(JsonValue& obj, JsonAlloc& a) {
  ForEach(obj, "ports", [&](JsonValue& p) {
    if (Missing(p, "name")) SetString(p, "name", "", a);
    DefStr(p, "protocol", "TCP", a);
  });
}

void DefaultNetworkPolicy(JsonValue& obj, JsonAlloc& a) {
  JsonValue& spec = Obj(obj, "spec", a);
  auto ports = [&a](JsonValue& rule) { ForEach(rule, "ports", [&](JsonValue& p) { DefStr(p, "protocol", "TCP", a); }); };
  ForEach(spec, "ingress", ports);
  ForEach(spec, "egress", ports);
  const JsonValue* types = internal::GetArray(spec, "policyTypes");
  if (!types || types->Empty()) {
    JsonValue t(rapidjson::kArrayType);
    t.PushBack(MakeString("Ingress", a), a);
    const JsonValue* egress = internal::GetArray(spec, "egress");
    if (egress && !egress->Empty()) t.PushBack(MakeString("Egress", a), a);
    SetMember(spec, "policyTypes", std::move(t), a);
  }
}

void DefaultRbacBinding(JsonValue& obj, JsonAlloc& a) {
  ForEach(obj, "subjects", [&](JsonValue& s) {
    if (!Missing(s, "apiGroup")) return;
    std::string_view kind = Str(s, "kind");
    if (kind == "ServiceAccount") SetString(s, "apiGroup", "", a);
    if (kind == "User" || kind == "Group") SetString(s, "apiGroup", "rbac.authorization.k8s.io", a);
  });
  if (JsonValue* ref = GetObjectMut(obj, "roleRef")) DefStr(*ref, "apiGroup", "rbac.authorization.k8s.io", a);
}

JsonValue ScalingPolicy(const char* type, int64_t value, JsonAlloc& a) {
  JsonValue p(rapidjson::kObjectType);
  SetString(p, "type", type, a);
  SetMember(p, "value", JsonValue(value), a);
  SetMember(p, "periodSeconds", JsonValue(int64_t{15}), a);
  return p;
}

void DefaultHPA(JsonValue& obj, JsonAlloc& a) {
  JsonValue& spec = Obj(obj, "spec", a);
  DefInt(spec, "minReplicas", 1, a);
  const JsonValue* metrics = internal::GetArray(spec, "metrics");
  if (!metrics || metrics->Empty()) {
    JsonValue m(rapidjson::kObjectType);
    SetString(m, "type", "Resource", a);
    JsonValue& res = Obj(m, "resource", a);
    SetString(res, "name", "cpu", a);
    JsonValue& target = Obj(res, "target", a);
    SetString(target, "type", "Utilization", a);
    SetMember(target, "averageUtilization", JsonValue(int64_t{80}), a);
    JsonValue arr(rapidjson::kArrayType);
    arr.PushBack(std::move(m), a);
    SetMember(spec, "metrics", std::move(arr), a);
  }
  // Behavior is filled in only when given (GenerateHPAScaleUpRules / ScaleDownRules).
  if (JsonValue* behavior = GetObjectMut(spec, "behavior")) {
    JsonValue& up = Obj(*behavior, "scaleUp", a);
    DefInt(up, "stabilizationWindowSeconds", 0, a);
    DefStr(up, "selectPolicy", "Max", a);
    if (!GetArrayMut(up, "policies")) {
      JsonValue p(rapidjson::kArrayType);
      p.PushBack(ScalingPolicy("Pods", 4, a), a);
      p.PushBack(ScalingPolicy("Percent", 100, a), a);
      SetMember(up, "policies", std::move(p), a);
    }
    JsonValue& down = Obj(*behavior, "scaleDown", a);
    DefInt(down, "stabilizationWindowSeconds", 300, a);
    DefStr(down, "selectPolicy", "Max", a);
    if (!GetArrayMut(down, "policies")) {
      JsonValue p(rapidjson::kArrayType);
      p.PushBack(ScalingPolicy("Percent", 100, a), a);
      SetMember(down, "policies", std::move(p), a);
    }
  }
}

void DefaultPDB(JsonValue& obj, JsonAlloc& a) {
  if (!Missing(obj, "status")) return;
  JsonValue& status = Obj(obj, "status", a);
  for (const char* f : {"disruptionsAllowed", "currentHealthy", "desiredHealthy", "expectedPods"}) {
    DefInt(status, f, 0, a);
  }
}

void DefaultCSIDriver(JsonValue& obj, JsonAlloc& a) {
  JsonValue& spec = Obj(obj, "spec", a);
  DefBool(spec, "attachRequired", true, a);
  DefBool(spec, "podInfoOnMount", false, a);
  if (Missing(spec, "volumeLifecycleModes")) {
    JsonValue m(rapidjson::kArrayType);
    m.PushBack(MakeString("Persistent", a), a);
    SetMember(spec, "volumeLifecycleModes", std::move(m), a);
  }
  DefBool(spec, "storageCapacity", false, a);
  DefStr(spec, "fsGroupPolicy", "ReadWriteOnceWithFSType", a);
  DefBool(spec, "requiresRepublish", false, a);
  DefBool(spec, "seLinuxMount", false, a);
}

}  // namespace

void ApplyDefaults(const ResourceInfo& resource, JsonValue& obj, JsonAlloc& alloc) {
  if (!obj.IsObject()) return;
  const std::string& g = resource.group;
  const std::string& k = resource.kind;
  if (g.empty()) {
    if (k == "Pod") return DefaultPod(obj, alloc);
    if (k == "Service") return DefaultService(obj, alloc);
    if (k == "ReplicationController") return DefaultReplicationController(obj, alloc);
    if (k == "PodTemplate") return DefaultPodTemplateSpec(Obj(obj, "template", alloc), alloc);
    if (k == "Namespace") return DefaultNamespace(obj, alloc);
    if (k == "Secret") return DefStr(obj, "type", "Opaque", alloc);
    if (k == "PersistentVolumeClaim") return DefaultPVC(obj, alloc);
    if (k == "PersistentVolume") return DefaultPV(obj, alloc);
    if (k == "Node") return DefaultNode(obj, alloc);
    if (k == "Endpoints") return DefaultEndpoints(obj, alloc);
    if (k == "LimitRange") return DefaultLimitRange(obj, alloc);
    return;
  }
  if (g == "apps") {
    if (k == "Deployment") return DefaultDeployment(obj, alloc);
    if (k == "ReplicaSet") return DefaultReplicaSet(obj, alloc);
    if (k == "DaemonSet") return DefaultDaemonSet(obj, alloc);
    if (k == "StatefulSet") return DefaultStatefulSet(obj, alloc);
    return;
  }
  if (g == "batch") {
    if (k == "Job") return DefaultJob(obj, alloc);
    if (k == "CronJob") return DefaultCronJob(obj, alloc);
    return;
  }
  if (g == "discovery.k8s.io" && k == "EndpointSlice") return DefaultEndpointSlice(obj, alloc);
  if (g == "networking.k8s.io") {
    if (k == "NetworkPolicy") return DefaultNetworkPolicy(obj, alloc);
    if (k == "Ingress") return (void)Obj(Obj(obj, "status", alloc), "loadBalancer", alloc);
    return;
  }
  if (g == "rbac.authorization.k8s.io" && (k == "RoleBinding" || k == "ClusterRoleBinding")) {
    return DefaultRbacBinding(obj, alloc);
  }
  if (g == "autoscaling" && k == "HorizontalPodAutoscaler") return DefaultHPA(obj, alloc);
  if (g == "policy" && k == "PodDisruptionBudget") return DefaultPDB(obj, alloc);
  if (g == "scheduling.k8s.io" && k == "PriorityClass") return DefStr(obj, "preemptionPolicy", "PreemptLowerPriority", alloc);
  if (g == "storage.k8s.io") {
    if (k == "StorageClass") {
      DefStr(obj, "reclaimPolicy", "Delete", alloc);
      DefStr(obj, "volumeBindingMode", "Immediate", alloc);
      return;
    }
    if (k == "CSIDriver") return DefaultCSIDriver(obj, alloc);
  }
}

}  // namespace minik::api
