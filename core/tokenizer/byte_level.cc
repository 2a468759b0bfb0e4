#include "core/tokenizer/byte_level.h"

#include <array>
#include <unordered_map>

#include "core/tokenizer/unicode.h"

namespace muke {
namespace {

// bytes_to_unicode() of GPT-2: printable Latin-1 bytes map to themselves, the rest to U+0100 + n in order.
struct ByteLevelTables {
  std::array<std::string, 256> byte_to_utf8;
  std::unordered_map<char32_t, unsigned char> char_to_byte;

  ByteLevelTables() {
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      const char32_t c = printable ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + n++);
      AppendUtf8(c, &byte_to_utf8[b]);
      char_to_byte[c] = static_cast<unsigned char>(b);
    }
  }
};

const ByteLevelTables& Tables() {
  static const ByteLevelTables tables;
  return tables;
}

}  // namespace

std::string BytesToByteLevel(std::string_view bytes) {
  const auto& t = Tables();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) out += t.byte_to_utf8[b];
  return out;
}

bool ByteLevelToBytes(std::string_view piece, std::string* out) {
  const auto& t = Tables();
  for (char32_t c : DecodeUtf8(piece)) {
    auto it = t.char_to_byte.find(c);
    if (it == t.char_to_byte.end()) return false;
    out->push_back(static_cast<char>(it->second));
  }
  return true;
}

}  // namespace muke
