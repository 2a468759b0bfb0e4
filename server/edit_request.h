// Validation of a muke.v1.EditKnowledgeRequest against the served model and the server's limits, and its
// translation into what the edit worker runs. Every rejection is INVALID_ARGUMENT with a message that starts
// with the offending field's path and states the limit.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/edit/editor.h"
#include "muke/v1/knowledge_editor.pb.h"
#include "server/served_model.h"

namespace muke::server {

inline constexpr int kMaxParaphrases = 8;
inline constexpr int kMaxShiftSteps = 1000;
inline constexpr int kMaxUnkeSteps = 10000;
inline constexpr size_t kMaxRequestIdBytes = 128;
// Verification answers may run this many tokens past the target's length.
inline constexpr int64_t kVerifyMarginTokens = 16;

struct EditLimits {
  int64_t max_prompt_tokens = 256;   // --max-prompt-tokens
  int64_t max_target_tokens = 1024;  // --max-target-tokens
};

// What the worker needs to run, verify and judge one edit.
struct EditPlan {
  std::string target;  // the text answers are scored against
  EditTokens tokens;
  std::vector<std::vector<int64_t>> paraphrase_prompts;  // tokenised like the prompt
  EditOptions options;
  int64_t verify_max_new_tokens = 0;  // generation budget of each verification answer
  std::optional<double> acceptance_threshold;
};

absl::StatusOr<EditPlan> PlanEdit(const muke::v1::EditKnowledgeRequest& request, const ServedModel& model,
                                  const EditLimits& limits);

}  // namespace muke::server
