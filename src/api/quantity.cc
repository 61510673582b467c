// resource.Quantity. See quantity.h.
//
// Follows k8s.io/apimachinery/pkg/api/resource v0.32 (quantity.go ParseQuantity,
// parseQuantityString, CanonicalizeBytes; suffix.go; amount.go AsCanonicalBytes /
// AsCanonicalBase1024Bytes). Values are kept as exact decimal digit strings, which gives the same
// results as upstream's int64Amount and inf.Dec representations.
#include "api/quantity.h"

#include <algorithm>
#include <climits>

namespace minik::api {

namespace {

constexpr std::string_view kErrFormatWrong =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
constexpr std::string_view kErrNumeric = "unable to parse numeric part of quantity";
constexpr std::string_view kErrSuffix = "unable to parse quantity's suffix";

constexpr int64_t kNano = -9;
constexpr std::string_view kMaxInt64 = "9223372036854775807";

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// ---- unsigned magnitudes as decimal digit strings without leading zeros ("" is zero) ----

std::string StripLeadingZeros(std::string s) {
  size_t i = s.find_first_not_of('0');
  return i == std::string::npos ? std::string() : s.substr(i);
}

int CmpMag(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
  int c = a.compare(b);
  return c < 0 ? -1 : (c > 0 ? 1 : 0);
}

std::string AddMag(std::string_view a, std::string_view b) {
  std::string out;
  out.reserve(std::max(a.size(), b.size()) + 1);
  int carry = 0;
  for (size_t i = 0; i < a.size() || i < b.size() || carry; ++i) {
    int d = carry;
    if (i < a.size()) d += a[a.size() - 1 - i] - '0';
    if (i < b.size()) d += b[b.size() - 1 - i] - '0';
    out.push_back(static_cast<char>('0' + d % 10));
    carry = d / 10;
  }
  std::reverse(out.begin(), out.end());
  return StripLeadingZeros(std::move(out));
}

// a - b, requires a >= b.
std::string SubMag(std::string_view a, std::string_view b) {
  std::string out;
  out.reserve(a.size());
  int borrow = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    int d = (a[a.size() - 1 - i] - '0') - borrow;
    if (i < b.size()) d -= b[b.size() - 1 - i] - '0';
    borrow = d < 0;
    if (d < 0) d += 10;
    out.push_back(static_cast<char>('0' + d));
  }
  std::reverse(out.begin(), out.end());
  return StripLeadingZeros(std::move(out));
}

std::string MulSmall(std::string_view a, uint32_t m) {
  std::string out;
  uint64_t carry = 0;
  for (size_t i = a.size(); i-- > 0;) {
    uint64_t d = static_cast<uint64_t>(a[i] - '0') * m + carry;
    out.push_back(static_cast<char>('0' + d % 10));
    carry = d / 10;
  }
  while (carry) {
    out.push_back(static_cast<char>('0' + carry % 10));
    carry /= 10;
  }
  std::reverse(out.begin(), out.end());
  return StripLeadingZeros(std::move(out));
}

// a / d, sets rem.
std::string DivSmall(std::string_view a, uint32_t d, uint32_t* rem) {
  std::string out;
  uint64_t r = 0;
  for (char c : a) {
    r = r * 10 + static_cast<uint64_t>(c - '0');
    out.push_back(static_cast<char>('0' + r / d));
    r %= d;
  }
  *rem = static_cast<uint32_t>(r);
  return StripLeadingZeros(std::move(out));
}

// Go's strconv.ParseInt(s, 10, 64).
std::optional<int64_t> GoParseInt(std::string_view s) {
  size_t i = 0;
  bool neg = false;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
  if (i == s.size()) return std::nullopt;
  uint64_t v = 0;
  const uint64_t limit = neg ? uint64_t{1} << 63 : (uint64_t{1} << 63) - 1;
  for (; i < s.size(); ++i) {
    if (!IsDigit(s[i])) return std::nullopt;
    uint64_t d = static_cast<uint64_t>(s[i] - '0');
    if (v > (limit - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return neg ? static_cast<int64_t>(~v + 1) : static_cast<int64_t>(v);
}

// parseQuantityString: the fast scanner of quantity.go.
struct Scanned {
  bool positive = true;
  std::string_view value, num, denom, suffix;
};

bool ScanQuantity(std::string_view str, Scanned* out) {
  Scanned& r = *out;
  size_t pos = 0;
  const size_t end = str.size();
  if (pos < end) {
    if (str[0] == '-') {
      r.positive = false;
      ++pos;
    } else if (str[0] == '+') {
      ++pos;
    }
  }
  // Leading zeros.
  for (size_t i = pos;; ++i) {
    if (i >= end) {
      r.num = "0";
      r.value = r.num;
      return true;
    }
    if (str[i] != '0') break;
    ++pos;
  }
  // Numerator.
  for (size_t i = pos;; ++i) {
    if (i >= end) {
      r.num = str.substr(pos);
      r.value = str;
      return true;
    }
    if (!IsDigit(str[i])) {
      r.num = str.substr(pos, i - pos);
      pos = i;
      break;
    }
  }
  if (r.num.empty()) r.num = "0";
  // Denominator ("1." is allowed).
  if (pos < end && str[pos] == '.') {
    ++pos;
    for (size_t i = pos;; ++i) {
      if (i >= end) {
        r.denom = str.substr(pos);
        r.value = str;
        return true;
      }
      if (!IsDigit(str[i])) {
        r.denom = str.substr(pos, i - pos);
        pos = i;
        break;
      }
    }
  }
  r.value = str.substr(0, pos);
  // Suffix: letters, an optional sign, digits.
  const size_t suffix_start = pos;
  for (size_t i = pos;; ++i) {
    if (i >= end) {
      r.suffix = str.substr(suffix_start);
      return true;
    }
    if (std::string_view("eEinumkKMGTP").find(str[i]) == std::string_view::npos) {
      pos = i;
      break;
    }
  }
  if (pos < end && (str[pos] == '-' || str[pos] == '+')) ++pos;
  for (size_t i = pos;; ++i) {
    if (i >= end) {
      r.suffix = str.substr(suffix_start);
      return true;
    }
    if (!IsDigit(str[i])) break;
  }
  return false;  // ErrFormatWrong
}

struct SuffixInfo {
  int32_t base;
  int32_t exponent;
  QuantityFormat format;
};

// quantitySuffixer.interpret.
std::optional<SuffixInfo> InterpretSuffix(std::string_view s) {
  static constexpr struct {
    std::string_view s;
    SuffixInfo info;
  } kTable[] = {
      {"", {10, 0, QuantityFormat::kDecimalSI}},   {"n", {10, -9, QuantityFormat::kDecimalSI}},
      {"u", {10, -6, QuantityFormat::kDecimalSI}}, {"m", {10, -3, QuantityFormat::kDecimalSI}},
      {"k", {10, 3, QuantityFormat::kDecimalSI}},  {"M", {10, 6, QuantityFormat::kDecimalSI}},
      {"G", {10, 9, QuantityFormat::kDecimalSI}},  {"T", {10, 12, QuantityFormat::kDecimalSI}},
      {"P", {10, 15, QuantityFormat::kDecimalSI}}, {"E", {10, 18, QuantityFormat::kDecimalSI}},
      {"Ki", {2, 10, QuantityFormat::kBinarySI}},  {"Mi", {2, 20, QuantityFormat::kBinarySI}},
      {"Gi", {2, 30, QuantityFormat::kBinarySI}},  {"Ti", {2, 40, QuantityFormat::kBinarySI}},
      {"Pi", {2, 50, QuantityFormat::kBinarySI}},  {"Ei", {2, 60, QuantityFormat::kBinarySI}},
  };
  for (const auto& e : kTable) {
    if (e.s == s) return e.info;
  }
  if (s.size() > 1 && (s[0] == 'e' || s[0] == 'E')) {
    std::optional<int64_t> parsed = GoParseInt(s.substr(1));
    if (!parsed) return std::nullopt;
    // Go: int32(parsed) keeps the low 32 bits.
    auto exponent = static_cast<int32_t>(static_cast<uint32_t>(static_cast<uint64_t>(*parsed)));
    return SuffixInfo{10, exponent, QuantityFormat::kDecimalExponent};
  }
  return std::nullopt;
}

std::string_view DecimalSuffix(int64_t exponent) {
  switch (exponent) {
    case -9: return "n";
    case -6: return "u";
    case -3: return "m";
    case 0: return "";
    case 3: return "k";
    case 6: return "M";
    case 9: return "G";
    case 12: return "T";
    case 15: return "P";
    case 18: return "E";
  }
  return "";  // no suffix: upstream v0.32 drops it (see quantity.h)
}

std::string_view BinarySuffix(int power) {
  static constexpr std::string_view kSuffixes[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
  return power >= 0 && power <= 6 ? kSuffixes[power] : "";
}

}  // namespace

void Quantity::Normalize() {
  digits_ = StripLeadingZeros(std::move(digits_));
  if (digits_.empty()) {
    negative_ = false;
    exponent_ = 0;
    return;
  }
  size_t last = digits_.find_last_not_of('0');
  exponent_ += static_cast<int64_t>(digits_.size() - 1 - last);
  digits_.resize(last + 1);
}

Quantity Quantity::FromScaled(int64_t value, int32_t scale, QuantityFormat format) {
  Quantity q;
  q.negative_ = value < 0;
  uint64_t mag = value < 0 ? ~static_cast<uint64_t>(value) + 1 : static_cast<uint64_t>(value);
  q.digits_ = std::to_string(mag);
  q.exponent_ = scale;
  q.format_ = format;
  q.Normalize();
  return q;
}

StatusOr<Quantity> ParseQuantity(std::string_view str) {
  if (str.empty()) return Status::BadRequest(std::string(kErrFormatWrong));
  if (str == "0") {
    Quantity q;
    q.text_ = "0";
    return q;
  }
  Scanned sc;
  if (!ScanQuantity(str, &sc)) return Status::BadRequest(std::string(kErrFormatWrong));
  std::optional<SuffixInfo> suf = InterpretSuffix(sc.suffix);
  if (!suf) return Status::BadRequest(std::string(kErrSuffix));

  QuantityFormat format = suf->format;
  const int32_t exponent = suf->exponent;
  int32_t precision = 0;
  int32_t scale = 0;
  int64_t mantissa = 1;
  if (format == QuantityFormat::kBinarySI) {
    if (exponent >= 0 && sc.denom.empty()) {
      mantissa = int64_t{1} << exponent;
      precision = 15 - static_cast<int32_t>(sc.num.size()) - exponent * 3 / 10 - 1;
    } else {
      precision = -1;
    }
  } else {
    scale = exponent;
    precision = 18 - static_cast<int32_t>(sc.num.size() + sc.denom.size());
  }

  // The int64 fast path: same value as the general path, but it may keep the input text.
  if (precision >= 0) {
    scale = static_cast<int32_t>(static_cast<uint32_t>(scale) - static_cast<uint32_t>(sc.denom.size()));
    if (scale >= kNano) {
      std::string shifted = std::string(sc.num) + std::string(sc.denom);
      std::optional<int64_t> value = GoParseInt(shifted);
      if (!value) return Status::BadRequest(std::string(kErrNumeric));
      int64_t result;
      if (!__builtin_mul_overflow(*value, mantissa, &result)) {
        Quantity q = Quantity::FromScaled(sc.positive ? result : -result, scale, format);
        bool keep;
        if (format == QuantityFormat::kBinarySI) {
          keep = exponent % 10 == 0 && (*value & 0x07) != 0;
        } else {
          keep = scale % 3 == 0 && !(shifted.size() >= 3 && shifted.ends_with("000")) && shifted[0] != '0';
        }
        if (keep) q.text_ = std::string(str);
        return q;
      }
    }
  }

  // The inf.Dec path. inf.Dec.SetString needs at least one digit in the number.
  if (std::none_of(sc.value.begin(), sc.value.end(), IsDigit)) {
    return Status::BadRequest(std::string(kErrNumeric));
  }
  Quantity q;
  q.format_ = format;
  q.digits_ = std::string(sc.num) + std::string(sc.denom);
  q.exponent_ = -static_cast<int64_t>(sc.denom.size());
  if (suf->base == 10) {
    q.exponent_ += exponent;
  } else {
    for (int32_t i = 0; i < exponent / 10; ++i) q.digits_ = MulSmall(q.digits_, 1024);
  }
  q.Normalize();
  // Round a non-zero value finer than nano away from zero, up to the next nano.
  if (!q.digits_.empty() && q.exponent_ < kNano) {
    int64_t drop = kNano - q.exponent_;
    if (drop >= static_cast<int64_t>(q.digits_.size())) {
      q.digits_ = "1";
    } else {
      q.digits_ = AddMag(q.digits_.substr(0, q.digits_.size() - static_cast<size_t>(drop)), "1");
    }
    q.exponent_ = kNano;
    q.Normalize();
  }
  if (format == QuantityFormat::kBinarySI) {
    // Cap at 2^63-1 (the magnitude: the sign is put back afterwards).
    if (q.Cmp(Quantity::FromInt(INT64_MAX)) > 0) {
      q.digits_ = std::string(kMaxInt64);
      q.exponent_ = 0;
    }
    // 0 < |q| < 1: DecimalSI.
    if (!q.digits_.empty() && q.exponent_ < 0 &&
        static_cast<int64_t>(q.digits_.size()) + q.exponent_ <= 0) {
      q.format_ = QuantityFormat::kDecimalSI;
    }
  }
  q.negative_ = !q.digits_.empty() && !sc.positive;
  return q;
}

StatusOr<std::string> CanonicalQuantity(std::string_view text) {
  StatusOr<Quantity> q = ParseQuantity(text);
  if (!q.ok()) return q.status();
  return q->String();
}

std::string Quantity::String() const {
  if (!text_.empty()) return text_;
  if (digits_.empty()) return "0";
  std::string out = negative_ ? "-" : "";
  QuantityFormat format = format_;
  if (format == QuantityFormat::kBinarySI) {
    // |q| < 1024 or a fraction: DecimalSI, so nothing is rounded.
    const Quantity abs = negative_ ? Neg() : *this;
    if (exponent_ < 0 || abs.Cmp(FromInt(1024)) < 0) format = QuantityFormat::kDecimalSI;
  }
  if (format == QuantityFormat::kBinarySI) {
    std::string n = digits_ + std::string(static_cast<size_t>(exponent_), '0');
    int power = 0;
    while (true) {
      uint32_t rem = 0;
      std::string next = DivSmall(n, 1024, &rem);
      if (rem != 0) break;
      n = std::move(next);
      ++power;
    }
    return out + n + std::string(BinarySuffix(power));
  }
  // Lower the exponent to a multiple of 3 (floor), adding zeros to the mantissa.
  int64_t e = exponent_;
  int64_t r = ((e % 3) + 3) % 3;
  out += digits_;
  out.append(static_cast<size_t>(r), '0');
  e -= r;
  if (format == QuantityFormat::kDecimalSI) {
    out += DecimalSuffix(e);
  } else if (e != 0) {
    out += 'e';
    out += std::to_string(e);
  }
  return out;
}

int Quantity::Cmp(const Quantity& o) const {
  if (Sign() != o.Sign()) return Sign() < o.Sign() ? -1 : 1;
  if (digits_.empty()) return 0;
  // Same sign, both non-zero: compare magnitudes by the position of the leading digit first.
  int mag;
  int64_t top = static_cast<int64_t>(digits_.size()) + exponent_;
  int64_t otop = static_cast<int64_t>(o.digits_.size()) + o.exponent_;
  if (top != otop) {
    mag = top < otop ? -1 : 1;
  } else {
    size_t n = std::min(digits_.size(), o.digits_.size());
    int c = digits_.compare(0, n, o.digits_, 0, n);
    if (c != 0) {
      mag = c < 0 ? -1 : 1;
    } else {
      // No trailing zeros: the longer mantissa has more non-zero digits.
      mag = digits_.size() == o.digits_.size() ? 0 : (digits_.size() < o.digits_.size() ? -1 : 1);
    }
  }
  return negative_ ? -mag : mag;
}

std::optional<int64_t> Quantity::ScaledValue(int32_t scale) const {
  if (digits_.empty()) return 0;
  int64_t shift = exponent_ - scale;
  std::string mag;
  if (shift >= 0) {
    if (static_cast<int64_t>(digits_.size()) + shift > 19) return std::nullopt;
    mag = digits_ + std::string(static_cast<size_t>(shift), '0');
  } else {
    // Drop the fraction (never zero: no trailing zeros) and round away from zero.
    int64_t keep = static_cast<int64_t>(digits_.size()) + shift;
    mag = AddMag(keep > 0 ? std::string_view(digits_).substr(0, static_cast<size_t>(keep)) : "", "1");
  }
  // |result| <= 2^63-1, or 2^63 when negative.
  int c = CmpMag(mag, kMaxInt64);
  if (c > 0 && !(negative_ && CmpMag(mag, "9223372036854775808") == 0)) return std::nullopt;
  if (c > 0) return INT64_MIN;
  int64_t v = std::stoll(mag);
  return negative_ ? -v : v;
}

Quantity Quantity::Neg() const {
  Quantity q = *this;
  q.text_.clear();
  if (!q.digits_.empty()) q.negative_ = !q.negative_;
  return q;
}

Quantity Quantity::Add(const Quantity& o) const {
  Quantity q;
  q.format_ = digits_.empty() ? o.format_ : format_;
  if (digits_.empty() || o.digits_.empty()) {
    const Quantity& src = digits_.empty() ? o : *this;
    q.negative_ = src.negative_;
    q.digits_ = src.digits_;
    q.exponent_ = src.exponent_;
    return q;
  }
  int64_t e = std::min(exponent_, o.exponent_);
  std::string a = digits_ + std::string(static_cast<size_t>(exponent_ - e), '0');
  std::string b = o.digits_ + std::string(static_cast<size_t>(o.exponent_ - e), '0');
  q.exponent_ = e;
  if (negative_ == o.negative_) {
    q.digits_ = AddMag(a, b);
    q.negative_ = negative_;
  } else if (CmpMag(a, b) >= 0) {
    q.digits_ = SubMag(a, b);
    q.negative_ = negative_;
  } else {
    q.digits_ = SubMag(b, a);
    q.negative_ = o.negative_;
  }
  q.Normalize();
  return q;
}

Quantity Quantity::Sub(const Quantity& o) const {
  Quantity q = Add(o.Neg());
  if (digits_.empty()) q.format_ = o.format_;
  return q;
}

}  // namespace minik::api
