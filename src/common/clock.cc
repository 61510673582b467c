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

bool ParseRFC3339(std::string_view s, TimePoint* out) {
  int y, mo, d, h, mi, sec;
  if (s.size() < 20) return false;
  std::string str(s);
  if (std::sscanf(str.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &sec) != 6) return false;
  size_t pos = 19;
  int64_t micros = 0;
  if (pos < str.size() && str[pos] == '.') {
    ++pos;
    int digits = 0;
    while (pos < str.size() && str[pos] >= '0' && str[pos] <= '9') {
      if (digits < 6) {
        micros = micros * 10 + (str[pos] - '0');
        ++digits;
      }
      ++pos;
    }
    for (; digits < 6; ++digits) micros *= 10;
  }
  int offset_sec = 0;
  if (pos >= str.size()) return false;
  if (str[pos] == 'Z' || str[pos] == 'z') {
    ++pos;
  } else if (str[pos] == '+' || str[pos] == '-') {
    int oh, om;
    if (std::sscanf(str.c_str() + pos + 1, "%2d:%2d", &oh, &om) != 2) return false;
    offset_sec = (oh * 3600 + om * 60) * (str[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return false;
  }
  if (pos != str.size()) return false;
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  time_t tt = timegm(&tm);
  *out = TimePoint(std::chrono::seconds(tt - offset_sec)) + std::chrono::microseconds(micros);
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
