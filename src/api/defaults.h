// Per-kind defaulting and validation of built-in objects, as upstream's
// pkg/apis/<group>/v1/defaults.go and pkg/apis/<group>/validation do. Pure functions; any thread.
#pragma once

#include "api/registry.h"
#include "common/json.h"
#include "common/status.h"

namespace minik::api {

// Fills upstream's defaults into obj (a full object with apiVersion, kind, metadata, spec...).
// E.g. Pod: spec.restartPolicy Always, dnsPolicy ClusterFirst, terminationGracePeriodSeconds 30,
// schedulerName default-scheduler, securityContext {}, enableServiceLinks true, containers'
// imagePullPolicy (Always for :latest or no tag, else IfNotPresent), terminationMessagePath,
// terminationMessagePolicy, ports' protocol TCP; Deployment: replicas 1, strategy RollingUpdate
// 25%/25%, revisionHistoryLimit 10, progressDeadlineSeconds 600, and the pod template defaults;
// Service: type ClusterIP, sessionAffinity None, ports' protocol TCP and targetPort = port,
// ipFamilyPolicy SingleStack, ipFamilies [IPv4], internalTrafficPolicy Cluster; ...
void ApplyDefaults(const ResourceInfo& resource, JsonValue& obj, JsonAlloc& alloc);

// Validates the kind-specific parts of obj (metadata is validated elsewhere). old is the
// stored object on update, nullptr on create. Returns Invalid with upstream's causes, e.g.
// field "spec.containers[0].image", reason "FieldValueRequired", message "Required value".
// The Status message is upstream's: `Pod "x" is invalid: spec.containers[0].image: Required value`
// (see MakeInvalid in api/errors.h).
Status ValidateObject(const ResourceInfo& resource, const JsonValue& obj, const JsonValue* old);

}  // namespace minik::api
