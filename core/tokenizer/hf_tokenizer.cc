#include "core/tokenizer/hf_tokenizer.h"

#include <fstream>

#include "absl/strings/str_cat.h"
#include "core/tokenizer/utf8.h"
#include "core/util/status.h"

namespace muke {

absl::StatusOr<std::unique_ptr<HfTokenizer>> HfTokenizer::Load(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  const nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return absl::InvalidArgumentError(absl::StrCat(path, ": not a JSON object"));

  // nlohmann's typed accessors throw on unexpected types; any such surprise becomes an error naming the file.
  absl::StatusOr<std::unique_ptr<HfTokenizer>> result = CatchExceptions(path, [&]() -> absl::StatusOr<std::unique_ptr<HfTokenizer>> {
    std::unique_ptr<HfTokenizer> t(new HfTokenizer());
    MUKE_ASSIGN_OR_RETURN(t->model_, BpeModel::FromJson(j.value("model", nlohmann::json())));
    MUKE_ASSIGN_OR_RETURN(t->added_, AddedVocabulary::FromJson(j.value("added_tokens", nlohmann::json())));
    MUKE_ASSIGN_OR_RETURN(t->normalizer_, Normalizer::FromJson(j.value("normalizer", nlohmann::json())));
    MUKE_ASSIGN_OR_RETURN(t->pre_tokenizer_, PreTokenizer::FromJson(j.value("pre_tokenizer", nlohmann::json())));
    MUKE_ASSIGN_OR_RETURN(t->post_processor_, PostProcessor::FromJson(j.value("post_processor", nlohmann::json())));
    MUKE_ASSIGN_OR_RETURN(t->decoder_, TokenDecoder::FromJson(j.value("decoder", nlohmann::json())));
    return t;
  });
  if (!result.ok()) return absl::Status(result.status().code(), absl::StrCat(path, ": ", result.status().message()));
  return result;
}

void HfTokenizer::EncodePlain(std::string_view text, bool at_start, std::vector<int64_t>* ids) const {
  const std::string normalized = normalizer_.Normalize(std::string(text));
  std::vector<TextPiece> words;
  for (const TextSegment& seg : added_.Split(normalized, /*normalized=*/true)) {
    if (seg.token) {
      ids->push_back(*seg.token);
      continue;
    }
    words.clear();
    pre_tokenizer_.Split({normalized.substr(seg.begin, seg.end - seg.begin), at_start && seg.begin == 0}, &words);
    for (const TextPiece& w : words) model_->Tokenize(w.text, ids);
  }
}

absl::StatusOr<std::vector<int64_t>> HfTokenizer::Encode(std::string_view text, bool add_special_tokens) const {
  if (!IsValidUtf8(text)) return absl::InvalidArgumentError("encode: text is not valid UTF-8");
  std::vector<int64_t> ids;
  for (const TextSegment& seg : added_.Split(text, /*normalized=*/false)) {
    if (seg.token) {
      ids.push_back(*seg.token);
    } else {
      EncodePlain(text.substr(seg.begin, seg.end - seg.begin), seg.begin == 0, &ids);
    }
  }
  return add_special_tokens ? post_processor_.Process(std::move(ids)) : ids;
}

absl::StatusOr<std::string> HfTokenizer::Decode(const std::vector<int64_t>& ids, bool skip_special_tokens) const {
  std::vector<std::string> pieces;
  pieces.reserve(ids.size());
  for (int64_t id : ids) {
    if (const AddedToken* added = added_.Find(id)) {
      if (!(skip_special_tokens && added->special)) pieces.push_back(added->content);
      continue;
    }
    const std::string& token = model_->IdToToken(id);
    if (token.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("decode: id ", id, " is outside the vocabulary"));
    }
    pieces.push_back(token);
  }
  return decoder_.Decode(std::move(pieces));
}

int64_t HfTokenizer::vocab_size() const {
  int64_t n = model_->vocab_size();
  for (const AddedToken& t : added_.tokens()) n = std::max(n, t.id + 1);
  return n;
}

absl::StatusOr<std::string> HfTokenizer::IdToPiece(int64_t id) const {
  if (const AddedToken* added = added_.Find(id)) return added->content;
  const std::string& token = model_->IdToToken(id);
  if (token.empty()) return absl::InvalidArgumentError(absl::StrCat("id ", id, " is outside the vocabulary"));
  return token;
}

std::optional<int64_t> HfTokenizer::PieceToId(std::string_view piece) const {
  if (auto id = added_.FindByContent(piece)) return id;
  return model_->TokenToId(piece);
}

}  // namespace muke
