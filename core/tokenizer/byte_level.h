// GPT-2's reversible byte ↔ printable-character mapping used by byte-level BPE (tokenizer.json ByteLevel).
#pragma once

#include <string>
#include <string_view>

namespace muke {

// Maps every byte of `bytes` to its printable stand-in character (UTF-8 encoded): "Ġ" for ' ', etc.
std::string BytesToByteLevel(std::string_view bytes);

// Inverse mapping for one piece. Returns false (and leaves `out` partly written) when a character of
// `piece` is not in the byte-level alphabet.
bool ByteLevelToBytes(std::string_view piece, std::string* out);

}  // namespace muke
