#include <catch2/catch.hpp>

#include "agent/config.h"

namespace minik::agent {
namespace {

TEST_CASE("agent flags parse as k3s's, with one-line errors") {
  auto p = ParseAgentArgs({"--join", "https://10.0.0.1:6443", "--token", "abc", "--fake-nodes=3", "--node-label",
                           "zone=a", "--node-taint", "dedicated=x:NoSchedule"});
  REQUIRE(p.ok());
  CHECK(p->config.server_url == "https://10.0.0.1:6443");
  CHECK(p->config.fake_nodes == 3);
  CHECK(p->config.node_labels == std::vector<std::string>{"zone=a"});
  CHECK(p->config.node_taints == std::vector<std::string>{"dedicated=x:NoSchedule"});
  CHECK(ParseAgentArgs({"-s", "https://h:1", "--token", "t"}).ok());
  CHECK(ParseAgentArgs({"--server=https://h:1", "--token", "t"}).ok());

  CHECK(ParseAgentArgs({"--token", "t"}).error().message() == "missing --join https://SERVER:6443");
  CHECK(ParseAgentArgs({"--join", "https://h:1"}).error().message() == "missing --token");
  CHECK(ParseAgentArgs({"--join", "http://h:1", "--token", "t"}).error().message() ==
        "invalid value \"http://h:1\" for flag --join: must be an https:// URL");
  CHECK(ParseAgentArgs({"--bogus"}).error().message() == "unknown flag: --bogus");
  CHECK(ParseAgentArgs({"--join", "https://h:1", "--token", "t", "--fake-nodes", "0"}).error().message() ==
        "invalid value \"0\" for flag --fake-nodes: must be a number between 1 and 100000");
  CHECK(ParseAgentArgs({"--join", "https://h:1", "--token", "t", "--node-taint", "a=b:Bad"}).error().message() ==
        "invalid value \"a=b:Bad\" for flag --node-taint: effect must be NoSchedule, PreferNoSchedule or NoExecute");
  CHECK(ParseAgentArgs({"--help"})->help);
  CHECK(AgentHelp().find("--fake-nodes N") != std::string::npos);
}

TEST_CASE("join tokens pin the CA hash") {
  std::string hash(64, 'a');
  auto t = ParseJoinToken("K10" + hash + "::server:s3cret");
  REQUIRE(t.ok());
  CHECK(t->ca_hash == hash);
  CHECK(t->secret == "s3cret");
  auto bare = ParseJoinToken("s3cret");
  REQUIRE(bare.ok());
  CHECK(bare->ca_hash.empty());
  CHECK(bare->secret == "s3cret");
  CHECK_FALSE(ParseJoinToken("K10abc::server:x").ok());
  CHECK_FALSE(ParseJoinToken("K10" + hash + "server:x").ok());
}

}  // namespace
}  // namespace minik::agent
