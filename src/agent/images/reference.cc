#include "agent/images/reference.h"

#include <cctype>
#include <string_view>
#include <vector>

#include "agent/images/image_store.h"

namespace minik::agent::images {
namespace {

constexpr size_t kNameMaxLength = 255;

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool IsAlnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }
bool IsHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool IsWord(char c) { return IsAlnum(c) || c == '_'; }

// pathComponent = [a-z0-9]+ ((?:[._]|__|[-]+) [a-z0-9]+)*
bool ValidPathComponent(std::string_view s) {
  size_t i = 0;
  auto alnum_run = [&]() {
    size_t start = i;
    while (i < s.size() && IsLowerAlnum(s[i])) ++i;
    return i > start;
  };
  if (!alnum_run()) return false;
  while (i < s.size()) {
    if (s[i] == '.') {
      ++i;
    } else if (s[i] == '_') {
      ++i;
      if (i < s.size() && s[i] == '_') ++i;
    } else if (s[i] == '-') {
      while (i < s.size() && s[i] == '-') ++i;
    } else {
      return false;
    }
    if (!alnum_run()) return false;
  }
  return true;
}

// domainComponent = [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
bool ValidDomainComponent(std::string_view s) {
  if (s.empty() || !IsAlnum(s.front()) || !IsAlnum(s.back())) return false;
  for (char c : s) {
    if (!IsAlnum(c) && c != '-') return false;
  }
  return true;
}

// host (":" port)?, host = domainName | "[" ipv6 "]"
bool ValidDomain(std::string_view s) {
  std::string_view host = s;
  if (!s.empty() && s.front() == '[') {
    size_t close = s.find(']');
    if (close == std::string_view::npos || close < 2) return false;
    for (char c : s.substr(1, close - 1)) {
      if (!IsHex(c) && c != ':') return false;
    }
    std::string_view rest = s.substr(close + 1);
    if (rest.empty()) return true;
    if (rest.front() != ':' || rest.size() < 2) return false;
    for (char c : rest.substr(1)) {
      if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    }
    return true;
  }
  size_t colon = s.find(':');
  if (colon != std::string_view::npos) {
    host = s.substr(0, colon);
    std::string_view port = s.substr(colon + 1);
    if (port.empty()) return false;
    for (char c : port) {
      if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    }
  }
  size_t start = 0;
  while (true) {
    size_t dot = host.find('.', start);
    std::string_view comp = host.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (!ValidDomainComponent(comp)) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

// tag = [\w][\w.-]{0,127}
bool ValidTag(std::string_view s) {
  if (s.empty() || s.size() > 128 || !IsWord(s.front())) return false;
  for (char c : s) {
    if (!IsWord(c) && c != '.' && c != '-') return false;
  }
  return true;
}

Status ValidateDigest(std::string_view d) {
  size_t colon = d.find(':');
  if (colon == std::string_view::npos || colon == 0) return Status::Invalid("invalid reference format");
  std::string_view alg = d.substr(0, colon);
  std::string_view hex = d.substr(colon + 1);
  // algorithm = [A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)*, encoded = hex{32,}
  bool need_alpha = true;
  for (char c : alg) {
    if (need_alpha) {
      if (!std::isalpha(static_cast<unsigned char>(c))) return Status::Invalid("invalid reference format");
      need_alpha = false;
    } else if (c == '-' || c == '_' || c == '+' || c == '.') {
      need_alpha = true;
    } else if (!IsAlnum(c)) {
      return Status::Invalid("invalid reference format");
    }
  }
  if (need_alpha || hex.size() < 32) return Status::Invalid("invalid reference format");
  for (char c : hex) {
    if (!IsHex(c)) return Status::Invalid("invalid reference format");
  }
  if (alg == "sha256") {
    if (hex.size() != 64) return Status::Invalid("invalid checksum digest length");
    for (char c : hex) {
      if (c >= 'A' && c <= 'F') return Status::Invalid("invalid checksum digest format");
    }
  } else if (alg == "sha384" || alg == "sha512") {
    if (hex.size() != (alg == "sha384" ? 96u : 128u)) return Status::Invalid("invalid checksum digest length");
  } else {
    return Status::Invalid("unsupported digest algorithm");
  }
  return Status::OK();
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

std::string Reference::String() const {
  std::string out = Name();
  if (!tag.empty()) out += ":" + tag;
  if (!digest.empty()) out += "@" + digest;
  return out;
}

bool IsDigest(const std::string& s) {
  if (s.size() != 71 || s.compare(0, 7, "sha256:") != 0) return false;
  for (size_t i = 7; i < s.size(); ++i) {
    if (!IsLowerAlnum(s[i]) || s[i] > 'f') return false;
  }
  return true;
}

StatusOr<Reference> ParseReference(const std::string& input) {
  if (input.empty())
    return Status::Invalid("invalid reference format: repository name must have at least one component");
  if (input.size() == 64) {
    bool all_hex = true;
    for (char c : input) all_hex = all_hex && IsLowerAlnum(c) && c <= 'f';
    if (all_hex) {
      return Status::Invalid("invalid repository name (" + input + "), cannot specify 64-byte hexadecimal strings");
    }
  }
  // Split the domain the way docker does: the first component is a domain only when it
  // contains '.' or ':', is "localhost", or has upper-case letters.
  std::string domain;
  std::string remainder;
  size_t slash = input.find('/');
  std::string_view first = std::string_view(input).substr(0, slash == std::string::npos ? 0 : slash);
  if (slash == std::string::npos ||
      (first.find_first_of(".:") == std::string_view::npos && first != "localhost" && Lower(first) == first)) {
    domain = "docker.io";
    remainder = input;
  } else {
    domain = std::string(first);
    remainder = input.substr(slash + 1);
  }
  if (domain == "index.docker.io") domain = "docker.io";
  if (domain == "docker.io" && remainder.find('/') == std::string::npos) remainder = "library/" + remainder;

  Reference ref;
  ref.domain = domain;
  std::string_view rest = remainder;
  size_t at = rest.find('@');
  if (at != std::string_view::npos) {
    ref.digest = std::string(rest.substr(at + 1));
    rest = rest.substr(0, at);
    Status st = ValidateDigest(ref.digest);
    if (!st.ok()) return st;
  }
  size_t colon = rest.rfind(':');
  size_t last_slash = rest.rfind('/');
  if (colon != std::string_view::npos && (last_slash == std::string_view::npos || colon > last_slash)) {
    ref.tag = std::string(rest.substr(colon + 1));
    rest = rest.substr(0, colon);
    if (!ValidTag(ref.tag)) return Status::Invalid("invalid reference format");
  }
  if (Lower(rest) != rest) {
    return Status::Invalid("invalid reference format: repository name (" + std::string(rest) + ") must be lowercase");
  }
  if (rest.empty()) return Status::Invalid("invalid reference format");
  ref.path = std::string(rest);
  if (!ValidDomain(ref.domain)) return Status::Invalid("invalid reference format");
  size_t start = 0;
  while (true) {
    size_t s = rest.find('/', start);
    std::string_view comp = rest.substr(start, s == std::string_view::npos ? std::string_view::npos : s - start);
    if (!ValidPathComponent(comp)) return Status::Invalid("invalid reference format");
    if (s == std::string_view::npos) break;
    start = s + 1;
  }
  if (ref.Name().size() > kNameMaxLength) {
    return Status::Invalid("invalid reference format: repository name must not be more than 255 characters");
  }
  if (ref.tag.empty() && ref.digest.empty()) ref.tag = "latest";
  return ref;
}

StatusOr<std::string> NormalizeReference(const std::string& ref) {
  StatusOr<Reference> r = ParseReference(ref);
  if (!r.ok()) return r.status();
  return r->String();
}

}  // namespace minik::agent::images
