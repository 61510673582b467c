#include "agent/registry/registries_config.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "common/json.h"
#include "common/log.h"
#include "common/yaml.h"

namespace minik::agent::registry {

namespace {

// Splits "host:port" (or "[v6]:port"); port "" when absent.
void SplitHostPort(const std::string& hp, std::string* host, std::string* port) {
  if (!hp.empty() && hp[0] == '[') {
    size_t close = hp.find(']');
    if (close != std::string::npos) {
      *host = hp.substr(1, close - 1);
      *port = close + 1 < hp.size() && hp[close + 1] == ':' ? hp.substr(close + 2) : "";
      return;
    }
  }
  size_t colon = hp.rfind(':');
  if (colon != std::string::npos && hp.find(':') == colon) {
    *host = hp.substr(0, colon);
    *port = hp.substr(colon + 1);
  } else {
    *host = hp;
    port->clear();
  }
}

bool HasConfig(const RegistryConfig& c) { return c.auth.has_value() || c.tls.has_value(); }

// A scalar as a string (YAML numbers and booleans as their text), or nullopt when not a scalar.
std::optional<std::string> ScalarString(const JsonValue& v) {
  if (v.IsString()) return std::string(v.GetString(), v.GetStringLength());
  if (v.IsBool()) return std::string(v.GetBool() ? "true" : "false");
  if (v.IsInt64()) return std::to_string(v.GetInt64());
  if (v.IsUint64()) return std::to_string(v.GetUint64());
  if (v.IsDouble()) {
    std::ostringstream os;
    os << v.GetDouble();
    return os.str();
  }
  return std::nullopt;
}

std::string Quote(std::string_view key) { return "\"" + std::string(key) + "\""; }

Status FieldError(const std::string& field, const std::string& what) {
  return Status::Invalid(field + ": " + what);
}

// Reads a mapping of string fields; unknown fields are ignored, as Go's yaml.Unmarshal does.
Status ReadStringField(const JsonValue& obj, const char* name, const std::string& where, std::string* out) {
  const JsonValue* v = Member(obj, name);
  if (v == nullptr || v->IsNull()) return Status::OK();
  auto s = ScalarString(*v);
  if (!s) return FieldError(where + "." + name, "expected a string");
  *out = *s;
  return Status::OK();
}

StatusOr<RegistryConfig> ParseRegistryConfig(const JsonValue& v, const std::string& where) {
  RegistryConfig rc;
  if (v.IsNull()) return rc;
  if (!v.IsObject()) return FieldError(where, "expected a mapping with auth and tls");
  if (const JsonValue* a = Member(v, "auth"); a != nullptr && !a->IsNull()) {
    if (!a->IsObject()) return FieldError(where + ".auth", "expected a mapping");
    AuthConfig auth;
    MINIK_RETURN_IF_ERROR(ReadStringField(*a, "username", where + ".auth", &auth.username));
    MINIK_RETURN_IF_ERROR(ReadStringField(*a, "password", where + ".auth", &auth.password));
    MINIK_RETURN_IF_ERROR(ReadStringField(*a, "auth", where + ".auth", &auth.auth));
    MINIK_RETURN_IF_ERROR(ReadStringField(*a, "identitytoken", where + ".auth", &auth.identity_token));
    rc.auth = auth;
  }
  if (const JsonValue* t = Member(v, "tls"); t != nullptr && !t->IsNull()) {
    if (!t->IsObject()) return FieldError(where + ".tls", "expected a mapping");
    TlsConfig tls;
    MINIK_RETURN_IF_ERROR(ReadStringField(*t, "ca_file", where + ".tls", &tls.ca_file));
    MINIK_RETURN_IF_ERROR(ReadStringField(*t, "cert_file", where + ".tls", &tls.cert_file));
    MINIK_RETURN_IF_ERROR(ReadStringField(*t, "key_file", where + ".tls", &tls.key_file));
    if (const JsonValue* b = Member(*t, "insecure_skip_verify"); b != nullptr && !b->IsNull()) {
      if (b->IsBool()) {
        tls.insecure_skip_verify = b->GetBool();
      } else if (b->IsString() && (std::string_view(b->GetString()) == "true" || std::string_view(b->GetString()) == "false")) {
        tls.insecure_skip_verify = std::string_view(b->GetString()) == "true";
      } else {
        return FieldError(where + ".tls.insecure_skip_verify", "expected a boolean");
      }
    }
    if (tls.cert_file.empty() != tls.key_file.empty()) {
      return FieldError(where + ".tls", "cert_file and key_file must be set together");
    }
    rc.tls = tls;
  }
  return rc;
}

StatusOr<Mirror> ParseMirror(const JsonValue& v, const std::string& where) {
  Mirror m;
  if (v.IsNull()) return m;
  if (!v.IsObject()) return FieldError(where, "expected a mapping with endpoint and rewrite");
  if (const JsonValue* e = Member(v, "endpoint"); e != nullptr && !e->IsNull()) {
    if (!e->IsArray()) return FieldError(where + ".endpoint", "expected a list of URLs");
    for (const auto& item : e->GetArray()) {
      auto s = ScalarString(item);
      if (!s || !item.IsString()) return FieldError(where + ".endpoint", "expected a list of URLs");
      m.endpoints.push_back(*s);
    }
  }
  if (const JsonValue* r = Member(v, "rewrite"); r != nullptr && !r->IsNull()) {
    if (!r->IsObject()) return FieldError(where + ".rewrite", "expected a mapping of pattern to replacement");
    for (const auto& kv : r->GetObject()) {
      auto s = ScalarString(kv.value);
      std::string pattern(kv.name.GetString(), kv.name.GetStringLength());
      if (!s) return FieldError(where + ".rewrite." + Quote(pattern), "expected a string");
      m.rewrites.emplace_back(pattern, *s);
    }
  }
  return m;
}

// k3s's normalizeEndpointAddress: the registry name the endpoint stands for (for configs), and the
// endpoint itself. False for an address that is not a usable URL.
bool NormalizeEndpointAddress(const std::string& address, std::string* registry, Endpoint* ep) {
  std::string rest = address;
  std::string scheme;
  size_t sep = rest.find("://");
  if (sep != std::string::npos) {
    scheme = rest.substr(0, sep);
    rest = rest.substr(sep + 3);
  } else if (rest.rfind("//", 0) == 0) {
    rest = rest.substr(2);
  }
  size_t slash = rest.find_first_of("/?#");
  std::string host = rest.substr(0, slash);
  std::string path = slash == std::string::npos ? "" : rest.substr(slash);
  if (size_t q = path.find_first_of("?#"); q != std::string::npos) path.resize(q);
  if (size_t at = host.rfind('@'); at != std::string::npos) host = host.substr(at + 1);  // userinfo
  for (char& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (host.empty() || host.find_first_of(" \t") != std::string::npos) return false;
  if (!scheme.empty() && scheme != "http" && scheme != "https") return false;
  std::string h, port;
  SplitHostPort(host, &h, &port);
  if (h.empty()) return false;
  for (char c : port) {
    if (c < '0' || c > '9') return false;
  }
  if (scheme.empty()) {
    scheme = IsLocalhost(host) && !port.empty() && port != "443" ? "http" : "https";
  }
  *registry = host;
  ep->scheme = scheme;
  ep->host = DefaultHost(host);
  if (ep->host == "registry-1.docker.io") *registry = "docker.io";
  if (path.empty() || path == "/" || path == "/v2") {
    ep->path = "/v2";
  } else {
    ep->path = path;
  }
  return true;
}

// containerd's defaults for a registry nobody configured (core/remotes/docker/config/hosts.go):
// https, except that a loopback registry skips verification, and with a port other than 443
// (and 80, which is plain http) falls back to plain http when the server does not speak TLS.
Endpoint ContainerdDefault(const std::string& registry) {
  Endpoint ep;
  ep.is_default = true;
  ep.scheme = "https";
  ep.host = DefaultHost(registry);
  if (IsLocalhost(registry)) {
    std::string h, port;
    SplitHostPort(registry, &h, &port);
    if (port == "80") {
      ep.scheme = "http";
    } else {
      ep.config.tls = TlsConfig{.insecure_skip_verify = true};
      ep.http_fallback = !port.empty() && port != "443";
    }
  }
  return ep;
}

}  // namespace

std::string Endpoint::Url() const { return scheme + "://" + host + path; }

std::string DefaultHost(const std::string& registry) {
  return registry == "docker.io" ? "registry-1.docker.io" : registry;
}

bool IsLocalhost(const std::string& host_port) {
  std::string host, port;
  SplitHostPort(host_port, &host, &port);
  if (host == "localhost") return true;
  unsigned char buf[16];
  if (inet_pton(AF_INET, host.c_str(), buf) == 1) return buf[0] == 127;
  if (inet_pton(AF_INET6, host.c_str(), buf) == 1) {
    static const unsigned char kLoop6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    if (std::equal(buf, buf + 16, kLoop6)) return true;
    // IPv4-mapped loopback ::ffff:127.x.x.x
    static const unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return std::equal(buf, buf + 12, kMapped) && buf[12] == 127;
  }
  return false;
}

StatusOr<RegistriesConfig> RegistriesConfig::Parse(std::string_view yaml) {
  RegistriesConfig cfg;
  auto doc = YamlToJson(yaml);
  if (!doc.ok()) return Status::Invalid(doc.status().message());
  const JsonValue& root = *doc;
  if (root.IsNull()) return cfg;
  if (!root.IsObject()) return Status::Invalid("expected a mapping with mirrors and configs at the top level");
  if (const JsonValue* m = Member(root, "mirrors"); m != nullptr && !m->IsNull()) {
    if (!m->IsObject()) return FieldError("mirrors", "expected a mapping of registry names");
    for (const auto& kv : m->GetObject()) {
      std::string name(kv.name.GetString(), kv.name.GetStringLength());
      auto mirror = ParseMirror(kv.value, "mirrors." + Quote(name));
      if (!mirror.ok()) return mirror.status();
      cfg.mirrors_.emplace_back(name, std::move(*mirror));
    }
  }
  if (const JsonValue* c = Member(root, "configs"); c != nullptr && !c->IsNull()) {
    if (!c->IsObject()) return FieldError("configs", "expected a mapping of registry names");
    for (const auto& kv : c->GetObject()) {
      std::string name(kv.name.GetString(), kv.name.GetStringLength());
      auto rc = ParseRegistryConfig(kv.value, "configs." + Quote(name));
      if (!rc.ok()) return rc.status();
      cfg.configs_.emplace_back(name, std::move(*rc));
    }
  }
  return cfg;
}

StatusOr<RegistriesConfig> RegistriesConfig::Load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return RegistriesConfig();
    return Status::Unavailable("reading " + path + ": " + std::strerror(errno));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  auto cfg = Parse(ss.str());
  if (!cfg.ok()) return cfg.status().WithContext("failed to parse " + path);
  return cfg;
}

const Mirror* RegistriesConfig::MirrorFor(const std::string& host) const {
  for (const auto& [name, m] : mirrors_) {
    if (name == host) return &m;
  }
  return nullptr;
}

const RegistryConfig* RegistriesConfig::ConfigFor(const std::string& host) const {
  auto find = [&](const std::string& h) -> const RegistryConfig* {
    for (const auto& [name, c] : configs_) {
      if (name == h) return &c;
    }
    return nullptr;
  };
  // k3s's configForHost: the DefaultHost-translated name first ("registry-1.docker.io").
  if (std::string d = DefaultHost(host); d != host) {
    if (const RegistryConfig* c = find(d)) return c;
  }
  return find(host);
}

std::vector<Endpoint> RegistriesConfig::Endpoints(const std::string& registry) const {
  const Mirror* mirror = MirrorFor(registry);
  const RegistryConfig* own_config = ConfigFor(registry);
  bool specific = mirror != nullptr || own_config != nullptr;
  const std::string key = specific ? registry : "*";
  if (!specific) {
    mirror = MirrorFor("*");
    own_config = ConfigFor("*");
  }

  std::vector<Endpoint> out;
  std::optional<Endpoint> def;
  if (key == "*") {
    // containerd's _default: the registry's own default endpoint, with configs["*"].
    def = ContainerdDefault(registry);
    if (own_config != nullptr) {
      if (own_config->tls) def->config.tls = own_config->tls;
      if (own_config->auth) def->config.auth = own_config->auth;
    }
  } else {
    def = Endpoint();
    std::string name;
    if (!NormalizeEndpointAddress(registry, &name, &*def)) {
      def.reset();
    } else {
      def->is_default = true;
      def->path = "/v2";
      if (own_config != nullptr) def->config = *own_config;
    }
  }
  if (mirror != nullptr && disable_default_endpoint_) def.reset();

  if (mirror != nullptr) {
    std::set<std::string> seen;
    for (size_t i = 0; i < mirror->endpoints.size(); ++i) {
      const std::string& address = mirror->endpoints[i];
      Endpoint ep;
      std::string name;
      if (!NormalizeEndpointAddress(address, &name, &ep)) {
        MINIK_LOG(Warning) << "Ignoring invalid endpoint URL " << i << "=" << address << " for " << key;
        continue;
      }
      if (!seen.insert(ep.Url()).second) {
        MINIK_LOG(Warning) << "Skipping duplicate endpoint URL " << i << "=" << address << " for " << key;
        continue;
      }
      ep.rewrites = mirror->rewrites;
      if (const RegistryConfig* c = ConfigFor(name)) ep.config = *c;
      if (i + 1 == mirror->endpoints.size() && def && key != "*" && def->Url() == ep.Url()) {
        // The last endpoint is the default one: it takes the default's place.
        ep.is_default = true;
        def = ep;
      } else {
        out.push_back(std::move(ep));
      }
    }
  }
  bool default_has_config = def && (HasConfig(def->config) || !def->rewrites.empty() || def->path != "/v2");
  if (key != "*" && out.empty() && !default_has_config) {
    // Nothing beyond defaults (k3s writes no hosts.toml): containerd's own defaults apply.
    if (!(mirror != nullptr && disable_default_endpoint_)) return {ContainerdDefault(registry)};
  }
  if (def) out.push_back(std::move(*def));
  return out;
}

}  // namespace minik::agent::registry
