// Rotary position embeddings in Hugging Face's rotate-half convention, with llama3 frequency scaling.
#pragma once

#include <utility>

#include <torch/types.h>

#include "core/model/config.h"

namespace muke {

// Inverse frequencies [head_dim / 2] (float32), llama3 scaling applied when configured.
torch::Tensor RopeInverseFrequencies(const ModelConfig& config);

// cos/sin tables [B, 1, S, head_dim] in `dtype` for integer `positions` [B, S].
std::pair<torch::Tensor, torch::Tensor> RopeCosSin(const torch::Tensor& inv_freq, const torch::Tensor& positions,
                                                   torch::ScalarType dtype);

// x * cos + rotate_half(x) * sin for x [B, heads, S, head_dim].
torch::Tensor ApplyRope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);

}  // namespace muke
