#include "common/clock.h"

#include <cstdio>
#include <ctime>

namespace minik {

int64_t RealClock::MonotonicMillis() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

namespace {
void Breakdown(TimePoint t, std::tm* tm, int64_t* micros) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
  int64_t secs = us / 1000000;
  *micros = us % 1000000;
  if (*micros < 0) {
    *micros += 1000000;
    secs -= 1;
  }
  time_t tt = static_cast<time_t>(secs);
  gmtime_r(&tt, tm);
}
}  // namespace

std::string FormatRFC3339(TimePoint t) {
  std::tm tm{};
  int64_t micros;
  Breakdown(t, &tm, &micros);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

std::string FormatRFC3339Micro(TimePoint t) {
  std::tm tm{};
  int64_t micros;
  Breakdown(t, &tm, &micros);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(micros));
  return buf;
}

namespace {
// The parser of ParseRFC3339Nano: whole seconds since the epoch and the fraction in ns (0 to
// 999999999).
bool ParseRFC3339Parts(std::string_view s, int64_t* unix_secs, int64_t* frac_ns) {
  auto digits = [&](size_t pos, size_t n, int* out) {
    if (pos + n > s.size()) return false;
    int v = 0;
    for (size_t i = pos; i < pos + n; ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
      v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
  };
  int y, mo, d, h, mi, sec;
  if (!digits(0, 4, &y) || s.size() < 20 || s[4] != '-' || !digits(5, 2, &mo) || s[7] != '-' || !digits(8, 2, &d) ||
      (s[10] != 'T' && s[10] != 't') || !digits(11, 2, &h) || s[13] != ':' || !digits(14, 2, &mi) || s[16] != ':' ||
      !digits(17, 2, &sec)) {
    return false;
  }
  size_t pos = 19;
  int64_t frac = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    int n = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (n < 9) {
        frac = frac * 10 + (s[pos] - '0');
        ++n;
      }
      ++pos;
    }
    if (n == 0) return false;
    for (; n < 9; ++n) frac *= 10;
  }
  int64_t offset = 0;
  if (pos >= s.size()) return false;
  if (s[pos] == 'Z' || s[pos] == 'z') {
    ++pos;
  } else if (s[pos] == '+' || s[pos] == '-') {
    int oh, om;
    if (!digits(pos + 1, 2, &oh) || pos + 3 >= s.size() || s[pos + 3] != ':' || !digits(pos + 4, 2, &om)) {
      return false;
    }
    offset = (oh * 3600 + om * 60) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return false;
  }
  if (pos != s.size() || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return false;
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  *unix_secs = static_cast<int64_t>(timegm(&tm)) - offset;
  *frac_ns = frac;
  return true;
}
}  // namespace

bool ParseRFC3339Nano(std::string_view s, int64_t* unix_ns) {
  int64_t secs, frac;
  if (!ParseRFC3339Parts(s, &secs, &frac)) return false;
  *unix_ns = secs * 1000000000 + frac;
  return true;
}

bool ParseRFC3339(std::string_view s, TimePoint* out) {
  int64_t secs, frac;
  if (!ParseRFC3339Parts(s, &secs, &frac)) return false;
  *out = TimePoint(std::chrono::seconds(secs)) + std::chrono::microseconds(frac / 1000);
  return true;
}

std::string FormatGoDurationMs(int64_t ms) {
  if (ms == 0) return "0s";
  std::string sign = ms < 0 ? "-" : "";
  uint64_t v = ms < 0 ? -static_cast<uint64_t>(ms) : static_cast<uint64_t>(ms);
  if (v < 1000) return sign + std::to_string(v) + "ms";
  std::string out = sign;
  uint64_t hours = v / 3600000, minutes = v / 60000 % 60, secs = v / 1000 % 60, frac = v % 1000;
  if (hours > 0) out += std::to_string(hours) + "h";
  if (hours > 0 || minutes > 0) out += std::to_string(minutes) + "m";
  out += std::to_string(secs);
  if (frac != 0) {
    char buf[8];
    std::snprintf(buf, sizeof buf, ".%03u", static_cast<unsigned>(frac));
    std::string f = buf;
    while (f.back() == '0') f.pop_back();
    out += f;
  }
  return out + "s";
}

}  // namespace minik
