// Records core/v1 Events about objects, as client-go's record.EventRecorder does: the Event is
// named "<object name>.<unix nanoseconds in hex>" in the object's namespace ("default" for
// cluster-scoped objects), with involvedObject, reason, message, type, source {component, host},
// firstTimestamp = lastTimestamp, count 1, reportingComponent and reportingInstance.
//
// Like client-go's EventCorrelator, an event identical to one recorded in the last 10 minutes
// (same object, type, reason and message) is not created again: the earlier Event's count and
// lastTimestamp are patched instead. Writes are fire-and-forget: a failed event write is
// logged, never retried into a controller's result.
//
// Threading: the thread of its ApiClient.
#pragma once

#include <cstdint>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>

#include "client/api_client.h"
#include "common/clock.h"

namespace minik::client {

inline constexpr char kEventTypeNormal[] = "Normal";
inline constexpr char kEventTypeWarning[] = "Warning";

inline const ResourceRef kEventResource{"", "v1", "events"};

class EventRecorder {
 public:
  // component: source.component ("deployment-controller"); host: source.host ("" for controllers).
  EventRecorder(ApiClient& client, const Clock& clock, std::string component, std::string host = "");
  EventRecorder(const EventRecorder&) = delete;
  EventRecorder& operator=(const EventRecorder&) = delete;

  // obj: the involved object (apiVersion, kind and metadata are read from it); field_path: the
  // part of it the event is about (involvedObject.fieldPath, e.g. the kubelet's
  // "spec.containers{app}"), "" for the whole object.
  void Event(const JsonValue& obj, std::string_view type, std::string_view reason, std::string_view message,
             std::string_view field_path = {});
  // The same with another source component (one recorder serves every controller).
  void EventFrom(std::string_view component, const JsonValue& obj, std::string_view type, std::string_view reason,
                 std::string_view message, std::string_view field_path = {});

  // Events created or patched so far (for tests and metrics).
  int64_t recorded() const { return recorded_; }

 private:
  struct Seen {
    std::string ns;
    std::string name;
    int64_t count = 0;
    int64_t mono_ms = 0;
    std::list<std::string>::iterator lru;
  };

  ApiClient& client_;
  const Clock& clock_;
  std::string component_;
  std::string host_;
  std::unordered_map<std::string, Seen> seen_;
  std::list<std::string> lru_;  // most recent first
  int64_t recorded_ = 0;
  int64_t last_nanos_ = 0;
};

}  // namespace minik::client
