#include "server/controllers/endpoint_slice.h"

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>

#include "common/log.h"
#include "server/controllers/endpoints.h"
#include "server/controllers/util.h"

namespace minik::controllers {
namespace {

using client::ObjectPtr;
using namespace endpointutil;
using DocPtr = std::shared_ptr<JsonDoc>;

constexpr char kComponent[] = "endpoint-slice-controller";
constexpr char kServiceNameLabel[] = "kubernetes.io/service-name";
constexpr char kManagedByLabel[] = "endpointslice.kubernetes.io/managed-by";
constexpr char kZoneLabel[] = "topology.kubernetes.io/zone";
constexpr int64_t kDeletionExpected = -1;

const JsonValue& Spec(const JsonValue& obj) {
  static const JsonValue kEmpty(rapidjson::kObjectType);
  const JsonValue* s = Member(obj, "spec");
  return s && s->IsObject() ? *s : kEmpty;
}

std::string LabelValue(const JsonValue& obj, std::string_view key) {
  const JsonValue* l = Labels(obj);
  return l ? std::string(GetString(*l, key).value_or("")) : std::string();
}

bool ManagedByUs(const JsonValue& slice) { return LabelValue(slice, kManagedByLabel) == kEndpointSliceControllerName; }

// "namespace/service" of a slice, or "" without the service-name label.
std::string ServiceKeyOf(const JsonValue& slice) {
  std::string svc = LabelValue(slice, kServiceNameLabel);
  return svc.empty() ? std::string() : client::ObjectKey(Namespace(slice), svc);
}

std::optional<int64_t> Generation(const JsonValue& obj) {
  const JsonValue* g = Path(obj, {"metadata", "generation"});
  if (g && g->IsInt64()) return g->GetInt64();
  return std::nullopt;
}

DocPtr CopyDoc(const JsonValue& v) {
  auto d = std::make_shared<JsonDoc>();
  d->CopyFrom(v, d->GetAllocator());
  return d;
}

size_t EndpointCount(const JsonValue& slice) {
  const JsonValue* e = Member(slice, "endpoints");
  return e && e->IsArray() ? e->Size() : 0;
}

// Upstream's EndpointSliceTracker: the generation of every slice this controller wrote, by
// service, so that a cache older than our writes is noticed.
class SliceTracker {
 public:
  bool Has(const JsonValue& slice) const {
    auto s = gens_.find(ServiceKeyOf(slice));
    return s != gens_.end() && s->second.count(std::string(Uid(slice))) > 0;
  }
  bool ShouldSync(const JsonValue& slice) const {
    auto s = gens_.find(ServiceKeyOf(slice));
    if (s == gens_.end()) return true;
    auto it = s->second.find(std::string(Uid(slice)));
    if (it == s->second.end()) return true;
    auto g = Generation(slice);
    return !g || *g > it->second;  // without generations every change is a reason to sync
  }
  bool StaleSlices(const std::string& svc_key, const std::vector<ObjectPtr>& slices) const {
    auto s = gens_.find(svc_key);
    if (s == gens_.end()) return false;
    std::set<std::string> provided;
    for (const auto& sl : slices) {
      std::string uid(Uid(*sl));
      provided.insert(uid);
      auto it = s->second.find(uid);
      if (it == s->second.end()) continue;
      if (it->second == kDeletionExpected) return true;
      if (auto g = Generation(*sl); g && it->second > *g) return true;
    }
    for (const auto& [uid, g] : s->second) {
      if (g != kDeletionExpected && !provided.count(uid)) return true;
    }
    return false;
  }
  void Update(const JsonValue& slice) {
    gens_[ServiceKeyOf(slice)][std::string(Uid(slice))] = Generation(slice).value_or(0);
  }
  void ExpectDeletion(const JsonValue& slice) {
    gens_[ServiceKeyOf(slice)][std::string(Uid(slice))] = kDeletionExpected;
  }
  // False when the deletion was not expected (the service must be synced again).
  bool HandleDeletion(const JsonValue& slice) {
    auto s = gens_.find(ServiceKeyOf(slice));
    if (s == gens_.end()) return true;
    auto it = s->second.find(std::string(Uid(slice)));
    if (it == s->second.end()) return true;
    int64_t g = it->second;
    s->second.erase(it);
    return g == kDeletionExpected;
  }
  void DeleteService(const std::string& svc_key) { gens_.erase(svc_key); }

 private:
  std::unordered_map<std::string, std::unordered_map<std::string, int64_t>> gens_;
};

// The identity of an endpoint (upstream's endpointHashObj): addresses, hostname, target.
std::string EndpointHash(const JsonValue& ep) {
  std::string h;
  if (const JsonValue* a = Member(ep, "addresses"); a && a->IsArray()) {
    for (const auto& x : a->GetArray()) {
      if (x.IsString()) h.append(x.GetString()).push_back(',');
    }
  }
  h += "|" + std::string(GetString(ep, "hostname").value_or(""));
  if (const JsonValue* t = Member(ep, "targetRef")) {
    h += "|" + std::string(GetString(*t, "namespace").value_or("")) + "/" +
         std::string(GetString(*t, "name").value_or(""));
  }
  return h;
}

// Equality apart from the identity and targetRef.resourceVersion (EndpointsEqualBeyondHash).
bool EndpointsEqual(const JsonValue& a, const JsonValue& b) {
  JsonDoc x, y;
  x.CopyFrom(a, x.GetAllocator());
  y.CopyFrom(b, y.GetAllocator());
  if (JsonValue* t = MutableMember(x, "targetRef")) RemoveMember(*t, "resourceVersion");
  if (JsonValue* t = MutableMember(y, "targetRef")) RemoveMember(*t, "resourceVersion");
  return JsonEqual(x, y);
}

// A canonical key for a set of ports (upstream's PortMapKey: order-independent).
std::string PortMapKey(const JsonValue* ports) {
  std::vector<std::string> parts;
  if (ports && ports->IsArray()) {
    for (const auto& p : ports->GetArray()) {
      parts.push_back(std::string(GetString(p, "name").value_or("")) + "/" +
                      std::string(GetString(p, "protocol").value_or("")) + "/" +
                      std::to_string(GetInt(p, "port").value_or(0)) + "/" +
                      std::string(GetString(p, "appProtocol").value_or("")));
    }
  }
  std::sort(parts.begin(), parts.end());
  std::string key;
  for (const auto& p : parts) key += p + ";";
  return key;
}

// Insertion-ordered set of desired endpoints keyed by hash (PopAny takes the oldest).
class EndpointSet {
 public:
  void Insert(std::string hash, DocPtr ep) {
    if (!items_.count(hash)) order_.push_back(hash);
    items_[hash] = std::move(ep);
  }
  const JsonValue* Get(const std::string& hash) const {
    auto it = items_.find(hash);
    return it == items_.end() ? nullptr : it->second.get();
  }
  void Delete(const std::string& hash) { items_.erase(hash); }
  size_t Len() const { return items_.size(); }
  DocPtr PopAny() {
    while (next_ < order_.size()) {
      auto it = items_.find(order_[next_++]);
      if (it == items_.end()) continue;
      DocPtr ep = std::move(it->second);
      items_.erase(it);
      return ep;
    }
    return nullptr;
  }

 private:
  std::vector<std::string> order_;
  size_t next_ = 0;
  std::unordered_map<std::string, DocPtr> items_;
};

class EndpointSliceController final : public Controller {
 public:
  EndpointSliceController(Context ctx, int max_per_slice)
      : Controller(ctx, "endpointslice", 5),
        max_(static_cast<size_t>(max_per_slice > 0 ? max_per_slice : 100)),
        services_(ctx.informers.For(kServices)),
        pods_(ctx.informers.For(kPods)),
        slices_(ctx.informers.For(kEndpointSlices)),
        nodes_(ctx.informers.For(kNodes)) {
    AddServiceAndPodHandlers(services_, pods_, [this](const std::string& key) { Enqueue(key); });

    client::EventHandlers eh;
    eh.on_add = [this](const ObjectPtr& o) {
      if (ManagedByUs(*o) && tracker_.ShouldSync(*o)) EnqueueSliceService(*o);
    };
    eh.on_update = [this](const ObjectPtr& old_obj, const ObjectPtr& new_obj) {
      if (LabelValue(*old_obj, kServiceNameLabel) != LabelValue(*new_obj, kServiceNameLabel)) {
        EnqueueSliceService(*new_obj);
        EnqueueSliceService(*old_obj);
        return;
      }
      if (ManagedByUs(*old_obj) != ManagedByUs(*new_obj) || (ManagedByUs(*new_obj) && tracker_.ShouldSync(*new_obj))) {
        EnqueueSliceService(*new_obj);
      }
    };
    eh.on_delete = [this](const ObjectPtr& o, bool) {
      if (ManagedByUs(*o) && tracker_.Has(*o) && !tracker_.HandleDeletion(*o)) EnqueueSliceService(*o);
    };
    slices_.AddEventHandler(std::move(eh));
    // Nodes are read for zones only (upstream reacts to them only for topology hints).
  }

  void Reconcile(const std::string& key, Done done) override;

 private:
  struct Plan {
    std::vector<DocPtr> creates, updates, deletes;
  };
  // The writes of one sync, made one after another.
  struct Run {
    enum Op { kCreate, kUpdate, kDelete };
    struct Step {
      Op op;
      DocPtr slice;
    };
    std::vector<Step> steps;
    std::string ns, svc_ref;
    ObjectPtr svc;
    std::vector<std::string> errs;
    Done done;
  };
  void RunStep(const std::shared_ptr<Run>& run, size_t i);
  void Finish(const std::shared_ptr<Run>& run, Status st);

  void EnqueueSliceService(const JsonValue& slice) {
    std::string k = ServiceKeyOf(slice);
    if (!k.empty()) Enqueue(k);
  }

  static std::vector<std::string> AddressTypes(const JsonValue& svc);
  static bool OwnedBy(const JsonValue& slice, const JsonValue& svc);
  JsonValue SliceLabels(const JsonValue* slice, const JsonValue& svc, bool* changed, JsonAlloc& a) const;
  DocPtr NewSlice(const JsonValue& svc, const JsonValue& ports, const std::string& address_type) const;
  static DocPtr PodToEndpoint(const JsonValue& pod, const JsonValue* node, const JsonValue& svc,
                              const std::string& address_type);
  static DocPtr EndpointPorts(const JsonValue& svc, const JsonValue& pod);
  void ReconcileByAddressType(const JsonValue& svc, const std::vector<ObjectPtr>& pods,
                              const std::vector<ObjectPtr>& existing, const std::string& address_type, Plan* out,
                              std::vector<std::string>* errs) const;
  void ReconcileByPortMapping(const JsonValue& svc, const std::vector<DocPtr>& existing, EndpointSet& desired,
                              const JsonValue& ports, const std::string& address_type, Plan* out) const;

  size_t max_;
  client::Informer& services_;
  client::Informer& pods_;
  client::Informer& slices_;
  client::Informer& nodes_;
  SliceTracker tracker_;
  TriggerTimeTracker triggers_;
};

std::vector<std::string> EndpointSliceController::AddressTypes(const JsonValue& svc) {
  std::set<std::string> types;
  if (const JsonValue* fams = Path(svc, {"spec", "ipFamilies"}); fams && fams->IsArray()) {
    for (const auto& f : fams->GetArray()) {
      if (f.IsString() && (std::string_view(f.GetString()) == "IPv4" || std::string_view(f.GetString()) == "IPv6")) {
        types.insert(f.GetString());
      }
    }
  }
  if (types.empty()) {
    if (IsServiceIPSet(svc)) {
      types.insert(IsIPv6(GetString(Spec(svc), "clusterIP").value_or("")) ? "IPv6" : "IPv4");
    } else {
      types = {"IPv4", "IPv6"};
    }
  }
  return {types.begin(), types.end()};
}

bool EndpointSliceController::OwnedBy(const JsonValue& slice, const JsonValue& svc) {
  const JsonValue* refs = Path(slice, {"metadata", "ownerReferences"});
  if (!refs || !refs->IsArray()) return false;
  for (const auto& r : refs->GetArray()) {
    if (GetString(r, "uid").value_or("") == Uid(svc) && GetString(r, "kind").value_or("") == "Service" &&
        GetString(r, "apiVersion").value_or("") == "v1") {
      return true;
    }
  }
  return false;
}

// setEndpointSliceLabels: the Service's labels (reserved keys aside) plus the headless,
// service-name and managed-by labels; *changed when the slice's non-reserved labels differ.
JsonValue EndpointSliceController::SliceLabels(const JsonValue* slice, const JsonValue& svc, bool* changed,
                                               JsonAlloc& a) const {
  auto reserved = [](std::string_view k) { return k == kServiceNameLabel || k == kManagedByLabel || k == kHeadlessLabel; };
  std::map<std::string, std::string> have, want;
  if (const JsonValue* l = slice ? Labels(*slice) : nullptr) {
    for (const auto& m : l->GetObject()) {
      if (!reserved(m.name.GetString()) && m.value.IsString()) have[m.name.GetString()] = m.value.GetString();
    }
  }
  if (const JsonValue* l = Labels(svc)) {
    for (const auto& m : l->GetObject()) {
      if (!reserved(m.name.GetString()) && m.value.IsString()) want[m.name.GetString()] = m.value.GetString();
    }
  }
  if (changed) *changed = have != want;
  if (!IsServiceIPSet(svc)) want[kHeadlessLabel] = "";
  want[kServiceNameLabel] = std::string(Name(svc));
  want[kManagedByLabel] = kEndpointSliceControllerName;
  JsonValue out(rapidjson::kObjectType);
  for (const auto& [k, v] : want) out.AddMember(MakeString(k, a), MakeString(v, a), a);
  return out;
}

DocPtr EndpointSliceController::NewSlice(const JsonValue& svc, const JsonValue& ports,
                                         const std::string& address_type) const {
  auto d = std::make_shared<JsonDoc>(rapidjson::kObjectType);
  auto& a = d->GetAllocator();
  SetString(*d, "apiVersion", "discovery.k8s.io/v1", a);
  SetString(*d, "kind", "EndpointSlice", a);
  JsonValue md(rapidjson::kObjectType);
  SetString(md, "generateName", std::string(Name(svc)) + "-", a);
  SetString(md, "namespace", Namespace(svc), a);
  md.AddMember("labels", SliceLabels(nullptr, svc, nullptr, a), a);
  JsonValue refs(rapidjson::kArrayType);
  refs.PushBack(MakeControllerRef(svc, "v1", "Service", a), a);
  md.AddMember("ownerReferences", refs, a);
  d->AddMember("metadata", md, a);
  SetString(*d, "addressType", address_type, a);
  d->AddMember("endpoints", JsonValue(rapidjson::kArrayType), a);
  d->AddMember("ports", Clone(ports, a), a);
  return d;
}

DocPtr EndpointSliceController::PodToEndpoint(const JsonValue& pod, const JsonValue* node, const JsonValue& svc,
                                              const std::string& address_type) {
  bool serving = IsPodReady(pod);
  bool terminating = IsBeingDeleted(pod);
  bool ready = GetBool(Spec(svc), "publishNotReadyAddresses").value_or(false) || (serving && !terminating);
  auto d = std::make_shared<JsonDoc>(rapidjson::kObjectType);
  auto& a = d->GetAllocator();
  JsonValue addrs(rapidjson::kArrayType);
  for (const auto& ip : PodIPs(pod)) {
    if (IsIPv6(ip) == (address_type == "IPv6")) addrs.PushBack(MakeString(ip, a), a);
  }
  d->AddMember("addresses", addrs, a);
  JsonValue cond(rapidjson::kObjectType);
  cond.AddMember("ready", ready, a);
  cond.AddMember("serving", serving, a);
  cond.AddMember("terminating", terminating, a);
  d->AddMember("conditions", cond, a);
  if (ShouldSetHostname(pod, svc)) SetString(*d, "hostname", GetString(Spec(pod), "hostname").value_or(""), a);
  JsonValue ref(rapidjson::kObjectType);
  SetString(ref, "kind", "Pod", a);
  SetString(ref, "namespace", Namespace(pod), a);
  SetString(ref, "name", Name(pod), a);
  SetString(ref, "uid", Uid(pod), a);
  d->AddMember("targetRef", ref, a);
  std::string_view node_name = GetString(Spec(pod), "nodeName").value_or("");
  if (!node_name.empty()) SetString(*d, "nodeName", node_name, a);
  if (node) {
    std::string zone = LabelValue(*node, kZoneLabel);
    if (!zone.empty()) SetString(*d, "zone", zone, a);
  }
  return d;
}

DocPtr EndpointSliceController::EndpointPorts(const JsonValue& svc, const JsonValue& pod) {
  auto d = std::make_shared<JsonDoc>(rapidjson::kArrayType);
  auto& a = d->GetAllocator();
  const JsonValue* ports = Path(svc, {"spec", "ports"});
  if (!ports || !ports->IsArray()) return d;
  for (const auto& sp : ports->GetArray()) {
    auto num = FindPort(pod, sp);
    if (!num) continue;
    JsonValue p(rapidjson::kObjectType);
    SetString(p, "name", GetString(sp, "name").value_or(""), a);
    SetString(p, "protocol", GetString(sp, "protocol").value_or("TCP"), a);
    p.AddMember("port", JsonValue(*num), a);
    if (auto ap = GetString(sp, "appProtocol")) SetString(p, "appProtocol", *ap, a);
    d->PushBack(p, a);
  }
  return d;
}

void EndpointSliceController::ReconcileByPortMapping(const JsonValue& svc, const std::vector<DocPtr>& existing,
                                                     EndpointSet& desired, const JsonValue& ports,
                                                     const std::string& address_type, Plan* out) const {
  std::map<std::string, DocPtr> by_name;
  std::set<std::string> unchanged, to_update, to_delete;
  // 1. Drop endpoints no longer desired, refresh changed ones, mirror the Service's labels.
  for (const auto& slice : existing) {
    std::string name(Name(*slice));
    by_name[name] = slice;
    auto& a = slice->GetAllocator();
    JsonValue kept(rapidjson::kArrayType);
    bool updated = false;
    size_t before = EndpointCount(*slice);
    if (const JsonValue* eps = Member(*slice, "endpoints"); eps && eps->IsArray()) {
      for (const auto& ep : eps->GetArray()) {
        std::string h = EndpointHash(ep);
        const JsonValue* got = desired.Get(h);
        if (!got) continue;
        if (!EndpointsEqual(*got, ep)) updated = true;
        kept.PushBack(Clone(*got, a), a);
        desired.Delete(h);
      }
    }
    bool labels_changed = false;
    JsonValue labels = SliceLabels(slice.get(), svc, &labels_changed, a);
    if (updated || before != kept.Size()) {
      if (kept.Empty()) {
        to_delete.insert(name);
      } else {
        SetMember(*slice, "endpoints", std::move(kept), a);
        SetMember(EnsureObject(*slice, "metadata", a), "labels", std::move(labels), a);
        to_update.insert(name);
      }
    } else if (labels_changed) {
      SetMember(EnsureObject(*slice, "metadata", a), "labels", std::move(labels), a);
      to_update.insert(name);
    } else {
      unchanged.insert(name);
    }
  }
  auto fill = [&](JsonDoc& slice) {
    auto& a = slice.GetAllocator();
    JsonValue* eps = MutableMember(slice, "endpoints");
    if (!eps || !eps->IsArray()) {
      SetMember(slice, "endpoints", JsonValue(rapidjson::kArrayType), a);
      eps = MutableMember(slice, "endpoints");
    }
    while (desired.Len() > 0 && eps->Size() < max_) eps->PushBack(Clone(*desired.PopAny(), a), a);
  };
  // 2. Fill the slices being updated anyway, fullest first.
  if (desired.Len() > 0 && !to_update.empty()) {
    std::vector<DocPtr> list;
    for (const auto& n : to_update) list.push_back(by_name[n]);
    std::stable_sort(list.begin(), list.end(),
                     [](const DocPtr& x, const DocPtr& y) { return EndpointCount(*x) > EndpointCount(*y); });
    for (auto& s : list) fill(*s);
  }
  // 3. The rest: into the closest-fitting unchanged slice, else into new slices.
  while (desired.Len() > 0) {
    DocPtr target;
    if (desired.Len() < max_ && !unchanged.empty()) {
      size_t closest = max_;
      for (const auto& n : unchanged) {
        size_t used = EndpointCount(*by_name[n]);
        if (desired.Len() + used > max_) continue;
        size_t diff = max_ - (desired.Len() + used);
        if (diff < closest) {
          closest = diff;
          target = by_name[n];
          if (diff == 0) break;
        }
      }
    }
    if (!target) target = NewSlice(svc, ports, address_type);
    fill(*target);
    std::string name(Name(*target));
    if (!name.empty()) {
      to_update.insert(name);
      unchanged.erase(name);
    } else {
      out->creates.push_back(target);
    }
  }
  for (const auto& n : to_update) out->updates.push_back(by_name[n]);
  for (const auto& n : to_delete) out->deletes.push_back(by_name[n]);
}

void EndpointSliceController::ReconcileByAddressType(const JsonValue& svc, const std::vector<ObjectPtr>& pods,
                                                     const std::vector<ObjectPtr>& existing,
                                                     const std::string& address_type, Plan* out,
                                                     std::vector<std::string>* errs) const {
  Plan plan;
  std::map<std::string, std::vector<DocPtr>> existing_by_ports;
  for (const auto& s : existing) {
    if (OwnedBy(*s, svc)) existing_by_ports[PortMapKey(Member(*s, "ports"))].push_back(CopyDoc(*s));
    else plan.deletes.push_back(CopyDoc(*s));
  }
  std::map<std::string, EndpointSet> desired;
  std::map<std::string, DocPtr> desired_ports;
  bool publish = GetBool(Spec(svc), "publishNotReadyAddresses").value_or(false);
  for (const auto& pod : pods) {
    if (!ShouldPodBeInEndpoints(*pod, true)) continue;
    DocPtr ports = EndpointPorts(svc, *pod);
    std::string key = PortMapKey(ports.get());
    desired[key];
    if (!desired_ports.count(key)) desired_ports[key] = ports;
    std::string node_name(GetString(Spec(*pod), "nodeName").value_or(""));
    ObjectPtr node = nodes_.Get(node_name);
    if (!node && !publish) {
      errs->push_back("skipping Pod " + std::string(Name(*pod)) + " for Service " + std::string(Namespace(svc)) + "/" +
                      std::string(Name(svc)) + ": Node " + node_name + " Not Found");
      continue;
    }
    DocPtr ep = PodToEndpoint(*pod, node.get(), svc, address_type);
    if (Member(*ep, "addresses")->Empty()) continue;
    desired[key].Insert(EndpointHash(*ep), ep);
  }
  for (auto& [key, set] : desired) {
    ReconcileByPortMapping(svc, existing_by_ports[key], set, *desired_ports[key], address_type, &plan);
  }
  for (const auto& [key, slices] : existing_by_ports) {
    if (!desired.count(key)) plan.deletes.insert(plan.deletes.end(), slices.begin(), slices.end());
  }
  // A Service without endpoints keeps one placeholder slice.
  if (existing.size() == plan.deletes.size() && plan.creates.empty()) {
    JsonValue no_ports(rapidjson::kArrayType);
    DocPtr placeholder = NewSlice(svc, no_ports, address_type);
    bool same = false;
    if (plan.deletes.size() == 1) {
      const JsonValue& d = *plan.deletes[0];
      const JsonValue* refs = Path(d, {"metadata", "ownerReferences"});
      const JsonValue* plabels = Path(*placeholder, {"metadata", "labels"});
      same = EndpointCount(d) == 0 && (!Member(d, "ports") || !Member(d, "ports")->IsArray() || Member(d, "ports")->Empty()) &&
             GetString(d, "addressType").value_or("") == address_type && Labels(d) &&
             JsonEqual(*Labels(d), *plabels) && refs &&
             JsonEqual(*refs, *Path(*placeholder, {"metadata", "ownerReferences"}));
    }
    if (same) plan.deletes.clear();
    else plan.creates.push_back(placeholder);
  }
  // A create paired with a delete becomes an update of the slice that would be deleted.
  for (size_t i = 0; i < plan.deletes.size();) {
    if (plan.creates.empty()) break;
    DocPtr del = plan.deletes[i];
    DocPtr cr = plan.creates.back();
    if (GetString(*del, "addressType").value_or("") == GetString(*cr, "addressType").value_or("") &&
        OwnedBy(*del, svc)) {
      auto& a = cr->GetAllocator();
      SetString(EnsureObject(*cr, "metadata", a), "name", Name(*del), a);
      plan.creates.pop_back();
      plan.updates.push_back(cr);
      plan.deletes.erase(plan.deletes.begin() + static_cast<std::ptrdiff_t>(i));
    } else {
      ++i;
    }
  }
  for (auto v : {&Plan::creates, &Plan::updates, &Plan::deletes}) {
    (out->*v).insert((out->*v).end(), (plan.*v).begin(), (plan.*v).end());
  }
}

void SetTriggerTime(JsonDoc& slice, const std::optional<TimePoint>& trigger) {
  auto& a = slice.GetAllocator();
  JsonValue& md = EnsureObject(slice, "metadata", a);
  JsonValue& ann = EnsureObject(md, "annotations", a);
  if (trigger) SetString(ann, kLastChangeTriggerTime, FormatRFC3339(*trigger), a);
  else RemoveMember(ann, kLastChangeTriggerTime);
  if (ann.MemberCount() == 0) RemoveMember(md, "annotations");
}

void EndpointSliceController::Reconcile(const std::string& key, Done done) {
  if (key == "default/kubernetes") return done(Status::OK());  // the API server's
  ObjectPtr svc = services_.Get(key);
  if (!svc) {
    triggers_.DeleteService(key);
    tracker_.DeleteService(key);
    return done(Status::OK());  // the slices go with the Service (ownerReference)
  }
  if (GetString(Spec(*svc), "type").value_or("") == "ExternalName") return done(Status::OK());
  if (!ServiceSelector(*svc)) return done(Status::OK());

  auto pods = PodsForService(pods_, *svc);
  std::vector<ObjectPtr> existing;
  for (auto& s : slices_.ByIndex(client::kNamespaceIndex, std::string(Namespace(*svc)))) {
    if (LabelValue(*s, kServiceNameLabel) == Name(*svc) && ManagedByUs(*s) && !IsBeingDeleted(*s)) {
      existing.push_back(std::move(s));
    }
  }
  std::sort(existing.begin(), existing.end(),
            [](const ObjectPtr& x, const ObjectPtr& y) { return Name(*x) < Name(*y); });
  if (tracker_.StaleSlices(key, existing)) {
    return done(Status::Conflict("EndpointSlice informer cache is out of date"));
  }
  auto trigger = triggers_.Compute(key, *svc, pods);

  auto types = AddressTypes(*svc);
  Plan plan;
  std::vector<std::string> errs;
  std::vector<DocPtr> unsupported;
  std::map<std::string, std::vector<ObjectPtr>> by_type;
  for (const auto& s : existing) {
    std::string t(GetString(*s, "addressType").value_or(""));
    if (std::find(types.begin(), types.end(), t) == types.end()) unsupported.push_back(CopyDoc(*s));
    else by_type[t].push_back(s);
  }
  for (const auto& t : types) ReconcileByAddressType(*svc, pods, by_type[t], t, &plan, &errs);
  plan.deletes.insert(plan.deletes.end(), unsupported.begin(), unsupported.end());
  if (IsBeingDeleted(*svc)) plan.creates.clear();

  // Writes, one after another: creates, updates, deletes.
  auto run = std::make_shared<Run>();
  for (auto& s : plan.creates) {
    SetTriggerTime(*s, trigger);
    run->steps.push_back({Run::kCreate, s});
  }
  for (auto& s : plan.updates) {
    SetTriggerTime(*s, trigger);
    run->steps.push_back({Run::kUpdate, s});
  }
  for (auto& s : plan.deletes) run->steps.push_back({Run::kDelete, s});
  run->ns = std::string(Namespace(*svc));
  run->svc_ref = run->ns + "/" + std::string(Name(*svc));
  run->svc = svc;
  run->errs = std::move(errs);
  run->done = std::move(done);
  RunStep(run, 0);
}

void EndpointSliceController::Finish(const std::shared_ptr<Run>& run, Status st) {
  if (st.ok() && !run->errs.empty()) {
    std::string msg;
    for (const auto& e : run->errs) msg += (msg.empty() ? "" : ", ") + e;
    st = Status::Unavailable(run->errs.size() == 1 ? msg : "[" + msg + "]");
  }
  if (!st.ok()) {
    ctx_.events.EventFrom(kComponent, *run->svc, kEventTypeWarning, "FailedToUpdateEndpointSlices",
                          "Error updating Endpoint Slices for Service " + run->svc_ref + ": " + st.message());
  }
  run->done(st);
}

void EndpointSliceController::RunStep(const std::shared_ptr<Run>& run, size_t i) {
  if (i >= run->steps.size()) return Finish(run, Status::OK());
  DocPtr slice = run->steps[i].slice;
  switch (run->steps[i].op) {
    case Run::kCreate:
      ctx_.client.Create(kEndpointSlices, run->ns, *slice, [this, run, i](StatusOr<JsonDoc> r) {
        if (!r.ok()) {
          if (IsNamespaceTerminating(r.error())) return run->done(Status::OK());
          return Finish(run, Status(r.error().code(), "failed to create EndpointSlice for Service " + run->svc_ref +
                                                          ": " + r.error().message()));
        }
        tracker_.Update(*r);
        RunStep(run, i + 1);
      });
      return;
    case Run::kUpdate:
      ctx_.client.Update(kEndpointSlices, run->ns, *slice, "", [this, run, i, slice](StatusOr<JsonDoc> r) {
        if (!r.ok()) {
          return Finish(run, Status(r.error().code(), "failed to update " + std::string(Name(*slice)) +
                                                          " EndpointSlice for Service " + run->svc_ref + ": " +
                                                          r.error().message()));
        }
        tracker_.Update(*r);
        RunStep(run, i + 1);
      });
      return;
    case Run::kDelete:
      ctx_.client.Delete(kEndpointSlices, run->ns, std::string(Name(*slice)), {},
                         [this, run, i, slice](StatusOr<JsonDoc> r) {
                           if (!r.ok() && !r.error().IsNotFound()) {
                             return Finish(run, Status(r.error().code(), "failed to delete " +
                                                                             std::string(Name(*slice)) +
                                                                             " EndpointSlice for Service " +
                                                                             run->svc_ref + ": " + r.error().message()));
                           }
                           if (r.ok()) tracker_.ExpectDeletion(*slice);
                           RunStep(run, i + 1);
                         });
      return;
  }
}

}  // namespace

ControllerPtr NewEndpointSliceController(Context ctx, int max_endpoints_per_slice) {
  return std::make_unique<EndpointSliceController>(ctx, max_endpoints_per_slice);
}

}  // namespace minik::controllers
