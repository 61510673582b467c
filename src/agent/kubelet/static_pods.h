// Static pods: the pods of the manifest directory (<data-dir>/agent/pod-manifests), as the
// kubelet's file source reads them: one Pod per file (*.yaml, *.yml, *.json; dot files skipped),
// named "<name>-<node name>", in its namespace ("default" when unset), bound to the node, with a
// UID hashed from the file's content and the node name, and the annotations
// kubernetes.io/config.hash (= the UID), kubernetes.io/config.seen and
// kubernetes.io/config.source ("file").
//
// Threading: blocking file reads; any thread (the agent calls it on its loop: the files are small).
#pragma once

#include <string>
#include <vector>

#include "client/informer.h"
#include "common/clock.h"

namespace minik::agent::kubelet {

struct StaticPodsResult {
  std::vector<client::ObjectPtr> pods;
  std::vector<std::string> errors;  // "<file>: <why>", for the log
};

StaticPodsResult LoadStaticPods(const std::string& dir, const std::string& node_name, const Clock& clock);

}  // namespace minik::agent::kubelet
