#include "server/controllers/persistent_volume_binder.h"

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <set>

#include "api/labels.h"
#include "api/quantity.h"
#include "common/log.h"
#include "server/controllers/util.h"

namespace minik::controllers {

namespace storage {

namespace {
std::string_view Str(const JsonValue& obj, std::string_view name) { return GetString(obj, name).value_or(""); }
}  // namespace

std::string ClaimClass(const JsonValue& pvc) {
  if (auto a = Annotation(pvc, kAnnBetaStorageClass)) return std::string(*a);
  if (const JsonValue* s = Path(pvc, {"spec", "storageClassName"}); s && s->IsString()) return s->GetString();
  return "";
}

std::string VolumeClass(const JsonValue& pv) {
  if (auto a = Annotation(pv, kAnnBetaStorageClass)) return std::string(*a);
  if (const JsonValue* s = Path(pv, {"spec", "storageClassName"}); s && s->IsString()) return s->GetString();
  return "";
}

bool IsDefaultClass(const JsonValue& sc) {
  auto a = Annotation(sc, kAnnIsDefaultClass);
  if (a && *a == "true") return true;
  auto b = Annotation(sc, kAnnBetaIsDefaultClass);
  return b && *b == "true";
}

const JsonValue* DefaultClass(const std::vector<const JsonValue*>& classes) {
  const JsonValue* best = nullptr;
  std::string best_ts;
  for (const JsonValue* sc : classes) {
    if (!IsDefaultClass(*sc)) continue;
    std::string ts = Path(*sc, {"metadata"}) ? std::string(Str(*Path(*sc, {"metadata"}), "creationTimestamp")) : "";
    // Newest first; on a tie the name that sorts first.
    if (!best || ts > best_ts || (ts == best_ts && Name(*sc) < Name(*best))) {
      best = sc;
      best_ts = ts;
    }
  }
  return best;
}

JsonValue ClaimReference(const JsonValue& pvc, JsonAlloc& a) {
  JsonValue ref(rapidjson::kObjectType);
  ref.AddMember("kind", "PersistentVolumeClaim", a);
  ref.AddMember("namespace", MakeString(Namespace(pvc), a), a);
  ref.AddMember("name", MakeString(Name(pvc), a), a);
  ref.AddMember("uid", MakeString(Uid(pvc), a), a);
  ref.AddMember("apiVersion", "v1", a);
  const JsonValue* meta = Member(pvc, "metadata");
  std::string_view rv = meta ? Str(*meta, "resourceVersion") : "";
  if (!rv.empty()) ref.AddMember("resourceVersion", MakeString(rv, a), a);
  return ref;
}

namespace {

std::string LabelValue(const JsonValue* labels, const std::string& key, bool* found) {
  *found = false;
  if (!labels || !labels->IsObject()) return "";
  const JsonValue* v = Member(*labels, key);
  if (!v || !v->IsString()) return "";
  *found = true;
  return v->GetString();
}

bool RequirementMatches(const JsonValue& req, const std::string& value, bool found) {
  std::string_view op = Str(req, "operator");
  std::vector<std::string> values;
  if (const JsonValue* vs = Member(req, "values"); vs && vs->IsArray()) {
    for (const auto& v : vs->GetArray()) if (v.IsString()) values.emplace_back(v.GetString());
  }
  bool in = found && std::find(values.begin(), values.end(), value) != values.end();
  if (op == "In") return in;
  if (op == "NotIn") return !in;
  if (op == "Exists") return found;
  if (op == "DoesNotExist") return !found;
  if (op == "Gt" || op == "Lt") {
    if (!found || values.size() != 1) return false;
    char* end = nullptr;
    long long have = std::strtoll(value.c_str(), &end, 10);
    if (value.empty() || *end) return false;
    long long want = std::strtoll(values[0].c_str(), &end, 10);
    if (values[0].empty() || *end) return false;
    return op == "Gt" ? have > want : have < want;
  }
  return false;
}

}  // namespace

bool NodeAffinityMatches(const JsonValue& pv, const std::string& node_name, const JsonValue* node_labels) {
  const JsonValue* terms = Path(pv, {"spec", "nodeAffinity", "required", "nodeSelectorTerms"});
  if (!terms || !terms->IsArray()) return true;
  JsonDoc fallback;
  if (!node_labels) {
    fallback.SetObject();
    fallback.AddMember("kubernetes.io/hostname", MakeString(node_name, fallback.GetAllocator()), fallback.GetAllocator());
    node_labels = &fallback;
  }
  for (const auto& term : terms->GetArray()) {
    bool ok = true;
    bool any = false;
    if (const JsonValue* exprs = Member(term, "matchExpressions"); exprs && exprs->IsArray()) {
      for (const auto& e : exprs->GetArray()) {
        any = true;
        bool found = false;
        std::string v = LabelValue(node_labels, std::string(Str(e, "key")), &found);
        if (!RequirementMatches(e, v, found)) ok = false;
      }
    }
    if (const JsonValue* fields = Member(term, "matchFields"); fields && fields->IsArray()) {
      for (const auto& e : fields->GetArray()) {
        any = true;
        bool found = Str(e, "key") == "metadata.name";
        if (!RequirementMatches(e, found ? node_name : "", found)) ok = false;
      }
    }
    if (any && ok) return true;  // an empty term matches nothing
  }
  return false;
}

}  // namespace storage

namespace {

using namespace storage;

constexpr char kComponent[] = "persistentvolume-controller";
constexpr char kExternalProvisioningFmt1[] = "Waiting for a volume to be created either by the external provisioner '";
constexpr char kExternalProvisioningFmt2[] =
    "' or manually by the system administrator. If volume creation is delayed, please verify that the provisioner "
    "is running and correctly registered.";

std::string_view Str(const JsonValue& obj, std::string_view name) { return GetString(obj, name).value_or(""); }

std::string_view Phase(const JsonValue& obj) {
  const JsonValue* s = Member(obj, "status");
  return s ? Str(*s, "phase") : "";
}

std::string_view SpecString(const JsonValue& obj, std::string_view field) {
  const JsonValue* s = Member(obj, "spec");
  return s ? Str(*s, field) : "";
}

std::string VolumeMode(const JsonValue& obj) {
  std::string m(SpecString(obj, "volumeMode"));
  return m.empty() ? "Filesystem" : m;
}

const JsonValue* ClaimRef(const JsonValue& pv) {
  const JsonValue* r = Path(pv, {"spec", "claimRef"});
  return r && r->IsObject() ? r : nullptr;
}

// storagehelpers.IsVolumeBoundToClaim: the claimRef names the claim (and its uid, when set).
bool IsVolumeBoundToClaim(const JsonValue& pv, const JsonValue& pvc) {
  const JsonValue* ref = ClaimRef(pv);
  if (!ref) return false;
  if (Str(*ref, "name") != Name(pvc) || Str(*ref, "namespace") != Namespace(pvc)) return false;
  std::string_view uid = Str(*ref, "uid");
  return uid.empty() || uid == Uid(pvc);
}

std::set<std::string> AccessModes(const JsonValue& obj) {
  std::set<std::string> out;
  if (const JsonValue* m = Path(obj, {"spec", "accessModes"}); m && m->IsArray()) {
    for (const auto& x : m->GetArray()) if (x.IsString()) out.insert(x.GetString());
  }
  return out;
}

// CheckAccessModes: the volume offers every mode the claim asks for.
bool CheckAccessModes(const JsonValue& pvc, const JsonValue& pv) {
  auto want = AccessModes(pvc);
  auto have = AccessModes(pv);
  return std::includes(have.begin(), have.end(), want.begin(), want.end());
}

api::Quantity StorageOf(const JsonValue* list) {
  if (!list) return api::Quantity();
  const JsonValue* s = Member(*list, "storage");
  if (!s || !s->IsString()) return api::Quantity();
  auto q = api::ParseQuantity(s->GetString());
  return q.ok() ? *q : api::Quantity();
}

api::Quantity ClaimRequest(const JsonValue& pvc) { return StorageOf(Path(pvc, {"spec", "resources", "requests"})); }
api::Quantity VolumeCapacity(const JsonValue& pv) { return StorageOf(Path(pv, {"spec", "capacity"})); }

// checkVolumeSatisfyClaim: "" or the reason.
std::string CheckVolumeSatisfyClaim(const JsonValue& pv, const JsonValue& pvc) {
  if (IsBeingDeleted(pv)) return "the volume is marked for deletion \"" + std::string(Name(pv)) + "\"";
  auto req = ClaimRequest(pvc).Value().value_or(0);
  auto cap = VolumeCapacity(pv).Value().value_or(0);
  if (cap < req) return "requested PV is too small";
  if (VolumeClass(pv) != ClaimClass(pvc)) return "storageClassName does not match";
  if (VolumeMode(pv) != VolumeMode(pvc)) return "incompatible volumeMode";
  if (!CheckAccessModes(pvc, pv)) return "incompatible accessMode";
  return "";
}

std::string ClaimKey(const JsonValue& ref) {
  return client::ObjectKey(Str(ref, "namespace"), Str(ref, "name"));
}

JsonDoc Copy(const JsonValue& v) {
  JsonDoc d;
  d.CopyFrom(v, d.GetAllocator());
  return d;
}

void SetAnnotation(JsonDoc& doc, std::string_view key, std::string_view value) {
  auto& a = doc.GetAllocator();
  JsonValue& meta = EnsureObject(doc, "metadata", a);
  SetString(EnsureObject(meta, "annotations", a), key, value, a);
}

class PersistentVolumeBinder final : public Controller {
 public:
  explicit PersistentVolumeBinder(Context ctx)
      : Controller(ctx, "persistentvolume-binder"),
        volumes_(ctx.informers.For(kPersistentVolumes)),
        claims_(ctx.informers.For(kPersistentVolumeClaims)),
        classes_(ctx.informers.For(kStorageClasses)),
        pods_(ctx.informers.For(kPods)),
        nodes_(ctx.informers.For(kNodes)) {
    client::EventHandlers vh;
    vh.on_add = [this](const client::ObjectPtr& o) { VolumeChanged(*o); };
    vh.on_update = [this](const client::ObjectPtr&, const client::ObjectPtr& o) { VolumeChanged(*o); };
    vh.on_delete = [this](const client::ObjectPtr& o, bool) {
      if (const JsonValue* ref = ClaimRef(*o)) Enqueue(ClaimKey(*ref));
    };
    volumes_.AddEventHandler(vh);
    client::EventHandlers ch;
    ch.on_add = [this](const client::ObjectPtr& o) { EnqueueObject(o); };
    ch.on_update = [this](const client::ObjectPtr&, const client::ObjectPtr& o) { EnqueueObject(o); };
    ch.on_delete = [this](const client::ObjectPtr& o, bool) {
      std::string vol(SpecString(*o, "volumeName"));
      if (!vol.empty()) Enqueue(vol);
    };
    claims_.AddEventHandler(ch);
    client::EventHandlers sh;
    sh.on_add = [this](const client::ObjectPtr&) { EnqueueUnboundClaims(); };
    sh.on_update = [this](const client::ObjectPtr&, const client::ObjectPtr&) { EnqueueUnboundClaims(); };
    classes_.AddEventHandler(sh);
  }

  void Reconcile(const std::string& key, Done done) override {
    if (key.find('/') != std::string::npos) {
      client::ObjectPtr claim = claims_.Get(key);
      if (!claim) return done(Status::OK());
      return SyncClaim(claim, std::move(done));
    }
    client::ObjectPtr volume = volumes_.Get(key);
    if (!volume) return done(Status::OK());
    SyncVolume(volume, std::move(done));
  }

 private:
  // ---- event handlers ---------------------------------------------------------------------------
  void VolumeChanged(const JsonValue& pv) {
    Enqueue(std::string(Name(pv)));
    if (const JsonValue* ref = ClaimRef(pv)) {
      Enqueue(ClaimKey(*ref));
    } else {
      EnqueueUnboundClaims();
    }
  }
  void EnqueueUnboundClaims() {
    for (const auto& c : claims_.List()) {
      if (!Annotation(*c, kAnnBindCompleted) && SpecString(*c, "volumeName").empty()) EnqueueObject(c);
    }
  }

  void Event(const JsonValue& obj, std::string_view type, std::string_view reason, std::string_view message) {
    ctx_.events.EventFrom(kComponent, obj, type, reason, message);
  }

  // ---- writes -----------------------------------------------------------------------------------
  using DocCallback = std::function<void(StatusOr<JsonDoc>)>;

  // updateVolumePhase: phase, message, lastPhaseTransitionTime (when the phase changes).
  void UpdateVolumePhase(const JsonValue& pv, std::string_view phase, std::string_view message, DocCallback cb) {
    std::string_view old_message = Path(pv, {"status"}) ? Str(*Path(pv, {"status"}), "message") : "";
    if (Phase(pv) == phase && old_message == message) return cb(Copy(pv));
    JsonDoc doc = Copy(pv);
    auto& a = doc.GetAllocator();
    JsonValue& status = EnsureObject(doc, "status", a);
    if (Phase(pv) != phase) SetString(status, "lastPhaseTransitionTime", FormatRFC3339(clock().Now()), a);
    SetString(status, "phase", phase, a);
    if (message.empty()) RemoveMember(status, "message");
    else SetString(status, "message", message, a);
    ctx_.client.Update(kPersistentVolumes, "", doc, "status", std::move(cb));
  }

  void UpdateVolumePhaseWithEvent(const JsonValue& pv, std::string_view phase, std::string_view type,
                                  std::string_view reason, std::string_view message, DocCallback cb) {
    if (Phase(pv) == phase) return cb(Copy(pv));
    UpdateVolumePhase(pv, phase, message,
                      [this, type = std::string(type), reason = std::string(reason),
                       message = std::string(message), cb](StatusOr<JsonDoc> r) {
                        if (r.ok()) Event(*r, type, reason, message);
                        cb(std::move(r));
                      });
  }

  // updateClaimStatus: phase, and accessModes/capacity from the volume (or cleared).
  void UpdateClaimStatus(const JsonValue& pvc, std::string_view phase, const JsonValue* pv, DocCallback cb) {
    JsonDoc doc = Copy(pvc);
    auto& a = doc.GetAllocator();
    JsonValue& status = EnsureObject(doc, "status", a);
    bool dirty = false;
    if (Str(status, "phase") != phase) {
      SetString(status, "phase", phase, a);
      dirty = true;
    }
    if (!pv) {
      if (Member(status, "accessModes")) { RemoveMember(status, "accessModes"); dirty = true; }
      if (Member(status, "capacity")) { RemoveMember(status, "capacity"); dirty = true; }
    } else {
      const JsonValue* modes = Path(*pv, {"spec", "accessModes"});
      const JsonValue* have = Member(status, "accessModes");
      if (modes && (!have || !JsonEqual(*have, *modes))) {
        SetMember(status, "accessModes", Clone(*modes, a), a);
        dirty = true;
      } else if (!modes && have) {
        RemoveMember(status, "accessModes");
        dirty = true;
      }
      // Capacity only when the claim becomes Bound, and never smaller than it was.
      if (Phase(pvc) != phase) {
        const JsonValue* cap = Path(*pv, {"spec", "capacity"});
        if (!cap || !Member(*cap, "storage")) {
          return cb(Status::Invalid("PersistentVolume \"" + std::string(Name(*pv)) + "\" is without a storage capacity"));
        }
        const JsonValue* claim_cap = Member(status, "capacity");
        if (!claim_cap || !Member(*claim_cap, "storage") || VolumeCapacity(*pv).Cmp(StorageOf(claim_cap)) > 0) {
          SetMember(status, "capacity", Clone(*cap, a), a);
          dirty = true;
        }
      }
    }
    if (!dirty) return cb(std::move(doc));
    ctx_.client.Update(kPersistentVolumeClaims, std::string(Namespace(pvc)), doc, "status", std::move(cb));
  }

  void UpdateClaimStatusWithEvent(const JsonValue& pvc, std::string_view phase, std::string_view type,
                                  std::string_view reason, std::string_view message, Done done) {
    if (Phase(pvc) == phase) return done(Status::OK());
    UpdateClaimStatus(pvc, phase, nullptr,
                      [this, type = std::string(type), reason = std::string(reason),
                       message = std::string(message), done](StatusOr<JsonDoc> r) {
                        if (!r.ok()) return done(r.error());
                        Event(*r, type, reason, message);
                        done(Status::OK());
                      });
  }

  // bind(): volume -> claim (claimRef, bound-by-controller), volume Bound, claim -> volume
  // (volumeName, bound-by-controller, bind-completed), claim Bound.
  void Bind(const JsonValue& pv_in, const JsonValue& pvc_in, Done done) {
    auto pvc = std::make_shared<JsonDoc>(Copy(pvc_in));
    JsonDoc pv = Copy(pv_in);
    bool dirty = false;
    bool set_by_controller = !IsVolumeBoundToClaim(pv_in, pvc_in);
    const JsonValue* ref = ClaimRef(pv_in);
    if (!ref || Str(*ref, "name") != Name(pvc_in) || Str(*ref, "namespace") != Namespace(pvc_in) ||
        Str(*ref, "uid") != Uid(pvc_in)) {
      auto& a = pv.GetAllocator();
      SetMember(EnsureObject(pv, "spec", a), "claimRef", ClaimReference(pvc_in, a), a);
      dirty = true;
    }
    if (set_by_controller && !Annotation(pv, kAnnBoundByController)) {
      SetAnnotation(pv, kAnnBoundByController, "yes");
      dirty = true;
    }
    auto after_volume = [this, pvc, done](StatusOr<JsonDoc> v) {
      if (!v.ok()) return done(v.error());
      auto vol = std::make_shared<JsonDoc>(std::move(*v));
      UpdateVolumePhase(*vol, "Bound", "", [this, pvc, vol, done](StatusOr<JsonDoc> v2) {
        if (!v2.ok()) return done(v2.error());
        BindClaimToVolume(*pvc, *vol, done);
      });
    };
    if (!dirty) return after_volume(std::move(pv));
    ctx_.client.Update(kPersistentVolumes, "", pv, "", after_volume);
  }

  void BindClaimToVolume(const JsonValue& pvc_in, const JsonValue& pv_in, Done done) {
    JsonDoc pvc = Copy(pvc_in);
    bool dirty = false;
    if (SpecString(pvc_in, "volumeName") != Name(pv_in)) {
      auto& a = pvc.GetAllocator();
      SetString(EnsureObject(pvc, "spec", a), "volumeName", Name(pv_in), a);
      dirty = true;
      if (!Annotation(pvc, kAnnBoundByController)) SetAnnotation(pvc, kAnnBoundByController, "yes");
    }
    if (!Annotation(pvc, kAnnBindCompleted)) {
      SetAnnotation(pvc, kAnnBindCompleted, "yes");
      dirty = true;
    }
    auto vol = std::make_shared<JsonDoc>(Copy(pv_in));
    auto after_claim = [this, vol, done](StatusOr<JsonDoc> c) {
      if (!c.ok()) return done(c.error());
      UpdateClaimStatus(*c, "Bound", vol.get(), [done](StatusOr<JsonDoc> r) { done(r.ok() ? Status::OK() : r.error()); });
    };
    if (!dirty) return after_claim(std::move(pvc));
    ctx_.client.Update(kPersistentVolumeClaims, std::string(Namespace(pvc_in)), pvc, "", after_claim);
  }

  // ---- claims -----------------------------------------------------------------------------------
  void SyncClaim(const client::ObjectPtr& claim, Done done) {
    if (!Annotation(*claim, kAnnBindCompleted)) return SyncUnboundClaim(claim, std::move(done));
    SyncBoundClaim(claim, std::move(done));
  }

  void SyncBoundClaim(const client::ObjectPtr& claim, Done done) {
    std::string vol_name(SpecString(*claim, "volumeName"));
    if (vol_name.empty()) {
      return UpdateClaimStatusWithEvent(*claim, "Lost", kEventTypeWarning, "ClaimLost",
                                        "Bound claim has lost reference to PersistentVolume. Data on the volume is lost!",
                                        std::move(done));
    }
    client::ObjectPtr volume = volumes_.Get(vol_name);
    if (!volume) {
      return UpdateClaimStatusWithEvent(*claim, "Lost", kEventTypeWarning, "ClaimLost",
                                        "Bound claim has lost its PersistentVolume. Data on the volume is lost!",
                                        std::move(done));
    }
    const JsonValue* ref = ClaimRef(*volume);
    if (!ref || Str(*ref, "uid") == Uid(*claim)) return Bind(*volume, *claim, std::move(done));
    UpdateClaimStatusWithEvent(*claim, "Lost", kEventTypeWarning, "ClaimMisbound",
                               "Two claims are bound to the same volume, this one is bound incorrectly", std::move(done));
  }

  bool IsDelayBinding(const JsonValue& claim) {
    std::string cls = ClaimClass(claim);
    if (cls.empty()) return false;
    client::ObjectPtr sc = classes_.Get(cls);
    return sc && Str(*sc, "volumeBindingMode") == "WaitForFirstConsumer";
  }

  // findBestMatchForClaim: a volume pre-bound to the claim, else the Available volume with the
  // fewest access modes and then the smallest capacity that satisfies it. With delayed binding
  // only pre-bound volumes match until a node is selected; then node affinity must admit it.
  client::ObjectPtr FindBestMatch(const JsonValue& claim, bool delay_binding) {
    std::string node;
    if (auto n = Annotation(claim, kAnnSelectedNode)) node = std::string(*n);
    const JsonValue* node_labels = nullptr;
    client::ObjectPtr node_obj;
    if (!node.empty()) {
      node_obj = nodes_.Get(node);
      if (node_obj) node_labels = Path(*node_obj, {"metadata", "labels"});
    }
    auto selector = api::LabelSelector::FromLabelSelectorJson(Path(claim, {"spec", "selector"}));
    bool has_selector = Path(claim, {"spec", "selector"}) != nullptr;
    api::Quantity request = ClaimRequest(claim);
    std::string cls = ClaimClass(claim);
    auto want = AccessModes(claim);

    client::ObjectPtr best;
    size_t best_modes = 0;
    api::Quantity best_cap;
    std::vector<client::ObjectPtr> vols = volumes_.List();
    std::sort(vols.begin(), vols.end(), [](const auto& x, const auto& y) { return Name(*x) < Name(*y); });
    for (const auto& v : vols) {
      if (VolumeMode(*v) != VolumeMode(claim)) continue;
      if (IsBeingDeleted(*v)) continue;
      bool affinity_ok = node.empty() || NodeAffinityMatches(*v, node, node_labels);
      if (IsVolumeBoundToClaim(*v, claim)) {
        if (!affinity_ok) return nullptr;
        return v;
      }
      if (node.empty() && delay_binding) continue;
      if (Phase(*v) != "Available" || ClaimRef(*v)) continue;
      if (has_selector && (!selector.ok() || !selector->Matches(Labels(*v)))) continue;
      if (VolumeClass(*v) != cls) continue;
      if (!affinity_ok) continue;
      auto have = AccessModes(*v);
      if (!std::includes(have.begin(), have.end(), want.begin(), want.end())) continue;
      api::Quantity cap = VolumeCapacity(*v);
      if (cap.Cmp(request) < 0) continue;
      if (!best || have.size() < best_modes || (have.size() == best_modes && cap.Cmp(best_cap) < 0)) {
        best = v;
        best_modes = have.size();
        best_cap = cap;
      }
    }
    return best;
  }

  // Names of the pods not yet scheduled that use the claim.
  std::vector<std::string> UnscheduledPodsUsing(const JsonValue& claim) {
    std::vector<std::string> out;
    std::string ns(Namespace(claim));
    std::string_view name = Name(claim);
    for (const auto& p : pods_.ByIndex(client::kNamespaceIndex, ns)) {
      if (!SpecString(*p, "nodeName").empty()) continue;
      const JsonValue* vols = Path(*p, {"spec", "volumes"});
      if (!vols || !vols->IsArray()) continue;
      for (const auto& v : vols->GetArray()) {
        std::string claim_name;
        if (const JsonValue* c = Path(v, {"persistentVolumeClaim", "claimName"}); c && c->IsString()) {
          claim_name = c->GetString();
        } else if (Member(v, "ephemeral")) {
          claim_name = std::string(Name(*p)) + "-" + std::string(Str(v, "name"));
        }
        if (claim_name == name) {
          out.emplace_back(Name(*p));
          break;
        }
      }
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  void SetClaimPending(const JsonValue& claim, Done done) {
    UpdateClaimStatus(claim, "Pending", nullptr, [done](StatusOr<JsonDoc> r) { done(r.ok() ? Status::OK() : r.error()); });
  }

  void SyncUnboundClaim(const client::ObjectPtr& claim, Done done) {
    std::string vol_name(SpecString(*claim, "volumeName"));
    if (!vol_name.empty()) return SyncPreboundClaim(claim, vol_name, std::move(done));
    bool delay = IsDelayBinding(*claim);
    if (client::ObjectPtr volume = FindBestMatch(*claim, delay)) return Bind(*volume, *claim, std::move(done));
    // Retroactive default StorageClass assignment.
    const JsonValue* scn = Path(*claim, {"spec", "storageClassName"});
    if ((!scn || scn->IsNull()) && !Annotation(*claim, kAnnBetaStorageClass)) {
      std::vector<const JsonValue*> classes;
      auto all = classes_.List();
      for (const auto& c : all) classes.push_back(c.get());
      if (const JsonValue* def = DefaultClass(classes)) {
        JsonDoc doc = Copy(*claim);
        auto& a = doc.GetAllocator();
        SetString(EnsureObject(doc, "spec", a), "storageClassName", Name(*def), a);
        ctx_.client.Update(kPersistentVolumeClaims, std::string(Namespace(*claim)), doc, "",
                           [done](StatusOr<JsonDoc> r) { done(r.ok() ? Status::OK() : r.error()); });
        return;
      }
    }
    std::string cls = ClaimClass(*claim);
    if (delay && !Annotation(*claim, kAnnSelectedNode)) {
      std::string reason = "WaitForFirstConsumer";
      std::string message = "waiting for first consumer to be created before binding";
      auto pods = UnscheduledPodsUsing(*claim);
      if (!pods.empty()) {
        reason = "WaitForPodScheduled";
        std::string joined;
        for (const auto& p : pods) joined += (joined.empty() ? "" : ",") + p;
        message = pods.size() > 1 ? "waiting for pods " + joined + " to be scheduled"
                                  : "waiting for pod " + joined + " to be scheduled";
      }
      Event(*claim, kEventTypeNormal, reason, message);
      return SetClaimPending(*claim, std::move(done));
    }
    if (!cls.empty()) return ProvisionClaim(claim, cls, std::move(done));
    Event(*claim, kEventTypeNormal, "FailedBinding", "no persistent volumes available for this claim and no storage class is set");
    SetClaimPending(*claim, std::move(done));
  }

  void ProvisionClaim(const client::ObjectPtr& claim, const std::string& cls, Done done) {
    client::ObjectPtr sc = classes_.Get(cls);
    if (!sc) {
      Event(*claim, kEventTypeWarning, "ProvisioningFailed", "storageclass.storage.k8s.io \"" + cls + "\" not found");
      return done(Status::OK());
    }
    std::string provisioner(Str(*sc, "provisioner"));
    if (provisioner.rfind("kubernetes.io/", 0) == 0) {
      // No in-tree volume plugin provisions in minik.
      Event(*claim, kEventTypeWarning, "ProvisioningFailed", "no volume plugin matched name: " + provisioner);
      return done(Status::OK());
    }
    auto announce = [this, provisioner, done](StatusOr<JsonDoc> r) {
      if (!r.ok()) return done(r.error());
      Event(*r, kEventTypeNormal, "ExternalProvisioning",
            std::string(kExternalProvisioningFmt1) + provisioner + kExternalProvisioningFmt2);
      done(Status::OK());
    };
    auto current = Annotation(*claim, kAnnStorageProvisioner);
    if (current && *current == provisioner) return announce(Copy(*claim));
    JsonDoc doc = Copy(*claim);
    SetAnnotation(doc, kAnnBetaStorageProvisioner, provisioner);
    SetAnnotation(doc, kAnnStorageProvisioner, provisioner);
    ctx_.client.Update(kPersistentVolumeClaims, std::string(Namespace(*claim)), doc, "",
                       [this, announce, claim](StatusOr<JsonDoc> r) {
                         if (!r.ok()) {
                           Event(*claim, kEventTypeWarning, "ProvisioningFailed", "Error saving claim: " + r.error().message());
                         }
                         announce(std::move(r));
                       });
  }

  void SyncPreboundClaim(const client::ObjectPtr& claim, const std::string& vol_name, Done done) {
    client::ObjectPtr volume = volumes_.Get(vol_name);
    if (!volume) return SetClaimPending(*claim, std::move(done));
    if (!ClaimRef(*volume)) {
      std::string why = CheckVolumeSatisfyClaim(*volume, *claim);
      if (!why.empty()) {
        Event(*claim, kEventTypeWarning, "VolumeMismatch", "Cannot bind to requested volume \"" + vol_name + "\": " + why);
        return SetClaimPending(*claim, std::move(done));
      }
      return Bind(*volume, *claim, std::move(done));
    }
    if (IsVolumeBoundToClaim(*volume, *claim)) return Bind(*volume, *claim, std::move(done));
    if (!Annotation(*claim, kAnnBoundByController)) return SetClaimPending(*claim, std::move(done));
    done(Status::Internal("invalid binding of claim \"" + client::ObjectKey(*claim) + "\" to volume \"" + vol_name +
                          "\": volume already claimed by \"" + ClaimKey(*ClaimRef(*volume)) + "\""));
  }

  // ---- volumes ----------------------------------------------------------------------------------
  void SyncVolume(const client::ObjectPtr& volume, Done done) {
    const JsonValue* ref = ClaimRef(*volume);
    if (!ref) {
      return UpdateVolumePhase(*volume, "Available", "", [done](StatusOr<JsonDoc> r) { done(r.ok() ? Status::OK() : r.error()); });
    }
    if (Str(*ref, "uid").empty()) {
      // Pre-bound by the user to a claim: the claim's sync finishes the binding.
      return UpdateVolumePhase(*volume, "Available", "", [done](StatusOr<JsonDoc> r) { done(r.ok() ? Status::OK() : r.error()); });
    }
    std::string claim_key = ClaimKey(*ref);
    client::ObjectPtr claim = claims_.Get(claim_key);
    bool mismatch = claim && Uid(*claim) != Str(*ref, "uid");
    std::string_view phase = Phase(*volume);
    if ((!claim || mismatch) && phase != "Released" && phase != "Failed") {
      // The cache may lag behind a provisioner or the scheduler: ask the API before releasing.
      std::string ns(Str(*ref, "namespace"));
      std::string name(Str(*ref, "name"));
      ctx_.client.Get(kPersistentVolumeClaims, ns, name, [this, volume, done](StatusOr<JsonDoc> r) {
        if (!r.ok() && r.error().code() != Code::kNotFound) return done(r.error());
        client::ObjectPtr fresh;
        if (r.ok()) fresh = std::make_shared<const JsonDoc>(std::move(*r));
        SyncVolumeWithClaim(volume, fresh, done);
      });
      return;
    }
    SyncVolumeWithClaim(volume, mismatch ? nullptr : claim, std::move(done));
  }

  void SyncVolumeWithClaim(const client::ObjectPtr& volume, client::ObjectPtr claim, Done done) {
    const JsonValue* ref = ClaimRef(*volume);
    if (claim && Uid(*claim) != Str(*ref, "uid")) claim = nullptr;
    auto to_status = [done](StatusOr<JsonDoc> r) { done(r.ok() ? Status::OK() : r.error()); };
    if (!claim) {
      std::string_view phase = Phase(*volume);
      if (phase != "Released" && phase != "Failed") {
        return UpdateVolumePhase(*volume, "Released", "", [this, done](StatusOr<JsonDoc> r) {
          if (!r.ok()) return done(r.error());
          ReclaimVolume(*r, done);
        });
      }
      return ReclaimVolume(*volume, std::move(done));
    }
    std::string_view claim_vol = SpecString(*claim, "volumeName");
    if (claim_vol.empty()) {
      // The claim's sync finishes the binding.
      Enqueue(client::ObjectKey(*claim));
      return done(Status::OK());
    }
    if (claim_vol == Name(*volume)) return UpdateVolumePhase(*volume, "Bound", "", to_status);
    // The claim is bound to another volume.
    if (Annotation(*volume, kAnnDynamicallyProvisioned) &&
        SpecString(*volume, "persistentVolumeReclaimPolicy") == "Delete") {
      std::string_view phase = Phase(*volume);
      if (phase != "Released" && phase != "Failed") {
        return UpdateVolumePhase(*volume, "Released", "", [this, done](StatusOr<JsonDoc> r) {
          if (!r.ok()) return done(r.error());
          ReclaimVolume(*r, done);
        });
      }
      return ReclaimVolume(*volume, std::move(done));
    }
    if (Annotation(*volume, kAnnBoundByController)) {
      // Unbind: the controller bound it, so the controller releases it back to the pool.
      JsonDoc doc = Copy(*volume);
      RemoveMember(EnsureObject(doc, "spec", doc.GetAllocator()), "claimRef");
      if (JsonValue* ann = MutableMember(EnsureObject(doc, "metadata", doc.GetAllocator()), "annotations")) {
        RemoveMember(*ann, kAnnBoundByController);
        if (ann->ObjectEmpty()) RemoveMember(*MutableMember(doc, "metadata"), "annotations");
      }
      ctx_.client.Update(kPersistentVolumes, "", doc, "", [this, to_status](StatusOr<JsonDoc> r) {
        if (!r.ok()) return to_status(std::move(r));
        UpdateVolumePhase(*r, "Available", "", to_status);
      });
      return;
    }
    // Pre-bound by the user to a claim bound elsewhere: wait for the claim.
    done(Status::OK());
  }

  void ReclaimVolume(const JsonValue& volume, Done done) {
    std::string_view policy = SpecString(volume, "persistentVolumeReclaimPolicy");
    auto to_status = [done](StatusOr<JsonDoc> r) { done(r.ok() ? Status::OK() : r.error()); };
    if (policy == "Retain" || policy.empty()) return done(Status::OK());
    if (policy == "Recycle") {
      return UpdateVolumePhaseWithEvent(volume, "Failed", kEventTypeWarning, "VolumeFailedRecycle",
                                        "No recycler plugin found for the volume!", to_status);
    }
    if (policy == "Delete") {
      auto by = Annotation(volume, kAnnDynamicallyProvisioned);
      if (by && !by->empty() && by->rfind("kubernetes.io/", 0) != 0) return done(Status::OK());  // external deleter
      return UpdateVolumePhaseWithEvent(
          volume, "Failed", kEventTypeWarning, "VolumeFailedDelete",
          "error getting deleter volume plugin for volume \"" + std::string(Name(volume)) +
              "\": no deletable volume plugin matched",
          to_status);
    }
    done(Status::OK());
  }

  client::Informer& volumes_;
  client::Informer& claims_;
  client::Informer& classes_;
  client::Informer& pods_;
  client::Informer& nodes_;
};

}  // namespace

ControllerPtr NewPersistentVolumeBinderController(Context ctx) { return std::make_unique<PersistentVolumeBinder>(ctx); }

}  // namespace minik::controllers
