#include <catch2/catch.hpp>

#include <set>

#include "api/errors.h"
#include "api/validation.h"

using namespace minik::api;

namespace {
constexpr const char* kSubdomainMsg =
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
constexpr const char* kLabelMsg =
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and "
    "end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
constexpr const char* k1035Msg =
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
    "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
    "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

std::vector<minik::StatusCause> Meta(const char* json, bool namespaced = true, NameRule rule = NameRule::kDNSSubdomain) {
  auto doc = minik::ParseJson(json);
  REQUIRE(doc.ok());
  return ValidateObjectMeta(*doc, namespaced, rule);
}
std::string Full(const minik::StatusCause& c) { return c.field + ": " + c.message; }
}  // namespace

TEST_CASE("validation: DNS names") {
  CHECK(IsDNS1123Subdomain("example.com").empty());
  CHECK(IsDNS1123Subdomain("a").empty());
  CHECK(IsDNS1123Subdomain("Bad_Name") == std::vector<std::string>{kSubdomainMsg});
  CHECK(IsDNS1123Subdomain("a..b") == std::vector<std::string>{kSubdomainMsg});
  CHECK(IsDNS1123Subdomain("-a").size() == 1);
  CHECK(IsDNS1123Subdomain("") == std::vector<std::string>{kSubdomainMsg});
  CHECK(IsDNS1123Subdomain(std::string(254, 'a')) ==
        std::vector<std::string>{"must be no more than 253 characters"});
  CHECK(IsDNS1123Subdomain(std::string(253, 'a')).empty());

  CHECK(IsDNS1123Label("my-name").empty());
  CHECK(IsDNS1123Label("123").empty());
  CHECK(IsDNS1123Label("a.b") == std::vector<std::string>{"must not contain dots"});
  CHECK(IsDNS1123Label("A") == std::vector<std::string>{kLabelMsg});
  CHECK(IsDNS1123Label(std::string(64, 'a')) == std::vector<std::string>{"must be no more than 63 characters"});

  CHECK(IsDNS1035Label("web").empty());
  CHECK(IsDNS1035Label("1web") == std::vector<std::string>{k1035Msg});
  CHECK(IsDNS1035Label("web-") == std::vector<std::string>{k1035Msg});

  CHECK(IsValidPathSegmentName("system:admin").empty());
  CHECK(IsValidPathSegmentName("..") == std::vector<std::string>{"may not be '..'"});
  CHECK(IsValidPathSegmentName("a/b%") == std::vector<std::string>{"may not contain '/'", "may not contain '%'"});
  CHECK(IsValidPathSegmentPrefix(".").empty());
}

TEST_CASE("validation: qualified names and label values") {
  CHECK(IsQualifiedName("app").empty());
  CHECK(IsQualifiedName("app.kubernetes.io/name").empty());
  CHECK(IsQualifiedName("/a") == std::vector<std::string>{"prefix part must be non-empty"});
  CHECK(IsQualifiedName("a/") == std::vector<std::string>{
                                     "name part must be non-empty",
                                     "name part must consist of alphanumeric characters, '-', '_' or '.', and must "
                                     "start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  "
                                     "or '123-abc', regex used for validation is "
                                     "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"});
  CHECK(IsQualifiedName("Bad_Prefix/x").at(0).rfind("prefix part a lowercase RFC 1123 subdomain", 0) == 0);
  CHECK(IsQualifiedName("a/b/c") ==
        std::vector<std::string>{"a qualified name must consist of alphanumeric characters, '-', '_' or '.', and "
                                 "must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  "
                                 "or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') "
                                 "with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"});
  CHECK(IsQualifiedName(std::string(64, 'a')) == std::vector<std::string>{"name part must be no more than 63 characters"});
  CHECK(IsValidLabelValue("").empty());
  CHECK(IsValidLabelValue("v1.2_3-x").empty());
  CHECK(IsValidLabelValue("-x").size() == 1);
  CHECK(IsValidLabelValue(std::string(64, 'a')) == std::vector<std::string>{"must be no more than 63 characters"});
}

TEST_CASE("validation: ObjectMeta on create") {
  CHECK(Meta(R"({"name":"ok","namespace":"default","labels":{"app":"x"},"annotations":{"A/B":"c"}})").empty());
  auto c = Meta(R"({"name":"Bad_Name","namespace":"default"})");
  REQUIRE(c.size() == 1);
  CHECK(c[0].reason == "FieldValueInvalid");
  CHECK(Full(c[0]) == std::string("metadata.name: Invalid value: \"Bad_Name\": ") + kSubdomainMsg);
  auto st = InvalidError("", "Pod", "Bad_Name", c);
  CHECK(st.message() == std::string("Pod \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": ") +
                            kSubdomainMsg);

  auto r = Meta(R"({"namespace":"default"})");
  REQUIRE(r.size() == 1);
  CHECK(Full(r[0]) == "metadata.name: Required value: name or generateName is required");
  CHECK(r[0].reason == "FieldValueRequired");

  auto ns = Meta(R"({"name":"a"})");
  REQUIRE(ns.size() == 1);
  CHECK(Full(ns[0]) == "metadata.namespace: Required value");
  auto cluster = Meta(R"({"name":"a","namespace":"x"})", false);
  REQUIRE(cluster.size() == 1);
  CHECK(Full(cluster[0]) == "metadata.namespace: Forbidden: not allowed on this type");

  auto svc = Meta(R"({"name":"1web","namespace":"default"})", true, NameRule::kDNS1035Label);
  REQUIRE(svc.size() == 1);
  CHECK(Full(svc[0]) == std::string("metadata.name: Invalid value: \"1web\": ") + k1035Msg);

  CHECK(Meta(R"({"generateName":"web-","name":"web-x7k2p","namespace":"d"})").empty());
  auto gen = Meta(R"({"generateName":"Web-","name":"web-abcde","namespace":"d"})");
  REQUIRE(gen.size() == 1);
  CHECK(gen[0].field == "metadata.generateName");
  CHECK(gen[0].message.rfind("Invalid value: \"Web-\": a lowercase RFC 1123 subdomain", 0) == 0);

  CHECK(Meta(R"({"name":"system:admin"})", false, NameRule::kPathSegment).empty());
  auto path = Meta(R"({"name":"a/b"})", false, NameRule::kPathSegment);
  REQUIRE(path.size() == 1);
  CHECK(Full(path[0]) == "metadata.name: Invalid value: \"a/b\": may not contain '/'");

  auto labels = Meta(R"({"name":"a","namespace":"d","labels":{"a b":"ok","k":"bad value"}})");
  REQUIRE(labels.size() == 2);
  CHECK(labels[0].field == "metadata.labels");
  CHECK(labels[0].message.rfind("Invalid value: \"a b\": name part must consist", 0) == 0);
  CHECK(labels[1].message.rfind("Invalid value: \"bad value\": a valid label must be an empty string", 0) == 0);

  auto neg = Meta(R"({"name":"a","namespace":"d","generation":-1})");
  REQUIRE(neg.size() == 1);
  CHECK(Full(neg[0]) == "metadata.generation: Invalid value: -1: must be greater than or equal to 0");

  auto fin = Meta(R"({"name":"a","namespace":"d","finalizers":["orphan","foregroundDeletion","bad/x/y"]})");
  REQUIRE(fin.size() == 2);
  CHECK(fin[0].message.rfind("Invalid value: \"bad/x/y\": a qualified name must consist", 0) == 0);
  CHECK(Full(fin[1]) == "metadata.finalizers: Invalid value: []string{\"orphan\", \"foregroundDeletion\", "
                        "\"bad/x/y\"}: finalizer orphan and foregroundDeletion cannot be both set");

  auto owners = Meta(R"({"name":"a","namespace":"d","ownerReferences":[{"apiVersion":"","kind":"","name":"","uid":""}]})");
  REQUIRE(owners.size() == 4);
  CHECK(Full(owners[0]) == "metadata.ownerReferences.apiVersion: Invalid value: \"\": version must not be empty");
  CHECK(Full(owners[1]) == "metadata.ownerReferences.kind: Invalid value: \"\": kind must not be empty");
  CHECK(Full(owners[2]) == "metadata.ownerReferences.name: Invalid value: \"\": name must not be empty");
  CHECK(Full(owners[3]) == "metadata.ownerReferences.uid: Invalid value: \"\": uid must not be empty");
  auto two = Meta(
      R"({"name":"a","namespace":"d","ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"r1","uid":"1","controller":true},{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"r2","uid":"2","controller":true}]})");
  REQUIRE(two.size() == 1);
  CHECK(two[0].message.find("Only one reference can have Controller set to true. Found \"true\" in references for "
                            "ReplicaSet/r1 and ReplicaSet/r2") != std::string::npos);
}

TEST_CASE("validation: annotations size limit") {
  std::string big(kTotalAnnotationSizeLimit, 'x');
  std::string json = R"({"name":"a","namespace":"d","annotations":{"k":")" + big + R"("}})";
  auto c = Meta(json.c_str());
  REQUIRE(c.size() == 1);
  CHECK(Full(c[0]) == "metadata.annotations: Too long: may not be more than 262144 bytes");
  CHECK(c[0].reason == "FieldValueTooLong");
  std::string fits = R"({"name":"a","namespace":"d","annotations":{"k":")" + big.substr(1) + R"("}})";
  CHECK(Meta(fits.c_str()).empty());
}

TEST_CASE("validation: ObjectMeta on update") {
  auto old_meta = minik::ParseJson(
      R"({"name":"a","namespace":"d","uid":"u1","resourceVersion":"5","generation":2,"creationTimestamp":"2024-05-01T10:00:00Z"})");
  auto new_meta = minik::ParseJson(
      R"({"name":"b","namespace":"d","uid":"u2","resourceVersion":"5","generation":1,"creationTimestamp":"2024-05-02T10:00:00Z"})");
  REQUIRE(old_meta.ok());
  REQUIRE(new_meta.ok());
  auto c = ValidateObjectMetaUpdate(*new_meta, *old_meta);
  REQUIRE(c.size() == 4);
  CHECK(Full(c[0]) == "metadata.generation: Invalid value: 1: must not be decremented");
  CHECK(Full(c[1]) == "metadata.name: Invalid value: \"b\": field is immutable");
  CHECK(Full(c[2]) == "metadata.uid: Invalid value: \"u2\": field is immutable");
  CHECK(Full(c[3]) == "metadata.creationTimestamp: Invalid value: 2024-05-02 10:00:00 +0000 UTC: field is immutable");

  auto no_rv = minik::ParseJson(R"({"name":"a","namespace":"d","uid":"u1","generation":2,"creationTimestamp":"2024-05-01T10:00:00Z"})");
  auto c2 = ValidateObjectMetaUpdate(*no_rv, *old_meta);
  REQUIRE(c2.size() == 1);
  CHECK(Full(c2[0]) == "metadata.resourceVersion: Invalid value: \"\": must be specified for an update");

  auto deleting = minik::ParseJson(R"({"name":"a","resourceVersion":"1","deletionTimestamp":"2024-05-01T10:00:00Z","finalizers":["a"]})");
  auto adds = minik::ParseJson(R"({"name":"a","resourceVersion":"1","deletionTimestamp":"2024-05-01T10:00:00Z","finalizers":["a","b"]})");
  auto c3 = ValidateObjectMetaUpdate(*adds, *deleting);
  REQUIRE(c3.size() == 1);
  CHECK(Full(c3[0]) == "metadata.finalizers: Forbidden: no new finalizers can be added if the object is being "
                       "deleted, found new finalizers []string{\"b\"}");
}

TEST_CASE("validation: generated names") {
  std::string n = GenerateName("web-", 0);
  CHECK(n == "web-bbbbb");
  std::string n2 = GenerateName("web-", 123456789);
  CHECK(n2.size() == 9);
  CHECK(n2.rfind("web-", 0) == 0);
  for (char c : n2.substr(4)) CHECK(std::string_view("bcdfghjklmnpqrstvwxz2456789").find(c) != std::string_view::npos);
  std::string long_base(70, 'a');
  CHECK(GenerateName(long_base, 7).size() == 63);
  std::set<std::string> seen;
  for (uint64_t i = 0; i < 1000; ++i) seen.insert(GenerateName("x-", i * 2654435761u));
  CHECK(seen.size() == 1000);
  CHECK(GoQuote("a\"b\\c\n\x01é") == "\"a\\\"b\\\\c\\n\\x01é\"");
}
