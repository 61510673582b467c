// Real pulls from a real docker-registry on a loopback port, images pushed with skopeo.
#include <catch2/catch.hpp>
#include <chrono>

#include "agent/registry/puller.h"
#include "common/strings.h"
#include "registry_helpers.h"

namespace minik::agent::registry {
namespace {

using testing::BuildOciLayout;
using testing::FakeImageStore;
using testing::MirrorTo;
using testing::Push;
using testing::RegistryProcess;
using testing::TempDir;

PullerOptions TestOptions(const std::string& arch = "amd64") { return testing::TestPullerOptions(20000, 5000, arch); }

TEST_CASE("pull through a docker.io mirror from a real registry", "[registry][pull]") {
  RegistryProcess& reg = testing::SharedRegistry();
  TempDir work;
  auto img = BuildOciLayout(work.path() + "/oci", "1.0", {"amd64"});
  Push(work.path() + "/oci", "1.0", reg.host() + "/library/busybox:1.0");

  FakeImageStore store(work.path() + "/store");
  Puller puller(store, MirrorTo(reg.host()), TestOptions());
  PullStats stats;
  auto pulled = puller.Pull("busybox:1.0", {}, &stats);
  REQUIRE(pulled.ok());
  CHECK(pulled->id == img.config_digest);
  CHECK(pulled->manifest_digest == img.manifest_digest);
  CHECK(pulled->refs == std::vector<std::string>{"docker.io/library/busybox:1.0"});
  CHECK(pulled->layer_diff_ids.size() == 1);
  CHECK(stats.blobs_downloaded == 2);
  CHECK(stats.endpoint == "http://" + reg.host() + "/v2");
  CHECK(store.HasBlob(img.layer_digest));
  CHECK(store.HasBlob(img.config_digest));
  CHECK(store.TempFiles() == 0);

  // Pulling again (imagePullPolicy: Always, unchanged tag): resolved, nothing downloaded.
  PullStats again;
  auto second = puller.Pull("docker.io/library/busybox:1.0", {}, &again);
  REQUIRE(second.ok());
  CHECK(second->id == img.config_digest);
  CHECK(again.blobs_downloaded == 0);
  CHECK(store.commit_image_calls() == 1);

  // By digest.
  PullStats by_digest;
  auto pinned = puller.Pull("busybox@" + img.manifest_digest, {}, &by_digest);
  REQUIRE(pinned.ok());
  CHECK(pinned->id == img.config_digest);

  // Another tag of the same image: the blobs are already there.
  Push(work.path() + "/oci", "1.0", reg.host() + "/library/busybox:other");
  PullStats other;
  auto tagged = puller.Pull("busybox:other", {}, &other);
  REQUIRE(tagged.ok());
  CHECK(other.blobs_downloaded == 0);
  CHECK(other.blobs_skipped == 2);
}

TEST_CASE("pull errors read like containerd's", "[registry][pull]") {
  RegistryProcess& reg = testing::SharedRegistry();
  TempDir work;
  auto img = BuildOciLayout(work.path() + "/oci", "1.0", {"amd64"});
  Push(work.path() + "/oci", "1.0", reg.host() + "/library/busybox:1.0");
  FakeImageStore store(work.path() + "/store");
  Puller puller(store, MirrorTo(reg.host()), TestOptions());

  auto missing = puller.Pull("nope");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().code() == Code::kNotFound);
  CHECK(missing.status().message() ==
        "failed to pull and unpack image \"docker.io/library/nope:latest\": failed to resolve reference "
        "\"docker.io/library/nope:latest\": docker.io/library/nope:latest: not found");
  CHECK(RpcErrorMessage(missing.status()) ==
        "rpc error: code = NotFound desc = failed to pull and unpack image \"docker.io/library/nope:latest\": "
        "failed to resolve reference \"docker.io/library/nope:latest\": docker.io/library/nope:latest: not found");

  auto missing_tag = puller.Pull("busybox:2.0");
  REQUIRE_FALSE(missing_tag.ok());
  CHECK(missing_tag.status().message() ==
        "failed to pull and unpack image \"docker.io/library/busybox:2.0\": failed to resolve reference "
        "\"docker.io/library/busybox:2.0\": docker.io/library/busybox:2.0: not found");

  std::string wrong = "sha256:" + std::string(64, 'a');
  auto missing_digest = puller.Pull("busybox@" + wrong);
  REQUIRE_FALSE(missing_digest.ok());
  CHECK(missing_digest.status().message() == "failed to pull and unpack image \"docker.io/library/busybox@" + wrong +
                                                 "\": failed to resolve reference \"docker.io/library/busybox@" + wrong +
                                                 "\": docker.io/library/busybox@" + wrong + ": not found");

  // Nobody listening.
  int dead = testing::FreePort();
  Puller nowhere(store, MirrorTo("127.0.0.1:" + std::to_string(dead)), TestOptions());
  auto refused = nowhere.Pull("busybox:1.0");
  REQUIRE_FALSE(refused.ok());
  CHECK(RpcCode(refused.status()) == "Unknown");
  CHECK_THAT(refused.status().message(),
             Catch::StartsWith("failed to pull and unpack image \"docker.io/library/busybox:1.0\": failed to resolve "
                               "reference \"docker.io/library/busybox:1.0\": failed to do request: Head \"http://127.0.0.1:" +
                               std::to_string(dead) + "/v2/library/busybox/manifests/1.0?ns=docker.io\": dial tcp 127.0.0.1:" +
                               std::to_string(dead) + ": connect: connection refused"));
  CHECK(store.TempFiles() == 0);
}

TEST_CASE("a corrupted blob in the registry is caught by its digest", "[registry][pull]") {
  RegistryProcess& reg = testing::SharedRegistry();
  TempDir work;
  auto img = BuildOciLayout(work.path() + "/oci", "1.0", {"amd64"});
  Push(work.path() + "/oci", "1.0", reg.host() + "/library/busybox:1.0");
  // Same size, different bytes: the registry serves them as they are.
  std::string path = reg.BlobDataPath(img.layer_digest);
  std::string data = testing::ReadFile(path);
  REQUIRE(data.size() == static_cast<size_t>(img.layer_size));
  data[data.size() / 2] ^= 0x5a;
  testing::WriteFile(path, data);
  std::string actual = internal::Sha256Digest(data);

  FakeImageStore store(work.path() + "/store");
  Puller puller(store, MirrorTo(reg.host()), TestOptions());
  auto r = puller.Pull("busybox:1.0");
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kConflict);
  CHECK(RpcCode(r.status()) == "FailedPrecondition");
  CHECK(r.status().message() == "failed to pull and unpack image \"docker.io/library/busybox:1.0\": failed commit on ref "
                                "\"layer-" + img.layer_digest + "\": unexpected commit digest " + actual + ", expected " +
                                img.layer_digest + ": failed precondition");
  CHECK_FALSE(store.HasBlob(img.layer_digest));
  CHECK(store.TempFiles() == 0);
  CHECK(store.commit_image_calls() == 0);
}

TEST_CASE("an index picks this platform", "[registry][pull]") {
  RegistryProcess& reg = testing::SharedRegistry();
  TempDir work;
  auto img = BuildOciLayout(work.path() + "/oci", "multi", {"arm64", "amd64"});
  Push(work.path() + "/oci", "multi", reg.host() + "/library/multi:1", "", /*all=*/true);
  FakeImageStore store(work.path() + "/store");
  auto pull_for = [&](const std::string& arch) { return Puller(store, MirrorTo(reg.host()), TestOptions(arch)).Pull("multi:1"); };
  for (const std::string arch : {"amd64", "arm64"}) {
    auto r = pull_for(arch);
    REQUIRE(r.ok());
    CHECK(r->id == img.config_by_arch[arch]);
  }
  auto r = pull_for("s390x");
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message() ==
        "failed to pull and unpack image \"docker.io/library/multi:1\": no match for platform in manifest: not found");
}

TEST_CASE("a loopback registry nobody configured is reached over plain HTTP", "[registry][pull]") {
  RegistryProcess& reg = testing::SharedRegistry();
  TempDir work;
  auto img = BuildOciLayout(work.path() + "/oci", "1.0", {"amd64"});
  Push(work.path() + "/oci", "1.0", reg.host() + "/team/app:1.0");
  FakeImageStore store(work.path() + "/store");
  Puller puller(store, RegistriesConfig(), TestOptions());
  auto r = puller.Pull(reg.host() + "/team/app:1.0");
  REQUIRE(r.ok());
  CHECK(r->refs == std::vector<std::string>{reg.host() + "/team/app:1.0"});
}

TEST_CASE("rewrites map the repository on the mirror", "[registry][pull]") {
  RegistryProcess& reg = testing::SharedRegistry();
  TempDir work;
  auto img = BuildOciLayout(work.path() + "/oci", "1.0", {"amd64"});
  Push(work.path() + "/oci", "1.0", reg.host() + "/mirrored/hub/busybox:1.0");
  FakeImageStore store(work.path() + "/store");
  Puller puller(store, MirrorTo(reg.host(), "    rewrite:\n      \"^library/(.*)\": \"mirrored/hub/$1\"\n"), TestOptions());
  auto r = puller.Pull("busybox:1.0");
  REQUIRE(r.ok());
  // Stored under the original name.
  CHECK(r->refs == std::vector<std::string>{"docker.io/library/busybox:1.0"});
}

TEST_CASE("basic auth (htpasswd) with registries.yaml and pull-secret credentials", "[registry][pull][auth]") {
  RegistryProcess reg(testing::HtpasswdLine("alice", "s3cret"));
  TempDir work;
  auto img = BuildOciLayout(work.path() + "/oci", "1.0", {"amd64"});
  Push(work.path() + "/oci", "1.0", reg.host() + "/library/busybox:1.0", "alice:s3cret");
  std::string url = "http://" + reg.host() + "/v2/library/busybox/manifests/1.0?ns=docker.io";

  {
    FakeImageStore store(work.path() + "/anon");
    Puller puller(store, MirrorTo(reg.host()), TestOptions());
    auto r = puller.Pull("busybox:1.0");
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().message() == "failed to pull and unpack image \"docker.io/library/busybox:1.0\": failed to resolve "
                                  "reference \"docker.io/library/busybox:1.0\": pull access denied, repository does not "
                                  "exist or may require authorization: authorization failed: no basic auth credentials");
  }
  {
    FakeImageStore store(work.path() + "/configured");
    Puller puller(store,
                  MirrorTo(reg.host(), "configs:\n  \"" + reg.host() + "\":\n    auth:\n      username: alice\n      password: s3cret\n"),
                  TestOptions());
    auto r = puller.Pull("busybox:1.0");
    REQUIRE(r.ok());
    CHECK(r->id == img.config_digest);
  }
  {
    FakeImageStore store(work.path() + "/wrong");
    Puller puller(store,
                  MirrorTo(reg.host(), "configs:\n  \"" + reg.host() + "\":\n    auth:\n      auth: " +
                                               Base64Encode("alice:wrong") + "\n"),
                  TestOptions());
    auto r = puller.Pull("busybox:1.0");
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().message() == "failed to pull and unpack image \"docker.io/library/busybox:1.0\": failed to resolve "
                                  "reference \"docker.io/library/busybox:1.0\": unexpected status from HEAD request to " +
                                      url + ": 401 Unauthorized");
  }
  {
    // imagePullSecrets win over registries.yaml.
    FakeImageStore store(work.path() + "/secret");
    Puller puller(store,
                  MirrorTo(reg.host(), "configs:\n  \"" + reg.host() + "\":\n    auth:\n      username: alice\n      password: nope\n"),
                  TestOptions());
    auto creds = ParseDockerConfig(R"({"auths":{"https://index.docker.io/v1/":{"auth":")" + Base64Encode("alice:s3cret") + "\"}}}");
    REQUIRE(creds.ok());
    auto r = puller.Pull("busybox:1.0", *creds);
    REQUIRE(r.ok());
  }
}

TEST_CASE("pull performance: a busybox image from the loopback registry", "[registry][pull][perf]") {
  RegistryProcess& reg = testing::SharedRegistry();
  TempDir work;
  auto img = BuildOciLayout(work.path() + "/oci", "1.0", {"amd64"}, /*with_busybox=*/true);
  Push(work.path() + "/oci", "1.0", reg.host() + "/library/busybox:1.0");
  double best_ms = 1e9;
  int64_t bytes = 0;
  for (int i = 0; i < 5; ++i) {
    FakeImageStore store(work.path() + "/store" + std::to_string(i));
    Puller puller(store, MirrorTo(reg.host()), TestOptions());
    PullStats stats;
    auto start = std::chrono::steady_clock::now();
    auto r = puller.Pull("busybox:1.0", {}, &stats);
    auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    REQUIRE(r.ok());
    best_ms = std::min(best_ms, ms);
    bytes = stats.bytes_downloaded;
  }
  WARN("pull of a " << bytes << "-byte busybox image from a loopback docker-registry: best of 5 " << best_ms << " ms");
  CHECK(best_ms < 2000);
}

}  // namespace
}  // namespace minik::agent::registry
