// Cron parsing (robfig/cron v3 ParseStandard) and next-time computation in time zones.
#include <catch2/catch.hpp>

#include "server/controllers/cron_schedule.h"

namespace minik::controllers::cron {
namespace {

StatusOr<TimeZonePtr> Load(std::string_view name) { return TimeZone::Load(name); }

TimePoint At(const std::string& rfc3339) {
  TimePoint t;
  REQUIRE(ParseRFC3339(rfc3339, &t));
  return t;
}

std::string NextOf(const std::string& spec, const std::string& from) {
  auto s = Schedule::ParseStandard(spec, Load);
  REQUIRE(s.ok());
  auto n = s->Next(At(from));
  if (!n) return "zero";
  return FormatRFC3339(*n);
}

std::string ErrorOf(const std::string& spec) {
  auto s = Schedule::ParseStandard(spec, Load);
  if (s.ok()) return "ok";
  return s.error().message();
}

TEST_CASE("cron: next times of standard specs, macros, steps, names and lists") {
  struct Case {
    const char* spec;
    const char* from;
    const char* want;
  };
  const Case cases[] = {
      {"* * * * *", "2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z"},
      {"* * * * *", "2026-01-01T00:00:59Z", "2026-01-01T00:01:00Z"},
      {"*/15 * * * *", "2026-01-01T00:07:00Z", "2026-01-01T00:15:00Z"},
      {"5/15 * * * *", "2026-01-01T00:51:00Z", "2026-01-01T01:05:00Z"},
      {"0 9-17/4 * * *", "2026-01-01T10:00:00Z", "2026-01-01T13:00:00Z"},
      {"30 2 * * *", "2026-01-01T02:30:00Z", "2026-01-02T02:30:00Z"},
      {"0 0 1,15 * *", "2026-01-02T00:00:00Z", "2026-01-15T00:00:00Z"},
      {"0 0 * JAN-MAR/2 *", "2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"},
      {"0 12 * * MON-FRI", "2026-01-02T12:00:00Z", "2026-01-05T12:00:00Z"},  // Fri -> Mon
      {"0 12 * * sat,sun", "2026-01-01T00:00:00Z", "2026-01-03T12:00:00Z"},
      {"0 0 ? * 0", "2026-01-01T00:00:00Z", "2026-01-04T00:00:00Z"},
      // Day-of-month OR day-of-week when neither is '*': the 13th or any Friday.
      {"0 0 13 * 5", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"},
      {"0 0 13 * 5", "2026-01-10T00:00:00Z", "2026-01-13T00:00:00Z"},
      // ... but AND when one of them is '*' ('*/2' is not a star).
      {"0 0 */2 * 5", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"},
      {"0 0 * * 5", "2026-01-03T00:00:00Z", "2026-01-09T00:00:00Z"},
      {"0 0 29 2 *", "2026-01-01T00:00:00Z", "2028-02-29T00:00:00Z"},
      {"59 23 31 2 *", "2026-01-01T00:00:00Z", "zero"},
      {"@yearly", "2026-05-01T00:00:00Z", "2027-01-01T00:00:00Z"},
      {"@annually", "2026-05-01T00:00:00Z", "2027-01-01T00:00:00Z"},
      {"@monthly", "2026-05-01T00:00:00Z", "2026-06-01T00:00:00Z"},
      {"@weekly", "2026-01-01T00:00:00Z", "2026-01-04T00:00:00Z"},
      {"@daily", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"},
      {"@midnight", "2026-01-01T10:00:00Z", "2026-01-02T00:00:00Z"},
      {"@hourly", "2026-01-01T10:30:00Z", "2026-01-01T11:00:00Z"},
      {"@every 90s", "2026-01-01T10:30:00Z", "2026-01-01T10:31:30Z"},
      {"@every 1h30m", "2026-01-01T10:30:00Z", "2026-01-01T12:00:00Z"},
      {"TZ=UTC 0 0 * * *", "2026-01-01T10:30:00Z", "2026-01-02T00:00:00Z"},
  };
  for (const auto& c : cases) {
    INFO(c.spec << " after " << c.from);
    CHECK(NextOf(c.spec, c.from) == c.want);
  }
}

TEST_CASE("cron: invalid specs give robfig's errors") {
  CHECK(ErrorOf("") == "empty spec string");
  CHECK(ErrorOf("* * * *") == "expected exactly 5 fields, found 4: [* * * *]");
  CHECK(ErrorOf("0 * * * * *") == "expected exactly 5 fields, found 6: [0 * * * * *]");
  CHECK(ErrorOf("60 * * * *") == "end of range (60) above maximum (59): 60");
  CHECK(ErrorOf("* 24 * * *") == "end of range (24) above maximum (23): 24");
  CHECK(ErrorOf("* * 0 * *") == "beginning of range (0) below minimum (1): 0");
  CHECK(ErrorOf("* * * 13 *") == "end of range (13) above maximum (12): 13");
  CHECK(ErrorOf("* * * * 7") == "end of range (7) above maximum (6): 7");
  CHECK(ErrorOf("5-1 * * * *") == "beginning of range (5) beyond end of range (1): 5-1");
  CHECK(ErrorOf("*/0 * * * *") == "step of range should be a positive number: */0");
  CHECK(ErrorOf("1-2-3 * * * *") == "too many hyphens: 1-2-3");
  CHECK(ErrorOf("*/2/3 * * * *") == "too many slashes: */2/3");
  CHECK(ErrorOf("x * * * *") == "failed to parse int from x: strconv.Atoi: parsing \"x\": invalid syntax");
  CHECK(ErrorOf("* * * FOO *") == "failed to parse int from FOO: strconv.Atoi: parsing \"FOO\": invalid syntax");
  CHECK(ErrorOf("@foo") == "unrecognized descriptor: @foo");
  CHECK(ErrorOf("@every x") == "failed to parse duration @every x: time: invalid duration \"x\"");
  CHECK(ErrorOf("@every 5") == "failed to parse duration @every 5: time: missing unit in duration \"5\"");
  CHECK(ErrorOf("TZ=Foo/Bar * * * * *") == "provided bad location Foo/Bar: unknown time zone Foo/Bar");
  CHECK(ErrorOf("CRON_TZ=../etc/passwd * * * * *") ==
        "provided bad location ../etc/passwd: unknown time zone ../etc/passwd");
}

TEST_CASE("cron: time zones from the system's TZif files, across DST") {
  auto berlin = TimeZone::Load("Europe/Berlin");
  REQUIRE(berlin.ok());
  CHECK(TimeZone::Load("Mars/Olympus").error().message() == "unknown time zone Mars/Olympus");
  CHECK(FormatRFC3339In(At("2026-01-15T08:00:00Z"), **berlin) == "2026-01-15T09:00:00+01:00");
  CHECK(FormatRFC3339In(At("2026-07-15T08:00:00Z"), **berlin) == "2026-07-15T10:00:00+02:00");

  // 09:00 Berlin every day: 08:00Z in winter, 07:00Z in summer (DST starts 2026-03-29).
  auto s = Schedule::ParseStandard("0 9 * * *", Load, *berlin);
  REQUIRE(s.ok());
  CHECK(FormatRFC3339(*s->Next(At("2026-03-28T08:00:00Z"))) == "2026-03-29T07:00:00Z");
  CHECK(FormatRFC3339(*s->Next(At("2026-03-27T09:00:00Z"))) == "2026-03-28T08:00:00Z");
  // 02:30 does not exist on 2026-03-29 in Berlin: robfig's hour-by-hour search steps from
  // 01:00 CET to 03:00 CEST and skips that day, as upstream's CronJobs do.
  auto gap = Schedule::ParseStandard("TZ=Europe/Berlin 30 2 * * *", Load);
  REQUIRE(gap.ok());
  CHECK(FormatRFC3339(*gap->Next(At("2026-03-28T02:00:00Z"))) == "2026-03-30T00:30:00Z");
  CHECK(FormatRFC3339(*gap->Next(At("2026-03-29T01:30:00Z"))) == "2026-03-30T00:30:00Z");
  // Hourly across the autumn change (2026-10-25 03:00 CEST -> 02:00 CET): every UTC hour occurs.
  auto hourly = Schedule::ParseStandard("CRON_TZ=Europe/Berlin 0 * * * *", Load);
  REQUIRE(hourly.ok());
  CHECK(FormatRFC3339(*hourly->Next(At("2026-10-25T00:00:00Z"))) == "2026-10-25T01:00:00Z");
  CHECK(FormatRFC3339(*hourly->Next(At("2026-10-25T01:00:00Z"))) == "2026-10-25T02:00:00Z");

  // The POSIX footer rule alone gives the same answers (zones past their last transition).
  auto rule = TimeZone::FromPosix("CET", "CET-1CEST,M3.5.0,M10.5.0/3");
  REQUIRE(rule.ok());
  CHECK(FormatRFC3339In(At("2040-07-01T00:00:00Z"), **rule) == "2040-07-01T02:00:00+02:00");
  CHECK(FormatRFC3339In(At("2040-12-01T00:00:00Z"), **rule) == "2040-12-01T01:00:00+01:00");
  auto ny = TimeZone::Load("America/New_York");
  REQUIRE(ny.ok());
  CHECK(FormatRFC3339In(At("2045-07-01T12:00:00Z"), **ny) == "2045-07-01T08:00:00-04:00");
  CHECK(FormatRFC1123Z(At("2026-01-01T09:05:00Z")) == "Thu, 01 Jan 2026 09:05:00 +0000");
}

TEST_CASE("cron: Go durations") {
  CHECK(*ParseGoDuration("1h2m3.5s") == 3723500000000LL);
  CHECK(*ParseGoDuration("-1.5h") == -5400000000000LL);
  CHECK(*ParseGoDuration("0") == 0);
  CHECK(ParseGoDuration("1x").error().message() == "time: unknown unit \"x\" in duration \"1x\"");
  CHECK(ParseGoDuration("").error().message() == "time: invalid duration \"\"");
}

}  // namespace
}  // namespace minik::controllers::cron
