#include "common/log.h"

#include <unistd.h>

#include <atomic>
#include <cstring>
#include <ctime>
#include <string>

#include "common/clock.h"

namespace minik {
namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
}

bool ParseLogLevel(std::string_view name, LogLevel* out) {
  if (name == "debug") *out = LogLevel::kDebug;
  else if (name == "info") *out = LogLevel::kInfo;
  else if (name == "warn" || name == "warning") *out = LogLevel::kWarning;
  else if (name == "error") *out = LogLevel::kError;
  else return false;
  return true;
}

void SetLogLevel(LogLevel level) { g_level.store(static_cast<int>(level), std::memory_order_relaxed); }

bool LogEnabled(LogLevel level) { return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed); }

LogLine::LogLine(LogLevel level, const char* file, int line) : level_(level) {
  static const char kLetters[] = {'D', 'I', 'W', 'E'};
  const char* base = std::strrchr(file, '/');
  os_ << FormatRFC3339Micro(RealClock().Now()) << ' ' << kLetters[static_cast<int>(level_)] << ' '
      << (base ? base + 1 : file) << ':' << line << "] ";
}

LogLine::~LogLine() {
  os_ << '\n';
  std::string s = os_.str();
  ssize_t n = ::write(STDERR_FILENO, s.data(), s.size());
  (void)n;
}

}  // namespace minik
