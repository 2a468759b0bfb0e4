// Recursive-descent parser for the Jinja2 subset, following Jinja2's grammar and operator precedence.
#pragma once

#include <vector>

#include "absl/status/statusor.h"
#include "core/tokenizer/jinja/ast.h"
#include "core/tokenizer/jinja/lexer.h"

namespace muke::jinja {

// Deepest expression tree (and parser recursion) and statement nesting the parser accepts; they bound the
// recursion of parsing and rendering.
inline constexpr int kMaxExpressionDepth = 256;
inline constexpr int kMaxStatementNesting = 64;

// Builds the syntax tree of `tokens` (from Tokenize). Like Jinja2, an unknown filter, test or tag is a parse
// error. Errors start with "line L, column C: ".
absl::StatusOr<Program> Parse(const std::vector<Token>& tokens);

}  // namespace muke::jinja
