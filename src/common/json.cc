#include "common/json.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>
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


namespace {

void AppendGoString(std::string_view s, std::string* out) {
  static const char kHex[] = "0123456789abcdef";
  out->push_back('"');
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '"': out->append("\\\""); continue;
      case '\\': out->append("\\\\"); continue;
      case '\n': out->append("\\n"); continue;
      case '\r': out->append("\\r"); continue;
      case '\t': out->append("\\t"); continue;
      case '\b': out->append("\\b"); continue;
      case '\f': out->append("\\f"); continue;
      case '<': case '>': case '&':
        out->append("\\u00");
        out->push_back(kHex[c >> 4]);
        out->push_back(kHex[c & 0xf]);
        continue;
      default: break;
    }
    if (c < 0x20) {
      out->append("\\u00");
      out->push_back(kHex[c >> 4]);
      out->push_back(kHex[c & 0xf]);
      continue;
    }
    // U+2028 and U+2029 (E2 80 A8 / E2 80 A9) are escaped by Go too.
    if (c == 0xE2 && i + 2 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0x80 &&
        (static_cast<unsigned char>(s[i + 2]) == 0xA8 || static_cast<unsigned char>(s[i + 2]) == 0xA9)) {
      out->append(static_cast<unsigned char>(s[i + 2]) == 0xA8 ? "\\u2028" : "\\u2029");
      i += 2;
      continue;
    }
    out->push_back(static_cast<char>(c));
  }
  out->push_back('"');
}

}  // namespace

void AppendGoJson(const JsonValue& v, std::string* out) {
  switch (v.GetType()) {
    case rapidjson::kNullType: out->append("null"); return;
    case rapidjson::kFalseType: out->append("false"); return;
    case rapidjson::kTrueType: out->append("true"); return;
    case rapidjson::kStringType:
      AppendGoString(std::string_view(v.GetString(), v.GetStringLength()), out);
      return;
    case rapidjson::kNumberType: {
      if (v.IsInt64()) {
        out->append(std::to_string(v.GetInt64()));
      } else if (v.IsUint64()) {
        out->append(std::to_string(v.GetUint64()));
      } else {
        double d = v.GetDouble();
        if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 1e21) {
          char buf[32];
          std::snprintf(buf, sizeof buf, "%.0f", d);
          out->append(buf);
        } else {
          char buf[32] = {0};
          // Shortest representation that round-trips.
          for (int prec = 1; prec <= 17; ++prec) {
            std::snprintf(buf, sizeof buf, "%.*g", prec, d);
            if (std::strtod(buf, nullptr) == d) break;
          }
          out->append(buf);
        }
      }
      return;
    }
    case rapidjson::kArrayType: {
      out->push_back('[');
      bool first = true;
      for (const JsonValue& item : v.GetArray()) {
        if (!first) out->push_back(',');
        first = false;
        AppendGoJson(item, out);
      }
      out->push_back(']');
      return;
    }
    case rapidjson::kObjectType: {
      std::vector<const JsonValue::Member*> members;
      for (const auto& m : v.GetObject()) members.push_back(&m);
      std::sort(members.begin(), members.end(), [](const JsonValue::Member* a, const JsonValue::Member* b) {
        return std::string_view(a->name.GetString(), a->name.GetStringLength()) <
               std::string_view(b->name.GetString(), b->name.GetStringLength());
      });
      out->push_back('{');
      bool first = true;
      for (const JsonValue::Member* m : members) {
        if (!first) out->push_back(',');
        first = false;
        AppendGoString(std::string_view(m->name.GetString(), m->name.GetStringLength()), out);
        out->push_back(':');
        AppendGoJson(m->value, out);
      }
      out->push_back('}');
      return;
    }
  }
}

}  // namespace minik
