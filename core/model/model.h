// A native libtorch decoder for the Llama / Qwen2 / Mistral families: weights in Hugging Face naming,
// a batched forward with causal + padding mask, GQA, rotate-half RoPE, RMSNorm and SwiGLU, an optional
// KV cache, and the editor's hook points (shifts, captures, running a range of blocks from a hidden state).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <torch/types.h>

#include "absl/status/statusor.h"
#include "core/model/config.h"
#include "core/model/hooks.h"
#include "core/model/kv_cache.h"
#include "core/model/safetensors.h"

namespace muke {

struct BlockWeights {
  torch::Tensor input_layernorm;
  torch::Tensor q_proj, k_proj, v_proj, o_proj;
  torch::Tensor q_bias, k_bias, v_bias, o_bias;  // undefined when the architecture has none
  torch::Tensor post_attention_layernorm;
  torch::Tensor gate_proj, up_proj, down_proj;
};

struct ModelLoadOptions {
  torch::Device device = torch::kCPU;
  // Dtype of the weights and activations; default float32 on CPU, the checkpoint's torch_dtype on CUDA.
  std::optional<torch::ScalarType> dtype;
};

struct ForwardInput {
  torch::Tensor tokens;  // [B, S] int64; used when first_layer == 0
  torch::Tensor hidden;  // [B, S, D]: the residual stream entering block first_layer (first_layer > 0)
  int first_layer = 0;
  int end_layer = -1;  // exclusive; -1 = all layers. Logits only when the last layer runs.
  // [B, past + S], 1 for real tokens and 0 for padding (left padding); undefined = all real.
  torch::Tensor attention_mask;
  KVCache* cache = nullptr;       // keys/values of the `past` positions; extended when append_to_cache
  bool append_to_cache = true;
  std::vector<BlockShift> shifts;  // a shift at layer first_layer-1 is added to `hidden`
  const CaptureSpec* capture = nullptr;
  // Parameters (by Hugging Face name) to use instead of the model's own for this pass only: how the editor
  // evaluates new weights computed on copies without touching the served model.
  const TensorMap* weight_overrides = nullptr;
  bool compute_logits = true;
  bool last_logits_only = false;  // logits for the last position only (generation)
};

struct ForwardOutput {
  torch::Tensor logits;  // [B, S or 1, V] float32 (float64 for a float64 model); undefined when not computed
  torch::Tensor hidden;  // [B, S, D]: residual stream after the last block run, shifts included, before the final norm
  Captured captured;
};

class Model {
 public:
  // Loads config.json and the safetensors weights of a Hugging Face model directory.
  static absl::StatusOr<std::unique_ptr<Model>> Load(const std::string& dir, const ModelLoadOptions& options = {});
  // Builds a model from tensors in Hugging Face naming; checks every expected tensor and its shape.
  // Loading tunes the process's malloc for tensor workloads once (see core/util/host_allocator.h).
  static absl::StatusOr<std::unique_ptr<Model>> FromTensors(const ModelConfig& config, const TensorMap& tensors,
                                                            const ModelLoadOptions& options = {},
                                                            const std::string& source = "checkpoint");

  const ModelConfig& config() const { return config_; }
  torch::Device device() const { return device_; }
  torch::ScalarType dtype() const { return dtype_; }
  int num_layers() const { return static_cast<int>(layers_.size()); }

  absl::StatusOr<ForwardOutput> Forward(const ForwardInput& input) const;

  // Parameters by Hugging Face name (lm_head.weight omitted when tied to the embeddings).
  std::vector<std::pair<std::string, torch::Tensor>> NamedParameters() const;
  TensorMap StateDict() const;
  absl::StatusOr<torch::Tensor> Parameter(const std::string& name) const;
  // Replaces one parameter; the new tensor must have the same shape (it is moved to the model's device/dtype).
  absl::Status SetParameter(const std::string& name, const torch::Tensor& value);

  // Writes config.json (torch_dtype set to `dtype`) and the weights as safetensors into `dir`.
  absl::Status Save(const std::string& dir, torch::ScalarType dtype, uint64_t max_shard_bytes = 5ull << 30) const;

 private:
  Model() = default;
  absl::StatusOr<ForwardOutput> ForwardWithOwnWeights(const ForwardInput& input) const;
  std::vector<std::pair<std::string, torch::Tensor*>> MutableParameters();
  torch::Tensor Block(int layer, torch::Tensor x, const torch::Tensor& cos, const torch::Tensor& sin,
                      const torch::Tensor& bias, KVCache* cache, bool append, const CaptureSpec* capture,
                      const torch::Tensor& capture_index, Captured& captured) const;

  ModelConfig config_;
  torch::Device device_ = torch::kCPU;
  torch::ScalarType dtype_ = torch::kFloat32;
  torch::Tensor embed_tokens_;
  std::vector<BlockWeights> layers_;
  torch::Tensor norm_;
  torch::Tensor lm_head_;  // the same tensor as embed_tokens_ when tied
  torch::Tensor inv_freq_;  // [head_dim / 2] float32 RoPE frequencies (llama3 scaling applied)
};

// Name of a dtype as used in config.json ("float32", "bfloat16", "float16").
absl::StatusOr<torch::ScalarType> ParseDtypeName(const std::string& name);
std::string DtypeName(torch::ScalarType dtype);

}  // namespace muke
