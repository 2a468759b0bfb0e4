// Validation of a muke.v1.GenerateRequest against the served model and the server's limits, and its
// translation into core's generation inputs. Every rejection is INVALID_ARGUMENT with a message that
// starts with the offending field's path and states the limit.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "core/model/generate.h"
#include "muke/v1/knowledge_editor.pb.h"
#include "server/served_model.h"

namespace muke::server {

// max_new_tokens when a request leaves it unset (capped by the server's limit).
inline constexpr int64_t kDefaultMaxNewTokens = 64;

struct GenerationLimits {
  int64_t max_new_tokens = 1024;  // --max-new-tokens-limit
};

struct GenerationPlan {
  std::vector<int64_t> prompt_ids;
  GenerateOptions options;  // max_new_tokens, sampling and stop ids (the tokenizer's EOS ids); no on_token
};

absl::StatusOr<GenerationPlan> PlanGeneration(const muke::v1::GenerateRequest& request, const ServedModel& model,
                                              const GenerationLimits& limits);

}  // namespace muke::server
