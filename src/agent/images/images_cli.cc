#include "agent/images/images_cli.h"

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <sstream>

#include "agent/images/reference.h"

namespace minik::agent::images {
namespace {

constexpr const char* kUsage =
    "Usage: minik images [--data-dir DIR] COMMAND\n"
    "\n"
    "Manage the node's container images offline.\n"
    "\n"
    "Commands:\n"
    "  import FILE...   import OCI image layout or docker-archive tarballs (.tar, .tar.gz, .tgz, .tar.zst)\n"
    "  ls               list images\n"
    "  rm REF...        remove images (by reference, image ID or ID prefix)\n"
    "\n"
    "Options:\n"
    "  -d, --data-dir DIR   data directory of minik (default \"/var/lib/minik\")\n"
    "  -h, --help           show this help\n";

// Splits a reference into CRI's RepoTags / RepoDigests (tag refs / digest refs and repo digests).
void RepoTagsDigests(const Image& img, std::vector<std::string>* tags, std::vector<std::string>* digests) {
  for (const auto& r : img.refs) {
    if (r.find('@') == std::string::npos) tags->push_back(r);
  }
  *digests = img.repo_digests;
}

// Go's text/tabwriter as crictl configures it (minwidth 20, padding 3, spaces).
std::string Tabulate(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& row : rows) {
    for (size_t i = 0; i + 1 < row.size(); ++i) {
      if (width.size() <= i) width.resize(i + 1, 20);
      width[i] = std::max(width[i], row[i].size() + 3);
    }
  }
  std::string out;
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) {
      out += row[i];
      if (i + 1 < row.size()) out.append(width[i] - row[i].size(), ' ');
    }
    out += '\n';
  }
  return out;
}

}  // namespace

std::string HumanSize(int64_t bytes) {
  static const char* const kUnits[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"};
  double size = static_cast<double>(bytes);
  size_t i = 0;
  while (size >= 1000.0 && i + 1 < sizeof(kUnits) / sizeof(kUnits[0])) {
    size /= 1000.0;
    ++i;
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*g%s", 3, size, kUnits[i]);
  return buf;
}

std::string FormatImageTable(const std::vector<Image>& images) {
  struct Row {
    std::vector<std::string> tags, digests;
    const Image* img;
  };
  std::vector<Row> sorted;
  for (const auto& img : images) {
    Row r;
    r.img = &img;
    RepoTagsDigests(img, &r.tags, &r.digests);
    sorted.push_back(std::move(r));
  }
  // crictl's imageByRef: first tag, else first repo digest, else ID.
  std::stable_sort(sorted.begin(), sorted.end(), [](const Row& a, const Row& b) {
    auto key = [](const Row& r) {
      int rank = !r.tags.empty() ? 0 : (!r.digests.empty() ? 1 : 2);
      return std::make_pair(rank, rank == 0 ? r.tags[0] : (rank == 1 ? r.digests[0] : r.img->id));
    };
    return key(a) < key(b);
  });
  std::vector<std::vector<std::string>> rows = {{"IMAGE", "TAG", "IMAGE ID", "SIZE"}};
  for (const auto& r : sorted) {
    std::string name = "<none>";
    if (!r.digests.empty()) name = r.digests[0].substr(0, r.digests[0].find('@'));
    std::string id = r.img->id.compare(0, 7, "sha256:") == 0 ? r.img->id.substr(7) : r.img->id;
    id = id.substr(0, 13);
    std::string size = HumanSize(r.img->size);
    if (r.tags.empty()) {
      rows.push_back({name, "<none>", id, size});
      continue;
    }
    for (const auto& t : r.tags) {
      size_t colon = t.rfind(':');
      rows.push_back({t.substr(0, colon), t.substr(colon + 1), id, size});
    }
  }
  return Tabulate(rows);
}

int ImagesMain(const std::vector<std::string>& args) { return ImagesMain(args, std::cout, std::cerr); }

int ImagesMain(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  auto fail = [&](const std::string& msg) {
    err << "minik images: " << msg << "\n";
    return 1;
  };
  std::string data_dir = "/var/lib/minik";
  std::vector<std::string> rest;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-h" || a == "--help" || a == "help") {
      out << kUsage;
      return 0;
    }
    if (a == "--data-dir" || a == "-d") {
      if (i + 1 >= args.size()) return fail("flag needs an argument: " + a);
      data_dir = args[++i];
    } else if (a.compare(0, 11, "--data-dir=") == 0) {
      data_dir = a.substr(11);
    } else if (a.size() > 1 && a[0] == '-') {
      return fail("unknown flag: " + a);
    } else {
      rest.push_back(a);
    }
  }
  if (rest.empty()) return fail("missing command: import, ls or rm (see --help)");
  const std::string cmd = rest[0];
  rest.erase(rest.begin());
  if (cmd != "import" && cmd != "ls" && cmd != "list" && cmd != "rm" && cmd != "remove") {
    return fail("unknown command \"" + cmd + "\" (see --help)");
  }
  if ((cmd == "import" || cmd == "rm" || cmd == "remove") && rest.empty()) {
    return fail(cmd + (cmd == "import" ? ": missing FILE" : ": missing REF"));
  }
  if ((cmd == "ls" || cmd == "list") && !rest.empty()) return fail("ls takes no arguments");
  StatusOr<ImageStorePtr> store = ImageStore::Open(data_dir + "/agent/content");
  if (!store.ok()) return fail(store.status().message());

  if (cmd == "ls" || cmd == "list") {
    out << FormatImageTable((*store)->List());
    return 0;
  }
  int rc = 0;
  if (cmd == "import") {
    for (const auto& file : rest) {
      StatusOr<std::vector<Image>> imgs = (*store)->ImportArchive(file);
      if (!imgs.ok()) {
        rc = fail(imgs.status().message());
        continue;
      }
      for (const auto& img : *imgs) {
        if (img.refs.empty()) out << "unpacking " << img.id << "...done\n";
        for (const auto& r : img.refs) out << "unpacking " << r << " (" << img.manifest_digest << ")...done\n";
      }
    }
    return rc;
  }
  for (const auto& ref : rest) {
    StatusOr<Image> img = (*store)->Resolve(ref);
    if (!img.ok()) {
      rc = fail(img.status().IsNotFound() ? "no such image " + ref : img.status().message());
      continue;
    }
    Status st = (*store)->Remove(img->id);
    if (!st.ok()) {
      rc = fail("error of removing image \"" + ref + "\": " + st.message());
      continue;
    }
    std::vector<std::string> tags, digests;
    RepoTagsDigests(*img, &tags, &digests);
    for (const auto& t : tags.empty() ? digests : tags) out << "Deleted: " << t << "\n";
  }
  return rc;
}

}  // namespace minik::agent::images
