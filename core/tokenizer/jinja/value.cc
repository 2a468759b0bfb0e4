#include "core/tokenizer/jinja/value.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/tokenizer/jinja/py_string.h"

namespace muke::jinja {

const Value* Dict::Find(std::string_view key) const {
  for (const Entry& entry : entries_) {
    if (entry.first == key) return &entry.second;
  }
  return nullptr;
}

void Dict::Set(std::string key, Value value) {
  for (Entry& entry : entries_) {
    if (entry.first == key) {
      entry.second = std::move(value);
      return;
    }
  }
  depth_ = std::max(depth_, value.Depth() + 1);
  holds_namespace_ = holds_namespace_ || value.HoldsNamespace();
  entries_.emplace_back(std::move(key), std::move(value));
}

Value Value::Undefined(std::string hint) { return Value(UndefinedData{std::move(hint)}); }
Value Value::None() { return Value(NoneData{}); }
Value Value::Bool(bool value) { return Value(Data(std::in_place_type<bool>, value)); }
Value Value::Int(int64_t value) { return Value(Data(std::in_place_type<int64_t>, value)); }
Value Value::Float(double value) { return Value(Data(std::in_place_type<double>, value)); }
Value Value::String(std::string value) { return Value(std::make_shared<const std::string>(std::move(value))); }
Value Value::MakeList(std::vector<Value> items, bool is_tuple) {
  auto list = std::make_shared<List>(List{std::move(items), is_tuple});
  for (const Value& item : list->items) {
    list->depth = std::max(list->depth, item.Depth() + 1);
    list->holds_namespace = list->holds_namespace || item.HoldsNamespace();
  }
  return Value(std::shared_ptr<const List>(std::move(list)));
}
Value Value::MakeDict(Dict dict) { return Value(std::make_shared<const Dict>(std::move(dict))); }
Value Value::MakeNamespace(Dict attributes) {
  return Value(std::make_shared<Namespace>(Namespace{std::move(attributes)}));
}
Value Value::MakeFunction(std::string name, NativeFunction call) {
  return Value(std::make_shared<const Function>(Function{std::move(name), std::move(call)}));
}

double Value::AsDouble() const {
  switch (kind()) {
    case Kind::kBool:
      return bool_value() ? 1.0 : 0.0;
    case Kind::kInt:
      return static_cast<double>(int_value());
    case Kind::kFloat:
      return float_value();
    default:
      return 0.0;
  }
}

int Value::Depth() const {
  switch (kind()) {
    case Kind::kList:
      return list().depth;
    case Kind::kDict:
      return dict().depth();
    case Kind::kNamespace:
      return 1;
    default:
      return 0;
  }
}

bool Value::HoldsNamespace() const {
  switch (kind()) {
    case Kind::kList:
      return list().holds_namespace;
    case Kind::kDict:
      return dict().holds_namespace();
    case Kind::kNamespace:
      return true;
    default:
      return false;
  }
}

std::string TypeName(const Value& value) {
  switch (value.kind()) {
    case Value::Kind::kUndefined:
      return "Undefined";
    case Value::Kind::kNone:
      return "NoneType";
    case Value::Kind::kBool:
      return "bool";
    case Value::Kind::kInt:
      return "int";
    case Value::Kind::kFloat:
      return "float";
    case Value::Kind::kString:
      return "str";
    case Value::Kind::kList:
      return value.list().is_tuple ? "tuple" : "list";
    case Value::Kind::kDict:
      return "dict";
    case Value::Kind::kNamespace:
      return "Namespace";
    case Value::Kind::kFunction:
      return "function";
  }
  return "object";
}

bool Truthy(const Value& value) {
  switch (value.kind()) {
    case Value::Kind::kUndefined:
    case Value::Kind::kNone:
      return false;
    case Value::Kind::kBool:
      return value.bool_value();
    case Value::Kind::kInt:
      return value.int_value() != 0;
    case Value::Kind::kFloat:
      return value.float_value() != 0.0;
    case Value::Kind::kString:
      return !value.string_value().empty();
    case Value::Kind::kList:
      return !value.list().items.empty();
    case Value::Kind::kDict:
      return value.dict().size() > 0;
    case Value::Kind::kNamespace:
    case Value::Kind::kFunction:
      return true;
  }
  return false;
}

namespace {

bool IsIntegral(const Value& v) { return v.kind() == Value::Kind::kInt || v.kind() == Value::Kind::kBool; }
int64_t IntegralValue(const Value& v) { return v.kind() == Value::Kind::kBool ? v.bool_value() : v.int_value(); }

}  // namespace

bool Equal(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (IsIntegral(a) && IsIntegral(b)) return IntegralValue(a) == IntegralValue(b);
    return a.AsDouble() == b.AsDouble();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Value::Kind::kUndefined:
    case Value::Kind::kNone:
      return true;
    case Value::Kind::kString:
      return a.string_value() == b.string_value();
    case Value::Kind::kList: {
      const auto& x = a.list();
      const auto& y = b.list();
      if (x.is_tuple != y.is_tuple || x.items.size() != y.items.size()) return false;
      for (size_t i = 0; i < x.items.size(); ++i) {
        if (!Equal(x.items[i], y.items[i])) return false;
      }
      return true;
    }
    case Value::Kind::kDict: {
      if (a.dict().size() != b.dict().size()) return false;
      for (const auto& [key, value] : a.dict().entries()) {
        const Value* other = b.dict().Find(key);
        if (other == nullptr || !Equal(value, *other)) return false;
      }
      return true;
    }
    case Value::Kind::kNamespace:
      return &a.ns() == &b.ns();
    case Value::Kind::kFunction:
      return &a.function() == &b.function();
    default:
      return false;
  }
}

absl::StatusOr<int> Compare(const Value& a, const Value& b, std::string_view op) {
  if (a.is_undefined()) return absl::InvalidArgumentError(a.undefined_hint());
  if (b.is_undefined()) return absl::InvalidArgumentError(b.undefined_hint());
  if (a.is_number() && b.is_number()) {
    if (IsIntegral(a) && IsIntegral(b)) {
      const int64_t x = IntegralValue(a), y = IntegralValue(b);
      return x < y ? -1 : x > y ? 1 : 0;
    }
    const double x = a.AsDouble(), y = b.AsDouble();
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (a.is_string() && b.is_string()) {
    const int c = a.string_value().compare(b.string_value());  // UTF-8 byte order is code point order
    return c < 0 ? -1 : c > 0 ? 1 : 0;
  }
  if (a.kind() == Value::Kind::kList && b.kind() == Value::Kind::kList && a.list().is_tuple == b.list().is_tuple) {
    const auto& x = a.list().items;
    const auto& y = b.list().items;
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (Equal(x[i], y[i])) continue;
      return Compare(x[i], y[i], op);
    }
    return x.size() < y.size() ? -1 : x.size() > y.size() ? 1 : 0;
  }
  return absl::InvalidArgumentError(absl::StrCat("'", std::string(op), "' not supported between instances of '",
                                                 TypeName(a), "' and '", TypeName(b), "'"));
}

absl::StatusOr<bool> Contains(const Value& container, const Value& item) {
  switch (container.kind()) {
    case Value::Kind::kUndefined:
      return false;
    case Value::Kind::kString:
      if (!item.is_string()) {
        return absl::InvalidArgumentError(
            absl::StrCat("'in <string>' requires string as left operand, not ", TypeName(item)));
      }
      return container.string_value().find(item.string_value()) != std::string::npos;
    case Value::Kind::kList:
      for (const Value& element : container.list().items) {
        if (Equal(element, item)) return true;
      }
      return false;
    case Value::Kind::kDict:
      return item.is_string() && container.dict().Find(item.string_value()) != nullptr;
    default:
      return absl::InvalidArgumentError(absl::StrCat("argument of type '", TypeName(container), "' is not iterable"));
  }
}

absl::StatusOr<std::vector<Value>> IterItems(const Value& value) {
  std::vector<Value> items;
  switch (value.kind()) {
    case Value::Kind::kUndefined:
      return items;
    case Value::Kind::kString: {
      std::string character;
      for (char32_t c : py::Decode(value.string_value())) {
        character.clear();
        py::AppendCodePoint(c, &character);
        items.push_back(Value::String(character));
      }
      return items;
    }
    case Value::Kind::kList:
      return value.list().items;
    case Value::Kind::kDict:
      for (const auto& entry : value.dict().entries()) items.push_back(Value::String(entry.first));
      return items;
    default:
      return absl::InvalidArgumentError(absl::StrCat("'", TypeName(value), "' object is not iterable"));
  }
}

std::string FormatFloat(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buf[40];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof(buf), "%.*e", precision - 1, value);
    if (std::strtod(buf, nullptr) == value) break;
  }
  // buf is "[-]d.ddde[+-]XX": collect the significant digits and the decimal exponent.
  std::string text = buf;
  const bool negative = text[0] == '-';
  if (negative) text.erase(0, 1);
  const size_t e = text.find('e');
  const int exponent = std::atoi(text.c_str() + e + 1);
  std::string digits;
  for (size_t i = 0; i < e; ++i) {
    if (text[i] != '.') digits.push_back(text[i]);
  }
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  std::string out = negative ? "-" : "";
  if (exponent >= -4 && exponent < 16) {
    if (exponent >= 0) {
      std::string integer_part = digits.substr(0, std::min(digits.size(), static_cast<size_t>(exponent) + 1));
      integer_part.append(static_cast<size_t>(exponent) + 1 - integer_part.size(), '0');
      const std::string fraction =
          digits.size() > static_cast<size_t>(exponent) + 1 ? digits.substr(exponent + 1) : "0";
      absl::StrAppend(&out, integer_part, ".", fraction);
    } else {
      absl::StrAppend(&out, "0.", std::string(static_cast<size_t>(-exponent - 1), '0'), digits);
    }
    return out;
  }
  out.push_back(digits[0]);
  if (digits.size() > 1) absl::StrAppend(&out, ".", digits.substr(1));
  char exponent_text[16];
  std::snprintf(exponent_text, sizeof(exponent_text), "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
  out += exponent_text;
  return out;
}

namespace {

std::string FormatContainer(const Value& value) {
  std::vector<std::string> parts;
  switch (value.kind()) {
    case Value::Kind::kList: {
      for (const Value& item : value.list().items) parts.push_back(Repr(item));
      if (!value.list().is_tuple) return absl::StrCat("[", absl::StrJoin(parts, ", "), "]");
      return absl::StrCat("(", absl::StrJoin(parts, ", "), parts.size() == 1 ? ",)" : ")");
    }
    case Value::Kind::kDict:
    case Value::Kind::kNamespace: {
      const Dict& dict = value.kind() == Value::Kind::kDict ? value.dict() : value.ns().attributes;
      for (const auto& [key, item] : dict.entries()) parts.push_back(absl::StrCat(py::Repr(key), ": ", Repr(item)));
      const std::string body = absl::StrCat("{", absl::StrJoin(parts, ", "), "}");
      return value.kind() == Value::Kind::kDict ? body : absl::StrCat("<Namespace ", body, ">");
    }
    default:
      return "";
  }
}

}  // namespace

std::string ToStr(const Value& value) {
  switch (value.kind()) {
    case Value::Kind::kUndefined:
      return "";
    case Value::Kind::kNone:
      return "None";
    case Value::Kind::kBool:
      return value.bool_value() ? "True" : "False";
    case Value::Kind::kInt:
      return absl::StrCat(value.int_value());
    case Value::Kind::kFloat:
      return FormatFloat(value.float_value());
    case Value::Kind::kString:
      return value.string_value();
    case Value::Kind::kFunction:
      return absl::StrCat("<function ", value.function().name, ">");
    default:
      return FormatContainer(value);
  }
}

std::string Repr(const Value& value) {
  if (value.is_string()) return py::Repr(value.string_value());
  if (value.is_undefined()) return "Undefined";
  return ToStr(value);
}

absl::StatusOr<std::vector<Value>> BindArgs(std::string_view callee, const CallArgs& args,
                                            const std::vector<Param>& params) {
  if (args.positional.size() > params.size()) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(callee), "() takes at most ", params.size(),
                                                   " argument(s) (", args.positional.size(), " given)"));
  }
  std::vector<std::optional<Value>> bound(params.size());
  for (size_t i = 0; i < args.positional.size(); ++i) bound[i] = args.positional[i];
  for (const auto& [name, value] : args.keyword) {
    size_t i = 0;
    while (i < params.size() && params[i].name != name) ++i;
    if (i == params.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat(std::string(callee), "() got an unexpected keyword argument '", std::string(name), "'"));
    }
    if (bound[i]) {
      return absl::InvalidArgumentError(
          absl::StrCat(std::string(callee), "() got multiple values for argument '", std::string(name), "'"));
    }
    bound[i] = value;
  }
  std::vector<Value> values;
  values.reserve(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    if (!bound[i]) bound[i] = params[i].default_value;
    if (!bound[i]) {
      return absl::InvalidArgumentError(
          absl::StrCat(std::string(callee), "() missing required argument '", std::string(params[i].name), "'"));
    }
    values.push_back(*std::move(bound[i]));
  }
  return values;
}

namespace {

constexpr int kMaxJsonDepth = 512;

absl::StatusOr<Value> FromJsonAt(const nlohmann::ordered_json& json, int depth) {
  if (depth > kMaxJsonDepth) return absl::InvalidArgumentError("JSON value nested too deeply");
  using Type = nlohmann::ordered_json::value_t;
  switch (json.type()) {
    case Type::null:
      return Value::None();
    case Type::boolean:
      return Value::Bool(json.get<bool>());
    case Type::number_integer:
      return Value::Int(json.get<int64_t>());
    case Type::number_unsigned: {
      const uint64_t n = json.get<uint64_t>();
      if (n > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return Value::Float(static_cast<double>(n));
      return Value::Int(static_cast<int64_t>(n));
    }
    case Type::number_float:
      return Value::Float(json.get<double>());
    case Type::string:
      return Value::String(json.get_ref<const std::string&>());
    case Type::array: {
      std::vector<Value> items;
      items.reserve(json.size());
      for (const auto& item : json) {
        absl::StatusOr<Value> value = FromJsonAt(item, depth + 1);
        if (!value.ok()) return value.status();
        items.push_back(*std::move(value));
      }
      return Value::MakeList(std::move(items));
    }
    case Type::object: {
      Dict dict;
      for (const auto& [key, item] : json.items()) {
        absl::StatusOr<Value> value = FromJsonAt(item, depth + 1);
        if (!value.ok()) return value.status();
        dict.Set(key, *std::move(value));
      }
      return Value::MakeDict(std::move(dict));
    }
    default:
      return absl::InvalidArgumentError("unsupported JSON value (binary or discarded)");
  }
}

}  // namespace

absl::StatusOr<Value> FromJson(const nlohmann::ordered_json& json) { return FromJsonAt(json, 0); }

}  // namespace muke::jinja
