#include "core/model/rope.h"

#include <cmath>

#include <torch/types.h>

namespace muke {

torch::Tensor RopeInverseFrequencies(const ModelConfig& c) {
  // Same float32 arithmetic as transformers' _compute_default_rope_parameters / _compute_llama3_parameters.
  auto exponents = torch::arange(0, c.head_dim, 2, torch::kInt64).to(torch::kFloat32) / static_cast<float>(c.head_dim);
  torch::Tensor inv_freq = 1.0 / torch::pow(static_cast<float>(c.rope_theta), exponents);
  if (!c.rope_scaling) return inv_freq;

  const auto& s = *c.rope_scaling;
  const double old_len = static_cast<double>(s.original_max_position_embeddings);
  const double low_freq_wavelen = old_len / s.low_freq_factor;
  const double high_freq_wavelen = old_len / s.high_freq_factor;
  torch::Tensor wavelen = 2 * M_PI / inv_freq;
  torch::Tensor scaled = torch::where(wavelen > low_freq_wavelen, inv_freq / s.factor, inv_freq);
  torch::Tensor smooth = (old_len / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
  torch::Tensor smoothed = (1 - smooth) * scaled / s.factor + smooth * scaled;
  torch::Tensor medium = (wavelen >= high_freq_wavelen).logical_and(wavelen <= low_freq_wavelen);
  return torch::where(medium, smoothed, scaled);
}

std::pair<torch::Tensor, torch::Tensor> RopeCosSin(const torch::Tensor& inv_freq, const torch::Tensor& positions,
                                                   torch::ScalarType dtype) {
  torch::Tensor freqs = positions.to(torch::kFloat32).unsqueeze(-1) * inv_freq.to(positions.device());  // [B,S,hd/2]
  torch::Tensor emb = torch::cat({freqs, freqs}, -1).unsqueeze(1);                                       // [B,1,S,hd]
  return {emb.cos().to(dtype), emb.sin().to(dtype)};
}

torch::Tensor ApplyRope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  const int64_t half = x.size(-1) / 2;
  torch::Tensor rotated = torch::cat({-x.slice(-1, half), x.slice(-1, 0, half)}, -1);
  return x * cos + rotated * sin;
}

}  // namespace muke
