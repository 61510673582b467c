// JSON Web Tokens signed RS256 (RFC 7515/7519), as the API server's service account token issuer
// signs them: the signing key pair (RSA 2048, PEM, k3s's server/tls/service.key), the key id
// upstream derives from the public key, signing and signature verification. Claims are JSON text;
// what they mean is the caller's business (server/service_account_tokens.h).
//
// Threading: free functions are thread-safe; a JwtKey is immutable after Load and may be used from
// any thread (OpenSSL 3 allows concurrent signing and verification with one EVP_PKEY).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace minik::pki {

// base64url without padding (RFC 4648 §5), as JWS uses it.
std::string Base64UrlEncode(std::string_view data);
// Accepts input with or without '=' padding; Invalid on other characters.
StatusOr<std::string> Base64UrlDecode(std::string_view text);

// A new RSA private key (PKCS#8 PEM).
StatusOr<std::string> CreateRsaKeyPem(int bits = 2048);
// Reads the private key at path, or creates one there (mode 0600, atomically) when the file does
// not exist. Blocking file I/O: call at boot.
StatusOr<std::string> EnsureRsaKeyFile(const std::string& path);

// The parts of a compact JWS (header.payload.signature), decoded.
struct Jws {
  std::string header;         // JSON text
  std::string payload;        // JSON text
  std::string signing_input;  // "<b64 header>.<b64 payload>" as received
  std::string signature;      // raw bytes
};
// Splits and decodes a compact JWS; Invalid when it is not one.
StatusOr<Jws> ParseJws(std::string_view token);

class JwtKey {
 public:
  // From a PEM private key (RSA), as EnsureRsaKeyFile returns.
  static StatusOr<std::unique_ptr<JwtKey>> Load(std::string_view private_key_pem);
  ~JwtKey();
  JwtKey(const JwtKey&) = delete;
  JwtKey& operator=(const JwtKey&) = delete;

  // base64url(SHA-256(DER SubjectPublicKeyInfo)), upstream's keyIDFromPublicKey.
  const std::string& key_id() const { return key_id_; }
  // The public key as PEM (SubjectPublicKeyInfo) and as a JWK's "n" and "e" (base64url).
  const std::string& public_key_pem() const { return public_pem_; }
  const std::string& jwk_n() const { return jwk_n_; }
  const std::string& jwk_e() const { return jwk_e_; }

  // The compact JWS of payload (JSON text) with header {"alg":"RS256","kid":"<key id>"}.
  StatusOr<std::string> Sign(std::string_view payload_json) const;
  // True when signature is a valid RS256 signature of signing_input by this key.
  bool Verify(std::string_view signing_input, std::string_view signature) const;

 private:
  struct Impl;
  explicit JwtKey(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  std::string key_id_, public_pem_, jwk_n_, jwk_e_;
};

}  // namespace minik::pki
