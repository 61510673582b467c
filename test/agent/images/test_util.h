// Helpers for the image store tests: temp dirs, the test images built by test/images/build.sh,
// and layer tarballs written with libarchive.
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "agent/images/layer.h"

namespace minik::agent::images::testing {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/minik-images-test-XXXXXX";
    char* p = mkdtemp(tmpl);
    if (p == nullptr) throw std::runtime_error("mkdtemp");
    path_ = p;
  }
  ~TempDir() { (void)RemoveTree(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& sub) const { return path_ + "/" + sub; }

 private:
  std::string path_;
};

// The archives of test/images/build.sh, built once per test process.
inline const std::string& TestImagesDir() {
  static TempDir dir;
  static bool built = [] {
    std::string cmd = std::string("sh ") + MINIK_IMAGES_BUILD_SH + " " + dir.path();
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("build.sh failed");
    return true;
  }();
  (void)built;
  return dir.path();
}
inline std::string TestImage(const std::string& name) { return TestImagesDir() + "/" + name; }

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
inline void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
}

// One tar entry for TarBuilder.
struct Entry {
  std::string path;
  mode_t type = AE_IFREG;
  mode_t mode = 0644;
  std::string data;      // regular files
  std::string link;      // symlink target
  std::string hardlink;  // hardlink target path
  int uid = 0, gid = 0;
  int rmajor = 0, rminor = 0;
  std::vector<std::pair<std::string, std::string>> xattrs;
  int64_t mtime = 1700000000;
};

// Writes a tar (filter: "none", "gzip" or "zstd") of entries to path.
inline void WriteTar(const std::string& path, const std::vector<Entry>& entries, const std::string& filter = "none") {
  archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  if (filter == "gzip") archive_write_add_filter_gzip(a);
  if (filter == "zstd") archive_write_add_filter_zstd(a);
  if (archive_write_open_filename(a, path.c_str()) != ARCHIVE_OK) throw std::runtime_error(archive_error_string(a));
  for (const auto& e : entries) {
    archive_entry* ae = archive_entry_new();
    archive_entry_set_pathname(ae, e.path.c_str());
    archive_entry_set_uid(ae, e.uid);
    archive_entry_set_gid(ae, e.gid);
    archive_entry_set_mtime(ae, e.mtime, 0);
    if (!e.hardlink.empty()) {
      archive_entry_set_hardlink(ae, e.hardlink.c_str());
      archive_entry_set_size(ae, 0);
    } else {
      archive_entry_set_filetype(ae, e.type);
      archive_entry_set_perm(ae, e.mode);
      if (e.type == AE_IFLNK) archive_entry_set_symlink(ae, e.link.c_str());
      if (e.type == AE_IFCHR || e.type == AE_IFBLK) {
        archive_entry_set_rdevmajor(ae, e.rmajor);
        archive_entry_set_rdevminor(ae, e.rminor);
      }
      archive_entry_set_size(ae, e.type == AE_IFREG ? static_cast<la_int64_t>(e.data.size()) : 0);
    }
    for (const auto& [k, v] : e.xattrs) archive_entry_xattr_add_entry(ae, k.c_str(), v.data(), v.size());
    archive_write_header(a, ae);
    if (e.type == AE_IFREG && e.hardlink.empty() && !e.data.empty())
      archive_write_data(a, e.data.data(), e.data.size());
    archive_entry_free(ae);
  }
  archive_write_close(a);
  archive_write_free(a);
}

inline Entry Dir(const std::string& p, mode_t mode = 0755) {
  Entry e;
  e.path = p;
  e.type = AE_IFDIR;
  e.mode = mode;
  return e;
}
inline Entry File(const std::string& p, const std::string& data, mode_t mode = 0644) {
  Entry e;
  e.path = p;
  e.data = data;
  e.mode = mode;
  return e;
}
inline Entry Symlink(const std::string& p, const std::string& target) {
  Entry e;
  e.path = p;
  e.type = AE_IFLNK;
  e.mode = 0777;
  e.link = target;
  return e;
}

}  // namespace minik::agent::images::testing
