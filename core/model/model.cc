#include "core/model/model.h"

#include <filesystem>
#include <fstream>

#include <torch/types.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "core/model/rope.h"
#include "core/util/host_allocator.h"
#include "core/util/status.h"

namespace muke {
namespace {

// Half-precision activations are upcast for reductions (softmax, norms, logits); float64 stays float64.
torch::ScalarType AccumulationType(torch::ScalarType t) { return torch::promote_types(t, torch::kFloat32); }

// HF LlamaRMSNorm: normalise in float32, cast back, then scale.
torch::Tensor RMSNorm(const torch::Tensor& x, const torch::Tensor& weight, double eps) {
  torch::Tensor xf = x.to(AccumulationType(x.scalar_type()));
  xf = xf * torch::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps);
  return weight * xf.to(x.scalar_type());
}

torch::Tensor Linear(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
  return torch::linear(x, w, b);
}

// Additive attention bias [B, 1, 1, S, past + S]: 0 where query i may attend key j (causal, key not padding,
// inside the sliding window), a large negative number elsewhere. Fully masked rows (padding queries) stay finite.
torch::Tensor AttentionBias(const torch::Tensor& key_mask, int64_t past, int64_t S, std::optional<int64_t> window) {
  auto opts = torch::TensorOptions().dtype(torch::kInt64).device(key_mask.device());
  torch::Tensor q = torch::arange(past, past + S, opts).unsqueeze(1);  // [S,1]
  torch::Tensor k = torch::arange(0, past + S, opts).unsqueeze(0);     // [1,T]
  torch::Tensor allowed = k <= q;
  if (window) allowed = allowed.logical_and(q - k < *window);
  allowed = allowed.unsqueeze(0).logical_and(key_mask.to(torch::kBool).unsqueeze(1));  // [B,S,T]
  torch::Tensor bias = torch::zeros(allowed.sizes(), key_mask.options().dtype(torch::kFloat32));
  return bias.masked_fill(allowed.logical_not(), -1e9).unsqueeze(1).unsqueeze(1);
}

}  // namespace

absl::StatusOr<torch::ScalarType> ParseDtypeName(const std::string& name) {
  if (name == "float32" || name == "fp32") return torch::kFloat32;
  if (name == "bfloat16" || name == "bf16") return torch::kBFloat16;
  if (name == "float16" || name == "fp16") return torch::kFloat16;
  return absl::InvalidArgumentError(absl::StrCat("dtype '", name, "' is not one of float32, bfloat16, float16"));
}

std::string DtypeName(torch::ScalarType dtype) {
  switch (dtype) {
    case torch::kBFloat16: return "bfloat16";
    case torch::kFloat16: return "float16";
    default: return "float32";
  }
}

std::vector<std::pair<std::string, torch::Tensor*>> Model::MutableParameters() {
  std::vector<std::pair<std::string, torch::Tensor*>> p;
  p.emplace_back("model.embed_tokens.weight", &embed_tokens_);
  for (size_t i = 0; i < layers_.size(); ++i) {
    BlockWeights& w = layers_[i];
    const std::string pre = absl::StrCat("model.layers.", i, ".");
    p.emplace_back(pre + "input_layernorm.weight", &w.input_layernorm);
    p.emplace_back(pre + "self_attn.q_proj.weight", &w.q_proj);
    p.emplace_back(pre + "self_attn.k_proj.weight", &w.k_proj);
    p.emplace_back(pre + "self_attn.v_proj.weight", &w.v_proj);
    p.emplace_back(pre + "self_attn.o_proj.weight", &w.o_proj);
    if (config_.qkv_bias) {
      p.emplace_back(pre + "self_attn.q_proj.bias", &w.q_bias);
      p.emplace_back(pre + "self_attn.k_proj.bias", &w.k_bias);
      p.emplace_back(pre + "self_attn.v_proj.bias", &w.v_bias);
    }
    if (config_.o_bias) p.emplace_back(pre + "self_attn.o_proj.bias", &w.o_bias);
    p.emplace_back(pre + "post_attention_layernorm.weight", &w.post_attention_layernorm);
    p.emplace_back(pre + "mlp.gate_proj.weight", &w.gate_proj);
    p.emplace_back(pre + "mlp.up_proj.weight", &w.up_proj);
    p.emplace_back(pre + "mlp.down_proj.weight", &w.down_proj);
  }
  p.emplace_back("model.norm.weight", &norm_);
  if (!config_.tie_word_embeddings) p.emplace_back("lm_head.weight", &lm_head_);
  return p;
}

std::vector<std::pair<std::string, torch::Tensor>> Model::NamedParameters() const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (auto& [name, ptr] : const_cast<Model*>(this)->MutableParameters()) out.emplace_back(name, *ptr);
  return out;
}

TensorMap Model::StateDict() const {
  TensorMap m;
  for (auto& [name, t] : NamedParameters()) m[name] = t;
  return m;
}

absl::StatusOr<torch::Tensor> Model::Parameter(const std::string& name) const {
  for (auto& [n, t] : NamedParameters()) {
    if (n == name) return t;
  }
  return absl::NotFoundError(absl::StrCat("no parameter named '", name, "'"));
}

absl::Status Model::SetParameter(const std::string& name, const torch::Tensor& value) {
  for (auto& [n, ptr] : MutableParameters()) {
    if (n != name) continue;
    if (!value.defined() || value.sizes() != ptr->sizes()) {
      return absl::InvalidArgumentError(absl::StrCat("parameter '", name, "': new value has shape [",
                                                     value.defined() ? absl::StrJoin(value.sizes(), ", ") : "",
                                                     "], expected [", absl::StrJoin(ptr->sizes(), ", "), "]"));
    }
    return CatchExceptions("SetParameter " + name, [&]() -> absl::Status {
      const bool is_embedding = ptr == &embed_tokens_;
      *ptr = value.detach().to(device_, dtype_).contiguous();
      if (is_embedding && config_.tie_word_embeddings) lm_head_ = embed_tokens_;
      return absl::OkStatus();
    });
  }
  return absl::NotFoundError(absl::StrCat("no parameter named '", name, "'"));
}

absl::StatusOr<std::unique_ptr<Model>> Model::FromTensors(const ModelConfig& config, const TensorMap& tensors,
                                                          const ModelLoadOptions& options, const std::string& source) {
  TuneHostAllocator();
  std::unique_ptr<Model> m(new Model());
  m->config_ = config;
  m->device_ = options.device;
  if (options.dtype) {
    m->dtype_ = *options.dtype;
  } else if (options.device.is_cuda()) {
    MUKE_ASSIGN_OR_RETURN(m->dtype_, ParseDtypeName(config.torch_dtype));
  }
  m->layers_.resize(config.num_hidden_layers);

  const int64_t D = config.hidden_size, I = config.intermediate_size, V = config.vocab_size;
  const int64_t q_dim = config.num_attention_heads * config.head_dim, kv = config.kv_dim();
  auto expected_shape = [&](const std::string& name) -> std::vector<int64_t> {
    auto ends = [&](const char* suffix) { return absl::EndsWith(name, suffix); };
    if (name == "model.embed_tokens.weight" || name == "lm_head.weight") return {V, D};
    if (ends("layernorm.weight") || name == "model.norm.weight") return {D};
    if (ends("q_proj.weight")) return {q_dim, D};
    if (ends("k_proj.weight") || ends("v_proj.weight")) return {kv, D};
    if (ends("o_proj.weight")) return {D, q_dim};
    if (ends("q_proj.bias")) return {q_dim};
    if (ends("k_proj.bias") || ends("v_proj.bias")) return {kv};
    if (ends("o_proj.bias")) return {D};
    if (ends("gate_proj.weight") || ends("up_proj.weight")) return {I, D};
    return {D, I};  // down_proj
  };

  MUKE_RETURN_IF_ERROR(CatchExceptions(source, [&]() -> absl::Status {
    for (auto& [name, ptr] : m->MutableParameters()) {
      auto it = tensors.find(name);
      if (it == tensors.end()) {
        return absl::InvalidArgumentError(absl::StrCat(source, ": tensor '", name, "' is missing"));
      }
      const std::vector<int64_t> shape = expected_shape(name);
      if (it->second.sizes() != torch::IntArrayRef(shape)) {
        return absl::InvalidArgumentError(absl::StrCat(source, ": tensor '", name, "' has shape [",
                                                       absl::StrJoin(it->second.sizes(), ", "), "], expected [",
                                                       absl::StrJoin(shape, ", "), "]"));
      }
      if (!it->second.is_floating_point()) {
        return absl::InvalidArgumentError(absl::StrCat(source, ": tensor '", name, "' is not floating point"));
      }
      *ptr = it->second.detach().to(m->device_, m->dtype_).contiguous();
    }
    if (config.tie_word_embeddings) m->lm_head_ = m->embed_tokens_;
    m->inv_freq_ = RopeInverseFrequencies(config).to(m->device_);
    return absl::OkStatus();
  }));
  return m;
}

absl::StatusOr<std::unique_ptr<Model>> Model::Load(const std::string& dir, const ModelLoadOptions& options) {
  MUKE_ASSIGN_OR_RETURN(ModelConfig config, LoadModelConfig(dir));
  // Load on the CPU in the file's dtype, convert per tensor when moving into the model.
  MUKE_ASSIGN_OR_RETURN(TensorMap tensors, ReadCheckpointTensors(dir));
  return FromTensors(config, tensors, options, dir);
}

absl::Status Model::Save(const std::string& dir, torch::ScalarType dtype, uint64_t max_shard_bytes) const {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat(dir, ": cannot create directory: ", ec.message()));
  ModelConfig config = config_;
  config.torch_dtype = DtypeName(dtype);
  {
    std::ofstream out(dir + "/config.json");
    out << ModelConfigToJson(config).dump(2) << "\n";
    if (!out) return absl::InternalError(absl::StrCat(dir, "/config.json: write failed"));
  }
  MUKE_ASSIGN_OR_RETURN(TensorMap converted, CatchExceptions("Save", [&]() -> absl::StatusOr<TensorMap> {
    TensorMap m;
    for (auto& [name, t] : NamedParameters()) m[name] = t.to(torch::kCPU, dtype);
    return m;
  }));
  return WriteCheckpointTensors(dir, converted, max_shard_bytes);
}

torch::Tensor Model::Block(int l, torch::Tensor x, const torch::Tensor& cos, const torch::Tensor& sin,
                           const torch::Tensor& bias, KVCache* cache, bool append, const CaptureSpec* capture,
                           const torch::Tensor& capture_index, Captured& captured) const {
  const BlockWeights& w = layers_[l];
  const ModelConfig& c = config_;
  const int64_t B = x.size(0), S = x.size(1), H = c.num_attention_heads, Hkv = c.num_key_value_heads,
                hd = c.head_dim;

  // Self-attention with grouped KV heads: queries [B, Hkv, H/Hkv, S, hd] against keys [B, Hkv, 1, T, hd].
  torch::Tensor a = RMSNorm(x, w.input_layernorm, c.rms_norm_eps);
  torch::Tensor q = Linear(a, w.q_proj, w.q_bias).view({B, S, H, hd}).transpose(1, 2);
  torch::Tensor k = Linear(a, w.k_proj, w.k_bias).view({B, S, Hkv, hd}).transpose(1, 2);
  torch::Tensor v = Linear(a, w.v_proj, w.v_bias).view({B, S, Hkv, hd}).transpose(1, 2);
  q = ApplyRope(q, cos, sin);
  k = ApplyRope(k, cos, sin);
  if (cache && cache->k[l].defined()) {
    k = torch::cat({cache->k[l], k}, 2);
    v = torch::cat({cache->v[l], v}, 2);
  }
  if (cache && append) {
    cache->k[l] = k.detach();
    cache->v[l] = v.detach();
  }
  torch::Tensor scores = torch::matmul(q.reshape({B, Hkv, H / Hkv, S, hd}), k.unsqueeze(2).transpose(-1, -2));
  torch::Tensor probs = torch::softmax(scores.to(AccumulationType(scores.scalar_type())) / std::sqrt(double(hd)) + bias, -1);
  torch::Tensor ctx = torch::matmul(probs.to(x.scalar_type()), v.unsqueeze(2));  // [B,Hkv,G,S,hd]
  ctx = ctx.reshape({B, H, S, hd}).transpose(1, 2).reshape({B, S, H * hd});
  torch::Tensor h = x + Linear(ctx, w.o_proj, w.o_bias);

  // SwiGLU MLP; its down_proj input is the MEMIT key.
  torch::Tensor m = RMSNorm(h, w.post_attention_layernorm, c.rms_norm_eps);
  torch::Tensor key = torch::silu(Linear(m, w.gate_proj, {})) * Linear(m, w.up_proj, {});
  torch::Tensor y = h + Linear(key, w.down_proj, {});

  if (capture && std::count(capture->layers.begin(), capture->layers.end(), l)) {
    auto pick = [&](const torch::Tensor& t) {
      if (!capture_index.defined()) return t;
      return t.gather(1, capture_index.unsqueeze(-1).expand({B, capture_index.size(1), t.size(-1)}));
    };
    if (capture->block_input) captured.block_input[l] = pick(x);
    if (capture->mlp_key) captured.mlp_key[l] = pick(key);
    if (capture->block_output) captured.block_output[l] = pick(y);
  }
  return y;
}

absl::StatusOr<ForwardOutput> Model::Forward(const ForwardInput& in) const {
  if (!in.weight_overrides || in.weight_overrides->empty()) return ForwardWithOwnWeights(in);
  // A shallow copy shares every tensor; only the overridden handles are replaced.
  Model view = *this;
  for (const auto& [name, value] : *in.weight_overrides) {
    auto current = view.Parameter(name);
    if (!current.ok()) return current.status();
    if (!value.defined() || value.sizes() != current->sizes() || value.scalar_type() != dtype_ ||
        value.device() != device_) {
      return absl::InvalidArgumentError(absl::StrCat("forward: override '", name,
                                                     "' must match the parameter's shape, dtype and device"));
    }
    for (auto& [n, ptr] : view.MutableParameters()) {
      if (n == name) *ptr = value;
    }
    if (name == "model.embed_tokens.weight" && config_.tie_word_embeddings) view.lm_head_ = value;
  }
  return view.ForwardWithOwnWeights(in);
}

absl::StatusOr<ForwardOutput> Model::ForwardWithOwnWeights(const ForwardInput& in) const {
  const int L = num_layers();
  const int end = in.end_layer < 0 ? L : in.end_layer;
  if (in.first_layer < 0 || in.first_layer > end || end > L) {
    return absl::InvalidArgumentError(
        absl::StrCat("forward: layer range [", in.first_layer, ", ", end, ") is outside [0, ", L, "]"));
  }
  return CatchExceptions("forward", [&]() -> absl::StatusOr<ForwardOutput> {
    torch::Tensor x;
    if (in.first_layer == 0) {
      if (!in.tokens.defined() || in.tokens.dim() != 2 || in.tokens.size(1) == 0) {
        return absl::InvalidArgumentError("forward: tokens must be a non-empty [batch, seq] tensor");
      }
      torch::Tensor tokens = in.tokens.to(device_, torch::kInt64);
      if (tokens.min().item<int64_t>() < 0 || tokens.max().item<int64_t>() >= config_.vocab_size) {
        return absl::InvalidArgumentError(
            absl::StrCat("forward: token ids must lie in [0, ", config_.vocab_size, ")"));
      }
      x = embed_tokens_.index_select(0, tokens.reshape(-1)).view({tokens.size(0), tokens.size(1), -1});
    } else {
      if (!in.hidden.defined() || in.hidden.dim() != 3 || in.hidden.size(2) != config_.hidden_size) {
        return absl::InvalidArgumentError(
            absl::StrCat("forward: hidden must be [batch, seq, ", config_.hidden_size, "]"));
      }
      x = in.hidden.to(device_, dtype_);
    }
    const int64_t B = x.size(0), S = x.size(1);
    int64_t past = 0;
    if (in.cache) {
      if (static_cast<int>(in.cache->k.size()) != L) return absl::InvalidArgumentError("forward: cache has wrong layer count");
      past = in.cache->length(in.first_layer);
      for (int l = in.first_layer; l < end; ++l) {
        if (in.cache->length(l) != past || (past && in.cache->k[l].size(0) != B)) {
          return absl::InvalidArgumentError("forward: cache lengths or batch differ across the layers run");
        }
      }
    }
    torch::Tensor mask = in.attention_mask.defined()
                             ? in.attention_mask.to(device_, torch::kInt64)
                             : torch::ones({B, past + S}, torch::dtype(torch::kInt64).device(device_));
    if (mask.dim() != 2 || mask.size(0) != B || mask.size(1) != past + S) {
      return absl::InvalidArgumentError(absl::StrCat("forward: attention_mask must be [", B, ", ", past + S, "]"));
    }
    for (const BlockShift& s : in.shifts) {
      if (s.layer < in.first_layer - 1 || s.layer >= end || s.batch < 0 || s.batch >= B || !s.delta.defined() ||
          s.delta.dim() != 1 || s.delta.size(0) != config_.hidden_size) {
        return absl::InvalidArgumentError(absl::StrCat("forward: shift at layer ", s.layer, " batch ", s.batch,
                                                       " must target a layer run and be [hidden_size]"));
      }
    }
    if (in.capture && in.capture->positions.defined()) {
      const torch::Tensor& p = in.capture->positions;
      if (p.dim() != 2 || p.size(0) != B || (p.numel() && (p.min().item<int64_t>() < past ||
                                                           p.max().item<int64_t>() >= past + S))) {
        return absl::InvalidArgumentError(
            absl::StrCat("forward: capture positions must be [", B, ", K] inside [", past, ", ", past + S, ")"));
      }
    }

    // Position ids count real tokens only, so left-padded rows start at 0 like unpadded ones.
    torch::Tensor positions = (mask.cumsum(1) - 1).clamp_min(0).slice(1, past);
    auto [cos, sin] = RopeCosSin(inv_freq_, positions, dtype_);
    torch::Tensor bias = AttentionBias(mask, past, S, config_.sliding_window);

    // Adds the shifts of layer `l` (at absolute positions inside this chunk) to the residual stream.
    auto add_shifts = [&](torch::Tensor h, int l) {
      std::vector<int64_t> rows, cols;
      std::vector<torch::Tensor> deltas;
      for (const BlockShift& s : in.shifts) {
        if (s.layer != l || s.position < past || s.position >= past + S) continue;
        rows.push_back(s.batch);
        cols.push_back(s.position - past);
        deltas.push_back(s.delta.to(h.device(), h.scalar_type()));
      }
      if (deltas.empty()) return h;
      auto idx = torch::dtype(torch::kInt64);
      torch::Tensor add = torch::zeros_like(h).index_put(
          {torch::tensor(rows, idx).to(h.device()), torch::tensor(cols, idx).to(h.device())}, torch::stack(deltas),
          /*accumulate=*/true);
      return h + add;
    };

    torch::Tensor capture_index;
    if (in.capture && in.capture->positions.defined()) capture_index = in.capture->positions.to(device_) - past;

    ForwardOutput out;
    x = add_shifts(x, in.first_layer - 1);
    for (int l = in.first_layer; l < end; ++l) {
      x = add_shifts(Block(l, x, cos, sin, bias, in.cache, in.append_to_cache, in.capture, capture_index,
                                  out.captured), l);
    }
    out.hidden = x;
    if (end == L && in.compute_logits) {
      torch::Tensor h = in.last_logits_only ? x.slice(1, S - 1) : x;
      out.logits = torch::matmul(RMSNorm(h, norm_, config_.rms_norm_eps), lm_head_.t()).to(AccumulationType(dtype_));
    }
    return out;
  });
}

}  // namespace muke
