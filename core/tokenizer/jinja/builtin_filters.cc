#include "core/tokenizer/jinja/builtin_filters.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <iterator>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/tokenizer/jinja/builtin_tests.h"
#include "core/tokenizer/jinja/json_dump.h"
#include "core/tokenizer/jinja/py_string.h"
#include "core/util/status.h"

namespace muke::jinja {
namespace {

constexpr std::string_view kFilters[] = {
    "abs",    "capitalize", "count",      "d",       "default", "dictsort", "e",     "escape",   "first",      "float",
    "indent", "int",        "items",      "join",    "last",    "length",   "list",  "lower",    "map",        "max",
    "min",    "reject",     "rejectattr", "replace", "reverse", "round",    "safe",  "select",   "selectattr", "sort",
    "string", "sum",        "title",      "tojson",  "trim",    "unique",   "upper", "wordcount"};

absl::Status TypeError(std::string_view filter, std::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat("filter '", std::string(filter), "': ", std::string(problem)));
}

// int or bool as an integer.
int64_t IntegralOf(const Value& value) {
  return value.kind() == Value::Kind::kBool ? value.bool_value() : value.int_value();
}

absl::StatusOr<bool> BoolArg(std::string_view filter, const Value& value) {
  if (value.kind() == Value::Kind::kBool) return value.bool_value();
  return TypeError(filter, absl::StrCat("expected a boolean argument, got '", TypeName(value), "'"));
}

absl::StatusOr<int64_t> IntArg(std::string_view filter, const Value& value) {
  if (value.kind() == Value::Kind::kInt) return value.int_value();
  if (value.kind() == Value::Kind::kBool) return static_cast<int64_t>(value.bool_value());
  return TypeError(filter, absl::StrCat("expected an integer argument, got '", TypeName(value), "'"));
}

// Jinja2's attribute getter for map/selectattr/sort/...: dotted path, integer parts index lists.
Value GetPath(const Value& item, const Value& attribute) {
  std::vector<std::string> parts;
  if (attribute.kind() == Value::Kind::kInt) {
    parts.push_back(absl::StrCat(attribute.int_value()));
  } else {
    parts = absl::StrSplit(ToStr(attribute), '.');
  }
  Value current = item;
  for (const std::string& part : parts) {
    const bool is_index = !part.empty() &&
                          std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
                          part.size() < 10;
    const Value* next = nullptr;
    if (current.kind() == Value::Kind::kDict) {
      next = current.dict().Find(part);
    } else if (current.kind() == Value::Kind::kNamespace) {
      next = current.ns().attributes.Find(part);
    } else if (current.kind() == Value::Kind::kList && is_index) {
      const size_t index = std::stoul(part);
      if (index < current.list().items.size()) next = &current.list().items[index];
    }
    if (next == nullptr) {
      return Value::Undefined(absl::StrCat("'", TypeName(current), " object' has no attribute '", part, "'"));
    }
    current = *next;
  }
  return current;
}

// Sort/unique key: strings lowercased unless case-sensitive.
Value FoldCase(const Value& value, bool case_sensitive) {
  return value.is_string() && !case_sensitive ? Value::String(py::Lower(value.string_value())) : value;
}

absl::StatusOr<std::vector<Value>> SortedItems(std::vector<Value> items, bool reverse, bool case_sensitive,
                                               const Value& attribute) {
  absl::Status error;
  auto key = [&](const Value& item) {
    return FoldCase(attribute.is_none() ? item : GetPath(item, attribute), case_sensitive);
  };
  std::stable_sort(items.begin(), items.end(), [&](const Value& a, const Value& b) {
    if (!error.ok()) return false;
    absl::StatusOr<int> order = Compare(key(a), key(b), "<");
    if (!order.ok()) {
      error = order.status();
      return false;
    }
    return reverse ? *order > 0 : *order < 0;
  });
  if (!error.ok()) return error;
  return items;
}

absl::StatusOr<Value> Length(const Value& value) {
  switch (value.kind()) {
    case Value::Kind::kUndefined:
      return Value::Int(0);
    case Value::Kind::kString:
      return Value::Int(py::Length(value.string_value()));
    case Value::Kind::kList:
      return Value::Int(static_cast<int64_t>(value.list().items.size()));
    case Value::Kind::kDict:
      return Value::Int(static_cast<int64_t>(value.dict().size()));
    default:
      return absl::InvalidArgumentError(absl::StrCat("object of type '", TypeName(value), "' has no len()"));
  }
}

std::string HtmlEscape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&#34;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

// jinja2's indent: lines after the first (and blank ones only with `blank`) get the prefix.
std::string Indent(const std::string& text, const std::string& prefix, bool first, bool blank) {
  const std::vector<std::string> lines = py::SplitLines(text + "\n");
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i > 0) out.push_back('\n');
    if (i == 0 ? first : blank || !lines[i].empty()) out += prefix;
    out += lines[i];
  }
  return out;
}

// Python float(str): surrounding whitespace and single underscores between digits allowed; no hex.
std::optional<double> ParseFloat(const std::string& text) {
  std::string s = py::Strip(text, std::nullopt, true, true);
  if (s.empty() || s.find_first_of("xXpP") != std::string::npos) return std::nullopt;
  s.erase(std::remove(s.begin(), s.end(), '_'), s.end());
  char* end = nullptr;
  const double value = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size()) return std::nullopt;
  return value;
}

std::optional<int64_t> ParseInt(const std::string& text, int base) {
  std::string s = py::Strip(text, std::nullopt, true, true);
  s.erase(std::remove(s.begin(), s.end(), '_'), s.end());
  if (s.empty() || s.find_first_of(".eE") != std::string::npos || base < 2 || base > 36) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  const long long value = std::strtoll(s.c_str(), &end, base);
  if (errno == ERANGE || end != s.c_str() + s.size()) return std::nullopt;
  return value;
}

absl::StatusOr<Value> ToInt(const Value& value, const Value& fallback, int base) {
  switch (value.kind()) {
    case Value::Kind::kInt:
      return value;
    case Value::Kind::kBool:
      return Value::Int(IntegralOf(value));
    case Value::Kind::kFloat: {
      const double d = value.float_value();
      if (!std::isfinite(d) || std::fabs(d) >= 9.2e18) return fallback;
      return Value::Int(static_cast<int64_t>(d));
    }
    case Value::Kind::kString: {
      if (std::optional<int64_t> n = ParseInt(value.string_value(), base)) return Value::Int(*n);
      const std::optional<double> d = ParseFloat(value.string_value());  // "42.23"|int is 42
      if (d && std::isfinite(*d) && std::fabs(*d) < 9.2e18) return Value::Int(static_cast<int64_t>(*d));
      return fallback;
    }
    default:
      return fallback;
  }
}

// json.dumps arguments as transformers' tojson passes them.
absl::StatusOr<JsonFormat> JsonFormatFromArgs(const std::vector<Value>& bound) {
  JsonFormat format;
  MUKE_ASSIGN_OR_RETURN(format.ensure_ascii, BoolArg("tojson", bound[0]));
  const Value& indent = bound[1];
  if (indent.kind() == Value::Kind::kInt) {
    format.indent = std::string(static_cast<size_t>(std::clamp<int64_t>(indent.int_value(), 0, 1024)), ' ');
  } else if (indent.is_string()) {
    format.indent = indent.string_value();
  } else if (!indent.is_none()) {
    return TypeError("tojson", "indent must be an integer, a string or None");
  }
  if (format.indent) format.item_separator = ",";
  const Value& separators = bound[2];
  if (separators.kind() == Value::Kind::kList) {
    const auto& items = separators.list().items;
    if (items.size() != 2 || !items[0].is_string() || !items[1].is_string()) {
      return TypeError("tojson", "separators must be a pair of strings");
    }
    format.item_separator = items[0].string_value();
    format.key_separator = items[1].string_value();
  } else if (!separators.is_none()) {
    return TypeError("tojson", "separators must be a pair of strings or None");
  }
  MUKE_ASSIGN_OR_RETURN(format.sort_keys, BoolArg("tojson", bound[3]));
  return format;
}

// select/reject/selectattr/rejectattr: keep items whose (attribute's) test result equals `keep`.
absl::StatusOr<Value> FilterByTest(std::string_view filter, const Value& operand, const CallArgs& args,
                                   bool by_attribute, bool keep) {
  CallArgs test_args;
  std::optional<Value> attribute;
  std::optional<std::string> test_name;
  size_t next = 0;
  if (by_attribute) {
    if (args.positional.empty()) return TypeError(filter, "missing the attribute argument");
    attribute = args.positional[next++];
  }
  if (next < args.positional.size()) {
    if (!args.positional[next].is_string()) return TypeError(filter, "the test name must be a string");
    test_name = args.positional[next++].string_value();
    if (!IsKnownTest(*test_name)) return TypeError(filter, absl::StrCat("no test named '", *test_name, "'"));
  }
  test_args.positional.assign(args.positional.begin() + next, args.positional.end());
  test_args.keyword = args.keyword;
  MUKE_ASSIGN_OR_RETURN(std::vector<Value> items, IterItems(operand));
  std::vector<Value> kept;
  for (const Value& item : items) {
    const Value subject = attribute ? GetPath(item, *attribute) : item;
    bool passed = Truthy(subject);
    if (test_name) {
      MUKE_ASSIGN_OR_RETURN(passed, RunTest(*test_name, subject, test_args));
    }
    if (passed == keep) kept.push_back(item);
  }
  return Value::MakeList(std::move(kept));
}

absl::StatusOr<Value> Map(const Value& operand, const CallArgs& args) {
  MUKE_ASSIGN_OR_RETURN(std::vector<Value> items, IterItems(operand));
  std::vector<Value> mapped;
  if (args.positional.empty()) {
    MUKE_ASSIGN_OR_RETURN(auto bound, BindArgs("map", args, {{"attribute", std::nullopt}, {"default", Value::None()}}));
    const bool has_default =
        std::any_of(args.keyword.begin(), args.keyword.end(), [](const auto& kw) { return kw.first == "default"; });
    for (const Value& item : items) {
      Value value = GetPath(item, bound[0]);
      mapped.push_back(value.is_undefined() && has_default ? bound[1] : value);
    }
    return Value::MakeList(std::move(mapped));
  }
  if (!args.positional[0].is_string()) return TypeError("map", "the filter name must be a string");
  const std::string filter = args.positional[0].string_value();
  if (!IsKnownFilter(filter)) return TypeError("map", absl::StrCat("no filter named '", filter, "'"));
  CallArgs filter_args{std::vector<Value>(args.positional.begin() + 1, args.positional.end()), args.keyword};
  for (const Value& item : items) {
    MUKE_ASSIGN_OR_RETURN(Value value, RunFilter(filter, item, filter_args));
    mapped.push_back(std::move(value));
  }
  return Value::MakeList(std::move(mapped));
}

absl::StatusOr<Value> MinMax(std::string_view filter, const Value& operand, const CallArgs& args) {
  MUKE_ASSIGN_OR_RETURN(auto bound,
                        BindArgs(filter, args, {{"case_sensitive", Value::Bool(false)}, {"attribute", Value::None()}}));
  MUKE_ASSIGN_OR_RETURN(bool case_sensitive, BoolArg(filter, bound[0]));
  MUKE_ASSIGN_OR_RETURN(std::vector<Value> items, IterItems(operand));
  if (items.empty()) return Value::Undefined("No aggregated item, sequence was empty.");
  MUKE_ASSIGN_OR_RETURN(items, SortedItems(std::move(items), /*reverse=*/false, case_sensitive, bound[1]));
  return filter == "min" ? items.front() : items.back();
}

absl::StatusOr<Value> Round(const Value& operand, const CallArgs& args) {
  MUKE_ASSIGN_OR_RETURN(auto bound,
                        BindArgs("round", args, {{"precision", Value::Int(0)}, {"method", Value::String("common")}}));
  MUKE_ASSIGN_OR_RETURN(int64_t precision, IntArg("round", bound[0]));
  const std::string method = ToStr(bound[1]);
  if (method != "common" && method != "ceil" && method != "floor") {
    return TypeError("round", "method must be common, ceil or floor");
  }
  if (!operand.is_number()) return TypeError("round", absl::StrCat("cannot round '", TypeName(operand), "'"));
  if (method == "common" && operand.kind() != Value::Kind::kFloat) return Value::Int(IntegralOf(operand));
  const double scale = std::pow(10.0, static_cast<double>(std::clamp<int64_t>(precision, -308, 308)));
  const double scaled = operand.AsDouble() * scale;
  // Python's round() rounds half to even, which nearbyint does in the default rounding mode.
  const double rounded = method == "ceil"    ? std::ceil(scaled)
                         : method == "floor" ? std::floor(scaled)
                                             : std::nearbyint(scaled);
  return Value::Float(rounded / scale);
}

absl::StatusOr<Value> Sum(const Value& operand, const CallArgs& args) {
  MUKE_ASSIGN_OR_RETURN(auto bound, BindArgs("sum", args, {{"attribute", Value::None()}, {"start", Value::Int(0)}}));
  MUKE_ASSIGN_OR_RETURN(std::vector<Value> items, IterItems(operand));
  Value total = bound[1];
  for (const Value& raw : items) {
    const Value item = bound[0].is_none() ? raw : GetPath(raw, bound[0]);
    if (!item.is_number() || !total.is_number()) {
      return TypeError("sum",
                       absl::StrCat("unsupported operand types '", TypeName(total), "' and '", TypeName(item), "'"));
    }
    if (item.kind() == Value::Kind::kFloat || total.kind() == Value::Kind::kFloat) {
      total = Value::Float(total.AsDouble() + item.AsDouble());
      continue;
    }
    int64_t result;
    if (__builtin_add_overflow(IntegralOf(total), IntegralOf(item), &result)) {
      return TypeError("sum", "integer overflow");
    }
    total = Value::Int(result);
  }
  return total;
}

}  // namespace

bool IsKnownFilter(std::string_view name) {
  return std::find(std::begin(kFilters), std::end(kFilters), name) != std::end(kFilters);
}

absl::StatusOr<Value> RunFilter(std::string_view name, const Value& operand, const CallArgs& args) {
  auto no_args = [&]() { return BindArgs(name, args, {}).status(); };
  if (name == "abs") {
    MUKE_RETURN_IF_ERROR(no_args());
    if (operand.kind() == Value::Kind::kFloat) return Value::Float(std::fabs(operand.float_value()));
    if (operand.kind() == Value::Kind::kBool) return Value::Int(operand.bool_value());
    if (operand.kind() != Value::Kind::kInt) {
      return TypeError(name, absl::StrCat("bad operand type '", TypeName(operand), "'"));
    }
    if (operand.int_value() == std::numeric_limits<int64_t>::min()) return TypeError(name, "integer overflow");
    return Value::Int(std::abs(operand.int_value()));
  }
  if (name == "capitalize" || name == "lower" || name == "upper" || name == "title" || name == "string" ||
      name == "safe" || name == "e" || name == "escape" || name == "wordcount") {
    MUKE_RETURN_IF_ERROR(no_args());
    const std::string text = ToStr(operand);
    if (name == "capitalize") return Value::String(py::Capitalize(text));
    if (name == "lower") return Value::String(py::Lower(text));
    if (name == "upper") return Value::String(py::Upper(text));
    if (name == "title") return Value::String(py::Title(text));
    if (name == "e" || name == "escape") return Value::String(HtmlEscape(text));
    if (name == "wordcount") {
      int64_t words = 0;
      bool in_word = false;
      for (char32_t c : py::Decode(text)) {
        const bool word_char = c < 0x80 ? std::isalnum(static_cast<int>(c)) != 0 || c == '_' : !py::IsSpace(c);
        if (word_char && !in_word) ++words;
        in_word = word_char;
      }
      return Value::Int(words);
    }
    return Value::String(text);
  }
  if (name == "length" || name == "count") {
    MUKE_RETURN_IF_ERROR(no_args());
    return Length(operand);
  }
  if (name == "default" || name == "d") {
    MUKE_ASSIGN_OR_RETURN(
        auto bound, BindArgs(name, args, {{"default_value", Value::String("")}, {"boolean", Value::Bool(false)}}));
    MUKE_ASSIGN_OR_RETURN(bool boolean, BoolArg(name, bound[1]));
    if (operand.is_undefined() || (boolean && !Truthy(operand))) return bound[0];
    return operand;
  }
  if (name == "trim") {
    MUKE_ASSIGN_OR_RETURN(auto bound, BindArgs(name, args, {{"chars", Value::None()}}));
    std::optional<std::string> chars;
    if (!bound[0].is_none()) chars = ToStr(bound[0]);
    return Value::String(py::Strip(ToStr(operand), chars, true, true));
  }
  if (name == "replace") {
    MUKE_ASSIGN_OR_RETURN(
        auto bound, BindArgs(name, args, {{"old", std::nullopt}, {"new", std::nullopt}, {"count", Value::None()}}));
    int64_t count = -1;
    if (!bound[2].is_none()) {
      MUKE_ASSIGN_OR_RETURN(count, IntArg(name, bound[2]));
    }
    return Value::String(py::Replace(ToStr(operand), ToStr(bound[0]), ToStr(bound[1]), count));
  }
  if (name == "indent") {
    MUKE_ASSIGN_OR_RETURN(
        auto bound,
        BindArgs(name, args, {{"width", Value::Int(4)}, {"first", Value::Bool(false)}, {"blank", Value::Bool(false)}}));
    std::string prefix;
    if (bound[0].is_string()) {
      prefix = bound[0].string_value();
    } else {
      MUKE_ASSIGN_OR_RETURN(int64_t width, IntArg(name, bound[0]));
      prefix.assign(static_cast<size_t>(std::clamp<int64_t>(width, 0, 1024)), ' ');
    }
    return Value::String(Indent(ToStr(operand), prefix, Truthy(bound[1]), Truthy(bound[2])));
  }
  if (name == "tojson") {
    MUKE_ASSIGN_OR_RETURN(auto bound, BindArgs(name, args,
                                               {{"ensure_ascii", Value::Bool(false)},
                                                {"indent", Value::None()},
                                                {"separators", Value::None()},
                                                {"sort_keys", Value::Bool(false)}}));
    MUKE_ASSIGN_OR_RETURN(JsonFormat format, JsonFormatFromArgs(bound));
    MUKE_ASSIGN_OR_RETURN(std::string json, DumpJson(operand, format));
    return Value::String(std::move(json));
  }
  if (name == "first" || name == "last") {
    MUKE_RETURN_IF_ERROR(no_args());
    MUKE_ASSIGN_OR_RETURN(std::vector<Value> items, IterItems(operand));
    if (items.empty()) return Value::Undefined(absl::StrCat("No ", std::string(name), " item, sequence was empty."));
    return name == "first" ? items.front() : items.back();
  }
  if (name == "list" || name == "reverse") {
    MUKE_RETURN_IF_ERROR(no_args());
    MUKE_ASSIGN_OR_RETURN(std::vector<Value> items, IterItems(operand));
    if (name == "list") return Value::MakeList(std::move(items));
    std::reverse(items.begin(), items.end());
    if (!operand.is_string()) return Value::MakeList(std::move(items));
    std::string reversed;
    for (const Value& c : items) reversed += c.string_value();
    return Value::String(std::move(reversed));
  }
  if (name == "items") {
    MUKE_RETURN_IF_ERROR(no_args());
    if (operand.is_undefined()) return Value::MakeList({});
    if (operand.kind() != Value::Kind::kDict) return TypeError(name, "can only get item pairs from a mapping");
    std::vector<Value> pairs;
    for (const auto& [key, value] : operand.dict().entries()) {
      pairs.push_back(Value::MakeList({Value::String(key), value}, /*is_tuple=*/true));
    }
    return Value::MakeList(std::move(pairs));
  }
  if (name == "dictsort") {
    MUKE_ASSIGN_OR_RETURN(auto bound, BindArgs(name, args,
                                               {{"case_sensitive", Value::Bool(false)},
                                                {"by", Value::String("key")},
                                                {"reverse", Value::Bool(false)}}));
    if (operand.kind() != Value::Kind::kDict) return TypeError(name, "can only sort a mapping");
    MUKE_ASSIGN_OR_RETURN(bool case_sensitive, BoolArg(name, bound[0]));
    MUKE_ASSIGN_OR_RETURN(bool reverse, BoolArg(name, bound[2]));
    const std::string by = ToStr(bound[1]);
    if (by != "key" && by != "value") return TypeError(name, "'by' must be 'key' or 'value'");
    std::vector<Value> pairs;
    for (const auto& [key, value] : operand.dict().entries()) {
      pairs.push_back(Value::MakeList({Value::String(key), value}, /*is_tuple=*/true));
    }
    MUKE_ASSIGN_OR_RETURN(pairs,
                          SortedItems(std::move(pairs), reverse, case_sensitive, Value::Int(by == "key" ? 0 : 1)));
    return Value::MakeList(std::move(pairs));
  }
  if (name == "join") {
    MUKE_ASSIGN_OR_RETURN(auto bound, BindArgs(name, args, {{"d", Value::String("")}, {"attribute", Value::None()}}));
    MUKE_ASSIGN_OR_RETURN(std::vector<Value> items, IterItems(operand));
    const std::string separator = ToStr(bound[0]);
    std::string out;
    for (size_t i = 0; i < items.size(); ++i) {
      if (i > 0) out += separator;
      out += ToStr(bound[1].is_none() ? items[i] : GetPath(items[i], bound[1]));
    }
    return Value::String(std::move(out));
  }
  if (name == "sort") {
    MUKE_ASSIGN_OR_RETURN(auto bound, BindArgs(name, args,
                                               {{"reverse", Value::Bool(false)},
                                                {"case_sensitive", Value::Bool(false)},
                                                {"attribute", Value::None()}}));
    MUKE_ASSIGN_OR_RETURN(bool reverse, BoolArg(name, bound[0]));
    MUKE_ASSIGN_OR_RETURN(bool case_sensitive, BoolArg(name, bound[1]));
    MUKE_ASSIGN_OR_RETURN(std::vector<Value> items, IterItems(operand));
    MUKE_ASSIGN_OR_RETURN(items, SortedItems(std::move(items), reverse, case_sensitive, bound[2]));
    return Value::MakeList(std::move(items));
  }
  if (name == "unique") {
    MUKE_ASSIGN_OR_RETURN(auto bound,
                          BindArgs(name, args, {{"case_sensitive", Value::Bool(false)}, {"attribute", Value::None()}}));
    MUKE_ASSIGN_OR_RETURN(bool case_sensitive, BoolArg(name, bound[0]));
    MUKE_ASSIGN_OR_RETURN(std::vector<Value> items, IterItems(operand));
    std::vector<Value> seen_keys, unique;
    for (const Value& item : items) {
      const Value key = FoldCase(bound[1].is_none() ? item : GetPath(item, bound[1]), case_sensitive);
      if (std::any_of(seen_keys.begin(), seen_keys.end(), [&](const Value& seen) { return Equal(seen, key); })) {
        continue;
      }
      seen_keys.push_back(key);
      unique.push_back(item);
    }
    return Value::MakeList(std::move(unique));
  }
  if (name == "int") {
    MUKE_ASSIGN_OR_RETURN(auto bound, BindArgs(name, args, {{"default", Value::Int(0)}, {"base", Value::Int(10)}}));
    MUKE_ASSIGN_OR_RETURN(int64_t base, IntArg(name, bound[1]));
    return ToInt(operand, bound[0], static_cast<int>(base));
  }
  if (name == "float") {
    MUKE_ASSIGN_OR_RETURN(auto bound, BindArgs(name, args, {{"default", Value::Float(0.0)}}));
    if (operand.is_number()) return Value::Float(operand.AsDouble());
    if (operand.is_string()) {
      if (std::optional<double> d = ParseFloat(operand.string_value())) return Value::Float(*d);
    }
    return bound[0];
  }
  if (name == "select" || name == "reject") return FilterByTest(name, operand, args, false, name == "select");
  if (name == "selectattr" || name == "rejectattr") {
    return FilterByTest(name, operand, args, true, name == "selectattr");
  }
  if (name == "map") return Map(operand, args);
  if (name == "min" || name == "max") return MinMax(name, operand, args);
  if (name == "round") return Round(operand, args);
  if (name == "sum") return Sum(operand, args);
  return absl::InvalidArgumentError(absl::StrCat("no filter named '", std::string(name), "'"));
}

}  // namespace muke::jinja
