// Table cells of the core/v1 kinds (upstream's printers.go, v1.32), read from the stored
// v1 JSON. Comments name the upstream function each printer follows.
#include <algorithm>
#include <string>
#include <vector>

#include "api/table_internal.h"

namespace minik::api::table {
namespace {

bool IsRestartableInitContainer(const JsonValue* spec, std::string_view name) {
  const JsonValue* inits = Arr(spec, "initContainers");
  if (!inits) return false;
  for (const JsonValue& c : inits->GetArray()) {
    if (Str(c, "name") == name) return Str(c, "restartPolicy") == "Always";
  }
  return false;
}

// The status of the first condition of the given type ("" when absent).
std::string_view ConditionStatus(const JsonValue* conditions, std::string_view type) {
  if (!conditions || !conditions->IsArray()) return {};
  for (const JsonValue& c : conditions->GetArray()) {
    if (Str(c, "type") == type) return Str(c, "status");
  }
  return {};
}

std::string_view TrimSpace(std::string_view s) {
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

// A resource.Quantity cell: the stored string ("0" for the zero Quantity when absent).
std::string_view Quantity(const JsonValue* map, std::string_view key) {
  std::string_view q = Str(map, key);
  return q.empty() ? std::string_view("0") : q;
}

// helper.GetAccessModesAsString.
void AppendAccessModes(Buf& b, const JsonValue* modes) {
  bool rwo = false, rox = false, rwx = false, rwop = false;
  if (modes && modes->IsArray()) {
    for (const JsonValue& m : modes->GetArray()) {
      std::string_view s = Str(&m);
      rwo |= s == "ReadWriteOnce";
      rox |= s == "ReadOnlyMany";
      rwx |= s == "ReadWriteMany";
      rwop |= s == "ReadWriteOncePod";
    }
  }
  bool first = true;
  auto add = [&](bool on, std::string_view name) {
    if (!on) return;
    if (!first) b.Add(',');
    first = false;
    b.Add(name);
  };
  add(rwo, "RWO");
  add(rox, "ROX");
  add(rwx, "RWX");
  add(rwop, "RWOP");
}

// net.JoinHostPort.
void AppendHostPort(Buf& b, std::string_view host, int64_t port) {
  if (host.find(':') != std::string_view::npos) {
    b.Add('[').Add(host).Add(']');
  } else {
    b.Add(host);
  }
  b.Add(':').Int(port);
}

}  // namespace

namespace {

// The members of a container status that printPod reads, picked in one pass.
struct ContainerStatusView {
  std::string_view name;
  int64_t restart_count = 0;
  bool ready = false;
  bool started = false;
  const JsonValue* last_terminated = nullptr;  // lastState.terminated
  const JsonValue* waiting = nullptr;          // state.waiting
  const JsonValue* terminated = nullptr;       // state.terminated
  const JsonValue* running = nullptr;          // state.running

  explicit ContainerStatusView(const JsonValue& cs) {
    static constexpr std::string_view kKeys[] = {"name", "restartCount", "ready", "started", "state", "lastState"};
    const JsonValue* f[6];
    Pick(&cs, kKeys, f);
    name = Str(f[0]);
    restart_count = Int(f[1]);
    ready = f[2] && f[2]->IsBool() && f[2]->GetBool();
    started = f[3] && f[3]->IsBool() && f[3]->GetBool();
    static constexpr std::string_view kStates[] = {"waiting", "terminated", "running"};
    const JsonValue* st[3];
    Pick(f[4], kStates, st);
    waiting = IsSet(st[0]) ? st[0] : nullptr;
    terminated = IsSet(st[1]) ? st[1] : nullptr;
    running = IsSet(st[2]) ? st[2] : nullptr;
    const JsonValue* last = Get(f[5], "terminated");
    last_terminated = IsSet(last) ? last : nullptr;
  }

  // Tracks the latest lastState.terminated.finishedAt; `have` is Go's non-zero time.
  void TrackLastTermination(TimePoint* last, bool* have) const {
    TimePoint t;
    if (last_terminated && Time(last_terminated, "finishedAt", &t) && (!*have || *last < t)) {
      *last = t;
      *have = true;
    }
  }
};

void AppendTerminatedReason(Buf& reason, const JsonValue* terminated, std::string_view prefix) {
  std::string_view tr = Str(terminated, "reason");
  reason.Add(prefix);
  if (!tr.empty()) {
    reason.Add(tr);
    return;
  }
  int64_t signal = Int(terminated, "signal");
  if (signal != 0) {
    reason.Add("Signal:").Int(signal);
  } else {
    reason.Add("ExitCode:").Int(Int(terminated, "exitCode"));
  }
}

}  // namespace

// printPod.
void PrintPod(Row& r, const JsonValue& o) {
  static constexpr std::string_view kTop[] = {"metadata", "spec", "status"};
  const JsonValue* top[3];
  Pick(&o, kTop, top);
  static constexpr std::string_view kMeta[] = {"name", "creationTimestamp", "deletionTimestamp"};
  const JsonValue* meta[3];
  Pick(top[0], kMeta, meta);
  static constexpr std::string_view kSpec[] = {"containers", "initContainers", "nodeName", "readinessGates"};
  const JsonValue* spec[4];
  Pick(top[1], kSpec, spec);
  static constexpr std::string_view kStatus[] = {"phase",   "reason", "conditions",        "initContainerStatuses",
                                                 "podIP",   "podIPs", "containerStatuses", "nominatedNodeName"};
  const JsonValue* status[8];
  Pick(top[2], kStatus, status);

  const JsonValue* conditions = (status[2] && status[2]->IsArray()) ? status[2] : nullptr;
  const JsonValue* init_specs = (spec[1] && spec[1]->IsArray()) ? spec[1] : nullptr;
  std::string_view phase = Str(status[0]);
  std::string_view status_reason = Str(status[1]);

  int64_t restarts = 0;
  int64_t restartable_restarts = 0;
  int64_t total = (spec[0] && spec[0]->IsArray()) ? spec[0]->Size() : 0;
  int64_t ready = 0;
  TimePoint last_restart{}, last_restartable_restart{};
  bool have_last = false, have_last_restartable = false;

  Buf reason;
  reason.Add(status_reason.empty() ? phase : status_reason);

  // One pass over the conditions: SchedulingGated, Initialized and Ready (the first of each type).
  bool initialized = false, pod_ready = false, seen_initialized = false, seen_ready = false;
  if (conditions) {
    static constexpr std::string_view kCond[] = {"type", "status", "reason"};
    for (const JsonValue& c : conditions->GetArray()) {
      const JsonValue* f[3];
      Pick(&c, kCond, f);
      std::string_view type = Str(f[0]);
      if (type == "PodScheduled") {
        if (Str(f[2]) == "SchedulingGated") {
          reason.Clear();
          reason.Add("SchedulingGated");
        }
      } else if (type == "Initialized" && !seen_initialized) {
        seen_initialized = true;
        initialized = Str(f[1]) == "True";
      } else if (type == "Ready" && !seen_ready) {
        seen_ready = true;
        pod_ready = Str(f[1]) == "True";
      }
    }
  }

  if (init_specs) {
    for (const JsonValue& c : init_specs->GetArray()) {
      if (Str(c, "restartPolicy") == "Always") ++total;
    }
  }

  bool initializing = false;
  if (status[3] && status[3]->IsArray()) {
    int64_t i = 0;
    for (const JsonValue& raw : status[3]->GetArray()) {
      ContainerStatusView cs(raw);
      restarts += cs.restart_count;
      cs.TrackLastTermination(&last_restart, &have_last);
      bool restartable = IsRestartableInitContainer(top[1], cs.name);
      if (restartable) {
        restartable_restarts += cs.restart_count;
        cs.TrackLastTermination(&last_restartable_restart, &have_last_restartable);
      }
      if (cs.terminated && Int(cs.terminated, "exitCode") == 0) {
        ++i;
        continue;
      }
      if (restartable && cs.started) {
        if (cs.ready) ++ready;
        ++i;
        continue;
      }
      reason.Clear();
      std::string_view waiting_reason = Str(cs.waiting, "reason");
      if (cs.terminated) {
        AppendTerminatedReason(reason, cs.terminated, "Init:");
      } else if (cs.waiting && !waiting_reason.empty() && waiting_reason != "PodInitializing") {
        reason.Add("Init:").Add(waiting_reason);
      } else {
        reason.Add("Init:").Int(i).Add('/').Int(init_specs ? init_specs->Size() : 0);
      }
      initializing = true;
      break;
    }
  }

  if (!initializing || initialized) {
    restarts = restartable_restarts;
    last_restart = last_restartable_restart;
    have_last = have_last_restartable;
    bool has_running = false;
    if (status[6] && status[6]->IsArray()) {
      const JsonValue& statuses = *status[6];
      for (rapidjson::SizeType k = statuses.Size(); k-- > 0;) {
        ContainerStatusView cs(statuses[k]);
        restarts += cs.restart_count;
        cs.TrackLastTermination(&last_restart, &have_last);
        std::string_view waiting_reason = Str(cs.waiting, "reason");
        if (cs.waiting && !waiting_reason.empty()) {
          reason.Clear();
          reason.Add(waiting_reason);
        } else if (cs.terminated) {
          reason.Clear();
          AppendTerminatedReason(reason, cs.terminated, "");
        } else if (cs.ready && cs.running) {
          has_running = true;
          ++ready;
        }
      }
    }
    if (has_running && reason.view() == "Completed") {
      reason.Clear();
      reason.Add(pod_ready ? "Running" : "NotReady");
    }
  }

  if (IsSet(meta[2])) {  // deletionTimestamp
    if (status_reason == "NodeLost") {
      reason.Clear();
      reason.Add("Unknown");
    } else if (phase != "Succeeded" && phase != "Failed") {
      reason.Clear();
      reason.Add("Terminating");
    }
  }

  r.Str(Str(meta[0]));
  Buf b;
  b.Int(ready).Add('/').Int(total);
  r.Str(b);
  r.Str(reason);
  b.Clear();
  b.Int(restarts);
  if (restarts != 0 && have_last) {
    b.Add(" (");
    AppendSince(b, r.now(), last_restart);
    b.Add(" ago)");
  }
  r.Str(b);
  TimePoint created;
  if (TimeValue(meta[1], &created)) {
    b.Clear();
    AppendSince(b, r.now(), created);
    r.Str(b);
  } else {
    r.Str("<unknown>");
  }

  // Wide columns (upstream's server always prints them; kubectl hides priority 1 without -o wide).
  // v1 -> internal conversion: podIP, when set, is authoritative over podIPs.
  std::string_view ip = Str(status[4]);
  if (ip.empty() && status[5] && status[5]->IsArray() && !status[5]->Empty()) ip = Str((*status[5])[0], "ip");
  r.Str(ip.empty() ? "<none>" : ip);
  std::string_view node = Str(spec[2]);
  r.Str(node.empty() ? "<none>" : node);
  std::string_view nominated = Str(status[7]);
  r.Str(nominated.empty() ? "<none>" : nominated);
  const JsonValue* gates = (spec[3] && spec[3]->IsArray()) ? spec[3] : nullptr;
  if (!gates || gates->Empty()) {
    r.Str("<none>");
  } else {
    int64_t true_conditions = 0;
    for (const JsonValue& g : gates->GetArray()) {
      if (ConditionStatus(conditions, Str(g, "conditionType")) == "True") ++true_conditions;
    }
    b.Clear();
    b.Int(true_conditions).Add('/').Int(gates->Size());
    r.Str(b);
  }
}

// printPodTemplate.
void PrintPodTemplate(Row& r, const JsonValue& o) {
  const JsonValue* tmpl = Get(o, "template");
  Buf names, images, labels;
  AppendContainers(names, images, Arr(Get(tmpl, "spec"), "containers"));
  AppendLabels(labels, Get(Get(tmpl, "metadata"), "labels"));
  r.Name(o);
  r.Str(names);
  r.Str(images);
  r.Str(labels);
}

// printReplicationController.
void PrintReplicationController(Row& r, const JsonValue& o) {
  const JsonValue* spec = Get(o, "spec");
  const JsonValue* status = Get(o, "status");
  r.Name(o);
  r.Int(Int(spec, "replicas", 1));
  r.Int(Int(status, "replicas"));
  r.Int(Int(status, "readyReplicas"));
  r.Age(o);
  Buf names, images, selector;
  AppendContainers(names, images, Arr(Get(Get(spec, "template"), "spec"), "containers"));
  AppendLabels(selector, Get(spec, "selector"));
  r.Str(names);
  r.Str(images);
  r.Str(selector);
}

// printService, getServiceExternalIP, makePortString.
void PrintService(Row& r, const JsonValue& o) {
  const JsonValue* spec = Get(o, "spec");
  std::string_view type = Str(spec, "type");
  if (type.empty()) type = "ClusterIP";  // v1 defaulting
  std::string_view cluster_ip = Str(spec, "clusterIP");
  if (cluster_ip.empty()) {
    const JsonValue* ips = Arr(spec, "clusterIPs");
    if (ips && !ips->Empty()) cluster_ip = Str(&(*ips)[0]);
  }

  Buf external;
  const JsonValue* external_ips = Arr(spec, "externalIPs");
  auto append_external_ips = [&]() {
    bool first = external.empty();
    for (const JsonValue& ip : external_ips->GetArray()) {
      if (!first) external.Add(',');
      first = false;
      external.Add(Str(&ip));
    }
  };
  if (type == "ClusterIP" || type == "NodePort") {
    if (external_ips && !external_ips->Empty()) {
      append_external_ips();
    } else {
      external.Add("<none>");
    }
  } else if (type == "LoadBalancer") {
    std::vector<std::string_view> lb;
    if (const JsonValue* ingress = Arr(Get(Get(o, "status"), "loadBalancer"), "ingress")) {
      for (const JsonValue& in : ingress->GetArray()) {
        std::string_view v = Str(in, "ip");
        if (v.empty()) v = Str(in, "hostname");
        if (!v.empty()) lb.push_back(v);
      }
    }
    std::sort(lb.begin(), lb.end());
    lb.erase(std::unique(lb.begin(), lb.end()), lb.end());
    for (size_t i = 0; i < lb.size(); ++i) {
      if (i) external.Add(',');
      external.Add(lb[i]);
    }
    if (external_ips && !external_ips->Empty()) {
      append_external_ips();
    } else if (lb.empty()) {
      external.Add("<pending>");
    }
  } else if (type == "ExternalName") {
    external.Add(Str(spec, "externalName"));
  } else {
    external.Add("<unknown>");
  }

  Buf ports;
  if (const JsonValue* list = Arr(spec, "ports")) {
    for (const JsonValue& p : list->GetArray()) {
      if (!ports.empty()) ports.Add(',');
      std::string_view protocol = Str(p, "protocol");
      if (protocol.empty()) protocol = "TCP";
      ports.Int(Int(&p, "port"));
      int64_t node_port = Int(&p, "nodePort");
      if (node_port > 0) ports.Add(':').Int(node_port);
      ports.Add('/').Add(protocol);
    }
  }

  r.Name(o);
  r.Str(type);
  r.Str(cluster_ip.empty() ? "<none>" : cluster_ip);
  r.Str(external);
  r.Str(ports.empty() ? std::string_view("<none>") : ports.view());
  r.Age(o);
  Buf selector;
  AppendLabels(selector, Get(spec, "selector"));
  r.Str(selector);
}

// printEndpoints, formatEndpoints(endpoints, nil).
void PrintEndpoints(Row& r, const JsonValue& o) {
  Buf b;
  const JsonValue* subsets = Arr(&o, "subsets");
  if (!subsets || subsets->Empty()) {
    b.Add("<none>");
  } else {
    constexpr int kMax = 3;
    int listed = 0;
    int64_t count = 0;
    bool more = false;
    auto add = [&](std::string_view ip, const JsonValue* port) {
      if (listed == kMax) {
        more = true;
        return false;
      }
      if (listed) b.Add(',');
      if (port) {
        AppendHostPort(b, ip, Int(port, "port"));
      } else {
        b.Add(ip);
      }
      ++listed;
      return true;
    };
    for (const JsonValue& ss : subsets->GetArray()) {
      const JsonValue* addresses = Arr(&ss, "addresses");
      rapidjson::SizeType naddr = addresses ? addresses->Size() : 0;
      const JsonValue* ports = Arr(&ss, "ports");
      if (!ports || ports->Empty()) {
        count += naddr;
        for (rapidjson::SizeType i = 0; i < naddr; ++i) {
          if (!add(Str((*addresses)[i], "ip"), nullptr)) break;
        }
        continue;
      }
      for (const JsonValue& port : ports->GetArray()) {
        count += naddr;
        for (rapidjson::SizeType i = 0; i < naddr; ++i) {
          if (!add(Str((*addresses)[i], "ip"), &port)) break;
        }
      }
    }
    if (more) b.Add(" + ").Int(count - kMax).Add(" more...");
  }
  r.Name(o);
  r.Str(b);
  r.Age(o);
}

// printNode, findNodeRoles, getNodeInternalIP, getNodeExternalIP.
void PrintNode(Row& r, const JsonValue& o) {
  const JsonValue* meta = Get(o, "metadata");
  const JsonValue* status = Get(o, "status");
  Buf st;
  const JsonValue* ready = nullptr;
  if (const JsonValue* conds = Arr(status, "conditions")) {
    for (const JsonValue& c : conds->GetArray()) {
      if (Str(c, "type") == "Ready") ready = &c;  // a map in upstream: the last one wins
    }
  }
  if (ready) {
    st.Add(Str(ready, "status") == "True" ? "Ready" : "NotReady");
  } else {
    st.Add("Unknown");
  }
  if (Bool(Get(o, "spec"), "unschedulable")) st.Add(",SchedulingDisabled");

  std::vector<std::string_view> roles;
  if (const JsonValue* labels = Get(meta, "labels"); labels && labels->IsObject()) {
    constexpr std::string_view kPrefix = "node-role.kubernetes.io/";
    for (auto it = labels->MemberBegin(); it != labels->MemberEnd(); ++it) {
      std::string_view k(it->name.GetString(), it->name.GetStringLength());
      if (k.substr(0, kPrefix.size()) == kPrefix) {
        if (k.size() > kPrefix.size()) roles.push_back(k.substr(kPrefix.size()));
      } else if (k == "kubernetes.io/role" && !Str(&it->value).empty()) {
        roles.push_back(Str(&it->value));
      }
    }
  }
  std::sort(roles.begin(), roles.end());
  roles.erase(std::unique(roles.begin(), roles.end()), roles.end());
  Buf rb;
  for (size_t i = 0; i < roles.size(); ++i) {
    if (i) rb.Add(',');
    rb.Add(roles[i]);
  }

  const JsonValue* info = Get(status, "nodeInfo");
  auto address = [&](std::string_view type) -> std::string_view {
    if (const JsonValue* addrs = Arr(status, "addresses")) {
      for (const JsonValue& a : addrs->GetArray()) {
        if (Str(a, "type") == type) return Str(a, "address");
      }
    }
    return "<none>";
  };
  auto or_unknown = [](std::string_view s) { return s.empty() ? std::string_view("<unknown>") : s; };

  r.Str(Str(meta, "name"));
  r.Str(st);
  r.Str(rb.empty() ? std::string_view("<none>") : rb.view());
  r.Age(o);
  r.Str(Str(info, "kubeletVersion"));
  r.Str(address("InternalIP"));
  r.Str(address("ExternalIP"));
  r.Str(or_unknown(Str(info, "osImage")));
  r.Str(or_unknown(Str(info, "kernelVersion")));
  r.Str(or_unknown(Str(info, "containerRuntimeVersion")));
}

namespace {

// The fields printEvent reads, from either core/v1 or events.k8s.io/v1 JSON.
struct EventView {
  const JsonValue* first_timestamp;
  const JsonValue* last_timestamp;
  const JsonValue* count;
  const JsonValue* involved;
  const JsonValue* source;
  std::string_view reporting_controller;
  std::string_view message;
};

// printEvent, formatEventSource.
void PrintEventView(Row& r, const JsonValue& o, const EventView& e) {
  Buf first;
  TimePoint t;
  if (TimeValue(e.first_timestamp, &t)) {
    AppendSince(first, r.now(), t);
  } else if (Time(&o, "eventTime", &t)) {
    AppendSince(first, r.now(), t);
  } else {
    first.Add("<unknown>");
  }
  Buf last;
  if (TimeValue(e.last_timestamp, &t)) {
    AppendSince(last, r.now(), t);
  } else {
    last.Add(first.view());
  }
  int64_t count = Int(e.count);
  const JsonValue* series = Get(o, "series");
  if (IsSet(series)) {
    last.Clear();
    if (Time(series, "lastObservedTime", &t)) {
      AppendSince(last, r.now(), t);
    } else {
      last.Add("<unknown>");
    }
    count = Int(series, "count");
  } else if (count == 0) {
    count = 1;
  }

  Buf target;
  AppendLower(target, Str(e.involved, "kind"));
  if (!Str(e.involved, "name").empty()) target.Add('/').Add(Str(e.involved, "name"));

  std::string_view component = Str(e.source, "component");
  if (component.empty()) component = e.reporting_controller;
  std::string_view host = Str(e.source, "host");
  if (host.empty()) host = Str(o, "reportingInstance");
  Buf source;
  source.Add(component);
  if (!host.empty()) source.Add(", ").Add(host);

  r.Str(last);
  r.Str(Str(o, "type"));
  r.Str(Str(o, "reason"));
  r.Str(target);
  r.Str(Str(e.involved, "fieldPath"));
  r.Str(source);
  r.Str(TrimSpace(e.message));
  r.Str(first);
  r.Int(count);
  r.Name(o);
}

}  // namespace

// printEvent for core/v1 Event.
void PrintEvent(Row& r, const JsonValue& o) {
  EventView e{Get(o, "firstTimestamp"), Get(o, "lastTimestamp"), Get(o, "count"),           Get(o, "involvedObject"),
              Get(o, "source"),         Str(o, "reportingComponent"), Str(o, "message")};
  PrintEventView(r, o, e);
}

// printEvent for events.k8s.io/v1 Event (converted to the internal Event upstream).
void PrintEventsV1(Row& r, const JsonValue& o) {
  EventView e{Get(o, "deprecatedFirstTimestamp"), Get(o, "deprecatedLastTimestamp"), Get(o, "deprecatedCount"),
              Get(o, "regarding"),                Get(o, "deprecatedSource"),        Str(o, "reportingController"),
              Str(o, "note")};
  PrintEventView(r, o, e);
}

// printNamespace.
void PrintNamespace(Row& r, const JsonValue& o) {
  r.Name(o);
  r.Str(Str(Get(o, "status"), "phase"));
  r.Age(o);
}

// printSecret.
void PrintSecret(Row& r, const JsonValue& o) {
  r.Name(o);
  r.Str(Str(o, "type"));
  r.Int(Len(&o, "data"));
  r.Age(o);
}

// printConfigMap.
void PrintConfigMap(Row& r, const JsonValue& o) {
  r.Name(o);
  r.Int(static_cast<int64_t>(Len(&o, "data")) + Len(&o, "binaryData"));
  r.Age(o);
}

// printServiceAccount.
void PrintServiceAccount(Row& r, const JsonValue& o) {
  r.Name(o);
  r.Int(Len(&o, "secrets"));
  r.Age(o);
}

// printPersistentVolume.
void PrintPersistentVolume(Row& r, const JsonValue& o) {
  const JsonValue* meta = Get(o, "metadata");
  const JsonValue* spec = Get(o, "spec");
  const JsonValue* status = Get(o, "status");
  Buf claim;
  if (const JsonValue* ref = Get(spec, "claimRef"); IsSet(ref)) {
    claim.Add(Str(ref, "namespace")).Add('/').Add(Str(ref, "name"));
  }
  Buf modes;
  AppendAccessModes(modes, Arr(spec, "accessModes"));
  std::string_view phase = Str(status, "phase");
  if (IsSet(Get(meta, "deletionTimestamp"))) phase = "Terminating";
  const JsonValue* beta_class = Get(Get(meta, "annotations"), "volume.beta.kubernetes.io/storage-class");
  std::string_view storage_class = beta_class ? Str(beta_class) : Str(spec, "storageClassName");
  std::string_view vac = Str(spec, "volumeAttributesClassName");
  std::string_view mode = Str(spec, "volumeMode");

  r.Str(Str(meta, "name"));
  r.Str(Quantity(Get(spec, "capacity"), "storage"));
  r.Str(modes);
  r.Str(Str(spec, "persistentVolumeReclaimPolicy"));
  r.Str(phase);
  r.Str(claim);
  r.Str(storage_class);
  r.Str(IsSet(Get(spec, "volumeAttributesClassName")) ? vac : std::string_view("<unset>"));
  r.Str(Str(status, "reason"));
  r.Age(o);
  r.Str(IsSet(Get(spec, "volumeMode")) ? mode : std::string_view("<unset>"));
}

// printPersistentVolumeClaim.
void PrintPersistentVolumeClaim(Row& r, const JsonValue& o) {
  const JsonValue* meta = Get(o, "metadata");
  const JsonValue* spec = Get(o, "spec");
  const JsonValue* status = Get(o, "status");
  std::string_view phase = Str(status, "phase");
  if (IsSet(Get(meta, "deletionTimestamp"))) phase = "Terminating";
  std::string_view volume = Str(spec, "volumeName");
  std::string_view capacity;
  Buf modes;
  if (!volume.empty()) {
    AppendAccessModes(modes, Arr(status, "accessModes"));
    capacity = Quantity(Get(status, "capacity"), "storage");
  }
  const JsonValue* beta_class = Get(Get(meta, "annotations"), "volume.beta.kubernetes.io/storage-class");
  std::string_view storage_class = beta_class ? Str(beta_class) : Str(spec, "storageClassName");

  r.Str(Str(meta, "name"));
  r.Str(phase);
  r.Str(volume);
  r.Str(capacity);
  r.Str(modes);
  r.Str(storage_class);
  r.Str(IsSet(Get(spec, "volumeAttributesClassName")) ? Str(spec, "volumeAttributesClassName")
                                                       : std::string_view("<unset>"));
  r.Age(o);
  r.Str(IsSet(Get(spec, "volumeMode")) ? Str(spec, "volumeMode") : std::string_view("<unset>"));
}

// printResourceQuota (v1.32 column order: Name, Age, Request, Limit).
void PrintResourceQuota(Row& r, const JsonValue& o) {
  const JsonValue* status = Get(o, "status");
  const JsonValue* hard = Get(status, "hard");
  const JsonValue* used = Get(status, "used");
  std::vector<std::string_view> names;
  if (hard && hard->IsObject()) {
    for (auto it = hard->MemberBegin(); it != hard->MemberEnd(); ++it) {
      names.emplace_back(it->name.GetString(), it->name.GetStringLength());
    }
  }
  std::sort(names.begin(), names.end());
  Buf requests, limits;
  for (std::string_view name : names) {
    size_t dot = name.find('.');
    Buf& w = (dot != std::string_view::npos && name.substr(0, dot) == "limits") ? limits : requests;
    w.Add(name).Add(": ").Add(Quantity(used, name)).Add('/').Add(Quantity(hard, name)).Add(", ");
  }
  requests.TrimSuffix(", ");
  limits.TrimSuffix(", ");
  r.Name(o);
  r.Age(o);
  r.Str(requests);
  r.Str(limits);
}

// printComponentStatus.
void PrintComponentStatus(Row& r, const JsonValue& o) {
  std::string_view status = "Unknown", message, error;
  if (const JsonValue* conds = Arr(&o, "conditions")) {
    for (const JsonValue& c : conds->GetArray()) {
      if (Str(c, "type") != "Healthy") continue;
      status = Str(c, "status") == "True" ? "Healthy" : "Unhealthy";
      message = Str(c, "message");
      error = Str(c, "error");
      break;
    }
  }
  r.Name(o);
  r.Str(status);
  r.Str(message);
  r.Str(error);
}

}  // namespace minik::api::table
