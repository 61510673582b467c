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

}  // namespace minik

#define MINIK_LOG(level)                                                  \
  if (!::minik::LogEnabled(::minik::LogLevel::k##level)) {                \
  } else                                                                  \
    ::minik::LogLine(::minik::LogLevel::k##level, __FILE__, __LINE__).stream()
