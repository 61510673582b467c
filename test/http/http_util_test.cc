// The helpers the HTTP server and client share: header lookup and the hand-over of unparsed
// input to an upgraded stream.
#include "http/http_util.h"

#include <catch2/catch.hpp>

#include "http/upgrade_internal.h"

namespace minik::http::internal {
namespace {

TEST_CASE("FindHeader answers the first header with the name, or nullptr", "[http_util]") {
  std::vector<std::pair<std::string, std::string>> headers = {
      {"content-type", "application/json"}, {"x-a", "1"}, {"x-a", "2"}};
  const std::string* v = FindHeader(headers, "x-a");
  REQUIRE(v != nullptr);
  CHECK(*v == "1");
  REQUIRE(FindHeader(headers, "content-type") != nullptr);
  CHECK(*FindHeader(headers, "content-type") == "application/json");
  CHECK(FindHeader(headers, "Content-Type") == nullptr);  // names are stored lower-cased
  CHECK(FindHeader(headers, "x-b") == nullptr);
  CHECK(FindHeader({}, "x-a") == nullptr);
}

TEST_CASE("ForwardUnparsed hands the bytes after the offset to the stream and empties the buffer",
          "[http_util]") {
  UpgradedStream stream(nullptr, "peer");
  std::string got;
  stream.Start({.on_data = [&](std::string_view d) { got.append(d); }});

  std::string in = "HTTP/1.1 101\r\n\r\nhello";
  size_t off = in.find("hello");
  ForwardUnparsed(&stream, &in, &off);
  CHECK(got == "hello");
  CHECK(in.empty());
  CHECK(off == 0);

  in = "whole";
  ForwardUnparsed(&stream, &in, &off);  // offset 0: everything
  CHECK(got == "hellowhole");
  CHECK(in.empty());

  in = "abc";
  off = 3;  // nothing left: the stream gets nothing
  ForwardUnparsed(&stream, &in, &off);
  CHECK(got == "hellowhole");
  CHECK(in.empty());
  CHECK(off == 0);
}

TEST_CASE("ForwardUnparsed without a stream drops the input", "[http_util]") {
  std::string in = "leftover";
  size_t off = 2;
  ForwardUnparsed(nullptr, &in, &off);
  CHECK(in.empty());
  CHECK(off == 0);
}

}  // namespace
}  // namespace minik::http::internal
