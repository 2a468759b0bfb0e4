#include "core/edit/edit_batch.h"

#include <algorithm>
#include <functional>

#include "absl/strings/str_cat.h"

namespace muke {

absl::Status ValidateEditBatch(const Model& model, const std::vector<EditSequence>& batch,
                               const std::vector<int>& layers, int hook_layer, const std::string& who) {
  if (batch.empty()) return absl::InvalidArgumentError(who + ": no edit sequences");
  if (hook_layer < 0 || hook_layer >= model.num_layers()) {
    return absl::InvalidArgumentError(absl::StrCat(who, ": hook layer ", hook_layer, " outside the model"));
  }
  if (layers.empty() || std::adjacent_find(layers.begin(), layers.end(), std::greater_equal<int>()) != layers.end() ||
      layers.front() < 0 || layers.back() > hook_layer) {
    return absl::InvalidArgumentError(
        absl::StrCat(who, ": edit layers must be strictly ascending within [0, ", hook_layer, "]"));
  }
  for (size_t b = 0; b < batch.size(); ++b) {
    const EditSequence& e = batch[b];
    if (e.ids.empty() || e.positions.empty() || e.positions.size() != e.targets.size()) {
      return absl::InvalidArgumentError(absl::StrCat(who, ": sequence ", b, " needs ids and one target per position"));
    }
    for (size_t k = 0; k < e.positions.size(); ++k) {
      if (e.positions[k] < 0 || e.positions[k] >= static_cast<int64_t>(e.ids.size()) || !e.targets[k].defined() ||
          e.targets[k].numel() != model.config().hidden_size) {
        return absl::InvalidArgumentError(absl::StrCat(who, ": sequence ", b, " target ", k, " is out of range"));
      }
    }
  }
  return absl::OkStatus();
}

PaddedEditBatch PadEditBatch(const std::vector<EditSequence>& batch, torch::Device device, torch::ScalarType dtype) {
  int64_t S = 0;
  for (const EditSequence& e : batch) S = std::max<int64_t>(S, e.ids.size());
  const int64_t B = batch.size();
  torch::Tensor tokens = torch::zeros({B, S}, torch::kInt64), mask = torch::zeros({B, S}, torch::kInt64);
  std::vector<int64_t> rows, cols;
  std::vector<torch::Tensor> targets;
  for (int64_t b = 0; b < B; ++b) {
    const EditSequence& e = batch[b];
    const int64_t pad = S - e.ids.size();
    tokens[b].slice(0, pad) = torch::tensor(e.ids, torch::kInt64);
    mask[b].slice(0, pad).fill_(1);
    for (size_t k = 0; k < e.positions.size(); ++k) {
      rows.push_back(b);
      cols.push_back(pad + e.positions[k]);
      targets.push_back(e.targets[k].detach().reshape(-1).to(device, dtype));
    }
  }
  return {tokens.to(device), mask.to(device), torch::tensor(rows, torch::kInt64).to(device),
          torch::tensor(cols, torch::kInt64).to(device), torch::stack(targets)};
}

}  // namespace muke
