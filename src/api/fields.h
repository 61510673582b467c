// Field selectors as k8s.io/apimachinery/pkg/fields.ParseSelector parses them (`a=b`, `a==b`,
// `a!=b`, comma-separated, `\,` `\=` `\\` escapes in values) and matching through a
// caller-supplied getter. Values are immutable after construction: any thread may use them.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace minik::api {

struct FieldRequirement {
  std::string field;
  bool equals = true;  // false for !=
  std::string value;   // unescaped
};

// Returns the field's value for an object, nullopt when the object has no such field (treated
// as "" in matching, as upstream's fields.Set does).
using FieldGetter = std::function<std::optional<std::string>(std::string_view field)>;

class FieldSelector {
 public:
  FieldSelector() = default;  // matches everything

  // BadRequest with upstream's message, e.g. `invalid selector: 'a'; can't understand 'a'`,
  // `invalid field selector: invalid escape sequence: \x`.
  static StatusOr<FieldSelector> Parse(std::string_view selector);

  bool Empty() const { return reqs_.empty(); }
  bool Matches(const FieldGetter& get) const;
  // Requirements sorted as upstream sorts the terms.
  const std::vector<FieldRequirement>& requirements() const { return reqs_; }
  // The value required by a `field=value` term, if any.
  std::optional<std::string> RequiresExactMatch(std::string_view field) const;
  std::string String() const;

 private:
  std::vector<FieldRequirement> reqs_;
};

// fields.EscapeValue: `\` -> `\\`, `,` -> `\,`, `=` -> `\=`.
std::string EscapeFieldValue(std::string_view v);
// BadRequest `field label not supported: <name>`, for a field the kind does not support.
Status FieldLabelNotSupportedError(std::string_view field);

}  // namespace minik::api
