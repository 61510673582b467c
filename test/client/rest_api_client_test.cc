#include "client/rest_api_client.h"

#include <catch2/catch.hpp>

#include <deque>

#include "http/server.h"

namespace minik::client {
namespace {

const ResourceRef kPods{"", "v1", "pods"};
const ResourceRef kDeployments{"apps", "v1", "deployments"};

// Records requests; answers Do() from a script, streams by hand.
class ScriptedTransport final : public Transport {
 public:
  struct Stream {
    RestRequest req;
    StreamCallbacks cbs;
    bool destroyed = false;
  };
  void Do(RestRequest req, std::function<void(StatusOr<RestResponse>)> cb) override {
    requests.push_back(req);
    REQUIRE(!responses.empty());
    auto r = std::move(responses.front());
    responses.pop_front();
    cb(std::move(r));
  }
  http::HandlePtr Stream(RestRequest req, StreamCallbacks cbs) override {
    requests.push_back(req);
    auto s = std::make_shared<struct Stream>();
    s->req = req;
    s->cbs = std::move(cbs);
    streams.push_back(s);
    struct H : http::Handle {
      std::shared_ptr<struct Stream> s;
      ~H() override { s->destroyed = true; }
    };
    auto h = std::make_unique<H>();
    h->s = s;
    return h;
  }
  std::vector<RestRequest> requests;
  std::deque<StatusOr<RestResponse>> responses;
  std::vector<std::shared_ptr<struct Stream>> streams;
};

struct Fixture {
  Fixture() {
    auto t = std::make_unique<ScriptedTransport>();
    transport = t.get();
    client = std::make_unique<RestApiClient>(std::move(t));
  }
  ScriptedTransport* transport;
  std::unique_ptr<RestApiClient> client;
};

StatusOr<JsonDoc> Capture(std::function<void(ObjectCallback)> call) {
  std::optional<StatusOr<JsonDoc>> out;
  call([&](StatusOr<JsonDoc> r) { out.emplace(std::move(r)); });
  REQUIRE(out.has_value());
  return std::move(*out);
}

TEST_CASE("paths and queries follow the API's layout", "[rest]") {
  CHECK(ResourcePath(kPods, "default", "web", "status") == "/api/v1/namespaces/default/pods/web/status");
  CHECK(ResourcePath(kDeployments, "") == "/apis/apps/v1/deployments");
  CHECK(ResourcePath({"", "v1", "nodes"}, "", "n1") == "/api/v1/nodes/n1");
  CHECK(QueryEscape("app in (a,b)") == "app%20in%20%28a%2Cb%29");

  Fixture f;
  f.transport->responses.push_back(RestResponse{200, R"({"kind":"PodList","items":[]})"});
  ListOptions opts;
  opts.label_selector = "app=web";
  opts.field_selector = "spec.nodeName=n1";
  opts.limit = 500;
  opts.continue_token = "abc";
  opts.resource_version = "0";
  auto r = Capture([&](ObjectCallback cb) { f.client->List(kPods, "default", opts, std::move(cb)); });
  REQUIRE(r.ok());
  const auto& req = f.transport->requests.back();
  CHECK(req.method == "GET");
  CHECK(req.Target() ==
        "/api/v1/namespaces/default/pods?labelSelector=app%3Dweb&fieldSelector=spec.nodeName%3Dn1&limit=500&"
        "continue=abc&resourceVersion=0");
}

TEST_CASE("writes send the right verbs, content types and bodies", "[rest]") {
  Fixture f;
  for (int i = 0; i < 4; ++i) f.transport->responses.push_back(RestResponse{200, R"({"kind":"Pod"})"});
  auto obj = ParseJson(R"({"metadata":{"name":"web","resourceVersion":"7"},"status":{"phase":"Running"}})");
  REQUIRE(obj.ok());
  REQUIRE(Capture([&](ObjectCallback cb) { f.client->Create(kPods, "default", *obj, std::move(cb)); }).ok());
  CHECK(f.transport->requests[0].method == "POST");
  CHECK(f.transport->requests[0].path == "/api/v1/namespaces/default/pods");
  CHECK(f.transport->requests[0].content_type == "application/json");
  CHECK(f.transport->requests[0].body == ToJson(*obj));

  REQUIRE(Capture([&](ObjectCallback cb) { f.client->Update(kPods, "default", *obj, "status", std::move(cb)); }).ok());
  CHECK(f.transport->requests[1].method == "PUT");
  CHECK(f.transport->requests[1].path == "/api/v1/namespaces/default/pods/web/status");

  REQUIRE(Capture([&](ObjectCallback cb) {
            f.client->Patch(kDeployments, "ns", "d", PatchType::kStrategicMerge, R"({"spec":{"replicas":3}})", "",
                            std::move(cb));
          }).ok());
  CHECK(f.transport->requests[2].method == "PATCH");
  CHECK(f.transport->requests[2].path == "/apis/apps/v1/namespaces/ns/deployments/d");
  CHECK(f.transport->requests[2].content_type == "application/strategic-merge-patch+json");
  CHECK(f.transport->requests[2].body == R"({"spec":{"replicas":3}})");

  DeleteOptions del;
  del.propagation_policy = "Foreground";
  del.grace_period_seconds = 0;
  del.precondition_uid = "u1";
  REQUIRE(Capture([&](ObjectCallback cb) { f.client->Delete(kPods, "default", "web", del, std::move(cb)); }).ok());
  CHECK(f.transport->requests[3].method == "DELETE");
  CHECK(f.transport->requests[3].body ==
        R"({"kind":"DeleteOptions","apiVersion":"v1","gracePeriodSeconds":0,"preconditions":{"uid":"u1"},)"
        R"("propagationPolicy":"Foreground"})");
}

TEST_CASE("errors carry the API's code, message and details", "[rest]") {
  Fixture f;
  f.transport->responses.push_back(RestResponse{
      404, R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \"x\" not found",)"
           R"("reason":"NotFound","details":{"name":"x","kind":"pods"},"code":404})"});
  f.transport->responses.push_back(RestResponse{
      409, R"({"kind":"Status","status":"Failure","message":"pods \"x\" already exists","reason":"AlreadyExists",)"
           R"("code":409})"});
  f.transport->responses.push_back(RestResponse{
      422, R"({"kind":"Status","status":"Failure","message":"Pod \"x\" is invalid: spec.containers: Required value",)"
           R"("reason":"Invalid","details":{"name":"x","kind":"Pod","causes":[{"reason":"FieldValueRequired",)"
           R"("message":"Required value","field":"spec.containers"}]},"code":422})"});
  f.transport->responses.push_back(RestResponse{502, "bad gateway"});
  f.transport->responses.push_back(Status::Unavailable("connection refused"));

  auto r1 = Capture([&](ObjectCallback cb) { f.client->Get(kPods, "default", "x", std::move(cb)); });
  REQUIRE(!r1.ok());
  CHECK(r1.status().code() == Code::kNotFound);
  CHECK(r1.status().message() == "pods \"x\" not found");
  REQUIRE(r1.status().details());
  CHECK(r1.status().details()->name == "x");

  auto r2 = Capture([&](ObjectCallback cb) { f.client->Get(kPods, "default", "x", std::move(cb)); });
  CHECK(r2.status().code() == Code::kAlreadyExists);

  auto r3 = Capture([&](ObjectCallback cb) { f.client->Get(kPods, "default", "x", std::move(cb)); });
  CHECK(r3.status().code() == Code::kInvalid);
  REQUIRE(r3.status().details());
  REQUIRE(r3.status().details()->causes.size() == 1);
  CHECK(r3.status().details()->causes[0].field == "spec.containers");

  auto r4 = Capture([&](ObjectCallback cb) { f.client->Get(kPods, "default", "x", std::move(cb)); });
  CHECK(r4.status().code() == Code::kInternal);
  CHECK(r4.status().message() == "bad gateway");

  auto r5 = Capture([&](ObjectCallback cb) { f.client->Get(kPods, "default", "x", std::move(cb)); });
  CHECK(r5.status().code() == Code::kUnavailable);

  CHECK(StatusFromResponse(410, R"({"kind":"Status","reason":"Expired","message":"too old","code":410})").code() ==
        Code::kExpired);
  CHECK(StatusFromResponse(410, R"({"kind":"Status","reason":"Gone","message":"gone","code":410})").code() ==
        Code::kGone);
}

TEST_CASE("watch decodes events split across chunks, and ends on an ERROR event", "[rest]") {
  Fixture f;
  std::vector<WatchEvent> events;
  std::optional<Status> closed;
  WatchOptions opts;
  opts.resource_version = "10";
  opts.allow_watch_bookmarks = true;
  opts.timeout_seconds = 300;
  auto h = f.client->Watch(kPods, "", opts,
                           {[&](WatchEvent ev) { events.push_back(std::move(ev)); }, [&](Status s) { closed = s; }});
  REQUIRE(f.transport->streams.size() == 1);
  auto& s = *f.transport->streams[0];
  CHECK(s.req.Target() == "/api/v1/pods?watch=true&resourceVersion=10&allowWatchBookmarks=true&timeoutSeconds=300");
  s.cbs.on_response(200);
  s.cbs.on_data(R"({"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"11"}}})"
                "\n"
                R"({"type":"MODIFIED","obj)");
  CHECK(events.size() == 1);
  s.cbs.on_data(R"(ect":{"metadata":{"name":"a","resourceVersion":"12"},"spec":{"x":[1,2]}}})"
                "\n\n"
                R"({"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"13"}}})"
                "\n");
  REQUIRE(events.size() == 3);
  CHECK(events[0].type == WatchEvent::Type::kAdded);
  CHECK(MetaString(*events[0].object, "name") == "a");
  CHECK(events[1].type == WatchEvent::Type::kModified);
  CHECK(ToJson(*events[1].object) == R"({"metadata":{"name":"a","resourceVersion":"12"},"spec":{"x":[1,2]}})");
  CHECK(events[2].type == WatchEvent::Type::kBookmark);
  CHECK(!closed);
  s.cbs.on_data(R"({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",)"
                R"x("message":"too old resource version: 10 (20)","reason":"Expired","code":410}})x"
                "\n");
  REQUIRE(closed);
  CHECK(closed->code() == Code::kExpired);
  CHECK(closed->message() == "too old resource version: 10 (20)");
  // Nothing after the close.
  s.cbs.on_data(R"({"type":"ADDED","object":{"metadata":{"name":"b"}}})"
                "\n");
  s.cbs.on_done(Status::OK());
  CHECK(events.size() == 3);
  h.reset();
  CHECK(s.destroyed);
}

TEST_CASE("watch: a refused request closes with the API's error; destroying the handle silences it", "[rest]") {
  Fixture f;
  std::optional<Status> closed;
  auto h = f.client->Watch(kPods, "ns", {}, {[&](WatchEvent) {}, [&](Status s) { closed = s; }});
  auto& s = *f.transport->streams[0];
  s.cbs.on_response(403);
  s.cbs.on_data(R"({"kind":"Status","status":"Failure","message":"forbidden","reason":"Forbidden","code":403})");
  s.cbs.on_done(Status::OK());
  REQUIRE(closed);
  CHECK(closed->code() == Code::kForbidden);
  CHECK(closed->message() == "forbidden");

  bool called = false;
  auto h2 = f.client->Watch(kPods, "ns", {}, {[&](WatchEvent) { called = true; }, [&](Status) { called = true; }});
  auto& s2 = *f.transport->streams[1];
  h2.reset();
  s2.cbs.on_response(200);
  s2.cbs.on_data(R"({"type":"ADDED","object":{"metadata":{"name":"a"}}})"
                 "\n");
  s2.cbs.on_done(Status::Unavailable("closed"));
  CHECK(!called);
}

TEST_CASE("HttpsTransport talks HTTP to a real server on the loop", "[rest][http]") {
  http::Loop loop;
  std::vector<std::string> targets;
  http::Server server(loop, [&](http::Request& req, http::ResponseWriterPtr resp) {
    targets.push_back(req.method + " " + req.target);
    if (req.query.find("watch=true") != std::string::npos) {
      resp->StartStream(200, {{"content-type", "application/json"}});
      resp->Write(R"({"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"5"}}})"
                  "\n");
      resp->Write(R"({"type":"DELETED","object":{"metadata":{"name":"a","resourceVersion":"6"}}})"
                  "\n");
      resp->End();
      return;
    }
    if (req.path == "/api/v1/namespaces/default/pods/missing") {
      resp->Send(404, {{"content-type", "application/json"}},
                 R"({"kind":"Status","status":"Failure","message":"pods \"missing\" not found","reason":"NotFound",)"
                 R"("code":404})");
      return;
    }
    resp->Send(200, {{"content-type", "application/json"}}, R"({"kind":"Pod","metadata":{"name":"web"}})");
  });
  REQUIRE(server.Listen("127.0.0.1", 0).ok());
  http::ClientOptions opts;
  opts.tls = false;
  opts.port = server.port();
  auto c = HttpsApiClient::Create(loop, opts);
  REQUIRE(c.ok());
  ApiClient& client = **c;

  std::optional<StatusOr<JsonDoc>> got, missing;
  std::vector<WatchEvent::Type> types;
  std::optional<Status> closed;
  http::HandlePtr watch;
  client.Get(kPods, "default", "web", [&](StatusOr<JsonDoc> r) {
    got.emplace(std::move(r));
    client.Get(kPods, "default", "missing", [&](StatusOr<JsonDoc> r2) {
      missing.emplace(std::move(r2));
      watch = client.Watch(kPods, "", {}, {[&](WatchEvent ev) { types.push_back(ev.type); }, [&](Status st) {
                                             closed = st;
                                             loop.Stop();
                                           }});
    });
  });
  loop.Run();
  REQUIRE(got);
  REQUIRE(got->ok());
  CHECK(MetaString(**got, "name") == "web");
  REQUIRE(missing);
  CHECK(missing->status().code() == Code::kNotFound);
  CHECK(missing->status().message() == "pods \"missing\" not found");
  CHECK(types == std::vector<WatchEvent::Type>{WatchEvent::Type::kAdded, WatchEvent::Type::kDeleted});
  REQUIRE(closed);
  CHECK(closed->ok());
  CHECK(targets == std::vector<std::string>{"GET /api/v1/namespaces/default/pods/web",
                                            "GET /api/v1/namespaces/default/pods/missing",
                                            "GET /api/v1/pods?watch=true"});
  watch.reset();
  c->reset();
  server.Close();
}

}  // namespace
}  // namespace minik::client
