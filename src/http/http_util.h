// Helpers shared by the HTTP server and client (internal to src/http). Loop thread only.
#pragma once

#include <openssl/x509.h>
#include <sys/socket.h>

#include <cstdint>
#include <ctime>
#include <string>

namespace minik::http::internal {

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
