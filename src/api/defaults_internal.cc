#include "api/defaults_internal.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>

namespace minik::api::internal {

std::optional<long double> ParseQuantity(std::string_view s) {
  if (s.empty()) return std::nullopt;
  size_t i = 0;
  bool neg = false;
  if (s[i] == '+' || s[i] == '-') {
    neg = s[i] == '-';
    ++i;
  }
  long double mant = 0;
  bool digits = false;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
    mant = mant * 10 + (s[i] - '0');
    digits = true;
    ++i;
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    long double scale = 0.1L;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
      mant += (s[i] - '0') * scale;
      scale /= 10;
      digits = true;
      ++i;
    }
  }
  if (!digits) return std::nullopt;
  std::string_view suffix = s.substr(i);
  long double mult = 1;
  if (suffix.empty()) {
  } else if (suffix == "m") {
    mult = 1e-3L;
  } else if (suffix == "n") {
    mult = 1e-9L;
  } else if (suffix == "u") {
    mult = 1e-6L;
  } else if (suffix == "k") {
    mult = 1e3L;
  } else if (suffix == "M") {
    mult = 1e6L;
  } else if (suffix == "G") {
    mult = 1e9L;
  } else if (suffix == "T") {
    mult = 1e12L;
  } else if (suffix == "P") {
    mult = 1e15L;
  } else if (suffix == "E") {
    mult = 1e18L;
  } else if (suffix == "Ki") {
    mult = 1024.0L;
  } else if (suffix == "Mi") {
    mult = 1024.0L * 1024;
  } else if (suffix == "Gi") {
    mult = 1024.0L * 1024 * 1024;
  } else if (suffix == "Ti") {
    mult = 1024.0L * 1024 * 1024 * 1024;
  } else if (suffix == "Pi") {
    mult = 1024.0L * 1024 * 1024 * 1024 * 1024;
  } else if (suffix == "Ei") {
    mult = 1024.0L * 1024 * 1024 * 1024 * 1024 * 1024;
  } else if (suffix[0] == 'e' || suffix[0] == 'E') {
    std::string_view e = suffix.substr(1);
    if (e.empty()) return std::nullopt;
    size_t j = 0;
    bool eneg = false;
    if (e[0] == '+' || e[0] == '-') {
      eneg = e[0] == '-';
      j = 1;
    }
    if (j >= e.size()) return std::nullopt;
    int exp = 0;
    for (; j < e.size(); ++j) {
      if (!std::isdigit(static_cast<unsigned char>(e[j]))) return std::nullopt;
      exp = exp * 10 + (e[j] - '0');
      if (exp > 1000) return std::nullopt;
    }
    mult = std::pow(10.0L, static_cast<long double>(eneg ? -exp : exp));
  } else {
    return std::nullopt;
  }
  long double v = mant * mult;
  return neg ? -v : v;
}

std::optional<long double> QuantityOf(const JsonValue& v) {
  if (v.IsString()) return ParseQuantity(StrOf(v));
  if (v.IsNumber()) return static_cast<long double>(v.GetDouble());
  return std::nullopt;
}

namespace {

std::vector<std::pair<std::string, std::string>> SortedPairs(const JsonValue& m) {
  std::vector<std::pair<std::string, std::string>> kv;
  for (auto it = m.MemberBegin(); it != m.MemberEnd(); ++it) {
    kv.emplace_back(std::string(it->name.GetString(), it->name.GetStringLength()), std::string(StrOf(it->value)));
  }
  std::sort(kv.begin(), kv.end());
  return kv;
}

std::string GoStringSlice(const JsonValue* arr) {
  if (!arr || !arr->IsArray()) return "[]string(nil)";
  std::string out = "[]string{";
  for (rapidjson::SizeType i = 0; i < arr->Size(); ++i) {
    if (i) out += ", ";
    out += GoQuote(StrOf((*arr)[i]));
  }
  return out + "}";
}

}  // namespace

std::string GoStringMap(const JsonValue* labels) {
  if (!labels || !labels->IsObject()) return "map[string]string(nil)";
  std::string out = "map[string]string{";
  bool first = true;
  for (const auto& [k, v] : SortedPairs(*labels)) {
    if (!first) out += ", ";
    first = false;
    out += GoQuote(k) + ":" + GoQuote(v);
  }
  return out + "}";
}

std::string GoLabelSelector(const JsonValue* selector) {
  if (!selector || !selector->IsObject()) return "null";
  std::string out = "v1.LabelSelector{MatchLabels:" + GoStringMap(GetObject(*selector, "matchLabels"));
  out += ", MatchExpressions:";
  const JsonValue* exprs = GetArray(*selector, "matchExpressions");
  if (!exprs) {
    out += "[]v1.LabelSelectorRequirement(nil)";
  } else {
    out += "[]v1.LabelSelectorRequirement{";
    for (rapidjson::SizeType i = 0; i < exprs->Size(); ++i) {
      const JsonValue& e = (*exprs)[i];
      if (i) out += ", ";
      out += "v1.LabelSelectorRequirement{Key:" + GoQuote(Str(e, "key")) + ", Operator:" + GoQuote(Str(e, "operator")) +
             ", Values:" + GoStringSlice(GetArray(e, "values")) + "}";
    }
    out += "}";
  }
  return out + "}";
}

std::string GoValue(const JsonValue& v) {
  if (v.IsString()) return GoQuote(StrOf(v));
  if (v.IsBool()) return v.GetBool() ? "true" : "false";
  if (v.IsInt64()) return std::to_string(v.GetInt64());
  if (v.IsUint64()) return std::to_string(v.GetUint64());
  if (v.IsDouble()) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%g", v.GetDouble());
    return buf;
  }
  if (v.IsNull()) return "null";
  return ToJson(v);
}

bool SelectorMatches(const JsonValue* selector, const JsonValue* labels) {
  if (!selector || !selector->IsObject()) return false;
  auto label = [labels](std::string_view key) -> std::optional<std::string_view> {
    if (!labels || !labels->IsObject()) return std::nullopt;
    const JsonValue* v = Member(*labels, key);
    if (!v || !v->IsString()) return std::nullopt;
    return StrOf(*v);
  };
  if (const JsonValue* ml = GetObject(*selector, "matchLabels")) {
    for (auto it = ml->MemberBegin(); it != ml->MemberEnd(); ++it) {
      auto have = label(std::string_view(it->name.GetString(), it->name.GetStringLength()));
      if (!have || *have != StrOf(it->value)) return false;
    }
  }
  if (const JsonValue* exprs = GetArray(*selector, "matchExpressions")) {
    for (const auto& e : exprs->GetArray()) {
      std::string_view op = Str(e, "operator");
      auto have = label(Str(e, "key"));
      bool in_values = false;
      if (const JsonValue* vals = GetArray(e, "values")) {
        for (const auto& v : vals->GetArray()) in_values = in_values || (have && StrOf(v) == *have);
      }
      if (op == "In" && !in_values) return false;
      if (op == "NotIn" && have && in_values) return false;
      if (op == "Exists" && !have) return false;
      if (op == "DoesNotExist" && have) return false;
    }
  }
  return true;
}

}  // namespace minik::api::internal
