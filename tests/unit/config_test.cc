// config.json parsing for llama / qwen2 / mistral, including real-world variants (eos lists, llama3 rope
// scaling, `dtype` vs `torch_dtype`), and errors that name the key.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/model/config.h"
#include "tests/test_util.h"

namespace muke {
namespace {

using nlohmann::json;

// Abridged from Meta-Llama-3.1-8B-Instruct's config.json.
const char* kLlama31 = R"({
  "architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
  "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009], "hidden_act": "silu", "hidden_size": 4096,
  "initializer_range": 0.02, "intermediate_size": 14336, "max_position_embeddings": 131072, "mlp_bias": false,
  "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
  "pretraining_tp": 1, "rms_norm_eps": 1e-05,
  "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                   "original_max_position_embeddings": 8192, "rope_type": "llama3"},
  "rope_theta": 500000.0, "tie_word_embeddings": false, "torch_dtype": "bfloat16", "vocab_size": 128256})";

// Abridged from Qwen2.5-7B-Instruct's config.json.
const char* kQwen25 = R"({
  "architectures": ["Qwen2ForCausalLM"], "bos_token_id": 151643, "eos_token_id": 151645, "hidden_act": "silu",
  "hidden_size": 3584, "intermediate_size": 18944, "max_position_embeddings": 32768, "max_window_layers": 28,
  "model_type": "qwen2", "num_attention_heads": 28, "num_hidden_layers": 28, "num_key_value_heads": 4,
  "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "sliding_window": 131072, "tie_word_embeddings": false,
  "torch_dtype": "bfloat16", "use_cache": true, "use_sliding_window": false, "vocab_size": 152064})";

// Abridged from Mistral-7B-Instruct-v0.1's config.json.
const char* kMistral = R"({
  "architectures": ["MistralForCausalLM"], "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu",
  "hidden_size": 4096, "intermediate_size": 14336, "max_position_embeddings": 32768, "model_type": "mistral",
  "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8, "rms_norm_eps": 1e-05,
  "rope_theta": 10000.0, "sliding_window": 4096, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
  "vocab_size": 32000})";

TEST(ConfigTest, ParsesLlama31) {
  auto c = ParseModelConfig(json::parse(kLlama31));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->head_dim, 128);
  EXPECT_EQ(c->kv_dim(), 1024);
  EXPECT_EQ(c->eos_token_ids, (std::vector<int64_t>{128001, 128008, 128009}));
  ASSERT_TRUE(c->rope_scaling.has_value());
  EXPECT_EQ(c->rope_scaling->original_max_position_embeddings, 8192);
  EXPECT_FALSE(c->qkv_bias);
  EXPECT_EQ(c->torch_dtype, "bfloat16");
}

TEST(ConfigTest, ParsesQwen25WithBiasesAndNoSlidingWindow) {
  auto c = ParseModelConfig(json::parse(kQwen25));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->qkv_bias);
  EXPECT_FALSE(c->o_bias);
  EXPECT_FALSE(c->sliding_window.has_value());  // use_sliding_window: false
  EXPECT_EQ(c->eos_token_ids, std::vector<int64_t>{151645});
  EXPECT_EQ(c->head_dim, 128);
}

TEST(ConfigTest, ParsesMistralSlidingWindow) {
  auto c = ParseModelConfig(json::parse(kMistral));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->sliding_window, 4096);
  EXPECT_EQ(c->bos_token_id, 1);
}

TEST(ConfigTest, NewerDtypeKeyAndExplicitHeadDim) {
  json j = json::parse(kLlama31);
  j.erase("torch_dtype");
  j["dtype"] = "float16";
  j["head_dim"] = 64;
  auto c = ParseModelConfig(j);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->torch_dtype, "float16");
  EXPECT_EQ(c->head_dim, 64);
}

TEST(ConfigTest, RoundTripsThroughJson) {
  for (const ModelConfig& c : {testing::TinyQwen2Config(), testing::TinyLlama3Config()}) {
    auto back = ParseModelConfig(ModelConfigToJson(c));
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(ModelConfigToJson(*back), ModelConfigToJson(c));
  }
}

TEST(ConfigTest, ErrorsNameTheKey) {
  const std::vector<std::pair<std::function<void(json&)>, std::string>> cases = {
      {[](json& j) { j.erase("num_hidden_layers"); }, "key 'num_hidden_layers' is missing"},
      {[](json& j) { j["hidden_size"] = "big"; }, "key 'hidden_size' must be an integer"},
      {[](json& j) { j["hidden_size"] = 0; }, "key 'hidden_size' must be >= 1, got 0"},
      {[](json& j) { j["hidden_act"] = "gelu"; }, "key 'hidden_act' 'gelu' is not supported"},
      {[](json& j) { j["eos_token_id"] = "x"; }, "key 'eos_token_id' must be an integer or a list"},
      {[](json& j) { j["torch_dtype"] = "int8"; }, "key 'torch_dtype' 'int8' is not supported"},
      {[](json& j) { j["rope_scaling"]["high_freq_factor"] = 0.5; }, "high_freq_factor must exceed"},
      {[](json& j) { j["model_type"] = "falcon"; }, "model_type 'falcon' is not supported"},
  };
  for (const auto& [corrupt, message] : cases) {
    json j = json::parse(kLlama31);
    corrupt(j);
    auto c = ParseModelConfig(j, "m/config.json");
    ASSERT_FALSE(c.ok()) << message;
    EXPECT_NE(c.status().message().find(message), std::string::npos) << c.status();
    EXPECT_EQ(c.status().message().rfind("m/config.json", 0), 0u) << c.status();
  }
}

}  // namespace
}  // namespace muke
