#include "core/tokenizer/jinja/lexer.h"

#include <algorithm>
#include <cstring>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "core/tokenizer/jinja/py_string.h"

namespace muke::jinja {

std::string PositionPrefix(SourcePos pos) { return absl::StrCat("line ", pos.line, ", column ", pos.column, ": "); }

namespace {

// Jinja2 splits the source on \r\n, \r and \n, joins with \n and drops one trailing newline.
std::string NormalizeNewlines(std::string_view source) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out.push_back('\n');
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out.push_back(source[i]);
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

bool IsNameStart(char c) { return absl::ascii_isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool IsNameChar(char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

class Lexer {
 public:
  explicit Lexer(std::string_view source) : src_(NormalizeNewlines(source)) {
    line_starts_.push_back(0);
    for (size_t i = 0; i < src_.size(); ++i) {
      if (src_[i] == '\n') line_starts_.push_back(i + 1);
    }
  }

  absl::StatusOr<std::vector<Token>> Run() {
    while (pos_ < src_.size()) {
      const size_t tag = FindTagStart(pos_);
      std::string text = src_.substr(pos_, tag == std::string::npos ? std::string::npos : tag - pos_);
      const size_t text_start = pos_;
      if (tag == std::string::npos) {
        Emit(TokenKind::kText, std::move(text), text_start);
        break;
      }
      const char kind = src_[tag + 1];
      const char modifier = tag + 2 < src_.size() ? src_[tag + 2] : '\0';
      if (modifier == '-') {
        text = py::Strip(text, std::nullopt, /*left=*/false, /*right=*/true);
      } else if (modifier != '+' && kind != '{') {
        LStripBlock(&text);
      }
      Emit(TokenKind::kText, std::move(text), text_start);
      pos_ = tag + 2 + ((modifier == '-' || modifier == '+') ? 1 : 0);
      absl::Status status = kind == '#' ? LexComment(tag) : LexTag(tag, kind == '%');
      if (!status.ok()) return status;
    }
    tokens_.push_back(Token{TokenKind::kEnd, "", PosAt(src_.size())});
    return std::move(tokens_);
  }

 private:
  SourcePos PosAt(size_t offset) const {
    const auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset) - 1;
    return SourcePos{static_cast<int>(it - line_starts_.begin()) + 1, static_cast<int>(offset - *it) + 1};
  }

  absl::Status Error(size_t offset, std::string_view problem) const {
    return absl::InvalidArgumentError(absl::StrCat(PositionPrefix(PosAt(offset)), std::string(problem)));
  }

  void Emit(TokenKind kind, std::string text, size_t offset) {
    if (kind == TokenKind::kText && text.empty()) return;
    tokens_.push_back(Token{kind, std::move(text), PosAt(offset)});
  }

  size_t FindTagStart(size_t from) const {
    for (size_t i = src_.find('{', from); i != std::string::npos; i = src_.find('{', i + 1)) {
      if (i + 1 < src_.size() && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) return i;
    }
    return std::string::npos;
  }

  // Length of the code point at `offset` when it is Python whitespace, else 0.
  size_t SpaceAt(size_t offset) const {
    const auto lead = static_cast<unsigned char>(src_[offset]);
    if (lead < 0x80) return py::IsSpace(lead) ? 1 : 0;
    const size_t len = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
    const std::u32string decoded = py::Decode(std::string_view(src_).substr(offset, len));
    return decoded.size() == 1 && py::IsSpace(decoded[0]) ? len : 0;
  }

  size_t SkipSpace(size_t offset) const {
    while (offset < src_.size()) {
      const size_t len = SpaceAt(offset);
      if (len == 0) break;
      offset += len;
    }
    return offset;
  }

  // lstrip_blocks: drop the whitespace between the start of the line and a block or comment tag.
  void LStripBlock(std::string* text) const {
    const size_t newline = text->rfind('\n');
    const size_t line_begin = newline == std::string::npos ? 0 : newline + 1;
    if (line_begin == 0 && !line_starting_) return;
    if (line_begin == text->size()) return;
    const std::u32string tail = py::Decode(std::string_view(*text).substr(line_begin));
    if (std::all_of(tail.begin(), tail.end(), py::IsSpace)) text->resize(line_begin);
  }

  // After a tag: "-" strips all following whitespace; otherwise trim_blocks drops one newline after a
  // block or comment ("+" keeps it).
  void ConsumeAfterTag(char end_modifier, bool trims_newline) {
    const size_t start = pos_;
    if (end_modifier == '-') {
      pos_ = SkipSpace(pos_);
    } else if (end_modifier != '+' && trims_newline && pos_ < src_.size() && src_[pos_] == '\n') {
      ++pos_;
    }
    line_starting_ = pos_ > start && src_[pos_ - 1] == '\n';
  }

  absl::Status LexComment(size_t tag) {
    const size_t body = pos_;
    const size_t end = src_.find("#}", body);
    if (end == std::string::npos) return Error(tag, "missing end of comment tag '#}'");
    const char end_modifier = end > body && (src_[end - 1] == '-' || src_[end - 1] == '+') ? src_[end - 1] : '\0';
    pos_ = end + 2;
    ConsumeAfterTag(end_modifier, /*trims_newline=*/true);
    return absl::OkStatus();
  }

  // Lexes the inside of {{ ... }} or {% ... %} up to its closing delimiter.
  absl::Status LexTag(size_t tag, bool is_block) {
    Emit(is_block ? TokenKind::kBlockBegin : TokenKind::kPrintBegin, is_block ? "{%" : "{{", tag);
    const std::string_view close = is_block ? "%}" : "}}";
    std::vector<char> open_brackets;
    while (true) {
      pos_ = SkipSpace(pos_);
      if (pos_ >= src_.size()) {
        return Error(pos_, absl::StrCat("unexpected end of template, expected '", std::string(close), "'"));
      }
      if (open_brackets.empty()) {
        char end_modifier = '\0';
        size_t end_len = 0;
        if (src_.compare(pos_, 2, close) == 0) {
          end_len = 2;
        } else if ((src_[pos_] == '-' || (is_block && src_[pos_] == '+')) && src_.compare(pos_ + 1, 2, close) == 0) {
          end_modifier = src_[pos_];
          end_len = 3;
        }
        if (end_len > 0) {
          Emit(is_block ? TokenKind::kBlockEnd : TokenKind::kPrintEnd, std::string(close), pos_);
          pos_ += end_len;
          ConsumeAfterTag(end_modifier, /*trims_newline=*/is_block);
          return absl::OkStatus();
        }
      }
      const char c = src_[pos_];
      absl::Status status;
      if (IsDigit(c)) {
        status = LexNumber();
      } else if (IsNameStart(c)) {
        const size_t start = pos_;
        while (pos_ < src_.size() && IsNameChar(src_[pos_])) ++pos_;
        Emit(TokenKind::kName, src_.substr(start, pos_ - start), start);
      } else if (c == '\'' || c == '"') {
        status = LexString();
      } else {
        status = LexOperator(&open_brackets);
      }
      if (!status.ok()) return status;
    }
  }

  // Digits with optional single underscores between them, as Jinja2 (and Python) allow.
  size_t DigitRunEnd(size_t offset, int base) const {
    auto is_digit = [base](char ch) { return base == 16 ? HexValue(ch) >= 0 : ch >= '0' && ch < '0' + base; };
    if (offset >= src_.size() || !is_digit(src_[offset])) return offset;
    size_t end = offset + 1;
    while (end < src_.size()) {
      if (is_digit(src_[end])) {
        ++end;
      } else if (src_[end] == '_' && end + 1 < src_.size() && is_digit(src_[end + 1])) {
        end += 2;
      } else {
        break;
      }
    }
    return end;
  }

  absl::Status LexNumber() {
    const size_t start = pos_;
    auto emit = [&](TokenKind kind, size_t end) {
      std::string text = src_.substr(start, end - start);
      text.erase(std::remove(text.begin(), text.end(), '_'), text.end());
      Emit(kind, std::move(text), start);
      pos_ = end;
      return absl::OkStatus();
    };
    if (src_[start] == '0' && start + 1 < src_.size()) {
      const char prefix = absl::ascii_tolower(static_cast<unsigned char>(src_[start + 1]));
      const int base = prefix == 'x' ? 16 : prefix == 'o' ? 8 : prefix == 'b' ? 2 : 0;
      if (base != 0) {
        size_t digits = start + 2;
        if (digits < src_.size() && src_[digits] == '_') ++digits;
        const size_t end = DigitRunEnd(digits, base);
        if (end == digits) return Error(start, "invalid number literal");
        return emit(TokenKind::kInteger, end);
      }
    }
    size_t end = DigitRunEnd(start, 10);
    // A number right after '.' is an attribute index (`x.0`), never a float.
    const bool after_dot = start > 0 && src_[start - 1] == '.';
    bool is_float = false;
    if (!after_dot && end + 1 < src_.size() && src_[end] == '.' && IsDigit(src_[end + 1])) {
      end = DigitRunEnd(end + 1, 10);
      is_float = true;
    }
    if (!after_dot && end < src_.size() && (src_[end] == 'e' || src_[end] == 'E')) {
      size_t exponent = end + 1;
      if (exponent < src_.size() && (src_[exponent] == '+' || src_[exponent] == '-')) ++exponent;
      const size_t exponent_end = DigitRunEnd(exponent, 10);
      if (exponent_end > exponent) {
        end = exponent_end;
        is_float = true;
      }
    }
    return emit(is_float ? TokenKind::kFloat : TokenKind::kInteger, end);
  }

  // Decodes a quoted literal with Python's escape sequences (unknown escapes keep their backslash).
  absl::Status LexString() {
    const size_t start = pos_;
    const char quote = src_[pos_++];
    std::string value;
    while (true) {
      if (pos_ >= src_.size()) return Error(start, "unterminated string literal");
      const char c = src_[pos_++];
      if (c == quote) break;
      if (c != '\\') {
        value.push_back(c);
        continue;
      }
      if (pos_ >= src_.size()) return Error(start, "unterminated string literal");
      const char e = src_[pos_++];
      switch (e) {
        case '\n':
          break;  // line continuation
        case '\\':
          value.push_back('\\');
          break;
        case '\'':
          value.push_back('\'');
          break;
        case '"':
          value.push_back('"');
          break;
        case 'a':
          value.push_back('\a');
          break;
        case 'b':
          value.push_back('\b');
          break;
        case 'f':
          value.push_back('\f');
          break;
        case 'n':
          value.push_back('\n');
          break;
        case 'r':
          value.push_back('\r');
          break;
        case 't':
          value.push_back('\t');
          break;
        case 'v':
          value.push_back('\v');
          break;
        case 'x':
        case 'u':
        case 'U': {
          const int digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
          char32_t code = 0;
          for (int k = 0; k < digits; ++k) {
            const int h = pos_ < src_.size() ? HexValue(src_[pos_]) : -1;
            if (h < 0) return Error(pos_, absl::StrCat("truncated \\", std::string(1, e), " escape in string literal"));
            code = code * 16 + h;
            ++pos_;
          }
          if (code > 0x10FFFF) return Error(start, "escape sequence out of the Unicode range");
          py::AppendCodePoint(code, &value);
          break;
        }
        default:
          if (e >= '0' && e <= '7') {
            char32_t code = e - '0';
            for (int k = 0; k < 2 && pos_ < src_.size() && src_[pos_] >= '0' && src_[pos_] <= '7'; ++k) {
              code = code * 8 + (src_[pos_++] - '0');
            }
            py::AppendCodePoint(code, &value);
          } else {
            value.push_back('\\');
            value.push_back(e);
          }
      }
    }
    Emit(TokenKind::kString, std::move(value), start);
    return absl::OkStatus();
  }

  absl::Status LexOperator(std::vector<char>* open_brackets) {
    static constexpr const char* kTwoChar[] = {"//", "**", "==", "!=", ">=", "<="};
    for (const char* op : kTwoChar) {
      if (src_.compare(pos_, 2, op) == 0) {
        Emit(TokenKind::kOperator, op, pos_);
        pos_ += 2;
        return absl::OkStatus();
      }
    }
    const char c = src_[pos_];
    if (std::strchr("+-/*%~[](){}><=.:|,;", c) == nullptr) {
      return Error(pos_, absl::StrCat("unexpected character '", std::string(1, c), "'"));
    }
    if (c == '(' || c == '[' || c == '{') {
      open_brackets->push_back(c == '(' ? ')' : c == '[' ? ']' : '}');
    } else if (c == ')' || c == ']' || c == '}') {
      if (open_brackets->empty()) return Error(pos_, absl::StrCat("unexpected '", std::string(1, c), "'"));
      if (open_brackets->back() != c) {
        return Error(pos_, absl::StrCat("unexpected '", std::string(1, c), "', expected '",
                                        std::string(1, open_brackets->back()), "'"));
      }
      open_brackets->pop_back();
    }
    Emit(TokenKind::kOperator, std::string(1, c), pos_);
    ++pos_;
    return absl::OkStatus();
  }

  const std::string src_;
  std::vector<size_t> line_starts_;
  std::vector<Token> tokens_;
  size_t pos_ = 0;
  bool line_starting_ = true;
};

}  // namespace

absl::StatusOr<std::vector<Token>> Tokenize(std::string_view source) { return Lexer(source).Run(); }

}  // namespace muke::jinja
