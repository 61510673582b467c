#include "server/controllers/local_path_provisioner.h"

#include <memory>
#include <set>

#include "common/log.h"
#include "server/controllers/persistent_volume_binder.h"
#include "server/controllers/util.h"

namespace minik::controllers {
namespace {

using namespace storage;

constexpr char kAnnLocalPathSelectedNode[] = "local.path.provisioner/selected-node";

std::string_view Str(const JsonValue& obj, std::string_view name) { return GetString(obj, name).value_or(""); }

std::string_view SpecString(const JsonValue& obj, std::string_view field) {
  const JsonValue* s = Member(obj, "spec");
  return s ? Str(*s, field) : "";
}

class LocalPathProvisioner final : public Controller {
 public:
  LocalPathProvisioner(Context ctx, LocalPathOptions options)
      : Controller(ctx, "local-path-provisioner"),
        options_(std::move(options)),
        claims_(ctx.informers.For(kPersistentVolumeClaims)),
        volumes_(ctx.informers.For(kPersistentVolumes)),
        classes_(ctx.informers.For(kStorageClasses)),
        nodes_(ctx.informers.For(kNodes)) {
    client::EventHandlers ch;
    ch.on_add = [this](const client::ObjectPtr& o) { EnqueueObject(o); };
    ch.on_update = [this](const client::ObjectPtr&, const client::ObjectPtr& o) { EnqueueObject(o); };
    claims_.AddEventHandler(ch);
    client::EventHandlers vh;
    vh.on_add = [this](const client::ObjectPtr& o) { EnqueueObject(o); };
    vh.on_update = [this](const client::ObjectPtr&, const client::ObjectPtr& o) { EnqueueObject(o); };
    volumes_.AddEventHandler(vh);
    client::EventHandlers sh;
    sh.on_add = [this](const client::ObjectPtr&) {
      for (const auto& c : claims_.List()) {
        if (SpecString(*c, "volumeName").empty()) EnqueueObject(c);
      }
    };
    classes_.AddEventHandler(sh);
  }

  void Reconcile(const std::string& key, Done done) override {
    if (key.find('/') != std::string::npos) {
      client::ObjectPtr claim = claims_.Get(key);
      if (!claim) return done(Status::OK());
      return SyncClaim(*claim, std::move(done));
    }
    client::ObjectPtr volume = volumes_.Get(key);
    if (!volume) return done(Status::OK());
    SyncVolume(*volume, std::move(done));
  }

 private:
  void Event(const JsonValue& obj, std::string_view type, std::string_view reason, std::string_view message) {
    ctx_.events.EventFrom(kLocalPathProvisioner, obj, type, reason, message);
  }

  // The library's shouldProvision: unbound, asked of this provisioner, and (WaitForFirstConsumer)
  // with a selected node.
  void SyncClaim(const JsonValue& claim, Done done) {
    if (!SpecString(claim, "volumeName").empty() || IsBeingDeleted(claim)) return done(Status::OK());
    auto asked = Annotation(claim, kAnnStorageProvisioner);
    if (!asked) asked = Annotation(claim, kAnnBetaStorageProvisioner);
    if (!asked || *asked != kLocalPathProvisioner) return done(Status::OK());
    std::string cls = ClaimClass(claim);
    client::ObjectPtr sc = classes_.Get(cls);
    if (!sc) return done(Status::NotFound("storageclass.storage.k8s.io \"" + cls + "\" not found"));
    if (Str(*sc, "provisioner") != kLocalPathProvisioner) return done(Status::OK());
    std::string node;
    if (auto n = Annotation(claim, kAnnSelectedNode)) node = std::string(*n);
    if (Str(*sc, "volumeBindingMode") == "WaitForFirstConsumer" && node.empty()) return done(Status::OK());
    std::string pv_name = "pvc-" + std::string(Uid(claim));
    if (volumes_.Get(pv_name) || in_flight_.count(pv_name)) return done(Status::OK());

    std::string claim_key = client::ObjectKey(claim);
    Event(claim, kEventTypeNormal, "Provisioning",
          "External provisioner is provisioning volume for claim \"" + claim_key + "\"");
    std::string error;
    if (Path(claim, {"spec", "selector"})) error = "claim.Spec.Selector is not supported";
    else if (node.empty()) error = "configuration error, no node was specified";
    if (!error.empty()) {
      Event(claim, kEventTypeWarning, "ProvisioningFailed",
            "failed to provision volume with StorageClass \"" + cls + "\": " + error);
      return done(Status::OK());
    }
    JsonDoc pv = MakeVolume(claim, *sc, pv_name, node);
    in_flight_.insert(pv_name);
    auto claim_copy = std::make_shared<JsonDoc>();
    claim_copy->CopyFrom(claim, claim_copy->GetAllocator());
    ctx_.client.Create(kPersistentVolumes, "", pv, [this, claim_copy, pv_name, cls, done](StatusOr<JsonDoc> r) {
      in_flight_.erase(pv_name);
      if (!r.ok() && r.error().code() != Code::kAlreadyExists) {
        Event(*claim_copy, kEventTypeWarning, "ProvisioningFailed",
              "failed to provision volume with StorageClass \"" + cls + "\": " + r.error().message());
        return done(r.error());
      }
      if (r.ok()) Event(*claim_copy, kEventTypeNormal, "ProvisioningSucceeded", "Successfully provisioned volume " + pv_name);
      done(Status::OK());
    });
  }

  JsonDoc MakeVolume(const JsonValue& claim, const JsonValue& sc, const std::string& pv_name, const std::string& node) {
    JsonDoc pv;
    pv.SetObject();
    auto& a = pv.GetAllocator();
    pv.AddMember("apiVersion", "v1", a);
    pv.AddMember("kind", "PersistentVolume", a);
    JsonValue meta(rapidjson::kObjectType);
    meta.AddMember("name", MakeString(pv_name, a), a);
    JsonValue ann(rapidjson::kObjectType);
    ann.AddMember(MakeString(kAnnLocalPathSelectedNode, a), MakeString(node, a), a);
    ann.AddMember(MakeString(kAnnDynamicallyProvisioned, a), MakeString(kLocalPathProvisioner, a), a);
    meta.AddMember("annotations", ann, a);
    pv.AddMember("metadata", meta, a);

    JsonValue spec(rapidjson::kObjectType);
    JsonValue capacity(rapidjson::kObjectType);
    if (const JsonValue* s = Path(claim, {"spec", "resources", "requests", "storage"})) {
      capacity.AddMember("storage", Clone(*s, a), a);
    }
    spec.AddMember("capacity", capacity, a);
    std::string dir = options_.base_dir;
    if (!dir.empty() && dir.back() == '/') dir.pop_back();
    dir += "/" + pv_name + "_" + std::string(Namespace(claim)) + "_" + std::string(Name(claim));
    JsonValue host(rapidjson::kObjectType);
    host.AddMember("path", MakeString(dir, a), a);
    host.AddMember("type", "DirectoryOrCreate", a);
    spec.AddMember("hostPath", host, a);
    if (const JsonValue* m = Path(claim, {"spec", "accessModes"})) spec.AddMember("accessModes", Clone(*m, a), a);
    spec.AddMember("claimRef", ClaimReference(claim, a), a);
    std::string policy(Str(sc, "reclaimPolicy"));
    spec.AddMember("persistentVolumeReclaimPolicy", MakeString(policy.empty() ? "Delete" : policy, a), a);
    spec.AddMember("storageClassName", MakeString(Name(sc), a), a);
    if (const JsonValue* mo = Member(sc, "mountOptions"); mo && mo->IsArray() && !mo->Empty()) {
      spec.AddMember("mountOptions", Clone(*mo, a), a);
    }
    std::string mode(SpecString(claim, "volumeMode"));
    spec.AddMember("volumeMode", MakeString(mode.empty() ? "Filesystem" : mode, a), a);
    // The node's hostname label (its name when it has none).
    std::string hostname = node;
    if (client::ObjectPtr n = nodes_.Get(node)) {
      if (const JsonValue* l = Path(*n, {"metadata", "labels", "kubernetes.io/hostname"}); l && l->IsString()) {
        hostname = l->GetString();
      }
    }
    JsonValue values(rapidjson::kArrayType);
    values.PushBack(MakeString(hostname, a), a);
    JsonValue expr(rapidjson::kObjectType);
    expr.AddMember("key", "kubernetes.io/hostname", a);
    expr.AddMember("operator", "In", a);
    expr.AddMember("values", values, a);
    JsonValue exprs(rapidjson::kArrayType);
    exprs.PushBack(expr, a);
    JsonValue term(rapidjson::kObjectType);
    term.AddMember("matchExpressions", exprs, a);
    JsonValue terms(rapidjson::kArrayType);
    terms.PushBack(term, a);
    JsonValue required(rapidjson::kObjectType);
    required.AddMember("nodeSelectorTerms", terms, a);
    JsonValue affinity(rapidjson::kObjectType);
    affinity.AddMember("required", required, a);
    spec.AddMember("nodeAffinity", affinity, a);
    pv.AddMember("spec", spec, a);
    return pv;
  }

  // The library's shouldDelete: Released, reclaim Delete, provisioned by us, not being deleted.
  void SyncVolume(const JsonValue& pv, Done done) {
    if (IsBeingDeleted(pv)) return done(Status::OK());
    const JsonValue* status = Member(pv, "status");
    if (!status || Str(*status, "phase") != "Released") return done(Status::OK());
    if (SpecString(pv, "persistentVolumeReclaimPolicy") != "Delete") return done(Status::OK());
    auto by = Annotation(pv, kAnnDynamicallyProvisioned);
    if (!by || *by != kLocalPathProvisioner) return done(Status::OK());
    // The directory on the node is removed by the node's agent (not yet: see the header).
    client::DeleteOptions opts;
    opts.precondition_uid = std::string(Uid(pv));
    ctx_.client.Delete(kPersistentVolumes, "", std::string(Name(pv)), opts, [done](StatusOr<JsonDoc> r) {
      if (!r.ok() && r.error().code() != Code::kNotFound) return done(r.error());
      done(Status::OK());
    });
  }

  LocalPathOptions options_;
  client::Informer& claims_;
  client::Informer& volumes_;
  client::Informer& classes_;
  client::Informer& nodes_;
  std::set<std::string> in_flight_;
};

}  // namespace

ControllerPtr NewLocalPathProvisionerController(Context ctx, LocalPathOptions options) {
  return std::make_unique<LocalPathProvisioner>(ctx, std::move(options));
}

}  // namespace minik::controllers
