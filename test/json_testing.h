// JSON helpers for the unit tests (test code only).
#pragma once

#include <catch2/catch.hpp>
#include <string>
#include <string_view>

#include "common/json.h"

namespace minik::testing {

// The document `text` parses to; a test that passes invalid JSON fails with the text.
inline JsonDoc J(std::string_view text) {
  auto d = ParseJson(text);
  if (!d.ok()) FAIL("bad JSON: " << d.error().ToString() << "\n" << text);
  return std::move(*d);
}

// The string v holds, or "<none>" when v is missing or not a string.
inline std::string S(const JsonValue* v) { return v && v->IsString() ? v->GetString() : std::string("<none>"); }

}  // namespace minik::testing
