// Fuzz-style robustness of the real Llama-3 and Qwen3 tokenizer.json files (from the peer fixture):
// 10,000 random byte strings and 10,000 random Unicode strings each. Encode never crashes (invalid UTF-8
// is an INVALID_ARGUMENT error), and for valid UTF-8 decode(encode(s)) == s — exactly for Llama-3 (no
// normalizer), and == NFC(s) for Qwen (its tokenizer.json normalizes to NFC).
#include <atomic>
#include <random>
#include <thread>

#include <gtest/gtest.h>

#include "core/tokenizer/tokenizer.h"
#include "core/tokenizer/unicode.h"
#include "core/tokenizer/utf8.h"

namespace muke {
namespace {

class TokenizerFuzz : public ::testing::TestWithParam<std::string> {};

std::string RandomBytes(std::mt19937& rng) {
  std::string s(rng() % 48, '\0');
  for (char& c : s) c = static_cast<char>(rng() % 256);
  return s;
}

std::string RandomUnicode(std::mt19937& rng) {
  static const std::pair<char32_t, char32_t> kRanges[] = {
      {0x0, 0x7F},       {0x20, 0x7E},      {0x80, 0x24F},   {0x300, 0x36F},   {0x590, 0x6FF},     {0x900, 0x97F},
      {0x1100, 0x11FF},  {0x2000, 0x206F},  {0x3000, 0x30FF}, {0x4E00, 0x9FFF}, {0xAC00, 0xD7A3},  {0xE000, 0xF8FF},
      {0xFE00, 0xFFFF},  {0x1F300, 0x1FAFF}, {0x10000, 0x10FFFF}};
  std::string s;
  const int n = rng() % 32;
  for (int i = 0; i < n; ++i) {
    const auto [lo, hi] = kRanges[rng() % (sizeof(kRanges) / sizeof(kRanges[0]))];
    char32_t c = lo + rng() % (hi - lo + 1);
    if (c >= 0xD800 && c <= 0xDFFF) c = U' ';
    AppendUtf8(c, &s);
  }
  return s;
}

TEST_P(TokenizerFuzz, NeverCrashesAndRoundTripsValidUtf8) {
  auto tokenizer = LoadTokenizer(std::string(MUKE_PEER_OUT) + "/" + GetParam());
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  const bool nfc = GetParam() == "qwen3";
  std::mt19937 rng(GetParam() == "qwen3" ? 2 : 1);
  int invalid = 0, round_trips = 0;
  for (int i = 0; i < 20000; ++i) {
    const std::string s = i < 10000 ? RandomBytes(rng) : RandomUnicode(rng);
    for (bool special : {false, true}) {
      auto ids = (*tokenizer)->Encode(s, special);
      if (!IsValidUtf8(s)) {
        EXPECT_TRUE(absl::IsInvalidArgument(ids.status()));
        invalid += special;
        continue;
      }
      ASSERT_TRUE(ids.ok()) << ids.status();
      auto text = (*tokenizer)->Decode(*ids, /*skip_special_tokens=*/true);
      ASSERT_TRUE(text.ok()) << text.status();
      EXPECT_EQ(*text, nfc ? NormalizeNfc(s) : s) << "string #" << i;
      round_trips += special;
    }
  }
  EXPECT_GT(invalid, 5000);
  EXPECT_GT(round_trips, 10000);
}

// One tokenizer shared by several threads (the server's situation) gives the same ids as serial encoding.
TEST_P(TokenizerFuzz, ConcurrentEncodingMatchesSerial) {
  auto tokenizer = LoadTokenizer(std::string(MUKE_PEER_OUT) + "/" + GetParam());
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  std::mt19937 rng(3);
  std::vector<std::string> texts(2000);
  for (std::string& t : texts) t = RandomUnicode(rng) + " the same words again and again " + RandomUnicode(rng);
  std::vector<std::vector<int64_t>> serial;
  for (const std::string& t : texts) serial.push_back(*(*tokenizer)->Encode(t, true));
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int k = 0; k < 4; ++k) {
    threads.emplace_back([&, k] {
      for (size_t i = k; i < texts.size() * 2; i += 3) {
        auto ids = (*tokenizer)->Encode(texts[i % texts.size()], true);
        if (!ids.ok() || *ids != serial[i % texts.size()]) ++mismatches;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(mismatches.load(), 0);
}

INSTANTIATE_TEST_SUITE_P(Packages, TokenizerFuzz, ::testing::Values("llama3", "qwen3"));

}  // namespace
}  // namespace muke
