// tokenizer.json pre-tokenizers: Sequence, ByteLevel, Split (five behaviours, invert), Digits, Metaspace
// and WhitespaceSplit, splitting normalized text into the words the BPE model sees.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace muke {

// A piece of text; `at_start` marks the piece that begins at offset 0 of the input (Metaspace "first").
struct TextPiece {
  std::string text;
  bool at_start = false;
};

class PreTokenizer {
 public:
  // `j` is tokenizer.json's "pre_tokenizer" value (null = the whole piece is one word).
  static absl::StatusOr<PreTokenizer> FromJson(const nlohmann::json& j);

  // Appends the words of `piece` to `words`.
  void Split(TextPiece piece, std::vector<TextPiece>* words) const;

 private:
  using Step = std::function<void(TextPiece, std::vector<TextPiece>*)>;
  static absl::Status AppendSteps(const nlohmann::json& j, std::vector<Step>* steps);
  std::vector<Step> steps_;
};

}  // namespace muke
