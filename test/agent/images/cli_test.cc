#include <catch2/catch.hpp>
#include <sstream>

#include "agent/images/digest.h"
#include "agent/images/images_cli.h"
#include "test_util.h"

namespace minik::agent::images {
namespace {

using testing::TempDir;
using testing::TestImage;

struct Run {
  int rc;
  std::string out, err;
};

Run Images(std::vector<std::string> args) {
  std::ostringstream out, err;
  int rc = ImagesMain(args, out, err);
  return {rc, out.str(), err.str()};
}

std::string Pad(const std::string& s, size_t w) { return s + std::string(w - s.size(), ' '); }

TEST_CASE("HumanSize prints sizes as crictl does", "[images][cli]") {
  CHECK(HumanSize(0) == "0B");
  CHECK(HumanSize(999) == "999B");
  CHECK(HumanSize(1000) == "1kB");
  CHECK(HumanSize(1536) == "1.54kB");
  CHECK(HumanSize(4270000) == "4.27MB");
  CHECK(HumanSize(123456789) == "123MB");
  CHECK(HumanSize(999999) == "1e+03kB");
  CHECK(HumanSize(2500000000) == "2.5GB");
}

TEST_CASE("minik images import, ls and rm", "[images][cli]") {
  TempDir tmp;
  std::vector<std::string> dd = {"--data-dir", tmp.path()};
  auto with = [&](std::vector<std::string> args) {
    args.insert(args.begin(), dd.begin(), dd.end());
    return Images(args);
  };
  Run r = with({"ls"});
  CHECK(r.rc == 0);
  CHECK(r.out == "IMAGE               TAG                 IMAGE ID            SIZE\n");

  r = with({"import", TestImage("busybox.docker.tar.zst"), TestImage("busybox-extra.oci.tar")});
  REQUIRE(r.rc == 0);
  CHECK(r.err.empty());
  StatusOr<ImageStorePtr> store = ImageStore::Open(tmp / "agent/content");
  REQUIRE(store.ok());
  Image bb = *(*store)->Resolve("busybox");
  Image extra = *(*store)->Resolve("minik/busybox-extra");
  CHECK(r.out == "unpacking docker.io/library/busybox:1.36 (" + bb.manifest_digest + ")...done\n" +
                     "unpacking docker.io/library/busybox:latest (" + bb.manifest_digest + ")...done\n" +
                     "unpacking docker.io/minik/busybox-extra:latest (" + extra.manifest_digest + ")...done\n");

  r = Images({"ls", "--data-dir=" + tmp.path()});
  REQUIRE(r.rc == 0);
  std::string bb_id = DigestHex(bb.id).substr(0, 13), extra_id = DigestHex(extra.id).substr(0, 13);
  CHECK(r.out == Pad("IMAGE", 32) + Pad("TAG", 20) + Pad("IMAGE ID", 20) + "SIZE\n" +
                     Pad("docker.io/library/busybox", 32) + Pad("1.36", 20) + Pad(bb_id, 20) + HumanSize(bb.size) +
                     "\n" + Pad("docker.io/library/busybox", 32) + Pad("latest", 20) + Pad(bb_id, 20) +
                     HumanSize(bb.size) + "\n" + Pad("docker.io/minik/busybox-extra", 32) + Pad("latest", 20) +
                     Pad(extra_id, 20) + HumanSize(extra.size) + "\n");
  CHECK(HumanSize(bb.size) == "2.13MB");  // uncompressed docker-archive layer

  // rm takes the whole image, as crictl rmi does, and names every tag it had.
  r = with({"rm", "busybox:1.36", DigestHex(extra.id).substr(0, 12)});
  CHECK(r.rc == 0);
  CHECK(r.out ==
        "Deleted: docker.io/library/busybox:1.36\nDeleted: docker.io/library/busybox:latest\n"
        "Deleted: docker.io/minik/busybox-extra:latest\n");
  CHECK((*store)->List().empty());

  r = with({"rm", "busybox"});
  CHECK(r.rc == 1);
  CHECK(r.out.empty());
  CHECK(r.err == "minik images: no such image busybox\n");
}

TEST_CASE("minik images usage and errors", "[images][cli]") {
  TempDir tmp;
  Run r = Images({"--help"});
  CHECK(r.rc == 0);
  CHECK(r.out.rfind("Usage: minik images [--data-dir DIR] COMMAND\n", 0) == 0);
  r = Images({});
  CHECK(r.rc == 1);
  CHECK(r.err == "minik images: missing command: import, ls or rm (see --help)\n");
  r = Images({"frob"});
  CHECK(r.err == "minik images: unknown command \"frob\" (see --help)\n");
  r = Images({"-d", tmp.path(), "import"});
  CHECK(r.err == "minik images: import: missing FILE\n");
  r = Images({"-d", tmp.path(), "import", tmp / "nope.tar"});
  CHECK(r.rc == 1);
  CHECK(r.err == "minik images: open " + tmp / "nope.tar" + ": No such file or directory\n");
  r = Images({"-d", tmp.path(), "rm", "Bad:Ref"});
  CHECK(r.rc == 1);
  CHECK(r.err == "minik images: no such image Bad:Ref\n");
  r = Images({"--data-dir"});
  CHECK(r.err == "minik images: flag needs an argument: --data-dir\n");
}

}  // namespace
}  // namespace minik::agent::images
