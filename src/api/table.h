// Server-side printing: the meta.k8s.io/v1 Table that `kubectl get` shows, with upstream's
// columns for each kind (k8s.io/kubernetes/pkg/printers/internalversion/printers.go).
// Pure functions; any thread.
#pragma once

#include <string>
#include <vector>

#include "api/registry.h"
#include "common/clock.h"
#include "common/json.h"

namespace minik::api {

struct TableColumn {
  std::string name;         // "NAME", as upstream: "Name", "Ready", "Status", "Restarts", "Age", ...
  std::string type;         // "string", "integer", "date", "number", "boolean"
  std::string format;       // "name" for the name column, else usually ""
  std::string description;  // upstream's description text
  int priority = 0;         // 0 = always shown, 1 = only with -o wide
};

// The columns for a resource (upstream's, or the default Name + Created At for kinds upstream
// prints with the default table convertor).
const std::vector<TableColumn>& TableColumns(const ResourceInfo& resource);

// Appends the cells of one row for obj (one cell per column, in order) to cells (a JSON array),
// computing ages against now (upstream's duration.HumanDuration formatting: "5s", "3m2s", "2d3h"...).
// As upstream's server, every column is filled, -o wide ones included (kubectl hides priority 1).
// obj is the stored object of resource's kind (for the events.k8s.io Event, its own v1 shape).
void TableCells(const ResourceInfo& resource, const JsonValue& obj, TimePoint now, JsonValue& cells,
                JsonAlloc& alloc);

// True when upstream has a dedicated printer for the kind (false: the default Name/Created At).
bool HasTablePrinter(const ResourceInfo& resource);

// Sets row["conditions"] where upstream reports row conditions: a Pod that Succeeded or Failed gets
// [{"type":"Completed","status":"True","reason":<phase>,"message":...}]. Upstream's TableRow
// serializes cells, conditions, object in that order: call it after setting "cells".
void SetTableRowConditions(const ResourceInfo& resource, const JsonValue& obj, JsonValue& row, JsonAlloc& alloc);

// Upstream's human-readable duration (k8s.io/apimachinery/pkg/util/duration.HumanDuration).
std::string HumanDuration(std::chrono::nanoseconds d);

}  // namespace minik::api
