// List and watch helpers: label/field selector filters, continue tokens, Table encoding.
// Pure functions; any thread.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "api/registry.h"
#include "common/clock.h"
#include "common/json.h"
#include "common/status.h"
#include "server/object_store.h"

namespace minik::server {

struct ListFilter {
  std::function<bool(const JsonValue&)> match;
  bool selects_all = true;
  // The name a metadata.name=X term requires: nothing else can match, so a list or watch in one
  // namespace (or of a cluster-scoped kind) reads that one key instead of filtering them all.
  std::optional<std::string> name;
  bool operator()(const JsonValue& obj) const { return selects_all || match(obj); }
};

// BadRequest with upstream's messages for malformed selectors or unsupported field labels.
StatusOr<ListFilter> MakeListFilter(const api::ResourceInfo& info, const std::string& label_selector,
                                    const std::string& field_selector);

// The objects under prefix that filter keeps, after start_after, at most limit (0 = all), from
// the store's current state. one_scope: prefix is one namespace's, or a cluster-scoped kind's; a
// filter that pins the name then reads that one key instead of scanning the prefix.
ObjectStore::Page ListKept(const ObjectStore& store, const std::string& prefix, bool one_scope,
                           const std::string& start_after, int64_t limit, const ListFilter& filter);

// The value of a selectable field of obj ("spec.nodeName" -> "node1"; missing -> "").
std::string FieldValue(const JsonValue& obj, std::string_view field);

struct ContinueToken {
  int64_t revision = 0;  // -1: continue from the newest state (after a 410)
  std::string start;  // key (relative to the list prefix) the next page starts after
};
// Upstream's format: base64url of {"v":"meta.k8s.io/v1","rv":N,"start":"key"}.
std::string EncodeContinue(int64_t revision, const std::string& start_after_relative);
StatusOr<ContinueToken> DecodeContinue(const std::string& token, const std::string& prefix);

// A meta.k8s.io Table for objects. remaining < 0 leaves remainingItemCount out.
// include_object: "" / "Metadata" (PartialObjectMetadata), "None", "Object".
std::string EncodeTable(const api::ResourceInfo& info, const std::vector<ObjectPtr>& objects,
                        const std::string& resource_version, const std::string& continue_token,
                        int64_t remaining, const std::string& include_object, TimePoint now, bool headers);

}  // namespace minik::server
