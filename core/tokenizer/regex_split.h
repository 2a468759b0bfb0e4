// The pre-tokenization regexes of GPT-2, Llama-3 and Qwen2 byte-level BPE tokenizers, as hand-written
// scanners that find exactly the matches Oniguruma finds in HF tokenizers (Split and ByteLevel use_regex).
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

namespace muke {

enum class SplitPattern {
  // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+  (also ByteLevel use_regex)
  kGpt2,
  // (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
  kLlama3,
  // As kLlama3 with \p{N} in place of \p{N}{1,3} (Qwen2, Qwen2.5, Qwen3).
  kQwen2,
};

// The pattern whose regex source is exactly `regex_source` (the JSON-unescaped "Regex" of a Split
// pre-tokenizer in tokenizer.json); nullopt for any other regex.
std::optional<SplitPattern> RecognizeSplitPattern(std::string_view regex_source);

// The regex source of `pattern`, spelled as in tokenizer.json files.
std::string_view SplitPatternSource(SplitPattern pattern);

// The successive matches of `pattern` in `utf8_text` as [begin, end) byte offsets. Every character lies in
// exactly one match. Bytes that are not valid UTF-8 count as one-byte characters of no category.
std::vector<std::pair<size_t, size_t>> FindMatches(SplitPattern pattern, std::string_view utf8_text);

}  // namespace muke
