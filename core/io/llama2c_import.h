// Converts a llama2.c legacy checkpoint (+ its SentencePiece tokenizer.model) into a Hugging Face Llama
// directory, permuting wq/wk from llama2.c's adjacent-pair RoPE to Hugging Face's rotate-half RoPE.
#pragma once

#include <string>

#include "absl/status/status.h"

namespace muke {

// Writes config.json, model.safetensors (float32), tokenizer.model, tokenizer_config.json,
// special_tokens_map.json and generation_config.json into `out_dir` (created when missing).
absl::Status ImportLlama2c(const std::string& checkpoint_path, const std::string& tokenizer_model_path,
                           const std::string& out_dir);

}  // namespace muke
