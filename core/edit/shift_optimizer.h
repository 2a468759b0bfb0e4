// The memory-shift stage of an edit (ALGORITHM.md §3): one fp32 vector δ_w per window, added to the output of
// the hook layer L at p_w and optimised with Adam against the strategy's weighted target NLL, model frozen,
// earlier windows' δ's kept applied. μKE's affinity pre-pass sets the figure coefficients first.
//
// Fast path (default): the hook layer's outputs do not depend on any δ, and positions before p_w do not change
// while δ_w is optimised, so blocks 0..L run once per edit, the prefix [0, p_w) of blocks L+1.. once per window
// (into a KV cache), and each step runs only blocks L+1.. over positions p_w.. . `full_recompute` runs the
// whole model on the whole sequence every step instead; both give the same losses.
#pragma once

#include <functional>
#include <vector>

#include <torch/types.h>

#include "absl/status/statusor.h"
#include "core/edit/strategy.h"
#include "core/edit/windows.h"
#include "core/model/model.h"

namespace muke {

struct ShiftOptions {
  int hook_layer = 0;
  int steps = 50;  // Adam steps per window at most
  double learning_rate = kShiftLearningRate;
  double early_stop_loss = kShiftEarlyStopLoss;
  double max_norm_ratio = kShiftMaxNormRatio;  // clamp ‖δ‖ to this times ‖h‖
  double regulariser = kShiftRegulariser;      // weight of ‖δ‖ / ‖h‖² in the loss
  CoefficientOrder coefficient_order = CoefficientOrder::kIntended;
  bool full_recompute = false;
  // Fault injection for tests: after this many optimisation steps in total, δ becomes NaN. -1 = never.
  int inject_nan_after_steps = -1;
  // Polled before every step (and every pre-pass state): returning true ends the optimisation with CANCELLED.
  std::function<bool()> should_stop;
};

// How one shift's optimisation went.
struct ShiftTrace {
  int window = 0;                    // index of the shift (window w)
  int64_t position = 0;              // p_w
  std::vector<double> losses;        // loss at every forward, including the one that stopped early
  int steps = 0;                     // Adam steps taken
  bool early_stopped = false;
  bool clamped = false;              // the norm clamp fired at least once
  std::vector<double> coefficients;  // muke figure coefficients c_w..c_{N-1}; empty for other strategies
};

struct ShiftResult {
  std::vector<int64_t> positions;       // p_w per shift
  std::vector<torch::Tensor> deltas;    // δ_w, [hidden] float32 on the model's device
  std::vector<torch::Tensor> targets;   // z_w = h_w + δ_w, [hidden] float32: what the weight update must produce
  std::vector<ShiftTrace> traces;
  double affinity_seconds = 0;
  double optimise_seconds = 0;
};

struct ShiftProgress {
  int shift = 0;       // w
  int num_shifts = 0;  // N (1 for one_for_all)
  int step = 0;        // 0-based step within the shift
  double loss = 0;
};
using ShiftProgressFn = std::function<void(const ShiftProgress&)>;

// `ids` = cat(prompt, target), P + T ids as `layout` describes. Errors on bad options or a non-finite loss.
absl::StatusOr<ShiftResult> OptimizeShifts(const Model& model, const std::vector<int64_t>& ids,
                                           const EditLayout& layout, const Strategy& strategy,
                                           const ShiftOptions& options, const ShiftProgressFn& progress = {});

// The loss the optimiser minimises for shift w at the given δ (regulariser included), with `fixed` shifts
// (earlier windows) applied: exposed so tests can check gradients and the two paths against each other.
absl::StatusOr<torch::Tensor> ShiftLoss(const Model& model, const std::vector<int64_t>& ids,
                                        const EditLayout& layout, const WindowObjective& objective,
                                        const std::vector<BlockShift>& fixed, const torch::Tensor& delta,
                                        const ShiftOptions& options);

// Mean NLL per target token (nats) of cat(prompt, target) with the given shifts at the hook layer and weight
// overrides: the before / hooked / after numbers of an edit.
absl::StatusOr<double> TargetNll(const Model& model, const std::vector<int64_t>& ids, const EditLayout& layout,
                                 const std::vector<BlockShift>& shifts = {},
                                 const TensorMap* weight_overrides = nullptr);

}  // namespace muke
