#include <catch2/catch.hpp>

#include "common/yaml.h"

using minik::JsonDoc;
using minik::ToJson;
using minik::YamlDocumentsToJson;
using minik::YamlToJson;

namespace {
std::string J(std::string_view yaml) {
  auto r = YamlToJson(yaml);
  REQUIRE(r.ok());
  return ToJson(*r);
}
}  // namespace

TEST_CASE("yaml: scalars resolve as go-yaml v2 (YAML 1.1) does") {
  CHECK(J("a: 1") == R"({"a":1})");
  CHECK(J("a: -42") == R"({"a":-42})");
  CHECK(J("a: +7") == R"({"a":7})");
  CHECK(J("a: 1.5") == R"({"a":1.5})");
  CHECK(J("a: 1.0") == R"({"a":1})");  // encoding/json prints 1.0 as 1
  CHECK(J("a: 1e3") == R"({"a":1000})");
  CHECK(J("a: .5") == R"({"a":0.5})");
  CHECK(J("a: 0x1F") == R"({"a":31})");
  CHECK(J("a: 0755") == R"({"a":493})");  // YAML 1.1 octal
  CHECK(J("a: 0o17") == R"({"a":15})");
  CHECK(J("a: 0b101") == R"({"a":5})");
  CHECK(J("a: 1_000") == R"({"a":1000})");
  CHECK(J("a: 08") == R"({"a":8})");  // not octal, falls back to float 8
  CHECK(J("a: 9223372036854775807") == R"({"a":9223372036854775807})");
  CHECK(J("a: 18446744073709551615") == R"({"a":18446744073709551615})");
  CHECK(J("a: -9223372036854775808") == R"({"a":-9223372036854775808})");
  for (const char* t : {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON", "y", "Y"}) {
    CHECK(J(std::string("a: ") + t) == R"({"a":true})");
  }
  for (const char* f : {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF", "n", "N"}) {
    CHECK(J(std::string("a: ") + f) == R"({"a":false})");
  }
  CHECK(J("a: null") == R"({"a":null})");
  CHECK(J("a: ~") == R"({"a":null})");
  CHECK(J("a:") == R"({"a":null})");
  CHECK(J("a: Null") == R"({"a":null})");
  CHECK(J("a: tRUE") == R"({"a":"tRUE"})");
  CHECK(J("a: 1.2.3") == R"({"a":"1.2.3"})");
  CHECK(J("a: 2024-01-01") == R"({"a":"2024-01-01"})");  // timestamps stay strings
  CHECK(J("a: 12:30") == R"({"a":"12:30"})");
  CHECK(J("a: hello world") == R"({"a":"hello world"})");
  CHECK(J("a: 100m") == R"({"a":"100m"})");
}

TEST_CASE("yaml: quoted and tagged scalars stay strings") {
  CHECK(J("a: \"123\"") == R"({"a":"123"})");
  CHECK(J("a: 'true'") == R"({"a":"true"})");
  CHECK(J("a: \"null\"") == R"({"a":"null"})");
  CHECK(J("a: !!str 5") == R"({"a":"5"})");
  CHECK(J("a: !!int \"5\"") == R"({"a":5})");
  CHECK(J("a: !!float 5") == R"({"a":5})");
  CHECK(J("a: \"\"") == R"({"a":""})");
  CHECK(J("a: \"tab\\there\"") == R"({"a":"tab\there"})");
  auto bad = YamlToJson("a: !!int abc");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message() == "error converting YAML to JSON: yaml: cannot decode !!str `abc` as a !!int");
}

TEST_CASE("yaml: block scalars") {
  CHECK(J("a: |\n  line1\n  line2\n") == R"({"a":"line1\nline2\n"})");
  CHECK(J("a: |-\n  line1\n  line2\n") == R"({"a":"line1\nline2"})");
  CHECK(J("a: >\n  folded\n  text\n") == R"({"a":"folded text\n"})");
  CHECK(J("a: |\n  123\n") == R"({"a":"123\n"})");
}

TEST_CASE("yaml: structure, order, keys, anchors and merge keys") {
  CHECK(J("z: 1\na: 2\nm: 3") == R"({"z":1,"a":2,"m":3})");
  CHECK(J("l:\n- 1\n- two\n- {x: z}") == R"({"l":[1,"two",{"x":"z"}]})");
  // go-yaml v2 reads a bare y as true, in keys too.
  CHECK(J("x: y\ny: 1") == R"({"x":true,"true":1})");
  CHECK(J("1: a\ntrue: b\nyes: c") == R"({"1":"a","true":"c"})");  // yes is true too; later wins
  CHECK(J("base: &b {x: 1, w: 2}\nother: *b") == R"({"base":{"x":1,"w":2},"other":{"x":1,"w":2}})");
  CHECK(J("base: &b {x: 1, w: 2}\nd:\n  <<: *b\n  w: 3") == R"({"base":{"x":1,"w":2},"d":{"x":1,"w":3}})");
  CHECK(J("1.5: a\n2: b") == R"({"1.5":"a","2":"b"})");
  CHECK(J("[1, 2]") == "[1,2]");
  CHECK(J("{\"json\": [true, null, 1.5]}") == R"({"json":[true,null,1.5]})");
  CHECK(J("") == "null");
  CHECK(J("# only a comment\n") == "null");
  CHECK(J("a: {}\nb: []") == R"({"a":{},"b":[]})");
}

TEST_CASE("yaml: NaN and infinity cannot become JSON") {
  auto r = YamlToJson("a: .nan");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message() == "error converting YAML to JSON: json: unsupported value: NaN");
  auto inf = YamlToJson("a: -.inf");
  REQUIRE_FALSE(inf.ok());
  CHECK(inf.error().message() == "error converting YAML to JSON: json: unsupported value: -Inf");
}

TEST_CASE("yaml: multi-document streams skip empty documents") {
  auto r = YamlDocumentsToJson("---\na: 1\n---\n---\n# nothing\n---\nb: 2\n...\n");
  REQUIRE(r.ok());
  REQUIRE(r->size() == 2);
  CHECK(ToJson((*r)[0]) == R"({"a":1})");
  CHECK(ToJson((*r)[1]) == R"({"b":2})");
  auto none = YamlDocumentsToJson("");
  REQUIRE(none.ok());
  CHECK(none->empty());
  auto first = YamlToJson("a: 1\n---\nb: 2\n");
  REQUIRE(first.ok());
  CHECK(ToJson(*first) == R"({"a":1})");
}

TEST_CASE("yaml: malformed input is BadRequest with a line number") {
  auto r = YamlToJson("apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n  labels: a: b\n");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code() == minik::Code::kBadRequest);
  CHECK(r.error().message() ==
        "error converting YAML to JSON: yaml: line 5: mapping values are not allowed in this context");
  auto r2 = YamlDocumentsToJson("a: [1, 2\n");
  REQUIRE_FALSE(r2.ok());
  CHECK(r2.error().code() == minik::Code::kBadRequest);
  CHECK(r2.error().message().rfind("error converting YAML to JSON: yaml: line ", 0) == 0);
  auto r3 = YamlToJson("a: *nope\n");
  REQUIRE_FALSE(r3.ok());
}

TEST_CASE("yaml: alias bombs are refused") {
  std::string y = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  char prev = 'a';
  for (char c = 'b'; c <= 'j'; ++c) {
    y += std::string(1, c) + ": &" + c + " [";
    for (int i = 0; i < 10; ++i) y += std::string(i ? ", " : "") + "*" + prev;
    y += "]\n";
    prev = c;
  }
  auto r = YamlToJson(y);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message() == "error converting YAML to JSON: yaml: document contains excessive aliasing");
}

TEST_CASE("yaml: JsonToYaml round-trips and quotes ambiguous strings") {
  auto doc = minik::ParseJson(
      R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","labels":{}},"data":{"a":"true","b":"123","c":"plain text","d":"","e":"x: y","f":"multi\nline"},"list":[1,{"k":"v","n":null},[]],"n":1.5})");
  REQUIRE(doc.ok());
  std::string y = minik::JsonToYaml(*doc);
  CHECK(y.find("a: \"true\"") != std::string::npos);
  CHECK(y.find("b: \"123\"") != std::string::npos);
  CHECK(y.find("c: plain text") != std::string::npos);
  auto back = YamlToJson(y);
  REQUIRE(back.ok());
  CHECK(ToJson(*back) == ToJson(*doc));
}
