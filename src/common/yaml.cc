// YAML -> JSON as sigs.k8s.io/yaml (over go-yaml v2, YAML 1.1 resolution) does it. yaml-cpp parses;
// scalar resolution is ours, because yaml-cpp leaves plain scalars untyped.
#include "common/yaml.h"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <optional>
#include <variant>

namespace minik {
namespace {

constexpr std::string_view kPrefix = "error converting YAML to JSON: ";
// Bound on converted nodes, so that alias bombs ("billion laughs") fail instead of eating memory.
constexpr size_t kMaxNodes = 4'000'000;
constexpr int kMaxDepth = 10'000;

// Tags yaml-cpp reports.
constexpr std::string_view kTagStr = "tag:yaml.org,2002:str";
constexpr std::string_view kTagInt = "tag:yaml.org,2002:int";
constexpr std::string_view kTagFloat = "tag:yaml.org,2002:float";
constexpr std::string_view kTagBool = "tag:yaml.org,2002:bool";
constexpr std::string_view kTagNull = "tag:yaml.org,2002:null";

bool IsOneOf(std::string_view s, std::initializer_list<std::string_view> words) {
  for (auto w : words)
    if (s == w) return true;
  return false;
}

// Go's strconv.ParseInt/ParseUint with base 0 (prefixes 0x 0o 0b and leading-0 octal).
// Returns the magnitude and sign; nullopt when the text is not an integer of that syntax.
struct GoInt {
  bool negative = false;
  unsigned __int128 magnitude = 0;
};
std::optional<GoInt> ParseGoInt(std::string_view s) {
  GoInt r;
  if (s.empty()) return std::nullopt;
  if (s[0] == '+' || s[0] == '-') {
    r.negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s.empty()) return std::nullopt;
  int base = 10;
  if (s.size() >= 2 && s[0] == '0') {
    char p = s[1];
    if (p == 'x' || p == 'X') {
      base = 16;
      s.remove_prefix(2);
    } else if (p == 'b' || p == 'B') {
      base = 2;
      s.remove_prefix(2);
    } else if (p == 'o' || p == 'O') {
      base = 8;
      s.remove_prefix(2);
    } else {
      base = 8;
      s.remove_prefix(1);
    }
    if (s.empty()) return std::nullopt;
  }
  for (char c : s) {
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else return std::nullopt;
    if (d >= base) return std::nullopt;
    r.magnitude = r.magnitude * base + d;
    if (r.magnitude > (static_cast<unsigned __int128>(1) << 64)) return std::nullopt;
  }
  return r;
}

// ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$
bool IsYamlStyleFloat(std::string_view s) {
  size_t i = 0;
  auto digits = [&]() {
    size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    return i - start;
  };
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (digits() == 0) return false;
  } else {
    if (digits() == 0) return false;
    if (i < s.size() && s[i] == '.') {
      ++i;
      digits();
    }
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (digits() == 0) return false;
  }
  return i == s.size();
}

std::optional<double> ParseDouble(std::string_view s) {
  std::string tmp(s);
  errno = 0;
  char* end = nullptr;
  double d = std::strtod(tmp.c_str(), &end);
  if (end != tmp.c_str() + tmp.size() || tmp.empty()) return std::nullopt;
  return d;
}

// A resolved scalar.
struct Null {};
using Scalar = std::variant<Null, bool, int64_t, uint64_t, double, std::string>;

std::optional<Scalar> ResolveNumber(std::string_view in) {
  std::string plain;
  plain.reserve(in.size());
  for (char c : in)
    if (c != '_') plain += c;
  if (auto gi = ParseGoInt(plain)) {
    constexpr unsigned __int128 kMaxI = static_cast<unsigned __int128>(std::numeric_limits<int64_t>::max());
    if (!gi->negative && gi->magnitude <= kMaxI) return Scalar(static_cast<int64_t>(gi->magnitude));
    if (gi->negative && gi->magnitude <= kMaxI + 1) {
      return Scalar(gi->magnitude == kMaxI + 1 ? std::numeric_limits<int64_t>::min()
                                               : -static_cast<int64_t>(gi->magnitude));
    }
    if (!gi->negative && gi->magnitude <= std::numeric_limits<uint64_t>::max())
      return Scalar(static_cast<uint64_t>(gi->magnitude));
  }
  if (IsYamlStyleFloat(plain)) {
    if (auto d = ParseDouble(plain)) return Scalar(*d);
  }
  return std::nullopt;
}

// go-yaml v2's resolve() for an untagged plain scalar.
Scalar ResolvePlain(const std::string& in) {
  if (in.empty()) return Null{};
  if (IsOneOf(in, {"y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"})) return true;
  if (IsOneOf(in, {"n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"})) return false;
  if (IsOneOf(in, {"~", "null", "Null", "NULL"})) return Null{};
  if (IsOneOf(in, {".nan", ".NaN", ".NAN"})) return std::numeric_limits<double>::quiet_NaN();
  if (IsOneOf(in, {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"})) return std::numeric_limits<double>::infinity();
  if (IsOneOf(in, {"-.inf", "-.Inf", "-.INF"})) return -std::numeric_limits<double>::infinity();
  char c = in[0];
  if ((c >= '0' && c <= '9') || c == '+' || c == '-') {
    if (auto n = ResolveNumber(in)) return *n;
  } else if (c == '.') {
    if (auto d = ParseDouble(in)) return *d;
  }
  return in;
}

class Converter {
 public:
  explicit Converter(JsonAlloc& a) : a_(a) {}

  Status Convert(const YAML::Node& n, JsonValue* out, int depth) {
    if (++nodes_ > kMaxNodes) return Err("yaml: document contains excessive aliasing");
    if (depth > kMaxDepth) return Err("yaml: exceeded max depth of " + std::to_string(kMaxDepth));
    switch (n.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        out->SetNull();
        return Status::OK();
      case YAML::NodeType::Scalar: {
        MINIK_ASSIGN_OR_RETURN(Scalar s, Resolve(n));
        return ScalarToJson(s, out);
      }
      case YAML::NodeType::Sequence: {
        out->SetArray();
        out->Reserve(static_cast<rapidjson::SizeType>(n.size()), a_);
        for (const auto& child : n) {
          JsonValue v;
          MINIK_RETURN_IF_ERROR(Convert(child, &v, depth + 1));
          out->PushBack(std::move(v), a_);
        }
        return Status::OK();
      }
      case YAML::NodeType::Map: {
        out->SetObject();
        return ConvertMapInto(n, out, depth);
      }
    }
    return Status::OK();
  }

 private:
  static Status Err(std::string msg) { return Status::BadRequest(std::string(kPrefix) + msg); }

  StatusOr<Scalar> Resolve(const YAML::Node& n) {
    const std::string& tag = n.Tag();
    const std::string& v = n.Scalar();
    if (tag == "?") return ResolvePlain(v);
    if (tag == "!" || tag == kTagStr) return Scalar(v);
    if (tag == kTagNull) return Scalar(Null{});
    if (tag == kTagBool || tag == kTagInt || tag == kTagFloat) {
      Scalar s = ResolvePlain(v);
      bool ok = (tag == kTagBool && std::holds_alternative<bool>(s)) ||
                (tag == kTagInt && (std::holds_alternative<int64_t>(s) || std::holds_alternative<uint64_t>(s))) ||
                (tag == kTagFloat && (std::holds_alternative<double>(s) || std::holds_alternative<int64_t>(s) ||
                                      std::holds_alternative<uint64_t>(s)));
      if (!ok) {
        std::string short_tag = "!!" + tag.substr(tag.rfind(':') + 1);
        return Err("yaml: cannot decode !!str `" + v + "` as a " + short_tag);
      }
      if (tag == kTagFloat) {
        if (auto* i = std::get_if<int64_t>(&s)) return Scalar(static_cast<double>(*i));
        if (auto* u = std::get_if<uint64_t>(&s)) return Scalar(static_cast<double>(*u));
      }
      return s;
    }
    // Any other tag (local tags, !!binary, !!timestamp): the text, as go-yaml does for interface{}.
    return Scalar(v);
  }

  Status ScalarToJson(const Scalar& s, JsonValue* out) {
    if (std::holds_alternative<Null>(s)) {
      out->SetNull();
    } else if (auto* b = std::get_if<bool>(&s)) {
      out->SetBool(*b);
    } else if (auto* i = std::get_if<int64_t>(&s)) {
      out->SetInt64(*i);
    } else if (auto* u = std::get_if<uint64_t>(&s)) {
      out->SetUint64(*u);
    } else if (auto* d = std::get_if<double>(&s)) {
      if (std::isnan(*d)) return Err("json: unsupported value: NaN");
      if (std::isinf(*d)) return Err(*d > 0 ? "json: unsupported value: +Inf" : "json: unsupported value: -Inf");
      // encoding/json prints integral floats without a fraction ("1" for 1.0); keep them integers.
      if (std::trunc(*d) == *d && std::fabs(*d) < 9007199254740992.0) {
        out->SetInt64(static_cast<int64_t>(*d));
      } else {
        out->SetDouble(*d);
      }
    } else {
      const auto& str = std::get<std::string>(s);
      out->SetString(str.data(), static_cast<rapidjson::SizeType>(str.size()), a_);
    }
    return Status::OK();
  }

  // The JSON key of a mapping key, as sigs.k8s.io/yaml formats non-string keys.
  StatusOr<std::string> KeyString(const YAML::Node& k) {
    if (k.Type() == YAML::NodeType::Null || k.Type() == YAML::NodeType::Undefined) {
      return Err("unsupported map key: null");
    }
    if (k.Type() != YAML::NodeType::Scalar) return Err("unsupported map key of type: map or sequence");
    MINIK_ASSIGN_OR_RETURN(Scalar s, Resolve(k));
    if (auto* str = std::get_if<std::string>(&s)) return *str;
    if (auto* b = std::get_if<bool>(&s)) return std::string(*b ? "true" : "false");
    if (auto* i = std::get_if<int64_t>(&s)) return std::to_string(*i);
    if (auto* u = std::get_if<uint64_t>(&s)) return std::to_string(*u);
    if (auto* d = std::get_if<double>(&s)) {
      // strconv.FormatFloat(f, 'g', -1, 32): the shortest %g form that reads back as the same float32.
      const float f = static_cast<float>(*d);
      char buf[64] = {0};
      for (int prec = 1; prec <= 9; ++prec) {
        std::snprintf(buf, sizeof buf, "%.*g", prec, static_cast<double>(f));
        if (static_cast<float>(std::strtod(buf, nullptr)) == f) break;
      }
      return std::string(buf);
    }
    return Err("unsupported map key: null");
  }

  void Set(JsonValue* obj, const std::string& key, JsonValue v) {
    auto it = obj->FindMember(JsonValue(rapidjson::StringRef(key.data(), key.size())));
    if (it != obj->MemberEnd()) {
      it->value = std::move(v);
    } else {
      obj->AddMember(JsonValue(key.data(), static_cast<rapidjson::SizeType>(key.size()), a_), std::move(v), a_);
    }
  }

  Status ConvertMapInto(const YAML::Node& n, JsonValue* out, int depth) {
    for (const auto& kv : n) {
      const YAML::Node& k = kv.first;
      if (k.Type() == YAML::NodeType::Scalar && k.Tag() == "?" && k.Scalar() == "<<") {
        MINIK_RETURN_IF_ERROR(Merge(kv.second, out, depth));
        continue;
      }
      MINIK_ASSIGN_OR_RETURN(std::string key, KeyString(k));
      JsonValue v;
      MINIK_RETURN_IF_ERROR(Convert(kv.second, &v, depth + 1));
      Set(out, key, std::move(v));
    }
    return Status::OK();
  }

  // YAML merge key ("<<: *base" or "<<: [*a, *b]").
  Status Merge(const YAML::Node& v, JsonValue* out, int depth) {
    if (v.Type() == YAML::NodeType::Map) return ConvertMapInto(v, out, depth + 1);
    if (v.Type() == YAML::NodeType::Sequence) {
      // Earlier maps in the list take precedence: apply in reverse.
      for (size_t i = v.size(); i-- > 0;) {
        if (v[i].Type() != YAML::NodeType::Map) {
          return Err("yaml: map merge requires map or sequence of maps as the value");
        }
        MINIK_RETURN_IF_ERROR(ConvertMapInto(v[i], out, depth + 1));
      }
      return Status::OK();
    }
    return Err("yaml: map merge requires map or sequence of maps as the value");
  }

  JsonAlloc& a_;
  size_t nodes_ = 0;
};

// yaml-cpp's messages, in go-yaml's words where they differ.
std::string GoYamlMessage(const std::string& msg) {
  static constexpr std::pair<std::string_view, std::string_view> kMap[] = {
      {"illegal map value", "mapping values are not allowed in this context"},
      {"end of map not found", "did not find expected key"},
      {"end of sequence not found", "did not find expected '-' indicator"},
      {"end of map flow not found", "did not find expected ',' or '}'"},
      {"end of sequence flow not found", "did not find expected ',' or ']'"},
      {"block sequence entries are not allowed in this context",
       "block sequence entries are not allowed in this context"},
      {"unknown escape character", "found unknown escape character while parsing a quoted scalar"},
      {"unknown token", "found character that cannot start any token"},
      {"invalid node; first token must be a key", "did not find expected key"},
  };
  for (const auto& [from, to] : kMap) {
    if (msg.rfind(from, 0) == 0) return std::string(to);
  }
  return msg;
}

Status ParseError(const YAML::Exception& e) {
  std::string msg = "yaml: ";
  if (!e.mark.is_null()) msg += "line " + std::to_string(e.mark.line + 1) + ": ";
  msg += GoYamlMessage(e.msg);
  return Status::BadRequest(std::string(kPrefix) + msg);
}

// yaml-cpp does not understand a byte-order mark; go-yaml skips it.
std::string_view StripBom(std::string_view s) {
  if (s.size() >= 3 && static_cast<unsigned char>(s[0]) == 0xEF && static_cast<unsigned char>(s[1]) == 0xBB &&
      static_cast<unsigned char>(s[2]) == 0xBF)
    s.remove_prefix(3);
  return s;
}

}  // namespace

StatusOr<JsonDoc> YamlToJson(std::string_view yaml) {
  yaml = StripBom(yaml);
  JsonDoc doc;
  try {
    std::vector<YAML::Node> nodes = YAML::LoadAll(std::string(yaml));
    if (nodes.empty()) {
      doc.SetNull();
      return doc;
    }
    Converter c(doc.GetAllocator());
    MINIK_RETURN_IF_ERROR(c.Convert(nodes[0], &doc, 0));
  } catch (const YAML::Exception& e) {
    return ParseError(e);
  } catch (const std::exception& e) {
    return Status::BadRequest(std::string(kPrefix) + e.what());
  }
  return doc;
}

StatusOr<std::vector<JsonDoc>> YamlDocumentsToJson(std::string_view yaml) {
  yaml = StripBom(yaml);
  std::vector<JsonDoc> out;
  try {
    std::vector<YAML::Node> nodes = YAML::LoadAll(std::string(yaml));
    for (const auto& n : nodes) {
      if (n.IsNull() || !n.IsDefined()) continue;
      JsonDoc doc;
      Converter c(doc.GetAllocator());
      MINIK_RETURN_IF_ERROR(c.Convert(n, &doc, 0));
      if (doc.IsNull()) continue;
      out.push_back(std::move(doc));
    }
  } catch (const YAML::Exception& e) {
    return ParseError(e);
  } catch (const std::exception& e) {
    return Status::BadRequest(std::string(kPrefix) + e.what());
  }
  return out;
}

// ---- JSON -> YAML ----
namespace {

// True when a string can be written as a plain scalar and reads back as the same string.
bool PlainSafe(std::string_view s) {
  if (s.empty()) return false;
  if (!std::holds_alternative<std::string>(ResolvePlain(std::string(s)))) return false;
  if (s.front() == ' ' || s.back() == ' ' || s.front() == '\t' || s.back() == '\t') return false;
  static constexpr std::string_view kBadFirst = "-?:,[]{}#&*!|>'\"%@`";
  if (kBadFirst.find(s.front()) != std::string_view::npos) {
    // "-x", "?x", ":x" are fine in YAML 1.2 but keep it simple and quote.
    return false;
  }
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) return false;
    if (c == ':' && (i + 1 == s.size() || s[i + 1] == ' ')) return false;
    if (c == '#' && i > 0 && s[i - 1] == ' ') return false;
  }
  if (s == "<<") return false;
  return true;
}

void AppendQuoted(std::string_view s, std::string* out) {
  JsonValue v(rapidjson::StringRef(s.data(), s.size()));
  AppendJson(v, out);
}

void AppendScalar(const JsonValue& v, std::string* out) {
  if (v.IsString()) {
    std::string_view s(v.GetString(), v.GetStringLength());
    if (PlainSafe(s)) out->append(s);
    else AppendQuoted(s, out);
  } else {
    AppendJson(v, out);  // null, true/false, numbers
  }
}

bool IsEmptyContainer(const JsonValue& v) {
  return (v.IsObject() && v.MemberCount() == 0) || (v.IsArray() && v.Empty());
}

void Emit(const JsonValue& v, int indent, std::string* out);

void EmitValueAfterKey(const JsonValue& v, int indent, std::string* out) {
  if (v.IsObject() && v.MemberCount() > 0) {
    *out += '\n';
    Emit(v, indent + 2, out);
  } else if (v.IsArray() && !v.Empty()) {
    *out += '\n';
    Emit(v, indent, out);  // sequences under a key at the key's indentation, as kubectl prints
  } else {
    *out += ' ';
    if (IsEmptyContainer(v)) *out += v.IsObject() ? "{}" : "[]";
    else AppendScalar(v, out);
    *out += '\n';
  }
}

void Emit(const JsonValue& v, int indent, std::string* out) {
  std::string pad(static_cast<size_t>(indent), ' ');
  if (v.IsObject()) {
    if (v.MemberCount() == 0) {
      *out += pad + "{}\n";
      return;
    }
    for (auto it = v.MemberBegin(); it != v.MemberEnd(); ++it) {
      *out += pad;
      AppendScalar(it->name, out);
      *out += ':';
      EmitValueAfterKey(it->value, indent, out);
    }
  } else if (v.IsArray()) {
    if (v.Empty()) {
      *out += pad + "[]\n";
      return;
    }
    for (const auto& e : v.GetArray()) {
      *out += pad + "-";
      if (e.IsObject() && e.MemberCount() > 0) {
        // First member on the dash line, the rest indented under it.
        std::string sub;
        Emit(e, indent + 2, &sub);
        *out += ' ';
        out->append(sub, static_cast<size_t>(indent + 2), std::string::npos);
      } else if (e.IsArray() && !e.Empty()) {
        *out += '\n';
        Emit(e, indent + 2, out);
      } else {
        *out += ' ';
        if (IsEmptyContainer(e)) *out += e.IsObject() ? "{}" : "[]";
        else AppendScalar(e, out);
        *out += '\n';
      }
    }
  } else {
    *out += pad;
    AppendScalar(v, out);
    *out += '\n';
  }
}

}  // namespace

std::string JsonToYaml(const JsonValue& v) {
  std::string out;
  Emit(v, 0, &out);
  return out;
}

}  // namespace minik
