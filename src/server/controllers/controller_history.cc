#include "server/controllers/controller_history.h"

#include <algorithm>
#include <cstdio>
#include <memory>

#include "server/controllers/util.h"

namespace minik::controllers::history {
namespace {

JsonDoc CopyDoc(const JsonValue& v) {
  JsonDoc d;
  d.CopyFrom(v, d.GetAllocator());
  return d;
}

// Go writes `resources: {}` for every container (a struct, never omitted).
void AddEmptyResources(JsonValue& spec, std::string_view field, JsonAlloc& a) {
  JsonValue* cs = MutableMember(spec, field);
  if (!cs || !cs->IsArray()) return;
  for (auto& c : cs->GetArray()) {
    if (c.IsObject() && !Member(c, "resources")) c.AddMember("resources", JsonValue(rapidjson::kObjectType), a);
  }
}

// FNV-1 (not 1a), 32 bits.
uint32_t Fnv1(uint32_t h, std::string_view s) {
  for (unsigned char c : s) {
    h *= 16777619u;
    h ^= c;
  }
  return h;
}

bool ParseInt32(std::string_view s, uint32_t* out) {
  if (s.empty() || s.size() > 11) return false;
  size_t i = 0;
  bool neg = false;
  if (s[0] == '-' || s[0] == '+') {
    neg = s[0] == '-';
    i = 1;
    if (s.size() == 1) return false;
  }
  int64_t v = 0;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  if (neg) v = -v;
  if (v < INT32_MIN || v > INT32_MAX) return false;
  *out = static_cast<uint32_t>(static_cast<int32_t>(v));
  return true;
}

}  // namespace

std::string GoJson(const JsonValue& v) {
  std::string out;
  AppendGoJson(v, &out);
  return out;
}

JsonDoc TemplatePatch(const JsonValue& owner) {
  JsonDoc patch(rapidjson::kObjectType);
  auto& a = patch.GetAllocator();
  JsonValue tmpl(rapidjson::kObjectType);
  if (const JsonValue* t = Path(owner, {"spec", "template"}); t && t->IsObject()) tmpl.CopyFrom(*t, a);
  JsonValue& md = EnsureObject(tmpl, "metadata", a);
  if (!Member(md, "creationTimestamp")) md.AddMember("creationTimestamp", JsonValue(rapidjson::kNullType), a);
  JsonValue& spec = EnsureObject(tmpl, "spec", a);
  AddEmptyResources(spec, "containers", a);
  AddEmptyResources(spec, "initContainers", a);
  SetString(tmpl, "$patch", "replace", a);
  JsonValue spec_copy(rapidjson::kObjectType);
  spec_copy.AddMember("template", tmpl, a);
  patch.AddMember("spec", spec_copy, a);
  return patch;
}

std::string HashRevisionData(std::string_view data, std::optional<int32_t> collision_count) {
  uint32_t h = Fnv1(2166136261u, data);
  if (collision_count) h = Fnv1(h, std::to_string(*collision_count));
  static constexpr char kAlphabet[] = "bcdfghjklmnpqrstvwxz2456789";
  std::string dec = std::to_string(h);
  for (char& ch : dec) ch = kAlphabet[static_cast<unsigned char>(ch) % 27];
  return dec;
}

std::string RevisionName(std::string_view prefix, std::string_view hash) {
  if (prefix.size() > 223) prefix = prefix.substr(0, 223);
  std::string out(prefix);
  out.push_back('-');
  out.append(hash);
  return out;
}

int64_t RevisionNumber(const JsonValue& cr) { return GetInt(cr, "revision").value_or(0); }

void SortRevisions(std::vector<client::ObjectPtr>& revs) {
  std::stable_sort(revs.begin(), revs.end(), [](const client::ObjectPtr& a, const client::ObjectPtr& b) {
    int64_t ra = RevisionNumber(*a), rb = RevisionNumber(*b);
    if (ra != rb) return ra < rb;
    TimePoint ta{}, tb{};
    bool ha = ParseRFC3339(client::MetaString(*a, "creationTimestamp"), &ta);
    bool hb = ParseRFC3339(client::MetaString(*b, "creationTimestamp"), &tb);
    if (ha && hb && ta != tb) return ta < tb;
    return Name(*a) < Name(*b);
  });
}

bool DataMatches(const JsonValue& cr, const JsonValue& patch) {
  const JsonValue* data = Member(cr, "data");
  return data && JsonEqual(*data, patch);
}

bool EqualRevisions(const JsonValue& a, const JsonValue& b) {
  const JsonValue* la = Labels(a);
  const JsonValue* lb = Labels(b);
  uint32_t ha = 0, hb = 0;
  bool pa = la && ParseInt32(GetString(*la, kHashLabel).value_or(""), &ha);
  bool pb = lb && ParseInt32(GetString(*lb, kHashLabel).value_or(""), &hb);
  if (pa && pb && ha != hb) return false;
  const JsonValue* da = Member(a, "data");
  const JsonValue* db = Member(b, "data");
  if (!da || !db) return da == db;
  return JsonEqual(*da, *db);
}

std::vector<client::ObjectPtr> FindEqualRevisions(const std::vector<client::ObjectPtr>& sorted,
                                                  const JsonValue& needle) {
  std::vector<client::ObjectPtr> out;
  for (const auto& r : sorted) {
    if (EqualRevisions(*r, needle)) out.push_back(r);
  }
  return out;
}

int64_t MaxRevision(const std::vector<client::ObjectPtr>& revs) {
  int64_t m = 0;
  for (const auto& r : revs) m = std::max(m, RevisionNumber(*r));
  return m;
}

JsonDoc NewRevision(const JsonValue& owner, std::string_view kind, const JsonValue& patch, int64_t revision,
                    std::string_view hash) {
  JsonDoc cr(rapidjson::kObjectType);
  auto& a = cr.GetAllocator();
  SetString(cr, "apiVersion", "apps/v1", a);
  SetString(cr, "kind", "ControllerRevision", a);
  JsonValue md(rapidjson::kObjectType);
  SetString(md, "name", RevisionName(Name(owner), hash), a);
  SetString(md, "namespace", Namespace(owner), a);
  JsonValue labels(rapidjson::kObjectType);
  if (const JsonValue* tl = Path(owner, {"spec", "template", "metadata", "labels"}); tl && tl->IsObject()) {
    labels.CopyFrom(*tl, a);
  }
  SetString(labels, kHashLabel, hash, a);
  md.AddMember("labels", labels, a);
  if (const JsonValue* an = Path(owner, {"metadata", "annotations"}); an && an->IsObject() && an->MemberCount() > 0) {
    md.AddMember("annotations", Clone(*an, a), a);
  }
  JsonValue refs(rapidjson::kArrayType);
  refs.PushBack(MakeControllerRef(owner, "apps/v1", kind, a), a);
  md.AddMember("ownerReferences", refs, a);
  cr.AddMember("metadata", md, a);
  cr.AddMember("data", Clone(patch, a), a);
  cr.AddMember("revision", JsonValue(revision), a);
  return cr;
}

OwnedRevisions ListRevisions(const client::Informer& revisions, const JsonValue& owner, const api::LabelSelector& sel) {
  OwnedRevisions out;
  std::string_view uid = Uid(owner);
  for (const auto& r : revisions.ByIndex(client::kNamespaceIndex, std::string(Namespace(owner)))) {
    const JsonValue* ref = ControllerRef(*r);
    if (ref) {
      if (GetString(*ref, "uid").value_or("") == uid) out.owned.push_back(r);
      continue;
    }
    if (!IsBeingDeleted(*r) && !sel.MatchesNothing() && !sel.Empty() && sel.Matches(Labels(*r))) {
      out.orphans.push_back(r);
    }
  }
  return out;
}

std::string AdoptPatch(const JsonValue& owner, std::string_view kind, std::string_view obj_uid) {
  JsonDoc p(rapidjson::kObjectType);
  auto& a = p.GetAllocator();
  JsonValue md(rapidjson::kObjectType);
  JsonValue refs(rapidjson::kArrayType);
  refs.PushBack(MakeControllerRef(owner, "apps/v1", kind, a), a);
  md.AddMember("ownerReferences", refs, a);
  SetString(md, "uid", obj_uid, a);
  p.AddMember("metadata", md, a);
  return ToJson(p);
}

JsonDoc ApplyRevision(const JsonValue& owner, const JsonValue& cr) {
  JsonDoc out = CopyDoc(owner);
  auto& a = out.GetAllocator();
  const JsonValue* t = Path(cr, {"data", "spec", "template"});
  if (!t || !t->IsObject()) return out;
  JsonValue tmpl(*t, a);
  RemoveMember(tmpl, "$patch");
  JsonValue& spec = EnsureObject(out, "spec", a);
  SetMember(spec, "template", std::move(tmpl), a);
  return out;
}

std::vector<client::ObjectPtr> RevisionsToTruncate(const std::vector<client::ObjectPtr>& sorted,
                                                   const std::set<std::string>& live_names, int64_t limit) {
  std::vector<client::ObjectPtr> hist;
  for (const auto& r : sorted) {
    if (!live_names.count(std::string(Name(*r)))) hist.push_back(r);
  }
  if (static_cast<int64_t>(hist.size()) <= limit) return {};
  hist.resize(hist.size() - static_cast<size_t>(std::max<int64_t>(limit, 0)));
  return hist;
}

// ---- asynchronous helpers ------------------------------------------------------------------

namespace {
const client::ResourceRef kRevs{"apps", "v1", "controllerrevisions"};
}

void CreateRevision(client::ApiClient& api, const JsonValue& cr, client::ObjectCallback done) {
  auto patch = std::make_shared<JsonDoc>();
  if (const JsonValue* d = Member(cr, "data")) patch->CopyFrom(*d, patch->GetAllocator());
  std::string ns(Namespace(cr));
  std::string name(Name(cr));
  client::ApiClient* client = &api;
  api.Create(kRevs, ns, cr, [client, ns, name, patch, done = std::move(done)](StatusOr<JsonDoc> r) mutable {
    if (r.ok() || !r.error().IsAlreadyExists()) {
      done(std::move(r));
      return;
    }
    Status exists = r.error();
    client->Get(kRevs, ns, name, [patch, exists, done = std::move(done)](StatusOr<JsonDoc> g) mutable {
      if (!g.ok()) {
        done(g.error());
        return;
      }
      if (DataMatches(*g, *patch)) {
        done(std::move(g));
        return;
      }
      done(exists);
    });
  });
}

void UpdateRevisionNumber(client::ApiClient& api, const JsonValue& cr, int64_t revision, client::ObjectCallback done) {
  JsonDoc upd = CopyDoc(cr);
  SetMember(upd, "revision", JsonValue(revision), upd.GetAllocator());
  api.Update(kRevs, std::string(Namespace(cr)), upd, "", std::move(done));
}

void DeleteRevision(client::ApiClient& api, const JsonValue& cr, client::ObjectCallback done) {
  api.Delete(kRevs, std::string(Namespace(cr)), std::string(Name(cr)), client::DeleteOptions{}, std::move(done));
}

}  // namespace minik::controllers::history
