#include "core/tokenizer/regex_split.h"

#include <array>
#include <cstdint>

#include "core/tokenizer/unicode.h"

namespace muke {
namespace {

constexpr std::string_view kGpt2Source =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
constexpr std::string_view kLlama3Source =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kQwen2Source =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// What the patterns distinguish: \s, \p{L}, \p{N} and everything else ([^\s\p{L}\p{N}]).
enum class CharClass : uint8_t { kWhitespace, kLetter, kNumber, kOther };

constexpr std::array<CharClass, 128> MakeAsciiClasses() {
  std::array<CharClass, 128> table{};
  for (int c = 0; c < 128; ++c) {
    if (c == ' ' || (c >= '\t' && c <= '\r')) {
      table[c] = CharClass::kWhitespace;
    } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
      table[c] = CharClass::kLetter;
    } else if (c >= '0' && c <= '9') {
      table[c] = CharClass::kNumber;
    } else {
      table[c] = CharClass::kOther;
    }
  }
  return table;
}
constexpr std::array<CharClass, 128> kAsciiClasses = MakeAsciiClasses();

struct Char {
  char32_t code_point;
  uint32_t length;  // bytes
  CharClass char_class;
};

CharClass Classify(char32_t c) {
  if (IsWhitespace(c)) return CharClass::kWhitespace;
  switch (GetCategory(c)) {
    case Category::kLetter:
      return CharClass::kLetter;
    case Category::kNumber:
      return CharClass::kNumber;
    default:
      return CharClass::kOther;
  }
}

// Scans one text; positions are byte offsets, always at the start of a character.
class Scanner {
 public:
  explicit Scanner(std::string_view text) : text_(text) {}

  size_t size() const { return text_.size(); }

  // The character at byte `i` (< size()).
  Char At(size_t i) const {
    const unsigned char b0 = Byte(i);
    if (b0 < 0x80) return {b0, 1, kAsciiClasses[b0]};
    const Char invalid{0xFFFD, 1, CharClass::kOther};
    uint32_t length;
    char32_t c;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
      length = 2, c = b0 & 0x1F;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
      length = 3, c = b0 & 0x0F;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
      length = 4, c = b0 & 0x07;
    } else {
      return invalid;
    }
    if (i + length > text_.size()) return invalid;
    for (uint32_t k = 1; k < length; ++k) {
      const unsigned char b = Byte(i + k);
      if ((b & 0xC0) != 0x80) return invalid;
      c = (c << 6) | (b & 0x3F);
    }
    const bool overlong = (length == 3 && c < 0x800) || (length == 4 && c < 0x10000);
    if (overlong || (c >= 0xD800 && c <= 0xDFFF) || c > 0x10FFFF) return invalid;
    return {c, length, Classify(c)};
  }

  // The class of the character at byte `i`, or nullopt at the end of the text.
  std::optional<CharClass> ClassAt(size_t i) const {
    if (i >= text_.size()) return std::nullopt;
    return At(i).char_class;
  }

  // The end of the run of characters of class `char_class` that starts at `i` (at most `max_chars` long).
  size_t RunEnd(size_t i, CharClass char_class, size_t max_chars = SIZE_MAX) const {
    for (size_t n = 0; n < max_chars && i < text_.size(); ++n) {
      const unsigned char b = Byte(i);
      if (b < 0x80) {
        if (kAsciiClasses[b] != char_class) break;
        ++i;
        continue;
      }
      const Char c = At(i);
      if (c.char_class != char_class) break;
      i += c.length;
    }
    return i;
  }

  // The end of `\s+(?!\S)|\s+` at `i` (whitespace), or with `newlines` of `\s*[\r\n]+|\s+(?!\S)|\s+`.
  size_t WhitespaceEnd(size_t i, bool newlines) const {
    size_t end = i, last_start = i, newline_end = 0;
    while (end < text_.size()) {
      const Char c = At(end);
      if (c.char_class != CharClass::kWhitespace) break;
      last_start = end;
      end += c.length;
      if (c.code_point == '\r' || c.code_point == '\n') newline_end = end;
    }
    if (newlines && newline_end != 0) return newline_end;  // \s* backs off to the last [\r\n]
    if (end == text_.size()) return end;                   // (?!\S) holds at the end of the text
    return last_start > i ? last_start : end;              // leave the last space for the next word
  }

  // The end of `[^\s\p{L}\p{N}]+[\r\n]*` at `i`.
  size_t OtherThenNewlinesEnd(size_t i) const {
    size_t end = RunEnd(i, CharClass::kOther);
    while (end < text_.size() && (text_[end] == '\r' || text_[end] == '\n')) ++end;
    return end;
  }

  // The length of the contraction ('s 't 're 've 'm 'll 'd) at the apostrophe at `i`, or 0. With
  // `ignore_case` letters match either case, and U+017F LATIN SMALL LETTER LONG S matches s (Oniguruma's
  // case folding; no other non-ASCII letter folds to one of these).
  size_t ContractionLength(size_t i, bool ignore_case) const {
    auto letter = [&](size_t k, size_t* length) -> char {
      *length = 1;
      if (k >= text_.size()) return 0;
      const char c = text_[k];
      if (!ignore_case) return c;
      if (c >= 'A' && c <= 'Z') return static_cast<char>(c + ('a' - 'A'));
      if (Byte(k) == 0xC5 && k + 1 < text_.size() && Byte(k + 1) == 0xBF) {
        *length = 2;
        return 's';
      }
      return c;
    };
    size_t first_length, second_length;
    const char first = letter(i + 1, &first_length);
    if (first == 's' || first == 't' || first == 'm' || first == 'd') return 1 + first_length;
    if (first != 'r' && first != 'v' && first != 'l') return 0;
    const char second = letter(i + 1 + first_length, &second_length);
    if (second != (first == 'l' ? 'l' : 'e')) return 0;
    return 1 + first_length + second_length;
  }

 private:
  unsigned char Byte(size_t i) const { return static_cast<unsigned char>(text_[i]); }

  std::string_view text_;
};

// The end of the GPT-2 match that starts at `pos`.
size_t Gpt2MatchEnd(const Scanner& s, size_t pos) {
  const Char c = s.At(pos);
  if (c.code_point == '\'') {
    if (const size_t length = s.ContractionLength(pos, /*ignore_case=*/false); length != 0) return pos + length;
  }
  if (c.code_point == ' ') {  //  ?\p{L}+ |  ?\p{N}+ |  ?[^\s\p{L}\p{N}]+ with the space
    const std::optional<CharClass> next = s.ClassAt(pos + 1);
    if (next.has_value() && *next != CharClass::kWhitespace) return s.RunEnd(pos + 1, *next);
  }
  if (c.char_class != CharClass::kWhitespace) return s.RunEnd(pos, c.char_class);
  return s.WhitespaceEnd(pos, /*newlines=*/false);
}

// The end of the Llama-3 (max_digits 3) or Qwen2 (max_digits 1) match that starts at `pos`.
size_t Llama3MatchEnd(const Scanner& s, size_t pos, size_t max_digits) {
  const Char c = s.At(pos);
  if (c.code_point == '\'') {
    if (const size_t length = s.ContractionLength(pos, /*ignore_case=*/true); length != 0) return pos + length;
  }
  // [^\r\n\p{L}\p{N}]?\p{L}+
  if (c.char_class == CharClass::kLetter) return s.RunEnd(pos, CharClass::kLetter);
  const std::optional<CharClass> next = s.ClassAt(pos + c.length);
  if (c.char_class != CharClass::kNumber && c.code_point != '\r' && c.code_point != '\n' &&
      next == CharClass::kLetter) {
    return s.RunEnd(pos + c.length, CharClass::kLetter);
  }
  // \p{N}{1,3} or \p{N}
  if (c.char_class == CharClass::kNumber) return s.RunEnd(pos, CharClass::kNumber, max_digits);
  //  ?[^\s\p{L}\p{N}]+[\r\n]*
  if (c.char_class == CharClass::kOther) return s.OtherThenNewlinesEnd(pos);
  if (c.code_point == ' ' && next == CharClass::kOther) return s.OtherThenNewlinesEnd(pos + 1);
  // \s*[\r\n]+|\s+(?!\S)|\s+
  return s.WhitespaceEnd(pos, /*newlines=*/true);
}

}  // namespace

std::optional<SplitPattern> RecognizeSplitPattern(std::string_view regex_source) {
  for (SplitPattern pattern : {SplitPattern::kGpt2, SplitPattern::kLlama3, SplitPattern::kQwen2}) {
    if (regex_source == SplitPatternSource(pattern)) return pattern;
  }
  return std::nullopt;
}

std::string_view SplitPatternSource(SplitPattern pattern) {
  switch (pattern) {
    case SplitPattern::kGpt2:
      return kGpt2Source;
    case SplitPattern::kLlama3:
      return kLlama3Source;
    case SplitPattern::kQwen2:
      return kQwen2Source;
  }
  return {};
}

std::vector<std::pair<size_t, size_t>> FindMatches(SplitPattern pattern, std::string_view utf8_text) {
  const Scanner scanner(utf8_text);
  std::vector<std::pair<size_t, size_t>> matches;
  matches.reserve(utf8_text.size() / 3 + 1);  // prose averages ~5 bytes a match; code and digits less
  const size_t max_digits = pattern == SplitPattern::kLlama3 ? 3 : 1;
  for (size_t pos = 0; pos < utf8_text.size();) {
    const size_t end =
        pattern == SplitPattern::kGpt2 ? Gpt2MatchEnd(scanner, pos) : Llama3MatchEnd(scanner, pos, max_digits);
    matches.emplace_back(pos, end);
    pos = end;
  }
  return matches;
}

}  // namespace muke
