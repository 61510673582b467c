#include "agent/volumes/atomic_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include "common/log.h"

namespace minik::agent::volumes {

namespace fs = std::filesystem;

namespace {

constexpr size_t kMaxFileNameLength = 255;
constexpr size_t kMaxPathLength = 4096;

std::string Errno(const std::string& op, const std::string& path) {
  return op + " " + path + ": " + std::strerror(errno);
}

// filepath.Clean for relative paths.
std::string CleanPath(const std::string& p) {
  std::vector<std::string> parts;
  std::string cur;
  std::istringstream in(p);
  while (std::getline(in, cur, '/')) {
    if (cur.empty() || cur == ".") continue;
    if (cur == ".." && !parts.empty() && parts.back() != "..") {
      parts.pop_back();
      continue;
    }
    parts.push_back(cur);
  }
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? "/" : "") + parts[i];
  return out.empty() ? "." : out;
}

std::vector<std::string> SplitSlash(const std::string& p) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t pos = p.find('/', start);
    out.push_back(p.substr(start, pos == std::string::npos ? std::string::npos : pos - start));
    if (pos == std::string::npos) break;
    start = pos + 1;
  }
  return out;
}

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  std::stringstream ss;
  ss << f.rdbuf();
  *out = ss.str();
  return true;
}

Status MkdirAll(const std::string& path, mode_t mode) {
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) return S_ISDIR(st.st_mode) ? Status::OK() : Status::Internal("mkdir " + path + ": not a directory");
  size_t slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0) MINIK_RETURN_IF_ERROR(MkdirAll(path.substr(0, slash), mode));
  if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST) return Status::Internal(Errno("mkdir", path));
  ::chmod(path.c_str(), mode);
  return Status::OK();
}

Status WriteOne(const std::string& path, const FileProjection& f) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, f.mode & 07777);
  if (fd < 0) return Status::Internal(Errno("open", path));
  size_t off = 0;
  while (off < f.data.size()) {
    ssize_t n = ::write(fd, f.data.data() + off, f.data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      Status st = Status::Internal(Errno("write", path));
      ::close(fd);
      return st;
    }
    off += static_cast<size_t>(n);
  }
  if (::fchmod(fd, f.mode & 07777) != 0 || (f.uid >= 0 && ::fchown(fd, static_cast<uid_t>(f.uid), -1) != 0)) {
    Status st = Status::Internal(Errno("chmod", path));
    ::close(fd);
    return st;
  }
  ::close(fd);
  return Status::OK();
}

std::string TimestampDirName(const Clock& clock) {
  auto t = std::chrono::system_clock::to_time_t(clock.Now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof(buf), "..%Y_%m_%d_%H_%M_%S.", &tm);
  return buf;
}

}  // namespace

Status ValidatePayloadPath(const std::string& p) {
  if (p.empty()) return Status::Invalid("invalid path: must not be empty: \"\"");
  if (p[0] == '/') return Status::Invalid("invalid path: must be relative path: " + p);
  if (p.size() > kMaxPathLength) {
    return Status::Invalid("invalid path: must be less than or equal to " + std::to_string(kMaxPathLength) + " characters");
  }
  auto items = SplitSlash(p);
  for (const auto& item : items) {
    if (item == "..") return Status::Invalid("invalid path: must not contain '..': " + p);
    if (item.size() > kMaxFileNameLength) {
      return Status::Invalid("invalid path: filenames must be less than or equal to " +
                             std::to_string(kMaxFileNameLength) + " characters");
    }
  }
  if (items[0].rfind("..", 0) == 0 && items[0].size() > 2) {
    return Status::Invalid("invalid path: must not start with '..': " + p);
  }
  return Status::OK();
}

Status AtomicWriter::Write(const Payload& raw_payload, const std::function<Status()>& set_perms) {
  // (1) validate.
  Payload payload;
  for (const auto& [path, f] : raw_payload) {
    MINIK_RETURN_IF_ERROR(ValidatePayloadPath(path));
    payload[CleanPath(path)] = f;
  }

  // (2) the current version.
  std::string data_link = target_ + "/" + kDataDirName;
  std::string old_ts;
  {
    char buf[4096];
    ssize_t n = ::readlink(data_link.c_str(), buf, sizeof(buf) - 1);
    if (n > 0) old_ts.assign(buf, static_cast<size_t>(n));
  }
  std::string old_ts_path = old_ts.empty() ? std::string() : target_ + "/" + old_ts;

  // (3) paths of the old version absent from the new payload.
  std::set<std::string> to_remove;
  if (!old_ts_path.empty() && fs::is_directory(old_ts_path)) {
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(old_ts_path, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
      to_remove.insert(fs::relative(it->path(), old_ts_path).string());
    }
    for (const auto& [path, f] : payload) {
      std::string p = path;
      while (true) {
        to_remove.erase(p);
        size_t slash = p.rfind('/');
        if (slash == std::string::npos) break;
        p.resize(slash);
      }
    }
  }

  // (4) anything to write?
  bool should_write = old_ts_path.empty();
  if (!should_write) {
    for (const auto& [path, f] : payload) {
      // Content only, as upstream (modes may have been widened by fsGroup ownership).
      std::string on_disk;
      std::string full = old_ts_path + "/" + path;
      if (!ReadFile(full, &on_disk) || on_disk != f.data) {
        should_write = true;
        break;
      }
    }
  }
  auto create_visible = [&]() -> Status {
    for (const auto& [path, f] : payload) {
      std::string top = path.substr(0, path.find('/'));
      std::string visible = target_ + "/" + top;
      struct stat st;
      if (::lstat(visible.c_str(), &st) != 0 && errno == ENOENT) {
        std::string dest = std::string(kDataDirName) + "/" + top;
        if (::symlink(dest.c_str(), visible.c_str()) != 0) return Status::Internal(Errno("symlink", visible));
      }
    }
    return Status::OK();
  };
  if (!should_write && to_remove.empty()) return create_visible();

  // (5) a new timestamped directory.
  std::string ts_name, ts_path;
  {
    std::random_device rd;
    std::mt19937 rng(rd());
    std::string prefix = TimestampDirName(clock_);
    for (int attempt = 0;; ++attempt) {
      ts_name = prefix + std::to_string(rng());
      ts_path = target_ + "/" + ts_name;
      if (::mkdir(ts_path.c_str(), 0700) == 0) break;
      if (errno != EEXIST || attempt > 100) return Status::Internal(Errno("mkdir", ts_path));
    }
    if (::chmod(ts_path.c_str(), 0755) != 0) return Status::Internal(Errno("chmod", ts_path));
  }
  auto fail = [&](Status st) {
    std::error_code ec;
    fs::remove_all(ts_path, ec);
    return st;
  };

  // (6) the payload.
  for (const auto& [path, f] : payload) {
    std::string full = ts_path + "/" + path;
    size_t slash = full.rfind('/');
    if (Status st = MkdirAll(full.substr(0, slash), 0755); !st.ok()) return fail(st);
    if (Status st = WriteOne(full, f); !st.ok()) return fail(st);
  }
  if (set_perms) {
    if (Status st = set_perms(); !st.ok()) return fail(st);
  }

  // (7, 8) swap ..data atomically.
  std::string tmp_link = target_ + "/" + kNewDataDirName;
  ::unlink(tmp_link.c_str());
  if (::symlink(ts_name.c_str(), tmp_link.c_str()) != 0) return fail(Status::Internal(Errno("symlink", tmp_link)));
  if (::rename(tmp_link.c_str(), data_link.c_str()) != 0) {
    Status st = Status::Internal(Errno("rename", tmp_link));
    ::unlink(tmp_link.c_str());
    return fail(st);
  }

  // (9) user-visible symlinks.
  MINIK_RETURN_IF_ERROR(create_visible());

  // (10) old user-visible paths.
  Status last;
  for (const auto& p : to_remove) {
    if (p.find('/') != std::string::npos) continue;
    std::string visible = target_ + "/" + p;
    if (::unlink(visible.c_str()) != 0 && errno != ENOENT) {
      last = Status::Internal(Errno("remove", visible));
      MINIK_LOG(Warning) << "atomic writer " << target_ << ": error pruning old user-visible path " << p;
    }
  }

  // (11) the previous version.
  if (!old_ts_path.empty()) {
    std::error_code ec;
    fs::remove_all(old_ts_path, ec);
    if (ec) return Status::Internal("remove " + old_ts_path + ": " + ec.message());
  }
  return last;
}

}  // namespace minik::agent::volumes
