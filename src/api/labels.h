// Label selectors as k8s.io/apimachinery/pkg/labels parses and matches them, with upstream's
// error messages, and conversion from a metav1.LabelSelector (matchLabels + matchExpressions).
// Values are immutable after construction: any thread may use them.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace minik::api {

enum class LabelOp { kIn, kNotIn, kEquals, kDoubleEquals, kNotEquals, kExists, kDoesNotExist, kGreaterThan, kLessThan };

struct LabelRequirement {
  std::string key;
  LabelOp op = LabelOp::kExists;
  std::vector<std::string> values;  // sorted and de-duplicated for set operators, as upstream

  // `key in (a,b)`, `!key`, `key!=v`, ... as upstream's Requirement.String().
  std::string String() const;
};

class LabelSelector {
 public:
  // Matches everything (Empty() is true).
  LabelSelector() = default;
  static LabelSelector Everything() { return LabelSelector(); }
  // Matches nothing (metav1.LabelSelector nil).
  static LabelSelector Nothing();

  // labels.Parse: `a=b,c!=d,e in (x,y),!f,g`. Errors are BadRequest with upstream's message,
  // e.g. `unable to parse requirement: found '', expected: '('` or
  // `unable to parse requirement: <nil>: Invalid value: "a b": name part must ...`.
  static StatusOr<LabelSelector> Parse(std::string_view selector);
  // metav1.LabelSelectorAsSelector of a LabelSelector JSON object; nullptr (or JSON null) gives
  // Nothing(), `{}` gives Everything(). Errors are BadRequest with upstream's message.
  static StatusOr<LabelSelector> FromLabelSelectorJson(const JsonValue* selector);
  // A selector matching exactly this set (labels.SelectorFromSet).
  static LabelSelector FromSet(const std::map<std::string, std::string>& set);

  // labels is a JSON object of string values (metadata.labels) or nullptr for no labels.
  bool Matches(const JsonValue* labels) const;
  bool Matches(const std::map<std::string, std::string>& labels) const;
  bool Empty() const { return !nothing_ && reqs_.empty(); }
  bool MatchesNothing() const { return nothing_; }
  std::string String() const;
  const std::vector<LabelRequirement>& requirements() const { return reqs_; }
  // The value the selector requires for key (`key=v`, `key==v` or `key in (v)`), if any.
  std::optional<std::string> RequiresExactMatch(std::string_view key) const;

 private:
  template <typename Get>
  bool MatchesWith(const Get& get) const;

  std::vector<LabelRequirement> reqs_;  // sorted by key
  bool nothing_ = false;
};

}  // namespace minik::api
