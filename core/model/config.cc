#include "core/model/config.h"

#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/util/status.h"

namespace muke {
namespace {

using nlohmann::json;

// Reads typed keys of one JSON object, prefixing errors with the source and key.
class ConfigReader {
 public:
  ConfigReader(const json& j, const std::string& source) : j_(j), source_(source) {}

  absl::Status Error(const std::string& key, const std::string& problem) const {
    return absl::InvalidArgumentError(absl::StrCat(source_, ": key '", key, "' ", problem));
  }
  bool Has(const std::string& key) const { return j_.contains(key) && !j_.at(key).is_null(); }

  absl::StatusOr<int64_t> Int(const std::string& key, std::optional<int64_t> fallback, int64_t min_value = 1) const {
    if (!Has(key)) {
      if (fallback) return *fallback;
      return Error(key, "is missing");
    }
    const json& v = j_.at(key);
    if (!v.is_number_integer()) return Error(key, "must be an integer");
    int64_t x = v.get<int64_t>();
    if (x < min_value) return Error(key, absl::StrCat("must be >= ", min_value, ", got ", x));
    return x;
  }
  absl::StatusOr<double> Double(const std::string& key, double fallback) const {
    if (!Has(key)) return fallback;
    const json& v = j_.at(key);
    if (!v.is_number()) return Error(key, "must be a number");
    double x = v.get<double>();
    if (!(x > 0)) return Error(key, absl::StrCat("must be positive, got ", x));
    return x;
  }
  absl::StatusOr<bool> Bool(const std::string& key, bool fallback) const {
    if (!Has(key)) return fallback;
    if (!j_.at(key).is_boolean()) return Error(key, "must be true or false");
    return j_.at(key).get<bool>();
  }
  absl::StatusOr<std::string> String(const std::string& key, std::optional<std::string> fallback) const {
    if (!Has(key)) {
      if (fallback) return *fallback;
      return Error(key, "is missing");
    }
    if (!j_.at(key).is_string()) return Error(key, "must be a string");
    return j_.at(key).get<std::string>();
  }
  // An int or a list of ints (eos_token_id); empty when absent.
  absl::StatusOr<std::vector<int64_t>> IntList(const std::string& key) const {
    std::vector<int64_t> out;
    if (!Has(key)) return out;
    const json& v = j_.at(key);
    if (v.is_number_integer()) {
      out.push_back(v.get<int64_t>());
    } else if (v.is_array()) {
      for (const json& x : v) {
        if (!x.is_number_integer()) return Error(key, "must be an integer or a list of integers");
        out.push_back(x.get<int64_t>());
      }
    } else {
      return Error(key, "must be an integer or a list of integers");
    }
    return out;
  }

 private:
  const json& j_;
  const std::string& source_;
};

absl::StatusOr<std::optional<Llama3RopeScaling>> ParseRopeScaling(const json& j, const std::string& source) {
  if (!j.contains("rope_scaling") || j.at("rope_scaling").is_null()) return std::nullopt;
  const json& rs = j.at("rope_scaling");
  if (!rs.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": key 'rope_scaling' must be an object or null"));
  }
  ConfigReader r(rs, source + " rope_scaling");
  std::string type;
  if (r.Has("rope_type")) {
    MUKE_ASSIGN_OR_RETURN(type, r.String("rope_type", std::nullopt));
  } else {
    MUKE_ASSIGN_OR_RETURN(type, r.String("type", std::string("default")));
  }
  if (type == "default") return std::nullopt;
  if (type != "llama3") {
    return absl::UnimplementedError(
        absl::StrCat(source, ": rope_scaling type '", type, "' is not supported (supported: llama3, default)"));
  }
  Llama3RopeScaling s;
  MUKE_ASSIGN_OR_RETURN(s.factor, r.Double("factor", s.factor));
  MUKE_ASSIGN_OR_RETURN(s.low_freq_factor, r.Double("low_freq_factor", s.low_freq_factor));
  MUKE_ASSIGN_OR_RETURN(s.high_freq_factor, r.Double("high_freq_factor", s.high_freq_factor));
  MUKE_ASSIGN_OR_RETURN(s.original_max_position_embeddings,
                        r.Int("original_max_position_embeddings", s.original_max_position_embeddings));
  if (s.high_freq_factor <= s.low_freq_factor) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": rope_scaling high_freq_factor must exceed low_freq_factor"));
  }
  return s;
}

}  // namespace

absl::StatusOr<ModelConfig> ParseModelConfig(const json& j, const std::string& source) {
  if (!j.is_object()) return absl::InvalidArgumentError(source + ": not a JSON object");
  ConfigReader r(j, source);
  ModelConfig c;
  MUKE_ASSIGN_OR_RETURN(c.model_type, r.String("model_type", std::nullopt));
  if (c.model_type != "llama" && c.model_type != "qwen2" && c.model_type != "mistral") {
    return absl::UnimplementedError(absl::StrCat(source, ": model_type '", c.model_type,
                                                 "' is not supported (supported: llama, qwen2, mistral)"));
  }
  MUKE_ASSIGN_OR_RETURN(std::string act, r.String("hidden_act", std::string("silu")));
  if (act != "silu") return r.Error("hidden_act", absl::StrCat("'", act, "' is not supported (only silu)"));
  MUKE_ASSIGN_OR_RETURN(bool mlp_bias, r.Bool("mlp_bias", false));
  if (mlp_bias) return r.Error("mlp_bias", "true is not supported");

  MUKE_ASSIGN_OR_RETURN(c.vocab_size, r.Int("vocab_size", std::nullopt));
  MUKE_ASSIGN_OR_RETURN(c.hidden_size, r.Int("hidden_size", std::nullopt));
  MUKE_ASSIGN_OR_RETURN(c.intermediate_size, r.Int("intermediate_size", std::nullopt));
  MUKE_ASSIGN_OR_RETURN(c.num_hidden_layers, r.Int("num_hidden_layers", std::nullopt));
  MUKE_ASSIGN_OR_RETURN(c.num_attention_heads, r.Int("num_attention_heads", std::nullopt));
  MUKE_ASSIGN_OR_RETURN(c.num_key_value_heads, r.Int("num_key_value_heads", c.num_attention_heads));
  if (c.hidden_size % c.num_attention_heads != 0 && !r.Has("head_dim")) {
    return r.Error("num_attention_heads", "must divide hidden_size when head_dim is not given");
  }
  MUKE_ASSIGN_OR_RETURN(c.head_dim, r.Int("head_dim", c.hidden_size / c.num_attention_heads));
  if (c.head_dim % 2 != 0) return r.Error("head_dim", "must be even for RoPE");
  if (c.num_attention_heads % c.num_key_value_heads != 0) {
    return r.Error("num_key_value_heads", absl::StrCat("(", c.num_key_value_heads,
                                                       ") must divide num_attention_heads (",
                                                       c.num_attention_heads, ")"));
  }
  MUKE_ASSIGN_OR_RETURN(c.rms_norm_eps, r.Double("rms_norm_eps", 1e-6));
  MUKE_ASSIGN_OR_RETURN(c.rope_theta, r.Double("rope_theta", 10000.0));
  MUKE_ASSIGN_OR_RETURN(c.rope_scaling, ParseRopeScaling(j, source));
  MUKE_ASSIGN_OR_RETURN(c.tie_word_embeddings, r.Bool("tie_word_embeddings", false));
  MUKE_ASSIGN_OR_RETURN(c.max_position_embeddings, r.Int("max_position_embeddings", 2048));

  if (c.model_type == "qwen2") {
    c.qkv_bias = true;
    MUKE_ASSIGN_OR_RETURN(bool sliding, r.Bool("use_sliding_window", false));
    if (sliding) return r.Error("use_sliding_window", "true is not supported");
  } else if (c.model_type == "llama") {
    MUKE_ASSIGN_OR_RETURN(bool bias, r.Bool("attention_bias", false));
    c.qkv_bias = c.o_bias = bias;
  } else if (r.Has("sliding_window")) {
    MUKE_ASSIGN_OR_RETURN(int64_t window, r.Int("sliding_window", std::nullopt));
    c.sliding_window = window;
  }

  MUKE_ASSIGN_OR_RETURN(std::vector<int64_t> bos, r.IntList("bos_token_id"));
  if (bos.size() > 1) return r.Error("bos_token_id", "must be a single integer");
  if (!bos.empty()) c.bos_token_id = bos[0];
  MUKE_ASSIGN_OR_RETURN(c.eos_token_ids, r.IntList("eos_token_id"));
  for (int64_t id : c.eos_token_ids) {
    if (id < 0 || id >= c.vocab_size) return r.Error("eos_token_id", absl::StrCat(id, " is outside the vocabulary"));
  }
  if (c.bos_token_id && (*c.bos_token_id < 0 || *c.bos_token_id >= c.vocab_size)) {
    return r.Error("bos_token_id", absl::StrCat(*c.bos_token_id, " is outside the vocabulary"));
  }
  // transformers >= 4.56 writes "dtype"; older versions "torch_dtype".
  MUKE_ASSIGN_OR_RETURN(c.torch_dtype, r.String(r.Has("dtype") ? "dtype" : "torch_dtype", std::string("float32")));
  if (c.torch_dtype != "float32" && c.torch_dtype != "bfloat16" && c.torch_dtype != "float16") {
    return r.Error(r.Has("dtype") ? "dtype" : "torch_dtype",
                   absl::StrCat("'", c.torch_dtype, "' is not supported (float32, bfloat16, float16)"));
  }
  return c;
}

absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& dir) {
  const std::string path = dir + "/config.json";
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  json j = json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return absl::InvalidArgumentError(absl::StrCat(path, ": not valid JSON"));
  return ParseModelConfig(j, path);
}

json ModelConfigToJson(const ModelConfig& c) {
  json j = {
      {"architectures", {c.model_type == "qwen2"     ? "Qwen2ForCausalLM"
                         : c.model_type == "mistral" ? "MistralForCausalLM"
                                                     : "LlamaForCausalLM"}},
      {"model_type", c.model_type},
      {"vocab_size", c.vocab_size},
      {"hidden_size", c.hidden_size},
      {"intermediate_size", c.intermediate_size},
      {"num_hidden_layers", c.num_hidden_layers},
      {"num_attention_heads", c.num_attention_heads},
      {"num_key_value_heads", c.num_key_value_heads},
      {"head_dim", c.head_dim},
      {"hidden_act", "silu"},
      {"rms_norm_eps", c.rms_norm_eps},
      {"rope_theta", c.rope_theta},
      {"tie_word_embeddings", c.tie_word_embeddings},
      {"max_position_embeddings", c.max_position_embeddings},
      {"torch_dtype", c.torch_dtype},
  };
  if (c.rope_scaling) {
    j["rope_scaling"] = {{"rope_type", "llama3"},
                         {"factor", c.rope_scaling->factor},
                         {"low_freq_factor", c.rope_scaling->low_freq_factor},
                         {"high_freq_factor", c.rope_scaling->high_freq_factor},
                         {"original_max_position_embeddings", c.rope_scaling->original_max_position_embeddings}};
  } else {
    j["rope_scaling"] = nullptr;
  }
  if (c.model_type == "llama") {
    j["attention_bias"] = c.qkv_bias;
    j["mlp_bias"] = false;
  }
  if (c.model_type == "qwen2") j["use_sliding_window"] = false;
  if (c.model_type == "mistral") j["sliding_window"] = c.sliding_window ? json(*c.sliding_window) : json(nullptr);
  if (c.bos_token_id) j["bos_token_id"] = *c.bos_token_id;
  if (c.eos_token_ids.size() == 1) j["eos_token_id"] = c.eos_token_ids[0];
  if (c.eos_token_ids.size() > 1) j["eos_token_id"] = c.eos_token_ids;
  return j;
}

}  // namespace muke
