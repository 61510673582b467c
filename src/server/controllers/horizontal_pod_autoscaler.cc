#include "server/controllers/horizontal_pod_autoscaler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <set>
#include <vector>

#include "api/quantity.h"
#include "common/log.h"
#include "server/controllers/util.h"

namespace minik::controllers {

StatusOr<std::map<std::string, PodMetric>> FakeMetricsSource::PodMetrics(const std::string& ns,
                                                                         const api::LabelSelector& /*selector*/,
                                                                         const std::string& resource) {
  ++calls_;
  if (!error_.ok()) return error_;
  auto it = metrics_.find({ns, resource});
  if (it == metrics_.end()) return std::map<std::string, PodMetric>();
  return it->second;
}

void ApiScaleClient::GetScale(const client::ResourceRef& res, const std::string& ns, const std::string& name,
                              client::ObjectCallback cb) {
  // The client has no subresource on Get: the path .../<name>/scale is the same.
  client_.Get(res, ns, name + "/scale", std::move(cb));
}

void ApiScaleClient::UpdateScale(const client::ResourceRef& res, const std::string& ns, const JsonValue& scale,
                                 client::ObjectCallback cb) {
  client_.Update(res, ns, scale, "scale", std::move(cb));
}

namespace {

constexpr char kComponent[] = "horizontal-pod-autoscaler";

std::string Str(const JsonValue& obj, std::string_view field) { return std::string(GetString(obj, field).value_or("")); }

// A quantity (JSON string or number) in milli-units.
std::optional<int64_t> MilliOf(const JsonValue* v) {
  if (!v) return std::nullopt;
  if (v->IsInt64()) return v->GetInt64() * 1000;
  if (v->IsDouble()) return static_cast<int64_t>(std::ceil(v->GetDouble() * 1000));
  if (!v->IsString()) return std::nullopt;
  auto q = api::ParseQuantity(v->GetString());
  if (!q.ok()) return std::nullopt;
  return q->MilliValue();
}

std::string QuantityString(int64_t milli) { return api::Quantity::FromMilli(milli).String(); }

JsonDoc HpaRef(const JsonValue& hpa) {
  JsonDoc d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  SetString(d, "apiVersion", "autoscaling/v2", a);
  SetString(d, "kind", "HorizontalPodAutoscaler", a);
  JsonValue md(rapidjson::kObjectType);
  for (const char* f : {"name", "namespace", "uid", "resourceVersion"}) {
    std::string_view v = client::MetaString(hpa, f);
    if (!v.empty()) SetString(md, f, v, a);
  }
  d.AddMember("metadata", md, a);
  return d;
}

struct Condition {
  std::string type, status, reason, message;
};

struct ScalingPolicy {
  std::string type;  // Pods, Percent
  int64_t value = 0;
  int64_t period_seconds = 0;
};

struct ScalingRules {
  int64_t stabilization_seconds = 0;
  std::string select_policy = "Max";
  std::vector<ScalingPolicy> policies;
};

// GenerateHPAScaleUpRules / GenerateHPAScaleDownRules over what the object sets.
ScalingRules RulesOf(const JsonValue* rules, bool up, int64_t default_down_window_s) {
  ScalingRules r;
  if (up) {
    r.stabilization_seconds = 0;
    r.policies = {{"Pods", 4, 15}, {"Percent", 100, 15}};
  } else {
    r.stabilization_seconds = default_down_window_s;
    r.policies = {{"Percent", 100, 15}};
  }
  if (!rules || !rules->IsObject()) return r;
  if (auto s = GetInt(*rules, "stabilizationWindowSeconds")) r.stabilization_seconds = *s;
  if (auto p = GetString(*rules, "selectPolicy")) r.select_policy = std::string(*p);
  if (const JsonValue* ps = Member(*rules, "policies"); ps && ps->IsArray()) {
    r.policies.clear();
    for (const auto& p : ps->GetArray()) {
      r.policies.push_back({Str(p, "type"), GetInt(p, "value").value_or(0), GetInt(p, "periodSeconds").value_or(0)});
    }
  }
  return r;
}

struct Rec {
  int64_t replicas;
  int64_t ms;
};
struct ScaleEvent {
  int64_t change;
  int64_t ms;
  bool outdated;
};

class HpaController final : public Controller {
 public:
  HpaController(Context ctx, std::shared_ptr<MetricsSource> metrics, std::shared_ptr<ScaleClient> scales,
                HorizontalPodAutoscalerOptions options)
      : Controller(ctx, "horizontal-pod-autoscaler"),
        metrics_(std::move(metrics)),
        scales_(scales ? std::move(scales) : std::make_shared<ApiScaleClient>(ctx.client)),
        opts_(options),
        hpas_(ctx.informers.For(kHorizontalPodAutoscalers)),
        pods_(ctx.informers.For(kPods)) {
    client::EventHandlers h;
    // Upstream adds every key with the fixed sync-period rate limiter: an HPA is processed
    // every 15 s, the first time 15 s after it appears.
    h.on_add = [this](const client::ObjectPtr& o) { EnqueueAfter(client::ObjectKey(*o), opts_.sync_period_ms); };
    h.on_update = [this](const client::ObjectPtr&, const client::ObjectPtr& o) {
      EnqueueAfter(client::ObjectKey(*o), opts_.sync_period_ms);
    };
    h.on_delete = [this](const client::ObjectPtr& o, bool) { Enqueue(client::ObjectKey(*o)); };
    hpas_.AddEventHandler(h);
  }

  void Reconcile(const std::string& key, Done done) override {
    client::ObjectPtr hpa = hpas_.Get(key);
    if (!hpa) {
      recommendations_.erase(key);
      up_events_.erase(key);
      down_events_.erase(key);
      selectors_.erase(key);
      return done(Status::OK());
    }
    ReconcileAutoscaler(hpa, key, [this, key, done](Status st) {
      if (!st.ok()) MINIK_LOG(Warning) << "horizontal-pod-autoscaler: " << key << ": " << st.ToString();
      // Errors wait for the next period too (upstream's fixed-interval rate limiter).
      EnqueueAfter(key, opts_.sync_period_ms);
      done(Status::OK());
    });
  }

 private:
  // One reconciliation's state.
  struct Run {
    std::string key;
    client::ObjectPtr hpa;
    JsonDoc status;  // the status being built (starts as the old one)
    JsonDoc original;
    std::string ns;
    std::string reference;
    client::ResourceRef target;
    JsonDoc scale;
    Done done;
  };
  using RunPtr = std::shared_ptr<Run>;

  TimePoint Now() const { return clock().Now(); }
  int64_t NowMs() const { return clock().MonotonicMillis(); }

  void Event(const Run& r, std::string_view type, std::string_view reason, std::string_view message) {
    ctx_.events.EventFrom(kComponent, HpaRef(*r.hpa), type, reason, message);
  }

  // setCondition: lastTransitionTime changes with the status only.
  void SetHpaCondition(Run& r, const std::string& type, const std::string& status, const std::string& reason,
                       const std::string& message) {
    auto& a = r.status.GetAllocator();
    JsonValue* conds = MutableMember(r.status, "conditions");
    if (!conds || !conds->IsArray()) {
      SetMember(r.status, "conditions", JsonValue(rapidjson::kArrayType), a);
      conds = MutableMember(r.status, "conditions");
    }
    for (auto& c : conds->GetArray()) {
      if (GetString(c, "type").value_or("") != type) continue;
      if (GetString(c, "status").value_or("") != status) SetString(c, "lastTransitionTime", FormatRFC3339(Now()), a);
      SetString(c, "status", status, a);
      SetString(c, "reason", reason, a);
      SetString(c, "message", message, a);
      return;
    }
    JsonValue c(rapidjson::kObjectType);
    SetString(c, "type", type, a);
    SetString(c, "status", status, a);
    SetString(c, "lastTransitionTime", FormatRFC3339(Now()), a);
    SetString(c, "reason", reason, a);
    SetString(c, "message", message, a);
    conds->PushBack(c, a);
  }

  // setStatus: the status recreated from its parts (conditions kept).
  void SetStatus(Run& r, int64_t current, int64_t desired, const JsonValue* metric_statuses, bool rescale) {
    JsonDoc st(rapidjson::kObjectType);
    auto& a = st.GetAllocator();
    if (rescale) SetString(st, "lastScaleTime", FormatRFC3339(Now()), a);
    else if (const JsonValue* t = Member(r.status, "lastScaleTime")) st.AddMember("lastScaleTime", Clone(*t, a), a);
    if (current != 0) st.AddMember("currentReplicas", current, a);
    st.AddMember("desiredReplicas", desired, a);
    if (metric_statuses && metric_statuses->IsArray() && !metric_statuses->Empty()) {
      st.AddMember("currentMetrics", Clone(*metric_statuses, a), a);
    }
    if (const JsonValue* c = Member(r.status, "conditions")) st.AddMember("conditions", Clone(*c, a), a);
    r.status.Swap(st);
  }

  void SetCurrentReplicasAndMetrics(Run& r, int64_t current, const JsonValue* metric_statuses) {
    SetStatus(r, current, GetInt(r.status, "desiredReplicas").value_or(0), metric_statuses, false);
  }

  // updateStatusIfNeeded.
  void UpdateStatusIfNeeded(const RunPtr& r, std::function<void(Status)> cb) {
    if (JsonEqual(r->original, r->status)) return cb(Status::OK());
    JsonDoc doc;
    doc.CopyFrom(*r->hpa, doc.GetAllocator());
    SetMember(doc, "status", Clone(r->status, doc.GetAllocator()), doc.GetAllocator());
    ctx_.client.Update(kHorizontalPodAutoscalers, r->ns, doc, "status", [this, r, cb](StatusOr<JsonDoc> res) {
      if (!res.ok()) {
        Event(*r, kEventTypeWarning, "FailedUpdateStatus", res.error().message());
        return cb(Status(res.error().code(), "failed to update status for " + std::string(Name(*r->hpa)) + ": " +
                                                 res.error().message()));
      }
      cb(Status::OK());
    });
  }

  void FailGetScale(const RunPtr& r, const std::string& err, Status ret) {
    Event(*r, kEventTypeWarning, "FailedGetScale", err);
    SetHpaCondition(*r, "AbleToScale", "False", "FailedGetScale",
                    "the HPA controller was unable to get the target's current scale: " + err);
    UpdateStatusIfNeeded(r, [r, ret](Status) { r->done(ret); });
  }

  void ReconcileAutoscaler(const client::ObjectPtr& hpa, const std::string& key, Done done) {
    auto r = std::make_shared<Run>();
    r->key = key;
    r->hpa = hpa;
    r->ns = std::string(Namespace(*hpa));
    r->done = std::move(done);
    r->status.SetObject();
    if (const JsonValue* st = Member(*hpa, "status"); st && st->IsObject()) r->status.CopyFrom(*st, r->status.GetAllocator());
    r->original.CopyFrom(r->status, r->original.GetAllocator());
    const JsonValue* ref = Path(*hpa, {"spec", "scaleTargetRef"});
    std::string api_version = ref ? Str(*ref, "apiVersion") : "";
    std::string kind = ref ? Str(*ref, "kind") : "";
    std::string name = ref ? Str(*ref, "name") : "";
    r->reference = kind + "/" + r->ns + "/" + name;

    if (std::count(api_version.begin(), api_version.end(), '/') > 1) {
      std::string err = "unexpected GroupVersion string: " + api_version;
      return FailGetScale(r, err, Status::Invalid("invalid API version in scale target reference: " + err));
    }
    std::string group = api_version.find('/') == std::string::npos ? "" : api_version.substr(0, api_version.find('/'));
    if (group == "apps" && kind == "Deployment") r->target = kDeployments;
    else if (group == "apps" && kind == "ReplicaSet") r->target = kReplicaSets;
    else if (group == "apps" && kind == "StatefulSet") r->target = kStatefulSets;
    else if (group.empty() && kind == "ReplicationController") r->target = kReplicationControllers;
    else {
      std::string err = "no matches for kind \"" + kind + "\" in group \"" + group + "\"";
      return FailGetScale(r, err, Status::NotFound("unable to determine resource for scale target reference: " + err));
    }
    scales_->GetScale(r->target, r->ns, name, [this, r](StatusOr<JsonDoc> s) {
      if (!s.ok()) {
        return FailGetScale(r, s.error().message(),
                            Status(s.error().code(), "failed to query scale subresource for " + r->reference + ": " +
                                                         s.error().message()));
      }
      r->scale = std::move(*s);
      ContinueWithScale(r);
    });
  }

  void ContinueWithScale(const RunPtr& r) {
    SetHpaCondition(*r, "AbleToScale", "True", "SucceededGetScale", "the HPA controller was able to get the target's current scale");
    int64_t current = IntOr(Path(r->scale, {"spec", "replicas"}), 0);
    if (!recommendations_.count(r->key)) recommendations_[r->key] = {{current, NowMs()}};
    const JsonValue& spec = *Member(*r->hpa, "spec");
    int64_t min_replicas = GetInt(spec, "minReplicas").value_or(1);
    int64_t max_replicas = GetInt(spec, "maxReplicas").value_or(0);
    const JsonValue* behavior = Member(spec, "behavior");
    if (behavior && !behavior->IsObject()) behavior = nullptr;

    int64_t desired = 0;
    std::string reason;
    bool rescale = true;
    JsonDoc statuses(rapidjson::kArrayType);
    Status ret;
    if (current == 0 && min_replicas != 0) {
      rescale = false;
      SetHpaCondition(*r, "ScalingActive", "False", "ScalingDisabled", "scaling is disabled since the replica count of the target is zero");
    } else if (current > max_replicas) {
      reason = "Current number of replicas above Spec.MaxReplicas";
      desired = max_replicas;
    } else if (current < min_replicas) {
      reason = "Current number of replicas below Spec.MinReplicas";
      desired = min_replicas;
    } else {
      std::string metric_name;
      Status err;
      int64_t metric_desired = ComputeReplicasForMetrics(*r, &statuses, &metric_name, &err);
      if (!err.ok() && metric_desired == -1) {
        SetCurrentReplicasAndMetrics(*r, current, &statuses);
        Event(*r, kEventTypeWarning, "FailedComputeMetricsReplicas", err.message());
        Status out(err.code(), "failed to compute desired number of replicas based on listed metrics for " + r->reference +
                                   ": " + err.message());
        return UpdateStatusIfNeeded(r, [r, out](Status) { r->done(out); });
      }
      if (!err.ok()) ret = err;
      std::string rescale_metric;
      if (metric_desired > desired) {
        desired = metric_desired;
        rescale_metric = metric_name;
      }
      if (desired > current) reason = rescale_metric + " above target";
      if (desired < current) reason = "All metrics below target";
      desired = behavior ? NormalizeWithBehaviors(*r, *behavior, current, desired, min_replicas, max_replicas)
                         : Normalize(*r, current, desired, min_replicas, max_replicas);
      rescale = desired != current;
    }

    auto finish = [this, r, current, ret](int64_t final_desired, const JsonValue* metric_statuses, bool rescaled) {
      SetStatus(*r, current, final_desired, metric_statuses, rescaled);
      UpdateStatusIfNeeded(r, [r, ret](Status st) { r->done(st.ok() ? ret : st); });
    };
    if (!rescale) return finish(current, &statuses, false);

    auto& sa = r->scale.GetAllocator();
    SetMember(EnsureObject(r->scale, "spec", sa), "replicas", JsonValue(desired), sa);
    auto statuses_p = std::make_shared<JsonDoc>();
    statuses_p->CopyFrom(statuses, statuses_p->GetAllocator());
    scales_->UpdateScale(r->target, r->ns, r->scale,
                         [this, r, current, desired, reason, statuses_p, behavior_doc = BehaviorCopy(behavior),
                          finish](StatusOr<JsonDoc> res) {
                           if (!res.ok()) {
                             std::string msg = res.error().message();
                             Event(*r, kEventTypeWarning, "FailedRescale",
                                   "New size: " + std::to_string(desired) + "; reason: " + reason + "; error: " + msg);
                             SetHpaCondition(*r, "AbleToScale", "False", "FailedUpdateScale",
                                             "the HPA controller was unable to update the target scale: " + msg);
                             SetCurrentReplicasAndMetrics(*r, current, statuses_p.get());
                             Status out(res.error().code(), "failed to rescale " + r->reference + ": " + msg);
                             return UpdateStatusIfNeeded(r, [r, out](Status) { r->done(out); });
                           }
                           SetHpaCondition(*r, "AbleToScale", "True", "SucceededRescale",
                                           "the HPA controller was able to update the target scale to " +
                                               std::to_string(desired));
                           Event(*r, kEventTypeNormal, "SuccessfulRescale",
                                 "New size: " + std::to_string(desired) + "; reason: " + reason);
                           StoreScaleEvent(behavior_doc.get(), r->key, current, desired);
                           finish(desired, statuses_p.get(), true);
                         });
  }

  static std::shared_ptr<JsonDoc> BehaviorCopy(const JsonValue* behavior) {
    if (!behavior) return nullptr;
    auto d = std::make_shared<JsonDoc>();
    d->CopyFrom(*behavior, d->GetAllocator());
    return d;
  }

  // ---- metrics --------------------------------------------------------------------------------

  struct MetricResult {
    int64_t replicas = 0;
    std::string name;
    Condition failed;  // ScalingActive False with the reason, when err is set
    Status err;
  };

  // computeReplicasForMetrics. statuses gets one entry per metric ({"type":""} for a failed one).
  int64_t ComputeReplicasForMetrics(Run& r, JsonDoc* statuses, std::string* metric_name, Status* err) {
    auto& a = statuses->GetAllocator();
    const JsonValue* sel_v = Path(r.scale, {"status", "selector"});
    std::string sel_str = sel_v && sel_v->IsString() ? sel_v->GetString() : "";
    if (sel_str.empty()) {
      Event(r, kEventTypeWarning, "SelectorRequired", "selector is required");
      SetHpaCondition(r, "ScalingActive", "False", "InvalidSelector", "the HPA target's scale is missing a selector");
      *err = Status::Invalid("selector is required");
      return -1;
    }
    auto parsed = api::LabelSelector::Parse(sel_str);
    if (!parsed.ok()) {
      std::string msg = "couldn't convert selector into a corresponding internal selector object: " + parsed.error().message();
      Event(r, kEventTypeWarning, "InvalidSelector", msg);
      SetHpaCondition(r, "ScalingActive", "False", "InvalidSelector", msg);
      *err = Status::Invalid(msg);
      return -1;
    }
    selectors_[r.key] = {r.ns, *parsed};
    std::vector<client::ObjectPtr> pods;
    for (const auto& p : pods_.ByIndex(client::kNamespaceIndex, r.ns)) {
      if (parsed->Matches(Labels(*p))) pods.push_back(p);
    }
    std::sort(pods.begin(), pods.end(), [](const auto& x, const auto& y) { return Name(*x) < Name(*y); });
    // An HPA must be the only one selecting its pods.
    std::vector<std::string> selecting;
    for (const auto& [other, ns_sel] : selectors_) {
      if (ns_sel.first != r.ns) continue;
      bool any = std::any_of(pods.begin(), pods.end(), [&](const auto& p) { return ns_sel.second.Matches(Labels(*p)); });
      if (any || other == r.key) selecting.push_back(other);
    }
    if (!pods.empty() && selecting.size() > 1) {
      std::string list = "[";
      for (size_t i = 0; i < selecting.size(); ++i) {
        std::string ns, name;
        client::SplitKey(selecting[i], &ns, &name);
        list += (i ? " {" : "{") + name + " " + ns + "}";
      }
      list += "]";
      std::string msg = "pods by selector " + sel_str + " are controlled by multiple HPAs: " + list;
      Event(r, kEventTypeWarning, "AmbiguousSelector", msg);
      SetHpaCondition(r, "ScalingActive", "False", "AmbiguousSelector", msg);
      *err = Status::Invalid(msg);
      return -1;
    }

    int64_t spec_replicas = IntOr(Path(r.scale, {"spec", "replicas"}), 0);
    const JsonValue* specs = Path(*r.hpa, {"spec", "metrics"});
    size_t count = specs && specs->IsArray() ? specs->Size() : 0;
    int64_t replicas = 0;
    int invalid = 0;
    Condition first_condition;
    Status first_err;
    for (size_t i = 0; i < count; ++i) {
      const JsonValue& ms = (*specs)[static_cast<rapidjson::SizeType>(i)];
      JsonValue status(rapidjson::kObjectType);
      MetricResult mr = ComputeReplicasForMetric(r, ms, spec_replicas, *parsed, pods, &status, a);
      if (!mr.err.ok()) {
        if (invalid == 0) {
          first_condition = mr.failed;
          first_err = mr.err;
        }
        ++invalid;
        JsonValue empty(rapidjson::kObjectType);
        SetString(empty, "type", "", a);
        statuses->PushBack(empty, a);
        continue;
      }
      statuses->PushBack(status, a);
      if (replicas == 0 || mr.replicas > replicas) {
        replicas = mr.replicas;
        *metric_name = mr.name;
      }
    }
    if (invalid > 0) {
      *err = Status(first_err.code(), "invalid metrics (" + std::to_string(invalid) + " invalid out of " +
                                          std::to_string(count) + "), first error is: " + first_err.message());
    }
    if (count == 0 || invalid >= static_cast<int>(count) || (invalid > 0 && replicas < spec_replicas)) {
      if (count == 0) *err = Status::Invalid("no metrics");
      else SetHpaCondition(r, first_condition.type, first_condition.status, first_condition.reason, first_condition.message);
      return -1;
    }
    SetHpaCondition(r, "ScalingActive", "True", "ValidMetricFound",
                    "the HPA was able to successfully calculate a replica count from " + *metric_name);
    return replicas;
  }

  MetricResult Unable(Run& r, const std::string& reason, const std::string& inner, const std::string& outer) {
    // getUnableComputeReplicaCountCondition records the event.
    Event(r, kEventTypeWarning, reason, inner);
    MetricResult mr;
    mr.failed = {"ScalingActive", "False", reason, "the HPA was unable to compute the replica count: " + inner};
    mr.err = Status::Unavailable(outer);
    return mr;
  }

  MetricResult ComputeReplicasForMetric(Run& r, const JsonValue& ms, int64_t current, const api::LabelSelector& sel,
                                        const std::vector<client::ObjectPtr>& pods, JsonValue* status, JsonAlloc& a) {
    std::string type = Str(ms, "type");
    if (type != "Resource") {
      const char* reason = type == "Pods"                ? "FailedGetPodsMetric"
                           : type == "Object"            ? "FailedGetObjectMetric"
                           : type == "External"          ? "FailedGetExternalMetric"
                           : type == "ContainerResource" ? "FailedGetContainerResourceMetric"
                                                         : "InvalidMetricSourceType";
      std::string inner = std::string(reason) == "InvalidMetricSourceType"
                              ? "unknown metric source type \"" + type + "\""
                              : "unable to get metric: no custom, external or container metrics API is available";
      return Unable(r, reason, inner, "failed to get " + type + " metric value: " + inner);
    }
    const JsonValue* res = Member(ms, "resource");
    std::string resource = res ? Str(*res, "name") : "";
    const JsonValue* target = res ? Member(*res, "target") : nullptr;
    const JsonValue* avg_value = target ? Member(*target, "averageValue") : nullptr;
    auto avg_util = target ? GetInt(*target, "averageUtilization") : std::nullopt;
    std::string outer_prefix = "failed to get " + resource + " resource metric value: ";
    MetricResult mr;
    if (avg_value && !avg_value->IsNull()) {
      auto target_milli = MilliOf(avg_value);
      int64_t usage = 0;
      Status st = target_milli ? RawResourceReplicas(r, current, *target_milli, resource, sel, pods, &mr.replicas, &usage)
                               : Status::Invalid("invalid averageValue");
      if (!st.ok()) {
        std::string inner = "failed to get " + resource + " usage: " + st.message();
        return Unable(r, "FailedGetResourceMetric", inner, outer_prefix + inner);
      }
      mr.name = resource + " resource";
      SetString(*status, "type", "Resource", a);
      JsonValue rs(rapidjson::kObjectType);
      SetString(rs, "name", resource, a);
      JsonValue cur(rapidjson::kObjectType);
      SetString(cur, "averageValue", QuantityString(usage), a);
      rs.AddMember("current", cur, a);
      status->AddMember("resource", rs, a);
      return mr;
    }
    if (!avg_util) {
      std::string inner = "invalid resource metric source: neither a utilization target nor a value target was set";
      return Unable(r, "FailedGetResourceMetric", inner, outer_prefix + inner);
    }
    int64_t utilization = 0, raw = 0;
    Status st = ResourceReplicas(r, current, *avg_util, resource, sel, pods, &mr.replicas, &utilization, &raw);
    if (!st.ok()) {
      std::string inner = "failed to get " + resource + " utilization: " + st.message();
      return Unable(r, "FailedGetResourceMetric", inner, outer_prefix + inner);
    }
    mr.name = resource + " resource utilization (percentage of request)";
    SetString(*status, "type", "Resource", a);
    JsonValue rs(rapidjson::kObjectType);
    SetString(rs, "name", resource, a);
    JsonValue cur(rapidjson::kObjectType);
    SetString(cur, "averageValue", QuantityString(raw), a);
    cur.AddMember("averageUtilization", utilization, a);
    rs.AddMember("current", cur, a);
    status->AddMember("resource", rs, a);
    return mr;
  }

  // ---- the replica calculator -----------------------------------------------------------------

  StatusOr<std::map<std::string, PodMetric>> FetchMetrics(const std::string& ns, const api::LabelSelector& sel,
                                                          const std::string& resource) {
    auto m = metrics_ ? metrics_->PodMetrics(ns, sel, resource)
                      : StatusOr<std::map<std::string, PodMetric>>(Status::Unavailable("no metrics source"));
    if (!m.ok()) {
      return Status(m.error().code(), "unable to get metrics for resource " + resource +
                                          ": unable to fetch metrics from resource metrics API: " + m.error().message());
    }
    if (m->empty()) {
      return Status::Unavailable("unable to get metrics for resource " + resource +
                                 ": no metrics returned from resource metrics API");
    }
    return m;
  }

  struct Groups {
    int64_t ready = 0;
    std::set<std::string> unready, missing, ignored;
  };

  // groupPods.
  Groups GroupPods(const std::vector<client::ObjectPtr>& pods, const std::map<std::string, PodMetric>& metrics,
                   const std::string& resource) {
    Groups g;
    TimePoint now = Now();
    for (const auto& pod : pods) {
      std::string name(Name(*pod));
      if (IsBeingDeleted(*pod) || IsPodTerminal(*pod)) {
        g.ignored.insert(name);
        continue;
      }
      if (PodPhase(*pod) == "Pending") {
        g.unready.insert(name);
        continue;
      }
      auto m = metrics.find(name);
      if (m == metrics.end()) {
        g.missing.insert(name);
        continue;
      }
      if (resource == "cpu") {
        bool unready = false;
        const JsonValue* st = Member(*pod, "status");
        const JsonValue* cond = st ? FindCondition(*st, "Ready") : nullptr;
        TimePoint start{};
        bool has_start = st && ParseRFC3339(GetString(*st, "startTime").value_or(""), &start);
        if (!cond || !has_start) {
          unready = true;
        } else {
          TimePoint transition{};
          ParseRFC3339(GetString(*cond, "lastTransitionTime").value_or(""), &transition);
          bool cond_false = Str(*cond, "status") == "False";
          if (start + std::chrono::milliseconds(opts_.cpu_initialization_period_ms) > now) {
            unready = cond_false || m->second.timestamp < transition + std::chrono::milliseconds(m->second.window_ms);
          } else {
            unready = cond_false && start + std::chrono::milliseconds(opts_.initial_readiness_delay_ms) > transition;
          }
        }
        if (unready) {
          g.unready.insert(name);
          continue;
        }
      }
      ++g.ready;
    }
    return g;
  }

  // calculatePodRequests.
  StatusOr<std::map<std::string, int64_t>> Requests(const std::vector<client::ObjectPtr>& pods, const std::string& resource) {
    std::map<std::string, int64_t> out;
    for (const auto& pod : pods) {
      int64_t sum = 0;
      std::vector<const JsonValue*> containers;
      if (const JsonValue* cs = Path(*pod, {"spec", "containers"}); cs && cs->IsArray()) {
        for (const auto& c : cs->GetArray()) containers.push_back(&c);
      }
      if (const JsonValue* ics = Path(*pod, {"spec", "initContainers"}); ics && ics->IsArray()) {
        for (const auto& c : ics->GetArray()) {
          if (GetString(c, "restartPolicy").value_or("") == "Always") containers.push_back(&c);
        }
      }
      for (const JsonValue* c : containers) {
        const JsonValue* req = Path(*c, {"resources", "requests"});
        auto v = req ? MilliOf(Member(*req, resource)) : std::nullopt;
        if (!v) {
          return Status::Invalid("missing request for " + resource + " in container " + Str(*c, "name") + " of Pod " +
                                 std::string(Name(*pod)));
        }
        sum += *v;
      }
      out[std::string(Name(*pod))] = sum;
    }
    return out;
  }

  // GetResourceUtilizationRatio.
  static Status UtilizationRatio(const std::map<std::string, PodMetric>& metrics, const std::map<std::string, int64_t>& requests,
                                 int64_t target, double* ratio, int64_t* utilization, int64_t* raw) {
    int64_t metrics_total = 0, requests_total = 0, n = 0;
    for (const auto& [pod, m] : metrics) {
      auto it = requests.find(pod);
      if (it == requests.end()) continue;
      metrics_total += m.milli_value;
      requests_total += it->second;
      ++n;
    }
    if (requests_total == 0) return Status::Invalid("no metrics returned matched known pods");
    *utilization = metrics_total * 100 / requests_total;
    *ratio = static_cast<double>(*utilization) / static_cast<double>(target);
    *raw = metrics_total / n;
    return Status::OK();
  }

  bool WithinTolerance(double ratio) const { return std::fabs(1.0 - ratio) <= opts_.tolerance; }

  // GetResourceReplicas.
  Status ResourceReplicas(Run& r, int64_t current, int64_t target_util, const std::string& resource,
                          const api::LabelSelector& sel, const std::vector<client::ObjectPtr>& pods, int64_t* replicas,
                          int64_t* utilization, int64_t* raw) {
    auto fetched = FetchMetrics(r.ns, sel, resource);
    if (!fetched.ok()) return fetched.error();
    std::map<std::string, PodMetric> metrics = std::move(*fetched);
    if (pods.empty()) return Status::Invalid("no pods returned by selector while calculating replica count");
    Groups g = GroupPods(pods, metrics, resource);
    for (const auto& p : g.ignored) metrics.erase(p);
    for (const auto& p : g.unready) metrics.erase(p);
    if (metrics.empty()) return Status::Invalid("did not receive metrics for targeted pods (pods might be unready)");
    auto requests = Requests(pods, resource);
    if (!requests.ok()) return requests.error();
    double ratio = 0;
    Status st = UtilizationRatio(metrics, *requests, target_util, &ratio, utilization, raw);
    if (!st.ok()) return st;
    bool scale_up_with_unready = !g.unready.empty() && ratio > 1.0;
    if (!scale_up_with_unready && g.missing.empty()) {
      *replicas = WithinTolerance(ratio) ? current : static_cast<int64_t>(std::ceil(ratio * static_cast<double>(g.ready)));
      return Status::OK();
    }
    if (!g.missing.empty()) {
      for (const auto& p : g.missing) {
        // On a scale-down missing pods use 100 % of their request; on a scale-up, 0 %.
        if (ratio < 1.0) metrics[p] = PodMetric{{}, 0, requests->at(p)};
        else if (ratio > 1.0) metrics[p] = PodMetric{{}, 0, 0};
      }
    }
    if (scale_up_with_unready) {
      for (const auto& p : g.unready) metrics[p] = PodMetric{{}, 0, 0};
    }
    double new_ratio = 0;
    int64_t u2 = 0, r2 = 0;
    st = UtilizationRatio(metrics, *requests, target_util, &new_ratio, &u2, &r2);
    if (!st.ok()) return st;
    if (WithinTolerance(new_ratio) || (ratio < 1.0 && new_ratio > 1.0) || (ratio > 1.0 && new_ratio < 1.0)) {
      *replicas = current;
      return Status::OK();
    }
    int64_t next = static_cast<int64_t>(std::ceil(new_ratio * static_cast<double>(metrics.size())));
    if ((new_ratio < 1.0 && next > current) || (new_ratio > 1.0 && next < current)) next = current;
    *replicas = next;
    return Status::OK();
  }

  // GetRawResourceReplicas / calcPlainMetricReplicas.
  Status RawResourceReplicas(Run& r, int64_t current, int64_t target, const std::string& resource,
                             const api::LabelSelector& sel, const std::vector<client::ObjectPtr>& pods, int64_t* replicas,
                             int64_t* usage) {
    auto fetched = FetchMetrics(r.ns, sel, resource);
    if (!fetched.ok()) return fetched.error();
    std::map<std::string, PodMetric> metrics = std::move(*fetched);
    if (pods.empty()) return Status::Invalid("no pods returned by selector while calculating replica count");
    Groups g = GroupPods(pods, metrics, resource);
    for (const auto& p : g.ignored) metrics.erase(p);
    for (const auto& p : g.unready) metrics.erase(p);
    if (metrics.empty()) return Status::Invalid("did not receive metrics for targeted pods (pods might be unready)");
    auto ratio_of = [target](const std::map<std::string, PodMetric>& m, int64_t* avg) {
      int64_t total = 0;
      for (const auto& [p, v] : m) total += v.milli_value;
      *avg = total / static_cast<int64_t>(m.size());
      return static_cast<double>(*avg) / static_cast<double>(target);
    };
    double ratio = ratio_of(metrics, usage);
    bool scale_up_with_unready = !g.unready.empty() && ratio > 1.0;
    if (!scale_up_with_unready && g.missing.empty()) {
      *replicas = WithinTolerance(ratio) ? current : static_cast<int64_t>(std::ceil(ratio * static_cast<double>(g.ready)));
      return Status::OK();
    }
    for (const auto& p : g.missing) {
      if (ratio < 1.0) metrics[p] = PodMetric{{}, 0, target};
      else if (ratio > 1.0) metrics[p] = PodMetric{{}, 0, 0};
    }
    if (scale_up_with_unready) {
      for (const auto& p : g.unready) metrics[p] = PodMetric{{}, 0, 0};
    }
    int64_t ignored_usage = 0;
    double new_ratio = ratio_of(metrics, &ignored_usage);
    if (WithinTolerance(new_ratio) || (ratio < 1.0 && new_ratio > 1.0) || (ratio > 1.0 && new_ratio < 1.0)) {
      *replicas = current;
      return Status::OK();
    }
    int64_t next = static_cast<int64_t>(std::ceil(new_ratio * static_cast<double>(metrics.size())));
    if ((new_ratio < 1.0 && next > current) || (new_ratio > 1.0 && next < current)) next = current;
    *replicas = next;
    return Status::OK();
  }

  // ---- normalization ---------------------------------------------------------------------------

  // normalizeDesiredReplicas (no spec.behavior): the highest recommendation of the downscale
  // stabilization window, then at most max(2 x current, 4) up.
  int64_t Normalize(Run& r, int64_t current, int64_t prenormalized, int64_t min_replicas, int64_t max_replicas) {
    int64_t now = NowMs();
    int64_t stabilized = prenormalized;
    auto& recs = recommendations_[r.key];
    int old_index = -1;
    for (size_t i = 0; i < recs.size(); ++i) {
      if (recs[i].ms < now - opts_.downscale_stabilization_ms) old_index = static_cast<int>(i);
      else if (recs[i].replicas > stabilized) stabilized = recs[i].replicas;
    }
    if (old_index >= 0) recs[static_cast<size_t>(old_index)] = {prenormalized, now};
    else recs.push_back({prenormalized, now});
    if (stabilized != prenormalized) {
      SetHpaCondition(r, "AbleToScale", "True", "ScaleDownStabilized",
                      "recent recommendations were higher than current one, applying the highest recent recommendation");
    } else {
      SetHpaCondition(r, "AbleToScale", "True", "ReadyForNewScale", "recommended size matches current size");
    }
    // convertDesiredReplicasWithRules.
    int64_t scale_up_limit = static_cast<int64_t>(std::max(2.0 * static_cast<double>(current), 4.0));
    int64_t maximum = max_replicas;
    std::string reason = "TooManyReplicas", message = "the desired replica count is more than the maximum replica count";
    if (max_replicas > scale_up_limit) {
      maximum = scale_up_limit;
      reason = "ScaleUpLimit";
      message = "the desired replica count is increasing faster than the maximum scale rate";
    }
    int64_t desired = stabilized;
    if (stabilized < min_replicas) {
      desired = min_replicas;
      reason = "TooFewReplicas";
      message = "the desired replica count is less than the minimum replica count";
    } else if (stabilized > maximum) {
      desired = maximum;
    } else {
      reason = "DesiredWithinRange";
      message = "the desired count is within the acceptable range";
    }
    SetHpaCondition(r, "ScalingLimited", desired == stabilized ? "False" : "True", reason, message);
    return desired;
  }

  int64_t ChangeInPeriod(const std::vector<ScaleEvent>& events, int64_t period_s, int64_t now) const {
    int64_t sum = 0;
    for (const auto& e : events) {
      if (e.ms > now - period_s * 1000) sum += e.change;
    }
    return sum;
  }

  // normalizeDesiredReplicasWithBehaviors.
  int64_t NormalizeWithBehaviors(Run& r, const JsonValue& behavior, int64_t current, int64_t prenormalized,
                                 int64_t min_replicas, int64_t max_replicas) {
    ScalingRules up = RulesOf(Member(behavior, "scaleUp"), true, 0);
    ScalingRules down = RulesOf(Member(behavior, "scaleDown"), false, opts_.downscale_stabilization_ms / 1000);
    int64_t now = NowMs();
    // stabilizeRecommendationWithBehaviors.
    int64_t up_rec = prenormalized, down_rec = prenormalized;
    int64_t up_cutoff = now - up.stabilization_seconds * 1000, down_cutoff = now - down.stabilization_seconds * 1000;
    auto& recs = recommendations_[r.key];
    int old_index = -1;
    for (size_t i = 0; i < recs.size(); ++i) {
      if (recs[i].ms > up_cutoff) up_rec = std::min(up_rec, recs[i].replicas);
      if (recs[i].ms > down_cutoff) down_rec = std::max(down_rec, recs[i].replicas);
      if (recs[i].ms < up_cutoff && recs[i].ms < down_cutoff) old_index = static_cast<int>(i);
    }
    int64_t stabilized = current;
    if (stabilized < up_rec) stabilized = up_rec;
    if (stabilized > down_rec) stabilized = down_rec;
    if (old_index >= 0) recs[static_cast<size_t>(old_index)] = {prenormalized, now};
    else recs.push_back({prenormalized, now});
    if (stabilized != prenormalized) {
      if (prenormalized >= current) {
        SetHpaCondition(r, "AbleToScale", "True", "ScaleUpStabilized",
                        "recent recommendations were lower than current one, applying the lowest recent recommendation");
      } else {
        SetHpaCondition(r, "AbleToScale", "True", "ScaleDownStabilized",
                        "recent recommendations were higher than current one, applying the highest recent recommendation");
      }
    } else {
      SetHpaCondition(r, "AbleToScale", "True", "ReadyForNewScale", "recommended size matches current size");
    }
    // convertDesiredReplicasWithBehaviorRate.
    const auto& ups = up_events_[r.key];
    const auto& downs = down_events_[r.key];
    int64_t desired = stabilized;
    std::string reason = "DesiredWithinRange", message = "the desired count is within the acceptable range";
    if (stabilized > current) {
      int64_t limit = current;
      if (up.select_policy != "Disabled") {
        bool use_min = up.select_policy == "Min";
        int64_t result = use_min ? std::numeric_limits<int32_t>::max() : std::numeric_limits<int32_t>::min();
        for (const auto& p : up.policies) {
          int64_t start = current - ChangeInPeriod(ups, p.period_seconds, now) + ChangeInPeriod(downs, p.period_seconds, now);
          int64_t proposed = p.type == "Pods" ? start + p.value
                                              : static_cast<int64_t>(std::ceil(static_cast<double>(start) *
                                                                               (1 + static_cast<double>(p.value) / 100)));
          result = use_min ? std::min(result, proposed) : std::max(result, proposed);
        }
        limit = std::max(result, current);
      }
      int64_t maximum = max_replicas;
      std::string lr = "TooManyReplicas", lm = "the desired replica count is more than the maximum replica count";
      if (maximum > limit) {
        maximum = limit;
        lr = "ScaleUpLimit";
        lm = "the desired replica count is increasing faster than the maximum scale rate";
      }
      if (stabilized > maximum) {
        desired = maximum;
        reason = lr;
        message = lm;
      }
    } else if (stabilized < current) {
      int64_t limit = current;
      if (down.select_policy != "Disabled") {
        bool use_min = down.select_policy == "Min";
        int64_t result = use_min ? std::numeric_limits<int32_t>::min() : std::numeric_limits<int32_t>::max();
        for (const auto& p : down.policies) {
          int64_t start = current - ChangeInPeriod(ups, p.period_seconds, now) + ChangeInPeriod(downs, p.period_seconds, now);
          int64_t proposed = p.type == "Pods" ? start - p.value
                                              : static_cast<int64_t>(static_cast<double>(start) *
                                                                     (1 - static_cast<double>(p.value) / 100));
          result = use_min ? std::max(result, proposed) : std::min(result, proposed);
        }
        limit = std::min(result, current);
      }
      int64_t minimum = min_replicas;
      std::string lr = "TooFewReplicas", lm = "the desired replica count is less than the minimum replica count";
      if (minimum < limit) {
        minimum = limit;
        lr = "ScaleDownLimit";
        lm = "the desired replica count is decreasing faster than the maximum scale rate";
      }
      if (stabilized < minimum) {
        desired = minimum;
        reason = lr;
        message = lm;
      }
    }
    SetHpaCondition(r, "ScalingLimited", desired == stabilized ? "False" : "True", reason, message);
    return desired;
  }

  // storeScaleEvent (only with spec.behavior).
  void StoreScaleEvent(const JsonValue* behavior, const std::string& key, int64_t prev, int64_t next) {
    if (!behavior) return;
    bool up = next > prev;
    ScalingRules rules = RulesOf(Member(*behavior, up ? "scaleUp" : "scaleDown"), up, opts_.downscale_stabilization_ms / 1000);
    int64_t longest = 0;
    for (const auto& p : rules.policies) longest = std::max(longest, p.period_seconds);
    auto& events = up ? up_events_[key] : down_events_[key];
    int64_t now = NowMs();
    int old_index = -1;
    for (size_t i = 0; i < events.size(); ++i) {
      if (events[i].ms < now - longest * 1000) events[i].outdated = true;
      if (events[i].outdated) old_index = static_cast<int>(i);
    }
    ScaleEvent e{up ? next - prev : prev - next, now, false};
    if (old_index >= 0) events[static_cast<size_t>(old_index)] = e;
    else events.push_back(e);
  }

  std::shared_ptr<MetricsSource> metrics_;
  std::shared_ptr<ScaleClient> scales_;
  HorizontalPodAutoscalerOptions opts_;
  client::Informer& hpas_;
  client::Informer& pods_;
  std::map<std::string, std::vector<Rec>> recommendations_;
  std::map<std::string, std::vector<ScaleEvent>> up_events_, down_events_;
  std::map<std::string, std::pair<std::string, api::LabelSelector>> selectors_;  // HPA key -> (ns, selector)
};

}  // namespace

ControllerPtr NewHorizontalPodAutoscalerController(Context ctx, std::shared_ptr<MetricsSource> metrics) {
  return std::make_unique<HpaController>(ctx, std::move(metrics), nullptr, HorizontalPodAutoscalerOptions{});
}

ControllerPtr NewHorizontalPodAutoscalerController(Context ctx, std::shared_ptr<MetricsSource> metrics,
                                                   std::shared_ptr<ScaleClient> scales,
                                                   HorizontalPodAutoscalerOptions options) {
  return std::make_unique<HpaController>(ctx, std::move(metrics), std::move(scales), options);
}

}  // namespace minik::controllers
