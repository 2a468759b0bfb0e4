// MEMIT's (or AlphaEdit's) closed-form update of the MLP down-projections of a layer range ending at the hook layer
// (ALGORITHM.md §4), for a batch of edit sequences of different lengths (left-padded; positions are
// per sequence, so padding never shifts them). Computed on copies: the model is not modified.
#pragma once

#include <map>
#include <vector>

#include <torch/types.h>

#include "absl/status/statusor.h"
#include "core/model/model.h"

namespace muke {

// One edit sequence: the ids the model sees (cat(prompt, target)[:-1]) and, per shift position, the hidden
// state z ([hidden_size]) the block at the hook layer should output there.
struct EditSequence {
  std::vector<int64_t> ids;
  std::vector<int64_t> positions;
  std::vector<torch::Tensor> targets;
};

struct MemitOptions {
  std::vector<int> layers;  // ascending, each <= hook_layer
  int hook_layer = 0;
  double lambda = 15000.0;  // weight of the preservation term λ·C
  bool float64_solve = true;
  // AlphaEdit when non-empty: the null-space projection P of each edited layer (see NullSpaceProjection); the
  // update is then confined to directions the preserved keys do not use, with ridge term `alphaedit_l2`.
  std::map<int, torch::Tensor> null_space;
  double alphaedit_l2 = 10.0;
};

// New `model.layers.{l}.mlp.down_proj.weight` tensors for every edited layer, in the model's dtype and device.
// `second_moments` holds C for each edited layer. Errors on bad input or non-finite results.
absl::StatusOr<TensorMap> MemitUpdate(const Model& model, const std::vector<EditSequence>& batch,
                                      const std::map<int, torch::Tensor>& second_moments, const MemitOptions& options);

}  // namespace muke
