#include "core/tokenizer/jinja/builtin_tests.h"

#include "absl/strings/str_cat.h"
#include "core/tokenizer/jinja/builtin_filters.h"
#include "core/tokenizer/jinja/py_string.h"
#include "core/util/status.h"

namespace muke::jinja {
namespace {

constexpr std::string_view kTests[] = {
    "defined", "undefined", "none",    "boolean",     "true",     "false",    "integer",     "float",
    "number",  "string",    "mapping", "iterable",    "sequence", "callable", "sameas",      "eq",
    "equalto", "ne",        "lt",      "lessthan",    "le",       "gt",       "greaterthan", "ge",
    "in",      "odd",       "even",    "divisibleby", "lower",    "upper",    "filter",      "test"};

absl::StatusOr<Value> OneArg(std::string_view name, const CallArgs& args) {
  MUKE_ASSIGN_OR_RETURN(std::vector<Value> bound, BindArgs(name, args, {{"other", std::nullopt}}));
  return bound[0];
}

absl::StatusOr<int64_t> IntegerOperand(std::string_view test, const Value& value) {
  if (value.kind() == Value::Kind::kInt) return value.int_value();
  if (value.kind() == Value::Kind::kBool) return static_cast<int64_t>(value.bool_value());
  return absl::InvalidArgumentError(
      absl::StrCat("test '", std::string(test), "' needs an integer, got '", TypeName(value), "'"));
}

bool IsIdentical(const Value& a, const Value& b) {
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Value::Kind::kList:
      return &a.list() == &b.list();
    case Value::Kind::kDict:
      return &a.dict() == &b.dict();
    default:
      return Equal(a, b);
  }
}

}  // namespace

bool IsKnownTest(std::string_view name) {
  for (std::string_view test : kTests) {
    if (test == name) return true;
  }
  return false;
}

absl::StatusOr<bool> RunTest(std::string_view name, const Value& value, const CallArgs& args) {
  using Kind = Value::Kind;
  const Kind kind = value.kind();
  if (name == "defined") return kind != Kind::kUndefined;
  if (name == "undefined") return kind == Kind::kUndefined;
  if (name == "none") return kind == Kind::kNone;
  if (name == "boolean") return kind == Kind::kBool;
  if (name == "true") return kind == Kind::kBool && value.bool_value();
  if (name == "false") return kind == Kind::kBool && !value.bool_value();
  if (name == "integer") return kind == Kind::kInt;
  if (name == "float") return kind == Kind::kFloat;
  if (name == "number") return value.is_number();
  if (name == "string") return kind == Kind::kString;
  if (name == "mapping") return kind == Kind::kDict;
  if (name == "iterable" || name == "sequence") {
    return kind == Kind::kString || kind == Kind::kList || kind == Kind::kDict || kind == Kind::kUndefined;
  }
  if (name == "callable") return kind == Kind::kFunction;
  if (name == "lower" || name == "upper") {
    if (kind != Kind::kString) return false;
    const std::string& s = value.string_value();
    const std::string other_case = name == "lower" ? py::Upper(s) : py::Lower(s);
    const std::string same_case = name == "lower" ? py::Lower(s) : py::Upper(s);
    return same_case == s && other_case != s;  // str.islower()/isupper(): cased and all in that case
  }
  if (name == "odd" || name == "even") {
    MUKE_ASSIGN_OR_RETURN(int64_t n, IntegerOperand(name, value));
    return (n % 2 != 0) == (name == "odd");
  }
  if (name == "filter" || name == "test") {
    if (kind != Kind::kString) return false;
    return name == "filter" ? IsKnownFilter(value.string_value()) : IsKnownTest(value.string_value());
  }
  MUKE_ASSIGN_OR_RETURN(Value other, OneArg(name, args));
  if (name == "sameas") return IsIdentical(value, other);
  if (name == "eq" || name == "equalto") return Equal(value, other);
  if (name == "ne") return !Equal(value, other);
  if (name == "in") return Contains(other, value);
  if (name == "divisibleby") {
    MUKE_ASSIGN_OR_RETURN(int64_t n, IntegerOperand(name, value));
    MUKE_ASSIGN_OR_RETURN(int64_t d, IntegerOperand(name, other));
    if (d == 0) return absl::InvalidArgumentError("integer division or modulo by zero");
    return d == -1 || n % d == 0;
  }
  const std::string_view op = name == "lt" || name == "lessthan"      ? "<"
                              : name == "le"                          ? "<="
                              : name == "gt" || name == "greaterthan" ? ">"
                                                                      : ">=";
  MUKE_ASSIGN_OR_RETURN(int order, Compare(value, other, op));
  if (op == "<") return order < 0;
  if (op == "<=") return order <= 0;
  if (op == ">") return order > 0;
  return order >= 0;
}

}  // namespace muke::jinja
