#include "server/manifests/state.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common/json.h"
#include "common/log.h"

namespace minik::server {
namespace {

Status WriteFileAtomic(const std::string& path, const std::string& content) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::Internal("open " + tmp + ": " + std::strerror(errno));
  size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::write(fd, content.data() + off, content.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return Status::Internal("write " + tmp + ": " + std::strerror(err));
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    int err = errno;
    ::close(fd);
    return Status::Internal("fsync " + tmp + ": " + std::strerror(err));
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return Status::Internal("rename " + tmp + ": " + std::strerror(errno));
  }
  return Status::OK();
}

std::string_view GroupOf(std::string_view api_version) {
  size_t slash = api_version.find('/');
  return slash == std::string_view::npos ? std::string_view() : api_version.substr(0, slash);
}

}  // namespace

bool SameObject(const ObjectRef& a, const ObjectRef& b) {
  return a.kind == b.kind && a.name == b.name && a.namespace_ == b.namespace_ &&
         GroupOf(a.api_version) == GroupOf(b.api_version);
}

Status DeployerState::Load() {
  files_.clear();
  std::ifstream in(path_, std::ios::binary);
  if (!in) return Status::OK();  // first boot
  std::stringstream ss;
  ss << in.rdbuf();
  auto doc = ParseJson(ss.str());
  const JsonValue* files = doc.ok() ? Member(*doc, "files") : nullptr;
  if (!files || !files->IsObject()) {
    MINIK_LOG(Warning) << "manifests: ignoring unreadable state file " << path_
                       << (doc.ok() ? "" : ": " + doc.status().message());
    return Status::OK();
  }
  for (const auto& f : files->GetObject()) {
    if (!f.value.IsArray()) continue;
    std::vector<ObjectRef> refs;
    for (const JsonValue& r : f.value.GetArray()) {
      ObjectRef ref;
      ref.api_version = std::string(GetString(r, "apiVersion").value_or(""));
      ref.kind = std::string(GetString(r, "kind").value_or(""));
      ref.namespace_ = std::string(GetString(r, "namespace").value_or(""));
      ref.name = std::string(GetString(r, "name").value_or(""));
      if (ref.api_version.empty() || ref.kind.empty() || ref.name.empty()) continue;
      refs.push_back(std::move(ref));
    }
    files_[std::string(f.name.GetString(), f.name.GetStringLength())] = std::move(refs);
  }
  return Status::OK();
}

Status DeployerState::Save() const {
  JsonDoc doc(rapidjson::kObjectType);
  JsonAlloc& a = doc.GetAllocator();
  JsonValue files(rapidjson::kObjectType);
  for (const auto& [file, refs] : files_) {
    JsonValue list(rapidjson::kArrayType);
    for (const ObjectRef& ref : refs) {
      JsonValue r(rapidjson::kObjectType);
      SetString(r, "apiVersion", ref.api_version, a);
      SetString(r, "kind", ref.kind, a);
      if (!ref.namespace_.empty()) SetString(r, "namespace", ref.namespace_, a);
      SetString(r, "name", ref.name, a);
      list.PushBack(std::move(r), a);
    }
    files.AddMember(MakeString(file, a), std::move(list), a);
  }
  doc.AddMember("files", std::move(files), a);
  return WriteFileAtomic(path_, ToPrettyJson(doc) + "\n");
}

const std::vector<ObjectRef>* DeployerState::Find(const std::string& file) const {
  auto it = files_.find(file);
  return it == files_.end() ? nullptr : &it->second;
}

bool DeployerState::TrackedElsewhere(const std::string& file, const ObjectRef& ref) const {
  for (const auto& [f, refs] : files_) {
    if (f == file) continue;
    for (const ObjectRef& r : refs) {
      if (SameObject(r, ref)) return true;
    }
  }
  return false;
}

}  // namespace minik::server
