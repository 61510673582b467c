#include "api/labels.h"

#include <algorithm>
#include <set>

#include "api/validation.h"

namespace minik::api {
namespace {

enum class Tok {
  kError,
  kEnd,
  kClosedPar,
  kComma,
  kDoesNotExist,
  kDoubleEquals,
  kEquals,
  kGreaterThan,
  kIdentifier,
  kIn,
  kLessThan,
  kNotEquals,
  kNotIn,
  kOpenPar,
};

struct Item {
  Tok tok;
  std::string lit;
};

std::optional<Tok> LiteralToken(std::string_view s) {
  if (s == ")") return Tok::kClosedPar;
  if (s == ",") return Tok::kComma;
  if (s == "!") return Tok::kDoesNotExist;
  if (s == "==") return Tok::kDoubleEquals;
  if (s == "=") return Tok::kEquals;
  if (s == ">") return Tok::kGreaterThan;
  if (s == "in") return Tok::kIn;
  if (s == "<") return Tok::kLessThan;
  if (s == "!=") return Tok::kNotEquals;
  if (s == "notin") return Tok::kNotIn;
  if (s == "(") return Tok::kOpenPar;
  return std::nullopt;
}

bool IsWhitespace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
bool IsSpecial(char c) {
  switch (c) {
    case '=': case '!': case '(': case ')': case ',': case '>': case '<': return true;
    default: return false;
  }
}

// upstream's Lexer; a NUL byte ends the input as in Go's read().
class Lexer {
 public:
  explicit Lexer(std::string_view s) : s_(s) {}
  Item Lex() {
    char ch = Read();
    while (IsWhitespace(ch)) ch = Read();
    if (ch == 0) return {Tok::kEnd, ""};
    Unread();
    if (IsSpecial(ch)) return ScanSpecial();
    return ScanId();
  }

 private:
  char Read() { return pos_ < s_.size() ? s_[pos_++] : (++pos_, '\0'); }
  void Unread() { --pos_; }
  Item ScanId() {
    std::string buf;
    while (true) {
      char ch = Read();
      if (ch == 0) break;
      if (IsSpecial(ch) || IsWhitespace(ch)) {
        Unread();
        break;
      }
      buf += ch;
    }
    if (auto t = LiteralToken(buf)) return {*t, buf};
    return {Tok::kIdentifier, buf};
  }
  Item ScanSpecial() {
    std::string buf;
    std::optional<Item> last;
    while (true) {
      char ch = Read();
      if (ch == 0) break;
      if (!IsSpecial(ch)) {
        Unread();
        break;
      }
      buf += ch;
      if (auto t = LiteralToken(buf)) {
        last = Item{*t, buf};
      } else if (last) {
        Unread();
        break;
      }
    }
    if (!last) return {Tok::kError, "error expected: keyword found '" + buf + "'"};
    return *last;
  }

  std::string_view s_;
  size_t pos_ = 0;
};

std::string JoinErrs(const std::vector<std::string>& errs) {
  std::string out;
  for (size_t i = 0; i < errs.size(); ++i) {
    if (i) out += "; ";
    out += errs[i];
  }
  return out;
}

// utilerrors.NewAggregate(...).Error(): one message, or "[a, b]" with duplicates dropped.
std::string Aggregate(const std::vector<std::string>& errs) {
  if (errs.size() == 1) return errs[0];
  std::vector<std::string> uniq;
  for (const auto& e : errs)
    if (std::find(uniq.begin(), uniq.end(), e) == uniq.end()) uniq.push_back(e);
  if (uniq.size() == 1) return uniq[0];
  std::string out = "[";
  for (size_t i = 0; i < uniq.size(); ++i) {
    if (i) out += ", ";
    out += uniq[i];
  }
  return out + "]";
}

std::string GoStringSlice(const std::vector<std::string>* v) {
  if (!v) return "[]string(nil)";
  std::string out = "[]string{";
  for (size_t i = 0; i < v->size(); ++i) {
    if (i) out += ", ";
    out += GoQuote((*v)[i]);
  }
  return out + "}";
}

bool ParseInt64(std::string_view s, int64_t* out) {
  if (s.empty()) return false;
  bool neg = false;
  if (s[0] == '+' || s[0] == '-') {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s.empty()) return false;
  unsigned __int128 v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<unsigned>(c - '0');
    if (v > static_cast<unsigned __int128>(INT64_MAX) + 1) return false;
  }
  if (!neg && v > static_cast<unsigned __int128>(INT64_MAX)) return false;
  *out = neg ? static_cast<int64_t>(-static_cast<__int128>(v)) : static_cast<int64_t>(v);
  return true;
}

// labels.NewRequirement with a nil field path. values == nullptr stands for a nil Go slice.
std::optional<std::string> NewRequirement(const std::string& key, LabelOp op, const std::vector<std::string>* values) {
  std::vector<std::string> errs;
  static const std::vector<std::string> kEmpty;
  const std::vector<std::string>& vals = values ? *values : kEmpty;
  if (auto e = IsQualifiedName(key); !e.empty()) errs.push_back("key: Invalid value: " + GoQuote(key) + ": " + JoinErrs(e));
  switch (op) {
    case LabelOp::kIn:
    case LabelOp::kNotIn:
      if (vals.empty()) {
        errs.push_back("values: Invalid value: " + GoStringSlice(values) +
                       ": for 'in', 'notin' operators, values set can't be empty");
      }
      break;
    case LabelOp::kEquals:
    case LabelOp::kDoubleEquals:
    case LabelOp::kNotEquals:
      if (vals.size() != 1) {
        errs.push_back("values: Invalid value: " + GoStringSlice(values) +
                       ": exact-match compatibility requires one single value");
      }
      break;
    case LabelOp::kExists:
    case LabelOp::kDoesNotExist:
      if (!vals.empty()) {
        errs.push_back("values: Invalid value: " + GoStringSlice(values) +
                       ": values set must be empty for exists and does not exist");
      }
      break;
    case LabelOp::kGreaterThan:
    case LabelOp::kLessThan:
      if (vals.size() != 1) {
        errs.push_back("values: Invalid value: " + GoStringSlice(values) +
                       ": for 'Gt', 'Lt' operators, exactly one value is required");
      }
      for (size_t i = 0; i < vals.size(); ++i) {
        int64_t dummy;
        if (!ParseInt64(vals[i], &dummy)) {
          errs.push_back("values[" + std::to_string(i) + "]: Invalid value: " + GoQuote(vals[i]) +
                         ": for 'Gt', 'Lt' operators, the value must be an integer");
        }
      }
      break;
  }
  for (size_t i = 0; i < vals.size(); ++i) {
    if (auto e = IsValidLabelValue(vals[i]); !e.empty()) {
      errs.push_back("values[" + std::to_string(i) + "][" + key + "]: Invalid value: " + GoQuote(vals[i]) + ": " +
                     JoinErrs(e));
    }
  }
  if (errs.empty()) return std::nullopt;
  return Aggregate(errs);
}

class Parser {
 public:
  explicit Parser(std::string_view s) {
    Lexer l(s);
    while (true) {
      items_.push_back(l.Lex());
      if (items_.back().tok == Tok::kEnd) break;
    }
  }

  // Returns the error text (without the "unable to parse requirement" wrapping) or the requirements.
  std::optional<std::string> Parse(std::vector<LabelRequirement>* out) {
    while (true) {
      auto [tok, lit] = Lookahead(true);
      switch (tok) {
        case Tok::kIdentifier:
        case Tok::kDoesNotExist: {
          LabelRequirement r;
          if (auto err = ParseRequirement(&r)) return "unable to parse requirement: " + *err;
          out->push_back(std::move(r));
          auto [t, l] = Consume(true);
          if (t == Tok::kEnd) return std::nullopt;
          if (t == Tok::kComma) {
            auto [t2, l2] = Lookahead(true);
            if (t2 != Tok::kIdentifier && t2 != Tok::kDoesNotExist) {
              return "found '" + l2 + "', expected: identifier after ','";
            }
          } else {
            return "found '" + l + "', expected: ',' or 'end of string'";
          }
          break;
        }
        case Tok::kEnd:
          return std::nullopt;
        default:
          return "found '" + lit + "', expected: !, identifier, or 'end of string'";
      }
    }
  }

 private:
  Item Lookahead(bool values) const {
    Item it = items_[pos_];
    if (values && (it.tok == Tok::kIn || it.tok == Tok::kNotIn)) it.tok = Tok::kIdentifier;
    return it;
  }
  Item Consume(bool values) {
    Item it = Lookahead(values);
    ++pos_;
    return it;
  }

  std::optional<std::string> ParseRequirement(LabelRequirement* r) {
    // parseKeyAndInferOperator
    bool does_not_exist = false;
    Item first = Consume(true);
    if (first.tok == Tok::kDoesNotExist) {
      does_not_exist = true;
      first = Consume(true);
    }
    if (first.tok != Tok::kIdentifier) return "found '" + first.lit + "', expected: identifier";
    if (auto e = IsQualifiedName(first.lit); !e.empty()) {
      return "<nil>: Invalid value: " + GoQuote(first.lit) + ": " + JoinErrs(e);
    }
    r->key = first.lit;
    Tok next = Lookahead(true).tok;
    if (does_not_exist || next == Tok::kEnd || next == Tok::kComma) {
      r->op = does_not_exist ? LabelOp::kDoesNotExist : LabelOp::kExists;
      return NewRequirement(r->key, r->op, &r->values);
    }
    // parseOperator
    auto op_item = Consume(false);
    switch (op_item.tok) {
      case Tok::kIn: r->op = LabelOp::kIn; break;
      case Tok::kEquals: r->op = LabelOp::kEquals; break;
      case Tok::kDoubleEquals: r->op = LabelOp::kDoubleEquals; break;
      case Tok::kGreaterThan: r->op = LabelOp::kGreaterThan; break;
      case Tok::kLessThan: r->op = LabelOp::kLessThan; break;
      case Tok::kNotIn: r->op = LabelOp::kNotIn; break;
      case Tok::kNotEquals: r->op = LabelOp::kNotEquals; break;
      default: return "found '" + op_item.lit + "', expected: in, notin, =, ==, !=, gt, lt";
    }
    std::set<std::string> values;
    if (r->op == LabelOp::kIn || r->op == LabelOp::kNotIn) {
      if (auto err = ParseValues(&values)) return err;
    } else {
      if (auto err = ParseExactValue(&values)) return err;
    }
    r->values.assign(values.begin(), values.end());
    return NewRequirement(r->key, r->op, &r->values);
  }

  std::optional<std::string> ParseValues(std::set<std::string>* s) {
    auto [tok, lit] = Consume(true);
    if (tok != Tok::kOpenPar) return "found '" + lit + "' expected: '('";
    auto la = Lookahead(true);
    switch (la.tok) {
      case Tok::kIdentifier:
      case Tok::kComma: {
        if (auto err = ParseIdentifiersList(s)) return err;
        if (Consume(true).tok != Tok::kClosedPar) return "found '" + la.lit + "', expected: ')'";
        return std::nullopt;
      }
      case Tok::kClosedPar:
        Consume(true);
        s->insert("");
        return std::nullopt;
      default:
        return "found '" + la.lit + "', expected: ',', ')' or identifier";
    }
  }

  std::optional<std::string> ParseIdentifiersList(std::set<std::string>* s) {
    while (true) {
      auto [tok, lit] = Consume(true);
      switch (tok) {
        case Tok::kIdentifier: {
          s->insert(lit);
          auto [t2, l2] = Lookahead(true);
          if (t2 == Tok::kComma) continue;
          if (t2 == Tok::kClosedPar) return std::nullopt;
          return "found '" + l2 + "', expected: ',' or ')'";
        }
        case Tok::kComma: {
          if (s->empty()) s->insert("");
          Tok t2 = Lookahead(true).tok;
          if (t2 == Tok::kClosedPar) {
            s->insert("");
            return std::nullopt;
          }
          if (t2 == Tok::kComma) {
            Consume(true);
            s->insert("");
          }
          break;
        }
        default:
          return "found '" + lit + "', expected: ',', or identifier";
      }
    }
  }

  std::optional<std::string> ParseExactValue(std::set<std::string>* s) {
    Tok t = Lookahead(true).tok;
    if (t == Tok::kEnd || t == Tok::kComma) {
      s->insert("");
      return std::nullopt;
    }
    auto [tok, lit] = Consume(true);
    if (tok == Tok::kIdentifier) {
      s->insert(lit);
      return std::nullopt;
    }
    return "found '" + lit + "', expected: identifier";
  }

  std::vector<Item> items_;
  size_t pos_ = 0;
};

void SortByKey(std::vector<LabelRequirement>* reqs) {
  std::stable_sort(reqs->begin(), reqs->end(),
                   [](const LabelRequirement& a, const LabelRequirement& b) { return a.key < b.key; });
}

bool HasValue(const LabelRequirement& r, std::string_view v) {
  return std::find(r.values.begin(), r.values.end(), v) != r.values.end();
}

}  // namespace

std::string LabelRequirement::String() const {
  std::string out;
  if (op == LabelOp::kDoesNotExist) out += '!';
  out += key;
  switch (op) {
    case LabelOp::kEquals: out += '='; break;
    case LabelOp::kDoubleEquals: out += "=="; break;
    case LabelOp::kNotEquals: out += "!="; break;
    case LabelOp::kIn: out += " in "; break;
    case LabelOp::kNotIn: out += " notin "; break;
    case LabelOp::kGreaterThan: out += '>'; break;
    case LabelOp::kLessThan: out += '<'; break;
    case LabelOp::kExists:
    case LabelOp::kDoesNotExist: return out;
  }
  bool set = op == LabelOp::kIn || op == LabelOp::kNotIn;
  if (set) out += '(';
  std::vector<std::string> sorted = values;
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 0; i < sorted.size(); ++i) {
    if (i) out += ',';
    out += sorted[i];
  }
  if (set) out += ')';
  return out;
}

LabelSelector LabelSelector::Nothing() {
  LabelSelector s;
  s.nothing_ = true;
  return s;
}

StatusOr<LabelSelector> LabelSelector::Parse(std::string_view selector) {
  LabelSelector s;
  Parser p(selector);
  if (auto err = p.Parse(&s.reqs_)) return Status::BadRequest(*err);
  SortByKey(&s.reqs_);
  return s;
}

StatusOr<LabelSelector> LabelSelector::FromLabelSelectorJson(const JsonValue* sel) {
  if (!sel || sel->IsNull()) return Nothing();
  if (!sel->IsObject()) return Status::BadRequest("label selector must be an object");
  const JsonValue* ml = Member(*sel, "matchLabels");
  const JsonValue* me = Member(*sel, "matchExpressions");
  size_t n = (ml && ml->IsObject() ? ml->MemberCount() : 0) + (me && me->IsArray() ? me->Size() : 0);
  LabelSelector s;
  if (n == 0) return s;
  if (ml && ml->IsObject()) {
    for (auto it = ml->MemberBegin(); it != ml->MemberEnd(); ++it) {
      LabelRequirement r;
      r.key.assign(it->name.GetString(), it->name.GetStringLength());
      r.op = LabelOp::kEquals;
      r.values.push_back(it->value.IsString() ? std::string(it->value.GetString(), it->value.GetStringLength())
                                              : ToJson(it->value));
      if (auto err = NewRequirement(r.key, r.op, &r.values)) return Status::BadRequest(*err);
      s.reqs_.push_back(std::move(r));
    }
  }
  if (me && me->IsArray()) {
    for (const auto& e : me->GetArray()) {
      LabelRequirement r;
      r.key = std::string(GetString(e, "key").value_or(""));
      std::string op(GetString(e, "operator").value_or(""));
      if (op == "In") r.op = LabelOp::kIn;
      else if (op == "NotIn") r.op = LabelOp::kNotIn;
      else if (op == "Exists") r.op = LabelOp::kExists;
      else if (op == "DoesNotExist") r.op = LabelOp::kDoesNotExist;
      else return Status::BadRequest(GoQuote(op) + " is not a valid label selector operator");
      const JsonValue* vals = Member(e, "values");
      if (vals && vals->IsArray()) {
        for (const auto& v : vals->GetArray())
          r.values.push_back(v.IsString() ? std::string(v.GetString(), v.GetStringLength()) : ToJson(v));
      }
      if (auto err = NewRequirement(r.key, r.op, r.values.empty() ? nullptr : &r.values)) {
        return Status::BadRequest(*err);
      }
      s.reqs_.push_back(std::move(r));
    }
  }
  SortByKey(&s.reqs_);
  return s;
}

LabelSelector LabelSelector::FromSet(const std::map<std::string, std::string>& set) {
  LabelSelector s;
  for (const auto& [k, v] : set) s.reqs_.push_back(LabelRequirement{k, LabelOp::kEquals, {v}});
  return s;
}

template <typename Get>
bool LabelSelector::MatchesWith(const Get& get) const {
  if (nothing_) return false;
  for (const auto& r : reqs_) {
    std::optional<std::string_view> v = get(r.key);
    switch (r.op) {
      case LabelOp::kIn:
      case LabelOp::kEquals:
      case LabelOp::kDoubleEquals:
        if (!v || !HasValue(r, *v)) return false;
        break;
      case LabelOp::kNotIn:
      case LabelOp::kNotEquals:
        if (v && HasValue(r, *v)) return false;
        break;
      case LabelOp::kExists:
        if (!v) return false;
        break;
      case LabelOp::kDoesNotExist:
        if (v) return false;
        break;
      case LabelOp::kGreaterThan:
      case LabelOp::kLessThan: {
        int64_t lv, rv;
        if (!v || r.values.size() != 1 || !ParseInt64(*v, &lv) || !ParseInt64(r.values[0], &rv)) return false;
        if (r.op == LabelOp::kGreaterThan ? !(lv > rv) : !(lv < rv)) return false;
        break;
      }
    }
  }
  return true;
}

bool LabelSelector::Matches(const JsonValue* labels) const {
  return MatchesWith([labels](const std::string& key) -> std::optional<std::string_view> {
    if (!labels || !labels->IsObject()) return std::nullopt;
    const JsonValue* v = Member(*labels, key);
    if (!v) return std::nullopt;
    if (!v->IsString()) return std::string_view();
    return std::string_view(v->GetString(), v->GetStringLength());
  });
}

bool LabelSelector::Matches(const std::map<std::string, std::string>& labels) const {
  return MatchesWith([&labels](const std::string& key) -> std::optional<std::string_view> {
    auto it = labels.find(key);
    if (it == labels.end()) return std::nullopt;
    return std::string_view(it->second);
  });
}

std::string LabelSelector::String() const {
  std::string out;
  for (size_t i = 0; i < reqs_.size(); ++i) {
    if (i) out += ',';
    out += reqs_[i].String();
  }
  return out;
}

std::optional<std::string> LabelSelector::RequiresExactMatch(std::string_view key) const {
  for (const auto& r : reqs_) {
    if (r.key != key) continue;
    if ((r.op == LabelOp::kEquals || r.op == LabelOp::kDoubleEquals || r.op == LabelOp::kIn) && r.values.size() == 1) {
      return r.values[0];
    }
    return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace minik::api
