// Service account tokens in the API server: the serviceaccounts/<name>/token subresource
// (TokenRequest), bearer-token authentication of service accounts, and the OIDC discovery
// documents of the token issuer. The logic lives in service_account_tokens.cc.
#include "api/errors.h"
#include "common/log.h"
#include "server/api_call.h"
#include "server/api_server.h"
#include "server/service_account_admission.h"
#include "server/service_account_tokens.h"

namespace minik::server {

void ApiServer::DoTokenRequest(const CallPtr& c) {
  if (!sa_tokens_) {
    return SendStatus(*c->resp, Status::NotFound("the server could not find the requested resource"));
  }
  auto body = DecodeRequestBody(c->req);
  if (!body.ok()) return SendStatus(*c->resp, body.error());
  auto out = sa_tokens_->Issue(c->ri.namespace_, c->ri.name, *body, &c->warnings);
  if (!out.ok()) return SendStatus(*c->resp, out.error());
  SendJson(*c->resp, 201, ToJson(*out), "application/json", c->warnings);
}

bool ApiServer::AuthenticateBearer(std::string_view token, Call& c) {
  if (!sa_tokens_) return false;
  auto u = sa_tokens_->Authenticate(token);
  if (!u.ok()) {
    if (u.error().code() != Code::kNotFound) {
      MINIK_LOG(Debug) << "service account token refused: " << u.error().message();
    }
    return false;
  }
  c.user = std::move(u->username);
  c.uid = std::move(u->uid);
  c.groups = std::move(u->groups);
  c.extra = std::move(u->extra);
  return true;
}

bool ApiServer::ServeOidc(const CallPtr& c) {
  const std::string& p = c->req.path;
  if (!sa_tokens_ || (p != "/.well-known/openid-configuration" && p != "/openid/v1/jwks")) return false;
  bool config = p == "/.well-known/openid-configuration";
  c->resp->Send(200,
                {{"Content-Type", config ? "application/json" : "application/jwk-set+json"},
                 {"Cache-Control", "public, max-age=3600"}},
                config ? sa_tokens_->OpenIdConfiguration() : sa_tokens_->Jwks());
  return true;
}

bool ApiServer::RetryForServiceAccount(const CallPtr& c, const JsonValue& pod) {
  if (c->sa_waits >= 10 || !admission::DefaultServiceAccountPending(store_, registry_, pod)) return false;
  // Only in a namespace that exists and is not terminating: the controller creates the
  // ServiceAccount there soon; elsewhere the create fails at once.
  const JsonValue* ns = Path(pod, {"metadata", "namespace"});
  const api::ResourceInfo* nsinfo = registry_.Find("", "v1", "namespaces");
  ObjectPtr nso = ns && ns->IsString() && nsinfo ? store_.Get(StorageKey(*nsinfo, "", ns->GetString())) : nullptr;
  if (!nso || Path(*nso->object, {"metadata", "deletionTimestamp"})) return false;
  ++c->sa_waits;
  c->warnings.clear();  // DoCreate adds them again
  // 100-200 ms, as upstream's retry interval.
  uint64_t delay = 100 + static_cast<uint64_t>(admission::RandomSuffix()[0]) % 100;
  c->retry_timer = loop_.AddTimer(delay, 0, [this, c]() {
    loop_.Post([this, c]() {
      c->retry_timer.reset();
      DoCreate(c);
    });
  });
  return true;
}

}  // namespace minik::server
