#include "pki/pki.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <memory>

#include "common/log.h"

namespace minik::pki {

namespace {

template <typename T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using KeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;
using ExtPtr = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION, X509_EXTENSION_free>>;
using StorePtr = std::unique_ptr<X509_STORE, Deleter<X509_STORE, X509_STORE_free>>;
using StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, Deleter<X509_STORE_CTX, X509_STORE_CTX_free>>;

std::string OpenSslErrors() {
  std::string out;
  unsigned long e;
  char buf[256];
  while ((e = ERR_get_error()) != 0) {
    ERR_error_string_n(e, buf, sizeof(buf));
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

Status SslError(const std::string& what) { return Status::Internal(what + ": " + OpenSslErrors()); }

StatusOr<std::vector<X509Ptr>> ReadCerts(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  std::vector<X509Ptr> out;
  while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) out.emplace_back(x);
  ERR_clear_error();
  if (out.empty()) return Status::Invalid("no PEM certificate found");
  return out;
}

StatusOr<KeyPtr> ReadKey(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  KeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) {
    ERR_clear_error();
    return Status::Invalid("no PEM private key found");
  }
  return key;
}

std::string BioText(BIO* bio) {
  BUF_MEM* mem = nullptr;
  BIO_get_mem_ptr(bio, &mem);
  return std::string(mem->data, mem->length);
}

StatusOr<std::string> CertPem(X509* x) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_X509(bio.get(), x) != 1) return SslError("writing certificate");
  return BioText(bio.get());
}

StatusOr<std::string> KeyPem(EVP_PKEY* k) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_PrivateKey(bio.get(), k, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return SslError("writing key");
  }
  return BioText(bio.get());
}

StatusOr<KeyPtr> NewKey() {
  KeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return SslError("generating P-256 key");
  return key;
}

Status AddExt(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  ExtPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  if (!ext) return SslError("extension " + std::string(OBJ_nid2sn(nid)) + "=" + value);
  if (X509_add_ext(cert, ext.get(), -1) != 1) return SslError("adding extension");
  return Status::OK();
}

bool IsIp(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

// A new certificate for key, subject (O..., CN), valid now for days, not yet signed.
StatusOr<X509Ptr> NewCert(EVP_PKEY* key, const std::string& cn, const std::vector<std::string>& orgs, int days) {
  X509Ptr x(X509_new());
  X509_set_version(x.get(), 2);
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof(serial)) != 1) return SslError("random serial");
  serial[0] &= 0x7f;  // positive
  serial[0] |= 0x01;  // and 16 bytes long
  BIGNUM* bn = BN_bin2bn(serial, sizeof(serial), nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(x.get()), 0);
  X509_time_adj_ex(X509_getm_notAfter(x.get()), days, 0, nullptr);
  X509_NAME* name = X509_get_subject_name(x.get());
  for (const auto& o : orgs) {
    X509_NAME_add_entry_by_NID(name, NID_organizationName, MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(o.c_str()), -1, -1, 0);
  }
  X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(cn.c_str()),
                             -1, -1, 0);
  X509_set_pubkey(x.get(), key);
  return x;
}

std::string Canonical(const std::string& ip) {
  unsigned char buf[16];
  char out[INET6_ADDRSTRLEN];
  if (inet_pton(AF_INET, ip.c_str(), buf) == 1) return inet_ntop(AF_INET, buf, out, sizeof(out));
  if (inet_pton(AF_INET6, ip.c_str(), buf) == 1) return inet_ntop(AF_INET6, buf, out, sizeof(out));
  return ip;
}

int64_t AsnTime(const ASN1_TIME* t) {
  struct tm tm {};
  if (ASN1_TIME_to_tm(t, &tm) != 1) return 0;
  return static_cast<int64_t>(timegm(&tm));
}

std::string EntryText(X509_NAME_ENTRY* e) {
  unsigned char* utf8 = nullptr;
  int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e));
  if (n < 0) return "";
  std::string s(reinterpret_cast<char*>(utf8), static_cast<size_t>(n));
  OPENSSL_free(utf8);
  return s;
}

std::string NameEntry(X509_NAME* name, int nid) {
  std::string out;
  for (int i = -1; (i = X509_NAME_get_index_by_NID(name, nid, i)) >= 0;) out = EntryText(X509_NAME_get_entry(name, i));
  return out;
}

bool FileExists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

Status MkdirAll(const std::string& dir, mode_t mode) {
  std::string cur;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = dir.find('/', pos + 1);
    cur = dir.substr(0, pos);
    if (cur.empty()) continue;
    if (mkdir(cur.c_str(), mode) != 0 && errno != EEXIST) {
      return Status::Internal("mkdir " + cur + ": " + strerror(errno));
    }
  }
  return Status::OK();
}

}  // namespace

StatusOr<CertKey> CreateCA(const std::string& common_name, int days) {
  MINIK_ASSIGN_OR_RETURN(KeyPtr key, NewKey());
  MINIK_ASSIGN_OR_RETURN(X509Ptr x, NewCert(key.get(), common_name, {}, days));
  X509_set_issuer_name(x.get(), X509_get_subject_name(x.get()));
  MINIK_RETURN_IF_ERROR(AddExt(x.get(), x.get(), NID_basic_constraints, "critical,CA:TRUE"));
  MINIK_RETURN_IF_ERROR(
      AddExt(x.get(), x.get(), NID_key_usage, "critical,digitalSignature,keyEncipherment,keyCertSign"));
  MINIK_RETURN_IF_ERROR(AddExt(x.get(), x.get(), NID_subject_key_identifier, "hash"));
  if (X509_sign(x.get(), key.get(), EVP_sha256()) == 0) return SslError("signing CA");
  CertKey out;
  MINIK_ASSIGN_OR_RETURN(out.cert_pem, CertPem(x.get()));
  MINIK_ASSIGN_OR_RETURN(out.key_pem, KeyPem(key.get()));
  return out;
}

StatusOr<CertKey> IssueCert(const CertKey& ca, const CertRequest& req) {
  MINIK_ASSIGN_OR_RETURN(auto ca_certs, ReadCerts(ca.cert_pem));
  MINIK_ASSIGN_OR_RETURN(KeyPtr ca_key, ReadKey(ca.key_pem));
  X509* issuer = ca_certs[0].get();
  MINIK_ASSIGN_OR_RETURN(KeyPtr key, NewKey());
  MINIK_ASSIGN_OR_RETURN(X509Ptr x, NewCert(key.get(), req.common_name, req.organizations, req.days));
  X509_set_issuer_name(x.get(), X509_get_subject_name(issuer));
  MINIK_RETURN_IF_ERROR(AddExt(x.get(), issuer, NID_basic_constraints, "critical,CA:FALSE"));
  MINIK_RETURN_IF_ERROR(AddExt(x.get(), issuer, NID_key_usage, "critical,digitalSignature,keyEncipherment"));
  std::string eku;
  if (req.server_auth) eku = "serverAuth";
  if (req.client_auth) eku += eku.empty() ? "clientAuth" : ",clientAuth";
  if (!eku.empty()) MINIK_RETURN_IF_ERROR(AddExt(x.get(), issuer, NID_ext_key_usage, eku));
  MINIK_RETURN_IF_ERROR(AddExt(x.get(), issuer, NID_authority_key_identifier, "keyid:always"));
  std::string san;
  for (const auto& d : req.dns_names) {
    if (d.empty() || d.find(',') != std::string::npos) return Status::Invalid("bad DNS name \"" + d + "\"");
    san += (san.empty() ? "DNS:" : ",DNS:") + d;
  }
  for (const auto& ip : req.ip_addresses) {
    if (!IsIp(ip)) return Status::Invalid("bad IP address \"" + ip + "\"");
    san += (san.empty() ? "IP:" : ",IP:") + ip;
  }
  if (!san.empty()) MINIK_RETURN_IF_ERROR(AddExt(x.get(), issuer, NID_subject_alt_name, san));
  if (X509_sign(x.get(), ca_key.get(), EVP_sha256()) == 0) return SslError("signing certificate");
  CertKey out;
  MINIK_ASSIGN_OR_RETURN(out.cert_pem, CertPem(x.get()));
  MINIK_ASSIGN_OR_RETURN(out.key_pem, KeyPem(key.get()));
  return out;
}

StatusOr<CertInfo> ParseCert(std::string_view cert_pem) {
  MINIK_ASSIGN_OR_RETURN(auto certs, ReadCerts(cert_pem));
  X509* x = certs[0].get();
  CertInfo info;
  X509_NAME* subject = X509_get_subject_name(x);
  info.common_name = NameEntry(subject, NID_commonName);
  for (int i = -1; (i = X509_NAME_get_index_by_NID(subject, NID_organizationName, i)) >= 0;) {
    info.organizations.push_back(EntryText(X509_NAME_get_entry(subject, i)));
  }
  info.issuer_common_name = NameEntry(X509_get_issuer_name(x), NID_commonName);
  info.is_ca = (X509_get_extension_flags(x) & EXFLAG_CA) != 0;
  info.not_before = AsnTime(X509_get0_notBefore(x));
  info.not_after = AsnTime(X509_get0_notAfter(x));
  auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x, NID_subject_alt_name, nullptr, nullptr));
  if (names != nullptr) {
    for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
      GENERAL_NAME* gn = sk_GENERAL_NAME_value(names, i);
      if (gn->type == GEN_DNS) {
        const ASN1_IA5STRING* s = gn->d.dNSName;
        info.dns_names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)), ASN1_STRING_length(s));
      } else if (gn->type == GEN_IPADD) {
        const ASN1_OCTET_STRING* s = gn->d.iPAddress;
        char buf[INET6_ADDRSTRLEN];
        int len = ASN1_STRING_length(s);
        if (len == 4 || len == 16) {
          inet_ntop(len == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(s), buf, sizeof(buf));
          info.ip_addresses.emplace_back(buf);
        }
      }
    }
    GENERAL_NAMES_free(names);
  }
  ERR_clear_error();
  return info;
}

Status VerifyCert(std::string_view cert_pem, std::string_view ca_pem) {
  MINIK_ASSIGN_OR_RETURN(auto certs, ReadCerts(cert_pem));
  MINIK_ASSIGN_OR_RETURN(auto cas, ReadCerts(ca_pem));
  StorePtr store(X509_STORE_new());
  for (auto& ca : cas) X509_STORE_add_cert(store.get(), ca.get());
  STACK_OF(X509)* chain = sk_X509_new_null();
  for (size_t i = 1; i < certs.size(); ++i) sk_X509_push(chain, certs[i].get());
  StoreCtxPtr ctx(X509_STORE_CTX_new());
  X509_STORE_CTX_init(ctx.get(), store.get(), certs[0].get(), chain);
  int ok = X509_verify_cert(ctx.get());
  int err = X509_STORE_CTX_get_error(ctx.get());
  sk_X509_free(chain);
  ERR_clear_error();
  if (ok != 1)
    return Status::Invalid(std::string("certificate does not verify: ") + X509_verify_cert_error_string(err));
  return Status::OK();
}

Status CheckKeyMatches(std::string_view cert_pem, std::string_view key_pem) {
  MINIK_ASSIGN_OR_RETURN(auto certs, ReadCerts(cert_pem));
  MINIK_ASSIGN_OR_RETURN(KeyPtr key, ReadKey(key_pem));
  int ok = X509_check_private_key(certs[0].get(), key.get());
  ERR_clear_error();
  if (ok != 1) return Status::Invalid("private key does not match the certificate");
  return Status::OK();
}

StatusOr<std::string> ReadFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Status::NotFound(path + ": no such file");
    return Status::Internal("open " + path + ": " + strerror(errno));
  }
  std::string out;
  char buf[8192];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      close(fd);
      return Status::Internal("read " + path + ": " + strerror(e));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

Status WriteFileAtomic(const std::string& path, std::string_view data, int mode) {
  std::string tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return Status::Internal("create " + tmp + ": " + strerror(errno));
  auto fail = [&](const char* what) {
    int e = errno;
    close(fd);
    unlink(tmp.c_str());
    return Status::Internal(std::string(what) + " " + tmp + ": " + strerror(e));
  };
  if (fchmod(fd, static_cast<mode_t>(mode)) != 0) return fail("chmod");
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("write");
    }
    off += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0) return fail("fsync");
  close(fd);
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    unlink(tmp.c_str());
    return Status::Internal("rename " + tmp + ": " + strerror(e));
  }
  std::string dir = path.substr(0, path.rfind('/') == std::string::npos ? 0 : path.rfind('/'));
  if (dir.empty()) dir = ".";
  int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  return Status::OK();
}

StatusOr<CertKey> LoadCertKey(const std::string& base) {
  CertKey ck;
  MINIK_ASSIGN_OR_RETURN(ck.cert_pem, ReadFile(base + ".crt"));
  MINIK_ASSIGN_OR_RETURN(ck.key_pem, ReadFile(base + ".key"));
  MINIK_RETURN_IF_ERROR(CheckKeyMatches(ck.cert_pem, ck.key_pem).WithContext(base));
  return ck;
}

Status SaveCertKey(const std::string& base, const CertKey& ck) {
  MINIK_RETURN_IF_ERROR(WriteFileAtomic(base + ".key", ck.key_pem, 0600));
  return WriteFileAtomic(base + ".crt", ck.cert_pem, 0644);
}

namespace {

StatusOr<CertKey> EnsureCA(const std::string& base, const std::string& prefix, bool* created) {
  *created = false;
  if (FileExists(base + ".crt") && FileExists(base + ".key")) return LoadCertKey(base);
  std::string cn = prefix + "@" + std::to_string(time(nullptr));
  MINIK_ASSIGN_OR_RETURN(CertKey ca, CreateCA(cn));
  MINIK_RETURN_IF_ERROR(SaveCertKey(base, ca));
  MINIK_LOG(Info) << "created CA " << cn << " in " << base << ".crt";
  *created = true;
  return ca;
}

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  for (const auto& x : v) {
    if (x == s) return true;
  }
  return false;
}

// Loads base.{crt,key}, or issues a new pair when missing, not signed by ca, or lacking a SAN.
StatusOr<CertKey> EnsureLeaf(const std::string& base, const CertKey& ca, const CertRequest& req) {
  if (FileExists(base + ".crt") && FileExists(base + ".key")) {
    auto loaded = LoadCertKey(base);
    if (loaded.ok() && VerifyCert(loaded->cert_pem, ca.cert_pem).ok()) {
      auto info = ParseCert(loaded->cert_pem);
      bool complete = info.ok();
      for (const auto& d : req.dns_names) complete = complete && Contains(info->dns_names, d);
      for (const auto& ip : req.ip_addresses) complete = complete && Contains(info->ip_addresses, Canonical(ip));
      if (complete) return loaded;
    }
    MINIK_LOG(Info) << "reissuing " << base << ".crt";
  }
  MINIK_ASSIGN_OR_RETURN(CertKey ck, IssueCert(ca, req));
  MINIK_RETURN_IF_ERROR(SaveCertKey(base, ck));
  return ck;
}

}  // namespace

StatusOr<ServerPki> EnsureServerPki(const std::string& dir, const ServerPkiOptions& options) {
  MINIK_RETURN_IF_ERROR(MkdirAll(dir, 0700));
  ServerPki p;
  p.dir = dir;
  auto path = [&](const char* name) { return dir + "/" + name; };
  bool created;
  MINIK_ASSIGN_OR_RETURN(CertKey server_ca, EnsureCA(path("server-ca"), "minik-server-ca", &created));
  MINIK_ASSIGN_OR_RETURN(CertKey client_ca, EnsureCA(path("client-ca"), "minik-client-ca", &created));

  CertRequest serving;
  serving.common_name = "kube-apiserver";
  serving.server_auth = true;
  serving.dns_names = {"kubernetes", "kubernetes.default", "kubernetes.default.svc",
                       "kubernetes.default.svc.cluster.local", "localhost"};
  serving.ip_addresses = {"127.0.0.1", "::1"};
  auto add_san = [&](const std::string& s) {
    if (s.empty()) return;
    if (IsIp(s)) {
      if (!Contains(serving.ip_addresses, Canonical(s))) serving.ip_addresses.push_back(Canonical(s));
    } else if (!Contains(serving.dns_names, s)) {
      serving.dns_names.push_back(s);
    }
  };
  add_san(options.node_name);
  add_san(options.service_ip);
  for (const auto& s : options.extra_sans) {
    if (s != "0.0.0.0" && s != "::") add_san(s);
  }
  MINIK_ASSIGN_OR_RETURN(CertKey serving_ck, EnsureLeaf(path("serving-kube-apiserver"), server_ca, serving));

  CertRequest admin;
  admin.common_name = "system:admin";
  admin.organizations = {"system:masters"};
  admin.client_auth = true;
  MINIK_ASSIGN_OR_RETURN(CertKey admin_ck, EnsureLeaf(path("client-admin"), client_ca, admin));

  p.server_ca_cert = path("server-ca.crt");
  p.server_ca_key = path("server-ca.key");
  p.client_ca_cert = path("client-ca.crt");
  p.client_ca_key = path("client-ca.key");
  p.serving_cert = path("serving-kube-apiserver.crt");
  p.serving_key = path("serving-kube-apiserver.key");
  p.admin_cert = path("client-admin.crt");
  p.admin_key = path("client-admin.key");
  p.server_ca_pem = server_ca.cert_pem;
  p.admin_cert_pem = admin_ck.cert_pem;
  p.admin_key_pem = admin_ck.key_pem;
  return p;
}

StatusOr<std::string> RandomHex(size_t n) {
  std::string bytes(n, '\0');
  if (n > 0 && RAND_bytes(reinterpret_cast<unsigned char*>(bytes.data()), static_cast<int>(n)) != 1) {
    return SslError("RAND_bytes");
  }
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * n);
  for (unsigned char c : bytes) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}


}  // namespace minik::pki
