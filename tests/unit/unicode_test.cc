// Unicode helpers: UTF-8 coding, general categories, combining classes, normalization forms and lowercasing.
// The normalization literals come from node's String.prototype.normalize (ICU), checked by
// tests/peers/regex_split_peer.mjs --cpp-normalization to agree with HF tokenizers' normalizers on each one.
#include "core/tokenizer/unicode.h"

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#ifdef MUKE_PEER_OUT
#include <nlohmann/json.hpp>
#endif

namespace muke {
namespace {

std::string Utf8(char32_t c) {
  std::string s;
  AppendUtf8(c, &s);
  return s;
}

TEST(Utf8Coding, RoundTripsEveryLength) {
  const std::u32string code_points = {U'a', 0x7F, 0x80, 0xE9, 0x7FF, 0x800, 0x20AC, 0xFFFD, 0xFFFF, 0x10000, 0x1F600,
                                      0x10FFFF};
  std::string utf8;
  for (char32_t c : code_points) AppendUtf8(c, &utf8);
  EXPECT_EQ(utf8, "a\177\u0080\u00e9\u07ff\u0800\u20ac\ufffd\uffff\U00010000\U0001f600\U0010ffff");
  EXPECT_EQ(DecodeUtf8(utf8), code_points);
  EXPECT_EQ(DecodeUtf8(""), U"");
  EXPECT_EQ(Utf8(0xE9), "\xc3\xa9");
  EXPECT_EQ(Utf8(0x1F600), "\xf0\x9f\x98\x80");
}

TEST(Categories, SpotChecks) {
  struct Case {
    char32_t c;
    Category category;
  };
  const Case cases[] = {
      // a Z ª(Lo) ǅ(Lt) ʰ(Lm)
      {U'a', Category::kLetter}, {U'Z', Category::kLetter}, {0xAA, Category::kLetter}, {0x01C5, Category::kLetter},
      {0x02B0, Category::kLetter},
      // CJK, Hangul, Extension B, math bold A
      {0x4E00, Category::kLetter}, {0xAC00, Category::kLetter}, {0x20000, Category::kLetter},
      {0x1D400, Category::kLetter},
      // new in Unicode 16
      {0x1C89, Category::kLetter}, {0x105C0, Category::kLetter},
      // Nd: 0 9 ٣ １ 𝟙
      {U'0', Category::kNumber}, {U'9', Category::kNumber}, {0x0663, Category::kNumber}, {0xFF11, Category::kNumber},
      {0x1D7D9, Category::kNumber},
      // Nl Ⅻ, No ½ ² ①
      {0x216B, Category::kNumber}, {0xBD, Category::kNumber}, {0xB2, Category::kNumber}, {0x2460, Category::kNumber},
      // Mn, Mc, Me, variation selector
      {0x0301, Category::kMark}, {0x0903, Category::kMark}, {0x20DD, Category::kMark}, {0xFE0F, Category::kMark},
      // ! ' _ — « 、
      {U'!', Category::kPunctuation}, {U'\'', Category::kPunctuation}, {U'_', Category::kPunctuation},
      {0x2014, Category::kPunctuation}, {0xAB, Category::kPunctuation}, {0x3001, Category::kPunctuation},
      // $ + ^ ` € © 😀
      {U'$', Category::kSymbol}, {U'+', Category::kSymbol}, {U'^', Category::kSymbol}, {U'`', Category::kSymbol},
      {0x20AC, Category::kSymbol}, {0xA9, Category::kSymbol}, {0x1F600, Category::kSymbol},
      // Zs, Zl
      {U' ', Category::kSeparator}, {0xA0, Category::kSeparator}, {0x2028, Category::kSeparator},
      {0x3000, Category::kSeparator},
      // Cc, Cf
      {U'\n', Category::kOther}, {0x85, Category::kOther}, {0xFEFF, Category::kOther}, {0x200B, Category::kOther},
      {0xAD, Category::kOther},
      // Cn, Co, beyond the code space
      {0x0378, Category::kOther}, {0xE000, Category::kOther}, {0x10FFFF, Category::kOther},
      {0x110000, Category::kOther},
      // assigned only in Unicode 17
      {0x2B96, Category::kOther}, {0xA7CE, Category::kOther}, {0x16EA0, Category::kOther},
  };
  for (const Case& c : cases) EXPECT_EQ(GetCategory(c.c), c.category) << std::hex << "U+" << uint32_t(c.c);
  EXPECT_TRUE(IsLetter(U'x') && IsNumber(U'7') && IsMark(0x0300) && IsPunctuation(U'.') && IsSymbol(U'='));
  EXPECT_FALSE(IsLetter(U'7') || IsNumber(U'x') || IsMark(U'a') || IsPunctuation(U'=') || IsSymbol(U'.'));
}

TEST(Categories, CountsMatchUnicode16) {
  // The sizes of \p{L} ... \p{S} in HF tokenizers' Oniguruma (Unicode 16.0), measured through its Split regex.
  size_t letters = 0, numbers = 0, marks = 0, punctuation = 0, symbols = 0;
  for (char32_t c = 0; c <= 0x10FFFF; ++c) {
    if (c >= 0xD800 && c <= 0xDFFF) continue;
    letters += IsLetter(c), numbers += IsNumber(c), marks += IsMark(c);
    punctuation += IsPunctuation(c), symbols += IsSymbol(c);
  }
  EXPECT_EQ(letters, 141028u);
  EXPECT_EQ(numbers, 1911u);
  EXPECT_EQ(marks, 2501u);
  EXPECT_EQ(punctuation, 855u);
  EXPECT_EQ(symbols, 8514u);
}

TEST(Whitespace, IsExactlyTheWhiteSpaceProperty) {
  const std::vector<char32_t> expected = {0x09,   0x0A,   0x0B,   0x0C,   0x0D,   0x20,   0x85,   0xA0,   0x1680,
                                          0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008,
                                          0x2009, 0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000};
  std::vector<char32_t> found;
  for (char32_t c = 0; c <= 0x10FFFF; ++c) {
    if (IsWhitespace(c)) found.push_back(c);
  }
  EXPECT_EQ(found, expected);
  EXPECT_FALSE(IsWhitespace(0xFEFF));  // JavaScript's \s has it; Oniguruma's does not
  EXPECT_FALSE(IsWhitespace(0x200B));
  EXPECT_FALSE(IsWhitespace(0x180E));
}

TEST(CombiningClass, KnownValues) {
  EXPECT_EQ(CombiningClass(U'a'), 0);
  EXPECT_EQ(CombiningClass(0x0301), 230);
  EXPECT_EQ(CombiningClass(0x0316), 220);
  EXPECT_EQ(CombiningClass(0x0327), 202);
  EXPECT_EQ(CombiningClass(0x0334), 1);
  EXPECT_EQ(CombiningClass(0x0345), 240);
  EXPECT_EQ(CombiningClass(0x05B0), 10);
  EXPECT_EQ(CombiningClass(0x094D), 9);
  EXPECT_EQ(CombiningClass(0x3099), 8);
  EXPECT_EQ(CombiningClass(0x1D165), 216);
  EXPECT_EQ(CombiningClass(0x1AC1), 0);  // a Unicode 14 mark: unknown to HF's Unicode 9.0 tables
}

struct NormalizationCase {
  const char* text;
  const char* nfc;
  const char* nfd;
  const char* nfkc;
  const char* nfkd;
};

TEST(Normalization, MatchesNodeNormalize) {
  // Generated by `node tests/peers/regex_split_peer.mjs <node_modules> --cpp-normalization`.
  const NormalizationCase cases[] = {
    {"caf\u00e9", "caf\u00e9", "cafe\u0301", "caf\u00e9", "cafe\u0301"},
    {"cafe\u0301", "caf\u00e9", "cafe\u0301", "caf\u00e9", "cafe\u0301"},
    {"e\u0301\u0301", "\u00e9\u0301", "e\u0301\u0301", "\u00e9\u0301", "e\u0301\u0301"},
    {"A\u030a", "\u00c5", "A\u030a", "\u00c5", "A\u030a"},
    {"\u212b", "\u00c5", "A\u030a", "\u00c5", "A\u030a"},
    {"\u00c5", "\u00c5", "A\u030a", "\u00c5", "A\u030a"},
    {"a\u0323\u0302", "\u1ead", "a\u0323\u0302", "\u1ead", "a\u0323\u0302"},
    {"a\u0302\u0323", "\u1ead", "a\u0323\u0302", "\u1ead", "a\u0323\u0302"},
    {"\u1e9b\u0323", "\u1e9b\u0323", "\u017f\u0323\u0307", "\u1e69", "s\u0323\u0307"},
    {"\u1e9b\u0323", "\u1e9b\u0323", "\u017f\u0323\u0307", "\u1e69", "s\u0323\u0307"},
    {"q\u0307\u0323", "q\u0323\u0307", "q\u0323\u0307", "q\u0323\u0307", "q\u0323\u0307"},
    {"x\u0301\u0316\u0300\u0317", "x\u0316\u0317\u0301\u0300", "x\u0316\u0317\u0301\u0300", "x\u0316\u0317\u0301\u0300", "x\u0316\u0317\u0301\u0300"},
    {"\u0301a", "\u0301a", "\u0301a", "\u0301a", "\u0301a"},
    {"\u0345\u0301", "\u0301\u0345", "\u0301\u0345", "\u0301\u0345", "\u0301\u0345"},
    {"\u1ed3", "\u1ed3", "o\u0302\u0300", "\u1ed3", "o\u0302\u0300"},
    {"o\u0302\u0300", "\u1ed3", "o\u0302\u0300", "\u1ed3", "o\u0302\u0300"},
    {"\u00f1", "\u00f1", "n\u0303", "\u00f1", "n\u0303"},
    {"n\u0303", "\u00f1", "n\u0303", "\u00f1", "n\u0303"},
    {"\u00c7\u0301", "\u1e08", "C\u0327\u0301", "\u1e08", "C\u0327\u0301"},
    {"C\u0327\u0301", "\u1e08", "C\u0327\u0301", "\u1e08", "C\u0327\u0301"},
    {"\u00c5\u0328", "\u0104\u030a", "A\u0328\u030a", "\u0104\u030a", "A\u0328\u030a"},
    {"\u01d6", "\u01d6", "u\u0308\u0304", "\u01d6", "u\u0308\u0304"},
    {"u\u0308\u0304", "\u01d6", "u\u0308\u0304", "\u01d6", "u\u0308\u0304"},
    {"\ufb01", "\ufb01", "\ufb01", "fi", "fi"},
    {"\u2460", "\u2460", "\u2460", "1", "1"},
    {"\u00b2", "\u00b2", "\u00b2", "2", "2"},
    {"\u00bd", "\u00bd", "\u00bd", "1\u20442", "1\u20442"},
    {"\u216b", "\u216b", "\u216b", "XII", "XII"},
    {"\u338f", "\u338f", "\u338f", "kg", "kg"},
    {"\uff76\uff9e", "\uff76\uff9e", "\uff76\uff9e", "\u30ac", "\u30ab\u3099"},
    {"\uff76\uff9e", "\uff76\uff9e", "\uff76\uff9e", "\u30ac", "\u30ab\u3099"},
    {"\u1100\u1161", "\uac00", "\u1100\u1161", "\uac00", "\u1100\u1161"},
    {"\u1100\u1161\u11a8", "\uac01", "\u1100\u1161\u11a8", "\uac01", "\u1100\u1161\u11a8"},
    {"\ud55c\uad6d\uc5b4", "\ud55c\uad6d\uc5b4", "\u1112\u1161\u11ab\u1100\u116e\u11a8\u110b\u1165", "\ud55c\uad6d\uc5b4", "\u1112\u1161\u11ab\u1100\u116e\u11a8\u110b\u1165"},
    {"\u1112\u1161\u11ab\u1100\u116e\u11a8", "\ud55c\uad6d", "\u1112\u1161\u11ab\u1100\u116e\u11a8", "\ud55c\uad6d", "\u1112\u1161\u11ab\u1100\u116e\u11a8"},
    {"\uac00\u11a8", "\uac01", "\u1100\u1161\u11a8", "\uac01", "\u1100\u1161\u11a8"},
    {"\u1100\u0301\u1161", "\u1100\u0301\u1161", "\u1100\u0301\u1161", "\u1100\u0301\u1161", "\u1100\u0301\u1161"},
    {"\uac01\u0301", "\uac01\u0301", "\u1100\u1161\u11a8\u0301", "\uac01\u0301", "\u1100\u1161\u11a8\u0301"},
    {"\u11a8", "\u11a8", "\u11a8", "\u11a8", "\u11a8"},
    {"\u1100\uac01", "\u1100\uac01", "\u1100\u1100\u1161\u11a8", "\u1100\uac01", "\u1100\u1100\u1161\u11a8"},
    {"\u03a9", "\u03a9", "\u03a9", "\u03a9", "\u03a9"},
    {"\u2126", "\u03a9", "\u03a9", "\u03a9", "\u03a9"},
    {"\u0958", "\u0915\u093c", "\u0915\u093c", "\u0915\u093c", "\u0915\u093c"},
    {"\u0915\u093c", "\u0915\u093c", "\u0915\u093c", "\u0915\u093c", "\u0915\u093c"},
    {"\u0915\u093c\u0301", "\u0915\u093c\u0301", "\u0915\u093c\u0301", "\u0915\u093c\u0301", "\u0915\u093c\u0301"},
    {"\u00e4\u0308", "\u00e4\u0308", "a\u0308\u0308", "\u00e4\u0308", "a\u0308\u0308"},
    {"a\u0308\u0308", "\u00e4\u0308", "a\u0308\u0308", "\u00e4\u0308", "a\u0308\u0308"},
    {"\u0344", "\u0308\u0301", "\u0308\u0301", "\u0308\u0301", "\u0308\u0301"},
    {"\u0340\u0341", "\u0300\u0301", "\u0300\u0301", "\u0300\u0301", "\u0300\u0301"},
    {"\u0f73", "\u0f71\u0f72", "\u0f71\u0f72", "\u0f71\u0f72", "\u0f71\u0f72"},
    {"\u1e31", "\u1e31", "k\u0301", "\u1e31", "k\u0301"},
    {"\u1e30\u0323", "\u1e32\u0301", "K\u0323\u0301", "\u1e32\u0301", "K\u0323\u0301"},
    {"\u1e69", "\u1e69", "s\u0323\u0307", "\u1e69", "s\u0323\u0307"},
    {"s\u0323\u0307", "\u1e69", "s\u0323\u0307", "\u1e69", "s\u0323\u0307"},
    {"s\u0307\u0323", "\u1e69", "s\u0323\u0307", "\u1e69", "s\u0323\u0307"},
    {"\u1ec7", "\u1ec7", "e\u0323\u0302", "\u1ec7", "e\u0323\u0302"},
    {"e\u0302\u0323", "\u1ec7", "e\u0323\u0302", "\u1ec7", "e\u0323\u0302"},
    {"\u3071", "\u3071", "\u306f\u309a", "\u3071", "\u306f\u309a"},
    {"\u306f\u309a", "\u3071", "\u306f\u309a", "\u3071", "\u306f\u309a"},
    {"\uff50", "\uff50", "\uff50", "p", "p"},
    {"\u24b6", "\u24b6", "\u24b6", "A", "A"},
    {"\u00a0", "\u00a0", "\u00a0", " ", " "},
    {"\u2000", "\u2002", "\u2002", " ", " "},
    {"\u0387", "\u00b7", "\u00b7", "\u00b7", "\u00b7"},
    {"\u037e", ";", ";", ";", ";"},
    {"\u01c5", "\u01c5", "\u01c5", "D\u017e", "Dz\u030c"},
    {"\u0133", "\u0133", "\u0133", "ij", "ij"},
    {"\u0149", "\u0149", "\u0149", "\u02bcn", "\u02bcn"},
    {"\ufb2c", "\u05e9\u05bc\u05c1", "\u05e9\u05bc\u05c1", "\u05e9\u05bc\u05c1", "\u05e9\u05bc\u05c1"},
    {"\u05e9\u05bc\u05c1", "\u05e9\u05bc\u05c1", "\u05e9\u05bc\u05c1", "\u05e9\u05bc\u05c1", "\u05e9\u05bc\u05c1"},
    {"\ufdfa", "\ufdfa", "\ufdfa", "\u0635\u0644\u0649 \u0627\u0644\u0644\u0647 \u0639\u0644\u064a\u0647 \u0648\u0633\u0644\u0645", "\u0635\u0644\u0649 \u0627\u0644\u0644\u0647 \u0639\u0644\u064a\u0647 \u0648\u0633\u0644\u0645"},
    {"\U0001d400\U0001d401", "\U0001d400\U0001d401", "\U0001d400\U0001d401", "AB", "AB"},
    {"\u01c4\u030c", "\u01c4\u030c", "\u01c4\u030c", "D\u017d\u030c", "DZ\u030c\u030c"},
    {"\u00e9\u0303", "\u00e9\u0303", "e\u0301\u0303", "\u00e9\u0303", "e\u0301\u0303"},
    {"e\u0303\u0301", "\u1ebd\u0301", "e\u0303\u0301", "\u1ebd\u0301", "e\u0303\u0301"},
    {"", "", "", "", ""},
    {"plain ASCII", "plain ASCII", "plain ASCII", "plain ASCII", "plain ASCII"},
    {"Z\u00fcrich, \u00c5ngstr\u00f6m, na\u00efve caf\u00e9", "Z\u00fcrich, \u00c5ngstr\u00f6m, na\u00efve caf\u00e9", "Zu\u0308rich, A\u030angstro\u0308m, nai\u0308ve cafe\u0301", "Z\u00fcrich, \u00c5ngstr\u00f6m, na\u00efve caf\u00e9", "Zu\u0308rich, A\u030angstro\u0308m, nai\u0308ve cafe\u0301"},
    {"\U0001d15e", "\U0001d157\U0001d165", "\U0001d157\U0001d165", "\U0001d157\U0001d165", "\U0001d157\U0001d165"},
    {"\U0001d157\U0001d165", "\U0001d157\U0001d165", "\U0001d157\U0001d165", "\U0001d157\U0001d165", "\U0001d157\U0001d165"},
    {"\u2adc", "\u2add\u0338", "\u2add\u0338", "\u2add\u0338", "\u2add\u0338"},
    {"\u2add\u0338", "\u2add\u0338", "\u2add\u0338", "\u2add\u0338", "\u2add\u0338"},
  };
  for (const NormalizationCase& c : cases) {
    EXPECT_EQ(NormalizeNfc(c.text), c.nfc) << c.text;
    EXPECT_EQ(NormalizeNfd(c.text), c.nfd) << c.text;
    EXPECT_EQ(NormalizeNfkc(c.text), c.nfkc) << c.text;
    EXPECT_EQ(NormalizeNfkd(c.text), c.nfkd) << c.text;
  }
}

TEST(Normalization, ReordersCombiningMarks) {
  // Marks sort by combining class (stably); starters and class-0 characters stop a run.
  EXPECT_EQ(NormalizeNfd("a\u0301\u0316\u0300\u0317b\u0302\u0323"), "a\u0316\u0317\u0301\u0300b\u0323\u0302");
  EXPECT_EQ(NormalizeNfc("a\u0301\u0316"), "\u00e1\u0316");
  EXPECT_EQ(NormalizeNfc("a\u0316\u0301"), "\u00e1\u0316");
  // A blocked mark does not compose; an unblocked later one does.
  EXPECT_EQ(NormalizeNfc("a\u0301\u0301"), "\u00e1\u0301");
  EXPECT_EQ(NormalizeNfc("\u0301a\u0301"), "\u0301\u00e1");
  // Marks newer than Unicode 9.0 keep class 0 as in HF: no reordering around them.
  EXPECT_EQ(NormalizeNfd("a\u1ac1\u0316"), "a\u1ac1\u0316");
  // Decompositions newer than Unicode 9.0 are not applied (DIVES AKURU VOWEL SIGN O, Unicode 13).
  EXPECT_EQ(NormalizeNfd("\U00011938"), "\U00011938");
  EXPECT_EQ(NormalizeNfc("\U00011935\U00011930"), "\U00011935\U00011930");
}

TEST(Normalization, HangulSyllablesRoundTrip) {
  for (char32_t s = 0xAC00; s <= 0xD7A3; ++s) {
    const std::string syllable = Utf8(s);
    const std::u32string jamo = DecodeUtf8(NormalizeNfd(syllable));
    const char32_t index = s - 0xAC00;
    std::u32string expected = {static_cast<char32_t>(0x1100 + index / 588),
                               static_cast<char32_t>(0x1161 + index % 588 / 28)};
    if (index % 28 != 0) expected.push_back(0x11A7 + index % 28);
    ASSERT_EQ(jamo, expected) << std::hex << uint32_t(s);
    std::string decomposed;
    for (char32_t c : jamo) AppendUtf8(c, &decomposed);
    ASSERT_EQ(NormalizeNfc(decomposed), syllable) << std::hex << uint32_t(s);
  }
  // LV + T composes; a T after an LVT syllable or a lone jamo stays.
  EXPECT_EQ(NormalizeNfc("\uac00\u11a8"), "\uac01");
  EXPECT_EQ(NormalizeNfc("\uac01\u11a8"), "\uac01\u11a8");
  EXPECT_EQ(NormalizeNfc("\u1100\u1100\u1161"), "\u1100\uac00");
}

TEST(Normalization, LeavesNormalizedTextAlone) {
  const std::string texts[] = {"", "plain ASCII text", "caf\u00e9 \u4e2d\u6587 \ud55c\uad6d\uc5b4 \U0001f600"};
  for (const std::string& text : texts) EXPECT_EQ(NormalizeNfc(text), text);
}

TEST(Lowercase, MatchesRustToLowercase) {
  EXPECT_EQ(ToLowerSimple(U'A'), U'a');
  EXPECT_EQ(ToLowerSimple(U'a'), U'a');
  EXPECT_EQ(ToLowerSimple(U'1'), U'1');
  EXPECT_EQ(ToLowerSimple(0x3A3), 0x3C3);      // Σ
  EXPECT_EQ(ToLowerSimple(0x130), U'i');       // İ (ToLowercase adds U+0307)
  EXPECT_EQ(ToLowerSimple(0x212A), U'k');      // KELVIN SIGN
  EXPECT_EQ(ToLowerSimple(0x1E9E), 0xDF);      // ẞ
  EXPECT_EQ(ToLowerSimple(0x1C5), 0x1C6);      // ǅ
  EXPECT_EQ(ToLowerSimple(0x10400), 0x10428);  // 𐐀
  EXPECT_EQ(ToLowerSimple(0x16EA0), 0x16EBB);  // Unicode 17, as Rust's tables
  EXPECT_EQ(ToLowercase("Hello WORLD \u0391\u03a3 \u0130 \uff21\uff22"),
            "hello world \u03b1\u03c3 i\u0307 \uff41\uff42");  // no final-sigma rule, as HF
}

#ifdef MUKE_PEER_OUT
// The normalizations of tests/peers/regex_split_peer.mjs (HF tokenizers' NFC/NFD/NFKC/NFKD/Lowercase) over
// its hand-picked and random strings.
TEST(UnicodePeer, NormalizersMatchHuggingFaceTokenizers) {
  std::ifstream in(std::string(MUKE_PEER_OUT) + "/regex_split.jsonl");
  if (!in) GTEST_SKIP() << "no reference " << MUKE_PEER_OUT << "/regex_split.jsonl";
  int strings = 0, failures = 0;
  for (std::string line; std::getline(in, line) && failures < 20; ++strings) {
    const nlohmann::json c = nlohmann::json::parse(line);
    const std::string text = c["text"];
    const std::pair<std::string, std::string> results[] = {
        {"nfc", NormalizeNfc(text)}, {"nfd", NormalizeNfd(text)},   {"nfkc", NormalizeNfkc(text)},
        {"nfkd", NormalizeNfkd(text)}, {"lower", ToLowercase(text)}};
    for (const auto& [form, ours] : results) {
      const bool same = ours == c[form].get<std::string>();
      EXPECT_TRUE(same) << form << " of " << c["text"].dump() << "\n  ours " << nlohmann::json(ours).dump()
                        << "\n  hf   " << c[form].dump();
      failures += !same;
    }
  }
  EXPECT_GE(strings, 300);
  std::printf("[ regex_split_peer ] %d strings, NFC/NFD/NFKC/NFKD/Lowercase, %d differences\n", strings, failures);
}
#endif

}  // namespace
}  // namespace muke
