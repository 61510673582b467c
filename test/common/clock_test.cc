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

TEST_CASE("RFC 3339 parsing: nanoseconds, offsets, and what is malformed") {
  int64_t ns = 0;
  REQUIRE(ParseRFC3339Nano("2016-10-06T00:17:09.669794202Z", &ns));
  CHECK(ns == 1475713029669794202);
  REQUIRE(ParseRFC3339Nano("2016-10-06T00:17:09.5Z", &ns));  // short fraction: tenths
  CHECK(ns == 1475713029500000000);
  REQUIRE(ParseRFC3339Nano("2016-10-06T00:17:09.1234567891234z", &ns));  // digits beyond ns ignored
  CHECK(ns == 1475713029123456789);
  REQUIRE(ParseRFC3339Nano("2016-10-05t19:17:09-05:00", &ns));
  CHECK(ns == 1475713029000000000);
  REQUIRE(ParseRFC3339Nano("1969-12-31T23:59:59.25Z", &ns));  // before the epoch
  CHECK(ns == -750000000);
  for (const char* bad : {"2016-10-06T00:17:09.Z", "2016-13-06T00:17:09Z", "2016-10-06T24:17:09Z",
                          "2016-10-06T00:17:09+0200", "2016-10-06T00:17:09Zx", " 2016-10-06T00:17:09Z",
                          "+016-10-06T00:17:09Z", "2016-10-06T00:17:09"}) {
    INFO(bad);
    CHECK_FALSE(ParseRFC3339Nano(bad, &ns));
  }
  // The TimePoint form keeps microseconds, also before the epoch.
  TimePoint t;
  REQUIRE(ParseRFC3339("2016-10-06T00:17:09.669794202Z", &t));
  CHECK(FormatRFC3339Micro(t) == "2016-10-06T00:17:09.669794Z");
  REQUIRE(ParseRFC3339("1969-12-31T23:59:59.250000999Z", &t));
  CHECK(std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count() == -750000);
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
