// Service account tokens, as upstream's bound tokens (pkg/serviceaccount, the TokenRequest REST
// storage in pkg/registry/core/serviceaccount/storage/token.go):
//   - Issue: the TokenRequest subresource (POST .../serviceaccounts/<name>/token): audiences
//     (default: the API audiences), expirationSeconds (default 3600, at least 600, at most 2^32),
//     boundObjectRef to a Pod, Secret or Node (existence and uid checked, with upstream's errors);
//     a pod-bound token asking for 3607 s with the API audience is extended to a year with a
//     kubernetes.io.warnafter claim (--service-account-extend-token-expiration, on by default);
//   - Authenticate: a bearer token signed by our key, not expired (1 minute leeway, as go-jose),
//     from our issuer, for an API audience, whose ServiceAccount (and bound Pod, Secret or Node)
//     still exists with the same uid, is the user system:serviceaccount:<ns>:<name> with groups
//     system:serviceaccounts and system:serviceaccounts:<ns> and the pod/node/credential extras.
// Verified signatures are cached per token (bounded), so a request costs a hash lookup and the
// store reads, not an RSA verification.
//
// Threading: the loop thread (the ObjectStore's).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "api/registry.h"
#include "common/clock.h"
#include "common/json.h"
#include "common/status.h"
#include "pki/jwt.h"
#include "server/object_store.h"

namespace minik::server {

inline constexpr char kDefaultIssuer[] = "https://kubernetes.default.svc.cluster.local";

struct ServiceAccountTokenOptions {
  std::string issuer = kDefaultIssuer;
  std::vector<std::string> api_audiences;  // empty = {issuer}, as kube-apiserver's --api-audiences
  bool extend_expiration = true;           // --service-account-extend-token-expiration
  size_t cache_size = 4096;                // verified tokens kept
};

// Who a credential names (authentication.k8s.io/v1 UserInfo).
struct UserInfo {
  std::string username;
  std::string uid;
  std::vector<std::string> groups;
  std::map<std::string, std::vector<std::string>> extra;
};

class ServiceAccountTokens {
 public:
  ServiceAccountTokens(const ObjectStore& store, const api::Registry& registry, const Clock& clock,
                       std::unique_ptr<pki::JwtKey> key, ServiceAccountTokenOptions options = {});
  ~ServiceAccountTokens();

  // The TokenRequest for ServiceAccount ns/name: request is the decoded body; the answer is the
  // TokenRequest with metadata, defaulted spec and status {token, expirationTimestamp}.
  StatusOr<JsonDoc> Issue(const std::string& ns, const std::string& name, const JsonValue& request,
                          std::vector<std::string>* warnings);

  // The user a service account token names, when it is valid for one of audiences (empty = the
  // API audiences); *matched gets the audiences it is valid for. Unauthorized (with the reason as
  // the message, for logs and TokenReview) otherwise; NotFound when it is not one of our JWTs at
  // all (wrong issuer or not a JWT), so callers can try other authenticators.
  StatusOr<UserInfo> Authenticate(std::string_view token, const std::vector<std::string>& audiences = {},
                                  std::vector<std::string>* matched = nullptr);

  const pki::JwtKey& key() const { return *key_; }
  const std::string& issuer() const { return options_.issuer; }
  const std::vector<std::string>& api_audiences() const { return options_.api_audiences; }
  // OIDC discovery documents (/.well-known/openid-configuration, /openid/v1/jwks).
  std::string OpenIdConfiguration() const;
  std::string Jwks() const;

  // Verified-signature cache statistics (benchmarks, tests).
  size_t cache_entries() const { return cache_.size(); }

 private:
  struct Ref {
    std::string name, uid;
  };
  // What a verified token says.
  struct Claims {
    std::string sub;
    std::vector<std::string> aud;
    int64_t exp = 0, nbf = 0, iat = 0;
    bool has_nbf = false, has_iat = false;
    std::string jti;
    std::string ns;
    Ref sa;
    bool has_pod = false, has_secret = false, has_node = false;
    Ref pod, secret, node;
  };
  StatusOr<std::shared_ptr<const Claims>> Verified(std::string_view token);
  ObjectPtr Find(const char* plural, const std::string& ns, const std::string& name) const;

  const ObjectStore& store_;
  const api::Registry& registry_;
  const Clock& clock_;
  std::unique_ptr<pki::JwtKey> key_;
  ServiceAccountTokenOptions options_;
  std::unordered_map<std::string, std::shared_ptr<const Claims>> cache_;
};

}  // namespace minik::server
