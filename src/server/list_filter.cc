#include "server/list_filter.h"

#include "api/fields.h"
#include "api/labels.h"
#include "api/table.h"
#include "common/strings.h"
#include "server/api_call.h"

namespace minik::server {

std::string FieldValue(const JsonValue& obj, std::string_view field) {
  if (field == "status.podIPs") {
    // Matches if any pod IP matches; represented by the first for equality selectors.
    const JsonValue* ips = Path(obj, {"status", "podIPs"});
    if (ips && ips->IsArray() && !ips->Empty()) {
      auto ip = GetString((*ips)[0], "ip");
      return ip ? std::string(*ip) : "";
    }
    return "";
  }
  const JsonValue* cur = &obj;
  for (auto part : Split(field, '.')) {
    cur = Member(*cur, part);
    if (!cur) return "";
  }
  if (cur->IsString()) return std::string(cur->GetString(), cur->GetStringLength());
  if (cur->IsBool()) return cur->GetBool() ? "true" : "false";
  if (cur->IsInt64()) return std::to_string(cur->GetInt64());
  return "";
}

StatusOr<ListFilter> MakeListFilter(const api::ResourceInfo& info, const std::string& label_selector,
                                    const std::string& field_selector) {
  ListFilter f;
  std::shared_ptr<api::LabelSelector> labels;
  std::shared_ptr<api::FieldSelector> fields;
  if (!Trim(label_selector).empty()) {
    auto sel = api::LabelSelector::Parse(label_selector);
    if (!sel.ok()) return Status::BadRequest(sel.error().message());
    if (!sel->Empty()) labels = std::make_shared<api::LabelSelector>(std::move(*sel));
  }
  if (!Trim(field_selector).empty()) {
    auto sel = api::FieldSelector::Parse(field_selector);
    if (!sel.ok()) return Status::BadRequest(sel.error().message());
    for (const auto& req : sel->requirements()) {
      bool ok = req.field == "metadata.name" || req.field == "metadata.namespace";
      for (const auto& s : info.field_selectors) ok = ok || s == req.field;
      if (!ok) return api::FieldLabelNotSupportedError(req.field);
    }
    f.name = sel->RequiresExactMatch("metadata.name");
    if (!sel->Empty()) fields = std::make_shared<api::FieldSelector>(std::move(*sel));
  }
  if (!labels && !fields) return f;
  f.selects_all = false;
  f.match = [labels, fields](const JsonValue& obj) {
    if (labels) {
      const JsonValue* l = Path(obj, {"metadata", "labels"});
      if (!labels->Matches(l)) return false;
    }
    if (fields) {
      return fields->Matches([&obj](std::string_view field) -> std::optional<std::string> {
        return FieldValue(obj, field);
      });
    }
    return true;
  };
  return f;
}

ObjectStore::Page ListKept(const ObjectStore& store, const std::string& prefix, bool one_scope,
                           const std::string& start_after, int64_t limit, const ListFilter& filter) {
  if (one_scope && filter.name) {
    ObjectStore::Page page;
    page.revision = store.revision();
    std::string key = prefix + *filter.name;
    if (filter.name->find('/') != std::string::npos || (!start_after.empty() && start_after >= key)) return page;
    if (ObjectPtr o = store.Get(key); o && filter(*o->object)) {
      page.items.push_back(o);
      page.last_key = key;
    }
    return page;
  }
  std::function<bool(const StoredObject&)> keep;
  if (!filter.selects_all) keep = [&filter](const StoredObject& o) { return filter(*o.object); };
  return store.List(prefix, start_after, limit, keep);
}

std::string EncodeContinue(int64_t revision, const std::string& start) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("v");
  w.String("meta.k8s.io/v1");
  w.Key("rv");
  w.Int64(revision);
  w.Key("start");
  w.String(start.c_str(), static_cast<rapidjson::SizeType>(start.size()));
  w.EndObject();
  std::string b = Base64Encode(std::string_view(buf.GetString(), buf.GetSize()));
  // URL-safe alphabet without padding, as Go's base64.RawURLEncoding.
  for (char& ch : b) {
    if (ch == '+') ch = '-';
    else if (ch == '/') ch = '_';
  }
  while (!b.empty() && b.back() == '=') b.pop_back();
  return b;
}

StatusOr<ContinueToken> DecodeContinue(const std::string& token, const std::string& prefix) {
  std::string raw;
  Status bad = Status::BadRequest("continue key is not valid: illegal base64 data at input byte 0");
  if (!Base64Decode(token, &raw)) return bad;
  auto doc = ParseJson(raw);
  if (!doc.ok() || !doc->IsObject()) return Status::BadRequest("continue key is not valid: " + (doc.ok() ? std::string("not an object") : doc.error().message()));
  auto v = GetString(*doc, "v");
  if (!v || *v != "meta.k8s.io/v1") return Status::BadRequest("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)");
  auto rv = GetInt(*doc, "rv");
  auto start = GetString(*doc, "start");
  if (!rv || !start) return Status::BadRequest("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)");
  // -1 is the "inconsistent" token of an expired list: continue from the newest state.
  if (*rv == 0 || *rv < -1) return Status::BadRequest("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)");
  ContinueToken t;
  t.revision = *rv;
  t.start = std::string(*start);
  if (t.start.find("..") != std::string::npos) return Status::BadRequest("continue key is not valid: key is not valid");
  return t;
}

std::string EncodeTable(const api::ResourceInfo& info, const std::vector<ObjectPtr>& objects,
                        const std::string& resource_version, const std::string& continue_token,
                        int64_t remaining, const std::string& include_object, TimePoint now, bool headers) {
  JsonDoc doc;
  doc.SetObject();
  auto& a = doc.GetAllocator();
  doc.AddMember("kind", "Table", a);
  doc.AddMember("apiVersion", "meta.k8s.io/v1", a);
  JsonValue meta(rapidjson::kObjectType);
  meta.AddMember("resourceVersion", MakeString(resource_version, a), a);
  if (!continue_token.empty()) {
    meta.AddMember("continue", MakeString(continue_token, a), a);
    if (remaining > 0) meta.AddMember("remainingItemCount", JsonValue(static_cast<int64_t>(remaining)), a);
  }
  doc.AddMember("metadata", meta, a);
  JsonValue cols(rapidjson::kArrayType);
  if (headers) {
    for (const auto& col : api::TableColumns(info)) {
      JsonValue c(rapidjson::kObjectType);
      c.AddMember("name", MakeString(col.name, a), a);
      c.AddMember("type", MakeString(col.type, a), a);
      c.AddMember("format", MakeString(col.format, a), a);
      c.AddMember("description", MakeString(col.description, a), a);
      c.AddMember("priority", col.priority, a);
      cols.PushBack(c, a);
    }
    doc.AddMember("columnDefinitions", cols, a);
  } else {
    doc.AddMember("columnDefinitions", JsonValue(rapidjson::kNullType), a);
  }
  JsonValue rows(rapidjson::kArrayType);
  for (const auto& o : objects) {
    JsonValue row(rapidjson::kObjectType);
    JsonValue cells(rapidjson::kArrayType);
    api::TableCells(info, *o->object, now, cells, a);
    row.AddMember("cells", cells, a);
    if (include_object == "None") {
      row.AddMember("object", JsonValue(rapidjson::kNullType), a);
    } else if (include_object == "Object") {
      row.AddMember("object", Clone(*o->object, a), a);
    } else {
      JsonValue partial(rapidjson::kObjectType);
      partial.AddMember("kind", "PartialObjectMetadata", a);
      partial.AddMember("apiVersion", "meta.k8s.io/v1", a);
      const JsonValue* m = Member(*o->object, "metadata");
      partial.AddMember("metadata", m ? Clone(*m, a) : JsonValue(rapidjson::kObjectType), a);
      row.AddMember("object", partial, a);
    }
    rows.PushBack(row, a);
  }
  doc.AddMember("rows", rows, a);
  return ToJson(doc);
}

}  // namespace minik::server
