// Table cells of the workload kinds: apps/v1, batch/v1, autoscaling/v2, policy/v1 (upstream's
// printers.go, v1.32), read from the stored JSON.
#include <string>

#include "api/table_internal.h"

namespace minik::api::table {
namespace {

// Upstream prints the IntOrString's String(): the number or the string.
void AppendIntOrString(Buf& b, const JsonValue* v) {
  if (v && v->IsString()) {
    b.Add(Str(v));
  } else {
    b.Int(Int(v));
  }
}

// A *resource.Quantity's String(): "<nil>" for a nil pointer.
void AppendQuantity(Buf& b, const JsonValue* v) {
  if (!IsSet(v)) {
    b.Add("<nil>");
  } else if (v->IsString()) {
    b.Add(Str(v));
  } else {
    b.Int(Int(v));
  }
}

void AppendPercent(Buf& b, const JsonValue* v) { b.Int(Int(v)).Add('%'); }

bool ConditionTrue(const JsonValue* status, std::string_view type) {
  if (const JsonValue* conds = Arr(status, "conditions")) {
    for (const JsonValue& c : conds->GetArray()) {
      if (Str(c, "type") == type) return Str(c, "status") == "True";
    }
  }
  return false;
}

// The wide Containers, Images and Selector cells of a pod template owner.
void ContainerCells(Row& r, const JsonValue* pod_template, const JsonValue* selector, bool with_selector) {
  Buf names, images;
  AppendContainers(names, images, Arr(Get(pod_template, "spec"), "containers"));
  r.Str(names);
  r.Str(images);
  if (with_selector) {
    Buf sel;
    AppendLabelSelector(sel, selector);
    r.Str(sel);
  }
}

}  // namespace

// printDeployment.
void PrintDeployment(Row& r, const JsonValue& o) {
  const JsonValue* spec = Get(o, "spec");
  const JsonValue* status = Get(o, "status");
  Buf ready;
  ready.Int(Int(status, "readyReplicas")).Add('/').Int(Int(spec, "replicas", 1));
  r.Name(o);
  r.Str(ready);
  r.Int(Int(status, "updatedReplicas"));
  r.Int(Int(status, "availableReplicas"));
  r.Age(o);
  ContainerCells(r, Get(spec, "template"), nullptr, false);
  Buf sel;
  if (!AppendSelectorString(sel, Get(spec, "selector"))) {
    sel.Clear();
    sel.Add("<invalid>");
  }
  r.Str(sel);
}

// printReplicaSet.
void PrintReplicaSet(Row& r, const JsonValue& o) {
  const JsonValue* spec = Get(o, "spec");
  const JsonValue* status = Get(o, "status");
  r.Name(o);
  r.Int(Int(spec, "replicas", 1));
  r.Int(Int(status, "replicas"));
  r.Int(Int(status, "readyReplicas"));
  r.Age(o);
  ContainerCells(r, Get(spec, "template"), Get(spec, "selector"), true);
}

// printDaemonSet.
void PrintDaemonSet(Row& r, const JsonValue& o) {
  const JsonValue* spec = Get(o, "spec");
  const JsonValue* status = Get(o, "status");
  r.Name(o);
  r.Int(Int(status, "desiredNumberScheduled"));
  r.Int(Int(status, "currentNumberScheduled"));
  r.Int(Int(status, "numberReady"));
  r.Int(Int(status, "updatedNumberScheduled"));
  r.Int(Int(status, "numberAvailable"));
  Buf node_selector;
  AppendLabels(node_selector, Get(Get(Get(spec, "template"), "spec"), "nodeSelector"));
  r.Str(node_selector);
  r.Age(o);
  ContainerCells(r, Get(spec, "template"), Get(spec, "selector"), true);
}

// printStatefulSet.
void PrintStatefulSet(Row& r, const JsonValue& o) {
  const JsonValue* spec = Get(o, "spec");
  Buf ready;
  ready.Int(Int(Get(o, "status"), "readyReplicas")).Add('/').Int(Int(spec, "replicas", 1));
  r.Name(o);
  r.Str(ready);
  r.Age(o);
  ContainerCells(r, Get(spec, "template"), nullptr, false);
}

// printControllerRevision, formatResourceName.
void PrintControllerRevision(Row& r, const JsonValue& o) {
  Buf controller;
  const JsonValue* owner = nullptr;
  if (const JsonValue* refs = Arr(Get(o, "metadata"), "ownerReferences")) {
    for (const JsonValue& ref : refs->GetArray()) {
      if (Bool(&ref, "controller")) {
        owner = &ref;
        break;
      }
    }
  }
  if (!owner) {
    controller.Add("<none>");
  } else {
    std::string_view api_version = Str(owner, "apiVersion");
    size_t slash = api_version.find('/');
    std::string_view group = slash == std::string_view::npos ? std::string_view() : api_version.substr(0, slash);
    std::string_view kind = Str(owner, "kind");
    if (!group.empty() || !kind.empty()) {
      AppendLower(controller, kind);
      if (!group.empty()) {
        controller.Add('.');
        AppendLower(controller, group);
      }
      controller.Add('/');
    }
    controller.Add(Str(owner, "name"));
  }
  r.Name(o);
  r.Str(controller);
  r.Int(Int(&o, "revision"));
  r.Age(o);
}

// printJob.
void PrintJob(Row& r, const JsonValue& o) {
  const JsonValue* spec = Get(o, "spec");
  const JsonValue* status = Get(o, "status");
  int64_t succeeded = Int(status, "succeeded");
  Buf completions;
  if (IsSet(Get(spec, "completions"))) {
    completions.Int(succeeded).Add('/').Int(Int(spec, "completions"));
  } else {
    int64_t parallelism = Int(spec, "parallelism");
    completions.Int(succeeded).Add("/1");
    if (parallelism > 1) completions.Add(" of ").Int(parallelism);
  }
  Buf duration;
  TimePoint start, done;
  if (Time(status, "startTime", &start)) {
    if (Time(status, "completionTime", &done)) {
      AppendHumanDuration(duration, done - start);
    } else {
      AppendSince(duration, r.now(), start);
    }
  }
  std::string_view state;
  if (ConditionTrue(status, "Complete")) {
    state = "Complete";
  } else if (ConditionTrue(status, "Failed")) {
    state = "Failed";
  } else if (IsSet(Get(Get(o, "metadata"), "deletionTimestamp"))) {
    state = "Terminating";
  } else if (ConditionTrue(status, "Suspended")) {
    state = "Suspended";
  } else if (ConditionTrue(status, "FailureTarget")) {
    state = "FailureTarget";
  } else {
    state = "Running";
  }
  r.Name(o);
  r.Str(state);
  r.Str(completions);
  r.Str(duration);
  r.Age(o);
  ContainerCells(r, Get(spec, "template"), Get(spec, "selector"), true);
}

// printCronJob.
void PrintCronJob(Row& r, const JsonValue& o) {
  const JsonValue* spec = Get(o, "spec");
  const JsonValue* status = Get(o, "status");
  const JsonValue* job_spec = Get(Get(spec, "jobTemplate"), "spec");
  r.Name(o);
  r.Str(Str(spec, "schedule"));
  r.Str(IsSet(Get(spec, "timeZone")) ? Str(spec, "timeZone") : std::string_view("<none>"));
  const JsonValue* suspend = Get(spec, "suspend");
  r.Str(!suspend || !suspend->IsBool() ? "<unset>" : suspend->GetBool() ? "True" : "False");
  r.Int(Len(status, "active"));
  if (IsSet(Get(status, "lastScheduleTime"))) {
    r.Since(status, "lastScheduleTime");
  } else {
    r.Str("<none>");
  }
  r.Age(o);
  ContainerCells(r, Get(job_spec, "template"), Get(job_spec, "selector"), true);
}

namespace {

// One entry of formatHPAMetrics for a spec with a value/averageValue target.
void AppendValueMetric(Buf& b, const JsonValue* spec_source, const JsonValue* status_source) {
  const JsonValue* target = Get(spec_source, "target");
  if (IsSet(Get(target, "averageValue"))) {
    const JsonValue* current = Get(Get(status_source, "current"), "averageValue");
    if (IsSet(status_source) && IsSet(current)) {
      AppendQuantity(b, current);
    } else {
      b.Add("<unknown>");
    }
    b.Add('/');
    AppendQuantity(b, Get(target, "averageValue"));
    b.Add(" (avg)");
  } else {
    if (IsSet(status_source)) {
      AppendQuantity(b, Get(Get(status_source, "current"), "value"));
    } else {
      b.Add("<unknown>");
    }
    b.Add('/');
    AppendQuantity(b, Get(target, "value"));
  }
}

// One entry of formatHPAMetrics for a Resource or ContainerResource metric.
void AppendResourceMetric(Buf& b, const JsonValue* spec_source, const JsonValue* status_source) {
  const JsonValue* target = Get(spec_source, "target");
  b.Add(Str(spec_source, "name")).Add(": ");
  if (IsSet(Get(target, "averageValue"))) {
    if (IsSet(status_source)) {
      AppendQuantity(b, Get(Get(status_source, "current"), "averageValue"));
    } else {
      b.Add("<unknown>");
    }
    b.Add('/');
    AppendQuantity(b, Get(target, "averageValue"));
  } else {
    const JsonValue* current = Get(Get(status_source, "current"), "averageUtilization");
    if (IsSet(status_source) && IsSet(current)) {
      AppendPercent(b, current);
    } else {
      b.Add("<unknown>");
    }
    b.Add('/');
    if (IsSet(Get(target, "averageUtilization"))) {
      AppendPercent(b, Get(target, "averageUtilization"));
    } else {
      b.Add("<auto>");
    }
  }
}

}  // namespace

// printHorizontalPodAutoscaler, formatHPAMetrics (autoscaling/v2).
void PrintHorizontalPodAutoscaler(Row& r, const JsonValue& o) {
  const JsonValue* spec = Get(o, "spec");
  const JsonValue* status = Get(o, "status");
  const JsonValue* ref = Get(spec, "scaleTargetRef");
  Buf reference;
  reference.Add(Str(ref, "kind")).Add('/').Add(Str(ref, "name"));

  Buf metrics;
  const JsonValue* specs = Arr(spec, "metrics");
  const JsonValue* statuses = Arr(status, "currentMetrics");
  if (!specs || specs->Empty()) {
    metrics.Add("<none>");
  } else {
    constexpr rapidjson::SizeType kMax = 2;
    rapidjson::SizeType count = specs->Size();
    for (rapidjson::SizeType i = 0; i < count && i < kMax; ++i) {
      const JsonValue& m = (*specs)[i];
      const JsonValue* st = (statuses && statuses->Size() > i) ? &(*statuses)[i] : nullptr;
      if (i) metrics.Add(", ");
      std::string_view type = Str(m, "type");
      if (type == "External") {
        AppendValueMetric(metrics, Get(m, "external"), Get(st, "external"));
      } else if (type == "Pods") {
        const JsonValue* pods = Get(st, "pods");
        if (IsSet(pods)) {
          AppendQuantity(metrics, Get(Get(pods, "current"), "averageValue"));
        } else {
          metrics.Add("<unknown>");
        }
        metrics.Add('/');
        AppendQuantity(metrics, Get(Get(Get(m, "pods"), "target"), "averageValue"));
      } else if (type == "Object") {
        AppendValueMetric(metrics, Get(m, "object"), Get(st, "object"));
      } else if (type == "Resource") {
        AppendResourceMetric(metrics, Get(m, "resource"), Get(st, "resource"));
      } else if (type == "ContainerResource") {
        AppendResourceMetric(metrics, Get(m, "containerResource"), Get(st, "containerResource"));
      } else {
        metrics.Add("<unknown type>");
      }
    }
    if (count > kMax) metrics.Add(" + ").Int(count - kMax).Add(" more...");
  }

  Buf min_pods;
  if (IsSet(Get(spec, "minReplicas"))) {
    min_pods.Int(Int(spec, "minReplicas"));
  } else {
    min_pods.Add("<unset>");
  }
  r.Name(o);
  r.Str(reference);
  r.Str(metrics);
  r.Str(min_pods);
  r.Int(Int(spec, "maxReplicas"));
  r.Int(Int(status, "currentReplicas"));
  r.Age(o);
}

// printPodDisruptionBudget.
void PrintPodDisruptionBudget(Row& r, const JsonValue& o) {
  const JsonValue* spec = Get(o, "spec");
  Buf min_available, max_unavailable;
  if (IsSet(Get(spec, "minAvailable"))) {
    AppendIntOrString(min_available, Get(spec, "minAvailable"));
  } else {
    min_available.Add("N/A");
  }
  if (IsSet(Get(spec, "maxUnavailable"))) {
    AppendIntOrString(max_unavailable, Get(spec, "maxUnavailable"));
  } else {
    max_unavailable.Add("N/A");
  }
  r.Name(o);
  r.Str(min_available);
  r.Str(max_unavailable);
  r.Int(Int(Get(o, "status"), "disruptionsAllowed"));
  r.Age(o);
}

// printScale (autoscaling/v1 Scale).
void PrintScale(Row& r, const JsonValue& o) {
  r.Name(o);
  r.Int(Int(Get(o, "spec"), "replicas"));
  r.Int(Int(Get(o, "status"), "replicas"));
  r.Age(o);
}

}  // namespace minik::api::table
