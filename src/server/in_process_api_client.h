// The ApiClient of the controllers and the scheduler inside `minik server`: the REST client over
// the in-process transport (every write goes through the API server's full pipeline), except
// that watches of a whole resource read the watch cache directly and hand out the cache's own
// immutable objects. An informer inside the server then shares each object with the watch
// cache instead of holding a second parsed copy (and no event is serialized and parsed again
// per watcher): with 30,000 pods, one copy of each instead of two.
//
// The shortcut applies to watches without label or field selectors, from an explicit
// resourceVersion, of resources served in their storage version; other watches, and all
// lists and writes, take the REST path. It has no timeout and sends no bookmarks (an informer
// needs neither); a resourceVersion older than the cache's history ends the watch with
// Expired, as the API does.
//
// Threading: the loop thread (the ApiServer's and the ObjectStore's).
#pragma once

#include <memory>

#include "api/registry.h"
#include "client/rest_api_client.h"
#include "http/loop.h"
#include "server/api_server.h"
#include "server/object_store.h"

namespace minik::server {

class InProcessApiClient final : public client::RestApiClient {
 public:
  InProcessApiClient(http::Loop& loop, ApiServer& api, ObjectStore& store, const api::Registry& registry);

  http::HandlePtr Watch(const client::ResourceRef& res, const std::string& ns, const client::WatchOptions& opts,
                        client::WatchCallbacks cbs) override;

  // Watches served from the cache so far (for tests).
  int direct_watches() const { return direct_watches_; }

 private:
  http::Loop& loop_;
  ObjectStore& store_;
  const api::Registry& registry_;
  int direct_watches_ = 0;
};

}  // namespace minik::server
