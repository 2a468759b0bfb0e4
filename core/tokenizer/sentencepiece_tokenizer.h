// A SentencePiece `tokenizer.model` (Llama-2 family) behind the Tokenizer interface, via libsentencepiece.
#pragma once

#include <memory>

#include "core/tokenizer/sentencepiece_processor.h"
#include "core/tokenizer/tokenizer.h"

namespace muke {

class SentencePieceTokenizer : public Tokenizer {
 public:
  // Unset BOS/EOS in `settings` default to the model's own.
  static absl::StatusOr<std::unique_ptr<SentencePieceTokenizer>> Load(const std::string& model_path,
                                                                      const SpecialTokenSettings& settings);
  ~SentencePieceTokenizer() override;

  absl::StatusOr<std::vector<int64_t>> Encode(std::string_view text, bool add_special_tokens) const override;
  absl::StatusOr<std::string> Decode(const std::vector<int64_t>& ids, bool skip_special_tokens) const override;
  int64_t vocab_size() const override;
  absl::StatusOr<std::string> IdToPiece(int64_t id) const override;
  std::optional<int64_t> PieceToId(std::string_view piece) const override;

 private:
  SentencePieceTokenizer() = default;
  std::unique_ptr<SentencePieceProcessor> sp_;
};

}  // namespace muke
