// The editor's hook points: (a) shifts added to a block's output, differentiable with respect to the shift
// only; (b) captures of block inputs/outputs and MLP keys; (c) running the blocks above L from a hidden state
// with a reused prefix cache. References: finite differences, and recomputation by other means.
#include <gtest/gtest.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/types.h>
#include <torch/utils.h>

#include "core/model/model.h"
#include "tests/test_util.h"

namespace muke {
namespace {

using testing::MaxAbsDiff;

const std::vector<int64_t> kIds = {1, 17, 42, 5, 88, 23, 61, 9, 30, 71, 12, 55};
constexpr int kLayer = 1;

torch::Tensor Tokens() { return torch::tensor(kIds, torch::kInt64).unsqueeze(0); }

// NLL of kIds[t+1] predicted at positions t >= from, with `delta` added to block kLayer's output at `position`.
torch::Tensor ShiftedNll(const Model& model, const torch::Tensor& delta, int64_t position, int64_t from) {
  ForwardInput in;
  in.tokens = Tokens();
  in.shifts = {BlockShift{kLayer, 0, position, delta}};
  auto out = model.Forward(in);
  EXPECT_TRUE(out.ok()) << out.status();
  torch::Tensor logp = torch::log_softmax(out->logits[0], -1);
  torch::Tensor nll = torch::zeros({}, logp.options());
  for (int64_t t = from; t + 1 < static_cast<int64_t>(kIds.size()); ++t) nll = nll - logp[t][kIds[t + 1]];
  return nll;
}

TEST(HooksTest, ShiftGradientMatchesFiniteDifferences) {
  auto model = testing::RandomModel(testing::TinyQwen2Config(), 21, torch::kFloat64);
  torch::manual_seed(22);
  torch::Tensor delta = (0.3 * torch::randn({32}, torch::kFloat64)).requires_grad_(true);
  torch::Tensor loss = ShiftedNll(*model, delta, 4, 4);
  torch::Tensor grad = torch::autograd::grad({loss}, {delta})[0];

  torch::NoGradGuard no_grad;
  const double eps = 1e-6;
  for (int64_t i = 0; i < 32; ++i) {
    torch::Tensor plus = delta.detach().clone(), minus = delta.detach().clone();
    plus[i] += eps;
    minus[i] -= eps;
    const double fd = (ShiftedNll(*model, plus, 4, 4) - ShiftedNll(*model, minus, 4, 4)).item<double>() / (2 * eps);
    EXPECT_NEAR(grad[i].item<double>(), fd, 1e-6 * std::max(1.0, std::abs(fd))) << "component " << i;
  }
  EXPECT_GT(grad.abs().max().item<double>(), 1e-3);  // the shift really influences the loss
}

TEST(HooksTest, WeightsAreFrozenAndReceiveNoGradient) {
  auto model = testing::RandomModel(testing::TinyLlama3Config(), 23);
  torch::Tensor delta = torch::zeros({48}).requires_grad_(true);
  ShiftedNll(*model, delta, 3, 3).backward();
  EXPECT_TRUE(delta.grad().defined());
  for (const auto& [name, w] : model->NamedParameters()) {
    EXPECT_FALSE(w.requires_grad()) << name;
    EXPECT_FALSE(w.grad().defined()) << name;
  }
}

TEST(HooksTest, ShiftOnlyAffectsItsPositionAndLater) {
  torch::NoGradGuard no_grad;
  auto model = testing::RandomModel(testing::TinyLlama3Config(), 24);
  ForwardInput in;
  in.tokens = Tokens();
  torch::Tensor plain = model->Forward(in)->logits;
  in.shifts = {BlockShift{kLayer, 0, 6, torch::randn({48})}};
  torch::Tensor shifted = model->Forward(in)->logits;
  EXPECT_EQ(MaxAbsDiff(plain.slice(1, 0, 6), shifted.slice(1, 0, 6)), 0.0);
  EXPECT_GT(MaxAbsDiff(plain.slice(1, 6), shifted.slice(1, 6)), 1e-3);
}

TEST(HooksTest, CapturesAreConsistentWithEachOther) {
  torch::NoGradGuard no_grad;
  auto model = testing::RandomModel(testing::TinyQwen2Config(), 25);
  CaptureSpec spec;
  spec.layers = {0, 1, 2};
  spec.positions = torch::tensor(std::vector<int64_t>{2, 5, 11}).unsqueeze(0);
  spec.block_input = spec.block_output = spec.mlp_key = true;
  ForwardInput in;
  in.tokens = Tokens();
  in.capture = &spec;
  auto out = model->Forward(in);
  ASSERT_TRUE(out.ok()) << out.status();
  const Captured& cap = out->captured;
  ASSERT_EQ(cap.mlp_key.at(1).sizes(), torch::IntArrayRef({1, 3, 48}));
  // Without shifts, block l's output is block l+1's input, and the last output is the final residual stream.
  EXPECT_TRUE(torch::equal(cap.block_output.at(0), cap.block_input.at(1)));
  EXPECT_TRUE(torch::equal(cap.block_output.at(2), out->hidden.index_select(1, spec.positions[0])));

  // The MLP key is the down-projection's input: zeroing down_proj removes exactly key @ down_proj^T.
  torch::Tensor down = *model->Parameter("model.layers.1.mlp.down_proj.weight");
  ASSERT_TRUE(model->SetParameter("model.layers.1.mlp.down_proj.weight", torch::zeros_like(down)).ok());
  auto zeroed = model->Forward(in);
  ASSERT_TRUE(zeroed.ok());
  EXPECT_LT(MaxAbsDiff(cap.block_output.at(1) - zeroed->captured.block_output.at(1),
                       torch::matmul(cap.mlp_key.at(1), down.t())),
            1e-5);
}

TEST(HooksTest, CapturedOutputExcludesThatLayersShift) {
  torch::NoGradGuard no_grad;
  auto model = testing::RandomModel(testing::TinyQwen2Config(), 26);
  CaptureSpec spec;
  spec.layers = {kLayer, kLayer + 1};
  spec.positions = torch::tensor(std::vector<int64_t>{4}).unsqueeze(0);
  spec.block_input = spec.block_output = true;
  ForwardInput in;
  in.tokens = Tokens();
  in.capture = &spec;
  torch::Tensor delta = torch::randn({32});
  in.shifts = {BlockShift{kLayer, 0, 4, delta}};
  auto out = model->Forward(in);
  ASSERT_TRUE(out.ok());
  EXPECT_LT(MaxAbsDiff(out->captured.block_output.at(kLayer) + delta, out->captured.block_input.at(kLayer + 1)), 1e-6);
}

// (c) The editor's fast path: positions before p never change while δ at p is optimised, so their keys and
// values above L are cached once and only blocks L+1.. over positions p.. are recomputed per step.
TEST(HooksTest, RunningUpperBlocksFromHiddenWithPrefixCacheMatchesFullForward) {
  torch::NoGradGuard no_grad;
  for (const ModelConfig& config : {testing::TinyQwen2Config(), testing::TinyLlama3Config()}) {
    auto model = testing::RandomModel(config, 27);
    const int64_t p = 5;
    torch::Tensor delta = torch::randn({config.hidden_size});
    ForwardInput full;
    full.tokens = Tokens();
    full.shifts = {BlockShift{kLayer, 0, p, delta}};
    torch::Tensor reference = model->Forward(full)->logits;

    // Unshifted block-L outputs for the suffix, and the cache of the prefix [0, p).
    CaptureSpec spec;
    spec.layers = {kLayer};
    spec.block_output = true;
    ForwardInput plain;
    plain.tokens = Tokens();
    plain.capture = &spec;
    torch::Tensor h = model->Forward(plain)->captured.block_output.at(kLayer);
    KVCache cache(model->num_layers());
    ForwardInput prefix;
    prefix.tokens = Tokens().slice(1, 0, p);
    prefix.cache = &cache;
    prefix.compute_logits = false;
    ASSERT_TRUE(model->Forward(prefix).ok());

    for (int step = 0; step < 2; ++step) {  // the cache must be reusable unchanged
      ForwardInput upper;
      upper.hidden = h.slice(1, p);
      upper.first_layer = kLayer + 1;
      upper.cache = &cache;
      upper.append_to_cache = false;
      upper.shifts = {BlockShift{kLayer, 0, p, delta}};
      auto out = model->Forward(upper);
      ASSERT_TRUE(out.ok()) << out.status();
      EXPECT_LT(MaxAbsDiff(out->logits, reference.slice(1, p)), 1e-5) << config.model_type;
      EXPECT_EQ(cache.length(kLayer + 1), p);
    }
  }
}

TEST(HooksTest, RejectsShiftsAndCapturesOutsideTheRun) {
  auto model = testing::RandomModel(testing::TinyQwen2Config(), 28);
  ForwardInput in;
  in.tokens = Tokens();
  in.shifts = {BlockShift{7, 0, 1, torch::zeros({32})}};
  EXPECT_TRUE(absl::IsInvalidArgument(model->Forward(in).status()));
  in.shifts = {BlockShift{1, 0, 1, torch::zeros({31})}};
  EXPECT_TRUE(absl::IsInvalidArgument(model->Forward(in).status()));
  in.shifts.clear();
  CaptureSpec spec;
  spec.layers = {1};
  spec.block_output = true;
  spec.positions = torch::tensor(std::vector<int64_t>{12}).unsqueeze(0);
  in.capture = &spec;
  EXPECT_TRUE(absl::IsInvalidArgument(model->Forward(in).status()));
}

}  // namespace
}  // namespace muke
