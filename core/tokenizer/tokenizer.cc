#include "core/tokenizer/tokenizer.h"

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "core/tokenizer/hf_tokenizer.h"
#include "core/tokenizer/sentencepiece_tokenizer.h"
#include "core/util/status.h"

namespace muke {
namespace {

using nlohmann::json;

// Parses `dir/name` when it exists; an empty object when it does not.
absl::StatusOr<json> ReadOptionalJson(const std::string& dir, const std::string& name) {
  const std::string path = dir + "/" + name;
  std::ifstream in(path);
  if (!in) return json::object();
  json j = json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return absl::InvalidArgumentError(path + ": not a JSON object");
  return j;
}

// An int or a list of ints under `key`; empty when absent or of another type.
std::vector<int64_t> IdList(const json& j, const char* key) {
  std::vector<int64_t> ids;
  if (!j.contains(key)) return ids;
  const json& v = j.at(key);
  if (v.is_number_integer()) ids.push_back(v.get<int64_t>());
  if (v.is_array()) {
    for (const json& x : v) {
      if (x.is_number_integer()) ids.push_back(x.get<int64_t>());
    }
  }
  return ids;
}

// A special token given as a string or as an AddedToken object {"content": ...}; empty when absent.
std::string TokenContent(const json& j, const char* key) {
  if (!j.contains(key)) return "";
  const json& v = j.at(key);
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v.at("content").is_string()) return v.at("content").get<std::string>();
  return "";
}

}  // namespace

absl::StatusOr<std::unique_ptr<Tokenizer>> LoadTokenizer(const std::string& dir) {
  MUKE_ASSIGN_OR_RETURN(json tok_config, ReadOptionalJson(dir, "tokenizer_config.json"));
  MUKE_ASSIGN_OR_RETURN(json special_map, ReadOptionalJson(dir, "special_tokens_map.json"));
  MUKE_ASSIGN_OR_RETURN(json gen_config, ReadOptionalJson(dir, "generation_config.json"));
  MUKE_ASSIGN_OR_RETURN(json model_config, ReadOptionalJson(dir, "config.json"));

  SpecialTokenSettings s;
  if (tok_config.value("add_bos_token", json(true)).is_boolean()) s.add_bos = tok_config.value("add_bos_token", true);
  if (tok_config.value("add_eos_token", json(false)).is_boolean()) s.add_eos = tok_config.value("add_eos_token", false);
  // Generation stops on generation_config's EOS ids first (Llama-3-Instruct lists several), then config.json's.
  for (const json* j : {&gen_config, &model_config}) {
    if (s.eos_ids.empty()) s.eos_ids = IdList(*j, "eos_token_id");
    if (!s.bos_id) {
      std::vector<int64_t> bos = IdList(*j, "bos_token_id");
      if (!bos.empty()) s.bos_id = bos[0];
    }
  }

  std::unique_ptr<Tokenizer> tokenizer;
  if (std::filesystem::exists(dir + "/tokenizer.json")) {
    MUKE_ASSIGN_OR_RETURN(tokenizer, HfTokenizer::Load(dir + "/tokenizer.json"));
  } else if (std::filesystem::exists(dir + "/tokenizer.model")) {
    MUKE_ASSIGN_OR_RETURN(tokenizer, SentencePieceTokenizer::Load(dir + "/tokenizer.model", s));
  } else {
    return absl::NotFoundError(absl::StrCat(dir, ": no tokenizer.json or tokenizer.model"));
  }
  // Token strings in tokenizer_config.json / special_tokens_map.json fill what the id fields left open.
  for (const json* j : {&tok_config, &special_map}) {
    if (!s.bos_id) s.bos_id = tokenizer->PieceToId(TokenContent(*j, "bos_token"));
    if (s.eos_ids.empty()) {
      if (auto eos = tokenizer->PieceToId(TokenContent(*j, "eos_token"))) s.eos_ids.push_back(*eos);
    }
  }
  if (!s.bos_id) s.bos_id = tokenizer->bos_id();
  if (s.eos_ids.empty()) s.eos_ids = tokenizer->eos_ids();
  tokenizer->SetSpecialTokens(s);
  return tokenizer;
}

}  // namespace muke

namespace muke {

absl::StatusOr<std::string> DecodeContinuation(const Tokenizer& tokenizer, const std::vector<int64_t>& prefix_ids,
                                               const std::vector<int64_t>& ids) {
  std::vector<int64_t> all = prefix_ids;
  all.insert(all.end(), ids.begin(), ids.end());
  MUKE_ASSIGN_OR_RETURN(std::string full, tokenizer.Decode(all, /*skip_special_tokens=*/true));
  MUKE_ASSIGN_OR_RETURN(std::string prefix, tokenizer.Decode(prefix_ids, /*skip_special_tokens=*/true));
  if (full.compare(0, prefix.size(), prefix) == 0) return full.substr(prefix.size());
  return tokenizer.Decode(ids, /*skip_special_tokens=*/true);
}

}  // namespace muke
