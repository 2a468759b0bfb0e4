// Greedy and temperature/top-p sampling: determinism per seed, the nucleus cut, and the sampled frequencies.
#include <map>

#include <gtest/gtest.h>
#include <torch/types.h>

#include "core/model/sampler.h"

namespace muke {
namespace {

TEST(SamplerTest, GreedyTakesTheFirstMaximum) {
  Sampler s({0.0, 1.0, 0});
  EXPECT_EQ(s.Next(torch::tensor({0.1f, 3.0f, -1.0f, 3.0f})), 1);
  EXPECT_EQ(s.Next(torch::tensor({5.0, 1.0}).to(torch::kBFloat16)), 0);
}

TEST(SamplerTest, SameSeedSameTokensDifferentSeedDifferentTokens) {
  torch::Tensor logits = torch::zeros({50});
  auto draw = [&](uint64_t seed) {
    Sampler s({1.0, 1.0, seed});
    std::vector<int64_t> ids;
    for (int i = 0; i < 40; ++i) ids.push_back(s.Next(logits));
    return ids;
  };
  EXPECT_EQ(draw(7), draw(7));
  EXPECT_NE(draw(7), draw(8));
}

TEST(SamplerTest, TopPKeepsOnlyTheNucleus) {
  // Probabilities 0.5, 0.3, 0.15, 0.05: top_p 0.8 keeps exactly {0, 1}.
  torch::Tensor logits = torch::log(torch::tensor({0.5, 0.3, 0.15, 0.05}));
  Sampler s({1.0, 0.8, 3});
  std::map<int64_t, int> counts;
  for (int i = 0; i < 4000; ++i) ++counts[s.Next(logits)];
  EXPECT_EQ(counts.count(2) + counts.count(3), 0u);
  EXPECT_NEAR(counts[0] / 4000.0, 0.5 / 0.8, 0.03);  // renormalised inside the nucleus
}

TEST(SamplerTest, FrequenciesFollowTheTemperatureScaledDistribution) {
  torch::Tensor logits = torch::tensor({1.0, 2.0, 0.0});
  const double T = 0.5;
  torch::Tensor p = torch::softmax(logits / T, 0);
  Sampler s({T, 1.0, 11});
  std::vector<int> counts(3);
  const int n = 20000;
  for (int i = 0; i < n; ++i) ++counts[s.Next(logits)];
  for (int k = 0; k < 3; ++k) EXPECT_NEAR(counts[k] / double(n), p[k].item<double>(), 0.015) << k;
}

}  // namespace
}  // namespace muke
