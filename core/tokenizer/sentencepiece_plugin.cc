// The libmuke_sentencepiece.so plugin: implements SentencePieceProcessor over libsentencepiece.
// Deliberately includes no Abseil header (see sentencepiece_processor.h).
#include <sentencepiece_processor.h>

#include "core/tokenizer/sentencepiece_processor.h"

namespace muke {
namespace {

std::string Message(const sentencepiece::util::Status& s) { return s.ok() ? "" : s.ToString(); }

class LibSentencePiece : public SentencePieceProcessor {
 public:
  std::string Load(const std::string& model_path) override { return Message(sp_.Load(model_path)); }
  std::string Encode(std::string_view text, std::vector<int>* ids) const override {
    return Message(sp_.Encode(text, ids));
  }
  std::string Decode(const std::vector<int>& ids, std::string* text) const override {
    return Message(sp_.Decode(ids, text));
  }
  int PieceSize() const override { return sp_.GetPieceSize(); }
  std::string IdToPiece(int id) const override { return sp_.IdToPiece(id); }
  int PieceToId(std::string_view piece) const override { return sp_.PieceToId(piece); }
  bool IsControl(int id) const override { return sp_.IsControl(id); }
  bool IsUnknown(int id) const override { return sp_.IsUnknown(id); }
  int bos_id() const override { return sp_.bos_id(); }
  int eos_id() const override { return sp_.eos_id(); }
  int unk_id() const override { return sp_.unk_id(); }

 private:
  sentencepiece::SentencePieceProcessor sp_;
};

}  // namespace
}  // namespace muke

extern "C" __attribute__((visibility("default"))) muke::SentencePieceProcessor* muke_new_sentencepiece_processor() {
  return new muke::LibSentencePiece();
}
