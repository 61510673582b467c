#include "agent/runtime/cri_log.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <vector>

namespace minik::agent::runtime {

namespace {

constexpr int64_t kNsPerSec = 1000000000;

std::string Errno(const char* what, const std::string& path) {
  return std::string(what) + " " + path + ": " + std::strerror(errno);
}

bool WriteAll(int fd, const struct iovec* iov, int n) {
  std::vector<struct iovec> v(iov, iov + n);
  size_t i = 0;
  while (i < v.size()) {
    ssize_t w = writev(fd, v.data() + i, static_cast<int>(v.size() - i));
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    size_t left = static_cast<size_t>(w);
    while (i < v.size() && left >= v[i].iov_len) left -= v[i++].iov_len;
    if (i < v.size()) {
      v[i].iov_base = static_cast<char*>(v[i].iov_base) + left;
      v[i].iov_len -= left;
    }
  }
  return true;
}

}  // namespace

// "YYYY-MM-DDThh:mm:ss" of the seconds of unix_ns into buf (19 bytes), and the fraction's ns.
// Plain arithmetic (days to civil date as in Howard Hinnant's algorithm), no gmtime or printf:
// the shim formats one of these per log line and keeps its resident code small.
static void FormatSeconds(int64_t unix_ns, char* buf, int64_t* frac) {
  int64_t secs = unix_ns / kNsPerSec;
  *frac = unix_ns % kNsPerSec;
  if (*frac < 0) {
    *frac += kNsPerSec;
    secs -= 1;
  }
  int64_t days = secs / 86400, rem = secs % 86400;
  if (rem < 0) {
    rem += 86400;
    days -= 1;
  }
  int64_t z = days + 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  int64_t day = doy - (153 * mp + 2) / 5 + 1;
  int64_t month = mp < 10 ? mp + 3 : mp - 9;
  int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  auto put = [](char* p, int64_t v, int width) {
    for (int i = width - 1; i >= 0; --i) {
      p[i] = static_cast<char>('0' + v % 10);
      v /= 10;
    }
  };
  put(buf, year < 0 ? 0 : year, 4);
  buf[4] = '-';
  put(buf + 5, month, 2);
  buf[7] = '-';
  put(buf + 8, day, 2);
  buf[10] = 'T';
  put(buf + 11, rem / 3600, 2);
  buf[13] = ':';
  put(buf + 14, rem / 60 % 60, 2);
  buf[16] = ':';
  put(buf + 17, rem % 60, 2);
}

std::string FormatRFC3339Nano(int64_t unix_ns) {
  char buf[32];
  int64_t frac;
  FormatSeconds(unix_ns, buf, &frac);
  size_t n = 19;
  if (frac != 0) {
    buf[n++] = '.';
    for (int64_t div = 100000000; div > 0 && frac != 0; div /= 10) {
      buf[n++] = static_cast<char>('0' + frac / div);
      frac %= div;
    }
  }
  buf[n++] = 'Z';
  return std::string(buf, n);
}

std::string FormatRFC3339NanoFixed(int64_t unix_ns) {
  char buf[32];
  int64_t frac;
  FormatSeconds(unix_ns, buf, &frac);
  buf[19] = '.';
  for (int i = 28; i >= 20; --i) {
    buf[i] = static_cast<char>('0' + frac % 10);
    frac /= 10;
  }
  buf[29] = 'Z';
  return std::string(buf, 30);
}

int64_t WallNowNs() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * kNsPerSec + ts.tv_nsec;
}

std::string RotatedLogName(const std::string& path, int64_t unix_ns) {
  time_t tt = static_cast<time_t>(unix_ns / kNsPerSec);
  std::tm tm{};
  localtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", &tm);
  return path + "." + buf;
}

// ---------------------------------------------------------------------------------------------
// Writer

StatusOr<std::unique_ptr<CriLogWriter>> CriLogWriter::Open(const std::string& path, CriLogWriterOptions opts,
                                                           std::function<int64_t()> now_ns) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0) return Status::Internal(Errno("open log file", path));
  struct stat st;
  int64_t size = fstat(fd, &st) == 0 ? st.st_size : 0;
  if (opts.max_line == 0) opts.max_line = 16 * 1024;
  if (!now_ns) now_ns = WallNowNs;
  return std::unique_ptr<CriLogWriter>(new CriLogWriter(path, opts, std::move(now_ns), fd, size));
}

CriLogWriter::CriLogWriter(std::string path, CriLogWriterOptions opts, std::function<int64_t()> now_ns, int fd,
                           int64_t size)
    : path_(std::move(path)), opts_(opts), now_ns_(std::move(now_ns)), fd_(fd), size_(size) {}

CriLogWriter::~CriLogWriter() {
  if (fd_ >= 0) close(fd_);
}

void CriLogWriter::Write(Stream stream, std::string_view data) {
  std::string& p = pending_[static_cast<int>(stream)];
  while (!data.empty()) {
    size_t nl = data.find('\n');
    if (nl != std::string_view::npos) {
      std::string_view chunk = data.substr(0, nl);
      if (p.empty()) {
        EmitLine(stream, chunk);
      } else {
        p.append(chunk);
        EmitLine(stream, p);
        p.clear();
      }
      data.remove_prefix(nl + 1);
      continue;
    }
    // An incomplete line: cut P records while it exceeds max_line, keep the
    // rest.
    while (p.size() + data.size() > opts_.max_line) {
      size_t take = opts_.max_line - p.size();
      if (p.empty()) {
        Emit(stream, true, data.substr(0, take));
      } else {
        p.append(data.substr(0, take));
        Emit(stream, true, p);
        p.clear();
      }
      data.remove_prefix(take);
    }
    p.append(data);
    break;
  }
  if (p.empty() && p.capacity() > 256) p.shrink_to_fit();
}

void CriLogWriter::Close(Stream stream) {
  std::string& p = pending_[static_cast<int>(stream)];
  if (!p.empty()) Emit(stream, true, p);
  p.clear();
  p.shrink_to_fit();
}

void CriLogWriter::EmitLine(Stream stream, std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  while (line.size() > opts_.max_line) {
    Emit(stream, true, line.substr(0, opts_.max_line));
    line.remove_prefix(opts_.max_line);
  }
  Emit(stream, false, line);
}

void CriLogWriter::Emit(Stream stream, bool partial, std::string_view content) {
  if (opts_.max_size > 0 && size_ >= opts_.max_size) Rotate();
  if (fd_ < 0) return;
  std::string prefix = FormatRFC3339Nano(now_ns_());
  prefix += stream == Stream::kStdout ? " stdout " : " stderr ";
  prefix += partial ? "P " : "F ";
  char nl = '\n';
  struct iovec iov[3] = {{prefix.data(), prefix.size()}, {const_cast<char*>(content.data()), content.size()}, {&nl, 1}};
  // Write errors are dropped: the container's output must keep draining (as
  // containerd does).
  if (WriteAll(fd_, iov, 3)) size_ += static_cast<int64_t>(prefix.size() + content.size() + 1);
}

void CriLogWriter::Rotate() {
  std::string rotated = RotatedLogName(path_, now_ns_());
  if (rename(path_.c_str(), rotated.c_str()) != 0) return;  // keep writing where we are
  int fd = open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0) return;
  close(fd_);
  fd_ = fd;
  size_ = 0;
  ++rotations_;
  // Keep at most max_files-1 rotated files (the kubelet's removeExcessLogs),
  // oldest first out.
  size_t slash = path_.rfind('/');
  std::string dir = slash == std::string::npos ? "." : path_.substr(0, slash);
  std::string base = (slash == std::string::npos ? path_ : path_.substr(slash + 1)) + ".";
  DIR* d = opendir(dir.c_str());
  if (!d) return;
  std::vector<std::string> rotated_files;
  while (struct dirent* e = readdir(d)) {
    std::string_view name = e->d_name;
    if (name.size() > base.size() && name.substr(0, base.size()) == base &&
        name.substr(name.size() - std::min<size_t>(name.size(), 4)) != ".tmp") {
      rotated_files.emplace_back(name);
    }
  }
  closedir(d);
  std::sort(rotated_files.begin(), rotated_files.end());
  int keep = std::max(opts_.max_files - 1, 0);
  for (size_t i = 0; i + keep < rotated_files.size(); ++i) unlink((dir + "/" + rotated_files[i]).c_str());
}

// ---------------------------------------------------------------------------------------------
// Formatter

CriLogFormatter::CriLogFormatter(LogReadOptions opts)
    : opts_(std::move(opts)),
      remaining_bytes_(opts_.limit_bytes >= 0 ? opts_.limit_bytes : INT64_MAX),
      remaining_lines_(opts_.tail_lines >= 0 && !opts_.follow ? opts_.tail_lines : -1) {
  if (remaining_bytes_ == 0 || remaining_lines_ == 0) done_ = true;
}

size_t CriLogFormatter::Feed(std::string_view data, bool at_eof, std::string* out) {
  size_t consumed = 0;
  while (!done_ && consumed < data.size()) {
    std::string_view rest = data.substr(consumed);
    size_t nl = rest.find('\n');
    if (nl == std::string_view::npos) {
      if (!at_eof) break;
      FormatLine(rest, out);
      consumed = data.size();
      break;
    }
    FormatLine(rest.substr(0, nl + 1), out);
    consumed += nl + 1;
  }
  if (done_) consumed = data.size();
  return consumed;
}

void CriLogFormatter::FormatLine(std::string_view line, std::string* out) {
  // "<timestamp> <stream> <tag[:more]> <content>"
  size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return;
  int64_t ts;
  if (!ParseRFC3339Nano(line.substr(0, sp1), &ts)) return;
  std::string_view rest = line.substr(sp1 + 1);
  size_t sp2 = rest.find(' ');
  if (sp2 == std::string_view::npos) return;
  std::string_view stream = rest.substr(0, sp2);
  if (stream != "stdout" && stream != "stderr") return;
  rest = rest.substr(sp2 + 1);
  size_t sp3 = rest.find(' ');
  if (sp3 == std::string_view::npos) return;
  std::string_view tag = rest.substr(0, sp3);
  bool partial = tag.substr(0, tag.find(':')) == "P";
  std::string_view content = rest.substr(sp3 + 1);
  if (partial && !content.empty() && content.back() == '\n') content.remove_suffix(1);

  if (remaining_lines_ > 0 && --remaining_lines_ == 0) done_ = true;
  if (ts < opts_.since_ns) return;
  if (!opts_.stream.empty() && stream != opts_.stream) return;
  std::string prefix;
  if (opts_.timestamps) prefix = FormatRFC3339NanoFixed(ts) + " ";
  int64_t len = static_cast<int64_t>(prefix.size() + content.size());
  if (len >= remaining_bytes_) {
    std::string all = prefix;
    all.append(content);
    out->append(all, 0, static_cast<size_t>(remaining_bytes_));
    remaining_bytes_ = 0;
    done_ = true;
    return;
  }
  out->append(prefix);
  out->append(content);
  remaining_bytes_ -= len;
}

// ---------------------------------------------------------------------------------------------
// Reader

namespace {

// The offset where the last n complete lines start (the kubelet's
// FindTailLineStartIndex: an incomplete last line does not count).
StatusOr<int64_t> TailStart(int fd, int64_t n) {
  if (n < 0) return int64_t{0};
  struct stat st;
  if (fstat(fd, &st) != 0) return Status::Internal(std::string("fstat: ") + std::strerror(errno));
  int64_t size = st.st_size;
  constexpr int64_t kBlock = 32 * 1024;
  std::vector<char> buf;
  int64_t count = 0;  // newlines seen from the end
  for (int64_t right = size; right > 0;) {
    int64_t left = std::max<int64_t>(0, right - kBlock);
    buf.resize(static_cast<size_t>(right - left));
    ssize_t r = pread(fd, buf.data(), buf.size(), left);
    if (r != static_cast<ssize_t>(buf.size())) return Status::Internal("short read while tailing log");
    for (int64_t i = static_cast<int64_t>(buf.size()) - 1; i >= 0; --i) {
      if (buf[i] != '\n') continue;
      // The newline ending line number count+1 from the end; the (n)th line
      // from the end starts right after the newline of the (n+1)th.
      if (++count == n + 1) return left + i + 1;
    }
    right = left;
  }
  return int64_t{0};
}

}  // namespace

StatusOr<std::unique_ptr<CriLogReader>> CriLogReader::Open(const std::string& path, LogReadOptions opts) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::NotFound("failed to open log file \"" + path + "\": " + std::strerror(errno));
  auto start = TailStart(fd, opts.tail_lines);
  if (!start.ok()) {
    close(fd);
    return start.status();
  }
  if (lseek(fd, *start, SEEK_SET) < 0) {
    close(fd);
    return Status::Internal(Errno("seek", path));
  }
  return std::unique_ptr<CriLogReader>(new CriLogReader(path, std::move(opts), fd));
}

CriLogReader::CriLogReader(std::string path, LogReadOptions opts, int fd)
    : path_(std::move(path)), opts_(opts), formatter_(opts), fd_(fd) {}

CriLogReader::~CriLogReader() {
  if (fd_ >= 0) close(fd_);
}

bool CriLogReader::Rotated() const {
  struct stat now, cur;
  if (fstat(fd_, &cur) != 0) return false;
  if (stat(path_.c_str(), &now) != 0) return false;  // gone: wait for the new one
  return now.st_ino != cur.st_ino || now.st_dev != cur.st_dev;
}

Status CriLogReader::ReadAvailable(std::string* out, size_t max_output) {
  more_ = false;
  char buf[64 * 1024];
  size_t start_size = out->size();
  while (!formatter_.done()) {
    if (max_output > 0 && out->size() - start_size >= max_output) {
      more_ = true;
      return Status::OK();
    }
    ssize_t r = read(fd_, buf, sizeof buf);
    if (r < 0) {
      if (errno == EINTR) continue;
      return Status::Internal(Errno("read log file", path_));
    }
    if (r > 0) {
      std::string_view data(buf, static_cast<size_t>(r));
      if (!carry_.empty()) {
        carry_.append(data);
        size_t used = formatter_.Feed(carry_, false, out);
        carry_.erase(0, used);
      } else {
        size_t used = formatter_.Feed(data, false, out);
        carry_.assign(data.substr(used));
      }
      continue;
    }
    // End of the file as it is now.
    if (!opts_.follow) {
      if (!carry_.empty()) formatter_.Feed(carry_, true, out);
      carry_.clear();
      return Status::OK();
    }
    if (!Rotated()) return Status::OK();
    // The writer moved on to a new file: what is left of the old one is
    // complete.
    if (!carry_.empty()) formatter_.Feed(carry_, true, out);
    carry_.clear();
    int fd = open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Status::OK();  // not there yet; the next event retries
    close(fd_);
    fd_ = fd;
  }
  return Status::OK();
}

StatusOr<std::string> ReadCriLog(const std::string& path, const LogReadOptions& opts) {
  LogReadOptions o = opts;
  o.follow = false;
  MINIK_ASSIGN_OR_RETURN(auto reader, CriLogReader::Open(path, o));
  std::string out;
  MINIK_RETURN_IF_ERROR(reader->ReadAvailable(&out));
  return out;
}

}  // namespace minik::agent::runtime
