#include "core/edit/memit.h"

#include <torch/utils.h>

#include "absl/strings/str_cat.h"
#include "core/edit/edit_batch.h"
#include "core/util/status.h"

namespace muke {
namespace {

std::string DownProjName(int layer) { return absl::StrCat("model.layers.", layer, ".mlp.down_proj.weight"); }

absl::Status Validate(const Model& model, const std::vector<EditSequence>& batch,
                      const std::map<int, torch::Tensor>& second_moments, const MemitOptions& o) {
  MUKE_RETURN_IF_ERROR(ValidateEditBatch(model, batch, o.layers, o.hook_layer, "memit"));
  if (!(o.lambda >= 0)) return absl::InvalidArgumentError("memit: lambda must be >= 0");
  const int64_t I = model.config().intermediate_size;
  for (int l : o.layers) {
    auto it = second_moments.find(l);
    if (it == second_moments.end() || it->second.sizes() != torch::IntArrayRef({I, I})) {
      return absl::InvalidArgumentError(absl::StrCat("memit: missing or misshapen statistics for layer ", l));
    }
    if (!o.null_space.empty() && (!o.null_space.count(l) || o.null_space.at(l).sizes() != torch::IntArrayRef({I, I}))) {
      return absl::InvalidArgumentError(absl::StrCat("alphaedit: missing or misshapen projection for layer ", l));
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

    const PaddedEditBatch padded = PadEditBatch(batch, device, solve_dtype);
    torch::Tensor preserved = padded.mask.to(torch::kBool);  // every real position except the shift ones
    preserved.index_put_({padded.rows, padded.cols}, false);

    TensorMap overrides;
    for (size_t i = 0; i < o.layers.size(); ++i) {
      const int layer = o.layers[i];
      CaptureSpec spec;
      spec.layers = {layer, o.hook_layer};
      spec.block_output = spec.mlp_key = true;
      ForwardInput in;
      in.tokens = padded.tokens;
      in.attention_mask = padded.mask;
      in.capture = &spec;
      in.weight_overrides = &overrides;
      in.end_layer = o.hook_layer + 1;
      in.compute_logits = false;
      MUKE_ASSIGN_OR_RETURN(ForwardOutput out, model.Forward(in));

      const torch::Tensor current = out.captured.block_output.at(o.hook_layer).index({padded.rows, padded.cols});
      const torch::Tensor R =
          (padded.targets - current.to(solve_dtype)) / static_cast<double>(o.layers.size() - i);  // [n_s, D]
      const torch::Tensor keys = out.captured.mlp_key.at(layer).to(solve_dtype);
      const torch::Tensor Ks = keys.index({padded.rows, padded.cols});  // [n_s, I]
      const torch::Tensor Kp = keys.index({preserved});                    // [n_p, I]
      const torch::Tensor keys_moment = torch::matmul(Kp.t(), Kp) + torch::matmul(Ks.t(), Ks);  // [I, I]
      torch::Tensor delta;  // [D, I]
      if (o.null_space.empty()) {
        // MEMIT: ΔW = Rᵀ · solve(λ·C + K_p K_pᵀ + K_s K_sᵀ, K_s)ᵀ
        const torch::Tensor A = o.lambda * second_moments.at(layer).to(device, solve_dtype) + keys_moment;
        delta = torch::matmul(R.t(), torch::linalg_solve(A, Ks.t()).t());
      } else {
        // AlphaEdit: ΔW = solve(P (K_s K_sᵀ + K_p K_pᵀ) + l2·I, P K_s R)ᵀ — zero on keys P maps to 0.
        const torch::Tensor P = o.null_space.at(layer).to(device, solve_dtype);
        const torch::Tensor A = torch::matmul(P, keys_moment) +
                                o.alphaedit_l2 * torch::eye(P.size(0), torch::dtype(solve_dtype).device(device));
        delta = torch::linalg_solve(A, torch::matmul(P, torch::matmul(Ks.t(), R))).t();
      }
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
