// Test helpers: OCI image layouts built from scratch, a real docker-registry process on a free
// loopback port (killed and its directory removed in the destructor, even when a test fails),
// skopeo pushes, and an in-process HTTP server on its own thread for fault injection.
#pragma once

#include <arpa/inet.h>
#include <crypt.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include "agent/registry/http_session.h"
#include "agent/registry/puller.h"
#include "agent/registry/registries_config.h"
#include "fake_image_store.h"
#include "http/loop.h"
#include "http/server.h"

namespace minik::agent::registry::testing {

// registries.yaml sending docker.io to a plain-HTTP mirror on `host`, plus `extra` YAML; never
// falls back to registry-1.docker.io (tests stay hermetic).
inline RegistriesConfig MirrorTo(const std::string& host, const std::string& extra = "") {
  auto c = RegistriesConfig::Parse("mirrors:\n  docker.io:\n    endpoint: [\"http://" + host + "\"]\n" + extra);
  REQUIRE(c.ok());
  c->set_disable_default_endpoint(true);
  return *c;
}

inline PullerOptions TestPullerOptions(int64_t progress_timeout_ms, int64_t connect_timeout_ms,
                                       const std::string& architecture = "amd64") {
  PullerOptions o;
  o.architecture = architecture;
  o.progress_timeout_ms = progress_timeout_ms;
  o.connect_timeout_ms = connect_timeout_ms;
  return o;
}

inline int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

inline bool PortOpen(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  close(fd);
  return ok;
}

// Runs a shell command (bounded by `timeout`), returning its exit code; output goes to log.
inline int Shell(const std::string& cmd, const std::string& log) {
  std::string full = "timeout 60 sh -c '" + cmd + "' >" + log + " 2>&1";
  return std::system(full.c_str());
}

// An htpasswd line with a bcrypt hash (libxcrypt's $2b$).
inline std::string HtpasswdLine(const std::string& user, const std::string& password) {
  char salt[CRYPT_GENSALT_OUTPUT_SIZE];
  REQUIRE(crypt_gensalt_rn("$2b$", 4, nullptr, 0, salt, sizeof(salt)) != nullptr);
  crypt_data data{};
  const char* hash = crypt_r(password.c_str(), salt, &data);
  REQUIRE(hash != nullptr);
  REQUIRE(hash[0] == '$');
  return user + ":" + hash + "\n";
}

// A docker-registry (docker/distribution 2.x) serving plain HTTP on 127.0.0.1.
class RegistryProcess {
 public:
  // htpasswd: file contents enabling basic auth ("" = anonymous access).
  explicit RegistryProcess(const std::string& htpasswd = "") {
    port_ = FreePort();
    std::filesystem::create_directories(dir_.path() + "/data");
    std::string config = "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n"
                         "    rootdirectory: " + dir_.path() + "/data\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:" +
                         std::to_string(port_) + "\n  secret: minik-test\n";
    if (!htpasswd.empty()) {
      WriteFile(dir_.path() + "/htpasswd", htpasswd);
      config += "auth:\n  htpasswd:\n    realm: minik-test\n    path: " + dir_.path() + "/htpasswd\n";
    }
    WriteFile(dir_.path() + "/config.yml", config);
    std::string log = dir_.path() + "/registry.log";
    std::string cfg = dir_.path() + "/config.yml";
    pid_ = fork();
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlives the test, even one that crashes
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
      }
      execl("/usr/bin/docker-registry", "docker-registry", "serve", cfg.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    REQUIRE(pid_ > 0);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!PortOpen(port_)) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        FAIL("docker-registry exited: " + ReadFile(log));
      }
      if (std::chrono::steady_clock::now() > deadline) FAIL("docker-registry did not listen: " + ReadFile(log));
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  ~RegistryProcess() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    for (int i = 0; i < 200; ++i) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  RegistryProcess(const RegistryProcess&) = delete;
  RegistryProcess& operator=(const RegistryProcess&) = delete;

  int port() const { return port_; }
  std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
  // The file docker/distribution keeps a blob's bytes in.
  std::string BlobDataPath(const std::string& digest) const {
    std::string hex = digest.substr(7);
    return dir_.path() + "/data/docker/registry/v2/blobs/sha256/" + hex.substr(0, 2) + "/" + hex + "/data";
  }

 private:
  TempDir dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

// One anonymous registry shared by the tests of this process (starting one takes ~0.5 s); tests
// push under their own repository names and build layers of their own.
inline RegistryProcess& SharedRegistry() {
  static RegistryProcess reg;
  return reg;
}

struct BuiltImage {
  std::string manifest_digest;  // of the image manifest (or of the index when multi-arch)
  std::string config_digest;    // of the first platform's config
  std::string layer_digest;     // of the first platform's layer
  std::map<std::string, std::string> config_by_arch;
  int64_t layer_size = 0;
};

// Writes an OCI image layout under dir with one image tagged `tag`: for each architecture one
// gzip layer holding /hello.txt (naming the architecture) and optionally /bin/busybox, and a
// config. With more than one architecture the tag names an index.
inline BuiltImage BuildOciLayout(const std::string& dir, const std::string& tag, const std::vector<std::string>& archs,
                                 bool with_busybox = false) {
  BuiltImage out;
  std::filesystem::create_directories(dir + "/blobs/sha256");
  auto put = [&](const std::string& data) {
    std::string d = internal::Sha256Digest(data);
    WriteFile(dir + "/blobs/sha256/" + d.substr(7), data);
    return d;
  };
  std::string index_manifests;
  for (const auto& arch : archs) {
    std::string root = dir + "/root-" + arch;
    std::filesystem::create_directories(root + "/bin");
    WriteFile(root + "/hello.txt", "hello from " + arch + " built in " + dir + "\n");  // unique per layout
    if (with_busybox) std::filesystem::copy_file("/bin/busybox", root + "/bin/busybox");
    std::string layer_path = dir + "/layer-" + arch + ".tar.gz";
    REQUIRE(Shell("tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C " + root + " -cf - . | gzip -n > " +
                      layer_path,
                  dir + "/tar.log") == 0);
    std::string layer = ReadFile(layer_path);
    REQUIRE(Shell("gzip -dc " + layer_path + " > " + layer_path + ".tar", dir + "/tar.log") == 0);
    std::string diff_id = internal::Sha256Digest(ReadFile(layer_path + ".tar"));
    std::filesystem::remove(layer_path + ".tar");
    std::filesystem::remove(layer_path);
    std::filesystem::remove_all(root);
    std::string layer_digest = put(layer);
    std::string config = R"({"architecture":")" + arch + R"(","os":"linux","config":{"Cmd":["/bin/busybox","sh"],"Env":["PATH=/bin"]},"rootfs":{"type":"layers","diff_ids":[")" + diff_id + R"("]}})";
    std::string config_digest = put(config);
    std::string manifest = R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":")" +
                           config_digest + R"(","size":)" + std::to_string(config.size()) +
                           R"(},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":")" +
                           layer_digest + R"(","size":)" + std::to_string(layer.size()) + "}]}";
    std::string manifest_digest = put(manifest);
    if (out.config_digest.empty()) {
      out.config_digest = config_digest;
      out.layer_digest = layer_digest;
      out.manifest_digest = manifest_digest;
      out.layer_size = static_cast<int64_t>(layer.size());
    }
    out.config_by_arch[arch] = config_digest;
    if (!index_manifests.empty()) index_manifests += ",";
    index_manifests += R"({"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" + manifest_digest +
                       R"(","size":)" + std::to_string(manifest.size()) + R"(,"platform":{"architecture":")" + arch +
                       R"(","os":"linux"}})";
  }
  std::string top;
  if (archs.size() == 1) {
    top = R"({"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" +
          out.manifest_digest + R"(","size":)" +
          std::to_string(ReadFile(dir + "/blobs/sha256/" + out.manifest_digest.substr(7)).size()) +
          R"(,"annotations":{"org.opencontainers.image.ref.name":")" + tag + R"("}}]})";
  } else {
    std::string index = R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[)" +
                        index_manifests + "]}";
    out.manifest_digest = put(index);
    top = R"({"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":")" +
          out.manifest_digest + R"(","size":)" + std::to_string(index.size()) +
          R"(,"annotations":{"org.opencontainers.image.ref.name":")" + tag + R"("}}]})";
  }
  WriteFile(dir + "/index.json", top);
  WriteFile(dir + "/oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
  return out;
}

// skopeo copy of an OCI layout's tag into the registry (plain HTTP).
inline void Push(const std::string& layout, const std::string& tag, const std::string& dest, const std::string& creds = "",
                 bool all = false) {
  std::string cmd = "skopeo copy --quiet --insecure-policy --dest-tls-verify=false ";
  if (all) cmd += "--all ";
  if (!creds.empty()) cmd += "--dest-creds " + creds + " ";
  cmd += "oci:" + layout + ":" + tag + " docker://" + dest;
  std::string log = layout + "/skopeo.log";
  int rc = Shell(cmd, log);
  if (rc != 0) FAIL("skopeo failed: " + ReadFile(log));
}

// An HTTP server on its own loop thread; the handler runs on that thread.
class ServerThread {
 public:
  explicit ServerThread(http::Handler handler) {
    std::promise<int> port;
    auto port_f = port.get_future();
    thread_ = std::thread([this, &port, handler = std::move(handler)] {
      http::Server server(loop_, handler);
      Status st = server.Listen("127.0.0.1", 0);
      port.set_value(st.ok() ? server.port() : -1);
      if (!st.ok()) return;
      loop_.Run();
      kept_.clear();
    });
    port_ = port_f.get();
    REQUIRE(port_ > 0);
  }
  ~ServerThread() {
    loop_.Stop();
    thread_.join();
  }
  int port() const { return port_; }
  std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
  // Keeps a response open until the server stops (from the handler, on the server thread).
  void Keep(http::ResponseWriterPtr w) { kept_.push_back(std::move(w)); }

 private:
  std::vector<http::ResponseWriterPtr> kept_;  // server thread only
  http::Loop loop_;
  std::thread thread_;
  int port_ = -1;
};

}  // namespace minik::agent::registry::testing
