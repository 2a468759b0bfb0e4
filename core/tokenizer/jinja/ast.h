// Syntax tree of a parsed template. Nodes are immutable after parsing; the interpreter walks them.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/tokenizer/jinja/lexer.h"
#include "core/tokenizer/jinja/value.h"

namespace muke::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

// Call arguments as written: `f(a, b, key=c)`.
struct ArgList {
  std::vector<ExprPtr> positional;
  std::vector<std::pair<std::string, ExprPtr>> keyword;
};

struct Expr {
  enum class Kind {
    kLiteral,    // constant value
    kName,       // variable lookup
    kList,       // [a, b] or (a, b) when is_tuple
    kDict,       // {k: v}
    kAttribute,  // object.name
    kItem,       // object[index]
    kSlice,      // object[start:stop:step]
    kCall,       // callee(args)
    kFilter,     // operand | name(args)
    kTest,       // operand is name(args)
    kNot,
    kNegate,
    kPlus,         // unary +
    kBinary,       // arithmetic, ~, and, or
    kCompare,      // chained comparisons, in, not in
    kConditional,  // a if cond else b
  };
  enum class BinaryOp { kAdd, kSub, kMul, kDiv, kFloorDiv, kMod, kPow, kConcat, kAnd, kOr };
  enum class CompareOp { kEq, kNe, kLt, kLe, kGt, kGe, kIn, kNotIn };

  Expr(Kind kind, SourcePos pos) : kind(kind), pos(pos) {}

  Kind kind;
  SourcePos pos;
  int depth = 1;                                // height of this subtree; the parser bounds it
  Value literal;                                // kLiteral
  std::string name;                             // kName, kAttribute, kFilter, kTest
  std::vector<ExprPtr> items;                   // kList; kDict as key, value, key, value, ...
  bool is_tuple = false;                        // kList
  ExprPtr object;                               // operand of unary, postfix, filter and test forms; left side of
                                                // kBinary and kCompare; value when true of kConditional
  ExprPtr index;                                // kItem
  ExprPtr right;                                // kBinary
  ExprPtr condition, otherwise;                 // kConditional (otherwise may be null: undefined)
  ExprPtr slice_start, slice_stop, slice_step;  // kSlice (each may be null)
  ArgList args;                                 // kCall, kFilter, kTest
  BinaryOp binary_op = BinaryOp::kAdd;
  std::vector<std::pair<CompareOp, ExprPtr>> comparisons;  // kCompare, after `object`
};

struct Node;
using NodePtr = std::unique_ptr<Node>;
using Body = std::vector<NodePtr>;

// Target of `set` and `for`: one name, a tuple of names, or a namespace attribute (`ns.attr`).
struct AssignTarget {
  std::vector<std::string> names;  // one entry unless unpacking
  bool is_tuple = false;
  std::string attribute;  // non-empty for `set ns.attr = ...` (names[0] is the namespace)
};

// A filter in `{% set x | filter %}` or `{% filter name %}`.
struct FilterCall {
  std::string name;
  ArgList args;
  SourcePos pos;
};

struct MacroParam {
  std::string name;
  ExprPtr default_value;  // may be null
};

struct Node {
  // kBlock: a body rendered in place (transformers' {% generation %} tag).
  enum class Kind { kText, kPrint, kIf, kFor, kSet, kSetBlock, kMacro, kFilterBlock, kBreak, kContinue, kBlock };

  Node(Kind kind, SourcePos pos) : kind(kind), pos(pos) {}

  Kind kind;
  SourcePos pos;
  std::string text;                                // kText; macro name for kMacro
  ExprPtr expr;                                    // kPrint; kSet value; kFor iterable
  std::vector<std::pair<ExprPtr, Body>> branches;  // kIf: condition + body for if and each elif
  Body body;                                       // kFor, kSetBlock, kMacro, kFilterBlock, kBlock
  Body else_body;                                  // kIf else; kFor else
  AssignTarget target;                             // kSet, kSetBlock, kFor
  ExprPtr loop_filter;                             // kFor `if` clause (may be null)
  std::vector<FilterCall> filters;                 // kSetBlock, kFilterBlock
  std::vector<MacroParam> params;                  // kMacro
};

// A parsed template.
struct Program {
  Body body;
};

}  // namespace muke::jinja
