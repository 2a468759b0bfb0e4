// UnKE's block training on tiny random-weight Qwen2- (q/k/v biases) and Llama-3-shaped models: with a high
// learning rate the trained hook block outputs z at each shift position of a left-padded batch (checked on each
// sequence unpadded, so a padding-shifted position fails) while the preservation sequences keep their outputs;
// batch order does not matter; only the edited blocks' tensors come back and the model is untouched; a bf16
// model trains; the RMSNorm weights get no weight decay; bad input and NaN targets are errors without a result.
#include <algorithm>
#include <iostream>
#include <set>

#include <gtest/gtest.h>
#include <torch/types.h>
#include <torch/utils.h>

#include "absl/strings/match.h"
#include "core/edit/unke.h"
#include "tests/test_util.h"

namespace muke {
namespace {

constexpr int kHook = 1;

// Block `layer`'s outputs [B, S, D] for `tokens` [B, S] (all real), with optional weight overrides.
torch::Tensor BlockOutputs(const Model& model, const torch::Tensor& tokens, int layer,
                           const TensorMap* overrides = nullptr) {
  torch::NoGradGuard no_grad;
  CaptureSpec spec;
  spec.layers = {layer};
  spec.block_output = true;
  ForwardInput in;
  in.tokens = tokens;
  in.capture = &spec;
  in.weight_overrides = overrides;
  in.end_layer = layer + 1;
  in.compute_logits = false;
  auto out = model.Forward(in);
  EXPECT_TRUE(out.ok()) << out.status();
  return out->captured.block_output.at(layer).to(torch::kFloat32);
}

torch::Tensor Row(const std::vector<int64_t>& ids) { return torch::tensor(ids, torch::kInt64).unsqueeze(0); }

// Random ids of length `n`, and a target per position: the hook output plus a random shift of norm scale·‖h‖.
EditSequence MakeEdit(const Model& model, int64_t n, std::vector<int64_t> positions, double scale) {
  torch::Tensor ids = torch::randint(model.config().vocab_size, {n}, torch::kInt64);
  EditSequence e{std::vector<int64_t>(ids.data_ptr<int64_t>(), ids.data_ptr<int64_t>() + n), std::move(positions), {}};
  torch::Tensor h = BlockOutputs(model, Row(e.ids), kHook)[0];
  for (int64_t p : e.positions) {
    torch::Tensor d = torch::randn({h.size(1)});
    e.targets.push_back(h[p] + scale * h[p].norm() * d / d.norm());
  }
  return e;
}

// The largest ‖h_after − z‖ / ‖h_before − z‖ over every shift position, each sequence run on its own.
double WorstRelativeError(const Model& model, const std::vector<EditSequence>& batch, const TensorMap& update) {
  double worst = 0;
  for (const EditSequence& e : batch) {
    torch::Tensor before = BlockOutputs(model, Row(e.ids), kHook)[0];
    torch::Tensor after = BlockOutputs(model, Row(e.ids), kHook, &update)[0];
    for (size_t k = 0; k < e.positions.size(); ++k) {
      const torch::Tensor z = e.targets[k].to(torch::kFloat32);
      const int64_t p = e.positions[k];
      worst = std::max(worst, ((after[p] - z).norm() / (before[p] - z).norm()).item<double>());
    }
  }
  return worst;
}

// ‖after − before‖ / ‖before‖ of the hook block's outputs on `tokens`.
double Drift(const Model& model, const torch::Tensor& tokens, const TensorMap& update) {
  torch::Tensor before = BlockOutputs(model, tokens, kHook), after = BlockOutputs(model, tokens, kHook, &update);
  return ((after - before).norm() / before.norm()).item<double>();
}

UnkeOptions Fast(std::vector<int> layers, int steps) {
  UnkeOptions o;
  o.layers = std::move(layers);
  o.hook_layer = kHook;
  o.learning_rate = 1e-2;
  o.steps = steps;
  return o;
}

class UnkeShapes : public ::testing::TestWithParam<ModelConfig> {};

TEST_P(UnkeShapes, TrainedHookBlockReachesTargetsInAPaddedBatch) {
  auto model = testing::RandomModel(GetParam(), 7);
  torch::manual_seed(8);
  const std::vector<EditSequence> batch = {MakeEdit(*model, 12, {4, 9}, 0.5), MakeEdit(*model, 5, {3}, 0.5)};
  const torch::Tensor preservation = torch::randint(GetParam().vocab_size, {4, 10}, torch::kInt64);
  auto update = UnkeUpdate(*model, batch, preservation, Fast({kHook}, 300));
  ASSERT_TRUE(update.ok()) << update.status();
  const double error = WorstRelativeError(*model, batch, *update), drift = Drift(*model, preservation, *update);
  EXPECT_LT(error, 0.05) << "worst ‖h − z‖ / ‖h₀ − z‖ = " << error;
  EXPECT_LT(drift, 0.05) << "preservation drift ‖Δout‖ / ‖out‖ = " << drift;
  std::cout << GetParam().model_type << ": worst relative error " << error << ", preservation drift " << drift
            << "\n";
}

TEST_P(UnkeShapes, BatchOrderDoesNotMatter) {
  auto model = testing::RandomModel(GetParam(), 9);
  torch::manual_seed(10);
  const EditSequence a = MakeEdit(*model, 11, {6}, 0.5), b = MakeEdit(*model, 4, {1, 3}, 0.5);
  const torch::Tensor preservation = torch::randint(GetParam().vocab_size, {3, 8}, torch::kInt64);
  auto ab = UnkeUpdate(*model, {a, b}, preservation, Fast({kHook}, 100));
  auto ba = UnkeUpdate(*model, {b, a}, preservation, Fast({kHook}, 100));
  ASSERT_TRUE(ab.ok() && ba.ok()) << ab.status() << " " << ba.status();
  // ‖ab − ba‖ / ‖ab − original‖ per tensor. The key bias's gradient is nearly zero (softmax ignores what it
  // adds to all of a query's scores alike; RoPE leaves a small part), and Adam turns its rounding noise into steps.
  double worst = 0;
  for (const auto& [name, t] : *ab) {
    const double change = (t - *model->Parameter(name)).norm().item<double>();
    const double difference = (t - ba->at(name)).norm().item<double>() / change;
    EXPECT_LT(difference, absl::EndsWith(name, "k_proj.bias") ? 1e-2 : 1e-4) << name;
    worst = std::max(worst, difference);
  }
  std::cout << GetParam().model_type << ": order difference / update " << worst << "\n";
}

TEST_P(UnkeShapes, ReturnsOnlyTheEditedBlocksAndLeavesTheModelUntouched) {
  auto model = testing::RandomModel(GetParam(), 11);
  torch::manual_seed(12);
  const std::vector<EditSequence> batch = {MakeEdit(*model, 9, {5}, 0.3)};
  const TensorMap before = model->StateDict();
  auto update = UnkeUpdate(*model, batch, torch::randint(GetParam().vocab_size, {2, 7}, torch::kInt64),
                           Fast({0, kHook}, 100));
  ASSERT_TRUE(update.ok()) << update.status();
  std::set<std::string> expected, got;
  for (const auto& [name, t] : model->NamedParameters()) {
    if (absl::StartsWith(name, "model.layers.0.") || absl::StartsWith(name, "model.layers.1.")) expected.insert(name);
  }
  for (const auto& [name, t] : *update) {
    got.insert(name);
    EXPECT_EQ(t.sizes(), before.at(name).sizes()) << name;
    EXPECT_EQ(t.scalar_type(), model->dtype()) << name;
  }
  EXPECT_EQ(got, expected);
  EXPECT_EQ(got.count("model.layers.1.self_attn.q_proj.bias"), GetParam().qkv_bias ? 1u : 0u);
  for (const auto& [name, t] : model->StateDict()) EXPECT_TRUE(torch::equal(t, before.at(name))) << name;
  const double error = WorstRelativeError(*model, batch, *update);
  EXPECT_LT(error, 0.5) << "two layers: worst ‖h − z‖ / ‖h₀ − z‖ = " << error;
  std::cout << GetParam().model_type << ": two layers, worst relative error " << error << "\n";
}

INSTANTIATE_TEST_SUITE_P(Shapes, UnkeShapes,
                         ::testing::Values(testing::TinyQwen2Config(), testing::TinyLlama3Config()),
                         [](const auto& info) { return info.param.model_type == "qwen2" ? "Qwen2" : "Llama3"; });

TEST(UnkeTest, Bf16ModelTrainsInFloat32) {
  auto model = testing::RandomModel(testing::TinyQwen2Config(), 13, torch::kBFloat16);
  torch::manual_seed(14);
  const std::vector<EditSequence> batch = {MakeEdit(*model, 10, {4, 8}, 0.5)};
  auto update = UnkeUpdate(*model, batch, torch::randint(97, {2, 8}, torch::kInt64), Fast({kHook}, 200));
  ASSERT_TRUE(update.ok()) << update.status();
  for (const auto& [name, t] : *update) EXPECT_EQ(t.scalar_type(), torch::kBFloat16) << name;
  const double error = WorstRelativeError(*model, batch, *update);
  EXPECT_LT(error, 0.2) << "bf16: worst ‖h − z‖ / ‖h₀ − z‖ = " << error;
  std::cout << "bf16: worst relative error " << error << "\n";
}

// Targets equal to the current outputs give (near) zero gradients, and a huge eps makes Adam's own step
// negligible: one step leaves only the decoupled weight decay, p·(1 − lr·wd), which the norms must not get.
TEST(UnkeTest, NormWeightsGetNoWeightDecay) {
  auto model = testing::RandomModel(testing::TinyQwen2Config(), 15);
  torch::manual_seed(16);
  UnkeOptions o = Fast({kHook}, 1);
  o.learning_rate = 0.1;
  o.weight_decay = 0.5;
  o.eps = 1e3;
  auto update = UnkeUpdate(*model, {MakeEdit(*model, 6, {2}, 0.0)}, torch::randint(97, {2, 6}, torch::kInt64), o);
  ASSERT_TRUE(update.ok()) << update.status();
  ASSERT_EQ(update->size(), 12u);
  for (const auto& [name, t] : *update) {
    const torch::Tensor p = *model->Parameter(name);
    const bool norm = absl::StrContains(name, "layernorm");
    EXPECT_LT(testing::MaxAbsDiff(t, norm ? p : p * 0.95), 1e-6) << name;
  }
}

TEST(UnkeTest, RejectsInvalidRequests) {
  auto model = testing::RandomModel(testing::TinyQwen2Config(), 17);
  const EditSequence e{{1, 2, 3}, {1}, {torch::zeros({32})}};
  const torch::Tensor pres = torch::randint(97, {2, 5}, torch::kInt64);
  auto rejects = [&](std::vector<EditSequence> batch, torch::Tensor preservation, UnkeOptions o,
                     const std::string& problem) {
    auto r = UnkeUpdate(*model, batch, preservation, o);
    EXPECT_TRUE(absl::IsInvalidArgument(r.status())) << problem << ": " << r.status();
    EXPECT_TRUE(absl::StrContains(r.status().message(), problem)) << r.status();
  };
  const UnkeOptions o = Fast({1}, 2);
  rejects({}, pres, o, "no edit sequences");
  rejects({e}, pres, Fast({1, 0}, 2), "strictly ascending");
  rejects({e}, pres, Fast({1, 1}, 2), "strictly ascending");
  rejects({e}, pres, Fast({2}, 2), "strictly ascending");  // above the hook layer
  EditSequence past = e;
  past.positions = {3};
  rejects({past}, pres, o, "out of range");
  EditSequence misshapen = e;
  misshapen.targets = {torch::zeros({31})};
  rejects({misshapen}, pres, o, "out of range");
  rejects({e}, pres.to(torch::kFloat32), o, "preservation must be");
  rejects({e}, pres[0], o, "preservation must be");
  rejects({e}, torch::Tensor(), o, "preservation must be");
  rejects({e}, pres + 97, o, "preservation ids");
  rejects({e}, pres, Fast({1}, 0), "steps");
}

TEST(UnkeTest, NanTargetIsAnErrorWithoutResult) {
  auto model = testing::RandomModel(testing::TinyLlama3Config(), 19);
  EditSequence e{{1, 2, 3, 4}, {2}, {torch::full({48}, std::nan(""))}};
  auto r = UnkeUpdate(*model, {e}, torch::randint(113, {2, 5}, torch::kInt64), Fast({0, kHook}, 5));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInternal) << r.status();
  EXPECT_TRUE(absl::StrContains(r.status().message(), "non-finite loss at layer 0 step 1")) << r.status();
}

}  // namespace
}  // namespace muke
