// Kind-specific validation with upstream's field paths and messages
// (pkg/apis/core/validation/validation.go, pkg/apis/apps/validation, pkg/apis/batch/validation,
// k8s.io/apimachinery/pkg/util/validation). Metadata (name, labels, annotations) is validated
// elsewhere; here only what lives in spec, data and the like, plus immutability on update.
// The objects are expected to be defaulted already (ApplyDefaults), as upstream validates
// after defaulting.
#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "api/defaults.h"
#include "api/defaults_internal.h"
#include "api/errors.h"

namespace minik::api {
namespace {

using internal::Get;
using internal::GetArray;
using internal::GetObject;
using internal::GoQuote;
using internal::GoValue;
using internal::Str;
using internal::StrOf;

using Errs = std::vector<StatusCause>;

// ---- k8s.io/apimachinery/pkg/util/validation

bool IsLower(char c) { return c >= 'a' && c <= 'z'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsLowerAlnum(char c) { return IsLower(c) || IsDigit(c); }

bool MatchesLabel(std::string_view s) {
  if (s.empty() || !IsLowerAlnum(s.front()) || !IsLowerAlnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return IsLowerAlnum(c) || c == '-'; });
}

bool MatchesSubdomain(std::string_view s) {
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    if (!MatchesLabel(s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start))) {
      return false;
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

std::string MaxLenError(int n) { return "must be no more than " + std::to_string(n) + " characters"; }

std::string RegexError(std::string msg, std::string_view fmt, std::initializer_list<std::string_view> examples) {
  msg += " (e.g. ";
  bool first = true;
  for (auto e : examples) {
    if (!first) msg += " or ";
    first = false;
    msg += "'" + std::string(e) + "', ";
  }
  msg += "regex used for validation is '" + std::string(fmt) + "')";
  return msg;
}

constexpr std::string_view kLabelFmt = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";

std::vector<std::string> IsDNS1123Label(std::string_view s) {
  std::vector<std::string> errs;
  if (s.size() > 63) errs.push_back(MaxLenError(63));
  if (!MatchesLabel(s)) {
    if (MatchesSubdomain(s)) {
      errs.push_back("must not contain dots");
    } else {
      errs.push_back(RegexError(
          "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and "
          "end with an alphanumeric character",
          kLabelFmt, {"my-name", "123-abc"}));
    }
  }
  return errs;
}

std::vector<std::string> IsDNS1123Subdomain(std::string_view s) {
  std::vector<std::string> errs;
  if (s.size() > 253) errs.push_back(MaxLenError(253));
  if (!MatchesSubdomain(s)) {
    errs.push_back(RegexError(
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
        "start and end with an alphanumeric character",
        "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*", {"example.com"}));
  }
  return errs;
}

std::vector<std::string> IsValidPortNum(int64_t port) {
  if (port >= 1 && port <= 65535) return {};
  return {"must be between 1 and 65535, inclusive"};
}

std::vector<std::string> IsValidPortName(std::string_view port) {
  std::vector<std::string> errs;
  if (port.size() > 15) errs.push_back(MaxLenError(15));
  if (port.empty() || !std::all_of(port.begin(), port.end(), [](char c) { return IsLowerAlnum(c) || c == '-'; })) {
    errs.push_back("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)");
  }
  if (std::none_of(port.begin(), port.end(), IsLower)) errs.push_back("must contain at least one letter (a-z)");
  if (port.find("--") != std::string_view::npos) errs.push_back("must not contain consecutive hyphens");
  if (!port.empty() && (port.front() == '-' || port.back() == '-')) {
    errs.push_back("must not begin or end with a hyphen");
  }
  return errs;
}

std::vector<std::string> IsConfigMapKey(std::string_view key) {
  std::vector<std::string> errs;
  if (key.size() > 253) errs.push_back(MaxLenError(253));
  bool ok = !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
    return IsLowerAlnum(c) || (c >= 'A' && c <= 'Z') || c == '-' || c == '_' || c == '.';
  });
  if (!ok) {
    errs.push_back(RegexError("a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
                              "[-._a-zA-Z0-9]+", {"key.name", "KEY_NAME", "key-name"}));
  }
  if (key == ".") {
    errs.push_back("must not be '.'");
  } else if (key == "..") {
    errs.push_back("must not be '..'");
  } else if (key.substr(0, 2) == "..") {
    errs.push_back("must not start with '..'");
  }
  return errs;
}

// ---- field helpers

std::string Idx(const std::string& path, size_t i) { return path + "[" + std::to_string(i) + "]"; }
std::string Key(const std::string& path, std::string_view key) { return path + "[" + std::string(key) + "]"; }

StatusCause NotFound(std::string_view field, std::string_view quoted) {
  return StatusCause{"FieldValueNotFound", "Not found: " + std::string(quoted), std::string(field)};
}

void Label(Errs& errs, const std::string& field, std::string_view value) {
  for (const auto& m : IsDNS1123Label(value)) errs.push_back(FieldInvalid(field, GoQuote(value), m));
}

void NonNegative(Errs& errs, const JsonValue& obj, std::string_view name, const std::string& path) {
  if (auto v = GetInt(obj, name); v && *v < 0) {
    errs.push_back(FieldInvalid(path + "." + std::string(name), std::to_string(*v), "must be greater than or equal to 0"));
  }
}

void Enum(Errs& errs, const JsonValue& obj, std::string_view name, const std::string& path,
          const std::vector<std::string>& valid, bool required = true) {
  std::string field = path.empty() ? std::string(name) : path + "." + std::string(name);
  const JsonValue* v = Get(obj, name);
  std::string_view s = v ? StrOf(*v) : std::string_view();
  if (s.empty()) {
    if (required) errs.push_back(FieldRequired(field));
    return;
  }
  if (std::find(valid.begin(), valid.end(), s) == valid.end()) {
    errs.push_back(FieldNotSupported(field, GoQuote(s), valid));
  }
}

// The quantity string as upstream prints it in messages (the given form).
std::string QuantityText(const JsonValue& v) {
  if (v.IsString()) return std::string(StrOf(v));
  return GoValue(v);
}

// ---- core: pod spec

const std::vector<std::string> kProtocols = {"SCTP", "TCP", "UDP"};
const std::vector<std::string> kVolumeTypes = {
    "hostPath",  "emptyDir", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo",    "secret",
    "nfs",       "iscsi",    "glusterfs",         "persistentVolumeClaim", "rbd",       "flexVolume",
    "cinder",    "cephfs",   "flocker",           "downwardAPI",           "fc",        "azureFile",
    "configMap", "vsphereVolume", "quobyte",      "azureDisk",             "photonPersistentDisk",
    "projected", "portworxVolume", "scaleIO",     "storageos",             "csi",       "ephemeral",
    "image"};

void ValidateVolumes(Errs& errs, const JsonValue& spec, const std::string& path, std::set<std::string>& names) {
  const JsonValue* vols = GetArray(spec, "volumes");
  if (!vols) return;
  for (rapidjson::SizeType i = 0; i < vols->Size(); ++i) {
    const JsonValue& v = (*vols)[i];
    if (!v.IsObject()) continue;
    std::string vp = Idx(path + ".volumes", i);
    int types = 0;
    for (const auto& t : kVolumeTypes) {
      const JsonValue* src = GetObject(v, t);
      if (!src) continue;
      if (++types > 1) {
        errs.push_back(FieldForbidden(vp + "." + t, "may not specify more than 1 volume type"));
        continue;
      }
      if (t == "configMap" && Str(*src, "name").empty()) errs.push_back(FieldRequired(vp + ".configMap.name"));
      if (t == "secret" && Str(*src, "secretName").empty()) errs.push_back(FieldRequired(vp + ".secret.secretName"));
      if (t == "hostPath" && Str(*src, "path").empty()) errs.push_back(FieldRequired(vp + ".hostPath.path"));
      if (t == "persistentVolumeClaim" && Str(*src, "claimName").empty()) {
        errs.push_back(FieldRequired(vp + ".persistentVolumeClaim.claimName"));
      }
    }
    if (types == 0) errs.push_back(FieldRequired(vp, "must specify a volume type"));
    std::string name(Str(v, "name"));
    if (name.empty()) {
      errs.push_back(FieldRequired(vp + ".name"));
    } else {
      Label(errs, vp + ".name", name);
    }
    if (names.count(name)) {
      errs.push_back(FieldDuplicate(vp + ".name", GoQuote(name)));
    } else {
      names.insert(name);
    }
  }
}

void ValidateResources(Errs& errs, const JsonValue& c, const std::string& cp) {
  const JsonValue* res = GetObject(c, "resources");
  if (!res) return;
  const JsonValue* limits = GetObject(*res, "limits");
  const JsonValue* requests = GetObject(*res, "requests");
  for (auto [list, name] : {std::pair{limits, "limits"}, std::pair{requests, "requests"}}) {
    if (!list) continue;
    for (auto it = list->MemberBegin(); it != list->MemberEnd(); ++it) {
      std::string_view rname(it->name.GetString(), it->name.GetStringLength());
      auto q = internal::QuantityOf(it->value);
      if (q && *q < 0) {
        errs.push_back(FieldInvalid(Key(cp + ".resources." + name, rname), GoQuote(QuantityText(it->value)),
                                    "must be greater than or equal to 0"));
      }
    }
  }
  if (!limits || !requests) return;
  for (auto it = requests->MemberBegin(); it != requests->MemberEnd(); ++it) {
    std::string_view rname(it->name.GetString(), it->name.GetStringLength());
    const JsonValue* lim = Member(*limits, rname);
    if (!lim) continue;
    auto rq = internal::QuantityOf(it->value);
    auto lq = internal::QuantityOf(*lim);
    if (!rq || !lq) continue;
    // IsOvercommitAllowed: native resources (no domain, or kubernetes.io/) except hugepages.
    bool native = rname.find('/') == std::string_view::npos || rname.substr(0, 14) == "kubernetes.io/";
    bool overcommit = native && rname.substr(0, 10) != "hugepages-";
    if (!overcommit && *rq != *lq) {
      errs.push_back(FieldInvalid(cp + ".resources.requests", GoQuote(QuantityText(it->value)),
                                  "must be equal to " + std::string(rname) + " limit of " + QuantityText(*lim)));
    } else if (*rq > *lq) {
      errs.push_back(FieldInvalid(cp + ".resources.requests", GoQuote(QuantityText(it->value)),
                                  "must be less than or equal to " + std::string(rname) + " limit of " +
                                      QuantityText(*lim)));
    }
  }
}

void ValidateContainer(Errs& errs, const JsonValue& c, const std::string& cp, const std::set<std::string>& volumes,
                       bool is_pod) {
  std::string name(Str(c, "name"));
  if (name.empty()) {
    errs.push_back(FieldRequired(cp + ".name"));
  } else {
    Label(errs, cp + ".name", name);
  }
  std::string_view image = Str(c, "image");
  if (image.empty()) {
    errs.push_back(FieldRequired(cp + ".image"));
  } else if (is_pod && (std::isspace(static_cast<unsigned char>(image.front())) ||
                        std::isspace(static_cast<unsigned char>(image.back())))) {
    errs.push_back(FieldInvalid(cp + ".image", GoQuote(image), "must not have leading or trailing whitespace"));
  }
  if (const JsonValue* ports = GetArray(c, "ports")) {
    std::set<std::string> names;
    for (rapidjson::SizeType i = 0; i < ports->Size(); ++i) {
      const JsonValue& p = (*ports)[i];
      if (!p.IsObject()) continue;
      std::string pp = Idx(cp + ".ports", i);
      std::string pname(Str(p, "name"));
      if (!pname.empty()) {
        auto msgs = IsValidPortName(pname);
        for (const auto& m : msgs) errs.push_back(FieldInvalid(pp + ".name", GoQuote(pname), m));
        if (msgs.empty() && names.count(pname)) {
          errs.push_back(FieldDuplicate(pp + ".name", GoQuote(pname)));
        } else if (msgs.empty()) {
          names.insert(pname);
        }
      }
      int64_t cport = GetInt(p, "containerPort").value_or(0);
      if (cport == 0) {
        errs.push_back(FieldRequired(pp + ".containerPort"));
      } else {
        for (const auto& m : IsValidPortNum(cport)) errs.push_back(FieldInvalid(pp + ".containerPort", std::to_string(cport), m));
      }
      int64_t hport = GetInt(p, "hostPort").value_or(0);
      if (hport != 0) {
        for (const auto& m : IsValidPortNum(hport)) errs.push_back(FieldInvalid(pp + ".hostPort", std::to_string(hport), m));
      }
      Enum(errs, p, "protocol", pp, kProtocols);
    }
  }
  if (const JsonValue* mounts = GetArray(c, "volumeMounts")) {
    std::set<std::string> paths;
    for (rapidjson::SizeType i = 0; i < mounts->Size(); ++i) {
      const JsonValue& m = (*mounts)[i];
      if (!m.IsObject()) continue;
      std::string mp = Idx(cp + ".volumeMounts", i);
      std::string mname(Str(m, "name"));
      if (mname.empty()) errs.push_back(FieldRequired(mp + ".name"));
      if (!volumes.count(mname)) errs.push_back(NotFound(mp + ".name", GoQuote(mname)));
      std::string path(Str(m, "mountPath"));
      if (path.empty()) errs.push_back(FieldRequired(mp + ".mountPath"));
      if (paths.count(path)) errs.push_back(FieldInvalid(mp + ".mountPath", GoQuote(path), "must be unique"));
      paths.insert(path);
    }
  }
  ValidateResources(errs, c, cp);
  Enum(errs, c, "terminationMessagePolicy", cp, {"File", "FallbackToLogsOnError"});
  Enum(errs, c, "imagePullPolicy", cp, {"Always", "IfNotPresent", "Never"});
}

void ValidateContainerList(Errs& errs, const JsonValue& spec, const char* list, const std::string& path,
                           const std::set<std::string>& volumes, std::set<std::string>& names, bool required,
                           bool is_pod) {
  std::string lp = path + "." + list;
  const JsonValue* cs = GetArray(spec, list);
  if (!cs || cs->Empty()) {
    if (required) errs.push_back(FieldRequired(lp));
    return;
  }
  for (rapidjson::SizeType i = 0; i < cs->Size(); ++i) {
    const JsonValue& c = (*cs)[i];
    if (!c.IsObject()) continue;
    std::string cp = Idx(lp, i);
    ValidateContainer(errs, c, cp, volumes, is_pod);
    std::string name(Str(c, "name"));
    if (names.count(name)) {
      errs.push_back(FieldDuplicate(cp + ".name", GoQuote(name)));
    } else {
      names.insert(name);
    }
  }
}

void ValidatePodSpec(Errs& errs, const JsonValue& spec, const std::string& path, bool is_pod) {
  std::set<std::string> volumes;
  ValidateVolumes(errs, spec, path, volumes);
  std::set<std::string> names;
  ValidateContainerList(errs, spec, "containers", path, volumes, names, true, is_pod);
  ValidateContainerList(errs, spec, "initContainers", path, volumes, names, false, is_pod);
  Enum(errs, spec, "restartPolicy", path, {"Always", "OnFailure", "Never"});
  Enum(errs, spec, "dnsPolicy", path, {"ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"});
  if (std::string_view sa = Str(spec, "serviceAccountName"); !sa.empty()) {
    for (const auto& m : IsDNS1123Subdomain(sa)) errs.push_back(FieldInvalid(path + ".serviceAccountName", GoQuote(sa), m));
  }
  if (auto ads = GetInt(spec, "activeDeadlineSeconds"); ads && (*ads < 1 || *ads > 2147483647)) {
    errs.push_back(FieldInvalid(path + ".activeDeadlineSeconds", std::to_string(*ads),
                                "must be between 1 and 2147483647, inclusive"));
  }
  if (const JsonValue* tols = GetArray(spec, "tolerations")) {
    for (rapidjson::SizeType i = 0; i < tols->Size(); ++i) {
      const JsonValue& t = (*tols)[i];
      if (!t.IsObject()) continue;
      std::string tp = Idx(path + ".tolerations", i);
      std::string_view op = Str(t, "operator");
      if (!op.empty() && op != "Exists" && op != "Equal") {
        errs.push_back(FieldNotSupported(tp + ".operator", GoQuote(op), {"Equal", "Exists"}));
      }
      if (op == "Exists" && !Str(t, "value").empty()) {
        errs.push_back(FieldInvalid(tp + ".operator", GoQuote(Str(t, "value")),
                                    "value must be empty when `operator` is 'Exists'"));
      }
      Enum(errs, t, "effect", tp, {"NoSchedule", "PreferNoSchedule", "NoExecute"}, false);
    }
  }
}

void ValidatePodTemplate(Errs& errs, const JsonValue* tmpl, const std::string& path) {
  if (!tmpl) {
    errs.push_back(FieldRequired(path));
    return;
  }
  const JsonValue* spec = GetObject(*tmpl, "spec");
  if (spec) ValidatePodSpec(errs, *spec, path + ".spec", false);
}

const JsonValue* TemplateLabels(const JsonValue* tmpl) {
  const JsonValue* meta = tmpl ? GetObject(*tmpl, "metadata") : nullptr;
  return meta ? GetObject(*meta, "labels") : nullptr;
}

// Selector checks shared by the apps kinds: Required, empty, and match against the template.
void ValidateSelectorAndTemplate(Errs& errs, const JsonValue& spec, const std::string& what, bool always_restart) {
  const JsonValue* sel = GetObject(spec, "selector");
  const JsonValue* tmpl = GetObject(spec, "template");
  if (!sel) {
    errs.push_back(FieldRequired("spec.selector"));
  } else {
    const JsonValue* ml = GetObject(*sel, "matchLabels");
    const JsonValue* me = GetArray(*sel, "matchExpressions");
    if ((!ml || ml->ObjectEmpty()) && (!me || me->Empty())) {
      errs.push_back(FieldInvalid("spec.selector", internal::GoLabelSelector(sel), "empty selector is invalid for " + what));
    }
  }
  const JsonValue* labels = TemplateLabels(tmpl);
  bool empty_selector = sel && (!GetObject(*sel, "matchLabels") || GetObject(*sel, "matchLabels")->ObjectEmpty()) &&
                        (!GetArray(*sel, "matchExpressions") || GetArray(*sel, "matchExpressions")->Empty());
  if (tmpl && !empty_selector && !internal::SelectorMatches(sel, labels)) {
    errs.push_back(FieldInvalid("spec.template.metadata.labels", internal::GoStringMap(labels),
                                "`selector` does not match template `labels`"));
  }
  ValidatePodTemplate(errs, tmpl, "spec.template");
  const JsonValue* pspec = tmpl ? GetObject(*tmpl, "spec") : nullptr;
  if (pspec && always_restart) {
    std::string_view rp = Str(*pspec, "restartPolicy");
    if (rp != "Always") errs.push_back(FieldNotSupported("spec.template.spec.restartPolicy", GoQuote(rp), {"Always"}));
    if (Get(*pspec, "activeDeadlineSeconds")) {
      errs.push_back(FieldForbidden("spec.template.spec.activeDeadlineSeconds",
                                    "activeDeadlineSeconds in " + std::string(what == "daemonset" ? "DaemonSet" : "ReplicaSet") +
                                        " is not Supported"));
    }
  }
}

void ImmutableSelector(Errs& errs, const JsonValue& spec, const JsonValue& old_spec) {
  const JsonValue* sel = GetObject(spec, "selector");
  const JsonValue* old_sel = GetObject(old_spec, "selector");
  bool equal = (!sel && !old_sel) || (sel && old_sel && *sel == *old_sel);
  if (!equal) errs.push_back(FieldInvalid("spec.selector", internal::GoLabelSelector(sel), "field is immutable"));
}

const JsonValue& SpecOf(const JsonValue& obj) {
  static const JsonValue* empty = new JsonValue(rapidjson::kObjectType);
  const JsonValue* spec = GetObject(obj, "spec");
  return spec ? *spec : *empty;
}

// ---- per kind

void ValidatePod(Errs& errs, const JsonValue& obj, const JsonValue* old) {
  const JsonValue& spec = SpecOf(obj);
  ValidatePodSpec(errs, spec, "spec", true);
  if (!old) return;
  const JsonValue& old_spec = SpecOf(*old);
  rapidjson::Document munged;
  munged.CopyFrom(spec, munged.GetAllocator());
  auto& a = munged.GetAllocator();
  // What upstream lets a pod update change: container images, activeDeadlineSeconds,
  // tolerations (additions), terminationGracePeriodSeconds, scheduling gates (removal), and
  // nodeName through binding.
  for (const char* list : {"containers", "initContainers"}) {
    const JsonValue* olds = GetArray(old_spec, list);
    JsonValue* news = internal::GetArrayMut(munged, list);
    if (olds && news && olds->Size() == news->Size()) {
      for (rapidjson::SizeType i = 0; i < news->Size(); ++i) {
        if ((*news)[i].IsObject() && (*olds)[i].IsObject() && Get((*olds)[i], "image")) {
          SetMember((*news)[i], "image", JsonValue(*Get((*olds)[i], "image"), a), a);
        }
      }
    }
  }
  for (const char* f : {"activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds", "schedulingGates",
                        "nodeName"}) {
    if (const JsonValue* ov = Member(old_spec, f)) {
      SetMember(munged, f, JsonValue(*ov, a), a);
    } else {
      RemoveMember(munged, f);
    }
  }
  const JsonValue* nc = GetArray(spec, "containers");
  const JsonValue* oc = GetArray(old_spec, "containers");
  if ((nc ? nc->Size() : 0) != (oc ? oc->Size() : 0)) {
    errs.push_back(FieldForbidden("spec.containers", "pod updates may not add or remove containers"));
  }
  if (!(munged == old_spec)) {
    errs.push_back(FieldForbidden(
        "spec",
        "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,"
        "`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),"
        "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n"));
  }
}

std::string GoIntOrString(const JsonValue* v) {
  if (v && v->IsString()) return "intstr.IntOrString{Type:1, IntVal:0, StrVal:" + GoQuote(StrOf(*v)) + "}";
  int64_t n = v && v->IsInt64() ? v->GetInt64() : 0;
  return "intstr.IntOrString{Type:0, IntVal:" + std::to_string(n) + ", StrVal:\"\"}";
}

void ValidateService(Errs& errs, const JsonValue& obj, const JsonValue* old) {
  const JsonValue& spec = SpecOf(obj);
  std::string_view type = Str(spec, "type");
  bool headless = Str(spec, "clusterIP") == "None";
  const JsonValue* ports = GetArray(spec, "ports");
  size_t nports = ports ? ports->Size() : 0;
  if (nports == 0 && !headless && type != "ExternalName") errs.push_back(FieldRequired("spec.ports"));
  if (type == "ExternalName") {
    if (const JsonValue* ips = GetArray(spec, "clusterIPs"); ips && !ips->Empty()) {
      errs.push_back(FieldForbidden("spec.clusterIPs", "may not be set for ExternalName services"));
    }
    std::string_view cname = Str(spec, "externalName");
    if (!cname.empty() && cname.back() == '.') cname.remove_suffix(1);
    if (cname.empty()) {
      errs.push_back(FieldRequired("spec.externalName"));
    } else {
      for (const auto& m : IsDNS1123Subdomain(cname)) errs.push_back(FieldInvalid("spec.externalName", GoQuote(cname), m));
    }
  }
  std::set<std::string> names;
  for (size_t i = 0; i < nports; ++i) {
    const JsonValue& p = (*ports)[static_cast<rapidjson::SizeType>(i)];
    if (!p.IsObject()) continue;
    std::string pp = Idx("spec.ports", i);
    std::string name(Str(p, "name"));
    if (nports > 1 && name.empty()) {
      errs.push_back(FieldRequired(pp + ".name"));
    } else if (!name.empty()) {
      Label(errs, pp + ".name", name);
      if (names.count(name)) {
        errs.push_back(FieldDuplicate(pp + ".name", GoQuote(name)));
      } else {
        names.insert(name);
      }
    }
    int64_t port = GetInt(p, "port").value_or(0);
    for (const auto& m : IsValidPortNum(port)) errs.push_back(FieldInvalid(pp + ".port", std::to_string(port), m));
    Enum(errs, p, "protocol", pp, kProtocols);
    if (const JsonValue* tp = Get(p, "targetPort")) {
      if (tp->IsInt64()) {
        for (const auto& m : IsValidPortNum(tp->GetInt64())) {
          errs.push_back(FieldInvalid(pp + ".targetPort", std::to_string(tp->GetInt64()), m));
        }
      } else if (tp->IsString()) {
        for (const auto& m : IsValidPortName(StrOf(*tp))) {
          errs.push_back(FieldInvalid(pp + ".targetPort", GoQuote(StrOf(*tp)), m));
        }
      }
    }
  }
  Enum(errs, spec, "sessionAffinity", "spec", {"ClientIP", "None"});
  Enum(errs, spec, "type", "spec", {"ClusterIP", "ExternalName", "LoadBalancer", "NodePort"});
  for (size_t i = 0; i < nports; ++i) {
    const JsonValue& p = (*ports)[static_cast<rapidjson::SizeType>(i)];
    int64_t np = p.IsObject() ? GetInt(p, "nodePort").value_or(0) : 0;
    if (np == 0) continue;
    std::string field = Idx("spec.ports", i) + ".nodePort";
    if (type == "ClusterIP") {
      errs.push_back(FieldForbidden(field, "may not be used when `type` is 'ClusterIP'"));
    } else if (type == "NodePort" || type == "LoadBalancer") {
      if (np < 30000 || np > 32767) {
        errs.push_back(FieldInvalid(field, std::to_string(np),
                                    "provided port is not in the valid range. The range of valid ports is 30000-32767"));
      }
    }
  }
  // Duplicate (protocol, port) pairs, printed as upstream's %#v of core.ServicePort{Protocol, Port}.
  std::set<std::pair<std::string, int64_t>> seen;
  for (size_t i = 0; i < nports; ++i) {
    const JsonValue& p = (*ports)[static_cast<rapidjson::SizeType>(i)];
    if (!p.IsObject()) continue;
    std::pair<std::string, int64_t> key{std::string(Str(p, "protocol")), GetInt(p, "port").value_or(0)};
    if (!seen.insert(key).second) {
      errs.push_back(FieldDuplicate(Idx("spec.ports", i),
                                    "core.ServicePort{Name:\"\", Protocol:" + GoQuote(key.first) +
                                        ", AppProtocol:(*string)(nil), Port:" + std::to_string(key.second) +
                                        ", TargetPort:" + GoIntOrString(nullptr) + ", NodePort:0}"));
    }
  }
  if (old) {
    const JsonValue& old_spec = SpecOf(*old);
    std::string_view old_ip = Str(old_spec, "clusterIP");
    std::string_view new_ip = Str(spec, "clusterIP");
    if (type != "ExternalName" && Str(old_spec, "type") != "ExternalName" && !old_ip.empty() && old_ip != new_ip) {
      std::string val = "[]string{";
      if (const JsonValue* ips = GetArray(spec, "clusterIPs")) {
        for (rapidjson::SizeType i = 0; i < ips->Size(); ++i) {
          if (i) val += ", ";
          val += GoQuote(StrOf((*ips)[i]));
        }
      } else if (!new_ip.empty()) {
        val += GoQuote(new_ip);
      }
      val += "}";
      errs.push_back(FieldInvalid("spec.clusterIPs[0]", val, "may not change once set"));
    }
  }
}

void ValidateDataKeys(Errs& errs, const JsonValue& obj, const char* bag, const char* other, size_t& total) {
  const JsonValue* data = GetObject(obj, bag);
  if (!data) return;
  const JsonValue* other_bag = other ? GetObject(obj, other) : nullptr;
  for (auto it = data->MemberBegin(); it != data->MemberEnd(); ++it) {
    std::string_view key(it->name.GetString(), it->name.GetStringLength());
    std::string field = Key(bag, key);
    for (const auto& m : IsConfigMapKey(key)) errs.push_back(FieldInvalid(field, GoQuote(key), m));
    if (other_bag && Member(*other_bag, key)) {
      errs.push_back(FieldInvalid(field, GoQuote(key), "duplicate of key present in " + std::string(other)));
    }
    total += it->value.IsString() ? it->value.GetStringLength() : 0;
  }
}

bool SameBag(const JsonValue& a, const JsonValue& b, const char* name) {
  const JsonValue* x = GetObject(a, name);
  const JsonValue* y = GetObject(b, name);
  bool xe = !x || x->ObjectEmpty(), ye = !y || y->ObjectEmpty();
  if (xe || ye) return xe && ye;
  return *x == *y;
}

void ImmutableData(Errs& errs, const JsonValue& obj, const JsonValue& old, const char* data, const char* binary) {
  if (!GetBool(old, "immutable").value_or(false)) return;
  constexpr const char* kMsg = "field is immutable when `immutable` is set";
  if (!GetBool(obj, "immutable").value_or(false)) errs.push_back(FieldForbidden("immutable", kMsg));
  if (!SameBag(obj, old, data)) errs.push_back(FieldForbidden(data, kMsg));
  if (binary && !SameBag(obj, old, binary)) errs.push_back(FieldForbidden(binary, kMsg));
}

constexpr size_t kMaxSecretSize = 1 * 1024 * 1024;

void ValidateConfigMap(Errs& errs, const JsonValue& obj, const JsonValue* old) {
  if (old) ImmutableData(errs, obj, *old, "data", "binaryData");
  size_t total = 0;
  ValidateDataKeys(errs, obj, "data", "binaryData", total);
  ValidateDataKeys(errs, obj, "binaryData", nullptr, total);
  if (total > kMaxSecretSize) {
    errs.push_back(FieldTooLong("", "", static_cast<int>(kMaxSecretSize)));
  }
}

void ValidateSecret(Errs& errs, const JsonValue& obj, const JsonValue* old) {
  size_t total = 0;
  ValidateDataKeys(errs, obj, "data", nullptr, total);
  // Base64 in JSON: the decoded size is about 3/4 of the text.
  total = total * 3 / 4;
  std::string_view type = Str(obj, "type");
  const JsonValue* data = GetObject(obj, "data");
  const JsonValue* sdata = GetObject(obj, "stringData");
  auto has = [&](std::string_view k) { return (data && Member(*data, k)) || (sdata && Member(*sdata, k)); };
  if (type == "kubernetes.io/tls") {
    if (!has("tls.key")) errs.push_back(FieldRequired("data[tls.key]"));
    if (!has("tls.crt")) errs.push_back(FieldRequired("data[tls.crt]"));
  } else if (type == "kubernetes.io/dockerconfigjson") {
    if (!has(".dockerconfigjson")) errs.push_back(FieldRequired("data[.dockerconfigjson]"));
  } else if (type == "kubernetes.io/dockercfg") {
    if (!has(".dockercfg")) errs.push_back(FieldRequired("data[.dockercfg]"));
  } else if (type == "kubernetes.io/service-account-token") {
    const JsonValue* meta = GetObject(obj, "metadata");
    const JsonValue* ann = meta ? GetObject(*meta, "annotations") : nullptr;
    if (!ann || Str(*ann, "kubernetes.io/service-account.name").empty()) {
      errs.push_back(FieldRequired("metadata.annotations[kubernetes.io/service-account.name]"));
    }
  } else if (type == "kubernetes.io/basic-auth") {
    if (!has("username") && !has("password")) errs.push_back(FieldRequired("data[username]"));
  } else if (type == "kubernetes.io/ssh-auth") {
    if (!has("ssh-privatekey")) errs.push_back(FieldRequired("data[ssh-privatekey]"));
  }
  if (total > kMaxSecretSize) errs.push_back(FieldTooLong("data", "", static_cast<int>(kMaxSecretSize)));
  if (old) {
    std::string_view old_type = Str(*old, "type");
    if (old_type != type) errs.push_back(FieldInvalid("type", GoQuote(type), "field is immutable"));
    ImmutableData(errs, obj, *old, "data", nullptr);
  }
}

void ValidateDeployment(Errs& errs, const JsonValue& obj, const JsonValue* old) {
  const JsonValue& spec = SpecOf(obj);
  NonNegative(errs, spec, "replicas", "spec");
  ValidateSelectorAndTemplate(errs, spec, "deployment", true);
  if (const JsonValue* strategy = GetObject(spec, "strategy")) {
    Enum(errs, *strategy, "type", "spec.strategy", {"Recreate", "RollingUpdate"});
    std::string_view t = Str(*strategy, "type");
    const JsonValue* ru = GetObject(*strategy, "rollingUpdate");
    if (t == "Recreate" && ru) {
      errs.push_back(FieldForbidden("spec.strategy.rollingUpdate", "may not be specified when strategy `type` is 'Recreate'"));
    }
    if (t == "RollingUpdate" && ru) {
      auto zero = [](const JsonValue* v) {
        if (!v) return false;
        if (v->IsInt64()) return v->GetInt64() == 0;
        return v->IsString() && (StrOf(*v) == "0%" || StrOf(*v) == "0");
      };
      const JsonValue* mu = Get(*ru, "maxUnavailable");
      const JsonValue* ms = Get(*ru, "maxSurge");
      auto percent_over = [&errs](const JsonValue* v, const std::string& f) {
        if (!v || !v->IsString()) return;
        std::string_view s = StrOf(*v);
        if (!s.empty() && s.back() == '%') {
          int n = std::atoi(std::string(s.substr(0, s.size() - 1)).c_str());
          if (n > 100) errs.push_back(FieldInvalid(f, GoQuote(s), "must not be greater than 100%"));
        }
      };
      percent_over(mu, "spec.strategy.rollingUpdate.maxUnavailable");
      if (zero(mu) && zero(ms)) {
        errs.push_back(FieldInvalid("spec.strategy.rollingUpdate.maxUnavailable", GoValue(*mu),
                                    "may not be 0 when `maxSurge` is 0"));
      }
    }
  }
  NonNegative(errs, spec, "minReadySeconds", "spec");
  NonNegative(errs, spec, "revisionHistoryLimit", "spec");
  if (auto pds = GetInt(spec, "progressDeadlineSeconds")) {
    NonNegative(errs, spec, "progressDeadlineSeconds", "spec");
    if (*pds <= GetInt(spec, "minReadySeconds").value_or(0)) {
      errs.push_back(FieldInvalid("spec.progressDeadlineSeconds", std::to_string(*pds), "must be greater than minReadySeconds"));
    }
  }
  if (old) ImmutableSelector(errs, spec, SpecOf(*old));
}

void ValidateReplicaSet(Errs& errs, const JsonValue& obj, const JsonValue* old) {
  const JsonValue& spec = SpecOf(obj);
  NonNegative(errs, spec, "replicas", "spec");
  NonNegative(errs, spec, "minReadySeconds", "spec");
  ValidateSelectorAndTemplate(errs, spec, "deployment", true);  // upstream says "deployment" here too
  if (old) ImmutableSelector(errs, spec, SpecOf(*old));
}

void ValidateDaemonSet(Errs& errs, const JsonValue& obj, const JsonValue* old) {
  const JsonValue& spec = SpecOf(obj);
  ValidateSelectorAndTemplate(errs, spec, "daemonset", true);
  NonNegative(errs, spec, "minReadySeconds", "spec");
  if (const JsonValue* s = GetObject(spec, "updateStrategy")) {
    Enum(errs, *s, "type", "spec.updateStrategy", {"OnDelete", "RollingUpdate"});
  }
  if (old) ImmutableSelector(errs, spec, SpecOf(*old));
}

void ValidateStatefulSet(Errs& errs, const JsonValue& obj, const JsonValue* old) {
  const JsonValue& spec = SpecOf(obj);
  std::string_view pmp = Str(spec, "podManagementPolicy");
  if (pmp.empty()) {
    errs.push_back(FieldRequired("spec.podManagementPolicy"));
  } else if (pmp != "OrderedReady" && pmp != "Parallel") {
    errs.push_back(FieldInvalid("spec.podManagementPolicy", GoQuote(pmp), "must be 'OrderedReady' or 'Parallel'"));
  }
  if (const JsonValue* s = GetObject(spec, "updateStrategy")) {
    std::string_view t = Str(*s, "type");
    if (t.empty()) {
      errs.push_back(FieldRequired("spec.updateStrategy"));
    } else if (t != "OnDelete" && t != "RollingUpdate") {
      errs.push_back(FieldInvalid("spec.updateStrategy", GoQuote(t),
                                  "must be 'RollingUpdate' or 'OnDelete'"));
    } else if (t == "OnDelete" && GetObject(*s, "rollingUpdate")) {
      errs.push_back(FieldInvalid("spec.updateStrategy.rollingUpdate", "null",
                                  "only allowed for updateStrategy 'RollingUpdate'"));
    }
  }
  NonNegative(errs, spec, "replicas", "spec");
  NonNegative(errs, spec, "minReadySeconds", "spec");
  ValidateSelectorAndTemplate(errs, spec, "statefulset", false);
  const JsonValue* tmpl = GetObject(spec, "template");
  const JsonValue* pspec = tmpl ? GetObject(*tmpl, "spec") : nullptr;
  if (pspec && Str(*pspec, "restartPolicy") != "Always") {
    errs.push_back(FieldNotSupported("spec.template.spec.restartPolicy", GoQuote(Str(*pspec, "restartPolicy")), {"Always"}));
  }
  if (old) {
    // Only replicas, ordinals, template, updateStrategy, persistentVolumeClaimRetentionPolicy
    // and minReadySeconds may change.
    rapidjson::Document a, b;
    a.CopyFrom(spec, a.GetAllocator());
    b.CopyFrom(SpecOf(*old), b.GetAllocator());
    for (const char* f : {"replicas", "ordinals", "template", "updateStrategy", "persistentVolumeClaimRetentionPolicy",
                          "minReadySeconds"}) {
      RemoveMember(a, f);
      RemoveMember(b, f);
    }
    if (!(a == b)) {
      errs.push_back(FieldForbidden("spec",
                                    "updates to statefulset spec for fields other than 'replicas', 'ordinals', "
                                    "'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and "
                                    "'minReadySeconds' are forbidden"));
    }
  }
}

void ValidateJobTemplateSpec(Errs& errs, const JsonValue& spec, const std::string& path) {
  for (const char* f : {"parallelism", "completions", "activeDeadlineSeconds", "backoffLimit", "ttlSecondsAfterFinished"}) {
    NonNegative(errs, spec, f, path);
  }
  if (const JsonValue* cm = Get(spec, "completionMode")) {
    std::string_view m = StrOf(*cm);
    if (m != "NonIndexed" && m != "Indexed") {
      errs.push_back(FieldNotSupported(path + ".completionMode", GoQuote(m), {"NonIndexed", "Indexed"}));
    }
    if (m == "Indexed" && !Get(spec, "completions")) {
      errs.push_back(FieldRequired(path + ".completions", "when completion mode is Indexed"));
    }
  }
  const JsonValue* tmpl = GetObject(spec, "template");
  ValidatePodTemplate(errs, tmpl, path + ".template");
  const JsonValue* pspec = tmpl ? GetObject(*tmpl, "spec") : nullptr;
  if (pspec) {
    std::string_view rp = Str(*pspec, "restartPolicy");
    if (rp != "OnFailure" && rp != "Never") {
      errs.push_back(FieldNotSupported(path + ".template.spec.restartPolicy", GoQuote(rp), {"OnFailure", "Never"}));
    }
  }
}

void ValidateJob(Errs& errs, const JsonValue& obj, const JsonValue* old) {
  const JsonValue& spec = SpecOf(obj);
  const JsonValue* sel = GetObject(spec, "selector");
  const JsonValue* tmpl = GetObject(spec, "template");
  bool manual = GetBool(spec, "manualSelector").value_or(false);
  if (manual || sel) {
    if (!sel) {
      errs.push_back(FieldRequired("spec.selector"));
    } else if (!internal::SelectorMatches(sel, TemplateLabels(tmpl))) {
      errs.push_back(FieldInvalid("spec.template.metadata.labels", internal::GoStringMap(TemplateLabels(tmpl)),
                                  "`selector` does not match template `labels`"));
    }
  }
  ValidateJobTemplateSpec(errs, spec, "spec");
  if (!old) return;
  const JsonValue& old_spec = SpecOf(*old);
  auto same = [&](const char* f) {
    const JsonValue* a = Get(spec, f);
    const JsonValue* b = Get(old_spec, f);
    return (!a && !b) || (a && b && *a == *b);
  };
  if (!same("completions") && Str(spec, "completionMode") != "Indexed") {
    const JsonValue* c = Get(spec, "completions");
    errs.push_back(FieldInvalid("spec.completions", c ? GoValue(*c) : "null", "field is immutable"));
  }
  if (!same("selector")) errs.push_back(FieldInvalid("spec.selector", internal::GoLabelSelector(sel), "field is immutable"));
  if (!same("template")) {
    // Upstream prints the whole core.PodTemplateSpec with %#v here; minik abbreviates it.
    errs.push_back(FieldInvalid("spec.template", "core.PodTemplateSpec{...}", "field is immutable"));
  }
  if (!same("completionMode")) {
    errs.push_back(FieldInvalid("spec.completionMode", GoQuote(Str(spec, "completionMode")), "field is immutable"));
  }
}

void ValidateCronJob(Errs& errs, const JsonValue& obj) {
  const JsonValue& spec = SpecOf(obj);
  std::string_view schedule = Str(spec, "schedule");
  if (schedule.empty()) {
    errs.push_back(FieldRequired("spec.schedule"));
  } else if (schedule.find("TZ") != std::string_view::npos) {
    errs.push_back(FieldInvalid("spec.schedule", GoQuote(schedule), "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"));
  } else if (schedule.front() != '@') {
    std::vector<std::string> fields;
    std::string cur;
    for (char c : schedule) {
      if (c == ' ' || c == '\t') {
        if (!cur.empty()) fields.push_back(cur);
        cur.clear();
      } else {
        cur += c;
      }
    }
    if (!cur.empty()) fields.push_back(cur);
    if (fields.size() != 5) {
      std::string list = "[";
      for (size_t i = 0; i < fields.size(); ++i) list += (i ? " " : "") + fields[i];
      list += "]";
      errs.push_back(FieldInvalid("spec.schedule", GoQuote(schedule),
                                  "unparseable schedule: expected exactly 5 fields, found " + std::to_string(fields.size()) +
                                      ": " + list));
    }
  }
  Enum(errs, spec, "concurrencyPolicy", "spec", {"Allow", "Forbid", "Replace"});
  NonNegative(errs, spec, "startingDeadlineSeconds", "spec");
  NonNegative(errs, spec, "successfulJobsHistoryLimit", "spec");
  NonNegative(errs, spec, "failedJobsHistoryLimit", "spec");
  const JsonValue* jt = GetObject(spec, "jobTemplate");
  const JsonValue* jspec = jt ? GetObject(*jt, "spec") : nullptr;
  if (jspec) ValidateJobTemplateSpec(errs, *jspec, "spec.jobTemplate.spec");
}

void ValidatePVC(Errs& errs, const JsonValue& obj, const JsonValue* old) {
  const JsonValue& spec = SpecOf(obj);
  if (!old) {
    const JsonValue* modes = GetArray(spec, "accessModes");
    if (!modes || modes->Empty()) {
      errs.push_back(FieldRequired("spec.accessModes", "at least 1 access mode is required"));
    } else {
      const std::vector<std::string> valid = {"ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"};
      for (const auto& m : modes->GetArray()) {
        if (std::find(valid.begin(), valid.end(), StrOf(m)) == valid.end()) {
          errs.push_back(FieldNotSupported("spec.accessModes", GoQuote(StrOf(m)), valid));
        }
      }
    }
    const JsonValue* res = GetObject(spec, "resources");
    const JsonValue* req = res ? GetObject(*res, "requests") : nullptr;
    if (!req || !Member(*req, "storage")) errs.push_back(FieldRequired("spec.resources[storage]"));
    Enum(errs, spec, "volumeMode", "spec", {"Block", "Filesystem"}, false);
    return;
  }
  rapidjson::Document a, b;
  a.CopyFrom(spec, a.GetAllocator());
  b.CopyFrom(SpecOf(*old), b.GetAllocator());
  for (auto* d : {&a, &b}) {
    if (JsonValue* res = internal::GetObjectMut(*d, "resources")) RemoveMember(*res, "requests");
  }
  if (Str(b, "volumeName").empty()) {
    RemoveMember(a, "volumeName");
    RemoveMember(b, "volumeName");
  }
  if (!(a == b)) {
    errs.push_back(FieldForbidden("spec", "spec is immutable after creation except resources.requests for bound claims\n"));
  }
}

void ValidateNode(Errs& errs, const JsonValue& obj) {
  const JsonValue& spec = SpecOf(obj);
  const JsonValue* taints = GetArray(spec, "taints");
  if (!taints) return;
  for (rapidjson::SizeType i = 0; i < taints->Size(); ++i) {
    const JsonValue& t = (*taints)[i];
    if (!t.IsObject()) continue;
    std::string tp = Idx("spec.taints", i);
    if (Str(t, "key").empty()) errs.push_back(FieldRequired(tp + ".key"));
    Enum(errs, t, "effect", tp, {"NoSchedule", "PreferNoSchedule", "NoExecute"});
  }
}

}  // namespace

Status ValidateObject(const ResourceInfo& resource, const JsonValue& obj, const JsonValue* old) {
  if (!obj.IsObject()) return Status::OK();
  Errs errs;
  const std::string& g = resource.group;
  const std::string& k = resource.kind;
  if (g.empty()) {
    if (k == "Pod") ValidatePod(errs, obj, old);
    if (k == "Service") ValidateService(errs, obj, old);
    if (k == "ConfigMap") ValidateConfigMap(errs, obj, old);
    if (k == "Secret") ValidateSecret(errs, obj, old);
    if (k == "PersistentVolumeClaim") ValidatePVC(errs, obj, old);
    if (k == "Node") ValidateNode(errs, obj);
    if (k == "PodTemplate") ValidatePodTemplate(errs, GetObject(obj, "template"), "template");
    if (k == "ReplicationController") {
      const JsonValue& spec = SpecOf(obj);
      NonNegative(errs, spec, "replicas", "spec");
      const JsonValue* sel = GetObject(spec, "selector");
      if (!sel || sel->ObjectEmpty()) errs.push_back(FieldRequired("spec.selector"));
      const JsonValue* tmpl = GetObject(spec, "template");
      if (!tmpl) {
        errs.push_back(FieldRequired("spec.template"));
      } else {
        const JsonValue* labels = TemplateLabels(tmpl);
        bool match = sel && !sel->ObjectEmpty();
        for (auto it = sel ? sel->MemberBegin() : JsonValue::ConstMemberIterator(); sel && it != sel->MemberEnd(); ++it) {
          const JsonValue* lv = labels ? Member(*labels, StrOf(it->name)) : nullptr;
          if (!lv || !(*lv == it->value)) match = false;
        }
        if (sel && !sel->ObjectEmpty() && !match) {
          errs.push_back(FieldInvalid("spec.template.metadata.labels", internal::GoStringMap(labels),
                                      "`selector` does not match template `labels`"));
        }
        ValidatePodTemplate(errs, tmpl, "spec.template");
        const JsonValue* pspec = GetObject(*tmpl, "spec");
        if (pspec && Str(*pspec, "restartPolicy") != "Always") {
          errs.push_back(FieldNotSupported("spec.template.spec.restartPolicy", GoQuote(Str(*pspec, "restartPolicy")), {"Always"}));
        }
      }
    }
  } else if (g == "apps") {
    if (k == "Deployment") ValidateDeployment(errs, obj, old);
    if (k == "ReplicaSet") ValidateReplicaSet(errs, obj, old);
    if (k == "DaemonSet") ValidateDaemonSet(errs, obj, old);
    if (k == "StatefulSet") ValidateStatefulSet(errs, obj, old);
  } else if (g == "batch") {
    if (k == "Job") ValidateJob(errs, obj, old);
    if (k == "CronJob") ValidateCronJob(errs, obj);
  }
  if (errs.empty()) return Status::OK();
  const JsonValue* meta = GetObject(obj, "metadata");
  std::string_view name = meta ? Str(*meta, "name") : std::string_view();
  return InvalidError(resource.group, resource.kind, name, std::move(errs));
}

}  // namespace minik::api
