// The narrow, synchronous view of the API that the manifests deployer needs. The server
// implements it over its in-process API (the same handlers kubectl reaches); tests use a fake.
//
// Threading: called only from the deployer's own thread; implementations block until the API
// answered. Objects are JSON (apiVersion, kind, metadata, ...). Errors are the API's Status
// (NotFound, AlreadyExists, Conflict, Invalid, ... with upstream messages).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/json.h"
#include "common/status.h"

namespace minik::server {

struct ObjectRef {
  std::string api_version;  // "apps/v1"
  std::string kind;         // "Deployment"
  std::string namespace_;   // "" for cluster-scoped kinds (or "default" filled by the server)
  std::string name;
  bool operator==(const ObjectRef&) const = default;
};

class ObjectClient {
 public:
  virtual ~ObjectClient() = default;
  // True if kind is served and namespaced; NotFound with upstream's message otherwise
  // (`no matches for kind "Foo" in version "v1"`).
  virtual StatusOr<bool> IsNamespaced(std::string_view api_version, std::string_view kind) = 0;
  virtual StatusOr<JsonDoc> Get(const ObjectRef& ref) = 0;
  virtual StatusOr<JsonDoc> Create(const JsonValue& obj) = 0;
  // Replaces the object; obj carries metadata.resourceVersion for optimistic concurrency.
  virtual StatusOr<JsonDoc> Update(const JsonValue& obj) = 0;
  virtual Status Delete(const ObjectRef& ref) = 0;
  // Records a core/v1 Event in kube-system about the deployer's work (type Normal or Warning,
  // reason e.g. AppliedManifest / ApplyManifestFailed), involvedObject being the manifest file
  // (as k3s does with its Addon objects; here: kind "Manifest"? see the deployer's choice).
  virtual Status RecordEvent(std::string_view type, std::string_view reason, std::string_view message,
                             const ObjectRef& involved) = 0;
};

using ObjectClientPtr = std::unique_ptr<ObjectClient>;

}  // namespace minik::server
