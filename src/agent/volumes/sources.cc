#include "agent/volumes/sources.h"

#include <set>

#include "agent/volumes/pod_util.h"

namespace minik::agent::volumes {

using internal::Array;
using internal::Object;
using internal::Str;

namespace {

std::string Key(const std::string& kind, const std::string& ns, const std::string& name) {
  return kind + "/" + ns + "/" + name;
}

}  // namespace

void MapObjectSource::Add(ObjectPtr obj) {
  if (!obj || !obj->IsObject()) return;
  std::string kind = internal::Kind(*obj);
  Add(kind, std::move(obj));
}

void MapObjectSource::Add(const std::string& kind, ObjectPtr obj) {
  if (!obj || !obj->IsObject()) return;
  const JsonValue* meta = Object(obj.get(), "metadata");
  std::string ns = kind == "PersistentVolume" ? std::string() : Str(meta, "namespace");
  objects_[Key(kind, ns, Str(meta, "name"))] = std::move(obj);
}

Status MapObjectSource::AddJson(std::string_view json) {
  auto doc = ParseJson(json);
  if (!doc.ok()) return doc.status();
  Add(std::make_shared<const JsonDoc>(std::move(doc).value()));
  return Status::OK();
}

void MapObjectSource::Remove(const std::string& kind, const std::string& ns, const std::string& name) {
  objects_.erase(Key(kind, ns, name));
}

ObjectPtr MapObjectSource::Find(const std::string& kind, const std::string& ns, const std::string& name) const {
  auto it = objects_.find(Key(kind, ns, name));
  return it == objects_.end() ? nullptr : it->second;
}

ObjectPtr MapObjectSource::ConfigMap(const std::string& ns, const std::string& name) const {
  return Find("ConfigMap", ns, name);
}
ObjectPtr MapObjectSource::Secret(const std::string& ns, const std::string& name) const {
  return Find("Secret", ns, name);
}
ObjectPtr MapObjectSource::PersistentVolumeClaim(const std::string& ns, const std::string& name) const {
  return Find("PersistentVolumeClaim", ns, name);
}
ObjectPtr MapObjectSource::PersistentVolume(const std::string& name) const {
  return Find("PersistentVolume", "", name);
}

std::shared_ptr<MapObjectSource> SnapshotReferencedObjects(const JsonValue& pod, const ObjectSource& live) {
  auto snap = std::make_shared<MapObjectSource>();
  std::string ns = Str(Object(&pod, "metadata"), "namespace");
  std::set<std::string> cms, secrets, pvcs;
  internal::ForEachContainer(pod, [&](const JsonValue& c) {
    if (const JsonValue* from = Array(&c, "envFrom")) {
      for (const auto& f : from->GetArray()) {
        if (auto n = Str(Object(&f, "configMapRef"), "name"); !n.empty()) cms.insert(n);
        if (auto n = Str(Object(&f, "secretRef"), "name"); !n.empty()) secrets.insert(n);
      }
    }
    if (const JsonValue* env = Array(&c, "env")) {
      for (const auto& e : env->GetArray()) {
        const JsonValue* vf = Object(&e, "valueFrom");
        if (auto n = Str(Object(vf, "configMapKeyRef"), "name"); !n.empty()) cms.insert(n);
        if (auto n = Str(Object(vf, "secretKeyRef"), "name"); !n.empty()) secrets.insert(n);
      }
    }
  });
  if (const JsonValue* vols = Array(Object(&pod, "spec"), "volumes")) {
    for (const auto& v : vols->GetArray()) {
      if (auto n = Str(Object(&v, "configMap"), "name"); !n.empty()) cms.insert(n);
      if (auto n = Str(Object(&v, "secret"), "secretName"); !n.empty()) secrets.insert(n);
      if (auto n = Str(Object(&v, "persistentVolumeClaim"), "claimName"); !n.empty()) pvcs.insert(n);
      if (const JsonValue* srcs = Array(Object(&v, "projected"), "sources")) {
        for (const auto& s : srcs->GetArray()) {
          if (auto n = Str(Object(&s, "configMap"), "name"); !n.empty()) cms.insert(n);
          if (auto n = Str(Object(&s, "secret"), "name"); !n.empty()) secrets.insert(n);
        }
      }
    }
  }
  for (const auto& n : cms) snap->Add("ConfigMap", live.ConfigMap(ns, n));
  for (const auto& n : secrets) snap->Add("Secret", live.Secret(ns, n));
  for (const auto& n : pvcs) {
    ObjectPtr pvc = live.PersistentVolumeClaim(ns, n);
    if (!pvc) continue;
    snap->Add("PersistentVolumeClaim", pvc);
    std::string pv = Str(Object(pvc.get(), "spec"), "volumeName");
    if (!pv.empty()) snap->Add("PersistentVolume", live.PersistentVolume(pv));
  }
  return snap;
}

}  // namespace minik::agent::volumes
