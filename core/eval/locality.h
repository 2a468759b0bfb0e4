// Locality probe: how much an edit disturbs unrelated behaviour. Greedy continuations of a fixed set of
// unrelated prompts are recorded before the edit; after it, the share of continuation tokens that are
// unchanged (position by position), the mean KL(before ‖ after) of the next-token distributions along the
// recorded sequences (teacher-forced) and the teacher-forced top-1 agreement are reported.
#pragma once

#include <vector>

#include <torch/types.h>

#include "absl/status/statusor.h"
#include "core/model/model.h"

namespace muke {

// The unedited model's behaviour on the probe prompts.
struct LocalityBaseline {
  std::vector<std::vector<int64_t>> prompts;
  std::vector<std::vector<int64_t>> continuations;  // greedy, exactly `new_tokens` each (no early stop)
  std::vector<torch::Tensor> log_probs;             // [prompt + continuation - 1, vocab] float32, per prompt
};

struct LocalityScore {
  double unchanged = 1.0;  // fraction of continuation tokens identical to the baseline's, position by position
  double mean_kl = 0.0;    // nats, averaged over every predicted position of every probe
  // Teacher-forced: share of the baseline continuation's positions where the next-token argmax is unchanged.
  // Free of the cascade of the free-running measure, where one early flip changes every later token.
  double top1_agreement = 1.0;
};

absl::StatusOr<LocalityBaseline> RecordLocality(const Model& model, const std::vector<std::vector<int64_t>>& prompts,
                                                int64_t new_tokens);

// The same probes with `weight_overrides` (null: the model's own weights) compared with the baseline.
absl::StatusOr<LocalityScore> MeasureLocality(const Model& model, const LocalityBaseline& baseline,
                                              const TensorMap* weight_overrides);

}  // namespace muke
