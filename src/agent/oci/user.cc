#include "agent/oci/user.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <deque>
#include <set>

#include "common/strings.h"

namespace minik::agent::oci {
namespace {

struct PasswdEntry {
  std::string name;
  int64_t uid = 0;
  int64_t gid = 0;
};

struct GroupEntry {
  std::string name;
  int64_t gid = 0;
  std::vector<std::string> members;
};

// Go's strconv.Atoi on the whole string (no sign other than '-', no spaces).
bool Atoi(std::string_view s, int64_t* out) { return !s.empty() && ParseInt64(s, out); }

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  for (auto line : Split(text, '\n')) {
    line = Trim(line);
    if (line.empty() || line[0] == '#') continue;
    out.emplace_back(line);
  }
  return out;
}

std::vector<PasswdEntry> ParsePasswd(const std::string& text) {
  std::vector<PasswdEntry> out;
  for (const auto& line : Lines(text)) {
    auto f = Split(line, ':');
    PasswdEntry e;
    e.name = std::string(f[0]);
    if (f.size() > 2) Atoi(f[2], &e.uid);
    if (f.size() > 3) Atoi(f[3], &e.gid);
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<GroupEntry> ParseGroup(const std::string& text) {
  std::vector<GroupEntry> out;
  for (const auto& line : Lines(text)) {
    auto f = Split(line, ':');
    GroupEntry e;
    e.name = std::string(f[0]);
    if (f.size() > 2) Atoi(f[2], &e.gid);
    if (f.size() > 3 && !f[3].empty()) {
      for (auto m : Split(f[3], ',')) e.members.emplace_back(m);
    }
    out.push_back(std::move(e));
  }
  return out;
}

Status InvalidUser(const std::string& user, const char* what) {
  return Status::Invalid("invalid USER value \"" + user + "\": " + what + " out of range");
}

// Parses a numeric id as containerd does: Atoi, then 0..MaxInt32. Returns false when it is not a
// number; sets *range_error when it is one but out of range.
bool NumericId(std::string_view s, int64_t* out, bool* range_error) {
  *range_error = false;
  if (!Atoi(s, out)) {
    // Atoi also fails on overflow: a string of digits too long is a range error in Go.
    bool digits = !s.empty() &&
                  std::all_of(s.begin() + (s[0] == '-' ? 1 : 0), s.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (digits && s.size() > (s[0] == '-' ? 1u : 0u)) *range_error = true;
    return false;
  }
  if (*out < 0 || *out > INT32_MAX) *range_error = true;
  return true;
}

StatusOr<std::vector<PasswdEntry>> ReadPasswd(const std::string& rootfs) {
  auto text = ReadFileInRoot(rootfs, "/etc/passwd");
  if (!text.ok()) return text.status();
  return ParsePasswd(*text);
}

StatusOr<std::vector<GroupEntry>> ReadGroup(const std::string& rootfs) {
  auto text = ReadFileInRoot(rootfs, "/etc/group");
  if (!text.ok()) return text.status();
  return ParseGroup(*text);
}

void EnsurePrimary(ResolvedUser* u) {
  if (std::find(u->additional_gids.begin(), u->additional_gids.end(), u->gid) == u->additional_gids.end()) {
    u->additional_gids.insert(u->additional_gids.begin(), u->gid);
  }
}

}  // namespace

StatusOr<std::string> ResolveInRoot(const std::string& rootfs, const std::string& path) {
  std::string root = rootfs;
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  std::deque<std::string> todo;
  for (auto p : Split(path, '/')) todo.emplace_back(p);
  std::vector<std::string> current;
  int links = 0;
  while (!todo.empty()) {
    std::string part = std::move(todo.front());
    todo.pop_front();
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (!current.empty()) current.pop_back();
      continue;
    }
    std::string host = root;
    for (const auto& c : current) host += "/" + c;
    host += "/" + part;
    struct stat st {};
    if (lstat(host.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) {
      current.push_back(part);
      continue;
    }
    if (++links > 255)
      return Status::Invalid("resolving " + path + " in " + rootfs + ": too many levels of symbolic links");
    char buf[PATH_MAX];
    ssize_t n = readlink(host.c_str(), buf, sizeof(buf) - 1);
    if (n < 0) return Status::Internal("readlink " + host + ": " + strerror(errno));
    std::string target(buf, static_cast<size_t>(n));
    if (!target.empty() && target[0] == '/') current.clear();
    auto parts = Split(target, '/');
    for (auto it = parts.rbegin(); it != parts.rend(); ++it) todo.emplace_front(*it);
  }
  std::string out = root;
  for (const auto& c : current) out += "/" + c;
  return out;
}

StatusOr<std::string> ReadFileInRoot(const std::string& rootfs, const std::string& path) {
  auto host = ResolveInRoot(rootfs, path);
  if (!host.ok()) return host.status();
  int fd = open(host->c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    std::string msg = "open " + path + ": " + strerror(err);
    if (err == ENOENT || err == ENOTDIR) {
      msg = "open " + path + ": no such file or directory";
      return Status::NotFound(msg);
    }
    return Status::Internal(msg);
  }
  std::string out;
  char buf[8192];
  while (true) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      close(fd);
      return Status::Internal("read " + path + ": " + strerror(err));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > (64u << 20)) break;
  }
  close(fd);
  return out;
}

StatusOr<ResolvedUser> ResolveUser(const std::string& rootfs, const std::string& user) {
  ResolvedUser out;
  if (user.empty()) {
    EnsurePrimary(&out);
    return out;
  }
  auto parts = Split(user, ':');
  if (parts.size() == 1) {
    int64_t id = 0;
    bool range = false;
    if (NumericId(parts[0], &id, &range)) {
      if (range) return InvalidUser(user, "uid");
      // WithUserID: the passwd entry's gid, or 0 without one.
      out.uid = static_cast<uint32_t>(id);
      auto pw = ReadPasswd(rootfs);
      if (!pw.ok() && !pw.status().IsNotFound()) return pw.status();
      if (pw.ok()) {
        for (const auto& e : *pw) {
          if (e.uid == id) {
            out.gid = static_cast<uint32_t>(e.gid);
            break;
          }
        }
      }
      EnsurePrimary(&out);
      return out;
    }
    if (range) return InvalidUser(user, "uid");
    // WithUsername: must exist.
    auto pw = ReadPasswd(rootfs);
    if (!pw.ok()) return pw.status();
    for (const auto& e : *pw) {
      if (e.name == user) {
        out.uid = static_cast<uint32_t>(e.uid);
        out.gid = static_cast<uint32_t>(e.gid);
        EnsurePrimary(&out);
        return out;
      }
    }
    return Status::Invalid("no users found");
  }
  if (parts.size() != 2) return Status::Invalid("invalid USER value " + user);
  std::string username, groupname;
  int64_t uid = 0, gid = 0;
  bool range = false;
  if (!NumericId(parts[0], &uid, &range)) {
    if (range) return InvalidUser(user, "uid");
    username = std::string(parts[0]);
  } else if (range) {
    return InvalidUser(user, "uid");
  }
  if (!NumericId(parts[1], &gid, &range)) {
    if (range) return InvalidUser(user, "gid");
    groupname = std::string(parts[1]);
  } else if (range) {
    return InvalidUser(user, "gid");
  }
  if (!username.empty()) {
    auto pw = ReadPasswd(rootfs);
    if (!pw.ok()) return pw.status();
    bool found = false;
    for (const auto& e : *pw) {
      if (e.name == username) {
        uid = e.uid;
        found = true;
        break;
      }
    }
    if (!found) return Status::Invalid("no users found");
  }
  if (!groupname.empty()) {
    auto gr = ReadGroup(rootfs);
    if (!gr.ok()) return gr.status();
    bool found = false;
    for (const auto& e : *gr) {
      if (e.name == groupname) {
        gid = e.gid;
        found = true;
        break;
      }
    }
    if (!found) return Status::Invalid("no groups found");
  }
  out.uid = static_cast<uint32_t>(uid);
  out.gid = static_cast<uint32_t>(gid);
  EnsurePrimary(&out);
  return out;
}

StatusOr<std::vector<uint32_t>> SupplementaryGroups(const std::string& rootfs, const std::string& user) {
  std::string name = user;
  int64_t uid = 0;
  if (Atoi(user, &uid)) {
    auto pw = ReadPasswd(rootfs);
    if (!pw.ok()) {
      if (pw.status().IsNotFound()) return std::vector<uint32_t>{};
      return pw.status();
    }
    auto it = std::find_if(pw->begin(), pw->end(), [&](const PasswdEntry& e) { return e.uid == uid; });
    if (it == pw->end()) return std::vector<uint32_t>{};
    name = it->name;
  }
  auto gr = ReadGroup(rootfs);
  if (!gr.ok()) {
    if (gr.status().IsNotFound()) return std::vector<uint32_t>{};
    return gr.status();
  }
  std::vector<uint32_t> out;
  for (const auto& g : *gr) {
    if (g.name == name) continue;
    if (std::find(g.members.begin(), g.members.end(), name) != g.members.end()) {
      out.push_back(static_cast<uint32_t>(g.gid));
    }
  }
  return out;
}

StatusOr<ResolvedUser> ResolveContainerUser(const std::string& rootfs, const std::string& image_user,
                                            std::optional<int64_t> run_as_user, std::optional<int64_t> run_as_group,
                                            const std::vector<int64_t>& supplemental_groups) {
  // The kubelet: without runAsUser, the user part of the image's User (CRI ImageStatus gives a
  // uid, or a username when it is not numeric).
  std::string run_as_username;
  if (!run_as_user && !image_user.empty()) {
    std::string part(Split(image_user, ':')[0]);
    int64_t id = 0;
    if (ParseInt64(part, &id)) {
      run_as_user = id;
    } else {
      run_as_username = part;
    }
  }
  // containerd's generateUserString.
  std::string userstr;
  if (run_as_user) userstr = std::to_string(*run_as_user);
  if (!run_as_username.empty()) userstr = run_as_username;
  std::string groupstr = run_as_group ? std::to_string(*run_as_group) : "";
  if (userstr.empty() && !groupstr.empty()) {
    return Status::Invalid("user group \"" + groupstr + "\" is specified without user");
  }
  if (!groupstr.empty()) userstr += ":" + groupstr;
  if (userstr.empty()) userstr = image_user;

  auto resolved = ResolveUser(rootfs, userstr);
  if (!resolved.ok()) return resolved.status();
  ResolvedUser out = *resolved;

  std::string gids_user = !run_as_username.empty() ? run_as_username : std::to_string(run_as_user ? *run_as_user : 0);
  auto groups = SupplementaryGroups(rootfs, gids_user);
  if (!groups.ok()) return groups.status();
  std::set<uint32_t> all(out.additional_gids.begin(), out.additional_gids.end());
  all.insert(groups->begin(), groups->end());
  for (int64_t g : supplemental_groups) all.insert(static_cast<uint32_t>(g));
  out.additional_gids.assign(all.begin(), all.end());
  return out;
}

}  // namespace minik::agent::oci
