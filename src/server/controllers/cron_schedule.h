// Cron schedules as the CronJob controller reads them: robfig/cron v3's ParseStandard (5 fields
// with ranges, steps, lists, month and weekday names, '?', the @yearly/@annually/@monthly/
// @weekly/@daily/@midnight/@hourly descriptors, "@every <Go duration>", and a "TZ=" or
// "CRON_TZ=" prefix), with its error messages, and its Next() algorithm (day-of-month and
// day-of-week OR-ed unless one of them is '*', the search giving up after five years), computed
// in a time zone read from the system's TZif files (/usr/share/zoneinfo) as Go's
// time.LoadLocation does, including the POSIX TZ rule of a file's footer.
//
// Threading: TimeZone and Schedule are immutable values, usable from any thread. Loading a zone
// reads a file (small, once per zone; callers cache the result).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/status.h"

namespace minik::controllers::cron {

inline constexpr char kDefaultZoneInfoDir[] = "/usr/share/zoneinfo";

class TimeZone {
 public:
  // The UTC zone.
  static std::shared_ptr<const TimeZone> Utc();
  // As Go's time.LoadLocation: "" and "UTC" are UTC; other names are read from
  // <zoneinfo_dir>/<name>. Errors: Invalid("unknown time zone <name>") (Go's message), also for
  // names that are not valid (absolute, "..", backslashes).
  static StatusOr<std::shared_ptr<const TimeZone>> Load(std::string_view name,
                                                        const std::string& zoneinfo_dir = kDefaultZoneInfoDir);
  // Parses TZif data (versions 1 to 4).
  static StatusOr<std::shared_ptr<const TimeZone>> FromTzif(std::string name, std::string_view data);
  // A zone from a POSIX TZ rule alone ("CET-1CEST,M3.5.0,M10.5.0/3").
  static StatusOr<std::shared_ptr<const TimeZone>> FromPosix(std::string name, std::string_view rule);

  // The offset (seconds east of UTC) in effect at unix second `sec`, and the range [start, end)
  // of unix seconds where it holds (as Go's Location.lookup).
  struct Period {
    int32_t offset = 0;
    int64_t start = 0;
    int64_t end = 0;
  };
  Period Lookup(int64_t sec) const;
  const std::string& name() const { return name_; }

  struct Type {
    int32_t offset = 0;
    bool dst = false;
  };
  struct Transition {
    int64_t when = 0;
    uint8_t type = 0;
  };
  struct Rule {
    enum Kind { kJulian, kDayOfYear, kMonthWeekDay } kind = kMonthWeekDay;
    int day = 0, week = 0, mon = 0;
    int32_t time = 7200;  // seconds after local midnight
  };
  struct Extend {  // the footer's POSIX TZ rule, parsed
    bool valid = false;
    int32_t std_offset = 0;  // seconds east of UTC
    bool has_dst = false;
    int32_t dst_offset = 0;
    Rule start, end;
  };

 private:
  TimeZone() = default;
  std::string name_;
  std::vector<Type> types_;
  std::vector<Transition> tx_;
  Extend extend_;
  friend class TimeZoneBuilder;
};
using TimeZonePtr = std::shared_ptr<const TimeZone>;

// Civil time in a zone.
struct CivilTime {
  int64_t year = 1970;
  int month = 1;  // 1..12
  int day = 1;    // 1..31
  int hour = 0, minute = 0, second = 0;
  int weekday = 4;  // 0 = Sunday
};
CivilTime ToCivil(int64_t unix_sec, const TimeZone& zone);
// Go's time.Date(year, month, day, hour, min, sec, 0, zone) with its normalization of
// out-of-range fields and its choice of offset in gaps and overlaps; returns unix seconds.
int64_t FromCivil(int64_t year, int64_t month, int64_t day, int64_t hour, int64_t minute, int64_t second,
                  const TimeZone& zone);
// "2026-01-01T09:00:00+01:00" (Go's time.RFC3339 of t in zone; "Z" for offset 0).
std::string FormatRFC3339In(TimePoint t, const TimeZone& zone);
// "Thu, 01 Jan 2026 09:00:00 +0000" (Go's time.RFC1123Z of t in UTC).
std::string FormatRFC1123Z(TimePoint t);

// Go's time.ParseDuration (nanoseconds), with Go's error messages.
StatusOr<int64_t> ParseGoDuration(std::string_view s);

// Resolves a zone name to a zone (Go's time.LoadLocation semantics); callers may cache.
using ZoneLoader = std::function<StatusOr<TimeZonePtr>(std::string_view name)>;

class Schedule {
 public:
  // robfig/cron v3 ParseStandard. Errors are Invalid with robfig's messages, e.g.
  // "expected exactly 5 fields, found 4: [* * * *]", "end of range (60) above maximum (59): 60",
  // "unrecognized descriptor: @foo", "failed to parse int from x: strconv.Atoi: parsing \"x\":
  // invalid syntax", "provided bad location Foo/Bar: unknown time zone Foo/Bar".
  // default_zone: the zone of a schedule without a TZ= prefix (UTC when null).
  static StatusOr<Schedule> ParseStandard(std::string_view spec, const ZoneLoader& load_zone,
                                          TimeZonePtr default_zone = nullptr);

  // The first activation strictly after t (robfig's Next); nullopt where Go's would return the
  // zero time (no match within five years).
  std::optional<TimePoint> Next(TimePoint t) const;
  const TimeZone& zone() const { return *zone_; }

 private:
  uint64_t second_ = 0, minute_ = 0, hour_ = 0, dom_ = 0, month_ = 0, dow_ = 0;
  int64_t every_ns_ = 0;  // > 0 for "@every"
  TimeZonePtr zone_;
  bool DayMatches(const CivilTime& c) const;
};

}  // namespace minik::controllers::cron
