// Second-moment statistics C = E[k kᵀ] of the MLP down-projection inputs ("keys") of chosen layers over a
// preservation corpus — the covariance MEMIT and AlphaEdit use. Computed once per (model fingerprint, layer,
// corpus) and cached on disk as safetensors, so a restart reuses them. Without a text corpus the model's own
// samples are used.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <torch/types.h>

#include "absl/status/statusor.h"
#include "core/model/model.h"
#include "core/tokenizer/tokenizer.h"

namespace muke {

struct StatisticsOptions {
  std::vector<std::string> corpus;  // preservation texts; empty = sequences sampled from the model itself
  int64_t num_samples = 512;        // self-sampled sequences (ignored with a corpus)
  int64_t sample_tokens = 128;      // tokens per self-sampled sequence; corpus texts are truncated to this
  int64_t batch_size = 32;
  uint64_t seed = 0;
  std::string cache_dir;            // empty = no cache
  // > 0: also AlphaEdit's null-space projection P of each layer's C (cached beside C).
  double null_space_threshold = 0;
  // Called as work progresses: (sequences done, sequences in total).
  std::function<void(int64_t, int64_t)> progress;
};

struct SecondMoments {
  std::map<int, torch::Tensor> by_layer;  // [intermediate, intermediate] float32 on the model's device
  std::map<int, torch::Tensor> null_space;  // P per layer when options.null_space_threshold > 0
  int64_t num_keys = 0;                   // keys (token positions) averaged over
  bool from_cache = false;
};

// The preservation token sequences: the corpus texts tokenized (with special tokens) and truncated to
// `sample_tokens`, or `num_samples` of the model's own temperature-1 samples from BOS, each ending at its first EOS.
absl::StatusOr<std::vector<std::vector<int64_t>>> PreservationSequences(const Model& model, const Tokenizer& tokenizer,
                                                                        const StatisticsOptions& options);

// AlphaEdit's projection P = U₀U₀ᵀ onto the span of C's eigenvectors whose eigenvalues are below `threshold`
// (the directions the preserved knowledge does not use); float32 [I, I] on C's device.
absl::StatusOr<torch::Tensor> NullSpaceProjection(const torch::Tensor& second_moment, double threshold);

absl::StatusOr<SecondMoments> ComputeSecondMoments(const Model& model, const Tokenizer& tokenizer,
                                                   const std::vector<int>& layers, const StatisticsOptions& options);

}  // namespace muke
