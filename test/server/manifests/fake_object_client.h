// An in-memory ObjectClient for the deployer's tests: records every call, assigns uid and
// resourceVersion, enforces optimistic concurrency and namespace existence, defaults a few
// fields the way the API server does, and can inject errors. Thread-safe (the deployer calls
// it from its own thread in the inotify test); WaitFor() blocks on a condition variable.
#pragma once

#include <cctype>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "common/json.h"
#include "server/manifests/object_client.h"

namespace minik::server::testing {

struct RecordedEvent {
  std::string type, reason, message;
  ObjectRef involved;
};

class FakeObjectClient : public ObjectClient {
 public:
  FakeObjectClient() {
    // kind -> namespaced
    kinds_["v1/ConfigMap"] = true;
    kinds_["v1/Secret"] = true;
    kinds_["v1/Service"] = true;
    kinds_["v1/Namespace"] = false;
    kinds_["storage.k8s.io/v1/StorageClass"] = false;
    kinds_["apps/v1/Deployment"] = true;
    kinds_["rbac.authorization.k8s.io/v1/ClusterRoleBinding"] = false;
    for (const char* ns : {"default", "kube-system"}) namespaces_.insert({ns, true});
  }

  StatusOr<bool> IsNamespaced(std::string_view api_version, std::string_view kind) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = kinds_.find(std::string(api_version) + "/" + std::string(kind));
    if (it == kinds_.end()) {
      return Status::NotFound("no matches for kind \"" + std::string(kind) + "\" in version \"" +
                              std::string(api_version) + "\"");
    }
    return it->second;
  }

  StatusOr<JsonDoc> Get(const ObjectRef& ref) override {
    std::lock_guard<std::mutex> lock(mu_);
    calls_.push_back("get " + Key(ref));
    auto it = objects_.find(Key(ref));
    if (it == objects_.end()) return Status::NotFound(Plural(ref.kind) + " \"" + ref.name + "\" not found");
    return Copy(it->second);
  }

  StatusOr<JsonDoc> Create(const JsonValue& obj) override {
    std::lock_guard<std::mutex> lock(mu_);
    ObjectRef ref = RefOf(obj);
    calls_.push_back("create " + Key(ref));
    bodies_.push_back(ToJson(obj));
    if (!ref.namespace_.empty() && !namespaces_.count(ref.namespace_)) {
      return Status::NotFound("namespaces \"" + ref.namespace_ + "\" not found");
    }
    if (objects_.count(Key(ref))) return Status::AlreadyExists(Plural(ref.kind) + " \"" + ref.name + "\" already exists");
    JsonDoc doc = Copy(obj);
    JsonAlloc& a = doc.GetAllocator();
    JsonValue& meta = EnsureObject(doc, "metadata", a);
    SetString(meta, "uid", "uid-" + std::to_string(++uid_), a);
    SetString(meta, "resourceVersion", std::to_string(++rv_), a);
    SetString(meta, "creationTimestamp", "2026-01-01T00:00:00Z", a);
    Default(doc);
    if (ref.kind == "Namespace") namespaces_[ref.name] = true;
    objects_[Key(ref)] = Copy(doc);
    cv_.notify_all();
    return doc;
  }

  StatusOr<JsonDoc> Update(const JsonValue& obj) override {
    std::lock_guard<std::mutex> lock(mu_);
    ObjectRef ref = RefOf(obj);
    calls_.push_back("update " + Key(ref));
    bodies_.push_back(ToJson(obj));
    auto it = objects_.find(Key(ref));
    if (it == objects_.end()) return Status::NotFound(Plural(ref.kind) + " \"" + ref.name + "\" not found");
    if (conflicts_to_inject_ > 0) {
      --conflicts_to_inject_;
      // Someone else wrote in between: bump the stored version.
      SetString(*MutableMember(it->second, "metadata"), "resourceVersion", std::to_string(++rv_),
                it->second.GetAllocator());
    }
    auto rv = Path(obj, {"metadata", "resourceVersion"});
    auto cur = Path(it->second, {"metadata", "resourceVersion"});
    if (!rv || !cur || *rv != *cur) {
      return Status::Conflict("Operation cannot be fulfilled on " + Plural(ref.kind) + " \"" + ref.name +
                              "\": the object has been modified; please apply your changes to the latest "
                              "version and try again");
    }
    if (!update_error_.ok()) return update_error_;
    JsonDoc doc = Copy(obj);
    SetString(*MutableMember(doc, "metadata"), "resourceVersion", std::to_string(++rv_), doc.GetAllocator());
    Default(doc);
    it->second = Copy(doc);
    cv_.notify_all();
    return doc;
  }

  Status Delete(const ObjectRef& ref) override {
    std::lock_guard<std::mutex> lock(mu_);
    calls_.push_back("delete " + Key(ref));
    if (!objects_.erase(Key(ref))) return Status::NotFound(Plural(ref.kind) + " \"" + ref.name + "\" not found");
    cv_.notify_all();
    return Status::OK();
  }

  Status RecordEvent(std::string_view type, std::string_view reason, std::string_view message,
                     const ObjectRef& involved) override {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back({std::string(type), std::string(reason), std::string(message), involved});
    cv_.notify_all();
    return Status::OK();
  }

  // ---- test helpers ----
  static std::string Key(const ObjectRef& r) {
    return r.api_version + "/" + r.kind + " " + (r.namespace_.empty() ? "" : r.namespace_ + "/") + r.name;
  }
  // Writes an object directly (as kubectl would), bypassing the deployer.
  void Put(std::string_view json) {
    std::lock_guard<std::mutex> lock(mu_);
    JsonDoc doc = ParseJson(json).value();
    SetString(*MutableMember(doc, "metadata"), "resourceVersion", std::to_string(++rv_), doc.GetAllocator());
    ObjectRef ref = RefOf(doc);
    if (ref.kind == "Namespace") namespaces_[ref.name] = true;
    objects_[Key(ref)] = Copy(doc);
  }
  // The stored object, or a null document.
  JsonDoc Object(const std::string& key) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = objects_.find(key);
    return it == objects_.end() ? JsonDoc() : Copy(it->second);
  }
  bool Has(const std::string& key) { return !Object(key).IsNull(); }
  // Calls other than "get", in order; cleared by Reset().
  std::vector<std::string> Writes() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::string> out;
    for (const auto& c : calls_) {
      if (c.rfind("get ", 0) != 0) out.push_back(c);
    }
    return out;
  }
  std::vector<std::string> Bodies() {
    std::lock_guard<std::mutex> lock(mu_);
    return bodies_;
  }
  std::vector<RecordedEvent> Events() {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }
  void Reset() {
    std::lock_guard<std::mutex> lock(mu_);
    calls_.clear();
    bodies_.clear();
    events_.clear();
  }
  void InjectConflicts(int n) {
    std::lock_guard<std::mutex> lock(mu_);
    conflicts_to_inject_ = n;
  }
  void SetUpdateError(Status s) {
    std::lock_guard<std::mutex> lock(mu_);
    update_error_ = std::move(s);
  }
  // Blocks until pred() holds (checked under the lock after every change) or the timeout.
  bool WaitFor(std::chrono::milliseconds timeout, const std::function<bool()>& pred) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] {
      lock.unlock();
      bool ok = pred();
      lock.lock();
      return ok;
    });
  }

 private:
  static ObjectRef RefOf(const JsonValue& obj) {
    ObjectRef r;
    r.api_version = std::string(GetString(obj, "apiVersion").value_or(""));
    r.kind = std::string(GetString(obj, "kind").value_or(""));
    if (const JsonValue* m = Member(obj, "metadata")) {
      r.namespace_ = std::string(GetString(*m, "namespace").value_or(""));
      r.name = std::string(GetString(*m, "name").value_or(""));
    }
    return r;
  }
  static std::string Plural(const std::string& kind) {
    std::string s;
    for (char c : kind) s.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    return s + "s";
  }
  static JsonDoc Copy(const JsonValue& v) {
    JsonDoc d;
    d.CopyFrom(v, d.GetAllocator());
    return d;
  }
  // What the API server defaults on a Service: protocol on each port, a clusterIP.
  static void Default(JsonDoc& doc) {
    if (GetString(doc, "kind").value_or("") != "Service") return;
    JsonAlloc& a = doc.GetAllocator();
    JsonValue& spec = EnsureObject(doc, "spec", a);
    if (!Member(spec, "clusterIP")) SetString(spec, "clusterIP", "10.43.0.20", a);
    if (JsonValue* ports = MutableMember(spec, "ports"); ports && ports->IsArray()) {
      for (JsonValue& p : ports->GetArray()) {
        if (!Member(p, "protocol")) SetString(p, "protocol", "TCP", a);
      }
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, bool> kinds_;
  std::map<std::string, bool> namespaces_;
  std::map<std::string, JsonDoc> objects_;
  std::vector<std::string> calls_;
  std::vector<std::string> bodies_;
  std::vector<RecordedEvent> events_;
  int conflicts_to_inject_ = 0;
  Status update_error_;
  int uid_ = 0;
  int rv_ = 0;
};

}  // namespace minik::server::testing
