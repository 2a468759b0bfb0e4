// Helpers shared by the test suites: temp dirs, the shared test material, tiny random models.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <sys/wait.h>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>
#include <torch/types.h>

#include "core/model/config.h"
#include "core/model/model.h"

namespace muke::testing {

// A fresh empty directory under the gtest temp dir, unique per call.
inline std::string MakeTempDir(const std::string& tag) {
  std::string tmpl = ::testing::TempDir() + "muke-" + tag + "-XXXXXX";
  char* dir = mkdtemp(tmpl.data());
  EXPECT_NE(dir, nullptr) << "mkdtemp failed for " << tmpl;
  return tmpl;
}

// ../shared beside the repository (MUKE_SHARED_DIR at build time).
inline std::string SharedDir() { return MUKE_SHARED_DIR; }

inline std::string Stories260KDir() { return SharedDir() + "/models/stories260K"; }

// Imports stories260K with the real `muke-tool import-llama2c` once per test binary; returns the HF directory.
inline std::string ImportedStories260K() {
  static const std::string dir = [] {
    const std::string out = MakeTempDir("stories260K");
    const std::string cmd = std::string(MUKE_TOOL_PATH) + " import-llama2c " + Stories260KDir() +
                            "/stories260K.bin " + Stories260KDir() + "/tok512.model " + out + " > /dev/null";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
    return out;
  }();
  return dir;
}

// Runs a shell command; returns its exit status and standard output.
struct CommandResult {
  int exit_code = -1;
  std::string out;
};
inline CommandResult RunCommand(const std::string& cmd) {
  CommandResult r;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return r;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) r.out.append(buffer, n);
  const int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

#define MUKE_REQUIRE_SHARED()                                                              \
  if (!std::filesystem::exists(::muke::testing::Stories260KDir() + "/stories260K.bin")) \
  GTEST_SKIP() << "shared test material not found at " << ::muke::testing::SharedDir()

// A small Qwen2-shaped config: q/k/v biases, tied embeddings, GQA.
inline ModelConfig TinyQwen2Config() {
  ModelConfig c;
  c.model_type = "qwen2";
  c.vocab_size = 97;
  c.hidden_size = 32;
  c.intermediate_size = 48;
  c.num_hidden_layers = 3;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 8;
  c.rms_norm_eps = 1e-6;
  c.rope_theta = 1000000.0;
  c.tie_word_embeddings = true;
  c.qkv_bias = true;
  c.bos_token_id = 1;
  c.eos_token_ids = {2, 3};
  c.max_position_embeddings = 256;
  return c;
}

// A small Llama-3-shaped config: untied head, GQA, llama3 rope scaling.
inline ModelConfig TinyLlama3Config() {
  ModelConfig c;
  c.model_type = "llama";
  c.vocab_size = 113;
  c.hidden_size = 48;
  c.intermediate_size = 64;
  c.num_hidden_layers = 3;
  c.num_attention_heads = 6;
  c.num_key_value_heads = 2;
  c.head_dim = 8;
  c.rms_norm_eps = 1e-5;
  c.rope_theta = 500000.0;
  c.rope_scaling = Llama3RopeScaling{8.0, 1.0, 4.0, 32};
  c.bos_token_id = 5;
  c.eos_token_ids = {6, 7};
  c.max_position_embeddings = 512;
  return c;
}

// Random weights in Hugging Face naming for `config` (norm weights near 1, projections ~ N(0, 0.2^2)).
inline TensorMap RandomWeights(const ModelConfig& c, uint64_t seed) {
  torch::manual_seed(seed);
  const int64_t D = c.hidden_size, I = c.intermediate_size, q = c.num_attention_heads * c.head_dim, kv = c.kv_dim();
  auto w = [](std::vector<int64_t> shape) { return torch::randn(shape) * 0.2; };
  auto norm = [&] { return 1.0 + 0.1 * torch::randn({D}); };
  TensorMap m;
  m["model.embed_tokens.weight"] = torch::randn({c.vocab_size, D});
  m["model.norm.weight"] = norm();
  if (!c.tie_word_embeddings) m["lm_head.weight"] = w({c.vocab_size, D});
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    m[p + "input_layernorm.weight"] = norm();
    m[p + "post_attention_layernorm.weight"] = norm();
    m[p + "self_attn.q_proj.weight"] = w({q, D});
    m[p + "self_attn.k_proj.weight"] = w({kv, D});
    m[p + "self_attn.v_proj.weight"] = w({kv, D});
    m[p + "self_attn.o_proj.weight"] = w({D, q});
    if (c.qkv_bias) {
      m[p + "self_attn.q_proj.bias"] = w({q});
      m[p + "self_attn.k_proj.bias"] = w({kv});
      m[p + "self_attn.v_proj.bias"] = w({kv});
    }
    if (c.o_bias) m[p + "self_attn.o_proj.bias"] = w({D});
    m[p + "mlp.gate_proj.weight"] = w({I, D});
    m[p + "mlp.up_proj.weight"] = w({I, D});
    m[p + "mlp.down_proj.weight"] = w({D, I});
  }
  return m;
}

inline std::unique_ptr<Model> RandomModel(const ModelConfig& c, uint64_t seed,
                                          torch::ScalarType dtype = torch::kFloat32) {
  ModelLoadOptions options;
  options.dtype = dtype;
  auto model = Model::FromTensors(c, RandomWeights(c, seed), options);
  EXPECT_TRUE(model.ok()) << model.status();
  return std::move(model).value();
}

// Logits [1, S, V] of a plain full forward over `ids`.
inline torch::Tensor FullLogits(const Model& model, const std::vector<int64_t>& ids) {
  ForwardInput in;
  in.tokens = torch::tensor(ids, torch::kInt64).unsqueeze(0);
  auto out = model.Forward(in);
  EXPECT_TRUE(out.ok()) << out.status();
  return out->logits;
}

inline double MaxAbsDiff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

}  // namespace muke::testing

namespace muke {
// Short names in gtest output for parameterised tests over configs.
inline void PrintTo(const ModelConfig& c, std::ostream* os) { *os << c.model_type << " config"; }
}  // namespace muke
