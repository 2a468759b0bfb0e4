#include "core/model/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

namespace muke {

int64_t Sampler::Next(const torch::Tensor& logits) {
  torch::Tensor host = logits.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  const float* x = host.data_ptr<float>();
  const int64_t n = host.numel();
  // Greedy: the first index of the maximum, as torch.argmax and llama2.c do.
  if (options_.temperature <= 0.0) return std::max_element(x, x + n) - x;

  const double max_logit = *std::max_element(x, x + n);
  std::vector<double> probs(n);
  double total = 0.0;
  for (int64_t i = 0; i < n; ++i) total += probs[i] = std::exp((x[i] - max_logit) / options_.temperature);

  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return probs[a] > probs[b]; });
  // Nucleus: the smallest prefix of the sorted distribution with mass >= top_p (at least one token).
  size_t keep = 0;
  double mass = 0.0;
  while (keep < order.size() && (keep == 0 || mass < options_.top_p * total)) mass += probs[order[keep++]];

  double u = std::uniform_real_distribution<double>(0.0, mass)(rng_);
  for (size_t i = 0; i < keep; ++i) {
    u -= probs[order[i]];
    if (u < 0) return order[i];
  }
  return order[keep - 1];
}

}  // namespace muke
