// What the weight updates (MEMIT, UnKE) share about a batch of edit sequences: the input checks and the
// left-padded batch. Positions are per sequence, so each shift position moves by its row's padding.
#pragma once

#include <string>
#include <vector>

#include <torch/types.h>

#include "absl/status/status.h"
#include "core/edit/memit.h"
#include "core/model/model.h"

namespace muke {

// INVALID_ARGUMENT, prefixed by `who`, unless the batch is non-empty, every sequence has ids and one
// [hidden_size] target per in-range position, the hook layer is inside the model and the edit layers are
// strictly ascending within [0, hook_layer].
absl::Status ValidateEditBatch(const Model& model, const std::vector<EditSequence>& batch,
                               const std::vector<int>& layers, int hook_layer, const std::string& who);

struct PaddedEditBatch {
  torch::Tensor tokens;      // [B, S] int64, left-padded with 0
  torch::Tensor mask;        // [B, S] int64: 1 for real tokens
  torch::Tensor rows, cols;  // [n_s] int64: batch row and padded column of every shift position, in batch order
  torch::Tensor targets;     // [n_s, D]: the z of every shift position
};

// The batch left-padded on `device`, targets in `dtype`.
PaddedEditBatch PadEditBatch(const std::vector<EditSequence>& batch, torch::Device device, torch::ScalarType dtype);

}  // namespace muke
