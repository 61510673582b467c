// The cluster's public-key infrastructure: self-signed CAs, serving and client certificates
// (ECDSA P-256, as k3s), PEM files, random tokens and base64.
//
// Threading: every function is thread-safe (no shared state); file functions do blocking I/O,
// so call them at boot or off the event loop.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace minik::pki {

// A certificate and its private key, both PEM.
struct CertKey {
  std::string cert_pem;
  std::string key_pem;
};

// A self-signed CA (basicConstraints CA:TRUE, keyCertSign), valid for `days`.
StatusOr<CertKey> CreateCA(const std::string& common_name, int days = 3650);

struct CertRequest {
  std::string common_name;
  std::vector<std::string> organizations;  // subject O entries (Kubernetes groups)
  std::vector<std::string> dns_names;      // DNS SANs
  std::vector<std::string> ip_addresses;   // IP SANs, textual IPv4 or IPv6
  bool server_auth = false;                // extendedKeyUsage serverAuth
  bool client_auth = false;                // extendedKeyUsage clientAuth
  int days = 365;
};

// A leaf certificate for a fresh P-256 key, signed by `ca`.
StatusOr<CertKey> IssueCert(const CertKey& ca, const CertRequest& req);

// What a certificate says (for checks, reloads and tests).
struct CertInfo {
  std::string common_name;
  std::vector<std::string> organizations;
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;  // canonical text ("10.43.0.1", "::1")
  std::string issuer_common_name;
  bool is_ca = false;
  int64_t not_before = 0;  // unix seconds
  int64_t not_after = 0;
};
// Parses the first certificate of a PEM text.
StatusOr<CertInfo> ParseCert(std::string_view cert_pem);
// OK if cert_pem (first certificate) chains to ca_pem and is valid now.
Status VerifyCert(std::string_view cert_pem, std::string_view ca_pem);
// OK if key_pem is the private key of cert_pem.
Status CheckKeyMatches(std::string_view cert_pem, std::string_view key_pem);

// Files. WriteFileAtomic writes to a temporary file in the same directory, fsyncs, sets `mode`
// and renames over `path`.
StatusOr<std::string> ReadFile(const std::string& path);
Status WriteFileAtomic(const std::string& path, std::string_view data, int mode);
// Reads "<base>.crt" and "<base>.key".
StatusOr<CertKey> LoadCertKey(const std::string& base);
// Writes "<base>.crt" (0644) and "<base>.key" (0600).
Status SaveCertKey(const std::string& base, const CertKey& ck);

struct ServerPkiOptions {
  std::string node_name;                 // added as a DNS SAN of the serving certificate
  std::vector<std::string> extra_sans;   // advertise/bind addresses or names (IP or DNS)
  std::string service_ip = "10.43.0.1";  // first IP of the service CIDR
};

// Paths under <dir> (k3s's server/tls layout) and the PEM texts kubeconfigs embed.
struct ServerPki {
  std::string dir;
  std::string server_ca_cert, server_ca_key;  // signs serving certificates
  std::string client_ca_cert, client_ca_key;  // signs client certificates
  std::string serving_cert, serving_key;      // serving-kube-apiserver.{crt,key}
  std::string admin_cert, admin_key;          // client-admin.{crt,key}
  std::string server_ca_pem;                  // certificate-authority-data
  std::string admin_cert_pem, admin_key_pem;  // client-certificate-data / client-key-data
};

// Load-or-create: creates under dir (mode 0700) whatever is missing: server-ca, client-ca
// ("minik-server-ca@<unix time>", "minik-client-ca@<unix time>"), serving-kube-apiserver
// (CN "kube-apiserver", SANs kubernetes, kubernetes.default, kubernetes.default.svc,
// kubernetes.default.svc.cluster.local, localhost, node name, 127.0.0.1, ::1, service IP and the
// extra SANs) and client-admin (CN "system:admin", O "system:masters"). Existing files are kept,
// except a serving certificate lacking a required SAN, which is reissued.
StatusOr<ServerPki> EnsureServerPki(const std::string& dir, const ServerPkiOptions& options);

// n random bytes from RAND_bytes as 2n lowercase hex digits.
StatusOr<std::string> RandomHex(size_t n);

}  // namespace minik::pki
