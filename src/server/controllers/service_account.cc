#include "server/controllers/service_account.h"

#include "server/controllers/util.h"

namespace minik::controllers {
namespace {

using client::ObjectPtr;

constexpr char kDefaultServiceAccount[] = "default";

bool IsTerminatingForbidden(const Status& st) {
  if (st.code() != Code::kForbidden) return false;
  if (const StatusDetails* d = st.details()) {
    for (const auto& c : d->causes) {
      if (c.reason == "NamespaceTerminating") return true;
    }
  }
  return st.message().find("because it is being terminated") != std::string::npos;
}

class ServiceAccountController final : public Controller {
 public:
  explicit ServiceAccountController(Context ctx)
      : Controller(ctx, "serviceaccount", 1),
        namespaces_(ctx.informers.For(kNamespaces)),
        accounts_(ctx.informers.For(kServiceAccounts)) {
    client::EventHandlers nh;
    nh.on_add = [this](const ObjectPtr& o) { Enqueue(std::string(Name(*o))); };
    nh.on_update = [this](const ObjectPtr&, const ObjectPtr& o) { Enqueue(std::string(Name(*o))); };
    namespaces_.AddEventHandler(std::move(nh));
    client::EventHandlers sh;
    sh.on_delete = [this](const ObjectPtr& o, bool) { Enqueue(std::string(Namespace(*o))); };
    accounts_.AddEventHandler(std::move(sh));
  }

  // key: a namespace name.
  void Reconcile(const std::string& key, Done done) override {
    ObjectPtr ns = namespaces_.Get(key);
    if (!ns) return done(Status::OK());
    const JsonValue* phase = Path(*ns, {"status", "phase"});
    bool active = phase && phase->IsString() && std::string_view(phase->GetString()) == "Active";
    if (!active || IsBeingDeleted(*ns)) return done(Status::OK());
    if (accounts_.Get(key, kDefaultServiceAccount)) return done(Status::OK());
    JsonDoc sa(rapidjson::kObjectType);
    auto& a = sa.GetAllocator();
    SetString(sa, "apiVersion", "v1", a);
    SetString(sa, "kind", "ServiceAccount", a);
    JsonValue md(rapidjson::kObjectType);
    SetString(md, "name", kDefaultServiceAccount, a);
    SetString(md, "namespace", key, a);
    sa.AddMember("metadata", md, a);
    ctx_.client.Create(kServiceAccounts, key, sa, [done](StatusOr<JsonDoc> r) {
      if (r.ok() || r.error().IsAlreadyExists() || IsTerminatingForbidden(r.error())) return done(Status::OK());
      done(Status(r.error().code(), "failed to create some service accounts: " + r.error().message()));
    });
  }

 private:
  client::Informer& namespaces_;
  client::Informer& accounts_;
};

}  // namespace

ControllerPtr NewServiceAccountController(Context ctx) { return std::make_unique<ServiceAccountController>(ctx); }

}  // namespace minik::controllers
