#include "api/protobuf.h"

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "api/protobuf_schema.h"

namespace minik::api {

namespace pi = protobuf_internal;

namespace {

using pi::FieldDef;
using pi::FieldKind;
using pi::MessageDef;

constexpr int kMaxDepth = 64;
constexpr std::string_view kMagic("k8s\0", 4);
// Go's time.Time{} as Unix seconds: time.Unix(kZeroTimeUnix, 0).IsZero() is true.
constexpr int64_t kZeroTimeUnix = -62135596800;

enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLen = 2, kStartGroup = 3, kEndGroup = 4, kFixed32 = 5 };

// A bounds-checked reader over one message's bytes. Errors carry gogo-protobuf's wording.
class Reader {
 public:
  explicit Reader(std::string_view data)
      : p_(reinterpret_cast<const uint8_t*>(data.data())), end_(p_ + data.size()) {}

  bool done() const { return p_ >= end_; }

  // Reads a base-128 varint; false with *err set on overflow or truncation.
  bool Varint(uint64_t* v, std::string* err) {
    uint64_t result = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ >= end_) {
        *err = "unexpected EOF";
        return false;
      }
      const uint8_t b = *p_++;
      result |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (b < 0x80) {
        *v = result;
        return true;
      }
    }
    *err = "proto: integer overflow";
    return false;
  }

  bool LengthDelimited(std::string_view* out, std::string* err) {
    uint64_t n = 0;
    if (!Varint(&n, err)) return false;
    if (static_cast<int64_t>(n) < 0) {
      *err = "proto: negative length found during unmarshaling";
      return false;
    }
    if (n > static_cast<uint64_t>(end_ - p_)) {
      *err = "unexpected EOF";
      return false;
    }
    *out = std::string_view(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    return true;
  }

  bool Skip(uint32_t wire_type, std::string* err) {
    uint64_t ignored = 0;
    std::string_view ignored_bytes;
    switch (wire_type) {
      case kVarint:
        return Varint(&ignored, err);
      case kFixed64:
        return Advance(8, err);
      case kFixed32:
        return Advance(4, err);
      case kLen:
        return LengthDelimited(&ignored_bytes, err);
      default:
        *err = "proto: illegal wireType " + std::to_string(wire_type);
        return false;
    }
  }

 private:
  bool Advance(size_t n, std::string* err) {
    if (n > static_cast<size_t>(end_ - p_)) {
      *err = "unexpected EOF";
      return false;
    }
    p_ += n;
    return true;
  }

  const uint8_t* p_;
  const uint8_t* end_;
};

// Reads the next tag; false at the end of the message (err empty) or on error (err set).
bool NextTag(Reader& r, uint32_t* number, uint32_t* wire_type, std::string* err) {
  if (r.done()) return false;
  uint64_t key = 0;
  if (!r.Varint(&key, err)) return false;
  *wire_type = static_cast<uint32_t>(key & 7);
  const uint64_t n = key >> 3;
  if (n == 0 || n > 0x1fffffff) {
    *err = "proto: illegal tag " + std::to_string(n) + " (wire type " + std::to_string(*wire_type) + ")";
    return false;
  }
  if (*wire_type == kEndGroup) {
    *err = "proto: wiretype end group for non-group";
    return false;
  }
  *number = static_cast<uint32_t>(n);
  return true;
}

void AppendBase64(std::string_view in, std::string* out) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  out->reserve(out->size() + (in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out->push_back(kAlphabet[(v >> 18) & 63]);
    out->push_back(kAlphabet[(v >> 12) & 63]);
    out->push_back(kAlphabet[(v >> 6) & 63]);
    out->push_back(kAlphabet[v & 63]);
  }
  if (i + 1 == in.size()) {
    const uint32_t v = uint8_t(in[i]) << 16;
    out->push_back(kAlphabet[(v >> 18) & 63]);
    out->push_back(kAlphabet[(v >> 12) & 63]);
    out->append("==");
  } else if (i + 2 == in.size()) {
    const uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out->push_back(kAlphabet[(v >> 18) & 63]);
    out->push_back(kAlphabet[(v >> 12) & 63]);
    out->push_back(kAlphabet[(v >> 6) & 63]);
    out->push_back('=');
  }
}

// Length of the valid UTF-8 sequence at s[i], or 0 if invalid (Go's utf8.DecodeRune rules:
// no overlongs, no surrogates, nothing above U+10FFFF).
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  const uint8_t c = b(i);
  const size_t left = s.size() - i;
  const auto cont = [&](size_t k) { return (b(k) & 0xc0) == 0x80; };
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) return left >= 2 && cont(i + 1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    if (left < 3 || !cont(i + 1) || !cont(i + 2)) return 0;
    if (c == 0xe0 && b(i + 1) < 0xa0) return 0;   // overlong
    if (c == 0xed && b(i + 1) > 0x9f) return 0;   // surrogate
    return 3;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    if (left < 4 || !cont(i + 1) || !cont(i + 2) || !cont(i + 3)) return 0;
    if (c == 0xf0 && b(i + 1) < 0x90) return 0;  // overlong
    if (c == 0xf4 && b(i + 1) > 0x8f) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;
}

// A JSON string of s, with invalid UTF-8 bytes replaced by U+FFFD as Go's encoding/json does.
JsonValue MakeUtf8String(std::string_view s, JsonAlloc& a) {
  if (s.empty()) return JsonValue("", 0);  // s.data() may be null; rapidjson asserts on that
  size_t i = 0;
  while (i < s.size() && static_cast<uint8_t>(s[i]) < 0x80) ++i;
  if (i == s.size()) return MakeString(s, a);
  std::string fixed(s.substr(0, i));
  while (i < s.size()) {
    const size_t n = Utf8SequenceLength(s, i);
    if (n == 0) {
      fixed.append("\xef\xbf\xbd");
      ++i;
    } else {
      fixed.append(s.substr(i, n));
      i += n;
    }
  }
  return MakeString(fixed, a);
}

// Days since 1970-01-01 -> civil date (proleptic Gregorian).
void CivilFromDays(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = static_cast<int64_t>(yoe) + era * 400 + (*m <= 2);
}

// RFC 3339 in UTC; micro >= 0 adds 6 fractional digits. False if the year is outside 0..9999.
bool FormatTime(int64_t seconds, int micro, std::string* out) {
  if (seconds < -62167219200 || seconds > 253402300799) return false;  // years 0..9999
  int64_t days = seconds / 86400;
  int64_t rem = seconds % 86400;
  if (rem < 0) {
    rem += 86400;
    --days;
  }
  int64_t y = 0;
  unsigned m = 0, d = 0;
  CivilFromDays(days, &y, &m, &d);
  char buf[48];
  const int hh = static_cast<int>(rem / 3600), mm = static_cast<int>(rem / 60 % 60), ss = static_cast<int>(rem % 60);
  if (micro >= 0) {
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%06dZ", static_cast<int>(y), m, d, hh, mm, ss, micro);
  } else {
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02dZ", static_cast<int>(y), m, d, hh, mm, ss);
  }
  *out = buf;
  return true;
}

// Go's time.Duration.String().
std::string FormatDuration(int64_t ns) {
  if (ns == 0) return "0s";
  const bool neg = ns < 0;
  uint64_t u = neg ? static_cast<uint64_t>(-(ns + 1)) + 1 : static_cast<uint64_t>(ns);
  // Appends the fraction of v / 10^prec without trailing zeros; returns v / 10^prec.
  const auto frac = [](uint64_t v, int prec, std::string* s) {
    std::string digits;
    bool print = false;
    for (int i = 0; i < prec; ++i) {
      const uint64_t digit = v % 10;
      print = print || digit != 0;
      if (print) digits.insert(digits.begin(), static_cast<char>('0' + digit));
      v /= 10;
    }
    if (print) *s = "." + digits + *s;
    return v;
  };
  std::string s;
  if (u < 1000000000ULL) {
    int prec = 0;
    std::string unit;
    if (u < 1000) {
      unit = "ns";
    } else if (u < 1000000) {
      prec = 3;
      unit = "\xc2\xb5s";  // µs
    } else {
      prec = 6;
      unit = "ms";
    }
    s = unit;
    u = frac(u, prec, &s);
    s = std::to_string(u) + s;
  } else {
    s = "s";
    u = frac(u, 9, &s);
    s = std::to_string(u % 60) + s;
    u /= 60;
    if (u > 0) {
      s = std::to_string(u % 60) + "m" + s;
      u /= 60;
      if (u > 0) s = std::to_string(u) + "h" + s;
    }
  }
  return neg ? "-" + s : s;
}

class Decoder {
 public:
  explicit Decoder(JsonAlloc& alloc) : a_(alloc) {}

  const std::string& error() const { return err_; }

  // Decodes message `index` from data, adding its JSON members to *out (an object).
  bool DecodeMessage(int32_t index, std::string_view data, JsonValue* out, int depth) {
    if (depth > kMaxDepth) return Fail("proto: message nesting too deep");
    const MessageDef& m = pi::Messages()[static_cast<size_t>(index)];
    const size_t base = slots_.size();
    slots_.resize(base + m.count);
    seen_.resize(base + m.count, 0);
    Reader r(data);
    uint32_t number = 0, wt = 0;
    while (NextTag(r, &number, &wt, &err_)) {
      const FieldDef* f = nullptr;
      size_t i = 0;
      for (; i < m.count; ++i) {
        if (m.fields[i].number == number) {
          f = &m.fields[i];
          break;
        }
      }
      if (f == nullptr) {
        if (!r.Skip(wt, &err_)) return false;
        continue;
      }
      if (!DecodeField(m, *f, base + i, r, wt, depth)) return false;
    }
    if (!err_.empty()) return false;
    for (size_t i = 0; i < m.count; ++i) {
      const FieldDef& f = m.fields[i];
      if (seen_[base + i]) {
        JsonValue& v = slots_[base + i];
        if (f.flags & pi::kFlagInline) {
          for (auto& member : v.GetObject()) out->AddMember(member.name, member.value, a_);
        } else if (!OmitPresent(f, v)) {
          out->AddMember(rapidjson::StringRef(f.json), v, a_);
        }
      } else {
        AddZero(f, out);
      }
    }
    slots_.resize(base);
    seen_.resize(base);
    return true;
  }

 private:
  bool Fail(std::string message) {
    err_ = std::move(message);
    return false;
  }

  bool WrongWireType(const MessageDef& m, const FieldDef& f, uint32_t wt) {
    return Fail("proto: wrong wireType = " + std::to_string(wt) + " for field " +
                (f.json[0] ? f.json : "<inline>") + " of " + m.name);
  }

  bool DecodeField(const MessageDef& m, const FieldDef& f, size_t slot, Reader& r, uint32_t wt, int depth) {
    if (f.flags & pi::kFlagMap) {
      if (wt != kLen) return WrongWireType(m, f, wt);
      std::string_view entry;
      if (!r.LengthDelimited(&entry, &err_)) return false;
      return DecodeMapEntry(m, f, slot, entry, depth);
    }
    if (f.flags & pi::kFlagRepeated) {
      if (!seen_[slot]) {
        slots_[slot].SetArray();
        seen_[slot] = 1;
      }
      const bool scalar = f.kind == FieldKind::kBool || f.kind == FieldKind::kInt32 || f.kind == FieldKind::kInt64;
      if (scalar && wt == kLen) {  // packed
        std::string_view packed;
        if (!r.LengthDelimited(&packed, &err_)) return false;
        Reader pr(packed);
        while (!pr.done()) {
          JsonValue v;
          if (!DecodeValue(m, f, pr, kVarint, &v, depth)) return false;
          slots_[slot].PushBack(v, a_);
        }
        return true;
      }
      JsonValue v;
      if (!DecodeValue(m, f, r, wt, &v, depth)) return false;
      slots_[slot].PushBack(v, a_);
      return true;
    }
    JsonValue v;
    if (!DecodeValue(m, f, r, wt, &v, depth)) return false;
    slots_[slot] = std::move(v);
    seen_[slot] = 1;
    return true;
  }

  bool DecodeMapEntry(const MessageDef& m, const FieldDef& f, size_t slot, std::string_view entry, int depth) {
    Reader er(entry);
    std::string_view key;
    JsonValue value;
    bool have_value = false;
    uint32_t number = 0, wt = 0;
    while (NextTag(er, &number, &wt, &err_)) {
      if (number == 1) {
        if (wt != kLen) return WrongWireType(m, f, wt);
        if (!er.LengthDelimited(&key, &err_)) return false;
      } else if (number == 2) {
        if (!DecodeValue(m, f, er, wt, &value, depth)) return false;
        have_value = true;
      } else if (!er.Skip(wt, &err_)) {
        return false;
      }
    }
    if (!err_.empty()) return false;
    if (!have_value) {  // gogo's initial map value: non-nil empty []byte and ExtraValue, else zero
      if (f.kind == FieldKind::kBytes) {
        value.SetString("", 0);
      } else if (f.kind == FieldKind::kStringList) {
        value.SetArray();
      } else {
        FieldDef scalar = f;
        scalar.flags = 0;
        ZeroValue(scalar, &value);
      }
    }
    if (!seen_[slot]) {
      slots_[slot].SetObject();
      seen_[slot] = 1;
    }
    JsonValue& obj = slots_[slot];
    JsonValue name = MakeUtf8String(key, a_);
    auto it = obj.FindMember(name);
    if (it != obj.MemberEnd()) {
      it->value = std::move(value);
    } else {
      obj.AddMember(name, value, a_);
    }
    return true;
  }

  // Reads the embedded message of a special type into (number -> raw) handling by the caller.
  bool Embedded(const MessageDef& m, const FieldDef& f, Reader& r, uint32_t wt, std::string_view* body) {
    if (wt != kLen) return WrongWireType(m, f, wt);
    return r.LengthDelimited(body, &err_);
  }

  bool DecodeValue(const MessageDef& m, const FieldDef& f, Reader& r, uint32_t wt, JsonValue* out, int depth) {
    uint64_t u = 0;
    std::string_view s;
    switch (f.kind) {
      case FieldKind::kString:
        if (wt != kLen) return WrongWireType(m, f, wt);
        if (!r.LengthDelimited(&s, &err_)) return false;
        *out = MakeUtf8String(s, a_);
        return true;
      case FieldKind::kBool:
        if (wt != kVarint) return WrongWireType(m, f, wt);
        if (!r.Varint(&u, &err_)) return false;
        out->SetBool(u != 0);
        return true;
      case FieldKind::kInt32:
        if (wt != kVarint) return WrongWireType(m, f, wt);
        if (!r.Varint(&u, &err_)) return false;
        out->SetInt(static_cast<int32_t>(static_cast<uint32_t>(u)));
        return true;
      case FieldKind::kInt64:
        if (wt != kVarint) return WrongWireType(m, f, wt);
        if (!r.Varint(&u, &err_)) return false;
        out->SetInt64(static_cast<int64_t>(u));
        return true;
      case FieldKind::kBytes: {
        if (wt != kLen) return WrongWireType(m, f, wt);
        if (!r.LengthDelimited(&s, &err_)) return false;
        std::string b64;
        AppendBase64(s, &b64);
        *out = MakeString(b64, a_);
        return true;
      }
      case FieldKind::kMessage:
        if (wt != kLen) return WrongWireType(m, f, wt);
        if (!r.LengthDelimited(&s, &err_)) return false;
        out->SetObject();
        return DecodeMessage(f.message, s, out, depth + 1);
      case FieldKind::kTime:
      case FieldKind::kMicroTime:
        if (!Embedded(m, f, r, wt, &s)) return false;
        return DecodeTime(s, f.kind == FieldKind::kMicroTime, out);
      case FieldKind::kDuration: {
        if (!Embedded(m, f, r, wt, &s)) return false;
        int64_t ns = 0;
        if (!ReadEmbedded(s, [&](uint32_t n, uint32_t w, Reader& er) {
              if (n != 1) return er.Skip(w, &err_);
              if (w != kVarint) return WrongWireType(m, f, w);
              if (!er.Varint(&u, &err_)) return false;
              ns = static_cast<int64_t>(u);
              return true;
            })) {
          return false;
        }
        *out = MakeString(FormatDuration(ns), a_);
        return true;
      }
      case FieldKind::kQuantity: {
        if (!Embedded(m, f, r, wt, &s)) return false;
        std::string_view q = "0";
        if (!ReadEmbedded(s, [&](uint32_t n, uint32_t w, Reader& er) {
              if (n != 1) return er.Skip(w, &err_);
              if (w != kLen) return WrongWireType(m, f, w);
              return er.LengthDelimited(&q, &err_);
            })) {
          return false;
        }
        if (q.empty()) q = "0";
        *out = MakeUtf8String(q, a_);
        return true;
      }
      case FieldKind::kIntOrString: {
        if (!Embedded(m, f, r, wt, &s)) return false;
        int64_t type = 0;
        int32_t int_val = 0;
        std::string_view str_val;
        if (!ReadEmbedded(s, [&](uint32_t n, uint32_t w, Reader& er) {
              if (n == 3) {
                if (w != kLen) return WrongWireType(m, f, w);
                return er.LengthDelimited(&str_val, &err_);
              }
              if (n != 1 && n != 2) return er.Skip(w, &err_);
              if (w != kVarint) return WrongWireType(m, f, w);
              if (!er.Varint(&u, &err_)) return false;
              if (n == 1) {
                type = static_cast<int64_t>(u);
              } else {
                int_val = static_cast<int32_t>(static_cast<uint32_t>(u));
              }
              return true;
            })) {
          return false;
        }
        if (type == 1) {
          *out = MakeUtf8String(str_val, a_);
        } else {
          out->SetInt(int_val);
        }
        return true;
      }
      case FieldKind::kRawJson: {
        if (!Embedded(m, f, r, wt, &s)) return false;
        std::string_view raw;
        if (!ReadEmbedded(s, [&](uint32_t n, uint32_t w, Reader& er) {
              if (n != 1) return er.Skip(w, &err_);
              if (w != kLen) return WrongWireType(m, f, w);
              return er.LengthDelimited(&raw, &err_);
            })) {
          return false;
        }
        if (raw.empty()) {
          out->SetNull();
          return true;
        }
        JsonDoc embedded;
        embedded.Parse(raw.data(), raw.size());
        if (embedded.HasParseError()) {
          return Fail(std::string("invalid embedded JSON in field ") + f.json + " of " + m.name);
        }
        *out = Clone(embedded, a_);
        return true;
      }
      case FieldKind::kStringList: {
        if (!Embedded(m, f, r, wt, &s)) return false;
        out->SetArray();
        return ReadEmbedded(s, [&](uint32_t n, uint32_t w, Reader& er) {
          if (n != 1) return er.Skip(w, &err_);
          if (w != kLen) return WrongWireType(m, f, w);
          std::string_view item;
          if (!er.LengthDelimited(&item, &err_)) return false;
          out->PushBack(MakeUtf8String(item, a_), a_);
          return true;
        });
      }
    }
    return Fail("proto: unsupported field kind");
  }

  template <typename Fn>
  bool ReadEmbedded(std::string_view body, Fn&& on_field) {
    Reader er(body);
    uint32_t number = 0, wt = 0;
    while (NextTag(er, &number, &wt, &err_)) {
      if (!on_field(number, wt, er)) return false;
    }
    return err_.empty();
  }

  bool DecodeTime(std::string_view body, bool micro, JsonValue* out) {
    if (body.empty()) {
      out->SetNull();
      return true;
    }
    int64_t seconds = 0;
    int64_t nanos = 0;
    uint64_t u = 0;
    Reader er(body);
    uint32_t number = 0, wt = 0;
    while (NextTag(er, &number, &wt, &err_)) {
      if ((number == 1 || number == 2) && wt == kVarint) {
        if (!er.Varint(&u, &err_)) return false;
        if (number == 1) {
          seconds = static_cast<int64_t>(u);
        } else {
          nanos = static_cast<int32_t>(static_cast<uint32_t>(u));
        }
      } else if (number == 1 || number == 2) {
        return Fail("proto: wrong wireType = " + std::to_string(wt) + " for field Timestamp");
      } else if (!er.Skip(wt, &err_)) {
        return false;
      }
    }
    if (!err_.empty()) return false;
    // time.Unix normalises nanoseconds outside [0, 1e9).
    seconds += nanos / 1000000000;
    nanos %= 1000000000;
    if (nanos < 0) {
      nanos += 1000000000;
      --seconds;
    }
    if (micro) nanos -= nanos % 1000;
    if (seconds == kZeroTimeUnix && nanos == 0) {
      out->SetNull();
      return true;
    }
    std::string text;
    if (!FormatTime(seconds, micro ? static_cast<int>(nanos / 1000) : -1, &text)) {
      return Fail("Time.MarshalJSON: year outside of range [0,9999]");
    }
    *out = MakeString(text, a_);
    return true;
  }

  // Whether a field present in the message is still left out of the JSON (omitempty on a
  // zero scalar or an empty []byte; pointers, repeated fields and maps seen are never empty here
  // except an empty []byte).
  static bool OmitPresent(const FieldDef& f, const JsonValue& v) {
    if (!(f.flags & pi::kFlagOmitEmpty) || (f.flags & pi::kFlagPointer)) return false;
    if (f.flags & (pi::kFlagRepeated | pi::kFlagMap)) return false;
    switch (f.kind) {
      case FieldKind::kString:
      case FieldKind::kBytes:
        return v.GetStringLength() == 0;
      case FieldKind::kBool:
        return !v.GetBool();
      case FieldKind::kInt32:
      case FieldKind::kInt64:
        return v.GetInt64() == 0;
      default:
        return false;  // structs are never omitted by encoding/json
    }
  }

  // The JSON of a Go zero value for a non-pointer, non-repeated field.
  void ZeroValue(const FieldDef& f, JsonValue* v) {
    switch (f.kind) {
      case FieldKind::kString:
        v->SetString("", 0);
        break;
      case FieldKind::kBool:
        v->SetBool(false);
        break;
      case FieldKind::kInt32:
      case FieldKind::kInt64:
        v->SetInt(0);
        break;
      case FieldKind::kBytes:
      case FieldKind::kTime:
      case FieldKind::kMicroTime:
      case FieldKind::kRawJson:
      case FieldKind::kStringList:
        v->SetNull();
        break;
      case FieldKind::kDuration:
        v->SetString("0s");
        break;
      case FieldKind::kQuantity:
        v->SetString("0");
        break;
      case FieldKind::kIntOrString:
        v->SetInt(0);
        break;
      case FieldKind::kMessage:
        v->SetObject();
        AddZeroMessage(f.message, v);
        break;
    }
  }

  void AddZeroMessage(int32_t index, JsonValue* out) {
    const MessageDef& m = pi::Messages()[static_cast<size_t>(index)];
    for (size_t i = 0; i < m.count; ++i) AddZero(m.fields[i], out);
  }

  // Adds the JSON encoding/json gives a field that is absent from the message.
  void AddZero(const FieldDef& f, JsonValue* out) {
    if (f.flags & pi::kFlagInline) {
      AddZeroMessage(f.message, out);
      return;
    }
    const bool nil_able = (f.flags & (pi::kFlagPointer | pi::kFlagRepeated | pi::kFlagMap)) || f.kind == FieldKind::kBytes;
    const bool is_struct = f.kind != FieldKind::kString && f.kind != FieldKind::kBool &&
                           f.kind != FieldKind::kInt32 && f.kind != FieldKind::kInt64 && f.kind != FieldKind::kBytes;
    if (f.flags & pi::kFlagOmitEmpty) {
      if (nil_able || !is_struct) return;
    }
    JsonValue v;
    if (!nil_able) ZeroValue(f, &v);
    out->AddMember(rapidjson::StringRef(f.json), v, a_);
  }

  JsonAlloc& a_;
  std::string err_;
  std::vector<JsonValue> slots_;
  std::vector<uint8_t> seen_;
};

std::string GoQuote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

}  // namespace

bool IsProtobufContentType(std::string_view content_type) {
  const size_t semi = content_type.find(';');
  std::string_view media = content_type.substr(0, semi);
  while (!media.empty() && (media.back() == ' ' || media.back() == '\t')) media.remove_suffix(1);
  while (!media.empty() && (media.front() == ' ' || media.front() == '\t')) media.remove_prefix(1);
  constexpr std::string_view kType = "application/vnd.kubernetes.protobuf";
  if (media.size() != kType.size()) return false;
  for (size_t i = 0; i < kType.size(); ++i) {
    char c = media[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != kType[i]) return false;
  }
  return true;
}

StatusOr<JsonDoc> DecodeProtobufObject(std::string_view body) {
  if (body.size() < kMagic.size() || body.substr(0, kMagic.size()) != kMagic) {
    return Status::BadRequest("provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]");
  }
  Reader r(body.substr(kMagic.size()));
  std::string err;
  std::string_view type_meta, raw, content_encoding, content_type;
  uint32_t number = 0, wt = 0;
  while (NextTag(r, &number, &wt, &err)) {
    std::string_view* target = number == 1 ? &type_meta : number == 2 ? &raw : number == 3 ? &content_encoding
                             : number == 4 ? &content_type : nullptr;
    if (target == nullptr) {
      if (!r.Skip(wt, &err)) break;
      continue;
    }
    if (wt != kLen) {
      err = "proto: wrong wireType = " + std::to_string(wt) + " for field of Unknown";
      break;
    }
    if (!r.LengthDelimited(target, &err)) break;
  }
  std::string_view api_version, kind;
  if (err.empty()) {
    Reader tr(type_meta);
    while (NextTag(tr, &number, &wt, &err)) {
      std::string_view* target = number == 1 ? &api_version : number == 2 ? &kind : nullptr;
      if (target == nullptr) {
        if (!tr.Skip(wt, &err)) break;
        continue;
      }
      if (wt != kLen) {
        err = "proto: wrong wireType = " + std::to_string(wt) + " for field of TypeMeta";
        break;
      }
      if (!tr.LengthDelimited(target, &err)) break;
    }
  }
  if (!err.empty()) return Status::BadRequest(err);
  const std::string type_meta_text = "runtime.TypeMeta{APIVersion:" + GoQuote(api_version) + ", Kind:" + GoQuote(kind) + "}";
  if (kind.empty()) return Status::BadRequest("Object 'Kind' is missing in '" + type_meta_text + "'");
  if (api_version.empty()) return Status::BadRequest("Object 'apiVersion' is missing in '" + type_meta_text + "'");
  if (!content_encoding.empty()) {
    return Status::BadRequest("unsupported content encoding " + GoQuote(content_encoding) + " in protobuf body");
  }
  if (!content_type.empty() && !IsProtobufContentType(content_type)) {
    return Status::BadRequest("unsupported content type " + GoQuote(content_type) + " in protobuf body");
  }
  int32_t message = -1;
  for (const pi::KindDef& k : pi::Kinds()) {
    if (api_version == k.api_version && kind == k.kind) {
      message = k.message;
      break;
    }
  }
  if (message < 0) {
    return Status::BadRequest("no kind " + GoQuote(kind) + " is registered for version " + GoQuote(api_version) +
                              " in scheme \"k8s.io/kubernetes/pkg/api/legacyscheme/scheme.go:30\"");
  }
  JsonDoc doc;
  doc.SetObject();
  JsonAlloc& a = doc.GetAllocator();
  doc.AddMember("apiVersion", MakeUtf8String(api_version, a), a);
  doc.AddMember("kind", MakeUtf8String(kind, a), a);
  Decoder decoder(a);
  if (!decoder.DecodeMessage(message, raw, &doc, 0)) return Status::BadRequest(decoder.error());
  return doc;
}

}  // namespace minik::api
