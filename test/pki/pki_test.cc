#include "pki/pki.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <set>

namespace minik::pki {
namespace {

struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/minik-pki-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string path;
};

std::string Sh(const std::string& cmd, int* code) {
  FILE* f = popen((cmd + " 2>&1").c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
  int st = pclose(f);
  *code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return out;
}

bool Has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

int Mode(const std::string& path) {
  struct stat st;
  REQUIRE(stat(path.c_str(), &st) == 0);
  return st.st_mode & 0777;
}

TEST_CASE("EnsureServerPki lays out k3s-like files that openssl verifies", "[pki]") {
  TempDir tmp;
  std::string dir = tmp.path + "/server/tls";
  ServerPkiOptions opts;
  opts.node_name = "edge-1";
  opts.extra_sans = {"192.168.1.10", "0.0.0.0", "fd00::5", "minik.example.com"};
  auto p = EnsureServerPki(dir, opts);
  REQUIRE(p.ok());

  for (const char* name : {"server-ca", "client-ca", "serving-kube-apiserver", "client-admin"}) {
    REQUIRE(Mode(dir + "/" + name + ".key") == 0600);
    REQUIRE(Mode(dir + "/" + name + ".crt") == 0644);
  }
  REQUIRE(Mode(dir) == 0700);

  int code = -1;
  std::string out = Sh("openssl verify -CAfile " + p->server_ca_cert + " " + p->serving_cert, &code);
  INFO(out);
  REQUIRE(code == 0);
  out = Sh("openssl verify -CAfile " + p->client_ca_cert + " " + p->admin_cert, &code);
  REQUIRE(code == 0);
  // Crossed: the admin certificate is not signed by the server CA.
  Sh("openssl verify -CAfile " + p->server_ca_cert + " " + p->admin_cert, &code);
  REQUIRE(code != 0);
  out = Sh("openssl x509 -noout -ext subjectAltName -in " + p->serving_cert, &code);
  REQUIRE(code == 0);
  REQUIRE(out.find("DNS:kubernetes.default.svc.cluster.local") != std::string::npos);
  REQUIRE(out.find("IP Address:10.43.0.1") != std::string::npos);

  auto serving = ParseCert(*ReadFile(p->serving_cert));
  REQUIRE(serving.ok());
  REQUIRE(serving->common_name == "kube-apiserver");
  for (const char* d : {"kubernetes", "kubernetes.default", "kubernetes.default.svc",
                        "kubernetes.default.svc.cluster.local", "localhost", "edge-1", "minik.example.com"}) {
    INFO(d);
    REQUIRE(Has(serving->dns_names, d));
  }
  for (const char* ip : {"127.0.0.1", "::1", "10.43.0.1", "192.168.1.10", "fd00::5"}) {
    INFO(ip);
    REQUIRE(Has(serving->ip_addresses, ip));
  }
  REQUIRE_FALSE(Has(serving->ip_addresses, "0.0.0.0"));
  REQUIRE_FALSE(serving->is_ca);
  REQUIRE(serving->not_after - serving->not_before == 365 * 86400);

  auto ca = ParseCert(p->server_ca_pem);
  REQUIRE(ca.ok());
  REQUIRE(ca->is_ca);
  REQUIRE(ca->common_name.rfind("minik-server-ca@", 0) == 0);
  REQUIRE(std::stoll(ca->common_name.substr(16)) > 1700000000);
  REQUIRE(ca->not_after - ca->not_before == 3650LL * 86400);
  REQUIRE(serving->issuer_common_name == ca->common_name);
  out = Sh("openssl x509 -noout -text -in " + p->server_ca_cert, &code);
  REQUIRE(out.find("prime256v1") != std::string::npos);
  REQUIRE(out.find("CA:TRUE") != std::string::npos);

  auto admin = ParseCert(p->admin_cert_pem);
  REQUIRE(admin->common_name == "system:admin");
  REQUIRE(admin->organizations == std::vector<std::string>{"system:masters"});
  REQUIRE(CheckKeyMatches(p->admin_cert_pem, p->admin_key_pem).ok());
  REQUIRE(VerifyCert(p->admin_cert_pem, *ReadFile(p->client_ca_cert)).ok());
  REQUIRE_FALSE(VerifyCert(p->admin_cert_pem, p->server_ca_pem).ok());

  SECTION("a second call loads the same certificates") {
    auto again = EnsureServerPki(dir, opts);
    REQUIRE(again.ok());
    REQUIRE(again->server_ca_pem == p->server_ca_pem);
    REQUIRE(again->admin_cert_pem == p->admin_cert_pem);
    REQUIRE(again->admin_key_pem == p->admin_key_pem);
    REQUIRE(*ReadFile(p->serving_cert) == *ReadFile(again->serving_cert));
  }
  SECTION("a new SAN reissues only the serving certificate") {
    std::string old_serving = *ReadFile(p->serving_cert);
    opts.extra_sans.push_back("10.0.0.7");
    auto again = EnsureServerPki(dir, opts);
    REQUIRE(again.ok());
    REQUIRE(again->server_ca_pem == p->server_ca_pem);
    REQUIRE(again->admin_cert_pem == p->admin_cert_pem);
    std::string now = *ReadFile(p->serving_cert);
    REQUIRE(now != old_serving);
    REQUIRE(Has(ParseCert(now)->ip_addresses, "10.0.0.7"));
    REQUIRE(VerifyCert(now, p->server_ca_pem).ok());
  }
  SECTION("a missing CA is recreated and the certificates it signs are reissued") {
    std::filesystem::remove(dir + "/client-ca.key");
    auto again = EnsureServerPki(dir, opts);
    REQUIRE(again.ok());
    REQUIRE(again->server_ca_pem == p->server_ca_pem);
    REQUIRE(again->admin_cert_pem != p->admin_cert_pem);
    REQUIRE(VerifyCert(again->admin_cert_pem, *ReadFile(again->client_ca_cert)).ok());
  }
}

TEST_CASE("IssueCert validates its input", "[pki]") {
  auto ca = CreateCA("test-ca", 1);
  REQUIRE(ca.ok());
  CertRequest req;
  req.common_name = "x";
  req.ip_addresses = {"not-an-ip"};
  REQUIRE_FALSE(IssueCert(*ca, req).ok());
  req.ip_addresses.clear();
  req.dns_names = {"a,DNS:evil"};
  REQUIRE_FALSE(IssueCert(*ca, req).ok());
  REQUIRE_FALSE(IssueCert(CertKey{"junk", "junk"}, CertRequest{}).ok());
  REQUIRE_FALSE(ParseCert("junk").ok());
}

TEST_CASE("RandomHex", "[pki]") {
  auto a = RandomHex(16), b = RandomHex(16);
  REQUIRE(a.ok());
  REQUIRE(a->size() == 32);
  REQUIRE(a->find_first_not_of("0123456789abcdef") == std::string::npos);
  REQUIRE(*a != *b);

}

}  // namespace
}  // namespace minik::pki
