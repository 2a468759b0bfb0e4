// UnKE's layer update (ALGORITHM.md §4): for each edited layer in turn, every parameter of that decoder block
// is trained with AdamW so that the block reproduces its current outputs plus this layer's share of the residual
// towards z at the shift positions, while unrelated preservation sequences keep their outputs. Computed on
// copies: the model is not modified.
#pragma once

#include <functional>
#include <vector>

#include <torch/types.h>

#include "absl/status/statusor.h"
#include "core/edit/memit.h"  // for EditSequence
#include "core/model/model.h"

namespace muke {

struct UnkeOptions {
  std::vector<int> layers;      // ascending, each <= hook_layer: the blocks whose parameters are trained
  int hook_layer = 0;           // where the targets z live
  double learning_rate = 2e-4;  // AdamW
  int steps = 50;
  double weight_decay = 0.01;  // none on the RMSNorm weights
  double eps = 1e-8;
  double preservation_weight = 1.0;  // of the preservation MSE against the edit MSE (the reference: 1)
  std::function<bool()> should_stop;  // polled before every step: true ends the update with CANCELLED
};

// New tensors for every parameter of each block in `layers` (names "model.layers.{l}.<...>" exactly as
// Model::NamedParameters gives them, model dtype/device), trained on copies. `preservation` is [num, len] int64
// token ids of unrelated sequences (all real tokens) whose block outputs must stay as they were.
// INVALID_ARGUMENT on bad input; INTERNAL, naming layer and step, on a non-finite loss or parameter.
absl::StatusOr<TensorMap> UnkeUpdate(const Model& model, const std::vector<EditSequence>& batch,
                                     const torch::Tensor& preservation, const UnkeOptions& options);

}  // namespace muke
