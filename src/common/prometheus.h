// The Prometheus text exposition format (version 0.0.4), as Go's client_golang writes it and as
// the kubelet's endpoints serve it: numbers formatted like Go's strconv.FormatFloat(v, 'g', -1,
// 64), label values escaped, optional millisecond timestamps; and a small parser for it (the
// metrics API reads the kubelet's /metrics/resource).
//
// Pure functions; any thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace minik::prom {

constexpr char kContentType[] = "text/plain; version=0.0.4; charset=utf-8";

// Go's strconv.FormatFloat(v, 'g', -1, 64): the shortest representation that reads back exactly,
// with an exponent (at least two digits) when it is below -4 or at least 6; "NaN", "+Inf", "-Inf".
std::string FormatFloat(double v);

// A label value escaped for the text format (backslash, double quote, newline).
std::string EscapeLabelValue(std::string_view v);

using Labels = std::vector<std::pair<std::string, std::string>>;

// Appends "# HELP name help\n# TYPE name type\n".
void AppendHeader(std::string* out, std::string_view name, std::string_view help, std::string_view type);
// Appends one sample: name{k="v",...} value[ timestamp_ms]\n (labels in the given order).
void AppendSample(std::string* out, std::string_view name, const Labels& labels, double value,
                  std::optional<int64_t> timestamp_ms = std::nullopt);

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
  std::optional<int64_t> timestamp_ms;
};

// Parses the samples of a text exposition (comments and blank lines skipped); BadRequest naming
// the first malformed line.
StatusOr<std::vector<Sample>> Parse(std::string_view text);

}  // namespace minik::prom
