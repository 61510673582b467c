#include "pki/jwt.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include <cstdint>
#include <vector>

#include "pki/pki.h"

namespace minik::pki {

namespace {

template <typename T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX, EVP_MD_CTX_free>>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX, EVP_PKEY_CTX_free>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>>;

Status SslError(const std::string& what) {
  unsigned long e = ERR_get_error();
  char buf[256];
  std::string detail = "unknown OpenSSL error";
  if (e) {
    ERR_error_string_n(e, buf, sizeof buf);
    detail = buf;
  }
  ERR_clear_error();
  return Status::Internal(what + ": " + detail);
}

std::string BioText(BIO* bio) {
  BUF_MEM* mem = nullptr;
  BIO_get_mem_ptr(bio, &mem);
  return std::string(mem->data, mem->length);
}

StatusOr<std::string> BnBase64Url(const EVP_PKEY* key, const char* param) {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(key, param, &raw) != 1) return SslError(std::string("reading RSA ") + param);
  BnPtr bn(raw);
  std::string bytes(static_cast<size_t>(BN_num_bytes(bn.get())), '\0');
  BN_bn2bin(bn.get(), reinterpret_cast<unsigned char*>(bytes.data()));
  return Base64UrlEncode(bytes);
}

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

}  // namespace

std::string Base64UrlEncode(std::string_view data) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  size_t i = 0;
  auto b = [&](size_t k) { return static_cast<uint32_t>(static_cast<unsigned char>(data[k])); };
  for (; i + 3 <= data.size(); i += 3) {
    uint32_t v = b(i) << 16 | b(i + 1) << 8 | b(i + 2);
    out += kAlphabet[v >> 18 & 63];
    out += kAlphabet[v >> 12 & 63];
    out += kAlphabet[v >> 6 & 63];
    out += kAlphabet[v & 63];
  }
  if (data.size() - i == 1) {
    uint32_t v = b(i) << 16;
    out += kAlphabet[v >> 18 & 63];
    out += kAlphabet[v >> 12 & 63];
  } else if (data.size() - i == 2) {
    uint32_t v = b(i) << 16 | b(i + 1) << 8;
    out += kAlphabet[v >> 18 & 63];
    out += kAlphabet[v >> 12 & 63];
    out += kAlphabet[v >> 6 & 63];
  }
  return out;
}

StatusOr<std::string> Base64UrlDecode(std::string_view text) {
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  if (text.size() % 4 == 1) return Status::Invalid("illegal base64 data: bad length");
  std::string out;
  out.reserve(text.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char ch : text) {
    int v;
    if (ch >= 'A' && ch <= 'Z') v = ch - 'A';
    else if (ch >= 'a' && ch <= 'z') v = ch - 'a' + 26;
    else if (ch >= '0' && ch <= '9') v = ch - '0' + 52;
    else if (ch == '-') v = 62;
    else if (ch == '_') v = 63;
    else return Status::Invalid("illegal base64 data");
    acc = acc << 6 | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>(acc >> bits & 0xff);
    }
  }
  return out;
}

StatusOr<std::string> CreateRsaKeyPem(int bits) {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_RSA, nullptr));
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1 || EVP_PKEY_CTX_set_rsa_keygen_bits(ctx.get(), bits) != 1) {
    return SslError("RSA key generation");
  }
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_keygen(ctx.get(), &raw) != 1) return SslError("RSA key generation");
  KeyPtr key(raw);
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return SslError("writing RSA key");
  }
  return BioText(bio.get());
}

StatusOr<std::string> EnsureRsaKeyFile(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) {
    auto pem = ReadFile(path);
    if (!pem.ok()) return pem.error();
    return pem;
  }
  MINIK_ASSIGN_OR_RETURN(std::string pem, CreateRsaKeyPem(2048));
  MINIK_RETURN_IF_ERROR(WriteFileAtomic(path, pem, 0600));
  return pem;
}

StatusOr<Jws> ParseJws(std::string_view token) {
  size_t d1 = token.find('.');
  size_t d2 = d1 == std::string_view::npos ? d1 : token.find('.', d1 + 1);
  if (d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos) {
    return Status::Invalid("not a compact JWS");
  }
  Jws out;
  MINIK_ASSIGN_OR_RETURN(out.header, Base64UrlDecode(token.substr(0, d1)));
  MINIK_ASSIGN_OR_RETURN(out.payload, Base64UrlDecode(token.substr(d1 + 1, d2 - d1 - 1)));
  MINIK_ASSIGN_OR_RETURN(out.signature, Base64UrlDecode(token.substr(d2 + 1)));
  out.signing_input = std::string(token.substr(0, d2));
  return out;
}

struct JwtKey::Impl {
  KeyPtr key;
};

JwtKey::JwtKey(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
JwtKey::~JwtKey() = default;

StatusOr<std::unique_ptr<JwtKey>> JwtKey::Load(std::string_view private_key_pem) {
  BioPtr bio(BIO_new_mem_buf(private_key_pem.data(), static_cast<int>(private_key_pem.size())));
  KeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) {
    ERR_clear_error();
    return Status::Invalid("no PEM private key found");
  }
  if (EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_RSA) return Status::Invalid("the service account key is not an RSA key");
  unsigned char* der = nullptr;
  int len = i2d_PUBKEY(key.get(), &der);
  if (len <= 0) return SslError("encoding the public key");
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int dlen = 0;
  int ok = EVP_Digest(der, static_cast<size_t>(len), digest, &dlen, EVP_sha256(), nullptr);
  OPENSSL_free(der);
  if (ok != 1) return SslError("hashing the public key");
  BioPtr pub(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_PUBKEY(pub.get(), key.get()) != 1) return SslError("writing the public key");
  MINIK_ASSIGN_OR_RETURN(std::string n, BnBase64Url(key.get(), OSSL_PKEY_PARAM_RSA_N));
  MINIK_ASSIGN_OR_RETURN(std::string e, BnBase64Url(key.get(), OSSL_PKEY_PARAM_RSA_E));
  auto impl = std::make_unique<Impl>();
  impl->key = std::move(key);
  std::unique_ptr<JwtKey> out(new JwtKey(std::move(impl)));
  out->key_id_ = Base64UrlEncode(std::string_view(reinterpret_cast<const char*>(digest), dlen));
  out->public_pem_ = BioText(pub.get());
  out->jwk_n_ = std::move(n);
  out->jwk_e_ = std::move(e);
  return out;
}

StatusOr<std::string> JwtKey::Sign(std::string_view payload_json) const {
  std::string input = Base64UrlEncode("{\"alg\":\"RS256\",\"kid\":\"" + key_id_ + "\"}") + "." +
                      Base64UrlEncode(payload_json);
  MdCtxPtr ctx(EVP_MD_CTX_new());
  size_t siglen = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, impl_->key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &siglen, reinterpret_cast<const unsigned char*>(input.data()),
                     input.size()) != 1) {
    return SslError("signing the token");
  }
  std::string sig(siglen, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &siglen,
                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1) {
    return SslError("signing the token");
  }
  sig.resize(siglen);
  return input + "." + Base64UrlEncode(sig);
}

bool JwtKey::Verify(std::string_view signing_input, std::string_view signature) const {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, impl_->key.get()) != 1) {
    ERR_clear_error();
    return false;
  }
  int r = EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                           reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size());
  if (r != 1) ERR_clear_error();
  return r == 1;
}

}  // namespace minik::pki
