// Interoperability: the real curl (OpenSSL, ALPN h2+http/1.1) against the server.
#include <stdio.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <future>
#include <thread>

#include "http/server.h"
#include "test_util.h"

namespace minik::http {
namespace {

using testing::TestPki;

// A TLS server answering on its own loop thread.
class ServerThread {
 public:
  explicit ServerThread(ServerOptions so = {}) : server_(loop_, Handle, so) {
    const auto& p = TestPki();
    REQUIRE(server_.ConfigureTls(TlsFiles{p.serving_cert, p.serving_key, p.client_ca_cert}).ok());
    REQUIRE(server_.Listen("127.0.0.1", 0).ok());
    port_ = server_.port();
    thread_ = std::thread([this] { loop_.Run(); });
  }
  ~ServerThread() {
    loop_.Stop();
    thread_.join();
  }
  int port() const { return port_; }
  std::string url(const std::string& path) const { return "https://127.0.0.1:" + std::to_string(port_) + path; }

 private:
  static void Handle(Request& req, ResponseWriterPtr w) {
    if (req.path == "/who") {
      std::string o;
      for (const auto& x : req.peer.organizations) o += (o.empty() ? "\"" : ",\"") + x + "\"";
      w->Send(200, {{"Content-Type", "application/json"}},
              std::string("{\"verified\":") + (req.peer.verified ? "true" : "false") + ",\"cn\":\"" +
                  req.peer.common_name + "\",\"o\":[" + o + "]}");
    } else if (req.path == "/version") {
      w->Send(200, {{"Content-Type", "application/json"}},
              std::string("{\"major\":\"1\",\"minor\":\"32\",\"gitVersion\":\"v1.32.0+minik\",\"user\":\"") +
                  req.peer.common_name + "\"}");
    } else if (req.path == "/stream") {
      w->StartStream(200, {{"Content-Type", "application/json"}});
      for (int i = 0; i < 3; ++i) w->Write("{\"n\":" + std::to_string(i) + "}\n");
      w->End();
    } else {
      const std::string* te = req.Header("transfer-encoding");
      w->Send(200, {{"Content-Type", "text/plain"}},
              req.method + " len=" + std::to_string(req.body.size()) + " te=" + (te ? *te : "") + "\n");
    }
  }

  Loop loop_;
  Server server_;
  int port_ = 0;
  std::thread thread_;
};

// Runs a shell command, returns its stdout (and stderr when asked) and exit code.
std::string Sh(const std::string& cmd, int* code = nullptr) {
  FILE* f = popen(cmd.c_str(), "r");
  REQUIRE(f != nullptr);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
  int st = pclose(f);
  if (code) *code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return out;
}

std::string Curl(const std::string& args) {
  return Sh("curl -sS --max-time 10 --cacert " + TestPki().server_ca_cert + " " + args + " 2>&1");
}

TEST_CASE("curl: client certificate, none, and ALPN", "[curl]") {
  ServerThread s;
  const auto& p = TestPki();
  SECTION("with the admin certificate") {
    std::string out = Curl("--cert " + p.admin_cert + " --key " + p.admin_key + " " + s.url("/who"));
    REQUIRE(out == "{\"verified\":true,\"cn\":\"system:admin\",\"o\":[\"system:masters\"]}");
  }
  SECTION("without a certificate") { REQUIRE(Curl(s.url("/who")) == "{\"verified\":false,\"cn\":\"\",\"o\":[]}"); }
  SECTION("with an untrusted certificate") {
    std::string base = testing::UntrustedBase();
    REQUIRE(Curl("--cert " + base + ".crt --key " + base + ".key " + s.url("/who")) ==
            "{\"verified\":false,\"cn\":\"\",\"o\":[]}");
  }
  SECTION("ALPN: curl offers h2 and http/1.1 and gets http/1.1") {
    std::string out = Curl("-v " + s.url("/x"));
    INFO(out);
    REQUIRE(out.find("ALPN: server accepted http/1.1") != std::string::npos);
    REQUIRE(out.find("< HTTP/1.1 200 OK") != std::string::npos);
    REQUIRE(out.find("GET len=0 te=") != std::string::npos);
  }
  SECTION("--http1.1 and TLS 1.3") {
    std::string out = Curl("-v --http1.1 --tlsv1.3 " + s.url("/x"));
    INFO(out);
    REQUIRE(out.find("TLSv1.3") != std::string::npos);
    REQUIRE(out.find("< HTTP/1.1 200 OK") != std::string::npos);
  }
  SECTION("TLS 1.2 is accepted, TLS 1.1 is not") {
    REQUIRE(Curl("--tlsv1.2 --tls-max 1.2 " + s.url("/x")) == "GET len=0 te=\n");
    int code = 0;
    Sh("curl -sS --max-time 10 -k --tlsv1.1 --tls-max 1.1 " + s.url("/x") + " >/dev/null 2>&1", &code);
    REQUIRE(code != 0);
  }
  SECTION("hostname verification against the SANs") {
    std::string port = std::to_string(s.port());
    REQUIRE(Curl("--resolve kubernetes.default.svc:" + port + ":127.0.0.1 https://kubernetes.default.svc:" + port +
                 "/x") == "GET len=0 te=\n");
    std::string bad = Curl("--resolve evil.example:" + port + ":127.0.0.1 https://evil.example:" + port + "/x");
    REQUIRE(bad.find("curl: (60)") != std::string::npos);
  }
  SECTION("keep-alive: one connection for several URLs") {
    std::string out = Curl("-v " + s.url("/a") + " " + s.url("/b") + " " + s.url("/c"));
    INFO(out);
    REQUIRE(out.find("Re-using existing connection") != std::string::npos);
  }
}

TEST_CASE("curl: bodies, 100-continue, chunked upload, streaming, 413", "[curl]") {
  ServerThread s;
  char tmpl[] = "/tmp/minik-curl-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  SECTION("Expect: 100-continue") {
    std::string out = Curl("-v -H 'Expect: 100-continue' --data-binary 'hello world' " + s.url("/echo"));
    INFO(out);
    REQUIRE(out.find("< HTTP/1.1 100 Continue") != std::string::npos);
    REQUIRE(out.find("POST len=11 te=") != std::string::npos);
  }
  SECTION("chunked request body") {
    std::ofstream(dir + "/body") << std::string(100000, 'z');
    std::string out = Curl("-H 'Transfer-Encoding: chunked' --data-binary @" + dir + "/body " + s.url("/echo"));
    REQUIRE(out == "POST len=100000 te=chunked\n");
  }
  SECTION("chunked response stream") {
    std::string out = Curl("-i " + s.url("/stream"));
    INFO(out);
    REQUIRE(out.find("Transfer-Encoding: chunked") != std::string::npos);
    REQUIRE(out.find("{\"n\":0}\n{\"n\":1}\n{\"n\":2}\n") != std::string::npos);
  }
  SECTION("3 MiB + 1 byte gets 413 with the upstream Status body") {
    std::ofstream(dir + "/big") << std::string(3 * 1024 * 1024 + 1, 'a');
    std::string out = Curl("-H 'Content-Type: application/json' -w '\\n%{http_code}' --data-binary @" + dir + "/big " +
                           s.url("/api/v1/namespaces/default/configmaps"));
    REQUIRE(out ==
            "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":\"Request "
            "entity too large: limit is 3145728\",\"reason\":\"RequestEntityTooLarge\",\"code\":413}\n\n413");
  }
  SECTION("exactly 3 MiB is accepted") {
    std::ofstream(dir + "/max") << std::string(3 * 1024 * 1024, 'a');
    REQUIRE(Curl("--data-binary @" + dir + "/max " + s.url("/echo")) == "POST len=3145728 te=\n");
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("kubectl (Go net/http) talks to the server with the admin certificate", "[curl]") {
  int code = 0;
  Sh("kubectl version --client >/dev/null 2>&1", &code);
  if (code != 0) {
    WARN("kubectl not installed; skipped");
    return;
  }
  ServerThread s;
  const auto& p = TestPki();
  std::string kubeconfig = p.dir + "/kubeconfig-" + std::to_string(s.port());
  std::ofstream(kubeconfig) << "apiVersion: v1\nkind: Config\nclusters:\n- name: t\n  cluster:\n    server: "
                            << s.url("") << "\n    certificate-authority: " << p.server_ca_cert
                            << "\nusers:\n- name: u\n  user:\n    client-certificate: " << p.admin_cert
                            << "\n    client-key: " << p.admin_key
                            << "\ncontexts:\n- name: c\n  context:\n    cluster: t\n    user: u\ncurrent-context: c\n";
  std::string out = Sh("kubectl --kubeconfig " + kubeconfig + " get --raw /version 2>&1", &code);
  INFO(out);
  REQUIRE(code == 0);
  REQUIRE(out.find("\"user\":\"system:admin\"") != std::string::npos);
  out = Sh("kubectl --kubeconfig " + kubeconfig + " get --raw /stream 2>&1", &code);
  REQUIRE(code == 0);
  REQUIRE(out.find("{\"n\":2}") != std::string::npos);
  out = Sh("kubectl --kubeconfig " + kubeconfig + " create --raw /echo -f /etc/hostname 2>&1", &code);
  INFO(out);
  REQUIRE(code == 0);
  REQUIRE(out.find("POST len=") != std::string::npos);
}

}  // namespace
}  // namespace minik::http
