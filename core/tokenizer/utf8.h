// UTF-8 validation shared by the tokenizers.
#pragma once

#include <string>
#include <string_view>

namespace muke {

// True when `s` is well-formed UTF-8 (no overlong forms, surrogates or code points above U+10FFFF).
bool IsValidUtf8(std::string_view s);

// Rust's String::from_utf8_lossy: every maximal invalid subpart (Unicode §3.9, "substitution of maximal
// subparts") becomes one U+FFFD.
std::string Utf8Lossy(std::string_view bytes);

// Length in bytes of the UTF-8 sequence that starts with `lead` (1 for ASCII and for stray bytes).
inline size_t Utf8SequenceLength(unsigned char lead) {
  return lead < 0xC0 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
}

}  // namespace muke
