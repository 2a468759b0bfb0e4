// The architecture hyperparameters of a decoder LLM, parsed from a Hugging Face `config.json`
// (model_type llama, qwen2 or mistral) and written back in the same format.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace muke {

// rope_scaling {"rope_type": "llama3", ...}: Llama 3.1+ frequency-dependent scaling of the RoPE frequencies.
struct Llama3RopeScaling {
  double factor = 8.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_position_embeddings = 8192;
};

struct ModelConfig {
  std::string model_type;  // "llama", "qwen2" or "mistral"
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  int64_t head_dim = 0;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  std::optional<Llama3RopeScaling> rope_scaling;
  bool tie_word_embeddings = false;
  bool qkv_bias = false;  // q/k/v projections carry a bias (always for qwen2; `attention_bias` for llama)
  bool o_bias = false;    // o_proj carries a bias (`attention_bias` for llama)
  std::optional<int64_t> sliding_window;  // mistral; attention limited to the last N positions
  std::optional<int64_t> bos_token_id;
  std::vector<int64_t> eos_token_ids;
  int64_t max_position_embeddings = 2048;
  std::string torch_dtype = "float32";  // dtype the checkpoint was saved in

  int64_t kv_dim() const { return num_key_value_heads * head_dim; }
};

// Parses and validates a config.json object; `source` (a file name) prefixes every error message.
absl::StatusOr<ModelConfig> ParseModelConfig(const nlohmann::json& j, const std::string& source = "config.json");

// Reads `<dir>/config.json`.
absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& dir);

// The Hugging Face config.json representation (round-trips through ParseModelConfig).
nlohmann::json ModelConfigToJson(const ModelConfig& config);

}  // namespace muke
