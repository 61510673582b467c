// resource.Quantity parsing and canonical strings, checked against upstream's own expectations
// (k8s.io/apimachinery/pkg/api/resource v0.32 quantity_test.go: TestQuantityParseEmit,
// TestQuantityString's expect/alternate pairs, TestQuantityParse's values and invalid inputs).
#include <catch2/catch.hpp>

#include <climits>

#include "api/field_validation.h"
#include "api/quantity.h"
#include "common/json.h"

namespace minik::api {
namespace {

constexpr std::string_view kFormatError =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
constexpr std::string_view kNumericError = "unable to parse numeric part of quantity";
constexpr std::string_view kSuffixError = "unable to parse quantity's suffix";

std::string Canon(std::string_view in) {
  StatusOr<std::string> s = CanonicalQuantity(in);
  INFO("input: " << in);
  REQUIRE(s.ok());
  return *s;
}

Quantity Q(std::string_view in) {
  StatusOr<Quantity> q = ParseQuantity(in);
  INFO("input: " << in);
  REQUIRE(q.ok());
  return *q;
}

struct Pair {
  std::string_view in, out;
};

TEST_CASE("canonical strings: upstream TestQuantityParseEmit, also negated") {
  const Pair table[] = {
      {"1Ki", "1Ki"},       {"1Mi", "1Mi"},        {"1Gi", "1Gi"},           {"1024Mi", "1Gi"},
      {"1000M", "1G"},      {".001Ki", "1024m"},   {".000001Ki", "1024u"},   {".000000001Ki", "1024n"},
      {".000000000001Ki", "2n"},
  };
  for (const Pair& p : table) {
    CHECK(Canon(p.in) == p.out);
    CHECK(Canon("-" + std::string(p.in)) == "-" + std::string(p.out));
  }
}

TEST_CASE("canonical strings: upstream TestQuantityString (alternate -> canonical, canonical kept)") {
  const Pair alternates[] = {
      {"1024Mi", "1Gi"},   {"307200Ki", "300Mi"}, {"1025024Mi", "1001Gi"}, {"1024Gi", "1Ti"},
      {"5000m", "5"},      {"0.5", "500m"},       {"1000M", "1G"},         {"0.001T", "1G"},
      {"1000u", "1m"},     {"1.08", "1080m"},     {"1080000000n", "1080m"}, {".001e12", "1e9"},
      {"0.001e0", "1e-3"}, {"1000e-12", "1e-9"},  {"00", "0"},
  };
  for (const Pair& p : alternates) CHECK(Canon(p.in) == p.out);
  const std::string_view canonical[] = {
      "1Gi",  "300Mi", "6Ki",  "1001Gi", "1Ti", "5",    "500m",  "1G",   "1m",   "80m", "1080m",
      "300M", "1T",    "1234567M", "1234567m", "3k", "1025", "0",  "1e9",  "1e-3", "1e-9", "80e-3",
      "300e6", "1e12", "1e3",  "3e3",   "1n",  "80n",  "1080n", "1u",   "80u",  "1080u",
  };
  for (std::string_view c : canonical) {
    CHECK(Canon(c) == c);
    if (c != "0") CHECK(Canon("-" + std::string(c)) == "-" + std::string(c));
  }
}

TEST_CASE("canonical strings: the values of upstream TestQuantityParse") {
  const Pair table[] = {
      // Zeros of every suffix are "0".
      {"0", "0"}, {"0n", "0"}, {"0u", "0"}, {"0m", "0"}, {"0Ki", "0"}, {"0k", "0"}, {"0Mi", "0"},
      {"0M", "0"}, {"0Gi", "0"}, {"0G", "0"}, {"0Ti", "0"}, {"0T", "0"}, {"-0", "0"},
      // Binary suffixes.
      {"8Ki", "8Ki"}, {"7Mi", "7Mi"}, {"6Gi", "6Gi"}, {"5Ti", "5Ti"}, {"4Pi", "4Pi"}, {"3Ei", "3Ei"},
      {"100Ti", "100Ti"},
      // Decimal suffixes.
      {"5n", "5n"}, {"4u", "4u"}, {"3m", "3m"}, {"9", "9"}, {"8k", "8k"}, {"50k", "50k"}, {"7M", "7M"},
      {"40T", "40T"}, {"300T", "300T"}, {"2P", "2P"}, {"1E", "1E"},
      // Decimal exponents (upstream keeps a canonical-looking input as written).
      {"1E-3", "1E-3"}, {"1e3", "1e3"}, {"1E6", "1E6"}, {"1e14", "100e12"}, {"1e13", "10e12"},
      // Things that look like floating point.
      {"0.001", "1m"}, {"0.0005k", "500m"}, {"0.005", "5m"}, {"0.05", "50m"}, {"0.00050k", "500m"},
      {"0.50000", "500m"}, {"0.5e0", "500e-3"}, {"0.5e-1", "50e-3"}, {"0.5e-2", "5e-3"},
      {"10.035M", "10.035M"}, {"1.2e3", "1200"}, {"1.3E+6", "1300e3"}, {"1.40e9", "1400e6"},
      {"1.53E12", "1530e9"}, {"1.7E18", "1700e15"}, {"9.01", "9010m"}, {"8.1k", "8100"},
      {"5.444T", "5.444T"}, {"40.1T", "40100G"}, {"2.5P", "2500T"}, {"1.01E", "1010P"},
      // Kept as written by ParseQuantity's fast path.
      {"100.035k", "100.035k"}, {"7.123456M", "7.123456M"}, {"12E", "12E"},
      // Things that saturate or round (away from zero, to nano).
      {"3.001n", "4n"}, {"1.1E-9", "2e-9"}, {"0.0000000001", "1n"}, {"0.0000000005", "1n"},
      {"0.5e-9", "1e-9"}, {"0.9n", "1n"}, {"0.00000012345", "124n"}, {"0.00000012354", "124n"},
      {"-0.9n", "-1n"}, {"9Ei", "9223372036854775807"}, {"9223372036854775807Ki", "9223372036854775807"},
      {"-9Ei", "-9223372036854775807"},
      // Fractional binary values: exact ones stay binary, others become DecimalSI.
      {"100.035Ki", "102435840m"}, {"0.5Mi", "512Ki"}, {"0.05Gi", "53687091200m"},
      {"0.025Ti", "27487790694400m"}, {"1.5Gi", "1536Mi"}, {"0.5Ki", "512"}, {"1.5Ki", "1536"},
      // Written by trolls.
      {"0.000000000001Ki", "2n"}, {".001", "1m"}, {".0001k", "100m"}, {"1.", "1."}, {"1.G", "1.G"},
      {".", "0"}, {"+", "0"}, {"-", "0"}, {"+1", "+1"}, {"007", "007"},
  };
  for (const Pair& p : table) {
    INFO(p.in);
    CHECK(Canon(p.in) == p.out);
  }
}

TEST_CASE("canonical strings: what users write in Pod resources") {
  const Pair table[] = {
      {"0.5", "500m"}, {"1024Mi", "1Gi"}, {"2000", "2k"}, {"1.5Gi", "1536Mi"}, {"0.1", "100m"},
      {"1e3", "1e3"}, {"100M", "100M"}, {"2", "2"}, {"250m", "250m"}, {"1000m", "1"},
      {"128974848", "128974848"}, {"129e6", "129e6"}, {"123Mi", "123Mi"}, {"1100m", "1100m"},
      {"1.1", "1100m"}, {"512Mi", "512Mi"}, {"2048Ki", "2Mi"}, {"1000Ki", "1000Ki"}, {"1024", "1024"},
      {"18446744073709551616", "18446744073709551616"},
      // Upstream v0.32 drops a DecimalSI suffix above E (CanonicalizeBytes ignores !ok).
      {"1000E", "1"},
  };
  for (const Pair& p : table) {
    INFO(p.in);
    CHECK(Canon(p.in) == p.out);
  }
}

TEST_CASE("invalid quantities give upstream's errors") {
  const Pair table[] = {
      {"", kFormatError},       {"1.1.M", kFormatError},   {"1+1.0M", kFormatError}, {"0.1mi", kSuffixError},
      {"0.1am", kFormatError},  {"aoeu", kFormatError},    {".5i", kSuffixError},    {"1i", kSuffixError},
      {"-3.01i", kSuffixError}, {"-3.01e-", kSuffixError}, {" 1", kFormatError},     {"1 ", kFormatError},
      {"lots", kFormatError},   {"1Mm", kSuffixError},     {"..", kFormatError},     {".e-10", kNumericError},
      {".Ei", kNumericError},   {"1e99999999999999999999", kSuffixError},            {"1ki", kSuffixError},
  };
  for (const Pair& p : table) {
    INFO(p.in);
    StatusOr<std::string> s = CanonicalQuantity(p.in);
    REQUIRE_FALSE(s.ok());
    CHECK(s.status().code() == Code::kBadRequest);
    CHECK(s.status().message() == p.out);
  }
}

TEST_CASE("quantities compare and convert exactly") {
  CHECK(Q("0").Cmp(Q("0")) == 0);
  CHECK(Q("100m").Cmp(Q("50m")) == 1);
  CHECK(Q("50m").Cmp(Q("100m")) == -1);
  CHECK(Q("10000T").Cmp(Q("100Gi")) == 1);
  CHECK(Q("1Gi") == Q("1024Mi"));
  CHECK(Q("1k") == Q("1000"));
  CHECK(Q("-1").Cmp(Q("1n")) == -1);
  CHECK(Q("-2").Cmp(Q("-1")) == -1);
  CHECK(Q("18446744073709551616").Cmp(Q("18446744073709551615")) == 1);

  CHECK(Q("500m").MilliValue() == 500);
  CHECK(Q("1.5").Value() == 2);    // rounds up
  CHECK(Q("-1.5").Value() == -2);  // away from zero
  CHECK(Q("1n").MilliValue() == 1);
  CHECK(Q("1Gi").Value() == int64_t{1} << 30);
  CHECK(Q("9Ei").Value() == INT64_MAX);
  CHECK(Q("9223372036854775807").Value() == INT64_MAX);
  CHECK_FALSE(Q("9223372036854775808").Value().has_value());
  CHECK(Q("-9223372036854775808").Value() == INT64_MIN);
  CHECK_FALSE(Q("9223372036854775807").MilliValue().has_value());
  CHECK(Q("1E").ScaledValue(18) == 1);
  CHECK(Q("0").MilliValue() == 0);

  CHECK(Q("100m").Add(Q("1")).String() == "1100m");
  CHECK(Q("1Gi").Add(Q("1Gi")).String() == "2Gi");
  CHECK(Q("0").Add(Q("1Gi")).String() == "1Gi");  // a zero takes the other's format
  CHECK(Q("1").Sub(Q("1500m")).String() == "-500m");
  CHECK(Q("0").Sub(Q("1Gi")).String() == "-1Gi");
  CHECK(Q("1Gi").Sub(Q("1Gi")).IsZero());
  CHECK(Quantity::FromMilli(1500).String() == "1500m");
  CHECK(Quantity::FromInt(2048, QuantityFormat::kBinarySI).String() == "2Ki");
  CHECK(Quantity::FromInt(-5).Sign() == -1);
  CHECK(Q("+1").Neg().String() == "-1");
}

JsonDoc Parse(std::string_view text) {
  auto doc = ParseJson(text);
  REQUIRE(doc.ok());
  return std::move(doc).value();
}

TEST_CASE("the walker stores a Pod's resources in canonical form") {
  JsonDoc doc = Parse(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{
    "containers":[{"name":"c","image":"nginx","resources":{
      "requests":{"cpu":0.5,"memory":"1024Mi","ephemeral-storage":" 2000 "},
      "limits":{"cpu":2,"memory":"1.5Gi","example.com/gpu":"1"}}}],
    "overhead":{"cpu":"0.1"}}})");
  auto r = PruneUnknownFields("v1", "Pod", doc, doc.GetAllocator());
  REQUIRE(r.ok());
  CHECK(r->empty());
  const JsonValue& res = doc["spec"]["containers"][0]["resources"];
  CHECK(std::string(res["requests"]["cpu"].GetString()) == "500m");
  CHECK(std::string(res["requests"]["memory"].GetString()) == "1Gi");
  CHECK(std::string(res["requests"]["ephemeral-storage"].GetString()) == "2k");
  CHECK(std::string(res["limits"]["cpu"].GetString()) == "2");
  CHECK(std::string(res["limits"]["memory"].GetString()) == "1536Mi");
  CHECK(std::string(res["limits"]["example.com/gpu"].GetString()) == "1");
  CHECK(std::string(doc["spec"]["overhead"]["cpu"].GetString()) == "100m");
}

TEST_CASE("the walker canonicalizes quantities outside resources too") {
  JsonDoc doc = Parse(R"({"apiVersion":"v1","kind":"PersistentVolumeClaim","metadata":{"name":"c"},
    "spec":{"resources":{"requests":{"storage":"1024Mi"}}},
    "status":{"capacity":{"storage":"2048Ki"}}})");
  auto r = PruneUnknownFields("v1", "PersistentVolumeClaim", doc, doc.GetAllocator());
  REQUIRE(r.ok());
  CHECK(std::string(doc["spec"]["resources"]["requests"]["storage"].GetString()) == "1Gi");
  CHECK(std::string(doc["status"]["capacity"]["storage"].GetString()) == "2Mi");

  JsonDoc lr = Parse(R"({"apiVersion":"v1","kind":"LimitRange","spec":{"limits":[
    {"type":"Container","default":{"cpu":"1000m"},"maxLimitRequestRatio":{"cpu":"0.5e1"}}]}})");
  REQUIRE(PruneUnknownFields("v1", "LimitRange", lr, lr.GetAllocator()).ok());
  CHECK(std::string(lr["spec"]["limits"][0]["default"]["cpu"].GetString()) == "1");
  CHECK(std::string(lr["spec"]["limits"][0]["maxLimitRequestRatio"]["cpu"].GetString()) == "5");
}

TEST_CASE("an invalid quantity in a Pod keeps upstream's decode error") {
  JsonDoc doc = Parse(R"({"apiVersion":"v1","kind":"Pod","spec":{"containers":[{"name":"c",
    "resources":{"limits":{"cpu":"1.1.M"}}}]}})");
  auto r = PruneUnknownFields("v1", "Pod", doc, doc.GetAllocator());
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message() == "Pod in version \"v1\" cannot be handled as a Pod: " + std::string(kFormatError));
  JsonDoc bool_doc = Parse(R"({"apiVersion":"v1","kind":"Pod","spec":{"containers":[{"name":"c",
    "resources":{"requests":{"memory":true}}}]}})");
  auto r2 = PruneUnknownFieldsBare("v1", "Pod", bool_doc, bool_doc.GetAllocator());
  REQUIRE_FALSE(r2.ok());
  CHECK(r2.error().message() == kFormatError);
}

}  // namespace
}  // namespace minik::api
