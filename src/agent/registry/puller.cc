#include "agent/registry/puller.h"

#include <fcntl.h>
#include <strings.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <regex>
#include <set>
#include <thread>

#include "agent/registry/http_session.h"
#include "agent/registry/reference.h"
#include "common/json.h"
#include "common/log.h"
#include "common/strings.h"

namespace minik::agent::registry {

using internal::BlobSink;
using internal::HttpSession;
using internal::Url;

namespace {

constexpr char kMediaDockerManifest[] = "application/vnd.docker.distribution.manifest.v2+json";
constexpr char kMediaDockerList[] = "application/vnd.docker.distribution.manifest.list.v2+json";
constexpr char kMediaOciManifest[] = "application/vnd.oci.image.manifest.v1+json";
constexpr char kMediaOciIndex[] = "application/vnd.oci.image.index.v1+json";
constexpr char kMediaDockerSchema1[] = "application/vnd.docker.distribution.manifest.v1+json";
constexpr char kMediaDockerSchema1Signed[] = "application/vnd.docker.distribution.manifest.v1+prettyjws";
// containerd's resolver Accept header.
constexpr char kAcceptManifests[] =
    "application/vnd.docker.distribution.manifest.v2+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json, "
    "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, */*";
// containerd's MaxManifestSize.
constexpr int64_t kMaxManifestSize = 4 * 1048 * 1048;
constexpr size_t kMaxErrorBody = 64 * 1024;

// ---- Small formatting helpers ---------------------------------------------------------------

// Go's net/http StatusText, for "404 Not Found" in messages.
std::string StatusText(int code) {
  static const std::map<int, const char*> kText = {
      {200, "OK"},
      {201, "Created"},
      {202, "Accepted"},
      {204, "No Content"},
      {206, "Partial Content"},
      {301, "Moved Permanently"},
      {302, "Found"},
      {303, "See Other"},
      {304, "Not Modified"},
      {307, "Temporary Redirect"},
      {308, "Permanent Redirect"},
      {400, "Bad Request"},
      {401, "Unauthorized"},
      {403, "Forbidden"},
      {404, "Not Found"},
      {405, "Method Not Allowed"},
      {406, "Not Acceptable"},
      {408, "Request Timeout"},
      {409, "Conflict"},
      {410, "Gone"},
      {413, "Request Entity Too Large"},
      {415, "Unsupported Media Type"},
      {416, "Requested Range Not Satisfiable"},
      {429, "Too Many Requests"},
      {500, "Internal Server Error"},
      {501, "Not Implemented"},
      {502, "Bad Gateway"},
      {503, "Service Unavailable"},
      {504, "Gateway Timeout"},
  };
  auto it = kText.find(code);
  std::string s = std::to_string(code);
  if (it != kText.end()) s += std::string(" ") + it->second;
  return s;
}

// Go's method name in url.Error ("Get", "Head", "Post").
std::string GoOp(const std::string& method) {
  std::string s = method;
  for (size_t i = 1; i < s.size(); ++i) s[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[i])));
  return s;
}

// Go's url.QueryEscape.
std::string QueryEscape(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else if (c == ' ') {
      out += '+';
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string QueryUnescape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() + 0 && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
               std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// Go's url.Values.Encode: keys sorted, values in order.
std::string EncodeQuery(const std::vector<std::pair<std::string, std::string>>& values) {
  std::vector<std::pair<std::string, std::string>> sorted = values;
  std::stable_sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string out;
  for (const auto& [k, v] : sorted) {
    if (!out.empty()) out += '&';
    out += QueryEscape(k) + "=" + QueryEscape(v);
  }
  return out;
}

// Go's path.Join of absolute parts (cleaned, no trailing slash).
std::string PathJoin(const std::vector<std::string>& parts) {
  std::vector<std::string> segs;
  for (const auto& p : parts) {
    for (auto seg : Split(p, '/')) {
      if (seg.empty() || seg == ".") continue;
      if (seg == "..") {
        if (!segs.empty()) segs.pop_back();
        continue;
      }
      segs.emplace_back(seg);
    }
  }
  std::string out;
  for (const auto& s : segs) out += "/" + s;
  return out.empty() ? "/" : out;
}

// containerd's remotes.MakeRefKey prefix.
std::string RefKey(const std::string& media_type, const std::string& digest) {
  if (media_type == kMediaDockerManifest || media_type == kMediaOciManifest) return "manifest-" + digest;
  if (media_type == kMediaDockerList || media_type == kMediaOciIndex) return "index-" + digest;
  if (media_type.find("layer") != std::string::npos || media_type.find("rootfs.diff") != std::string::npos) {
    return "layer-" + digest;
  }
  if (media_type == "application/vnd.oci.image.config.v1+json" ||
      media_type == "application/vnd.docker.container.image.v1+json") {
    return "config-" + digest;
  }
  return "unknown-" + digest;
}

// The registry's JSON errors as containerd prints them ("manifest unknown: manifest unknown").
std::string RegistryErrors(const std::string& body) {
  auto doc = ParseJson(body);
  if (!doc.ok() || !doc->IsObject()) return "";
  const JsonValue* errs = Member(*doc, "errors");
  if (errs == nullptr || !errs->IsArray() || errs->Empty()) return "";
  std::vector<std::string> msgs;
  for (const auto& e : errs->GetArray()) {
    if (!e.IsObject()) continue;
    std::string code(GetString(e, "code").value_or("UNKNOWN"));
    for (char& c : code) c = c == '_' ? ' ' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    msgs.push_back(code + ": " + std::string(GetString(e, "message").value_or("")));
  }
  if (msgs.empty()) return "";
  if (msgs.size() == 1) return msgs[0];
  std::string out = "errors:\n";
  for (const auto& m : msgs) out += m + "\n";
  return out;
}

Status Prefixed(const Status& st, const std::string& prefix) {
  return Status(st.code(), prefix + st.message());
}

// ---- WWW-Authenticate ---------------------------------------------------------------------

struct Challenge {
  std::string scheme;  // lower-case: "bearer", "basic"
  std::map<std::string, std::string> params;
};

// containerd's auth.ParseAuthHeader, one challenge per header value.
std::vector<Challenge> ParseChallenges(const http::Response& resp) {
  std::vector<Challenge> out;
  for (const auto& [name, value] : resp.headers) {
    if (name != "www-authenticate") continue;
    std::string_view v = value;
    size_t i = 0;
    auto skip_ws = [&] {
      while (i < v.size() && (v[i] == ' ' || v[i] == '\t')) ++i;
    };
    skip_ws();
    size_t start = i;
    while (i < v.size() && v[i] != ' ' && v[i] != '\t') ++i;
    Challenge c;
    c.scheme = std::string(v.substr(start, i - start));
    for (char& ch : c.scheme) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    while (i < v.size()) {
      skip_ws();
      size_t ks = i;
      while (i < v.size() && v[i] != '=' && v[i] != ',' && v[i] != ' ') ++i;
      std::string key(v.substr(ks, i - ks));
      for (char& ch : key) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      skip_ws();
      if (i >= v.size() || v[i] != '=') {
        while (i < v.size() && v[i] != ',') ++i;
        if (i < v.size()) ++i;
        continue;
      }
      ++i;
      skip_ws();
      std::string val;
      if (i < v.size() && v[i] == '"') {
        ++i;
        while (i < v.size() && v[i] != '"') {
          if (v[i] == '\\' && i + 1 < v.size()) ++i;
          val += v[i++];
        }
        if (i < v.size()) ++i;
      } else {
        size_t vs = i;
        while (i < v.size() && v[i] != ',' && v[i] != ' ') ++i;
        val = std::string(v.substr(vs, i - vs));
      }
      if (!key.empty()) c.params[key] = val;
      skip_ws();
      if (i < v.size() && v[i] == ',') ++i;
    }
    if (!c.scheme.empty()) out.push_back(std::move(c));
  }
  return out;
}

// ---- Descriptors -----------------------------------------------------------------------------

struct Descriptor {
  std::string media_type;
  std::string digest;
  int64_t size = -1;
  bool has_platform = false;
  std::string os, architecture, variant;
};

StatusOr<Descriptor> ParseDescriptor(const JsonValue& v, const char* what) {
  if (!v.IsObject()) return Status::Invalid(std::string("invalid ") + what + " descriptor");
  Descriptor d;
  d.media_type = std::string(GetString(v, "mediaType").value_or(""));
  d.digest = std::string(GetString(v, "digest").value_or(""));
  d.size = GetInt(v, "size").value_or(-1);
  if (!IsSha256Digest(d.digest)) {
    return Status::Invalid(std::string("invalid ") + what + " digest \"" + d.digest + "\"");
  }
  if (const JsonValue* p = Member(v, "platform"); p != nullptr && p->IsObject()) {
    d.has_platform = true;
    d.os = std::string(GetString(*p, "os").value_or(""));
    d.architecture = std::string(GetString(*p, "architecture").value_or(""));
    d.variant = std::string(GetString(*p, "variant").value_or(""));
  }
  return d;
}

// Media type of a manifest: the Content-Type, or the document's mediaType, or its shape.
std::string ManifestMediaType(const std::string& content_type, const JsonValue* doc) {
  std::string ct = content_type.substr(0, content_type.find(';'));
  while (!ct.empty() && ct.back() == ' ') ct.pop_back();
  if (ct == "text/plain") ct = kMediaDockerSchema1;
  if (ct == kMediaDockerManifest || ct == kMediaDockerList || ct == kMediaOciManifest || ct == kMediaOciIndex ||
      ct == kMediaDockerSchema1 || ct == kMediaDockerSchema1Signed) {
    return ct;
  }
  if (doc != nullptr && doc->IsObject()) {
    if (auto mt = GetString(*doc, "mediaType"); mt && !mt->empty()) return std::string(*mt);
    if (Member(*doc, "manifests") != nullptr) return kMediaOciIndex;
    if (Member(*doc, "config") != nullptr) return kMediaOciManifest;
    if (GetInt(*doc, "schemaVersion").value_or(0) == 1) return kMediaDockerSchema1;
  }
  return ct;
}

bool IsIndex(const std::string& mt) { return mt == kMediaDockerList || mt == kMediaOciIndex; }
bool IsManifest(const std::string& mt) { return mt == kMediaDockerManifest || mt == kMediaOciManifest; }

std::string NormalizeVariant(const std::string& arch, const std::string& variant) {
  if (arch == "arm64" && (variant.empty() || variant == "8")) return "v8";
  if (arch == "arm" && variant.empty()) return "v7";
  if (arch == "amd64" && (variant.empty() || variant == "v1")) return "";
  return variant;
}

std::string NormalizeArch(std::string arch) {
  if (arch == "x86_64" || arch == "x86-64") return "amd64";
  if (arch == "aarch64") return "arm64";
  if (arch == "armhf" || arch == "armel") return "arm";
  if (arch == "i386" || arch == "i686") return "386";
  return arch;
}

// ---- One pull --------------------------------------------------------------------------------

// Credentials as containerd's ParseAuth returns them: (username, secret).
struct Secret {
  std::string username, secret;
};

class PullOp {
 public:
  PullOp(images::ImageStore& store, const RegistriesConfig& config, const PullerOptions& options, Reference ref,
         std::optional<Credential> cred, PullStats* stats)
      : store_(store),
        config_(config),
        options_(options),
        ref_(std::move(ref)),
        cred_(std::move(cred)),
        stats_(stats),
        session_(internal::SessionOptions{.connect_timeout_ms = options.connect_timeout_ms,
                                          .progress_timeout_ms = options.progress_timeout_ms,
                                          .user_agent = options.user_agent}) {}

  StatusOr<images::Image> Run();

 private:
  struct Host {
    Endpoint ep;
    std::string repository;  // after rewrites
    bool proxy = false;      // a mirror: requests carry ?ns=<registry>
  };
  struct AuthHandler {
    bool bearer = false;
    std::string realm, service;
    std::vector<std::string> scopes;
    Secret secret;
    std::map<std::string, std::string> tokens;  // scope list -> "Bearer ..."
  };

  std::string Target(const Host& h, const std::vector<std::string>& parts) const {
    std::vector<std::string> all = {"/", h.ep.path, h.repository};
    all.insert(all.end(), parts.begin(), parts.end());
    std::string t = PathJoin(all);
    if (h.proxy) t += "?ns=" + QueryEscape(ref_.domain);
    return t;
  }
  Url UrlFor(const Host& h, const std::string& target) const { return Url{h.ep.scheme, h.ep.host, target}; }
  const TlsConfig* TlsFor(const Host& h) const { return h.ep.config.tls ? &*h.ep.config.tls : nullptr; }

  Secret CredentialsFor(const Host& h) const;
  Status Authorize(const Host& h, const std::string& url_host, http::Headers* headers);
  StatusOr<std::string> FetchToken(const Host& h, AuthHandler& ah, const std::vector<std::string>& scopes);
  Status AddResponse(const Host& h, const std::string& url_host, const http::Response& resp, int n);
  StatusOr<http::Response> DoWithRetries(Host& h, std::string method, const std::string& target,
                                         const http::Headers& headers, BlobSink* sink, size_t max_body,
                                         bool last_host, Url* final_url);
  // GET of a manifest or blob by digest on one host: the response, or containerd's error for it
  // (404: "content at URL not found", other non-2xx: "unexpected status code URL: ...").
  StatusOr<http::Response> GetContent(Host& h, const Descriptor& desc, const std::string& kind, BlobSink* sink,
                                      size_t max_body);

  Status Resolve(Descriptor* desc);
  StatusOr<std::string> FetchManifest(const Descriptor& desc);
  Status FetchBlob(const Descriptor& desc);
  std::vector<size_t> HostOrder() const;

  images::ImageStore& store_;
  const RegistriesConfig& config_;
  const PullerOptions& options_;
  const Reference ref_;
  const std::optional<Credential> cred_;
  PullStats* stats_;
  HttpSession session_;
  std::vector<Host> hosts_;
  size_t resolved_host_ = 0;
  std::mutex mu_;  // guards handlers_, hosts_[*].ep scheme switches, stats_
  std::map<std::string, AuthHandler> handlers_;
};

Secret PullOp::CredentialsFor(const Host& h) const {
  Secret s;
  if (cred_) {
    // Pull-secret credentials go to every endpoint, as the kubelet hands them to containerd.
    if (!cred_->username.empty()) return {cred_->username, cred_->password};
    if (!cred_->identity_token.empty()) return {"", cred_->identity_token};
    return s;
  }
  if (!h.ep.config.auth) return s;
  const AuthConfig& a = *h.ep.config.auth;
  if (!a.username.empty()) return {a.username, a.password};
  if (!a.identity_token.empty()) return {"", a.identity_token};
  if (!a.auth.empty()) {
    std::string decoded;
    if (Base64Decode(a.auth, &decoded)) {
      size_t colon = decoded.find(':');
      if (colon != std::string::npos) {
        std::string pass = decoded.substr(colon + 1);
        while (!pass.empty() && pass.back() == '\0') pass.pop_back();
        return {decoded.substr(0, colon), pass};
      }
    }
  }
  return s;
}

StatusOr<std::string> PullOp::FetchToken(const Host& h, AuthHandler& ah, const std::vector<std::string>& scopes) {
  auto realm = Url::Parse(ah.realm);
  if (!realm) return Status::Unauthorized("invalid token auth challenge realm: " + ah.realm);
  auto parse_token = [](const http::Response& resp, bool oauth) -> StatusOr<std::string> {
    auto doc = ParseJson(resp.body);
    if (!doc.ok() || !doc->IsObject()) {
      return Status::Unauthorized("unable to decode token response: " + doc.status().message());
    }
    std::string token(GetString(*doc, "access_token").value_or(""));
    if (token.empty() && !oauth) token = std::string(GetString(*doc, "token").value_or(""));
    if (token.empty()) return Status::Unauthorized("authorization server did not include a token in the response");
    return token;
  };
  auto get = [&]() -> StatusOr<std::string> {
    // GET realm?scope=...&service=... (with Basic credentials when known).
    std::vector<std::pair<std::string, std::string>> q;
    Url u = *realm;
    if (size_t qm = u.target.find('?'); qm != std::string::npos) {
      for (auto kv : Split(std::string_view(u.target).substr(qm + 1), '&')) {
        if (kv.empty()) continue;
        size_t eq = kv.find('=');
        q.emplace_back(QueryUnescape(kv.substr(0, eq)), eq == std::string_view::npos ? "" : QueryUnescape(kv.substr(eq + 1)));
      }
      u.target.resize(qm);
    }
    if (!ah.service.empty()) q.emplace_back("service", ah.service);
    for (const auto& s : scopes) q.emplace_back("scope", s);
    std::string query = EncodeQuery(q);
    if (!query.empty()) u.target += "?" + query;
    http::Headers hdrs;
    if (!ah.secret.secret.empty()) {
      hdrs.emplace_back("Authorization", "Basic " + Base64Encode(ah.secret.username + ":" + ah.secret.secret));
    }
    auto resp = session_.Do(u, TlsFor(h), "GET", hdrs, "", nullptr, kMaxErrorBody);
    if (!resp.ok()) return Status::Unauthorized("Get \"" + u.String() + "\": " + resp.status().message());
    if (resp->status < 200 || resp->status >= 400) {
      return Status::Unauthorized("unexpected status from GET request to " + u.String() + ": " + StatusText(resp->status));
    }
    return parse_token(*resp, false);
  };
  if (ah.secret.secret.empty()) {
    auto t = get();
    if (!t.ok()) return Prefixed(t.status(), "failed to fetch anonymous token: ");
    return t;
  }
  // A secret is known: OAuth POST first, GET with Basic for registries that do not support it.
  std::vector<std::pair<std::string, std::string>> form;
  if (!scopes.empty()) form.emplace_back("scope", Join(scopes, " "));
  form.emplace_back("service", ah.service);
  form.emplace_back("client_id", "containerd-client");
  if (ah.secret.username.empty()) {
    form.emplace_back("grant_type", "refresh_token");
    form.emplace_back("refresh_token", ah.secret.secret);
  } else {
    form.emplace_back("grant_type", "password");
    form.emplace_back("username", ah.secret.username);
    form.emplace_back("password", ah.secret.secret);
  }
  http::Headers hdrs = {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}};
  auto resp = session_.Do(*realm, TlsFor(h), "POST", hdrs, EncodeQuery(form), nullptr, kMaxErrorBody);
  if (!resp.ok()) {
    return Status::Unauthorized("failed to fetch oauth token: Post \"" + realm->String() + "\": " + resp.status().message());
  }
  if (resp->status < 200 || resp->status >= 400) {
    int s = resp->status;
    if ((s == 405 && !ah.secret.username.empty()) || s == 404 || s == 401 || s == 400) {
      auto t = get();
      if (!t.ok()) return Prefixed(t.status(), "failed to fetch oauth token: ");
      return t;
    }
    return Status::Unauthorized("failed to fetch oauth token: unexpected status from POST request to " +
                                realm->String() + ": " + StatusText(s));
  }
  auto t = parse_token(*resp, true);
  if (!t.ok()) return Prefixed(t.status(), "failed to fetch oauth token: ");
  return t;
}

Status PullOp::Authorize(const Host& h, const std::string& url_host, http::Headers* headers) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = handlers_.find(url_host);
  if (it == handlers_.end()) return Status::OK();
  AuthHandler& ah = it->second;
  std::string value;
  if (!ah.bearer) {
    if (ah.secret.username.empty() || ah.secret.secret.empty()) {
      return Status::Unauthorized("failed to handle basic auth because missing username or secret");
    }
    value = "Basic " + Base64Encode(ah.secret.username + ":" + ah.secret.secret);
  } else {
    std::set<std::string> scope_set(ah.scopes.begin(), ah.scopes.end());
    scope_set.insert("repository:" + h.repository + ":pull");
    std::vector<std::string> scopes(scope_set.begin(), scope_set.end());
    std::string key = Join(scopes, " ");
    auto tok = ah.tokens.find(key);
    if (tok == ah.tokens.end()) {
      auto t = FetchToken(h, ah, scopes);
      if (!t.ok()) return t.status();
      tok = ah.tokens.emplace(key, "Bearer " + *t).first;
    }
    value = tok->second;
  }
  std::erase_if(*headers, [](const auto& kv) { return strcasecmp(kv.first.c_str(), "authorization") == 0; });
  headers->emplace_back("Authorization", value);
  return Status::OK();
}

// containerd's dockerAuthorizer.AddResponses: OK means "retry the request". Forbidden stands for
// containerd's ErrInvalidAuthorization ("authorization failed"), which the resolver turns into
// "pull access denied, ...".
Status PullOp::AddResponse(const Host& h, const std::string& url_host, const http::Response& resp, int n) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const Challenge& c : ParseChallenges(resp)) {
    if (c.scheme == "bearer") {
      auto err = c.params.find("error");
      if (err != c.params.end() && !err->second.empty()) {
        if (n > 1) {
          handlers_.erase(url_host);
          return Status::Forbidden("server message: " + err->second + ": authorization failed");
        }
        handlers_.erase(url_host);
      }
      if (handlers_.count(url_host)) return Status::OK();
      auto realm = c.params.find("realm");
      if (realm == c.params.end()) return Status::Internal("no realm specified for token auth challenge");
      AuthHandler ah;
      ah.bearer = true;
      ah.realm = realm->second;
      if (auto s = c.params.find("service"); s != c.params.end()) ah.service = s->second;
      if (auto s = c.params.find("scope"); s != c.params.end()) {
        for (auto part : Split(s->second, ' ')) {
          if (!part.empty()) ah.scopes.emplace_back(part);
        }
      }
      ah.secret = CredentialsFor(h);
      handlers_[url_host] = std::move(ah);
      return Status::OK();
    }
    if (c.scheme == "basic") {
      Secret s = CredentialsFor(h);
      if (s.username.empty() || s.secret.empty()) {
        return Status::Forbidden("authorization failed: no basic auth credentials");
      }
      AuthHandler ah;
      ah.secret = s;
      handlers_[url_host] = std::move(ah);
      return Status::OK();
    }
  }
  return Status::MethodNotAllowed("failed to find supported auth scheme: not implemented");
}

StatusOr<http::Response> PullOp::DoWithRetries(Host& h, std::string method, const std::string& target,
                                               const http::Headers& headers, BlobSink* sink, size_t max_body,
                                               bool last_host, Url* final_url) {
  int responses = 0;
  int last_status = 0;
  while (true) {
    Url url = UrlFor(h, target);
    http::Headers hdrs = headers;
    if (Status st = Authorize(h, url.host, &hdrs); !st.ok()) return Prefixed(st, "failed to authorize: ");
    // One request, following redirects (Go's http.Client: at most 10; another host gets only
    // the credentials it has a handler for).
    Url cur = url;
    std::string cur_method = method;
    StatusOr<http::Response> resp = Status::Internal("no request made");
    for (int redirects = 0;; ++redirects) {
      if (sink != nullptr) sink->Reset();
      resp = session_.Do(cur, TlsFor(h), cur_method, hdrs, "", sink, max_body);
      if (!resp.ok()) {
        if (resp.status().code() == Code::kTooLarge || resp.status().code() == Code::kTimeout) {
          return Prefixed(resp.status(), "failed to do request: " + GoOp(cur_method) + " \"" + cur.String() + "\": ");
        }
        bool same_host = cur.host == h.ep.host && cur.scheme == h.ep.scheme;
        if (h.ep.http_fallback && same_host && cur.scheme == "https" &&
            resp.status().message().find("connect:") == std::string::npos) {
          // containerd's HTTP fallback for loopback registries: the server does not speak TLS.
          std::lock_guard<std::mutex> lock(mu_);
          h.ep.scheme = "http";
          h.ep.http_fallback = false;
          cur.scheme = "http";
          --redirects;
          continue;
        }
        std::string why = resp.status().message();
        if (why.rfind("connect: ", 0) == 0) why = "dial tcp " + cur.host + ": " + why;
        return Status(Code::kUnavailable, "failed to do request: " + GoOp(cur_method) + " \"" + cur.String() + "\": " + why);
      }
      int s = resp->status;
      const std::string* location = resp->Header("location");
      if ((s == 301 || s == 302 || s == 303 || s == 307 || s == 308) && location != nullptr) {
        if (redirects + 1 >= 10) {
          return Status(Code::kUnavailable, "failed to do request: " + GoOp(cur_method) + " \"" + cur.String() +
                                                "\": stopped after 10 redirects");
        }
        auto next = cur.Resolve(*location);
        if (!next) {
          return Status(Code::kUnavailable, "failed to do request: " + GoOp(cur_method) + " \"" + cur.String() +
                                                "\": invalid redirect location " + *location);
        }
        if (next->host != cur.host) {
          std::erase_if(hdrs, [](const auto& kv) { return strcasecmp(kv.first.c_str(), "authorization") == 0; });
          if (Status st = Authorize(h, next->host, &hdrs); !st.ok()) {
            return Status(st.code(), "failed to do request: " + GoOp(cur_method) + " \"" + next->String() +
                                         "\": failed to authorize redirect: " + st.message());
          }
        }
        if (s == 303 && cur_method != "HEAD") cur_method = "GET";
        cur = *next;
        continue;
      }
      break;
    }
    ++responses;
    if (final_url != nullptr) *final_url = url;
    int s = resp->status;
    if (responses > 5) return resp;
    if (s == 401) {
      Status st = AddResponse(h, cur.host, *resp, responses);
      if (st.ok()) {
        last_status = s;
        continue;
      }
      if (st.code() == Code::kMethodNotAllowed) return resp;  // no supported scheme: a plain 401
      return st;
    }
    if (s == 405 && method == "HEAD" && target.find("/manifests/") != std::string::npos) {
      method = "GET";
      last_status = s;
      continue;
    }
    if (s == 408 || s == 429) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100 * responses));
      last_status = s;
      continue;
    }
    if ((s == 500 || s == 503 || s == 504) && last_host && last_status != s) {
      last_status = s;
      continue;
    }
    return resp;
  }
}

std::vector<size_t> PullOp::HostOrder() const {
  // The endpoint that resolved the reference first, then the others in order.
  std::vector<size_t> order = {resolved_host_};
  for (size_t i = 0; i < hosts_.size(); ++i) {
    if (i != resolved_host_) order.push_back(i);
  }
  return order;
}

Status PullOp::Resolve(Descriptor* desc) {
  const std::string ref = ref_.String();
  std::vector<std::vector<std::string>> paths;
  if (!ref_.digest.empty()) {
    paths = {{"manifests", ref_.digest}, {"blobs", ref_.digest}};
  } else {
    paths = {{"manifests", ref_.tag}};
  }
  Status first_err;
  int priority = 0;
  for (const auto& p : paths) {
    for (size_t i = 0; i < hosts_.size(); ++i) {
      Host& h = hosts_[i];
      std::string target = Target(h, p);
      http::Headers hdrs = {{"Accept", kAcceptManifests}};
      auto resp = DoWithRetries(h, "HEAD", target, hdrs, nullptr, kMaxErrorBody, i + 1 == hosts_.size(), nullptr);
      if (!resp.ok()) {
        Status err = resp.status();
        if (err.code() == Code::kForbidden) {  // containerd's ErrInvalidAuthorization
          err = Prefixed(err, "pull access denied, repository does not exist or may require authorization: ");
        }
        if (priority < 1) {
          first_err = err;
          priority = 1;
        }
        MINIK_LOG(Info) << "resolving " << ref << " at " << h.ep.Url() << ": " << err.message();
        continue;
      }
      int s = resp->status;
      std::string url = UrlFor(h, target).String();
      if (s > 299) {
        if (s == 404) {
          if (priority < 2) {
            first_err = Status::NotFound(ref + ": not found");
            priority = 2;
          }
          continue;
        }
        if (s > 399) {
          if (priority < 3) {
            std::string msg = "unexpected status from HEAD request to " + url + ": " + StatusText(s);
            if (std::string reg = RegistryErrors(resp->body); !reg.empty()) msg += "\n" + reg;
            first_err = Status(s == 401 || s == 403 ? Code::kUnauthorized : Code::kUnavailable, msg);
            priority = 3;
          }
          continue;
        }
        return Status(Code::kUnavailable, "unexpected status from HEAD request to " + url + ": " + StatusText(s));
      }
      Descriptor d;
      d.digest = ref_.digest;
      const std::string* ct = resp->Header("content-type");
      d.media_type = ManifestMediaType(ct ? *ct : "", nullptr);
      const std::string* cl = resp->Header("content-length");
      int64_t size = -1;
      if (cl != nullptr && !ParseInt64(*cl, &size)) size = -1;
      if (d.digest.empty()) {
        const std::string* dh = resp->Header("docker-content-digest");
        if (dh != nullptr && size != -1) {
          if (!IsSha256Digest(*dh)) return Status::Invalid("\"" + *dh + "\" in header not a valid digest");
          d.digest = *dh;
        }
      }
      if (d.digest.empty() || size == -1 || d.media_type.empty()) {
        // No digest or size in the HEAD response: GET the manifest and hash it.
        auto get = DoWithRetries(h, "GET", target, hdrs, nullptr, kMaxManifestSize + 1, true, nullptr);
        if (!get.ok()) return get.status();
        if (get->status > 299) {
          return Status(Code::kUnavailable, "unexpected status from GET request to " + url + ": " + StatusText(get->status));
        }
        auto doc = ParseJson(get->body);
        const std::string* gct = get->Header("content-type");
        d.media_type = ManifestMediaType(gct ? *gct : "", doc.ok() ? &*doc : nullptr);
        if (d.media_type == kMediaDockerSchema1 || d.media_type == kMediaDockerSchema1Signed) {
          return Status::UnsupportedMediaType(
              std::string("media type \"") + d.media_type +
              "\" is no longer supported since containerd v2.0, please rebuild the image as \"" + kMediaDockerManifest +
              "\" or \"" + kMediaOciManifest + "\": not implemented");
        }
        if (d.digest.empty()) d.digest = internal::Sha256Digest(get->body);
        size = static_cast<int64_t>(get->body.size());
      }
      if (size > kMaxManifestSize) {
        if (priority < 4) {
          first_err = Status::NotFound("rejecting " + std::to_string(size) + " byte manifest for " + ref + ": not found");
          priority = 4;
        }
        continue;
      }
      d.size = size;
      *desc = d;
      resolved_host_ = i;
      if (stats_ != nullptr) stats_->endpoint = h.ep.Url();
      return Status::OK();
    }
  }
  if (priority == 0) return Status::NotFound(ref + ": not found");
  return first_err;
}

StatusOr<http::Response> PullOp::GetContent(Host& h, const Descriptor& desc, const std::string& kind,
                                            BlobSink* sink, size_t max_body) {
  std::string target = Target(h, {kind, desc.digest});
  http::Headers hdrs = {{"Accept", desc.media_type.empty() ? "*/*" : desc.media_type + ", */*"}};
  auto resp = DoWithRetries(h, "GET", target, hdrs, sink, max_body, false, nullptr);
  if (!resp.ok()) return resp.status();
  if (resp->status == 404) return Status::NotFound("content at " + UrlFor(h, target).String() + " not found: not found");
  if (resp->status > 299) {
    std::string msg = "unexpected status code " + UrlFor(h, target).String() + ": " + StatusText(resp->status);
    if (std::string reg = RegistryErrors(resp->body); !reg.empty()) msg += " - Server message: " + reg;
    return Status(Code::kUnavailable, msg);
  }
  return resp;
}

StatusOr<std::string> PullOp::FetchManifest(const Descriptor& desc) {
  Status first_err;
  for (size_t i : HostOrder()) {
    Host& h = hosts_[i];
    auto resp = GetContent(h, desc, "manifests", nullptr, kMaxManifestSize);
    Status err;
    if (!resp.ok()) {
      err = resp.status();
    } else {
      std::string body = std::move(resp->body);
      if (stats_ != nullptr) {
        std::lock_guard<std::mutex> lock(mu_);
        stats_->bytes_downloaded += static_cast<int64_t>(body.size());
      }
      std::string refkey = RefKey(desc.media_type, desc.digest);
      if (desc.size >= 0 && static_cast<int64_t>(body.size()) < desc.size) {
        return Status::Unavailable("failed to read expected number of bytes: unexpected EOF");
      }
      if (desc.size >= 0 && static_cast<int64_t>(body.size()) != desc.size) {
        return Status::Conflict("failed commit on ref \"" + refkey + "\": unexpected commit size " +
                                std::to_string(body.size()) + ", expected " + std::to_string(desc.size) +
                                ": failed precondition");
      }
      std::string actual = internal::Sha256Digest(body);
      if (actual != desc.digest) {
        return Status::Conflict("failed commit on ref \"" + refkey + "\": unexpected commit digest " + actual +
                                ", expected " + desc.digest + ": failed precondition");
      }
      return body;
    }
    if (first_err.ok()) first_err = err;
  }
  return Prefixed(first_err, "failed to copy: httpReadSeeker: failed open: ");
}

Status PullOp::FetchBlob(const Descriptor& desc) {
  if (store_.HasBlob(desc.digest)) {
    std::lock_guard<std::mutex> lock(mu_);
    if (stats_ != nullptr) ++stats_->blobs_skipped;
    return Status::OK();
  }
  const std::string refkey = RefKey(desc.media_type, desc.digest);
  std::string tmp = store_.TempBlobPath();
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::Internal("failed to open writer: open " + tmp + ": " + std::strerror(errno));
  BlobSink sink(fd);
  auto fail = [&](Status st) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return st;
  };
  Status first_err;
  bool fetched = false;
  for (size_t i : HostOrder()) {
    Host& h = hosts_[i];
    auto resp = GetContent(h, desc, "blobs", &sink, kMaxErrorBody);
    Status err;
    if (!resp.ok()) {
      err = resp.status();
    } else {
      fetched = true;
      break;
    }
    if (first_err.ok()) first_err = err;
  }
  if (!fetched) {
    if (first_err.IsNotFound()) {
      first_err = Status::NotFound("could not fetch content descriptor " + desc.digest + " (" + desc.media_type +
                                   ") from remote: not found");
    }
    return fail(Prefixed(first_err, "failed to copy: httpReadSeeker: failed open: "));
  }
  if (!sink.error().ok()) return fail(Prefixed(sink.error(), "failed to copy: "));
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stats_ != nullptr) {
      stats_->bytes_downloaded += sink.size();
      ++stats_->blobs_downloaded;
    }
  }
  if (desc.size >= 0 && sink.size() < desc.size) {
    return fail(Status::Unavailable("failed to read expected number of bytes: unexpected EOF"));
  }
  if (desc.size >= 0 && sink.size() != desc.size) {
    return fail(Status::Conflict("failed commit on ref \"" + refkey + "\": unexpected commit size " +
                                 std::to_string(sink.size()) + ", expected " + std::to_string(desc.size) +
                                 ": failed precondition"));
  }
  std::string actual = sink.Digest();
  if (actual != desc.digest) {
    return fail(Status::Conflict("failed commit on ref \"" + refkey + "\": unexpected commit digest " + actual +
                                 ", expected " + desc.digest + ": failed precondition"));
  }
  if (::close(fd) != 0) {
    ::unlink(tmp.c_str());
    return Status::Internal("failed commit on ref \"" + refkey + "\": close: " + std::strerror(errno));
  }
  Status st = store_.CommitBlob(tmp, desc.digest);
  if (!st.ok()) {
    ::unlink(tmp.c_str());
    return Prefixed(st, "failed commit on ref \"" + refkey + "\": ");
  }
  return Status::OK();
}

StatusOr<images::Image> PullOp::Run() {
  const std::string ref = ref_.String();
  for (Endpoint& ep : config_.Endpoints(ref_.domain)) {
    Host h;
    h.ep = std::move(ep);
    h.repository = ref_.repository;
    for (const auto& [pattern, replacement] : h.ep.rewrites) {
      try {
        std::regex re(pattern);
        if (!std::regex_search(h.repository, re)) continue;
        std::string rep = std::regex_replace(replacement, std::regex(R"(\$\{(\d+)\})"), "$$$1");
        h.repository = std::regex_replace(h.repository, re, rep);
        break;
      } catch (const std::regex_error& e) {
        MINIK_LOG(Warning) << "invalid rewrite pattern " << pattern << " for " << ref_.domain << ": " << e.what();
      }
    }
    h.proxy = h.ep.host != ref_.domain && !(ref_.domain == "docker.io" && h.ep.host == "registry-1.docker.io");
    hosts_.push_back(std::move(h));
  }
  if (hosts_.empty()) return Status::NotFound("failed to resolve reference \"" + ref + "\": no resolve hosts: not found");

  Descriptor top;
  if (Status st = Resolve(&top); !st.ok()) return Prefixed(st, "failed to resolve reference \"" + ref + "\": ");

  // Already have it (imagePullPolicy Always on an unchanged tag): no more requests.
  if (auto existing = store_.Resolve(ref); existing.ok()) {
    const std::string repo_digest = ref_.Name() + "@" + top.digest;
    if (existing->manifest_digest == top.digest ||
        std::find(existing->repo_digests.begin(), existing->repo_digests.end(), repo_digest) !=
            existing->repo_digests.end()) {
      return existing;
    }
  }

  auto body = FetchManifest(top);
  if (!body.ok()) return body.status();
  std::string manifest_json = std::move(*body);
  for (int depth = 0;; ++depth) {
    auto doc = ParseJson(manifest_json);
    if (!doc.ok()) return Status::Invalid("failed to unmarshal manifest: " + doc.status().message());
    std::string mt = ManifestMediaType(top.media_type, &*doc);
    if (mt == kMediaDockerSchema1 || mt == kMediaDockerSchema1Signed) {
      return Status::UnsupportedMediaType(
          std::string("media type \"") + mt + "\" is no longer supported since containerd v2.0, please rebuild the image as \"" +
          kMediaDockerManifest + "\" or \"" + kMediaOciManifest + "\": not implemented");
    }
    if (IsManifest(mt)) break;
    if (!IsIndex(mt) || depth >= 2) return Status::UnsupportedMediaType("unsupported manifest media type \"" + mt + "\"");
    const JsonValue* manifests = Member(*doc, "manifests");
    if (manifests == nullptr || !manifests->IsArray()) return Status::Invalid("failed to unmarshal index: no manifests");
    std::string arch = options_.architecture.empty() ? HostArchitecture() : NormalizeArch(options_.architecture);
    std::string variant = NormalizeVariant(arch, options_.variant.empty() ? HostVariant() : options_.variant);
    std::optional<Descriptor> chosen, fallback;
    for (const auto& m : manifests->GetArray()) {
      auto d = ParseDescriptor(m, "manifest");
      if (!d.ok()) return d.status();
      if (!d->has_platform) {
        if (!fallback) fallback = *d;
        continue;
      }
      if (d->os == options_.os && NormalizeArch(d->architecture) == arch &&
          NormalizeVariant(arch, d->variant) == variant) {
        chosen = *d;
        break;
      }
    }
    if (!chosen) chosen = fallback;
    if (!chosen) return Status::NotFound("no match for platform in manifest: not found");
    top = *chosen;
    auto child = FetchManifest(top);
    if (!child.ok()) return child.status();
    manifest_json = std::move(*child);
  }

  // The image manifest: its config and layers.
  auto doc = ParseJson(manifest_json);
  if (!doc.ok()) return Status::Invalid("failed to unmarshal manifest: " + doc.status().message());
  std::vector<Descriptor> blobs;
  const JsonValue* config = Member(*doc, "config");
  if (config == nullptr) return Status::Invalid("failed to unmarshal manifest: no config");
  auto cd = ParseDescriptor(*config, "config");
  if (!cd.ok()) return cd.status();
  blobs.push_back(*cd);
  if (const JsonValue* layers = Member(*doc, "layers"); layers != nullptr && layers->IsArray()) {
    for (const auto& l : layers->GetArray()) {
      auto ld = ParseDescriptor(l, "layer");
      if (!ld.ok()) return ld.status();
      bool dup = false;
      for (const auto& b : blobs) dup = dup || b.digest == ld->digest;
      if (!dup) blobs.push_back(*ld);
    }
  }

  // Download what is missing, a few at a time.
  std::atomic<size_t> next{0};
  std::mutex err_mu;
  Status first_err;
  std::atomic<bool> failed{false};
  auto worker = [&] {
    while (!failed.load()) {
      size_t i = next.fetch_add(1);
      if (i >= blobs.size()) return;
      Status st = FetchBlob(blobs[i]);
      if (!st.ok()) {
        std::lock_guard<std::mutex> lock(err_mu);
        if (first_err.ok()) first_err = st;
        failed = true;
      }
    }
  };
  size_t workers = std::clamp<size_t>(static_cast<size_t>(std::max(1, options_.max_concurrent_downloads)), 1, blobs.size());
  std::vector<std::thread> threads;
  for (size_t i = 1; i < workers; ++i) threads.emplace_back(worker);
  worker();
  for (auto& t : threads) t.join();
  if (!first_err.ok()) return first_err;

  return store_.CommitImage(ref, manifest_json);
}

}  // namespace

std::string HostArchitecture() {
  struct utsname u;
  if (uname(&u) != 0) return "amd64";
  std::string m = u.machine;
  if (m.rfind("armv", 0) == 0) return "arm";
  return NormalizeArch(m);
}

std::string HostVariant() {
  struct utsname u;
  if (uname(&u) != 0) return "";
  std::string m = u.machine;
  if (m == "aarch64" || m == "arm64") return "v8";
  if (m.rfind("armv", 0) == 0 && m.size() > 5) return "v" + m.substr(4, 1);
  return "";
}

Puller::Puller(images::ImageStore& store, RegistriesConfig config, PullerOptions options)
    : store_(store), config_(std::move(config)), options_(std::move(options)) {}

StatusOr<images::Image> Puller::Pull(const std::string& image, const Credentials& from_pull_secrets, PullStats* stats) {
  auto ref = ParseReference(image);
  if (!ref.ok()) return Status::Invalid("failed to parse image reference \"" + image + "\": " + ref.status().message());
  const std::string prefix = "failed to pull and unpack image \"" + ref->String() + "\": ";
  // The kubelet tries each matching pull-secret credential in turn (then none when none match).
  std::vector<std::optional<Credential>> attempts;
  for (auto& c : from_pull_secrets.Lookup(ref->Name())) attempts.emplace_back(std::move(c));
  if (attempts.empty()) attempts.emplace_back(std::nullopt);
  Status last;
  for (auto& cred : attempts) {
    PullOp op(store_, config_, options_, *ref, cred, stats);
    auto result = op.Run();
    if (result.ok()) return result;
    last = Prefixed(result.status(), prefix);
    MINIK_LOG(Info) << "pull " << image << ": " << last.message();
  }
  return last;
}

std::string RpcCode(const Status& st) {
  switch (st.code()) {
    case Code::kOk:
      return "OK";
    case Code::kNotFound:
      return "NotFound";
    case Code::kConflict:
      return "FailedPrecondition";
    case Code::kInvalid:
    case Code::kBadRequest:
      return "InvalidArgument";
    case Code::kUnsupportedMediaType:
      return "Unimplemented";
    case Code::kTimeout:
      return "Canceled";
    case Code::kAlreadyExists:
      return "AlreadyExists";
    default:
      return "Unknown";
  }
}

std::string RpcErrorMessage(const Status& st) {
  return "rpc error: code = " + RpcCode(st) + " desc = " + st.message();
}

}  // namespace minik::agent::registry
