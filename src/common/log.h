// Leveled logging to stderr: "2026-11-22T08:30:01.123Z I server.cc:42] message".
// Thread-safe: each line is written with one write(2).
#pragma once

#include <sstream>
#include <string_view>

namespace minik {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// Parses "debug", "info", "warn"/"warning", "error"; returns false on anything else.
bool ParseLogLevel(std::string_view name, LogLevel* out);
void SetLogLevel(LogLevel level);
bool LogEnabled(LogLevel level);

class LogLine {
 public:
  LogLine(LogLevel level, const char* file, int line);
  ~LogLine();
  LogLine(const LogLine&) = delete;
  LogLine& operator=(const LogLine&) = delete;
  std::ostream& stream() { return os_; }

 private:
  LogLevel level_;
  std::ostringstream os_;
};

// Makes the ternary in MINIK_LOG well-typed (glog's LogMessageVoidify).
struct LogVoidify {
  void operator&(std::ostream&) {}
};

}  // namespace minik

// MINIK_LOG(Info) << "x"; the message is not built when the level is disabled. Safe in an
// unbraced if/else.
#define MINIK_LOG(level)                                          \
  !::minik::LogEnabled(::minik::LogLevel::k##level)               \
      ? (void)0                                                   \
      : ::minik::LogVoidify() & ::minik::LogLine(::minik::LogLevel::k##level, __FILE__, __LINE__).stream()
