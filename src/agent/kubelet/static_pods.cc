#include "agent/kubelet/static_pods.h"

#include <openssl/sha.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/yaml.h"

namespace minik::agent::kubelet {
namespace {

namespace fs = std::filesystem;

std::string HashHex(const std::string& data) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), md);
  std::string hex;
  char b[3];
  for (int i = 0; i < 16; ++i) {  // 32 hex digits, the length of the kubelet's md5 hash
    std::snprintf(b, sizeof b, "%02x", md[i]);
    hex += b;
  }
  return hex;
}

}  // namespace

StaticPodsResult LoadStaticPods(const std::string& dir, const std::string& node_name, const Clock& clock) {
  StaticPodsResult out;
  std::error_code ec;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    if (name.empty() || name[0] == '.' || !e.is_regular_file(ec)) continue;
    std::string ext = e.path().extension().string();
    if (ext != ".yaml" && ext != ".yml" && ext != ".json") continue;
    files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    std::ifstream in(f);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string text = ss.str();
    auto doc = YamlToJson(text);
    if (!doc.ok()) {
      out.errors.push_back(f.string() + ": " + doc.error().message());
      continue;
    }
    JsonDoc& pod = *doc;
    if (!pod.IsObject() || GetString(pod, "kind").value_or("") != "Pod") {
      out.errors.push_back(f.string() + ": not a Pod");
      continue;
    }
    auto& a = pod.GetAllocator();
    JsonValue& md = EnsureObject(pod, "metadata", a);
    std::string name(GetString(md, "name").value_or(""));
    if (name.empty()) {
      out.errors.push_back(f.string() + ": metadata.name is required");
      continue;
    }
    std::string ns(GetString(md, "namespace").value_or(""));
    if (ns.empty()) ns = "default";
    std::string uid = HashHex(text + "host:" + node_name);
    SetString(md, "name", name + "-" + node_name, a);
    SetString(md, "namespace", ns, a);
    SetString(md, "uid", uid, a);
    JsonValue& ann = EnsureObject(md, "annotations", a);
    SetString(ann, "kubernetes.io/config.hash", uid, a);
    SetString(ann, "kubernetes.io/config.seen", FormatRFC3339Micro(clock.Now()), a);
    SetString(ann, "kubernetes.io/config.source", "file", a);
    JsonValue& spec = EnsureObject(pod, "spec", a);
    SetString(spec, "nodeName", node_name, a);
    RemoveMember(pod, "status");
    out.pods.push_back(std::make_shared<const JsonDoc>(std::move(pod)));
  }
  return out;
}

}  // namespace minik::agent::kubelet
