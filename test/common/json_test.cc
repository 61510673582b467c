#include <catch2/catch.hpp>

#include "common/json.h"

using namespace minik;

TEST_CASE("ParseJson accepts a document and rejects garbage and trailing text") {
  auto ok = ParseJson(R"({"a":{"b":"c","n":3}})");
  REQUIRE(ok.ok());
  CHECK(*GetString(*Path(*ok, {"a"}), "b") == "c");
  CHECK(*GetInt(*Member(*ok, "a"), "n") == 3);
  CHECK(Path(*ok, {"a", "missing"}) == nullptr);
  CHECK_FALSE(ParseJson("{").ok());
  CHECK(ParseJson("{} x").status().code() == Code::kBadRequest);
}

TEST_CASE("SetMember replaces in place and EnsureObject creates") {
  auto doc = ParseJson(R"({"x":1,"y":2})");
  REQUIRE(doc.ok());
  auto& a = doc->GetAllocator();
  SetMember(*doc, "x", JsonValue(5), a);
  JsonValue& m = EnsureObject(*doc, "metadata", a);
  SetString(m, "name", "n1", a);
  CHECK(ToJson(*doc) == R"({"x":5,"y":2,"metadata":{"name":"n1"}})");
  RemoveMember(*doc, "y");
  CHECK(ToJson(*doc) == R"({"x":5,"metadata":{"name":"n1"}})");
}
