#include "api/fields.h"

#include <algorithm>

namespace minik::api {
namespace {

// splitTerms: split on commas not escaped by a backslash (escapes are kept).
std::vector<std::string> SplitTerms(std::string_view s) {
  std::vector<std::string> terms;
  if (s.empty()) return terms;
  size_t start = 0;
  bool in_slash = false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (in_slash) {
      in_slash = false;
    } else if (c == '\\') {
      in_slash = true;
    } else if (c == ',') {
      terms.emplace_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  terms.emplace_back(s.substr(start));
  return terms;
}

// UnescapeValue. Go ranges over runes; the special characters are ASCII, so bytes do.
StatusOr<std::string> Unescape(std::string_view s) {
  if (s.find_first_of("\\,=") == std::string_view::npos) return std::string(s);
  std::string out;
  bool in_slash = false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (in_slash) {
      if (c == '\\' || c == ',' || c == '=') {
        out += c;
      } else {
        // The whole rune after the backslash.
        size_t len = 1;
        unsigned char u = static_cast<unsigned char>(c);
        if (u >= 0xF0) len = 4;
        else if (u >= 0xE0) len = 3;
        else if (u >= 0xC0) len = 2;
        return Status::BadRequest("invalid field selector: invalid escape sequence: \\" + std::string(s.substr(i, len)));
      }
      in_slash = false;
      continue;
    }
    if (c == '\\') {
      in_slash = true;
    } else if (c == ',' || c == '=') {
      // %v of a rune prints its code point.
      return Status::BadRequest("invalid field selector: unescaped character in value: " + std::to_string(static_cast<int>(c)));
    } else {
      out += c;
    }
  }
  if (in_slash) return Status::BadRequest("invalid field selector: invalid escape sequence: \\");
  return out;
}

}  // namespace

StatusOr<FieldSelector> FieldSelector::Parse(std::string_view selector) {
  FieldSelector sel;
  std::vector<std::string> parts = SplitTerms(selector);
  std::sort(parts.begin(), parts.end());
  for (const auto& part : parts) {
    if (part.empty()) continue;
    size_t pos = std::string::npos, op_len = 0;
    bool equals = true;
    for (size_t i = 0; i < part.size(); ++i) {
      if (part.compare(i, 2, "!=") == 0) {
        pos = i, op_len = 2, equals = false;
        break;
      }
      if (part.compare(i, 2, "==") == 0) {
        pos = i, op_len = 2;
        break;
      }
      if (part[i] == '=') {
        pos = i, op_len = 1;
        break;
      }
    }
    if (pos == std::string::npos) {
      return Status::BadRequest("invalid selector: '" + std::string(selector) + "'; can't understand '" + part + "'");
    }
    MINIK_ASSIGN_OR_RETURN(std::string value, Unescape(std::string_view(part).substr(pos + op_len)));
    sel.reqs_.push_back(FieldRequirement{part.substr(0, pos), equals, std::move(value)});
  }
  return sel;
}

bool FieldSelector::Matches(const FieldGetter& get) const {
  for (const auto& r : reqs_) {
    std::string v = get(r.field).value_or("");
    if ((v == r.value) != r.equals) return false;
  }
  return true;
}

std::optional<std::string> FieldSelector::RequiresExactMatch(std::string_view field) const {
  for (const auto& r : reqs_)
    if (r.equals && r.field == field) return r.value;
  return std::nullopt;
}

std::string FieldSelector::String() const {
  std::string out;
  for (size_t i = 0; i < reqs_.size(); ++i) {
    if (i) out += ',';
    out += reqs_[i].field + (reqs_[i].equals ? "=" : "!=") + EscapeFieldValue(reqs_[i].value);
  }
  return out;
}

std::string EscapeFieldValue(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == ',' || c == '=') out += '\\';
    out += c;
  }
  return out;
}

Status FieldLabelNotSupportedError(std::string_view field) {
  return Status::BadRequest("field label not supported: " + std::string(field));
}

}  // namespace minik::api
