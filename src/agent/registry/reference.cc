#include "agent/registry/reference.h"

#include "agent/images/reference.h"

namespace minik::agent::registry {

// One grammar for the whole agent: the image store's parser (images/reference.h); here only the
// registry's view of it (a digest wins over a tag, as ParseDockerRef does).
StatusOr<Reference> ParseReference(const std::string& ref) {
  auto parsed = images::ParseReference(ref);
  if (!parsed.ok()) return parsed.error();
  Reference r;
  r.domain = parsed->domain;
  r.repository = parsed->path;
  r.digest = parsed->digest;
  if (r.digest.empty()) r.tag = parsed->tag.empty() ? "latest" : parsed->tag;
  return r;
}

std::string Reference::String() const {
  return digest.empty() ? Name() + ":" + tag : Name() + "@" + digest;
}

bool IsSha256Digest(const std::string& digest) { return images::IsDigest(digest); }

}  // namespace minik::agent::registry
