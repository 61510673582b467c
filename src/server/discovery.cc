#include "server/discovery.h"

#include <openssl/sha.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdio>

#include "common/strings.h"

namespace minik::server {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void Str(Writer& w, std::string_view s) { w.String(s.data(), static_cast<rapidjson::SizeType>(s.size())); }
void KV(Writer& w, const char* k, std::string_view v) {
  w.Key(k);
  Str(w, v);
}
void StrArray(Writer& w, const char* k, const std::vector<std::string>& v) {
  w.Key(k);
  w.StartArray();
  for (const auto& s : v) Str(w, s);
  w.EndArray();
}

std::string Done(rapidjson::StringBuffer& b) { return std::string(b.GetString(), b.GetSize()); }

std::string GroupVersionString(const std::string& g, const std::string& v) { return g.empty() ? v : g + "/" + v; }

std::string Hash(const std::string& s) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), md);
  char hex[2 * 16 + 1];
  for (int i = 0; i < 16; ++i) std::snprintf(hex + 2 * i, 3, "%02X", md[i]);
  return hex;
}

std::string VersionJson() {
  rapidjson::StringBuffer b;
  Writer w(b);
  w.StartObject();
  KV(w, "major", "1");
  KV(w, "minor", "32");
  KV(w, "gitVersion", kKubernetesVersion);
  KV(w, "gitCommit", "0000000000000000000000000000000000000000");
  KV(w, "gitTreeState", "clean");
  KV(w, "buildDate", "2026-11-22T00:00:00Z");
  KV(w, "goVersion", "go1.23.4");
  KV(w, "compiler", "gc");
  KV(w, "platform", "linux/amd64");
  w.EndObject();
  return Done(b);
}

void ServerAddresses(Writer& w, const std::string& addr, int port) {
  w.Key("serverAddressByClientCIDRs");
  w.StartArray();
  w.StartObject();
  KV(w, "clientCIDR", "0.0.0.0/0");
  KV(w, "serverAddress", addr + ":" + std::to_string(port));
  w.EndObject();
  w.EndArray();
}

void GroupObject(Writer& w, const api::GroupVersions& g, bool with_type) {
  w.StartObject();
  if (with_type) {
    KV(w, "kind", "APIGroup");
    KV(w, "apiVersion", "v1");
  }
  KV(w, "name", g.group);
  w.Key("versions");
  w.StartArray();
  for (const auto& v : g.versions) {
    w.StartObject();
    KV(w, "groupVersion", GroupVersionString(g.group, v));
    KV(w, "version", v);
    w.EndObject();
  }
  w.EndArray();
  w.Key("preferredVersion");
  w.StartObject();
  KV(w, "groupVersion", GroupVersionString(g.group, g.versions.front()));
  KV(w, "version", g.versions.front());
  w.EndObject();
  w.EndObject();
}

std::string ResourceList(const api::Registry& reg, const std::string& group, const std::string& version) {
  rapidjson::StringBuffer b;
  Writer w(b);
  w.StartObject();
  KV(w, "kind", "APIResourceList");
  KV(w, "apiVersion", "v1");
  KV(w, "groupVersion", GroupVersionString(group, version));
  w.Key("resources");
  w.StartArray();
  for (const api::ResourceInfo* r : reg.InGroupVersion(group, version)) {
    w.StartObject();
    KV(w, "name", r->plural);
    KV(w, "singularName", r->singular);
    w.Key("namespaced");
    w.Bool(r->namespaced);
    KV(w, "kind", r->kind);
    StrArray(w, "verbs", r->verbs);
    if (!r->short_names.empty()) StrArray(w, "shortNames", r->short_names);
    if (!r->categories.empty()) StrArray(w, "categories", r->categories);
    w.EndObject();
    for (const auto& s : r->subresources) {
      w.StartObject();
      KV(w, "name", r->plural + "/" + s.name);
      KV(w, "singularName", "");
      w.Key("namespaced");
      w.Bool(r->namespaced);
      // A subresource of another group/version names both (pods/eviction: policy, v1).
      if (s.group != r->group || s.version != r->version) {
        KV(w, "group", s.group);
        KV(w, "version", s.version);
      }
      KV(w, "kind", s.kind);
      StrArray(w, "verbs", s.verbs);
      w.EndObject();
    }
  }
  w.EndArray();
  w.EndObject();
  return Done(b);
}

// apidiscovery.k8s.io APIGroupDiscoveryList for the core group (legacy) or the named groups.
std::string Aggregated(const api::Registry& reg, bool legacy, const std::string& api_version) {
  rapidjson::StringBuffer b;
  Writer w(b);
  w.StartObject();
  KV(w, "kind", "APIGroupDiscoveryList");
  KV(w, "apiVersion", api_version);
  w.Key("metadata");
  w.StartObject();
  w.EndObject();
  w.Key("items");
  w.StartArray();
  for (const auto& g : reg.groups()) {
    if (legacy != g.group.empty()) continue;
    w.StartObject();
    w.Key("metadata");
    w.StartObject();
    if (!g.group.empty()) KV(w, "name", g.group);
    w.Key("creationTimestamp");
    w.Null();
    w.EndObject();
    w.Key("versions");
    w.StartArray();
    for (const auto& v : g.versions) {
      w.StartObject();
      KV(w, "version", v);
      w.Key("resources");
      w.StartArray();
      for (const api::ResourceInfo* r : reg.InGroupVersion(g.group, v)) {
        w.StartObject();
        KV(w, "resource", r->plural);
        w.Key("responseKind");
        w.StartObject();
        KV(w, "group", r->group);
        KV(w, "version", r->version);
        KV(w, "kind", r->kind);
        w.EndObject();
        KV(w, "scope", r->namespaced ? "Namespaced" : "Cluster");
        KV(w, "singularResource", r->singular);
        StrArray(w, "verbs", r->verbs);
        if (!r->short_names.empty()) StrArray(w, "shortNames", r->short_names);
        if (!r->categories.empty()) StrArray(w, "categories", r->categories);
        if (!r->subresources.empty()) {
          w.Key("subresources");
          w.StartArray();
          for (const auto& s : r->subresources) {
            w.StartObject();
            KV(w, "subresource", s.name);
            w.Key("responseKind");
            w.StartObject();
            KV(w, "group", s.group);
            KV(w, "version", s.version);
            KV(w, "kind", s.kind);
            w.EndObject();
            StrArray(w, "verbs", s.verbs);
            w.EndObject();
          }
          w.EndArray();
        }
        w.EndObject();
      }
      w.EndArray();
      KV(w, "freshness", "Current");
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return Done(b);
}

// Which aggregated discovery version the Accept header asks for ("" = none).
std::string WantsAggregated(const std::string& accept) {
  for (auto part : Split(accept, ',')) {
    bool group = false, as = false;
    std::string v;
    for (auto p : Split(part, ';')) {
      p = Trim(p);
      if (p == "g=apidiscovery.k8s.io") group = true;
      else if (p == "as=APIGroupDiscoveryList") as = true;
      else if (p.rfind("v=", 0) == 0) v = std::string(p.substr(2));
    }
    if (group && as && (v == "v2" || v == "v2beta1")) return v;
    std::string_view mt = Trim(Split(part, ';')[0]);
    if (mt == "application/json" || mt == "*/*") return "";
  }
  return "";
}

// --- OpenAPI v3 ---------------------------------------------------------------------------

std::string GvPath(const std::string& group, const std::string& version) {
  return group.empty() ? "api/" + version : "apis/" + group + "/" + version;
}

void ParamRef(Writer& w, const char* name, const char* in, const char* desc) {
  w.StartObject();
  KV(w, "name", name);
  KV(w, "in", in);
  KV(w, "description", desc);
  w.Key("schema");
  w.StartObject();
  KV(w, "type", "string");
  w.EndObject();
  w.Key("uniqueItems");
  w.Bool(true);
  w.EndObject();
}

void Gvk(Writer& w, const api::ResourceInfo& r, const std::string& kind) {
  w.Key("x-kubernetes-group-version-kind");
  w.StartObject();
  KV(w, "group", r.group);
  KV(w, "kind", kind);
  KV(w, "version", r.version);
  w.EndObject();
}

void Operation(Writer& w, const char* method, const char* action, const api::ResourceInfo& r, const std::string& kind,
               bool body, bool patch) {
  w.Key(method);
  w.StartObject();
  w.Key("tags");
  w.StartArray();
  Str(w, r.group.empty() ? "core_" + r.version : r.group + "_" + r.version);
  w.EndArray();
  KV(w, "operationId", std::string(action) + kind);
  w.Key("parameters");
  w.StartArray();
  ParamRef(w, "dryRun", "query", "When present, indicates that modifications should not be persisted.");
  ParamRef(w, "fieldManager", "query", "fieldManager is a name associated with the actor or entity that is making these changes.");
  ParamRef(w, "fieldValidation", "query",
           "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing "
           "unknown or duplicate fields. Valid values are: - Ignore - Warn - Strict");
  w.EndArray();
  if (body) {
    w.Key("requestBody");
    w.StartObject();
    w.Key("content");
    w.StartObject();
    const char* types[] = {"application/json-patch+json", "application/merge-patch+json",
                           "application/strategic-merge-patch+json", "application/apply-patch+yaml"};
    if (patch) {
      for (const char* t : types) {
        w.Key(t);
        w.StartObject();
        w.Key("schema");
        w.StartObject();
        KV(w, "type", "object");
        w.EndObject();
        w.EndObject();
      }
    } else {
      w.Key("*/*");
      w.StartObject();
      w.Key("schema");
      w.StartObject();
      KV(w, "type", "object");
      w.EndObject();
      w.EndObject();
    }
    w.EndObject();
    w.Key("required");
    w.Bool(true);
    w.EndObject();
  }
  w.Key("responses");
  w.StartObject();
  w.Key("200");
  w.StartObject();
  KV(w, "description", "OK");
  w.EndObject();
  w.EndObject();
  KV(w, "x-kubernetes-action", action);
  Gvk(w, r, kind);
  w.EndObject();
}

std::string OpenApiGroupVersion(const api::Registry& reg, const std::string& group, const std::string& version) {
  rapidjson::StringBuffer b;
  Writer w(b);
  w.StartObject();
  KV(w, "openapi", "3.0.0");
  w.Key("info");
  w.StartObject();
  KV(w, "title", "Kubernetes");
  KV(w, "version", kKubernetesVersion);
  w.EndObject();
  w.Key("paths");
  w.StartObject();
  std::string base = "/" + GvPath(group, version) + "/";
  for (const api::ResourceInfo* r : reg.InGroupVersion(group, version)) {
    std::string coll = base + (r->namespaced ? "namespaces/{namespace}/" : "") + r->plural;
    w.Key(coll.c_str());
    w.StartObject();
    if (r->HasVerb("list")) Operation(w, "get", "list", *r, r->kind, false, false);
    if (r->HasVerb("create")) Operation(w, "post", "post", *r, r->kind, true, false);
    w.EndObject();
    std::string item = coll + "/{name}";
    w.Key(item.c_str());
    w.StartObject();
    if (r->HasVerb("get")) Operation(w, "get", "get", *r, r->kind, false, false);
    if (r->HasVerb("update")) Operation(w, "put", "put", *r, r->kind, true, false);
    if (r->HasVerb("patch")) Operation(w, "patch", "patch", *r, r->kind, true, true);
    if (r->HasVerb("delete")) Operation(w, "delete", "delete", *r, r->kind, false, false);
    w.EndObject();
  }
  w.EndObject();
  w.Key("components");
  w.StartObject();
  w.Key("schemas");
  w.StartObject();
  w.EndObject();
  w.EndObject();
  w.EndObject();
  return Done(b);
}

}  // namespace

DiscoveryResponse ServeDiscovery(const api::Registry& reg, const std::string& path, const std::string& accept,
                                 const std::string& advertise, int port) {
  DiscoveryResponse r;
  r.code = 200;
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  if (p == "/version") {
    r.body = VersionJson();
    return r;
  }
  if (p == "/api" || p == "/apis") {
    std::string agg = WantsAggregated(accept);
    if (!agg.empty()) {
      std::string av = "apidiscovery.k8s.io/" + agg;
      r.body = Aggregated(reg, p == "/api", av);
      r.content_type = "application/json;g=apidiscovery.k8s.io;v=" + agg + ";as=APIGroupDiscoveryList";
      r.etag = Hash(r.body);
      return r;
    }
    rapidjson::StringBuffer b;
    Writer w(b);
    w.StartObject();
    if (p == "/api") {
      KV(w, "kind", "APIVersions");
      StrArray(w, "versions", {"v1"});
      ServerAddresses(w, advertise, port);
    } else {
      KV(w, "kind", "APIGroupList");
      KV(w, "apiVersion", "v1");
      w.Key("groups");
      w.StartArray();
      for (const auto& g : reg.groups()) {
        if (!g.group.empty()) GroupObject(w, g, false);
      }
      w.EndArray();
    }
    w.EndObject();
    r.body = Done(b);
    return r;
  }
  auto parts = Split(std::string_view(p).substr(1), '/');
  if (parts.size() == 2 && parts[0] == "api") {
    if (parts[1] != "v1") return DiscoveryResponse{};
    r.body = ResourceList(reg, "", "v1");
    return r;
  }
  if (parts[0] == "apis" && (parts.size() == 2 || parts.size() == 3)) {
    for (const auto& g : reg.groups()) {
      if (g.group != parts[1] || g.group.empty()) continue;
      if (parts.size() == 2) {
        rapidjson::StringBuffer b;
        Writer w(b);
        GroupObject(w, g, true);
        r.body = Done(b);
        return r;
      }
      for (const auto& v : g.versions) {
        if (v == parts[2]) {
          r.body = ResourceList(reg, g.group, v);
          return r;
        }
      }
    }
    return DiscoveryResponse{};
  }
  if (p == "/openapi/v2") {
    // kubectl asks for the gnostic protobuf form; an empty message is a valid, empty Document,
    // under which kubectl skips client-side schema validation (the server validates: it
    // advertises fieldValidation in /openapi/v3).
    r.content_type = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";
    r.body.clear();
    return r;
  }
  if (p == "/openapi/v3") {
    rapidjson::StringBuffer b;
    Writer w(b);
    w.StartObject();
    w.Key("paths");
    w.StartObject();
    for (const auto& g : reg.groups()) {
      for (const auto& v : g.versions) {
        std::string gv = GvPath(g.group, v);
        w.Key(gv.c_str());
        w.StartObject();
        KV(w, "serverRelativeURL", "/openapi/v3/" + gv + "?hash=" + Hash(OpenApiGroupVersion(reg, g.group, v)));
        w.EndObject();
      }
    }
    w.EndObject();
    w.EndObject();
    r.body = Done(b);
    return r;
  }
  if (p.rfind("/openapi/v3/", 0) == 0) {
    std::string gv = p.substr(12);
    for (const auto& g : reg.groups()) {
      for (const auto& v : g.versions) {
        if (GvPath(g.group, v) == gv) {
          r.body = OpenApiGroupVersion(reg, g.group, v);
          r.etag = Hash(r.body);
          return r;
        }
      }
    }
    return DiscoveryResponse{};
  }
  return DiscoveryResponse{};
}

}  // namespace minik::server
