#include "common/prometheus.h"

#include <catch2/catch.hpp>
#include <cmath>

using namespace minik;

TEST_CASE("prometheus: numbers as Go's strconv.FormatFloat(v, 'g', -1, 64)") {
  // Values taken from a real kubelet's /metrics/resource.
  CHECK(prom::FormatFloat(6197.005020909) == "6197.005020909");
  CHECK(prom::FormatFloat(1.616273408e9) == "1.616273408e+09");
  CHECK(prom::FormatFloat(2.5088e7) == "2.5088e+07");
  CHECK(prom::FormatFloat(1.7506078418297591e9) == "1.7506078418297591e+09");
  CHECK(prom::FormatFloat(40.384910049) == "40.384910049");
  CHECK(prom::FormatFloat(0) == "0");
  CHECK(prom::FormatFloat(1) == "1");
  CHECK(prom::FormatFloat(0.5) == "0.5");
  CHECK(prom::FormatFloat(123456) == "123456");
  CHECK(prom::FormatFloat(1234567) == "1.234567e+06");
  CHECK(prom::FormatFloat(1e6) == "1e+06");
  CHECK(prom::FormatFloat(0.0001) == "0.0001");
  CHECK(prom::FormatFloat(0.00001) == "1e-05");
  CHECK(prom::FormatFloat(-2.5) == "-2.5");
  CHECK(prom::FormatFloat(1e100) == "1e+100");
  CHECK(prom::FormatFloat(HUGE_VAL) == "+Inf");
  CHECK(prom::FormatFloat(-HUGE_VAL) == "-Inf");
  CHECK(prom::FormatFloat(std::nan("")) == "NaN");
}

TEST_CASE("prometheus: samples and headers are written as client_golang writes them") {
  std::string out;
  prom::AppendHeader(&out, "pod_cpu_usage_seconds_total", "[STABLE] Cumulative cpu time", "counter");
  prom::AppendSample(&out, "pod_cpu_usage_seconds_total", {{"namespace", "kube-system"}, {"pod", "a\"b\\c\nd"}}, 4.67812,
                     1633253803935);
  prom::AppendSample(&out, "scrape_error", {}, 0);
  CHECK(out ==
        "# HELP pod_cpu_usage_seconds_total [STABLE] Cumulative cpu time\n"
        "# TYPE pod_cpu_usage_seconds_total counter\n"
        "pod_cpu_usage_seconds_total{namespace=\"kube-system\",pod=\"a\\\"b\\\\c\\nd\"} 4.67812 1633253803935\n"
        "scrape_error 0\n");
}

TEST_CASE("prometheus: parsing reads back what is written, and rejects garbage") {
  std::string text =
      "# HELP x help\n"
      "# TYPE x counter\n"
      "\n"
      "node_cpu_usage_seconds_total 357.35491 1633253809720\n"
      "container_memory_working_set_bytes{container=\"coredns\",namespace=\"kube-system\",pod=\"p\\\"q\"} "
      "1.2627968e+07 1633253803935\n"
      "container_start_time_seconds{container=\"c\",namespace=\"n\",pod=\"p\",} 1.6332537e+09\n"
      "up +Inf\n";
  auto s = prom::Parse(text);
  REQUIRE(s.ok());
  REQUIRE(s->size() == 4);
  CHECK((*s)[0].name == "node_cpu_usage_seconds_total");
  CHECK((*s)[0].labels.empty());
  CHECK((*s)[0].value == Approx(357.35491));
  CHECK((*s)[0].timestamp_ms == 1633253809720);
  CHECK((*s)[1].labels.at("pod") == "p\"q");
  CHECK((*s)[1].labels.at("container") == "coredns");
  CHECK((*s)[1].value == 12627968);
  CHECK_FALSE((*s)[2].timestamp_ms.has_value());
  CHECK((*s)[2].labels.size() == 3);
  CHECK(std::isinf((*s)[3].value));

  CHECK_FALSE(prom::Parse("x{a=\"b} 1\n").ok());
  CHECK_FALSE(prom::Parse("x notanumber\n").ok());
  CHECK_FALSE(prom::Parse("{a=\"b\"} 1\n").ok());
  CHECK_FALSE(prom::Parse("x 1 12x\n").ok());
}
