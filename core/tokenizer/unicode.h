// Unicode support for the Hugging Face tokenizer.json pipeline: UTF-8 <-> code points, the general categories
// behind the GPT-style split regexes, normalization forms and lowercasing. Each table follows the Unicode
// version of the component it replaces in HF tokenizers (0.23): categories 16.0 (Oniguruma), normalization
// 9.0 (unicode-normalization-alignments), lowercase 17.0 (Rust char::to_lowercase). Data: unicode_tables.inc.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace muke {

// The code points of `utf8`, which must be valid UTF-8 (see IsValidUtf8 in utf8.h).
std::u32string DecodeUtf8(std::string_view utf8);

// Appends the UTF-8 encoding of the code point `c` (at most U+10FFFF, not a surrogate) to `out`.
void AppendUtf8(char32_t c, std::string* out);

// Major general category (the first letter of General_Category); unassigned code points are kOther.
enum class Category : uint8_t { kOther, kLetter, kMark, kNumber, kPunctuation, kSymbol, kSeparator };

// The major general category of `c`.
Category GetCategory(char32_t c);

inline bool IsLetter(char32_t c) { return GetCategory(c) == Category::kLetter; }            // \p{L}
inline bool IsMark(char32_t c) { return GetCategory(c) == Category::kMark; }                // \p{M}
inline bool IsNumber(char32_t c) { return GetCategory(c) == Category::kNumber; }            // \p{N}
inline bool IsPunctuation(char32_t c) { return GetCategory(c) == Category::kPunctuation; }  // \p{P}
inline bool IsSymbol(char32_t c) { return GetCategory(c) == Category::kSymbol; }            // \p{S}

// The `\s` of Oniguruma and Rust regex: the White_Space property (U+0009-000D, 0020, 0085, 00A0, 1680,
// 2000-200A, 2028, 2029, 202F, 205F, 3000). Unlike JavaScript's \s it excludes U+FEFF.
inline bool IsWhitespace(char32_t c) {
  if (c < 0x80) return c == 0x20 || (c >= 0x09 && c <= 0x0D);
  return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
         c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

// Canonical_Combining_Class of `c` (0 for starters and for code points unknown to Unicode 9.0).
uint8_t CombiningClass(char32_t c);

// Unicode normalization forms of valid UTF-8 text, as HF's NFC/NFD/NFKC/NFKD normalizers compute them
// (Unicode 9.0 data; Hangul syllables are composed and decomposed algorithmically).
std::string NormalizeNfc(std::string_view utf8);
std::string NormalizeNfd(std::string_view utf8);
std::string NormalizeNfkc(std::string_view utf8);
std::string NormalizeNfkd(std::string_view utf8);

// The simple (one code point) lowercase mapping of `c`; `c` itself when it has none. U+0130 gives U+0069.
char32_t ToLowerSimple(char32_t c);

// HF's Lowercase normalizer: every code point through Rust's char::to_lowercase, i.e. the simple mapping
// except U+0130 -> U+0069 U+0307, with no context rules (a final capital sigma becomes U+03C3).
std::string ToLowercase(std::string_view utf8);

}  // namespace muke
