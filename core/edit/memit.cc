#include "core/edit/memit.h"

#include <torch/utils.h>

#include "absl/strings/str_cat.h"
#include "core/util/status.h"

namespace muke {
namespace {

std::string DownProjName(int layer) { return absl::StrCat("model.layers.", layer, ".mlp.down_proj.weight"); }

absl::Status Validate(const Model& model, const std::vector<EditSequence>& batch,
                      const std::map<int, torch::Tensor>& second_moments, const MemitOptions& o) {
  if (batch.empty()) return absl::InvalidArgumentError("memit: no edit sequences");
  if (o.hook_layer < 0 || o.hook_layer >= model.num_layers()) {
    return absl::InvalidArgumentError(absl::StrCat("memit: hook layer ", o.hook_layer, " outside the model"));
  }
  if (o.layers.empty() || !std::is_sorted(o.layers.begin(), o.layers.end()) || o.layers.front() < 0 ||
      o.layers.back() > o.hook_layer) {
    return absl::InvalidArgumentError(
        absl::StrCat("memit: edit layers must be ascending within [0, ", o.hook_layer, "]"));
  }
  if (!(o.lambda >= 0)) return absl::InvalidArgumentError("memit: lambda must be >= 0");
  const int64_t I = model.config().intermediate_size;
  for (int l : o.layers) {
    auto it = second_moments.find(l);
    if (it == second_moments.end() || it->second.sizes() != torch::IntArrayRef({I, I})) {
      return absl::InvalidArgumentError(absl::StrCat("memit: missing or misshapen statistics for layer ", l));
    }
  }
  for (size_t b = 0; b < batch.size(); ++b) {
    const EditSequence& e = batch[b];
    if (e.ids.empty() || e.positions.empty() || e.positions.size() != e.targets.size()) {
      return absl::InvalidArgumentError(absl::StrCat("memit: sequence ", b, " needs ids and one target per position"));
    }
    for (size_t k = 0; k < e.positions.size(); ++k) {
      if (e.positions[k] < 0 || e.positions[k] >= static_cast<int64_t>(e.ids.size()) ||
          e.targets[k].numel() != model.config().hidden_size) {
        return absl::InvalidArgumentError(absl::StrCat("memit: sequence ", b, " target ", k, " is out of range"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<TensorMap> MemitUpdate(const Model& model, const std::vector<EditSequence>& batch,
                                      const std::map<int, torch::Tensor>& second_moments, const MemitOptions& o) {
  MUKE_RETURN_IF_ERROR(Validate(model, batch, second_moments, o));
  return CatchExceptions("memit", [&]() -> absl::StatusOr<TensorMap> {
    torch::NoGradGuard no_grad;
    const auto device = model.device();
    const auto solve_dtype = o.float64_solve ? torch::kFloat64 : torch::kFloat32;

    // Left-pad into one batch; shift positions move by each row's padding.
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
        targets.push_back(e.targets[k].reshape(-1).to(device, solve_dtype));
      }
    }
    const torch::Tensor row_index = torch::tensor(rows, torch::kInt64).to(device);
    const torch::Tensor col_index = torch::tensor(cols, torch::kInt64).to(device);
    torch::Tensor preserved = mask.to(torch::kBool).to(device);  // every real position except the shift ones
    preserved.index_put_({row_index, col_index}, false);
    const torch::Tensor Z = torch::stack(targets);  // [n_s, D]

    TensorMap overrides;
    for (size_t i = 0; i < o.layers.size(); ++i) {
      const int layer = o.layers[i];
      CaptureSpec spec;
      spec.layers = {layer, o.hook_layer};
      spec.block_output = spec.mlp_key = true;
      ForwardInput in;
      in.tokens = tokens;
      in.attention_mask = mask;
      in.capture = &spec;
      in.weight_overrides = &overrides;
      in.end_layer = o.hook_layer + 1;
      in.compute_logits = false;
      MUKE_ASSIGN_OR_RETURN(ForwardOutput out, model.Forward(in));

      const torch::Tensor current = out.captured.block_output.at(o.hook_layer).index({row_index, col_index});
      const torch::Tensor R = (Z - current.to(solve_dtype)) / static_cast<double>(o.layers.size() - i);  // [n_s, D]
      const torch::Tensor keys = out.captured.mlp_key.at(layer).to(solve_dtype);
      const torch::Tensor Ks = keys.index({row_index, col_index});  // [n_s, I]
      const torch::Tensor Kp = keys.index({preserved});             // [n_p, I]
      const torch::Tensor A = o.lambda * second_moments.at(layer).to(device, solve_dtype) +
                              torch::matmul(Kp.t(), Kp) + torch::matmul(Ks.t(), Ks);
      const torch::Tensor X = torch::linalg_solve(A, Ks.t());  // [I, n_s]
      const torch::Tensor delta = torch::matmul(R.t(), X.t());  // [D, I]
      MUKE_ASSIGN_OR_RETURN(torch::Tensor W, model.Parameter(DownProjName(layer)));
      torch::Tensor updated = (W.to(solve_dtype) + delta).to(model.dtype());
      if (!updated.isfinite().all().item<bool>()) {
        return absl::InternalError(absl::StrCat("memit: non-finite update for layer ", layer));
      }
      overrides[DownProjName(layer)] = updated;
    }
    return overrides;
  });
}

}  // namespace muke
