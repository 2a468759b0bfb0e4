// The tokenizer interface every model-facing component uses, and loading one from a model directory.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace muke {

// Which ids open and close a sequence. add_bos/add_eos apply to SentencePiece models only; tokenizer.json
// models add special tokens through their own post-processor.
struct SpecialTokenSettings {
  bool add_bos = true;
  bool add_eos = false;
  std::optional<int64_t> bos_id;
  std::vector<int64_t> eos_ids;  // generation stops on any of these
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Token ids of `text` (valid UTF-8); with add_special_tokens, BOS/EOS as the tokenizer config says.
  virtual absl::StatusOr<std::vector<int64_t>> Encode(std::string_view text, bool add_special_tokens) const = 0;
  // Text of `ids`; special tokens dropped when skip_special_tokens.
  virtual absl::StatusOr<std::string> Decode(const std::vector<int64_t>& ids, bool skip_special_tokens) const = 0;

  virtual int64_t vocab_size() const = 0;
  virtual absl::StatusOr<std::string> IdToPiece(int64_t id) const = 0;
  virtual std::optional<int64_t> PieceToId(std::string_view piece) const = 0;
  std::optional<int64_t> bos_id() const { return special_.bos_id; }
  const std::vector<int64_t>& eos_ids() const { return special_.eos_ids; }

  // Set once by the loader, before the tokenizer is shared between threads.
  void SetSpecialTokens(const SpecialTokenSettings& special) { special_ = special; }

 protected:
  SpecialTokenSettings special_;
};

// Loads the tokenizer of a Hugging Face model directory with HF's precedence: `tokenizer.json`, else
// `tokenizer.model` (SentencePiece). BOS/EOS come from tokenizer_config.json, special_tokens_map.json,
// generation_config.json and config.json. `dir` may hold only tokenizer files.
absl::StatusOr<std::unique_ptr<Tokenizer>> LoadTokenizer(const std::string& dir);

}  // namespace muke

namespace muke {

// Text that `ids` add after `prefix_ids`: decode(prefix + ids) minus decode(prefix) when the latter is a
// prefix of the former (keeps the leading space SentencePiece drops at the start of a decode), else decode(ids).
absl::StatusOr<std::string> DecodeContinuation(const Tokenizer& tokenizer, const std::vector<int64_t>& prefix_ids,
                                               const std::vector<int64_t>& ids);

}  // namespace muke
