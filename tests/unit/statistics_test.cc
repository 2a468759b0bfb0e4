// Second-moment statistics on the real stories260K model: shape and symmetry, positive semi-definiteness,
// the value against a batched left-padded recomputation, progress reporting, and the on-disk cache keyed by
// model fingerprint and corpus.
#include <filesystem>

#include <gtest/gtest.h>
#include <torch/types.h>
#include <torch/linalg.h>
#include <torch/utils.h>

#include "core/edit/statistics.h"
#include "core/model/fingerprint.h"
#include "tests/test_util.h"

namespace muke {
namespace {

struct Stories {
  std::unique_ptr<Model> model;
  std::unique_ptr<Tokenizer> tokenizer;
};

Stories LoadStories() {
  auto model = Model::Load(testing::ImportedStories260K());
  auto tokenizer = LoadTokenizer(testing::ImportedStories260K());
  EXPECT_TRUE(model.ok() && tokenizer.ok());
  return {std::move(model).value(), std::move(tokenizer).value()};
}

TEST(StatisticsTest, SelfSampledMomentsAreSymmetricPsdAndCached) {
  MUKE_REQUIRE_SHARED();
  Stories s = LoadStories();
  StatisticsOptions o;
  o.num_samples = 6;
  o.sample_tokens = 40;
  o.batch_size = 4;
  o.cache_dir = testing::MakeTempDir("stats");
  int calls = 0;
  o.progress = [&](int64_t done, int64_t total) {
    ++calls;
    EXPECT_EQ(total, 6);
    EXPECT_LE(done, total);
  };
  auto first = ComputeSecondMoments(*s.model, *s.tokenizer, {1, 3}, o);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->from_cache);
  EXPECT_EQ(calls, 6);
  EXPECT_GT(first->num_keys, 6);
  for (auto& [layer, c] : first->by_layer) {
    ASSERT_EQ(c.sizes(), torch::IntArrayRef({172, 172}));
    EXPECT_LT(testing::MaxAbsDiff(c, c.t()), 1e-6);
    EXPECT_GT(torch::linalg::eigvalsh(c.to(torch::kFloat64), "L").min().item<double>(), -1e-6);
    EXPECT_GT(c.diagonal().sum().item<double>(), 0.0);
  }

  calls = 0;
  auto second = ComputeSecondMoments(*s.model, *s.tokenizer, {1, 3}, o);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_TRUE(second->from_cache);
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(second->num_keys, first->num_keys);
  EXPECT_TRUE(torch::equal(second->by_layer.at(3), first->by_layer.at(3)));

  o.seed = 1;  // another corpus: not the cached one
  auto other = ComputeSecondMoments(*s.model, *s.tokenizer, {1, 3}, o);
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(other->from_cache);
  EXPECT_FALSE(torch::equal(other->by_layer.at(3), first->by_layer.at(3)));
}

TEST(StatisticsTest, NullSpaceProjectionIsCachedBesideTheMoments) {
  MUKE_REQUIRE_SHARED();
  Stories s = LoadStories();
  StatisticsOptions o;
  o.num_samples = 6;
  o.sample_tokens = 40;
  o.cache_dir = testing::MakeTempDir("nullspace");
  o.null_space_threshold = 0.1;
  auto first = ComputeSecondMoments(*s.model, *s.tokenizer, {3}, o);
  ASSERT_TRUE(first.ok()) << first.status();
  const torch::Tensor& P = first->null_space.at(3);
  EXPECT_LT(testing::MaxAbsDiff(torch::matmul(P, P), P), 1e-4);  // a projection
  EXPECT_LT(testing::MaxAbsDiff(P, P.t()), 1e-6);
  // It removes exactly the eigen-directions of C at or above the threshold.
  auto [values, vectors] = torch::linalg_eigh(first->by_layer.at(3).to(torch::kFloat64));
  const torch::Tensor kept = vectors.index({torch::indexing::Slice(), values >= 0.1}).to(torch::kFloat32);
  EXPECT_LT(torch::matmul(P, kept).abs().max().item<double>(), 1e-4);
  EXPECT_NEAR(P.trace().item<double>(), (values < 0.1).sum().item<double>(), 1e-3);
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(o.cache_dir)) {
    files += entry.path().filename().string().rfind("nullspace-", 0) == 0;
  }
  EXPECT_EQ(files, 1);
  auto second = ComputeSecondMoments(*s.model, *s.tokenizer, {3}, o);
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(second->from_cache);
  EXPECT_TRUE(torch::equal(second->null_space.at(3), P));
}

TEST(StatisticsTest, CorpusMomentsMatchABatchedRecomputation) {
  MUKE_REQUIRE_SHARED();
  Stories s = LoadStories();
  StatisticsOptions o;
  o.corpus = {"Once upon a time, there was a little dog.", "Lily and Ben went to the park to play."};
  auto stats = ComputeSecondMoments(*s.model, *s.tokenizer, {2}, o);
  ASSERT_TRUE(stats.ok()) << stats.status();

  // Both texts in one left-padded batch; keys of real positions only.
  auto a = *s.tokenizer->Encode(o.corpus[0], true), b = *s.tokenizer->Encode(o.corpus[1], true);
  const int64_t S = std::max(a.size(), b.size());
  auto pad = [&](std::vector<int64_t> ids) {
    ids.insert(ids.begin(), S - ids.size(), 0);
    return torch::tensor(ids);
  };
  ForwardInput in;
  in.tokens = torch::stack({pad(a), pad(b)});
  in.attention_mask = torch::zeros({2, S}, torch::kInt64);
  in.attention_mask[0].slice(0, S - a.size()).fill_(1);
  in.attention_mask[1].slice(0, S - b.size()).fill_(1);
  CaptureSpec spec;
  spec.layers = {2};
  spec.mlp_key = true;
  in.capture = &spec;
  torch::NoGradGuard no_grad;
  auto out = s.model->Forward(in);
  ASSERT_TRUE(out.ok());
  torch::Tensor keys = out->captured.mlp_key.at(2).to(torch::kFloat64);                        // [2, S, I]
  torch::Tensor real = keys.index({in.attention_mask.to(torch::kBool)});                       // [n, I]
  torch::Tensor expected = torch::matmul(real.t(), real) / static_cast<double>(real.size(0));
  EXPECT_EQ(stats->num_keys, real.size(0));
  EXPECT_LT(testing::MaxAbsDiff(stats->by_layer.at(2), expected), 1e-4 * expected.abs().max().item<double>());
}

TEST(StatisticsTest, FingerprintFollowsTheWeights) {
  auto model = testing::RandomModel(testing::TinyQwen2Config(), 31);
  const std::string before = ModelFingerprint(*model);
  EXPECT_EQ(before.size(), 16u);
  EXPECT_EQ(ModelFingerprint(*model), before);
  auto down = *model->Parameter("model.layers.1.mlp.down_proj.weight");
  ASSERT_TRUE(model->SetParameter("model.layers.1.mlp.down_proj.weight", down + 1e-3).ok());
  EXPECT_NE(ModelFingerprint(*model), before);
}

TEST(StatisticsTest, RejectsBadOptions) {
  auto model = testing::RandomModel(testing::TinyQwen2Config(), 32);
  MUKE_REQUIRE_SHARED();
  auto tokenizer = LoadTokenizer(testing::ImportedStories260K());
  ASSERT_TRUE(tokenizer.ok());
  StatisticsOptions o;
  EXPECT_TRUE(absl::IsInvalidArgument(ComputeSecondMoments(*model, **tokenizer, {7}, o).status()));
  o.sample_tokens = 100000;
  EXPECT_TRUE(absl::IsInvalidArgument(ComputeSecondMoments(*model, **tokenizer, {1}, o).status()));
}

}  // namespace
}  // namespace muke
