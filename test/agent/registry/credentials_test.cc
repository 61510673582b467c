#include "agent/registry/credentials.h"

#include <catch2/catch.hpp>

#include "common/strings.h"

namespace minik::agent::registry {
namespace {

TEST_CASE("dockerconfigjson: auth, username/password, and docker.io aliases", "[registry][credentials]") {
  std::string json = R"({"auths": {
    "https://index.docker.io/v1/": {"auth": ")" + Base64Encode("hubuser:hub:pw") + R"("},
    "registry.example.com:5000": {"username": "alice", "password": "secret", "email": "a@example.com"},
    "*.corp.example.com": {"username": "glob", "password": "g"},
    "quay.io/team": {"username": "team", "password": "t"},
    "quay.io": {"username": "quay", "password": "q"}
  }})";
  auto creds = ParseDockerConfig(json);
  REQUIRE(creds.ok());
  // docker.io images match the index.docker.io key; "auth" wins and splits at the first colon.
  auto hub = creds->Lookup("docker.io/library/busybox");
  REQUIRE(hub.size() == 1);
  CHECK(hub[0] == Credential{"hubuser", "hub:pw", ""});
  CHECK(creds->Lookup("docker.io/someone/app").size() == 1);
  // Exact host with port.
  auto local = creds->Lookup("registry.example.com:5000/x/y");
  REQUIRE(local.size() == 1);
  CHECK(local[0].username == "alice");
  CHECK(creds->Lookup("registry.example.com/x/y").empty());  // port must match
  // Globs in host name parts.
  CHECK(creds->Lookup("eu.corp.example.com/app")[0].username == "glob");
  CHECK(creds->Lookup("a.b.corp.example.com/app").empty());  // part counts differ
  // More specific paths first, then the host.
  auto quay = creds->Lookup("quay.io/team/app");
  REQUIRE(quay.size() == 2);
  CHECK(quay[0].username == "team");
  CHECK(quay[1].username == "quay");
  CHECK(creds->Lookup("quay.io/other/app").size() == 1);
  CHECK(creds->Lookup("ghcr.io/x/y").empty());
}

TEST_CASE("dockercfg and docker.io keys", "[registry][credentials]") {
  auto creds = ParseDockerConfig(R"({"docker.io": {"username": "u", "password": "p"}})");
  REQUIRE(creds.ok());
  CHECK(creds->Lookup("docker.io/library/busybox").size() == 1);
  Credentials c;
  REQUIRE(AddPullSecret(c, "kubernetes.io/dockercfg", "", R"({"index.docker.io": {"auth": ")" + Base64Encode("x:y") + R"("}})").ok());
  REQUIRE(AddPullSecret(c, "Opaque", R"({"auths": {"quay.io": {"username": "q", "password": "q"}}})", "").ok());
  CHECK(c.Lookup("quay.io/a/b").empty());  // only the two dockercfg types count
  auto hub = c.Lookup("docker.io/library/busybox");
  REQUIRE(hub.size() == 1);
  CHECK(hub[0] == Credential{"x", "y", ""});
  REQUIRE(AddPullSecret(c, "kubernetes.io/dockerconfigjson", R"({"auths": {"quay.io": {"username": "q", "password": "q2"}}})", "").ok());
  CHECK(c.Lookup("quay.io/a/b")[0].password == "q2");
}

TEST_CASE("dockerconfigjson: malformed input", "[registry][credentials]") {
  auto bad_json = ParseDockerConfig("{");
  REQUIRE_FALSE(bad_json.ok());
  auto no_colon = ParseDockerConfig(R"({"auths": {"r.io": {"auth": ")" + Base64Encode("nocolon") + R"("}}})");
  REQUIRE_FALSE(no_colon.ok());
  CHECK(no_colon.status().message() == "unable to parse auth field, must be formatted as base64(username:password)");
  auto not_base64 = ParseDockerConfig(R"({"auths": {"r.io": {"auth": "!!!"}}})");
  REQUIRE_FALSE(not_base64.ok());
  auto empty = ParseDockerConfig(R"({"auths": {}})");
  REQUIRE(empty.ok());
  CHECK(empty->empty());
}

}  // namespace
}  // namespace minik::agent::registry
