#include "server/object_store.h"

#include <mutex>
#include <string_view>
#include <unordered_set>

#include "api/protobuf_schema.h"
#include "common/log.h"

namespace minik::server {
namespace {

void SetResourceVersion(JsonDoc& doc, int64_t revision) {
  if (!doc.IsObject()) return;
  auto& a = doc.GetAllocator();
  JsonValue& meta = EnsureObject(doc, "metadata", a);
  SetString(meta, "resourceVersion", std::to_string(revision), a);
}

// Parses a stored value read outside the cache and sets metadata.resourceVersion.
std::shared_ptr<const JsonDoc> Decode(const store::KeyValue& kv) {
  auto doc = std::make_shared<JsonDoc>();
  doc->Parse(kv.value.data(), kv.value.size());
  if (doc->HasParseError() || !doc->IsObject()) return nullptr;
  SetResourceVersion(*doc, kv.mod_revision);
  return doc;
}

// Strings that cached objects reference instead of holding a copy each: every JSON field name
// of the built-in kinds longer than rapidjson's inline strings (from the protobuf tables, string
// literals), and values, label and annotation keys that recur in nearly every object of a kind.
// It saves about 600 bytes per pod and 180 per Event.
const std::unordered_set<std::string_view>& InternedStrings() {
  static const std::unordered_set<std::string_view> table = [] {
    std::unordered_set<std::string_view> t;
    for (const auto& m : api::protobuf_internal::Messages()) {
      for (uint32_t i = 0; i < m.count; ++i) {
        std::string_view name = m.fields[i].json;
        if (name.size() > 13) t.insert(name);
      }
    }
    static constexpr const char* kValues[] = {
        // Pods as defaulted and run.
        "/dev/termination-log", "default-scheduler", "PreemptLowerPriority", "FallbackToLogsOnError",
        "node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable", "node.kubernetes.io/unschedulable",
        "node.kubernetes.io/disk-pressure", "node.kubernetes.io/memory-pressure", "node.kubernetes.io/pid-pressure",
        "node.kubernetes.io/network-unavailable", "PodReadyToStartContainers", "ContainersReady",
        "DisruptionTarget", "kube-root-ca.crt", "/var/run/secrets/kubernetes.io/serviceaccount",
        "metadata.namespace", "ContainerCreating", "CrashLoopBackOff", "ImagePullBackOff",
        "ContainersNotReady", "RunContainerError",
        // Labels and annotations.
        "pod-template-hash", "controller-revision-hash", "pod-template-generation", "statefulset.kubernetes.io/pod-name",
        "apps.kubernetes.io/pod-index", "batch.kubernetes.io/controller-uid", "batch.kubernetes.io/job-name",
        "controller-uid", "batch.kubernetes.io/job-completion-index", "kubernetes.io/hostname", "kubernetes.io/arch",
        "kubernetes.io/os", "beta.kubernetes.io/arch", "beta.kubernetes.io/os", "beta.kubernetes.io/instance-type",
        "node.kubernetes.io/instance-type", "topology.kubernetes.io/zone", "topology.kubernetes.io/region",
        "node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master", "node.alpha.kubernetes.io/ttl",
        "volumes.kubernetes.io/controller-managed-attach-detach", "kubectl.kubernetes.io/last-applied-configuration",
        "kubectl.kubernetes.io/restartedAt", "deployment.kubernetes.io/revision",
        "deployment.kubernetes.io/desired-replicas", "deployment.kubernetes.io/max-replicas",
        "deprecated.daemonset.template.generation", "endpointslice.kubernetes.io/managed-by",
        "endpointslice-controller.k8s.io", "kubernetes.io/service-name", "endpoints.kubernetes.io/last-change-trigger-time",
        "kubernetes.io/service-account.name", "kubernetes.io/service-account.uid", "kubernetes.io/service-account-token",
        "kubernetes.io/metadata.name", "app.kubernetes.io/name", "app.kubernetes.io/instance",
        "app.kubernetes.io/managed-by", "app.kubernetes.io/component", "app.kubernetes.io/part-of",
        "app.kubernetes.io/version", "volume.kubernetes.io/selected-node", "volume.kubernetes.io/storage-provisioner",
        "pv.kubernetes.io/bind-completed", "pv.kubernetes.io/bound-by-controller", "pv.kubernetes.io/provisioned-by",
        "storageclass.kubernetes.io/is-default-class", "rancher.io/local-path", "foregroundDeletion",
        // Groups, versions, kinds, components.
        "coordination.k8s.io/v1", "discovery.k8s.io/v1", "events.k8s.io/v1", "networking.k8s.io/v1",
        "rbac.authorization.k8s.io/v1", "storage.k8s.io/v1", "scheduling.k8s.io/v1", "autoscaling/v2",
        "ControllerRevision", "PersistentVolumeClaim", "PersistentVolume", "ServiceAccount",
        "PodDisruptionBudget", "HorizontalPodAutoscaler", "ReplicationController",
        "kube-node-lease", "deployment-controller", "replicaset-controller", "statefulset-controller",
        "daemonset-controller", "endpoint-controller", "endpoint-slice-controller", "job-controller",
        "cronjob-controller", "node-controller", "taint-eviction-controller", "persistentvolume-controller",
        "disruption-controller", "horizontal-pod-autoscaler", "garbage-collector-controller",
        // Conditions, reasons and messages of Nodes, Deployments and ReplicaSets.
        "KubeletHasSufficientMemory", "KubeletHasNoDiskPressure", "KubeletHasSufficientPID", "MemoryPressure",
        "NetworkUnavailable", "kubelet has sufficient memory available", "kubelet has no disk pressure",
        "kubelet has sufficient PID available", "kubelet is posting ready status", "NodeStatusUnknown",
        "Kubelet stopped posting node status.", "MinimumReplicasAvailable", "Deployment has minimum availability.",
        "NewReplicaSetAvailable", "ReplicaSetUpdated", "FoundNewReplicaSet", "NewReplicaSetCreated",
        "MinimumReplicasUnavailable", "Deployment does not have minimum availability.", "ProgressDeadlineExceeded",
        "ScalingReplicaSet", "SuccessfulCreate", "SuccessfulDelete", "FailedScheduling", "RegisteredNode",
    };
    for (const char* v : kValues) t.insert(v);
    return t;
  }();
  return table;
}

class CacheWatch final : public ObjectWatch {
 public:
  CacheWatch(store::WatchCache& cache, store::WatchCache::WatcherId id) : cache_(cache), id_(id) {}
  ~CacheWatch() override { cache_.Unwatch(id_); }

 private:
  store::WatchCache& cache_;
  store::WatchCache::WatcherId id_;
};

class ObjectStoreImpl final : public ObjectStore {
 public:
  ObjectStoreImpl(http::Loop& loop, store::Backend& backend)
      : loop_(loop), backend_(backend), cache_(CacheOptions()) {}

  static store::WatchCache::Options CacheOptions() {
    store::WatchCache::Options o;
    o.on_parse = [](JsonDoc& doc, const store::KeyValue& kv) { SetResourceVersion(doc, kv.mod_revision); };
    o.keep_raw_value = false;  // every read is served from the parsed objects
    o.interned = &InternedStrings();
    return o;
  }

  ~ObjectStoreImpl() override {
    backend_watch_.reset();
    *alive_ = false;
  }

  Status Start() {
    auto snapshot = backend_.List("", "", 0, 0);
    if (!snapshot.ok()) return snapshot.error().WithContext("loading the store");
    cache_.Init(*snapshot);
    std::shared_ptr<bool> alive = alive_;
    http::Loop* loop = &loop_;
    store::WatchCache* cache = &cache_;
    auto w = backend_.Watch("", snapshot->revision, [loop, cache, alive](const std::vector<store::Event>& events) {
      loop->Post([cache, alive, events]() {
        if (*alive) cache->Apply(events);
      });
    });
    if (!w.ok()) return w.error().WithContext("watching the store");
    backend_watch_ = std::move(*w);
    MINIK_LOG(Info) << "store loaded: " << cache_.size() << " objects at revision " << snapshot->revision;
    return Status::OK();
  }

  ObjectPtr Get(const std::string& key) const override { return cache_.Get(key); }

  Page List(const std::string& prefix, const std::string& start_after, int64_t limit,
            const std::function<bool(const StoredObject&)>& keep) const override {
    Page page;
    if (!keep) {
      auto p = cache_.List(prefix, start_after, limit);
      page.items = std::move(p.items);
      page.revision = p.revision;
      page.more = p.more;
      page.remaining = p.remaining;
      if (!page.items.empty()) page.last_key = page.items.back()->kv.key;
      return page;
    }
    page.revision = cache_.revision();
    std::string cursor = start_after;
    const int64_t chunk = 1024;
    while (true) {
      auto p = cache_.List(prefix, cursor, chunk);
      for (size_t i = 0; i < p.items.size(); ++i) {
        const auto& o = p.items[i];
        if (!o->object || !keep(*o)) continue;
        if (limit > 0 && static_cast<int64_t>(page.items.size()) == limit) {
          page.more = true;
          return page;
        }
        page.items.push_back(o);
        page.last_key = o->kv.key;
      }
      if (!p.more || p.items.empty()) break;
      cursor = p.items.back()->kv.key;
    }
    return page;
  }

  StatusOr<Page> ListAt(const std::string& prefix, const std::string& start_after, int64_t limit, int64_t revision,
                        const std::function<bool(const StoredObject&)>& keep) override {
    Page page;
    page.revision = revision;
    std::string cursor = start_after;
    const int64_t chunk = limit > 0 ? std::max<int64_t>(limit, 256) : 0;
    while (true) {
      auto r = backend_.List(prefix, cursor, chunk, revision);
      if (!r.ok()) return r.error();
      for (const auto& kv : r->kvs) {
        auto obj = std::make_shared<store::CachedObject>(store::CachedObject{kv, Decode(kv)});
        if (!obj->object || (keep && !keep(*obj))) continue;
        if (limit > 0 && static_cast<int64_t>(page.items.size()) == limit) {
          page.more = true;
          return page;
        }
        page.items.push_back(obj);
        page.last_key = kv.key;
      }
      if (!r->more || r->kvs.empty()) break;
      cursor = r->kvs.back().key;
    }
    return page;
  }

  void Create(const std::string& key, const JsonValue& obj, Done done) override {
    Write(store::Op{store::Op::Type::kCreate, key, ToJson(obj), 0}, std::move(done));
  }
  void Update(const std::string& key, const JsonValue& obj, int64_t expected, Done done) override {
    Write(store::Op{store::Op::Type::kUpdate, key, ToJson(obj), expected}, std::move(done));
  }
  void Delete(const std::string& key, int64_t expected, Done done) override {
    Write(store::Op{store::Op::Type::kDelete, key, "", expected}, std::move(done));
  }

  int64_t revision() const override { return cache_.revision(); }

  StatusOr<ObjectWatchPtr> Watch(const std::string& prefix, int64_t from_revision,
                                 std::function<void(const WatchEventPtr&)> fn) override {
    auto id = cache_.Watch(prefix, from_revision > 0 ? from_revision : -1, std::move(fn));
    if (!id.ok()) {
      return Status::Expired("too old resource version: " + std::to_string(from_revision) + " (" +
                             std::to_string(cache_.OldestWatchableRevision()) + ")");
    }
    return ObjectWatchPtr(std::make_unique<CacheWatch>(cache_, *id));
  }

 private:
  void Write(store::Op op, Done done) {
    std::string key = op.key;
    std::shared_ptr<bool> alive = alive_;
    http::Loop* loop = &loop_;
    store::WatchCache* cache = &cache_;
    backend_.Submit(std::move(op), [loop, cache, alive, key, done = std::move(done)](StatusOr<store::KeyValue> r) mutable {
      // Posted after the batch's events, so the cache has applied this write when it runs.
      loop->Post([cache, alive, key, done = std::move(done), r = std::move(r)]() {
        if (!*alive) return;
        if (!r.ok()) return done(r.error());
        ObjectPtr cached = cache->Get(key);
        if (cached && cached->kv.mod_revision == r->mod_revision) return done(cached);
        auto obj = Decode(*r);
        if (!obj) return done(Status::Internal("stored object for " + key + " is not valid JSON"));
        done(ObjectPtr(std::make_shared<store::CachedObject>(store::CachedObject{*r, std::move(obj)})));
      });
    });
  }

  http::Loop& loop_;
  store::Backend& backend_;
  store::WatchCache cache_;
  store::WatchHandlePtr backend_watch_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace

ObjectPtr MakeStoredObject(const std::string& key, int64_t revision, std::shared_ptr<const JsonDoc> object) {
  store::KeyValue kv;
  kv.key = key;
  kv.mod_revision = revision;
  return std::make_shared<store::CachedObject>(store::CachedObject{kv, std::move(object)});
}

StatusOr<std::unique_ptr<ObjectStore>> ObjectStore::Open(http::Loop& loop, store::Backend& backend) {
  auto s = std::make_unique<ObjectStoreImpl>(loop, backend);
  MINIK_RETURN_IF_ERROR(s->Start());
  return std::unique_ptr<ObjectStore>(std::move(s));
}

}  // namespace minik::server
