// Autoregressive generation for one prompt: prefill, then KV-cached (or, for benchmarking, uncached)
// decoding until an end-of-sequence id or the token budget.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/model/model.h"
#include "core/model/sampler.h"

namespace muke {

struct GenerateOptions {
  int64_t max_new_tokens = 64;
  SamplingOptions sampling;
  std::vector<int64_t> stop_ids;  // generation ends after emitting any of these (usually the EOS ids)
  bool use_cache = true;          // false recomputes the whole sequence each step (reference / benchmark)
  const TensorMap* weight_overrides = nullptr;  // generate with these parameters instead (see ForwardInput)
  // Called with each new id; returning false stops generation (finish_reason "cancelled").
  std::function<bool(int64_t)> on_token;
};

struct GenerateResult {
  std::vector<int64_t> ids;   // new ids only (a stop id, when hit, is included)
  std::string finish_reason;  // "stop", "length" or "cancelled"
};

absl::StatusOr<GenerateResult> Generate(const Model& model, const std::vector<int64_t>& prompt_ids,
                                        const GenerateOptions& options);

}  // namespace muke
