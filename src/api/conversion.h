// Conversion of objects between the served versions of one group/kind, for kinds that are stored
// in a version other than one they are served in. Today: autoscaling HorizontalPodAutoscaler,
// stored as autoscaling/v2 and served as autoscaling/v1 too, converted the way upstream's
// pkg/apis/autoscaling/v1/conversion.go does (through the internal version):
//
//   v2 -> v1  spec.metrics' CPU utilization metric becomes spec.targetCPUUtilizationPercentage;
//             the other metrics, status.currentMetrics, status.conditions and spec.behavior travel
//             in the annotations autoscaling.alpha.kubernetes.io/{metrics,current-metrics,
//             conditions,behavior} (v1 JSON shapes; the behavior as Go marshals the *internal*
//             type: field names ScaleUp, StabilizationWindowSeconds, ...); the CPU utilization
//             of status.currentMetrics becomes status.currentCPUUtilizationPercentage.
//   v1 -> v2  the reverse; well-formed annotations are read back, malformed ones are ignored, and
//             all four are removed. The v1 defaults (minReplicas 1) are applied first, and with no
//             metric at all the CPU 80% metric upstream's conversion adds explicitly. The v2
//             defaulter (api/defaults.h) still runs over the result.
//
// Objects are written as Go's encoding/json writes the typed structs (required fields present
// with zero values, e.g. v1 status.currentReplicas/desiredReplicas and v2 "currentMetrics": null).
//
// Pure functions of their arguments; any thread.
#pragma once

#include <string_view>

#include "common/json.h"
#include "common/status.h"

namespace minik::api {

// The version objects of (group, kind) are stored in, when it differs from one that is served
// ("autoscaling", "HorizontalPodAutoscaler") -> "v2"; "" when no conversion exists.
std::string_view StorageVersion(std::string_view group, std::string_view kind);

// Converts a full object (apiVersion, kind, metadata, spec, status) in place between versions of
// the same group/kind; apiVersion is rewritten. A no-op when the object already is in
// to_api_version. BadRequest when the object is not convertible (unknown kind or version, a
// malformed spec/status).
Status ConvertObject(JsonDoc& obj, std::string_view to_api_version);

}  // namespace minik::api
