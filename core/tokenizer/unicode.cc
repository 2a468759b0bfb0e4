#include "core/tokenizer/unicode.h"

#include <algorithm>
#include <array>
#include <iterator>
#include <utility>

namespace muke {
namespace {

struct CombiningClassRange {
  char32_t first, last;
  uint8_t combining_class;
};
struct Decomposition {
  char32_t code_point;
  uint16_t offset, length;  // into the matching pool
};
struct Composition {
  char32_t first, second, composite;
};
struct CodePointRange {
  char32_t first, last;
};
struct CaseMapping {
  char32_t from, to;
};

#include "core/tokenizer/unicode_tables.inc"

constexpr char32_t kMaxCodePoint = 0x10FFFF;

// Hangul syllable arithmetic (Unicode 3.12): S = SBase + (L * VCount + V) * TCount + T.
constexpr char32_t kHangulSBase = 0xAC00, kHangulLBase = 0x1100, kHangulVBase = 0x1161, kHangulTBase = 0x11A7;
constexpr char32_t kHangulLCount = 19, kHangulVCount = 21, kHangulTCount = 28;
constexpr char32_t kHangulSCount = kHangulLCount * kHangulVCount * kHangulTCount;

constexpr std::array<Category, 128> MakeAsciiCategories() {
  std::array<Category, 128> table{};
  size_t range = 0;
  for (char32_t c = 0; c < 128; ++c) {
    while (kCategoryRanges[range + 1] >> 3 <= c) ++range;
    table[c] = static_cast<Category>(kCategoryRanges[range] & 7);
  }
  return table;
}
constexpr std::array<Category, 128> kAsciiCategories = MakeAsciiCategories();

template <typename Range, size_t N>
const Range* FindRange(const Range (&ranges)[N], char32_t c) {
  const Range* it = std::upper_bound(std::begin(ranges), std::end(ranges), c,
                                     [](char32_t v, const Range& r) { return v < r.first; });
  if (it == std::begin(ranges) || (it - 1)->last < c) return nullptr;
  return it - 1;
}

// The decomposition of `c` in `table` as a [begin, end) pair of pool pointers; {nullptr, nullptr} if none.
template <size_t N, size_t M>
std::pair<const char32_t*, const char32_t*> FindDecomposition(const Decomposition (&table)[N],
                                                               const char32_t (&pool)[M], char32_t c) {
  const Decomposition* it = std::lower_bound(std::begin(table), std::end(table), c,
                                             [](const Decomposition& d, char32_t v) { return d.code_point < v; });
  if (it == std::end(table) || it->code_point != c) return {nullptr, nullptr};
  return {pool + it->offset, pool + it->offset + it->length};
}

bool IsAscii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char ch) { return static_cast<unsigned char>(ch) < 0x80; });
}

// Decodes the code point starting at s[*i] (valid UTF-8) and advances *i past it.
char32_t DecodeAt(std::string_view s, size_t* i) {
  const unsigned char b0 = static_cast<unsigned char>(s[*i]);
  if (b0 < 0x80) {
    ++*i;
    return b0;
  }
  const int length = b0 >= 0xF0 ? 4 : b0 >= 0xE0 ? 3 : 2;
  char32_t c = b0 & (0x7F >> length);
  for (int k = 1; k < length; ++k) c = (c << 6) | (static_cast<unsigned char>(s[*i + k]) & 0x3F);
  *i += length;
  return c;
}

// Full canonical (or compatibility) decomposition of `utf8`, canonically ordered.
std::u32string Decompose(std::string_view utf8, bool compatibility) {
  std::u32string out;
  out.reserve(utf8.size());
  for (size_t i = 0; i < utf8.size();) {
    const char32_t c = DecodeAt(utf8, &i);
    if (c < 0xA0) {
      out.push_back(c);
    } else if (c >= kHangulSBase && c < kHangulSBase + kHangulSCount) {
      const char32_t s = c - kHangulSBase;
      out.push_back(kHangulLBase + s / (kHangulVCount * kHangulTCount));
      out.push_back(kHangulVBase + s % (kHangulVCount * kHangulTCount) / kHangulTCount);
      if (s % kHangulTCount != 0) out.push_back(kHangulTBase + s % kHangulTCount);
    } else {
      std::pair<const char32_t*, const char32_t*> mapping{nullptr, nullptr};
      if (compatibility) {
        mapping = FindDecomposition(kCompatibilityDecompositions, kCompatibilityDecompositionPool, c);
      }
      if (mapping.first == nullptr) {
        mapping = FindDecomposition(kCanonicalDecompositions, kCanonicalDecompositionPool, c);
      }
      if (mapping.first == nullptr) {
        out.push_back(c);
      } else {
        out.append(mapping.first, mapping.second);
      }
    }
  }
  // Canonical ordering: stable-sort every run of non-starters by combining class.
  for (size_t i = 0; i < out.size();) {
    if (CombiningClass(out[i]) == 0) {
      ++i;
      continue;
    }
    size_t j = i + 1;
    while (j < out.size() && CombiningClass(out[j]) != 0) ++j;
    if (j - i > 1) {
      std::stable_sort(out.begin() + i, out.begin() + j,
                       [](char32_t a, char32_t b) { return CombiningClass(a) < CombiningClass(b); });
    }
    i = j;
  }
  return out;
}

// The primary composite of the pair (first, second), or 0 when there is none.
char32_t ComposePair(char32_t first, char32_t second) {
  if (first >= kHangulLBase && first < kHangulLBase + kHangulLCount && second >= kHangulVBase &&
      second < kHangulVBase + kHangulVCount) {
    return kHangulSBase + ((first - kHangulLBase) * kHangulVCount + (second - kHangulVBase)) * kHangulTCount;
  }
  if (first >= kHangulSBase && first < kHangulSBase + kHangulSCount && (first - kHangulSBase) % kHangulTCount == 0 &&
      second > kHangulTBase && second < kHangulTBase + kHangulTCount) {
    return first + (second - kHangulTBase);
  }
  const Composition* it = std::lower_bound(
      std::begin(kCompositions), std::end(kCompositions), std::make_pair(first, second),
      [](const Composition& c, const std::pair<char32_t, char32_t>& v) {
        return c.first < v.first || (c.first == v.first && c.second < v.second);
      });
  if (it == std::end(kCompositions) || it->first != first || it->second != second) return 0;
  return it->composite;
}

// Canonical composition of a decomposed, canonically ordered string, in place (UAX #15 section 1.3).
void Compose(std::u32string* s) {
  if (s->empty()) return;
  size_t starter = 0;
  // 256 (above every class) keeps a leading non-starter from composing with anything.
  int last_class = CombiningClass((*s)[0]) == 0 ? 0 : 256;
  size_t out = 1;
  for (size_t in = 1; in < s->size(); ++in) {
    const char32_t c = (*s)[in];
    const int combining_class = CombiningClass(c);
    if (last_class < combining_class || last_class == 0) {
      if (const char32_t composite = ComposePair((*s)[starter], c); composite != 0) {
        (*s)[starter] = composite;
        continue;
      }
    }
    if (combining_class == 0) starter = out;
    last_class = combining_class;
    (*s)[out++] = c;
  }
  s->resize(out);
}

std::string EncodeUtf8(const std::u32string& code_points) {
  std::string out;
  out.reserve(code_points.size());
  for (char32_t c : code_points) AppendUtf8(c, &out);
  return out;
}

}  // namespace

std::u32string DecodeUtf8(std::string_view utf8) {
  std::u32string out;
  out.reserve(utf8.size());
  for (size_t i = 0; i < utf8.size();) out.push_back(DecodeAt(utf8, &i));
  return out;
}

void AppendUtf8(char32_t c, std::string* out) {
  if (c < 0x80) {
    out->push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (c >> 6)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (c >> 12)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (c >> 18)));
    out->push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

Category GetCategory(char32_t c) {
  if (c < 128) return kAsciiCategories[c];
  if (c > kMaxCodePoint) return Category::kOther;
  const uint32_t* it = std::upper_bound(std::begin(kCategoryRanges), std::end(kCategoryRanges),
                                        static_cast<uint32_t>(c) << 3 | 7);
  return static_cast<Category>(*(it - 1) & 7);
}

uint8_t CombiningClass(char32_t c) {
  if (c < 0x300) return 0;
  const CombiningClassRange* range = FindRange(kCombiningClassRanges, c);
  return range == nullptr ? 0 : range->combining_class;
}

std::string NormalizeNfc(std::string_view utf8) {
  bool stable = true;
  for (size_t i = 0; i < utf8.size() && stable;) {
    if (static_cast<unsigned char>(utf8[i]) < 0x80) {
      ++i;
      continue;
    }
    const char32_t c = DecodeAt(utf8, &i);
    stable = c < 0x300 || FindRange(kNfcUnstableRanges, c) == nullptr;
  }
  if (stable) return std::string(utf8);
  std::u32string code_points = Decompose(utf8, /*compatibility=*/false);
  Compose(&code_points);
  return EncodeUtf8(code_points);
}

std::string NormalizeNfd(std::string_view utf8) {
  if (IsAscii(utf8)) return std::string(utf8);
  return EncodeUtf8(Decompose(utf8, /*compatibility=*/false));
}

std::string NormalizeNfkc(std::string_view utf8) {
  if (IsAscii(utf8)) return std::string(utf8);
  std::u32string code_points = Decompose(utf8, /*compatibility=*/true);
  Compose(&code_points);
  return EncodeUtf8(code_points);
}

std::string NormalizeNfkd(std::string_view utf8) {
  if (IsAscii(utf8)) return std::string(utf8);
  return EncodeUtf8(Decompose(utf8, /*compatibility=*/true));
}

char32_t ToLowerSimple(char32_t c) {
  if (c < 128) return c >= 'A' && c <= 'Z' ? c + 32 : c;
  const CaseMapping* it = std::lower_bound(std::begin(kLowercase), std::end(kLowercase), c,
                                           [](const CaseMapping& m, char32_t v) { return m.from < v; });
  return it != std::end(kLowercase) && it->from == c ? it->to : c;
}

std::string ToLowercase(std::string_view utf8) {
  std::string out;
  out.reserve(utf8.size());
  for (size_t i = 0; i < utf8.size();) {
    const unsigned char b = static_cast<unsigned char>(utf8[i]);
    if (b < 0x80) {
      out.push_back(static_cast<char>(b >= 'A' && b <= 'Z' ? b + 32 : b));
      ++i;
      continue;
    }
    const char32_t c = DecodeAt(utf8, &i);
    AppendUtf8(ToLowerSimple(c), &out);
    if (c == 0x130) AppendUtf8(0x307, &out);  // LATIN CAPITAL LETTER I WITH DOT ABOVE -> i + COMBINING DOT ABOVE
  }
  return out;
}

}  // namespace muke
