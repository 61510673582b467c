#include "client/fake_api_client.h"

#include <cstdio>
#include <set>

#include "common/strings.h"

namespace minik::client {

namespace {

using ObjPtr = std::shared_ptr<const JsonDoc>;

std::string Quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

Status NotFound(const ResourceRef& res, std::string_view name) {
  Status s = Status::NotFound(res.GroupResource() + " " + Quoted(name) + " not found");
  StatusDetails d;
  d.name = std::string(name);
  d.group = res.group;
  d.kind = res.plural;
  s.SetDetails(std::move(d));
  return s;
}

Status Conflict(const ResourceRef& res, std::string_view name, std::string_view reason) {
  return Status::Conflict("Operation cannot be fulfilled on " + res.GroupResource() + " " + Quoted(name) + ": " +
                          std::string(reason));
}

constexpr std::string_view kOptimisticLock =
    "the object has been modified; please apply your changes to the latest version and try again";

std::shared_ptr<JsonDoc> Copy(const JsonValue& v) {
  auto d = std::make_shared<JsonDoc>();
  d->CopyFrom(v, d->GetAllocator());
  return d;
}

JsonDoc CopyDoc(const JsonValue& v) {
  JsonDoc d;
  d.CopyFrom(v, d.GetAllocator());
  return d;
}

std::string ValueString(const JsonValue& v) {
  if (v.IsString()) return std::string(v.GetString(), v.GetStringLength());
  if (v.IsBool()) return v.GetBool() ? "true" : "false";
  if (v.IsNull()) return "";
  return ToJson(v);
}

// Everything but metadata and status, to tell spec changes (generation) apart.
bool SameSpec(const JsonValue& a, const JsonValue& b) {
  auto count = [](const JsonValue& o) {
    size_t n = 0;
    for (const auto& m : o.GetObject()) {
      std::string_view k(m.name.GetString(), m.name.GetStringLength());
      if (k != "metadata" && k != "status") ++n;
    }
    return n;
  };
  if (!a.IsObject() || !b.IsObject()) return a == b;
  if (count(a) != count(b)) return false;
  for (const auto& m : a.GetObject()) {
    std::string_view k(m.name.GetString(), m.name.GetStringLength());
    if (k == "metadata" || k == "status") continue;
    const JsonValue* o = Member(b, k);
    if (!o || !(*o == m.value)) return false;
  }
  return true;
}

bool HasFinalizers(const JsonValue& obj) {
  const JsonValue* f = Path(obj, {"metadata", "finalizers"});
  return f && f->IsArray() && !f->Empty();
}

}  // namespace

// ---- selectors and patches ----------------------------------------------------------------

StatusOr<bool> MatchesLabelSelector(std::string_view selector, const JsonValue& obj) {
  const JsonValue* labels = Path(obj, {"metadata", "labels"});
  auto label = [&](std::string_view k) -> std::optional<std::string_view> {
    if (!labels || !labels->IsObject()) return std::nullopt;
    return GetString(*labels, k);
  };
  // Split on commas outside parentheses.
  std::vector<std::string_view> reqs;
  int depth = 0;
  size_t start = 0;
  for (size_t i = 0; i <= selector.size(); ++i) {
    if (i == selector.size() || (selector[i] == ',' && depth == 0)) {
      auto r = Trim(selector.substr(start, i - start));
      if (!r.empty()) reqs.push_back(r);
      start = i + 1;
    } else if (selector[i] == '(') {
      ++depth;
    } else if (selector[i] == ')') {
      --depth;
    }
  }
  for (std::string_view r : reqs) {
    auto bad = [&]() { return Status::BadRequest("unable to parse requirement: " + std::string(r)); };
    if (r[0] == '!') {
      if (label(Trim(r.substr(1)))) return false;
      continue;
    }
    size_t op = r.find_first_of("=!");
    size_t sp = r.find(' ');
    if (op != std::string_view::npos && (sp == std::string_view::npos || op < sp)) {
      std::string_view key = Trim(r.substr(0, op));
      bool neg = r[op] == '!';
      size_t vstart = op + 1;
      if (neg) {
        if (vstart >= r.size() || r[vstart] != '=') return bad();
        ++vstart;
      } else if (vstart < r.size() && r[vstart] == '=') {
        ++vstart;
      }
      std::string_view val = Trim(r.substr(vstart));
      auto have = label(key);
      bool eq = have && *have == val;
      if (neg ? eq : !eq) return false;
      continue;
    }
    if (sp == std::string_view::npos) {
      if (!label(r)) return false;
      continue;
    }
    std::string_view key = Trim(r.substr(0, sp));
    std::string_view rest = Trim(r.substr(sp));
    bool notin = false;
    if (rest.substr(0, 5) == "notin") {
      notin = true;
      rest = Trim(rest.substr(5));
    } else if (rest.substr(0, 2) == "in") {
      rest = Trim(rest.substr(2));
    } else {
      return bad();
    }
    if (rest.size() < 2 || rest.front() != '(' || rest.back() != ')') return bad();
    bool found = false;
    auto have = label(key);
    for (auto v : Split(rest.substr(1, rest.size() - 2), ',')) {
      if (have && *have == Trim(v)) found = true;
    }
    if (notin ? found : !found) return false;
  }
  return true;
}

StatusOr<bool> MatchesFieldSelector(std::string_view selector, const JsonValue& obj) {
  for (auto r : Split(selector, ',')) {
    r = Trim(r);
    if (r.empty()) continue;
    size_t op = r.find_first_of("=!");
    if (op == std::string_view::npos) return Status::BadRequest("invalid selector: '" + std::string(selector) + "'");
    bool neg = r[op] == '!';
    std::string_view path = r.substr(0, op);
    size_t vstart = op + 1;
    if (neg || (vstart < r.size() && r[vstart] == '=')) ++vstart;
    std::string_view want = r.substr(std::min(vstart, r.size()));
    const JsonValue* cur = &obj;
    for (auto part : Split(path, '.')) {
      cur = cur ? Member(*cur, part) : nullptr;
    }
    std::string have = cur ? ValueString(*cur) : "";
    if (neg ? have == want : have != want) return false;
  }
  return true;
}

void ApplyMergePatch(JsonValue& target, const JsonValue& patch, JsonAlloc& a) {
  if (!patch.IsObject()) {
    target.CopyFrom(patch, a);
    return;
  }
  if (!target.IsObject()) target.SetObject();
  for (const auto& m : patch.GetObject()) {
    std::string_view name(m.name.GetString(), m.name.GetStringLength());
    if (m.value.IsNull()) {
      RemoveMember(target, name);
      continue;
    }
    JsonValue* t = MutableMember(target, name);
    if (!t) {
      target.AddMember(MakeString(name, a), JsonValue(), a);
      t = &(target.MemberEnd() - 1)->value;
    }
    ApplyMergePatch(*t, m.value, a);
  }
}

namespace {

// Resolves a JSON pointer's parent container and last token.
Status ResolveParent(JsonValue& root, std::string_view pointer, JsonValue** parent, std::string* last) {
  if (pointer.empty() || pointer[0] != '/') return Status::BadRequest("invalid JSON pointer: " + std::string(pointer));
  std::vector<std::string> tokens;
  for (auto t : Split(pointer.substr(1), '/')) {
    std::string s;
    for (size_t i = 0; i < t.size(); ++i) {
      if (t[i] == '~' && i + 1 < t.size()) {
        s.push_back(t[i + 1] == '1' ? '/' : '~');
        ++i;
      } else {
        s.push_back(t[i]);
      }
    }
    tokens.push_back(std::move(s));
  }
  JsonValue* cur = &root;
  for (size_t i = 0; i + 1 < tokens.size(); ++i) {
    if (cur->IsObject()) {
      cur = MutableMember(*cur, tokens[i]);
    } else if (cur->IsArray()) {
      int64_t idx;
      if (!ParseInt64(tokens[i], &idx) || idx < 0 || idx >= static_cast<int64_t>(cur->Size())) cur = nullptr;
      else cur = &(*cur)[static_cast<rapidjson::SizeType>(idx)];
    } else {
      cur = nullptr;
    }
    if (!cur) return Status::Invalid("the server rejected our request due to an error in our request: path " +
                                     std::string(pointer) + " not found");
  }
  *parent = cur;
  *last = tokens.back();
  return Status::OK();
}

Status PatchOp(JsonValue& root, std::string_view op, std::string_view path, const JsonValue* value,
               JsonAlloc& a, JsonValue* removed) {
  JsonValue* parent;
  std::string last;
  MINIK_RETURN_IF_ERROR(ResolveParent(root, path, &parent, &last));
  auto missing = [&]() { return Status::Invalid("path " + std::string(path) + " not found"); };
  if (parent->IsObject()) {
    JsonValue* cur = MutableMember(*parent, last);
    if (op == "add" || op == "replace") {
      if (op == "replace" && !cur) return missing();
      JsonValue v;
      v.CopyFrom(*value, a);
      SetMember(*parent, last, std::move(v), a);
    } else if (op == "remove") {
      if (!cur) return missing();
      if (removed) removed->CopyFrom(*cur, a);
      RemoveMember(*parent, last);
    } else if (op == "test") {
      if (!cur || !(*cur == *value)) return Status::Invalid("testing value " + std::string(path) + " failed");
    }
    return Status::OK();
  }
  if (!parent->IsArray()) return missing();
  int64_t idx = static_cast<int64_t>(parent->Size());
  if (!(last == "-" && op == "add") && (!ParseInt64(last, &idx) || idx < 0 || idx > static_cast<int64_t>(parent->Size())))
    return missing();
  bool in_range = idx < static_cast<int64_t>(parent->Size());
  if (op == "add") {
    JsonValue v;
    v.CopyFrom(*value, a);
    parent->PushBack(std::move(v), a);
    for (int64_t i = static_cast<int64_t>(parent->Size()) - 1; i > idx; --i) {
      (*parent)[static_cast<rapidjson::SizeType>(i)].Swap((*parent)[static_cast<rapidjson::SizeType>(i - 1)]);
    }
  } else if (!in_range) {
    return missing();
  } else if (op == "replace") {
    (*parent)[static_cast<rapidjson::SizeType>(idx)].CopyFrom(*value, a);
  } else if (op == "remove") {
    if (removed) removed->CopyFrom((*parent)[static_cast<rapidjson::SizeType>(idx)], a);
    parent->Erase(parent->Begin() + idx);
  } else if (op == "test") {
    if (!((*parent)[static_cast<rapidjson::SizeType>(idx)] == *value))
      return Status::Invalid("testing value " + std::string(path) + " failed");
  }
  return Status::OK();
}

}  // namespace

Status ApplyJsonPatch(JsonValue& target, const JsonValue& patch, JsonAlloc& a) {
  if (!patch.IsArray()) return Status::BadRequest("json patch must be an array");
  for (const auto& op : patch.GetArray()) {
    std::string_view name = GetString(op, "op").value_or("");
    std::string_view path = GetString(op, "path").value_or("");
    const JsonValue* value = Member(op, "value");
    if (name == "add" || name == "replace" || name == "test") {
      if (!value) return Status::BadRequest("missing value for " + std::string(name));
      MINIK_RETURN_IF_ERROR(PatchOp(target, name, path, value, a, nullptr));
    } else if (name == "remove") {
      MINIK_RETURN_IF_ERROR(PatchOp(target, name, path, nullptr, a, nullptr));
    } else if (name == "move" || name == "copy") {
      std::string_view from = GetString(op, "from").value_or("");
      JsonValue taken;
      if (name == "move") {
        MINIK_RETURN_IF_ERROR(PatchOp(target, "remove", from, nullptr, a, &taken));
      } else {
        JsonValue* parent;
        std::string last;
        MINIK_RETURN_IF_ERROR(ResolveParent(target, from, &parent, &last));
        const JsonValue* src = parent->IsObject() ? Member(*parent, last) : nullptr;
        if (!src) return Status::Invalid("path " + std::string(from) + " not found");
        taken.CopyFrom(*src, a);
      }
      MINIK_RETURN_IF_ERROR(PatchOp(target, "add", path, &taken, a, nullptr));
    } else {
      return Status::BadRequest("Unexpected kind: " + std::string(name));
    }
  }
  return Status::OK();
}

// ---- the fake -----------------------------------------------------------------------------

struct FakeApiClient::Watcher {
  std::string gr;
  std::string ns;
  WatchOptions opts;
  WatchCallbacks cbs;
  bool closed = false;

  bool Matches(const JsonValue& obj) const {
    if (!ns.empty() && MetaString(obj, "namespace") != ns) return false;
    if (!opts.label_selector.empty()) {
      auto m = MatchesLabelSelector(opts.label_selector, obj);
      if (!m.ok() || !*m) return false;
    }
    if (!opts.field_selector.empty()) {
      auto m = MatchesFieldSelector(opts.field_selector, obj);
      if (!m.ok() || !*m) return false;
    }
    return true;
  }
  void Send(WatchEvent::Type type, ObjPtr obj) {
    if (!closed && cbs.on_event) cbs.on_event(WatchEvent{type, std::move(obj)});
  }
  void Close(Status st) {
    if (closed) return;
    closed = true;
    auto fn = std::move(cbs.on_closed);
    if (fn) fn(std::move(st));
  }
};

namespace {

class FakeWatchHandle final : public http::Handle {
 public:
  explicit FakeWatchHandle(std::shared_ptr<FakeApiClient::Watcher> w) : w_(std::move(w)) {}
  ~FakeWatchHandle() override { w_->closed = true; }

 private:
  std::shared_ptr<FakeApiClient::Watcher> w_;
};

std::string GroupResourceKey(const ResourceRef& res) { return res.group + "/" + res.plural; }

}  // namespace

std::string FakeApiClient::Action::ToString() const {
  std::string s = verb + " " + resource.plural;
  if (!subresource.empty()) s += "/" + subresource;
  std::string key = ObjectKey(ns, name);
  if (!key.empty()) s += " " + key;
  return s;
}

FakeApiClient::FakeApiClient(const Clock* clock) : clock_(clock) {}
FakeApiClient::~FakeApiClient() {
  for (auto& w : watchers_) w->closed = true;
}

std::vector<FakeApiClient::Action> FakeApiClient::writes() const {
  std::vector<Action> out;
  for (const auto& a : actions_) {
    if (a.IsWrite()) out.push_back(a);
  }
  return out;
}

Status FakeApiClient::React(const Action& a) {
  actions_.push_back(a);
  if (!reactor_) return Status::OK();
  return reactor_(a);
}

std::string FakeApiClient::NextUid() {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "00000000-0000-4000-8000-%012llu", static_cast<unsigned long long>(++uid_seq_));
  return buf;
}

size_t FakeApiClient::open_watches() const {
  size_t n = 0;
  for (const auto& w : watchers_) n += !w->closed;
  return n;
}

void FakeApiClient::Deliver(const Event& ev) {
  // Snapshot: callbacks may open or close watches.
  auto watchers = watchers_;
  for (auto& w : watchers) {
    if (w->closed || w->gr != ev.gr) continue;
    bool now = w->Matches(*ev.obj);
    if (ev.deleted) {
      if (now) w->Send(WatchEvent::Type::kDeleted, ev.obj);
      continue;
    }
    bool before = ev.prev && w->Matches(*ev.prev);
    if (before && now) {
      w->Send(WatchEvent::Type::kModified, ev.obj);
    } else if (now) {
      w->Send(WatchEvent::Type::kAdded, ev.obj);
    } else if (before) {
      w->Send(WatchEvent::Type::kDeleted, ev.obj);
    }
  }
  std::erase_if(watchers_, [](const auto& w) { return w->closed; });
}

void FakeApiClient::Commit(const std::string& gr, const std::string& key, ObjPtr prev, ObjPtr obj, bool deleted) {
  if (deleted) {
    objects_[gr].erase(key);
  } else {
    objects_[gr][key] = obj;
  }
  history_.push_back(Event{revision_, gr, std::move(prev), std::move(obj), deleted});
  // Events raised by a callback during delivery queue up behind the current one, so that
  // every watcher sees every event in revision order.
  pending_.push_back(history_.back());
  if (delivering_) return;
  delivering_ = true;
  while (!pending_.empty()) {
    Event ev = std::move(pending_.front());
    pending_.pop_front();
    Deliver(ev);
  }
  delivering_ = false;
}

StatusOr<ObjPtr> FakeApiClient::DoCreate(const ResourceRef& res, const std::string& ns, const JsonValue& in) {
  if (!in.IsObject()) return Status::BadRequest("the body of the request was in an unknown format");
  auto doc = Copy(in);
  auto& a = doc->GetAllocator();
  JsonValue& meta = EnsureObject(*doc, "metadata", a);
  std::string name(GetString(meta, "name").value_or(""));
  if (name.empty()) {
    std::string_view gen = GetString(meta, "generateName").value_or("");
    if (gen.empty()) return Status::Invalid("metadata.name: Required value: name or generateName is required");
    static const char* kAlnum = "bcdfghjklmnpqrstvwxz2456789";
    uint64_t n = ++name_seq_;
    name = std::string(gen);
    for (int i = 0; i < 5; ++i, n /= 27) name.push_back(kAlnum[n % 27]);
    SetString(meta, "name", name, a);
  }
  std::string_view obj_ns = GetString(meta, "namespace").value_or("");
  if (!obj_ns.empty() && !ns.empty() && obj_ns != ns)
    return Status::BadRequest("the namespace of the provided object does not match the namespace sent on the request");
  if (!ns.empty()) SetString(meta, "namespace", ns, a);
  const std::string gr = GroupResourceKey(res);
  const std::string key = ObjectKey(ns, name);
  if (objects_[gr].count(key)) {
    Status s = Status::AlreadyExists(res.GroupResource() + " " + Quoted(name) + " already exists");
    StatusDetails d;
    d.name = name;
    d.group = res.group;
    d.kind = res.plural;
    s.SetDetails(std::move(d));
    return s;
  }
  SetString(meta, "uid", NextUid(), a);
  SetString(meta, "resourceVersion", std::to_string(++revision_), a);
  if (!Member(meta, "generation")) SetMember(meta, "generation", JsonValue(int64_t{1}), a);
  if (clock_) SetString(meta, "creationTimestamp", FormatRFC3339(clock_->Now()), a);
  RemoveMember(meta, "deletionTimestamp");
  ObjPtr stored = doc;
  Commit(gr, key, nullptr, stored, false);
  return stored;
}

StatusOr<ObjPtr> FakeApiClient::DoUpdate(const ResourceRef& res, const std::string& ns, const JsonValue& in,
                                         const std::string& subresource) {
  if (!in.IsObject()) return Status::BadRequest("the body of the request was in an unknown format");
  std::string name(MetaString(in, "name"));
  const std::string gr = GroupResourceKey(res);
  const std::string key = ObjectKey(ns, name);
  auto it = objects_[gr].find(key);
  if (it == objects_[gr].end()) return NotFound(res, name);
  ObjPtr old = it->second;
  std::string_view rv = MetaString(in, "resourceVersion");
  if (!rv.empty() && rv != MetaString(*old, "resourceVersion")) return Conflict(res, name, kOptimisticLock);

  std::shared_ptr<JsonDoc> doc;
  if (subresource == "status") {
    doc = Copy(*old);
    if (const JsonValue* st = Member(in, "status")) {
      SetMember(*doc, "status", Clone(*st, doc->GetAllocator()), doc->GetAllocator());
    } else {
      RemoveMember(*doc, "status");
    }
  } else if (subresource.empty()) {
    doc = Copy(in);
    auto& a = doc->GetAllocator();
    if (const JsonValue* st = Member(*old, "status")) {
      SetMember(*doc, "status", Clone(*st, a), a);
    } else {
      RemoveMember(*doc, "status");
    }
    // Fields the server owns.
    JsonValue& meta = EnsureObject(*doc, "metadata", a);
    for (const char* f : {"uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "namespace"}) {
      const JsonValue* v = Path(*old, {"metadata", f});
      if (v) SetMember(meta, f, Clone(*v, a), a);
      else RemoveMember(meta, f);
    }
    int64_t gen = Path(*old, {"metadata", "generation"}) && Path(*old, {"metadata", "generation"})->IsInt64()
                      ? Path(*old, {"metadata", "generation"})->GetInt64()
                      : 1;
    if (!SameSpec(*old, *doc)) ++gen;
    SetMember(meta, "generation", JsonValue(gen), a);
  } else {
    return Status::NotFound("the server could not find the requested resource");
  }
  auto& a = doc->GetAllocator();
  JsonValue& meta = EnsureObject(*doc, "metadata", a);
  // A deleting object whose last finalizer is gone goes away (a pod in its grace period stays
  // until its kubelet deletes it).
  if (Member(meta, "deletionTimestamp") && !HasFinalizers(*doc) && GetInt(meta, "deletionGracePeriodSeconds").value_or(0) == 0) {
    SetString(meta, "resourceVersion", std::to_string(++revision_), a);
    ObjPtr last = doc;
    Commit(gr, key, old, last, true);
    return last;
  }
  SetString(meta, "resourceVersion", std::to_string(++revision_), a);
  ObjPtr stored = doc;
  Commit(gr, key, old, stored, false);
  return stored;
}

StatusOr<ObjPtr> FakeApiClient::DoDelete(const ResourceRef& res, const std::string& ns, const std::string& name,
                                         const DeleteOptions& opts) {
  const std::string gr = GroupResourceKey(res);
  const std::string key = ObjectKey(ns, name);
  auto it = objects_[gr].find(key);
  if (it == objects_[gr].end()) return NotFound(res, name);
  ObjPtr old = it->second;
  if (!opts.precondition_uid.empty() && opts.precondition_uid != MetaString(*old, "uid")) {
    return Conflict(res, name,
                    "Precondition failed: UID in precondition: " + opts.precondition_uid +
                        ", UID in object meta: " + std::string(MetaString(*old, "uid")));
  }
  if (!opts.precondition_resource_version.empty() &&
      opts.precondition_resource_version != MetaString(*old, "resourceVersion")) {
    return Conflict(res, name,
                    "Precondition failed: ResourceVersion in precondition: " + opts.precondition_resource_version +
                        ", ResourceVersion in object meta: " + std::string(MetaString(*old, "resourceVersion")));
  }
  auto doc = Copy(*old);
  auto& a = doc->GetAllocator();
  JsonValue& meta = EnsureObject(*doc, "metadata", a);
  // Foreground and orphan propagation add their finalizer, as the API server does.
  std::string fin = opts.propagation_policy == "Foreground" ? "foregroundDeletion"
                    : opts.propagation_policy == "Orphan"   ? "orphan"
                                                            : "";
  if (!fin.empty()) {
    JsonValue* f = MutableMember(meta, "finalizers");
    if (!f || !f->IsArray()) {
      SetMember(meta, "finalizers", JsonValue(rapidjson::kArrayType), a);
      f = MutableMember(meta, "finalizers");
    }
    bool have = false;
    for (const auto& v : f->GetArray()) have |= v.IsString() && fin == v.GetString();
    if (!have) f->PushBack(MakeString(fin, a), a);
  }
  // Pods bound to a node are deleted gracefully (the kubelet finishes the deletion).
  int64_t grace = opts.grace_period_seconds.value_or(res.plural == "pods" ? 30 : 0);
  const JsonValue* node = Path(*old, {"spec", "nodeName"});
  bool graceful = res.group.empty() && res.plural == "pods" && grace > 0 && node && node->IsString() &&
                  node->GetStringLength() > 0;
  if (HasFinalizers(*doc) || graceful) {
    if (!Member(meta, "deletionTimestamp")) {
      TimePoint now = clock_ ? clock_->Now() : TimePoint();
      SetString(meta, "deletionTimestamp", FormatRFC3339(now + std::chrono::seconds(graceful ? grace : 0)), a);
      SetMember(meta, "deletionGracePeriodSeconds", JsonValue(graceful ? grace : int64_t{0}), a);
    }
    SetString(meta, "resourceVersion", std::to_string(++revision_), a);
    ObjPtr stored = doc;
    Commit(gr, key, old, stored, false);
    return stored;
  }
  SetString(meta, "resourceVersion", std::to_string(++revision_), a);
  ObjPtr last = doc;
  Commit(gr, key, old, last, true);
  return last;
}

StatusOr<ObjPtr> FakeApiClient::Seed(const ResourceRef& res, const JsonValue& obj) {
  return DoCreate(res, std::string(MetaString(obj, "namespace")), obj);
}

ObjPtr FakeApiClient::Find(const ResourceRef& res, const std::string& ns, const std::string& name) const {
  auto g = objects_.find(GroupResourceKey(res));
  if (g == objects_.end()) return nullptr;
  auto it = g->second.find(ObjectKey(ns, name));
  return it == g->second.end() ? nullptr : it->second;
}

void FakeApiClient::Compact() {
  history_.clear();
  compacted_ = revision_;
}

void FakeApiClient::CloseWatches(Status st) {
  auto watchers = std::move(watchers_);
  watchers_.clear();
  for (auto& w : watchers) w->Close(st);
}

void FakeApiClient::SendBookmarks() {
  auto watchers = watchers_;
  for (auto& w : watchers) {
    if (w->closed || !w->opts.allow_watch_bookmarks) continue;
    auto doc = std::make_shared<JsonDoc>(rapidjson::kObjectType);
    auto& a = doc->GetAllocator();
    JsonValue& meta = EnsureObject(*doc, "metadata", a);
    SetString(meta, "resourceVersion", std::to_string(revision_), a);
    w->Send(WatchEvent::Type::kBookmark, std::move(doc));
  }
}

void FakeApiClient::Get(const ResourceRef& res, const std::string& ns, const std::string& name, ObjectCallback cb) {
  Status st = React(Action{"get", res, ns, name, "", ""});
  if (!st.ok()) return cb(std::move(st));
  ObjPtr obj = Find(res, ns, name);
  if (!obj) return cb(NotFound(res, name));
  cb(CopyDoc(*obj));
}

void FakeApiClient::List(const ResourceRef& res, const std::string& ns, const ListOptions& opts, ObjectCallback cb) {
  Status st = React(Action{"list", res, ns, "", "", ""});
  if (!st.ok()) return cb(std::move(st));
  JsonDoc list(rapidjson::kObjectType);
  auto& a = list.GetAllocator();
  SetString(list, "kind", "List", a);
  SetString(list, "apiVersion", res.group.empty() ? res.version : res.group + "/" + res.version, a);
  JsonValue& meta = EnsureObject(list, "metadata", a);
  SetString(meta, "resourceVersion", std::to_string(revision_), a);
  JsonValue items(rapidjson::kArrayType);
  auto& objs = objects_[GroupResourceKey(res)];
  auto it = opts.continue_token.empty() ? objs.begin() : objs.upper_bound(opts.continue_token);
  int64_t n = 0;
  std::string last;
  bool more = false;
  for (; it != objs.end(); ++it) {
    const JsonValue& obj = *it->second;
    if (!ns.empty() && MetaString(obj, "namespace") != ns) continue;
    if (!opts.label_selector.empty()) {
      auto m = MatchesLabelSelector(opts.label_selector, obj);
      if (!m.ok()) return cb(m.status());
      if (!*m) continue;
    }
    if (!opts.field_selector.empty()) {
      auto m = MatchesFieldSelector(opts.field_selector, obj);
      if (!m.ok()) return cb(m.status());
      if (!*m) continue;
    }
    if (opts.limit > 0 && n == opts.limit) {
      more = true;
      break;
    }
    items.PushBack(Clone(obj, a), a);
    last = it->first;
    ++n;
  }
  if (more) SetString(meta, "continue", last, a);
  SetMember(list, "items", std::move(items), a);
  cb(std::move(list));
}

void FakeApiClient::Create(const ResourceRef& res, const std::string& ns, const JsonValue& obj, ObjectCallback cb) {
  Action action{"create", res, ns, std::string(MetaString(obj, "name")), "", ToJson(obj)};
  Status st = React(action);
  if (!st.ok()) return cb(std::move(st));
  if (create_responder_) {
    StatusOr<JsonDoc> answer = Status::Internal("no answer");
    if (create_responder_(action, &answer)) return cb(std::move(answer));
  }
  auto r = DoCreate(res, ns, obj);
  if (!r.ok()) return cb(r.status());
  cb(CopyDoc(**r));
}

void FakeApiClient::Update(const ResourceRef& res, const std::string& ns, const JsonValue& obj,
                           const std::string& subresource, ObjectCallback cb) {
  Status st = React(Action{"update", res, ns, std::string(MetaString(obj, "name")), subresource, ToJson(obj)});
  if (!st.ok()) return cb(std::move(st));
  auto r = DoUpdate(res, ns, obj, subresource);
  if (!r.ok()) return cb(r.status());
  cb(CopyDoc(**r));
}

void FakeApiClient::Patch(const ResourceRef& res, const std::string& ns, const std::string& name, PatchType type,
                          std::string patch, const std::string& subresource, ObjectCallback cb) {
  Status st = React(Action{"patch", res, ns, name, subresource, patch});
  if (!st.ok()) return cb(std::move(st));
  ObjPtr old = Find(res, ns, name);
  if (!old) return cb(NotFound(res, name));
  auto p = ParseJson(patch);
  if (!p.ok()) return cb(p.status());
  JsonDoc doc = CopyDoc(*old);
  // The patched object keeps no resourceVersion of its own unless the patch sets one (then it
  // is a precondition).
  RemoveMember(EnsureObject(doc, "metadata", doc.GetAllocator()), "resourceVersion");
  if (type == PatchType::kJson) {
    Status s = ApplyJsonPatch(doc, *p, doc.GetAllocator());
    if (!s.ok()) return cb(std::move(s));
  } else {
    if (!p->IsObject()) return cb(Status::BadRequest("patch must be a JSON object"));
    ApplyMergePatch(doc, *p, doc.GetAllocator());
  }
  SetString(EnsureObject(doc, "metadata", doc.GetAllocator()), "name", name, doc.GetAllocator());
  auto r = DoUpdate(res, ns, doc, subresource);
  if (!r.ok()) return cb(r.status());
  cb(CopyDoc(**r));
}

void FakeApiClient::Delete(const ResourceRef& res, const std::string& ns, const std::string& name,
                           const DeleteOptions& opts, ObjectCallback cb) {
  JsonDoc body(rapidjson::kObjectType);
  auto& a = body.GetAllocator();
  if (!opts.propagation_policy.empty()) SetString(body, "propagationPolicy", opts.propagation_policy, a);
  if (opts.grace_period_seconds) SetMember(body, "gracePeriodSeconds", JsonValue(*opts.grace_period_seconds), a);
  if (!opts.precondition_uid.empty()) SetString(EnsureObject(body, "preconditions", a), "uid", opts.precondition_uid, a);
  if (!opts.precondition_resource_version.empty())
    SetString(EnsureObject(body, "preconditions", a), "resourceVersion", opts.precondition_resource_version, a);
  Status st = React(Action{"delete", res, ns, name, "", ToJson(body)});
  if (!st.ok()) return cb(std::move(st));
  auto r = DoDelete(res, ns, name, opts);
  if (!r.ok()) return cb(r.status());
  cb(CopyDoc(**r));
}

http::HandlePtr FakeApiClient::Watch(const ResourceRef& res, const std::string& ns, const WatchOptions& opts,
                                     WatchCallbacks cbs) {
  auto w = std::make_shared<Watcher>();
  w->gr = GroupResourceKey(res);
  w->ns = ns;
  w->opts = opts;
  w->cbs = std::move(cbs);
  auto handle = std::make_unique<FakeWatchHandle>(w);
  Status st = React(Action{"watch", res, ns, "", "", ""});
  if (!st.ok()) {
    w->Close(std::move(st));
    return handle;
  }
  for (const auto* sel : {&opts.label_selector, &opts.field_selector}) {
    if (sel->empty()) continue;
    JsonDoc empty(rapidjson::kObjectType);
    auto m = sel == &opts.label_selector ? MatchesLabelSelector(*sel, empty) : MatchesFieldSelector(*sel, empty);
    if (!m.ok()) {
      w->Close(m.status());
      return handle;
    }
  }
  watchers_.push_back(w);
  int64_t from = 0;
  if (opts.resource_version.empty() || opts.resource_version == "0") {
    for (const auto& [key, obj] : objects_[w->gr]) {
      if (w->Matches(*obj)) w->Send(WatchEvent::Type::kAdded, obj);
    }
    return handle;
  }
  if (!ParseInt64(opts.resource_version, &from)) {
    w->Close(Status::BadRequest("invalid resource version: " + opts.resource_version));
    return handle;
  }
  if (from < compacted_) {
    w->Close(Status::Expired("too old resource version: " + opts.resource_version + " (" +
                             std::to_string(compacted_) + ")"));
    return handle;
  }
  // Replay the history after `from`, as a watch cache would.
  auto events = history_;
  for (const auto& ev : events) {
    if (ev.revision <= from || ev.gr != w->gr || w->closed) continue;
    bool now = w->Matches(*ev.obj);
    bool before = ev.prev && w->Matches(*ev.prev);
    if (ev.deleted) {
      if (now) w->Send(WatchEvent::Type::kDeleted, ev.obj);
    } else if (before && now) {
      w->Send(WatchEvent::Type::kModified, ev.obj);
    } else if (now) {
      w->Send(WatchEvent::Type::kAdded, ev.obj);
    } else if (before) {
      w->Send(WatchEvent::Type::kDeleted, ev.obj);
    }
  }
  return handle;
}

}  // namespace minik::client
