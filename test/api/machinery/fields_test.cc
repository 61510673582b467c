#include <catch2/catch.hpp>

#include <map>

#include "api/fields.h"

using minik::api::FieldSelector;

namespace {
FieldSelector P(std::string_view s) {
  auto r = FieldSelector::Parse(s);
  INFO(s);
  REQUIRE(r.ok());
  return *r;
}
std::string Err(std::string_view s) {
  auto r = FieldSelector::Parse(s);
  INFO(s);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code() == minik::Code::kBadRequest);
  return r.error().message();
}
minik::api::FieldGetter Getter(std::map<std::string, std::string> m) {
  return [m = std::move(m)](std::string_view f) -> std::optional<std::string> {
    auto it = m.find(std::string(f));
    if (it == m.end()) return std::nullopt;
    return it->second;
  };
}
}  // namespace

TEST_CASE("fields: parse, escape and print") {
  CHECK(P("").Empty());
  CHECK(P("metadata.name=x").String() == "metadata.name=x");
  CHECK(P("metadata.name==x").String() == "metadata.name=x");
  CHECK(P("status.phase!=Running,spec.nodeName=n1").String() == "spec.nodeName=n1,status.phase!=Running");
  CHECK(P("a=b\\,c\\=d\\\\e").requirements()[0].value == "b,c=d\\e");
  CHECK(P("a=b\\,c").String() == "a=b\\,c");
  CHECK(P("a=").requirements()[0].value.empty());
  CHECK(P("a=b,,c=d").requirements().size() == 2);
  CHECK(P("spec.nodeName=n1").RequiresExactMatch("spec.nodeName") == std::optional<std::string>("n1"));
  CHECK_FALSE(P("spec.nodeName!=n1").RequiresExactMatch("spec.nodeName"));
}

TEST_CASE("fields: matching") {
  auto get = Getter({{"metadata.name", "x"}, {"status.phase", "Running"}});
  CHECK(P("").Matches(get));
  CHECK(P("metadata.name=x").Matches(get));
  CHECK_FALSE(P("metadata.name=y").Matches(get));
  CHECK(P("status.phase!=Pending,metadata.name==x").Matches(get));
  CHECK(P("spec.nodeName=").Matches(get));  // a missing field reads as ""
  CHECK_FALSE(P("spec.nodeName!=").Matches(get));
}

TEST_CASE("fields: upstream error messages") {
  CHECK(Err("a") == "invalid selector: 'a'; can't understand 'a'");
  CHECK(Err("b=1,a") == "invalid selector: 'b=1,a'; can't understand 'a'");
  CHECK(Err("a=b=c") == "invalid field selector: unescaped character in value: 61");
  CHECK(Err("a=b\\x") == "invalid field selector: invalid escape sequence: \\x");
  CHECK(Err("a=b\\") == "invalid field selector: invalid escape sequence: \\");
  auto s = minik::api::FieldLabelNotSupportedError("spec.foo");
  CHECK(s.code() == minik::Code::kBadRequest);
  CHECK(s.message() == "field label not supported: spec.foo");
  CHECK(minik::api::EscapeFieldValue("a,b=c\\") == "a\\,b\\=c\\\\");
}
