#include "common/prometheus.h"

#include <charconv>
#include <cmath>
#include <cstdlib>

namespace minik::prom {

std::string FormatFloat(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == 0) return std::signbit(v) ? "-0" : "0";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  std::string_view s(buf, static_cast<size_t>(r.ptr - buf));
  // "-d.ddde+XX": sign, digits, exponent.
  std::string out;
  if (s.front() == '-') {
    out += '-';
    s.remove_prefix(1);
  }
  size_t e = s.find('e');
  std::string digits;
  for (char ch : s.substr(0, e)) {
    if (ch != '.') digits += ch;
  }
  int exp = std::atoi(std::string(s.substr(e + 1)).c_str());
  if (exp < -4 || exp >= 6) {
    out += digits[0];
    if (digits.size() > 1) {
      out += '.';
      out.append(digits, 1, std::string::npos);
    }
    out += 'e';
    out += exp < 0 ? '-' : '+';
    int a = exp < 0 ? -exp : exp;
    if (a < 10) out += '0';
    out += std::to_string(a);
    return out;
  }
  if (exp < 0) {
    out += "0.";
    out.append(static_cast<size_t>(-exp - 1), '0');
    out += digits;
    return out;
  }
  size_t int_len = static_cast<size_t>(exp) + 1;
  if (digits.size() <= int_len) {
    out += digits;
    out.append(int_len - digits.size(), '0');
    return out;
  }
  out.append(digits, 0, int_len);
  out += '.';
  out.append(digits, int_len, std::string::npos);
  return out;
}

std::string EscapeLabelValue(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char ch : v) {
    if (ch == '\\') out += "\\\\";
    else if (ch == '"') out += "\\\"";
    else if (ch == '\n') out += "\\n";
    else out += ch;
  }
  return out;
}

void AppendHeader(std::string* out, std::string_view name, std::string_view help, std::string_view type) {
  out->append("# HELP ").append(name).append(" ");
  for (char ch : help) {
    if (ch == '\\') out->append("\\\\");
    else if (ch == '\n') out->append("\\n");
    else *out += ch;
  }
  out->append("\n# TYPE ").append(name).append(" ").append(type).append("\n");
}

void AppendSample(std::string* out, std::string_view name, const Labels& labels, double value,
                  std::optional<int64_t> timestamp_ms) {
  out->append(name);
  if (!labels.empty()) {
    *out += '{';
    bool first = true;
    for (const auto& [k, v] : labels) {
      if (!first) *out += ',';
      first = false;
      out->append(k).append("=\"").append(EscapeLabelValue(v)).append("\"");
    }
    *out += '}';
  }
  *out += ' ';
  out->append(FormatFloat(value));
  if (timestamp_ms) out->append(" ").append(std::to_string(*timestamp_ms));
  *out += '\n';
}

namespace {

bool IsNameChar(char ch, bool first) {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' || ch == ':' ||
         (!first && ch >= '0' && ch <= '9');
}

bool ParseValue(std::string_view s, double* v) {
  if (s == "NaN") {
    *v = std::nan("");
    return true;
  }
  if (s == "+Inf" || s == "Inf") {
    *v = HUGE_VAL;
    return true;
  }
  if (s == "-Inf") {
    *v = -HUGE_VAL;
    return true;
  }
  if (s.empty()) return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), *v);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

Status ParseLine(std::string_view line, Sample* out) {
  size_t i = 0;
  while (i < line.size() && IsNameChar(line[i], i == 0)) ++i;
  if (i == 0) return Status::BadRequest("invalid metric name");
  out->name = std::string(line.substr(0, i));
  if (i < line.size() && line[i] == '{') {
    ++i;
    while (true) {
      while (i < line.size() && (line[i] == ' ' || line[i] == ',')) ++i;
      if (i < line.size() && line[i] == '}') {
        ++i;
        break;
      }
      size_t k = i;
      while (i < line.size() && IsNameChar(line[i], i == k)) ++i;
      if (i == k || i >= line.size() || line[i] != '=') return Status::BadRequest("invalid label");
      std::string key(line.substr(k, i - k));
      ++i;
      if (i >= line.size() || line[i] != '"') return Status::BadRequest("invalid label value");
      ++i;
      std::string val;
      bool closed = false;
      while (i < line.size()) {
        char ch = line[i++];
        if (ch == '\\' && i < line.size()) {
          char n = line[i++];
          val += n == 'n' ? '\n' : n;
        } else if (ch == '"') {
          closed = true;
          break;
        } else {
          val += ch;
        }
      }
      if (!closed) return Status::BadRequest("unterminated label value");
      out->labels[key] = std::move(val);
    }
  }
  while (i < line.size() && line[i] == ' ') ++i;
  size_t vs = i;
  while (i < line.size() && line[i] != ' ') ++i;
  if (!ParseValue(line.substr(vs, i - vs), &out->value)) return Status::BadRequest("invalid value");
  while (i < line.size() && line[i] == ' ') ++i;
  if (i < line.size()) {
    std::string_view ts = line.substr(i);
    while (!ts.empty() && ts.back() == ' ') ts.remove_suffix(1);
    int64_t t = 0;
    auto r = std::from_chars(ts.data(), ts.data() + ts.size(), t);
    if (r.ec != std::errc() || r.ptr != ts.data() + ts.size()) return Status::BadRequest("invalid timestamp");
    out->timestamp_ms = t;
  }
  return Status::OK();
}

}  // namespace

StatusOr<std::vector<Sample>> Parse(std::string_view text) {
  std::vector<Sample> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    if (line.empty() || line.front() == '#') continue;
    Sample s;
    Status st = ParseLine(line, &s);
    if (!st.ok()) return Status::BadRequest(st.message() + " in line \"" + std::string(line) + "\"");
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace minik::prom
