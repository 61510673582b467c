#include "server/manifests/manifest_file.h"

#include "common/yaml.h"

namespace minik::server {
namespace {

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Go's name for a JSON value's type, as encoding/json's UnmarshalTypeError prints it.
const char* GoTypeName(const JsonValue& v) {
  if (v.IsString()) return "string";
  if (v.IsNumber()) return "number";
  if (v.IsArray()) return "array";
  if (v.IsBool()) return "bool";
  return "object";
}

bool IsList(const JsonValue& obj) {
  auto kind = GetString(obj, "kind");
  const JsonValue* items = Member(obj, "items");
  return kind && EndsWith(*kind, "List") && items && items->IsArray();
}

Status CheckObject(const JsonValue& obj) {
  if (!obj.IsObject()) {
    return Status::BadRequest(std::string("json: cannot unmarshal ") + GoTypeName(obj) +
                              " into Go value of type map[string]interface {}");
  }
  auto kind = GetString(obj, "kind");
  if (!kind || kind->empty()) return Status::BadRequest("Object 'Kind' is missing in '" + ToJson(obj) + "'");
  auto api_version = GetString(obj, "apiVersion");
  if (!api_version || api_version->empty()) {
    return Status::BadRequest("Object 'apiVersion' is missing in '" + ToJson(obj) + "'");
  }
  const JsonValue* meta = Member(obj, "metadata");
  auto name = meta ? GetString(*meta, "name") : std::nullopt;
  if (!name || name->empty()) {
    return Status::BadRequest("metadata.name is required in '" + ToJson(obj) + "'");
  }
  return Status::OK();
}

// Appends doc (or, for a List, its items) to out.
Status Collect(JsonDoc doc, std::vector<JsonDoc>* out) {
  if (doc.IsNull()) return Status::OK();  // an empty document
  if (doc.IsObject() && IsList(doc)) {
    for (const JsonValue& item : (*MutableMember(doc, "items")).GetArray()) {
      MINIK_RETURN_IF_ERROR(CheckObject(item));
      JsonDoc one;
      one.CopyFrom(item, one.GetAllocator());
      out->push_back(std::move(one));
    }
    return Status::OK();
  }
  MINIK_RETURN_IF_ERROR(CheckObject(doc));
  out->push_back(std::move(doc));
  return Status::OK();
}

}  // namespace

bool IsManifestFileName(std::string_view name) {
  if (name.empty() || name.front() == '.') return false;
  return EndsWith(name, ".yaml") || EndsWith(name, ".yml") || EndsWith(name, ".json");
}

StatusOr<std::vector<JsonDoc>> ParseManifest(std::string_view name, std::string_view content) {
  std::vector<JsonDoc> out;
  if (EndsWith(name, ".json")) {
    // An empty (or whitespace-only) JSON file holds nothing.
    if (content.find_first_not_of(" \t\r\n") == std::string_view::npos) return out;
    MINIK_ASSIGN_OR_RETURN(JsonDoc doc, ParseJson(content));
    MINIK_RETURN_IF_ERROR(Collect(std::move(doc), &out));
    return out;
  }
  MINIK_ASSIGN_OR_RETURN(std::vector<JsonDoc> docs, YamlDocumentsToJson(content));
  for (JsonDoc& doc : docs) MINIK_RETURN_IF_ERROR(Collect(std::move(doc), &out));
  return out;
}

}  // namespace minik::server
