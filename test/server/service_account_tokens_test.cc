// Service account tokens: TokenRequest issuing (claims, defaults, validation, binding) and bearer
// authentication against the objects in the store, on a simulated clock; and the ServiceAccount
// admission plugin's pod mutation.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "api/errors.h"
#include "api/registry.h"
#include "common/clock.h"
#include "http/loop.h"
#include "pki/jwt.h"
#include "server/api_server.h"
#include "server/object_store.h"
#include "server/service_account_admission.h"
#include "server/service_account_tokens.h"
#include "store/memory_backend.h"
#include "json_testing.h"

using namespace minik;
using namespace minik::server;

namespace {

using minik::testing::J;
using minik::testing::S;

// One RSA key for the whole test binary (generating one takes a while).
const std::string& KeyPem() {
  static const std::string pem = *pki::CreateRsaKeyPem(2048);
  return pem;
}

struct Fixture {
  http::Loop loop;
  store::MemoryBackend backend;
  FakeClock clock;
  std::unique_ptr<ObjectStore> objects;
  std::unique_ptr<ServiceAccountTokens> tokens;

  Fixture() {
    auto o = ObjectStore::Open(loop, backend);
    REQUIRE(o.ok());
    objects = std::move(*o);
    auto key = pki::JwtKey::Load(KeyPem());
    REQUIRE(key.ok());
    tokens = std::make_unique<ServiceAccountTokens>(*objects, api::Registry::Builtin(), clock, std::move(*key));
    Put(R"({"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"default","namespace":"ns","uid":"sa-1"}})");
    Put(R"({"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"robot","namespace":"ns","uid":"sa-2"}})");
    Put(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"web","namespace":"ns","uid":"pod-1"},
        "spec":{"serviceAccountName":"default","nodeName":"n1","containers":[{"name":"c","image":"busybox"}]}})");
    Put(R"({"apiVersion":"v1","kind":"Node","metadata":{"name":"n1","uid":"node-1"}})");
    Put(R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":"s","namespace":"ns","uid":"secret-1"}})");
  }

  std::string Key(const char* plural, const std::string& ns, const std::string& name) {
    return StorageKey(*api::Registry::Builtin().Find("", "v1", plural), ns, name);
  }

  void Put(std::string_view json) {
    JsonDoc d = J(json);
    // The storage key as the API server names it.
    std::string kind(GetString(d, "kind").value_or(""));
    std::string ns(GetString(*Member(d, "metadata"), "namespace").value_or(""));
    std::string name(GetString(*Member(d, "metadata"), "name").value_or(""));
    const char* plural = kind == "Pod" ? "pods" : kind == "Node" ? "nodes" : kind == "Secret" ? "secrets" : "serviceaccounts";
    std::string key = Key(plural, ns, name);
    if (auto old = objects->Get(key)) Wait([&](ObjectStore::Done done) { objects->Delete(key, old->kv.mod_revision, done); });
    Wait([&](ObjectStore::Done done) { objects->Create(key, d, done); });
  }

  void Remove(const char* plural, const std::string& ns, const std::string& name) {
    std::string key = Key(plural, ns, name);
    auto old = objects->Get(key);
    REQUIRE(old);
    Wait([&](ObjectStore::Done done) { objects->Delete(key, old->kv.mod_revision, done); });
  }

  void Wait(const std::function<void(ObjectStore::Done)>& op) {
    bool done = false;
    op([&](StatusOr<ObjectPtr> r) {
      REQUIRE(r.ok());
      done = true;
      loop.Stop();
    });
    if (!done) loop.Run();
    REQUIRE(done);
  }

  StatusOr<JsonDoc> Issue(const std::string& name, std::string_view body) {
    std::vector<std::string> warnings;
    return tokens->Issue("ns", name, J(body), &warnings);
  }
  std::string Token(const std::string& name, std::string_view body) {
    auto r = Issue(name, body);
    REQUIRE(r.ok());
    return S(Path(*r, {"status", "token"}));
  }
};

JsonDoc Payload(const std::string& token) {
  auto jws = pki::ParseJws(token);
  REQUIRE(jws.ok());
  return J(jws->payload);
}

}  // namespace

TEST_CASE("base64url and RS256 signatures") {
  CHECK(pki::Base64UrlEncode("") == "");
  CHECK(pki::Base64UrlEncode("f") == "Zg");
  CHECK(pki::Base64UrlEncode("fo") == "Zm8");
  CHECK(pki::Base64UrlEncode("foo") == "Zm9v");
  CHECK(pki::Base64UrlEncode("\xfb\xff") == "-_8");
  CHECK(*pki::Base64UrlDecode("-_8") == "\xfb\xff");
  CHECK(*pki::Base64UrlDecode("Zm8=") == "fo");
  CHECK_FALSE(pki::Base64UrlDecode("Zm+v").ok());

  auto key = pki::JwtKey::Load(KeyPem());
  REQUIRE(key.ok());
  auto again = pki::JwtKey::Load(KeyPem());
  CHECK((*key)->key_id() == (*again)->key_id());
  CHECK((*key)->key_id().size() == 43);  // base64url of a SHA-256
  auto token = (*key)->Sign(R"({"sub":"x"})");
  REQUIRE(token.ok());
  auto jws = pki::ParseJws(*token);
  REQUIRE(jws.ok());
  CHECK(jws->header == R"({"alg":"RS256","kid":")" + (*key)->key_id() + "\"}");
  CHECK(jws->payload == R"({"sub":"x"})");
  CHECK((*key)->Verify(jws->signing_input, jws->signature));
  std::string forged = jws->signing_input;
  forged.back() ^= 1;
  CHECK_FALSE((*key)->Verify(forged, jws->signature));
  auto other = pki::JwtKey::Load(*pki::CreateRsaKeyPem(2048));
  CHECK_FALSE((*other)->Verify(jws->signing_input, jws->signature));
}

TEST_CASE("the signing key file is created once and kept") {
  char tmpl[] = "/tmp/minik-sakey-XXXXXX";
  REQUIRE(mkdtemp(tmpl));
  std::string path = std::string(tmpl) + "/service.key";
  auto first = pki::EnsureRsaKeyFile(path);
  REQUIRE(first.ok());
  auto second = pki::EnsureRsaKeyFile(path);
  REQUIRE(second.ok());
  CHECK(*first == *second);
  struct stat st;
  REQUIRE(stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  std::remove(path.c_str());
  rmdir(tmpl);
}

TEST_CASE("TokenRequest issues upstream's claims with the default audience and expiration") {
  Fixture f;
  auto r = f.Issue("default", R"({"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":{}})");
  REQUIRE(r.ok());
  CHECK(S(Member(*r, "kind")) == "TokenRequest");
  CHECK(S(Path(*r, {"metadata", "name"})) == "default");
  CHECK(S(Path(*r, {"metadata", "namespace"})) == "ns");
  CHECK(GetInt(*Member(*r, "spec"), "expirationSeconds") == 3600);
  CHECK(Path(*r, {"spec", "audiences"})->GetArray()[0] == "https://kubernetes.default.svc.cluster.local");
  CHECK(Path(*r, {"spec", "boundObjectRef"})->IsNull());
  CHECK(S(Path(*r, {"status", "expirationTimestamp"})) == FormatRFC3339(f.clock.Now() + std::chrono::hours(1)));
  std::string token = S(Path(*r, {"status", "token"}));
  JsonDoc p = Payload(token);
  int64_t now = std::chrono::duration_cast<std::chrono::seconds>(f.clock.Now().time_since_epoch()).count();
  // Sorted keys, as go-jose writes them.
  std::string text = ToJson(p);
  std::string jti = S(Member(p, "jti"));
  CHECK(jti.size() == 36);
  CHECK(text == R"({"aud":["https://kubernetes.default.svc.cluster.local"],"exp":)" + std::to_string(now + 3600) +
                    R"(,"iat":)" + std::to_string(now) + R"(,"iss":"https://kubernetes.default.svc.cluster.local","jti":")" +
                    jti + R"(","kubernetes.io":{"namespace":"ns","serviceaccount":{"name":"default","uid":"sa-1"}},"nbf":)" +
                    std::to_string(now) + R"(,"sub":"system:serviceaccount:ns:default"})");
}

TEST_CASE("TokenRequest validation and lookups fail with upstream's errors") {
  Fixture f;
  auto missing = f.Issue("nope", R"({"spec":{}})");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code() == Code::kNotFound);
  CHECK(missing.error().message() == "serviceaccounts \"nope\" not found");

  auto short_ttl = f.Issue("default", R"({"spec":{"expirationSeconds":60}})");
  REQUIRE_FALSE(short_ttl.ok());
  CHECK(short_ttl.error().code() == Code::kInvalid);
  CHECK(short_ttl.error().message() ==
        "TokenRequest.authentication.k8s.io \"\" is invalid: spec.expirationSeconds: Invalid value: 60: may not "
        "specify a duration less than 10 minutes");
  auto long_ttl = f.Issue("default", R"({"spec":{"expirationSeconds":4294967297}})");
  REQUIRE_FALSE(long_ttl.ok());
  CHECK(long_ttl.error().message() ==
        "TokenRequest.authentication.k8s.io \"\" is invalid: spec.expirationSeconds: Invalid value: 4294967297: may "
        "not specify a duration larger than 2^32 seconds");

  auto other_sa = f.Issue("robot", R"({"spec":{"boundObjectRef":{"kind":"Pod","apiVersion":"v1","name":"web"}}})");
  REQUIRE_FALSE(other_sa.ok());
  CHECK(other_sa.error().code() == Code::kBadRequest);
  CHECK(other_sa.error().message() ==
        "cannot bind token for serviceaccount \"robot\" to pod running with different serviceaccount name.");
  auto no_pod = f.Issue("default", R"({"spec":{"boundObjectRef":{"kind":"Pod","apiVersion":"v1","name":"gone"}}})");
  REQUIRE_FALSE(no_pod.ok());
  CHECK(no_pod.error().message() == "pods \"gone\" not found");
  auto wrong_uid =
      f.Issue("default", R"({"spec":{"boundObjectRef":{"kind":"Pod","apiVersion":"v1","name":"web","uid":"other"}}})");
  REQUIRE_FALSE(wrong_uid.ok());
  CHECK(wrong_uid.error().code() == Code::kConflict);
  CHECK(wrong_uid.error().message() ==
        "Operation cannot be fulfilled on Pod \"web\": the UID in the bound object reference (other) does not match "
        "the UID in record. The object might have been deleted and then recreated");
  auto cm = f.Issue("default", R"({"spec":{"boundObjectRef":{"kind":"ConfigMap","apiVersion":"v1","name":"x"}}})");
  REQUIRE_FALSE(cm.ok());
  CHECK(cm.error().message() == "cannot bind token to object of type /v1, Kind=ConfigMap");
  auto name = f.Issue("default", R"({"metadata":{"name":"robot"},"spec":{}})");
  REQUIRE_FALSE(name.ok());
  CHECK(name.error().message() ==
        "TokenRequest.authentication.k8s.io \"default\" is invalid: metadata.name: Invalid value: \"robot\": must "
        "match the service account name if specified");
}

TEST_CASE("pod-bound tokens name the pod and its node; the kubelet's 3607 s tokens last a year with warnafter") {
  Fixture f;
  std::string t = f.Token("default", R"({"spec":{"expirationSeconds":3607,
      "boundObjectRef":{"kind":"Pod","apiVersion":"v1","name":"web","uid":"pod-1"}}})");
  JsonDoc p = Payload(t);
  const JsonValue& k = *Member(p, "kubernetes.io");
  CHECK(S(Path(k, {"pod", "name"})) == "web");
  CHECK(S(Path(k, {"pod", "uid"})) == "pod-1");
  CHECK(S(Path(k, {"node", "name"})) == "n1");
  CHECK(S(Path(k, {"node", "uid"})) == "node-1");
  int64_t iat = *GetInt(p, "iat");
  CHECK(*GetInt(p, "exp") == iat + 365LL * 24 * 3600);
  CHECK(*GetInt(k, "warnafter") == iat + 3607);
  // Another audience: not extended.
  JsonDoc q = Payload(f.Token("default", R"({"spec":{"audiences":["vault"],"expirationSeconds":3607,
      "boundObjectRef":{"kind":"Pod","apiVersion":"v1","name":"web"}}})"));
  CHECK(*GetInt(q, "exp") == *GetInt(q, "iat") + 3607);
  CHECK_FALSE(Path(q, {"kubernetes.io", "warnafter"}));
  // Secret-bound.
  JsonDoc s = Payload(f.Token("default", R"({"spec":{"boundObjectRef":{"kind":"Secret","apiVersion":"v1","name":"s"}}})"));
  CHECK(S(Path(s, {"kubernetes.io", "secret", "uid"})) == "secret-1");
}

TEST_CASE("a valid token authenticates as its service account; anything else does not") {
  Fixture f;
  std::string t = f.Token("default", R"({"spec":{"boundObjectRef":{"kind":"Pod","apiVersion":"v1","name":"web"}}})");
  auto u = f.tokens->Authenticate(t);
  REQUIRE(u.ok());
  CHECK(u->username == "system:serviceaccount:ns:default");
  CHECK(u->uid == "sa-1");
  CHECK(u->groups == std::vector<std::string>{"system:serviceaccounts", "system:serviceaccounts:ns"});
  CHECK(u->extra["authentication.kubernetes.io/pod-name"] == std::vector<std::string>{"web"});
  CHECK(u->extra["authentication.kubernetes.io/pod-uid"] == std::vector<std::string>{"pod-1"});
  CHECK(u->extra["authentication.kubernetes.io/node-name"] == std::vector<std::string>{"n1"});
  CHECK(u->extra["authentication.kubernetes.io/credential-id"][0].rfind("JTI=", 0) == 0);

  // Not a JWT, or not ours: NotFound (other authenticators may try).
  CHECK(f.tokens->Authenticate("abc").error().code() == Code::kNotFound);
  // A changed payload breaks the signature.
  size_t d1 = t.find('.'), d2 = t.rfind('.');
  JsonDoc p = Payload(t);
  SetString(*MutableMember(p, "kubernetes.io"), "namespace", "kube-system", p.GetAllocator());
  std::string forged = t.substr(0, d1 + 1) + pki::Base64UrlEncode(ToJson(p)) + t.substr(d2);
  auto bad = f.tokens->Authenticate(forged);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().code() == Code::kUnauthorized);
  CHECK(bad.error().message() == "invalid signature");

  // Other audiences are not for the API.
  std::string vault = f.Token("default", R"({"spec":{"audiences":["vault"]}})");
  auto aud = f.tokens->Authenticate(vault);
  REQUIRE_FALSE(aud.ok());
  CHECK(aud.error().message() ==
        "token audiences [\"vault\"] is invalid for the target audiences [\"https://kubernetes.default.svc.cluster.local\"]");
  std::vector<std::string> matched;
  CHECK(f.tokens->Authenticate(vault, {"vault"}, &matched).ok());
  CHECK(matched == std::vector<std::string>{"vault"});
}

TEST_CASE("tokens expire with a minute of leeway and die with their objects") {
  Fixture f;
  std::string plain = f.Token("default", R"({"spec":{}})");
  std::string bound = f.Token("default", R"({"spec":{"boundObjectRef":{"kind":"Pod","apiVersion":"v1","name":"web"}}})");
  f.clock.Advance(std::chrono::seconds(3600 + 59));
  CHECK(f.tokens->Authenticate(plain).ok());
  f.clock.Advance(std::chrono::seconds(2));
  auto expired = f.tokens->Authenticate(plain);
  REQUIRE_FALSE(expired.ok());
  CHECK(expired.error().message() == "service account token has expired");

  f.clock = FakeClock();
  CHECK(f.tokens->Authenticate(bound).ok());
  f.Remove("pods", "ns", "web");
  auto gone = f.tokens->Authenticate(bound);
  REQUIRE_FALSE(gone.ok());
  CHECK(gone.error().message() == "pod ns/web has been deleted");

  std::string t = f.Token("default", R"({"spec":{}})");
  CHECK(f.tokens->Authenticate(t).ok());
  // Deleted and recreated: another uid.
  f.Put(R"({"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"default","namespace":"ns","uid":"sa-9"}})");
  auto recreated = f.tokens->Authenticate(t);
  REQUIRE_FALSE(recreated.ok());
  CHECK(recreated.error().message() == "service account UID (sa-9) does not match claim (sa-1)");
}

TEST_CASE("OIDC discovery documents describe the issuer and its key") {
  Fixture f;
  JsonDoc cfg = J(f.tokens->OpenIdConfiguration());
  CHECK(S(Member(cfg, "issuer")) == "https://kubernetes.default.svc.cluster.local");
  JsonDoc jwks = J(f.tokens->Jwks());
  const JsonValue& k = Member(jwks, "keys")->GetArray()[0];
  CHECK(S(Member(k, "kid")) == f.tokens->key().key_id());
  CHECK(S(Member(k, "e")) == "AQAB");
  CHECK(S(Member(k, "kty")) == "RSA");
}

// ---- ServiceAccount admission ----------------------------------------------------------------

namespace {

const char* kSa = R"({"metadata":{"name":"default","namespace":"ns"}})";

JsonDoc Pod(std::string_view spec) {
  return J(std::string(R"({"metadata":{"name":"p","namespace":"ns"},"spec":)") + std::string(spec) + "}");
}

}  // namespace

TEST_CASE("ServiceAccount admission adds upstream's kube-api-access volume and mounts") {
  JsonDoc sa = J(kSa);
  JsonDoc pod = Pod(R"({"initContainers":[{"name":"i","image":"x"}],"containers":[{"name":"a","image":"x"},
      {"name":"b","image":"x","volumeMounts":[{"name":"mine","mountPath":"/var/run/secrets/kubernetes.io/serviceaccount"}]}],
      "volumes":[{"name":"mine","emptyDir":{}}]})");
  REQUIRE(admission::AdmitPodServiceAccount(&sa, pod, "abcde", pod.GetAllocator()).ok());
  const JsonValue& spec = *Member(pod, "spec");
  CHECK(S(Member(spec, "serviceAccountName")) == "default");
  CHECK(S(Member(spec, "serviceAccount")) == "default");
  const JsonValue& vols = *Member(spec, "volumes");
  REQUIRE(vols.Size() == 2);
  CHECK(ToJson(vols[1]) ==
        R"({"name":"kube-api-access-abcde","projected":{"sources":[{"serviceAccountToken":{"expirationSeconds":3607,"path":"token"}},)"
        R"({"configMap":{"name":"kube-root-ca.crt","items":[{"key":"ca.crt","path":"ca.crt"}]}},)"
        R"({"downwardAPI":{"items":[{"path":"namespace","fieldRef":{"apiVersion":"v1","fieldPath":"metadata.namespace"}}]}}],"defaultMode":420}})");
  const char* mount = R"({"name":"kube-api-access-abcde","readOnly":true,"mountPath":"/var/run/secrets/kubernetes.io/serviceaccount"})";
  CHECK(ToJson(Member(spec, "initContainers")->GetArray()[0]["volumeMounts"][0]) == mount);
  CHECK(ToJson(Member(spec, "containers")->GetArray()[0]["volumeMounts"][0]) == mount);
  // The container that mounts something there keeps its own.
  CHECK(Member(spec, "containers")->GetArray()[1]["volumeMounts"].Size() == 1);
}

TEST_CASE("ServiceAccount admission honours automountServiceAccountToken, pull secrets and existing volumes") {
  JsonDoc sa = J(R"({"metadata":{"name":"default"},"automountServiceAccountToken":false,"imagePullSecrets":[{"name":"reg"}]})");
  JsonDoc pod = Pod(R"({"containers":[{"name":"a","image":"x"}]})");
  REQUIRE(admission::AdmitPodServiceAccount(&sa, pod, "abcde", pod.GetAllocator()).ok());
  CHECK_FALSE(Path(pod, {"spec", "volumes"}));
  CHECK(ToJson(*Path(pod, {"spec", "imagePullSecrets"})) == R"([{"name":"reg"}])");
  // The pod's choice wins over the ServiceAccount's.
  JsonDoc yes = Pod(R"({"automountServiceAccountToken":true,"containers":[{"name":"a","image":"x"}]})");
  REQUIRE(admission::AdmitPodServiceAccount(&sa, yes, "abcde", yes.GetAllocator()).ok());
  CHECK(Path(yes, {"spec", "volumes"})->Size() == 1);
  JsonDoc sa2 = J(kSa);
  JsonDoc no = Pod(R"({"automountServiceAccountToken":false,"containers":[{"name":"a","image":"x"}]})");
  REQUIRE(admission::AdmitPodServiceAccount(&sa2, no, "abcde", no.GetAllocator()).ok());
  CHECK_FALSE(Path(no, {"spec", "volumes"}));
  // A pod that has a kube-api-access-* volume already keeps it (and it is mounted).
  JsonDoc has = Pod(R"({"containers":[{"name":"a","image":"x"}],"volumes":[{"name":"kube-api-access-zzzzz","emptyDir":{}}]})");
  REQUIRE(admission::AdmitPodServiceAccount(&sa2, has, "abcde", has.GetAllocator()).ok());
  CHECK(Path(has, {"spec", "volumes"})->Size() == 1);
  CHECK(S(&Path(has, {"spec", "containers"})->GetArray()[0]["volumeMounts"][0]["name"]) == "kube-api-access-zzzzz");
}

TEST_CASE("ServiceAccount admission refuses missing service accounts and mirror pods that reference them") {
  JsonDoc pod = Pod(R"({"serviceAccountName":"robot","containers":[{"name":"a","image":"x"}]})");
  Status st = admission::AdmitPodServiceAccount(nullptr, pod, "abcde", pod.GetAllocator());
  CHECK(st.code() == Code::kForbidden);
  CHECK(st.message() ==
        "pods \"p\" is forbidden: error looking up service account ns/robot: serviceaccount \"robot\" not found");

  auto mirror = [](std::string_view spec) {
    return J(std::string(R"({"metadata":{"name":"m","namespace":"ns","annotations":{"kubernetes.io/config.mirror":"x"}},"spec":)") +
             std::string(spec) + "}");
  };
  JsonDoc ok = mirror(R"({"containers":[{"name":"a","image":"x"}]})");
  REQUIRE(admission::AdmitPodServiceAccount(nullptr, ok, "abcde", ok.GetAllocator()).ok());
  CHECK(ToJson(*Member(ok, "spec")) == R"({"containers":[{"name":"a","image":"x"}]})");
  JsonDoc with_sa = mirror(R"({"serviceAccountName":"default","containers":[{"name":"a","image":"x"}]})");
  CHECK(admission::AdmitPodServiceAccount(nullptr, with_sa, "abcde", with_sa.GetAllocator()).message() ==
        "pods \"m\" is forbidden: a mirror pod may not reference service accounts");
  JsonDoc with_secret = mirror(R"({"containers":[{"name":"a","image":"x"}],"volumes":[{"name":"s","secret":{"secretName":"s"}}]})");
  CHECK(admission::AdmitPodServiceAccount(nullptr, with_secret, "abcde", with_secret.GetAllocator()).message() ==
        "pods \"m\" is forbidden: a mirror pod may not reference secrets");
  JsonDoc with_token = mirror(
      R"({"containers":[{"name":"a","image":"x"}],"volumes":[{"name":"t","projected":{"sources":[{"serviceAccountToken":{"path":"t"}}]}}]})");
  CHECK(admission::AdmitPodServiceAccount(nullptr, with_token, "abcde", with_token.GetAllocator()).message() ==
        "pods \"m\" is forbidden: a mirror pod may not use ServiceAccountToken volume projections");

  std::string suffix = admission::RandomSuffix();
  CHECK(suffix.size() == 5);
  CHECK(suffix.find_first_not_of("bcdfghjklmnpqrstvwxz2456789") == std::string::npos);
}
