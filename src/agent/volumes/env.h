// The container environment as the kubelet builds it (pkg/kubelet/kubelet_pods.go
// makeEnvironmentVariables, v1.32) and the service environment variables
// (pkg/kubelet/envvars).
//
// Order (upstream iterates a Go map, so any fixed order is faithful; this one is stable):
//   1. envFrom sources in order, each source's keys in the object's order (the API server
//      serializes maps sorted), with prefix; a later source or env entry of the same name
//      replaces the value in place;
//   2. env entries in order: value with `$(VAR)` expansion against the variables defined so far
//      and the service variables (`$$` is a literal `$`), or valueFrom (configMapKeyRef,
//      secretKeyRef, fieldRef, resourceFieldRef);
//   3. the service variables not already defined: the `kubernetes` service of `default` always,
//      and the services of the pod's namespace unless spec.enableServiceLinks is false (services
//      by name, each as FromServices writes them).
// Errors carry the kubelet's message (`configmap "x" not found`, `couldn't find key k in
// ConfigMap ns/x`, `secret "x" not found`, `couldn't find key k in Secret ns/x`, ...), which the
// kubelet puts in the container's waiting state with reason CreateContainerConfigError
// (kCreateContainerConfigError) and in a Failed event "Error: <message>".
//
// Pure logic: any thread (the ObjectSource decides where it may be read).
#pragma once

#include <string>
#include <vector>

#include "agent/volumes/sources.h"
#include "common/json.h"
#include "common/status.h"

namespace minik::agent::volumes {

inline constexpr char kCreateContainerConfigError[] = "CreateContainerConfigError";

struct EnvVar {
  std::string name;
  std::string value;
  bool operator==(const EnvVar&) const = default;
};

// An event the kubelet records on the pod while building the environment.
struct PodEvent {
  std::string type;     // "Warning"
  std::string reason;   // "InvalidEnvironmentVariableNames"
  std::string message;  // "Keys [1bad, a.b] from the EnvFrom configMap ns/x were skipped since they
                        //  are considered invalid environment variable names."
};

struct EnvResult {
  std::vector<EnvVar> env;
  std::vector<PodEvent> events;
};

struct EnvOptions {
  // v1.32 (RelaxedEnvironmentVariableValidation on by default) passes every envFrom key on; keys
  // are only skipped when they contain '=' or a character outside printable ASCII. Set true for
  // the pre-1.30 behaviour: keys that are not C identifiers are skipped too. Either way skipped
  // keys are reported in one InvalidEnvironmentVariableNames event per source.
  bool strict_env_var_names = false;
  // False until the kubelet's Service informer has synced once: API pods then fail with
  // "services have not yet been read at least once, cannot construct envvars" (static pods,
  // annotation kubernetes.io/config.source other than "api", proceed).
  bool services_synced = true;
};

// Builds the environment of `container` (an element of the pod's containers, initContainers or
// ephemeralContainers). `services` are the Service objects the kubelet knows (all namespaces;
// only `kubernetes` in `default` and those in the pod's namespace are used).
StatusOr<EnvResult> MakeEnvironment(const JsonValue& pod, const JsonValue& container,
                                    const std::vector<ObjectPtr>& services, const ObjectSource& objects,
                                    const NodeInfo& node, const EnvOptions& options = {});

// envvars.FromServices for the given services, in order (services without a cluster IP, or with
// "None", are skipped): <NAME>_SERVICE_HOST, <NAME>_SERVICE_PORT, <NAME>_SERVICE_PORT_<PORTNAME>,
// <NAME>_PORT, <NAME>_PORT_<port>_<PROTO>, ..._PROTO, ..._PORT, ..._ADDR.
std::vector<EnvVar> ServiceEnvVars(const std::vector<const JsonValue*>& services);

// kubecontainer.ExpandContainerCommandAndArgs: $(VAR) in command and args against env.
void ExpandCommandAndArgs(const JsonValue& container, const std::vector<EnvVar>& env,
                          std::vector<std::string>* command, std::vector<std::string>* args);

// kubecontainer.ExpandContainerVolumeMounts: a subPathExpr expanded against env; every reference
// must name a variable with a non-empty value, else "missing value for A, B" (sorted).
StatusOr<std::string> ExpandSubPathExpr(const std::string& expr, const std::vector<EnvVar>& env);

}  // namespace minik::agent::volumes
