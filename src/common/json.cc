#include "common/json.h"

#include <rapidjson/error/en.h>
#include <rapidjson/prettywriter.h>

namespace minik {

StatusOr<JsonDoc> ParseJson(std::string_view text) {
  JsonDoc doc;
  doc.Parse(text.data(), text.size());
  if (doc.HasParseError()) {
    return Status::BadRequest(std::string(rapidjson::GetParseError_En(doc.GetParseError())) +
                              " at offset " + std::to_string(doc.GetErrorOffset()));
  }
  return doc;
}

void AppendJson(const JsonValue& v, std::string* out) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  v.Accept(w);
  out->append(buf.GetString(), buf.GetSize());
}

std::string ToJson(const JsonValue& v) {
  std::string s;
  AppendJson(v, &s);
  return s;
}

std::string ToPrettyJson(const JsonValue& v) {
  rapidjson::StringBuffer buf;
  rapidjson::PrettyWriter<rapidjson::StringBuffer> w(buf);
  w.SetIndent(' ', 2);
  v.Accept(w);
  return std::string(buf.GetString(), buf.GetSize());
}

const JsonValue* Member(const JsonValue& obj, std::string_view name) {
  if (!obj.IsObject()) return nullptr;
  auto it = obj.FindMember(JsonValue(rapidjson::StringRef(name.data(), name.size())));
  return it == obj.MemberEnd() ? nullptr : &it->value;
}

JsonValue* MutableMember(JsonValue& obj, std::string_view name) {
  if (!obj.IsObject()) return nullptr;
  auto it = obj.FindMember(JsonValue(rapidjson::StringRef(name.data(), name.size())));
  return it == obj.MemberEnd() ? nullptr : &it->value;
}

const JsonValue* Path(const JsonValue& obj, std::initializer_list<std::string_view> path) {
  const JsonValue* cur = &obj;
  for (auto p : path) {
    cur = Member(*cur, p);
    if (!cur) return nullptr;
  }
  return cur;
}

std::optional<std::string_view> GetString(const JsonValue& obj, std::string_view name) {
  const JsonValue* v = Member(obj, name);
  if (!v || !v->IsString()) return std::nullopt;
  return std::string_view(v->GetString(), v->GetStringLength());
}

std::optional<int64_t> GetInt(const JsonValue& obj, std::string_view name) {
  const JsonValue* v = Member(obj, name);
  if (!v || !v->IsInt64()) return std::nullopt;
  return v->GetInt64();
}

std::optional<bool> GetBool(const JsonValue& obj, std::string_view name) {
  const JsonValue* v = Member(obj, name);
  if (!v || !v->IsBool()) return std::nullopt;
  return v->GetBool();
}

JsonValue& EnsureObject(JsonValue& obj, std::string_view name, JsonAlloc& a) {
  JsonValue* v = MutableMember(obj, name);
  if (v) {
    if (!v->IsObject()) v->SetObject();
    return *v;
  }
  obj.AddMember(MakeString(name, a), JsonValue(rapidjson::kObjectType), a);
  return (obj.MemberEnd() - 1)->value;
}

void SetMember(JsonValue& obj, std::string_view name, JsonValue v, JsonAlloc& a) {
  JsonValue* existing = MutableMember(obj, name);
  if (existing) {
    *existing = std::move(v);
    return;
  }
  obj.AddMember(MakeString(name, a), std::move(v), a);
}

void SetString(JsonValue& obj, std::string_view name, std::string_view s, JsonAlloc& a) {
  SetMember(obj, name, MakeString(s, a), a);
}

void RemoveMember(JsonValue& obj, std::string_view name) {
  if (!obj.IsObject()) return;
  auto it = obj.FindMember(JsonValue(rapidjson::StringRef(name.data(), name.size())));
  if (it != obj.MemberEnd()) obj.EraseMember(it);
}

JsonValue MakeString(std::string_view s, JsonAlloc& a) {
  return JsonValue(s.data(), static_cast<rapidjson::SizeType>(s.size()), a);
}

JsonValue Clone(const JsonValue& v, JsonAlloc& a) { return JsonValue(v, a); }

}  // namespace minik
