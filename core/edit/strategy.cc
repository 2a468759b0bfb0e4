#include "core/edit/strategy.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/util/status.h"
#include "core/util/string_view.h"

namespace muke {
namespace {

// Cosines measured in fp32 may overshoot ±1 by rounding.
constexpr double kCosineSlack = 1e-4;

// Nearest IEEE float16 value of x (ties to even under the default rounding mode), as a double.
double RoundToFloat16(double x) {
  if (!std::isfinite(x) || x == 0) return x;
  int exponent;
  std::frexp(x, &exponent);  // |x| = m · 2^exponent, m in [0.5, 1)
  // 11 significant bits for normals; subnormals share the fixed quantum 2^-24.
  int quantum = std::max(exponent - 11, -24);
  double rounded = std::ldexp(std::nearbyint(std::ldexp(x, -quantum)), quantum);
  if (std::fabs(rounded) > 65504.0) return std::copysign(std::numeric_limits<double>::infinity(), x);
  return rounded;
}

absl::Status CheckShift(const Strategy& strategy, const EditLayout& layout, int w) {
  if (w < 0 || w >= strategy.NumShifts(layout)) {
    return absl::InvalidArgumentError(absl::StrCat(AbslView(StrategyName(strategy.kind())), ": shift index ", w,
                                                   " out of range [0, ", strategy.NumShifts(layout), ")"));
  }
  return absl::OkStatus();
}

class OneForAll : public Strategy {
 public:
  StrategyKind kind() const override { return StrategyKind::kOneForAll; }
  int NumShifts(const EditLayout&) const override { return 1; }
  absl::StatusOr<WindowObjective> Objective(const EditLayout& layout, int w,
                                            const std::vector<double>&) const override {
    MUKE_RETURN_IF_ERROR(CheckShift(*this, layout, w));
    const double weight = 1.0 / static_cast<double>(layout.target_tokens);
    return WindowObjective{layout.SequenceLength(), std::vector<double>(layout.target_tokens, weight), 0};
  }
};

class WindowByWindow : public Strategy {
 public:
  StrategyKind kind() const override { return StrategyKind::kWindowByWindow; }
  int NumShifts(const EditLayout& layout) const override { return layout.NumWindows(); }
  absl::StatusOr<WindowObjective> Objective(const EditLayout& layout, int w,
                                            const std::vector<double>&) const override {
    MUKE_RETURN_IF_ERROR(CheckShift(*this, layout, w));
    const Window& window = layout.windows[w];
    WindowObjective objective{layout.prompt_tokens + window.end - 1, std::vector<double>(layout.target_tokens, 0.0),
                              w};
    for (int64_t t = window.begin; t < window.end; ++t) {
      objective.target_weights[t] = 1.0 / static_cast<double>(window.size());
    }
    return objective;
  }
};

// Vanilla matryoshka (all coefficients 1) and μKE (coefficients from the affinity pre-pass).
class Matryoshka : public Strategy {
 public:
  Matryoshka(bool adaptive, const StrategyOptions& options) : adaptive_(adaptive), options_(options) {}

  StrategyKind kind() const override { return adaptive_ ? StrategyKind::kMuke : StrategyKind::kMatryoshka; }
  int NumShifts(const EditLayout& layout) const override { return layout.NumWindows(); }
  bool NeedsAffinity() const override { return adaptive_; }

  absl::StatusOr<WindowObjective> Objective(const EditLayout& layout, int w,
                                            const std::vector<double>& figure_coefficients) const override {
    MUKE_RETURN_IF_ERROR(CheckShift(*this, layout, w));
    const int n = layout.NumWindows();
    const bool fp16 = adaptive_ && options_.fp16_coefficient_sums;
    std::vector<double> coefficients(n - w, 1.0);
    if (adaptive_) {
      if (figure_coefficients.size() != coefficients.size()) {
        return absl::InvalidArgumentError(absl::StrCat("muke: window ", w, " of ", n, " needs ", coefficients.size(),
                                                       " figure coefficients, got ", figure_coefficients.size()));
      }
      for (size_t i = 0; i < coefficients.size(); ++i) {
        if (!std::isfinite(figure_coefficients[i])) {
          return absl::InvalidArgumentError(
              absl::StrCat("muke: figure coefficient ", w + i, " is not finite: ", figure_coefficients[i]));
        }
        coefficients[i] = fp16 ? RoundToFloat16(figure_coefficients[i]) : figure_coefficients[i];
      }
    }
    const int64_t begin = layout.windows[w].begin;
    const double normaliser = static_cast<double>(n - w) * static_cast<double>(layout.target_tokens - begin);
    WindowObjective objective{layout.SequenceLength(), std::vector<double>(layout.target_tokens, 0.0), w};
    // Suffix sums Σ_{j=m}^{N-1} c_j, from the last window back to w.
    double suffix = 0;
    for (int m = n - 1; m >= w; --m) {
      suffix += coefficients[m - w];
      if (fp16) suffix = RoundToFloat16(suffix);
      const Window& window = layout.windows[m];
      for (int64_t t = window.begin; t < window.end; ++t) objective.target_weights[t] = suffix / normaliser;
    }
    return objective;
  }

 private:
  bool adaptive_;
  StrategyOptions options_;
};

}  // namespace

absl::StatusOr<StrategyKind> ParseStrategy(std::string_view name) {
  for (StrategyKind kind : {StrategyKind::kOneForAll, StrategyKind::kWindowByWindow, StrategyKind::kMatryoshka,
                            StrategyKind::kMuke}) {
    if (name == StrategyName(kind)) return kind;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown strategy '", AbslView(name),
                   "' (expected one_for_all, window_by_window, matryoshka or muke)"));
}

std::string_view StrategyName(StrategyKind kind) {
  switch (kind) {
    case StrategyKind::kOneForAll:
      return "one_for_all";
    case StrategyKind::kWindowByWindow:
      return "window_by_window";
    case StrategyKind::kMatryoshka:
      return "matryoshka";
    case StrategyKind::kMuke:
      return "muke";
  }
  return "unknown";
}

absl::StatusOr<std::vector<double>> MukeCoefficients(const std::vector<double>& affinities, CoefficientOrder order) {
  if (affinities.empty()) return absl::InvalidArgumentError("muke: no affinities (need a_{w,w}..a_{w,N-1})");
  std::vector<double> coefficients(affinities.size());
  for (size_t k = 0; k < affinities.size(); ++k) {
    const double a = affinities[k];
    if (!std::isfinite(a) || std::fabs(a) > 1 + kCosineSlack) {
      return absl::InvalidArgumentError(absl::StrCat("muke: affinity ", k, " is not a cosine in [-1, 1]: ", a));
    }
    const size_t figure = order == CoefficientOrder::kIntended ? k : affinities.size() - 1 - k;
    coefficients[figure] = 2 - a;
  }
  return coefficients;
}

std::unique_ptr<Strategy> MakeStrategy(StrategyKind kind, const StrategyOptions& options) {
  switch (kind) {
    case StrategyKind::kOneForAll:
      return std::make_unique<OneForAll>();
    case StrategyKind::kWindowByWindow:
      return std::make_unique<WindowByWindow>();
    case StrategyKind::kMatryoshka:
      return std::make_unique<Matryoshka>(false, options);
    case StrategyKind::kMuke:
      return std::make_unique<Matryoshka>(true, options);
  }
  return nullptr;
}

}  // namespace muke
