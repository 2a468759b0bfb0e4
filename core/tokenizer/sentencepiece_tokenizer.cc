#include "core/tokenizer/sentencepiece_tokenizer.h"

#include "absl/strings/str_cat.h"
#include "core/tokenizer/utf8.h"

namespace muke {

SentencePieceTokenizer::~SentencePieceTokenizer() = default;

absl::StatusOr<std::unique_ptr<SentencePieceTokenizer>> SentencePieceTokenizer::Load(
    const std::string& model_path, const SpecialTokenSettings& settings) {
  std::unique_ptr<SentencePieceTokenizer> t(new SentencePieceTokenizer());
  std::string error;
  t->sp_ = NewSentencePieceProcessor(&error);
  if (!t->sp_) return absl::FailedPreconditionError(error);
  error = t->sp_->Load(model_path);
  if (!error.empty()) return absl::InvalidArgumentError(absl::StrCat(model_path, ": ", error));
  t->special_ = settings;
  if (!t->special_.bos_id && t->sp_->bos_id() >= 0) t->special_.bos_id = t->sp_->bos_id();
  if (t->special_.eos_ids.empty() && t->sp_->eos_id() >= 0) t->special_.eos_ids = {t->sp_->eos_id()};
  return t;
}

absl::StatusOr<std::vector<int64_t>> SentencePieceTokenizer::Encode(std::string_view text,
                                                                    bool add_special_tokens) const {
  if (!IsValidUtf8(text)) return absl::InvalidArgumentError("encode: text is not valid UTF-8");
  std::vector<int> pieces;
  const std::string error = sp_->Encode(text, &pieces);
  if (!error.empty()) return absl::InternalError(absl::StrCat("encode: ", error));
  std::vector<int64_t> ids;
  if (add_special_tokens && special_.add_bos && special_.bos_id) ids.push_back(*special_.bos_id);
  ids.insert(ids.end(), pieces.begin(), pieces.end());
  if (add_special_tokens && special_.add_eos && !special_.eos_ids.empty()) ids.push_back(special_.eos_ids[0]);
  return ids;
}

absl::StatusOr<std::string> SentencePieceTokenizer::Decode(const std::vector<int64_t>& ids,
                                                           bool skip_special_tokens) const {
  std::vector<int> pieces;
  for (int64_t id : ids) {
    if (id < 0 || id >= vocab_size()) {
      return absl::InvalidArgumentError(absl::StrCat("decode: id ", id, " is outside [0, ", vocab_size(), ")"));
    }
    if (skip_special_tokens && (sp_->IsControl(id) || sp_->IsUnknown(id))) continue;
    pieces.push_back(static_cast<int>(id));
  }
  std::string text;
  const std::string error = sp_->Decode(pieces, &text);
  if (!error.empty()) return absl::InternalError(absl::StrCat("decode: ", error));
  return text;
}

int64_t SentencePieceTokenizer::vocab_size() const { return sp_->PieceSize(); }

absl::StatusOr<std::string> SentencePieceTokenizer::IdToPiece(int64_t id) const {
  if (id < 0 || id >= vocab_size()) {
    return absl::InvalidArgumentError(absl::StrCat("id ", id, " is outside [0, ", vocab_size(), ")"));
  }
  return sp_->IdToPiece(static_cast<int>(id));
}

std::optional<int64_t> SentencePieceTokenizer::PieceToId(std::string_view piece) const {
  const int id = sp_->PieceToId(piece);
  // SentencePiece maps unknown pieces to unk_id; only report a match for the unk piece itself.
  if (id == sp_->unk_id() && sp_->IdToPiece(id) != piece) return std::nullopt;
  return id;
}

}  // namespace muke
