// Shared helpers of the volumes tests: a temporary directory that unmounts whatever is mounted
// under it and removes itself (even when a test fails), and JSON parsing.
#pragma once

#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "agent/volumes/mounter.h"
#include "common/json.h"

namespace minik::agent::volumes::testing {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/minik-volumes-test-XXXXXX";
    char* p = ::mkdtemp(tmpl);
    path_ = p ? p : "";
  }
  ~TempDir() {
    if (path_.empty()) return;
    auto m = NewRealMounter();
    for (const auto& mp : m->MountPointsUnder(path_)) (void)m->Unmount(mp);
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline JsonDoc Parse(std::string_view text) {
  auto d = ParseJson(text);
  if (!d.ok()) throw std::runtime_error("bad test JSON: " + d.status().ToString());
  return std::move(d).value();
}

inline std::string ReadAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline void WriteAll(const std::string& path, const std::string& content) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << content;
}

inline bool IsRoot() { return ::geteuid() == 0; }

}  // namespace minik::agent::volumes::testing
