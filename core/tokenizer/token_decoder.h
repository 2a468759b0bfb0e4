// tokenizer.json decoders (ByteLevel, Metaspace, ByteFallback, Fuse, Strip, Replace, Sequence): turn the
// pieces of a list of ids back into text exactly as the `tokenizers` crate does.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace muke {

class TokenDecoder {
 public:
  // `j` is tokenizer.json's "decoder" value (null = pieces joined with spaces).
  static absl::StatusOr<TokenDecoder> FromJson(const nlohmann::json& j);

  std::string Decode(std::vector<std::string> pieces) const;

 private:
  using Step = std::function<std::vector<std::string>(std::vector<std::string>)>;
  std::vector<Step> steps_;
  bool has_decoder_ = false;
};

}  // namespace muke
