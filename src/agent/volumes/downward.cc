#include "agent/volumes/downward.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "agent/volumes/pod_util.h"
#include "api/quantity.h"
#include "api/validation.h"
#include "common/strings.h"

namespace minik::agent::volumes {

using internal::Object;
using internal::Str;

std::string Expand(std::string_view input, const MappingFunc& mapping) {
  std::string out;
  size_t checkpoint = 0;
  for (size_t cursor = 0; cursor < input.size(); ++cursor) {
    if (input[cursor] != '$' || cursor + 1 >= input.size()) continue;
    out.append(input.substr(checkpoint, cursor - checkpoint));
    std::string_view rest = input.substr(cursor + 1);
    size_t advance = 1;
    if (rest[0] == '$') {
      out += '$';  // escaped operator
    } else if (rest[0] == '(') {
      size_t close = rest.find(')', 1);
      if (close == std::string_view::npos) {
        out += "$(";  // incomplete reference: kept, scanning resumes after "("
      } else {
        out += mapping(std::string(rest.substr(1, close - 1)));
        advance = close + 1;
      }
    } else {
      out += '$';
      out += rest[0];
    }
    cursor += advance;
    checkpoint = cursor + 1;
  }
  if (checkpoint < input.size()) out.append(input.substr(checkpoint));
  return out;
}

MappingFunc MappingFor(std::vector<const std::map<std::string, std::string>*> maps) {
  return [maps = std::move(maps)](const std::string& name) -> std::string {
    for (const auto* m : maps) {
      auto it = m->find(name);
      if (it != m->end()) return it->second;
    }
    return "$(" + name + ")";
  };
}

std::string FormatMap(const JsonValue* map) {
  std::vector<std::pair<std::string, std::string>> kv;
  if (map && map->IsObject()) {
    for (const auto& m : map->GetObject()) {
      kv.emplace_back(std::string(m.name.GetString(), m.name.GetStringLength()),
                      m.value.IsString() ? std::string(m.value.GetString(), m.value.GetStringLength()) : std::string());
    }
  }
  std::sort(kv.begin(), kv.end());
  std::string out;
  for (size_t i = 0; i < kv.size(); ++i) {
    if (i) out += '\n';
    out += kv[i].first + "=" + api::GoQuote(kv[i].second);
  }
  return out;
}

namespace {

// fieldpath.SplitMaybeSubscriptedPath: "metadata.labels['k']" -> ("metadata.labels", "k").
bool SplitSubscript(std::string_view field_path, std::string* path, std::string* subscript) {
  if (field_path.size() < 2 || field_path.substr(field_path.size() - 2) != "']") return false;
  std::string_view s = field_path.substr(0, field_path.size() - 2);
  size_t open = s.find("['");
  if (open == std::string_view::npos || open == 0) return false;
  *path = std::string(s.substr(0, open));
  *subscript = std::string(s.substr(open + 2));
  return true;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? sep : "") + v[i];
  return out;
}

}  // namespace

StatusOr<std::string> ExtractPodMetadataField(const JsonValue& pod, std::string_view field_path) {
  const JsonValue* meta = Object(&pod, "metadata");
  std::string path, subscript;
  if (SplitSubscript(field_path, &path, &subscript)) {
    if (path == "metadata.annotations" || path == "metadata.labels") {
      bool ann = path == "metadata.annotations";
      auto errs = api::IsQualifiedName(ann ? Lower(subscript) : subscript);
      if (!errs.empty()) {
        return Status::Invalid("invalid key subscript in " + std::string(field_path) + ": " + Join(errs, ";"));
      }
      return Str(Object(meta, ann ? "annotations" : "labels"), subscript);
    }
    return Status::Invalid("fieldPath \"" + std::string(field_path) + "\" does not support subscript");
  }
  if (field_path == "metadata.annotations") return FormatMap(Object(meta, "annotations"));
  if (field_path == "metadata.labels") return FormatMap(Object(meta, "labels"));
  if (field_path == "metadata.name") return Str(meta, "name");
  if (field_path == "metadata.namespace") return Str(meta, "namespace");
  if (field_path == "metadata.uid") return Str(meta, "uid");
  return Status::Invalid("unsupported fieldPath: " + std::string(field_path));
}

StatusOr<std::string> PodFieldValue(const JsonValue& pod, std::string_view api_version, std::string_view field_path,
                                    const NodeInfo& node) {
  // ConvertDownwardAPIFieldLabel.
  if (!api_version.empty() && api_version != "v1") {
    return Status::Invalid("unsupported pod version: " + std::string(api_version));
  }
  std::string path = std::string(field_path), sub;
  if (SplitSubscript(field_path, &path, &sub)) {
    if (path != "metadata.annotations" && path != "metadata.labels") {
      return Status::Invalid("field label does not support subscript: " + std::string(field_path));
    }
    return ExtractPodMetadataField(pod, field_path);
  }
  static const char* kSupported[] = {"metadata.annotations", "metadata.labels", "metadata.name",
                                     "metadata.namespace", "metadata.uid", "spec.nodeName",
                                     "spec.restartPolicy", "spec.serviceAccountName", "spec.schedulerName",
                                     "status.phase", "status.hostIP", "status.hostIPs",
                                     "status.podIP", "status.podIPs"};
  if (field_path == "spec.host") path = "spec.nodeName";
  else if (std::find(std::begin(kSupported), std::end(kSupported), field_path) == std::end(kSupported)) {
    return Status::Invalid("field label not supported: " + std::string(field_path));
  }
  const JsonValue* spec = Object(&pod, "spec");
  if (path == "spec.nodeName") return Str(spec, "nodeName");
  if (path == "spec.serviceAccountName") return Str(spec, "serviceAccountName");
  if (path == "status.hostIP" || path == "status.hostIPs") {
    if (node.host_ips.empty()) return Status::Invalid("host IP unknown; known addresses: []");
    return path == "status.hostIP" ? node.host_ips[0] : Join(node.host_ips, ",");
  }
  if (path == "status.podIP") return node.pod_ips.empty() ? std::string() : node.pod_ips[0];
  if (path == "status.podIPs") return Join(node.pod_ips, ",");
  return ExtractPodMetadataField(pod, path);
}

namespace {

api::Quantity QuantityOf(const JsonValue* list, std::string_view name) {
  if (!list || !list->IsObject()) return {};
  const JsonValue* v = Member(*list, name);
  if (!v) return {};
  std::string text;
  if (v->IsString()) text.assign(v->GetString(), v->GetStringLength());
  else if (v->IsInt64()) text = std::to_string(v->GetInt64());
  else return {};
  auto q = api::ParseQuantity(Trim(text));
  return q.ok() ? *q : api::Quantity();
}

api::Quantity ParseOr(const std::string& text) {
  if (text.empty()) return {};
  auto q = api::ParseQuantity(text);
  return q.ok() ? *q : api::Quantity();
}

}  // namespace

StatusOr<std::string> ContainerResourceValue(const JsonValue& ref, const JsonValue& pod, const JsonValue* container,
                                             const NodeInfo& node) {
  std::string container_name = Str(&ref, "containerName");
  if (!container_name.empty()) {
    container = internal::FindContainer(pod, container_name);
    if (!container) return Status::Invalid("container " + container_name + " not found");
  }
  if (!container) return Status::Invalid("container  not found");

  std::string resource = Str(&ref, "resource");
  api::Quantity divisor;
  if (const JsonValue* d = Member(ref, "divisor")) {
    if (d->IsString()) divisor = ParseOr(std::string(Trim(std::string_view(d->GetString(), d->GetStringLength()))));
    else if (d->IsInt64()) divisor = api::Quantity::FromInt(d->GetInt64());
  }
  if (divisor.IsZero()) divisor = api::Quantity::FromInt(1);

  const JsonValue* resources = Object(container, "resources");
  const JsonValue* limits = Object(resources, "limits");
  const JsonValue* requests = Object(resources, "requests");
  bool is_limit = resource.rfind("limits.", 0) == 0;
  bool is_request = resource.rfind("requests.", 0) == 0;
  std::string name = is_limit ? resource.substr(7) : is_request ? resource.substr(9) : std::string();

  api::Quantity value;
  if (is_limit || is_request) {
    value = QuantityOf(is_limit ? limits : requests, name);
    if (is_limit && value.IsZero()) {  // MergeContainerResourceLimits: node allocatable
      if (name == "cpu") value = ParseOr(node.allocatable_cpu);
      else if (name == "memory") value = ParseOr(node.allocatable_memory);
      else if (name == "ephemeral-storage") value = ParseOr(node.allocatable_ephemeral_storage);
    }
  }
  auto ceil_div = [](double a, double b) { return static_cast<int64_t>(std::ceil(a / b)); };
  if (name == "cpu" && (is_limit || is_request)) {
    double v = static_cast<double>(value.MilliValue().value_or(INT64_MAX));
    double d = static_cast<double>(divisor.MilliValue().value_or(INT64_MAX));
    return std::to_string(ceil_div(v, d));
  }
  if ((name == "memory" || name == "ephemeral-storage" || name.rfind("hugepages-", 0) == 0) &&
      (is_limit || is_request)) {
    double v = static_cast<double>(value.Value().value_or(INT64_MAX));
    double d = static_cast<double>(divisor.Value().value_or(INT64_MAX));
    return std::to_string(ceil_div(v, d));
  }
  return Status::Invalid("unsupported container resource : " + resource);
}

}  // namespace minik::agent::volumes
