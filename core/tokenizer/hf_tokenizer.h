// A Hugging Face `tokenizer.json` (byte-level BPE as in Llama-3 and Qwen2.5, or SentencePiece-style BPE with
// byte fallback) behind the Tokenizer interface, giving the same ids and text as the `tokenizers` crate.
#pragma once

#include <memory>
#include <string>

#include "core/tokenizer/added_vocabulary.h"
#include "core/tokenizer/bpe_model.h"
#include "core/tokenizer/normalizer.h"
#include "core/tokenizer/post_processor.h"
#include "core/tokenizer/pre_tokenizer.h"
#include "core/tokenizer/token_decoder.h"
#include "core/tokenizer/tokenizer.h"

namespace muke {

class HfTokenizer : public Tokenizer {
 public:
  // Parses tokenizer.json at `path`; BOS/EOS are set afterwards from the model directory's config files.
  static absl::StatusOr<std::unique_ptr<HfTokenizer>> Load(const std::string& path);

  absl::StatusOr<std::vector<int64_t>> Encode(std::string_view text, bool add_special_tokens) const override;
  absl::StatusOr<std::string> Decode(const std::vector<int64_t>& ids, bool skip_special_tokens) const override;
  int64_t vocab_size() const override;
  absl::StatusOr<std::string> IdToPiece(int64_t id) const override;
  std::optional<int64_t> PieceToId(std::string_view piece) const override;

 private:
  HfTokenizer() = default;
  void EncodePlain(std::string_view text, bool at_start, std::vector<int64_t>* ids) const;

  std::unique_ptr<BpeModel> model_;
  AddedVocabulary added_;
  Normalizer normalizer_;
  PreTokenizer pre_tokenizer_;
  PostProcessor post_processor_;
  TokenDecoder decoder_;
};

}  // namespace muke
