#include "core/tokenizer/pre_tokenizer.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "core/tokenizer/byte_level.h"
#include "core/tokenizer/pattern.h"
#include "core/tokenizer/unicode.h"
#include "core/tokenizer/utf8.h"
#include "core/util/status.h"

namespace muke {
namespace {

using nlohmann::json;
using Range = std::pair<size_t, size_t>;

enum class Behavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

absl::StatusOr<Behavior> ParseBehavior(const std::string& name) {
  if (name == "Removed") return Behavior::kRemoved;
  if (name == "Isolated") return Behavior::kIsolated;
  if (name == "MergedWithPrevious") return Behavior::kMergedWithPrevious;
  if (name == "MergedWithNext") return Behavior::kMergedWithNext;
  if (name == "Contiguous") return Behavior::kContiguous;
  return absl::InvalidArgumentError(absl::StrCat("tokenizer.json: unknown split behavior '", name, "'"));
}

// The `tokenizers` crate's NormalizedString::split: `matches` (sorted, non-overlapping) and the gaps between
// them become pieces, combined per behaviour. Empty pieces are dropped.
void SplitByMatches(const TextPiece& piece, const std::vector<Range>& matches, Behavior behavior, bool invert,
                    std::vector<TextPiece>* out) {
  struct Part {
    size_t begin, end;
    bool is_match;
  };
  std::vector<Part> parts;
  size_t last = 0;
  for (auto [b, e] : matches) {
    if (b > last) parts.push_back({last, b, invert});
    if (e > b) parts.push_back({b, e, !invert});
    last = e;
  }
  if (last < piece.text.size()) parts.push_back({last, piece.text.size(), invert});

  std::vector<Range> result;
  bool previous_match = false;
  switch (behavior) {
    case Behavior::kRemoved:
      for (const Part& p : parts) {
        if (!p.is_match) result.emplace_back(p.begin, p.end);
      }
      break;
    case Behavior::kIsolated:
      for (const Part& p : parts) result.emplace_back(p.begin, p.end);
      break;
    case Behavior::kMergedWithPrevious:
      for (const Part& p : parts) {
        if (p.is_match && !previous_match && !result.empty()) {
          result.back().second = p.end;
        } else {
          result.emplace_back(p.begin, p.end);
        }
        previous_match = p.is_match;
      }
      break;
    case Behavior::kMergedWithNext:
      for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
        if (it->is_match && !previous_match && !result.empty()) {
          result.back().first = it->begin;
        } else {
          result.emplace_back(it->begin, it->end);
        }
        previous_match = it->is_match;
      }
      std::reverse(result.begin(), result.end());
      break;
    case Behavior::kContiguous:
      for (size_t i = 0; i < parts.size(); ++i) {
        if (i > 0 && parts[i].is_match == previous_match) {
          result.back().second = parts[i].end;
        } else {
          result.emplace_back(parts[i].begin, parts[i].end);
        }
        previous_match = parts[i].is_match;
      }
      break;
  }
  for (auto [b, e] : result) {
    if (e > b) out->push_back({piece.text.substr(b, e - b), piece.at_start && b == 0});
  }
}

// Ranges of single characters (or runs of them, when `runs`) that satisfy `pred`.
template <typename Pred>
std::vector<Range> CharMatches(const std::string& text, Pred pred, bool runs) {
  std::vector<Range> out;
  size_t i = 0;
  while (i < text.size()) {
    const size_t len = Utf8SequenceLength(static_cast<unsigned char>(text[i]));
    const bool hit = pred(DecodeUtf8(std::string_view(text).substr(i, len))[0]);
    if (hit && runs && !out.empty() && out.back().second == i) {
      out.back().second = i + len;
    } else if (hit) {
      out.emplace_back(i, i + len);
    }
    i += len;
  }
  return out;
}

}  // namespace

absl::Status PreTokenizer::AppendSteps(const json& j, std::vector<Step>* steps) {
  if (j.is_null()) return absl::OkStatus();
  const std::string type = j.is_object() ? j.value("type", "") : "";
  if (type == "Sequence") {
    for (const json& p : j.value("pretokenizers", json::array())) MUKE_RETURN_IF_ERROR(AppendSteps(p, steps));
  } else if (type == "ByteLevel") {
    const bool add_prefix_space = j.value("add_prefix_space", true), use_regex = j.value("use_regex", true);
    steps->push_back([add_prefix_space, use_regex](TextPiece piece, std::vector<TextPiece>* out) {
      if (add_prefix_space && (piece.text.empty() || piece.text[0] != ' ')) piece.text.insert(0, " ");
      std::vector<TextPiece> words;
      if (use_regex) {
        SplitByMatches(piece, FindMatches(SplitPattern::kGpt2, piece.text), Behavior::kIsolated, false, &words);
      } else {
        words.push_back(std::move(piece));
      }
      for (TextPiece& w : words) out->push_back({BytesToByteLevel(w.text), w.at_start});
    });
  } else if (type == "Split") {
    MUKE_ASSIGN_OR_RETURN(Pattern pattern, Pattern::FromJson(j.value("pattern", json())));
    MUKE_ASSIGN_OR_RETURN(Behavior behavior, ParseBehavior(j.value("behavior", "")));
    const bool invert = j.value("invert", false);
    steps->push_back([pattern, behavior, invert](TextPiece piece, std::vector<TextPiece>* out) {
      SplitByMatches(piece, pattern.Matches(piece.text), behavior, invert, out);
    });
  } else if (type == "Digits") {
    const bool individual = j.value("individual_digits", false);
    steps->push_back([individual](TextPiece piece, std::vector<TextPiece>* out) {
      SplitByMatches(piece, CharMatches(piece.text, IsNumber, !individual),
                     individual ? Behavior::kIsolated : Behavior::kContiguous, false, out);
    });
  } else if (type == "WhitespaceSplit") {
    steps->push_back([](TextPiece piece, std::vector<TextPiece>* out) {
      SplitByMatches(piece, CharMatches(piece.text, IsWhitespace, true), Behavior::kRemoved, false, out);
    });
  } else if (type == "Metaspace") {
    const std::string replacement = j.value("replacement", "\xE2\x96\x81");
    std::string scheme = j.value("prepend_scheme", "");
    if (scheme.empty()) scheme = j.value("add_prefix_space", true) ? "always" : "never";
    const bool split = j.value("split", true);
    steps->push_back([replacement, scheme, split](TextPiece piece, std::vector<TextPiece>* out) {
      piece.text = absl::StrReplaceAll(piece.text, {{" ", replacement}});
      const bool starts = piece.text.compare(0, replacement.size(), replacement) == 0;
      if (!starts && (scheme == "always" || (scheme == "first" && piece.at_start))) {
        piece.text.insert(0, replacement);
      }
      if (split) {
        SplitByMatches(piece, Pattern::Literal(replacement).Matches(piece.text), Behavior::kMergedWithNext, false,
                       out);
      } else {
        out->push_back(std::move(piece));
      }
    });
  } else {
    return absl::UnimplementedError(absl::StrCat("tokenizer.json: pre_tokenizer type '", type, "' is not supported"));
  }
  return absl::OkStatus();
}

absl::StatusOr<PreTokenizer> PreTokenizer::FromJson(const json& j) {
  PreTokenizer p;
  MUKE_RETURN_IF_ERROR(AppendSteps(j, &p.steps_));
  return p;
}

void PreTokenizer::Split(TextPiece piece, std::vector<TextPiece>* words) const {
  std::vector<TextPiece> current{std::move(piece)}, next;
  for (const Step& step : steps_) {
    next.clear();
    for (TextPiece& p : current) step(std::move(p), &next);
    current.swap(next);
  }
  for (TextPiece& p : current) words->push_back(std::move(p));
}

}  // namespace muke
