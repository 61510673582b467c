#include "agent/images/layer.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include "agent/images/digest.h"
#include "common/log.h"

namespace minik::agent::images {
namespace {

using ArchivePtr = std::unique_ptr<archive, int (*)(archive*)>;

// Owns a file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { Reset(); }
  Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      Reset();
      fd_ = o.fd_;
      o.fd_ = -1;
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  void Reset() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

Status RemoveTreeAt(int dirfd, const char* name) {
  struct stat st;
  if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return Status::OK();
    return ErrnoStatus(std::string("stat ") + name, errno);
  }
  if (S_ISDIR(st.st_mode)) {
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus(std::string("open ") + name, errno);
    DIR* d = fdopendir(fd);
    if (d == nullptr) {
      close(fd);
      return ErrnoStatus(std::string("opendir ") + name, errno);
    }
    Status st_child;
    while (struct dirent* de = readdir(d)) {
      if (std::strcmp(de->d_name, ".") == 0 || std::strcmp(de->d_name, "..") == 0) continue;
      st_child = RemoveTreeAt(::dirfd(d), de->d_name);
      if (!st_child.ok()) break;
    }
    closedir(d);
    if (!st_child.ok()) return st_child;
    if (unlinkat(dirfd, name, AT_REMOVEDIR) != 0 && errno != ENOENT) {
      return ErrnoStatus(std::string("rmdir ") + name, errno);
    }
    return Status::OK();
  }
  if (unlinkat(dirfd, name, 0) != 0 && errno != ENOENT) return ErrnoStatus(std::string("unlink ") + name, errno);
  return Status::OK();
}

// Splits an archive path into components; refuses "..".
StatusOr<std::vector<std::string>> CleanPath(const char* path) {
  std::vector<std::string> comps;
  if (path == nullptr) return Status::Invalid("entry without a path");
  std::string_view p(path);
  size_t start = 0;
  while (start <= p.size()) {
    size_t slash = p.find('/', start);
    if (slash == std::string_view::npos) slash = p.size();
    std::string_view c = p.substr(start, slash - start);
    if (c == "..") return Status::Invalid("path \"" + std::string(p) + "\" escapes the layer directory");
    if (!c.empty() && c != ".") comps.emplace_back(c);
    start = slash + 1;
  }
  return comps;
}

std::string JoinPath(const std::vector<std::string>& comps, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    if (i > 0) out += '/';
    out += comps[i];
  }
  return out;
}

// The decompressing first stage: a raw-format reader whose data feeds the tar reader, hashed on
// the way to compute the diff ID.
struct RawSource {
  archive* raw = nullptr;
  Sha256 hash;
  std::vector<char> buf = std::vector<char>(1 << 17);
  bool eof = false;
};

la_ssize_t ReadRaw(archive* a, void* client, const void** out) {
  auto* s = static_cast<RawSource*>(client);
  if (s->eof) return 0;
  la_ssize_t n = archive_read_data(s->raw, s->buf.data(), s->buf.size());
  if (n < 0) {
    archive_set_error(a, EIO, "%s", archive_error_string(s->raw));
    return -1;
  }
  if (n == 0) {
    s->eof = true;
    return 0;
  }
  s->hash.Update(s->buf.data(), static_cast<size_t>(n));
  *out = s->buf.data();
  return n;
}

class Extractor {
 public:
  Extractor(int rootfd, archive* tar) : rootfd_(rootfd), tar_(tar), is_root_(geteuid() == 0) {}

  Status Apply(archive_entry* e) {
    StatusOr<std::vector<std::string>> comps_or = CleanPath(archive_entry_pathname(e));
    if (!comps_or.ok()) return comps_or.status();
    std::vector<std::string>& comps = *comps_or;
    const mode_t type = archive_entry_filetype(e);
    const char* hardlink = archive_entry_hardlink(e);
    if (comps.empty()) {
      // "./": the layer's root directory itself.
      if (type != AE_IFDIR || hardlink != nullptr) return Status::OK();
      MINIK_RETURN_IF_ERROR(SetOwnerMode(rootfd_, e));
      MINIK_RETURN_IF_ERROR(SetXattrs(rootfd_, "", e));
      dir_times_.push_back({comps, Times(e)});
      return Status::OK();
    }
    const std::string name = comps.back();
    comps.pop_back();
    StatusOr<int> parent_or = Parent(comps);
    if (!parent_or.ok()) return parent_or.status();
    const int parent = *parent_or;

    if (name.compare(0, 4, ".wh.") == 0) {
      if (name == ".wh..wh..opq") {
        if (fsetxattr(parent, "trusted.overlay.opaque", "y", 1, 0) != 0) {
          return ErrnoStatus("set trusted.overlay.opaque on /" + JoinPath(comps, comps.size()), errno);
        }
        return Status::OK();
      }
      if (name.compare(0, 8, ".wh..wh.") == 0) return Status::OK();  // aufs metadata
      std::string target = name.substr(4);
      if (target.empty() || target == "." || target == "..") return Status::Invalid("invalid whiteout " + name);
      MINIK_RETURN_IF_ERROR(RemoveExisting(parent, target));
      if (mknodat(parent, target.c_str(), S_IFCHR | 0, makedev(0, 0)) != 0) {
        return ErrnoStatus("whiteout " + target, errno);
      }
      return Status::OK();
    }

    struct stat st;
    bool exists = fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
    if (exists && !(type == AE_IFDIR && hardlink == nullptr && S_ISDIR(st.st_mode))) {
      MINIK_RETURN_IF_ERROR(RemoveExisting(parent, name));
      exists = false;
    }

    if (hardlink != nullptr) {
      StatusOr<std::vector<std::string>> target_or = CleanPath(hardlink);
      if (!target_or.ok()) return target_or.status();
      std::vector<std::string> target = *target_or;
      if (target.empty()) return Status::Invalid("hardlink to the layer root");
      std::string tname = target.back();
      target.pop_back();
      // Parent() may replace the cached descriptor: link through a descriptor of our own.
      Fd link_parent(dup(parent));
      StatusOr<int> tparent = Parent(target);
      if (!tparent.ok()) return tparent.status();
      if (linkat(*tparent, tname.c_str(), link_parent.get(), name.c_str(), 0) != 0) {
        return ErrnoStatus("hardlink " + name + " to " + hardlink, errno);
      }
      return Status::OK();
    }

    const mode_t perm = archive_entry_perm(e) & 07777;
    switch (type) {
      case AE_IFDIR: {
        if (!exists && mkdirat(parent, name.c_str(), 0700) != 0) return ErrnoStatus("mkdir " + name, errno);
        Fd fd(openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (fd.get() < 0) return ErrnoStatus("open " + name, errno);
        MINIK_RETURN_IF_ERROR(SetOwnerMode(fd.get(), e));
        MINIK_RETURN_IF_ERROR(SetXattrs(fd.get(), "", e));
        comps.push_back(name);
        dir_times_.push_back({comps, Times(e)});
        return Status::OK();
      }
      case AE_IFREG: {
        Fd fd(openat(parent, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
        if (fd.get() < 0) return ErrnoStatus("create " + name, errno);
        const void* buf;
        size_t size;
        la_int64_t offset;
        while (true) {
          int r = archive_read_data_block(tar_, &buf, &size, &offset);
          if (r == ARCHIVE_EOF) break;
          if (r < ARCHIVE_WARN) return Status::Invalid(std::string("read ") + name + ": " + archive_error_string(tar_));
          const char* p = static_cast<const char*>(buf);
          while (size > 0) {
            ssize_t n = pwrite(fd.get(), p, size, offset);
            if (n < 0) {
              if (errno == EINTR) continue;
              return ErrnoStatus("write " + name, errno);
            }
            p += n;
            size -= static_cast<size_t>(n);
            offset += n;
          }
        }
        if (archive_entry_size_is_set(e) && ftruncate(fd.get(), archive_entry_size(e)) != 0) {
          return ErrnoStatus("truncate " + name, errno);
        }
        MINIK_RETURN_IF_ERROR(SetOwnerMode(fd.get(), e));
        MINIK_RETURN_IF_ERROR(SetXattrs(fd.get(), "", e));
        timespec ts[2];
        Times(e, ts);
        futimens(fd.get(), ts);
        return Status::OK();
      }
      case AE_IFLNK: {
        const char* target = archive_entry_symlink(e);
        if (target == nullptr) return Status::Invalid("symlink " + name + " without a target");
        if (symlinkat(target, parent, name.c_str()) != 0) return ErrnoStatus("symlink " + name, errno);
        if (fchownat(parent, name.c_str(), archive_entry_uid(e), archive_entry_gid(e), AT_SYMLINK_NOFOLLOW) != 0 &&
            (is_root_ || errno != EPERM)) {
          return ErrnoStatus("chown " + name, errno);
        }
        MINIK_RETURN_IF_ERROR(SetXattrs(parent, name, e));
        timespec ts[2];
        Times(e, ts);
        utimensat(parent, name.c_str(), ts, AT_SYMLINK_NOFOLLOW);
        return Status::OK();
      }
      case AE_IFCHR:
      case AE_IFBLK:
      case AE_IFIFO: {
        dev_t dev = type == AE_IFIFO ? 0 : makedev(archive_entry_rdevmajor(e), archive_entry_rdevminor(e));
        if (mknodat(parent, name.c_str(), type | perm, dev) != 0) return ErrnoStatus("mknod " + name, errno);
        if (fchownat(parent, name.c_str(), archive_entry_uid(e), archive_entry_gid(e), AT_SYMLINK_NOFOLLOW) != 0 &&
            (is_root_ || errno != EPERM)) {
          return ErrnoStatus("chown " + name, errno);
        }
        if (fchmodat(parent, name.c_str(), perm, 0) != 0) return ErrnoStatus("chmod " + name, errno);
        MINIK_RETURN_IF_ERROR(SetXattrs(parent, name, e));
        timespec ts[2];
        Times(e, ts);
        utimensat(parent, name.c_str(), ts, AT_SYMLINK_NOFOLLOW);
        return Status::OK();
      }
      default:
        return Status::OK();  // sockets and unknown types are not part of a filesystem image
    }
  }

  // Directory times last: creating entries inside a directory changes its mtime.
  Status Finish() {
    for (auto& [comps, ts] : dir_times_) {
      if (comps.empty()) {
        futimens(rootfd_, ts.t);
        continue;
      }
      std::vector<std::string> parent = comps;
      std::string name = parent.back();
      parent.pop_back();
      StatusOr<int> fd = Parent(parent);
      if (!fd.ok()) return fd.status();
      utimensat(*fd, name.c_str(), ts.t, AT_SYMLINK_NOFOLLOW);
    }
    cached_.Reset();
    return Status::OK();
  }

 private:
  struct TimePair {
    timespec t[2];
  };

  static void Times(archive_entry* e, timespec ts[2]) {
    ts[1].tv_sec = archive_entry_mtime(e);
    ts[1].tv_nsec = archive_entry_mtime_nsec(e);
    if (archive_entry_atime_is_set(e)) {
      ts[0].tv_sec = archive_entry_atime(e);
      ts[0].tv_nsec = archive_entry_atime_nsec(e);
    } else {
      ts[0] = ts[1];
    }
  }
  static TimePair Times(archive_entry* e) {
    TimePair p;
    Times(e, p.t);
    return p;
  }

  Status SetOwnerMode(int fd, archive_entry* e) {
    if (fchown(fd, archive_entry_uid(e), archive_entry_gid(e)) != 0 && (is_root_ || errno != EPERM)) {
      return ErrnoStatus(std::string("chown ") + archive_entry_pathname(e), errno);
    }
    // After chown, which clears set-user-ID bits.
    if (fchmod(fd, archive_entry_perm(e) & 07777) != 0) {
      return ErrnoStatus(std::string("chmod ") + archive_entry_pathname(e), errno);
    }
    return Status::OK();
  }

  // On fd itself when name is empty, else on the entry name inside directory fd (not followed).
  Status SetXattrs(int fd, const std::string& name, archive_entry* e) {
    if (archive_entry_xattr_reset(e) == 0) return Status::OK();
    const char* xname;
    const void* value;
    size_t size;
    std::string proc_path;
    if (!name.empty()) proc_path = "/proc/self/fd/" + std::to_string(fd) + "/" + name;
    while (archive_entry_xattr_next(e, &xname, &value, &size) == ARCHIVE_OK) {
      int rc =
          name.empty() ? fsetxattr(fd, xname, value, size, 0) : lsetxattr(proc_path.c_str(), xname, value, size, 0);
      if (rc != 0) {
        if (errno == ENOTSUP || errno == EPERM) {
          MINIK_LOG(Warning) << "layer entry " << archive_entry_pathname(e) << ": xattr " << xname
                             << " not set: " << std::strerror(errno);
          continue;
        }
        return ErrnoStatus(std::string("set xattr ") + xname + " on " + archive_entry_pathname(e), errno);
      }
    }
    return Status::OK();
  }

  Status RemoveExisting(int parent, const std::string& name) {
    struct stat st;
    if (fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return Status::OK();
    if (S_ISDIR(st.st_mode)) {
      // The cached parent may live under the directory going away: stop reusing it (it stays
      // open, so parent, which may be it, remains valid for the caller).
      cached_valid_ = false;
      return RemoveTreeAt(parent, name.c_str());
    }
    if (unlinkat(parent, name.c_str(), 0) != 0) return ErrnoStatus("unlink " + name, errno);
    return Status::OK();
  }

  // The directory holding an entry, created (0755) when missing. Borrowed descriptor, valid
  // until the next call. A component that is a symlink or a file is refused.
  StatusOr<int> Parent(const std::vector<std::string>& comps) {
    if (comps.empty()) return rootfd_;
    std::string key = JoinPath(comps, comps.size());
    if (cached_valid_ && key == cached_path_) return cached_.get();
    Fd cur;
    int curfd = rootfd_;
    for (size_t i = 0; i < comps.size(); ++i) {
      const char* c = comps[i].c_str();
      int next = openat(curfd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (next < 0 && errno == ENOENT) {
        if (mkdirat(curfd, c, 0755) != 0 && errno != EEXIST)
          return ErrnoStatus("mkdir " + JoinPath(comps, i + 1), errno);
        next = openat(curfd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      }
      if (next < 0) {
        int err = errno;
        struct stat st;
        if ((err == ELOOP || err == ENOTDIR) && fstatat(curfd, c, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISLNK(st.st_mode)) {
          return Status::Invalid("path \"" + key + "\" crosses the symlink \"" + JoinPath(comps, i + 1) + "\"");
        }
        if (err == ENOTDIR)
          return Status::Invalid("path \"" + key + "\": \"" + JoinPath(comps, i + 1) + "\" is not a directory");
        return ErrnoStatus("open " + JoinPath(comps, i + 1), err);
      }
      cur = Fd(next);
      curfd = next;
    }
    cached_ = std::move(cur);
    cached_path_ = key;
    cached_valid_ = true;
    return cached_.get();
  }

  const int rootfd_;
  archive* tar_;
  const bool is_root_;
  Fd cached_;
  std::string cached_path_;
  bool cached_valid_ = false;
  std::vector<std::pair<std::vector<std::string>, TimePair>> dir_times_;
};

}  // namespace

Status RemoveTree(const std::string& path) {
  if (path.empty() || path == "/") return Status::Invalid("refusing to remove \"" + path + "\"");
  return RemoveTreeAt(AT_FDCWD, path.c_str());
}

StatusOr<std::string> UnpackLayer(const std::string& blob_path, const std::string& dest) {
  auto fail = [&](const std::string& msg) { return Status::Invalid("unpack " + blob_path + ": " + msg); };
  RawSource src;
  ArchivePtr raw(archive_read_new(), archive_read_free);
  archive_read_support_filter_all(raw.get());
  archive_read_support_format_raw(raw.get());
  src.raw = raw.get();
  if (archive_read_open_filename(raw.get(), blob_path.c_str(), 1 << 17) != ARCHIVE_OK) {
    return fail(archive_error_string(raw.get()));
  }
  archive_entry* raw_entry;
  int r = archive_read_next_header(raw.get(), &raw_entry);
  if (r == ARCHIVE_EOF) return fail("empty layer blob");
  if (r < ARCHIVE_WARN) return fail(archive_error_string(raw.get()));

  ArchivePtr tar(archive_read_new(), archive_read_free);
  archive_read_support_format_tar(tar.get());
  archive_read_support_format_empty(tar.get());
  if (archive_read_open(tar.get(), &src, nullptr, ReadRaw, nullptr) != ARCHIVE_OK) {
    return fail(archive_error_string(tar.get()));
  }
  Fd root(open(dest.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (root.get() < 0) return ErrnoStatus("open " + dest, errno);
  Extractor ex(root.get(), tar.get());
  while (true) {
    archive_entry* e;
    r = archive_read_next_header(tar.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) return fail(archive_error_string(tar.get()));
    Status st = ex.Apply(e);
    if (!st.ok()) {
      const char* p = archive_entry_pathname(e);
      return st.WithContext("unpack " + blob_path + ": " + (p ? p : "?"));
    }
  }
  MINIK_RETURN_IF_ERROR(ex.Finish());
  // The tar reader stops at the end-of-archive blocks; the diff ID covers the whole stream.
  while (true) {
    la_ssize_t n = archive_read_data(raw.get(), src.buf.data(), src.buf.size());
    if (n < 0) return fail(archive_error_string(raw.get()));
    if (n == 0) break;
    src.hash.Update(src.buf.data(), static_cast<size_t>(n));
  }
  return src.hash.Digest();
}

}  // namespace minik::agent::images
