// Internal: the field tables behind DecodeProtobufObject (protobuf.h), generated into
// protobuf_schema.cc by protobuf_schema_gen.py. Immutable; any thread.
#pragma once

#include <cstdint>
#include <span>

namespace minik::api::protobuf_internal {

// How a field's value is encoded in proto and rendered in JSON.
enum class FieldKind : uint8_t {
  kString,       // string -> JSON string
  kBool,         // varint -> true/false
  kInt32,        // varint -> number
  kInt64,        // varint -> number
  kBytes,        // []byte -> base64 string
  kMessage,      // nested message (FieldDef::message) -> object
  kTime,         // metav1.Time {seconds=1, nanos=2} -> RFC 3339 or null
  kMicroTime,    // metav1.MicroTime -> RFC 3339 with microseconds or null
  kDuration,     // metav1.Duration {duration int64 ns=1} -> Go duration string
  kQuantity,     // resource.Quantity {string=1} -> string
  kIntOrString,  // intstr.IntOrString {type=1, intVal=2, strVal=3} -> number or string
  kRawJson,      // runtime.RawExtension / metav1.FieldsV1 {raw bytes=1} -> embedded JSON
  kStringList,   // a named []string type (ExtraValue) wrapped as {repeated string items=1} -> array
};

inline constexpr uint8_t kFlagRepeated = 1;   // repeated field -> JSON array
inline constexpr uint8_t kFlagMap = 2;        // map<string, kind> -> JSON object
inline constexpr uint8_t kFlagPointer = 4;    // Go pointer: present means emitted even when zero
inline constexpr uint8_t kFlagOmitEmpty = 8;  // `json:",omitempty"`
inline constexpr uint8_t kFlagInline = 16;    // `json:",inline"`: members flattened into the parent

struct FieldDef {
  uint32_t number;   // proto field number
  int32_t message;   // index into Messages() for kMessage, else -1
  FieldKind kind;    // value kind (the element kind for repeated fields and map values)
  uint8_t flags;     // kFlag*
  const char* json;  // JSON name ("" for inline)
};

struct MessageDef {
  const char* name;        // e.g. "core.v1.PodSpec"
  const FieldDef* fields;  // in Go struct order
  uint32_t count;
};

struct KindDef {
  const char* api_version;  // "v1", "apps/v1", ...
  const char* kind;
  int32_t message;
};

std::span<const MessageDef> Messages();
std::span<const KindDef> Kinds();

}  // namespace minik::api::protobuf_internal
