#include "client/events.h"

#include <cstdio>

#include "common/log.h"

namespace minik::client {
namespace {

constexpr int64_t kCorrelationWindowMs = 10 * 60 * 1000;
constexpr size_t kMaxSeen = 4096;

}  // namespace

EventRecorder::EventRecorder(client::ApiClient& client, const Clock& clock, std::string component, std::string host)
    : client_(client), clock_(clock), component_(std::move(component)), host_(std::move(host)) {}

void EventRecorder::Event(const JsonValue& obj, std::string_view type, std::string_view reason,
                          std::string_view message, std::string_view field_path) {
  EventFrom(component_, obj, type, reason, message, field_path);
}

void EventRecorder::EventFrom(std::string_view component, const JsonValue& obj, std::string_view type,
                              std::string_view reason, std::string_view message, std::string_view field_path) {
  std::string_view obj_ns = MetaString(obj, "namespace");
  std::string_view obj_name = MetaString(obj, "name");
  std::string_view kind = GetString(obj, "kind").value_or("");
  std::string_view uid = MetaString(obj, "uid");
  std::string ns = obj_ns.empty() ? "default" : std::string(obj_ns);
  TimePoint now = clock_.Now();
  std::string ts = FormatRFC3339(now);
  int64_t mono = clock_.MonotonicMillis();
  ++recorded_;

  std::string corr;
  for (std::string_view part :
       {component, std::string_view(host_), kind, obj_ns, obj_name, uid, field_path, type, reason, message}) {
    corr.append(part);
    corr.push_back('\x1f');
  }
  auto it = seen_.find(corr);
  if (it != seen_.end() && mono - it->second.mono_ms < kCorrelationWindowMs) {
    Seen& s = it->second;
    s.count++;
    s.mono_ms = mono;
    lru_.splice(lru_.begin(), lru_, s.lru);
    std::string patch = "{\"count\":" + std::to_string(s.count) + ",\"lastTimestamp\":\"" + ts + "\"}";
    client_.Patch(kEventResource, s.ns, s.name, client::PatchType::kMerge, std::move(patch), "",
                  [](StatusOr<JsonDoc> r) {
                    if (!r.ok() && !r.error().IsNotFound()) MINIK_LOG(Warning) << "event: " << r.error().ToString();
                  });
    return;
  }

  // Unique per recorder even when a (simulated) clock does not move between two events.
  int64_t nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
  if (nanos <= last_nanos_) nanos = last_nanos_ + 1;
  last_nanos_ = nanos;
  char hex[32];
  std::snprintf(hex, sizeof(hex), "%llx", static_cast<unsigned long long>(nanos));
  std::string name = std::string(obj_name) + "." + hex;

  JsonDoc ev(rapidjson::kObjectType);
  auto& a = ev.GetAllocator();
  SetString(ev, "kind", "Event", a);
  SetString(ev, "apiVersion", "v1", a);
  JsonValue md(rapidjson::kObjectType);
  SetString(md, "name", name, a);
  SetString(md, "namespace", ns, a);
  ev.AddMember("metadata", md, a);
  JsonValue ref(rapidjson::kObjectType);
  SetString(ref, "kind", kind, a);
  if (!obj_ns.empty()) SetString(ref, "namespace", obj_ns, a);
  SetString(ref, "name", obj_name, a);
  if (!uid.empty()) SetString(ref, "uid", uid, a);
  if (auto av = GetString(obj, "apiVersion")) SetString(ref, "apiVersion", *av, a);
  std::string_view rv = MetaString(obj, "resourceVersion");
  if (!rv.empty()) SetString(ref, "resourceVersion", rv, a);
  if (!field_path.empty()) SetString(ref, "fieldPath", field_path, a);
  ev.AddMember("involvedObject", ref, a);
  SetString(ev, "reason", reason, a);
  SetString(ev, "message", message, a);
  JsonValue src(rapidjson::kObjectType);
  SetString(src, "component", component, a);
  if (!host_.empty()) SetString(src, "host", host_, a);
  ev.AddMember("source", src, a);
  SetString(ev, "firstTimestamp", ts, a);
  SetString(ev, "lastTimestamp", ts, a);
  ev.AddMember("count", 1, a);
  SetString(ev, "type", type, a);
  ev.AddMember("eventTime", JsonValue(rapidjson::kNullType), a);
  SetString(ev, "reportingComponent", component, a);
  SetString(ev, "reportingInstance", host_, a);

  if (it != seen_.end()) {
    lru_.erase(it->second.lru);
    seen_.erase(it);
  }
  lru_.push_front(corr);
  seen_[corr] = Seen{ns, name, 1, mono, lru_.begin()};
  while (seen_.size() > kMaxSeen) {
    seen_.erase(lru_.back());
    lru_.pop_back();
  }
  client_.Create(kEventResource, ns, ev, [](StatusOr<JsonDoc> r) {
    if (!r.ok() && !r.error().IsNotFound()) MINIK_LOG(Warning) << "event: " << r.error().ToString();
  });
}

}  // namespace minik::client
