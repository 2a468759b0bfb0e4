// Next-token selection: greedy (temperature 0) or temperature + nucleus (top-p) sampling from a seeded
// generator, computed on the host so that a seed gives the same tokens on every device.
#pragma once

#include <cstdint>
#include <random>

#include <torch/types.h>

namespace muke {

struct SamplingOptions {
  double temperature = 0.0;  // 0 = greedy
  double top_p = 1.0;        // keep the smallest set of tokens whose probability mass reaches top_p
  uint64_t seed = 0;
};

class Sampler {
 public:
  explicit Sampler(const SamplingOptions& options) : options_(options), rng_(options.seed) {}

  // Picks the next token from `logits` ([vocab], any float dtype, any device).
  int64_t Next(const torch::Tensor& logits);

 private:
  SamplingOptions options_;
  std::mt19937_64 rng_;
};

}  // namespace muke
