#include "core/tokenizer/jinja/methods.h"

#include <algorithm>
#include <iterator>

#include "absl/strings/str_cat.h"
#include "core/tokenizer/jinja/py_string.h"
#include "core/util/status.h"

namespace muke::jinja {
namespace {

constexpr std::string_view kStringMethods[] = {"strip",      "lstrip",   "rstrip", "split", "rsplit", "splitlines",
                                               "startswith", "endswith", "upper",  "lower", "title",  "capitalize",
                                               "replace",    "find",     "count",  "join",  "format"};
constexpr std::string_view kDictMethods[] = {"get", "items", "keys", "values"};
constexpr std::string_view kListMethods[] = {"index", "count"};

template <size_t N>
bool IsOneOf(const std::string_view (&names)[N], std::string_view name) {
  return std::find(std::begin(names), std::end(names), name) != std::end(names);
}

absl::Status TypeError(std::string_view method, std::string_view expected, const Value& got) {
  return absl::InvalidArgumentError(
      absl::StrCat(std::string(method), "() argument must be ", std::string(expected), ", not '", TypeName(got), "'"));
}

// `chars` / `sep` style argument: None or a string.
absl::StatusOr<std::optional<std::string>> OptionalString(std::string_view method, const Value& value) {
  if (value.is_none()) return std::optional<std::string>();
  if (!value.is_string()) return TypeError(method, "str or None", value);
  return std::optional<std::string>(value.string_value());
}

absl::StatusOr<int64_t> IntArg(std::string_view method, const Value& value) {
  if (value.kind() == Value::Kind::kInt) return value.int_value();
  if (value.kind() == Value::Kind::kBool) return static_cast<int64_t>(value.bool_value());
  return TypeError(method, "int", value);
}

Value StringList(const std::vector<std::string>& parts) {
  std::vector<Value> items;
  items.reserve(parts.size());
  for (const std::string& part : parts) items.push_back(Value::String(part));
  return Value::MakeList(std::move(items));
}

// Python's str.format with automatic ({}), numbered ({0}) and named ({name}) fields; no format specs.
absl::StatusOr<Value> Format(const std::string& pattern, const CallArgs& args) {
  std::string out;
  size_t next_auto = 0;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if ((c == '{' || c == '}') && i + 1 < pattern.size() && pattern[i + 1] == c) {
      out.push_back(c);
      ++i;
      continue;
    }
    if (c == '}') return absl::InvalidArgumentError("Single '}' encountered in format string");
    if (c != '{') {
      out.push_back(c);
      continue;
    }
    const size_t close = pattern.find('}', i);
    if (close == std::string::npos) return absl::InvalidArgumentError("Single '{' encountered in format string");
    const std::string field = pattern.substr(i + 1, close - i - 1);
    i = close;
    const Value* value = nullptr;
    if (field.size() > 9) return absl::InvalidArgumentError("format(): field name too long");
    if (field.empty() || std::all_of(field.begin(), field.end(), [](char d) { return d >= '0' && d <= '9'; })) {
      const size_t index = field.empty() ? next_auto++ : std::stoul(field);
      if (index < args.positional.size()) value = &args.positional[index];
    } else {
      for (const auto& [key, keyword_value] : args.keyword) {
        if (key == field) value = &keyword_value;
      }
    }
    if (value == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("format(): no argument for field '{", field, "}'"));
    }
    out += ToStr(*value);
  }
  return Value::String(std::move(out));
}

absl::StatusOr<Value> CallStringMethod(const std::string& s, std::string_view name, const CallArgs& args) {
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    MUKE_ASSIGN_OR_RETURN(auto bound, BindArgs(name, args, {{"chars", Value::None()}}));
    MUKE_ASSIGN_OR_RETURN(auto chars, OptionalString(name, bound[0]));
    return Value::String(py::Strip(s, chars, name != "rstrip", name != "lstrip"));
  }
  if (name == "split" || name == "rsplit") {
    MUKE_ASSIGN_OR_RETURN(auto bound, BindArgs(name, args, {{"sep", Value::None()}, {"maxsplit", Value::Int(-1)}}));
    MUKE_ASSIGN_OR_RETURN(auto sep, OptionalString(name, bound[0]));
    MUKE_ASSIGN_OR_RETURN(int64_t maxsplit, IntArg(name, bound[1]));
    if (sep && sep->empty()) return absl::InvalidArgumentError("empty separator");
    return StringList(name == "split" ? py::Split(s, sep, maxsplit) : py::RSplit(s, sep, maxsplit));
  }
  if (name == "splitlines") {
    MUKE_RETURN_IF_ERROR(BindArgs(name, args, {}).status());
    return StringList(py::SplitLines(s));
  }
  if (name == "startswith" || name == "endswith") {
    MUKE_ASSIGN_OR_RETURN(auto bound, BindArgs(name, args, {{"prefix", std::nullopt}}));
    std::vector<Value> candidates;
    if (bound[0].kind() == Value::Kind::kList && bound[0].list().is_tuple) {
      candidates = bound[0].list().items;
    } else {
      candidates.push_back(bound[0]);
    }
    for (const Value& candidate : candidates) {
      if (!candidate.is_string()) return TypeError(name, "str or a tuple of str", candidate);
      const std::string& affix = candidate.string_value();
      const bool hit = affix.size() <= s.size() &&
                       (name == "startswith" ? s.compare(0, affix.size(), affix) == 0
                                             : s.compare(s.size() - affix.size(), affix.size(), affix) == 0);
      if (hit) return Value::Bool(true);
    }
    return Value::Bool(false);
  }
  if (name == "upper" || name == "lower" || name == "title" || name == "capitalize") {
    MUKE_RETURN_IF_ERROR(BindArgs(name, args, {}).status());
    if (name == "upper") return Value::String(py::Upper(s));
    if (name == "lower") return Value::String(py::Lower(s));
    if (name == "title") return Value::String(py::Title(s));
    return Value::String(py::Capitalize(s));
  }
  if (name == "replace") {
    MUKE_ASSIGN_OR_RETURN(
        auto bound, BindArgs(name, args, {{"old", std::nullopt}, {"new", std::nullopt}, {"count", Value::Int(-1)}}));
    if (!bound[0].is_string()) return TypeError(name, "str", bound[0]);
    if (!bound[1].is_string()) return TypeError(name, "str", bound[1]);
    MUKE_ASSIGN_OR_RETURN(int64_t count, IntArg(name, bound[2]));
    return Value::String(py::Replace(s, bound[0].string_value(), bound[1].string_value(), count));
  }
  if (name == "find" || name == "count") {
    MUKE_ASSIGN_OR_RETURN(auto bound, BindArgs(name, args, {{"sub", std::nullopt}}));
    if (!bound[0].is_string()) return TypeError(name, "str", bound[0]);
    return Value::Int(name == "find" ? py::Find(s, bound[0].string_value()) : py::Count(s, bound[0].string_value()));
  }
  if (name == "join") {
    MUKE_ASSIGN_OR_RETURN(auto bound, BindArgs(name, args, {{"iterable", std::nullopt}}));
    if (bound[0].kind() != Value::Kind::kList) return TypeError(name, "a list", bound[0]);
    std::string out;
    bool first = true;
    for (const Value& item : bound[0].list().items) {
      if (!item.is_string()) return TypeError(name, "a list of str", item);
      if (!first) out += s;
      out += item.string_value();
      first = false;
    }
    return Value::String(std::move(out));
  }
  return Format(s, args);
}

absl::StatusOr<Value> CallDictMethod(const Dict& dict, std::string_view name, const CallArgs& args) {
  if (name == "get") {
    MUKE_ASSIGN_OR_RETURN(auto bound, BindArgs(name, args, {{"key", std::nullopt}, {"default", Value::None()}}));
    const Value* found = bound[0].is_string() ? dict.Find(bound[0].string_value()) : nullptr;
    return found ? *found : bound[1];
  }
  MUKE_RETURN_IF_ERROR(BindArgs(name, args, {}).status());
  std::vector<Value> items;
  for (const auto& [key, value] : dict.entries()) {
    if (name == "items") {
      items.push_back(Value::MakeList({Value::String(key), value}, /*is_tuple=*/true));
    } else {
      items.push_back(name == "keys" ? Value::String(key) : value);
    }
  }
  return Value::MakeList(std::move(items));
}

absl::StatusOr<Value> CallListMethod(const std::vector<Value>& items, std::string_view name, const CallArgs& args) {
  MUKE_ASSIGN_OR_RETURN(auto bound, BindArgs(name, args, {{"value", std::nullopt}}));
  int64_t count = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    if (!Equal(items[i], bound[0])) continue;
    if (name == "index") return Value::Int(static_cast<int64_t>(i));
    ++count;
  }
  if (name == "index") return absl::InvalidArgumentError(absl::StrCat(Repr(bound[0]), " is not in list"));
  return Value::Int(count);
}

}  // namespace

bool HasMethod(const Value& object, std::string_view name) {
  switch (object.kind()) {
    case Value::Kind::kString:
      return IsOneOf(kStringMethods, name);
    case Value::Kind::kDict:
      return IsOneOf(kDictMethods, name);
    case Value::Kind::kList:
      return IsOneOf(kListMethods, name);
    default:
      return false;
  }
}

absl::StatusOr<Value> CallMethod(const Value& object, std::string_view name, const CallArgs& args) {
  switch (object.kind()) {
    case Value::Kind::kString:
      return CallStringMethod(object.string_value(), name, args);
    case Value::Kind::kDict:
      return CallDictMethod(object.dict(), name, args);
    case Value::Kind::kList:
      return CallListMethod(object.list().items, name, args);
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("'", TypeName(object), "' object has no method '", std::string(name), "'"));
  }
}

}  // namespace muke::jinja
