// Shared set-up for the http tests: a temporary PKI (made once per process) and helpers.
#pragma once

#include <stdlib.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>

#include "pki/pki.h"

namespace minik::http::testing {

// A PKI under a temporary directory, created on first use and removed at exit.
inline const pki::ServerPki& TestPki() {
  struct Holder {
    Holder() {
      char tmpl[] = "/tmp/minik-http-test-XXXXXX";
      dir = mkdtemp(tmpl);
      pki::ServerPkiOptions opts;
      opts.node_name = "node-a";
      auto p = pki::EnsureServerPki(dir + "/tls", opts);
      if (!p.ok()) FAIL(p.status().ToString());
      value = *p;
      // A client certificate from a CA the server does not trust.
      auto other_ca = pki::CreateCA("other-ca");
      pki::CertRequest req;
      req.common_name = "mallory";
      req.organizations = {"system:masters"};
      req.client_auth = true;
      auto other = pki::IssueCert(*other_ca, req);
      (void)pki::SaveCertKey(dir + "/tls/untrusted", *other);
    }
    ~Holder() { std::filesystem::remove_all(dir); }
    std::string dir;
    pki::ServerPki value;
  };
  static Holder holder;
  return holder.value;
}

inline std::string UntrustedBase() { return TestPki().dir + "/untrusted"; }

}  // namespace minik::http::testing
