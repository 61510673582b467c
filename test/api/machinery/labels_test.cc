#include <catch2/catch.hpp>

#include "api/labels.h"

using minik::api::LabelSelector;

namespace {
LabelSelector P(std::string_view s) {
  auto r = LabelSelector::Parse(s);
  INFO(s);
  REQUIRE(r.ok());
  return *r;
}
std::string Err(std::string_view s) {
  auto r = LabelSelector::Parse(s);
  INFO(s);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code() == minik::Code::kBadRequest);
  return r.error().message();
}
const std::map<std::string, std::string> kLabels = {{"app", "web"}, {"tier", "front"}, {"n", "5"}};
}  // namespace

TEST_CASE("labels: parse and print as upstream") {
  CHECK(P("").Empty());
  CHECK(P("a=b").String() == "a=b");
  CHECK(P("a==b").String() == "a==b");
  CHECK(P("a!=b").String() == "a!=b");
  CHECK(P("x in (foo,,baz),y,z notin ()").String() == "x in (,baz,foo),y,z notin ()");
  CHECK(P(" b = c , a ").String() == "a,b=c");  // sorted by key
  CHECK(P("!a").String() == "!a");
  CHECK(P("a>1,b<2").String() == "a>1,b<2");
  CHECK(P("a in (c, b)").String() == "a in (b,c)");
  CHECK(P("a=").String() == "a=");
  CHECK(P("example.com/key=v_1.2-x").String() == "example.com/key=v_1.2-x");
  CHECK(P("in in (in)").String() == "in in (in)");
  CHECK_FALSE(P("a").Empty());
}

TEST_CASE("labels: matching") {
  CHECK(P("").Matches(kLabels));
  CHECK(P("app=web").Matches(kLabels));
  CHECK(P("app==web,tier=front").Matches(kLabels));
  CHECK_FALSE(P("app=db").Matches(kLabels));
  CHECK(P("app!=db").Matches(kLabels));
  CHECK(P("missing!=x").Matches(kLabels));
  CHECK(P("app in (db,web)").Matches(kLabels));
  CHECK_FALSE(P("missing in (x)").Matches(kLabels));
  CHECK(P("missing notin (x)").Matches(kLabels));
  CHECK_FALSE(P("app notin (web)").Matches(kLabels));
  CHECK(P("app").Matches(kLabels));
  CHECK_FALSE(P("!app").Matches(kLabels));
  CHECK(P("!missing").Matches(kLabels));
  CHECK(P("n>4").Matches(kLabels));
  CHECK_FALSE(P("n>5").Matches(kLabels));
  CHECK(P("n<6").Matches(kLabels));
  CHECK_FALSE(P("app>1").Matches(kLabels));  // not an integer
  CHECK_FALSE(P("missing<1").Matches(kLabels));
  auto doc = minik::ParseJson(R"({"app":"web","tier":"front"})");
  REQUIRE(doc.ok());
  CHECK(P("app=web,tier").Matches(&*doc));
  CHECK_FALSE(P("app=web,!tier").Matches(&*doc));
  CHECK(P("!x").Matches(nullptr));
  CHECK_FALSE(P("x").Matches(nullptr));
  CHECK(P("app=web").RequiresExactMatch("app") == std::optional<std::string>("web"));
  CHECK(P("app in (web)").RequiresExactMatch("app") == std::optional<std::string>("web"));
  CHECK_FALSE(P("app in (a,b)").RequiresExactMatch("app"));
  CHECK_FALSE(LabelSelector::Nothing().Matches(kLabels));
  CHECK_FALSE(LabelSelector::Nothing().Empty());
}

TEST_CASE("labels: upstream error messages") {
  CHECK(Err("a in") == "unable to parse requirement: found '' expected: '('");
  CHECK(Err("a in (") == "unable to parse requirement: found '', expected: ',', ')' or identifier");
  CHECK(Err("a in (b") == "unable to parse requirement: found '', expected: ',' or ')'");
  CHECK(Err("a IN (b)") == "unable to parse requirement: found 'IN', expected: in, notin, =, ==, !=, gt, lt");
  CHECK(Err("a=b c") == "found 'c', expected: ',' or 'end of string'");
  CHECK(Err("a=b,") == "found '', expected: identifier after ','");
  CHECK(Err(",a") == "found ',', expected: !, identifier, or 'end of string'");
  CHECK(Err("!") == "unable to parse requirement: found '', expected: identifier");
  CHECK(Err("a=(b)") == "unable to parse requirement: found '(', expected: identifier");
  CHECK(Err("a:=b") ==
        "unable to parse requirement: <nil>: Invalid value: \"a:\": name part must consist of alphanumeric "
        "characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or "
        "'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')");
  CHECK(Err("a=b/c") ==
        "unable to parse requirement: values[0][a]: Invalid value: \"b/c\": a valid label must be an empty string or "
        "consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character "
        "(e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is "
        "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')");
  CHECK(Err("a>b") ==
        "unable to parse requirement: values[0]: Invalid value: \"b\": for 'Gt', 'Lt' operators, the value must be "
        "an integer");
}

TEST_CASE("labels: metav1.LabelSelector conversion") {
  auto sel = minik::ParseJson(
      R"({"matchLabels":{"app":"web"},"matchExpressions":[{"key":"tier","operator":"In","values":["front","back"]},{"key":"gone","operator":"DoesNotExist"}]})");
  REQUIRE(sel.ok());
  auto s = LabelSelector::FromLabelSelectorJson(&*sel);
  REQUIRE(s.ok());
  CHECK(s->String() == "app=web,!gone,tier in (back,front)");
  CHECK(s->Matches(kLabels));
  auto empty = minik::ParseJson("{}");
  REQUIRE(empty.ok());
  auto e = LabelSelector::FromLabelSelectorJson(&*empty);
  REQUIRE(e.ok());
  CHECK(e->Empty());
  CHECK(e->Matches(kLabels));
  auto n = LabelSelector::FromLabelSelectorJson(nullptr);
  REQUIRE(n.ok());
  CHECK_FALSE(n->Matches(kLabels));

  auto bad_op = minik::ParseJson(R"({"matchExpressions":[{"key":"a","operator":"Gt","values":["1"]}]})");
  auto r = LabelSelector::FromLabelSelectorJson(&*bad_op);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message() == "\"Gt\" is not a valid label selector operator");
  auto no_values = minik::ParseJson(R"({"matchExpressions":[{"key":"a","operator":"In"}]})");
  auto r2 = LabelSelector::FromLabelSelectorJson(&*no_values);
  REQUIRE_FALSE(r2.ok());
  CHECK(r2.error().message() ==
        "values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't be empty");
  auto exists_values = minik::ParseJson(R"({"matchExpressions":[{"key":"a","operator":"Exists","values":["x"]}]})");
  auto r3 = LabelSelector::FromLabelSelectorJson(&*exists_values);
  REQUIRE_FALSE(r3.ok());
  CHECK(r3.error().message() ==
        "values: Invalid value: []string{\"x\"}: values set must be empty for exists and does not exist");
  auto bad_key = minik::ParseJson(R"({"matchLabels":{"a b":"c"}})");
  auto r4 = LabelSelector::FromLabelSelectorJson(&*bad_key);
  REQUIRE_FALSE(r4.ok());
  CHECK(r4.error().message().rfind("key: Invalid value: \"a b\": name part must consist", 0) == 0);
}
