#include "core/tokenizer/pattern.h"

#include "absl/strings/str_cat.h"

namespace muke {

absl::StatusOr<Pattern> Pattern::FromJson(const nlohmann::json& j) {
  if (j.is_object() && j.contains("String") && j.at("String").is_string()) return Literal(j.at("String"));
  if (j.is_object() && j.contains("Regex") && j.at("Regex").is_string()) {
    const std::string source = j.at("Regex").get<std::string>();
    // A regex that is a plain literal (e.g. " ") needs no engine.
    if (source.find_first_of("\\^$.|?*+()[]{}") == std::string::npos) return Literal(source);
    auto recognised = RecognizeSplitPattern(source);
    if (!recognised) {
      return absl::UnimplementedError(absl::StrCat("tokenizer.json: regex pattern '", source, "' is not supported"));
    }
    Pattern p;
    p.regex_ = *recognised;
    return p;
  }
  return absl::InvalidArgumentError("tokenizer.json: pattern must be {\"String\": ...} or {\"Regex\": ...}");
}

Pattern Pattern::Literal(std::string s) {
  Pattern p;
  p.literal_ = std::move(s);
  return p;
}

std::vector<std::pair<size_t, size_t>> Pattern::Matches(std::string_view text) const {
  if (regex_) return FindMatches(*regex_, text);
  std::vector<std::pair<size_t, size_t>> out;
  if (literal_.empty()) return out;
  for (size_t pos = text.find(literal_); pos != std::string_view::npos; pos = text.find(literal_, pos)) {
    out.emplace_back(pos, pos + literal_.size());
    pos += literal_.size();
  }
  return out;
}

std::string Pattern::ReplaceAll(std::string_view text, std::string_view content) const {
  std::string out;
  size_t last = 0;
  for (auto [begin, end] : Matches(text)) {
    out.append(text.substr(last, begin - last));
    out.append(content);
    last = end;
  }
  out.append(text.substr(last));
  return out;
}

}  // namespace muke
