#include <catch2/catch.hpp>

#include "common/status.h"

using namespace minik;

TEST_CASE("Status OK costs nothing and reads as OK") {
  Status s;
  CHECK(s.ok());
  CHECK(s.code() == Code::kOk);
  CHECK(s.ToString() == "OK");
  CHECK(s.details() == nullptr);
}

TEST_CASE("Status carries code, message, context and details") {
  Status s = Status::NotFound("pods \"x\" not found");
  CHECK_FALSE(s.ok());
  CHECK(s.IsNotFound());
  CHECK(s.ToString() == "NotFound: pods \"x\" not found");
  Status c = s.WithContext("get");
  CHECK(c.message() == "get: pods \"x\" not found");
  CHECK(c.code() == Code::kNotFound);
  s.SetDetails(StatusDetails{"x", "", "pods", {}, 0});
  Status copy = s;
  REQUIRE(copy.details() != nullptr);
  CHECK(copy.details()->name == "x");
}

StatusOr<int> Half(int x) {
  if (x % 2) return Status::Invalid("odd");
  return x / 2;
}

Status UseHalf(int x, int* out) {
  MINIK_ASSIGN_OR_RETURN(int h, Half(x));
  *out = h;
  return Status::OK();
}

TEST_CASE("StatusOr holds a value or an error and the macros propagate") {
  int out = 0;
  CHECK(UseHalf(8, &out).ok());
  CHECK(out == 4);
  Status st = UseHalf(3, &out);
  CHECK(st.code() == Code::kInvalid);
  CHECK(st.message() == "odd");
}

#include <vector>

#include "common/strings.h"

TEST_CASE("Base64 round-trips and rejects bad input") {
  for (const std::string& s : std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff\x10", 3)}) {
    std::string back;
    REQUIRE(Base64Decode(Base64Encode(s), &back));
    CHECK(back == s);
  }
  CHECK(Base64Encode("hello") == "aGVsbG8=");
  CHECK(Base64Encode("f") == "Zg==");
  CHECK(Base64Encode("fo") == "Zm8=");
  CHECK(Base64Encode("foobar") == "Zm9vYmFy");
  CHECK(Base64Encode(std::string("\xff\xfe\x00", 3)) == "//4A");
  std::string all, back;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  REQUIRE(Base64Decode(Base64Encode(all), &back));
  CHECK(back == all);
  std::string out;
  CHECK_FALSE(Base64Decode("a$b=", &out));
}

TEST_CASE("Split, Trim, ParseInt64") {
  auto parts = Split("a,b,,c", ',');
  REQUIRE(parts.size() == 4);
  CHECK(parts[2].empty());
  CHECK(Trim("  x y \n") == "x y");
  int64_t v;
  CHECK(ParseInt64("-42", &v));
  CHECK(v == -42);
  CHECK_FALSE(ParseInt64("4x", &v));
  CHECK_FALSE(ParseInt64("", &v));
}
