#include "core/tokenizer/jinja/interpreter.h"

#include <cmath>
#include <ctime>
#include <limits>
#include <memory>
#include <unordered_map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/tokenizer/jinja/builtin_filters.h"
#include "core/tokenizer/jinja/builtin_tests.h"
#include "core/tokenizer/jinja/methods.h"
#include "core/tokenizer/jinja/py_string.h"
#include "core/util/status.h"

namespace muke::jinja {
namespace {

// Deepest list/dict nesting a template may build (keeps printing, comparison and destruction shallow).
constexpr int kMaxValueDepth = 100;
// Jinja2's sandbox refuses larger range() results.
constexpr int64_t kMaxRange = 100000;

// Variables of one template, loop iteration or macro call; lookups fall back to the enclosing scope.
class Scope {
 public:
  explicit Scope(std::shared_ptr<Scope> parent) : parent_(std::move(parent)) {}

  const Value* Find(const std::string& name) const {
    for (const Scope* scope = this; scope != nullptr; scope = scope->parent_.get()) {
      const auto it = scope->variables_.find(name);
      if (it != scope->variables_.end()) return &it->second;
    }
    return nullptr;
  }
  void Set(const std::string& name, Value value) { variables_[name] = std::move(value); }
  void Clear() { variables_.clear(); }

 private:
  std::shared_ptr<Scope> parent_;
  std::unordered_map<std::string, Value> variables_;
};
using ScopePtr = std::shared_ptr<Scope>;

// Owns a scope for the duration of a block and clears it on exit: macros defined in a scope hold it, and
// clearing breaks that reference cycle.
class ScopeGuard {
 public:
  explicit ScopeGuard(ScopePtr parent) : scope_(std::make_shared<Scope>(std::move(parent))) {}
  ~ScopeGuard() { scope_->Clear(); }
  ScopeGuard(const ScopeGuard&) = delete;
  ScopeGuard& operator=(const ScopeGuard&) = delete;
  const ScopePtr& get() const { return scope_; }

 private:
  ScopePtr scope_;
};

absl::Status ErrorAt(SourcePos pos, std::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(PositionPrefix(pos), std::string(problem)));
}

// Prefixes a builtin's error (which knows no position) with the position of the expression that called it.
absl::Status Locate(const absl::Status& status, SourcePos pos) {
  return absl::Status(status.code(), absl::StrCat(PositionPrefix(pos), status.message()));
}

template <typename T>
absl::StatusOr<T> Locate(absl::StatusOr<T> result, SourcePos pos) {
  if (result.ok()) return result;
  return Locate(result.status(), pos);
}

bool IsIntegral(const Value& v) { return v.kind() == Value::Kind::kInt || v.kind() == Value::Kind::kBool; }
int64_t IntegralOf(const Value& v) { return v.kind() == Value::Kind::kBool ? v.bool_value() : v.int_value(); }

std::string Article(const Value& v) { return v.is_none() ? "'None'" : absl::StrCat("'", TypeName(v), " object'"); }

Value NoAttribute(const Value& object, std::string_view name) {
  return Value::Undefined(absl::StrCat(Article(object), " has no attribute '", std::string(name), "'"));
}

// Python's slice index clamping (PySlice_AdjustIndices) for one bound.
int64_t ClampSliceIndex(const Value& bound, int64_t length, int64_t step, bool is_start) {
  if (bound.is_none()) {
    if (step > 0) return is_start ? 0 : length;
    return is_start ? length - 1 : -1;
  }
  int64_t index = IntegralOf(bound);
  if (index < 0) {
    index = index < -length ? (step < 0 ? -1 : 0) : index + length;
  } else if (index >= length) {
    index = step < 0 ? length - 1 : length;
  }
  return index;
}

// Indices a Python slice selects from a sequence of `length`.
std::vector<int64_t> SliceIndices(const Value& start, const Value& stop, int64_t step, int64_t length) {
  const int64_t first = ClampSliceIndex(start, length, step, /*is_start=*/true);
  const int64_t last = ClampSliceIndex(stop, length, step, /*is_start=*/false);
  std::vector<int64_t> indices;
  for (int64_t i = first; step > 0 ? i < last : i > last;) {
    indices.push_back(i);
    if (step > 0 ? last - i <= step : last - i >= step) break;  // the next index would be past `last`
    i += step;
  }
  return indices;
}

class Interpreter {
 public:
  explicit Interpreter(const RenderOptions& options) : options_(options) {}

  absl::StatusOr<std::string> Run(const Program& program, const Dict& variables) {
    ScopeGuard root(nullptr);
    DefineGlobals(*root.get());
    for (const auto& [name, value] : variables.entries()) root.get()->Set(name, value);
    std::string out;
    MUKE_RETURN_IF_ERROR(Exec(program.body, root.get(), &out).status());
    return out;
  }

 private:
  enum class Flow { kNormal, kBreak, kContinue };

  // ---- limits ----

  absl::Status Append(SourcePos pos, std::string_view text, std::string* out) const {
    if (out->size() + text.size() > options_.max_output_bytes) {
      return absl::ResourceExhaustedError(
          absl::StrCat(PositionPrefix(pos), "output larger than ", options_.max_output_bytes, " bytes"));
    }
    out->append(text);
    return absl::OkStatus();
  }

  absl::StatusOr<Value> CheckedString(SourcePos pos, std::string text) const {
    if (text.size() > options_.max_output_bytes) {
      return absl::ResourceExhaustedError(
          absl::StrCat(PositionPrefix(pos), "string larger than ", options_.max_output_bytes, " bytes"));
    }
    return Value::String(std::move(text));
  }

  absl::StatusOr<Value> CheckedList(SourcePos pos, std::vector<Value> items, bool is_tuple) const {
    if (items.size() > options_.max_output_bytes) {
      return absl::ResourceExhaustedError(absl::StrCat(PositionPrefix(pos), "list too long"));
    }
    Value list = Value::MakeList(std::move(items), is_tuple);
    if (list.Depth() > kMaxValueDepth) return ErrorAt(pos, "lists and dicts nested too deeply");
    return list;
  }

  // ---- globals ----

  void DefineGlobals(Scope& scope) {
    scope.Set("range", Value::MakeFunction("range", [](const CallArgs& args) { return Range(args); }));
    scope.Set("namespace", Value::MakeFunction("namespace", [](const CallArgs& args) -> absl::StatusOr<Value> {
                MUKE_ASSIGN_OR_RETURN(Dict attributes, DictFromArgs("namespace", args));
                return Value::MakeNamespace(std::move(attributes));
              }));
    scope.Set("dict", Value::MakeFunction("dict", [](const CallArgs& args) -> absl::StatusOr<Value> {
                MUKE_ASSIGN_OR_RETURN(Dict entries, DictFromArgs("dict", args));
                return Value::MakeDict(std::move(entries));
              }));
    scope.Set("raise_exception",
              Value::MakeFunction("raise_exception", [](const CallArgs& args) -> absl::StatusOr<Value> {
                MUKE_ASSIGN_OR_RETURN(auto bound, BindArgs("raise_exception", args, {{"message", std::nullopt}}));
                return absl::InvalidArgumentError(ToStr(bound[0]));
              }));
    scope.Set("strftime_now",
              Value::MakeFunction("strftime_now", [this](const CallArgs& args) { return StrftimeNow(args); }));
  }

  static absl::StatusOr<Value> Range(const CallArgs& args) {
    if (!args.keyword.empty() || args.positional.empty() || args.positional.size() > 3) {
      return absl::InvalidArgumentError("range() takes 1 to 3 positional integer arguments");
    }
    for (const Value& arg : args.positional) {
      if (!IsIntegral(arg)) {
        return absl::InvalidArgumentError(
            absl::StrCat("range() arguments must be integers, got '", TypeName(arg), "'"));
      }
    }
    const bool one = args.positional.size() == 1;
    const int64_t start = one ? 0 : IntegralOf(args.positional[0]);
    const int64_t stop = one ? IntegralOf(args.positional[0]) : IntegralOf(args.positional[1]);
    const int64_t step = args.positional.size() == 3 ? IntegralOf(args.positional[2]) : 1;
    if (step == 0) return absl::InvalidArgumentError("range() arg 3 must not be zero");
    const long double count = std::ceil((static_cast<long double>(stop) - start) / step);
    if (count > kMaxRange) {
      return absl::InvalidArgumentError(
          absl::StrCat("Range too big. The sandbox blocks ranges larger than MAX_RANGE (", kMaxRange, ")."));
    }
    std::vector<Value> items;
    for (int64_t i = 0; i < static_cast<int64_t>(count); ++i) items.push_back(Value::Int(start + i * step));
    return Value::MakeList(std::move(items));
  }

  // namespace()/dict(): an optional mapping, then keyword arguments.
  static absl::StatusOr<Dict> DictFromArgs(std::string_view callee, const CallArgs& args) {
    if (args.positional.size() > 1) {
      return absl::InvalidArgumentError(absl::StrCat(std::string(callee), "() takes at most 1 positional argument"));
    }
    Dict entries;
    if (!args.positional.empty()) {
      const Value& source = args.positional[0];
      if (source.kind() != Value::Kind::kDict) {
        return absl::InvalidArgumentError(
            absl::StrCat(std::string(callee), "() positional argument must be a mapping"));
      }
      entries = source.dict();
    }
    for (const auto& [key, value] : args.keyword) entries.Set(key, value);
    return entries;
  }

  absl::StatusOr<Value> StrftimeNow(const CallArgs& args) const {
    MUKE_ASSIGN_OR_RETURN(auto bound, BindArgs("strftime_now", args, {{"format", std::nullopt}}));
    if (!bound[0].is_string()) return absl::InvalidArgumentError("strftime_now() format must be a string");
    const std::time_t seconds =
        std::chrono::system_clock::to_time_t(options_.now.value_or(std::chrono::system_clock::now()));
    std::tm local{};
    localtime_r(&seconds, &local);
    const std::string& format = bound[0].string_value();
    for (size_t capacity = 256; capacity <= 65536; capacity *= 4) {
      std::string buffer(capacity, '\0');
      const size_t written = std::strftime(buffer.data(), buffer.size(), format.c_str(), &local);
      if (written > 0 || format.empty()) {
        buffer.resize(written);
        return Value::String(std::move(buffer));
      }
    }
    return Value::String("");
  }

  // ---- statements ----

  absl::StatusOr<Flow> Exec(const Body& body, const ScopePtr& scope, std::string* out) {
    for (const NodePtr& node : body) {
      MUKE_ASSIGN_OR_RETURN(Flow flow, ExecNode(*node, scope, out));
      if (flow != Flow::kNormal) return flow;
    }
    return Flow::kNormal;
  }

  absl::StatusOr<Flow> ExecNode(const Node& node, const ScopePtr& scope, std::string* out) {
    switch (node.kind) {
      case Node::Kind::kText:
        MUKE_RETURN_IF_ERROR(Append(node.pos, node.text, out));
        return Flow::kNormal;
      case Node::Kind::kPrint: {
        MUKE_ASSIGN_OR_RETURN(Value value, Eval(*node.expr, scope));
        MUKE_RETURN_IF_ERROR(Append(node.pos, ToStr(value), out));
        return Flow::kNormal;
      }
      case Node::Kind::kIf:
        for (const auto& [condition, body] : node.branches) {
          MUKE_ASSIGN_OR_RETURN(Value test, Eval(*condition, scope));
          if (Truthy(test)) return Exec(body, scope, out);
        }
        return Exec(node.else_body, scope, out);
      case Node::Kind::kFor:
        MUKE_RETURN_IF_ERROR(ExecFor(node, scope, out));
        return Flow::kNormal;
      case Node::Kind::kSet: {
        MUKE_ASSIGN_OR_RETURN(Value value, Eval(*node.expr, scope));
        MUKE_RETURN_IF_ERROR(Assign(node.target, std::move(value), *scope, node.pos));
        return Flow::kNormal;
      }
      case Node::Kind::kSetBlock: {
        MUKE_ASSIGN_OR_RETURN(Value value, RenderFiltered(node, scope));
        MUKE_RETURN_IF_ERROR(Assign(node.target, std::move(value), *scope, node.pos));
        return Flow::kNormal;
      }
      case Node::Kind::kFilterBlock: {
        MUKE_ASSIGN_OR_RETURN(Value value, RenderFiltered(node, scope));
        MUKE_RETURN_IF_ERROR(Append(node.pos, ToStr(value), out));
        return Flow::kNormal;
      }
      case Node::Kind::kMacro:
        DefineMacro(node, scope);
        return Flow::kNormal;
      case Node::Kind::kBreak:
        return Flow::kBreak;
      case Node::Kind::kContinue:
        return Flow::kContinue;
      case Node::Kind::kBlock:
        return Exec(node.body, scope, out);
    }
    return Flow::kNormal;
  }

  absl::Status Assign(const AssignTarget& target, Value value, Scope& scope, SourcePos pos) {
    if (!target.attribute.empty()) {
      const Value* object = scope.Find(target.names[0]);
      if (object == nullptr || object->kind() != Value::Kind::kNamespace) {
        return ErrorAt(pos, "cannot assign attribute on non-namespace object");
      }
      if (value.HoldsNamespace()) return ErrorAt(pos, "a namespace cannot be stored inside a namespace");
      if (value.Depth() >= kMaxValueDepth) return ErrorAt(pos, "lists and dicts nested too deeply");
      object->ns().attributes.Set(target.attribute, std::move(value));
      return absl::OkStatus();
    }
    if (!target.is_tuple) {
      scope.Set(target.names[0], std::move(value));
      return absl::OkStatus();
    }
    MUKE_ASSIGN_OR_RETURN(std::vector<Value> items, Locate(IterItems(value), pos));
    if (items.size() != target.names.size()) {
      return ErrorAt(pos,
                     absl::StrCat(items.size() < target.names.size() ? "not enough" : "too many",
                                  " values to unpack (expected ", target.names.size(), ", got ", items.size(), ")"));
    }
    for (size_t i = 0; i < items.size(); ++i) scope.Set(target.names[i], std::move(items[i]));
    return absl::OkStatus();
  }

  absl::Status ExecFor(const Node& node, const ScopePtr& scope, std::string* out) {
    MUKE_ASSIGN_OR_RETURN(Value iterable, Eval(*node.expr, scope));
    MUKE_ASSIGN_OR_RETURN(std::vector<Value> items, Locate(IterItems(iterable), node.expr->pos));
    if (node.loop_filter) {
      std::vector<Value> kept;
      for (Value& item : items) {
        MUKE_RETURN_IF_ERROR(CountIteration(node.pos));
        ScopeGuard filter_scope(scope);
        MUKE_RETURN_IF_ERROR(Assign(node.target, item, *filter_scope.get(), node.pos));
        MUKE_ASSIGN_OR_RETURN(Value keep, Eval(*node.loop_filter, filter_scope.get()));
        if (Truthy(keep)) kept.push_back(std::move(item));
      }
      items = std::move(kept);
    }
    for (size_t i = 0; i < items.size(); ++i) {
      MUKE_RETURN_IF_ERROR(CountIteration(node.pos));
      ScopeGuard iteration(scope);
      MUKE_RETURN_IF_ERROR(Assign(node.target, items[i], *iteration.get(), node.pos));
      iteration.get()->Set("loop", LoopObject(items, i));
      MUKE_ASSIGN_OR_RETURN(Flow flow, Exec(node.body, iteration.get(), out));
      if (flow == Flow::kBreak) break;
    }
    if (items.empty()) {
      ScopeGuard else_scope(scope);
      MUKE_RETURN_IF_ERROR(Exec(node.else_body, else_scope.get(), out).status());
    }
    return absl::OkStatus();
  }

  absl::Status CountIteration(SourcePos pos) {
    if (++iterations_ > options_.max_loop_iterations) {
      return absl::ResourceExhaustedError(
          absl::StrCat(PositionPrefix(pos), "more than ", options_.max_loop_iterations, " loop iterations"));
    }
    return absl::OkStatus();
  }

  // Jinja2's `loop` variable for iteration `i` of `items`.
  static Value LoopObject(const std::vector<Value>& items, size_t i) {
    const auto n = static_cast<int64_t>(items.size());
    const auto index = static_cast<int64_t>(i);
    Dict loop;
    loop.Set("index0", Value::Int(index));
    loop.Set("index", Value::Int(index + 1));
    loop.Set("revindex0", Value::Int(n - index - 1));
    loop.Set("revindex", Value::Int(n - index));
    loop.Set("first", Value::Bool(i == 0));
    loop.Set("last", Value::Bool(index == n - 1));
    loop.Set("length", Value::Int(n));
    loop.Set("depth0", Value::Int(0));
    loop.Set("depth", Value::Int(1));
    loop.Set("previtem", i > 0 ? items[i - 1] : Value::Undefined("there is no previous item"));
    loop.Set("nextitem", index + 1 < n ? items[i + 1] : Value::Undefined("there is no next item"));
    loop.Set("cycle", Value::MakeFunction("cycle", [i](const CallArgs& args) -> absl::StatusOr<Value> {
               if (args.positional.empty()) return absl::InvalidArgumentError("no items for cycling given");
               return args.positional[i % args.positional.size()];
             }));
    return Value::MakeDict(std::move(loop));
  }

  // Body of a set block or filter block, rendered and passed through the node's filters.
  absl::StatusOr<Value> RenderFiltered(const Node& node, const ScopePtr& scope) {
    std::string text;
    MUKE_RETURN_IF_ERROR(Exec(node.body, scope, &text).status());
    Value value = Value::String(std::move(text));
    for (const FilterCall& filter : node.filters) {
      MUKE_ASSIGN_OR_RETURN(CallArgs args, EvalArgs(filter.args, scope));
      MUKE_ASSIGN_OR_RETURN(value, Locate(RunFilter(filter.name, value, args), filter.pos));
    }
    return value;
  }

  void DefineMacro(const Node& node, const ScopePtr& scope) {
    const Node* macro = &node;
    ScopePtr defining_scope = scope;
    scope->Set(node.text, Value::MakeFunction(node.text, [this, macro, defining_scope](const CallArgs& args) {
                 return CallMacro(*macro, defining_scope, args);
               }));
  }

  // Binds parameters (extra positional arguments go to `varargs`, unknown keywords to `kwargs`, missing ones
  // are undefined unless defaulted) and renders the macro body.
  absl::StatusOr<Value> CallMacro(const Node& macro, const ScopePtr& defining_scope, const CallArgs& args) {
    if (call_depth_ >= options_.max_call_depth) {
      return absl::ResourceExhaustedError(
          absl::StrCat(PositionPrefix(macro.pos), "macro calls nested deeper than ", options_.max_call_depth));
    }
    ++call_depth_;
    ScopeGuard call_scope(defining_scope);
    Scope& local = *call_scope.get();
    std::vector<const MacroParam*> defaulted;
    Dict extra_keywords;
    for (const auto& [key, value] : args.keyword) {
      const bool is_param = std::any_of(macro.params.begin(), macro.params.end(),
                                        [&key = key](const MacroParam& p) { return p.name == key; });
      if (!is_param) extra_keywords.Set(key, value);
    }
    for (size_t i = 0; i < macro.params.size(); ++i) {
      const MacroParam& param = macro.params[i];
      const Value* keyword = nullptr;
      for (const auto& [key, value] : args.keyword) {
        if (key == param.name) keyword = &value;
      }
      if (i < args.positional.size()) {
        local.Set(param.name, args.positional[i]);
      } else if (keyword != nullptr) {
        local.Set(param.name, *keyword);
      } else {
        local.Set(param.name, Value::Undefined(absl::StrCat("'", param.name, "' is undefined")));
        if (param.default_value) defaulted.push_back(&param);
      }
    }
    std::vector<Value> extra_positional;
    for (size_t i = macro.params.size(); i < args.positional.size(); ++i) {
      extra_positional.push_back(args.positional[i]);
    }
    local.Set("varargs", Value::MakeList(std::move(extra_positional), /*is_tuple=*/true));
    local.Set("kwargs", Value::MakeDict(std::move(extra_keywords)));
    absl::StatusOr<Value> result = [&]() -> absl::StatusOr<Value> {
      for (const MacroParam* param : defaulted) {
        MUKE_ASSIGN_OR_RETURN(Value value, Eval(*param->default_value, call_scope.get()));
        local.Set(param->name, std::move(value));
      }
      std::string text;
      MUKE_RETURN_IF_ERROR(Exec(macro.body, call_scope.get(), &text).status());
      return Value::String(std::move(text));
    }();
    --call_depth_;
    return result;
  }

  // ---- expressions ----

  absl::StatusOr<CallArgs> EvalArgs(const ArgList& list, const ScopePtr& scope) {
    CallArgs args;
    for (const ExprPtr& arg : list.positional) {
      MUKE_ASSIGN_OR_RETURN(Value value, Eval(*arg, scope));
      args.positional.push_back(std::move(value));
    }
    for (const auto& [key, arg] : list.keyword) {
      MUKE_ASSIGN_OR_RETURN(Value value, Eval(*arg, scope));
      args.keyword.emplace_back(key, std::move(value));
    }
    return args;
  }

  absl::StatusOr<Value> Eval(const Expr& e, const ScopePtr& scope) {
    switch (e.kind) {
      case Expr::Kind::kLiteral:
        return e.literal;
      case Expr::Kind::kName: {
        const Value* value = scope->Find(e.name);
        return value ? *value : Value::Undefined(absl::StrCat("'", e.name, "' is undefined"));
      }
      case Expr::Kind::kList: {
        std::vector<Value> items;
        for (const ExprPtr& item : e.items) {
          MUKE_ASSIGN_OR_RETURN(Value value, Eval(*item, scope));
          items.push_back(std::move(value));
        }
        return CheckedList(e.pos, std::move(items), e.is_tuple);
      }
      case Expr::Kind::kDict: {
        Dict dict;
        for (size_t i = 0; i + 1 < e.items.size(); i += 2) {
          MUKE_ASSIGN_OR_RETURN(Value key, Eval(*e.items[i], scope));
          if (!key.is_string()) return ErrorAt(e.items[i]->pos, "dict keys must be strings");
          MUKE_ASSIGN_OR_RETURN(Value value, Eval(*e.items[i + 1], scope));
          dict.Set(key.string_value(), std::move(value));
        }
        if (dict.depth() > kMaxValueDepth) return ErrorAt(e.pos, "lists and dicts nested too deeply");
        return Value::MakeDict(std::move(dict));
      }
      case Expr::Kind::kAttribute: {
        MUKE_ASSIGN_OR_RETURN(Value object, Eval(*e.object, scope));
        return GetAttribute(object, e.name, e.pos);
      }
      case Expr::Kind::kItem: {
        MUKE_ASSIGN_OR_RETURN(Value object, Eval(*e.object, scope));
        MUKE_ASSIGN_OR_RETURN(Value index, Eval(*e.index, scope));
        return GetItem(object, index, e.pos);
      }
      case Expr::Kind::kSlice:
        return EvalSlice(e, scope);
      case Expr::Kind::kCall:
        return EvalCall(e, scope);
      case Expr::Kind::kFilter: {
        MUKE_ASSIGN_OR_RETURN(Value operand, Eval(*e.object, scope));
        MUKE_ASSIGN_OR_RETURN(CallArgs args, EvalArgs(e.args, scope));
        MUKE_ASSIGN_OR_RETURN(Value result, Locate(RunFilter(e.name, operand, args), e.pos));
        if (result.is_string() && result.string_value().size() > options_.max_output_bytes) {
          return CheckedString(e.pos, result.string_value());
        }
        return result;
      }
      case Expr::Kind::kTest: {
        MUKE_ASSIGN_OR_RETURN(Value operand, Eval(*e.object, scope));
        MUKE_ASSIGN_OR_RETURN(CallArgs args, EvalArgs(e.args, scope));
        MUKE_ASSIGN_OR_RETURN(bool passed, Locate(RunTest(e.name, operand, args), e.pos));
        return Value::Bool(passed);
      }
      case Expr::Kind::kNot: {
        MUKE_ASSIGN_OR_RETURN(Value operand, Eval(*e.object, scope));
        return Value::Bool(!Truthy(operand));
      }
      case Expr::Kind::kNegate:
      case Expr::Kind::kPlus: {
        MUKE_ASSIGN_OR_RETURN(Value operand, Eval(*e.object, scope));
        return EvalSign(e, operand);
      }
      case Expr::Kind::kBinary:
        return EvalBinary(e, scope);
      case Expr::Kind::kCompare:
        return EvalCompare(e, scope);
      case Expr::Kind::kConditional: {
        MUKE_ASSIGN_OR_RETURN(Value condition, Eval(*e.condition, scope));
        if (Truthy(condition)) return Eval(*e.object, scope);
        if (e.otherwise) return Eval(*e.otherwise, scope);
        return Value::Undefined(absl::StrCat("the inline if-expression on line ", e.pos.line,
                                             " evaluated to false and no else section was defined."));
      }
    }
    return ErrorAt(e.pos, "unknown expression");
  }

  // `object.name`: methods first (as Python's getattr), then the dict key or namespace attribute.
  absl::StatusOr<Value> GetAttribute(const Value& object, const std::string& name, SourcePos pos) const {
    if (object.is_undefined()) return ErrorAt(pos, object.undefined_hint());
    if (HasMethod(object, name)) {
      return Value::MakeFunction(name, [object, name](const CallArgs& args) { return CallMethod(object, name, args); });
    }
    const Value* found = nullptr;
    if (object.kind() == Value::Kind::kDict) found = object.dict().Find(name);
    if (object.kind() == Value::Kind::kNamespace) found = object.ns().attributes.Find(name);
    return found ? *found : NoAttribute(object, name);
  }

  // `object[index]`: the item first (as Jinja2's getitem), then the attribute for string keys.
  absl::StatusOr<Value> GetItem(const Value& object, const Value& index, SourcePos pos) const {
    if (object.is_undefined()) return ErrorAt(pos, object.undefined_hint());
    const bool is_sequence = object.kind() == Value::Kind::kList || object.is_string();
    if (is_sequence && IsIntegral(index)) {
      const std::u32string chars = object.is_string() ? py::Decode(object.string_value()) : std::u32string();
      const auto length = static_cast<int64_t>(object.is_string() ? chars.size() : object.list().items.size());
      int64_t i = IntegralOf(index);
      if (i < 0) i += length;
      if (i < 0 || i >= length) {
        return Value::Undefined(absl::StrCat(TypeName(object), " object has no element ", IntegralOf(index)));
      }
      if (object.kind() == Value::Kind::kList) return object.list().items[i];
      return Value::String(py::Encode(std::u32string_view(chars).substr(i, 1)));
    }
    if (object.kind() == Value::Kind::kDict && index.is_string()) {
      if (const Value* found = object.dict().Find(index.string_value())) return *found;
    }
    if (index.is_string()) return GetAttribute(object, index.string_value(), pos);
    return Value::Undefined(absl::StrCat(Article(object), " has no element ", Repr(index)));
  }

  absl::StatusOr<Value> EvalSlice(const Expr& e, const ScopePtr& scope) {
    MUKE_ASSIGN_OR_RETURN(Value object, Eval(*e.object, scope));
    Value bounds[3] = {Value::None(), Value::None(), Value::None()};
    const ExprPtr* exprs[3] = {&e.slice_start, &e.slice_stop, &e.slice_step};
    for (int k = 0; k < 3; ++k) {
      if (*exprs[k] == nullptr) continue;
      MUKE_ASSIGN_OR_RETURN(bounds[k], Eval(**exprs[k], scope));
      if (!bounds[k].is_none() && !IsIntegral(bounds[k])) {
        return ErrorAt(e.pos, "slice indices must be integers or None");
      }
    }
    if (object.is_undefined()) return ErrorAt(e.pos, object.undefined_hint());
    const int64_t step = bounds[2].is_none() ? 1 : IntegralOf(bounds[2]);
    if (step == 0) return ErrorAt(e.pos, "slice step cannot be zero");
    if (object.is_string()) {
      const std::u32string chars = py::Decode(object.string_value());
      std::u32string sliced;
      for (int64_t i : SliceIndices(bounds[0], bounds[1], step, static_cast<int64_t>(chars.size()))) {
        sliced.push_back(chars[i]);
      }
      return Value::String(py::Encode(sliced));
    }
    if (object.kind() != Value::Kind::kList) {
      return ErrorAt(e.pos, absl::StrCat("'", TypeName(object), "' object is not subscriptable"));
    }
    const auto& items = object.list().items;
    std::vector<Value> sliced;
    for (int64_t i : SliceIndices(bounds[0], bounds[1], step, static_cast<int64_t>(items.size()))) {
      sliced.push_back(items[i]);
    }
    return Value::MakeList(std::move(sliced), object.list().is_tuple);
  }

  absl::StatusOr<Value> EvalCall(const Expr& e, const ScopePtr& scope) {
    // `object.method(...)` calls the method directly instead of building a bound function first.
    if (e.object->kind == Expr::Kind::kAttribute) {
      MUKE_ASSIGN_OR_RETURN(Value object, Eval(*e.object->object, scope));
      if (HasMethod(object, e.object->name)) {
        MUKE_ASSIGN_OR_RETURN(CallArgs args, EvalArgs(e.args, scope));
        MUKE_ASSIGN_OR_RETURN(Value result, Locate(CallMethod(object, e.object->name, args), e.pos));
        if (result.is_string()) return CheckedString(e.pos, result.string_value());
        return result;
      }
      MUKE_ASSIGN_OR_RETURN(Value callee, GetAttribute(object, e.object->name, e.object->pos));
      return Call(callee, e, scope);
    }
    MUKE_ASSIGN_OR_RETURN(Value callee, Eval(*e.object, scope));
    return Call(callee, e, scope);
  }

  absl::StatusOr<Value> Call(const Value& callee, const Expr& e, const ScopePtr& scope) {
    if (callee.is_undefined()) return ErrorAt(e.pos, callee.undefined_hint());
    if (callee.kind() != Value::Kind::kFunction) {
      return ErrorAt(e.pos, absl::StrCat("'", TypeName(callee), "' object is not callable"));
    }
    MUKE_ASSIGN_OR_RETURN(CallArgs args, EvalArgs(e.args, scope));
    // Errors of functions pass through unchanged: raise_exception's message is the template's own.
    return callee.function().call(args);
  }

  absl::StatusOr<Value> EvalSign(const Expr& e, const Value& operand) const {
    const bool negate = e.kind == Expr::Kind::kNegate;
    if (operand.is_undefined()) return ErrorAt(e.pos, operand.undefined_hint());
    if (operand.kind() == Value::Kind::kFloat) {
      return Value::Float(negate ? -operand.float_value() : operand.float_value());
    }
    if (!IsIntegral(operand)) {
      return ErrorAt(e.pos,
                     absl::StrCat("bad operand type for unary ", negate ? "-" : "+", ": '", TypeName(operand), "'"));
    }
    const int64_t n = IntegralOf(operand);
    if (negate && n == std::numeric_limits<int64_t>::min()) return ErrorAt(e.pos, "integer overflow");
    return Value::Int(negate ? -n : n);
  }

  absl::StatusOr<Value> EvalBinary(const Expr& e, const ScopePtr& scope) {
    MUKE_ASSIGN_OR_RETURN(Value left, Eval(*e.object, scope));
    if (e.binary_op == Expr::BinaryOp::kAnd) return Truthy(left) ? Eval(*e.right, scope) : left;
    if (e.binary_op == Expr::BinaryOp::kOr) return Truthy(left) ? left : Eval(*e.right, scope);
    MUKE_ASSIGN_OR_RETURN(Value right, Eval(*e.right, scope));
    if (e.binary_op == Expr::BinaryOp::kConcat) return CheckedString(e.pos, ToStr(left) + ToStr(right));
    if (left.is_undefined()) return ErrorAt(e.pos, left.undefined_hint());
    if (right.is_undefined()) return ErrorAt(e.pos, right.undefined_hint());
    return Arithmetic(e.binary_op, left, right, e.pos);
  }

  absl::StatusOr<Value> Arithmetic(Expr::BinaryOp op, const Value& a, const Value& b, SourcePos pos) const {
    using Op = Expr::BinaryOp;
    static constexpr const char* kSymbols[] = {"+", "-", "*", "/", "//", "%", "**"};
    const std::string_view symbol = kSymbols[static_cast<int>(op)];
    auto unsupported = [&]() {
      return ErrorAt(pos, absl::StrCat("unsupported operand type(s) for ", std::string(symbol), ": '", TypeName(a),
                                       "' and '", TypeName(b), "'"));
    };
    if (a.is_number() && b.is_number()) {
      if (IsIntegral(a) && IsIntegral(b)) return IntegerArithmetic(op, IntegralOf(a), IntegralOf(b), pos);
      const double x = a.AsDouble(), y = b.AsDouble();
      switch (op) {
        case Op::kAdd:
          return Value::Float(x + y);
        case Op::kSub:
          return Value::Float(x - y);
        case Op::kMul:
          return Value::Float(x * y);
        case Op::kDiv:
          if (y == 0) return ErrorAt(pos, "float division by zero");
          return Value::Float(x / y);
        case Op::kFloorDiv:
          if (y == 0) return ErrorAt(pos, "float floor division by zero");
          return Value::Float(std::floor(x / y));
        case Op::kMod: {
          if (y == 0) return ErrorAt(pos, "float modulo");
          double r = std::fmod(x, y);
          if (r != 0 && (r < 0) != (y < 0)) r += y;
          return Value::Float(r);
        }
        case Op::kPow:
          if (x == 0 && y < 0) return ErrorAt(pos, "0.0 cannot be raised to a negative power");
          if (x < 0 && y != std::floor(y)) return ErrorAt(pos, "negative number raised to a fractional power");
          return Value::Float(std::pow(x, y));
        default:
          return unsupported();
      }
    }
    if (op == Op::kAdd && a.is_string() && b.is_string()) {
      return CheckedString(pos, a.string_value() + b.string_value());
    }
    if (op == Op::kAdd && a.kind() == Value::Kind::kList && b.kind() == Value::Kind::kList &&
        a.list().is_tuple == b.list().is_tuple) {
      std::vector<Value> items = a.list().items;
      items.insert(items.end(), b.list().items.begin(), b.list().items.end());
      return CheckedList(pos, std::move(items), a.list().is_tuple);
    }
    if (op == Op::kMul && (IsIntegral(a) || IsIntegral(b))) {
      const Value& sequence = IsIntegral(a) ? b : a;
      const int64_t times = std::max<int64_t>(0, IntegralOf(IsIntegral(a) ? a : b));
      const size_t unit = sequence.is_string()                    ? sequence.string_value().size()
                          : sequence.kind() == Value::Kind::kList ? sequence.list().items.size()
                                                                  : 0;
      if (sequence.is_string() || sequence.kind() == Value::Kind::kList) {
        if (unit > 0 && static_cast<uint64_t>(times) > options_.max_output_bytes / unit) {
          return absl::ResourceExhaustedError(absl::StrCat(PositionPrefix(pos), "repetition result too large"));
        }
        if (sequence.is_string()) {
          std::string repeated;
          for (int64_t i = 0; i < times; ++i) repeated += sequence.string_value();
          return Value::String(std::move(repeated));
        }
        std::vector<Value> items;
        for (int64_t i = 0; i < times; ++i) {
          items.insert(items.end(), sequence.list().items.begin(), sequence.list().items.end());
        }
        return Value::MakeList(std::move(items), sequence.list().is_tuple);
      }
    }
    return unsupported();
  }

  absl::StatusOr<Value> IntegerArithmetic(Expr::BinaryOp op, int64_t x, int64_t y, SourcePos pos) const {
    using Op = Expr::BinaryOp;
    int64_t result = 0;
    bool overflow = false;
    switch (op) {
      case Op::kAdd:
        overflow = __builtin_add_overflow(x, y, &result);
        break;
      case Op::kSub:
        overflow = __builtin_sub_overflow(x, y, &result);
        break;
      case Op::kMul:
        overflow = __builtin_mul_overflow(x, y, &result);
        break;
      case Op::kDiv:
        if (y == 0) return ErrorAt(pos, "division by zero");
        return Value::Float(static_cast<double>(x) / static_cast<double>(y));
      case Op::kFloorDiv:
      case Op::kMod: {
        if (y == 0) return ErrorAt(pos, "integer division or modulo by zero");
        if (x == std::numeric_limits<int64_t>::min() && y == -1) {
          if (op == Op::kMod) return Value::Int(0);
          overflow = true;
          break;
        }
        int64_t quotient = x / y, remainder = x % y;
        if (remainder != 0 && ((remainder < 0) != (y < 0))) {  // Python floors toward negative infinity
          --quotient;
          remainder += y;
        }
        result = op == Op::kFloorDiv ? quotient : remainder;
        break;
      }
      case Op::kPow: {
        if (y < 0) {
          if (x == 0) return ErrorAt(pos, "0.0 cannot be raised to a negative power");
          return Value::Float(std::pow(static_cast<double>(x), static_cast<double>(y)));
        }
        result = 1;
        int64_t base = x;
        for (int64_t exponent = y; exponent > 0 && !overflow; exponent >>= 1) {
          if (exponent & 1) overflow = __builtin_mul_overflow(result, base, &result);
          if (exponent > 1 && !overflow) overflow = __builtin_mul_overflow(base, base, &base);
        }
        break;
      }
      default:
        return ErrorAt(pos, "unsupported integer operation");
    }
    if (overflow) return ErrorAt(pos, "integer overflow");
    return Value::Int(result);
  }

  absl::StatusOr<Value> EvalCompare(const Expr& e, const ScopePtr& scope) {
    using Op = Expr::CompareOp;
    MUKE_ASSIGN_OR_RETURN(Value left, Eval(*e.object, scope));
    for (const auto& [op, operand] : e.comparisons) {
      MUKE_ASSIGN_OR_RETURN(Value right, Eval(*operand, scope));
      bool holds = false;
      switch (op) {
        case Op::kEq:
          holds = Equal(left, right);
          break;
        case Op::kNe:
          holds = !Equal(left, right);
          break;
        case Op::kIn:
        case Op::kNotIn: {
          MUKE_ASSIGN_OR_RETURN(bool contained, Locate(Contains(right, left), operand->pos));
          holds = contained == (op == Op::kIn);
          break;
        }
        default: {
          static constexpr const char* kSymbols[] = {"==", "!=", "<", "<=", ">", ">="};
          MUKE_ASSIGN_OR_RETURN(int order, Locate(Compare(left, right, kSymbols[static_cast<int>(op)]), operand->pos));
          holds = op == Op::kLt ? order < 0 : op == Op::kLe ? order <= 0 : op == Op::kGt ? order > 0 : order >= 0;
        }
      }
      if (!holds) return Value::Bool(false);
      left = std::move(right);
    }
    return Value::Bool(true);
  }

  const RenderOptions& options_;
  int64_t iterations_ = 0;
  int call_depth_ = 0;
};

}  // namespace

absl::StatusOr<std::string> Render(const Program& program, const Dict& variables, const RenderOptions& options) {
  return Interpreter(options).Run(program, variables);
}

}  // namespace muke::jinja
