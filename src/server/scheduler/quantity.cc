#include "server/scheduler/quantity.h"

#include <limits>
#include <string>

namespace minik::scheduler {
namespace {

using i128 = __int128;
constexpr i128 kCap = static_cast<i128>(1) << 100;  // saturation bound, far above int64

struct Parsed {
  bool negative = false;
  i128 mantissa = 0;  // all digits, saturated at kCap
  int exp10 = 0;      // decimal exponent applied to mantissa
  int exp2 = 0;       // binary exponent (Ki = 10, ...)
};

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

std::optional<Parsed> Parse(std::string_view s) {
  Parsed p;
  size_t i = 0;
  if (s.empty()) return std::nullopt;
  if (s[i] == '+' || s[i] == '-') {
    p.negative = s[i] == '-';
    ++i;
  }
  size_t digits = 0;
  auto take = [&](bool fractional) {
    while (i < s.size() && IsDigit(s[i])) {
      if (p.mantissa < kCap) {
        p.mantissa = p.mantissa * 10 + (s[i] - '0');
        if (fractional) --p.exp10;
      } else if (!fractional) {
        ++p.exp10;  // drop low integer digits once saturated (keeps magnitude)
      }
      ++i;
      ++digits;
    }
  };
  take(false);
  if (i < s.size() && s[i] == '.') {
    ++i;
    take(true);
  }
  if (digits == 0) return std::nullopt;
  std::string_view suf = s.substr(i);
  if (suf.empty()) return p;
  if (suf.size() == 2 && suf[1] == 'i') {
    switch (suf[0]) {
      case 'K': p.exp2 = 10; return p;
      case 'M': p.exp2 = 20; return p;
      case 'G': p.exp2 = 30; return p;
      case 'T': p.exp2 = 40; return p;
      case 'P': p.exp2 = 50; return p;
      case 'E': p.exp2 = 60; return p;
      default: return std::nullopt;
    }
  }
  if (suf.size() == 1) {
    switch (suf[0]) {
      case 'n': p.exp10 -= 9; return p;
      case 'u': p.exp10 -= 6; return p;
      case 'm': p.exp10 -= 3; return p;
      case 'k': p.exp10 += 3; return p;
      case 'M': p.exp10 += 6; return p;
      case 'G': p.exp10 += 9; return p;
      case 'T': p.exp10 += 12; return p;
      case 'P': p.exp10 += 15; return p;
      case 'E': p.exp10 += 18; return p;
      default: return std::nullopt;
    }
  }
  if (suf[0] == 'e' || suf[0] == 'E') {
    size_t j = 1;
    bool neg = false;
    if (j < suf.size() && (suf[j] == '+' || suf[j] == '-')) {
      neg = suf[j] == '-';
      ++j;
    }
    if (j >= suf.size()) return std::nullopt;
    int e = 0;
    for (; j < suf.size(); ++j) {
      if (!IsDigit(suf[j])) return std::nullopt;
      if (e < 100000) e = e * 10 + (suf[j] - '0');
    }
    p.exp10 += neg ? -e : e;
    return p;
  }
  return std::nullopt;
}

// ceil(|mantissa| * 10^exp10 * 2^exp2), saturated, with the sign applied.
int64_t Scale(const Parsed& p, int extra_exp10) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  i128 v = p.mantissa;
  int e10 = p.exp10 + extra_exp10;
  if (v == 0) return 0;
  for (int k = 0; k < p.exp2; ++k) {
    v *= 2;
    if (v > kCap) return p.negative ? -kMax : kMax;
  }
  for (; e10 > 0; --e10) {
    v *= 10;
    if (v > kCap) return p.negative ? -kMax : kMax;
  }
  bool remainder = false;
  for (; e10 < 0; ++e10) {
    if (v % 10 != 0) remainder = true;
    v /= 10;
    if (v == 0) {
      remainder = true;
      break;
    }
  }
  if (remainder) v += 1;
  if (v > kMax) v = kMax;
  return p.negative ? -static_cast<int64_t>(v) : static_cast<int64_t>(v);
}

std::optional<int64_t> FromJson(const JsonValue& v, int extra) {
  if (v.IsString()) {
    auto p = Parse(std::string_view(v.GetString(), v.GetStringLength()));
    if (!p) return std::nullopt;
    return Scale(*p, extra);
  }
  if (v.IsInt64()) {
    auto p = Parse(std::to_string(v.GetInt64()));
    return p ? std::optional<int64_t>(Scale(*p, extra)) : std::nullopt;
  }
  if (v.IsNumber()) {
    char buf[64];
    snprintf(buf, sizeof buf, "%.17g", v.GetDouble());
    auto p = Parse(buf);
    return p ? std::optional<int64_t>(Scale(*p, extra)) : std::nullopt;
  }
  return std::nullopt;
}

}  // namespace

std::optional<int64_t> QuantityValue(std::string_view s) {
  auto p = Parse(s);
  if (!p) return std::nullopt;
  return Scale(*p, 0);
}

std::optional<int64_t> QuantityMilliValue(std::string_view s) {
  auto p = Parse(s);
  if (!p) return std::nullopt;
  return Scale(*p, 3);
}

std::optional<int64_t> QuantityValue(const JsonValue& v) { return FromJson(v, 0); }
std::optional<int64_t> QuantityMilliValue(const JsonValue& v) { return FromJson(v, 3); }

}  // namespace minik::scheduler
