#include "agent/agent.h"

#include <openssl/sha.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>

#include "agent/hollow_nodes.h"
#include "agent/node_agent.h"
#include "client/rest_api_client.h"
#include "client/timers.h"
#include "common/log.h"
#include "http/client.h"
#include "http/loop.h"

namespace minik::agent {
namespace {

struct ServerAddress {
  std::string host;
  int port = 6443;
};

StatusOr<ServerAddress> ParseUrl(const std::string& url) {
  std::string rest = url.substr(std::string("https://").size());
  if (auto slash = rest.find('/'); slash != std::string::npos) rest = rest.substr(0, slash);
  ServerAddress a;
  if (!rest.empty() && rest[0] == '[') {
    auto close = rest.find(']');
    if (close == std::string::npos) return Status::Invalid("invalid server URL " + url);
    a.host = rest.substr(1, close - 1);
    rest = rest.substr(close + 1);
    if (!rest.empty() && rest[0] == ':') a.port = std::atoi(rest.c_str() + 1);
  } else {
    auto colon = rest.rfind(':');
    a.host = rest.substr(0, colon);
    if (colon != std::string::npos) a.port = std::atoi(rest.c_str() + colon + 1);
  }
  if (a.host.empty() || a.port <= 0 || a.port > 65535) return Status::Invalid("invalid server URL " + url);
  return a;
}

std::string Sha256Hex(const std::string& s) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), md);
  std::string hex;
  char b[3];
  for (unsigned char ch : md) {
    std::snprintf(b, sizeof b, "%02x", ch);
    hex += b;
  }
  return hex;
}

std::string HostName() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "localhost";
  return buf;
}

}  // namespace

struct Agent::Impl {
  AgentConfig cfg;
  http::Loop loop;
};

Agent::Agent(AgentConfig config) : impl_(std::make_unique<Impl>()) { impl_->cfg = std::move(config); }

Agent::~Agent() = default;

void Agent::Stop() { impl_->loop.Stop(); }

Status RunAgent(const AgentConfig& cfg) {
  SetLogLevel(cfg.log_level);
  Agent agent(cfg);
  return agent.Run(true);
}

Status Agent::Run(bool handle_signals) {
  const AgentConfig& cfg = impl_->cfg;
  auto addr = ParseUrl(cfg.server_url);
  if (!addr.ok()) return addr.error();
  auto token = ParseJoinToken(cfg.token);
  if (!token.ok()) return token.error();

  http::Loop& loop = impl_->loop;
  RealClock clock;
  client::LoopTimers timers(loop, clock);
  Status fatal;
  std::unique_ptr<client::HttpsApiClient> api;
  std::unique_ptr<HollowNodes> hollow;
  std::unique_ptr<NodeAgent> node;

  // 1. Fetch the cluster CA and check it against the token's hash.
  http::ClientOptions bootstrap;
  bootstrap.host = addr->host;
  bootstrap.port = addr->port;
  bootstrap.insecure_skip_verify = true;
  auto boot = http::Client::Create(loop, bootstrap);
  if (!boot.ok()) return boot.error();
  std::unique_ptr<http::Client> boot_client = std::move(*boot);
  http::HandlePtr retry;
  std::function<void()> join;
  join = [&]() {
    boot_client->Request("GET", "/cacerts", {}, "", [&](StatusOr<http::Response> r) {
      if (!r.ok() || r->status != 200) {
        MINIK_LOG(Warning) << "joining " << cfg.server_url << ": "
                           << (r.ok() ? "GET /cacerts answered " + std::to_string(r->status) : r.error().ToString())
                           << "; retrying in 2 s";
        retry = loop.AddTimer(2000, 0, join);
        return;
      }
      std::string ca = r->body;
      if (!token->ca_hash.empty() && Sha256Hex(ca) != token->ca_hash) {
        fatal = Status::Unauthorized("the server's CA does not match the hash in the token");
        loop.Stop();
        return;
      }
      http::ClientOptions o;
      o.host = addr->host;
      o.port = addr->port;
      o.ca_pem = ca;
      o.bearer_token = token->secret;
      o.max_connections = 32;
      auto c = client::HttpsApiClient::Create(loop, o);
      if (!c.ok()) {
        fatal = c.error();
        loop.Stop();
        return;
      }
      api = std::move(*c);
      if (cfg.fake_nodes > 0) {
        HollowOptions ho;
        ho.count = cfg.fake_nodes;
        ho.name_prefix = cfg.node_name.empty() ? (cfg.fake_nodes == 1 ? HostName() : "hollow-node") : cfg.node_name;
        ho.exact_name = cfg.fake_nodes == 1;
        ho.labels = cfg.node_labels;
        ho.taints = cfg.node_taints;
        ho.run_seconds = cfg.fake_pod_run_seconds;
        hollow = std::make_unique<HollowNodes>(*api, timers, ho);
        hollow->Start();
        MINIK_LOG(Info) << "joined " << cfg.server_url << "; registering " << cfg.fake_nodes << " hollow node(s)";
        return;
      }
      node = std::make_unique<NodeAgent>(loop, *api, timers, cfg, o);
      Status st = node->Start();
      if (!st.ok()) {
        fatal = st;
        loop.Stop();
        return;
      }
      MINIK_LOG(Info) << "joined " << cfg.server_url;
    });
  };
  loop.Post(join);
  http::HandlePtr sigterm, sigint;
  if (handle_signals) {
    auto stop = [&]() {
      MINIK_LOG(Info) << "shutting down";
      loop.Stop();
    };
    sigterm = loop.OnSignal(SIGTERM, stop);
    sigint = loop.OnSignal(SIGINT, stop);
  }
  loop.Run();
  if (hollow) hollow->Stop();
  if (node) node->Stop();
  node.reset();
  hollow.reset();
  api.reset();
  return fatal;
}

}  // namespace minik::agent
