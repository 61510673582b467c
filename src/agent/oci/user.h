// The process user of a container, resolved against the image's /etc/passwd and /etc/group as
// containerd does (oci.WithUser, WithUserID, WithUsername, WithAdditionalGIDs and the CRI's
// WithSupplementalGroups), with the kubelet's securityContext overrides.
//
// Files are read under the rootfs without following symlinks out of it (a symlink is resolved as
// if the rootfs were "/").
//
// Threading: pure functions over the filesystem; callable from any thread (they block on file
// reads: call them from a WorkPool).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace minik::agent::oci {

struct ResolvedUser {
  uint32_t uid = 0;
  uint32_t gid = 0;
  // Sorted and unique: the primary gid, the groups of /etc/group listing the user, and the
  // pod's supplementalGroups (what containerd puts in process.user.additionalGids).
  std::vector<uint32_t> additional_gids;
};

// Resolves a user string as containerd's oci.WithUser: "", "uid", "name", "uid:gid",
// "name:group", "uid:group", "name:gid". A uid missing from /etc/passwd (or no passwd file) gives
// gid 0; a name missing is an error ("no users found"), as is a group name ("no groups found").
// additional_gids holds the primary gid only; see ResolveContainerUser for the full set.
StatusOr<ResolvedUser> ResolveUser(const std::string& rootfs, const std::string& user);

// The groups of /etc/group whose member list names `user` (a uid is mapped to its name through
// /etc/passwd; a group named like the user is skipped), as containerd's WithAdditionalGIDs.
// Missing files give no groups.
StatusOr<std::vector<uint32_t>> SupplementaryGroups(const std::string& rootfs, const std::string& user);

// The whole kubelet + containerd pipeline for one container: the image's User (config.User),
// securityContext runAsUser / runAsGroup (pod-level already merged by the caller) and the pod's
// supplementalGroups. As upstream: without runAsUser the kubelet takes the user part of the
// image's User (its group part is dropped), runAsGroup replaces the group.
StatusOr<ResolvedUser> ResolveContainerUser(const std::string& rootfs, const std::string& image_user,
                                            std::optional<int64_t> run_as_user, std::optional<int64_t> run_as_group,
                                            const std::vector<int64_t>& supplemental_groups);

// Reads a file of the rootfs (path absolute inside it), resolving symlinks inside the rootfs.
// NotFound when it does not exist.
StatusOr<std::string> ReadFileInRoot(const std::string& rootfs, const std::string& path);
// The host path of `path` inside rootfs with every symlink resolved within rootfs (like
// securejoin.SecureJoin); components that do not exist are kept as given.
StatusOr<std::string> ResolveInRoot(const std::string& rootfs, const std::string& path);

}  // namespace minik::agent::oci
