// Time behind a small interface so that tests run on a simulated clock.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace minik {

using TimePoint = std::chrono::system_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time (for timestamps written into objects).
  virtual TimePoint Now() const = 0;
  // Monotonic milliseconds (for timeouts, backoff and measuring).
  virtual int64_t MonotonicMillis() const = 0;
};

// The system clock. Thread-safe.
class RealClock final : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::system_clock::now(); }
  int64_t MonotonicMillis() const override;
};

// A clock that moves only when told. Not thread-safe: tests drive it from one thread.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(TimePoint start = TimePoint(std::chrono::seconds(1767225600))) : now_(start) {}
  TimePoint Now() const override { return now_; }
  int64_t MonotonicMillis() const override { return mono_ms_; }
  void Advance(std::chrono::milliseconds d) {
    now_ += d;
    mono_ms_ += d.count();
  }

 private:
  TimePoint now_;
  int64_t mono_ms_ = 0;
};

// "2026-11-22T08:30:01Z" (metav1.Time: second precision, UTC).
std::string FormatRFC3339(TimePoint t);
// "2026-11-22T08:30:01.123456Z" (metav1.MicroTime).
std::string FormatRFC3339Micro(TimePoint t);
// Parses RFC 3339 as Go's time.RFC3339Nano layout reads it ("2016-10-06T00:17:09.669794202Z",
// "2026-11-22T10:30:01+02:00"): four-digit year, two-digit fields in range (second up to 60), an
// optional fraction of one or more digits (those beyond nanoseconds ignored), then "Z" or an
// "+hh:mm"/"-hh:mm" offset ("t" and "z" in lower case accepted). Returns false if malformed.
// Into nanoseconds since the epoch.
bool ParseRFC3339Nano(std::string_view s, int64_t* unix_ns);
// The same into a TimePoint of microsecond precision (the fraction beyond is dropped).
bool ParseRFC3339(std::string_view s, TimePoint* out);
// A millisecond duration as Go's time.Duration.String() prints it: "0s", "512ms", "1.5s", "2m3.004s",
// "1h0m0s" (the kubelet's event messages use it).
std::string FormatGoDurationMs(int64_t ms);

}  // namespace minik
