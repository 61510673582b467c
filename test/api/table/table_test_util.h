// Helpers for the Table printer tests: build a ResourceInfo, print one object's cells at a fixed
// "now" and return them as compact JSON.
#pragma once

#include <catch2/catch.hpp>
#include <string>
#include <string_view>

#include "api/table.h"

namespace minik::api::testing {

// 2026-01-01T00:00:00Z, FakeClock's default start.
inline TimePoint Now() { return TimePoint(std::chrono::seconds(1767225600)); }

inline ResourceInfo Resource(std::string group, std::string kind, std::string version = "v1") {
  ResourceInfo r;
  r.group = std::move(group);
  r.version = std::move(version);
  r.kind = std::move(kind);
  return r;
}

inline std::string Cells(const ResourceInfo& resource, std::string_view object_json, TimePoint now = Now()) {
  auto parsed = ParseJson(object_json);
  REQUIRE(parsed.ok());
  JsonDoc out;
  out.SetArray();
  TableCells(resource, *parsed, now, out, out.GetAllocator());
  // One cell per column, always.
  CHECK(out.Size() == TableColumns(resource).size());
  return ToJson(out);
}

inline std::string ColumnNames(const ResourceInfo& resource) {
  std::string s;
  for (const TableColumn& c : TableColumns(resource)) {
    if (!s.empty()) s += "|";
    s += c.name;
    if (c.priority) s += "*";
  }
  return s;
}

}  // namespace minik::api::testing
