// MEMIT closed form on the real stories260K model: with λ → 0 and the hook layer as the only edited layer,
// the updated layer outputs exactly the target z at each shift position (ALGORITHM.md §4) — for a left-padded
// batch of two sequences of different lengths too, which fails if padding shifted any position; with several
// layers and a real λ the residual shrinks; the served model is never modified.
#include <gtest/gtest.h>
#include <torch/types.h>
#include <torch/utils.h>

#include "core/edit/memit.h"
#include "core/edit/statistics.h"
#include "core/tokenizer/tokenizer.h"
#include "tests/test_util.h"

namespace muke {
namespace {

constexpr int kHook = 3;

// Block kHook's output at `positions` of `ids`, with optional weight overrides.
torch::Tensor HookOutputs(const Model& model, const std::vector<int64_t>& ids, const std::vector<int64_t>& positions,
                          const TensorMap* overrides = nullptr) {
  torch::NoGradGuard no_grad;
  CaptureSpec spec;
  spec.layers = {kHook};
  spec.block_output = true;
  spec.positions = torch::tensor(positions, torch::kInt64).unsqueeze(0);
  ForwardInput in;
  in.tokens = torch::tensor(ids, torch::kInt64).unsqueeze(0);
  in.capture = &spec;
  in.weight_overrides = overrides;
  auto out = model.Forward(in);
  EXPECT_TRUE(out.ok()) << out.status();
  return out->captured.block_output.at(kHook)[0];
}

// A target per position: the current output plus a random shift of norm `scale`·‖h‖.
EditSequence MakeEdit(const Model& model, std::vector<int64_t> ids, std::vector<int64_t> positions, double scale) {
  torch::Tensor h = HookOutputs(model, ids, positions);
  EditSequence e{std::move(ids), std::move(positions), {}};
  for (int64_t k = 0; k < h.size(0); ++k) {
    torch::Tensor d = torch::randn({h.size(1)});
    e.targets.push_back(h[k] + scale * h[k].norm() * d / d.norm());
  }
  return e;
}

std::map<int, torch::Tensor> Identity(const Model& model, const std::vector<int>& layers) {
  std::map<int, torch::Tensor> c;
  for (int l : layers) c[l] = torch::eye(model.config().intermediate_size);
  return c;
}

TEST(MemitTest, TinyLambdaReproducesTargetsInAPaddedBatch) {
  MUKE_REQUIRE_SHARED();
  auto model = Model::Load(testing::ImportedStories260K());
  auto tokenizer = LoadTokenizer(testing::ImportedStories260K());
  ASSERT_TRUE(model.ok() && tokenizer.ok());
  torch::manual_seed(41);
  const auto long_ids = *(*tokenizer)->Encode("Once upon a time there was a big red dog who liked to run", true);
  const auto short_ids = *(*tokenizer)->Encode("Lily saw a cat", true);
  std::vector<EditSequence> batch = {MakeEdit(**model, long_ids, {4, 9}, 0.5),
                                     MakeEdit(**model, short_ids, {3}, 0.5)};
  const TensorMap before = (*model)->StateDict();
  MemitOptions o;
  o.layers = {kHook};
  o.hook_layer = kHook;
  o.lambda = 1e-6;
  auto update = MemitUpdate(**model, batch, Identity(**model, o.layers), o);
  ASSERT_TRUE(update.ok()) << update.status();
  ASSERT_EQ(update->size(), 1u);
  for (const EditSequence& e : batch) {
    torch::Tensor after = HookOutputs(**model, e.ids, e.positions, &*update);
    for (size_t k = 0; k < e.positions.size(); ++k) {
      EXPECT_LT(testing::MaxAbsDiff(after[k], e.targets[k]), 1e-3) << "position " << e.positions[k];
    }
  }
  for (const auto& [name, t] : (*model)->StateDict()) EXPECT_TRUE(torch::equal(t, before.at(name))) << name;
}

TEST(MemitTest, SpreadOverLayersShrinksTheResidual) {
  MUKE_REQUIRE_SHARED();
  auto model = Model::Load(testing::ImportedStories260K());
  auto tokenizer = LoadTokenizer(testing::ImportedStories260K());
  ASSERT_TRUE(model.ok() && tokenizer.ok());
  torch::manual_seed(42);
  const auto ids = *(*tokenizer)->Encode("One day, a little dog named Max went to the park", true);
  std::vector<EditSequence> batch = {MakeEdit(**model, ids, {5}, 0.3)};
  MemitOptions o;
  o.layers = {2, 3};
  o.hook_layer = kHook;
  o.lambda = 1.0;
  auto update = MemitUpdate(**model, batch, Identity(**model, o.layers), o);
  ASSERT_TRUE(update.ok()) << update.status();
  EXPECT_EQ(update->size(), 2u);
  const double before = (HookOutputs(**model, ids, {5})[0] - batch[0].targets[0]).norm().item<double>();
  const double after = (HookOutputs(**model, ids, {5}, &*update)[0] - batch[0].targets[0]).norm().item<double>();
  EXPECT_LT(after, 0.5 * before);
}

// AlphaEdit (ALGORITHM.md §4): with C's spectrum split into large and tiny eigenvalues, P projects onto the tiny
// ones, and the update leaves the layer's output for any key in the preserved (large-eigenvalue) subspace
// unchanged while still moving the edited positions.
TEST(MemitTest, AlphaEditLeavesPreservedKeysUnchanged) {
  MUKE_REQUIRE_SHARED();
  auto model = Model::Load(testing::ImportedStories260K());
  auto tokenizer = LoadTokenizer(testing::ImportedStories260K());
  ASSERT_TRUE(model.ok() && tokenizer.ok());
  torch::manual_seed(44);
  const int64_t I = (*model)->config().intermediate_size;
  const torch::Tensor U = std::get<0>(torch::linalg_qr(torch::randn({I, I}, torch::kFloat64)));
  torch::Tensor spectrum = torch::full({I}, 1e-3, torch::kFloat64);
  spectrum.slice(0, 0, I / 2).fill_(1.0);  // the preserved half
  const torch::Tensor C = torch::matmul(U * spectrum, U.t()).to(torch::kFloat32);
  auto P = NullSpaceProjection(C, 2e-2);
  ASSERT_TRUE(P.ok()) << P.status();
  EXPECT_LT(testing::MaxAbsDiff(torch::matmul(*P, *P), *P), 1e-5);  // a projection
  EXPECT_NEAR(P->trace().item<double>(), I - I / 2, 1e-3);           // of rank = #small eigenvalues

  const auto ids = *(*tokenizer)->Encode("One day, a little dog named Max went to the park", true);
  std::vector<EditSequence> batch = {MakeEdit(**model, ids, {5, 8}, 0.3)};
  MemitOptions o;
  o.layers = {kHook};
  o.hook_layer = kHook;
  o.null_space = {{kHook, *P}};
  auto update = MemitUpdate(**model, batch, {{kHook, C}}, o);
  ASSERT_TRUE(update.ok()) << update.status();
  const std::string name = "model.layers.3.mlp.down_proj.weight";
  const torch::Tensor delta = (update->at(name) - *(*model)->Parameter(name)).to(torch::kFloat64);
  const torch::Tensor preserved_keys = U.slice(1, 0, I / 2);  // columns with large eigenvalues
  const double leak = torch::matmul(delta, preserved_keys).abs().max().item<double>();
  const double moved = torch::matmul(delta, U.slice(1, I / 2)).abs().max().item<double>();
  EXPECT_LT(leak, 1e-6 * std::max(1.0, moved)) << "moved " << moved;
  EXPECT_GT(moved, 1e-4);
  const double before = (HookOutputs(**model, ids, {5})[0] - batch[0].targets[0]).norm().item<double>();
  const double after = (HookOutputs(**model, ids, {5}, &*update)[0] - batch[0].targets[0]).norm().item<double>();
  EXPECT_LT(after, before);
}

TEST(MemitTest, RejectsInvalidRequests) {
  auto model = testing::RandomModel(testing::TinyQwen2Config(), 43);
  MemitOptions o;
  o.layers = {1};
  o.hook_layer = 1;
  EditSequence e{{1, 2, 3}, {1}, {torch::zeros({32})}};
  EXPECT_TRUE(absl::IsInvalidArgument(MemitUpdate(*model, {e}, {}, o).status()));  // no statistics
  auto c = Identity(*model, {1});
  o.layers = {2};  // above the hook layer
  EXPECT_TRUE(absl::IsInvalidArgument(MemitUpdate(*model, {e}, Identity(*model, {2}), o).status()));
  o.layers = {1};
  e.positions = {3};  // past the sequence
  EXPECT_TRUE(absl::IsInvalidArgument(MemitUpdate(*model, {e}, c, o).status()));
}

}  // namespace
}  // namespace muke
