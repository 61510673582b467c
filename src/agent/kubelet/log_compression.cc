#include "agent/kubelet/log_compression.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>
#include <memory>
#include <vector>

#include "common/log.h"

namespace fs = std::filesystem;

namespace minik::agent::kubelet {
namespace {

constexpr std::string_view kGz = ".gz";
constexpr std::string_view kTmp = ".tmp";

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// "<n>.log.<YYYYMMDD-hhmmss>" (optionally + ".gz"): the current log's name, or "" if name is not
// a rotated log.
std::string RotatedBase(std::string_view name) {
  if (EndsWith(name, kGz)) name.remove_suffix(kGz.size());
  constexpr size_t kStamp = 15;  // YYYYMMDD-hhmmss
  size_t pos = name.find(".log.");
  if (pos == std::string_view::npos || pos == 0 || name.size() != pos + 5 + kStamp) return "";
  for (size_t i = 0; i < pos; ++i)
    if (name[i] < '0' || name[i] > '9') return "";
  std::string_view stamp = name.substr(pos + 5);
  for (size_t i = 0; i < kStamp; ++i) {
    bool ok = i == 8 ? stamp[i] == '-' : (stamp[i] >= '0' && stamp[i] <= '9');
    if (!ok) return "";
  }
  return std::string(name.substr(0, pos + 4));
}

using ArchivePtr = std::unique_ptr<archive, int (*)(archive*)>;

}  // namespace

Status GzipFile(const std::string& src, const std::string& dst) {
  int in = open(src.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) return Status::Internal("open " + src + ": " + std::strerror(errno));
  struct stat st;
  if (fstat(in, &st) != 0) {
    close(in);
    return Status::Internal("stat " + src + ": " + std::strerror(errno));
  }
  std::string tmp = dst + std::string(kTmp);
  ArchivePtr a(archive_write_new(), archive_write_free);
  Status result;
  auto fail = [&](const std::string& what) {
    result = Status::Internal(what + " " + tmp + ": " + (archive_error_string(a.get()) ? archive_error_string(a.get()) : "failed"));
  };
  if (archive_write_add_filter_gzip(a.get()) != ARCHIVE_OK || archive_write_set_format_raw(a.get()) != ARCHIVE_OK ||
      archive_write_open_filename(a.get(), tmp.c_str()) != ARCHIVE_OK) {
    fail("create");
  } else {
    std::unique_ptr<archive_entry, void (*)(archive_entry*)> e(archive_entry_new(), archive_entry_free);
    archive_entry_set_filetype(e.get(), AE_IFREG);
    archive_entry_set_size(e.get(), st.st_size);
    if (archive_write_header(a.get(), e.get()) != ARCHIVE_OK) fail("write");
    std::vector<char> buf(64 * 1024);
    while (result.ok()) {
      ssize_t n = read(in, buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        result = Status::Internal("read " + src + ": " + std::strerror(errno));
        break;
      }
      if (n == 0) break;
      if (archive_write_data(a.get(), buf.data(), static_cast<size_t>(n)) < 0) fail("write");
    }
    if (archive_write_close(a.get()) != ARCHIVE_OK && result.ok()) fail("close");
  }
  close(in);
  if (result.ok() && rename(tmp.c_str(), dst.c_str()) != 0) {
    result = Status::Internal("rename " + tmp + ": " + std::strerror(errno));
  }
  if (!result.ok()) unlink(tmp.c_str());
  return result;
}

int RemoveDanglingLogLinks(const std::string& links_dir, int64_t min_age_s) {
  int removed = 0;
  std::error_code ec;
  const time_t now = time(nullptr);
  for (const auto& e : fs::directory_iterator(links_dir, ec)) {
    if (!e.is_symlink(ec) || e.path().extension() != ".log") continue;
    struct stat target, link;
    if (stat(e.path().c_str(), &target) == 0 || errno != ENOENT) continue;
    if (lstat(e.path().c_str(), &link) != 0 || now - link.st_mtime < min_age_s) continue;
    if (unlink(e.path().c_str()) == 0) ++removed;
  }
  return removed;
}

LogCompressionStats CompressRotatedLogs(const std::string& logs_dir) {
  LogCompressionStats stats;
  std::error_code ec;
  for (const auto& pod : fs::directory_iterator(logs_dir, ec)) {
    if (!pod.is_directory(ec)) continue;
    for (const auto& container : fs::directory_iterator(pod.path(), ec)) {
      if (!container.is_directory(ec)) continue;
      // Rotated files by log, in time order (the names sort by their timestamps).
      std::map<std::string, std::vector<std::string>> rotated;
      std::vector<std::string> names;
      for (const auto& f : fs::directory_iterator(container.path(), ec)) names.push_back(f.path().filename());
      std::sort(names.begin(), names.end());
      const std::string dir = container.path().string() + "/";
      for (const auto& name : names) {
        if (EndsWith(name, ".gz.tmp") && !RotatedBase(name.substr(0, name.size() - kTmp.size())).empty()) {
          unlink((dir + name).c_str());  // an interrupted pass
          continue;
        }
        std::string base = RotatedBase(name);
        if (!base.empty()) rotated[base].push_back(name);
      }
      for (auto& [base, files] : rotated) {
        // Plain files whose archive exists were compressed by a pass that stopped before removing them.
        std::vector<std::string> plain;
        for (const auto& f : files) {
          if (EndsWith(f, kGz)) continue;
          if (std::binary_search(names.begin(), names.end(), f + std::string(kGz))) {
            unlink((dir + f).c_str());
            continue;
          }
          plain.push_back(f);
        }
        // The newest rotated file stays plain, as upstream leaves the one it just rotated.
        const std::string& newest = files.back();
        for (const auto& f : plain) {
          if (f == newest) continue;
          Status st = GzipFile(dir + f, dir + f + std::string(kGz));
          if (!st.ok()) {
            ++stats.errors;
            MINIK_LOG(Warning) << "compressing container log: " << st.ToString();
            continue;
          }
          unlink((dir + f).c_str());
          ++stats.compressed;
        }
      }
    }
  }
  return stats;
}

}  // namespace minik::agent::kubelet
