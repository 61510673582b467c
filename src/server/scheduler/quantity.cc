// The scheduler's view of resource.Quantity, over the API's exact parser (api/quantity.h).
#include "server/scheduler/quantity.h"

#include <limits>

#include "api/quantity.h"

namespace minik::scheduler {
namespace {

// Scaled and rounded up; saturates at the int64 range like upstream's Value()/MilliValue().
std::optional<int64_t> Scaled(std::string_view s, int32_t scale) {
  auto q = api::ParseQuantity(s);
  if (!q.ok()) return std::nullopt;
  auto v = q->ScaledValue(scale);
  if (v) return v;
  return q->Sign() < 0 ? std::numeric_limits<int64_t>::min() : std::numeric_limits<int64_t>::max();
}

std::optional<int64_t> FromJson(const JsonValue& v, int32_t scale) {
  if (v.IsString()) return Scaled(std::string_view(v.GetString(), v.GetStringLength()), scale);
  if (v.IsInt64()) return Scaled(std::to_string(v.GetInt64()), scale);
  if (v.IsNumber()) return Scaled(std::to_string(v.GetDouble()), scale);
  return std::nullopt;
}

}  // namespace

std::optional<int64_t> QuantityValue(std::string_view s) { return Scaled(s, 0); }
std::optional<int64_t> QuantityMilliValue(std::string_view s) { return Scaled(s, -3); }
std::optional<int64_t> QuantityValue(const JsonValue& v) { return FromJson(v, 0); }
std::optional<int64_t> QuantityMilliValue(const JsonValue& v) { return FromJson(v, -3); }

}  // namespace minik::scheduler
