#include <catch2/catch.hpp>

#include "common/clock.h"

using namespace minik;

TEST_CASE("RFC 3339 formatting and parsing round-trip") {
  TimePoint t;
  REQUIRE(ParseRFC3339("2026-11-22T08:30:01Z", &t));
  CHECK(FormatRFC3339(t) == "2026-11-22T08:30:01Z");
  REQUIRE(ParseRFC3339("2026-11-22T08:30:01.123456Z", &t));
  CHECK(FormatRFC3339Micro(t) == "2026-11-22T08:30:01.123456Z");
  REQUIRE(ParseRFC3339("2026-11-22T10:30:01+02:00", &t));
  CHECK(FormatRFC3339(t) == "2026-11-22T08:30:01Z");
  CHECK_FALSE(ParseRFC3339("2026-11-22 08:30:01", &t));
  CHECK_FALSE(ParseRFC3339("garbage", &t));
}

TEST_CASE("FakeClock advances only when told") {
  FakeClock c;
  auto t0 = c.Now();
  c.Advance(std::chrono::seconds(3));
  CHECK(c.Now() - t0 == std::chrono::seconds(3));
  CHECK(c.MonotonicMillis() == 3000);
}

TEST_CASE("Go duration strings, millisecond precision") {
  CHECK(FormatGoDurationMs(0) == "0s");
  CHECK(FormatGoDurationMs(7) == "7ms");
  CHECK(FormatGoDurationMs(999) == "999ms");
  CHECK(FormatGoDurationMs(1000) == "1s");
  CHECK(FormatGoDurationMs(1500) == "1.5s");
  CHECK(FormatGoDurationMs(1234) == "1.234s");
  CHECK(FormatGoDurationMs(61010) == "1m1.01s");
  CHECK(FormatGoDurationMs(3600000) == "1h0m0s");
  CHECK(FormatGoDurationMs(-2500) == "-2.5s");
}
