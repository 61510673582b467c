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
