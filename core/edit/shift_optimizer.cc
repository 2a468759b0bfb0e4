#include "core/edit/shift_optimizer.h"

#include <chrono>
#include <cmath>
#include <limits>
#include <optional>
#include <utility>

#include <torch/autograd.h>

#include "absl/strings/str_cat.h"
#include "core/edit/adam.h"
#include "core/util/status.h"

namespace muke {
namespace {

double SecondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

absl::Status Validate(const Model& model, const std::vector<int64_t>& ids, const EditLayout& layout,
                      const ShiftOptions& o) {
  if (o.hook_layer < 0 || o.hook_layer >= model.num_layers()) {
    return absl::InvalidArgumentError(
        absl::StrCat("hook_layer ", o.hook_layer, " must lie in [0, ", model.num_layers(), ")"));
  }
  if (static_cast<int64_t>(ids.size()) != layout.prompt_tokens + layout.target_tokens) {
    return absl::InvalidArgumentError(absl::StrCat("shift optimisation: ", ids.size(), " ids for a layout of ",
                                                   layout.prompt_tokens, " prompt + ", layout.target_tokens,
                                                   " target tokens"));
  }
  if (o.steps < 1) return absl::InvalidArgumentError(absl::StrCat("steps must be >= 1, got ", o.steps));
  if (!(o.learning_rate > 0)) return absl::InvalidArgumentError("learning_rate must be > 0");
  if (!(o.max_norm_ratio > 0)) return absl::InvalidArgumentError("max_norm_ratio must be > 0");
  if (!(o.regulariser >= 0)) return absl::InvalidArgumentError("regulariser must be >= 0");
  return absl::OkStatus();
}

// One edit's sequence and the hook layer's unshifted outputs, from which every window's loss is evaluated.
class ShiftProblem {
 public:
  // Positions [start, end) run with δ at `start`; earlier positions (with the fixed shifts) are in `cache`.
  struct Context {
    int64_t start = 0, end = 0;
    std::vector<BlockShift> fixed;
    std::optional<KVCache> cache;
  };

  ShiftProblem(const Model& model, const std::vector<int64_t>& ids, const EditLayout& layout, const ShiftOptions& o)
      : model_(model), ids_(ids), layout_(layout), o_(o) {}

  absl::Status Init() {
    torch::NoGradGuard no_grad;
    ForwardInput in;
    in.tokens = Tokens(layout_.SequenceLength());
    in.end_layer = o_.hook_layer + 1;
    in.compute_logits = false;
    MUKE_ASSIGN_OR_RETURN(ForwardOutput out, model_.Forward(in));
    hidden_ = out.hidden;
    return absl::OkStatus();
  }

  // h at position p of the hook layer's output, float32 [hidden].
  torch::Tensor Hidden(int64_t p) const { return hidden_[0][p].to(torch::kFloat32); }
  const Model& model() const { return model_; }
  bool BlocksAbove() const { return o_.hook_layer + 1 < model_.num_layers(); }

  absl::StatusOr<Context> Prepare(int64_t start, int64_t end, std::vector<BlockShift> fixed) const {
    Context ctx{start, end, std::move(fixed), std::nullopt};
    if (o_.full_recompute || !BlocksAbove() || start == 0) return ctx;
    torch::NoGradGuard no_grad;
    ctx.cache.emplace(model_.num_layers());
    ForwardInput in;
    in.first_layer = o_.hook_layer + 1;
    in.hidden = hidden_.slice(1, 0, start);
    in.shifts = ctx.fixed;
    in.cache = &*ctx.cache;
    in.compute_logits = false;
    MUKE_RETURN_IF_ERROR(model_.Forward(in).status());
    return ctx;
  }

  // NLL of the next token at every position of [start, end), [end - start] in the logits' dtype (float32, or
  // float64 for a float64 model); differentiable in δ.
  absl::StatusOr<torch::Tensor> TokenNll(Context& ctx, const torch::Tensor& delta) const {
    ForwardInput in;
    int64_t offset = 0;  // absolute position of the first logit row
    if (o_.full_recompute) {
      in.tokens = Tokens(ctx.end);
      in.shifts = ctx.fixed;
      in.shifts.push_back({o_.hook_layer, 0, ctx.start, delta});
    } else {
      const int64_t past = ctx.cache ? ctx.start : 0;
      in.first_layer = o_.hook_layer + 1;
      in.hidden = hidden_.slice(1, ctx.start, ctx.end);
      in.cache = ctx.cache ? &*ctx.cache : nullptr;
      in.append_to_cache = false;
      in.shifts = {{o_.hook_layer, 0, past, delta}};
      offset = ctx.start;
    }
    MUKE_ASSIGN_OR_RETURN(ForwardOutput out, model_.Forward(in));
    const torch::Tensor logp = torch::log_softmax(out.logits[0].slice(0, ctx.start - offset), -1);
    const torch::Tensor next = torch::tensor(std::vector<int64_t>(ids_.begin() + ctx.start + 1, ids_.begin() + ctx.end + 1),
                                             torch::kInt64).to(logp.device());
    return -logp.gather(1, next.unsqueeze(1)).squeeze(1);
  }

 private:
  torch::Tensor Tokens(int64_t length) const {
    return torch::tensor(std::vector<int64_t>(ids_.begin(), ids_.begin() + length), torch::kInt64).unsqueeze(0);
  }

  const Model& model_;
  const std::vector<int64_t>& ids_;
  const EditLayout& layout_;
  const ShiftOptions& o_;
  torch::Tensor hidden_;  // [1, P+T-1, hidden] output of the hook layer, no shifts
};

// Σ_t weight_t · NLL_t + regulariser · ‖δ‖ / ‖h‖² for the positions the context runs.
absl::StatusOr<torch::Tensor> WindowLoss(const ShiftProblem& problem, ShiftProblem::Context& ctx,
                                         const EditLayout& layout, const WindowObjective& objective,
                                         const torch::Tensor& delta, double h_norm, double regulariser) {
  MUKE_ASSIGN_OR_RETURN(torch::Tensor nll, problem.TokenNll(ctx, delta));
  const int64_t first = ctx.start - (layout.prompt_tokens - 1);  // target index predicted at ctx.start
  const std::vector<double> w(objective.target_weights.begin() + first,
                              objective.target_weights.begin() + first + nll.size(0));
  const torch::Tensor weights = torch::tensor(w, torch::kFloat64).to(nll.device(), nll.scalar_type());
  return (nll * weights).sum() + regulariser * delta.norm() / (h_norm * h_norm);
}

absl::Status CheckObjective(const EditLayout& layout, const WindowObjective& objective) {
  const int64_t s = layout.windows[objective.shift_window].begin;
  if (static_cast<int64_t>(objective.target_weights.size()) != layout.target_tokens ||
      objective.sequence_length > layout.SequenceLength() ||
      objective.sequence_length <= layout.ShiftPosition(objective.shift_window)) {
    return absl::InternalError("shift optimisation: objective does not fit the layout");
  }
  for (int64_t t = 0; t < s; ++t) {
    if (objective.target_weights[t] != 0) {
      return absl::InternalError("shift optimisation: objective weighs tokens before its shift");
    }
  }
  return absl::OkStatus();
}

// μKE's affinity pre-pass for window w < N-1: a_{w,j} = cos(∇NLL(window w), ∇NLL(F_j)) averaged over δ_0 = 0
// and the states after 1, 2 Adam steps on the window-w NLL, earlier windows' shifts not applied. The figure
// gradients are prefix sums of per-window gradients (cosine ignores the figures' normalisers), so each state
// costs N-w backward passes.
absl::StatusOr<std::vector<double>> Affinities(const ShiftProblem& problem, const EditLayout& layout, int w,
                                               const ShiftOptions& o) {
  const int n = layout.NumWindows();
  const int64_t start = layout.ShiftPosition(w);
  MUKE_ASSIGN_OR_RETURN(ShiftProblem::Context ctx, problem.Prepare(start, layout.SequenceLength(), {}));
  const int64_t s_w = layout.windows[w].begin;
  torch::Tensor delta = torch::zeros({problem.model().config().hidden_size},
                                     torch::dtype(torch::kFloat32).device(problem.model().device()))
                            .requires_grad_(true);
  Adam adam(o.learning_rate);
  std::vector<double> sums(n - w, 0.0);
  for (int state = 0; state < kAffinityStates; ++state) {
    if (o.should_stop && o.should_stop()) return absl::CancelledError("edit cancelled");
    MUKE_ASSIGN_OR_RETURN(torch::Tensor nll, problem.TokenNll(ctx, delta));
    // Without blocks above L a shift only reaches its own position: later windows' gradients are exactly 0.
    const int last = problem.BlocksAbove() ? n - 1 : w;
    std::vector<torch::Tensor> grads;
    for (int m = w; m <= last; ++m) {
      const torch::Tensor window_sum = nll.slice(0, layout.windows[m].begin - s_w, layout.windows[m].end - s_w).sum();
      grads.push_back(torch::autograd::grad({window_sum}, {delta}, {}, /*retain_graph=*/m < last)[0]);
    }
    grads.resize(n - w, torch::zeros_like(grads[0]));
    torch::Tensor figure = grads[0].clone();
    for (int j = w + 1; j < n; ++j) {
      figure += grads[j - w];
      sums[j - w] += torch::cosine_similarity(grads[0], figure, 0, 1e-8).item<double>();
    }
    if (!torch::isfinite(figure).all().item<bool>()) {
      return absl::InternalError(absl::StrCat("affinity pre-pass: non-finite gradient at window ", w));
    }
    if (state + 1 < kAffinityStates) {
      torch::NoGradGuard no_grad;
      adam.Step(delta, grads[0] / static_cast<double>(layout.windows[w].size()));
    }
  }
  std::vector<double> affinities(n - w, 1.0);
  for (int j = w + 1; j < n; ++j) {
    affinities[j - w] = std::clamp(sums[j - w] / kAffinityStates, -1.0, 1.0);
  }
  return affinities;
}

absl::StatusOr<ShiftResult> Optimize(const ShiftProblem& problem, const EditLayout& layout,
                                     const Strategy& strategy, const ShiftOptions& o, const ShiftProgressFn& progress) {
  ShiftResult result;
  const int num_shifts = strategy.NumShifts(layout);
  const torch::Device device = problem.model().device();
  std::vector<BlockShift> fixed;
  int total_steps = 0;
  for (int w = 0; w < num_shifts; ++w) {
    ShiftTrace trace;
    trace.window = w;
    std::vector<double> coefficients;
    if (strategy.NeedsAffinity()) {
      const auto t0 = std::chrono::steady_clock::now();
      std::vector<double> affinities{1.0};
      if (w + 1 < layout.NumWindows()) {
        MUKE_ASSIGN_OR_RETURN(affinities, Affinities(problem, layout, w, o));
      }
      MUKE_ASSIGN_OR_RETURN(coefficients, MukeCoefficients(affinities, o.coefficient_order));
      trace.coefficients = coefficients;
      result.affinity_seconds += SecondsSince(t0);
    }
    const auto t0 = std::chrono::steady_clock::now();
    MUKE_ASSIGN_OR_RETURN(WindowObjective objective, strategy.Objective(layout, w, coefficients));
    MUKE_RETURN_IF_ERROR(CheckObjective(layout, objective));
    const int64_t start = layout.ShiftPosition(objective.shift_window);
    trace.position = start;
    MUKE_ASSIGN_OR_RETURN(ShiftProblem::Context ctx, problem.Prepare(start, objective.sequence_length, fixed));
    const torch::Tensor h = problem.Hidden(start);
    const double h_norm = h.norm().item<double>();
    const double max_norm = o.max_norm_ratio * h_norm;
    torch::Tensor delta =
        torch::zeros({h.size(0)}, torch::dtype(torch::kFloat32).device(device)).requires_grad_(true);
    Adam adam(o.learning_rate);
    for (int step = 0; step < o.steps; ++step) {
      if (o.should_stop && o.should_stop()) return absl::CancelledError("edit cancelled");
      MUKE_ASSIGN_OR_RETURN(torch::Tensor loss,
                            WindowLoss(problem, ctx, layout, objective, delta, h_norm, o.regulariser));
      const double value = loss.item<double>();
      trace.losses.push_back(value);
      if (progress) progress({w, num_shifts, step, value});
      if (!std::isfinite(value)) {
        return absl::InternalError(absl::StrCat("shift optimisation: non-finite loss at window ", w, " step ", step));
      }
      if (value < o.early_stop_loss) {
        trace.early_stopped = true;
        break;
      }
      if (step + 1 == o.steps) break;  // the last forward only measures (as the reference does)
      const torch::Tensor grad = torch::autograd::grad({loss}, {delta})[0];
      torch::NoGradGuard no_grad;
      adam.Step(delta, grad);
      const double norm = delta.norm().item<double>();
      if (norm > max_norm) {
        delta.mul_(max_norm / norm);
        trace.clamped = true;
      }
      ++trace.steps;
      if (++total_steps == o.inject_nan_after_steps) delta.fill_(std::numeric_limits<float>::quiet_NaN());
    }
    const torch::Tensor final_delta = delta.detach();
    fixed.push_back({o.hook_layer, 0, start, final_delta});
    result.positions.push_back(start);
    result.deltas.push_back(final_delta);
    result.targets.push_back(h + final_delta);
    result.traces.push_back(std::move(trace));
    result.optimise_seconds += SecondsSince(t0);
  }
  return result;
}

}  // namespace

absl::StatusOr<ShiftResult> OptimizeShifts(const Model& model, const std::vector<int64_t>& ids,
                                           const EditLayout& layout, const Strategy& strategy,
                                           const ShiftOptions& options, const ShiftProgressFn& progress) {
  MUKE_RETURN_IF_ERROR(Validate(model, ids, layout, options));
  return CatchExceptions("shift optimisation", [&]() -> absl::StatusOr<ShiftResult> {
    ShiftProblem problem(model, ids, layout, options);
    MUKE_RETURN_IF_ERROR(problem.Init());
    return Optimize(problem, layout, strategy, options, progress);
  });
}

absl::StatusOr<torch::Tensor> ShiftLoss(const Model& model, const std::vector<int64_t>& ids,
                                        const EditLayout& layout, const WindowObjective& objective,
                                        const std::vector<BlockShift>& fixed, const torch::Tensor& delta,
                                        const ShiftOptions& options) {
  MUKE_RETURN_IF_ERROR(Validate(model, ids, layout, options));
  MUKE_RETURN_IF_ERROR(CheckObjective(layout, objective));
  return CatchExceptions("shift loss", [&]() -> absl::StatusOr<torch::Tensor> {
    ShiftProblem problem(model, ids, layout, options);
    MUKE_RETURN_IF_ERROR(problem.Init());
    const int64_t start = layout.ShiftPosition(objective.shift_window);
    MUKE_ASSIGN_OR_RETURN(ShiftProblem::Context ctx, problem.Prepare(start, objective.sequence_length, fixed));
    const double h_norm = problem.Hidden(start).norm().item<double>();
    return WindowLoss(problem, ctx, layout, objective, delta, h_norm, options.regulariser);
  });
}

absl::StatusOr<double> TargetNll(const Model& model, const std::vector<int64_t>& ids, const EditLayout& layout,
                                 const std::vector<BlockShift>& shifts, const TensorMap* weight_overrides) {
  if (static_cast<int64_t>(ids.size()) != layout.prompt_tokens + layout.target_tokens) {
    return absl::InvalidArgumentError("target nll: ids do not match the layout");
  }
  return CatchExceptions("target nll", [&]() -> absl::StatusOr<double> {
    torch::NoGradGuard no_grad;
    ForwardInput in;
    in.tokens = torch::tensor(std::vector<int64_t>(ids.begin(), ids.end() - 1), torch::kInt64).unsqueeze(0);
    in.shifts = shifts;
    in.weight_overrides = weight_overrides;
    MUKE_ASSIGN_OR_RETURN(ForwardOutput out, model.Forward(in));
    const torch::Tensor logp = torch::log_softmax(out.logits[0].slice(0, layout.prompt_tokens - 1), -1);
    const torch::Tensor next =
        torch::tensor(std::vector<int64_t>(ids.begin() + layout.prompt_tokens, ids.end()), torch::kInt64)
            .to(logp.device());
    return -logp.gather(1, next.unsqueeze(1)).mean().item<double>();
  });
}

}  // namespace muke
