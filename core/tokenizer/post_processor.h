// tokenizer.json post-processors for single sequences: TemplateProcessing (special tokens around $A),
// ByteLevel (no change to ids), Sequence. Applied only when encoding with add_special_tokens.
#pragma once

#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace muke {

class PostProcessor {
 public:
  // `j` is tokenizer.json's "post_processor" value (null = no change).
  static absl::StatusOr<PostProcessor> FromJson(const nlohmann::json& j);

  std::vector<int64_t> Process(std::vector<int64_t> ids) const;

 private:
  static absl::Status Append(const nlohmann::json& j, PostProcessor* p);
  std::vector<int64_t> prefix_, suffix_;
};

}  // namespace muke
