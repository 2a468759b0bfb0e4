// Runtime values of the Jinja interpreter, with Python semantics: truthiness, ==, ordering, str() and repr().
// Lists, dicts and functions are immutable and shared; a namespace() is the one mutable object.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"

namespace muke::jinja {

class Value;

// An insertion-ordered str -> value mapping (Python dict with string keys).
class Dict {
 public:
  using Entry = std::pair<std::string, Value>;
  const Value* Find(std::string_view key) const;
  // Inserts or replaces, keeping the key's first position.
  void Set(std::string key, Value value);
  const std::vector<Entry>& entries() const { return entries_; }
  size_t size() const { return entries_.size(); }
  // Container nesting (1 + deepest value) and whether a namespace() is inside; see Value::Depth.
  int depth() const { return depth_; }
  bool holds_namespace() const { return holds_namespace_; }

 private:
  std::vector<Entry> entries_;
  int depth_ = 1;
  bool holds_namespace_ = false;
};

// Arguments of a call: positional, then keyword in call order.
struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
};

using NativeFunction = std::function<absl::StatusOr<Value>(const CallArgs&)>;

class Value {
 public:
  enum class Kind { kUndefined, kNone, kBool, kInt, kFloat, kString, kList, kDict, kNamespace, kFunction };

  struct List {
    std::vector<Value> items;
    bool is_tuple = false;
    int depth = 1;                 // 1 + deepest item
    bool holds_namespace = false;  // a namespace() is inside
  };
  struct Namespace {
    Dict attributes;
  };
  struct Function {
    std::string name;
    NativeFunction call;
  };

  // Jinja2's default Undefined. `hint` is the message raised when the value is used in a way that fails
  // (attribute access, arithmetic, calls), e.g. "'foo' is undefined".
  static Value Undefined(std::string hint);
  static Value None();
  static Value Bool(bool value);
  static Value Int(int64_t value);
  static Value Float(double value);
  static Value String(std::string value);
  static Value MakeList(std::vector<Value> items, bool is_tuple = false);
  static Value MakeDict(Dict dict);
  static Value MakeNamespace(Dict attributes);
  static Value MakeFunction(std::string name, NativeFunction call);

  Value() : Value(Undefined("undefined value")) {}

  Kind kind() const { return static_cast<Kind>(data_.index()); }
  bool is_undefined() const { return kind() == Kind::kUndefined; }
  bool is_none() const { return kind() == Kind::kNone; }
  bool is_string() const { return kind() == Kind::kString; }
  bool is_number() const { return kind() == Kind::kInt || kind() == Kind::kFloat || kind() == Kind::kBool; }

  const std::string& undefined_hint() const { return std::get<UndefinedData>(data_).hint; }
  bool bool_value() const { return std::get<bool>(data_); }
  int64_t int_value() const { return std::get<int64_t>(data_); }
  double float_value() const { return std::get<double>(data_); }
  // int, float or bool as a double.
  double AsDouble() const;
  // Nesting of lists and dicts (0 for scalars, 1 for a namespace). The interpreter bounds it so that
  // recursive printing, comparison and destruction stay shallow.
  int Depth() const;
  // True for a namespace() or a container holding one (namespaces must not nest, so no cycles form).
  bool HoldsNamespace() const;
  const std::string& string_value() const { return *std::get<std::shared_ptr<const std::string>>(data_); }
  const List& list() const { return *std::get<std::shared_ptr<const List>>(data_); }
  const Dict& dict() const { return *std::get<std::shared_ptr<const Dict>>(data_); }
  Namespace& ns() const { return *std::get<std::shared_ptr<Namespace>>(data_); }
  const Function& function() const { return *std::get<std::shared_ptr<const Function>>(data_); }

 private:
  struct UndefinedData {
    std::string hint;
  };
  struct NoneData {};
  using Data = std::variant<UndefinedData, NoneData, bool, int64_t, double, std::shared_ptr<const std::string>,
                            std::shared_ptr<const List>, std::shared_ptr<const Dict>, std::shared_ptr<Namespace>,
                            std::shared_ptr<const Function>>;
  explicit Value(Data data) : data_(std::move(data)) {}

  Data data_;
};

// Python type name for error messages: 'str', 'int', 'list', 'dict', 'NoneType', ...
std::string TypeName(const Value& value);
// Python bool(value); undefined is false.
bool Truthy(const Value& value);
// Python ==; undefined equals only undefined.
bool Equal(const Value& a, const Value& b);
// Python ordering for <, <=, >, >=: negative, zero or positive. Unorderable operands (or undefined ones) give
// an error naming `op`.
absl::StatusOr<int> Compare(const Value& a, const Value& b, std::string_view op);
// Python `item in container` (str in str, item in list, key in dict; nothing is in undefined).
absl::StatusOr<bool> Contains(const Value& container, const Value& item);
// The items a `for` loop or list() sees: characters of a string, list items, dict keys, nothing for undefined;
// an error for values that are not iterable.
absl::StatusOr<std::vector<Value>> IterItems(const Value& value);
// Python str(value) (undefined renders as "").
std::string ToStr(const Value& value);
// Python repr(value).
std::string Repr(const Value& value);
// repr(float): shortest round-trip digits, "1.0", "1e+16", "inf", "nan".
std::string FormatFloat(double value);

// One parameter of a builtin's Python-style signature; no default marks a required parameter.
struct Param {
  std::string_view name;
  std::optional<Value> default_value;
};

// Binds call arguments to `params` like Python does: one value per parameter, or an error naming `callee` for
// a missing, unexpected or repeated argument.
absl::StatusOr<std::vector<Value>> BindArgs(std::string_view callee, const CallArgs& args,
                                            const std::vector<Param>& params);

// JSON (message lists, tool schemas) to values; object key order is kept. Fails on nesting deeper than 512.
absl::StatusOr<Value> FromJson(const nlohmann::ordered_json& json);

}  // namespace muke::jinja
