// Helpers shared by the Table printers: formatting, time, labels and selectors.
#include <algorithm>
#include <vector>

#include "api/table_internal.h"

namespace minik::api::table {

Buf& Buf::Int(int64_t v) {
  char tmp[24];
  char* end = tmp + sizeof tmp;
  char* p = end;
  uint64_t u = v < 0 ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
  do {
    *--p = static_cast<char>('0' + u % 10);
    u /= 10;
  } while (u != 0);
  if (v < 0) *--p = '-';
  return Add(std::string_view(p, static_cast<size_t>(end - p)));
}

void Buf::TrimSuffix(std::string_view suffix) {
  std::string_view v = view();
  if (v.size() < suffix.size() || v.substr(v.size() - suffix.size()) != suffix) return;
  if (spilled_) {
    big_.resize(big_.size() - suffix.size());
  } else {
    n_ -= suffix.size();
  }
}

namespace {

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

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

bool Digits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    char c = s[i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return true;
}

void Pad2(Buf& b, unsigned v) {
  char t[2] = {static_cast<char>('0' + v / 10 % 10), static_cast<char>('0' + v % 10)};
  b.Add(std::string_view(t, 2));
}

}  // namespace

bool ParseTime(std::string_view s, TimePoint* out) {
  int y, mo, d, h, mi, sec;
  if (s.size() < 20 || !Digits(s, 0, 4, &y) || s[4] != '-' || !Digits(s, 5, 2, &mo) || s[7] != '-' ||
      !Digits(s, 8, 2, &d) || (s[10] != 'T' && s[10] != 't') || !Digits(s, 11, 2, &h) || s[13] != ':' ||
      !Digits(s, 14, 2, &mi) || s[16] != ':' || !Digits(s, 17, 2, &sec)) {
    return false;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 59) return false;
  // system_clock's nanosecond range ends in 1677 and 2262; Go's zero time (year 1) is "unset".
  if (y < 1678 || y > 2261) return false;
  size_t pos = 19;
  int64_t nanos = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    int digits = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (digits < 9) {
        nanos = nanos * 10 + (s[pos] - '0');
        ++digits;
      }
      ++pos;
    }
    if (digits == 0) return false;
    for (; digits < 9; ++digits) nanos *= 10;
  }
  if (pos >= s.size()) return false;
  int64_t offset = 0;
  if (s[pos] == 'Z' || s[pos] == 'z') {
    ++pos;
  } else if (s[pos] == '+' || s[pos] == '-') {
    int oh, om;
    if (!Digits(s, pos + 1, 2, &oh) || pos + 3 >= s.size() || s[pos + 3] != ':' || !Digits(s, pos + 4, 2, &om)) {
      return false;
    }
    offset = (oh * 3600 + om * 60) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return false;
  }
  if (pos != s.size()) return false;
  int64_t secs = DaysFromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)) * 86400 + h * 3600 + mi * 60 +
                 sec - offset;
  *out = TimePoint(std::chrono::duration_cast<TimePoint::duration>(std::chrono::seconds(secs) +
                                                                     std::chrono::nanoseconds(nanos)));
  return true;
}

void AppendRFC3339(Buf& b, TimePoint t) {
  int64_t secs = std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
  if (TimePoint(std::chrono::seconds(secs)) > t) --secs;  // floor for times before 1970
  int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
  int64_t rem = secs - days * 86400;
  int64_t y;
  unsigned m, d;
  CivilFromDays(days, &y, &m, &d);
  char year[4] = {static_cast<char>('0' + y / 1000 % 10), static_cast<char>('0' + y / 100 % 10),
                  static_cast<char>('0' + y / 10 % 10), static_cast<char>('0' + y % 10)};
  b.Add(std::string_view(year, 4)).Add('-');
  Pad2(b, m);
  b.Add('-');
  Pad2(b, d);
  b.Add('T');
  Pad2(b, static_cast<unsigned>(rem / 3600));
  b.Add(':');
  Pad2(b, static_cast<unsigned>(rem / 60 % 60));
  b.Add(':');
  Pad2(b, static_cast<unsigned>(rem % 60));
  b.Add('Z');
}

// k8s.io/apimachinery/pkg/util/duration.HumanDuration, to the letter.
void AppendHumanDuration(Buf& b, std::chrono::nanoseconds d) {
  using std::chrono::hours;
  using std::chrono::minutes;
  using std::chrono::seconds;
  const int64_t secs = std::chrono::duration_cast<seconds>(d).count();  // truncates toward zero, as int(d.Seconds())
  if (secs < -1) {
    b.Add("<invalid>");
    return;
  }
  if (secs < 0) {
    b.Add("0s");
    return;
  }
  if (secs < 60 * 2) {
    b.Int(secs).Add('s');
    return;
  }
  const int64_t mins = std::chrono::duration_cast<minutes>(d).count();
  if (mins < 10) {
    int64_t s = secs % 60;
    b.Int(mins).Add('m');
    if (s != 0) b.Int(s).Add('s');
    return;
  }
  if (mins < 60 * 3) {
    b.Int(mins).Add('m');
    return;
  }
  const int64_t hrs = std::chrono::duration_cast<hours>(d).count();
  if (hrs < 8) {
    int64_t m = mins % 60;
    b.Int(hrs).Add('h');
    if (m != 0) b.Int(m).Add('m');
    return;
  }
  if (hrs < 48) {
    b.Int(hrs).Add('h');
    return;
  }
  if (hrs < 24 * 8) {
    int64_t h = hrs % 24;
    b.Int(hrs / 24).Add('d');
    if (h != 0) b.Int(h).Add('h');
    return;
  }
  if (hrs < 24 * 365 * 2) {
    b.Int(hrs / 24).Add('d');
    return;
  }
  if (hrs < 24 * 365 * 8) {
    int64_t dy = (hrs / 24) % 365;
    b.Int(hrs / 24 / 365).Add('y');
    if (dy != 0) b.Int(dy).Add('d');
    return;
  }
  b.Int(hrs / 24 / 365).Add('y');
}

void AppendSince(Buf& b, TimePoint now, TimePoint t) { AppendHumanDuration(b, now - t); }

void Row::Since(const JsonValue* obj, std::string_view key) {
  TimePoint t;
  if (!table::Time(obj, key, &t)) {
    Str("<unknown>");
    return;
  }
  Buf b;
  AppendSince(b, now_, t);
  Str(b);
}

void AppendLabels(Buf& b, const JsonValue* map) {
  if (!map || !map->IsObject() || map->MemberCount() == 0) {
    b.Add("<none>");
    return;
  }
  std::vector<std::string> pairs;
  pairs.reserve(map->MemberCount());
  for (auto it = map->MemberBegin(); it != map->MemberEnd(); ++it) {
    std::string p(it->name.GetString(), it->name.GetStringLength());
    p += '=';
    p += Str(&it->value);
    pairs.push_back(std::move(p));
  }
  std::sort(pairs.begin(), pairs.end());
  for (size_t i = 0; i < pairs.size(); ++i) {
    if (i) b.Add(',');
    b.Add(pairs[i]);
  }
}

namespace {

enum class Op { kEquals, kIn, kNotIn, kExists, kDoesNotExist };

struct Requirement {
  std::string_view key;
  Op op;
  std::vector<std::string_view> values;
};

}  // namespace

bool AppendSelectorString(Buf& b, const JsonValue* selector) {
  if (!selector || !selector->IsObject()) return true;  // labels.Nothing(): ""
  const JsonValue* labels = Get(selector, "matchLabels");
  const JsonValue* exprs = Arr(selector, "matchExpressions");
  std::vector<Requirement> reqs;
  if (labels && labels->IsObject()) {
    for (auto it = labels->MemberBegin(); it != labels->MemberEnd(); ++it) {
      reqs.push_back({std::string_view(it->name.GetString(), it->name.GetStringLength()), Op::kEquals,
                      {Str(&it->value)}});
    }
  }
  if (exprs) {
    for (const JsonValue& e : exprs->GetArray()) {
      std::string_view op = Str(e, "operator");
      Requirement r{Str(e, "key"), Op::kEquals, {}};
      if (op == "In") {
        r.op = Op::kIn;
      } else if (op == "NotIn") {
        r.op = Op::kNotIn;
      } else if (op == "Exists") {
        r.op = Op::kExists;
      } else if (op == "DoesNotExist") {
        r.op = Op::kDoesNotExist;
      } else {
        return false;
      }
      if (const JsonValue* vals = Arr(&e, "values")) {
        for (const JsonValue& v : vals->GetArray()) r.values.push_back(Str(&v));
      }
      bool needs_values = r.op == Op::kIn || r.op == Op::kNotIn;
      if (needs_values == r.values.empty()) return false;
      reqs.push_back(std::move(r));
    }
  }
  std::stable_sort(reqs.begin(), reqs.end(), [](const Requirement& a, const Requirement& c) { return a.key < c.key; });
  for (size_t i = 0; i < reqs.size(); ++i) {
    Requirement& r = reqs[i];
    if (i) b.Add(',');
    if (r.op == Op::kDoesNotExist) b.Add('!');
    b.Add(r.key);
    switch (r.op) {
      case Op::kEquals:
        b.Add('=');
        break;
      case Op::kIn:
        b.Add(" in (");
        break;
      case Op::kNotIn:
        b.Add(" notin (");
        break;
      case Op::kExists:
      case Op::kDoesNotExist:
        continue;
    }
    std::sort(r.values.begin(), r.values.end());
    for (size_t j = 0; j < r.values.size(); ++j) {
      if (j) b.Add(',');
      b.Add(r.values[j]);
    }
    if (r.op == Op::kIn || r.op == Op::kNotIn) b.Add(')');
  }
  return true;
}

void AppendLabelSelector(Buf& b, const JsonValue* selector) {
  Buf s;
  if (!AppendSelectorString(s, selector)) {
    b.Add("<error>");
  } else if (s.empty()) {
    b.Add("<none>");
  } else {
    b.Add(s.view());
  }
}

void AppendContainers(Buf& names, Buf& images, const JsonValue* containers) {
  if (!containers || !containers->IsArray()) return;
  bool first = true;
  for (const JsonValue& c : containers->GetArray()) {
    if (!first) {
      names.Add(',');
      images.Add(',');
    }
    first = false;
    names.Add(Str(c, "name"));
    images.Add(Str(c, "image"));
  }
}

void AppendLower(Buf& b, std::string_view s) {
  for (char c : s) b.Add((c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c);
}

}  // namespace minik::api::table
