// Times what a request authenticated by a service account token costs the API server: the raw
// RS256 signature verification, Authenticate on a cold cache (parse + verify + claims + store
// lookups, every call a new token string), and Authenticate on a warm cache (the same token again:
// hash lookup + claims checks + store lookups, what each request of a client costs); and issuing
// a token (TokenRequest: RSA signing).
// Usage: satoken_bench [rounds]
#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "api/registry.h"
#include "common/clock.h"
#include "http/loop.h"
#include "pki/jwt.h"
#include "server/object_store.h"
#include "server/service_account_tokens.h"
#include "store/memory_backend.h"

using namespace minik;

namespace {
// CPU time of this thread: not inflated when other processes hold the cores.
double ThreadCpuUs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
}

void Create(http::Loop& loop, server::ObjectStore& store, const std::string& key, const char* json) {
  auto doc = ParseJson(json);
  bool done = false;
  store.Create(key, *doc, [&](StatusOr<server::ObjectPtr> r) {
    if (!r.ok()) std::fprintf(stderr, "create %s: %s\n", key.c_str(), r.error().ToString().c_str());
    done = true;
    loop.Stop();
  });
  if (!done) loop.Run();
}
}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 2000;
  http::Loop loop;
  store::MemoryBackend backend;
  RealClock clock;
  auto store = server::ObjectStore::Open(loop, backend);
  if (!store.ok()) return 1;
  Create(loop, **store, "/serviceaccounts/default/default",
         R"({"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"default","namespace":"default","uid":"u1"}})");
  Create(loop, **store, "/pods/default/web",
         R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"web","namespace":"default","uid":"u2"},"spec":{"serviceAccountName":"default","nodeName":"n1"}})");
  auto pem = pki::CreateRsaKeyPem(2048);
  auto key = pki::JwtKey::Load(*pem);
  server::ServiceAccountTokens tokens(**store, api::Registry::Builtin(), clock, std::move(*key));
  auto body = ParseJson(R"({"spec":{"expirationSeconds":3607,"boundObjectRef":{"kind":"Pod","apiVersion":"v1","name":"web"}}})");

  // Issue.
  std::vector<std::string> issued;
  double t0 = ThreadCpuUs();
  for (int i = 0; i < rounds; ++i) {
    std::vector<std::string> w;
    auto r = tokens.Issue("default", "default", *body, &w);
    if (!r.ok()) return 2;
    issued.push_back(GetString(*Member(*r, "status"), "token")->data());
  }
  double issue_us = (ThreadCpuUs() - t0) / rounds;

  // Raw verification.
  auto jws = pki::ParseJws(issued[0]);
  t0 = ThreadCpuUs();
  for (int i = 0; i < rounds; ++i) {
    if (!tokens.key().Verify(jws->signing_input, jws->signature)) return 3;
  }
  double verify_us = (ThreadCpuUs() - t0) / rounds;

  // Cold: each token seen for the first time.
  t0 = ThreadCpuUs();
  for (int i = 0; i < rounds; ++i) {
    if (!tokens.Authenticate(issued[static_cast<size_t>(i)]).ok()) return 4;
  }
  double cold_us = (ThreadCpuUs() - t0) / rounds;

  // Warm: a client sending its token again.
  t0 = ThreadCpuUs();
  for (int i = 0; i < rounds * 10; ++i) {
    if (!tokens.Authenticate(issued[static_cast<size_t>(i % 16)]).ok()) return 5;
  }
  double warm_us = (ThreadCpuUs() - t0) / (rounds * 10);

  std::printf("token size: %zu bytes\n", issued[0].size());
  std::printf("issue (TokenRequest, RS256 sign):        %8.2f us\n", issue_us);
  std::printf("RS256 verify alone:                      %8.2f us\n", verify_us);
  std::printf("authenticate, first sight (cold cache):  %8.2f us\n", cold_us);
  std::printf("authenticate, cached signature (warm):   %8.2f us\n", warm_us);
  return 0;
}
