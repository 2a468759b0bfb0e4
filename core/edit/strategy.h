// Memory-update strategies (ALGORITHM.md §3): for each window, which positions the shift optimiser runs and how
// much each target token's NLL weighs. Pure arithmetic, no libtorch; the optimiser itself lives elsewhere.
//
// Every strategy optimises one fp32 shift δ_w per window (one_for_all: a single δ at p_0), sequentially over
// windows, model frozen, earlier windows' final δ's kept applied at their own positions. The loss for window w is
//   Σ_t target_weights[t] · NLL(y_t)  +  kShiftRegulariser · ‖δ_w‖ / ‖h_w‖²
// with h_w the unedited hidden state at the shift position.
#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "core/edit/windows.h"

namespace muke {

// Per-step rules shared by all strategies. Each step: forward with all shifts applied → loss → stop early when the
// loss is below kShiftEarlyStopLoss → backward → Adam step (default betas, no weight decay) → clamp: when
// ‖δ‖ > kShiftMaxNormRatio·‖h‖, scale δ down to that norm. Reference step budgets: 25 per window (Qwen), 50 (Llama).
inline constexpr double kShiftLearningRate = 0.5;
inline constexpr double kShiftEarlyStopLoss = 5e-3;
inline constexpr double kShiftMaxNormRatio = 4.0;
inline constexpr double kShiftRegulariser = 1e-3;
// μKE affinity pre-pass: gradients are taken at δ_0 = 0 and at the δ_1, δ_2 reached by Adam steps (lr
// kShiftLearningRate) on the window-w NLL alone, earlier windows' δ's not applied; affinities are averaged over them.
inline constexpr int kAffinityStates = 3;

enum class StrategyKind { kOneForAll, kWindowByWindow, kMatryoshka, kMuke };

// "one_for_all", "window_by_window", "matryoshka", "muke"; INVALID_ARGUMENT otherwise.
absl::StatusOr<StrategyKind> ParseStrategy(std::string_view name);
std::string_view StrategyName(StrategyKind kind);

// Which figure each measured affinity weights. kIntended: a_{w,j} sets c_j. kReference: the published code's
// reversed order, the affinity measured for F_{w+k} sets the coefficient of F_{N-1-k}.
enum class CoefficientOrder { kIntended, kReference };

// μKE figure coefficients for window w from the affinities a_{w,j}, j = w..N-1 (a_{w,w} = 1 first): c_j = 2 - a_{w,j},
// placed in `order`. Result index i is figure w+i. INVALID_ARGUMENT when empty, or an affinity is not a cosine
// (non-finite or outside [-1, 1] beyond rounding).
absl::StatusOr<std::vector<double>> MukeCoefficients(const std::vector<double>& affinities, CoefficientOrder order);

struct StrategyOptions {
  // Parity with the published code, which accumulates the coefficients in fp16: each c_j and each partial sum
  // Σ_{j=m}^{N-1} c_j is rounded to float16 (nearest, ties to even) before the (N-w) and (T-s_w) normalisers.
  // Each rounding moves a value by at most 2^-11 relative. Read by muke only.
  bool fp16_coefficient_sums = false;
};

// What the optimiser needs for window w (s_w, e_w its bounds). Target weights per strategy:
//   one_for_all       1/T on every target token
//   window_by_window  1/|window w| on window w (the sequence stops at e_w)
//   matryoshka, muke  token in window m >= w: (Σ_{j=m}^{N-1} c_j) / (N-w) / (T-s_w); 0 before s_w.
//                     The nested figures are F_j = [s_w, e_j); vanilla c_j = 1 gives (N-m)/(N-w)/(T-s_w).
struct WindowObjective {
  int64_t sequence_length = 0;         // positions run: P+T-1, or P+e_w-1 for window_by_window's growing prefix
  std::vector<double> target_weights;  // size T, every normaliser included; 0 for tokens outside the loss
  int shift_window = 0;                // the window whose δ is optimised (always 0 for one_for_all)
};

class Strategy {
 public:
  virtual ~Strategy() = default;
  virtual StrategyKind kind() const = 0;
  // Shifts optimised in turn, for w = 0..NumShifts-1: one_for_all 1, the others N.
  virtual int NumShifts(const EditLayout& layout) const = 0;
  // Only muke needs the affinity pre-pass before each window.
  virtual bool NeedsAffinity() const { return false; }
  // The objective for shift w. `figure_coefficients` (c_j for j = w..N-1, size N-w, from MukeCoefficients) is read
  // by muke only; the others ignore it (matryoshka uses c_j = 1). INVALID_ARGUMENT for w outside [0, NumShifts) or
  // muke coefficients of the wrong size or non-finite.
  virtual absl::StatusOr<WindowObjective> Objective(const EditLayout& layout, int w,
                                                    const std::vector<double>& figure_coefficients) const = 0;
};

std::unique_ptr<Strategy> MakeStrategy(StrategyKind kind, const StrategyOptions& options = {});

}  // namespace muke
