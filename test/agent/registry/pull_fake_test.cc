// The puller against small in-process servers: Bearer token flow, redirects to blob storage on
// another host, and faults a real registry does not produce.
#include <catch2/catch.hpp>

#include "agent/registry/puller.h"
#include "common/strings.h"
#include "registry_helpers.h"

namespace minik::agent::registry {
namespace {

using testing::FakeImageStore;
using testing::MirrorTo;
using testing::ServerThread;
using testing::TempDir;

// One image served from memory.
struct Content {
  std::string layer = std::string(100000, 'L');
  std::string config = R"({"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:00"]}})";
  std::string manifest;
  std::string layer_digest, config_digest, manifest_digest;
  Content() {
    layer_digest = internal::Sha256Digest(layer);
    config_digest = internal::Sha256Digest(config);
    manifest = R"({"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":")" +
               config_digest + R"(","size":)" + std::to_string(config.size()) +
               R"(},"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":")" +
               layer_digest + R"(","size":)" + std::to_string(layer.size()) + "}]}";
    manifest_digest = internal::Sha256Digest(manifest);
  }
};

struct Log {
  std::mutex mu;
  std::vector<std::string> lines;  // "METHOD target auth=<header>"
  void Add(const http::Request& r) {
    const std::string* a = r.Header("authorization");
    std::lock_guard<std::mutex> lock(mu);
    lines.push_back(r.method + " " + r.target + " auth=" + (a ? *a : ""));
  }
  std::vector<std::string> Get() {
    std::lock_guard<std::mutex> lock(mu);
    return lines;
  }
};

// Serves /v2/library/app/{manifests,blobs}/...; `blob_override` replaces the layer's bytes.
void ServeRegistry(const Content& c, http::Request& req, http::ResponseWriterPtr w, const std::string& blob_override = "") {
  const std::string base = "/v2/library/app/";
  if (req.path == base + "manifests/latest" || req.path == base + "manifests/" + c.manifest_digest) {
    w->Send(200,
            {{"Content-Type", "application/vnd.docker.distribution.manifest.v2+json"},
             {"Docker-Content-Digest", c.manifest_digest}},
            c.manifest);
    return;
  }
  if (req.path == base + "blobs/" + c.config_digest) {
    w->Send(200, {}, c.config);
    return;
  }
  if (req.path == base + "blobs/" + c.layer_digest) {
    w->Send(200, {}, blob_override.empty() ? c.layer : blob_override);
    return;
  }
  w->Send(404, {{"Content-Type", "application/json"}},
          R"({"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]})");
}

PullerOptions Opts() { return testing::TestPullerOptions(5000, 2000); }

TEST_CASE("bearer token flow, with and without credentials", "[registry][pull][auth]") {
  Content c;
  Log log;
  std::string realm;
  ServerThread server([&](http::Request& req, http::ResponseWriterPtr w) {
    log.Add(req);
    if (req.path == "/token") {
      const std::string* a = req.Header("authorization");
      if (a == nullptr || *a != "Basic " + Base64Encode("bob:pw")) {
        w->Send(401, {}, R"({"details":"no"})");
        return;
      }
      auto q = http::ParseQuery(req.query);
      std::string scope;
      for (const auto& [k, v] : q) {
        if (k == "scope") scope = v;
      }
      w->Send(200, {{"Content-Type", "application/json"}}, R"({"token":"tok-)" + scope + R"("})");
      return;
    }
    const std::string* a = req.Header("authorization");
    if (a == nullptr || *a != "Bearer tok-repository:library/app:pull") {
      w->Send(401,
              {{"WWW-Authenticate", "Bearer realm=\"" + realm + "\",service=\"fake-registry\",scope=\"repository:library/app:pull\""}},
              R"({"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]})");
      return;
    }
    ServeRegistry(c, req, w);
  });
  realm = "http://" + server.host() + "/token";

  TempDir dir;
  {
    FakeImageStore store(dir.path() + "/anon");
    Puller puller(store, MirrorTo(server.host()), Opts());
    auto r = puller.Pull("app");
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().message() ==
          "failed to pull and unpack image \"docker.io/library/app:latest\": failed to resolve reference "
          "\"docker.io/library/app:latest\": failed to authorize: failed to fetch anonymous token: unexpected status from "
          "GET request to " + realm + "?scope=repository%3Alibrary%2Fapp%3Apull&service=fake-registry: 401 Unauthorized");
  }
  {
    FakeImageStore store(dir.path() + "/creds");
    Puller puller(store, MirrorTo(server.host(), "configs:\n  \"" + server.host() + "\":\n    auth: {username: bob, password: pw}\n"),
                  Opts());
    auto r = puller.Pull("app");
    REQUIRE(r.ok());
    CHECK(r->id == c.config_digest);
    // OAuth POST first (404 here), then GET with basic credentials; one token for the whole pull.
    int token_posts = 0, token_gets = 0;
    for (const auto& l : log.Get()) {
      if (l.rfind("POST /token", 0) == 0) ++token_posts;
      if (l.rfind("GET /token", 0) == 0) ++token_gets;
    }
    CHECK(token_posts == 1);
    CHECK(token_gets == 2);  // one from the anonymous attempt above
  }
}

TEST_CASE("insufficient_scope after a token is 'pull access denied'", "[registry][pull][auth]") {
  std::string realm;
  ServerThread server([&](http::Request& req, http::ResponseWriterPtr w) {
    if (req.path == "/token") {
      w->Send(200, {}, R"({"access_token":"anon"})");
      return;
    }
    std::string challenge = "Bearer realm=\"" + realm + "\",service=\"s\",scope=\"repository:library/private:pull\"";
    if (req.Header("authorization") != nullptr) challenge += ",error=\"insufficient_scope\"";
    w->Send(401, {{"WWW-Authenticate", challenge}}, "");
  });
  realm = "http://" + server.host() + "/token";
  TempDir dir;
  FakeImageStore store(dir.path());
  Puller puller(store, MirrorTo(server.host()), Opts());
  auto r = puller.Pull("private");
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message() ==
        "failed to pull and unpack image \"docker.io/library/private:latest\": failed to resolve reference "
        "\"docker.io/library/private:latest\": pull access denied, repository does not exist or may require "
        "authorization: server message: insufficient_scope: authorization failed");
  CHECK(RpcCode(r.status()) == "Unknown");
}

TEST_CASE("blobs redirected to storage on another host get no Authorization", "[registry][pull]") {
  Content c;
  Log storage_log;
  ServerThread storage([&](http::Request& req, http::ResponseWriterPtr w) {
    storage_log.Add(req);
    if (req.path == "/bucket/layer") {
      w->Send(200, {}, c.layer);
      return;
    }
    w->Send(404, {}, "");
  });
  std::string storage_host = storage.host();
  ServerThread registry([&](http::Request& req, http::ResponseWriterPtr w) {
    const std::string* a = req.Header("authorization");
    if (a == nullptr || *a != "Basic " + Base64Encode("u:p")) {
      w->Send(401, {{"WWW-Authenticate", "Basic realm=\"r\""}}, "");
      return;
    }
    if (req.path == "/v2/library/app/blobs/" + c.layer_digest) {
      w->Send(307, {{"Location", "http://" + storage_host + "/bucket/layer?sig=abc"}}, "");
      return;
    }
    ServeRegistry(c, req, w);
  });
  TempDir dir;
  FakeImageStore store(dir.path());
  Puller puller(store, MirrorTo(registry.host(), "configs:\n  \"" + registry.host() + "\":\n    auth: {username: u, password: p}\n"),
                Opts());
  auto r = puller.Pull("app");
  REQUIRE(r.ok());
  CHECK(store.HasBlob(c.layer_digest));
  auto lines = storage_log.Get();
  REQUIRE(lines.size() == 1);
  CHECK(lines[0] == "GET /bucket/layer?sig=abc auth=");
}

TEST_CASE("short, long and missing blobs", "[registry][pull]") {
  Content c;
  std::string mode;
  ServerThread server([&](http::Request& req, http::ResponseWriterPtr w) {
    if (req.path == "/v2/library/app/blobs/" + c.layer_digest) {
      if (mode == "short") return ServeRegistry(c, req, w, c.layer.substr(0, 1000));
      if (mode == "long") return ServeRegistry(c, req, w, c.layer + "extra");
      if (mode == "missing") return w->Send(404, {}, "");
      if (mode == "error") {
        return w->Send(500, {{"Content-Type", "application/json"}},
                       R"({"errors":[{"code":"UNKNOWN","message":"disk on fire"}]})");
      }
    }
    ServeRegistry(c, req, w);
  });
  TempDir dir;
  const std::string prefix = "failed to pull and unpack image \"docker.io/library/app:latest\": ";
  const std::string url = "http://" + server.host() + "/v2/library/app/blobs/" + c.layer_digest + "?ns=docker.io";
  struct Case {
    std::string mode;
    Code code;
    std::string message;
  } cases[] = {
      {"short", Code::kUnavailable, "failed to read expected number of bytes: unexpected EOF"},
      {"long", Code::kConflict,
       "failed commit on ref \"layer-" + c.layer_digest + "\": unexpected commit size 100005, expected 100000: failed precondition"},
      {"missing", Code::kNotFound,
       "failed to copy: httpReadSeeker: failed open: could not fetch content descriptor " + c.layer_digest +
           " (application/vnd.docker.image.rootfs.diff.tar.gzip) from remote: not found"},
      {"error", Code::kUnavailable,
       "failed to copy: httpReadSeeker: failed open: unexpected status code " + url +
           ": 500 Internal Server Error - Server message: unknown: disk on fire"},
  };
  for (const auto& tc : cases) {
    INFO(tc.mode);
    mode = tc.mode;
    FakeImageStore store(dir.path() + "/" + tc.mode);
    Puller puller(store, MirrorTo(server.host()), Opts());
    auto r = puller.Pull("app");
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == tc.code);
    CHECK(r.status().message() == prefix + tc.message);
    CHECK(store.TempFiles() == 0);
    CHECK_FALSE(store.HasBlob(c.layer_digest));
  }
}

TEST_CASE("a manifest that does not match its digest is rejected", "[registry][pull]") {
  Content c;
  std::string lie = "sha256:" + std::string(64, 'b');
  ServerThread server([&](http::Request& req, http::ResponseWriterPtr w) {
    if (req.path == "/v2/library/app/manifests/latest" || req.path == "/v2/library/app/manifests/" + lie) {
      w->Send(200,
              {{"Content-Type", "application/vnd.docker.distribution.manifest.v2+json"}, {"Docker-Content-Digest", lie}},
              c.manifest);
      return;
    }
    ServeRegistry(c, req, w);
  });
  TempDir dir;
  FakeImageStore store(dir.path());
  Puller puller(store, MirrorTo(server.host()), Opts());
  for (const std::string& image : {std::string("app"), "app@" + lie}) {
    INFO(image);
    auto r = puller.Pull(image);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kConflict);
    CHECK_THAT(r.status().message(), Catch::EndsWith("failed commit on ref \"manifest-" + lie + "\": unexpected commit digest " +
                                                     c.manifest_digest + ", expected " + lie + ": failed precondition"));
  }
}

TEST_CASE("a registry that stops sending fails after the progress timeout", "[registry][pull]") {
  Content c;
  ServerThread* self = nullptr;
  ServerThread server([&](http::Request& req, http::ResponseWriterPtr w) {
    if (req.path == "/v2/library/app/blobs/" + c.layer_digest) {
      w->StartStream(200, {});
      w->Write("partial");
      self->Keep(w);
      return;
    }
    ServeRegistry(c, req, w);
  });
  self = &server;
  TempDir dir;
  FakeImageStore store(dir.path());
  PullerOptions o = Opts();
  o.progress_timeout_ms = 300;
  Puller puller(store, MirrorTo(server.host()), o);
  auto start = std::chrono::steady_clock::now();
  auto r = puller.Pull("app");
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kTimeout);
  CHECK(ms < 3000);
  CHECK(store.TempFiles() == 0);
}

}  // namespace
}  // namespace minik::agent::registry
