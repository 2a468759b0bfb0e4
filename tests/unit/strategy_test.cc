// Edit layouts (windows, shift positions, sequence lengths) and the per-window objectives of the four
// memory-update strategies, with the μKE coefficient mapping in both orders (ALGORITHM.md §2–3).
#include <cmath>
#include <numeric>
#include <string>

#include <gtest/gtest.h>

#include "core/edit/strategy.h"
#include "core/edit/windows.h"

namespace muke {
namespace {

constexpr double kTol = 1e-12;

EditLayout Layout(int64_t p, int64_t t, int64_t w) {
  absl::StatusOr<EditLayout> layout = MakeEditLayout(p, t, w);
  EXPECT_TRUE(layout.ok()) << layout.status();
  return *layout;
}

std::vector<std::pair<int64_t, int64_t>> Bounds(const EditLayout& layout) {
  std::vector<std::pair<int64_t, int64_t>> bounds;
  for (const Window& w : layout.windows) bounds.emplace_back(w.begin, w.end);
  return bounds;
}

WindowObjective Objective(const Strategy& strategy, const EditLayout& layout, int w,
                          const std::vector<double>& coefficients = {}) {
  absl::StatusOr<WindowObjective> objective = strategy.Objective(layout, w, coefficients);
  EXPECT_TRUE(objective.ok()) << objective.status();
  return objective.ok() ? *objective : WindowObjective{};
}

void ExpectWeights(const std::vector<double>& actual, const std::vector<double>& expected) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t t = 0; t < expected.size(); ++t) EXPECT_NEAR(actual[t], expected[t], kTol) << "token " << t;
}

double Sum(const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0); }

// ---- Layouts -------------------------------------------------------------------------------------------------

TEST(EditLayoutTest, TargetDivisibleByWindow) {
  // P=4, T=6, W=3: windows [0,3) [3,6); p_w = P-1+s_w = 3, 6; the model sees 4+6-1 = 9 positions.
  EditLayout layout = Layout(4, 6, 3);
  EXPECT_EQ(Bounds(layout), (std::vector<std::pair<int64_t, int64_t>>{{0, 3}, {3, 6}}));
  EXPECT_EQ(layout.NumWindows(), 2);
  EXPECT_EQ(layout.ShiftPosition(0), 3);
  EXPECT_EQ(layout.ShiftPosition(1), 6);
  EXPECT_EQ(layout.SequenceLength(), 9);
}

TEST(EditLayoutTest, LastWindowIsShort) {
  // P=4, T=7, W=3: windows [0,3) [3,6) [6,7); shifts at 3, 6, 9. Position 9 = P-1+6 predicts the last target
  // token and is the last position of the 10-long sequence.
  EditLayout layout = Layout(4, 7, 3);
  EXPECT_EQ(Bounds(layout), (std::vector<std::pair<int64_t, int64_t>>{{0, 3}, {3, 6}, {6, 7}}));
  EXPECT_EQ(layout.windows[2].size(), 1);
  EXPECT_EQ(layout.ShiftPosition(0), 3);
  EXPECT_EQ(layout.ShiftPosition(1), 6);
  EXPECT_EQ(layout.ShiftPosition(2), 9);
  EXPECT_EQ(layout.SequenceLength(), 10);
  EXPECT_EQ(layout.ShiftPosition(2), layout.SequenceLength() - 1);
}

TEST(EditLayoutTest, WindowLargerThanTarget) {
  EditLayout layout = Layout(5, 3, 10);
  EXPECT_EQ(Bounds(layout), (std::vector<std::pair<int64_t, int64_t>>{{0, 3}}));
  EXPECT_EQ(layout.ShiftPosition(0), 4);
  EXPECT_EQ(layout.SequenceLength(), 7);
}

TEST(EditLayoutTest, SinglePromptToken) {
  // P=1: the first shift sits on the only prompt token, position 0.
  EditLayout layout = Layout(1, 4, 2);
  EXPECT_EQ(Bounds(layout), (std::vector<std::pair<int64_t, int64_t>>{{0, 2}, {2, 4}}));
  EXPECT_EQ(layout.ShiftPosition(0), 0);
  EXPECT_EQ(layout.ShiftPosition(1), 2);
  EXPECT_EQ(layout.SequenceLength(), 4);
}

TEST(EditLayoutTest, OneTokenWindowsShiftEveryPredictingPosition) {
  EditLayout layout = Layout(3, 5, 1);
  ASSERT_EQ(layout.NumWindows(), 5);
  for (int w = 0; w < 5; ++w) {
    EXPECT_EQ(layout.windows[w].begin, w);
    EXPECT_EQ(layout.windows[w].end, w + 1);
    EXPECT_EQ(layout.ShiftPosition(w), 2 + w);
  }
  EXPECT_EQ(layout.SequenceLength(), 7);
}

TEST(EditLayoutTest, InvalidSizesNameTheFieldAndValue) {
  struct Case {
    int64_t p, t, w;
    std::string message;
  };
  for (const Case& c : {Case{0, 5, 2, "prompt_tokens must be >= 1, got 0"},
                        Case{-3, 5, 2, "prompt_tokens must be >= 1, got -3"},
                        Case{4, 0, 2, "target_tokens must be >= 1, got 0"},
                        Case{4, 5, 0, "window_size must be >= 1, got 0"},
                        Case{4, 5, -1, "window_size must be >= 1, got -1"}}) {
    absl::StatusOr<EditLayout> layout = MakeEditLayout(c.p, c.t, c.w);
    ASSERT_FALSE(layout.ok()) << c.message;
    EXPECT_EQ(layout.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(layout.status().message(), c.message);
  }
}

// ---- Names and properties ------------------------------------------------------------------------------------

TEST(StrategyTest, NamesRoundTrip) {
  for (StrategyKind kind : {StrategyKind::kOneForAll, StrategyKind::kWindowByWindow, StrategyKind::kMatryoshka,
                            StrategyKind::kMuke}) {
    absl::StatusOr<StrategyKind> parsed = ParseStrategy(StrategyName(kind));
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, kind);
    EXPECT_EQ(MakeStrategy(kind)->kind(), kind);
  }
  EXPECT_EQ(StrategyName(StrategyKind::kWindowByWindow), "window_by_window");
}

TEST(StrategyTest, UnknownNameIsAnError) {
  for (const char* name : {"", "MUKE", "anyedit", "one-for-all"}) {
    absl::StatusOr<StrategyKind> parsed = ParseStrategy(name);
    ASSERT_FALSE(parsed.ok()) << name;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(parsed.status().message().find("one_for_all, window_by_window, matryoshka or muke"),
              std::string::npos);
  }
}

TEST(StrategyTest, ShiftCountsAndAffinityNeed) {
  EditLayout layout = Layout(4, 7, 3);  // N = 3
  EXPECT_EQ(MakeStrategy(StrategyKind::kOneForAll)->NumShifts(layout), 1);
  EXPECT_EQ(MakeStrategy(StrategyKind::kWindowByWindow)->NumShifts(layout), 3);
  EXPECT_EQ(MakeStrategy(StrategyKind::kMatryoshka)->NumShifts(layout), 3);
  EXPECT_EQ(MakeStrategy(StrategyKind::kMuke)->NumShifts(layout), 3);
  EXPECT_FALSE(MakeStrategy(StrategyKind::kOneForAll)->NeedsAffinity());
  EXPECT_FALSE(MakeStrategy(StrategyKind::kWindowByWindow)->NeedsAffinity());
  EXPECT_FALSE(MakeStrategy(StrategyKind::kMatryoshka)->NeedsAffinity());
  EXPECT_TRUE(MakeStrategy(StrategyKind::kMuke)->NeedsAffinity());
}

// ---- Objectives for P=4, T=7, W=3: windows [0,3) [3,6) [6,7), N = 3 --------------------------------------------

TEST(StrategyTest, OneForAllWeighsEveryTokenOneOverT) {
  EditLayout layout = Layout(4, 7, 3);
  auto strategy = MakeStrategy(StrategyKind::kOneForAll);
  WindowObjective objective = Objective(*strategy, layout, 0);
  EXPECT_EQ(objective.sequence_length, 10);
  EXPECT_EQ(objective.shift_window, 0);
  ExpectWeights(objective.target_weights, std::vector<double>(7, 1.0 / 7));
  EXPECT_NEAR(Sum(objective.target_weights), 1.0, kTol);
  // A single δ: there is no shift 1.
  absl::StatusOr<WindowObjective> second = strategy->Objective(layout, 1, {});
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(second.status().message(), "one_for_all: shift index 1 out of range [0, 1)");
}

TEST(StrategyTest, WindowByWindowGrowsThePrefixAndAveragesOverItsWindow) {
  EditLayout layout = Layout(4, 7, 3);
  auto strategy = MakeStrategy(StrategyKind::kWindowByWindow);
  // w=0: prompt + window 0 = cat(4 prompt, 3 target)[:-1] = 6 positions; 1/3 on tokens 0..2.
  WindowObjective w0 = Objective(*strategy, layout, 0);
  EXPECT_EQ(w0.sequence_length, 6);
  EXPECT_EQ(w0.shift_window, 0);
  ExpectWeights(w0.target_weights, {1.0 / 3, 1.0 / 3, 1.0 / 3, 0, 0, 0, 0});
  // w=1: prompt + windows 0..1 = 4+6-1 = 9 positions; 1/3 on tokens 3..5.
  WindowObjective w1 = Objective(*strategy, layout, 1);
  EXPECT_EQ(w1.sequence_length, 9);
  EXPECT_EQ(w1.shift_window, 1);
  ExpectWeights(w1.target_weights, {0, 0, 0, 1.0 / 3, 1.0 / 3, 1.0 / 3, 0});
  // w=2: the whole sequence (10 positions); the 1-token window weighs 1.
  WindowObjective w2 = Objective(*strategy, layout, 2);
  EXPECT_EQ(w2.sequence_length, 10);
  EXPECT_EQ(w2.shift_window, 2);
  ExpectWeights(w2.target_weights, {0, 0, 0, 0, 0, 0, 1});
  for (const WindowObjective* o : {&w0, &w1, &w2}) EXPECT_NEAR(Sum(o->target_weights), 1.0, kTol);
}

TEST(StrategyTest, VanillaMatryoshkaWeightsByHand) {
  EditLayout layout = Layout(4, 7, 3);
  auto strategy = MakeStrategy(StrategyKind::kMatryoshka);
  // w=0: token in window m weighs (N-m)/(N-w)/(T-s_w) = (3-m)/3/7: 3/21, 2/21, 1/21.
  // Sum = 3·3/21 + 3·2/21 + 1·1/21 = 16/21.
  WindowObjective w0 = Objective(*strategy, layout, 0, {7, 7, 7});  // coefficients are ignored
  EXPECT_EQ(w0.sequence_length, 10);
  EXPECT_EQ(w0.shift_window, 0);
  ExpectWeights(w0.target_weights, {1.0 / 7, 1.0 / 7, 1.0 / 7, 2.0 / 21, 2.0 / 21, 2.0 / 21, 1.0 / 21});
  EXPECT_NEAR(Sum(w0.target_weights), 16.0 / 21, kTol);
  // w=1: (3-m)/2/4 for m = 1, 2: 1/4, 1/8; nothing before s_1 = 3. Sum = 3/4 + 1/8 = 7/8.
  WindowObjective w1 = Objective(*strategy, layout, 1);
  EXPECT_EQ(w1.sequence_length, 10);
  EXPECT_EQ(w1.shift_window, 1);
  ExpectWeights(w1.target_weights, {0, 0, 0, 0.25, 0.25, 0.25, 0.125});
  EXPECT_NEAR(Sum(w1.target_weights), 7.0 / 8, kTol);
  // w=2: the last window has only itself: 1/1/1.
  WindowObjective w2 = Objective(*strategy, layout, 2);
  ExpectWeights(w2.target_weights, {0, 0, 0, 0, 0, 0, 1});
}

TEST(StrategyTest, VanillaMatryoshkaMatchesTheClosedFormOnALargerLayout) {
  EditLayout layout = Layout(3, 23, 4);  // N = 6, last window [20, 23)
  auto strategy = MakeStrategy(StrategyKind::kMatryoshka);
  const int n = layout.NumWindows();
  ASSERT_EQ(n, 6);
  for (int w = 0; w < n; ++w) {
    WindowObjective objective = Objective(*strategy, layout, w);
    const double s_w = static_cast<double>(layout.windows[w].begin);
    for (int m = 0; m < n; ++m) {
      const double expected = m < w ? 0.0 : double(n - m) / (n - w) / (23 - s_w);
      for (int64_t t = layout.windows[m].begin; t < layout.windows[m].end; ++t) {
        EXPECT_NEAR(objective.target_weights[t], expected, kTol) << "w=" << w << " t=" << t;
      }
    }
  }
}

TEST(StrategyTest, ObjectiveRejectsShiftOutOfRange) {
  EditLayout layout = Layout(4, 7, 3);
  for (StrategyKind kind : {StrategyKind::kWindowByWindow, StrategyKind::kMatryoshka, StrategyKind::kMuke}) {
    auto strategy = MakeStrategy(kind);
    for (int w : {-1, 3}) {
      absl::StatusOr<WindowObjective> objective = strategy->Objective(layout, w, {1, 1, 1});
      ASSERT_FALSE(objective.ok()) << StrategyName(kind) << " " << w;
      EXPECT_EQ(objective.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_NE(objective.status().message().find("out of range [0, 3)"), std::string::npos);
    }
  }
}

// ---- μKE coefficients --------------------------------------------------------------------------------------------

std::vector<double> Coefficients(const std::vector<double>& affinities, CoefficientOrder order) {
  absl::StatusOr<std::vector<double>> c = MukeCoefficients(affinities, order);
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *c : std::vector<double>{};
}

TEST(MukeCoefficientsTest, IntendedAndReferenceOrderForThreeWindows) {
  // Window w=0 of N=3, measured a_{0,0} = 1, a_{0,1} = 0.2, a_{0,2} = -0.4.
  // Intended: c_j = 2 - a_{0,j} = [1, 1.8, 2.4]; the smallest figure F_0 (window 0 alone) gets 1.
  ExpectWeights(Coefficients({1, 0.2, -0.4}, CoefficientOrder::kIntended), {1, 1.8, 2.4});
  // Reference: the affinity measured for F_{0+k} is used for F_{N-1-k} = F_{2-k}:
  //   k=0: a_{0,0} = 1 → F_2 gets 1;  k=1: a_{0,1} = 0.2 → F_1 gets 1.8;  k=2: a_{0,2} = -0.4 → F_0 gets 2.4.
  // So c = [2.4, 1.8, 1]: the whole list reversed, the largest figure gets the fixed 1.
  ExpectWeights(Coefficients({1, 0.2, -0.4}, CoefficientOrder::kReference), {2.4, 1.8, 1});
  // Window w=1 of N=3: a_{1,1} = 1, a_{1,2} = 0.5. Intended [1, 1.5]; reference F_{1+k} → F_{2-k}: [1.5, 1].
  ExpectWeights(Coefficients({1, 0.5}, CoefficientOrder::kIntended), {1, 1.5});
  ExpectWeights(Coefficients({1, 0.5}, CoefficientOrder::kReference), {1.5, 1});
  // The last window has only itself: c = [1] either way.
  ExpectWeights(Coefficients({1}, CoefficientOrder::kIntended), {1});
  ExpectWeights(Coefficients({1}, CoefficientOrder::kReference), {1});
}

TEST(MukeCoefficientsTest, ToleratesRoundingJustBeyondOne) {
  ExpectWeights(Coefficients({1.00001f, -1.00001f}, CoefficientOrder::kIntended),
                {2 - double(1.00001f), 2 + double(1.00001f)});
}

TEST(MukeCoefficientsTest, RejectsWhatIsNotACosine) {
  for (const std::vector<double>& affinities :
       {std::vector<double>{}, {1, 1.5}, {1, -2}, {1, std::nan("")}, {INFINITY}}) {
    absl::StatusOr<std::vector<double>> c = MukeCoefficients(affinities, CoefficientOrder::kIntended);
    ASSERT_FALSE(c.ok()) << affinities.size();
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(MukeCoefficients({1, 1.5}, CoefficientOrder::kIntended).status().message(),
            "muke: affinity 1 is not a cosine in [-1, 1]: 1.5");
}

TEST(MukeStrategyTest, WeightsInBothOrdersByHand) {
  EditLayout layout = Layout(4, 7, 3);
  auto strategy = MakeStrategy(StrategyKind::kMuke);
  // w=0, normaliser (N-w)(T-s_w) = 3·7 = 21. Intended c = [1, 1.8, 2.4]: suffix sums S_2 = 2.4, S_1 = 4.2,
  // S_0 = 5.2, so windows 0/1/2 weigh 5.2/21, 4.2/21 (= 0.2), 2.4/21.
  WindowObjective intended =
      Objective(*strategy, layout, 0, Coefficients({1, 0.2, -0.4}, CoefficientOrder::kIntended));
  EXPECT_EQ(intended.sequence_length, 10);
  EXPECT_EQ(intended.shift_window, 0);
  ExpectWeights(intended.target_weights, {5.2 / 21, 5.2 / 21, 5.2 / 21, 0.2, 0.2, 0.2, 2.4 / 21});
  // Reference c = [2.4, 1.8, 1]: S_2 = 1, S_1 = 2.8, S_0 = 5.2 — window 0 weighs the same (S_0 is the total of all
  // coefficients either way); the later windows weigh less than with the intended order.
  WindowObjective reference =
      Objective(*strategy, layout, 0, Coefficients({1, 0.2, -0.4}, CoefficientOrder::kReference));
  ExpectWeights(reference.target_weights, {5.2 / 21, 5.2 / 21, 5.2 / 21, 2.8 / 21, 2.8 / 21, 2.8 / 21, 1.0 / 21});
  // w=1, normaliser 2·4 = 8, intended c = [1, 1.5]: window 1 weighs 2.5/8, window 2 1.5/8.
  WindowObjective w1 = Objective(*strategy, layout, 1, Coefficients({1, 0.5}, CoefficientOrder::kIntended));
  EXPECT_EQ(w1.shift_window, 1);
  ExpectWeights(w1.target_weights, {0, 0, 0, 2.5 / 8, 2.5 / 8, 2.5 / 8, 1.5 / 8});
}

TEST(MukeStrategyTest, UnitAffinitiesReduceToVanillaMatryoshka) {
  EditLayout layout = Layout(2, 11, 2);  // N = 6
  auto muke = MakeStrategy(StrategyKind::kMuke);
  auto vanilla = MakeStrategy(StrategyKind::kMatryoshka);
  for (int w = 0; w < layout.NumWindows(); ++w) {
    std::vector<double> ones(layout.NumWindows() - w, 1.0);
    std::vector<double> c = Coefficients(ones, CoefficientOrder::kReference);
    ExpectWeights(Objective(*muke, layout, w, c).target_weights, Objective(*vanilla, layout, w).target_weights);
  }
}

TEST(MukeStrategyTest, RejectsCoefficientsOfTheWrongSizeOrNonFinite) {
  EditLayout layout = Layout(4, 7, 3);
  auto strategy = MakeStrategy(StrategyKind::kMuke);
  absl::StatusOr<WindowObjective> short_list = strategy->Objective(layout, 1, {1, 1, 1});
  ASSERT_FALSE(short_list.ok());
  EXPECT_EQ(short_list.status().message(), "muke: window 1 of 3 needs 2 figure coefficients, got 3");
  absl::StatusOr<WindowObjective> nan = strategy->Objective(layout, 1, {1, std::nan("")});
  ASSERT_FALSE(nan.ok());
  EXPECT_EQ(nan.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(nan.status().message().find("figure coefficient 2 is not finite"), std::string::npos);
}

TEST(MukeStrategyTest, Fp16SumsRoundEachCoefficientAndPartialSum) {
  EditLayout layout = Layout(4, 7, 3);
  // Affinities [1, 0.3, 0.1] → c = [1, 1.7, 1.9]. In fp16 (spacing 2^-10 in [1, 2)):
  //   1.7 → 1741·2^-10 = 1.7001953125, 1.9 → 1946·2^-10 = 1.900390625.
  //   S_2 = 1.900390625; S_1 = 3.6005859375 = 1843.5·2^-9 (spacing 2^-9 in [2, 4)), a tie → even 1844·2^-9
  //   = 3.6015625; S_0 = 4.6015625 = 1178·2^-8, exact. Weights are these sums / 21.
  std::vector<double> c = Coefficients({1, 0.3, 0.1}, CoefficientOrder::kIntended);
  auto fp16 = MakeStrategy(StrategyKind::kMuke, StrategyOptions{true});
  ExpectWeights(Objective(*fp16, layout, 0, c).target_weights,
                {4.6015625 / 21, 4.6015625 / 21, 4.6015625 / 21, 3.6015625 / 21, 3.6015625 / 21, 3.6015625 / 21,
                 1.900390625 / 21});
  auto exact = MakeStrategy(StrategyKind::kMuke);
  ExpectWeights(Objective(*exact, layout, 0, c).target_weights,
                {4.6 / 21, 4.6 / 21, 4.6 / 21, 3.6 / 21, 3.6 / 21, 3.6 / 21, 1.9 / 21});
}

}  // namespace
}  // namespace muke
