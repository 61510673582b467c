#include "server/manifests/manifest_file.h"

#include <catch2/catch.hpp>

namespace minik::server {
namespace {

std::string NameOf(const JsonDoc& d) { return std::string(*GetString(*Member(d, "metadata"), "name")); }

TEST_CASE("manifest file names", "[manifests][parse]") {
  CHECK(IsManifestFileName("a.yaml"));
  CHECK(IsManifestFileName("a.yml"));
  CHECK(IsManifestFileName("a.json"));
  CHECK_FALSE(IsManifestFileName("a.yaml.skip"));
  CHECK_FALSE(IsManifestFileName(".a.yaml.swp"));
  CHECK_FALSE(IsManifestFileName(".a.yaml"));
  CHECK_FALSE(IsManifestFileName("a.yaml~"));
  CHECK_FALSE(IsManifestFileName("a.txt"));
  CHECK_FALSE(IsManifestFileName(""));
}

TEST_CASE("YAML manifests: documents, lists, empty documents", "[manifests][parse]") {
  auto objs = ParseManifest("x.yaml", R"(# comment
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: one
data:
  num: "1"
---
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: two}
- apiVersion: v1
  kind: Secret
  metadata: {name: three}
)");
  REQUIRE(objs.ok());
  REQUIRE(objs->size() == 3);
  CHECK(NameOf((*objs)[0]) == "one");
  CHECK(*Path((*objs)[0], {"data", "num"}) == JsonValue("1"));
  CHECK(NameOf((*objs)[1]) == "two");
  CHECK(NameOf((*objs)[2]) == "three");
  CHECK(*GetString((*objs)[2], "kind") == "Secret");

  auto empty = ParseManifest("e.yml", "# nothing here\n---\n");
  REQUIRE(empty.ok());
  CHECK(empty->empty());
}

TEST_CASE("JSON manifests: one object or a List", "[manifests][parse]") {
  auto one = ParseManifest("x.json", R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}})");
  REQUIRE(one.ok());
  REQUIRE(one->size() == 1);
  auto list = ParseManifest("x.json", R"({"apiVersion":"v1","kind":"List","items":[
      {"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}},
      {"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"b"}}]})");
  REQUIRE(list.ok());
  REQUIRE(list->size() == 2);
  CHECK(NameOf((*list)[1]) == "b");
  auto empty = ParseManifest("x.json", "  \n");
  REQUIRE(empty.ok());
  CHECK(empty->empty());
}

TEST_CASE("malformed manifests are rejected with upstream's messages", "[manifests][parse]") {
  auto no_kind = ParseManifest("x.json", R"({"apiVersion":"v1","metadata":{"name":"a"}})");
  REQUIRE_FALSE(no_kind.ok());
  CHECK(no_kind.status().message() == R"(Object 'Kind' is missing in '{"apiVersion":"v1","metadata":{"name":"a"}}')");
  auto no_version = ParseManifest("x.json", R"({"kind":"ConfigMap","metadata":{"name":"a"}})");
  REQUIRE_FALSE(no_version.ok());
  CHECK(no_version.status().message() ==
        R"(Object 'apiVersion' is missing in '{"kind":"ConfigMap","metadata":{"name":"a"}}')");
  auto no_name = ParseManifest("x.json", R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{}})");
  REQUIRE_FALSE(no_name.ok());
  CHECK(no_name.status().message().find("metadata.name is required") == 0);
  auto scalar = ParseManifest("x.yaml", "just a string\n");
  REQUIRE_FALSE(scalar.ok());
  CHECK(scalar.status().message() == "json: cannot unmarshal string into Go value of type map[string]interface {}");
  auto bad_json = ParseManifest("x.json", "{\"apiVersion\":");
  CHECK_FALSE(bad_json.ok());
  auto bad_yaml = ParseManifest("x.yaml", "apiVersion: v1\nkind: [unclosed\n");
  CHECK_FALSE(bad_yaml.ok());
  // One bad document rejects the whole file.
  auto mixed = ParseManifest("x.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\nkind: X\n");
  CHECK_FALSE(mixed.ok());
}

}  // namespace
}  // namespace minik::server
