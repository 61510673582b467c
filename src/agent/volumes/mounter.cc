#include "agent/volumes/mounter.h"

#include <sys/mount.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace minik::agent::volumes {

namespace {

std::string Unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && std::isdigit(static_cast<unsigned char>(s[i + 1]))) {
      int v = (s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0');
      out += static_cast<char>(v);
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

bool Under(const std::string& path, const std::string& dir) {
  if (path == dir) return true;
  std::string prefix = dir.empty() || dir.back() != '/' ? dir + "/" : dir;
  return path.compare(0, prefix.size(), prefix) == 0;
}

std::vector<std::string> DeepestFirst(std::vector<std::string> v) {
  std::sort(v.begin(), v.end(), [](const std::string& a, const std::string& b) {
    auto da = std::count(a.begin(), a.end(), '/'), db = std::count(b.begin(), b.end(), '/');
    return da != db ? da > db : a > b;
  });
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

class RealMounter final : public Mounter {
 public:
  Status MountTmpfs(const std::string& dir, int64_t size_bytes) override {
    std::string data = size_bytes > 0 ? "size=" + std::to_string(size_bytes) : std::string();
    if (::mount("tmpfs", dir.c_str(), "tmpfs", 0, data.empty() ? nullptr : data.c_str()) != 0) {
      return Status::Internal("mount failed: " + std::string(std::strerror(errno)) + "\nMounting command: mount\n" +
                              "Mounting arguments: -t tmpfs" + (data.empty() ? "" : " -o " + data) + " tmpfs " + dir);
    }
    return Status::OK();
  }
  Status Unmount(const std::string& dir) override {
    if (::umount2(dir.c_str(), 0) == 0) return Status::OK();
    if (errno == EBUSY && ::umount2(dir.c_str(), MNT_DETACH) == 0) return Status::OK();
    if (errno == EINVAL || errno == ENOENT) return Status::OK();  // not mounted (any more)
    return Status::Internal("unmount failed: " + std::string(std::strerror(errno)) + "\nUnmounting arguments: " + dir);
  }
  bool IsMountPoint(const std::string& dir) override {
    for (const auto& m : Read()) {
      if (m == dir) return true;
    }
    return false;
  }
  std::vector<std::string> MountPointsUnder(const std::string& dir) override {
    std::vector<std::string> out;
    for (auto& m : Read()) {
      if (Under(m, dir)) out.push_back(std::move(m));
    }
    return DeepestFirst(std::move(out));
  }

 private:
  static std::vector<std::string> Read() {
    std::ifstream f("/proc/self/mountinfo");
    std::stringstream ss;
    ss << f.rdbuf();
    return ParseMountInfoMountPoints(ss.str());
  }
};

}  // namespace

std::vector<std::string> ParseMountInfoMountPoints(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id, parent, devs, root, mount_point;
    if (fields >> id >> parent >> devs >> root >> mount_point) out.push_back(Unescape(mount_point));
  }
  return out;
}

MounterPtr NewRealMounter() { return std::make_unique<RealMounter>(); }

Status FakeMounter::MountTmpfs(const std::string& dir, int64_t size_bytes) {
  std::lock_guard<std::mutex> l(mu_);
  if (!fail_next_.ok()) {
    Status st = std::move(fail_next_);
    fail_next_ = Status::OK();
    return st;
  }
  mounts_.insert(dir);
  log_.push_back("tmpfs " + dir + (size_bytes > 0 ? " size=" + std::to_string(size_bytes) : ""));
  return Status::OK();
}

Status FakeMounter::Unmount(const std::string& dir) {
  std::lock_guard<std::mutex> l(mu_);
  mounts_.erase(dir);
  log_.push_back("umount " + dir);
  return Status::OK();
}

bool FakeMounter::IsMountPoint(const std::string& dir) {
  std::lock_guard<std::mutex> l(mu_);
  return mounts_.count(dir) > 0;
}

std::vector<std::string> FakeMounter::MountPointsUnder(const std::string& dir) {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<std::string> out;
  for (const auto& m : mounts_) {
    if (Under(m, dir)) out.push_back(m);
  }
  return DeepestFirst(std::move(out));
}

void FakeMounter::FailNext(Status st) {
  std::lock_guard<std::mutex> l(mu_);
  fail_next_ = std::move(st);
}

std::vector<std::string> FakeMounter::log() const {
  std::lock_guard<std::mutex> l(mu_);
  return log_;
}

}  // namespace minik::agent::volumes
