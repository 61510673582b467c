#include "agent/kubelet/kubelet.h"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <random>

#include "common/clock.h"
#include "common/log.h"

namespace minik::agent::kubelet {

std::string ImageWithDefaultTag(const std::string& image) {
  if (image.find('@') != std::string::npos) return image;
  size_t slash = image.rfind('/');
  size_t colon = image.rfind(':');
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) return image;
  return image + ":latest";
}

namespace {

const client::ResourceRef kPods{"", "v1", "pods"};

// Labels the kubelet puts on each container, read back when a new agent adopts it.
constexpr char kLabelPodUid[] = "io.kubernetes.pod.uid";
constexpr char kLabelPodName[] = "io.kubernetes.pod.name";
constexpr char kLabelPodNamespace[] = "io.kubernetes.pod.namespace";
constexpr char kLabelContainerName[] = "io.kubernetes.container.name";
constexpr char kLabelRestartCount[] = "io.kubernetes.container.restartCount";
constexpr char kLabelInit[] = "io.minik.container.init";
constexpr char kMirrorAnnotation[] = "kubernetes.io/config.mirror";
constexpr char kHashAnnotation[] = "kubernetes.io/config.hash";

using State = runtime::ContainerStatus::State;

std::string Str(const JsonValue* v) { return v && v->IsString() ? std::string(v->GetString(), v->GetStringLength()) : ""; }

std::string_view RestartPolicy(const JsonValue& pod) {
  const JsonValue* p = Path(pod, {"spec", "restartPolicy"});
  return p && p->IsString() ? std::string_view(p->GetString(), p->GetStringLength()) : std::string_view("Always");
}

bool BeingDeleted(const JsonValue& pod) {
  const JsonValue* ts = Path(pod, {"metadata", "deletionTimestamp"});
  return ts && ts->IsString();
}

std::string ApiPhase(const JsonValue& pod) { return Str(Path(pod, {"status", "phase"})); }

std::string NsToRfc3339(int64_t ns) {
  if (ns <= 0) return "";
  return FormatRFC3339(TimePoint(std::chrono::duration_cast<TimePoint::duration>(std::chrono::nanoseconds(ns))));
}

// "name_namespace(uid)", the way the kubelet names a pod in messages (format.Pod).
std::string PodDesc(const JsonValue& pod) {
  return std::string(client::MetaString(pod, "name")) + "_" + std::string(client::MetaString(pod, "namespace")) + "(" +
         std::string(client::MetaString(pod, "uid")) + ")";
}

std::string DurationText(int64_t ms) {
  int64_t s = ms / 1000;
  if (s < 60) return std::to_string(s) + "s";
  if (s % 60 == 0) return std::to_string(s / 60) + "m0s";
  return std::to_string(s / 60) + "m" + std::to_string(s % 60) + "s";
}

const JsonValue* ContainerSpecs(const JsonValue& pod, bool init) {
  const JsonValue* v = Path(pod, {"spec", init ? "initContainers" : "containers"});
  return v && v->IsArray() ? v : nullptr;
}

void AddCondition(JsonValue& conds, const JsonValue* old_conds, const char* type, bool ok, const std::string& reason,
                  const std::string& message, const std::string& now, JsonAlloc& a) {
  JsonValue c(rapidjson::kObjectType);
  SetString(c, "type", type, a);
  SetString(c, "status", ok ? "True" : "False", a);
  c.AddMember("lastProbeTime", JsonValue(rapidjson::kNullType), a);
  std::string since = now;
  if (old_conds && old_conds->IsArray()) {
    for (const auto& o : old_conds->GetArray()) {
      if (Str(Member(o, "type")) == type && Str(Member(o, "status")) == (ok ? "True" : "False")) {
        std::string t = Str(Member(o, "lastTransitionTime"));
        if (!t.empty()) since = t;
      }
    }
  }
  SetString(c, "lastTransitionTime", since, a);
  if (!reason.empty()) SetString(c, "reason", reason, a);
  if (!message.empty()) SetString(c, "message", message, a);
  conds.PushBack(c, a);
}

}  // namespace

Kubelet::Kubelet(client::ApiClient& client, client::Timers& timers, runtime::Runtime& runtime, PodHost& host,
                 client::EventRecorder& events, KubeletOptions options)
    : client_(client),
      timers_(timers),
      runtime_(runtime),
      host_(host),
      events_(events),
      options_(std::move(options)),
      alive_(std::make_shared<bool>(true)) {}

Kubelet::~Kubelet() {
  *alive_ = false;
  Stop();
}

int64_t Kubelet::NowMs() const { return timers_.clock().MonotonicMillis(); }

std::string Kubelet::NewContainerId() {
  static thread_local std::mt19937_64 rng(std::random_device{}());
  char buf[65];
  uint64_t parts[4] = {rng(), rng(), rng(), rng() ^ ++id_counter_};
  std::snprintf(buf, sizeof buf, "%016llx%016llx%016llx%016llx", static_cast<unsigned long long>(parts[0]),
                static_cast<unsigned long long>(parts[1]), static_cast<unsigned long long>(parts[2]),
                static_cast<unsigned long long>(parts[3]));
  return buf;
}

std::string Kubelet::LogPath(const Pod& p, const std::string& container, int attempt) const {
  std::string ns, name;
  client::SplitKey(p.key, &ns, &name);
  return options_.logs_dir + "/" + ns + "_" + name + "_" + p.uid + "/" + container + "/" + std::to_string(attempt) + ".log";
}

std::string Kubelet::LogLink(const Pod& p, const std::string& container, const std::string& id) const {
  if (options_.container_links_dir.empty()) return "";
  std::string ns, name;
  client::SplitKey(p.key, &ns, &name);
  // The kubelet's logSymlink: at most 251 characters before ".log".
  std::string base = name + "_" + ns + "_" + container + "-" + id;
  if (base.size() > 251) base.resize(251);
  return options_.container_links_dir + "/" + base + ".log";
}

void Kubelet::Start() {
  if (running_) return;
  running_ = true;
  queue_ = std::make_unique<client::WorkQueue>(timers_);
  runtime_.OnExit([this, alive = std::weak_ptr<bool>(alive_)](const runtime::ContainerStatus& st) {
    if (!alive.expired()) OnExit(st);
  });
  Adopt();
  client::InformerOptions io;
  io.field_selector = "spec.nodeName=" + options_.node_name;
  io.builtin_indexes = false;
  pods_ = std::make_unique<client::Informer>(client_, timers_, kPods, io);
  client::EventHandlers h;
  h.on_add = [this](const client::ObjectPtr& o) { OnPodEvent(o, false); };
  h.on_update = [this](const client::ObjectPtr&, const client::ObjectPtr& o) { OnPodEvent(o, false); };
  h.on_delete = [this](const client::ObjectPtr& o, bool) { OnPodEvent(o, true); };
  pods_->AddEventHandler(h);
  pods_->OnSynced([this, alive = std::weak_ptr<bool>(alive_)]() {
    if (alive.expired()) return;
    // Pods adopted from the runtime but no longer in the API, and leftovers on disk of pods
    // that went away while the agent was down.
    for (auto& [uid, p] : pods_by_uid_) {
      if (!p.obj) {
        p.in_api = false;
        Enqueue(uid);
      }
    }
    for (const std::string& uid : host_.PodsOnDisk()) {
      if (pods_by_uid_.count(uid)) continue;
      Pod& p = pods_by_uid_[uid];
      p.uid = uid;
      p.in_api = false;
      p.sandbox_ready = true;
      Enqueue(uid);
    }
    queue_->Start(options_.workers, [this](const std::string& uid) {
      Sync(uid);
      queue_->Done(uid);
    });
  });
  pods_->Run();
}

void Kubelet::Stop() {
  if (!running_) return;
  running_ = false;
  if (queue_) queue_->ShutDown();
  if (pods_) pods_->Stop();
  for (auto& [uid, p] : pods_by_uid_) p.timer.reset();
}

void Kubelet::Adopt() {
  for (const runtime::ContainerStatus& st : runtime_.List()) {
    auto uid_it = st.labels.find(kLabelPodUid);
    auto name_it = st.labels.find(kLabelContainerName);
    if (uid_it == st.labels.end() || name_it == st.labels.end()) continue;
    Pod& p = pods_by_uid_[uid_it->second];
    p.uid = uid_it->second;
    auto ns_it = st.labels.find(kLabelPodNamespace);
    auto pn_it = st.labels.find(kLabelPodName);
    if (ns_it != st.labels.end() && pn_it != st.labels.end()) p.key = client::ObjectKey(ns_it->second, pn_it->second);
    p.sandbox_ready = true;
    Container& c = p.containers[name_it->second];
    c.name = name_it->second;
    c.init = st.labels.count(kLabelInit) > 0;
    Instance inst;
    inst.id = st.id;
    inst.status = st;
    auto rc = st.labels.find(kLabelRestartCount);
    inst.attempt = rc == st.labels.end() ? 0 : std::atoi(rc->second.c_str());
    uid_by_container_[st.id] = p.uid;
    if (!c.current || c.current->attempt < inst.attempt) {
      if (c.current) c.previous = c.current;
      c.current = inst;
    } else if (!c.previous || c.previous->attempt < inst.attempt) {
      c.previous = inst;
    }
    if (st.state == State::kExited) c.exit_seen_ms = NowMs();
  }
  if (!pods_by_uid_.empty()) MINIK_LOG(Info) << "adopted the containers of " << pods_by_uid_.size() << " pod(s)";
}

void Kubelet::OnPodEvent(const client::ObjectPtr& obj, bool deleted) {
  std::string uid(client::MetaString(*obj, "uid"));
  if (uid.empty()) return;
  if (const JsonValue* m = Path(*obj, {"metadata", "annotations", kMirrorAnnotation}); m && m->IsString()) {
    // A mirror pod: it stands for a static pod, it is not a pod to run.
    std::string key = client::ObjectKey(*obj);
    for (auto& [suid, p] : pods_by_uid_) {
      if (!p.is_static || p.key != key) continue;
      p.mirror = deleted ? nullptr : obj;
      Enqueue(suid);
      return;
    }
    if (!deleted && pods_ && pods_->HasSynced()) {
      // Its static pod is gone: so does the mirror.
      std::string ns, name;
      client::SplitKey(key, &ns, &name);
      client::DeleteOptions del;
      del.grace_period_seconds = 0;
      del.precondition_uid = uid;
      client_.Delete(kPods, ns, name, del, [](StatusOr<JsonDoc>) {});
    }
    return;
  }
  auto it = pods_by_uid_.find(uid);
  if (deleted) {
    if (it == pods_by_uid_.end()) return;
    it->second.in_api = false;
    Enqueue(uid);
    return;
  }
  if (it == pods_by_uid_.end()) {
    // A pod that finished before this agent started is left as the API has it.
    std::string phase = ApiPhase(*obj);
    if (phase == "Succeeded" || phase == "Failed") {
      if (BeingDeleted(*obj)) {
        Pod& p = pods_by_uid_[uid];
        p.uid = uid;
        p.key = client::ObjectKey(*obj);
        p.obj = obj;
        p.torn_down = true;
        Enqueue(uid);
      }
      return;
    }
    it = pods_by_uid_.emplace(uid, Pod{}).first;
    it->second.uid = uid;
  }
  Pod& p = it->second;
  bool changed = p.obj && client::MetaString(*p.obj, "resourceVersion") != client::MetaString(*obj, "resourceVersion");
  p.obj = obj;
  p.key = client::ObjectKey(*obj);
  p.in_api = true;
  if (changed && p.sandbox_ready && !p.torn_down) host_.UpdateVolumes(obj);
  Enqueue(uid);
}

StatusOr<ContainerRef> Kubelet::Locate(const std::string& ns, const std::string& pod, const std::string& uid,
                                       const std::string& container, bool previous) const {
  const Pod* found = nullptr;
  std::string key = client::ObjectKey(ns, pod);
  for (const auto& [u, p] : pods_by_uid_) {
    if ((!uid.empty() && u == uid) || (uid.empty() && p.key == key)) {
      if (!found || (p.in_api && !found->in_api)) found = &p;
    }
  }
  if (!found) return Status::NotFound("pod \"" + pod + "\" not found");
  auto it = found->containers.find(container);
  const Container* c = it == found->containers.end() ? nullptr : &it->second;
  if (previous) {
    // The last terminated instance: the previous one, or the current one if it ended.
    const Instance* inst = nullptr;
    if (c && c->current && c->current->status.state == State::kExited && c->previous) inst = &*c->previous;
    else if (c && c->previous) inst = &*c->previous;
    if (!inst) {
      return Status::BadRequest("previous terminated container \"" + container + "\" in pod \"" + pod + "\" not found");
    }
    ContainerRef r;
    r.id = inst->id;
    r.log_path = inst->status.log_path.empty() ? LogPath(*found, container, inst->attempt) : inst->status.log_path;
    return r;
  }
  if (!c || !c->current) {
    std::string reason = c && !c->waiting_reason.empty() ? c->waiting_reason : "ContainerCreating";
    if (!c && found->obj) {
      const JsonValue* inits = ContainerSpecs(*found->obj, true);
      bool is_app = false;
      if (const JsonValue* apps = ContainerSpecs(*found->obj, false)) {
        for (const auto& spec : apps->GetArray()) is_app |= Str(Member(spec, "name")) == container;
      }
      if (is_app && inits) reason = "PodInitializing";
    }
    return Status::BadRequest("container \"" + container + "\" in pod \"" + pod + "\" is waiting to start: " + reason);
  }
  ContainerRef r;
  r.id = c->current->id;
  r.log_path = c->current->status.log_path.empty() ? LogPath(*found, container, c->current->attempt) : c->current->status.log_path;
  r.running = c->current->status.state != State::kExited;
  return r;
}

void Kubelet::SigKill(const std::string& id) {
  if (!sigkilled_.insert(id).second) return;
  runtime_.Kill(id, SIGKILL, [](Status) {});
}

void Kubelet::OnExit(const runtime::ContainerStatus& st) {
  for (const auto& fn : exit_listeners_) fn(st.id);
  sigkilled_.erase(st.id);
  auto u = uid_by_container_.find(st.id);
  if (u == uid_by_container_.end()) return;
  auto pit = pods_by_uid_.find(u->second);
  if (pit == pods_by_uid_.end()) return;
  for (auto& [name, c] : pit->second.containers) {
    if (c.current && c.current->id == st.id) {
      // A new runtime reports exits recorded while no agent ran; a repeat changes nothing.
      if (c.current->status.state == State::kExited && c.exit_seen_ms >= 0) continue;
      c.current->status = st;
      c.stopping = false;
      c.ready = false;
      c.started = false;
      c.exit_seen_ms = NowMs();
      c.kill_timer.reset();
      c.liveness_timer.reset();
      c.readiness_timer.reset();
      c.startup_timer.reset();
    }
  }
  Enqueue(u->second);
}

void Kubelet::ObjectChanged(const std::string& ns) {
  for (auto& [uid, p] : pods_by_uid_) {
    if (!p.obj || client::MetaString(*p.obj, "namespace") != ns) continue;
    if (p.sandbox_ready && !p.torn_down) host_.UpdateVolumes(p.obj);
    bool waiting = !p.sandbox_ready;
    for (auto& [name, c] : p.containers) {
      if (c.waiting_reason == "CreateContainerConfigError") {
        c.retry_at_ms = 0;
        waiting = true;
      }
    }
    if (waiting) Enqueue(uid);
  }
}

void Kubelet::SetStaticPods(const std::vector<client::ObjectPtr>& pods) {
  std::set<std::string> present;
  for (const auto& obj : pods) {
    std::string uid(client::MetaString(*obj, "uid"));
    present.insert(uid);
    auto it = pods_by_uid_.find(uid);
    if (it == pods_by_uid_.end()) {
      it = pods_by_uid_.emplace(uid, Pod{}).first;
      it->second.uid = uid;
    }
    Pod& p = it->second;
    p.is_static = true;
    p.obj = obj;
    p.key = client::ObjectKey(*obj);
    p.in_api = true;
    if (pods_) {
      // A mirror already in the cache (after an agent restart).
      for (const auto& o : pods_->List()) {
        if (client::ObjectKey(*o) == p.key && Path(*o, {"metadata", "annotations", kMirrorAnnotation})) p.mirror = o;
      }
    }
    Enqueue(uid);
  }
  for (auto& [uid, p] : pods_by_uid_) {
    if (p.is_static && !present.count(uid) && p.in_api) {
      p.in_api = false;  // removed from the manifest directory: stop it
      Enqueue(uid);
    }
  }
}

void Kubelet::SyncMirror(Pod& p) {
  if (!p.is_static || !p.obj) return;
  std::string hash(GetString(*Path(*p.obj, {"metadata", "annotations"}), kHashAnnotation).value_or(""));
  std::string ns, name;
  client::SplitKey(p.key, &ns, &name);
  auto alive = std::weak_ptr<bool>(alive_);
  std::string uid = p.uid;
  if (p.mirror) {
    const JsonValue* m = Path(*p.mirror, {"metadata", "annotations", kMirrorAnnotation});
    bool stale = !m || !m->IsString() || hash != m->GetString() || BeingDeleted(*p.mirror);
    if (!stale || p.mirror_pending) return;
    // The static pod changed (or its mirror is being deleted): replace the mirror.
    p.mirror_pending = true;
    client::DeleteOptions del;
    del.grace_period_seconds = 0;
    del.precondition_uid = std::string(client::MetaString(*p.mirror, "uid"));
    client_.Delete(kPods, ns, name, del, [this, uid, alive](StatusOr<JsonDoc>) {
      if (alive.expired()) return;
      auto it = pods_by_uid_.find(uid);
      if (it == pods_by_uid_.end()) return;
      it->second.mirror_pending = false;
      it->second.mirror = nullptr;
      Enqueue(uid);
    });
    return;
  }
  if (p.mirror_pending || !p.in_api) return;
  p.mirror_pending = true;
  JsonDoc mirror;
  mirror.CopyFrom(*p.obj, mirror.GetAllocator());
  auto& a = mirror.GetAllocator();
  JsonValue& md = EnsureObject(mirror, "metadata", a);
  RemoveMember(md, "uid");
  RemoveMember(md, "resourceVersion");
  JsonValue& ann = EnsureObject(md, "annotations", a);
  SetString(ann, kMirrorAnnotation, hash, a);
  if (!node_uid_.empty()) {
    JsonValue refs(rapidjson::kArrayType);
    JsonValue ref(rapidjson::kObjectType);
    SetString(ref, "apiVersion", "v1", a);
    SetString(ref, "kind", "Node", a);
    SetString(ref, "name", options_.node_name, a);
    SetString(ref, "uid", node_uid_, a);
    ref.AddMember("controller", true, a);
    refs.PushBack(ref, a);
    SetMember(md, "ownerReferences", std::move(refs), a);
  }
  RemoveMember(mirror, "status");
  client_.Create(kPods, ns, mirror, [this, uid, alive](StatusOr<JsonDoc> r) {
    if (alive.expired()) return;
    auto it = pods_by_uid_.find(uid);
    if (it == pods_by_uid_.end()) return;
    it->second.mirror_pending = false;
    if (r.ok()) {
      it->second.mirror = std::make_shared<const JsonDoc>(std::move(*r));
    } else if (!r.error().IsAlreadyExists()) {
      MINIK_LOG(Warning) << "creating mirror pod " << it->second.key << ": " << r.error().ToString();
      EnqueueAfter(uid, 2000);
      return;
    }
    Enqueue(uid);
  });
}

std::vector<std::string> Kubelet::ImagesInUse() const {
  std::vector<std::string> out;
  for (const auto& [uid, p] : pods_by_uid_) {
    if (!p.obj) continue;
    for (bool init : {true, false}) {
      if (const JsonValue* cs = ContainerSpecs(*p.obj, init)) {
        for (const auto& c : cs->GetArray()) out.push_back(Str(Member(c, "image")));
      }
    }
  }
  return out;
}

void Kubelet::RetryWaitingPods() {
  for (auto& [uid, p] : pods_by_uid_) {
    bool retry = false;
    for (auto& [name, c] : p.containers) {
      if (c.waiting_reason == "ErrImagePull" || c.waiting_reason == "ErrImageNeverPull") {
        c.retry_at_ms = 0;
        retry = true;
      }
    }
    if (retry) Enqueue(uid);
  }
}

void Kubelet::Enqueue(const std::string& uid) {
  if (queue_ && running_) queue_->Add(uid);
}

void Kubelet::EnqueueAfter(const std::string& uid, int64_t ms) {
  if (queue_ && running_) queue_->AddAfter(uid, std::max<int64_t>(ms, 1));
}

std::vector<std::string> Kubelet::PodUids() const {
  std::vector<std::string> out;
  for (const auto& [uid, p] : pods_by_uid_) out.push_back(uid);
  return out;
}

size_t Kubelet::running_containers() const {
  size_t n = 0;
  for (const auto& [uid, p] : pods_by_uid_) {
    for (const auto& [name, c] : p.containers) n += c.current && c.current->status.state == State::kRunning ? 1 : 0;
  }
  return n;
}

std::vector<PodStatsRef> Kubelet::StatsRefs() const {
  std::vector<PodStatsRef> out;
  for (const auto& [uid, p] : pods_by_uid_) {
    if (!p.sandbox_ready || p.torn_down || p.key.empty()) continue;
    PodStatsRef r;
    client::SplitKey(p.key, &r.namespace_, &r.name);
    r.uid = uid;
    r.start_time = p.start_time;
    for (const auto& [name, c] : p.containers) {
      if (!c.current || c.current->status.state != State::kRunning) continue;
      r.containers.push_back({name, c.current->id, c.current->status.started_ns});
    }
    out.push_back(std::move(r));
  }
  return out;
}

std::string Kubelet::PodListJson() const {
  std::vector<std::pair<std::string, const Pod*>> pods;
  for (const auto& [uid, p] : pods_by_uid_) {
    if (p.obj && p.in_api && !p.key.empty()) pods.emplace_back(p.key, &p);
  }
  std::sort(pods.begin(), pods.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string out = R"({"kind":"PodList","apiVersion":"v1","metadata":{},"items":[)";
  for (size_t i = 0; i < pods.size(); ++i) {
    const Pod& p = *pods[i].second;
    JsonDoc d;
    d.CopyFrom(*p.obj, d.GetAllocator());
    RemoveMember(d, "status");
    d.AddMember("status", JsonValue(BuildStatus(p), d.GetAllocator()), d.GetAllocator());
    if (i) out += ',';
    out += ToJson(d);
  }
  out += "]}";
  return out;
}

size_t Kubelet::running_pods() const {
  size_t n = 0;
  for (const auto& [uid, p] : pods_by_uid_) n += p.sandbox_ready && !p.torn_down ? 1 : 0;
  return n;
}

ContainerStateCounts Kubelet::container_states() const {
  ContainerStateCounts n;
  for (const auto& [uid, p] : pods_by_uid_) {
    for (const auto& [name, c] : p.containers) {
      for (const auto* inst : {c.current ? &*c.current : nullptr, c.previous ? &*c.previous : nullptr}) {
        if (inst == nullptr) continue;
        switch (inst->status.state) {
          case State::kCreated: ++n.created; break;
          case State::kRunning: ++n.running; break;
          case State::kExited: ++n.exited; break;
          default: ++n.unknown; break;
        }
      }
    }
  }
  return n;
}

std::optional<JsonDoc> Kubelet::LastStatus(const std::string& uid) const {
  auto it = pods_by_uid_.find(uid);
  if (it == pods_by_uid_.end() || it->second.last_status.empty()) return std::nullopt;
  auto d = ParseJson(it->second.last_status);
  if (!d.ok()) return std::nullopt;
  return std::move(*d);
}

void Kubelet::Event(const Pod& p, const std::string& container, const std::string& type, const std::string& reason,
                    const std::string& message) {
  // The kubelet's container reference: "spec.containers{name}" (or initContainers).
  std::string field_path;
  if (!container.empty() && p.obj) {
    bool init = false;
    if (const JsonValue* inits = Path(*p.obj, {"spec", "initContainers"}); inits && inits->IsArray()) {
      for (const auto& c : inits->GetArray()) init = init || Str(Member(c, "name")) == container;
    }
    field_path = std::string(init ? "spec.initContainers{" : "spec.containers{") + container + "}";
  }
  if (p.is_static && p.mirror) events_.Event(*p.mirror, type, reason, message, field_path);
  else if (p.obj) events_.Event(*p.obj, type, reason, message, field_path);
}

// ---------------------------------------------------------------------------------------------
// Deciding

bool Kubelet::RestartAllowed(const Pod& p, const Container& c) const {
  if (!c.current || c.current->status.state != State::kExited) return false;
  std::string_view policy = p.obj ? RestartPolicy(*p.obj) : "Never";
  if (policy == "Always") return true;
  if (policy == "OnFailure") return c.current->status.exit_code != 0 || c.current->status.reason == "StartError";
  return false;
}

bool Kubelet::ShouldRun(const Pod& p) const {
  if (!p.in_api || !p.obj || BeingDeleted(*p.obj) || p.torn_down) return false;
  std::string api_phase = ApiPhase(*p.obj);
  if (api_phase == "Succeeded" || api_phase == "Failed") return false;
  // Our own view: a restartPolicy Never/OnFailure pod whose containers all ended for good.
  std::string_view policy = RestartPolicy(*p.obj);
  if (policy == "Always") return true;
  const JsonValue* inits = ContainerSpecs(*p.obj, true);
  if (inits && policy == "Never") {
    for (const auto& spec : inits->GetArray()) {
      auto it = p.containers.find(Str(Member(spec, "name")));
      if (it != p.containers.end() && it->second.current && it->second.current->status.state == State::kExited &&
          it->second.current->status.exit_code != 0 && !it->second.starting)
        return false;  // a failed init container fails the pod
    }
  }
  const JsonValue* apps = ContainerSpecs(*p.obj, false);
  if (!apps) return true;
  for (const auto& spec : apps->GetArray()) {
    auto it = p.containers.find(Str(Member(spec, "name")));
    if (it == p.containers.end()) return true;
    const Container& c = it->second;
    if (!c.current || c.starting || c.current->status.state != State::kExited) return true;
    if (RestartAllowed(p, c)) return true;
  }
  return false;
}

void Kubelet::Sync(const std::string& uid) {
  auto it = pods_by_uid_.find(uid);
  if (it == pods_by_uid_.end()) return;
  Pod& p = it->second;
  if (ShouldRun(p)) {
    SyncRunning(p);
  } else {
    SyncTerminating(p);
  }
  if (pods_by_uid_.count(uid)) PostStatus(pods_by_uid_[uid]);
}

void Kubelet::SyncRunning(Pod& p) {
  if (p.first_seen_ms < 0) p.first_seen_ms = NowMs();
  if (!p.sandbox_ready) {
    if (p.sandbox_pending) return;
    p.sandbox_pending = true;
    std::string uid = p.uid;
    host_.SetUpPod(p.obj, [this, uid, alive = std::weak_ptr<bool>(alive_)](Outcome<SandboxInfo> r) {
      if (alive.expired()) return;
      auto it = pods_by_uid_.find(uid);
      if (it == pods_by_uid_.end()) return;
      Pod& p2 = it->second;
      p2.sandbox_pending = false;
      if (!r.ok()) {
        ++metrics_.started_pods_errors;
        Event(p2, "", client::kEventTypeWarning, r.failure.reason.empty() ? "FailedCreatePodSandBox" : r.failure.reason,
              r.failure.message);
        EnqueueAfter(uid, options_.backoff_initial_ms);
        return;
      }
      p2.sandbox_ready = true;
      p2.sandbox = *r.value;
      ++metrics_.started_pods;
      Enqueue(uid);
    });
    return;
  }
  if (p.start_time.empty()) p.start_time = FormatRFC3339(timers_.clock().Now());
  const JsonValue& pod = *p.obj;
  int64_t now = NowMs();

  // Runs or restarts one container; false when it must wait.
  auto drive = [&](const JsonValue& spec, bool init) -> bool {
    std::string name = Str(Member(spec, "name"));
    Container& c = p.containers[name];
    c.name = name;
    c.init = init;
    if (c.starting || c.stopping) return false;
    if (!c.current) {
      if (c.retry_at_ms > now) {
        EnqueueAfter(p.uid, c.retry_at_ms - now);
        return false;
      }
      StartContainer(p, c, spec);
      return false;
    }
    if (c.current->status.state != State::kExited) return !init;  // running: an init container must finish
    if (init && c.current->status.exit_code == 0 && c.current->status.reason != "StartError") return true;
    if (!RestartAllowed(p, c)) return !init;
    // Restart, after the back-off (10 s doubling to 5 min; reset after 10 minutes of running).
    if (c.exit_seen_ms < 0) c.exit_seen_ms = now;
    int64_t finished = c.exit_seen_ms;
    int64_t started_ns = c.current->status.started_ns, finished_ns = c.current->status.finished_ns;
    if (started_ns > 0 && finished_ns > started_ns && (finished_ns - started_ns) / 1000000 >= options_.backoff_reset_ms) {
      c.backoff_ms = 0;
    }
    if (c.backoff_ms > 0 && now - finished < c.backoff_ms) {
      c.waiting_reason = "CrashLoopBackOff";
      c.waiting_message = "back-off " + DurationText(c.backoff_ms) + " restarting failed container=" + name +
                          " pod=" + PodDesc(pod);
      EnqueueAfter(p.uid, finished + c.backoff_ms - now);
      return false;
    }
    c.backoff_ms = c.backoff_ms == 0 ? options_.backoff_initial_ms : std::min(c.backoff_ms * 2, options_.backoff_max_ms);
    StartContainer(p, c, spec);
    return false;
  };

  if (const JsonValue* inits = ContainerSpecs(pod, true)) {
    for (const auto& spec : inits->GetArray()) {
      if (!drive(spec, true)) return;
    }
  }
  if (const JsonValue* apps = ContainerSpecs(pod, false)) {
    for (const auto& spec : apps->GetArray()) drive(spec, false);
  }
}

void Kubelet::StartContainer(Pod& p, Container& c, const JsonValue& spec) {
  c.starting = true;
  int attempt = c.current ? c.current->attempt + 1 : (c.previous ? c.previous->attempt + 1 : 0);
  std::string id = NewContainerId();
  std::string name = c.name;
  std::string uid = p.uid;
  std::string log_path = LogPath(p, name, attempt);
  std::string image = Str(Member(spec, "image"));
  bool tty = GetBool(spec, "tty").value_or(false);
  bool stdin = GetBool(spec, "stdin").value_or(false);
  bool stdin_once = GetBool(spec, "stdinOnce").value_or(false);
  auto alive = std::weak_ptr<bool>(alive_);
  HostEventFn ev = [this, uid, name, alive](const std::string& type, const std::string& reason, const std::string& msg) {
    if (alive.expired()) return;
    auto it = pods_by_uid_.find(uid);
    if (it != pods_by_uid_.end()) Event(it->second, name, type, reason, msg);
  };
  host_.PrepareContainer(p.obj, name, id, log_path, ev, [=, this](Outcome<PreparedContainer> prep) {
    if (alive.expired()) return;
    auto it = pods_by_uid_.find(uid);
    if (it == pods_by_uid_.end()) return;
    Pod& p2 = it->second;
    Container& c2 = p2.containers[name];
    if (!prep.ok()) {
      c2.starting = false;
      c2.waiting_reason = prep.failure.reason;
      c2.waiting_message = prep.failure.message;
      if (prep.failure.reason == "ErrImagePull" || prep.failure.reason == "ErrImageNeverPull" ||
          prep.failure.reason == "InvalidImageName") {
        if (prep.failure.reason == "ErrImagePull") {
          Event(p2, name, client::kEventTypeWarning, "Failed", prep.failure.message);
        }
        Event(p2, name, client::kEventTypeWarning, "Failed", "Error: " + prep.failure.reason);
      } else {
        Event(p2, name, client::kEventTypeWarning, "Failed", "Error: " + prep.failure.message);
      }
      int64_t delay = c2.backoff_ms == 0 ? options_.backoff_initial_ms : c2.backoff_ms;
      c2.backoff_ms = std::min(delay * 2, options_.backoff_max_ms);
      c2.retry_at_ms = NowMs() + delay;
      if (!c2.current) {
        EnqueueAfter(uid, delay);
      } else {
        // A restart that could not even be prepared: wait, then try again.
        c2.current->status.reason = c2.current->status.reason.empty() ? "Error" : c2.current->status.reason;
        EnqueueAfter(uid, delay);
      }
      Enqueue(uid);
      return;
    }
    c2.image = prep.value->image;
    c2.image_id = prep.value->image_id;
    if (prep.value->pulled) {
      Event(p2, name, client::kEventTypeNormal, "Pulled",
            "Successfully pulled image \"" + ImageWithDefaultTag(image) + "\" in " +
                FormatGoDurationMs(prep.value->pull_ms) + " (" + FormatGoDurationMs(prep.value->pull_ms) +
                " including waiting). Image size: " + std::to_string(prep.value->image_size) + " bytes.");
    } else {
      Event(p2, name, client::kEventTypeNormal, "Pulled",
            "Container image \"" + ImageWithDefaultTag(image) + "\" already present on machine");
    }
    Event(p2, name, client::kEventTypeNormal, "Created", "Created container: " + name);
    runtime::StartRequest req;
    req.id = id;
    req.bundle_dir = prep.value->bundle_dir;
    req.log_path = log_path;
    req.tty = tty;
    req.stdin = stdin;
    req.stdin_once = stdin_once;
    req.termination_message_path = prep.value->termination_message_path;
    req.termination_message_fallback_to_logs = prep.value->termination_message_fallback_to_logs;
    std::string ns, pname;
    client::SplitKey(p2.key, &ns, &pname);
    req.labels = {{kLabelPodUid, uid},
                  {kLabelPodName, pname},
                  {kLabelPodNamespace, ns},
                  {kLabelContainerName, name},
                  {kLabelRestartCount, std::to_string(attempt)}};
    if (c2.init) req.labels[kLabelInit] = "true";
    uid_by_container_[id] = uid;
    runtime_.Start(std::move(req), [=, this](Status st) {
      if (alive.expired()) return;
      auto it2 = pods_by_uid_.find(uid);
      if (it2 == pods_by_uid_.end()) return;
      Pod& p3 = it2->second;
      Container& c3 = p3.containers[name];
      c3.starting = false;
      // The instance before the previous one goes: its container, bundle and log, as the
      // kubelet's container GC keeps only the last dead instance.
      if (c3.previous) {
        std::string old = c3.previous->id;
        uid_by_container_.erase(old);
        runtime_.Remove(old, [](Status) {});
        host_.CleanUpContainer(old, [] {});
        host_.RemoveContainerLog(c3.previous->status.log_path.empty() ? LogPath(p3, name, c3.previous->attempt)
                                                                      : c3.previous->status.log_path,
                                 LogLink(p3, name, old));
      }
      c3.previous = c3.current;
      Instance inst;
      inst.id = id;
      inst.attempt = attempt;
      if (!st.ok()) {
        // As containerd reports a task that failed to start: exit code 128, reason StartError.
        inst.status.id = id;
        inst.status.state = State::kExited;
        inst.status.exit_code = 128;
        inst.status.reason = "StartError";
        inst.status.log_path = log_path;
        int64_t now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                             timers_.clock().Now().time_since_epoch()).count();
        inst.status.finished_ns = now_ns;
        c3.current = inst;
        c3.waiting_message = st.message();
        c3.exit_seen_ms = NowMs();
        Event(p3, name, client::kEventTypeWarning, "Failed", "Error: " + st.message());
        Enqueue(uid);
        return;
      }
      if (std::string link = LogLink(p3, name, id); !link.empty()) host_.LinkContainerLog(log_path, link);
      auto got = runtime_.Get(id);
      if (got) inst.status = *got;
      if (inst.status.state == State::kUnknown || inst.status.state == State::kCreated) inst.status.state = State::kRunning;
      c3.current = inst;
      ++(c3.init ? metrics_.started_init_containers : metrics_.started_containers);
      c3.waiting_reason.clear();
      c3.waiting_message.clear();
      c3.retry_at_ms = 0;
      c3.exit_seen_ms = -1;
      Event(p3, name, client::kEventTypeNormal, "Started", "Started container " + name);
      StartProbes(p3, c3);
      if (const JsonValue* cs = SpecOf(p3, name)) {
        if (const JsonValue* ps = Path(*cs, {"lifecycle", "postStart"})) {
          Handler h = ParseHandler(*ps);
          RunHandler(p3, c3, h, 30000, [this, uid, name, id](bool ok, std::string out) {
            if (ok) return;
            auto it3 = pods_by_uid_.find(uid);
            if (it3 == pods_by_uid_.end()) return;
            Container& c4 = it3->second.containers[name];
            if (!c4.current || c4.current->id != id) return;
            MINIK_LOG(Info) << "postStart hook of " << it3->second.key << "/" << name << " failed: " << out;
            // The message stays out of the event (it may hold secrets), as upstream.
            Event(it3->second, name, client::kEventTypeWarning, "FailedPostStartHook", "PostStartHook failed");
            KillContainer(it3->second, c4, 0, "FailedPostStartHook");
          });
        }
      }
      if (!ShouldRun(p3) || p3.kill_deadline_ms > 0) {
        Enqueue(uid);  // the pod went away meanwhile: stop what just started
        return;
      }
      Enqueue(uid);
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Stopping

void Kubelet::KillContainer(Pod& p, Container& c, int64_t grace_s, const std::string& message) {
  if (!c.current || c.current->status.state == State::kExited || c.stopping) return;
  c.stopping = true;
  c.ready = false;
  c.liveness_timer.reset();
  c.readiness_timer.reset();
  c.startup_timer.reset();
  Event(p, c.name, client::kEventTypeNormal, "Killing", message.empty() ? "Stopping container " + c.name : message);
  std::string id = c.current->id;
  std::string uid = p.uid;
  std::string name = c.name;
  auto alive = std::weak_ptr<bool>(alive_);
  // SIGTERM, then SIGKILL once the grace left is over.
  auto term = [this, id, uid, name, alive](int64_t left_s) {
    if (alive.expired()) return;
    if (left_s > 0) runtime_.Kill(id, SIGTERM, [](Status) {});
    else SigKill(id);
    if (left_s <= 0) return;
    auto it = pods_by_uid_.find(uid);
    if (it == pods_by_uid_.end()) return;
    it->second.containers[name].kill_timer = timers_.After(static_cast<uint64_t>(left_s * 1000), [this, id]() {
      SigKill(id);
    });
  };
  const JsonValue* spec = SpecOf(p, c.name);
  const JsonValue* pre = spec ? Path(*spec, {"lifecycle", "preStop"}) : nullptr;
  if (!pre || grace_s <= 0) return term(grace_s);
  // The preStop hook, within the grace period; SIGTERM once it ends (or the period is over) with
  // what is left of the period, but never less than 2 s (the kubelet's minimum shutdown window).
  Handler h = ParseHandler(*pre);
  auto fired = std::make_shared<bool>(false);
  TimePoint started = timers_.clock().Now();
  auto once = [this, term, fired, grace_s, started]() {
    if (*fired) return;
    *fired = true;
    int64_t spent_s = std::chrono::duration_cast<std::chrono::seconds>(timers_.clock().Now() - started).count();
    term(std::max<int64_t>(grace_s - spent_s, 2));
  };
  c.kill_timer = timers_.After(static_cast<uint64_t>(grace_s * 1000), once);
  RunHandler(p, c, h, grace_s * 1000, [this, uid, name, once, alive](bool ok, std::string out) {
    if (alive.expired()) return;
    if (!ok) {
      auto it = pods_by_uid_.find(uid);
      if (it != pods_by_uid_.end()) {
        Event(it->second, name, client::kEventTypeWarning, "FailedPreStopHook", "PreStopHook failed");
        MINIK_LOG(Info) << "preStop hook of " << it->second.key << "/" << name << " failed: " << out;
      }
    }
    once();
  });
}

const JsonValue* Kubelet::SpecOf(const Pod& p, const std::string& name) const {
  if (!p.obj) return nullptr;
  for (bool init : {false, true}) {
    if (const JsonValue* cs = ContainerSpecs(*p.obj, init)) {
      for (const auto& c : cs->GetArray()) {
        if (Str(Member(c, "name")) == name) return &c;
      }
    }
  }
  return nullptr;
}

void Kubelet::RunHandler(Pod& p, Container& c, const Handler& h, int64_t timeout_ms,
                         std::function<void(bool, std::string)> done) {
  if (!c.current) return done(false, "container not running");
  switch (h.kind) {
    case Handler::Kind::kExec: {
      runtime::ExecRequest req;
      req.container_id = c.current->id;
      req.argv = h.command;
      req.timeout_ms = timeout_ms;
      std::string cmd;
      for (const auto& a : h.command) cmd += (cmd.empty() ? "" : " ") + a;
      runtime_.ExecSync(req, [done, cmd, timeout_ms](StatusOr<runtime::ExecResult> r) {
        if (!r.ok()) {
          if (r.error().code() == Code::kTimeout) {
            return done(false, "command timed out: \"" + cmd + "\" timed out after " + DurationText(timeout_ms));
          }
          return done(false, r.error().message());
        }
        done(r->exit_code == 0, r->output);
      });
      return;
    }
    case Handler::Kind::kHttpGet:
    case Handler::Kind::kTcpSocket: {
      NetCheck check;
      check.http = h.kind == Handler::Kind::kHttpGet;
      check.scheme = h.scheme;
      check.host = h.host;
      const JsonValue* spec = SpecOf(p, c.name);
      check.port = spec ? ResolvePort(h, *spec) : 0;
      check.path = h.path;
      check.headers = h.headers;
      check.timeout_ms = timeout_ms;
      host_.Check(p.uid, check, std::move(done));
      return;
    }
    case Handler::Kind::kSleep: {
      auto holder = std::make_shared<http::HandlePtr>();
      *holder = timers_.After(static_cast<uint64_t>(std::min<int64_t>(h.sleep_seconds * 1000, timeout_ms)),
                              [holder, done]() { done(true, ""); });
      return;
    }
    case Handler::Kind::kNone:
      return done(true, "");
  }
}

void Kubelet::StartProbes(Pod& p, Container& c) {
  const JsonValue* spec = SpecOf(p, c.name);
  c.probe_id = c.current ? c.current->id : "";
  c.liveness.reset();
  c.readiness.reset();
  c.startup.reset();
  c.liveness_timer.reset();
  c.readiness_timer.reset();
  c.startup_timer.reset();
  auto live = spec ? ParseProbe(*spec, "livenessProbe") : std::nullopt;
  auto ready = spec ? ParseProbe(*spec, "readinessProbe") : std::nullopt;
  auto start = spec ? ParseProbe(*spec, "startupProbe") : std::nullopt;
  c.started = !start;
  c.ready = !start && !ready;
  if (start) {
    c.startup.emplace(false);
    ScheduleProbe(p.uid, c.name, ProbeKind::kStartup, start->initial_delay_s * 1000);
    return;
  }
  if (live) {
    c.liveness.emplace(true);
    ScheduleProbe(p.uid, c.name, ProbeKind::kLiveness, live->initial_delay_s * 1000);
  }
  if (ready) {
    c.readiness.emplace(false);
    ScheduleProbe(p.uid, c.name, ProbeKind::kReadiness, ready->initial_delay_s * 1000);
  }
}

void Kubelet::ScheduleProbe(const std::string& uid, const std::string& name, ProbeKind kind, int64_t delay_ms) {
  auto it = pods_by_uid_.find(uid);
  if (it == pods_by_uid_.end()) return;
  Container& c = it->second.containers[name];
  http::HandlePtr& timer = kind == ProbeKind::kLiveness ? c.liveness_timer
                           : kind == ProbeKind::kReadiness ? c.readiness_timer
                                                           : c.startup_timer;
  timer = timers_.After(static_cast<uint64_t>(std::max<int64_t>(delay_ms, 0)), [this, uid, name, kind]() {
    RunProbe(uid, name, kind);
  });
}

void Kubelet::RunProbe(const std::string& uid, const std::string& name, ProbeKind kind) {
  auto it = pods_by_uid_.find(uid);
  if (it == pods_by_uid_.end()) return;
  Pod& p = it->second;
  Container& c = p.containers[name];
  if (!c.current || c.current->id != c.probe_id || c.current->status.state == State::kExited || c.stopping) return;
  const JsonValue* spec = SpecOf(p, name);
  const char* field = kind == ProbeKind::kLiveness ? "livenessProbe" : kind == ProbeKind::kReadiness ? "readinessProbe" : "startupProbe";
  auto probe = spec ? ParseProbe(*spec, field) : std::nullopt;
  if (!probe) return;
  std::string id = c.current->id;
  RunHandler(p, c, probe->handler, probe->timeout_s * 1000,
             [this, uid, name, id, kind, alive = std::weak_ptr<bool>(alive_)](bool ok, std::string out) {
               if (!alive.expired()) OnProbeResult(uid, name, id, kind, ok, out);
             });
}

void Kubelet::OnProbeResult(const std::string& uid, const std::string& name, const std::string& id, ProbeKind kind,
                            bool success, const std::string& output) {
  auto it = pods_by_uid_.find(uid);
  if (it == pods_by_uid_.end()) return;
  Pod& p = it->second;
  Container& c = p.containers[name];
  if (!c.current || c.current->id != id || c.probe_id != id || c.stopping) return;
  const JsonValue* spec = SpecOf(p, name);
  const char* field = kind == ProbeKind::kLiveness ? "livenessProbe" : kind == ProbeKind::kReadiness ? "readinessProbe" : "startupProbe";
  auto probe = spec ? ParseProbe(*spec, field) : std::nullopt;
  if (!probe) return;
  const char* title = kind == ProbeKind::kLiveness ? "Liveness" : kind == ProbeKind::kReadiness ? "Readiness" : "Startup";
  {
    std::string ns, pod_name;
    client::SplitKey(p.key, &ns, &pod_name);
    ++metrics_.probe_total[{title, success ? "successful" : "failed", name, pod_name, ns, uid}];
  }
  if (!success) {
    std::string out = output;
    while (!out.empty() && out.back() == '\n') out.pop_back();
    Event(p, name, client::kEventTypeWarning, "Unhealthy", std::string(title) + " probe failed: " + out);
  }
  std::optional<ProbeTracker>& tracker = kind == ProbeKind::kLiveness ? c.liveness
                                         : kind == ProbeKind::kReadiness ? c.readiness
                                                                         : c.startup;
  if (!tracker) return;
  bool changed = tracker->Record(success, *probe);
  int64_t grace = probe->termination_grace_s.value_or(
      GetInt(*Member(*p.obj, "spec"), "terminationGracePeriodSeconds").value_or(30));
  switch (kind) {
    case ProbeKind::kStartup:
      if (tracker->result()) {
        c.startup.reset();
        c.started = true;
        auto live = ParseProbe(*spec, "livenessProbe");
        auto ready = ParseProbe(*spec, "readinessProbe");
        c.ready = !ready;
        if (live) {
          c.liveness.emplace(true);
          ScheduleProbe(uid, name, ProbeKind::kLiveness, live->initial_delay_s * 1000);
        }
        if (ready) {
          c.readiness.emplace(false);
          ScheduleProbe(uid, name, ProbeKind::kReadiness, ready->initial_delay_s * 1000);
        }
        Enqueue(uid);
        return;
      }
      if (tracker->consecutive_failures() >= probe->failure_threshold) {
        KillContainer(p, c, grace, "Container " + name + " failed startup probe, will be restarted");
        return;
      }
      break;
    case ProbeKind::kLiveness:
      if (changed && !tracker->result()) {
        KillContainer(p, c, grace, "Container " + name + " failed liveness probe, will be restarted");
        return;
      }
      break;
    case ProbeKind::kReadiness:
      if (changed) {
        c.ready = tracker->result();
        Enqueue(uid);
      }
      break;
  }
  ScheduleProbe(uid, name, kind, probe->period_s * 1000);
}

void Kubelet::SyncTerminating(Pod& p) {
  int64_t now = NowMs();
  if (p.kill_deadline_ms == 0) {
    int64_t grace = 2;  // a pod gone from the API (force-deleted)
    if (p.obj && p.in_api) {
      if (auto g = GetInt(*Path(*p.obj, {"metadata"}), "deletionGracePeriodSeconds"); g && BeingDeleted(*p.obj)) {
        grace = *g;
      } else if (const JsonValue* spec = Member(*p.obj, "spec")) {
        grace = GetInt(*spec, "terminationGracePeriodSeconds").value_or(30);
      }
    }
    // Each container gets SIGKILL from its own timer (KillContainer); this deadline is the net
    // under them, past the 2 s a container may still get after a preStop hook.
    p.kill_deadline_ms = now + (grace > 0 ? grace + 2 : 0) * 1000;
    bool any = false;
    for (auto& [name, c] : p.containers) {
      if (c.current && c.current->status.state != State::kExited) {
        KillContainer(p, c, grace);
        any = true;
      }
    }
    if (any) {
      std::string uid = p.uid;
      p.timer = timers_.After(static_cast<uint64_t>(std::max<int64_t>(p.kill_deadline_ms - now, 1)), [this, uid]() { Enqueue(uid); });
    }
  }
  bool running = false;
  for (auto& [name, c] : p.containers) {
    if (c.starting) running = true;
    if (c.current && c.current->status.state != State::kExited) {
      running = true;
      if (now >= p.kill_deadline_ms) {
        // The grace period is over.
        SigKill(c.current->id);
      } else if (!c.stopping) {
        KillContainer(p, c, std::max<int64_t>((p.kill_deadline_ms - now) / 1000 - 2, 0));
      }
    }
  }
  if (running) {
    if (now >= p.kill_deadline_ms) {
      std::string uid = p.uid;
      p.timer = timers_.After(1000, [this, uid]() { Enqueue(uid); });
    }
    return;
  }
  if (p.sandbox_pending) return;
  if (!p.torn_down) {
    if (p.tearing_down) return;
    p.tearing_down = true;
    std::string uid = p.uid;
    auto remaining = std::make_shared<int>(1);
    auto alive = std::weak_ptr<bool>(alive_);
    auto finish = [this, uid, remaining, alive]() {
      if (alive.expired() || --*remaining > 0) return;
      host_.TearDownPod(uid, [this, uid, alive](Status st) {
        if (alive.expired()) return;
        auto it = pods_by_uid_.find(uid);
        if (it == pods_by_uid_.end()) return;
        it->second.tearing_down = false;
        if (!st.ok()) {
          MINIK_LOG(Warning) << "tearing down pod " << uid << ": " << st.ToString() << "; retrying";
          EnqueueAfter(uid, 2000);
          return;
        }
        it->second.torn_down = true;
        it->second.sandbox_ready = false;
        Enqueue(uid);
      });
    };
    for (auto& [name, c] : p.containers) {
      for (auto* inst : {&c.current, &c.previous}) {
        if (!*inst) continue;
        std::string id = (*inst)->id;
        ++*remaining;
        runtime_.Remove(id, [this, id, finish, alive](Status) {
          if (alive.expired()) return;
          host_.CleanUpContainer(id, finish);
        });
      }
    }
    finish();
    return;
  }
  MaybeFinish(p);
}

void Kubelet::MaybeFinish(Pod& p) {
  if (!p.in_api) {
    if (!p.key.empty()) {
      std::string ns, name;
      client::SplitKey(p.key, &ns, &name);
      host_.RemoveLogs(options_.logs_dir + "/" + ns + "_" + name + "_" + p.uid);
      if (p.is_static && p.mirror) {
        client::DeleteOptions del;
        del.grace_period_seconds = 0;
        del.precondition_uid = std::string(client::MetaString(*p.mirror, "uid"));
        client_.Delete(kPods, ns, name, del, [](StatusOr<JsonDoc>) {});
      }
    }
    for (auto& [name, c] : p.containers) {
      for (auto* inst : {&c.current, &c.previous}) {
        if (!*inst) continue;
        uid_by_container_.erase((*inst)->id);
        std::string link = p.key.empty() ? "" : LogLink(p, name, (*inst)->id);
        if (!link.empty()) host_.RemoveContainerLog("", link);  // the files go with the pod's log directory
      }
    }
    std::erase_if(metrics_.probe_total, [&](const auto& e) { return e.first[5] == p.uid; });
    pods_by_uid_.erase(p.uid);
    return;
  }
  if (!p.obj || !BeingDeleted(*p.obj) || p.deleting) return;
  // Everything stopped: finish the graceful deletion, as the kubelet's status manager does.
  p.deleting = true;
  std::string ns, name;
  client::SplitKey(p.key, &ns, &name);
  client::DeleteOptions del;
  del.grace_period_seconds = 0;
  del.precondition_uid = p.uid;
  std::string uid = p.uid;
  client_.Delete(kPods, ns, name, del, [this, uid, alive = std::weak_ptr<bool>(alive_)](StatusOr<JsonDoc> r) {
    if (alive.expired()) return;
    auto it = pods_by_uid_.find(uid);
    if (it == pods_by_uid_.end()) return;
    it->second.deleting = false;
    if (!r.ok() && !r.error().IsNotFound() && !r.error().IsConflict()) {
      MINIK_LOG(Warning) << "deleting pod " << it->second.key << ": " << r.error().ToString();
      EnqueueAfter(uid, 2000);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Status

JsonDoc Kubelet::BuildStatus(const Pod& p) const {
  const JsonValue& pod = *p.obj;
  std::string now = FormatRFC3339(timers_.clock().Now());
  JsonDoc d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  std::string_view policy = RestartPolicy(pod);
  const JsonValue* old_status = Member(p.is_static && p.mirror ? *p.mirror : pod, "status");
  const JsonValue* old_conds = old_status ? Member(*old_status, "conditions") : nullptr;
  // Transition times: from what this kubelet posted last (the informer may lag behind it).
  JsonDoc posted;
  if (!p.last_status.empty()) {
    auto parsed = ParseJson(p.last_status);
    if (parsed.ok()) {
      posted = std::move(*parsed);
      if (const JsonValue* pc = Member(posted, "conditions")) old_conds = pc;
    }
  }

  // Container statuses.
  int pending_init = 0, failed_init = 0;
  std::vector<std::string> unready, incomplete_init;
  int running = 0, waiting = 0, stopped = 0, succeeded = 0;
  auto container_status = [&](const JsonValue& spec, bool init) {
    std::string name = Str(Member(spec, "name"));
    auto it = p.containers.find(name);
    const Container* c = it == p.containers.end() ? nullptr : &it->second;
    JsonValue s(rapidjson::kObjectType);
    SetString(s, "name", name, a);
    JsonValue state(rapidjson::kObjectType);
    JsonValue last(rapidjson::kObjectType);
    auto terminated = [&](const Instance& inst, const std::string& message) {
      JsonValue t(rapidjson::kObjectType);
      t.AddMember("exitCode", inst.status.exit_code, a);
      std::string reason = inst.status.reason.empty() ? (inst.status.exit_code == 0 ? "Completed" : "Error") : inst.status.reason;
      SetString(t, "reason", reason, a);
      if (!message.empty()) SetString(t, "message", message, a);
      std::string started = NsToRfc3339(inst.status.started_ns);
      std::string finished = NsToRfc3339(inst.status.finished_ns);
      if (started.empty()) started = "1970-01-01T00:00:00Z";
      SetString(t, "startedAt", started, a);
      SetString(t, "finishedAt", finished.empty() ? now : finished, a);
      SetString(t, "containerID", "runc://" + inst.id, a);
      return t;
    };
    bool ready = false, started = false;
    bool is_running = false, is_exited = false, has_last = false;
    int exit_code = 0;
    if (c && c->current) {
      const Instance& cur = *c->current;
      if (cur.status.state == State::kExited) {
        is_exited = true;
        exit_code = cur.status.exit_code;
        bool restarting = p.in_api && !p.torn_down && ShouldRun(p) && RestartAllowed(p, *c);
        if (restarting) {
          JsonValue w(rapidjson::kObjectType);
          SetString(w, "reason", c->waiting_reason.empty() || c->waiting_reason == "ContainerCreating" ? "CrashLoopBackOff"
                                                                                                        : c->waiting_reason, a);
          if (!c->waiting_message.empty()) SetString(w, "message", c->waiting_message, a);
          state.AddMember("waiting", w, a);
          last.AddMember("terminated", terminated(cur, cur.status.reason == "StartError" ? c->waiting_message : cur.status.message), a);
          has_last = true;
        } else {
          state.AddMember("terminated", terminated(cur, cur.status.reason == "StartError" ? c->waiting_message : cur.status.message), a);
          if (c->previous) {
            last.AddMember("terminated", terminated(*c->previous, c->previous->status.message), a);
            has_last = true;
          }
        }
      } else {
        is_running = true;
        JsonValue r(rapidjson::kObjectType);
        SetString(r, "startedAt", NsToRfc3339(cur.status.started_ns > 0 ? cur.status.started_ns : cur.status.created_ns).empty()
                                      ? now
                                      : NsToRfc3339(cur.status.started_ns > 0 ? cur.status.started_ns : cur.status.created_ns),
                  a);
        state.AddMember("running", r, a);
        ready = c->ready && !c->stopping;
        started = c->started;
        if (c->previous) {
          last.AddMember("terminated", terminated(*c->previous, c->previous->status.message), a);
          has_last = true;
        }
      }
    } else {
      JsonValue w(rapidjson::kObjectType);
      std::string reason = c && !c->waiting_reason.empty() ? c->waiting_reason : "ContainerCreating";
      std::string message = c ? c->waiting_message : "";
      if (!init && reason == "ContainerCreating" && ContainerSpecs(pod, true)) {
        // App containers wait for the init containers.
        bool inits_done = true;
        for (const auto& ispec : ContainerSpecs(pod, true)->GetArray()) {
          auto ii = p.containers.find(Str(Member(ispec, "name")));
          if (ii == p.containers.end() || !ii->second.current || ii->second.current->status.state != State::kExited ||
              ii->second.current->status.exit_code != 0)
            inits_done = false;
        }
        if (!inits_done) reason = "PodInitializing";
      }
      if (c && reason == "ErrImagePull" && c->retry_at_ms > NowMs() && !c->starting) {
        reason = "ImagePullBackOff";
        message = "Back-off pulling image \"" + ImageWithDefaultTag(Str(Member(spec, "image"))) + "\"";
      }
      SetString(w, "reason", reason, a);
      if (!message.empty()) SetString(w, "message", message, a);
      state.AddMember("waiting", w, a);
    }
    s.AddMember("state", state, a);
    s.AddMember("lastState", last, a);
    s.AddMember("ready", ready, a);
    s.AddMember("restartCount", c && c->current ? c->current->attempt : 0, a);
    std::string image = c && !c->image.empty() ? c->image : Str(Member(spec, "image"));
    SetString(s, "image", image, a);
    SetString(s, "imageID", c ? c->image_id : "", a);
    if (c && c->current) SetString(s, "containerID", "runc://" + c->current->id, a);
    s.AddMember("started", started, a);
    // The spec's mounts, as the kubelet reports them with RecursiveReadOnlyMounts (on by default
    // since 1.31): read-only ones are recursive only when asked for, which runc mounts here never are.
    if (const JsonValue* mounts = Member(spec, "volumeMounts"); mounts && mounts->IsArray() && !mounts->Empty()) {
      JsonValue vm(rapidjson::kArrayType);
      for (const auto& m : mounts->GetArray()) {
        JsonValue e(rapidjson::kObjectType);
        SetString(e, "name", Str(Member(m, "name")), a);
        SetString(e, "mountPath", Str(Member(m, "mountPath")), a);
        if (GetBool(m, "readOnly").value_or(false)) {
          e.AddMember("readOnly", true, a);
          SetString(e, "recursiveReadOnly", "Disabled", a);
        }
        vm.PushBack(e, a);
      }
      s.AddMember("volumeMounts", vm, a);
    }
    bool restarting = state.HasMember("waiting") && has_last;
    if (init) {
      if (!(is_exited && exit_code == 0 && c->current->status.reason != "StartError")) incomplete_init.push_back(name);
      if (!c || !c->current || is_running) ++pending_init;
      else if (is_exited && (exit_code != 0 || restarting)) failed_init += exit_code != 0 ? 1 : 0;
    } else {
      if (is_running) ++running;
      else if (is_exited) {
        ++stopped;
        if (!restarting && exit_code == 0) ++succeeded;
      } else {
        ++waiting;
      }
      if (!ready) unready.push_back(name);
    }
    return s;
  };

  JsonValue init_statuses(rapidjson::kArrayType), statuses(rapidjson::kArrayType);
  if (const JsonValue* inits = ContainerSpecs(pod, true)) {
    for (const auto& spec : inits->GetArray()) init_statuses.PushBack(container_status(spec, true), a);
  }
  if (const JsonValue* apps = ContainerSpecs(pod, false)) {
    for (const auto& spec : apps->GetArray()) statuses.PushBack(container_status(spec, false), a);
  }

  // The phase, as the kubelet's getPhase computes it.
  std::string phase;
  if (failed_init > 0 && policy == "Never") {
    phase = "Failed";
  } else if (pending_init > 0) {
    phase = "Pending";
  } else if (waiting > 0) {
    phase = "Pending";
  } else if (running > 0) {
    phase = "Running";
  } else if (stopped > 0) {
    if (policy == "Always") phase = "Running";
    else if (stopped == succeeded) phase = "Succeeded";
    else if (policy == "Never") phase = "Failed";
    else phase = "Running";
  } else {
    phase = "Pending";
  }
  if (!p.in_api || (BeingDeleted(pod) && p.torn_down)) {
    // Stopped for deletion: a terminal phase, as the kubelet writes before the pod goes.
    phase = (stopped == succeeded && running == 0 && stopped > 0) ? "Succeeded" : "Failed";
  }
  bool terminal = phase == "Succeeded" || phase == "Failed";

  JsonValue conds(rapidjson::kArrayType);
  AddCondition(conds, old_conds, "PodReadyToStartContainers", p.sandbox_ready && !p.torn_down, "", "", now, a);
  if (incomplete_init.empty()) {
    AddCondition(conds, old_conds, "Initialized", true, "", "", now, a);
  } else {
    std::string msg = "containers with incomplete status: [";
    for (size_t i = 0; i < incomplete_init.size(); ++i) msg += (i ? " " : "") + incomplete_init[i];
    AddCondition(conds, old_conds, "Initialized", false, "ContainersNotInitialized", msg + "]", now, a);
  }
  std::string unready_msg;
  if (!unready.empty()) {
    unready_msg = "containers with unready status: [";
    for (size_t i = 0; i < unready.size(); ++i) unready_msg += (i ? " " : "") + unready[i];
    unready_msg += "]";
  }
  bool all_ready = unready.empty() && incomplete_init.empty() && !terminal;
  std::string not_ready_reason = terminal ? "PodCompleted" : "ContainersNotReady";
  std::string not_ready_msg = terminal ? "" : unready_msg;
  AddCondition(conds, old_conds, "Ready", all_ready, all_ready ? "" : not_ready_reason, all_ready ? "" : not_ready_msg, now, a);
  AddCondition(conds, old_conds, "ContainersReady", all_ready, all_ready ? "" : not_ready_reason,
               all_ready ? "" : not_ready_msg, now, a);
  if (old_conds && old_conds->IsArray()) {
    for (const auto& o : old_conds->GetArray()) {
      if (Str(Member(o, "type")) == "PodScheduled") conds.PushBack(JsonValue(o, a), a);
    }
  }

  SetString(d, "phase", phase, a);
  d.AddMember("conditions", conds, a);
  if (!options_.node_ip.empty()) {
    SetString(d, "hostIP", options_.node_ip, a);
    JsonValue hips(rapidjson::kArrayType);
    JsonValue hip(rapidjson::kObjectType);
    SetString(hip, "ip", options_.node_ip, a);
    hips.PushBack(hip, a);
    d.AddMember("hostIPs", hips, a);
  }
  if (!p.sandbox.pod_ip.empty()) {
    SetString(d, "podIP", p.sandbox.pod_ip, a);
    JsonValue pips(rapidjson::kArrayType);
    JsonValue pip(rapidjson::kObjectType);
    SetString(pip, "ip", p.sandbox.pod_ip, a);
    pips.PushBack(pip, a);
    d.AddMember("podIPs", pips, a);
  }
  std::string start = old_status ? Str(Member(*old_status, "startTime")) : "";
  if (start.empty()) start = p.start_time;
  if (!start.empty()) SetString(d, "startTime", start, a);
  if (!init_statuses.Empty()) d.AddMember("initContainerStatuses", init_statuses, a);
  d.AddMember("containerStatuses", statuses, a);
  if (old_status) {
    if (const JsonValue* q = Member(*old_status, "qosClass")) d.AddMember("qosClass", JsonValue(*q, a), a);
  }
  return d;
}

void Kubelet::PostStatus(Pod& p) {
  if (p.is_static) {
    SyncMirror(p);
    if (!p.mirror || p.mirror_pending) return;
  }
  if (!p.in_api || !p.obj || p.status_in_flight) return;
  if (!p.sandbox_ready && !p.sandbox_pending && p.containers.empty() && !p.torn_down) return;
  JsonDoc st = BuildStatus(p);
  if (!p.start_observed && p.first_seen_ms >= 0 && Str(Member(st, "phase")) == "Running") {
    p.start_observed = true;
    // As upstream: only a pod seen going from Pending to Running (not one adopted running).
    if (ApiPhase(*p.obj) != "Running") metrics_.pod_start_duration.Observe(double(NowMs() - p.first_seen_ms) / 1000.0);
  }
  // Compare without the transition times that BuildStatus fills with "now" for new conditions.
  std::string text = ToJson(st);
  if (text == p.last_status) return;
  // Nothing changed from what the API has already?
  if (const JsonValue* cur = Member(p.is_static ? *p.mirror : *p.obj, "status")) {
    if (ToJson(*cur) == text) {
      p.last_status = text;
      return;
    }
  }
  p.status_in_flight = true;
  std::string ns, name;
  client::SplitKey(p.key, &ns, &name);
  JsonDoc patch(rapidjson::kObjectType);
  auto& a = patch.GetAllocator();
  JsonValue md(rapidjson::kObjectType);
  SetString(md, "uid", p.is_static ? std::string(client::MetaString(*p.mirror, "uid")) : p.uid, a);
  patch.AddMember("metadata", md, a);
  patch.AddMember("status", JsonValue(st, a), a);
  std::string uid = p.uid;
  client_.Patch(kPods, ns, name, client::PatchType::kStrategicMerge, ToJson(patch), "status",
                [this, uid, text, alive = std::weak_ptr<bool>(alive_)](StatusOr<JsonDoc> r) {
                  if (alive.expired()) return;
                  auto it = pods_by_uid_.find(uid);
                  if (it == pods_by_uid_.end()) return;
                  it->second.status_in_flight = false;
                  if (r.ok()) {
                    it->second.last_status = text;
                    Enqueue(uid);  // changes seen while this write was in flight
                    return;
                  }
                  if (r.error().IsNotFound()) return;
                  MINIK_LOG(Warning) << "pod status " << it->second.key << ": " << r.error().ToString();
                  EnqueueAfter(uid, 1000);
                });
}

}  // namespace minik::agent::kubelet
