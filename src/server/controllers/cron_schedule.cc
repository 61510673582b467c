#include "server/controllers/cron_schedule.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <limits>
#include <sstream>

namespace minik::controllers::cron {

namespace {

constexpr int64_t kAlpha = std::numeric_limits<int64_t>::min();
constexpr int64_t kOmega = std::numeric_limits<int64_t>::max();
constexpr int64_t kDay = 86400;

// Howard Hinnant's civil-date algorithms (proleptic Gregorian).
int64_t DaysFromCivil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

void CivilFromDays(int64_t z, int64_t* y, int* m, int* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  *d = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  *m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  *y = yoe + era * 400 + (*m <= 2);
}

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

bool IsLeap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }
int DaysIn(int m, int64_t y) {
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

// ---- POSIX TZ strings (Go's tzset) -------------------------------------------------------------

struct PosixParser {
  std::string_view s;
  size_t i = 0;
  bool Name() {
    if (i < s.size() && s[i] == '<') {
      size_t e = s.find('>', i);
      if (e == std::string_view::npos) return false;
      i = e + 1;
      return true;
    }
    size_t st = i;
    while (i < s.size() && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z'))) ++i;
    return i - st >= 3;
  }
  bool Num(int* out) {
    size_t st = i;
    int v = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') v = v * 10 + (s[i++] - '0');
    *out = v;
    return i > st;
  }
  // [+-]hh[:mm[:ss]] in seconds.
  bool Offset(int32_t* out) {
    int sign = 1;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) sign = s[i++] == '-' ? -1 : 1;
    int h = 0, m = 0, sec = 0;
    if (!Num(&h)) return false;
    if (i < s.size() && s[i] == ':') {
      ++i;
      if (!Num(&m)) return false;
      if (i < s.size() && s[i] == ':') {
        ++i;
        if (!Num(&sec)) return false;
      }
    }
    *out = sign * (h * 3600 + m * 60 + sec);
    return true;
  }
  bool RuleSpec(TimeZone::Rule* r) {
    if (i >= s.size()) return false;
    if (s[i] == 'J') {
      ++i;
      r->kind = TimeZone::Rule::kJulian;
      if (!Num(&r->day)) return false;
    } else if (s[i] == 'M') {
      ++i;
      r->kind = TimeZone::Rule::kMonthWeekDay;
      if (!Num(&r->mon) || i >= s.size() || s[i++] != '.' || !Num(&r->week) || i >= s.size() || s[i++] != '.' ||
          !Num(&r->day)) {
        return false;
      }
      if (r->mon < 1 || r->mon > 12 || r->week < 1 || r->week > 5 || r->day < 0 || r->day > 6) return false;
    } else {
      r->kind = TimeZone::Rule::kDayOfYear;
      if (!Num(&r->day)) return false;
    }
    r->time = 7200;
    if (i < s.size() && s[i] == '/') {
      ++i;
      int32_t t = 0;
      if (!Offset(&t)) return false;
      r->time = t;
    }
    return true;
  }
};

bool ParsePosix(std::string_view s, TimeZone::Extend* out) {
  PosixParser p{s};
  TimeZone::Extend e;
  if (!p.Name()) return false;
  int32_t off = 0;
  if (!p.Offset(&off)) return false;
  e.std_offset = -off;
  if (p.i == s.size()) {
    e.valid = true;
    *out = e;
    return true;
  }
  if (!p.Name()) return false;
  e.has_dst = true;
  e.dst_offset = e.std_offset + 3600;
  if (p.i < s.size() && s[p.i] != ',') {
    if (!p.Offset(&off)) return false;
    e.dst_offset = -off;
  }
  if (p.i == s.size()) {
    // Go's default rule: "M3.2.0,M11.1.0".
    e.start = TimeZone::Rule{TimeZone::Rule::kMonthWeekDay, 0, 2, 3, 7200};
    e.end = TimeZone::Rule{TimeZone::Rule::kMonthWeekDay, 0, 1, 11, 7200};
  } else {
    if (s[p.i++] != ',' || !p.RuleSpec(&e.start)) return false;
    if (p.i >= s.size() || s[p.i++] != ',' || !p.RuleSpec(&e.end)) return false;
    if (p.i != s.size()) return false;
  }
  e.valid = true;
  *out = e;
  return true;
}

// Seconds after the start of `year` (UTC) when rule r fires, with `off` the offset in effect before.
int64_t RuleTime(int64_t year, const TimeZone::Rule& r, int32_t off) {
  int64_t d = 0;
  switch (r.kind) {
    case TimeZone::Rule::kJulian:
      d = r.day - 1;
      if (IsLeap(year) && d >= 59) ++d;
      break;
    case TimeZone::Rule::kDayOfYear:
      d = r.day;
      break;
    case TimeZone::Rule::kMonthWeekDay: {
      int64_t first = DaysFromCivil(year, r.mon, 1);
      int dow = static_cast<int>(((first % 7) + 7 + 4) % 7);  // 1970-01-01 was a Thursday
      int64_t dd = r.day - dow;
      if (dd < 0) dd += 7;
      for (int w = 1; w < r.week; ++w) {
        if (dd + 7 >= DaysIn(r.mon, year)) break;
        dd += 7;
      }
      d = first - DaysFromCivil(year, 1, 1) + dd;
      break;
    }
  }
  return d * kDay + r.time - off;
}

TimeZone::Period ExtendLookup(const TimeZone::Extend& e, int64_t last_tx, int64_t sec) {
  if (!e.has_dst) return {e.std_offset, last_tx, kOmega};
  int64_t y;
  int m, d;
  int64_t days = FloorDiv(sec, kDay);
  CivilFromDays(days, &y, &m, &d);
  int64_t ystart = DaysFromCivil(y, 1, 1) * kDay;
  int64_t ysec = sec - ystart;
  int64_t start = RuleTime(y, e.start, e.std_offset);
  int64_t end = RuleTime(y, e.end, e.dst_offset);
  int32_t std_off = e.std_offset, dst_off = e.dst_offset;
  if (end < start) {
    std::swap(start, end);
    std::swap(std_off, dst_off);
  }
  if (ysec < start) return {std_off, ystart, start + ystart};
  if (ysec >= end) return {std_off, end + ystart, ystart + 365 * kDay};
  return {dst_off, start + ystart, end + ystart};
}

}  // namespace

// ---- TimeZone ------------------------------------------------------------------------------------

class TimeZoneBuilder {
 public:
  static std::shared_ptr<TimeZone> Make() { return std::shared_ptr<TimeZone>(new TimeZone()); }
  static TimeZone& Edit(TimeZone& z) { return z; }
  static std::vector<TimeZone::Type>& types(TimeZone& z) { return z.types_; }
  static std::vector<TimeZone::Transition>& tx(TimeZone& z) { return z.tx_; }
  static TimeZone::Extend& extend(TimeZone& z) { return z.extend_; }
  static std::string& name(TimeZone& z) { return z.name_; }
};

TimeZonePtr TimeZone::Utc() {
  auto z = TimeZoneBuilder::Make();
  z->name_ = "UTC";
  return z;
}

StatusOr<TimeZonePtr> TimeZone::FromPosix(std::string name, std::string_view rule) {
  auto z = TimeZoneBuilder::Make();
  z->name_ = std::move(name);
  if (!ParsePosix(rule, &z->extend_)) return Status::Invalid("invalid TZ rule " + std::string(rule));
  z->types_.push_back(Type{z->extend_.std_offset, false});
  return TimeZonePtr(z);
}

StatusOr<TimeZonePtr> TimeZone::FromTzif(std::string name, std::string_view data) {
  auto bad = [&]() { return Status::Invalid("malformed time zone information for " + name); };
  auto be32 = [](const unsigned char* p) {
    return static_cast<int32_t>((uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3]);
  };
  auto be64 = [&](const unsigned char* p) {
    return static_cast<int64_t>((uint64_t(static_cast<uint32_t>(be32(p))) << 32) |
                                static_cast<uint32_t>(be32(p + 4)));
  };
  const auto* b = reinterpret_cast<const unsigned char*>(data.data());
  size_t n = data.size();
  if (n < 44 || data.substr(0, 4) != "TZif") return bad();
  char version = data[4];
  struct Counts {
    int64_t isut, isstd, leap, time, type, chars;
  };
  auto counts = [&](size_t at) {
    return Counts{be32(b + at + 20), be32(b + at + 24), be32(b + at + 28),
                  be32(b + at + 32), be32(b + at + 36), be32(b + at + 40)};
  };
  Counts c = counts(0);
  size_t pos = 44;
  int tsize = 4;
  if (version >= '2') {
    size_t v1 = c.time * 4 + c.time + c.type * 6 + c.chars + c.leap * 8 + c.isstd + c.isut;
    pos += v1;
    if (pos + 44 > n || data.substr(pos, 4) != "TZif") return bad();
    c = counts(pos);
    pos += 44;
    tsize = 8;
  }
  size_t need = c.time * tsize + c.time + c.type * 6 + c.chars + c.leap * (tsize + 4) + c.isstd + c.isut;
  if (c.type < 1 || pos + need > n) return bad();
  auto z = TimeZoneBuilder::Make();
  z->name_ = std::move(name);
  const unsigned char* times = b + pos;
  const unsigned char* idx = times + c.time * tsize;
  const unsigned char* types = idx + c.time;
  for (int64_t i = 0; i < c.type; ++i) {
    const unsigned char* t = types + i * 6;
    z->types_.push_back(Type{be32(t), t[4] != 0});
  }
  for (int64_t i = 0; i < c.time; ++i) {
    int64_t when = tsize == 8 ? be64(times + i * 8) : be32(times + i * 4);
    if (idx[i] >= c.type) return bad();
    z->tx_.push_back(Transition{when, idx[i]});
  }
  pos += need;
  if (version >= '2' && pos < n && data[pos] == '\n') {
    size_t e = data.find('\n', pos + 1);
    if (e != std::string_view::npos && e > pos + 1) ParsePosix(data.substr(pos + 1, e - pos - 1), &z->extend_);
  }
  return TimeZonePtr(z);
}

StatusOr<TimeZonePtr> TimeZone::Load(std::string_view name, const std::string& zoneinfo_dir) {
  if (name.empty() || name == "UTC") return Utc();
  auto unknown = Status::Invalid("unknown time zone " + std::string(name));
  // Go's containsDotDot / absolute-path checks.
  if (name.front() == '/' || name.find('\\') != std::string_view::npos || name == "Local") return unknown;
  size_t start = 0;
  while (start <= name.size()) {
    size_t e = name.find('/', start);
    std::string_view part = name.substr(start, e == std::string_view::npos ? std::string_view::npos : e - start);
    if (part == "..") return unknown;
    if (e == std::string_view::npos) break;
    start = e + 1;
  }
  std::ifstream f(zoneinfo_dir + "/" + std::string(name), std::ios::binary);
  if (!f) return unknown;
  std::stringstream ss;
  ss << f.rdbuf();
  std::string data = ss.str();
  if (data.size() > (1 << 20)) return unknown;
  auto z = FromTzif(std::string(name), data);
  if (!z.ok()) return unknown;
  return z;
}

TimeZone::Period TimeZone::Lookup(int64_t sec) const {
  if (types_.empty()) return {0, kAlpha, kOmega};
  if (tx_.empty() || sec < tx_[0].when) {
    // Go's lookupFirstZone, simplified: the first non-DST type.
    int32_t off = types_[0].offset;
    if (!tx_.empty() && types_[tx_[0].type].dst) {
      for (const auto& t : types_) {
        if (!t.dst) {
          off = t.offset;
          break;
        }
      }
    }
    if (tx_.empty() && extend_.valid) return ExtendLookup(extend_, kAlpha, sec);
    return {off, kAlpha, tx_.empty() ? kOmega : tx_[0].when};
  }
  size_t lo = 0, hi = tx_.size();
  int64_t end = kOmega;
  while (hi - lo > 1) {
    size_t m = (lo + hi) / 2;
    if (sec < tx_[m].when) {
      end = tx_[m].when;
      hi = m;
    } else {
      lo = m;
    }
  }
  Period p{types_[tx_[lo].type].offset, tx_[lo].when, end};
  if (lo == tx_.size() - 1 && extend_.valid) return ExtendLookup(extend_, tx_[lo].when, sec);
  return p;
}

CivilTime ToCivil(int64_t unix_sec, const TimeZone& zone) {
  int64_t local = unix_sec + zone.Lookup(unix_sec).offset;
  int64_t days = FloorDiv(local, kDay);
  int64_t rem = local - days * kDay;
  CivilTime c;
  CivilFromDays(days, &c.year, &c.month, &c.day);
  c.hour = static_cast<int>(rem / 3600);
  c.minute = static_cast<int>(rem / 60 % 60);
  c.second = static_cast<int>(rem % 60);
  c.weekday = static_cast<int>(((days % 7) + 7 + 4) % 7);
  return c;
}

int64_t FromCivil(int64_t year, int64_t month, int64_t day, int64_t hour, int64_t minute, int64_t second,
                  const TimeZone& zone) {
  int64_t m0 = month - 1;
  year += FloorDiv(m0, 12);
  m0 -= FloorDiv(m0, 12) * 12;
  int64_t days = DaysFromCivil(year, m0 + 1, 1) + day - 1;
  int64_t unix = days * kDay + hour * 3600 + minute * 60 + second;
  TimeZone::Period p = zone.Lookup(unix);
  if (p.offset != 0) {
    int64_t utc = unix - p.offset;
    int32_t off = p.offset;
    if (utc < p.start || utc >= p.end) off = zone.Lookup(utc).offset;
    unix -= off;
  }
  return unix;
}

namespace {
int64_t UnixSeconds(TimePoint t) {
  return std::chrono::floor<std::chrono::seconds>(t.time_since_epoch()).count();
}
}  // namespace

std::string FormatRFC3339In(TimePoint t, const TimeZone& zone) {
  int64_t sec = UnixSeconds(t);
  CivilTime c = ToCivil(sec, zone);
  int32_t off = zone.Lookup(sec).offset;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04lld-%02d-%02dT%02d:%02d:%02d", static_cast<long long>(c.year), c.month, c.day,
                c.hour, c.minute, c.second);
  std::string out = buf;
  if (off == 0) return out + "Z";
  char sign = off < 0 ? '-' : '+';
  int32_t a = off < 0 ? -off : off;
  std::snprintf(buf, sizeof buf, "%c%02d:%02d", sign, a / 3600, a / 60 % 60);
  return out + buf;
}

std::string FormatRFC1123Z(TimePoint t) {
  static const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  CivilTime c = ToCivil(UnixSeconds(t), *TimeZone::Utc());
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04lld %02d:%02d:%02d +0000", kDays[c.weekday], c.day,
                kMonths[c.month - 1], static_cast<long long>(c.year), c.hour, c.minute, c.second);
  return buf;
}

// ---- Go durations --------------------------------------------------------------------------------

StatusOr<int64_t> ParseGoDuration(std::string_view orig) {
  auto quoted = [](std::string_view s) { return "\"" + std::string(s) + "\""; };
  auto invalid = [&]() { return Status::Invalid("time: invalid duration " + quoted(orig)); };
  std::string_view s = orig;
  bool neg = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return int64_t{0};
  if (s.empty()) return invalid();
  double total = 0;
  while (!s.empty()) {
    if (!(s[0] == '.' || (s[0] >= '0' && s[0] <= '9'))) return invalid();
    double v = 0;
    size_t i = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') v = v * 10 + (s[i++] - '0');
    bool pre = i > 0;
    bool post = false;
    if (i < s.size() && s[i] == '.') {
      ++i;
      double scale = 0.1;
      while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
        v += (s[i++] - '0') * scale;
        scale /= 10;
        post = true;
      }
    }
    if (!pre && !post) return invalid();
    s.remove_prefix(i);
    size_t u = 0;
    while (u < s.size() && s[u] != '.' && !(s[u] >= '0' && s[u] <= '9')) ++u;
    if (u == 0) return Status::Invalid("time: missing unit in duration " + quoted(orig));
    std::string_view unit = s.substr(0, u);
    s.remove_prefix(u);
    double mult = 0;
    if (unit == "ns") mult = 1;
    else if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs") mult = 1e3;
    else if (unit == "ms") mult = 1e6;
    else if (unit == "s") mult = 1e9;
    else if (unit == "m") mult = 60e9;
    else if (unit == "h") mult = 3600e9;
    else return Status::Invalid("time: unknown unit " + quoted(unit) + " in duration " + quoted(orig));
    total += v * mult;
    if (total > 9.223372036854775807e18) return invalid();
  }
  int64_t ns = static_cast<int64_t>(total);
  return neg ? -ns : ns;
}

// ---- cron parsing (robfig/cron v3) -------------------------------------------------------------

namespace {

constexpr uint64_t kStarBit = uint64_t{1} << 63;

struct Bounds {
  unsigned min, max;
  const std::vector<std::pair<std::string, unsigned>>* names;
};

const std::vector<std::pair<std::string, unsigned>> kMonthNames = {
    {"jan", 1}, {"feb", 2}, {"mar", 3}, {"apr", 4}, {"may", 5}, {"jun", 6},
    {"jul", 7}, {"aug", 8}, {"sep", 9}, {"oct", 10}, {"nov", 11}, {"dec", 12}};
const std::vector<std::pair<std::string, unsigned>> kDowNames = {{"sun", 0}, {"mon", 1}, {"tue", 2}, {"wed", 3},
                                                                 {"thu", 4}, {"fri", 5}, {"sat", 6}};
const Bounds kSeconds{0, 59, nullptr}, kMinutes{0, 59, nullptr}, kHours{0, 23, nullptr}, kDom{1, 31, nullptr},
    kMonths{1, 12, &kMonthNames}, kDow{0, 6, &kDowNames};

uint64_t Bits(unsigned min, unsigned max, unsigned step) {
  uint64_t bits = 0;
  if (step == 1) return ~(~uint64_t{0} << (max + 1)) & (~uint64_t{0} << min);
  for (unsigned i = min; i <= max; i += step) bits |= uint64_t{1} << i;
  return bits;
}
uint64_t All(const Bounds& r) { return Bits(r.min, r.max, 1) | kStarBit; }

std::vector<std::string> Split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t st = 0;
  while (true) {
    size_t e = s.find(sep, st);
    out.emplace_back(s.substr(st, e == std::string_view::npos ? std::string_view::npos : e - st));
    if (e == std::string_view::npos) break;
    st = e + 1;
  }
  return out;
}

// Go's strconv.Atoi then robfig's mustParseInt.
StatusOr<unsigned> MustParseInt(const std::string& expr) {
  auto fail = [&](const char* why) {
    return Status::Invalid("failed to parse int from " + expr + ": strconv.Atoi: parsing \"" + expr + "\": " + why);
  };
  std::string_view s = expr;
  bool neg = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s.empty()) return fail("invalid syntax");
  int64_t v = 0;
  bool range = false;
  for (char ch : s) {
    if (ch < '0' || ch > '9') return fail("invalid syntax");
    if (v > (int64_t{1} << 40)) range = true;
    else v = v * 10 + (ch - '0');
  }
  if (range) return fail("value out of range");
  if (neg && v != 0) return Status::Invalid("negative number (-" + std::to_string(v) + ") not allowed: " + expr);
  if (v > 0xffffffffLL) return static_cast<unsigned>(0xffffffffu);
  return static_cast<unsigned>(v);
}

StatusOr<unsigned> ParseIntOrName(const std::string& expr, const Bounds& r) {
  if (r.names) {
    std::string lower = expr;
    for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    for (const auto& [n, v] : *r.names) {
      if (n == lower) return v;
    }
  }
  return MustParseInt(expr);
}

StatusOr<uint64_t> GetRange(const std::string& expr, const Bounds& r) {
  auto range_and_step = Split(expr, '/');
  auto low_and_high = Split(range_and_step[0], '-');
  bool single = low_and_high.size() == 1;
  unsigned start = 0, end = 0, step = 1;
  uint64_t extra = 0;
  if (low_and_high[0] == "*" || low_and_high[0] == "?") {
    start = r.min;
    end = r.max;
    extra = kStarBit;
  } else {
    MINIK_ASSIGN_OR_RETURN(start, ParseIntOrName(low_and_high[0], r));
    if (low_and_high.size() == 1) {
      end = start;
    } else if (low_and_high.size() == 2) {
      MINIK_ASSIGN_OR_RETURN(end, ParseIntOrName(low_and_high[1], r));
    } else {
      return Status::Invalid("too many hyphens: " + expr);
    }
  }
  if (range_and_step.size() == 2) {
    MINIK_ASSIGN_OR_RETURN(step, MustParseInt(range_and_step[1]));
    if (single) end = r.max;
    if (step > 1) extra = 0;
  } else if (range_and_step.size() > 2) {
    return Status::Invalid("too many slashes: " + expr);
  }
  if (start < r.min) {
    return Status::Invalid("beginning of range (" + std::to_string(start) + ") below minimum (" +
                           std::to_string(r.min) + "): " + expr);
  }
  if (end > r.max) {
    return Status::Invalid("end of range (" + std::to_string(end) + ") above maximum (" + std::to_string(r.max) +
                           "): " + expr);
  }
  if (start > end) {
    return Status::Invalid("beginning of range (" + std::to_string(start) + ") beyond end of range (" +
                           std::to_string(end) + "): " + expr);
  }
  if (step == 0) return Status::Invalid("step of range should be a positive number: " + expr);
  return Bits(start, end, step) | extra;
}

StatusOr<uint64_t> GetField(const std::string& field, const Bounds& r) {
  uint64_t bits = 0;
  for (const auto& part : Split(field, ',')) {
    if (part.empty()) continue;  // strings.FieldsFunc drops empty parts
    MINIK_ASSIGN_OR_RETURN(uint64_t b, GetRange(part, r));
    bits |= b;
  }
  return bits;
}

std::vector<std::string> Fields(std::string_view s) {
  std::vector<std::string> out;
  size_t i = 0;
  auto space = [](char ch) { return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f'; };
  while (i < s.size()) {
    while (i < s.size() && space(s[i])) ++i;
    size_t st = i;
    while (i < s.size() && !space(s[i])) ++i;
    if (i > st) out.emplace_back(s.substr(st, i - st));
  }
  return out;
}

std::string_view TrimSpace(std::string_view s) {
  auto space = [](char ch) { return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

}  // namespace

StatusOr<Schedule> Schedule::ParseStandard(std::string_view spec, const ZoneLoader& load_zone,
                                           TimeZonePtr default_zone) {
  if (spec.empty()) return Status::Invalid("empty spec string");
  Schedule s;
  s.zone_ = default_zone ? default_zone : TimeZone::Utc();
  if (spec.substr(0, 3) == "TZ=" || spec.substr(0, 8) == "CRON_TZ=") {
    size_t sp = spec.find(' ');
    size_t eq = spec.find('=');
    std::string_view name = sp == std::string_view::npos ? spec.substr(eq + 1) : spec.substr(eq + 1, sp - eq - 1);
    auto z = load_zone(name);
    if (!z.ok()) return Status::Invalid("provided bad location " + std::string(name) + ": " + z.error().message());
    s.zone_ = *z;
    spec = sp == std::string_view::npos ? std::string_view() : TrimSpace(spec.substr(sp));
  }
  if (!spec.empty() && spec[0] == '@') {
    if (spec == "@yearly" || spec == "@annually") {
      s.second_ = 1;
      s.minute_ = 1;
      s.hour_ = 1;
      s.dom_ = uint64_t{1} << 1;
      s.month_ = uint64_t{1} << 1;
      s.dow_ = All(kDow);
    } else if (spec == "@monthly") {
      s.second_ = 1;
      s.minute_ = 1;
      s.hour_ = 1;
      s.dom_ = uint64_t{1} << 1;
      s.month_ = All(kMonths);
      s.dow_ = All(kDow);
    } else if (spec == "@weekly") {
      s.second_ = 1;
      s.minute_ = 1;
      s.hour_ = 1;
      s.dom_ = All(kDom);
      s.month_ = All(kMonths);
      s.dow_ = 1;
    } else if (spec == "@daily" || spec == "@midnight") {
      s.second_ = 1;
      s.minute_ = 1;
      s.hour_ = 1;
      s.dom_ = All(kDom);
      s.month_ = All(kMonths);
      s.dow_ = All(kDow);
    } else if (spec == "@hourly") {
      s.second_ = 1;
      s.minute_ = 1;
      s.hour_ = All(kHours);
      s.dom_ = All(kDom);
      s.month_ = All(kMonths);
      s.dow_ = All(kDow);
    } else if (spec.substr(0, 7) == "@every ") {
      auto d = ParseGoDuration(spec.substr(7));
      if (!d.ok()) {
        return Status::Invalid("failed to parse duration " + std::string(spec) + ": " + d.error().message());
      }
      int64_t ns = *d < 1000000000 ? 1000000000 : *d;
      s.every_ns_ = ns - ns % 1000000000;
    } else {
      return Status::Invalid("unrecognized descriptor: " + std::string(spec));
    }
    return s;
  }
  auto fields = Fields(spec);
  if (fields.size() != 5) {
    std::string list = "[";
    for (size_t i = 0; i < fields.size(); ++i) list += (i ? " " : "") + fields[i];
    list += "]";
    return Status::Invalid("expected exactly 5 fields, found " + std::to_string(fields.size()) + ": " + list);
  }
  s.second_ = 1;
  MINIK_ASSIGN_OR_RETURN(s.minute_, GetField(fields[0], kMinutes));
  MINIK_ASSIGN_OR_RETURN(s.hour_, GetField(fields[1], kHours));
  MINIK_ASSIGN_OR_RETURN(s.dom_, GetField(fields[2], kDom));
  MINIK_ASSIGN_OR_RETURN(s.month_, GetField(fields[3], kMonths));
  MINIK_ASSIGN_OR_RETURN(s.dow_, GetField(fields[4], kDow));
  (void)kSeconds;
  return s;
}

bool Schedule::DayMatches(const CivilTime& c) const {
  bool dom = (uint64_t{1} << c.day) & dom_;
  bool dow = (uint64_t{1} << c.weekday) & dow_;
  if ((dom_ & kStarBit) || (dow_ & kStarBit)) return dom && dow;
  return dom || dow;
}

std::optional<TimePoint> Schedule::Next(TimePoint tp) const {
  using std::chrono::nanoseconds;
  int64_t sec = UnixSeconds(tp);
  if (every_ns_ > 0) return TimePoint(std::chrono::seconds(sec)) + nanoseconds(every_ns_);
  const TimeZone& z = *zone_;
  int64_t t = sec + 1;  // the upcoming whole second
  bool added = false;
  int64_t year_limit = ToCivil(t, z).year + 5;
  auto bit = [](uint64_t set, int v) { return ((uint64_t{1} << v) & set) != 0; };
wrap:
  CivilTime c = ToCivil(t, z);
  if (c.year > year_limit) return std::nullopt;
  while (!bit(month_, c.month)) {
    if (!added) {
      added = true;
      t = FromCivil(c.year, c.month, 1, 0, 0, 0, z);
      c = ToCivil(t, z);
    }
    t = FromCivil(c.year, c.month + 1, c.day, c.hour, c.minute, c.second, z);  // AddDate(0, 1, 0)
    c = ToCivil(t, z);
    if (c.month == 1) goto wrap;
  }
  while (!DayMatches(c)) {
    if (!added) {
      added = true;
      t = FromCivil(c.year, c.month, c.day, 0, 0, 0, z);
      c = ToCivil(t, z);
    }
    t = FromCivil(c.year, c.month, c.day + 1, c.hour, c.minute, c.second, z);  // AddDate(0, 0, 1)
    c = ToCivil(t, z);
    if (c.hour != 0) {
      t += c.hour > 12 ? (24 - c.hour) * 3600 : -c.hour * 3600;
      c = ToCivil(t, z);
    }
    if (c.day == 1) goto wrap;
  }
  while (!bit(hour_, c.hour)) {
    if (!added) {
      added = true;
      t = FromCivil(c.year, c.month, c.day, c.hour, 0, 0, z);
      c = ToCivil(t, z);
    }
    t += 3600;
    c = ToCivil(t, z);
    if (c.hour == 0) goto wrap;
  }
  while (!bit(minute_, c.minute)) {
    if (!added) {
      added = true;
      t -= ((t % 60) + 60) % 60;
      c = ToCivil(t, z);
    }
    t += 60;
    c = ToCivil(t, z);
    if (c.minute == 0) goto wrap;
  }
  while (!bit(second_, c.second)) {
    if (!added) {
      added = true;
      c = ToCivil(t, z);
    }
    t += 1;
    c = ToCivil(t, z);
    if (c.second == 0) goto wrap;
  }
  return TimePoint(std::chrono::seconds(t));
}

}  // namespace minik::controllers::cron
