// tokenizer.json normalizers: Sequence, NFC/NFD/NFKC/NFKD, Lowercase, Strip, Replace and Prepend, applied to
// each piece of text between added tokens, as the `tokenizers` crate does.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace muke {

class Normalizer {
 public:
  // `j` is tokenizer.json's "normalizer" value (null = identity).
  static absl::StatusOr<Normalizer> FromJson(const nlohmann::json& j);

  std::string Normalize(std::string text) const;

 private:
  std::vector<std::function<void(std::string&)>> steps_;
};

}  // namespace muke
