// tokenizer.json machinery on a small hand-written Llama-2-style tokenizer (Prepend/Replace normalizer,
// byte fallback, TemplateProcessing, Replace/ByteFallback/Fuse/Strip decoder), where every expected id is
// worked out by hand from the merge ranks; and the loader's errors. The real Llama-3 / Qwen tokenizers are
// checked against Hugging Face's own implementation in tests/peers.
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/tokenizer/hf_tokenizer.h"
#include "core/tokenizer/tokenizer.h"
#include "tests/test_util.h"

namespace muke {
namespace {

using nlohmann::json;

json Llama2StyleTokenizer() {
  json vocab = {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}, {"\u2581", 3}, {"h", 4}, {"e", 5}, {"l", 6}, {"o", 7},
                {"\u2581h", 8}, {"ll", 9}, {"\u2581he", 10}, {"llo", 11}, {"\u2581hello", 12}, {"<0xC3>", 13},
                {"<0xA9>", 14}, {"w", 15}, {"\u2581w", 16}};
  return {
      {"version", "1.0"},
      {"added_tokens",
       {{{"id", 0}, {"content", "<unk>"}, {"special", true}, {"normalized", false}},
        {{"id", 1}, {"content", "<s>"}, {"special", true}, {"normalized", false}},
        {{"id", 2}, {"content", "</s>"}, {"special", true}, {"normalized", false}}}},
      {"normalizer",
       {{"type", "Sequence"},
        {"normalizers",
         {{{"type", "Prepend"}, {"prepend", "\u2581"}},
          {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\u2581"}}}}}},
      {"pre_tokenizer", nullptr},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single", {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
        {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {1}}, {"tokens", {"<s>"}}}}}}}},
      {"decoder",
       {{"type", "Sequence"},
        {"decoders",
         {{{"type", "Replace"}, {"pattern", {{"String", "\u2581"}}}, {"content", " "}},
          {{"type", "ByteFallback"}},
          {{"type", "Fuse"}},
          {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}}},
      {"model",
       {{"type", "BPE"}, {"unk_token", "<unk>"}, {"byte_fallback", true}, {"fuse_unk", true}, {"vocab", vocab},
        // Ranks: "▁ h" first, then "l l", "▁h e", "ll o", "▁he llo"; the last two use the [a, b] form.
        {"merges", {"\u2581 h", "l l", "\u2581h e", json::array({"ll", "o"}), json::array({"\u2581he", "llo"}),
                    "\u2581 w"}}}},
  };
}

std::unique_ptr<Tokenizer> Load(const json& tokenizer_json) {
  const std::string dir = testing::MakeTempDir("tok");
  std::ofstream(dir + "/tokenizer.json") << tokenizer_json.dump();
  std::ofstream(dir + "/tokenizer_config.json") << json({{"bos_token", "<s>"}, {"eos_token", "</s>"}}).dump();
  auto t = LoadTokenizer(dir);
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? std::move(t).value() : nullptr;
}

TEST(HfTokenizerTest, MergesInRankOrderWithByteFallbackAndTemplate) {
  auto t = Load(Llama2StyleTokenizer());
  ASSERT_NE(t, nullptr);
  // "▁hello": ▁+h → ▁h, l+l → ll, ▁h+e → ▁he, ll+o → llo, ▁he+llo → ▁hello.
  EXPECT_EQ(*t->Encode("hello", false), std::vector<int64_t>{12});
  EXPECT_EQ(*t->Encode("hello", true), (std::vector<int64_t>{1, 12}));
  // "é" is not in the vocab: its UTF-8 bytes C3 A9 fall back to <0xC3><0xA9>; "x" has no byte token → unk.
  EXPECT_EQ(*t->Encode("hello é", false), (std::vector<int64_t>{12, 3, 13, 14}));
  EXPECT_EQ(*t->Encode("xx", false), (std::vector<int64_t>{3, 0}));  // fuse_unk: one unk for the run
  EXPECT_EQ(*t->Encode("<s>hello</s>", false), (std::vector<int64_t>{1, 12, 2}));
  EXPECT_EQ(*t->Decode({1, 12, 3, 13, 14, 2}, false), "<s> hello é</s>");
  EXPECT_EQ(*t->Decode({1, 12, 3, 13, 14, 2}, true), "hello é");
  EXPECT_EQ(*t->Decode({13}, true), "\xEF\xBF\xBD");  // a lone lead byte decodes to U+FFFD
  EXPECT_EQ(t->bos_id(), 1);
  EXPECT_EQ(t->eos_ids(), std::vector<int64_t>{2});
  EXPECT_EQ(t->PieceToId("\u2581hello"), 12);
  EXPECT_EQ(*t->IdToPiece(2), "</s>");
}

TEST(HfTokenizerTest, InvalidInputsAreErrors) {
  auto t = Load(Llama2StyleTokenizer());
  ASSERT_NE(t, nullptr);
  EXPECT_TRUE(absl::IsInvalidArgument(t->Encode("bad \xC3\x28 utf8", false).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(t->Decode({99}, false).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(t->IdToPiece(-1).status()));
}

TEST(HfTokenizerTest, LoaderErrorsNameTheProblem) {
  const std::vector<std::pair<std::function<void(json&)>, std::string>> cases = {
      {[](json& j) { j["model"]["merges"].push_back("q r"); }, "uses a token missing from the vocab"},
      {[](json& j) { j["model"]["merges"].push_back("nospace"); }, "is not 'a b'"},
      {[](json& j) { j["normalizer"] = {{"type", "BertNormalizer"}}; }, "normalizer type 'BertNormalizer'"},
      {[](json& j) { j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "\\w+[a-z]"}}}, {"behavior", "Isolated"}}; },
       "regex pattern '\\w+[a-z]' is not supported"},
      {[](json& j) { j["model"]["type"] = "Unigram"; }, "only the BPE model type"},
      {[](json& j) { j["model"]["unk_token"] = "<nope>"; }, "unk_token '<nope>' not in vocab"},
      {[](json& j) { j["added_tokens"][0]["id"] = "zero"; }, "integer id"},
      {[](json& j) { j["model"]["byte_fallback"] = "yes"; }, "tokenizer.json"},
  };
  for (const auto& [corrupt, message] : cases) {
    json j = Llama2StyleTokenizer();
    corrupt(j);
    const std::string dir = testing::MakeTempDir("badtok");
    std::ofstream(dir + "/tokenizer.json") << j.dump();
    auto t = LoadTokenizer(dir);
    ASSERT_FALSE(t.ok()) << message;
    EXPECT_NE(t.status().message().find(message), std::string::npos) << t.status();
  }
  const std::string dir = testing::MakeTempDir("notjson");
  std::ofstream(dir + "/tokenizer.json") << "{ not json";
  EXPECT_TRUE(absl::IsInvalidArgument(LoadTokenizer(dir).status()));
  EXPECT_TRUE(absl::IsNotFound(LoadTokenizer(testing::MakeTempDir("none")).status()));
}

// SentencePiece tok512 reproduces the golden prompt ids (llama2.c's own encoder produced them).
TEST(HfTokenizerTest, SentencePieceGoldenPromptIds) {
  MUKE_REQUIRE_SHARED();
  const std::string dir = testing::MakeTempDir("sp");
  std::filesystem::copy_file(testing::Stories260KDir() + "/tok512.model", dir + "/tokenizer.model");
  auto t = LoadTokenizer(dir);
  ASSERT_TRUE(t.ok()) << t.status();
  std::ifstream in(testing::Stories260KDir() + "/golden.json");
  const json golden = json::parse(in);
  for (const json& c : golden["cases"]) {
    EXPECT_EQ(*(*t)->Encode(c["prompt"].get<std::string>(), true), c["prompt_ids"].get<std::vector<int64_t>>());
  }
}

}  // namespace
}  // namespace muke
