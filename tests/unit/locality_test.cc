// The locality probe on the real stories260K model: the unedited weights score exactly 1 / 0, a small weight
// perturbation gives a small positive KL, a large one changes continuations; bad input is INVALID_ARGUMENT.
#include <gtest/gtest.h>
#include <torch/types.h>

#include "core/eval/benchmark.h"
#include "core/eval/locality.h"
#include "core/tokenizer/tokenizer.h"
#include "tests/test_util.h"

namespace muke {
namespace {

TEST(LocalityTest, UnchangedWeightsScorePerfectlyAndPerturbationsDoNot) {
  MUKE_REQUIRE_SHARED();
  auto model = Model::Load(testing::ImportedStories260K());
  auto tokenizer = LoadTokenizer(testing::ImportedStories260K());
  ASSERT_TRUE(model.ok() && tokenizer.ok());
  std::vector<std::vector<int64_t>> prompts;
  for (const std::string& p : DefaultLocalityPrompts()) prompts.push_back(*(*tokenizer)->Encode(p, true));
  auto baseline = RecordLocality(**model, prompts, 16);
  ASSERT_TRUE(baseline.ok()) << baseline.status();
  ASSERT_EQ(baseline->continuations.size(), prompts.size());
  for (const auto& c : baseline->continuations) EXPECT_EQ(c.size(), 16u);

  auto same = MeasureLocality(**model, *baseline, nullptr);
  ASSERT_TRUE(same.ok()) << same.status();
  EXPECT_EQ(same->unchanged, 1.0);
  EXPECT_EQ(same->top1_agreement, 1.0);
  EXPECT_NEAR(same->mean_kl, 0.0, 1e-6);

  const std::string name = "model.layers.4.mlp.down_proj.weight";
  const torch::Tensor w = *(*model)->Parameter(name);
  torch::manual_seed(3);
  TensorMap small = {{name, w + 1e-3 * torch::randn_like(w)}};
  TensorMap large = {{name, w + 0.5 * torch::randn_like(w)}};
  auto a = MeasureLocality(**model, *baseline, &small);
  auto b = MeasureLocality(**model, *baseline, &large);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_GT(a->mean_kl, 0.0);
  EXPECT_GT(b->mean_kl, a->mean_kl);
  EXPECT_LT(b->unchanged, 1.0);
  EXPECT_LT(b->top1_agreement, 1.0);
  EXPECT_GE(b->unchanged, 0.0);
}

TEST(LocalityTest, RejectsEmptyProbes) {
  auto model = testing::RandomModel(testing::TinyQwen2Config(), 5);
  EXPECT_EQ(RecordLocality(*model, {}, 8).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RecordLocality(*model, {{}}, 8).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RecordLocality(*model, {{1, 2}}, 0).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace muke
