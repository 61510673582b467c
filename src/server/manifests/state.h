// The deployer's persistent record of which objects each manifest file created, so that an
// object removed from a file is pruned, across restarts. Stored as a small JSON file written
// atomically (temp file, fsync, rename):
//   {"files": {"x.yaml": [{"apiVersion": "v1", "kind": "ConfigMap", "namespace": "default",
//                          "name": "a"}, ...]}}
//
// Threading: not thread-safe; owned by the deployer's thread.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/status.h"
#include "server/manifests/object_client.h"

namespace minik::server {

// The same object: same API group (the version may change between applies), kind, namespace
// and name.
bool SameObject(const ObjectRef& a, const ObjectRef& b);

class DeployerState {
 public:
  explicit DeployerState(std::string path) : path_(std::move(path)) {}

  // Reads the file; a missing file is an empty state. A corrupt file is logged and treated as
  // empty (nothing gets pruned by mistake) and returns OK.
  Status Load();
  // Writes the file atomically.
  Status Save() const;

  const std::vector<ObjectRef>* Find(const std::string& file) const;
  void Set(const std::string& file, std::vector<ObjectRef> refs) { files_[file] = std::move(refs); }
  // True if a file other than `file` tracks the object ref names (SameObject).
  bool TrackedElsewhere(const std::string& file, const ObjectRef& ref) const;
  const std::map<std::string, std::vector<ObjectRef>>& files() const { return files_; }

 private:
  std::string path_;
  std::map<std::string, std::vector<ObjectRef>> files_;
};

}  // namespace minik::server
