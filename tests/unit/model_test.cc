// The decoder on tiny random-weight Qwen2- and Llama-3-shaped models written by the test itself:
// save → load fidelity, KV-cached decoding against a full forward, padding, sliding window, and the loader's
// errors for inconsistent checkpoints.
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <torch/types.h>
#include <torch/utils.h>

#include "core/model/generate.h"
#include "core/model/model.h"
#include "core/model/rope.h"
#include "tests/test_util.h"

namespace muke {
namespace {

using testing::FullLogits;
using testing::MaxAbsDiff;

std::vector<int64_t> RandomIds(const ModelConfig& c, int64_t n, uint64_t seed) {
  torch::manual_seed(seed);
  torch::Tensor t = torch::randint(c.vocab_size, {n}, torch::kInt64);
  return std::vector<int64_t>(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + n);
}

class ModelShapes : public ::testing::TestWithParam<ModelConfig> {};

TEST_P(ModelShapes, SaveLoadGivesIdenticalLogits) {
  torch::NoGradGuard no_grad;
  auto model = testing::RandomModel(GetParam(), 1);
  const std::string dir = testing::MakeTempDir("save");
  ASSERT_TRUE(model->Save(dir, torch::kFloat32).ok());
  auto loaded = Model::Load(dir);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->config().model_type, GetParam().model_type);
  EXPECT_EQ((*loaded)->config().rope_scaling.has_value(), GetParam().rope_scaling.has_value());
  EXPECT_EQ((*loaded)->config().eos_token_ids, GetParam().eos_token_ids);
  const auto ids = RandomIds(GetParam(), 19, 2);
  EXPECT_TRUE(torch::equal(FullLogits(*model, ids), FullLogits(**loaded, ids)));
  // Tied embeddings are stored once.
  EXPECT_EQ(model->StateDict().count("lm_head.weight"), GetParam().tie_word_embeddings ? 0u : 1u);
}

TEST_P(ModelShapes, IncrementalDecodingMatchesFullForward) {
  torch::NoGradGuard no_grad;
  auto model = testing::RandomModel(GetParam(), 3);
  const auto ids = RandomIds(GetParam(), 24, 4);
  torch::Tensor full = FullLogits(*model, ids);

  // Prefill 9 tokens, then 5, then one at a time.
  KVCache cache(model->num_layers());
  std::vector<torch::Tensor> pieces;
  size_t start = 0;
  for (size_t len : {9u, 5u, 1u, 1u, 1u, 1u, 1u, 1u, 1u, 1u, 1u, 1u}) {  // 24 tokens
    ForwardInput in;
    in.tokens = torch::tensor(std::vector<int64_t>(ids.begin() + start, ids.begin() + start + len)).unsqueeze(0);
    in.cache = &cache;
    auto out = model->Forward(in);
    ASSERT_TRUE(out.ok()) << out.status();
    pieces.push_back(out->logits);
    start += len;
  }
  ASSERT_EQ(start, ids.size());
  // 1e-5 relative to the logit scale (float32 sums in a different order).
  EXPECT_LT(MaxAbsDiff(torch::cat(pieces, 1), full), 1e-5 * std::max(1.0, full.abs().max().item<double>()));
  EXPECT_EQ(cache.length(0), 24);
}

TEST_P(ModelShapes, CachedAndUncachedGenerationAgree) {
  auto model = testing::RandomModel(GetParam(), 5);
  GenerateOptions options;
  options.max_new_tokens = 20;
  options.sampling = {0.9, 0.95, 1234};
  auto cached = Generate(*model, RandomIds(GetParam(), 7, 6), options);
  options.use_cache = false;
  auto uncached = Generate(*model, RandomIds(GetParam(), 7, 6), options);
  ASSERT_TRUE(cached.ok() && uncached.ok());
  EXPECT_EQ(cached->ids, uncached->ids);
  EXPECT_EQ(cached->ids.size(), 20u);
}

TEST_P(ModelShapes, LeftPaddedBatchMatchesSingleSequences) {
  torch::NoGradGuard no_grad;
  auto model = testing::RandomModel(GetParam(), 7);
  const auto a = RandomIds(GetParam(), 12, 8), b = RandomIds(GetParam(), 7, 9);
  std::vector<int64_t> b_padded(5, 0);
  b_padded.insert(b_padded.end(), b.begin(), b.end());
  ForwardInput in;
  in.tokens = torch::stack({torch::tensor(a), torch::tensor(b_padded)});
  in.attention_mask = torch::ones({2, 12}, torch::kInt64);
  in.attention_mask[1].slice(0, 0, 5).zero_();
  auto out = model->Forward(in);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_LT(MaxAbsDiff(out->logits[0], FullLogits(*model, a)[0]), 1e-5);
  EXPECT_LT(MaxAbsDiff(out->logits[1].slice(0, 5), FullLogits(*model, b)[0]), 1e-5);
  EXPECT_FALSE(out->logits.isnan().any().item<bool>());  // padding rows stay finite
}

TEST_P(ModelShapes, Bf16ComputeStaysCloseToFp32) {
  torch::NoGradGuard no_grad;
  auto fp32 = testing::RandomModel(GetParam(), 11);
  auto bf16 = testing::RandomModel(GetParam(), 11, torch::kBFloat16);
  const auto ids = RandomIds(GetParam(), 16, 12);
  torch::Tensor ref = FullLogits(*fp32, ids);
  EXPECT_LT(MaxAbsDiff(FullLogits(*bf16, ids), ref) / ref.abs().max().item<double>(), 0.05);
}

INSTANTIATE_TEST_SUITE_P(Shapes, ModelShapes,
                         ::testing::Values(testing::TinyQwen2Config(), testing::TinyLlama3Config()),
                         [](const auto& info) { return info.param.model_type == "qwen2" ? "Qwen2" : "Llama3"; });

TEST(ModelTest, Llama3RopeScalingFollowsTheReferenceFormula) {
  // Meta's reference (llama-models apply_scaling), evaluated here in double per frequency.
  ModelConfig c = testing::TinyLlama3Config();
  c.head_dim = 128;
  c.rope_theta = 500000.0;
  c.rope_scaling = Llama3RopeScaling{8.0, 1.0, 4.0, 8192};
  torch::Tensor got = RopeInverseFrequencies(c);
  for (int64_t i = 0; i < 64; ++i) {
    const double freq = 1.0 / std::pow(500000.0, (2.0 * i) / 128.0);
    const double wavelen = 2 * M_PI / freq, low = 8192 / 1.0, high = 8192 / 4.0;
    double want;
    if (wavelen < high) {
      want = freq;
    } else if (wavelen > low) {
      want = freq / 8.0;
    } else {
      const double smooth = (8192 / wavelen - 1.0) / (4.0 - 1.0);
      want = (1 - smooth) * freq / 8.0 + smooth * freq;
    }
    EXPECT_NEAR(got[i].item<double>(), want, want * 1e-5) << "frequency " << i;
  }
}

TEST(ModelTest, SlidingWindowHidesDistantTokens) {
  torch::NoGradGuard no_grad;
  ModelConfig c = testing::TinyLlama3Config();
  c.model_type = "mistral";
  c.rope_scaling.reset();
  c.num_hidden_layers = 1;  // one block: position i sees exactly tokens (i - window, i]
  c.sliding_window = 4;
  auto model = testing::RandomModel(c, 13);
  auto ids = RandomIds(c, 12, 14);
  torch::Tensor before = FullLogits(*model, ids);
  ids[2] = (ids[2] + 1) % c.vocab_size;
  torch::Tensor after = FullLogits(*model, ids);
  EXPECT_GT(MaxAbsDiff(before.slice(1, 2, 6), after.slice(1, 2, 6)), 1e-4);  // within the window of token 2
  EXPECT_EQ(MaxAbsDiff(before.slice(1, 6), after.slice(1, 6)), 0.0);          // outside it
}

TEST(ModelTest, GenerationStopsOnAnyEosId) {
  auto model = testing::RandomModel(testing::TinyQwen2Config(), 15);
  GenerateOptions options;
  options.max_new_tokens = 30;
  auto free_run = Generate(*model, {1, 10, 20}, options);
  ASSERT_TRUE(free_run.ok());
  options.stop_ids = {free_run->ids[3], 9999};
  auto stopped = Generate(*model, {1, 10, 20}, options);
  ASSERT_TRUE(stopped.ok());
  EXPECT_EQ(stopped->finish_reason, "stop");
  const auto first = std::find(free_run->ids.begin(), free_run->ids.end(), free_run->ids[3]);
  EXPECT_EQ(stopped->ids, std::vector<int64_t>(free_run->ids.begin(), first + 1));
  EXPECT_EQ(free_run->finish_reason, "length");
}

TEST(ModelTest, RejectsBadForwardInputs) {
  auto model = testing::RandomModel(testing::TinyQwen2Config(), 16);
  ForwardInput in;
  in.tokens = torch::tensor(std::vector<int64_t>{1, 97}).unsqueeze(0);
  EXPECT_TRUE(absl::IsInvalidArgument(model->Forward(in).status()));
  in.tokens = torch::tensor(std::vector<int64_t>{1, 2}).unsqueeze(0);
  in.attention_mask = torch::ones({1, 3}, torch::kInt64);
  EXPECT_TRUE(absl::IsInvalidArgument(model->Forward(in).status()));
  in.attention_mask = torch::Tensor();
  in.first_layer = 2;  // needs `hidden`
  EXPECT_TRUE(absl::IsInvalidArgument(model->Forward(in).status()));
  auto generated = Generate(*model, std::vector<int64_t>(250, 1), GenerateOptions{});
  EXPECT_TRUE(absl::IsInvalidArgument(generated.status()));
  EXPECT_NE(generated.status().message().find("max_position_embeddings"), std::string::npos);
}

TEST(ModelTest, SetParameterChecksShapeAndKeepsTiedHeadInSync) {
  auto model = testing::RandomModel(testing::TinyQwen2Config(), 17);
  EXPECT_TRUE(absl::IsInvalidArgument(model->SetParameter("model.norm.weight", torch::ones({3}))));
  EXPECT_TRUE(absl::IsNotFound(model->SetParameter("model.nope", torch::ones({3}))));
  ASSERT_TRUE(model->SetParameter("model.embed_tokens.weight", torch::zeros({97, 32})).ok());
  auto logits = FullLogits(*model, {1, 2, 3});
  EXPECT_EQ(logits.abs().max().item<double>(), 0.0);  // tied head reads the new (zero) embeddings
}

// The loader's own checks on top of the safetensors reader (whose corrupt-file table is in safetensors_test).
struct BadCheckpoint {
  std::string name;
  std::function<void(nlohmann::json& config, TensorMap& tensors)> corrupt;
  absl::StatusCode code;
  std::string message;
};

void PrintTo(const BadCheckpoint& b, std::ostream* os) { *os << b.name; }

class LoaderErrors : public ::testing::TestWithParam<BadCheckpoint> {};

TEST_P(LoaderErrors, NameTheProblem) {
  const ModelConfig c = testing::TinyLlama3Config();
  nlohmann::json config = ModelConfigToJson(c);
  TensorMap tensors = testing::RandomWeights(c, 18);
  GetParam().corrupt(config, tensors);
  const std::string dir = testing::MakeTempDir("bad");
  std::ofstream(dir + "/config.json") << config.dump();
  ASSERT_TRUE(WriteCheckpointTensors(dir, tensors).ok());
  auto model = Model::Load(dir);
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), GetParam().code) << model.status();
  EXPECT_NE(model.status().message().find(GetParam().message), std::string::npos) << model.status();
}

INSTANTIATE_TEST_SUITE_P(
    Cases, LoaderErrors,
    ::testing::Values(
        BadCheckpoint{"MissingTensor", [](auto&, TensorMap& t) { t.erase("model.layers.1.mlp.up_proj.weight"); },
                      absl::StatusCode::kInvalidArgument, "'model.layers.1.mlp.up_proj.weight' is missing"},
        BadCheckpoint{"WrongShape",
                      [](auto&, TensorMap& t) { t["model.layers.0.self_attn.k_proj.weight"] = torch::zeros({8, 48}); },
                      absl::StatusCode::kInvalidArgument, "has shape [8, 48], expected [16, 48]"},
        BadCheckpoint{"IntegerWeights",
                      [](auto&, TensorMap& t) { t["model.norm.weight"] = torch::ones({48}, torch::kInt32); },
                      absl::StatusCode::kInvalidArgument, "'model.norm.weight' is not floating point"},
        BadCheckpoint{"MissingConfigKey", [](nlohmann::json& j, auto&) { j.erase("hidden_size"); },
                      absl::StatusCode::kInvalidArgument, "key 'hidden_size' is missing"},
        BadCheckpoint{"WrongArchitecture", [](nlohmann::json& j, auto&) { j["model_type"] = "gpt2"; },
                      absl::StatusCode::kUnimplemented, "model_type 'gpt2' is not supported"},
        BadCheckpoint{"BadHeadCount", [](nlohmann::json& j, auto&) { j["num_key_value_heads"] = 4; },
                      absl::StatusCode::kInvalidArgument, "num_key_value_heads' (4) must divide"},
        BadCheckpoint{"UnsupportedRopeScaling",
                      [](nlohmann::json& j, auto&) { j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}}; },
                      absl::StatusCode::kUnimplemented, "rope_scaling type 'yarn' is not supported"},
        BadCheckpoint{"EosOutsideVocab", [](nlohmann::json& j, auto&) { j["eos_token_id"] = {6, 500}; },
                      absl::StatusCode::kInvalidArgument, "500 is outside the vocabulary"}),
    [](const auto& info) { return info.param.name; });

TEST(ModelTest, MissingConfigAndWeightsAreNotFound) {
  const std::string dir = testing::MakeTempDir("empty");
  auto model = Model::Load(dir);
  EXPECT_TRUE(absl::IsNotFound(model.status())) << model.status();
  EXPECT_NE(model.status().message().find("config.json"), std::string::npos);
  std::ofstream(dir + "/config.json") << ModelConfigToJson(testing::TinyQwen2Config()).dump();
  model = Model::Load(dir);
  EXPECT_TRUE(absl::IsNotFound(model.status())) << model.status();
}

}  // namespace
}  // namespace muke
