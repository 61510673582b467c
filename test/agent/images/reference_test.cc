#include "agent/images/reference.h"

#include <catch2/catch.hpp>

#include "agent/images/image_store.h"

namespace minik::agent::images {
namespace {

const std::string kDigest = "sha256:" + std::string(64, 'a');

TEST_CASE("NormalizeReference follows docker's normalization", "[images][reference]") {
  struct Case {
    std::string in, out;
  };
  const Case cases[] = {
      {"busybox", "docker.io/library/busybox:latest"},
      {"busybox:1.36", "docker.io/library/busybox:1.36"},
      {"library/busybox", "docker.io/library/busybox:latest"},
      {"docker.io/busybox", "docker.io/library/busybox:latest"},
      {"index.docker.io/library/busybox:1", "docker.io/library/busybox:1"},
      {"rancher/pause:3.6", "docker.io/rancher/pause:3.6"},
      {"localhost/a", "localhost/a:latest"},
      {"localhost:5000/a/b", "localhost:5000/a/b:latest"},
      {"registry.k8s.io/pause:3.10", "registry.k8s.io/pause:3.10"},
      {"127.0.0.1:5000/x/y/z:v1.2-rc_3", "127.0.0.1:5000/x/y/z:v1.2-rc_3"},
      {"[::1]:5000/x", "[::1]:5000/x:latest"},
      {"busybox@" + kDigest, "docker.io/library/busybox@" + kDigest},
      {"busybox:1.36@" + kDigest, "docker.io/library/busybox:1.36@" + kDigest},
      {"quay.io/a-b/c__d.e:T_1", "quay.io/a-b/c__d.e:T_1"},
      {"Registry.Example.com/x", "Registry.Example.com/x:latest"},
  };
  for (const auto& c : cases) {
    INFO(c.in);
    StatusOr<std::string> got = NormalizeReference(c.in);
    REQUIRE(got.ok());
    CHECK(*got == c.out);
  }
}

TEST_CASE("NormalizeReference refuses malformed references with docker's messages", "[images][reference]") {
  struct Case {
    std::string in, msg;
  };
  const Case cases[] = {
      {"", "invalid reference format: repository name must have at least one component"},
      {"Busybox", "invalid reference format: repository name (library/Busybox) must be lowercase"},
      {"docker.io/Library/x:1", "invalid reference format: repository name (Library/x) must be lowercase"},
      {std::string(64, 'a'),
       "invalid repository name (" + std::string(64, 'a') + "), cannot specify 64-byte hexadecimal strings"},
      {"busybox:", "invalid reference format"},
      {"busybox:-x", "invalid reference format"},
      {"busy box", "invalid reference format"},
      {"a//b", "invalid reference format"},
      {"a/b/", "invalid reference format"},
      {"-a/b", "invalid reference format"},
      {"a__-b", "invalid reference format"},
      {"busybox@sha256:abc", "invalid reference format"},
      {"busybox@sha256:" + std::string(63, 'a') + "g", "invalid reference format"},
      {"busybox@sha256:" + std::string(65, 'a'), "invalid checksum digest length"},
      {"busybox@md5:" + std::string(32, 'a'), "unsupported digest algorithm"},
      {"localhost:port/x", "invalid reference format"},
      {"x:" + std::string(129, 'a'), "invalid reference format"},
      {"a/" + std::string(250, 'b'), "invalid reference format: repository name must not be more than 255 characters"},
  };
  for (const auto& c : cases) {
    INFO(c.in);
    StatusOr<std::string> got = NormalizeReference(c.in);
    REQUIRE_FALSE(got.ok());
    CHECK(got.status().code() == Code::kInvalid);
    CHECK(got.status().message() == c.msg);
  }
}

TEST_CASE("ParseReference exposes the parts", "[images][reference]") {
  StatusOr<Reference> r = ParseReference("localhost:5000/a/b:v1@" + kDigest);
  REQUIRE(r.ok());
  CHECK(r->domain == "localhost:5000");
  CHECK(r->path == "a/b");
  CHECK(r->tag == "v1");
  CHECK(r->digest == kDigest);
  CHECK(r->Name() == "localhost:5000/a/b");
  CHECK(IsDigest(kDigest));
  CHECK_FALSE(IsDigest("sha256:" + std::string(64, 'A')));
  CHECK_FALSE(IsDigest("sha256:abc"));
}

}  // namespace
}  // namespace minik::agent::images
