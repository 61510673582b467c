#include "agent/node_registration.h"

#include "common/clock.h"
#include "common/log.h"

namespace minik::agent {
namespace {

const client::ResourceRef kNodes{"", "v1", "nodes"};
const client::ResourceRef kLeases{"coordination.k8s.io", "v1", "leases"};
constexpr char kLeaseNamespace[] = "kube-node-lease";

}  // namespace

NodeRegistration::NodeRegistration(client::ApiClient& client, client::Timers& timers, std::string name,
                                   std::function<JsonDoc()> node_object, NodeRegistrationOptions options)
    : client_(client),
      timers_(timers),
      name_(std::move(name)),
      node_object_(std::move(node_object)),
      options_(options),
      alive_(std::make_shared<bool>(true)) {}

NodeRegistration::~NodeRegistration() {
  *alive_ = false;
  Stop();
}

void NodeRegistration::Start(std::function<void()> on_registered) {
  if (running_) return;
  running_ = true;
  on_registered_ = std::move(on_registered);
  Register();
}

void NodeRegistration::Stop() {
  running_ = false;
  lease_timer_.reset();
  status_timer_.reset();
}

void NodeRegistration::Register() {
  std::weak_ptr<bool> alive = alive_;
  JsonDoc node = node_object_();
  client_.Create(kNodes, "", node, [this, alive](StatusOr<JsonDoc> r) {
    if (alive.expired() || !running_) return;
    if (!r.ok() && !r.error().IsAlreadyExists()) {
      MINIK_LOG(Warning) << "registering node " << name_ << ": " << r.error().ToString() << "; retrying";
      lease_timer_ = timers_.After(static_cast<uint64_t>(options_.retry_ms), [this]() { Register(); });
      return;
    }
    // A create may not keep the status, and an existing node needs ours: post it.
    PostStatus(false);
  });
}

void NodeRegistration::ReportStatus() {
  if (!registered_) return;
  PostStatus(false);
}

void NodeRegistration::PostStatus(bool periodic) {
  if (status_in_flight_) {
    status_again_ = true;
    return;
  }
  status_in_flight_ = true;
  std::weak_ptr<bool> alive = alive_;
  JsonDoc node = node_object_();
  JsonDoc patch(rapidjson::kObjectType);
  if (const JsonValue* st = Member(node, "status")) patch.AddMember("status", Clone(*st, patch.GetAllocator()), patch.GetAllocator());
  client_.Patch(kNodes, "", name_, client::PatchType::kStrategicMerge, ToJson(patch), "status",
                [this, alive, periodic](StatusOr<JsonDoc> r) {
                  if (alive.expired() || !running_) return;
                  status_in_flight_ = false;
                  if (!r.ok()) {
                    MINIK_LOG(Warning) << "node status " << name_ << ": " << r.error().ToString();
                    if (!registered_ || r.error().IsNotFound()) {
                      // The Node is gone (deleted by an admin): register it again, as a kubelet does.
                      registered_ = false;
                      lease_timer_ = timers_.After(static_cast<uint64_t>(options_.retry_ms), [this]() { Register(); });
                      return;
                    }
                  } else {
                    ++status_reports_;
                  }
                  if (!registered_) {
                    registered_ = true;
                    RenewLease();
                    int64_t first = options_.first_status_delay_ms >= 0 ? options_.first_status_delay_ms
                                                                         : options_.status_report_ms;
                    status_timer_ = timers_.After(static_cast<uint64_t>(first), [this]() { PostStatus(true); });
                    if (on_registered_) {
                      auto cb = std::move(on_registered_);
                      on_registered_ = nullptr;
                      cb();
                    }
                  } else if (periodic) {
                    status_timer_ = timers_.After(static_cast<uint64_t>(options_.status_report_ms),
                                                  [this]() { PostStatus(true); });
                  }
                  if (status_again_) {
                    status_again_ = false;
                    PostStatus(false);
                  }
                });
}

void NodeRegistration::RenewLease() {
  std::weak_ptr<bool> alive = alive_;
  std::string now = FormatRFC3339Micro(timers_.clock().Now());
  auto next = [this, alive]() {
    if (alive.expired() || !running_) return;
    lease_timer_ = timers_.After(static_cast<uint64_t>(options_.lease_renew_ms), [this]() { RenewLease(); });
  };
  std::string patch = "{\"spec\":{\"holderIdentity\":\"" + name_ + "\",\"renewTime\":\"" + now + "\"}}";
  client_.Patch(kLeases, kLeaseNamespace, name_, client::PatchType::kMerge, patch, "",
                [this, alive, now, next](StatusOr<JsonDoc> r) {
                  if (alive.expired() || !running_) return;
                  if (r.ok()) {
                    ++renewals_;
                    return next();
                  }
                  if (!r.error().IsNotFound()) {
                    MINIK_LOG(Warning) << "renewing lease " << name_ << ": " << r.error().ToString();
                    return next();
                  }
                  JsonDoc lease(rapidjson::kObjectType);
                  auto& a = lease.GetAllocator();
                  SetString(lease, "apiVersion", "coordination.k8s.io/v1", a);
                  SetString(lease, "kind", "Lease", a);
                  JsonValue md(rapidjson::kObjectType);
                  SetString(md, "name", name_, a);
                  SetString(md, "namespace", kLeaseNamespace, a);
                  lease.AddMember("metadata", md, a);
                  JsonValue spec(rapidjson::kObjectType);
                  SetString(spec, "holderIdentity", name_, a);
                  spec.AddMember("leaseDurationSeconds", options_.lease_duration_seconds, a);
                  SetString(spec, "renewTime", now, a);
                  lease.AddMember("spec", spec, a);
                  client_.Create(kLeases, kLeaseNamespace, lease, [this, alive, next](StatusOr<JsonDoc> r2) {
                    if (alive.expired() || !running_) return;
                    if (r2.ok()) ++renewals_;
                    else MINIK_LOG(Warning) << "creating lease " << name_ << ": " << r2.error().ToString();
                    next();
                  });
                });
}

}  // namespace minik::agent
