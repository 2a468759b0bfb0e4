#include "core/io/llama2c_import.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>
#include <torch/types.h>

#include "absl/strings/str_cat.h"
#include "core/model/model.h"
#include "core/tokenizer/sentencepiece_tokenizer.h"
#include "core/util/status.h"

namespace muke {
namespace {

// llama2.c's Config header: seven little-endian int32.
struct Llama2cHeader {
  int32_t dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
};

// Hugging Face's convert_llama_weights_to_hf permutation: within each head, rows (2i, 2i+1) that llama2.c
// rotates as a pair become rows i and i + head_dim/2 that rotate_half pairs.
torch::Tensor PermuteForRotateHalf(const torch::Tensor& w, int64_t heads) {
  const int64_t rows = w.size(0), cols = w.size(1);
  return w.view({heads, rows / heads / 2, 2, cols}).transpose(1, 2).reshape({rows, cols});
}

absl::Status WriteJson(const std::string& path, const nlohmann::json& j) {
  std::ofstream out(path);
  out << j.dump(2) << "\n";
  if (!out) return absl::InternalError(absl::StrCat(path, ": write failed"));
  return absl::OkStatus();
}

}  // namespace

absl::Status ImportLlama2c(const std::string& checkpoint_path, const std::string& tokenizer_model_path,
                           const std::string& out_dir) {
  std::ifstream in(checkpoint_path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(checkpoint_path, ": cannot open"));
  Llama2cHeader h{};
  if (!in.read(reinterpret_cast<char*>(&h), sizeof(h))) {
    return absl::InvalidArgumentError(absl::StrCat(checkpoint_path, ": shorter than the 28-byte header"));
  }
  const bool shared_classifier = h.vocab_size > 0;
  const int64_t V = std::abs(h.vocab_size), D = h.dim, I = h.hidden_dim, L = h.n_layers, H = h.n_heads,
                Hkv = h.n_kv_heads, T = h.seq_len;
  if (D <= 0 || I <= 0 || L <= 0 || H <= 0 || Hkv <= 0 || V == 0 || T <= 0 || D % H != 0 || H % Hkv != 0 ||
      (D / H) % 2 != 0 || D > (1 << 20) || I > (1 << 22) || L > 1024 || V > (1 << 24) || T > (1 << 24)) {
    return absl::InvalidArgumentError(absl::StrCat(checkpoint_path, ": implausible header (dim ", D, ", hidden ", I,
                                                   ", layers ", L, ", heads ", H, "/", Hkv, ", vocab ", V,
                                                   ", seq_len ", T, ")"));
  }
  const int64_t hd = D / H, kv = Hkv * hd;
  const int64_t floats = V * D + L * D + L * D * D + 2 * L * kv * D + L * D * D + L * D + 3 * L * I * D + D +
                         T * hd + (shared_classifier ? 0 : V * D);
  const auto file_size = std::filesystem::file_size(checkpoint_path);
  if (file_size != sizeof(h) + floats * sizeof(float)) {
    return absl::InvalidArgumentError(absl::StrCat(checkpoint_path, ": ", file_size, " bytes, but the header implies ",
                                                   sizeof(h) + floats * sizeof(float)));
  }
  std::vector<float> data(floats);
  if (!in.read(reinterpret_cast<char*>(data.data()), floats * sizeof(float))) {
    return absl::DataLossError(absl::StrCat(checkpoint_path, ": read failed"));
  }

  MUKE_ASSIGN_OR_RETURN(auto tokenizer, SentencePieceTokenizer::Load(tokenizer_model_path, {}));
  if (tokenizer->vocab_size() != V) {
    return absl::InvalidArgumentError(absl::StrCat(tokenizer_model_path, ": ", tokenizer->vocab_size(),
                                                   " pieces, but the checkpoint has vocab_size ", V));
  }

  ModelConfig config;
  config.model_type = "llama";
  config.vocab_size = V;
  config.hidden_size = D;
  config.intermediate_size = I;
  config.num_hidden_layers = L;
  config.num_attention_heads = H;
  config.num_key_value_heads = Hkv;
  config.head_dim = hd;
  config.rms_norm_eps = 1e-5;
  config.rope_theta = 10000.0;
  config.tie_word_embeddings = shared_classifier;
  config.max_position_embeddings = T;
  config.bos_token_id = tokenizer->bos_id();
  // llama2.c's training data delimits documents with BOS and its `run` stops on it; </s> never occurs there.
  // Both end generation, BOS first: it is the id these models actually emit when a text is complete.
  config.eos_token_ids = {tokenizer->bos_id().value_or(1)};
  for (int64_t id : tokenizer->eos_ids()) config.eos_token_ids.push_back(id);

  return CatchExceptions("import-llama2c", [&]() -> absl::Status {
    size_t offset = 0;
    auto take = [&](std::vector<int64_t> shape) {
      torch::Tensor t = torch::from_blob(data.data() + offset, shape, torch::kFloat32).clone();
      offset += t.numel();
      return t;
    };
    TensorMap tensors;
    tensors["model.embed_tokens.weight"] = take({V, D});
    torch::Tensor attn_norm = take({L, D}), wq = take({L, D, D}), wk = take({L, kv, D}), wv = take({L, kv, D}),
                  wo = take({L, D, D}), mlp_norm = take({L, D}), w1 = take({L, I, D}), w2 = take({L, D, I}),
                  w3 = take({L, I, D});
    tensors["model.norm.weight"] = take({D});
    offset += T * hd;  // the two legacy RoPE tables
    if (!shared_classifier) tensors["lm_head.weight"] = take({V, D});
    for (int64_t l = 0; l < L; ++l) {
      const std::string p = absl::StrCat("model.layers.", l, ".");
      tensors[p + "input_layernorm.weight"] = attn_norm[l];
      tensors[p + "self_attn.q_proj.weight"] = PermuteForRotateHalf(wq[l], H);
      tensors[p + "self_attn.k_proj.weight"] = PermuteForRotateHalf(wk[l], Hkv);
      tensors[p + "self_attn.v_proj.weight"] = wv[l];
      tensors[p + "self_attn.o_proj.weight"] = wo[l];
      tensors[p + "post_attention_layernorm.weight"] = mlp_norm[l];
      tensors[p + "mlp.gate_proj.weight"] = w1[l];
      tensors[p + "mlp.down_proj.weight"] = w2[l];
      tensors[p + "mlp.up_proj.weight"] = w3[l];
    }
    // Building the model checks every tensor's presence and shape before anything is written.
    MUKE_ASSIGN_OR_RETURN(auto model, Model::FromTensors(config, tensors, {}, checkpoint_path));
    MUKE_RETURN_IF_ERROR(model->Save(out_dir, torch::kFloat32));

    std::error_code ec;
    std::filesystem::copy_file(tokenizer_model_path, out_dir + "/tokenizer.model",
                               std::filesystem::copy_options::overwrite_existing, ec);
    if (!ec) {
      // The source may be read-only; the copy belongs to the new directory's owner.
      using std::filesystem::perms;
      std::filesystem::permissions(out_dir + "/tokenizer.model",
                                   perms::owner_read | perms::owner_write | perms::group_read | perms::others_read, ec);
    }
    if (ec) return absl::InternalError(absl::StrCat(out_dir, "/tokenizer.model: ", ec.message()));
    MUKE_ASSIGN_OR_RETURN(std::string bos, tokenizer->IdToPiece(tokenizer->bos_id().value_or(1)));
    MUKE_ASSIGN_OR_RETURN(std::string eos, tokenizer->IdToPiece(tokenizer->eos_ids().at(0)));
    MUKE_ASSIGN_OR_RETURN(std::string unk, tokenizer->IdToPiece(0));
    MUKE_RETURN_IF_ERROR(WriteJson(out_dir + "/tokenizer_config.json",
                                   {{"tokenizer_class", "LlamaTokenizer"},
                                    {"add_bos_token", true},
                                    {"add_eos_token", false},
                                    {"bos_token", bos},
                                    {"eos_token", eos},
                                    {"unk_token", unk},
                                    {"model_max_length", T},
                                    {"clean_up_tokenization_spaces", false},
                                    {"legacy", true}}));
    MUKE_RETURN_IF_ERROR(WriteJson(out_dir + "/special_tokens_map.json",
                                   {{"bos_token", bos}, {"eos_token", eos}, {"unk_token", unk}}));
    return WriteJson(out_dir + "/generation_config.json",
                     {{"bos_token_id", config.bos_token_id.value_or(1)},
                      {"eos_token_id", config.eos_token_ids},
                      {"max_length", T},
                      {"do_sample", false}});
  });
}

}  // namespace muke
