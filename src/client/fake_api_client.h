// An in-memory ApiClient for controller, informer and leader-election tests: an object store
// with resourceVersions, watch fan-out (with history, so watches resume from a revision, and
// compaction, so they can expire), optimistic concurrency, finalizers, and a recorded list of
// every call.
//
// Callbacks run synchronously, inside the call (a write's watch events first, then its
// callback): tests need neither a loop nor sleeps. Deviations from the real server: no schema
// (no defaulting or validation), strategic merge patch is applied as a JSON merge patch, a
// main-resource update always keeps the stored status (as for resources with a status
// subresource), and List's kind is "List".
//
// Threading: one thread (the test's).
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "client/api_client.h"
#include "common/clock.h"

namespace minik::client {

class FakeApiClient final : public ApiClient {
 public:
  // clock (optional) stamps creationTimestamp and deletionTimestamp.
  explicit FakeApiClient(const Clock* clock = nullptr);
  ~FakeApiClient() override;

  struct Action {
    std::string verb;  // "get", "list", "watch", "create", "update", "patch", "delete"
    ResourceRef resource;
    std::string ns;
    std::string name;
    std::string subresource;
    std::string body;  // the object, patch, or DeleteOptions sent (JSON); "" for reads
    bool IsWrite() const { return verb != "get" && verb != "list" && verb != "watch"; }
    // "create pods ns/name", "update pods/status ns/name" (for readable assertions).
    std::string ToString() const;
  };
  const std::vector<Action>& actions() const { return actions_; }
  std::vector<Action> writes() const;
  void ClearActions() { actions_.clear(); }
  // Called before each action is served; a non-OK Status fails the call with it (fault
  // injection). nullptr removes it.
  void SetReactor(std::function<Status(const Action&)> reactor) { reactor_ = std::move(reactor); }
  // Answers creates itself (subresource POSTs such as serviceaccounts/<name>/token): when it
  // returns true, *answer is the call's result and nothing is stored. nullptr removes it.
  using CreateResponder = std::function<bool(const Action&, StatusOr<JsonDoc>* answer)>;
  void SetCreateResponder(CreateResponder responder) { create_responder_ = std::move(responder); }

  // Stores obj as a create would (uid, resourceVersion, ...), without recording an action, and
  // notifies watchers. Returns the stored object, or the create's error.
  StatusOr<std::shared_ptr<const JsonDoc>> Seed(const ResourceRef& res, const JsonValue& obj);
  // The stored object, or nullptr.
  std::shared_ptr<const JsonDoc> Find(const ResourceRef& res, const std::string& ns, const std::string& name) const;
  int64_t revision() const { return revision_; }

  // Forgets the event history up to now: watches from an older revision fail with Expired.
  void Compact();
  // Ends every open watch with st (OK = a normal end, as at timeoutSeconds).
  void CloseWatches(Status st);
  // Sends a BOOKMARK at the current revision to watches that allow them.
  void SendBookmarks();
  size_t open_watches() const;

  void Get(const ResourceRef& res, const std::string& ns, const std::string& name, ObjectCallback cb) override;
  void List(const ResourceRef& res, const std::string& ns, const ListOptions& opts, ObjectCallback cb) override;
  void Create(const ResourceRef& res, const std::string& ns, const JsonValue& obj, ObjectCallback cb) override;
  void Update(const ResourceRef& res, const std::string& ns, const JsonValue& obj, const std::string& subresource,
              ObjectCallback cb) override;
  void Patch(const ResourceRef& res, const std::string& ns, const std::string& name, PatchType type,
             std::string patch, const std::string& subresource, ObjectCallback cb) override;
  void Delete(const ResourceRef& res, const std::string& ns, const std::string& name, const DeleteOptions& opts,
              ObjectCallback cb) override;
  http::HandlePtr Watch(const ResourceRef& res, const std::string& ns, const WatchOptions& opts,
                        WatchCallbacks cbs) override;

  struct Watcher;

 private:
  using ObjPtr = std::shared_ptr<const JsonDoc>;
  struct Event {
    int64_t revision;
    std::string gr;
    ObjPtr prev;  // null for a create
    ObjPtr obj;   // the new state (the last state for a delete)
    bool deleted;
  };

  StatusOr<ObjPtr> DoCreate(const ResourceRef& res, const std::string& ns, const JsonValue& obj);
  StatusOr<ObjPtr> DoUpdate(const ResourceRef& res, const std::string& ns, const JsonValue& obj,
                            const std::string& subresource);
  StatusOr<ObjPtr> DoDelete(const ResourceRef& res, const std::string& ns, const std::string& name,
                            const DeleteOptions& opts);
  // Stores (or removes) and fans out the event.
  void Commit(const std::string& gr, const std::string& key, ObjPtr prev, ObjPtr obj, bool deleted);
  void Deliver(const Event& ev);
  Status React(const Action& a);
  std::string NextUid();

  const Clock* clock_;
  int64_t revision_ = 0;
  int64_t compacted_ = 0;
  uint64_t uid_seq_ = 0;
  uint64_t name_seq_ = 0;
  // group-resource -> "namespace/name" -> object
  std::map<std::string, std::map<std::string, ObjPtr>> objects_;
  std::vector<Event> history_;
  std::deque<Event> pending_;
  bool delivering_ = false;
  std::vector<std::shared_ptr<Watcher>> watchers_;
  std::vector<Action> actions_;
  std::function<Status(const Action&)> reactor_;
  CreateResponder create_responder_;
};

// Label selector matching (equality- and set-based: a=b, a==b, a!=b, a in (x,y), a notin (x),
// a, !a). BadRequest for a malformed selector.
StatusOr<bool> MatchesLabelSelector(std::string_view selector, const JsonValue& obj);
// Field selector matching (a.b=c, a.b==c, a.b!=c over the object's fields as strings).
StatusOr<bool> MatchesFieldSelector(std::string_view selector, const JsonValue& obj);
// RFC 7386 JSON merge patch, applied in place.
void ApplyMergePatch(JsonValue& target, const JsonValue& patch, JsonAlloc& a);
// RFC 6902 JSON patch (add, remove, replace, test, move, copy), applied in place.
Status ApplyJsonPatch(JsonValue& target, const JsonValue& patch, JsonAlloc& a);

}  // namespace minik::client
