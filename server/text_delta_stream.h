// Incremental detokenization for streamed generation: turns the new ids, one at a time, into text deltas
// whose concatenation (Finish included) is exactly DecodeContinuation(tokenizer, prompt_ids, all ids), the
// text a unary Generate returns.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/tokenizer/tokenizer.h"

namespace muke::server {

class TextDeltaStream {
 public:
  // `tokenizer` must outlive the stream.
  TextDeltaStream(const Tokenizer& tokenizer, std::vector<int64_t> prompt_ids);

  // Adds one new id and returns the text that is now final. Text ending in U+FFFD (an incomplete UTF-8
  // character made of byte tokens, which the next token may complete) is held back.
  absl::StatusOr<std::string> Append(int64_t id);

  // The text held back so far; call once, after the last Append.
  absl::StatusOr<std::string> Finish();

 private:
  const Tokenizer& tokenizer_;
  const std::vector<int64_t> prompt_ids_;
  std::vector<int64_t> ids_;
  std::string sent_;  // concatenation of everything returned so far
};

}  // namespace muke::server
