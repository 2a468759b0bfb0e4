#include "core/edit/unke.h"

#include <cmath>

#include <torch/csrc/autograd/autograd.h>
#include <torch/utils.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/edit/adam.h"
#include "core/edit/edit_batch.h"
#include "core/util/status.h"

namespace muke {
namespace {

absl::Status Validate(const Model& model, const std::vector<EditSequence>& batch, const torch::Tensor& preservation,
                      const UnkeOptions& o) {
  MUKE_RETURN_IF_ERROR(ValidateEditBatch(model, batch, o.layers, o.hook_layer, "unke"));
  if (!preservation.defined() || preservation.dim() != 2 || preservation.numel() == 0 ||
      preservation.scalar_type() != torch::kInt64) {
    return absl::InvalidArgumentError("unke: preservation must be a non-empty [num, len] int64 tensor");
  }
  const int64_t V = model.config().vocab_size;
  if (preservation.min().item<int64_t>() < 0 || preservation.max().item<int64_t>() >= V) {
    return absl::InvalidArgumentError(absl::StrCat("unke: preservation ids must lie in [0, ", V, ")"));
  }
  if (o.steps < 1 || !(o.learning_rate >= 0) || !(o.weight_decay >= 0) || !(o.eps > 0)) {
    return absl::InvalidArgumentError("unke: needs steps >= 1, learning rate >= 0, weight decay >= 0, eps > 0");
  }
  return absl::OkStatus();
}

// A batch block ℓ is trained on: its ids and mask, what enters block ℓ, and what the block should output there.
struct Side {
  torch::Tensor tokens, mask, input, target;
};

// Block inputs and outputs of `layers` for `tokens`, running blocks [0, end) with the updates so far.
absl::StatusOr<Captured> Capture(const Model& model, const torch::Tensor& tokens, const torch::Tensor& mask,
                                 std::vector<int> layers, int end, const TensorMap& overrides) {
  CaptureSpec spec;
  spec.layers = std::move(layers);
  spec.block_input = spec.block_output = true;
  ForwardInput in;
  in.tokens = tokens;
  in.attention_mask = mask;
  in.capture = &spec;
  in.weight_overrides = &overrides;
  in.end_layer = end;
  in.compute_logits = false;
  MUKE_ASSIGN_OR_RETURN(ForwardOutput out, model.Forward(in));
  return std::move(out.captured);
}

// Mean squared error of block `layer`, run with `weights`, against the side's target over its real positions.
absl::StatusOr<torch::Tensor> BlockLoss(const Model& model, int layer, const Side& s, const TensorMap& weights) {
  ForwardInput in;
  in.tokens = s.tokens;  // what Forward embeds when layer == 0; `hidden` otherwise
  in.hidden = s.input;
  in.first_layer = layer;
  in.end_layer = layer + 1;
  in.attention_mask = s.mask;
  in.weight_overrides = &weights;
  in.compute_logits = false;
  MUKE_ASSIGN_OR_RETURN(ForwardOutput out, model.Forward(in));
  const torch::Tensor real = s.mask.to(s.target.scalar_type()).unsqueeze(-1);
  const torch::Tensor squared = (out.hidden.to(s.target.scalar_type()) - s.target).pow(2);
  return (squared * real).sum() / (real.sum() * s.target.size(-1));
}

// Trains every parameter of block `layer` on both sides with AdamW, from master copies in the targets' dtype
// (fp32 for a bf16 model); returns the new tensors in the model's dtype. No weight decay on the RMSNorm weights.
absl::StatusOr<TensorMap> TrainBlock(const Model& model, int layer, const Side& edit, const Side& pres,
                                     const UnkeOptions& o) {
  const auto master_dtype = edit.target.scalar_type();
  const std::string prefix = absl::StrCat("model.layers.", layer, ".");
  std::vector<std::string> names;
  std::vector<torch::Tensor> masters;
  std::vector<Adam> adams;
  for (const auto& [name, t] : model.NamedParameters()) {
    if (!absl::StartsWith(name, prefix)) continue;
    names.push_back(name);
    masters.push_back(t.to(master_dtype, /*non_blocking=*/false, /*copy=*/true).requires_grad_());
    adams.emplace_back(o.learning_rate, absl::StrContains(name, "layernorm") ? 0.0 : o.weight_decay, o.eps);
  }
  for (int step = 1; step <= o.steps; ++step) {
    if (o.should_stop && o.should_stop()) return absl::CancelledError("edit cancelled");
    torch::Tensor loss;
    {
      torch::AutoGradMode enable_grad(true);
      TensorMap weights;
      for (size_t k = 0; k < names.size(); ++k) weights[names[k]] = masters[k].to(model.dtype());
      MUKE_ASSIGN_OR_RETURN(torch::Tensor edit_loss, BlockLoss(model, layer, edit, weights));
      MUKE_ASSIGN_OR_RETURN(torch::Tensor pres_loss, BlockLoss(model, layer, pres, weights));
      loss = edit_loss + o.preservation_weight * pres_loss;
    }
    if (!std::isfinite(loss.item<double>())) {
      return absl::InternalError(absl::StrCat("unke: non-finite loss at layer ", layer, " step ", step));
    }
    const std::vector<torch::Tensor> grads = torch::autograd::grad({loss}, masters);
    for (size_t k = 0; k < masters.size(); ++k) adams[k].Step(masters[k], grads[k]);
  }
  TensorMap block;
  for (size_t k = 0; k < names.size(); ++k) {
    torch::Tensor updated = masters[k].detach().to(model.dtype());
    if (!updated.isfinite().all().item<bool>()) {
      return absl::InternalError(
          absl::StrCat("unke: non-finite ", names[k], " at layer ", layer, " after step ", o.steps));
    }
    block[names[k]] = updated;
  }
  return block;
}

}  // namespace

absl::StatusOr<TensorMap> UnkeUpdate(const Model& model, const std::vector<EditSequence>& batch,
                                     const torch::Tensor& preservation, const UnkeOptions& o) {
  return CatchExceptions("unke", [&]() -> absl::StatusOr<TensorMap> {
    MUKE_RETURN_IF_ERROR(Validate(model, batch, preservation, o));
    torch::NoGradGuard no_grad;
    const auto device = model.device();
    const auto master_dtype = torch::promote_types(model.dtype(), torch::kFloat32);  // bf16 trains in fp32
    const PaddedEditBatch padded = PadEditBatch(batch, device, master_dtype);
    const torch::Tensor pres_tokens = preservation.to(device);
    Side edit{padded.tokens, padded.mask, {}, {}}, pres{pres_tokens, torch::ones_like(pres_tokens), {}, {}};

    TensorMap result;  // also the overrides under which later layers see the earlier updates
    for (size_t i = 0; i < o.layers.size(); ++i) {
      const int layer = o.layers[i];
      MUKE_ASSIGN_OR_RETURN(Captured e, Capture(model, edit.tokens, edit.mask, {layer, o.hook_layer},
                                                o.hook_layer + 1, result));
      MUKE_ASSIGN_OR_RETURN(Captured p, Capture(model, pres.tokens, pres.mask, {layer}, layer + 1, result));
      // This layer's share of the residual, added to the block's current output at the shift positions.
      const torch::Tensor current = e.block_output.at(o.hook_layer).index({padded.rows, padded.cols});
      const torch::Tensor R =
          (padded.targets - current.to(master_dtype)) / static_cast<double>(o.layers.size() - i);  // [n_s, D]
      const torch::Tensor out = e.block_output.at(layer).to(master_dtype);
      edit.input = e.block_input.at(layer);
      edit.target = out.index_put({padded.rows, padded.cols}, out.index({padded.rows, padded.cols}) + R);
      pres.input = p.block_input.at(layer);
      pres.target = p.block_output.at(layer).to(master_dtype);

      MUKE_ASSIGN_OR_RETURN(TensorMap block, TrainBlock(model, layer, edit, pres, o));
      result.merge(block);
    }
    return result;
  });
}

}  // namespace muke
