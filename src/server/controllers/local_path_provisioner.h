// The built-in local-path provisioner (k3s ships rancher.io/local-path, driven by
// sig-storage-lib-external-provisioner): for a claim of a StorageClass whose provisioner is
// rancher.io/local-path, once the PV controller has asked for it (volume.kubernetes.io/
// storage-provisioner) and, for WaitForFirstConsumer, the scheduler has picked a node
// (volume.kubernetes.io/selected-node), it creates the PersistentVolume "pvc-<claim uid>":
// hostPath <base_dir>/pvc-<uid>_<namespace>_<name> (DirectoryOrCreate, so the kubelet creates the
// directory), required node affinity kubernetes.io/hostname In [node], the claim's request as
// capacity and its access modes, the class's reclaim policy, a claimRef to the claim, and the
// annotations pv.kubernetes.io/provisioned-by and local.path.provisioner/selected-node. The PV
// binder then binds the two. Released volumes it provisioned with reclaim policy Delete are
// deleted.
//
// Not here yet: removing the directory on the node when the volume is deleted (it comes with the
// agent's volume support: k3s runs a helper pod for it).
//
// Work queue keys: "namespace/name" for claims, "name" for volumes.
//
// Threading: as Controller (the Context's thread).
#pragma once

#include <string>

#include "server/controllers/controller.h"

namespace minik::controllers {

inline constexpr char kLocalPathProvisioner[] = "rancher.io/local-path";

struct LocalPathOptions {
  std::string base_dir = "/var/lib/minik/storage";
};

// Informers: persistentvolumeclaims, persistentvolumes, storageclasses, nodes (the hostname label).
ControllerPtr NewLocalPathProvisionerController(Context ctx, LocalPathOptions options = {});

}  // namespace minik::controllers
