#include "agent/volumes/volume_manager.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <linux/magic.h>

#include "test_util.h"

namespace minik::agent::volumes {
namespace {

namespace fs = std::filesystem;
using testing::IsRoot;
using testing::Parse;
using testing::ReadAll;
using testing::TempDir;
using testing::WriteAll;

ObjectPtr Obj(std::string_view json) { return std::make_shared<const JsonDoc>(Parse(json)); }

class FakeTokens : public TokenSource {
 public:
  StatusOr<std::string> GetToken(const TokenRequest& r) override {
    requests.push_back(r);
    if (fail) return Status::Unavailable("failed to fetch token: connection refused");
    return "token-for-" + r.service_account + "-" + (r.audiences.empty() ? "api" : r.audiences[0]) + "-" +
           std::to_string(r.expiration_seconds);
  }
  std::vector<TokenRequest> requests;
  bool fail = false;
};

std::string Link(const std::string& p) {
  char buf[4096];
  ssize_t n = ::readlink(p.c_str(), buf, sizeof(buf));
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

struct StatInfo {
  uint32_t mode = 0;
  uint32_t uid = 0, gid = 0;
};
StatInfo Stat(const std::string& p) {
  struct stat st;
  StatInfo out;
  if (::stat(p.c_str(), &st) == 0) out = {static_cast<uint32_t>(st.st_mode & 07777), st.st_uid, st.st_gid};
  return out;
}

bool IsTmpfs(const std::string& p, int64_t* size = nullptr) {
  struct statfs s;
  if (::statfs(p.c_str(), &s) != 0) return false;
  if (size) *size = static_cast<int64_t>(s.f_blocks) * s.f_bsize;
  return s.f_type == TMPFS_MAGIC;
}

struct Env {
  TempDir tmp;
  std::string pods_dir, host_dir;
  MounterPtr mounter = NewRealMounter();
  FakeClock clock;
  FakeTokens tokens;
  MapObjectSource objects;
  NodeInfo node;
  std::unique_ptr<VolumeManager> vm;
  Env() {
    pods_dir = tmp.path() + "/pods";
    host_dir = tmp.path() + "/host";
    fs::create_directories(host_dir);
    node.node_name = "edge1";
    node.allocatable_memory = "64Mi";
    node.allocatable_cpu = "2";
    vm = std::make_unique<VolumeManager>(VolumeManagerOptions{pods_dir}, *mounter, clock, &tokens);
    objects.Add(Obj(R"({"kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "ns"},
        "data": {"app.properties": "color=blue\n", "mode": "fast"}, "binaryData": {"blob.bin": "AAEC"}})"));
    objects.Add(Obj(R"({"kind": "Secret", "metadata": {"name": "sec", "namespace": "ns"},
        "data": {"password": "aHVudGVyMg==", "user": "YWRtaW4="}})"));
    objects.Add(Obj(R"({"kind": "ConfigMap", "metadata": {"name": "kube-root-ca.crt", "namespace": "ns"},
        "data": {"ca.crt": "-----BEGIN CERTIFICATE-----\n"}})"));
  }
  ~Env() {
    // Explicit teardown of everything the test set up (the TempDir is the safety net).
    for (const auto& uid : vm->ListPodDirs()) (void)vm->TearDown(uid);
  }
  std::string Vol(const std::string& plugin, const std::string& name) { return vm->VolumeDir("uid-1", plugin, name); }
};

std::string PodJson(const std::string& volumes, const std::string& extra_spec = "") {
  return R"({"metadata": {"name": "web", "namespace": "ns", "uid": "uid-1", "labels": {"app": "web", "v": "1"},
             "annotations": {"team": "edge"}},
             "spec": {)" + extra_spec + R"("serviceAccountName": "robot", "containers": [{"name": "app",
               "resources": {"limits": {"cpu": "250m", "memory": "32Mi"}}}],
             "volumes": [)" + volumes + "]}}";
}

TEST_CASE("volumes: every volume type is set up in the kubelet's layout") {
  if (!IsRoot()) {
    WARN("SKIPPED: tmpfs mounts need root");
    return;
  }
  Env e;
  JsonDoc pod = Parse(PodJson(
      R"({"name": "scratch", "emptyDir": {}},
         {"name": "mem", "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}},
         {"name": "host", "hostPath": {"path": ")" + e.host_dir + R"(", "type": "Directory"}},
         {"name": "config", "configMap": {"name": "cfg"}},
         {"name": "config-items", "configMap": {"name": "cfg", "defaultMode": 256,
            "items": [{"key": "mode", "path": "sub/mode.txt", "mode": 384}, {"key": "blob.bin", "path": "blob"}]}},
         {"name": "creds", "secret": {"secretName": "sec"}},
         {"name": "maybe", "secret": {"secretName": "absent", "optional": true}},
         {"name": "podinfo", "downwardAPI": {"items": [
            {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
            {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
            {"path": "mem", "resourceFieldRef": {"containerName": "app", "resource": "limits.memory", "divisor": "1Mi"}}]}},
         {"name": "kube-api-access", "projected": {"defaultMode": 420, "sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {"serviceAccountToken": {"audience": "vault", "expirationSeconds": 600, "path": "vault/token"}},
            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"secret": {"name": "sec", "items": [{"key": "user", "path": "user"}]}},
            {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}]}})"));
  SetUpResult r = e.vm->SetUp(pod, e.objects, e.node);
  for (const auto& err : r.errors) FAIL_CHECK(err.EventMessage());
  REQUIRE(r.ok());

  std::string pod_dir = e.pods_dir + "/uid-1";
  CHECK(Stat(pod_dir).mode == 0750);
  CHECK(fs::is_directory(pod_dir + "/plugins"));

  // emptyDir on disk, 0777.
  std::string scratch = e.Vol(kEmptyDirPlugin, "scratch");
  CHECK(Stat(scratch).mode == 0777);
  CHECK_FALSE(IsTmpfs(scratch));
  // emptyDir in memory with its sizeLimit (below the pod's 32Mi limit and the node's 64Mi).
  int64_t size = 0;
  CHECK(IsTmpfs(e.Vol(kEmptyDirPlugin, "mem"), &size));
  CHECK(size == 16 * 1024 * 1024);

  // configMap: on disk, atomic writer layout, defaultMode 0644.
  std::string cfg = e.Vol(kConfigMapPlugin, "config");
  CHECK_FALSE(IsTmpfs(cfg));
  CHECK(Link(cfg + "/app.properties") == "..data/app.properties");
  CHECK(ReadAll(cfg + "/app.properties") == "color=blue\n");
  CHECK(ReadAll(cfg + "/blob.bin") == std::string("\x00\x01\x02", 3));
  CHECK(Stat(cfg + "/mode").mode == 0644);
  CHECK(Link(cfg + "/..data").rfind("..2026_01_01_00_00_00.", 0) == 0);
  std::string items = e.Vol(kConfigMapPlugin, "config-items");
  CHECK(ReadAll(items + "/sub/mode.txt") == "fast");
  CHECK(Stat(items + "/sub/mode.txt").mode == 0600);
  CHECK(Stat(items + "/blob").mode == 0400);
  CHECK_FALSE(fs::exists(items + "/app.properties"));

  // secret: tmpfs sized to the pod's memory limit, decoded data.
  std::string creds = e.Vol(kSecretPlugin, "creds");
  CHECK(IsTmpfs(creds, &size));
  CHECK(size == 32 * 1024 * 1024);
  CHECK(ReadAll(creds + "/password") == "hunter2");
  CHECK(Stat(creds + "/password").mode == 0644);
  CHECK(IsTmpfs(e.Vol(kSecretPlugin, "maybe")));
  CHECK(fs::exists(e.Vol(kSecretPlugin, "maybe") + "/..data"));

  // downwardAPI.
  std::string info = e.Vol(kDownwardAPIPlugin, "podinfo");
  CHECK(IsTmpfs(info));
  CHECK(ReadAll(info + "/labels") == "app=\"web\"\nv=\"1\"");
  CHECK(ReadAll(info + "/name") == "web");
  CHECK(ReadAll(info + "/mem") == "32");

  // projected, with tokens through the TokenSource.
  std::string api = e.Vol(kProjectedPlugin, "kube-api-access");
  CHECK(IsTmpfs(api));
  CHECK(ReadAll(api + "/token") == "token-for-robot-api-3607");
  CHECK(ReadAll(api + "/vault/token") == "token-for-robot-vault-600");
  CHECK(ReadAll(api + "/ca.crt") == "-----BEGIN CERTIFICATE-----\n");
  CHECK(ReadAll(api + "/user") == "admin");
  CHECK(ReadAll(api + "/namespace") == "ns");
  CHECK(Stat(api + "/token").mode == 0644);
  REQUIRE(e.tokens.requests.size() == 2);
  CHECK(e.tokens.requests[0].ns == "ns");
  CHECK(e.tokens.requests[0].pod_name == "web");
  CHECK(e.tokens.requests[0].pod_uid == "uid-1");
  CHECK(e.tokens.requests[0].audiences.empty());

  // Container mounts.
  JsonDoc c = Parse(R"({"name": "app", "volumeMounts": [
      {"name": "config", "mountPath": "/etc/app"},
      {"name": "scratch", "mountPath": "/data", "mountPropagation": "HostToContainer"},
      {"name": "host", "mountPath": "/host", "readOnly": true, "recursiveReadOnly": "IfPossible"},
      {"name": "kube-api-access", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}]})");
  auto mounts = e.vm->MountsFor(pod, c, {});
  REQUIRE(mounts.ok());
  REQUIRE(mounts->size() == 4);
  CHECK((*mounts)[0] == ContainerMount{"config", "/etc/app", cfg, true, false, MountPropagation::kPrivate});
  CHECK((*mounts)[1] == ContainerMount{"scratch", "/data", scratch, false, false, MountPropagation::kHostToContainer});
  CHECK((*mounts)[2] == ContainerMount{"host", "/host", e.host_dir, true, true, MountPropagation::kPrivate});
  CHECK((*mounts)[3].read_only);
  CHECK(OciBindOptions((*mounts)[1]) == std::vector<std::string>{"rbind", "rslave", "rw"});
  CHECK(OciBindOptions((*mounts)[2]) == std::vector<std::string>{"rbind", "rprivate", "ro", "rro"});

  // SetUp again is a no-op (no second tmpfs stacked).
  REQUIRE(e.vm->SetUp(pod, e.objects, e.node).ok());
  CHECK(e.mounter->MountPointsUnder(pod_dir).size() == 5);

  // TearDown unmounts and removes everything, and is idempotent.
  REQUIRE(e.vm->TearDown("uid-1").ok());
  CHECK_FALSE(fs::exists(pod_dir));
  CHECK(e.mounter->MountPointsUnder(pod_dir).empty());
  CHECK(fs::is_directory(e.host_dir));  // hostPath content untouched
  CHECK(e.vm->TearDown("uid-1").ok());
  auto gone = e.vm->MountsFor(pod, c, {});
  CHECK(gone.status().message() == "cannot find volume \"config\" to mount into container \"app\"");
}

TEST_CASE("volumes: a configMap update swaps content atomically in place") {
  if (!IsRoot()) {
    WARN("SKIPPED: needs root");
    return;
  }
  Env e;
  JsonDoc pod = Parse(PodJson(R"({"name": "config", "configMap": {"name": "cfg"}},
                                 {"name": "creds", "secret": {"secretName": "sec"}},
                                 {"name": "podinfo", "downwardAPI": {"items": [
                                   {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}})"));
  REQUIRE(e.vm->SetUp(pod, e.objects, e.node).ok());
  std::string cfg = e.Vol(kConfigMapPlugin, "config");
  std::string ts1 = Link(cfg + "/..data");
  std::string creds_ts1 = Link(e.Vol(kSecretPlugin, "creds") + "/..data");

  // Unchanged objects: Update rewrites nothing.
  REQUIRE(e.vm->Update(pod, e.objects, e.node).ok());
  CHECK(Link(cfg + "/..data") == ts1);

  e.clock.Advance(std::chrono::seconds(90));
  e.objects.Add(Obj(R"({"kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "ns"},
      "data": {"app.properties": "color=red\n", "extra": "new"}})"));
  JsonDoc relabeled = Parse(PodJson(R"({"name": "config", "configMap": {"name": "cfg"}},
                                       {"name": "creds", "secret": {"secretName": "sec"}},
                                       {"name": "podinfo", "downwardAPI": {"items": [
                                         {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}})"));
  relabeled["metadata"]["labels"]["v"].SetString("2");
  REQUIRE(e.vm->Update(relabeled, e.objects, e.node).ok());

  std::string ts2 = Link(cfg + "/..data");
  CHECK(ts2 != ts1);
  CHECK(ts2.rfind("..2026_01_01_00_01_30.", 0) == 0);
  CHECK(ReadAll(cfg + "/app.properties") == "color=red\n");
  CHECK(ReadAll(cfg + "/extra") == "new");
  CHECK_FALSE(fs::exists(cfg + "/mode"));       // removed key: symlink pruned
  CHECK_FALSE(fs::is_symlink(cfg + "/mode"));
  CHECK_FALSE(fs::exists(cfg + "/blob.bin"));
  CHECK_FALSE(fs::exists(cfg + "/" + ts1));     // old version gone
  CHECK_FALSE(fs::exists(cfg + "/..data_tmp"));
  std::set<std::string> entries;
  for (const auto& d : fs::directory_iterator(cfg)) entries.insert(d.path().filename().string());
  CHECK(entries == std::set<std::string>{"..data", ts2, "app.properties", "extra"});
  CHECK(ReadAll(e.Vol(kDownwardAPIPlugin, "podinfo") + "/labels") == "app=\"web\"\nv=\"2\"");
  CHECK(Link(e.Vol(kSecretPlugin, "creds") + "/..data") == creds_ts1);  // unchanged secret untouched
}

TEST_CASE("volumes: set-up errors in upstream's words") {
  Env e;
  FakeMounter fake;
  VolumeManager vm(VolumeManagerOptions{e.pods_dir}, fake, e.clock, &e.tokens);
  std::string file = e.host_dir + "/file";
  WriteAll(file, "x");
  std::string sock = e.host_dir + "/sock";
  {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", sock.c_str());
    REQUIRE(::bind(fd, reinterpret_cast<struct sockaddr*>(&addr), sizeof(addr)) == 0);
    ::close(fd);
  }
  auto run = [&](const std::string& volume) {
    JsonDoc pod = Parse(PodJson(volume));
    SetUpResult r = vm.SetUp(pod, e.objects, e.node);
    return r.ok() ? std::string("ok") : r.errors[0].EventMessage();
  };
  const std::string& h = e.host_dir;
  CHECK(run(R"({"name": "v", "hostPath": {"path": ")" + file + R"(", "type": "Directory"}})") ==
        "MountVolume.SetUp failed for volume \"v\" : hostPath type check failed: " + file + " is not a directory");
  CHECK(run(R"({"name": "v", "hostPath": {"path": ")" + h + R"(", "type": "File"}})") ==
        "MountVolume.SetUp failed for volume \"v\" : hostPath type check failed: " + h + " is not a file");
  CHECK(run(R"({"name": "v", "hostPath": {"path": ")" + h + R"(/nope", "type": "Directory"}})") ==
        "MountVolume.SetUp failed for volume \"v\" : hostPath type check failed: " + h + "/nope is not a directory");
  CHECK(run(R"({"name": "v", "hostPath": {"path": ")" + file + R"(", "type": "Socket"}})") ==
        "MountVolume.SetUp failed for volume \"v\" : hostPath type check failed: " + file + " is not a socket file");
  CHECK(run(R"({"name": "v", "hostPath": {"path": ")" + sock + R"(", "type": "Socket"}})") == "ok");
  CHECK(run(R"({"name": "v", "hostPath": {"path": ")" + file + R"(", "type": "CharDevice"}})") ==
        "MountVolume.SetUp failed for volume \"v\" : hostPath type check failed: " + file + " is not a character device");
  CHECK(run(R"({"name": "v", "hostPath": {"path": "/dev/null", "type": "CharDevice"}})") == "ok");
  CHECK(run(R"({"name": "v", "hostPath": {"path": "/dev/null", "type": "BlockDevice"}})") ==
        "MountVolume.SetUp failed for volume \"v\" : hostPath type check failed: /dev/null is not a block device");
  CHECK(run(R"({"name": "v", "hostPath": {"path": ")" + h + R"(", "type": "Bogus"}})") ==
        "MountVolume.SetUp failed for volume \"v\" : Bogus is an invalid volume type");
  CHECK(run(R"({"name": "v", "hostPath": {"path": ")" + h + R"(/a/../b"}})") ==
        "MountVolume.SetUp failed for volume \"v\" : invalid HostPath `" + h + "/a/../b`: must not contain '..'");
  // DirectoryOrCreate makes 0755 directories (parents too); FileOrCreate an empty 0644 file.
  CHECK(run(R"({"name": "v", "hostPath": {"path": ")" + h + R"(/made/deep", "type": "DirectoryOrCreate"}})") == "ok");
  CHECK(Stat(h + "/made/deep").mode == 0755);
  CHECK(run(R"({"name": "v", "hostPath": {"path": ")" + h + R"(/new.txt", "type": "FileOrCreate"}})") == "ok");
  CHECK(Stat(h + "/new.txt").mode == 0644);
  CHECK(run(R"({"name": "v", "hostPath": {"path": ")" + file + R"(", "type": "FileOrCreate"}})") == "ok");
  CHECK(run(R"({"name": "v", "hostPath": {"path": ")" + h + R"(", "type": "FileOrCreate"}})") ==
        "MountVolume.SetUp failed for volume \"v\" : hostPath type check failed: " + h + " is not a file");

  CHECK(run(R"({"name": "v", "configMap": {"name": "absent"}})") ==
        "MountVolume.SetUp failed for volume \"v\" : configmap \"absent\" not found");
  CHECK(run(R"({"name": "v", "secret": {"secretName": "absent"}})") ==
        "MountVolume.SetUp failed for volume \"v\" : secret \"absent\" not found");
  CHECK(run(R"({"name": "v", "configMap": {"name": "cfg", "items": [{"key": "nokey", "path": "x"}]}})") ==
        "MountVolume.SetUp failed for volume \"v\" : configmap references non-existent config key: nokey");
  CHECK(run(R"({"name": "v", "configMap": {"name": "cfg", "optional": true, "items": [{"key": "nokey", "path": "x"}]}})") == "ok");
  CHECK(run(R"({"name": "v", "secret": {"secretName": "sec", "items": [{"key": "nokey", "path": "x"}]}})") ==
        "MountVolume.SetUp failed for volume \"v\" : references non-existent secret key: nokey");
  CHECK(run(R"({"name": "v", "projected": {"sources": [{"configMap": {"name": "a1"}}, {"secret": {"name": "a2"}}]}})") ==
        "MountVolume.SetUp failed for volume \"v\" : [configmap \"a1\" not found, secret \"a2\" not found]");
  e.tokens.fail = true;
  CHECK(run(R"({"name": "v", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}})") ==
        "MountVolume.SetUp failed for volume \"v\" : failed to fetch token: connection refused");
  CHECK(run(R"({"name": "v", "downwardAPI": {"items": [{"path": "x", "fieldRef": {"fieldPath": "spec.nodeName"}}]}})") ==
        "MountVolume.SetUp failed for volume \"v\" : unsupported fieldPath: spec.nodeName");
  fake.FailNext(Status::Internal("mount failed: operation not permitted"));
  CHECK(run(R"({"name": "v", "emptyDir": {"medium": "Memory"}})") ==
        "MountVolume.SetUp failed for volume \"v\" : mount failed: operation not permitted");
  CHECK(run(R"({"name": "v", "nfs": {"server": "x", "path": "/"}})") == "no volume plugin matched");
  REQUIRE(vm.TearDown("uid-1").ok());
  CHECK(fake.MountPointsUnder(e.pods_dir).empty());
}

TEST_CASE("volumes: persistentVolumeClaim bound to a local-path (hostPath) PV") {
  Env e;
  FakeMounter fake;
  VolumeManager vm(VolumeManagerOptions{e.pods_dir}, fake, e.clock, &e.tokens);
  std::string pv_path = e.host_dir + "/pvc-1_ns_data";
  JsonDoc pod = Parse(PodJson(R"({"name": "data", "persistentVolumeClaim": {"claimName": "data"}})"));
  auto run = [&]() {
    SetUpResult r = vm.SetUp(pod, e.objects, e.node);
    return r.ok() ? std::string("ok") : r.errors[0].EventMessage();
  };
  CHECK(run() == "error processing PVC ns/data: failed to fetch PVC from API server: persistentvolumeclaims \"data\" not found");
  e.objects.Add(Obj(R"({"kind": "PersistentVolumeClaim", "metadata": {"name": "data", "namespace": "ns", "uid": "pvc-uid"},
                        "spec": {"volumeName": "pvc-1"}, "status": {"phase": "Pending"}})"));
  CHECK(run() == "error processing PVC ns/data: PVC is not bound");
  e.objects.Add(Obj(R"({"kind": "PersistentVolumeClaim", "metadata": {"name": "data", "namespace": "ns", "uid": "pvc-uid"},
                        "spec": {"volumeName": "pvc-1"}, "status": {"phase": "Bound"}})"));
  CHECK(run() == "error processing PVC ns/data: failed to fetch PV pvc-1 from API server: persistentvolumes \"pvc-1\" not found");
  e.objects.Add(Obj(R"({"kind": "PersistentVolume", "metadata": {"name": "pvc-1"},
      "spec": {"claimRef": {"name": "data", "namespace": "ns", "uid": "other"},
               "hostPath": {"path": ")" + pv_path + R"(", "type": "DirectoryOrCreate"}}})"));
  CHECK(run() == "error processing PVC ns/data: found PV object pvc-1 but its ClaimRef.UID other does not point to claim.UID pvc-uid");
  e.objects.Add(Obj(R"({"kind": "PersistentVolume", "metadata": {"name": "pvc-1"},
      "spec": {"claimRef": {"name": "data", "namespace": "ns", "uid": "pvc-uid"},
               "hostPath": {"path": ")" + pv_path + R"(", "type": "DirectoryOrCreate"}}})"));
  CHECK(run() == "ok");
  CHECK(fs::is_directory(pv_path));
  JsonDoc c = Parse(R"({"name": "app", "volumeMounts": [{"name": "data", "mountPath": "/var/lib/data"}]})");
  auto mounts = vm.MountsFor(pod, c, {});
  REQUIRE(mounts.ok());
  CHECK((*mounts)[0].host_path == pv_path);
  REQUIRE(vm.TearDown("uid-1").ok());
  CHECK(fs::is_directory(pv_path));  // the claim's data survives the pod
}

TEST_CASE("volumes: subPath and subPathExpr") {
  Env e;
  FakeMounter fake;
  VolumeManager vm(VolumeManagerOptions{e.pods_dir}, fake, e.clock, &e.tokens);
  fs::create_directories(e.host_dir + "/shared");
  fs::create_symlink("/etc", e.host_dir + "/shared/escape");
  JsonDoc pod = Parse(PodJson(R"({"name": "scratch", "emptyDir": {}},
                                 {"name": "config", "configMap": {"name": "cfg"}},
                                 {"name": "host", "hostPath": {"path": ")" + e.host_dir + R"(/shared"}})"));
  REQUIRE(vm.SetUp(pod, e.objects, e.node).ok());
  std::string scratch = vm.VolumeDir("uid-1", kEmptyDirPlugin, "scratch");
  std::vector<EnvVar> env = {{"POD_NAME", "web"}};
  auto mounts_of = [&](const std::string& vm_json) { return vm.MountsFor(pod, Parse(R"({"name": "app", "volumeMounts": [)" + vm_json + "]}"), env); };

  auto m = mounts_of(R"J({"name": "scratch", "mountPath": "/logs", "subPathExpr": "logs/$(POD_NAME)"})J");
  REQUIRE(m.ok());
  CHECK((*m)[0].host_path == fs::canonical(scratch).string() + "/logs/web");
  CHECK(Stat(scratch + "/logs/web").mode == 0777);  // created with the volume's mode
  m = mounts_of(R"({"name": "config", "mountPath": "/etc/app.properties", "subPath": "app.properties"})");
  REQUIRE(m.ok());
  CHECK(ReadAll((*m)[0].host_path) == "color=blue\n");
  CHECK((*m)[0].read_only);

  CHECK(mounts_of(R"J({"name": "scratch", "mountPath": "/x", "subPathExpr": "$(NOPE)"})J").status().message() ==
        "missing value for NOPE");
  CHECK(mounts_of(R"({"name": "scratch", "mountPath": "/x", "subPath": "/abs"})").status().message() ==
        "error SubPath `/abs` must not be an absolute path");
  CHECK(mounts_of(R"({"name": "scratch", "mountPath": "/x", "subPath": "a/../../b"})").status().message() ==
        "unable to provision SubPath `a/../../b`: must not contain '..'");
  CHECK(mounts_of(R"({"name": "host", "mountPath": "/x", "subPath": "escape"})").status().message() ==
        "failed to prepare subPath for volumeMount \"host\" of container \"app\"");
  CHECK(mounts_of(R"({"name": "host", "mountPath": "/x", "subPath": "escape/newdir"})").status().message() ==
        "failed to create subPath directory for volumeMount \"host\" of container \"app\"");
  CHECK_FALSE(fs::exists("/etc/newdir"));
  CHECK(mounts_of(R"({"name": "ghost", "mountPath": "/x"})").status().message() ==
        "cannot find volume \"ghost\" to mount into container \"app\"");
  CHECK(mounts_of(R"({"name": "scratch", "mountPath": "/x", "mountPropagation": "Sideways"})").status().message() ==
        "invalid MountPropagation mode: \"Sideways\"");
  CHECK(mounts_of(R"({"name": "scratch", "mountPath": "/x", "recursiveReadOnly": "Enabled"})").status().message() ==
        "failed to resolve recursive read-only mode: volume \"scratch\" requested recursive read-only mode, but it is not read-only");
  CHECK(mounts_of(R"({"name": "scratch", "mountPath": "relative"})")->at(0).container_path == "/relative");
  REQUIRE(vm.TearDown("uid-1").ok());
}

TEST_CASE("volumes: fsGroup ownership and the token's fsUser") {
  if (!IsRoot()) {
    WARN("SKIPPED: chown needs root");
    return;
  }
  Env e;
  JsonDoc pod = Parse(PodJson(R"({"name": "scratch", "emptyDir": {}},
                                 {"name": "creds", "secret": {"secretName": "sec", "defaultMode": 256}},
                                 {"name": "api", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}})",
                              R"("securityContext": {"runAsUser": 1000, "fsGroup": 2000},)"));
  REQUIRE(e.vm->SetUp(pod, e.objects, e.node).ok());
  StatInfo scratch = Stat(e.Vol(kEmptyDirPlugin, "scratch"));
  CHECK(scratch.gid == 2000);
  CHECK(scratch.mode == 02777);
  StatInfo pw = Stat(e.Vol(kSecretPlugin, "creds") + "/password");
  CHECK(pw.gid == 2000);
  CHECK(pw.mode == 0440);  // 0400 | g+r
  StatInfo token = Stat(e.Vol(kProjectedPlugin, "api") + "/token");
  CHECK(token.uid == 1000);
  CHECK(token.gid == 2000);
  CHECK(token.mode == 0640);  // 0600 | g+r
  // Widened modes do not make every refresh rewrite the volume.
  std::string ts = Link(e.Vol(kSecretPlugin, "creds") + "/..data");
  REQUIRE(e.vm->Update(pod, e.objects, e.node).ok());
  CHECK(Link(e.Vol(kSecretPlugin, "creds") + "/..data") == ts);
}

TEST_CASE("volumes: orphaned pod directories are cleaned up") {
  if (!IsRoot()) {
    WARN("SKIPPED: tmpfs mounts need root");
    return;
  }
  Env e;
  JsonDoc pod = Parse(PodJson(R"({"name": "mem", "emptyDir": {"medium": "Memory"}})"));
  REQUIRE(e.vm->SetUp(pod, e.objects, e.node).ok());
  fs::create_directories(e.pods_dir + "/uid-2/volumes");
  CHECK(e.vm->ListPodDirs() == std::vector<std::string>{"uid-1", "uid-2"});
  CHECK(e.vm->CleanupOrphans({"uid-2"}) == std::vector<std::string>{"uid-1"});
  CHECK(e.vm->ListPodDirs() == std::vector<std::string>{"uid-2"});
  CHECK(e.mounter->MountPointsUnder(e.pods_dir).empty());
  CHECK(e.vm->TearDown("../x").message() == "invalid pod uid \"../x\"");
}

TEST_CASE("volumes: memory-backed sizes follow SizeMemoryBackedVolumes") {
  NodeInfo node;
  node.allocatable_memory = "1Gi";
  JsonDoc limited = Parse(R"({"spec": {"containers": [{"name": "a", "resources": {"limits": {"memory": "100Mi"}}},
                                                      {"name": "b", "resources": {"limits": {"memory": "28Mi"}}}]}})");
  JsonDoc partial = Parse(R"({"spec": {"containers": [{"name": "a", "resources": {"limits": {"memory": "100Mi"}}},
                                                      {"name": "b"}]}})");
  JsonDoc size_limit = Parse(R"({"s": "64Mi", "big": "2Gi"})");
  CHECK(MemoryBackedSize(limited, nullptr, node) == 128 << 20);
  CHECK(MemoryBackedSize(partial, nullptr, node) == 1 << 30);
  CHECK(MemoryBackedSize(limited, &size_limit["s"], node) == 64 << 20);
  CHECK(MemoryBackedSize(partial, &size_limit["big"], node) == 1 << 30);
  CHECK(MemoryBackedSize(partial, nullptr, NodeInfo{}) == 0);
}

TEST_CASE("mounter: mountinfo parsing decodes escapes") {
  std::string text =
      "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
      "99 22 0:50 / /tmp/with\\040space rw - tmpfs tmpfs rw\n";
  CHECK(ParseMountInfoMountPoints(text) == std::vector<std::string>{"/", "/tmp/with space"});
}

}  // namespace
}  // namespace minik::agent::volumes
