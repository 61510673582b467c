// The local-path provisioner: when it provisions, the PersistentVolume it creates, and deleting
// released volumes.
#include "server/controllers/local_path_provisioner.h"

#include "fixture.h"

namespace minik::controllers {
namespace {

using testing::Bench;
using testing::Json;
using Writes = std::vector<std::string>;

const char* kClass = R"({"apiVersion":"storage.k8s.io/v1","kind":"StorageClass","metadata":{"name":"local-path"},
  "provisioner":"rancher.io/local-path","reclaimPolicy":"Delete","volumeBindingMode":"WaitForFirstConsumer"})";

std::string Claim(const std::string& annotations) {
  return R"({"apiVersion":"v1","kind":"PersistentVolumeClaim","metadata":{"name":"data","namespace":"ns","annotations":{)" +
         annotations + R"(}},"spec":{"accessModes":["ReadWriteOnce"],"resources":{"requests":{"storage":"2Gi"}},
    "storageClassName":"local-path","volumeMode":"Filesystem"},"status":{"phase":"Pending"}})";
}

TEST_CASE("local-path: provisions only once asked and with a selected node") {
  Bench b;
  auto ctrl = NewLocalPathProvisionerController(b.ctx, LocalPathOptions{"/var/lib/minik/storage"});
  b.Seed(kStorageClasses, kClass);
  b.Seed(kPersistentVolumeClaims, Claim(R"("volume.kubernetes.io/selected-node":"node1")"));
  b.Sync();
  b.TakeWrites();
  // The PV controller has not asked yet.
  REQUIRE(b.Reconcile(*ctrl, "ns/data").ok());
  CHECK(b.TakeWrites().empty());

  Bench b2;
  auto ctrl2 = NewLocalPathProvisionerController(b2.ctx, LocalPathOptions{"/var/lib/minik/storage"});
  b2.Seed(kStorageClasses, kClass);
  b2.Seed(kPersistentVolumeClaims, Claim(R"("volume.kubernetes.io/storage-provisioner":"rancher.io/local-path")"));
  b2.Sync();
  b2.TakeWrites();
  // Asked, but no node selected yet (WaitForFirstConsumer).
  REQUIRE(b2.Reconcile(*ctrl2, "ns/data").ok());
  CHECK(b2.TakeWrites().empty());
}

TEST_CASE("local-path: the provisioned volume's shape") {
  Bench b;
  auto ctrl = NewLocalPathProvisionerController(b.ctx, LocalPathOptions{"/var/lib/minik/storage"});
  b.Seed(kStorageClasses, kClass);
  b.Seed(kNodes, R"({"metadata":{"name":"node1","labels":{"kubernetes.io/hostname":"node1"}}})");
  auto claim = b.Seed(kPersistentVolumeClaims,
                      Claim(R"("volume.kubernetes.io/selected-node":"node1","volume.kubernetes.io/storage-provisioner":"rancher.io/local-path","volume.beta.kubernetes.io/storage-provisioner":"rancher.io/local-path")"));
  b.Sync();
  b.TakeWrites();
  std::string uid(Uid(*claim));
  REQUIRE(b.Reconcile(*ctrl, "ns/data").ok());
  auto events1 = b.EventReasons();
  CHECK(b.TakeWrites() == Writes{"create persistentvolumes pvc-" + uid});
  CHECK(events1 == std::vector<std::string>{
                                "Provisioning: External provisioner is provisioning volume for claim \"ns/data\"",
                                "ProvisioningSucceeded: Successfully provisioned volume pvc-" + uid});
  auto pv = b.api.Find(kPersistentVolumes, "", "pvc-" + uid);
  REQUIRE(pv);
  JsonDoc spec;
  spec.CopyFrom(*Member(*pv, "spec"), spec.GetAllocator());
  CHECK(ToJson(spec) ==
        R"({"capacity":{"storage":"2Gi"},"hostPath":{"path":"/var/lib/minik/storage/pvc-)" + uid +
            R"(_ns_data","type":"DirectoryOrCreate"},"accessModes":["ReadWriteOnce"],"claimRef":{"kind":"PersistentVolumeClaim","namespace":"ns","name":"data","uid":")" +
            uid + R"(","apiVersion":"v1","resourceVersion":")" + std::string(*GetString(*Member(*claim, "metadata"), "resourceVersion")) +
            R"("},"persistentVolumeReclaimPolicy":"Delete","storageClassName":"local-path","volumeMode":"Filesystem",)"
            R"("nodeAffinity":{"required":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"kubernetes.io/hostname","operator":"In","values":["node1"]}]}]}}})");
  CHECK(ToJson(*Path(*pv, {"metadata", "annotations"})) ==
        R"({"local.path.provisioner/selected-node":"node1","pv.kubernetes.io/provisioned-by":"rancher.io/local-path"})");

  // Once the volume exists, nothing more is created.
  b.Sync();
  b.api.ClearActions();
  REQUIRE(b.Reconcile(*ctrl, "ns/data").ok());
  CHECK(b.TakeWrites().empty());
}

TEST_CASE("local-path: released volumes it provisioned are deleted, others are left alone") {
  Bench b;
  auto ctrl = NewLocalPathProvisionerController(b.ctx);
  auto pv = [](const std::string& name, const std::string& phase, const std::string& policy, const std::string& by) {
    return R"({"metadata":{"name":")" + name + R"(","annotations":{"pv.kubernetes.io/provisioned-by":")" + by +
           R"("}},"spec":{"capacity":{"storage":"1Gi"},"hostPath":{"path":"/x"},"persistentVolumeReclaimPolicy":")" + policy +
           R"("},"status":{"phase":")" + phase + R"("}})";
  };
  b.Seed(kPersistentVolumes, pv("released", "Released", "Delete", "rancher.io/local-path"));
  b.Seed(kPersistentVolumes, pv("bound", "Bound", "Delete", "rancher.io/local-path"));
  b.Seed(kPersistentVolumes, pv("retained", "Released", "Retain", "rancher.io/local-path"));
  b.Seed(kPersistentVolumes, pv("foreign", "Released", "Delete", "example.com/nfs"));
  b.Sync();
  b.TakeWrites();
  for (const char* k : {"released", "bound", "retained", "foreign"}) REQUIRE(b.Reconcile(*ctrl, k).ok());
  CHECK(b.TakeWrites() == Writes{"delete persistentvolumes released"});
  CHECK_FALSE(b.api.Find(kPersistentVolumes, "", "released"));
}

}  // namespace
}  // namespace minik::controllers
