// Tokenizer for the Jinja2 subset used by chat templates, with transformers' environment settings:
// trim_blocks and lstrip_blocks on, keep_trailing_newline off, newlines normalized to "\n".
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace muke::jinja {

// 1-based position in the template source.
struct SourcePos {
  int line = 1;
  int column = 1;
};

// "line L, column C: " prefix used by every parse and render error.
std::string PositionPrefix(SourcePos pos);

enum class TokenKind {
  kText,        // template data between tags, whitespace control already applied
  kPrintBegin,  // {{
  kPrintEnd,    // }}
  kBlockBegin,  // {%
  kBlockEnd,    // %}
  kName,        // identifier or keyword
  kString,      // string literal, escapes decoded
  kInteger,
  kFloat,
  kOperator,  // punctuation and operators: + - * / // % ** ~ == != < <= > >= = . : | , ( ) [ ] { }
  kEnd,       // end of the template
};

struct Token {
  TokenKind kind;
  std::string text;  // decoded value for kText/kString/kName/kOperator; literal spelling for numbers
  SourcePos pos;
};

// Splits `source` into tokens; comments are dropped. Errors name the position and problem.
absl::StatusOr<std::vector<Token>> Tokenize(std::string_view source);

}  // namespace muke::jinja
