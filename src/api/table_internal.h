// Internal helpers of the Table printers (table*.cc): a stack string builder, fast RFC 3339
// parsing, JSON accessors and the per-row cell appender. Not part of minik_api_table's API.
// Pure functions and per-call values; any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/json.h"

namespace minik::api::table {

// A string builder that stays on the stack for short strings (every cell of a pod row) and
// spills to the heap only past kInline bytes (long endpoint lists, label sets).
class Buf {
 public:
  static constexpr size_t kInline = 256;

  Buf() = default;
  Buf(const Buf&) = delete;
  Buf& operator=(const Buf&) = delete;

  Buf& Add(std::string_view s) {
    if (!spilled_ && n_ + s.size() <= kInline) {
      if (!s.empty()) std::memcpy(small_ + n_, s.data(), s.size());
      n_ += s.size();
      return *this;
    }
    if (!spilled_) {
      big_.assign(small_, n_);
      spilled_ = true;
    }
    if (!s.empty()) big_.append(s.data(), s.size());
    return *this;
  }
  Buf& Add(char c) { return Add(std::string_view(&c, 1)); }
  Buf& Int(int64_t v);
  std::string_view view() const { return spilled_ ? std::string_view(big_) : std::string_view(small_, n_); }
  size_t size() const { return spilled_ ? big_.size() : n_; }
  bool empty() const { return size() == 0; }
  void Clear() {
    n_ = 0;
    spilled_ = false;
    big_.clear();
  }
  // Removes a trailing suffix if present (strings.TrimSuffix).
  void TrimSuffix(std::string_view suffix);

 private:
  char small_[kInline];
  size_t n_ = 0;
  bool spilled_ = false;
  std::string big_;
};

// Parses an RFC 3339 timestamp ("2024-05-01T10:00:00Z", optional fraction, "Z" or "+hh:mm").
// Returns false (and leaves *out alone) if malformed. No allocation.
bool ParseTime(std::string_view s, TimePoint* out);
// Appends t as RFC 3339 in UTC with second precision (Go's time.RFC3339 of t.UTC()).
void AppendRFC3339(Buf& b, TimePoint t);
// Appends duration.HumanDuration(d).
void AppendHumanDuration(Buf& b, std::chrono::nanoseconds d);

// Byte equality for short keys, inline and eight bytes at a time (a libc memcmp call per
// candidate member was a quarter of a pod row's cost).
inline bool SameBytes(const char* a, const char* b, size_t n) {
  for (; n >= 8; a += 8, b += 8, n -= 8) {
    uint64_t x, y;
    std::memcpy(&x, a, 8);
    std::memcpy(&y, b, 8);
    if (x != y) return false;
  }
  for (; n > 0; ++a, ++b, --n) {
    if (*a != *b) return false;
  }
  return true;
}

// JSON accessors: nullptr / "" / default when absent or of another type.
// An inlined member scan, cheaper than rapidjson's FindMember (a temporary Value and a memcmp
// call per candidate).
inline const JsonValue* Get(const JsonValue* v, std::string_view key) {
  if (!v || !v->IsObject()) return nullptr;
  for (auto it = v->MemberBegin(), end = v->MemberEnd(); it != end; ++it) {
    const JsonValue& name = it->name;
    if (name.GetStringLength() == key.size() && SameBytes(name.GetString(), key.data(), key.size())) {
      return &it->value;
    }
  }
  return nullptr;
}
inline const JsonValue* Get(const JsonValue& v, std::string_view key) { return Get(&v, key); }
// Several members in one pass over obj: out[i] = obj[keys[i]], or nullptr. For hot paths (pods).
template <size_t N>
inline void Pick(const JsonValue* obj, const std::string_view (&keys)[N], const JsonValue* (&out)[N]) {
  for (size_t i = 0; i < N; ++i) out[i] = nullptr;
  if (!obj || !obj->IsObject()) return;
  for (auto it = obj->MemberBegin(), end = obj->MemberEnd(); it != end; ++it) {
    const size_t len = it->name.GetStringLength();
    for (size_t i = 0; i < N; ++i) {
      if (keys[i].size() == len && !out[i] && SameBytes(it->name.GetString(), keys[i].data(), len)) {
        out[i] = &it->value;
        break;
      }
    }
  }
}
inline std::string_view Str(const JsonValue* v) {
  return (v && v->IsString()) ? std::string_view(v->GetString(), v->GetStringLength()) : std::string_view();
}
inline std::string_view Str(const JsonValue* v, std::string_view key) { return Str(Get(v, key)); }
inline std::string_view Str(const JsonValue& v, std::string_view key) { return Str(Get(&v, key)); }
inline int64_t Int(const JsonValue* v, int64_t def = 0) {
  if (!v) return def;
  if (v->IsInt64()) return v->GetInt64();
  if (v->IsUint64()) return static_cast<int64_t>(v->GetUint64());
  if (v->IsDouble()) return static_cast<int64_t>(v->GetDouble());
  return def;
}
inline int64_t Int(const JsonValue* v, std::string_view key, int64_t def = 0) { return Int(Get(v, key), def); }
inline bool Bool(const JsonValue* v, std::string_view key, bool def = false) {
  const JsonValue* b = Get(v, key);
  return (b && b->IsBool()) ? b->GetBool() : def;
}
inline bool IsSet(const JsonValue* v) { return v && !v->IsNull(); }
// The array at key, or nullptr.
inline const JsonValue* Arr(const JsonValue* v, std::string_view key) {
  const JsonValue* a = Get(v, key);
  return (a && a->IsArray()) ? a : nullptr;
}
inline rapidjson::SizeType Len(const JsonValue* v, std::string_view key) {
  const JsonValue* a = Get(v, key);
  if (!a) return 0;
  if (a->IsArray()) return a->Size();
  if (a->IsObject()) return a->MemberCount();
  return 0;
}
// A timestamp value; false when absent, null or malformed (Go's zero time).
inline bool TimeValue(const JsonValue* v, TimePoint* out) {
  std::string_view s = Str(v);
  return !s.empty() && ParseTime(s, out);
}
// A timestamp field; false when absent, null or malformed (Go's zero time).
inline bool Time(const JsonValue* v, std::string_view key, TimePoint* out) {
  std::string_view s = Str(v, key);
  return !s.empty() && ParseTime(s, out);
}

// Appends the cells of one row.
class Row {
 public:
  Row(JsonValue& cells, JsonAlloc& alloc, TimePoint now) : cells_(cells), alloc_(alloc), now_(now) {}

  TimePoint now() const { return now_; }
  void Str(std::string_view s) {
    if (s.data() == nullptr) s = std::string_view("", 0);  // rapidjson asserts on a null pointer
    cells_.PushBack(MakeString(s, alloc_), alloc_);
  }
  void Str(const Buf& b) { Str(b.view()); }
  void Int(int64_t v) { cells_.PushBack(JsonValue(v), alloc_); }
  void Bool(bool v) { cells_.PushBack(JsonValue(v), alloc_); }
  // translateTimestampSince: "<unknown>" when unset.
  void Since(const JsonValue* obj, std::string_view key);
  // The Age column: translateTimestampSince(metadata.creationTimestamp).
  void Age(const JsonValue& obj) { Since(Get(obj, "metadata"), "creationTimestamp"); }
  void Name(const JsonValue& obj) { Str(table::Str(Get(obj, "metadata"), "name")); }

 private:
  JsonValue& cells_;
  JsonAlloc& alloc_;
  TimePoint now_;
};

// Appends translateTimestampSince(t) for a set time.
void AppendSince(Buf& b, TimePoint now, TimePoint t);

// labels.FormatLabels(map): "k=v,k2=v2" sorted, "<none>" when empty.
void AppendLabels(Buf& b, const JsonValue* map);
// metav1.FormatLabelSelector: "<none>" when nil or empty, "<error>" when invalid.
void AppendLabelSelector(Buf& b, const JsonValue* selector);
// LabelSelectorAsSelector(sel).String(); false when invalid. nil and empty both give "".
bool AppendSelectorString(Buf& b, const JsonValue* selector);
// layoutContainerCells: names and images of containers, comma-joined.
void AppendContainers(Buf& names, Buf& images, const JsonValue* containers);
// Kind/format helpers.
void AppendLower(Buf& b, std::string_view s);

// Per-kind printers (table_core.cc, table_workloads.cc, table_other.cc).
void PrintPod(Row& r, const JsonValue& o);
void PrintPodTemplate(Row& r, const JsonValue& o);
void PrintReplicationController(Row& r, const JsonValue& o);
void PrintService(Row& r, const JsonValue& o);
void PrintEndpoints(Row& r, const JsonValue& o);
void PrintNode(Row& r, const JsonValue& o);
void PrintEvent(Row& r, const JsonValue& o);
void PrintEventsV1(Row& r, const JsonValue& o);
void PrintNamespace(Row& r, const JsonValue& o);
void PrintSecret(Row& r, const JsonValue& o);
void PrintConfigMap(Row& r, const JsonValue& o);
void PrintServiceAccount(Row& r, const JsonValue& o);
void PrintPersistentVolume(Row& r, const JsonValue& o);
void PrintPersistentVolumeClaim(Row& r, const JsonValue& o);
void PrintResourceQuota(Row& r, const JsonValue& o);
void PrintComponentStatus(Row& r, const JsonValue& o);

void PrintDeployment(Row& r, const JsonValue& o);
void PrintReplicaSet(Row& r, const JsonValue& o);
void PrintDaemonSet(Row& r, const JsonValue& o);
void PrintStatefulSet(Row& r, const JsonValue& o);
void PrintControllerRevision(Row& r, const JsonValue& o);
void PrintJob(Row& r, const JsonValue& o);
void PrintCronJob(Row& r, const JsonValue& o);
void PrintHorizontalPodAutoscaler(Row& r, const JsonValue& o);
void PrintPodDisruptionBudget(Row& r, const JsonValue& o);
void PrintScale(Row& r, const JsonValue& o);

void PrintIngress(Row& r, const JsonValue& o);
void PrintIngressClass(Row& r, const JsonValue& o);
void PrintNetworkPolicy(Row& r, const JsonValue& o);
void PrintEndpointSlice(Row& r, const JsonValue& o);
void PrintLease(Row& r, const JsonValue& o);
void PrintRoleBinding(Row& r, const JsonValue& o);
void PrintStorageClass(Row& r, const JsonValue& o);
void PrintPriorityClass(Row& r, const JsonValue& o);
void PrintRuntimeClass(Row& r, const JsonValue& o);
void PrintCertificateSigningRequest(Row& r, const JsonValue& o);

}  // namespace minik::api::table
