// Helpers shared by the HTTP server and client (internal to src/http). Loop thread only.
#pragma once

#include <openssl/x509.h>
#include <sys/socket.h>

#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace minik::http::internal {

// The value of the first header named lower_name (names stored lower-cased), or nullptr: what
// Request::Header and Response::Header answer.
const std::string* FindHeader(const std::vector<std::pair<std::string, std::string>>& headers,
                              std::string_view lower_name);

// "OK", "Not Found", ... ("Unknown" for codes without a reason phrase).
const char* StatusText(int status);

// "1.2.3.4:80" or "[::1]:80".
std::string JoinHostPort(const std::string& host, int port);
std::string FormatAddress(const sockaddr* sa);

// The UTF-8 text of one X509 name entry.
std::string X509EntryText(X509_NAME_ENTRY* entry);

// The HTTP Date header value, formatted at most once a second.
class DateCache {
 public:
  const std::string& Get();

 private:
  time_t last_ = 0;
  std::string value_;
};

}  // namespace minik::http::internal
