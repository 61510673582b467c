#include <catch2/catch.hpp>

#include "server/scheduler/quantity.h"

using namespace minik::scheduler;

TEST_CASE("quantities parse as resource.Quantity", "[quantity]") {
  CHECK(QuantityMilliValue("100m") == 100);
  CHECK(QuantityMilliValue("1") == 1000);
  CHECK(QuantityMilliValue("0.5") == 500);
  CHECK(QuantityMilliValue(".5") == 500);
  CHECK(QuantityMilliValue("1.5") == 1500);
  CHECK(QuantityMilliValue("2e3") == 2000000);
  CHECK(QuantityMilliValue("1E-3") == 1);
  CHECK(QuantityMilliValue("1u") == 1);       // rounds up
  CHECK(QuantityMilliValue("1500u") == 2);    // 1.5m rounds up
  CHECK(QuantityValue("1Ki") == 1024);
  CHECK(QuantityValue("1Mi") == 1048576);
  CHECK(QuantityValue("1.5Gi") == 1610612736);
  CHECK(QuantityValue("1k") == 1000);
  CHECK(QuantityValue("1M") == 1000000);
  CHECK(QuantityValue("2G") == 2000000000);
  CHECK(QuantityValue("1T") == 1000000000000);
  CHECK(QuantityValue("1E") == 1000000000000000000);  // exa, not an exponent
  CHECK(QuantityValue("1e3") == 1000);
  CHECK(QuantityValue("129e6") == 129000000);
  CHECK(QuantityValue("100m") == 1);  // Value() rounds up
  CHECK(QuantityValue("+5") == 5);
  CHECK(QuantityValue("-5") == -5);
  CHECK(QuantityValue("0") == 0);
  CHECK(QuantityValue("12345678901234567890Ei") == std::numeric_limits<int64_t>::max());
}

TEST_CASE("malformed quantities are rejected", "[quantity]") {
  CHECK_FALSE(QuantityValue(""));
  CHECK_FALSE(QuantityValue("abc"));
  CHECK_FALSE(QuantityValue("1Xi"));
  CHECK_FALSE(QuantityValue("1KB"));
  CHECK_FALSE(QuantityValue("1e"));
  // Upstream's parser reads a bare "." as zero.
  CHECK(QuantityValue(".") == 0);
  CHECK_FALSE(QuantityValue("1 "));
}

TEST_CASE("quantities from JSON numbers", "[quantity]") {
  minik::JsonValue i(static_cast<int64_t>(3));
  minik::JsonValue d(0.25);
  CHECK(QuantityMilliValue(i) == 3000);
  CHECK(QuantityMilliValue(d) == 250);
}
