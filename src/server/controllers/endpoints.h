// The Endpoints controller (upstream pkg/controller/endpoint): one Endpoints object per Service
// with a selector, named as the Service, listing the addresses of the pods the selector matches.
//
//   - Subsets are grouped by port set (upstream's RepackSubsets); ready pods go to addresses,
//     not-ready pods to notReadyAddresses (all to addresses with publishNotReadyAddresses);
//     pods without an IP, terminal pods and (unless publishNotReadyAddresses) terminating pods
//     are left out; named targetPorts are resolved per pod from its container ports.
//   - The Endpoints gets the Service's labels, plus service.kubernetes.io/headless for headless
//     Services, and the endpoints.kubernetes.io/last-change-trigger-time annotation; more than
//     1000 addresses are truncated with endpoints.kubernetes.io/over-capacity: truncated.
//   - Services without a selector (default/kubernetes among them) and ExternalName Services are
//     left alone; the Endpoints of a deleted Service is deleted. Writes happen only on change.
//
// The helpers in namespace `endpointutil` are shared with the EndpointSlice controller.
//
// Informers: services, pods, endpoints.
// Threading: the controller's thread (see controller.h).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "api/labels.h"
#include "client/informer.h"
#include "common/clock.h"
#include "common/json.h"
#include "server/controllers/controller.h"

namespace minik::controllers {

ControllerPtr NewEndpointsController(Context ctx);

namespace endpointutil {

inline constexpr char kLastChangeTriggerTime[] = "endpoints.kubernetes.io/last-change-trigger-time";
inline constexpr char kHeadlessLabel[] = "service.kubernetes.io/headless";

// Upstream's ShouldPodBeInEndpoints: not terminal, has an IP, and not terminating unless
// include_terminating.
bool ShouldPodBeInEndpoints(const JsonValue& pod, bool include_terminating);
// hostname set, subdomain == service name, same namespace.
bool ShouldSetHostname(const JsonValue& pod, const JsonValue& svc);
// clusterIP set and not "None".
bool IsServiceIPSet(const JsonValue& svc);
bool IsHeadless(const JsonValue& svc);  // clusterIP "None"
// The container port a service port targets on this pod (FindPort), or nullopt.
std::optional<int64_t> FindPort(const JsonValue& pod, const JsonValue& svc_port);
// The pod's IPs (status.podIPs, else status.podIP).
std::vector<std::string> PodIPs(const JsonValue& pod);
bool IsIPv6(std::string_view ip);
// The selector of a Service (spec.selector map), or nullopt when it has none.
std::optional<api::LabelSelector> ServiceSelector(const JsonValue& svc);
// The pods (from the cache) a Service selects, sorted by name.
std::vector<client::ObjectPtr> PodsForService(client::Informer& pods, const JsonValue& svc);
// The keys of the Services (from the cache) selecting a pod.
std::vector<std::string> ServicesForPod(client::Informer& services, const JsonValue& pod);
// True when a pod changed in a way that can change endpoints (labels aside).
bool PodEndpointsChanged(const JsonValue& old_pod, const JsonValue& new_pod);
bool LabelsChanged(const JsonValue& a, const JsonValue& b);

// The Service and pod event handlers both controllers install (upstream's service handlers and
// addPod/updatePod/deletePod with GetPodServiceMemberships): every Service event enqueues the
// Service's key; a pod added or deleted enqueues the keys of the Services selecting it; an
// updated pod does so when its labels or endpoint-relevant fields changed, and then, when its
// labels changed, also the keys of the Services selecting the old pod. Both informers must
// outlive the handlers.
void AddServiceAndPodHandlers(client::Informer& services, client::Informer& pods,
                              std::function<void(const std::string& key)> enqueue);

// Upstream's TriggerTimeTracker: the time of the earliest change (pod Ready transition or
// service creation) not seen by the previous sync of the service.
class TriggerTimeTracker {
 public:
  std::optional<TimePoint> Compute(const std::string& svc_key, const JsonValue& svc,
                                   const std::vector<client::ObjectPtr>& pods);
  void DeleteService(const std::string& svc_key) { states_.erase(svc_key); }

 private:
  struct State {
    std::unordered_map<std::string, TimePoint> pods;
    TimePoint service{};
  };
  std::unordered_map<std::string, State> states_;
};

// True when a create failed because the namespace is being terminated.
bool IsNamespaceTerminating(const Status& st);

}  // namespace endpointutil
}  // namespace minik::controllers
