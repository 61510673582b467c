#include "api/validation.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "api/errors.h"

namespace minik::api {
namespace {

constexpr std::string_view kQualifiedNameFmt = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
constexpr std::string_view kQualifiedNameErrMsg =
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
    "character";
constexpr std::string_view kLabelValueFmt = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
constexpr std::string_view kLabelValueErrMsg =
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
    "start and end with an alphanumeric character";
constexpr std::string_view kDNS1123LabelFmt = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
constexpr std::string_view kDNS1123LabelErrMsg =
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and "
    "end with an alphanumeric character";
constexpr std::string_view kDNS1123SubdomainFmt =
    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
constexpr std::string_view kDNS1123SubdomainErrMsg =
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
    "start and end with an alphanumeric character";
constexpr std::string_view kDNS1035LabelFmt = "[a-z]([-a-z0-9]*[a-z0-9])?";
constexpr std::string_view kDNS1035LabelErrMsg =
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
    "character, and end with an alphanumeric character";

std::string MaxLenError(int n) { return "must be no more than " + std::to_string(n) + " characters"; }

std::string RegexError(std::string_view msg, std::string_view fmt, std::initializer_list<std::string_view> examples) {
  std::string out(msg);
  if (examples.size() == 0) return out + " (regex used for validation is '" + std::string(fmt) + "')";
  out += " (e.g. ";
  bool first = true;
  for (auto e : examples) {
    if (!first) out += " or ";
    first = false;
    out += "'" + std::string(e) + "', ";
  }
  out += "regex used for validation is '" + std::string(fmt) + "')";
  return out;
}

bool IsAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }
bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

bool MatchQualifiedName(std::string_view s) {
  if (s.empty() || !IsAlnum(s.front()) || !IsAlnum(s.back())) return false;
  for (char c : s)
    if (!IsAlnum(c) && c != '-' && c != '_' && c != '.') return false;
  return true;
}

bool MatchDNS1123Label(std::string_view s) {
  if (s.empty() || !IsLowerAlnum(s.front()) || !IsLowerAlnum(s.back())) return false;
  for (char c : s)
    if (!IsLowerAlnum(c) && c != '-') return false;
  return true;
}

bool MatchDNS1123Subdomain(std::string_view s) {
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    std::string_view part = s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (!MatchDNS1123Label(part)) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

bool MatchDNS1035Label(std::string_view s) {
  if (s.empty() || !(s.front() >= 'a' && s.front() <= 'z') || !IsLowerAlnum(s.back())) return false;
  for (char c : s)
    if (!IsLowerAlnum(c) && c != '-') return false;
  return true;
}

std::string MaskTrailingDash(std::string_view name) {
  if (name.size() > 1 && name.back() == '-') return std::string(name.substr(0, name.size() - 2)) + "a";
  return std::string(name);
}

std::string Join(const std::string& a, std::string_view b) { return a.empty() ? std::string(b) : a + "." + std::string(b); }

std::string_view Sv(const JsonValue& v) { return std::string_view(v.GetString(), v.GetStringLength()); }

std::string GoStringSlice(const std::vector<std::string>& v) {
  std::string out = "[]string{";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out += ", ";
    out += GoQuote(v[i]);
  }
  return out + "}";
}

std::string StrMember(const JsonValue& obj, std::string_view name) {
  auto s = GetString(obj, name);
  return s ? std::string(*s) : std::string();
}

// metav1.Time's String() (time.Time.String) for an RFC 3339 timestamp; the zero time when empty.
std::string GoTimeString(std::string_view rfc3339) {
  if (rfc3339.empty()) return "0001-01-01 00:00:00 +0000 UTC";
  if (rfc3339.size() < 19) return std::string(rfc3339);
  std::string out(rfc3339.substr(0, 10));
  out += ' ';
  out.append(rfc3339.substr(11, 8));
  std::string_view rest = rfc3339.substr(19);
  if (!rest.empty() && rest[0] == '.') {
    size_t i = 1;
    while (i < rest.size() && std::isdigit(static_cast<unsigned char>(rest[i]))) ++i;
    std::string frac(rest.substr(1, i - 1));
    while (!frac.empty() && frac.back() == '0') frac.pop_back();
    if (!frac.empty()) out += "." + frac;
    rest.remove_prefix(i);
  }
  if (rest == "Z" || rest == "z") return out + " +0000 UTC";
  if (rest.size() == 6 && (rest[0] == '+' || rest[0] == '-')) {
    std::string off = std::string(1, rest[0]) + std::string(rest.substr(1, 2)) + std::string(rest.substr(4, 2));
    return out + " " + off + " " + off;
  }
  return out;
}

std::vector<StatusCause> ValidateOwnerReferences(const JsonValue* refs, const std::string& field) {
  std::vector<StatusCause> out;
  if (!refs || !refs->IsArray()) return out;
  std::string first_controller;
  for (const auto& ref : refs->GetArray()) {
    if (!ref.IsObject()) continue;
    std::string api_version = StrMember(ref, "apiVersion");
    std::string kind = StrMember(ref, "kind");
    std::string name = StrMember(ref, "name");
    std::string uid = StrMember(ref, "uid");
    // schema.FromAPIVersionAndKind: "v1" -> version v1; "g/v" -> group g, version v; else nothing.
    std::string group, version;
    size_t slash = api_version.find('/');
    if (api_version.empty()) {
    } else if (slash == std::string::npos) {
      version = api_version;
    } else if (api_version.find('/', slash + 1) == std::string::npos) {
      group = api_version.substr(0, slash);
      version = api_version.substr(slash + 1);
    }
    if (version.empty()) out.push_back(FieldInvalid(field + ".apiVersion", GoQuote(api_version), "version must not be empty"));
    if (kind.empty()) out.push_back(FieldInvalid(field + ".kind", GoQuote(kind), "kind must not be empty"));
    if (name.empty()) out.push_back(FieldInvalid(field + ".name", GoQuote(name), "name must not be empty"));
    if (uid.empty()) out.push_back(FieldInvalid(field + ".uid", GoQuote(uid), "uid must not be empty"));
    if (group.empty() && version == "v1" && kind == "Event") {
      auto b = [&](const char* k) {
        auto v = GetBool(ref, k);
        return v ? std::string("(*bool)(") + (*v ? "true" : "false") + ")" : std::string("(*bool)(nil)");
      };
      std::string value = "v1.OwnerReference{APIVersion:" + GoQuote(api_version) + ", Kind:" + GoQuote(kind) +
                          ", Name:" + GoQuote(name) + ", UID:" + GoQuote(uid) + ", Controller:" + b("controller") +
                          ", BlockOwnerDeletion:" + b("blockOwnerDeletion") + "}";
      out.push_back(FieldInvalid(field, value, "/v1, Kind=Event is disallowed from being an owner"));
    }
    if (GetBool(ref, "controller").value_or(false)) {
      std::string cur = kind + "/" + name;
      if (!first_controller.empty()) {
        out.push_back(FieldInvalid(field, "[]v1.OwnerReference{...}",
                                   "Only one reference can have Controller set to true. Found \"true\" in references for " +
                                       first_controller + " and " + cur));
      } else {
        first_controller = cur;
      }
    }
  }
  return out;
}

std::vector<std::string> StringList(const JsonValue* v) {
  std::vector<std::string> out;
  if (!v || !v->IsArray()) return out;
  for (const auto& e : v->GetArray())
    if (e.IsString()) out.emplace_back(Sv(e));
  return out;
}

std::vector<StatusCause> ValidateFinalizers(const JsonValue* finalizers, const std::string& field) {
  std::vector<StatusCause> out;
  std::vector<std::string> list = StringList(finalizers);
  bool orphan = false, foreground = false;
  for (const auto& f : list) {
    for (auto& msg : IsQualifiedName(f)) out.push_back(FieldInvalid(field, GoQuote(f), msg));
    if (f == "orphan") orphan = true;
    if (f == "foregroundDeletion") foreground = true;
  }
  if (orphan && foreground) {
    out.push_back(FieldInvalid(field, GoStringSlice(list), "finalizer orphan and foregroundDeletion cannot be both set"));
  }
  return out;
}

void Append(std::vector<StatusCause>* out, std::vector<StatusCause> more) {
  for (auto& c : more) out->push_back(std::move(c));
}

}  // namespace

std::vector<std::string> IsDNS1123Subdomain(std::string_view value) {
  std::vector<std::string> errs;
  if (value.size() > 253) errs.push_back(MaxLenError(253));
  if (!MatchDNS1123Subdomain(value)) {
    errs.push_back(RegexError(kDNS1123SubdomainErrMsg, kDNS1123SubdomainFmt, {"example.com"}));
  }
  return errs;
}

std::vector<std::string> IsDNS1123Label(std::string_view value) {
  std::vector<std::string> errs;
  if (value.size() > 63) errs.push_back(MaxLenError(63));
  if (!MatchDNS1123Label(value)) {
    if (MatchDNS1123Subdomain(value)) {
      errs.push_back("must not contain dots");
    } else {
      errs.push_back(RegexError(kDNS1123LabelErrMsg, kDNS1123LabelFmt, {"my-name", "123-abc"}));
    }
  }
  return errs;
}

std::vector<std::string> IsDNS1035Label(std::string_view value) {
  std::vector<std::string> errs;
  if (value.size() > 63) errs.push_back(MaxLenError(63));
  if (!MatchDNS1035Label(value)) {
    errs.push_back(RegexError(kDNS1035LabelErrMsg, kDNS1035LabelFmt, {"my-name", "abc-123"}));
  }
  return errs;
}

std::vector<std::string> IsQualifiedName(std::string_view value) {
  std::vector<std::string> errs;
  size_t slashes = std::count(value.begin(), value.end(), '/');
  std::string_view name;
  if (slashes == 0) {
    name = value;
  } else if (slashes == 1) {
    size_t slash = value.find('/');
    std::string_view prefix = value.substr(0, slash);
    name = value.substr(slash + 1);
    if (prefix.empty()) {
      errs.push_back("prefix part must be non-empty");
    } else {
      for (auto& m : IsDNS1123Subdomain(prefix)) errs.push_back("prefix part " + m);
    }
  } else {
    errs.push_back("a qualified name " +
                   RegexError(kQualifiedNameErrMsg, kQualifiedNameFmt, {"MyName", "my.name", "123-abc"}) +
                   " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')");
    return errs;
  }
  if (name.empty()) {
    errs.push_back("name part must be non-empty");
  } else if (name.size() > 63) {
    errs.push_back("name part " + MaxLenError(63));
  }
  if (!MatchQualifiedName(name)) {
    errs.push_back("name part " + RegexError(kQualifiedNameErrMsg, kQualifiedNameFmt, {"MyName", "my.name", "123-abc"}));
  }
  return errs;
}

std::vector<std::string> IsValidLabelValue(std::string_view value) {
  std::vector<std::string> errs;
  if (value.size() > 63) errs.push_back(MaxLenError(63));
  if (!value.empty() && !MatchQualifiedName(value)) {
    errs.push_back(RegexError(kLabelValueErrMsg, kLabelValueFmt, {"MyValue", "my_value", "12345"}));
  }
  return errs;
}

std::vector<std::string> IsValidPathSegmentName(std::string_view value) {
  if (value == "." || value == "..") return {"may not be '" + std::string(value) + "'"};
  return IsValidPathSegmentPrefix(value);
}

std::vector<std::string> IsValidPathSegmentPrefix(std::string_view value) {
  std::vector<std::string> errs;
  if (value.find('/') != std::string_view::npos) errs.push_back("may not contain '/'");
  if (value.find('%') != std::string_view::npos) errs.push_back("may not contain '%'");
  return errs;
}

std::vector<std::string> ValidateName(NameRule rule, std::string_view name, bool prefix) {
  switch (rule) {
    case NameRule::kDNSSubdomain: return IsDNS1123Subdomain(prefix ? MaskTrailingDash(name) : std::string(name));
    case NameRule::kDNSLabel: return IsDNS1123Label(prefix ? MaskTrailingDash(name) : std::string(name));
    case NameRule::kDNS1035Label: return IsDNS1035Label(prefix ? MaskTrailingDash(name) : std::string(name));
    case NameRule::kPathSegment: return prefix ? IsValidPathSegmentPrefix(name) : IsValidPathSegmentName(name);
  }
  return {};
}

std::string GoQuote(std::string_view s) {
  static const char* kHex = "0123456789abcdef";
  std::string out = "\"";
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\a': out += "\\a"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\v': out += "\\v"; break;
        default:
          if (c < 0x20 || c == 0x7f) {
            out += "\\x";
            out += kHex[c >> 4];
            out += kHex[c & 15];
          } else {
            out += static_cast<char>(c);
          }
      }
      ++i;
      continue;
    }
    // UTF-8 sequence: copy when valid, \x escapes otherwise.
    int len = (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    bool valid = len > 0 && i + len <= s.size();
    for (int k = 1; valid && k < len; ++k) valid = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
    if (valid) {
      uint32_t cp = c & (0x7F >> len);
      for (int k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
      if (cp >= 0x80 && cp <= 0x9F) {
        out += "\\u00";
        out += kHex[cp >> 4];
        out += kHex[cp & 15];
      } else {
        out.append(s.substr(i, len));
      }
      i += len;
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
      ++i;
    }
  }
  return out + "\"";
}

std::vector<StatusCause> ValidateLabels(const JsonValue* labels, std::string_view field) {
  std::vector<StatusCause> out;
  if (!labels || !labels->IsObject()) return out;
  for (auto it = labels->MemberBegin(); it != labels->MemberEnd(); ++it) {
    std::string_view k = Sv(it->name);
    for (auto& msg : IsQualifiedName(k)) out.push_back(FieldInvalid(field, GoQuote(k), msg));
    std::string v = it->value.IsString() ? std::string(Sv(it->value)) : ToJson(it->value);
    for (auto& msg : IsValidLabelValue(v)) out.push_back(FieldInvalid(field, GoQuote(v), msg));
  }
  return out;
}

std::vector<StatusCause> ValidateAnnotations(const JsonValue* annotations, std::string_view field) {
  std::vector<StatusCause> out;
  if (!annotations || !annotations->IsObject()) return out;
  int64_t total = 0;
  for (auto it = annotations->MemberBegin(); it != annotations->MemberEnd(); ++it) {
    std::string_view k = Sv(it->name);
    std::string lower(k);
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (auto& msg : IsQualifiedName(lower)) out.push_back(FieldInvalid(field, GoQuote(k), msg));
    total += static_cast<int64_t>(k.size()) + (it->value.IsString() ? it->value.GetStringLength() : 0);
  }
  if (total > kTotalAnnotationSizeLimit) {
    out.push_back(FieldTooLong(field, "", static_cast<int>(kTotalAnnotationSizeLimit)));
  }
  return out;
}

std::vector<StatusCause> ValidateObjectMeta(const JsonValue& meta, bool namespaced, NameRule rule,
                                            std::string_view field_prefix) {
  std::vector<StatusCause> out;
  const std::string p(field_prefix);
  std::string generate_name = StrMember(meta, "generateName");
  std::string name = StrMember(meta, "name");
  std::string ns = StrMember(meta, "namespace");
  if (!generate_name.empty()) {
    for (auto& msg : ValidateName(rule, generate_name, true))
      out.push_back(FieldInvalid(Join(p, "generateName"), GoQuote(generate_name), msg));
  }
  if (name.empty()) {
    out.push_back(FieldRequired(Join(p, "name"), "name or generateName is required"));
  } else {
    for (auto& msg : ValidateName(rule, name, false)) out.push_back(FieldInvalid(Join(p, "name"), GoQuote(name), msg));
  }
  if (namespaced) {
    if (ns.empty()) {
      out.push_back(FieldRequired(Join(p, "namespace")));
    } else {
      for (auto& msg : IsDNS1123Label(ns)) out.push_back(FieldInvalid(Join(p, "namespace"), GoQuote(ns), msg));
    }
  } else if (!ns.empty()) {
    out.push_back(FieldForbidden(Join(p, "namespace"), "not allowed on this type"));
  }
  if (auto gen = GetInt(meta, "generation"); gen && *gen < 0) {
    out.push_back(FieldInvalid(Join(p, "generation"), std::to_string(*gen), "must be greater than or equal to 0"));
  }
  Append(&out, ValidateLabels(Member(meta, "labels"), Join(p, "labels")));
  Append(&out, ValidateAnnotations(Member(meta, "annotations"), Join(p, "annotations")));
  Append(&out, ValidateOwnerReferences(Member(meta, "ownerReferences"), Join(p, "ownerReferences")));
  Append(&out, ValidateFinalizers(Member(meta, "finalizers"), Join(p, "finalizers")));
  return out;
}

std::vector<StatusCause> ValidateObjectMetaUpdate(const JsonValue& new_meta, const JsonValue& old_meta,
                                                  std::string_view field_prefix) {
  std::vector<StatusCause> out;
  const std::string p(field_prefix);
  if (Member(old_meta, "deletionTimestamp") && !Member(old_meta, "deletionTimestamp")->IsNull()) {
    std::vector<std::string> nf = StringList(Member(new_meta, "finalizers"));
    std::vector<std::string> of = StringList(Member(old_meta, "finalizers"));
    std::set<std::string> extra(nf.begin(), nf.end());
    for (const auto& f : of) extra.erase(f);
    if (!extra.empty()) {
      out.push_back(FieldForbidden(Join(p, "finalizers"),
                                   "no new finalizers can be added if the object is being deleted, found new finalizers " +
                                       GoStringSlice(std::vector<std::string>(extra.begin(), extra.end()))));
    }
  }
  std::string rv = StrMember(new_meta, "resourceVersion");
  if (rv.empty()) out.push_back(FieldInvalid(Join(p, "resourceVersion"), GoQuote(rv), "must be specified for an update"));
  int64_t new_gen = GetInt(new_meta, "generation").value_or(0), old_gen = GetInt(old_meta, "generation").value_or(0);
  if (new_gen < old_gen) {
    out.push_back(FieldInvalid(Join(p, "generation"), std::to_string(new_gen), "must not be decremented"));
  }
  for (const char* f : {"name", "namespace", "uid"}) {
    std::string nv = StrMember(new_meta, f), ov = StrMember(old_meta, f);
    if (nv != ov) out.push_back(FieldInvalid(Join(p, f), GoQuote(nv), "field is immutable"));
  }
  {
    std::string nv = StrMember(new_meta, "creationTimestamp"), ov = StrMember(old_meta, "creationTimestamp");
    if (nv != ov) out.push_back(FieldInvalid(Join(p, "creationTimestamp"), GoTimeString(nv), "field is immutable"));
  }
  {
    auto nv = GetString(new_meta, "deletionTimestamp"), ov = GetString(old_meta, "deletionTimestamp");
    if (nv != ov) {
      out.push_back(FieldInvalid(Join(p, "deletionTimestamp"), nv ? GoTimeString(*nv) : "null", "field is immutable"));
    }
  }
  {
    auto nv = GetInt(new_meta, "deletionGracePeriodSeconds"), ov = GetInt(old_meta, "deletionGracePeriodSeconds");
    if (nv != ov) {
      out.push_back(FieldInvalid(Join(p, "deletionGracePeriodSeconds"), nv ? std::to_string(*nv) : "null",
                                 "field is immutable"));
    }
  }
  Append(&out, ValidateLabels(Member(new_meta, "labels"), Join(p, "labels")));
  Append(&out, ValidateAnnotations(Member(new_meta, "annotations"), Join(p, "annotations")));
  Append(&out, ValidateOwnerReferences(Member(new_meta, "ownerReferences"), Join(p, "ownerReferences")));
  return out;
}

std::string GenerateName(std::string_view base, uint64_t random_bits) {
  static constexpr std::string_view kAlphabet = "bcdfghjklmnpqrstvwxz2456789";
  constexpr size_t kMaxGeneratedNameLength = 63 - 5;
  std::string out(base.substr(0, std::min(base.size(), kMaxGeneratedNameLength)));
  for (int i = 0; i < 5; ++i) {
    out += kAlphabet[random_bits % kAlphabet.size()];
    random_bits /= kAlphabet.size();
  }
  return out;
}

}  // namespace minik::api
