// Per-layer key/value cache for incremental decoding and for reusing an unchanged prefix across many
// forward passes (the editor's shift optimisation).
#pragma once

#include <vector>

#include <torch/types.h>

namespace muke {

struct KVCache {
  explicit KVCache(int64_t num_layers) : k(num_layers), v(num_layers) {}

  // Keys/values per layer, [batch, kv_heads, length, head_dim] after RoPE; undefined until a layer runs.
  std::vector<torch::Tensor> k, v;

  int64_t length(int layer) const { return k[layer].defined() ? k[layer].size(2) : 0; }
};

}  // namespace muke
