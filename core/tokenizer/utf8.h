// UTF-8 validation shared by the tokenizers.
#pragma once

#include <string_view>

namespace muke {

// True when `s` is well-formed UTF-8 (no overlong forms, surrogates or code points above U+10FFFF).
bool IsValidUtf8(std::string_view s);

}  // namespace muke
