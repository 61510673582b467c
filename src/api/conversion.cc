// autoscaling/v1 <-> autoscaling/v2 HorizontalPodAutoscaler conversion; see conversion.h.
#include "api/conversion.h"

#include <cctype>
#include <optional>
#include <string>

namespace minik::api {
namespace {

// Round-trip annotations (pkg/apis/autoscaling/annotations.go).
constexpr std::string_view kMetricSpecsAnnotation = "autoscaling.alpha.kubernetes.io/metrics";
constexpr std::string_view kMetricStatusesAnnotation = "autoscaling.alpha.kubernetes.io/current-metrics";
constexpr std::string_view kConditionsAnnotation = "autoscaling.alpha.kubernetes.io/conditions";
constexpr std::string_view kBehaviorSpecsAnnotation = "autoscaling.alpha.kubernetes.io/behavior";
constexpr std::string_view kRoundTripAnnotations[] = {kMetricSpecsAnnotation, kBehaviorSpecsAnnotation,
                                                      kMetricStatusesAnnotation, kConditionsAnnotation};
// autoscaling.DefaultCPUUtilization.
constexpr int64_t kDefaultCPUUtilization = 80;

constexpr std::string_view kHPAv1 = "autoscaling/v1";
constexpr std::string_view kHPAv2 = "autoscaling/v2";

// ---- reading, the way encoding/json decodes into typed structs -------------------------------
//
// Keys match exactly, else ASCII case-insensitively; null is "absent"; a value of the wrong type
// marks the whole decode as failed (json.Unmarshal's error), which makes callers drop it.
struct Reader {
  bool ok = true;

  const JsonValue* Find(const JsonValue* o, std::string_view key) {
    if (!o || !o->IsObject()) return nullptr;
    const JsonValue* v = Member(*o, key);
    if (!v) {
      for (auto it = o->MemberBegin(); it != o->MemberEnd(); ++it) {
        std::string_view k(it->name.GetString(), it->name.GetStringLength());
        if (k.size() != key.size()) continue;
        bool eq = true;
        for (size_t i = 0; i < k.size() && eq; ++i) {
          eq = std::tolower(static_cast<unsigned char>(k[i])) == std::tolower(static_cast<unsigned char>(key[i]));
        }
        if (eq) {
          v = &it->value;
          break;
        }
      }
    }
    return v && !v->IsNull() ? v : nullptr;
  }
  const JsonValue* Obj(const JsonValue* o, std::string_view key) {
    const JsonValue* v = Find(o, key);
    if (v && !v->IsObject()) {
      ok = false;
      return nullptr;
    }
    return v;
  }
  const JsonValue* Arr(const JsonValue* o, std::string_view key) {
    const JsonValue* v = Find(o, key);
    if (v && !v->IsArray()) {
      ok = false;
      return nullptr;
    }
    return v;
  }
  // A string field (non-pointer in Go): "" when absent.
  JsonValue Str(const JsonValue* o, std::string_view key, JsonAlloc& a) {
    const JsonValue* v = Find(o, key);
    if (v && !v->IsString()) ok = false;
    if (!v || !v->IsString()) return JsonValue("", a);
    return JsonValue(v->GetString(), v->GetStringLength(), a);
  }
  std::optional<JsonValue> OptStr(const JsonValue* o, std::string_view key, JsonAlloc& a) {
    const JsonValue* v = Find(o, key);
    if (!v) return std::nullopt;
    if (!v->IsString()) {
      ok = false;
      return std::nullopt;
    }
    return JsonValue(v->GetString(), v->GetStringLength(), a);
  }
  std::optional<JsonValue> OptInt(const JsonValue* o, std::string_view key) {
    const JsonValue* v = Find(o, key);
    if (!v) return std::nullopt;
    if (!v->IsInt64()) {
      ok = false;
      return std::nullopt;
    }
    return JsonValue(v->GetInt64());
  }
  JsonValue Int(const JsonValue* o, std::string_view key) {
    auto v = OptInt(o, key);
    return v ? std::move(*v) : JsonValue(int64_t{0});
  }
  // A *resource.Quantity: a string (or a bare number, which Quantity's decoder accepts).
  std::optional<JsonValue> OptQty(const JsonValue* o, std::string_view key, JsonAlloc& a) {
    const JsonValue* v = Find(o, key);
    if (!v) return std::nullopt;
    if (!v->IsString() && !v->IsNumber()) {
      ok = false;
      return std::nullopt;
    }
    return Clone(*v, a);
  }
  // A resource.Quantity value field: the zero quantity marshals as "0".
  JsonValue Qty(const JsonValue* o, std::string_view key, JsonAlloc& a) {
    auto v = OptQty(o, key, a);
    return v ? std::move(*v) : JsonValue("0", a);
  }
  // A *metav1.LabelSelector.
  std::optional<JsonValue> OptSelector(const JsonValue* o, std::string_view key, JsonAlloc& a) {
    const JsonValue* v = Obj(o, key);
    if (!v) return std::nullopt;
    return Clone(*v, a);
  }
};

void Add(JsonValue& o, std::string_view key, JsonValue v, JsonAlloc& a) {
  o.AddMember(MakeString(key, a), std::move(v), a);
}
void AddOpt(JsonValue& o, std::string_view key, std::optional<JsonValue> v, JsonAlloc& a) {
  if (v) Add(o, key, std::move(*v), a);
}
JsonValue NewObject() { return JsonValue(rapidjson::kObjectType); }

// CrossVersionObjectReference (same shape in v1 and v2): kind, name, apiVersion,omitempty.
JsonValue Ref(Reader& r, const JsonValue* in, JsonAlloc& a) {
  JsonValue out = NewObject();
  Add(out, "kind", r.Str(in, "kind", a), a);
  Add(out, "name", r.Str(in, "name", a), a);
  auto api_version = r.OptStr(in, "apiVersion", a);
  if (api_version && api_version->GetStringLength() > 0) Add(out, "apiVersion", std::move(*api_version), a);
  return out;
}

// v2 MetricIdentifier: name, selector,omitempty.
JsonValue Identifier(Reader& r, const JsonValue* in, std::string_view name_key, std::string_view selector_key,
                     JsonAlloc& a) {
  JsonValue out = NewObject();
  Add(out, "name", r.Str(in, name_key, a), a);
  AddOpt(out, "selector", r.OptSelector(in, selector_key, a), a);
  return out;
}

// ---- metric specs -----------------------------------------------------------------------------

JsonValue MetricSpecToV1(Reader& r, const JsonValue& m, JsonAlloc& a) {
  JsonValue out = NewObject();
  Add(out, "type", r.Str(&m, "type", a), a);
  if (const JsonValue* in = r.Obj(&m, "object")) {
    const JsonValue* target = r.Obj(in, "target");
    const JsonValue* metric = r.Obj(in, "metric");
    JsonValue v = NewObject();
    Add(v, "target", Ref(r, r.Obj(in, "describedObject"), a), a);
    Add(v, "metricName", r.Str(metric, "name", a), a);
    Add(v, "targetValue", r.Qty(target, "value", a), a);
    AddOpt(v, "selector", r.OptSelector(metric, "selector", a), a);
    AddOpt(v, "averageValue", r.OptQty(target, "averageValue", a), a);
    Add(out, "object", std::move(v), a);
  }
  if (const JsonValue* in = r.Obj(&m, "pods")) {
    const JsonValue* target = r.Obj(in, "target");
    const JsonValue* metric = r.Obj(in, "metric");
    JsonValue v = NewObject();
    Add(v, "metricName", r.Str(metric, "name", a), a);
    Add(v, "targetAverageValue", r.Qty(target, "averageValue", a), a);
    AddOpt(v, "selector", r.OptSelector(metric, "selector", a), a);
    Add(out, "pods", std::move(v), a);
  }
  for (std::string_view key : {"resource", "containerResource"}) {
    if (const JsonValue* in = r.Obj(&m, key)) {
      const JsonValue* target = r.Obj(in, "target");
      JsonValue v = NewObject();
      Add(v, "name", r.Str(in, "name", a), a);
      AddOpt(v, "targetAverageUtilization", r.OptInt(target, "averageUtilization"), a);
      AddOpt(v, "targetAverageValue", r.OptQty(target, "averageValue", a), a);
      if (key == "containerResource") Add(v, "container", r.Str(in, "container", a), a);
      Add(out, key, std::move(v), a);
    }
  }
  if (const JsonValue* in = r.Obj(&m, "external")) {
    const JsonValue* target = r.Obj(in, "target");
    const JsonValue* metric = r.Obj(in, "metric");
    JsonValue v = NewObject();
    Add(v, "metricName", r.Str(metric, "name", a), a);
    AddOpt(v, "metricSelector", r.OptSelector(metric, "selector", a), a);
    AddOpt(v, "targetValue", r.OptQty(target, "value", a), a);
    AddOpt(v, "targetAverageValue", r.OptQty(target, "averageValue", a), a);
    Add(out, "external", std::move(v), a);
  }
  return out;
}

// v2 MetricTarget: type, value, averageValue, averageUtilization (all but type omitempty).
JsonValue Target(std::string_view type, std::optional<JsonValue> value, std::optional<JsonValue> average_value,
                 std::optional<JsonValue> average_utilization, JsonAlloc& a) {
  JsonValue t = NewObject();
  Add(t, "type", MakeString(type, a), a);
  AddOpt(t, "value", std::move(value), a);
  AddOpt(t, "averageValue", std::move(average_value), a);
  AddOpt(t, "averageUtilization", std::move(average_utilization), a);
  return t;
}

JsonValue MetricSpecToV2(Reader& r, const JsonValue& m, JsonAlloc& a) {
  JsonValue out = NewObject();
  Add(out, "type", r.Str(&m, "type", a), a);
  if (const JsonValue* in = r.Obj(&m, "object")) {
    auto average_value = r.OptQty(in, "averageValue", a);
    std::string_view type = average_value ? "AverageValue" : "Value";
    JsonValue v = NewObject();
    Add(v, "describedObject", Ref(r, r.Obj(in, "target"), a), a);
    Add(v, "target", Target(type, r.Qty(in, "targetValue", a), std::move(average_value), std::nullopt, a), a);
    Add(v, "metric", Identifier(r, in, "metricName", "selector", a), a);
    Add(out, "object", std::move(v), a);
  }
  if (const JsonValue* in = r.Obj(&m, "pods")) {
    JsonValue v = NewObject();
    Add(v, "metric", Identifier(r, in, "metricName", "selector", a), a);
    Add(v, "target", Target("AverageValue", std::nullopt, r.Qty(in, "targetAverageValue", a), std::nullopt, a), a);
    Add(out, "pods", std::move(v), a);
  }
  for (std::string_view key : {"resource", "containerResource"}) {
    if (const JsonValue* in = r.Obj(&m, key)) {
      auto utilization = r.OptInt(in, "targetAverageUtilization");
      std::string_view type = utilization ? "Utilization" : "AverageValue";
      JsonValue v = NewObject();
      Add(v, "name", r.Str(in, "name", a), a);
      Add(v, "target", Target(type, std::nullopt, r.OptQty(in, "targetAverageValue", a), std::move(utilization), a),
          a);
      if (key == "containerResource") Add(v, "container", r.Str(in, "container", a), a);
      Add(out, key, std::move(v), a);
    }
  }
  if (const JsonValue* in = r.Obj(&m, "external")) {
    auto value = r.OptQty(in, "targetValue", a);
    std::string_view type = value ? "Value" : "AverageValue";
    JsonValue v = NewObject();
    Add(v, "metric", Identifier(r, in, "metricName", "metricSelector", a), a);
    Add(v, "target", Target(type, std::move(value), r.OptQty(in, "targetAverageValue", a), std::nullopt, a), a);
    Add(out, "external", std::move(v), a);
  }
  return out;
}

// ---- metric statuses --------------------------------------------------------------------------

JsonValue MetricStatusToV1(Reader& r, const JsonValue& m, JsonAlloc& a) {
  JsonValue out = NewObject();
  Add(out, "type", r.Str(&m, "type", a), a);
  if (const JsonValue* in = r.Obj(&m, "object")) {
    const JsonValue* current = r.Obj(in, "current");
    const JsonValue* metric = r.Obj(in, "metric");
    JsonValue v = NewObject();
    Add(v, "target", Ref(r, r.Obj(in, "describedObject"), a), a);
    Add(v, "metricName", r.Str(metric, "name", a), a);
    Add(v, "currentValue", r.Qty(current, "value", a), a);
    AddOpt(v, "selector", r.OptSelector(metric, "selector", a), a);
    AddOpt(v, "averageValue", r.OptQty(current, "averageValue", a), a);
    Add(out, "object", std::move(v), a);
  }
  if (const JsonValue* in = r.Obj(&m, "pods")) {
    const JsonValue* current = r.Obj(in, "current");
    const JsonValue* metric = r.Obj(in, "metric");
    JsonValue v = NewObject();
    Add(v, "metricName", r.Str(metric, "name", a), a);
    Add(v, "currentAverageValue", r.Qty(current, "averageValue", a), a);
    AddOpt(v, "selector", r.OptSelector(metric, "selector", a), a);
    Add(out, "pods", std::move(v), a);
  }
  for (std::string_view key : {"resource", "containerResource"}) {
    if (const JsonValue* in = r.Obj(&m, key)) {
      const JsonValue* current = r.Obj(in, "current");
      JsonValue v = NewObject();
      Add(v, "name", r.Str(in, "name", a), a);
      AddOpt(v, "currentAverageUtilization", r.OptInt(current, "averageUtilization"), a);
      Add(v, "currentAverageValue", r.Qty(current, "averageValue", a), a);
      if (key == "containerResource") Add(v, "container", r.Str(in, "container", a), a);
      Add(out, key, std::move(v), a);
    }
  }
  if (const JsonValue* in = r.Obj(&m, "external")) {
    const JsonValue* current = r.Obj(in, "current");
    const JsonValue* metric = r.Obj(in, "metric");
    JsonValue v = NewObject();
    Add(v, "metricName", r.Str(metric, "name", a), a);
    AddOpt(v, "metricSelector", r.OptSelector(metric, "selector", a), a);
    Add(v, "currentValue", r.Qty(current, "value", a), a);
    AddOpt(v, "currentAverageValue", r.OptQty(current, "averageValue", a), a);
    Add(out, "external", std::move(v), a);
  }
  return out;
}

// v2 MetricValueStatus: value, averageValue, averageUtilization (all omitempty).
JsonValue Current(std::optional<JsonValue> value, std::optional<JsonValue> average_value,
                  std::optional<JsonValue> average_utilization, JsonAlloc& a) {
  JsonValue c = NewObject();
  AddOpt(c, "value", std::move(value), a);
  AddOpt(c, "averageValue", std::move(average_value), a);
  AddOpt(c, "averageUtilization", std::move(average_utilization), a);
  return c;
}

JsonValue MetricStatusToV2(Reader& r, const JsonValue& m, JsonAlloc& a) {
  JsonValue out = NewObject();
  Add(out, "type", r.Str(&m, "type", a), a);
  if (const JsonValue* in = r.Obj(&m, "object")) {
    JsonValue v = NewObject();
    Add(v, "metric", Identifier(r, in, "metricName", "selector", a), a);
    Add(v, "current", Current(r.Qty(in, "currentValue", a), r.OptQty(in, "averageValue", a), std::nullopt, a), a);
    Add(v, "describedObject", Ref(r, r.Obj(in, "target"), a), a);
    Add(out, "object", std::move(v), a);
  }
  if (const JsonValue* in = r.Obj(&m, "pods")) {
    JsonValue v = NewObject();
    Add(v, "metric", Identifier(r, in, "metricName", "selector", a), a);
    Add(v, "current", Current(std::nullopt, r.Qty(in, "currentAverageValue", a), std::nullopt, a), a);
    Add(out, "pods", std::move(v), a);
  }
  for (std::string_view key : {"resource", "containerResource"}) {
    if (const JsonValue* in = r.Obj(&m, key)) {
      JsonValue v = NewObject();
      Add(v, "name", r.Str(in, "name", a), a);
      Add(v, "current",
          Current(std::nullopt, r.Qty(in, "currentAverageValue", a), r.OptInt(in, "currentAverageUtilization"), a), a);
      if (key == "containerResource") Add(v, "container", r.Str(in, "container", a), a);
      Add(out, key, std::move(v), a);
    }
  }
  if (const JsonValue* in = r.Obj(&m, "external")) {
    JsonValue v = NewObject();
    Add(v, "metric", Identifier(r, in, "metricName", "metricSelector", a), a);
    Add(v, "current", Current(r.Qty(in, "currentValue", a), r.OptQty(in, "currentAverageValue", a), std::nullopt, a),
        a);
    Add(out, "external", std::move(v), a);
  }
  return out;
}

// ---- conditions (same shape in v1 and v2) -----------------------------------------------------

// type, status, lastTransitionTime (a metav1.Time struct: omitempty does not apply, the zero time
// marshals as null), reason,omitempty, message,omitempty.
JsonValue Condition(Reader& r, const JsonValue& c, JsonAlloc& a) {
  JsonValue out = NewObject();
  Add(out, "type", r.Str(&c, "type", a), a);
  Add(out, "status", r.Str(&c, "status", a), a);
  auto t = r.OptStr(&c, "lastTransitionTime", a);
  Add(out, "lastTransitionTime", t ? std::move(*t) : JsonValue(), a);
  auto reason = r.OptStr(&c, "reason", a);
  if (reason && reason->GetStringLength() > 0) Add(out, "reason", std::move(*reason), a);
  auto message = r.OptStr(&c, "message", a);
  if (message && message->GetStringLength() > 0) Add(out, "message", std::move(*message), a);
  return out;
}

// ---- behavior ---------------------------------------------------------------------------------

// The v2 behavior as json.Marshal writes the internal autoscaling.HorizontalPodAutoscalerBehavior
// (no json tags: Go field names; nil pointers and slices as null).
JsonValue BehaviorToInternal(Reader& r, const JsonValue& b, JsonAlloc& a) {
  auto rules = [&](const JsonValue* in) {
    if (!in) return JsonValue();
    JsonValue out = NewObject();
    auto window = r.OptInt(in, "stabilizationWindowSeconds");
    Add(out, "StabilizationWindowSeconds", window ? std::move(*window) : JsonValue(), a);
    auto select = r.OptStr(in, "selectPolicy", a);
    Add(out, "SelectPolicy", select ? std::move(*select) : JsonValue(), a);
    JsonValue policies;
    if (const JsonValue* ps = r.Arr(in, "policies")) {
      policies.SetArray();
      for (const auto& p : ps->GetArray()) {
        JsonValue po = NewObject();
        Add(po, "Type", r.Str(&p, "type", a), a);
        Add(po, "Value", r.Int(&p, "value"), a);
        Add(po, "PeriodSeconds", r.Int(&p, "periodSeconds"), a);
        policies.PushBack(std::move(po), a);
      }
    }
    Add(out, "Policies", std::move(policies), a);
    return out;
  };
  JsonValue out = NewObject();
  Add(out, "ScaleUp", rules(r.Obj(&b, "scaleUp")), a);
  Add(out, "ScaleDown", rules(r.Obj(&b, "scaleDown")), a);
  return out;
}

// The reverse: the v2 behavior, or nullopt when the annotation does not decode or decodes to the
// zero behavior ("only move well-formed data from annotations to fields").
std::optional<JsonValue> BehaviorFromInternal(const JsonValue& enc, JsonAlloc& a) {
  if (enc.IsNull()) return std::nullopt;
  if (!enc.IsObject()) return std::nullopt;
  Reader r;
  auto rules = [&](const JsonValue* in) -> std::optional<JsonValue> {
    if (!in) return std::nullopt;
    JsonValue out = NewObject();
    AddOpt(out, "stabilizationWindowSeconds", r.OptInt(in, "StabilizationWindowSeconds"), a);
    AddOpt(out, "selectPolicy", r.OptStr(in, "SelectPolicy", a), a);
    if (const JsonValue* ps = r.Arr(in, "Policies"); ps && !ps->Empty()) {
      JsonValue policies(rapidjson::kArrayType);
      for (const auto& p : ps->GetArray()) {
        if (!p.IsObject()) {
          r.ok = false;
          continue;
        }
        JsonValue po = NewObject();
        Add(po, "type", r.Str(&p, "Type", a), a);
        Add(po, "value", r.Int(&p, "Value"), a);
        Add(po, "periodSeconds", r.Int(&p, "PeriodSeconds"), a);
        policies.PushBack(std::move(po), a);
      }
      Add(out, "policies", std::move(policies), a);
    }
    return out;
  };
  auto up = rules(r.Obj(&enc, "ScaleUp"));
  auto down = rules(r.Obj(&enc, "ScaleDown"));
  if (!r.ok || (!up && !down)) return std::nullopt;
  JsonValue out = NewObject();
  AddOpt(out, "scaleUp", std::move(up), a);
  AddOpt(out, "scaleDown", std::move(down), a);
  return out;
}

// ---- annotations ------------------------------------------------------------------------------

// Go's json.Marshal escapes <, > and & (and U+2028/U+2029) inside strings.
std::string GoMarshal(const JsonValue& v) {
  std::string raw = ToJson(v);
  std::string out;
  out.reserve(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    char c = raw[i];
    if (c == '<') out += "\\u003c";
    else if (c == '>') out += "\\u003e";
    else if (c == '&') out += "\\u0026";
    else if (c == '\xe2' && i + 2 < raw.size() && raw[i + 1] == '\x80' && (raw[i + 2] == '\xa8' || raw[i + 2] == '\xa9')) {
      out += raw[i + 2] == '\xa8' ? "\\u2028" : "\\u2029";
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

// DropRoundTripHorizontalPodAutoscalerAnnotations on obj's metadata.annotations; an annotation map
// left empty is removed (omitempty).
void DropRoundTripAnnotations(JsonValue& obj) {
  JsonValue* meta = MutableMember(obj, "metadata");
  JsonValue* ann = meta ? MutableMember(*meta, "annotations") : nullptr;
  if (!ann || !ann->IsObject()) return;
  bool dropped = false;
  for (std::string_view k : kRoundTripAnnotations) {
    if (Member(*ann, k)) {
      RemoveMember(*ann, k);
      dropped = true;
    }
  }
  if (dropped && ann->MemberCount() == 0) RemoveMember(*meta, "annotations");
}

void SetAnnotation(JsonValue& obj, std::string_view key, std::string_view value, JsonAlloc& a) {
  JsonValue* meta = MutableMember(obj, "metadata");
  if (!meta || !meta->IsObject()) {
    SetMember(obj, "metadata", NewObject(), a);
    meta = MutableMember(obj, "metadata");
  }
  JsonValue* ann = MutableMember(*meta, "annotations");
  if (!ann || !ann->IsObject()) {
    SetMember(*meta, "annotations", NewObject(), a);
    ann = MutableMember(*meta, "annotations");
  }
  SetString(*ann, key, value, a);
}

// The parsed annotation, or nullopt when absent or not valid JSON.
std::optional<JsonDoc> AnnotationJson(const JsonValue& obj, std::string_view key) {
  const JsonValue* v = Path(obj, {"metadata", "annotations", key});
  if (!v || !v->IsString()) return std::nullopt;
  auto doc = ParseJson(std::string_view(v->GetString(), v->GetStringLength()));
  if (!doc.ok()) return std::nullopt;
  return std::move(*doc);
}

bool IsCpuResource(Reader& r, const JsonValue& m, const JsonValue** resource) {
  const JsonValue* type = r.Find(&m, "type");
  const JsonValue* res = r.Obj(&m, "resource");
  const JsonValue* name = r.Find(res, "name");
  *resource = res;
  return type && type->IsString() && std::string_view(type->GetString()) == "Resource" && name && name->IsString() &&
         std::string_view(name->GetString()) == "cpu";
}

JsonValue CpuMetric(JsonValue utilization, JsonAlloc& a) {
  JsonValue m = NewObject();
  Add(m, "type", JsonValue("Resource", a), a);
  JsonValue res = NewObject();
  Add(res, "name", JsonValue("cpu", a), a);
  Add(res, "target", Target("Utilization", std::nullopt, std::nullopt, std::move(utilization), a), a);
  Add(m, "resource", std::move(res), a);
  return m;
}

// ---- whole objects ----------------------------------------------------------------------------

// Convert_autoscaling_HorizontalPodAutoscaler_To_v1_HorizontalPodAutoscaler over v2 -> internal.
void HpaToV1(JsonDoc& obj) {
  JsonAlloc& a = obj.GetAllocator();
  Reader r;
  const JsonValue* spec = r.Obj(&obj, "spec");
  const JsonValue* status = r.Obj(&obj, "status");
  const JsonValue* metrics = r.Arr(spec, "metrics");
  const JsonValue* current_metrics = r.Arr(status, "currentMetrics");
  const JsonValue* conditions = r.Arr(status, "conditions");

  // spec: scaleTargetRef, minReplicas,omitempty, maxReplicas, targetCPUUtilizationPercentage,omitempty.
  JsonValue out_spec = NewObject();
  Add(out_spec, "scaleTargetRef", Ref(r, r.Obj(spec, "scaleTargetRef"), a), a);
  AddOpt(out_spec, "minReplicas", r.OptInt(spec, "minReplicas"), a);
  Add(out_spec, "maxReplicas", r.Int(spec, "maxReplicas"), a);
  JsonValue other_metrics(rapidjson::kArrayType);
  bool cpu_seen = false;
  if (metrics) {
    for (const auto& m : metrics->GetArray()) {
      const JsonValue* res = nullptr;
      bool cpu = IsCpuResource(r, m, &res);
      auto utilization = cpu ? r.OptInt(r.Obj(res, "target"), "averageUtilization") : std::nullopt;
      if (cpu && !cpu_seen) {
        cpu_seen = true;  // the first CPU metric decides, with or without a utilization
        AddOpt(out_spec, "targetCPUUtilizationPercentage",
               utilization ? std::optional<JsonValue>(JsonValue(utilization->GetInt64())) : std::nullopt, a);
      }
      if (utilization) continue;  // every CPU utilization metric is represented by the field
      other_metrics.PushBack(MetricSpecToV1(r, m, a), a);
    }
  }

  // status: observedGeneration,omitempty, lastScaleTime,omitempty, currentReplicas,
  // desiredReplicas, currentCPUUtilizationPercentage,omitempty.
  JsonValue out_status = NewObject();
  AddOpt(out_status, "observedGeneration", r.OptInt(status, "observedGeneration"), a);
  AddOpt(out_status, "lastScaleTime", r.OptStr(status, "lastScaleTime", a), a);
  Add(out_status, "currentReplicas", r.Int(status, "currentReplicas"), a);
  Add(out_status, "desiredReplicas", r.Int(status, "desiredReplicas"), a);
  std::optional<JsonValue> cpu_current;
  JsonValue v1_current(rapidjson::kArrayType);
  if (current_metrics) {
    for (const auto& m : current_metrics->GetArray()) {
      const JsonValue* res = nullptr;
      if (IsCpuResource(r, m, &res)) {  // no break: the last one wins
        if (auto u = r.OptInt(r.Obj(res, "current"), "averageUtilization")) cpu_current = std::move(*u);
      }
      v1_current.PushBack(MetricStatusToV1(r, m, a), a);
    }
  }
  AddOpt(out_status, "currentCPUUtilizationPercentage", std::move(cpu_current), a);

  JsonValue v1_conditions(rapidjson::kArrayType);
  if (conditions) {
    for (const auto& c : conditions->GetArray()) v1_conditions.PushBack(Condition(r, c, a), a);
  }
  std::optional<JsonValue> behavior;
  if (const JsonValue* b = r.Obj(spec, "behavior")) behavior = BehaviorToInternal(r, *b, a);

  SetMember(obj, "spec", std::move(out_spec), a);
  SetMember(obj, "status", std::move(out_status), a);
  DropRoundTripAnnotations(obj);
  if (!other_metrics.Empty()) SetAnnotation(obj, kMetricSpecsAnnotation, GoMarshal(other_metrics), a);
  if (!v1_current.Empty()) SetAnnotation(obj, kMetricStatusesAnnotation, GoMarshal(v1_current), a);
  if (!v1_conditions.Empty()) SetAnnotation(obj, kConditionsAnnotation, GoMarshal(v1_conditions), a);
  if (behavior) SetAnnotation(obj, kBehaviorSpecsAnnotation, GoMarshal(*behavior), a);
}

// Convert_v1_HorizontalPodAutoscaler_To_autoscaling_HorizontalPodAutoscaler (after the v1
// defaults) over internal -> v2.
void HpaToV2(JsonDoc& obj) {
  JsonAlloc& a = obj.GetAllocator();
  Reader r;
  const JsonValue* spec = r.Obj(&obj, "spec");
  const JsonValue* status = r.Obj(&obj, "status");

  // spec: scaleTargetRef, minReplicas, maxReplicas, metrics, behavior.
  JsonValue out_spec = NewObject();
  Add(out_spec, "scaleTargetRef", Ref(r, r.Obj(spec, "scaleTargetRef"), a), a);
  auto min_replicas = r.OptInt(spec, "minReplicas");
  Add(out_spec, "minReplicas", min_replicas ? std::move(*min_replicas) : JsonValue(int64_t{1}), a);  // v1 default
  Add(out_spec, "maxReplicas", r.Int(spec, "maxReplicas"), a);
  JsonValue metrics(rapidjson::kArrayType);
  if (auto doc = AnnotationJson(obj, kMetricSpecsAnnotation); doc && doc->IsArray()) {
    Reader ar;
    JsonValue decoded(rapidjson::kArrayType);
    for (const auto& m : doc->GetArray()) {
      if (!m.IsObject()) {
        ar.ok = m.IsNull();  // a null element decodes to the zero MetricSpec
        if (!ar.ok) break;
      }
      decoded.PushBack(MetricSpecToV2(ar, m, a), a);
    }
    if (ar.ok) metrics = std::move(decoded);
  }
  // The CPU target of the v1 field goes after the annotation's metrics.
  if (auto pct = r.OptInt(spec, "targetCPUUtilizationPercentage")) metrics.PushBack(CpuMetric(std::move(*pct), a), a);
  // v1 formerly had an implicit default applied in the controller; applied here explicitly.
  if (metrics.Empty()) metrics.PushBack(CpuMetric(JsonValue(kDefaultCPUUtilization), a), a);
  Add(out_spec, "metrics", std::move(metrics), a);
  if (auto doc = AnnotationJson(obj, kBehaviorSpecsAnnotation)) {
    AddOpt(out_spec, "behavior", BehaviorFromInternal(*doc, a), a);
  }

  // status: observedGeneration,omitempty, lastScaleTime,omitempty, currentReplicas,omitempty,
  // desiredReplicas, currentMetrics (no omitempty: null when none), conditions,omitempty.
  JsonValue out_status = NewObject();
  AddOpt(out_status, "observedGeneration", r.OptInt(status, "observedGeneration"), a);
  AddOpt(out_status, "lastScaleTime", r.OptStr(status, "lastScaleTime", a), a);
  JsonValue current_replicas = r.Int(status, "currentReplicas");
  if (current_replicas.GetInt64() != 0) Add(out_status, "currentReplicas", std::move(current_replicas), a);
  Add(out_status, "desiredReplicas", r.Int(status, "desiredReplicas"), a);
  JsonValue current_metrics;
  if (auto pct = r.OptInt(status, "currentCPUUtilizationPercentage")) {
    JsonValue m = NewObject();
    Add(m, "type", JsonValue("Resource", a), a);
    JsonValue res = NewObject();
    Add(res, "name", JsonValue("cpu", a), a);
    Add(res, "current", Current(std::nullopt, std::nullopt, std::move(*pct), a), a);
    Add(m, "resource", std::move(res), a);
    current_metrics.SetArray();
    current_metrics.PushBack(std::move(m), a);
  }
  if (auto doc = AnnotationJson(obj, kMetricStatusesAnnotation); doc && (doc->IsArray() || doc->IsNull())) {
    // "ignore any existing status values -- the ones here have more information"
    Reader ar;
    JsonValue decoded(rapidjson::kArrayType);
    if (doc->IsArray()) {
      for (const auto& m : doc->GetArray()) {
        if (!m.IsObject() && !m.IsNull()) {
          ar.ok = false;
          break;
        }
        decoded.PushBack(MetricStatusToV2(ar, m, a), a);
      }
    }
    if (ar.ok) current_metrics = std::move(decoded);
  }
  if (current_metrics.IsArray() && current_metrics.Empty()) current_metrics.SetNull();
  Add(out_status, "currentMetrics", std::move(current_metrics), a);
  if (auto doc = AnnotationJson(obj, kConditionsAnnotation); doc && doc->IsArray()) {
    Reader ar;
    JsonValue decoded(rapidjson::kArrayType);
    for (const auto& c : doc->GetArray()) {
      if (!c.IsObject() && !c.IsNull()) {
        ar.ok = false;
        break;
      }
      decoded.PushBack(Condition(ar, c, a), a);
    }
    if (ar.ok && !decoded.Empty()) Add(out_status, "conditions", std::move(decoded), a);
  }

  SetMember(obj, "spec", std::move(out_spec), a);
  SetMember(obj, "status", std::move(out_status), a);
  DropRoundTripAnnotations(obj);
}

}  // namespace

std::string_view StorageVersion(std::string_view group, std::string_view kind) {
  if (group == "autoscaling" && kind == "HorizontalPodAutoscaler") return "v2";
  return "";
}

Status ConvertObject(JsonDoc& obj, std::string_view to_api_version) {
  if (!obj.IsObject()) return Status::BadRequest("cannot convert: the object is not a JSON object");
  auto from = GetString(obj, "apiVersion");
  auto kind = GetString(obj, "kind");
  if (!from || !kind) return Status::BadRequest("cannot convert an object without apiVersion and kind");
  if (*from == to_api_version) return Status::OK();
  if (*kind != "HorizontalPodAutoscaler" || (*from != kHPAv1 && *from != kHPAv2) ||
      (to_api_version != kHPAv1 && to_api_version != kHPAv2)) {
    return Status::BadRequest("no conversion of " + std::string(*kind) + " from " + std::string(*from) + " to " +
                              std::string(to_api_version));
  }
  for (std::string_view field : {"spec", "status"}) {
    const JsonValue* v = Member(obj, field);
    if (v && !v->IsObject() && !v->IsNull()) {
      return Status::BadRequest("cannot convert HorizontalPodAutoscaler: " + std::string(field) + " is not an object");
    }
  }
  if (to_api_version == kHPAv1) {
    HpaToV1(obj);
  } else {
    HpaToV2(obj);
  }
  SetString(obj, "apiVersion", to_api_version, obj.GetAllocator());
  return Status::OK();
}

}  // namespace minik::api
