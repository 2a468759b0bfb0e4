// Hook points the editor uses on a forward pass: memory shifts added to a block's output at chosen positions
// (differentiable with respect to the shift vectors), and captures of block inputs/outputs and MLP keys.
#pragma once

#include <map>
#include <vector>

#include <torch/types.h>

namespace muke {

// Adds `delta` ([hidden_size], any float dtype, may require grad) to the output of block `layer` at absolute
// sequence position `position` of batch row `batch`. Positions outside the chunk being run are ignored.
struct BlockShift {
  int layer = 0;
  int64_t batch = 0;
  int64_t position = 0;
  torch::Tensor delta;
};

// What to record during a forward pass. `positions` is [batch, K] int64 of absolute sequence positions
// (all inside the chunk being run); undefined means every position of the chunk.
struct CaptureSpec {
  std::vector<int> layers;
  torch::Tensor positions;
  bool block_input = false;   // hidden state entering the block (residual stream, after earlier shifts)
  bool block_output = false;  // the block's own output, before any shift at that layer is added
  bool mlp_key = false;       // input of mlp.down_proj: silu(gate(x)) * up(x), the MEMIT keys
};

// Captured tensors by layer, each [batch, K, dim] in the model's dtype (graph kept when grad is enabled).
struct Captured {
  std::map<int, torch::Tensor> block_input;
  std::map<int, torch::Tensor> block_output;
  std::map<int, torch::Tensor> mlp_key;
};

}  // namespace muke
