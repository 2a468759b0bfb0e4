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

// What a request leaves unset takes the server's configured defaults (the `edit:` keys of its config), then
// DefaultEditOptions' model-dependent choice.
struct EditDefaults {
  StrategyKind strategy = StrategyKind::kMuke;  // edit.strategy
  UpdateKind update = UpdateKind::kMemit;       // edit.update
  std::optional<int> hook_layer;                // edit.hook_layer; unset: the engine's default for the model
  std::vector<int> layers;                      // edit.layers; empty: the engine's default for the model
};

// What the server allows an edit request, and assumes where it is silent.
struct EditLimits {
  int64_t max_prompt_tokens = 256;   // limits.max_prompt_tokens
  int64_t max_target_tokens = 1024;  // limits.max_target_tokens
  EditDefaults defaults;
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

// Checks the configured hook layer and layers against `model` (with the default update); INVALID_ARGUMENT
// naming edit.hook_layer or edit.layers. Run at startup so that a bad config fails there, not on every edit.
absl::Status CheckEditDefaults(const EditDefaults& defaults, const ModelConfig& model);

}  // namespace muke::server
