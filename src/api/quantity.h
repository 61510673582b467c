// resource.Quantity (k8s.io/apimachinery/pkg/api/resource, v0.32): parsing with upstream's rules
// and error texts, and the canonical string upstream serializes (and so stores and returns).
//
//   "0.5" -> "500m", "1024Mi" -> "1Gi", "2000" -> "2k", "1.5Gi" -> "1536Mi", "1e3" -> "1e3",
//   "100M" -> "100M", "0.9n" -> "1n" (values finer than nano round away from zero),
//   "9Ei" -> "9223372036854775807" (binary values are capped at 2^63-1).
//
// Upstream quirks kept on purpose (they decide what is stored):
//   - ParseQuantity keeps the input text as the serialized form when its int64 fast path finds it
//     already canonical-looking, even with a sign or leading zeros: "+1" -> "+1", "007" -> "007",
//     "1.500k" -> "1.500k";
//   - "+", "-" and "." parse as zero;
//   - a DecimalSI value whose canonical exponent has no suffix (above 10^18) loses its suffix:
//     "1000E" -> "1" (upstream v1.32 CanonicalizeBytes ignores constructBytes' !ok);
//     the Quantity keeps the real value for arithmetic and comparison.
//
// The value is exact (decimal digits and a power of ten), so comparisons never overflow; the int64
// accessors report overflow instead of wrapping. Values are immutable; any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace minik::api {

enum class QuantityFormat { kDecimalSI, kBinarySI, kDecimalExponent };

class Quantity {
 public:
  Quantity() = default;  // zero, DecimalSI

  // value * 10^scale (scale -3 for milli units), DecimalSI unless told otherwise.
  static Quantity FromScaled(int64_t value, int32_t scale, QuantityFormat format = QuantityFormat::kDecimalSI);
  static Quantity FromInt(int64_t value, QuantityFormat format = QuantityFormat::kDecimalSI) {
    return FromScaled(value, 0, format);
  }
  static Quantity FromMilli(int64_t milli, QuantityFormat format = QuantityFormat::kDecimalSI) {
    return FromScaled(milli, -3, format);
  }

  bool IsZero() const { return digits_.empty(); }
  int Sign() const { return digits_.empty() ? 0 : (negative_ ? -1 : 1); }
  QuantityFormat format() const { return format_; }

  // The serialized form (Quantity.String / MarshalJSON).
  std::string String() const;

  // -1, 0, 1 as *this <, ==, > other (exact).
  int Cmp(const Quantity& other) const;
  bool operator==(const Quantity& other) const { return Cmp(other) == 0; }

  // ceil(|q| / 10^scale) with q's sign (rounded away from zero, as int64Amount.AsScaledInt64);
  // nullopt when the result does not fit an int64.
  std::optional<int64_t> ScaledValue(int32_t scale) const;
  std::optional<int64_t> Value() const { return ScaledValue(0); }
  std::optional<int64_t> MilliValue() const { return ScaledValue(-3); }

  // Exact sum and difference. The result's format is this one's, or other's when this is zero
  // (Quantity.Add/Sub); the result serializes canonically.
  Quantity Add(const Quantity& other) const;
  Quantity Sub(const Quantity& other) const;
  Quantity Neg() const;

 private:
  friend StatusOr<Quantity> ParseQuantity(std::string_view text);

  // value = (negative_ ? -1 : 1) * digits_ * 10^exponent_; digits_ has no leading or trailing
  // zeros (trailing zeros are moved into exponent_), and is empty for zero.
  bool negative_ = false;
  std::string digits_;
  int64_t exponent_ = 0;
  QuantityFormat format_ = QuantityFormat::kDecimalSI;
  std::string text_;  // the kept input text (see above), else empty

  void Normalize();
};

// resource.ParseQuantity: BadRequest with upstream's error text on failure
// (`quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'`,
// `unable to parse numeric part of quantity`, `unable to parse quantity's suffix`).
// No whitespace trimming (UnmarshalJSON trims before calling it).
StatusOr<Quantity> ParseQuantity(std::string_view text);

// ParseQuantity(text)->String().
StatusOr<std::string> CanonicalQuantity(std::string_view text);

}  // namespace minik::api
