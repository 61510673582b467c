#include "agent/volumes/env.h"

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>

#include "agent/volumes/downward.h"
#include "agent/volumes/pod_util.h"
#include "common/strings.h"

namespace minik::agent::volumes {

using internal::Array;
using internal::Bool;
using internal::Object;
using internal::Str;

namespace {

std::string EnvName(std::string s) {  // envvars.makeEnvVariableName
  for (char& c : s) {
    if (c == '-') c = '_';
    else c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return s;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::string JoinHostPort(const std::string& host, int64_t port) {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

bool IsServiceIPSet(const JsonValue& svc) {
  std::string ip = Str(Object(&svc, "spec"), "clusterIP");
  return !ip.empty() && ip != "None";
}

bool IsCIdentifier(const std::string& s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

bool IsRelaxedEnvVarName(const std::string& s) {
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u >= 0x20 && u <= 0x7e && c != '=';
  });
}

// The env being built: insertion-ordered, a re-definition replaces the value in place.
class OrderedEnv {
 public:
  void Set(const std::string& name, std::string value) {
    auto it = index_.find(name);
    if (it == index_.end()) {
      index_[name] = vars_.size();
      vars_.push_back({name, value});
    } else {
      vars_[it->second].value = value;
    }
    values_[name] = std::move(value);
  }
  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  const std::map<std::string, std::string>& values() const { return values_; }
  std::vector<EnvVar> Take() { return std::move(vars_); }

 private:
  std::vector<EnvVar> vars_;
  std::unordered_map<std::string, size_t> index_;
  std::map<std::string, std::string> values_;
};

// A ConfigMap's data (or a Secret's decoded data) as ordered pairs; nullptr object = none.
std::vector<std::pair<std::string, std::string>> DataOf(const JsonValue* obj, bool secret) {
  std::vector<std::pair<std::string, std::string>> out;
  const JsonValue* data = Object(obj, "data");
  if (!data) return out;
  for (const auto& m : data->GetObject()) {
    if (!m.value.IsString()) continue;
    std::string key(m.name.GetString(), m.name.GetStringLength());
    std::string value(m.value.GetString(), m.value.GetStringLength());
    if (secret) {
      std::string decoded;
      if (Base64Decode(value, &decoded)) value = std::move(decoded);
    }
    out.emplace_back(std::move(key), std::move(value));
  }
  return out;
}

const JsonValue* FindKey(const JsonValue* obj, const std::string& key) {
  const JsonValue* data = Object(obj, "data");
  if (!data) return nullptr;
  const JsonValue* v = Member(*data, key);
  return v && v->IsString() ? v : nullptr;
}

}  // namespace

std::vector<EnvVar> ServiceEnvVars(const std::vector<const JsonValue*>& services) {
  std::vector<EnvVar> out;
  for (const JsonValue* svc : services) {
    if (!svc || !IsServiceIPSet(*svc)) continue;
    const JsonValue* spec = Object(svc, "spec");
    const JsonValue* ports = Array(spec, "ports");
    if (!ports || ports->Empty()) continue;
    std::string ip = Str(spec, "clusterIP");
    std::string prefix = EnvName(Str(Object(svc, "metadata"), "name"));
    out.push_back({prefix + "_SERVICE_HOST", ip});
    std::string port_name = prefix + "_SERVICE_PORT";
    out.push_back({port_name, std::to_string(GetInt((*ports)[0], "port").value_or(0))});
    for (const auto& p : ports->GetArray()) {
      std::string n = Str(&p, "name");
      if (!n.empty()) out.push_back({port_name + "_" + EnvName(n), std::to_string(GetInt(p, "port").value_or(0))});
    }
    bool first = true;
    for (const auto& p : ports->GetArray()) {
      std::string proto = Str(&p, "protocol");
      if (proto.empty()) proto = "TCP";
      int64_t port = GetInt(p, "port").value_or(0);
      std::string url = Lower(proto) + "://" + JoinHostPort(ip, port);
      if (first) out.push_back({prefix + "_PORT", url});
      first = false;
      std::string pp = prefix + "_PORT_" + std::to_string(port) + "_" + Upper(proto);
      out.push_back({pp, url});
      out.push_back({pp + "_PROTO", Lower(proto)});
      out.push_back({pp + "_PORT", std::to_string(port)});
      out.push_back({pp + "_ADDR", ip});
    }
  }
  return out;
}

StatusOr<EnvResult> MakeEnvironment(const JsonValue& pod, const JsonValue& container,
                                    const std::vector<ObjectPtr>& services, const ObjectSource& objects,
                                    const NodeInfo& node, const EnvOptions& options) {
  const JsonValue* meta = Object(&pod, "metadata");
  const JsonValue* spec = Object(&pod, "spec");
  std::string ns = Str(meta, "namespace");
  EnvResult result;

  if (!options.services_synced) {
    const JsonValue* ann = Object(meta, "annotations");
    const JsonValue* src = ann ? Member(*ann, "kubernetes.io/config.source") : nullptr;
    bool is_static = src && src->IsString() && std::string_view(src->GetString()) != "api";
    if (!is_static) return Status::Unavailable("services have not yet been read at least once, cannot construct envvars");
  }

  // getServiceEnvVarMap.
  bool links = Bool(spec, "enableServiceLinks", true);
  std::map<std::string, const JsonValue*> service_map;
  for (const auto& s : services) {
    if (!s || !IsServiceIPSet(*s)) continue;
    const JsonValue* sm = Object(s.get(), "metadata");
    std::string name = Str(sm, "name"), sns = Str(sm, "namespace");
    if (sns == "default" && name == "kubernetes") {
      service_map.emplace(name, s.get());
    } else if (sns == ns && links) {
      service_map[name] = s.get();
    }
  }
  std::vector<const JsonValue*> mapped;
  for (const auto& [name, s] : service_map) mapped.push_back(s);
  std::vector<EnvVar> service_vars = ServiceEnvVars(mapped);
  std::map<std::string, std::string> service_env;
  for (const auto& v : service_vars) service_env[v.name] = v.value;

  std::map<std::string, ObjectPtr> config_maps, secrets;
  // Returns the object (nullptr when absent and optional), or the kubelet's NotFound error.
  auto get = [&](bool secret, const std::string& name, bool optional, ObjectPtr* out) -> Status {
    auto& cache = secret ? secrets : config_maps;
    auto it = cache.find(name);
    if (it != cache.end()) {
      *out = it->second;
      return Status::OK();
    }
    ObjectPtr obj = secret ? objects.Secret(ns, name) : objects.ConfigMap(ns, name);
    if (!obj) {
      *out = nullptr;
      if (optional) return Status::OK();
      return Status::NotFound(std::string(secret ? "secret" : "configmap") + " \"" + name + "\" not found");
    }
    cache[name] = obj;
    *out = std::move(obj);
    return Status::OK();
  };

  OrderedEnv env;
  if (const JsonValue* from = Array(&container, "envFrom")) {
    for (const auto& f : from->GetArray()) {
      const JsonValue* cm = Object(&f, "configMapRef");
      const JsonValue* sr = Object(&f, "secretRef");
      if (!cm && !sr) continue;
      bool secret = !cm;
      const JsonValue* ref = secret ? sr : cm;
      std::string name = Str(ref, "name");
      ObjectPtr obj;
      MINIK_RETURN_IF_ERROR(get(secret, name, Bool(ref, "optional", false), &obj));
      if (!obj) continue;
      std::string prefix = Str(&f, "prefix");
      std::vector<std::string> invalid;
      for (auto& [k, v] : DataOf(obj.get(), secret)) {
        std::string key = prefix + k;
        bool ok = options.strict_env_var_names ? IsCIdentifier(key) : IsRelaxedEnvVarName(key);
        if (!ok) {
          invalid.push_back(key);
          continue;
        }
        env.Set(key, v);
      }
      if (!invalid.empty()) {
        std::sort(invalid.begin(), invalid.end());
        std::string keys;
        for (size_t i = 0; i < invalid.size(); ++i) keys += (i ? ", " : "") + invalid[i];
        result.events.push_back({"Warning", "InvalidEnvironmentVariableNames",
                                 "Keys [" + keys + "] from the EnvFrom " + (secret ? "secret " : "configMap ") + ns +
                                     "/" + name + " were skipped since they are considered invalid environment variable names."});
      }
    }
  }

  if (const JsonValue* list = Array(&container, "env")) {
    for (const auto& e : list->GetArray()) {
      std::string name = Str(&e, "name");
      std::string value = Str(&e, "value");
      const JsonValue* vf = Object(&e, "valueFrom");
      if (!value.empty()) {
        value = Expand(value, MappingFor({&env.values(), &service_env}));
      } else if (vf) {
        if (const JsonValue* fr = Object(vf, "fieldRef")) {
          MINIK_ASSIGN_OR_RETURN(value, PodFieldValue(pod, Str(fr, "apiVersion"), Str(fr, "fieldPath"), node));
        } else if (const JsonValue* rr = Object(vf, "resourceFieldRef")) {
          MINIK_ASSIGN_OR_RETURN(value, ContainerResourceValue(*rr, pod, &container, node));
        } else if (const JsonValue* kr = Object(vf, "configMapKeyRef")) {
          std::string cm_name = Str(kr, "name"), key = Str(kr, "key");
          bool optional = Bool(kr, "optional", false);
          ObjectPtr obj;
          MINIK_RETURN_IF_ERROR(get(false, cm_name, optional, &obj));
          if (!obj) continue;
          const JsonValue* v = FindKey(obj.get(), key);
          if (!v) {
            if (optional) continue;
            return Status::NotFound("couldn't find key " + key + " in ConfigMap " + ns + "/" + cm_name);
          }
          value.assign(v->GetString(), v->GetStringLength());
        } else if (const JsonValue* sk = Object(vf, "secretKeyRef")) {
          std::string s_name = Str(sk, "name"), key = Str(sk, "key");
          bool optional = Bool(sk, "optional", false);
          ObjectPtr obj;
          MINIK_RETURN_IF_ERROR(get(true, s_name, optional, &obj));
          if (!obj) continue;
          const JsonValue* v = FindKey(obj.get(), key);
          if (!v) {
            if (optional) continue;
            return Status::NotFound("couldn't find key " + key + " in Secret " + ns + "/" + s_name);
          }
          std::string raw(v->GetString(), v->GetStringLength());
          if (!Base64Decode(raw, &value)) value = raw;
        }
      }
      env.Set(name, std::move(value));
    }
  }

  std::vector<EnvVar> out = env.Take();
  std::set<std::string> defined;
  for (const auto& v : out) defined.insert(v.name);
  for (const auto& v : service_vars) {
    if (!defined.count(v.name)) out.push_back(v);
  }
  result.env = std::move(out);
  return result;
}

void ExpandCommandAndArgs(const JsonValue& container, const std::vector<EnvVar>& env,
                          std::vector<std::string>* command, std::vector<std::string>* args) {
  std::map<std::string, std::string> m;
  for (const auto& v : env) m[v.name] = v.value;
  MappingFunc mapping = MappingFor({&m});
  for (auto [field, out] : {std::pair{"command", command}, std::pair{"args", args}}) {
    out->clear();
    if (const JsonValue* arr = Array(&container, field)) {
      for (const auto& s : arr->GetArray()) {
        if (s.IsString()) out->push_back(Expand(std::string_view(s.GetString(), s.GetStringLength()), mapping));
      }
    }
  }
}

StatusOr<std::string> ExpandSubPathExpr(const std::string& expr, const std::vector<EnvVar>& env) {
  std::map<std::string, std::string> m;
  for (const auto& v : env) m[v.name] = v.value;
  std::set<std::string> missing;
  std::string expanded = Expand(expr, [&](const std::string& key) -> std::string {
    auto it = m.find(key);
    if (it == m.end() || it->second.empty()) {
      missing.insert(key);
      return {};
    }
    return it->second;
  });
  if (!missing.empty()) {
    std::string list;
    for (const auto& k : missing) list += (list.empty() ? "" : ", ") + k;
    return Status::Invalid("missing value for " + list);
  }
  return expanded;
}

}  // namespace minik::agent::volumes
