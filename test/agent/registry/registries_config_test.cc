#include "agent/registry/registries_config.h"

#include <catch2/catch.hpp>

#include "agent/registry/reference.h"
#include "fake_image_store.h"

namespace minik::agent::registry {
namespace {

RegistriesConfig MustParse(const std::string& yaml) {
  auto c = RegistriesConfig::Parse(yaml);
  if (!c.ok()) FAIL(c.status().ToString());
  return *c;
}

std::vector<std::string> Urls(const std::vector<Endpoint>& eps) {
  std::vector<std::string> out;
  for (const auto& e : eps) out.push_back(e.Url());
  return out;
}

TEST_CASE("registries.yaml: the k3s format parses", "[registry][config]") {
  auto c = MustParse(R"yaml(
mirrors:
  docker.io:
    endpoint:
      - "http://127.0.0.1:5000"
      - "https://mirror.example.com/v2"
    rewrite:
      "^library/(.*)": "mirror/$1"
  "*":
    endpoint: ["https://all.example.com"]
configs:
  "127.0.0.1:5000":
    auth:
      username: alice
      password: secret
  mirror.example.com:
    auth:
      auth: Ym9iOnB3
      identitytoken: tok
    tls:
      ca_file: /etc/ca.pem
      cert_file: /etc/c.pem
      key_file: /etc/k.pem
      insecure_skip_verify: true
  unknown.example.com:
    whatever: 1
)yaml");
  REQUIRE(c.mirrors().size() == 2);
  CHECK(c.mirrors()[0].first == "docker.io");
  CHECK(c.mirrors()[0].second.endpoints ==
        std::vector<std::string>{"http://127.0.0.1:5000", "https://mirror.example.com/v2"});
  REQUIRE(c.mirrors()[0].second.rewrites.size() == 1);
  CHECK(c.mirrors()[0].second.rewrites[0].first == "^library/(.*)");
  CHECK(c.mirrors()[0].second.rewrites[0].second == "mirror/$1");
  CHECK(c.mirrors()[1].first == "*");
  REQUIRE(c.configs().size() == 3);
  const RegistryConfig* local = c.ConfigFor("127.0.0.1:5000");
  REQUIRE(local != nullptr);
  CHECK(local->auth == AuthConfig{"alice", "secret", "", ""});
  CHECK_FALSE(local->tls.has_value());
  const RegistryConfig* m = c.ConfigFor("mirror.example.com");
  REQUIRE(m != nullptr);
  CHECK(m->auth == AuthConfig{"", "", "Ym9iOnB3", "tok"});
  CHECK(m->tls == TlsConfig{"/etc/ca.pem", "/etc/c.pem", "/etc/k.pem", true});
  CHECK(c.ConfigFor("other.example.com") == nullptr);
}

TEST_CASE("registries.yaml: empty and missing files are the empty configuration", "[registry][config]") {
  CHECK(MustParse("").mirrors().empty());
  CHECK(MustParse("# nothing\n").configs().empty());
  CHECK(MustParse("mirrors:\nconfigs:\n").mirrors().empty());
  auto missing = RegistriesConfig::Load("/nonexistent/minik/registries.yaml");
  REQUIRE(missing.ok());
  CHECK(missing->mirrors().empty());
}

TEST_CASE("registries.yaml: malformed input gives a clear error", "[registry][config]") {
  struct Case {
    const char* yaml;
    const char* message;
  } cases[] = {
      {"mirrors: [a, b]\n", "mirrors: expected a mapping of registry names"},
      {"mirrors:\n  docker.io:\n    endpoint: http://x\n", "mirrors.\"docker.io\".endpoint: expected a list of URLs"},
      {"mirrors:\n  docker.io:\n    endpoint: [[1]]\n", "mirrors.\"docker.io\".endpoint: expected a list of URLs"},
      {"mirrors:\n  docker.io:\n    rewrite: [x]\n", "mirrors.\"docker.io\".rewrite: expected a mapping"},
      {"configs:\n  r:\n    auth: [u]\n", "configs.\"r\".auth: expected a mapping"},
      {"configs:\n  r:\n    tls:\n      insecure_skip_verify: maybe\n", "configs.\"r\".tls.insecure_skip_verify: expected a boolean"},
      {"configs:\n  r:\n    tls:\n      cert_file: /c.pem\n", "configs.\"r\".tls: cert_file and key_file must be set together"},
      {"- a\n- b\n", "expected a mapping with mirrors and configs at the top level"},
  };
  for (const auto& c : cases) {
    INFO(c.yaml);
    auto r = RegistriesConfig::Parse(c.yaml);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kInvalid);
    CHECK_THAT(r.status().message(), Catch::Contains(c.message));
  }
  // Broken YAML syntax: the parser's message with its position.
  auto bad = RegistriesConfig::Parse("mirrors:\n  docker.io: {endpoint: [\n");
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(bad.status().message(), Catch::Contains("line"));

  testing::TempDir dir;
  testing::WriteFile(dir.path() + "/registries.yaml", "mirrors: 3\n");
  auto loaded = RegistriesConfig::Load(dir.path() + "/registries.yaml");
  REQUIRE_FALSE(loaded.ok());
  CHECK(loaded.status().message() == "failed to parse " + dir.path() +
                                         "/registries.yaml: mirrors: expected a mapping of registry names");
}

TEST_CASE("registries.yaml: endpoint selection follows k3s and containerd", "[registry][config]") {
  struct Case {
    const char* name;
    const char* yaml;
    bool disable_default;
    const char* registry;
    std::vector<std::string> urls;
  } cases[] = {
      {"no config, docker.io", "", false, "docker.io", {"https://registry-1.docker.io/v2"}},
      {"no config, other registry", "", false, "registry.example.com:5000", {"https://registry.example.com:5000/v2"}},
      {"docker.io mirror, then the default",
       "mirrors:\n  docker.io:\n    endpoint: [\"http://127.0.0.1:5000\"]\n",
       false,
       "docker.io",
       {"http://127.0.0.1:5000/v2", "https://registry-1.docker.io/v2"}},
      {"default endpoint disabled",
       "mirrors:\n  docker.io:\n    endpoint: [\"http://127.0.0.1:5000\"]\n",
       true,
       "docker.io",
       {"http://127.0.0.1:5000/v2"}},
      {"disabling only affects registries with a mirror entry",
       "mirrors:\n  docker.io:\n    endpoint: [\"http://127.0.0.1:5000\"]\n",
       true,
       "quay.io",
       {"https://quay.io/v2"}},
      {"endpoints in order, duplicates and invalid ones skipped",
       "mirrors:\n  docker.io:\n    endpoint:\n      - https://a.example.com\n      - \"ftp://bad\"\n      - https://b.example.com/v2\n      - https://a.example.com/\n",
       false,
       "docker.io",
       {"https://a.example.com/v2", "https://b.example.com/v2", "https://registry-1.docker.io/v2"}},
      {"scheme-less: https, loopback with a port: http",
       "mirrors:\n  docker.io:\n    endpoint: [\"mirror.example.com:5000\", \"localhost:5000\", \"127.0.0.1:443\"]\n",
       false,
       "docker.io",
       {"https://mirror.example.com:5000/v2", "http://localhost:5000/v2", "https://127.0.0.1:443/v2",
        "https://registry-1.docker.io/v2"}},
      {"an endpoint path overrides /v2",
       "mirrors:\n  registry.k8s.io:\n    endpoint: [\"https://harbor.example.com/v2/registry-k8s-io\"]\n",
       false,
       "registry.k8s.io",
       {"https://harbor.example.com/v2/registry-k8s-io", "https://registry.k8s.io/v2"}},
      {"the wildcard mirror applies to registries without their own entry",
       "mirrors:\n  \"*\":\n    endpoint: [\"https://cache.example.com\"]\n  docker.io:\n    endpoint: [\"https://hub-cache.example.com\"]\n",
       false,
       "ghcr.io",
       {"https://cache.example.com/v2", "https://ghcr.io/v2"}},
      {"a specific entry wins over the wildcard",
       "mirrors:\n  \"*\":\n    endpoint: [\"https://cache.example.com\"]\n  docker.io:\n    endpoint: [\"https://hub-cache.example.com\"]\n",
       false,
       "docker.io",
       {"https://hub-cache.example.com/v2", "https://registry-1.docker.io/v2"}},
      {"a docker.io endpoint is registry-1.docker.io",
       "mirrors:\n  docker.io:\n    endpoint: [\"docker.io\"]\n",
       false,
       "docker.io",
       {"https://registry-1.docker.io/v2"}},
      {"a registry mirrored onto a plain-HTTP endpoint of its own",
       "mirrors:\n  registry.local:5000:\n    endpoint: [\"http://registry.local:5000\"]\n",
       false,
       "registry.local:5000",
       {"http://registry.local:5000/v2", "https://registry.local:5000/v2"}},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    auto cfg = MustParse(c.yaml);
    cfg.set_disable_default_endpoint(c.disable_default);
    CHECK(Urls(cfg.Endpoints(c.registry)) == c.urls);
  }
}

TEST_CASE("registries.yaml: rewrites, TLS and auth go to the right endpoints", "[registry][config]") {
  auto cfg = MustParse(R"yaml(
mirrors:
  docker.io:
    endpoint: ["https://mirror.example.com:5000", "http://127.0.0.1:5000"]
    rewrite:
      "^library/(.*)": "hub/$1"
configs:
  "mirror.example.com:5000":
    tls: {ca_file: /ca.pem}
  "127.0.0.1:5000":
    auth: {username: u, password: p}
  docker.io:
    auth: {username: hub, password: hubpw}
  "*":
    tls: {insecure_skip_verify: true}
)yaml");
  auto eps = cfg.Endpoints("docker.io");
  REQUIRE(eps.size() == 3);
  CHECK(eps[0].rewrites.size() == 1);
  REQUIRE(eps[0].config.tls.has_value());
  CHECK(eps[0].config.tls->ca_file == "/ca.pem");
  CHECK_FALSE(eps[0].config.auth.has_value());
  CHECK(eps[1].scheme == "http");
  REQUIRE(eps[1].config.auth.has_value());
  CHECK(eps[1].config.auth->username == "u");
  // The default endpoint: no rewrites, docker.io's own config.
  CHECK(eps[2].is_default);
  CHECK(eps[2].rewrites.empty());
  REQUIRE(eps[2].config.auth.has_value());
  CHECK(eps[2].config.auth->username == "hub");
  // configs["*"] applies to registries without an entry of their own.
  auto other = cfg.Endpoints("quay.io");
  REQUIRE(other.size() == 1);
  REQUIRE(other[0].config.tls.has_value());
  CHECK(other[0].config.tls->insecure_skip_verify);
}

TEST_CASE("registries.yaml: loopback registries nobody configured fall back to plain HTTP", "[registry][config]") {
  RegistriesConfig empty;
  auto eps = empty.Endpoints("127.0.0.1:5000");
  REQUIRE(eps.size() == 1);
  CHECK(eps[0].scheme == "https");
  CHECK(eps[0].http_fallback);
  REQUIRE(eps[0].config.tls.has_value());
  CHECK(eps[0].config.tls->insecure_skip_verify);
  CHECK(empty.Endpoints("localhost:80")[0].scheme == "http");
  CHECK_FALSE(empty.Endpoints("localhost")[0].http_fallback);
  CHECK_FALSE(empty.Endpoints("example.com:5000")[0].http_fallback);
  CHECK(IsLocalhost("[::1]:5000"));
  CHECK(IsLocalhost("127.0.0.53"));
  CHECK_FALSE(IsLocalhost("10.0.0.1:5000"));
}

TEST_CASE("image references normalize like docker/distribution", "[registry][reference]") {
  struct Case {
    const char* in;
    const char* out;
  } ok[] = {
      {"busybox", "docker.io/library/busybox:latest"},
      {"busybox:1.36", "docker.io/library/busybox:1.36"},
      {"library/busybox", "docker.io/library/busybox:latest"},
      {"index.docker.io/foo/bar", "docker.io/foo/bar:latest"},
      {"docker.io/busybox", "docker.io/library/busybox:latest"},
      {"localhost/foo", "localhost/foo:latest"},
      {"127.0.0.1:5000/library/busybox:1.0", "127.0.0.1:5000/library/busybox:1.0"},
      {"registry.k8s.io/pause:3.10", "registry.k8s.io/pause:3.10"},
      {"ghcr.io/a/b/c__d-e.f:v1.2_3", "ghcr.io/a/b/c__d-e.f:v1.2_3"},
      {"busybox:1.36@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
       "docker.io/library/busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
  };
  for (const auto& c : ok) {
    INFO(c.in);
    auto r = ParseReference(c.in);
    REQUIRE(r.ok());
    CHECK(r->String() == c.out);
  }
  auto r = ParseReference("127.0.0.1:5000/library/busybox:1.0");
  REQUIRE(r.ok());
  CHECK(r->domain == "127.0.0.1:5000");
  CHECK(r->repository == "library/busybox");
  CHECK(r->Name() == "127.0.0.1:5000/library/busybox");
  CHECK(r->Object() == "1.0");

  struct Bad {
    const char* in;
    const char* message;
  } bad[] = {
      {"", "invalid reference format: repository name must have at least one component"},
      {"Busybox", "invalid reference format: repository name (library/Busybox) must be lowercase"},
      {"busybox:", "invalid reference format"},
      {"busy box", "invalid reference format"},
      {"busybox@sha256:abc", "invalid reference format"},  // the grammar wants 32+ hex digits
      {"busybox@md5:0123", "invalid reference format"},
      {"a//b", "invalid reference format"},
      {"-a/b", "invalid reference format"},
  };
  for (const auto& b : bad) {
    INFO(b.in);
    auto e = ParseReference(b.in);
    REQUIRE_FALSE(e.ok());
    CHECK(e.status().message() == b.message);
  }
}

}  // namespace
}  // namespace minik::agent::registry
