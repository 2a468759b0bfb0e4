// Windows and shift positions of one edit request (ALGORITHM.md §2). Pure index arithmetic, no libtorch.
//
// The model sees cat(prompt, target)[:-1], P + T - 1 positions; position P-1+j predicts target token j.
// The target ids are cut into windows of W tokens, no overlap, the last one possibly short; the memory shift of
// window w sits at p_w = P-1+s_w, the position that predicts the window's first token.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"

namespace muke {

// Target-token indices [begin, end) of one window.
struct Window {
  int64_t begin = 0;
  int64_t end = 0;
  int64_t size() const { return end - begin; }
};

struct EditLayout {
  int64_t prompt_tokens = 0;    // P
  int64_t target_tokens = 0;    // T
  std::vector<Window> windows;  // N windows covering [0, T) in order

  int NumWindows() const { return static_cast<int>(windows.size()); }
  // p_w = P - 1 + s_w, for 0 <= w < N.
  int64_t ShiftPosition(int w) const { return prompt_tokens - 1 + windows[w].begin; }
  // P + T - 1: the length of cat(prompt, target)[:-1].
  int64_t SequenceLength() const { return prompt_tokens + target_tokens - 1; }
};

// Splits T target tokens into windows of `window_size`. INVALID_ARGUMENT when P, T or the window size is < 1.
absl::StatusOr<EditLayout> MakeEditLayout(int64_t prompt_tokens, int64_t target_tokens, int64_t window_size);

}  // namespace muke
