// The shift optimiser on the real stories260K model: the fast path (prefix KV cache, blocks above L only) gives
// the losses of a full recompute for every strategy and hook layer; ∇_δ of the loss matches central finite
// differences (float64 model); the norm clamp and early stop behave as ALGORITHM.md §3 says; μKE's coefficients
// come out of the affinity pre-pass in both orders; a NaN mid-optimisation is an error.
#include <gtest/gtest.h>
#include <torch/autograd.h>
#include <torch/types.h>

#include "core/edit/shift_optimizer.h"
#include "core/tokenizer/tokenizer.h"
#include "tests/test_util.h"

namespace muke {
namespace {

struct Fixture {
  std::unique_ptr<Model> model;
  std::vector<int64_t> ids;
  EditLayout layout;
};

Fixture Load(int64_t window_size, torch::ScalarType dtype = torch::kFloat32) {
  Fixture f;
  ModelLoadOptions load;
  load.dtype = dtype;
  auto model = Model::Load(testing::ImportedStories260K(), load);
  auto tokenizer = LoadTokenizer(testing::ImportedStories260K());
  EXPECT_TRUE(model.ok() && tokenizer.ok());
  f.model = std::move(*model);
  f.ids = *(*tokenizer)->Encode("Where does Tom live?", true);
  const int64_t prompt = f.ids.size();
  const auto target = *(*tokenizer)->Encode("Tom lives in a blue house next to the river.", false);
  f.ids.insert(f.ids.end(), target.begin(), target.end());
  f.layout = *MakeEditLayout(prompt, target.size(), window_size);
  return f;
}

ShiftOptions Options(int hook, int steps) {
  ShiftOptions o;
  o.hook_layer = hook;
  o.steps = steps;
  return o;
}

TEST(ShiftOptimizerTest, FastPathMatchesFullRecompute) {
  MUKE_REQUIRE_SHARED();
  Fixture f = Load(3);
  ASSERT_GE(f.layout.NumWindows(), 3);
  for (StrategyKind kind : {StrategyKind::kOneForAll, StrategyKind::kWindowByWindow, StrategyKind::kMatryoshka,
                            StrategyKind::kMuke}) {
    for (int hook : {1, 3, 4}) {
      auto strategy = MakeStrategy(kind);
      ShiftOptions fast = Options(hook, 6), full = fast;
      full.full_recompute = true;
      auto a = OptimizeShifts(*f.model, f.ids, f.layout, *strategy, fast);
      auto b = OptimizeShifts(*f.model, f.ids, f.layout, *strategy, full);
      ASSERT_TRUE(a.ok() && b.ok()) << a.status() << b.status();
      ASSERT_EQ(a->traces.size(), b->traces.size());
      for (size_t w = 0; w < a->traces.size(); ++w) {
        ASSERT_EQ(a->traces[w].losses.size(), b->traces[w].losses.size());
        for (size_t s = 0; s < a->traces[w].losses.size(); ++s) {
          EXPECT_NEAR(a->traces[w].losses[s], b->traces[w].losses[s], 1e-4)
              << StrategyName(kind) << " hook " << hook << " window " << w << " step " << s;
        }
        EXPECT_LT(testing::MaxAbsDiff(a->targets[w], b->targets[w]), 1e-3);
      }
    }
  }
}

TEST(ShiftOptimizerTest, GradientMatchesFiniteDifferences) {
  MUKE_REQUIRE_SHARED();
  Fixture f = Load(4, torch::kFloat64);
  auto strategy = MakeStrategy(StrategyKind::kMatryoshka);
  const ShiftOptions o = Options(2, 1);
  auto objective = strategy->Objective(f.layout, 1, {});
  ASSERT_TRUE(objective.ok());
  torch::manual_seed(7);
  // A fixed earlier shift at window 0, so the prefix cache carries a shift too.
  std::vector<BlockShift> fixed = {{2, 0, f.layout.ShiftPosition(0), torch::randn({64}, torch::kFloat64)}};
  torch::Tensor delta = torch::randn({64}, torch::kFloat64).requires_grad_(true);
  auto loss = ShiftLoss(*f.model, f.ids, f.layout, *objective, fixed, delta, o);
  ASSERT_TRUE(loss.ok()) << loss.status();
  const torch::Tensor grad = torch::autograd::grad({*loss}, {delta})[0];
  torch::NoGradGuard no_grad;
  const double eps = 1e-5;
  for (int64_t i : {0, 17, 40, 63}) {
    torch::Tensor plus = delta.detach().clone(), minus = delta.detach().clone();
    plus[i] += eps;
    minus[i] -= eps;
    const double fd = ((*ShiftLoss(*f.model, f.ids, f.layout, *objective, fixed, plus, o)).item<double>() -
                       (*ShiftLoss(*f.model, f.ids, f.layout, *objective, fixed, minus, o)).item<double>()) /
                      (2 * eps);
    EXPECT_NEAR(grad[i].item<double>(), fd, 1e-6 + 1e-5 * std::abs(fd)) << "component " << i;
  }
}

TEST(ShiftOptimizerTest, ClampKeepsEveryShiftWithinItsNormBound) {
  MUKE_REQUIRE_SHARED();
  Fixture f = Load(5);
  ShiftOptions o = Options(3, 15);
  o.max_norm_ratio = 0.05;
  auto result = OptimizeShifts(*f.model, f.ids, f.layout, *MakeStrategy(StrategyKind::kWindowByWindow), o);
  ASSERT_TRUE(result.ok()) << result.status();
  for (size_t w = 0; w < result->deltas.size(); ++w) {
    const torch::Tensor h = result->targets[w] - result->deltas[w];
    EXPECT_LE(result->deltas[w].norm().item<double>(), 0.05 * h.norm().item<double>() * (1 + 1e-5)) << w;
    EXPECT_TRUE(result->traces[w].clamped) << w;
  }
}

TEST(ShiftOptimizerTest, EarlyStopAndStepBudget) {
  MUKE_REQUIRE_SHARED();
  Fixture f = Load(5);
  auto strategy = MakeStrategy(StrategyKind::kWindowByWindow);
  ShiftOptions stop_at_once = Options(3, 10);
  stop_at_once.early_stop_loss = 1e9;
  auto stopped = OptimizeShifts(*f.model, f.ids, f.layout, *strategy, stop_at_once);
  ASSERT_TRUE(stopped.ok());
  for (const ShiftTrace& t : stopped->traces) {
    EXPECT_TRUE(t.early_stopped);
    EXPECT_EQ(t.steps, 0);
    EXPECT_EQ(t.losses.size(), 1u);
  }
  ShiftOptions never = Options(3, 10);
  never.early_stop_loss = 0;
  auto full = OptimizeShifts(*f.model, f.ids, f.layout, *strategy, never);
  ASSERT_TRUE(full.ok());
  for (const ShiftTrace& t : full->traces) {
    EXPECT_FALSE(t.early_stopped);
    EXPECT_EQ(t.steps, 9);  // the last of 10 forwards only measures
    EXPECT_EQ(t.losses.size(), 10u);
    EXPECT_LT(t.losses.back(), t.losses.front()) << "window " << t.window;
  }
  auto before = TargetNll(*f.model, f.ids, f.layout);
  std::vector<BlockShift> shifts;
  for (size_t w = 0; w < full->deltas.size(); ++w) shifts.push_back({3, 0, full->positions[w], full->deltas[w]});
  auto hooked = TargetNll(*f.model, f.ids, f.layout, shifts);
  ASSERT_TRUE(before.ok() && hooked.ok());
  EXPECT_LT(*hooked, *before);
}

TEST(ShiftOptimizerTest, MukeCoefficientsComeFromTheAffinityPrePassInBothOrders) {
  MUKE_REQUIRE_SHARED();
  Fixture f = Load(3);
  const int n = f.layout.NumWindows();
  ShiftOptions intended = Options(3, 3), reference = intended;
  reference.coefficient_order = CoefficientOrder::kReference;
  auto a = OptimizeShifts(*f.model, f.ids, f.layout, *MakeStrategy(StrategyKind::kMuke), intended);
  auto b = OptimizeShifts(*f.model, f.ids, f.layout, *MakeStrategy(StrategyKind::kMuke), reference);
  ASSERT_TRUE(a.ok() && b.ok());
  for (int w = 0; w < n; ++w) {
    const auto& c = a->traces[w].coefficients;
    ASSERT_EQ(static_cast<int>(c.size()), n - w);
    EXPECT_DOUBLE_EQ(c.front(), 1.0);  // a_{w,w} = 1
    for (double x : c) EXPECT_TRUE(x >= 1.0 - 1e-9 && x <= 3.0) << x;
  }
  // Window 0's affinities do not depend on the order, so the reference list is the intended one reversed.
  std::vector<double> reversed(a->traces[0].coefficients.rbegin(), a->traces[0].coefficients.rend());
  ASSERT_EQ(b->traces[0].coefficients.size(), reversed.size());
  for (size_t i = 0; i < reversed.size(); ++i) EXPECT_NEAR(b->traces[0].coefficients[i], reversed[i], 1e-12);
  // The pre-pass found figures that disagree with the first window: not every coefficient is 1.
  EXPECT_GT(*std::max_element(a->traces[0].coefficients.begin(), a->traces[0].coefficients.end()), 1.0 + 1e-6);
}

// With the hook at the last block a shift reaches only its own position, so every later figure's gradient is 0:
// all affinities are 1, μKE's coefficients are all 1, and μKE optimises exactly what vanilla Matryoshka does.
TEST(ShiftOptimizerTest, MukeEqualsMatryoshkaWhenNoBlockIsAboveTheHook) {
  MUKE_REQUIRE_SHARED();
  Fixture f = Load(3);
  const ShiftOptions o = Options(4, 5);
  auto muke = OptimizeShifts(*f.model, f.ids, f.layout, *MakeStrategy(StrategyKind::kMuke), o);
  auto vanilla = OptimizeShifts(*f.model, f.ids, f.layout, *MakeStrategy(StrategyKind::kMatryoshka), o);
  ASSERT_TRUE(muke.ok() && vanilla.ok());
  for (size_t w = 0; w < muke->traces.size(); ++w) {
    for (double c : muke->traces[w].coefficients) EXPECT_NEAR(c, 1.0, 1e-6) << "window " << w;
    EXPECT_LT(testing::MaxAbsDiff(muke->targets[w], vanilla->targets[w]), 1e-4) << "window " << w;
  }
}

TEST(ShiftOptimizerTest, NanMidOptimisationIsAnError) {
  MUKE_REQUIRE_SHARED();
  Fixture f = Load(5);
  ShiftOptions o = Options(3, 10);
  o.inject_nan_after_steps = 12;
  auto result = OptimizeShifts(*f.model, f.ids, f.layout, *MakeStrategy(StrategyKind::kMatryoshka), o);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInternal);
  EXPECT_NE(result.status().message().find("non-finite loss at window 1"), std::string::npos) << result.status();
}

TEST(ShiftOptimizerTest, BadOptionsNameTheField) {
  MUKE_REQUIRE_SHARED();
  Fixture f = Load(5);
  auto strategy = MakeStrategy(StrategyKind::kOneForAll);
  auto bad_hook = OptimizeShifts(*f.model, f.ids, f.layout, *strategy, Options(5, 10));
  EXPECT_EQ(bad_hook.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad_hook.status().message().find("hook_layer 5"), std::string::npos);
  auto bad_steps = OptimizeShifts(*f.model, f.ids, f.layout, *strategy, Options(3, 0));
  EXPECT_NE(bad_steps.status().message().find("steps"), std::string::npos);
  std::vector<int64_t> short_ids(f.ids.begin(), f.ids.end() - 1);
  EXPECT_FALSE(OptimizeShifts(*f.model, short_ids, f.layout, *strategy, Options(3, 10)).ok());
}

}  // namespace
}  // namespace muke
