// The added tokens of a tokenizer.json (special and not) and how the `tokenizers` crate finds them in text
// before BPE: leftmost-longest match, honouring lstrip / rstrip / single_word.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"

namespace muke {

struct AddedToken {
  int64_t id = 0;
  std::string content;
  bool single_word = false, lstrip = false, rstrip = false, normalized = false, special = false;
};

// A byte range of the text and, when it is an added token, that token's id.
struct TextSegment {
  size_t begin = 0, end = 0;
  std::optional<int64_t> token;
};

class AddedVocabulary {
 public:
  // `tokens` is tokenizer.json's "added_tokens" list.
  static absl::StatusOr<AddedVocabulary> FromJson(const nlohmann::json& tokens);

  // Splits `text` into added-token and plain segments, matching only tokens whose `normalized` flag equals
  // `normalized` (the crate matches un-normalized tokens on raw text, then normalized ones on normalized text).
  std::vector<TextSegment> Split(std::string_view text, bool normalized) const;

  const AddedToken* Find(int64_t id) const;
  std::optional<int64_t> FindByContent(std::string_view content) const;
  const std::vector<AddedToken>& tokens() const { return tokens_; }

 private:
  std::optional<std::pair<size_t, const AddedToken*>> LongestMatchAt(std::string_view text, size_t pos,
                                                                     bool normalized) const;

  std::vector<AddedToken> tokens_;
  absl::flat_hash_map<int64_t, size_t> by_id_;
  absl::flat_hash_map<std::string, size_t> by_content_;
  bool first_byte_[256] = {};
  size_t max_length_ = 0;
};

}  // namespace muke
