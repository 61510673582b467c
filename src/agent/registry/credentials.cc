#include "agent/registry/credentials.h"

#include <fnmatch.h>

#include <algorithm>
#include <set>

#include "common/json.h"
#include "common/strings.h"

namespace minik::agent::registry {

namespace {

struct SchemelessUrl {
  std::string host;  // with port
  std::string path;
};

SchemelessUrl ParseSchemeless(std::string_view s) {
  SchemelessUrl u;
  if (size_t p = s.find("://"); p != std::string_view::npos) s.remove_prefix(p + 3);
  size_t slash = s.find('/');
  u.host = std::string(s.substr(0, slash));
  if (slash != std::string_view::npos) u.path = std::string(s.substr(slash));
  if (size_t q = u.path.find_first_of("?#"); q != std::string::npos) u.path.resize(q);
  return u;
}

void SplitUrlHost(const std::string& hostport, std::vector<std::string>* parts, std::string* port) {
  std::string host = hostport;
  port->clear();
  size_t colon = hostport.rfind(':');
  if (colon != std::string::npos && hostport.find(':') == colon) {
    host = hostport.substr(0, colon);
    *port = hostport.substr(colon + 1);
  }
  parts->clear();
  for (auto p : Split(host, '.')) parts->emplace_back(p);
}

// The kubelet's URLsMatch: globs in host name parts, equal ports, key path a prefix.
bool UrlsMatch(const std::string& glob, const std::string& target) {
  SchemelessUrl g = ParseSchemeless(glob), t = ParseSchemeless(target);
  std::vector<std::string> gparts, tparts;
  std::string gport, tport;
  SplitUrlHost(g.host, &gparts, &gport);
  SplitUrlHost(t.host, &tparts, &tport);
  if (gport != tport || gparts.size() != tparts.size()) return false;
  if (t.path.compare(0, g.path.size(), g.path) != 0) return false;
  for (size_t i = 0; i < gparts.size(); ++i) {
    if (fnmatch(gparts[i].c_str(), tparts[i].c_str(), 0) != 0) return false;
  }
  return true;
}

// The key a docker config location is indexed under (BasicDockerKeyring.Add).
std::string KeyFor(const std::string& location) {
  std::string value = location;
  if (value.rfind("https://", 0) != 0 && value.rfind("http://", 0) != 0) value = "https://" + value;
  SchemelessUrl u = ParseSchemeless(value);
  std::string path = u.path;
  if (path.rfind("/v2/", 0) == 0 || path.rfind("/v1/", 0) == 0) path = path.substr(3);
  if (!path.empty() && path != "/") return u.host + path;
  return u.host;
}

// Go's base64 of the "auth" field: padded when it ends with '=', raw otherwise.
Status DecodeAuthField(std::string_view field, std::string* user, std::string* pass) {
  std::string decoded;
  if (!Base64Decode(Trim(field), &decoded)) {
    return Status::BadRequest("illegal base64 data in auth field");
  }
  size_t colon = decoded.find(':');
  if (colon == std::string::npos) {
    return Status::BadRequest("unable to parse auth field, must be formatted as base64(username:password)");
  }
  *user = decoded.substr(0, colon);
  *pass = decoded.substr(colon + 1);
  return Status::OK();
}

bool IsDefaultRegistryMatch(const std::string& image) {
  size_t slash = image.find('/');
  std::string first = image.substr(0, slash);
  if (first.empty()) return false;
  if (slash == std::string::npos) return true;
  if (first == "docker.io" || first == "index.docker.io") return true;
  return first.find_first_of(".:") == std::string::npos;
}

}  // namespace

void Credentials::Add(const std::string& key, Credential cred) {
  entries_.push_back(Entry{KeyFor(key), std::move(cred)});
}

Status Credentials::AddAuths(const void* auths_object) {
  const JsonValue& auths = *static_cast<const JsonValue*>(auths_object);
  if (!auths.IsObject()) return Status::BadRequest("json: cannot unmarshal into DockerConfig: expected an object");
  std::vector<Entry> added;
  for (const auto& kv : auths.GetObject()) {
    std::string location(kv.name.GetString(), kv.name.GetStringLength());
    const JsonValue& e = kv.value;
    Credential cred;
    if (e.IsObject()) {
      if (auto s = GetString(e, "username")) cred.username = std::string(*s);
      if (auto s = GetString(e, "password")) cred.password = std::string(*s);
      if (auto s = GetString(e, "auth"); s && !s->empty()) {
        MINIK_RETURN_IF_ERROR(DecodeAuthField(*s, &cred.username, &cred.password));
      }
    } else if (!e.IsNull()) {
      return Status::BadRequest("json: cannot unmarshal into DockerConfigEntry: expected an object for " + location);
    }
    added.push_back(Entry{KeyFor(location), std::move(cred)});
  }
  for (auto& e : added) entries_.push_back(std::move(e));
  return Status::OK();
}

Status Credentials::AddDockerConfigJson(std::string_view json) {
  auto doc = ParseJson(json);
  if (!doc.ok()) return doc.status();
  if (!doc->IsObject()) return Status::BadRequest("json: cannot unmarshal into DockerConfigJSON: expected an object");
  const JsonValue* auths = Member(*doc, "auths");
  if (auths == nullptr || auths->IsNull()) return Status::OK();
  return AddAuths(auths);
}

Status Credentials::AddDockercfg(std::string_view json) {
  auto doc = ParseJson(json);
  if (!doc.ok()) return doc.status();
  return AddAuths(&*doc);
}

std::vector<Credential> Credentials::Lookup(const std::string& image_name) const {
  // Unique keys, reverse-sorted: more specific paths first.
  std::set<std::string, std::greater<>> index;
  for (const auto& e : entries_) index.insert(e.key);
  std::vector<Credential> out;
  for (const auto& key : index) {
    if (!UrlsMatch(key, image_name)) continue;
    for (const auto& e : entries_) {
      if (e.key == key) out.push_back(e.cred);
    }
  }
  if (!out.empty()) return out;
  if (IsDefaultRegistryMatch(image_name)) {
    for (const auto& e : entries_) {
      if (e.key == "index.docker.io") out.push_back(e.cred);
    }
  }
  return out;
}

StatusOr<Credentials> ParseDockerConfig(std::string_view json) {
  auto doc = ParseJson(json);
  if (!doc.ok()) return doc.status();
  Credentials creds;
  const JsonValue* auths = doc->IsObject() ? Member(*doc, "auths") : nullptr;
  if (auths != nullptr && auths->IsObject()) {
    MINIK_RETURN_IF_ERROR(creds.AddDockerConfigJson(json));
  } else {
    MINIK_RETURN_IF_ERROR(creds.AddDockercfg(json));
  }
  return creds;
}

Status AddPullSecret(Credentials& creds, std::string_view secret_type, std::string_view dockerconfigjson,
                     std::string_view dockercfg) {
  if (secret_type == "kubernetes.io/dockerconfigjson" && !dockerconfigjson.empty()) {
    return creds.AddDockerConfigJson(dockerconfigjson);
  }
  if (secret_type == "kubernetes.io/dockercfg" && !dockercfg.empty()) {
    return creds.AddDockercfg(dockercfg);
  }
  return Status::OK();
}

}  // namespace minik::agent::registry
