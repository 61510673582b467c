#include <catch2/catch.hpp>

#include "server/strategy.h"

using namespace minik;

namespace {
JsonDoc J(const char* s) {
  auto d = ParseJson(s);
  REQUIRE(d.ok());
  return std::move(d).value();
}
}  // namespace

TEST_CASE("SameAsStored ignores only the stored resourceVersion and member order") {
  JsonDoc stored = J(R"({"kind":"ConfigMap","metadata":{"name":"a","resourceVersion":"7","labels":{"x":"1"}},"data":{"k":"v"}})");
  CHECK(server::SameAsStored(stored, J(R"({"data":{"k":"v"},"metadata":{"labels":{"x":"1"},"name":"a"},"kind":"ConfigMap"})")));
  CHECK_FALSE(server::SameAsStored(stored, J(R"({"kind":"ConfigMap","metadata":{"name":"a","labels":{"x":"1"}},"data":{"k":"w"}})")));
  CHECK_FALSE(server::SameAsStored(stored, J(R"({"kind":"ConfigMap","metadata":{"name":"a"},"data":{"k":"v"}})")));
  CHECK_FALSE(server::SameAsStored(stored, J(R"({"kind":"ConfigMap","metadata":{"name":"a","labels":{"x":"1"},"uid":"u"},"data":{"k":"v"}})")));
  CHECK_FALSE(server::SameAsStored(stored, J(R"({"kind":"ConfigMap","metadata":{"name":"a","labels":{"x":"1"}}})")));
}

TEST_CASE("PodQosClass follows requests and limits") {
  CHECK(server::PodQosClass(J(R"({"spec":{"containers":[{"name":"c"}]}})")) == "BestEffort");
  CHECK(server::PodQosClass(J(R"({"spec":{"containers":[{"resources":{"requests":{"cpu":"1"}}}]}})")) == "Burstable");
  CHECK(server::PodQosClass(J(
            R"({"spec":{"containers":[{"resources":{"limits":{"cpu":"1","memory":"1Gi"},"requests":{"cpu":"1","memory":"1Gi"}}}]}})")) ==
        "Guaranteed");
}

TEST_CASE("Secret stringData is merged into data on create and update, and never stored") {
  api::ResourceInfo secrets;
  secrets.kind = "Secret";
  secrets.plural = "secrets";
  secrets.version = "v1";
  secrets.namespaced = true;
  JsonDoc created = J(R"({"kind":"Secret","metadata":{"name":"s"},"data":{"a":"eA==","b":"eQ=="},"stringData":{"b":"two"}})");
  server::PrepareForCreate(secrets, created, created.GetAllocator());
  CHECK(ToJson(created) == R"({"kind":"Secret","metadata":{"name":"s"},"data":{"a":"eA==","b":"dHdv"}})");
  JsonDoc updated = J(R"({"kind":"Secret","metadata":{"name":"s"},"stringData":{"c":"three"}})");
  server::PrepareForUpdate(secrets, updated, created, false, updated.GetAllocator());
  CHECK(ToJson(updated) == R"({"kind":"Secret","metadata":{"name":"s"},"data":{"c":"dGhyZWU="}})");
  // Other kinds keep a field of that name.
  api::ResourceInfo cms = secrets;
  cms.kind = "ConfigMap";
  JsonDoc cm = J(R"({"kind":"ConfigMap","metadata":{"name":"c"},"stringData":{"x":"y"}})");
  server::PrepareForCreate(cms, cm, cm.GetAllocator());
  CHECK(ToJson(cm) == R"({"kind":"ConfigMap","metadata":{"name":"c"},"stringData":{"x":"y"}})");
}
