#include "server/controllers/util.h"

#include <cmath>

namespace minik::controllers {

std::string_view Name(const JsonValue& obj) { return client::MetaString(obj, "name"); }
std::string_view Namespace(const JsonValue& obj) { return client::MetaString(obj, "namespace"); }
std::string_view Uid(const JsonValue& obj) { return client::MetaString(obj, "uid"); }

bool IsBeingDeleted(const JsonValue& obj) {
  const JsonValue* ts = Path(obj, {"metadata", "deletionTimestamp"});
  return ts && ts->IsString();
}

const JsonValue* Labels(const JsonValue& obj) {
  const JsonValue* l = Path(obj, {"metadata", "labels"});
  return l && l->IsObject() ? l : nullptr;
}

std::optional<std::string_view> Annotation(const JsonValue& obj, std::string_view key) {
  const JsonValue* an = Path(obj, {"metadata", "annotations"});
  if (!an || !an->IsObject()) return std::nullopt;
  return GetString(*an, key);
}

const JsonValue* ControllerRef(const JsonValue& obj) {
  const JsonValue* refs = Path(obj, {"metadata", "ownerReferences"});
  if (!refs || !refs->IsArray()) return nullptr;
  for (const auto& r : refs->GetArray()) {
    if (GetBool(r, "controller").value_or(false)) return &r;
  }
  return nullptr;
}

bool IsControlledBy(const JsonValue& obj, std::string_view owner_uid) {
  const JsonValue* ref = ControllerRef(obj);
  return ref && GetString(*ref, "uid").value_or("") == owner_uid;
}

JsonValue MakeControllerRef(const JsonValue& owner, std::string_view api_version, std::string_view kind,
                            JsonAlloc& a) {
  JsonValue r(rapidjson::kObjectType);
  SetString(r, "apiVersion", api_version, a);
  SetString(r, "kind", kind, a);
  SetString(r, "name", Name(owner), a);
  SetString(r, "uid", Uid(owner), a);
  r.AddMember("controller", true, a);
  r.AddMember("blockOwnerDeletion", true, a);
  return r;
}

client::ObjectPtr ResolveControllerRef(const client::Informer& owners, std::string_view kind, std::string_view ns,
                                       const JsonValue& ref) {
  if (GetString(ref, "kind").value_or("") != kind) return nullptr;
  auto owner = owners.Get(std::string(ns), std::string(GetString(ref, "name").value_or("")));
  if (!owner || Uid(*owner) != GetString(ref, "uid").value_or("")) return nullptr;
  return owner;
}

std::vector<client::ObjectPtr> OwnersSelecting(const client::Informer& owners, const JsonValue& obj) {
  std::vector<client::ObjectPtr> out;
  for (const auto& o : owners.ByIndex(client::kNamespaceIndex, std::string(Namespace(obj)))) {
    api::LabelSelector sel = SpecSelector(*o);
    if (!sel.Empty() && sel.Matches(Labels(obj))) out.push_back(o);
  }
  return out;
}

ControlleeUpdate OwnersOnControlleeUpdate(const client::Informer& owners, std::string_view kind,
                                          const JsonValue& old, const JsonValue& cur) {
  ControlleeUpdate out;
  const JsonValue* oref = ControllerRef(old);
  const JsonValue* cref = ControllerRef(cur);
  bool changed = JsonChanged(oref, cref);
  if (changed && oref) {
    if (auto o = ResolveControllerRef(owners, kind, Namespace(old), *oref)) out.wake.push_back(o);
  }
  if (cref) {
    out.controller = ResolveControllerRef(owners, kind, Namespace(cur), *cref);
    if (!out.controller) return out;
    out.wake.push_back(out.controller);
    int64_t min_ready = IntOr(Path(*out.controller, {"spec", "minReadySeconds"}), 0);
    if (!IsPodReady(old) && IsPodReady(cur) && min_ready > 0) out.available_recheck_ms = min_ready * 1000 + 1000;
    return out;
  }
  if (JsonChanged(Labels(old), Labels(cur)) || changed) {
    for (auto& o : OwnersSelecting(owners, cur)) out.wake.push_back(std::move(o));
  }
  return out;
}

JsonDoc ObjectEventRef(const JsonValue& obj, std::string_view api_version, std::string_view kind) {
  JsonDoc d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  SetString(d, "apiVersion", api_version, a);
  SetString(d, "kind", kind, a);
  JsonValue md(rapidjson::kObjectType);
  for (const char* f : {"name", "namespace", "uid", "resourceVersion"}) SetString(md, f, client::MetaString(obj, f), a);
  d.AddMember("metadata", md, a);
  return d;
}

api::LabelSelector SpecSelector(const JsonValue& obj) {
  const JsonValue* sel = Path(obj, {"spec", "selector"});
  auto s = api::LabelSelector::FromLabelSelectorJson(sel);
  return s.ok() ? *s : api::LabelSelector::Nothing();
}

api::LabelSelector MapSelector(const JsonValue* selector_map) {
  if (!selector_map || !selector_map->IsObject() || selector_map->MemberCount() == 0) {
    return api::LabelSelector::Nothing();
  }
  std::map<std::string, std::string> set;
  for (const auto& m : selector_map->GetObject()) {
    if (m.value.IsString()) set[m.name.GetString()] = m.value.GetString();
  }
  return api::LabelSelector::FromSet(set);
}

std::string_view PodPhase(const JsonValue& pod) {
  const JsonValue* p = Path(pod, {"status", "phase"});
  return p && p->IsString() ? std::string_view(p->GetString(), p->GetStringLength()) : std::string_view();
}

bool IsPodTerminal(const JsonValue& pod) {
  std::string_view p = PodPhase(pod);
  return p == "Succeeded" || p == "Failed";
}

bool IsPodActive(const JsonValue& pod) { return !IsPodTerminal(pod) && !IsBeingDeleted(pod); }

const JsonValue* FindCondition(const JsonValue& obj_status, std::string_view type) {
  const JsonValue* conds = Member(obj_status, "conditions");
  if (!conds || !conds->IsArray()) return nullptr;
  for (const auto& c : conds->GetArray()) {
    if (GetString(c, "type").value_or("") == type) return &c;
  }
  return nullptr;
}

bool IsPodReady(const JsonValue& pod) {
  const JsonValue* st = Member(pod, "status");
  if (!st) return false;
  const JsonValue* c = FindCondition(*st, "Ready");
  return c && GetString(*c, "status").value_or("") == "True";
}

std::optional<TimePoint> PodReadySince(const JsonValue& pod) {
  const JsonValue* st = Member(pod, "status");
  if (!st) return std::nullopt;
  const JsonValue* c = FindCondition(*st, "Ready");
  if (!c || GetString(*c, "status").value_or("") != "True") return std::nullopt;
  TimePoint t;
  if (!ParseRFC3339(GetString(*c, "lastTransitionTime").value_or(""), &t)) return std::nullopt;
  return t;
}

bool IsPodAvailable(const JsonValue& pod, int64_t min_ready_seconds, TimePoint now) {
  if (!IsPodReady(pod)) return false;
  if (min_ready_seconds == 0) return true;
  auto since = PodReadySince(pod);
  return since && *since + std::chrono::seconds(min_ready_seconds) < now;
}

JsonDoc PodFromTemplate(const JsonValue& pod_template, const JsonValue& owner, std::string_view owner_api_version,
                        std::string_view owner_kind, std::string_view generate_name_prefix) {
  JsonDoc pod(rapidjson::kObjectType);
  auto& a = pod.GetAllocator();
  SetString(pod, "apiVersion", "v1", a);
  SetString(pod, "kind", "Pod", a);
  JsonValue md(rapidjson::kObjectType);
  if (!generate_name_prefix.empty()) SetString(md, "generateName", generate_name_prefix, a);
  SetString(md, "namespace", Namespace(owner), a);
  if (const JsonValue* tmd = Member(pod_template, "metadata")) {
    for (const char* f : {"labels", "annotations", "finalizers"}) {
      if (const JsonValue* v = Member(*tmd, f)) md.AddMember(JsonValue(f, a), Clone(*v, a), a);
    }
  }
  JsonValue refs(rapidjson::kArrayType);
  refs.PushBack(MakeControllerRef(owner, owner_api_version, owner_kind, a), a);
  md.AddMember("ownerReferences", refs, a);
  pod.AddMember("metadata", md, a);
  if (const JsonValue* spec = Member(pod_template, "spec")) pod.AddMember("spec", Clone(*spec, a), a);
  else pod.AddMember("spec", JsonValue(rapidjson::kObjectType), a);
  return pod;
}

bool SetCondition(JsonValue& status, std::string_view type, std::string_view cond_status, std::string_view reason,
                  std::string_view message, TimePoint now, JsonAlloc& a, bool with_update_time) {
  std::string ts = FormatRFC3339(now);
  JsonValue* conds = MutableMember(status, "conditions");
  if (!conds || !conds->IsArray()) {
    SetMember(status, "conditions", JsonValue(rapidjson::kArrayType), a);
    conds = MutableMember(status, "conditions");
  }
  for (auto& c : conds->GetArray()) {
    if (GetString(c, "type").value_or("") != type) continue;
    bool same_status = GetString(c, "status").value_or("") == cond_status;
    bool same = same_status && GetString(c, "reason").value_or("") == reason &&
                GetString(c, "message").value_or("") == message;
    if (same && !with_update_time) return false;
    SetString(c, "status", cond_status, a);
    if (with_update_time) SetString(c, "lastUpdateTime", ts, a);
    if (!same_status) SetString(c, "lastTransitionTime", ts, a);
    SetString(c, "reason", reason, a);
    SetString(c, "message", message, a);
    return true;
  }
  JsonValue c(rapidjson::kObjectType);
  SetString(c, "type", type, a);
  SetString(c, "status", cond_status, a);
  if (with_update_time) SetString(c, "lastUpdateTime", ts, a);
  SetString(c, "lastTransitionTime", ts, a);
  SetString(c, "reason", reason, a);
  SetString(c, "message", message, a);
  conds->PushBack(c, a);
  return true;
}

void RemoveCondition(JsonValue& status, std::string_view type) {
  JsonValue* conds = MutableMember(status, "conditions");
  if (!conds || !conds->IsArray()) return;
  for (auto it = conds->Begin(); it != conds->End(); ++it) {
    if (GetString(*it, "type").value_or("") == type) {
      conds->Erase(it);
      return;
    }
  }
}

StatusOr<int64_t> ScaledValue(const JsonValue* v, int64_t total, bool round_up, int64_t dflt) {
  if (!v || v->IsNull()) return dflt;
  if (v->IsInt64()) return v->GetInt64();
  if (!v->IsString()) return Status::Invalid("invalid type for IntOrString");
  std::string_view s(v->GetString(), v->GetStringLength());
  if (s.empty() || s.back() != '%') return Status::Invalid("invalid value for IntOrString: invalid type: string is not a percentage");
  int64_t pct = 0;
  for (char c : s.substr(0, s.size() - 1)) {
    if (c < '0' || c > '9') return Status::Invalid("invalid value \"" + std::string(s) + "\"");
    pct = pct * 10 + (c - '0');
  }
  double x = static_cast<double>(pct) * static_cast<double>(total) / 100.0;
  return static_cast<int64_t>(round_up ? std::ceil(x) : std::floor(x));
}

std::string ComputeHash(const JsonValue& tmpl, std::optional<int32_t> collision_count) {
  uint32_t h = 2166136261u;
  auto feed = [&h](const char* p, size_t n) {
    for (size_t i = 0; i < n; ++i) {
      h ^= static_cast<unsigned char>(p[i]);
      h *= 16777619u;
    }
  };
  std::string js = ToJson(tmpl);
  feed(js.data(), js.size());
  if (collision_count) {
    uint32_t c = static_cast<uint32_t>(*collision_count);
    char b[4] = {static_cast<char>(c & 0xff), static_cast<char>((c >> 8) & 0xff), static_cast<char>((c >> 16) & 0xff),
                 static_cast<char>((c >> 24) & 0xff)};
    feed(b, 4);
  }
  static constexpr char kAlphabet[] = "bcdfghjklmnpqrstvwxz2456789";
  std::string dec = std::to_string(h);
  for (char& ch : dec) ch = kAlphabet[static_cast<unsigned char>(ch) % 27];
  return dec;
}

bool JsonEqual(const JsonValue& a, const JsonValue& b) {
  if (a.GetType() != b.GetType()) {
    if (a.IsNumber() && b.IsNumber()) return a == b;
    return false;
  }
  if (a.IsObject()) {
    if (a.MemberCount() != b.MemberCount()) return false;
    for (const auto& m : a.GetObject()) {
      auto it = b.FindMember(m.name);
      if (it == b.MemberEnd() || !JsonEqual(m.value, it->value)) return false;
    }
    return true;
  }
  if (a.IsArray()) {
    if (a.Size() != b.Size()) return false;
    for (rapidjson::SizeType i = 0; i < a.Size(); ++i) {
      if (!JsonEqual(a[i], b[i])) return false;
    }
    return true;
  }
  return a == b;
}

bool JsonChanged(const JsonValue* a, const JsonValue* b) {
  return (a == nullptr) != (b == nullptr) || (a && b && !JsonEqual(*a, *b));
}

int64_t IntOr(const JsonValue* v, int64_t dflt) { return v && v->IsInt64() ? v->GetInt64() : dflt; }

// ---- Join --------------------------------------------------------------------------------------

std::shared_ptr<Join> Join::Make(std::function<void(Status)> done) {
  return std::shared_ptr<Join>(new Join(std::move(done)));
}

std::function<void(Status)> Join::Add() {
  ++pending_;
  auto self = shared_from_this();
  return [self](Status st) { self->One(std::move(st)); };
}

client::ObjectCallback Join::AddObject(std::function<bool(const Status&)> ignore) {
  ++pending_;
  auto self = shared_from_this();
  return [self, ignore = std::move(ignore)](StatusOr<JsonDoc> r) {
    if (r.ok() || (ignore && ignore(r.error()))) self->One(Status::OK());
    else self->One(r.error());
  };
}

void Join::Fail(Status st) {
  if (first_.ok() && !st.ok()) first_ = std::move(st);
}

void Join::One(Status st) {
  Fail(std::move(st));
  --pending_;
  if (finished_ && pending_ == 0 && !called_) {
    called_ = true;
    done_(first_);
  }
}

void Join::Finish() {
  finished_ = true;
  if (pending_ == 0 && !called_) {
    called_ = true;
    done_(first_);
  }
}

// ---- Expectations ------------------------------------------------------------------------------

namespace {
constexpr int64_t kExpectationsTtlMs = 5 * 60 * 1000;
}

bool Expectations::Satisfied(const std::string& key) const {
  auto it = entries_.find(key);
  if (it == entries_.end()) return true;
  const Entry& e = it->second;
  if (e.adds <= 0 && e.dels <= 0) return true;
  return clock_.MonotonicMillis() - e.set_ms > kExpectationsTtlMs;
}

void Expectations::Expect(const std::string& key, int64_t adds, int64_t dels) {
  entries_[key] = Entry{adds, dels, clock_.MonotonicMillis()};
}

void Expectations::CreationObserved(const std::string& key) { LowerExpectations(key, 1, 0); }
void Expectations::DeletionObserved(const std::string& key) { LowerExpectations(key, 0, 1); }

void Expectations::LowerExpectations(const std::string& key, int64_t adds, int64_t dels) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return;
  it->second.adds -= adds;
  it->second.dels -= dels;
}

void Expectations::Delete(const std::string& key) { entries_.erase(key); }

}  // namespace minik::controllers
