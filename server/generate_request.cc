#include "server/generate_request.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"
#include "core/tokenizer/utf8.h"
#include "core/util/status.h"

namespace muke::server {
namespace {

constexpr int kMaxChatMessages = 64;

absl::Status Invalid(const std::string& field, const std::string& problem) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", problem));
}

// The conversation rendered with the model's chat template, as text to encode without special tokens.
absl::StatusOr<std::string> RenderMessages(const muke::v1::GenerateRequest& request, const ServedModel& model) {
  if (!model.chat()) {
    return absl::FailedPreconditionError("messages: the served model has no chat template; send a prompt");
  }
  if (request.messages_size() > kMaxChatMessages) {
    return Invalid("messages",
                   absl::StrCat("at most ", kMaxChatMessages, " are allowed, got ", request.messages_size()));
  }
  std::vector<ChatMessage> messages;
  for (int i = 0; i < request.messages_size(); ++i) {
    const muke::v1::ChatMessage& m = request.messages(i);
    const bool role_ok = !m.role().empty() && m.role().size() <= 32 &&
                         std::all_of(m.role().begin(), m.role().end(),
                                     [](char c) { return (c >= 'a' && c <= 'z') || c == '_'; });
    if (!role_ok) return Invalid(absl::StrCat("messages[", i, "].role"), "must be 1 to 32 characters of [a-z_]");
    if (!IsValidUtf8(m.content())) return Invalid(absl::StrCat("messages[", i, "].content"), "must be valid UTF-8");
    messages.push_back({m.role(), m.content()});
  }
  absl::StatusOr<std::string> text = model.chat()->Render(messages, /*add_generation_prompt=*/true);
  if (!text.ok()) return Invalid("messages", std::string(text.status().message()));
  return text;
}

absl::StatusOr<std::vector<int64_t>> PromptIds(const muke::v1::GenerateRequest& request, const ServedModel& model) {
  const bool has_text = !request.prompt().empty();
  const bool has_ids = request.prompt_ids_size() > 0;
  const bool has_messages = request.messages_size() > 0;
  if (has_text + has_ids + has_messages > 1) {
    return Invalid("prompt", "set exactly one of prompt, prompt_ids and messages");
  }
  if (!has_text && !has_ids && !has_messages) {
    return Invalid("prompt", "must not be empty (set prompt, prompt_ids or messages)");
  }
  if (has_messages) {
    MUKE_ASSIGN_OR_RETURN(const std::string text, RenderMessages(request, model));
    auto ids = model.tokenizer().Encode(text, /*add_special_tokens=*/false);
    if (absl::IsInvalidArgument(ids.status())) return Invalid("messages", std::string(ids.status().message()));
    return ids;
  }

  if (has_ids) {
    const int64_t vocab = model.config().vocab_size;
    for (int i = 0; i < request.prompt_ids_size(); ++i) {
      const int64_t id = request.prompt_ids(i);
      if (id < 0 || id >= vocab) {
        return Invalid(absl::StrCat("prompt_ids[", i, "]"),
                       absl::StrCat(id, " is outside the vocabulary [0, ", vocab, ")"));
      }
    }
    return std::vector<int64_t>(request.prompt_ids().begin(), request.prompt_ids().end());
  }

  const bool add_special = !request.has_add_special_tokens() || request.add_special_tokens();
  auto ids = model.tokenizer().Encode(request.prompt(), add_special);
  if (absl::IsInvalidArgument(ids.status())) return Invalid("prompt", std::string(ids.status().message()));
  if (!ids.ok()) return ids.status();
  if (ids->empty()) return Invalid("prompt", "tokenizes to no tokens");
  return ids;
}

absl::StatusOr<SamplingOptions> Sampling(const muke::v1::SamplingParams& params) {
  SamplingOptions sampling;
  sampling.temperature = params.temperature();
  sampling.top_p = params.has_top_p() ? params.top_p() : 1.0;
  sampling.seed = params.seed();
  if (!(std::isfinite(sampling.temperature) && sampling.temperature >= 0)) {
    return Invalid("sampling.temperature", absl::StrCat("must be a finite number >= 0, got ", sampling.temperature));
  }
  if (!(sampling.top_p > 0 && sampling.top_p <= 1)) {
    return Invalid("sampling.top_p", absl::StrCat("must be in (0, 1], got ", sampling.top_p));
  }
  return sampling;
}

}  // namespace

absl::StatusOr<GenerationPlan> PlanGeneration(const muke::v1::GenerateRequest& request, const ServedModel& model,
                                              const GenerationLimits& limits) {
  GenerationPlan plan;
  MUKE_ASSIGN_OR_RETURN(plan.prompt_ids, PromptIds(request, model));

  const int64_t max_new = request.has_max_new_tokens() ? request.max_new_tokens()
                                                       : std::min(kDefaultMaxNewTokens, limits.max_new_tokens);
  if (max_new < 0) return Invalid("max_new_tokens", absl::StrCat("must be >= 0, got ", max_new));
  if (max_new > limits.max_new_tokens) {
    return Invalid("max_new_tokens", absl::StrCat(max_new, " exceeds the server's limit of ", limits.max_new_tokens));
  }
  const int64_t prompt_len = static_cast<int64_t>(plan.prompt_ids.size());
  const int64_t max_positions = model.config().max_position_embeddings;
  if (prompt_len + max_new > max_positions) {
    return Invalid("max_new_tokens", absl::StrCat("the prompt's ", prompt_len, " tokens + max_new_tokens ", max_new,
                                                  " exceed the model's max_position_embeddings of ", max_positions));
  }
  plan.options.max_new_tokens = max_new;
  MUKE_ASSIGN_OR_RETURN(plan.options.sampling, Sampling(request.sampling()));
  plan.options.stop_ids = model.tokenizer().eos_ids();
  return plan;
}

}  // namespace muke::server
