// The "pattern" of tokenizer.json Split pre-tokenizers and Replace normalizers/decoders: a literal string or
// one of the regexes we implement natively (GPT-2, Llama-3, Qwen2 splitting).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "core/tokenizer/regex_split.h"

namespace muke {

class Pattern {
 public:
  // Parses {"String": "..."} or {"Regex": "..."}; other regexes are UNIMPLEMENTED errors naming them.
  static absl::StatusOr<Pattern> FromJson(const nlohmann::json& j);
  static Pattern Literal(std::string s);

  // Byte ranges [begin, end) of the non-overlapping matches in `text`, left to right.
  std::vector<std::pair<size_t, size_t>> Matches(std::string_view text) const;
  // `text` with every match replaced by `content`.
  std::string ReplaceAll(std::string_view text, std::string_view content) const;

 private:
  std::string literal_;
  std::optional<SplitPattern> regex_;
};

}  // namespace muke
