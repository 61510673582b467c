// A bind mount the kubelet asks the runtime to make into a container (kubecontainer.Mount): pod
// volumes from volumeMounts, and the generated /etc/hosts, /etc/hostname and /etc/resolv.conf.
// Plain values: any thread.
#pragma once

#include <string>
#include <vector>

namespace minik::agent::volumes {

enum class MountPropagation {
  kPrivate,          // rprivate (default, and "None")
  kHostToContainer,  // rslave
  kBidirectional,    // rshared
};

struct ContainerMount {
  std::string name;            // the volume name ("k8s-managed-etc-hosts" for /etc/hosts)
  std::string container_path;  // absolute path in the container
  std::string host_path;       // absolute path on the host (a directory or a file)
  bool read_only = false;
  bool recursive_read_only = false;
  MountPropagation propagation = MountPropagation::kPrivate;
  bool operator==(const ContainerMount&) const = default;
};

// The OCI mount options containerd gives such a bind mount: {"rbind", "rprivate"|"rslave"|
// "rshared", "ro"|"rw"} (recursive_read_only is the runtime's "rro" on top of "ro").
std::vector<std::string> OciBindOptions(const ContainerMount& m);

}  // namespace minik::agent::volumes
