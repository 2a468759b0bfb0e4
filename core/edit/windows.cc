#include "core/edit/windows.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace muke {

absl::StatusOr<EditLayout> MakeEditLayout(int64_t prompt_tokens, int64_t target_tokens, int64_t window_size) {
  if (prompt_tokens < 1) {
    return absl::InvalidArgumentError(absl::StrCat("prompt_tokens must be >= 1, got ", prompt_tokens));
  }
  if (target_tokens < 1) {
    return absl::InvalidArgumentError(absl::StrCat("target_tokens must be >= 1, got ", target_tokens));
  }
  if (window_size < 1) {
    return absl::InvalidArgumentError(absl::StrCat("window_size must be >= 1, got ", window_size));
  }
  EditLayout layout;
  layout.prompt_tokens = prompt_tokens;
  layout.target_tokens = target_tokens;
  for (int64_t begin = 0; begin < target_tokens; begin += window_size) {
    layout.windows.push_back({begin, std::min(begin + window_size, target_tokens)});
  }
  return layout;
}

}  // namespace muke
