#include "server/controllers/root_ca_publisher.h"

#include "server/controllers/util.h"

namespace minik::controllers {
namespace {

using client::ObjectPtr;

class RootCaPublisher final : public Controller {
 public:
  RootCaPublisher(Context ctx, std::string ca_pem)
      : Controller(ctx, "root-ca-cert-publisher", 1),
        ca_(std::move(ca_pem)),
        namespaces_(ctx.informers.For(kNamespaces)),
        configmaps_(ctx.informers.For(kConfigMaps)) {
    client::EventHandlers nh;
    nh.on_add = [this](const ObjectPtr& o) { Enqueue(std::string(Name(*o))); };
    nh.on_update = [this](const ObjectPtr&, const ObjectPtr& o) {
      const JsonValue* phase = Path(*o, {"status", "phase"});
      if (phase && phase->IsString() && std::string_view(phase->GetString()) == "Active") {
        Enqueue(std::string(Name(*o)));
      }
    };
    namespaces_.AddEventHandler(std::move(nh));
    client::EventHandlers ch;
    ch.on_update = [this](const ObjectPtr&, const ObjectPtr& o) {
      if (Name(*o) == kRootCaConfigMapName) Enqueue(std::string(Namespace(*o)));
    };
    ch.on_delete = [this](const ObjectPtr& o, bool) {
      if (Name(*o) == kRootCaConfigMapName) Enqueue(std::string(Namespace(*o)));
    };
    configmaps_.AddEventHandler(std::move(ch));
  }

  // key: a namespace name.
  void Reconcile(const std::string& key, Done done) override {
    ObjectPtr ns = namespaces_.Get(key);
    if (!ns) return done(Status::OK());
    const JsonValue* phase = Path(*ns, {"status", "phase"});
    bool terminating = IsBeingDeleted(*ns) ||
                       (phase && phase->IsString() && std::string_view(phase->GetString()) == "Terminating");
    if (terminating) return done(Status::OK());

    JsonDoc data(rapidjson::kObjectType);
    SetString(data, "ca.crt", ca_, data.GetAllocator());
    ObjectPtr cm = configmaps_.Get(key, kRootCaConfigMapName);
    if (!cm) {
      JsonDoc obj(rapidjson::kObjectType);
      auto& a = obj.GetAllocator();
      SetString(obj, "apiVersion", "v1", a);
      SetString(obj, "kind", "ConfigMap", a);
      JsonValue md(rapidjson::kObjectType);
      SetString(md, "name", kRootCaConfigMapName, a);
      SetString(md, "namespace", key, a);
      JsonValue ann(rapidjson::kObjectType);
      SetString(ann, kRootCaDescriptionAnnotation, kRootCaDescription, a);
      md.AddMember("annotations", ann, a);
      obj.AddMember("metadata", md, a);
      obj.AddMember("data", Clone(data, a), a);
      ctx_.client.Create(kConfigMaps, key, obj, [done](StatusOr<JsonDoc> r) {
        // A namespace gone or being terminated: nothing to retry.
        if (r.ok() || r.error().IsNotFound() || r.error().code() == Code::kForbidden) return done(Status::OK());
        done(r.status());
      });
      return;
    }
    const JsonValue* have = Member(*cm, "data");
    bool data_ok = have && JsonEqual(*have, data);
    bool annotation_ok = !Annotation(*cm, kRootCaDescriptionAnnotation).value_or("").empty();
    if (data_ok && annotation_ok) return done(Status::OK());
    JsonDoc obj;
    auto& a = obj.GetAllocator();
    obj.CopyFrom(*cm, a);
    SetMember(obj, "data", Clone(data, a), a);
    JsonValue& ann = EnsureObject(EnsureObject(obj, "metadata", a), "annotations", a);
    if (!annotation_ok) SetString(ann, kRootCaDescriptionAnnotation, kRootCaDescription, a);
    ctx_.client.Update(kConfigMaps, key, obj, "", [done](StatusOr<JsonDoc> r) { done(r.status()); });
  }

 private:
  std::string ca_;
  client::Informer& namespaces_;
  client::Informer& configmaps_;
};

}  // namespace

ControllerPtr NewRootCaPublisherController(Context ctx, std::string ca_pem) {
  return std::make_unique<RootCaPublisher>(ctx, std::move(ca_pem));
}

}  // namespace minik::controllers
