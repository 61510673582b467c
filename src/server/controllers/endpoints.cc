#include "server/controllers/endpoints.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "common/log.h"
#include "server/controllers/util.h"

namespace minik::controllers {
namespace endpointutil {

namespace {

std::string_view Str(const JsonValue* v) {
  return v && v->IsString() ? std::string_view(v->GetString(), v->GetStringLength()) : std::string_view();
}

}  // namespace

bool ShouldPodBeInEndpoints(const JsonValue& pod, bool include_terminating) {
  if (IsPodTerminal(pod)) return false;
  if (PodIPs(pod).empty()) return false;
  if (!include_terminating && IsBeingDeleted(pod)) return false;
  return true;
}

bool ShouldSetHostname(const JsonValue& pod, const JsonValue& svc) {
  std::string_view hostname = Str(Path(pod, {"spec", "hostname"}));
  return !hostname.empty() && Str(Path(pod, {"spec", "subdomain"})) == Name(svc) && Namespace(svc) == Namespace(pod);
}

bool IsServiceIPSet(const JsonValue& svc) {
  std::string_view ip = Str(Path(svc, {"spec", "clusterIP"}));
  return !ip.empty() && ip != "None";
}

bool IsHeadless(const JsonValue& svc) { return Str(Path(svc, {"spec", "clusterIP"})) == "None"; }

std::optional<int64_t> FindPort(const JsonValue& pod, const JsonValue& svc_port) {
  const JsonValue* target = Member(svc_port, "targetPort");
  if (!target || target->IsNull()) {
    // Defaulting sets targetPort to port; be lenient when it did not run.
    auto p = GetInt(svc_port, "port");
    if (p) return *p;
    return std::nullopt;
  }
  if (target->IsInt64()) return target->GetInt64();
  if (!target->IsString()) return std::nullopt;
  std::string_view name(target->GetString(), target->GetStringLength());
  std::string_view proto = GetString(svc_port, "protocol").value_or("TCP");
  auto search = [&](const JsonValue* containers, bool sidecars_only) -> std::optional<int64_t> {
    if (!containers || !containers->IsArray()) return std::nullopt;
    for (const auto& c : containers->GetArray()) {
      if (sidecars_only && GetString(c, "restartPolicy").value_or("") != "Always") continue;
      const JsonValue* ports = Member(c, "ports");
      if (!ports || !ports->IsArray()) continue;
      for (const auto& p : ports->GetArray()) {
        if (GetString(p, "name").value_or("") == name && GetString(p, "protocol").value_or("TCP") == proto) {
          if (auto cp = GetInt(p, "containerPort")) return *cp;
        }
      }
    }
    return std::nullopt;
  };
  if (auto r = search(Path(pod, {"spec", "containers"}), false)) return r;
  return search(Path(pod, {"spec", "initContainers"}), true);
}

std::vector<std::string> PodIPs(const JsonValue& pod) {
  std::vector<std::string> out;
  if (const JsonValue* ips = Path(pod, {"status", "podIPs"}); ips && ips->IsArray()) {
    for (const auto& ip : ips->GetArray()) {
      std::string_view s = GetString(ip, "ip").value_or("");
      if (!s.empty()) out.emplace_back(s);
    }
  }
  if (out.empty()) {
    std::string_view ip = Str(Path(pod, {"status", "podIP"}));
    if (!ip.empty()) out.emplace_back(ip);
  }
  return out;
}

bool IsIPv6(std::string_view ip) { return ip.find(':') != std::string_view::npos; }

std::optional<api::LabelSelector> ServiceSelector(const JsonValue& svc) {
  const JsonValue* sel = Path(svc, {"spec", "selector"});
  if (!sel || !sel->IsObject() || sel->MemberCount() == 0) return std::nullopt;
  return MapSelector(sel);
}

std::vector<client::ObjectPtr> PodsForService(client::Informer& pods, const JsonValue& svc) {
  std::vector<client::ObjectPtr> out;
  auto sel = ServiceSelector(svc);
  if (!sel) return out;
  for (auto& p : pods.ByIndex(client::kNamespaceIndex, std::string(Namespace(svc)))) {
    if (sel->Matches(Labels(*p))) out.push_back(std::move(p));
  }
  std::sort(out.begin(), out.end(), [](const client::ObjectPtr& a, const client::ObjectPtr& b) {
    return Name(*a) < Name(*b);
  });
  return out;
}

std::vector<std::string> ServicesForPod(client::Informer& services, const JsonValue& pod) {
  std::vector<std::string> out;
  for (const auto& s : services.ByIndex(client::kNamespaceIndex, std::string(Namespace(pod)))) {
    auto sel = ServiceSelector(*s);
    if (sel && sel->Matches(Labels(pod))) out.push_back(client::ObjectKey(*s));
  }
  return out;
}

bool LabelsChanged(const JsonValue& a, const JsonValue& b) {
  static const JsonValue kEmpty(rapidjson::kObjectType);
  const JsonValue* la = Labels(a);
  const JsonValue* lb = Labels(b);
  return !JsonEqual(la ? *la : kEmpty, lb ? *lb : kEmpty);
}

bool PodEndpointsChanged(const JsonValue& a, const JsonValue& b) {
  if (IsBeingDeleted(a) != IsBeingDeleted(b)) return true;
  if (IsPodReady(a) != IsPodReady(b)) return true;
  if (PodPhase(a) != PodPhase(b)) return true;
  if (PodIPs(a) != PodIPs(b)) return true;
  for (const char* f : {"nodeName", "hostname", "subdomain"}) {
    if (Str(Path(a, {"spec", f})) != Str(Path(b, {"spec", f}))) return true;
  }
  // Container ports (named targetPorts) and the Ready transition time (trigger time).
  auto same = [](const JsonValue* x, const JsonValue* y) {
    if (!x || !y) return x == y;
    return JsonEqual(*x, *y);
  };
  if (!same(Path(a, {"spec", "containers"}), Path(b, {"spec", "containers"}))) return true;
  const JsonValue* sa = Member(a, "status");
  const JsonValue* sb = Member(b, "status");
  const JsonValue* ra = sa ? FindCondition(*sa, "Ready") : nullptr;
  const JsonValue* rb = sb ? FindCondition(*sb, "Ready") : nullptr;
  return !same(ra, rb);
}

void AddServiceAndPodHandlers(client::Informer& services, client::Informer& pods,
                              std::function<void(const std::string& key)> enqueue) {
  auto by_key = [enqueue](const client::ObjectPtr& o) { enqueue(client::ObjectKey(*o)); };
  client::EventHandlers sh;
  sh.on_add = by_key;
  sh.on_update = [by_key](const client::ObjectPtr&, const client::ObjectPtr& o) { by_key(o); };
  sh.on_delete = [by_key](const client::ObjectPtr& o, bool) { by_key(o); };
  services.AddEventHandler(std::move(sh));

  auto services_of = [&services, enqueue](const JsonValue& pod) {
    for (const auto& k : ServicesForPod(services, pod)) enqueue(k);
  };
  client::EventHandlers ph;
  ph.on_add = [services_of](const client::ObjectPtr& o) { services_of(*o); };
  ph.on_update = [services_of](const client::ObjectPtr& old_obj, const client::ObjectPtr& new_obj) {
    bool labels = LabelsChanged(*old_obj, *new_obj);
    if (!labels && !PodEndpointsChanged(*old_obj, *new_obj)) return;
    services_of(*new_obj);
    if (labels) services_of(*old_obj);
  };
  ph.on_delete = [services_of](const client::ObjectPtr& o, bool) { services_of(*o); };
  pods.AddEventHandler(std::move(ph));
}

std::optional<TimePoint> TriggerTimeTracker::Compute(const std::string& svc_key, const JsonValue& svc,
                                                     const std::vector<client::ObjectPtr>& pods) {
  State& prev = states_[svc_key];
  State next;
  std::optional<TimePoint> min;
  auto consider = [&min](TimePoint t) {
    if (!min || t < *min) min = t;
  };
  for (const auto& p : pods) {
    TimePoint t{};
    if (const JsonValue* st = Member(*p, "status")) {
      if (const JsonValue* c = FindCondition(*st, "Ready")) {
        ParseRFC3339(GetString(*c, "lastTransitionTime").value_or(""), &t);
      }
    }
    std::string name(Name(*p));
    next.pods[name] = t;
    auto it = prev.pods.find(name);
    TimePoint before = it == prev.pods.end() ? TimePoint{} : it->second;
    if (t > before) consider(t);
  }
  TimePoint created{};
  ParseRFC3339(client::MetaString(svc, "creationTimestamp"), &created);
  if (created > prev.service) consider(created);
  next.service = created;
  prev = std::move(next);
  return min;
}

bool IsNamespaceTerminating(const Status& st) {
  if (st.code() != Code::kForbidden) return false;
  if (const StatusDetails* d = st.details()) {
    for (const auto& c : d->causes) {
      if (c.reason == "NamespaceTerminating") return true;
    }
  }
  return st.message().find("because it is being terminated") != std::string::npos;
}

}  // namespace endpointutil

namespace {

using client::ObjectPtr;
using namespace endpointutil;

constexpr char kComponent[] = "endpoint-controller";
constexpr char kOverCapacity[] = "endpoints.kubernetes.io/over-capacity";
constexpr char kLeaderAnnotation[] = "control-plane.alpha.kubernetes.io/leader";
constexpr size_t kMaxCapacity = 1000;

const JsonValue& Spec(const JsonValue& obj) {
  static const JsonValue kEmpty(rapidjson::kObjectType);
  const JsonValue* s = Member(obj, "spec");
  return s && s->IsObject() ? *s : kEmpty;
}

// One address with its identity (ip + pod uid), as upstream's RepackSubsets keys it.
struct Address {
  std::string ip;
  std::string uid;
  std::string json;  // the EndpointAddress, serialized
  bool operator<(const Address& o) const { return std::tie(ip, uid) < std::tie(o.ip, o.uid); }
};

struct Port {
  std::string name;
  int64_t port = 0;  // -1: the sentinel for "no ports" (headless without ports)
  std::string protocol;
  std::string app_protocol;
  bool operator<(const Port& o) const {
    return std::tie(name, port, protocol, app_protocol) < std::tie(o.name, o.port, o.protocol, o.app_protocol);
  }
};

struct Subset {
  std::vector<Address> ready;
  std::vector<Address> not_ready;
  std::vector<Port> ports;
};

JsonValue PortJson(const Port& p, JsonAlloc& a) {
  JsonValue v(rapidjson::kObjectType);
  if (!p.name.empty()) SetString(v, "name", p.name, a);
  v.AddMember("port", JsonValue(p.port), a);
  SetString(v, "protocol", p.protocol, a);
  if (!p.app_protocol.empty()) SetString(v, "appProtocol", p.app_protocol, a);
  return v;
}

// Expands (address, port, ready) triples and repacks them: ports offered by the same set of
// addresses (with the same readiness) share a subset; not ready wins over ready per port.
std::vector<Subset> Repack(const std::vector<std::tuple<Address, Port, bool>>& entries) {
  std::map<Port, std::map<Address, bool>> by_port;
  for (const auto& [addr, port, ready] : entries) {
    auto& m = by_port[port];
    auto it = m.find(addr);
    if (it == m.end() || it->second) m[addr] = ready;
  }
  std::map<std::map<Address, bool>, std::vector<Port>> by_addrs;
  for (const auto& [port, addrs] : by_port) by_addrs[addrs].push_back(port);
  std::vector<Subset> out;
  for (const auto& [addrs, ports] : by_addrs) {
    Subset s;
    for (const auto& [addr, ready] : addrs) (ready ? s.ready : s.not_ready).push_back(addr);
    for (const auto& p : ports) {
      if (p.port != -1) s.ports.push_back(p);
    }
    out.push_back(std::move(s));
  }
  std::sort(out.begin(), out.end(), [](const Subset& x, const Subset& y) {
    auto first = [](const Subset& s) {
      const Address* a = !s.ready.empty() ? &s.ready[0] : !s.not_ready.empty() ? &s.not_ready[0] : nullptr;
      return a ? std::make_pair(a->ip, a->uid) : std::make_pair(std::string(), std::string());
    };
    auto fx = first(x), fy = first(y);
    if (fx != fy) return fx < fy;
    return x.ports < y.ports;
  });
  return out;
}

// Upstream's truncateEndpoints: keeps at most 1000 addresses, ready ones first, each subset
// keeping its share. Returns true when it truncated.
bool Truncate(std::vector<Subset>& subsets) {
  size_t total_ready = 0, total_not_ready = 0;
  for (const auto& s : subsets) {
    total_ready += s.ready.size();
    total_not_ready += s.not_ready.size();
  }
  if (total_ready + total_not_ready <= kMaxCapacity) return false;
  bool truncate_ready = total_ready > kMaxCapacity;
  size_t max = truncate_ready ? kMaxCapacity : kMaxCapacity - total_ready;
  size_t num_total = truncate_ready ? total_ready : total_not_ready;
  size_t can_add = max;
  for (auto& s : subsets) {
    size_t in_subset = truncate_ready ? s.ready.size() : s.not_ready.size();
    size_t to_add = static_cast<size_t>(
        std::ceil(static_cast<double>(in_subset) / static_cast<double>(num_total) * static_cast<double>(max)));
    to_add = std::min(to_add, can_add);
    if (truncate_ready) {
      if (s.ready.size() > to_add) s.ready.resize(to_add);
      s.not_ready.clear();
      can_add -= s.ready.size();
    } else {
      if (s.not_ready.size() > to_add) s.not_ready.resize(to_add);
      can_add -= s.not_ready.size();
    }
  }
  return true;
}

JsonValue SubsetsJson(const std::vector<Subset>& subsets, JsonAlloc& a) {
  JsonValue arr(rapidjson::kArrayType);
  for (const auto& s : subsets) {
    JsonValue v(rapidjson::kObjectType);
    auto addrs = [&](const std::vector<Address>& list, const char* field) {
      if (list.empty()) return;
      JsonValue l(rapidjson::kArrayType);
      for (const auto& ad : list) {
        auto d = ParseJson(ad.json);
        if (d.ok()) l.PushBack(Clone(*d, a), a);
      }
      v.AddMember(JsonValue(field, a), l, a);
    };
    addrs(s.ready, "addresses");
    addrs(s.not_ready, "notReadyAddresses");
    if (!s.ports.empty()) {
      JsonValue pl(rapidjson::kArrayType);
      for (const auto& p : s.ports) pl.PushBack(PortJson(p, a), a);
      v.AddMember("ports", pl, a);
    }
    arr.PushBack(v, a);
  }
  return arr;
}

// The address of the pod for the service's IP family (podToEndpointAddressForService).
std::optional<std::string> AddressForService(const JsonValue& svc, const JsonValue& pod) {
  auto ips = PodIPs(pod);
  if (ips.empty()) return std::nullopt;
  std::optional<bool> want_v6;
  if (const JsonValue* fams = Path(svc, {"spec", "ipFamilies"}); fams && fams->IsArray() && !fams->Empty() &&
                                                                  (*fams)[0].IsString()) {
    want_v6 = std::string_view((*fams)[0].GetString()) == "IPv6";
  } else if (IsServiceIPSet(svc)) {
    want_v6 = IsIPv6(GetString(Spec(svc), "clusterIP").value_or(""));
  }
  if (!want_v6) return ips[0];  // headless without families: the pod's primary IP
  for (const auto& ip : ips) {
    if (IsIPv6(ip) == *want_v6) return ip;
  }
  return std::nullopt;
}

JsonDoc LabelsFor(const JsonValue& svc) {
  JsonDoc labels(rapidjson::kObjectType);
  if (const JsonValue* l = Labels(svc)) labels.CopyFrom(*l, labels.GetAllocator());
  return labels;
}

class EndpointsController final : public Controller {
 public:
  explicit EndpointsController(Context ctx)
      : Controller(ctx, "endpoint", 5),
        services_(ctx.informers.For(kServices)),
        pods_(ctx.informers.For(kPods)),
        endpoints_(ctx.informers.For(kEndpoints)) {
    AddServiceAndPodHandlers(services_, pods_, [this](const std::string& key) { Enqueue(key); });

    client::EventHandlers eh;
    // Adds cover the leftover check at start (Endpoints without a Service); deletes bring a
    // deleted Endpoints back.
    eh.on_add = [this](const ObjectPtr& o) {
      if (!Annotation(*o, kLeaderAnnotation)) EnqueueObject(o);
    };
    eh.on_delete = [this](const ObjectPtr& o, bool) { EnqueueObject(o); };
    endpoints_.AddEventHandler(std::move(eh));
  }

  void Reconcile(const std::string& key, Done done) override {
    if (key == "default/kubernetes") return done(Status::OK());  // the API server's
    std::string ns, name;
    client::SplitKey(key, &ns, &name);
    ObjectPtr svc = services_.Get(key);
    if (!svc) {
      triggers_.DeleteService(key);
      stale_.erase(key);
      ObjectPtr ep = endpoints_.Get(key);
      if (!ep || Annotation(*ep, kLeaderAnnotation)) return done(Status::OK());
      ctx_.client.Delete(kEndpoints, ns, name, {}, [done](StatusOr<JsonDoc> r) {
        done(r.ok() || r.error().IsNotFound() ? Status::OK() : r.status());
      });
      return;
    }
    if (GetString(Spec(*svc), "type").value_or("") == "ExternalName") {
      return done(Status::OK());
    }
    if (!ServiceSelector(*svc)) return done(Status::OK());

    auto pods = PodsForService(pods_, *svc);
    auto trigger = triggers_.Compute(key, *svc, pods);
    bool publish_not_ready = GetBool(Spec(*svc), "publishNotReadyAddresses").value_or(false);
    const JsonValue* svc_ports = Path(*svc, {"spec", "ports"});
    bool no_ports = !svc_ports || !svc_ports->IsArray() || svc_ports->Empty();

    std::vector<std::tuple<Address, Port, bool>> entries;
    for (const auto& pod : pods) {
      if (!ShouldPodBeInEndpoints(*pod, publish_not_ready)) continue;
      auto ip = AddressForService(*svc, *pod);
      if (!ip) continue;
      JsonDoc addr(rapidjson::kObjectType);
      auto& a = addr.GetAllocator();
      SetString(addr, "ip", *ip, a);
      if (ShouldSetHostname(*pod, *svc)) {
        SetString(addr, "hostname", GetString(Spec(*pod), "hostname").value_or(""), a);
      }
      std::string_view node = GetString(Spec(*pod), "nodeName").value_or("");
      if (!node.empty()) SetString(addr, "nodeName", node, a);
      JsonValue ref(rapidjson::kObjectType);
      SetString(ref, "kind", "Pod", a);
      SetString(ref, "namespace", Namespace(*pod), a);
      SetString(ref, "name", Name(*pod), a);
      SetString(ref, "uid", Uid(*pod), a);
      addr.AddMember("targetRef", ref, a);
      Address ad{*ip, std::string(Uid(*pod)), ToJson(addr)};
      bool ready = publish_not_ready || IsPodReady(*pod);
      if (no_ports) {
        if (IsHeadless(*svc)) entries.emplace_back(ad, Port{"", -1, "", ""}, ready);
        continue;
      }
      for (const auto& sp : svc_ports->GetArray()) {
        auto port = FindPort(*pod, sp);
        if (!port) continue;
        entries.emplace_back(ad,
                             Port{std::string(GetString(sp, "name").value_or("")), *port,
                                  std::string(GetString(sp, "protocol").value_or("TCP")),
                                  std::string(GetString(sp, "appProtocol").value_or(""))},
                             ready);
      }
    }
    auto subsets = Repack(entries);

    ObjectPtr current = endpoints_.Get(key);
    if (current) {
      auto st = stale_.find(key);
      if (st != stale_.end() && st->second == client::MetaString(*current, "resourceVersion")) {
        return done(Status::Conflict("endpoints informer cache is out of date, resource version " + st->second +
                                        " already processed for endpoints " + key));
      }
    }
    JsonDoc labels = LabelsFor(*svc);

    // Is there a change? (subsets, labels apart from the headless one, capacity annotation)
    size_t total = 0;
    for (const auto& s : subsets) total += s.ready.size() + s.not_ready.size();
    if (current) {
      JsonDoc tmp;
      JsonValue want = SubsetsJson(subsets, tmp.GetAllocator());
      const JsonValue* have = Member(*current, "subsets");
      JsonValue empty(rapidjson::kArrayType);
      bool same_subsets = JsonEqual(have && have->IsArray() ? *have : empty, want);
      JsonDoc have_labels(rapidjson::kObjectType);
      if (const JsonValue* l = Labels(*current)) have_labels.CopyFrom(*l, have_labels.GetAllocator());
      RemoveMember(have_labels, kHeadlessLabel);
      bool capacity_ok = total <= kMaxCapacity && !Annotation(*current, kOverCapacity);
      if (same_subsets && JsonEqual(have_labels, labels) && capacity_ok) return done(Status::OK());
    }

    bool truncated = Truncate(subsets);
    JsonDoc doc;
    auto& a = doc.GetAllocator();
    if (current) {
      doc.CopyFrom(*current, a);
    } else {
      doc.SetObject();
      SetString(doc, "apiVersion", "v1", a);
      SetString(doc, "kind", "Endpoints", a);
      JsonValue md(rapidjson::kObjectType);
      SetString(md, "name", name, a);
      SetString(md, "namespace", ns, a);
      doc.AddMember("metadata", md, a);
    }
    JsonValue& md = EnsureObject(doc, "metadata", a);
    if (IsServiceIPSet(*svc)) {
      RemoveMember(labels, kHeadlessLabel);
    } else {
      SetString(labels, kHeadlessLabel, "", labels.GetAllocator());
    }
    if (labels.MemberCount() > 0) SetMember(md, "labels", Clone(labels, a), a);
    else RemoveMember(md, "labels");
    JsonValue& ann = EnsureObject(md, "annotations", a);
    if (trigger) SetString(ann, kLastChangeTriggerTime, FormatRFC3339(*trigger), a);
    else RemoveMember(ann, kLastChangeTriggerTime);
    if (truncated) SetString(ann, kOverCapacity, "truncated", a);
    else RemoveMember(ann, kOverCapacity);
    if (ann.MemberCount() == 0) RemoveMember(md, "annotations");
    if (subsets.empty()) RemoveMember(doc, "subsets");
    else SetMember(doc, "subsets", SubsetsJson(subsets, a), a);

    std::string svc_ns(Namespace(*svc)), svc_name(Name(*svc));
    auto body = std::make_shared<JsonDoc>(std::move(doc));
    if (!current) {
      ctx_.client.Create(kEndpoints, ns, *body, [this, body, svc_ns, svc_name, done](StatusOr<JsonDoc> r) {
        if (r.ok()) return done(Status::OK());
        if (IsNamespaceTerminating(r.error())) return done(Status::OK());
        ctx_.events.EventFrom(kComponent, *body, kEventTypeWarning, "FailedToCreateEndpoint",
                              "Failed to create endpoint for service " + svc_ns + "/" + svc_name + ": " +
                                  r.error().message());
        done(r.status());
      });
      return;
    }
    std::string old_rv(client::MetaString(*current, "resourceVersion"));
    ctx_.client.Update(kEndpoints, ns, *body, "",
                       [this, body, key, old_rv, svc_ns, svc_name, done](StatusOr<JsonDoc> r) {
                         if (r.ok()) {
                           if (client::MetaString(*r, "resourceVersion") != old_rv) stale_[key] = old_rv;
                           return done(Status::OK());
                         }
                         ctx_.events.EventFrom(kComponent, *body, kEventTypeWarning, "FailedToUpdateEndpoint",
                                               "Failed to update endpoint " + svc_ns + "/" + svc_name + ": " +
                                                   r.error().message());
                         done(r.status());
                       });
  }

 private:
  client::Informer& services_;
  client::Informer& pods_;
  client::Informer& endpoints_;
  TriggerTimeTracker triggers_;
  // Endpoints key -> a resourceVersion already replaced by our update (staleEndpointsTracker).
  std::unordered_map<std::string, std::string> stale_;
};

}  // namespace

ControllerPtr NewEndpointsController(Context ctx) { return std::make_unique<EndpointsController>(ctx); }

}  // namespace minik::controllers
