// The PersistentVolume controller's binder (upstream's pkg/controller/volume/persistentvolume,
// "persistentvolume-binder"): binds pending claims to Available volumes that satisfy them (access
// modes, capacity, storage class, selector, volume mode; the smallest fitting volume with the
// fewest access modes wins), finishes bindings started by users (a claim's spec.volumeName, a
// volume's spec.claimRef) or by provisioners, keeps both sides' phases (Available, Bound,
// Released, Failed; Pending, Bound, Lost) and their annotations (pv.kubernetes.io/bind-completed,
// pv.kubernetes.io/bound-by-controller), assigns the default StorageClass to class-less claims
// retroactively, and asks external provisioners for volumes (volume.kubernetes.io/
// storage-provisioner and its beta twin, the ExternalProvisioning event). Claims of a
// WaitForFirstConsumer class wait for volume.kubernetes.io/selected-node (set by the scheduler);
// with it, an Available volume whose node affinity admits that node is bound, else one is
// provisioned. Released volumes: Retain keeps them Released; Delete leaves dynamically
// provisioned ones to their provisioner and marks others Failed (no in-tree deleter).
//
// Work queue keys: "namespace/name" for claims, "name" for volumes.
//
// Threading: as Controller (the Context's thread).
#pragma once

#include "server/controllers/controller.h"

namespace minik::controllers {

// Informers: persistentvolumes, persistentvolumeclaims, storageclasses, pods (the
// WaitForPodScheduled message), nodes (node affinity of volumes for WaitForFirstConsumer claims).
ControllerPtr NewPersistentVolumeBinderController(Context ctx);

// Helpers shared with the local-path provisioner and admission (pure; any thread).
namespace storage {

inline constexpr char kAnnBindCompleted[] = "pv.kubernetes.io/bind-completed";
inline constexpr char kAnnBoundByController[] = "pv.kubernetes.io/bound-by-controller";
inline constexpr char kAnnDynamicallyProvisioned[] = "pv.kubernetes.io/provisioned-by";
inline constexpr char kAnnStorageProvisioner[] = "volume.kubernetes.io/storage-provisioner";
inline constexpr char kAnnBetaStorageProvisioner[] = "volume.beta.kubernetes.io/storage-provisioner";
inline constexpr char kAnnSelectedNode[] = "volume.kubernetes.io/selected-node";
inline constexpr char kAnnBetaStorageClass[] = "volume.beta.kubernetes.io/storage-class";
inline constexpr char kAnnIsDefaultClass[] = "storageclass.kubernetes.io/is-default-class";
inline constexpr char kAnnBetaIsDefaultClass[] = "storageclass.beta.kubernetes.io/is-default-class";

// The claim's class: the beta annotation, else spec.storageClassName, else "".
std::string ClaimClass(const JsonValue& pvc);
// The volume's class: the beta annotation, else spec.storageClassName, else "".
std::string VolumeClass(const JsonValue& pv);
// True when the class carries the default-class annotation ("true").
bool IsDefaultClass(const JsonValue& sc);
// The default class among classes (the newest by creationTimestamp, then by name, as
// upstream's GetDefaultClass), or nullptr.
const JsonValue* DefaultClass(const std::vector<const JsonValue*>& classes);
// An ObjectReference to a claim (kind, namespace, name, uid, apiVersion, resourceVersion).
JsonValue ClaimReference(const JsonValue& pvc, JsonAlloc& a);
// A volume's required node affinity admits the node (labels: its metadata.labels).
bool NodeAffinityMatches(const JsonValue& pv, const std::string& node_name, const JsonValue* node_labels);

}  // namespace storage

}  // namespace minik::controllers
