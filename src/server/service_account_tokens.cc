#include "server/service_account_tokens.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <chrono>

#include "api/errors.h"
#include "common/strings.h"
#include "server/api_server.h"

namespace minik::server {

namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

constexpr int64_t kDefaultExpirationSeconds = 3600;
constexpr int64_t kMinExpirationSeconds = 600;                      // 10 minutes
constexpr int64_t kMaxExpirationSeconds = int64_t{1} << 32;         // 2^32 seconds
constexpr int64_t kWarnOnlyExpirationSeconds = 3607;                // the kubelet's projected tokens
constexpr int64_t kExtendedExpirationSeconds = 365LL * 24 * 60 * 60;  // a year
constexpr int64_t kLeewaySeconds = 60;                              // go-jose's DefaultLeeway

int64_t Unix(TimePoint t) { return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count(); }

std::string Meta(const JsonValue& obj, std::string_view field) {
  const JsonValue* m = Member(obj, "metadata");
  return m ? std::string(GetString(*m, field).value_or("")) : "";
}

void Key(Writer& w, std::string_view k) { w.Key(k.data(), static_cast<rapidjson::SizeType>(k.size())); }
void Str(Writer& w, std::string_view s) { w.String(s.data(), static_cast<rapidjson::SizeType>(s.size())); }

void WriteRef(Writer& w, std::string_view key, const std::string& name, const std::string& uid) {
  Key(w, key);
  w.StartObject();
  Key(w, "name");
  Str(w, name);
  Key(w, "uid");
  Str(w, uid);
  w.EndObject();
}

// %q of a []string: ["a" "b"].
std::string GoQuotedStrings(const std::vector<std::string>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? " \"" : "\"") + v[i] + "\"";
  return s + "]";
}

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

}  // namespace

ServiceAccountTokens::ServiceAccountTokens(const ObjectStore& store, const api::Registry& registry,
                                           const Clock& clock, std::unique_ptr<pki::JwtKey> key,
                                           ServiceAccountTokenOptions options)
    : store_(store), registry_(registry), clock_(clock), key_(std::move(key)), options_(std::move(options)) {
  if (options_.api_audiences.empty()) options_.api_audiences = {options_.issuer};
}

ServiceAccountTokens::~ServiceAccountTokens() = default;

ObjectPtr ServiceAccountTokens::Find(const char* plural, const std::string& ns, const std::string& name) const {
  const api::ResourceInfo* info = registry_.Find("", "v1", plural);
  if (!info || name.empty()) return nullptr;
  return store_.Get(StorageKey(*info, ns, name));
}

StatusOr<JsonDoc> ServiceAccountTokens::Issue(const std::string& ns, const std::string& name, const JsonValue& request,
                                              std::vector<std::string>* warnings) {
  const std::string kGroup = "authentication.k8s.io";
  if (!request.IsObject()) return Status::BadRequest("the body of the request was not a TokenRequest");
  std::string req_name = Meta(request, "name"), req_ns = Meta(request, "namespace");
  if (!req_name.empty() && req_name != name) {
    return api::InvalidError(kGroup, "TokenRequest", name,
                             {api::FieldInvalid("metadata.name", api::GoQuote(req_name),
                                                "must match the service account name if specified")});
  }
  if (!req_ns.empty() && req_ns != ns) {
    return api::InvalidError(kGroup, "TokenRequest", name,
                             {api::FieldInvalid("metadata.namespace", api::GoQuote(req_ns),
                                                "must match the service account namespace if specified")});
  }
  ObjectPtr sa = Find("serviceaccounts", ns, name);
  if (!sa) return api::NotFoundError("", "serviceaccounts", name);

  const JsonValue* spec = Member(request, "spec");
  std::vector<std::string> audiences;
  if (const JsonValue* a = spec ? Member(*spec, "audiences") : nullptr; a && a->IsArray()) {
    for (const auto& v : a->GetArray()) {
      if (v.IsString()) audiences.emplace_back(v.GetString(), v.GetStringLength());
    }
  }
  if (audiences.empty()) audiences = options_.api_audiences;
  int64_t expiration = kDefaultExpirationSeconds;
  if (const JsonValue* e = spec ? Member(*spec, "expirationSeconds") : nullptr; e && !e->IsNull()) {
    if (!e->IsInt64()) return Status::BadRequest("spec.expirationSeconds: expected an integer");
    expiration = e->GetInt64();
  }
  TimePoint now = clock_.Now();
  std::vector<StatusCause> errs;
  if (expiration < kMinExpirationSeconds) {
    errs.push_back(api::FieldInvalid("spec.expirationSeconds", std::to_string(expiration),
                                     "may not specify a duration less than 10 minutes"));
  }
  if (expiration > kMaxExpirationSeconds) {
    errs.push_back(api::FieldInvalid("spec.expirationSeconds", std::to_string(expiration),
                                     "may not specify a duration larger than 2^32 seconds"));
  }
  if (!errs.empty()) return api::InvalidError(kGroup, "TokenRequest", "", std::move(errs));

  // The bound object.
  ObjectPtr pod, secret, node;
  std::string ref_kind, ref_api_version, ref_name, ref_uid;
  const JsonValue* ref = spec ? Member(*spec, "boundObjectRef") : nullptr;
  if (ref && ref->IsObject()) {
    ref_kind = std::string(GetString(*ref, "kind").value_or(""));
    ref_api_version = std::string(GetString(*ref, "apiVersion").value_or(""));
    ref_name = std::string(GetString(*ref, "name").value_or(""));
    ref_uid = std::string(GetString(*ref, "uid").value_or(""));
    std::string group, version = ref_api_version;
    if (size_t slash = ref_api_version.find('/'); slash != std::string::npos) {
      group = ref_api_version.substr(0, slash);
      version = ref_api_version.substr(slash + 1);
    }
    std::string uid;
    if (group.empty() && ref_kind == "Pod") {
      pod = Find("pods", ns, ref_name);
      if (!pod) return api::NotFoundError("", "pods", ref_name);
      std::string sa_name(GetString(*Member(*pod->object, "spec"), "serviceAccountName").value_or(""));
      if (sa_name != name) {
        return Status::BadRequest("cannot bind token for serviceaccount \"" + name +
                                  "\" to pod running with different serviceaccount name.");
      }
      uid = Meta(*pod->object, "uid");
      if (const JsonValue* nn = Path(*pod->object, {"spec", "nodeName"}); nn && nn->IsString()) {
        node = Find("nodes", "", nn->GetString());
      }
    } else if (group.empty() && ref_kind == "Node") {
      node = Find("nodes", "", ref_name);
      if (!node) return api::NotFoundError("", "nodes", ref_name);
      uid = Meta(*node->object, "uid");
    } else if (group.empty() && ref_kind == "Secret") {
      secret = Find("secrets", ns, ref_name);
      if (!secret) return api::NotFoundError("", "secrets", ref_name);
      uid = Meta(*secret->object, "uid");
    } else {
      return Status::BadRequest("cannot bind token to object of type " + group + "/" + version + ", Kind=" + ref_kind);
    }
    if (!ref_uid.empty() && ref_uid != uid) {
      return api::ConflictError(group, ref_kind, ref_name,
                                "the UID in the bound object reference (" + ref_uid +
                                    ") does not match the UID in record. The object might have been deleted and then "
                                    "recreated");
    }
  }

  // Projected tokens of pods get a year, with a warning past the requested time.
  int64_t exp = expiration, warn_after = 0;
  if (options_.extend_expiration && pod && expiration == kWarnOnlyExpirationSeconds &&
      std::all_of(audiences.begin(), audiences.end(),
                  [&](const std::string& a) { return Contains(options_.api_audiences, a); })) {
    warn_after = expiration;
    exp = kExtendedExpirationSeconds;
  }

  // The claims, in the order go-jose writes them (sorted keys).
  int64_t iat = Unix(now);
  std::string sa_uid = Meta(*sa->object, "uid");
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  Key(w, "aud");
  w.StartArray();
  for (const auto& a : audiences) Str(w, a);
  w.EndArray();
  Key(w, "exp");
  w.Int64(iat + exp);
  Key(w, "iat");
  w.Int64(iat);
  Key(w, "iss");
  Str(w, options_.issuer);
  Key(w, "jti");
  Str(w, NewUuid());
  Key(w, "kubernetes.io");
  w.StartObject();
  Key(w, "namespace");
  Str(w, ns);
  if (node) WriteRef(w, "node", Meta(*node->object, "name"), Meta(*node->object, "uid"));
  if (pod) WriteRef(w, "pod", Meta(*pod->object, "name"), Meta(*pod->object, "uid"));
  if (secret) WriteRef(w, "secret", Meta(*secret->object, "name"), Meta(*secret->object, "uid"));
  WriteRef(w, "serviceaccount", name, sa_uid);
  if (warn_after) {
    Key(w, "warnafter");
    w.Int64(iat + warn_after);
  }
  w.EndObject();
  Key(w, "nbf");
  w.Int64(iat);
  Key(w, "sub");
  Str(w, "system:serviceaccount:" + ns + ":" + name);
  w.EndObject();
  MINIK_ASSIGN_OR_RETURN(std::string token, key_->Sign(std::string_view(buf.GetString(), buf.GetSize())));
  (void)warnings;

  // The answer: the request, completed.
  JsonDoc out;
  out.SetObject();
  auto& a = out.GetAllocator();
  out.AddMember("kind", "TokenRequest", a);
  out.AddMember("apiVersion", "authentication.k8s.io/v1", a);
  JsonValue meta(rapidjson::kObjectType);
  meta.AddMember("name", MakeString(name, a), a);
  meta.AddMember("namespace", MakeString(ns, a), a);
  meta.AddMember("creationTimestamp", MakeString(FormatRFC3339(now), a), a);
  out.AddMember("metadata", meta, a);
  JsonValue ospec(rapidjson::kObjectType);
  JsonValue auds(rapidjson::kArrayType);
  for (const auto& au : audiences) auds.PushBack(MakeString(au, a), a);
  ospec.AddMember("audiences", auds, a);
  ospec.AddMember("expirationSeconds", JsonValue(expiration), a);
  if (ref && ref->IsObject()) {
    JsonValue r(rapidjson::kObjectType);
    if (!ref_kind.empty()) r.AddMember("kind", MakeString(ref_kind, a), a);
    if (!ref_api_version.empty()) r.AddMember("apiVersion", MakeString(ref_api_version, a), a);
    if (!ref_name.empty()) r.AddMember("name", MakeString(ref_name, a), a);
    if (!ref_uid.empty()) r.AddMember("uid", MakeString(ref_uid, a), a);
    ospec.AddMember("boundObjectRef", r, a);
  } else {
    ospec.AddMember("boundObjectRef", JsonValue(rapidjson::kNullType), a);
  }
  out.AddMember("spec", ospec, a);
  JsonValue status(rapidjson::kObjectType);
  status.AddMember("token", MakeString(token, a), a);
  status.AddMember("expirationTimestamp", MakeString(FormatRFC3339(now + std::chrono::seconds(expiration)), a), a);
  out.AddMember("status", status, a);
  return out;
}

StatusOr<std::shared_ptr<const ServiceAccountTokens::Claims>> ServiceAccountTokens::Verified(std::string_view token) {
  std::string key(token);
  if (auto it = cache_.find(key); it != cache_.end()) return it->second;
  auto jws = pki::ParseJws(token);
  if (!jws.ok()) return Status::NotFound("not a JWT");
  auto payload = ParseJson(jws->payload);
  if (!payload.ok() || !payload->IsObject()) return Status::NotFound("not a JWT");
  // Not our issuer: another authenticator's token.
  if (GetString(*payload, "iss").value_or("") != options_.issuer) return Status::NotFound("not our issuer");
  auto header = ParseJson(jws->header);
  if (!header.ok() || !header->IsObject() || GetString(*header, "alg").value_or("") != "RS256") {
    return Status::Unauthorized("invalid signature");
  }
  if (!key_->Verify(jws->signing_input, jws->signature)) return Status::Unauthorized("invalid signature");
  auto c = std::make_shared<Claims>();
  const JsonValue& p = *payload;
  c->sub = std::string(GetString(p, "sub").value_or(""));
  if (const JsonValue* aud = Member(p, "aud")) {
    if (aud->IsString()) c->aud.emplace_back(aud->GetString(), aud->GetStringLength());
    else if (aud->IsArray()) {
      for (const auto& v : aud->GetArray()) {
        if (v.IsString()) c->aud.emplace_back(v.GetString(), v.GetStringLength());
      }
    }
  }
  c->exp = GetInt(p, "exp").value_or(0);
  if (auto v = GetInt(p, "nbf")) c->nbf = *v, c->has_nbf = true;
  if (auto v = GetInt(p, "iat")) c->iat = *v, c->has_iat = true;
  c->jti = std::string(GetString(p, "jti").value_or(""));
  const JsonValue* k = Member(p, "kubernetes.io");
  if (!k || !k->IsObject()) return Status::Unauthorized("service account token claims could not be read");
  c->ns = std::string(GetString(*k, "namespace").value_or(""));
  auto ref = [&](const char* field, Ref* out) {
    const JsonValue* r = Member(*k, field);
    if (!r || !r->IsObject()) return false;
    out->name = std::string(GetString(*r, "name").value_or(""));
    out->uid = std::string(GetString(*r, "uid").value_or(""));
    return true;
  };
  ref("serviceaccount", &c->sa);
  c->has_pod = ref("pod", &c->pod);
  c->has_secret = ref("secret", &c->secret);
  c->has_node = ref("node", &c->node);
  if (cache_.size() >= options_.cache_size) cache_.clear();
  cache_.emplace(std::move(key), c);
  return std::shared_ptr<const Claims>(c);
}

StatusOr<UserInfo> ServiceAccountTokens::Authenticate(std::string_view token, const std::vector<std::string>& audiences,
                                                      std::vector<std::string>* matched) {
  MINIK_ASSIGN_OR_RETURN(std::shared_ptr<const Claims> c, Verified(token));
  // Audiences.
  const std::vector<std::string>& wanted = audiences.empty() ? options_.api_audiences : audiences;
  std::vector<std::string> auds;
  for (const auto& a : c->aud) {
    if (Contains(wanted, a)) auds.push_back(a);
  }
  if (auds.empty()) {
    return Status::Unauthorized("token audiences " + GoQuotedStrings(c->aud) + " is invalid for the target audiences " +
                                GoQuotedStrings(wanted));
  }
  // Times, with go-jose's leeway.
  int64_t now = Unix(clock_.Now());
  if (c->exp && now - kLeewaySeconds > c->exp) return Status::Unauthorized("service account token has expired");
  if (c->has_nbf && now + kLeewaySeconds < c->nbf) return Status::Unauthorized("service account token is not valid yet");
  if (c->has_iat && now + kLeewaySeconds < c->iat) {
    return Status::Unauthorized("service account token is issued in the future");
  }
  // The objects it names must still exist, with the same uid, and not have been deleted more
  // than the leeway ago.
  auto check = [&](const char* plural, const char* what, const std::string& ns, const Ref& r) -> Status {
    std::string id = ns.empty() ? r.name : ns + "/" + r.name;
    ObjectPtr o = Find(plural, ns, r.name);
    if (!o) return Status::Unauthorized(std::string(what) + " " + id + " has been deleted");
    std::string uid = Meta(*o->object, "uid");
    if (uid != r.uid) {
      return Status::Unauthorized(std::string(what) + " UID (" + uid + ") does not match claim (" + r.uid + ")");
    }
    if (const JsonValue* dt = Path(*o->object, {"metadata", "deletionTimestamp"}); dt && dt->IsString()) {
      TimePoint t;
      if (ParseRFC3339(dt->GetString(), &t) && Unix(t) < now - kLeewaySeconds) {
        return Status::Unauthorized(std::string(what) + " " + id + " is marked for deletion");
      }
    }
    return Status::OK();
  };
  MINIK_RETURN_IF_ERROR(check("serviceaccounts", "service account", c->ns, c->sa));
  if (c->has_secret) MINIK_RETURN_IF_ERROR(check("secrets", "secret", c->ns, c->secret));
  if (c->has_pod) MINIK_RETURN_IF_ERROR(check("pods", "pod", c->ns, c->pod));
  // A pod-bound token only carries its node's name; a node-bound one is checked.
  if (c->has_node && !c->has_pod) MINIK_RETURN_IF_ERROR(check("nodes", "node", "", c->node));

  UserInfo u;
  u.username = "system:serviceaccount:" + c->ns + ":" + c->sa.name;
  u.uid = c->sa.uid;
  u.groups = {"system:serviceaccounts", "system:serviceaccounts:" + c->ns};
  if (c->has_pod && !c->pod.name.empty() && !c->pod.uid.empty()) {
    u.extra["authentication.kubernetes.io/pod-name"] = {c->pod.name};
    u.extra["authentication.kubernetes.io/pod-uid"] = {c->pod.uid};
  }
  if (!c->jti.empty()) u.extra["authentication.kubernetes.io/credential-id"] = {"JTI=" + c->jti};
  if (c->has_node && !c->node.name.empty()) {
    u.extra["authentication.kubernetes.io/node-name"] = {c->node.name};
    if (!c->node.uid.empty()) u.extra["authentication.kubernetes.io/node-uid"] = {c->node.uid};
  }
  if (matched) *matched = std::move(auds);
  return u;
}

std::string ServiceAccountTokens::OpenIdConfiguration() const {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  Key(w, "issuer");
  Str(w, options_.issuer);
  Key(w, "jwks_uri");
  Str(w, options_.issuer + "/openid/v1/jwks");
  Key(w, "response_types_supported");
  w.StartArray();
  Str(w, "id_token");
  w.EndArray();
  Key(w, "subject_types_supported");
  w.StartArray();
  Str(w, "public");
  w.EndArray();
  Key(w, "id_token_signing_alg_values_supported");
  w.StartArray();
  Str(w, "RS256");
  w.EndArray();
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

std::string ServiceAccountTokens::Jwks() const {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  Key(w, "keys");
  w.StartArray();
  w.StartObject();
  Key(w, "use");
  Str(w, "sig");
  Key(w, "kty");
  Str(w, "RSA");
  Key(w, "kid");
  Str(w, key_->key_id());
  Key(w, "alg");
  Str(w, "RS256");
  Key(w, "n");
  Str(w, key_->jwk_n());
  Key(w, "e");
  Str(w, key_->jwk_e());
  w.EndObject();
  w.EndArray();
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

}  // namespace minik::server
