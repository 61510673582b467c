// Parsing of one manifest file into Kubernetes objects (pure logic, no I/O).
//
// Threading: free functions, any thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace minik::server {

// True for the names the deployer applies: "*.yaml", "*.yml", "*.json", not dotfiles.
bool IsManifestFileName(std::string_view name);

// The objects of a manifest file. `name` picks the format: ".json" files hold one JSON object
// (or a "kind: List" with items); YAML files hold one or more documents separated by "---",
// each an object or a List. Empty documents are skipped. Every object must carry apiVersion,
// kind and metadata.name; otherwise the whole file is rejected (BadRequest) with upstream's
// decoder message (`Object 'Kind' is missing in '{...}'`).
StatusOr<std::vector<JsonDoc>> ParseManifest(std::string_view name, std::string_view content);

}  // namespace minik::server
