// The BPE model of a Hugging Face tokenizer.json: vocabulary, ranked merges, byte fallback, unknown token
// handling and `ignore_merges`, with the exact merge order of the `tokenizers` crate (lowest rank first,
// leftmost on ties). Thread-safe after construction.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"

namespace muke {

class BpeModel {
 public:
  // Builds from the "model" object of tokenizer.json (merges as "a b" strings or [a, b] pairs).
  static absl::StatusOr<std::unique_ptr<BpeModel>> FromJson(const nlohmann::json& model);

  // Appends the ids of one pre-tokenized word.
  void Tokenize(std::string_view word, std::vector<int64_t>* ids) const;

  std::optional<int64_t> TokenToId(std::string_view token) const;
  // Empty when `id` is not in the vocabulary.
  const std::string& IdToToken(int64_t id) const;
  int64_t vocab_size() const { return static_cast<int64_t>(id_to_token_.size()); }

 private:
  BpeModel() = default;
  std::vector<int64_t> MergeWord(std::string_view word) const;

  absl::flat_hash_map<std::string, int64_t> vocab_;
  std::vector<std::string> id_to_token_;
  struct Merge {
    int32_t rank;
    int32_t new_id;
  };
  absl::flat_hash_map<uint64_t, Merge> merges_;  // key: (left id << 32) | right id
  std::optional<int64_t> unk_id_;
  std::string continuing_subword_prefix_, end_of_word_suffix_;
  bool byte_fallback_ = false, fuse_unk_ = false, ignore_merges_ = false;
  std::vector<std::optional<int64_t>> byte_ids_;  // "<0xXX>" tokens for byte fallback

  // Words seen before (the `tokenizers` crate caches 10,000 words the same way).
  static constexpr size_t kCacheCapacity = 10000;
  mutable std::mutex cache_mu_;
  mutable absl::flat_hash_map<std::string, std::vector<int64_t>> cache_;
};

}  // namespace muke
