// libsentencepiece behind an std-only interface, loaded as a plugin (libmuke_sentencepiece.so).
//
// Why a plugin: Debian's libsentencepiece exports its own bundled copy of protobuf-lite 3.14 under the same
// symbol names as the system libprotobuf 3.21 that libtorch loads; linked into one process they interpose
// each other and crash at start-up. The plugin is opened with RTLD_LOCAL | RTLD_DEEPBIND so that each keeps
// its own protobuf. Its header also defines `absl::string_view`, clashing with Abseil, so nothing here uses
// Abseil.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace muke {

class SentencePieceProcessor {
 public:
  virtual ~SentencePieceProcessor() = default;

  // Each returns an empty string on success, else the error message.
  virtual std::string Load(const std::string& model_path) = 0;
  virtual std::string Encode(std::string_view text, std::vector<int>* ids) const = 0;
  virtual std::string Decode(const std::vector<int>& ids, std::string* text) const = 0;

  virtual int PieceSize() const = 0;
  virtual std::string IdToPiece(int id) const = 0;
  virtual int PieceToId(std::string_view piece) const = 0;
  virtual bool IsControl(int id) const = 0;
  virtual bool IsUnknown(int id) const = 0;
  virtual int bos_id() const = 0;
  virtual int eos_id() const = 0;
  virtual int unk_id() const = 0;
};

// Opens the plugin (once per process) and creates a processor; nullptr with `*error` set when the plugin is
// missing. Search order: $MUKE_SENTENCEPIECE_PLUGIN, next to the executable, ../lib from it, the loader path.
std::unique_ptr<SentencePieceProcessor> NewSentencePieceProcessor(std::string* error);

}  // namespace muke
