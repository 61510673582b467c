// The ServiceAccount controller: "default" in every Active namespace, recreated when deleted,
// never in terminating namespaces.
#include "server/controllers/service_account.h"

#include "fixture.h"

namespace minik::controllers {
namespace {

using testing::Bench;
using testing::Json;

TEST_CASE("every active namespace gets a default ServiceAccount, recreated when deleted") {
  Bench b;
  auto c = NewServiceAccountController(b.ctx);
  b.Seed(kNamespaces, R"({"metadata":{"name":"ns"},"status":{"phase":"Active"}})");
  b.Seed(kNamespaces, R"({"metadata":{"name":"has"},"status":{"phase":"Active"}})");
  b.Seed(kServiceAccounts, R"({"metadata":{"name":"default","namespace":"has"}})");
  b.Sync();
  REQUIRE(b.Reconcile(*c, "ns").ok());
  REQUIRE(b.api.writes().size() == 1);
  CHECK(b.api.writes()[0].body ==
        R"({"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"default","namespace":"ns"}})");
  CHECK(b.TakeWrites() == std::vector<std::string>{"create serviceaccounts ns/default"});
  REQUIRE(b.Reconcile(*c, "has").ok());
  REQUIRE(b.Reconcile(*c, "ns").ok());
  REQUIRE(b.Reconcile(*c, "missing").ok());
  CHECK(b.TakeWrites().empty());

  // Deleted: the deletion enqueues the namespace, and the account comes back.
  b.api.Delete(kServiceAccounts, "ns", "default", {}, [](StatusOr<JsonDoc>) {});
  b.timers.RunPending();
  b.api.ClearActions();
  CHECK(c->queue().Len() > 0);
  REQUIRE(b.Reconcile(*c, "ns").ok());
  CHECK(b.TakeWrites() == std::vector<std::string>{"create serviceaccounts ns/default"});
}

TEST_CASE("terminating namespaces get no ServiceAccount") {
  Bench b;
  auto c = NewServiceAccountController(b.ctx);
  b.Seed(kNamespaces, R"({"metadata":{"name":"ns"},"status":{"phase":"Terminating"}})");
  b.Seed(kNamespaces, R"({"metadata":{"name":"fin","finalizers":["x"]},"status":{"phase":"Active"}})");
  b.api.Delete(kNamespaces, "", "fin", {}, [](StatusOr<JsonDoc>) {});
  b.Sync();
  b.api.ClearActions();
  REQUIRE(b.Reconcile(*c, "ns").ok());
  REQUIRE(b.Reconcile(*c, "fin").ok());
  CHECK(b.TakeWrites().empty());
}

TEST_CASE("an AlreadyExists create is success; other errors are retried") {
  Bench b;
  auto c = NewServiceAccountController(b.ctx);
  b.Seed(kNamespaces, R"({"metadata":{"name":"ns"},"status":{"phase":"Active"}})");
  b.Sync();
  b.api.SetReactor([](const client::FakeApiClient::Action& a) {
    return a.verb == "create" ? Status::AlreadyExists("serviceaccounts \"default\" already exists") : Status::OK();
  });
  CHECK(b.Reconcile(*c, "ns").ok());
  b.api.SetReactor([](const client::FakeApiClient::Action& a) {
    return a.verb == "create" ? Status::Unavailable("down") : Status::OK();
  });
  CHECK_FALSE(b.Reconcile(*c, "ns").ok());
}

}  // namespace
}  // namespace minik::controllers
