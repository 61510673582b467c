// Small string helpers shared by every module.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace minik {

std::vector<std::string_view> Split(std::string_view s, char sep);
std::string_view Trim(std::string_view s);
std::string Join(const std::vector<std::string>& parts, std::string_view sep);
std::string Base64Encode(std::string_view data);
// Accepts standard and URL-safe alphabets, with or without padding; false on bad input.
bool Base64Decode(std::string_view in, std::string* out);
// Parses a base-10 int64 with no sign or trailing characters allowed beyond a leading '-'.
bool ParseInt64(std::string_view s, int64_t* out);

}  // namespace minik

namespace minik {
// A random RFC 4122 version 4 UUID ("0b5e2a8e-...").
std::string NewUuid();
}  // namespace minik
