// The EndpointSlice controller (upstream pkg/controller/endpointslice with the reconciler of
// k8s.io/endpointslice): the EndpointSlices of every Service with a selector.
//
//   - Slices are created with generateName "<service>-", labels kubernetes.io/service-name and
//     endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io (plus the
//     Service's labels and service.kubernetes.io/headless for headless Services), a controller
//     ownerReference to the Service, one addressType per IP family of the Service, and at most
//     100 endpoints each; endpoints are grouped into slices by their resolved port set.
//   - Each endpoint has addresses, conditions {ready, serving, terminating} (terminating pods
//     are included, ready only with publishNotReadyAddresses), hostname (pods whose subdomain
//     is the Service), targetRef, nodeName and zone (topology.kubernetes.io/zone of the node).
//   - Upstream's churn-minimising placement: changed slices are updated in place, leftover
//     endpoints fill updated slices first, then the closest-fitting unchanged slice, then new
//     slices; a create paired with a delete becomes an update; a Service without endpoints gets
//     one placeholder slice. Writes happen only on change; a deleted Service's slices are left
//     to the garbage collector (ownerReference).
//   - The generation of every slice written is tracked (upstream's EndpointSliceTracker), so a
//     stale informer cache is retried rather than acted on.
//
// Informers: services, pods, endpointslices, nodes.
// Threading: the controller's thread (see controller.h).
#pragma once

#include "server/controllers/controller.h"

namespace minik::controllers {

inline constexpr char kEndpointSliceControllerName[] = "endpointslice-controller.k8s.io";

// max_endpoints_per_slice: --max-endpoints-per-slice (100 by default).
ControllerPtr NewEndpointSliceController(Context ctx, int max_endpoints_per_slice = 100);

}  // namespace minik::controllers
