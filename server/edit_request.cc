#include "server/edit_request.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/tokenizer/utf8.h"
#include "core/util/status.h"

namespace muke::server {
namespace {

absl::Status Invalid(const std::string& field, const std::string& problem) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", problem));
}

// Text fields are proto `bytes` (so that invalid UTF-8 reaches this check rather than failing to parse).
absl::Status CheckText(const std::string& field, const std::string& text) {
  if (text.empty()) return Invalid(field, "must not be empty");
  if (!IsValidUtf8(text)) return Invalid(field, "must be valid UTF-8");
  return absl::OkStatus();
}

// The message of a core error without a leading field name the server already prints.
absl::Status Rename(const std::string& field, const absl::Status& status) {
  if (absl::IsInvalidArgument(status)) return Invalid(field, std::string(status.message()));
  return status;
}

absl::Status CheckRange(const std::string& field, double value, double low, double high, bool low_open) {
  const bool ok = std::isfinite(value) && (low_open ? value > low : value >= low) && value <= high;
  if (!ok) return Invalid(field, absl::StrCat("must be in ", low_open ? "(" : "[", low, ", ", high, "], got ", value));
  return absl::OkStatus();
}

absl::Status CheckHookLayer(const std::string& field, int64_t hook_layer, const ModelConfig& config) {
  if (hook_layer < 0 || hook_layer >= config.num_hidden_layers) {
    return Invalid(field, absl::StrCat("must be in [0, ", config.num_hidden_layers, "), got ", hook_layer));
  }
  return absl::OkStatus();
}

absl::Status CheckLayers(const std::string& field, const EditOptions& o) {
  const bool ascending = std::adjacent_find(o.layers.begin(), o.layers.end(),
                                            [](int a, int b) { return a >= b; }) == o.layers.end();
  if (!ascending || o.layers.empty() || o.layers.front() < 0 || o.layers.back() > o.shift.hook_layer) {
    return Invalid(field, absl::StrCat("[", absl::StrJoin(o.layers, ", "),
                                       "] must be strictly ascending within [0, hook_layer ", o.shift.hook_layer, "]"));
  }
  return absl::OkStatus();
}

// The engine's options for `update` on this model with the server's configured defaults over them (unchecked).
EditOptions ConfiguredOptions(const ModelConfig& config, const EditDefaults& defaults, UpdateKind update) {
  EditOptions o = DefaultEditOptions(config, update);
  o.strategy = defaults.strategy;
  if (defaults.hook_layer) o.shift.hook_layer = *defaults.hook_layer;
  if (!defaults.layers.empty()) o.layers = defaults.layers;
  return o;
}

// The configured defaults for the chosen update, with the request's overrides, each checked.
absl::StatusOr<EditOptions> Options(const muke::v1::EditKnowledgeRequest& request, const ServedModel& model,
                                    const EditLimits& limits) {
  UpdateKind update = limits.defaults.update;
  if (!request.update().empty()) {
    auto parsed = ParseUpdate(request.update());
    if (!parsed.ok()) return Rename("update", parsed.status());
    update = *parsed;
  }
  EditOptions o = ConfiguredOptions(model.config(), limits.defaults, update);
  if (!request.strategy().empty()) {
    auto parsed = ParseStrategy(request.strategy());
    if (!parsed.ok()) return Rename("strategy", parsed.status());
    o.strategy = *parsed;
  }

  const muke::v1::EditHyperparameters& h = request.hyperparameters();
  if (h.has_window_size()) {
    MUKE_RETURN_IF_ERROR(CheckRange("hyperparameters.window_size", h.window_size(), 1,
                                    static_cast<double>(limits.max_target_tokens), false));
    o.window_size = h.window_size();
  }
  if (h.has_hook_layer()) {
    MUKE_RETURN_IF_ERROR(CheckHookLayer("hyperparameters.hook_layer", h.hook_layer(), model.config()));
    o.shift.hook_layer = h.hook_layer();
  }
  if (h.layers_size() > 0) o.layers.assign(h.layers().begin(), h.layers().end());
  MUKE_RETURN_IF_ERROR(CheckLayers("hyperparameters.layers", o));
  if (h.has_steps()) {
    MUKE_RETURN_IF_ERROR(CheckRange("hyperparameters.steps", h.steps(), 1, kMaxShiftSteps, false));
    o.shift.steps = h.steps();
  }
  if (h.has_learning_rate()) {
    MUKE_RETURN_IF_ERROR(CheckRange("hyperparameters.learning_rate", h.learning_rate(), 0, 10, true));
    o.shift.learning_rate = h.learning_rate();
  }
  if (h.has_lambda()) {
    if (!(std::isfinite(h.lambda()) && h.lambda() >= 0)) {
      return Invalid("hyperparameters.lambda", absl::StrCat("must be finite and >= 0, got ", h.lambda()));
    }
    o.lambda = h.lambda();
  }
  if (h.has_unke_steps()) {
    MUKE_RETURN_IF_ERROR(CheckRange("hyperparameters.unke_steps", h.unke_steps(), 1, kMaxUnkeSteps, false));
    o.unke.steps = h.unke_steps();
  }
  if (h.has_unke_learning_rate()) {
    MUKE_RETURN_IF_ERROR(CheckRange("hyperparameters.unke_learning_rate", h.unke_learning_rate(), 0, 1, true));
    o.unke.learning_rate = h.unke_learning_rate();
  }
  return o;
}

// Tokenises `prompt` with the target as the engine does (chat template when the model has one); the prompt
// (`field`) must fit the server's limit, the target its own, and both together (`context_field` at fault) the
// model's context.
absl::StatusOr<EditTokens> Tokenize(const std::string& field, const std::string& context_field,
                                    const std::string& prompt, const std::string& target, const ServedModel& model,
                                    const EditLimits& limits) {
  auto tokens = model.TokenizeEdit({prompt, target});
  if (!tokens.ok()) return Rename(field, tokens.status());
  const int64_t prompt_tokens = static_cast<int64_t>(tokens->prompt.size());
  const int64_t target_tokens = static_cast<int64_t>(tokens->target.size());
  if (prompt_tokens > limits.max_prompt_tokens) {
    return Invalid(field, absl::StrCat(prompt_tokens, " tokens exceed the server's limit of ",
                                       limits.max_prompt_tokens));
  }
  if (target_tokens > limits.max_target_tokens) {
    return Invalid("target", absl::StrCat(target_tokens, " tokens exceed the server's limit of ",
                                          limits.max_target_tokens));
  }
  const int64_t context = model.config().max_position_embeddings;
  if (prompt_tokens + target_tokens > context) {
    return Invalid(context_field, absl::StrCat(target_tokens, " tokens + the prompt's ", prompt_tokens,
                                               " exceed the model's max_position_embeddings of ", context));
  }
  return tokens;
}

}  // namespace

absl::StatusOr<EditPlan> PlanEdit(const muke::v1::EditKnowledgeRequest& request, const ServedModel& model,
                                  const EditLimits& limits) {
  MUKE_RETURN_IF_ERROR(CheckText("prompt", request.prompt()));
  MUKE_RETURN_IF_ERROR(CheckText("target", request.target()));
  if (request.paraphrases_size() > kMaxParaphrases) {
    return Invalid("paraphrases", absl::StrCat("at most ", kMaxParaphrases, " are allowed, got ",
                                               request.paraphrases_size()));
  }
  for (int i = 0; i < request.paraphrases_size(); ++i) {
    MUKE_RETURN_IF_ERROR(CheckText(absl::StrCat("paraphrases[", i, "]"), request.paraphrases(i)));
  }
  if (request.request_id().size() > kMaxRequestIdBytes) {
    return Invalid("request_id", absl::StrCat("at most ", kMaxRequestIdBytes, " bytes, got ",
                                              request.request_id().size()));
  }
  if (!IsValidUtf8(request.request_id())) return Invalid("request_id", "must be valid UTF-8");
  if (request.has_acceptance_threshold()) {
    MUKE_RETURN_IF_ERROR(CheckRange("acceptance_threshold", request.acceptance_threshold(), 0, 1, false));
  }

  EditPlan plan;
  plan.target = request.target();
  MUKE_ASSIGN_OR_RETURN(plan.options, Options(request, model, limits));
  MUKE_ASSIGN_OR_RETURN(plan.tokens, Tokenize("prompt", "target", request.prompt(), request.target(), model, limits));
  const int64_t target_tokens = static_cast<int64_t>(plan.tokens.target.size());
  int64_t longest_prompt = static_cast<int64_t>(plan.tokens.prompt.size());
  for (int i = 0; i < request.paraphrases_size(); ++i) {
    const std::string field = absl::StrCat("paraphrases[", i, "]");
    MUKE_ASSIGN_OR_RETURN(EditTokens paraphrase,
                          Tokenize(field, field, request.paraphrases(i), request.target(), model, limits));
    longest_prompt = std::max<int64_t>(longest_prompt, paraphrase.prompt.size());
    plan.paraphrase_prompts.push_back(std::move(paraphrase.prompt));
  }
  // Every prompt + target fits the context (checked above), so the budget is at least the target's length.
  plan.verify_max_new_tokens = std::min(target_tokens + kVerifyMarginTokens,
                                        model.config().max_position_embeddings - longest_prompt);
  if (request.has_acceptance_threshold()) plan.acceptance_threshold = request.acceptance_threshold();
  return plan;
}

absl::Status CheckEditDefaults(const EditDefaults& defaults, const ModelConfig& model) {
  if (defaults.hook_layer) MUKE_RETURN_IF_ERROR(CheckHookLayer("edit.hook_layer", *defaults.hook_layer, model));
  const EditOptions o = ConfiguredOptions(model, defaults, defaults.update);
  const absl::Status status = CheckLayers("edit.layers", o);
  if (!status.ok() && defaults.layers.empty()) {
    return Invalid("edit.layers", absl::StrCat("unset, and the model's default [", absl::StrJoin(o.layers, ", "),
                                               "] is not within [0, hook_layer ", o.shift.hook_layer,
                                               "]: set edit.layers too"));
  }
  return status;
}

}  // namespace muke::server
