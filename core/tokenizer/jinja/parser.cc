#include "core/tokenizer/jinja/parser.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/tokenizer/jinja/builtin_filters.h"
#include "core/tokenizer/jinja/builtin_tests.h"
#include "core/util/status.h"

namespace muke::jinja {
namespace {

using ExprOr = absl::StatusOr<ExprPtr>;
using EndTags = std::vector<std::string_view>;

std::string Describe(const Token& token) {
  switch (token.kind) {
    case TokenKind::kEnd:
      return "end of template";
    case TokenKind::kPrintEnd:
      return "end of print statement";
    case TokenKind::kBlockEnd:
      return "end of statement block";
    case TokenKind::kText:
      return "template data";
    case TokenKind::kString:
      return "string literal";
    default:
      return token.text;
  }
}

class Parser {
 public:
  explicit Parser(const std::vector<Token>& tokens) : tokens_(tokens) {}

  absl::StatusOr<Program> Run() {
    Program program;
    MUKE_ASSIGN_OR_RETURN(program.body, ParseBody({}));
    return program;
  }

 private:
  // ---- token helpers ----
  const Token& Cur() const { return tokens_[index_]; }
  const Token& Peek() const { return tokens_[std::min(index_ + 1, tokens_.size() - 1)]; }
  void Advance() {
    if (index_ + 1 < tokens_.size()) ++index_;
  }
  bool IsOp(std::string_view op) const { return Cur().kind == TokenKind::kOperator && Cur().text == op; }
  bool IsName(std::string_view name) const { return Cur().kind == TokenKind::kName && Cur().text == name; }

  absl::Status Error(SourcePos pos, std::string_view problem) const {
    return absl::InvalidArgumentError(absl::StrCat(PositionPrefix(pos), std::string(problem)));
  }
  absl::Status Unexpected(std::string_view expected) const {
    return Error(Cur().pos, absl::StrCat("expected ", std::string(expected), ", got '", Describe(Cur()), "'"));
  }
  absl::Status ExpectOp(std::string_view op) {
    if (!IsOp(op)) return Unexpected(absl::StrCat("'", std::string(op), "'"));
    Advance();
    return absl::OkStatus();
  }
  absl::Status ExpectBlockEnd() {
    if (Cur().kind != TokenKind::kBlockEnd) return Unexpected("end of statement block");
    Advance();
    return absl::OkStatus();
  }
  absl::StatusOr<std::string> ExpectName() {
    if (Cur().kind != TokenKind::kName) return Unexpected("a name");
    std::string name = Cur().text;
    Advance();
    return name;
  }

  ExprPtr NewExpr(Expr::Kind kind, SourcePos pos) const { return std::make_unique<Expr>(kind, pos); }

  // Bounds the parser's own recursion before any node exists (Seal bounds the finished tree).
  class RecursionGuard {
   public:
    explicit RecursionGuard(Parser* parser) : parser_(parser) { ++parser_->recursion_; }
    ~RecursionGuard() { --parser_->recursion_; }
    RecursionGuard(const RecursionGuard&) = delete;
    RecursionGuard& operator=(const RecursionGuard&) = delete;
    absl::Status Check() const {
      if (parser_->recursion_ <= kMaxExpressionDepth) return absl::OkStatus();
      return parser_->Error(parser_->Cur().pos, "expression nested too deeply");
    }

   private:
    Parser* parser_;
  };

  // Records the subtree height of a finished node and enforces kMaxExpressionDepth.
  ExprOr Seal(ExprPtr e) const {
    int child_depth = 0;
    auto visit = [&child_depth](const ExprPtr& child) {
      if (child) child_depth = std::max(child_depth, child->depth);
    };
    for (const ExprPtr& item : e->items) visit(item);
    for (const ExprPtr* child : {&e->object, &e->index, &e->right, &e->condition, &e->otherwise, &e->slice_start,
                                 &e->slice_stop, &e->slice_step}) {
      visit(*child);
    }
    for (const ExprPtr& arg : e->args.positional) visit(arg);
    for (const auto& [name, arg] : e->args.keyword) visit(arg);
    for (const auto& [op, operand] : e->comparisons) visit(operand);
    e->depth = child_depth + 1;
    if (e->depth > kMaxExpressionDepth) return Error(e->pos, "expression nested too deeply");
    return e;
  }

  // ---- statements ----

  // Parses nodes until `{% <one of end_tags>` (left unconsumed, positioned at the tag name) or the end.
  absl::StatusOr<Body> ParseBody(const EndTags& end_tags) {
    if (++nesting_ > kMaxStatementNesting) return Error(Cur().pos, "statements nested too deeply");
    Body body;
    while (true) {
      const Token& token = Cur();
      switch (token.kind) {
        case TokenKind::kText: {
          auto node = std::make_unique<Node>(Node::Kind::kText, token.pos);
          node->text = token.text;
          body.push_back(std::move(node));
          Advance();
          break;
        }
        case TokenKind::kPrintBegin: {
          Advance();
          auto node = std::make_unique<Node>(Node::Kind::kPrint, token.pos);
          MUKE_ASSIGN_OR_RETURN(node->expr, ParseTuple(/*with_condexpr=*/true, {}, /*explicit_parens=*/false));
          if (Cur().kind != TokenKind::kPrintEnd) return Unexpected("end of print statement");
          Advance();
          body.push_back(std::move(node));
          break;
        }
        case TokenKind::kBlockBegin: {
          Advance();
          if (Cur().kind == TokenKind::kName &&
              std::find(end_tags.begin(), end_tags.end(), Cur().text) != end_tags.end()) {
            --nesting_;
            return body;
          }
          MUKE_ASSIGN_OR_RETURN(NodePtr node, ParseStatement(end_tags));
          body.push_back(std::move(node));
          break;
        }
        case TokenKind::kEnd:
          if (!end_tags.empty()) {
            return Error(token.pos, absl::StrCat("unexpected end of template, expected ", QuoteTags(end_tags)));
          }
          --nesting_;
          return body;
        default:
          return Error(token.pos, absl::StrCat("unexpected '", Describe(token), "'"));
      }
    }
  }

  static std::string QuoteTags(const EndTags& tags) {
    std::vector<std::string> quoted;
    for (std::string_view tag : tags) quoted.push_back(absl::StrCat("'", std::string(tag), "'"));
    return absl::StrJoin(quoted, " or ");
  }

  // Consumes the end tag name ParseBody stopped at and returns it.
  std::string TakeEndTag() {
    std::string tag = Cur().text;
    Advance();
    return tag;
  }

  absl::StatusOr<NodePtr> ParseStatement(const EndTags& enclosing_end_tags) {
    const Token& keyword = Cur();
    if (keyword.kind != TokenKind::kName) return Unexpected("a statement name");
    const std::string& name = keyword.text;
    if (name == "if") return ParseIf();
    if (name == "for") return ParseFor();
    if (name == "set") return ParseSet();
    if (name == "macro") return ParseMacro();
    if (name == "filter") return ParseFilterBlock();
    if (name == "generation") return ParsePlainBlock("endgeneration");
    if (name == "break" || name == "continue") {
      if (loop_depth_ == 0) return Error(keyword.pos, absl::StrCat("'", name, "' outside of a loop"));
      auto node = std::make_unique<Node>(name == "break" ? Node::Kind::kBreak : Node::Kind::kContinue, keyword.pos);
      Advance();
      MUKE_RETURN_IF_ERROR(ExpectBlockEnd());
      return node;
    }
    if (enclosing_end_tags.empty()) return Error(keyword.pos, absl::StrCat("unknown tag '", name, "'"));
    return Error(keyword.pos, absl::StrCat("unknown tag '", name, "', expected ", QuoteTags(enclosing_end_tags)));
  }

  absl::StatusOr<NodePtr> ParseIf() {
    auto node = std::make_unique<Node>(Node::Kind::kIf, Cur().pos);
    Advance();
    while (true) {
      MUKE_ASSIGN_OR_RETURN(ExprPtr condition, ParseTuple(/*with_condexpr=*/false, {}, false));
      MUKE_RETURN_IF_ERROR(ExpectBlockEnd());
      MUKE_ASSIGN_OR_RETURN(Body body, ParseBody({"elif", "else", "endif"}));
      node->branches.emplace_back(std::move(condition), std::move(body));
      const std::string tag = TakeEndTag();
      if (tag == "elif") continue;
      if (tag == "else") {
        MUKE_RETURN_IF_ERROR(ExpectBlockEnd());
        MUKE_ASSIGN_OR_RETURN(node->else_body, ParseBody({"endif"}));
        TakeEndTag();
      }
      MUKE_RETURN_IF_ERROR(ExpectBlockEnd());
      return node;
    }
  }

  // Names of a `for` or `set` target: `a`, `a, b` or `(a, b)`.
  absl::StatusOr<AssignTarget> ParseNameTarget() {
    AssignTarget target;
    const bool parenthesized = IsOp("(");
    if (parenthesized) {
      Advance();
      target.is_tuple = true;
    }
    while (true) {
      MUKE_ASSIGN_OR_RETURN(std::string name, ExpectName());
      target.names.push_back(std::move(name));
      if (!IsOp(",")) break;
      target.is_tuple = true;
      Advance();
      if (Cur().kind != TokenKind::kName) break;  // trailing comma
    }
    if (parenthesized) MUKE_RETURN_IF_ERROR(ExpectOp(")"));
    return target;
  }

  absl::StatusOr<NodePtr> ParseFor() {
    auto node = std::make_unique<Node>(Node::Kind::kFor, Cur().pos);
    Advance();
    MUKE_ASSIGN_OR_RETURN(node->target, ParseNameTarget());
    if (!IsName("in")) return Unexpected("'in'");
    Advance();
    MUKE_ASSIGN_OR_RETURN(node->expr, ParseTuple(/*with_condexpr=*/false, {"recursive"}, false));
    if (IsName("if")) {
      Advance();
      MUKE_ASSIGN_OR_RETURN(node->loop_filter, ParseExpression(/*with_condexpr=*/true));
    }
    if (IsName("recursive")) return Error(Cur().pos, "recursive loops are not supported");
    MUKE_RETURN_IF_ERROR(ExpectBlockEnd());
    ++loop_depth_;
    MUKE_ASSIGN_OR_RETURN(node->body, ParseBody({"endfor", "else"}));
    --loop_depth_;
    if (TakeEndTag() == "else") {
      MUKE_RETURN_IF_ERROR(ExpectBlockEnd());
      MUKE_ASSIGN_OR_RETURN(node->else_body, ParseBody({"endfor"}));
      TakeEndTag();
    }
    MUKE_RETURN_IF_ERROR(ExpectBlockEnd());
    return node;
  }

  absl::StatusOr<NodePtr> ParseSet() {
    const SourcePos pos = Cur().pos;
    Advance();
    AssignTarget target;
    if (Cur().kind == TokenKind::kName && Peek().kind == TokenKind::kOperator && Peek().text == ".") {
      target.names.push_back(Cur().text);
      Advance();
      Advance();
      MUKE_ASSIGN_OR_RETURN(target.attribute, ExpectName());
    } else {
      MUKE_ASSIGN_OR_RETURN(target, ParseNameTarget());
    }
    if (IsOp("=")) {
      Advance();
      auto node = std::make_unique<Node>(Node::Kind::kSet, pos);
      node->target = std::move(target);
      MUKE_ASSIGN_OR_RETURN(node->expr, ParseTuple(/*with_condexpr=*/true, {}, false));
      MUKE_RETURN_IF_ERROR(ExpectBlockEnd());
      return node;
    }
    auto node = std::make_unique<Node>(Node::Kind::kSetBlock, pos);
    node->target = std::move(target);
    MUKE_ASSIGN_OR_RETURN(node->filters, ParseFilterChain(/*first_needs_pipe=*/true));
    MUKE_RETURN_IF_ERROR(ExpectBlockEnd());
    MUKE_ASSIGN_OR_RETURN(node->body, ParseBody({"endset"}));
    TakeEndTag();
    MUKE_RETURN_IF_ERROR(ExpectBlockEnd());
    return node;
  }

  absl::StatusOr<NodePtr> ParseMacro() {
    auto node = std::make_unique<Node>(Node::Kind::kMacro, Cur().pos);
    Advance();
    MUKE_ASSIGN_OR_RETURN(node->text, ExpectName());
    MUKE_RETURN_IF_ERROR(ExpectOp("("));
    while (!IsOp(")")) {
      if (!node->params.empty()) MUKE_RETURN_IF_ERROR(ExpectOp(","));
      if (IsOp(")")) break;
      MacroParam param;
      MUKE_ASSIGN_OR_RETURN(param.name, ExpectName());
      if (IsOp("=")) {
        Advance();
        MUKE_ASSIGN_OR_RETURN(param.default_value, ParseExpression(/*with_condexpr=*/true));
      } else if (!node->params.empty() && node->params.back().default_value) {
        return Error(Cur().pos, "non-default argument follows default argument");
      }
      node->params.push_back(std::move(param));
    }
    Advance();
    MUKE_RETURN_IF_ERROR(ExpectBlockEnd());
    const int saved_loop_depth = std::exchange(loop_depth_, 0);
    MUKE_ASSIGN_OR_RETURN(node->body, ParseBody({"endmacro"}));
    loop_depth_ = saved_loop_depth;
    TakeEndTag();
    if (Cur().kind == TokenKind::kName && Cur().text == node->text) Advance();  // {% endmacro name %}
    MUKE_RETURN_IF_ERROR(ExpectBlockEnd());
    return node;
  }

  absl::StatusOr<NodePtr> ParseFilterBlock() {
    auto node = std::make_unique<Node>(Node::Kind::kFilterBlock, Cur().pos);
    Advance();
    MUKE_ASSIGN_OR_RETURN(node->filters, ParseFilterChain(/*first_needs_pipe=*/false));
    MUKE_RETURN_IF_ERROR(ExpectBlockEnd());
    MUKE_ASSIGN_OR_RETURN(node->body, ParseBody({"endfilter"}));
    TakeEndTag();
    MUKE_RETURN_IF_ERROR(ExpectBlockEnd());
    return node;
  }

  absl::StatusOr<NodePtr> ParsePlainBlock(std::string_view end_tag) {
    auto node = std::make_unique<Node>(Node::Kind::kBlock, Cur().pos);
    Advance();
    MUKE_RETURN_IF_ERROR(ExpectBlockEnd());
    MUKE_ASSIGN_OR_RETURN(node->body, ParseBody({end_tag}));
    TakeEndTag();
    MUKE_RETURN_IF_ERROR(ExpectBlockEnd());
    return node;
  }

  // `| name(args) | name ...` for set blocks and filter blocks.
  absl::StatusOr<std::vector<FilterCall>> ParseFilterChain(bool first_needs_pipe) {
    std::vector<FilterCall> filters;
    bool need_pipe = first_needs_pipe;
    while (!need_pipe || IsOp("|")) {
      if (need_pipe) Advance();
      need_pipe = true;
      FilterCall call;
      call.pos = Cur().pos;
      MUKE_ASSIGN_OR_RETURN(call.name, ParseFilterName());
      if (IsOp("(")) {
        MUKE_ASSIGN_OR_RETURN(call.args, ParseCallArgs());
      }
      filters.push_back(std::move(call));
    }
    return filters;
  }

  absl::StatusOr<std::string> ParseFilterName() {
    const SourcePos pos = Cur().pos;
    MUKE_ASSIGN_OR_RETURN(std::string name, ExpectName());
    if (!IsKnownFilter(name)) return Error(pos, absl::StrCat("no filter named '", name, "'"));
    return name;
  }

  // ---- expressions (Jinja2 precedence, loosest first) ----

  bool IsTupleEnd(const EndTags& extra_end_names) const {
    const TokenKind kind = Cur().kind;
    if (kind == TokenKind::kPrintEnd || kind == TokenKind::kBlockEnd || kind == TokenKind::kEnd || IsOp(")")) {
      return true;
    }
    return kind == TokenKind::kName &&
           std::find(extra_end_names.begin(), extra_end_names.end(), Cur().text) != extra_end_names.end();
  }

  // Expressions separated by commas form a tuple: `{{ a, b }}`, `{% set t = 1, 2 %}`, `(a, b)`.
  ExprOr ParseTuple(bool with_condexpr, const EndTags& extra_end_names, bool explicit_parens) {
    const SourcePos pos = Cur().pos;
    std::vector<ExprPtr> items;
    bool is_tuple = false;
    while (true) {
      if (!items.empty()) MUKE_RETURN_IF_ERROR(ExpectOp(","));
      if (IsTupleEnd(extra_end_names)) break;
      MUKE_ASSIGN_OR_RETURN(ExprPtr item, ParseExpression(with_condexpr));
      items.push_back(std::move(item));
      if (!IsOp(",")) break;
      is_tuple = true;
    }
    if (!is_tuple) {
      if (!items.empty()) return std::move(items[0]);
      if (!explicit_parens) return Unexpected("an expression");
    }
    ExprPtr tuple = NewExpr(Expr::Kind::kList, pos);
    tuple->items = std::move(items);
    tuple->is_tuple = true;
    return Seal(std::move(tuple));
  }

  ExprOr ParseExpression(bool with_condexpr) {
    RecursionGuard guard(this);
    MUKE_RETURN_IF_ERROR(guard.Check());
    return with_condexpr ? ParseConditional() : ParseOr();
  }

  // `value if condition else other` (else optional: undefined).
  ExprOr ParseConditional() {
    RecursionGuard guard(this);
    MUKE_RETURN_IF_ERROR(guard.Check());
    MUKE_ASSIGN_OR_RETURN(ExprPtr value, ParseOr());
    while (IsName("if")) {
      ExprPtr node = NewExpr(Expr::Kind::kConditional, Cur().pos);
      Advance();
      MUKE_ASSIGN_OR_RETURN(node->condition, ParseOr());
      if (IsName("else")) {
        Advance();
        MUKE_ASSIGN_OR_RETURN(node->otherwise, ParseConditional());
      }
      node->object = std::move(value);
      MUKE_ASSIGN_OR_RETURN(value, Seal(std::move(node)));
    }
    return value;
  }

  ExprOr ParseLogical(Expr::BinaryOp op) {
    const bool is_or = op == Expr::BinaryOp::kOr;
    MUKE_ASSIGN_OR_RETURN(ExprPtr left, is_or ? ParseLogical(Expr::BinaryOp::kAnd) : ParseNot());
    while (IsName(is_or ? "or" : "and")) {
      ExprPtr node = NewExpr(Expr::Kind::kBinary, Cur().pos);
      Advance();
      node->binary_op = op;
      node->object = std::move(left);
      MUKE_ASSIGN_OR_RETURN(node->right, is_or ? ParseLogical(Expr::BinaryOp::kAnd) : ParseNot());
      MUKE_ASSIGN_OR_RETURN(left, Seal(std::move(node)));
    }
    return left;
  }
  ExprOr ParseOr() { return ParseLogical(Expr::BinaryOp::kOr); }

  ExprOr ParseNot() {
    if (!IsName("not")) return ParseCompare();
    RecursionGuard guard(this);
    MUKE_RETURN_IF_ERROR(guard.Check());
    ExprPtr node = NewExpr(Expr::Kind::kNot, Cur().pos);
    Advance();
    MUKE_ASSIGN_OR_RETURN(node->object, ParseNot());
    return Seal(std::move(node));
  }

  ExprOr ParseCompare() {
    const SourcePos pos = Cur().pos;
    MUKE_ASSIGN_OR_RETURN(ExprPtr first, ParseMath1());
    ExprPtr node = NewExpr(Expr::Kind::kCompare, pos);
    static const std::pair<std::string_view, Expr::CompareOp> kOperators[] = {
        {"==", Expr::CompareOp::kEq}, {"!=", Expr::CompareOp::kNe}, {"<", Expr::CompareOp::kLt},
        {"<=", Expr::CompareOp::kLe}, {">", Expr::CompareOp::kGt},  {">=", Expr::CompareOp::kGe}};
    while (true) {
      std::optional<Expr::CompareOp> op;
      for (const auto& [text, candidate] : kOperators) {
        if (IsOp(text)) op = candidate;
      }
      if (op) {
        Advance();
      } else if (IsName("in")) {
        op = Expr::CompareOp::kIn;
        Advance();
      } else if (IsName("not") && Peek().kind == TokenKind::kName && Peek().text == "in") {
        op = Expr::CompareOp::kNotIn;
        Advance();
        Advance();
      } else {
        break;
      }
      MUKE_ASSIGN_OR_RETURN(ExprPtr operand, ParseMath1());
      node->comparisons.emplace_back(*op, std::move(operand));
    }
    if (node->comparisons.empty()) return first;
    node->object = std::move(first);
    return Seal(std::move(node));
  }

  // One left-associative level: `next (op next)*` for the operators in `ops`.
  template <typename NextFn>
  ExprOr ParseBinaryLevel(const std::vector<std::pair<std::string_view, Expr::BinaryOp>>& ops, NextFn next) {
    MUKE_ASSIGN_OR_RETURN(ExprPtr left, (this->*next)());
    while (true) {
      const auto it = std::find_if(ops.begin(), ops.end(), [this](const auto& op) { return IsOp(op.first); });
      if (it == ops.end()) return left;
      ExprPtr node = NewExpr(Expr::Kind::kBinary, Cur().pos);
      Advance();
      node->binary_op = it->second;
      node->object = std::move(left);
      MUKE_ASSIGN_OR_RETURN(node->right, (this->*next)());
      MUKE_ASSIGN_OR_RETURN(left, Seal(std::move(node)));
    }
  }
  ExprOr ParseMath1() {
    return ParseBinaryLevel({{"+", Expr::BinaryOp::kAdd}, {"-", Expr::BinaryOp::kSub}}, &Parser::ParseConcat);
  }
  ExprOr ParseConcat() { return ParseBinaryLevel({{"~", Expr::BinaryOp::kConcat}}, &Parser::ParseMath2); }
  ExprOr ParseMath2() {
    return ParseBinaryLevel({{"*", Expr::BinaryOp::kMul},
                             {"/", Expr::BinaryOp::kDiv},
                             {"//", Expr::BinaryOp::kFloorDiv},
                             {"%", Expr::BinaryOp::kMod}},
                            &Parser::ParsePow);
  }
  ExprOr ParsePow() { return ParseBinaryLevel({{"**", Expr::BinaryOp::kPow}}, &Parser::ParseUnaryWithFilters); }
  ExprOr ParseUnaryWithFilters() { return ParseUnary(/*with_filter=*/true); }

  ExprOr ParseUnary(bool with_filter) {
    RecursionGuard guard(this);
    MUKE_RETURN_IF_ERROR(guard.Check());
    ExprPtr node;
    if (IsOp("-") || IsOp("+")) {
      node = NewExpr(IsOp("-") ? Expr::Kind::kNegate : Expr::Kind::kPlus, Cur().pos);
      Advance();
      MUKE_ASSIGN_OR_RETURN(node->object, ParseUnary(/*with_filter=*/false));
      MUKE_ASSIGN_OR_RETURN(node, Seal(std::move(node)));
    } else {
      MUKE_ASSIGN_OR_RETURN(node, ParsePrimary());
    }
    MUKE_ASSIGN_OR_RETURN(node, ParsePostfix(std::move(node)));
    if (with_filter) {
      MUKE_ASSIGN_OR_RETURN(node, ParseFiltersAndTests(std::move(node)));
    }
    return node;
  }

  ExprOr ParsePrimary() {
    const Token token = Cur();
    switch (token.kind) {
      case TokenKind::kName: {
        Advance();
        ExprPtr node = NewExpr(Expr::Kind::kLiteral, token.pos);
        if (token.text == "true" || token.text == "True") {
          node->literal = Value::Bool(true);
        } else if (token.text == "false" || token.text == "False") {
          node->literal = Value::Bool(false);
        } else if (token.text == "none" || token.text == "None") {
          node->literal = Value::None();
        } else {
          node->kind = Expr::Kind::kName;
          node->name = token.text;
        }
        return node;
      }
      case TokenKind::kString: {
        std::string text;
        while (Cur().kind == TokenKind::kString) {  // adjacent literals concatenate
          text += Cur().text;
          Advance();
        }
        ExprPtr node = NewExpr(Expr::Kind::kLiteral, token.pos);
        node->literal = Value::String(std::move(text));
        return node;
      }
      case TokenKind::kInteger:
      case TokenKind::kFloat: {
        Advance();
        ExprPtr node = NewExpr(Expr::Kind::kLiteral, token.pos);
        MUKE_ASSIGN_OR_RETURN(node->literal, NumberValue(token));
        return node;
      }
      case TokenKind::kOperator:
        if (token.text == "(") {
          Advance();
          MUKE_ASSIGN_OR_RETURN(ExprPtr inner, ParseTuple(/*with_condexpr=*/true, {}, /*explicit_parens=*/true));
          MUKE_RETURN_IF_ERROR(ExpectOp(")"));
          return inner;
        }
        if (token.text == "[" || token.text == "{") return ParseCollection(token.text == "{");
        break;
      default:
        break;
    }
    return Error(token.pos, absl::StrCat("unexpected '", Describe(token), "'"));
  }

  absl::StatusOr<Value> NumberValue(const Token& token) const {
    const std::string& text = token.text;
    errno = 0;
    if (token.kind == TokenKind::kFloat) return Value::Float(std::strtod(text.c_str(), nullptr));
    int base = 10;
    size_t skip = 0;
    if (text.size() > 1 && text[0] == '0' && std::isalpha(static_cast<unsigned char>(text[1]))) {
      const char prefix = static_cast<char>(std::tolower(static_cast<unsigned char>(text[1])));
      base = prefix == 'x' ? 16 : prefix == 'o' ? 8 : 2;
      skip = 2;
    }
    const long long value = std::strtoll(text.c_str() + skip, nullptr, base);
    if (errno == ERANGE) return Error(token.pos, absl::StrCat("integer literal out of range: ", text));
    return Value::Int(value);
  }

  // `[a, b]` or `{k: v}`, trailing comma allowed.
  ExprOr ParseCollection(bool is_dict) {
    ExprPtr node = NewExpr(is_dict ? Expr::Kind::kDict : Expr::Kind::kList, Cur().pos);
    const std::string_view close = is_dict ? "}" : "]";
    Advance();
    while (!IsOp(close)) {
      if (!node->items.empty()) MUKE_RETURN_IF_ERROR(ExpectOp(","));
      if (IsOp(close)) break;
      MUKE_ASSIGN_OR_RETURN(ExprPtr item, ParseExpression(/*with_condexpr=*/true));
      node->items.push_back(std::move(item));
      if (is_dict) {
        MUKE_RETURN_IF_ERROR(ExpectOp(":"));
        MUKE_ASSIGN_OR_RETURN(ExprPtr value, ParseExpression(/*with_condexpr=*/true));
        node->items.push_back(std::move(value));
      }
    }
    Advance();
    return Seal(std::move(node));
  }

  // `.name`, `.0`, `[index]`, `[a:b:c]` and calls after a primary.
  ExprOr ParsePostfix(ExprPtr node) {
    while (true) {
      if (IsOp(".")) {
        const SourcePos pos = Cur().pos;
        Advance();
        if (Cur().kind == TokenKind::kName) {
          ExprPtr attribute = NewExpr(Expr::Kind::kAttribute, pos);
          attribute->name = Cur().text;
          attribute->object = std::move(node);
          Advance();
          MUKE_ASSIGN_OR_RETURN(node, Seal(std::move(attribute)));
        } else if (Cur().kind == TokenKind::kInteger) {
          ExprPtr item = NewExpr(Expr::Kind::kItem, pos);
          item->index = NewExpr(Expr::Kind::kLiteral, Cur().pos);
          MUKE_ASSIGN_OR_RETURN(item->index->literal, NumberValue(Cur()));
          item->object = std::move(node);
          Advance();
          MUKE_ASSIGN_OR_RETURN(node, Seal(std::move(item)));
        } else {
          return Unexpected("a name or number after '.'");
        }
      } else if (IsOp("[")) {
        MUKE_ASSIGN_OR_RETURN(node, ParseSubscript(std::move(node)));
      } else if (IsOp("(")) {
        MUKE_ASSIGN_OR_RETURN(node, ParseCall(std::move(node)));
      } else {
        return node;
      }
    }
  }

  ExprOr ParseSubscript(ExprPtr object) {
    const SourcePos pos = Cur().pos;
    Advance();
    ExprPtr start, stop, step;
    bool is_slice = false;
    if (!IsOp(":")) {
      MUKE_ASSIGN_OR_RETURN(start, ParseExpression(/*with_condexpr=*/true));
    }
    if (IsOp(":")) {
      is_slice = true;
      Advance();
      if (!IsOp("]") && !IsOp(":")) {
        MUKE_ASSIGN_OR_RETURN(stop, ParseExpression(/*with_condexpr=*/true));
      }
      if (IsOp(":")) {
        Advance();
        if (!IsOp("]")) {
          MUKE_ASSIGN_OR_RETURN(step, ParseExpression(/*with_condexpr=*/true));
        }
      }
    }
    MUKE_RETURN_IF_ERROR(ExpectOp("]"));
    ExprPtr node = NewExpr(is_slice ? Expr::Kind::kSlice : Expr::Kind::kItem, pos);
    node->object = std::move(object);
    if (is_slice) {
      node->slice_start = std::move(start);
      node->slice_stop = std::move(stop);
      node->slice_step = std::move(step);
    } else {
      node->index = std::move(start);
    }
    return Seal(std::move(node));
  }

  absl::StatusOr<ArgList> ParseCallArgs() {
    MUKE_RETURN_IF_ERROR(ExpectOp("("));
    ArgList args;
    bool first = true;
    while (!IsOp(")")) {
      if (!first) {
        MUKE_RETURN_IF_ERROR(ExpectOp(","));
        if (IsOp(")")) break;
      }
      first = false;
      if (IsOp("*") || IsOp("**")) return Error(Cur().pos, "argument unpacking (* and **) is not supported");
      if (Cur().kind == TokenKind::kName && Peek().kind == TokenKind::kOperator && Peek().text == "=") {
        std::string key = Cur().text;
        Advance();
        Advance();
        MUKE_ASSIGN_OR_RETURN(ExprPtr value, ParseExpression(/*with_condexpr=*/true));
        args.keyword.emplace_back(std::move(key), std::move(value));
      } else {
        if (!args.keyword.empty()) return Error(Cur().pos, "positional argument follows keyword argument");
        MUKE_ASSIGN_OR_RETURN(ExprPtr value, ParseExpression(/*with_condexpr=*/true));
        args.positional.push_back(std::move(value));
      }
    }
    Advance();
    return args;
  }

  ExprOr ParseCall(ExprPtr callee) {
    ExprPtr node = NewExpr(Expr::Kind::kCall, Cur().pos);
    MUKE_ASSIGN_OR_RETURN(node->args, ParseCallArgs());
    node->object = std::move(callee);
    return Seal(std::move(node));
  }

  ExprOr ParseFiltersAndTests(ExprPtr node) {
    while (true) {
      if (IsOp("|")) {
        Advance();
        ExprPtr filter = NewExpr(Expr::Kind::kFilter, Cur().pos);
        MUKE_ASSIGN_OR_RETURN(filter->name, ParseFilterName());
        if (IsOp("(")) {
          MUKE_ASSIGN_OR_RETURN(filter->args, ParseCallArgs());
        }
        filter->object = std::move(node);
        MUKE_ASSIGN_OR_RETURN(node, Seal(std::move(filter)));
      } else if (IsName("is")) {
        MUKE_ASSIGN_OR_RETURN(node, ParseTest(std::move(node)));
      } else if (IsOp("(")) {
        MUKE_ASSIGN_OR_RETURN(node, ParseCall(std::move(node)));
      } else {
        return node;
      }
    }
  }

  ExprOr ParseTest(ExprPtr operand) {
    const SourcePos pos = Cur().pos;
    Advance();
    bool negated = false;
    if (IsName("not")) {
      negated = true;
      Advance();
    }
    const SourcePos name_pos = Cur().pos;
    MUKE_ASSIGN_OR_RETURN(std::string name, ExpectName());
    if (!IsKnownTest(name)) return Error(name_pos, absl::StrCat("no test named '", name, "'"));
    ExprPtr test = NewExpr(Expr::Kind::kTest, pos);
    test->name = std::move(name);
    const TokenKind kind = Cur().kind;
    if (IsOp("(")) {
      MUKE_ASSIGN_OR_RETURN(test->args, ParseCallArgs());
    } else if ((kind == TokenKind::kName && !IsName("else") && !IsName("or") && !IsName("and")) ||
               kind == TokenKind::kString || kind == TokenKind::kInteger || kind == TokenKind::kFloat || IsOp("[") ||
               IsOp("{")) {
      if (IsName("is")) return Error(Cur().pos, "cannot chain multiple tests with 'is'");
      MUKE_ASSIGN_OR_RETURN(ExprPtr arg, ParsePrimary());
      MUKE_ASSIGN_OR_RETURN(arg, ParsePostfix(std::move(arg)));
      test->args.positional.push_back(std::move(arg));
    }
    test->object = std::move(operand);
    MUKE_ASSIGN_OR_RETURN(test, Seal(std::move(test)));
    if (!negated) return test;
    ExprPtr negation = NewExpr(Expr::Kind::kNot, pos);
    negation->object = std::move(test);
    return Seal(std::move(negation));
  }

  const std::vector<Token>& tokens_;
  size_t index_ = 0;
  int nesting_ = 0;
  int loop_depth_ = 0;
  int recursion_ = 0;
};

}  // namespace

absl::StatusOr<Program> Parse(const std::vector<Token>& tokens) {
  if (tokens.empty() || tokens.back().kind != TokenKind::kEnd) {
    return absl::InvalidArgumentError("token stream must end with an end token");
  }
  return Parser(tokens).Run();
}

}  // namespace muke::jinja
