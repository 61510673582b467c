// Per-kind rules of upstream's generic registry strategies (PrepareForCreate/PrepareForUpdate,
// generation, status handling, QoS class). Pure functions; any thread.
#pragma once

#include "api/registry.h"
#include "common/json.h"

namespace minik::server {

// Kinds whose metadata.generation upstream maintains (1 at create, +1 on spec changes).
bool HasGeneration(const api::ResourceInfo& info);
// Resets status as upstream does on create (pods: Pending + qosClass, namespaces: Active, ...).
void PrepareForCreate(const api::ResourceInfo& info, JsonValue& obj, JsonAlloc& a);
// Carries over what the request may not change. status_only: a write to /status (only status
// is taken from obj); otherwise status is kept from old when the kind has a status subresource.
// Bumps generation when the spec changed.
void PrepareForUpdate(const api::ResourceInfo& info, JsonValue& obj, const JsonValue& old, bool status_only,
                      JsonAlloc& a);
// Drops metadata fields that are empty, as Go's omitempty does when upstream serializes
// (labels {}, annotations {}, finalizers [], ownerReferences [], managedFields []).
void DropEmptyMetadata(JsonValue& obj);
// "Guaranteed", "Burstable" or "BestEffort" for a pod spec.
std::string PodQosClass(const JsonValue& pod);
// True when two JSON values are equal (objects compared regardless of member order).
bool JsonEqual(const JsonValue& a, const JsonValue& b);
// True when obj, which carries no metadata.resourceVersion, equals the stored object apart from
// its resourceVersion: the write would change nothing (no copy of either is made).
bool SameAsStored(const JsonValue& stored, const JsonValue& obj);

}  // namespace minik::server
