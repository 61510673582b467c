// Field validation against the built-in schema. See field_validation.h.
//
// The walk mirrors how upstream decodes JSON into Go structs (sigs.k8s.io/json, a fork of Go's
// encoding/json, v1.32 with Go 1.23):
//   - an object's members are visited in document order; a key that is not a field of the struct
//     (exact, case-sensitive match, inline members flattened) is an unknown field whose value is
//     skipped; its strict path is the parent path + "." + key, with "[i]" for array elements and
//     ".key" for map keys (kubernetes_patch.go: appendStrictFieldStackKey/Index, newFieldError);
//   - strict errors are deduplicated and capped at 100 (saveStrictError);
//   - a value of the wrong JSON type records an UnmarshalTypeError, and decoding goes on; the
//     first such error is the result (saveError). Its text is
//     `json: cannot unmarshal <value> into Go struct field <Struct>.<Field> of type <Type>`, where
//     Struct is the Go struct holding the field, Field the dotted JSON names from the root (no
//     indices, no map keys), Type the Go type of the target (pointers removed); without a struct
//     context: `json: cannot unmarshal <value> into Go value of type <Type>`;
//   - types with their own UnmarshalJSON (Time, MicroTime, Duration, IntOrString, Quantity) abort
//     the whole decode on error, and their error wins over an earlier recorded one; a type error
//     they return gets the struct context of the field (addErrorContext at the end of unmarshal).
//   - a type error beats strict errors: the decode fails before strict errors are looked at;
//   - every valid resource.Quantity is replaced by its canonical string (api/quantity.h), which is
//     what upstream's decode + encode stores and returns.
#include "api/field_validation.h"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <unordered_set>

#include "api/protobuf_schema.h"
#include "api/quantity.h"

namespace minik::api {

namespace pi = protobuf_internal;

namespace {

constexpr size_t kMaxStrictErrors = 100;

const pi::KindDef* FindKind(std::string_view api_version, std::string_view kind) {
  for (const pi::KindDef& k : pi::Kinds()) {
    if (api_version == k.api_version && kind == k.kind) return &k;
  }
  return nullptr;
}

// Go's reflect name of a message type: "core.v1.PodSpec" -> "v1.PodSpec".
std::string_view MessageGoName(int32_t index) {
  std::string_view name = pi::Messages()[static_cast<size_t>(index)].name;
  size_t last = name.rfind('.');
  if (last == std::string_view::npos || last == 0) return name;
  size_t prev = name.rfind('.', last - 1);
  return prev == std::string_view::npos ? name : name.substr(prev + 1);
}

// The struct name alone ("PodSpec"), as reflect.Type.Name() gives it.
std::string_view MessageStructName(int32_t index) {
  std::string_view name = pi::Messages()[static_cast<size_t>(index)].name;
  size_t last = name.rfind('.');
  return last == std::string_view::npos ? name : name.substr(last + 1);
}

// Go type of one element of a field. Named scalar types (v1.Protocol, v1.ResourceList, ...) are
// not in the schema; their underlying type is used instead.
std::string ElemGoType(const pi::FieldDef& f) {
  switch (f.kind) {
    case pi::FieldKind::kString: return "string";
    case pi::FieldKind::kBool: return "bool";
    case pi::FieldKind::kInt32: return "int32";
    case pi::FieldKind::kInt64: return "int64";
    case pi::FieldKind::kBytes: return "[]uint8";
    case pi::FieldKind::kMessage: return std::string(MessageGoName(f.message));
    case pi::FieldKind::kTime: return "v1.Time";
    case pi::FieldKind::kMicroTime: return "v1.MicroTime";
    case pi::FieldKind::kDuration: return "v1.Duration";
    case pi::FieldKind::kQuantity: return "resource.Quantity";
    case pi::FieldKind::kIntOrString: return "intstr.IntOrString";
    case pi::FieldKind::kRawJson: return "runtime.RawExtension";
    case pi::FieldKind::kStringList: return "v1.ExtraValue";
  }
  return "string";
}

std::string FieldGoType(const pi::FieldDef& f) {
  if (f.flags & pi::kFlagRepeated) return "[]" + ElemGoType(f);
  if (f.flags & pi::kFlagMap) return "map[string]" + ElemGoType(f);
  return ElemGoType(f);
}

// The JSON kind word Go's decoder uses in "cannot unmarshal <word>".
std::string_view JsonKindWord(const JsonValue& v) {
  if (v.IsString()) return "string";
  if (v.IsBool()) return "bool";
  if (v.IsNumber()) return "number";
  if (v.IsArray()) return "array";
  if (v.IsObject()) return "object";
  return "null";
}

// The literal of a number as Go would quote it in "number <literal>". rapidjson keeps no source
// text; integers print exactly, other numbers in their shortest round-trip form.
std::string NumberLiteral(const JsonValue& v) {
  if (v.IsInt64()) return std::to_string(v.GetInt64());
  if (v.IsUint64()) return std::to_string(v.GetUint64());
  double d = v.GetDouble();
  char buf[40];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, d);
    if (std::strtod(buf, nullptr) == d) break;
  }
  return buf;
}

// Whether a number fits a Go integer of the given width (only integral literals do).
bool FitsInt(const JsonValue& v, int bits) {
  if (!v.IsInt64()) return false;  // doubles ("1.5", "1e3") and uint64 above int64 fail ParseInt
  int64_t n = v.GetInt64();
  if (bits == 32) return n >= INT32_MIN && n <= INT32_MAX;
  return true;
}

// Go's base64.StdEncoding.Decode validity (newlines ignored); returns the offset of
// CorruptInputError or nullopt when valid.
std::optional<size_t> Base64ErrorOffset(std::string_view s) {
  auto is_b64 = [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
  };
  auto is_nl = [](char c) { return c == '\n' || c == '\r'; };
  size_t si = 0;
  const size_t n = s.size();
  while (true) {
    for (int j = 0; j < 4; ++j) {
      if (si == n) {
        if (j == 0) return std::nullopt;
        return si - static_cast<size_t>(j);  // padding required
      }
      char in = s[si++];
      if (is_b64(in)) continue;
      if (is_nl(in)) {
        --j;
        continue;
      }
      if (in != '=') return si - 1;
      if (j < 2) return si - 1;  // incorrect padding
      if (j == 2) {
        while (si < n && is_nl(s[si])) ++si;
        if (si == n) return n;  // not enough padding
        if (s[si] != '=') return si - 1;
        ++si;
      }
      while (si < n && is_nl(s[si])) ++si;
      if (si < n) return si;  // trailing garbage
      return std::nullopt;
    }
  }
}

// A field of a message by JSON name, looking through inline members (direct fields first, as Go
// prefers the shallower of two equally named fields).
const pi::FieldDef* FindField(int32_t message, std::string_view name) {
  const pi::MessageDef& m = pi::Messages()[static_cast<size_t>(message)];
  for (uint32_t i = 0; i < m.count; ++i) {
    const pi::FieldDef& f = m.fields[i];
    if (!(f.flags & pi::kFlagInline) && name == f.json) return &f;
  }
  for (uint32_t i = 0; i < m.count; ++i) {
    const pi::FieldDef& f = m.fields[i];
    if ((f.flags & pi::kFlagInline) && f.kind == pi::FieldKind::kMessage) {
      if (const pi::FieldDef* found = FindField(f.message, name)) return found;
    }
  }
  return nullptr;
}

// Synthetic field definitions for the top-level TypeMeta members, which generated.proto leaves
// out (the protobuf envelope carries them).
constexpr pi::FieldDef kApiVersionField{0, -1, pi::FieldKind::kString, pi::kFlagOmitEmpty, "apiVersion"};
constexpr pi::FieldDef kKindField{0, -1, pi::FieldKind::kString, pi::kFlagOmitEmpty, "kind"};

class Walker {
 public:
  // The result of checking one value: nullopt to go on, an error to abort the whole decode.
  using Abort = std::optional<Status>;

  explicit Walker(JsonAlloc& alloc) : alloc_(alloc) {}

  Abort WalkMessage(int32_t message, JsonValue& obj, bool top_level) {
    if (obj.IsNull()) return std::nullopt;
    if (!obj.IsObject()) {
      SaveTypeError(JsonKindWord(obj), std::string(MessageGoName(message)));
      return std::nullopt;
    }
    // Save the error context and the strict path; the struct is now this message.
    std::string_view saved_struct = struct_;
    size_t saved_fields = fields_.size();
    size_t saved_path = path_.size();
    struct_ = MessageStructName(message);

    std::vector<bool> drop(obj.MemberCount(), false);
    bool any_drop = false;
    std::unordered_set<std::string_view> seen;
    size_t index = 0;
    for (auto it = obj.MemberBegin(); it != obj.MemberEnd(); ++it, ++index) {
      std::string_view key(it->name.GetString(), it->name.GetStringLength());
      const pi::FieldDef* f = FindField(message, key);
      if (f == nullptr && top_level) {
        if (key == "apiVersion") f = &kApiVersionField;
        if (key == "kind") f = &kKindField;
      }
      if (f == nullptr) {
        AddStrict(/*unknown=*/true, key);
        drop[index] = any_drop = true;
        continue;
      }
      if (!seen.insert(key).second) {
        AddStrict(/*unknown=*/false, key);
        // The last occurrence wins: drop the earlier ones.
        size_t j = 0;
        for (auto prev = obj.MemberBegin(); prev != it; ++prev, ++j) {
          if (!drop[j] && key == std::string_view(prev->name.GetString(), prev->name.GetStringLength())) {
            drop[j] = any_drop = true;
          }
        }
      }
      fields_.push_back(f->json);
      PushKey(f->json);
      Abort abort = WalkField(*f, it->value);
      path_.resize(saved_path);
      fields_.resize(saved_fields);
      if (abort) {
        struct_ = saved_struct;
        return abort;
      }
    }
    if (any_drop) {
      index = 0;
      for (auto it = obj.MemberBegin(); it != obj.MemberEnd(); ++index) {
        it = drop[index] ? obj.EraseMember(it) : it + 1;
      }
    }
    struct_ = saved_struct;
    fields_.resize(saved_fields);
    path_.resize(saved_path);
    return std::nullopt;
  }

  FieldProblems TakeProblems() { return std::move(problems_); }
  const std::optional<Status>& saved() const { return saved_; }

 private:
  Abort WalkField(const pi::FieldDef& f, JsonValue& v) {
    if (v.IsNull()) return std::nullopt;  // null leaves any Go value at its zero value
    if (f.flags & pi::kFlagRepeated) {
      if (!v.IsArray()) {
        SaveTypeError(JsonKindWord(v), FieldGoType(f));
        return std::nullopt;
      }
      size_t saved_path = path_.size();
      for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
        path_ += '[';
        path_ += std::to_string(i);
        path_ += ']';
        Abort abort = WalkElem(f, v[i]);
        path_.resize(saved_path);
        if (abort) return abort;
      }
      return std::nullopt;
    }
    if (f.flags & pi::kFlagMap) {
      if (!v.IsObject()) {
        SaveTypeError(JsonKindWord(v), FieldGoType(f));
        return std::nullopt;
      }
      size_t saved_path = path_.size();
      std::unordered_set<std::string_view> seen;
      bool any_dup = false;
      for (auto it = v.MemberBegin(); it != v.MemberEnd(); ++it) {
        std::string_view key(it->name.GetString(), it->name.GetStringLength());
        if (!seen.insert(key).second) {
          AddStrict(/*unknown=*/false, key);
          any_dup = true;
        }
        PushKey(key);
        Abort abort = WalkElem(f, it->value);
        path_.resize(saved_path);
        if (abort) return abort;
      }
      if (any_dup) KeepLastOfDuplicates(v);
      return std::nullopt;
    }
    return WalkElem(f, v);
  }

  Abort WalkElem(const pi::FieldDef& f, JsonValue& v) {
    if (v.IsNull()) return std::nullopt;
    switch (f.kind) {
      case pi::FieldKind::kString:
        if (!v.IsString()) SaveTypeError(JsonKindWord(v), "string");
        return std::nullopt;
      case pi::FieldKind::kBool:
        if (!v.IsBool()) SaveTypeError(JsonKindWord(v), "bool");
        return std::nullopt;
      case pi::FieldKind::kInt32:
      case pi::FieldKind::kInt64: {
        int bits = f.kind == pi::FieldKind::kInt32 ? 32 : 64;
        std::string type = bits == 32 ? "int32" : "int64";
        if (!v.IsNumber()) {
          SaveTypeError(JsonKindWord(v), type);
        } else if (!FitsInt(v, bits)) {
          SaveTypeError("number " + NumberLiteral(v), type);
        }
        return std::nullopt;
      }
      case pi::FieldKind::kBytes:
        if (v.IsString()) {
          if (auto off = Base64ErrorOffset({v.GetString(), v.GetStringLength()})) {
            Save(Status::BadRequest("illegal base64 data at input byte " + std::to_string(*off)));
          }
        } else if (v.IsArray()) {  // Go decodes an array of numbers into []byte too
          for (const JsonValue& e : v.GetArray()) {
            if (!e.IsNumber()) {
              SaveTypeError(JsonKindWord(e), "uint8");
            } else if (!e.IsInt64() || e.GetInt64() < 0 || e.GetInt64() > 255) {
              SaveTypeError("number " + NumberLiteral(e), "uint8");
            }
          }
        } else {
          SaveTypeError(JsonKindWord(v), "[]uint8");
        }
        return std::nullopt;
      case pi::FieldKind::kMessage:
        return WalkMessage(f.message, v, /*top_level=*/false);
      case pi::FieldKind::kTime:
      case pi::FieldKind::kMicroTime:
      case pi::FieldKind::kDuration:
        // UnmarshalJSON decodes a Go string first; its type error aborts with the field context.
        if (!v.IsString()) return TypeError(JsonKindWord(v), "string");
        return std::nullopt;
      case pi::FieldKind::kIntOrString:
        // UnmarshalJSON: a JSON string is the string form, anything else decodes into int32.
        if (v.IsString()) return std::nullopt;
        if (!v.IsNumber()) return TypeError(JsonKindWord(v), "int32");
        if (!FitsInt(v, 32)) return TypeError("number " + NumberLiteral(v), "int32");
        return std::nullopt;
      case pi::FieldKind::kQuantity: {
        // UnmarshalJSON strips the quotes of a string and parses the rest, whatever it is.
        std::string text = v.IsString() ? std::string(v.GetString(), v.GetStringLength()) : ToJson(v);
        size_t b = text.find_first_not_of(" \t\n\r\v\f");
        size_t e = text.find_last_not_of(" \t\n\r\v\f");
        std::string_view trimmed =
            b == std::string::npos ? std::string_view() : std::string_view(text).substr(b, e - b + 1);
        StatusOr<Quantity> q = ParseQuantity(trimmed);
        if (!q.ok()) return q.status();
        // Upstream stores and returns the canonical form ("0.5" -> "500m", 2 -> "2").
        std::string canonical = q->String();
        v.SetString(canonical.data(), static_cast<rapidjson::SizeType>(canonical.size()), alloc_);
        return std::nullopt;
      }
      case pi::FieldKind::kRawJson:
        return std::nullopt;  // RawExtension / FieldsV1 keep any JSON
      case pi::FieldKind::kStringList:
        if (!v.IsArray()) {
          SaveTypeError(JsonKindWord(v), "v1.ExtraValue");
          return std::nullopt;
        }
        for (const JsonValue& e : v.GetArray()) {
          if (!e.IsString() && !e.IsNull()) SaveTypeError(JsonKindWord(e), "string");
        }
        return std::nullopt;
    }
    return std::nullopt;
  }

  std::string TypeErrorText(std::string_view value, std::string_view type) const {
    std::string msg = "json: cannot unmarshal ";
    msg += value;
    if (!struct_.empty() || !fields_.empty()) {
      msg += " into Go struct field ";
      msg += struct_;
      msg += '.';
      for (size_t i = 0; i < fields_.size(); ++i) {
        if (i) msg += '.';
        msg += fields_[i];
      }
    } else {
      msg += " into Go value";
    }
    msg += " of type ";
    msg += type;
    return msg;
  }

  Status TypeError(std::string_view value, std::string_view type) const {
    return Status::BadRequest(TypeErrorText(value, type));
  }
  void SaveTypeError(std::string_view value, std::string_view type) {
    if (!saved_) saved_ = TypeError(value, type);
  }
  void Save(Status st) {
    if (!saved_) saved_ = std::move(st);
  }

  void PushKey(std::string_view key) {
    if (!path_.empty()) path_ += '.';
    path_ += key;
  }

  void AddStrict(bool unknown, std::string_view key) {
    std::string path = path_.empty() ? std::string(key) : path_ + "." + std::string(key);
    std::vector<std::string>& list = unknown ? problems_.unknown : problems_.duplicate;
    std::string text = std::string(unknown ? "unknown field \"" : "duplicate field \"");
    // strconv.Quote: escape quotes, backslashes and control characters.
    for (unsigned char c : path) {
      if (c == '"' || c == '\\') {
        text += '\\';
        text += static_cast<char>(c);
      } else if (c == '\n') {
        text += "\\n";
      } else if (c == '\t') {
        text += "\\t";
      } else if (c == '\r') {
        text += "\\r";
      } else if (c < 0x20 || c == 0x7f) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\x%02x", c);
        text += buf;
      } else {
        text += static_cast<char>(c);
      }
    }
    text += '"';
    if (!seen_errors_.insert(text).second) return;
    list.push_back(std::move(path));
    if (problems_.errors.size() < kMaxStrictErrors) problems_.errors.push_back(std::move(text));
  }

  static void KeepLastOfDuplicates(JsonValue& obj) {
    std::unordered_set<std::string_view> later;
    std::vector<bool> drop(obj.MemberCount(), false);
    size_t i = obj.MemberCount();
    for (auto it = obj.MemberEnd(); it != obj.MemberBegin();) {
      --it;
      --i;
      if (!later.insert(std::string_view(it->name.GetString(), it->name.GetStringLength())).second) {
        drop[i] = true;
      }
    }
    i = 0;
    for (auto it = obj.MemberBegin(); it != obj.MemberEnd(); ++i) it = drop[i] ? obj.EraseMember(it) : it + 1;
  }

  JsonAlloc& alloc_;                      // the allocator of the walked document
  std::string_view struct_;               // Go struct of the innermost field (error context)
  std::vector<std::string_view> fields_;  // JSON names from the root (error context)
  std::string path_;                      // strict path of the current value
  std::optional<Status> saved_;           // the first recorded (non-aborting) decode error
  FieldProblems problems_;
  std::unordered_set<std::string> seen_errors_;
};

StatusOr<FieldProblems> Prune(std::string_view api_version, std::string_view kind, JsonValue& obj,
                              JsonAlloc& a, bool wrap) {
  const pi::KindDef* k = FindKind(api_version, kind);
  if (k == nullptr) return FieldProblems{};
  Walker walker(a);
  std::optional<Status> err = walker.WalkMessage(k->message, obj, /*top_level=*/true);
  if (!err && walker.saved()) err = *walker.saved();
  if (err) {
    if (!wrap) return *err;
    size_t slash = api_version.find('/');
    std::string_view version = slash == std::string_view::npos ? api_version : api_version.substr(slash + 1);
    std::string msg(kind);
    msg += " in version \"";
    msg += version;
    msg += "\" cannot be handled as a ";
    msg += kind;
    msg += ": ";
    msg += err->message();
    return Status::BadRequest(std::move(msg));
  }
  return walker.TakeProblems();
}

}  // namespace

StatusOr<FieldProblems> PruneUnknownFields(std::string_view api_version, std::string_view kind,
                                           JsonValue& obj, JsonAlloc& a) {
  return Prune(api_version, kind, obj, a, /*wrap=*/true);
}

StatusOr<FieldProblems> PruneUnknownFieldsBare(std::string_view api_version, std::string_view kind,
                                               JsonValue& obj, JsonAlloc& a) {
  return Prune(api_version, kind, obj, a, /*wrap=*/false);
}

bool HasFieldSchema(std::string_view api_version, std::string_view kind) {
  return FindKind(api_version, kind) != nullptr;
}

std::string StrictDecodingMessage(const FieldProblems& problems) {
  if (problems.errors.empty()) return {};
  std::string msg = "strict decoding error: ";
  for (size_t i = 0; i < problems.errors.size(); ++i) {
    if (i) msg += ", ";
    msg += problems.errors[i];
  }
  return msg;
}

Status StrictDecodingError(std::string_view api_version, std::string_view kind,
                           const FieldProblems& problems) {
  if (problems.errors.empty()) return Status::OK();
  size_t slash = api_version.find('/');
  std::string_view version = slash == std::string_view::npos ? api_version : api_version.substr(slash + 1);
  std::string msg(kind);
  msg += " in version \"";
  msg += version;
  msg += "\" cannot be handled as a ";
  msg += kind;
  msg += ": ";
  msg += StrictDecodingMessage(problems);
  return Status::BadRequest(std::move(msg));
}

}  // namespace minik::api
