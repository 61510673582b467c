// The PV binder: matching, the binding writes, pre-bound claims and volumes, WaitForFirstConsumer,
// external provisioning, released volumes, and default class assignment.
#include "server/controllers/persistent_volume_binder.h"

#include "fixture.h"

namespace minik::controllers {
namespace {

using testing::Bench;
using testing::Json;
using Writes = std::vector<std::string>;

std::string S(const JsonValue* v) { return v && v->IsString() ? v->GetString() : std::string("<none>"); }

std::string Pv(const std::string& name, const std::string& size, const std::string& modes, const std::string& cls,
               const std::string& extra = "") {
  return R"({"apiVersion":"v1","kind":"PersistentVolume","metadata":{"name":")" + name +
         R"("},"spec":{"capacity":{"storage":")" + size + R"("},"accessModes":[)" + modes +
         R"(],"hostPath":{"path":"/data/)" + name + R"("},"persistentVolumeReclaimPolicy":"Retain","storageClassName":")" +
         cls + R"(","volumeMode":"Filesystem")" + extra + R"(},"status":{"phase":"Available"}})";
}

std::string Pvc(const std::string& name, const std::string& size, const std::string& cls,
                const std::string& extra_meta = "", const std::string& extra_spec = "") {
  std::string cls_field = cls.empty() ? "" : R"("storageClassName":")" + cls + R"(",)";
  return R"({"apiVersion":"v1","kind":"PersistentVolumeClaim","metadata":{"name":")" + name +
         R"(","namespace":"ns")" + extra_meta + R"(},"spec":{"accessModes":["ReadWriteOnce"],"resources":{"requests":{"storage":")" +
         size + R"("}},)" + cls_field + R"("volumeMode":"Filesystem")" + extra_spec + R"(},"status":{"phase":"Pending"}})";
}

const char* kLocalPathClass = R"({"apiVersion":"storage.k8s.io/v1","kind":"StorageClass","metadata":{"name":"local-path",
  "annotations":{"storageclass.kubernetes.io/is-default-class":"true"},"creationTimestamp":"2026-01-01T00:00:00Z"},
  "provisioner":"rancher.io/local-path","reclaimPolicy":"Delete","volumeBindingMode":"WaitForFirstConsumer"})";

TEST_CASE("binder: a pending claim binds the smallest fitting volume with the fewest access modes") {
  Bench b;
  auto ctrl = NewPersistentVolumeBinderController(b.ctx);
  b.Seed(kPersistentVolumes, Pv("pv-small", "1Gi", R"("ReadWriteOnce")", "manual"));
  b.Seed(kPersistentVolumes, Pv("pv-rwx", "2Gi", R"("ReadWriteOnce","ReadWriteMany")", "manual"));
  b.Seed(kPersistentVolumes, Pv("pv-big", "5Gi", R"("ReadWriteOnce")", "manual"));
  b.Seed(kPersistentVolumes, Pv("pv-huge", "10Gi", R"("ReadWriteOnce")", "manual"));
  b.Seed(kPersistentVolumes, Pv("pv-other", "2Gi", R"("ReadWriteOnce")", "fast"));
  b.Seed(kPersistentVolumeClaims, Pvc("data", "1500Mi", "manual"));
  b.Sync();
  b.TakeWrites();

  REQUIRE(b.Reconcile(*ctrl, "ns/data").ok());
  CHECK(b.TakeWrites() == Writes{"update persistentvolumes pv-big", "update persistentvolumes/status pv-big",
                                 "update persistentvolumeclaims ns/data",
                                 "update persistentvolumeclaims/status ns/data"});
  auto pv = b.api.Find(kPersistentVolumes, "", "pv-big");
  auto pvc = b.api.Find(kPersistentVolumeClaims, "ns", "data");
  CHECK(S(Path(*pv, {"spec", "claimRef", "kind"})) == "PersistentVolumeClaim");
  CHECK(S(Path(*pv, {"spec", "claimRef", "name"})) == "data");
  CHECK(S(Path(*pv, {"spec", "claimRef", "namespace"})) == "ns");
  CHECK(S(Path(*pv, {"spec", "claimRef", "uid"})) == std::string(Uid(*pvc)));
  CHECK(S(Path(*pv, {"metadata", "annotations", "pv.kubernetes.io/bound-by-controller"})) == "yes");
  CHECK(S(Path(*pv, {"status", "phase"})) == "Bound");
  CHECK(S(Path(*pv, {"status", "lastPhaseTransitionTime"})) != "<none>");
  CHECK(S(Path(*pvc, {"spec", "volumeName"})) == "pv-big");
  CHECK(S(Path(*pvc, {"metadata", "annotations", "pv.kubernetes.io/bind-completed"})) == "yes");
  CHECK(S(Path(*pvc, {"metadata", "annotations", "pv.kubernetes.io/bound-by-controller"})) == "yes");
  CHECK(S(Path(*pvc, {"status", "phase"})) == "Bound");
  CHECK(S(Path(*pvc, {"status", "capacity", "storage"})) == "5Gi");
  CHECK(ToJson(*Path(*pvc, {"status", "accessModes"})) == R"(["ReadWriteOnce"])");

  // Synced again from the new state: nothing to write.
  b.Sync();
  REQUIRE(b.Reconcile(*ctrl, "ns/data").ok());
  REQUIRE(b.Reconcile(*ctrl, "pv-big").ok());
  CHECK(b.TakeWrites().empty());
}

TEST_CASE("binder: selectors, classes and volume modes filter volumes; no match without a class fails binding") {
  Bench b;
  auto ctrl = NewPersistentVolumeBinderController(b.ctx);
  b.Seed(kPersistentVolumes, Pv("pv-a", "1Gi", R"("ReadWriteOnce")", ""));
  b.Seed(kPersistentVolumeClaims, Pvc("sel", "1Gi", "", "", R"(,"selector":{"matchLabels":{"tier":"gold"}})"));
  std::string block = Pvc("block", "1Gi", "");
  block.replace(block.find("Filesystem"), 10, "Block");
  b.Seed(kPersistentVolumeClaims, block);
  b.Sync();
  b.TakeWrites();
  // No volume carries the label, none is a block volume: nothing binds; without a class, a
  // FailedBinding event.
  REQUIRE(b.Reconcile(*ctrl, "ns/sel").ok());
  REQUIRE(b.Reconcile(*ctrl, "ns/block").ok());
  auto events1 = b.EventReasons();
  CHECK(b.TakeWrites().empty());
  CHECK(events1 == std::vector<std::string>{
                                "FailedBinding: no persistent volumes available for this claim and no storage class is set",
                                "FailedBinding: no persistent volumes available for this claim and no storage class is set"});
  // A labelled volume appears: the selector claim binds it.
  b.Seed(kPersistentVolumes, R"({"metadata":{"name":"pv-gold","labels":{"tier":"gold"}},"spec":{"capacity":{"storage":"1Gi"},
    "accessModes":["ReadWriteOnce"],"hostPath":{"path":"/g"}},"status":{"phase":"Available"}})");
  b.Sync();
  b.api.ClearActions();
  REQUIRE(b.Reconcile(*ctrl, "ns/sel").ok());
  CHECK(b.TakeWrites() == Writes{"update persistentvolumes pv-gold", "update persistentvolumes/status pv-gold",
                                 "update persistentvolumeclaims ns/sel", "update persistentvolumeclaims/status ns/sel"});
}

TEST_CASE("binder: new volumes become Available; a claim naming a volume binds it or reports the mismatch") {
  Bench b;
  auto ctrl = NewPersistentVolumeBinderController(b.ctx);
  b.Seed(kPersistentVolumes, R"({"metadata":{"name":"pv1"},"spec":{"capacity":{"storage":"1Gi"},"accessModes":["ReadWriteOnce"],
    "hostPath":{"path":"/x"},"persistentVolumeReclaimPolicy":"Retain"},"status":{"phase":"Pending"}})");
  b.Seed(kPersistentVolumeClaims, Pvc("big", "2Gi", "", "", R"(,"volumeName":"pv1")"));
  b.Seed(kPersistentVolumeClaims, Pvc("fits", "1Gi", "", "", R"(,"volumeName":"pv1")"));
  b.Sync();
  b.TakeWrites();
  REQUIRE(b.Reconcile(*ctrl, "pv1").ok());
  CHECK(b.TakeWrites() == Writes{"update persistentvolumes/status pv1"});
  CHECK(S(Path(*b.api.Find(kPersistentVolumes, "", "pv1"), {"status", "phase"})) == "Available");

  REQUIRE(b.Reconcile(*ctrl, "ns/big").ok());
  auto events2 = b.EventReasons();
  CHECK(b.TakeWrites().empty());
  CHECK(events2 == std::vector<std::string>{"VolumeMismatch: Cannot bind to requested volume \"pv1\": requested PV is too small"});

  b.Sync();
  b.api.ClearActions();
  REQUIRE(b.Reconcile(*ctrl, "ns/fits").ok());
  CHECK(b.TakeWrites() == Writes{"update persistentvolumes pv1", "update persistentvolumes/status pv1",
                                 "update persistentvolumeclaims ns/fits", "update persistentvolumeclaims/status ns/fits"});
  auto pvc = b.api.Find(kPersistentVolumeClaims, "ns", "fits");
  // The user named the volume: the claim is not marked bound-by-controller (the volume is).
  CHECK(S(Path(*pvc, {"metadata", "annotations", "pv.kubernetes.io/bound-by-controller"})) == "<none>");
  CHECK(S(Path(*pvc, {"metadata", "annotations", "pv.kubernetes.io/bind-completed"})) == "yes");
  CHECK(S(Path(*b.api.Find(kPersistentVolumes, "", "pv1"), {"metadata", "annotations", "pv.kubernetes.io/bound-by-controller"})) == "yes");
}

TEST_CASE("binder: WaitForFirstConsumer claims wait for a node, then ask the external provisioner") {
  Bench b;
  auto ctrl = NewPersistentVolumeBinderController(b.ctx);
  b.Seed(kStorageClasses, kLocalPathClass);
  b.Seed(kPersistentVolumeClaims, Pvc("data", "1Gi", "local-path"));
  b.Sync();
  b.TakeWrites();
  REQUIRE(b.Reconcile(*ctrl, "ns/data").ok());
  auto events3 = b.EventReasons();
  CHECK(b.TakeWrites().empty());  // already Pending
  CHECK(events3 == std::vector<std::string>{"WaitForFirstConsumer: waiting for first consumer to be created before binding"});
  b.api.ClearActions();

  // A pod that uses it, not yet scheduled.
  b.Seed(kPods, R"({"metadata":{"name":"web-0","namespace":"ns"},"spec":{"containers":[{"name":"c","image":"x"}],
    "volumes":[{"name":"v","persistentVolumeClaim":{"claimName":"data"}}]}})");
  b.Sync();
  b.api.ClearActions();
  REQUIRE(b.Reconcile(*ctrl, "ns/data").ok());
  CHECK(b.EventReasons() == std::vector<std::string>{"WaitForPodScheduled: waiting for pod web-0 to be scheduled"});
  b.api.ClearActions();

  // The scheduler picked a node: the provisioner is asked.
  auto pvc = b.api.Find(kPersistentVolumeClaims, "ns", "data");
  JsonDoc upd;
  upd.CopyFrom(*pvc, upd.GetAllocator());
  SetString(EnsureObject(EnsureObject(upd, "metadata", upd.GetAllocator()), "annotations", upd.GetAllocator()),
            "volume.kubernetes.io/selected-node", "node1", upd.GetAllocator());
  b.api.Update(kPersistentVolumeClaims, "ns", upd, "", [](StatusOr<JsonDoc> r) { REQUIRE(r.ok()); });
  b.Sync();
  b.api.ClearActions();
  REQUIRE(b.Reconcile(*ctrl, "ns/data").ok());
  auto events4 = b.EventReasons();
  CHECK(b.TakeWrites() == Writes{"update persistentvolumeclaims ns/data"});
  CHECK(events4 ==
        std::vector<std::string>{
            "ExternalProvisioning: Waiting for a volume to be created either by the external provisioner "
            "'rancher.io/local-path' or manually by the system administrator. If volume creation is delayed, please "
            "verify that the provisioner is running and correctly registered."});
  pvc = b.api.Find(kPersistentVolumeClaims, "ns", "data");
  CHECK(S(Path(*pvc, {"metadata", "annotations", "volume.kubernetes.io/storage-provisioner"})) == "rancher.io/local-path");
  CHECK(S(Path(*pvc, {"metadata", "annotations", "volume.beta.kubernetes.io/storage-provisioner"})) == "rancher.io/local-path");

  // The provisioner's volume, pre-bound to the claim: the binder finishes the binding.
  b.Seed(kPersistentVolumes, R"({"metadata":{"name":"pvc-)" + std::string(Uid(*pvc)) +
                                 R"(","annotations":{"pv.kubernetes.io/provisioned-by":"rancher.io/local-path"}},
    "spec":{"capacity":{"storage":"1Gi"},"hostPath":{"path":"/p","type":"DirectoryOrCreate"},"accessModes":["ReadWriteOnce"],
    "claimRef":{"kind":"PersistentVolumeClaim","namespace":"ns","name":"data","uid":")" +
                                 std::string(Uid(*pvc)) + R"(","apiVersion":"v1"},
    "persistentVolumeReclaimPolicy":"Delete","storageClassName":"local-path","volumeMode":"Filesystem",
    "nodeAffinity":{"required":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"kubernetes.io/hostname","operator":"In","values":["node1"]}]}]}}},
    "status":{"phase":"Pending"}})");
  b.Sync();
  b.api.ClearActions();
  std::string pv_name = "pvc-" + std::string(Uid(*pvc));
  REQUIRE(b.Reconcile(*ctrl, "ns/data").ok());
  CHECK(b.TakeWrites() == Writes{"update persistentvolumes/status " + pv_name, "update persistentvolumeclaims ns/data",
                                 "update persistentvolumeclaims/status ns/data"});
  auto pv = b.api.Find(kPersistentVolumes, "", pv_name);
  CHECK(S(Path(*pv, {"metadata", "annotations", "pv.kubernetes.io/bound-by-controller"})) == "<none>");
  pvc = b.api.Find(kPersistentVolumeClaims, "ns", "data");
  CHECK(S(Path(*pvc, {"spec", "volumeName"})) == pv_name);
  CHECK(S(Path(*pvc, {"metadata", "annotations", "pv.kubernetes.io/bound-by-controller"})) == "yes");
  CHECK(S(Path(*pvc, {"status", "phase"})) == "Bound");
  CHECK(S(Path(*pvc, {"status", "capacity", "storage"})) == "1Gi");
}

TEST_CASE("binder: a missing class fails provisioning; the default class is assigned retroactively") {
  Bench b;
  auto ctrl = NewPersistentVolumeBinderController(b.ctx);
  b.Seed(kPersistentVolumeClaims, Pvc("a", "1Gi", "nope"));
  b.Seed(kPersistentVolumeClaims, Pvc("b", "1Gi", ""));
  b.Sync();
  b.TakeWrites();
  REQUIRE(b.Reconcile(*ctrl, "ns/a").ok());
  auto events5 = b.EventReasons();
  CHECK(b.TakeWrites().empty());
  CHECK(events5 == std::vector<std::string>{"ProvisioningFailed: storageclass.storage.k8s.io \"nope\" not found"});
  b.api.ClearActions();
  b.Seed(kStorageClasses, kLocalPathClass);
  b.Sync();
  b.api.ClearActions();
  REQUIRE(b.Reconcile(*ctrl, "ns/b").ok());
  CHECK(b.TakeWrites() == Writes{"update persistentvolumeclaims ns/b"});
  CHECK(S(Path(*b.api.Find(kPersistentVolumeClaims, "ns", "b"), {"spec", "storageClassName"})) == "local-path");
}

TEST_CASE("binder: a deleted claim releases its volume; Delete without a provisioner fails the volume") {
  Bench b;
  auto ctrl = NewPersistentVolumeBinderController(b.ctx);
  auto bound = [](const std::string& name, const std::string& policy, const std::string& ann) {
    return R"({"metadata":{"name":")" + name + R"(")" + ann + R"(},"spec":{"capacity":{"storage":"1Gi"},"accessModes":["ReadWriteOnce"],
      "hostPath":{"path":"/x"},"claimRef":{"kind":"PersistentVolumeClaim","namespace":"ns","name":"gone","uid":"u-gone"},
      "persistentVolumeReclaimPolicy":")" + policy + R"("},"status":{"phase":"Bound"}})";
  };
  b.Seed(kPersistentVolumes, bound("retain", "Retain", ""));
  b.Seed(kPersistentVolumes, bound("delete", "Delete", ""));
  b.Seed(kPersistentVolumes, bound("local", "Delete", R"(,"annotations":{"pv.kubernetes.io/provisioned-by":"rancher.io/local-path"})"));
  b.Sync();
  b.TakeWrites();
  REQUIRE(b.Reconcile(*ctrl, "retain").ok());
  CHECK(b.TakeWrites() == Writes{"update persistentvolumes/status retain"});
  CHECK(S(Path(*b.api.Find(kPersistentVolumes, "", "retain"), {"status", "phase"})) == "Released");
  REQUIRE(b.Reconcile(*ctrl, "local").ok());
  CHECK(b.TakeWrites() == Writes{"update persistentvolumes/status local"});
  CHECK(S(Path(*b.api.Find(kPersistentVolumes, "", "local"), {"status", "phase"})) == "Released");
  REQUIRE(b.Reconcile(*ctrl, "delete").ok());
  auto events6 = b.EventReasons();
  CHECK(b.TakeWrites() == Writes{"update persistentvolumes/status delete", "update persistentvolumes/status delete"});
  CHECK(S(Path(*b.api.Find(kPersistentVolumes, "", "delete"), {"status", "phase"})) == "Failed");
  CHECK(events6 == std::vector<std::string>{
                                "VolumeFailedDelete: error getting deleter volume plugin for volume \"delete\": no "
                                "deletable volume plugin matched"});
}

TEST_CASE("binder: a bound claim whose volume disappeared is Lost") {
  Bench b;
  auto ctrl = NewPersistentVolumeBinderController(b.ctx);
  b.Seed(kPersistentVolumeClaims, R"({"metadata":{"name":"c","namespace":"ns","annotations":{"pv.kubernetes.io/bind-completed":"yes"}},
    "spec":{"accessModes":["ReadWriteOnce"],"resources":{"requests":{"storage":"1Gi"}},"volumeName":"vanished"},
    "status":{"phase":"Bound","capacity":{"storage":"1Gi"},"accessModes":["ReadWriteOnce"]}})");
  b.Sync();
  b.TakeWrites();
  REQUIRE(b.Reconcile(*ctrl, "ns/c").ok());
  auto events7 = b.EventReasons();
  CHECK(b.TakeWrites() == Writes{"update persistentvolumeclaims/status ns/c"});
  auto pvc = b.api.Find(kPersistentVolumeClaims, "ns", "c");
  CHECK(S(Path(*pvc, {"status", "phase"})) == "Lost");
  CHECK(Path(*pvc, {"status", "capacity"}) == nullptr);
  CHECK(events7 ==
        std::vector<std::string>{"ClaimLost: Bound claim has lost its PersistentVolume. Data on the volume is lost!"});
}

}  // namespace
}  // namespace minik::controllers
