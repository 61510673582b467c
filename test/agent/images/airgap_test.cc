#include "agent/images/airgap.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <functional>

#include "common/work_pool.h"
#include "http/loop.h"
#include "test_util.h"

namespace minik::agent::images {
namespace {

using testing::TempDir;
using testing::TestImage;

// Runs loop until pred() holds (checked every 5 ms) or timeout_ms passes; returns pred().
bool RunUntil(http::Loop& loop, const std::function<bool()>& pred, uint64_t timeout_ms = 10000,
              const std::function<void()>& on_start = nullptr) {
  http::HandlePtr poll = loop.AddTimer(5, 5, [&] {
    if (pred()) loop.Stop();
  });
  http::HandlePtr limit = loop.AddTimer(timeout_ms, 0, [&] { loop.Stop(); });
  if (on_start) loop.Post(on_start);
  loop.Run();
  return pred();
}

void Copy(const std::string& from, const std::string& to) { REQUIRE(system(("cp " + from + " " + to).c_str()) == 0); }

TEST_CASE("AirgapImporter imports at start and files dropped in while running", "[images][airgap]") {
  TempDir tmp;
  std::string dir = tmp / "agent/images";
  REQUIRE(system(("mkdir -p " + dir).c_str()) == 0);
  Copy(TestImage("busybox.oci.tar.gz"), dir + "/busybox.tar.gz");
  testing::WriteFile(dir + "/notes.txt", "not an image");
  ImageStorePtr store = std::move(ImageStore::Open(tmp / "agent/content")).value();
  AirgapImporter::Options opts;
  opts.settle_ms = 50;
  {
    http::Loop loop;
    WorkPool pool(1);
    std::vector<std::vector<Image>> batches;
    std::string data = testing::ReadFile(TestImage("busybox-extra.oci.tar"));
    // (A Loop closes every handle when Run() returns: each phase is one Run().)
    AirgapImporter imp(
        loop, pool, *store, dir,
        [&](std::vector<Image> imgs) {
          batches.push_back(std::move(imgs));
          if (batches.size() == 1) {
            // Written in two steps while watched: imported once, when complete.
            testing::WriteFile(dir + "/extra.tar", data.substr(0, data.size() / 2));
            std::ofstream out(dir + "/extra.tar", std::ios::binary | std::ios::app);
            out << data.substr(data.size() / 2);
          }
        },
        opts);
    REQUIRE(imp.Start().ok());
    REQUIRE(RunUntil(loop, [&] { return batches.size() == 2 && imp.idle(); }));
    CHECK(batches[0][0].refs ==
          std::vector<std::string>{"docker.io/library/busybox:1.36", "docker.io/library/busybox:latest"});
    CHECK(batches[1][0].refs == std::vector<std::string>{"docker.io/minik/busybox-extra:latest"});
    CHECK(imp.imports_done() == 2);
  }
  CHECK(store->List().size() == 2);

  // A restart imports nothing that did not change, and what was removed from the store again.
  REQUIRE(store->Remove("minik/busybox-extra").ok());
  {
    http::Loop loop;
    WorkPool pool(1);
    int calls = 0;
    AirgapImporter imp(
        loop, pool, *store, dir,
        [&](std::vector<Image>) {
          if (++calls != 1) return;
          CHECK(store->Resolve("minik/busybox-extra").ok());
          // Moved in (the way rsync and careful copies land): imported; a broken archive is
          // logged and not retried until it changes.
          REQUIRE(rename((tmp / "staging").c_str(), (dir + "/docker.tar.zst").c_str()) == 0);
          testing::WriteFile(dir + "/broken.tar", "garbage");
        },
        opts);
    Copy(TestImage("busybox.docker.tar.zst"), tmp / "staging");
    REQUIRE(imp.Start().ok());
    REQUIRE(RunUntil(loop, [&] { return imp.imports_done() == 3 && imp.idle(); }));
    CHECK(calls == 2);
  }
  {
    http::Loop loop;
    WorkPool pool(1);
    AirgapImporter imp(loop, pool, *store, dir, nullptr, opts);
    REQUIRE(imp.Start().ok());
    RunUntil(
        loop, [&] { return false; }, 300);
    CHECK(imp.imports_done() == 0);
    CHECK(imp.idle());
  }
  CHECK(AirgapImporter::IsArchiveName("a.tar"));
  CHECK(AirgapImporter::IsArchiveName("a.tgz"));
  CHECK(AirgapImporter::IsArchiveName("a.tar.zst"));
  CHECK_FALSE(AirgapImporter::IsArchiveName(".a.tar"));
  CHECK_FALSE(AirgapImporter::IsArchiveName("a.tar.part"));
  CHECK_FALSE(AirgapImporter::IsArchiveName("a.zip"));
}

}  // namespace
}  // namespace minik::agent::images
