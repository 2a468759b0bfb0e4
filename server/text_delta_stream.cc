#include "server/text_delta_stream.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "core/util/status.h"

namespace muke::server {
namespace {

constexpr absl::string_view kReplacementCharacter = "\xEF\xBF\xBD";  // U+FFFD in UTF-8

}  // namespace

TextDeltaStream::TextDeltaStream(const Tokenizer& tokenizer, std::vector<int64_t> prompt_ids)
    : tokenizer_(tokenizer), prompt_ids_(std::move(prompt_ids)) {}

absl::StatusOr<std::string> TextDeltaStream::Append(int64_t id) {
  ids_.push_back(id);
  MUKE_ASSIGN_OR_RETURN(std::string text, DecodeContinuation(tokenizer_, prompt_ids_, ids_));
  absl::string_view stable = text;
  while (absl::ConsumeSuffix(&stable, kReplacementCharacter)) {
  }
  // Decoding more ids only appends text, except around byte tokens; wait until it extends what was sent.
  if (stable.size() <= sent_.size() || !absl::StartsWith(stable, sent_)) return std::string();
  std::string delta(stable.substr(sent_.size()));
  sent_ += delta;
  return delta;
}

absl::StatusOr<std::string> TextDeltaStream::Finish() {
  MUKE_ASSIGN_OR_RETURN(std::string text, DecodeContinuation(tokenizer_, prompt_ids_, ids_));
  if (!absl::StartsWith(text, sent_)) {
    return absl::InternalError("stream: the text sent so far is not a prefix of the decoded continuation");
  }
  return text.substr(sent_.size());
}

}  // namespace muke::server
