#include "agent/hollow_nodes.h"

#include <algorithm>

#include "common/clock.h"
#include "api/quantity.h"
#include "common/log.h"

namespace minik::agent {
namespace {

const client::ResourceRef kNodes{"", "v1", "nodes"};
const client::ResourceRef kPods{"", "v1", "pods"};
const client::ResourceRef kLeases{"coordination.k8s.io", "v1", "leases"};
constexpr char kLeaseNamespace[] = "kube-node-lease";

std::string NodeIp(size_t i) {
  size_t n = i + 1;
  return "100." + std::to_string(64 + n / 65536) + "." + std::to_string((n / 256) % 256) + "." + std::to_string(n % 256);
}

// A pod condition.
void AddCondition(JsonValue& conds, const char* type, const char* status, const std::string& ts, const char* reason,
                  const char* message, JsonAlloc& a) {
  JsonValue c(rapidjson::kObjectType);
  SetString(c, "type", type, a);
  SetString(c, "status", status, a);
  c.AddMember("lastProbeTime", JsonValue(rapidjson::kNullType), a);
  SetString(c, "lastTransitionTime", ts, a);
  if (*reason) SetString(c, "reason", reason, a);
  if (*message) SetString(c, "message", message, a);
  conds.PushBack(c, a);
}

bool IsBeingDeleted(const JsonValue& pod) {
  const JsonValue* ts = Path(pod, {"metadata", "deletionTimestamp"});
  return ts && ts->IsString();
}

std::string_view Phase(const JsonValue& pod) {
  const JsonValue* p = Path(pod, {"status", "phase"});
  return p && p->IsString() ? std::string_view(p->GetString(), p->GetStringLength()) : std::string_view();
}

}  // namespace

HollowNodes::HollowNodes(client::ApiClient& client, client::Timers& timers, HollowOptions options)
    : client_(client), timers_(timers), options_(std::move(options)), alive_(std::make_shared<bool>(true)) {
  for (int i = 0; i < options_.count; ++i) {
    std::string name = options_.exact_name && options_.count == 1 ? options_.name_prefix
                                                                  : options_.name_prefix + "-" + std::to_string(i);
    names_.push_back(name);
    index_[name] = static_cast<size_t>(i);
    NodeState st;
    st.name = name;
    st.ip = NodeIp(static_cast<size_t>(i));
    nodes_.push_back(std::move(st));
  }
}

HollowNodes::~HollowNodes() {
  *alive_ = false;
  Stop();
}

size_t HollowNodes::registered() const {
  size_t n = 0;
  for (const auto& s : nodes_) n += s.registration && s.registration->registered() ? 1 : 0;
  return n;
}

int64_t HollowNodes::renewals() const {
  int64_t n = 0;
  for (const auto& s : nodes_) n += s.registration ? s.registration->renewals() : 0;
  return n;
}

JsonDoc HollowNodes::NodeObject(size_t i) {
  NodeState& n = nodes_[i];
  if (!n.status) {
    kubelet::NodeOptions no;
    no.name = n.name;
    no.ip = n.ip;
    no.labels = {"type=hollow"};
    no.labels.insert(no.labels.end(), options_.labels.begin(), options_.labels.end());
    no.taints = options_.taints;
    no.runtime_version = "hollow://1.0.0";
    no.instance_type = "hollow";
    no.max_pods = std::atoll(options_.pods.c_str());
    no.eviction_memory_bytes = 0;  // allocatable = capacity
    no.eviction_disk_fraction = 0;
    n.status = std::make_unique<kubelet::NodeStatus>(timers_.clock(), no);
  }
  auto bytes = [](const std::string& q) {
    auto v = api::ParseQuantity(q);
    return v.ok() ? v->Value().value_or(0) : int64_t{0};
  };
  kubelet::MachineFacts f;
  f.cpus = bytes(options_.cpu);
  f.memory_bytes = bytes(options_.memory);
  f.disk_bytes = bytes(options_.ephemeral_storage);
  f.machine_id = "hollow";
  f.system_uuid = "hollow-" + n.name;
  f.boot_id = "hollow";
  f.kernel_version = "hollow";
  f.os_image = "minik hollow node";
  return n.status->Build(f, {});
}

void HollowNodes::Start() {
  if (running_) return;
  running_ = true;
  client::InformerOptions io;
  io.field_selector = nodes_.size() == 1 ? "spec.nodeName=" + nodes_[0].name : "spec.nodeName!=";
  io.builtin_indexes = false;
  pods_ = std::make_unique<client::Informer>(client_, timers_, kPods, io);
  queue_ = std::make_unique<client::WorkQueue>(timers_);
  client::EventHandlers h;
  auto enqueue = [this](const client::ObjectPtr& o) {
    const JsonValue* node = Path(*o, {"spec", "nodeName"});
    if (node && node->IsString() && index_.count(node->GetString())) queue_->Add(client::ObjectKey(*o));
  };
  h.on_add = enqueue;
  h.on_update = [enqueue](const client::ObjectPtr&, const client::ObjectPtr& o) { enqueue(o); };
  h.on_delete = [this](const client::ObjectPtr& o, bool) {
    completions_.erase(client::ObjectKey(*o));
    pod_ips_.erase(std::string(client::MetaString(*o, "uid")));
  };
  pods_->AddEventHandler(h);
  queue_->Start(options_.pod_workers, [this](const std::string& key) { SyncPod(key); });
  for (size_t i = 0; i < nodes_.size(); ++i) {
    NodeRegistrationOptions ro;
    ro.lease_duration_seconds = options_.lease_duration_seconds;
    ro.lease_renew_ms = options_.lease_renew_ms;
    ro.status_report_ms = options_.status_report_ms;
    // Spread the nodes' status reports over the period.
    ro.first_status_delay_ms =
        options_.status_report_ms + options_.status_report_ms * static_cast<int64_t>(i) / static_cast<int64_t>(nodes_.size());
    nodes_[i].registration = std::make_unique<NodeRegistration>(
        client_, timers_, nodes_[i].name, [this, i]() { return NodeObject(i); }, ro);
    nodes_[i].registration->Start([this]() {
      if (registered() == nodes_.size()) MINIK_LOG(Info) << "registered " << nodes_.size() << " hollow node(s)";
    });
  }
  pods_->Run();
}

void HollowNodes::Stop() {
  if (!running_) return;
  running_ = false;
  if (queue_) queue_->ShutDown();
  if (pods_) pods_->Stop();
  for (auto& n : nodes_) {
    if (n.registration) n.registration->Stop();
  }
  completions_.clear();
}

std::string HollowNodes::PodIp(const std::string& uid) {
  auto it = pod_ips_.find(uid);
  if (it != pod_ips_.end()) return it->second;
  uint32_t n = 2 + (next_ip_++ % 65000);
  std::string ip = "10.42." + std::to_string(n / 256) + "." + std::to_string(n % 256);
  pod_ips_[uid] = ip;
  return ip;
}

void HollowNodes::SyncPod(const std::string& key) {
  std::weak_ptr<bool> alive = alive_;
  auto done = [this, alive, key](Status st) {
    if (alive.expired() || !queue_) return;
    if (st.ok() || st.IsNotFound()) queue_->Forget(key);
    else if (st.IsConflict()) queue_->Add(key);
    else queue_->AddRateLimited(key);
    queue_->Done(key);
  };
  client::ObjectPtr pod = pods_->Get(key);
  if (!pod) return done(Status::OK());
  std::string ns, name;
  client::SplitKey(key, &ns, &name);
  std::string uid(client::MetaString(*pod, "uid"));
  ++pod_writes_;
  if (IsBeingDeleted(*pod)) {
    // The containers "stopped": finish the graceful deletion.
    client::DeleteOptions del;
    del.grace_period_seconds = 0;
    del.precondition_uid = uid;
    client_.Delete(kPods, ns, name, del, [done](StatusOr<JsonDoc> r) { done(r.ok() ? Status::OK() : r.error()); });
    return;
  }
  std::string_view phase = Phase(*pod);
  std::string restart(GetString(*Path(*pod, {"spec"}), "restartPolicy").value_or("Always"));
  TimePoint now = timers_.clock().Now();
  std::string ts = FormatRFC3339(now);
  const JsonValue* node = Path(*pod, {"spec", "nodeName"});
  std::string node_name = node && node->IsString() ? node->GetString() : "";
  auto node_it = index_.find(node_name);
  std::string host_ip = node_it == index_.end() ? "" : nodes_[node_it->second].ip;

  if (phase == "Succeeded" || phase == "Failed") {
    --pod_writes_;
    return done(Status::OK());
  }
  if (phase == "Running") {
    --pod_writes_;
    if (restart != "Always" && !completions_.count(key)) {
      // Run to completion: succeed run_seconds after the start.
      int64_t delay_ms = options_.run_seconds * 1000;
      TimePoint started;
      if (const JsonValue* st = Path(*pod, {"status", "startTime"}); st && st->IsString() && ParseRFC3339(st->GetString(), &started)) {
        delay_ms -= std::chrono::duration_cast<std::chrono::milliseconds>(now - started).count();
      }
      completions_[key] = timers_.After(static_cast<uint64_t>(std::max<int64_t>(0, delay_ms)), [this, key]() {
        auto node = completions_.extract(key);
        auto p = pods_ ? pods_->Get(key) : nullptr;
        if (!p || IsBeingDeleted(*p) || Phase(*p) != "Running") return;
        std::string ns2, name2;
        client::SplitKey(key, &ns2, &name2);
        std::string t = FormatRFC3339(timers_.clock().Now());
        std::string started_at(GetString(*Path(*p, {"status"}), "startTime").value_or(t));
        JsonDoc patch(rapidjson::kObjectType);
        auto& a = patch.GetAllocator();
        JsonValue status(rapidjson::kObjectType);
        SetString(status, "phase", "Succeeded", a);
        JsonValue conds(rapidjson::kArrayType);
        AddCondition(conds, "PodReadyToStartContainers", "False", t, "", "", a);
        AddCondition(conds, "Ready", "False", t, "PodCompleted", "", a);
        AddCondition(conds, "ContainersReady", "False", t, "PodCompleted", "", a);
        status.AddMember("conditions", conds, a);
        JsonValue cs(rapidjson::kArrayType);
        if (const JsonValue* cl = Path(*p, {"spec", "containers"}); cl && cl->IsArray()) {
          for (const auto& c : cl->GetArray()) {
            JsonValue s(rapidjson::kObjectType);
            SetString(s, "name", GetString(c, "name").value_or(""), a);
            JsonValue state(rapidjson::kObjectType);
            JsonValue term(rapidjson::kObjectType);
            term.AddMember("exitCode", 0, a);
            SetString(term, "reason", "Completed", a);
            SetString(term, "startedAt", started_at, a);
            SetString(term, "finishedAt", t, a);
            SetString(term, "containerID", "hollow://" + std::string(client::MetaString(*p, "uid")) + "/" +
                                               std::string(GetString(c, "name").value_or("")), a);
            state.AddMember("terminated", term, a);
            s.AddMember("state", state, a);
            s.AddMember("lastState", JsonValue(rapidjson::kObjectType), a);
            s.AddMember("ready", false, a);
            s.AddMember("restartCount", 0, a);
            SetString(s, "image", GetString(c, "image").value_or(""), a);
            SetString(s, "imageID", "hollow://" + std::string(GetString(c, "image").value_or("")), a);
            SetString(s, "containerID", "hollow://" + std::string(client::MetaString(*p, "uid")) + "/" +
                                            std::string(GetString(c, "name").value_or("")), a);
            s.AddMember("started", false, a);
            cs.PushBack(s, a);
          }
        }
        status.AddMember("containerStatuses", cs, a);
        patch.AddMember("status", status, a);
        ++pod_writes_;
        client_.Patch(kPods, ns2, name2, client::PatchType::kStrategicMerge, ToJson(patch), "status",
                      [](StatusOr<JsonDoc> r) {
                        if (!r.ok() && !r.error().IsNotFound()) MINIK_LOG(Warning) << "pod status: " << r.error().ToString();
                      });
      });
    }
    return done(Status::OK());
  }

  // Pending: "start" it.
  JsonDoc patch(rapidjson::kObjectType);
  auto& a = patch.GetAllocator();
  JsonValue status(rapidjson::kObjectType);
  SetString(status, "phase", "Running", a);
  JsonValue conds(rapidjson::kArrayType);
  AddCondition(conds, "PodReadyToStartContainers", "True", ts, "", "", a);
  AddCondition(conds, "Initialized", "True", ts, "", "", a);
  AddCondition(conds, "Ready", "True", ts, "", "", a);
  AddCondition(conds, "ContainersReady", "True", ts, "", "", a);
  AddCondition(conds, "PodScheduled", "True", ts, "", "", a);
  status.AddMember("conditions", conds, a);
  SetString(status, "hostIP", host_ip, a);
  JsonValue hips(rapidjson::kArrayType);
  JsonValue hip(rapidjson::kObjectType);
  SetString(hip, "ip", host_ip, a);
  hips.PushBack(hip, a);
  status.AddMember("hostIPs", hips, a);
  bool host_network = GetBool(*Path(*pod, {"spec"}), "hostNetwork").value_or(false);
  std::string pod_ip = host_network ? host_ip : PodIp(uid);
  SetString(status, "podIP", pod_ip, a);
  JsonValue pips(rapidjson::kArrayType);
  JsonValue pip(rapidjson::kObjectType);
  SetString(pip, "ip", pod_ip, a);
  pips.PushBack(pip, a);
  status.AddMember("podIPs", pips, a);
  SetString(status, "startTime", ts, a);
  JsonValue cs(rapidjson::kArrayType);
  if (const JsonValue* cl = Path(*pod, {"spec", "containers"}); cl && cl->IsArray()) {
    for (const auto& c : cl->GetArray()) {
      std::string cname(GetString(c, "name").value_or(""));
      std::string image(GetString(c, "image").value_or(""));
      JsonValue s(rapidjson::kObjectType);
      SetString(s, "name", cname, a);
      JsonValue state(rapidjson::kObjectType);
      JsonValue run(rapidjson::kObjectType);
      SetString(run, "startedAt", ts, a);
      state.AddMember("running", run, a);
      s.AddMember("state", state, a);
      s.AddMember("lastState", JsonValue(rapidjson::kObjectType), a);
      s.AddMember("ready", true, a);
      s.AddMember("restartCount", 0, a);
      SetString(s, "image", image, a);
      SetString(s, "imageID", "hollow://" + image, a);
      SetString(s, "containerID", "hollow://" + uid + "/" + cname, a);
      s.AddMember("started", true, a);
      cs.PushBack(s, a);
    }
  }
  status.AddMember("containerStatuses", cs, a);
  patch.AddMember("status", status, a);
  client_.Patch(kPods, ns, name, client::PatchType::kStrategicMerge, ToJson(patch), "status",
                [done](StatusOr<JsonDoc> r) { done(r.ok() ? Status::OK() : r.error()); });
}

}  // namespace minik::agent
