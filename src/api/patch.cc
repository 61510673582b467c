#include "api/patch.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

namespace minik::api {
namespace {

// ---------------------------------------------------------------------------------------------
// Shared helpers

enum class JT { kNull, kObject, kArray, kString, kNumber, kBool };

JT TypeOf(const JsonValue& v) {
  if (v.IsObject()) return JT::kObject;
  if (v.IsArray()) return JT::kArray;
  if (v.IsString()) return JT::kString;
  if (v.IsNumber()) return JT::kNumber;
  if (v.IsBool()) return JT::kBool;
  return JT::kNull;
}

std::string_view Sv(const JsonValue& v) { return std::string_view(v.GetString(), v.GetStringLength()); }

double Num(const JsonValue& v) { return v.GetDouble(); }

// Go's == on decoded JSON scalars (all numbers are float64). Maps and slices never compare equal.
bool GoEq(const JsonValue& a, const JsonValue& b) {
  JT ta = TypeOf(a), tb = TypeOf(b);
  if (ta != tb) return false;
  switch (ta) {
    case JT::kNull: return true;
    case JT::kBool: return a.GetBool() == b.GetBool();
    case JT::kString: return Sv(a) == Sv(b);
    case JT::kNumber: return Num(a) == Num(b);
    default: return false;
  }
}

bool DeepEq(const JsonValue& a, const JsonValue& b) {
  JT ta = TypeOf(a), tb = TypeOf(b);
  if (ta != tb) return false;
  if (ta == JT::kObject) {
    if (a.MemberCount() != b.MemberCount()) return false;
    for (auto it = a.MemberBegin(); it != a.MemberEnd(); ++it) {
      const JsonValue* o = Member(b, Sv(it->name));
      if (!o || !DeepEq(it->value, *o)) return false;
    }
    return true;
  }
  if (ta == JT::kArray) {
    if (a.Size() != b.Size()) return false;
    for (rapidjson::SizeType i = 0; i < a.Size(); ++i)
      if (!DeepEq(a[i], b[i])) return false;
    return true;
  }
  return GoEq(a, b);
}

// Go's %v of a float64 (strconv 'g', shortest, exponent when exp < -4 || exp >= 21 is JSON's rule;
// fmt uses 6).
std::string GoFloat(double d) {
  if (d == 0) return std::signbit(d) ? "-0" : "0";
  char buf[40];
  int prec = 1;
  for (; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*e", prec - 1, d);
    if (std::strtod(buf, nullptr) == d) break;
  }
  // buf: [-]D.DDDDe[+-]XX
  std::string s(buf);
  bool neg = s[0] == '-';
  if (neg) s.erase(0, 1);
  size_t e = s.find('e');
  int exp = std::atoi(s.c_str() + e + 1);
  std::string digits;
  for (size_t i = 0; i < e; ++i)
    if (s[i] != '.') digits += s[i];
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  std::string out;
  if (exp < -4 || exp >= 6) {
    out = digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char eb[16];
    std::snprintf(eb, sizeof eb, "e%c%02d", exp < 0 ? '-' : '+', std::abs(exp));
    out += eb;
  } else if (exp < 0) {
    out = "0." + std::string(static_cast<size_t>(-exp - 1), '0') + digits;
  } else {
    if (digits.size() <= static_cast<size_t>(exp) + 1) {
      out = digits + std::string(static_cast<size_t>(exp) + 1 - digits.size(), '0');
    } else {
      out = digits.substr(0, static_cast<size_t>(exp) + 1) + "." + digits.substr(static_cast<size_t>(exp) + 1);
    }
  }
  return neg ? "-" + out : out;
}

// Go's %v of a value decoded from JSON into interface{}.
void GoV(const JsonValue& v, std::string* out) {
  switch (TypeOf(v)) {
    case JT::kNull: *out += "<nil>"; return;
    case JT::kBool: *out += v.GetBool() ? "true" : "false"; return;
    case JT::kString: out->append(Sv(v)); return;
    case JT::kNumber: *out += GoFloat(Num(v)); return;
    case JT::kArray: {
      *out += '[';
      bool first = true;
      for (const auto& e : v.GetArray()) {
        if (!first) *out += ' ';
        first = false;
        GoV(e, out);
      }
      *out += ']';
      return;
    }
    case JT::kObject: {
      std::vector<const JsonValue::Member*> members;
      for (auto it = v.MemberBegin(); it != v.MemberEnd(); ++it) members.push_back(&*it);
      std::sort(members.begin(), members.end(), [](auto* a, auto* b) { return Sv(a->name) < Sv(b->name); });
      *out += "map[";
      for (size_t i = 0; i < members.size(); ++i) {
        if (i) *out += ' ';
        out->append(Sv(members[i]->name));
        *out += ':';
        GoV(members[i]->value, out);
      }
      *out += ']';
      return;
    }
  }
}
std::string GoV(const JsonValue& v) {
  std::string s;
  GoV(v, &s);
  return s;
}

// Go's reflect Kind name of a decoded JSON value.
std::string_view GoKind(const JsonValue* v) {
  if (!v) return "nil";
  switch (TypeOf(*v)) {
    case JT::kNull: return "nil";
    case JT::kObject: return "map";
    case JT::kArray: return "slice";
    case JT::kString: return "string";
    case JT::kNumber: return "float64";
    case JT::kBool: return "bool";
  }
  return "nil";
}

// encoding/json's message for malformed input, approximately (the common cases exactly).
std::string GoJsonSyntaxError(std::string_view text, size_t offset) {
  size_t i = offset;
  while (i < text.size() && (text[i] == ' ' || text[i] == '\n' || text[i] == '\r' || text[i] == '\t')) ++i;
  if (i >= text.size()) return "unexpected end of JSON input";
  char c = text[i];
  std::string ch = c == '\'' ? "'\\''" : "'" + std::string(1, c) + "'";
  return "invalid character " + ch + " looking for beginning of value";
}

// 422 as upstream builds it with NewGenericServerResponse: fixed message, empty details.
Status Rejected() {
  Status s = Status::Invalid("the server rejected our request due to an error in our request");
  s.SetDetails(StatusDetails{});
  return s;
}

// ---------------------------------------------------------------------------------------------
// JSON Patch (evanphx/json-patch v4)

bool GoAtoi(std::string_view s, long long* out) {
  if (s.empty()) return false;
  bool neg = false;
  size_t i = 0;
  if (s[0] == '+' || s[0] == '-') {
    neg = s[0] == '-';
    i = 1;
  }
  if (i == s.size()) return false;
  long long v = 0;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    if (v > (1LL << 53)) return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = neg ? -v : v;
  return true;
}

std::string DecodeToken(std::string_view k) {
  std::string out;
  for (size_t i = 0; i < k.size(); ++i) {
    if (k[i] == '~' && i + 1 < k.size() && (k[i + 1] == '0' || k[i + 1] == '1')) {
      out += k[i + 1] == '1' ? '/' : '~';
      ++i;
    } else {
      out += k[i];
    }
  }
  return out;
}

// findObject: the container holding the last token, and that token. nullptr when missing.
JsonValue* FindContainer(JsonValue& doc, std::string_view path, std::string* key) {
  std::vector<std::string_view> split;
  size_t start = 0;
  while (true) {
    size_t slash = path.find('/', start);
    split.push_back(path.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  if (split.size() < 2) return nullptr;
  JsonValue* cur = &doc;
  for (size_t i = 1; i + 1 < split.size(); ++i) {
    std::string part = DecodeToken(split[i]);
    JsonValue* next = nullptr;
    if (cur->IsObject()) {
      next = MutableMember(*cur, part);
    } else if (cur->IsArray()) {
      long long idx;
      if (!GoAtoi(part, &idx)) return nullptr;
      long long n = cur->Size();
      if (idx < 0) {
        if (idx < -n) return nullptr;
        idx += n;
      }
      if (idx >= n) return nullptr;
      next = &(*cur)[static_cast<rapidjson::SizeType>(idx)];
    }
    if (!next || !(next->IsObject() || next->IsArray())) return nullptr;
    cur = next;
  }
  *key = DecodeToken(split.back());
  return cur;
}

// Array index resolution for get/set/remove (idx must be < n) and add (idx <= n).
bool ArrayIndex(const std::string& key, long long n, bool for_add, long long* out) {
  long long idx;
  if (!GoAtoi(key, &idx)) return false;
  long long size = for_add ? n + 1 : n;
  if (idx >= size) return false;
  if (idx < 0) {
    if (idx < -size) return false;
    idx += size;
  }
  *out = idx;
  return true;
}

bool ConAdd(JsonValue& con, const std::string& key, JsonValue val, JsonAlloc& a) {
  if (con.IsObject()) {
    SetMember(con, key, std::move(val), a);
    return true;
  }
  if (key == "-") {
    con.PushBack(std::move(val), a);
    return true;
  }
  long long idx;
  if (!ArrayIndex(key, con.Size(), true, &idx)) return false;
  con.PushBack(JsonValue(), a);
  for (long long i = con.Size() - 1; i > idx; --i) con[static_cast<rapidjson::SizeType>(i)] = con[static_cast<rapidjson::SizeType>(i - 1)];
  con[static_cast<rapidjson::SizeType>(idx)] = std::move(val);
  return true;
}

// get: nullptr with ok=true for a missing object key (v4 returns nil, nil).
const JsonValue* ConGet(JsonValue& con, const std::string& key, bool* ok) {
  *ok = true;
  if (con.IsObject()) return Member(con, key);
  long long idx;
  if (!ArrayIndex(key, con.Size(), false, &idx)) {
    *ok = false;
    return nullptr;
  }
  return &con[static_cast<rapidjson::SizeType>(idx)];
}

bool ConRemove(JsonValue& con, const std::string& key) {
  if (con.IsObject()) {
    auto it = con.FindMember(JsonValue(rapidjson::StringRef(key.data(), key.size())));
    if (it == con.MemberEnd()) return false;
    con.EraseMember(it);
    return true;
  }
  long long idx;
  if (!ArrayIndex(key, con.Size(), false, &idx)) return false;
  con.Erase(con.Begin() + idx);
  return true;
}

std::optional<std::string_view> OpString(const JsonValue& op, std::string_view name) {
  const JsonValue* v = Member(op, name);
  if (!v || !v->IsString()) return std::nullopt;
  return Sv(*v);
}

// A value that is absent or null in the operation reads as JSON null (as a nil RawMessage).
bool IsNullish(const JsonValue* v) { return !v || v->IsNull(); }

bool ApplyOp(JsonDoc& doc, const JsonValue& op) {
  JsonAlloc& a = doc.GetAllocator();
  std::string_view kind = OpString(op, "op").value_or("unknown");
  const JsonValue* value = Member(op, "value");
  auto path = OpString(op, "path");
  std::string key;
  if (kind == "add") {
    if (!path) return false;
    JsonValue* con = FindContainer(doc, *path, &key);
    if (!con) return false;
    return ConAdd(*con, key, value ? JsonValue(*value, a) : JsonValue(), a);
  }
  if (kind == "remove") {
    if (!path) return false;
    JsonValue* con = FindContainer(doc, *path, &key);
    return con && ConRemove(*con, key);
  }
  if (kind == "replace") {
    if (!path) return false;
    if (path->empty()) {
      if (!value || !(value->IsObject() || value->IsArray())) return false;
      JsonValue copy(*value, a);
      static_cast<JsonValue&>(doc) = std::move(copy);
      return true;
    }
    JsonValue* con = FindContainer(doc, *path, &key);
    if (!con) return false;
    bool ok;
    ConGet(*con, key, &ok);
    if (!ok) return false;
    JsonValue v = value ? JsonValue(*value, a) : JsonValue();
    if (con->IsObject()) {
      SetMember(*con, key, std::move(v), a);
    } else {
      long long idx;
      if (!ArrayIndex(key, con->Size(), false, &idx)) return false;
      (*con)[static_cast<rapidjson::SizeType>(idx)] = std::move(v);
    }
    return true;
  }
  if (kind == "move" || kind == "copy") {
    auto from = OpString(op, "from");
    if (!from) return false;
    std::string from_key;
    JsonValue* con = FindContainer(doc, *from, &from_key);
    if (!con) return false;
    bool ok;
    const JsonValue* src = ConGet(*con, from_key, &ok);
    if (!ok) return false;
    JsonValue val = src ? JsonValue(*src, a) : JsonValue();
    if (kind == "move" && !ConRemove(*con, from_key)) return false;
    if (!path) return false;
    JsonValue* dst = FindContainer(doc, *path, &key);
    if (!dst) return false;
    return ConAdd(*dst, key, std::move(val), a);
  }
  if (kind == "test") {
    if (!path) return false;
    if (path->empty()) return value && DeepEq(doc, *value);
    JsonValue* con = FindContainer(doc, *path, &key);
    if (!con) return false;
    bool ok;
    const JsonValue* cur = ConGet(*con, key, &ok);
    if (!ok) return false;
    if (IsNullish(cur)) return IsNullish(value);
    if (IsNullish(value)) return false;
    return DeepEq(*cur, *value);
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Strategic merge patch

constexpr std::string_view kDirective = "$patch";
constexpr std::string_view kRetainKeys = "$retainKeys";
constexpr std::string_view kSetElementOrder = "$setElementOrder";
constexpr std::string_view kDeleteFromPrimitiveList = "$deleteFromPrimitiveList";

bool HasPrefix(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }
bool IsSetElementOrderKey(std::string_view k) { return HasPrefix(k, "$setElementOrder/"); }
bool IsDeleteListKey(std::string_view k) { return HasPrefix(k, kDeleteFromPrimitiveList); }

Status BadRequest(std::string_view m) { return Status::BadRequest(std::string(m)); }
Status ErrNoMergeKey(const JsonValue& m, std::string_view key) {
  return Status::Internal("map: " + GoV(m) + " does not contain declared merge key: " + std::string(key));
}
Status ErrBadArgType(std::string_view expected, const JsonValue* actual) {
  return Status::Internal("expected a " + std::string(expected) + ", but received a " + std::string(GoKind(actual)));
}
Status ErrBadPatchType(const JsonValue& t, const JsonValue& m) {
  return Status::Internal("unknown patch type: " + GoV(t) + " in map: " + GoV(m));
}
Status ErrNoListOfLists() { return Rejected(); }  // "lists of lists are not supported", 422 upstream

// extractKey: "prefix/field" -> field.
StatusOr<std::string> ExtractKey(std::string_view s, std::string_view prefix) {
  size_t slash = s.find('/');
  if (slash == std::string_view::npos || s.substr(0, slash) != prefix) {
    if (prefix == kDeleteFromPrimitiveList) return BadRequest("invalid patch format of primitive list");
    return BadRequest("invalid patch format of setElementOrder list");
  }
  return std::string(s.substr(slash + 1));
}

std::string_view StrategyWithoutRetainKeys(std::string_view s) {
  if (s == "retainKeys") return "";
  if (s == "merge,retainKeys" || s == "retainKeys,merge") return "merge";
  return s;
}

void DiscardNulls(JsonValue& v) {
  if (v.IsObject()) {
    for (auto it = v.MemberBegin(); it != v.MemberEnd();) {
      if (it->value.IsNull()) {
        it = v.EraseMember(it);
      } else {
        DiscardNulls(it->value);
        ++it;
      }
    }
  } else if (v.IsArray()) {
    for (auto& e : v.GetArray()) DiscardNulls(e);
  }
}

// removeDirectives: drops maps carrying $patch; also drops the other directive keys, which a
// typed decode would drop upstream.
bool RemoveDirectives(JsonValue& v) {
  if (v.IsObject()) {
    if (Member(v, kDirective)) return false;
    for (auto it = v.MemberBegin(); it != v.MemberEnd();) {
      std::string_view k = Sv(it->name);
      if (k == kRetainKeys || IsSetElementOrderKey(k) || IsDeleteListKey(k) || !RemoveDirectives(it->value)) {
        it = v.EraseMember(it);
      } else {
        ++it;
      }
    }
  } else if (v.IsArray()) {
    for (auto it = v.Begin(); it != v.End();) {
      if (!RemoveDirectives(*it)) {
        it = v.Erase(it);
      } else {
        ++it;
      }
    }
  }
  return true;
}

// The identity of a list item for ordering: its merge key value (maps) or itself (scalars).
const JsonValue& ItemKey(const JsonValue& item, std::string_view merge_key, const JsonValue& null_value) {
  if (item.IsObject()) {
    const JsonValue* k = Member(item, merge_key);
    return k ? *k : null_value;
  }
  return item;
}

class Smp {
 public:
  explicit Smp(JsonAlloc& a) : a_(a) {}

  // mergeMap. original is an object (or null, treated as {}); patch is an object and is consumed.
  Status MergeMap(JsonValue& original, JsonValue& patch, const PatchType* schema) {
    if (const JsonValue* d = Member(patch, kDirective)) {
      if (d->IsString() && Sv(*d) == "replace") {
        RemoveMember(patch, kDirective);
        original = std::move(patch);
        DiscardNulls(original);
        return Status::OK();
      }
      if (d->IsString() && Sv(*d) == "delete") {
        original.SetObject();
        return Status::OK();
      }
      return ErrBadPatchType(*d, patch);
    }
    if (!original.IsObject()) original.SetObject();
    MINIK_RETURN_IF_ERROR(ApplyRetainKeys(original, patch));
    MINIK_RETURN_IF_ERROR(MergePatchIntoOriginal(original, patch, schema));

    for (auto it = patch.MemberBegin(); it != patch.MemberEnd(); ++it) {
      std::string k(Sv(it->name));
      JsonValue& pv = it->value;
      bool is_delete_list = false;
      if (IsDeleteListKey(k)) {
        MINIK_ASSIGN_OR_RETURN(k, ExtractKey(k, kDeleteFromPrimitiveList));
        is_delete_list = true;
      }
      if (pv.IsNull()) {
        RemoveMember(original, k);
        continue;
      }
      JsonValue* ov = MutableMember(original, k);
      if (!ov || TypeOf(*ov) != TypeOf(pv)) {
        if (!is_delete_list) {
          DiscardNulls(pv);
          if (RemoveDirectives(pv)) {
            SetMember(original, k, std::move(pv), a_);
          } else {
            RemoveMember(original, k);
          }
        }
        continue;
      }
      const PatchType* sub = nullptr;
      PatchMeta meta = LookupField(schema, k, &sub);
      std::string_view strategy = StrategyWithoutRetainKeys(meta.strategy);
      if (pv.IsObject()) {
        if (strategy != "replace") {
          MINIK_RETURN_IF_ERROR(MergeMap(*ov, pv, sub));
        } else {
          DiscardNulls(pv);
          *ov = std::move(pv);
        }
      } else if (pv.IsArray()) {
        MINIK_RETURN_IF_ERROR(MergeSliceHandler(*ov, pv, sub, strategy, meta.merge_key, is_delete_list));
      } else {
        *ov = std::move(pv);
      }
    }
    return Status::OK();
  }

 private:
  Status ApplyRetainKeys(JsonValue& original, JsonValue& patch) {
    JsonValue* rk = MutableMember(patch, kRetainKeys);
    if (!rk) return Status::OK();
    JsonValue list = std::move(*rk);
    RemoveMember(patch, kRetainKeys);
    if (!list.IsArray()) return BadRequest("invalid patch format of retainKeys");
    auto retained = [&list](std::string_view k) {
      for (const auto& e : list.GetArray())
        if (e.IsString() && Sv(e) == k) return true;
      return false;
    };
    for (auto it = patch.MemberBegin(); it != patch.MemberEnd(); ++it) {
      std::string_view k = Sv(it->name);
      if (it->value.IsNull() || IsDeleteListKey(k) || IsSetElementOrderKey(k)) continue;
      if (!retained(k)) return BadRequest("invalid patch format of retainKeys");
    }
    for (auto it = original.MemberBegin(); it != original.MemberEnd();) {
      if (!retained(Sv(it->name))) {
        it = original.EraseMember(it);
      } else {
        ++it;
      }
    }
    return Status::OK();
  }

  Status MergePatchIntoOriginal(JsonValue& original, JsonValue& patch, const PatchType* schema) {
    std::vector<std::string> keys;
    for (auto it = patch.MemberBegin(); it != patch.MemberEnd(); ++it)
      if (IsSetElementOrderKey(Sv(it->name))) keys.emplace_back(Sv(it->name));
    for (const auto& key : keys) {
      JsonValue order = std::move(*MutableMember(patch, key));
      RemoveMember(patch, key);
      if (!order.IsArray()) return ErrBadArgType("slice", &order);
      MINIK_ASSIGN_OR_RETURN(std::string field, ExtractKey(key, kSetElementOrder));
      JsonValue* olist = MutableMember(original, field);
      JsonValue* plist = MutableMember(patch, field);
      if (olist && !olist->IsArray()) return ErrBadArgType("slice", olist);
      if (plist && !plist->IsArray()) return ErrBadArgType("slice", plist);
      const PatchType* sub = nullptr;
      PatchMeta meta = LookupField(schema, field, &sub);
      std::string_view strategy = StrategyWithoutRetainKeys(meta.strategy);
      if (plist) MINIK_RETURN_IF_ERROR(ValidatePatchWithSetOrderList(*plist, order, meta.merge_key));

      JsonValue original_copy = olist ? JsonValue(*olist, a_) : JsonValue(rapidjson::kArrayType);
      JsonValue patch_copy = plist ? JsonValue(*plist, a_) : JsonValue(rapidjson::kArrayType);
      JsonValue merged;
      if (olist && !plist) {
        merged = std::move(*olist);
      } else if (!olist && plist) {
        merged = std::move(*plist);
        RemoveDirectives(merged);
      } else if (olist && plist) {
        MINIK_RETURN_IF_ERROR(MergeSliceHandler(*olist, *plist, sub, strategy, meta.merge_key, false, &original_copy));
        merged = std::move(*olist);
      } else {
        continue;
      }
      MINIK_ASSIGN_OR_RETURN(JT kind, SliceElementType({&original_copy, &patch_copy}));
      std::vector<JsonValue> patch_items, server_only;
      MINIK_RETURN_IF_ERROR(Partition(merged, order, meta.merge_key, &patch_items, &server_only));
      MINIK_ASSIGN_OR_RETURN(JsonValue both,
                             NormalizeElementOrder(std::move(patch_items), std::move(server_only), order,
                                                   original_copy, meta.merge_key, kind));
      SetMember(original, field, std::move(both), a_);
      RemoveMember(patch, field);
    }
    return Status::OK();
  }

  Status ValidatePatchWithSetOrderList(const JsonValue& patch_list, const JsonValue& order, std::string_view merge_key) {
    if (order.Empty() || patch_list.Empty()) return Status::OK();
    std::vector<const JsonValue*> non_delete;
    for (const auto& e : patch_list.GetArray()) {
      if (!merge_key.empty()) {
        if (!e.IsObject()) return ErrBadArgType("map", &e);
        const JsonValue* d = Member(e, kDirective);
        if (d && d->IsString() && Sv(*d) == "delete") continue;
      }
      non_delete.push_back(&e);
    }
    size_t pi = 0, si = 0;
    while (pi < non_delete.size() && si < order.Size()) {
      const JsonValue& p = *non_delete[pi];
      if (p.IsObject() && Member(p, kDirective)) {
        ++pi;
        continue;
      }
      bool eq;
      if (merge_key.empty()) {
        eq = GoEq(p, order[static_cast<rapidjson::SizeType>(si)]);
      } else {
        const JsonValue& o = order[static_cast<rapidjson::SizeType>(si)];
        if (!p.IsObject()) return ErrBadArgType("map", &p);
        if (!o.IsObject()) return ErrBadArgType("map", &o);
        const JsonValue* pk = Member(p, merge_key);
        const JsonValue* ok = Member(o, merge_key);
        if (!pk) return ErrNoMergeKey(p, merge_key);
        if (!ok) return ErrNoMergeKey(o, merge_key);
        eq = GoEq(*pk, *ok);
      }
      if (eq) ++pi;
      ++si;
    }
    if (pi < non_delete.size() && si >= order.Size()) {
      return Status::Internal("The order in patch list:\n" + GoV(patch_list) + "\n doesn't match " +
                              std::string(kSetElementOrder) + " list:\n" + GoV(order) + "\n");
    }
    return Status::OK();
  }

  StatusOr<JT> SliceElementType(std::initializer_list<const JsonValue*> lists) {
    std::optional<JT> prev;
    for (const JsonValue* l : lists) {
      for (const auto& v : l->GetArray()) {
        JT t = TypeOf(v);
        if (!prev) {
          prev = t;
          if (t == JT::kArray) return ErrNoListOfLists();
        } else if (*prev != t) {
          std::string s = "[";
          bool first = true;
          for (const JsonValue* l2 : lists) {
            if (!first) s += ' ';
            first = false;
            s += GoV(*l2);
          }
          return Status::Internal("list element types are not identical: " + s + "]");
        }
      }
    }
    if (!prev) return Status::Internal("no elements in any of the given slices");
    return *prev;
  }

  // alias, when set, is the caller's view of the original list: upstream's Go code deletes and
  // appends in place on the original slice's backing array, and the caller orders the result by
  // what that array then holds ($setElementOrder). We replay those writes on alias.
  Status MergeSliceHandler(JsonValue& original, JsonValue& patch, const PatchType* schema, std::string_view strategy,
                           std::string_view merge_key, bool is_delete_list, JsonValue* alias = nullptr) {
    if (strategy == "merge" || is_delete_list) {
      return MergeSlice(original, patch, schema, merge_key, is_delete_list, alias);
    }
    DiscardNulls(patch);
    original = std::move(patch);
    return Status::OK();
  }

  Status MergeSlice(JsonValue& original, JsonValue& patch, const PatchType* schema, std::string_view merge_key,
                    bool is_delete_list, JsonValue* alias) {
    if (original.Empty() && patch.Empty()) return Status::OK();
    MINIK_ASSIGN_OR_RETURN(JT kind, SliceElementType({&original, &patch}));
    // The order keys of the patch list, before its items are consumed.
    JsonValue patch_order(patch, a_);
    JsonValue merged(rapidjson::kArrayType);
    if (kind != JT::kObject) {
      if (is_delete_list) {
        for (auto it = original.Begin(); it != original.End();) {
          bool del = false;
          for (const auto& d : patch.GetArray()) del = del || GoEq(*it, d);
          it = del ? original.Erase(it) : it + 1;
        }
        return Status::OK();
      }
      for (auto* l : {&original, &patch}) {
        for (auto& v : l->GetArray()) {
          bool dup = false;
          for (const auto& m : merged.GetArray()) dup = dup || GoEq(m, v);
          if (!dup) merged.PushBack(std::move(v), a_);
        }
      }
    } else {
      if (merge_key.empty()) {
        return Status::Internal("cannot merge lists without merge key for " +
                                std::string(schema ? schema->name : std::string_view()));
      }
      size_t live = original.Size();
      const size_t visible = alias ? alias->Size() : 0;
      auto alias_delete = [&](size_t i) {
        for (size_t k = i; k + 1 < live && k + 1 < visible; ++k) (*alias)[k] = JsonValue((*alias)[k + 1], a_);
        --live;
      };
      // mergeSliceWithSpecialElements
      JsonValue without(rapidjson::kArrayType);
      bool replace = false;
      for (auto& v : patch.GetArray()) {
        const JsonValue* d = Member(v, kDirective);
        if (!d) {
          without.PushBack(std::move(v), a_);
          continue;
        }
        std::string_view dv = d->IsString() ? Sv(*d) : std::string_view();
        if (dv == "delete") {
          const JsonValue* mv = Member(v, merge_key);
          if (!mv) return ErrNoMergeKey(v, merge_key);
          for (auto it = original.Begin(); it != original.End();) {
            if (!it->IsObject()) return Status::Internal("value for key " + std::to_string(it - original.Begin()) + " is not a map");
            const JsonValue* k = Member(*it, merge_key);
            if (k && GoEq(*k, *mv)) {
              if (alias) alias_delete(static_cast<size_t>(it - original.Begin()));
              it = original.Erase(it);
            } else {
              ++it;
            }
          }
        } else if (dv == "replace") {
          replace = true;
        } else if (dv == "merge") {
          return Status::Internal("merging lists cannot yet be specified in the patch");
        } else {
          return ErrBadPatchType(*d, v);
        }
      }
      if (replace) {
        alias = nullptr;  // later appends go to a new slice
        original = std::move(without);
        without.SetArray();
        patch_order.SetArray();
      } else {
        // Order keys exclude the special elements, as upstream partitions by the remaining patch.
        patch_order.SetArray();
        for (const auto& v : without.GetArray()) patch_order.PushBack(JsonValue(v, a_), a_);
      }
      JsonValue server_order(original, a_);
      // mergeSliceWithoutSpecialElements
      for (auto& v : without.GetArray()) {
        const JsonValue* mv = Member(v, merge_key);
        if (!mv) return ErrNoMergeKey(v, merge_key);
        JsonValue* found = nullptr;
        for (auto& o : original.GetArray()) {
          if (!o.IsObject()) return Status::Internal("value for key is not a map");
          const JsonValue* k = Member(o, merge_key);
          if (k && GoEq(*k, *mv)) {
            found = &o;
            break;
          }
        }
        if (found) {
          MINIK_RETURN_IF_ERROR(MergeMap(*found, v, schema));
        } else {
          if (alias && live < visible) (*alias)[static_cast<rapidjson::SizeType>(live)] = JsonValue(v, a_);
          ++live;
          JsonValue fresh(rapidjson::kObjectType);
          MINIK_RETURN_IF_ERROR(MergeMap(fresh, v, schema));
          original.PushBack(std::move(fresh), a_);
        }
      }
      merged = std::move(original);
      std::vector<JsonValue> patch_items, server_only;
      MINIK_RETURN_IF_ERROR(Partition(merged, patch_order, merge_key, &patch_items, &server_only));
      MINIK_ASSIGN_OR_RETURN(original, NormalizeElementOrder(std::move(patch_items), std::move(server_only),
                                                             patch_order, server_order, merge_key, kind));
      return Status::OK();
    }
    JsonValue server_order(original, a_);
    std::vector<JsonValue> patch_items, server_only;
    MINIK_RETURN_IF_ERROR(Partition(merged, patch_order, "", &patch_items, &server_only));
    MINIK_ASSIGN_OR_RETURN(original, NormalizeElementOrder(std::move(patch_items), std::move(server_only), patch_order,
                                                           server_order, "", kind));
    return Status::OK();
  }

  // partitionPrimitivesByPresentInList / partitionMapsByPresentInList. Consumes merged.
  Status Partition(JsonValue& merged, const JsonValue& by, std::string_view merge_key, std::vector<JsonValue>* in,
                   std::vector<JsonValue>* out) {
    for (auto& v : merged.GetArray()) {
      bool found = false;
      if (merge_key.empty()) {
        for (const auto& b : by.GetArray()) found = found || GoEq(v, b);
      } else {
        if (!v.IsObject()) return ErrBadArgType("map", &v);
        const JsonValue* k = Member(v, merge_key);
        if (!k) return ErrNoMergeKey(v, merge_key);
        for (const auto& b : by.GetArray()) {
          if (!b.IsObject()) return Status::Internal("value for key is not a map");
          const JsonValue* bk = Member(b, merge_key);
          found = found || (bk && GoEq(*bk, *k));
        }
      }
      (found ? in : out)->push_back(std::move(v));
    }
    return Status::OK();
  }

  long Index(const JsonValue& list, const JsonValue& item, std::string_view merge_key, JT kind) {
    static const JsonValue kNull;
    const JsonValue& key = kind == JT::kObject ? ItemKey(item, merge_key, kNull) : item;
    long i = 0;
    for (const auto& v : list.GetArray()) {
      const JsonValue& vk = kind == JT::kObject ? ItemKey(v, merge_key, kNull) : v;
      if (GoEq(key, vk)) return i;
      ++i;
    }
    return -1;
  }

  Status NormalizeSliceOrder(std::vector<JsonValue>* to_sort, const JsonValue& order, std::string_view merge_key, JT kind) {
    std::vector<JsonValue> to_delete;
    if (kind == JT::kObject) {
      for (const auto* l : {to_sort}) {
        for (const auto& v : *l) {
          if (!v.IsObject()) return ErrBadArgType("map", &v);
          if (!Member(v, merge_key)) return ErrNoMergeKey(v, merge_key);
        }
      }
      for (const auto& v : order.GetArray()) {
        if (!v.IsObject()) return ErrBadArgType("map", &v);
        if (!Member(v, merge_key)) return ErrNoMergeKey(v, merge_key);
      }
      std::vector<JsonValue> keep;
      for (auto& v : *to_sort) {
        const JsonValue* d = Member(v, kDirective);
        ((d && d->IsString() && Sv(*d) == "delete") ? to_delete : keep).push_back(std::move(v));
      }
      *to_sort = std::move(keep);
    }
    std::vector<std::pair<long, size_t>> idx;
    for (size_t i = 0; i < to_sort->size(); ++i) {
      long k = Index(order, (*to_sort)[i], merge_key, kind);
      idx.emplace_back(k < 0 ? LONG_MAX : k, i);
    }
    std::stable_sort(idx.begin(), idx.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
    std::vector<JsonValue> sorted;
    for (auto& [k, i] : idx) sorted.push_back(std::move((*to_sort)[i]));
    for (auto& v : to_delete) sorted.push_back(std::move(v));
    *to_sort = std::move(sorted);
    return Status::OK();
  }

  StatusOr<JsonValue> NormalizeElementOrder(std::vector<JsonValue> patch, std::vector<JsonValue> server_only,
                                            const JsonValue& patch_order, const JsonValue& server_order,
                                            std::string_view merge_key, JT kind) {
    MINIK_RETURN_IF_ERROR(NormalizeSliceOrder(&patch, patch_order, merge_key, kind));
    MINIK_RETURN_IF_ERROR(NormalizeSliceOrder(&server_only, server_order, merge_key, kind));
    // mergeSortedSlice(left = server_only, right = patch)
    JsonValue out(rapidjson::kArrayType);
    size_t i = 0, j = 0;
    while (i < server_only.size() || j < patch.size()) {
      if (i >= server_only.size()) {
        out.PushBack(std::move(patch[j++]), a_);
      } else if (j >= patch.size()) {
        out.PushBack(std::move(server_only[i++]), a_);
      } else {
        long li = Index(server_order, server_only[i], merge_key, kind);
        long ri = Index(server_order, patch[j], merge_key, kind);
        if (li >= 0 && ri >= 0 && li < ri) {
          out.PushBack(std::move(server_only[i++]), a_);
        } else {
          out.PushBack(std::move(patch[j++]), a_);
        }
      }
    }
    return out;
  }

  JsonAlloc& a_;
};

}  // namespace

StatusOr<JsonDoc> ApplyJsonPatch(const JsonValue& doc, std::string_view patch) {
  JsonDoc ops;
  ops.Parse(patch.data(), patch.size());
  if (ops.HasParseError()) return Status::BadRequest(GoJsonSyntaxError(patch, ops.GetErrorOffset()));
  JsonDoc result;
  result.CopyFrom(doc, result.GetAllocator());
  if (ops.IsNull()) return result;
  if (!ops.IsArray()) {
    return Status::BadRequest("json: cannot unmarshal " + std::string(ops.IsObject() ? "object" : ops.IsString() ? "string" : ops.IsBool() ? "bool" : "number") +
                              " into Go value of type jsonpatch.Patch");
  }
  for (const auto& op : ops.GetArray()) {
    if (!op.IsObject() && !op.IsNull()) {
      return Status::BadRequest("json: cannot unmarshal " + std::string(op.IsArray() ? "array" : op.IsString() ? "string" : op.IsBool() ? "bool" : "number") +
                                " into Go value of type jsonpatch.Operation");
    }
  }
  constexpr size_t kMaxOps = 10000;
  if (ops.Size() > kMaxOps) {
    return Status::TooLarge("Request entity too large: The allowed maximum operations in a JSON patch is 10000, got " +
                            std::to_string(ops.Size()));
  }
  if (!result.IsObject() && !result.IsArray()) return Rejected();
  for (const auto& op : ops.GetArray()) {
    if (op.IsNull() || !ApplyOp(result, op)) return Rejected();
  }
  return result;
}

namespace {
void MergePatchInto(JsonValue& target, JsonValue& patch, JsonAlloc& a) {
  if (!target.IsObject()) target.SetObject();
  for (auto it = patch.MemberBegin(); it != patch.MemberEnd(); ++it) {
    std::string_view k = Sv(it->name);
    if (it->value.IsNull()) {
      RemoveMember(target, k);
      continue;
    }
    JsonValue* cur = MutableMember(target, k);
    if (it->value.IsObject()) {
      if (cur && cur->IsObject()) {
        MergePatchInto(*cur, it->value, a);
      } else {
        JsonValue fresh(rapidjson::kObjectType);
        MergePatchInto(fresh, it->value, a);
        SetMember(target, k, std::move(fresh), a);
      }
    } else {
      SetMember(target, k, std::move(it->value), a);
    }
  }
}
}  // namespace

StatusOr<JsonDoc> ApplyMergePatch(const JsonValue& doc, std::string_view patch) {
  JsonDoc result;
  result.CopyFrom(doc, result.GetAllocator());
  JsonDoc p(&result.GetAllocator());
  p.Parse(patch.data(), patch.size());
  if (p.HasParseError() || p.IsNull() || !(p.IsObject() || p.IsArray())) {
    return Status::BadRequest("Invalid JSON Patch");
  }
  if (p.IsArray()) {
    // Not an object: the patch replaces the document (nulls inside objects pruned).
    for (auto& e : p.GetArray()) DiscardNulls(e);
    JsonDoc out;
    out.CopyFrom(p, out.GetAllocator());
    return out;
  }
  if (!result.IsObject()) {
    JsonDoc out;
    JsonValue& root = out.SetObject();
    MergePatchInto(root, p, result.GetAllocator());
    JsonDoc copy;
    copy.CopyFrom(out, copy.GetAllocator());
    return copy;
  }
  MergePatchInto(result, p, result.GetAllocator());
  return result;
}

StatusOr<JsonDoc> ApplyStrategicMergePatch(const JsonValue& doc, std::string_view patch, std::string_view api_version,
                                           std::string_view kind) {
  JsonDoc result;
  result.CopyFrom(doc, result.GetAllocator());
  JsonDoc p(&result.GetAllocator());
  p.Parse(patch.data(), patch.size());
  if (p.HasParseError()) return Status::BadRequest(GoJsonSyntaxError(patch, p.GetErrorOffset()));
  if (!p.IsObject()) {
    if (p.IsNull()) return result;  // json.Unmarshal of null into a map leaves it empty
    return Status::BadRequest("json: cannot unmarshal " + std::string(p.IsArray() ? "array" : p.IsString() ? "string" : p.IsBool() ? "bool" : "number") +
                              " into Go value of type map[string]interface {}");
  }
  if (!result.IsObject()) return Status::BadRequest("invalid JSON document");
  Smp smp(result.GetAllocator());
  MINIK_RETURN_IF_ERROR(smp.MergeMap(result, p, PatchRootType(api_version, kind)));
  return result;
}

}  // namespace minik::api
