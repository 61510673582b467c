// The CRI container log format, as containerd writes it and the kubelet reads
// it:
//
//   2016-10-06T00:17:09.669794202Z stdout F a full line
//   2016-10-06T00:17:09.669794203Z stderr P the first 16 KiB of a longer line
//
// CriLogWriter is what a container's shim writes with (one writer per
// container, both streams into one file), rotating the file as the kubelet's
// container log manager does (containerLogMaxSize 10Mi, containerLogMaxFiles 5,
// rotated files named
// `<log>.<YYYYMMDD-hhmmss>`). CriLogReader / CriLogFormatter produce what
// `kubectl logs` shows (the kubelet's ReadLogs): tailLines, since, timestamps,
// limitBytes, and an incremental follow mode for the streaming code to drive
// from inotify.
//
// Threading: every class here is single-threaded (one owner thread); the free
// functions are thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/status.h"

namespace minik::agent::runtime {

// Go's time.RFC3339Nano in UTC ("2016-10-06T00:17:09.669794202Z", trailing
// zeros of the fraction dropped, no fraction when it is zero): what containerd
// writes into CRI logs.
std::string FormatRFC3339Nano(int64_t unix_ns);
// The kubelet's RFC3339NanoFixed ("2016-10-06T00:17:09.669794200Z", always 9
// digits): what `kubectl logs --timestamps` prints.
std::string FormatRFC3339NanoFixed(int64_t unix_ns);
// Parses RFC 3339 with an optional fraction (any number of digits) and a Z or
// +hh:mm offset: common/clock.h's.
using ::minik::ParseRFC3339Nano;
// Wall-clock now in ns since the epoch.
int64_t WallNowNs();

struct CriLogWriterOptions {
  int64_t max_size = 10 * 1024 * 1024;  // rotate once the file reaches this size (<= 0: never)
  int max_files = 5;                    // the current file plus max_files-1 rotated ones
  size_t max_line = 16 * 1024;          // longer lines are split into P records of this size
};

// Appends one container's output to its CRI log file.
class CriLogWriter {
 public:
  enum class Stream { kStdout = 0, kStderr = 1 };

  // Opens (creating, mode 0640) the file for appending. now_ns defaults to the
  // wall clock.
  static StatusOr<std::unique_ptr<CriLogWriter>> Open(const std::string& path, CriLogWriterOptions opts = {},
                                                      std::function<int64_t()> now_ns = {});
  ~CriLogWriter();
  CriLogWriter(const CriLogWriter&) = delete;
  CriLogWriter& operator=(const CriLogWriter&) = delete;

  // Bytes the container wrote on a stream: each complete line becomes an F
  // record ("\r\n" endings lose their "\r" as with containerd), a line longer
  // than max_line becomes P records of max_line bytes and a final F record; an
  // incomplete line waits for more.
  void Write(Stream stream, std::string_view data);
  // The stream ended: a pending incomplete line is written as a P record.
  void Close(Stream stream);

  const std::string& path() const { return path_; }
  int64_t rotations() const { return rotations_; }

 private:
  CriLogWriter(std::string path, CriLogWriterOptions opts, std::function<int64_t()> now_ns, int fd, int64_t size);
  void EmitLine(Stream stream, std::string_view line);
  void Emit(Stream stream, bool partial, std::string_view content);
  void Rotate();

  std::string path_;
  CriLogWriterOptions opts_;
  std::function<int64_t()> now_ns_;
  int fd_;
  int64_t size_;
  int64_t rotations_ = 0;
  std::string pending_[2];
};

// The name a rotation gives the current log file: "<path>.<YYYYMMDD-hhmmss>" in
// local time, as the kubelet's container log manager names it.
std::string RotatedLogName(const std::string& path, int64_t unix_ns);

// kubectl logs options (the kubelet's LogOptions).
struct LogReadOptions {
  int64_t tail_lines = -1;   // -1: all
  int64_t limit_bytes = -1;  // -1: no limit
  int64_t since_ns = 0;      // records older than this are skipped (0: none)
  bool timestamps = false;   // prefix each record with its RFC3339NanoFixed
                             // timestamp and a space
  bool follow = false;
  std::string stream;  // "", "stdout" or "stderr": only that stream
                       // (PodLogOptions.stream)
};

// Turns CRI records into what `kubectl logs` shows: the content of F records
// followed by a newline, of P records without one (so partial lines join up),
// with the options applied. Malformed lines are skipped, as the kubelet does.
class CriLogFormatter {
 public:
  explicit CriLogFormatter(LogReadOptions opts);
  // Formats the complete lines at the front of data, appending the output to
  // *out; returns the bytes consumed. An incomplete last line is left for the
  // next call, unless at_eof.
  size_t Feed(std::string_view data, bool at_eof, std::string* out);
  // True once nothing more will be produced (limitBytes reached, or tailLines
  // records written when not following).
  bool done() const { return done_; }

 private:
  void FormatLine(std::string_view line, std::string* out);

  LogReadOptions opts_;
  int64_t remaining_bytes_;
  int64_t remaining_lines_;
  bool done_ = false;
};

// Reads a CRI log file for `kubectl logs`, once or following it.
//
// Following: call ReadAvailable() whenever the file (or its directory) changes;
// it reads what was appended, keeps an incomplete last line for later and, when
// the path names a new file (the log was rotated), finishes the old file and
// continues with the new one from its start.
class CriLogReader {
 public:
  // Opens the file and positions it at the start of the last tail_lines lines.
  static StatusOr<std::unique_ptr<CriLogReader>> Open(const std::string& path, LogReadOptions opts);
  ~CriLogReader();
  CriLogReader(const CriLogReader&) = delete;
  CriLogReader& operator=(const CriLogReader&) = delete;

  // Appends the output for what the file holds now. max_output > 0 bounds how
  // much is appended per call (roughly: whole 64 KiB reads); call again while
  // more_available().
  Status ReadAvailable(std::string* out, size_t max_output = 0);
  // More data was left unread by the last ReadAvailable because of max_output.
  bool more_available() const { return more_; }
  bool done() const { return formatter_.done(); }
  const std::string& path() const { return path_; }

 private:
  CriLogReader(std::string path, LogReadOptions opts, int fd);
  bool Rotated() const;

  std::string path_;
  LogReadOptions opts_;
  CriLogFormatter formatter_;
  int fd_;
  std::string carry_;  // an incomplete line (follow mode)
  bool more_ = false;
};

// One-shot read (no follow) of the whole selection.
StatusOr<std::string> ReadCriLog(const std::string& path, const LogReadOptions& opts);

}  // namespace minik::agent::runtime
