// resource.Quantity values for the scheduler, read with the API's exact parser (api/quantity.h):
// upstream's Quantity.Value() / MilliValue(), scaled and rounded up (away from zero), saturating
// at the int64 range.
// Pure functions: any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "common/json.h"

namespace minik::scheduler {

// Quantity.Value(): whole units (bytes, counts), rounded up. nullopt when malformed.
std::optional<int64_t> QuantityValue(std::string_view s);
// Quantity.MilliValue(): thousandths (millicores), rounded up. nullopt when malformed.
std::optional<int64_t> QuantityMilliValue(std::string_view s);
// The same for a JSON string or number (the API stores quantities as strings).
std::optional<int64_t> QuantityValue(const JsonValue& v);
std::optional<int64_t> QuantityMilliValue(const JsonValue& v);

}  // namespace minik::scheduler
