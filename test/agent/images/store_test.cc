#include <dirent.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <iostream>
#include <set>
#include <thread>

#include "agent/images/digest.h"
#include "agent/images/image_store.h"
#include "agent/images/reference.h"
#include "test_util.h"

namespace minik::agent::images {
namespace {

using testing::TempDir;
using testing::TestImage;

const std::vector<std::string> kBusyboxRefs = {"docker.io/library/busybox:1.36", "docker.io/library/busybox:latest"};

ImageStorePtr OpenStore(const std::string& root) {
  StatusOr<ImageStorePtr> s = ImageStore::Open(root);
  REQUIRE(s.ok());
  return std::move(*s);
}

int CountEntries(const std::string& dir) {
  int n = 0;
  if (DIR* d = opendir(dir.c_str())) {
    while (struct dirent* de = readdir(d)) n += de->d_name[0] != '.';
    closedir(d);
  }
  return n;
}

bool Exists(const std::string& p) {
  struct stat st;
  return lstat(p.c_str(), &st) == 0;
}

TEST_CASE("ImportArchive takes OCI layouts and docker archives, plain, gzip and zstd", "[images][store]") {
  std::string id;
  for (const char* name : {"busybox.oci.tar", "busybox.oci.tar.gz", "busybox.oci.tar.zst", "busybox.docker.tar",
                           "busybox.docker.tar.gz", "busybox.docker.tar.zst"}) {
    INFO(name);
    TempDir tmp;
    ImageStorePtr store = OpenStore(tmp / "content");
    StatusOr<std::vector<Image>> imgs = store->ImportArchive(TestImage(name));
    REQUIRE(imgs.ok());
    REQUIRE(imgs->size() == 1);
    const Image& img = (*imgs)[0];
    CHECK(img.refs == kBusyboxRefs);
    if (id.empty()) id = img.id;
    CHECK(img.id == id);  // same config in both formats: same image ID
    CHECK(IsDigest(img.manifest_digest));
    CHECK(img.repo_digests == std::vector<std::string>{"docker.io/library/busybox@" + img.manifest_digest});
    CHECK(img.config.cmd == std::vector<std::string>{"sh"});
    CHECK(img.config.env ==
          std::vector<std::string>{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"});
    REQUIRE(img.layer_diff_ids.size() == 1);
    CHECK(img.size > 900000);
    StatusOr<std::vector<std::string>> dirs = store->LayerDirs(img.id);
    REQUIRE(dirs.ok());
    REQUIRE(dirs->size() == 1);
    const std::string& root = (*dirs)[0];
    CHECK(root == tmp / "content/layers/" + DigestHex(img.layer_diff_ids[0]));
    struct stat st;
    REQUIRE(lstat((root + "/bin/busybox").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0755);
    REQUIRE(lstat((root + "/bin/sh").c_str(), &st) == 0);
    CHECK(S_ISLNK(st.st_mode));
    REQUIRE(lstat((root + "/tmp").c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 01777);
    CHECK(testing::ReadFile(root + "/etc/passwd").find("nobody:x:65534:65534:") != std::string::npos);
    // Nothing but the image's own blobs stays (docker's legacy files and index.json go).
    CHECK(CountEntries(tmp / "content/blobs/sha256") == 3);
    CHECK(CountEntries(tmp / "content/tmp") == 0);
    CHECK(store->List().size() == 1);
  }
}

TEST_CASE("Images share layers, and their whiteouts come out as overlayfs ones", "[images][store]") {
  REQUIRE(geteuid() == 0);
  TempDir tmp;
  ImageStorePtr store = OpenStore(tmp / "content");
  StatusOr<std::vector<Image>> a = store->ImportArchive(TestImage("busybox.oci.tar"));
  StatusOr<std::vector<Image>> b = store->ImportArchive(TestImage("busybox-extra.oci.tar"));
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  const Image& extra = (*b)[0];
  CHECK(extra.refs == std::vector<std::string>{"docker.io/minik/busybox-extra:latest"});
  CHECK(CountEntries(tmp / "content/layers") == 2);
  // base layer blob once; 2 configs, 2 manifests, 2 layer blobs
  CHECK(CountEntries(tmp / "content/blobs/sha256") == 6);
  std::vector<std::string> base = *store->LayerDirs((*a)[0].id);
  std::vector<std::string> dirs = *store->LayerDirs(extra.id);
  REQUIRE(dirs.size() == 2);
  CHECK(dirs[1] == base[0]);  // top first: the base layer is the last lowerdir
  struct stat st;
  REQUIRE(lstat((dirs[0] + "/home").c_str(), &st) == 0);
  CHECK(S_ISCHR(st.st_mode));
  CHECK(st.st_rdev == 0);
  char v[8];
  CHECK(getxattr((dirs[0] + "/var").c_str(), "trusted.overlay.opaque", v, sizeof v) == 1);
  CHECK(testing::ReadFile(dirs[0] + "/etc/motd") == "minik busybox-extra\n");

  // Removing busybox keeps the shared layer.
  int64_t before = store->DiskUsage();
  REQUIRE(store->Remove("busybox").ok());  // one of two tags: the image stays
  CHECK(store->Resolve("busybox:1.36").ok());
  REQUIRE(store->Remove("busybox:1.36").ok());
  CHECK(store->Resolve((*a)[0].id).status().IsNotFound());
  CHECK(Exists(base[0]));
  CHECK(CountEntries(tmp / "content/blobs/sha256") == 4);
  CHECK(store->DiskUsage() < before);
  REQUIRE(store->Remove(extra.id).ok());
  CHECK(CountEntries(tmp / "content/layers") == 0);
  CHECK(CountEntries(tmp / "content/blobs/sha256") == 0);
  CHECK(store->List().empty());
}

TEST_CASE("Resolve by reference, ID, ID prefix and repo digest", "[images][store]") {
  TempDir tmp;
  ImageStorePtr store = OpenStore(tmp / "content");
  StatusOr<std::vector<Image>> imgs = store->ImportArchive(TestImage("busybox.oci.tar"));
  REQUIRE(imgs.ok());
  const Image img = (*imgs)[0];
  std::string hex = DigestHex(img.id);
  for (const std::string& ref :
       {std::string("busybox"), std::string("busybox:1.36"), std::string("docker.io/library/busybox:latest"), img.id,
        hex.substr(0, 12), "sha256:" + hex.substr(0, 5), hex, "busybox@" + img.manifest_digest,
        "docker.io/library/busybox:latest@" + img.manifest_digest}) {
    INFO(ref);
    StatusOr<Image> got = store->Resolve(ref);
    REQUIRE(got.ok());
    CHECK(got->id == img.id);
  }
  for (const std::string& ref : {std::string("alpine"), std::string("busybox:1.35"), std::string("sha256:0000"),
                                 "other@" + img.manifest_digest, std::string("")}) {
    INFO(ref);
    CHECK(store->Resolve(ref).status().IsNotFound());
  }
  CHECK(store->Resolve("alpine").status().message() == "image \"alpine\": not found");
  CHECK(store->Remove("alpine").IsNotFound());
}

TEST_CASE("The index survives reopening and is shared between store instances", "[images][store]") {
  TempDir tmp;
  std::string id;
  {
    ImageStorePtr store = OpenStore(tmp / "content");
    REQUIRE(store->ImportArchive(TestImage("busybox.oci.tar")).ok());
    id = store->List()[0].id;
  }
  ImageStorePtr a = OpenStore(tmp / "content");
  ImageStorePtr b = OpenStore(tmp / "content");  // as `minik images` next to a running agent
  REQUIRE(a->List().size() == 1);
  CHECK(a->List()[0].refs == kBusyboxRefs);
  CHECK(a->List()[0].config.cmd == std::vector<std::string>{"sh"});
  REQUIRE(b->Remove("busybox:1.36").ok());
  CHECK(a->Resolve("busybox:1.36").status().IsNotFound());
  CHECK(a->Resolve("busybox").ok());
  REQUIRE(b->ImportArchive(TestImage("busybox-extra.oci.tar")).ok());
  CHECK(a->List().size() == 2);
  CHECK(a->LayerDirs(id).ok());
}

TEST_CASE("Open removes what a crashed import left behind", "[images][store]") {
  TempDir tmp;
  { OpenStore(tmp / "content"); }
  REQUIRE(mkdir((tmp / "content/tmp/999999999-layer-3").c_str(), 0755) == 0);
  testing::WriteFile(tmp / "content/tmp/999999999-layer-3/bin", "half");
  testing::WriteFile(tmp / "content/tmp/999999999-blob-1-2", "half");
  ImageStorePtr store = OpenStore(tmp / "content");
  CHECK(CountEntries(tmp / "content/tmp") == 0);
}

TEST_CASE("GarbageCollect removes least recently used images not in use", "[images][store]") {
  TempDir tmp;
  ImageStorePtr store = OpenStore(tmp / "content");
  std::string busybox = (*store->ImportArchive(TestImage("busybox.oci.tar")))[0].id;
  std::string extra = (*store->ImportArchive(TestImage("busybox-extra.oci.tar")))[0].id;
  CHECK(store->GarbageCollect({busybox, extra}, 1 << 30) == 0);
  CHECK(store->List().size() == 2);
  int64_t usage = store->DiskUsage();
  // Only the extra layer and its metadata go: the base layer is busybox's too.
  int64_t freed = store->GarbageCollect({busybox}, 1);
  CHECK(freed > 0);
  CHECK(freed < usage / 4);
  CHECK(store->Resolve(extra).status().IsNotFound());
  CHECK(store->Resolve("busybox").ok());
  CHECK(store->DiskUsage() == usage - freed);
  store->Touch(busybox);
  freed = store->GarbageCollect({}, 1);
  CHECK(freed > 2000000);  // 1 MB compressed blob + 2 MB unpacked busybox
  CHECK(store->List().empty());
  CHECK(store->DiskUsage() < 100000);
}

TEST_CASE("CommitBlob verifies digests, CommitImage records a pulled image", "[images][store]") {
  TempDir tmp;
  ImageStorePtr store = OpenStore(tmp / "content");
  auto commit = [&](const std::string& data) {
    std::string t = store->TempBlobPath();
    testing::WriteFile(t, data);
    std::string d = Sha256Of(data);
    REQUIRE(store->CommitBlob(t, d).ok());
    CHECK_FALSE(Exists(t));
    CHECK(store->HasBlob(d));
    return d;
  };
  SECTION("a digest mismatch is refused") {
    std::string t = store->TempBlobPath();
    testing::WriteFile(t, "hello");
    Status st = store->CommitBlob(t, Sha256Of("world"));
    CHECK(st.code() == Code::kInvalid);
    CHECK(st.message() == "digest mismatch: expected " + Sha256Of("world") + ", got " + Sha256Of("hello"));
    CHECK_FALSE(store->HasBlob(Sha256Of("world")));
    CHECK_FALSE(store->HasBlob(Sha256Of("hello")));
    CHECK_FALSE(Exists(t));
  }
  testing::WriteTar(tmp / "layer.tgz", {testing::Dir("app/"), testing::File("app/run", "#!/bin/sh\n", 0755)}, "gzip");
  std::string layer = commit(testing::ReadFile(tmp / "layer.tgz"));
  testing::WriteTar(tmp / "layer.tar", {testing::Dir("app/"), testing::File("app/run", "#!/bin/sh\n", 0755)});
  std::string diff_id = *Sha256File(tmp / "layer.tar");
  auto make = [&](const std::string& diff) {
    std::string config =
        R"({"architecture":"amd64","os":"linux","config":{"Entrypoint":["/app/run"],"Cmd":["a","b"],)"
        R"("Env":["A=1"],"WorkingDir":"/app","User":"65534:65534"},"rootfs":{"type":"layers","diff_ids":[")" +
        diff + R"("]}})";
    std::string cd = commit(config);
    return R"({"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":)"
           R"({"mediaType":"application/vnd.docker.container.image.v1+json","size":)" +
           std::to_string(config.size()) + R"(,"digest":")" + cd +
           R"("},"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":)" +
           std::to_string(testing::ReadFile(tmp / "layer.tgz").size()) + R"(,"digest":")" + layer + R"("}]})";
  };
  SECTION("a good image") {
    std::string manifest = make(diff_id);
    StatusOr<Image> img = store->CommitImage("localhost:5000/app:v1", manifest);
    REQUIRE(img.ok());
    CHECK(img->refs == std::vector<std::string>{"localhost:5000/app:v1"});
    CHECK(img->manifest_digest == Sha256Of(manifest));
    CHECK(img->repo_digests == std::vector<std::string>{"localhost:5000/app@" + Sha256Of(manifest)});
    CHECK(img->config.entrypoint == std::vector<std::string>{"/app/run"});
    CHECK(img->config.cmd == std::vector<std::string>{"a", "b"});
    CHECK(img->config.env == std::vector<std::string>{"A=1"});
    CHECK(img->config.working_dir == "/app");
    CHECK(img->config.user == "65534:65534");
    CHECK(img->layer_diff_ids == std::vector<std::string>{diff_id});
    CHECK(store->HasBlob(img->manifest_digest));
    std::vector<std::string> dirs = *store->LayerDirs(img->id);
    CHECK(testing::ReadFile(dirs[0] + "/app/run") == "#!/bin/sh\n");
    // Same image under a second tag; then the tag moves to another image.
    REQUIRE(store->CommitImage("localhost:5000/app:v2", manifest).ok());
    CHECK(store->Resolve("localhost:5000/app:v2")->refs.size() == 2);
  }
  SECTION("a diff ID that does not match the layer is refused") {
    StatusOr<Image> img = store->CommitImage("app", make(Sha256Of("nope")));
    REQUIRE_FALSE(img.ok());
    CHECK(img.status().code() == Code::kInvalid);
    CHECK(CountEntries(tmp / "content/layers") == 0);
    CHECK(CountEntries(tmp / "content/tmp") == 0);
  }
  SECTION("an index and missing blobs are refused") {
    CHECK(store
              ->CommitImage(
                  "app", R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]})")
              .status()
              .code() == Code::kInvalid);
    std::string m = make(diff_id);
    REQUIRE(unlink(((tmp / "content/blobs/sha256/") + DigestHex(layer)).c_str()) == 0);
    CHECK(store->CommitImage("app", m).status().IsNotFound());
    CHECK(store->CommitImage("App", m).status().code() == Code::kInvalid);
  }
}

TEST_CASE("A reference moving to another image leaves the old one untagged", "[images][store]") {
  TempDir tmp;
  ImageStorePtr store = OpenStore(tmp / "content");
  std::string old_id = (*store->ImportArchive(TestImage("busybox.oci.tar")))[0].id;
  // Re-tag: an archive naming busybox:latest for another image.
  std::string extra = (*store->ImportArchive(TestImage("busybox-extra.oci.tar")))[0].id;
  std::string manifest =
      testing::ReadFile(tmp / "content/blobs/sha256/" + DigestHex(store->Resolve(extra)->manifest_digest));
  REQUIRE(store->CommitImage("busybox", manifest).ok());
  CHECK(store->Resolve("busybox")->id == extra);
  CHECK(store->Resolve(old_id)->refs == std::vector<std::string>{"docker.io/library/busybox:1.36"});
  REQUIRE(store->CommitImage("busybox:1.36", manifest).ok());
  StatusOr<Image> old = store->Resolve(old_id);
  REQUIRE(old.ok());  // kept, untagged (a container may still run it); GC takes it later
  CHECK(old->refs.empty());
  CHECK(store->GarbageCollect({extra}, 1 << 30) > 0);
  CHECK(store->Resolve(old_id).status().IsNotFound());
}

TEST_CASE("ImportArchive refuses what is not an image archive", "[images][store]") {
  TempDir tmp;
  ImageStorePtr store = OpenStore(tmp / "content");
  testing::WriteFile(tmp / "junk.tar", std::string(10000, 'j'));
  StatusOr<std::vector<Image>> r = store->ImportArchive(tmp / "junk.tar");
  CHECK(r.status().code() == Code::kInvalid);
  testing::WriteTar(tmp / "plain.tar", {testing::File("hello.txt", "hi")});
  r = store->ImportArchive(tmp / "plain.tar");
  CHECK(r.status().code() == Code::kInvalid);
  CHECK(r.status().message() ==
        tmp / "plain.tar" +
            ": not an OCI image layout or docker-archive tarball: it has neither index.json nor "
            "manifest.json");
  CHECK(store->ImportArchive(tmp / "missing.tar").status().IsNotFound());
  // A blob whose content does not match its name.
  testing::WriteTar(tmp / "bad.tar",
                    {testing::File("oci-layout", "{}"), testing::File("index.json", R"({"manifests":[]})"),
                     testing::File("blobs/sha256/" + std::string(64, 'a'), "not that")});
  r = store->ImportArchive(tmp / "bad.tar");
  CHECK(r.status().code() == Code::kInvalid);
  CHECK(r.status().message().find("does not match its digest") != std::string::npos);
  CHECK(CountEntries(tmp / "content/blobs/sha256") == 0);
  CHECK(CountEntries(tmp / "content/tmp") == 0);
  CHECK(store->List().empty());
}

TEST_CASE("ImportArchive picks this machine's platform from nested indexes", "[images][store]") {
  TempDir tmp;
  // The blobs of the busybox image, taken from a first store.
  ImageStorePtr first = OpenStore(tmp / "first");
  Image bb = (*first->ImportArchive(TestImage("busybox.oci.tar")))[0];
  std::vector<testing::Entry> entries = {testing::File("oci-layout", R"({"imageLayoutVersion":"1.0.0"})")};
  std::vector<std::string> blobs = {bb.manifest_digest, bb.id};
  std::string manifest = testing::ReadFile(tmp / "first/blobs/sha256/" + DigestHex(bb.manifest_digest));
  size_t at = manifest.find("\"layers\"");
  size_t d = manifest.find("sha256:", at);
  blobs.push_back(manifest.substr(d, 71));
  for (const auto& b : blobs)
    entries.push_back(
        testing::File("blobs/sha256/" + DigestHex(b), testing::ReadFile(tmp / "first/blobs/sha256/" + DigestHex(b))));
  const std::string other = "sha256:" + std::string(64, 'b');
  std::string index = R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[)"
                      R"({"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" +
                      other +
                      R"(","size":1,"platform":{"architecture":"arm64","os":"linux"}},)"
                      R"({"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" +
                      bb.manifest_digest + R"(","size":)" + std::to_string(manifest.size()) +
                      R"(,"platform":{"architecture":"amd64","os":"linux"}},)"
                      R"({"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" +
                      other + R"(","size":1,"platform":{"architecture":"unknown","os":"unknown"}}]})";
  entries.push_back(testing::File("blobs/sha256/" + DigestHex(Sha256Of(index)), index));
  entries.push_back(testing::File(
      "index.json",
      R"({"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":")" +
          Sha256Of(index) + R"(","size":)" + std::to_string(index.size()) +
          R"(,"annotations":{"org.opencontainers.image.ref.name":"registry.local/tools/busybox:multi"}}]})"));
  testing::WriteTar(tmp / "multi.tar", entries, "gzip");
  ImageStorePtr store = OpenStore(tmp / "content");
  StatusOr<std::vector<Image>> imgs = store->ImportArchive(tmp / "multi.tar");
  REQUIRE(imgs.ok());
  REQUIRE(imgs->size() == 1);
  CHECK((*imgs)[0].id == bb.id);
  CHECK((*imgs)[0].refs == std::vector<std::string>{"registry.local/tools/busybox:multi"});
  // The nested index is not kept: only the image's manifest, config and layer.
  CHECK(CountEntries(tmp / "content/blobs/sha256") == 3);
}

TEST_CASE("Concurrent imports of the same image unpack it once", "[images][store]") {
  TempDir tmp;
  ImageStorePtr store = OpenStore(tmp / "content");
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (const char* name : {"busybox.oci.tar", "busybox.docker.tar", "busybox-extra.oci.tar", "busybox.oci.tar.zst"}) {
    threads.emplace_back([&, name] {
      StatusOr<std::vector<Image>> r = store->ImportArchive(TestImage(name));
      if (!r.ok()) FAIL_CHECK(r.status().ToString());
      ok += r.ok();
    });
  }
  for (auto& t : threads) t.join();
  CHECK(ok == 4);
  CHECK(store->List().size() == 2);
  CHECK(CountEntries(tmp / "content/layers") == 2);
  CHECK(CountEntries(tmp / "content/tmp") == 0);
  // Exactly the blobs the two images' manifests name remain (whichever busybox manifest won).
  std::set<std::string> wanted;
  for (const Image& img : store->List()) {
    wanted.insert(img.manifest_digest);
    std::string m = testing::ReadFile(tmp / "content/blobs/sha256/" + DigestHex(img.manifest_digest));
    for (size_t at = m.find("sha256:"); at != std::string::npos; at = m.find("sha256:", at + 1)) {
      wanted.insert(m.substr(at, 71));
    }
  }
  CHECK(CountEntries(tmp / "content/blobs/sha256") == static_cast<int>(wanted.size()));
}

// Not run by default: `images_test "[.bench]"` prints import+unpack times of the busybox image.
TEST_CASE("Import timing", "[.bench]") {
  for (const char* name : {"busybox.oci.tar", "busybox.oci.tar.gz", "busybox.oci.tar.zst", "busybox.docker.tar",
                           "busybox.docker.tar.gz", "busybox.docker.tar.zst"}) {
    std::vector<double> ms;
    for (int i = 0; i < 7; ++i) {
      TempDir tmp;
      ImageStorePtr store = OpenStore(tmp / "content");
      auto t0 = std::chrono::steady_clock::now();
      REQUIRE(store->ImportArchive(TestImage(name)).ok());
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    std::cout << name << ": import+unpack median " << ms[3] << " ms (min " << ms[0] << ", max " << ms[6] << ")\n";
  }
}

}  // namespace
}  // namespace minik::agent::images
