#include "agent/runtime/cri_log.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <string>
#include <vector>

#include "agent/runtime/process.h"

namespace minik::agent::runtime {
namespace {

// 2016-10-06T00:17:09.669794202Z
constexpr int64_t kT0 = 1475713029669794202;

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/minik-crilog-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { internal::RemoveTree(path); }
};

std::string Slurp(const std::string& path) {
  auto s = internal::ReadFile(path);
  return s.ok() ? *s : "";
}

std::vector<std::string> Lines(const std::string& s) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t nl = s.find('\n', pos);
    out.push_back(s.substr(pos, nl - pos));
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
  return out;
}

TEST_CASE("RFC3339Nano timestamps as Go writes and the kubelet prints them") {
  CHECK(FormatRFC3339Nano(kT0) == "2016-10-06T00:17:09.669794202Z");
  CHECK(FormatRFC3339Nano(kT0 - 2) == "2016-10-06T00:17:09.6697942Z");
  CHECK(FormatRFC3339Nano(1475713029000000000) == "2016-10-06T00:17:09Z");
  CHECK(FormatRFC3339NanoFixed(kT0 - 2) == "2016-10-06T00:17:09.669794200Z");
  CHECK(FormatRFC3339NanoFixed(1475713029000000000) == "2016-10-06T00:17:09.000000000Z");
  // Calendar edges (the formatter does its own date arithmetic).
  CHECK(FormatRFC3339Nano(0) == "1970-01-01T00:00:00Z");
  CHECK(FormatRFC3339Nano(-1) == "1969-12-31T23:59:59.999999999Z");
  CHECK(FormatRFC3339Nano(951782400LL * 1000000000 + 10) == "2000-02-29T00:00:00.00000001Z");
  CHECK(FormatRFC3339Nano(4107542399LL * 1000000000) == "2100-02-28T23:59:59Z");
  CHECK(FormatRFC3339NanoFixed(7258118399LL * 1000000000 + 5) == "2199-12-31T23:59:59.000000005Z");
  for (int64_t t : {int64_t{0}, int64_t{1475713029669794202}, int64_t{4107542400000000000}}) {
    int64_t back = 0;
    CHECK(ParseRFC3339Nano(FormatRFC3339Nano(t), &back));
    CHECK(back == t);
  }
  int64_t ns = 0;
  REQUIRE(ParseRFC3339Nano("2016-10-06T00:17:09.669794202Z", &ns));
  CHECK(ns == kT0);
  REQUIRE(ParseRFC3339Nano("2016-10-06T00:17:09.6697942Z", &ns));
  CHECK(ns == kT0 - 2);
  REQUIRE(ParseRFC3339Nano("2016-10-06T02:17:09+02:00", &ns));
  CHECK(ns == 1475713029000000000);
  CHECK_FALSE(ParseRFC3339Nano("2016-10-06 00:17:09Z", &ns));
  CHECK_FALSE(ParseRFC3339Nano("2016-10-06T00:17:09", &ns));
  CHECK_FALSE(ParseRFC3339Nano("garbage", &ns));
}

TEST_CASE(
    "the writer produces F records, P records for long and unterminated "
    "lines") {
  TempDir tmp;
  std::string path = tmp.path + "/0.log";
  int64_t now = kT0;
  CriLogWriterOptions opts;
  opts.max_line = 8;
  auto w = CriLogWriter::Open(path, opts, [&] { return now++; });
  REQUIRE(w.ok());
  using S = CriLogWriter::Stream;
  (*w)->Write(S::kStdout, "hello\nwor");
  (*w)->Write(S::kStderr, "oops\r\n");
  (*w)->Write(S::kStdout, "ld\n");
  (*w)->Write(S::kStdout, "0123456789abcdefXY\n");  // 18 bytes: 8 + 8 + 2
  (*w)->Write(S::kStdout, "0123");
  (*w)->Write(S::kStdout, "4567");  // exactly max_line: waits
  (*w)->Write(S::kStdout, "8");     // now longer: the first 8 go out as P
  (*w)->Write(S::kStderr, "tail without newline");
  (*w)->Close(S::kStdout);
  (*w)->Close(S::kStderr);
  auto lines = Lines(Slurp(path));
  std::vector<std::string> want = {
      "2016-10-06T00:17:09.669794202Z stdout F hello",    "2016-10-06T00:17:09.669794203Z stderr F oops",
      "2016-10-06T00:17:09.669794204Z stdout F world",    "2016-10-06T00:17:09.669794205Z stdout P 01234567",
      "2016-10-06T00:17:09.669794206Z stdout P 89abcdef", "2016-10-06T00:17:09.669794207Z stdout F XY",
      "2016-10-06T00:17:09.669794208Z stdout P 01234567", "2016-10-06T00:17:09.669794209Z stderr P tail wit",
      "2016-10-06T00:17:09.66979421Z stderr P hout new",  "2016-10-06T00:17:09.669794211Z stdout P 8",
      "2016-10-06T00:17:09.669794212Z stderr P line",
  };
  CHECK(lines == want);
}

TEST_CASE("the default line limit is 16 KiB") {
  TempDir tmp;
  std::string path = tmp.path + "/0.log";
  auto w = CriLogWriter::Open(path, {}, [] { return kT0; });
  REQUIRE(w.ok());
  std::string big(16 * 1024 + 5, 'x');
  (*w)->Write(CriLogWriter::Stream::kStdout, big + "\n");
  auto lines = Lines(Slurp(path));
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].size() == std::string("2016-10-06T00:17:09.669794202Z stdout P ").size() + 16 * 1024);
  CHECK(lines[1] == "2016-10-06T00:17:09.669794202Z stdout F xxxxx");
  auto all = ReadCriLog(path, {});
  REQUIRE(all.ok());
  CHECK(*all == big + "\n");  // partial lines join up again
}

std::string WriteSample(const std::string& path) {
  std::string text =
      "2016-10-06T00:17:09.000000001Z stdout F one\n"
      "2016-10-06T00:17:10.5Z stderr F two\n"
      "not a cri line\n"
      "2016-10-06T00:17:11Z stdout P thr\n"
      "2016-10-06T00:17:11.000000002Z stdout F ee\n"
      "2016-10-06T00:17:12Z stdout F four\n";
  REQUIRE(internal::WriteFileAtomic(path, text).ok());
  return text;
}

TEST_CASE(
    "the reader applies tail, since, timestamps, limitBytes and stream "
    "as the kubelet does") {
  TempDir tmp;
  std::string path = tmp.path + "/0.log";
  WriteSample(path);
  auto read = [&](LogReadOptions o) {
    auto r = ReadCriLog(path, o);
    REQUIRE(r.ok());
    return *r;
  };
  CHECK(read({}) == "one\ntwo\nthree\nfour\n");
  LogReadOptions o;
  o.tail_lines = 2;  // CRI records, partial ones included
  CHECK(read(o) == "ee\nfour\n");
  o.tail_lines = 3;
  CHECK(read(o) == "three\nfour\n");
  o.tail_lines = 0;
  CHECK(read(o) == "");
  o.tail_lines = 100;
  CHECK(read(o) == "one\ntwo\nthree\nfour\n");

  o = {};
  REQUIRE(ParseRFC3339Nano("2016-10-06T00:17:10.5Z", &o.since_ns));
  CHECK(read(o) == "two\nthree\nfour\n");
  o.since_ns += 1;
  CHECK(read(o) == "three\nfour\n");

  o = {};
  o.timestamps = true;
  o.tail_lines = 3;
  CHECK(read(o) ==
        "2016-10-06T00:17:11.000000000Z thr2016-10-06T00:17:11.000000002Z ee\n"
        "2016-10-06T00:17:12.000000000Z four\n");

  o = {};
  o.limit_bytes = 6;
  CHECK(read(o) == "one\ntw");
  o.limit_bytes = 4;
  CHECK(read(o) == "one\n");

  o = {};
  o.stream = "stderr";
  CHECK(read(o) == "two\n");

  CHECK(ReadCriLog(tmp.path + "/missing.log", {}).status().IsNotFound());
}

TEST_CASE(
    "tail counts only complete lines; an unterminated last line is shown "
    "when not tailing") {
  TempDir tmp;
  std::string path = tmp.path + "/0.log";
  REQUIRE(internal::WriteFileAtomic(path,
                                    "2016-10-06T00:17:09Z stdout F a\n2016-10-06T00:17:09Z stdout F b\n"
                                    "2016-10-06T00:17:09Z stdout F c")
              .ok());
  LogReadOptions o;
  o.tail_lines = 1;
  CHECK(*ReadCriLog(path, o) == "b\n");
  CHECK(*ReadCriLog(path, {}) == "a\nb\nc");  // as the kubelet: the record has no newline
}

TEST_CASE(
    "follow reads what is appended, waits for complete lines, and "
    "crosses a rotation") {
  TempDir tmp;
  std::string path = tmp.path + "/0.log";
  int64_t now = kT0;
  CriLogWriterOptions wo;
  wo.max_size = 60;  // rotate after two records
  wo.max_files = 3;
  auto w = CriLogWriter::Open(path, wo, [&] {
    now += 1000000000;  // one second per record: distinct rotated names
    return now;
  });
  REQUIRE(w.ok());
  using S = CriLogWriter::Stream;
  (*w)->Write(S::kStdout, "first\n");

  LogReadOptions o;
  o.follow = true;
  o.tail_lines = 10;
  auto r = CriLogReader::Open(path, o);
  REQUIRE(r.ok());
  std::string out;
  REQUIRE((*r)->ReadAvailable(&out).ok());
  CHECK(out == "first\n");

  // A record written in two pieces (as a slow writer might) is only shown once
  // complete.
  std::string rec = FormatRFC3339Nano(now) + " stdout F manual\n";
  {
    FILE* f = fopen(path.c_str(), "a");
    REQUIRE(f);
    fputs(rec.substr(0, 10).c_str(), f);
    fclose(f);
  }
  out.clear();
  REQUIRE((*r)->ReadAvailable(&out).ok());
  CHECK(out.empty());
  {
    FILE* f = fopen(path.c_str(), "a");
    fputs(rec.substr(10).c_str(), f);
    fclose(f);
  }
  REQUIRE((*r)->ReadAvailable(&out).ok());
  CHECK(out == "manual\n");

  // The next records rotate the file twice; the reader follows.
  out.clear();
  for (int i = 0; i < 5; ++i) (*w)->Write(S::kStdout, "line " + std::to_string(i) + "\n");
  CHECK((*w)->rotations() >= 2);
  REQUIRE((*r)->ReadAvailable(&out).ok());
  // Lines written into files rotated away before the reader got there are not
  // followed (as with the kubelet); the current file's are, and nothing is
  // shown twice or out of order.
  CHECK(out.find("line 4\n") != std::string::npos);
  CHECK(out.find("first") == std::string::npos);

  // At most max_files files: the current one and max_files-1 rotated ones,
  // named as the kubelet names them.
  std::vector<std::string> names;
  DIR* d = opendir(tmp.path.c_str());
  while (struct dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') names.emplace_back(e->d_name);
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  CHECK(names.size() == 3);
  REQUIRE(names.size() == 3);
  CHECK(names[0] == "0.log");
  for (size_t i = 1; i < names.size(); ++i) {
    CHECK(names[i].rfind("0.log.2016100", 0) == 0);
    CHECK(names[i].size() == std::string("0.log.20161006-001709").size());
  }
  CHECK(RotatedLogName("/x/0.log", 1475713029669794202).substr(0, 17) == "/x/0.log.20161006");
}

TEST_CASE("limitBytes stops a follow") {
  TempDir tmp;
  std::string path = tmp.path + "/0.log";
  WriteSample(path);
  LogReadOptions o;
  o.follow = true;
  o.limit_bytes = 5;
  auto r = CriLogReader::Open(path, o);
  REQUIRE(r.ok());
  std::string out;
  REQUIRE((*r)->ReadAvailable(&out).ok());
  CHECK(out == "one\nt");
  CHECK((*r)->done());
}

}  // namespace
}  // namespace minik::agent::runtime
